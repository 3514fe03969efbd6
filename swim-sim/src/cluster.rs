//! A cluster in memory for an application's own tests.
//!
//! [`Cluster`] runs real [`swim_core::Node`]s over the simulated network
//! with the simulator's defaults (sub-millisecond latency, no loss): create
//! it, let time pass, inject faults, give nodes commands, read every
//! node's view and the [`Event`]s its application would see. Time is
//! simulated, so a minute takes milliseconds, and one seed gives the same
//! run every time.

use crate::sim::{name_of, FaultKind, Options, Sim};
use std::time::Duration;
use swim_core::{Bytes, Config, Event, Instant, Member, Node, QueryOptions, Status};

/// A simulated cluster of `n` nodes named `node-0` .. `node-{n-1}`; nodes
/// 1.. join through node 0 within the first second.
///
/// A test drives it with [`run_for`](Cluster::run_for), faults
/// ([`crash`](Cluster::crash), [`partition`](Cluster::partition), ...) and
/// commands ([`set`](Cluster::set), [`fire`](Cluster::fire),
/// [`query`](Cluster::query), or any [`Node`] method through
/// [`command`](Cluster::command)), then asserts on each node's view
/// ([`status`](Cluster::status), [`get`](Cluster::get)) or on the events
/// its application saw ([`events`](Cluster::events)):
///
/// ```
/// use std::time::Duration;
/// use swim_core::Event;
/// use swim_sim::Cluster;
///
/// let mut cluster = Cluster::new(3, 7);
/// cluster.run_for(Duration::from_secs(5));
/// cluster.set(1, "role", "db");
/// cluster.crash(2);
/// cluster.run_for(Duration::from_secs(30));
///
/// let seen = cluster.events(0); // what node-0's application read
/// assert!(seen.iter().any(|e| matches!(e,
///     Event::KeySet { member, key, value, .. }
///         if *member == "node-1" && key == "role" && value == "db")));
/// assert!(seen.iter().any(|e| matches!(e,
///     Event::MemberFailed { member, .. } if member.name == "node-2")));
/// assert!(cluster.converged());
/// ```
pub struct Cluster {
    sim: Sim,
}

impl Cluster {
    /// `n` nodes with [`Config::lan`], all decided by `seed`.
    pub fn new(n: usize, seed: u64) -> Cluster {
        Cluster::with_config(n, seed, Config::lan())
    }

    /// `n` nodes running `config`.
    ///
    /// # Panics
    ///
    /// If `n` is 0 or above 2^20, or `config` does not validate: a test's
    /// own mistake.
    pub fn with_config(n: usize, seed: u64, config: Config) -> Cluster {
        Cluster::with_options(Options {
            config,
            ..Options::new(n, seed, Duration::ZERO)
        })
    }

    /// A cluster as `options` say (network, keys, faults); it runs until
    /// the test stops calling [`run_for`](Cluster::run_for), whatever
    /// `options.duration` says.
    ///
    /// # Panics
    ///
    /// If the options do not validate: a test's own mistake.
    pub fn with_options(options: Options) -> Cluster {
        // Long enough never to end under a test.
        let forever = Duration::from_secs(100 * 365 * 86_400);
        let options = Options {
            duration: forever,
            ..options
        };
        let mut sim = Sim::new(options).unwrap_or_else(|e| panic!("invalid cluster: {e}"));
        sim.record_events();
        Cluster { sim }
    }

    /// Runs `f` on node `i`'s state machine now (if it runs), then carries
    /// out its outputs: how a test gives a node a command the harness has
    /// no method for (keys, sealing steps, metadata).
    pub fn command<R>(&mut self, i: usize, f: impl FnOnce(&mut Node, Instant) -> R) -> Option<R> {
        self.sim.command(i, f)
    }

