//! Review 18d on real agents: `swim explain` and `GET /v1/explain/NAME`
//! against forged evidence from a stranger on a plain cluster.

mod common;
use common::forge::{packet, update};
use common::{cluster, http, wait_for};
use std::net::UdpSocket;
use std::time::Duration;
use swim_proto as pb;

// Finding (stranger, plain cluster; an insider likewise on a sealed one):
// one forged datagram (~150 bytes) puts terminal control sequences into
// `swim explain`'s output. Measured: the CLI's stdout carried ESC ] (set
// window title), ESC [2J (clear screen) and a CR/LF that forges a second
// "line" of the explanation, verbatim; the member refuted at once but the
// verdict (and its evidence) is kept until reaped, so every later
// `swim explain` prints it.
//
// Responsible: swim-core/src/wire.rs `name` accepts any UTF-8 (control
// characters included) for confirmers and the accuser
// (member.rs `RawUpdate::evidence`); swim-tokio/src/bin/swim/client.rs
// `explain_text` formats peer-given names unescaped (`accused by {}`,
// `confirmed by {}`, `learned from {}`).
//
// Fix: refuse control characters in names on the wire (`wire::name`), and
// escape names in the CLI's human output (`char::escape_default` for
// `is_control` chars) — the `--json` form is already safe.
#[test]
#[ignore = "review18d: swim explain prints peer-given control characters (ESC, CR/LF) raw"]
fn explain_output_carries_no_control_characters_from_the_network() {
    let agents = cluster("r18d", 2);
    let (victim, other) = (&agents[0], &agents[1]);
    let inc = victim
        .members()
        .unwrap()
        .into_iter()
        .find(|m| m.0 == other.name)
        .unwrap()
        .2;
    let mut u = update(&other.name, other.gossip, inc, pb::Status::Dead);
    u.from = b"x\x1b[2J".to_vec().into();
    u.confirmed = vec![
        b"a\x1b]0;owned\x07".to_vec().into(),
        b"b\r\nr18d2 alive: nothing to see".to_vec().into(),
    ];
    u.suspected_ms = 5000;
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let path = format!("/v1/explain/{}", other.name);
    wait_for("the forged verdict taken", Duration::from_secs(10), || {
        attacker
            .send_to(&packet("", vec![u.clone()]), victim.gossip)
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        victim
            .get(&path)
            .is_some_and(|v| v["verdict"]["accuser"].as_str() == Some("x\x1b[2J"))
    });
    let out = victim.cli(&["explain", &other.name]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("{text:?}");
    let body = text.trim_end_matches('\n');
    let bad: Vec<char> = body.chars().filter(|c| c.is_control()).collect();
    assert!(
        bad.is_empty(),
        "control characters printed raw: {bad:?} in {text:?}"
    );
}

/// Controls: the explain route refuses a cross-site request, answers a
/// name with control characters (percent-encoded) with 404 and valid JSON,
/// and a `--json` explain escapes what it prints.
#[test]
fn control_explain_route_hostile_names_and_cross_site() {
    let agents = cluster("r18dc", 2);
    let a = &agents[0];
    let (status, body) = http(&a.control, "GET", "/v1/explain/a%1B%5B2J%0D%0Ab", "").unwrap();
    assert_eq!(status, 404, "{body}");
    let (status, _) = http(&a.control, "GET", "/v1/explain/%FF%FE", "").unwrap();
    assert!(status == 400 || status == 404, "{status}");
    let long = "n".repeat(5000);
    let (status, _) = http(&a.control, "GET", &format!("/v1/explain/{long}"), "").unwrap();
    assert!(status == 404 || status == 400 || status == 414, "{status}");
    // A browser's cross-site GET (Sec-Fetch-Site / Origin) is refused.
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&a.control).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /v1/explain/{} HTTP/1.1\r\nHost: {}\r\nOrigin: http://evil.example\r\nSec-Fetch-Site: cross-site\r\nConnection: close\r\n\r\n",
        agents[1].name, a.control
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(!resp.starts_with("HTTP/1.1 200"), "{resp}");
    let out = a.cli(&["explain", &agents[1].name, "--json"]);
    assert!(out.status.success());
    assert!(!out.stdout[..out.stdout.len() - 1].iter().any(|b| *b < 0x20));
}

// Finding (stranger, plain cluster; an insider likewise on a sealed one):
// the agent's log takes a peer-given accuser raw. Measured: one forged
// datagram (a dead update of a live member whose `from` is
// "x\n2026-01-01T00:00:00.000000Z  INFO keyring: key removed") wrote a
// whole forged log line into the agent's log (and a raw ESC with
// "x\x1b[2J", seen in the test above); the member refutes at once, the
// forged line stays. The rate limit on peer-caused lines does not help: it
// takes one line.
//
// Responsible: swim-tokio/src/driver.rs, the event logging (`log_event`'s
// `warn!(.., %accuser, ..)` for MemberSuspect and MemberFailed, and
// `member = %m.name` on every member line): `%` records Display, which
// tracing's fmt layer writes unescaped (the `confirmers` and
// `learned_from` fields, recorded as `&str`, come out escaped).
//
// Fix: record peer-given names with `?` (Debug, escaped) or a wrapper that
// escapes control characters; better, refuse control characters in names on
// the wire (swim-core/src/wire.rs `name`).
#[test]
#[ignore = "review18d: a forged accuser writes a whole forged line into the agent's log"]
fn a_forged_accuser_cannot_write_a_log_line() {
    let agents = cluster("r18dl", 2);
    let (victim, other) = (&agents[0], &agents[1]);
    let inc = victim
        .members()
        .unwrap()
        .into_iter()
        .find(|m| m.0 == other.name)
        .unwrap()
        .2;
    let forged = "2026-01-01T00:00:00.000000Z  INFO keyring: key removed";
    let mut u = update(&other.name, other.gossip, inc, pb::Status::Dead);
    u.from = format!("x\n{forged}").into_bytes().into();
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    wait_for("the forged verdict logged", Duration::from_secs(10), || {
        attacker
            .send_to(&packet("", vec![u.clone()]), victim.gossip)
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        victim.log_text().contains("member failed")
    });
    let log = victim.log_text();
    assert!(
        !log.lines().any(|l| l.starts_with(forged)),
        "a forged log line:\n{log}"
    );
}
