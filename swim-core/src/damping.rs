//! Flap damping: a member that keeps failing is held out while it is sick.
//!
//! SWIM lets any refutation bring a suspect or dead member back, so a member
//! behind a bad link (most of its packets lost) flips between suspect, dead
//! and alive for as long as the link is bad, and every application watching
//! the membership fails over and back each time. Damping tells such a
//! member from a healthy one by a *rate*, not by how many times it fell.
//!
//! **The record.** The cluster probes each member about once per probe
//! interval (every member probes one target per period, round-robin), and
//! every probe that goes unanswered anywhere becomes an accusation that
//! reaches this view: the member falls from alive to suspect or dead here,
//! or it comes back at an incarnation higher than the one that answers our
//! accusation (each step in between is one it refuted while this view did
//! not follow it). So each view counts, per member, *accusations* (the
//! rise of the highest incarnation at which the member is known to have
//! been accused, at most [`MAX`]) against *probe intervals it watched it
//! alive*, both weighed down by half every
//! [`Config::flap_half_life`](crate::Config::flap_half_life); a member
//! nobody accused counts as watched cleanly for a full window
//! (half-life / ln 2 probe intervals: 21.6 at the lan preset). The record
//! ages only while the member is alive here.
//!
//! **The rule.** A member that comes back (refutes a suspicion or a death)
//! is *held* — the protocol takes its refutation as SWIM says (the higher
//! incarnation wins, it is probed and gossiped to as alive), but the
//! application keeps seeing it as it last saw it — when this view cannot
//! show that its rate of accusation is low:
//!
//! 1. *accused by rate*: it has [`MIN_ACCUSATIONS`] or more and
//!    [`SUPPRESS`] or more per interval watched (about five accusations
//!    within a few seconds of each other, or one every five intervals
//!    sustained);
//! 2. *unseen*: it was dead in this view for longer than a half-life. A
//!    dead member is neither probed nor gossiped to, so this view has
//!    watched nothing of it for longer than its record remembers; what it
//!    watched before is forgotten (the intervals watched drop to zero). It
//!    cannot tell a member back from a partition, a crash or a long stall
//!    from one that kept failing while nobody looked (a member losing 80 %
//!    of its datagrams, declared dead after its first fall, refutes its
//!    death a minute later and is accused again within seconds).
//!
//! A held member is shown again (one `MemberRecovered` or `MemberJoined`)
//! once it has stayed alive and unaccused here for its *clearance*:
//! [`CLEAR_UNSEEN`] probe intervals if it was held as unseen and has not
//! been accused since, [`CLEAR_SICK`] otherwise; or sooner, once its rate
//! has decayed to [`REUSE`] over at least [`ENOUGH`] of a full window
//! watched. Each accusation starts the clearance over. A member losing 80 %
//! of its datagrams is accused every 2.5 s on average (the longest stretch
//! measured: 11.2 s), so it is never cleared while it is sick, and is
//! shown about [`CLEAR_SICK`] intervals after its links recover.
//!
//! **A heal is not flapping.** Many members coming back unseen at once,
//! confirmed first-hand, are a partition healing: they are shown at once,
//! and rule 2 holds nobody while it lasts (see [`crate::heal`]); rule 1
//! (the rate) still holds.
//!
//! What this tells apart: a healthy member on a lossy link (a probe and its
//! ack lost a few percent of the time) is accused at that few percent,
//! held never; a crash, a partition or a pause is one accusation however
//! long it lasts, so a member that pauses twice is shown at once when it
//! refutes, and a suspect (still probed) is never unseen; a restart (a new
//! life) starts clean and ends a hold; a side of a cut comes back as a
//! heal and is shown at once. The price: a member dead in a view for more
//! than a half-life (cut off or stalled for longer than the half-life plus
//! the suspicion timeout) that comes back alone, or with one other (an
//! isolated node or pair), is shown by that view [`CLEAR_UNSEEN`]
//! intervals after it comes back, not at once: alone, it cannot be told
//! from a flaky member.

use crate::member::Status;
use crate::time::Instant;
use core::time::Duration;

