//! Review 18h: attacks on a89f120 (move candidates keyed by name and
//! address, `MoveNotice` to a live member's old address, `moved` ended
//! only by a move back or a new life).

mod common;

use common::mesh::{insider_packet, Mesh};
use common::stranger as evil;
use common::*;
use std::net::SocketAddr;
use std::time::Duration;
use swim_core::{Event, Input, Status};

use swim_proto as pb;

fn victim() -> SocketAddr {
    SocketAddr::from(([10, 251, 0, 9], 9_999))
}

/// Sealed `n`-node mesh: the insider sends node 0, from a spoofed source
/// <victim>, a packet as node-1 saying "node-1 alive, one higher, at
/// <victim>" (first-hand by its look). Bytes every node sends to the
/// victim within 5 s, the datagram's size, nodes holding node-1 at its
/// real address at the end.
fn first_hand_move_reflection(n: usize) -> (usize, usize, usize, usize) {
    let mut m = Mesh::new(n);
    m.run_for(Duration::from_secs(10));
    let inc = m.nodes[0].member("node-1").unwrap().incarnation;
    let bytes = insider_packet("node-1", vec![moved_to(1, inc + 1, victim())], vec![]);
    let size = bytes.len();
    let mark = m.sent.len();
    m.give(
        0,
        Input::Datagram {
            from: victim(),
            bytes,
        },
    );
    m.run_for(Duration::from_secs(5));
    let to_victim: Vec<_> = m.sent[mark..]
        .iter()
        .filter(|(_, a, _)| *a == victim())
        .collect();
    let bytes_out = to_victim.iter().map(|(_, _, b)| b.len()).sum();
    let held = (0..n)
        .filter(|&j| j != 1)
        .filter(|&j| {
            m.nodes[j]
                .member("node-1")
                .is_some_and(|x| x.addr == addr(1))
        })
        .count();
    (bytes_out, to_victim.len(), size, held)
}

/// Control: a move made first-hand from a spoofed source (the insider as
/// node-1 from <victim>) reaches the victim once (node 0's notice/probe),
/// not from every node (others check it, direct only, at most once), and
/// is refuted everywhere.
#[test]
fn control_a_spoofed_first_hand_move_reflects_at_most_twice() {
    for n in [8, 16, 32] {
        let (out, count, size, held) = first_hand_move_reflection(n);
        eprintln!("n={n}: {out} B in {count} datagrams to the victim for {size} B; {held}/{} hold node-1 at home", n - 1);
        assert!(out <= 2 * size && held == n - 1);
    }
}

/// Sealed 8-node mesh: the insider at <evil>, every `every`, sends node 0
/// "node-2 alive, one above what node 0 holds, at <evil>" and answers the
/// check as node-2 from <evil>. Runs `run`.
fn refutation_war(every: Duration, run: Duration) -> (u64, usize) {
    refutation_war_until(every, run, u64::MAX)
}

