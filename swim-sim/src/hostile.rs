//! A hostile member: a node that lies (issue 17).
//!
//! A [`Hostile`] fault makes the simulator send crafted datagrams and
//! stream frames, built with the wire schema (`swim-proto`), from one
//! address: a cluster member's own (an *insider*, which with
//! [`Hostile::sealed`] holds the cluster key and seals what it forges) or
//! a stranger's (`10.254.0.1`, a non-member address; it seals nothing).
//! What it forges is chosen by the run's seed among [`Attack`]s; see each
//! variant for the bytes.
//!
//! The attacker knows what a member (or a wiretap on node 0, for a
//! stranger) would know: the members and keys its *tap* node holds (read
//! from that node's view) and the owners' lives, learned by decoding the
//! datagrams and frames the tap receives (opened with the cluster key when
//! the attacker holds it). Nothing here reads a clock or a global RNG.
//!
//! The damage is measured against ground truth in a [`HostileReport`]:
//! values readers hold that their owner never wrote and for how long after
//! the owner's next write, owner writes not visible everywhere within a
//! bound, resurrections, healthy members held dead, member entries and key
//! bytes per node, namespaces above the limits.

use bytes::Bytes;
use prost::Message;
use rand_chacha::ChaCha8Rng;
use rand_core::Rng;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use swim_core::{Keyring, Node, MAX_INCARNATION};
use swim_proto as pb;

/// A replica accepts a write at most this far above what it holds (the
/// core's jump check, 2^32): forged versions stay just under it.
const JUMP: u64 = 1 << 32;

/// One kind of lie a hostile member tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attack {
    /// A key write in an owner's name, in its current life, one version
    /// above what the attacker's tap holds: a value the owner never wrote.
    /// By datagram (a piggybacked delta) or as the first frame of a stream
    /// the attacker opens (repair deltas), in turn.
    ForgeWrite,
    /// A reset of an owner's namespace: repair deltas with `reset` and a
    /// high `to` in the first frame of a stream (which wipes the owner's
    /// keys and plants one forged key), or, in turn, an alive update of
    /// the owner at its next incarnation in a forged life with a write in
    /// that life (a fake restart).
    ForgeReset,
    /// A key write in an owner's name 2^31 versions ahead: the owner's
    /// next writes to that key look old to the readers that took it.
    HighVersion,
    /// A suspicion of a healthy member at an implausible incarnation (2^32
    /// above the one held, or the highest there is), to readers and to the
    /// member itself.
    SuspectJump,
    /// The same with a death.
    DeadJump,
    /// Alive updates of members that do not exist (unreachable addresses,
    /// fresh names each time): by datagram, or many at once in the first
    /// frame of a stream, in turn.
    FakeMembers,
    /// A datagram the attacker captured earlier (an insider's own, a
    /// stranger's wiretap's), sent again from its address.
    Replay,
    /// Insider only: when a peer opens an exchange with the hostile
    /// member, its answer also carries a forged reset of some owner's
    /// namespace (at most once per `every`). Its turns send bait: a
    /// datagram from the insider's address under a name nobody knows,
    /// which makes the receiver open an exchange with that address.
    Reply,
}

impl Attack {
    /// Every attack, in the order of [`Attack::name`]s in docs.
    pub const ALL: [Attack; 8] = [
        Attack::ForgeWrite,
        Attack::ForgeReset,
        Attack::HighVersion,
        Attack::SuspectJump,
        Attack::DeadJump,
        Attack::FakeMembers,
        Attack::Replay,
        Attack::Reply,
    ];

    /// The attacks on the state layer (keys and their lives), which the
    /// owner's last word and the replicas' checks answer; the others are
    /// attacks on membership (incarnation jumps, fake members).
    pub const STATE: [Attack; 5] = [
        Attack::ForgeWrite,
        Attack::ForgeReset,
        Attack::HighVersion,
        Attack::Replay,
        Attack::Reply,
    ];

