//! Review 20c: attacks on the review-20b fixes (user_event.rs clock step
//! cap and floor, persisted floor, resume slack).
//!
//! Tests named `finding_*` failed on the reviewed code (1b87c34) and show a
//! finding with numbers; findings 2 and 3 pass since their fixes
//! (exchanges stepping the clock up to 512, the last query to arrive
//! evicted first); finding 1 is open and ignored, with its reason. `holds_*` passed there already
//! (attacks withstood). Run:
//! `cargo test --release -p swim-core --test review20c -- --nocapture`
//!
//! Findings: (1) 600 one-event packets, each stamped 63 past the victim's
//! clock, walk its floor: 0 of 20 genuine events delivered; (2) after a
//! partition heal the busy side's floor (raised by forgetting) stands above
//! the quiet side's clock, and no exchange follows convergence: 0 of 58
//! events of the quiet side delivered, the first after 810 s; (3) 64 forged
//! queries naming the genuine origin at its own address evict its genuine
//! query (earliest deadline of the busiest origin).

mod common;

use common::mesh::*;
use common::*;
use prost::Message;
use std::time::Duration;
use swim_core::{Bytes, Config, Event, Input};
use swim_proto as pb;

fn sealed_events(from: &str, events: Vec<pb::UserEvent>) -> Bytes {
    let p = pb::Packet {
        version: pb::PROTOCOL_VERSION,
        from: from.as_bytes().to_vec().into(),
        events,
        ..Default::default()
    };
    seal(&p.encode_to_vec())
}

// ---------------------------------------------------------------------
// Finding 1: the 64-a-packet step cap bounds one packet, not a sender.
// `packets` datagrams of ONE forged event each, each stamped 63 past the
// victim's clock as it stands (read here; an insider reads it from the
// victim's own gossip), walk the victim's clock 64 a packet; past RECENT
// (512) remembered, forgetting the oldest lifts the floor to just under
// the walked clock: every genuine event is "old" at the victim.
// ---------------------------------------------------------------------

/// Returns (genuine events of 20 node 0 delivered, node 1 delivered,
/// node 0's floor to persist, cluster clock at node 2).
fn stepped_walk(packets: usize) -> (usize, usize, u64, u64) {
    let mut m = Mesh::new(4);
    m.run_for(Duration::from_secs(5));
    let start = m.nodes[0].event_clock();
    for p in 0..packets {
        let c = m.nodes[0].event_clock() + 63;
        let b = sealed_events("node-3", vec![user_event(&format!("ghost-{p}"), 1, c, "x")]);
        m.give(
            0,
            Input::Datagram {
                from: addr(3),
                bytes: b,
            },
        );
    }
    m.run_for(Duration::from_secs(5));
    let mark = m.events.len();
    for _ in 0..20 {
        m.fire(2, "genuine", b"");
        m.run_for(Duration::from_millis(500));
    }
    m.run_for(Duration::from_secs(10));
    let d0 = m.delivered(mark, 0, "genuine");
    let d1 = m.delivered(mark, 1, "genuine");
    let floor = m.nodes[0].event_floor();
    let cluster = m.nodes[2].event_clock();
    eprintln!(
        "{packets} one-event packets ({} bytes each): node 0 clock {start} -> {}, floor to persist {floor}; \
         of 20 genuine events from node 2 node 0 delivered {d0}, node 1 {d1}; node 2's clock {cluster}; \
         node 0 events_old {}",
        sealed_events("node-3", vec![user_event("ghost-999", 1, 99_999, "x")]).len(),
        m.nodes[0].event_clock(),
        m.nodes[0].metrics().events_old,
    );
    (d0, d1, floor, cluster)
}

#[test]
fn holds_500_stepped_forged_events_leave_genuine_events_delivered() {
    let (d0, d1, _, _) = stepped_walk(500);
    assert_eq!((d0, d1), (20, 20));
}

