//! Review of issue 18 (review18b): attacks by an *insider* holding the
//! cluster key (it can seal any datagram or frame and forge any origin or
//! name), and by a *restarted* process. Each test measures one attack;
//! those marked `// FAILS on main:` are findings (they fail on the code
//! they were written against and pass once it is fixed); the others show
//! a defence that holds.
//!
//! Sealing adds nothing against an insider (it holds the key), so attacks
//! on a single node are made in the clear where the sealing would only
//! add an envelope; attacks on queries (which travel only sealed) are
//! sealed under the cluster key.

mod common;

use common::mesh::*;
use common::*;
use prost::Message;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use swim_core::{Bytes, Config, Input, Instant, KeyringOp, Node, Output, Status};
use swim_proto as pb;

// ---------------------------------------------------------------------
// Persona 1: insider holding the cluster key.
// ---------------------------------------------------------------------

/// Incarnation ratchet across datagrams: each datagram may move a
/// member's incarnation 2^32 past what the receiver held before it, and
/// the next datagram starts from the new value. Two sealed datagrams to
/// each node (alive at +2^32 at node-2's own address, then dead at
/// +2^33). PASSES on main (the defence holds): node-2 adopts the forged
/// alive at its own address (its incarnation becomes 2^32) and refutes
/// the death; 0 of 5 nodes hold it dead after 60 s.
#[test]
fn insider_incarnation_ratchet_across_datagrams_cannot_hold_a_live_member_dead() {
    let mut m = Mesh::new(6);
    m.run_for(Duration::from_secs(5));
    let victim = 2usize;
    let jump = 1u64 << 32;
    for j in [0usize, 1, 3, 4, 5] {
        let held = m.nodes[j].member(&name(victim)).unwrap().incarnation;
        let up = |inc: u64, status: pb::Status| pb::Update {
            name: name(victim).into_bytes().into(),
            addr: wire_addr(addr(victim)),
            incarnation: inc,
            status: status as i32,
            from: name(5).into_bytes().into(),
            life: 0,
            ..Default::default()
        };
        for u in [
            up(held + jump, pb::Status::Alive),
            up(held + 2 * jump, pb::Status::Dead),
        ] {
            let bytes = insider_packet(&name(5), vec![u], vec![]);
            m.give(
                j,
                Input::Datagram {
                    from: addr(5),
                    bytes,
                },
            );
        }
    }
    m.run_for(Duration::from_secs(60));
    let wrong: Vec<(usize, Status, u64)> = [0usize, 1, 3, 4, 5]
        .into_iter()
        .filter_map(|j| {
            let mm = m.nodes[j].member(&name(victim))?;
            (mm.status != Status::Alive).then_some((j, mm.status, mm.incarnation))
        })
        .collect();
    eprintln!(
        "ratchet: node-2 not alive at {} of 5 nodes after 60 s: {wrong:?}; node-2's own incarnation {}",
        wrong.len(),
        m.nodes[victim].local().incarnation
    );
    assert!(
        wrong.is_empty(),
        "an insider's 2 datagrams per node hold the live node-2 dead: {wrong:?}"
    );
}

/// The same ratchet moving a live member's address to one the insider
/// chose (three datagrams: +2^32, then +2^33 at the new address).
///
// FAILS on main: 4 of 5 nodes (all but node-5, whose name the forger
// used as sender) hold node-2 dead at the insider's address 192.0.2.9
// after 60 s; node-2 never gets back (an alive 2^33 above its own is out
// of its reach; a forger answering at that address would keep it "alive"
// there instead). Responsible: swim-core/src/view.rs `View::apply`
// (`plausible(.., base)`, `base` = value before *this* packet only) and
// `about_self` (a rival alive at another address 2^33 up is implausible,
// so never outbid). Fix: bound an address change / jump by the
// incarnation the member itself last confirmed (its own packet from its
// address), or allow at most one 2^32 jump per member per probe interval.
#[test]
fn insider_incarnation_ratchet_moves_a_live_members_address() {
    let mut m = Mesh::new(6);
    m.run_for(Duration::from_secs(5));
    let victim = 2usize;
    let elsewhere = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 9), 7946));
    let jump = 1u64 << 32;
    for j in [0usize, 1, 3, 4, 5] {
        let held = m.nodes[j].member(&name(victim)).unwrap().incarnation;
        let up = |inc: u64, at: SocketAddr| pb::Update {
            name: name(victim).into_bytes().into(),
            addr: wire_addr(at),
            incarnation: inc,
            status: pb::Status::Alive as i32,
            from: Bytes::new(),
            life: 0,
            ..Default::default()
        };
        for u in [
            up(held + jump, addr(victim)),
            up(held + 2 * jump, elsewhere),
        ] {
            let bytes = insider_packet(&name(5), vec![u], vec![]);
            m.give(
                j,
                Input::Datagram {
                    from: addr(5),
                    bytes,
                },
            );
        }
    }
    m.run_for(Duration::from_secs(60));
    let moved: Vec<(usize, Status, SocketAddr)> = [0usize, 1, 3, 4, 5]
        .into_iter()
        .filter_map(|j| {
            let mm = m.nodes[j].member(&name(victim))?;
            (mm.addr != addr(victim) || mm.status != Status::Alive)
                .then_some((j, mm.status, mm.addr))
        })
        .collect();
    eprintln!(
        "address ratchet: node-2 moved or not alive at {} of 5: {moved:?}",
        moved.len()
    );
    assert!(moved.is_empty(), "node-2 displaced: {moved:?}");
}

