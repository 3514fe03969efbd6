//! `datagram`: any bytes, delivered as a datagram from node-1 to node-0,
//! which has joined node-1 ..= node-4 and has a probe in flight (so that
//! updates about known members, probes, and acks to the pending probe are
//! all reachable). Nothing may panic, the outputs keep their bounds, and a
//! datagram dropped whole (undecodable, from this node, or a ping meant for
//! another member) changes neither the membership nor the keys held.

use super::*;

/// The target's body.
pub fn run(data: &[u8]) {
    let mut node = joined(Config::lan(), &[]);
    // Probe someone: the ack in `data` may match it (seq 1).
    let now = Instant::from_millis(1_000);
    let _ = step(&mut node, Input::Tick, now);
    // The same instant: no timer fires after the datagram, so any change
    // is the datagram's.
    deliver(&mut node, addr(1), data, now);
}

/// How many inputs `d` counts as dropped whole, before anything was applied.
pub fn dropped_whole(d: &swim_core::Dropped) -> u64 {
    d.decode_failures() + d.from_self + d.wrong_target
}

/// Delivers `data` as a datagram from `from` at `now`, and checks that a
/// datagram dropped whole changed nothing.
pub fn deliver(node: &mut Node, from: SocketAddr, data: &[u8], now: Instant) -> Vec<Output> {
    let (members, keys) = (snapshot(node), key_values(node));
    let dropped = dropped_whole(&node.metrics().dropped);
    let bytes = Bytes::copy_from_slice(data);
    let out = step(node, Input::Datagram { from, bytes }, now);
    if dropped_whole(&node.metrics().dropped) > dropped {
        assert_eq!(
            snapshot(node),
            members,
            "a dropped datagram changed the membership"
        );
        assert_eq!(
            key_values(node),
            keys,
            "a dropped datagram changed the keys"
        );
        assert!(
            out.iter().all(|o| !matches!(o, Output::Datagram { .. })),
            "a dropped datagram was answered: {out:?}"
        );
    }
    out
}
