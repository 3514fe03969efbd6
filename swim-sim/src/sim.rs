//! The simulation engine: an event queue ordered by `(time, sequence)` that
//! delivers datagrams, stream frames and ticks to each [`Node`] in turn.
//! Time jumps to the next event; nothing sleeps. One seed decides every node
//! seed, start time, latency and loss draw.

use crate::check::{Checker, Violation};
use crate::hostile::{Attacker, Forged, Forgeries, Hostile, HostileReport};
use crate::network::{retransmit_delay, Fate, Latency, Links, Network};
use crate::observe::{CrashReport, Observer};
use crate::trace::TraceHash;
use crate::truth::{FalseDeath, HoldOut, MemberVerdicts, Truth, Verdict};
use bytes::Bytes;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use swim_core::{Config, Event, Identity, Input, Instant, Node, Output, Status, StreamId};

/// A fault, and when it happens.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// When, from the start of the run.
    pub at: Duration,
    /// What happens.
    pub kind: FaultKind,
}

/// What can happen during a run.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// The node's process dies silently.
    Crash(usize),
    /// A new process with the same name and address starts and rejoins
    /// (after a crash, or killing the running one first).
    Restart(usize),
    /// The node leaves gracefully and stops once its leave has spread.
    Leave(usize),
    /// A CPU stall: the node handles nothing for `duration`; inputs queue up
    /// and are handled late, and its timers fire late.
    Pause {
        /// Which node.
        node: usize,
        /// How long.
        duration: Duration,
    },
    /// Every input reaches the node `delay` late, for `duration`.
    Slow {
        /// Which node.
        node: usize,
        /// Extra delay of each input.
        delay: Duration,
        /// How long.
        duration: Duration,
    },
    /// The groups cannot reach each other (nodes not listed form one more group).
    Partition(Vec<Vec<usize>>),
    /// Datagrams and streams from `from` to `to` are lost; the other way works.
    PartitionOneWay {
        /// Senders cut off.
        from: Vec<usize>,
        /// Receivers cut off.
        to: Vec<usize>,
    },
    /// Datagrams on the link `from -> to` are held back until released.
    Hold {
        /// Sender.
        from: usize,
        /// Receiver.
        to: usize,
    },
    /// Delivers what the link `from -> to` held, and stops holding.
    Release {
        /// Sender.
        from: usize,
        /// Receiver.
        to: usize,
    },
    /// The link between `a` and `b` goes down and up every `period / 2`,
    /// until `until` (from the start of the run).
    Flap {
        /// One end.
        a: usize,
        /// The other end.
        b: usize,
        /// One full down-up cycle.
        period: Duration,
        /// When the flapping stops (the link is up again).
        until: Duration,
    },
    /// Ends every partition, node loss and flapping link.
    Heal,
    /// Ends the faults named `name` (see [`FaultKind::Named`]).
    HealNamed(String),
    /// The node starts and joins through the first running node (a node
    /// with a join fault does not start in the join window).
    Join(usize),
    /// Extra loss `rate` on every link of `nodes` in `direction`, until healed.
    Loss {
        /// The nodes whose links lose.
        nodes: Vec<usize>,
        /// Their receipts, their sends, or both.
        direction: crate::network::Direction,
        /// Probability that a datagram is lost (streams retransmit).
        rate: f64,
    },
    /// A partition, one-way partition or loss under a name that
    /// [`FaultKind::HealNamed`] ends, without ending the others (unnamed
    /// partitions replace each other; named ones add up).
    Named {
        /// The name.
        name: String,
        /// The fault.
        fault: Box<FaultKind>,
    },
    /// The node publishes new metadata: one fresh update whose spread the
    /// observers follow round by round.
    Announce(usize),
    /// The node sets one of its keys.
    Set {
        /// Which node.
        node: usize,
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// The node deletes one of its keys.
    Delete {
        /// Which node.
        node: usize,
        /// The key.
        key: String,
    },
    /// The node asks a user query (see [`crate::deliveries`]); every node
    /// asked responds at once with its name.
    Query {
        /// Which node.
        node: usize,
        /// The query's name.
        name: String,
        /// Its payload.
        payload: String,
        /// Only these nodes are asked (all when empty).
        only: Vec<usize>,
        /// Members that match send an ack too.
        want_ack: bool,
        /// Random members each answer is also sent through.
        relay_factor: u8,
    },
    /// The node fires a user event (see [`crate::deliveries`]).
    Event {
        /// Which node.
        node: usize,
        /// The event's name.
        name: String,
        /// Its payload.
        payload: String,
        /// Whether handlers coalesce it.
        coalesce: bool,
    },
    /// A member (or a stranger) starts lying: forged datagrams and frames
    /// until [`Hostile::until`] (see [`crate::hostile`]).
    Hostile(Hostile),
}

impl FaultKind {
    /// Every node this fault names.
    pub fn nodes(&self) -> Vec<usize> {
        match self {
            FaultKind::Crash(n)
            | FaultKind::Restart(n)
            | FaultKind::Leave(n)
            | FaultKind::Announce(n) => vec![*n],
            FaultKind::Set { node, .. }
            | FaultKind::Delete { node, .. }
            | FaultKind::Event { node, .. }
            | FaultKind::Query { node, .. } => vec![*node],
            FaultKind::Pause { node, .. } | FaultKind::Slow { node, .. } => vec![*node],
            FaultKind::Partition(groups) => groups.iter().flatten().copied().collect(),
            FaultKind::PartitionOneWay { from, to } => from.iter().chain(to).copied().collect(),
            FaultKind::Hold { from, to } | FaultKind::Release { from, to } => vec![*from, *to],
            FaultKind::Flap { a, b, .. } => vec![*a, *b],
            FaultKind::Heal | FaultKind::HealNamed(_) => vec![],
            FaultKind::Join(n) => vec![*n],
            FaultKind::Loss { nodes, .. } => nodes.clone(),
            FaultKind::Named { fault, .. } => fault.nodes(),
            FaultKind::Hostile(h) => h.node.into_iter().collect(),
        }
    }

    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Crash(_) => "crash",
            FaultKind::Restart(_) => "restart",
            FaultKind::Leave(_) => "leave",
            FaultKind::Pause { .. } => "pause",
            FaultKind::Slow { .. } => "slow",
            FaultKind::Partition(_) => "partition",
            FaultKind::PartitionOneWay { .. } => "partition-oneway",
            FaultKind::Hold { .. } => "hold",
            FaultKind::Release { .. } => "release",
            FaultKind::Flap { .. } => "flap",
            FaultKind::Heal | FaultKind::HealNamed(_) => "heal",
            FaultKind::Join(_) => "join",
            FaultKind::Loss { .. } => "loss",
            FaultKind::Named { fault, .. } => fault.name(),
            FaultKind::Announce(_) => "announce",
            FaultKind::Set { .. } => "set",
            FaultKind::Delete { .. } => "delete",
            FaultKind::Event { .. } => "event",
            FaultKind::Query { .. } => "query",
            FaultKind::Hostile(_) => "hostile",
        }
    }
}

/// Everything that defines a run. The same options give the same trace.
#[derive(Clone, Debug)]
pub struct Options {
    /// Cluster size.
    pub nodes: usize,
    /// The one seed.
    pub seed: u64,
    /// Simulated time to run.
    pub duration: Duration,
    /// Protocol config of every node.
    pub config: Config,
    /// Nodes 1.. start (and join through node 0) at a random moment in this window.
    pub join_window: Duration,
    /// Latency, loss, duplication, reordering.
    pub network: Network,
    /// Faults to inject.
    pub faults: Vec<Fault>,
    /// Keys every node sets when it starts, before it joins: `(count,
    /// size)` gives keys `k0`.. of `size` bytes each (the value names the
    /// node and key, padded), as an agent sets its tags.
    pub start_keys: (usize, usize),
    /// Rates (messages, bytes per node per second) count only traffic sent
    /// in `[from, until)` (`until` `None`: to the end of the run).
    pub measure: (Duration, Option<Duration>),
    /// Keys every node installs when it starts (the first is primary):
    /// traffic is sealed as `config.sealing` says. Empty: plain traffic.
    pub keys: Vec<swim_core::SecretKey>,
    /// The window `[from, until]` over which the report measures how well
    /// healthy views hold sick members out (see [`crate::HoldOut`]).
    pub hold_out: Option<(Duration, Duration)>,
    /// Report the first instant at or after this time when every running
    /// node holds exactly the running nodes alive
    /// ([`Report::alive_everywhere_ms`]).
    pub alive_after: Option<Duration>,
    /// Measure what a hostile member does ([`Report::hostile`]): on when a
    /// fault is [`FaultKind::Hostile`], and for the honest run compared
    /// with it. Forged values are then counted instead of stopping the run.
    pub hostile_report: bool,
    /// With `hostile_report`: every owner write must be visible at every
    /// healthy running reader within this time.
    pub write_deadline: Duration,
    /// Nodes running the build before user events and queries (a rolling
    /// upgrade, plain clusters only): what they receive and send has those
    /// fields stripped, as that build skipped them (datagram fields 11-13,
    /// push-pull fields 9-10), and they fire and ask nothing.
    pub older: Vec<usize>,
    /// A restarted process resumes its user-event floor (one past the
    /// last event its earlier processes delivered), as the agent does from
    /// its member snapshot ([`swim_core::Node::resume_events`]). Off: it
    /// learns its floor from its peers at join alone, as an agent run
    /// without a snapshot does.
    pub snapshot: bool,
}

impl Options {
    /// `nodes` nodes with `Config::lan()`, 1 s join window, 0.5-1 ms latency, no loss.
    pub fn new(nodes: usize, seed: u64, duration: Duration) -> Self {
        Options {
            nodes,
            seed,
            duration,
            config: Config::lan(),
            join_window: Duration::from_secs(1),
            network: Network::default(),
            faults: Vec::new(),
            measure: (Duration::ZERO, None),
            start_keys: (0, 0),
            keys: Vec::new(),
            hold_out: None,
            alive_after: None,
            hostile_report: false,
            write_deadline: Duration::from_secs(30),
            older: Vec::new(),
            snapshot: true,
        }
    }

