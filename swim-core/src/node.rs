//! The state machine: [`Node`].

use crate::awareness::Awareness;
use crate::broadcast::{BroadcastQueue, Priority};
use crate::codec::{self, DropReason, Limits};
use crate::config::{Config, ConfigError, MAX_NAME_LEN};
use crate::event::{Event, Input, Output, StreamId};
use crate::member::{Member, Status, Update};
use crate::membership::{Entry, Membership};
use crate::metrics::Metrics;
use crate::name::Name;
use crate::probe::{Probe, Relay};
use crate::pushpull::{Exchange, Join};
use crate::time::Instant;
use crate::timer::{Deadline, Periodic, Timers};
use crate::util::Random;
use bytes::Bytes;
use core::fmt;
use foldhash::fast::FixedState;
use hashbrown::HashMap;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// Room for outputs a node keeps between calls; more is given back once drained.
const MAX_IDLE_OUTPUTS: usize = 64;

/// Who this node is.
#[derive(Clone, Debug)]
pub struct Identity {
    /// Unique name in the cluster (1 to 128 bytes).
    pub name: String,
    /// The address peers reach it at (the advertise address).
    pub addr: SocketAddr,
    /// Initial application metadata (at most `max_meta_size` bytes).
    pub meta: Bytes,
}

/// API misuse: bad config, name or metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A config field is out of range.
    Config(ConfigError),
    /// The node name is empty or longer than 128 bytes.
    Name {
        /// Its length in bytes.
        len: usize,
    },
    /// Metadata larger than `max_meta_size`.
    MetaTooLarge {
        /// Its size in bytes.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The node has left; it accepts no more commands.
    Left,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Name { len } => write!(
                f,
                "invalid node name: {len} bytes (allowed: 1 to {MAX_NAME_LEN} bytes)"
            ),
            Error::MetaTooLarge { len, max } => {
                write!(
                    f,
                    "metadata too large: {len} bytes (allowed: at most max_meta_size = {max})"
                )
            }
            Error::Left => f.write_str("the node has left the cluster; start a new one to rejoin"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

/// One cluster member's protocol state machine: SWIM with Lifeguard, piggybacked
/// gossip and push-pull, with no IO and no clock.
///
/// # Driving a node
///
/// 1. [`Node::new`] with a config, an identity, a seed and the current time.
/// 2. Commands: [`join`](Node::join) (once, with seed addresses),
///    [`leave`](Node::leave), [`set_meta`](Node::set_meta).
/// 3. Feed every datagram, stream frame and stream failure to
///    [`step`](Node::step) with the current time, and call it with
///    [`Input::Tick`] when [`poll_timeout`](Node::poll_timeout) is due.
/// 4. After every call, carry out the [`Output`]s that `step` returns (or drain
///    [`poll_output`](Node::poll_output) after [`handle`](Node::handle)).
/// 5. Read [`members`](Node::members), [`local`](Node::local) and
///    [`metrics`](Node::metrics) at any time.
///
/// The same seed, config and inputs at the same instants give the same outputs.
#[derive(Debug)]
pub struct Node {
    pub(crate) config: Config,
    pub(crate) name: Name,
    pub(crate) members: Membership,
    pub(crate) broadcasts: BroadcastQueue,
    pub(crate) awareness: Awareness,
    pub(crate) timers: Timers,
    pub(crate) rng: Random,
    pub(crate) probe: Option<Probe>,
    pub(crate) relays: HashMap<u32, Relay, FixedState>,
    pub(crate) next_seq: u32,
    pub(crate) exchanges: HashMap<StreamId, Exchange, FixedState>,
    pub(crate) next_stream: u64,
    pub(crate) join: Join,
    /// Earliest time of the next catch-up exchange with an unknown sender.
    pub(crate) catch_up_after: Instant,
    /// Since when every packet heard carried a bigger view than ours.
    pub(crate) behind_since: Option<Instant>,
    pub(crate) leaving: bool,
    pub(crate) leave_announced: bool,
    /// While set, updates about other members are queued as repair, not news
    /// (a joining node merging the state a seed handed it).
    pub(crate) repairing: bool,
    pub(crate) outputs: VecDeque<Output>,
    pub(crate) metrics: Metrics,
    pub(crate) now: Instant,
}

impl Node {
    /// A node that knows only itself. `seed` decides every random choice.
    pub fn new(config: Config, identity: Identity, seed: u64, now: Instant) -> Result<Node, Error> {
        config.validate()?;
        if identity.name.is_empty() || identity.name.len() > MAX_NAME_LEN {
            return Err(Error::Name {
                len: identity.name.len(),
            });
        }
        if identity.meta.len() > config.max_meta_size {
            return Err(Error::MetaTooLarge {
                len: identity.meta.len(),
                max: config.max_meta_size,
            });
        }
        let mut rng = Random::new(seed);
        let hash_seed = rng.next_u64();
        let name: Name = Name::from(identity.name.as_str());
        let mut members = Membership::new(hash_seed);
        let local = Member {
            name: name.clone(),
            addr: identity.addr,
            incarnation: 0,
            status: Status::Alive,
            meta: identity.meta,
        };
        members.insert(local, now, &mut rng);
        let mut timers = Timers::default();
        // Stagger the first rounds so that nodes started together do not probe in lockstep.
        let jitter = |rng: &mut Random, d: core::time::Duration| {
            now + core::time::Duration::from_micros(rng.below(d.as_micros().max(1) as usize) as u64)
        };
        timers.set(Periodic::Probe, jitter(&mut rng, config.probe_interval));
        timers.set(Periodic::Gossip, jitter(&mut rng, config.gossip_interval));
        let mut node = Node {
            awareness: Awareness::new(config.awareness_max_multiplier),
            config,
            members,
            broadcasts: BroadcastQueue::default(),
            timers,
            rng,
            probe: None,
            relays: HashMap::with_hasher(FixedState::with_seed(hash_seed ^ 2)),
            next_seq: 0,
            exchanges: HashMap::with_hasher(FixedState::with_seed(hash_seed ^ 3)),
            next_stream: 0,
            join: Join::default(),
            catch_up_after: now,
            behind_since: None,
            leaving: false,
            leave_announced: false,
            repairing: false,
            outputs: VecDeque::new(),
            metrics: Metrics::default(),
            now,
            name,
        };
        node.schedule_push_pull(now);
        Ok(node)
    }

    /// Handles one input at `now` (and every timer due by then), and returns
    /// the outputs it produced.
    pub fn step(
        &mut self,
        input: Input,
        now: Instant,
    ) -> std::collections::vec_deque::Drain<'_, Output> {
        self.handle(input, now);
        self.outputs.drain(..)
    }

    /// Handles one input at `now` and fires every timer due by then; the
    /// outputs wait in [`poll_output`](Node::poll_output).
    pub fn handle(&mut self, input: Input, now: Instant) {
        self.advance(now);
        match input {
            Input::Datagram { from, bytes } => self.on_datagram(from, bytes),
            Input::StreamRequest { id, from, bytes } => self.on_stream_request(id, from, bytes),
            Input::StreamReply { id, bytes } => self.on_stream_reply(id, bytes),
            Input::StreamFailed { id } => self.on_stream_failed(id),
            Input::Tick => {}
        }
        self.fire_timers();
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call [`step`](Node::step) with [`Input::Tick`] next. A pure query.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Joins a cluster through `seeds`: a push-pull exchange with each seed,
    /// retried with exponential backoff until one answers.
    pub fn join(&mut self, seeds: &[SocketAddr], now: Instant) -> Result<(), Error> {
        if self.leaving {
            return Err(Error::Left);
        }
        self.advance(now);
        self.start_join(seeds.to_vec());
        self.fire_timers();
        Ok(())
    }

    /// Leaves gracefully: the node announces `left` and gossips it; when the
    /// announcement has spread, [`Event::LeaveCompleted`] tells the driver it
    /// may stop. The node keeps answering pings until then.
    pub fn leave(&mut self, now: Instant) {
        self.advance(now);
        if self.leaving {
            return;
        }
        self.leaving = true;
        self.timers.stop(Periodic::Probe);
        self.timers.stop(Periodic::PushPull);
        self.timers.stop(Periodic::JoinRetry);
        self.probe = None;
        let incarnation = self.local_entry().incarnation;
        self.announce_self(Status::Left, incarnation);
        self.check_leave_completed();
        self.fire_timers();
    }

    /// Publishes new metadata for this node (spread with a new incarnation).
    pub fn set_meta(&mut self, meta: Bytes, now: Instant) -> Result<(), Error> {
        if meta.len() > self.config.max_meta_size {
            return Err(Error::MetaTooLarge {
                len: meta.len(),
                max: self.config.max_meta_size,
            });
        }
        if self.leaving {
            return Err(Error::Left);
        }
        self.advance(now);
        if let Some(e) = self.members.get_mut(&self.name) {
            e.set_meta(meta);
        }
        let incarnation = self.local_entry().incarnation + 1;
        self.announce_self(Status::Alive, incarnation);
        self.fire_timers();
        Ok(())
    }

    /// This node as the cluster sees it.
    ///
    /// Members are returned by value: the table keeps them in a compact form
    /// (a node of a large cluster holds thousands), and a `Member` is cheap to
    /// build (the name is shared, the metadata reference-counted).
    pub fn local(&self) -> Member {
        self.local_entry().member()
    }

    /// Every member this node knows, itself included, in a deterministic order.
    pub fn members(&self) -> impl Iterator<Item = Member> + '_ {
        self.members.iter().map(Entry::member)
    }

    /// One member by name.
    pub fn member(&self, name: &str) -> Option<Member> {
        self.members.get(name).map(Entry::member)
    }

    /// This node's own table entry.
    pub(crate) fn local_entry(&self) -> &Entry {
        self.members
            .get(&self.name)
            .expect("the local member is never removed")
    }

    /// Alive and suspect members, itself included.
    pub fn num_live(&self) -> usize {
        self.members.live()
    }

    /// Lifeguard's local health score (0 is healthy).
    pub fn health_score(&self) -> u32 {
        self.awareness.score()
    }

    /// Counters of traffic and protocol activity.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The config in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// True once [`leave`](Node::leave) was called.
    pub fn is_leaving(&self) -> bool {
        self.leaving
    }

    fn advance(&mut self, now: Instant) {
        // Time never runs backwards inside the node, whatever the driver's clock does.
        self.now = self.now.max(now);
        // Merging a full state queues an event per new member; once the
        // driver has drained them, give that room back (a simulator holds
        // thousands of nodes, each of which merged a full state once).
        let cap = self.outputs.capacity();
        if cap > MAX_IDLE_OUTPUTS && self.outputs.len() * 4 <= cap {
            self.outputs
                .shrink_to(self.outputs.len().max(MAX_IDLE_OUTPUTS / 4));
        }
    }

    fn fire_timers(&mut self) {
        let now = self.now;
        loop {
            if let Some(d) = self.timers.pop_deadline(now) {
                match d {
                    Deadline::ProbeTimeout { seq } => self.on_probe_timeout(seq),
                    Deadline::RelayTimeout { seq } => self.on_relay_timeout(seq),
                    Deadline::Suspicion { member, generation } => {
                        self.on_suspicion_timeout(&member, generation)
                    }
                    Deadline::Reap { member, generation } => self.on_reap(&member, generation),
                }
            } else if let Some(p) = self.timers.pop_periodic(now) {
                match p {
                    Periodic::Probe => self.on_probe_tick(),
                    Periodic::Gossip => self.on_gossip_tick(),
                    Periodic::PushPull => self.on_push_pull_tick(),
                    Periodic::JoinRetry => self.on_join_retry(),
                }
            } else {
                break;
            }
        }
    }

    /// Decoding limits, and which names the membership table knows.
    pub(crate) fn with_limits<T>(&self, f: impl FnOnce(&Limits<'_>) -> T) -> T {
        let (members, local) = (&self.members, &self.name);
        // Every ping names us: no lookup for that.
        let known = |s: &str| *local == *s || members.slot(s).is_some();
        f(&Limits {
            cluster: &self.config.cluster,
            max_meta: self.config.max_meta_size,
            known: &known,
        })
    }

    pub(crate) fn drop_input(&mut self, reason: DropReason, from: SocketAddr, what: &'static str) {
        self.metrics.dropped.count(reason);
        tracing::debug!(node = %self.name, %from, ?reason, what, "dropped remote input");
    }

    pub(crate) fn emit(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    /// Queues an update for piggybacking.
    pub(crate) fn broadcast(&mut self, update: &Update) {
        if let Some(slot) = self.members.slot(&update.name) {
            self.queue(slot, update);
        }
    }

    /// Queues `update` about the member in `slot` for piggybacking.
    pub(crate) fn queue(&mut self, slot: u32, update: &Update) {
        let priority = if self.repairing && update.name != self.name {
            Priority::Repair
        } else {
            Priority::News
        };
        self.broadcasts.push(
            &mut self.members,
            slot,
            codec::encode_update(update),
            priority,
        );
    }

    /// Sets this node's own status and incarnation and gossips it.
    pub(crate) fn announce_self(&mut self, status: Status, incarnation: u64) {
        let now = self.now;
        if let Some(e) = self.members.get_mut(&self.name) {
            e.incarnation = incarnation;
        }
        self.members.set_status(&self.name.clone(), status, now);
        let update = Update::of(self.local_entry(), &Name::EMPTY);
        self.broadcast(&update);
        self.leave_announced = false;
    }

    /// Emits [`Event::LeaveCompleted`] once the leave is no longer queued.
    pub(crate) fn check_leave_completed(&mut self) {
        let alone = self.members.live() == 0;
        if self.leaving
            && !self.leave_announced
            && (alone
                || self
                    .members
                    .get(&self.name)
                    .is_none_or(|e| e.gossip.is_none()))
        {
            self.leave_announced = true;
            self.emit(Event::LeaveCompleted);
        }
    }

    pub(crate) fn next_seq(&mut self) -> u32 {
        self.next_seq = self.next_seq.wrapping_add(1);
        self.next_seq
    }
}
