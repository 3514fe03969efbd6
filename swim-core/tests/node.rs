//! The state machine through its public API: probes, refutation, bad input.

mod common;

use common::*;
use prost::Message;
use swim_core::{Bytes, Config, Event, Input, Instant, Output, Status};
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
    let out = datagrams(receive(&mut node, 3, ping(3, 77, 0), Instant::ZERO).into_iter());
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
    let out = datagrams(receive(&mut node, 3, ping(3, 1, 9), Instant::ZERO).into_iter());
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
    let _ = receive(
        &mut node,
        2,
        packet(2, vec![], vec![accusation]),
        Instant::ZERO,
    );
    assert_eq!(node.local().incarnation, before + 4);
    assert_eq!(node.local().status, Status::Alive);
    assert_eq!(node.metrics().refutations, 1);
    // The refutation goes out on the next packet.
    let out = datagrams(receive(&mut node, 3, ping(3, 5, 0), Instant::ZERO).into_iter());
    let p = pb::Packet::decode(out[0].1.clone()).unwrap();
    assert!(p
        .updates
        .iter()
        .any(|u| &u.name[..] == b"node-0" && u.incarnation == before + 4));
}

/// Section 3.1: a probe without an ack (direct or indirect) ends in suspicion,
/// and an unrefuted suspicion in death.
#[test]
fn an_unanswered_probe_leads_to_suspicion_then_death_then_reaping() {
    let config = Config {
        reap_after: std::time::Duration::from_secs(40),
        ..Config::lan()
    };
    let mut node = joined_node(3, config);
    let mut now = Instant::ZERO;
    let mut events = Vec::new();
    while now < Instant::from_millis(120_000) {
        now = node.poll_timeout().unwrap();
        events.extend(node.step(Input::Tick, now).filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        }));
    }
    let suspected = events
        .iter()
        .filter(|e| matches!(e, Event::MemberSuspect { .. }))
        .count();
    let failed: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let Event::MemberFailed { member: m, .. } = e {
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
    let reaped = events
        .iter()
        .filter(|e| matches!(e, Event::MemberReaped(_)))
        .count();
    assert_eq!(reaped, 2, "dead members are reaped after reap_after");
    assert_eq!(node.members().count(), 1);
}

#[test]
fn a_join_that_reaches_no_seed_retries_with_backoff() {
    let id = swim_core::Identity::new(name(0), addr(0));
    let mut node = swim_core::Node::new(Config::lan(), id, 1, Instant::ZERO).unwrap();
    node.join(&[addr(1)], Instant::ZERO).unwrap();
    let mut now = Instant::ZERO;
    let mut attempts = Vec::new();
    let mut pending: Vec<swim_core::StreamId> = std::iter::from_fn(|| node.poll_output())
        .filter_map(|o| {
            if let Output::StreamOpen { id, .. } = o {
                Some(id)
            } else {
                None
            }
        })
        .collect();
    while attempts.len() < 4 {
        for id in pending.drain(..) {
            for o in node
                .step(Input::StreamClosed { id }, now)
                .collect::<Vec<_>>()
            {
                if let Output::Event(Event::JoinRetry { attempt }) = o {
                    attempts.push((attempt, now));
                }
            }
        }
        now = node.poll_timeout().unwrap();
        pending.extend(node.step(Input::Tick, now).filter_map(|o| {
            if let Output::StreamOpen { id, .. } = o {
                Some(id)
            } else {
                None
            }
        }));
    }
    let numbers: Vec<u32> = attempts.iter().map(|a| a.0).collect();
    assert_eq!(numbers, vec![1, 2, 3, 4]);
    let gaps: Vec<u64> = attempts
        .windows(2)
        .map(|w| (w[1].1 - w[0].1).as_millis() as u64)
        .collect();
    assert!(
        gaps.windows(2).all(|g| g[1] >= g[0] * 2 - 300),
        "backoff doubles: {gaps:?}"
    );
}