    /// The name scenario files give it.
    pub fn name(self) -> &'static str {
        match self {
            Attack::ForgeWrite => "forge-write",
            Attack::ForgeReset => "forge-reset",
            Attack::HighVersion => "high-version",
            Attack::SuspectJump => "suspect-jump",
            Attack::DeadJump => "dead-jump",
            Attack::FakeMembers => "fake-members",
            Attack::Replay => "replay",
            Attack::Reply => "reply",
        }
    }

    /// The attack called `name`.
    pub fn parse(name: &str) -> Option<Attack> {
        Attack::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// A hostile member's part in a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Hostile {
    /// The member that lies (`None`: a stranger at a non-member address).
    pub node: Option<usize>,
    /// Time between two forged messages.
    pub every: Duration,
    /// When it stops, from the start of the run.
    pub until: Duration,
    /// It holds the cluster key and seals what it forges (an insider).
    pub sealed: bool,
    /// What it forges; each message takes the next in turn.
    pub attacks: Vec<Attack>,
}

/// The address a stranger speaks from (outside the cluster's 10.0.0.0/16).
pub fn stranger_addr() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(10, 254, 0, 1), 7946))
}

/// What a hostile member forged, and what it did to the cluster, measured
/// against ground truth.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct HostileReport {
    /// Forged datagrams and frames sent, by attack.
    pub forged_sent: BTreeMap<String, u64>,
    /// Times a reader took a value its owner never wrote (at that version).
    pub forged_seen: u64,
    /// Distinct (reader, owner, key) that held a forged value.
    pub forged_keys: u64,
    /// Distinct owners whose readers held a forged value.
    pub forged_owners: u64,
    /// The longest any forged value stayed at a reader after its owner's
    /// next write reached a first other member (ms; `None`: no forged
    /// value met an owner's write).
    pub forged_after_write_max_ms: Option<u64>,
    /// Forged values that stayed more than the write deadline after the
    /// owner's next write.
    pub forged_after_write_late: u64,
    /// The longest any forged value stayed at a reader (ms).
    pub forged_longest_ms: u64,
    /// Forged values readers still held when the run ended.
    pub forged_at_end: u64,
    /// Owner writes checked for visibility.
    pub writes_checked: u64,
    /// Owner writes some running reader did not hold (or hold something
    /// newer the owner wrote) within the deadline.
    pub writes_lost: u64,
    /// The deadline for owner writes (ms).
    pub write_deadline_ms: u64,
    /// The first lost writes, described.
    pub lost_examples: Vec<String>,
    /// A reader took a value its owner wrote at a version below one it
    /// already held for that key (a superseded or deleted value came back).
    pub resurrections: u64,
    /// Dead verdicts taken about healthy, reachable members (the truth
    /// module's false deaths).
    pub healthy_held_dead: u64,
    /// Member entries per running node when the run ended: mean, max.
    pub members_mean: f64,
    /// See `members_mean`.
    pub members_max: u64,
    /// The most member entries any node held at any sample (every 5 s).
    pub members_peak: u64,
    /// Replicated key bytes per running node when the run ended: mean, max.
    pub key_bytes_mean: f64,
    /// See `key_bytes_mean`.
    pub key_bytes_max: u64,
    /// The most key bytes any node held at any sample.
    pub key_bytes_peak: u64,
    /// (node, owner) namespaces above `MAX_KEYS` or `MAX_NAMESPACE_BYTES`,
    /// the most at any sample.
    pub namespaces_over_limits: u64,
    /// The same figures from the run without the hostile member, when it
    /// was made ([`crate::Scenario::honest`]).
    pub honest: Option<Baseline>,
}

/// Per-node size figures of the honest run, to compare with.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Baseline {
    /// Member entries per node when the run ended: mean.
    pub members_mean: f64,
    /// The most member entries any node held at any sample.
    pub members_peak: u64,
    /// Key bytes per node when the run ended: mean.
    pub key_bytes_mean: f64,
    /// The most key bytes any node held at any sample.
    pub key_bytes_peak: u64,
}

