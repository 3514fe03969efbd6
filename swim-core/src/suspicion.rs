//! Suspicion timeouts (Lifeguard's dynamic suspicion).
//!
//! A suspect member is declared dead when its suspicion times out. The timeout
//! starts at `max` and shrinks towards `min` as independent members confirm the
//! suspicion: after `c` of `k` expected confirmations it is
//! `max(min, max - (max - min) * ln(c + 1) / ln(k + 1))`.

use crate::name::Name;
use crate::time::Instant;
use core::time::Duration;

/// `min = mult * max(1, log10 n) * probe_interval`: the suspicion timeout once
/// every expected confirmation has arrived.
pub fn min_timeout(mult: u32, n: usize, probe_interval: Duration) -> Duration {
    let scale = (n.max(1) as f64).log10().max(1.0);
    probe_interval.mul_f64(f64::from(mult) * scale)
}

/// Lifeguard's dynamic suspicion timeout after `confirmations` of
/// `expected` independent confirmations: it starts at `max` and shrinks
/// towards `min` as confirmations arrive,
/// `max(min, max - (max - min) * ln(c + 1) / ln(k + 1))` for `c` of `k`
/// (`min` alone when nobody is expected to confirm). `min` is
/// [`suspicion_min_timeout`](crate::suspicion_min_timeout); `max` is `min`
/// times [`Config::suspicion_max_timeout_mult`](crate::Config::suspicion_max_timeout_mult).
pub fn timeout(min: Duration, max: Duration, confirmations: u32, expected: u32) -> Duration {
    if expected == 0 {
        return min;
    }
    let frac = (f64::from(confirmations) + 1.0).ln() / (f64::from(expected) + 1.0).ln();
    let shrunk = max.as_secs_f64() - (max.as_secs_f64() - min.as_secs_f64()) * frac;
    Duration::from_secs_f64(shrunk.max(min.as_secs_f64()))
}

/// A running suspicion of one member.
#[derive(Clone, Debug)]
pub(crate) struct Suspicion {
    pub start: Instant,
    pub min: Duration,
    pub max: Duration,
    /// Confirmations that would bring the timeout down to `min`.
    pub expected: u32,
    /// Distinct members that suspected it (the first accuser included).
    pub accusers: Vec<Name>,
    /// Not dead before this: the suspicion ran out unconfirmed, and this
    /// node's own word was given a delay (see `View::on_suspicion_timeout`).
    pub not_before: Option<Instant>,
    /// The suspect was given its last word: a ping carrying the suspicion.
    pub last_word: bool,
    /// When the suspect was last reminded of it (a ping carrying it).
    pub reminded: Option<Instant>,
}

impl Suspicion {
    pub fn new(start: Instant, min: Duration, max: Duration, expected: u32, accuser: Name) -> Self {
        Suspicion {
            start,
            min,
            max,
            expected,
            accusers: vec![accuser],
            not_before: None,
            last_word: false,
            reminded: None,
        }
    }

    /// Records `accuser`; true if it is a new, still useful confirmation.
    pub fn confirm(&mut self, accuser: &Name) -> bool {
        let confirmations = self.accusers.len() as u32 - 1;
        if confirmations >= self.expected || self.accusers.contains(accuser) {
            return false;
        }
        self.accusers.push(accuser.clone());
        true
    }

    /// When the member is to be declared dead.
    pub fn deadline(&self) -> Instant {
        let confirmations = self.accusers.len() as u32 - 1;
        let deadline = self.start + timeout(self.min, self.max, confirmations, self.expected);
        self.not_before.map_or(deadline, |t| t.max(deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_timeout_scales_with_log10_of_the_cluster() {
        let s = Duration::from_secs(1);
        assert_eq!(min_timeout(4, 1, s), Duration::from_secs(4));
        assert_eq!(min_timeout(4, 10, s), Duration::from_secs(4));
        assert_eq!(min_timeout(4, 100, s), Duration::from_secs(8));
        assert_eq!(min_timeout(4, 1000, s), Duration::from_secs(12));
        let t = min_timeout(5, 50, Duration::from_millis(200));
        assert!((t.as_secs_f64() - 5.0 * 50f64.log10() * 0.2).abs() < 1e-9);
    }

    #[test]
    fn timeout_shrinks_from_max_to_min_with_confirmations() {
        let (min, max) = (Duration::from_secs(4), Duration::from_secs(24));
        assert_eq!(timeout(min, max, 0, 3), max);
        let one = timeout(min, max, 1, 3);
        let expect = 24.0 - 20.0 * 2f64.ln() / 4f64.ln();
        assert!((one.as_secs_f64() - expect).abs() < 1e-9, "{one:?}");
        assert!(timeout(min, max, 2, 3) < one);
        assert_eq!(timeout(min, max, 3, 3), min);
        assert_eq!(timeout(min, max, 9, 3), min);
        assert_eq!(timeout(min, max, 0, 0), min);
    }

    #[test]
    fn confirmations_count_distinct_accusers_up_to_expected() {
        let mut s = Suspicion::new(
            Instant::ZERO,
            Duration::from_secs(4),
            Duration::from_secs(24),
            2,
            "a".into(),
        );
        assert_eq!(s.deadline(), Instant::from_millis(24_000));
        assert!(
            !s.confirm(&"a".into()),
            "the first accuser does not confirm itself"
        );
        assert!(s.confirm(&"b".into()));
        assert!(!s.confirm(&"b".into()));
        assert!(s.confirm(&"c".into()));
        assert!(
            !s.confirm(&"d".into()),
            "beyond expected, confirmations are not needed"
        );
        assert_eq!(s.deadline(), Instant::from_millis(4_000));
    }
}
