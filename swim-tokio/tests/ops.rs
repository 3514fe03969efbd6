//! The agent as operators run it: signals, joins that fail, metrics,
//! force-leave; each against real `swim agent` processes.

mod common;

use common::{spread_bound, wait_for, Agent};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("swim-ops-{}-{name}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// `member`'s tags as `agent` holds them.
fn tags_seen(agent: &Agent, member: &str) -> Option<Value> {
    let v = agent.get("/v1/members")?;
    v.as_array()?
        .iter()
        .find(|m| m["name"] == member)
        .map(|m| m["tags"].clone())
}

/// SIGHUP re-reads the config file: a changed tag is set, a removed tag is
/// deleted, a key set at run time is left alone, and the agent neither
/// leaves nor exits; a file that no longer parses changes nothing.
#[test]
fn sighup_reloads_tags_and_survives_a_broken_file() {
    let dir = temp_dir("hup");
    let file = dir.join("agent.toml");
    std::fs::write(&file, "tags = { role = \"web\", rack = \"r1\" }\n").unwrap();
    let conf = file.to_str().unwrap();
    let a = Agent::start_with("hup1", "127.0.0.1:0", &[], &["--config", conf]);
    let b = Agent::start("hup2", &[a.gossip]);
    let out = a.cli(&["kv", "set", "extra", "kept"]);
    assert!(out.status.success(), "{out:?}");
    wait_for("b sees a's tags and key", spread_bound(), || {
        tags_seen(&b, "hup1")
            .is_some_and(|t| t["role"] == "web" && t["rack"] == "r1" && t["extra"] == "kept")
    });

    // Change one tag, drop another, and a key that needs a restart.
    std::fs::write(
        &file,
        "bind = \"127.0.0.1:1\"\nlog = \"debug\"\ntags = { role = \"db\" }\n",
    )
    .unwrap();
    a.signal(libc::SIGHUP);
    wait_for(
        "b sees the new tag and the old one gone",
        spread_bound(),
        || {
            tags_seen(&b, "hup1").is_some_and(|t| {
                t["role"] == "db" && t.get("rack").is_none() && t["extra"] == "kept"
            })
        },
    );
    wait_for("the reload is logged", Duration::from_secs(5), || {
        let log = a.log_text();
        log.contains("tags set: role=db; tags deleted: rack")
            && log.contains("bind changed in")
            && log.contains("log filter unchanged (--log or $SWIM_LOG wins")
    });
    assert_eq!(b.status_of("hup1").as_deref(), Some("alive"));
    assert!(!a.log_text().contains("leaving the cluster"));

    // A broken file: reported, nothing changes, the agent runs on.
    std::fs::write(&file, "tags = { role = \n").unwrap();
    a.signal(libc::SIGHUP);
    wait_for(
        "the broken file is reported",
        Duration::from_secs(5),
        || {
            a.log_text()
                .contains("nothing changed, the agent keeps its running config")
        },
    );
    let mut a = a;
    assert!(a.child.try_wait().unwrap().is_none(), "a is still running");
    assert_eq!(
        a.get("/v1/agent").map(|v| v["name"].clone()),
        Some(Value::from("hup1"))
    );
    assert_eq!(tags_seen(&a, "hup1").unwrap()["role"], "db");
    assert_eq!(b.status_of("hup1").as_deref(), Some("alive"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A loopback address where nothing listens (bound, then released).
fn dead_addr() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `swim join` waits for the outcome: a seed that refuses fails at once,
/// one that never answers fails when the wait runs out, both non-zero with
/// the reason, and the agent stops retrying.
#[test]
fn swim_join_fails_nonzero_when_no_seed_answers() {
    let a = Agent::start("jf1", &[]);
    let dead = dead_addr().to_string();
    let start = std::time::Instant::now();
    let out = a.cli(&["join", &dead, "--wait", "10s"]);
    let took = start.elapsed();
    assert!(!out.status.success(), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains("no seed answered the join") && err.contains(&dead),
        "{err}"
    );
    assert!(err.contains("the join is cancelled"), "{err}");
    assert!(
        took < Duration::from_secs(8),
        "a refusal fails at once: {took:?}"
    );

    // A seed that accepts the connection and never answers: the wait runs out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_addr = silent.local_addr().unwrap().to_string();
    let start = std::time::Instant::now();
    let out = a.cli(&["join", &silent_addr, "--wait", "2s"]);
    let took = start.elapsed();
    assert!(!out.status.success(), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("within 2s") && err.contains("504"), "{err}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "{took:?}"
    );

    // The API without a wait keeps the old answer; a bad wait is refused.
    let body = format!("{{\"seeds\": [\"{dead}\"], \"wait\": \"forever\"}}");
    let (status, v) = common::http(&a.control, "POST", "/v1/join", &body).unwrap();
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().starts_with("wait:"), "{v}");
    let out = a.cli(&["join", &dead, "--wait", "6m"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("at most 5m"), "{}", stderr(&out));
    // The agent is fine and alone.
    assert_eq!(a.members().map(|m| m.len()), Some(1));
    drop(silent);
}

/// `swim agent --join DEAD --retry-max 2` gives up after two attempts and
/// exits non-zero, saying why.
#[test]
fn an_agent_whose_join_fails_retry_max_times_exits_nonzero() {
    let dead = dead_addr();
    let mut a = Agent::start_with("rm1", "127.0.0.1:0", &[dead], &["--retry-max", "2"]);
    let mut status = None;
    wait_for("the agent exits", Duration::from_secs(15), || {
        status = a.child.try_wait().unwrap();
        status.is_some()
    });
    let status = status.unwrap();
    assert!(!status.success(), "{status:?}");
    let log = a.log_text();
    assert!(
        log.contains("no seed answered the join in 2 attempts") && log.contains(&dead.to_string()),
        "{log}"
    );
    assert_eq!(log.matches("retrying the join").count(), 1, "{log}");

    // Without --retry-max it keeps trying (and runs on) past that point.
    let b = Agent::start_with(
        "rm2",
        "127.0.0.1:0",
        &[dead],
        &["--retry-interval", "200ms"],
    );
    wait_for("b has retried three times", Duration::from_secs(15), || {
        b.log_text().matches("retrying the join").count() >= 3
    });
    let mut b = b;
    assert!(b.child.try_wait().unwrap().is_none(), "b still runs");
}

/// The value of one sample of a scrape (labels given as pairs).
fn sample(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .unwrap_or_else(|| panic!("no sample {metric} {labels:?}"));
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{metric}: {other:?}"),
    }
}

/// The head and body of a plain GET.
fn get_text(control: &str, path: &str) -> (String, String) {
    get_as(control, path, control)
}

/// A plain GET with the given `Host`.
fn get_as(control: &str, path: &str, host: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(control).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").expect("a response");
    (head.to_string(), body.to_string())
}

/// `GET /metrics` parses as Prometheus text and agrees with `/v1/metrics`:
/// exact on values that hold still, between two JSON reads on the ones
/// that grow; `/v1/info` and `swim info` tell the members and counters.
#[test]
fn prometheus_metrics_agree_with_the_json_and_info_tells_the_basics() {
    let agents = common::cluster("pm", 2);
    let a = &agents[0];
    // Three garbage datagrams: dropped as malformed, a count that holds still.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..3 {
        udp.send_to(b"garbage", a.gossip).unwrap();
    }
    wait_for(
        "the garbage is counted, and pings sent",
        Duration::from_secs(10),
        || {
            a.get("/v1/metrics").is_some_and(|v| {
                v["dropped"]["malformed"].as_u64() == Some(3)
                    && v["sent"]["ping"]["packets"].as_u64() > Some(0)
            })
        },
    );
    let before = a.get("/v1/metrics").unwrap();
    let (head, text) = get_text(&a.control, "/metrics");
    let after = a.get("/v1/metrics").unwrap();
    assert!(head.contains("application/openmetrics-text"), "{head}");
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parse");
    assert_eq!(
        sample(&scrape, "swim_dropped_total", &[("reason", "malformed")]),
        3.0
    );
    assert_eq!(sample(&scrape, "swim_members", &[("status", "alive")]), 2.0);
    assert_eq!(sample(&scrape, "swim_members", &[("status", "dead")]), 0.0);
    for (metric, labels, json) in [
        ("swim_probes_total", vec![], &["probes"][..]),
        (
            "swim_sent_packets_total",
            vec![("kind", "ping")],
            &["sent", "ping", "packets"],
        ),
        (
            "swim_received_bytes_total",
            vec![("kind", "ack")],
            &["received", "ack", "bytes"],
        ),
        ("swim_push_pulls_total", vec![], &["push_pulls"]),
        (
            "swim_driver_streams_in_total",
            vec![],
            &["driver", "streams_in"],
        ),
    ] {
        let at = |v: &Value| json.iter().fold(v, |v, k| &v[*k]).as_f64().unwrap();
        let got = sample(&scrape, metric, &labels);
        assert!(
            at(&before) <= got && got <= at(&after),
            "{metric}: {} <= {got} <= {}",
            at(&before),
            at(&after)
        );
    }
    assert!(sample(&scrape, "swim_sent_packets_total", &[("kind", "ping")]) > 0.0);
    assert!(
        text.contains("# TYPE swim_stream_duration_seconds histogram"),
        "{text}"
    );
    assert!(text.contains("# TYPE swim_suspicion_to_dead_seconds histogram"));
    // Probe round trips: the core's buckets, as a histogram in seconds.
    assert!(
        text.contains("# TYPE swim_probe_rtt_seconds histogram"),
        "{text}"
    );
    let rtt = scrape
        .samples
        .iter()
        .find(|s| s.metric == "swim_probe_rtt_seconds")
        .expect("probe round trips");
    match &rtt.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let all = buckets.last().expect("buckets").count;
            let json = before["probe_rtt"]["count"].as_f64().unwrap();
            assert!(all >= json && all > 0.0, "{all} round trips, {json} before");
        }
        other => panic!("probe round trips: {other:?}"),
    }

    let info = a.get("/v1/info").unwrap();
    assert_eq!(info["name"], "pm1");
    assert_eq!(info["members"]["alive"], 2);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["counters"]["dropped"], 3);
    let out = a.cli(&["info"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2 alive, 0 suspect, 0 dead, 0 left"),
        "{text}"
    );
    // The hardening holds for the new endpoints: a foreign Host is refused.
    for path in ["/metrics", "/v1/info"] {
        let (head, _) = get_as(&a.control, path, "evil.example");
        assert!(head.starts_with("HTTP/1.1 403"), "{path}: {head}");
    }
}

/// `swim force-leave NAME`: a member killed for good, once held dead,
/// becomes left on every agent; a living member cannot be forced out.
#[test]
fn force_leave_turns_a_failed_member_left_everywhere() {
    let a = Agent::start("fl1", &[]);
    let b = Agent::start("fl2", &[a.gossip]);
    let mut c = Agent::start("fl3", &[a.gossip]);
    wait_for("three agents", Duration::from_secs(20), || {
        [&a, &b, &c]
            .iter()
            .all(|x| x.members().is_some_and(|m| m.len() == 3))
    });
    let out = a.cli(&["force-leave", "fl2"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fl2") && err.contains("alive"), "{err}");
    c.signal(libc::SIGKILL);
    let _ = c.child.wait();
    wait_for("fl3 held dead", Duration::from_secs(30), || {
        a.status_of("fl3").as_deref() == Some("dead")
    });
    let out = a.cli(&["force-leave", "fl3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("fl3 left on both agents", spread_bound(), || {
        a.status_of("fl3").as_deref() == Some("left")
            && b.status_of("fl3").as_deref() == Some("left")
    });
    let out = a.cli(&["force-leave", "nobody"]);
    assert!(!out.status.success());
}