impl HostileReport {
    /// The honest run's figures of this report.
    pub fn baseline(&self) -> Baseline {
        Baseline {
            members_mean: self.members_mean,
            members_peak: self.members_peak,
            key_bytes_mean: self.key_bytes_mean,
            key_bytes_peak: self.key_bytes_peak,
        }
    }

    /// The largest excess of member entries or key bytes over the honest
    /// run, as a share of the honest figure (`None` without one).
    pub fn excess_over_honest(&self) -> Option<f64> {
        let h = self.honest.as_ref()?;
        let share = |x: f64, base: f64| (x - base) / base.max(1.0);
        Some(
            [
                share(self.members_mean, h.members_mean),
                share(self.members_peak as f64, h.members_peak as f64),
                share(self.key_bytes_mean, h.key_bytes_mean),
                share(self.key_bytes_peak as f64, h.key_bytes_peak as f64),
            ]
            .into_iter()
            .fold(f64::MIN, f64::max),
        )
    }
}

/// What the attacker learned of one owner.
#[derive(Clone, Copy, Debug, Default)]
struct Intel {
    life: u64,
}

/// One hostile member during a run.
pub(crate) struct Attacker {
    pub spec: Hostile,
    /// The node whose view and receipts the attacker knows.
    pub tap: usize,
    pub rng: ChaCha8Rng,
    /// Messages forged so far.
    pub fired: u64,
    /// Attacks drawn so far (each message takes the next in turn).
    turns: u64,
    lives: BTreeMap<String, Intel>,
    /// Datagrams captured for replay (at most [`CAPTURED`]).
    captured: VecDeque<Bytes>,
    nonce: u64,
    /// When the last forged reply went out (ms).
    pub last_reply_ms: Option<u64>,
    /// Whether the attack window is open.
    pub active: bool,
    /// Whether its fault has come.
    pub started: bool,
}

/// Datagrams kept for replay.
const CAPTURED: usize = 256;

/// A forged message and where it goes.
pub(crate) enum Forged {
    /// A datagram to node `to`.
    Datagram { to: usize, bytes: Bytes },
    /// A stream the attacker opens to node `to`, with one frame.
    Frame { to: usize, bytes: Bytes },
}

impl Attacker {
    pub fn new(spec: Hostile, rng: ChaCha8Rng) -> Attacker {
        let tap = spec.node.unwrap_or(0);
        Attacker {
            spec,
            tap,
            rng,
            fired: 0,
            turns: 0,
            lives: BTreeMap::new(),
            captured: VecDeque::new(),
            nonce: 0,
            last_reply_ms: None,
            active: false,
            started: false,
        }
    }

    /// The address it speaks from.
    pub fn addr(&self) -> SocketAddr {
        self.spec
            .node
            .map_or_else(stranger_addr, crate::sim::addr_of)
    }

