//! Verify before vouching (issue 18, "caps per source before trust"): a
//! node never counts as a member, nor relays, someone it has only heard
//! of. Alive news of an unknown name that does not come from that member
//! itself is a *candidate*: the node pings it, and only an answer from that
//! name at that address admits it.
//!
//! Before: an insider's fake members, capped per source at the node that
//! heard them, were admitted there, gossiped onward, admitted by every
//! honest relay (each one a source of its own) and so reached every node.

mod common;

use common::*;
use prost::Message;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use swim_core::{Bytes, Config, Identity, Input, Instant, Node, Output, Status};
use swim_proto as pb;

/// Where fake member `k` claims to be: unroutable, nobody answers there.
fn fake_addr(k: usize) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(10, 253, (k >> 8) as u8, k as u8), 7946))
}

fn fake_name(k: usize) -> String {
    format!("fake-{k}")
}

/// An alive update of fake member `k`.
fn fake(k: usize) -> pb::Update {
    pb::Update {
        name: fake_name(k).into_bytes().into(),
        addr: wire_addr(fake_addr(k)),
        incarnation: 1,
        status: pb::Status::Alive as i32,
        from: Bytes::new(),
        life: 5000 + k as u64,
        ..Default::default()
    }
}

/// Member `me` of a cluster of `n` (named `node-0` to `node-{n-1}`), joined
/// through a seed that answered with every member. Its outputs so far are
/// drained.
fn member(me: usize, n: usize, config: Config) -> Node {
    let mut node = Node::new(
        config,
        Identity::new(name(me), addr(me)),
        me as u64,
        Instant::ZERO,
    )
    .unwrap();
    let seed = if me == 1 { 2 } else { 1 };
    node.join(&[addr(seed)], Instant::ZERO).unwrap();
    let stream = std::iter::from_fn(|| node.poll_output())
        .find_map(|o| match o {
            Output::StreamOpen { id, .. } => Some(id),
            _ => None,
        })
        .expect("join opens a stream");
    let frame = pb::StreamFrame {
        version: pb::PROTOCOL_VERSION,
        cluster: String::new(),
        from: name(seed).into_bytes().into(),
        push_pull: Some(pb::PushPull {
            members: (0..n).filter(|&i| i != me).map(|i| alive(i, 1)).collect(),
            ..Default::default()
        }),
    };
    let _ = node
        .step(
            Input::StreamFrame {
                id: stream,
                from: addr(seed),
                bytes: frame.encode_to_vec().into(),
            },
            Instant::ZERO,
        )
        .count();
    node
}

fn fakes_held(node: &Node) -> usize {
    node.members()
        .filter(|m| m.name.starts_with("fake-"))
        .count()
}

