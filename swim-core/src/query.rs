//! Queries: a request to every member, answered to its origin (Serf's
//! query). A query spreads by gossip like a membership update (each node
//! passes it on a bounded number of times and ignores it when it comes
//! again); every member that hears it answers with one datagram straight
//! to the origin, which reports each answer as an event and, at the
//! query's timeout, how many answered.
//!
//! Cluster key operations are the first queries: `install`, `use`,
//! `remove` and `list` act on every member's keyring, and `sealing` moves
//! every member between the `send` and `require` steps of turning sealing
//! on. They travel only sealed, and a member acts on them only when the
//! packet carrying them opened under one of its keys, so a key never
//! crosses the wire in the clear. Every answer says the keys the member
//! holds and its sealing step. Whether every member answered (and so
//! whether `use`, or `sealing require`, is safe) is the caller's to judge
//! from the answers; the agent refuses `use` unless every live member
//! reported holding the key, and `sealing require` unless every live member
//! reported sealing already.
//!
//! Queries are ordered by a cluster-wide *query clock* (Serf's query
//! Lamport time): an origin stamps each query with its clock and moves it
//! on; every member that hears a query, or exchanges full state with a
//! peer (both sides send their clock), moves its own clock past it. A node
//! acts on no query before it has learned the clock from a full-state
//! exchange (joining, or restarted), and from then on ignores queries
//! stamped before what it learned first: a query captured and replayed
//! after a restart is stale there, whatever the process forgot. A query
//! or a frame may move the clock at most [`MAX_CLOCK_JUMP`] at once, and
//! the queries of one packet, together, at most [`MAX_PACKET_STEP`] (each
//! bound against the clock as it was before the packet: a packet of
//! chained queries does not walk the clock further). A query stamped
//! further ahead (but within the jump) is still carried out; the next
//! full-state exchange brings the clock the rest of the way.
//!
//! The first clock a node learns comes from one peer (its seed, say),
//! which could be an insider's: it is provisional until a second
//! exchange, with another peer, confirms it (within [`MAX_CLOCK_JUMP`]).
//! A node pulls state from a member to confirm it; every clock a peer
//! gives before then lowers the floor to it when lower (the floor never
//! sits above what a peer said), and two that disagree by more than the
//! jump leave the later in force, still provisional, for the next peer to
//! settle. An insider answering a joiner's exchange can so *lower* its
//! floor (a replay window for queries older than the join, which an
//! insider could forge anyway), never raise it out of reach.
//!
//! A query this node starts before it learned the clock (right after a
//! restart, its join not answered yet) is held, and stamped and sent once
//! the clock is learned: stamped before, it would be stale everywhere.
//!
//! An operation (not a `list`) forgotten from the table of those seen (it
//! is bounded) raises its origin's floor to its stamp: a replay of it, or
//! of an older query of that origin, is stale, not new again. An insider
//! forging 128 operations of a member, stamped past that member's clock,
//! makes that member's next operations stale at the node it sends them to
//! until the member's clock catches up (a full-state exchange); it holds
//! the key, and could as well forge the operations themselves.
//!
//! A node that sends plain (at `accept`) carries out and answers (sealed)
//! the queries it hears, but never passes one on: its datagrams are plain,
//! and an `install` carries a key.
//!
//! What queries from the network may make a node keep is bounded per
//! origin and in all (an insider can name any origin): the queries it
//! remembers having seen, and those it passes on. The queue of queries to
//! pass on is shared by *who passed them on here* (a member speaking from
//! its membership address, or else the source address): each gets at most
//! [`MAX_QUEUED_PER_VIA`] places, and of one origin at most
//! [`MAX_QUEUED_PER_ORIGIN`]; a full queue makes room for one that holds
//! fewer by evicting from the one holding most. An insider can forge any
//! origin, member or not, but not the address its datagrams come from: its
//! flood takes its own share, never the share of the relays that carry a
//! member's real operation. Among the queries of one relay, a member's
//! (its origin at the membership address the query names) evicts a made-up
//! origin's. An answer goes only to the origin's membership address as
//! this node knows it, never to an address a query names.

use crate::name::Name;
use crate::seal::{Keyring, KeyringError, Sealing, SecretKey, SecretKeyId};
use crate::source::Source;
use crate::util::Random;
use crate::wire::DropReason;
use bytes::Bytes;
use core::time::Duration;
use prost::Message as _;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use swim_proto as pb;

/// The longest a query may wait for answers.
pub const MAX_QUERY_TIMEOUT: Duration = Duration::from_secs(300);

/// Queries a node remembers having seen (to ignore repeats); beyond that,
/// the oldest is forgotten to make room (a new query is never refused).
const MAX_SEEN: usize = 1024;

/// Queries of one origin a node remembers; beyond that, that origin's
/// oldest is forgotten.
const MAX_SEEN_PER_ORIGIN: usize = 128;

/// Queries a node passes on at once, in all; more are carried out and
/// answered, not passed on (others pass them on).
const MAX_QUEUED: usize = 32;

/// Queries of one origin passed on here by one relay that a node queues.
const MAX_QUEUED_PER_ORIGIN: usize = 4;

/// Queries passed on here by one relay (see [`Via`]) that a node queues.
const MAX_QUEUED_PER_VIA: usize = 8;

/// The most a query or a full-state exchange may move this node's query
/// clock at once (a cluster runs a handful of queries a day; an insider's
/// huge clock would otherwise make every later honest query look old).
pub(crate) const MAX_CLOCK_JUMP: u64 = 1 << 20;

/// The highest query clock taken from the network.
/// (Far out of reach: an insider moves it at most [`MAX_PACKET_STEP`] a
/// datagram and [`MAX_CLOCK_JUMP`] a frame, so 2^42 frames.)
const MAX_CLOCK: u64 = 1 << 62;

/// The most the queries of one packet move this node's clock past what it
/// was before the packet.
pub(crate) const MAX_PACKET_STEP: u64 = 64;

/// Origins whose floor (the stamp of the latest query of theirs this node
/// forgot) it keeps; beyond that, the lowest is dropped.
const MAX_FLOORS: usize = 1024;

/// Queries a node may have open (waiting for answers) at once.
pub(crate) const MAX_OPEN: usize = 16;

/// A cluster key operation, started with
/// [`Node::keyring_op`](crate::Node::keyring_op): a query to every member
/// that acts on its keyring (or its sealing step). It travels only sealed,
/// and a member acts on it only when the packet carrying it opened under
/// one of its keys, so a key never crosses the wire in the clear. Each
/// member answers with [`Event::KeyAnswer`](crate::Event::KeyAnswer): the
/// keys it holds, its sealing step, or why it refused. Whether every
/// member answered (and so whether `Use`, or moving to
/// [`Sealing::Require`](crate::Sealing::Require), is safe) is the caller's
/// to judge from the answers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyringOp {
    /// Report the keys held.
    List,
    /// Install a key (not yet used to seal).
    Install(SecretKey),
    /// Seal with this installed key from now on.
    Use(SecretKeyId),
    /// Remove this installed key (refused for the primary).
    Remove(SecretKeyId),
    /// Move to this step of turning sealing on: [`Sealing::Send`] or
    /// [`Sealing::Require`] ([`Node::keyring_op`](crate::Node::keyring_op)
    /// refuses [`Sealing::Accept`]: no key operation makes members send
    /// plain). A member at `accept` refuses it (move it to `send` with its
    /// own config first), and so does a member whose step was set after
    /// the operation started (see [`Node::set_sealing`](crate::Node::set_sealing)),
    /// so a replayed operation never undoes a later decision.
    Sealing(Sealing),
}

