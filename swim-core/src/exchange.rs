//! Exchanges: full-state conversations over a stream (a *push-pull*: each
//! side sends what it holds, and both merge), opened only when there is a
//! reason to, never on a timer with live members.
//!
//! The reasons ([`Reason`]): joining is an exchange with every seed,
//! retried with exponential backoff until one answers; *repair* opens one
//! (rate-limited) when our summary and the peers' keep differing, and
//! carries only the digests and the members of the differing buckets;
//! *reconnect* is the periodic attempt to reach one member held dead (after
//! a partition heals, how the two sides find each other again), timed by
//! [`reconnect_interval`]; *catch-up* pulls a peer's full state, at most once
//! per probe interval, when this node has evidence that its view is behind:
//! a packet from a member it never heard of, or a whole probe interval of
//! packets whose senders all hold bigger views than its own. A
//! `reconnect_interval` of zero turns off reconnects, repairs and catch-ups
//! (joining still runs).
//!
//! [`Exchanges`] keeps the exchanges this node opened and decides when to
//! open one; the node encodes, sends and merges.

use crate::codec;
use crate::config::Config;
use crate::event::StreamId;
use crate::name::Name;
use crate::namespace;
use crate::time::Instant;
use crate::timer::{Periodic, Timers};
use crate::util::Random;
use crate::view::View;
use bytes::Bytes;
use core::time::Duration;
use foldhash::fast::FixedState;
use hashbrown::HashMap;
use std::net::SocketAddr;

/// Why this node opened an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// A join attempt with a seed.
    Join,
    /// Our summary and a peer's kept differing: repair with it.
    Repair,
    /// The periodic attempt to reach a member held dead (the reconnect tick).
    Reconnect,
    /// Our view is behind the peer's (or a packet came from a member we
    /// do not know: the state is pulled from a member we know).
    CatchUp,
    /// A packet came from a member we do not know, and we know no one
    /// else: the state is pulled from its sender, whose answer adds only
    /// its source's share of new members.
    Stranger,
}

/// An exchange this node opened and still waits on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Exchange {
    pub peer: SocketAddr,
    pub reason: Reason,
    /// A repair the peer answered: only its last frame (the deltas we
    /// lack) is still to come.
    pub answered: bool,
    /// The peer is a member at its own address, or a configured seed: its
    /// answer is not capped per source (see [`crate::source`]).
    pub vouched: bool,
}

/// Progress of joining the cluster.
#[derive(Debug, Default)]
struct Join {
    seeds: Vec<SocketAddr>,
    /// Join streams still open in the current attempt.
    pending: usize,
    /// Failed attempts so far.
    attempts: u32,
    joined: bool,
}

/// Probe intervals of hearing only bigger views than ours before pulling.
const BEHIND_FOR: u32 = 1;

/// The reconnect interval for a cluster of `n`: the base interval up to 32
/// members, then `base * (ceil(log2 n - 5) + 1)`, so full-state traffic per node
/// stays flat as the cluster grows.
pub fn reconnect_interval(base: Duration, n: usize) -> Duration {
    if n <= 32 {
        return base;
    }
    let scale = ((n as f64).log2() - 5.0).ceil() as u32 + 1;
    base * scale
}

/// Exchanges a peer opened that we answered, waiting for their last frame
/// (the deltas we lack); more are answered and closed at once.
const MAX_ANSWERED: usize = 64;

/// Exchanges in flight, joining, and the catch-up rules.
#[derive(Debug)]
pub(crate) struct Exchanges {
    open: HashMap<StreamId, Exchange, FixedState>,
    /// Peers' exchanges we answered (in the order answered).
    answered: Vec<StreamId>,
    next_stream: u64,
    join: Join,
    /// Earliest time of the next catch-up exchange.
    catch_up_after: Instant,
    /// Since when every packet heard carried a bigger view than ours.
    behind_since: Option<Instant>,
    /// Since when every summary heard differed from ours.
    differing_since: Option<Instant>,
    /// Earliest time of the next repair exchange.
    repair_after: Instant,
}

impl Exchanges {
    pub fn new(hash_seed: u64, now: Instant) -> Self {
        Exchanges {
            open: HashMap::with_hasher(FixedState::with_seed(hash_seed)),
            answered: Vec::new(),
            next_stream: 0,
            join: Join::default(),
            catch_up_after: now,
            behind_since: None,
            differing_since: None,
            repair_after: now,
        }
    }

