//! User events (Serf's `serf event`): a name and a small payload that one
//! member tells every member once (deploy hooks, cache invalidation,
//! config pushes).
//!
//! An event spreads by gossip, piggybacked after membership updates in a
//! class of its own (it never takes room a membership update or a key
//! write wanted, see `gossip::packet`), passed on three times as often as
//! an update, like a query: nothing else repairs a member it missed while
//! it spread, except the recent events every full-state exchange carries.
//!
//! **Ordering and duplicates.** Events are stamped with the cluster's
//! *event clock* (Serf's event Lamport time): the origin stamps an event
//! with its clock and moves it on; every member that hears an event, or
//! exchanges full state with a peer (both sides send their clock), moves
//! its own past it. Each member remembers the last [`RECENT`] events it
//! delivered, by `(clock, origin, id)`; an event it remembers is not
//! delivered again, and one stamped below its *floor* is old and ignored.
//! The floor is the clock learned at the member's first full-state
//! exchange (a joining member, or a restarted one, which joins again,
//! delivers nothing fired before it joined, as Serf's agent does without
//! `-replay`), raised past every event forgotten to make room (one
//! forgotten could not be told from a new one). A member that comes back
//! from a partition keeps its floor: the events fired meanwhile that its
//! peers still remember reach it in the exchanges that heal the cut, and
//! the ones it saw already are not delivered twice.
//!
//! A clock value from the network moves the clock at most
//! [`MAX_CLOCK_JUMP`] at once; a further-ahead event is dropped as
//! implausible. The first clock a joiner learns is one peer's word (an
//! insider seed's could be far off): it is provisional until a second
//! peer's agrees within the jump (see `UserEvents::learn`).
//!
//! **Bounds.** An event's name and payload together are at most
//! [`MAX_EVENT_SIZE`] bytes (Serf's limit), refused at the call. A member
//! remembers at most [`RECENT`] events and passes on at most
//! [`MAX_QUEUED`] at once, at most [`MAX_QUEUED_PER_ORIGIN`] of one origin
//! (a burst of 100 of one origin is admitted; an insider naming many
//! origins takes the whole queue, never a membership update's room); an
//! event not queued is still delivered, and others pass it on. A
//! full-state exchange carries the [`IN_EXCHANGE`] most recent events.
//! An insider (or, on a plain cluster, anyone who can send to the
//! cluster's port) can fire events: every handler must treat a payload as
//! untrusted.

use crate::name::Name;
use crate::wire::DropReason;
use bytes::Bytes;
use prost::Message as _;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use swim_proto as pb;

/// The most bytes an event's name and payload take together (Serf's
/// `UserEventSizeLimit`).
pub const MAX_EVENT_SIZE: usize = 512;

/// Events a member remembers having delivered (Serf's event buffer).
pub const RECENT: usize = 512;

/// Events a member passes on at once.
pub const MAX_QUEUED: usize = 256;

/// Events of one origin a member passes on at once.
pub const MAX_QUEUED_PER_ORIGIN: usize = 128;

/// The most recent events a full-state exchange carries.
pub const IN_EXCHANGE: usize = 64;

/// The most a clock from the network moves this member's event clock.
pub const MAX_CLOCK_JUMP: u64 = 1 << 20;

/// The most the events of one packet move this member's event clock past
/// what it was before the packet (a flood of events each a jump ahead of
/// the last would otherwise walk every member's clock without bound).
pub const MAX_PACKET_STEP: u64 = 64;

/// The most one full-state exchange moves this member's event clock once
/// it has joined: enough for a side of a healed partition to catch up
/// with a busy one in a few exchanges (3,000 events: 6), too little for
/// an insider answering exchanges to carry members a jump away from the
/// rest.
pub const MAX_EXCHANGE_STEP: u64 = RECENT as u64;

/// The highest event floor [`crate::Node::resume_events`] takes (a
/// cluster that fires a million events a second for eight years stays
/// below it).
pub const MAX_RESUMED_FLOOR: u64 = 1 << 48;

/// How far above the clock peers teach a resumed floor may stand: the
/// events an earlier life delivered that those peers never heard of (a
/// garbage floor, or one a forger walked up, is cut down to this).
pub const RESUME_SLACK: u64 = MAX_PACKET_STEP;

