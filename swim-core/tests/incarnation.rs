//! Incarnations a peer makes up (issue 18, point 1): a running member can
//! always refute. No forged update, alone or chained inside one datagram,
//! puts a member out of its own refutation's reach; what its subject would
//! not accept is accepted by nobody, and every drop is counted.

mod common;

use common::*;
use prost::Message;
use swim_core::{Config, Instant, Node, Output, Status, MAX_INCARNATION};
use swim_proto as pb;

/// How far above the held incarnation an update may be (2^32).
const J: u64 = 1 << 32;

/// An update from member 3 about `about` at incarnation `inc`.
fn claim(about: usize, inc: u64, status: pb::Status) -> pb::Update {
    pb::Update {
        status: status as i32,
        from: name(3).into_bytes().into(),
        ..alive(about, inc)
    }
}

fn suspect(about: usize, inc: u64) -> pb::Update {
    claim(about, inc, pb::Status::Suspect)
}

/// One datagram from member 3 carrying `updates`.
fn forge(node: &mut Node, updates: Vec<pb::Update>) -> Vec<Output> {
    receive(node, 3, packet(3, vec![], updates), Instant::ZERO)
}

fn held(node: &Node, i: usize) -> (Status, u64, std::net::SocketAddr) {
    let m = node.members().find(|m| m.name == name(i).as_str()).unwrap();
    (m.status, m.incarnation, m.addr)
}

/// The updates about `about` in the datagrams `node` sends until `until`.
fn sent_about(
    node: &mut Node,
    mut out: Vec<Output>,
    until: Instant,
    about: usize,
) -> Vec<(i32, u64)> {
    let mut now = Instant::ZERO;
    while now < until {
        now = node.poll_timeout().unwrap_or(until).min(until);
        out.extend(node.step(swim_core::Input::Tick, now));
    }
    out.iter()
        .filter_map(|o| match o {
            Output::Datagram { bytes, .. } => pb::Packet::decode(&bytes[..]).ok(),
            _ => None,
        })
        .flat_map(|p| p.updates)
        .filter(|u| u.name == name(about).as_bytes())
        .map(|u| (u.status, u.incarnation))
        .collect()
}

/// The measured attack: "you are suspect at your incarnation + 2^32 + 1"
/// sent to the victim alone. It is beyond every peer's reach, so the victim
/// ignores it (it used to refute at +2^32 + 1, which every peer dropped).
/// At +2^32 (a peer that was pushed ahead may hold it) it refutes; then,
/// accused at the incarnation the others still hold (forged, or one lost
/// probe), it gossips an alive they can take.
#[test]
fn a_desynced_victim_still_refutes_a_suspicion_at_the_peers_incarnation() {
    let mut node = joined_node(4, Config::lan());
    let _ = node.poll_outputs().count();
    forge(&mut node, vec![suspect(0, J + 1)]);
    assert_eq!(node.local().incarnation, 0, "beyond every peer's reach");
    assert_eq!(node.metrics().dropped.implausible, 1);
    forge(&mut node, vec![suspect(0, J)]);
    assert_eq!(node.local().incarnation, J + 1, "refuted at the limit");
    let _ = drain_gossip(&mut node, Instant::ZERO, Instant::from_millis(30_000));
    let _ = node.poll_outputs().count();
    // The peers hold 0: the victim's J + 1 is beyond them. Accused at 0:
    let out = forge(&mut node, vec![suspect(0, 0)]);
    let sent = sent_about(&mut node, out, Instant::from_millis(31_000), 0);
    assert!(
        sent.contains(&(pb::Status::Alive as i32, J)),
        "no alive a peer holding 0 takes: {sent:?}"
    );
    assert_eq!(node.local().incarnation, J + 1, "its own stays");
    // A peer holding 0 takes that step, and its suspicion ends.
    let mut peer = joined_node(4, Config::lan());
    forge(&mut peer, vec![suspect(2, 1)]);
    assert_eq!(held(&peer, 2).0, Status::Suspect);
    forge(&mut peer, vec![alive(2, 1 + J)]);
    assert_eq!(held(&peer, 2).0, Status::Alive);
}

