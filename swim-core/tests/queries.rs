//! Queries against replays and floods (issue 18, builds 2 and 3): a
//! cluster-wide query clock (Serf's query Lamport time), learned at every
//! full-state exchange and before a joining or restarted node acts on any
//! query, so a restarted member ignores what it may have carried out
//! already; answers only to the origin's membership address; bounded
//! memory for what a flood of queries leaves behind.

mod common;

use common::mesh::*;
use common::*;
use prost::Message;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use swim_core::{Bytes, Error, Event, Input, KeyringOp, Node, Sealing};
use swim_proto as pb;

/// Issue 18 point 6: a captured sealed `keys install K2`, replayed by
/// someone without any key after `keys remove K2` and a restart of the
/// member, re-installed K2 there. The restarted member learns the query
/// clock from its join exchange and ignores every query older than it.
/// How long these tests' key operations wait for answers (short: some
/// start more than the 16 a node keeps open within 10 s).
const OP_TIMEOUT: Duration = Duration::from_secs(3);

#[test]
fn a_replayed_key_install_is_not_carried_out_after_a_restart() {
    let mut m = Mesh::new(3);
    m.op_timeout = OP_TIMEOUT;
    m.run_for(Duration::from_secs(5));
    let mark = m.sent.len();
    m.op(0, KeyringOp::Install(key(2)));
    m.run_for(Duration::from_secs(4));
    assert!(m.holds(1, 2), "the install reached node 1");
    // Every datagram node 0 sent while the install spread: one of them
    // carries it (the attacker's capture).
    let captured: Vec<Bytes> = m.sent[mark..]
        .iter()
        .filter(|(from, _, _)| *from == 0)
        .map(|(_, _, b)| b.clone())
        .collect();
    m.op(0, KeyringOp::Remove(key(2).id()));
    m.run_for(Duration::from_secs(4));
    assert!(!m.holds(1, 2), "the remove reached node 1");
    // kill -9 of node 1; it comes back with the keyring its file holds.
    m.nodes[1] = sealed_node(1, 999);
    m.queue.retain(|(_, to, _)| *to != 1);
    m.join(1);
    m.run_for(Duration::from_secs(5));
    assert!(m.nodes[1].members().count() == 3, "node 1 rejoined");
    // The replay, from a stranger's address and from node 0's own.
    for from in [addr(60_000), addr(0)] {
        for bytes in &captured {
            let input = Input::Datagram {
                from,
                bytes: bytes.clone(),
            };
            m.give(1, input);
        }
    }
    assert!(
        !m.holds(1, 2),
        "a replayed install re-installed K2 after the restart"
    );
    assert!(m.nodes[1].metrics().queries_stale > 0);
}

/// A sealed packet from an insider (node 2) carrying `queries`.
fn insider_packet(queries: Vec<pb::Query>) -> Bytes {
    let plain = pb::Packet {
        version: pb::PROTOCOL_VERSION,
        from: name(2).into_bytes().into(),
        queries,
        ..Default::default()
    }
    .encode_to_vec();
    let ring = sealed_node(200, 7);
    ring.keyring()
        .seal_with_nonce("", 5, &plain)
        .expect("a key")
        .into()
}

fn list_query(origin: usize, origin_addr: SocketAddr, id: u64, clock: u64) -> pb::Query {
    pb::Query {
        origin: name(origin).into_bytes().into(),
        origin_addr: wire_addr(origin_addr),
        id,
        timeout_ms: 300_000,
        body: Some(pb::query::Body::Keys(pb::KeyOp {
            op: pb::key_op::Op::List as i32,
            ..Default::default()
        })),
        clock,
    }
}

