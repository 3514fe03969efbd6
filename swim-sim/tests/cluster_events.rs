//! `Cluster` as an application's test sees it: each node's events, as its
//! application would read them, and the commands a node has.

use std::time::Duration;
use swim_core::{Event, KeyringOp, SecretKey};
use swim_sim::{Cluster, Options};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The events in `events` about member `name` (those that name a member).
fn about<'a>(events: &'a [Event], name: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
    events
        .iter()
        .filter(move |e| e.member().is_some_and(|m| *m == name))
}

fn failed(e: &Event) -> bool {
    matches!(e, Event::MemberFailed { .. })
}

#[test]
fn a_crash_reaches_every_survivor_s_application_as_one_member_failed() {
    for seed in 1..=3 {
        let mut c = Cluster::new(5, seed);
        c.run_for(secs(5));
        for i in 0..5 {
            let joined = c.events(i);
            let others = (joined.iter())
                .filter(|e| matches!(e, Event::MemberJoined { .. }))
                .count();
            assert_eq!(others, 4, "seed {seed}: node-{i} learned {joined:?}");
            assert!(!joined.iter().any(failed), "seed {seed}: node-{i}");
        }
        c.crash(4);
        c.run_for(secs(30));
        for i in 0..4 {
            let seen = c.events(i);
            let fails: Vec<&Event> = about(&seen, "node-4").filter(|e| failed(e)).collect();
            assert_eq!(fails.len(), 1, "seed {seed}: node-{i} saw {seen:?}");
            // Nobody else failed.
            assert_eq!(seen.iter().filter(|e| failed(e)).count(), 1);
            // Suspected first, by whoever noticed.
            let first = about(&seen, "node-4").next();
            assert!(
                matches!(first, Some(Event::MemberSuspect { .. })),
                "seed {seed}: node-{i} saw {seen:?}"
            );
        }
        assert!(c.events(4).is_empty(), "a crashed node emits nothing");
    }
}