/// As [`refutation_war`], the insider quiet after `stop_ms`.
fn refutation_war_until(every: Duration, run: Duration, stop_ms: u64) -> (u64, usize) {
    let mut m = Mesh::new(8);
    m.run_for(Duration::from_secs(10));
    let mark = m.events.len();
    let smark = m.sent.len();
    let inc0 = m.nodes[2].member("node-2").unwrap().incarnation;
    let life0 = m.nodes[2].life();
    let mut flips = 0usize;
    let mut last = addr(2);
    let mut evil_ms = 0u64;
    let mut k = 0u64;
    let step_ms = 100u64;
    let per = every.as_millis() as u64 / step_ms;
    m.run_with(run, Duration::from_millis(step_ms), |m| {
        if k.is_multiple_of(per) && k * step_ms < stop_ms {
            let inc = m.nodes[0].member("node-2").unwrap().incarnation;
            let bytes = insider_packet("node-1", vec![moved_to(2, inc + 1, evil())], vec![]);
            m.give(
                0,
                Input::Datagram {
                    from: evil(),
                    bytes,
                },
            );
            let bytes = insider_packet("node-2", vec![], vec![]);
            m.give(
                0,
                Input::Datagram {
                    from: evil(),
                    bytes,
                },
            );
        }
        k += 1;
        let a = m.nodes[0].member("node-2").unwrap().addr;
        if a != last {
            flips += 1;
            last = a;
        }
        if a == evil() {
            evil_ms += step_ms;
        }
    });
    let ev = &m.events[mark..];
    let count = |f: &dyn Fn(&Event) -> bool| ev.iter().filter(|(_, e)| f(e)).count();
    let suspect = count(&|e| {
        matches!(e, Event::MemberSuspect { .. } | Event::MemberFailed { .. })
            && e.about().is_some_and(|x| x.name.as_str() == "node-2")
    });
    let conflicts = ev
        .iter()
        .filter(|(i, e)| *i == 2 && matches!(e, Event::NameConflict { .. }))
        .count();
    let to2 = m.sent[smark..]
        .iter()
        .filter(|(i, a, _)| *i == 0 && *a == addr(2))
        .count();
    let inc = m.nodes[2].member("node-2").unwrap().incarnation;
    let fin: Vec<_> = (0..8)
        .filter(|&j| j != 2)
        .map(|j| {
            let x = m.nodes[j].member("node-2").unwrap();
            (x.status, x.addr == addr(2))
        })
        .collect();
    eprintln!(
        "every {every:?} for {run:?}: node 0 flipped node-2 {flips}x, at evil {evil_ms} ms; \
         node-2 inc {inc0}->{inc}, life changed {}; {conflicts} NameConflict at node-2; \
         {suspect} suspect/failed of node-2; node0->node2 datagrams {to2}; end {fin:?}",
        life0 != m.nodes[2].life()
    );
    (evil_ms, flips)
}

// ---------------------------------------------------------------------------
// FINDING 1 (medium; insider on a sealed cluster, stranger on a plain one):
// the move notice loses the refutation war. The insider at <evil> sends
// node 0, once a second, "node-2 alive, one above what you hold, at
// <evil>" and answers the check as node-2 from <evil> (two ~60-byte
// datagrams a second). The first forged moves are refuted within 10 ms
// (notice -> node-2 outbids first-hand -> moved back). But node-2 counts
// an alive under its name at another address as a rival process: after
// CONFLICT_AFTER = 3 it declares a name conflict and refutes only at
// `conflict_pace`, 1 s doubling to 60 s (view.rs `about_self`). Meanwhile
// every later forgery while node 0 already holds <evil> is no move at all
// (same address, one higher: applied second-hand, no `MoveNotice`,
// node.rs `apply_all` / view.rs `revive` schedule it only when the
// address changes), so node 0's incarnation of node-2 climbs above
// node-2's own and node-2's own packets (lower) no longer bring it back.
// Nothing else does: node 0's direct probes go to <evil>, the ping-reqs
// reach node-2 at the real address (relays hold it), so node-2 is never
// suspected, and no accusation forces a refutation.
//
// Measured (8-node sealed mesh, 60 s): one forgery pair every 1 s: node 0
// holds node-2 at <evil> 53.7 s of 60 (flipped 17 times; refuted promptly
// for the first ~7 s, then stuck); every 200 ms: 58.9 s of 60. Node-2's
// incarnation 0 -> 51 (-> 299 at 200 ms). Zero suspicions of node-2.
// Single shot (control): back home within 10 ms. And it sticks without
// more traffic: ten pairs (10 s), then quiet: node 0 holds <evil> 115.7 s
// of 120 (to the end of the run; nothing ever sends the notice again, and
// node-2's own word is below the incarnation node 0 holds).
// While held there node 0 sends node-2's probes and gossip to the
// insider, who can ack them as node-2; and node 0 holds node-2 at an
// incarnation above its own, so other nodes' "node-2 dead" at node-2's
// real incarnation is ignored by node 0 (see the second test: a crashed
// node-2 stays alive at node 0).
//
// Responsible: swim-core/src/view.rs `about_self` (a forged move is
// paced like a clone: `conflict_pace`), view.rs `revive` (MoveNotice only
// when the address changes, not for a higher alive at an address the
// member is `moved` to), node.rs `notify_move`.
//
// Fix: while a member is `moved`, send the notice for every higher alive
// applied at the moved-to address too (bounded: once per probe interval
// per member), and have the member refute a notice it receives at its
// own address from a member without the conflict pacing (the notice
// proves peers hold the forged address, unlike a clone's gossip); or
// check a higher alive at a `moved` address like a move (direct only)
// and keep probing the trusted address (`Moved::from`) until the member
// is heard there or the move ends.
// ---------------------------------------------------------------------------

