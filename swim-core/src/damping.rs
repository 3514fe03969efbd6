//! Flap damping: a member that keeps failing is held out while it is sick.
//!
//! SWIM lets any refutation bring a suspect or dead member back, so a member
//! behind a bad link (most of its packets lost) flips between suspect, dead
//! and alive for as long as the link is bad, and every application watching
//! the membership fails over and back each time. Damping tells such a
//! member from a healthy one by a *rate*, not by how many times it fell:
//! each view estimates the share of the probes made of a member that went
//! unanswered. The cluster probes each member about once per probe
//! interval (every member probes one target per period, round-robin), and
//! every probe that goes unanswered anywhere becomes an accusation that
//! reaches this view: the member falls from alive to suspect or dead here,
//! or it comes back at an incarnation higher than the one that answers our
//! accusation (each step in between is one it refuted while this view did
//! not follow it, say while we held it dead). So the view counts
//! *accusations* (the rise of the highest incarnation at which the member
//! is known to have been accused) against *probe intervals watched*, both
//! weighed down by half every
//! [`Config::flap_half_life`](crate::Config::flap_half_life), the window
//! starting [`PRIOR`] clean intervals before the first accusation (a member
//! is presumed healthy). A member that comes back from suspect or dead
//! with at least [`MIN_ACCUSATIONS`] accusations and an accusation rate of
//! [`SUPPRESS`] or more is *held*: the protocol takes its refutation as
//! SWIM says (the higher incarnation wins, it is probed and gossiped to as
//! alive), but the application keeps seeing it as it last saw it (suspect
//! or dead) until the rate has decayed to [`REUSE`].
//!
//! What this tells apart: a healthy member on a lossy link (a probe and its
//! ack lost a few percent of the time) is accused at that few percent, held
//! never; a crash, a partition or a pause is one accusation however long it
//! lasts (a member back from a partition refutes once), so a member that
//! pauses twice is shown at once when it refutes; a restart (a new life)
//! starts clean; a member losing most of its packets is accused at almost
//! every probe and refutes almost as often, so even a view that held it
//! dead for a long while learns, from the incarnation it comes back with,
//! how often it was accused meanwhile, and keeps it out.

use crate::member::Status;
use crate::time::Instant;
use core::time::Duration;

/// A member that comes back with this many accusations per probe interval
/// watched, or more, is held. A healthy member on a link that loses 5 % of
/// datagrams fails about one probe in ten; a member losing 80 % fails
/// almost every probe made of it.
pub const SUPPRESS: f64 = 0.2;
/// A held member is shown again once its accusation rate has decayed to
/// this.
pub const REUSE: f64 = 0.1;
/// The fewest (decayed) accusations that hold: one fall (a crash, a
/// partition, a pause) is never flapping, whatever the rate.
pub const MIN_ACCUSATIONS: f64 = 1.5;
/// Probe intervals the window is presumed to have watched cleanly before
/// the first accusation.
pub const PRIOR: f64 = 8.0;
/// The most accusations a record gathers (and the most one update may add:
/// the incarnation a member comes back with is its own word).
pub const MAX: f64 = 16.0;

/// How a view weighs a member's accusations: the damping half-life and the
/// probe interval (one probe of the member by the cluster each).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    /// Weights halve in this time.
    pub half_life: Duration,
    /// The cluster probes a member about once per this.
    pub interval: Duration,
}

impl Window {
    /// The weight left after `elapsed`.
    fn decay(&self, elapsed: Duration) -> f64 {
        (-elapsed.as_secs_f64() / self.half_life.as_secs_f64()).exp2()
    }

    /// Probe intervals in a full window (what `watched` tends to).
    fn full(&self) -> f64 {
        self.half_life.as_secs_f64() / core::f64::consts::LN_2 / self.interval.as_secs_f64()
    }
}

/// How far up the member's accusations reach at status `status` and
/// incarnation `incarnation`, plus one: alive at `i` answered one at `i - 1`;
/// suspect or dead at `i` is accused at `i`.
pub(crate) fn accused_level(status: Status, incarnation: u64) -> u64 {
    match status {
        Status::Alive => incarnation,
        _ => incarnation.saturating_add(1),
    }
}

/// One view's record of a member's accusations.
#[derive(Clone, Debug)]
pub(crate) struct Flaps {
    /// Accusations, weighed by age, at `at`.
    accusations: f64,
    /// Probe intervals watched, weighed by age, at `at`.
    watched: f64,
    at: Instant,
    /// Alive (and so probed with a verdict at stake) since `at`: the record
    /// ages only then.
    alive: bool,
    /// While held: the status the application sees.
    pub shown: Option<Status>,
}