impl KeyringOp {
    /// Carries out the operation on `keyring`; whether it changed.
    pub(crate) fn apply(&self, keyring: &mut Keyring) -> Result<bool, KeyringError> {
        match self {
            KeyringOp::List | KeyringOp::Sealing(_) => Ok(false),
            KeyringOp::Install(key) => Ok(keyring.install(key.clone())),
            KeyringOp::Use(id) => {
                let changed = keyring.primary() != Some(*id);
                keyring.use_key(*id).map(|()| changed)
            }
            KeyringOp::Remove(id) => keyring.remove(*id).map(|()| true),
        }
    }

    fn to_wire(&self) -> pb::KeyOp {
        use pb::key_op::Op;
        let mut k = pb::KeyOp::default();
        match self {
            KeyringOp::List => k.op = Op::List as i32,
            KeyringOp::Install(key) => {
                k.op = Op::Install as i32;
                k.key = Bytes::copy_from_slice(key.as_bytes());
            }
            KeyringOp::Use(id) => (k.op, k.key_id) = (Op::Use as i32, id.0),
            KeyringOp::Remove(id) => (k.op, k.key_id) = (Op::Remove as i32, id.0),
            KeyringOp::Sealing(step) => {
                k.op = Op::Sealing as i32;
                k.sealing = step_to_wire(Some(*step)) as i32;
            }
        }
        k
    }

    fn from_wire(k: &pb::KeyOp) -> Result<KeyringOp, DropReason> {
        use pb::key_op::Op;
        Ok(match Op::try_from(k.op).map_err(|_| DropReason::Invalid)? {
            Op::List => KeyringOp::List,
            Op::Install => {
                KeyringOp::Install(SecretKey::from_slice(&k.key).ok_or(DropReason::Invalid)?)
            }
            Op::Use => KeyringOp::Use(SecretKeyId(k.key_id)),
            Op::Remove => KeyringOp::Remove(SecretKeyId(k.key_id)),
            // Only the steps an operation may name: never `accept` (no key
            // operation makes members send plain), never an unknown one.
            Op::Sealing => match step_from_wire(k.sealing) {
                Some(step @ (Sealing::Send | Sealing::Require)) => KeyringOp::Sealing(step),
                _ => return Err(DropReason::Invalid),
            },
        })
    }
}

/// A sealing step as the wire carries it (`None`: unknown).
fn step_to_wire(step: Option<Sealing>) -> pb::SealingStep {
    match step {
        None => pb::SealingStep::SealingUnknown,
        Some(Sealing::Accept) => pb::SealingStep::SealingAccept,
        Some(Sealing::Send) => pb::SealingStep::SealingSend,
        Some(Sealing::Require) => pb::SealingStep::SealingRequire,
    }
}

/// A sealing step from the wire; `None` for unknown (or not said).
fn step_from_wire(v: i32) -> Option<Sealing> {
    match pb::SealingStep::try_from(v).ok()? {
        pb::SealingStep::SealingUnknown => None,
        pb::SealingStep::SealingAccept => Some(Sealing::Accept),
        pb::SealingStep::SealingSend => Some(Sealing::Send),
        pb::SealingStep::SealingRequire => Some(Sealing::Require),
    }
}

/// What a query asks: a key operation, or a user query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    Keys(KeyringOp),
    User(crate::user_query::UserQuery),
}

impl From<&KeyringOp> for Body {
    fn from(op: &KeyringOp) -> Body {
        Body::Keys(op.clone())
    }
}

impl Body {
    /// Whether carrying it out changes something (a replay must not
    /// repeat it): every key operation but `list`, every user query (its
    /// handlers run).
    pub fn acts(&self) -> bool {
        !matches!(self, Body::Keys(KeyringOp::List))
    }

    /// Whether it is a key operation that changes keyrings (it ranks above
    /// a `list` for a place in the pass-on queue).
    fn changes_keys(&self) -> bool {
        matches!(self, Body::Keys(op) if *op != KeyringOp::List)
    }

    fn to_wire(&self) -> pb::query::Body {
        match self {
            Body::Keys(op) => pb::query::Body::Keys(op.to_wire()),
            Body::User(q) => pb::query::Body::User(q.to_wire()),
        }
    }

    /// The key operation, if it is one.
    pub fn keys(&self) -> Option<&KeyringOp> {
        match self {
            Body::Keys(op) => Some(op),
            Body::User(_) => None,
        }
    }
}

/// A query as received.
#[derive(Clone, Debug)]
pub(crate) struct Query {
    pub origin: Name,
    /// The address the origin wrote in it: answers do not go there, but
    /// to the origin's membership address.
    pub origin_addr: SocketAddr,
    pub id: u64,
    pub timeout: Duration,
    pub body: Body,
    /// The origin's query clock when it started the query (0: a version
    /// without the clock).
    pub clock: u64,
    /// The query as it came, to pass on unchanged.
    pub encoded: Bytes,
}

/// Equal queries say the same, however their bytes were laid out.
impl PartialEq for Query {
    fn eq(&self, o: &Query) -> bool {
        (
            &self.origin,
            self.origin_addr,
            self.id,
            self.timeout,
            &self.body,
            self.clock,
        ) == (&o.origin, o.origin_addr, o.id, o.timeout, &o.body, o.clock)
    }
}

impl Eq for Query {}

/// An answer as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub id: u64,
    pub keys: Vec<SecretKeyId>,
    pub refused: Option<String>,
    /// The member's sealing step (`None`: a build that does not say).
    pub sealing: Option<Sealing>,
    /// A user query's answer (then no keys).
    pub user: Option<crate::user_query::Reply>,
}

/// Decodes and validates a `swim.v1.Query` (`field`, a slice of `packet`).
pub(crate) fn decode_query(packet: &Bytes, field: &[u8]) -> Result<Query, DropReason> {
    let q = pb::Query::decode(field).map_err(|_| DropReason::Malformed)?;
    let timeout = Duration::from_millis(q.timeout_ms.into());
    if timeout.is_zero() || timeout > MAX_QUERY_TIMEOUT {
        return Err(DropReason::Invalid);
    }
    let body = match q.body {
        Some(pb::query::Body::Keys(k)) => Body::Keys(KeyringOp::from_wire(&k)?),
        Some(pb::query::Body::User(u)) => Body::User(crate::user_query::UserQuery::from_wire(u)?),
        None => return Err(DropReason::Invalid),
    };
    Ok(Query {
        origin: crate::wire::name(&q.origin)?,
        origin_addr: crate::wire::addr(&q.origin_addr)?,
        id: q.id,
        timeout,
        body,
        clock: q.clock,
        encoded: packet.slice_ref(field),
    })
}

/// Decodes a `swim.v1.Answer`.
pub(crate) fn decode_answer(field: &[u8]) -> Result<Answer, DropReason> {
    let a = pb::Answer::decode(field).map_err(|_| DropReason::Malformed)?;
    match a.body {
        // A step this build does not know is a bad value, not "not said".
        Some(pb::answer::Body::Keys(k))
            if k.keys.len() <= 64 && pb::SealingStep::try_from(k.sealing).is_ok() =>
        {
            Ok(Answer {
                id: a.id,
                keys: k.keys.into_iter().map(SecretKeyId).collect(),
                refused: (!k.error.is_empty()).then_some(k.error),
                sealing: step_from_wire(k.sealing),
                user: None,
            })
        }
        Some(pb::answer::Body::User(u)) => Ok(Answer {
            id: a.id,
            keys: Vec::new(),
            refused: None,
            sealing: None,
            user: Some(crate::user_query::reply_from_wire(u)?),
        }),
        _ => Err(DropReason::Invalid),
    }
}

