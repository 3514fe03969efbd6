//! Hand-made seeds that reach deep paths at once: valid pings, acks to the
//! probe in flight, updates, key deltas, push-pull frames with members,
//! digests and deltas, sealed messages, and operation sequences that join,
//! gossip, rotate keys and leave. They are committed under
//! `fuzz/seeds/<target>/`; `swim-core/tests/fuzz_corpus.rs` checks that the
//! files are what this module makes (and rewrites them with
//! `SWIM_WRITE_SEEDS=1`).

use super::reader::Writer;
use super::sealed::{self, Path};
use super::sequence::{body_kind, op};
use super::*;
use pb::message::Body;

/// Every seed: its target, its file name and its bytes.
pub fn all() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut v = Vec::new();
    for (name, bytes) in datagrams() {
        v.push(("datagram", name, bytes));
    }
    for (name, bytes) in frames() {
        v.push(("stream", name, bytes));
    }
    for (name, bytes) in sealed() {
        v.push(("sealed", name, bytes));
    }
    for (name, bytes) in sequences() {
        v.push(("sequence", name, bytes));
    }
    v
}

fn n(i: usize) -> Bytes {
    name(i).into_bytes().into()
}

/// The ping node-0 sends first in the `datagram` target's setup: to whom,
/// and its sequence number.
pub fn first_probe() -> (usize, u32) {
    let mut node = joined(Config::lan(), &[]);
    let out = step(&mut node, Input::Tick, Instant::from_millis(1_000));
    out.iter()
        .find_map(|o| match o {
            Output::Datagram { to, bytes } => {
                let p = pb::Packet::decode(bytes.clone()).ok()?;
                let seq = p.messages.iter().find_map(|m| match &m.body {
                    Some(Body::Ping(p)) => Some(p.seq),
                    _ => None,
                })?;
                let i = (1..=PEERS).find(|&i| addr(i) == *to)?;
                Some((i, seq))
            }
            _ => None,
        })
        .expect("the first tick probes a peer")
}

fn ping(from: usize, seq: u32) -> Vec<u8> {
    let ping = Body::Ping(pb::Ping { seq, target: n(0) });
    packet("", from, vec![ping], vec![], vec![])
}

fn status(i: usize, inc: u64, status: pb::Status, by: usize) -> pb::Update {
    pb::Update {
        status: status as i32,
        from: n(by),
        ..alive(i, inc)
    }
}

fn delta(owner: usize, w: pb::KeyWrite) -> pb::KeyDelta {
    pb::KeyDelta {
        owner: n(owner),
        life: life(owner),
        write: Some(w),
        gc: 0,
    }
}

/// Datagrams for the `datagram` target.
pub fn datagrams() -> Vec<(&'static str, Vec<u8>)> {
    let (probed, seq) = first_probe();
    let ack = Body::Ack(pb::Ack { seq });
    let ping_req = Body::PingReq(pb::PingReq {
        seq: 5,
        target: n(2),
        target_addr: wire_addr(addr(2)),
        want_nack: true,
    });
    let updates = vec![
        status(2, 1, pb::Status::Suspect, 3),
        status(4, 2, pb::Status::Dead, 3),
        status(3, 1, pb::Status::Left, 3),
        alive(5, 1),
    ];
    let about_self = vec![status(0, 0, pb::Status::Suspect, 3)];
    let deltas = vec![
        delta(1, write("color", b"red", 3, 1)),
        delta(2, write("zone", b"eu", 1, 0)),
        delta(
            1,
            pb::KeyWrite {
                deleted: true,
                ..write("size", b"", 4, 2)
            },
        ),
    ];
    let mut behind = pb::Packet::decode(&ping(3, 8)[..]).expect("valid");
    behind.live = 12;
    behind.summary = 0x5eed;
    let mut sealed_ping = ping(3, 9);
    sealed_ping = seal(1, "", 1, &sealed_ping);
    vec![
        ("ping", ping(3, 7)),
        (
            "ack-to-probe",
            packet("", probed, vec![ack], vec![], vec![]),
        ),
        ("ping-req", packet("", 3, vec![ping_req], vec![], vec![])),
        (
            "nack",
            packet("", 2, vec![Body::Nack(pb::Nack { seq })], vec![], vec![]),
        ),
        ("updates", packet("", 3, vec![], updates, vec![])),
        ("refute", packet("", 3, vec![], about_self, vec![])),
        ("key-deltas", packet("", 3, vec![], vec![], deltas)),
        ("behind", behind.encode_to_vec()),
        ("sealed-without-keys", sealed_ping),
    ]
}

