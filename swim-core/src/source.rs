//! Sources: what this node grants each sender before trusting it.
//!
//! A *source* is where traffic comes from as the network shows it: an
//! IPv4 address, or an IPv6 /64 (one host easily holds a whole /64, so
//! its addresses count as one). Whatever a packet claims about its sender,
//! its source is the one thing the receiver sees for itself, so every
//! per-sender limit that holds before trust is kept per source:
//!
//! - **New members.** Each source may add at most [`MEMBER_BURST`] members
//!   this node did not know at once, and one more every
//!   `probe_interval / MEMBERS_PER_INTERVAL` after that (a token bucket).
//!   A join wave is news relayed by many sources, each bringing some; one
//!   source inventing members brings them all. What an exchange this node
//!   opened to a known member returns is not capped per source but
//!   node-wide: [`EXCHANGE_BURST`] at once, [`EXCHANGE_PER_INTERVAL`] per
//!   probe interval after that; a configured seed's answer to a join only
//!   by `max_members`.
//! - **Replies.** A source that is not a member speaking from its own
//!   membership address earns twice the bytes it sends, up to
//!   [`REPLY_CREDIT_MAX`], and every byte its packets draw from this node
//!   (an ack and what it piggybacks, a relayed ping and the ack passed
//!   back, the opening frame of an exchange with it) is paid from that
//!   credit: no such packet draws more than twice its size.
//! - **Exchanges.** A source makes this node open at most one exchange
//!   with it per [`EXCHANGE_EVERY`] probe intervals (besides the
//!   node-wide limit of one catch-up per probe interval).
//!
//! The table holds at most [`MAX_SOURCES`] sources and forgets the one
//! it met first to make room (a forgotten source starts afresh, which is
//! as generous as the limits ever are). Each packet costs one hash lookup
//! (a fixed-seed hasher; nothing iterates the table), and a source gets an
//! entry only when it is charged something, so members that only probe
//! and gossip news of known members cost nothing here.

use crate::time::Instant;
use core::time::Duration;
use foldhash::fast::FixedState;
use hashbrown::HashMap;
use std::net::{IpAddr, SocketAddr};

/// Sources remembered at once; the first met is forgotten to make room.
pub(crate) const MAX_SOURCES: usize = 4096;

/// New members one source may add at once.
pub(crate) const MEMBER_BURST: u32 = 64;

/// New members one source may add per probe interval, after its burst.
pub(crate) const MEMBERS_PER_INTERVAL: u32 = 4;

/// New members the answers to exchanges this node opened with known
/// members may add at once, node-wide (a catch-up in a join wave brings
/// most of the cluster).
pub(crate) const EXCHANGE_BURST: u32 = 4096;

/// New members such answers may add per probe interval, after the burst.
pub(crate) const EXCHANGE_PER_INTERVAL: u32 = 512;

/// The most reply bytes a source may have earned and not spent.
pub(crate) const REPLY_CREDIT_MAX: u32 = 4096;

/// Probe intervals between two exchanges a source's packets open.
pub(crate) const EXCHANGE_EVERY: u32 = 10;

/// A source as limits see it: an IPv4 address (as its IPv4-mapped IPv6
/// form) or the /64 of an IPv6 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Source(u128);

impl Source {
    /// The source of traffic from `addr` (its port plays no part).
    pub fn of(addr: SocketAddr) -> Source {
        match addr.ip() {
            IpAddr::V4(v4) => Source(u128::from(v4.to_ipv6_mapped())),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(u128::from(v4.to_ipv6_mapped())),
                None => Source(u128::from(v6) & !u128::from(u64::MAX)),
            },
        }
    }
}

/// A token bucket kept as a virtual time (GCRA): full when at or before
/// now, one token less for each `period` after it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Bucket {
    at: Instant,
}

impl Bucket {
    /// Tokens left now, of `burst`, each coming back after `period`.
    pub fn allowed(&self, now: Instant, burst: u32, period: Duration) -> u32 {
        let ahead = self.at.saturating_duration_since(now);
        let used = ahead.as_micros().div_ceil(period.as_micros().max(1));
        burst.saturating_sub(u32::try_from(used).unwrap_or(u32::MAX))
    }

    /// Takes `n` tokens now.
    pub fn take(&mut self, n: u32, now: Instant, period: Duration) {
        self.at = self.at.max(now) + period.saturating_mul(n);
    }
}

