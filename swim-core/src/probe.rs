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
    /// The first `counted` relays are answerers: only their missing nacks
    /// count against this node's own health (see [`Answered`]).
    counted: usize,
    /// Which relays nacked (bit `i` for relay `i`).
    nacked: u64,
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
    /// Lifeguard: how much the local health score moves. When not one of
    /// the answerers asked even nacked, our own links are suspect (one
    /// point, as for a probe with nobody to ask while members are heard:
    /// answerers that a cut took away all at once do not count thrice
    /// each); when any of them nacked, our links worked
    /// and the target (and any silent relay) is the one that failed (minus
    /// one, as for an answered probe).
    pub health: i32,
}

/// How many answerers a node remembers (see [`Answered`]).
const ANSWERERS: usize = 16;

/// Who answers this node, and when it last heard any member: the evidence
/// its Lifeguard score and its sick-node rule are judged on.
///
/// A relay's missing nack says "your ping-req never reached me" only if the
/// relay could have nacked: a member on the far side of a partition never
/// can, and asking it would make every node of a minority side look sick
/// (its score pinned at the top, its probes slowed eightfold, its verdicts
/// blocked) while its links to its own side are perfect. So a probe's
/// relays are drawn first from the answerers (members whose last exchange
/// with this node, an ack or a nack, was answered; one that then fails to
/// answer a probe or to nack drops out), and only their missing nacks
/// count. A failed probe with no answerer to ask counts one miss if a
/// member was heard while it ran (this node receives, yet what it sends
/// goes unanswered: it cannot send) and none if nobody was.
///
/// Answerers still heard from (any packet of theirs arrived within the
/// last probe interval) are asked before those gone quiet: when a cut takes
/// most answerers away at once, the member still speaking on this node's
/// side is asked and nacks, so the survivor of a pair or a minority side
/// keeps its score (and its probing pace) instead of counting each
/// departed answerer's silence against itself. A node that cannot send
/// still hears its answerers, asks them, and hears no nack.
///
/// The last few members heard (whether they ever answered or not) are
/// asked right after the answerers still heard: the survivor of a pair
/// whose partner dropped out of its answerers still asks it, and its nack
/// keeps the score down.
#[derive(Debug, Default)]
struct Answered {
    /// Up to [`ANSWERERS`] members, the latest to answer last, with when
    /// a packet of theirs last arrived (since they answered).
    recent: Vec<(Name, Option<Instant>)>,
    /// The last [`SPEAKERS`] members heard, the latest last, with when.
    speakers: Vec<(Name, Instant)>,
    /// When a member's packet last arrived.
    heard: Option<Instant>,
}

/// How many of the members heard last a node remembers (see [`Answered`]).
const SPEAKERS: usize = 4;

impl Answered {
    fn record(&mut self, who: &Name) {
        self.forget(who);
        if self.recent.len() == ANSWERERS {
            self.recent.remove(0);
        }
        self.recent.push((who.clone(), None));
    }

    fn forget(&mut self, who: &Name) {
        self.recent.retain(|(n, _)| n != who);
    }
}

/// The prober: our probe of this period, and the probes we relay.
#[derive(Debug)]
pub(crate) struct Prober {
    probe: Option<Probe>,
    relays: HashMap<u32, Relay, FixedState>,
    next_seq: u32,
    /// Sequence numbers of the last few last-word pings to suspects.
    rechecks: [u32; 16],
    answered: Answered,
    /// An answerer that went silent when asked to relay: probed directly
    /// next (see [`Prober::take_quiet`]).
    quiet: Option<Name>,
    /// The probe of this period went to a quiet answerer.
    picked_quiet: bool,
}

impl Prober {
    pub fn new(hash_seed: u64) -> Self {
        Prober {
            probe: None,
            relays: HashMap::with_hasher(FixedState::with_seed(hash_seed)),
            next_seq: 0,
            rechecks: [0; 16],
            answered: Answered::default(),
            quiet: None,
            picked_quiet: false,
        }
    }

