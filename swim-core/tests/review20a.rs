//! Review 20a: attacks on 607eebd and 9080184 (an answerer silent as a
//! relay is probed next; our own suspicion re-checked when this node stops
//! hearing, reminders spaced; reconnect ticks after 0.5-1.5 intervals).

mod common;

use common::mesh::*;
use common::*;
use std::collections::BTreeMap;
use std::time::Duration;
use swim_core::Input;
use swim_proto as pb;

/// Whether a sealed datagram carries an ack or a nack.
fn answers(bytes: &[u8]) -> bool {
    open(bytes).is_some_and(|p| {
        p.messages.iter().any(|m| {
            matches!(
                m.body,
                Some(pb::message::Body::Ack(_)) | Some(pb::message::Body::Nack(_))
            )
        })
    })
}

/// The members node 0 pinged from `since` on, by target: how many
/// distinct pings (a probe's retry, same sequence number, counted once).
fn pings_of_0(m: &Mesh, since: usize) -> BTreeMap<String, usize> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = BTreeMap::new();
    for (from, _, bytes) in &m.sent[since..] {
        if *from != 0 {
            continue;
        }
        let Some(p) = open(bytes) else { continue };
        for msg in p.messages {
            if let Some(pb::message::Body::Ping(ping)) = msg.body {
                let t = String::from_utf8_lossy(&ping.target).into_owned();
                if !seen.insert((t.clone(), ping.seq)) {
                    continue;
                }
                *out.entry(t).or_insert(0) += 1;
            }
        }
    }
    out
}

/// A cluster of `n`; the insider runs members `bad` (real nodes holding
/// the key) and withholds every ack and nack they send (probes of them
/// fail, refuted each time by their gossip; asked to relay, they are
/// silent), while they keep speaking to node 0 (their own pings and
/// gossip, plus an empty sealed packet each 100 ms, so node 0 keeps them
/// among the members it heard). Member `crash` crashes 5 s in.
/// Returns node 0's pings by target over `secs` seconds after a 5 s start,
/// and how long after the crash node 0 first pinged the crashed member.
fn steered(
    n: usize,
    bad: &[usize],
    crash: usize,
    secs: u64,
    all: bool,
) -> (
    BTreeMap<String, usize>,
    Option<Duration>,
    Option<Duration>,
    Option<Duration>,
) {
    let mut m = Mesh::new(n);
    m.run_for(Duration::from_secs(5));
    let mark = m.sent.len();
    let mut tick = 0u32;
    let bad = bad.to_vec();
    let crash_at = m.now + Duration::from_secs(5);
    let mut first: Option<Duration> = None;
    let mut scanned = m.sent.len();
    let mut dead: Option<Duration> = None;
    let mut seen0 = m.sent.len();
    let mut pinged: BTreeMap<std::net::SocketAddr, swim_core::Instant> = BTreeMap::new();
    let mut everywhere: Option<Duration> = None;
    m.run_with(
        Duration::from_secs(secs),
        Duration::from_micros(500),
        |m| {
            // Which of the insider's members node 0 just pinged.
            for (from, to, bytes) in &m.sent[seen0..] {
                if *from != 0 || !bad.iter().any(|&b| *to == addr(b)) {
                    continue;
                }
                let ping = open(bytes).is_some_and(|p| {
                    p.messages
                        .iter()
                        .any(|msg| matches!(msg.body, Some(pb::message::Body::Ping(_))))
                });
                if ping {
                    pinged.insert(*to, m.now);
                }
            }
            seen0 = m.sent.len();
            // Withhold the insider's acks and nacks to node 0, and to
            // anyone for a second after node 0 pinged it (the relays'
            // pings on node 0's behalf).
            let now = m.now;
            m.queue.retain(|(_, to, input)| match input {
                Input::Datagram { from, bytes } if bad.iter().any(|&b| *from == addr(b)) => {
                    let hiding = all
                        || *to == 0
                        || (pinged
                                .get(from)
                                .is_some_and(|&at| now < at + Duration::from_secs(1)));
                    !(hiding && answers(bytes))
                }
                _ => true,
            });
            if m.now >= crash_at && !m.crashed[crash] {
                m.crashed[crash] = true;
                scanned = m.sent.len();
            }
            if m.crashed[crash] && first.is_none() {
                for (from, to, bytes) in &m.sent[scanned..] {
                    let probe = open(bytes).is_some_and(|p| {
                        p.messages.iter().any(|msg| matches!(&msg.body,
                            Some(pb::message::Body::Ping(ping)) if ping.target == name(crash).as_bytes()))
                    });
                    if *from == 0 && *to == addr(crash) && probe {
                        first = Some(m.now.saturating_duration_since(crash_at));
                        break;
                    }
                }
                scanned = m.sent.len();
            }
            tick += 1;
            if tick.is_multiple_of(20) && dead.is_none() && m.crashed[crash] {
                let held = m.nodes[0]
                    .members()
                    .any(|e| e.name.to_string() == name(crash) && e.status == swim_core::Status::Dead);
                if held {
                    dead = Some(m.now.saturating_duration_since(crash_at));
                }
            }
            if tick.is_multiple_of(20) && everywhere.is_none() && m.crashed[crash] {
                let honest = (0..n).filter(|i| *i != crash && !bad.contains(i));
                let held = honest.clone().all(|i| {
                    m.nodes[i].members().any(|e| {
                        e.name.to_string() == name(crash) && e.status == swim_core::Status::Dead
                    })
                });
                if held {
                    everywhere = Some(m.now.saturating_duration_since(crash_at));
                }
            }
            if tick.is_multiple_of(200) {
                for &b in &bad {
                    // Its alive at its current incarnation: a refutation
                    // of node 0's suspicion as soon as it raised it.
                    let me = m.nodes[b].local();
                    let update = pb::Update {
                        incarnation: me.incarnation,
                        life: m.nodes[b].life(),
                        ..alive(b, 0)
                    };
                    let bytes = seal(&packet(b, vec![], vec![update]));
                    let to: Vec<usize> = if all {
                        (0..n).filter(|i| !bad.contains(i)).collect()
                    } else {
                        vec![0]
                    };
                    for i in to {
                        let input = Input::Datagram {
                            from: addr(b),
                            bytes: bytes.clone(),
                        };
                        m.give(i, input);
                    }
                }
            }
        },
    );
    (pings_of_0(&m, mark), first, dead, everywhere)
}

