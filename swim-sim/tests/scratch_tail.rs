use std::time::Duration;
use swim_core::{Instant, Status};
use swim_sim::scenario::Scenario;
use swim_sim::{name_of, Sim};

#[test]
#[ignore]
fn scratch() {
    let seed: u64 = std::env::var("S").unwrap().parse().unwrap();
    let f = std::env::var("F").unwrap();
    let s = Scenario::load(std::path::Path::new(&f))
        .unwrap()
        .with_seed(seed)
        .unwrap();
    let n = s.options.nodes;
    let mut sim = Sim::new(s.options.clone()).unwrap();
    let mut t = Duration::from_secs(58);
    while t < Duration::from_secs(140) {
        sim.run_until(Instant::ZERO + t);
        let (mut dead, mut susp, mut views) = (0, 0, 0);
        let mut ex = Vec::new();
        for v in 0..n {
            let Some(node) = sim.node(v) else { continue };
            let mut bad = false;
            for m in 0..n {
                if m == v || sim.node(m).is_none() {
                    continue;
                }
                match node.member(&name_of(m)).map(|x| x.status) {
                    Some(Status::Dead) | None => {
                        dead += 1;
                        bad = true;
                        if ex.len() < 6 {
                            ex.push((v, m, "D"));
                        }
                    }
                    Some(Status::Suspect) => {
                        susp += 1;
                        bad = true;
                    }
                    _ => {}
                }
            }
            if bad {
                views += 1;
            }
        }
        let (mut pp, mut ppf, mut cand, mut held) = (0u64, 0u64, 0u64, 0u64);
        for v in 0..n {
            if let Some(node) = sim.node(v) {
                let m = node.metrics();
                pp += m.push_pulls;
                ppf += m.push_pull_failures;
                cand += m.candidates;
                held += m.held;
            }
        }
        println!("pp {} ppf {} cand {} held {}", pp, ppf, cand, held);
        println!(
            "{:?} dead {} susp {} views {} ex {:?}",
            t, dead, susp, views, ex
        );
        if dead + susp == 0 && t > Duration::from_secs(62) {
            break;
        }
        t += Duration::from_secs(2);
    }
}