    /// Lets `d` of simulated time pass, delivering everything due.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.sim.now() + d;
        self.sim.run_until(until);
    }

    /// The simulated time.
    pub fn now(&self) -> Instant {
        self.sim.now()
    }

    /// Crashes node `i`: its process stops without a word.
    pub fn crash(&mut self, i: usize) {
        self.fault(FaultKind::Crash(i));
    }

    /// Restarts node `i` under the same name (after a crash, or in place).
    pub fn restart(&mut self, i: usize) {
        self.fault(FaultKind::Restart(i));
    }

    /// Makes node `i` leave gracefully.
    pub fn leave(&mut self, i: usize) {
        self.fault(FaultKind::Leave(i));
    }

    /// Cuts the cluster into `sides`: nodes on different sides cannot reach
    /// each other (nodes named nowhere form one more side). [`heal`](Self::heal) ends it.
    pub fn partition(&mut self, sides: Vec<Vec<usize>>) {
        self.fault(FaultKind::Partition(sides));
    }

    /// Ends every partition.
    pub fn heal(&mut self) {
        self.fault(FaultKind::Heal);
    }

    /// Any other fault the simulator knows, now.
    ///
    /// # Panics
    ///
    /// If it names a node outside the cluster.
    pub fn fault(&mut self, kind: FaultKind) {
        if let Err(e) = self.sim.inject(kind) {
            panic!("{e}");
        }
    }

    /// Node `i` sets one of its keys (ignored while it is down; a write the
    /// core refuses panics, naming the limit: a test's own mistake).
    pub fn set(&mut self, i: usize, key: &str, value: &str) {
        let r = self
            .sim
            .command(i, |n, now| n.set(key, value.as_bytes().to_vec(), now));
        if let Some(Err(e)) = r {
            panic!("node-{i} refused to set {key}: {e}");
        }
    }

    /// Node `i` deletes one of its keys.
    pub fn delete(&mut self, i: usize, key: &str) {
        let _ = self.sim.command(i, |n, now| n.delete(key, now));
    }

    /// Node `i` fires user event `name` ([`Node::event`], not coalesced);
    /// every node delivers it as [`Event::User`]. Ignored while `i` is
    /// down; an event the core refuses panics (a test's own mistake).
    pub fn fire(&mut self, i: usize, name: &str, payload: &[u8]) {
        let r = (self.sim).command(i, |n, now| n.event(name, payload, false, now));
        if let Some(Err(e)) = r {
            panic!("node-{i} refused to fire {name}: {e}");
        }
    }

    /// Node `i` asks user query `name` of every node ([`Node::query`],
    /// default options) and returns its id (`None` while `i` is down).
    /// Every node gets [`Event::Query`] and the simulator answers at once
    /// with the node's name; node `i` then gets [`Event::QueryResponse`]s
    /// and, after the timeout, [`Event::QueryDone`]. For other options,
    /// use [`command`](Cluster::command). A query the core refuses panics.
    pub fn query(&mut self, i: usize, name: &str, payload: &[u8]) -> Option<u64> {
        let options = QueryOptions::default();
        let r = (self.sim).command(i, |n, now| n.query(name, payload, options, now))?;
        Some(r.unwrap_or_else(|e| panic!("node-{i} refused to ask {name}: {e}")))
    }

    /// The events node `i` emitted since the last call, oldest first: what
    /// its application would have read from [`swim_core::Output::Event`],
    /// across restarts (a restarted node's events continue the list). Up
    /// to 10,000 a node are kept between two calls, the oldest dropped
    /// first ([`events_dropped`](Cluster::events_dropped) counts them);
    /// empty for a node outside the cluster.
    pub fn events(&mut self, i: usize) -> Vec<Event> {
        self.sim.take_events(i)
    }

    /// How many of node `i`'s events were dropped unread (more than
    /// 10,000 waited): a test that reads rarely from a large cluster can
    /// assert this is 0.
    pub fn events_dropped(&self, i: usize) -> u64 {
        self.sim.events_dropped(i)
    }

    /// The value node `viewer` holds for node `owner`'s `key`.
    pub fn get(&self, viewer: usize, owner: usize, key: &str) -> Option<Bytes> {
        Some(self.node(viewer)?.get(&name_of(owner), key)?.0)
    }

    /// Whether every running node holds every running node's keys exactly
    /// as their owner does.
    pub fn keys_agree(&self) -> bool {
        self.sim.keys_agree()
    }

    /// Node `i`, while its process runs.
    pub fn node(&self, i: usize) -> Option<&Node> {
        self.sim.node(i)
    }

    /// Every member node `i` knows (empty while it is down).
    pub fn view(&self, i: usize) -> Vec<Member> {
        self.node(i)
            .map(|n| n.members().collect())
            .unwrap_or_default()
    }

    /// The status node `viewer` holds for node `member` (`None`: the viewer
    /// is down, or does not know the member).
    pub fn status(&self, viewer: usize, member: usize) -> Option<Status> {
        self.node(viewer)?
            .member(&name_of(member))
            .map(|m| m.status)
    }

    /// Whether every running node holds exactly the running nodes alive.
    pub fn converged(&self) -> bool {
        let n = self.sim.options().nodes;
        let running: Vec<usize> = (0..n).filter(|&i| self.node(i).is_some()).collect();
        running.iter().all(|&v| {
            (0..n).all(|m| {
                let up = running.contains(&m);
                let alive = self.status(v, m) == Some(Status::Alive);
                up == alive
            })
        })
    }

    /// The first safety violation the simulator's checker saw (it stops the
    /// run), if any.
    pub fn violation(&self) -> Option<&crate::Violation> {
        self.sim.violation.as_ref()
    }

    /// The simulator underneath, for everything else it measures.
    pub fn sim(&self) -> &Sim {
        &self.sim
    }
}