/// A chain inside one datagram cannot climb (the defence holds): 16
/// updates about node-2 in one sealed datagram, each 2^32 above the last,
/// move nothing past the first step.
#[test]
fn insider_chain_within_one_datagram_does_not_climb() {
    let mut node = joined_node(4, Config::lan());
    let jump = 1u64 << 32;
    let chain: Vec<pb::Update> = (1..=16u64)
        .map(|k| pb::Update {
            status: if k == 16 {
                pb::Status::Dead
            } else {
                pb::Status::Alive
            } as i32,
            from: name(3).into_bytes().into(),
            ..alive(2, 1 + k * jump)
        })
        .collect();
    let _ = receive(&mut node, 3, packet(3, vec![], chain), Instant::ZERO);
    let m = node.member(&name(2)).unwrap();
    eprintln!(
        "chain in one datagram: node-2 at {:?} inc {}",
        m.status, m.incarnation
    );
    assert!(m.incarnation <= 1 + jump);
    assert_eq!(m.status, Status::Alive);
}

fn fakes_held(node: &Node) -> usize {
    node.members()
        .filter(|m| m.name.starts_with("fake-"))
        .count()
}

/// The answer to an exchange the node opened (a catch-up pulled from a
/// member) is believed whole: the insider, the member asked, answers with
/// 10,000 made-up members (no check, no candidate stage).
///
// FAILS on main: 4,096 fakes taken as members from one 258,927-byte
// answer (the cap is the node-wide exchange share); they ride in every
// full state the node sends. Re-triggering: 1 catch-up in 20 s, so the
// figure stays 4,096 per exchange.
// Responsible: swim-core/src/exchange.rs / node.rs handling of an
// answered exchange (the node-wide exchange share of 4,096). Fix: treat
// members in an exchange answer that the node did not already hold as
// candidates (checked like gossip), except in the answer to a join.
#[test]
fn insider_answer_to_an_exchange_plants_members() {
    let mut node = joined_node(2, Config::lan());
    let _ = node.poll_outputs().count();
    // A stranger's datagram makes node 0 pull state from a member it
    // knows: node-1, the insider.
    let out = receive(
        &mut node,
        5_000,
        viewed_packet(5_000, vec![], vec![], 3_000),
        Instant::from_millis(10_000),
    );
    let (id, to) = out
        .iter()
        .find_map(|o| match o {
            Output::StreamOpen { id, to } => Some((*id, *to)),
            _ => None,
        })
        .expect("a catch-up");
    assert_eq!(to, addr(1));
    let answer = pb::StreamFrame {
        version: pb::PROTOCOL_VERSION,
        cluster: String::new(),
        from: name(1).into_bytes().into(),
        push_pull: Some(pb::PushPull {
            members: std::iter::once(alive(1, 1))
                .chain((0..10_000).map(fake))
                .collect(),
            ..Default::default()
        }),
    };
    let bytes: Bytes = answer.encode_to_vec().into();
    let sent = bytes.len();
    let _ = node
        .step(
            Input::StreamFrame {
                id,
                from: to,
                bytes,
            },
            Instant::from_millis(10_010),
        )
        .count();
    let planted = fakes_held(&node);
    eprintln!("exchange answer: {sent} bytes, {planted} fakes taken as members");
    assert!(
        planted <= 64,
        "{planted} made-up members planted by one answer"
    );
}