    /// The name its packets carry: its own, or (a stranger) a member's it
    /// spoofs, other than `avoid`.
    fn sender_name(&mut self, nodes: usize, avoid: usize) -> String {
        match self.spec.node {
            Some(n) => crate::sim::name_of(n),
            None => {
                let mut m = self.below(nodes);
                if m == avoid {
                    m = (m + 1) % nodes;
                }
                crate::sim::name_of(m)
            }
        }
    }

    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }

    /// Learns from a datagram (`frame` false) or stream frame the tap
    /// received: owners' lives, and datagrams to replay (a stranger's).
    pub fn sniff(&mut self, bytes: &Bytes, frame: bool, keys: &[swim_core::SecretKey]) {
        let plain = match open(bytes, keys) {
            Some(Some(p)) => Bytes::from(p),
            Some(None) => return, // sealed under a key it lacks
            None => bytes.clone(),
        };
        let mut learn = |owner: &[u8], life: u64| {
            if life != 0 {
                if let Ok(name) = std::str::from_utf8(owner) {
                    self.lives.entry(name.to_string()).or_default().life = life;
                }
            }
        };
        if frame {
            let Ok(f) = pb::StreamFrame::decode(plain) else {
                return;
            };
            let Some(pp) = f.push_pull else { return };
            for u in &pp.members {
                if u.status == pb::Status::Alive as i32 {
                    learn(&u.name, u.life);
                }
            }
            for d in &pp.digests {
                learn(&d.owner, d.life);
            }
            for d in &pp.deltas {
                learn(&d.owner, d.life);
            }
        } else {
            let Ok(p) = pb::Packet::decode(plain) else {
                return;
            };
            for u in &p.updates {
                if u.status == pb::Status::Alive as i32 {
                    learn(&u.name, u.life);
                }
            }
            for d in &p.deltas {
                learn(&d.owner, d.life);
            }
            if self.spec.node.is_none() {
                self.capture(bytes.clone());
            }
        }
    }

    /// Keeps a datagram to replay later.
    pub fn capture(&mut self, bytes: Bytes) {
        if self.captured.len() == CAPTURED {
            self.captured.pop_front();
        }
        self.captured.push_back(bytes);
    }

    /// The attack of the next message.
    pub fn next_attack(&mut self) -> Option<Attack> {
        let insider = self.spec.node.is_some();
        let pool: Vec<Attack> = (self.spec.attacks.iter().copied())
            .filter(|a| insider || *a != Attack::Reply)
            .collect();
        if pool.is_empty() {
            return None;
        }
        let a = pool[(self.turns % pool.len() as u64) as usize];
        self.turns += 1;
        Some(a)
    }

    /// Forges one message of `attack`. `running` lists the running nodes,
    /// `tap` is the tap's node (if running), `keyring` seals (if the
    /// attacker holds the key). `None`: nothing to forge now (no target).
    pub fn forge(
        &mut self,
        attack: Attack,
        nodes: usize,
        running: &[usize],
        tap: Option<&Node>,
        keyring: Option<&Keyring>,
        cluster: &str,
    ) -> Option<Forged> {
        let me = self.spec.node;
        let others: Vec<usize> = running.iter().copied().filter(|&i| Some(i) != me).collect();
        if others.len() < 2 {
            return None;
        }
        let owner = others[self.below(others.len())];
        let readers: Vec<usize> = others.iter().copied().filter(|&i| i != owner).collect();
        let reader = readers[self.below(readers.len())];
        let turn = self.turns.saturating_sub(1) / self.spec.attacks.len().max(1) as u64;
        let from = self.sender_name(nodes, reader);
        let owner_name = crate::sim::name_of(owner);
        // What the tap holds of the owner: keys, versions, incarnation.
        let held: Vec<(String, Bytes, u64)> = tap.map_or(Vec::new(), |t| t.keys(&owner_name, ""));
        let top = held.iter().map(|k| k.2).max().unwrap_or(0);
        let key = if held.is_empty() {
            "k0".to_string()
        } else {
            held[self.below(held.len())].0.clone()
        };
        let incarnation = tap
            .and_then(|t| t.member(&owner_name))
            .map_or(0, |m| m.incarnation);
        let life = self.lives.get(&owner_name).map_or(0, |i| i.life);
        let value = Bytes::from(format!("forged-{}", self.fired));
        let forged = match attack {
            Attack::ForgeWrite | Attack::HighVersion => {
                if life == 0 {
                    return None;
                }
                let version = if attack == Attack::HighVersion {
                    top + JUMP / 2
                } else {
                    top + 1 + self.rng.next_u64() % 3
                };
                let write = key_write(&key, value, version, top);
                if turn.is_multiple_of(2) {
                    let delta = pb::KeyDelta {
                        owner: owner_name.into_bytes().into(),
                        life,
                        write: Some(write),
                        gc: 0,
                    };
                    Forged::Datagram {
                        to: reader,
                        bytes: packet(cluster, &from, vec![], vec![], vec![delta]),
                    }
                } else {
                    let deltas = pb::Deltas {
                        owner: owner_name.into_bytes().into(),
                        life,
                        reset: false,
                        to: version,
                        gc: 0,
                        writes: vec![write],
                    };
                    Forged::Frame {
                        to: reader,
                        bytes: frame(cluster, &from, vec![], vec![deltas]),
                    }
                }
            }
            Attack::ForgeReset => {
                if turn.is_multiple_of(2) && life != 0 {
                    let to = top + JUMP / 2;
                    let deltas = reset(&owner_name, life, &key, value, to);
                    Forged::Frame {
                        to: reader,
                        bytes: frame(cluster, &from, vec![], vec![deltas]),
                    }
                } else {
                    // A fake restart: the owner alive in a forged life, with
                    // a write in that life.
                    let fake_life = (self.rng.next_u64() >> 32).max(1);
                    let update = pb::Update {
                        name: owner_name.clone().into_bytes().into(),
                        addr: wire_addr(crate::sim::addr_of(owner)),
                        incarnation: incarnation + 1,
                        status: pb::Status::Alive as i32,
                        from: Bytes::new(),
                        life: fake_life,
                        ..Default::default()
                    };
                    let delta = pb::KeyDelta {
                        owner: owner_name.into_bytes().into(),
                        life: fake_life,
                        write: Some(key_write(&key, value, 1, 0)),
                        gc: 0,
                    };
                    Forged::Datagram {
                        to: reader,
                        bytes: packet(cluster, &from, vec![], vec![update], vec![delta]),
                    }
                }
            }
            Attack::SuspectJump | Attack::DeadJump => {
                let status = if attack == Attack::SuspectJump {
                    pb::Status::Suspect
                } else {
                    pb::Status::Dead
                };
                let at = if turn.is_multiple_of(2) {
                    incarnation + JUMP
                } else {
                    MAX_INCARNATION
                };
                let update = pb::Update {
                    name: owner_name.into_bytes().into(),
                    addr: wire_addr(crate::sim::addr_of(owner)),
                    incarnation: at,
                    status: status as i32,
                    from: from.clone().into_bytes().into(),
                    life: 0,
                    ..Default::default()
                };
                // Every third goes to the accused itself.
                let to = if turn % 3 == 2 { owner } else { reader };
                Forged::Datagram {
                    to,
                    bytes: packet(cluster, &from, vec![], vec![update], vec![]),
                }
            }
            Attack::FakeMembers => {
                let many = if turn.is_multiple_of(2) { 8 } else { 64 };
                let base = self.fired * 64;
                let fakes: Vec<pb::Update> = (0..many)
                    .map(|k| {
                        let n = base + k;
                        pb::Update {
                            name: format!("fake-{n}").into_bytes().into(),
                            addr: wire_addr(SocketAddr::from((
                                Ipv4Addr::new(10, 253, (n >> 8) as u8, n as u8),
                                7946,
                            ))),
                            incarnation: 1,
                            status: pb::Status::Alive as i32,
                            from: Bytes::new(),
                            life: (n + 1) << 8,
                            ..Default::default()
                        }
                    })
                    .collect();
                if turn.is_multiple_of(2) {
                    Forged::Datagram {
                        to: reader,
                        bytes: packet(cluster, &from, vec![], fakes, vec![]),
                    }
                } else {
                    Forged::Frame {
                        to: reader,
                        bytes: frame(cluster, &from, fakes, vec![]),
                    }
                }
            }
            Attack::Replay => {
                if self.captured.is_empty() {
                    return None;
                }
                // Among the older half of what it kept.
                let half = self.captured.len().div_ceil(2);
                let pick = self.below(half);
                let bytes = self.captured[pick].clone();
                // Already sealed (or plain) as captured.
                self.fired += 1;
                return Some(Forged::Datagram { to: reader, bytes });
            }
            Attack::Reply => {
                // Bait: a datagram from the insider's address under a name
                // nobody knows, so that the receiver pulls the state of
                // this "stranger" from that address: it opens an exchange
                // with the insider, whose answer is forged.
                me?;
                let name = format!("newcomer-{turn}");
                Forged::Datagram {
                    to: reader,
                    bytes: packet(cluster, &name, vec![], vec![], vec![]),
                }
            }
        };
        self.fired += 1;
        Some(self.seal(forged, keyring, cluster))
    }

    /// A forged reset to add to an answer the insider sends on an
    /// exchange a peer opened: `plain` is its frame (opened), `None` when
    /// there is no owner to forge about.
    pub fn forge_reply(
        &mut self,
        plain: &[u8],
        running: &[usize],
        tap: Option<&Node>,
    ) -> Option<Vec<u8>> {
        let mut f = pb::StreamFrame::decode(plain).ok()?;
        let pp = f.push_pull.as_mut()?;
        let me = self.spec.node;
        let owners: Vec<usize> = running.iter().copied().filter(|&i| Some(i) != me).collect();
        if owners.is_empty() {
            return None;
        }
        let owner = owners[self.below(owners.len())];
        let owner_name = crate::sim::name_of(owner);
        let life = self.lives.get(&owner_name).map_or(0, |i| i.life);
        if life == 0 {
            return None;
        }
        let held: Vec<(String, Bytes, u64)> = tap.map_or(Vec::new(), |t| t.keys(&owner_name, ""));
        let top = held.iter().map(|k| k.2).max().unwrap_or(0);
        let key = held.first().map_or("k0".to_string(), |k| k.0.clone());
        let value = Bytes::from(format!("forged-reply-{}", self.fired));
        pp.deltas.retain(|d| d.owner != owner_name.as_bytes());
        pp.deltas
            .push(reset(&owner_name, life, &key, value, top + JUMP / 2));
        self.fired += 1;
        Some(f.encode_to_vec())
    }

    /// Seals a forged message when the attacker holds the key.
    fn seal(&mut self, forged: Forged, keyring: Option<&Keyring>, cluster: &str) -> Forged {
        let Some(ring) = keyring.filter(|_| self.spec.sealed) else {
            return forged;
        };
        let (Forged::Datagram { bytes, .. } | Forged::Frame { bytes, .. }) = &forged;
        let Some(sealed) = self.seal_bytes(ring, cluster, bytes) else {
            return forged;
        };
        match forged {
            Forged::Datagram { to, .. } => Forged::Datagram { to, bytes: sealed },
            Forged::Frame { to, .. } => Forged::Frame { to, bytes: sealed },
        }
    }

    /// `plain` sealed with a nonce no node uses (a prefix of its own).
    pub fn seal_bytes(&mut self, ring: &Keyring, cluster: &str, plain: &[u8]) -> Option<Bytes> {
        self.nonce += 1;
        let prefix = 0x4057_11e0_0000_0000 ^ (self.rng.next_u64() & 0xffff_ffff_0000) ^ self.nonce;
        ring.seal_with_nonce(cluster, prefix, plain)
            .map(Bytes::from)
    }
}

