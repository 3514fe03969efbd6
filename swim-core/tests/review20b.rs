//! Review 20b: attacks on Serf-style user events and user queries
//! (user_event.rs, user_query.rs, their paths in node.rs).
//!
//! Tests named `finding_*` failed on the reviewed code (980b4b9): each
//! shows a finding, with numbers, and passes since its fix. Tests named
//! `holds_*` passed there already: attacks tried that the code withstood
//! (coverage). Run:
//! `cargo test --release -p swim-core --test review20b -- --nocapture`
//! (each test prints its numbers).

mod common;

use common::mesh::*;
use common::*;
use prost::Message;
use std::net::SocketAddr;
use std::time::Duration;
use swim_core::{Bytes, Config, Event, Identity, Input, Node, QueryFilter, QueryOptions};
use swim_proto as pb;

/// A packet naming itself `from`.
fn pkt(from: &str) -> pb::Packet {
    pb::Packet {
        version: pb::PROTOCOL_VERSION,
        from: from.as_bytes().to_vec().into(),
        ..Default::default()
    }
}

/// Sealed with the cluster key (the insider).
fn sealed(p: pb::Packet) -> Bytes {
    seal(&p.encode_to_vec())
}

fn plain(p: pb::Packet) -> Bytes {
    p.encode_to_vec().into()
}

fn dgram(from: SocketAddr, bytes: Bytes) -> Input {
    Input::Datagram { from, bytes }
}

fn user_answer(id: u64, ack: bool, member: &str) -> pb::Answer {
    pb::Answer {
        id,
        body: Some(pb::answer::Body::User(pb::UserReply {
            ack,
            payload: Bytes::from_static(b"forged"),
            member: member.as_bytes().to_vec().into(),
        })),
    }
}

/// The `QueryDone` of query `id` at node `i`: (answers, acks, asked, missing).
fn done(m: &Mesh, i: usize, id: u64) -> Option<(usize, usize, usize, Vec<String>)> {
    m.events.iter().find_map(|(n, e)| match e {
        Event::QueryDone {
            query,
            answers,
            acks,
            asked,
            missing,
        } if *n == i && *query == id => Some((
            *answers,
            *acks,
            *asked,
            missing.iter().map(|x| x.to_string()).collect(),
        )),
        _ => None,
    })
}

// ---------------------------------------------------------------------
// Finding 1 (high): 513 forged events stamped just under a jump ahead walk
// the floor of the member they are sent to up by ~2^20: genuine events are
// "old" there (the insider sends such a burst to each member it targets).
// ---------------------------------------------------------------------

/// An insider (holding the key, or anyone on a plain cluster) sends node 1
/// `n` events from made-up origins, all stamped just under MAX_CLOCK_JUMP
/// ahead of node 1's clock (each plausible), 20 a datagram. Then node 0
/// fires 20 genuine events. Returns how many node 1 and node 2 delivered.
fn floor_walk(n: usize) -> (usize, usize, u64) {
    let mut m = Mesh::new(4);
    m.run_for(Duration::from_secs(5));
    let far = m.nodes[1].event_clock() + (1 << 20) - 2_000;
    for p in 0..n.div_ceil(20) {
        let mut packet = pkt("node-3");
        packet.events = (0..20)
            .map(|k| p * 20 + k)
            .filter(|&k| k < n)
            .map(|k| user_event(&format!("ghost-{k}"), 1, far, "x"))
            .collect();
        m.give(1, dgram(addr(3), sealed(packet)));
    }
    m.run_for(Duration::from_secs(5));
    let mark = m.events.len();
    let old_before = m.nodes[2].metrics().events_old;
    for _ in 0..20 {
        m.fire(0, "genuine", b"");
        m.run_for(Duration::from_millis(500));
    }
    m.run_for(Duration::from_secs(10));
    let (d1, d2) = (
        m.delivered(mark, 1, "genuine"),
        m.delivered(mark, 2, "genuine"),
    );
    let old = m.nodes[2].metrics().events_old - old_before;
    eprintln!(
        "{n} forged events at clock {far}: of 20 genuine events node 1 delivered {d1}, node 2 {d2} \
         (node 2 counted {old} old); node 0's clock now {}",
        m.nodes[0].event_clock()
    );
    (d1, d2, old)
}

#[test]
fn holds_512_forged_far_events_leave_genuine_events_delivered() {
    // Within the remembered buffer (RECENT = 512): nothing forgotten, no
    // floor moved.
    let (d1, d2, _) = floor_walk(400);
    assert_eq!((d1, d2), (20, 20));
}

#[test]
fn finding_513_forged_far_events_walk_the_floor_and_silence_genuine_events() {
    let (d1, d2, _) = floor_walk(600);
    assert_eq!(
        (d1, d2),
        (20, 20),
        "genuine events after a burst of 600 forged far-stamped ones"
    );
}

