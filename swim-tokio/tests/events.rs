//! User events through real agents on loopback: `swim event`, `POST
//! /v1/event`, event handlers (once per agent, timeouts, failures, their
//! counters) and the control API's checks on the new endpoint.

mod common;
use common::{http, wait_for, Agent, TempDir};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One raw HTTP/1.1 request; the status and the body.
fn raw(control: &str, request: &str) -> (u16, String) {
    let addr: SocketAddr = control.parse().unwrap();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = (resp.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = (resp.split_once("\r\n\r\n"))
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The agent's event handler counters.
fn handler_metrics(a: &Agent) -> Value {
    a.get("/v1/metrics")
        .map(|m| m["event_handlers"].clone())
        .unwrap_or(Value::Null)
}

/// `n` agents with `extra` arguments each, all joining the first, once
/// every one sees all `n` alive.
fn cluster_with(prefix: &str, n: usize, extra: &[&str]) -> Vec<Agent> {
    let first = Agent::start_with(&format!("{prefix}1"), "127.0.0.1:0", &[], extra);
    let seed = first.gossip;
    let mut agents = vec![first];
    for i in 2..=n {
        agents.push(Agent::start_with(
            &format!("{prefix}{i}"),
            "127.0.0.1:0",
            &[seed],
            extra,
        ));
    }
    wait_for(
        &format!("{n} agents converge"),
        Duration::from_secs(30),
        || {
            agents.iter().all(|a| {
                a.members()
                    .is_some_and(|ms| ms.len() == n && ms.iter().all(|m| m.1 == "alive"))
            })
        },
    );
    agents
}

/// (a) `swim event deploy v42` against one agent of five: every agent's
/// `user:deploy` handler runs exactly once, with its own name, the event's
/// name and the payload.
#[test]
fn an_event_runs_each_agent_s_handler_exactly_once() {
    let dir = TempDir::new("events-deploy");
    let handler = format!(
        "user:deploy=echo \"$SWIM_SELF_NAME $SWIM_USER_EVENT $(cat)\" >> {}/$SWIM_SELF_NAME.out",
        dir.0.display()
    );
    // Not coalesced (its filter takes member events too): every delivery
    // of the event runs it.
    let raw_handler = format!(
        "user,member-leave=echo \"$SWIM_EVENT $SWIM_USER_EVENT $SWIM_ORIGIN\" >> {}/$SWIM_SELF_NAME.raw",
        dir.0.display()
    );
    let agents = cluster_with(
        "ev",
        5,
        &["--event-handler", &handler, "--event-handler", &raw_handler],
    );
    let out = agents[2].cli(&["event", "deploy", "v42"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("deploy"),
        "{out:?}"
    );
    wait_for("every agent's handler ran", Duration::from_secs(30), || {
        agents
            .iter()
            .all(|a| !dir.read(&format!("{}.out", a.name)).is_empty())
    });
    // An observation window for a second run (a duplicate delivery or a
    // coalesced burst run twice), not a synchronisation.
    std::thread::sleep(Duration::from_secs(3));
    for a in &agents {
        let text = dir.read(&format!("{}.out", a.name));
        assert_eq!(text, format!("{} deploy v42\n", a.name), "agent {}", a.name);
        let raw = dir.read(&format!("{}.raw", a.name));
        assert_eq!(raw, "user deploy ev3\n", "agent {}", a.name);
        let m = handler_metrics(a);
        assert_eq!(m["runs"], 2, "{}: {m}", a.name);
        assert_eq!(m["failures"], 0, "{}: {m}", a.name);
    }
}

/// (b) A handler that hangs is killed at its timeout (its process gone)
/// and counted; the node keeps answering. (c) A failing handler is
/// counted, its standard error logged.
#[test]
fn hanging_and_failing_handlers_are_killed_and_counted() {
    let dir = TempDir::new("events-hang");
    let hang = format!(
        "user:hang=echo $$ > {}/pid; exec sleep 600",
        dir.0.display()
    );
    let agents = cluster_with(
        "hg",
        2,
        &[
            "--event-handler",
            &hang,
            "--event-handler",
            "user:fail=echo oops-from-handler >&2; exit 3",
            "--event-handler-timeout",
            "1s",
        ],
    );
    let a = &agents[0];
    let out = a.cli(&["event", "hang"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the hanging run started", Duration::from_secs(15), || {
        !dir.read("pid").trim().is_empty()
    });
    let pid: i32 = dir.read("pid").trim().parse().unwrap();
    wait_for("the hanging run timed out", Duration::from_secs(15), || {
        handler_metrics(a)["timeouts"] == 1
    });
    wait_for(
        "the hanging process is gone",
        Duration::from_secs(5),
        || {
            // SAFETY: signal 0 only checks that the process exists.
            unsafe { libc::kill(pid, 0) != 0 }
        },
    );
    // The node still answers and still holds its peer.
    let members = a.members().expect("members still listed");
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(members.iter().all(|m| m.1 == "alive"), "{members:?}");
    assert!(a.log_text().contains("timed out"), "{}", a.log_text());

    let out = a.cli(&["event", "fail", "x"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for(
        "the failing run is counted",
        Duration::from_secs(15),
        || handler_metrics(a)["failures"] == 1,
    );
    assert!(
        a.log_text().contains("oops-from-handler"),
        "{}",
        a.log_text()
    );
    let m = handler_metrics(a);
    assert_eq!(
        (m["timeouts"].as_u64(), m["dropped"].as_u64()),
        (Some(1), Some(0)),
        "{m}"
    );
    // The counters in the Prometheus text, each with its help.
    let (status, _) = http(&a.control, "GET", "/v1/members", "").unwrap();
    assert_eq!(status, 200);
    let (status, text) = raw(
        &a.control,
        &format!(
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            a.control
        ),
    );
    assert_eq!(status, 200);
    for line in [
        "# HELP swim_event_handler_timeouts Event handler runs killed at the handler timeout",
        "swim_event_handler_timeouts_total 1",
        "swim_event_handler_failures_total 1",
        "# HELP swim_event_handler_dropped Events dropped because an event handler's queue was full",
    ] {
        assert!(text.contains(line), "{line}:\n{text}");
    }
}

/// (d) An oversized payload and a bad name: clear errors from the CLI and
/// from the HTTP API; an unreachable agent is named.
#[test]
fn bad_events_get_clear_errors() {
    let a = Agent::start("bad1", &[]);
    let big = "x".repeat(600);
    let out = a.cli(&["event", "deploy", &big]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("event too large") && e.contains("606 bytes") && e.contains("at most 512"),
        "{e}"
    );
    let out = a.cli(&["event", "bad\u{7}name"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("invalid event name") && e.contains("allowed"),
        "{e}"
    );
    let out = a.cli(&["event", ""]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("invalid event name"), "{out:?}");

    let c = a.control.as_str();
    let body = serde_json::json!({ "name": "deploy", "payload": big }).to_string();
    let (status, v) = http(c, "POST", "/v1/event", &body).unwrap();
    assert_eq!(status, 400, "{v}");
    let msg = v["error"].as_str().unwrap_or("");
    assert!(
        msg.contains("event too large") && msg.contains("at most 512"),
        "{v}"
    );
    for (body, want) in [
        (r#"{"name": ""}"#, "invalid event name"),
        (r#"{"name": "a\u0000b"}"#, "invalid event name"),
        (r#"{"payload": "x"}"#, "missing field `name`"),
        (r#"{"name": "a", "extra": 1}"#, "unknown field `extra`"),
        (
            r#"{"name": "a", "payload": "x", "payload_base64": "eA=="}"#,
            "not both",
        ),
        (
            r#"{"name": "a", "payload_base64": "@@"}"#,
            "invalid payload_base64",
        ),
    ] {
        let (status, v) = http(c, "POST", "/v1/event", body).unwrap();
        assert_eq!(status, 400, "{body}: {v}");
        let msg = v["error"].as_str().unwrap_or("");
        assert!(msg.contains(want), "{body}: {v}");
    }
    let (status, v) = http(
        c,
        "POST",
        "/v1/event",
        r#"{"name": "bin", "payload_base64": "AP8=", "coalesce": false}"#,
    )
    .unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["size"], 5, "{v}");
}

/// The unreachable agent: named, with what to do.
#[test]
fn an_unreachable_agent_is_named() {
    let out = std::process::Command::new(common::SWIM)
        .args(["event", "x", "--control", "127.0.0.1:1"])
        .env_remove("SWIM_CONTROL_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("cannot reach the swim agent at 127.0.0.1:1"),
        "{e}"
    );
}

/// (e) A cross-site `POST /v1/event` is refused like the other writes,
/// and so is one without `Content-Type: application/json`; neither fires
/// anything. `swim monitor` shows the events that were fired.
#[test]
fn cross_site_events_are_refused_and_monitor_shows_user_events() {
    let dir = TempDir::new("events-xsite");
    let handler = format!(
        "*=echo \"$SWIM_EVENT $SWIM_USER_EVENT\" >> {}/runs",
        dir.0.display()
    );
    let a = Agent::start_with("xs1", "127.0.0.1:0", &[], &["--event-handler", &handler]);
    let c = a.control.as_str();
    let body = r#"{"name": "evil", "payload": "rm -rf /"}"#;
    let cross = format!(
        "POST /v1/event HTTP/1.1\r\nHost: {c}\r\nOrigin: http://evil.example\r\n\
         Sec-Fetch-Site: cross-site\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, text) = raw(c, &cross);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("cross-site"), "{text}");
    let form = format!(
        "POST /v1/event HTTP/1.1\r\nHost: {c}\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, text) = raw(c, &form);
    assert_eq!(status, 415, "{text}");
    let rebound = format!(
        "POST /v1/event HTTP/1.1\r\nHost: evil.example:{}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        c.rsplit(':').next().unwrap(),
        body.len()
    );
    let (status, text) = raw(c, &rebound);
    assert_eq!(status, 403, "{text}");
    let control = a.get("/v1/metrics").unwrap()["control"].clone();
    assert_eq!(control["requests_refused"]["cross_site"], 1, "{control}");
    assert_eq!(control["requests_refused"]["content_type"], 1, "{control}");

    let mut monitor = std::process::Command::new(common::SWIM)
        .args(["monitor", "--format", "json", "--control", c])
        .env_remove("SWIM_CONTROL_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = monitor.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The monitor is subscribed once its stream is open: fire until it
    // shows an event (each fired event is a fresh one).
    let mut seen = None;
    wait_for(
        "monitor shows the user event",
        Duration::from_secs(15),
        || {
            let out = a.cli(&["event", "ok", "hello", "--no-coalesce"]);
            assert!(out.status.success(), "{}", stderr(&out));
            while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if v["event"] == "user" {
                    seen = Some(v);
                    return true;
                }
            }
            false
        },
    );
    let _ = monitor.kill();
    let _ = monitor.wait();
    let v = seen.unwrap();
    assert_eq!(v["name"], "ok", "{v}");
    assert_eq!(v["payload"], "hello", "{v}");
    assert_eq!(v["origin"], "xs1", "{v}");
    assert_eq!(v["coalesce"], false, "{v}");
    assert!(v["clock"].is_u64(), "{v}");
    wait_for("the handler ran for `ok`", Duration::from_secs(15), || {
        dir.read("runs").contains("user ok")
    });
    assert!(!dir.read("runs").contains("evil"), "{}", dir.read("runs"));
}

/// A handler that cannot keep up: its queue holds [`QUEUE`] events, the
/// rest are dropped and counted, and the node keeps answering.
#[test]
fn a_full_handler_queue_drops_and_counts() {
    let a = Agent::start_with(
        "fl1",
        "127.0.0.1:0",
        &[],
        &[
            "--event-handler",
            "user:flood=sleep 10",
            "--event-handler-timeout",
            "60s",
        ],
    );
    let queue = swim_tokio::handlers::QUEUE as u64;
    for i in 0..queue + 6 {
        let body = format!(r#"{{"name": "flood", "payload": "{i}", "coalesce": false}}"#);
        let (status, v) = http(&a.control, "POST", "/v1/event", &body).unwrap();
        assert_eq!(status, 200, "{v}");
    }
    wait_for("the overflow is counted", Duration::from_secs(15), || {
        handler_metrics(&a)["dropped"].as_u64().unwrap_or(0) >= 5
    });
    let m = handler_metrics(&a);
    let dropped = m["dropped"].as_u64().unwrap();
    // One running (once the worker took it), `queue` waiting.
    assert!((5..=6).contains(&dropped), "{m}");
    assert_eq!(m["runs"], 1, "{m}");
    assert!(a.members().is_some_and(|m| m.len() == 1));
    assert!(a.log_text().contains("queue is full"), "{}", a.log_text());
}

/// A burst of coalesced events of one name runs a `user:NAME` handler once,
/// for the newest; a handler without a filter runs for each.
#[test]
fn a_burst_is_coalesced_for_user_filters_only() {
    let dir = TempDir::new("events-burst");
    let coalesced = format!(
        "user:deploy=echo \"$(cat)\" >> {}/coalesced",
        dir.0.display()
    );
    let every = format!("echo \"$SWIM_EVENT $(cat)\" >> {}/every", dir.0.display());
    let a = Agent::start_with(
        "bu1",
        "127.0.0.1:0",
        &[],
        &["--event-handler", &coalesced, "--event-handler", &every],
    );
    for v in ["v1", "v2", "v3"] {
        let out = a.cli(&["event", "deploy", v]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    wait_for("both handlers ran", Duration::from_secs(15), || {
        dir.read("every")
            .lines()
            .filter(|l| l.starts_with("user"))
            .count()
            == 3
            && !dir.read("coalesced").is_empty()
    });
    // An observation window past the quiescent period, not a synchronisation.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(dir.read("coalesced"), "v3\n");
    let every = dir.read("every");
    let users: Vec<&str> = every.lines().filter(|l| l.starts_with("user")).collect();
    assert_eq!(users, ["user v1", "user v2", "user v3"], "{every}");
}

/// 100 events of one name fired at once on one agent of three: at every
/// agent a `user:NAME` handler (it coalesces) runs once, for the newest;
/// a handler without a filter (it takes member events too, so it does not
/// coalesce) runs for each of the 100, once (the per-origin gossip cap
/// and the handler queue admit such a burst).
#[test]
fn a_burst_of_100_reaches_every_agent_coalesced_and_whole() {
    let dir = TempDir::new("events-burst100");
    let coalesced = format!(
        "user:deploy=echo \"$(cat)\" >> {}/$SWIM_SELF_NAME.coalesced",
        dir.0.display()
    );
    let every = format!(
        "echo \"$SWIM_EVENT $(cat)\" >> {}/$SWIM_SELF_NAME.every",
        dir.0.display()
    );
    let agents = cluster_with(
        "b100-",
        3,
        &["--event-handler", &coalesced, "--event-handler", &every],
    );
    for i in 1..=100 {
        let body = format!(r#"{{"name": "deploy", "payload": "v{i}", "coalesce": true}}"#);
        let (status, v) = http(&agents[0].control, "POST", "/v1/event", &body).unwrap();
        assert_eq!(status, 200, "{v}");
    }
    let want: Vec<String> = (1..=100).map(|i| format!("v{i}")).collect();
    wait_for(
        "every agent ran both handlers",
        Duration::from_secs(30),
        || {
            agents.iter().all(|a| {
                users(&dir.read(&format!("{}.every", a.name))).len() >= 100
                    && !dir.read(&format!("{}.coalesced", a.name)).is_empty()
            })
        },
    );
    // An observation window past the quiescent period, not a synchronisation.
    std::thread::sleep(Duration::from_secs(2));
    for a in &agents {
        let mut got = users(&dir.read(&format!("{}.every", a.name)));
        got.sort_by_key(|v| v[1..].parse::<u32>().unwrap_or(0));
        assert_eq!(got, want, "agent {}: each of the 100 once", a.name);
        assert_eq!(
            dir.read(&format!("{}.coalesced", a.name)),
            "v100\n",
            "agent {}: the newest only",
            a.name
        );
        let m = handler_metrics(a);
        assert_eq!(m["dropped"], 0, "{}: {m}", a.name);
    }
}

/// The payloads of the user events in a handler's `$SWIM_EVENT PAYLOAD` lines.
fn users(text: &str) -> Vec<String> {
    (text.lines())
        .filter_map(|l| l.strip_prefix("user "))
        .map(str::to_string)
        .collect()
}
