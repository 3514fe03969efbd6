use std::time::Duration;
use swim_core::Config;
use swim_sim::{Fault, FaultKind, Options};
#[test]
fn replay() {
    let mut o = Options::new(7, 1521270646638036109, Duration::from_secs(90));
    o.config = Config::local();
    o.config.tombstone_grace = Duration::from_secs(3);
    o.network.loss = 0.017027212391973825;
    let f = |ms: u64, kind| Fault { at: Duration::from_millis(ms), kind };
    let q = |rf| FaultKind::Query { node: 0, name: "q".into(), payload: "".into(), only: vec![], want_ack: true, relay_factor: rf };
    o.faults = vec![
        f(3000, q(2)), f(3000, q(2)),
        f(3135, FaultKind::Crash(1)),
        f(10399, q(1)),
        f(11344, FaultKind::Partition(vec![vec![0,1,2]])),
        f(16620, FaultKind::Event { node: 3, name: "e0".into(), payload: "p3000".into(), coalesce: false }),
        f(19308, FaultKind::Restart(5)),
        f(19344, FaultKind::Heal),
    ];
    let r = swim_sim::Sim::new(o).unwrap().run();
    for d in &r.deliveries { eprintln!("{:?}", d); }
}