/// Encodes an answer carrying `keyring`'s keys, `refused` and the sealing
/// step.
pub(crate) fn encode_answer(
    id: u64,
    keyring: &Keyring,
    refused: Option<String>,
    sealing: Sealing,
) -> Vec<u8> {
    pb::Answer {
        id,
        body: Some(pb::answer::Body::Keys(pb::KeyReply {
            keys: keyring.ids().map(|k| k.0).collect(),
            error: refused.unwrap_or_default(),
            sealing: step_to_wire(Some(sealing)) as i32,
        })),
    }
    .encode_to_vec()
}

/// A query this node started and still waits on.
#[derive(Debug)]
struct Open {
    /// Who answered (each counts once).
    answered: std::collections::BTreeSet<Name>,
    /// Who acked (a user query's; each counts once).
    acked: std::collections::BTreeSet<Name>,
}

/// A query remembered as seen.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// When it was seen, in `heard` order.
    order: u64,
    /// Its stamp.
    stamp: u64,
    /// It acts on keys or the sealing step (not a `list`): forgotten, it
    /// raises its origin's floor to its stamp.
    acts: bool,
}

/// A query this node started before it learned the clock: stamped and
/// queued once it has.
#[derive(Clone, Debug)]
struct Held {
    id: u64,
    origin: Name,
    origin_addr: SocketAddr,
    body: Body,
    timeout: Duration,
}

/// How many answers a node holds while their origins are not yet known
/// at the addresses their queries name (see [`Queries::hold_answer`]).
pub(crate) const MAX_UNSENT: usize = 16;

/// How many of those may wait for one origin.
pub(crate) const MAX_UNSENT_PER_ORIGIN: usize = 2;

/// How many probe intervals an answer is held at most (within its query's
/// timeout): news of a restarted member's new address spreads in a few.
pub(crate) const ANSWER_HOLD_PROBES: u32 = 5;

/// An answer held until its query's origin is known at the address the
/// query names: a restarted origin speaks from a new address before every
/// member has heard it moved, and an answer sent to the old one is lost.
#[derive(Clone, Debug)]
pub(crate) struct Unsent {
    pub origin: Name,
    pub origin_addr: SocketAddr,
    /// The encoded answer.
    pub answer: Vec<u8>,
    /// Its origin is a member (at another address than the query names):
    /// a restarted origin, likely. One that is no member at all is likely
    /// made up, and gives up its place to such an answer.
    pub member: bool,
    /// When it stops waiting ([`ANSWER_HOLD_PROBES`] probe intervals, or
    /// the query's timeout if sooner): then it goes to the origin's
    /// membership address, if any, or is dropped.
    pub until: crate::time::Instant,
}

/// Who passed a query on to this node, as the pass-on queue shares it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// This node started it.
    Ours,
    /// A member, in a packet from its membership address.
    Member(SocketAddr),
    /// Anyone else, by source (an insider's ports count as one).
    Source(Source),
}

/// How a query to pass on ranks against others for a place in a full
/// queue: an operation (it changes keyrings, and must arrive) before a
/// `list` (an origin that misses answers lists again); then a member's
/// (its origin at the membership address it names) before a made-up
/// origin's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    acts: bool,
    member: bool,
}

impl Rank {
    /// Above every rank a query can have.
    const TOP: Rank = Rank {
        acts: true,
        member: true,
    };
}

/// An entry of the queue of queries to pass on.
#[derive(Debug)]
struct Queued {
    origin: Name,
    via: Via,
    rank: Rank,
    encoded: Bytes,
    /// How often it went out.
    sent: u32,
}

/// How a query is remembered as seen: its origin, and its id mixed with a
/// digest of its operation and with its clock (as Serf keys its recent
/// queries by Lamport time and id). A process restarted with the same seed
/// and a clock that starts at zero draws the ids its predecessor drew, and
/// peers still remember them; but it learns the cluster's clock before it
/// stamps anything, so its queries carry later clocks: new queries, even
/// the same operation under the same id. (A query stamped again, see
/// [`Queries::restamp`], is a new query too: a member that found both
/// stamps plausible carries it out twice, which a key operation allows,
/// and answers once.)
fn seen_key(origin: &Name, id: u64, body: &Body, clock: u64) -> (Name, u64) {
    // FNV-1a over the operation's wire form and the clock: fixed, so every
    // node agrees.
    let wire = match body {
        Body::Keys(op) => op.to_wire().encode_to_vec(),
        Body::User(q) => q.to_wire().encode_to_vec(),
    };
    let bytes = wire.iter().copied().chain(clock.to_le_bytes());
    let digest = bytes.fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (origin.clone(), id ^ digest)
}

/// What became of a query heard from the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Heard {
    /// New: carry it out (and answer); it is passed on unless `refused`
    /// (its origin, or all origins, had as many queued as a node keeps).
    New { refused: bool },
    /// Seen before: ignored.
    Again,
    /// Stamped before the clock this node learned first, or heard before
    /// it learned the clock at all: ignored.
    Stale,
    /// Stamped more than [`MAX_CLOCK_JUMP`] past this node's clock.
    Implausible,
}

/// The queries a node passes on, has seen and has open.
///
/// A query is known by `(origin, id)`, its id drawn at random from the
/// origin's seeded generator and mixed with when its process started: a
/// restarted origin (a new process under the same name, even one given the
/// same seed) does not reuse the ids its earlier run's queries took, which
/// peers still remember.
#[derive(Debug, Default)]
pub(crate) struct Queries {
    /// Queries remembered so far: the order they were seen in.
    heard: u64,
    /// (origin, id) of queries seen, with when they were seen.
    seen: BTreeMap<(Name, u64), Seen>,
    /// The same, by the order they were seen in (the oldest first).
    by_order: BTreeMap<u64, (Name, u64)>,
    /// How many queries of each origin are remembered.
    per_origin: BTreeMap<Name, usize>,
    /// Queries to pass on.
    queue: Vec<Queued>,
    /// Queries of ours started before the clock was learned.
    held: Vec<Held>,
    /// Queries of ours stamped while the clock was provisional: when a
    /// second peer's clock shows the first was off by more than a jump
    /// (an insider seed's lie), they are stamped again at the new clock,
    /// under the same id (a member that took the first stamp sees the
    /// second as seen; one that found the first implausible takes it).
    provisional_ops: Vec<Held>,
    /// Per origin, the stamp of the latest of its queries forgotten:
    /// its queries stamped at or below are stale.
    floors: BTreeMap<Name, u64>,
    open: BTreeMap<u64, Open>,
    /// The query clock: the stamp of this node's next query, past every
    /// stamp heard.
    clock: u64,
    /// Queries stamped below it are stale here: the clock this node
    /// learned first.
    floor: u64,
    /// Whether this node has learned the clock from a full-state exchange.
    learned: bool,
    /// Where the clock was learned first, while no other peer confirmed it
    /// (`None`: not learned, or confirmed).
    provisional: Option<SocketAddr>,
    /// Answers waiting for their origins (at most [`MAX_UNSENT`]).
    unsent: Vec<Unsent>,
    /// Mixed into every id: drawn from when the process started, so a
    /// process restarted with the same seed (its generator replays the
    /// same ids) does not reuse the ids its earlier run's queries took.
    salt: u64,
}

impl Queries {
    /// The queries of a process started at `started` (see `salt`).
    pub fn new(started: crate::time::Instant) -> Queries {
        // SplitMix64's finaliser: nearby start times give unrelated salts.
        let mut z = started.as_micros().wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Queries {
            salt: z ^ (z >> 31),
            ..Queries::default()
        }
    }

