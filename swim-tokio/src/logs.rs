//! Logging what peers can cause, at a bounded rate.
//!
//! Anyone who can reach the agent's port can make membership and key events
//! happen (a forged datagram, on a plain cluster; a key holder, on a sealed
//! one), and traffic from a misconfigured agent is dropped again and again.
//! One line per such event would let a sender fill the disk (a busy writer
//! made 172-180 MB of log in 30 s), so:
//!
//! - lines about events a peer can cause go through one [`RateLimit`]:
//!   at most [`LINES_PER_WINDOW`] per [`WINDOW`]; the rest are counted and
//!   summed up in one line when the window ends;
//! - key events are logged at debug level only, and never with their values;
//! - traffic dropped because it opens under no key, or carries another
//!   cluster's label, is logged once per source address per [`NOTE_EVERY`]
//!   ([`DropNotes`]), with the likely fix, and within the same rate limit.
//!
//! At most `LINES_PER_WINDOW` lines of a few hundred bytes every 10 s is
//! well under 1 MB a minute whatever the attack.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How long a window of the rate limit lasts.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);

/// Lines about peer-caused events printed per [`WINDOW`].
pub(crate) const LINES_PER_WINDOW: u32 = 50;

/// How often one source's dropped traffic is noted in the log.
pub(crate) const NOTE_EVERY: Duration = Duration::from_secs(60);

/// Sources whose last note is remembered; beyond it, older ones are
/// forgotten (and new ones only counted until room is made).
const MAX_NOTED_SOURCES: usize = 1024;

/// The rate limit of lines about peer-caused events.
pub(crate) struct RateLimit {
    start: Instant,
    used: u32,
    suppressed: u64,
}

impl RateLimit {
    /// A limit whose first window starts `now`.
    pub(crate) fn new(now: Instant) -> Self {
        RateLimit {
            start: now,
            used: 0,
            suppressed: 0,
        }
    }

    /// Whether one more line may be printed `now`; if not, it is counted.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        self.tick(now);
        if self.used < LINES_PER_WINDOW {
            self.used += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }

    /// Ends the window if its time is up: one line saying how many lines
    /// were not printed in it.
    pub(crate) fn tick(&mut self, now: Instant) {
        if now.duration_since(self.start) < WINDOW {
            return;
        }
        if self.suppressed > 0 {
            tracing::warn!(
                suppressed = self.suppressed,
                "{} log lines about peers' events were not printed in the last {} s (at most {} \
                 per {} s); the counters in /v1/metrics have them all",
                self.suppressed,
                now.duration_since(self.start).as_secs(),
                LINES_PER_WINDOW,
                WINDOW.as_secs()
            );
        }
        self.start = now;
        self.used = 0;
        self.suppressed = 0;
    }
}

/// Why traffic from a source was dropped, as [`DropNotes`] tells it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Dropped {
    /// It opened under none of our keys (or was plain where sealing is
    /// required).
    Auth,
    /// It carried another cluster's label.
    Cluster,
}

/// When each source's dropped traffic was last noted.
#[derive(Default)]
pub(crate) struct DropNotes {
    last: HashMap<(IpAddr, Dropped), Instant>,
}

impl DropNotes {
    /// Whether traffic from `from` dropped for `why` should be noted `now`:
    /// not if traffic from its IP address was, within [`NOTE_EVERY`] (a
    /// source is its address: each stream comes from a new port).
    pub(crate) fn due(&mut self, from: SocketAddr, why: Dropped, now: Instant) -> bool {
        let from = from.ip();
        if let Some(t) = self.last.get(&(from, why)) {
            if now.duration_since(*t) < NOTE_EVERY {
                return false;
            }
        }
        if self.last.len() >= MAX_NOTED_SOURCES {
            self.last.retain(|_, t| now.duration_since(*t) < NOTE_EVERY);
            if self.last.len() >= MAX_NOTED_SOURCES {
                return false;
            }
        }
        self.last.insert((from, why), now);
        true
    }
}

/// Logs that traffic from `from` was dropped, with the likely fix.
pub(crate) fn note_dropped(node: &str, from: SocketAddr, why: Dropped, cluster: &str) {
    match why {
        Dropped::Auth => tracing::warn!(
            node,
            %from,
            "dropped traffic from {from} that opens under none of this agent's keys (sealed under \
             a key this agent lacks, or plain while this agent requires sealing); likely fix: give \
             that agent this cluster's keyring file (or `swim keys install` its key here), or stop \
             it from contacting this agent. Noted once per source per minute; all are counted in \
             dropped.auth"
        ),
        Dropped::Cluster => tracing::warn!(
            node,
            %from,
            "dropped traffic from {from} that carries another cluster's label (this agent's is \
             `{cluster}`); likely fix: set the same `cluster` in both agents' [protocol] table, or \
             stop that agent from contacting this one. Noted once per source per minute; all are \
             counted in dropped.cluster"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_prints_a_window_s_worth_then_counts() {
        let t0 = Instant::now();
        let mut l = RateLimit::new(t0);
        let printed = (0..1000).filter(|_| l.allow(t0)).count();
        assert_eq!(printed, LINES_PER_WINDOW as usize);
        assert_eq!(l.suppressed, 1000 - u64::from(LINES_PER_WINDOW));
        assert!(l.allow(t0 + WINDOW), "a new window prints again");
        assert_eq!(l.suppressed, 0);
    }

    #[test]
    fn a_source_is_noted_once_a_minute_and_the_table_is_bounded() {
        let t0 = Instant::now();
        let mut n = DropNotes::default();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(n.due(a, Dropped::Auth, t0));
        assert!(!n.due(a, Dropped::Auth, t0 + Duration::from_secs(59)));
        assert!(
            n.due(a, Dropped::Cluster, t0),
            "another reason is another note"
        );
        assert!(n.due(a, Dropped::Auth, t0 + NOTE_EVERY));
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        assert!(
            !n.due(b, Dropped::Auth, t0 + NOTE_EVERY),
            "a source is its address"
        );
        for i in 0..(2 * MAX_NOTED_SOURCES as u16) {
            let from = SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 1));
            n.due(from, Dropped::Auth, t0 + NOTE_EVERY);
        }
        assert!(n.last.len() <= MAX_NOTED_SOURCES);
    }
}
