//! The bodies of the fuzz targets, shared by the fuzz crate
//! (`fuzz/fuzz_targets/*.rs`) and the corpus replay test
//! (`swim-core/tests/fuzz_corpus.rs`): both include this module with
//! `#[path]`, so that every committed corpus file is replayed on stable
//! through exactly the code the fuzzer runs.
//!
//! Each target is a `fn(&[u8])` that panics when the node panics or breaks
//! one of its documented bounds. The helpers here build nodes in known
//! states (node-0 joined to node-1 ..= node-4, with keys of node-1 held)
//! and messages with the wire schema.
#![allow(dead_code)]

pub mod datagram;
pub mod reader;
pub mod sealed;
pub mod seeds;
pub mod sequence;
pub mod stream;

use prost::Message;
use std::cell::RefCell;
use std::net::SocketAddr;
use swim_core::{Bytes, Config, Identity, Input, Instant, Node, Output, SecretKey, StreamId};
use swim_proto as pb;

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its fuzz binary and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("datagram", datagram::run),
    ("stream", stream::run),
    ("sequence", sequence::run),
    ("sealed", sealed::run),
];

/// The peers the node under test knows after [`joined`]: node-1 ..= node-4.
pub const PEERS: usize = 4;

/// The address of member `i` (node-0 is the node under test).
pub fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 7946))
}

/// The name of member `i`.
pub fn name(i: usize) -> String {
    format!("node-{i}")
}

/// The life peers announce for member `i`.
pub fn life(i: usize) -> u64 {
    1000 + i as u64
}

/// A cluster key made of the byte `b`.
pub fn key(b: u8) -> SecretKey {
    SecretKey::new([b; 32])
}

/// An address in the wire form of `swim.v1.Update.addr`.
pub fn wire_addr(a: SocketAddr) -> Bytes {
    let mut v = match a {
        SocketAddr::V4(a) => a.ip().octets().to_vec(),
        SocketAddr::V6(a) => a.ip().octets().to_vec(),
    };
    v.extend_from_slice(&a.port().to_be_bytes());
    v.into()
}

/// Member `i` alive at `incarnation`, with its life.
pub fn alive(i: usize, incarnation: u64) -> pb::Update {
    pb::Update {
        name: name(i).into_bytes().into(),
        addr: wire_addr(addr(i)),
        incarnation,
        status: pb::Status::Alive as i32,
        from: Bytes::new(),
        life: life(i),
        ..Default::default()
    }
}

/// A key write as the wire carries it.
pub fn write(key: &str, value: &[u8], version: u64, prev: u64) -> pb::KeyWrite {
    pb::KeyWrite {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::copy_from_slice(value),
        deleted: false,
        version,
        prev,
    }
}

/// A datagram from member `from` of cluster `cluster`.
pub fn packet(
    cluster: &str,
    from: usize,
    messages: Vec<pb::message::Body>,
    updates: Vec<pb::Update>,
    deltas: Vec<pb::KeyDelta>,
) -> Vec<u8> {
    pb::Packet {
        version: pb::PROTOCOL_VERSION,
        cluster: cluster.to_string(),
        from: name(from).into_bytes().into(),
        messages: messages
            .into_iter()
            .map(|b| pb::Message { body: Some(b) })
            .collect(),
        updates,
        live: 0,
        deltas,
        summary: 0,
        ..Default::default()
    }
    .encode_to_vec()
}

/// A push-pull frame from member `from` of cluster `cluster`.
pub fn frame(cluster: &str, from: usize, push_pull: pb::PushPull) -> Vec<u8> {
    pb::StreamFrame {
        version: pb::PROTOCOL_VERSION,
        cluster: cluster.to_string(),
        from: name(from).into_bytes().into(),
        push_pull: Some(push_pull),
    }
    .encode_to_vec()
}

/// What node-1 holds: node-1 ..= node-4 alive, node-1's two keys (and
/// its digest of them), as a push-pull state.
pub fn cluster_state() -> pb::PushPull {
    pb::PushPull {
        join: false,
        members: (1..=PEERS).map(|i| alive(i, 1)).collect(),
        digests: vec![pb::Digest {
            owner: name(1).into_bytes().into(),
            life: life(1),
            watermark: 2,
            gc: 0,
            content: 0,
        }],
        deltas: vec![pb::Deltas {
            owner: name(1).into_bytes().into(),
            life: life(1),
            reset: false,
            to: 2,
            gc: 0,
            writes: vec![write("color", b"blue", 1, 0), write("size", b"10", 2, 0)],
        }],
        ..Default::default()
    }
}

thread_local! {
    /// Nodes that only seal, one per key byte (built once per thread).
    static SEALERS: RefCell<Vec<(u8, Node)>> = const { RefCell::new(Vec::new()) };
}