    /// What is mixed into this process's ids (drawn from when it started).
    pub fn salt(&self) -> u64 {
        self.salt
    }

    /// Starts a query from this node: its id and encoding, queued to spread.
    /// Its id is drawn from `rng` (the node's seeded generator). `None` when
    /// [`MAX_OPEN`] queries are open already. Before the clock is learned,
    /// the query is held: stamped and queued once it is.
    pub fn start(
        &mut self,
        origin: &Name,
        origin_addr: SocketAddr,
        body: impl Into<Body>,
        timeout: Duration,
        rng: &mut Random,
    ) -> Option<u64> {
        if self.open.len() >= MAX_OPEN {
            return None;
        }
        let id = loop {
            let id = rng.next_u64() ^ self.salt;
            if id != 0 && !self.open.contains_key(&id) {
                break id;
            }
        };
        self.open.insert(
            id,
            Open {
                answered: Default::default(),
                acked: Default::default(),
            },
        );
        let held = Held {
            id,
            origin: origin.clone(),
            origin_addr,
            body: body.into(),
            timeout,
        };
        if self.learned {
            self.stamp(held);
        } else {
            self.held.push(held);
        }
        Some(id)
    }

    /// Stamps a query of ours with the clock, remembers and queues it.
    fn stamp(&mut self, h: Held) {
        if self.provisional.is_some() {
            self.provisional_ops.push(h.clone());
        }
        let clock = self.clock;
        self.clock = self.clock.saturating_add(1).min(MAX_CLOCK);
        let mut addr = [0u8; 18];
        let len = crate::wire::put_address(h.origin_addr, &mut addr);
        let q = pb::Query {
            origin: Bytes::copy_from_slice(h.origin.as_bytes()),
            origin_addr: Bytes::copy_from_slice(&addr[..len]),
            id: h.id,
            timeout_ms: u32::try_from(h.timeout.as_millis()).unwrap_or(u32::MAX),
            body: Some(h.body.to_wire()),
            clock,
        };
        self.remember(
            seen_key(&h.origin, h.id, &h.body, clock),
            clock,
            h.body.acts(),
        );
        self.queue.push(Queued {
            origin: h.origin,
            via: Via::Ours,
            rank: Rank::TOP,
            encoded: q.encode_to_vec().into(),
            sent: 0,
        });
    }

    /// The query clock, as full-state frames carry it.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// Whether this node has learned the clock (it acts on queries).
    pub fn learned(&self) -> bool {
        self.learned
    }

    /// Stamps and queues the queries held while the clock was unlearned.
    fn release(&mut self) {
        if !self.learned {
            return;
        }
        for h in std::mem::take(&mut self.held) {
            self.stamp(h);
        }
    }

    /// Whether the clock learned first was confirmed by a second peer
    /// (false before it is learned at all).
    pub fn confirmed(&self) -> bool {
        self.learned && self.provisional.is_none()
    }

    /// The peer the clock was learned from while no other confirmed it.
    pub fn provisional_source(&self) -> Option<SocketAddr> {
        self.provisional
    }

    /// A peer's query clock, heard in a full-state exchange with `from`.
    ///
    /// The first one a node learns is also its floor (queries stamped
    /// before it are stale here: they ran before this node joined, or
    /// before it restarted), but provisional: one peer said it, perhaps an
    /// insider. The next, from another peer, confirms it when within
    /// [`MAX_CLOCK_JUMP`] of it; the floor drops to that clock when lower
    /// (it never sits above what any peer said: an insider cannot make a
    /// joiner ignore the cluster's operations as stale). When the two
    /// disagree by more than the jump, one is off: the later is taken as
    /// the clock, still provisional, and the next peer's settles it (an
    /// insider answering every other exchange keeps it unsettled, never
    /// raises the floor). Once confirmed, a clock moves this node's by at
    /// most [`crate::user_event::MAX_EXCHANGE_STEP`] (one further ahead than [`MAX_CLOCK_JUMP`]
    /// is ignored); false when one was ignored as implausible.
    pub fn learn(&mut self, clock: u64, from: SocketAddr) -> bool {
        if clock > MAX_CLOCK {
            return false;
        }
        if !self.learned {
            self.learned = true;
            self.provisional = Some(from);
            self.clock = self.clock.max(clock);
            self.floor = clock;
            self.release();
            return true;
        }
        if let Some(first) = self.provisional.filter(|&first| first != from) {
            // A second peer: the floor never sits above what it says.
            self.floor = self.floor.min(clock);
            let far = clock.saturating_add(MAX_CLOCK_JUMP) < self.clock
                || clock > self.clock.saturating_add(MAX_CLOCK_JUMP);
            if far {
                // The two disagree by more than a jump: one of them is
                // off. The later is taken, still provisional; the next
                // peer settles it.
                tracing::debug!(%first, %from, clock, was = self.clock, "query clocks of two peers disagree: taken provisionally");
                self.clock = clock;
                self.provisional = Some(from);
                self.restamp();
            } else {
                self.provisional = None;
                self.provisional_ops.clear();
                self.clock = self.clock.max(clock);
            }
            return true;
        }
        if clock > self.clock.saturating_add(MAX_CLOCK_JUMP) {
            return false;
        }
        // At most [`crate::user_event::MAX_EXCHANGE_STEP`] an exchange:
        // an insider whose every answer claims a clock a jump ahead would
        // otherwise carry the members it reaches a jump further each
        // time, until the others find their queries implausible. A clock
        // behind the cluster's only stamps our queries lower; theirs are
        // still taken.
        let step = self
            .clock
            .saturating_add(crate::user_event::MAX_EXCHANGE_STEP);
        self.clock = self.clock.max(clock.min(step));
        true
    }

    /// Stamps again, at the clock now taken, our queries stamped on a
    /// provisional clock another peer contradicted (those still open).
    fn restamp(&mut self) {
        let ops = std::mem::take(&mut self.provisional_ops);
        for h in ops {
            if !self.open.contains_key(&h.id) {
                continue;
            }
            // The first stamp stays queued (and remembered) too: a member
            // takes whichever it finds plausible.
            self.stamp(h);
        }
    }

    /// A query heard from the network (see [`Heard`]) in a packet that
    /// found this node's clock at `before` (every query of a packet is
    /// bound against it: chained queries do not walk the clock). A new one
    /// is remembered, moves the clock past its stamp (the queries of one
    /// packet at most [`MAX_PACKET_STEP`] past `before`) and is queued to
    /// pass on when `pass_on` (a node that sends plain never passes a
    /// query on: it may carry a key). `member`: its origin is a member this
    /// node holds at the address the query names. `via`: who passed it on
    /// here, whose share of the queue it takes (see the module doc).
    pub fn heard(
        &mut self,
        q: &Query,
        pass_on: bool,
        before: u64,
        member: bool,
        via: Via,
    ) -> Heard {
        if !self.learned || q.clock < self.floor {
            return Heard::Stale;
        }
        if self.floors.get(&q.origin).is_some_and(|&f| q.clock <= f) {
            // At or before a query of its origin this node forgot.
            return Heard::Stale;
        }
        if q.clock > before.saturating_add(MAX_CLOCK_JUMP) || q.clock >= MAX_CLOCK {
            return Heard::Implausible;
        }
        let key = seen_key(&q.origin, q.id, &q.body, q.clock);
        if self.seen.contains_key(&key) {
            return Heard::Again;
        }
        let step = before.saturating_add(MAX_PACKET_STEP);
        self.clock = self.clock.max(q.clock.saturating_add(1).min(step));
        self.remember(key, q.clock, q.body.acts());
        if !pass_on {
            return Heard::New { refused: false };
        }
        let rank = Rank {
            acts: q.body.changes_keys(),
            member,
        };
        let of_via = self.queue.iter().filter(|e| e.via == via).count();
        let of_origin = (self.queue.iter())
            .filter(|e| e.via == via && e.origin == q.origin)
            .count();
        let full_origin = of_origin >= MAX_QUEUED_PER_ORIGIN;
        let room = if of_via >= MAX_QUEUED_PER_VIA || full_origin {
            // Its relay's share is taken: one of its lower rank (of the
            // same origin, if that origin's is taken) makes room.
            self.lowest(Some(rank), |e| {
                e.via == via && (!full_origin || e.origin == q.origin)
            })
            .map(Some)
        } else if self.queue.len() >= MAX_QUEUED {
            self.victim(of_via, rank).map(Some)
        } else {
            Some(None)
        };
        let Some(victim) = room else {
            return Heard::New { refused: true };
        };
        if let Some(i) = victim {
            self.queue.remove(i);
        }
        self.queue.push(Queued {
            origin: q.origin.clone(),
            via,
            rank,
            encoded: q.encoded.clone(),
            sent: 0,
        });
        Heard::New { refused: false }
    }