/// A repair reset of `owner`'s namespace up to `to`, holding one key.
fn reset(owner: &str, life: u64, key: &str, value: Bytes, to: u64) -> pb::Deltas {
    pb::Deltas {
        owner: owner.as_bytes().to_vec().into(),
        life,
        reset: true,
        to,
        gc: to,
        writes: vec![key_write(key, value, to, 0)],
    }
}

fn key_write(key: &str, value: Bytes, version: u64, prev: u64) -> pb::KeyWrite {
    pb::KeyWrite {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value,
        deleted: false,
        version,
        prev,
    }
}

fn packet(
    cluster: &str,
    from: &str,
    messages: Vec<pb::message::Body>,
    updates: Vec<pb::Update>,
    deltas: Vec<pb::KeyDelta>,
) -> Bytes {
    pb::Packet {
        version: pb::PROTOCOL_VERSION,
        cluster: cluster.to_string(),
        from: from.as_bytes().to_vec().into(),
        messages: messages
            .into_iter()
            .map(|b| pb::Message { body: Some(b) })
            .collect(),
        updates,
        deltas,
        ..Default::default()
    }
    .encode_to_vec()
    .into()
}

fn frame(cluster: &str, from: &str, members: Vec<pb::Update>, deltas: Vec<pb::Deltas>) -> Bytes {
    pb::StreamFrame {
        version: pb::PROTOCOL_VERSION,
        cluster: cluster.to_string(),
        from: from.as_bytes().to_vec().into(),
        push_pull: Some(pb::PushPull {
            members,
            deltas,
            ..Default::default()
        }),
    }
    .encode_to_vec()
    .into()
}

