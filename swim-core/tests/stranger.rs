//! A stranger who can open streams, from the attack review of issue 18:
//! a join under the seed's name draws a small refusal and no member list,
//! a forged refusal keeps nobody out, and stream frames nobody asked for
//! do not move the query clock (they walked it 2^20 a frame before).

mod common;

use common::*;
use prost::Message;
use swim_core::{Bytes, Config, Identity, Input, Instant, Node, Output, StreamId};
use swim_proto as pb;

fn frame(from: &str, pp: pb::PushPull) -> Bytes {
    pb::StreamFrame {
        version: pb::PROTOCOL_VERSION,
        cluster: String::new(),
        from: from.as_bytes().to_vec().into(),
        push_pull: Some(pp),
    }
    .encode_to_vec()
    .into()
}

fn stream_replies(out: &[Output]) -> Vec<Bytes> {
    out.iter()
        .filter_map(|o| match o {
            Output::StreamFrame { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .collect()
}

/// Persona 1 (stranger, plain): a join under the seed's own name draws a
/// refusal. How large is it against the request?
#[test]
fn stranger_join_under_the_seeds_name_draws_a_small_refusal() {
    let mut node = joined_node(10, Config::lan());
    let _ = node.poll_outputs().count();
    let req = frame(
        &name(0),
        pb::PushPull {
            join: true,
            ..Default::default()
        },
    );
    let out: Vec<_> = node
        .step(
            Input::StreamFrame {
                id: StreamId::accepted(7),
                from: addr(99),
                bytes: req.clone(),
            },
            Instant::ZERO,
        )
        .collect();
    let replies = stream_replies(&out);
    let sent: usize = replies.iter().map(|b| b.len()).sum();
    let reply = pb::StreamFrame::decode(&replies[0][..]).unwrap();
    let pp = reply.push_pull.unwrap();
    eprintln!(
        "refusal: request {} bytes, reply {} bytes ({:.2}x), members {}, clock {}",
        req.len(),
        sent,
        sent as f64 / req.len() as f64,
        pp.members.len(),
        pp.query_clock
    );
    assert!(!pp.name_taken_by.is_empty());
    assert!(pp.members.is_empty(), "no member list for an impostor");
}

/// A stranger's stream frames moved the node's query clock by 2^20 each
/// (2,000 frames: 2,097,152,000); the clock spreads at every full-state
/// exchange and is never lowered, and at 2^48 (MAX_CLOCK) every query is
/// dropped as implausible, cluster-wide. The clock is learned only from
/// answers to exchanges the node opened now.
#[test]
fn stranger_streams_walk_the_query_clock() {
    let mut node = joined_node(4, Config::lan());
    let _ = node.poll_outputs().count();
    let mut clock = 0u64;
    let frames = 2000u64;
    for i in 0..frames {
        let req = frame(
            "stranger",
            pb::PushPull {
                query_clock: clock + (1 << 20),
                ..Default::default()
            },
        );
        let out: Vec<_> = node
            .step(
                Input::StreamFrame {
                    id: StreamId::accepted(100 + i),
                    from: addr(200 + (i as usize % 50)),
                    bytes: req,
                },
                Instant::from_millis(i),
            )
            .collect();
        // Our answer tells us the clock we reached.
        for r in stream_replies(&out) {
            if let Ok(f) = pb::StreamFrame::decode(&r[..]) {
                clock = clock.max(f.push_pull.map_or(0, |p| p.query_clock));
            }
        }
        let _ = node.poll_outputs().count();
    }
    let per = clock / frames;
    eprintln!(
        "clock after {frames} stranger frames: {clock} ({per} per frame); 2^48 in {} frames",
        (1u64 << 48) / per.max(1)
    );
    assert!(
        clock < frames * 16,
        "a stranger moved the query clock by {clock} in {frames} frames"
    );
}

/// Persona 1: a forged refusal from one seed ends only that seed's part of
/// the attempt; the other seed's answer joins.
#[test]
fn a_forged_refusal_from_one_seed_keeps_nobody_out() {
    let id = Identity::new(name(0), addr(0));
    let mut node = Node::new(Config::lan(), id, 42, Instant::ZERO).unwrap();
    node.join(&[addr(1), addr(2)], Instant::ZERO).unwrap();
    let opens: Vec<(StreamId, std::net::SocketAddr)> = std::iter::from_fn(|| node.poll_output())
        .filter_map(|o| match o {
            Output::StreamOpen { id, to } => Some((id, to)),
            _ => None,
        })
        .collect();
    assert_eq!(opens.len(), 2);
    let refusal = frame(
        &name(1),
        pb::PushPull {
            name_taken_by: wire_addr(addr(1)),
            ..Default::default()
        },
    );
    let out: Vec<_> = node
        .step(
            Input::StreamFrame {
                id: opens[0].0,
                from: opens[0].1,
                bytes: refusal,
            },
            Instant::ZERO,
        )
        .collect();
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(swim_core::Event::JoinRefused {
            authenticated: false,
            ..
        })
    )));
    let answer = frame(
        &name(2),
        pb::PushPull {
            members: (1..5).map(|i| alive(i, 1)).collect(),
            ..Default::default()
        },
    );
    let out: Vec<_> = node
        .step(
            Input::StreamFrame {
                id: opens[1].0,
                from: opens[1].1,
                bytes: answer,
            },
            Instant::ZERO,
        )
        .collect();
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Event(swim_core::Event::JoinCompleted { .. }))));
    assert_eq!(node.members().count(), 5);
}
