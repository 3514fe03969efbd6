//! The namespaces a node replicates (its own included), and the queue of
//! fresh writes waiting to be gossiped.
//!
//! Fresh writes ride the piggyback gossip: the owner's own, and those a
//! node heard by gossip and that changed its copy (epidemic spread). What a
//! node learns by repair is not gossiped again: the peer it came from knew
//! it, so it is old news to the cluster. Each (owner, key) has at most one
//! write queued: a newer write to the key replaces it, writes to other keys
//! never do.

use crate::codec::{self, KeyDelta};
use crate::keys::{Change, Deltas, Digest, Namespace, Refused};
use crate::name::Name;
use crate::time::Instant;
use bytes::Bytes;
use std::collections::BTreeMap;

/// A write waiting to be gossiped.
#[derive(Debug)]
struct Queued {
    encoded: Vec<u8>,
    sent: u32,
    id: u64,
}

/// Queued writes, fewest transmissions first, then oldest.
#[derive(Debug, Default)]
struct DeltaQueue {
    items: BTreeMap<(Name, Box<str>), Queued>,
    order: BTreeMap<(u32, u64), (Name, Box<str>)>,
    next_id: u64,
}

impl DeltaQueue {
    fn push(&mut self, owner: &Name, key: &str, encoded: Vec<u8>) {
        let id = self.next_id;
        self.next_id += 1;
        let k = (owner.clone(), Box::<str>::from(key));
        if let Some(old) = self.items.insert(
            k.clone(),
            Queued {
                encoded,
                sent: 0,
                id,
            },
        ) {
            self.order.remove(&(old.sent, old.id));
        }
        self.order.insert((0, id), k);
    }

    /// Hands `out` queued writes that fit in `budget` bytes (framed by
    /// `frame`), and counts a transmission for each; a write sent `limit`
    /// times leaves the queue. Returns how many went.
    fn take(
        &mut self,
        mut budget: usize,
        limit: u32,
        frame: impl Fn(usize) -> usize,
        mut out: impl FnMut(&[u8]),
    ) -> usize {
        let mut taken = Vec::new();
        let mut skipped = 0;
        for (&(sent, id), k) in &self.order {
            if skipped > 16 {
                break;
            }
            let Some(q) = self.items.get(k) else { continue };
            let size = frame(q.encoded.len());
            if size > budget {
                skipped += 1;
                continue;
            }
            budget -= size;
            out(&q.encoded);
            taken.push((sent, id));
        }
        for (sent, id) in &taken {
            let Some(k) = self.order.remove(&(*sent, *id)) else {
                continue;
            };
            if sent + 1 >= limit {
                self.items.remove(&k);
            } else {
                if let Some(q) = self.items.get_mut(&k) {
                    q.sent += 1;
                }
                self.order.insert((sent + 1, *id), k);
            }
        }
        taken.len()
    }

    fn forget(&mut self, owner: &Name) {
        let gone: Vec<(Name, Box<str>)> = self
            .items
            .range((owner.clone(), Box::<str>::from(""))..)
            .take_while(|((o, _), _)| o == owner)
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            if let Some(q) = self.items.remove(&k) {
                self.order.remove(&(q.sent, q.id));
            }
        }
    }
}

/// Every namespace this node holds, by owner, and the gossip queue.
#[derive(Debug)]
pub(crate) struct Replicas {
    local: Name,
    owners: BTreeMap<Name, Namespace>,
    queue: DeltaQueue,
    /// The key part of the summary (see [`crate::summary`]).
    sum: crate::summary::Sums,
}

impl Replicas {
    /// The replicas of a node called `local` in life `life`.
    pub fn new(local: Name, life: u64) -> Self {
        let mut owners = BTreeMap::new();
        owners.insert(local.clone(), Namespace::new(life));
        Replicas {
            local,
            owners,
            queue: DeltaQueue::default(),
            sum: crate::summary::Sums::default(),
        }
    }

    /// The key part of the summary: a wrapping sum over namespaces that
    /// hold anything.
    pub fn summary(&self) -> u64 {
        self.sum.total()
    }

    /// The key part of the summary, by bucket.
    pub fn summary_buckets(&self) -> &[u64; crate::summary::BUCKETS] {
        self.sum.buckets()
    }

    /// What `owner`'s namespace adds to the summary now.
    fn contribution(&self, owner: &str) -> u64 {
        self.owners
            .get(owner)
            .map(Namespace::digest)
            .filter(|d| d.watermark > 0)
            .map_or(0, |d| crate::summary::namespace(owner, d))
    }