/// An address in the wire form of `swim.v1.Update.addr`.
fn wire_addr(a: SocketAddr) -> Bytes {
    let mut v = match a {
        SocketAddr::V4(a) => a.ip().octets().to_vec(),
        SocketAddr::V6(a) => a.ip().octets().to_vec(),
    };
    v.extend_from_slice(&a.port().to_be_bytes());
    v.into()
}

/// `bytes` as a sealed message, opened: `None` when it is plain,
/// `Some(None)` when none of `keys` opens it. The header (fields 1 and 2
/// as sent) is the associated data; the sealed field (15) holds the
/// nonce, the ciphertext and the tag.
pub(crate) fn open(bytes: &[u8], keys: &[swim_core::SecretKey]) -> Option<Option<Vec<u8>>> {
    use aes_gcm::aead::{AeadInPlace, KeyInit};
    use aes_gcm::{Aes256Gcm, Nonce, Tag};
    let s = pb::Sealed::decode(bytes).ok()?;
    if s.sealed.is_empty() {
        return None;
    }
    let field = 1 + prost::encoding::encoded_len_varint(s.sealed.len() as u64) + s.sealed.len();
    let Some(aad) = bytes.len().checked_sub(field).map(|n| &bytes[..n]) else {
        return Some(None);
    };
    if s.sealed.len() < 12 + 16 {
        return Some(None);
    }
    let (nonce, rest) = s.sealed.split_at(12);
    let (ciphertext, tag) = rest.split_at(rest.len() - 16);
    for k in keys {
        let cipher = Aes256Gcm::new(k.as_bytes().into());
        let mut plain = ciphertext.to_vec();
        let ok = cipher.decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            aad,
            &mut plain,
            Tag::from_slice(tag),
        );
        if ok.is_ok() {
            return Some(Some(plain));
        }
    }
    Some(None)
}

