//! Issue 19 point 4, "explain a verdict": every dead verdict carries its
//! evidence (the accuser, its confirmers, its Lifeguard score, the
//! suspicion's age), and a node that did not accuse can still explain it.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;
use swim_core::{
    suspicion_min_timeout, Config, Event, Identity, Input, Instant, Node, Output, Status, StreamId,
    MAX_CONFIRMERS,
};
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
    /// Every `MemberFailed` event each node gave: (node, event).
    failed: Vec<(usize, Event)>,
}

impl Mesh {
    fn new(n: usize, config: &Config) -> Mesh {
        let mut m = Mesh {
            nodes: Vec::new(),
            now: Instant::ZERO,
            queue: VecDeque::new(),
            streams: BTreeMap::new(),
            closed: BTreeSet::new(),
            next_stream: 1,
            failed: Vec::new(),
        };
        for i in 0..n {
            let node = m.make(i, config, 1000 + i as u64);
            m.nodes.push(Some(node));
        }
        for i in 1..n {
            let now = m.now;
            m.nodes[i].as_mut().unwrap().join(&[addr(0)], now).unwrap();
            m.drain(i);
        }
        m
    }

    fn make(&self, i: usize, config: &Config, seed: u64) -> Node {
        let id = Identity::new(name(i), addr(i));
        Node::new(config.clone(), id, seed, self.now).unwrap()
    }

    fn index(a: SocketAddr) -> Option<usize> {
        let SocketAddr::V4(v4) = a else { return None };
        let o = v4.ip().octets();
        (o[0] == 10).then(|| ((o[1] as usize) << 16) | ((o[2] as usize) << 8) | o[3] as usize)
    }

