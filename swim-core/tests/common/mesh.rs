//! A perfect network (1 ms, no loss) of sealed nodes, streams included,
//! driven through the sans-IO API: every datagram each node sent is kept
//! (to replay or read back), every event too. Nodes are at the addresses
//! of [`super::addr`] and hold key 1 at `require`.

use super::{addr, name, wire_addr};
use prost::Message;
use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use swim_core::{
    Bytes, Config, Event, Identity, Input, Instant, KeyringOp, Node, Output, Sealing, SecretKey,
    StreamId,
};
use swim_proto as pb;

/// Key `b`: 32 bytes of `b` (the mesh's nodes hold key 1).
pub fn key(b: u8) -> SecretKey {
    SecretKey::new([b; 32])
}

/// Node `i` at its address, holding key 1, at `require`.
pub fn sealed_node(i: usize, seed: u64) -> Node {
    let mut node = Node::new(
        Config::lan(),
        Identity::new(name(i), addr(i)),
        seed,
        Instant::ZERO,
    )
    .unwrap();
    node.install_secret_key(key(1));
    node.set_sealing(Sealing::Require);
    node
}

/// The insider's sealer: a keyring holding the cluster key.
pub fn seal(plain: &[u8]) -> Bytes {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NONCE: AtomicU64 = AtomicU64::new(1);
    let ring = sealed_node(60_000, 7);
    ring.keyring()
        .seal_with_nonce("", NONCE.fetch_add(1, Ordering::Relaxed), plain)
        .expect("a key")
        .into()
}

/// A sealed datagram, opened with the cluster key.
pub fn open(bytes: &[u8]) -> Option<pb::Packet> {
    let ring = sealed_node(60_001, 7);
    let plain = ring.keyring().open_sealed(bytes)?;
    pb::Packet::decode(&plain[..]).ok()
}

/// A sealed datagram from the insider naming itself `from`.
pub fn insider_packet(from: &str, updates: Vec<pb::Update>, queries: Vec<pb::Query>) -> Bytes {
    let plain = pb::Packet {
        version: pb::PROTOCOL_VERSION,
        from: from.as_bytes().to_vec().into(),
        updates,
        queries,
        ..Default::default()
    }
    .encode_to_vec();
    seal(&plain)
}

/// A `list` query of `origin` (at `origin_addr`), stamped `clock`.
pub fn list_query(origin: &str, origin_addr: SocketAddr, id: u64, clock: u64) -> pb::Query {
    pb::Query {
        origin: origin.as_bytes().to_vec().into(),
        origin_addr: wire_addr(origin_addr),
        id,
        timeout_ms: 300_000,
        body: Some(pb::query::Body::Keys(pb::KeyOp {
            op: pb::key_op::Op::List as i32,
            ..Default::default()
        })),
        clock,
    }
}

/// The address of made-up member `k`.
pub fn fake_addr(k: usize) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(10, 253, (k >> 8) as u8, k as u8), 7946))
}

/// Alive news of made-up member `k` ("fake-k").
pub fn fake(k: usize) -> pb::Update {
    pb::Update {
        name: format!("fake-{k}").into_bytes().into(),
        addr: wire_addr(fake_addr(k)),
        incarnation: 1,
        status: pb::Status::Alive as i32,
        from: Bytes::new(),
        life: 5000 + k as u64,
        ..Default::default()
    }
}

/// The pings, ping-reqs (and their bytes) among `out` that check the
/// made-up members.
pub fn checks(out: &[Output]) -> (usize, usize, usize) {
    let (mut pings, mut reqs, mut bytes) = (0, 0, 0);
    for o in out {
        let Output::Datagram { bytes: b, .. } = o else {
            continue;
        };
        let Ok(p) = pb::Packet::decode(b.clone()) else {
            continue;
        };
        let mut about_fake = false;
        for m in &p.messages {
            match &m.body {
                Some(pb::message::Body::Ping(x)) if x.target.starts_with(b"fake-") => {
                    pings += 1;
                    about_fake = true;
                }
                Some(pb::message::Body::PingReq(x)) if x.target.starts_with(b"fake-") => {
                    reqs += 1;
                    about_fake = true;
                }
                _ => {}
            }
        }
        if about_fake {
            bytes += b.len();
        }
    }
    (pings, reqs, bytes)
}