/// Runs a lone node until `until`, failing every stream it opens at once
/// (a seed that refuses): the join attempts it made and its events.
fn run_refused(
    node: &mut swim_core::Node,
    mut now: Instant,
    until: Instant,
) -> (usize, Vec<Event>) {
    let (mut opened, mut events) = (0, Vec::new());
    let mut outs: Vec<Output> = node.poll_outputs().collect();
    loop {
        while let Some(o) = outs.pop() {
            match o {
                Output::StreamOpen { id, .. } => {
                    opened += 1;
                    outs.extend(node.step(Input::StreamClosed { id }, now));
                }
                Output::Event(e) => events.push(e),
                _ => {}
            }
        }
        match node.poll_timeout() {
            Some(t) if t <= until => now = t,
            _ => return (opened, events),
        }
        outs.extend(node.step(Input::Tick, now));
    }
}

#[test]
fn a_join_gives_up_after_join_attempts_and_can_be_cancelled() {
    let config = Config {
        join_attempts: 3,
        ..Config::lan()
    };
    let id = swim_core::Identity::new(name(0), addr(0));
    let mut node = swim_core::Node::new(config, id, 1, Instant::ZERO).unwrap();
    node.join(&[addr(1), addr(2)], Instant::ZERO).unwrap();
    let hour = Instant::from_millis(3_600_000);
    let (opened, events) = run_refused(&mut node, Instant::ZERO, hour);
    let joins: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::JoinRetry { .. } | Event::JoinFailed { .. }))
        .collect();
    assert_eq!(
        joins,
        vec![
            &Event::JoinRetry { attempt: 1 },
            &Event::JoinRetry { attempt: 2 },
            &Event::JoinFailed { attempts: 3 },
        ]
    );
    assert_eq!(opened, 6, "3 attempts of 2 seeds, then none for an hour");
    assert!(!node.cancel_join(hour), "a failed join is not in progress");

    // Retrying for ever (0, every preset's default) until cancelled.
    let id = swim_core::Identity::new(name(0), addr(0));
    let mut node = swim_core::Node::new(Config::lan(), id, 1, Instant::ZERO).unwrap();
    assert_eq!(Config::lan().join_attempts, 0);
    node.join(&[addr(1)], Instant::ZERO).unwrap();
    let minute = Instant::from_millis(60_000);
    let (opened, events) = run_refused(&mut node, Instant::ZERO, minute);
    assert!(opened >= 5, "still retrying after a minute: {opened}");
    assert!(!events.iter().any(|e| matches!(e, Event::JoinFailed { .. })));
    assert!(node.cancel_join(minute), "a join was in progress");
    assert!(!node.cancel_join(minute), "and is no more");
    let (opened, events) = run_refused(&mut node, minute, hour);
    assert_eq!(opened, 0, "no attempt after the cancel: {events:?}");
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::JoinRetry { .. } | Event::JoinFailed { .. })));

    // A join cancelled while its streams are open: their failure retries nothing.
    node.join(&[addr(1)], hour).unwrap();
    let open: Vec<swim_core::StreamId> = node
        .poll_outputs()
        .filter_map(|o| match o {
            Output::StreamOpen { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(open.len(), 1);
    assert!(node.cancel_join(hour));
    let after: Vec<Output> = node
        .step(Input::StreamClosed { id: open[0] }, hour)
        .collect();
    assert!(
        !after.iter().any(|o| matches!(o, Output::Event(_))),
        "{after:?}"
    );

    let e = Config {
        join_attempts: 1001,
        ..Config::lan()
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("join_attempts") && e.contains("1001") && e.contains("1 to 1000"),
        "{e}"
    );
}

#[test]
fn other_clusters_and_versions_are_dropped_without_a_state_change() {
    let mut node = joined_node(5, Config::lan());
    let before = snapshot(&node);
    let mut p = pb::Packet::decode(packet(2, vec![], vec![alive(9, 1)])).unwrap();
    p.cluster = "other".into();
    let _ = receive(&mut node, 2, p.encode_to_vec().into(), Instant::ZERO);
    p.cluster = String::new();
    p.version = 2;
    let _ = receive(&mut node, 2, p.encode_to_vec().into(), Instant::ZERO);
    assert_eq!(snapshot(&node), before);
    assert_eq!(node.metrics().dropped.cluster, 1);
    assert_eq!(node.metrics().dropped.version, 1);
}

#[test]
fn invalid_api_input_gets_a_typed_error() {
    let id = swim_core::Identity::new("", addr(0));
    let err = swim_core::Node::new(Config::lan(), id, 1, Instant::ZERO).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid node name: 0 bytes (allowed: 1 to 128 bytes of UTF-8, no control or invisible characters)"
    );
    let id = swim_core::Identity::new("a\x1b[2Jb", addr(0));
    let err = swim_core::Node::new(Config::lan(), id, 1, Instant::ZERO).unwrap_err();
    assert!(err.to_string().contains("no control or invisible"), "{err}");
    let mut node = joined_node(2, Config::lan());
    let err = node.set("k", vec![0u8; 600], Instant::ZERO).unwrap_err();
    assert!(err.to_string().contains("600 bytes"), "{err}");
    let bad = Config {
        probe_interval: std::time::Duration::ZERO,
        ..Config::lan()
    };
    let id = swim_core::Identity::new("x", addr(0));
    let err = swim_core::Node::new(bad, id, 1, Instant::ZERO).unwrap_err();
    assert!(err.to_string().contains("probe_interval"), "{err}");
}

/// A packet from a member we never heard of, which holds more members
/// than we do besides itself, means our view is behind: the node answers
/// it and pulls the full state of a member it knows (never of the
/// stranger), at most once per probe interval. A newcomer (its view is
/// ours and itself) is no reason to.
#[test]
fn an_unknown_sender_triggers_one_catch_up_exchange() {
    let mut node = joined_node(3, Config::lan());
    let newcomer = viewed_packet(
        39,
        vec![pb::message::Body::Ping(pb::Ping {
            seq: 1,
            target: name(0).into_bytes().into(),
        })],
        vec![],
        4,
    );
    let out = receive(&mut node, 39, newcomer, Instant::ZERO);
    assert!(!out.iter().any(|o| matches!(o, Output::StreamOpen { .. })));
    let mut deliver = |from: usize, at_ms: u64| -> (usize, bool) {
        let bytes = viewed_packet(
            from,
            vec![pb::message::Body::Ping(pb::Ping {
                seq: 1,
                target: name(0).into_bytes().into(),
            })],
            vec![],
            10,
        );
        let outs: Vec<Output> = receive(&mut node, from, bytes, Instant::from_millis(at_ms));
        assert!(
            !outs
                .iter()
                .any(|o| matches!(o, Output::StreamOpen { to, .. } if *to == addr(from))),
            "an exchange with the stranger"
        );
        let opens = outs
            .iter()
            .filter(
                |o| matches!(o, Output::StreamOpen { to, .. } if [addr(1), addr(2)].contains(to)),
            )
            .count();
        let answered = outs
            .iter()
            .any(|o| matches!(o, Output::Datagram { to, .. } if *to == addr(from)));
        (opens, answered)
    };
    assert_eq!(
        deliver(2, 0),
        (0, true),
        "a known sender is no reason to catch up"
    );
    assert_eq!(
        deliver(40, 0),
        (1, true),
        "an unknown one is, and its ping is still answered"
    );
    assert_eq!(deliver(41, 500), (0, true), "rate limited");
    assert_eq!(
        deliver(42, 1_000),
        (1, true),
        "a probe interval later, again"
    );
}

#[test]
fn hearing_only_bigger_views_for_a_probe_interval_pulls_the_full_state() {
    // The node holds 3 live members (itself, 1 and 2).
    let mut node = joined_node(3, Config::lan());
    let mut hear = |from: usize, live: u32, at_ms: u64| -> usize {
        let bytes = viewed_packet(from, vec![], vec![], live);
        receive(&mut node, from, bytes, Instant::from_millis(at_ms))
            .iter()
            .filter(|o| matches!(o, Output::StreamOpen { .. }))
            .count()
    };
    assert_eq!(hear(1, 3, 0), 0, "the same view: nothing to pull");
    assert_eq!(hear(1, 4, 100), 0, "a bigger view starts the wait");
    assert_eq!(hear(2, 4, 700), 0, "still waiting");
    assert_eq!(hear(1, 3, 900), 0, "a view no bigger than ours resets it");
    assert_eq!(hear(2, 4, 1_200), 0, "waiting again from here");
    assert_eq!(hear(1, 5, 1_800), 0);
    assert_eq!(
        hear(2, 4, 2_200),
        1,
        "behind for a whole probe interval: pull"
    );
    assert_eq!(hear(2, 4, 2_300), 0, "the wait starts over after a pull");
}

/// A stalled node (a long GC pause, a suspended VM) wakes up with several
/// timers overdue: they fire in time order whatever their kind, each
/// periodic timer once, re-anchored to the present.
#[test]
fn after_a_stall_timers_fire_in_time_order_and_periodic_ones_once() {
    let mut node = joined_node(3, Config::lan());
    let suspect = pb::Update {
        status: pb::Status::Suspect as i32,
        from: name(2).into_bytes().into(),
        ..alive(1, 1)
    };
    let events = receive(
        &mut node,
        2,
        packet(2, vec![], vec![suspect]),
        Instant::ZERO,
    );
    assert!(events
        .iter()
        .any(|o| matches!(o, Output::Event(Event::MemberSuspect { member: m, .. }) if &*m.name == "node-1")));
    let first_probe = node.next_probe_at().unwrap();
    assert!(first_probe < Instant::from_millis(1_000));
    // The suspicion runs out at 4 s; the node is stalled until 4.5 s.
    let wake = Instant::from_millis(4_500);
    let outputs: Vec<Output> = node.step(Input::Tick, wake).collect();
    let ping = outputs
        .iter()
        .position(|o| matches!(o, Output::Datagram { bytes, .. } if is_ping(bytes)));
    let failed = outputs
        .iter()
        .position(|o| matches!(o, Output::Event(Event::MemberFailed { .. })));
    let (ping, failed) = (ping.expect("the overdue probe"), failed.expect("the death"));
    assert!(
        ping < failed,
        "the probe tick was due at {first_probe:?}, before the suspicion ran out: {outputs:?}"
    );
    let pings = outputs
        .iter()
        .filter(|o| matches!(o, Output::Datagram { bytes, .. } if is_ping(bytes)))
        .count();
    assert_eq!(pings, 1, "one probe tick, not one per missed period");
    assert_eq!(
        node.next_probe_at(),
        Some(wake + std::time::Duration::from_secs(1)),
        "the next probe is one interval from the present"
    );
}

fn is_ping(bytes: &swim_core::Bytes) -> bool {
    pb::Packet::decode(bytes.clone()).is_ok_and(|p| {
        p.messages
            .iter()
            .any(|m| matches!(m.body, Some(pb::message::Body::Ping(_))))
    })
}

/// A key write heard by gossip (of the life the node holds for its owner)
/// is applied, reported, and passed on; one of another life is not.
#[test]
fn a_key_write_heard_by_gossip_is_applied_reported_and_passed_on() {
    let mut node = joined_node(8, Config::lan());
    let write = |life: u64, key: &str| pb::KeyDelta {
        owner: name(2).into_bytes().into(),
        life,
        write: Some(pb::KeyWrite {
            key: key.as_bytes().to_vec().into(),
            value: swim_core::Bytes::from_static(b"web"),
            deleted: false,
            version: 1,
            prev: 0,
        }),
        gc: 0,
    };
    let packet = |d: pb::KeyDelta| {
        pb::Packet {
            version: pb::PROTOCOL_VERSION,
            cluster: String::new(),
            from: name(3).into_bytes().into(),
            deltas: vec![d],
            ..Default::default()
        }
        .encode_to_vec()
        .into()
    };
    let out = receive(&mut node, 3, packet(write(77, "role")), Instant::ZERO);
    assert!(
        node.get(&name(2), "role").is_none(),
        "another life: ignored"
    );
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::Event(Event::KeySet { .. }))));
    let out = receive(&mut node, 3, packet(write(1002, "role")), Instant::ZERO);
    assert_eq!(
        node.get(&name(2), "role"),
        Some((swim_core::Bytes::from_static(b"web"), 1))
    );
    assert!(out.iter().any(
        |o| matches!(o, Output::Event(Event::KeySet { key, version: 1, .. }) if key == "role")
    ));
    assert_eq!(node.metrics().deltas_applied, 1);
    // Gossiped on at the next round.
    let later = drain_gossip(&mut node, Instant::ZERO, Instant::from_millis(1_000));
    assert!(later > Instant::ZERO && node.metrics().deltas_sent > 0);
}

