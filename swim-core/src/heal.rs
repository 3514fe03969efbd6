//! Heals: many members coming back unseen at once, confirmed first-hand.
//!
//! Flap damping holds a member that comes back after being dead here for
//! longer than a half-life (rule 2 of [`crate::damping`]): alone, it cannot
//! be told from a flaky member. Many of them coming back within a few probe
//! intervals of each other are a partition healing (or this node's own cut
//! ending): many members do not fail unseen at the same moment, while a
//! flaky member comes back on its own time. Such members are shown at once.
//!
//! **A heal is confirmed by the members themselves.** A comeback is anyone's
//! word: one insider (or a stranger on a plain cluster) can send "alive,
//! one higher" for three members that crashed, and a rule that counted
//! every comeback would take the forgery for a heal and show crashed
//! members as joined. So when [`HEAL_RETURNS`] or more members (and at
//! least one in [`HEAL_SHARE`] of those held) came back unseen within
//! [`HEAL_WINDOW`] probe intervals, this node pings them, [`HEAL_CHECKS`]
//! at a time (a ping unanswered for a probe interval makes room for the
//! next); the heal holds once [`HEAL_CONFIRMS`] of the members that came
//! back speak from their own address (an ack, or any packet of theirs,
//! pinged or not; a member that moved within its life is not heard
//! first-hand there, see `Entry::moved`). A side of a cut answers within
//! a round trip; a crashed member never does, and a forger can speak only
//! as itself. Then every member that came back unseen in the window is
//! shown, and rule 2 holds nobody until [`HEAL_WINDOW`] intervals pass with
//! no further such return (rule 1, the rate, still holds).
//!
//! What it does not stop: forged comebacks sent while a real heal is under
//! way are shown with it (they fail their probes and die again within a
//! suspicion timeout). That is SWIM's own rule for anyone's "alive, one
//! higher": a member dead here for less than a half-life is shown at once
//! when it comes back, forged or not, as with damping off. Damping tells
//! flapping from a heal; sealing is what keeps strangers' words out.
//!
//! Bounds: at most [`MAX_RECENT`] comebacks remembered (the oldest go
//! first; those are shown by their own clearance), at most [`MAX_CHECKED`]
//! pings per window; a member's packet costs one hash lookup (and a look
//! through at most [`HEAL_CONFIRMS`] names).

use crate::damping::Window;
use crate::name::Name;
use crate::time::Instant;
use foldhash::fast::FixedState;
use hashbrown::HashSet;
use std::collections::VecDeque;

/// Members coming back unseen within [`HEAL_WINDOW`] probe intervals of
/// each other that may make a heal (and at least one in [`HEAL_SHARE`] of
/// the members held): flaky members come back one at a time (2 of 100, 10
/// of 1,000 on the flaky benches), a side of a cut all at once.
pub const HEAL_RETURNS: usize = 3;
/// See [`HEAL_RETURNS`].
pub const HEAL_SHARE: usize = 100;
/// Probe intervals within which unseen comebacks count together (a heal
/// reaches a 200-node side in about 3 s).
pub const HEAL_WINDOW: f64 = 5.0;
/// Pings to members that came back waiting for an answer at once (one
/// unanswered for a probe interval makes room for another).
pub const HEAL_CHECKS: usize = 8;
/// Members that came back in the window that must speak first-hand (pinged
/// or not) for a heal.
pub const HEAL_CONFIRMS: usize = 2;
/// Comebacks remembered at once.
pub const MAX_RECENT: usize = 1024;
/// Members pinged, at most, per window (answered or not).
pub const MAX_CHECKED: usize = 4 * HEAL_CHECKS;

/// What a comeback brings.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Comeback {
    /// A heal is under way: the member is not held as unseen.
    pub heal: bool,
    /// Members to ping: a heal is likely, they confirm it.
    pub check: Vec<Name>,
    /// This comeback made a heal confirmed already (enough members spoke):
    /// the members that came back unseen before it, to show.
    pub show: Vec<Name>,
}