    /// Runs `f`, keeping the summary right for `owner`'s namespace.
    fn touch<R>(&mut self, owner: &Name, f: impl FnOnce(&mut Self) -> R) -> R {
        let before = self.contribution(owner);
        let r = f(self);
        let after = self.contribution(owner);
        self.sum.replace(owner, before, after);
        r
    }

    /// One owner's namespace, if this node holds any of it.
    pub fn namespace(&self, owner: &str) -> Option<&Namespace> {
        self.owners.get(owner)
    }

    fn own(&mut self) -> &mut Namespace {
        let local = self.local.clone();
        self.owners.entry(local).or_default()
    }

    /// Checks a write of our own against the limits.
    pub fn check(&self, key: &str, value: Option<&Bytes>) -> Result<(), Refused> {
        self.owners
            .get(&self.local)
            .map_or(Ok(()), |ns| ns.check(key, value))
    }

    /// Writes our own `key` (`None`: deletes it) and queues it for gossip.
    pub fn write(&mut self, key: &str, value: Option<Bytes>, now: Instant) -> Option<Change> {
        let local = self.local.clone();
        self.touch(&local, |r| r.write_own(key, value, now))
    }

    fn write_own(&mut self, key: &str, value: Option<Bytes>, now: Instant) -> Option<Change> {
        let local = self.local.clone();
        let ns = self.own();
        let life = ns.life();
        let (write, change) = ns.write(key, value, now)?;
        self.queue
            .push(&local, key, codec::encode_key_delta(&local, life, &write));
        Some(change)
    }

    /// A write heard by gossip, about an owner whose life we hold as
    /// `life` (`None`: not a member we know). Writes of another life are
    /// ignored. A write that changed our copy is gossiped on.
    pub fn apply(&mut self, d: &KeyDelta, life: Option<u64>) -> Option<Change> {
        if life != Some(d.life) || d.life == 0 || d.owner == self.local {
            return None;
        }
        self.touch(&d.owner.clone(), |r| r.apply_one(d))
    }

    fn apply_one(&mut self, d: &KeyDelta) -> Option<Change> {
        let ns = self
            .owners
            .entry(d.owner.clone())
            .or_insert_with(|| Namespace::new(d.life));
        let change = ns.apply(&d.write)?;
        self.queue.push(
            &d.owner,
            &d.write.key,
            codec::encode_key_delta(&d.owner, d.life, &d.write),
        );
        Some(change)
    }

    /// An owner started a new life: its old namespace is gone. Returns
    /// whether we held any of it (keys or deletes).
    pub fn new_life(&mut self, owner: &Name, life: u64) -> bool {
        self.queue.forget(owner);
        self.touch(owner, |r| {
            match r.owners.insert(owner.clone(), Namespace::new(life)) {
                Some(old) => old.digest().watermark > 0,
                None => false,
            }
        })
    }

    /// A member was reaped: its namespace goes with it.
    pub fn forget(&mut self, owner: &Name) {
        self.queue.forget(owner);
        self.touch(owner, |r| r.owners.remove(owner));
    }

    /// What we hold of each owner, for a peer to compare.
    /// The digests of owners in the buckets of `set` (see
    /// [`crate::summary::in_buckets`]; `u64::MAX`: all).
    pub fn digests(&self, set: u64) -> Vec<(Name, Digest)> {
        self.owners
            .iter()
            .filter(|(o, ns)| ns.digest().watermark > 0 && crate::summary::in_buckets(o, set))
            .map(|(o, ns)| (o.clone(), ns.digest()))
            .collect()
    }

    /// What a peer whose digests are `theirs` lacks, owner by owner.
    /// Of the owners in the buckets of `set` (`u64::MAX`: all).
    pub fn deltas_for(&self, theirs: &[(Name, Digest)], set: u64) -> Vec<(Name, Deltas)> {
        let theirs: BTreeMap<&Name, Digest> = theirs.iter().map(|(o, d)| (o, *d)).collect();
        self.owners
            .iter()
            .filter(|(owner, _)| crate::summary::in_buckets(owner, set))
            .filter_map(|(owner, ns)| {
                let digest = theirs.get(owner).copied().unwrap_or(Digest {
                    life: ns.life(),
                    ..Digest::default()
                });
                Some((owner.clone(), ns.deltas(digest)?))
            })
            .collect()
    }