#[test]
fn writes_over_the_limits_are_refused_with_the_limit_named() {
    let mut node = joined_node(2, Config::lan());
    let err = node
        .set("k", vec![0u8; swim_core::MAX_VALUE_LEN + 1], Instant::ZERO)
        .unwrap_err();
    assert!(err.to_string().contains("at most 512 bytes"), "{err}");
    let err = node.set("", "x", Instant::ZERO).unwrap_err();
    assert!(err.to_string().contains("1 to 128 bytes"), "{err}");
    for i in 0..swim_core::MAX_KEYS {
        node.set(&format!("k{i}"), "x", Instant::ZERO).unwrap();
    }
    let err = node.set("one-more", "x", Instant::ZERO).unwrap_err();
    assert!(err.to_string().contains("at most 256"), "{err}");
    assert_eq!(
        node.set("k1", "y", Instant::ZERO),
        Ok(257),
        "a rewrite is fine"
    );
    assert_eq!(node.delete("k1", Instant::ZERO), Ok(true));
    assert_eq!(node.delete("k1", Instant::ZERO), Ok(false), "already gone");
}

/// Two live processes under one name outbid each other for ever unless
/// one notices: after three outbids by the same other life, the node
/// reports the conflict and stops refuting that life.
#[test]
fn another_live_process_under_our_name_is_a_conflict_outbid_at_a_slowing_pace() {
    let mut node = joined_node(4, Config::lan());
    // `alive(0, ..)` carries a life (1000) that is not this process's. One
    // round a second: three outbids make a conflict (reported once), then
    // the other process is outbid 1 s, 2 s, 4 s ... apart.
    let mut conflicts = 0;
    let mut refuted = Vec::new();
    for round in 0..8u64 {
        let held = node.local().incarnation;
        let out = receive(
            &mut node,
            2,
            packet(2, vec![], vec![alive(0, held + 1)]),
            Instant::from_millis(round * 1_000),
        );
        conflicts += out
            .iter()
            .filter(|o| matches!(o, Output::Event(Event::NameConflict { .. })))
            .count();
        refuted.push(node.local().incarnation > held + 1);
    }
    assert_eq!(
        refuted,
        [true, true, true, true, false, true, false, false],
        "outbid at 0-3 s, then at 5 s, then not before 9 s"
    );
    assert_eq!(conflicts, 1, "reported once");
    assert_eq!(node.metrics().conflicts, 1);
}

