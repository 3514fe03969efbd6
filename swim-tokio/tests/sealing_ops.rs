//! Turning sealing on without restarts (issue 18, build point 5): `accept`
//! to `send` by each agent's config file and SIGHUP, then `send` to
//! `require` with one `swim keys sealing require`, against real agents.

mod common;
use common::forge::metric;

use common::{wait_for, Agent};
use prost::Message;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;
use swim_proto as pb;

/// A fresh directory for one test's files, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("swim-sealing-{}-{tag}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn path(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }

    /// Writes agent `i`'s config file with sealing step `step`.
    fn config(&self, i: usize, step: &str) -> String {
        let path = self.path(&format!("agent{i}.toml"));
        std::fs::write(&path, format!("[protocol]\nsealing = \"{step}\"\n")).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The sealing step `swim info` prints.
fn info_step(a: &Agent) -> String {
    let out = a.cli(&["info"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("sealing:"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| format!("no sealing line in: {text}"))
}

/// Runs `swim ARGS` against `agent`: success, and stdout and stderr.
fn cli(agent: &Agent, args: &[&str]) -> (bool, String) {
    let out = agent.cli(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A plain datagram declaring `about` dead, from nobody with a key.
fn forged_death(about: &Agent) -> Vec<u8> {
    let SocketAddr::V4(a) = about.gossip else {
        panic!("IPv4 only")
    };
    let mut addr = a.ip().octets().to_vec();
    addr.extend_from_slice(&a.port().to_be_bytes());
    pb::Packet {
        version: pb::PROTOCOL_VERSION,
        from: b"attacker".to_vec().into(),
        updates: vec![pb::Update {
            name: about.name.as_bytes().to_vec().into(),
            addr: addr.into(),
            incarnation: 1,
            status: pb::Status::Dead as i32,
            from: b"attacker".to_vec().into(),
            life: 7,
            ..Default::default()
        }],
        ..Default::default()
    }
    .encode_to_vec()
}

fn all_alive(agents: &[Agent]) -> bool {
    agents.iter().all(|a| {
        a.members()
            .is_some_and(|m| m.len() == agents.len() && m.iter().all(|x| x.1 == "alive"))
    })
}

/// Rewrites agent `i`'s config to `step`, sends SIGHUP and waits for the
/// line saying it moved.
fn sighup_to(dir: &Dir, agents: &[Agent], i: usize, from: &str, step: &str) {
    dir.config(i, step);
    agents[i].signal(libc::SIGHUP);
    let line = format!("sealing step moved from `{from}` to `{step}`");
    wait_for(
        &format!("{} logs: {line}", agents[i].name),
        Duration::from_secs(10),
        || agents[i].log_text().contains(&line),
    );
    assert_eq!(info_step(&agents[i]), step);
}

/// Three agents start plain with a keyring at `accept`; each moves to
/// `send` by its config file and SIGHUP, nobody is declared failed; `swim
/// keys sealing require` is refused, naming the agent, while one is still
/// at `accept`, and moves all three once all are at `send`; then a plain
/// forged packet is counted in `dropped.auth` at every agent, `swim info`
/// and `swim keys list` show `require`, and a later SIGHUP whose file still
/// says `send` keeps `require` (and warns that a restart would not).
#[test]
fn sealing_moved_by_sighup_then_required_by_a_key_operation_kills_nobody() {
    let dir = Dir::new("ops");
    let key = swim_tokio::swim_core::SecretKey::new([42; 32]);
    let start = |i: usize, join: &[SocketAddr]| {
        let ring = dir.path(&format!("keyring{i}"));
        swim_tokio::keyring::save(ring.as_ref(), [key.clone()].iter()).unwrap();
        let config = dir.config(i, "accept");
        let extra = ["--keyring-file", ring.as_str(), "--config", config.as_str()];
        Agent::start_with(&format!("seal{}", i + 1), "127.0.0.1:0", join, &extra)
    };
    let mut agents = vec![start(0, &[])];
    let seed = agents[0].gossip;
    for i in 1..3 {
        agents.push(start(i, &[seed]));
    }
    wait_for(
        "3 agents at accept see each other",
        Duration::from_secs(20),
        || all_alive(&agents),
    );
    for a in &agents {
        assert_eq!(info_step(a), "accept");
    }
    // A key operation needs an agent that seals.
    let (ok, text) = cli(&agents[0], &["keys", "sealing", "require"]);
    assert!(!ok && text.contains("need sealed traffic"), "{text}");
    // `accept` is no cluster operation.
    let (ok, text) = cli(&agents[0], &["keys", "sealing", "accept"]);
    assert!(!ok && text.contains("SIGHUP"), "{text}");

    sighup_to(&dir, &agents, 0, "accept", "send");
    sighup_to(&dir, &agents, 1, "accept", "send");
    // seal3, still at accept, learns the query clock from the first
    // sealed datagram it gets from a member (it joined over plain frames):
    // then it answers key operations, with its step.
    let mut text = String::new();
    wait_for(
        "every member answers a list",
        Duration::from_secs(15),
        || {
            let (ok, t) = cli(&agents[1], &["keys", "list"]);
            text = t;
            ok
        },
    );
    assert!(
        text.contains("sealing step: accept on 1, send on 2"),
        "{text}"
    );
    assert!(text.contains("at accept: seal3"), "{text}");
    // seal3 is still at accept: require is refused before anything moves.
    let (ok, text) = cli(&agents[0], &["keys", "sealing", "require"]);
    assert!(
        !ok && text.contains("1 of 3 live members are not ready")
            && text.contains("at `accept`: seal3"),
        "{text}"
    );
    assert!(text.contains("SIGHUP"), "{text}");
    for (a, step) in agents.iter().zip(["send", "send", "accept"]) {
        assert_eq!(info_step(a), step, "{}", a.name);
    }

    sighup_to(&dir, &agents, 2, "accept", "send");
    let (ok, text) = cli(&agents[0], &["keys", "sealing", "require"]);
    assert!(
        ok && text.contains("3 of 3 live members answered"),
        "{text}"
    );
    for a in &agents {
        assert_eq!(info_step(a), "require", "{}", a.name);
        let log = a.log_text();
        assert!(
            log.contains("sealing step moved from `send` to `require` by a cluster key operation"),
            "{log}"
        );
        assert!(
            log.contains("a restart of this agent starts at `send`"),
            "{log}"
        );
    }
    let (ok, text) = cli(&agents[2], &["keys", "list"]);
    assert!(ok && text.contains("sealing step: require on 3"), "{text}");

    // Nothing was dropped on the way (a member at `accept` used to pass key
    // operations on in plain datagrams, which sealing members dropped).
    for a in &agents {
        assert_eq!(metric(a, &["dropped", "auth"]), 0, "{}", a.name);
    }
    // Plain traffic is now dropped everywhere.
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (i, a) in agents.iter().enumerate() {
        let before = metric(a, &["dropped", "auth"]);
        let about = &agents[(i + 1) % agents.len()];
        attacker.send_to(&forged_death(about), a.gossip).unwrap();
        wait_for(
            &format!("{} counts the plain packet in dropped.auth", a.name),
            Duration::from_secs(10),
            || metric(a, &["dropped", "auth"]) > before,
        );
    }

    // A SIGHUP for another reason does not undo the cluster's step.
    agents[0].signal(libc::SIGHUP);
    wait_for("the reload warns", Duration::from_secs(10), || {
        agents[0]
            .log_text()
            .contains("sealing step `require` (set by `swim keys sealing`)")
    });
    assert_eq!(info_step(&agents[0]), "require");

    // Long enough for a wrong step anywhere to have cost a member.
    let probes = metric(&agents[0], &["probes"]);
    wait_for("five more probe rounds", Duration::from_secs(15), || {
        metric(&agents[0], &["probes"]) >= probes + 5
    });
    assert!(all_alive(&agents));
    for a in &agents {
        let log = a.log_text();
        assert!(!log.contains("member failed"), "{}: {log}", a.name);
    }
}

/// SIGHUP refuses `send` or `require` to an agent without keys (it logs
/// what was wrong and what is allowed), and a `--sealing` flag wins over
/// the file (said in the log, as for `log`).
#[test]
fn sighup_refuses_sealing_without_a_key_and_a_flag_wins() {
    let dir = Dir::new("refuse");
    let plain_conf = dir.config(0, "accept");
    let plain = Agent::start_with("plain1", "127.0.0.1:0", &[], &["--config", &plain_conf]);
    assert_eq!(info_step(&plain), "off (no keys: traffic is plain)");
    dir.config(0, "send");
    plain.signal(libc::SIGHUP);
    wait_for("the refusal is logged", Duration::from_secs(10), || {
        let log = plain.log_text();
        log.contains("sealing step not moved")
            && log.contains("holds no key")
            && log.contains("only `accept` is allowed")
    });
    assert!(!plain.log_text().contains("sealing step moved"));

    let key = swim_tokio::swim_core::SecretKey::new([42; 32]);
    let ring = dir.path("keyring");
    swim_tokio::keyring::save(ring.as_ref(), [key].iter()).unwrap();
    let conf = dir.config(1, "accept");
    let pinned = Agent::start_with(
        "pinned1",
        "127.0.0.1:0",
        &[],
        &[
            "--config",
            &conf,
            "--keyring-file",
            &ring,
            "--sealing",
            "accept",
        ],
    );
    dir.config(1, "send");
    pinned.signal(libc::SIGHUP);
    wait_for(
        "the flag wins, and says so",
        Duration::from_secs(10),
        || {
            pinned
                .log_text()
                .contains("--sealing wins over the file's `sealing`")
        },
    );
    assert_eq!(info_step(&pinned), "accept");
}

/// Two agents at `require`: SIGHUP to `accept` (and to `send`) is refused
/// with the reason and the way out, the step stays `require`, and nobody
/// is held failed; after `swim keys sealing send`, the next SIGHUP (the
/// file unchanged) moves the agent on to `accept`, and both stay alive.
#[test]
fn sighup_back_from_require_is_refused_until_the_cluster_rolls_back() {
    let dir = Dir::new("back");
    let key = swim_tokio::swim_core::SecretKey::new([42; 32]);
    let ring = dir.path("keyring");
    swim_tokio::keyring::save(ring.as_ref(), [key].iter()).unwrap();
    let start = |i: usize, join: &[SocketAddr]| {
        let conf = dir.config(i, "require");
        Agent::start_with(
            &format!("back{i}"),
            "127.0.0.1:0",
            join,
            &["--config", &conf, "--keyring-file", &ring],
        )
    };
    let a = start(1, &[]);
    let b = start(2, &[a.gossip]);
    let agents = [a, b];
    wait_for("2 agents at require", Duration::from_secs(20), || {
        all_alive(&agents)
    });
    let refusals = |a: &Agent| {
        a.log_text()
            .matches("SIGHUP does not move back from `require`")
            .count()
    };
    for (n, step) in [(1, "send"), (2, "accept")] {
        dir.config(2, step);
        agents[1].signal(libc::SIGHUP);
        wait_for("the refusal", Duration::from_secs(10), || {
            refusals(&agents[1]) == n
        });
        assert_eq!(info_step(&agents[1]), "require");
    }
    let log = agents[1].log_text();
    assert!(log.contains("swim keys sealing send"), "{log}");
    assert!(log.contains("cut off"), "{log}");
    assert!(!log.contains("sealing step moved"), "{log}");
    let (ok, text) = cli(&agents[0], &["keys", "sealing", "send"]);
    assert!(ok, "{text}");
    wait_for("both at send", Duration::from_secs(10), || {
        agents.iter().all(|a| info_step(a) == "send")
    });
    // The file still says `accept`: the refused step is tried again.
    agents[1].signal(libc::SIGHUP);
    wait_for("back2 moves to accept", Duration::from_secs(10), || {
        (agents[1].log_text()).contains("sealing step moved from `send` to `accept`")
    });
    assert_eq!(info_step(&agents[1]), "accept");
    std::thread::sleep(common::dead_bound(2));
    assert!(
        all_alive(&agents),
        "a member at accept in a cluster at send is cut off"
    );
}

/// One raw HTTP/1.1 exchange with the control API: the status and the body.
fn raw(control: &str, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(control).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// `POST /v1/keys {"op": "sealing", ...}` follows the other key
/// operations: POST only, JSON only, cross-site refused; a missing or
/// unknown step, and `accept`, are 400s saying what is allowed; on a
/// single sealed agent `require` is carried out (it is every live member).
#[test]
fn the_control_api_route_for_sealing_is_a_key_operation_like_the_others() {
    let dir = Dir::new("api");
    let key = swim_tokio::swim_core::SecretKey::new([42; 32]);
    let ring = dir.path("keyring");
    swim_tokio::keyring::save(ring.as_ref(), [key].iter()).unwrap();
    let a = Agent::start_with(
        "api1",
        "127.0.0.1:0",
        &[],
        &["--keyring-file", &ring, "--sealing", "send"],
    );
    let c = a.control.as_str();
    let post = |body: &str| common::http(c, "POST", "/v1/keys", body).unwrap();
    let (status, v) = post("{\"op\": \"sealing\"}");
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("missing field `step`"),
        "{v}"
    );
    let (status, v) = post("{\"op\": \"sealing\", \"step\": \"on\"}");
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("expected `send` or `require`"),
        "{v}"
    );
    let (status, v) = post("{\"op\": \"sealing\", \"step\": \"accept\"}");
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("SIGHUP"), "{v}");
    // Cross-site, or not JSON: refused before anything starts.
    let body = "{\"op\": \"sealing\", \"step\": \"require\"}";
    let xsite = format!(
        "POST /v1/keys HTTP/1.1\r\nHost: {c}\r\nOrigin: http://evil.example\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(raw(c, &xsite).0, 403);
    let form = format!(
        "POST /v1/keys HTTP/1.1\r\nHost: {c}\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(raw(c, &form).0, 415);
    let (status, _) = common::http(c, "GET", "/v1/keys", "").unwrap();
    assert_eq!(status, 405);
    assert_eq!(info_step(&a), "send");
    let (status, v) = post(body);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(v["sealing"]["require"], 1, "{v}");
    assert_eq!(v["answers"]["api1"]["sealing"], "require", "{v}");
    assert_eq!(info_step(&a), "require");
    assert!(
        a.log_text()
            .contains("a restart of this agent starts at `send` (--sealing)"),
        "{}",
        a.log_text()
    );
}
