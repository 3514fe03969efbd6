//! Any bytes, delivered as a stream frame (a peer's request, and the reply
//! on a stream the node opened to join), must not panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use swim_core::{Config, Identity, Input, Instant, Node, Output, StreamId};

fuzz_target!(|data: &[u8]| {
    let id = Identity::new("fuzz", ([127, 0, 0, 1], 7946).into());
    let mut node = Node::new(Config::lan(), id, 0, Instant::ZERO).expect("valid config");
    let from = ([127, 0, 0, 2], 7946).into();
    let bytes: swim_core::Bytes = data.to_vec().into();
    let _ = node.step(Input::StreamFrame { id: StreamId::accepted(1), from, bytes: bytes.clone() }, Instant::ZERO).count();
    node.join(&[from], Instant::ZERO).expect("valid seed");
    let opened = node.poll_outputs().find_map(|o| match o {
        Output::StreamOpen { id, .. } => Some(id),
        _ => None,
    });
    let id = opened.expect("join opens a stream");
    let _ = node.step(Input::StreamFrame { id, from, bytes }, Instant::ZERO).count();
});
