//! Caps per source, before trust (issue 18, build 3): every path that can
//! add members (a datagram's gossip, a stream frame nobody asked for, the
//! reply to an exchange a stranger's packet started) adds at most a small
//! number of new members per source and interval; an IPv6 source counts
//! as its /64. Members learned from an exchange this node opened to a
//! configured seed or a known member are not capped per source.
//!
//! Each test failed on the code before the caps: 50 datagrams from one
//! stranger added 2,000 members, and a stranger's reply frame added all of
//! its 20,000.
//!
//! Since candidates (see `verify.rs`), news of a member from anyone but
//! that member is not added at once: it is held as a candidate and pinged.
//! The caps bound what a source *takes in*: members added plus candidates.

mod common;

use common::*;
use prost::Message;
use std::net::SocketAddr;
use swim_core::{Bytes, Config, Input, Instant, Node, Output, StreamId};
use swim_proto as pb;

/// The most new members one source may add at once (a burst); the
/// tests allow this much and no more.
const BOUND: usize = 64;

/// A datagram from `from_name` carrying alive updates of members
/// `first..first + n` (names nobody knows).
fn fake_members(from_name: usize, first: usize, n: usize) -> Bytes {
    packet(
        from_name,
        vec![],
        (first..first + n).map(|i| alive(i, 1)).collect(),
    )
}

fn deliver(node: &mut Node, from: SocketAddr, bytes: Bytes, now: Instant) -> Vec<Output> {
    node.step(Input::Datagram { from, bytes }, now).collect()
}

/// What a node took in since it held `before` members: members added to
/// its table, and news of members held as candidates to check.
fn taken(node: &Node, before: usize) -> usize {
    node.members().count() - before + node.metrics().candidates as usize
}

/// Issue 18 point 3: 50 datagrams of 40 made-up members each, from one
/// stranger, added all 2,000 to an unkeyed node.
#[test]
fn fifty_datagrams_from_one_stranger_add_a_bounded_number_of_members() {
    let mut node = joined_node(4, Config::lan());
    let before = node.members().count();
    let stranger = addr(60_000);
    for k in 0..50 {
        let bytes = fake_members(60_000, 100_000 + 40 * k, 40);
        let _ = deliver(&mut node, stranger, bytes, Instant::from_millis(k as u64));
    }
    let added = taken(&node, before);
    assert!(added <= BOUND, "{added} members taken in from one source");
    assert_eq!(node.members().count(), before, "hearsay is not admitted");
    let m = node.metrics();
    assert!(m.members_capped >= (2_000 - BOUND) as u64, "{m:?}");
    assert_eq!(m.members_refused, m.members_capped);
}

/// The cap is per interval, not for ever: the same source adds a few more
/// members later (a node that keeps relaying news is not shut out).
#[test]
fn a_source_adds_more_members_as_time_passes() {
    let mut node = joined_node(4, Config::lan());
    let stranger = addr(60_000);
    for k in 0..3 {
        let bytes = fake_members(60_000, 100_000 + 30 * k, 30);
        let _ = deliver(&mut node, stranger, bytes, Instant::ZERO);
    }
    let before = node.members().count();
    let first = taken(&node, before);
    let later = Instant::from_millis(30_000);
    for k in 0..3 {
        let bytes = fake_members(60_000, 200_000 + 30 * k, 30);
        let _ = deliver(&mut node, stranger, bytes, later);
    }
    let now = taken(&node, before);
    assert!(now > first, "nothing taken in after 30 s");
    assert!(now <= first + BOUND);
}

/// An IPv6 source counts as its /64: addresses that differ in their last
/// 64 bits share one cap; another /64 has its own.
#[test]
fn an_ipv6_source_counts_as_its_64() {
    let mut node = joined_node(4, Config::lan());
    let before = node.members().count();
    let v6 = |net: u16, host: u16| -> SocketAddr {
        SocketAddr::new(
            std::net::Ipv6Addr::new(0xfd00, 0, 0, net, 0, 0, 0, host).into(),
            7946,
        )
    };
    for k in 0..20 {
        let bytes = fake_members(60_000 + k, 100_000 + 40 * k, 40);
        let _ = deliver(&mut node, v6(1, k as u16 + 1), bytes, Instant::ZERO);
    }
    let added = taken(&node, before);
    assert!(added <= BOUND, "{added} members taken in from one /64");
    let bytes = fake_members(70_000, 300_000, 40);
    let _ = deliver(&mut node, v6(2, 1), bytes, Instant::ZERO);
    assert_eq!(taken(&node, before), added + 40, "another /64");
}

