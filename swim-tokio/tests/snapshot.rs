//! The member snapshot (`swim agent --snapshot`) with real agents: a
//! restarted agent rejoins without seeds after kill -9, a damaged snapshot
//! is cut and the agent starts, and a graceful leave keeps the agent out
//! unless `--rejoin`.

mod common;

use common::{spread_bound, wait_for, Agent};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use swim_tokio::snapshot::{self, Record};

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "swim-snapshot-{}-{name}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Starts an agent keeping a snapshot at `path`.
fn start(name: &str, path: &Path, join: &[SocketAddr], extra: &[&str]) -> Agent {
    let mut args = vec!["--snapshot", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    Agent::start_with(name, "127.0.0.1:0", join, &args)
}

/// Whether `agent` holds every one of `names` alive.
fn sees_alive(agent: &Agent, names: &[&str]) -> bool {
    agent.members().is_some_and(|ms| {
        names
            .iter()
            .all(|n| ms.iter().any(|m| m.0 == *n && m.1 == "alive"))
    })
}

/// Whether `agent` holds `name` alive at `addr`.
fn sees_at(agent: &Agent, name: &str, addr: SocketAddr) -> bool {
    agent.get("/v1/members").is_some_and(|v| {
        v.as_array().is_some_and(|ms| {
            ms.iter().any(|m| {
                m["name"] == name && m["status"] == "alive" && m["addr"] == addr.to_string()
            })
        })
    })
}

/// Waits until the snapshot at `path` records every one of `names`.
fn wait_recorded(path: &Path, names: &[&str]) {
    wait_for("the snapshot records the members", spread_bound(), || {
        snapshot::load(path, false).is_ok_and(|l| names.iter().all(|n| l.members.contains_key(*n)))
    });
}

#[test]
fn kill_9_then_restart_rejoins_without_seeds() {
    let dir = temp_dir("kill9");
    let path = dir.join("members.snapshot");
    let a = Agent::start("snap-a", &[]);
    let b = Agent::start("snap-b", &[a.gossip]);
    let mut c = start("snap-c", &path, &[a.gossip], &[]);
    wait_for("three agents converge", spread_bound(), || {
        [&a, &b, &c]
            .iter()
            .all(|x| sees_alive(x, &["snap-a", "snap-b", "snap-c"]))
    });
    wait_recorded(&path, &["snap-a", "snap-b"]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("snap-c"), "its own name is not recorded");

    // kill -9: no leave, nothing flushed beyond what was written.
    c.child.kill().unwrap();
    c.child.wait().unwrap();
    drop(c);
    let c = start("snap-c", &path, &[], &[]);
    let took = wait_for(
        "the restarted agent sees the others, and they see it",
        spread_bound(),
        || {
            sees_alive(&c, &["snap-a", "snap-b"])
                && sees_at(&a, "snap-c", c.gossip)
                && sees_at(&b, "snap-c", c.gossip)
        },
    );
    eprintln!("rejoined from the snapshot in {took:?}");
    assert!(c.log_text().contains("snapshot: rejoining"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An agent killed with -9 and restarted on its snapshot resumes its
/// user-event floor: the events it delivered before are not delivered
/// again (its handler ran once for each), a new one is, and its first
/// query after the restart is answered by every member.
#[test]
fn a_restarted_agent_resumes_its_event_floor_and_is_answered() {
    let dir = temp_dir("events");
    let path = dir.join("members.snapshot");
    let out = dir.join("events.out");
    let handler = format!("user=echo \"$SWIM_USER_EVENT\" >> {}", out.display());
    let extra = ["--event-handler", handler.as_str()];
    let a = Agent::start("snapev-a", &[]);
    let b = Agent::start("snapev-b", &[a.gossip]);
    let mut c = start("snapev-c", &path, &[a.gossip], &extra);
    let names = ["snapev-a", "snapev-b", "snapev-c"];
    wait_for("three agents converge", spread_bound(), || {
        [&a, &b, &c].iter().all(|x| sees_alive(x, &names))
    });
    let fired = a.cli(&["event", "deploy", "v1"]);
    assert!(fired.status.success(), "{fired:?}");
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    wait_for("c's handler ran", spread_bound(), || read() == "deploy\n");
    wait_for(
        "the snapshot records the event floor",
        spread_bound(),
        || snapshot::load(&path, false).is_ok_and(|l| l.event_floor >= 1),
    );

    c.child.kill().unwrap();
    c.child.wait().unwrap();
    drop(c);
    let c = start("snapev-c", &path, &[a.gossip], &extra);
    wait_for("the restarted agent rejoined", spread_bound(), || {
        sees_alive(&c, &names[..2]) && sees_at(&a, "snapev-c", c.gossip)
    });
    assert!(c
        .log_text()
        .contains("snapshot: resuming the user-event floor"));
    let fired = b.cli(&["event", "after", "v2"]);
    assert!(fired.status.success(), "{fired:?}");
    wait_for("the new event ran c's handler", spread_bound(), || {
        read().contains("after")
    });
    // The earlier event travels in every full-state exchange (the last
    // 64): a window for a redelivery to show, not a synchronisation.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(read(), "deploy\nafter\n", "each event ran c's handler once");
    let reach = c.cli(&["reachability"]);
    assert!(
        reach.status.success(),
        "the restarted agent's first query is answered by all: {reach:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A small xorshift, seeded from the clock (printed, to replay a failure).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn a_damaged_snapshot_is_cut_and_the_agent_rejoins() {
    let dir = temp_dir("damaged");
    let a = Agent::start("dmg-a", &[]);
    let b = Agent::start("dmg-b", &[a.gossip]);
    wait_for("two agents converge", spread_bound(), || {
        sees_alive(&a, &["dmg-b"]) && sees_alive(&b, &["dmg-a"])
    });
    // The real member first, then records of members that are gone.
    let records = [
        Record::Alive {
            name: "dmg-a".into(),
            addr: a.gossip,
        },
        Record::Alive {
            name: "old-1".into(),
            addr: "127.0.0.1:9".parse().unwrap(),
        },
        Record::Gone {
            name: "old-1".into(),
        },
        Record::Alive {
            name: "old-2".into(),
            addr: "127.0.0.1:9".parse().unwrap(),
        },
        Record::Alive {
            name: "dmg-b".into(),
            addr: b.gossip,
        },
    ];
    let whole: Vec<u8> = records.iter().flat_map(Record::encode).collect();
    let first = records[0].encode().len();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("truncation seed {seed}");
    let mut rng = Rng(seed);
    let ends: Vec<usize> = records
        .iter()
        .scan(0, |n, r| {
            *n += r.encode().len();
            Some(*n)
        })
        .collect();
    // (what, bytes, where the cut is expected)
    let mut cases: Vec<(String, Vec<u8>, usize)> = (0..3)
        .map(|_| {
            // Past the first record's end, and not on a record boundary.
            let at = loop {
                let at = first + 1 + rng.below(whole.len() - first - 1);
                if !ends.contains(&at) {
                    break at;
                }
            };
            let good = ends.iter().copied().filter(|&e| e <= at).max().unwrap();
            (format!("truncated at {at}"), whole[..at].to_vec(), good)
        })
        .collect();
    let mut garbage = whole[..first].to_vec();
    garbage.extend_from_slice(b"\x00\xffnot a record\x07\n");
    garbage.extend_from_slice(&whole[first..]);
    cases.push(("garbage after the first record".into(), garbage, first));

    for (i, (what, bytes, good)) in cases.into_iter().enumerate() {
        let path = dir.join(format!("case-{i}.snapshot"));
        std::fs::write(&path, &bytes).unwrap();
        let c = start(&format!("dmg-c{i}"), &path, &[], &[]);
        wait_for(
            &format!("{what}: the agent rejoins"),
            spread_bound(),
            || sees_alive(&c, &["dmg-a"]),
        );
        let log = c.log_text();
        assert!(
            log.contains("snapshot damaged")
                && log.contains(&format!(
                    "cut {} bytes at offset {good}",
                    bytes.len() - good
                )),
            "{what}: {log}"
        );
        // The compaction at start left a clean file.
        let clean = snapshot::load(&path, false).unwrap();
        assert_eq!(clean.cut, None, "{what}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn after_a_graceful_leave_the_snapshot_is_used_only_with_rejoin() {
    let dir = temp_dir("leave");
    let path = dir.join("members.snapshot");
    let a = Agent::start("lv-a", &[]);
    let b = start("lv-b", &path, &[a.gossip], &[]);
    wait_for("b joins", spread_bound(), || sees_alive(&b, &["lv-a"]));
    wait_recorded(&path, &["lv-a"]);

    // Leave gracefully: with --rejoin the snapshot is used all the same.
    let out = b.cli(&["leave"]);
    assert!(out.status.success(), "{out:?}");
    wait_for("a sees b left", spread_bound(), || {
        a.status_of("lv-b").as_deref() == Some("left")
    });
    drop(b);
    assert!(snapshot::load(&path, false).unwrap().left);
    let b = start("lv-b", &path, &[], &["--rejoin"]);
    wait_for(
        "with --rejoin, b rejoins after its leave",
        spread_bound(),
        || sees_alive(&b, &["lv-a"]) && sees_at(&a, "lv-b", b.gossip),
    );

    // Leave again; without --rejoin the restarted agent stays alone.
    let out = b.cli(&["leave"]);
    assert!(out.status.success(), "{out:?}");
    wait_for("a sees b left again", spread_bound(), || {
        a.status_of("lv-b").as_deref() == Some("left")
    });
    drop(b);
    let b = start("lv-b", &path, &[], &[]);
    wait_for("the start is logged", Duration::from_secs(5), || {
        b.log_text().contains("not rejoining the")
    });
    assert!(!b.log_text().contains("snapshot: rejoining"));
    // The hint says what happens: the members are not rejoined but kept
    // until a start that rejoins.
    assert!(
        b.log_text()
            .contains("not rejoining the 1 member(s) recorded before the leave")
            && b.log_text().contains("start with --rejoin to rejoin them"),
        "{}",
        b.log_text()
    );
    assert_eq!(
        b.members().unwrap().len(),
        1,
        "alone: no join was attempted"
    );
    assert!(snapshot::load(&path, false).unwrap().members.is_empty());
    assert!(snapshot::load(&path, true)
        .unwrap()
        .members
        .contains_key("lv-a"));

    // ... so a later start with --rejoin does rejoin them (it rejoined
    // nobody when the lone start emptied the snapshot).
    drop(b);
    let b = start("lv-b", &path, &[], &["--rejoin"]);
    wait_for(
        "a --rejoin start after a lone start rejoins the members kept",
        spread_bound(),
        || sees_alive(&b, &["lv-a"]) && sees_at(&a, "lv-b", b.gossip),
    );
    drop(b);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A join from the snapshot alone makes one pass (as Serf's): when none of
/// the recorded members answers, the agent says so, stops retrying and runs
/// alone, and a member that joins it later is taken in.
#[test]
fn a_snapshot_join_that_reaches_nobody_gives_up_after_one_pass() {
    let dir = temp_dir("alone");
    let path = dir.join("members.snapshot");
    let mut a = Agent::start("snap-gone", &[]);
    let mut b = start("snap-alone", &path, &[a.gossip], &[]);
    wait_for("two agents converge", spread_bound(), || {
        sees_alive(&b, &["snap-gone"])
    });
    wait_recorded(&path, &["snap-gone"]);
    for x in [&mut a, &mut b] {
        x.child.kill().unwrap();
        x.child.wait().unwrap();
    }
    drop(b);
    let mut b = start("snap-alone", &path, &[], &[]);
    wait_for(
        "the snapshot join gives up",
        Duration::from_secs(20),
        || b.log_text().contains("no member it records answered"),
    );
    assert!(
        b.child.try_wait().unwrap().is_none(),
        "the agent still runs"
    );
    let c = Agent::start("snap-new", &[b.gossip]);
    wait_for("a new member joins the lone agent", spread_bound(), || {
        sees_alive(&b, &["snap-new"]) && sees_alive(&c, &["snap-alone"])
    });
    // Retries back off from `join_retry_min` (500 ms, doubling): a join
    // that kept going would have retried twice more within 3 s of the start.
    wait_for("the agent has run 3 s", Duration::from_secs(10), || {
        b.get("/v1/info")
            .is_some_and(|v| v["uptime_seconds"].as_u64() >= Some(3))
    });
    assert_eq!(
        b.log_text().matches("the join is cancelled").count(),
        1,
        "one pass, no retry after it"
    );
    assert!(
        !b.log_text().contains("retrying the join"),
        "the log says no retry that does not happen"
    );
    drop(a);
    std::fs::remove_dir_all(&dir).unwrap();
}