// ---------------------------------------------------------------------
// Finding 2 (high): one forged far-stamped event becomes the persisted
// event floor; the restarted member is deaf until the cluster's clock
// climbs ~2^20 events.
// ---------------------------------------------------------------------

#[test]
fn finding_one_forged_far_event_persisted_as_floor_deafens_a_restart() {
    let mut m = Mesh::new(4);
    m.run_for(Duration::from_secs(5));
    let far = m.nodes[0].event_clock() + (1 << 20) - 10;
    let mut packet = pkt("node-3");
    packet.events = vec![user_event("node-3", 424242, far, "evil")];
    m.give(0, dgram(addr(3), sealed(packet)));
    m.run_for(Duration::from_secs(5));
    // The agent's snapshot records `Node::event_floor` after each event
    // delivered (it recorded one past the event's clock when this was
    // found: persisted floor 1048567 against a cluster clock of 576).
    let floor = m.nodes[0].event_floor();
    let cluster = m.nodes[2].event_clock();
    restart0(&mut m, 900, Config::lan());
    m.nodes[0].resume_events(floor);
    let now = m.now;
    m.nodes[0].join(&[addr(1)], now).unwrap();
    m.drain(0);
    m.run_for(Duration::from_secs(10));
    let mark = m.events.len();
    for _ in 0..10 {
        m.fire(2, "after-restart", b"");
        m.run_for(Duration::from_millis(500));
    }
    m.run_for(Duration::from_secs(10));
    let d0 = m.delivered(mark, 0, "after-restart");
    let d1 = m.delivered(mark, 1, "after-restart");
    eprintln!(
        "persisted floor {floor}, cluster clock {cluster}: of 10 events after the restart node 0 \
         delivered {d0} (node 1: {d1})"
    );
    assert_eq!(d0, 10, "a restarted member resuming a floor an insider set");
}

// ---------------------------------------------------------------------
// Finding 3 (medium, operator): a garbage event floor (snapshot line
// {"op":"events","floor":18446744073709551615}) is resumed unchecked: the
// member is deaf (delivers nothing) and mute (its events are implausible
// everywhere), with no error or warning.
// ---------------------------------------------------------------------

#[test]
fn finding_a_garbage_event_floor_makes_a_member_deaf_and_mute() {
    let mut m = Mesh::new(4);
    m.run_for(Duration::from_secs(5));
    restart0(&mut m, 901, Config::lan());
    m.nodes[0].resume_events(u64::MAX);
    let now = m.now;
    m.nodes[0].join(&[addr(1)], now).unwrap();
    m.drain(0);
    m.run_for(Duration::from_secs(10));
    let mark = m.events.len();
    m.fire(2, "to-0", b"");
    m.fire(0, "from-0", b"");
    m.run_for(Duration::from_secs(10));
    let heard = m.delivered(mark, 0, "to-0");
    let told = (1..4)
        .filter(|&i| m.delivered(mark, i, "from-0") == 1)
        .count();
    eprintln!(
        "floor u64::MAX: node 0 delivered {heard} of 1 event; its own event reached {told} of 3 \
         members; node 0's clock {}",
        m.nodes[0].event_clock()
    );
    assert_eq!((heard, told), (1, 3));
}

// ---------------------------------------------------------------------
// Finding 4 (medium): an origin counts answers (and acks) naming any name,
// members or not, without bound: QueryDone's counts exceed `asked`, and
// `missing` hides the members that never answered.
// ---------------------------------------------------------------------

fn forged_answers(plain_cluster: bool, ghosts: usize) -> (usize, usize, usize, Vec<String>) {
    let mut m = if plain_cluster {
        Mesh::plain(3)
    } else {
        Mesh::new(3)
    };
    m.run_for(Duration::from_secs(5));
    let now = m.now;
    let options = QueryOptions {
        timeout: Some(Duration::from_secs(5)),
        want_ack: true,
        ..QueryOptions::default()
    };
    let id = m.nodes[0].query("uptime", b"", options, now).unwrap();
    m.drain(0);
    m.run_for(Duration::from_millis(500));
    // Nobody responds (the handlers hang). The attacker answers for
    // node-1 and node-2, and for `ghosts` made-up names, 10 a datagram.
    let mut names: Vec<String> = vec!["node-1".into(), "node-2".into()];
    names.extend((0..ghosts).map(|k| format!("ghost-{k}")));
    for chunk in names.chunks(10) {
        let mut p = pkt("node-9");
        p.answers = (chunk.iter())
            .flat_map(|n| [user_answer(id, false, n), user_answer(id, true, n)])
            .collect();
        let bytes = if plain_cluster { plain(p) } else { sealed(p) };
        m.give(0, dgram(stranger(), bytes));
    }
    m.run_for(Duration::from_secs(6));
    done(&m, 0, id).expect("QueryDone")
}

