//! Any bytes, delivered as a datagram to the real entry point, must not panic.
//! The node first joins a small cluster, so updates about known members,
//! probes of known targets and acks to pending probes are all reachable.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use swim_core::{Config, Identity, Input, Instant, Node, Output};

/// A `swim.v1.StreamFrame` naming `node-1` .. `node-4` alive at 10.0.0.i:7946.
fn full_state() -> Vec<u8> {
    fn field(tag: u8, bytes: &[u8], out: &mut Vec<u8>) {
        out.push(tag);
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    let mut members = Vec::new();
    for i in 1..=4u8 {
        let mut update = Vec::new();
        field(0x0a, format!("node-{i}").as_bytes(), &mut update);
        field(0x12, &[10, 0, 0, i, 0x1f, 0x0a], &mut update);
        field(0x12, &update, &mut members);
    }
    let mut frame = vec![0x08, 0x01];
    field(0x1a, b"node-1", &mut frame);
    field(0x22, &members, &mut frame);
    frame
}

fuzz_target!(|data: &[u8]| {
    let id = Identity::new("fuzz", ([127, 0, 0, 1], 7946).into());
    let mut node = Node::new(Config::lan(), id, 0, Instant::ZERO).expect("valid config");
    let seed: SocketAddr = ([10, 0, 0, 1], 7946).into();
    node.join(&[seed], Instant::ZERO).expect("valid seed");
    let opened = std::iter::from_fn(|| node.poll_output()).find_map(|o| match o {
        Output::StreamOpen { id, .. } => Some(id),
        _ => None,
    });
    let id = opened.expect("join opens a stream");
    let _ = node.step(Input::StreamFrame { id, from: seed, bytes: full_state().into() }, Instant::ZERO).count();
    assert_eq!(node.members().count(), 5, "the join merged the cluster");
    // Probe someone, so that an ack in the input can match a pending probe.
    let _ = node.step(Input::Tick, Instant::from_millis(1_000)).count();
    let _ = node.step(Input::Datagram { from: seed, bytes: data.to_vec().into() }, Instant::from_millis(1_100)).count();
});