    /// In a full queue, the entry a query of `rank` passed on by a relay
    /// holding `of_via` entries evicts: one of the relay holding most, if
    /// that is more than its own relay would hold with it; else one of
    /// lower rank (see [`Queries::lowest`]).
    fn victim(&self, of_via: usize, rank: Rank) -> Option<usize> {
        let count = |v: Via| self.queue.iter().filter(|e| e.via == v).count();
        // The relay holding most; ties go to the one queued first (the
        // queue is at most MAX_QUEUED long: quadratic is a few hundred
        // comparisons).
        let mut top: Option<(Via, usize)> = None;
        for e in self.queue.iter().filter(|e| e.via != Via::Ours) {
            let c = count(e.via);
            if top.is_none_or(|(_, best)| c > best) {
                top = Some((e.via, c));
            }
        }
        match top {
            Some((v, c)) if c > of_via + 1 => self.lowest(None, |e| e.via == v),
            _ => self.lowest(Some(rank), |_| true),
        }
    }

    /// Of the queued entries (not ours) that `which` picks and rank below
    /// `below` (any, if `None`), the lowest, and of those the one sent most.
    fn lowest(&self, below: Option<Rank>, which: impl Fn(&Queued) -> bool) -> Option<usize> {
        (self.queue.iter().enumerate())
            .filter(|(_, e)| e.via != Via::Ours && below.is_none_or(|r| e.rank < r) && which(e))
            .min_by_key(|(_, e)| (e.rank, core::cmp::Reverse(e.sent)))
            .map(|(i, _)| i)
    }

