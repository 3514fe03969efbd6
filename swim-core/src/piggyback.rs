//! The piggyback queue: membership updates waiting to be gossiped.
//!
//! Each update is held already encoded, keyed by the member it is about: a newer
//! update about a member replaces the older one and starts again at zero
//! transmissions. Packing takes the updates with the lowest score (our sends
//! plus the times we heard them back) first, the one queued last first among
//! equals, until the byte budget is spent; an update is dropped after
//! `retransmit_mult * ceil(log10(n + 1))` of our own transmissions.
//!
//! Updates come in two priorities. *News* (heard by gossip, or this node's own)
//! always goes first. *Repair* (learned from a peer's full state, as when
//! joining) only fills room news leaves: in a small cluster it adds welcome
//! redundancy, in a large join wave it never crowds out what others have not
//! heard yet.

use crate::member_table::{reserve_one, MemberTable};

/// How many times an update is sent in a cluster of `n` members:
/// `mult * ceil(log10(n + 1))`, computed exactly as `mult * digits(n)`.
pub fn retransmit_limit(mult: u32, n: usize) -> u32 {
    let digits = n.checked_ilog10().map_or(1, |d| d + 1);
    mult * digits
}

/// Which updates go first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Priority {
    /// Fresh: heard by gossip, or about this node.
    News,
    /// Already known to the cluster: learned from a full-state exchange.
    Repair,
}

/// An update about a member waiting to be sent; it lives in the member's
/// table entry, so hearing an update and queueing one share a lookup.
///
/// Its *score* counts our transmissions plus the times we heard the same update
/// from others: a rumor that keeps coming back is widespread, so bandwidth goes
/// to rarer ones first (rumor mongering with feedback, Demers et al. 1987).
/// Only our own transmissions (`sent`) count towards the limit, so feedback
/// reorders the queue but never cuts an update's retransmissions short.
/// 32 bytes: a join wave queues one in every entry of every node.
#[derive(Debug)]
pub(crate) struct Pending {
    encoded: Encoded,
    /// The priority (top bit: set for repair) and the update's id (the rest).
    tag: u32,
    score: u16,
    sent: u16,
}

impl Pending {
    /// Another node just told us this update: raise its score so that rarer
    /// updates go first.
    pub fn heard(&mut self) {
        self.score = self.score.saturating_add(1);
    }

    /// The class this update waits in: news before repair, then by the bit
    /// length of the score (0, 1, 2-3, 4-7, ...): an update moves class a
    /// handful of times however often it is heard, and each move costs a
    /// visit to its entry.
    fn class(&self) -> usize {
        let repair = usize::from(self.tag & REPAIR != 0);
        repair * SCORES + (u16::BITS - self.score.leading_zeros()) as usize
    }
}

/// Longest encoded update kept inline in its [`Pending`].
const INLINE: usize = 22;

/// An encoded update: inline when short (an alive update with a name of up
/// to about ten bytes, the common case during a join wave), else boxed. A box
/// of 20 bytes costs a 32-byte allocation on top of the 16-byte pointer, and
/// a join wave queues one update per member in every node.
#[derive(Debug)]
pub(crate) enum Encoded {
    Inline { len: u8, bytes: [u8; INLINE] },
    Boxed(Box<[u8]>),
}

impl Encoded {
    /// Holds `encoded`.
    pub fn new(encoded: &[u8]) -> Encoded {
        if encoded.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..encoded.len()].copy_from_slice(encoded);
            Encoded::Inline {
                len: encoded.len() as u8,
                bytes,
            }
        } else {
            Encoded::Boxed(encoded.into())
        }
    }

    /// The encoded bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Encoded::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Encoded::Boxed(b) => b,
        }
    }
}

/// Marks the tag of a repair update (the top bit); the rest is the update's id.
const REPAIR: u32 = 1 << 31;

/// Score classes per priority: one per bit length of a `u16` score.
const SCORES: usize = u16::BITS as usize + 1;

/// A queued reference to a member's pending update. Checked against the
/// member's [`Pending`] when taken: a replaced update (another tag) is
/// skipped, and one whose score was raised since moves to its new class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    tag: u32,
    /// The member's slot in the membership table.
    member: u32,
}

