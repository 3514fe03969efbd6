//! Hostile bytes: anything a peer sends is dropped or applied whole, never a
//! panic, and bytes that are dropped never change the membership.

mod common;

use common::*;
use proptest::prelude::*;
use prost::Message;
use swim_core::{Config, Input, Instant, Output, StreamId};
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
                gc: 0,
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

/// One push-pull request (a frame this node did not ask for) naming 20,000
/// made-up members used to add them all, stretching the probe round to
/// hours; now it adds at most a few, and the rest are counted.
#[test]
fn an_unasked_frame_cannot_flood_the_table() {
    let mut node = joined_node(4, Config::lan());
    let frame = pb::StreamFrame {
        version: pb::PROTOCOL_VERSION,
        cluster: String::new(),
        from: name(3).into_bytes().into(),
        push_pull: Some(pb::PushPull {
            join: true,
            members: (3..20_003).map(|i| alive(i, 1)).collect(),
            ..Default::default()
        }),
    };
    let bytes: swim_core::Bytes = frame.encode_to_vec().into();
    assert!(bytes.len() > 400_000);
    let id = StreamId::accepted(1);
    let _ = node
        .step(
            Input::StreamFrame {
                id,
                from: addr(3),
                bytes,
            },
            Instant::ZERO,
        )
        .count();
    let members = node.members().count();
    assert!(members <= 4 + 16, "{members} members");
    let m = node.metrics();
    assert_eq!(m.members_refused, 19_999 - 16, "{m:?}");
}

/// The table holds at most `max_members`, however the news arrives.
#[test]
fn the_table_stops_at_max_members() {
    let config = Config {
        max_members: 50,
        ..Config::lan()
    };
    let mut node = joined_node(4, config);
    let mut out = Vec::new();
    for chunk in (10..200).collect::<Vec<_>>().chunks(40) {
        let updates = chunk.iter().map(|&i| alive(i, 1)).collect();
        out.extend(receive(
            &mut node,
            3,
            packet(3, vec![], updates),
            Instant::ZERO,
        ));
    }
    // Heard of from member 3: candidates (64, its share), pinged; they answer.
    assert_eq!(node.members().count(), 4);
    answer_pings(&mut node, &out, Instant::from_millis(1));
    assert_eq!(node.members().count(), 50);
    assert_eq!(node.metrics().members_refused, 190 - 46);
}

/// A datagram from a name this node does not know makes it pull state.
/// It used to open an exchange with the sender's address with this node's
/// whole table, so a few bytes forged from someone else's address drew
/// hundreds of kilobytes there; then with only this node; now the state
/// is pulled from a member this node knows, and the stranger's address
/// gets nothing beyond the answer to its own messages.
#[test]
fn a_stranger_draws_nothing_but_a_catch_up_from_a_member() {
    let mut node = joined_node(2_000, Config::lan());
    let _ = node.poll_outputs().count();
    let forged = viewed_packet(5_000, vec![], vec![], 3_000);
    let out = receive(
        &mut node,
        5_000,
        forged.clone(),
        Instant::from_millis(10_000),
    );
    let to = addr(5_000);
    let opened: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::StreamOpen { to: t, .. } => Some(*t),
            _ => None,
        })
        .collect();
    assert_eq!(opened.len(), 1, "one catch-up");
    assert_ne!(opened[0], to, "not with the stranger");
    let sent: usize = out
        .iter()
        .map(|o| match o {
            Output::Datagram { to: t, bytes } if *t == to => bytes.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(sent, 0, "{sent} bytes drawn by {} bytes", forged.len());
}