    /// Remembers query `key`. A full table forgets the query seen first
    /// (of the same origin, when that origin has as many as one may).
    fn remember(&mut self, key: (Name, u64), stamp: u64, acts: bool) {
        let of_origin = self.per_origin.get(&key.0).copied().unwrap_or(0);
        if of_origin >= MAX_SEEN_PER_ORIGIN {
            // Its oldest list goes first: lists (anyone's, forged under
            // the origin's name) must not push out its operations, whose
            // forgetting raises its floor.
            let oldest = self
                .seen
                .range((key.0.clone(), 0)..=(key.0.clone(), u64::MAX))
                .min_by_key(|(_, s)| (s.acts, s.order))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.forget(&k);
            }
        }
        while self.seen.len() >= MAX_SEEN {
            let Some((_, k)) = self.by_order.first_key_value() else {
                break;
            };
            let k = k.clone();
            self.forget(&k);
        }
        self.heard += 1;
        let order = self.heard;
        *self.per_origin.entry(key.0.clone()).or_insert(0) += 1;
        self.by_order.insert(order, key.clone());
        self.seen.insert(key, Seen { order, stamp, acts });
    }

    fn forget(&mut self, key: &(Name, u64)) {
        let Some(s) = self.seen.remove(key) else {
            return;
        };
        self.by_order.remove(&s.order);
        // Forgetting an operation does not forget that it ran: its
        // origin's queries stamped at or before it are stale from now on.
        // (Not for a `list`: replayed, it changes nothing, and an insider
        // forging a member's lists stamped past that member's clock must
        // not make the member's own queries stale.)
        if s.acts {
            // No higher than this node's own clock: an insider's forged
            // operation stamped far ahead must not make the origin's
            // next real ones stale.
            let stamp = s.stamp.min(self.clock);
            let floor = self.floors.entry(key.0.clone()).or_insert(0);
            *floor = (*floor).max(stamp);
        }
        if self.floors.len() > MAX_FLOORS {
            // The lowest floor goes (an insider can fill the table, but
            // could forge the queries it would stop a replay of anyway).
            let lowest = (self.floors.iter())
                .filter(|(o, _)| **o != key.0)
                .min_by_key(|(_, f)| **f)
                .map(|(o, _)| o.clone());
            if let Some(o) = lowest {
                self.floors.remove(&o);
            }
        }
        if let Some(n) = self.per_origin.get_mut(&key.0) {
            *n -= 1;
            if *n == 0 {
                self.per_origin.remove(&key.0);
            }
        }
    }

    /// An answer from `from`: true when it answers an open query of ours
    /// and is the first from that member.
    pub fn answered(&mut self, id: u64, from: &Name) -> bool {
        let Some(open) = self.open.get_mut(&id) else {
            return false;
        };
        open.answered.insert(from.clone())
    }

    /// An ack from `from`: true when it acks an open query of ours and is
    /// the first from that member.
    pub fn acked(&mut self, id: u64, from: &Name) -> bool {
        let Some(open) = self.open.get_mut(&id) else {
            return false;
        };
        open.acked.insert(from.clone())
    }

    /// A query's time is up: who answered, and who acked.
    pub fn finish(&mut self, id: u64) -> Option<(Vec<Name>, Vec<Name>)> {
        self.held.retain(|h| h.id != id);
        self.provisional_ops.retain(|h| h.id != id);
        (self.open.remove(&id)).map(|o| {
            (
                o.answered.into_iter().collect(),
                o.acked.into_iter().collect(),
            )
        })
    }

    /// Holds an answer until its origin is known at the address its query
    /// names; false (not held) when [`MAX_UNSENT_PER_ORIGIN`] wait for its
    /// origin, or [`MAX_UNSENT`] are held already and none gives up its
    /// place: an answer whose origin is a member takes
    /// the place of the oldest whose origin is none (queries of made-up
    /// origins cannot crowd out a restarted member's).
    pub fn hold_answer(&mut self, unsent: Unsent) -> bool {
        // A restarted origin needs one or two: queries naming a real
        // member at made-up addresses cannot take every place.
        let same = (self.unsent.iter())
            .filter(|u| u.origin == unsent.origin)
            .count();
        if same >= MAX_UNSENT_PER_ORIGIN {
            return false;
        }
        if self.unsent.len() >= MAX_UNSENT {
            let stranger = self.unsent.iter().position(|u| !u.member);
            match stranger {
                Some(i) if unsent.member => {
                    self.unsent.remove(i);
                }
                _ => return false,
            }
        }
        self.unsent.push(unsent);
        true
    }

    /// Whether answers are held.
    pub fn holds_answers(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// Takes the held answers that `ready` (true: send it now) or whose
    /// time is up at `now`, in the order they were held.
    pub fn take_answers(
        &mut self,
        now: crate::time::Instant,
        mut ready: impl FnMut(&Unsent) -> bool,
    ) -> Vec<(Unsent, bool)> {
        let mut out = Vec::new();
        self.unsent.retain(|u| {
            let go = ready(u);
            if go || u.until <= now {
                out.push((u.clone(), go));
                false
            } else {
                true
            }
        });
        out
    }

    /// Queries waiting to spread (held ones included).
    pub fn pending(&self) -> usize {
        self.queue.len() + self.held.len()
    }

    /// Forgets the queries waiting to spread (the node stopped sealing:
    /// they must not go out plain, nor later, stale).
    pub fn drop_queue(&mut self) {
        self.queue.clear();
        self.held.clear();
        self.provisional_ops.clear();
    }

    /// Writes queued queries that fit in `budget` bytes through `out` (ours
    /// and operations before lists), each sent at most `limit` times;
    /// returns how many were written.
    pub fn take(
        &mut self,
        mut budget: usize,
        limit: u32,
        frame: impl Fn(usize) -> usize,
        mut out: impl FnMut(&[u8]),
    ) -> usize {
        let mut n = 0;
        // Ours and operations first, then lists (the queue's order within).
        let (first, rest): (Vec<_>, Vec<_>) =
            (self.queue.iter_mut()).partition(|e| e.via == Via::Ours || e.rank.acts);
        for e in first.into_iter().chain(rest) {
            let size = frame(e.encoded.len());
            if size <= budget {
                budget -= size;
                out(&e.encoded);
                e.sent += 1;
                n += 1;
            }
        }
        self.queue.retain(|e| e.sent < limit);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Queries {
        /// A query heard alone in its packet, from a made-up origin.
        fn hear(&mut self, q: &Query) -> Heard {
            let before = self.clock();
            self.heard(q, true, before, false, Via::Source(Source::of(peer(1))))
        }
    }

    /// Queries that learned the clock (0) from a peer, confirmed by another.
    fn learned() -> Queries {
        let mut q = Queries::default();
        q.learn(0, peer(9));
        q.learn(0, peer(8));
        q
    }

    fn peer(i: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, i], 7946))
    }

    fn origin() -> (Name, SocketAddr) {
        (Name::from("a"), SocketAddr::from(([10, 0, 0, 1], 7946)))
    }

    #[test]
    fn a_query_round_trips_spreads_a_bounded_number_of_times_and_is_seen_once() {
        let (name, addr) = origin();
        let mut mine = learned();
        let op = KeyringOp::Install(SecretKey::new([3; 32]));
        let id = mine
            .start(
                &name,
                addr,
                &op,
                Duration::from_secs(5),
                &mut Random::new(1),
            )
            .unwrap();
        let mut wire = Vec::new();
        assert_eq!(mine.take(1400, 2, |n| n + 2, |q| wire.push(q.to_vec())), 1);
        assert_eq!(mine.take(1400, 2, |n| n + 2, |_| {}), 1);
        assert_eq!(mine.pending(), 0);
        let packet = Bytes::from(wire.remove(0));
        let q = decode_query(&packet, &packet).unwrap();
        assert_eq!(
            (q.origin, q.origin_addr, q.id, q.body),
            (name.clone(), addr, id, Body::Keys(op))
        );
        assert_eq!(q.clock, 0, "the first query of a new clock");
        let mut theirs = Queries::default();
        let q = decode_query(&packet, &packet).unwrap();
        assert_eq!(
            theirs.hear(&q),
            Heard::Stale,
            "the clock is not learned yet"
        );
        theirs.learn(0, peer(1));
        assert_eq!(theirs.hear(&q), Heard::New { refused: false });
        assert_eq!(theirs.hear(&q), Heard::Again);
        assert_eq!(theirs.clock(), 1, "moved past the query's stamp");
        assert!(mine.answered(id, &Name::from("b")));
        assert!(!mine.answered(id, &Name::from("b")));
        assert!(!mine.answered(id + 1, &Name::from("b")));
        assert_eq!(mine.finish(id).map(|(a, _)| a.len()), Some(1));
        assert_eq!(mine.finish(id), None);
    }

    #[test]
    fn bad_queries_are_invalid() {
        let (name, addr) = origin();
        let mut q = learned();
        let mut rng = Random::new(1);
        q.start(
            &name,
            addr,
            &KeyringOp::List,
            Duration::from_secs(1),
            &mut rng,
        );
        let mut good = Vec::new();
        q.take(1400, 1, |n| n, |b| good = b.to_vec());
        let mut wire = pb::Query::decode(&good[..]).unwrap();
        wire.timeout_ms = 0;
        let bad = Bytes::from(wire.encode_to_vec());
        assert_eq!(decode_query(&bad, &bad).unwrap_err(), DropReason::Invalid);
        wire.timeout_ms = 1000;
        wire.body = Some(pb::query::Body::Keys(pb::KeyOp {
            op: 1,
            key: Bytes::from_static(b"short"),
            ..Default::default()
        }));
        let bad = Bytes::from(wire.encode_to_vec());
        assert_eq!(decode_query(&bad, &bad).unwrap_err(), DropReason::Invalid);
        for _ in 0..MAX_OPEN - 1 {
            q.start(
                &name,
                addr,
                &KeyringOp::List,
                Duration::from_secs(1),
                &mut rng,
            )
            .unwrap();
        }
        assert!(q
            .start(
                &name,
                addr,
                &KeyringOp::List,
                Duration::from_secs(1),
                &mut rng,
            )
            .is_none());
    }

    /// The sealing operation on the wire: `send` and `require` round
    /// trip; `accept`, an unknown step and a missing one are bad values
    /// (the packet is dropped as invalid). Answers carry the member's step,
    /// or none from a build that does not say; an unknown one is invalid.
    #[test]
    fn the_sealing_operation_and_the_step_in_answers_round_trip() {
        let (name, addr) = origin();
        let t = Duration::from_secs(1);
        let mut rng = Random::new(1);
        for step in [Sealing::Send, Sealing::Require] {
            let mut q = learned();
            let op = KeyringOp::Sealing(step);
            q.start(&name, addr, &op, t, &mut rng).unwrap();
            let mut wire = Vec::new();
            q.take(1400, 1, |n| n, |b| wire = b.to_vec());
            let b = Bytes::from(wire);
            assert_eq!(decode_query(&b, &b).unwrap().body, Body::Keys(op));
        }
        let mut q = learned();
        let op = KeyringOp::Sealing(Sealing::Require);
        q.start(&name, addr, &op, t, &mut rng).unwrap();
        let mut good = Vec::new();
        q.take(1400, 1, |n| n, |b| good = b.to_vec());
        let good = pb::Query::decode(&good[..]).unwrap();
        for bad in [
            pb::SealingStep::SealingAccept as i32,
            pb::SealingStep::SealingUnknown as i32,
            99,
            -1,
        ] {
            let mut wire = good.clone();
            wire.body = Some(pb::query::Body::Keys(pb::KeyOp {
                op: pb::key_op::Op::Sealing as i32,
                sealing: bad,
                ..Default::default()
            }));
            let b = Bytes::from(wire.encode_to_vec());
            assert_eq!(
                decode_query(&b, &b).unwrap_err(),
                DropReason::Invalid,
                "step {bad}"
            );
        }
        // An unknown operation (a later build's) is invalid too.
        let mut wire = good.clone();
        wire.body = Some(pb::query::Body::Keys(pb::KeyOp {
            op: 17,
            ..Default::default()
        }));
        let b = Bytes::from(wire.encode_to_vec());
        assert_eq!(decode_query(&b, &b).unwrap_err(), DropReason::Invalid);

        let mut ring = Keyring::default();
        ring.install(SecretKey::new([3; 32]));
        for step in [Sealing::Accept, Sealing::Send, Sealing::Require] {
            let a = decode_answer(&encode_answer(7, &ring, None, step)).unwrap();
            assert_eq!(a.sealing, Some(step));
            assert_eq!(a.keys, vec![SecretKey::new([3; 32]).id()]);
        }
        // An older build's answer: no step.
        let old = pb::Answer {
            id: 7,
            body: Some(pb::answer::Body::Keys(pb::KeyReply {
                keys: vec![1],
                ..Default::default()
            })),
        };
        assert_eq!(decode_answer(&old.encode_to_vec()).unwrap().sealing, None);
        let mut bad = old.clone();
        if let Some(pb::answer::Body::Keys(k)) = &mut bad.body {
            k.sealing = 42;
        }
        assert_eq!(
            decode_answer(&bad.encode_to_vec()).unwrap_err(),
            DropReason::Invalid
        );
    }

    fn acting(origin: &str, id: u64, clock: u64) -> Query {
        Query {
            body: Body::Keys(KeyringOp::Remove(SecretKeyId(7))),
            ..query(origin, id, clock)
        }
    }

    fn query(origin: &str, id: u64, clock: u64) -> Query {
        Query {
            origin: Name::from(origin),
            origin_addr: SocketAddr::from(([10, 0, 0, 1], 7946)),
            id,
            timeout: MAX_QUERY_TIMEOUT,
            body: Body::Keys(KeyringOp::List),
            clock,
            encoded: Bytes::new(),
        }
    }

    fn is_new(h: Heard) -> bool {
        matches!(h, Heard::New { .. })
    }

    /// A full table forgets its oldest entry and never refuses a new
    /// query, but forgetting a query does not forget that it ran: its
    /// origin's floor rises to its stamp, so a replay of it is stale. One
    /// origin keeps at most its share of the table; what is passed on is
    /// bounded per origin and in all.
    #[test]
    fn a_full_table_forgets_its_oldest_query_and_takes_every_new_one() {
        let mut q = Queries::default();
        q.learn(0, peer(1));
        for id in 1..=MAX_SEEN as u64 + 10 {
            let origin = format!("o{}", id % 16);
            assert!(
                is_new(q.hear(&acting(&origin, id, id))),
                "query {id} refused"
            );
        }
        assert_eq!(q.seen.len(), MAX_SEEN);
        assert_eq!(q.by_order.len(), MAX_SEEN);
        assert_eq!(
            q.hear(&acting("o1", 1, 1)),
            Heard::Stale,
            "the oldest is forgotten, not that it ran"
        );
        let last = MAX_SEEN as u64 + 10;
        assert_eq!(
            q.hear(&acting(&format!("o{}", last % 16), last, last)),
            Heard::Again
        );
        assert!(is_new(q.hear(&query("o1", 5_000, last + 1))));
        assert!(q.queue.len() <= MAX_QUEUED);
        // One origin: its own oldest goes first, the others' stay.
        let mut q = Queries::default();
        q.learn(0, peer(1));
        assert!(is_new(q.hear(&query("other", 1, 0))));
        for id in 1..=MAX_SEEN_PER_ORIGIN as u64 + 5 {
            let h = q.hear(&acting("flood", id, id));
            let refused = id > MAX_QUEUED_PER_ORIGIN as u64;
            assert_eq!(h, Heard::New { refused }, "query {id}");
        }
        assert_eq!(q.per_origin[&Name::from("flood")], MAX_SEEN_PER_ORIGIN);
        assert_eq!(q.hear(&query("other", 1, 0)), Heard::Again);
        assert_eq!(
            q.hear(&acting("flood", 1, 1)),
            Heard::Stale,
            "forgotten first"
        );
        assert_eq!(q.floors[&Name::from("flood")], 5);
        // A forgotten `list` raises no floor.
        let mut q = learned();
        for id in 1..=MAX_SEEN_PER_ORIGIN as u64 + 1 {
            assert!(is_new(q.hear(&query("lists", id, 100 + id))));
        }
        assert!(q.floors.is_empty());
        assert!(is_new(q.hear(&query("lists", 1_000, 0))));
    }

    /// A relay, for [`Queries::heard`].
    fn relay(i: u8) -> Via {
        Via::Source(Source::of(peer(i)))
    }

    /// The pass-on queue is shared by relay: one relay's flood, under any
    /// origins, takes at most its share; a relay holding less makes room
    /// by evicting from the one holding most; among equals, a member's
    /// query evicts a made-up origin's. Ours are never evicted.
    #[test]
    fn the_pass_on_queue_is_shared_by_relay() {
        let mut q = learned();
        let c = q.clock();
        let mut id = 0;
        let mut hear = |q: &mut Queries, origin: &str, member: bool, via: Via| {
            id += 1;
            q.heard(&query(origin, id, 0), true, c, member, via)
        };
        let ok = Heard::New { refused: false };
        let refused = Heard::New { refused: true };
        // One relay: 4 per origin, 8 in all, whatever the origins.
        for k in 0..MAX_QUEUED_PER_VIA {
            let o = format!("forged-{}", k / MAX_QUEUED_PER_ORIGIN);
            assert_eq!(hear(&mut q, &o, true, relay(66)), ok);
        }
        assert_eq!(hear(&mut q, "forged-9", true, relay(66)), refused);
        assert_eq!(hear(&mut q, "forged-0", true, relay(3)), ok);
        // Fill the queue: relays 2, 4 and 5 hold 7, 8 and 8 beside relay
        // 66's 8 and relay 3's one.
        for k in 0..7 {
            assert_eq!(hear(&mut q, &format!("a{}", k % 2), false, relay(2)), ok);
        }
        for k in 0..8 {
            assert_eq!(hear(&mut q, &format!("b{}", k % 2), false, relay(4)), ok);
        }
        for k in 0..8 {
            assert_eq!(hear(&mut q, &format!("c{}", k % 2), false, relay(5)), ok);
        }
        assert_eq!(q.queue.len(), MAX_QUEUED);
        // A relay holding one: the first relay holding most (66) gives up
        // one of its own.
        assert_eq!(hear(&mut q, "real", true, relay(3)), ok);
        assert_eq!(q.queue.len(), MAX_QUEUED);
        let held = |q: &Queries, v: Via| q.queue.iter().filter(|e| e.via == v).count();
        assert_eq!((held(&q, relay(66)), held(&q, relay(3))), (7, 2));
        // Equal shares: a made-up origin's query is refused, a member's
        // evicts a made-up origin's.
        let mut q = learned();
        for r in 0..8u8 {
            for k in 0..4 {
                assert_eq!(
                    hear(&mut q, &format!("ghost-{r}-{k}"), false, relay(10 + r)),
                    ok
                );
            }
        }
        assert_eq!(hear(&mut q, "ghost-x", false, relay(10)), refused);
        assert_eq!(hear(&mut q, "member", true, relay(10)), ok);
        assert_eq!(q.queue.len(), MAX_QUEUED);
        assert_eq!(q.queue.iter().filter(|e| e.rank.member).count(), 1);
    }

    /// Chained queries of one packet are bound against the clock before
    /// it, and move it at most [`MAX_PACKET_STEP`] (a query further ahead
    /// is still carried out).
    #[test]
    fn the_queries_of_one_packet_move_the_clock_a_bounded_step() {
        let mut q = Queries::default();
        q.learn(0, peer(1));
        let before = q.clock();
        let a = query("g1", 1, MAX_CLOCK_JUMP - 1);
        assert!(is_new(q.heard(&a, true, before, false, relay(1))));
        assert_eq!(q.clock(), MAX_PACKET_STEP);
        let b = query("g2", 2, 2 * MAX_CLOCK_JUMP);
        assert_eq!(
            q.heard(&b, true, before, false, relay(1)),
            Heard::Implausible
        );
        assert_eq!(q.clock(), MAX_PACKET_STEP);
    }

    /// The first clock learned is provisional: another peer lowers the
    /// floor to its clock, and replaces a first clock implausibly far
    /// ahead (provisionally); a peer within the jump confirms it; the same
    /// peer again confirms nothing.
    #[test]
    fn a_first_clock_is_confirmed_by_a_second_peer() {
        let mut q = Queries::default();
        assert!(q.learn((1 << 48) - 1, peer(66)));
        assert!(!q.confirmed());
        assert!(q.learn(0, peer(66)), "the same peer");
        assert!(!q.confirmed());
        assert!(q.learn(12, peer(2)));
        assert!(!q.confirmed());
        assert_eq!((q.clock(), q.floor), (12, 12));
        assert!(is_new(q.hear(&query("a", 1, 12))));
        assert!(q.learn(12, peer(3)));
        assert!(q.confirmed());
        assert_eq!((q.clock(), q.floor), (13, 12));
        // A seed's clock far below the cluster's: the next peer's is
        // taken, provisionally; a third agreeing settles it.
        let mut q = Queries::default();
        let cluster = 3 * MAX_CLOCK_JUMP;
        q.learn(0, peer(66));
        assert!(q.learn(cluster, peer(2)));
        assert_eq!((q.clock(), q.floor, q.confirmed()), (cluster, 0, false));
        assert!(q.learn(cluster + 1, peer(3)));
        assert_eq!((q.clock(), q.confirmed()), (cluster + 1, true));
        assert!(
            !q.learn(cluster + 2 * MAX_CLOCK_JUMP, peer(4)),
            "confirmed: bounded"
        );
        // A seed's low first clock: the second cannot raise the floor, and
        // moves the clock at most the jump.
        let mut q = Queries::default();
        q.learn(100, peer(1));
        q.learn(90, peer(2));
        assert_eq!((q.clock(), q.floor), (100, 90));
    }

    /// A query started before the clock is learned is held, then stamped
    /// with the clock learned.
    /// The stamps of the queries queued, in queue order.
    fn queued_stamps(q: &mut Queries) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        q.take(
            usize::MAX,
            1,
            |n| n,
            |b| {
                let b = Bytes::copy_from_slice(b);
                let d = decode_query(&b, &b).unwrap();
                out.push((d.id, d.clock));
            },
        );
        out
    }

    #[test]
    fn an_operation_stamped_on_a_contradicted_first_clock_is_stamped_again() {
        let (name, addr) = origin();
        let t = Duration::from_secs(5);
        let op = KeyringOp::Remove(crate::seal::SecretKeyId(7));
        // An insider seed's far clock first: the operation goes out at it,
        // then again at the clock the next peer gives.
        let mut q = Queries::default();
        let id = q.start(&name, addr, &op, t, &mut Random::new(1)).unwrap();
        let lie = 1 << 40;
        q.learn(lie, peer(66));
        q.learn(5, peer(2));
        assert_eq!(queued_stamps(&mut q), [(id, lie), (id, 5)]);
        assert_eq!(q.clock(), 6);
        // The third peer agrees: nothing more is stamped.
        q.learn(5, peer(3));
        assert!(q.confirmed());
        assert_eq!(queued_stamps(&mut q), []);
        // Close clocks confirm the first: stamped once.
        let mut q = Queries::default();
        let id = q.start(&name, addr, &op, t, &mut Random::new(1)).unwrap();
        q.learn(5, peer(1));
        q.learn(6, peer(2));
        assert_eq!(queued_stamps(&mut q), [(id, 5)]);
        // A finished operation is not stamped again.
        let mut q = Queries::default();
        let id = q.start(&name, addr, &op, t, &mut Random::new(1)).unwrap();
        q.learn(lie, peer(66));
        q.finish(id);
        q.learn(5, peer(2));
        assert_eq!(queued_stamps(&mut q), [(id, lie)]);
    }

    #[test]
    fn a_query_started_before_the_clock_is_learned_is_held() {
        let (name, addr) = origin();
        let mut q = Queries::default();
        let mut rng = Random::new(1);
        let t = Duration::from_secs(5);
        let id = q.start(&name, addr, &KeyringOp::List, t, &mut rng).unwrap();
        assert_eq!((q.queue.len(), q.held.len()), (0, 1));
        q.learn(40, peer(1));
        let mut wire = Vec::new();
        q.take(1400, 1, |n| n, |b| wire = b.to_vec());
        let b = Bytes::from(wire);
        let sent = decode_query(&b, &b).unwrap();
        assert_eq!((sent.id, sent.clock), (id, 40));
        assert_eq!(q.clock(), 41);
    }

    /// The query clock: a node acts on nothing before it learned the clock;
    /// then ignores queries stamped before the first clock it learned (a
    /// replay after a restart), and stamps far ahead of its own.
    #[test]
    fn the_query_clock_orders_queries_and_bounds_jumps() {
        let mut q = Queries::default();
        assert_eq!(q.hear(&query("a", 1, 5)), Heard::Stale);
        assert!(q.learn(10, peer(1)));
        assert_eq!(q.hear(&query("a", 1, 9)), Heard::Stale, "before the floor");
        assert!(is_new(q.hear(&query("a", 2, 10))));
        assert_eq!(q.clock(), 11);
        assert!(q.learn(8, peer(1)), "an older clock moves nothing");
        assert_eq!(q.clock(), 11);
        let far = 11 + MAX_CLOCK_JUMP + 1;
        assert_eq!(q.hear(&query("a", 3, far)), Heard::Implausible);
        assert!(!q.learn(far, peer(1)));
        assert!(q.learn(far - 1, peer(1)));
        let step = crate::user_event::MAX_EXCHANGE_STEP;
        assert_eq!(q.clock(), 11 + step, "an exchange moves it a step at most");
        assert!(is_new(q.hear(&query("a", 4, far))), "still plausible");
        assert!(!Queries::default().learn(MAX_CLOCK + 1, peer(1)));
        assert!(q.learn(far - 1, peer(2)), "confirmed");
        assert_eq!(q.clock(), far - 1, "a second peer confirms within the jump");
        let (name, addr) = origin();
        let t = Duration::from_secs(1);
        let mut rng = Random::new(1);
        q.start(&name, addr, &KeyringOp::List, t, &mut rng).unwrap();
        assert_eq!(q.clock(), far, "a query of ours moves the clock on");
    }

    #[test]
    fn query_ids_are_drawn_from_the_seed_and_the_start_time() {
        let (name, addr) = origin();
        let ids_at = |seed, started: u64| {
            let mut q = Queries::new(crate::time::Instant::from_millis(started));
            let mut rng = Random::new(seed);
            (0..3)
                .map(|_| {
                    let t = Duration::from_secs(1);
                    q.start(&name, addr, &KeyringOp::List, t, &mut rng).unwrap()
                })
                .collect::<Vec<_>>()
        };
        let ids = |seed| ids_at(seed, 0);
        assert_eq!(ids(1), ids(1));
        assert_ne!(ids(1), ids(2));
        assert!(ids(1).iter().all(|&id| id > 3));
        // The same seed restarted a millisecond later: other ids.
        let (a, b) = (ids_at(1, 5_000), ids_at(1, 5_001));
        assert!(a.iter().all(|id| !b.contains(id)), "{a:?} {b:?}");
    }
}
