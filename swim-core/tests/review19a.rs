//! Review 19a: attacks on 03ae100 (answers held for an origin not yet
//! known at the address its query names: `Unsent`, `hold_answer`,
//! `take_answers`, `MAX_UNSENT`, `ANSWER_HOLD_PROBES`) and e6615c2
//! (Lifeguard: answerers still heard asked first, a failed probe with all
//! counted relays silent counts only if a member was heard).

mod common;

use common::mesh::*;
use common::*;
use std::net::SocketAddr;
use std::time::Duration;
use swim_core::{Config, Event, Input};

fn victim() -> SocketAddr {
    SocketAddr::from(([10, 251, 0, 9], 9_999))
}

/// Review 19a's case: made-up origins ("ghost-k") flood node 2's holds.
fn restarted_origin_answer(flood: usize) -> (usize, usize) {
    common::mesh::restarted_origin_answer(flood, false)
}

/// Control: without the flood, the held answer reaches the restarted
/// origin at its new address.
#[test]
fn control_a_restarted_origin_is_answered_at_its_new_address() {
    assert_eq!(restarted_origin_answer(0), (0, 1));
}

/// Insider: 16 list queries of made-up origins (one sealed datagram each,
/// renewable every 5 probe intervals; or relayed: every member that hears
/// them holds them) take all `MAX_UNSENT` holds of a member; a restarted
/// origin's real query heard then is answered at once at the origin's old
/// membership address, where nobody listens: measured (old, new) = (1, 0)
/// against (0, 1) without the flood. The ghosts' held answers are dropped
/// at expiry anyway (their origins are members nowhere): they held the
/// slots for nothing.
/// Responsible: query.rs `hold_answer` (one global first-come cap) and
/// node.rs `on_query` (full: `answer_late` at once). Fix: share the holds
/// by who passed the query on (`Via`, as the pass-on queue does) and per
/// origin; when full, evict a hold whose origin is no member at all
/// before refusing one whose origin is a member elsewhere (a restarted
/// origin); or hold nothing for origins this node has never heard of
/// beyond a small separate quota.
#[test]
fn ghost_queries_exhaust_the_holds_and_a_restarted_origin_s_answer_goes_astray() {
    let (old, new) = restarted_origin_answer(16);
    eprintln!("with 16 ghost queries first: old {old}, new {new}");
    assert_eq!((old, new), (0, 1), "the answer went astray");
}