/// The order in which pending updates go out, as a bucket queue: one stack
/// per (priority, score) class, news classes first, so queueing and taking
/// cost O(1) whatever the queue's length. Within a class the update queued
/// last goes first, so fresh news leads. The updates themselves are in the
/// membership table ([`Entry::gossip`](crate::member_table::Entry)).
#[derive(Debug)]
pub(crate) struct PiggybackQueue {
    classes: Vec<Vec<Slot>>,
    /// No class below this one holds a slot.
    lowest: usize,
    /// Slots in all classes, stale ones included.
    slots: usize,
    /// Members with an update queued.
    pending: usize,
    next_id: u32,
}

impl Default for PiggybackQueue {
    fn default() -> Self {
        PiggybackQueue {
            classes: (0..2 * SCORES).map(|_| Vec::new()).collect(),
            lowest: 2 * SCORES,
            slots: 0,
            pending: 0,
            next_id: 0,
        }
    }
}

impl PiggybackQueue {
    /// Queues `encoded` (an encoded `Update` about the member in `slot` of
    /// `members`), replacing any pending update about the same member.
    pub fn push(
        &mut self,
        members: &mut MemberTable,
        slot: u32,
        encoded: Encoded,
        priority: Priority,
    ) {
        let Some(entry) = members.at_mut(slot) else {
            return;
        };
        let flag = match priority {
            Priority::News => 0,
            Priority::Repair => REPAIR,
        };
        // Ids wrap: a tag only needs to differ from the stale slots still queued.
        let tag = flag | (self.next_id & !REPAIR);
        self.next_id = self.next_id.wrapping_add(1);
        let pending = Pending {
            encoded,
            tag,
            score: 0,
            sent: 0,
        };
        let class = pending.class();
        if entry.gossip.replace(pending).is_none() {
            self.pending += 1;
        }
        self.enqueue(class, Slot { tag, member: slot });
        if self.slots > 2 * self.pending + 64 {
            self.compact(members);
        }
    }

    fn enqueue(&mut self, class: usize, slot: Slot) {
        let stack = &mut self.classes[class];
        reserve_one(stack);
        stack.push(slot);
        self.slots += 1;
        self.lowest = self.lowest.min(class);
    }

    /// Drops the slots of replaced or finished updates.
    fn compact(&mut self, members: &MemberTable) {
        for stack in &mut self.classes {
            stack.retain(|s| {
                members
                    .at(s.member)
                    .and_then(|e| e.gossip.as_ref())
                    .is_some_and(|p| p.tag == s.tag)
            });
        }
        self.slots = self.classes.iter().map(Vec::len).sum();
    }

    /// The next slot in queue order, removed from its class.
    fn pop(&mut self) -> Option<(usize, Slot)> {
        while self.lowest < self.classes.len() {
            let stack = &mut self.classes[self.lowest];
            if let Some(slot) = stack.pop() {
                self.slots -= 1;
                return Some((self.lowest, slot));
            }
            // A join wave moves most of the queue through every class in
            // turn: an emptied class gives its room back.
            if stack.capacity() > 64 {
                *stack = Vec::new();
            }
            self.lowest += 1;
        }
        None
    }

    /// Accounts for a member leaving the table with `pending` still queued.
    pub fn forget(&mut self, pending: Option<Pending>) {
        if pending.is_some() {
            self.pending -= 1;
        }
    }

    /// How many members have an update queued.
    pub fn len(&self) -> usize {
        self.pending
    }

