//! The state machine through its public API: probes, refutation, bad input.

mod common;

use common::*;
use prost::Message;
use swim_core::{Config, Event, Input, Instant, Output, Status};
use swim_proto as pb;

fn datagrams(
    outputs: impl Iterator<Item = Output>,
) -> Vec<(std::net::SocketAddr, swim_core::Bytes)> {
    outputs
        .filter_map(|o| match o {
            Output::Datagram { to, bytes } => Some((to, bytes)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_ping_is_answered_with_an_ack_to_its_source() {
    let mut node = joined_node(5, Config::lan());
    let out = datagrams(node.step(
        Input::Datagram {
            from: addr(3),
            bytes: ping(3, 77, 0),
        },
        Instant::ZERO,
    ));
    let (to, bytes) = out.first().expect("an ack");
    assert_eq!(*to, addr(3));
    let p = pb::Packet::decode(bytes.clone()).unwrap();
    assert_eq!(
        p.messages[0].body,
        Some(pb::message::Body::Ack(pb::Ack { seq: 77 }))
    );
    assert!(bytes.len() <= 1400);
    assert_eq!(node.metrics().received.ping.packets, 1);
}

#[test]
fn a_ping_for_another_member_is_dropped() {
    let mut node = joined_node(5, Config::lan());
    let out = datagrams(node.step(
        Input::Datagram {
            from: addr(3),
            bytes: ping(3, 1, 9),
        },
        Instant::ZERO,
    ));
    assert!(out.is_empty());
    assert_eq!(node.metrics().dropped.wrong_target, 1);
}

/// Section 4.2 (suspicion): a member that hears itself suspected refutes with
/// a higher incarnation and gossips it.
#[test]
fn suspicion_of_self_is_refuted_with_a_higher_incarnation() {
    let mut node = joined_node(5, Config::lan());
    let before = node.local().incarnation;
    let mut accusation = alive(0, before + 3);
    accusation.status = pb::Status::Suspect as i32;
    accusation.from = "node-2".as_bytes().to_vec().into();
    let _ = node
        .step(
            Input::Datagram {
                from: addr(2),
                bytes: packet(2, vec![], vec![accusation]),
            },
            Instant::ZERO,
        )
        .count();
    assert_eq!(node.local().incarnation, before + 4);
    assert_eq!(node.local().status, Status::Alive);
    assert_eq!(node.metrics().refutations, 1);
    // The refutation goes out on the next packet.
    let out = datagrams(node.step(
        Input::Datagram {
            from: addr(3),
            bytes: ping(3, 5, 0),
        },
        Instant::ZERO,
    ));
    let p = pb::Packet::decode(out[0].1.clone()).unwrap();
    assert!(p
        .updates
        .iter()
        .any(|u| &u.name[..] == b"node-0" && u.incarnation == before + 4));
}

/// Section 3.1: a probe without an ack (direct or indirect) ends in suspicion,
/// and an unrefuted suspicion in death.
#[test]
fn an_unanswered_probe_leads_to_suspicion_then_death() {
    let mut node = joined_node(3, Config::lan());
    let mut now = Instant::ZERO;
    let mut events = Vec::new();
    while now < Instant::from_millis(60_000) {
        now = node.poll_timeout().unwrap();
        events.extend(node.step(Input::Tick, now).filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        }));
    }
    let suspected = events
        .iter()
        .filter(|e| matches!(e, Event::MemberSuspect(_)))
        .count();
    let failed: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let Event::MemberFailed(m) = e {
                Some(m)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(suspected, 2, "{events:?}");
    assert_eq!(failed.len(), 2);
    assert!(node.metrics().probe_failures >= 2);
    assert_eq!(node.num_live(), 1);
}

#[test]
fn other_clusters_and_versions_are_dropped_without_a_state_change() {
    let mut node = joined_node(5, Config::lan());
    let before = snapshot(&node);
    let mut p = pb::Packet::decode(packet(2, vec![], vec![alive(9, 1)])).unwrap();
    p.cluster = "other".into();
    let _ = node
        .step(
            Input::Datagram {
                from: addr(2),
                bytes: p.encode_to_vec().into(),
            },
            Instant::ZERO,
        )
        .count();
    p.cluster = String::new();
    p.version = 2;
    let _ = node
        .step(
            Input::Datagram {
                from: addr(2),
                bytes: p.encode_to_vec().into(),
            },
            Instant::ZERO,
        )
        .count();
    assert_eq!(snapshot(&node), before);
    assert_eq!(node.metrics().dropped.cluster, 1);
    assert_eq!(node.metrics().dropped.version, 1);
}

#[test]
fn invalid_api_input_gets_a_typed_error() {
    let id = swim_core::Identity {
        name: String::new(),
        addr: addr(0),
        meta: Default::default(),
    };
    let err = swim_core::Node::new(Config::lan(), id, 1, Instant::ZERO).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid node name: 0 bytes (allowed: 1 to 128 bytes)"
    );
    let mut node = joined_node(2, Config::lan());
    let err = node
        .set_meta(vec![0u8; 600].into(), Instant::ZERO)
        .unwrap_err();
    assert!(err.to_string().contains("600 bytes"), "{err}");
    let bad = Config {
        probe_interval: std::time::Duration::ZERO,
        ..Config::lan()
    };
    let id = swim_core::Identity {
        name: "x".into(),
        addr: addr(0),
        meta: Default::default(),
    };
    let err = swim_core::Node::new(bad, id, 1, Instant::ZERO).unwrap_err();
    assert!(err.to_string().contains("probe_interval"), "{err}");
}
