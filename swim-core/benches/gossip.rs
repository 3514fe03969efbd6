//! Handling a gossip packet of 50 alive updates about distinct known members,
//! each one no news (the incarnation the node already holds), at 100 and
//! 10,000 known members.
//!
//! The same packet every iteration, from a known member, on an idle node (its
//! gossip queue drained): the figure is the cost of receiving piggybacked
//! gossip itself: decode, validate, look up the sender and each member,
//! compare incarnations. Nothing is answered, nothing changes.
//! `cargo bench -p swim-core --bench gossip`

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use swim_core::{Input, Instant};

/// Updates per packet.
const UPDATES: usize = 50;

/// 50 members spread over the table (never the node itself nor the sender),
/// alive at the incarnation `joined_node` gave them.
fn updates(n: usize) -> Vec<swim_proto::Update> {
    let step = (n - 2) / UPDATES;
    (0..UPDATES).map(|k| alive(2 + k * step, 1)).collect()
}

fn gossip(c: &mut Criterion) {
    let mut group = c.benchmark_group("gossip50");
    for n in [100, 10_000] {
        let mut node = idle_node(n);
        let bytes = packet(1, vec![], updates(n));
        let now = Instant::from_millis(60_000);
        let before = node.metrics().clone();
        let outputs = node
            .step(
                Input::Datagram {
                    from: addr(1),
                    bytes: bytes.clone(),
                },
                now,
            )
            .count();
        assert_eq!(outputs, 0, "no-op gossip answers nothing");
        assert_eq!(
            node.metrics().updates_received,
            before.updates_received + UPDATES as u64
        );
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                node.step(
                    Input::Datagram {
                        from: addr(1),
                        bytes: bytes.clone(),
                    },
                    now,
                )
                .count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, gossip);
criterion_main!(benches);