    /// Whether a hostile member is measured (see [`Options::hostile_report`]).
    pub fn measures_hostile(&self) -> bool {
        self.hostile_report || (self.faults.iter()).any(|f| matches!(f.kind, FaultKind::Hostile(_)))
    }

    /// Checks the options before a run; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes == 0 || self.nodes > 1 << 20 {
            return Err(format!(
                "nodes = {}: must be between 1 and 1048576",
                self.nodes
            ));
        }
        self.network.validate(self.nodes)?;
        let (from, until) = self.measure;
        if until.is_some_and(|u| u <= from || u > self.duration) {
            return Err(format!(
                "measure window {from:?} to {until:?}: needs from < until <= duration ({:?})",
                self.duration
            ));
        }
        for f in &self.faults {
            if let Some(n) = f.kind.nodes().into_iter().find(|&n| n >= self.nodes) {
                return Err(format!(
                    "fault {} at {:?} names node {n} but nodes are 0..{}",
                    f.kind.name(),
                    f.at,
                    self.nodes - 1
                ));
            }
            if f.at > self.duration {
                return Err(format!(
                    "fault {} at {:?} is after the end of the run ({:?})",
                    f.kind.name(),
                    f.at,
                    self.duration
                ));
            }
        }
        self.config.validate().map_err(|e| e.to_string())
    }
}

/// The address of node `i` in the simulated network.
pub fn addr_of(i: usize) -> SocketAddr {
    SocketAddr::from((
        Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8),
        7946,
    ))
}

fn index_of(addr: SocketAddr) -> Option<usize> {
    match addr {
        // Any port: a node that announces a new address moves its port.
        SocketAddr::V4(a) if a.ip().octets()[0] == 10 => {
            let o = a.ip().octets();
            Some((usize::from(o[1]) << 16) | (usize::from(o[2]) << 8) | usize::from(o[3]))
        }
        _ => None,
    }
}

/// The name of node `i`.
pub fn name_of(i: usize) -> String {
    format!("node-{i}")
}

/// The index of the node called `name` (the inverse of [`name_of`]).
pub fn index_of_name(name: &str) -> Option<usize> {
    name.strip_prefix("node-")?.parse().ok()
}

enum What {
    Start(usize),
    /// Node `node` (in process `generation`) responds to query `id` of `origin`.
    Respond {
        node: usize,
        generation: u32,
        origin: String,
        id: u64,
    },
    /// `delayed`: already held back once by a slow node.
    Deliver {
        to: usize,
        generation: u32,
        input: Input,
        delayed: bool,
    },
    Tick(usize),
    /// A frame arrives at side `side` of stream `g`.
    StreamFrame {
        g: u64,
        side: usize,
        from: SocketAddr,
        bytes: Bytes,
    },
    /// Side `side` of stream `g` learns that the stream is closed.
    StreamEnd {
        g: u64,
        side: usize,
    },
    /// Checks, once a second after a heal, whether every view of every
    /// namespace agrees yet (for the heals in `Sim::keys_waiting`).
    CheckKeys,
    /// Checks, every 100 ms after a restart, whether the restarted node
    /// holds every namespace yet (catch-up number `n`).
    CheckCaughtUp {
        n: usize,
    },
    Fault(Fault),
    /// Hostile member `a` forges its next message.
    HostileFire {
        a: usize,
    },
    /// The attacker hangs up stream `id` it opened to node `to`.
    HostileStreamEnd {
        to: usize,
        generation: u32,
        id: StreamId,
    },
    /// Is owner `owner`'s write visible at every healthy reader?
    CheckWrite(Box<WriteCheck>),
    /// Samples member entries and key bytes per node.
    SizeSample,
    Resume(usize),
    SlowEnd(usize),
    Flap {
        a: usize,
        b: usize,
        down: bool,
        period: Duration,
        until: Instant,
    },
}

/// An owner write whose visibility is checked at its deadline.
struct WriteCheck {
    owner: usize,
    generation: u32,
    key: String,
    version: u64,
    value: Option<Bytes>,
    at_ms: u64,
    /// Checked once already and found missing somewhere: a reader that
    /// had just taken the owner's new life (the owner answering a forged
    /// claim) holds its keys again a moment later; this second look, 2 s
    /// after the deadline, decides.
    second_look: bool,
}

/// What the simulator measures of a hostile member beyond the checker.
#[derive(Default)]
struct HostileMeasure {
    sent: BTreeMap<String, u64>,
    writes_checked: u64,
    writes_lost: u64,
    lost_examples: Vec<String>,
    members_peak: u64,
    key_bytes_peak: u64,
    over_limits: u64,
}

struct Scheduled {
    at: Instant,
    seq: u64,
    what: What,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

struct Slot {
    node: Option<Node>,
    /// Set while the node is paused: inputs wait in `backlog`.
    paused: bool,
    backlog: Vec<Input>,
    /// Extra delay of every input while the node is slow.
    slow: Duration,
    /// Datagrams and bytes this node sent (in the measurement window).
    sent: (u64, u64),
    /// When this node's uplink is free to send the next stream frame.
    uplink_free: Instant,
    /// Bumped at every crash or restart: deliveries for an older process are void.
    generation: u32,
    tick_at: Option<Instant>,
    restarts: u64,
    /// One past the clock of the last user event this node's processes
    /// delivered (what the agent's snapshot keeps).
    event_floor: u64,
}

/// A stream between two nodes, as the simulated network carries it: side 0
/// is the opener, side 1 the responder, which knows the stream as
/// `StreamId::accepted(g)`, `g` its key in `Sim::streams`.
struct Stream {
    /// Each side's node and process generation.
    node: [usize; 2],
    generation: [u32; 2],
    /// The opener's id for it.
    id: StreamId,
    /// Each side has closed it, or been told it is closed.
    closed: [bool; 2],
    /// When the last frame scheduled for each side arrives: frames and the
    /// close that follows them arrive in order, as on TCP.
    last: [Instant; 2],
}

impl Stream {
    /// The id side `side` knows the stream by.
    fn id_at(&self, g: u64, side: usize) -> StreamId {
        if side == 0 {
            self.id
        } else {
            StreamId::accepted(g)
        }
    }
}

/// Members the running nodes only heard of (candidates, checked with a
/// ping before they are admitted), summed over the nodes running at the
/// end of the run (see `swim_core::Metrics::candidates`).
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Candidates {
    /// News of members held as candidates.
    pub heard: u64,
    /// Candidates that answered and were admitted.
    pub verified: u64,
    /// Candidates that never answered, forgotten.
    pub forgotten: u64,
    /// Candidates evicted to make room for newer ones.
    pub evicted: u64,
    /// News of unknown members refused: as many checks as a node may
    /// start were running.
    pub refused: u64,
    /// Candidates whose ping was not paid for (or went nowhere).
    pub unpinged: u64,
}

/// The summary of a run (the CLI prints it, or its JSON).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Cluster size.
    pub nodes: usize,
    /// Simulated time covered.
    pub simulated_ms: u64,
    /// First time every live node saw exactly the live set alive (after all started).
    pub converged_ms: Option<u64>,
    /// Whether the cluster was converged when the run ended.
    pub converged_at_end: bool,
    /// When the run ended: (viewer, member) pairs of running nodes where the
    /// viewer holds the member dead, left or not at all (a suspicion still
    /// in flight is not counted: on a lossy network one is nearly always).
    pub unsettled_at_end: u64,
    /// When the run ended: (viewer, member) pairs of running nodes where the
    /// viewer holds the member alive.
    pub alive_pairs_at_end: u64,
    /// When the run ended: (viewer, member) pairs of running nodes where the
    /// viewer holds the member suspect.
    pub suspect_pairs_at_end: u64,
    /// The last time the cluster was converged (with random loss, a passing
    /// suspicion can leave it unconverged at the very end).
    pub last_converged_ms: Option<u64>,
    /// The window the rates cover, `[from, until)` in simulated ms.
    pub measured_ms: (u64, u64),
    /// Datagrams and stream frames sent, per node per simulated second.
    pub messages_per_node_per_sec: f64,
    /// Bytes sent, per node per simulated second.
    pub bytes_per_node_per_sec: f64,
    /// Dead verdicts views took about healthy members they could reach
    /// (ground truth: [`crate::truth`]).
    pub false_positive_deaths: u64,
    /// Suspicions views raised about healthy members they could reach.
    pub false_suspicions: u64,
    /// The false suspicions views raised first-hand (their own failed
    /// probes), the rest being adopted by gossip.
    pub false_accusations: u64,
    /// False deaths taken by views that were never sick during the run (a
    /// sick node's own stale verdicts left out; gossip that makes a healthy
    /// view adopt one is in).
    pub false_deaths_in_healthy_views: u64,
    /// Dead verdicts about members that were sick, down or cut off from
    /// the view: the detector doing its job.
    pub expected_deaths: u64,
    /// The first false deaths, one by one, with view, time, accuser,
    /// the verdict's evidence, cause.
    pub false_deaths: Vec<FalseDeath>,
    /// Expected deaths taken across a broken link (a cut), counted.
    pub cross_cut_deaths: u64,
    /// The first of them ([`crate::truth::CROSS_CUT_LISTED`]), one by one,
    /// with their evidence.
    pub cross_cut: Vec<FalseDeath>,
    /// Per member that was suspected, declared dead or flipped: counts,
    /// peak share of views holding it dead, dead -> alive flips.
    pub members: Vec<MemberVerdicts>,
    /// Per member sick during the hold-out window ([`Options::hold_out`]):
    /// how well healthy views held it out, and their flips.
    pub hold_out: Vec<HoldOut>,
    /// The first instant at or after [`Options::alive_after`] when every
    /// running node held exactly the running nodes alive (ms).
    pub alive_everywhere_ms: Option<u64>,
    /// Each crash and its detection times.
    pub crashes: Vec<CrashReport>,
    /// Events the simulator processed.
    pub events: u64,
    /// Remote input the nodes dropped (all reasons).
    pub dropped: u64,
    /// What the running nodes did with members they only heard of.
    pub candidates: Candidates,
    /// The first safety violation, if any (it stopped the run).
    pub violation: Option<Violation>,
    /// Every healed fault and how long the cluster took to re-converge.
    pub heals: Vec<crate::observe::HealReport>,
    /// Every restart and how long the node took to hold every namespace.
    pub catch_ups: Vec<crate::observe::CatchUpReport>,
    /// Every graceful leave and how long until every live node knew.
    pub leaves: Vec<crate::observe::LeaveReport>,
    /// How each announced update spread.
    pub coverage: Vec<crate::observe::Coverage>,
    /// Datagrams and stream frames sent by the busiest node, per second.
    pub max_messages_per_node_per_sec: f64,
    /// Bytes sent by the busiest node, per second.
    pub max_bytes_per_node_per_sec: f64,
    /// Digest of the whole trace (hex).
    pub trace_hash: String,
    /// Whether, when the run ended, every running node held every running
    /// node's keys exactly as their owner does.
    pub keys_agree_at_end: bool,
    /// What a hostile member forged and what it did, against ground truth
    /// (when [`Options::measures_hostile`]).
    pub hostile: Option<HostileReport>,
    /// How each user event fired spread ([`crate::deliveries`]).
    pub deliveries: Vec<crate::deliveries::Delivery>,
    /// How each user query asked was answered.
    pub queries: Vec<crate::deliveries::Answered>,
}

