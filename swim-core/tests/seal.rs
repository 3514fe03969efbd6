//! Sealed traffic: what a node with keys accepts, drops and sends, at each
//! step of turning sealing on.

mod common;

use common::*;
use swim_core::{Config, Input, Instant, Output, Sealing, SecretKey, Status};
use swim_proto as pb;

fn key(b: u8) -> SecretKey {
    SecretKey::new([b; 32])
}

/// Node 0 of a joined 4-member cluster, holding `keys`, at `sealing`.
fn keyed_node(keys: &[u8], sealing: Sealing) -> swim_core::Node {
    let mut node = joined_node(4, Config::lan());
    let _ = node.poll_outputs().count();
    for &k in keys {
        node.install_secret_key(key(k));
    }
    node.set_sealing(sealing);
    node
}

/// One update from member 3 about `about`.
fn claim(about: usize, inc: u64, status: pb::Status) -> pb::Update {
    pb::Update {
        status: status as i32,
        from: name(3).into_bytes().into(),
        ..alive(about, inc)
    }
}

/// The forgeries of the security issue, each one plain datagram from a
/// plain socket: death, leave, a fake member, the revival of a dead one, a
/// member moved to another address, incarnation u64::MAX.
fn forgeries() -> Vec<swim_core::Bytes> {
    let moved = pb::Update {
        addr: wire_addr(addr(99)),
        ..alive(2, 5)
    };
    [
        claim(2, 1, pb::Status::Dead),
        claim(2, 1, pb::Status::Left),
        alive(50, 1),
        alive(2, 9),
        moved,
        claim(0, u64::MAX, pb::Status::Dead),
        claim(0, 3, pb::Status::Dead),
    ]
    .into_iter()
    .map(|u| packet(3, vec![], vec![u]))
    .collect()
}

#[test]
fn forged_plain_datagrams_change_nothing_once_sealing_is_required() {
    let mut node = keyed_node(&[1], Sealing::Require);
    let before = snapshot(&node);
    let forged = forgeries();
    for bytes in &forged {
        let out = receive(&mut node, 3, bytes.clone(), Instant::ZERO);
        assert!(out.is_empty(), "a forged datagram drew {out:?}");
    }
    assert_eq!(snapshot(&node), before);
    assert_eq!(node.metrics().dropped.auth, forged.len() as u64);
    assert_eq!(node.local().incarnation, 0, "nothing to refute");
    // A ping draws no answer either.
    let out = receive(&mut node, 3, ping(3, 1, 0), Instant::ZERO);
    assert!(out.is_empty());
}

#[test]
fn sealed_under_another_key_is_dropped_and_under_a_held_key_applied() {
    let mut node = keyed_node(&[1, 2], Sealing::Require);
    let before = snapshot(&node);
    let dead = packet(3, vec![], vec![claim(2, 1, pb::Status::Dead)]);
    let foreign = seal_with(&[9], &dead);
    let _ = receive(&mut node, 3, foreign, Instant::ZERO);
    assert_eq!(snapshot(&node), before);
    assert_eq!(node.metrics().dropped.auth, 1);
    // The second installed key opens it too (rotation).
    let _ = receive(&mut node, 3, seal_with(&[2], &dead), Instant::ZERO);
    assert_eq!(node.member(&name(2)).unwrap().status, Status::Dead);
    assert_eq!(node.metrics().dropped.auth, 1);
}

#[test]
fn an_insider_at_the_highest_incarnation_cannot_hold_a_member_dead() {
    for about in [0, 2] {
        let mut node = keyed_node(&[1], Sealing::Require);
        let before = snapshot(&node);
        let plain = packet(3, vec![], vec![claim(about, u64::MAX, pb::Status::Dead)]);
        let _ = receive(&mut node, 3, seal_with(&[1], &plain), Instant::ZERO);
        assert_eq!(snapshot(&node), before, "about node-{about}");
        assert_eq!(node.metrics().dropped.invalid, 1);
        assert_eq!(node.metrics().dropped.auth, 0);
    }
}

/// Every datagram and frame `node` emits: whether each is sealed under `k`.
fn sent_sealed(node: &mut swim_core::Node, until: Instant) -> Vec<bool> {
    let mut sealed = Vec::new();
    let mut now = Instant::ZERO;
    while now < until {
        now = node.poll_timeout().unwrap_or(until).min(until);
        for o in node.step(Input::Tick, now) {
            if let Output::Datagram { bytes, .. } | Output::StreamFrame { bytes, .. } = o {
                sealed.push(is_sealed(&bytes));
            }
        }
    }
    sealed
}

