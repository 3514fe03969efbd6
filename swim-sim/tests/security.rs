//! Sealed clusters in the simulator: sealing turned on and keys rotated in
//! a running cluster without a single member declared dead, on many seeds.

use std::time::Duration;
use swim_core::{Config, Sealing, SecretKey, Status};
use swim_sim::{Cluster, Options};

const N: usize = 12;

fn key(b: u8) -> SecretKey {
    SecretKey::new([b; 32])
}

/// Runs `d` and checks, each second, that no view holds a running member dead.
fn run_without_deaths(c: &mut Cluster, d: Duration, down: &[usize]) {
    for _ in 0..d.as_secs() {
        c.run_for(Duration::from_secs(1));
        for viewer in (0..N).filter(|v| !down.contains(v)) {
            for m in (0..N).filter(|m| !down.contains(m)) {
                assert_ne!(
                    c.status(viewer, m),
                    Some(Status::Dead),
                    "node {viewer} holds {m} dead"
                );
            }
        }
    }
    assert!(c.violation().is_none(), "{:?}", c.violation());
}

/// Gives every node in turn (one every 100 ms) the same command.
fn roll(c: &mut Cluster, f: impl Fn(&mut swim_core::Node)) {
    for i in 0..N {
        c.command(i, |n, _| f(n));
        c.run_for(Duration::from_millis(100));
    }
}

fn auth_drops(c: &Cluster, i: usize) -> u64 {
    c.node(i).map_or(0, |n| n.metrics().dropped.auth)
}

#[test]
fn sealing_turned_on_in_three_steps_kills_nobody() {
    for seed in 1..=5 {
        let mut c = Cluster::new(N, seed);
        c.run_for(Duration::from_secs(10));
        assert!(c.converged(), "seed {seed}");
        roll(&mut c, |n| {
            n.set_sealing(Sealing::Accept);
            n.install_secret_key(key(1));
        });
        run_without_deaths(&mut c, Duration::from_secs(5), &[]);
        roll(&mut c, |n| n.set_sealing(Sealing::Send));
        run_without_deaths(&mut c, Duration::from_secs(5), &[]);
        roll(&mut c, |n| n.set_sealing(Sealing::Require));
        run_without_deaths(&mut c, Duration::from_secs(40), &[]);
        assert!(c.converged(), "seed {seed}");
        // Step 2 ended with every node sealing: nothing was ever dropped.
        assert!((0..N).all(|i| auth_drops(&c, i) == 0), "seed {seed}");
        assert_eq!(c.sim().report().false_positive_deaths, 0, "seed {seed}");
    }
}

#[test]
fn a_key_rotation_kills_nobody_and_shuts_out_a_holder_of_the_old_key() {
    for seed in 1..=5 {
        let options = Options {
            keys: vec![key(1)],
            ..Options::new(N, seed, Duration::ZERO)
        };
        let mut c = Cluster::with_options(options);
        c.run_for(Duration::from_secs(10));
        assert!(c.converged(), "seed {seed}");
        // Node 5 is away while the rest rotate.
        c.crash(5);
        c.run_for(Duration::from_secs(30));
        roll(&mut c, |n| {
            n.install_secret_key(key(2));
        });
        run_without_deaths(&mut c, Duration::from_secs(5), &[5]);
        roll(&mut c, |n| n.use_secret_key(key(2).id()).unwrap());
        run_without_deaths(&mut c, Duration::from_secs(5), &[5]);
        roll(&mut c, |n| n.remove_secret_key(key(1).id()).unwrap());
        run_without_deaths(&mut c, Duration::from_secs(20), &[5]);
        assert!((0..N).all(|i| auth_drops(&c, i) == 0), "seed {seed}");
        // Node 5 comes back with only the old key: nobody lets it in.
        c.restart(5);
        c.run_for(Duration::from_secs(30));
        for viewer in (0..N).filter(|&v| v != 5) {
            assert_ne!(c.status(viewer, 5), Some(Status::Alive), "seed {seed}");
            assert_eq!(
                c.node(viewer).unwrap().keyring().primary(),
                Some(key(2).id())
            );
        }
        assert!(auth_drops(&c, 5) > 0);
        assert!((0..N).filter(|&i| i != 5).any(|i| auth_drops(&c, i) > 0));
        assert_eq!(
            c.node(5).unwrap().num_live(),
            1,
            "seed {seed}: it learned nobody"
        );
    }
}