/// Many outbids in one datagram count once: a forger cannot make a
/// conflict (which slows our refutations) with one packet.
#[test]
fn outbids_in_one_datagram_count_once() {
    let mut node = joined_node(4, Config::lan());
    let held = node.local().incarnation;
    let updates = (1..=5).map(|i| alive(0, held + 10 * i)).collect();
    let out = receive(&mut node, 2, packet(2, vec![], updates), Instant::ZERO);
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::Event(Event::NameConflict { .. }))));
    assert_eq!(node.metrics().conflicts, 0);
}

/// Serf's force-leave: a member held dead becomes left at its incarnation
/// (which outranks dead), reported and spread like a leave; an alive or
/// unknown member is refused with what is wrong.
#[test]
fn force_leave_turns_a_dead_member_left_and_refuses_the_living() {
    let mut node = joined_node(4, Config::lan());
    let _ = node.poll_outputs().count();
    let dead = swim_proto::Update {
        status: swim_proto::Status::Dead as i32,
        from: name(3).into_bytes().into(),
        ..alive(2, 1)
    };
    let _ = receive(&mut node, 3, packet(3, vec![], vec![dead]), Instant::ZERO);
    assert_eq!(node.member(&name(2)).unwrap().status, Status::Dead);
    node.force_leave(&name(2), Instant::from_millis(10))
        .unwrap();
    assert_eq!(node.member(&name(2)).unwrap().status, Status::Left);
    assert_eq!(node.member(&name(2)).unwrap().incarnation, 1);
    let out: Vec<Output> = node.poll_outputs().collect();
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Event(Event::MemberLeft(m)) if *m.name == name(2))));
    // The next gossip carries the leave.
    let mut now = Instant::from_millis(10);
    let mut spread = false;
    while now < Instant::from_millis(2_000) && !spread {
        now = node.poll_timeout().unwrap();
        for o in node.step(Input::Tick, now) {
            if let Output::Datagram { bytes, .. } = o {
                let p = <swim_proto::Packet as prost::Message>::decode(bytes).unwrap();
                spread |= p.updates.iter().any(|u| {
                    u.name == name(2).as_bytes() && u.status == swim_proto::Status::Left as i32
                });
            }
        }
    }
    assert!(spread, "the leave was never gossiped");
    // Idempotent on a left member; refused for the living and the unknown.
    assert!(node.force_leave(&name(2), now).is_ok());
    assert!(matches!(
        node.force_leave(&name(1), now),
        Err(swim_core::Error::NotFailed {
            status: Status::Alive,
            ..
        })
    ));
    assert!(matches!(
        node.force_leave("nobody", now),
        Err(swim_core::Error::UnknownMember { .. })
    ));
}