    /// Schedules the next reconnect tick. The first comes at a random
    /// point of the first interval, so nodes started together spread their
    /// exchanges out; later ones come after half to one and a half
    /// intervals, so their phases keep spreading. `live`: the
    /// members held live, or 0 when every member this node knows is held
    /// dead (alone: it tries every other probe interval).
    pub fn schedule(
        &self,
        first: bool,
        live: usize,
        config: &Config,
        timers: &mut Timers,
        rng: &mut Random,
        now: Instant,
    ) {
        let base = config.reconnect_interval;
        if base.is_zero() {
            return;
        }
        // Alone (`live` 0: members it knows, all held dead): an isolated node decides
        // about everyone (see `probe::Answered`), so the way back after a
        // cut is only this; it tries every other probe interval.
        let interval = if live == 0 {
            (config.probe_interval * 2).min(base)
        } else {
            reconnect_interval(base, live)
        };
        // Later ticks are drawn from half to one and a half intervals:
        // with a jitter of a tenth, nodes started together kept their
        // phase for minutes (all ticked within the first 30 s, then none
        // until 90 s at 200 members), and a heal in that gap waited for
        // it (a 40 s cut of 98 of 200 re-converged 66 s after its heal).
        // In u64 (a usize is 32 bits on some targets: 48 minutes of
        // microseconds overflow it).
        let micros = u64::try_from(interval.as_micros())
            .unwrap_or(u64::MAX)
            .max(2);
        // Lemire's multiply-shift, as `Random::below` draws on 64 bits.
        let draw = ((u128::from(rng.next_u64()) * u128::from(micros)) >> 64) as u64;
        let offset = if first {
            Duration::from_micros(draw)
        } else {
            Duration::from_micros((micros / 2).saturating_add(draw))
        };
        timers.set(Periodic::Reconnect, now + offset);
    }

    /// Records a new exchange with `peer` (`vouched`: see
    /// [`Exchange::vouched`]); returns its stream.
    pub fn open(&mut self, peer: SocketAddr, reason: Reason, vouched: bool) -> StreamId {
        self.next_stream += 1;
        let id = StreamId::opened(self.next_stream);
        let answered = false;
        self.open.insert(
            id,
            Exchange {
                peer,
                reason,
                answered,
                vouched,
            },
        );
        id
    }

    /// A repair on `id` was answered: wait for the peer's last frame.
    pub fn await_last(&mut self, id: StreamId, exchange: Exchange) {
        let answered = true;
        self.open.insert(
            id,
            Exchange {
                answered,
                ..exchange
            },
        );
    }

    /// We answered a peer's exchange on `id`: wait for its last frame,
    /// unless too many already wait (false: close it now).
    pub fn answered(&mut self, id: StreamId) -> bool {
        if self.answered.len() >= MAX_ANSWERED {
            return false;
        }
        self.answered.push(id);
        true
    }

    /// Whether `id` is a peer's exchange we answered; it ends now.
    pub fn finish_answered(&mut self, id: StreamId) -> bool {
        let Some(i) = self.answered.iter().position(|&a| a == id) else {
            return false;
        };
        self.answered.remove(i);
        true
    }

    /// The exchange on stream `id`, which ends now.
    pub fn take(&mut self, id: StreamId) -> Option<Exchange> {
        self.open.remove(&id)
    }

    /// Starts joining through `seeds` (never our own address `own`); returns
    /// the seeds to contact now.
    pub fn start_join(&mut self, seeds: &[SocketAddr], own: SocketAddr) -> Vec<SocketAddr> {
        self.join.seeds = seeds.iter().copied().filter(|s| *s != own).collect();
        self.join.joined = false;
        self.join.attempts = 0;
        self.attempt_join()
    }

    /// The seeds to contact in a new attempt, unless joined.
    pub fn retry_join(&mut self) -> Vec<SocketAddr> {
        if self.join.joined {
            return Vec::new();
        }
        self.attempt_join()
    }

    /// Ends the join in progress, if any, without joining: a reply still in
    /// flight completes nothing and no attempt follows. True if one was
    /// in progress.
    pub fn cancel_join(&mut self) -> bool {
        let pending = !self.join.joined && !self.join.seeds.is_empty();
        self.join.seeds.clear();
        self.join.joined = true;
        self.join.pending = 0;
        pending
    }

    fn attempt_join(&mut self) -> Vec<SocketAddr> {
        self.join.pending = self.join.seeds.len();
        self.join.seeds.clone()
    }

