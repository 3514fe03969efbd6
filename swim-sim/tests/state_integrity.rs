//! The state layer against a liar: forged writes, digests and resets, fake
//! lives, floods of keys, deletes and restarts. Each test is one failure
//! measured on the state layer before owners had the last word (the issue
//! that asked for this names them 1 to 8); each asserts what readers see,
//! against what the owner wrote.
//!
//! The forgeries are built with the wire schema and handed to a node as a
//! driver would hand it a datagram or a stream frame from the attacker's
//! address. The simulator's own checker flags every forged value a reader
//! is shown (that is what it is for), so these tests read values directly.

use prost::Message;
use std::net::SocketAddr;
use std::time::Duration;
use swim_core::{Bytes, Config, Input, StreamId, MAX_KEYS, MAX_NAMESPACE_BYTES};
use swim_proto as pb;
use swim_sim::{addr_of, name_of, Cluster, Fault, FaultKind, Options};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn write(key: &str, value: &str, version: u64, prev: u64) -> pb::KeyWrite {
    pb::KeyWrite {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
        deleted: false,
        version,
        prev,
    }
}

/// A datagram from `from` (name and address) carrying key writes.
fn datagram(from: usize, deltas: Vec<pb::KeyDelta>) -> Bytes {
    pb::Packet {
        version: pb::PROTOCOL_VERSION,
        from: name_of(from).into_bytes().into(),
        deltas,
        ..Default::default()
    }
    .encode_to_vec()
    .into()
}

fn delta(owner: usize, life: u64, w: pb::KeyWrite) -> pb::KeyDelta {
    pb::KeyDelta {
        owner: name_of(owner).into_bytes().into(),
        life,
        write: Some(w),
        ..Default::default()
    }
}

/// Hands node `to` a datagram as if `from` sent it.
fn inject(c: &mut Cluster, to: usize, from: SocketAddr, bytes: Bytes) {
    c.command(to, |n, now| n.handle(Input::Datagram { from, bytes }, now));
}

/// Hands node `to` the first frame of a stream `from` opened.
fn inject_stream(c: &mut Cluster, to: usize, from: SocketAddr, id: u64, frame: pb::PushPull) {
    let bytes: Bytes = pb::StreamFrame {
        version: pb::PROTOCOL_VERSION,
        from: name_of(0).into_bytes().into(),
        push_pull: Some(frame),
        ..Default::default()
    }
    .encode_to_vec()
    .into();
    c.command(to, |n, now| {
        n.handle(
            Input::StreamFrame {
                id: StreamId::accepted(id),
                from,
                bytes,
            },
            now,
        )
    });
}

fn life(c: &Cluster, i: usize) -> u64 {
    c.node(i).expect("runs").life()
}