/// Finding (insider; on a plain cluster anyone who runs two members):
/// two members that never ack nor nack (their acks and nacks are
/// withheld; their gossip refutes every suspicion, and they speak to
/// everyone each 100 ms) capture a small cluster's probes. An answerer
/// silent as a relay is probed next (`Prober::take_quiet`); that probe
/// fails too, and its silent relay is the other insider member, probed
/// next, and so on. The last two members are the insider's, member 1
/// crashes 5 s in; node 0's distinct pings of each other honest member in
/// 40 s (5f2639b in brackets):
/// - 5 members: member 2 pinged 0 times (12); crash of 1 or 2 held dead
///   everywhere after 5.2 / 5.4 s (8.0 / 5.9);
/// - 6 members: members 2 and 3 pinged once each (9, 10); 125 of node 0's
///   133 pings went to the insider's (73 of 100); the crash of 1 held dead
///   everywhere after 13.4 s (5.9 s), of 2 or 3 after 5.4 / 5.2 (5.6 / 6.2);
/// - 7 and 8 members: 4-7 pings (6-9), no detection delay; 12: none.
///
/// Only hiding its acks from node 0 (and the relays' pings for it) the
/// insider starves node 0 alike at 6 (members 2, 3: 1 and 2 pings, 5f2639b
/// 10 and 9) while nobody else suspects its members.
/// The chain lasts while the victim has fewer honest members speaking
/// than `indirect_checks` (3): a small cluster, a small side of a cut, or
/// an operator's larger `indirect_checks`.
/// Fix (tried on a scratch copy): after a quiet pick the round-robin has
/// the next tick, the next quiet answerer waiting for the tick after
/// (`take_quiet` returns None once after a quiet pick, keeping `quiet`):
/// members 2 (at 5) and 2, 3 (at 6) pinged 6 / 5, 4 times, crashes held
/// dead everywhere after 5.7 / 5.9 s, and isolated-pair-crash-40s still
/// passes seeds 1-20 (median 8.7 s, max 11.1). Dropping the deferred pick
/// instead fails 2 of 20 (17.9, 14.4 s); once per member per round, 9.
/// The threshold (4, half of 5f2639b's 9-12) admits such a fix.
#[test]
fn silent_insider_pair_starves_a_small_clusters_round_robin() {
    for n in [5, 6] {
        let (pings, _, _, everywhere) = steered(n, &[n - 2, n - 1], 1, 40, true);
        eprintln!("{n}: pings {pings:?}, dead everywhere after {everywhere:?}");
        for honest in 2..n - 2 {
            let got = pings.get(&name(honest)).copied().unwrap_or(0);
            assert!(
                got >= 4,
                "{n}: node 0 pinged member {honest} {got} times in 40 s: {pings:?}"
            );
        }
    }
}