/// Runs nodes `a` (at `addr(0)`) and `b` (at `addr(1)`) of a cluster of
/// `n` together until `until`, carrying the datagrams between them (every
/// other member and every fake is silent: what is sent to them is lost).
/// `inject` is called at each step with the time and may return datagrams
/// for `a` from the insider `node-3`. Returns the most fakes `b` held at
/// any instant, and the most `a` held.
fn run_pair(
    a: &mut Node,
    b: &mut Node,
    until: Instant,
    mut inject: impl FnMut(Instant) -> Vec<Bytes>,
) -> (usize, usize) {
    let mut now = Instant::ZERO;
    let (mut b_most, mut a_most) = (0, 0);
    let mut wire: Vec<(usize, SocketAddr, Bytes)> = Vec::new();
    while now < until {
        for bytes in inject(now) {
            wire.push((0, addr(3), bytes));
        }
        let mut hops = 0;
        while let Some((to, from, bytes)) = wire.pop() {
            hops += 1;
            assert!(hops < 100_000, "the two nodes never fall quiet");
            let node = if to == 0 { &mut *a } else { &mut *b };
            let outs: Vec<Output> = node.step(Input::Datagram { from, bytes }, now).collect();
            let me = addr(to);
            for o in outs {
                if let Output::Datagram { to: dst, bytes } = o {
                    if dst == addr(0) || dst == addr(1) {
                        wire.push((usize::from(dst == addr(1)), me, bytes));
                    }
                }
            }
            a_most = a_most.max(fakes_held(a));
            b_most = b_most.max(fakes_held(b));
        }
        let next = [a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(until)
            .min(until)
            .max(now + Duration::from_millis(1));
        now = next;
        for (i, node) in [&mut *a, &mut *b].into_iter().enumerate() {
            let me = addr(i);
            for o in node.step(Input::Tick, now).collect::<Vec<_>>() {
                if let Output::Datagram { to: dst, bytes } = o {
                    if dst == addr(0) || dst == addr(1) {
                        wire.push((usize::from(dst == addr(1)), me, bytes));
                    }
                }
            }
        }
        a_most = a_most.max(fakes_held(a));
        b_most = b_most.max(fakes_held(b));
    }
    (b_most, a_most)
}

/// The spread, in two nodes: an insider (`node-3`, a member at its own
/// address) sends node A datagrams of fake members (8 each, one every
/// 100 ms for 10 s: 800 fakes); node B hears only A. Before, A admitted
/// 64 at once and then 4 per second (its cap for the insider) and gossiped
/// them, and B admitted what A relayed: B held fakes it never heard from
/// the insider. Now neither holds any: A pings each fake once, nobody
/// answers, and A forgets it without a word.
/// A member's gossip packet carrying `news` among the alives of the
/// members both hold (no news to the node, but the bytes that pay for
/// checking the one that is: a ping and three ping-reqs).
fn news(from: usize, news: pb::Update) -> Bytes {
    let mut updates: Vec<pb::Update> = (1..8).map(|i| alive(i, 1)).collect();
    updates.push(news);
    packet(from, vec![], updates)
}

#[test]
fn fakes_heard_from_an_insider_reach_no_other_node() {
    let n = 8;
    let mut a = member(0, n, Config::lan());
    let mut b = member(1, n, Config::lan());
    let mut next_fake = 0usize;
    let mut sent_at = None;
    let (b_most, a_most) = run_pair(&mut a, &mut b, Instant::from_millis(30_000), |now| {
        let due = sent_at.is_none_or(|t: Instant| now >= t + Duration::from_millis(100));
        if now >= Instant::from_millis(10_000) || !due {
            return Vec::new();
        }
        sent_at = Some(now);
        let fakes = (next_fake..next_fake + 8).map(fake).collect();
        next_fake += 8;
        vec![packet(3, vec![], fakes)]
    });
    assert_eq!(b_most, 0, "B held fakes it only heard of from A");
    assert_eq!(a_most, 0, "A held fakes it only heard of from the insider");
    let m = a.metrics();
    assert!(m.candidates > 0, "{m:?}");
    assert_eq!(m.candidates_verified, 0, "{m:?}");
    assert!(m.candidates_forgotten > 0, "{m:?}");
    // B never even heard of them: nothing of them was relayed.
    assert_eq!(b.metrics().candidates, 0, "{:?}", b.metrics());
    // Nobody was suspected or declared dead for them.
    assert!(a
        .members()
        .all(|m| m.status == Status::Alive || m.name != "fake-0"));
}

/// Every datagram among `out`, decoded (plain only), with where it goes.
fn datagrams(out: &[Output]) -> Vec<(SocketAddr, pb::Packet)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Datagram { to, bytes } => Some((*to, pb::Packet::decode(bytes.clone()).ok()?)),
            _ => None,
        })
        .collect()
}

/// The pings among `out`: (to, seq, target).
fn pings(out: &[Output]) -> Vec<(SocketAddr, u32, String)> {
    datagrams(out)
        .into_iter()
        .flat_map(|(to, p)| {
            p.messages.into_iter().filter_map(move |m| match m.body {
                Some(pb::message::Body::Ping(ping)) => Some((
                    to,
                    ping.seq,
                    String::from_utf8_lossy(&ping.target).into_owned(),
                )),
                _ => None,
            })
        })
        .collect()
}

/// The ping-reqs among `out`: (to, seq, target).
fn ping_reqs(out: &[Output]) -> Vec<(SocketAddr, u32, String)> {
    datagrams(out)
        .into_iter()
        .flat_map(|(to, p)| {
            p.messages.into_iter().filter_map(move |m| match m.body {
                Some(pb::message::Body::PingReq(r)) => {
                    Some((to, r.seq, String::from_utf8_lossy(&r.target).into_owned()))
                }
                _ => None,
            })
        })
        .collect()
}

/// Whether any datagram among `out` carries an update about `who`.
fn gossips_about(out: &[Output], who: &str) -> bool {
    datagrams(out)
        .iter()
        .any(|(_, p)| p.updates.iter().any(|u| u.name == who.as_bytes()))
}

