//! The namespaces a node replicates (its own included), and the queue of
//! fresh writes waiting to be gossiped.
//!
//! Fresh writes ride the piggyback gossip: the owner's own, and those a
//! node heard by gossip and that changed its copy (epidemic spread). What a
//! node learns by repair is not gossiped again: the peer it came from knew
//! it, so it is old news to the cluster. Each (owner, key) has at most one
//! write queued: a newer write to the key replaces it, writes to other keys
//! never do.

use crate::name::Name;
use crate::namespace::{self, Change, Deltas, Digest, KeyDelta, Namespace, Refusal, Write};
use crate::time::Instant;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

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

/// What a key write heard by gossip, or repair deltas, did here.
#[derive(Debug)]
pub(crate) enum Heard<T> {
    /// Applied (a write that changed nothing applies as `None` or empty).
    Applied(T),
    /// Refused, changing nothing.
    Refused(Refused),
    /// About this node's own namespace, something it did not write: it is
    /// to move its namespace to a new life (see [`Replicas::renew`]).
    Claim,
    /// About this node's own namespace, a write it did not make, answered
    /// at once with a write of its own above it (see
    /// [`Namespace::supersede`]); with the rewrite of our own value, if it
    /// was one (to report: same value, a new version).
    Superseded(Option<Change>),
}

/// Why a replica refused a key write or repair deltas: what
/// [`KeysRefused`](crate::metrics::KeysRefused) counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The owner is not a member we know, or we do not know its life yet.
    UnknownLife,
    /// Another life than the one membership told us (an old process's
    /// write, or a forged life).
    OtherLife,
    /// See [`Refusal`].
    Namespace(Refusal),
    /// Beyond the node-wide budget of replicated bytes.
    Budget,
}

/// Every namespace this node holds, by owner, and the gossip queue.
#[derive(Debug)]
pub(crate) struct Replicas {
    local: Name,
    owners: BTreeMap<Name, Namespace>,
    queue: DeltaQueue,
    /// The key part of the summary (see [`crate::summary`]).
    sum: crate::summary::Sums,
    /// Owners this node holds dead or left: their namespaces stay readable
    /// until the member is reaped, but leave the summary, the digests and
    /// repair (a node that never knew them must not repair for them).
    down: BTreeSet<Name>,
    /// Bytes of keys and values held of other owners.
    held: usize,
    /// The most `held` may reach ([`Config::max_replica_bytes`](crate::Config::max_replica_bytes)).
    budget: usize,
}

