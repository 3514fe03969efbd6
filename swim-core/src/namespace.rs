//! The state layer (see also [`crate::Node::set`]): every member owns a small key/value namespace that
//! every other member replicates (scuttlebutt, van Renesse et al. 2008).
//!
//! Only the owner writes its namespace. Each write takes the owner's next
//! *version* within the owner's *life* (a random value drawn when the node
//! starts; a new life replaces the old namespace everywhere). A delete is a
//! write too: a *tombstone*, which the owner alone collects after a grace
//! period, raising its *GC watermark*; replicas drop tombstones only below
//! the owner's watermark, never on their own timers, so nothing deleted
//! comes back.
//!
//! A replica's *watermark* is the highest version up to which it holds
//! everything the owner wrote (or something newer for the same key).
//! Fresh writes arrive by gossip, out of order, each with `prev`: the
//! owner's version before the write, lowered to the version before an
//! unbroken run of writes to the same key (a superseded write needs no
//! delivery). A delta whose `prev` is at or below the watermark advances
//! it; others are applied and remembered (a few) until the gap closes, or
//! left for repair. Repair sends, for a peer's `(life, watermark, gc)`
//! digest, every entry above its watermark in version order, cut at the
//! first that does not fit (prefix-closed: no hole), or the whole
//! namespace (a *reset*) when the peer is behind the GC watermark.

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::name::Name;
use crate::summary;
use crate::time::Instant;
use crate::wire::{name, utf8, DropReason, MAX_INCARNATION, MAX_JUMP};
use prost::Message as _;
use swim_proto as pb;

/// Longest key, in bytes (UTF-8).
pub const MAX_KEY_LEN: usize = 128;
/// Largest value, in bytes. With the longest key, name and cluster label a
/// write still fits one datagram of 1,400 bytes.
pub const MAX_VALUE_LEN: usize = 512;
/// Most keys a member holds, tombstones included.
pub const MAX_KEYS: usize = 256;
/// Most bytes of keys and values a member holds, tombstones' keys included.
pub const MAX_NAMESPACE_BYTES: usize = 64 * 1024;
/// Writes a replica applies ahead of a gap in the owner's versions and
/// remembers until the gap closes; beyond that, repair closes it.
const MAX_AHEAD: usize = 64;

/// One key as a replica holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The value, or `None` for a tombstone.
    pub value: Option<Bytes>,
    /// The owner's version of the write.
    pub version: u64,
    /// The owner's version before the run of writes to this key that ended
    /// with this one (see the module doc).
    pub prev: u64,
    /// The entry's hash, as summed into the namespace's content (see
    /// [`crate::summary::entry`]).
    pub hash: u64,
}

/// A change a write made to a replica, to report as an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub key: Box<str>,
    pub old: Option<Bytes>,
    pub new: Option<Bytes>,
    pub version: u64,
}

/// A write of one key, as gossip and repair carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Write {
    pub key: Box<str>,
    pub value: Option<Bytes>,
    pub version: u64,
    pub prev: u64,
}

/// What a replica knows of an owner, in one line: the repair digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Digest {
    pub life: u64,
    pub watermark: u64,
    pub gc: u64,
    /// What the entries held hold, those ahead of a gap too (see
    /// [`crate::summary`]); 0 when a peer did not say.
    pub content: u64,
}

/// The entries a peer lacks, in version order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Deltas {
    pub life: u64,
    /// Replace the peer's namespace (it was behind the GC watermark, or
    /// held another life).
    pub reset: bool,
    /// The watermark the peer may take once it has applied `entries`.
    pub to: u64,
    pub gc: u64,
    pub entries: Vec<Write>,
}

/// Why a write was refused (the owner's own write; see [`crate::Error`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    KeyLen(usize),
    ValueLen(usize),
    Keys,
    Bytes(usize),
}

/// Why a replica refused what a peer said about an owner's namespace
/// (see [`Namespace::apply`] and [`Namespace::merge`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A version more than 2^32 above the replica's watermark.
    Implausible,
    /// More keys or bytes than any owner may hold.
    Limits,
    /// Something no owner could have sent: a reset that moves the
    /// watermark or the GC watermark back, or drops a key above the GC
    /// watermark; a key twice; a GC watermark above the write that
    /// carries it.
    Inconsistent,
}

/// One owner's namespace, as the owner or a replica holds it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Namespace {
    life: u64,
    keys: BTreeMap<Box<str>, Entry>,
    watermark: u64,
    /// Writes applied above a gap: `prev` → `version`.
    ahead: BTreeMap<u64, u64>,
    gc: u64,
    /// Bytes of keys and values held.
    bytes: usize,
    /// The wrapping sum of the hashes of every entry held, those ahead of
    /// a gap included (the digest's content, less
    /// [`summary::EMPTY_CONTENT`]). An entry the owner never wrote shows
    /// even ahead of a gap: a replica holding one differs from the owner
    /// at the owner's own watermark, so repair reaches the owner, which
    /// disowns it ([`Namespace::disowns_digest`]).
    content: u64,
    /// The owner's tombstones, oldest first: when written, and at which version.
    tombstones: VecDeque<(Instant, u64, Box<str>)>,
    /// Versions of the tombstones [`supersede`](Self::supersede) wrote and
    /// the owner has not collected yet: at most [`MAX_SUPERSEDE_TOMBSTONES`],
    /// so forged writes of keys we never held cannot fill our quota.
    superseding: BTreeSet<u64>,
}