#[test]
fn a_set_and_a_delete_reach_every_other_application_as_key_events() {
    let mut c = Cluster::new(4, 11);
    c.run_for(secs(5));
    for i in 0..4 {
        c.events(i);
    }
    c.set(2, "role", "db");
    c.run_for(secs(5));
    for i in [0, 1, 3] {
        let seen = c.events(i);
        let sets: Vec<_> = (seen.iter())
            .filter_map(|e| match e {
                Event::KeySet {
                    member,
                    key,
                    old,
                    value,
                    ..
                } => Some((member.to_string(), key.clone(), old.clone(), value.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            sets,
            [("node-2".into(), "role".into(), None, "db".into())],
            "node-{i}"
        );
    }
    c.delete(2, "role");
    c.run_for(secs(5));
    for i in [0, 1, 3] {
        let seen = c.events(i);
        let deleted = seen.iter().any(|e| {
            matches!(e, Event::KeyDeleted { member, key, old, .. }
                if *member == "node-2" && key == "role" && old.as_deref() == Some(&b"db"[..]))
        });
        assert!(deleted, "node-{i} saw {seen:?}");
        assert_eq!(c.get(i, 2, "role"), None);
    }
}

#[test]
fn events_are_drained_and_one_seed_gives_the_same_events() {
    let run = || {
        let mut c = Cluster::new(3, 5);
        c.run_for(secs(3));
        c.set(0, "k", "v");
        c.crash(1);
        c.run_for(secs(30));
        let events: Vec<Vec<Event>> = (0..3).map(|i| c.events(i)).collect();
        // Read once: a second read, with no time passing, is empty.
        assert!((0..3).all(|i| c.events(i).is_empty()));
        events
    };
    let first = run();
    assert!(first[0].iter().any(failed) && first[2].iter().any(failed));
    assert_eq!(first, run());
    // Outside the cluster there is nothing to read.
    assert!(Cluster::new(2, 1).events(7).is_empty());
}

#[test]
fn a_restarted_node_s_events_continue_its_list() {
    let mut c = Cluster::new(3, 3);
    c.run_for(secs(5));
    c.crash(2);
    c.run_for(secs(30));
    c.events(2);
    c.restart(2);
    c.run_for(secs(10));
    let seen = c.events(2);
    let joined = (seen.iter())
        .filter(|e| matches!(e, Event::MemberJoined { .. }))
        .count();
    assert_eq!(joined, 2, "the new life learns both others: {seen:?}");
    assert!(c.converged());
}

#[test]
fn a_user_event_fired_at_one_node_is_delivered_once_at_every_node() {
    let mut c = Cluster::new(4, 2);
    c.run_for(secs(5));
    c.fire(1, "deploy", b"v2");
    c.run_for(secs(5));
    for i in 0..4 {
        let delivered: Vec<_> = (c.events(i).into_iter())
            .filter_map(|e| match e {
                Event::User {
                    origin,
                    name,
                    payload,
                    ..
                } => Some((origin.to_string(), name, payload)),
                _ => None,
            })
            .collect();
        assert_eq!(
            delivered,
            [("node-1".into(), "deploy".into(), "v2".into())],
            "node-{i}"
        );
    }
}

#[test]
fn a_query_is_answered_by_every_node_and_done_at_its_origin() {
    let mut c = Cluster::new(3, 4);
    c.run_for(secs(5));
    let id = c.query(0, "who", b"").expect("node-0 runs");
    c.run_for(secs(30));
    let seen = c.events(0);
    let mut answered: Vec<String> = (seen.iter())
        .filter_map(|e| match e {
            Event::QueryResponse { query, member, .. } if *query == id => Some(member.to_string()),
            _ => None,
        })
        .collect();
    answered.sort();
    assert_eq!(answered, ["node-0", "node-1", "node-2"], "{seen:?}");
    let done = seen.iter().any(|e| {
        matches!(e, Event::QueryDone { query, answers: 3, missing, .. }
            if *query == id && missing.is_empty())
    });
    assert!(done, "{seen:?}");
    for i in [1, 2] {
        let asked = (c.events(i).iter())
            .any(|e| matches!(e, Event::Query { origin, name, .. } if *origin == "node-0" && name == "who"));
        assert!(asked, "node-{i}");
    }
    assert_eq!(c.query(0, "who", b"").map(|_| ()), Some(()));
    c.crash(0);
    assert_eq!(
        c.query(0, "who", b""),
        None,
        "a node that is down asks nothing"
    );
}

#[test]
fn a_key_operation_through_command_is_answered_by_every_member() {
    let key = |b: u8| SecretKey::new([b; 32]);
    let options = Options {
        keys: vec![key(1)],
        ..Options::new(3, 6, Duration::ZERO)
    };
    let mut c = Cluster::with_options(options);
    c.run_for(secs(5));
    let op = KeyringOp::Install(key(2));
    let id = c
        .command(2, |n, now| n.keyring_op(op, secs(5), now))
        .expect("node-2 runs")
        .expect("a sealed cluster takes key operations");
    c.run_for(secs(10));
    let seen = c.events(2);
    let mut answers: Vec<String> = (seen.iter())
        .filter_map(|e| match e {
            Event::KeyAnswer {
                query,
                member,
                refused: None,
                keys,
                ..
            } if *query == id && keys.contains(&key(2).id()) => Some(member.to_string()),
            _ => None,
        })
        .collect();
    answers.sort();
    assert_eq!(answers, ["node-0", "node-1", "node-2"], "{seen:?}");
}

#[test]
fn events_left_unread_are_bounded_and_the_dropped_counted() {
    let mut c = Cluster::new(2, 8);
    c.run_for(secs(3));
    let before = c.events(0).len();
    assert!(before > 0);
    // Writes far enough apart that each reaches node-0 on its own.
    for k in 0..12_000 {
        c.set(1, "k", &k.to_string());
        c.run_for(Duration::from_millis(500));
    }
    c.run_for(secs(2));
    let kept = c.events(0);
    assert_eq!(kept.len(), 10_000);
    assert!(c.events_dropped(0) > 0);
    // The newest are kept: the last write is the last event.
    let last = kept.iter().rev().find_map(|e| match e {
        Event::KeySet { value, .. } => Some(value.clone()),
        _ => None,
    });
    assert_eq!(last.as_deref(), Some(&b"11999"[..]));
    // The writer's application sees its own writes too, bounded alike.
    assert_eq!(c.events(1).len(), 10_000);
    assert!(c.events_dropped(1) > 0);
    // Read regularly, nothing is dropped.
    let dropped = c.events_dropped(0);
    for k in 0..100 {
        c.set(1, "k", &k.to_string());
        c.run_for(secs(1));
        c.events(0);
    }
    assert_eq!(c.events_dropped(0), dropped);
}
