//! Builds nodes in known states through the public API and the wire schema.
#![allow(dead_code)]

pub mod mesh;

use prost::Message;
use std::net::SocketAddr;
use swim_core::{Bytes, Config, Identity, Input, Instant, Node, Output, StreamId};
use swim_proto as pb;

pub fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 7946))
}

pub fn name(i: usize) -> String {
    format!("node-{i}")
}

pub fn wire_addr(a: SocketAddr) -> Bytes {
    let mut v = match a {
        SocketAddr::V4(a) => a.ip().octets().to_vec(),
        SocketAddr::V6(a) => a.ip().octets().to_vec(),
    };
    v.extend_from_slice(&a.port().to_be_bytes());
    v.into()
}

pub fn alive(i: usize, incarnation: u64) -> pb::Update {
    pb::Update {
        name: name(i).into_bytes().into(),
        addr: wire_addr(addr(i)),
        incarnation,
        status: pb::Status::Alive as i32,
        from: Bytes::new(),
        life: 1000 + i as u64,
        ..Default::default()
    }
}

/// A datagram from member `from` carrying `messages` and `updates`.
pub fn packet(from: usize, messages: Vec<pb::message::Body>, updates: Vec<pb::Update>) -> Bytes {
    viewed_packet(from, messages, updates, 0)
}

/// A datagram like [`packet`] whose sender says it holds `live` members.
pub fn viewed_packet(
    from: usize,
    messages: Vec<pb::message::Body>,
    updates: Vec<pb::Update>,
    live: u32,
) -> Bytes {
    pb::Packet {
        version: pb::PROTOCOL_VERSION,
        cluster: String::new(),
        from: name(from).into_bytes().into(),
        messages: messages
            .into_iter()
            .map(|b| pb::Message { body: Some(b) })
            .collect(),
        updates,
        live,
        deltas: vec![],
        summary: 0,
        queries: vec![],
        answers: vec![],
        ..Default::default()
    }
    .encode_to_vec()
    .into()
}

pub fn ping(from: usize, seq: u32, target: usize) -> Bytes {
    packet(
        from,
        vec![pb::message::Body::Ping(pb::Ping {
            seq,
            target: name(target).into_bytes().into(),
        })],
        vec![],
    )
}

/// Delivers `bytes` to `node` as a datagram from member `from` at `now`.
pub fn receive(node: &mut Node, from: usize, bytes: Bytes, now: Instant) -> Vec<Output> {
    node.step(
        Input::Datagram {
            from: addr(from),
            bytes,
        },
        now,
    )
    .collect()
}

/// Node 0 that has joined a cluster of `n` members (itself included) through
/// node 1, at time zero. All updates it has to gossip are drained, so the
/// node is idle.
pub fn joined_node(n: usize, config: Config) -> Node {
    let id = Identity::new(name(0), addr(0));
    let mut node = Node::new(config, id, 42, Instant::ZERO).unwrap();
    node.join(&[addr(1)], Instant::ZERO).unwrap();
    let stream = std::iter::from_fn(|| node.poll_output())
        .find_map(|o| match o {
            Output::StreamOpen { id, .. } => Some(id),
            _ => None,
        })
        .expect("join opens a stream");
    let frame = pb::StreamFrame {
        version: pb::PROTOCOL_VERSION,
        cluster: String::new(),
        from: name(1).into_bytes().into(),
        push_pull: Some(pb::PushPull {
            join: false,
            members: (1..n).map(|i| alive(i, 1)).collect(),
            ..Default::default()
        }),
    };
    let _ = node.step(
        Input::StreamFrame {
            id: stream,
            from: addr(1),
            bytes: frame.encode_to_vec().into(),
        },
        Instant::ZERO,
    );
    node
}

/// A node of a cluster of `n` that probes rarely, never pushes-pulls and
/// has gossiped everything it had: the cost of handling a packet is all a
/// benchmark of it measures.
pub fn idle_node(n: usize) -> Node {
    let config = Config {
        probe_interval: std::time::Duration::from_secs(600),
        gossip_interval: std::time::Duration::from_millis(1),
        reconnect_interval: std::time::Duration::ZERO,
        ..Config::lan()
    };
    let mut node = joined_node(n, config);
    drain_gossip(&mut node, Instant::ZERO, Instant::from_millis(60_000));
    node
}

/// Lets the node gossip until its queue is empty (answering nothing).
pub fn drain_gossip(node: &mut Node, mut now: Instant, until: Instant) -> Instant {
    while now < until {
        now = node.poll_timeout().unwrap_or(until).min(until);
        let _ = node.step(Input::Tick, now).count();
    }
    now
}

/// Everything a node holds, for before/after comparisons.
pub fn snapshot(node: &Node) -> Vec<(String, swim_core::Status, u64, SocketAddr)> {
    let mut v: Vec<_> = node
        .members()
        .map(|m| (m.name.to_string(), m.status, m.incarnation, m.addr))
        .collect();
    v.sort();
    v
}

/// Members `node-i` answer the pings to them among `out` (plain
/// datagrams to `addr(i)` naming `node-i`) with an ack from their own
/// address, at `now`: candidates the node heard of answer its check.
/// Returns how many answered.
pub fn answer_pings(node: &mut Node, out: &[Output], now: Instant) -> usize {
    let mut answered = 0;
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
            let _ = receive(node, i, ack, now);
            answered += 1;
        }
    }
    answered
}

pub fn unused_stream() -> StreamId {
    StreamId::opened(u64::MAX >> 1)
}

/// An address no member holds: where the reviews' stranger (or insider)
/// sends from and moves members to.
pub fn stranger() -> SocketAddr {
    SocketAddr::from(([10, 250, 0, 66], 40_000))
}

/// A plain datagram naming itself `from_name` (any source address).
pub fn plain_packet(from_name: &str, updates: Vec<pb::Update>) -> Bytes {
    pb::Packet {
        version: pb::PROTOCOL_VERSION,
        from: from_name.as_bytes().to_vec().into(),
        updates,
        ..Default::default()
    }
    .encode_to_vec()
    .into()
}

/// Alive news of member `i` at `incarnation`, same life (life 0), at `at`.
pub fn moved_to(i: usize, incarnation: u64, at: SocketAddr) -> pb::Update {
    pb::Update {
        life: 0,
        addr: wire_addr(at),
        ..alive(i, incarnation)
    }
}

/// A user event on the wire: no payload, not coalesced.
pub fn user_event(origin: &str, id: u64, clock: u64, name: &str) -> pb::UserEvent {
    pb::UserEvent {
        origin: origin.as_bytes().to_vec().into(),
        id,
        clock,
        name: name.into(),
        payload: Bytes::new(),
        coalesce: false,
    }
}