/// Insider: `k` queries of node-0 naming <victim> as its address, sent to
/// every other node of an `n`-node mesh, and (as node-0, from a spoofed
/// <victim> source) "node-0 alive, one higher, at <victim>" to every node
/// (`move_first`: the move before the queries, as without the hold). Each
/// node holds its answers up to 5 probe intervals waiting for node-0 to
/// show at <victim>. Returns (answers that reached <victim> in 8 s, their
/// bytes, the insider's bytes).
fn hold_reflection(n: usize, k: usize, move_first: bool) -> (usize, usize, usize) {
    let mut m = Mesh::new(n);
    m.run_for(Duration::from_secs(10));
    let clock = m.clock_of(1, Duration::from_secs(2));
    let mark = m.sent.len();
    let mut spent = 0;
    let queries = |m: &mut Mesh, spent: &mut usize| {
        for j in 1..n {
            for i in 0..k {
                let id = 7000 + (j * 100 + i) as u64;
                let q = list_query("node-0", victim(), id, clock + 1);
                let bytes = insider_packet("node-1", vec![], vec![q]);
                *spent += bytes.len();
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
    if !move_first {
        queries(&mut m, &mut spent);
    }
    for j in 1..n {
        let inc = m.nodes[j].member("node-0").unwrap().incarnation;
        let bytes = insider_packet("node-0", vec![moved_to(0, inc + 1, victim())], vec![]);
        spent += bytes.len();
        m.give(
            j,
            Input::Datagram {
                from: victim(),
                bytes,
            },
        );
    }
    if move_first {
        queries(&mut m, &mut spent);
    }
    m.run_for(Duration::from_secs(8));
    let answers: Vec<_> = m.sent[mark..]
        .iter()
        .filter(|(_, to, _)| *to == victim())
        .filter(|(_, _, b)| open(b).is_some_and(|p| !p.answers.is_empty()))
        .collect();
    let bytes = answers.iter().map(|(_, _, b)| b.len()).sum();
    (answers.len(), bytes, spent)
}

/// Insider (reflection through the hold): queries of node-0 naming
/// <victim>, held at every node, then one forged first-hand move of
/// node-0 to <victim> per node (from a spoofed <victim> source; refuted
/// within milliseconds) releases every held answer to <victim>: answers
/// go to an address only the insider named (and the insider's forged
/// move, never confirmed by <victim>). The hold lets the insider queue up
/// to 16 per node for 5 probe intervals and release them all with one
/// datagram per node: 96 answers to <victim> in an 8-node mesh. (The same
/// reflection, move first then queries, existed before the hold through
/// `on_query`'s `member` check: see the control below; no amplification:
/// fewer bytes out than in.)
/// Responsible: node.rs `send_held_answers` (`at_home`) and `on_query`
/// (`member`): "a live member at this address" is believed from one
/// unconfirmed first-hand update. Fix: release to (and answer at) the
/// query's address only once the origin has been heard there (an
/// authentic packet from that address as that member, e.g. its ack to a
/// ping there, or the prober's `heard`), else at expiry to the
/// membership address; and cap released answers per origin address.
#[test]
#[ignore = "held: an insider spoofing a source address makes a first-hand move there, indistinguishable from a restart; the answers released are fewer bytes than the insider sent (no amplification), and the same happened before answers were held"]
fn a_forged_move_releases_held_answers_to_the_victim() {
    let (count, bytes, spent) = hold_reflection(8, 1, false);
    eprintln!("1 query per node, then the move: {count} answers ({bytes} B) to the victim for {spent} B sent");
    let (count16, bytes16, spent16) = hold_reflection(8, 16, false);
    eprintln!("16 queries per node, then the move: {count16} answers ({bytes16} B) to the victim for {spent16} B sent");
    assert_eq!((count, count16), (0, 0));
}

/// Control: the reflection (either order, the move before the queries
/// being what the code before the hold allowed too) is no amplification:
/// fewer bytes reach <victim> than the insider sent.
#[test]
fn control_reflection_through_the_hold_is_not_amplification() {
    for (k, move_first) in [(1, true), (1, false), (16, false)] {
        let (count, bytes, spent) = hold_reflection(8, k, move_first);
        eprintln!("{k} per node, move first {move_first}: {count} answers ({bytes} B) to the victim for {spent} B sent");
        assert!(bytes < spent);
    }
}

/// Restarted process: node 0 of an `n`-node mesh restarts at a new port,
/// joins through node 1 and at once starts a `list`. How many members
/// answered (itself included), by the query's end.
fn restarted_origin_first_op(n: usize) -> usize {
    let mut m = Mesh::new(n);
    m.strict_addr = true;
    m.run_for(Duration::from_secs(10));
    restart0(&mut m, 999, Config::lan());
    let now = m.now;
    m.nodes[0].join(&[addr(1)], now).unwrap();
    m.drain(0);
    let mark = m.events.len();
    let id = m.op(0, swim_core::KeyringOp::List);
    m.run_for(Duration::from_secs(12));
    m.events[mark..]
        .iter()
        .find_map(|(i, e)| match e {
            Event::QueryDone { query, answers, .. } if *i == 0 && *query == id => Some(*answers),
            _ => None,
        })
        .expect("the query ended")
}

/// Control (restarted process): a restarted origin's first key operation,
/// started right after its join, is answered by every member.
#[test]
fn control_a_restarted_origin_s_first_operation_is_answered_by_all() {
    for n in [3, 10, 24] {
        let answers = restarted_origin_first_op(n);
        eprintln!("n={n}: {answers} answered");
        assert_eq!(answers, n);
    }
}

// Lifeguard (e6615c2), simulator findings (no mesh test: the mesh has no
// partitions). Seeds 1..21 (20 seeds), the head build against its parent
// 03ae100:
//
// - swim-sim/scenarios/partition-25pct-40s.toml, added by e6615c2, fails
//   at head on seeds 3, 14 and 19 (3 of 20; seed 3 is within 1..11), the
//   parent on seed 14 only: one false death each, of the same shape: a
//   node of the cut-off 25 % (node-31, node-23, node-4), Lifeguard score
//   0, holds a majority member dead 20-25 s after the heal, after a 55 s
//   suspicion begun during the cut and confirmed only by another member
//   of its own side. With the cut side's scores kept at 0, its suspicions
//   of the other side run at normal pace; one confirmed by its own side
//   is neither reminded nor given a last word (view.rs
//   `on_suspicion_timeout`: both only for `alone`), so the suspect never
//   hears it and cannot refute. Fix: after a heal (or whenever the
//   suspicion's accusers all sat on this node's side of a cut: every
//   confirmation came while the node heard none of the suspect's side),
//   give a last word to the suspect before any verdict begun while the
//   node was cut off; or count confirmations only from accusers heard by
//   the suspect's side.
//   Reproduce: swim-sim run swim-sim/scenarios/partition-25pct-40s.toml --seed 3
//
// - swim-sim/scenarios/isolated-pair-crash-40s.toml fails at head on
//   seeds 14, 16, 20 (3 of 20; parent 13 of 20): on 14 and 20 the
//   survivor first suspects its crashed partner 25.9 s after the crash
//   and declares it only after the heal (dead everywhere +50.9 s), at
//   Lifeguard score 4 (its score rose while it still heard its partner
//   and nothing lowers it once alone): the
//   goal "the survivor of a pair decides" is not met within the cut.

/// A pair {0, 1} of a 20-node mesh cut off from the rest at `cut` (the 18
/// others fall silent to it: mute and crashed, which from the pair's side
/// is what a cut looks like); node 1 crashes 10 s later. Returns (node 0's
/// score when node 1 crashes, its score 20 s later, whether node 0 holds
/// node 1 dead 22 s after the crash).
fn survivor_of_a_pair(cut: Duration) -> (u32, u32, bool) {
    let mut m = Mesh::new(20);
    m.run_for(cut);
    for i in 2..20 {
        m.mute[i] = true;
        m.crashed[i] = true;
    }
    m.run_for(Duration::from_secs(10));
    let at_crash = m.nodes[0].health_score();
    m.mute[1] = true;
    m.crashed[1] = true;
    m.run_for(Duration::from_secs(20));
    let later = m.nodes[0].health_score();
    m.run_for(Duration::from_secs(2));
    let dead = m.nodes[0]
        .member(&name(1))
        .is_none_or(|e| e.status == swim_core::Status::Dead);
    (at_crash, later, dead)
}

/// Control (cut side, e6615c2's goal: the survivor of an isolated pair
/// keeps its score low and decides): in the mesh, over 8 cut moments, the
/// survivor's score is 0 at its partner's crash (0 or 1 twenty seconds
/// later) and it holds its partner dead within 22 s. The simulator finds
/// the failure the mesh does not (see the notes above: isolated-pair-
/// crash-40s seeds 14 and 20, the survivor at score 4 when it decides,
/// 25.9 s to its first suspicion of its partner, the verdict after the
/// heal): before the crash the survivor hears its partner, and while the
/// partner is not among its recent answerers each failed probe across the
/// cut counts +1 (`Prober::conclude`: `0 => heard`, or every counted
/// relay silent while a member - the partner - was heard); after the
/// crash nothing lowers the score (no probe succeeds, no nack comes), so
/// it probes at a stretched pace for the rest of the cut. Suggested fix:
/// take `heard` as evidence against its own links only when a member was
/// heard that this node itself failed to reach (pinged or asked for
/// unanswered), not merely a member of its own side; and let the score
/// decay a step per (stretched) probe interval while no member is heard.
#[test]
fn control_survivor_of_a_pair_decides_in_the_mesh() {
    for k in 0..8u64 {
        let cut = Duration::from_millis(10_000 + 370 * k);
        let (at_crash, later, dead) = survivor_of_a_pair(cut);
        eprintln!("cut at {cut:?}: score {at_crash} at the crash, {later} 20 s later; partner dead within 22 s: {dead}");
        assert!(dead && at_crash <= 1 && later <= 1);
    }
}
