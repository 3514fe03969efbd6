//! Review 21: the operator view (members table, monitor lines, log
//! sentences, Prometheus help, `kv` 404s, `--print-config`) and the
//! snapshot's kept-members rule, attacked from the network, by an insider,
//! by restarts and by a careless operator.
//!
//! `finding_*` tests fail on the reviewed code (each one a defect);
//! `holds_*` tests pass (an attack the code withstood).

mod common;

use common::{http, spread_bound, wait_for, Agent, SWIM};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use swim_tokio::snapshot::{self, Record};

fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "swim-review21-{}-{name}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn set_key(a: &Agent, key: &str, value: &str) {
    let body = json!({ "key": key, "value": value }).to_string();
    let r = http(&a.control, "POST", "/v1/kv", &body);
    assert!(
        matches!(r, Some((200, _))),
        "setting key {key:?} on {}: {r:?}",
        a.name
    );
}

/// Two agents, b joined to a, both seeing each other alive.
fn pair(prefix: &str, extra_b: &[&str]) -> (Agent, Agent) {
    let a = Agent::start(&format!("{prefix}a"), &[]);
    let b = Agent::start_with(&format!("{prefix}b"), "127.0.0.1:0", &[a.gossip], extra_b);
    wait_for("a and b see each other", spread_bound(), || {
        [&a, &b]
            .iter()
            .all(|x| x.members().is_some_and(|m| m.len() == 2))
    });
    (a, b)
}

/// `swim monitor` (human lines) against `control`, its stdout lines
/// collected as they come; returns once the agent has subscribed it.
fn human_monitor(control: &str) -> (std::process::Child, Arc<Mutex<Vec<String>>>) {
    let mut child = Command::new(SWIM)
        .args(["monitor", "--control", control])
        .env_remove("SWIM_CONTROL_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn monitor");
    let mut connected = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut connected)
        .expect("monitor stderr");
    assert!(connected.contains("monitoring"), "{connected}");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let out = lines.clone();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            out.lock().unwrap().push(line);
        }
    });
    (child, lines)
}

// ---- (a)/(b) forged operator output --------------------------------------

/// A member's tag (any key it sets; an insider with the cluster key, or
/// anyone on a cluster without one, gossips it) with a newline and an ANSI
/// escape in its value: `swim members` prints it raw, so the table gets a
/// forged row and the terminal takes the escape. The new bounded TAGS
/// summary caps the width but does not escape.
#[test]
fn finding_members_table_prints_tag_values_raw() {
    let a = Agent::start("r21tags", &[]);
    set_key(
        &a,
        "role",
        "web\nr21forged  10.9.9.9:7946  alive    1            \u{1b}[2Jrole=db",
    );
    let out = a.cli(&["members"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() == 2 && !text.contains('\u{1b}'),
        "one member, but the table has {} lines (a forged row) and escape bytes {}:\n{text}",
        lines.len(),
        text.contains('\u{1b}')
    );
}

/// A key write heard from another member reaches `swim monitor` as a
/// `key-set` line whose key and value are printed raw (only `payload`
/// is quoted): a value holding a newline and an RFC 3339 time forges a
/// whole monitor line, indistinguishable from a real `member-failed`.
#[test]
fn finding_monitor_prints_key_values_raw_and_forges_lines() {
    let (a, b) = pair("r21mon", &[]);
    let (mut monitor, lines) = human_monitor(&b.control);
    let forged = "2026-01-01T00:00:00.000Z member-failed    r21victim 10.9.9.9:7946 dead incarnation=9 accuser=r21mona";
    set_key(&a, "note", &format!("x\n{forged}"));
    let seen = |lines: &Arc<Mutex<Vec<String>>>| {
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("key-set") && l.contains("note"))
    };
    wait_for("b's monitor shows a's key-set", spread_bound(), || {
        seen(&lines)
    });
    // The rest of the event's text arrives with it (one write per line).
    std::thread::sleep(Duration::from_millis(200));
    let _ = monitor.kill();
    let _ = monitor.wait();
    let all = lines.lock().unwrap().clone();
    eprintln!("monitor lines:\n{}", all.join("\n"));
    assert!(
        !all.iter().any(|l| l.starts_with(forged)),
        "a peer's key value forged a monitor line:\n{}",
        all.join("\n")
    );
}