/// The most tombstones answering forged writes an owner keeps at once;
/// past that, a claim moves the namespace (which drops them all).
const MAX_SUPERSEDE_TOMBSTONES: usize = 16;

/// The bytes a key and its value take against [`MAX_NAMESPACE_BYTES`].
pub(crate) fn size(key: &str, value: &Option<Bytes>) -> usize {
    key.len() + value.as_ref().map_or(0, Bytes::len)
}

impl Namespace {
    /// An empty namespace of life `life`.
    pub fn new(life: u64) -> Namespace {
        Namespace {
            life,
            ..Namespace::default()
        }
    }

    pub fn life(&self) -> u64 {
        self.life
    }

    pub fn digest(&self) -> Digest {
        Digest {
            life: self.life,
            watermark: self.watermark,
            gc: self.gc,
            content: summary::EMPTY_CONTENT.wrapping_add(self.content),
        }
    }

    /// Stores `e` under `key`, keeping the content right; the entry it
    /// replaced, if any.
    fn insert(&mut self, key: Box<str>, e: Entry) -> Option<Entry> {
        let old = self.remove(&key);
        self.content = self.content.wrapping_add(e.hash);
        self.keys.insert(key, e);
        old
    }

    /// Removes `key`, keeping the content right (not the bytes).
    fn remove(&mut self, key: &str) -> Option<Entry> {
        let e = self.keys.remove(key)?;
        self.content = self.content.wrapping_sub(e.hash);
        Some(e)
    }

    /// Raises the watermark to `to` (never lowers it).
    fn raise(&mut self, to: u64) {
        self.watermark = self.watermark.max(to);
    }

