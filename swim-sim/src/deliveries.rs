//! Ground truth for user events: who fired what, when, and which nodes
//! delivered it how often (across process lives: a restarted node that
//! delivers an event its earlier life delivered counts a duplicate).
//!
//! An event is *expected* at every node running when it was fired that is
//! still running, as the same process, when the run ends: a node that
//! stopped in between may have missed it (and its next life joined after
//! it was fired, so must not deliver it).

use swim_core::Instant;

/// How one user event spread.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Delivery {
    /// The node that fired it.
    pub origin: usize,
    /// Its name.
    pub name: String,
    /// Its event clock.
    pub clock: u64,
    /// When it was fired (ms).
    pub at_ms: u64,
    /// Nodes it was expected at (see the module doc).
    pub expected: usize,
    /// Expected nodes that delivered it.
    pub delivered: usize,
    /// When the last expected node delivered it, ms after it was fired
    /// (`None`: some expected node never did).
    pub everywhere_after_ms: Option<u64>,
    /// Deliveries beyond the first, at any node and in any life.
    pub duplicates: u64,
    /// The first few expected nodes that never delivered it.
    pub missing: Vec<usize>,
    /// Deliveries by a process started more than [`REPLAY_GRACE`] after
    /// the event was fired (a joiner, or a restarted process): an event
    /// from before it joined, which it must not deliver.
    pub replayed: u64,
}

/// How long after an event is fired a process that starts may still
/// deliver it: the event can still be spreading when its join is answered,
/// its stamp then above the clock it learns.
pub const REPLAY_GRACE: core::time::Duration = core::time::Duration::from_secs(5);

/// One event being followed.
#[derive(Debug)]
struct Fired {
    origin: usize,
    name: String,
    clock: u64,
    at: Instant,
    /// Per node: its process generation when the event was fired, if it
    /// was running then.
    running: Vec<Option<u64>>,
    /// Per node: when it first delivered it.
    first: Vec<Option<Instant>>,
    /// Per node: how often it delivered it.
    count: Vec<u32>,
    /// Deliveries by processes started after [`REPLAY_GRACE`].
    replayed: u64,
}

/// Every event fired in a run.
#[derive(Debug, Default)]
pub struct Deliveries {
    fired: Vec<Fired>,
    /// When each node's current process started.
    started: Vec<Instant>,
}

impl Deliveries {
    /// Node `origin` fired `name` at event clock `clock`; `running[v]` is
    /// node `v`'s process generation if it runs now.
    pub(crate) fn fired(
        &mut self,
        origin: usize,
        name: &str,
        clock: u64,
        running: Vec<Option<u64>>,
        now: Instant,
    ) {
        let n = running.len();
        self.fired.push(Fired {
            origin,
            name: name.to_owned(),
            clock,
            at: now,
            running,
            first: vec![None; n],
            count: vec![0; n],
            replayed: 0,
        });
    }

    /// Node `v`'s process started at `now`.
    pub(crate) fn started(&mut self, v: usize, now: Instant) {
        if self.started.len() <= v {
            self.started.resize(v + 1, Instant::ZERO);
        }
        self.started[v] = now;
    }

    /// The last event followed was not fired after all (refused).
    pub(crate) fn unfire(&mut self) {
        self.fired.pop();
    }

    /// Node `v` delivered `origin`'s event stamped `clock`.
    pub(crate) fn delivered(&mut self, v: usize, origin: usize, clock: u64, now: Instant) {
        // Recent events first: a lookup from the end.
        let Some(f) =
            (self.fired.iter_mut().rev()).find(|f| f.origin == origin && f.clock == clock)
        else {
            return;
        };
        if v >= f.count.len() {
            return;
        }
        f.count[v] += 1;
        f.first[v].get_or_insert(now);
        let started = self.started.get(v).copied().unwrap_or(Instant::ZERO);
        if started > f.at + REPLAY_GRACE {
            f.replayed += 1;
        }
    }

    /// Whether any event is followed.
    pub fn is_empty(&self) -> bool {
        self.fired.is_empty()
    }

    /// How each event spread, given each node's process generation now
    /// (`None`: not running).
    pub(crate) fn report(&self, running_now: &[Option<u64>]) -> Vec<Delivery> {
        self.fired
            .iter()
            .map(|f| {
                let expected: Vec<usize> = (0..f.running.len())
                    .filter(|&v| {
                        f.running[v].is_some() && running_now.get(v) == Some(&f.running[v])
                    })
                    .collect();
                let delivered = expected.iter().filter(|&&v| f.count[v] > 0).count();
                let last = expected
                    .iter()
                    .map(|&v| f.first[v])
                    .collect::<Option<Vec<_>>>();
                let everywhere_after_ms = last.map(|firsts| {
                    let last = firsts.into_iter().max().unwrap_or(f.at);
                    last.saturating_duration_since(f.at).as_millis() as u64
                });
                let duplicates = f
                    .count
                    .iter()
                    .map(|&c| u64::from(c.saturating_sub(1)))
                    .sum();
                let missing = (expected.iter().copied())
                    .filter(|&v| f.count[v] == 0)
                    .take(8)
                    .collect();
                Delivery {
                    origin: f.origin,
                    name: f.name.clone(),
                    clock: f.clock,
                    at_ms: f.at.as_millis(),
                    expected: expected.len(),
                    delivered,
                    everywhere_after_ms,
                    duplicates,
                    missing,
                    replayed: f.replayed,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    #[test]
    fn expected_nodes_and_duplicates() {
        let t = Instant::ZERO;
        let mut d = Deliveries::default();
        // Node 2 is down when it is fired; node 1 restarts later.
        d.fired(0, "e", 5, vec![Some(0), Some(0), None, Some(0)], t);
        d.delivered(0, 0, 5, t);
        d.delivered(1, 0, 5, t + Duration::from_millis(100));
        d.delivered(3, 0, 5, t + Duration::from_millis(300));
        d.delivered(3, 0, 5, t + Duration::from_millis(400));
        d.delivered(2, 0, 5, t + Duration::from_millis(900));
        let r = d.report(&[Some(0), Some(1), Some(0), Some(0)]);
        assert_eq!(r[0].expected, 2, "nodes 0 and 3: 1 restarted, 2 was down");
        assert_eq!(r[0].delivered, 2);
        assert_eq!(r[0].everywhere_after_ms, Some(300));
        assert_eq!(r[0].duplicates, 1);
        let r = d.report(&[Some(0), Some(0), Some(0), None]);
        assert_eq!((r[0].expected, r[0].everywhere_after_ms), (2, Some(100)));
        assert_eq!(r[0].replayed, 0);
        // Node 2 starts 10 s later and delivers it: a replay.
        d.started(2, t + Duration::from_secs(10));
        d.delivered(2, 0, 5, t + Duration::from_secs(11));
        assert_eq!(d.report(&[None; 4])[0].replayed, 1);
    }
}