/// Frames for the `stream` target.
pub fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let mut state = cluster_state();
    state.members.push(alive(5, 1));
    state.digests.push(pb::Digest {
        owner: n(0),
        life: 77,
        watermark: 0,
        gc: 0,
        content: 0,
    });
    state.deltas.push(pb::Deltas {
        owner: n(2),
        life: life(2),
        reset: true,
        to: 1,
        gc: 0,
        writes: vec![write("zone", b"eu", 1, 0)],
    });
    let join = pb::PushPull {
        join: true,
        members: vec![alive(6, 1)],
        ..Default::default()
    };
    let last = pb::PushPull {
        deltas: vec![pb::Deltas {
            owner: n(1),
            life: life(1),
            reset: false,
            to: 3,
            gc: 0,
            writes: vec![write("color", b"green", 3, 1)],
        }],
        ..Default::default()
    };
    let crowd = pb::PushPull {
        members: (10..40).map(|i| alive(i, 1)).collect(),
        ..Default::default()
    };
    let behind = pb::PushPull {
        members: vec![alive(1, 1)],
        digests: vec![pb::Digest {
            owner: n(1),
            life: life(1),
            watermark: 0,
            gc: 0,
            content: 0,
        }],
        ..Default::default()
    };
    vec![
        ("state", frame("", 1, state)),
        ("join", frame("", 6, join)),
        ("deltas", frame("", 1, last)),
        ("crowd", frame("", 2, crowd)),
        ("digests", frame("", 3, behind)),
    ]
}

/// Inputs for the `sealed` target.
pub fn sealed() -> Vec<(&'static str, Vec<u8>)> {
    let genuine = |path, key, template: u8| {
        let mut w = Writer::default();
        w.u8(sealed::mode(path, key)).u8(template).u64(0x1234_5678);
        w
    };
    let plain = sealed::template(Path::Datagram, 0);
    let mut v = vec![
        ("ping-key1", genuine(Path::Datagram, 1, 0)),
        ("updates-key1", genuine(Path::Datagram, 1, 1)),
        ("deltas-key1", genuine(Path::Datagram, 1, 2)),
        ("ping-req-key2", genuine(Path::Datagram, 2, 3)),
        ("ping-foreign-key", genuine(Path::Datagram, 3, 0)),
        ("request-key1", genuine(Path::Request, 1, 0)),
        ("request-join-key2", genuine(Path::Request, 2, 1)),
        ("reply-key1", genuine(Path::Reply, 1, 0)),
        ("reply-foreign-key", genuine(Path::Reply, 3, 0)),
    ];
    // Mutations: op byte, a two-byte position, then the op's own bytes.
    let mut flip = genuine(Path::Datagram, 1, 0);
    flip.u8(0).u16(40 * 8 + 3);
    v.push(("ping-bit-flipped", flip));
    let mut cut = genuine(Path::Request, 1, 0);
    cut.u8(1).u16(60);
    v.push(("request-cut", cut));
    let mut longer = genuine(Path::Reply, 1, 0);
    longer.u8(2).u16(0).bytes(b"\x00\x00");
    v.push(("reply-extended", longer));
    // The label's first byte set to another letter (bound as associated data).
    let mut label = genuine(Path::Datagram, 1, 1);
    label.u8(3).u16(4).u8(b't');
    v.push(("updates-relabelled", label));
    // The sealed field's length spelt in two bytes: refused (one spelling).
    let sealed_len = 12 + plain.len() + 16;
    let at = 2 + 2 + sealed::CLUSTER.len() + 1;
    let mut spelt = genuine(Path::Datagram, 1, 0);
    spelt.u8(0).u16((at * 8 + 7) as u16);
    spelt.u8(4).u16(at as u16 + 1).u8(0);
    assert!(sealed_len < 128, "a one-byte length to respell");
    v.push(("ping-length-respelt", spelt));
    let mut raw = Writer::default();
    raw.u8(0).raw(&packet(
        sealed::CLUSTER,
        3,
        vec![],
        vec![alive(9, 1)],
        vec![],
    ));
    v.push(("plain-packet", raw));
    v.into_iter().map(|(n, w)| (n, w.out)).collect()
}

/// Writes one operation's tag.
fn tag(w: &mut Writer, op: u8) -> &mut Writer {
    w.u8(op)
}