fn value(c: &Cluster, viewer: usize, owner: usize, key: &str) -> Option<String> {
    c.get(viewer, owner, key)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The views (of `n`) in which `owner`'s `key` is not `want`.
fn wrong(c: &Cluster, n: usize, owner: usize, key: &str, want: Option<&str>) -> Vec<usize> {
    (0..n)
        .filter(|&v| value(c, v, owner, key).as_deref() != want)
        .collect()
}

/// A cluster of `n` on `seed` whose checker counts the forged values
/// readers are shown instead of stopping the run.
fn cluster(n: usize, seed: u64, config: Config) -> Cluster {
    Cluster::with_options(Options {
        config,
        hostile_report: true,
        ..Options::new(n, seed, Duration::ZERO)
    })
}

fn converged(n: usize, seed: u64) -> Cluster {
    let mut c = cluster(n, seed, Config::lan());
    c.run_for(secs(10));
    assert!(c.converged(), "seed {seed}");
    c
}

/// Issue point 1: one datagram carrying `role=evil` at version 1,000,000
/// about node 2 left 7 of 8 views at `evil`, and node 2's later writes
/// reached nobody in 160 s.
#[test]
fn one_forged_write_does_not_freeze_an_owners_keys() {
    for seed in 1..=5 {
        let mut c = converged(8, seed);
        c.set(2, "role", "web");
        c.run_for(secs(5));
        let forged = delta(2, life(&c, 2), write("role", "evil", 1_000_000, 0));
        inject(&mut c, 1, addr_of(0), datagram(0, vec![forged]));
        c.run_for(secs(5));
        c.set(2, "role", "db");
        c.set(2, "zone", "eu");
        c.run_for(secs(30));
        assert_eq!(
            wrong(&c, 8, 2, "role", Some("db")),
            Vec::<usize>::new(),
            "seed {seed}"
        );
        assert_eq!(
            wrong(&c, 8, 2, "zone", Some("eu")),
            Vec::<usize>::new(),
            "seed {seed}"
        );
        assert!(c.node(2).unwrap().metrics().claims >= 1, "seed {seed}");
    }
}

/// A forged write at a version the owner has passed, about a key the
/// owner never wrote, is the owner's to answer too.
#[test]
fn a_forged_write_below_the_owners_version_is_answered() {
    let mut c = converged(8, 3);
    for i in 0..5 {
        c.set(2, &format!("k{i}"), "v");
    }
    c.run_for(secs(5));
    let forged = delta(2, life(&c, 2), write("admin", "yes", 2, 1));
    for v in [1, 3, 5] {
        inject(&mut c, v, addr_of(0), datagram(0, vec![forged.clone()]));
    }
    c.run_for(secs(30));
    assert_eq!(wrong(&c, 8, 2, "admin", None), Vec::<usize>::new());
    assert_eq!(wrong(&c, 8, 2, "k4", Some("v")), Vec::<usize>::new());
}

/// Issue point 3: a reset in the first frame of a stream anyone opens
/// replaced node 1's keys everywhere (repair spread it) and hid its later
/// writes.
#[test]
fn a_reset_in_a_streams_first_frame_is_not_merged() {
    let mut c = converged(6, 2);
    c.set(1, "role", "web");
    c.run_for(secs(5));
    let reset = pb::Deltas {
        owner: name_of(1).into_bytes().into(),
        life: life(&c, 1),
        reset: true,
        to: (1 << 63) - 1,
        gc: 0,
        writes: vec![write("role", "evil", (1 << 63) - 1, 0)],
    };
    let frame = pb::PushPull {
        deltas: vec![reset],
        ..Default::default()
    };
    inject_stream(&mut c, 3, addr_of(0), 77, frame);
    c.run_for(secs(1));
    assert_eq!(value(&c, 3, 1, "role").as_deref(), Some("web"));
    assert!(c.node(3).unwrap().metrics().keys_refused.unasked >= 1);
    c.set(1, "role", "db");
    c.run_for(secs(20));
    assert_eq!(wrong(&c, 6, 1, "role", Some("db")), Vec::<usize>::new());
}

/// Issue point 4: 600 datagrams put 6,000 keys and 275 KB under one owner
/// at a replica (an owner may hold 256 keys and 64 KiB).
#[test]
fn a_replica_holds_no_more_than_an_owner_could_write() {
    let mut c = converged(4, 4);
    let life2 = life(&c, 2);
    let big = "x".repeat(40);
    let mut version = 0;
    for d in 0..600 {
        let deltas = (0..10)
            .map(|k| {
                version += 1;
                delta(
                    2,
                    life2,
                    write(&format!("f{d}-{k}"), &big, version, version - 1),
                )
            })
            .collect();
        inject(&mut c, 1, addr_of(0), datagram(0, deltas));
    }
    for v in 0..4 {
        let keys = c.node(v).unwrap().keys(&name_of(2), "");
        let bytes: usize = keys.iter().map(|(k, v, _)| k.len() + v.len()).sum();
        assert!(keys.len() <= MAX_KEYS, "view {v}: {} keys", keys.len());
        assert!(bytes <= MAX_NAMESPACE_BYTES, "view {v}: {bytes} bytes");
    }
    assert!(c.node(1).unwrap().metrics().keys_refused.limits > 0);
    c.run_for(secs(30));
    for v in 0..4 {
        let (n, o) = (c.node(v).unwrap(), c.node(2).unwrap());
        assert_eq!(
            n.keys(&name_of(2), "f").len(),
            0,
            "view {v}: {:?}; owner: moves {} claims {} keys {:?}",
            n.keys(&name_of(2), "f"),
            o.metrics().namespace_moves,
            o.metrics().claims,
            o.keys(&name_of(2), "").len()
        );
    }
}

/// Issue point 5: the first write heard decided an unknown life: a late
/// joiner's namespace was forged in most views within a second.
#[test]
fn a_key_write_never_teaches_a_life() {
    let n = 30;
    let opts = Options {
        faults: vec![Fault {
            at: secs(20),
            kind: FaultKind::Join(n - 1),
        }],
        hostile_report: true,
        ..Options::new(n, 5, Duration::ZERO)
    };
    let mut c = Cluster::with_options(opts);
    c.run_for(secs(20) + Duration::from_millis(300));
    let forged = delta(n - 1, 0xdead, write("role", "evil", 1, 0));
    for v in 0..n - 1 {
        inject(&mut c, v, addr_of(0), datagram(0, vec![forged.clone()]));
    }
    c.run_for(secs(10));
    c.set(n - 1, "role", "web");
    c.run_for(secs(10));
    assert_eq!(
        wrong(&c, n, n - 1, "role", Some("web")),
        Vec::<usize>::new()
    );
}

/// Issue point 6: when the owner collected a tombstone every other node's
/// summary disagreed: 60 nodes, one delete, 55 summary repairs.
#[test]
fn a_collected_tombstone_costs_no_repair() {
    let config = Config {
        tombstone_grace: secs(10),
        ..Config::lan()
    };
    let mut c = cluster(30, 6, config);
    c.run_for(secs(10));
    c.set(4, "tmp", "1");
    c.run_for(secs(10));
    let repairs = |c: &Cluster| -> u64 {
        (0..30)
            .map(|i| c.node(i).unwrap().metrics().repair_exchanges)
            .sum()
    };
    let before = repairs(&c);
    c.delete(4, "tmp");
    c.run_for(secs(60));
    assert!(c.keys_agree());
    assert_eq!(repairs(&c) - before, 0);
}

/// Issue point 7: a node restarted after a member with keys died repaired
/// every ~5 s until that member was reaped.
#[test]
fn a_dead_members_namespace_starts_no_repair() {
    let mut c = converged(12, 7);
    c.set(3, "role", "web");
    c.run_for(secs(5));
    c.crash(3);
    c.run_for(secs(30));
    c.restart(5);
    c.run_for(secs(20));
    let before = c.node(5).unwrap().metrics().repair_exchanges;
    c.run_for(secs(60));
    assert!(c.node(5).unwrap().metrics().repair_exchanges - before <= 1);
}

/// Found by the swarm with a hostile member (case 260 of the default
/// seed): a replica cut off from the owner takes a forged write at a
/// version the owner then writes itself. The replica's digest (life,
/// watermark, GC watermark) is the owner's, so summaries agreed and no
/// repair ever looked: the forged key stayed for good.
#[test]
fn a_forged_write_at_a_version_the_owner_reaches_is_repaired() {
    for seed in 1..=5 {
        let mut c = converged(8, seed);
        // Node 5 hears nobody; the forger reaches it alone.
        c.partition(vec![vec![5]]);
        let forged = delta(2, life(&c, 2), write("evil", "yes", 1, 0));
        inject(&mut c, 5, addr_of(0), datagram(0, vec![forged]));
        assert_eq!(
            value(&c, 5, 2, "evil").as_deref(),
            Some("yes"),
            "seed {seed}"
        );
        // The owner's own first write takes version 1 everywhere else.
        c.set(2, "role", "db");
        c.run_for(secs(3));
        c.heal();
        c.run_for(secs(60));
        assert_eq!(
            wrong(&c, 8, 2, "evil", None),
            Vec::<usize>::new(),
            "seed {seed}"
        );
        assert_eq!(
            wrong(&c, 8, 2, "role", Some("db")),
            Vec::<usize>::new(),
            "seed {seed}"
        );
        assert!(c.keys_agree(), "seed {seed}");
    }
}

/// An insider (node 6, holding the key) forges resets and high versions
/// while node 10 restarts: found by the swarm (seed 23, case
/// 14467032605841327304), node 11 ended holding node 10 alive at node
/// 10's own incarnation but in its earlier life, with a forged key of
/// that life, for good: no update supersedes an equal one, and summaries
/// leave lives out. A peer whose full state shows the other life now
/// tells node 10, which outbids it. Keys agree at the end on every seed.
#[test]
fn a_member_held_in_its_earlier_life_at_its_own_incarnation_is_told() {
    use swim_sim::{Attack, Hostile};
    for seed in [14467032605841327304, 1, 2, 3, 4, 5] {
        let mut o = Options::new(12, seed, secs(90));
        o.config = Config::lan();
        o.config.tombstone_grace = secs(3);
        o.network.loss = 0.0175;
        o.keys = vec![swim_core::SecretKey::new(
            *b"swarm's cluster key, 32 bytes!!!",
        )];
        let f = |ms: u64, kind| Fault {
            at: Duration::from_millis(ms),
            kind,
        };
        o.faults = vec![
            f(
                2260,
                FaultKind::Hostile(Hostile {
                    node: Some(6),
                    every: Duration::from_millis(739),
                    until: secs(25),
                    sealed: true,
                    attacks: vec![Attack::ForgeReset, Attack::HighVersion],
                }),
            ),
            f(3904, FaultKind::Hold { from: 8, to: 1 }),
            f(4056, FaultKind::Restart(10)),
            f(8904, FaultKind::Release { from: 8, to: 1 }),
            f(
                12289,
                FaultKind::Set {
                    node: 0,
                    key: "k0".into(),
                    value: "v0".into(),
                },
            ),
            f(
                12386,
                FaultKind::Pause {
                    node: 11,
                    duration: Duration::from_millis(4680),
                },
            ),
        ];
        let report = swim_sim::Sim::new(o).expect("valid options").run();
        assert_eq!(report.violation, None, "seed {seed}");
        assert!(
            report.keys_agree_at_end,
            "seed {seed}: keys disagree at the end"
        );
    }
}
