//! Hostile bytes: anything a peer sends is dropped or applied whole, never a
//! panic, and bytes that are dropped never change the membership.

mod common;

use common::*;
use proptest::prelude::*;
use prost::Message;
use swim_core::{Config, Input, Instant, StreamId};
use swim_proto as pb;

fn check(input: impl Fn(swim_core::Bytes) -> Input, bytes: Vec<u8>) {
    let mut node = joined_node(8, Config::lan());
    let before = snapshot(&node);
    let dropped = node.metrics().dropped.total();
    let _ = node.step(input(bytes.into()), Instant::ZERO).count();
    if node.metrics().dropped.total() > dropped {
        assert_eq!(
            snapshot(&node),
            before,
            "dropped input changed the membership"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_datagrams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        check(|b| Input::Datagram { from: addr(3), bytes: b }, bytes);
    }

    #[test]
    fn arbitrary_stream_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check(|b| Input::StreamFrame { id: StreamId::accepted(9), from: addr(3), bytes: b }, bytes.clone());
        check(|b| Input::StreamFrame { id: unused_stream(), from: addr(3), bytes: b }, bytes);
    }

    /// Corrupting a valid packet (a flipped byte, a cut) is dropped or applied
    /// whole, never half.
    #[test]
    fn corrupted_valid_packets_never_panic(cut in 0usize..400, flip in 0usize..400, xor in 1u8..=255) {
        let valid = packet(2, vec![], (3..8).map(|i| alive(i, 5)).collect());
        let mut bytes = valid.to_vec();
        if flip < bytes.len() {
            bytes[flip] ^= xor;
        }
        bytes.truncate(cut.max(1));
        check(|b| Input::Datagram { from: addr(2), bytes: b }, bytes);
    }
}

#[test]
fn oversized_datagrams_are_dropped_and_counted() {
    let mut node = joined_node(4, Config::lan());
    let _ = node
        .step(
            Input::Datagram {
                from: addr(2),
                bytes: vec![0u8; 1401].into(),
            },
            Instant::ZERO,
        )
        .count();
    assert_eq!(node.metrics().dropped.oversized, 1);
}

/// A key write from the network with any key, value, flags and versions.
fn key_delta(owner: usize, life: u64) -> impl Strategy<Value = pb::KeyDelta> {
    (
        proptest::collection::vec(any::<u8>(), 0..140),
        proptest::collection::vec(any::<u8>(), 0..600),
        any::<bool>(),
        0u64..8,
        0u64..8,
        prop_oneof![Just(life), any::<u64>()],
    )
        .prop_map(
            move |(key, value, deleted, version, prev, life)| pb::KeyDelta {
                owner: name(owner).into_bytes().into(),
                life,
                write: Some(pb::KeyWrite {
                    key: key.into(),
                    value: value.into(),
                    deleted,
                    version,
                    prev,
                }),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Key writes a peer makes up never panic, never exceed the limits in
    /// what the node holds, and never move a key's version back.
    #[test]
    fn made_up_key_writes_are_dropped_or_applied_within_the_limits(
        deltas in proptest::collection::vec(key_delta(2, 1002), 1..12)
    ) {
        let mut node = joined_node(8, Config::lan());
        let mut held: std::collections::BTreeMap<String, u64> = Default::default();
        for d in deltas {
            let p = pb::Packet {
                version: pb::PROTOCOL_VERSION,
                cluster: String::new(),
                from: name(3).into_bytes().into(),
                deltas: vec![d],
                ..Default::default()
            };
            let _ = node.step(Input::Datagram { from: addr(3), bytes: p.encode_to_vec().into() }, Instant::ZERO).count();
            for (key, value, version) in node.keys(&name(2), "") {
                prop_assert!(key.len() <= swim_core::MAX_KEY_LEN && value.len() <= swim_core::MAX_VALUE_LEN);
                let old = held.insert(key.clone(), version).unwrap_or(0);
                prop_assert!(version >= old, "{key} went back from {old} to {version}");
            }
        }
    }
}

/// An update with incarnation `inc` and `status` about member `about`.
fn claim(about: usize, inc: u64, status: pb::Status) -> pb::Update {
    pb::Update {
        status: status as i32,
        from: name(3).into_bytes().into(),
        ..alive(about, inc)
    }
}

/// The 49-byte attack of the security issue: one update declaring a live
/// member (or this node) dead at incarnation u64::MAX made the refutation
/// wrap to 0 in release builds and panic in debug builds. Incarnations above
/// 2^63 - 1 are now invalid on the wire, and jumps of more than 2^32 over
/// the held one are ignored.
#[test]
fn incarnations_cannot_wrap_or_jump_out_of_reach() {
    for about in [0, 2] {
        let mut node = joined_node(4, Config::lan());
        let before = snapshot(&node);
        let bytes = packet(3, vec![], vec![claim(about, u64::MAX, pb::Status::Dead)]);
        let _ = receive(&mut node, 3, bytes, Instant::ZERO);
        assert_eq!(snapshot(&node), before, "about node-{about}");
        assert_eq!(node.metrics().dropped.invalid, 1);
    }
    // Far above what we hold: ignored, counted, nothing to refute.
    let mut node = joined_node(4, Config::lan());
    let before = snapshot(&node);
    let jump = 1 + (1u64 << 32) + 1;
    for about in [0, 2] {
        let bytes = packet(3, vec![], vec![claim(about, jump, pb::Status::Dead)]);
        let _ = receive(&mut node, 3, bytes, Instant::ZERO);
    }
    assert_eq!(snapshot(&node), before);
    assert_eq!(node.metrics().dropped.implausible, 2);
    assert_eq!(node.local().incarnation, 0);
}