/// A member that comes back with this many accusations per probe interval
/// watched, or more, is held. A healthy member on a link that loses 5 % of
/// datagrams fails about one probe in ten; a member losing 80 % fails
/// almost every probe made of it.
pub const SUPPRESS: f64 = 0.2;
/// A held member whose rate has decayed to this, over at least
/// [`ENOUGH`] of a full window watched, may be shown again before its
/// clearance.
pub const REUSE: f64 = 0.1;
/// The share of a full window of probe intervals watched (weighed by age)
/// a rate must rest on to release a member: a member whose record was
/// wiped by a long absence watches that many again in 1.7 half-lives.
pub const ENOUGH: f64 = 0.7;
/// The fewest (decayed) accusations that hold by rate: one fall (a crash,
/// a partition, a pause) is never flapping, whatever the rate.
pub const MIN_ACCUSATIONS: f64 = 1.5;
/// The most accusations a record gathers (and the most one update may add:
/// the incarnation a member comes back with is its own word).
pub const MAX: f64 = 16.0;
/// Probe intervals a member held as unseen (see [`Flaps::holds`]) must stay
/// alive and unaccused before it is shown. A member losing 80 % of its
/// datagrams was accused again within 6 s of coming back in 97 % of its
/// comebacks and within 10 s in 99.6 % (`bench/flaky-2-of-100`, seeds
/// 1-10, 263 comebacks).
pub const CLEAR_UNSEEN: f64 = 10.0;
/// Probe intervals any other held member must stay alive and unaccused
/// before it is shown (unless its rate released it first): a member that
/// keeps failing is accused every 2.5 s on average, and the longest of the
/// 343 stretches measured on the flaky benches was 11.2 s.
pub const CLEAR_SICK: f64 = 25.0;

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

    /// Probe intervals in a full window (what `watched` tends to, and what
    /// a member nobody accused is presumed to have been watched).
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
    /// Alive: when its present stretch alive and unaccused in this view
    /// began. Down (suspect or dead here): when it went down.
    since: Instant,
    /// Dead here since then.
    dead_since: Option<Instant>,
    /// Held as unseen and not accused since.
    unseen: bool,
    /// Held as unseen, then found to have come back with a heal (see
    /// [`crate::heal::Heals`]): shown at once unless accused since.
    healed: bool,
    /// A release timer is pending (one at a time).
    pub timer: bool,
    /// While held: the status the application sees.
    pub shown: Option<Status>,
}

