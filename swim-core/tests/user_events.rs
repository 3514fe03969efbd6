//! Serf's user events and user queries (issue 20) on a perfect network of
//! sealed nodes, and on plain ones: delivered once, never replayed by a
//! joiner or a restarted process, filtered, answered to the origin's
//! membership address (and through relays), hostile input dropped and
//! counted, bad calls refused with what is allowed.

mod common;

use common::mesh::*;
use common::*;
use prost::Message;
use std::time::Duration;
use swim_core::{
    Bytes, Config, Error, Event, Input, Instant, QueryFilter, QueryOptions, MAX_EVENT_SIZE,
};
use swim_proto as pb;

#[test]
fn an_event_reaches_every_member_once_sealed_and_plain() {
    for mut m in [Mesh::new(6), Mesh::plain(6)] {
        m.run_for(Duration::from_secs(5));
        let mark = m.events.len();
        m.fire(2, "deploy", b"v42");
        m.run_for(Duration::from_secs(10));
        for i in 0..6 {
            assert_eq!(m.delivered(mark, i, "deploy"), 1, "node {i}");
        }
        let payloads: Vec<&Bytes> = (m.events[mark..].iter())
            .filter_map(|(_, e)| match e {
                Event::User {
                    payload, origin, ..
                } if origin.as_str() == "node-2" => Some(payload),
                _ => None,
            })
            .collect();
        assert!(payloads.iter().all(|p| p.as_ref() == b"v42"));
    }
}

#[test]
fn a_joiner_and_a_restarted_process_replay_nothing() {
    let mut m = Mesh::new(4);
    m.run_for(Duration::from_secs(5));
    m.fire(1, "before", b"");
    m.run_for(Duration::from_secs(5));
    assert_eq!(m.delivered(0, 0, "before"), 1);
    // kill -9 of node 0, a new process at a new port, then a new member.
    let mark = m.events.len();
    restart0(&mut m, 900, Config::lan());
    let now = m.now;
    m.nodes[0].join(&[addr(1)], now).unwrap();
    m.drain(0);
    m.nodes.push(sealed_node(4, 104));
    m.mute.push(false);
    m.crashed.push(false);
    m.join(4);
    m.run_for(Duration::from_secs(10));
    assert_eq!(m.delivered(mark, 0, "before"), 0, "the restarted process");
    assert_eq!(m.delivered(mark, 4, "before"), 0, "the joiner");
    // Both deliver what is fired after they joined, once.
    let mark = m.events.len();
    m.fire(2, "after", b"");
    m.run_for(Duration::from_secs(10));
    for i in 0..5 {
        assert_eq!(m.delivered(mark, i, "after"), 1, "node {i}");
    }
}

/// A sealed datagram from an insider calling itself node 3, carrying `events`.
fn events_packet(events: Vec<pb::UserEvent>) -> Bytes {
    let plain = pb::Packet {
        version: pb::PROTOCOL_VERSION,
        from: name(3).into_bytes().into(),
        events,
        ..Default::default()
    }
    .encode_to_vec();
    seal(&plain)
}

fn forged(name: &str, payload: usize, clock: u64) -> pb::UserEvent {
    pb::UserEvent {
        origin: "node-3".as_bytes().to_vec().into(),
        id: clock + 7,
        clock,
        name: name.into(),
        payload: vec![b'x'; payload].into(),
        coalesce: false,
    }
}

#[test]
fn hostile_events_are_dropped_and_counted() {
    let mut m = Mesh::new(4);
    m.run_for(Duration::from_secs(5));
    let mark = m.events.len();
    let before = m.nodes[0].metrics().dropped.total();
    let at = addr(3);
    let cases = [
        forged("big", MAX_EVENT_SIZE, 1),
        forged("", 1, 1),
        forged("hid\u{200b}den", 1, 1),
        forged("far", 1, 1 << 40),
    ];
    for e in cases {
        let bytes = events_packet(vec![e]);
        m.give(0, Input::Datagram { from: at, bytes });
    }
    assert_eq!(m.nodes[0].metrics().dropped.total() - before, 4);
    m.run_for(Duration::from_secs(5));
    let users = (m.events[mark..].iter()).filter(|(_, e)| matches!(e, Event::User { .. }));
    assert_eq!(users.count(), 0, "none delivered anywhere");
    // The same insider's well-formed event is delivered once per member,
    // however often it is sent.
    for _ in 0..3 {
        let bytes = events_packet(vec![forged("ok", 10, 2)]);
        m.give(0, Input::Datagram { from: at, bytes });
    }
    m.run_for(Duration::from_secs(5));
    for i in 0..3 {
        assert_eq!(m.delivered(mark, i, "ok"), 1, "node {i}");
    }
    // Node 3 never fired it: under its own name, a forgery (or an earlier
    // life's event), never delivered there.
    assert_eq!(m.delivered(mark, 3, "ok"), 0);
}