/// Issue 18 points 5 and 7: answers went to whatever address a query
/// named (415 answers to an address the insider chose; 3x reflection).
/// Now they go only to the origin's membership address (after holding
/// them a few probe intervals for the origin to show at the address named,
/// as a restarted origin would); a query whose origin is unknown is not
/// answered, and counted.
#[test]
fn answers_go_only_to_the_origins_membership_address() {
    let mut m = Mesh::new(3);
    m.op_timeout = OP_TIMEOUT;
    m.run_for(Duration::from_secs(5));
    let victim = addr(61_000);
    let foreign = list_query(0, victim, 77, 0);
    let unknown = list_query(5_000, victim, 78, 0);
    let mark = m.sent.len();
    m.give(
        1,
        Input::Datagram {
            from: addr(2),
            bytes: insider_packet(vec![foreign, unknown]),
        },
    );
    m.run_for(Duration::from_secs(6));
    let to_victim = m.sent[mark..]
        .iter()
        .filter(|(_, to, _)| *to == victim)
        .count();
    assert_eq!(to_victim, 0, "answers went to the address the query named");
    let to_origin = m.sent[mark..]
        .iter()
        .filter(|(from, to, _)| *from == 1 && *to == addr(0))
        .filter_map(|(_, _, b)| open(b))
        .filter(|p| p.answers.iter().any(|a| a.id == 77))
        .count();
    assert_eq!(to_origin, 1, "the member origin is answered at its address");
    assert_eq!(m.nodes[1].metrics().queries_unanswered, 1);
}

/// Issue 18 point 5: an insider's 1,100 queries (300 s timeouts, forged
/// origins) sent to one member; a member's `keys list` is still carried
/// out and answered there, and what the flood leaves is bounded.
#[test]
fn an_insiders_query_flood_does_not_hide_a_members_query() {
    let mut m = Mesh::new(3);
    m.op_timeout = OP_TIMEOUT;
    m.run_for(Duration::from_secs(5));
    for k in 0..1_100u64 {
        // Forged origins: the members' names, and made-up ones.
        let origin = [0, 2, 5_000 + k as usize][k as usize % 3];
        let q = list_query(origin, addr(origin), 1_000 + k, k / 8);
        m.give(
            1,
            Input::Datagram {
                from: addr(2),
                bytes: insider_packet(vec![q]),
            },
        );
    }
    m.run_for(Duration::from_secs(1));
    let id = m.op(0, KeyringOp::List);
    m.run_for(Duration::from_secs(4));
    let answered: Vec<String> = m
        .events
        .iter()
        .filter_map(|(i, e)| match e {
            Event::KeyAnswer { query, member, .. } if *i == 0 && *query == id => {
                Some(member.to_string())
            }
            _ => None,
        })
        .collect();
    assert!(
        answered.contains(&name(1)),
        "node 1 ignored the list: answers from {answered:?}"
    );
    let q = &m.nodes[1].metrics().queries_refused;
    assert!(*q > 0, "the flood was not bounded");
}

impl Mesh {
    /// The answers node `origin` heard to query `id`: member, step, refusal.
    fn answers(
        &self,
        origin: usize,
        id: u64,
    ) -> BTreeMap<String, (Option<Sealing>, Option<String>)> {
        self.events
            .iter()
            .filter_map(|(i, e)| match e {
                Event::KeyAnswer {
                    query,
                    member,
                    sealing,
                    refused,
                    ..
                } if *i == origin && *query == id => {
                    Some((member.to_string(), (*sealing, refused.clone())))
                }
                _ => None,
            })
            .collect()
    }

    fn steps(&self) -> Vec<Sealing> {
        self.nodes.iter().map(Node::sealing).collect()
    }

    /// How many members node `i` holds dead or suspect.
    fn unhealthy(&self, i: usize) -> usize {
        self.nodes[i]
            .members()
            .filter(|m| m.status != swim_core::Status::Alive)
            .count()
    }
}

