//! Review of the hardening since 9353419 (review18c), simulated: does fix
//! 3 (candidate checks paid from the news packet, unpaid candidates
//! dropped, a check budget per kind of news) starve the admission of
//! genuine joiners in a join wave? Each test's doc says what it measured
//! on the commit it was written at.

use swim_sim::{Report, Scenario, Sim};

fn run(text: &str) -> (Report, Vec<String>) {
    let s = Scenario::parse(text, "review18c.toml").unwrap_or_else(|e| panic!("{e}"));
    let report = Sim::new(s.options.clone()).unwrap().run();
    let failures: Vec<String> = s.verify(&report).iter().map(|f| format!("{f:?}")).collect();
    eprintln!(
        "{} nodes: converged at {:?} ms, converged at end {}, false suspicions {}, failures {failures:?}",
        report.nodes, report.converged_ms, report.converged_at_end, report.false_suspicions
    );
    (report, failures)
}

/// `cold-join.toml` doubled: 400 nodes join through node 0 within one
/// second. Every node's view must hold all 400 within 5 s (as 200 do).
#[test]
fn cold_join_of_400_converges_within_5s() {
    let (_, failures) = run(r#"
nodes = 400
duration = "20s"
preset = "lan"
[checks]
converged_within = "5s"
no_false_deaths = true
converged_at_end = true
"#);
    assert!(failures.is_empty(), "{failures:?}");
}

/// `cold-join.toml` sealed: 200 nodes join through node 0 within one
/// second under the cluster key.
#[test]
fn sealed_cold_join_of_200_converges_within_5s() {
    let (_, failures) = run(r#"
nodes = 200
duration = "20s"
preset = "lan"
sealed = true
[checks]
converged_within = "5s"
no_false_deaths = true
converged_at_end = true
"#);
    assert!(failures.is_empty(), "{failures:?}");
}

/// A join wave into a running cluster: 100 nodes run for 10 s, then 200
/// more join through node 0, 5 ms apart (one second). The cluster must
/// hold all 300 everywhere by the end (20 s after the wave).
#[test]
fn join_wave_of_200_into_100_converges() {
    let nodes: Vec<String> = (100..300).map(|i| i.to_string()).collect();
    let text = format!(
        r#"
nodes = 300
duration = "31s"
preset = "lan"
[[fault]]
at = "10s"
kind = "join"
nodes = [{}]
every = "5ms"
[checks]
no_false_deaths = true
converged_at_end = true
"#,
        nodes.join(", ")
    );
    let (report, failures) = run(&text);
    eprintln!("last converged at {:?} ms", report.last_converged_ms);
    assert!(failures.is_empty(), "{failures:?}");
}