/// `plain` sealed under [`key`]`(k)` for cluster `cluster`, with nonce
/// prefix `nonce`, as a member holding that key sends it.
pub fn seal(k: u8, cluster: &str, nonce: u64, plain: &[u8]) -> Vec<u8> {
    SEALERS.with(|s| {
        let mut s = s.borrow_mut();
        if !s.iter().any(|(b, _)| *b == k) {
            let id = Identity::new("sealer", addr(200));
            let mut n = Node::new(Config::lan(), id, 7, Instant::ZERO).expect("valid config");
            n.install_secret_key(key(k));
            s.push((k, n));
        }
        let (_, n) = s.iter().find(|(b, _)| *b == k).expect("just added");
        n.keyring()
            .seal_with_nonce(cluster, nonce, plain)
            .expect("the sealer holds a key")
    })
}

/// Node-0 with `config`, holding `keys` (the first primary), joined through
/// node-1, which answered with [`cluster_state`] (sealed under `keys[0]`
/// when there is one): it knows node-1 ..= node-4 and node-1's keys. Its
/// outputs are drained and checked. Time is zero.
pub fn joined(config: Config, keys: &[u8]) -> Node {
    let id = Identity::new(name(0), addr(0));
    let mut node = Node::new(config, id, 42, Instant::ZERO).expect("valid config");
    for &k in keys {
        node.install_secret_key(key(k));
    }
    node.join(&[addr(1)], Instant::ZERO).expect("not leaving");
    let stream = drain(&mut node, Instant::ZERO)
        .into_iter()
        .find_map(|o| match o {
            Output::StreamOpen { id, .. } => Some(id),
            _ => None,
        })
        .expect("join opens a stream");
    let cluster = node.config().cluster.clone();
    let mut bytes = frame(&cluster, 1, cluster_state());
    if let Some(&k) = keys.first() {
        bytes = seal(k, &cluster, 1, &bytes);
    }
    let from = addr(1);
    let input = Input::StreamFrame {
        id: stream,
        from,
        bytes: bytes.into(),
    };
    let _ = step(&mut node, input, Instant::ZERO);
    assert_eq!(
        node.members().count(),
        PEERS + 1,
        "the join merged the cluster"
    );
    node
}

/// Steps `node` and returns its outputs, checked with [`check`].
pub fn step(node: &mut Node, input: Input, now: Instant) -> Vec<Output> {
    let out: Vec<Output> = node.step(input, now).collect();
    check(node, now, &out);
    out
}

/// The outputs waiting after a command, checked with [`check`].
pub fn drain(node: &mut Node, now: Instant) -> Vec<Output> {
    let out: Vec<Output> = node.poll_outputs().collect();
    check(node, now, &out);
    out
}

/// The documented bounds, after a call at `now` that produced `out`: no
/// datagram over `max_packet_size`, no frame over `max_stream_frame`, no
/// timer left due, and no more members than `max_members`.
pub fn check(node: &Node, now: Instant, out: &[Output]) {
    let c = node.config();
    for o in out {
        match o {
            Output::Datagram { bytes, to } => assert!(
                bytes.len() <= c.max_packet_size,
                "a datagram of {} bytes to {to} (max_packet_size {})",
                bytes.len(),
                c.max_packet_size
            ),
            Output::StreamFrame { bytes, id } => assert!(
                bytes.len() <= c.max_stream_frame,
                "a frame of {} bytes on {id:?} (max_stream_frame {})",
                bytes.len(),
                c.max_stream_frame
            ),
            _ => {}
        }
    }
    if let Some(t) = node.poll_timeout() {
        assert!(t > now, "a timer at {t:?} is still due at {now:?}");
    }
    let members = node.members().count();
    assert!(
        members <= c.max_members,
        "{members} members held (max_members {})",
        c.max_members
    );
}

/// The membership as comparable values, for before/after comparisons.
pub fn snapshot(node: &Node) -> Vec<(String, swim_core::Status, u64, SocketAddr)> {
    let mut v: Vec<_> = node
        .members()
        .map(|m| (m.name.to_string(), m.status, m.incarnation, m.addr))
        .collect();
    v.sort();
    v
}

/// Every key/value pair the node holds of members 0 ..= 4.
pub fn key_values(node: &Node) -> Vec<(usize, String, Bytes, u64)> {
    (0..=PEERS)
        .flat_map(|i| {
            node.keys(&name(i), "")
                .into_iter()
                .map(move |(k, v, n)| (i, k, v, n))
        })
        .collect()
}

/// The id of the stream the node opened last among `out`.
pub fn opened(out: &[Output]) -> Option<StreamId> {
    out.iter().rev().find_map(|o| match o {
        Output::StreamOpen { id, .. } => Some(*id),
        _ => None,
    })
}