impl Flaps {
    pub fn new(now: Instant, w: Window) -> Self {
        Flaps {
            accusations: 0.0,
            watched: w.full(),
            at: now,
            alive: true,
            since: now,
            dead_since: None,
            unseen: false,
            healed: false,
            timer: false,
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

    /// The member moved at `now`, with `count` more accusations, to
    /// `status` (alive, suspect or dead).
    pub fn moved(&mut self, now: Instant, w: Window, count: f64, status: Status) {
        let alive = status == Status::Alive;
        let (a, watched) = self.at_time(now, w);
        self.dead_since = match status {
            Status::Dead => self.dead_since.or(Some(now)),
            _ => None,
        };
        if alive != self.alive || (alive && count > 0.0) {
            self.since = now;
        }
        if count > 0.0 {
            self.unseen = false;
            self.healed = false;
        }
        self.accusations = (a + count).min(MAX);
        self.watched = watched;
        self.at = now;
        self.alive = alive;
    }

    /// How long the member has been dead in this view at `now` (`None`
    /// while it is not).
    pub fn dead_for(&self, now: Instant) -> Option<Duration> {
        self.dead_since.map(|t| now.saturating_duration_since(t))
    }

    /// A member came back at `now` (its return already
    /// [`moved`](Self::moved)) after `dead_for` dead in this view: if that
    /// was longer than a half-life, this view watched nothing of it (a dead
    /// member is neither probed nor gossiped to) for longer than its record
    /// remembers, and what it watched before is forgotten: it cannot tell a
    /// member that was cut off or stalled from one that kept failing
    /// unseen. Returns whether it was so *unseen*. (A suspect is still
    /// probed, and its suspicion runs for at most the suspicion timeout.)
    pub fn came_back(&mut self, now: Instant, w: Window, dead_for: Option<Duration>) -> bool {
        let unseen = dead_for.is_some_and(|d| d > w.half_life);
        if unseen {
            let (a, _) = self.at_time(now, w);
            self.accusations = a;
            self.watched = 0.0;
            self.at = now;
        }
        unseen
    }

    /// Whether a member that came back at `now`, `unseen` or not (see
    /// [`came_back`](Self::came_back)), is to be held as it was (`was`);
    /// if so it is held. Held: a member accused at [`SUPPRESS`] or more per
    /// interval watched (with [`MIN_ACCUSATIONS`] or more), and an unseen
    /// one (held *as unseen* with fewer than [`MIN_ACCUSATIONS`] on record).
    pub fn hold(&mut self, now: Instant, w: Window, unseen: bool, was: Status) -> bool {
        let (a, watched) = self.at_time(now, w);
        let sick = a >= MIN_ACCUSATIONS && a / watched >= SUPPRESS;
        if !sick && !unseen {
            return false;
        }
        self.unseen = !sick && a < MIN_ACCUSATIONS;
        self.healed = false;
        self.shown = Some(was);
        true
    }

    /// The member came back with a heal (see [`crate::heal::Heals`]): if it is held
    /// as unseen and was not accused since, it may be shown at once.
    /// Returns whether it may.
    pub fn healed(&mut self) -> bool {
        self.healed = self.shown.is_some() && self.unseen;
        self.healed
    }

    /// How long a held member must stay alive and unaccused to be shown.
    fn clearance(&self, w: Window) -> Duration {
        let intervals = if self.unseen {
            CLEAR_UNSEEN
        } else {
            CLEAR_SICK
        };
        w.interval.mul_f64(intervals)
    }

    /// Whether a held member may be shown again at `now`: it is alive and
    /// has stayed unaccused here for its clearance, or its rate has decayed
    /// to [`REUSE`] over [`ENOUGH`] intervals watched.
    pub fn releases(&self, now: Instant, w: Window) -> bool {
        let (a, watched) = self.at_time(now, w);
        let clear = now.saturating_duration_since(self.since) >= self.clearance(w);
        let by_rate = watched >= ENOUGH * w.full() && a <= REUSE * watched;
        self.alive && (self.healed || clear || by_rate)
    }

    /// When a held member alive at `now` may be shown, if it stays
    /// unaccused; `None` while it is down (its next comeback sets the
    /// time).
    pub fn release_at(&self, now: Instant, w: Window) -> Option<Instant> {
        if !self.alive {
            return None;
        }
        let clear = self.since + self.clearance(w);
        // Staying alive from `at`, the weight of what was there by then
        // falls as k = 2^(-t / half-life): the rate needs k at most
        // REUSE * full / (a - REUSE * watched + REUSE * full), the
        // intervals watched (1 - ENOUGH) * full / (full - watched).
        let (a, watched, full) = (self.accusations, self.watched, w.full());
        let by_rate = REUSE * full / (a - REUSE * watched + REUSE * full);
        let by_watch = if watched >= ENOUGH * full {
            1.0
        } else {
            (1.0 - ENOUGH) * full / (full - watched)
        };
        let k = by_rate.min(by_watch).min(1.0);
        // (A millisecond later, for the rounding; never at `now`, which
        // would look again at once.)
        let tick = Duration::from_millis(1);
        let reuse = (k > 0.0).then(|| self.at + w.half_life.mul_f64(-k.log2()) + tick);
        let at = reuse.map_or(clear, |r| r.min(clear));
        Some(at.max(now + tick))
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

    /// Accused (suspect) at `t`.
    fn accuse(f: &mut Flaps, t: Instant) {
        f.moved(t, W, 1.0, Status::Suspect);
    }

    /// Declared dead at `t`.
    fn die(f: &mut Flaps, t: Instant) {
        f.moved(t, W, 0.0, Status::Dead);
    }

    /// Comes back (refutes) at `t`, from `was`: whether it is held.
    fn back(f: &mut Flaps, t: Instant, was: Status) -> bool {
        let dead_for = f.dead_for(t);
        f.moved(t, W, 0.0, Status::Alive);
        let unseen = f.came_back(t, W, dead_for);
        f.shown.is_none() && f.hold(t, W, unseen, was)
    }

    /// Accused at `t`, and refuting at once: whether it is held.
    fn fall(f: &mut Flaps, t: Instant) -> bool {
        accuse(f, t);
        back(f, t, Status::Suspect)
    }

    /// The first time from `t` on (by steps of 100 ms) at which a held
    /// member that stays alive and unaccused is shown.
    fn shown_after(f: &Flaps, t: Instant) -> Duration {
        let release = f.release_at(t, W).expect("alive");
        let mut u = t;
        while !f.releases(u, W) {
            u += Duration::from_millis(100);
        }
        assert!(u >= release, "released at {u:?}, scheduled at {release:?}");
        assert!(
            u <= release + Duration::from_millis(100),
            "{u:?} vs {release:?}"
        );
        u.saturating_duration_since(t)
    }

    #[test]
    fn a_member_held_as_unseen_is_shown_with_a_heal_unless_accused_since() {
        let mut cut = Flaps::new(at(0), W);
        accuse(&mut cut, at(10_000));
        die(&mut cut, at(18_000));
        assert!(back(&mut cut, at(78_000), Status::Dead), "unseen");
        assert!(!cut.releases(at(78_500), W));
        assert!(cut.healed());
        assert!(cut.releases(at(78_500), W));
        let mut flaky = Flaps::new(at(0), W);
        accuse(&mut flaky, at(10_000));
        die(&mut flaky, at(18_000));
        assert!(back(&mut flaky, at(78_000), Status::Dead));
        accuse(&mut flaky, at(79_000));
        back(&mut flaky, at(79_500), Status::Suspect);
        assert!(!flaky.healed(), "accused since it came back");
        assert!(!flaky.releases(at(80_000), W));
    }

    #[test]
    fn one_accusation_never_holds_a_burst_does_a_trickle_does_not() {
        let mut once = Flaps::new(at(0), W);
        assert!(!fall(&mut once, at(0)), "one fall is not flapping");
        // Accused at every probe: held at the fifth in five seconds.
        let mut burst = Flaps::new(at(0), W);
        let held: Vec<bool> = (0..5).map(|s| fall(&mut burst, at(s * 1_000))).collect();
        assert_eq!(held, [false, false, false, false, true]);
        // One accusation every ten probe intervals (a 5 % lossy link),
        // for ten minutes: never held.
        let mut lossy = Flaps::new(at(0), W);
        for s in 0..60 {
            assert!(!fall(&mut lossy, at(s * 10_000)), "{s}: {lossy:?}");
        }
        assert!(lossy.forgotten(at(700_000), W));
        // One every two: held.
        let mut sick = Flaps::new(at(0), W);
        assert!((0..20).any(|s| fall(&mut sick, at(s * 2_000))));
    }

    #[test]
    fn a_held_member_is_shown_after_its_clearance_and_each_accusation_restarts_it() {
        // Accused every two seconds for a minute: held with ten or more.
        let mut sick = Flaps::new(at(0), W);
        for s in 0..30 {
            fall(&mut sick, at(s * 2_000));
        }
        assert!(sick.shown.is_some());
        let t = at(58_000);
        assert_eq!(shown_after(&sick, t), Duration::from_secs(25), "CLEAR_SICK");
        // Accused again 20 s on: the clearance starts over.
        accuse(&mut sick, at(78_000));
        assert!(!sick.releases(at(80_000), W), "down");
        assert_eq!(sick.release_at(at(80_000), W), None, "down: none");
        back(&mut sick, at(79_000), Status::Suspect);
        let after = shown_after(&sick, at(79_000));
        assert!(after > Duration::from_secs(15), "{after:?}");
        assert!(after <= Duration::from_secs(25), "{after:?}");
        // Held for a burst of five: its rate decays to REUSE first.
        let mut burst = Flaps::new(at(0), W);
        for s in 0..5 {
            fall(&mut burst, at(s * 1_000));
        }
        let after = shown_after(&burst, at(4_000));
        assert!(after < Duration::from_secs(25), "{after:?}");
        assert!(after > Duration::from_secs(10), "{after:?}");
    }

    #[test]
    fn a_member_dead_here_past_a_half_life_is_held_until_it_answers() {
        // A crash, a partition, a long stall: one fall, dead a minute.
        let mut cut = Flaps::new(at(0), W);
        accuse(&mut cut, at(10_000));
        die(&mut cut, at(18_000));
        assert!(back(&mut cut, at(78_000), Status::Dead), "unseen");
        assert_eq!(
            shown_after(&cut, at(78_000)),
            Duration::from_secs(10),
            "CLEAR_UNSEEN"
        );
        // The same, accused again two seconds after it came back (a member
        // that kept failing unseen): held until CLEAR_SICK.
        let mut flaky = Flaps::new(at(0), W);
        accuse(&mut flaky, at(10_000));
        die(&mut flaky, at(18_000));
        assert!(back(&mut flaky, at(78_000), Status::Dead));
        accuse(&mut flaky, at(80_000));
        back(&mut flaky, at(81_000), Status::Suspect);
        let after = shown_after(&flaky, at(81_000));
        assert!(after > Duration::from_secs(20), "{after:?}");
        assert!(after <= Duration::from_secs(25), "{after:?}");
        // Dead for less than a half-life (a pause, a short cut): shown.
        let mut pause = Flaps::new(at(0), W);
        accuse(&mut pause, at(10_000));
        die(&mut pause, at(18_000));
        assert!(!back(&mut pause, at(32_000), Status::Dead));
        // Suspect for a minute, never dead (only a sick node held it):
        // still probed meanwhile, shown.
        let mut lone = Flaps::new(at(0), W);
        accuse(&mut lone, at(10_000));
        assert!(!back(&mut lone, at(72_000), Status::Suspect));
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
