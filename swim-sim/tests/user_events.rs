//! User events across restarts, against the simulator's ground truth.

use std::time::Duration;
use swim_core::Config;
use swim_sim::{Fault, FaultKind, Options, Sim};

/// Node 1 fires an event; node 0 (the only seed the simulator gives a
/// restarted node) is cut off just after, so it never hears it; node 4
/// restarts while node 0 is still cut off. Its join answer comes last, from
/// node 0, which by then holds node 4's new life only: the earlier life
/// shows in the other members' answers and gossip, and the restarted
/// process must take its floor above the event its earlier life delivered.
fn restarted_while_its_seed_is_cut_off(seed: u64) -> Options {
    let mut o = Options::new(7, seed, Duration::from_secs(60));
    // No snapshot: the restarted process learns its floor from its peers.
    o.snapshot = false;
    o.config = Config::local();
    o.network.loss = 0.035;
    let f = |ms: u64, kind| Fault {
        at: Duration::from_millis(ms),
        kind,
    };
    o.faults = vec![
        f(
            9200,
            FaultKind::Event {
                node: 1,
                name: "e0".into(),
                payload: "p".into(),
                coalesce: false,
            },
        ),
        f(9275, FaultKind::Partition(vec![vec![0]])),
        f(16086, FaultKind::Restart(4)),
        f(21311, FaultKind::Heal),
    ];
    o
}

#[test]
fn a_process_restarted_while_its_seed_was_cut_off_does_not_deliver_an_event_again() {
    // 5224503552743423136: the swarm's failing case.
    for seed in [5224503552743423136, 1, 2, 3, 4, 5, 6, 7, 8, 9] {
        let report = Sim::new(restarted_while_its_seed_is_cut_off(seed))
            .expect("valid options")
            .run();
        assert_eq!(report.violation, None, "seed {seed}");
        let d = &report.deliveries[0];
        assert_eq!(d.delivered, d.expected, "seed {seed}: {d:?}");
        assert_eq!((d.duplicates, d.replayed), (0, 0), "seed {seed}: {d:?}");
    }
}

/// Node 3 fires an event while nodes 0-2 are cut off; node 5, which
/// delivered it, restarts just before the heal, and the two peers it
/// reaches first are on the side that never heard of the event. Only what
/// its earlier process left (the agent's snapshot) keeps it from
/// delivering the event again; without it, it does (measured: the
/// swarm's case, seed 1521270646638036109).
fn restarted_among_peers_that_never_heard(seed: u64, snapshot: bool) -> Options {
    let mut o = Options::new(7, seed, Duration::from_secs(40));
    o.snapshot = snapshot;
    o.config = Config::local();
    o.network.loss = 0.017;
    let f = |ms: u64, kind| Fault {
        at: Duration::from_millis(ms),
        kind,
    };
    o.faults = vec![
        f(11344, FaultKind::Partition(vec![vec![0, 1, 2]])),
        f(
            16620,
            FaultKind::Event {
                node: 3,
                name: "e0".into(),
                payload: "p".into(),
                coalesce: false,
            },
        ),
        f(19308, FaultKind::Restart(5)),
        f(19344, FaultKind::Heal),
    ];
    o
}

#[test]
fn a_restarted_process_resumes_its_event_floor_from_its_snapshot() {
    let mut without = 0;
    for seed in [1521270646638036109, 1, 2, 3, 4, 5, 6, 7, 8, 9] {
        let report = Sim::new(restarted_among_peers_that_never_heard(seed, true))
            .expect("valid options")
            .run();
        assert_eq!(report.violation, None, "seed {seed}");
        let d = &report.deliveries[0];
        assert_eq!(d.delivered, d.expected, "seed {seed}: {d:?}");
        assert_eq!(d.duplicates, 0, "seed {seed}: {d:?}");
        let report = Sim::new(restarted_among_peers_that_never_heard(seed, false))
            .expect("valid options")
            .run();
        without += report.deliveries[0].duplicates;
    }
    assert!(
        without > 0,
        "the case needs the snapshot: without it, some seed delivers twice"
    );
}