/// Lifeguard's buddy system: once the gossip of a suspicion is spent, the
/// next probe of the suspect still carries it, so the member hears that it
/// is suspected and refutes, whatever gossip lost.
#[test]
fn a_probe_of_a_suspect_carries_the_suspicion() {
    // No local-health slowdown and a long suspicion: node 2 stays suspect
    // until the round robin reaches it.
    let config = Config {
        awareness_max_multiplier: 0,
        suspicion_mult: 30,
        ..Config::lan()
    };
    let mut node = joined_node(4, config);
    let _ = node.poll_outputs().count();
    let suspect = pb::Update {
        status: pb::Status::Suspect as i32,
        from: name(3).into_bytes().into(),
        ..alive(2, 1)
    };
    let _ = receive(
        &mut node,
        3,
        packet(3, vec![], vec![suspect]),
        Instant::ZERO,
    );
    assert_eq!(node.member(&name(2)).unwrap().status, Status::Suspect);
    // Spend the suspicion's gossip, answering no probe.
    let mut now = drain_gossip(&mut node, Instant::ZERO, Instant::from_millis(3_000));
    let carries = |bytes: &[u8]| {
        let p = pb::Packet::decode(bytes).unwrap();
        let ping = p
            .messages
            .iter()
            .any(|m| matches!(m.body, Some(pb::message::Body::Ping(_))));
        let suspicion = p
            .updates
            .iter()
            .any(|u| u.name == name(2).as_bytes() && u.status == pb::Status::Suspect as i32);
        (ping, suspicion)
    };
    let (mut probed, mut others_carry) = (false, false);
    while now < Instant::from_millis(30_000) && !probed {
        now = node.poll_timeout().unwrap();
        for (to, bytes) in datagrams(node.step(Input::Tick, now)) {
            let (ping, suspicion) = carries(&bytes);
            if to == addr(2) && ping {
                assert!(suspicion, "a ping to the suspect without its suspicion");
                probed = true;
            } else if suspicion {
                others_carry = true;
            }
        }
    }
    assert!(probed, "node 2 was never probed");
    assert!(
        !others_carry,
        "the suspicion's gossip was not spent: the test proves nothing"
    );
}