    /// This node never set out to join a cluster: it founded its own.
    pub fn founder(&self) -> bool {
        self.join.seeds.is_empty() && !self.join.joined
    }

    /// A join exchange succeeded: true the first time in this join.
    pub fn joined(&mut self) -> bool {
        self.join.pending = self.join.pending.saturating_sub(1);
        !std::mem::replace(&mut self.join.joined, true)
    }

    /// A join exchange failed. When it was the attempt's last and none
    /// succeeded: the attempt number and the backoff before the next one.
    pub fn join_failed(&mut self, leaving: bool, config: &Config) -> Option<(u32, Duration)> {
        self.join.pending = self.join.pending.saturating_sub(1);
        if self.join.pending > 0 || self.join.joined || leaving {
            return None;
        }
        self.join.attempts += 1;
        let backoff = config
            .join_retry_min
            .saturating_mul(1 << self.join.attempts.min(20).saturating_sub(1))
            .min(config.join_retry_max);
        Some((self.join.attempts, backoff))
    }

    /// Whether a catch-up may run now (see [`catch_up`](Self::catch_up)),
    /// without taking its turn.
    pub fn may_catch_up(&self, now: Instant, config: &Config) -> bool {
        !config.reconnect_interval.is_zero() && now >= self.catch_up_after
    }

    /// Whether to pull a peer's full state now that we have evidence our
    /// view is behind (at most once per probe interval).
    pub fn catch_up(&mut self, now: Instant, config: &Config) -> bool {
        if config.reconnect_interval.is_zero() || now < self.catch_up_after {
            return false;
        }
        self.catch_up_after = now + config.probe_interval;
        self.behind_since = None;
        true
    }

    /// Compares a peer's summary (`theirs`; 0 from a version without one)
    /// with ours. True when no summary heard for `settle` (longer than an
    /// update takes to spread) matched ours, and no repair ran in the last
    /// `pause`: repair with this peer now. Any agreement starts the wait
    /// over.
    ///
    /// The rule is about all peers, not one: in a large cluster a node
    /// hears from any one peer seldom, while an update gossip is still
    /// spreading leaves many peers agreeing with it. A node that missed
    /// something hears no agreement and repairs; one that alone knows
    /// something (its gossip was lost) hears none either and repairs,
    /// pushing what it knows, so the knowledge spreads exchange by
    /// exchange. Our own summary may change meanwhile: when a burst of
    /// writes (10,000 at once in a 1,000-node cluster) is more than gossip
    /// carries, nodes keep learning and keep differing, and waiting for a
    /// quiet moment would leave the burst to gossip alone (minutes); the
    /// rate limit bounds what repair costs then, and buckets keep each
    /// exchange to what differs.
    pub fn disagrees(
        &mut self,
        theirs: u64,
        ours: u64,
        now: Instant,
        settle: Duration,
        pause: Duration,
    ) -> bool {
        if theirs == 0 {
            return false;
        }
        if theirs == ours {
            self.differing_since = None;
            return false;
        }
        let since = *self.differing_since.get_or_insert(now);
        if now < since + settle || now < self.repair_after {
            return false;
        }
        self.repair_after = now + pause;
        true
    }

    /// Compares the size of a sender's view (`theirs`, live members) with
    /// ours. Gossip fills most of a fresh node's table fast, but the last few
    /// members it lacks are rumors every other node already heard many times
    /// and sends last: waiting for them takes time that grows with the
    /// cluster. So a node that hears only bigger views than its own for
    /// [`BEHIND_FOR`] probe intervals in a row pulls the full state of the
    /// last sender (true: catch up now). Any packet showing a view no bigger
    /// than ours resets the wait: a fresh update in flight (someone just
    /// joined) reaches us by gossip well within it.
    pub fn behind(&mut self, theirs: u32, ours: u32, now: Instant, config: &Config) -> bool {
        if theirs <= ours {
            self.behind_since = None;
            return false;
        }
        let since = *self.behind_since.get_or_insert(now);
        now >= since + config.probe_interval * BEHIND_FOR
    }
}

/// Which members a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Members {
    /// None (a repair's opening frame, an exchange's last).
    None,
    /// The whole table, this node first.
    All,
    /// Those in the buckets of this bitmap (a repair).
    Buckets(u64),
}

