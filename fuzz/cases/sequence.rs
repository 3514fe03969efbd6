//! `sequence`: the input is a config byte, then a sequence of operations on
//! one node (node-0, which starts alone): datagrams and stream frames from
//! peers (raw bytes, or messages built from the input, plain or sealed
//! under key 1, 2 or 3), replies on the streams the node opened, closed
//! streams, time passing, and every command (join, leave, set, delete,
//! set_addr, install_key, use_key, remove_key, set_sealing).
//!
//! After every step: nothing panicked; the outputs keep their bounds (see
//! [`check`]); the node writes and closes only streams that are open (ones
//! it opened, or ones a peer opened and it has not closed) and opens each
//! id once; its keyring is what the commands made it; and each command's
//! result matches what it documents.

use super::reader::Reader;
use super::*;
use swim_core::{Error, KeyringError, Sealing};

/// The operations, by their first byte (modulo [`OPS`]).
pub mod op {
    /// A datagram: a sender byte, then a [body](super::body).
    pub const DATAGRAM: u8 = 0;
    /// The first frame on a new stream a peer opened: a sender byte, a body.
    pub const ACCEPT: u8 = 1;
    /// Another frame on a peer's stream still open: an index byte, a body.
    pub const FRAME: u8 = 2;
    /// A frame on a stream the node opened: an index byte, a body.
    pub const REPLY: u8 = 3;
    /// A stream ended: an index byte (over the peers' open streams, then
    /// the node's).
    pub const CLOSE: u8 = 4;
    /// Time passes, then a tick: two bytes, milliseconds (or, with the top
    /// bit, tenths of seconds).
    pub const ADVANCE: u8 = 5;
    /// Up to 8 ticks, each at the node's next timeout: a count byte.
    pub const TIMERS: u8 = 6;
    /// An ack (or nack) to a probe the node sent: an index byte (0: the newest), a
    /// flags byte (1: nack; 2..: the key that seals it, as in a body), a
    /// [num](super::Reader::num) added to the datagram's sequence number.
    pub const ANSWER: u8 = 7;
    /// Join: a mask byte over node-1 ..= node-4, a stranger and node-0 itself.
    pub const JOIN: u8 = 8;
    /// Leave.
    pub const LEAVE: u8 = 9;
    /// Set a key: a key byte, a value length (num).
    pub const SET: u8 = 10;
    /// Delete a key: a key byte.
    pub const DELETE: u8 = 11;
    /// A new address for this node: a port (num).
    pub const SET_ADDR: u8 = 12;
    /// Install key 1, 2 or 3: a key byte.
    pub const INSTALL_KEY: u8 = 13;
    /// Make key 1, 2 or 3 primary: a key byte.
    pub const USE_KEY: u8 = 14;
    /// Remove key 1, 2 or 3: a key byte.
    pub const REMOVE_KEY: u8 = 15;
    /// Accept, send or require sealing: a byte.
    pub const SEALING: u8 = 16;
}

/// How many operations there are.
pub const OPS: u8 = 17;

/// The config the first byte of the input picks: a preset (lan, local,
/// wan), then smaller limits, no push-pull, a cluster label.
pub fn config(b: u8) -> Config {
    let mut c = match b % 3 {
        0 => Config::lan(),
        1 => Config::local(),
        _ => Config::wan(),
    };
    if b & 4 != 0 {
        c.max_packet_size = 512;
    }
    if b & 8 != 0 {
        c.max_stream_frame = 128 << 10;
    }
    if b & 16 != 0 {
        c.max_members = 16;
    }
    if b & 32 != 0 {
        c.reconnect_interval = core::time::Duration::ZERO;
    }
    if b & 64 != 0 {
        c.cluster = "c".into();
    }
    if b & 128 != 0 {
        c.sealing = Sealing::Accept;
    }
    c
}

/// Keys the node may hold.
const KEYS: [&str; 4] = ["color", "size", "a", "€"];

/// A sender byte: the low 3 bits pick node-0 (0), a peer (1 ..= 4), a
/// stranger (5: node-5 + the high bits), an invalid name (6: empty or not
/// UTF-8), or a name over 128 bytes (7).
pub fn who(b: u8) -> Vec<u8> {
    match b & 7 {
        i @ 0..=4 => name(usize::from(i)).into_bytes(),
        5 => name(5 + usize::from(b >> 3)).into_bytes(),
        6 if b & 8 == 0 => Vec::new(),
        6 => vec![0xff, 0xfe],
        _ => vec![b'x'; 129],
    }
}