    /// Live keys and their values and versions, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bytes, u64)> + '_ {
        self.keys
            .iter()
            .filter_map(|(k, e)| Some((&**k, e.value.as_ref()?, e.version)))
    }

    /// One live key.
    pub fn get(&self, key: &str) -> Option<(&Bytes, u64)> {
        let e = self.keys.get(key)?;
        Some((e.value.as_ref()?, e.version))
    }

    /// Live keys.
    pub fn len(&self) -> usize {
        self.keys.values().filter(|e| e.value.is_some()).count()
    }

    /// Bytes of keys and values held (tombstones' keys included).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Checks a write the owner is about to make against the limits.
    pub fn check(&self, key: &str, value: Option<&Bytes>) -> Result<(), Refused> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(Refused::KeyLen(key.len()));
        }
        let len = value.map_or(0, Bytes::len);
        if len > MAX_VALUE_LEN {
            return Err(Refused::ValueLen(len));
        }
        let old = self.keys.get(key);
        if value.is_none() && old.is_none_or(|e| e.value.is_none()) {
            // Deleting what is not there writes nothing.
            return Ok(());
        }
        if old.is_none() && self.keys.len() >= MAX_KEYS {
            return Err(Refused::Keys);
        }
        let after = self.bytes - old.map_or(0, |e| size(key, &e.value)) + key.len() + len;
        if after > MAX_NAMESPACE_BYTES {
            return Err(Refused::Bytes(after));
        }
        Ok(())
    }

    /// Checks a batch of writes the owner is about to make, in order, as a
    /// whole: the namespace after all of them is within the limits.
    pub fn check_all(&self, writes: &[(&str, Option<&Bytes>)]) -> Result<(), Refused> {
        let mut after = self.clone();
        for (key, value) in writes {
            after.check(key, *value)?;
            after.write(key, value.cloned(), Instant::ZERO);
        }
        Ok(())
    }

    /// The owner writes `key` (`None`: deletes it) at its next version, at
    /// `now`. The caller checked the limits. Returns the write to gossip and
    /// the change, or `None` when deleting a key that is not there.
    pub fn write(
        &mut self,
        key: &str,
        value: Option<Bytes>,
        now: Instant,
    ) -> Option<(Write, Change)> {
        let old = self.keys.get(key);
        if value.is_none() && old.is_none_or(|e| e.value.is_none()) {
            return None;
        }
        let version = self.watermark + 1;
        // A rewrite of the key written last supersedes that write: receivers
        // that missed it lose nothing.
        let prev = match old {
            Some(e) if e.version == self.watermark => e.prev,
            _ => self.watermark,
        };
        if value.is_none() {
            self.tombstones.push_back((now, version, key.into()));
        }
        let write = Write {
            key: key.into(),
            value,
            version,
            prev,
        };
        self.raise(version);
        let change = self.put(&write, true)?;
        Some((write, change))
    }

    /// Stores `w` if it is newer than what is held; the change, if any.
    /// A write at or below the watermark about a key not held was
    /// superseded (by a tombstone since collected, say): dropped, unless
    /// `reset` rebuilds what is below the watermark.
    fn put(&mut self, w: &Write, reset: bool) -> Option<Change> {
        let old = match self.keys.get(&w.key) {
            Some(e) if e.version >= w.version => return None,
            Some(e) => Some(e.clone()),
            None if !reset && w.version <= self.watermark => return None,
            None => None,
        };
        let old_size = old.as_ref().map_or(0, |e| size(&w.key, &e.value));
        self.bytes = self.bytes - old_size + size(&w.key, &w.value);
        let hash = summary::entry(&w.key, w.version, w.value.as_deref());
        self.insert(
            w.key.clone(),
            Entry {
                value: w.value.clone(),
                version: w.version,
                prev: w.prev,
                hash,
            },
        );
        let old = old.and_then(|e| e.value);
        if old.is_none() && w.value.is_none() {
            return None;
        }
        Some(Change {
            key: w.key.clone(),
            old,
            new: w.value.clone(),
            version: w.version,
        })
    }

    /// A replica applies a write heard by gossip, with the owner's GC
    /// watermark when it sent it: stored if newer, and the watermark
    /// advanced if it closes the gap (see the module doc). The GC
    /// watermark is taken once the replica's own watermark has reached it
    /// (before that, repair resets it), and tombstones below it go.
    /// Refused, changing nothing: a version no owner reaches between two
    /// writes we hear, or a write that would take the namespace beyond
    /// what any owner may hold.
    pub fn apply(&mut self, w: &Write, gc: u64) -> Result<Option<Change>, Refusal> {
        if w.version > self.reach(w.prev) {
            // No owner writes 2^32 times between two writes we hear.
            return Err(Refusal::Implausible);
        }
        if gc > w.version {
            return Err(Refusal::Inconsistent);
        }
        if self.would_store(w) && !self.fits(&w.key, &w.value) {
            return Err(Refusal::Limits);
        }
        let change = self.put(w, false);
        if w.version > self.watermark {
            if w.prev <= self.watermark {
                self.raise(w.version);
                self.catch_up();
            } else if self.ahead.len() < MAX_AHEAD {
                let v = self.ahead.entry(w.prev).or_insert(w.version);
                *v = (*v).max(w.version);
            }
        }
        if gc > self.gc && gc <= self.watermark {
            self.gc = gc;
            self.collect_below(gc);
        }
        Ok(change)
    }

    /// The highest version a write following `prev` may take here. No
    /// owner writes 2^32 times between two writes a replica hears, except
    /// across lives: an owner that moved to a new life continues its
    /// versions after its old watermark (see [`Namespace::renew`]), so the
    /// first write of a life a replica holds nothing of (following
    /// nothing) may be at any height. A forged one there is the owner's to
    /// answer, like any write it did not make.
    fn reach(&self, prev: u64) -> u64 {
        if self.watermark == 0 && prev == 0 {
            MAX_INCARNATION
        } else {
            self.watermark.saturating_add(MAX_JUMP)
        }
    }

    /// Whether [`put`](Self::put) would store `w` (outside a reset).
    fn would_store(&self, w: &Write) -> bool {
        match self.keys.get(&w.key) {
            Some(e) => e.version < w.version,
            None => w.version > self.watermark,
        }
    }

    /// Whether storing `key` as `value` keeps the namespace within what an
    /// owner may hold (the owner's own limits, checked before it writes).
    fn fits(&self, key: &str, value: &Option<Bytes>) -> bool {
        if key.len() > MAX_KEY_LEN || value.as_ref().is_some_and(|v| v.len() > MAX_VALUE_LEN) {
            return false;
        }
        let old = self.keys.get(key);
        let keys = self.keys.len() + usize::from(old.is_none());
        let bytes = self.bytes - old.map_or(0, |e| size(key, &e.value)) + size(key, value);
        keys <= MAX_KEYS && bytes <= MAX_NAMESPACE_BYTES
    }

    /// Whether this namespace is within the limits an owner keeps to.
    fn within_limits(&self) -> bool {
        self.keys.len() <= MAX_KEYS && self.bytes <= MAX_NAMESPACE_BYTES
    }

    /// Advances the watermark over writes that were waiting for a gap to close.
    fn catch_up(&mut self) {
        while let Some((&prev, &version)) = self.ahead.first_key_value() {
            if prev > self.watermark {
                break;
            }
            self.ahead.pop_first();
            self.raise(version);
        }
    }

    /// What a peer whose digest is `theirs` lacks: every entry above its
    /// watermark (those this replica holds above its own watermark too:
    /// they replaced what it held below), or everything (a reset) when the
    /// peer holds another life or is behind the GC watermark. `None`:
    /// nothing to send.
    ///
    /// An owner's deltas go whole or not at all (they are at most
    /// [`MAX_NAMESPACE_BYTES`]): the history of superseded writes is gone,
    /// so only the whole set of newer entries makes the peer's state
    /// exact up to the new watermark.
    pub fn deltas(&self, theirs: Digest) -> Option<Deltas> {
        let reset = theirs.life != self.life || theirs.watermark < self.gc;
        if !reset && theirs.watermark >= self.watermark && theirs.gc >= self.gc {
            return None;
        }
        let from = if reset { 0 } else { theirs.watermark };
        let mut entries: Vec<Write> = self
            .keys
            .iter()
            .filter(|(_, e)| e.version > from)
            .map(|(k, e)| Write {
                key: k.clone(),
                value: e.value.clone(),
                version: e.version,
                prev: e.prev,
            })
            .collect();
        entries.sort_by_key(|w| w.version);
        Some(Deltas {
            life: self.life,
            reset,
            to: self.watermark,
            gc: self.gc,
            entries,
        })
    }

    /// A replica applies repair deltas. A reset replaces everything at or
    /// below `to`; writes above it (heard since by gossip) stay. Returns the
    /// changes, in version order (a reset also reports keys it removed).
    ///
    /// Refused whole, changing nothing, when no owner could have sent it
    /// (see [`Refusal`]): deltas never move the watermark or the GC
    /// watermark back, never bring back a key at or below a tombstone
    /// held, and never leave the namespace beyond the owner's limits.
    pub fn merge(&mut self, d: &Deltas) -> Result<Vec<Change>, Refusal> {
        let limit = self.reach(0);
        if d.to > limit || d.entries.iter().any(|w| w.version > limit) {
            return Err(Refusal::Implausible);
        }
        self.consistent(d)?;
        let mut next = self.clone();
        let changes = next.merge_unchecked(d);
        if !next.within_limits() {
            return Err(Refusal::Limits);
        }
        *self = next;
        Ok(changes)
    }

    /// Whether `d` is something the owner could have sent this replica.
    fn consistent(&self, d: &Deltas) -> Result<(), Refusal> {
        let mut seen: Vec<&str> = d.entries.iter().map(|w| &*w.key).collect();
        seen.sort_unstable();
        let twice = seen.windows(2).any(|p| p[0] == p[1]);
        if twice || d.gc > d.to {
            return Err(Refusal::Inconsistent);
        }
        if !d.reset {
            return Ok(());
        }
        if d.to < self.watermark || d.gc < self.gc {
            return Err(Refusal::Inconsistent);
        }
        // Every key held at or below `to` is in the reset at a version no
        // lower, unless the owner collected it (at or below its GC watermark).
        for (k, e) in &self.keys {
            if e.version > d.to {
                continue;
            }
            match d.entries.iter().find(|w| w.key == *k) {
                Some(w) if w.version < e.version => return Err(Refusal::Inconsistent),
                Some(_) => {}
                None if e.version > d.gc => return Err(Refusal::Inconsistent),
                None => {}
            }
        }
        Ok(())
    }

    fn merge_unchecked(&mut self, d: &Deltas) -> Vec<Change> {
        let mut changes = Vec::new();
        if d.reset {
            let to = d.to;
            let keep: Vec<Box<str>> = d.entries.iter().map(|w| w.key.clone()).collect();
            let gone: Vec<Box<str>> = self
                .keys
                .iter()
                .filter(|(k, e)| e.version <= to && !keep.contains(k))
                .map(|(k, _)| k.clone())
                .collect();
            for k in gone {
                if let Some(e) = self.remove(&k) {
                    self.bytes -= size(&k, &e.value);
                    if let Some(old) = e.value {
                        changes.push(Change {
                            key: k,
                            old: Some(old),
                            new: None,
                            version: to,
                        });
                    }
                }
            }
        }
        self.gc = self.gc.max(d.gc);
        changes.extend(d.entries.iter().filter_map(|w| self.put(w, d.reset)));
        self.raise(d.to);
        self.ahead.retain(|_, v| *v > d.to);
        self.catch_up();
        self.collect_below(self.gc);
        changes
    }

    /// The newest entry held, as a write (what a replica passes on after a
    /// repair, so that the owner hears what it was told).
    pub fn newest(&self) -> Option<Write> {
        let (k, e) = self.keys.iter().max_by_key(|(_, e)| e.version)?;
        Some(Write {
            key: k.clone(),
            value: e.value.clone(),
            version: e.version,
            prev: e.prev,
        })
    }

    // ---- the owner's last word

    /// Whether a write said to be the owner's, at GC watermark `gc`, is
    /// something this owner did not write: a version above ours, a GC
    /// watermark we never reached, or a key and version we neither hold nor
    /// superseded. A stale write of ours (superseded by a newer write to the
    /// key) is no claim. Below our GC watermark we no longer know what we
    /// wrote: a value written there under a key we do not hold counts as a claim
    /// (it may take a replica that missed our tombstone, now collected, to
    /// our watermark with a value we never wrote), answered by one write.
    pub fn disowns(&self, w: &Write, gc: u64) -> bool {
        if w.version > self.watermark || gc > self.gc {
            return true;
        }
        match self.keys.get(&w.key) {
            Some(e) => e.version < w.version || (e.version == w.version && e.value != w.value),
            // Above the GC watermark we would hold it; at or below it, a
            // delete is one we may have made and collected (our own notice
            // of a collected tombstone comes back this way).
            None => w.version > self.gc || w.value.is_some(),
        }
    }

    /// The owner answers a claim about one key (a write it did not make, at
    /// `claimed`) with a write of its own above it: its value again, or a
    /// tombstone where it holds none, at the version after both. Every
    /// replica takes it (it supersedes the claim where it was believed,
    /// and follows our watermark where it was not), so the claim costs one
    /// write, not a move to a new life. `None` when it cannot: the claim is
    /// too far above our watermark for every replica to follow a jump
    /// there, or a tombstone would break the limits.
    pub fn supersede(&mut self, key: &str, claimed: u64, now: Instant) -> Option<Write> {
        let version = self.watermark.max(claimed).checked_add(1)?;
        if version > self.watermark.saturating_add(MAX_JUMP / 2) {
            return None;
        }
        let value = self.keys.get(key).and_then(|e| e.value.clone());
        if value.is_none()
            && (self.check(key, Some(&Bytes::new())).is_err()
                || self.superseding.len() >= MAX_SUPERSEDE_TOMBSTONES)
        {
            return None;
        }
        let w = Write {
            key: key.into(),
            value,
            version,
            prev: self.watermark,
        };
        if w.value.is_none() {
            self.tombstones.push_back((now, version, key.into()));
            self.superseding.insert(version);
        }
        self.raise(version);
        self.put(&w, true);
        Some(w)
    }

    /// The entry held at `version` when it is not what `w` says was written
    /// there (another key, or another value): what a replica passes on so
    /// that the owner hears the contradiction. A process restarted in its
    /// old life rewrites versions the replicas hold: this is how it learns.
    pub fn contradicts(&self, w: &Write) -> Option<Write> {
        if w.version > self.watermark {
            return None;
        }
        // The common case, a relay heard again: the key is held at that
        // version or a newer one. Only otherwise look for the entry held
        // at the version (a scan of at most `MAX_KEYS`, rare).
        match self.keys.get(&w.key) {
            Some(e) if e.version > w.version => return None,
            Some(e) if e.version == w.version => {
                return (e.value != w.value).then(|| Write {
                    key: w.key.clone(),
                    value: e.value.clone(),
                    version: e.version,
                    prev: e.prev,
                });
            }
            _ => {}
        }
        let (k, e) = self.keys.iter().find(|(_, e)| e.version == w.version)?;
        (*k != w.key || e.value != w.value).then(|| Write {
            key: k.clone(),
            value: e.value.clone(),
            version: e.version,
            prev: e.prev,
        })
    }

    /// Whether a peer's digest of our namespace claims more than we wrote.
    pub fn disowns_digest(&self, d: Digest) -> bool {
        d.life == self.life
            && (d.watermark > self.watermark
                || d.gc > self.gc
                || (d.content != 0 && self.disputes(d)))
    }

    /// Whether a digest says that its sender holds other entries than we
    /// do at our very life, watermark and GC watermark: one of us took a
    /// write the owner never made (only the owner can tell which).
    pub fn disputes(&self, d: Digest) -> bool {
        let ours = self.digest();
        d.content != 0
            && d.content != ours.content
            && (d.life, d.watermark, d.gc) == (ours.life, ours.watermark, ours.gc)
    }

    /// Whether repair deltas said to be of our namespace claim anything we
    /// did not write.
    pub fn disowns_deltas(&self, d: &Deltas) -> bool {
        d.life == self.life
            && (d.to > self.watermark
                || d.gc > self.gc
                || d.entries.iter().any(|w| self.disowns(w, 0)))
    }

    /// The owner moves its namespace to a new life after a claim it did
    /// not make: the live keys, in the order they were written, again at
    /// the versions after the last it wrote (so a key's version never goes
    /// back, even across lives), the first following nothing, each of the
    /// others the one before; no tombstones. Every replica takes the new life from the owner's next
    /// alive update, whatever it was told before. Returns the writes, to
    /// gossip.
    pub fn renew(&mut self, life: u64) -> Vec<Write> {
        let mut live: Vec<(Box<str>, Bytes, u64)> = self
            .keys
            .iter()
            .filter_map(|(k, e)| Some((k.clone(), e.value.clone()?, e.version)))
            .collect();
        live.sort_by_key(|(_, _, v)| *v);
        let base = self.watermark;
        *self = Namespace::new(life);
        self.watermark = base;
        let mut writes = Vec::with_capacity(live.len());
        for (key, value, _) in live {
            let version = self.watermark + 1;
            // The first write of the new life follows nothing in it.
            let prev = if self.watermark == base {
                0
            } else {
                self.watermark
            };
            let w = Write {
                key,
                value: Some(value),
                version,
                prev,
            };
            self.raise(version);
            self.put(&w, true);
            writes.push(w);
        }
        writes
    }

    /// The owner collects tombstones written before `before`; returns the
    /// newest tombstone collected (to gossip with the new GC watermark, so
    /// that replicas collect it too and summaries keep agreeing), if its
    /// GC watermark moved.
    pub fn collect(&mut self, before: Instant) -> Option<Write> {
        let mut last = None;
        while let Some((at, version, _)) = self.tombstones.front() {
            if *at > before {
                break;
            }
            let version = *version;
            let Some((_, _, key)) = self.tombstones.pop_front() else {
                break;
            };
            self.superseding.remove(&version);
            // Rewritten since: the tombstone is gone already.
            let prev = match self.keys.get(&key) {
                Some(e) if e.version == version => {
                    let prev = e.prev;
                    self.remove(&key);
                    self.bytes -= key.len();
                    prev
                }
                _ => version - 1,
            };
            self.gc = self.gc.max(version);
            last = Some(Write {
                key,
                value: None,
                version,
                prev,
            });
        }
        last
    }

    /// The owner's GC watermark.
    pub fn gc(&self) -> u64 {
        self.gc
    }

    /// A replica drops tombstones at or below the owner's GC watermark `gc`.
    fn collect_below(&mut self, gc: u64) {
        let dead: Vec<Box<str>> = self
            .keys
            .iter()
            .filter(|(_, e)| e.value.is_none() && e.version <= gc)
            .map(|(k, _)| k.clone())
            .collect();
        for k in dead {
            self.remove(&k);
            self.bytes -= k.len();
        }
    }
}

