//! The control API's guards against real agents: the `Host` check (DNS
//! rebinding), JSON-only writes (cross-site form posts), the bearer token, and
//! the limits on connections, header time, monitor streams and join seeds.

mod common;

use common::{wait_for, Agent, SWIM};
use serde_json::Value;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use swim_tokio::control::{MAX_CONNECTIONS, MAX_JOIN_SEEDS, MAX_MONITORS};

/// An answer: status, head (lower-cased), JSON body (`Null` if not JSON).
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

impl Answer {
    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

/// Sends one HTTP/1.1 request with `headers` (plus `Host: control` unless
/// given, `Connection: close` and the length) and reads the whole answer;
/// `None` if the agent closed the connection without one.
fn try_call(
    control: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<Answer> {
    let addr: SocketAddr = control.parse().expect("control address");
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {control}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    Some(Answer {
        status: head.split_whitespace().nth(1)?.parse().ok()?,
        head: head.to_ascii_lowercase(),
        body: serde_json::from_str(body.trim()).unwrap_or(Value::Null),
    })
}

/// [`try_call`] that must get an answer.
fn call(control: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    try_call(control, method, path, headers, body)
        .unwrap_or_else(|| panic!("no answer from {control} to {method} {path}"))
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// A file in the temp directory holding `text`, named for this test.
fn temp_file(name: &str, text: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("swim-control-test-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("write temp file");
    path
}

/// Runs `cmd` to its end, killing it and failing if it runs past `limit`.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn swim");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "still running after {limit:?}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// Whether the server closes `s` (end of stream or reset) before `limit`.
fn closed_by_server(s: &mut TcpStream, limit: Duration) -> bool {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

/// A counter under `control` in the agent's metrics.
fn control_metric(control: &str, headers: &[(&str, &str)], path: &[&str]) -> u64 {
    let a = call(control, "GET", "/v1/metrics", headers, "");
    assert_eq!(a.status, 200, "metrics: {}", a.error());
    let mut v = &a.body["control"];
    for p in path {
        v = &v[*p];
    }
    v.as_u64()
        .unwrap_or_else(|| panic!("no control.{path:?} in {}", a.body))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn foreign_host_names_are_refused_without_a_token_and_accepted_with_one() {
    let a = Agent::start("host1", &[]);
    let port = a.control.rsplit(':').next().expect("port").to_string();
    for host in [
        "attacker.example".to_string(),
        format!("attacker.example:{port}"),
        format!("localhost.attacker.example:{port}"),
        "10.1.2.3".to_string(),
    ] {
        let r = call(&a.control, "GET", "/v1/members", &[("Host", &host)], "");
        assert_eq!(r.status, 403, "Host {host}: {}", r.body);
        assert!(
            r.error().contains(&host) && r.error().contains("DNS rebinding"),
            "{}",
            r.body
        );
        assert!(r.body.get(0).is_none(), "no member list leaked: {}", r.body);
    }
    // An absolute request URI names the host too.
    let r = call(
        &a.control,
        "GET",
        "http://attacker.example/v1/members",
        &[("Host", "localhost")],
        "",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    for host in [
        "localhost".to_string(),
        format!("localhost:{port}"),
        "127.0.0.1".to_string(),
        format!("127.0.0.1:{port}"),
        "127.9.9.9".to_string(),
        format!("[::1]:{port}"),
        "[::1]".to_string(),
    ] {
        let r = call(&a.control, "GET", "/v1/members", &[("Host", &host)], "");
        assert_eq!(r.status, 200, "Host {host}: {}", r.body);
        assert_eq!(r.body[0]["name"], "host1");
    }
    assert!(control_metric(&a.control, &[], &["requests_refused", "host"]) >= 5);

    // With a token the token is the guard: any Host name is served.
    let token = temp_file("host-token", "host-test-token\n");
    let b = Agent::start_with(
        "host2",
        "127.0.0.1:0",
        &[],
        &["--control-token-file", token.to_str().expect("utf-8 path")],
    );
    let auth = ("Authorization", "Bearer host-test-token");
    let r = call(
        &b.control,
        "GET",
        "/v1/members",
        &[("Host", "attacker.example"), auth],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body[0]["name"], "host2");
    let r = call(
        &b.control,
        "GET",
        "/v1/members",
        &[("Host", "attacker.example")],
        "",
    );
    assert_eq!(r.status, 401, "{}", r.body);
    let _ = std::fs::remove_file(token);
}

#[test]
fn form_posts_cannot_make_the_agent_leave() {
    let mut a = Agent::start("csrf1", &[]);
    for ct in [
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let headers: Vec<(&str, &str)> = ct.map(|c| ("Content-Type", c)).into_iter().collect();
        let r = call(&a.control, "POST", "/v1/leave", &headers, "x=1");
        assert_eq!(r.status, 415, "{ct:?}: {}", r.body);
        assert!(r.error().contains("application/json"), "{}", r.body);
    }
    // The other writes are guarded too.
    let r = call(
        &a.control,
        "POST",
        "/v1/kv",
        &[("Content-Type", "text/plain")],
        r#"{"key": "k", "value": "v"}"#,
    );
    assert_eq!(r.status, 415, "{}", r.body);
    let r = call(&a.control, "DELETE", "/v1/kv?key=k", &[], "");
    assert_eq!(r.status, 415, "{}", r.body);
    let r = call(
        &a.control,
        "POST",
        "/v1/join",
        &[("Content-Type", "text/plain")],
        r#"{"seeds": ["127.0.0.1:1"]}"#,
    );
    assert_eq!(r.status, 415, "{}", r.body);

    // Still running, still a member, nothing written.
    assert!(a.child.try_wait().expect("try_wait").is_none(), "exited");
    assert_eq!(a.status_of("csrf1").as_deref(), Some("alive"));
    let r = call(&a.control, "GET", "/v1/kv", &[], "");
    assert_eq!(r.body["keys"], serde_json::json!([]), "{}", r.body);
    assert!(control_metric(&a.control, &[], &["requests_refused", "content_type"]) >= 7);

    // JSON with parameters is fine.
    let r = call(
        &a.control,
        "POST",
        "/v1/kv",
        &[("Content-Type", "application/json; charset=utf-8")],
        r#"{"key": "k", "value": "v"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // The CLI sends what the guard wants: `swim leave` still works.
    let out = a.cli(&["leave"]);
    assert!(out.status.success(), "leave: {}", stderr(&out));
    let start = Instant::now();
    while a.child.try_wait().expect("try_wait").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the agent did not exit after `swim leave`"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_configured_token_is_required_and_the_cli_sends_it() {
    let token = "tok-0123456789abcdef";
    let file = temp_file("token", &format!("  {token}\n"));
    let path = file.to_str().expect("utf-8 path");
    let a = Agent::start_with("tok1", "127.0.0.1:0", &[], &["--control-token-file", path]);

    let r = call(&a.control, "GET", "/v1/agent", &[], "");
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.head.contains("www-authenticate: bearer"), "{}", r.head);
    assert!(r.error().contains("token"), "{}", r.body);
    for wrong in [
        "Bearer tok-0123456789abcdeX".to_string(),
        "Bearer tok-0123456789abcde".to_string(),
        format!("Bearer {token}{token}"),
        format!("Basic {token}"),
        token.to_string(),
        "Bearer".to_string(),
    ] {
        let r = call(
            &a.control,
            "GET",
            "/v1/agent",
            &[("Authorization", &wrong)],
            "",
        );
        assert_eq!(r.status, 401, "{wrong}: {}", r.body);
        assert!(r.body.get("name").is_none());
    }
    // A wrong token cannot make it leave either.
    let r = call(
        &a.control,
        "POST",
        "/v1/leave",
        &[("Authorization", "Bearer nope"), JSON],
        "{}",
    );
    assert_eq!(r.status, 401, "{}", r.body);
    for right in [format!("Bearer {token}"), format!("bearer  {token}")] {
        let r = call(
            &a.control,
            "GET",
            "/v1/agent",
            &[("Authorization", &right)],
            "",
        );
        assert_eq!(r.status, 200, "{right}: {}", r.body);
        assert_eq!(r.body["name"], "tok1");
    }
    let auth = format!("Bearer {token}");
    assert!(
        control_metric(
            &a.control,
            &[("Authorization", &auth)],
            &["requests_refused", "token"]
        ) >= 8
    );

    // The CLI: refused without the token (and says so), served with it from
    // the file or the environment.
    let cli = |args: &[&str], env: Option<&str>| {
        let mut c = Command::new(SWIM);
        c.args(args)
            .args(["--control", &a.control])
            .env_remove("SWIM_CONTROL_TOKEN");
        if let Some(t) = env {
            c.env("SWIM_CONTROL_TOKEN", t);
        }
        run_bounded(&mut c, Duration::from_secs(30))
    };
    let out = cli(&["members", "--json"], None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--control-token-file"),
        "{}",
        stderr(&out)
    );
    let out = cli(&["members", "--json", "--control-token-file", path], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v[0]["name"], "tok1");
    let out = cli(&["kv", "set", "k", "v"], Some(token));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cli(&["kv", "get", "tok1", "k"], Some(token));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v");
    let out = cli(&["kv", "delete", "k"], Some(token));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cli(&["metrics"], Some("wrong-token"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("wrong control token"),
        "{}",
        stderr(&out)
    );
    let out = cli(&["monitor"], None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    let mut monitor = Command::new(SWIM)
        .args([
            "monitor",
            "--control",
            &a.control,
            "--control-token-file",
            path,
        ])
        .env_remove("SWIM_CONTROL_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn monitor");
    let mut line = String::new();
    BufReader::new(monitor.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("monitor stderr");
    let _ = monitor.kill();
    let _ = monitor.wait();
    assert!(line.contains("monitoring"), "{line}");
    let out = cli(&["leave", "--control-token-file", path], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = std::fs::remove_file(&file);
}

#[test]
fn the_token_comes_from_the_environment_or_the_config_file_and_must_not_be_empty() {
    // $SWIM_CONTROL_TOKEN for the agent.
    let mut cmd = Command::new(SWIM);
    cmd.env("SWIM_CONTROL_TOKEN", "env-token");
    let a = Agent::spawn(cmd, "tokenv1", "127.0.0.1:0", "127.0.0.1:0", &[], &[]);
    let r = call(&a.control, "GET", "/v1/agent", &[], "");
    assert_eq!(r.status, 401, "{}", r.body);
    let r = call(
        &a.control,
        "GET",
        "/v1/agent",
        &[("Authorization", "Bearer env-token")],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // control_token_file in the config file, relative to the config file.
    let dir = std::env::temp_dir().join(format!("swim-control-test-{}-cfg", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("control.token"), "file-token\n").expect("write token");
    let config = dir.join("agent.toml");
    std::fs::write(&config, "control_token_file = \"control.token\"\n").expect("write config");
    let b = Agent::start_with(
        "tokcfg1",
        "127.0.0.1:0",
        &[],
        &["--config", config.to_str().expect("utf-8 path")],
    );
    let r = call(&b.control, "GET", "/v1/agent", &[], "");
    assert_eq!(r.status, 401, "{}", r.body);
    let r = call(
        &b.control,
        "GET",
        "/v1/agent",
        &[("Authorization", "Bearer file-token")],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // An empty token file is an error, not "no token".
    let empty = temp_file("empty-token", " \n");
    let out = run_bounded(
        Command::new(SWIM)
            .args(["agent", "--name", "x", "--bind", "127.0.0.1:0"])
            .args(["--control", "127.0.0.1:0", "--control-token-file"])
            .arg(&empty)
            .env_remove("SWIM_CONTROL_TOKEN"),
        Duration::from_secs(20),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is empty"), "{}", stderr(&out));
    let _ = std::fs::remove_file(empty);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_control_address_off_loopback_needs_a_token() {
    let out = run_bounded(
        Command::new(SWIM)
            .args(["agent", "--name", "open1", "--bind", "127.0.0.1:0"])
            .args(["--control", "0.0.0.0:0", "--preset", "local"])
            .env_remove("SWIM_CONTROL_TOKEN")
            .env_remove("SWIM_CONTROL"),
        Duration::from_secs(20),
    );
    assert!(!out.status.success(), "it started");
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("0.0.0.0:0")
            && err.contains("not a loopback address")
            && err.contains("token"),
        "{err}"
    );

    let token = temp_file("open-token", "open-token");
    let a = Agent::spawn(
        Command::new(SWIM),
        "open2",
        "127.0.0.1:0",
        "0.0.0.0:0",
        &[],
        &["--control-token-file", token.to_str().expect("utf-8 path")],
    );
    let port = a.control.rsplit(':').next().expect("port");
    let control = format!("127.0.0.1:{port}");
    let r = call(&control, "GET", "/v1/agent", &[], "");
    assert_eq!(r.status, 401, "{}", r.body);
    let r = call(
        &control,
        "GET",
        "/v1/agent",
        &[("Authorization", "Bearer open-token")],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let _ = std::fs::remove_file(token);
}

#[test]
fn idle_connections_are_closed_after_the_header_timeout() {
    let config = temp_file("timeout.toml", "control_header_timeout = \"300ms\"\n");
    let a = Agent::start_with(
        "idle1",
        "127.0.0.1:0",
        &[],
        &["--config", config.to_str().expect("utf-8 path")],
    );
    let addr: SocketAddr = a.control.parse().expect("control address");
    // Nothing at all; half a request head; a finished request on a kept-alive
    // connection, then silence.
    let mut silent = TcpStream::connect(addr).expect("connect");
    let mut partial = TcpStream::connect(addr).expect("connect");
    partial
        .write_all(b"GET /v1/agent HTTP/1.1\r\nHost: localhost\r\n")
        .expect("write");
    let mut kept = TcpStream::connect(addr).expect("connect");
    kept.write_all(b"GET /v1/agent HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("write");
    for (what, s) in [
        ("a silent connection", &mut silent),
        ("a half-sent head", &mut partial),
    ] {
        assert!(
            closed_by_server(s, Duration::from_secs(15)),
            "{what} was not closed"
        );
    }
    kept.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("read timeout");
    let mut text = String::new();
    kept.read_to_string(&mut text)
        .expect("a kept-alive connection is closed once idle");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    wait_for(
        "three header timeouts counted",
        Duration::from_secs(10),
        || control_metric(&a.control, &[], &["header_timeouts"]) >= 3,
    );
    let _ = std::fs::remove_file(config);
}

#[test]
fn excess_connections_are_closed_at_once_and_the_api_recovers() {
    let config = temp_file("cap.toml", "control_header_timeout = \"3s\"\n");
    let a = Agent::start_with(
        "cap1",
        "127.0.0.1:0",
        &[],
        &["--config", config.to_str().expect("utf-8 path")],
    );
    let addr: SocketAddr = a.control.parse().expect("control address");
    let extra = 32;
    let mut idle: Vec<TcpStream> = (0..MAX_CONNECTIONS + extra)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    // While every one of them is still open on this side, a real request gets
    // through within the header timeout (the excess were closed, the rest time
    // out), rather than waiting forever behind them.
    wait_for(
        "the API answers despite the idle connections",
        Duration::from_secs(30),
        || try_call(&a.control, "GET", "/v1/agent", &[], "").is_some_and(|r| r.status == 200),
    );
    for (i, s) in idle.iter_mut().enumerate() {
        assert!(
            closed_by_server(s, Duration::from_secs(15)),
            "idle connection {i} still open"
        );
    }
    let refused = control_metric(&a.control, &[], &["connections_refused"]);
    let timeouts = control_metric(&a.control, &[], &["header_timeouts"]);
    eprintln!("refused {refused} connections, {timeouts} header timeouts");
    assert!(refused >= extra as u64, "refused {refused}");
    assert!(timeouts >= MAX_CONNECTIONS as u64, "timeouts {timeouts}");
    assert!(control_metric(&a.control, &[], &["connections"]) <= 2);
    let _ = std::fs::remove_file(config);
}

/// Opens a monitor stream; returns it with the status of the answer.
fn open_monitor(control: &str) -> (TcpStream, u16) {
    let mut s = TcpStream::connect(control).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    s.write_all(format!("GET /v1/monitor HTTP/1.1\r\nHost: {control}\r\n\r\n").as_bytes())
        .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("monitor answer head");
        head.push(byte[0]);
    }
    let status = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (s, status)
}

#[test]
fn monitor_streams_are_capped_and_a_closed_one_frees_its_slot() {
    let a = Agent::start("mon1", &[]);
    let mut monitors: Vec<TcpStream> = (0..MAX_MONITORS)
        .map(|i| {
            let (s, status) = open_monitor(&a.control);
            assert_eq!(status, 200, "monitor {i}");
            s
        })
        .collect();
    let r = call(&a.control, "GET", "/v1/monitor", &[], "");
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.error().contains(&format!("at most {MAX_MONITORS}")),
        "{}",
        r.body
    );
    assert_eq!(
        control_metric(&a.control, &[], &["monitors"]),
        MAX_MONITORS as u64
    );
    assert!(control_metric(&a.control, &[], &["monitors_refused"]) >= 1);

    // Closing one gives its slot back (no event needed to notice).
    drop(monitors.pop());
    let mut fresh = None;
    wait_for("a monitor slot frees up", Duration::from_secs(10), || {
        let (s, status) = open_monitor(&a.control);
        if status == 200 {
            fresh = Some(s);
        }
        status == 200
    });
    let mut fresh = fresh.expect("a new monitor");
    // And the new stream carries events.
    let r = call(
        &a.control,
        "POST",
        "/v1/kv",
        &[JSON],
        r#"{"key": "seen", "value": "yes"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut text = Vec::new();
    let mut buf = [0u8; 1024];
    let start = Instant::now();
    while !String::from_utf8_lossy(&text).contains("\"key-set\"") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no key-set event"
        );
        let n = fresh.read(&mut buf).expect("read the monitor stream");
        assert!(n > 0, "the monitor stream ended");
        text.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn one_join_takes_a_limited_number_of_seeds() {
    let a = Agent::start("seeds1", &[]);
    let b = Agent::start("seeds2", &[]);
    let many: Vec<String> = (0..=MAX_JOIN_SEEDS).map(|_| b.gossip.to_string()).collect();
    let r = call(
        &a.control,
        "POST",
        "/v1/join",
        &[JSON],
        &serde_json::json!({ "seeds": many }).to_string(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.error().contains(&format!("at most {MAX_JOIN_SEEDS}")),
        "{}",
        r.body
    );
    // Not joined.
    assert_eq!(a.members().map(|m| m.len()), Some(1));
    let mut args = vec!["join"];
    args.extend(many.iter().map(String::as_str));
    let out = a.cli(&args);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("at most {MAX_JOIN_SEEDS}")),
        "{}",
        stderr(&out)
    );
    // The limit itself is fine.
    let r = call(
        &a.control,
        "POST",
        "/v1/join",
        &[JSON],
        &serde_json::json!({ "seeds": &many[..MAX_JOIN_SEEDS] }).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    wait_for("the two agents join", common::spread_bound(), || {
        [&a, &b]
            .iter()
            .all(|x| x.members().is_some_and(|m| m.len() == 2))
    });
}

/// Routing, query strings and bodies: what is wrong and what is allowed is
/// said in a JSON error; no request shape makes the agent fail.
#[test]
fn bad_queries_bodies_paths_and_methods_get_json_errors_naming_what_is_allowed() {
    let a = Agent::start("route1", &[]);
    let c = a.control.as_str();
    let r = call(c, "GET", "/v1/members?status=gone", &[], "");
    assert_eq!(r.status, 400);
    assert!(
        r.error().contains("`alive`, `suspect`, `dead`, `left`"),
        "{}",
        r.error()
    );
    let r = call(c, "GET", "/v1/members?status=alive&other=1", &[], "");
    assert_eq!(r.status, 200, "unknown parameters are ignored");
    assert_eq!(r.body.as_array().map(Vec::len), Some(1));
    let r = call(c, "DELETE", "/v1/kv", &[JSON], "");
    assert_eq!(r.status, 400);
    assert!(r.error().contains("missing field `key`"), "{}", r.error());
    let r = call(c, "POST", "/v1/kv", &[JSON], "{\"key\": \"k\"}");
    assert_eq!(r.status, 400);
    assert!(
        r.error().contains("missing field `value`") && r.error().contains("expected {\"key\""),
        "{}",
        r.error()
    );
    let r = call(
        c,
        "POST",
        "/v1/keys",
        &[JSON],
        "{\"op\": \"rotate\", \"key\": \"x\"}",
    );
    assert_eq!(r.status, 400);
    assert!(
        r.error().contains("unknown variant `rotate`"),
        "{}",
        r.error()
    );
    let r = call(c, "POST", "/v1/force-leave", &[JSON], "[1, 2");
    assert_eq!(r.status, 400);
    assert!(
        r.error().contains("{\"name\": \"MEMBER\"}"),
        "{}",
        r.error()
    );
    let big = format!("{{\"key\": \"k\", \"value\": \"{}\"}}", "x".repeat(70_000));
    let r = call(c, "POST", "/v1/kv", &[JSON], &big);
    assert_eq!(r.status, 400, "a body over 64 KiB");
    let r = call(c, "GET", "/v1/nothing", &[], "");
    assert_eq!(
        (r.status, r.error()),
        (404, "no such endpoint: /v1/nothing")
    );
    let r = call(c, "PUT", "/v1/members", &[JSON], "{}");
    assert_eq!((r.status, r.error()), (405, "method not allowed"));
    // The checks come before routing: a foreign host is refused on any path.
    let r = call(c, "GET", "/v1/nothing", &[("Host", "evil.example")], "");
    assert_eq!(r.status, 403);
    // And the agent is fine.
    assert!(a.members().is_some());
}