#[test]
#[ignore = "open (review 20c, finding 1): 600 one-event packets, each stamped a step ahead of the clock the last left, walk a member's clock and, past the 512 remembered, its floor (0 of 20 genuine events delivered). An anchor clock that heard events do not move fixed it but made a member that neither fires nor exchanges forget each new event at once in a long stream (about 180 deliveries each: `a_long_stream_of_events_is_delivered_once_everywhere`), so it was taken out"]
fn finding_600_stepped_forged_events_walk_the_floor_and_deafen_the_victim() {
    let (d0, d1, _, _) = stepped_walk(600);
    assert_eq!(
        (d0, d1),
        (20, 20),
        "(node 0, node 1) after 600 stepped forged events"
    );
}

// ---------------------------------------------------------------------
// Finding 2: a legitimate partition heal. Side A {0,1,2} fires 700 events
// while cut from side B {3,4,5} (quiet). A's members forgot the oldest
// (RECENT 512) and their floor stands ~190 above B's clock. After the heal
// an exchange moves B's clock 64 at most; B's events fired after the heal
// are "old" on side A, silently.
// ---------------------------------------------------------------------

fn cut(m: &mut Mesh, side: impl Fn(usize) -> bool) {
    m.queue.retain(|(_, to, input)| {
        let from = match input {
            Input::Datagram { from, .. } | Input::StreamFrame { from, .. } => Mesh::index(*from),
            _ => None,
        };
        match from {
            Some(f) => side(f) == side(*to),
            None => true,
        }
    });
}

#[test]
fn finding_after_a_partition_heal_the_quiet_side_s_events_are_old_on_the_busy_side() {
    let n = 6;
    let mut m = Mesh::new(n);
    m.run_for(Duration::from_secs(5));
    let side = |i: usize| i < 3;
    // Partitioned: A fires 3,000 events over 60 s (one every 20 ms).
    let mut fired = 0;
    m.run_with(Duration::from_secs(60), Duration::from_millis(1), |m| {
        cut(m, side);
        if m.now.as_millis() % 20 == 0 && fired < 3_000 {
            let i = fired % 3;
            m.fire(i, "busy", b"");
            fired += 1;
            cut(m, side);
        }
    });
    m.run_with(Duration::from_secs(10), Duration::from_millis(1), |m| {
        cut(m, side)
    });
    let clocks: Vec<u64> = (0..n).map(|i| m.nodes[i].event_clock()).collect();
    // Healed: node 3 fires an event every second for 60 s; which ones
    // node 0 delivers, among those fired while it held node 3 alive.
    let mut fired_alive = 0;
    let mut got_alive = 0;
    let mut timeline = String::new();
    for k in 0..60 {
        let alive = m.nodes[0]
            .member(&name(3))
            .is_some_and(|e| e.status == swim_core::Status::Alive);
        let at = m.events.len();
        let c3 = m.nodes[3].event_clock();
        m.fire(3, &format!("q{k}"), b"");
        m.run_for(Duration::from_secs(1));
        let d0 = m.delivered(at, 0, &format!("q{k}"));
        let d4 = m.delivered(at, 4, &format!("q{k}"));
        if alive {
            fired_alive += 1;
            got_alive += d0;
        }
        if k % 5 == 0 {
            timeline += &format!(
                " [{k}s alive={alive} clock3={c3} clock0={} d0={d0} d4={d4}]",
                m.nodes[0].event_clock()
            );
        }
    }
    m.run_for(Duration::from_secs(10));
    let late: usize = (0..60).map(|k| m.delivered(0, 0, &format!("q{k}"))).sum();
    // How long until one of node 3's events reaches node 0 (every 5 s, up
    // to 15 min after the heal).
    let mut first = None;
    for k in 0..168 {
        let at = m.events.len();
        m.fire(3, "later", b"");
        m.run_for(Duration::from_secs(5));
        if m.delivered(at, 0, "later") == 1 {
            first = Some(70 + 5 * k);
            break;
        }
    }
    eprintln!(
        "first of node 3's events node 0 delivers: {first:?} s after the heal; clocks now {:?}, push-pulls at node 3 {}",
        (0..n).map(|i| m.nodes[i].event_clock()).collect::<Vec<_>>(),
        m.nodes[3].metrics().push_pulls
    );
    eprintln!(
        "fired {fired} on side A; clocks at heal {clocks:?};{timeline}\n\
         of {fired_alive} events node 3 fired while node 0 held it alive node 0 delivered {got_alive} \
         (all 60, ever: {late}); events_old at node 0: {}",
        m.nodes[0].metrics().events_old
    );
    assert_eq!(got_alive, fired_alive);
}