// ---------------------------------------------------------------------------
// The state layer's message bodies on the wire: key writes, gossiped deltas,
// digests and one owner's deltas, validated as they are decoded (`codec`
// finds them in datagrams and stream frames).
// ---------------------------------------------------------------------------

/// A fresh write to an owner's namespace, as gossiped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyDelta {
    pub owner: Name,
    pub life: u64,
    pub write: Write,
    /// The owner's GC watermark when it sent the write.
    pub gc: u64,
}

/// A validated key write: a key of 1 to [`MAX_KEY_LEN`] bytes of
/// UTF-8, a value within [`MAX_VALUE_LEN`] (none for a delete), a
/// version of at least 1 above `prev`.
fn key_write(w: pb::KeyWrite) -> Result<Write, DropReason> {
    let key = utf8(&w.key).ok_or(DropReason::Invalid)?;
    let bad = key.is_empty()
        || key.len() > MAX_KEY_LEN
        || w.value.len() > MAX_VALUE_LEN
        || (w.deleted && !w.value.is_empty())
        || w.version == 0
        || w.version > MAX_INCARNATION
        || w.prev >= w.version;
    if bad {
        return Err(DropReason::Invalid);
    }
    Ok(Write {
        key: key.into(),
        value: (!w.deleted).then(|| Bytes::copy_from_slice(&w.value)),
        version: w.version,
        prev: w.prev,
    })
}

