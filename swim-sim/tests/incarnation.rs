//! Forged incarnations in a running cluster (issue 18, point 1): the
//! attacks of the issue, repeated every 10 s for 5 minutes on a plain
//! cluster of 5, never get the running victim held dead by a peer.

use prost::Message;
use std::net::SocketAddr;
use std::time::Duration;
use swim_core::{Bytes, Input, Status};
use swim_proto as pb;
use swim_sim::{addr_of, name_of, Cluster};

const N: usize = 5;
const VICTIM: usize = 2;
const J: u64 = 1 << 32;

fn wire_addr(a: SocketAddr) -> Bytes {
    let mut v = match a {
        SocketAddr::V4(a) => a.ip().octets().to_vec(),
        SocketAddr::V6(a) => a.ip().octets().to_vec(),
    };
    v.extend_from_slice(&a.port().to_be_bytes());
    v.into()
}

fn update(about: usize, inc: u64, status: pb::Status, at: SocketAddr) -> pb::Update {
    pb::Update {
        name: name_of(about).into_bytes().into(),
        addr: wire_addr(at),
        incarnation: inc.min(swim_core::MAX_INCARNATION),
        status: status as i32,
        from: name_of(4).into_bytes().into(),
        life: 0,
        ..Default::default()
    }
}

/// Delivers one datagram "from node 4" carrying `updates` to node `to`.
fn forge(c: &mut Cluster, to: usize, updates: Vec<pb::Update>) {
    let bytes: Bytes = pb::Packet {
        version: pb::PROTOCOL_VERSION,
        from: name_of(4).into_bytes().into(),
        updates,
        ..Default::default()
    }
    .encode_to_vec()
    .into();
    c.command(to, |n, now| {
        n.handle(
            Input::Datagram {
                from: addr_of(4),
                bytes,
            },
            now,
        )
    });
}

fn held(c: &Cluster, viewer: usize) -> u64 {
    c.node(viewer)
        .and_then(|n| n.members().find(|m| m.name == name_of(VICTIM).as_str()))
        .map_or(0, |m| m.incarnation)
}

/// One round of every attack of the issue, at the incarnations held now.
fn attack(c: &mut Cluster, round: u64) {
    use pb::Status::*;
    let own = c.node(VICTIM).unwrap().local().incarnation;
    let home = addr_of(VICTIM);
    let thief = SocketAddr::from(([192, 0, 2, 1], 7946));
    // The victim alone hears it is suspect far above itself.
    forge(c, VICTIM, vec![update(VICTIM, own + J, Suspect, home)]);
    forge(c, VICTIM, vec![update(VICTIM, own + J + 1, Dead, home)]);
    for peer in (0..N).filter(|&p| p != VICTIM) {
        let h = held(c, peer);
        // The chain inside one datagram, and the address move.
        forge(
            c,
            peer,
            vec![
                update(VICTIM, h + J, Alive, home),
                update(VICTIM, h + 2 * J, Alive, thief),
                update(VICTIM, h + 2 * J, Dead, thief),
            ],
        );
        // The ratchet, with one peer left behind each round.
        if peer as u64 != round % N as u64 {
            let h = held(c, peer);
            forge(c, peer, vec![update(VICTIM, h + J, Alive, home)]);
        }
        // A suspicion at what the peer holds (what one lost probe does).
        let h = held(c, peer);
        forge(c, peer, vec![update(VICTIM, h, Suspect, home)]);
    }
}

#[test]
fn forged_incarnations_every_10_s_for_5_minutes_never_kill_the_victim() {
    for seed in 1..=3 {
        let mut c = Cluster::new(N, seed);
        c.run_for(Duration::from_secs(10));
        assert!(c.converged(), "seed {seed}");
        // The forged suspicions are failures the checker must expect (on a
        // quiet network a suspicion is a violation, which stops the
        // simulation: the attack would then run against frozen nodes).
        c.heal();
        for round in 0..30 {
            attack(&mut c, round);
            for _ in 0..10 {
                c.run_for(Duration::from_secs(1));
                assert!(c.violation().is_none(), "seed {seed}: {:?}", c.violation());
                for viewer in (0..N).filter(|&v| v != VICTIM) {
                    let status = c.status(viewer, VICTIM);
                    assert_ne!(
                        status,
                        Some(Status::Dead),
                        "seed {seed}, round {round}: node {viewer} holds the victim dead"
                    );
                    let at = c
                        .view(viewer)
                        .into_iter()
                        .find(|m| m.name == name_of(VICTIM).as_str());
                    assert_eq!(
                        at.map(|m| m.addr),
                        Some(addr_of(VICTIM)),
                        "seed {seed}, round {round}: node {viewer}"
                    );
                }
            }
        }
        let implausible: u64 = (0..N)
            .filter_map(|i| c.node(i))
            .map(|n| n.metrics().dropped.implausible)
            .sum();
        assert!(implausible > 0);
        assert!(
            c.now().as_millis() >= 310_000,
            "ran the 5 minutes: {:?}",
            c.now()
        );
        let refuted = c.node(VICTIM).unwrap().metrics().refutations;
        assert!(refuted >= 30, "the victim refuted every round: {refuted}");
    }
}