/// What goes in one frame besides the members.
#[derive(Default)]
pub(crate) struct Contents<'a> {
    pub join: bool,
    pub digests: &'a [(Name, namespace::Digest)],
    pub deltas: &'a [(Name, namespace::Deltas)],
    pub buckets: &'a [u64],
    pub differ: Option<u64>,
    /// The sender's query clock (see [`crate::query`]).
    pub query_clock: u64,
    /// A refused join: the address of the member holding the joiner's name.
    pub name_taken_by: Option<SocketAddr>,
    /// The sender's event clock (see [`crate::user_event`]).
    pub event_clock: u64,
    /// The sender's most recent user events, encoded.
    pub events: &'a [Bytes],
}

/// One frame of an exchange, of at most `max` bytes: the `members` chosen
/// (this node first), then digests, then whole owners' deltas while they fit.
pub(crate) fn encode_frame(
    view: &View,
    config: &Config,
    max: usize,
    members: Members,
    c: Contents<'_>,
) -> Bytes {
    let local = view.local_entry();
    let pick = |m: &&crate::member_table::Entry| match members {
        Members::None => false,
        Members::All => true,
        Members::Buckets(set) => crate::summary::in_buckets(&m.name, set),
    };
    let me = match members {
        Members::None => None,
        Members::Buckets(set) if !crate::summary::in_buckets(&local.name, set) => None,
        _ => Some(local),
    };
    let others = (view.members().iter())
        .filter(|m| m.name != local.name)
        .filter(pick);
    let members = me
        .into_iter()
        .chain(others)
        .map(|m| crate::member::Update::of(m, &Name::EMPTY));
    let frame = codec::Frame {
        join: c.join,
        members,
        digests: c.digests,
        deltas: c.deltas,
        buckets: c.buckets,
        differ: c.differ,
        query_clock: c.query_clock,
        name_taken_by: c.name_taken_by,
        event_clock: c.event_clock,
        events: c.events,
    };
    codec::encode_stream(&config.cluster, view.local(), frame, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_scales_above_32_members() {
        let base = Duration::from_secs(30);
        assert_eq!(reconnect_interval(base, 1), base);
        assert_eq!(reconnect_interval(base, 32), base);
        assert_eq!(reconnect_interval(base, 33), base * 2);
        assert_eq!(reconnect_interval(base, 64), base * 2);
        assert_eq!(reconnect_interval(base, 65), base * 3);
        assert_eq!(reconnect_interval(base, 1000), base * 6);
    }

    #[test]
    fn a_join_retries_only_when_every_seed_of_an_attempt_failed() {
        let c = Config::lan();
        let own: SocketAddr = ([10, 0, 0, 1], 1).into();
        let seeds: Vec<SocketAddr> = (2..4).map(|i| ([10, 0, 0, i], 1).into()).collect();
        let mut ae = Exchanges::new(0, Instant::ZERO);
        let mut with_own = seeds.clone();
        with_own.push(own);
        assert_eq!(ae.start_join(&with_own, own), seeds, "never ourselves");
        assert_eq!(ae.join_failed(false, &c), None, "one seed still pending");
        assert_eq!(ae.join_failed(false, &c), Some((1, c.join_retry_min)));
        assert_eq!(ae.retry_join(), seeds);
        ae.join_failed(false, &c);
        assert_eq!(ae.join_failed(false, &c), Some((2, c.join_retry_min * 2)));
        ae.retry_join();
        assert!(ae.joined(), "the first success joins");
        assert!(!ae.joined(), "later ones do not join again");
        assert_eq!(ae.join_failed(false, &c), None);
        assert!(ae.retry_join().is_empty());
    }

    #[test]
    fn catching_up_is_rate_limited_and_needs_a_whole_interval_behind() {
        let c = Config::lan();
        let mut ae = Exchanges::new(0, Instant::ZERO);
        let t = |ms| Instant::from_millis(ms);
        assert!(ae.catch_up(t(0), &c));
        assert!(!ae.catch_up(t(999), &c), "once per probe interval");
        assert!(ae.catch_up(t(1000), &c));
        assert!(!ae.behind(10, 5, t(2000), &c), "behind for no time yet");
        assert!(!ae.behind(10, 5, t(2500), &c));
        assert!(
            !ae.behind(5, 5, t(2600), &c),
            "an equal view resets the wait"
        );
        assert!(!ae.behind(10, 5, t(2700), &c));
        assert!(ae.behind(10, 5, t(3700), &c));
    }
}