/// Reflection through candidate checks: a member's datagram naming made-up
/// members makes the node ping each (paid from the datagram's size, at
/// most 2x) and, when they do not answer, ask `k` relays to ping-req each.
/// What does the node send in all, against what the insider sent?
///
// FAILS on main: 4 datagrams of 16 fakes (1,598 B) draw 64 pings + 192
// ping-reqs = 10,840 B from the node alone (6.78x; the README says a
// member's packet draws at most 2x in such pings: the ping-reqs of the
// indirect stage are not counted). Responsible: swim-core/src/node.rs candidate
// indirect stage (ping-reqs for candidates are not charged to the
// packet's budget). Fix: charge the indirect stage to the same budget,
// or skip it for candidates past the budget.
#[test]
fn insider_candidate_checks_with_relays_stay_within_twice_the_bytes() {
    let config = Config {
        reconnect_interval: Duration::ZERO,
        ..Config::lan()
    };
    let mut node = joined_node(16, config);
    let t0 = Instant::from_millis(100);
    let _ = idle_until(&mut node, Instant::ZERO, t0);
    let mut sent_by_insider = 0;
    let mut out = Vec::new();
    for s in 0..4 {
        let bytes = packet(3 + s, vec![], (64 * s..64 * s + 16).map(fake).collect());
        sent_by_insider += bytes.len();
        out.extend(receive(&mut node, 3 + s, bytes, t0));
    }
    out.extend(idle_until(&mut node, t0, t0 + Duration::from_secs(3)));
    let (pings, reqs, bytes) = checks(&out);
    let ratio = bytes as f64 / sent_by_insider as f64;
    eprintln!(
        "candidate checks: insider {sent_by_insider} B; node sent {pings} pings + {reqs} ping-reqs = {bytes} B ({ratio:.2}x)"
    );
    assert!(ratio <= 2.0, "{ratio:.2}x");
}

fn idle_until(node: &mut Node, from: Instant, until: Instant) -> Vec<Output> {
    let mut out = Vec::new();
    let mut now = from;
    while now < until {
        now = node.poll_timeout().unwrap_or(until).min(until);
        out.extend(node.step(Input::Tick, now));
    }
    out
}

/// Starving genuine new members: the insider sends, every 100 ms, news of
/// 64 made-up members from each of 8 spoofed source addresses (the
/// allowance of each). A genuine new member (node-40), announced by a
/// member at its own address, should still be checked (pinged) or caught
/// up (an exchange with a member) within 10 s.
///
// FAILS on main: node-40 is never pinged in the 9.5 s after its news; 0
// catch-ups opened; 889 fake candidates taken, 50,312 news refused.
// (Mitigation: node-40's own probe of the node admits it at once, so this
// delays admission by gossip, up to a probe round of node-40.)
// Responsible: swim-core/src/candidate.rs CHECK_BURST / CHECKS_PER_INTERVAL
// are node-wide and first come first served. Fix: reserve check slots for
// news from members at their own addresses (or share per source).
#[test]
fn insider_flood_of_candidates_does_not_starve_a_genuine_new_member() {
    let mut node = joined_node(16, Config::lan());
    let mut now = Instant::from_millis(100);
    let end = now + Duration::from_secs(10);
    let mut round = 0usize;
    let mut pinged = false;
    let mut caught_up = 0;
    let mut announced = false;
    while now < end {
        // The flood, from spoofed sources that are not members.
        for s in 0..8 {
            let src = 1_000 + (round * 8 + s) % 4_000;
            let first = (round * 8 + s) * 64 % 60_000;
            for half in 0..2 {
                let f = first + 32 * half;
                let bytes = viewed_packet(src, vec![], (f..f + 32).map(fake).collect(), 16);
                let out = receive(&mut node, src, bytes, now);
                caught_up += out
                    .iter()
                    .filter(|o| matches!(o, Output::StreamOpen { .. }))
                    .count();
            }
        }
        // The genuine news, after the flood started: node-3 gossips node-40.
        if round == 5 && !announced {
            announced = true;
            let out = receive(&mut node, 3, packet(3, vec![], vec![alive(40, 1)]), now);
            pinged |= out
                .iter()
                .any(|o| matches!(o, Output::Datagram { to, .. } if *to == addr(40)));
        }
        let next = now + Duration::from_millis(100);
        let out = idle_until(&mut node, now, next);
        if announced {
            pinged |= out
                .iter()
                .any(|o| matches!(o, Output::Datagram { to, .. } if *to == addr(40)));
        }
        caught_up += out
            .iter()
            .filter(|o| matches!(o, Output::StreamOpen { .. }))
            .count();
        now = next;
        round += 1;
    }
    let m = node.metrics();
    eprintln!(
        "candidate flood: genuine pinged {pinged}; catch-ups opened {caught_up}; candidates {} refused {} capped {}",
        m.candidates, m.candidates_refused, m.members_capped
    );
    assert!(pinged, "the genuine new member was never checked");
}

