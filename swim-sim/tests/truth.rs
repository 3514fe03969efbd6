//! Ground truth judges each verdict by what the simulator knows, not by how
//! a scenario describes its faults.

use swim_sim::{Scenario, Sim};

fn run(text: &str, seed: u64) -> swim_sim::Report {
    let s = Scenario::parse(text, "inline.toml").unwrap();
    Sim::new(s.with_seed(seed).unwrap().options).unwrap().run()
}

/// Deaths across a partition are expected, not false (before, every node of
/// a partition was marked faulted, so no death anywhere could be false).
#[test]
fn deaths_across_a_partition_are_expected_and_name_their_accuser() {
    let r = run(
        r#"
nodes = 12
duration = "60s"
[[fault]]
at = "10s"
kind = "partition"
groups = [[0, 1, 2, 3, 4, 5]]
until = "40s"
"#,
        1,
    );
    assert!(r.expected_deaths >= 6 * 6 * 2, "{r:?}");
    assert_eq!(r.false_positive_deaths, 0, "{:?}", r.false_deaths);
    let m = &r.members[0];
    assert!(m.peak_dead_share >= 0.45 && m.declared_dead > 0, "{m:?}");
    // After the heal each side takes the other back: flips are counted.
    assert!(r.members.iter().all(|m| m.flips > 0), "{:?}", r.members);
}

/// A member with 80% loss on its links is sick: its death is expected, and
/// the hold-out window measures how well the healthy views kept it out.
#[test]
fn a_flaky_member_is_sick_and_its_hold_out_is_measured() {
    let r = run(
        r#"
nodes = 20
duration = "120s"
[[fault]]
at = "10s"
kind = "loss"
node = 7
rate = 0.8
until = "90s"
[checks]
hold_out = { from = "40s", until = "90s" }
"#,
        2,
    );
    assert_eq!(r.hold_out.len(), 1, "{:?}", r.hold_out);
    let h = &r.hold_out[0];
    assert_eq!(h.member, 7);
    assert!(h.samples >= 99, "{h:?}");
    assert!(h.min_share < 1.0 || h.samples > 0);
    assert!(r
        .members
        .iter()
        .any(|m| m.member == 7 && m.expected_deaths > 0));
    // While it was sick (and for the grace after) its deaths are expected;
    // a death its old suspicions cause later is the protocol's, and false.
    let grace = swim_sim::truth::grace(&swim_core::Config::lan(), 20);
    let healed = 90_000 + grace.as_millis() as u64;
    assert!(
        (r.false_deaths.iter())
            .filter(|d| d.member == 7)
            .all(|d| d.at_ms > healed),
        "{:?}",
        r.false_deaths
    );
}

/// A node that joins late starts at its time, and the run converges after.
#[test]
fn a_join_fault_starts_its_node_late() {
    let text = r#"
nodes = 5
duration = "40s"
[[fault]]
at = "20s"
kind = "join"
node = 4
[checks]
alive_everywhere_within = { after = "20s", within = "5s" }
"#;
    let s = Scenario::parse(text, "inline.toml").unwrap();
    let mut sim = Sim::new(s.options.clone()).unwrap();
    sim.run_until(swim_core::Instant::ZERO + std::time::Duration::from_secs(19));
    assert!(sim.node(4).is_none());
    assert!(sim.node(3).is_some());
    let r = sim.run();
    assert!(s.verify(&r).is_empty(), "{:?}", s.verify(&r));
    assert!(r.alive_everywhere_ms.is_some_and(|t| t >= 20_000));
}

/// Every kind of heal times the keys' agreement: a partition ended by its
/// `until`, and one ended by a named heal, with writes on both sides during
/// the cut (before, only a plain `heal` fault started the timing, and these
/// reports had no figure though the keys agreed).
#[test]
fn keys_agreement_is_timed_after_every_kind_of_heal() {
    for end in [
        "until = \"30s\"",
        "name = \"cut\"\n[[fault]]\nat = \"30s\"\nkind = \"heal\"\nfault = \"cut\"",
    ] {
        let r = run(
            &format!(
                r#"
nodes = 12
duration = "60s"
[[fault]]
at = "12s"
kind = "set"
nodes = [0, 1, 7, 8]
every = "2s"
key = "k"
value = "written during the cut"
[[fault]]
at = "10s"
kind = "partition"
groups = [[0, 1, 2, 3, 4, 5]]
{end}
"#
            ),
            1,
        );
        let h = r
            .heals
            .iter()
            .find(|h| h.healed_at_ms == 30_000)
            .unwrap_or_else(|| panic!("{end}: no heal at 30 s: {:?}", r.heals));
        let agreed = h.keys_agreed_after_ms;
        assert!(
            agreed.is_some_and(|ms| ms <= 20_000),
            "{end}: keys agreed after {agreed:?} ms"
        );
    }
}
