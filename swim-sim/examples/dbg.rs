use swim_sim::*;
use std::time::Duration;
fn main() {
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let mut sim = Sim::new(Options::new(n, 1, Duration::from_secs(20))).unwrap();
    for t in 1..=20 {
        sim.run_until(swim_core::Instant::from_millis(t * 1000));
        let q: usize = (0..n).filter_map(|i| sim.node(i)).map(|x| x.metrics().updates_sent as usize).sum();
        println!("t={t}s ok={} missing={} updates_sent={}", sim.observer.converged_nodes(), sim.observer.missing_views(), q);
    }
}