/// The address of sender byte `b` (invalid names get a stranger's).
pub fn who_addr(b: u8) -> SocketAddr {
    match b & 7 {
        i @ 0..=4 => addr(usize::from(i)),
        5 => addr(5 + usize::from(b >> 3)),
        _ => addr(99),
    }
}

/// An address field: the sender's own, another member's, an IPv6 one, or
/// an invalid one.
fn wire(r: &mut Reader<'_>, own: SocketAddr) -> Bytes {
    let b = r.u8();
    match b & 3 {
        0 => wire_addr(own),
        1 => wire_addr(addr(usize::from(b >> 2) % 6)),
        2 => wire_addr(SocketAddr::from(([0xfd00, 0, 0, 0, 0, 0, 0, 1], 7946))),
        _ => Bytes::from_static(&[1, 2, 3]),
    }
}

/// A life: 0 reads as the member's own.
fn life_of(r: &mut Reader<'_>, b: u8) -> u64 {
    match r.num() {
        0 => life(usize::from(b & 7)),
        l => l,
    }
}

fn bytes_of(len: u64, fill: u8) -> Bytes {
    vec![fill; (len % 1024) as usize].into()
}

fn update(r: &mut Reader<'_>) -> pb::Update {
    let b = r.u8();
    let addr = wire(r, who_addr(b));
    let incarnation = r.num();
    let status = i32::from(r.u8() % 5);
    let from = match r.u8() {
        0 => Bytes::new(),
        a => who(a).into(),
    };
    pb::Update {
        name: who(b).into(),
        addr,
        incarnation,
        status,
        from,
        life: life_of(r, b),
        ..Default::default()
    }
}

fn key_write(r: &mut Reader<'_>) -> pb::KeyWrite {
    let key = match r.u8() {
        k if k < 200 => KEYS[usize::from(k) % KEYS.len()].as_bytes().to_vec(),
        k if k < 230 => Vec::new(),
        _ => vec![b'k'; 129],
    };
    let deleted = r.bool();
    let value = if deleted {
        Bytes::new()
    } else {
        bytes_of(r.num(), b'v')
    };
    let version = r.num();
    pb::KeyWrite {
        key: key.into(),
        value,
        deleted,
        version,
        prev: r.num(),
    }
}