#[test]
fn finding_forged_answers_count_non_members_and_hide_the_missing() {
    let mut bad = Vec::new();
    for plain_cluster in [true, false] {
        let (answers, acks, asked, missing) = forged_answers(plain_cluster, 5_000);
        eprintln!(
            "plain={plain_cluster}: QueryDone answers {answers}, acks {acks}, asked {asked}, missing {missing:?} \
             (nobody really responded)"
        );
        if answers > asked || acks > asked {
            bad.push((plain_cluster, answers, acks, asked));
        }
    }
    assert!(bad.is_empty(), "(plain, answers, acks, asked): {bad:?}");
}

// ---------------------------------------------------------------------
// Finding 5 (medium): the key a member remembers a query by leaves out its
// timeout (and origin address). An insider who sees a query in gossip
// sends the other members a copy with timeout 1 ms before gossip brings
// the real one: the copy is taken (and passed on), the real one is
// "seen", and every response a handler gives is refused (NotAsked).
// ---------------------------------------------------------------------

#[test]
fn finding_a_copy_with_a_1ms_timeout_wins_the_race_and_no_response_arrives() {
    let n = 8;
    let mut m = Mesh::new(n);
    m.run_for(Duration::from_secs(5));
    let insider = n - 1;
    let now = m.now;
    let options = QueryOptions {
        timeout: Some(Duration::from_secs(8)),
        relay_factor: 0,
        ..QueryOptions::default()
    };
    let id = m.nodes[0].query("uptime", b"", options, now).unwrap();
    m.drain(0);
    // Until the insider's own node has received the query.
    let deadline = m.now + Duration::from_secs(5);
    let mut captured: Option<pb::Query> = None;
    let mut scanned = 0;
    while captured.is_none() && m.now < deadline {
        let next = m.now + Duration::from_millis(1);
        m.run_until(next);
        for (_, to, b) in &m.sent[scanned..] {
            if *to != addr(insider) {
                continue;
            }
            if let Some(p) = open(b) {
                captured = p.user_queries.into_iter().find(|q| q.id == id);
                if captured.is_some() {
                    break;
                }
            }
        }
        scanned = m.sent.len();
    }
    let mut q = captured.expect("the insider's node got the query");
    q.timeout_ms = 1;
    let mut p = pkt(&name(insider));
    p.user_queries = vec![q];
    let forged = sealed(p);
    for j in 1..insider {
        m.give(j, dgram(addr(insider), forged.clone()));
    }
    // Each member's handler responds 20 ms after it is asked.
    let mut handled = 0;
    let mut refused = 0;
    let mut ok = 0;
    m.run_with(Duration::from_secs(9), Duration::from_millis(20), |m| {
        let asked: Vec<(usize, String, u64)> = (m.events[handled..].iter())
            .filter_map(|(i, e)| match e {
                Event::Query { origin, id, .. } if *i != 0 => Some((*i, origin.to_string(), *id)),
                _ => None,
            })
            .collect();
        handled = m.events.len();
        for (i, origin, qid) in asked {
            let now = m.now;
            match m.nodes[i].respond(&origin, qid, b"up", now) {
                Ok(()) => ok += 1,
                Err(_) => refused += 1,
            }
            m.drain(i);
        }
    });
    let (answers, _, asked, missing) = done(&m, 0, id).expect("QueryDone");
    eprintln!(
        "forged 1 ms copy: {ok} responses sent, {refused} refused (NotAsked); origin counted \
         {answers} of {asked} asked, missing {missing:?}"
    );
    assert!(
        answers >= n - 2,
        "{answers} answers of {} honest members",
        n - 2
    );
}

// ---------------------------------------------------------------------
// Finding 6 (medium): a full event pass-on queue silently drops the
// member's OWN event (`UserEvents::fire` ignores `enqueue`'s refusal): 256
// forged events from made-up origins, stamped a little ahead, and the
// event node 0 fires next is never sent (nor in the 64 recent events an
// exchange carries).
// ---------------------------------------------------------------------

/// `n` forged events from made-up origins reach node 0, stamped 1,000
/// ahead; node 0 then fires one. How many of the 3 others deliver it.
fn own_event_after(n: usize) -> usize {
    let mut m = Mesh::new(4);
    m.run_for(Duration::from_secs(5));
    let ahead = m.nodes[0].event_clock() + 1_000;
    for p in 0..n.div_ceil(20) {
        let mut packet = pkt("node-3");
        packet.events = (0..20)
            .map(|k| p * 20 + k)
            .filter(|&k| k < n)
            .map(|k| user_event(&format!("ghost-{k}"), 1, ahead, "x"))
            .collect();
        m.give(0, dgram(addr(3), sealed(packet)));
    }
    let mark = m.events.len();
    m.fire(0, "own", b"");
    m.run_for(Duration::from_secs(30));
    let told = (1..4).filter(|&i| m.delivered(mark, i, "own") == 1).count();
    eprintln!(
        "after {n} forged events at node 0, its own event reached {told} of 3 members in 30 s"
    );
    told
}

