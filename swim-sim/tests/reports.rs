//! What a run tells its reader: one verdict per check, passed or failed,
//! with the measured value beside its limit; leaves and restarts reported
//! as what they are.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use swim_sim::{Checks, Fault, FaultKind, Options, Scenario, Sim};

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

#[test]
fn the_quick_start_ends_with_its_checks_passed() {
    let out = Command::new(env!("CARGO_BIN_EXE_swim-sim"))
        .arg("run")
        .arg(scenario("crash-one.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"all 5 checks passed"), "{text}");
    for check in [
        "safety",
        "converged_within",
        "dead_everywhere_within",
        "no_false_deaths",
        "converged_at_end",
    ] {
        let line = lines
            .iter()
            .find(|l| l.trim_start().starts_with(&format!("passed  {check}:")))
            .unwrap_or_else(|| panic!("no verdict for {check}:\n{text}"));
        if check.ends_with("_within") {
            assert!(line.contains("(limit "), "{line}");
        }
    }
    assert!(!text.contains("never"), "{text}");
}

#[test]
fn a_failed_check_names_its_threshold_in_units() {
    let mut s = Scenario::load(&scenario("crash-one.toml")).unwrap();
    s.checks.dead_everywhere_within = Some(Duration::from_secs(1));
    let report = Sim::new(s.options.clone()).unwrap().run();
    let failed = s.verify(&report);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].check, "dead_everywhere_within");
    assert!(!failed[0].passed);
    let detail = &failed[0].detail;
    assert!(detail.contains("(limit 1.000 s)"), "{detail}");
    assert!(detail.contains("node-7"), "{detail}");
    assert!(!detail.contains("Some("), "{detail}");
    // Every other check is there too, passed.
    let all = s.verdicts(&report);
    assert_eq!(all.iter().filter(|v| v.passed).count(), all.len() - 1);
}

/// The README's flags showcase, at 100 nodes: a crash, a leave and a
/// restart of the crashed node under 10 % loss. Every check a flags run
/// gets passes on every seed, the leave is reported, and the restart is a
/// restart (not a "heal").
#[test]
fn a_run_from_flags_reports_the_leave_and_the_restart_and_passes_its_checks() {
    for seed in 1..=8 {
        let mut o = Options::new(100, seed, Duration::from_secs(60));
        o.network.loss = 0.1;
        let at = |s| Duration::from_secs(s);
        o.faults = vec![
            Fault {
                at: at(15),
                kind: FaultKind::Crash(7),
            },
            Fault {
                at: at(20),
                kind: FaultKind::Leave(5),
            },
            Fault {
                at: at(40),
                kind: FaultKind::Restart(7),
            },
        ];
        let s = Scenario {
            path: String::new(),
            description: String::new(),
            checks: Checks::for_flags(&o),
            options: o.clone(),
            text: String::new(),
        };
        let report = Sim::new(o).unwrap().run();
        let verdicts = s.verdicts(&report);
        let names: Vec<&str> = verdicts.iter().map(|v| v.check.as_str()).collect();
        assert_eq!(
            names,
            [
                "safety",
                "dead_everywhere_within",
                "reconverge_within",
                "leave_everywhere_within",
                "no_false_deaths",
                "settled_at_end"
            ]
        );
        let failed: Vec<_> = verdicts.iter().filter(|v| !v.passed).collect();
        assert!(failed.is_empty(), "seed {seed}: {failed:?}");
        assert_eq!(report.leaves.len(), 1);
        let leave = &report.leaves[0];
        assert_eq!((leave.node, leave.left_at_ms), (5, 20_000));
        assert!(leave.left_everywhere_after_ms.is_some(), "seed {seed}");
        assert_eq!(report.heals.len(), 1);
        assert!(report.heals[0].restart);
        assert_eq!(report.heals[0].what, "restart of node-7");
        assert_eq!(report.false_positive_deaths, 0, "seed {seed}");
    }
}

#[test]
fn the_fig4_check_counts_members_alive() {
    let s = Scenario::load(&scenario("swim-fig4-join.toml")).unwrap();
    assert!(s.checks.alive_everywhere_within.is_some());
    let report = Sim::new(s.options.clone()).unwrap().run();
    let verdicts = s.verdicts(&report);
    let settled = verdicts
        .iter()
        .find(|v| v.check == "settled_at_end")
        .unwrap();
    assert!(settled.detail.contains("held alive"), "{}", settled.detail);
    let alive = verdicts
        .iter()
        .find(|v| v.check == "alive_everywhere_within")
        .unwrap();
    assert!(alive.passed, "{}", alive.detail);
    assert_eq!(
        report.alive_pairs_at_end + report.suspect_pairs_at_end + report.unsettled_at_end,
        17 * 17
    );
}

/// The coverage the plot draws for a crash: one point per node that
/// declared the crashed node dead, rising to every live node.
#[test]
fn a_crash_records_how_its_dead_verdict_spread() {
    let s = Scenario::load(&scenario("crash-one.toml")).unwrap();
    let report = Sim::new(s.options.clone()).unwrap().run();
    let crash = &report.crashes[0];
    let curve = &crash.dead_curve;
    assert_eq!(curve.len(), 99, "every live node declared it once");
    assert_eq!(curve[0].0, 0);
    assert!(curve
        .windows(2)
        .all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1));
    assert_eq!(curve.last().unwrap().1, 1.0);
    let last = crash.first_dead_ms.unwrap() + curve.last().unwrap().0;
    assert_eq!(Some(last), crash.all_dead_ms);
}