/// What one source has been granted.
#[derive(Clone, Copy, Debug)]
struct Slot {
    source: Source,
    /// New members it may still add.
    members: Bucket,
    /// Reply bytes earned and not yet spent.
    credit: u32,
    /// When a packet from it last opened an exchange.
    exchanged: Option<Instant>,
}

/// Per-source limits (see the module doc).
#[derive(Debug)]
pub(crate) struct Sources {
    index: HashMap<Source, u32, FixedState>,
    slots: Vec<Slot>,
    /// The slot to reuse next once the table is full: the oldest.
    next: usize,
    /// New members from exchanges this node opened with known members.
    exchanged: Bucket,
}

impl Sources {
    /// An empty table; `hash_seed` fixes its hasher.
    pub fn new(hash_seed: u64) -> Sources {
        Sources {
            index: HashMap::with_hasher(FixedState::with_seed(hash_seed)),
            slots: Vec::new(),
            next: 0,
            exchanged: Bucket::default(),
        }
    }

    fn get(&self, source: Source) -> Option<&Slot> {
        self.index.get(&source).map(|&i| &self.slots[i as usize])
    }

    /// The slot of `source`, made (in place of the oldest, when full) if
    /// it had none.
    fn slot(&mut self, source: Source, now: Instant) -> &mut Slot {
        if let Some(&i) = self.index.get(&source) {
            return &mut self.slots[i as usize];
        }
        let fresh = Slot {
            source,
            members: Bucket { at: now },
            credit: 0,
            exchanged: None,
        };
        let i = if self.slots.len() < MAX_SOURCES {
            self.slots.push(fresh);
            self.slots.len() - 1
        } else {
            let i = self.next;
            self.next = (self.next + 1) % MAX_SOURCES;
            self.index.remove(&self.slots[i].source);
            self.slots[i] = fresh;
            i
        };
        self.index.insert(source, i as u32);
        &mut self.slots[i]
    }

    /// How many new members `source` may add now.
    pub fn members_allowed(&self, source: Source, now: Instant, probe_interval: Duration) -> u32 {
        let Some(slot) = self.get(source) else {
            return MEMBER_BURST;
        };
        let period = probe_interval / MEMBERS_PER_INTERVAL;
        slot.members.allowed(now, MEMBER_BURST, period)
    }

    /// `source` added `n` new members now.
    pub fn members_added(
        &mut self,
        source: Source,
        n: u32,
        now: Instant,
        probe_interval: Duration,
    ) {
        if n == 0 {
            return;
        }
        let period = probe_interval / MEMBERS_PER_INTERVAL;
        self.slot(source, now).members.take(n, now, period);
    }

    /// How many new members the answers to exchanges with known members
    /// may add now, node-wide.
    pub fn exchange_members_allowed(&self, now: Instant, probe_interval: Duration) -> u32 {
        let period = probe_interval / EXCHANGE_PER_INTERVAL;
        self.exchanged.allowed(now, EXCHANGE_BURST, period)
    }

    /// Such an answer added `n` new members now.
    pub fn exchange_members_added(&mut self, n: u32, now: Instant, probe_interval: Duration) {
        let period = probe_interval / EXCHANGE_PER_INTERVAL;
        self.exchanged.take(n, now, period);
    }

    /// `source` sent `len` bytes: its credit grows by twice that (up to
    /// [`REPLY_CREDIT_MAX`]). Returns the credit.
    pub fn earn(&mut self, source: Source, len: usize, now: Instant) -> u32 {
        let slot = self.slot(source, now);
        let earned = u32::try_from(len.saturating_mul(2)).unwrap_or(u32::MAX);
        slot.credit = slot.credit.saturating_add(earned).min(REPLY_CREDIT_MAX);
        slot.credit
    }

    /// The reply bytes `source` may still draw.
    pub fn credit(&self, source: Source) -> u32 {
        self.get(source).map_or(0, |s| s.credit)
    }

    /// Pays `bytes` drawn by `source` from its credit: false (and nothing
    /// paid) when it has not earned that much.
    pub fn spend(&mut self, source: Source, bytes: usize, now: Instant) -> bool {
        let slot = self.slot(source, now);
        match u32::try_from(bytes)
            .ok()
            .and_then(|b| slot.credit.checked_sub(b))
        {
            Some(left) => {
                slot.credit = left;
                true
            }
            None => false,
        }
    }