/// Issue 18 point 3: a stranger's packet made the node open an exchange
/// with it, and its answer added all of its 20,000 members (the cap of 16
/// of unasked frames did not apply to a reply). Now a stranger's packets
/// make the node catch up from a member it knows, never from the
/// stranger: its 20,000 members have no way in but frames it opens itself
/// (16 each, its source's share in all).
#[test]
fn a_strangers_reply_frame_adds_a_bounded_number_of_members() {
    let mut node = joined_node(4, Config::lan());
    let _ = node.poll_outputs().count();
    let before = node.members().count();
    let stranger = addr(60_000);
    for k in 0..10u64 {
        let now = Instant::from_millis(5_000 + 1_000 * k);
        // Member 1 keeps talking to the node (which answers nobody here):
        // it is not isolated, so it holds its members, not a stranger, as
        // its way back.
        let _ = deliver(&mut node, addr(1), packet(1, vec![], vec![]), now);
        let out = deliver(&mut node, stranger, packet(60_000, vec![], vec![]), now);
        assert!(
            !out.iter()
                .any(|o| matches!(o, Output::StreamOpen { to, .. } if *to == stranger)),
            "an exchange with the stranger"
        );
    }
    // What it would have answered, sent as frames of its own.
    for k in 0..4u64 {
        let frame = pb::StreamFrame {
            version: pb::PROTOCOL_VERSION,
            cluster: String::new(),
            from: name(60_000).into_bytes().into(),
            push_pull: Some(pb::PushPull {
                members: (100_000..105_000).map(|i| alive(i, 1)).collect(),
                ..Default::default()
            }),
        };
        let input = Input::StreamFrame {
            id: StreamId::accepted(100 + k),
            from: stranger,
            bytes: frame.encode_to_vec().into(),
        };
        let _ = node.step(input, Instant::from_millis(20_000)).count();
    }
    let added = taken(&node, before);
    assert!(added <= BOUND, "{added} members taken in from a stranger");
}

/// Stream frames nobody asked for add at most 16 new members each, and
/// one source opening many streams adds no more than its cap in all.
#[test]
fn many_unasked_frames_from_one_source_add_a_bounded_number() {
    let mut node = joined_node(4, Config::lan());
    let before = node.members().count();
    for k in 0..40u64 {
        let frame = pb::StreamFrame {
            version: pb::PROTOCOL_VERSION,
            cluster: String::new(),
            from: name(60_000 + k as usize).into_bytes().into(),
            push_pull: Some(pb::PushPull {
                join: true,
                members: (0..16)
                    .map(|i| alive(100_000 + 16 * k as usize + i, 1))
                    .collect(),
                ..Default::default()
            }),
        };
        let input = Input::StreamFrame {
            id: StreamId::accepted(k + 1),
            from: SocketAddr::new(addr(60_000).ip(), 10_000 + k as u16),
            bytes: frame.encode_to_vec().into(),
        };
        let _ = node.step(input, Instant::ZERO).count();
    }
    let added = taken(&node, before);
    assert!(
        added <= BOUND,
        "{added} members taken in from one source's frames"
    );
}

/// What works stays as it was: a joining node takes the whole table a
/// configured seed answers with (2,000 members), and news of members
/// relayed by several sources is taken from each, a burst from each at
/// once: each new member is pinged, and joins the table when it answers.
#[test]
fn a_seed_answer_and_news_from_many_sources_are_not_capped() {
    let node = joined_node(2_000, Config::lan());
    assert_eq!(node.members().count(), 2_000);
    let mut node = joined_node(4, Config::lan());
    let before = node.members().count();
    let mut pings = Vec::new();
    for k in 0..3usize {
        // Member k + 1 of a large cluster relays news of BOUND new members.
        for half in 0..2 {
            let first = 100_000 + BOUND * k + BOUND / 2 * half;
            let bytes = fake_members(1 + k, first, BOUND / 2);
            pings.extend(deliver(&mut node, addr(1 + k), bytes, Instant::ZERO));
        }
    }
    assert_eq!(taken(&node, before), 3 * BOUND);
    // The new members answer the pings.
    let mut answered = 0;
    for o in pings {
        let Output::Datagram { to, bytes } = o else {
            continue;
        };
        let Ok(p) = pb::Packet::decode(bytes) else {
            continue;
        };
        for m in p.messages {
            if let Some(pb::message::Body::Ping(ping)) = m.body {
                let i = (100_000..100_000 + 3 * BOUND).find(|&i| addr(i) == to);
                let Some(i) = i else { continue };
                let ack = packet(
                    i,
                    vec![pb::message::Body::Ack(pb::Ack { seq: ping.seq })],
                    vec![],
                );
                let _ = deliver(&mut node, to, ack, Instant::from_millis(2));
                answered += 1;
            }
        }
    }
    assert_eq!(answered, 3 * BOUND, "every new member was pinged");
    assert_eq!(node.members().count() - before, 3 * BOUND);
    assert_eq!(node.metrics().candidates_verified, 3 * BOUND as u64);
}