/// Issue 18 build 5: `sealing require` carried by the sealed key-operation
/// query moves every member from `send` to `require`; each answer says the
/// member's step; each member that moved reports it once
/// ([`Event::SealingChanged`]); afterwards a plain packet is dropped. No key
/// operation moves members to `accept`.
#[test]
fn a_sealing_operation_moves_every_member_from_send_to_require() {
    let mut m = Mesh::at_steps(&[Sealing::Send; 3]);
    m.op_timeout = OP_TIMEOUT;
    m.run_for(Duration::from_secs(5));
    let now = m.now;
    assert_eq!(
        m.nodes[0].keyring_op(
            KeyringOp::Sealing(Sealing::Accept),
            Duration::from_secs(3),
            now
        ),
        Err(Error::SealingStep {
            step: Sealing::Accept
        })
    );
    let list = m.op(0, KeyringOp::List);
    m.run_for(Duration::from_secs(4));
    let answers = m.answers(0, list);
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert!(
        answers.values().all(|a| *a == (Some(Sealing::Send), None)),
        "{answers:?}"
    );
    let id = m.op(0, KeyringOp::Sealing(Sealing::Require));
    m.run_for(Duration::from_secs(4));
    assert_eq!(m.steps(), vec![Sealing::Require; 3]);
    let answers = m.answers(0, id);
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert!(
        answers
            .values()
            .all(|a| *a == (Some(Sealing::Require), None)),
        "{answers:?}"
    );
    let changed = m
        .events
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::SealingChanged {
                    from: Sealing::Send,
                    to: Sealing::Require
                }
            )
        })
        .count();
    assert_eq!(changed, 3, "one SealingChanged per member");
    // Again: nothing moves, nothing is reported, nobody refuses.
    let again = m.op(1, KeyringOp::Sealing(Sealing::Require));
    m.run_for(Duration::from_secs(4));
    assert!(m.answers(1, again).values().all(|a| a.1.is_none()));
    assert_eq!(
        m.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::SealingChanged { .. }))
            .count(),
        3
    );
    for i in 0..3 {
        assert_eq!(m.unhealthy(i), 0, "node {i}");
    }
    // A plain packet is now dropped as unauthenticated.
    let auth = m.nodes[2].metrics().dropped.auth;
    m.give(
        2,
        Input::Datagram {
            from: addr(0),
            bytes: ping(0, 1, 2),
        },
    );
    assert_eq!(m.nodes[2].metrics().dropped.auth, auth + 1);
}

/// A member at `accept` refuses a sealing operation (it would start
/// dropping the plain traffic of other members still at `accept`) and says
/// why; its answer comes sealed, so the origin counts it, with its step.
/// The agent's precheck uses that answer to refuse `require` before
/// anything moves (swim-tokio's `Handle::set_cluster_sealing`).
#[test]
fn a_member_at_accept_refuses_a_sealing_operation_and_says_why() {
    let mut m = Mesh::at_steps(&[Sealing::Send, Sealing::Send, Sealing::Accept]);
    m.op_timeout = OP_TIMEOUT;
    m.run_for(Duration::from_secs(5));
    let list = m.op(0, KeyringOp::List);
    m.run_for(Duration::from_secs(4));
    let answers = m.answers(0, list);
    assert_eq!(
        answers[&name(2)],
        (Some(Sealing::Accept), None),
        "{answers:?}"
    );
    let id = m.op(0, KeyringOp::Sealing(Sealing::Require));
    m.run_for(Duration::from_secs(2));
    assert_eq!(
        m.steps(),
        vec![Sealing::Require, Sealing::Require, Sealing::Accept]
    );
    let answers = m.answers(0, id);
    let (step, why) = &answers[&name(2)];
    assert_eq!(*step, Some(Sealing::Accept));
    let why = why.as_deref().unwrap_or("");
    assert!(why.contains("`accept`") && why.contains("send"), "{why}");
}