#[test]
fn holds_200_forged_events_leave_room_for_the_members_own_event() {
    assert_eq!(own_event_after(200), 3);
}

#[test]
fn finding_a_full_event_queue_drops_the_members_own_event() {
    assert_eq!(own_event_after(256), 3);
}

// ---------------------------------------------------------------------
// Finding 7 (medium): MAX_ASKED = 64 queries wait for a response, and a
// full table evicts the one whose time runs out first: a genuine query
// (a few seconds) goes before forged ones with 300 s timeouts. 64 forged
// queries (a stranger on a plain cluster, an insider on a sealed one)
// arriving while a handler runs make its response refused.
// ---------------------------------------------------------------------

#[test]
fn finding_64_forged_long_queries_evict_a_genuine_query_before_its_response() {
    let mut refused_in = Vec::new();
    for plain_cluster in [true, false] {
        let mut m = if plain_cluster {
            Mesh::plain(3)
        } else {
            Mesh::new(3)
        };
        m.run_for(Duration::from_secs(5));
        let now = m.now;
        let options = QueryOptions {
            timeout: Some(Duration::from_secs(5)),
            ..QueryOptions::default()
        };
        let id = m.nodes[0].query("uptime", b"", options, now).unwrap();
        m.drain(0);
        let deadline = m.now + Duration::from_secs(3);
        let mut stamp = None;
        while stamp.is_none() && m.now < deadline {
            let next = m.now + Duration::from_millis(1);
            m.run_until(next);
            stamp = m.sent.iter().find_map(|(_, _, b)| {
                let p = match open(b) {
                    Some(p) => p,
                    None => pb::Packet::decode(b.clone()).ok()?,
                };
                p.user_queries.iter().find(|q| q.id == id).map(|q| q.clock)
            });
        }
        let clock = stamp.expect("the query went out");
        let asked_at_1 = |m: &Mesh| {
            (m.events.iter())
                .any(|(n, e)| *n == 1 && matches!(e, Event::Query { id: x, .. } if *x == id))
        };
        let deadline = m.now + Duration::from_secs(3);
        while !asked_at_1(&m) && m.now < deadline {
            let next = m.now + Duration::from_millis(1);
            m.run_until(next);
        }
        assert!(asked_at_1(&m));
        for k in 0..64u64 {
            let q = pb::Query {
                origin: format!("ghost-{k}").into_bytes().into(),
                origin_addr: wire_addr(fake_addr(k as usize)),
                id: 7000 + k,
                timeout_ms: 300_000,
                body: Some(pb::query::Body::User(pb::UserQuery {
                    name: "flood".into(),
                    ..Default::default()
                })),
                clock: clock + 1,
            };
            let mut p = pkt("node-2");
            p.user_queries = vec![q];
            let bytes = if plain_cluster { plain(p) } else { sealed(p) };
            m.give(1, dgram(addr(2), bytes));
        }
        let flood = (m.events.iter())
            .filter(|(n, e)| *n == 1 && matches!(e, Event::Query { name, .. } if name == "flood"))
            .count();
        m.run_for(Duration::from_millis(100));
        let now = m.now;
        let r = m.nodes[1].respond("node-0", id, b"up", now);
        eprintln!(
            "plain={plain_cluster}: {flood} forged queries handed to node 1; its response 100 ms later: {r:?}"
        );
        if r.is_err() {
            refused_in.push(plain_cluster);
        }
    }
    assert!(refused_in.is_empty(), "refused (plain?): {refused_in:?}");
}

// ---------------------------------------------------------------------
// Withstood.
// ---------------------------------------------------------------------

