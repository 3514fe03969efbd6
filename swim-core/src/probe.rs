//! Failure detection: the probe of the current protocol period, and the
//! indirect probes (ping-req) this node relays for others.
//!
//! [`Prober`] holds the state and decides; the node carries its decisions
//! out (sends pings, acks and nacks, suspects a target that failed).

use crate::config::Config;
use crate::name::Name;
use crate::time::Instant;
use core::time::Duration;
use foldhash::fast::FixedState;
use hashbrown::HashMap;
use std::net::SocketAddr;

/// Most indirect probes a node runs for others at once; more are dropped.
const MAX_RELAYS: usize = 1024;

/// The probe of one member during the current protocol period.
#[derive(Debug)]
struct Probe {
    seq: u32,
    target: Name,
    /// The target's incarnation when probed: a failed probe suspects that one.
    incarnation: u64,
    /// When its ping was sent.
    sent: Instant,
    acked: bool,
    /// Members asked to ping-req; only they may forward an ack or a nack.
    relays: Vec<Name>,
    nacks: u32,
}

/// An indirect probe this node runs for a requester.
#[derive(Debug)]
struct Relay {
    requester_seq: u32,
    requester: SocketAddr,
    want_nack: bool,
    /// The requester is not a member at its own address: what the relay
    /// sends back is paid from its reply credit (see [`crate::source`]).
    paid: bool,
}

/// What an ack means.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Acked {
    /// It answers our probe (`first`: the first ack for it), whose ping
    /// was sent at `sent`.
    Probe { first: bool, sent: Instant },
    /// It answers a ping we sent for a requester: pass it on as `seq`
    /// (`paid`: from the requester's reply credit).
    Relay {
        to: SocketAddr,
        seq: u32,
        paid: bool,
    },
    /// It names our probe but comes from neither the target nor a relay.
    Stranger,
    /// It answers a last-word ping to a suspect (see [`Prober::recheck`]).
    Recheck,
    /// Nobody asked for it.
    Unsolicited,
}

/// A probe that ended without any ack.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Failed {
    pub target: Name,
    pub incarnation: u64,
    /// Lifeguard: relays that did not even nack mean our own links are
    /// suspect; this is how much the local health score rises.
    pub missed_nacks: u32,
}

/// The prober: our probe of this period, and the probes we relay.
#[derive(Debug)]
pub(crate) struct Prober {
    probe: Option<Probe>,
    relays: HashMap<u32, Relay, FixedState>,
    next_seq: u32,
    /// Sequence numbers of the last few last-word pings to suspects.
    rechecks: [u32; 8],
}

impl Prober {
    pub fn new(hash_seed: u64) -> Self {
        Prober {
            probe: None,
            relays: HashMap::with_hasher(FixedState::with_seed(hash_seed)),
            next_seq: 0,
            rechecks: [0; 8],
        }
    }

    /// A sequence number no probe, relay or last word of ours uses (the
    /// pings that check a candidate take theirs from here too).
    pub fn next_seq(&mut self) -> u32 {
        self.next_seq = self.next_seq.wrapping_add(1);
        self.next_seq
    }

    /// Starts probing `target` (held at `incarnation`); returns the ping's sequence number.
    pub fn start(&mut self, target: Name, incarnation: u64, now: Instant) -> u32 {
        let seq = self.next_seq();
        self.probe = Some(Probe {
            seq,
            target,
            incarnation,
            sent: now,
            acked: false,
            relays: Vec::new(),
            nacks: 0,
        });
        seq
    }

    /// A sequence number for a last-word ping to a suspect whose suspicion
    /// ran out: its ack is expected (the refutation rides on it), not a
    /// probe's.
    pub fn recheck(&mut self) -> u32 {
        let seq = self.next_seq();
        self.rechecks.rotate_right(1);
        self.rechecks[0] = seq;
        seq
    }

    /// The target of probe `seq`, if it is still waiting for its first ack.
    pub fn unacked(&self, seq: u32) -> Option<&Name> {
        self.probe
            .as_ref()
            .filter(|p| p.seq == seq && !p.acked)
            .map(|p| &p.target)
    }

    /// Records the members asked to probe the target indirectly.
    pub fn set_relays(&mut self, relays: Vec<Name>) {
        if let Some(p) = self.probe.as_mut() {
            p.relays = relays;
        }
    }

    /// Ends the protocol period's probe: `Some` if it got no ack at all.
    pub fn conclude(&mut self) -> Option<Failed> {
        let p = self.probe.take()?;
        if p.acked {
            return None;
        }
        let expected = p.relays.len() as u32;
        let missed_nacks = if expected > 0 {
            expected.saturating_sub(p.nacks)
        } else {
            1
        };
        Some(Failed {
            target: p.target,
            incarnation: p.incarnation,
            missed_nacks,
        })
    }

    /// Forgets the current probe (the node is leaving).
    pub fn stop(&mut self) {
        self.probe = None;
    }