    /// Hands `out` updates whose framed size (`frame(len)`) fits in `budget`
    /// bytes in total, lowest score first, and counts one transmission for
    /// each; an update that reached `limit` transmissions leaves the queue.
    /// Returns how many updates went out.
    pub fn take(
        &mut self,
        members: &mut MemberTable,
        mut budget: usize,
        limit: u32,
        frame: impl Fn(usize) -> usize,
        mut out: impl FnMut(&[u8]),
    ) -> usize {
        const SMALLEST: usize = 8;
        let mut taken = 0;
        let mut aside: Vec<(usize, Slot)> = Vec::new();
        let mut skipped = 0;
        while budget >= SMALLEST && skipped <= 32 {
            let Some((class, slot)) = self.pop() else {
                break;
            };
            let Some(entry) = members.at_mut(slot.member) else {
                continue;
            };
            let Some(p) = entry.gossip.as_mut().filter(|p| p.tag == slot.tag) else {
                continue;
            };
            if p.class() != class {
                // Heard since it was queued: it waits among its peers now.
                let class = p.class();
                self.enqueue(class, slot);
                continue;
            }
            let encoded = p.encoded.as_slice();
            let size = frame(encoded.len());
            if size > budget {
                skipped += 1;
                aside.push((class, slot));
                continue;
            }
            budget -= size;
            out(encoded);
            taken += 1;
            p.sent = p.sent.saturating_add(1);
            p.score = p.score.saturating_add(1);
            if u32::from(p.sent) >= limit {
                entry.gossip = None;
                self.pending -= 1;
            } else {
                aside.push((p.class(), slot));
            }
        }
        // In reverse, so that what went out first this time leads its class.
        for (class, slot) in aside.into_iter().rev() {
            self.enqueue(class, slot);
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::member::{Member, Status};
    use crate::time::Instant;
    use crate::util::Random;
    use bytes::Bytes;
    use std::sync::Arc;

    /// The queue with a table that knows every member a test names.
    struct Queue {
        q: PiggybackQueue,
        m: MemberTable,
        rng: Random,
    }

    impl Queue {
        fn new(_seed: u64) -> Self {
            Queue {
                q: PiggybackQueue::default(),
                m: MemberTable::new(0),
                rng: Random::new(0),
            }
        }

        fn push(&mut self, name: Arc<str>, encoded: Bytes, priority: Priority) {
            if self.m.get(&name).is_none() {
                let member = Member {
                    name: name.clone().into(),
                    addr: ([10, 0, 0, 1], 1).into(),
                    incarnation: 0,
                    status: Status::Alive,
                };
                self.m.insert(member, Instant::ZERO, &mut self.rng);
            }
            let slot = self.m.slot(&name).unwrap();
            self.q
                .push(&mut self.m, slot, Encoded::new(&encoded), priority);
        }

        fn take(
            &mut self,
            budget: usize,
            limit: u32,
            frame: impl Fn(usize) -> usize,
        ) -> Vec<Bytes> {
            let mut out = Vec::new();
            self.q.take(&mut self.m, budget, limit, frame, |u| {
                out.push(Bytes::copy_from_slice(u))
            });
            out
        }

        fn heard(&mut self, name: &str) {
            if let Some(p) = self.m.get_mut(name).and_then(|e| e.gossip.as_mut()) {
                p.heard();
            }
        }

        fn len(&self) -> usize {
            self.q.len()
        }

        fn contains(&self, name: &str) -> bool {
            self.m.get(name).is_some_and(|e| e.gossip.is_some())
        }
    }

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
        for n in (0..100_000).chain([usize::MAX / 3]) {
            let float = ((n as f64) + 1.0).log10().ceil().max(1.0) as u32;
            assert_eq!(retransmit_limit(2, n), 2 * float, "n = {n}");
        }
    }

    #[test]
    fn an_update_is_sent_limit_times_then_dropped() {
        let mut q = Queue::new(0);
        q.push("a".into(), bytes(1, 10), Priority::News);
        for _ in 0..3 {
            assert_eq!(q.take(1000, 3, |l| l).len(), 1);
        }
        assert!(q.take(1000, 3, |l| l).is_empty());
        assert_eq!(q.len(), 0);
        assert!(!q.contains("a"));
    }

    #[test]
    fn newer_update_replaces_older_and_restarts_its_count() {
        let mut q = Queue::new(0);
        q.push("a".into(), bytes(1, 10), Priority::News);
        q.take(1000, 3, |l| l);
        q.take(1000, 3, |l| l);
        q.push("a".into(), bytes(2, 10), Priority::News);
        assert_eq!(q.len(), 1);
        for _ in 0..3 {
            assert_eq!(q.take(1000, 3, |l| l), vec![bytes(2, 10)]);
        }
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn fewest_transmissions_first_and_last_queued_among_equals() {
        let mut q = Queue::new(0);
        q.push("old".into(), bytes(1, 10), Priority::News);
        q.take(1000, 9, |l| l);
        q.push("b".into(), bytes(2, 10), Priority::News);
        q.push("c".into(), bytes(3, 10), Priority::News);
        assert_eq!(
            q.take(10, 9, |l| l),
            vec![bytes(3, 10)],
            "newest untransmitted first"
        );
        assert_eq!(q.take(10, 9, |l| l), vec![bytes(2, 10)]);
        // All three have been sent once now: the one sent last goes first.
        assert_eq!(q.take(20, 9, |l| l), vec![bytes(2, 10), bytes(3, 10)]);
        assert_eq!(q.take(10, 9, |l| l), vec![bytes(1, 10)]);
        // Sent together, b and c keep their order in the next class, behind
        // the one sent since.
        assert_eq!(
            q.take(30, 9, |l| l),
            vec![bytes(1, 10), bytes(2, 10), bytes(3, 10)]
        );
    }

    #[test]
    fn repair_only_fills_room_that_news_leaves() {
        let mut q = Queue::new(0);
        q.push("old".into(), bytes(1, 10), Priority::Repair);
        q.push("new".into(), bytes(2, 10), Priority::News);
        for _ in 0..3 {
            assert_eq!(
                q.take(10, 3, |l| l),
                vec![bytes(2, 10)],
                "news first while it lasts"
            );
        }
        assert_eq!(q.take(10, 3, |l| l), vec![bytes(1, 10)]);
        q.push("old".into(), bytes(3, 10), Priority::News);
        q.push("x".into(), bytes(4, 10), Priority::Repair);
        assert_eq!(
            q.take(10, 3, |l| l),
            vec![bytes(3, 10)],
            "a newer update is news again"
        );
    }

    #[test]
    fn feedback_reorders_but_never_cuts_retransmissions() {
        let mut q = Queue::new(0);
        q.push("common".into(), bytes(1, 10), Priority::News);
        q.push("rare".into(), bytes(2, 10), Priority::News);
        q.heard("rare");
        q.heard("rare");
        assert_eq!(
            q.take(10, 3, |l| l),
            vec![bytes(1, 10)],
            "the update heard back goes later"
        );
        let mut rest = Vec::new();
        for _ in 0..10 {
            rest.extend(q.take(10, 3, |l| l));
        }
        assert_eq!(
            rest.iter().filter(|b| **b == bytes(2, 10)).count(),
            3,
            "still sent limit times"
        );
        assert_eq!(rest.iter().filter(|b| **b == bytes(1, 10)).count(), 2);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn packing_never_exceeds_the_budget_and_skips_what_does_not_fit() {
        let mut q = Queue::new(0);
        q.push("big".into(), bytes(1, 300), Priority::News);
        q.push("small".into(), bytes(2, 40), Priority::News);
        q.push("mid".into(), bytes(3, 100), Priority::News);
        let frame = |l: usize| l + 2;
        let got = q.take(150, 9, frame);
        let used: usize = got.iter().map(|b| frame(b.len())).sum();
        assert!(used <= 150);
        assert_eq!(got, vec![bytes(3, 100), bytes(2, 40)]);
        assert_eq!(q.take(302, 9, frame), vec![bytes(1, 300)]);
    }

    #[test]
    fn short_updates_are_inline_and_long_ones_boxed() {
        for len in [0, 1, INLINE, INLINE + 1, 300] {
            let e = Encoded::new(&bytes(7, len));
            assert_eq!(e.as_slice(), &bytes(7, len)[..]);
            assert_eq!(matches!(e, Encoded::Inline { .. }), len <= INLINE);
        }
        assert_eq!(std::mem::size_of::<Encoded>(), 24);
    }

    #[test]
    fn queued_updates_are_small() {
        assert_eq!(std::mem::size_of::<Slot>(), 8);
        assert_eq!(std::mem::size_of::<Pending>(), 32);
        assert_eq!(std::mem::size_of::<Option<Pending>>(), 32);
    }

    #[test]
    fn many_scores_and_stale_slots_keep_the_order() {
        let mut q = Queue::new(0);
        for i in 0..100u8 {
            q.push(format!("m{i}").into(), bytes(i, 10), Priority::News);
        }
        // Replacing updates leaves stale slots behind; they are never sent.
        for i in 0..100u8 {
            q.push(format!("m{i}").into(), bytes(i, 10), Priority::News);
        }
        for _ in 0..40 {
            q.heard("m7");
        }
        let mut sent = Vec::new();
        loop {
            let got = q.take(10, 2, |l| l);
            if got.is_empty() {
                break;
            }
            sent.extend(got);
        }
        assert_eq!(sent.len(), 200, "each sent exactly limit times");
        assert_eq!(q.len(), 0);
        assert_eq!(
            sent.last(),
            Some(&bytes(7, 10)),
            "the update heard most goes last"
        );
    }
}