/// A stranger on a plain cluster asks a query naming a made-up origin at a
/// third party's address (acks, relay factor 5), and sends relayed answers
/// addressed to a made-up origin: nothing goes to the third party.
#[test]
fn holds_no_reflection_to_a_third_party() {
    let mut m = Mesh::plain(6);
    m.run_for(Duration::from_secs(5));
    let victim = SocketAddr::from(([10, 9, 9, 9], 7946));
    let mark = m.sent.len();
    for k in 0..50u64 {
        let q = pb::Query {
            origin: format!("ghost-{k}").into_bytes().into(),
            origin_addr: wire_addr(victim),
            id: 1000 + k,
            timeout_ms: 10_000,
            body: Some(pb::query::Body::User(pb::UserQuery {
                name: "q".into(),
                want_ack: true,
                relay_factor: 5,
                ..Default::default()
            })),
            clock: 5,
        };
        let mut p = pkt("ghost");
        p.user_queries = vec![q];
        let answer = user_answer(1000 + k, false, "node-1");
        p.relayed = vec![pb::Relayed {
            origin: format!("ghost-{k}").into_bytes().into(),
            answer: Some(answer),
        }];
        m.give(1, dgram(stranger(), plain(p)));
    }
    m.run_for(Duration::from_secs(15));
    let to_victim = m.sent[mark..]
        .iter()
        .filter(|(_, to, _)| *to == victim)
        .count();
    let asked = (m.events.iter())
        .filter(|(_, e)| matches!(e, Event::Query { id, .. } if (1000..1050).contains(id)))
        .count();
    eprintln!(
        "{asked} members were asked the forged queries; {to_victim} datagrams to the third party"
    );
    assert!(
        asked > 0,
        "the forged queries were carried out (not vacuous)"
    );
    assert_eq!(to_victim, 0);
}

/// Oversized or malformed user-query fields from the network (a regex
/// over 256 bytes, one that does not compile, 65 node filters, relay
/// factor 6, a 2 KB payload) are dropped or match nothing: no member is
/// asked, no answer goes out.
#[test]
fn holds_malformed_queries_ask_nobody() {
    let mut m = Mesh::plain(3);
    m.run_for(Duration::from_secs(5));
    let mark = m.events.len();
    let base = pb::UserQuery {
        name: "q".into(),
        want_ack: true,
        ..Default::default()
    };
    let tag = |r: &str| pb::TagFilter {
        key: "k".into(),
        regex: r.into(),
    };
    let bodies = [
        pb::UserQuery {
            tags: vec![tag(&"a".repeat(257))],
            ..base.clone()
        },
        pb::UserQuery {
            tags: vec![tag("(((")],
            ..base.clone()
        },
        pb::UserQuery {
            tags: vec![tag(&format!("{}a{}", "(".repeat(20), ")".repeat(20)))],
            ..base.clone()
        },
        pb::UserQuery {
            nodes: (0..65)
                .map(|i| format!("n{i}").into_bytes().into())
                .collect(),
            ..base.clone()
        },
        pb::UserQuery {
            relay_factor: 6,
            ..base.clone()
        },
        pb::UserQuery {
            relay_factor: 256 + 2,
            ..base.clone()
        },
        pb::UserQuery {
            payload: vec![0; 2048].into(),
            ..base.clone()
        },
        base.clone(),
    ];
    let valid = bodies.len() - 1;
    for (k, b) in bodies.into_iter().enumerate() {
        let q = pb::Query {
            origin: b"node-0".to_vec().into(),
            origin_addr: wire_addr(addr(0)),
            id: if k == valid { 999 } else { 77 + k as u64 },
            timeout_ms: 10_000,
            body: Some(pb::query::Body::User(b)),
            clock: 1,
        };
        let mut p = pkt("node-0");
        p.user_queries = vec![q];
        m.give(1, dgram(stranger(), plain(p)));
    }
    m.run_for(Duration::from_secs(5));
    let bad = (m.events[mark..].iter())
        .filter(|(_, e)| matches!(e, Event::Query { id, .. } if *id != 999))
        .count();
    let good = (m.events[mark..].iter())
        .filter(|(_, e)| matches!(e, Event::Query { id: 999, .. }))
        .count();
    assert!(good > 0, "the control query was carried out (not vacuous)");
    assert_eq!(bad, 0);
}

/// A captured sealed event datagram replayed to a member that delivered it,
/// and to the same member restarted with its resumed floor: not delivered
/// again. Its own earlier life's event replayed to the restarted process:
/// not delivered either.
#[test]
fn holds_replayed_events_are_not_delivered_again() {
    let mut m = Mesh::new(4);
    m.run_for(Duration::from_secs(5));
    let mark = m.sent.len();
    m.fire(2, "once", b"");
    m.fire(0, "mine", b"");
    m.run_for(Duration::from_secs(5));
    let captured: Vec<Bytes> = (m.sent[mark..].iter())
        .filter(|(_, _, b)| open(b).is_some_and(|p| !p.events.is_empty()))
        .map(|(_, _, b)| b.clone())
        .collect();
    assert!(!captured.is_empty());
    let floor = (m.events.iter())
        .filter_map(|(n, e)| match e {
            Event::User { clock, .. } if *n == 0 => Some(clock + 1),
            _ => None,
        })
        .max()
        .unwrap();
    let mark = m.events.len();
    for b in &captured {
        m.give(1, dgram(addr(3), b.clone()));
    }
    restart0(&mut m, 902, Config::lan());
    m.nodes[0].resume_events(floor);
    let now = m.now;
    m.nodes[0].join(&[addr(1)], now).unwrap();
    m.drain(0);
    m.run_for(Duration::from_secs(5));
    for b in &captured {
        m.give(0, dgram(addr(3), b.clone()));
    }
    m.run_for(Duration::from_secs(5));
    let again = (m.events[mark..].iter())
        .filter(|(_, e)| matches!(e, Event::User { .. }))
        .count();
    assert_eq!(again, 0);
}

