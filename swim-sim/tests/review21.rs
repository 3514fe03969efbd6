//! Review 21: attacks on the verdict reports, the checks a flags run gets,
//! and `swim-sim numbers` (README table regeneration).
//!
//! `finding_*` tests fail on the reviewed code (each one a defect);
//! `holds_*` tests pass (an attack the code withstood).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use swim_sim::numbers::{rewrite, written, BEGIN, END, ROWS};
use swim_sim::{Checks, Fault, FaultKind, Options, Scenario, Sim};

fn scenario_of(o: &Options, checks: Checks) -> Scenario {
    Scenario {
        path: String::new(),
        description: String::new(),
        checks,
        options: o.clone(),
        text: String::new(),
    }
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("swim-review21-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A check that had nothing to measure must not read "passed": a scenario
/// asking `dead_everywhere_within` in a run without a crash (a typo in a
/// fault, a crash moved out of the run) reports the check passed, and the
/// tally says "all N checks passed", although no dead verdict was ever
/// measured. `hold_out` already fails in this case ("nothing was
/// measured"); the `*_within` checks, `queries_complete` and `events_once`
/// pass vacuously.
#[test]
fn finding_a_check_with_nothing_to_measure_reads_passed() {
    let o = Options::new(10, 1, Duration::from_secs(20));
    let checks = Checks {
        dead_everywhere_within: Some(Duration::from_secs(10)),
        leave_everywhere_within: Some(Duration::from_secs(10)),
        reconverge_within: Some(Duration::from_secs(10)),
        coverage_within: Some(Duration::from_secs(10)),
        keys_complete_within: Some(Duration::from_secs(10)),
        events_everywhere_within: Some(Duration::from_secs(10)),
        queries_complete: Some(1.0),
        ..Checks::default()
    };
    let s = scenario_of(&o, checks);
    let report = Sim::new(o).unwrap().run();
    assert!(report.crashes.is_empty() && report.leaves.is_empty());
    let vacuous: Vec<String> = s
        .verdicts(&report)
        .into_iter()
        .filter(|v| v.check != "safety" && v.passed)
        .map(|v| format!("passed  {}: {}", v.check, v.detail))
        .collect();
    assert!(
        vacuous.is_empty(),
        "checks that measured nothing read \"passed\":\n{}",
        vacuous.join("\n")
    );
}

/// A careless operator's flags: a crash at the very end of the run (the
/// validation accepts `at == duration`, and any crash later than
/// `duration - limit`) cannot be measured against the derived
/// `dead_everywhere_within` limit (30.6 s here, in a 10 s run), yet the
/// verdict reads FAILED ("not by the end of the run") as if SWIM's crash
/// bound had been broken. It should be refused up front or reported as not
/// measurable, not as a protocol failure.
#[test]
fn finding_a_flags_crash_too_late_to_measure_reads_failed() {
    let out = Command::new(env!("CARGO_BIN_EXE_swim-sim"))
        .args([
            "run",
            "--nodes",
            "8",
            "--duration",
            "10s",
            "--crash",
            "3@10s",
            "--seed",
            "1",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && !text.contains("checks:") {
        return; // refused up front: fine
    }
    let line = text
        .lines()
        .find(|l| l.contains("dead_everywhere_within:"))
        .unwrap_or_else(|| panic!("no verdict line:\n{text}\n{err}"));
    assert!(
        !line.trim_start().starts_with("FAILED") && !line.trim_start().starts_with("passed"),
        "a crash the run could not measure reads as a verdict: {line:?} (exit {:?})",
        out.status.code()
    );
}

/// The README path given to `numbers` has no markers: refused before any
/// row is measured (and the file untouched), naming the missing line.
#[test]
fn holds_numbers_write_refuses_a_readme_without_markers() {
    let d = tmp("nomarkers");
    let readme = d.join("README.md");
    std::fs::write(&readme, "# project\n\nno table here\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_swim-sim"))
        .args(["numbers", "--tier", "ci", "--write", "--readme"])
        .arg(&readme)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(BEGIN), "{err}");
    assert_eq!(
        std::fs::read_to_string(&readme).unwrap(),
        "# project\n\nno table here\n"
    );
    // A README in the current directory (no parent) is read, not refused
    // as a path problem; a missing one fails cleanly.
    let out = Command::new(env!("CARGO_BIN_EXE_swim-sim"))
        .current_dir(&d)
        .args(["numbers", "--tier", "ci", "--readme", "MISSING.md"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read MISSING.md"));
    let _ = std::fs::remove_dir_all(&d);
}

/// Markers in the wrong order (the end before the begin) are refused, as
/// is a begin marker with no end after it: nothing is rewritten.
#[test]
fn holds_numbers_markers_in_the_wrong_order_are_refused() {
    let wrong = format!("intro\n{END}\n| a | b | c |\n{BEGIN}\noutro\n");
    assert!(written(&wrong).is_err());
    assert!(rewrite(&wrong, &vec![None; ROWS.len()]).is_err());
    let open = format!("intro\n{BEGIN}\n| a | b | c |\n");
    assert!(rewrite(&open, &vec![None; ROWS.len()]).is_err());
}

/// Duplicate markers: the first table is rewritten in place, the text
/// after its end (a second copy included) is kept byte for byte, and the
/// text before it too.
#[test]
fn holds_numbers_rewrite_touches_only_the_first_table() {
    let table = |fig: &str| {
        format!(
            "{BEGIN}\n| what | figure (simulated, exact) | command |\n| --- | --- | --- |\n{}\n{END}\n",
            ROWS[0].line(fig)
        )
    };
    let readme = format!("head\n{}middle\n{}tail\n", table("one"), table("two"));
    let mut figures = vec![None; ROWS.len()];
    figures[0] = Some("three".to_string());
    let new = rewrite(&readme, &figures).unwrap();
    assert!(new.starts_with(&format!("head\n{BEGIN}\n")), "{new}");
    assert!(
        new.ends_with(&format!("middle\n{}tail\n", table("two"))),
        "{new}"
    );
    assert_eq!(written(&new).unwrap()[0].as_deref(), Some("three"));
    // Rewriting twice gives the same text (idempotent).
    assert_eq!(rewrite(&new, &figures).unwrap(), new);
}

/// A flags run with a crash and a quick restart of the same node (before
/// anyone could declare it dead: `--crash 3@10s --restart 3@10.3s`) is a
/// legitimate run, but the derived check `dead_everywhere_within` fails it
/// ("dead on every live node after not by the end of the run") for a
/// death that rightly never happened: the crash's measurement does not end
/// at the restart.
#[test]
fn finding_crash_then_quick_restart_fails_the_derived_dead_check() {
    let mut o = Options::new(20, 1, Duration::from_secs(40));
    o.faults = vec![
        Fault {
            at: Duration::from_secs(10),
            kind: FaultKind::Crash(3),
        },
        Fault {
            at: Duration::from_millis(10_300),
            kind: FaultKind::Restart(3),
        },
    ];
    let s = scenario_of(&o, Checks::for_flags(&o));
    let report = Sim::new(o).unwrap().run();
    let verdicts = s.verdicts(&report);
    let failed: Vec<String> = (verdicts.iter())
        .filter(|v| v.measured && !v.passed)
        .map(|v| format!("FAILED  {}: {}", v.check, v.detail))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    // Fixed: the crash a restart ended is reported as not judged, saying why.
    let dead = verdicts
        .iter()
        .find(|v| v.check == "dead_everywhere_within")
        .unwrap();
    assert!(
        !dead.measured && dead.detail.contains("restarted at 10.300 s"),
        "{dead:?}"
    );
}
