//! The state layer in whole clusters: writes spread, repair agrees after
//! partitions, restarts drop old keys, and nothing deleted comes back. The
//! simulator's checker watches every key event on every node (versions
//! never go back, every value seen was written by its owner).

use std::time::Duration;
use swim_core::Config;
use swim_sim::Cluster;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Runs in steps of `step` until `done` holds or `limit` passed; the time it took.
fn until(
    c: &mut Cluster,
    step: Duration,
    limit: Duration,
    done: impl Fn(&Cluster) -> bool,
) -> Option<Duration> {
    let start = c.now();
    while c.now() - start < limit {
        if done(c) {
            return Some(c.now() - start);
        }
        c.run_for(step);
    }
    done(c).then(|| c.now() - start)
}

#[test]
fn a_write_reaches_every_node_by_gossip_within_seconds() {
    for seed in 1..=5 {
        let mut c = Cluster::new(100, seed);
        c.run_for(secs(10));
        assert!(c.converged(), "seed {seed}");
        c.set(7, "role", "web");
        let took = until(&mut c, Duration::from_millis(100), secs(10), |c| {
            (0..100).all(|v| c.get(v, 7, "role").as_deref() == Some(&b"web"[..]))
        });
        let took = took.unwrap_or_else(|| panic!("seed {seed}: not everywhere after 10 s"));
        // A membership update takes 2-4 gossip rounds at 100 nodes; no
        // push-pull (every 30 s at least) is needed.
        assert!(took <= secs(3), "seed {seed}: {took:?}");
        assert!(c.violation().is_none(), "seed {seed}: {:?}", c.violation());
    }
}

#[test]
fn after_a_partition_heals_every_view_of_every_namespace_agrees() {
    for seed in 1..=4 {
        let mut c = Cluster::new(40, seed);
        c.run_for(secs(8));
        for i in 0..40 {
            c.set(i, "boot", &format!("b{i}"));
        }
        c.run_for(secs(5));
        c.partition(vec![(0..20).collect(), (20..40).collect()]);
        for round in 0..10 {
            for i in (round % 4..40).step_by(4) {
                c.set(i, &format!("k{round}"), &format!("v{round}-{i}"));
                if round % 3 == 2 {
                    c.delete(i, &format!("k{}", round - 1));
                }
            }
            c.run_for(secs(6));
        }
        c.heal();
        let took = until(&mut c, secs(1), secs(120), |c| {
            c.converged() && c.keys_agree()
        });
        assert!(
            took.is_some(),
            "seed {seed}: views disagree 120 s after the heal"
        );
        assert!(c.violation().is_none(), "seed {seed}: {:?}", c.violation());
    }
}

#[test]
fn a_restarted_member_is_seen_with_its_new_keys_only() {
    for seed in 1..=4 {
        let mut c = Cluster::new(10, seed);
        c.run_for(secs(5));
        c.set(3, "role", "web");
        c.set(3, "zone", "a");
        c.run_for(secs(5));
        assert_eq!(
            c.get(9, 3, "zone").as_deref(),
            Some(&b"a"[..]),
            "seed {seed}"
        );
        c.restart(3);
        c.run_for(Duration::from_millis(10));
        c.set(3, "role", "db");
        let took = until(&mut c, secs(1), secs(60), |c| {
            (0..10).all(|v| {
                c.get(v, 3, "role").as_deref() == Some(&b"db"[..]) && c.get(v, 3, "zone").is_none()
            })
        });
        assert!(
            took.is_some(),
            "seed {seed}: the old life's keys are still seen"
        );
        assert!(c.violation().is_none(), "seed {seed}: {:?}", c.violation());
    }
}

#[test]
fn nothing_deleted_comes_back_after_a_partition_longer_than_the_grace_period() {
    let config = Config {
        tombstone_grace: secs(5),
        ..Config::lan()
    };
    for seed in 1..=4 {
        let mut c = Cluster::with_config(20, seed, config.clone());
        c.run_for(secs(5));
        c.set(2, "a", "1");
        c.set(2, "b", "1");
        c.run_for(secs(5));
        assert_eq!(c.get(15, 2, "a").as_deref(), Some(&b"1"[..]), "seed {seed}");
        c.partition(vec![(0..10).collect(), (10..20).collect()]);
        c.run_for(secs(2));
        c.delete(2, "a");
        c.set(2, "c", "1");
        // Well past the grace period: node 2 collects the tombstone.
        c.run_for(secs(40));
        c.heal();
        let took = until(&mut c, secs(1), secs(120), |c| {
            c.converged() && c.keys_agree()
        });
        assert!(took.is_some(), "seed {seed}: views disagree after the heal");
        for v in 10..20 {
            assert_eq!(
                c.get(v, 2, "a"),
                None,
                "seed {seed}: node-{v} resurrected a"
            );
        }
        // The far side was behind the GC watermark: a reset, or the
        // collected tombstone gossiped again with the GC watermark (either
        // way, without `a`), brought it level.
        assert!(c.violation().is_none(), "seed {seed}: {:?}", c.violation());
    }
}

/// A node that missed one write (cut off for a few seconds, not long
/// enough to be suspected) is repaired through summaries: the repair
/// compares summaries bucket by bucket and carries only what differs, so
/// it costs a few kilobytes however many members agree. Before bucketed
/// summaries, each repair exchanged both nodes' whole tables and digests.
#[test]
fn a_missed_write_is_repaired_by_an_exchange_of_only_what_differs() {
    use swim_sim::FaultKind;
    for seed in 1..=4 {
        let n = 300;
        let mut c = Cluster::new(n, seed);
        c.run_for(secs(20));
        assert!(c.converged(), "seed {seed}");
        let pushed = |c: &Cluster| -> u64 {
            (0..n)
                .filter_map(|i| c.node(i))
                .map(|x| x.metrics().sent.push_pull.bytes)
                .sum()
        };
        let repairs = |c: &Cluster| -> u64 {
            (0..n)
                .filter_map(|i| c.node(i))
                .map(|x| x.metrics().repair_exchanges)
                .sum()
        };
        let others: Vec<usize> = (0..n).filter(|&i| i != 9).collect();
        c.fault(FaultKind::Partition(vec![vec![9], others]));
        c.set(3, "role", "db");
        c.run_for(secs(4));
        c.heal();
        let (bytes, before) = (pushed(&c), repairs(&c));
        let took = until(&mut c, secs(1), secs(60), |c| c.get(9, 3, "role").is_some());
        assert!(took.is_some(), "seed {seed}: node 9 never got the write");
        c.run_for(secs(5));
        let spent = pushed(&c) - bytes;
        let exchanges = repairs(&c) - before;
        assert!(
            exchanges >= 1,
            "seed {seed}: repaired without a summary repair?"
        );
        // A full exchange of 300 members is about 20 KB each way.
        assert!(
            spent < 4_000 * exchanges,
            "seed {seed}: {spent} bytes for {exchanges} repairs"
        );
        // Membership may not have settled: node 9's suspicions from the cut
        // reach their targets only by chance (no buddy system yet, issue 11).
        assert!(c.keys_agree(), "seed {seed}");
    }
}