// ---------------------------------------------------------------------
// LivesDiffer: a stranger on a plain cluster opens a stream to each of
// nodes 1..5 once a second and sends a full state holding node 0 alive at
// its incarnation in a made-up life. Measured: node 0's refutations
// (incarnation), datagrams node 0 receives, bytes in vs out.
// ---------------------------------------------------------------------

/// (notices sent, node 0's refutations, datagrams to node 0, bytes the
/// cluster sent) over 60 s, with or without the forger.
fn other_lives(n: usize, attack: bool) -> (u64, u64, usize, usize, usize) {
    let mut m = Mesh::plain(n);
    m.run_for(Duration::from_secs(10));
    let inc0 = m.nodes[0].local().incarnation;
    let mark = m.sent.len();
    let mut forged_bytes = 0;
    let mut sid = 1u64 << 40;
    for s in 0..60 {
        for j in (1..n).filter(|_| attack) {
            let held = m.nodes[j]
                .member(&name(0))
                .map(|e| e.incarnation)
                .unwrap_or(1);
            let frame = pb::StreamFrame {
                version: pb::PROTOCOL_VERSION,
                cluster: String::new(),
                from: b"ghost".to_vec().into(),
                push_pull: Some(pb::PushPull {
                    join: false,
                    members: vec![pb::Update {
                        life: 777_000 + s,
                        ..alive(0, held)
                    }],
                    ..Default::default()
                }),
            };
            let bytes: Bytes = frame.encode_to_vec().into();
            forged_bytes += bytes.len();
            sid += 1;
            m.give(
                j,
                Input::StreamFrame {
                    id: swim_core::StreamId::accepted(sid),
                    from: stranger(),
                    bytes,
                },
            );
        }
        m.run_for(Duration::from_secs(1));
    }
    let told: u64 = (1..n).map(|j| m.nodes[j].metrics().lives_differ).sum();
    let inc = m.nodes[0].local().incarnation;
    let to0 = m.sent[mark..]
        .iter()
        .filter(|(_, to, _)| *to == addr(0))
        .count();
    let out: usize = m.sent[mark..].iter().map(|(_, _, b)| b.len()).sum();
    eprintln!(
        "n={n} attack={attack}: 60 s, {forged_bytes} forged bytes: {told} notices sent, node 0's incarnation \
         {inc0} -> {inc}; cluster sent {out} bytes ({to0} datagrams to node 0)"
    );
    (told, inc - inc0, to0, out, forged_bytes)
}

#[test]
fn holds_measured_forged_other_lives_make_a_member_refute() {
    for n in [6, 16] {
        let (_, _, to0_base, out_base, _) = other_lives(n, false);
        let (told, refuted, to0, out, forged) = other_lives(n, true);
        let extra = out.saturating_sub(out_base);
        eprintln!(
        "n={n}: forged {forged} bytes -> {told} notices, {refuted} refutations, +{} datagrams to node 0, \
         +{extra} bytes cluster-wide ({:.1} bytes out per forged byte)",
        to0 - to0_base,
        extra as f64 / forged as f64
    );
        // One notice per node per probe interval; no datagram leaves the
        // members' addresses (checked by Mesh: all go to addr(i)).
        assert!(told <= (n as u64 - 1) * 60);
        assert!((extra as f64) < 20.0 * forged as f64);
    }
}