/// One datagram carrying alive +2^32, alive +2^33, dead +2^33 held a member
/// dead on every peer (each step was within 2^32 of the one before); the
/// same chain moved its address. The bound is now the incarnation held
/// before the datagram.
#[test]
fn a_chain_inside_one_datagram_cannot_climb() {
    let mut node = joined_node(4, Config::lan());
    let moved = pb::Update {
        addr: wire_addr(addr(99)),
        ..alive(2, 1 + 2 * J)
    };
    forge(
        &mut node,
        vec![
            alive(2, 1 + J),
            alive(2, 1 + 2 * J),
            claim(2, 1 + 2 * J, pb::Status::Dead),
            moved,
        ],
    );
    assert_eq!(held(&node, 2), (Status::Alive, 1 + J, addr(2)));
    assert_eq!(node.metrics().dropped.implausible, 3);
    // The same chain about the node itself: it adopts the first, which
    // every peer can take, and ignores the rest.
    let mine = |inc| pb::Update {
        life: 0,
        ..alive(0, inc)
    };
    forge(
        &mut node,
        vec![mine(J), mine(2 * J), claim(0, 2 * J, pb::Status::Dead)],
    );
    assert_eq!(node.local().incarnation, J);
    assert_eq!(node.local().status, Status::Alive);
    assert_eq!(node.metrics().dropped.implausible, 5);
}

/// At the limit and one above, for a peer: an alive may be 2^32 above what
/// is held; an accusation must leave room for a refutation within 2^32.
#[test]
fn the_jump_limit_for_peers_and_one_above() {
    let mut node = joined_node(4, Config::lan());
    forge(&mut node, vec![suspect(2, 1 + J)]);
    assert_eq!(held(&node, 2).0, Status::Alive, "unrefutable in one step");
    forge(&mut node, vec![claim(2, 1 + J, pb::Status::Dead)]);
    assert_eq!(held(&node, 2).0, Status::Alive);
    forge(&mut node, vec![claim(2, 1 + J, pb::Status::Left)]);
    assert_eq!(held(&node, 2).0, Status::Alive);
    assert_eq!(node.metrics().dropped.implausible, 3);
    forge(&mut node, vec![suspect(2, J)]);
    assert_eq!(held(&node, 2), (Status::Suspect, J, addr(2)));
    // Its refutation, J + 1, is within reach.
    forge(&mut node, vec![alive(2, J + 1)]);
    assert_eq!(held(&node, 2).0, Status::Alive);
    forge(&mut node, vec![alive(1, 1 + J + 1)]);
    assert_eq!(held(&node, 1).1, 1);
    forge(&mut node, vec![alive(1, 1 + J)]);
    assert_eq!(held(&node, 1).1, 1 + J);
    assert_eq!(node.metrics().dropped.implausible, 4);
}

/// At the limit and one above, for the subject: it refutes what a peer may
/// hold (up to 2^32 above its incarnation) and ignores the rest.
#[test]
fn the_jump_limit_for_the_subject_and_one_above() {
    let mut node = joined_node(4, Config::lan());
    for status in [pb::Status::Suspect, pb::Status::Dead, pb::Status::Left] {
        forge(&mut node, vec![claim(0, J + 1, status)]);
    }
    assert_eq!(node.local().incarnation, 0);
    assert_eq!(node.metrics().dropped.implausible, 3);
    forge(&mut node, vec![claim(0, J, pb::Status::Dead)]);
    assert_eq!(node.local().incarnation, J + 1);
    assert_eq!(node.local().status, Status::Alive);
}

/// At 2^63 - 1 nothing can outbid: neither an accusation there nor an
/// alive there is accepted (its subject could not refute the one, nor
/// outbid the other if it named another address); one below is.
#[test]
fn at_the_highest_incarnation_no_accusation_is_accepted() {
    let mut node = joined_node(4, Config::lan());
    // Member 9 announces itself (news of it from member 3 would only make
    // it a candidate).
    let own = packet(9, vec![], vec![alive(9, MAX_INCARNATION - 2)]);
    receive(&mut node, 9, own, Instant::ZERO);
    forge(
        &mut node,
        vec![claim(9, MAX_INCARNATION - 2, pb::Status::Dead)],
    );
    assert_eq!(held(&node, 9).0, Status::Dead, "refutable at 2^63 - 2");
    let dropped = node.metrics().dropped.implausible;
    forge(&mut node, vec![alive(9, MAX_INCARNATION)]);
    assert_eq!(
        held(&node, 9).0,
        Status::Dead,
        "an alive nobody could outbid"
    );
    forge(&mut node, vec![alive(9, MAX_INCARNATION - 1)]);
    assert_eq!(
        held(&node, 9),
        (Status::Alive, MAX_INCARNATION - 1, addr(9))
    );
    for status in [pb::Status::Suspect, pb::Status::Dead, pb::Status::Left] {
        forge(&mut node, vec![claim(9, MAX_INCARNATION, status)]);
        assert_eq!(held(&node, 9).0, Status::Alive, "{status:?}");
    }
    assert_eq!(node.metrics().dropped.implausible, dropped + 4);
}
