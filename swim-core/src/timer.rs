//! Timers as plain data.
//!
//! Periodic timers (one of each kind) live in a small table; timers that exist
//! per member or per request (suspicion, reap, probe and relay timeouts) live
//! in a min-heap of deadlines. Heap entries carry what they are about and are
//! checked against the node's state when they fire, so cancelling one is free:
//! a stale entry simply does nothing.

use crate::name::Name;
use crate::time::Instant;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Periodic timers: at most one pending deadline each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Periodic {
    /// Start the next probe (and conclude the previous one).
    Probe = 0,
    /// Send piggybacked updates to `fanout` random members.
    Gossip = 1,
    /// Full-state exchange with one random member.
    PushPull = 2,
    /// Try the join seeds again.
    JoinRetry = 3,
}

const PERIODIC: usize = 4;

/// One-shot timers about a member or a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// No direct ack for probe `seq`: ask others (ping-req).
    ProbeTimeout { seq: u32 },
    /// A relay's ping for the requester got no ack: send a nack, forget it.
    RelayTimeout { seq: u32 },
    /// The suspicion of `member` (in state generation `generation`) may be over.
    Suspicion { member: Name, generation: u32 },
    /// Reap a dead or left member (if still in state generation `generation`).
    Reap { member: Name, generation: u32 },
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    seq: u64,
    what: Deadline,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// All pending timers of a node.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    periodic: [Option<Instant>; PERIODIC],
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

impl Timers {
    pub fn set(&mut self, timer: Periodic, at: Instant) {
        self.periodic[timer as usize] = Some(at);
    }

    pub fn stop(&mut self, timer: Periodic) {
        self.periodic[timer as usize] = None;
    }

    pub fn get(&self, timer: Periodic) -> Option<Instant> {
        self.periodic[timer as usize]
    }

    pub fn schedule(&mut self, at: Instant, what: Deadline) {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            at,
            seq: self.seq,
            what,
        }));
    }

    /// The earliest pending deadline.
    pub fn next(&self) -> Option<Instant> {
        let heap = self.heap.peek().map(|e| e.0.at);
        self.periodic.iter().flatten().copied().chain(heap).min()
    }

    /// Removes and returns a due periodic timer, earliest first (ties in kind order).
    pub fn pop_periodic(&mut self, now: Instant) -> Option<Periodic> {
        const KINDS: [Periodic; PERIODIC] = [
            Periodic::Probe,
            Periodic::Gossip,
            Periodic::PushPull,
            Periodic::JoinRetry,
        ];
        let (i, _) = self
            .periodic
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.filter(|&t| t <= now).map(|t| (i, t)))
            .min_by_key(|&(i, t)| (t, i))?;
        self.periodic[i] = None;
        Some(KINDS[i])
    }

    /// Removes and returns a due one-shot deadline, earliest first.
    pub fn pop_deadline(&mut self, now: Instant) -> Option<Deadline> {
        if self.heap.peek()?.0.at > now {
            return None;
        }
        self.heap.pop().map(|e| e.0.what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_due_timers_in_deadline_order() {
        let mut t = Timers::default();
        t.set(Periodic::Gossip, Instant::from_millis(200));
        t.set(Periodic::Probe, Instant::from_millis(1000));
        t.schedule(Instant::from_millis(500), Deadline::ProbeTimeout { seq: 1 });
        t.schedule(Instant::from_millis(100), Deadline::RelayTimeout { seq: 2 });
        assert_eq!(t.next(), Some(Instant::from_millis(100)));
        let now = Instant::from_millis(600);
        assert_eq!(t.pop_deadline(now), Some(Deadline::RelayTimeout { seq: 2 }));
        assert_eq!(t.pop_deadline(now), Some(Deadline::ProbeTimeout { seq: 1 }));
        assert_eq!(t.pop_deadline(now), None);
        assert_eq!(t.pop_periodic(now), Some(Periodic::Gossip));
        assert_eq!(t.pop_periodic(now), None);
        assert_eq!(t.next(), Some(Instant::from_millis(1000)));
        t.stop(Periodic::Probe);
        assert_eq!(t.next(), None);
    }
}