/// Issue 18 build 5, point 3: captured sealed sealing operations replayed
/// after 130 later lists of each origin and a later decision move nobody:
/// lists never push an origin's operations out of memory, so the replays
/// are repeats; forgotten (128 later operations), they would be stale
/// (forgetting an operation raises its origin's floor to its stamp, issue
/// 18 review18b), and after a restart stale too (the query clock). (Carried out, a sealing operation
/// stamped before the step in force was set is refused anyway.)
#[test]
fn a_replayed_sealing_operation_never_undoes_a_later_decision() {
    let mut m = Mesh::new(3);
    m.op_timeout = OP_TIMEOUT;
    m.run_for(Duration::from_secs(5));
    let capture = |m: &mut Mesh, origin: usize, op: KeyringOp| -> Vec<Bytes> {
        let mark = m.sent.len();
        m.op(origin, op);
        m.run_for(Duration::from_secs(4));
        m.sent[mark..]
            .iter()
            .filter(|(from, _, _)| *from == origin)
            .map(|(_, _, b)| b.clone())
            .collect()
    };
    // A rollback to send, then require again.
    let send = capture(&mut m, 0, KeyringOp::Sealing(Sealing::Send));
    assert_eq!(m.steps(), vec![Sealing::Send; 3]);
    let require = capture(&mut m, 1, KeyringOp::Sealing(Sealing::Require));
    assert_eq!(m.steps(), vec![Sealing::Require; 3]);
    // Node 2 moves back to send by its own config (a SIGHUP).
    m.nodes[2].set_sealing(Sealing::Send);
    // Nodes 0 and 1 run 130 queries each: every member forgets both.
    for _ in 0..13 {
        for _ in 0..10 {
            m.op(0, KeyringOp::List);
            m.op(1, KeyringOp::List);
        }
        m.run_for(Duration::from_secs(4));
    }
    let mark = m.sent.len();
    let stale_before: Vec<u64> = (0..3).map(|i| m.nodes[i].metrics().queries_stale).collect();
    for from in [addr(0), addr(1), addr(60_000)] {
        for bytes in send.iter().chain(&require) {
            for to in 0..3 {
                let input = Input::Datagram {
                    from,
                    bytes: bytes.clone(),
                };
                m.give(to, input);
            }
        }
    }
    // The replays were stale (forgotten, below their origin's floor): not
    // carried out, so not answered.
    let ring = sealed_node(300, 9);
    let refusals: Vec<(usize, String)> = m.sent[mark..]
        .iter()
        .filter_map(|(from, _, b)| Some((*from, ring.keyring().open_sealed(b)?)))
        .filter_map(|(from, plain)| Some((from, pb::Packet::decode(&plain[..]).ok()?)))
        .flat_map(|(from, p)| p.answers.into_iter().map(move |a| (from, a)))
        .filter_map(|(from, a)| match a.body {
            Some(pb::answer::Body::Keys(k)) if !k.error.is_empty() => Some((from, k.error)),
            _ => None,
        })
        .collect();
    assert!(refusals.is_empty(), "{refusals:?}");
    // Lists never push an origin's operations out of memory (they go
    // first): the replays are repeats, not carried out, not answered.
    let stale: Vec<u64> = (0..3)
        .map(|i| m.nodes[i].metrics().queries_stale - stale_before[i])
        .collect();
    assert_eq!(stale, [0, 0, 0], "remembered, so repeats: {stale:?}");
    m.run_for(Duration::from_secs(2));
    assert_eq!(
        m.steps(),
        vec![Sealing::Require, Sealing::Require, Sealing::Send],
        "a replayed sealing operation moved a member"
    );
    for i in 0..3 {
        assert_eq!(m.unhealthy(i), 0, "node {i}");
    }
}

/// Members that joined at `accept` exchanged plain frames only, so none
/// learned the query clock and every key operation would be ignored (no
/// full-state exchange happens at rest). Moving to `send` pulls state from
/// a member, and a member answers a sealed frame sealed whatever its step:
/// right after the last move, every member answers a `list`.
#[test]
fn members_moved_from_accept_to_send_learn_the_clock_and_answer_key_operations() {
    let mut m = Mesh::at_steps(&[Sealing::Accept; 3]);
    m.op_timeout = OP_TIMEOUT;
    m.run_for(Duration::from_secs(5));
    for i in 0..3 {
        m.nodes[i].set_sealing(Sealing::Send);
        m.drain(i);
        m.run_for(Duration::from_millis(200));
    }
    let list = m.op(0, KeyringOp::List);
    m.run_for(Duration::from_secs(4));
    let answers = m.answers(0, list);
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert!(
        answers.values().all(|a| a.0 == Some(Sealing::Send)),
        "{answers:?}"
    );
    for i in 0..3 {
        assert_eq!(m.nodes[i].metrics().queries_stale, 0, "node {i}");
        assert_eq!(m.unhealthy(i), 0, "node {i}");
    }
}

/// The first member to move from `accept` to `send` pulls state from a
/// member still at `accept`: that member answers its sealed frame sealed,
/// so the first one learns the query clock too (else it would ignore key
/// operations until some later exchange, which at rest never comes).
#[test]
fn a_member_at_accept_answers_a_sealed_frame_sealed() {
    let mut m = Mesh::at_steps(&[Sealing::Accept; 2]);
    m.op_timeout = OP_TIMEOUT;
    m.run_for(Duration::from_secs(5));
    m.nodes[0].set_sealing(Sealing::Send);
    m.drain(0);
    m.run_for(Duration::from_secs(1));
    // Node 1 learned the clock from node 0's sealed frame: its own move
    // opens no exchange, so only node 1's reply could have taught node 0.
    m.nodes[1].set_sealing(Sealing::Send);
    m.drain(1);
    let list = m.op(1, KeyringOp::List);
    m.run_for(Duration::from_secs(4));
    let answers = m.answers(1, list);
    assert_eq!(answers.len(), 2, "node 0 ignored the list: {answers:?}");
}