#[test]
fn repeated_forged_moves_do_not_keep_a_live_member_at_the_forgers_address() {
    let (held, flips) = refutation_war(Duration::from_secs(1), Duration::from_secs(60));
    assert!(
        held <= 20_000,
        "node 0 held node-2 at the forger's address {held} ms of 60 s ({flips} flips)"
    );
}

/// Control: a single forged move is refuted at once (the notice works).
#[test]
fn control_a_single_forged_move_is_refuted_at_once() {
    assert!(single_shot(60_000, 1).is_some_and(|ms| ms <= 1_000));
    assert!(single_shot(60_000, 5).is_some_and(|ms| ms <= 1_000));
}

/// One forged move of node-2 to <evil> at node 0, answered once: ms until
/// node 0 holds node-2 at home again (None: not within `run`).
fn single_shot(run_ms: u64, inc_step: u64) -> Option<u64> {
    let mut m = Mesh::new(8);
    m.run_for(Duration::from_secs(10));
    let inc = m.nodes[0].member("node-2").unwrap().incarnation;
    let bytes = insider_packet("node-1", vec![moved_to(2, inc + inc_step, evil())], vec![]);
    m.give(
        0,
        Input::Datagram {
            from: evil(),
            bytes,
        },
    );
    let bytes = insider_packet("node-2", vec![], vec![]);
    m.give(
        0,
        Input::Datagram {
            from: evil(),
            bytes,
        },
    );
    assert_eq!(m.nodes[0].member("node-2").unwrap().addr, evil());
    let mut back = None;
    let mut t = 0;
    m.run_with(
        Duration::from_millis(run_ms),
        Duration::from_millis(10),
        |m| {
            t += 10;
            if back.is_none() && m.nodes[0].member("node-2").unwrap().addr == addr(2) {
                back = Some(t);
            }
        },
    );
    eprintln!(
        "single shot (+{inc_step}): back after {back:?} ms; node-2 inc at 2: {}, at 0: {}",
        m.nodes[2].member("node-2").unwrap().incarnation,
        m.nodes[0].member("node-2").unwrap().incarnation
    );
    back
}

