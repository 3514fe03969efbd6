//! No suspicion from one lost datagram (issue 19, point 6): on a network
//! that loses 5 % of datagrams, a probe's direct ping is retried beside the
//! relays' ping-reqs, so healthy members are (nearly) never suspected.
//! memberlist, with its TCP fallback ping, suspected none in 300 s of 50
//! real agents at 5 % input loss; without the retries swim suspected 9.3
//! per run in the simulator (seeds 1-50; 12 with real agents).

use std::path::PathBuf;
use swim_sim::{Scenario, Sim};

const SEEDS: std::ops::RangeInclusive<u64> = 1..=5;

/// First-hand false suspicions (views suspecting a healthy member on their
/// own failed probe) and the bytes per node per second, summed and
/// averaged over `SEEDS`, with `config` (if any) over the scenario's.
fn run(config: Option<&str>) -> (u64, f64) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/loss-5pct-50.toml");
    let mut s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    if let Some(config) = config {
        s = s.with_config(config).unwrap_or_else(|e| panic!("{e}"));
    }
    let (mut accusations, mut bytes) = (0, 0.0);
    for seed in SEEDS {
        let run = s.with_seed(seed).unwrap_or_else(|e| panic!("{e}"));
        let report = Sim::new(run.options.clone()).unwrap().run();
        // Without retries the scenario's `no_false_suspicions` fails, as
        // it should; no false deaths either way.
        let failures = run.verify(&report);
        let shipped = config.is_none();
        assert!(failures.is_empty() || !shipped, "seed {seed}: {failures:?}");
        assert_eq!(report.false_positive_deaths, 0, "seed {seed}");
        accusations += report.false_accusations;
        bytes += report.bytes_per_node_per_sec;
    }
    (accusations, bytes / SEEDS.count() as f64)
}

#[test]
fn one_lost_datagram_does_not_make_a_suspect() {
    // The default: three retries (none on seeds 1-50).
    let (retried, retried_bytes) = run(None);
    let (single, single_bytes) = run(Some("probe_retries = 0"));
    // Without retries 9.3 a run (seeds 1-50).
    assert!(retried <= 1, "{retried} false suspicions in 5 runs");
    assert!(
        single >= 20,
        "the bound means something: {single} without retries"
    );
    // The retries cost less than the suspicions and refutations they spare.
    assert!(
        retried_bytes <= single_bytes,
        "{retried_bytes:.0} B/node/s with retries, {single_bytes:.0} without"
    );
}
