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
//! [`HEAL_WINDOW`] probe intervals, this node pings up to [`HEAL_CHECKS`]
//! of them; the heal holds once [`HEAL_CONFIRMS`] of those speak from
//! their own address (their ack, or any packet of theirs). A side of a cut
//! answers within a round trip; a crashed member never does, and a
//! forger can speak only as itself. Then every member that came back
//! unseen in the window is shown, and rule 2 holds nobody until
//! [`HEAL_WINDOW`] intervals pass with no further such return (rule 1, the
//! rate, still holds).
//!
//! Bounds: at most [`MAX_RECENT`] comebacks remembered (the oldest go
//! first; those are shown by their own clearance), at most [`HEAL_CHECKS`]
//! pings per window; a confirmation looks through at most [`HEAL_CHECKS`]
//! names.

use crate::damping::Window;
use crate::name::Name;
use crate::time::Instant;
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
/// Members that came back pinged, at most, per window.
pub const HEAL_CHECKS: usize = 8;
/// Members pinged that must speak first-hand for a heal.
pub const HEAL_CONFIRMS: usize = 2;
/// Comebacks remembered at once.
pub const MAX_RECENT: usize = 1024;

/// What a comeback brings.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Comeback {
    /// A heal is under way: the member is not held as unseen.
    pub heal: bool,
    /// Members to ping: a heal is likely, they confirm it.
    pub check: Vec<Name>,
}

/// Unseen comebacks of late, to tell a heal from flapping (see the module
/// doc).
#[derive(Debug, Default)]
pub(crate) struct Heals {
    /// (when, who) of the latest unseen comebacks, the oldest first.
    recent: VecDeque<(Instant, Name)>,
    /// Members of `recent` pinged, and whether each spoke since.
    checked: Vec<(Name, bool)>,
    /// A heal is under way until then.
    until: Option<Instant>,
}

impl Heals {
    /// `name` came back unseen at `now`, of `held` members.
    pub fn came_back(&mut self, now: Instant, w: Window, name: &Name, held: usize) -> Comeback {
        let window = w.interval.mul_f64(HEAL_WINDOW);
        if self.until.is_some_and(|t| now < t) {
            self.until = Some(now + window);
            return Comeback {
                heal: true,
                check: Vec::new(),
            };
        }
        self.until = None;
        self.expire(now, window);
        if self.recent.len() >= MAX_RECENT {
            self.forget_oldest();
        }
        self.recent.push_back((now, name.clone()));
        let needed = HEAL_RETURNS.max(held / HEAL_SHARE);
        if self.recent.len() < needed {
            return Comeback::default();
        }
        // Likely a heal: ask those not asked yet, up to the window's checks.
        let room = HEAL_CHECKS.saturating_sub(self.checked.len());
        let check: Vec<Name> = (self.recent.iter())
            .map(|(_, n)| n)
            .filter(|n| !self.checked.iter().any(|(c, _)| c == *n))
            .take(room)
            .cloned()
            .collect();
        self.checked
            .extend(check.iter().map(|n| (n.clone(), false)));
        Comeback { heal: false, check }
    }

    /// `name` spoke from its own address at `now`: when that confirms a
    /// heal, the members that came back unseen in the window, to show.
    pub fn spoke(&mut self, now: Instant, w: Window, name: &Name) -> Vec<Name> {
        let Some(c) = self.checked.iter_mut().find(|(c, _)| c == name) else {
            return Vec::new();
        };
        c.1 = true;
        let window = w.interval.mul_f64(HEAL_WINDOW);
        if self.checked.iter().filter(|(_, spoke)| *spoke).count() < HEAL_CONFIRMS {
            return Vec::new();
        }
        self.until = Some(now + window);
        self.checked.clear();
        self.recent.drain(..).map(|(_, n)| n).collect()
    }

    /// Whether a member's packet may confirm something (cheap: checked on
    /// every packet from a member).
    pub fn checking(&self) -> bool {
        !self.checked.is_empty()
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
            self.checked.retain(|(c, _)| *c != n);
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
        // 1,000 held: a check takes ten comebacks.
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
    fn a_heal_holds_once_two_members_pinged_speak() {
        let mut h = Heals::default();
        for i in 0..5 {
            h.came_back(at(i * 10), W, &n(i as usize), 100);
        }
        // A member not pinged, or one speaking twice, confirms nothing.
        assert!(h.spoke(at(60), W, &n(7)).is_empty());
        assert!(h.spoke(at(60), W, &n(0)).is_empty());
        assert!(h.spoke(at(61), W, &n(0)).is_empty());
        let shown = h.spoke(at(62), W, &n(4));
        assert_eq!(shown, (0..5).map(n).collect::<Vec<_>>());
        assert!(!h.checking());
        // While it lasts, later comebacks are not held; it ends after a
        // window with no comeback.
        assert!(h.came_back(at(4_000), W, &n(5), 100).heal);
        assert!(h.came_back(at(8_500), W, &n(6), 100).heal);
        assert!(!h.came_back(at(14_000), W, &n(8), 100).heal);
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
        // Out of the window, the checks are forgotten with their comebacks.
        h.came_back(at(10_000), W, &n(4), 100);
        assert!(!h.checking());
    }
}