/// Rewrites the stream frames one node sends (an insider's lies).
pub type Rewrite = Box<dyn Fn(&[u8]) -> Bytes>;

/// The mesh (see the module doc).
pub struct Mesh {
    pub nodes: Vec<Node>,
    pub now: Instant,
    pub queue: VecDeque<(Instant, usize, Input)>,
    pub streams: BTreeMap<(usize, u64), (usize, StreamId)>,
    pub next_stream: u64,
    /// (sender, receiver, bytes) of every datagram sent.
    pub sent: Vec<(usize, SocketAddr, Bytes)>,
    /// (node, event) of every event.
    pub events: Vec<(usize, Event)>,
    /// Nodes whose datagrams are lost (they cannot send).
    pub mute: Vec<bool>,
    /// Nodes that send nothing at all, datagrams or streams (crashed, as
    /// far as anyone can tell; `mute` loses only datagrams).
    pub crashed: Vec<bool>,
    /// An insider: the stream frames node `.0` sends pass through `.1`.
    pub rewrite: Option<(usize, Rewrite)>,
    /// How long the key operations of [`Mesh::op`] wait for answers.
    pub op_timeout: Duration,
    /// Datagrams reach a node only at the address it advertises (a node
    /// that moved itself is not reached at its old port).
    pub strict_addr: bool,
}

impl Mesh {
    /// `n` nodes at `require`, nodes 1.. joined through node 0.
    pub fn new(n: usize) -> Mesh {
        Mesh::at_steps(&vec![Sealing::Require; n])
    }

    /// The user events named `name` node `i` delivered since event `mark`.
    pub fn delivered(&self, mark: usize, i: usize, name: &str) -> usize {
        self.events[mark..]
            .iter()
            .filter(|(n, e)| *n == i && matches!(e, Event::User { name: x, .. } if x == name))
            .count()
    }

    /// Node `i` fires user event `name` (not coalesced) now.
    pub fn fire(&mut self, i: usize, name: &str, payload: &[u8]) {
        let now = self.now;
        self.nodes[i].event(name, payload, false, now).unwrap();
        self.drain(i);
    }

    /// A mesh of `n` nodes without keys (plain traffic), 1.. joined
    /// through 0.
    pub fn plain(n: usize) -> Mesh {
        let mut m = Mesh::new(n);
        m.queue.clear();
        m.streams.clear();
        for i in 0..n {
            m.nodes[i] = Node::new(
                Config::lan(),
                Identity::new(name(i), addr(i)),
                100 + i as u64,
                m.now,
            )
            .unwrap();
        }
        for i in 1..n {
            m.join(i);
        }
        m
    }

    /// A mesh of `steps.len()` nodes holding key 1, node `i` at `steps[i]`.
    pub fn at_steps(steps: &[Sealing]) -> Mesh {
        let n = steps.len();
        let mut m = Mesh {
            nodes: (0..n)
                .map(|i| {
                    let mut node = sealed_node(i, 100 + i as u64);
                    node.set_sealing(steps[i]);
                    node
                })
                .collect(),
            now: Instant::ZERO,
            queue: VecDeque::new(),
            streams: BTreeMap::new(),
            next_stream: 1,
            sent: Vec::new(),
            events: Vec::new(),
            mute: vec![false; n],
            crashed: vec![false; n],
            rewrite: None,
            op_timeout: Duration::from_secs(10),
            strict_addr: false,
        };
        for i in 1..n {
            m.join(i);
        }
        m
    }

    /// Node `i` joins through node 0.
    pub fn join(&mut self, i: usize) {
        let now = self.now;
        self.nodes[i].join(&[addr(0)], now).unwrap();
        self.drain(i);
    }

    /// The node at `a`, if it is one of [`super::addr`]'s.
    pub fn index(a: SocketAddr) -> Option<usize> {
        let SocketAddr::V4(v4) = a else { return None };
        let o = v4.ip().octets();
        (o[0] == 10).then(|| ((o[1] as usize) << 16) | ((o[2] as usize) << 8) | o[3] as usize)
    }

