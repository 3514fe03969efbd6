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
