//! `swim demo`: a cluster in one process forms, loses a member and heals.

use crate::{runtime, Fail};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use swim_tokio::{AgentConfig, Handle, Preset};

/// What each node thinks of each member: `views[observer][member]`.
type Views = BTreeMap<String, BTreeMap<String, &'static str>>;

async fn start(name: &str, bind: SocketAddr, seed: Option<SocketAddr>) -> Result<Handle, Fail> {
    let mut config = AgentConfig::new(name, bind, Preset::Local);
    config.seeds = seed.map(|s| vec![s.to_string()]).unwrap_or_default();
    // A restarted node may find its old port still held for a moment.
    let mut tries = 0;
    loop {
        match swim_tokio::start(config.clone()).await {
            Ok(h) => return Ok(h),
            Err(e) if tries < 20 => {
                tries += 1;
                tracing::debug!(error = %e, "retrying start");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(format!("cannot start demo node {name}: {e}")),
        }
    }
}

async fn views(nodes: &[Option<Handle>]) -> Views {
    let mut v = Views::new();
    for h in nodes.iter().flatten() {
        if let Ok(ms) = h.members().await {
            v.insert(
                h.name().to_string(),
                ms.into_iter()
                    .map(|m| (m.name, m.status.as_str()))
                    .collect(),
            );
        }
    }
    v
}

fn print_table(t: Duration, names: &[String], v: &Views) {
    println!(
        "\n[{:6.1}s] rows: each running node; columns: what it thinks of each member",
        t.as_secs_f64()
    );
    print!("{:>10} ", "");
    for n in names {
        print!(" {n:>8}");
    }
    println!();
    for (observer, row) in v {
        print!("{observer:>10} ");
        for n in names {
            print!(" {:>8}", row.get(n).copied().unwrap_or("-"));
        }
        println!();
    }
}

/// Watches the cluster, printing the table on every change, until `done` holds
/// or `limit` passes. Returns whether `done` held.
async fn watch(
    start: Instant,
    nodes: &[Option<Handle>],
    names: &[String],
    last: &mut Views,
    limit: Duration,
    done: impl Fn(&Views) -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let v = views(nodes).await;
        if v != *last {
            print_table(start.elapsed(), names, &v);
            *last = v.clone();
        }
        if done(&v) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn all_see(v: &Views, observers: usize, member: &str, status: &str) -> bool {
    v.len() == observers
        && v.values()
            .all(|row| row.get(member).copied() == Some(status))
}

/// Runs the demo with `n` nodes.
pub fn run(n: usize) -> Result<(), Fail> {
    runtime()?.block_on(async move {
        let t0 = Instant::now();
        let names: Vec<String> = (1..=n).map(|i| format!("node-{i}")).collect();
        println!("starting {n} nodes on 127.0.0.1 (preset local: probe every 1s, probe timeout 200ms)");
        let mut nodes: Vec<Option<Handle>> = Vec::new();
        let first = start(&names[0], "127.0.0.1:0".parse().map_err(|_| "bad address")?, None).await?;
        let seed = first.local_addr();
        nodes.push(Some(first));
        for name in &names[1..] {
            nodes.push(Some(start(name, "127.0.0.1:0".parse().map_err(|_| "bad address")?, Some(seed)).await?));
        }
        let mut last = Views::new();
        let formed = watch(t0, &nodes, &names, &mut last, Duration::from_secs(20), |v| {
            names.iter().all(|m| all_see(v, n, m, "alive"))
        })
        .await;
        if !formed {
            return Err("the demo cluster did not converge within 20s".into());
        }
        println!("\n==> the cluster formed in {:.1}s: every node sees {n} alive members", t0.elapsed().as_secs_f64());

        let victim = n - 1;
        let victim_name = names[victim].clone();
        let victim_addr = nodes[victim].as_ref().map(Handle::local_addr).ok_or("victim missing")?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Some(h) = nodes[victim].take() {
            h.shutdown().await;
        }
        let killed = Instant::now();
        println!("\n==> crashed {victim_name} (stopped without a goodbye); the others will probe, suspect, then declare it dead");
        let detected = watch(t0, &nodes, &names, &mut last, Duration::from_secs(40), |v| {
            all_see(v, n - 1, &victim_name, "dead")
        })
        .await;
        if !detected {
            return Err(format!("{victim_name} was not declared dead everywhere within 40s"));
        }
        println!(
            "\n==> every node declared {victim_name} dead {:.1}s after the crash",
            killed.elapsed().as_secs_f64()
        );

        tokio::time::sleep(Duration::from_secs(2)).await;
        println!("\n==> restarting {victim_name} with the same name and address; it refutes its death with a higher incarnation");
        let restarted = Instant::now();
        nodes[victim] = Some(start(&victim_name, victim_addr, Some(seed)).await?);
        let healed = watch(t0, &nodes, &names, &mut last, Duration::from_secs(30), |v| {
            names.iter().all(|m| all_see(v, n, m, "alive"))
        })
        .await;
        if !healed {
            return Err(format!("{victim_name} was not alive everywhere again within 30s"));
        }
        println!(
            "\n==> healed: {victim_name} is alive everywhere again {:.1}s after its restart (total {:.1}s)",
            restarted.elapsed().as_secs_f64(),
            t0.elapsed().as_secs_f64()
        );
        for h in nodes.iter().flatten() {
            h.shutdown().await;
        }
        Ok(())
    })
}