/// Log sentences (new in this change) put a peer's key name inside the
/// message unescaped; the previous structured field `key` was printed with
/// `Debug` (quoted, `\n` escaped). At `--log debug` a peer's key name with
/// a newline starts a log line of its own choosing.
#[test]
fn finding_log_sentence_embeds_peer_key_names_raw() {
    let (a, b) = pair("r21log", &["--log", "debug"]);
    let forged =
        "R21FORGED 2026-01-01T00:00:00.000000Z  WARN swim_tokio::driver: member failed: r21victim";
    set_key(&a, &format!("k\n{forged}"), "v");
    wait_for("b holds a's key", spread_bound(), || {
        b.get("/v1/kv?member=r21loga")
            .is_some_and(|v| v["keys"].as_array().is_some_and(|k| !k.is_empty()))
    });
    wait_for("b logged the key write", Duration::from_secs(5), || {
        b.log_text().contains("set key `k")
    });
    let log = b.log_text();
    let forged_lines: Vec<&str> = log.lines().filter(|l| l.starts_with("R21FORGED")).collect();
    assert!(
        forged_lines.is_empty(),
        "a peer's key name started a line of b's log: {forged_lines:?}"
    );
}

/// A hostile tag set cannot blow up the TAGS column: 60 keys of 200-byte
/// values (an insider's full namespace) are summed up within 80
/// characters on the row.
#[test]
fn holds_members_table_tags_column_is_bounded() {
    let a = Agent::start("r21many", &[]);
    for i in 0..60 {
        set_key(&a, &format!("k{i:02}"), &"v".repeat(200));
    }
    let out = a.cli(&["members"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let row = text.lines().nth(1).expect("a row");
    let tags = row.split("  ").last().unwrap();
    assert!(
        tags.chars().count() <= 80,
        "{} chars: {row}",
        tags.chars().count()
    );
    assert!(tags.ends_with("+60 more"), "{tags}");
    assert!(text.lines().count() == 2, "{text}");
}

// ---- Prometheus exposition --------------------------------------------------

fn raw_get(control: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(control).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {control}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

/// `/metrics` stays a valid OpenMetrics exposition with the new help
/// strings: every HELP text uses only OpenMetrics' escaped-string (no raw
/// `"`, a backslash only as `\\`, `\n` or `\"`), every family has one HELP
/// and one TYPE, label values are from a fixed set, and the text ends with
/// `# EOF`, even after hostile traffic and key writes with odd names.
#[test]
fn holds_prometheus_text_is_valid_openmetrics() {
    let (a, b) = pair("r21prom", &[]);
    set_key(&a, "we\"ird\\key\nname", "va\"l\\ue\n");
    // Some garbage datagrams at b, counted as dropped.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for junk in [
        &b"\x1b[2J\n# HELP swim_x evil\n"[..],
        b"\xff\xfe{\"}",
        b"swim_fake_total 1\n",
    ] {
        sock.send_to(junk, b.gossip).unwrap();
    }
    wait_for("b holds a's key", spread_bound(), || {
        b.get("/v1/kv?member=r21proma")
            .is_some_and(|v| v["keys"].as_array().is_some_and(|k| !k.is_empty()))
    });
    let (head, body) = raw_get(&b.control, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(
        body.ends_with("# EOF\n"),
        "{}",
        &body[body.len().saturating_sub(80)..]
    );
    let mut helps = std::collections::BTreeMap::new();
    let mut types = std::collections::BTreeMap::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect(line);
            let mut chars = help.chars();
            while let Some(c) = chars.next() {
                assert!(c != '"' && c != '\n', "raw {c:?} in HELP: {line}");
                if c == '\\' {
                    assert!(
                        matches!(chars.next(), Some('\\' | 'n' | '"')),
                        "bad escape in HELP: {line}"
                    );
                }
            }
            assert!(
                helps.insert(name.to_string(), help.to_string()).is_none(),
                "{line}"
            );
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, _) = rest.split_once(' ').expect(line);
            assert!(types.insert(name.to_string(), ()).is_none(), "{line}");
        } else if line.starts_with("# UNIT ") {
            // OpenMetrics' unit line: name and unit, no free text.
            assert_eq!(line.split(' ').count(), 4, "{line}");
        } else if line != "# EOF" {
            assert!(!line.starts_with('#'), "unexpected comment: {line}");
            let name_end = line.find(['{', ' ']).expect(line);
            let name = &line[..name_end];
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "{line}"
            );
            assert!(!line.contains("fake") && !line.contains("evil"), "{line}");
        }
    }
    assert_eq!(
        helps.keys().collect::<Vec<_>>(),
        types.keys().collect::<Vec<_>>()
    );
    assert!(helps.len() > 70);
}

// ---- kv 404 and --print-config ------------------------------------------------

