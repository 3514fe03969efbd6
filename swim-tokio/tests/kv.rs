//! Keys on real agents: tags at start, `swim kv` and the HTTP API, and a
//! restart under the same name with other tags.

mod common;

use common::{cluster, http, wait_for, Agent};
use std::time::Duration;

/// `member`'s keys as `agent` sees them, as `key=value` lines.
fn keys(agent: &Agent, member: &str) -> Vec<String> {
    let out = agent.cli(&["kv", "list", member]);
    if !out.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn keys_spread_are_deleted_and_a_restart_keeps_only_the_new_tags() {
    let mut agents = cluster("kv", 4);
    let seed = agents[0].gossip;
    let tagged = Agent::start_with(
        "kv5",
        "127.0.0.1:0",
        &[seed],
        &["--tag", "role=web", "--tag", "zone=a"],
    );
    let port = tagged.gossip;
    agents.push(tagged);
    wait_for(
        "every agent sees kv5's tags",
        Duration::from_secs(30),
        || {
            agents
                .iter()
                .all(|a| keys(a, "kv5") == ["role=web", "zone=a"])
        },
    );

    // Set through the CLI on one agent, read through HTTP on another.
    let out = agents[0].cli(&["kv", "set", "build", "v1.2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("kv1's key reaches kv4", Duration::from_secs(20), || {
        http(&agents[3].control, "GET", "/v1/kv?member=kv1&prefix=bu", "").is_some_and(|(s, v)| {
            s == 200 && v["keys"][0]["key"] == "build" && v["keys"][0]["value"] == "v1.2"
        })
    });
    let out = agents[3].cli(&["kv", "get", "kv1", "build"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v1.2");
    // An unknown member is named as unknown, not as one without the key.
    let out = agents[3].cli(&["kv", "get", "kv-nosuch", "build"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not know member `kv-nosuch`") && !err.contains("has no key"),
        "{err}"
    );
    let (status, _) = http(&agents[3].control, "GET", "/v1/kv?member=kv-nosuch", "").unwrap();
    assert_eq!(status, 404);
    // Refused writes say why.
    let long = "k".repeat(200);
    let out = agents[0].cli(&["kv", "set", &long, "x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 to 128 bytes"));

    // Delete through HTTP; gone everywhere.
    let (status, v) = http(&agents[0].control, "DELETE", "/v1/kv?key=build", "").expect("delete");
    assert_eq!((status, v["deleted"].as_bool()), (200, Some(true)));
    wait_for(
        "the delete reaches every agent",
        Duration::from_secs(20),
        || agents.iter().all(|a| keys(a, "kv1").is_empty()),
    );

    // The members table shows tags and filters on them (anchored regexes).
    let out = agents[1].cli(&["members", "--tag", "role=web|db"]);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        table.lines().next().is_some_and(|h| h.ends_with("TAGS")),
        "{table}"
    );
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert!(
        rows[0].starts_with("kv5") && rows[0].ends_with("role=web,zone=a"),
        "{table}"
    );
    let out = agents[1].cli(&["members", "--tag", "role=we", "--json"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "[]",
        "anchored: no partial match"
    );
    let out = agents[1].cli(&["members", "--tag", "role=(["]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid --tag role=(["));

    // kv5 dies and comes back under its name with other tags.
    drop(agents.pop());
    let back = Agent::start_with("kv5", &port.to_string(), &[seed], &["--tag", "role=db"]);
    agents.push(back);
    wait_for(
        "every agent sees only kv5's new tags",
        Duration::from_secs(40),
        || agents.iter().all(|a| keys(a, "kv5") == ["role=db"]),
    );
}