    /// Carries out every output node `i` has queued.
    fn drain(&mut self, i: usize) {
        let at = self.now + Duration::from_millis(1);
        let Some(node) = self.nodes[i].as_mut() else {
            return;
        };
        let outs: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
        for o in outs {
            match o {
                Output::Datagram { to, bytes } => {
                    if let Some(j) = Self::index(to).filter(|&j| j < self.nodes.len()) {
                        self.queue.push_back((
                            at,
                            j,
                            Input::Datagram {
                                from: addr(i),
                                bytes,
                            },
                        ));
                    }
                }
                Output::StreamOpen { id, to } => {
                    if let Some(j) = Self::index(to).filter(|&j| j < self.nodes.len()) {
                        let acc = StreamId::accepted(self.next_stream);
                        self.next_stream += 1;
                        self.streams.insert((i, id.as_u64()), (j, acc));
                        self.streams.insert((j, acc.as_u64()), (i, id));
                    }
                }
                Output::StreamFrame { id, bytes } => {
                    if let Some(&(j, jid)) = self.streams.get(&(i, id.as_u64())) {
                        self.queue.push_back((
                            at,
                            j,
                            Input::StreamFrame {
                                id: jid,
                                from: addr(i),
                                bytes,
                            },
                        ));
                    }
                }
                Output::StreamClose { id } => {
                    self.closed.insert((i, id.as_u64()));
                    if let Some(&(j, jid)) = self.streams.get(&(i, id.as_u64())) {
                        self.queue
                            .push_back((at, j, Input::StreamClosed { id: jid }));
                    }
                }
                Output::Event(e @ Event::MemberFailed { .. }) => self.failed.push((i, e)),
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

    fn crash(&mut self, i: usize) {
        self.nodes[i] = None;
        self.queue.retain(|(_, to, _)| *to != i);
        self.streams.retain(|(n, _), (p, _)| *n != i && *p != i);
    }

    fn held(&self, viewer: usize, member: usize) -> Option<Status> {
        let node = self.nodes[viewer].as_ref()?;
        node.member(&name(member)).map(|m| m.status)
    }
}

/// A crashed member's verdict, as a node that did not make it holds it:
/// the real accuser, confirmers among the members, a suspicion at least as
/// old as the shortest suspicion timeout, and the member it learned it from.
#[test]
fn a_node_that_did_not_accuse_explains_the_verdict() {
    let n = 8;
    let config = Config::lan();
    let mut m = Mesh::new(n, &config);
    m.run_for(Duration::from_secs(10));
    for v in 0..n {
        assert_eq!(m.held(v, 5), Some(Status::Alive), "node {v} holds node-5");
    }
    m.crash(5);
    let crashed_at = m.now;
    let others: Vec<usize> = (0..n).filter(|&i| i != 5).collect();
    for _ in 0..120 {
        m.run_for(Duration::from_secs(1));
        if others.iter().all(|&v| m.held(v, 5) == Some(Status::Dead)) {
            break;
        }
    }
    for &v in &others {
        assert_eq!(m.held(v, 5), Some(Status::Dead), "node {v} holds node-5");
    }
    // The accusers: the nodes whose own suspicion timer ran out (their
    // verdict is their own, learned from nobody).
    let accusers: Vec<usize> = others
        .iter()
        .copied()
        .filter(|&v| {
            let verdict = m.nodes[v].as_ref().unwrap().verdict(&name(5)).unwrap();
            verdict.accuser.as_str() == name(v) && verdict.learned_from.is_none()
        })
        .collect();
    assert!(!accusers.is_empty(), "someone declared node-5 dead");
    let members: BTreeSet<String> = others.iter().map(|&i| name(i)).collect();
    let shortest = suspicion_min_timeout(config.suspicion_mult, n, config.probe_interval);
    let mut explained = 0;
    for &v in &others {
        let node = m.nodes[v].as_ref().unwrap();
        let verdict = node.verdict(&name(5)).unwrap().clone();
        if accusers.contains(&v) {
            continue;
        }
        explained += 1;
        // The accuser it names made that verdict, with this evidence.
        let by = accusers
            .iter()
            .copied()
            .find(|&a| verdict.accuser.as_str() == name(a))
            .unwrap_or_else(|| panic!("node {v} names {} as the accuser", verdict.accuser));
        let own = m.nodes[by].as_ref().unwrap().verdict(&name(5)).unwrap();
        assert_eq!(
            verdict.evidence, own.evidence,
            "the evidence came unchanged"
        );
        let evidence = verdict
            .evidence
            .clone()
            .expect("the verdict carries evidence");
        assert!(evidence.confirmers.len() <= MAX_CONFIRMERS);
        assert!(
            !evidence.confirmers.is_empty(),
            "others suspected node-5 too"
        );
        for c in &evidence.confirmers {
            assert!(members.contains(c.as_str()), "confirmer {c} is a member");
            assert_ne!(c.as_str(), name(by), "the accuser does not confirm itself");
        }
        assert_eq!(evidence.accuser_score, 0, "a healthy accuser");
        assert!(
            evidence.suspected_for >= shortest,
            "suspected for {:?}, shortest {shortest:?}",
            evidence.suspected_for
        );
        assert!(evidence.suspected_for <= m.now.saturating_duration_since(crashed_at));
        let from = verdict.learned_from.clone().expect("learned from a member");
        assert!(members.contains(from.as_str()), "learned from {from}");
        assert!(verdict.learned_at > crashed_at && verdict.learned_at <= m.now);
        // Its `MemberFailed` event carried the same verdict.
        let event = m.failed.iter().find_map(|(i, e)| match e {
            Event::MemberFailed {
                member, verdict, ..
            } if *i == v && member.name.as_str() == name(5) => Some(verdict.clone()),
            _ => None,
        });
        assert_eq!(event.as_deref(), Some(&verdict));
        // And `explain` shows it, with the member's status.
        let why = node.explain(&name(5)).unwrap();
        assert_eq!(why.member.status, Status::Dead);
        assert_eq!(why.verdict.as_ref(), Some(&verdict));
        assert!(why.suspicion.is_none());
    }
    assert!(explained > 0, "some node learned the verdict from gossip");
}

/// A suspect member is explained by its running suspicion: who accused it
/// so far, and since when.
#[test]
fn a_suspicion_is_explained_while_it_runs() {
    let mut node = joined_node(6, Config::lan());
    let _ = node.poll_outputs().count();
    let t = Instant::from_millis(500);
    let suspect = pb::Update {
        status: pb::Status::Suspect as i32,
        from: name(3).into_bytes().into(),
        ..alive(2, 1)
    };
    let _ = receive(&mut node, 4, packet(4, vec![], vec![suspect]), t);
    let why = node.explain(&name(2)).unwrap();
    assert_eq!(why.member.status, Status::Suspect);
    let s = why.suspicion.expect("a running suspicion");
    assert_eq!(s.accusers, [name(3).as_str()]);
    assert_eq!(s.since, t);
    assert!(s.deadline > t);
    assert!(why.verdict.is_none());
    assert!(node.explain("nobody").is_none());
}

/// Evidence is the accuser's word, read from the network: a confirmers
/// list past the cap, names that are no names, the largest score and age
/// there are; the verdict is taken, the evidence kept within bounds.
#[test]
fn oversized_or_garbage_evidence_is_bounded() {
    let mut node = joined_node(6, Config::lan());
    let _ = node.poll_outputs().count();
    let mut confirmed: Vec<swim_core::Bytes> = vec![
        vec![0xff, 0xfe].into(),
        name(1).into_bytes().into(),
        swim_core::Bytes::new(),
        vec![b'x'; 300].into(),
    ];
    confirmed.extend((0..100).map(|i| format!("c{i}").into_bytes().into()));
    let dead = pb::Update {
        status: pb::Status::Dead as i32,
        from: name(3).into_bytes().into(),
        confirmed,
        score: u32::MAX,
        suspected_ms: u64::MAX,
        ..alive(2, 1)
    };
    let out = receive(&mut node, 4, packet(4, vec![], vec![dead]), Instant::ZERO);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Event(Event::MemberFailed { .. }))));
    let v = node.verdict(&name(2)).expect("the verdict is taken");
    assert_eq!(v.accuser.as_str(), name(3));
    assert_eq!(v.learned_from.as_deref(), Some(name(4).as_str()));
    let e = v.evidence.as_ref().unwrap();
    // Of the first four, only the valid names.
    assert_eq!(e.confirmers, [name(1).as_str()]);
    assert_eq!(e.accuser_score, u32::MAX);
    assert_eq!(e.suspected_for, Duration::from_millis(u64::MAX));

    // Evidence on a suspicion, or without an age, is ignored.
    let mut node = joined_node(6, Config::lan());
    let _ = node.poll_outputs().count();
    let dead = pb::Update {
        status: pb::Status::Dead as i32,
        from: name(3).into_bytes().into(),
        confirmed: vec![name(1).into_bytes().into()],
        score: 3,
        ..alive(2, 1)
    };
    let _ = receive(&mut node, 4, packet(4, vec![], vec![dead]), Instant::ZERO);
    let v = node.verdict(&name(2)).expect("the verdict is taken");
    assert_eq!(v.evidence, None);
}