/// A sealed message's field 15 follows the version (no label here).
fn is_sealed(bytes: &[u8]) -> bool {
    bytes.get(2) == Some(&0x7a)
}

#[test]
fn the_three_steps_send_and_accept_as_documented() {
    let until = Instant::from_millis(5_000);
    // Members that announce themselves (news of a member from another is
    // only a candidate until it answers).
    let plain = packet(60, vec![], vec![alive(60, 1)]);
    for (sealing, sends_sealed, accepts_plain) in [
        (Sealing::Accept, false, true),
        (Sealing::Send, true, true),
        (Sealing::Require, true, false),
    ] {
        let mut node = keyed_node(&[1], sealing);
        let sent = sent_sealed(&mut node, until);
        assert!(!sent.is_empty());
        assert!(sent.iter().all(|&s| s == sends_sealed), "{sealing:?}");
        let _ = receive(&mut node, 60, plain.clone(), until);
        assert_eq!(
            node.member(&name(60)).is_some(),
            accepts_plain,
            "{sealing:?}"
        );
        // Sealed traffic is accepted at every step.
        let sealed = seal_with(&[1], &packet(61, vec![], vec![alive(61, 1)]));
        let _ = receive(&mut node, 61, sealed, until);
        assert!(node.member(&name(61)).is_some(), "{sealing:?}");
    }
    // Without keys: plain in and out, sealed dropped, whatever the step.
    let mut node = keyed_node(&[], Sealing::Require);
    assert!(sent_sealed(&mut node, until).iter().all(|&s| !s));
    let _ = receive(&mut node, 60, seal_with(&[1], &plain), until);
    assert_eq!(node.metrics().dropped.auth, 1);
}

#[test]
fn sealed_datagrams_fit_max_packet_size() {
    let mut node = keyed_node(&[1], Sealing::Require);
    // Plenty to gossip: 200 new members, each announcing itself.
    for i in 100..300 {
        let sealed = seal_with(&[1], &packet(i, vec![], vec![alive(i, 1)]));
        let _ = receive(&mut node, i, sealed, Instant::ZERO);
    }
    let mut now = Instant::ZERO;
    let mut full = 0;
    while now < Instant::from_millis(3_000) {
        now = node.poll_timeout().unwrap();
        for o in node.step(Input::Tick, now) {
            if let Output::Datagram { bytes, .. } = o {
                assert!(bytes.len() <= 1400, "{} bytes", bytes.len());
                full += usize::from(bytes.len() > 1300);
            }
        }
    }
    assert!(full > 0, "the budget was never filled");
}

/// `plain` sealed under the key made of byte `k`.
fn seal_with(k: &[u8], plain: &[u8]) -> swim_core::Bytes {
    let mut ring = swim_core::Node::new(
        Config::lan(),
        swim_core::Identity::new("sealer".to_string(), addr(200)),
        7,
        Instant::ZERO,
    )
    .unwrap();
    for &b in k {
        ring.install_secret_key(key(b));
    }
    ring.keyring()
        .seal_with_nonce("", 77, plain)
        .expect("a key")
        .into()
}

#[test]
fn a_key_operation_in_a_plain_packet_is_never_carried_out() {
    use prost::Message as _;
    // Step 1 accepts plain traffic, but a key operation must come sealed.
    let mut node = keyed_node(&[1], Sealing::Accept);
    let query = pb::Query {
        origin: name(3).into_bytes().into(),
        origin_addr: wire_addr(addr(3)),
        id: 1,
        timeout_ms: 1000,
        body: Some(pb::query::Body::Keys(pb::KeyOp {
            op: pb::key_op::Op::Install as i32,
            key: vec![9; 32].into(),
            ..Default::default()
        })),
        clock: 0,
    };
    let plain = pb::Packet {
        version: pb::PROTOCOL_VERSION,
        from: name(3).into_bytes().into(),
        queries: vec![query],
        ..Default::default()
    }
    .encode_to_vec();
    let out = receive(&mut node, 3, plain.clone().into(), Instant::ZERO);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(node.keyring().ids().count(), 1);
    assert_eq!(node.metrics().dropped.auth, 1);
    // Sealed, it is carried out and answered.
    let out = receive(&mut node, 3, seal_with(&[1], &plain), Instant::ZERO);
    assert_eq!(node.keyring().ids().count(), 2);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Event(swim_core::Event::KeyringChanged))));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Datagram { to, .. } if *to == addr(3))));
}