/// A user event as delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UserEvent {
    pub origin: Name,
    pub id: u64,
    pub clock: u64,
    pub name: String,
    pub payload: Bytes,
    pub coalesce: bool,
    /// The event as it came, to pass on unchanged.
    pub encoded: Bytes,
}

/// Whether `name` may name an event: 1 to [`MAX_EVENT_SIZE`] bytes with
/// its payload, no control or invisible characters.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(crate::wire::hidden)
}

/// Encodes an event.
pub(crate) fn encode(
    origin: &Name,
    id: u64,
    clock: u64,
    name: &str,
    payload: &[u8],
    coalesce: bool,
) -> Bytes {
    pb::UserEvent {
        origin: Bytes::copy_from_slice(origin.as_bytes()),
        id,
        clock,
        name: name.to_owned(),
        payload: Bytes::copy_from_slice(payload),
        coalesce,
    }
    .encode_to_vec()
    .into()
}

/// Decodes and validates a `swim.v1.UserEvent` (`field`, a slice of
/// `packet`).
pub(crate) fn decode(packet: &Bytes, field: &[u8]) -> Result<UserEvent, DropReason> {
    let e = pb::UserEvent::decode(field).map_err(|_| DropReason::Malformed)?;
    if !valid_name(&e.name) || e.name.len() + e.payload.len() > MAX_EVENT_SIZE {
        return Err(DropReason::Invalid);
    }
    Ok(UserEvent {
        origin: crate::wire::name(&e.origin)?,
        id: e.id,
        clock: e.clock,
        name: e.name,
        payload: e.payload,
        coalesce: e.coalesce,
        encoded: packet.slice_ref(field),
    })
}

/// What became of an event heard from the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Heard {
    /// New: deliver it; it is passed on unless `refused` (its origin, or
    /// all origins, had as many queued as a member keeps).
    New { refused: bool },
    /// Delivered before: ignored.
    Again,
    /// Stamped below the floor: fired before this member joined, or
    /// forgotten here to make room.
    Old,
    /// Stamped more than [`MAX_CLOCK_JUMP`] past this member's clock.
    Implausible,
}

/// An event to pass on.
#[derive(Debug)]
struct Queued {
    origin: Name,
    encoded: Bytes,
    /// How often it went out.
    sent: u32,
}

/// The event clock, the events remembered and those to pass on.
#[derive(Debug, Default)]
pub(crate) struct UserEvents {
    /// The stamp of this member's next event, past every stamp heard.
    clock: u64,
    /// Events stamped below it are old here.
    floor: u64,
    /// Events delivered, by `(clock, origin, id)`, with their encoding
    /// (full-state exchanges carry the most recent).
    recent: BTreeMap<(u64, Name, u64), Bytes>,
    queue: Vec<Queued>,
    /// The clock learned at the first exchange, and from whom, while no
    /// other peer confirmed it.
    provisional: Option<(u64, SocketAddr)>,
    /// A second peer agreed with the first (within the jump).
    confirmed: bool,
    /// This process restarted (see [`UserEvents::restarted`]).
    restarted: bool,
    /// The floor an earlier process of this node left (see
    /// [`UserEvents::resume`]): no floor learned later goes below it.
    resumed: u64,
    /// The floor to keep for a later process (see [`UserEvents::persisted`]).
    persist: u64,
    /// Mixed into every id (see [`UserEvents::new`]).
    salt: u64,
    next_id: u64,
}

impl UserEvents {
    /// The events of a process whose life is `salt` (drawn from when it
    /// started): ids of a restarted process never repeat its earlier
    /// life's, whatever its seed.
    pub fn new(salt: u64) -> UserEvents {
        UserEvents {
            salt,
            ..UserEvents::default()
        }
    }

    /// The event clock: the stamp of the next event fired here.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// Whether this process fired `e` (its ids carry this life's salt).
    pub fn fired_here(&self, e: &UserEvent) -> bool {
        let n = e.id ^ self.salt;
        n != 0 && n <= self.next_id
    }

    /// Whether a full-state exchange taught this member the event clock.
    pub fn learned(&self) -> bool {
        self.confirmed || self.provisional.is_some()
    }

