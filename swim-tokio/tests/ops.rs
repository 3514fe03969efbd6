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