    /// Repair deltas for `owner`, whose life we hold as `life`: applied
    /// (not gossiped on) when the life matches.
    pub fn merge(&mut self, owner: &Name, d: &Deltas, life: Option<u64>) -> Vec<Change> {
        if life != Some(d.life) || d.life == 0 || *owner == self.local {
            return Vec::new();
        }
        self.touch(owner, |r| {
            r.owners
                .entry(owner.clone())
                .or_insert_with(|| Namespace::new(d.life))
                .merge(d)
        })
    }

    /// The owner's tombstones older than `before` are collected.
    pub fn collect(&mut self, before: Instant) {
        let local = self.local.clone();
        self.touch(&local, |r| r.own().collect(before));
    }

    /// Queued writes into a packet (see [`DeltaQueue::take`]).
    pub fn take(
        &mut self,
        budget: usize,
        limit: u32,
        frame: impl Fn(usize) -> usize,
        out: impl FnMut(&[u8]),
    ) -> usize {
        self.queue.take(budget, limit, frame, out)
    }

    /// Writes waiting to be gossiped.
    pub fn pending(&self) -> usize {
        self.queue.items.len()
    }

    /// Keys held (live, all owners) and their bytes.
    pub fn size(&self) -> (usize, usize) {
        self.owners
            .values()
            .fold((0, 0), |(k, b), ns| (k + ns.len(), b + ns.bytes()))
    }

    /// Entries in the queue's order (each queued write once), for tests.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queue.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Write;

    fn write(key: &str, version: u64) -> Write {
        Write {
            key: key.into(),
            value: Some(Bytes::from_static(b"v")),
            version,
            prev: version - 1,
        }
    }

    fn delta(owner: &str, key: &str, version: u64) -> KeyDelta {
        KeyDelta {
            owner: owner.into(),
            life: 5,
            write: write(key, version),
        }
    }

    #[test]
    fn writes_to_one_key_coalesce_and_to_others_do_not() {
        let mut r = Replicas::new("me".into(), 1);
        r.write("a", Some(Bytes::from_static(b"1")), Instant::ZERO);
        r.write("b", Some(Bytes::from_static(b"1")), Instant::ZERO);
        r.write("a", Some(Bytes::from_static(b"2")), Instant::ZERO);
        assert_eq!((r.pending(), r.queued()), (2, 2));
        let mut out = Vec::new();
        assert_eq!(r.take(1400, 2, |l| l + 2, |b| out.push(b.to_vec())), 2);
        assert_eq!(r.take(1400, 2, |l| l + 2, |_| {}), 2);
        assert_eq!(r.pending(), 0, "each sent twice, the limit");
    }

    #[test]
    fn deltas_of_an_unknown_life_are_ignored_and_a_new_life_resets() {
        let mut r = Replicas::new("me".into(), 1);
        assert!(r.apply(&delta("x", "k", 1), None).is_none(), "not a member");
        assert!(
            r.apply(&delta("x", "k", 1), Some(4)).is_none(),
            "another life"
        );
        assert!(r.apply(&delta("x", "k", 1), Some(5)).is_some());
        assert_eq!(r.pending(), 1, "gossiped on");
        assert!(r.new_life(&"x".into(), 6), "held a key");
        assert_eq!(r.pending(), 0);
        assert!(r.namespace("x").unwrap().get("k").is_none());
    }

    #[test]
    fn repair_covers_what_the_peer_lacks_owner_by_owner() {
        let mut a = Replicas::new("a".into(), 1);
        a.write("k", Some(Bytes::from_static(b"v")), Instant::ZERO);
        a.apply(&delta("x", "k", 1), Some(5));
        let b = Replicas::new("b".into(), 2);
        let mut for_b = a.deltas_for(&b.digests(u64::MAX), u64::MAX);
        for_b.sort_by(|x, y| x.0.cmp(&y.0));
        let owners: Vec<&str> = for_b.iter().map(|(o, _)| &**o).collect();
        assert_eq!(owners, ["a", "x"]);
        let mut b = b;
        assert_eq!(b.merge(&"a".into(), &for_b[0].1, Some(1)).len(), 1);
        assert_eq!(b.pending(), 0, "repair is not gossiped on");
        assert!(a
            .deltas_for(&b.digests(u64::MAX), u64::MAX)
            .iter()
            .all(|(o, _)| &**o == "x"));
    }
}
