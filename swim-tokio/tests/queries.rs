//! User queries through real agents on loopback: `swim query`, `POST
//! /v1/query`, query handlers answering with their output, filters by name
//! and by key, `swim reachability` with a stopped agent, and clear errors
//! for bad regular expressions, oversized payloads and bad timeouts.

mod common;
use common::{http, wait_for, Agent};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One raw HTTP/1.1 request with a JSON body; the status and the body.
fn post(control: &str, path: &str, body: &str) -> (u16, String) {
    let addr: SocketAddr = control.parse().unwrap();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {control}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let status = (resp.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = (resp.split_once("\r\n\r\n"))
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The JSON lines of a query's answer stream (chunked or not: lines that
/// do not parse, such as chunk sizes, are skipped).
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter(Value::is_object)
        .collect()
}

/// What one query collected: who acked, who responded what (trimmed), and
/// the summary line.
struct Answers {
    acks: BTreeSet<String>,
    responses: Vec<(String, String)>,
    summary: Value,
}

fn answers(lines: &[Value]) -> Answers {
    let mut a = Answers {
        acks: BTreeSet::new(),
        responses: Vec::new(),
        summary: Value::Null,
    };
    for v in lines {
        let member = v["member"].as_str().unwrap_or("").to_string();
        match v["type"].as_str() {
            Some("ack") => {
                a.acks.insert(member);
            }
            Some("response") => {
                let p = v["payload"].as_str().unwrap_or("").trim().to_string();
                a.responses.push((member, p));
            }
            Some("summary") => a.summary = v.clone(),
            _ => {}
        }
    }
    a
}

/// Runs `swim query ... --format json` against `agent`; its answers.
fn cli_query(agent: &Agent, args: &[&str]) -> Answers {
    let mut all = vec!["query"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = agent.cli(&all);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let a = answers(&json_lines(&text));
    assert!(a.summary.is_object(), "no summary: {text}");
    a
}

fn names(v: &Value) -> Vec<String> {
    (v.as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .map(String::from)
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Five agents, each answering `whoami` with its name: everyone acks and
/// responds; filters by name and by key ask only the matching members; a
/// query that matches nobody has an empty summary; bad regular
/// expressions, oversized payloads and bad timeouts are refused with the
/// core's reasons by the CLI and the API; `swim reachability` names a
/// stopped agent, and only it, as not acking.
#[test]
fn queries_are_answered_by_the_members_they_ask() {
    let handler = "query:whoami=echo \"$SWIM_SELF_NAME\"";
    let first = Agent::start_with("q1", "127.0.0.1:0", &[], &["--event-handler", handler]);
    let seed = first.gossip;
    let mut agents = vec![first];
    for i in 2..=5 {
        agents.push(Agent::start_with(
            &format!("q{i}"),
            "127.0.0.1:0",
            &[seed],
            &["--event-handler", handler],
        ));
    }
    wait_for("5 agents converge", Duration::from_secs(30), || {
        agents.iter().all(|a| {
            a.members()
                .is_some_and(|ms| ms.len() == 5 && ms.iter().all(|m| m.1 == "alive"))
        })
    });
    let all = set(&["q1", "q2", "q3", "q4", "q5"]);

    // Everyone acks and responds with its own name.
    let a = cli_query(&agents[0], &["whoami", "--timeout", "8s"]);
    assert_eq!(a.acks, all, "{}", a.summary);
    let responders: BTreeSet<String> = a.responses.iter().map(|r| r.0.clone()).collect();
    assert_eq!(responders, all);
    for (member, payload) in &a.responses {
        assert_eq!(member, payload, "each responds with its own name");
    }
    assert_eq!(a.summary["asked"], 5, "{}", a.summary);
    assert_eq!(a.summary["acks"], 5, "{}", a.summary);
    assert_eq!(a.summary["responses"], 5, "{}", a.summary);
    assert_eq!(names(&a.summary["missing"]), Vec::<String>::new());
    // The table form shows the same, then the summary.
    let out = agents[1].cli(&["query", "whoami", "--timeout", "8s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("asked 5, acked 5, responded 5; missing: none"),
        "{text}"
    );
    assert!(text.contains("response  q3"), "{text}");

    // A query of another name: acked (the core does that) but nobody
    // responds (no handler for it).
    let a = cli_query(&agents[0], &["other", "--timeout", "3s"]);
    assert_eq!(a.acks, all);
    assert!(a.responses.is_empty(), "{:?}", a.responses);
    assert_eq!(a.summary["responses"], 0);
    assert_eq!(names(&a.summary["missing"]), Vec::<String>::new());

    // By name.
    let a = cli_query(
        &agents[0],
        &["whoami", "--node", "q2", "--node", "q5", "--timeout", "5s"],
    );
    assert_eq!(a.acks, set(&["q2", "q5"]));
    let responders: BTreeSet<String> = a.responses.iter().map(|r| r.0.clone()).collect();
    assert_eq!(responders, set(&["q2", "q5"]));
    assert_eq!(a.summary["asked"], 2, "{}", a.summary);

    // By key: role=web-* on q2 and q4, role=db on q3.
    for (i, role) in [(1, "web-1"), (3, "web-2"), (2, "db")] {
        let out = agents[i].cli(&["kv", "set", "role", role]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    wait_for(
        "every agent holds the roles",
        common::spread_bound(),
        || {
            agents.iter().all(|a| {
                ["q2", "q3", "q4"].iter().all(|m| {
                    a.get(&format!("/v1/kv?member={m}"))
                        .is_some_and(|v| v["keys"].as_array().is_some_and(|k| !k.is_empty()))
                })
            })
        },
    );
    let a = cli_query(
        &agents[4],
        &[
            "whoami",
            "--tag",
            "role=^web",
            "--timeout",
            "5s",
            "--no-ack",
        ],
    );
    assert!(a.acks.is_empty(), "--no-ack: {:?}", a.acks);
    let responders: BTreeSet<String> = a.responses.iter().map(|r| r.0.clone()).collect();
    assert_eq!(responders, set(&["q2", "q4"]));
    assert_eq!(a.summary["asked"], 2, "{}", a.summary);
    assert_eq!(a.summary["acks"], 0, "{}", a.summary);

    // Through the API: name and key filters together.
    let (status, body) = post(
        &agents[2].control,
        "/v1/query",
        r#"{"name": "whoami", "nodes": ["q3", "q4"], "tags": {"role": "^web"}, "timeout": "5s"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let a = answers(&json_lines(&body));
    assert_eq!(a.acks, set(&["q4"]), "{body}");
    assert_eq!(a.responses, vec![("q4".to_string(), "q4".to_string())]);
    assert_eq!(a.summary["asked"], 1, "{body}");

    // Nobody matches: an empty summary.
    let a = cli_query(
        &agents[0],
        &["whoami", "--node", "nosuch", "--timeout", "2s"],
    );
    assert!(a.acks.is_empty() && a.responses.is_empty());
    for k in ["asked", "acks", "responses"] {
        assert_eq!(a.summary[k], 0, "{k}: {}", a.summary);
    }
    assert_eq!(names(&a.summary["missing"]), Vec::<String>::new());

    // Clear errors: a bad regular expression, an oversized payload, bad
    // timeouts; from the CLI and the API.
    let big = "x".repeat(2000);
    for (args, expect) in [
        (
            vec!["query", "whoami", "--tag", "role=("],
            "tag filter role=(",
        ),
        (vec!["query", "whoami", big.as_str()], "query too large"),
        (vec!["query", "whoami", "--timeout", "0s"], "query timeout"),
        (
            vec!["query", "whoami", "--timeout", "soon"],
            "invalid timeout",
        ),
        (
            vec!["query", "whoami", "--relay-factor", "9"],
            "relay factor 9",
        ),
    ] {
        let out = agents[0].cli(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = stderr(&out);
        assert!(err.contains(expect), "{expect}: {err}");
    }
    let big_body = format!(r#"{{"name": "whoami", "payload": "{big}"}}"#);
    for (body, expect) in [
        (
            r#"{"name": "whoami", "tags": {"role": "("}}"#,
            "tag filter role=(",
        ),
        (big_body.as_str(), "query too large"),
        (r#"{"name": "whoami", "timeout": "0s"}"#, "query timeout"),
    ] {
        let (status, v) = http(&agents[0].control, "POST", "/v1/query", body).unwrap();
        assert_eq!(status, 400, "{v}");
        let e = v["error"].as_str().unwrap_or("");
        assert!(e.contains(expect), "{expect}: {e}");
    }
    // The handlers ran and none failed.
    for a in &agents {
        let m = a.get("/v1/metrics").unwrap()["event_handlers"].clone();
        assert_eq!(m["failures"], 0, "{}: {m}", a.name);
        assert_eq!(m["timeouts"], 0, "{}: {m}", a.name);
    }

    // Reachability: all ack; then with q5 stopped, q5 alone does not.
    let (status, v) = http(
        &agents[0].control,
        "POST",
        "/v1/reachability",
        r#"{"timeout": "3s"}"#,
    )
    .unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(names(&v["acked"]).len(), 5, "{v}");
    assert!(names(&v["not_acked"]).is_empty(), "{v}");
    agents[4].signal(libc::SIGSTOP);
    let out = agents[0].cli(&["reachability", "--timeout", "3s", "--format", "json"]);
    agents[4].signal(libc::SIGCONT);
    assert!(!out.status.success(), "a member did not ack: exit non-zero");
    let v: Value = serde_json::from_slice(&out.stdout).expect("reachability JSON");
    assert_eq!(names(&v["not_acked"]), vec!["q5".to_string()], "{v}");
    assert_eq!(
        names(&v["acked"]).into_iter().collect::<BTreeSet<_>>(),
        set(&["q1", "q2", "q3", "q4"]),
        "{v}"
    );
    assert!(stderr(&out).contains("did not ack: q5"), "{}", stderr(&out));
    // The queries asked of an agent show in its log (and in `monitor`).
    assert!(
        agents[2].log_text().contains("query asked of this node"),
        "log of q3"
    );
}

/// A cross-site `POST /v1/query` or `/v1/reachability`, one without
/// `Content-Type: application/json` and one to a rebound `Host` are
/// refused like every write, and ask nothing: no handler runs. `swim
/// monitor` shows the queries asked of the agent.
#[test]
fn cross_site_queries_are_refused_and_monitor_shows_queries() {
    let dir = std::env::temp_dir().join(format!("swim-queries-{}-xsite", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let runs = dir.join("runs");
    let handler = format!(
        "query=echo \"$SWIM_QUERY_NAME\" | tee -a {}",
        runs.display()
    );
    let a = Agent::start_with("qx1", "127.0.0.1:0", &[], &["--event-handler", &handler]);
    let c = a.control.as_str();
    let port = c.rsplit(':').next().unwrap();
    for path in ["/v1/query", "/v1/reachability"] {
        let body = r#"{"name": "evil"}"#;
        for (headers, expect) in [
            (
                format!("Host: {c}\r\nOrigin: http://evil.example\r\nSec-Fetch-Site: cross-site\r\nContent-Type: application/json"),
                403,
            ),
            (format!("Host: {c}\r\nContent-Type: text/plain"), 415),
            (
                format!("Host: evil.example:{port}\r\nContent-Type: application/json"),
                403,
            ),
        ] {
            let req = format!(
                "POST {path} HTTP/1.1\r\n{headers}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let addr: SocketAddr = c.parse().unwrap();
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(req.as_bytes()).unwrap();
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            let status: u16 = (resp.split_whitespace().nth(1))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            assert_eq!(status, expect, "{path} {headers}: {resp}");
        }
    }
    let control = a.get("/v1/metrics").unwrap()["control"].clone();
    assert_eq!(control["requests_refused"]["cross_site"], 2, "{control}");
    assert_eq!(control["requests_refused"]["content_type"], 2, "{control}");
    assert_eq!(control["requests_refused"]["host"], 2, "{control}");

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
    // The monitor is subscribed once its stream is open: ask until it
    // shows a query (each a fresh one).
    let mut seen = None;
    wait_for("monitor shows the query", Duration::from_secs(20), || {
        let a = cli_query(&a, &["ok", "hello", "--timeout", "500ms"]);
        assert_eq!(a.responses, vec![("qx1".to_string(), "ok".to_string())]);
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if v["event"] == "query" {
                seen = Some(v);
                return true;
            }
        }
        false
    });
    let _ = monitor.kill();
    let _ = monitor.wait();
    let v = seen.unwrap();
    assert_eq!(v["name"], "ok", "{v}");
    assert_eq!(v["origin"], "qx1", "{v}");
    assert_eq!(v["payload"], "hello", "{v}");
    // Only the queries asked through the CLI ran the handler.
    let text = std::fs::read_to_string(&runs).unwrap_or_default();
    assert!(
        !text.is_empty() && text.lines().all(|l| l == "ok"),
        "{text:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
