//! Review of issue 18 (review18b) with real agents: a restarted process
//! and a careless operator. Tests marked `// FAILS on main:` are findings
//! (they fail on the code they were written against and pass once it is
//! fixed); the others show a defence that holds.

mod common;

use common::{dead_bound, wait_for, Agent};
use std::path::PathBuf;
use std::time::Duration;
use swim_tokio::swim_core::SecretKey;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "swim-operator-{}-{tag}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
    fn path(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cli(agent: &Agent, args: &[&str]) -> (bool, String) {
    let out = agent.cli(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn all_alive(agents: &[Agent]) -> bool {
    agents.iter().all(|a| {
        a.members()
            .is_some_and(|m| m.len() == agents.len() && m.iter().all(|x| x.1 == "alive"))
    })
}

/// Agent `i` of a sealed cluster: its own keyring file (a copy of key 42)
/// and config file.
fn start(dir: &Dir, prefix: &str, i: usize, join: &[std::net::SocketAddr], step: &str) -> Agent {
    let ring = dir.path(&format!("keyring{i}"));
    if !std::path::Path::new(&ring).exists() {
        swim_tokio::keyring::save(ring.as_ref(), [SecretKey::new([42; 32])].iter()).unwrap();
    }
    let conf = dir.path(&format!("agent{i}.toml"));
    std::fs::write(&conf, format!("[protocol]\nsealing = \"{step}\"\n")).unwrap();
    Agent::start_with(
        &format!("{prefix}{i}"),
        "127.0.0.1:0",
        join,
        &["--keyring-file", &ring, "--config", &conf],
    )
}

fn holds(dir: &Dir, i: usize, k: &SecretKey) -> bool {
    swim_tokio::keyring::load(dir.path(&format!("keyring{i}")).as_ref())
        .is_ok_and(|ks| ks.iter().any(|x| x.id() == k.id()))
}

/// Persona 2: kill -9 of an agent, restarted with the same name and
/// keyring; its operator runs `swim keys install` as soon as the agent
/// prints its addresses. Before that, key operations ran (the cluster's
/// query clock moved) and another member restarted (it learned that clock
/// as its floor). Is the key installed everywhere?
///
/// PASSES on main (the defence holds at the agent): "3 of 3 live members
/// answered" and every keyring file holds the new key. The core flaw
/// (`Node::keyring_op` stamps a query before the clock is learned; see
/// swim-core/tests/insider.rs
/// `restarted_member_key_install_right_after_restart_reaches_everyone`)
/// is not reached through the CLI here: the rejoin has answered by then.
#[test]
fn restarted_agent_s_first_key_install_reaches_every_member() {
    let dir = Dir::new("restart-install");
    let mut agents = vec![start(&dir, "rk", 1, &[], "require")];
    let seed = agents[0].gossip;
    for i in 2..=3 {
        agents.push(start(&dir, "rk", i, &[seed], "require"));
    }
    wait_for("3 sealed agents", Duration::from_secs(20), || {
        all_alive(&agents)
    });
    for _ in 0..4 {
        let (ok, text) = cli(&agents[0], &["keys", "list"]);
        assert!(ok, "{text}");
    }
    // rk3 restarts: it learns the clock (its floor).
    agents[2].signal(libc::SIGKILL);
    let _ = agents[2].child.wait();
    let peers = [agents[0].gossip, agents[1].gossip];
    agents[2] = start(&dir, "rk", 3, &peers, "require");
    wait_for("rk3 back", Duration::from_secs(20), || all_alive(&agents));
    // rk1 restarts; `keys install` at once.
    agents[0].signal(libc::SIGKILL);
    let _ = agents[0].child.wait();
    let peers = [agents[1].gossip, agents[2].gossip];
    agents[0] = start(&dir, "rk", 1, &peers, "require");
    let new = SecretKey::new([7; 32]);
    swim_tokio::keyring::save(dir.path("new").as_ref(), [new.clone()].iter()).unwrap();
    let (ok, text) = cli(
        &agents[0],
        &["keys", "install", "--key-file", &dir.path("new")],
    );
    eprintln!("keys install right after the restart: ok {ok}: {text}");
    wait_for("rk1 rejoined", Duration::from_secs(20), || {
        all_alive(&agents)
    });
    let mut held = Vec::new();
    let all = std::time::Instant::now();
    while all.elapsed() < Duration::from_secs(10) {
        held = (1..=3).map(|i| holds(&dir, i, &new)).collect();
        if held.iter().all(|&h| h) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("held after the install: {held:?}");
    assert!(
        (ok && held.iter().all(|&h| h)) || (!ok && text.contains("clock")),
        "the install was {} ({text}) but the key is held by {held:?}",
        if ok { "reported done" } else { "refused" }
    );
}

/// Persona 3: a cluster at `require`; an operator edits one member's
/// config to `accept` (e.g. an old config file redeployed) and SIGHUPs it.
/// That member would send plain, which every other member drops: it must
/// be refused with a clear message, or at least the member must stay
/// reachable.
///
// FAILS on main: sa3 logs "sealing step moved from `require` to
// `accept`", sends plain, and both other members hold it failed within
// the detection bound (their log: traffic that opens under none of this
// agent's keys). No refusal, no warning that it cuts the member off. Responsible: swim-tokio/src/driver.rs (SIGHUP sealing
// reload). Fix: refuse moving to `accept` by SIGHUP while the node is at
// `require`, logging "the cluster is at `require`; a member at `accept`
// would be cut off".
#[test]
fn sighup_to_accept_in_a_require_cluster_is_refused_or_harmless() {
    let dir = Dir::new("sighup-accept");
    let mut agents = vec![start(&dir, "sa", 1, &[], "require")];
    let seed = agents[0].gossip;
    for i in 2..=3 {
        agents.push(start(&dir, "sa", i, &[seed], "require"));
    }
    wait_for("3 agents at require", Duration::from_secs(20), || {
        all_alive(&agents)
    });
    std::fs::write(
        dir.path("agent3.toml"),
        "[protocol]\nsealing = \"accept\"\n",
    )
    .unwrap();
    agents[2].signal(libc::SIGHUP);
    wait_for("sa3 read its file", Duration::from_secs(10), || {
        let log = agents[2].log_text();
        log.contains("sealing step")
    });
    let moved = agents[2]
        .log_text()
        .contains("sealing step moved from `require` to `accept`");
    // Watch for a detection bound: does anyone hold sa3 failed?
    let start = std::time::Instant::now();
    let mut failed = Vec::new();
    while start.elapsed() < dead_bound(3) {
        failed = agents[..2]
            .iter()
            .filter(|a| a.status_of("sa3").is_some_and(|s| s != "alive"))
            .map(|a| a.name.clone())
            .collect();
        if !failed.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "SIGHUP to accept: moved {moved}; sa3 not alive at {failed:?} {:?} after the SIGHUP was read",
        start.elapsed()
    );
    assert!(
        failed.is_empty(),
        "sa3 moved to accept by SIGHUP (moved: {moved}) and was cut off: held failed by {failed:?}"
    );
}

/// Persona 3: an agent started with a wrong key (a keyring of another
/// cluster) joins a sealed cluster. It should exit naming the likely
/// cause (keys), not only "no seed answered".
///
// FAILS on main: the joiner exits with "no seed answered the join in 2
// attempts (--join ...); check the addresses and that an agent runs
// there" (only the seed logs the likely fix, on another host).
// Responsible: swim-tokio/src/control.rs join failure message (line
// ~976). Fix: when a seed's address is reachable but nothing opened
// (or the seed's answer opens under no key), say "the seed may hold other
// keys (check --keyring-file)".
#[test]
fn a_wrong_key_at_join_names_the_keys_as_the_likely_cause() {
    let dir = Dir::new("wrong-key");
    let seed = start(&dir, "wk", 1, &[], "require");
    let ring = dir.path("wrong");
    swim_tokio::keyring::save(ring.as_ref(), [SecretKey::new([9; 32])].iter()).unwrap();
    let mut joiner = Agent::start_with(
        "wk2",
        "127.0.0.1:0",
        &[seed.gossip],
        &["--keyring-file", &ring, "--retry-max", "2"],
    );
    let mut status = None;
    wait_for("the joiner exits", Duration::from_secs(30), || {
        status = joiner.child.try_wait().unwrap();
        status.is_some()
    });
    assert!(!status.unwrap().success());
    let log = joiner.log_text();
    let last: Vec<&str> = log.lines().rev().take(5).collect();
    eprintln!("wrong key, the joiner says: {last:?}");
    assert!(
        log.to_lowercase().contains("key"),
        "the joiner's error names no key: {last:?}"
    );
}

/// Persona 3: two agents on one host given the same `--snapshot` file
/// (a copied unit file). The second must refuse to start, naming the file
/// in use, not overwrite the first's snapshot silently.
///
// FAILS on main: the second agent starts, joins and runs (5 s), both
// writing the same snapshot file. Responsible:
// swim-tokio/src/snapshot.rs (no lock on the snapshot file). Fix: take an
// exclusive `flock` on the snapshot (or a `.lock` beside it) at start and
// exit with "snapshot PATH is in use by another agent (pid N)".
#[test]
fn two_agents_sharing_one_snapshot_file_are_refused() {
    let dir = Dir::new("shared-snapshot");
    let snap = dir.path("members.snapshot");
    let a = Agent::start_with("ss1", "127.0.0.1:0", &[], &["--snapshot", &snap]);
    let out = std::process::Command::new(common::SWIM)
        .args([
            "agent",
            "--name",
            "ss2",
            "--bind",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
            "--preset",
            "local",
            "--join",
            &a.gossip.to_string(),
            "--snapshot",
            &snap,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = out;
    let mut status = None;
    let t = std::time::Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let running = status.is_none();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!(
        "second agent on the same snapshot: still running after 5 s: {running}; stderr tail: {:?}",
        err.lines().rev().take(3).collect::<Vec<_>>()
    );
    assert!(
        !running && err.contains("snapshot"),
        "a second agent runs on the snapshot file of another"
    );
}

/// Persona 3: `sealing = "require"` in the config file (or `--sealing
/// require`) but the `--keyring-file` forgotten. SIGHUP refuses exactly
/// this ("holds no key ... only `accept` is allowed", see sealing_ops.rs);
/// at start it should be refused too, or at least warned about.
///
// FAILS on main: the agent starts and runs plain; the only trace is an
// INFO line `sealing="off (no keys: plain traffic)"`. Same with the
// `--sealing require` flag. Responsible: swim-tokio/src/config.rs /
// driver.rs start-up (a step asked for explicitly is not checked against
// the keyring at start, only at SIGHUP). Fix: at start, an explicit
// `send`/`require` (file or flag) with no keyring is an error: "sealing =
// require needs a keyring (--keyring-file); only `accept` is allowed
// without keys".
#[test]
fn sealing_require_without_a_keyring_is_refused_at_start() {
    let dir = Dir::new("require-no-key");
    let conf = dir.path("agent.toml");
    std::fs::write(&conf, "[protocol]\nsealing = \"require\"\n").unwrap();
    let mut child = std::process::Command::new(common::SWIM)
        .args([
            "agent",
            "--name",
            "nk1",
            "--bind",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
            "--preset",
            "local",
            "--config",
            &conf,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut status = None;
    let t = std::time::Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let running = status.is_none();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let refused = !running && err.contains("key");
    let warned = err
        .lines()
        .any(|l| (l.contains("WARN") || l.contains("ERROR")) && l.contains("key"));
    eprintln!(
        "sealing = require without keys: running {running}; stderr: {:?}",
        err.lines().take(2).collect::<Vec<_>>()
    );
    assert!(
        refused || warned,
        "sealing = \"require\" without a keyring ran plain without a warning"
    );
}