    /// Delivers what node `i` output, 1 ms from now.
    pub fn drain(&mut self, i: usize) {
        let at = self.now + Duration::from_millis(1);
        let outs: Vec<Output> = std::iter::from_fn(|| self.nodes[i].poll_output()).collect();
        let n = self.nodes.len();
        let crashed = self.crashed.get(i).copied().unwrap_or(false);
        for o in outs {
            match o {
                Output::Datagram { to, bytes } => {
                    self.sent.push((i, to, bytes.clone()));
                    let lost = crashed || self.mute.get(i).copied().unwrap_or(false);
                    let strict = self.strict_addr;
                    let reach = |j: usize| !strict || self.nodes[j].local().addr == to;
                    if let Some(j) = Self::index(to).filter(|&j| j < n && !lost && reach(j)) {
                        // From the address the node advertises (a node
                        // that moved itself sends from its new one).
                        let from = self.nodes[i].local().addr;
                        self.queue
                            .push_back((at, j, Input::Datagram { from, bytes }));
                    }
                }
                Output::StreamOpen { id, to } => {
                    if let Some(j) = Self::index(to).filter(|&j| j < n && !crashed) {
                        let acc = StreamId::accepted(self.next_stream);
                        self.next_stream += 1;
                        self.streams.insert((i, id.as_u64()), (j, acc));
                        self.streams.insert((j, acc.as_u64()), (i, id));
                    }
                }
                Output::StreamFrame { id, bytes } => {
                    let stream = self.streams.get(&(i, id.as_u64())).filter(|_| !crashed);
                    if let Some(&(j, jid)) = stream {
                        let from = addr(i);
                        let bytes = match &self.rewrite {
                            Some((e, f)) if *e == i => f(&bytes),
                            _ => bytes,
                        };
                        let input = Input::StreamFrame {
                            id: jid,
                            from,
                            bytes,
                        };
                        self.queue.push_back((at, j, input));
                    }
                }
                Output::StreamClose { id } => {
                    if let Some((j, jid)) = self.streams.remove(&(i, id.as_u64())) {
                        self.streams.remove(&(j, jid.as_u64()));
                        self.queue
                            .push_back((at, j, Input::StreamClosed { id: jid }));
                    }
                }
                Output::Event(e) => self.events.push((i, e)),
                _ => {}
            }
        }
    }

    /// Hands `input` to node `to` now, and delivers what it output.
    pub fn give(&mut self, to: usize, input: Input) {
        let now = self.now;
        self.nodes[to].handle(input, now);
        self.drain(to);
    }

    /// Runs until `d` has passed; `inject` is called every `every` with
    /// the mesh (the attacker's turn).
    pub fn run_with(&mut self, d: Duration, every: Duration, mut inject: impl FnMut(&mut Mesh)) {
        let end = self.now + d;
        while self.now < end {
            let step = (self.now + every).min(end);
            self.run_until(step);
            inject(self);
        }
    }

    /// Runs for `d`.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    /// Runs until `end`: timers and deliveries in time order.
    pub fn run_until(&mut self, end: Instant) {
        loop {
            let next_timer = (0..self.nodes.len())
                .filter_map(|i| Some((self.nodes[i].poll_timeout()?, i)))
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
                self.give(to, input);
            } else if let Some((_, i)) = next_timer {
                self.give(i, Input::Tick);
            }
        }
        self.now = self.now.max(end);
    }

    /// Node `i` starts key operation `op` (waiting [`Mesh::op_timeout`]).
    pub fn op(&mut self, i: usize, op: KeyringOp) -> u64 {
        let now = self.now;
        let id = self.nodes[i].keyring_op(op, self.op_timeout, now).unwrap();
        self.drain(i);
        id
    }

    /// Whether node `i` holds key `k`.
    pub fn holds(&self, i: usize, k: u8) -> bool {
        self.nodes[i].keyring().ids().any(|id| id == key(k).id())
    }

    /// The stamp of node `i`'s next query: its query clock, read from the
    /// query it sends within `wait` (the operation is a harmless `list`).
    pub fn clock_of(&mut self, i: usize, wait: Duration) -> u64 {
        let mark = self.sent.len();
        let id = self.op(i, KeyringOp::List);
        self.run_for(wait);
        let me = name(i);
        self.sent[mark..]
            .iter()
            .filter(|(from, _, _)| *from == i)
            .filter_map(|(_, _, b)| open(b))
            .flat_map(|p| p.queries)
            .find(|q| q.origin == me.as_bytes() && q.id == id)
            .map(|q| q.clock)
            .expect("node i sent its query")
    }
}