/// Per (reader, owner, key): since when the reader holds a value the owner
/// never wrote; and per owner, when its writes left it (to find its next
/// write). A write counts from when a first other member takes it: one
/// the owner made just before it crashed, that never left it, cannot
/// replace anything.
#[derive(Debug, Default)]
pub(crate) struct Forgeries {
    holds: BTreeMap<(usize, usize, String), u64>,
    seen_keys: BTreeSet<(usize, usize, String)>,
    owners: BTreeSet<usize>,
    writes: BTreeMap<usize, Vec<u64>>,
    /// The (owner, version) writes another member took, in the owner's
    /// current process.
    left_owner: BTreeSet<(usize, u64)>,
    /// Per (reader, owner, key): the newest version the owner wrote that
    /// the reader was shown (by this process of the reader's).
    shown: BTreeMap<(usize, usize, String), u64>,
    pub seen: u64,
    pub after_write_max: Option<u64>,
    pub after_write_late: u64,
    pub longest: u64,
    pub resurrections: u64,
    /// Stays after the owner's next write beyond this are late (ms).
    pub deadline_ms: u64,
}

impl Forgeries {
    /// Another member took owner `m`'s write at `version` at `now` (ms):
    /// the first time, the write counts from then.
    pub fn took(&mut self, m: usize, version: u64, now: u64) {
        if self.left_owner.insert((m, version)) {
            self.writes.entry(m).or_default().push(now);
        }
    }

    /// Owner `m`'s process restarted: its versions start again.
    pub fn forget_owner(&mut self, m: usize) {
        self.left_owner.retain(|(o, _)| *o != m);
    }