pub(crate) fn key_delta(d: pb::KeyDelta) -> Result<KeyDelta, DropReason> {
    let write = key_write(d.write.ok_or(DropReason::Invalid)?)?;
    if d.gc > write.version {
        return Err(DropReason::Invalid);
    }
    Ok(KeyDelta {
        owner: name(&d.owner)?,
        life: d.life,
        write,
        gc: d.gc,
    })
}

pub(crate) fn digest(d: pb::Digest) -> Result<(Name, Digest), DropReason> {
    if d.gc > d.watermark || d.watermark > MAX_INCARNATION {
        return Err(DropReason::Invalid);
    }
    let digest = Digest {
        life: d.life,
        watermark: d.watermark,
        gc: d.gc,
        content: d.content,
    };
    Ok((name(&d.owner)?, digest))
}

pub(crate) fn owner_deltas(d: pb::Deltas) -> Result<(Name, Deltas), DropReason> {
    if d.writes.len() > MAX_KEYS || d.gc > d.to || d.to > MAX_INCARNATION {
        return Err(DropReason::Invalid);
    }
    let entries = d
        .writes
        .into_iter()
        .map(key_write)
        .collect::<Result<Vec<_>, _>>()?;
    let deltas = Deltas {
        life: d.life,
        reset: d.reset,
        to: d.to,
        gc: d.gc,
        entries,
    };
    Ok((name(&d.owner)?, deltas))
}