/// The query flood that keeps every node's pass-on queue full (32 queries
/// of made-up origins, 4 each, refreshed every 100 ms at every node): a
/// real `keys install` from node-0 is carried out where it is heard but
/// passed on by nobody but its origin. How many of 23 members install it
/// within 10 s?
///
// FAILS on main: 15 of 23 members installed the key; 8 missed it (99,090
// queries refused to pass on). The pass-on queue is node-wide,
// MAX_QUEUED = 32, first come first served.
// Responsible: swim-core/src/query.rs `Queries::heard` (refused =
// queue.len() >= MAX_QUEUED). Fix: give queries of members the node
// holds (at their membership address) precedence over made-up origins,
// or evict a made-up origin's query for a member's.
#[test]
fn insider_query_flood_does_not_keep_a_key_install_from_spreading() {
    let n = 24;
    let flood = |m: &mut Mesh, round: &mut u64| {
        *round += 1;
        for j in 1..n {
            for half in 0..2u64 {
                let qs = (0..16u64)
                    .map(|k| {
                        let o = format!("ghost-{}", (half * 16 + k) / 4);
                        let id = (*round << 20) | (j as u64) << 8 | (half * 16 + k);
                        list_query(&o, SocketAddr::from(([192, 0, 2, 1], 1)), id, 0)
                    })
                    .collect();
                let bytes = insider_packet(&name(1), vec![], qs);
                m.give(
                    j,
                    Input::Datagram {
                        from: addr(1),
                        bytes,
                    },
                );
            }
        }
    };
    // Control: without the flood, every member installs it.
    let mut c = Mesh::new(n);
    c.run_for(Duration::from_secs(10));
    c.op(0, KeyringOp::Install(key(2)));
    c.run_for(Duration::from_secs(10));
    assert!((1..n).all(|i| c.holds(i, 2)), "the control run");
    let mut m = Mesh::new(n);
    m.run_for(Duration::from_secs(8));
    let mut round = 0;
    m.run_with(Duration::from_secs(2), Duration::from_millis(100), |m| {
        flood(m, &mut round)
    });
    m.op(0, KeyringOp::Install(key(2)));
    m.run_with(Duration::from_secs(10), Duration::from_millis(100), |m| {
        flood(m, &mut round)
    });
    let missing: Vec<usize> = (1..n).filter(|&i| !m.holds(i, 2)).collect();
    let refused: u64 = m.nodes.iter().map(|x| x.metrics().queries_refused).sum();
    eprintln!(
        "query flood: {} of {} members installed the key; missing {missing:?}; refused to pass on {refused}",
        n - 1 - missing.len(),
        n - 1
    );
    assert!(
        missing.is_empty(),
        "{} members missed the install",
        missing.len()
    );
}

/// The query clock ratchet: every query of a datagram may move the clock
/// 2^20 (MAX_CLOCK_JUMP) past the last, so one sealed datagram of 28
/// chained queries moves it 28 * 2^20; at 2^48 (MAX_CLOCK) every query is
/// dropped as implausible, for good, cluster-wide (the clock is never
/// lowered and spreads at every exchange). How many datagrams to get
/// there?
///
// FAILS on main: 33 chained queries a datagram move the clock 36,438,016
// a datagram: 2^48 in 7,724,761 datagrams (about 13 minutes at 10k
// datagrams/s; then no key operation is ever carried out again). Responsible: swim-core/src/query.rs `Queries::heard`
// (jump bounded against the clock as moved by the previous query of the
// same packet). Fix: bound a packet's jumps from the clock before the
// packet (as incarnations are), and make MAX_CLOCK out of reach (e.g.
// 2^62) or let the clock wrap in a serial-number order.
#[test]
fn insider_queries_walk_the_query_clock_towards_max() {
    let mut m = Mesh::new(3);
    m.run_for(Duration::from_secs(5));
    let before = m.clock_of(1, Duration::from_millis(500));
    let packets = 20u64;
    let mut clock = before;
    let mut per_packet = 0;
    for p in 0..packets {
        let mut qs = Vec::new();
        loop {
            let next = clock + (1 << 20) - 1;
            qs.push(list_query(
                &format!("ghost-{p}-{}", qs.len()),
                SocketAddr::from(([192, 0, 2, 1], 1)),
                1 + p * 1000 + qs.len() as u64,
                next,
            ));
            let size = insider_packet(&name(2), vec![], qs.clone()).len();
            if size > 1_350 {
                qs.pop();
                break;
            }
            clock = next + 1;
        }
        per_packet = qs.len();
        let bytes = insider_packet(&name(2), vec![], qs);
        m.give(
            1,
            Input::Datagram {
                from: addr(2),
                bytes,
            },
        );
    }
    let mm = m.nodes[1].metrics();
    eprintln!(
        "node 1 after the ratchet: dropped {:?}; stale {} refused {} unanswered {}",
        mm.dropped, mm.queries_stale, mm.queries_refused, mm.queries_unanswered
    );
    let after = m.clock_of(1, Duration::from_millis(500));
    let rise = after.saturating_sub(before) / packets;
    let to_max = (1u64 << 48) / rise.max(1);
    eprintln!(
        "query clock: {per_packet} queries a datagram; {before} -> {after}; {rise} per datagram; 2^48 in {to_max} datagrams"
    );
    assert!(
        to_max >= 1u64 << 40,
        "an insider exhausts the query clock in {to_max} datagrams"
    );
}