#[test]
fn bad_calls_get_clear_errors() {
    let mut n = idle_node(3);
    let t = Instant::ZERO;
    let big = vec![0u8; MAX_EVENT_SIZE];
    let e = n.event("deploy", &big, true, t).unwrap_err();
    assert!(matches!(e, Error::EventTooLarge { size } if size == MAX_EVENT_SIZE + 6));
    assert!(e.to_string().contains("at most 512"), "{e}");
    assert!(matches!(
        n.event("", b"", true, t),
        Err(Error::EventName { .. })
    ));
    let bad_regex = QueryOptions {
        filter: QueryFilter {
            nodes: vec![],
            tags: vec![("role".into(), "(web".into())],
        },
        ..QueryOptions::default()
    };
    let e = n.query("uptime", b"", bad_regex, t).unwrap_err();
    assert!(e.to_string().contains("tag filter role=(web"), "{e}");
    let huge = vec![0u8; swim_core::MAX_QUERY_SIZE + 1];
    let e = n.query("q", &huge, QueryOptions::default(), t).unwrap_err();
    assert!(e.to_string().contains("at most 1024"), "{e}");
    let wide = QueryOptions {
        relay_factor: 6,
        ..QueryOptions::default()
    };
    assert!(n
        .query("q", b"", wide, t)
        .unwrap_err()
        .to_string()
        .contains("0 to 5"));
    let never = n.respond("node-1", 42, b"x", t).unwrap_err();
    assert!(matches!(never, Error::NotAsked { id: 42, .. }), "{never}");
    let e = n.respond("node-1", 42, &huge, t).unwrap_err();
    assert!(matches!(e, Error::ResponseTooLarge { .. }), "{e}");
}

/// Every member asked responds with its name, at once; returns the
/// origin's events for query `id` once it is done.
fn answer_all(m: &mut Mesh, mark: usize, origin: usize, id: u64, d: Duration) -> Vec<Event> {
    let end = m.now + d;
    let mut answered = mark;
    while m.now < end {
        let step = m.now + Duration::from_millis(100);
        m.run_until(step);
        let asked: Vec<(usize, String, u64)> = (m.events[answered..].iter())
            .filter_map(|(i, e)| match e {
                Event::Query { origin, id, .. } => Some((*i, origin.to_string(), *id)),
                _ => None,
            })
            .collect();
        answered = m.events.len();
        for (i, o, q) in asked {
            let now = m.now;
            let me = name(i);
            m.nodes[i].respond(&o, q, me.as_bytes(), now).unwrap();
            m.drain(i);
        }
    }
    (m.events[mark..].iter())
        .filter(|(i, _)| *i == origin)
        .map(|(_, e)| e.clone())
        .filter(|e| match e {
            Event::QueryAck { query, .. }
            | Event::QueryResponse { query, .. }
            | Event::QueryDone { query, .. } => *query == id,
            _ => false,
        })
        .collect()
}

