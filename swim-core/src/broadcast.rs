//! The piggyback queue: membership updates waiting to be gossiped.
//!
//! Each update is held already encoded, keyed by the member it is about: a newer
//! update about a member replaces the older one and starts again at zero
//! transmissions. Packing takes the least-transmitted updates first (newest
//! first among equals) until the byte budget is spent; an update is dropped
//! after `retransmit_mult * ceil(log10(n + 1))` transmissions.

use bytes::Bytes;
use foldhash::fast::FixedState;
use hashbrown::HashMap;
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How many times an update is sent in a cluster of `n` members.
pub fn retransmit_limit(mult: u32, n: usize) -> u32 {
    let scale = ((n as f64) + 1.0).log10().ceil() as u32;
    mult * scale.max(1)
}

/// Ordering key: fewest transmissions first, then newest first.
type Key = (u32, Reverse<u64>);

#[derive(Debug, Default)]
pub(crate) struct BroadcastQueue {
    /// Which key each member's pending update is stored under.
    by_member: HashMap<Arc<str>, Key, FixedState>,
    queue: BTreeMap<Key, (Arc<str>, Bytes)>,
    next_id: u64,
}

impl BroadcastQueue {
    pub fn new(hash_seed: u64) -> Self {
        BroadcastQueue {
            by_member: HashMap::with_hasher(FixedState::with_seed(hash_seed)),
            queue: BTreeMap::new(),
            next_id: 0,
        }
    }

    /// Queues `encoded` (an encoded `Update` about `member`), replacing any
    /// pending update about the same member.
    pub fn push(&mut self, member: Arc<str>, encoded: Bytes) {
        if let Some(old) = self.by_member.remove(&member) {
            self.queue.remove(&old);
        }
        let key = (0, Reverse(self.next_id));
        self.next_id += 1;
        self.by_member.insert(member.clone(), key);
        self.queue.insert(key, (member, encoded));
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Is an update about `member` still waiting to be sent?
    pub fn contains(&self, member: &str) -> bool {
        self.by_member.contains_key(member)
    }

    /// Drops everything pending about `member`.
    pub fn forget(&mut self, member: &str) {
        if let Some(key) = self.by_member.remove(member) {
            self.queue.remove(&key);
        }
    }

    /// Takes updates whose framed size (`frame(len)`) fits in `budget` bytes
    /// in total, fewest transmissions first, and counts one transmission for
    /// each; an update that reached `limit` transmissions leaves the queue.
    pub fn take(&mut self, mut budget: usize, limit: u32, frame: impl Fn(usize) -> usize) -> Vec<Bytes> {
        const SMALLEST: usize = 8;
        let mut picked: Vec<Key> = Vec::new();
        let mut skipped = 0;
        for (key, (_, bytes)) in self.queue.iter() {
            if budget < SMALLEST || skipped > 32 {
                break;
            }
            let size = frame(bytes.len());
            if size <= budget {
                budget -= size;
                picked.push(*key);
            } else {
                skipped += 1;
            }
        }
        let mut out = Vec::with_capacity(picked.len());
        for key in picked {
            let Some((member, bytes)) = self.queue.remove(&key) else { continue };
            out.push(bytes.clone());
            let sent = key.0 + 1;
            if sent >= limit {
                self.by_member.remove(&member);
            } else {
                let next = (sent, key.1);
                self.by_member.insert(member.clone(), next);
                self.queue.insert(next, (member, bytes));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(tag: u8, len: usize) -> Bytes {
        Bytes::from(vec![tag; len])
    }

    #[test]
    fn retransmit_limit_is_mult_times_ceil_log10() {
        assert_eq!(retransmit_limit(4, 1), 4);
        assert_eq!(retransmit_limit(4, 9), 4);
        assert_eq!(retransmit_limit(4, 10), 8);
        assert_eq!(retransmit_limit(4, 99), 8);
        assert_eq!(retransmit_limit(4, 100), 12);
        assert_eq!(retransmit_limit(3, 1000), 12);
        assert_eq!(retransmit_limit(4, 0), 4);
    }

    #[test]
    fn an_update_is_sent_limit_times_then_dropped() {
        let mut q = BroadcastQueue::new(0);
        q.push("a".into(), bytes(1, 10));
        for _ in 0..3 {
            assert_eq!(q.take(1000, 3, |l| l).len(), 1);
        }
        assert!(q.take(1000, 3, |l| l).is_empty());
        assert_eq!(q.len(), 0);
        assert!(!q.contains("a"));
    }

    #[test]
    fn newer_update_replaces_older_and_restarts_its_count() {
        let mut q = BroadcastQueue::new(0);
        q.push("a".into(), bytes(1, 10));
        q.take(1000, 3, |l| l);
        q.take(1000, 3, |l| l);
        q.push("a".into(), bytes(2, 10));
        assert_eq!(q.len(), 1);
        for _ in 0..3 {
            assert_eq!(q.take(1000, 3, |l| l), vec![bytes(2, 10)]);
        }
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn fewest_transmissions_first_and_newest_among_equals() {
        let mut q = BroadcastQueue::new(0);
        q.push("old".into(), bytes(1, 10));
        q.take(1000, 9, |l| l);
        q.push("b".into(), bytes(2, 10));
        q.push("c".into(), bytes(3, 10));
        assert_eq!(q.take(10, 9, |l| l), vec![bytes(3, 10)], "newest untransmitted first");
        assert_eq!(q.take(10, 9, |l| l), vec![bytes(2, 10)]);
        // All three have been sent once now: newest first again.
        assert_eq!(q.take(20, 9, |l| l), vec![bytes(3, 10), bytes(2, 10)]);
        assert_eq!(q.take(10, 9, |l| l), vec![bytes(1, 10)]);
    }

    #[test]
    fn packing_never_exceeds_the_budget_and_skips_what_does_not_fit() {
        let mut q = BroadcastQueue::new(0);
        q.push("big".into(), bytes(1, 300));
        q.push("small".into(), bytes(2, 40));
        q.push("mid".into(), bytes(3, 100));
        let frame = |l: usize| l + 2;
        let got = q.take(150, 9, frame);
        let used: usize = got.iter().map(|b| frame(b.len())).sum();
        assert!(used <= 150);
        assert_eq!(got, vec![bytes(3, 100), bytes(2, 40)]);
        assert_eq!(q.take(302, 9, frame), vec![bytes(1, 300)]);
    }
}