/// Unseen comebacks of late, to tell a heal from flapping (see the module
/// doc).
#[derive(Debug)]
pub(crate) struct Heals {
    /// (when, who) of the latest unseen comebacks, the oldest first.
    recent: VecDeque<(Instant, Name)>,
    /// The names of `recent`, to look up (never iterated).
    names: HashSet<Name, FixedState>,
    /// Comebacks that make a heal likely (as of the latest one).
    needed: usize,
    /// Members of `recent` pinged, and when: a ping unanswered for a probe
    /// interval frees its place (forged comebacks do not use up the checks).
    checked: Vec<(Name, Instant)>,
    /// Members of `recent` that spoke from their own address.
    spoke: Vec<Name>,
    /// A heal is under way until then.
    until: Option<Instant>,
}

impl Default for Heals {
    fn default() -> Self {
        Heals {
            recent: VecDeque::new(),
            names: HashSet::with_hasher(FixedState::with_seed(0)),
            needed: HEAL_RETURNS,
            checked: Vec::new(),
            spoke: Vec::new(),
            until: None,
        }
    }
}

impl Heals {
    /// `name` came back unseen at `now`, of `held` members.
    pub fn came_back(&mut self, now: Instant, w: Window, name: &Name, held: usize) -> Comeback {
        let window = w.interval.mul_f64(HEAL_WINDOW);
        if self.until.is_some_and(|t| now < t) {
            self.until = Some(now + window);
            return Comeback {
                heal: true,
                ..Comeback::default()
            };
        }
        self.until = None;
        self.expire(now, window);
        if self.recent.len() >= MAX_RECENT {
            self.forget_oldest();
        }
        if self.names.insert(name.clone()) {
            self.recent.push_back((now, name.clone()));
        }
        self.needed = HEAL_RETURNS.max(held / HEAL_SHARE);
        if self.confirmed() {
            let mut show = self.confirm(now, w);
            show.retain(|n| n != name);
            return Comeback {
                heal: true,
                check: Vec::new(),
                show,
            };
        }
        if !self.likely() || self.checked.len() >= MAX_CHECKED {
            return Comeback::default();
        }
        // Likely a heal: ask those not asked yet, as far as the pings still
        // waiting for an answer leave room.
        let waiting = (self.checked.iter())
            .filter(|(n, at)| {
                now.saturating_duration_since(*at) < w.interval && !self.spoke.contains(n)
            })
            .count();
        let room = HEAL_CHECKS
            .saturating_sub(waiting)
            .min(MAX_CHECKED - self.checked.len());
        let check: Vec<Name> = (self.recent.iter())
            .map(|(_, n)| n)
            .filter(|n| !self.checked.iter().any(|(c, _)| c == *n))
            .take(room)
            .cloned()
            .collect();
        self.checked.extend(check.iter().map(|n| (n.clone(), now)));
        Comeback {
            check,
            ..Comeback::default()
        }
    }

    /// `name` spoke from its own address at `now`: when that confirms a
    /// heal, the members that came back unseen in the window, to show.
    pub fn spoke(&mut self, now: Instant, w: Window, name: &Name) -> Vec<Name> {
        // Enough spoke already (the heal waits for comebacks), or a name
        // not of the window, or heard before.
        let enough = self.spoke.len() >= HEAL_CONFIRMS;
        if enough || !self.names.contains(name) || self.spoke.contains(name) {
            return Vec::new();
        }
        self.spoke.push(name.clone());
        if !self.confirmed() {
            return Vec::new();
        }
        self.confirm(now, w)
    }

    /// Enough comebacks, and enough of them spoke first-hand.
    fn confirmed(&self) -> bool {
        self.likely() && self.spoke.len() >= HEAL_CONFIRMS
    }

    /// The heal holds: it lasts a window; the members that came back in
    /// it, to show.
    fn confirm(&mut self, now: Instant, w: Window) -> Vec<Name> {
        self.until = Some(now + w.interval.mul_f64(HEAL_WINDOW));
        self.checked.clear();
        self.spoke.clear();
        self.names.clear();
        self.recent.drain(..).map(|(_, n)| n).collect()
    }

    /// Whether a member's packet may confirm something (cheap: checked on
    /// every packet from a member).
    pub fn checking(&self) -> bool {
        !self.recent.is_empty()
    }

    /// Enough comebacks in the window for a heal, once confirmed.
    fn likely(&self) -> bool {
        self.recent.len() >= self.needed
    }

