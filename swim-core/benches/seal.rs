//! What sealing costs: a ping→ack sealed and plain through a node of 100
//! members, and the two candidate ciphers on ping- and datagram-sized
//! messages (seal then open).
//! `cargo bench -p swim-core --bench seal`

#[path = "../tests/common/mod.rs"]
mod common;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use common::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use swim_core::{Input, Instant, SecretKey};

fn ping_ack(c: &mut Criterion) {
    let mut group = c.benchmark_group("ping_ack_sealed");
    let now = Instant::from_millis(60_000);
    for sealed in [false, true] {
        let mut node = idle_node(100);
        let mut bytes = ping(3, 7, 0);
        if sealed {
            node.install_secret_key(SecretKey::new([7; 32]));
            bytes = node
                .keyring()
                .seal_with_nonce("", 1, &bytes)
                .expect("a key")
                .into();
        }
        let name = if sealed { "sealed" } else { "plain" };
        group.bench_function(name, |b| {
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

fn ciphers(c: &mut Criterion) {
    let mut group = c.benchmark_group("seal_open");
    let aes = aes_gcm::Aes256Gcm::new(&[7u8; 32].into());
    let xchacha = chacha20poly1305::XChaCha20Poly1305::new(&[7u8; 32].into());
    for len in [48usize, 1400] {
        let msg = vec![0x5a; len];
        group.bench_with_input(BenchmarkId::new("aes-256-gcm", len), &len, |b, _| {
            let nonce = aes_gcm::Nonce::from_slice(&[1; 12]);
            b.iter(|| {
                let mut buf = msg.clone();
                let tag = aes
                    .encrypt_in_place_detached(nonce, b"aad", &mut buf)
                    .unwrap();
                aes.decrypt_in_place_detached(nonce, b"aad", &mut buf, &tag)
                    .unwrap();
                buf.len()
            })
        });
        group.bench_with_input(BenchmarkId::new("xchacha20-poly1305", len), &len, |b, _| {
            let nonce = chacha20poly1305::XNonce::from_slice(&[1; 24]);
            b.iter(|| {
                let mut buf = msg.clone();
                let tag = xchacha
                    .encrypt_in_place_detached(nonce, b"aad", &mut buf)
                    .unwrap();
                xchacha
                    .decrypt_in_place_detached(nonce, b"aad", &mut buf, &tag)
                    .unwrap();
                buf.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ping_ack, ciphers);
criterion_main!(benches);
