//! Lifeguard local health awareness.
//!
//! A node that misses acks and nacks, or has to refute suspicions of itself, is
//! more likely the slow one. Its score rises, and its probe interval and probe
//! timeout stretch by `score + 1`, so a sick node accuses others less eagerly.
//!
//! Refuted accusations count at most once per window: anyone holding the
//! key (or anyone, on a plain cluster) can forge a suspicion of a node every
//! second, and if each counted, the score would climb faster than successful
//! probes bring it down and stay pinned at the top. A node that really is
//! slow still climbs: its own probes fail as well.

use crate::time::Instant;
use core::time::Duration;

/// Local health score in `0..max`.
#[derive(Clone, Debug)]
pub(crate) struct Awareness {
    max: u32,
    score: u32,
    /// When a refuted accusation last counted.
    accused: Option<Instant>,
}

impl Awareness {
    pub fn new(max: u32) -> Self {
        Awareness {
            max,
            score: 0,
            accused: None,
        }
    }

    /// This node refuted an accusation of itself at `now`: +1, unless one
    /// already counted within `window`. With one counted per `window` and
    /// one taken off per successful probe (one per `probe_interval *
    /// (score + 1)`), the score falls back while `score + 1` is below
    /// `window / probe_interval`: forged accusations cannot pin it.
    pub fn accused(&mut self, now: Instant, window: Duration) {
        if self
            .accused
            .is_some_and(|t| now.saturating_duration_since(t) < window)
        {
            return;
        }
        self.accused = Some(now);
        self.apply(1);
    }

    /// Adds `delta` (negative when things went well), saturating in `0..max`.
    pub fn apply(&mut self, delta: i32) {
        let hi = self.max.saturating_sub(1) as i64;
        self.score = (i64::from(self.score) + i64::from(delta)).clamp(0, hi) as u32;
    }

    pub fn score(&self) -> u32 {
        self.score
    }

    /// `d * (score + 1)`.
    pub fn scale(&self, d: Duration) -> Duration {
        d * (self.score + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_saturates_and_scales_timeouts() {
        let mut a = Awareness::new(8);
        a.apply(-1);
        assert_eq!(a.score(), 0);
        a.apply(3);
        assert_eq!(
            a.scale(Duration::from_millis(500)),
            Duration::from_millis(2000)
        );
        a.apply(100);
        assert_eq!(a.score(), 7);
        let mut off = Awareness::new(0);
        off.apply(5);
        assert_eq!(off.scale(Duration::from_secs(1)), Duration::from_secs(1));
    }
}