/// Runs `node` alone from `from` to `until` (what it sends goes nowhere);
/// returns its outputs.
fn idle(node: &mut Node, from: Instant, until: Instant) -> Vec<Output> {
    let mut out = Vec::new();
    let mut now = from;
    while now < until {
        now = node.poll_timeout().unwrap_or(until).min(until);
        out.extend(node.step(Input::Tick, now));
    }
    out
}

/// Verification by ack: news of node-9 from member node-3 makes it a
/// candidate, pinged at once with a bare ping (nothing piggybacked) and
/// not gossiped; its ack, from its own address, admits it (one
/// `MemberJoined`), and from then on its alive is gossiped on.
#[test]
fn a_candidate_that_answers_is_admitted_then_gossiped_on() {
    let mut node = joined_node(8, Config::lan());
    let t0 = Instant::from_millis(100);
    let out = receive(&mut node, 3, packet(3, vec![], vec![alive(9, 1)]), t0);
    assert!(node.member(&name(9)).is_none(), "not a member yet");
    assert_eq!(node.metrics().candidates, 1);
    let p = pings(&out);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!((p[0].0, p[0].2.as_str()), (addr(9), "node-9"));
    let bare = datagrams(&out)
        .into_iter()
        .find(|(to, _)| *to == addr(9))
        .unwrap()
        .1;
    assert!(
        bare.updates.is_empty() && bare.deltas.is_empty(),
        "a bare ping"
    );
    assert!(
        !gossips_about(&out, "node-9"),
        "not passed on while unchecked"
    );
    // It answers.
    let ack = packet(
        9,
        vec![pb::message::Body::Ack(pb::Ack { seq: p[0].1 })],
        vec![],
    );
    let t1 = t0 + Duration::from_millis(2);
    let out = receive(&mut node, 9, ack, t1);
    let joined = out.iter().any(|o| {
        matches!(o, Output::Event(swim_core::Event::MemberJoined { member, .. }) if *member.name == *"node-9")
    });
    assert!(joined, "{out:?}");
    let m = node.member(&name(9)).expect("admitted");
    assert_eq!(
        (m.status, m.incarnation, m.addr),
        (Status::Alive, 1, addr(9))
    );
    assert_eq!(node.metrics().candidates_verified, 1);
    assert_eq!(
        node.metrics().dropped.unsolicited,
        0,
        "the ack was expected"
    );
    let later = idle(&mut node, t1, t1 + Duration::from_secs(2));
    assert!(gossips_about(&later, "node-9"), "gossiped on once admitted");
}

/// Silent forgetting: a candidate that never answers (neither to the
/// ping nor through the relays asked) is dropped at the end of the probe
/// interval: no suspicion, no death, no event, no update about it in
/// anything sent, counted in `candidates_forgotten`. Its ack, coming too
/// late, admits nothing.
#[test]
fn a_candidate_that_never_answers_is_forgotten_without_a_word() {
    let mut node = joined_node(8, Config::lan());
    let t0 = Instant::from_millis(100);
    let mut out = receive(&mut node, 3, news(3, fake(1)), t0);
    let seq = pings(&out)[0].1;
    out.extend(idle(&mut node, t0, t0 + Duration::from_secs(30)));
    let m = node.metrics();
    assert_eq!((m.candidates, m.candidates_forgotten), (1, 1), "{m:?}");
    assert_eq!(m.candidates_verified, 0);
    assert!(node.member("fake-1").is_none());
    assert!(!gossips_about(&out, "fake-1"), "no word about it");
    let about_it = out.iter().any(|o| match o {
        Output::Event(e) => format!("{e:?}").contains("fake-1"),
        _ => false,
    });
    assert!(!about_it, "no event about it");
    // Pinged once, then asked of members once (a member told of it), as
    // many as the news's packet paid for (this one: all three).
    assert_eq!(pings(&out).iter().filter(|p| p.2 == "fake-1").count(), 1);
    let reqs: Vec<_> = ping_reqs(&out)
        .into_iter()
        .filter(|r| r.2 == "fake-1")
        .collect();
    assert_eq!(reqs.len(), Config::lan().indirect_checks, "{reqs:?}");
    // A late answer admits nothing.
    let late = pb::Packet {
        version: pb::PROTOCOL_VERSION,
        from: "fake-1".into(),
        messages: vec![pb::Message {
            body: Some(pb::message::Body::Ack(pb::Ack { seq })),
        }],
        ..Default::default()
    };
    let bytes: Bytes = late.encode_to_vec().into();
    let input = Input::Datagram {
        from: fake_addr(1),
        bytes,
    };
    let _ = node.step(input, t0 + Duration::from_secs(31)).count();
    assert!(node.member("fake-1").is_none());
}

