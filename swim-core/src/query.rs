//! Queries: a request to every member, answered to its origin (Serf's
//! query). A query spreads by gossip like a membership update (each node
//! passes it on a bounded number of times and ignores it when it comes
//! again); every member that hears it answers with one datagram straight
//! to the origin, which reports each answer as an event and, at the
//! query's timeout, how many answered.
//!
//! Cluster key operations are the first queries: `install`, `use`,
//! `remove` and `list` act on every member's keyring. They travel only
//! sealed, and a member acts on them only when the packet carrying them
//! opened under one of its keys, so a key never crosses the wire in the
//! clear. Whether every member answered (and so whether `use` is safe) is
//! the caller's to judge from the answers; the agent refuses `use` unless
//! every live member reported holding the key.

use crate::name::Name;
use crate::seal::{Keyring, KeyringError, SecretKey, SecretKeyId};
use crate::time::Instant;
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

/// Queries a node may have open (waiting for answers) at once.
pub(crate) const MAX_OPEN: usize = 16;

/// A cluster key operation (see the module doc).
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
}

impl KeyringOp {
    /// Carries out the operation on `keyring`; whether it changed.
    pub(crate) fn apply(&self, keyring: &mut Keyring) -> Result<bool, KeyringError> {
        match self {
            KeyringOp::List => Ok(false),
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
        let (op, key, key_id) = match self {
            KeyringOp::List => (Op::List, Bytes::new(), 0),
            KeyringOp::Install(k) => (Op::Install, Bytes::copy_from_slice(k.as_bytes()), 0),
            KeyringOp::Use(id) => (Op::Use, Bytes::new(), id.0),
            KeyringOp::Remove(id) => (Op::Remove, Bytes::new(), id.0),
        };
        pb::KeyOp {
            op: op as i32,
            key,
            key_id,
        }
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
        })
    }
}

/// A query as received.
#[derive(Clone, Debug)]
pub(crate) struct Query {
    pub origin: Name,
    pub origin_addr: SocketAddr,
    pub id: u64,
    pub timeout: Duration,
    pub op: KeyringOp,
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
            &self.op,
        ) == (&o.origin, o.origin_addr, o.id, o.timeout, &o.op)
    }
}

impl Eq for Query {}

/// An answer as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub id: u64,
    pub keys: Vec<SecretKeyId>,
    pub refused: Option<String>,
}

/// Decodes and validates a `swim.v1.Query` (`field`, a slice of `packet`).
pub(crate) fn decode_query(packet: &Bytes, field: &[u8]) -> Result<Query, DropReason> {
    let q = pb::Query::decode(field).map_err(|_| DropReason::Malformed)?;
    let timeout = Duration::from_millis(q.timeout_ms.into());
    if timeout.is_zero() || timeout > MAX_QUERY_TIMEOUT {
        return Err(DropReason::Invalid);
    }
    let op = match &q.body {
        Some(pb::query::Body::Keys(k)) => KeyringOp::from_wire(k)?,
        None => return Err(DropReason::Invalid),
    };
    Ok(Query {
        origin: crate::wire::name(&q.origin)?,
        origin_addr: crate::wire::addr(&q.origin_addr)?,
        id: q.id,
        timeout,
        op,
        encoded: packet.slice_ref(field),
    })
}

/// Decodes a `swim.v1.Answer`.
pub(crate) fn decode_answer(field: &[u8]) -> Result<Answer, DropReason> {
    let a = pb::Answer::decode(field).map_err(|_| DropReason::Malformed)?;
    match a.body {
        Some(pb::answer::Body::Keys(k)) if k.keys.len() <= 64 => Ok(Answer {
            id: a.id,
            keys: k.keys.into_iter().map(SecretKeyId).collect(),
            refused: (!k.error.is_empty()).then_some(k.error),
        }),
        _ => Err(DropReason::Invalid),
    }
}