    /// The member to probe next instead of the round-robin's turn, if any:
    /// an answerer that neither relayed nor nacked our last failed probe.
    /// It was answering a moment ago, so its silence is news: it crashed,
    /// or the link to it broke. Without this, the survivor of a cut-off
    /// pair whose partner crashed waits for the partner's turn in a
    /// round-robin over the whole cluster, most of it unreachable.
    ///
    /// Never twice running: after a quiet pick the round-robin has its
    /// turn, and the next quiet answerer waits for the tick after. Else two
    /// members silent for each other (insiders, or anyone on a plain
    /// cluster) steered every probe of a small cluster's member to
    /// themselves: 125 of 133 pings in 40 s at 6 members, 0 to 1 left for
    /// each healthy member (`review20a.rs`).
    pub fn take_quiet(&mut self) -> Option<Name> {
        if core::mem::take(&mut self.picked_quiet) {
            return None;
        }
        let quiet = self.quiet.take();
        self.picked_quiet = quiet.is_some();
        quiet
    }

    /// Member `who`'s packet arrived (authenticated, from its own address).
    pub fn heard(&mut self, who: &Name, now: Instant) {
        let a = &mut self.answered;
        a.heard = Some(now);
        if let Some((_, at)) = (a.recent.iter_mut()).find(|(n, _)| n == who) {
            *at = Some(now);
        }
        match a.speakers.iter().position(|(n, _)| n == who) {
            Some(i) => {
                a.speakers.remove(i);
            }
            None if a.speakers.len() == SPEAKERS => {
                a.speakers.remove(0);
            }
            None => {}
        }
        a.speakers.push((who.clone(), now));
    }

    /// The relays whose silence counts: answerers heard within `period` of
    /// `now` (the latest to answer first), then the other members heard
    /// within it (the latest first), then the answerers gone quiet. Each
    /// named once.
    pub fn answerers(&self, period: Duration, now: Instant) -> Vec<&Name> {
        let since = now.saturating_sub(period);
        let a = &self.answered;
        let speaking = |at: &Option<Instant>| at.is_some_and(|t| t >= since);
        let mut out: Vec<&Name> = Vec::with_capacity(ANSWERERS + SPEAKERS);
        out.extend(
            a.recent
                .iter()
                .rev()
                .filter(|(_, at)| speaking(at))
                .map(|(n, _)| n),
        );
        for (n, at) in a.speakers.iter().rev() {
            if *at >= since && !out.contains(&n) {
                out.push(n);
            }
        }
        out.extend(
            a.recent
                .iter()
                .rev()
                .filter(|(_, at)| !speaking(at))
                .map(|(n, _)| n),
        );
        out
    }

    /// Whether any member was heard within the last four protocol periods
    /// of `period` (the probe interval as Lifeguard stretched it: a node
    /// whose probes slowed hears their answers less often).
    pub fn hears(&self, period: Duration, now: Instant) -> bool {
        self.hears_until(period).is_some_and(|until| until >= now)
    }