/// The indirect stage: a member this node cannot reach directly (its ping
/// is lost) is admitted when one of the relays asked passes back its ack;
/// an ack with that sequence number from a member not asked admits nothing.
#[test]
fn a_member_reachable_only_through_relays_is_admitted() {
    let mut node = joined_node(8, Config::lan());
    let t0 = Instant::from_millis(100);
    let out = receive(&mut node, 3, news(3, alive(9, 1)), t0);
    assert_eq!(pings(&out).len(), 1, "pinged; the ping is lost");
    let timeout = t0 + Config::lan().probe_timeout;
    let out = idle(&mut node, t0, timeout);
    let reqs: Vec<_> = ping_reqs(&out)
        .into_iter()
        .filter(|r| r.2 == "node-9")
        .collect();
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    let seq = reqs[0].1;
    let asked: Vec<usize> = reqs
        .iter()
        .map(|r| (0..8).find(|&i| addr(i) == r.0).expect("a member"))
        .collect();
    let other = (1..8)
        .find(|i| !asked.contains(i))
        .expect("a member not asked");
    let ack = |i: usize| packet(i, vec![pb::message::Body::Ack(pb::Ack { seq })], vec![]);
    let t1 = timeout + Duration::from_millis(5);
    let _ = receive(&mut node, other, ack(other), t1);
    assert!(node.member(&name(9)).is_none(), "a member not asked");
    assert_eq!(node.metrics().dropped.unsolicited, 1);
    let _ = receive(&mut node, asked[0], ack(asked[0]), t1);
    assert!(
        node.member(&name(9)).is_some(),
        "passed back by a relay asked"
    );
    assert_eq!(node.metrics().candidates_verified, 1);
}

/// A fake name at an honest member's address never verifies: the
/// verification ping names the fake, and a node drops a ping for another
/// name without an answer.
#[test]
fn a_fake_name_at_a_members_address_never_verifies() {
    let n = 8;
    let mut a = member(0, n, Config::lan());
    let mut b = member(1, n, Config::lan());
    let squatter = pb::Update {
        addr: wire_addr(addr(1)),
        ..fake(1)
    };
    let mut sent = false;
    let (b_most, a_most) = run_pair(&mut a, &mut b, Instant::from_millis(10_000), |_| {
        if std::mem::replace(&mut sent, true) {
            return Vec::new();
        }
        vec![packet(3, vec![], vec![squatter.clone()])]
    });
    assert_eq!((a_most, b_most), (0, 0));
    assert!(b.metrics().dropped.wrong_target >= 1, "{:?}", b.metrics());
    let m = a.metrics();
    assert_eq!((m.candidates, m.candidates_verified), (1, 0), "{m:?}");
    assert_eq!(m.candidates_forgotten, 1, "{m:?}");
}

/// The caps: one source's news makes at most 64 candidates at once (its
/// share); a node starts at most 256 checks at once, then 64 per probe
/// interval (news beyond is refused, counted apart); and it holds at most
/// 256 candidates: past that, each new one evicts the oldest, counted.
#[test]
fn candidates_are_capped_per_source_and_in_all() {
    let mut node = joined_node(16, Config::lan());
    let t0 = Instant::from_millis(100);
    // One source: 100 news, 64 taken (its share), the rest refused.
    for k in 0..4 {
        let news = (25 * k..25 * k + 25).map(fake).collect();
        let _ = receive(&mut node, 3, packet(3, vec![], news), t0);
    }
    let m = node.metrics();
    assert_eq!(m.candidates, 64, "{m:?}");
    assert_eq!(m.members_capped, 36, "{m:?}");
    // Three more members, 64 each: 256 checks, all this node may start.
    let news_of = |s: usize, k: usize| {
        let first = 1000 * s + 32 * k;
        (first..first + 32).map(fake).collect::<Vec<_>>()
    };
    for s in 4..7 {
        for k in 0..2 {
            let _ = receive(&mut node, s, packet(s, vec![], news_of(s, k)), t0);
        }
    }
    assert_eq!(node.metrics().candidates, 256);
    // A fourth: refused, not taken in (not charged to its source either).
    let _ = receive(&mut node, 7, packet(7, vec![], news_of(7, 0)), t0);
    let m = node.metrics();
    assert_eq!((m.candidates, m.candidates_refused), (256, 32), "{m:?}");
    assert_eq!(m.candidates_evicted, 0);
    // Almost a probe interval later (checks came back, none ended yet):
    // 32 more evict the 32 oldest, node-3's first.
    let t1 = t0 + Duration::from_millis(999);
    let _ = receive(&mut node, 8, packet(8, vec![], news_of(8, 0)), t1);
    let m = node.metrics();
    assert_eq!((m.candidates, m.candidates_evicted), (288, 32), "{m:?}");
    let speak = |node: &mut Node, k: usize, at: Instant| {
        let own = pb::Packet {
            version: pb::PROTOCOL_VERSION,
            from: fake_name(k).into(),
            ..Default::default()
        };
        let input = Input::Datagram {
            from: fake_addr(k),
            bytes: own.encode_to_vec().into(),
        };
        let _ = node.step(input, at).count();
    };
    speak(&mut node, 0, t1);
    assert!(
        node.member(&fake_name(0)).is_none(),
        "evicted: its word is too late"
    );
    speak(&mut node, 8000, t1);
    assert!(node.member(&fake_name(8000)).is_some(), "waiting: seen");
    // Every candidate is accounted for once its time is up.
    let _ = idle(&mut node, t1, t1 + Duration::from_secs(5));
    let m = node.metrics();
    assert_eq!(
        m.candidates,
        m.candidates_verified + m.candidates_forgotten + m.candidates_evicted,
        "{m:?}"
    );
}

