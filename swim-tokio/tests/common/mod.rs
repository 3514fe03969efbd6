//! Helpers for tests that run real `swim agent` processes on loopback.
#![allow(dead_code)]

pub mod forge;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use swim_tokio::swim_core::{suspicion_min_timeout, Config};

/// The `swim` binary under test.
pub const SWIM: &str = env!("CARGO_BIN_EXE_swim");

/// How long a crashed member may take to be declared dead everywhere under
/// `Config::local()` in a cluster of `n`: the expected time to be probed and
/// fail (`probe_interval * (2 + e/(e-1))`), the longest suspicion timeout, and
/// slack for a loaded 2-core machine.
pub fn dead_bound(n: usize) -> Duration {
    let c = Config::local();
    let e = std::f64::consts::E;
    let detect = c.probe_interval.mul_f64(2.0 + e / (e - 1.0));
    let min = suspicion_min_timeout(c.suspicion_mult, n, c.probe_interval);
    detect + min * c.suspicion_max_timeout_mult + Duration::from_secs(5)
}

/// How long news (a join, a refutation, a leave) may take to reach every
/// agent. Gossip sends each update only `retransmit_mult * ceil(log10(n+1))`
/// times (2 in a small local cluster), so it can miss a member; the reconnect
/// tick and summary repair (`reconnect_interval` plus up to 10% jitter) are
/// the backstop.
pub fn spread_bound() -> Duration {
    Config::local().reconnect_interval.mul_f64(1.1) + Duration::from_secs(8)
}

/// A running agent process, killed when dropped (also when a test fails).
pub struct Agent {
    pub name: String,
    pub child: Child,
    pub gossip: SocketAddr,
    pub control: String,
    pub log: PathBuf,
}

fn log_path(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "swim-test-{}-{name}-{nanos}.log",
        std::process::id()
    ))
}

impl Agent {
    /// Starts `swim agent` with preset local on an ephemeral port, joining `join`.
    pub fn start(name: &str, join: &[SocketAddr]) -> Agent {
        Agent::start_with(name, "127.0.0.1:0", join, &[])
    }

    /// Starts `swim agent` on `bind` with extra arguments, and waits for its ready line.
    pub fn start_with(name: &str, bind: &str, join: &[SocketAddr], extra: &[&str]) -> Agent {
        Agent::spawn(Command::new(SWIM), name, bind, "127.0.0.1:0", join, extra)
    }

    /// Starts the agent through `cmd` (e.g. `ip netns exec NS swim`).
    pub fn spawn(
        mut cmd: Command,
        name: &str,
        bind: &str,
        control: &str,
        join: &[SocketAddr],
        extra: &[&str],
    ) -> Agent {
        let log = log_path(name);
        let stderr = std::fs::File::create(&log).expect("create agent log");
        cmd.args([
            "agent",
            "--name",
            name,
            "--bind",
            bind,
            "--control",
            control,
            "--preset",
            "local",
        ]);
        if !extra.contains(&"--log") {
            cmd.args(["--log", "info,swim_core=debug"]);
        }
        for j in join {
            cmd.args(["--join", &j.to_string()]);
        }
        cmd.args(extra);
        cmd.env_remove("SWIM_CONTROL");
        // A token the caller put in `cmd` on purpose stays; one inherited goes.
        if !cmd.get_envs().any(|(k, _)| k == "SWIM_CONTROL_TOKEN") {
            cmd.env_remove("SWIM_CONTROL_TOKEN");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd.spawn().expect("spawn swim agent");
        let stdout = child.stdout.take().expect("agent stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .map(str::to_string)
        };
        let (Some(gossip), Some(control)) = (field("gossip="), field("control=")) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "agent {name} did not start: {:?}\n{}",
                line,
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Agent {
            name: name.into(),
            child,
            gossip: gossip.parse().expect("gossip address"),
            control,
            log,
        }
    }

    /// GET a control API path; `None` if the agent does not answer.
    pub fn get(&self, path: &str) -> Option<Value> {
        http(&self.control, "GET", path, "").and_then(|(status, v)| (status == 200).then_some(v))
    }

    /// This agent's view: `(name, status, incarnation)` of every member.
    pub fn members(&self) -> Option<Vec<(String, String, u64)>> {
        let v = self.get("/v1/members")?;
        Some(
            v.as_array()?
                .iter()
                .map(|m| {
                    (
                        m["name"].as_str().unwrap_or("").to_string(),
                        m["status"].as_str().unwrap_or("").to_string(),
                        m["incarnation"].as_u64().unwrap_or(0),
                    )
                })
                .collect(),
        )
    }

    /// The status this agent gives `name`, if it knows it.
    pub fn status_of(&self, name: &str) -> Option<String> {
        self.members()?
            .into_iter()
            .find(|m| m.0 == name)
            .map(|m| m.1)
    }

    /// Sends a signal to the agent process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill({}, {sig})", self.child.id());
    }

    /// The agent's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs a client command against this agent.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(SWIM)
            .args(args)
            .args(["--control", &self.control])
            .env_remove("SWIM_CONTROL_TOKEN")
            .output()
            .expect("run swim client")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        } else {
            eprintln!(
                "--- log of agent {} ({}) ---\n{}",
                self.name,
                self.log.display(),
                self.log_text()
            );
        }
    }
}

/// A minimal HTTP/1.1 request; returns the status and the JSON body.
pub fn http(control: &str, method: &str, path: &str, body: &str) -> Option<(u16, Value)> {
    let addr: SocketAddr = control.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {control}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let status = resp.split_whitespace().nth(1)?.parse().ok()?;
    let (_, body) = resp.split_once("\r\n\r\n")?;
    Some((status, serde_json::from_str(body.trim()).ok()?))
}

/// Polls `cond` every 100 ms until it holds or `limit` passes; panics with
/// `what` on timeout. Returns the time it took.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if cond() {
            return start.elapsed();
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `n` agents named `{prefix}1..{prefix}n`, all joining the first, and
/// waits until every one sees all `n` alive.
pub fn cluster(prefix: &str, n: usize) -> Vec<Agent> {
    let first = Agent::start(&format!("{prefix}1"), &[]);
    let seed = first.gossip;
    let mut agents = vec![first];
    for i in 2..=n {
        agents.push(Agent::start(&format!("{prefix}{i}"), &[seed]));
    }
    let took = wait_for(
        &format!("{n} agents converge"),
        Duration::from_secs(20),
        || {
            agents.iter().all(|a| {
                a.members()
                    .is_some_and(|ms| ms.len() == n && ms.iter().all(|m| m.1 == "alive"))
            })
        },
    );
    eprintln!("{n} agents converged in {took:?}");
    agents
}

/// A fresh temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `swim-test-<pid>-<tag>` in the system's temporary directory, empty.
    pub fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("swim-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    /// A file in it.
    pub fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }

    /// A file in it, as a command-line argument.
    pub fn arg(&self, f: &str) -> String {
        self.path(f).display().to_string()
    }

    /// A file's text (empty when missing).
    pub fn read(&self, f: &str) -> String {
        std::fs::read_to_string(self.path(f)).unwrap_or_default()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