    /// Reader `v` was shown `m`'s genuine write of `key` at `version`.
    pub fn shown(&mut self, v: usize, m: usize, key: &str, version: u64) {
        let held = self.shown.entry((v, m, key.to_string())).or_insert(0);
        *held = (*held).max(version);
    }

    /// Whether reader `v` was shown `m`'s `key` at `version` or newer (a
    /// write it held, even if a namespace move since made it wait for the
    /// key again).
    pub fn was_shown(&self, v: usize, m: usize, key: &str, version: u64) -> bool {
        (self.shown.get(&(v, m, key.to_string()))).is_some_and(|&h| h >= version)
    }

    /// Reader `v`'s process restarted: what it was shown is gone.
    pub fn forget_reader(&mut self, v: usize) {
        self.shown.retain(|(r, _, _), _| *r != v);
    }

    /// Reader `v` took a forged value of `m`'s `key`.
    pub fn forged(&mut self, v: usize, m: usize, key: &str, now: u64) {
        self.seen += 1;
        let k = (v, m, key.to_string());
        self.owners.insert(m);
        self.seen_keys.insert(k.clone());
        self.holds.entry(k).or_insert(now);
    }

    /// Reader `v` no longer holds a forged value of `m`'s `key` (`None`:
    /// of any key of `m`; `m` `None`: of anyone).
    pub fn ended(&mut self, v: usize, m: Option<usize>, key: Option<&str>, now: u64) {
        let gone: Vec<(usize, usize, String)> = (self.holds.keys())
            .filter(|(r, o, k)| {
                *r == v && m.is_none_or(|m| m == *o) && key.is_none_or(|key| key == k)
            })
            .cloned()
            .collect();
        for k in gone {
            if let Some(since) = self.holds.remove(&k) {
                self.close(k.1, since, now);
            }
        }
    }

    /// Owner `m`'s process stopped (crashed or left): nobody can answer
    /// a forged value of its keys any more (its namespace is frozen at
    /// every replica until it is reaped), so the holds of them stop
    /// counting.
    pub fn owner_stopped(&mut self, m: usize, now: u64) {
        let gone: Vec<(usize, usize, String)> = (self.holds.keys())
            .filter(|(_, o, _)| *o == m)
            .cloned()
            .collect();
        for k in gone {
            if let Some(since) = self.holds.remove(&k) {
                self.close(m, since, now);
            }
        }
    }

    fn close(&mut self, owner: usize, since: u64, end: u64) {
        self.longest = self.longest.max(end - since);
        let next = (self.writes.get(&owner)).and_then(|w| w.iter().copied().find(|&t| t >= since));
        if let Some(t) = next.filter(|&t| t <= end) {
            let after = end - t;
            self.after_write_max = Some(self.after_write_max.unwrap_or(0).max(after));
            if after > self.deadline_ms {
                self.after_write_late += 1;
            }
        }
    }

    /// Fills `r` with what was measured until `now` (ms), counting forged
    /// values still held as ending now.
    pub fn report(&self, now: u64, r: &mut HostileReport) {
        let mut end = Forgeries {
            holds: BTreeMap::new(),
            seen_keys: BTreeSet::new(),
            owners: BTreeSet::new(),
            writes: self.writes.clone(),
            left_owner: BTreeSet::new(),
            shown: BTreeMap::new(),
            seen: self.seen,
            after_write_max: self.after_write_max,
            after_write_late: self.after_write_late,
            longest: self.longest,
            resurrections: self.resurrections,
            deadline_ms: self.deadline_ms,
        };
        for ((_, owner, _), since) in &self.holds {
            end.close(*owner, *since, now);
        }
        r.forged_seen = self.seen;
        r.forged_keys = self.seen_keys.len() as u64;
        r.forged_owners = self.owners.len() as u64;
        r.forged_after_write_max_ms = end.after_write_max;
        r.forged_after_write_late = end.after_write_late;
        r.forged_longest_ms = end.longest;
        r.forged_at_end = self.holds.len() as u64;
        r.resurrections = self.resurrections;
    }
}
