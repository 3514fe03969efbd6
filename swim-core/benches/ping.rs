//! Handling a ping and producing its ack, at 100 and 10,000 known members.
//!
//! The node is idle (its gossip queue drained), so the figure is the cost of
//! the probe path itself: decode, validate, look up the sender, encode the ack.
//! `cargo bench -p swim-core --bench ping`

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use swim_core::{Input, Instant};

fn ping_ack(c: &mut Criterion) {
    let mut group = c.benchmark_group("ping_ack");
    for n in [100, 10_000] {
        let mut node = idle_node(n);
        let bytes = ping(3, 7, 0);
        let now = Instant::from_millis(60_000);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                node.step(
                    Input::Datagram {
                        from: addr(3),
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

criterion_group!(benches, ping_ack);
criterion_main!(benches);