/// Encodes an answer carrying `keyring`'s keys and `refused`.
pub(crate) fn encode_answer(id: u64, keyring: &Keyring, refused: Option<String>) -> Vec<u8> {
    pb::Answer {
        id,
        body: Some(pb::answer::Body::Keys(pb::KeyReply {
            keys: keyring.ids().map(|k| k.0).collect(),
            error: refused.unwrap_or_default(),
        })),
    }
    .encode_to_vec()
}

/// A query this node started and still waits on.
#[derive(Debug)]
struct Open {
    /// Who answered (each counts once).
    answered: Vec<Name>,
}

/// The queries a node passes on, has seen and has open.
///
/// A query is known by `(origin, id)`, its id drawn at random from the
/// origin's seeded generator: a restarted origin (a new process under the
/// same name) does not reuse the ids its old life's queries took, which
/// peers still remember.
#[derive(Debug, Default)]
pub(crate) struct Queries {
    /// Queries remembered so far: the order they were seen in.
    heard: u64,
    /// (origin, id) of queries seen: until when they are remembered, and
    /// when (in `heard` order) they were seen.
    seen: BTreeMap<(Name, u64), (Instant, u64)>,
    /// Queries to pass on: the encoded query and how often it went out.
    queue: Vec<(Bytes, u32)>,
    open: BTreeMap<u64, Open>,
}

impl Queries {
    /// Starts a query from this node: its id and encoding, queued to spread.
    /// Its id is drawn from `rng` (the node's seeded generator). `None` when
    /// [`MAX_OPEN`] queries are open already.
    pub fn start(
        &mut self,
        origin: &Name,
        origin_addr: SocketAddr,
        op: &KeyringOp,
        timeout: Duration,
        now: Instant,
        rng: &mut Random,
    ) -> Option<u64> {
        if self.open.len() >= MAX_OPEN {
            return None;
        }
        let id = loop {
            let id = rng.next_u64();
            if id != 0 && !self.open.contains_key(&id) {
                break id;
            }
        };
        let mut addr = [0u8; 18];
        let len = crate::wire::put_address(origin_addr, &mut addr);
        let q = pb::Query {
            origin: Bytes::copy_from_slice(origin.as_bytes()),
            origin_addr: Bytes::copy_from_slice(&addr[..len]),
            id,
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
            body: Some(pb::query::Body::Keys(op.to_wire())),
            clock: 0,
        };
        self.remember((origin.clone(), id), now + timeout, now);
        self.queue.push((q.encode_to_vec().into(), 0));
        self.open.insert(
            id,
            Open {
                answered: Vec::new(),
            },
        );
        Some(id)
    }

    /// A query heard: true the first time (then it is queued to pass on).
    pub fn heard(&mut self, q: &Query, now: Instant) -> bool {
        let key = (q.origin.clone(), q.id);
        if self.seen.contains_key(&key) {
            return false;
        }
        self.remember(key, now + q.timeout, now);
        self.queue.push((q.encoded.clone(), 0));
        true
    }