// ---------------------------------------------------------------------
// Restart after the stepped walk: the persisted floor is cut to 64 above
// the peers' clock. Measured: events deaf after the restart.
// ---------------------------------------------------------------------

#[test]
fn holds_a_walked_persisted_floor_deafens_a_restart_for_at_most_64_events() {
    let mut m = Mesh::new(4);
    m.run_for(Duration::from_secs(5));
    for p in 0..2_000 {
        let c = m.nodes[0].event_clock() + 63;
        let b = sealed_events("node-3", vec![user_event(&format!("ghost-{p}"), 1, c, "x")]);
        m.give(
            0,
            Input::Datagram {
                from: addr(3),
                bytes: b,
            },
        );
    }
    m.run_for(Duration::from_secs(5));
    let floor = m.nodes[0].event_floor();
    let cluster = m.nodes[2].event_clock();
    restart0(&mut m, 900, Config::lan());
    let ok = m.nodes[0].resume_events(floor);
    let now = m.now;
    m.nodes[0].join(&[addr(1)], now).unwrap();
    m.drain(0);
    m.run_for(Duration::from_secs(10));
    let mark = m.events.len();
    let mut first = None;
    for k in 0..100 {
        let at = m.events.len();
        m.fire(2, "after", b"");
        m.run_for(Duration::from_millis(300));
        if first.is_none() && m.delivered(at, 0, "after") == 1 {
            first = Some(k);
        }
    }
    m.run_for(Duration::from_secs(10));
    let d0 = m.delivered(mark, 0, "after");
    eprintln!(
        "persisted floor {floor} (accepted {ok}), cluster clock {cluster}: node 0 delivered {d0} of 100 \
         events after the restart; first delivered #{first:?}"
    );
    assert!(d0 >= 100 - 64, "{d0}");
}

// ---------------------------------------------------------------------
// Finding 3: AskedOf eviction (non-members first, then the busiest
// origin, then the earliest deadline) gamed by posing as the genuine
// origin: 64 forged queries naming "node-0" at node 0's real address
// (a live member) make node-0 the busiest origin, and of its queries the
// genuine one (5 s; waits 10 s) ends first: it is the one evicted.
// ---------------------------------------------------------------------

