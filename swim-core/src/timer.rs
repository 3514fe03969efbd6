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
    /// An exchange with one member held dead, if any (see
    /// [`crate::exchange`]).
    Reconnect = 2,
    /// Try the join seeds again.
    JoinRetry = 3,
}

const PERIODIC: usize = 4;

/// One-shot timers about a member or a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// No direct ack for probe `seq`: ask others (ping-req).
    ProbeTimeout { seq: u32 },
    /// Probe `seq` is still unanswered: ping its target directly once more
    /// (`left`: this one and those still to come).
    ProbeRetry { seq: u32, left: u32 },
    /// A relay's ping for the requester got no ack: send a nack, forget it.
    RelayTimeout { seq: u32 },
    /// The suspicion of `member` (in state generation `generation`) may be over.
    Suspicion { member: Name, generation: u32 },
    /// Reap a dead or left member (if still in state generation `generation`).
    Reap { member: Name, generation: u32 },
    /// Query `id` of ours stops waiting for answers.
    QueryDone { id: u64 },
    /// User query `id` of ours stops waiting for answers.
    UserQueryDone { id: u64 },
    /// A held answer's origin stops waiting (see [`crate::query::Unsent`]).
    AnswerDue,
    /// A held member may be shown again (see [`crate::damping`]).
    Release { member: Name },
    /// Ping `member`, back with others at once: its answer confirms a heal
    /// (see [`crate::heal`]).
    HealCheck { member: Name },
    /// `member`, live, moved away from `from`: tell `from` (if the member
    /// still runs there, the move was forged, and it refutes first-hand).
    MoveNotice {
        member: Name,
        from: std::net::SocketAddr,
    },
    /// The check of the candidate whose pings carry `seq` moves on: to
    /// ping-reqs, or it is forgotten (see [`crate::candidate`]).
    Candidate { seq: u32 },
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

    /// Removes and returns the earliest due timer, if any.
    ///
    /// Timers fire in time order, whatever their kind: after a stall, a
    /// suspicion that ran out before a probe tick was due fires first. At the
    /// same instant, one-shot deadlines go first (in the order they were
    /// scheduled), then periodic timers in kind order: probe, gossip,
    /// push-pull, join retry. A periodic timer is one deadline, not a
    /// series: after a stall it fires once, and its handler sets the next
    /// one from the present, so there is no burst of catch-up ticks.
    pub fn pop(&mut self, now: Instant) -> Option<Timer> {
        let periodic = self
            .periodic
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.filter(|&t| t <= now).map(|t| (t, i)))
            .min();
        let deadline = self.heap.peek().map(|e| e.0.at).filter(|&at| at <= now);
        match (deadline, periodic) {
            (Some(d), Some((p, _))) if d <= p => self.heap.pop().map(|e| Timer::Deadline(e.0.what)),
            (Some(_), None) => self.heap.pop().map(|e| Timer::Deadline(e.0.what)),
            (_, Some((_, i))) => {
                self.periodic[i] = None;
                Some(Timer::Periodic(KINDS[i]))
            }
            (None, None) => None,
        }
    }
}

/// Periodic timers in kind order (their index in [`Timers::periodic`]).
const KINDS: [Periodic; PERIODIC] = [
    Periodic::Probe,
    Periodic::Gossip,
    Periodic::Reconnect,
    Periodic::JoinRetry,
];

/// A timer that fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// A periodic timer.
    Periodic(Periodic),
    /// A one-shot deadline.
    Deadline(Deadline),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_due_timers_in_time_order_whatever_their_kind() {
        let mut t = Timers::default();
        t.set(Periodic::Gossip, Instant::from_millis(200));
        t.set(Periodic::Probe, Instant::from_millis(1000));
        t.schedule(Instant::from_millis(500), Deadline::ProbeTimeout { seq: 1 });
        t.schedule(Instant::from_millis(100), Deadline::RelayTimeout { seq: 2 });
        assert_eq!(t.next(), Some(Instant::from_millis(100)));
        // A stall: everything up to 600 ms is due at once.
        let now = Instant::from_millis(600);
        assert_eq!(
            t.pop(now),
            Some(Timer::Deadline(Deadline::RelayTimeout { seq: 2 }))
        );
        assert_eq!(t.pop(now), Some(Timer::Periodic(Periodic::Gossip)));
        assert_eq!(
            t.pop(now),
            Some(Timer::Deadline(Deadline::ProbeTimeout { seq: 1 }))
        );
        assert_eq!(t.pop(now), None);
        assert_eq!(t.next(), Some(Instant::from_millis(1000)));
        t.stop(Periodic::Probe);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn ties_go_to_deadlines_then_periodic_timers_in_kind_order() {
        let mut t = Timers::default();
        let at = Instant::from_millis(50);
        t.set(Periodic::Reconnect, at);
        t.set(Periodic::Probe, at);
        t.schedule(at, Deadline::ProbeTimeout { seq: 1 });
        t.schedule(at, Deadline::RelayTimeout { seq: 2 });
        let order: Vec<Timer> = std::iter::from_fn(|| t.pop(at)).collect();
        assert_eq!(
            order,
            vec![
                Timer::Deadline(Deadline::ProbeTimeout { seq: 1 }),
                Timer::Deadline(Deadline::RelayTimeout { seq: 2 }),
                Timer::Periodic(Periodic::Probe),
                Timer::Periodic(Periodic::Reconnect),
            ]
        );
    }
}