/// Operation sequences for the `sequence` target.
pub fn sequences() -> Vec<(&'static str, Vec<u8>)> {
    let state = frame("", 1, cluster_state());
    let timers = |w: &mut Writer, rounds: usize| {
        for _ in 0..rounds {
            tag(w, op::TIMERS).u8(7);
        }
    };

    // Join node-1, take its state, probe and answer, gossip keys.
    let mut joins = Writer::default();
    joins.u8(0);
    tag(&mut joins, op::JOIN).u8(1 << 1);
    tag(&mut joins, op::REPLY)
        .u8(0)
        .u8(body_kind(false, 0))
        .bytes(&state);
    for _ in 0..6 {
        tag(&mut joins, op::TIMERS).u8(0);
        tag(&mut joins, op::ANSWER).u8(0).u8(0).num(0);
    }
    tag(&mut joins, op::SET).u8(0).num(4);
    tag(&mut joins, op::SET).u8(1).num(2);
    tag(&mut joins, op::DELETE).u8(1);
    tag(&mut joins, op::DATAGRAM)
        .u8(3)
        .u8(body_kind(false, 0))
        .bytes(&ping(3, 4));
    timers(&mut joins, 4);

    // Keys: join sealed, rotate, turn sealing off and on, refuse plain.
    let mut keys = Writer::default();
    keys.u8(0);
    tag(&mut keys, op::INSTALL_KEY).u8(0);
    tag(&mut keys, op::JOIN).u8(1 << 1);
    tag(&mut keys, op::REPLY)
        .u8(0)
        .u8(body_kind(false, 1))
        .bytes(&state);
    tag(&mut keys, op::DATAGRAM)
        .u8(3)
        .u8(body_kind(false, 1))
        .bytes(&ping(3, 4));
    tag(&mut keys, op::DATAGRAM)
        .u8(3)
        .u8(body_kind(false, 0))
        .bytes(&ping(3, 5));
    tag(&mut keys, op::INSTALL_KEY).u8(1);
    tag(&mut keys, op::USE_KEY).u8(1);
    tag(&mut keys, op::REMOVE_KEY).u8(1);
    tag(&mut keys, op::REMOVE_KEY).u8(0);
    tag(&mut keys, op::SEALING).u8(0);
    tag(&mut keys, op::DATAGRAM)
        .u8(3)
        .u8(body_kind(false, 2))
        .bytes(&ping(3, 6));
    tag(&mut keys, op::SEALING).u8(2);
    timers(&mut keys, 3);

    // Peers' exchanges: a request with members and digests, its last
    // frame, a built request, and a stream that fails.
    let mut accepts = Writer::default();
    accepts.u8(1);
    let request = frame("", 2, frames_request());
    tag(&mut accepts, op::ACCEPT)
        .u8(2)
        .u8(body_kind(false, 0))
        .bytes(&request);
    let last = frame("", 2, pb::PushPull::default());
    tag(&mut accepts, op::FRAME)
        .u8(0)
        .u8(body_kind(false, 0))
        .bytes(&last);
    tag(&mut accepts, op::ACCEPT).u8(3).u8(body_kind(true, 0));
    // from node-3, joining, one spelt member (node-3 alive at its own
    // address, incarnation 1, no meta, no accuser, its own life), no
    // strangers, digests or deltas
    accepts.u8(3).u8(1).u8(1);
    accepts.u8(3).u8(0).num(1).u8(0).num(0).u8(0).num(0);
    accepts.u8(0).u8(0).u8(0);
    tag(&mut accepts, op::JOIN).u8(1 << 2);
    tag(&mut accepts, op::CLOSE).u8(0);
    timers(&mut accepts, 3);

    // Built datagrams: a ping, updates and a key delta spelt field by field.
    let mut built = Writer::default();
    built.u8(2);
    tag(&mut built, op::JOIN).u8(1 << 1);
    tag(&mut built, op::REPLY)
        .u8(0)
        .u8(body_kind(false, 0))
        .bytes(&state);
    tag(&mut built, op::DATAGRAM).u8(4).u8(body_kind(true, 0));
    // from node-4; one message: a ping (kind 0), seq 3, to node-0
    built.u8(4).u8(1).u8(0).num(3).u8(0);
    // two updates: node-5 alive at its own address, incarnation 1, no
    // accuser, its own life; node-2 suspect by node-4
    built.u8(2);
    built.u8(5).u8(0).num(1).u8(0).u8(0).num(0);
    built.u8(2).u8(0).num(2).u8(1).u8(4).num(0);
    // one delta: node-4 sets "color" (6 bytes) at version 1, prev 0
    built.u8(1).u8(4).num(0).u8(0).u8(0).num(6).num(1).num(0);
    // live 6, summary 0
    built.num(6).num(0);
    timers(&mut built, 6);

    // A small node: 16 members at most, 512-byte datagrams; a crowd joins
    // it, time runs long enough to reap, and it leaves.
    let mut small = Writer::default();
    small.u8(4 | 8 | 16);
    tag(&mut small, op::JOIN).u8(1 << 1);
    tag(&mut small, op::REPLY).u8(0).u8(body_kind(true, 0));
    // from node-1, not joining, no spelt members, 40 strangers, no digests or deltas
    small.u8(1).u8(0).u8(0).u8(40).u8(0).u8(0);
    tag(&mut small, op::SET_ADDR).num(300);
    tag(&mut small, op::SET_ADDR).num(200);
    timers(&mut small, 4);
    tag(&mut small, op::ADVANCE).u16(0x8000 | 4000);
    timers(&mut small, 4);
    tag(&mut small, op::LEAVE);
    timers(&mut small, 4);
    tag(&mut small, op::JOIN).u8(1 << 1);
    tag(&mut small, op::SET).u8(2).num(1);

    vec![
        ("join-probe-gossip", joins.out),
        ("keys", keys.out),
        ("accept", accepts.out),
        ("built-datagram", built.out),
        ("small-crowd-leave", small.out),
    ]
}

/// A peer's request: itself and two more members, and a digest that asks
/// for node-1's keys.
fn frames_request() -> pb::PushPull {
    pb::PushPull {
        members: vec![alive(2, 1), alive(7, 1), alive(8, 1)],
        digests: vec![pb::Digest {
            owner: n(1),
            life: life(1),
            watermark: 0,
            gc: 0,
            content: 0,
        }],
        ..Default::default()
    }
}