impl Replicas {
    /// The replicas of a node called `local` in life `life`, holding at
    /// most `budget` bytes of other members' keys and values.
    pub fn new(local: Name, life: u64, budget: usize) -> Self {
        let mut owners = BTreeMap::new();
        owners.insert(local.clone(), Namespace::new(life));
        Replicas {
            local,
            owners,
            queue: DeltaQueue::default(),
            sum: crate::summary::Sums::default(),
            down: BTreeSet::new(),
            held: 0,
            budget,
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
        if self.down.contains(owner) {
            return 0;
        }
        self.owners
            .get(owner)
            .map(Namespace::digest)
            .filter(|d| d.watermark > 0)
            .map_or(0, |d| crate::summary::namespace(owner, d))
    }

    /// Runs `f`, keeping the summary and the bytes held right for
    /// `owner`'s namespace.
    fn touch<R>(&mut self, owner: &Name, f: impl FnOnce(&mut Self) -> R) -> R {
        let before = self.contribution(owner);
        let bytes = self.bytes_of(owner);
        let r = f(self);
        let after = self.contribution(owner);
        self.sum.replace(owner, before, after);
        self.held = self.held - bytes + self.bytes_of(owner);
        r
    }

    /// Bytes of `owner`'s namespace that count against the budget.
    fn bytes_of(&self, owner: &str) -> usize {
        if owner == &*self.local {
            return 0;
        }
        self.owners.get(owner).map_or(0, Namespace::bytes)
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
    pub fn check(&self, key: &str, value: Option<&Bytes>) -> Result<(), crate::namespace::Refused> {
        self.owners
            .get(&self.local)
            .map_or(Ok(()), |ns| ns.check(key, value))
    }

    /// Checks a batch of our own writes, as a whole.
    pub fn check_all(
        &self,
        writes: &[(&str, Option<&Bytes>)],
    ) -> Result<(), crate::namespace::Refused> {
        self.owners
            .get(&self.local)
            .map_or(Ok(()), |ns| ns.check_all(writes))
    }

    /// Writes our own `key` (`None`: deletes it) and queues it for gossip.
    pub fn write(&mut self, key: &str, value: Option<Bytes>, now: Instant) -> Option<Change> {
        let local = self.local.clone();
        self.touch(&local, |r| r.write_own(key, value, now))
    }

    fn write_own(&mut self, key: &str, value: Option<Bytes>, now: Instant) -> Option<Change> {
        let local = self.local.clone();
        let ns = self.own();
        let (life, gc) = (ns.life(), ns.gc());
        let (write, change) = ns.write(key, value, now)?;
        self.queue.push(
            &local,
            key,
            namespace::encode_key_delta(&local, life, gc, &write),
        );
        Some(change)
    }

    /// A write heard by gossip, about an owner whose life we hold as
    /// `life` (`None`: not a member we know; `Some(0)`: its life not known
    /// yet). Lives come from membership only: a write never teaches one.
    /// A write that changed our copy is gossiped on. About ourselves: a
    /// claim when it is not ours (see [`Namespace::disowns`]).
    pub fn apply(
        &mut self,
        d: &KeyDelta,
        life: Option<u64>,
        now: Instant,
    ) -> Heard<Option<Change>> {
        if d.owner == self.local {
            let ours = self.owners.get(&self.local);
            let claim = ours.is_some_and(|ns| ns.life() == d.life && ns.disowns(&d.write, d.gc));
            if !claim {
                return Heard::Applied(None);
            }
            if d.gc > 0 {
                return Heard::Claim;
            }
            return match self.supersede(&d.write.key, d.write.version, now) {
                Some(w) => Heard::Superseded(w.value.map(|v| Change {
                    key: w.key,
                    old: Some(v.clone()),
                    new: Some(v),
                    version: w.version,
                })),
                None => Heard::Claim,
            };
        }
        match life {
            None | Some(0) => return Heard::Refused(Refused::UnknownLife),
            Some(l) if l != d.life => return Heard::Refused(Refused::OtherLife),
            Some(_) => {}
        }
        self.touch(&d.owner.clone(), |r| r.apply_one(d))
    }

    fn apply_one(&mut self, d: &KeyDelta) -> Heard<Option<Change>> {
        // A write grows the namespace by at most its own size.
        if self
            .held
            .saturating_add(crate::namespace::size(&d.write.key, &d.write.value))
            > self.budget
        {
            return Heard::Refused(Refused::Budget);
        }
        let ns = self
            .owners
            .entry(d.owner.clone())
            .or_insert_with(|| Namespace::new(d.life));
        let before = ns.digest();
        let contradiction = ns.contradicts(&d.write);
        let change = match ns.apply(&d.write, d.gc) {
            Ok(c) => c,
            Err(e) => return Heard::Refused(Refused::Namespace(e)),
        };
        if let Some(ours) = contradiction {
            // Not what we hold at that version: let the owner hear ours.
            let gc = ns.gc().min(ours.version);
            self.queue.push(
                &d.owner,
                &ours.key,
                namespace::encode_key_delta(&d.owner, d.life, gc, &ours),
            );
        }
        // Passed on when it taught us anything: a value, a version, or the
        // owner's GC watermark (a collected tombstone).
        if change.is_some() || ns.digest() != before {
            self.queue.push(
                &d.owner,
                &d.write.key,
                namespace::encode_key_delta(&d.owner, d.life, d.gc, &d.write),
            );
        }
        Heard::Applied(change)
    }

    /// An owner started a new life: its old namespace is gone. Returns
    /// whether we held any of it (keys or deletes).
    pub fn new_life(&mut self, owner: &Name, life: u64) -> bool {
        self.queue.forget(owner);
        self.touch(owner, |r| {
            match r.owners.insert(owner.clone(), Namespace::new(life)) {
                // Entries applied ahead of a gap count: the application
                // saw them, and must hear they are gone.
                Some(old) => old.digest().watermark > 0 || old.bytes() > 0,
                None => false,
            }
        })
    }

    /// A member was reaped: its namespace goes with it.
    pub fn forget(&mut self, owner: &Name) {
        self.queue.forget(owner);
        self.touch(owner, |r| {
            r.owners.remove(owner);
            r.down.remove(owner);
        });
    }

    /// Whether `owner` is up (alive or suspect) in our view: a namespace
    /// of a member down counts in no summary, digest or repair.
    pub fn set_up(&mut self, owner: &Name, up: bool) {
        if *owner == self.local || self.down.contains(owner) != up {
            return;
        }
        self.touch(owner, |r| {
            if up {
                r.down.remove(owner);
            } else {
                r.down.insert(owner.clone());
            }
        });
    }

    /// What we hold of each owner, for a peer to compare.
    /// The digests of owners in the buckets of `set` (see
    /// [`crate::summary::in_buckets`]; `u64::MAX`: all).
    pub fn digests(&self, set: u64) -> Vec<(Name, Digest)> {
        self.owners
            .iter()
            .filter(|(o, ns)| ns.digest().watermark > 0 && crate::summary::in_buckets(o, set))
            .filter(|(o, _)| !self.down.contains(*o))
            .map(|(o, ns)| (o.clone(), ns.digest()))
            .collect()
    }

    /// Whether a peer's digests claim more of our namespace than we wrote.
    pub fn claimed(&self, theirs: &[(Name, Digest)]) -> bool {
        let Some(ours) = self.owners.get(&self.local) else {
            return false;
        };
        theirs
            .iter()
            .any(|(o, d)| *o == self.local && ours.disowns_digest(*d))
    }

    /// The first owner (not us, held up) whose namespace a peer's digests
    /// say it holds at our life and watermarks with other entries: one of
    /// us took a write the owner never made, which neither can undo and
    /// only the owner can tell (see [`Namespace::disputes`]).
    pub fn disputed(&self, theirs: &[(Name, Digest)]) -> Option<Name> {
        theirs.iter().find_map(|(o, d)| {
            let ns = self.owners.get(o)?;
            (*o != self.local && !self.down.contains(o) && ns.disputes(*d)).then(|| o.clone())
        })
    }

    /// What a peer whose digests are `theirs` lacks, owner by owner.
    /// Of the owners in the buckets of `set` (`u64::MAX`: all).
    pub fn deltas_for(&self, theirs: &[(Name, Digest)], set: u64) -> Vec<(Name, Deltas)> {
        let theirs: BTreeMap<&Name, Digest> = theirs.iter().map(|(o, d)| (o, *d)).collect();
        self.owners
            .iter()
            .filter(|(owner, _)| crate::summary::in_buckets(owner, set))
            .filter(|(owner, _)| !self.down.contains(*owner))
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
    /// (not gossiped on) when the life matches. When they changed a
    /// namespace we already held, its newest entry is gossiped on: so the
    /// owner hears what we hold (a forged write we took while cut off from
    /// it, now at a version its repair matched), and answers a forgery.
    pub fn merge(&mut self, owner: &Name, d: &Deltas, life: Option<u64>) -> Heard<Vec<Change>> {
        if *owner == self.local {
            let ours = self.owners.get(&self.local);
            return if ours.is_some_and(|ns| ns.disowns_deltas(d)) {
                Heard::Claim
            } else {
                Heard::Applied(Vec::new())
            };
        }
        match life {
            None | Some(0) => return Heard::Refused(Refused::UnknownLife),
            Some(l) if l != d.life => return Heard::Refused(Refused::OtherLife),
            Some(_) => {}
        }
        self.touch(owner, |r| {
            let ns = r
                .owners
                .entry(owner.clone())
                .or_insert_with(|| Namespace::new(d.life));
            let (before, bytes) = (ns.digest(), ns.bytes());
            let mut next = ns.clone();
            let changes = match next.merge(d) {
                Ok(c) => c,
                Err(e) => return Heard::Refused(Refused::Namespace(e)),
            };
            if r.held - bytes + next.bytes() > r.budget && next.bytes() > bytes {
                return Heard::Refused(Refused::Budget);
            }
            let moved = next.digest() != before;
            let newest = (moved && before.watermark > 0)
                .then(|| next.newest())
                .flatten();
            r.owners.insert(owner.clone(), next);
            if let Some(w) = newest {
                let gc = d.gc;
                r.queue.push(
                    owner,
                    &w.key,
                    namespace::encode_key_delta(owner, d.life, gc.min(w.version), &w),
                );
            }
            Heard::Applied(changes)
        })
    }

    /// The owner's tombstones older than `before` are collected; the
    /// newest goes out again by gossip, with the new GC watermark.
    pub fn collect(&mut self, before: Instant) {
        let local = self.local.clone();
        self.touch(&local, |r| {
            let ns = r.own();
            let (life, gc) = (ns.life(), ns.gc());
            let Some(w) = ns.collect(before) else {
                return;
            };
            let gc = gc.max(w.version);
            r.queue.push(
                &local,
                &w.key,
                namespace::encode_key_delta(&local, life, gc, &w),
            );
        });
    }

    /// Answers a write claimed of us at `claimed` with one of our own above
    /// it, queued for gossip (see [`Namespace::supersede`]); `None` when a
    /// move to a new life must answer it instead.
    fn supersede(&mut self, key: &str, claimed: u64, now: Instant) -> Option<Write> {
        let local = self.local.clone();
        self.touch(&local, |r| {
            let ns = r.own();
            let (life, gc) = (ns.life(), ns.gc());
            let w = ns.supersede(key, claimed, now)?;
            r.queue.push(
                &local,
                key,
                namespace::encode_key_delta(&local, life, gc, &w),
            );
            Some(w)
        })
    }

    /// Our namespace moves to life `life` (see [`Namespace::renew`]): every
    /// live key goes out again by gossip under it.
    pub fn renew(&mut self, life: u64) {
        let local = self.local.clone();
        self.queue.forget(&local);
        self.touch(&local, |r| {
            for w in r.own().renew(life) {
                r.queue.push(
                    &local,
                    &w.key,
                    namespace::encode_key_delta(&local, life, 0, &w),
                );
            }
        });
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
            gc: 0,
        }
    }

    #[test]
    fn writes_to_one_key_coalesce_and_to_others_do_not() {
        let mut r = Replicas::new("me".into(), 1, usize::MAX);
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
        let mut r = Replicas::new("me".into(), 1, usize::MAX);
        assert!(
            matches!(
                r.apply(&delta("x", "k", 1), None, Instant::ZERO),
                Heard::Refused(Refused::UnknownLife)
            ),
            "not a member"
        );
        assert!(
            matches!(
                r.apply(&delta("x", "k", 1), Some(4), Instant::ZERO),
                Heard::Refused(Refused::OtherLife)
            ),
            "another life"
        );
        assert!(matches!(
            r.apply(&delta("x", "k", 1), Some(5), Instant::ZERO),
            Heard::Applied(Some(_))
        ));
        assert_eq!(r.pending(), 1, "gossiped on");
        assert!(r.new_life(&"x".into(), 6), "held a key");
        assert_eq!(r.pending(), 0);
        assert!(r.namespace("x").unwrap().get("k").is_none());
    }

    #[test]
    fn a_new_life_resets_keys_held_ahead_of_a_gap() {
        // Version 5 after 4, which never arrived (a replica cut off from
        // the owner took it, forged or not): the watermark stays 0.
        let mut r = Replicas::new("me".into(), 1, usize::MAX);
        assert!(matches!(
            r.apply(&delta("x", "k", 5), Some(5), Instant::ZERO),
            Heard::Applied(Some(_))
        ));
        assert_eq!(r.namespace("x").unwrap().digest().watermark, 0);
        assert!(
            r.new_life(&"x".into(), 6),
            "held a key: the application must hear it went"
        );
        assert!(r.namespace("x").unwrap().get("k").is_none());
        assert!(!r.new_life(&"x".into(), 7), "held nothing of life 6");
    }

    #[test]
    fn repair_covers_what_the_peer_lacks_owner_by_owner() {
        let mut a = Replicas::new("a".into(), 1, usize::MAX);
        a.write("k", Some(Bytes::from_static(b"v")), Instant::ZERO);
        a.apply(&delta("x", "k", 1), Some(5), Instant::ZERO);
        let b = Replicas::new("b".into(), 2, usize::MAX);
        let mut for_b = a.deltas_for(&b.digests(u64::MAX), u64::MAX);
        for_b.sort_by(|x, y| x.0.cmp(&y.0));
        let owners: Vec<&str> = for_b.iter().map(|(o, _)| &**o).collect();
        assert_eq!(owners, ["a", "x"]);
        let mut b = b;
        let Heard::Applied(changes) = b.merge(&"a".into(), &for_b[0].1, Some(1)) else {
            panic!("refused");
        };
        assert_eq!(changes.len(), 1);
        assert_eq!(b.pending(), 0, "repair is not gossiped on");
        assert!(a
            .deltas_for(&b.digests(u64::MAX), u64::MAX)
            .iter()
            .all(|(o, _)| &**o == "x"));
    }
}