/// A `swim.v1.Packet` spelt by the input.
fn built_packet(r: &mut Reader<'_>, cluster: &str) -> Vec<u8> {
    use pb::message::Body;
    let from = who(r.u8());
    let messages = (0..r.below(4))
        .map(|_| {
            let kind = r.u8();
            let seq = r.num() as u32;
            let target = who(r.u8()).into();
            let body = match kind % 4 {
                0 => Body::Ping(pb::Ping { seq, target }),
                1 => Body::Ack(pb::Ack { seq }),
                2 => Body::Nack(pb::Nack { seq }),
                _ => Body::PingReq(pb::PingReq {
                    seq,
                    target,
                    target_addr: wire(r, addr(2)),
                    want_nack: kind & 4 != 0,
                }),
            };
            pb::Message { body: Some(body) }
        })
        .collect();
    let updates = (0..r.below(6)).map(|_| update(r)).collect();
    let deltas = (0..r.below(4))
        .map(|_| {
            let owner = r.u8();
            pb::KeyDelta {
                owner: who(owner).into(),
                life: life_of(r, owner),
                write: Some(key_write(r)),
                gc: 0,
            }
        })
        .collect();
    pb::Packet {
        version: pb::PROTOCOL_VERSION,
        cluster: cluster.to_string(),
        from: from.into(),
        messages,
        updates,
        live: r.num() as u32,
        deltas,
        summary: r.num(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A `swim.v1.StreamFrame` spelt by the input; a count byte adds up to 63
/// strangers alive.
fn built_frame(r: &mut Reader<'_>, cluster: &str) -> Vec<u8> {
    let from = who(r.u8());
    let join = r.bool();
    let mut members: Vec<_> = (0..r.below(8)).map(|_| update(r)).collect();
    let strangers = r.below(64);
    members.extend((0..strangers).map(|i| alive(100 + i, 1)));
    let digests = (0..r.below(4))
        .map(|_| {
            let owner = r.u8();
            pb::Digest {
                owner: who(owner).into(),
                life: life_of(r, owner),
                watermark: r.num(),
                gc: r.num(),
                content: r.num(),
            }
        })
        .collect();
    let deltas = (0..r.below(4))
        .map(|_| {
            let owner = r.u8();
            pb::Deltas {
                owner: who(owner).into(),
                life: life_of(r, owner),
                reset: r.bool(),
                to: r.num(),
                gc: r.num(),
                writes: (0..r.below(5)).map(|_| key_write(r)).collect(),
            }
        })
        .collect();
    pb::StreamFrame {
        version: pb::PROTOCOL_VERSION,
        cluster: cluster.to_string(),
        from: from.into(),
        push_pull: Some(pb::PushPull {
            join,
            members,
            digests,
            deltas,
            ..Default::default()
        }),
    }
    .encode_to_vec()
}

/// A body: a kind byte (bit 0: built from the input rather than raw bytes;
/// bits 1-2: the key that seals it, 0 for none), then raw
/// [bytes](Reader::bytes) or the message's fields.
pub fn body_kind(built: bool, seal_key: u8) -> u8 {
    u8::from(built) | (seal_key << 1)
}

/// One run: the node, the time, and what the driver knows of its streams.
struct Run {
    node: Node,
    /// Microseconds.
    now: u64,
    /// Streams peers opened that the node has not closed, and their peers.
    accepted: Vec<(StreamId, SocketAddr)>,
    next_accepted: u64,
    /// Streams the node opened that are still open, and their peers.
    opened: Vec<(StreamId, SocketAddr)>,
    /// Every stream id the node opened.
    ever_opened: Vec<StreamId>,
    /// Where the node sent probes lately (plain datagrams with a ping or a
    /// ping-req, and sealed datagrams), and the sequence number of the
    /// first ping or ping-req in each (0 when sealed).
    sent: Vec<(SocketAddr, u32)>,
    /// The keys the commands installed, the primary first.
    keys: Vec<u8>,
    nonce: u64,
}

impl Run {
    fn now(&self) -> Instant {
        Instant::from_micros(self.now)
    }

    /// A body for `kind` datagrams or frames, sealed as it says.
    fn body(&mut self, r: &mut Reader<'_>, frame: bool) -> Bytes {
        let kind = r.u8();
        let cluster = self.node.config().cluster.clone();
        let plain = match (kind & 1 == 1, frame) {
            (false, _) => r.bytes().to_vec(),
            (true, false) => built_packet(r, &cluster),
            (true, true) => built_frame(r, &cluster),
        };
        match (kind >> 1) & 3 {
            0 => plain.into(),
            k => {
                self.nonce += 1;
                seal(k, &cluster, self.nonce, &plain).into()
            }
        }
    }

    /// Feeds `input` and checks what comes out.
    fn step(&mut self, input: Input) -> Vec<Output> {
        let now = self.now();
        let out = step(&mut self.node, input, now);
        self.outputs(&out);
        out
    }

    /// Checks what a command left.
    fn drain(&mut self) {
        let now = self.now();
        let out = drain(&mut self.node, now);
        self.outputs(&out);
    }

    fn outputs(&mut self, out: &[Output]) {
        for o in out {
            match o {
                &Output::StreamOpen { id, to } => {
                    assert!(!id.is_accepted(), "the node opened {id:?}, a peer's id");
                    assert!(!self.ever_opened.contains(&id), "{id:?} opened twice");
                    self.ever_opened.push(id);
                    self.opened.push((id, to));
                }
                &Output::StreamFrame { id, .. } => {
                    assert!(self.is_open(id), "a frame on {id:?}, which is not open");
                }
                &Output::StreamClose { id } => {
                    assert!(self.is_open(id), "{id:?} closed, which is not open");
                    self.accepted.retain(|(s, _)| *s != id);
                    self.opened.retain(|(s, _)| *s != id);
                }
                Output::Datagram { to, bytes } => {
                    // Plain probes with their sequence numbers; sealed
                    // datagrams with none (the input adds one).
                    let seq = match pb::Packet::decode(bytes.clone()) {
                        Ok(p) => p.messages.into_iter().find_map(|m| match m.body {
                            Some(pb::message::Body::Ping(p)) => Some(p.seq),
                            Some(pb::message::Body::PingReq(p)) => Some(p.seq),
                            _ => None,
                        }),
                        Err(_) => Some(0),
                    };
                    let Some(seq) = seq else {
                        continue;
                    };
                    if self.sent.len() == 16 {
                        self.sent.remove(0);
                    }
                    self.sent.push((*to, seq));
                }
                _ => {}
            }
        }
    }

    fn is_open(&self, id: StreamId) -> bool {
        self.accepted
            .iter()
            .chain(&self.opened)
            .any(|(s, _)| *s == id)
    }

    fn check_keys(&self) {
        let ids: Vec<_> = self.keys.iter().map(|&k| key(k).id()).collect();
        let held: Vec<_> = self.node.keyring().ids().collect();
        assert_eq!(held, ids, "the keyring is not what the commands made it");
    }

    /// One operation.
    fn op(&mut self, r: &mut Reader<'_>) {
        let leaving = self.node.is_leaving();
        match r.u8() % OPS {
            op::DATAGRAM => {
                let from = who_addr(r.u8());
                let bytes = self.body(r, false);
                self.step(Input::Datagram { from, bytes });
            }
            op::ACCEPT => {
                let from = who_addr(r.u8());
                let bytes = self.body(r, true);
                self.next_accepted += 1;
                let id = StreamId::accepted(self.next_accepted);
                self.accepted.push((id, from));
                let out = self.step(Input::StreamFrame { id, from, bytes });
                assert!(
                    out.iter().any(|o| matches!(o,
                        Output::StreamFrame { id: i, .. } | Output::StreamClose { id: i }
                            if *i == id)),
                    "a peer's first frame drew neither an answer nor a close: {out:?}"
                );
            }
            op @ (op::FRAME | op::REPLY) => {
                let streams = if op == op::FRAME {
                    &self.accepted
                } else {
                    &self.opened
                };
                let pick = r.u8();
                let Some(&(id, from)) = streams.get(usize::from(pick) % streams.len().max(1))
                else {
                    return;
                };
                let bytes = self.body(r, true);
                self.step(Input::StreamFrame { id, from, bytes });
            }
            op::CLOSE => {
                let open: Vec<_> = self.accepted.iter().chain(&self.opened).copied().collect();
                let pick = usize::from(r.u8());
                let Some(&(id, _)) = open.get(pick % open.len().max(1)) else {
                    return;
                };
                self.accepted.retain(|(s, _)| *s != id);
                self.opened.retain(|(s, _)| *s != id);
                self.step(Input::StreamClosed { id });
            }
            op::ADVANCE => {
                let v = u64::from(r.u16());
                self.now += if v & 0x8000 != 0 {
                    (v & 0x7fff) * 100_000
                } else {
                    v * 1_000
                };
                self.step(Input::Tick);
            }
            op::TIMERS => {
                for _ in 0..=r.below(8) {
                    let Some(t) = self.node.poll_timeout() else {
                        break;
                    };
                    self.now = self.now.max(t.as_micros());
                    self.step(Input::Tick);
                }
            }
            op::ANSWER => {
                let pick = usize::from(r.u8());
                let flags = r.u8();
                let delta = r.num() as u32;
                // 0 is the newest.
                let Some(at) = self
                    .sent
                    .len()
                    .checked_sub(1 + pick % self.sent.len().max(1))
                else {
                    return;
                };
                let (to, seq) = self.sent[at];
                let Some(sender) = self.node.members().find(|m| m.addr == to) else {
                    return;
                };
                let seq = seq.wrapping_add(delta);
                let body = if flags & 1 == 0 {
                    pb::message::Body::Ack(pb::Ack { seq })
                } else {
                    pb::message::Body::Nack(pb::Nack { seq })
                };
                let cluster = self.node.config().cluster.clone();
                let mut bytes = pb::Packet {
                    version: pb::PROTOCOL_VERSION,
                    cluster: cluster.clone(),
                    from: sender.name.as_bytes().to_vec().into(),
                    messages: vec![pb::Message { body: Some(body) }],
                    ..Default::default()
                }
                .encode_to_vec();
                let k = (flags >> 1) & 3;
                if k != 0 {
                    self.nonce += 1;
                    bytes = seal(k, &cluster, self.nonce, &bytes);
                }
                self.step(Input::Datagram {
                    from: to,
                    bytes: bytes.into(),
                });
            }
            op::JOIN => {
                let mask = r.u8();
                let mut seeds: Vec<_> = (1..=PEERS)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(addr)
                    .collect();
                if mask & 1 != 0 {
                    seeds.push(addr(0));
                }
                if mask & 0x20 != 0 {
                    seeds.push(addr(77));
                }
                let result = self.node.join(&seeds, self.now());
                assert_eq!(result.is_err(), leaving, "join: {result:?}");
                self.drain();
            }
            op::LEAVE => {
                self.node.leave(self.now());
                assert!(self.node.is_leaving());
                self.drain();
            }
            op::SET => {
                let k = KEYS[r.below(KEYS.len() as u8)];
                let len = (r.num() % 600) as usize;
                let value = Bytes::from(vec![b'v'; len]);
                let result = self.node.set(k, value.clone(), self.now());
                match result {
                    Ok(_) => {
                        assert!(!leaving, "set accepted while leaving");
                        let (held, _) = self.node.get(&name(0), k).expect("a key just set");
                        assert_eq!(held, value, "set {k} holds another value");
                    }
                    Err(Error::Left) => assert!(leaving, "set refused: not leaving"),
                    Err(Error::ValueTooLarge { .. }) => assert!(len > swim_core::MAX_VALUE_LEN),
                    Err(e) => panic!("set {k} ({len} bytes): {e}"),
                }
                self.drain();
            }
            op::DELETE => {
                let k = KEYS[r.below(KEYS.len() as u8)];
                let result = self.node.delete(k, self.now());
                match result {
                    Ok(_) => {
                        assert!(!leaving, "delete accepted while leaving");
                        assert_eq!(self.node.get(&name(0), k), None, "{k} deleted");
                    }
                    Err(e) => assert!(leaving && e == Error::Left, "delete {k}: {e}"),
                }
                self.drain();
            }
            op::SET_ADDR => {
                let mut addr = self.node.local().addr;
                addr.set_port(r.num() as u16);
                match self.node.set_addr(addr, self.now()) {
                    Ok(()) => {
                        assert!(!leaving, "set_addr accepted while leaving");
                        assert_eq!(self.node.local().addr, addr);
                    }
                    Err(e) => assert!(leaving && e == Error::Left, "set_addr: {e}"),
                }
                self.drain();
            }
            op::INSTALL_KEY => {
                let k = 1 + r.below(3) as u8;
                let fresh = !self.keys.contains(&k);
                assert_eq!(
                    self.node.install_secret_key(key(k)),
                    fresh,
                    "install key {k}"
                );
                if fresh {
                    self.keys.push(k);
                }
                self.check_keys();
            }
            op::USE_KEY => {
                let k = 1 + r.below(3) as u8;
                let result = self.node.use_secret_key(key(k).id());
                match self.keys.iter().position(|&h| h == k) {
                    Some(at) => {
                        assert_eq!(result, Ok(()), "use key {k}");
                        let k = self.keys.remove(at);
                        self.keys.insert(0, k);
                    }
                    None => assert_eq!(result, Err(KeyringError::Unknown(key(k).id()))),
                }
                self.check_keys();
            }
            op::REMOVE_KEY => {
                let k = 1 + r.below(3) as u8;
                let result = self.node.remove_secret_key(key(k).id());
                match self.keys.iter().position(|&h| h == k) {
                    Some(0) => assert_eq!(result, Err(KeyringError::Primary(key(k).id()))),
                    Some(at) => {
                        assert_eq!(result, Ok(()), "remove key {k}");
                        self.keys.remove(at);
                    }
                    None => assert_eq!(result, Err(KeyringError::Unknown(key(k).id()))),
                }
                self.check_keys();
            }
            _ => {
                let s = [Sealing::Accept, Sealing::Send, Sealing::Require][r.below(3)];
                self.node.set_sealing(s);
                assert_eq!(self.node.config().sealing, s);
            }
        }
    }
}

/// The target's body.
pub fn run(data: &[u8]) {
    replay(data);
}

/// Runs the operations `data` spells; the node as they left it.
pub fn replay(data: &[u8]) -> Node {
    let mut r = Reader::new(data);
    let config = config(r.u8());
    let id = Identity::new(name(0), addr(0));
    let node = Node::new(config, id, 42, Instant::ZERO).expect("valid config");
    let mut run = Run {
        node,
        now: 0,
        accepted: Vec::new(),
        next_accepted: 0,
        opened: Vec::new(),
        ever_opened: Vec::new(),
        sent: Vec::new(),
        keys: Vec::new(),
        nonce: 0,
    };
    while !r.is_empty() {
        run.op(&mut r);
    }
    run.node
}