// ---------------------------------------------------------------------
// Persona 2: a restarted process (kill -9, same name and keyring).
// ---------------------------------------------------------------------

/// Node 0 runs a few key operations (the cluster clock moves); node 2
/// restarts and rejoins (its floor is the clock then). Then node 0 is
/// killed and restarted, and its operator runs `keys install` at once,
/// before the rejoin exchange has answered (the agent's control API is
/// up from the start). The query is stamped with a clock of 0.
///
// FAILS on main: node 2 never installs the key (32 queries counted
// stale); nodes 0 and 1 do. The agent does not show it (see
// swim-tokio/tests/operator.rs, which passes: by the time the CLI's
// request is served the rejoin has answered), so it bites library users
// of `Node::keyring_op`. Responsible: swim-core/src/node.rs `Node::keyring_op` starts a
// query before the clock is learned. Fix: refuse (Error::NotJoined-like)
// or hold the query until `Queries::learned()`.
#[test]
fn restarted_member_key_install_right_after_restart_reaches_everyone() {
    let mut m = Mesh::new(3);
    m.run_for(Duration::from_secs(3));
    for _ in 0..5 {
        m.op(0, KeyringOp::List);
        m.run_for(Duration::from_secs(1));
    }
    // Node 2 restarts: it learns the clock (its floor).
    m.nodes[2] = sealed_node(2, 777);
    m.queue.retain(|(_, to, _)| *to != 2);
    m.join(2);
    m.run_for(Duration::from_secs(5));
    // kill -9 of node 0; a new process, same name, same keyring.
    m.nodes[0] = sealed_node(0, 888);
    m.queue.retain(|(_, to, _)| *to != 0);
    let now = m.now;
    m.nodes[0].join(&[addr(1)], now).unwrap();
    m.op(0, KeyringOp::Install(key(2)));
    m.run_for(Duration::from_secs(10));
    let holds: Vec<bool> = (0..3).map(|i| m.holds(i, 2)).collect();
    let stale: u64 = m.nodes.iter().map(|x| x.metrics().queries_stale).sum();
    eprintln!("restart then install at once: held by {holds:?}; stale {stale}");
    assert!(
        holds.iter().all(|&h| h),
        "the first key operation after a restart was not carried out everywhere: {holds:?}"
    );
}

/// The same, with the operation run once the rejoin exchange answered:
/// the defence holds (the restarted node learned the clock).
#[test]
fn restarted_member_key_install_after_rejoin_reaches_everyone() {
    let mut m = Mesh::new(3);
    m.run_for(Duration::from_secs(3));
    for _ in 0..5 {
        m.op(0, KeyringOp::List);
        m.run_for(Duration::from_secs(1));
    }
    m.nodes[2] = sealed_node(2, 777);
    m.queue.retain(|(_, to, _)| *to != 2);
    m.join(2);
    m.run_for(Duration::from_secs(5));
    m.nodes[0] = sealed_node(0, 888);
    m.queue.retain(|(_, to, _)| *to != 0);
    let now = m.now;
    m.nodes[0].join(&[addr(1)], now).unwrap();
    m.drain(0);
    m.run_for(Duration::from_secs(3));
    m.op(0, KeyringOp::Install(key(2)));
    m.run_for(Duration::from_secs(10));
    let holds: Vec<bool> = (0..3).map(|i| m.holds(i, 2)).collect();
    assert!(holds.iter().all(|&h| h), "{holds:?}");
}

/// A restarted member: old captured membership datagrams (a `dead` about
/// node-1 made in node-1's previous life, node-1's old alive) replayed
/// after node-1 restarted and rejoined change nothing.
#[test]
fn restarted_member_old_datagrams_replayed_change_nothing() {
    let mut m = Mesh::new(4);
    m.run_for(Duration::from_secs(5));
    let mark = m.sent.len();
    m.run_for(Duration::from_secs(5));
    let captured: Vec<(SocketAddr, Bytes, usize)> = m.sent[mark..]
        .iter()
        .map(|(f, to, b)| (addr(*f), b.clone(), Mesh::index(*to).unwrap_or(99)))
        .filter(|(_, _, to)| *to < 4)
        .collect();
    m.nodes[1] = sealed_node(1, 4242);
    m.queue.retain(|(_, to, _)| *to != 1);
    m.join(1);
    m.run_for(Duration::from_secs(10));
    for (from, bytes, to) in &captured {
        m.give(
            *to,
            Input::Datagram {
                from: *from,
                bytes: bytes.clone(),
            },
        );
    }
    m.run_for(Duration::from_secs(20));
    let bad: Vec<(usize, usize)> = (0..4)
        .flat_map(|i| (0..4).map(move |j| (i, j)))
        .filter(|&(i, j)| {
            i != j && m.nodes[i].member(&name(j)).map(|x| x.status) != Some(Status::Alive)
        })
        .collect();
    eprintln!(
        "replay after restart: {} captured datagrams; wrong views {bad:?}",
        captured.len()
    );
    assert!(bad.is_empty(), "{bad:?}");
}