/// Forged user queries from 2,000 made-up origins flood node 1; a genuine
/// query of node 0 started right after still reaches every member, and
/// the pass-on queue stays bounded.
#[test]
fn holds_a_query_flood_from_many_origins_does_not_stop_a_members_query() {
    let mut m = Mesh::new(5);
    m.run_for(Duration::from_secs(5));
    let clock = m.clock_of(1, Duration::from_secs(1));
    for k in 0..2_000u64 {
        let q = pb::Query {
            origin: format!("ghost-{k}").into_bytes().into(),
            origin_addr: wire_addr(fake_addr(k as usize)),
            id: 5000 + k,
            timeout_ms: 300_000,
            body: Some(pb::query::Body::User(pb::UserQuery {
                name: "flood".into(),
                ..Default::default()
            })),
            clock: clock + 1,
        };
        let mut p = pkt("node-4");
        p.user_queries = vec![q];
        m.give(1, dgram(addr(4), sealed(p)));
    }
    let now = m.now;
    let id = m.nodes[0]
        .query(
            "real",
            b"",
            QueryOptions {
                timeout: Some(Duration::from_secs(5)),
                filter: QueryFilter::default(),
                ..QueryOptions::default()
            },
            now,
        )
        .unwrap();
    m.drain(0);
    m.run_for(Duration::from_secs(6));
    let asked = (1..5)
        .filter(|&i| {
            m.events.iter().any(|(n, e)| {
                *n == i
                    && matches!(e, Event::Query { id: x, name, .. } if *x == id && name == "real")
            })
        })
        .count();
    assert_eq!(asked, 4);
}

/// Amplification aimed at a member: a stranger on a plain cluster sends ONE
/// query naming member node-0 at its real address (acks, relay factor 5).
/// Measured, not judged: how many datagrams the cluster then sends node 0.
#[test]
fn holds_measured_one_forged_query_fans_acks_to_a_member() {
    let n = 8;
    let mut m = Mesh::plain(n);
    m.run_for(Duration::from_secs(5));
    let mark = m.sent.len();
    let q = pb::Query {
        origin: b"node-0".to_vec().into(),
        origin_addr: wire_addr(addr(0)),
        id: 31337,
        timeout_ms: 10_000,
        body: Some(pb::query::Body::User(pb::UserQuery {
            name: "q".into(),
            want_ack: true,
            relay_factor: 5,
            ..Default::default()
        })),
        clock: 5,
    };
    let mut p = pkt("node-0");
    p.user_queries = vec![q];
    m.give(1, dgram(stranger(), plain(p)));
    m.run_for(Duration::from_secs(10));
    let answer_dgrams = (m.sent[mark..].iter())
        .filter(|(_, _, b)| {
            pb::Packet::decode(b.clone())
                .is_ok_and(|p| p.answers.iter().any(|a| a.id == 31337) || !p.relayed.is_empty())
        })
        .count();
    let asked = (m.events.iter())
        .filter(|(_, e)| matches!(e, Event::Query { id: 31337, .. }))
        .count();
    eprintln!(
        "one forged query (want_ack, relay 5) in a cluster of {n}: asked {asked} members, \
         {answer_dgrams} answer/relay datagrams"
    );
    assert!(answer_dgrams <= 11 * (n - 1));
}

// ---------------------------------------------------------------------
// Finding 8 (high): an insider member answering full-state exchanges with a clock
// just under a jump ahead of its own ratchets the members that exchange
// with it apart: once two members' clocks differ by more than
// MAX_CLOCK_JUMP, each ignores the other's clock and its events are
// implausible there. (Events: `UserEvents::learn`; queries likewise.)
// ---------------------------------------------------------------------

/// A sealed stream frame whose push-pull says clocks `JUMP - 1` ahead of
/// what the sender really holds (`events`: the event clock, else the
/// query clock).
fn inflate(bytes: &[u8], events: bool) -> Bytes {
    let ring = sealed_node(60_001, 7);
    let Some(plain) = ring.keyring().open_sealed(bytes) else {
        return Bytes::copy_from_slice(bytes);
    };
    let Ok(mut f) = pb::StreamFrame::decode(&plain[..]) else {
        return Bytes::copy_from_slice(bytes);
    };
    if let Some(pp) = f.push_pull.as_mut() {
        if events {
            pp.event_clock += (1 << 20) - 1;
        } else {
            pp.query_clock += (1 << 20) - 1;
        }
    }
    seal(&f.encode_to_vec())
}