/// Control (withstood at 12 members): the same two silent members among
/// 12 steer node 0 somewhat (31 of its 65 pings, 5f2639b 20 of 56) but
/// every crash of members 1-9 is held dead by every honest node within
/// 5.6-7.6 s (5f2639b: 5.6-9.5 s); with them only hiding node 0's
/// probes, 5.6-7.4 s (5.6-8.0 s).
#[test]
fn silent_insider_pair_does_not_delay_detection_at_12() {
    for all in [false, true] {
        for crash in 1..10 {
            let (_, _, _, everywhere) = steered(12, &[10, 11], crash, 30, all);
            let t = everywhere.expect("held dead everywhere");
            assert!(
                t <= Duration::from_secs(10),
                "crash of {crash}: {t:?} (all {all})"
            );
        }
    }
}

/// Node 0 of 6 under `config`: members 1-4 answer its pings, member 5 is
/// gone (held dead soon). Runs `span` of simulated time; returns the
/// streams node 0 opened to member 5 (its reconnect exchanges) and how
/// many steps it took (a timer that keeps firing at once shows there).
fn reconnects(config: swim_core::Config, span: Duration) -> (usize, usize) {
    use swim_core::{Instant, Output};
    let mut node = joined_node(6, config);
    let end = Instant::ZERO + span;
    let (mut opens, mut steps) = (0, 0);
    let mut now = Instant::ZERO;
    while now < end {
        now = node.poll_timeout().unwrap_or(end).min(end).max(now);
        let out: Vec<Output> = node.step(Input::Tick, now).collect();
        steps += 1;
        opens += out
            .iter()
            .filter(|o| matches!(o, Output::StreamOpen { to, .. } if *to == addr(5)))
            .count();
        let live: Vec<Output> = out
            .into_iter()
            .filter(|o| !matches!(o, Output::Datagram { to, .. } if *to == addr(5)))
            .collect();
        answer_pings(&mut node, &live, now);
    }
    let dead = node.members().any(|m| m.name.to_string() == name(5));
    assert!(dead, "member 5 still held (dead), not reaped");
    (opens, steps)
}

/// Control (withstood on 64-bit): the longest reconnect interval the
/// config allows (24 h, probe_interval 10 min, reap_after 7 days) over 7
/// days: 7 exchanges with the dead member (0.5-1.5 days apart: 3 to 14
/// allowed), 3.0 M steps (5 a second, the gossip timer). `Exchanges::schedule` takes `interval.as_micros() as
/// usize` and adds `micros / 2 + below(micros)`: on a 32-bit target 24 h
/// (8.64e10 us) truncates to 5.0e8 us (one exchange each ~8 min instead
/// of each day), and an interval past 47.7 min (reachable: an 8 min base
/// at 1,000 members is 48 min) overflows the sum (a panic in debug).
#[test]
fn longest_reconnect_interval_is_kept() {
    let config = swim_core::Config {
        probe_interval: Duration::from_secs(600),
        probe_timeout: Duration::from_secs(500),
        reconnect_interval: Duration::from_secs(86_400),
        reap_after: Duration::from_secs(7 * 86_400),
        ..swim_core::Config::lan()
    };
    let (opens, steps) = reconnects(config, Duration::from_secs(7 * 86_400));
    eprintln!("24 h: {opens} exchanges with the dead member in 7 days, {steps} steps");
    assert!((3..=14).contains(&opens), "{opens}");
}

/// Control (withstood): the shortest intervals (probe 10 ms, timeout
/// 5 ms, reconnect 100 ms, suspicion_mult 1) over 60 s: 586 exchanges
/// with the dead member (9.8 a second, one per interval on average, as
/// before), 12,900 steps: no timer storm.
#[test]
fn shortest_intervals_do_not_spin() {
    let config = swim_core::Config {
        probe_interval: Duration::from_millis(10),
        probe_timeout: Duration::from_millis(5),
        reconnect_interval: Duration::from_millis(100),
        suspicion_mult: 1,
        ..swim_core::Config::lan()
    };
    let (opens, steps) = reconnects(config, Duration::from_secs(60));
    eprintln!("100 ms: {opens} exchanges with the dead member in 60 s, {steps} steps");
    assert!(opens <= 60 * 10 * 2, "{opens}");
    assert!(steps <= 60 * 1000, "{steps}");
}