fn bytes_out(out: &[Output]) -> usize {
    out.iter()
        .map(|o| match o {
            Output::Datagram { bytes, .. } => bytes.len(),
            _ => 0,
        })
        .sum()
}

/// Reflection through ping-req relays: one datagram of 12 ping-reqs (each
/// wanting a nack) naming members, from a spoofed victim address (a
/// member's name, not at its address) and from the member's own address.
/// What do the node and the targets send, in all, against it?
///
// FAILS on main: node + targets send 2.57x the bytes of the spoofed
// datagram (plain; the node alone 1.93x, within its bound: the targets'
// acks are not counted); from the member's own address 3.10x (node alone
// 2.47x). Sealed, each of the 24 extra datagrams carries the
// seal's overhead, so the ratio is higher). Responsible:
// swim-core/src/node.rs ping-req handling (the relay's budget counts only
// its own replies). Fix: charge the relay's budget for the expected ack
// of each ping it sends for a requester that is not a member at its own
// address (or cap ping-reqs per packet from such a source to 1).
#[test]
fn insider_ping_req_reflection_stays_within_twice_the_bytes() {
    let mut ratios = Vec::new();
    for spoofed in [true, false] {
        let config = Config {
            reconnect_interval: Duration::ZERO,
            probe_interval: Duration::from_secs(600),
            ..Config::lan()
        };
        let mut node = joined_node(16, config);
        let t0 = drain_gossip(&mut node, Instant::ZERO, Instant::from_millis(60_000));
        let _ = node.poll_outputs().count();
        let reqs = (4..16)
            .map(|i| {
                pb::message::Body::PingReq(pb::PingReq {
                    seq: 100 + i as u32,
                    target: name(i).into_bytes().into(),
                    target_addr: wire_addr(addr(i)),
                    want_nack: true,
                })
            })
            .collect();
        let bytes = packet(3, reqs, vec![]);
        let sent = bytes.len();
        let from = if spoofed {
            SocketAddr::from(([192, 0, 2, 50], 7946))
        } else {
            addr(3)
        };
        let mut out: Vec<Output> = node.step(Input::Datagram { from, bytes }, t0).collect();
        // The targets answer the node's pings (their acks count too).
        let mut acks = 0;
        for o in &out {
            if let Output::Datagram { to, bytes: b } = o {
                if let Ok(p) = pb::Packet::decode(b.clone()) {
                    for m in p.messages {
                        if let Some(pb::message::Body::Ping(pg)) = m.body {
                            acks += packet(
                                0,
                                vec![pb::message::Body::Ack(pb::Ack { seq: pg.seq })],
                                vec![],
                            )
                            .len();
                            let _ = to;
                        }
                    }
                }
            }
        }
        let t1 = t0 + Duration::from_millis(2);
        out.extend(answer_pings_collect(&mut node, &out.clone(), t1));
        out.extend(idle_until(&mut node, t1, t0 + Duration::from_secs(2)));
        let total = bytes_out(&out) + acks;
        let mut by_to: BTreeMap<SocketAddr, (usize, usize)> = BTreeMap::new();
        for o in &out {
            if let Output::Datagram { to, bytes: b } = o {
                let e = by_to.entry(*to).or_default();
                e.0 += 1;
                e.1 += b.len();
            }
        }
        eprintln!("  sent by destination: {by_to:?}");
        let ratio = total as f64 / sent as f64;
        eprintln!(
            "ping-req reflection (spoofed {spoofed}): {sent} B in, node {} B + targets {acks} B out ({ratio:.2}x)",
            bytes_out(&out)
        );
        ratios.push((spoofed, ratio));
    }
    assert!(ratios.iter().all(|r| r.1 <= 2.0), "{ratios:?}");
}

/// Like `answer_pings`, returning what the node sent in reply.
fn answer_pings_collect(node: &mut Node, out: &[Output], now: Instant) -> Vec<Output> {
    let mut replies = Vec::new();
    for o in out {
        let Output::Datagram { to, bytes } = o else {
            continue;
        };
        let Ok(p) = pb::Packet::decode(bytes.clone()) else {
            continue;
        };
        for m in p.messages {
            let Some(pb::message::Body::Ping(ping)) = m.body else {
                continue;
            };
            let Some(i) = std::str::from_utf8(&ping.target)
                .ok()
                .and_then(|t| t.strip_prefix("node-"))
                .and_then(|t| t.parse::<usize>().ok())
                .filter(|&i| addr(i) == *to)
            else {
                continue;
            };
            let ack = packet(
                i,
                vec![pb::message::Body::Ack(pb::Ack { seq: ping.seq })],
                vec![],
            );
            replies.extend(receive(node, i, ack, now));
        }
    }
    replies
}