/// The insider (node `insider`, holding the key) sends no datagram for
/// 120 s: held dead, it is reconnected to by stream (reconnect ticks), and
/// each of its exchange answers lies (`Mesh::rewrite`). `targets` only
/// for the trace.
fn lure(m: &mut Mesh, insider: usize, targets: &[usize]) {
    let targets = targets.to_vec();
    let before: Vec<u64> = targets
        .iter()
        .map(|&t| m.nodes[t].metrics().push_pulls)
        .collect();
    m.mute[insider] = true;
    m.run_for(Duration::from_secs(120));
    m.mute[insider] = false;
    let after: Vec<u64> = targets
        .iter()
        .map(|&t| m.nodes[t].metrics().push_pulls)
        .collect();
    eprintln!(
        "exchanges of the targets: {before:?} -> {after:?}; repair {} now {:?}; dropped {:?}",
        m.nodes[targets[0]].metrics().repair_exchanges,
        m.now,
        m.nodes[targets[0]].metrics().dropped
    );
}

/// Node 5 of 6 lies about the event clock in every frame while held dead
/// for 120 s, then speaks again and stops lying; 60 s later each of nodes
/// 0..4 fires one event: how many of the 20 (origin, other honest member)
/// deliveries happen.
#[test]
fn finding_an_insider_s_exchange_answers_split_the_event_clock() {
    let n = 6;
    let mut m = Mesh::new(n);
    m.run_for(Duration::from_secs(5));
    m.rewrite = Some((n - 1, Box::new(|b| inflate(b, true))));
    lure(&mut m, n - 1, &[0, 1]);
    m.rewrite = None;
    m.run_for(Duration::from_secs(60));
    let clocks: Vec<u64> = (0..n).map(|i| m.nodes[i].event_clock()).collect();
    let mark = m.events.len();
    for i in 0..n - 1 {
        m.fire(i, &format!("e{i}"), b"");
    }
    m.run_for(Duration::from_secs(20));
    let mut got = 0;
    let mut lost = Vec::new();
    for i in 0..n - 1 {
        for j in (0..n - 1).filter(|&j| j != i) {
            if m.delivered(mark, j, &format!("e{i}")) == 1 {
                got += 1;
            } else {
                lost.push((i, j));
            }
        }
    }
    eprintln!("event clocks 60 s after the lies: {clocks:?}; {got} of 20 deliveries; lost (origin, member): {lost:?}");
    assert_eq!(got, 20);
}

/// The same lie about the query clock: a key install started by each
/// honest member afterwards (key 10 by node 0, 11 by node 1, ...), how
/// many of the other honest members hold it.
#[test]
fn finding_an_insider_s_exchange_answers_split_the_query_clock() {
    let n = 6;
    let mut m = Mesh::new(n);
    m.run_for(Duration::from_secs(5));
    m.rewrite = Some((n - 1, Box::new(|b| inflate(b, false))));
    lure(&mut m, n - 1, &[0, 1]);
    m.rewrite = None;
    m.run_for(Duration::from_secs(60));
    for i in 0..n - 1 {
        let _ = m.op(i, swim_core::KeyringOp::Install(key(10 + i as u8)));
    }
    m.run_for(Duration::from_secs(20));
    let mut got = 0;
    let mut lost = Vec::new();
    for i in 0..n - 1 {
        for j in (0..n - 1).filter(|&j| j != i) {
            if m.holds(j, 10 + i as u8) {
                got += 1;
            } else {
                lost.push((i, j));
            }
        }
    }
    eprintln!("{got} of 20 installs arrived; lost (origin, member): {lost:?}");
    assert_eq!(got, 20);
}

