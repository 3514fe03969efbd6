//! Whole-cluster behaviour in the simulator, checked against ground truth
//! (who is really up), named after the SWIM paper's concerns.

use std::time::Duration;
use swim_core::{Config, Instant, Status};
use swim_sim::{name_of, Fault, FaultKind, Options, Sim};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn options(nodes: usize, seed: u64, duration: u64) -> Options {
    Options::new(nodes, seed, secs(duration))
}

/// The status every running node holds for `member` (None: not in its table).
fn views(sim: &Sim, member: usize) -> Vec<Option<Status>> {
    let name = name_of(member);
    (0..sim.options().nodes)
        .filter(|&i| i != member && sim.observer.is_live(i))
        .map(|i| sim.node(i).and_then(|n| n.member(&name)).map(|m| m.status))
        .collect()
}

#[test]
fn join_through_one_seed_converges_100_nodes() {
    for seed in [1, 2, 3] {
        let report = Sim::new(options(100, seed, 20)).unwrap().run();
        assert_eq!(
            report.violation, None,
            "safety checks, including: nobody suspected"
        );
        let converged = report.converged_ms.expect("100 nodes must converge");
        assert!(
            converged < 5_000,
            "seed {seed}: converged only at {converged} ms"
        );
        assert_eq!(report.false_positive_deaths, 0);
        assert_eq!(
            report.false_suspicions, 0,
            "no faults, so nobody may be suspected"
        );
    }
}

/// Section 3.1 (failure detection) plus Lifeguard's suspicion: a crashed member
/// is declared dead by every live member within
/// `probe_interval * (2 + e/(e-1)) + suspicion_max + dissemination`.
#[test]
fn crashed_member_is_dead_everywhere_within_the_bound() {
    let n = 100;
    let config = Config::lan();
    let min = swim_core::suspicion_min_timeout(config.suspicion_mult, n, config.probe_interval);
    let max = min * config.suspicion_max_timeout_mult;
    let e = std::f64::consts::E;
    let dissemination = secs(3);
    let bound = config.probe_interval.mul_f64(2.0 + e / (e - 1.0)) + max + dissemination;
    for seed in [1, 2] {
        let mut opts = options(n, seed, 80);
        opts.faults.push(Fault {
            at: secs(10),
            kind: FaultKind::Crash(7),
        });
        let mut sim = Sim::new(opts).unwrap();
        sim.run_until(Instant::from_millis(80_000));
        let report = sim.report();
        let crash = &report.crashes[0];
        let all_dead = crash
            .all_dead_ms
            .expect("the crash must be detected everywhere");
        let took = Duration::from_millis(all_dead - crash.crashed_at_ms);
        assert!(took <= bound, "seed {seed}: took {took:?}, bound {bound:?}");
        assert!(crash.first_suspect_ms.unwrap() <= all_dead);
        assert!(views(&sim, 7).iter().all(|s| *s == Some(Status::Dead)));
        assert_eq!(report.false_positive_deaths, 0);
    }
}

/// A graceful leave is `left` everywhere, never `dead`.
#[test]
fn leaving_member_is_left_everywhere_and_never_dead() {
    for seed in [1, 2, 3] {
        let mut opts = options(50, seed, 40);
        opts.faults.push(Fault {
            at: secs(10),
            kind: FaultKind::Leave(5),
        });
        let mut sim = Sim::new(opts).unwrap();
        sim.run_until(Instant::from_millis(40_000));
        assert!(
            sim.node(5).is_none(),
            "the leaver stops once its leave has spread"
        );
        assert!(
            views(&sim, 5).iter().all(|s| *s == Some(Status::Left)),
            "seed {seed}: {:?}",
            views(&sim, 5)
        );
        assert_eq!(
            sim.observer.failed_events[5], 0,
            "seed {seed}: a leave was reported as a failure"
        );
        assert!(sim.observer.converged_now);
    }
}