    /// Forgets the comebacks older than the window.
    fn expire(&mut self, now: Instant, window: core::time::Duration) {
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > window)
        {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((_, n)) = self.recent.pop_front() {
            self.names.remove(&n);
            self.checked.retain(|(c, _)| *c != n);
            self.spoke.retain(|c| *c != n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    const W: Window = Window {
        half_life: Duration::from_secs(15),
        interval: Duration::from_secs(1),
    };

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn n(i: usize) -> Name {
        Name::from(format!("m{i}").as_str())
    }

    #[test]
    fn many_unseen_comebacks_at_once_are_checked_one_at_a_time_are_not() {
        let mut h = Heals::default();
        // Two within the window, then a third 6 s after the first: nothing
        // to check (flaky members come back on their own time).
        assert_eq!(h.came_back(at(0), W, &n(0), 100), Comeback::default());
        assert_eq!(h.came_back(at(4_000), W, &n(1), 100), Comeback::default());
        assert_eq!(h.came_back(at(6_000), W, &n(2), 100), Comeback::default());
        // The third within 5 s of the second: all three are pinged.
        let c = h.came_back(at(7_000), W, &n(3), 100);
        assert_eq!(c.check, [n(1), n(2), n(3)]);
        assert!(!c.heal);
        // 1,000 held: a check takes ten comebacks, and pings go out eight
        // at a time.
        let mut h = Heals::default();
        for i in 0..9 {
            assert!(h.came_back(at(i * 100), W, &n(i as usize), 1_000) == Comeback::default());
        }
        assert_eq!(
            h.came_back(at(900), W, &n(9), 1_000).check.len(),
            HEAL_CHECKS
        );
    }

    #[test]
    fn a_heal_holds_once_two_members_that_came_back_speak() {
        let mut h = Heals::default();
        for i in 0..5 {
            h.came_back(at(i * 10), W, &n(i as usize), 100);
        }
        // A member not of the window, or one speaking twice, confirms
        // nothing.
        assert!(h.spoke(at(60), W, &n(7)).is_empty());
        assert!(h.spoke(at(60), W, &n(0)).is_empty());
        assert!(h.spoke(at(61), W, &n(0)).is_empty());
        let shown = h.spoke(at(62), W, &n(4));
        assert_eq!(shown, (0..5).map(n).collect::<Vec<_>>());
        // While it lasts, later comebacks are not held; it ends after a
        // window with no comeback.
        assert!(h.came_back(at(4_000), W, &n(5), 100).heal);
        assert!(h.came_back(at(8_500), W, &n(6), 100).heal);
        assert!(!h.came_back(at(14_000), W, &n(8), 100).heal);
    }

    #[test]
    fn members_that_spoke_before_the_heal_was_likely_confirm_it() {
        let mut h = Heals::default();
        h.came_back(at(0), W, &n(0), 100);
        h.came_back(at(10), W, &n(1), 100);
        assert!(h.spoke(at(20), W, &n(0)).is_empty());
        assert!(h.spoke(at(20), W, &n(1)).is_empty());
        // The third comeback makes it likely: confirmed at once.
        let c = h.came_back(at(30), W, &n(2), 100);
        assert!(c.heal);
        assert_eq!(c.show, [n(0), n(1)]);
    }

    #[test]
    fn forged_comebacks_alone_never_make_a_heal() {
        // Three crashed members said to be back: pinged, they never speak;
        // the forger speaking as itself confirms nothing.
        let mut h = Heals::default();
        for i in 0..3 {
            h.came_back(at(i), W, &n(i as usize), 100);
        }
        assert!(h.spoke(at(10), W, &n(9)).is_empty());
        assert!(!h.came_back(at(20), W, &n(3), 100).heal);
        // Out of the window, they are forgotten.
        h.came_back(at(10_000), W, &n(4), 100);
        assert_eq!(h.recent.len(), 1);
    }

    #[test]
    fn unanswered_checks_make_room_for_others() {
        // Eight forged comebacks take the pings; a probe interval later,
        // real ones are pinged too, and any two that speak confirm.
        let mut h = Heals::default();
        let mut pinged = 0;
        for i in 0..8 {
            pinged += h.came_back(at(i), W, &n(i as usize), 100).check.len();
        }
        assert_eq!(pinged, 8);
        assert!(h.came_back(at(100), W, &n(8), 100).check.is_empty());
        assert_eq!(h.came_back(at(1_100), W, &n(9), 100).check, [n(8), n(9)]);
        assert!(h.spoke(at(1_150), W, &n(8)).is_empty());
        assert_eq!(h.spoke(at(1_160), W, &n(9)).len(), 10);
    }
}