    /// An ack `seq` from member `sender`.
    pub fn on_ack(&mut self, seq: u32, sender: &Name) -> Acked {
        if let Some(p) = self.probe.as_mut().filter(|p| p.seq == seq) {
            if *sender != p.target && !p.relays.contains(sender) {
                return Acked::Stranger;
            }
            let first = !p.acked;
            p.acked = true;
            Acked::Probe {
                first,
                sent: p.sent,
            }
        } else if let Some(relay) = self.relays.remove(&seq) {
            Acked::Relay {
                to: relay.requester,
                seq: relay.requester_seq,
                paid: relay.paid,
            }
        } else if seq != 0 && self.rechecks.contains(&seq) {
            Acked::Recheck
        } else {
            Acked::Unsolicited
        }
    }

    /// A nack `seq` from member `sender`: counted if a relay of our probe sent it.
    pub fn on_nack(&mut self, seq: u32, sender: &Name) -> bool {
        match self.probe.as_mut() {
            Some(p) if p.seq == seq && p.relays.contains(sender) => {
                p.nacks += 1;
                true
            }
            _ => false,
        }
    }

    /// A ping-req: returns the sequence number of the ping to send for the
    /// requester, or `None` when too many relays are in flight. `paid`:
    /// what goes back to the requester is paid from its reply credit.
    pub fn relay(
        &mut self,
        seq: u32,
        requester: SocketAddr,
        want_nack: bool,
        paid: bool,
    ) -> Option<u32> {
        if self.relays.len() >= MAX_RELAYS {
            return None;
        }
        let own = self.next_seq();
        self.relays.insert(
            own,
            Relay {
                requester_seq: seq,
                requester,
                want_nack,
                paid,
            },
        );
        Some(own)
    }

    /// A relayed ping got no ack in time: the nack to send, if one was
    /// asked for (to whom, its sequence number, and whether it is paid).
    pub fn relay_timed_out(&mut self, seq: u32) -> Option<(SocketAddr, u32, bool)> {
        let relay = self.relays.remove(&seq)?;
        relay
            .want_nack
            .then_some((relay.requester, relay.requester_seq, relay.paid))
    }
}

/// How long a relay waits for the target's ack: within the requester's
/// protocol period, before its probe concludes.
pub(crate) fn relay_wait(c: &Config) -> Duration {
    c.probe_timeout
        .min(c.probe_interval.saturating_sub(c.probe_timeout))
        .mul_f64(0.8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        ([10, 0, 0, 9], 7946).into()
    }

    #[test]
    fn only_the_target_or_a_relay_acks_a_probe() {
        let mut p = Prober::new(1);
        let seq = p.start("t".into(), 3, Instant::ZERO);
        p.set_relays(vec!["r".into()]);
        assert_eq!(p.on_ack(seq, &"x".into()), Acked::Stranger);
        assert_eq!(p.unacked(seq), Some(&"t".into()));
        assert_eq!(
            p.on_ack(seq, &"r".into()),
            Acked::Probe {
                first: true,
                sent: Instant::ZERO
            }
        );
        assert_eq!(
            p.on_ack(seq, &"t".into()),
            Acked::Probe {
                first: false,
                sent: Instant::ZERO
            }
        );
        assert_eq!(p.unacked(seq), None);
        assert_eq!(p.conclude(), None, "an acked probe did not fail");
        assert_eq!(p.on_ack(seq, &"t".into()), Acked::Unsolicited);
    }

    #[test]
    fn a_failed_probe_counts_missing_nacks() {
        let mut p = Prober::new(1);
        let seq = p.start("t".into(), 3, Instant::ZERO);
        p.set_relays(vec!["a".into(), "b".into(), "c".into()]);
        assert!(p.on_nack(seq, &"a".into()));
        assert!(!p.on_nack(seq, &"z".into()), "a stranger's nack");
        let failed = p.conclude().unwrap();
        assert_eq!((failed.incarnation, failed.missed_nacks), (3, 2));
        let _ = p.start("u".into(), 0, Instant::ZERO);
        assert_eq!(p.conclude().unwrap().missed_nacks, 1, "no relays: one miss");
    }

    #[test]
    fn relays_forward_acks_and_nack_on_timeout() {
        let mut p = Prober::new(1);
        let a = p.relay(40, addr(), true, false).unwrap();
        let b = p.relay(41, addr(), false, false).unwrap();
        assert_eq!(
            p.on_ack(a, &"t".into()),
            Acked::Relay {
                to: addr(),
                seq: 40,
                paid: false
            }
        );
        assert_eq!(p.relay_timed_out(a), None, "answered: no nack");
        assert_eq!(p.relay_timed_out(b), None, "no nack asked for");
        let c = p.relay(42, addr(), true, true).unwrap();
        assert_eq!(p.relay_timed_out(c), Some((addr(), 42, true)));
        for i in 0..MAX_RELAYS as u32 {
            p.relay(i, addr(), true, false).unwrap();
        }
        assert_eq!(p.relay(7, addr(), true, false), None, "busy");
    }
}
