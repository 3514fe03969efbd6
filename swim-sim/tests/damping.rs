//! Flap damping against ground truth (issue 19, build 1): one rule (see
//! `swim_core`'s `damping` module) holds a member that keeps failing out
//! of every healthy view, shows it again soon after it recovers, and never
//! holds a healthy member on a lossy link, a member that paused, or one
//! that restarted; a member back from a long cut is shown after a short
//! clearance.

use std::path::PathBuf;
use std::time::Duration;
use swim_core::{Config, Status};
use swim_sim::{Cluster, Options, Scenario, Sim};

fn scenario(path: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `path` on `seed`: its own checks against ground truth, which must
/// all pass.
fn passes(path: &str, seed: u64) -> swim_sim::Report {
    let run = scenario(path).with_seed(seed).unwrap();
    let report = Sim::new(run.options.clone()).unwrap().run();
    let failures = run.verify(&report);
    assert!(failures.is_empty(), "{path} --seed {seed}: {failures:?}");
    report
}

/// 2 of 100 members lose 80 % of their datagrams for 2 min. Seeds 3, 4
/// and 8 failed with damping by rate alone: a flaky member fell once,
/// stayed dead everywhere for over a minute, refuted, and every healthy
/// view showed it until it was accused again (0 % held out at 107-117 s).
/// Held out by every healthy view from 60 s into the loss, no view shows
/// it back more than once, none dies falsely, and all are alive everywhere
/// within 60 s of the loss stopping (within 35 s, with 25 s of clearance).
#[test]
fn flaky_members_are_held_out_by_every_healthy_view_and_shown_when_well() {
    for seed in [3, 4, 8] {
        let report = passes("scenarios/bench/flaky-2-of-100.toml", seed);
        assert_eq!(report.hold_out.len(), 2, "seed {seed}");
        for h in &report.hold_out {
            assert_eq!(h.min_share, 1.0, "seed {seed}: {h:?}");
            assert_eq!(h.max_flips_per_view, 0, "seed {seed}: {h:?}");
        }
        let back = report.alive_everywhere_ms.expect("alive everywhere") - 140_000;
        assert!(
            back <= 35_000,
            "seed {seed}: alive everywhere {back} ms after"
        );
    }
}

/// A member that stalls twice for 6 s, 12 s apart, refutes after each
/// stall and is healthy in between: never held, alive everywhere within
/// 5 s of the second stall (a hold would show it 10 s later at the
/// earliest; what remains is the tail of the refutation's gossip, 2.6 s
/// at worst on seeds 1-10).
#[test]
fn a_member_that_paused_twice_is_shown_at_once() {
    for seed in 1..=10 {
        let report = passes("scenarios/two-pauses.toml", seed);
        let back = report.alive_everywhere_ms.expect("alive everywhere") - 38_000;
        assert!(
            back < 5_000,
            "seed {seed}: alive everywhere {back} ms after"
        );
    }
}

/// Two members alone at 4.5 % loss both ways (the swarm's pair after a
/// leave and a crash), for ten minutes: each falls to suspect now and then
/// and refutes, and neither view ever holds the other. Probe retries are
/// off: with them a lone pair at this loss falls about once in ten
/// minutes, and the falls are what the damping is tested on.
#[test]
fn a_healthy_pair_on_a_lossy_link_is_never_held() {
    for (seed, config) in [(1, Config::lan()), (2, Config::local()), (3, Config::lan())] {
        let mut o = Options::new(2, seed, Duration::from_secs(600));
        o.config = Config {
            probe_retries: 0,
            ..config
        };
        o.network.loss = 0.045;
        let mut c = Cluster::with_options(o);
        let mut falls = 0;
        let mut was = Some(Status::Alive);
        for _ in 0..6_000 {
            c.run_for(Duration::from_millis(100));
            for v in 0..2 {
                let held = c.node(v).map_or(0, |n| n.metrics().held);
                assert_eq!(held, 0, "seed {seed}");
            }
            let now = c.status(0, 1);
            falls += usize::from(was == Some(Status::Alive) && now != was);
            was = now;
        }
        assert!(
            falls >= 5,
            "seed {seed}: only {falls} falls: not lossy enough"
        );
    }
}

/// Milliseconds from `heal` (a closure that ends a fault) until every view
/// holds every running member alive, in a cluster of 20 (bound 60 s).
fn converged_after(c: &mut Cluster, heal: impl FnOnce(&mut Cluster)) -> u64 {
    heal(c);
    let mut waited = 0;
    while !c.converged() {
        c.run_for(Duration::from_millis(100));
        waited += 100;
        assert!(waited <= 60_000, "not converged a minute after the heal");
    }
    waited
}

fn cluster(seed: u64, damping: bool) -> Cluster {
    let mut config = Config::lan();
    if !damping {
        config.flap_half_life = Duration::ZERO;
    }
    let mut c = Cluster::with_config(20, seed, config);
    c.run_for(Duration::from_secs(20));
    c
}

/// 5 of 20 cut off for 60 s: each side declares the other dead. After the
/// heal the members come back *unseen* (dead here longer than a
/// half-life), but many at once: a heal, not flapping, so they are shown
/// as soon as without damping (damping changes only what the application
/// sees, so the protocol runs the same). A single member cut off comes
/// back alone, as a flaky member does: shown 10 probe intervals later (the
/// price the module doc names). A member that crashes and restarts a
/// minute later (a new life) is shown as soon as without damping.
#[test]
fn members_back_from_a_cut_are_shown_at_once_a_lone_one_after_ten_intervals_a_restart_at_once() {
    for seed in 1..=3 {
        let cut = |damping, side: std::ops::Range<usize>| {
            let mut c = cluster(seed, damping);
            c.partition(vec![side.clone().collect()]);
            c.run_for(Duration::from_secs(60));
            assert!(side.clone().all(|m| c.status(0, m) == Some(Status::Dead)));
            converged_after(&mut c, Cluster::heal)
        };
        // A heal is shown once two comebacks spoke first-hand (see
        // swim-core's `heal`): over seeds 1-30 that is at most 1.9 s later
        // than without damping (3 of 30 seeds more than 1 s: seeds 2, 6
        // and 7, +1.9, +1.6, +1.5 s; 2 of 30 before 0a39d11 changed the
        // relays' order), against 9-11 s for a member back alone.
        let (damped, plain) = (cut(true, 15..20), cut(false, 15..20));
        assert!(
            damped <= plain + 2_000,
            "seed {seed}: 5 of 20 converged {damped} ms after the heal, {plain} ms without damping"
        );
        let (damped, plain) = (cut(true, 19..20), cut(false, 19..20));
        let late = damped.saturating_sub(plain);
        assert!(
            (9_000..=11_000).contains(&late),
            "seed {seed}: 1 of 20 converged {damped} ms after the heal, {plain} ms without damping"
        );
        let restart = |damping| {
            let mut c = cluster(seed, damping);
            c.crash(3);
            c.run_for(Duration::from_secs(60));
            assert_eq!(c.status(0, 3), Some(Status::Dead));
            converged_after(&mut c, |c| c.restart(3))
        };
        let (damped, plain) = (restart(true), restart(false));
        assert_eq!(damped, plain, "seed {seed}: restart");
        assert!(
            damped <= 5_000,
            "seed {seed}: restart shown {damped} ms after"
        );
    }
}