impl Flaps {
    pub fn new(now: Instant) -> Self {
        Flaps {
            accusations: 0.0,
            watched: PRIOR,
            at: now,
            alive: true,
            shown: None,
        }
    }

    /// (accusations, intervals watched) at `now`.
    fn at_time(&self, now: Instant, w: Window) -> (f64, f64) {
        if !self.alive {
            return (self.accusations, self.watched);
        }
        let elapsed = now.saturating_duration_since(self.at);
        let k = w.decay(elapsed);
        let grown = w.full() * (1.0 - k);
        (self.accusations * k, self.watched * k + grown)
    }

    /// Accusations per probe interval watched, at `now`.
    pub fn rate(&self, now: Instant, w: Window) -> f64 {
        let (a, watched) = self.at_time(now, w);
        a / watched
    }

    /// The member moved at `now`, with `count` more accusations, to a
    /// status that is `alive` or not.
    pub fn moved(&mut self, now: Instant, w: Window, count: f64, alive: bool) {
        let (a, watched) = self.at_time(now, w);
        self.accusations = (a + count).min(MAX);
        self.watched = watched;
        self.at = now;
        self.alive = alive;
    }

    /// Whether a member coming back at `now` is to be held.
    pub fn holds(&self, now: Instant, w: Window) -> bool {
        let (a, watched) = self.at_time(now, w);
        a >= MIN_ACCUSATIONS && a / watched >= SUPPRESS
    }

    /// Whether a held member may be shown again at `now`.
    pub fn releases(&self, now: Instant, w: Window) -> bool {
        self.rate(now, w) <= REUSE
    }

    /// When to look again at a held member (no earlier than one probe
    /// interval after `now`): when its accusations, decaying while it is
    /// alive, fall to [`REUSE`] of a full window. The window never holds
    /// more than a full one, so the rate cannot have fallen to [`REUSE`]
    /// before; it may need a little longer (checked again then).
    pub fn release_at(&self, now: Instant, w: Window) -> Instant {
        let (a, _) = self.at_time(now, w);
        let halvings = (a / (REUSE * w.full())).log2().max(0.0);
        now + w.half_life.mul_f64(halvings).max(w.interval)
    }

    /// Whether the record has decayed to nothing worth keeping.
    pub fn forgotten(&self, now: Instant, w: Window) -> bool {
        self.shown.is_none() && self.at_time(now, w).0 < 0.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Window = Window {
        half_life: Duration::from_secs(15),
        interval: Duration::from_secs(1),
    };

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Accused at `t`, and refuting at once.
    fn fall(f: &mut Flaps, t: Instant) {
        f.moved(t, W, 1.0, false);
        f.moved(t, W, 0.0, true);
    }

    #[test]
    fn one_accusation_never_holds_a_burst_does_a_trickle_does_not() {
        let mut once = Flaps::new(at(0));
        fall(&mut once, at(0));
        assert!(!once.holds(at(0), W), "one fall is not flapping");
        // Five accusations in four seconds: accused at every probe.
        let mut burst = Flaps::new(at(0));
        for s in 0..5 {
            fall(&mut burst, at(s * 1_000));
        }
        assert!(burst.holds(at(4_000), W));
        assert!(!burst.releases(at(4_000), W));
        let mut release = burst.release_at(at(4_000), W);
        let mut looks = 0;
        while !burst.releases(release, W) {
            release = burst.release_at(release, W);
            looks += 1;
        }
        assert!(looks < 20, "{looks} looks");
        assert!(release < at(60_000), "{release:?}");
        // One accusation every ten probe intervals (a 5 % lossy link),
        // for ten minutes: never held.
        let mut lossy = Flaps::new(at(0));
        for s in 0..60 {
            fall(&mut lossy, at(s * 10_000));
            assert!(!lossy.holds(at(s * 10_000), W), "{s}: {lossy:?}");
        }
        // One every two: held.
        let mut sick = Flaps::new(at(0));
        for s in 0..20 {
            fall(&mut sick, at(s * 2_000));
        }
        assert!(sick.holds(at(40_000), W));
        assert!(sick.forgotten(at(400_000), W));
    }

    #[test]
    fn the_levels_count_the_accusations_between_two_states() {
        let a = |s, i| accused_level(s, i);
        assert_eq!(a(Status::Suspect, 3) - a(Status::Alive, 3), 1, "a fall");
        assert_eq!(
            a(Status::Alive, 4).saturating_sub(a(Status::Suspect, 3)),
            0,
            "a refutation"
        );
        assert_eq!(
            a(Status::Alive, 9) - a(Status::Dead, 3),
            5,
            "five refuted meanwhile"
        );
        assert_eq!(a(Status::Dead, u64::MAX), u64::MAX);
    }
}