/// The wire form of a key write.
fn wire_write(w: &Write) -> pb::KeyWrite {
    pb::KeyWrite {
        key: Bytes::copy_from_slice(w.key.as_bytes()),
        value: w.value.clone().unwrap_or_default(),
        deleted: w.value.is_none(),
        version: w.version,
        prev: w.prev,
    }
}

/// A key delta encoded on its own, ready to be queued for piggybacking.
pub(crate) fn encode_key_delta(owner: &Name, life: u64, gc: u64, w: &Write) -> Vec<u8> {
    pb::KeyDelta {
        owner: Bytes::copy_from_slice(owner.as_bytes()),
        life,
        write: Some(wire_write(w)),
        gc,
    }
    .encode_to_vec()
}

/// The wire form of a digest.
pub(crate) fn wire_digest(owner: &Name, d: &Digest) -> pb::Digest {
    pb::Digest {
        owner: Bytes::copy_from_slice(owner.as_bytes()),
        life: d.life,
        watermark: d.watermark,
        gc: d.gc,
        content: d.content,
    }
}

/// The wire form of one owner's deltas.
pub(crate) fn wire_deltas(owner: &Name, d: &Deltas) -> pb::Deltas {
    pb::Deltas {
        owner: Bytes::copy_from_slice(owner.as_bytes()),
        life: d.life,
        reset: d.reset,
        to: d.to,
        gc: d.gc,
        writes: d.entries.iter().map(wire_write).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Option<Bytes> {
        Some(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn a_replica_that_hears_every_write_in_order_stays_contiguous() {
        let mut owner = Namespace::new(7);
        let mut replica = Namespace::new(7);
        for (i, key) in ["a", "b", "a", "c"].iter().enumerate() {
            let (w, _) = owner.write(key, v(&i.to_string()), t(0)).unwrap();
            replica.apply(&w, 0).unwrap();
        }
        assert_eq!(replica.digest(), owner.digest());
        assert_eq!(replica.get("a").unwrap().0, &v("2").unwrap());
    }

    #[test]
    fn a_superseded_write_leaves_no_gap() {
        let mut owner = Namespace::new(1);
        let mut replica = Namespace::new(1);
        let (w1, _) = owner.write("x", v("1"), t(0)).unwrap();
        replica.apply(&w1, 0).unwrap();
        let (_lost, _) = owner.write("y", v("1"), t(0)).unwrap();
        let (_lost, _) = owner.write("y", v("2"), t(0)).unwrap();
        let (w4, _) = owner.write("y", v("3"), t(0)).unwrap();
        assert_eq!(
            (w4.version, w4.prev),
            (4, 1),
            "the run of writes to y starts after 1"
        );
        replica.apply(&w4, 0).unwrap();
        assert_eq!(replica.digest().watermark, 4);
    }

    /// Swarm seed 37: a stranger forged a write far ahead of a gap in a
    /// namespace the owner never wrote, and the replicas that took it
    /// agreed with the owner at its own watermark for good: no repair
    /// ever reached the owner to disown it.
    #[test]
    fn a_forged_write_ahead_of_a_gap_shows_in_the_digest_and_the_owner_disowns_it() {
        let owner = Namespace::new(1);
        let mut replica = Namespace::new(1);
        let forged = Write {
            key: "k".into(),
            value: v("forged"),
            version: 1 << 32,
            prev: 1 << 31,
        };
        replica.apply(&forged, 0).unwrap();
        assert_eq!(replica.digest().watermark, 0, "held ahead of a gap");
        assert_ne!(replica.digest(), owner.digest());
        assert!(owner.disowns_digest(replica.digest()));
        // Honest entries ahead of a gap only while behind the owner: once
        // the gap closes, replica and owner agree to the bit.
        let mut owner = Namespace::new(1);
        let mut replica = Namespace::new(1);
        let (w1, _) = owner.write("a", v("1"), t(0)).unwrap();
        let (w2, _) = owner.write("b", v("1"), t(0)).unwrap();
        replica.apply(&w2, 0).unwrap();
        assert!(
            !owner.disowns_digest(replica.digest()),
            "behind: not a claim"
        );
        replica.apply(&w1, 0).unwrap();
        assert_eq!(replica.digest(), owner.digest());
    }

    #[test]
    fn a_gap_closes_when_the_missing_write_arrives() {
        let mut owner = Namespace::new(1);
        let mut replica = Namespace::new(1);
        let (w1, _) = owner.write("a", v("1"), t(0)).unwrap();
        let (w2, _) = owner.write("b", v("1"), t(0)).unwrap();
        let (w3, _) = owner.write("c", v("1"), t(0)).unwrap();
        replica.apply(&w3, 0).unwrap();
        replica.apply(&w2, 0).unwrap();
        assert_eq!(replica.digest().watermark, 0, "1 is missing");
        replica.apply(&w1, 0).unwrap();
        assert_eq!(replica.digest().watermark, 3);
    }

    #[test]
    fn repair_sends_what_is_above_the_watermark_and_resets_below_the_gc_watermark() {
        let mut owner = Namespace::new(1);
        for i in 0..10 {
            owner
                .write(&format!("k{i}"), v("0123456789"), t(0))
                .unwrap();
        }
        let mut replica = Namespace::new(1);
        let (w1, _) = owner.write("k1", v("new"), t(0)).unwrap();
        replica.apply(&w1, 0).unwrap();
        assert_eq!(replica.digest().watermark, 0, "ahead of a gap");
        let d = owner.deltas(replica.digest()).unwrap();
        assert_eq!((d.entries.len(), d.to, d.reset), (10, 11, false));
        assert!(d.entries.windows(2).all(|w| w[0].version < w[1].version));
        replica.merge(&d).unwrap();
        assert_eq!(replica.digest(), owner.digest());
        assert!(owner.deltas(replica.digest()).is_none());
        // A delete, collected by the owner after the grace period: a replica
        // that never heard of it is reset, and the key goes.
        let mut stale = replica.clone();
        owner.write("k3", None, t(10)).unwrap();
        assert!(owner.collect(t(20)).is_some());
        assert_eq!(owner.digest().gc, 12);
        let d = owner.deltas(stale.digest()).unwrap();
        assert!(d.reset);
        let changes = stale.merge(&d).unwrap();
        assert!(changes.iter().any(|c| &*c.key == "k3" && c.new.is_none()));
        assert_eq!(stale.get("k3"), None);
        assert_eq!(stale.digest(), owner.digest());
    }

    #[test]
    fn limits_are_checked_before_a_write() {
        let mut ns = Namespace::new(1);
        let big = Bytes::from(vec![0u8; MAX_VALUE_LEN + 1]);
        assert_eq!(
            ns.check("k", Some(&big)),
            Err(Refused::ValueLen(MAX_VALUE_LEN + 1))
        );
        assert_eq!(ns.check("", None), Err(Refused::KeyLen(0)));
        let long = "k".repeat(MAX_KEY_LEN + 1);
        assert_eq!(ns.check(&long, None), Err(Refused::KeyLen(MAX_KEY_LEN + 1)));
        for i in 0..MAX_KEYS {
            ns.write(&format!("{i}"), v("x"), t(0)).unwrap();
        }
        assert_eq!(ns.check("one more", v("x").as_ref()), Err(Refused::Keys));
        assert_eq!(
            ns.check("0", v("y").as_ref()),
            Ok(()),
            "a rewrite is no new key"
        );
    }

    /// One owner's operations and a replica that hears some of them by
    /// gossip, in any order, and repairs now and then.
    #[derive(Clone, Debug)]
    enum Op {
        Set(u8, u8),
        Delete(u8),
        Collect,
        Deliver(usize),
        Repair,
        /// The replica hands its own copy to a second replica.
        Relay,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..6, any::<u8>()).prop_map(|(k, x)| Op::Set(k, x)),
            (0u8..6).prop_map(Op::Delete),
            Just(Op::Collect),
            any::<usize>().prop_map(Op::Deliver),
            Just(Op::Repair),
            Just(Op::Relay),
        ]
    }

    proptest! {
        /// Whatever the replica hears and when: its versions never go
        /// backwards, it never holds a value the owner did not write at that
        /// version, nothing at or below a tombstone comes back once its
        /// watermark passed the tombstone, and a full repair makes it equal.
        #[test]
        fn replicas_converge_without_resurrection(ops in proptest::collection::vec(op(), 1..80)) {
            let mut owner = Namespace::new(9);
            let mut replica = Namespace::new(9);
            let mut second = Namespace::new(9);
            let mut sent: Vec<(Write, u64)> = Vec::new();
            let mut written: BTreeMap<u64, (Box<str>, Option<Bytes>)> = BTreeMap::new();
            let mut now = 0;
            for op in ops {
                now += 10;
                match op {
                    Op::Set(k, x) => {
                        let key = format!("k{k}");
                        if owner.check(&key, Some(&Bytes::from(vec![x]))).is_ok() {
                            let (w, _) = owner.write(&key, Some(Bytes::from(vec![x])), t(now)).unwrap();
                            written.insert(w.version, (w.key.clone(), w.value.clone()));
                            sent.push((w, owner.gc()));
                        }
                    }
                    Op::Delete(k) => {
                        if let Some((w, _)) = owner.write(&format!("k{k}"), None, t(now)) {
                            written.insert(w.version, (w.key.clone(), None));
                            sent.push((w, owner.gc()));
                        }
                    }
                    Op::Collect => {
                        if let Some(w) = owner.collect(t(now.saturating_sub(25))) {
                            sent.push((w, owner.gc()));
                        }
                    }
                    Op::Deliver(i) if !sent.is_empty() => {
                        let (w, gc) = sent[i % sent.len()].clone();
                        let before = replica.clone();
                        prop_assert!(replica.apply(&w, gc).is_ok(), "an owner's write refused");
                        check(&before, &replica, &written)?;
                    }
                    Op::Deliver(_) => {}
                    Op::Repair => {
                        if let Some(d) = owner.deltas(replica.digest()) {
                            let before = replica.clone();
                            replica.merge(&d).unwrap();
                            check(&before, &replica, &written)?;
                        }
                    }
                    Op::Relay => {
                        if let Some(d) = replica.deltas(second.digest()) {
                            let before = second.clone();
                            second.merge(&d).unwrap();
                            check(&before, &second, &written)?;
                        }
                    }
                }
            }
            while let Some(d) = owner.deltas(replica.digest()) {
                replica.merge(&d).unwrap();
            }
            prop_assert_eq!(replica.digest(), owner.digest());
            let mine: Vec<_> = replica.iter().map(|(k, v, n)| (k.to_string(), v.clone(), n)).collect();
            let theirs: Vec<_> = owner.iter().map(|(k, v, n)| (k.to_string(), v.clone(), n)).collect();
            prop_assert_eq!(mine, theirs);
        }
    }

    fn check(
        before: &Namespace,
        after: &Namespace,
        written: &BTreeMap<u64, (Box<str>, Option<Bytes>)>,
    ) -> Result<(), TestCaseError> {
        prop_assert!(
            after.watermark >= before.watermark,
            "the watermark went back"
        );
        for (k, e) in &after.keys {
            prop_assert_eq!(
                written.get(&e.version),
                Some(&(k.clone(), e.value.clone())),
                "a value the owner never wrote at that version"
            );
            if let Some(old) = before.keys.get(k) {
                prop_assert!(e.version >= old.version, "a key went back");
            }
        }
        // No resurrection: a key deleted at a version the replica's
        // watermark has passed is never live at or below it.
        for (&version, (key, value)) in written {
            if value.is_none() && version <= after.watermark {
                if let Some(e) = after.keys.get(key) {
                    prop_assert!(e.version > version || e.value.is_none(), "{key} came back");
                }
            }
        }
        Ok(())
    }
}