/// State-integrity issue, point 8: `set_many` checked each pair alone (a
/// namespace ended at 260 keys, limit 256) yet refused a same-size
/// rewrite of 100 × 500 B; deleting an absent key in a full namespace said
/// `TooManyKeys`; `max_stream_frame` could be set where a full namespace
/// never fits a frame.
#[test]
fn set_many_is_checked_as_a_whole_and_a_full_namespace_still_deletes() {
    let mut node = joined_node(2, Config::lan());
    for i in 0..(swim_core::MAX_KEYS - 2) {
        node.set(&format!("k{i}"), "x", Instant::ZERO).unwrap();
    }
    let six: Vec<(String, Bytes)> = (0..6)
        .map(|i| (format!("new{i}"), Bytes::from_static(b"v")))
        .collect();
    let pairs: Vec<(&str, Bytes)> = six.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let err = node.set_many(&pairs, Instant::ZERO).unwrap_err();
    assert!(err.to_string().contains("at most 256"), "{err}");
    assert!(
        node.get(node.local().name.as_str(), "new0").is_none(),
        "nothing was written"
    );
    assert_eq!(node.delete("absent", Instant::ZERO), Ok(false));

    let mut node = joined_node(2, Config::lan());
    let big = Bytes::from(vec![b'x'; 500]);
    let keys: Vec<String> = (0..100).map(|i| format!("b{i}")).collect();
    let pairs: Vec<(&str, Bytes)> = keys.iter().map(|k| (k.as_str(), big.clone())).collect();
    let first = node.set_many(&pairs, Instant::ZERO).unwrap();
    assert_eq!(first, (1..=100).collect::<Vec<u64>>());
    let again = node.set_many(&pairs, Instant::ZERO).unwrap();
    assert_eq!(again.len(), 100, "a same-size rewrite fits: {again:?}");

    let mut c = Config::lan();
    c.max_stream_frame = 65_536;
    let err = c.validate().unwrap_err();
    assert!(err.to_string().contains("max_stream_frame"), "{err}");
}

