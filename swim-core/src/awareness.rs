//! Lifeguard local health awareness.
//!
//! A node that misses acks and nacks, or has to refute suspicions of itself, is
//! more likely the slow one. Its score rises, and its probe interval and probe
//! timeout stretch by `score + 1`, so a sick node accuses others less eagerly.

use core::time::Duration;

/// Local health score in `0..max`.
#[derive(Clone, Debug)]
pub(crate) struct Awareness {
    max: u32,
    score: u32,
}

impl Awareness {
    pub fn new(max: u32) -> Self {
        Awareness { max, score: 0 }
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