    /// Remembers query `key` until `until`. A full table first forgets what
    /// has expired, then, if still full, the query seen first.
    fn remember(&mut self, key: (Name, u64), until: Instant, now: Instant) {
        if self.seen.len() >= MAX_SEEN {
            self.seen.retain(|_, (until, _)| *until > now);
        }
        while self.seen.len() >= MAX_SEEN {
            let oldest = self
                .seen
                .iter()
                .min_by_key(|(_, (_, order))| *order)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.seen.remove(&k),
                None => break,
            };
        }
        self.heard += 1;
        self.seen.insert(key, (until, self.heard));
    }

    /// An answer from `from`: true when it answers an open query of ours
    /// and is the first from that member.
    pub fn answered(&mut self, id: u64, from: &Name) -> bool {
        let Some(open) = self.open.get_mut(&id) else {
            return false;
        };
        if open.answered.contains(from) {
            return false;
        }
        open.answered.push(from.clone());
        true
    }

    /// A query's time is up: how many members answered.
    pub fn finish(&mut self, id: u64) -> Option<usize> {
        self.open.remove(&id).map(|o| o.answered.len())
    }

    /// Queries waiting to spread.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Writes queued queries that fit in `budget` bytes through `out`, each
    /// sent at most `limit` times; returns how many were written.
    pub fn take(
        &mut self,
        mut budget: usize,
        limit: u32,
        frame: impl Fn(usize) -> usize,
        mut out: impl FnMut(&[u8]),
    ) -> usize {
        let mut n = 0;
        for (q, sent) in &mut self.queue {
            let size = frame(q.len());
            if size <= budget {
                budget -= size;
                out(q);
                *sent += 1;
                n += 1;
            }
        }
        self.queue.retain(|(_, sent)| *sent < limit);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> (Name, SocketAddr) {
        (Name::from("a"), SocketAddr::from(([10, 0, 0, 1], 7946)))
    }

    #[test]
    fn a_query_round_trips_spreads_a_bounded_number_of_times_and_is_seen_once() {
        let (name, addr) = origin();
        let mut mine = Queries::default();
        let op = KeyringOp::Install(SecretKey::new([3; 32]));
        let id = mine
            .start(
                &name,
                addr,
                &op,
                Duration::from_secs(5),
                Instant::ZERO,
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
            (q.origin, q.origin_addr, q.id, q.op),
            (name.clone(), addr, id, op)
        );
        let mut theirs = Queries::default();
        let q = decode_query(&packet, &packet).unwrap();
        assert!(theirs.heard(&q, Instant::ZERO));
        assert!(!theirs.heard(&q, Instant::ZERO));
        assert!(mine.answered(id, &Name::from("b")));
        assert!(!mine.answered(id, &Name::from("b")));
        assert!(!mine.answered(id + 1, &Name::from("b")));
        assert_eq!(mine.finish(id), Some(1));
        assert_eq!(mine.finish(id), None);
    }

    #[test]
    fn bad_queries_are_invalid() {
        let (name, addr) = origin();
        let mut q = Queries::default();
        let mut rng = Random::new(1);
        q.start(
            &name,
            addr,
            &KeyringOp::List,
            Duration::from_secs(1),
            Instant::ZERO,
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
            key_id: 0,
        }));
        let bad = Bytes::from(wire.encode_to_vec());
        assert_eq!(decode_query(&bad, &bad).unwrap_err(), DropReason::Invalid);
        for _ in 0..MAX_OPEN - 1 {
            q.start(
                &name,
                addr,
                &KeyringOp::List,
                Duration::from_secs(1),
                Instant::ZERO,
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
                Instant::ZERO,
                &mut rng,
            )
            .is_none());
    }

    /// A query heard with the id of one seen long ago (another life of its
    /// origin, say) is carried out once the table had to make room; a full
    /// table forgets its oldest entry and never refuses a new query.
    #[test]
    fn a_full_table_forgets_its_oldest_query_and_takes_every_new_one() {
        let (name, addr) = origin();
        let query = |id: u64| Query {
            origin: name.clone(),
            origin_addr: addr,
            id,
            timeout: MAX_QUERY_TIMEOUT,
            op: KeyringOp::List,
            encoded: Bytes::new(),
        };
        let mut q = Queries::default();
        for id in 1..=MAX_SEEN as u64 + 10 {
            assert!(q.heard(&query(id), Instant::ZERO), "query {id} refused");
        }
        assert_eq!(q.seen.len(), MAX_SEEN);
        assert!(q.heard(&query(1), Instant::ZERO), "the oldest is forgotten");
        assert!(!q.heard(&query(MAX_SEEN as u64 + 10), Instant::ZERO));
    }

    #[test]
    fn query_ids_are_drawn_from_the_seed() {
        let (name, addr) = origin();
        let ids = |seed| {
            let mut q = Queries::default();
            let mut rng = Random::new(seed);
            (0..3)
                .map(|_| {
                    let t = Duration::from_secs(1);
                    q.start(&name, addr, &KeyringOp::List, t, Instant::ZERO, &mut rng)
                        .unwrap()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(1), ids(1));
        assert_ne!(ids(1), ids(2));
        assert!(ids(1).iter().all(|&id| id > 3));
    }
}