    /// Whether a packet from `source` may open an exchange with it now
    /// (at most one per [`EXCHANGE_EVERY`] probe intervals); when it may,
    /// the time is recorded.
    pub fn may_exchange(&mut self, source: Source, now: Instant, probe_interval: Duration) -> bool {
        let every = probe_interval.saturating_mul(EXCHANGE_EVERY);
        if let Some(at) = self.get(source).and_then(|s| s.exchanged) {
            if now < at + every {
                return false;
            }
        }
        self.slot(source, now).exchanged = Some(now);
        true
    }

    /// Sources held (for tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(last: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], port))
    }

    #[test]
    fn a_source_is_an_ipv4_address_or_an_ipv6_64() {
        assert_eq!(Source::of(v4(1, 1)), Source::of(v4(1, 2)), "ports");
        assert_ne!(Source::of(v4(1, 1)), Source::of(v4(2, 1)));
        let v6 = |s: &str| SocketAddr::new(s.parse().unwrap(), 7946);
        assert_eq!(
            Source::of(v6("fd00:0:0:1::1")),
            Source::of(v6("fd00:0:0:1:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            Source::of(v6("fd00:0:0:1::1")),
            Source::of(v6("fd00:0:0:2::1"))
        );
        assert_eq!(Source::of(v6("::ffff:10.0.0.1")), Source::of(v4(1, 9)));
        assert_ne!(Source::of(v6("::1")), Source::of(v4(1, 1)));
    }

    #[test]
    fn new_members_come_in_a_burst_then_a_few_per_interval() {
        let mut s = Sources::new(1);
        let src = Source::of(v4(1, 1));
        let p = Duration::from_secs(1);
        let t = Instant::from_millis;
        assert_eq!(s.members_allowed(src, t(0), p), MEMBER_BURST);
        assert_eq!(s.len(), 0, "asking charges nothing");
        s.members_added(src, MEMBER_BURST, t(0), p);
        assert_eq!(s.members_allowed(src, t(0), p), 0);
        assert_eq!(s.members_allowed(src, t(249), p), 0);
        assert_eq!(s.members_allowed(src, t(250), p), 1);
        assert_eq!(s.members_allowed(src, t(1_000), p), MEMBERS_PER_INTERVAL);
        assert_eq!(s.members_allowed(src, t(100_000), p), MEMBER_BURST);
        let other = Source::of(v4(2, 1));
        assert_eq!(s.members_allowed(other, t(0), p), MEMBER_BURST);
        assert_eq!(s.exchange_members_allowed(t(0), p), EXCHANGE_BURST);
        s.exchange_members_added(EXCHANGE_BURST, t(0), p);
        assert_eq!(s.exchange_members_allowed(t(0), p), 0);
        let back = s.exchange_members_allowed(t(1_000), p);
        assert!(back + 1 >= EXCHANGE_PER_INTERVAL, "{back}");
    }

    #[test]
    fn replies_are_paid_from_twice_what_a_source_sent() {
        let mut s = Sources::new(1);
        let src = Source::of(v4(1, 1));
        let now = Instant::ZERO;
        assert_eq!(s.earn(src, 40, now), 80);
        assert!(s.spend(src, 50, now));
        assert!(!s.spend(src, 31, now), "30 left");
        assert!(s.spend(src, 30, now));
        assert_eq!(s.earn(src, 1 << 40, now), REPLY_CREDIT_MAX);
    }

    #[test]
    fn a_source_opens_one_exchange_per_ten_intervals() {
        let mut s = Sources::new(1);
        let src = Source::of(v4(1, 1));
        let p = Duration::from_secs(1);
        assert!(s.may_exchange(src, Instant::ZERO, p));
        assert!(!s.may_exchange(src, Instant::from_millis(9_999), p));
        assert!(s.may_exchange(src, Instant::from_millis(10_000), p));
    }

    #[test]
    fn a_full_table_forgets_the_source_met_first() {
        let mut s = Sources::new(1);
        let p = Duration::from_secs(1);
        let src = |i: u32| Source(u128::from(i));
        for i in 0..MAX_SOURCES as u32 + 10 {
            s.members_added(src(i), MEMBER_BURST, Instant::ZERO, p);
        }
        assert_eq!(s.len(), MAX_SOURCES);
        assert_eq!(s.index.len(), MAX_SOURCES);
        for i in 0..10 {
            assert_eq!(s.members_allowed(src(i), Instant::ZERO, p), MEMBER_BURST);
        }
        assert_eq!(s.members_allowed(src(10), Instant::ZERO, p), 0);
        assert_eq!(
            s.members_allowed(src(MAX_SOURCES as u32 + 9), Instant::ZERO, p),
            0
        );
    }
}