/// A seeded, deterministic cluster.
pub struct Sim {
    opts: Options,
    now: Instant,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    slots: Vec<Slot>,
    rng: ChaCha8Rng,
    streams: BTreeMap<u64, Stream>,
    /// The key in `streams` of each stream by its opener and the opener's id.
    opened: BTreeMap<(usize, StreamId), u64>,
    next_stream: u64,
    links: Links,
    checker: Checker,
    /// The first safety violation, which stops the run.
    pub violation: Option<Violation>,
    trace: TraceHash,
    events: u64,
    messages: u64,
    bytes: u64,
    /// Ground truth and measurements.
    pub observer: Observer,
    /// Heals (by number) whose keys do not agree yet: one check a second
    /// serves them all.
    keys_waiting: Vec<usize>,
    /// Which members are sick, which links work; every verdict judged.
    truth: Truth,
    alive_everywhere: Option<Instant>,
    /// Hostile members, in the order of their faults.
    attackers: Vec<Attacker>,
    /// Streams attackers opened, by victim and the victim's id.
    forged_streams: std::collections::BTreeSet<(usize, StreamId)>,
    next_forged_stream: u64,
    hostile: Option<HostileMeasure>,
    /// Every user event fired, and who delivered it.
    deliveries: crate::deliveries::Deliveries,
    /// Every user query asked, and who answered it.
    queries: crate::deliveries::Queries,
    /// Each node's events as its application sees them, oldest first,
    /// once [`Sim::record_events`] asked for them (a large run keeps none).
    event_log: Option<EventLog>,
}

/// The events each node emitted, until a test takes them: at most
/// [`EventLog::CAP`] a node, the oldest dropped first (and counted).
#[derive(Debug)]
struct EventLog {
    nodes: Vec<std::collections::VecDeque<Event>>,
    /// Events dropped from each node's log, ever.
    dropped: Vec<u64>,
}

impl EventLog {
    /// Events kept a node between two reads: far more than a test of a
    /// few nodes emits, and a bound on a large cluster nobody reads.
    const CAP: usize = 10_000;

    fn push(&mut self, i: usize, e: &Event) {
        let log = &mut self.nodes[i];
        if log.len() == Self::CAP {
            log.pop_front();
            self.dropped[i] += 1;
        }
        log.push_back(e.clone());
    }
}

impl Sim {
    /// Sets up a run: node 0 starts at time zero, the others at seeded moments
    /// in the join window; faults are scheduled.
    pub fn new(opts: Options) -> Result<Sim, String> {
        opts.validate()?;
        let n = opts.nodes;
        let mut sim = Sim {
            now: Instant::ZERO,
            queue: BinaryHeap::new(),
            seq: 0,
            slots: (0..n)
                .map(|_| Slot {
                    node: None,
                    paused: false,
                    backlog: Vec::new(),
                    slow: Duration::ZERO,
                    sent: (0, 0),
                    uplink_free: Instant::ZERO,
                    generation: 0,
                    tick_at: None,
                    restarts: 0,
                    event_floor: 0,
                })
                .collect(),
            rng: ChaCha8Rng::seed_from_u64(opts.seed),
            streams: BTreeMap::new(),
            opened: BTreeMap::new(),
            next_stream: 0,
            links: Links::new(n, &opts.network),
            checker: Checker::new(n, quiet_network(&opts)),
            violation: None,
            trace: TraceHash::default(),
            events: 0,
            messages: 0,
            bytes: 0,
            observer: Observer::new(n),
            keys_waiting: Vec::new(),
            truth: Truth::new(n, crate::truth::grace(&opts.config, n), opts.hold_out),
            alive_everywhere: None,
            attackers: Vec::new(),
            forged_streams: Default::default(),
            next_forged_stream: 0,
            hostile: None,
            deliveries: Default::default(),
            queries: Default::default(),
            event_log: None,
            opts,
        };
        if sim.opts.measures_hostile() {
            sim.hostile = Some(HostileMeasure::default());
            let mut f = Forgeries::default();
            f.deadline_ms = sim.opts.write_deadline.as_millis() as u64;
            sim.checker.forgeries = Some(f);
            sim.schedule(Instant::ZERO + Duration::from_secs(5), What::SizeSample);
        }
        let hostile: Vec<Hostile> = (sim.opts.faults.iter())
            .filter_map(|f| match &f.kind {
                FaultKind::Hostile(h) => Some(h.clone()),
                _ => None,
            })
            .collect();
        for (k, h) in hostile.into_iter().enumerate() {
            let rng = ChaCha8Rng::seed_from_u64(sim.opts.seed ^ 0x4057_11e5 ^ ((k as u64) << 40));
            sim.attackers.push(Attacker::new(h, rng));
        }
        // Nodes with a join fault start at its time, not in the window.
        let late: std::collections::BTreeSet<usize> = (sim.opts.faults.iter())
            .filter_map(|f| match f.kind {
                FaultKind::Join(i) => Some(i),
                _ => None,
            })
            .collect();
        if !late.contains(&0) {
            sim.schedule(Instant::ZERO, What::Start(0));
        }
        for i in 1..n {
            let window = sim.opts.join_window.as_micros() as u64;
            let at = if window == 0 {
                0
            } else {
                sim.rng.next_u64() % window
            };
            if !late.contains(&i) {
                sim.schedule(Instant::from_micros(at), What::Start(i));
            }
        }
        for f in sim.opts.faults.clone() {
            sim.schedule(Instant::ZERO + f.at, What::Fault(f));
        }
        Ok(sim)
    }