    /// This process restarted: before its clock was confirmed, it heard of
    /// an earlier life of its name (in an exchange's answer, or gossip
    /// about it). That life delivered events the seed (cut off while they
    /// spread, say) may not have heard of, so one seed's clock is too low a
    /// floor: such a process delivers nothing until a second peer's clock
    /// confirms the first, and takes the higher of the two. Once the clock
    /// is confirmed it changes nothing.
    pub fn restarted(&mut self) {
        self.restarted = true;
    }

    /// The floor for a later process of this node to resume: one past the
    /// stamps of the events delivered here, each cut to the clock this
    /// member had when it heard it.
    pub fn persisted(&self) -> u64 {
        self.persist
    }

    /// An earlier process of this node delivered every event stamped
    /// below `floor` (kept across the restart by the application).
    /// Refused (false) above [`MAX_RESUMED_FLOOR`]. Until a peer's clock
    /// is learned the floor holds as given (a founder has no peer); a peer's
    /// clock then caps it at [`RESUME_SLACK`] above the clock learned.
    pub fn resume(&mut self, floor: u64) -> bool {
        if floor > MAX_RESUMED_FLOOR {
            return false;
        }
        self.resumed = self.resumed.max(floor);
        self.floor = self.floor.max(floor);
        self.clock = self.clock.max(floor);
        let floor = self.floor;
        self.recent.retain(|(c, _, _), _| *c >= floor);
        true
    }

    /// Whether events heard now are delivered (see [`UserEvents::restarted`];
    /// a floor resumed from an earlier life is exact: no second peer is
    /// awaited).
    pub fn delivers(&self) -> bool {
        self.confirmed || (self.provisional.is_some() && (!self.restarted || self.resumed > 0))
    }

    /// Events stamped below this are old here.
    #[cfg(test)]
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// Fires an event from `origin` (this member): its encoding, remembered
    /// as delivered and queued to spread. The caller checked the sizes.
    pub fn fire(&mut self, origin: &Name, name: &str, payload: &[u8], coalesce: bool) -> UserEvent {
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id ^ self.salt;
        let clock = self.clock;
        self.clock = self.clock.saturating_add(1);
        let encoded = encode(origin, id, clock, name, payload, coalesce);
        let e = UserEvent {
            origin: origin.clone(),
            id,
            clock,
            name: name.to_owned(),
            payload: Bytes::copy_from_slice(payload),
            coalesce,
            encoded,
        };
        self.persist = self.persist.max(clock.saturating_add(1));
        self.remember(&e);
        if !self.enqueue(&e) {
            // Our own event always spreads: it takes the place of the
            // newest queued event of the origin holding most of the queue
            // (a flood of forged origins cannot keep it out).
            let mut counts: BTreeMap<&Name, usize> = BTreeMap::new();
            for q in &self.queue {
                *counts.entry(&q.origin).or_default() += 1;
            }
            let most = (counts.into_iter())
                .filter(|(o, _)| **o != *origin)
                .max_by_key(|(_, n)| *n)
                .map(|(o, _)| o.clone());
            match most.and_then(|m| self.queue.iter().rposition(|q| q.origin == m)) {
                Some(i) => {
                    self.queue.remove(i);
                }
                // Ours only: the oldest of ours makes room.
                None if self.queue.len() >= MAX_QUEUED => {
                    self.queue.remove(0);
                }
                None => {}
            }
            self.queue.push(Queued {
                origin: e.origin.clone(),
                encoded: e.encoded.clone(),
                sent: 0,
            });
        }
        e
    }

    /// An event heard from the network (`pass_on`: queue it to spread when
    /// new), in a packet or frame that found the clock at `before`: every
    /// event of it is bound against that (chained events do not walk the
    /// clock), and together they move it at most [`MAX_PACKET_STEP`] past.
    pub fn heard(&mut self, e: &UserEvent, pass_on: bool, before: u64) -> Heard {
        if e.clock > before.saturating_add(MAX_CLOCK_JUMP) {
            return Heard::Implausible;
        }
        // Lamport: past every stamp heard, old or new (within the step).
        let step = before.saturating_add(MAX_PACKET_STEP);
        self.clock = self.clock.max(e.clock.saturating_add(1).min(step));
        if e.clock < self.floor {
            return Heard::Old;
        }
        if (self.recent).contains_key(&(e.clock, e.origin.clone(), e.id)) {
            return Heard::Again;
        }
        self.remember(e);
        // Kept for a later life only up to the clock before this packet:
        // one event stamped far ahead (forged, each plausible alone) must
        // not become the floor a restarted process resumes.
        let kept = e.clock.saturating_add(1).min(before.saturating_add(1));
        self.persist = self.persist.max(kept);
        let refused = !pass_on || !self.enqueue(e);
        Heard::New { refused }
    }