/// A member restarted under the same name outbids its old incarnation and is
/// alive everywhere again, with one entry, whether or not it was declared dead.
#[test]
fn restarted_member_is_alive_again_with_one_entry() {
    for (restart_at, seed) in [(12, 1), (45, 2)] {
        let mut opts = options(50, seed, 70);
        opts.faults.push(Fault {
            at: secs(10),
            kind: FaultKind::Crash(3),
        });
        opts.faults.push(Fault {
            at: secs(restart_at),
            kind: FaultKind::Restart(3),
        });
        let mut sim = Sim::new(opts).unwrap();
        sim.run_until(Instant::from_millis(70_000));
        let name = name_of(3);
        let restarted = sim.node(3).unwrap().local().incarnation;
        for i in (0..50).filter(|&i| i != 3) {
            let node = sim.node(i).unwrap();
            assert_eq!(node.members().filter(|m| *m.name == *name).count(), 1);
            let m = node.member(&name).unwrap();
            assert_eq!(
                m.status,
                Status::Alive,
                "restart at {restart_at}s: node {i} holds {m:?}"
            );
            assert_eq!(m.incarnation, restarted);
        }
        assert!(sim.observer.converged_now);
    }
}

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    let run = |seed| {
        let mut opts = options(30, seed, 20);
        opts.network.loss = 0.05;
        opts.faults.push(Fault {
            at: secs(5),
            kind: FaultKind::Crash(4),
        });
        Sim::new(opts).unwrap().run().trace_hash
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn bad_options_are_rejected_with_what_is_wrong() {
    let mut opts = options(10, 1, 10);
    opts.faults.push(Fault {
        at: secs(1),
        kind: FaultKind::Crash(10),
    });
    let err = Sim::new(opts).err().unwrap();
    assert!(err.contains("names node 10 but nodes are 0..9"), "{err}");
    let mut opts = options(10, 1, 10);
    opts.faults.push(Fault {
        at: secs(11),
        kind: FaultKind::Crash(1),
    });
    assert!(Sim::new(opts)
        .err()
        .unwrap()
        .contains("after the end of the run"));
    let mut opts = options(10, 1, 10);
    opts.config.gossip_fanout = 0;
    assert!(Sim::new(opts).err().unwrap().contains("gossip_fanout"));
}

/// A paused node handles nothing while it stalls (its timers fire late, at
/// the resume), then catches up; a slow node handles every input late.
#[test]
fn paused_node_timers_fire_late_and_slow_node_inputs_arrive_late() {
    let mut opts = options(10, 3, 30);
    opts.faults.push(Fault {
        at: secs(10),
        kind: FaultKind::Pause {
            node: 5,
            duration: secs(5),
        },
    });
    let mut sim = Sim::new(opts).unwrap();
    sim.run_until(Instant::from_millis(10_000));
    let probes = sim.node(5).unwrap().metrics().probes;
    sim.run_until(Instant::from_millis(14_990));
    assert_eq!(
        sim.node(5).unwrap().metrics().probes,
        probes,
        "no probe while paused"
    );
    sim.run_until(Instant::from_millis(15_010));
    let after = sim.node(5).unwrap().metrics();
    assert!(
        after.probes > probes,
        "the overdue probe fires at the resume"
    );
    assert!(after.received.total().packets > 0);
    sim.run_until(Instant::from_millis(30_000));
    assert!(
        sim.observer.converged_now,
        "it refuted any suspicion and is alive everywhere"
    );

    // Slow: with 600 ms on every input, node 2 answers pings after the 500 ms probe timeout.
    let mut opts = options(10, 4, 30);
    opts.faults.push(Fault {
        at: secs(10),
        kind: FaultKind::Slow {
            node: 2,
            delay: Duration::from_millis(600),
            duration: secs(10),
        },
    });
    let mut sim = Sim::new(opts).unwrap();
    sim.run_until(Instant::from_millis(10_000));
    let indirect: u64 = (0..10)
        .filter(|&i| i != 2)
        .map(|i| sim.node(i).unwrap().metrics().indirect_probes)
        .sum();
    sim.run_until(Instant::from_millis(20_000));
    let later: u64 = (0..10)
        .filter(|&i| i != 2)
        .map(|i| sim.node(i).unwrap().metrics().indirect_probes)
        .sum();
    assert!(later > indirect, "probes of the slow node needed ping-reqs");
}

/// Pulling the full state when every peer holds a bigger view is for a node
/// that fell behind (the tail of a join wave). A crash or a restart in a
/// converged cluster moves views by one member for a moment: it must not set
/// off full-state exchanges beyond the periodic ones.
#[test]
fn churn_in_a_converged_cluster_sets_off_no_extra_exchanges() {
    let n = 300;
    let crashed = [7, 8, 9, 10];
    // Exchanges counted by the nodes that stay up (in both runs).
    let pulls = |sim: &Sim| -> u64 {
        (0..n)
            .filter(|i| !crashed.contains(i))
            .filter_map(|i| sim.node(i))
            .map(|node| node.metrics().push_pulls)
            .sum()
    };
    let quiet = |crashes: &[usize]| {
        let mut opts = options(n, 5, 90);
        for (k, &v) in crashes.iter().enumerate() {
            opts.faults.push(Fault {
                at: secs(30 + 5 * k as u64),
                kind: FaultKind::Crash(v),
            });
        }
        let mut sim = Sim::new(opts).unwrap();
        sim.run_until(Instant::ZERO + secs(30));
        let before = pulls(&sim);
        sim.run_until(Instant::ZERO + secs(90));
        pulls(&sim) - before
    };
    let baseline = quiet(&[]);
    let churned = quiet(&crashed);
    eprintln!("exchanges in 60 s: {baseline} without faults, {churned} with 4 crashes");
    assert!(
        churned <= baseline + 8,
        "4 crashes set off {} extra exchanges",
        churned.saturating_sub(baseline)
    );
}

/// A member that joins a converged cluster late (cut off until then, so
/// nobody has heard of it) is an unknown sender to the nodes it contacts
/// before its alive update reaches them: each of those catches up once. That
/// must stay a handful of exchanges, not one per node.
#[test]
fn a_late_join_costs_a_handful_of_exchanges() {
    let n = 300;
    let late = 7;
    let pulls = |sim: &Sim| -> u64 {
        (0..n)
            .filter(|&i| i != late)
            .filter_map(|i| sim.node(i))
            .map(|node| node.metrics().push_pulls)
            .sum()
    };
    let run = |join_late: bool| {
        let mut opts = options(n, 5, 90);
        if join_late {
            opts.faults.push(Fault {
                at: Duration::ZERO,
                kind: FaultKind::Partition(vec![vec![late]]),
            });
            opts.faults.push(Fault {
                at: secs(30),
                kind: FaultKind::Heal,
            });
        }
        let mut sim = Sim::new(opts).unwrap();
        sim.run_until(Instant::ZERO + secs(30));
        let known = (0..n)
            .filter_map(|i| sim.node(i))
            .filter(|x| x.member(&name_of(late)).is_some())
            .count();
        let before = pulls(&sim);
        sim.run_until(Instant::ZERO + secs(90));
        let everywhere = views(&sim, late).iter().all(|s| *s == Some(Status::Alive));
        (known, everywhere, pulls(&sim) - before)
    };
    let (_, _, baseline) = run(false);
    let (known, everywhere, joined) = run(true);
    eprintln!("exchanges in 60 s: {baseline} without the late join, {joined} with it");
    assert_eq!(known, 1, "before the heal only the late node knows itself");
    assert!(
        everywhere,
        "the late node is alive everywhere after joining"
    );
    // Each exchange is counted by both sides; the join itself is one.
    assert!(
        joined <= baseline + 10,
        "a late join set off {} exchange counts",
        joined - baseline
    );
}

/// The embedding harness: three nodes, one crash, on many seeds; the two
/// survivors agree on who is dead and nothing unsafe happened.
#[test]
fn the_harness_shows_a_crash_to_every_survivor_on_many_seeds() {
    for seed in 1..=20 {
        let mut cluster = swim_sim::Cluster::new(3, seed);
        cluster.run_for(secs(5));
        assert!(cluster.converged(), "seed {seed}: not converged after 5 s");
        cluster.crash(2);
        cluster.run_for(secs(20));
        for viewer in [0, 1] {
            assert_eq!(cluster.status(viewer, 2), Some(Status::Dead), "seed {seed}");
        }
        assert!(cluster.converged(), "seed {seed}");
        assert!(cluster.violation().is_none(), "seed {seed}");
    }
}