    fn schedule(&mut self, at: Instant, what: What) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            what,
        }));
    }

    /// The current simulated time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Node `i`, if its process is running.
    pub fn node(&self, i: usize) -> Option<&Node> {
        self.slots[i].node.as_ref()
    }

    /// How many running views hold member `m` dead now (ground truth's
    /// count, from the events each view emitted).
    pub fn dead_views(&self, m: usize) -> u32 {
        self.truth.dead_count(m)
    }

    /// Why member `m` is sick now (paused, slow, not running, lossy or cut
    /// off), if it is ([`crate::truth`]).
    pub fn sick(&self, m: usize) -> Option<&'static str> {
        self.truth.sick(m, self.observer.is_live(m))
    }

    /// The options of this run.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Injects a fault now, as if the options had scheduled it for this
    /// instant. The error names a node outside the cluster.
    pub fn inject(&mut self, kind: FaultKind) -> Result<(), String> {
        if let Some(n) = kind.nodes().into_iter().find(|&n| n >= self.opts.nodes) {
            return Err(format!(
                "fault {} names node {n} but nodes are 0..{}",
                kind.name(),
                self.opts.nodes - 1
            ));
        }
        let at = self.now - Instant::ZERO;
        // The network is no longer quiet: suspicions from here on are expected.
        self.checker.quiet_network = false;
        self.fault(Fault { at, kind });
        Ok(())
    }

    fn latency(&mut self) -> Duration {
        self.opts.network.latency.sample(&mut self.rng)
    }

    fn node_seed(&self, i: usize) -> u64 {
        let r = self.slots[i].restarts;
        let mut h = TraceHash::default();
        for v in [self.opts.seed, i as u64, r] {
            h.write_u64(v);
        }
        h.finish()
    }

    /// Runs until simulated time `until` (or the end of the run).
    pub fn run_until(&mut self, until: Instant) {
        let end = until.min(Instant::ZERO + self.opts.duration);
        while let Some(Reverse(next)) = self.queue.peek() {
            let next_at = next.at;
            if next_at > end {
                break;
            }
            if self.violation.is_some() {
                break;
            }
            if let Some(t) = self.truth.next_sample().filter(|&t| t < next_at) {
                self.now = t;
                self.sample_hold_out();
                continue;
            }
            let Some(Reverse(ev)) = self.queue.pop() else {
                break;
            };
            self.now = ev.at;
            self.events += 1;
            self.dispatch(ev.what);
            self.observer.check_converged(self.now);
            if self.observer.converged_now && self.alive_everywhere.is_none() {
                let after = self.opts.alive_after.map(|d| Instant::ZERO + d);
                if after.is_some_and(|a| self.now >= a) {
                    self.alive_everywhere = Some(self.now);
                }
            }
        }
        self.now = self.now.max(end);
    }

    /// Runs the whole duration and reports.
    pub fn run(mut self) -> Report {
        self.run_until(Instant::ZERO + self.opts.duration);
        self.report()
    }

    /// The report so far.
    pub fn report(&self) -> Report {
        let (from, until) = self.opts.measure;
        let end = Duration::from_micros(self.now.as_micros());
        let window = until.map_or(end, |u| u.min(end)).saturating_sub(from);
        let secs = window.as_secs_f64().max(1e-9);
        let per = |x: u64| x as f64 / self.opts.nodes as f64 / secs;
        let dropped = self
            .slots
            .iter()
            .filter_map(|s| s.node.as_ref())
            .map(|n| n.metrics().dropped.total())
            .sum();
        let candidates = (self.slots.iter().filter_map(|s| s.node.as_ref())).fold(
            Candidates::default(),
            |c, n| {
                let m = n.metrics();
                Candidates {
                    heard: c.heard + m.candidates,
                    verified: c.verified + m.candidates_verified,
                    forgotten: c.forgotten + m.candidates_forgotten,
                    evicted: c.evicted + m.candidates_evicted,
                    refused: c.refused + m.candidates_refused,
                    unpinged: c.unpinged + m.candidates_unpinged,
                }
            },
        );
        let settled = self.settled();
        Report {
            seed: self.opts.seed,
            nodes: self.opts.nodes,
            simulated_ms: self.now.as_millis(),
            measured_ms: (from.as_millis() as u64, (from + window).as_millis() as u64),
            converged_ms: self.observer.converged_at.map(|t| t.as_millis()),
            converged_at_end: self.observer.converged_now,
            unsettled_at_end: settled[2],
            alive_pairs_at_end: settled[0],
            suspect_pairs_at_end: settled[1],
            last_converged_ms: self.observer.last_converged_at.map(|t| t.as_millis()),
            messages_per_node_per_sec: (per(self.messages) * 100.0).round() / 100.0,
            bytes_per_node_per_sec: per(self.bytes).round(),
            false_positive_deaths: self.truth.false_deaths,
            false_suspicions: self.truth.false_suspicions,
            false_accusations: self.truth.false_accusations,
            expected_deaths: self.truth.expected_deaths,
            false_deaths_in_healthy_views: self.truth.false_deaths_healthy_views,
            false_deaths: self.truth.false_list.clone(),
            cross_cut_deaths: self.truth.cross_cut_deaths,
            cross_cut: self.truth.cross_cut_list.clone(),
            members: self.truth.members(),
            hold_out: self.truth.hold_outs(),
            alive_everywhere_ms: self.alive_everywhere.map(|t| t.as_millis()),
            crashes: self.observer.crashes.clone(),
            events: self.events,
            dropped,
            candidates,
            violation: self.violation.clone(),
            heals: self.observer.heals.clone(),
            leaves: self.observer.leaves.clone(),
            catch_ups: self.observer.catch_ups.clone(),
            coverage: self.observer.coverage.clone(),
            deliveries: self.deliveries.report(&self.generations()),
            queries: self.queries.report(),
            max_messages_per_node_per_sec: (self.slots.iter().map(|s| s.sent.0).max().unwrap_or(0)
                as f64
                / secs
                * 100.0)
                .round()
                / 100.0,
            max_bytes_per_node_per_sec: (self.slots.iter().map(|s| s.sent.1).max().unwrap_or(0)
                as f64
                / secs)
                .round(),
            trace_hash: format!("{:016x}", self.trace.finish()),
            keys_agree_at_end: self.keys_agree(),
            hostile: self.hostile_report(),
        }
    }

    /// What the hostile members did, measured so far.
    fn hostile_report(&self) -> Option<HostileReport> {
        let m = self.hostile.as_ref()?;
        let mut r = HostileReport {
            forged_sent: m.sent.clone(),
            writes_checked: m.writes_checked,
            writes_lost: m.writes_lost,
            write_deadline_ms: self.opts.write_deadline.as_millis() as u64,
            lost_examples: m.lost_examples.clone(),
            healthy_held_dead: self.truth.false_deaths,
            ..HostileReport::default()
        };
        if let Some(f) = &self.checker.forgeries {
            f.report(self.now.as_millis(), &mut r);
        }
        let (members, bytes, over) = self.sizes();
        let mean = |v: &[u64]| {
            let x = v.iter().sum::<u64>() as f64 / v.len().max(1) as f64;
            (x * 10.0).round() / 10.0
        };
        r.members_mean = mean(&members);
        r.members_max = members.iter().copied().max().unwrap_or(0);
        r.members_peak = m.members_peak.max(r.members_max);
        r.key_bytes_mean = mean(&bytes);
        r.key_bytes_max = bytes.iter().copied().max().unwrap_or(0);
        r.key_bytes_peak = m.key_bytes_peak.max(r.key_bytes_max);
        r.namespaces_over_limits = m.over_limits.max(over);
        Some(r)
    }

    /// Per running node: member entries and replicated key bytes; and the
    /// (node, owner) namespaces above the limits.
    fn sizes(&self) -> (Vec<u64>, Vec<u64>, u64) {
        let mut members = Vec::new();
        let mut bytes = Vec::new();
        let mut over = 0;
        for node in self.slots.iter().filter_map(|s| s.node.as_ref()) {
            members.push(node.members().count() as u64);
            bytes.push(node.key_stats().bytes as u64);
            for m in node.members() {
                let keys = node.keys(&m.name, "");
                let size: usize = keys.iter().map(|(k, v, _)| k.len() + v.len()).sum();
                if keys.len() > swim_core::MAX_KEYS || size > swim_core::MAX_NAMESPACE_BYTES {
                    over += 1;
                }
            }
        }
        (members, bytes, over)
    }

    /// Hostile member `a` forges and sends its next message, and schedules
    /// the one after.
    fn hostile_fire(&mut self, a: usize) {
        let now_d = self.now - Instant::ZERO;
        if !self.attackers[a].active || now_d >= self.attackers[a].spec.until {
            self.attackers[a].active = false;
            return;
        }
        let every = self.attackers[a].spec.every;
        self.schedule(self.now + every, What::HostileFire { a });
        let Some(attack) = self.attackers[a].next_attack() else {
            return;
        };
        let running: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.observer.is_live(i) && self.slots[i].node.is_some())
            .collect();
        let n = self.opts.nodes;
        let cluster = self.opts.config.cluster.clone();
        let (tap, me) = (self.attackers[a].tap, self.attackers[a].spec.node);
        let sealer = me
            .and_then(|h| self.slots[h].node.as_ref())
            .or_else(|| running.first().and_then(|&i| self.slots[i].node.as_ref()))
            .map(|node| node.keyring());
        let tap_node = self.slots[tap].node.as_ref();
        let Some(forged) = self.attackers[a].forge(attack, n, &running, tap_node, sealer, &cluster)
        else {
            return;
        };
        *self
            .hostile
            .get_or_insert_with(HostileMeasure::default)
            .sent
            .entry(match attack {
                crate::hostile::Attack::Reply => "reply-bait".to_string(),
                other => other.name().to_string(),
            })
            .or_default() += 1;
        let from = self.attackers[a].addr();
        let (to, bytes, on_stream) = match forged {
            Forged::Datagram { to, bytes } => (to, bytes, false),
            Forged::Frame { to, bytes } => (to, bytes, true),
        };
        // An insider's packets cross the simulated links; a stranger's
        // reach their target.
        if me.is_some_and(|h| !self.links.connected(h, to)) {
            return;
        }
        let at = self.now + self.latency();
        if on_stream {
            self.next_forged_stream += 1;
            let id = StreamId::accepted((1 << 62) | self.next_forged_stream);
            let generation = self.slots[to].generation;
            self.forged_streams.insert((to, id));
            let input = Input::StreamFrame { id, from, bytes };
            self.schedule(
                at,
                What::Deliver {
                    to,
                    generation,
                    input,
                    delayed: false,
                },
            );
            self.schedule(
                at + Duration::from_secs(2),
                What::HostileStreamEnd { to, generation, id },
            );
        } else {
            let input = Input::Datagram { from, bytes };
            self.schedule(
                at,
                What::Deliver {
                    to,
                    generation: 0,
                    input,
                    delayed: false,
                },
            );
        }
    }

    /// An insider's answer on an exchange a peer opened, with a forged
    /// reset added when its `reply` attack is due.
    fn hostile_reply(&mut self, i: usize, bytes: Bytes) -> Bytes {
        let now_ms = self.now.as_millis();
        let Some(a) = self.attackers.iter().position(|x| {
            x.active
                && x.spec.node == Some(i)
                && x.spec.attacks.contains(&crate::hostile::Attack::Reply)
                && x.last_reply_ms
                    .is_none_or(|t| now_ms >= t + x.spec.every.as_millis() as u64)
        }) else {
            return bytes;
        };
        let plain = match crate::hostile::open(&bytes, &self.opts.keys) {
            Some(Some(p)) => p,
            Some(None) => return bytes,
            None => bytes.to_vec(),
        };
        let running: Vec<usize> = (0..self.slots.len())
            .filter(|&j| self.observer.is_live(j) && self.slots[j].node.is_some())
            .collect();
        let tap = self.slots[i].node.as_ref();
        let Some(forged) = self.attackers[a].forge_reply(&plain, &running, tap) else {
            return bytes;
        };
        self.attackers[a].last_reply_ms = Some(now_ms);
        *self
            .hostile
            .get_or_insert_with(HostileMeasure::default)
            .sent
            .entry("reply".to_string())
            .or_default() += 1;
        let sealed = crate::hostile::open(&bytes, &self.opts.keys).is_some();
        let cluster = self.opts.config.cluster.clone();
        if sealed {
            let ring = self.slots[i].node.as_ref().map(|n| n.keyring());
            match ring.and_then(|r| self.attackers[a].seal_bytes(r, &cluster, &forged)) {
                Some(b) => b,
                None => bytes,
            }
        } else {
            Bytes::from(forged)
        }
    }

    /// Whether owner `c.owner`'s write is visible at every healthy reader.
    fn check_write(&mut self, c: WriteCheck) {
        if !self.observer.is_live(c.owner)
            || self.slots[c.owner].generation != c.generation
            || self.sick(c.owner).is_some()
        {
            return;
        }
        let owner = name_of(c.owner);
        let own = self.slots[c.owner]
            .node
            .as_ref()
            .and_then(|n| n.get(&owner, &c.key));
        let mut missing = Vec::new();
        for r in 0..self.slots.len() {
            let liar = (self.attackers.iter()).any(|a| a.spec.node == Some(r));
            if r == c.owner || liar || !self.observer.is_live(r) || self.sick(r).is_some() {
                continue;
            }
            let Some(node) = self.slots[r].node.as_ref() else {
                continue;
            };
            let held = node.get(&owner, &c.key);
            let visible = held == own
                || self.checker.was_shown(r, c.owner, &c.key, c.version)
                || match &held {
                    None => c.value.is_none(),
                    Some((v, ver)) => {
                        (*ver == c.version && c.value.as_ref() == Some(v))
                            || (*ver > c.version
                                && self.checker.genuine(c.owner, *ver, &Some(v.clone())))
                    }
                };
            if !visible {
                missing.push(r);
            }
        }
        if !missing.is_empty() && !c.second_look {
            let at = self.now + Duration::from_secs(2);
            let again = WriteCheck {
                second_look: true,
                ..c
            };
            self.schedule(at, What::CheckWrite(Box::new(again)));
            return;
        }
        let Some(m) = self.hostile.as_mut() else {
            return;
        };
        m.writes_checked += 1;
        if !missing.is_empty() {
            m.writes_lost += 1;
            if m.lost_examples.len() < 5 {
                m.lost_examples.push(format!(
                    "node-{}'s {} at version {} (written at {} ms): not held by {} readers, node-{} first",
                    c.owner,
                    c.key,
                    c.version,
                    c.at_ms,
                    missing.len(),
                    missing[0]
                ));
            }
        }
    }

    /// (viewer, member) pairs of running nodes where the viewer holds the
    /// member neither alive nor suspect.
    /// When the run ends: (viewer, member) pairs of running nodes held
    /// alive, held suspect, and held neither.
    fn settled(&self) -> [u64; 3] {
        let running: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.observer.is_live(i))
            .collect();
        let mut n = [0; 3];
        for &v in &running {
            let Some(view) = self.slots[v].node.as_ref() else {
                continue;
            };
            for &m in &running {
                let status = view.member(&name_of(m)).map(|x| x.status);
                let at = match status {
                    Some(Status::Alive) => 0,
                    Some(Status::Suspect) => 1,
                    _ => 2,
                };
                n[at] += 1;
            }
        }
        n
    }

    /// Whether every running node holds every running node's keys exactly
    /// as their owner does.
    pub fn keys_agree(&self) -> bool {
        let running: Vec<&Node> = self.slots.iter().filter_map(|s| s.node.as_ref()).collect();
        running.iter().all(|owner| {
            let name = owner.local().name;
            let truth = owner.keys(&name, "");
            running.iter().all(|v| v.keys(&name, "") == truth)
        })
    }

    /// Whether node `v` holds every running node's keys as their owner does.
    fn holds_every_namespace(&self, v: usize) -> bool {
        let Some(viewer) = self.slots[v].node.as_ref() else {
            return false;
        };
        self.slots
            .iter()
            .filter_map(|s| s.node.as_ref())
            .all(|owner| {
                let name = owner.local().name;
                viewer.keys(&name, "") == owner.keys(&name, "")
            })
    }

    fn dispatch(&mut self, what: What) {
        match what {
            What::Start(i) => self.start(i),
            What::Tick(i) => {
                if self.slots[i].tick_at == Some(self.now) {
                    self.slots[i].tick_at = None;
                    self.step(i, Input::Tick);
                }
            }
            What::Deliver {
                to,
                generation,
                input,
                delayed,
            } => self.deliver(to, generation, input, delayed),
            What::StreamFrame {
                g,
                side,
                from,
                bytes,
            } => {
                let Some(s) = self.streams.get(&g).filter(|s| !s.closed[side]) else {
                    return;
                };
                let (to, generation) = (s.node[side], s.generation[side]);
                let input = Input::StreamFrame {
                    id: s.id_at(g, side),
                    from,
                    bytes,
                };
                self.deliver(to, generation, input, false);
            }
            What::StreamEnd { g, side } => {
                let Some(s) = self.streams.get_mut(&g).filter(|s| !s.closed[side]) else {
                    return;
                };
                s.closed[side] = true;
                let (to, generation, id) = (s.node[side], s.generation[side], s.id_at(g, side));
                if s.closed == [true, true] {
                    self.remove_stream(g);
                }
                self.deliver(to, generation, Input::StreamClosed { id }, false);
            }
            What::CheckKeys => {
                if self.keys_agree() {
                    for heal in std::mem::take(&mut self.keys_waiting) {
                        let h = &mut self.observer.heals[heal];
                        h.keys_agreed_after_ms = Some(self.now.as_millis() - h.healed_at_ms);
                    }
                } else {
                    self.schedule(self.now + Duration::from_secs(1), What::CheckKeys);
                }
            }
            What::CheckCaughtUp { n } => {
                let c = &self.observer.catch_ups[n];
                if self.holds_every_namespace(c.node) {
                    let c = &mut self.observer.catch_ups[n];
                    c.keys_complete_after_ms = Some(self.now.as_millis() - c.restarted_at_ms);
                } else if self.slots[c.node].node.is_some() {
                    let at = self.now + Duration::from_millis(100);
                    self.schedule(at, What::CheckCaughtUp { n });
                }
            }
            What::Fault(f) => self.fault(f),
            What::HostileFire { a } => self.hostile_fire(a),
            What::HostileStreamEnd { to, generation, id } => {
                if self.forged_streams.remove(&(to, id)) {
                    self.deliver(to, generation, Input::StreamClosed { id }, false);
                }
            }
            What::CheckWrite(c) => self.check_write(*c),
            What::Respond {
                node,
                generation,
                origin,
                id,
            } => {
                if self.slots[node].generation == generation {
                    let name = name_of(node);
                    self.command(node, |n, now| n.respond(&origin, id, name.as_bytes(), now));
                }
            }
            What::SizeSample => {
                let (members, bytes, over) = self.sizes();
                if let Some(m) = self.hostile.as_mut() {
                    m.members_peak = m.members_peak.max(members.into_iter().max().unwrap_or(0));
                    m.key_bytes_peak = m.key_bytes_peak.max(bytes.into_iter().max().unwrap_or(0));
                    m.over_limits = m.over_limits.max(over);
                }
                self.schedule(self.now + Duration::from_secs(5), What::SizeSample);
            }
            What::Resume(i) => self.resume(i),
            What::SlowEnd(i) => {
                self.slots[i].slow = Duration::ZERO;
                self.truth.node_fault(i, "slow", false, self.now);
                self.healed(format!("node-{i} no longer slow"));
            }
            What::Flap {
                a,
                b,
                down,
                period,
                until,
            } => {
                if self.now >= until {
                    self.change_links(|l| l.set_down(a, b, false));
                    self.healed(format!("link node-{a} - node-{b} stopped flapping"));
                    return;
                }
                self.change_links(|l| l.set_down(a, b, down));
                let next = (self.now + period / 2).min(until);
                self.schedule(
                    next,
                    What::Flap {
                        a,
                        b,
                        down: !down,
                        period,
                        until,
                    },
                );
            }
        }
    }

    fn start(&mut self, i: usize) {
        let seed = self.node_seed(i);
        let id = Identity::new(name_of(i), addr_of(i));
        let Ok(mut node) = Node::new(self.opts.config.clone(), id, seed, self.now) else {
            return;
        };
        for key in &self.opts.keys {
            node.install_secret_key(key.clone());
        }
        let (count, size) = self.opts.start_keys;
        let keys: Vec<(String, Bytes)> = (0..count)
            .map(|k| {
                let mut v = format!("{k}@{i}:").into_bytes();
                v.resize(size.max(v.len()), b'.');
                (format!("k{k}"), Bytes::from(v))
            })
            .collect();
        let pairs: Vec<(&str, Bytes)> = keys.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        if !pairs.is_empty() {
            let _ = node.set_many(&pairs, self.now);
        }
        let slot = &mut self.slots[i];
        slot.generation += 1;
        slot.tick_at = None;
        self.observer.started(i);
        self.deliveries.started(i, self.now);
        if self.slots[i].restarts > 0 {
            self.truth.process_changed(i, self.now);
        }
        self.checker.restarted(i);
        if self.opts.snapshot && self.slots[i].event_floor > 0 {
            node.resume_events(self.slots[i].event_floor);
        }
        let contact = (0..self.opts.nodes).find(|&j| j != i && self.observer.is_live(j));
        if let Some(j) = contact.filter(|_| i != 0 || self.slots[i].restarts > 0) {
            let _ = node.join(&[addr_of(j)], self.now);
        }
        self.slots[i].node = Some(node);
        self.trace.write_u64(self.now.as_micros());
        self.trace.write(b"start");
        self.trace.write_u64(i as u64);
        self.after_step(i);
        if !self.observer.all_started
            && self
                .slots
                .iter()
                .all(|s| s.node.is_some() || s.generation > 0)
        {
            self.observer.all_started = true;
        }
    }

    fn fault(&mut self, f: Fault) {
        self.trace.write_u64(self.now.as_micros());
        match &f.kind {
            FaultKind::Crash(n) | FaultKind::Restart(n) | FaultKind::Leave(n) => {
                let label = match f.kind {
                    FaultKind::Crash(_) => "Crash",
                    FaultKind::Restart(_) => "Restart",
                    _ => "Leave",
                };
                self.trace.write(label.as_bytes());
                self.trace.write_u64(*n as u64);
            }
            other => self.trace.write(format!("{other:?}").as_bytes()),
        }
        let now = self.now;
        match f.kind {
            FaultKind::Join(i) => {
                if self.slots[i].node.is_none() {
                    self.start(i);
                }
            }
            FaultKind::Loss {
                nodes,
                direction,
                rate,
            } => self.change_links(|l| l.node_loss(None, &nodes, direction, rate)),
            FaultKind::Named { name, fault } => self.named(&name, *fault),
            FaultKind::HealNamed(name) => {
                let mut found = false;
                self.change_links(|l| found = l.heal_named(&name));
                if found {
                    self.healed(format!("fault {name:?} healed"));
                }
            }
            FaultKind::Crash(i) => {
                if self.slots[i].node.is_some() {
                    self.stop(i, true);
                }
            }
            FaultKind::Restart(i) => {
                if self.slots[i].node.is_some() {
                    // A process restart, not a crash to detect.
                    self.stop(i, false);
                }
                self.observer.restarted(i, now);
                self.slots[i].restarts += 1;
                self.start(i);
                self.observer
                    .healed(now, format!("restart of node-{i}"), true);
                self.keys_wait();
                self.observer.catch_ups.push(crate::observe::CatchUpReport {
                    node: i,
                    restarted_at_ms: now.as_millis(),
                    keys_complete_after_ms: None,
                });
                let n = self.observer.catch_ups.len() - 1;
                self.schedule(now, What::CheckCaughtUp { n });
            }
            FaultKind::Leave(i) => {
                if let Some(node) = self.slots[i].node.as_mut() {
                    node.leave(now);
                    self.observer.leaving(i, now);
                    self.after_step(i);
                }
            }
            FaultKind::Pause { node, duration } => {
                if self.slots[node].node.is_some() && !self.slots[node].paused {
                    self.slots[node].paused = true;
                    self.truth.node_fault(node, "paused", true, now);
                    self.schedule(now + duration, What::Resume(node));
                }
            }
            FaultKind::Slow {
                node,
                delay,
                duration,
            } => {
                self.slots[node].slow = delay;
                self.truth.node_fault(node, "slow", true, now);
                self.schedule(now + duration, What::SlowEnd(node));
            }
            FaultKind::Partition(groups) => self.change_links(|l| l.partition(&groups)),
            FaultKind::PartitionOneWay { from, to } => {
                self.change_links(|l| l.partition_oneway(&from, &to))
            }
            FaultKind::Hold { from, to } => self.change_links(|l| l.hold(from, to)),
            FaultKind::Release { from, to } => {
                let mut held = Vec::new();
                self.change_links(|l| held = l.release(from, to));
                for bytes in held {
                    let at = now + self.latency();
                    let input = Input::Datagram {
                        from: self.addr_now(from),
                        bytes,
                    };
                    self.schedule(
                        at,
                        What::Deliver {
                            to,
                            generation: 0,
                            input,
                            delayed: false,
                        },
                    );
                }
                self.healed(format!("node-{from} -> node-{to} released"));
            }
            FaultKind::Flap {
                a,
                b,
                period,
                until,
            } => {
                let until = Instant::ZERO + until;
                self.dispatch(What::Flap {
                    a,
                    b,
                    down: true,
                    period,
                    until,
                });
            }
            FaultKind::Heal => {
                self.change_links(|l| l.heal());
                self.healed("every link healed".into());
            }
            FaultKind::Announce(i) => {
                if let Some(node) = self.slots[i].node.as_mut() {
                    // A membership update: the node moves to another port
                    // (the network routes by IP alone).
                    let mut addr = node.local().addr;
                    addr.set_port(if addr.port() == 7946 { 7947 } else { 7946 });
                    if node.set_addr(addr, now).is_ok() {
                        let incarnation = node.local().incarnation;
                        self.observer.announced(i, incarnation, now);
                    }
                    self.after_step(i);
                }
            }
            FaultKind::Set { node, key, value } => {
                let written = self.command(node, |n, now| n.set(&key, value.into_bytes(), now));
                if let Some(Ok(version)) = written {
                    self.observer.wrote(node, &key, version, now);
                }
            }
            FaultKind::Event {
                node,
                name,
                payload,
                coalesce,
            } => {
                // Followed before it is fired: the origin delivers it at once.
                let Some(clock) = self.slots[node].node.as_ref().map(|n| n.event_clock()) else {
                    return;
                };
                if self.opts.older.contains(&node) {
                    return;
                }
                let running = self.upgraded();
                self.deliveries.fired(node, &name, clock, running, now);
                let fired = self.command(node, |n, now| {
                    n.event(&name, payload.as_bytes(), coalesce, now)
                });
                if !matches!(fired, Some(Ok(()))) {
                    self.deliveries.unfire();
                }
            }
            FaultKind::Query {
                node,
                name,
                payload,
                only,
                want_ack,
                relay_factor,
            } => {
                let options = swim_core::QueryOptions {
                    filter: swim_core::QueryFilter {
                        nodes: only.iter().map(|&i| name_of(i)).collect(),
                        tags: Vec::new(),
                    },
                    want_ack,
                    relay_factor,
                    timeout: None,
                };
                // Followed before its outputs are handled: the origin asks itself.
                if self.opts.older.contains(&node) {
                    return;
                }
                let running = self.upgraded();
                self.queries.asked(node, 0, &name, only, running, now);
                let asked = self.command(node, |n, now| {
                    n.query(&name, payload.as_bytes(), options, now)
                });
                match asked {
                    Some(Ok(_)) => {}
                    _ => self.queries.unask(),
                }
            }
            FaultKind::Delete { node, key } => {
                self.command(node, |n, now| {
                    let _ = n.delete(&key, now);
                });
            }
            FaultKind::Hostile(h) => {
                let found = (self.attackers.iter()).position(|a| !a.started && a.spec == h);
                let a = match found {
                    Some(a) => a,
                    None => {
                        // Injected during the run: a new attacker.
                        let k = self.attackers.len() as u64;
                        let rng =
                            ChaCha8Rng::seed_from_u64(self.opts.seed ^ 0x4057_11e5 ^ (k << 40));
                        self.attackers.push(Attacker::new(h, rng));
                        self.attackers.len() - 1
                    }
                };
                self.attackers[a].started = true;
                self.attackers[a].active = true;
                self.dispatch(What::HostileFire { a });
            }
        }
    }

    /// Owner `m`'s own write `e`: checked for visibility at its deadline.
    fn write_check(&mut self, m: usize, e: &Event) {
        let (key, value, version) = match e {
            Event::KeySet {
                key,
                value,
                version,
                ..
            } => (key, Some(value.clone()), *version),
            Event::KeyDeleted { key, version, .. } => (key, None, *version),
            _ => return,
        };
        let at = self.now + self.opts.write_deadline;
        if at > Instant::ZERO + self.opts.duration {
            return;
        }
        let check = WriteCheck {
            owner: m,
            generation: self.slots[m].generation,
            key: key.to_string(),
            version,
            value,
            at_ms: self.now.as_millis(),
            second_look: false,
        };
        self.schedule(at, What::CheckWrite(Box::new(check)));
    }

    /// Applies `fault` under `name`: a heal that names it ends it alone.
    fn named(&mut self, name: &str, fault: FaultKind) {
        let name = Some(name);
        match fault {
            FaultKind::Partition(groups) => self.change_links(|l| l.partition_named(name, &groups)),
            FaultKind::PartitionOneWay { from, to } => {
                self.change_links(|l| l.partition_oneway_named(name, &from, &to))
            }
            FaultKind::Loss {
                nodes,
                direction,
                rate,
            } => self.change_links(|l| l.node_loss(name, &nodes, direction, rate)),
            // Other faults have no lasting link state to name.
            other => self.fault(Fault {
                at: self.now - Instant::ZERO,
                kind: other,
            }),
        }
    }

    /// Changes the links with `f`; ground truth learns the old and new state.
    fn change_links(&mut self, f: impl FnOnce(&mut Links)) {
        let old = self.links.state().clone();
        f(&mut self.links);
        self.truth.links_changed(&old, self.links.state(), self.now);
    }

    /// Samples how well healthy views hold sick members out.
    fn sample_hold_out(&mut self) {
        let obs = &self.observer;
        let running = |i: usize| obs.is_live(i);
        let alive = |v: usize, m: usize| obs.sees_alive(v, m);
        self.truth.sample(self.now, &running, &alive);
    }

    /// From now on, keeps every event each node emits (in the order its
    /// application would read them) until [`Sim::take_events`] takes them;
    /// at most 10,000 a node, the oldest dropped first
    /// ([`Sim::events_dropped`] counts them). Off by default: a large run
    /// would hold millions.
    pub fn record_events(&mut self) {
        if self.event_log.is_none() {
            let n = self.opts.nodes;
            let nodes = vec![Default::default(); n];
            self.event_log = Some(EventLog {
                nodes,
                dropped: vec![0; n],
            });
        }
    }

    /// The events node `i` emitted since the last call, oldest first
    /// (empty unless [`Sim::record_events`] was called, or `i` is outside
    /// the cluster).
    pub fn take_events(&mut self, i: usize) -> Vec<Event> {
        (self.event_log.as_mut())
            .and_then(|log| log.nodes.get_mut(i))
            .map(|q| q.drain(..).collect())
            .unwrap_or_default()
    }

    /// How many of node `i`'s events were dropped, ever, because 10,000
    /// waited unread.
    pub fn events_dropped(&self, i: usize) -> u64 {
        (self.event_log.as_ref())
            .and_then(|log| log.dropped.get(i).copied())
            .unwrap_or(0)
    }

    /// Runs `f` on node `i` (if its process runs) at the present instant,
    /// then carries out its outputs, as a driver does after a command.
    pub fn command<R>(&mut self, i: usize, f: impl FnOnce(&mut Node, Instant) -> R) -> Option<R> {
        let now = self.now;
        let node = self.slots.get_mut(i)?.node.as_mut()?;
        let r = f(node, now);
        if let Err(what) = self.checker.after_step(i, node) {
            self.violate(i, what);
        }
        self.after_step(i);
        Some(r)
    }

    /// A paused node wakes up: what queued up is handled now (late), then its
    /// overdue timers fire.
    fn resume(&mut self, i: usize) {
        self.slots[i].paused = false;
        self.truth.node_fault(i, "paused", false, self.now);
        let backlog = std::mem::take(&mut self.slots[i].backlog);
        for input in backlog {
            self.step(i, input);
        }
        self.slots[i].tick_at = None;
        self.step(i, Input::Tick);
        self.healed(format!("node-{i} resumed after a pause"));
    }

    /// A fault ended now (a heal, named or not, a fault's `until`, a
    /// pause, a restart): time the re-convergence and the keys' agreement.
    fn healed(&mut self, what: String) {
        self.observer.healed(self.now, what, false);
        self.keys_wait();
    }

    /// Times the keys' agreement from the last heal on.
    fn keys_wait(&mut self) {
        if self.keys_waiting.is_empty() {
            self.schedule(self.now, What::CheckKeys);
        }
        self.keys_waiting.push(self.observer.heals.len() - 1);
    }

    /// The process of node `i` is gone: its streams fail for the other side.
    fn stop(&mut self, i: usize, crashed: bool) {
        let slot = &mut self.slots[i];
        slot.node = None;
        slot.generation += 1;
        slot.tick_at = None;
        slot.paused = false;
        slot.backlog.clear();
        self.observer.stopped(i, crashed, self.now);
        // A stopped process reads nothing: what it held forged ends here.
        self.checker.now_ms = self.now.as_millis();
        self.checker.stopped(i);
        self.truth.view_gone(i);
        self.truth.node_fault(i, "paused", false, self.now);
        self.truth.process_changed(i, self.now);
        let broken: Vec<u64> = self
            .streams
            .iter()
            .filter(|(_, s)| s.node.contains(&i))
            .map(|(g, _)| *g)
            .collect();
        for g in broken {
            // The peer sees the connection reset.
            self.fail_stream(g, Duration::ZERO);
        }
    }

    fn deliver(&mut self, to: usize, generation: u32, input: Input, delayed: bool) {
        // What arrives on a stream is for the process at that end only.
        let on_stream = matches!(
            input,
            Input::StreamFrame { .. } | Input::StreamClosed { .. }
        );
        if self.slots[to].node.is_none() || (on_stream && self.slots[to].generation != generation) {
            return;
        }
        let slot = &mut self.slots[to];
        if !slot.slow.is_zero() && !delayed {
            let at = self.now + slot.slow;
            self.schedule(
                at,
                What::Deliver {
                    to,
                    generation,
                    input,
                    delayed: true,
                },
            );
            return;
        }
        if slot.paused {
            slot.backlog.push(input);
            return;
        }
        self.step(to, input);
    }

    fn remove_stream(&mut self, g: u64) -> Option<Stream> {
        let s = self.streams.remove(&g)?;
        self.opened.remove(&(s.node[0], s.id));
        Some(s)
    }

    /// Breaks stream `g`: each side that has not closed it learns it is
    /// closed, `after` plus one latency from now; frames still on their way
    /// are lost.
    fn fail_stream(&mut self, g: u64, after: Duration) {
        let Some(s) = self.streams.get_mut(&g) else {
            return;
        };
        let open: Vec<usize> = (0..2).filter(|&side| !s.closed[side]).collect();
        // Nothing more arrives: later frames find the stream closed.
        s.last = [Instant::from_micros(u64::MAX); 2];
        for side in open {
            let at = self.now + after + self.latency();
            self.schedule(at, What::StreamEnd { g, side });
        }
    }

    /// Side `side` of stream `g` closes it; the other side learns it after
    /// the frames already on their way.
    fn close_stream(&mut self, g: u64, side: usize) {
        let latency = self.latency();
        let Some(s) = self.streams.get_mut(&g) else {
            return;
        };
        if s.closed[side] {
            return;
        }
        s.closed[side] = true;
        if s.closed == [true, true] {
            self.remove_stream(g);
            return;
        }
        let other = 1 - side;
        if s.last[other] == Instant::from_micros(u64::MAX) {
            return; // broken: the other side hears of it anyway
        }
        let at = (self.now + latency).max(s.last[other]);
        self.schedule(at, What::StreamEnd { g, side: other });
    }

    fn step(&mut self, i: usize, input: Input) {
        self.trace.write_u64(self.now.as_micros());
        self.trace.write_u64(i as u64);
        match &input {
            Input::Datagram { bytes, .. } | Input::StreamFrame { bytes, .. } => {
                self.trace.write(bytes)
            }
            Input::StreamClosed { id } => self.trace.write_u64(id.as_u64()),
            _ => self.trace.write(b"tick"),
        }
        let now = self.now;
        self.checker.now_ms = now.as_millis();
        for a in self.attackers.iter_mut().filter(|a| a.tap == i) {
            let keys: &[swim_core::SecretKey] = if a.spec.sealed { &self.opts.keys } else { &[] };
            match &input {
                Input::Datagram { bytes, .. } => a.sniff(bytes, false, keys),
                Input::StreamFrame { bytes, .. } => a.sniff(bytes, true, keys),
                _ => {}
            }
        }
        if let Some(node) = self.slots[i].node.as_mut() {
            node.handle(input, now);
            if let Err(what) = self.checker.after_step(i, node) {
                self.violate(i, what);
            }
        }
        self.after_step(i);
    }

    fn violate(&mut self, node: usize, what: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation {
                at_ms: self.now.as_millis(),
                node,
                what,
            });
        }
    }

    /// The address node `i` sends from now: the one it advertises (an
    /// `announce` moves it to another port; the network routes by IP).
    fn addr_now(&self, i: usize) -> SocketAddr {
        (self.slots[i].node.as_ref()).map_or_else(|| addr_of(i), |n| n.local().addr)
    }

    /// Carries out node `i`'s outputs and schedules its next tick.
    fn after_step(&mut self, i: usize) {
        let from = self.addr_now(i);
        let mut left = false;
        self.checker.now_ms = self.now.as_millis();
        let insider = (self.attackers.iter()).any(|a| a.spec.node == Some(i));
        loop {
            let Some(out) = self.slots[i].node.as_mut().and_then(|n| n.poll_output()) else {
                break;
            };
            match out {
                Output::Datagram { to, bytes } => {
                    self.count(i, &bytes);
                    if insider {
                        for a in self.attackers.iter_mut().filter(|a| a.spec.node == Some(i)) {
                            a.capture(bytes.clone());
                        }
                    }
                    let Some(j) = index_of(to).filter(|&j| j < self.slots.len()) else {
                        continue;
                    };
                    if self.observer.awaits_probe(j) && is_probe(&bytes) {
                        self.observer.probed(j, self.now);
                    }
                    let bytes = self.as_older_sees(i, j, bytes);
                    let fate = self
                        .links
                        .route(i, j, &bytes, &self.opts.network, &mut self.rng);
                    if let Fate::Delivered(delays) = fate {
                        for d in delays {
                            let input = Input::Datagram {
                                from,
                                bytes: bytes.clone(),
                            };
                            self.schedule(
                                self.now + d,
                                What::Deliver {
                                    to: j,
                                    generation: 0,
                                    input,
                                    delayed: false,
                                },
                            );
                        }
                    }
                }
                Output::StreamOpen { id, to } => self.open_stream(i, id, to),
                Output::StreamFrame { id, bytes } => {
                    let bytes = if insider && id.is_accepted() {
                        self.hostile_reply(i, bytes)
                    } else {
                        bytes
                    };
                    self.count(i, &bytes);
                    self.stream_frame(i, id, bytes);
                }
                Output::StreamClose { id } if self.forged_streams.remove(&(i, id)) => {}
                Output::StreamClose { id } => {
                    if let Some((g, side)) = self.stream_of(i, id) {
                        self.close_stream(g, side);
                    }
                }
                Output::Event(e) => {
                    if e == Event::LeaveCompleted {
                        left = true;
                    }
                    if let Some(log) = self.event_log.as_mut() {
                        log.push(i, &e);
                    }
                    self.observe(i, &e);
                }
                _ => {}
            }
        }
        if left {
            self.stop(i, false);
            return;
        }
        if self.slots[i].paused {
            return;
        }
        let next = self.slots[i].node.as_ref().and_then(|n| n.poll_timeout());
        if let Some(t) = next {
            let t = t.max(self.now);
            if self.slots[i].tick_at.is_none_or(|cur| t < cur) {
                self.slots[i].tick_at = Some(t);
                self.schedule(t, What::Tick(i));
            }
        }
    }

    /// Node `i` opens stream `id` to `to`: the connection is set up, or
    /// fails (nobody there, or cut off by a partition).
    fn open_stream(&mut self, i: usize, id: StreamId, to: SocketAddr) {
        self.next_stream += 1;
        let g = self.next_stream;
        let opener_generation = self.slots[i].generation;
        let Some(j) = index_of(to).filter(|&j| j < self.slots.len()) else {
            let at = self.now + self.latency();
            let input = Input::StreamClosed { id };
            let what = What::Deliver {
                to: i,
                generation: opener_generation,
                input,
                delayed: false,
            };
            self.schedule(at, what);
            return;
        };
        self.streams.insert(
            g,
            Stream {
                node: [i, j],
                generation: [opener_generation, self.slots[j].generation],
                id,
                closed: [false, false],
                last: [self.now; 2],
            },
        );
        self.opened.insert((i, id), g);
        let timeout = self.opts.network.stream_timeout;
        if !(self.links.connected(i, j) && self.links.connected(j, i)) {
            // Cut off: the connection attempt times out.
            self.fail_stream(g, timeout);
            return;
        }
        // The handshake is lost when either way loses a packet.
        let loss = 1.0 - (1.0 - self.links.loss(i, j)) * (1.0 - self.links.loss(j, i));
        match retransmit_delay(loss, timeout, &mut self.rng) {
            None => self.fail_stream(g, timeout),
            Some(d) if !d.is_zero() => {
                if let Some(s) = self.streams.get_mut(&g) {
                    s.last = [self.now + d; 2];
                }
            }
            Some(_) => {}
        }
    }

    /// Stream `id` of node `i`: its key and which side `i` is.
    fn stream_of(&self, i: usize, id: StreamId) -> Option<(u64, usize)> {
        if id.is_accepted() {
            let g = key_of(id);
            self.streams
                .get(&g)
                .filter(|s| s.node[1] == i)
                .map(|_| (g, 1))
        } else {
            self.opened.get(&(i, id)).map(|&g| (g, 0))
        }
    }

    /// Node `i` writes a frame on stream `id`: it reaches the other side
    /// one latency later, after the frames before it, unless a partition
    /// came up since (then the stream times out).
    fn stream_frame(&mut self, i: usize, id: StreamId, bytes: Bytes) {
        let Some((g, side)) = self.stream_of(i, id) else {
            return;
        };
        let Some(s) = self.streams.get(&g) else {
            return;
        };
        let other = 1 - side;
        let peer = s.node[other];
        let bytes = self.as_older_sees(i, peer, bytes);
        if s.closed[side] || s.last[other] == Instant::from_micros(u64::MAX) {
            return;
        }
        let timeout = self.opts.network.stream_timeout;
        if !self.links.connected(i, peer) {
            self.fail_stream(g, timeout);
            return;
        }
        let Some(retransmits) = retransmit_delay(self.links.loss(i, peer), timeout, &mut self.rng)
        else {
            self.fail_stream(g, timeout);
            return;
        };
        let mut latency = self.latency() + retransmits;
        if let Some(bps) = self.opts.network.bandwidth_of(i) {
            // The frame waits for the uplink, then takes its size's time.
            let bits = bytes.len() as u128 * 8;
            let send = Duration::from_micros((bits * 1_000_000 / u128::from(bps)) as u64);
            let start = self.slots[i].uplink_free.max(self.now);
            self.slots[i].uplink_free = start + send;
            latency += Duration::from_micros((start + send).as_micros() - self.now.as_micros());
        }
        let Some(s) = self.streams.get_mut(&g) else {
            return;
        };
        let at = (self.now + latency).max(s.last[other]);
        s.last[other] = at;
        let what = What::StreamFrame {
            g,
            side: other,
            from: self.addr_now(i),
            bytes,
        };
        self.schedule(at, what);
    }

    fn count(&mut self, i: usize, bytes: &Bytes) {
        let (from, until) = self.opts.measure;
        let t = Duration::from_micros(self.now.as_micros());
        if t < from || until.is_some_and(|u| t >= u) {
            return;
        }
        self.messages += 1;
        self.bytes += bytes.len() as u64;
        let sent = &mut self.slots[i].sent;
        sent.0 += 1;
        sent.1 += bytes.len() as u64;
    }

    /// `bytes` from node `i` to node `j` as an older build at either end
    /// has them ([`Options::older`]): without the fields it skipped.
    fn as_older_sees(&self, i: usize, j: usize, bytes: Bytes) -> Bytes {
        use prost::Message as _;
        if !(self.opts.older.contains(&i) || self.opts.older.contains(&j)) {
            return bytes;
        }
        if let Ok(mut p) = swim_proto::Packet::decode(&bytes[..]) {
            if p.events.is_empty() && p.user_queries.is_empty() && p.relayed.is_empty() {
                return bytes;
            }
            p.events.clear();
            p.user_queries.clear();
            p.relayed.clear();
            return p.encode_to_vec().into();
        }
        if let Ok(mut f) = swim_proto::StreamFrame::decode(&bytes[..]) {
            if let Some(pp) = f.push_pull.as_mut() {
                pp.event_clock = 0;
                pp.recent_events.clear();
                return f.encode_to_vec().into();
            }
        }
        bytes
    }

    /// [`Sim::generations`], older builds left out (they deliver no user
    /// event and answer no query: nobody expects them to).
    fn upgraded(&self) -> Vec<Option<u64>> {
        let mut g = self.generations();
        for &i in &self.opts.older {
            g[i] = None;
        }
        g
    }

    /// Each node's process generation, if it runs (for [`crate::deliveries`]).
    fn generations(&self) -> Vec<Option<u64>> {
        (self.slots.iter())
            .map(|s| s.node.as_ref().map(|_| u64::from(s.generation)))
            .collect()
    }

    fn observe(&mut self, v: usize, e: &Event) {
        match e {
            Event::User { origin, clock, .. } => {
                if let Some(node) = self.slots[v].node.as_ref() {
                    self.slots[v].event_floor = node.event_floor();
                }
                if let Some(o) = index_of_name(origin) {
                    self.deliveries.delivered(v, o, *clock, self.now);
                }
                return;
            }
            Event::Query { origin, id, .. } => {
                // The application answers at once, with its name.
                let respond = What::Respond {
                    node: v,
                    generation: self.slots[v].generation,
                    origin: origin.to_string(),
                    id: *id,
                };
                self.schedule(self.now, respond);
                return;
            }
            Event::QueryAck { query, member } | Event::QueryResponse { query, member, .. } => {
                if let Some(m) = index_of_name(member) {
                    let ack = matches!(e, Event::QueryAck { .. });
                    self.queries.answered(v, *query, m, ack);
                }
                return;
            }
            Event::QueryDone {
                query,
                answers,
                acks,
                asked,
                missing,
            } => {
                let counts = (*answers, *acks, *asked, missing.len());
                let running = self.generations();
                self.queries.done(v, *query, counts, running);
                return;
            }
            _ => {}
        }
        let slots = &self.slots;
        let obs = &self.observer;
        let all_dead = |m: usize| {
            let name = name_of(m);
            (0..slots.len()).filter(|&u| obs.is_live(u)).all(|u| {
                slots[u]
                    .node
                    .as_ref()
                    .is_none_or(|n| n.member(&name).is_none_or(|x| x.status == Status::Dead))
            })
        };
        let about = e.member().and_then(|name| index_of_name(name));
        let dead_everywhere =
            matches!(e, Event::MemberFailed { .. }) && about.is_some_and(all_dead);
        let now = self.now;
        self.observer.on_event(v, e, now, |_| dead_everywhere);
        if let Some(m) = about.filter(|&m| m < self.slots.len() && self.observer.is_live(v)) {
            let obs = &self.observer;
            let running = |i: usize| obs.is_live(i);
            let live = obs.live_count();
            let links = self.links.state();
            match verdict_of(e) {
                Some((verdict, accuser, evidence)) => self
                    .truth
                    .verdict(v, m, verdict, accuser, evidence, links, &running, live, now),
                None if e.about().is_some_and(|x| x.status != Status::Dead)
                    && !matches!(e, Event::MemberLeft(_) | Event::MemberReaped(_)) =>
                {
                    self.truth.set_dead(v, m, false, &running, live, now)
                }
                None => {}
            }
        }
        if let Some(m) = about.filter(|&m| m < self.slots.len()) {
            if let Err(what) = self.checker.on_event(v, m, e) {
                self.violate(v, what);
            }
            if v == m && self.hostile.is_some() {
                self.write_check(m, e);
            }
        }
    }
}