#[test]
fn a_sealed_cluster_converges_and_replicates_keys() {
    for seed in 1..=5 {
        let options = Options {
            keys: vec![key(3)],
            config: Config {
                cluster: "sealed".into(),
                ..Config::lan()
            },
            ..Options::new(30, seed, Duration::ZERO)
        };
        let mut c = Cluster::with_options(options);
        c.run_for(Duration::from_secs(10));
        c.set(4, "role", "db");
        c.crash(7);
        c.run_for(Duration::from_secs(30));
        assert!(c.converged(), "seed {seed}");
        assert!(c.keys_agree(), "seed {seed}");
        assert_eq!(c.status(0, 7), Some(Status::Dead));
        let report = c.sim().report();
        // Nothing is dropped but a relay's refusal to check a member it
        // does not hold yet (a candidate's indirect check may ask a member
        // that has not heard of it; a relay pings only members it holds).
        let unknown: u64 = (0..30)
            .filter_map(|i| c.node(i))
            .map(|n| n.metrics().dropped.unknown_target)
            .sum();
        assert_eq!(report.dropped, unknown, "seed {seed}");
        assert!(unknown <= 3, "seed {seed}: {unknown}");
        assert_eq!(report.false_positive_deaths, 0, "seed {seed}");
    }
}

fn holds_everywhere(c: &Cluster, f: impl Fn(&swim_core::Keyring) -> bool) -> bool {
    (0..N).all(|i| c.node(i).is_some_and(|n| f(n.keyring())))
}

#[test]
fn cluster_wide_key_operations_from_one_member_rotate_every_keyring() {
    use swim_core::KeyringOp;
    let timeout = Duration::from_secs(5);
    for seed in 1..=5 {
        let options = Options {
            keys: vec![key(1)],
            ..Options::new(N, seed, Duration::ZERO)
        };
        let mut c = Cluster::with_options(options);
        c.run_for(Duration::from_secs(10));
        let op = |c: &mut Cluster, op: KeyringOp| {
            c.command(3, |n, now| n.keyring_op(op, timeout, now))
                .unwrap()
                .unwrap();
        };
        op(&mut c, KeyringOp::Install(key(2)));
        run_without_deaths(&mut c, Duration::from_secs(5), &[]);
        assert!(
            holds_everywhere(&c, |k| k.contains(key(2).id())),
            "seed {seed}"
        );
        op(&mut c, KeyringOp::Use(key(2).id()));
        run_without_deaths(&mut c, Duration::from_secs(5), &[]);
        assert!(holds_everywhere(&c, |k| k.primary() == Some(key(2).id())));
        op(&mut c, KeyringOp::Remove(key(1).id()));
        run_without_deaths(&mut c, Duration::from_secs(10), &[]);
        assert!(
            holds_everywhere(&c, |k| k.ids().eq([key(2).id()])),
            "seed {seed}"
        );
        // Removing the primary is refused everywhere.
        op(&mut c, KeyringOp::Remove(key(2).id()));
        run_without_deaths(&mut c, Duration::from_secs(5), &[]);
        assert!(holds_everywhere(&c, |k| k.ids().eq([key(2).id()])));
        assert!((0..N).all(|i| auth_drops(&c, i) == 0), "seed {seed}");
        assert!(c.converged());
    }
    // Without sealed traffic, no key operation leaves the node.
    let mut c = Cluster::new(3, 1);
    c.run_for(Duration::from_secs(2));
    let plain = c.command(0, |n, now| {
        n.keyring_op(KeyringOp::Install(key(9)), timeout, now)
    });
    assert_eq!(plain, Some(Err(swim_core::Error::NotSealed)));
}

/// Query ids used to restart at 1 in every process life, and peers remember
/// (origin, id) for the query's timeout (until they hold 1,024): after a
/// restart, a member's first key operations were ignored by peers that had
/// seen its old life's. Ids are now drawn at random from the node's seed.
#[test]
fn a_restarted_member_s_first_key_operation_is_carried_out() {
    use swim_core::KeyringOp;
    let timeout = Duration::from_secs(300);
    for seed in 1..=3 {
        let options = Options {
            keys: vec![key(1)],
            ..Options::new(N, seed, Duration::ZERO)
        };
        let mut c = Cluster::with_options(options);
        c.run_for(Duration::from_secs(10));
        // The old life's operations, seen (and remembered) everywhere.
        for _ in 0..3 {
            c.command(3, |n, now| n.keyring_op(KeyringOp::List, timeout, now))
                .unwrap()
                .unwrap();
            c.run_for(Duration::from_secs(2));
        }
        c.restart(3);
        c.run_for(Duration::from_secs(10));
        assert!(c.converged(), "seed {seed}");
        c.command(3, |n, now| {
            n.keyring_op(KeyringOp::Install(key(2)), timeout, now)
        })
        .unwrap()
        .unwrap();
        run_without_deaths(&mut c, Duration::from_secs(5), &[]);
        assert!(
            holds_everywhere(&c, |k| k.contains(key(2).id())),
            "seed {seed}: the restarted member's first operation was ignored"
        );
    }
}