/// Finding 1, consequence: node-2 crashes at 20 s while the insider keeps
/// node 0 holding it at <evil> (a forgery pair every 1 s) and acks node
/// 0's pings there as node-2. After `run`: node 0's status of node-2 and
/// how many other live nodes hold it dead/suspect.
fn crash_hidden(forge: bool) -> (Status, bool, usize) {
    use common::mesh::seal;
    use prost::Message;
    let mut m = Mesh::new(8);
    m.run_for(Duration::from_secs(10));
    let mut k = 0u64;
    let mut smark = m.sent.len();
    m.run_with(Duration::from_secs(70), Duration::from_millis(100), |m| {
        if k == 100 {
            m.crashed[2] = true;
        }
        if forge && k.is_multiple_of(10) {
            let inc = m.nodes[0].member("node-2").unwrap().incarnation;
            let bytes = insider_packet("node-1", vec![moved_to(2, inc + 1, evil())], vec![]);
            m.give(
                0,
                Input::Datagram {
                    from: evil(),
                    bytes,
                },
            );
            let bytes = insider_packet("node-2", vec![], vec![]);
            m.give(
                0,
                Input::Datagram {
                    from: evil(),
                    bytes,
                },
            );
        }
        k += 1;
        let pings: Vec<u32> = m.sent[smark..]
            .iter()
            .filter(|(i, a, _)| *i == 0 && *a == evil())
            .filter_map(|(_, _, b)| common::mesh::open(b))
            .flat_map(|p| p.messages)
            .filter_map(|x| match x.body {
                Some(pb::message::Body::Ping(p)) => Some(p.seq),
                _ => None,
            })
            .collect();
        smark = m.sent.len();
        for seq in pings {
            let plain = pb::Packet {
                version: pb::PROTOCOL_VERSION,
                from: b"node-2".to_vec().into(),
                messages: vec![pb::Message {
                    body: Some(pb::message::Body::Ack(pb::Ack { seq })),
                }],
                ..Default::default()
            }
            .encode_to_vec();
            m.give(
                0,
                Input::Datagram {
                    from: evil(),
                    bytes: seal(&plain),
                },
            );
        }
    });
    let x = m.nodes[0].member("node-2").unwrap();
    let others = (1..8)
        .filter(|&j| j != 2)
        .filter(|&j| {
            m.nodes[j]
                .member("node-2")
                .is_none_or(|x| x.status != Status::Alive)
        })
        .count();
    eprintln!(
        "forge={forge}: node 0 holds node-2 {:?} at {} inc {}; {others}/6 others hold it down",
        x.status, x.addr, x.incarnation
    );
    (x.status, x.addr == evil(), others)
}

// Held, not fixed: an insider that answers at an address of its own for a
// member that crashed is that member wherever its moves are taken, as a
// process answering pings under any name is (SWIM judges liveness by
// answers, not by identity). The member stays `moved` at node 0: not
// first-hand there, its exchange answers checked; the 6 others, which
// dropped the move, hold it dead.
#[test]
#[ignore = "review18h: a crashed member stays alive at node 0 while the insider keeps it moved (held: an insider answering for a dead member is that member)"]
fn a_crashed_member_is_not_kept_alive_by_repeated_forged_moves() {
    let (status, at_evil, others) = crash_hidden(true);
    assert!(
        status != Status::Alive,
        "node 0 holds crashed node-2 {status:?} (at the forger's address: {at_evil}) 50 s after the crash; {others}/6 others hold it down"
    );
}

#[test]
fn control_a_crashed_member_is_found_dead_everywhere() {
    let (status, _, others) = crash_hidden(false);
    assert!(status != Status::Alive && others == 6);
}

fn new1() -> SocketAddr {
    SocketAddr::from(([10, 0, 1, 1], 7946))
}

fn step(
    node: &mut swim_core::Node,
    from: SocketAddr,
    bytes: swim_core::Bytes,
    ms: u64,
) -> Vec<swim_core::Output> {
    node.step(
        Input::Datagram { from, bytes },
        swim_core::Instant::from_millis(ms),
    )
    .collect()
}

fn pings_to(out: &[swim_core::Output], to: SocketAddr) -> usize {
    out.iter()
        .filter(|o| matches!(o, swim_core::Output::Datagram { to: t, .. } if *t == to))
        .count()
}

/// Node 0 of 4 (plain): member node-2 relays node-1's real move every
/// 200 ms for 5 s, while a flood (16 updates per packet every `period_ms`)
/// comes from node-3's own address as node-3 (a stranger spoofing a
/// member's address on a plain cluster, or an insider): `same_name` moves
/// of node-1 to many addresses, else made-up names. Pings to new1.
fn vouched_flood(flood: bool, same_name: bool, period_ms: u64) -> usize {
    use common::mesh::{fake, fake_addr};
    let mut node = joined_node(4, swim_core::Config::lan());
    let inc = node.member("node-1").unwrap().incarnation;
    let (mut k, mut pings, mut ms) = (0usize, 0usize, 10u64);
    while ms < 5_000 {
        if flood && ms % period_ms == 10 {
            let ups = (0..16)
                .map(|_| {
                    k += 1;
                    if same_name {
                        moved_to(1, inc + 1, fake_addr(k % 60_000))
                    } else {
                        fake(k % 60_000)
                    }
                })
                .collect();
            step(&mut node, addr(3), plain_packet("node-3", ups), ms);
        }
        if ms % 200 == 110 {
            let out = step(
                &mut node,
                addr(2),
                packet(2, vec![], vec![moved_to(1, inc + 1, new1())]),
                ms,
            );
            pings += pings_to(&out, new1());
        }
        let out: Vec<_> = node
            .step(Input::Tick, swim_core::Instant::from_millis(ms))
            .collect();
        pings += pings_to(&out, new1());
        ms += 50;
    }
    pings
}

