//! Replays every committed fuzz input through its target's body, on stable:
//! the hand-made seeds (`fuzz/seeds/<target>/`) and the minimised corpus
//! (`fuzz/corpus/<target>/`). The bodies live in `fuzz/cases/`, which the
//! fuzz targets include too, so an input that makes a target panic or break
//! a bound under `cargo fuzz` fails here as well.
//!
//! The seeds are made by `fuzz/cases/seeds.rs`; after changing it (or an
//! input format), rewrite them with
//! `SWIM_WRITE_SEEDS=1 cargo test -p swim-core --test fuzz_corpus`.

#[path = "../../fuzz/cases/mod.rs"]
mod cases;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use swim_core::{Bytes, Config, Input, Instant, Output, StreamId};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of a directory, sorted (none if it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Runs `f`, turning a panic into its message.
fn outcome(f: impl FnOnce()) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into())
    })
}

#[test]
fn every_committed_input_passes_its_target() {
    let mut failures = Vec::new();
    for &(target, run) in cases::TARGETS {
        let mut replayed = 0;
        for kind in ["seeds", "corpus"] {
            for path in files(&fuzz_dir().join(kind).join(target)) {
                let data = std::fs::read(&path).expect("readable input");
                replayed += 1;
                if let Err(e) = outcome(|| run(&data)) {
                    failures.push(format!(
                        "{kind}/{target}/{:?}: {e}",
                        path.file_name().unwrap()
                    ));
                }
            }
        }
        assert!(
            replayed >= 5,
            "only {replayed} committed inputs for {target}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} inputs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_committed_seeds_are_what_the_seed_module_makes() {
    let write = std::env::var_os("SWIM_WRITE_SEEDS").is_some();
    let seeds = cases::seeds::all();
    for &(target, _) in cases::TARGETS {
        let dir = fuzz_dir().join("seeds").join(target);
        if write {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("writable fuzz/seeds");
        }
        let made: Vec<_> = seeds.iter().filter(|s| s.0 == target).collect();
        for (_, name, bytes) in &made {
            let path = dir.join(name);
            if write {
                std::fs::write(&path, bytes).expect("writable fuzz/seeds");
            }
            let committed = std::fs::read(&path).unwrap_or_default();
            assert!(
                committed == *bytes,
                "{} differs from what fuzz/cases/seeds.rs makes: rewrite the seeds with SWIM_WRITE_SEEDS=1",
                path.display()
            );
        }
        let names: Vec<_> = made.iter().map(|s| dir.join(s.1)).collect();
        assert_eq!(
            files(&dir),
            {
                let mut n = names;
                n.sort();
                n
            },
            "stale files in {}",
            dir.display()
        );
    }
}

/// The bound checks fire: an oversized datagram or frame is caught.
#[test]
fn the_bound_checks_catch_oversized_outputs() {
    let node = cases::joined(Config::lan(), &[]);
    let big = Bytes::from(vec![0; 1401]);
    let datagram = Output::Datagram {
        to: cases::addr(1),
        bytes: big,
    };
    let e = outcome(|| cases::check(&node, Instant::ZERO, &[datagram])).unwrap_err();
    assert!(e.contains("max_packet_size"), "{e}");
    let frame = Output::StreamFrame {
        id: StreamId::opened(1),
        bytes: Bytes::from(vec![0; (8 << 20) + 1]),
    };
    let e = outcome(|| cases::check(&node, Instant::ZERO, &[frame])).unwrap_err();
    assert!(e.contains("max_stream_frame"), "{e}");
}

/// The sealed target's reading of an envelope, as the node's: a sealed
/// field whose length is spelt in two bytes is refused (the length is not
/// authenticated, so a sealed message has one spelling); a flipped tag bit
/// is another message.
#[test]
fn the_sealed_target_reads_envelopes_as_the_node_does() {
    let plain = cases::sealed::template(cases::sealed::Path::Datagram, 0);
    let sealed = cases::seal(1, cases::sealed::CLUSTER, 5, &plain);
    let (aad, field) = cases::sealed::envelope(&sealed).expect("an envelope");
    assert_eq!(aad, &sealed[..8], "version and label");
    assert_eq!(field.len(), 12 + plain.len() + 16);
    let mut respelt = sealed.clone();
    respelt[9] |= 0x80;
    respelt.insert(10, 0);
    assert_eq!(cases::sealed::envelope(&respelt), None);
    let mut flipped = sealed.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert_ne!(cases::sealed::envelope(&flipped), Some((aad, field)));
    let mut longer = sealed.clone();
    longer.push(0);
    assert_eq!(
        cases::sealed::envelope(&longer),
        None,
        "nothing follows the field"
    );
}

/// The datagram seeds reach what they are named for.
#[test]
fn the_datagram_seeds_reach_deep_paths() {
    let seeds = cases::seeds::datagrams();
    let seed = |n: &str| seeds.iter().find(|s| s.0 == n).expect("a seed").1.clone();
    let deliver = |bytes: Vec<u8>| {
        let mut node = cases::joined(Config::lan(), &[]);
        let now = Instant::from_millis(1_000);
        let _ = node.step(Input::Tick, now).count();
        let out = cases::datagram::deliver(&mut node, cases::addr(1), &bytes, now);
        (node, out)
    };
    let (node, out) = deliver(seed("ping"));
    assert_eq!(node.metrics().received.ping.packets, 1);
    assert!(
        out.iter().any(|o| matches!(o, Output::Datagram { .. })),
        "answered"
    );
    let (node, _) = deliver(seed("ack-to-probe"));
    assert_eq!(node.metrics().received.ack.packets, 1);
    assert_eq!(
        node.metrics().dropped.total(),
        0,
        "the ack matched the probe"
    );
    let (node, _) = deliver(seed("key-deltas"));
    assert_eq!(node.metrics().deltas_applied, 3);
    let (node, _) = deliver(seed("updates"));
    // node-5, heard of from node-3, is a candidate (pinged, not admitted).
    assert_eq!(node.members().count(), cases::PEERS + 1);
    assert_eq!(node.metrics().candidates, 1);
    assert_eq!(node.metrics().dropped.total(), 0);
    let (node, _) = deliver(seed("refute"));
    assert_eq!(node.metrics().refutations, 1);
}

/// The stream seeds reach the merge on every path.
#[test]
fn the_stream_seeds_are_merged() {
    for (name, bytes) in cases::seeds::frames() {
        let mut node = cases::joined(Config::lan(), &[]);
        let id = StreamId::accepted(1);
        let _ = cases::stream::deliver(&mut node, id, cases::addr(2), &bytes, Instant::ZERO);
        assert_eq!(node.metrics().dropped.total(), 0, "{name}");
        assert_eq!(
            node.metrics().push_pulls,
            2,
            "{name}: the join's and this one"
        );
    }
}

/// The operation sequences do what their names say.
#[test]
fn the_sequence_seeds_reach_deep_paths() {
    let seeds = cases::seeds::sequences();
    let replay = |n: &str| {
        let seed = &seeds.iter().find(|s| s.0 == n).expect("a seed").1;
        cases::sequence::replay(seed)
    };
    let node = replay("join-probe-gossip");
    let m = node.metrics();
    assert_eq!(node.members().count(), cases::PEERS + 1);
    assert!(
        m.push_pulls >= 1 && m.probes >= 1 && m.keys_written == 3,
        "{m:?}"
    );
    assert!(
        m.received.ack.packets > m.dropped.unsolicited,
        "an ack matched a probe: {m:?}"
    );
    assert_eq!(node.get("node-1", "color").map(|v| v.1), Some(1));
    assert_eq!(m.received.ping.packets, 1, "{m:?}");

    let node = replay("keys");
    let m = node.metrics();
    assert_eq!(node.members().count(), cases::PEERS + 1, "joined sealed");
    assert_eq!(m.received.ping.packets, 2, "{m:?}");
    assert_eq!(
        m.dropped.auth, 1,
        "the plain ping, while sealing is required"
    );
    assert_eq!(node.keyring().ids().count(), 1);

    let node = replay("accept");
    let m = node.metrics();
    assert!(m.push_pulls >= 2, "{m:?}");
    // node-3 joined in its own words; node-7 and node-8, heard of from
    // node-2, were candidates that never answered.
    assert!(node.member("node-3").is_some());
    assert!(node.member("node-7").is_none());
    assert!(m.candidates >= 2 && m.candidates_forgotten >= 2, "{m:?}");

    let node = replay("built-datagram");
    let m = node.metrics();
    assert_eq!(m.received.ping.packets, 1, "{m:?}");
    assert_eq!(m.deltas_applied, 1, "{m:?}");
    // node-5, heard of from node-4, was a candidate that never answered.
    assert!(node.member("node-5").is_none());
    assert!(m.candidates >= 1, "{m:?}");

    let node = replay("small-crowd-leave");
    let m = node.metrics();
    assert!(m.members_refused > 0, "{m:?}");
    assert!(node.is_leaving());
    assert_eq!(node.local().addr.port(), 200, "the last set_addr");
}