/// `kv` of an unknown member is a 404 in JSON naming it, whatever bytes the
/// name has (escaped as JSON, never raw); a known member with no keys is
/// still a 200 with an empty list; the error is one line for the CLI.
#[test]
fn holds_kv_of_an_unknown_member_is_a_json_404() {
    let (a, _b) = pair("r21kv", &[]);
    let (head, body) = raw_get(&a.control, "/v1/kv?member=gh%0Aost%1B%5B2J");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}\n{body}");
    let v: Value = serde_json::from_str(body.trim()).expect(&body);
    let err = v["error"].as_str().expect(&body);
    assert!(err.contains("gh\nost\u{1b}[2J"), "{err}");
    assert!(
        !body.trim().contains('\n') && !body.contains('\u{1b}'),
        "{body:?}"
    );
    let known = a.get("/v1/kv?member=r21kvb").expect("known member: 200");
    assert_eq!(known["keys"], json!([]), "{known}");
    let out = a.cli(&["kv", "list", "r21kvnobody"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("r21kvnobody"), "{err}");
}

/// `--print-config` never shows the control token (from the environment,
/// a token file, or both: the flag wins, as in the agent), and reports a
/// flag that overrides an environment variable as the flag.
#[test]
fn holds_print_config_never_shows_the_token() {
    let dir = temp_dir("printcfg");
    let token_file = dir.join("token");
    std::fs::write(&token_file, "r21-file-secret-0123456789abcdef\n").unwrap();
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(SWIM);
        cmd.args(["agent", "--name", "r21cfg", "--print-config"])
            .args(extra)
            .env_remove("SWIM_CONTROL_TOKEN")
            .env_remove("SWIM_LOG")
            .env_remove("RUST_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let env_secret = "r21-env-secret-fedcba9876543210";
    let (ok, text) = run(&[], &[("SWIM_CONTROL_TOKEN", env_secret)]);
    assert!(ok, "{text}");
    assert!(!text.contains(env_secret), "{text}");
    assert!(text.contains("$SWIM_CONTROL_TOKEN"), "{text}");
    let tf = token_file.display().to_string();
    let (ok, text) = run(
        &["--control-token-file", &tf, "--log", "warn"],
        &[("SWIM_CONTROL_TOKEN", env_secret), ("SWIM_LOG", "debug")],
    );
    assert!(ok, "{text}");
    assert!(
        !text.contains(env_secret) && !text.contains("r21-file-secret"),
        "{text}"
    );
    let token_line = text
        .lines()
        .find(|l| l.starts_with("control_token"))
        .expect(&text);
    assert!(
        token_line.contains(&tf) && token_line.ends_with("# flag"),
        "{token_line}"
    );
    let log_line = text.lines().find(|l| l.starts_with("log =")).expect(&text);
    assert!(
        log_line.contains("\"warn\"") && log_line.ends_with("# flag"),
        "{log_line}"
    );
    // An unknown flag is refused, not ignored.
    let (ok, text) = run(&["--no-such-flag"], &[]);
    assert!(!ok, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- (c) snapshot after a leave -----------------------------------------------

fn write_records(path: &Path, records: &[Record]) {
    let mut bytes = Vec::new();
    for r in records {
        bytes.extend(r.encode());
    }
    std::fs::write(path, bytes).unwrap();
}

fn alive(name: &str, port: u16) -> Record {
    Record::Alive {
        name: name.into(),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

fn start_on(name: &str, path: &Path, extra: &[&str]) -> Agent {
    let mut args = vec!["--snapshot", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    Agent::start_with(name, "127.0.0.1:0", &[], &args)
}

/// Many lone starts after a leave (no --rejoin), each killed with -9: the
/// snapshot keeps the members recorded before the leave and does not grow
/// from start to start; a member recorded gone after the leave (met again
/// in a lone life, then left) is not among them, and the start with
/// --rejoin rejoins exactly the kept ones and forgets the leave.
#[test]
fn holds_lone_starts_keep_the_snapshot_bounded_and_skip_gone_members() {
    let dir = temp_dir("lone");
    let path = dir.join("members.snapshot");
    write_records(
        &path,
        &[
            Record::Events { floor: 3 },
            alive("r21ka", 1),
            alive("r21kb", 2),
            alive("r21kc", 3),
            Record::Leave,
            // A lone life met kc again, then heard it leave.
            alive("r21kc", 3),
            Record::Gone {
                name: "r21kc".into(),
            },
        ],
    );
    let mut sizes = Vec::new();
    for _ in 0..4 {
        let a = start_on("r21lone", &path, &[]);
        wait_for("the agent answers", Duration::from_secs(10), || {
            a.get("/v1/info").is_some()
        });
        drop(a); // kill -9
        sizes.push(std::fs::metadata(&path).unwrap().len());
        let l = snapshot::load(&path, false).unwrap();
        assert!(l.members.is_empty() && l.cut.is_none(), "{l:?}");
    }
    assert!(sizes.windows(2).all(|w| w[0] == w[1]), "sizes {sizes:?}");
    let kept = snapshot::load(&path, true).unwrap();
    assert_eq!(
        kept.members.keys().collect::<Vec<_>>(),
        ["r21ka", "r21kb"],
        "{kept:?}"
    );
    assert_eq!(kept.event_floor, 3);
    let a = start_on("r21lone", &path, &["--rejoin"]);
    wait_for(
        "the rejoin start logs its seeds",
        Duration::from_secs(10),
        || a.log_text().contains("snapshot: rejoining"),
    );
    let log = a.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("snapshot: rejoining"))
        .unwrap();
    assert!(line.contains("rejoining=2"), "{line}");
    drop(a);
    let after = snapshot::load(&path, false).unwrap();
    assert!(!after.left, "{after:?}");
}

/// A lone start after a leave, then a life that met a member and was
/// killed (no leave): the next start without --rejoin rejoins that member
/// from the snapshot, yet its log line says this agent "left the cluster
/// gracefully last time" and is "running alone unless --join or `swim
/// join` names seeds" — both false for this start. The message is printed
/// whenever kept members exist, not when the last life left.
#[test]
fn finding_log_says_left_and_alone_while_rejoining_from_the_snapshot() {
    let dir = temp_dir("logmsg");
    let path = dir.join("members.snapshot");
    write_records(
        &path,
        &[
            alive("r21ma", 1),
            alive("r21mb", 2),
            Record::Leave,
            // The next (lone) life met r21mc, then was killed with -9.
            alive("r21mc", 3),
        ],
    );
    let a = start_on("r21msg", &path, &[]);
    wait_for(
        "the start logs its snapshot",
        Duration::from_secs(10),
        || a.log_text().contains("snapshot: rejoining"),
    );
    let log = a.log_text();
    let loaded = snapshot::load(&path, false).unwrap();
    assert!(!loaded.left, "the last life did not leave: {loaded:?}");
    let claims: Vec<&str> = log
        .lines()
        .filter(|l| {
            // "running alone unless --join" is the leave message's claim;
            // "no member it records answered; running alone until ..." is
            // true later (the recorded member's address is made up).
            l.contains("left the cluster gracefully last time")
                || l.contains("running alone unless")
        })
        .collect();
    assert!(
        claims.is_empty(),
        "rejoining r21mc from the snapshot, yet the log says:\n{}",
        claims.join("\n")
    );
}

/// The kept members (up to `MAX_MEMBERS` before the leave) and the members
/// met after it (up to `MAX_MEMBERS` more) are written into one file by
/// the lone start's compaction, but a replay with `rejoin_after_leave`
/// holds at most `MAX_MEMBERS` in all: the agent's own compacted file then
/// reads as damaged ("too many members") at the `--rejoin` start, which
/// cuts it there and silently drops the member met after the leave.
#[test]
fn finding_kept_plus_live_members_overflow_the_rejoin_replay() {
    let dir = temp_dir("overflow");
    let path = dir.join("members.snapshot");
    let mut records: Vec<Record> = (0..snapshot::MAX_MEMBERS)
        .map(|i| alive(&format!("r21o{i:05}"), (i % 60_000 + 1) as u16))
        .collect();
    records.push(Record::Leave);
    // The next (lone) life met r21onew, then was killed with -9.
    records.push(alive("r21onew", 9));
    write_records(&path, &records);
    let a = start_on("r21ovf", &path, &[]);
    wait_for("the agent answers", Duration::from_secs(30), || {
        a.get("/v1/info").is_some()
    });
    drop(a);
    let own = snapshot::load(&path, false).unwrap();
    assert!(own.cut.is_none(), "{:?}", own.cut);
    assert!(own.members.contains_key("r21onew"));
    let rejoin = snapshot::load(&path, true).unwrap();
    assert!(
        rejoin.cut.is_none() && rejoin.members.contains_key("r21onew"),
        "the file the agent compacted is cut on a --rejoin start: {:?}; r21onew kept: {}",
        rejoin.cut,
        rejoin.members.contains_key("r21onew")
    );
}