/// Replay without a restart: a captured sealed `keys install K2`, then
/// `keys remove K2`; later the origin runs `keys list` 140 times (a
/// monitoring job: one every 5 minutes is 12 hours). Each node remembers
/// at most 128 queries of one origin (MAX_SEEN_PER_ORIGIN) and forgets the
/// oldest; the floor is the clock learned at join. Replayed then, by
/// anyone who captured it (no key needed), is the install carried out
/// again?
///
// FAILS on main: node 1 and node 2 re-install K2 (the forgotten
// (origin, id) is new again and its stamp is above the floor).
// Responsible: swim-core/src/query.rs `Queries::remember`/`forget`
// (forgetting a query forgets that it ran). Fix: when a query is
// forgotten, raise a per-origin floor to its stamp (ignore that origin's
// queries stamped at or below it), or the node-wide floor to the oldest
// stamp still remembered.
#[test]
fn replayed_key_install_after_the_seen_table_rolls_over() {
    let mut m = Mesh::new(3);
    m.run_for(Duration::from_secs(5));
    let mark = m.sent.len();
    m.op(0, KeyringOp::Install(key(2)));
    m.run_for(Duration::from_secs(4));
    assert!(m.holds(1, 2) && m.holds(2, 2));
    let captured: Vec<Bytes> = m.sent[mark..]
        .iter()
        .filter(|(from, _, _)| *from == 0)
        .map(|(_, _, b)| b.clone())
        .collect();
    m.op(0, KeyringOp::Remove(key(2).id()));
    m.run_for(Duration::from_secs(11));
    assert!(!m.holds(1, 2) && !m.holds(2, 2), "the remove reached both");
    // Control: replayed now, it is a repeat and does nothing.
    for bytes in &captured {
        let from = SocketAddr::from(([192, 0, 2, 77], 7946));
        m.give(
            1,
            Input::Datagram {
                from,
                bytes: bytes.clone(),
            },
        );
    }
    m.run_for(Duration::from_secs(1));
    assert!(!m.holds(1, 2), "the control replay");
    for _ in 0..140 {
        let now = m.now;
        m.nodes[0]
            .keyring_op(KeyringOp::List, Duration::from_millis(500), now)
            .unwrap();
        m.drain(0);
        m.run_for(Duration::from_secs(1));
    }
    let again_before: u64 = m.nodes[1].metrics().queries_stale;
    for to in [1usize, 2] {
        for bytes in &captured {
            let from = SocketAddr::from(([192, 0, 2, 77], 7946));
            m.give(
                to,
                Input::Datagram {
                    from,
                    bytes: bytes.clone(),
                },
            );
        }
    }
    m.run_for(Duration::from_secs(2));
    let held = [m.holds(1, 2), m.holds(2, 2)];
    eprintln!(
        "replay after 140 lists: K2 re-installed at nodes 1, 2: {held:?}; stale at node 1 {} (was {again_before}); {} datagrams replayed",
        m.nodes[1].metrics().queries_stale,
        captured.len()
    );
    assert_eq!(held, [false, false], "a replayed install re-installed K2");
}

/// Sends every node but node-2 (and node-5, the forged sender) one sealed
/// datagram per step, back to back: an update about node-2 (at its own
/// address) `k * 2^32` above what the node held, with that status. Runs
/// 60 s; returns who holds node-2 not alive, and node-2's incarnation.
fn death_ratchet(steps: &[(u64, pb::Status)]) -> (Vec<(usize, Status, u64)>, u64) {
    let mut m = Mesh::new(6);
    m.run_for(Duration::from_secs(5));
    let victim = 2usize;
    for j in [0usize, 1, 3, 4] {
        let held = m.nodes[j].member(&name(victim)).unwrap().incarnation;
        for &(k, status) in steps {
            let u = pb::Update {
                name: name(victim).into_bytes().into(),
                addr: wire_addr(addr(victim)),
                incarnation: held + (k << 32),
                status: status as i32,
                from: name(5).into_bytes().into(),
                life: 0,
                ..Default::default()
            };
            let bytes = insider_packet(&name(5), vec![u], vec![]);
            let from = addr(5);
            m.give(j, Input::Datagram { from, bytes });
        }
    }
    m.run_for(Duration::from_secs(60));
    let wrong = [0usize, 1, 3, 4, 5]
        .into_iter()
        .filter_map(|j| {
            let mm = m.nodes[j].member(&name(victim))?;
            (mm.status != Status::Alive).then_some((j, mm.status, mm.incarnation))
        })
        .collect();
    (wrong, m.nodes[victim].local().incarnation)
}

