//! Any bytes, delivered as a push-pull stream frame, must not panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use swim_core::{Config, Identity, Input, Instant, Node, StreamId};

fuzz_target!(|data: &[u8]| {
    let id = Identity { name: "fuzz".into(), addr: ([127, 0, 0, 1], 7946).into(), meta: Default::default() };
    let mut node = Node::new(Config::lan(), id, 0, Instant::ZERO).expect("valid config");
    let from = ([127, 0, 0, 2], 7946).into();
    let bytes: swim_core::Bytes = data.to_vec().into();
    let _ = node.step(Input::StreamRequest { id: StreamId(1), from, bytes: bytes.clone() }, Instant::ZERO).count();
    let _ = node.step(Input::StreamReply { id: StreamId(1), bytes }, Instant::ZERO).count();
});
