//! Any bytes, delivered as a datagram to the real entry point, must not panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use swim_core::{Config, Identity, Input, Instant, Node};

fuzz_target!(|data: &[u8]| {
    let id = Identity { name: "fuzz".into(), addr: ([127, 0, 0, 1], 7946).into(), meta: Default::default() };
    let mut node = Node::new(Config::lan(), id, 0, Instant::ZERO).expect("valid config");
    let from = ([127, 0, 0, 2], 7946).into();
    let _ = node.step(Input::Datagram { from, bytes: data.to_vec().into() }, Instant::ZERO).count();
});