/// Control: a member's (or a spoofer of its address's) flood of made-up
/// names or of one name at many addresses (the (name, address) keying)
/// does not starve another member's relay of a real move: 9 pings to new1
/// in 5 s with or without the flood.
#[test]
fn control_a_vouched_flood_does_not_block_a_relayed_real_move() {
    let base = vouched_flood(false, false, 50);
    for (same, period) in [(false, 50), (true, 50), (true, 200)] {
        let n = vouched_flood(true, same, period);
        eprintln!("flood same_name={same} every {period} ms: {n} pings (no flood: {base})");
        assert!(
            n >= base.min(5),
            "{n} pings under the flood, {base} without"
        );
    }
}

/// Finding 1, persistence: ten forgery pairs (one a second for 10 s),
/// then the insider is quiet; node 0 still holds node-2 at <evil> to the
/// end of the 120 s run (measured 115.7 s of 120; quiet after 40 s:
/// 114.4 s; quiet after 20 s happened to end on a refutation: 14.4 s).
#[test]
fn a_short_burst_of_forged_moves_does_not_stick_after_it_stops() {
    let (held, flips) =
        refutation_war_until(Duration::from_secs(1), Duration::from_secs(120), 10_000);
    assert!(
        held <= 30_000,
        "node 0 held node-2 at the forger's address {held} ms of 120 s, the last 110 s without a forgery ({flips} flips)"
    );
}

/// Sealed 8-node mesh: as the war (one forgery pair a second to node 0
/// for `stop_ms`), but the insider also answers, as node-2 from <evil>,
/// every other node (so their checks of node 0's gossip of the move are
/// admitted). After 120 s: how many of the 7 others hold node-2 at <evil>.
fn cluster_hijack(stop_ms: u64) -> usize {
    let mut m = Mesh::new(8);
    m.run_for(Duration::from_secs(10));
    let mut k = 0u64;
    m.run_with(Duration::from_secs(120), Duration::from_millis(100), |m| {
        if k.is_multiple_of(10) && k * 100 < stop_ms {
            let inc = m.nodes[0].member("node-2").unwrap().incarnation;
            let bytes = insider_packet("node-1", vec![moved_to(2, inc + 1, evil())], vec![]);
            m.give(
                0,
                Input::Datagram {
                    from: evil(),
                    bytes,
                },
            );
        }
        if k.is_multiple_of(5) && k * 100 < stop_ms + 5_000 {
            for j in (0..8).filter(|&j| j != 2) {
                let bytes = insider_packet("node-2", vec![], vec![]);
                m.give(
                    j,
                    Input::Datagram {
                        from: evil(),
                        bytes,
                    },
                );
            }
        }
        k += 1;
    });
    let held: Vec<_> = (0..8)
        .filter(|&j| j != 2)
        .map(|j| m.nodes[j].member("node-2").unwrap().addr == evil())
        .collect();
    eprintln!("cluster hijack, quiet after {stop_ms} ms: at <evil> at end: {held:?}");
    held.iter().filter(|&&x| x).count()
}

/// Control: answering every node's check spreads the move, but every node
/// that takes it sends a notice, and node-2's refutations bring all back
/// (0 of 7 at <evil> at the end, quiet after 10 s or 60 s). (Oddly, node 0
/// too: the finding needs the insider to answer node 0 alone.)
#[test]
fn control_a_cluster_wide_forged_move_is_refuted() {
    assert_eq!(cluster_hijack(10_000), 0);
    assert_eq!(cluster_hijack(60_000), 0);
}
