//! A network partition between agents in network namespaces this test creates
//! (`ip netns` + veth pairs on a bridge in a hub namespace). Needs root and
//! `ip`; otherwise it prints why it is skipped and returns.

mod common;

use common::{dead_bound, wait_for, Agent, SWIM};
use serde_json::Value;
use std::process::Command;

/// Runs `ip` with `args`; `Err` with its stderr if it fails.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The namespaces of one test run, deleted on drop (which removes their links).
struct Netns {
    names: Vec<String>,
}

impl Drop for Netns {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = ip(&["netns", "del", n]);
        }
    }
}

/// Hub namespace with a bridge, and one namespace per agent wired to it.
fn setup(tag: &str, hosts: &[(&str, &str)]) -> Result<Netns, String> {
    let hub = format!("swim-{tag}-hub");
    let mut ns = Netns {
        names: vec![hub.clone()],
    };
    ip(&["netns", "add", &hub])?;
    ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
    ip(&["-n", &hub, "link", "set", "br0", "up"])?;
    for (host, addr) in hosts {
        let name = format!("swim-{tag}-{host}");
        ip(&["netns", "add", &name])?;
        ns.names.push(name.clone());
        let (inner, outer) = (format!("v{tag}{host}"), format!("h{tag}{host}"));
        ip(&[
            "link", "add", &inner, "netns", &name, "type", "veth", "peer", "name", &outer, "netns",
            &hub,
        ])?;
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &name,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            &inner,
        ])?;
        ip(&["-n", &name, "link", "set", &inner, "up"])?;
        ip(&["-n", &hub, "link", "set", &outer, "master", "br0"])?;
        ip(&["-n", &hub, "link", "set", &outer, "up"])?;
    }
    Ok(ns)
}

fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("the `ip` command is not available".into());
    }
    None
}

/// An agent inside namespace `ns`, with its control API on that namespace's loopback.
struct NsAgent {
    /// Kept for its drop guard, which kills the process.
    _agent: Agent,
    ns: String,
}

impl NsAgent {
    fn start(ns: &str, name: &str, bind: &str, join: &[&str]) -> NsAgent {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, SWIM]);
        let seeds: Vec<std::net::SocketAddr> = join.iter().filter_map(|s| s.parse().ok()).collect();
        let agent = Agent::spawn(cmd, name, bind, "127.0.0.1:7373", &seeds, &[]);
        NsAgent {
            _agent: agent,
            ns: ns.into(),
        }
    }

    fn swim(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, SWIM])
            .args(args)
            .output()
            .expect("run swim in netns")
    }

    fn status_of(&self, name: &str) -> Option<String> {
        let out = self.swim(&["members", "--json", "--control", "127.0.0.1:7373"]);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        v.as_array()?
            .iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["status"].as_str().map(String::from))
    }
}

#[test]
fn partitioned_agent_is_declared_dead_and_rejoins_after_the_partition_heals() {
    if let Some(reason) = skip_reason() {
        println!("SKIPPED partition test: {reason}");
        return;
    }
    let tag = format!("{}", std::process::id() % 100_000);
    let hosts = [
        ("a", "10.231.0.1"),
        ("b", "10.231.0.2"),
        ("c", "10.231.0.3"),
    ];
    let _ns = match setup(&tag, &hosts) {
        Ok(ns) => ns,
        Err(reason) => {
            println!("SKIPPED partition test: cannot create network namespaces: {reason}");
            return;
        }
    };
    let nsname = |h: &str| format!("swim-{tag}-{h}");
    let a = NsAgent::start(&nsname("a"), "pa", "10.231.0.1:7946", &[]);
    let b = NsAgent::start(&nsname("b"), "pb", "10.231.0.2:7946", &["10.231.0.1:7946"]);
    let c = NsAgent::start(&nsname("c"), "pc", "10.231.0.3:7946", &["10.231.0.1:7946"]);
    let all = [&a, &b, &c];
    let names = ["pa", "pb", "pc"];
    let everyone_alive = || {
        all.iter().all(|x| {
            names
                .iter()
                .all(|n| x.status_of(n).as_deref() == Some("alive"))
        })
    };
    let took = wait_for(
        "3 agents in namespaces converge",
        common::spread_bound(),
        everyone_alive,
    );
    eprintln!("converged across namespaces in {took:?}");

    // Partition: cut c's cable at the bridge.
    let hub = format!("swim-{tag}-hub");
    let cable = format!("h{tag}c");
    ip(&["-n", &hub, "link", "set", &cable, "down"]).expect("cut the link");
    // The majority declares the isolated agent dead. The isolated agent
    // holds both peers suspect: nobody can confirm its suspicions, and the
    // relays' nacks it misses raise its Lifeguard score, so its word alone
    // kills nobody (a node cut off cannot tell that from being the sick one).
    let bound = dead_bound(3) + swim_tokio::swim_core::Config::local().probe_interval * 2;
    let took = wait_for("each side holds the other not alive", bound, || {
        [&a, &b]
            .iter()
            .all(|x| x.status_of("pc").as_deref() == Some("dead"))
            && ["pa", "pb"]
                .iter()
                .all(|n| matches!(c.status_of(n).as_deref(), Some("suspect" | "dead")))
    });
    eprintln!("partition detected on both sides after {took:?} (bound {bound:?})");

    // Heal, then rejoin the minority side through the majority.
    ip(&["-n", &hub, "link", "set", &cable, "up"]).expect("restore the link");
    // The link may take a moment to pass traffic again: `swim join` gives
    // up at the first attempt that reaches no seed, so try until one lands.
    wait_for(
        "a join after the heal",
        std::time::Duration::from_secs(20),
        || {
            let out = c.swim(&["join", "10.231.0.1:7946", "--control", "127.0.0.1:7373"]);
            out.status.success()
        },
    );
    let took = wait_for(
        "everyone alive after the heal",
        common::spread_bound(),
        everyone_alive,
    );
    eprintln!("healed: all alive {took:?} after the rejoin");
    drop((a, b, c));
}
