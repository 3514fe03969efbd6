//! Every shipped scenario passes its own checks, and gives the same trace twice.

use std::path::PathBuf;
use swim_sim::{Scenario, Sim};

fn scenarios() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_scenario_passes_and_is_deterministic() {
    let files = scenarios();
    assert!(files.len() >= 8, "{files:?}");
    for path in files {
        let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let first = Sim::new(s.options.clone()).unwrap().run();
        let failures = s.verify(&first);
        assert!(failures.is_empty(), "{}: {failures:?}", path.display());
        let second = Sim::new(s.options.clone()).unwrap().run();
        assert_eq!(first.trace_hash, second.trace_hash, "{}", path.display());
    }
}

#[test]
fn a_sweep_is_reproducible_seed_by_seed() {
    let s =
        Scenario::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/crash-one.toml"))
            .unwrap();
    let hashes = |seeds: std::ops::Range<u64>| -> Vec<String> {
        seeds
            .map(|seed| {
                let mut o = s.options.clone();
                o.seed = seed;
                Sim::new(o).unwrap().run().trace_hash
            })
            .collect()
    };
    let a = hashes(1..4);
    assert_eq!(a, hashes(1..4));
    let mut distinct = a.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 3);
}

/// The heavy scenarios in `scenarios/bench/` are run by hand (see the
/// README's numbers), but CI still checks that every one of them loads.
#[test]
fn every_bench_scenario_loads() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/bench");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("bench directory") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_some_and(|x| x == "toml") {
            let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(s.options.nodes >= 100, "{}", path.display());
            count += 1;
        }
    }
    assert!(count >= 6, "found only {count} bench scenarios");
}