/// Accusations cannot climb: suspect at +2^32, suspect at +2^33, dead at
/// +3 * 2^32, back to back. PASSES on main (the defence holds): all three
/// are dropped as implausible (an accusation may not go above the held
/// incarnation by a jump), node-2 alive everywhere after 60 s.
#[test]
fn insider_accusations_alone_cannot_ratchet() {
    use pb::Status::*;
    let (wrong, own) = death_ratchet(&[(1, Suspect), (2, Suspect), (3, Dead)]);
    eprintln!("accusation ratchet: not alive at {wrong:?}; node-2 at {own}");
    assert!(wrong.is_empty(), "{wrong:?}");
}

/// Alive climbs, then the accusation: alive at +2^32, alive at +2^33 (out
/// of node-2's reach), dead at +3 * 2^32, back to back, to every other
/// node. PASSES on main (the defence holds): node-2 alive everywhere
/// after 60 s.
#[test]
fn insider_alive_then_death_ratchet_cannot_hold_a_live_member_dead() {
    use pb::Status::*;
    let (wrong, own) = death_ratchet(&[(1, Alive), (2, Alive), (3, Dead)]);
    eprintln!(
        "alive-then-death ratchet: not alive at {} of 5: {wrong:?}; node-2 at {own}",
        wrong.len()
    );
    assert!(wrong.is_empty(), "{wrong:?}");
}

/// A (re)joining member's first full state sets its query clock and its
/// floor with no bound (later ones move it at most 2^20). An insider that
/// is the seed it joins through (or answers its first exchange) answers
/// with the real members and a clock of 2^48 - 1: the member ignores
/// every later key operation of the cluster as stale (their stamps are
/// below its floor), and its own are implausible everywhere else.
///
// FAILS on main: node 3 rejoins (sees 4 alive) but misses the cluster's
// `keys install` (13 queries counted stale there) until it restarts. Responsible: swim-core/src/query.rs `Queries::learn` (the
// first clock learned is taken whole, as clock and floor). Fix: bound the
// first clock too (take it from the join answer but cap the floor, e.g.
// learn the floor as the lowest clock heard from the first few members,
// or drop a first clock more than MAX_CLOCK_JUMP above the next one).
#[test]
fn insider_seed_sets_a_joiners_query_clock_out_of_reach() {
    let mut m = Mesh::new(4);
    m.run_for(Duration::from_secs(5));
    for _ in 0..2 {
        m.op(0, KeyringOp::List);
        m.run_for(Duration::from_secs(1));
    }
    m.run_for(Duration::from_secs(10));
    // kill -9 of node 3; it rejoins through the insider's address.
    m.nodes[3] = sealed_node(3, 3_333);
    m.queue.retain(|(_, to, _)| *to != 3);
    let insider = SocketAddr::from(([192, 0, 2, 66], 7946));
    let now = m.now;
    m.nodes[3].join(&[insider], now).unwrap();
    let id = std::iter::from_fn(|| m.nodes[3].poll_output())
        .find_map(|o| match o {
            Output::StreamOpen { id, to } if to == insider => Some(id),
            _ => None,
        })
        .expect("the join opens a stream to the insider");
    let members = (0..3)
        .map(|i| {
            let mm = m.nodes[0].member(&name(i)).map(|x| x.incarnation);
            pb::Update {
                life: 0,
                ..alive(i, mm.unwrap_or(0))
            }
        })
        .collect();
    let frame = pb::StreamFrame {
        version: pb::PROTOCOL_VERSION,
        cluster: String::new(),
        from: b"insider".to_vec().into(),
        push_pull: Some(pb::PushPull {
            members,
            query_clock: (1u64 << 48) - 1,
            ..Default::default()
        }),
    };
    let bytes = seal(&frame.encode_to_vec());
    m.give(
        3,
        Input::StreamFrame {
            id,
            from: insider,
            bytes,
        },
    );
    m.run_for(Duration::from_secs(10));
    let sees = m.nodes[3]
        .members()
        .filter(|x| x.status == Status::Alive)
        .count();
    m.op(0, KeyringOp::Install(key(2)));
    m.run_for(Duration::from_secs(10));
    let held: Vec<bool> = (0..4).map(|i| m.holds(i, 2)).collect();
    eprintln!(
        "insider seed clock: node 3 sees {sees} alive; K2 held by {held:?}; node 3 stale {}",
        m.nodes[3].metrics().queries_stale
    );
    assert!(held.iter().all(|&h| h), "{held:?}");
}

/// A restarted origin speaks from a new address; its query reaches a
/// member (through another) before that member heard it moved. The answer
/// is held until the origin is known at the address its query names, then
/// sent there: not to the old address, where nobody listens (a real
/// agent's `keys install` right after a restart was reported "2 of 3"
/// while all three carried it out).
#[test]
fn an_answer_waits_for_a_restarted_origin_s_new_address() {
    let (old, new) = restarted_origin_answer(0, false);
    eprintln!("answers to the old address {old}, to the new {new}");
    assert_eq!((old, new), (0, 1), "the answer went astray");
}