    /// Remembers `e` as delivered. To make room, events stamped well past
    /// this member's own clock (a forger's, each plausible alone, or a far
    /// side's after a heal) are forgotten first, and raise nothing: a
    /// burst of them must not lift the floor over every genuine event (one
    /// of them heard again may be delivered again). Then the oldest, which
    /// raises the floor past it (one forgotten could not be told from a
    /// new one), though never past the member's own clock. Open: many
    /// packets of one event each, each a step ahead of the clock the last
    /// one left, walk the clock and so the floor (review 20c, finding 1).
    fn remember(&mut self, e: &UserEvent) {
        let key = (e.clock, e.origin.clone(), e.id);
        self.recent.insert(key, e.encoded.clone());
        while self.recent.len() > RECENT {
            let ahead = self.clock.saturating_add(MAX_PACKET_STEP);
            if (self.recent.last_key_value()).is_some_and(|((c, _, _), _)| *c > ahead) {
                self.recent.pop_last();
                continue;
            }
            let Some(((clock, _, _), _)) = self.recent.pop_first() else {
                break;
            };
            self.floor = (self.floor).max(clock.saturating_add(1).min(self.clock));
        }
        // Forgotten with the floor: events at the forgotten one's stamp.
        while (self.recent.first_key_value()).is_some_and(|((c, _, _), _)| *c < self.floor) {
            self.recent.pop_first();
        }
    }

    /// Queues `e` to spread; false when its origin, or the queue, is full.
    fn enqueue(&mut self, e: &UserEvent) -> bool {
        let of_origin = self.queue.iter().filter(|q| q.origin == e.origin).count();
        if self.queue.len() >= MAX_QUEUED || of_origin >= MAX_QUEUED_PER_ORIGIN {
            return false;
        }
        self.queue.push(Queued {
            origin: e.origin.clone(),
            encoded: e.encoded.clone(),
            sent: 0,
        });
        true
    }

    /// A peer's event clock, from its answer to a full-state exchange this
    /// member opened to `from` (`join`: the exchange of its join). The one
    /// a join brings is the floor (a joiner delivers nothing fired before
    /// it joined) and provisional; a second peer's within
    /// [`MAX_CLOCK_JUMP`] confirms it (the floor drops to the lower of the
    /// two: it never sits above what an honest peer said); one that
    /// disagrees by more takes its place, still provisional, for the next
    /// peer to settle. Any other exchange only moves the clock: the floor
    /// of a member that never joined (it founded the cluster), or that
    /// joined long ago, stays where it is (a member back from a partition
    /// must still deliver the events fired on the other side), and the
    /// clock moves at most [`MAX_EXCHANGE_STEP`]. A clock further ahead than
    /// the jump is then ignored; returns false.
    pub fn learn(&mut self, clock: u64, from: SocketAddr, join: bool) -> bool {
        let joining = join && !self.learned();
        if !joining && self.provisional.is_none() {
            if clock > self.clock.saturating_add(MAX_CLOCK_JUMP) {
                return false;
            }
            // At most [`MAX_EXCHANGE_STEP`] an exchange (an insider
            // answering every exchange a jump ahead would walk the members
            // it reaches apart from the rest).
            let step = self.clock.saturating_add(MAX_EXCHANGE_STEP);
            self.clock = self.clock.max(clock.min(step));
            return true;
        }
        match self.provisional {
            None => self.take_provisional(clock, from),
            Some((_, first)) if first == from => {
                self.clock = self.clock.max(clock);
            }
            Some((first, _)) if first.abs_diff(clock) <= MAX_CLOCK_JUMP => {
                self.confirmed = true;
                self.provisional = None;
                let slack = first.max(clock).saturating_add(RESUME_SLACK);
                self.resumed = self.resumed.min(slack);
                let learned = match self.restarted {
                    true => first.max(clock),
                    false => first.min(clock),
                };
                self.floor = learned.max(self.resumed);
                self.clock = self.clock.max(clock);
            }
            Some(_) => self.take_provisional(clock, from),
        }
        true
    }

