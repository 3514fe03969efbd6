//! No suspicion from one lost datagram (issue 19, point 6): when a probe's
//! direct ack is late, the node pings the target again beside the relays'
//! ping-reqs (`Config::probe_retries`), so a target whose first ping or ack
//! was lost, and whose relays said nothing, is not suspected.

mod common;

use common::*;
use prost::Message;
use std::net::SocketAddr;
use swim_core::{Config, Event, Input, Instant, Node, Output};
use swim_proto as pb;

/// What one probe of node 0 (in a cluster of 4) came to.
#[derive(Debug, Default)]
struct Probe {
    /// The probe's target (member index) and the ping's sequence number.
    target: usize,
    seq: u32,
    /// When the first ping and each later one to the target went out.
    pings: Vec<Instant>,
    /// Ping-reqs sent for it.
    ping_reqs: usize,
    /// Updates piggybacked on the first ping, and on the retries.
    first_updates: usize,
    retry_updates: usize,
    /// The target was suspected.
    suspected: bool,
}

/// The pings (to their target's own address) in a datagram to `to`.
fn pings(to: SocketAddr, bytes: &[u8]) -> Vec<(usize, u32)> {
    let Ok(p) = pb::Packet::decode(bytes) else {
        return Vec::new();
    };
    (p.messages.into_iter().filter_map(|m| m.body))
        .filter_map(|b| match b {
            pb::message::Body::Ping(ping) => {
                let i = std::str::from_utf8(&ping.target)
                    .ok()?
                    .strip_prefix("node-")?
                    .parse::<usize>()
                    .ok()?;
                (addr(i) == to).then_some((i, ping.seq))
            }
            _ => None,
        })
        .collect()
}

fn ping_reqs(bytes: &[u8], seq: u32) -> usize {
    let Ok(p) = pb::Packet::decode(bytes) else {
        return 0;
    };
    (p.messages.into_iter().filter_map(|m| m.body))
        .filter(|b| matches!(b, pb::message::Body::PingReq(r) if r.seq == seq))
        .count()
}

/// Node 0 (cluster of 4, `retries` direct retries) runs its first probe to
/// the end, then one more protocol period. The relays never answer; the
/// target answers its pings from the `answer_from`-th on (0: the first),
/// 1 ms later, from its own address. A key written at the start waits for
/// piggybacks (the gossip tick is a minute away).
fn probe_once(retries: u32, answer_from: usize) -> Probe {
    let config = Config {
        probe_retries: retries,
        gossip_interval: std::time::Duration::from_secs(60),
        ..Config::lan()
    };
    let mut node: Node = joined_node(4, config);
    let _ = node.poll_outputs().count();
    node.set("k", "v", Instant::ZERO).unwrap();
    let _ = node.poll_outputs().count();
    let mut probe: Option<Probe> = None;
    let mut acks: Vec<(Instant, usize, u32)> = Vec::new();
    let mut now = Instant::ZERO;
    let mut until = Instant::from_millis(5_000);
    while let Some(t) = node.poll_timeout().filter(|&t| t <= until) {
        // The target's acks due before the node's next deadline.
        let out: Vec<Output> = match acks.first().copied().filter(|a| a.0 <= t) {
            Some((at, from, seq)) => {
                acks.remove(0);
                now = at.max(now);
                let ack = packet(from, vec![pb::message::Body::Ack(pb::Ack { seq })], vec![]);
                receive(&mut node, from, ack, now)
            }
            None => {
                now = t.max(now);
                node.step(Input::Tick, now).collect()
            }
        };
        for o in out {
            match o {
                Output::Datagram { to, bytes } => {
                    for (i, seq) in pings(to, &bytes) {
                        let p = probe.get_or_insert_with(|| {
                            // The first probe: seen to its end and one period more.
                            until = now + Config::lan().probe_interval * 2;
                            Probe {
                                target: i,
                                seq,
                                ..Probe::default()
                            }
                        });
                        if (i, seq) == (p.target, p.seq) {
                            let updates = pb::Packet::decode(&bytes[..])
                                .map_or(0, |d| d.updates.len() + d.deltas.len());
                            if p.pings.is_empty() {
                                p.first_updates = updates;
                            } else {
                                p.retry_updates += updates;
                            }
                            if p.pings.len() >= answer_from {
                                acks.push((now + std::time::Duration::from_millis(1), i, seq));
                            }
                            p.pings.push(now);
                        }
                    }
                    if let Some(p) = probe.as_mut() {
                        p.ping_reqs += ping_reqs(&bytes, p.seq);
                    }
                }
                Output::Event(Event::MemberSuspect { member, .. }) => {
                    let p = probe.as_mut().expect("a suspicion follows a probe");
                    if member.name.as_ref() == name(p.target).as_str() {
                        p.suspected = true;
                    }
                }
                _ => {}
            }
        }
    }
    probe.expect("node 0 probed a member")
}

#[test]
fn a_lost_direct_ping_is_retried_and_the_answer_spares_the_target() {
    // Without the second path the one lost ping leaves the verdict to the
    // relays, who said nothing: suspected.
    let without = probe_once(0, 1);
    assert_eq!(without.pings.len(), 1);
    assert_eq!(without.ping_reqs, 2, "both relays were asked");
    assert!(without.suspected, "{without:?}");
    // With it, the target answers the retry: alive, and asked only once more.
    let with = probe_once(1, 1);
    assert_eq!(with.pings.len(), 2, "{with:?}");
    assert_eq!(with.ping_reqs, 2, "the relays are asked all the same");
    let timeout = Config::lan().probe_timeout;
    assert_eq!(
        with.pings[1],
        with.pings[0] + timeout,
        "beside the ping-reqs"
    );
    assert!(!with.suspected, "{with:?}");
    assert!(with.first_updates > 0, "the first ping carries gossip");
    assert_eq!(with.retry_updates, 0, "a retry is the ping alone");
}

#[test]
fn retries_are_spaced_within_the_relays_wait_and_stop_at_the_answer() {
    // Both the first ping and the first retry lost: the second retry,
    // spaced within the relays' wait, is answered before the probe ends.
    let p = probe_once(2, 2);
    assert_eq!(p.pings.len(), 3, "{p:?}");
    let (gap, end) = (
        p.pings[2] - p.pings[1],
        p.pings[0] + Config::lan().probe_interval,
    );
    assert!(!gap.is_zero() && p.pings[2] < end, "{p:?}");
    assert!(!p.suspected, "{p:?}");
    // Answered at the first retry: no second one.
    let p = probe_once(2, 1);
    assert_eq!(p.pings.len(), 2, "{p:?}");
    assert!(!p.suspected);
    // Answered at once: no retry at all.
    let p = probe_once(2, 0);
    assert_eq!((p.pings.len(), p.ping_reqs), (1, 0), "{p:?}");
    // Never answered: bounded, and the target is suspected.
    let p = probe_once(2, usize::MAX);
    assert_eq!(p.pings.len(), 3, "{p:?}");
    assert!(p.suspected);
}

#[test]
fn a_retry_needs_a_sane_count() {
    for (retries, ok) in [(0, true), (4, true), (5, false), (u32::MAX, false)] {
        let c = Config {
            probe_retries: retries,
            ..Config::lan()
        };
        assert_eq!(c.validate().is_ok(), ok, "{retries}");
    }
}