/// The restarted node 0's new address.
pub fn new0() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([10, 0, 0, 0], 8000))
}

/// kill -9 of node 0 and a new process, same name and key, at [`new0`].
pub fn restart0(m: &mut Mesh, seed: u64, config: swim_core::Config) {
    let mut fresh = swim_core::Node::new(
        config,
        swim_core::Identity::new(name(0), new0()),
        seed,
        m.now,
    )
    .unwrap();
    fresh.install_secret_key(key(1));
    fresh.set_sealing(swim_core::Sealing::Require);
    m.nodes[0] = fresh;
    m.queue.retain(|(_, to, _)| *to != 0);
}

/// Sealed datagrams node `from` sent to `to` since `mark` carrying an
/// answer to query `id`.
pub fn answers_to(m: &Mesh, mark: usize, from: usize, to: std::net::SocketAddr, id: u64) -> usize {
    m.sent[mark..]
        .iter()
        .filter(|(f, dst, _)| *f == from && *dst == to)
        .filter_map(|(_, _, b)| open(b))
        .filter(|p| p.answers.iter().any(|a| a.id == id))
        .count()
}

/// Node 0 restarts at [`new0`]; its first query reaches node 2 (through
/// node 1) before node 2 heard it moved; first, an insider sends node 2
/// `flood` list queries naming as origin a real member ("node-1", when
/// `member_origin`) or a made-up "ghost-k", at made-up addresses, 300 s
/// timeouts. Returns (answers to node 0's old address, answers to its new
/// one).
pub fn restarted_origin_answer(flood: usize, member_origin: bool) -> (usize, usize) {
    restarted_origin_answer_with(flood, member_origin, swim_core::Config::lan(), false)
}

/// `dead_first`: node 0 crashes first and is held dead by node 2 before
/// it restarts (kill -9, restarted after the failure detector ran).
pub fn restarted_origin_answer_with(
    flood: usize,
    member_origin: bool,
    config: swim_core::Config,
    dead_first: bool,
) -> (usize, usize) {
    let mut m = Mesh::new(3);
    m.queue.clear();
    for i in 0..3 {
        let mut node = swim_core::Node::new(
            config.clone(),
            swim_core::Identity::new(name(i), addr(i)),
            100 + i as u64,
            m.now,
        )
        .unwrap();
        node.install_secret_key(key(1));
        node.set_sealing(swim_core::Sealing::Require);
        m.nodes[i] = node;
    }
    for i in 1..3 {
        m.join(i);
    }
    m.strict_addr = true;
    m.run_for(Duration::from_secs(5));
    if dead_first {
        m.crashed[0] = true;
        m.run_for(Duration::from_secs(60));
        let held = m.nodes[2].member("node-0").map(|e| e.status);
        assert_eq!(
            held,
            Some(swim_core::Status::Dead),
            "node 2 holds node 0 dead"
        );
        m.crashed[0] = false;
    }
    let clock = m.clock_of(1, Duration::from_secs(2));
    restart0(&mut m, 888, config);
    for k in 0..flood {
        let origin = if member_origin {
            "node-1".to_string()
        } else {
            format!("ghost-{k}")
        };
        let q = list_query(&origin, fake_addr(k), 9000 + k as u64, clock + 1);
        let bytes = insider_packet("node-1", vec![], vec![q]);
        m.give(
            2,
            Input::Datagram {
                from: addr(1),
                bytes,
            },
        );
    }
    let mark = m.sent.len();
    let before = m.nodes[2].metrics().queries_unanswered;
    let held = m.nodes[2].member("node-0").map(|e| (e.status, e.addr));
    let q = list_query("node-0", new0(), 4242, clock + 1);
    let bytes = insider_packet("node-1", vec![], vec![q]);
    m.give(
        2,
        Input::Datagram {
            from: addr(1),
            bytes,
        },
    );
    let now = m.now;
    m.nodes[0].join(&[addr(1)], now).unwrap();
    m.drain(0);
    m.run_for(Duration::from_secs(10));
    eprintln!(
        "node 2 held node-0 as {held:?}; unanswered +{}",
        m.nodes[2].metrics().queries_unanswered - before
    );
    (
        answers_to(&m, mark, 2, addr(0), 4242),
        answers_to(&m, mark, 2, new0(), 4242),
    )
}