#[test]
fn a_reply_that_opens_under_no_key_is_dropped_once() {
    let mut node = keyed_node(&[1], Sealing::Require);
    node.join(&[addr(1)], Instant::ZERO).unwrap();
    let id = node
        .poll_outputs()
        .find_map(|o| match o {
            Output::StreamOpen { id, .. } => Some(id),
            _ => None,
        })
        .expect("a join opens a stream");
    let frame = pb::StreamFrame {
        version: pb::PROTOCOL_VERSION,
        cluster: String::new(),
        from: name(1).into_bytes().into(),
        push_pull: Some(pb::PushPull::default()),
    };
    let foreign = seal_with(&[9], &prost::Message::encode_to_vec(&frame));
    let out: Vec<Output> = node
        .step(
            Input::StreamFrame {
                id,
                from: addr(1),
                bytes: foreign,
            },
            Instant::ZERO,
        )
        .collect();
    assert_eq!(node.metrics().dropped.auth, 1);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::StreamClose { id: c } if *c == id)));
}

/// A packet from member 3 carrying one sealing operation with `step` (a
/// raw wire value) stamped `clock`.
fn sealing_op(id: u64, step: i32, clock: u64) -> Vec<u8> {
    use prost::Message as _;
    let query = pb::Query {
        origin: name(3).into_bytes().into(),
        origin_addr: wire_addr(addr(3)),
        id,
        timeout_ms: 1000,
        body: Some(pb::query::Body::Keys(pb::KeyOp {
            op: pb::key_op::Op::Sealing as i32,
            sealing: step,
            ..Default::default()
        })),
        clock,
    };
    pb::Packet {
        version: pb::PROTOCOL_VERSION,
        from: name(3).into_bytes().into(),
        queries: vec![query],
        ..Default::default()
    }
    .encode_to_vec()
}

/// The answers in the datagrams of `out` sent to member 3, opened under
/// key 1: (error, step).
fn answers_to_3(out: &[Output]) -> Vec<(String, i32)> {
    use prost::Message as _;
    let ring = keyed_node(&[1], Sealing::Require);
    out.iter()
        .filter_map(|o| match o {
            Output::Datagram { to, bytes } if *to == addr(3) => {
                let plain = ring.keyring().open_sealed(bytes)?;
                pb::Packet::decode(&plain[..]).ok()
            }
            _ => None,
        })
        .flat_map(|p| p.answers)
        .filter_map(|a| match a.body {
            Some(pb::answer::Body::Keys(k)) => Some((k.error, k.sealing)),
            _ => None,
        })
        .collect()
}

/// Issue 18 build 5: the sealing operation is a key operation like the
/// others: never carried out from a plain packet (even at `send`, which
/// accepts plain traffic), a bad step drops the packet as invalid, a
/// sealed one moves the member and its sealed answer says its step; at
/// `accept` it is refused, and the refusal comes back sealed.
#[test]
fn a_sealing_operation_must_come_sealed_and_name_send_or_require() {
    let require = pb::SealingStep::SealingRequire as i32;
    let mut node = keyed_node(&[1], Sealing::Send);
    let plain = sealing_op(1, require, 0);
    let out = receive(&mut node, 3, plain.clone().into(), Instant::ZERO);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(node.metrics().dropped.auth, 1);
    assert_eq!(node.sealing(), Sealing::Send);
    for (id, bad) in [(2, pb::SealingStep::SealingAccept as i32), (3, 0), (4, 9)] {
        let out = receive(
            &mut node,
            3,
            seal_with(&[1], &sealing_op(id, bad, 0)),
            Instant::ZERO,
        );
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(node.sealing(), Sealing::Send);
    }
    assert_eq!(
        node.metrics().dropped.invalid,
        3,
        "bad steps dropped and counted"
    );
    let out = receive(&mut node, 3, seal_with(&[1], &plain), Instant::ZERO);
    assert_eq!(node.sealing(), Sealing::Require);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(swim_core::Event::SealingChanged {
            from: Sealing::Send,
            to: Sealing::Require
        })
    )));
    assert_eq!(answers_to_3(&out), vec![(String::new(), require)]);

    let mut node = keyed_node(&[1], Sealing::Accept);
    let out = receive(
        &mut node,
        3,
        seal_with(&[1], &sealing_op(5, require, 0)),
        Instant::ZERO,
    );
    assert_eq!(node.sealing(), Sealing::Accept);
    let answers = answers_to_3(&out);
    assert_eq!(answers.len(), 1, "the refusal comes back sealed: {out:?}");
    assert!(answers[0].0.contains("`accept`"), "{answers:?}");
    assert_eq!(answers[0].1, pb::SealingStep::SealingAccept as i32);
}