/// A member at `accept` holds the key and carries out sealed key
/// operations, but it sends plain: it used to pass queries on in its plain
/// datagrams (a `keys install` with the key in the clear), which members
/// that seal dropped whole (probes and updates included) as plain queries.
/// It no longer passes any query on.
#[test]
fn a_member_at_accept_never_passes_a_query_on_in_the_clear() {
    let mut m = Mesh::at_steps(&[Sealing::Send, Sealing::Send, Sealing::Accept]);
    m.op_timeout = OP_TIMEOUT;
    m.run_for(Duration::from_secs(5));
    let mark = m.sent.len();
    m.op(0, KeyringOp::Install(key(2)));
    m.run_for(Duration::from_secs(4));
    assert!(
        m.holds(2, 2),
        "the member at accept carried the install out"
    );
    let ring = sealed_node(300, 9);
    let mut plain = 0;
    for (_, _, bytes) in m.sent[mark..].iter().filter(|(from, _, _)| *from == 2) {
        if ring.keyring().open_sealed(bytes).is_some() {
            continue;
        }
        plain += 1;
        let p = pb::Packet::decode(&bytes[..]).expect("a plain packet");
        assert!(p.queries.is_empty(), "a query went out plain: {p:?}");
    }
    assert!(plain > 0, "node 2 sent plain datagrams");
    for i in 0..2 {
        assert_eq!(m.nodes[i].metrics().dropped.auth, 0, "node {i}");
    }
}

/// Members still at `accept` learn the query clock from the first member
/// that seals: a sealed datagram from a member makes a node that has not
/// learned the clock pull state from it (its answer comes sealed). So a
/// `list` run in the middle of the rollout hears every member, with its
/// step, and `sealing require` can name the members still at `accept`.
#[test]
fn members_at_accept_learn_the_clock_from_the_first_member_that_seals() {
    let mut m = Mesh::at_steps(&[Sealing::Accept; 4]);
    m.op_timeout = OP_TIMEOUT;
    m.run_for(Duration::from_secs(5));
    m.nodes[0].set_sealing(Sealing::Send);
    m.drain(0);
    m.run_for(Duration::from_secs(3));
    let list = m.op(0, KeyringOp::List);
    m.run_for(Duration::from_secs(4));
    let answers = m.answers(0, list);
    assert_eq!(answers.len(), 4, "{answers:?}");
    let at_accept = answers
        .values()
        .filter(|a| a.0 == Some(Sealing::Accept))
        .count();
    assert_eq!(at_accept, 3, "{answers:?}");
    for i in 0..4 {
        assert_eq!(m.unhealthy(i), 0, "node {i}");
    }
}

/// The node that founded a cluster never joined one, so it never learned a
/// query clock from an exchange it opened: until its first push-pull it
/// ignored every query as "heard before the clock was learned", and a
/// 2-agent cluster's first `keys list` from the joiner was answered by 1
/// of 2 (about 1 CI run in 10). It takes its own clock when the first
/// member exchanges with it.
#[test]
fn the_founder_answers_a_joiner_s_first_query() {
    let mut m = Mesh::new(2);
    m.op_timeout = OP_TIMEOUT;
    m.run_for(Duration::from_millis(200));
    let id = m.op(1, KeyringOp::List);
    m.run_for(OP_TIMEOUT + Duration::from_secs(1));
    let answers = m.events.iter().find_map(|(i, e)| match e {
        Event::QueryDone { query, answers, .. } if *i == 1 && *query == id => Some(*answers),
        _ => None,
    });
    assert_eq!(
        m.nodes[0].metrics().queries_stale,
        0,
        "the founder ignored it"
    );
    assert_eq!(answers, Some(2), "both members answered, the founder too");
}