    fn take_provisional(&mut self, clock: u64, from: SocketAddr) {
        self.provisional = Some((clock, from));
        self.resumed = self.resumed.min(clock.saturating_add(RESUME_SLACK));
        self.clock = clock.max(self.own_stamps()).max(self.resumed);
        self.floor = clock.max(self.resumed);
        let floor = self.floor;
        self.recent.retain(|(c, _, _), _| *c >= floor);
    }

    /// Past the stamps of the events this member fired (none before a
    /// join in practice: an application fires after joining).
    fn own_stamps(&self) -> u64 {
        self.recent
            .last_key_value()
            .map_or(0, |((c, _, _), _)| c.saturating_add(1))
    }

    /// The [`IN_EXCHANGE`] most recent events, oldest first (for a
    /// full-state exchange).
    pub fn recent(&self) -> impl Iterator<Item = &Bytes> {
        let skip = self.recent.len().saturating_sub(IN_EXCHANGE);
        self.recent.values().skip(skip)
    }

    /// How many events wait to spread.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// How many events are remembered.
    #[cfg(test)]
    pub fn remembered(&self) -> usize {
        self.recent.len()
    }

    /// Writes queued events that fit in `budget` bytes through `out`, the
    /// least sent first, each sent at most `limit` times; returns how many
    /// were written.
    pub fn take(
        &mut self,
        mut budget: usize,
        limit: u32,
        frame: impl Fn(usize) -> usize,
        mut out: impl FnMut(&[u8]),
    ) -> usize {
        let mut n = 0;
        self.queue.sort_by_key(|q| q.sent);
        for q in &mut self.queue {
            let size = frame(q.encoded.len());
            if size <= budget {
                budget -= size;
                out(&q.encoded);
                q.sent += 1;
                n += 1;
            }
        }
        self.queue.retain(|q| q.sent < limit);
        n
    }
}

/// Serf's coalescing of user events, for an event handler: of the events
/// that ask for it ([`Event::User`](crate::Event::User) `coalesce`) with the
/// same name, only the newest (by clock) of a burst is handed on. A burst
/// ends when `period` has passed since its first event, or `quiet` since
/// its last (Serf's coalesce and quiescent periods). Events that do not
/// ask for coalescing pass at once. Time is an input, as for the node.
///
/// ```
/// use swim_core::{Bytes, Coalescer, Event, Instant};
/// use std::time::Duration;
///
/// let mut c = Coalescer::new(Duration::from_secs(2), Duration::from_millis(500));
/// let deploy = |v: u64| Event::User {
///     origin: "a".into(), name: "deploy".into(), payload: Bytes::new(), clock: v, coalesce: true,
/// };
/// let t = Instant::ZERO;
/// assert!(c.offer(deploy(1), t).is_none());
/// assert!(c.offer(deploy(2), t).is_none());
/// assert_eq!(c.next_due(), Some(t + Duration::from_millis(500)));
/// let due = c.due(t + Duration::from_millis(500));
/// assert!(matches!(due.as_slice(), [Event::User { clock: 2, .. }]));
/// ```
#[derive(Debug)]
pub struct Coalescer {
    period: core::time::Duration,
    quiet: core::time::Duration,
    /// Per name: when its burst began, its last event came, and the newest.
    bursts: BTreeMap<String, (crate::Instant, crate::Instant, crate::Event)>,
}

impl Coalescer {
    /// Bursts end `period` after their first event or `quiet` after their last.
    pub fn new(period: core::time::Duration, quiet: core::time::Duration) -> Coalescer {
        Coalescer {
            period,
            quiet,
            bursts: BTreeMap::new(),
        }
    }