/// The verdict an event reports, who declared it (if the event says), and
/// a death's evidence.
fn verdict_of(e: &Event) -> Option<(Verdict, Option<&str>, Option<&swim_core::Verdict>)> {
    match e {
        Event::MemberSuspect { accuser, .. } => {
            Some((Verdict::Suspect, Some(accuser.as_str()), None))
        }
        Event::MemberFailed {
            accuser, verdict, ..
        } => Some((Verdict::Dead, Some(accuser.as_str()), Some(&**verdict))),
        _ => None,
    }
}

/// The key in `Sim::streams` of a stream the responder knows as `id`.
fn key_of(id: StreamId) -> u64 {
    id.as_u64() & !StreamId::accepted(0).as_u64()
}

/// Whether a datagram carries a ping (read with the wire schema; only for
/// datagrams to crashed nodes, to time their first probe).
fn is_probe(bytes: &Bytes) -> bool {
    use prost::Message;
    swim_proto::Packet::decode(bytes.clone()).is_ok_and(|p| {
        p.messages
            .iter()
            .any(|m| matches!(m.body, Some(swim_proto::message::Body::Ping(_))))
    })
}

/// Whether nothing in `opts` can make a healthy node look failed: no faults,
/// no loss, and every packet faster than half the probe timeout.
fn quiet_network(opts: &Options) -> bool {
    let net = &opts.network;
    let slowest = match net.latency {
        Latency::Fixed(d) => d,
        Latency::Uniform { max, .. } | Latency::LongTail { max, .. } => max,
    } + if net.reorder > 0.0 {
        net.reorder_delay
    } else {
        Duration::ZERO
    };
    opts.faults.is_empty()
        && net.loss == 0.0
        && net.link_loss.is_empty()
        && slowest * 2 < opts.config.probe_timeout
}