/// What must not slow down: a member's word about itself is admitted at
/// once (no candidate, no ping), and so is everything in a seed's answer
/// to a join; news of known members is unchanged.
#[test]
fn first_hand_news_and_a_seeds_answer_are_admitted_at_once() {
    let node = joined_node(300, Config::lan());
    assert_eq!(node.members().count(), 300);
    assert_eq!(node.metrics().candidates, 0);
    let mut node = joined_node(8, Config::lan());
    let out = receive(
        &mut node,
        9,
        packet(9, vec![], vec![alive(9, 1)]),
        Instant::ZERO,
    );
    assert!(node.member(&name(9)).is_some());
    assert!(pings(&out).is_empty());
    assert_eq!(node.metrics().candidates, 0);
    // A new address of a known member within its life, from another
    // member: checked at the new address first (one ping), taken once the
    // member answers from there.
    let moved = pb::Update {
        addr: wire_addr(addr(99)),
        ..alive(5, 2)
    };
    let out = receive(&mut node, 3, packet(3, vec![], vec![moved]), Instant::ZERO);
    assert_eq!(node.member(&name(5)).unwrap().addr, addr(5));
    assert_eq!(node.metrics().candidates, 1);
    assert!(
        datagrams(&out).iter().any(|(to, _)| *to == addr(99)),
        "pinged at the new address"
    );
    let _ = receive(&mut node, 99, packet(5, vec![], vec![]), Instant::ZERO);
    assert_eq!(node.member(&name(5)).unwrap().addr, addr(99));
}

/// A joining member's probe of a node that does not know it yet is still
/// answered when its packet also carries news of other new members: the
/// pings that check them leave in its credit what the ack takes.
#[test]
fn a_strangers_probe_is_answered_whatever_news_it_carries() {
    let mut node = joined_node(8, Config::lan());
    let mut updates = vec![alive(20, 1)];
    updates.extend((21..40).map(|i| alive(i, 1)));
    let ping = packet(
        20,
        vec![pb::message::Body::Ping(pb::Ping {
            seq: 77,
            target: name(0).into_bytes().into(),
        })],
        updates,
    );
    let len = ping.len();
    let out = receive(&mut node, 20, ping, Instant::ZERO);
    assert!(node.member(&name(20)).is_some(), "its own word");
    let acked = datagrams(&out).iter().any(|(to, p)| {
        *to == addr(20)
            && p.messages
                .iter()
                .any(|m| matches!(m.body, Some(pb::message::Body::Ack(pb::Ack { seq: 77 }))))
    });
    assert!(acked, "the probe was answered");
    let sent: usize = out
        .iter()
        .map(|o| match o {
            Output::Datagram { bytes, .. } => bytes.len(),
            _ => 0,
        })
        .sum();
    assert!(sent <= 2 * len, "{sent} bytes drawn by {len}");
    let m = node.metrics();
    assert_eq!(m.candidates, 19, "{m:?}");
    assert!(!pings(&out).is_empty(), "some checked at once");
}