/// CPU a stranger buys on a plain cluster with tag filters: 4 regular
/// expressions of 255 bytes a query (within MAX_QUERY_SIZE), compiled by
/// every member for every new query. Measured (wall time, printed), judged
/// only against a generous bound.
#[test]
fn holds_measured_regex_filters_cost_per_query() {
    let mut m = Mesh::plain(2);
    m.run_for(Duration::from_secs(5));
    let heavy = format!("(?:[a-z]{{0,9}}[0-9]{{0,9}}|x){{1,9}}{}", "a?".repeat(100));
    let heavy = heavy[..heavy.len().min(255)].to_string();
    let cost = |m: &mut Mesh, regex: &str, base: u64| {
        let t = std::time::Instant::now();
        for k in 0..200u64 {
            let q = pb::Query {
                origin: format!("ghost-{}", base + k).into_bytes().into(),
                origin_addr: wire_addr(fake_addr(k as usize)),
                id: base + k,
                timeout_ms: 1_000,
                body: Some(pb::query::Body::User(pb::UserQuery {
                    name: "q".into(),
                    tags: (0..4)
                        .map(|i| pb::TagFilter {
                            key: format!("k{i}"),
                            regex: regex.into(),
                        })
                        .collect(),
                    ..Default::default()
                })),
                clock: 1,
            };
            let mut p = pkt("ghost");
            p.user_queries = vec![q];
            m.give(1, dgram(stranger(), plain(p)));
        }
        t.elapsed() / 200
    };
    let cheap = cost(&mut m, "a", 10_000);
    let dear = cost(&mut m, &heavy, 20_000);
    eprintln!(
        "per query: trivial filters {cheap:?}, 4 x {}-byte filters {dear:?}",
        heavy.len()
    );
    assert!(dear < Duration::from_millis(50));
}

// ---------------------------------------------------------------------
// Finding 9 (medium, restart): event ids are `n ^ salt`, the salt drawn
// from the `now` given to `Node::new`; the agent always passes
// `Instant::ZERO` (driver.rs), so every agent process has the same salt
// and a restarted agent's ids repeat its earlier life's. `fired_here`
// then takes the earlier life's event n for its own once it fired n
// events: the guard against replaying an earlier life's events is gone.
// ---------------------------------------------------------------------

/// Node 0 fires "lost" while its datagrams are lost (no member hears it),
/// crashes, and a new process (at `born`) joins; it fires one event of its
/// own (after another member's moved the clock on); then "lost" reaches it
/// in a member's packet.
/// Returns (ids of "lost" and of the new process's first event, how many
/// times the new process delivered "lost").
fn own_earlier_event(born_at_zero: bool) -> (u64, u64, usize) {
    let mut m = Mesh::new(4);
    m.run_for(Duration::from_secs(5));
    let mark = m.sent.len();
    m.mute[0] = true;
    m.fire(0, "lost", b"");
    m.run_for(Duration::from_millis(300));
    let id_of = |m: &Mesh, from: usize, mark: usize, name: &str| {
        m.sent[mark..].iter().find_map(|(f, _, b)| {
            let p = open(b).filter(|_| *f == from)?;
            p.events
                .iter()
                .find(|e| e.name == name)
                .map(|e| (e.id, e.clone()))
        })
    };
    let (lost_id, captured) = id_of(&m, 0, mark, "lost").expect("node 0 sent it");
    // kill -9; a new process, as the agent starts one (or not).
    let born = if born_at_zero {
        swim_core::Instant::ZERO
    } else {
        m.now
    };
    let mut fresh = Node::new(Config::lan(), Identity::new(name(0), new0()), 777, born).unwrap();
    fresh.install_secret_key(key(1));
    fresh.set_sealing(swim_core::Sealing::Require);
    m.nodes[0] = fresh;
    m.queue.retain(|(_, to, _)| *to != 0);
    m.mute[0] = false;
    let now = m.now;
    m.nodes[0].join(&[addr(1)], now).unwrap();
    m.drain(0);
    m.run_for(Duration::from_secs(10));
    // Another member's event moves the clocks on (the new process's own
    // event is not stamped where "lost" was).
    m.fire(2, "bump", b"");
    m.run_for(Duration::from_secs(3));
    let mark = m.sent.len();
    m.fire(0, "mine", b"");
    m.run_for(Duration::from_secs(1));
    let (mine_id, _) = id_of(&m, 0, mark, "mine").expect("node 0 sent it");
    let seen = m.events.len();
    // A member that heard it (after a partition healed), or an insider,
    // passes the earlier life's event on in a packet of its own.
    let mut p = pkt("node-1");
    p.events = vec![captured];
    m.give(0, dgram(addr(1), sealed(p)));
    m.run_for(Duration::from_secs(1));
    (lost_id, mine_id, m.delivered(seen, 0, "lost"))
}

#[test]
fn holds_a_restart_with_a_fresh_salt_drops_its_earlier_life_s_event() {
    let (lost, mine, again) = own_earlier_event(false);
    eprintln!("salt from the start time: ids {lost:#x} / {mine:#x}; replayed earlier-life event delivered {again} times");
    assert_eq!(again, 0);
}

#[test]
fn finding_a_restart_born_at_zero_like_the_agent_replays_its_earlier_life_s_event() {
    let (lost, mine, again) = own_earlier_event(true);
    eprintln!("born at Instant::ZERO (the agent): ids {lost:#x} / {mine:#x}; replayed earlier-life event delivered {again} times");
    assert_eq!(
        (again, lost == mine),
        (0, false),
        "(times the earlier life's event was delivered again, ids repeat)"
    );
}
