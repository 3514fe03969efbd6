//! Attacks on the state layer (issue 17) that break its guarantees: each
//! test is one finding, measured on a small in-memory mesh of real nodes.

mod common;

use common::*;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;
use swim_core::{Bytes, Config, Identity, Input, Instant, Node, Output, StreamId};
use swim_proto as pb;

/// A perfect network of real nodes (1 ms latency, no loss), streams included.
struct Mesh {
    nodes: Vec<Option<Node>>,
    now: Instant,
    /// (deliver at, to, input)
    queue: VecDeque<(Instant, usize, Input)>,
    /// (node, its stream id) -> (peer, the peer's id for it)
    streams: BTreeMap<(usize, u64), (usize, StreamId)>,
    closed: BTreeSet<(usize, u64)>,
    next_stream: u64,
    resets: usize,
}

impl Mesh {
    fn new(n: usize, config: &Config, life: impl Fn(usize) -> Option<u64>) -> Mesh {
        let mut m = Mesh {
            nodes: Vec::new(),
            now: Instant::ZERO,
            queue: VecDeque::new(),
            streams: BTreeMap::new(),
            closed: BTreeSet::new(),
            next_stream: 1,
            resets: 0,
        };
        for i in 0..n {
            let node = m.make(i, config, life(i), 1000 + i as u64);
            m.nodes.push(Some(node));
        }
        for i in 1..n {
            let now = m.now;
            m.nodes[i].as_mut().unwrap().join(&[addr(0)], now).unwrap();
            m.drain(i);
        }
        m
    }

    fn make(&self, i: usize, config: &Config, life: Option<u64>, seed: u64) -> Node {
        let mut id = Identity::new(name(i), addr(i));
        if let Some(l) = life {
            id = id.with_life(l);
        }
        Node::new(config.clone(), id, seed, self.now).unwrap()
    }

    fn index(a: SocketAddr) -> Option<usize> {
        let SocketAddr::V4(v4) = a else { return None };
        let o = v4.ip().octets();
        (o[0] == 10).then(|| ((o[1] as usize) << 16) | ((o[2] as usize) << 8) | o[3] as usize)
    }

    fn node(&mut self, i: usize) -> &mut Node {
        self.nodes[i].as_mut().unwrap()
    }

    /// Carries out every output node `i` has queued.
    fn drain(&mut self, i: usize) {
        let at = self.now + Duration::from_millis(1);
        let Some(node) = self.nodes[i].as_mut() else { return };
        let outs: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
        for o in outs {
            match o {
                Output::Datagram { to, bytes } => {
                    if let Some(j) = Self::index(to) {
                        self.queue.push_back((at, j, Input::Datagram { from: addr(i), bytes }));
                    }
                }
                Output::StreamOpen { id, to } => {
                    if let Some(j) = Self::index(to) {
                        let acc = StreamId::accepted(self.next_stream);
                        self.next_stream += 1;
                        self.streams.insert((i, id.as_u64()), (j, acc));
                        self.streams.insert((j, acc.as_u64()), (i, id));
                    }
                }
                Output::StreamFrame { id, bytes } => {
                    if let Some(&(j, jid)) = self.streams.get(&(i, id.as_u64())) {
                        self.queue.push_back((at, j, Input::StreamFrame { id: jid, from: addr(i), bytes }));
                    }
                }
                Output::StreamClose { id } => {
                    self.closed.insert((i, id.as_u64()));
                    if let Some(&(j, jid)) = self.streams.get(&(i, id.as_u64())) {
                        self.queue.push_back((at, j, Input::StreamClosed { id: jid }));
                    }
                }
                Output::Event(swim_core::Event::NamespaceReset { .. }) => self.resets += 1,
                _ => {}
            }
        }
    }

