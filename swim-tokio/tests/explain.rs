//! `swim explain NAME` and `GET /v1/explain/NAME` on real agents: after a
//! `kill -9`, each survivor shows who accused the member, who confirmed,
//! how long it was suspected, and when and from whom it learned the verdict.

mod common;

use common::{cluster, dead_bound, http, wait_for};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use swim_tokio::swim_core::{suspicion_min_timeout, Config};

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[test]
fn explain_after_kill_9_shows_who_accused_who_confirmed_and_when() {
    let mut agents = cluster("expl", 3);
    let victim = agents.pop().expect("three agents");
    let name = victim.name.clone();
    let killed_at = unix_ms();
    victim.signal(libc::SIGKILL);
    drop(victim);
    wait_for(
        &format!("{name} dead on both survivors"),
        dead_bound(3),
        || {
            agents
                .iter()
                .all(|a| a.status_of(&name).as_deref() == Some("dead"))
        },
    );
    let survivors: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
    let c = Config::local();
    let shortest = suspicion_min_timeout(c.suspicion_mult, 3, c.probe_interval);
    for a in &agents {
        let v = a
            .get(&format!("/v1/explain/{name}"))
            .expect("explain answers");
        assert_eq!(v["member"]["name"], name.as_str(), "{v}");
        assert_eq!(v["member"]["status"], "dead", "{v}");
        assert!(v["suspicion"].is_null(), "{v}");
        let verdict = &v["verdict"];
        let accuser = verdict["accuser"].as_str().expect("an accuser");
        assert!(survivors.contains(&accuser), "accused by {accuser}: {v}");
        // When: after the kill, before now, and said both ways.
        let at = verdict["learned_at_unix_ms"].as_u64().unwrap();
        assert!(
            at + 50 >= killed_at && at <= unix_ms() + 50,
            "{at} vs {killed_at}: {v}"
        );
        assert!(verdict["learned_ms_ago"].as_u64().is_some(), "{v}");
        // From whom: its own verdict, or the other survivor's gossip.
        match verdict["learned_from"].as_str() {
            None => assert_eq!(accuser, a.name, "its own verdict: {v}"),
            Some(from) => {
                assert!(survivors.contains(&from) && from != a.name, "{v}");
            }
        }
        // Evidence: the suspicion ran at least the shortest timeout, and the
        // confirmers are other survivors.
        let e = &verdict["evidence"];
        let ms = e["suspected_ms"].as_u64().expect("evidence came with it");
        assert!(
            Duration::from_millis(ms) >= shortest,
            "{ms} ms < {shortest:?}: {v}"
        );
        assert_eq!(e["accuser_score"].as_u64(), Some(0), "{v}");
        for c in e["confirmers"].as_array().expect("confirmers") {
            let c = c.as_str().unwrap();
            assert!(survivors.contains(&c) && c != accuser, "{c}: {v}");
        }

        // The CLI prints the chain.
        let out = a.cli(&["explain", &name]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.starts_with(&format!("{name} dead since ")), "{text}");
        assert!(
            text.contains(&format!("accused by {accuser} (Lifeguard score 0) after ")),
            "{text}"
        );
        assert!(text.contains(" of suspicion, confirmed by "), "{text}");
        assert!(
            text.contains("learned from ") || text.contains("this agent's own verdict"),
            "{text}"
        );
        eprintln!("{}: {}", a.name, text.trim());
        let out = a.cli(&["explain", &name, "--json"]);
        let json: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
        assert_eq!(json["verdict"]["accuser"], accuser);
    }
    // A live member: no verdict; an unknown one: 404 (and the CLI fails).
    let (first, second) = (&agents[0], &agents[1]);
    let v = first.get(&format!("/v1/explain/{}", second.name)).unwrap();
    assert_eq!(v["member"]["status"], "alive", "{v}");
    assert!(v["verdict"].is_null(), "{v}");
    let (status, body) = http(&first.control, "GET", "/v1/explain/nobody", "").unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(!first.cli(&["explain", "nobody"]).status.success());
    // A GET only: a POST is refused.
    let (status, _) = http(&first.control, "POST", &format!("/v1/explain/{name}"), "{}").unwrap();
    assert_eq!(status, 405);
}