/// Runs one join of `joiner` through `seed` (at `seed_addr`), carrying
/// the frames of the exchange by hand: the events of each side.
fn join_once(
    joiner: &mut swim_core::Node,
    joiner_addr: std::net::SocketAddr,
    seed: &mut swim_core::Node,
    seed_addr: std::net::SocketAddr,
    now: Instant,
) -> (Vec<Event>, Vec<Event>) {
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    joiner.join(&[seed_addr], now).unwrap();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(7);
    let accepted =
        swim_core::StreamId::accepted(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let mut to_seed: Vec<(swim_core::StreamId, Bytes)> = Vec::new();
    for o in joiner.poll_outputs() {
        match o {
            Output::StreamFrame { id, bytes } => to_seed.push((id, bytes)),
            Output::Event(e) => ours.push(e),
            _ => {}
        }
    }
    assert_eq!(to_seed.len(), 1, "one opening frame");
    let (opened, bytes) = to_seed.remove(0);
    let input = Input::StreamFrame {
        id: accepted,
        from: joiner_addr,
        bytes,
    };
    let mut to_joiner = Vec::new();
    for o in seed.step(input, now) {
        match o {
            Output::StreamFrame { id, bytes } if id == accepted => to_joiner.push(bytes),
            Output::Event(e) => theirs.push(e),
            _ => {}
        }
    }
    for bytes in to_joiner {
        let input = Input::StreamFrame {
            id: opened,
            from: seed_addr,
            bytes,
        };
        for o in joiner.step(input, now) {
            if let Output::Event(e) = o {
                ours.push(e);
            }
        }
    }
    (ours, theirs)
}

/// Issue 18, point 10: a second process started under the seed's name
/// was told "no seed answered" (the seed dropped its frames as its own).
/// The seed answers such a join with its address now; the joiner reports
/// it (authenticated or not) and the attempt fails as silence would. A
/// joiner under another member's name is let in (it may be that member
/// restarted elsewhere; two live processes end in `NameConflict`), and so
/// is a restart at the same address.
#[test]
fn a_join_under_the_seeds_name_is_refused_with_its_address() {
    let now = Instant::from_millis(1_000);
    let mut seed = joined_node(3, Config::lan());
    let imposter_addr = addr(9);
    let id = swim_core::Identity::new(name(0), imposter_addr);
    let mut imposter = swim_core::Node::new(Config::lan(), id, 77, now).unwrap();
    let (ours, theirs) = join_once(&mut imposter, imposter_addr, &mut seed, addr(0), now);
    assert!(
        ours.contains(&Event::JoinRefused {
            seed: addr(0),
            holder: addr(0),
            authenticated: false,
        }),
        "{ours:?}"
    );
    assert!(!ours
        .iter()
        .any(|e| matches!(e, Event::JoinCompleted { .. })));
    assert!(
        ours.iter().any(|e| matches!(e, Event::JoinRetry { .. })),
        "{ours:?}"
    );
    assert!(
        theirs
            .iter()
            .any(|e| matches!(e, Event::JoinRefusedHere { holder, .. } if *holder == addr(0))),
        "{theirs:?}"
    );
    assert_eq!(seed.metrics().joins_refused, 1);
    assert_eq!(
        imposter.members().count(),
        1,
        "an impostor learns no member"
    );
    // Node 1 restarted elsewhere (a new port after a kill -9): let in.
    let id = swim_core::Identity::new(name(1), imposter_addr);
    let mut moved = swim_core::Node::new(Config::lan(), id, 78, now).unwrap();
    let (ours, _) = join_once(&mut moved, imposter_addr, &mut seed, addr(0), now);
    assert!(
        ours.iter()
            .any(|e| matches!(e, Event::JoinCompleted { .. })),
        "{ours:?}"
    );
    // Node 2 restarted at its own address: let in.
    let id = swim_core::Identity::new(name(2), addr(2));
    let mut restarted = swim_core::Node::new(Config::lan(), id, 79, now).unwrap();
    let (ours, _) = join_once(&mut restarted, addr(2), &mut seed, addr(0), now);
    assert!(
        ours.iter()
            .any(|e| matches!(e, Event::JoinCompleted { .. })),
        "{ours:?}"
    );
    assert_eq!(seed.metrics().joins_refused, 1);
}

/// A first stream frame from member `from` carrying `members` (a full
/// state, as a peer's exchange sends it).
fn full_state(
    node: &mut swim_core::Node,
    from: usize,
    stream: u64,
    members: Vec<pb::Update>,
    now: Instant,
) {
    let frame = pb::StreamFrame {
        version: pb::PROTOCOL_VERSION,
        cluster: String::new(),
        from: name(from).into_bytes().into(),
        push_pull: Some(pb::PushPull {
            members,
            ..Default::default()
        }),
    };
    let input = Input::StreamFrame {
        id: swim_core::StreamId::accepted(stream),
        from: addr(from),
        bytes: frame.encode_to_vec().into(),
    };
    let _ = node.step(input, now).count();
}

/// Issue 19, point 3: a full state's "dead" is a suspicion for a member
/// held alive (a stale peer must not kill it), and for one this node
/// suspects itself, even for longer than the shortest timeout, until its
/// own suspicion had its last word (the member's refutation may be in
/// flight: taking the verdict at the shortest timeout made 40-129 false
/// deaths after a 50-of-200 cut healed). Only a node the sick-node rule
/// keeps from deciding takes it then (`scenarios/crash-during-cut.toml`).
#[test]
fn a_full_states_death_is_a_suspicion_before_our_own_last_word() {
    let c = Config::lan();
    let mut node = joined_node(4, c.clone());
    let dead = |i: usize| pb::Update {
        status: pb::Status::Dead as i32,
        from: name(1).into_bytes().into(),
        ..alive(i, 1)
    };
    let suspect = |i: usize| pb::Update {
        status: pb::Status::Suspect as i32,
        from: name(3).into_bytes().into(),
        ..alive(i, 1)
    };
    let status = |node: &swim_core::Node, i: usize| node.member(&name(i)).unwrap().status;
    let t0 = Instant::from_millis(1_000);
    // Held alive.
    full_state(&mut node, 1, 1, vec![dead(2)], t0);
    assert_eq!(status(&node, 2), Status::Suspect);
    // Suspected here, just now and past the shortest timeout.
    full_state(&mut node, 3, 2, vec![suspect(3)], t0);
    assert_eq!(status(&node, 3), Status::Suspect);
    full_state(
        &mut node,
        1,
        3,
        vec![dead(3)],
        t0 + std::time::Duration::from_millis(100),
    );
    assert_eq!(status(&node, 3), Status::Suspect);
    let min = swim_core::suspicion_min_timeout(c.suspicion_mult, 4, c.probe_interval);
    let later = t0 + min + std::time::Duration::from_millis(10);
    full_state(&mut node, 1, 4, vec![dead(3)], later);
    assert_eq!(status(&node, 3), Status::Suspect);
}

/// Issue 19, point 2: when a 490-of-1,000 cut healed, healthy views took
/// 8,760 false deaths: the verdicts each side made about the other came
/// across, and a death outranks an alive. A death declared by a member
/// this node holds dead (made where this node could not see) is a
/// suspicion now, which its subject refutes; one declared by a member
/// held alive (or suspect: a node whose links fail holds most members
/// suspect and waits for their verdicts) is taken as before.
#[test]
fn a_death_declared_by_a_member_held_dead_is_a_suspicion() {
    let mut node = joined_node(5, Config::lan());
    let died = |i: usize, by: usize| pb::Update {
        status: pb::Status::Dead as i32,
        from: name(by).into_bytes().into(),
        ..alive(i, 1)
    };
    let status = |node: &swim_core::Node, i: usize| node.member(&name(i)).unwrap().status;
    let now = Instant::from_millis(1_000);
    receive(&mut node, 3, packet(3, vec![], vec![died(1, 3)]), now);
    assert_eq!(status(&node, 1), Status::Dead);
    // Node 1, held dead, declares node 2 dead: a suspicion.
    receive(&mut node, 4, packet(4, vec![], vec![died(2, 1)]), now);
    assert_eq!(status(&node, 2), Status::Suspect);
    // Node 3, held alive, declares node 4 dead: taken.
    receive(&mut node, 3, packet(3, vec![], vec![died(4, 3)]), now);
    assert_eq!(status(&node, 4), Status::Dead);
}