fn responders(events: &[Event]) -> Vec<String> {
    let mut out: Vec<String> = (events.iter())
        .filter_map(|e| match e {
            Event::QueryResponse { member, .. } => Some(member.to_string()),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_query_is_answered_by_the_members_its_filters_match() {
    for mut m in [Mesh::new(5), Mesh::plain(5)] {
        m.run_for(Duration::from_secs(2));
        for i in [2, 3] {
            let now = m.now;
            m.nodes[i]
                .set("role", Bytes::from_static(b"web-1"), now)
                .unwrap();
            m.drain(i);
        }
        m.run_for(Duration::from_secs(5));
        // Everyone.
        let mark = m.events.len();
        let now = m.now;
        let all = QueryOptions {
            want_ack: true,
            timeout: Some(Duration::from_secs(3)),
            ..QueryOptions::default()
        };
        let id = m.nodes[0].query("uptime", b"", all, now).unwrap();
        m.drain(0);
        let ev = answer_all(&mut m, mark, 0, id, Duration::from_secs(4));
        assert_eq!(responders(&ev), (0..5).map(name).collect::<Vec<_>>());
        let acks = ev
            .iter()
            .filter(|e| matches!(e, Event::QueryAck { .. }))
            .count();
        assert_eq!(acks, 5);
        let done = ev.iter().find(|e| matches!(e, Event::QueryDone { .. }));
        assert!(
            matches!(done, Some(Event::QueryDone { answers: 5, acks: 5, asked: 5, missing, .. }) if missing.is_empty()),
            "{done:?}"
        );
        // Members whose `role` is a web server, and of those only node-3.
        let mark = m.events.len();
        let filter = QueryFilter {
            nodes: vec![name(3), name(4)],
            tags: vec![("role".into(), "^web-[0-9]+$".into())],
        };
        let tagged = QueryOptions {
            filter,
            timeout: Some(Duration::from_secs(3)),
            ..QueryOptions::default()
        };
        let now = m.now;
        let id = m.nodes[1].query("uptime", b"", tagged, now).unwrap();
        m.drain(1);
        let ev = answer_all(&mut m, mark, 1, id, Duration::from_secs(4));
        assert_eq!(responders(&ev), vec![name(3)]);
        let asked = (m.events[mark..].iter()).filter(|(_, e)| matches!(e, Event::Query { .. }));
        assert_eq!(asked.count(), 1, "only node-3 was asked");
        let done = ev.iter().find(|e| matches!(e, Event::QueryDone { .. }));
        assert!(
            matches!(
                done,
                Some(Event::QueryDone {
                    answers: 1,
                    asked: 1,
                    ..
                })
            ),
            "{done:?}"
        );
    }
}

#[test]
fn relayed_answers_reach_the_origin_and_count_once() {
    let mut m = Mesh::new(6);
    m.run_for(Duration::from_secs(5));
    let mark = m.sent.len();
    let ev_mark = m.events.len();
    let now = m.now;
    let opts = QueryOptions {
        relay_factor: 2,
        timeout: Some(Duration::from_secs(3)),
        ..QueryOptions::default()
    };
    let id = m.nodes[0].query("uptime", b"", opts, now).unwrap();
    m.drain(0);
    let ev = answer_all(&mut m, ev_mark, 0, id, Duration::from_secs(4));
    assert_eq!(responders(&ev).len(), 6, "each member once");
    // Each of nodes 1-5 sent its response through 2 relays, which
    // forwarded it to node 0: node 0 got it from 3 senders.
    let relayed = (m.sent[mark..].iter())
        .filter_map(|(_, _, b)| open(b))
        .filter(|p| {
            p.relayed
                .iter()
                .any(|r| r.answer.as_ref().is_some_and(|a| a.id == id))
        })
        .count();
    assert_eq!(relayed, 10, "2 relays for each of 5 responses");
    let at_origin = (m.sent[mark..].iter())
        .filter(|(from, to, _)| *from != 0 && *to == addr(0))
        .filter_map(|(_, _, b)| open(b))
        .flat_map(|p| p.answers)
        .filter(|a| a.id == id)
        .count();
    assert_eq!(at_origin, 15, "each response directly and through 2 relays");
}

#[test]
fn a_relay_forwards_only_to_a_live_member_s_own_address() {
    let mut m = Mesh::new(3);
    m.run_for(Duration::from_secs(5));
    let reply = pb::Answer {
        id: 9,
        body: Some(pb::answer::Body::User(pb::UserReply {
            ack: false,
            payload: Bytes::from_static(b"x"),
            member: name(2).into_bytes().into(),
        })),
    };
    let relayed = |origin: &str| pb::Relayed {
        origin: origin.as_bytes().to_vec().into(),
        answer: Some(reply.clone()),
    };
    let plain = pb::Packet {
        version: pb::PROTOCOL_VERSION,
        from: name(2).into_bytes().into(),
        relayed: vec![relayed("node-0"), relayed("nobody"), relayed("node-0")],
        ..Default::default()
    }
    .encode_to_vec();
    let mark = m.sent.len();
    let from = addr(2);
    m.give(
        1,
        Input::Datagram {
            from,
            bytes: seal(&plain),
        },
    );
    let sent: Vec<_> = m.sent[mark..].iter().filter(|(f, _, _)| *f == 1).collect();
    assert!(
        sent.iter().all(|(_, to, _)| *to == addr(0)),
        "only to node-0's address"
    );
    assert_eq!(sent.len(), 2, "one per answer naming a live member");
}

#[test]
fn a_datagram_with_fields_this_build_does_not_know_is_still_handled() {
    // A later build's new kinds travel in new packet fields (as events,
    // user queries and relayed answers do, in fields 11 to 13, which the
    // build before them skipped): pings and updates beside them still count.
    let mut n = idle_node(3);
    let mut bytes = ping(1, 77, 0).to_vec();
    prost::encoding::bytes::encode(15, &vec![1u8, 2, 3], &mut bytes);
    let out = receive(&mut n, 1, bytes.into(), Instant::ZERO);
    let acked = out.iter().any(|o| match o {
        swim_core::Output::Datagram { bytes, .. } => {
            pb::Packet::decode(&bytes[..]).is_ok_and(|p| {
                p.messages
                    .iter()
                    .any(|m| matches!(m.body, Some(pb::message::Body::Ack(ref a)) if a.seq == 77))
            })
        }
        _ => false,
    });
    assert!(acked, "the ping was answered");
}

/// A long steady stream of events (far more than the 512 remembered, with
/// no exchange in between to move anyone's anchor): every member delivers
/// each exactly once.
#[test]
fn a_long_stream_of_events_is_delivered_once_everywhere() {
    let mut m = Mesh::new(4);
    m.run_for(Duration::from_secs(5));
    let mark = m.events.len();
    for k in 0..1500 {
        m.fire(0, &format!("e{k}"), b"");
        m.run_for(Duration::from_millis(20));
    }
    m.run_for(Duration::from_secs(20));
    let mut wrong = Vec::new();
    for k in 0..1500 {
        for i in 0..4 {
            let n = m.delivered(mark, i, &format!("e{k}"));
            if n != 1 {
                wrong.push((k, i, n));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} (event, node, deliveries) not once: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
}
