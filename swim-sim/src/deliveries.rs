//! Ground truth for user events and user queries: who fired or asked
//! what, when, and which nodes delivered it how often (across process
//! lives: a restarted node that delivers an event its earlier life
//! delivered counts a duplicate), or answered it.
//!
//! An event is *expected* at every node running when it was fired that is
//! still running, as the same process, when the run ends: a node that
//! stopped in between may have missed it (its next life may catch up on
//! it, but never deliver it again). A query is expected to be
//! answered by every node it asks (its filter's, or all) that runs, as
//! the same process, from when it was asked until its origin stops
//! waiting; the simulator answers each query at once, with the node's name.

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
    /// Deliveries by a node first started more than [`REPLAY_GRACE`]
    /// after the event was fired (a joiner): an event from before it
    /// joined, which it must not deliver. A restarted node that delivers
    /// an event its earlier life missed (cut off, or down) catches up, as
    /// a member back from a partition does; one its earlier life delivered
    /// counts in `duplicates`.
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
    /// When each node's first process started.
    started: Vec<Option<Instant>>,
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

    /// Node `v`'s process started at `now` (only its first start counts).
    pub(crate) fn started(&mut self, v: usize, now: Instant) {
        if self.started.len() <= v {
            self.started.resize(v + 1, None);
        }
        self.started[v].get_or_insert(now);
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
        let started = self.started.get(v).copied().flatten();
        if started.is_some_and(|s| s > f.at + REPLAY_GRACE) {
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

/// How one user query was answered.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Answered {
    /// The node that asked.
    pub origin: usize,
    /// Its name.
    pub name: String,
    /// When it was asked (ms).
    pub at_ms: u64,
    /// Nodes expected to answer (see the module doc).
    pub expected: usize,
    /// Of those, how many responses reached the origin before it stopped
    /// waiting.
    pub responded: usize,
    /// Of those, how many acks reached it.
    pub acked: usize,
    /// `responded / expected` (1 when none was expected).
    pub complete: f64,
    /// What the origin reported when it stopped waiting: answers, acks,
    /// asked, missing (`None`: it never did, e.g. it stopped first).
    pub done: Option<Counts>,
    /// The first few expected nodes whose response never arrived.
    pub missing: Vec<usize>,
}

/// What an origin reported when it stopped waiting: answers, acks,
/// asked, missing.
pub type Counts = (usize, usize, usize, usize);

/// One query being followed.
#[derive(Debug)]
struct Asked {
    origin: usize,
    id: u64,
    name: String,
    at: Instant,
    /// Nodes it asks (all when empty).
    only: Vec<usize>,
    /// Per node: its process generation when it was asked, if running.
    running: Vec<Option<u64>>,
    responded: Vec<bool>,
    acked: Vec<bool>,
    /// The origin's own count at its end, and each node's generation then.
    done: Option<(Counts, Vec<Option<u64>>)>,
}

/// Every user query asked in a run.
#[derive(Debug, Default)]
pub struct Queries {
    asked: Vec<Asked>,
}

impl Queries {
    /// Node `origin` asked query `id`, `name`, of `only` (all when empty).
    pub(crate) fn asked(
        &mut self,
        origin: usize,
        id: u64,
        name: &str,
        only: Vec<usize>,
        running: Vec<Option<u64>>,
        now: Instant,
    ) {
        let n = running.len();
        self.asked.push(Asked {
            origin,
            id,
            name: name.to_owned(),
            at: now,
            only,
            running,
            responded: vec![false; n],
            acked: vec![false; n],
            done: None,
        });
    }

    /// Query `id` of `origin`: one still open, or the one being asked now
    /// (id 0 until [`Node::query`](swim_core::Node::query) returns; no
    /// query has id 0), which takes the id.
    fn find(&mut self, origin: usize, id: u64) -> Option<&mut Asked> {
        let a = (self.asked.iter_mut().rev())
            .find(|a| a.origin == origin && (a.id == id || a.id == 0) && a.done.is_none())?;
        a.id = id;
        Some(a)
    }

    /// The query being asked was refused.
    pub(crate) fn unask(&mut self) {
        self.asked.pop();
    }

    /// The origin heard `member`'s response (or ack).
    pub(crate) fn answered(&mut self, origin: usize, id: u64, member: usize, ack: bool) {
        if let Some(a) = self.find(origin, id) {
            if member < a.responded.len() {
                if ack {
                    a.acked[member] = true;
                } else {
                    a.responded[member] = true;
                }
            }
        }
    }

    /// The origin stopped waiting, reporting these counts; `running` as
    /// for [`Queries::asked`].
    pub(crate) fn done(
        &mut self,
        origin: usize,
        id: u64,
        counts: Counts,
        running: Vec<Option<u64>>,
    ) {
        if let Some(a) = self.find(origin, id) {
            a.done = Some((counts, running));
        }
    }

    /// Whether any query is followed.
    pub fn is_empty(&self) -> bool {
        self.asked.is_empty()
    }

    /// How each query was answered.
    pub(crate) fn report(&self) -> Vec<Answered> {
        self.asked
            .iter()
            .map(|a| {
                let then = a.done.as_ref().map(|(_, r)| r);
                let expected: Vec<usize> = (0..a.running.len())
                    .filter(|&v| a.only.is_empty() || a.only.contains(&v))
                    .filter(|&v| a.running[v].is_some())
                    .filter(|&v| then.is_some_and(|r| r.get(v) == Some(&a.running[v])))
                    .collect();
                let responded = expected.iter().filter(|&&v| a.responded[v]).count();
                let acked = expected.iter().filter(|&&v| a.acked[v]).count();
                let missing = (expected.iter().copied())
                    .filter(|&v| !a.responded[v])
                    .take(8)
                    .collect();
                Answered {
                    origin: a.origin,
                    name: a.name.clone(),
                    at_ms: a.at.as_millis(),
                    expected: expected.len(),
                    responded,
                    acked,
                    complete: if expected.is_empty() {
                        1.0
                    } else {
                        responded as f64 / expected.len() as f64
                    },
                    done: a.done.as_ref().map(|(c, _)| *c),
                    missing,
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
        // Node 1 (started at 0) restarts 10 s later: its earlier life
        // delivered it, so a delivery now is a duplicate, not a replay.
        d.started(1, t);
        d.started(1, t + Duration::from_secs(10));
        d.delivered(1, 0, 5, t + Duration::from_secs(11));
        let r = &d.report(&[None; 4])[0];
        assert_eq!(
            (r.replayed, r.duplicates),
            (1, 3),
            "nodes 1, 2 and 3 twice each"
        );
    }

    #[test]
    fn a_query_is_expected_of_the_nodes_it_asks_that_ran_throughout() {
        let mut q = Queries::default();
        let t = Instant::ZERO;
        q.asked(
            0,
            9,
            "uptime",
            vec![],
            vec![Some(0), Some(0), Some(0), None],
            t,
        );
        q.answered(0, 9, 0, false);
        q.answered(0, 9, 1, true);
        q.answered(0, 9, 3, false);
        q.done(0, 9, (2, 1, 3, 1), vec![Some(0), Some(0), Some(1), None]);
        let r = &q.report()[0];
        assert_eq!(
            (r.expected, r.responded, r.acked),
            (2, 1, 1),
            "2 restarted, 3 was down"
        );
        assert_eq!(r.missing, vec![1]);
        assert_eq!(r.done, Some((2, 1, 3, 1)));
        q.asked(0, 10, "x", vec![1], vec![Some(0); 4], t);
        q.answered(0, 10, 1, false);
        q.done(0, 10, (1, 0, 1, 0), vec![Some(0); 4]);
        assert_eq!(q.report()[1].complete, 1.0);
    }
}