    /// Offers an event arriving at `now`: returned at once unless it is a
    /// user event that asks for coalescing, which waits for its burst to end.
    pub fn offer(&mut self, e: crate::Event, now: crate::Instant) -> Option<crate::Event> {
        let (name, clock) = match &e {
            crate::Event::User {
                name,
                clock,
                coalesce: true,
                ..
            } => (name.clone(), *clock),
            _ => return Some(e),
        };
        match self.bursts.get_mut(&name) {
            Some((_, last, newest)) => {
                *last = now;
                if matches!(newest, crate::Event::User { clock: c, .. } if *c <= clock) {
                    *newest = e;
                }
            }
            None => {
                self.bursts.insert(name, (now, now, e));
            }
        }
        None
    }

    /// When the next burst ends, if one is waiting.
    pub fn next_due(&self) -> Option<crate::Instant> {
        (self.bursts.values())
            .map(|(first, last, _)| self.end(*first, *last))
            .min()
    }

    fn end(&self, first: crate::Instant, last: crate::Instant) -> crate::Instant {
        (first + self.period).min(last + self.quiet)
    }

    /// The newest event of each burst that ended by `now`, in name order.
    pub fn due(&mut self, now: crate::Instant) -> Vec<crate::Event> {
        let ended: Vec<String> = (self.bursts.iter())
            .filter(|(_, (first, last, _))| self.end(*first, *last) <= now)
            .map(|(name, _)| name.clone())
            .collect();
        ended
            .into_iter()
            .filter_map(|name| self.bursts.remove(&name).map(|(_, _, e)| e))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(i: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, i], 7946))
    }

    fn round_trip(e: &UserEvent) -> UserEvent {
        let b = e.encoded.clone();
        decode(&b, &b).unwrap()
    }

    #[test]
    fn an_event_round_trips_and_is_delivered_once() {
        let mut a = UserEvents::new(7);
        let e = a.fire(&"a".into(), "deploy", b"v42", true);
        let got = round_trip(&e);
        assert_eq!(got, e);
        let mut b = UserEvents::new(9);
        assert_eq!(
            b.heard(&got, true, b.clock()),
            Heard::New { refused: false }
        );
        assert_eq!(b.heard(&got, true, b.clock()), Heard::Again);
        assert_eq!(b.clock(), 1, "past the event's stamp");
        let mut sent = 0;
        while b.pending() > 0 {
            sent += b.take(1400, 3, |n| n + 2, |_| {});
        }
        assert_eq!(sent, 3, "passed on `limit` times");
    }

    #[test]
    fn a_joiner_delivers_nothing_fired_before_it_joined() {
        let mut a = UserEvents::new(1);
        let old = a.fire(&"a".into(), "x", b"", false);
        let new_one = a.fire(&"a".into(), "y", b"", false);
        let mut j = UserEvents::new(2);
        j.learn(new_one.clock, peer(1), true);
        assert_eq!(j.heard(&round_trip(&old), true, j.clock()), Heard::Old);
        assert_eq!(
            j.heard(&round_trip(&new_one), true, j.clock()),
            Heard::New { refused: false }
        );
    }

    #[test]
    fn an_insider_seed_s_clock_is_settled_by_a_second_peer() {
        let mut j = UserEvents::new(2);
        j.learn(1 << 40, peer(1), true);
        assert_eq!(j.floor(), 1 << 40);
        j.learn(10, peer(2), false);
        assert_eq!(
            (j.floor(), j.clock()),
            (10, 10),
            "disagreeing: the later, provisional"
        );
        j.learn(12, peer(3), false);
        assert_eq!(j.floor(), 10, "confirmed: the lower of the two");
        assert_eq!(j.clock(), 12);
        assert!(
            !j.learn(1 << 40, peer(1), false),
            "confirmed: a far jump is ignored"
        );
        j.learn(20, peer(4), true);
        assert_eq!(j.floor(), 10, "a later join exchange moves no floor");
        let mut a = UserEvents::new(1);
        a.clock = j.clock() + MAX_CLOCK_JUMP + 1;
        let far = a.fire(&"a".into(), "x", b"", false);
        assert_eq!(
            j.heard(&round_trip(&far), true, j.clock()),
            Heard::Implausible
        );
        // One packet's events move the clock at most MAX_PACKET_STEP.
        let before = j.clock();
        a.clock = before + 1000;
        let ahead = round_trip(&a.fire(&"a".into(), "y", b"", false));
        assert_eq!(j.heard(&ahead, true, before), Heard::New { refused: false });
        assert_eq!(j.clock(), before + MAX_PACKET_STEP);
    }

    #[test]
    fn a_member_that_never_joined_keeps_its_floor() {
        let mut founder = UserEvents::new(1);
        let mut a = UserEvents::new(2);
        let early = round_trip(&a.fire(&"a".into(), "x", b"", false));
        a.fire(&"a".into(), "y", b"", false);
        founder.learn(a.clock(), peer(1), false);
        assert_eq!(founder.floor(), 0);
        assert_eq!(
            founder.heard(&early, true, founder.clock()),
            Heard::New { refused: false }
        );
    }

    #[test]
    fn a_restarted_process_waits_for_a_second_clock_and_takes_the_higher() {
        let mut r = UserEvents::new(3);
        r.restarted();
        r.learn(0, peer(1), true);
        assert!(
            r.learned() && !r.delivers(),
            "one seed's word is not enough"
        );
        r.learn(5, peer(2), false);
        assert!(r.delivers());
        assert_eq!(r.floor(), 5, "the higher of the two");
        let mut j = UserEvents::new(4);
        j.learn(0, peer(1), true);
        j.learn(5, peer(2), false);
        assert_eq!(j.floor(), 0, "a first join keeps the lower");
    }

    #[test]
    fn a_resumed_floor_holds_whatever_peers_say() {
        let mut r = UserEvents::new(3);
        r.resume(7);
        r.restarted();
        // Both peers were cut off from the events the earlier life saw.
        r.learn(2, peer(1), true);
        assert!(
            r.delivers(),
            "the resumed floor is exact: no second peer awaited"
        );
        assert_eq!(r.floor(), 7);
        r.learn(1, peer(2), false);
        assert_eq!(r.floor(), 7, "no peer lowers it");
        let old = UserEvents::new(9).fire(&"o".into(), "e", b"", false);
        assert_eq!(r.heard(&round_trip(&old), true, r.clock()), Heard::Old);
    }

    #[test]
    fn the_buffer_is_bounded_and_forgetting_raises_the_floor() {
        let mut a = UserEvents::new(1);
        let first = a.fire(&"a".into(), "e", b"", false);
        for _ in 0..RECENT + 10 {
            a.fire(&"a".into(), "e", b"", false);
        }
        assert_eq!(a.remembered(), RECENT);
        assert!(a.floor() > first.clock);
        assert_eq!(
            a.heard(&round_trip(&first), true, a.clock()),
            Heard::Old,
            "not new again"
        );
        assert_eq!(a.recent().count(), IN_EXCHANGE);
    }

    #[test]
    fn one_origin_fills_at_most_its_share_of_the_queue() {
        let mut b = UserEvents::new(2);
        let mut a = UserEvents::new(1);
        let mut refused = 0;
        for _ in 0..MAX_QUEUED_PER_ORIGIN + 5 {
            let e = round_trip(&a.fire(&"a".into(), "e", b"", false));
            if b.heard(&e, true, b.clock()) == (Heard::New { refused: true }) {
                refused += 1;
            }
        }
        assert_eq!((b.pending(), refused), (MAX_QUEUED_PER_ORIGIN, 5));
        let mut c = UserEvents::new(3);
        let e = round_trip(&c.fire(&"c".into(), "e", b"", false));
        assert_eq!(b.heard(&e, true, b.clock()), Heard::New { refused: false });
    }

    #[test]
    fn bad_events_are_invalid() {
        let big = encode(&"a".into(), 1, 0, "n", &[0; MAX_EVENT_SIZE], false);
        assert_eq!(decode(&big, &big), Err(DropReason::Invalid));
        let hidden = encode(&"a".into(), 1, 0, "de\u{200b}ploy", b"", false);
        assert_eq!(decode(&hidden, &hidden), Err(DropReason::Invalid));
        let empty = encode(&"a".into(), 1, 0, "", b"", false);
        assert_eq!(decode(&empty, &empty), Err(DropReason::Invalid));
        let junk = Bytes::from_static(&[0xff, 0xff]);
        assert_eq!(decode(&junk, &junk), Err(DropReason::Malformed));
    }
}