/// Returns whether node 1's response to node 0's genuine query is taken,
/// after `flood` forged queries naming `origin` at `origin_at`.
fn pose_as(plain_cluster: bool, origin: usize, flood: u64) -> (bool, usize) {
    let mut m = if plain_cluster {
        Mesh::plain(3)
    } else {
        Mesh::new(3)
    };
    m.run_for(Duration::from_secs(5));
    let now = m.now;
    let options = swim_core::QueryOptions {
        timeout: Some(Duration::from_secs(5)),
        ..swim_core::QueryOptions::default()
    };
    let id = m.nodes[0].query("uptime", b"", options, now).unwrap();
    m.drain(0);
    let mut stamp = None;
    let asked_at_1 = |m: &Mesh| {
        (m.events.iter())
            .any(|(n, e)| *n == 1 && matches!(e, Event::Query { id: x, .. } if *x == id))
    };
    let deadline = m.now + Duration::from_secs(3);
    while !(asked_at_1(&m) && stamp.is_some()) && m.now < deadline {
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
    assert!(asked_at_1(&m));
    let clock = stamp.unwrap();
    for k in 0..flood {
        let q = pb::Query {
            origin: name(origin).into_bytes().into(),
            origin_addr: wire_addr(addr(origin)),
            id: 7000 + k,
            timeout_ms: 300_000,
            body: Some(pb::query::Body::User(pb::UserQuery {
                name: "flood".into(),
                ..Default::default()
            })),
            clock: clock + 1,
        };
        let p = pb::Packet {
            version: pb::PROTOCOL_VERSION,
            from: b"node-2".to_vec().into(),
            user_queries: vec![q],
            ..Default::default()
        };
        let bytes: Bytes = if plain_cluster {
            p.encode_to_vec().into()
        } else {
            seal(&p.encode_to_vec())
        };
        m.give(
            1,
            Input::Datagram {
                from: addr(2),
                bytes,
            },
        );
    }
    let flooded = (m.events.iter())
        .filter(|(n, e)| *n == 1 && matches!(e, Event::Query { name, .. } if name == "flood"))
        .count();
    m.run_for(Duration::from_millis(100));
    let now = m.now;
    let r = m.nodes[1].respond("node-0", id, b"up", now);
    eprintln!(
        "plain={plain_cluster}, posing as node-{origin}: {flooded} forged queries handed to node 1; \
         its response to node 0's genuine query: {r:?}"
    );
    (r.is_ok(), flooded)
}

#[test]
fn holds_64_forged_queries_posing_as_another_member_leave_the_genuine_query() {
    for plain_cluster in [true, false] {
        let (ok, flooded) = pose_as(plain_cluster, 2, 64);
        assert!(flooded > 0);
        assert!(ok);
    }
}

#[test]
fn finding_64_forged_queries_posing_as_the_origin_evict_its_genuine_query() {
    let mut refused = vec![];
    for plain_cluster in [true, false] {
        let (ok, flooded) = pose_as(plain_cluster, 0, 64);
        assert!(flooded > 0, "the forged queries were taken (not vacuous)");
        if !ok {
            refused.push(plain_cluster);
        }
    }
    assert!(
        refused.is_empty(),
        "genuine response refused (plain?): {refused:?}"
    );
}

// ---------------------------------------------------------------------
// The quarter of a packet kept for user events: a forger keeps `pending`
// non-zero everywhere (one forged event every 100 ms to node 1, passed
// on by all), while 16 of 48 members crash at once. Measured: how long
// until every survivor holds all 16 dead, against no forger.
// ---------------------------------------------------------------------

fn crash_wave(forge: bool) -> Option<Duration> {
    let n = 48;
    let mut m = Mesh::new(n);
    m.run_for(Duration::from_secs(20));
    let crashed: Vec<usize> = (n - 16..n).collect();
    let mut k = 0u64;
    let payload = Bytes::from(vec![b'p'; 200]);
    let mut inject = |m: &mut Mesh| {
        if forge {
            let c = m.nodes[1].event_clock() + 1;
            let mut e = user_event(&format!("ghost-{}", k % 50), k, c, "noise");
            e.payload = payload.clone();
            k += 1;
            let b = sealed_events("node-2", vec![e]);
            m.give(
                1,
                Input::Datagram {
                    from: addr(2),
                    bytes: b,
                },
            );
        }
    };
    m.run_with(
        Duration::from_secs(10),
        Duration::from_millis(100),
        &mut inject,
    );
    for &c in &crashed {
        m.crashed[c] = true;
    }
    let start = m.now;
    let all_dead = |m: &Mesh| {
        (0..n - 16).all(|i| {
            crashed.iter().all(|&c| {
                m.nodes[i].member(&name(c)).is_none_or(|e| {
                    e.status == swim_core::Status::Dead || e.status == swim_core::Status::Left
                })
            })
        })
    };
    while m.now < start + Duration::from_secs(120) {
        m.run_with(
            Duration::from_millis(100),
            Duration::from_millis(100),
            &mut inject,
        );
        if all_dead(&m) {
            return Some(m.now - start);
        }
    }
    None
}

#[test]
fn holds_measured_a_forged_event_stream_slows_a_crash_wave_a_little() {
    let base = crash_wave(false);
    let forged = crash_wave(true);
    eprintln!("16 of 48 crash: every survivor holds them dead after {base:?}; with a forged event every 100 ms: {forged:?}");
    let (b, f) = (base.unwrap(), forged.expect("detected with the forger"));
    assert!(f.as_secs_f64() <= b.as_secs_f64() * 1.5 + 1.0);
}