    /// Until when this node [`hears`](Self::hears) if no member speaks again.
    pub fn hears_until(&self, period: Duration) -> Option<Instant> {
        self.answered.heard.map(|at| at + period * 4)
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
            counted: 0,
            nacked: 0,
        });
        seq
    }

    /// A sequence number for a last-word ping to a suspect whose suspicion
    /// ran out (or a ping that checks a heal): its ack is expected (the
    /// refutation rides on it), not a probe's.
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

    /// Records the members asked to probe the target indirectly: the
    /// first `counted` answered this node lately (see [`Answered`]).
    pub fn set_relays(&mut self, relays: Vec<Name>, counted: usize) {
        if let Some(p) = self.probe.as_mut() {
            p.counted = counted.min(relays.len());
            p.relays = relays;
        }
    }

    /// Ends the protocol period's probe: `Some` if it got no ack at all.
    pub fn conclude(&mut self) -> Option<Failed> {
        let p = self.probe.take()?;
        if p.acked {
            return None;
        }
        self.answered.forget(&p.target);
        let mut missed = 0i32;
        for (i, relay) in p.relays.iter().enumerate().take(p.counted) {
            if p.nacked & (1 << i.min(63)) == 0 {
                missed += 1;
                self.answered.forget(relay);
                if self.quiet.is_none() {
                    self.quiet = Some(relay.clone());
                }
            }
        }
        // A member spoke while this probe ran: we receive, yet nothing we
        // sent was answered.
        let heard = self.answered.heard.is_some_and(|at| at >= p.sent);
        let health = match p.counted as i32 {
            // Any relay's nack (one drawn at random too) shows our
            // ping-req went out and its answer came in.
            _ if p.nacked != 0 => -1,
            0 => i32::from(heard),
            // Not one answerer nacked while members still reach us: our
            // own links are the likelier fault. Heard by nobody, the node
            // is cut off with its answerers (or cannot receive): no
            // evidence either way.
            counted if missed == counted => i32::from(heard),
            // One nack came back: our ping-reqs went out and its answer
            // came in, so the silent ones are the fault, not us.
            _ => -1,
        };
        Some(Failed {
            target: p.target,
            incarnation: p.incarnation,
            health,
        })
    }

    /// Forgets the current probe (the node is leaving).
    pub fn stop(&mut self) {
        self.probe = None;
        self.quiet = None;
    }

    /// An ack `seq` from member `sender`.
    pub fn on_ack(&mut self, seq: u32, sender: &Name) -> Acked {
        if let Some(p) = self.probe.as_mut().filter(|p| p.seq == seq) {
            if *sender != p.target && !p.relays.contains(sender) {
                return Acked::Stranger;
            }
            let first = !p.acked;
            p.acked = true;
            self.answered.record(sender);
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

    /// A nack `seq` from member `sender`: true if a relay of our probe sent it.
    pub fn on_nack(&mut self, seq: u32, sender: &Name) -> bool {
        let Some(p) = self.probe.as_mut().filter(|p| p.seq == seq) else {
            return false;
        };
        let Some(i) = p.relays.iter().position(|r| r == sender) else {
            return false;
        };
        p.nacked |= 1 << i.min(63);
        self.answered.record(sender);
        true
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

    const T: Instant = Instant::ZERO;

    fn addr() -> SocketAddr {
        ([10, 0, 0, 9], 7946).into()
    }

    #[test]
    fn only_the_target_or_a_relay_acks_a_probe() {
        let mut p = Prober::new(1);
        let seq = p.start("t".into(), 3, Instant::ZERO);
        p.set_relays(vec!["r".into()], 0);
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
        p.set_relays(vec!["a".into(), "b".into(), "c".into(), "d".into()], 3);
        assert!(!p.on_nack(seq + 1, &"b".into()), "another probe's");
        assert!(!p.on_nack(seq, &"z".into()), "a stranger's nack");
        p.heard(&"m".into(), Instant::ZERO);
        let failed = p.conclude().unwrap();
        assert_eq!(
            (failed.incarnation, failed.health),
            (3, 1),
            "no answerer nacked"
        );
        let seq = p.start("t".into(), 3, Instant::ZERO);
        p.set_relays(vec!["a".into(), "b".into(), "c".into(), "d".into()], 3);
        assert!(p.on_nack(seq, &"d".into()), "an uncounted relay's nack");
        p.heard(&"m".into(), Instant::ZERO);
        assert_eq!(
            p.conclude().unwrap().health,
            -1,
            "a relay drawn at random nacked: our links work"
        );
        let _ = p.start("u".into(), 0, Instant::from_millis(5));
        assert_eq!(p.conclude().unwrap().health, 0, "nobody heard");
        let _ = p.start("u".into(), 0, Instant::from_millis(5));
        p.set_relays(vec!["a".into()], 1);
        assert_eq!(
            p.conclude().unwrap().health,
            0,
            "no answerer nacked, nobody heard: cut off with them"
        );
        let _ = p.start("u".into(), 0, Instant::from_millis(5));
        p.heard(&"m".into(), Instant::from_millis(6));
        assert_eq!(p.conclude().unwrap().health, 1, "heard, unanswered");
    }

    #[test]
    fn answerers_still_heard_are_asked_first() {
        let mut p = Prober::new(1);
        let period = Duration::from_secs(1);
        for name in ["pair", "a", "b", "c"] {
            let seq = p.start(name.into(), 0, T);
            p.on_ack(seq, &name.into());
        }
        let names = |p: &Prober, now| {
            (p.answerers(period, now).into_iter())
                .cloned()
                .collect::<Vec<Name>>()
        };
        assert_eq!(names(&p, T), ["c", "b", "a", "pair"].map(Name::from));
        // A cut: only "pair" still speaks.
        let later = T + Duration::from_secs(3);
        p.heard(&"pair".into(), later);
        assert_eq!(
            names(&p, later),
            ["pair", "c", "b", "a"].map(Name::from),
            "the member still heard first"
        );
        let quiet = later + Duration::from_secs(2);
        assert_eq!(names(&p, quiet), ["c", "b", "a", "pair"].map(Name::from));
        // A member heard that never answered us comes right after the
        // answerers still heard.
        p.heard(&"x".into(), quiet);
        p.heard(&"b".into(), quiet);
        assert_eq!(
            names(&p, quiet),
            ["b", "x", "c", "a", "pair"].map(Name::from)
        );
    }

    #[test]
    fn answerers_are_the_latest_to_answer_until_they_fail() {
        let c = Config::lan();
        let mut p = Prober::new(1);
        let names = |p: &Prober| {
            // Two seconds on: nobody was heard within the interval.
            (p.answerers(c.probe_interval, T + Duration::from_secs(2))
                .into_iter())
            .cloned()
            .collect::<Vec<Name>>()
        };
        for name in ["a", "b", "c", "a"] {
            let seq = p.start(name.into(), 0, T);
            p.on_ack(seq, &name.into());
        }
        assert_eq!(names(&p), ["a", "c", "b"].map(Name::from));
        let seq = p.start("t".into(), 0, T);
        p.set_relays(vec!["a".into(), "c".into(), "x".into()], 2);
        assert!(p.on_nack(seq, &"c".into()));
        assert_eq!(p.conclude().unwrap().health, -1, "c nacked: our links work");
        assert_eq!(names(&p), ["c", "b"].map(Name::from), "a dropped out");
        let _ = p.start("t".into(), 0, T);
        p.set_relays(vec!["c".into(), "b".into()], 2);
        p.heard(&"m".into(), T);
        assert_eq!(p.conclude().unwrap().health, 1, "no answerer nacked");
        assert!(names(&p).is_empty());
        for name in ["c", "b"] {
            let seq = p.start(name.into(), 0, T);
            p.on_ack(seq, &name.into());
        }
        let seq = p.start("b".into(), 0, T);
        p.set_relays(vec!["c".into()], 1);
        p.on_nack(seq, &"c".into());
        assert_eq!(p.conclude().unwrap().health, -1, "every answerer nacked");
        assert_eq!(
            names(&p),
            ["c"].map(Name::from),
            "the failed target dropped out"
        );
        for i in 0..40u32 {
            let n: Name = format!("m{i}").as_str().into();
            let seq = p.start(n.clone(), 0, T);
            p.on_ack(seq, &n);
        }
        assert_eq!(names(&p).len(), ANSWERERS, "bounded");
        let at = |s: u64| Instant::from_millis(s * 1000);
        let period = c.probe_interval;
        assert!(!p.hears(period, at(5)));
        p.heard(&"m".into(), at(4));
        assert!(p.hears(period, at(8)) && !p.hears(period, at(9)));
        assert!(p.hears(period * 2, at(12)), "a stretched period");
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

    #[test]
    fn an_answerer_silent_as_relay_is_probed_next() {
        let mut p = Prober::new(1);
        let seq = p.start("t".into(), 0, T);
        p.set_relays(vec!["a".into(), "b".into(), "r".into()], 2);
        assert!(p.on_nack(seq, &"b".into()));
        assert!(p.conclude().is_some());
        assert_eq!(
            p.take_quiet(),
            Some("a".into()),
            "a neither relayed nor nacked"
        );
        assert_eq!(p.take_quiet(), None, "once");
        // A quiet answerer waits while the round-robin has its turn.
        let seq = p.start("t".into(), 0, T);
        p.set_relays(vec!["a".into(), "b".into()], 2);
        assert!(p.conclude().is_some());
        assert_eq!(p.take_quiet(), Some("a".into()));
        let seq2 = p.start("a".into(), 0, T);
        p.set_relays(vec!["b".into()], 1);
        assert!(p.conclude().is_some());
        assert_eq!(p.take_quiet(), None, "the round-robin's turn");
        assert_eq!(p.take_quiet(), Some("b".into()), "then the one waiting");
        let _ = (seq, seq2);
        // Relays drawn at random (past `counted`) were never answering:
        // their silence is no news.
        let seq = p.start("t".into(), 0, T);
        p.set_relays(vec!["b".into(), "r".into()], 1);
        assert!(p.on_nack(seq, &"b".into()));
        assert!(p.conclude().is_some());
        assert_eq!(p.take_quiet(), None);
        // An acked probe concludes nothing.
        let seq = p.start("t".into(), 0, T);
        p.set_relays(vec!["a".into()], 1);
        p.on_ack(seq, &"t".into());
        assert!(p.conclude().is_none());
        assert_eq!(p.take_quiet(), None);
    }
}