    /// Hands node `to` an input now.
    fn give(&mut self, to: usize, input: Input) {
        let now = self.now;
        if let Some(n) = self.nodes[to].as_mut() {
            n.handle(input, now);
        }
        self.drain(to);
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next_timer = (0..self.nodes.len())
                .filter_map(|i| Some((self.nodes[i].as_ref()?.poll_timeout()?, i)))
                .min();
            let next_msg = self.queue.front().map(|(at, _, _)| *at);
            let t = match (next_timer, next_msg) {
                (Some((a, _)), Some(b)) => a.min(b),
                (Some((a, _)), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            if next_msg == Some(t) {
                let (_, to, input) = self.queue.pop_front().unwrap();
                if let Input::StreamClosed { id } = &input {
                    if self.closed.contains(&(to, id.as_u64())) {
                        continue;
                    }
                }
                if let Input::StreamFrame { id, .. } = &input {
                    if self.closed.contains(&(to, id.as_u64())) {
                        continue;
                    }
                }
                self.give(to, input);
            } else if let Some((_, i)) = next_timer {
                self.give(i, Input::Tick);
            }
        }
        self.now = end;
    }

    fn set(&mut self, i: usize, key: &str, value: &str) {
        let now = self.now;
        self.node(i).set(key, value.as_bytes().to_vec(), now).unwrap();
        self.drain(i);
    }

    fn get(&self, viewer: usize, owner: usize, key: &str) -> Option<String> {
        let (v, _) = self.nodes[viewer].as_ref()?.get(&name(owner), key)?;
        Some(String::from_utf8_lossy(&v).into_owned())
    }

    /// Viewers (other than the owner) that do not show `want` for `owner`'s `key`.
    fn wrong(&self, owner: usize, key: &str, want: &str) -> Vec<(usize, Option<String>)> {
        (0..self.nodes.len())
            .filter(|&v| v != owner && self.nodes[v].is_some())
            .map(|v| (v, self.get(v, owner, key)))
            .filter(|(_, got)| got.as_deref() != Some(want))
            .collect()
    }

    fn crash(&mut self, i: usize) {
        self.nodes[i] = None;
        self.queue.retain(|(_, to, _)| *to != i);
        self.streams.retain(|(n, _), (p, _)| *n != i && *p != i);
    }

    fn restart(&mut self, i: usize, config: &Config, life: Option<u64>, seed: u64) {
        let node = self.make(i, config, life, seed);
        self.nodes[i] = Some(node);
    }

    fn moves(&self) -> u64 {
        self.nodes.iter().flatten().map(|n| n.metrics().namespace_moves).sum()
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Finding 1 (restarted process, same life): a process restarted under the
/// same name and life (a fixed seed, or `Identity::with_life` from a config)
/// that makes as many writes as its predecessor did before it died holds
/// the same digest `(life, watermark, gc)` as every replica. Summaries agree,
/// no repair runs, replicas drop its writes as stale (silently: nothing goes
/// back to it), and it never hears a claim: readers keep the dead process's
/// values for good, and the owner's writes of those keys are invisible for good.
#[test]
fn a_restart_in_the_same_life_is_not_shown_the_old_values_for_ever() {
    let config = Config::lan();
    let life = |i: usize| (i == 3).then_some(0xfeed_u64);
    let mut m = Mesh::new(5, &config, life);
    m.run_for(secs(5));
    m.set(3, "role", "old-primary");
    m.set(3, "port", "1111");
    m.run_for(secs(10));
    assert!(m.wrong(3, "role", "old-primary").is_empty(), "replicated");
    // kill -9, and the same process comes back at once with the same life
    // (another seed), writing its startup keys again.
    m.crash(3);
    m.run_for(secs(1));
    m.restart(3, &config, Some(0xfeed), 77);
    m.set(3, "role", "new-primary");
    m.set(3, "port", "2222");
    let now = m.now;
    m.node(3).join(&[addr(0)], now).unwrap();
    m.drain(3);
    m.run_for(secs(60));
    // The owner's next write changes nothing for the other keys.
    m.set(3, "epoch", "2");
    m.run_for(secs(30));
    assert!(m.wrong(3, "epoch", "2").is_empty(), "the next write arrives");
    let moves = m.node(3).metrics().namespace_moves;
    let claims = m.node(3).metrics().claims;
    let role = m.wrong(3, "role", "new-primary");
    let port = m.wrong(3, "port", "2222");
    assert!(
        role.is_empty() && port.is_empty(),
        "60 s after the restart, readers still hold the dead process's values: role {role:?}, \
         port {port:?} (owner: {claims} claims, {moves} moves)"
    );
}

/// Control for finding 1: the same restart in a fresh life (what the tokio
/// driver does, from OS entropy) shows the new values everywhere.
#[test]
fn control_a_restart_in_a_new_life_shows_the_new_values() {
    let config = Config::lan();
    let mut m = Mesh::new(5, &config, |_| None);
    m.run_for(secs(5));
    m.set(3, "role", "old-primary");
    m.set(3, "port", "1111");
    m.run_for(secs(10));
    m.crash(3);
    m.run_for(secs(1));
    m.restart(3, &config, None, 77);
    m.set(3, "role", "new-primary");
    m.set(3, "port", "2222");
    let now = m.now;
    m.node(3).join(&[addr(0)], now).unwrap();
    m.drain(3);
    m.run_for(secs(30));
    assert!(m.wrong(3, "role", "new-primary").is_empty());
    assert!(m.wrong(3, "port", "2222").is_empty());
}
