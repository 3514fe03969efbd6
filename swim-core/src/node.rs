//! The state machine: [`Node`].

use crate::awareness::Awareness;
use crate::candidate::{Candidate, Candidates, Inserted, Stage};
use crate::codec::{self, Msg};
use crate::config::{Config, ConfigError, MAX_NAME_LEN};
use crate::event::{Event, Input, Output, StreamId};
use crate::exchange::{self, Contents, Exchange, Exchanges, Members, Reason};
use crate::gossip::{self, Head};
use crate::member::{Member, Status, Update};
use crate::member_table::Entry;
use crate::metrics::{Kind, Metrics};
use crate::name::Name;
use crate::namespace::{Change, Refused};
use crate::outbox::{Outbox, Outputs};
use crate::piggyback::Priority;
use crate::probe::{self, Acked, Prober};
use crate::query::{self, KeyringOp, Queries};
use crate::replicas::Heard;
use crate::replicas::Replicas;
use crate::seal::{self, Envelope, Keyring, KeyringError, Nonces, Sealing, SecretKey, SecretKeyId};
use crate::source::{Source, Sources};
use crate::time::Instant;
use crate::timer::{Deadline, Periodic, Timer, Timers};
use crate::user_event::{self, UserEvents};
use crate::user_query::{self, QueryOptions, UserQuery};
use crate::util::Random;
use crate::verdict::{Explanation, Suspected, Verdict};
use crate::view::{Answer, Applied, Effects, View};
use crate::wire::{DropReason, Limits};
use bytes::Bytes;
use core::fmt;
use core::time::Duration;
use std::net::SocketAddr;

/// Who this node is.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Identity {
    /// Unique name in the cluster (1 to 128 bytes).
    pub name: String,
    /// The address peers reach it at (the advertise address).
    pub addr: SocketAddr,
    /// This process's life: tells its keys from those of an earlier process
    /// under the same name. `None` derives it from the seed, so a process
    /// restarted with the seed it had before reuses the old life (its first
    /// writes are then taken for stale until the node notices the claims
    /// replicas make about it and moves to a new life, a repair later):
    /// drivers give every process a life from OS randomness, or a fresh seed.
    pub life: Option<u64>,
}

/// API misuse: bad config, name, key or value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A config field is out of range.
    Config(ConfigError),
    /// The node name is empty or longer than 128 bytes.
    Name {
        /// Its length in bytes.
        len: usize,
    },
    /// The node has left; it accepts no more commands.
    Left,
    /// A key is empty or longer than [`MAX_KEY_LEN`](crate::MAX_KEY_LEN).
    KeyLength {
        /// Its length in bytes.
        len: usize,
    },
    /// A value is larger than [`MAX_VALUE_LEN`](crate::MAX_VALUE_LEN).
    ValueTooLarge {
        /// Its size in bytes.
        len: usize,
    },
    /// A new key beyond [`MAX_KEYS`](crate::MAX_KEYS) (deleted keys count
    /// until their tombstones are collected).
    TooManyKeys,
    /// The namespace would hold more than [`MAX_NAMESPACE_BYTES`](crate::MAX_NAMESPACE_BYTES).
    NamespaceFull {
        /// The bytes it would hold.
        bytes: usize,
    },
    /// A key operation on a node that does not seal its traffic (no key,
    /// or sealing at its first step): the key would cross the wire in the clear.
    NotSealed,
    /// A cluster sealing operation naming a step no key operation moves
    /// members to ([`Sealing::Accept`]: members would send plain).
    SealingStep {
        /// The step given.
        step: Sealing,
    },
    /// A query's timeout is zero or above [`MAX_QUERY_TIMEOUT`](crate::MAX_QUERY_TIMEOUT).
    QueryTimeout {
        /// The timeout given.
        timeout: Duration,
    },
    /// Too many queries of this node are still waiting for answers.
    TooManyQueries,
    /// A user event's name is empty or holds control or invisible characters.
    EventName {
        /// The name given.
        name: String,
    },
    /// A user event's name and payload are too large together.
    EventTooLarge {
        /// Their size, in bytes.
        size: usize,
    },
    /// A user query was refused: the reason says what was wrong and what
    /// is allowed (name, size, filters, relay factor, timeout).
    QueryInvalid {
        /// Why.
        reason: String,
    },
    /// A response to a query this node was not asked, or whose time is up.
    NotAsked {
        /// The query's origin.
        origin: String,
        /// Its id.
        id: u64,
    },
    /// A response larger than [`crate::MAX_RESPONSE_SIZE`].
    ResponseTooLarge {
        /// Its size, in bytes.
        size: usize,
    },
    /// No member of this name is known.
    UnknownMember {
        /// The name given.
        name: String,
    },
    /// Only a member held dead can be forced to leave.
    NotFailed {
        /// The member.
        name: String,
        /// Its status.
        status: Status,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Name { len } => write!(
                f,
                "invalid node name: {len} bytes (allowed: 1 to {MAX_NAME_LEN} bytes of UTF-8, no control or invisible characters)"
            ),
            Error::Left => f.write_str("the node has left the cluster; start a new one to rejoin"),
            Error::KeyLength { len } => write!(
                f,
                "invalid key: {len} bytes (allowed: 1 to {} bytes of UTF-8)",
                crate::MAX_KEY_LEN
            ),
            Error::ValueTooLarge { len } => write!(
                f,
                "value too large: {len} bytes (allowed: at most {} bytes)",
                crate::MAX_VALUE_LEN
            ),
            Error::TooManyKeys => write!(
                f,
                "too many keys: a member holds at most {} (deleted keys count until collected)",
                crate::MAX_KEYS
            ),
            Error::NamespaceFull { bytes } => write!(
                f,
                "namespace full: it would hold {bytes} bytes of keys and values (allowed: at most {})",
                crate::MAX_NAMESPACE_BYTES
            ),
            Error::NotSealed => f.write_str(
                "key operations need sealed traffic: install a first key on every member from its config, with sealing at `send` or `require`",
            ),
            Error::SealingStep { step } => write!(
                f,
                "a key operation moves members to sealing step `send` or `require`, not `{}`: \
                 none makes members send plain; set `accept` in a member's own config (then SIGHUP or restart it)",
                step.as_str()
            ),
            Error::QueryTimeout { timeout } => write!(
                f,
                "query timeout {timeout:?}: allowed above zero and up to {:?}",
                crate::MAX_QUERY_TIMEOUT
            ),
            Error::UnknownMember { name } => write!(f, "no member named `{name}` is known"),
            Error::NotFailed { name, status } => write!(
                f,
                "member `{name}` is {}: only a member held dead can be forced to leave",
                status.as_str()
            ),
            Error::EventName { name } => write!(
                f,
                "invalid event name {name:?}: allowed 1 or more bytes of UTF-8 without control or invisible characters"
            ),
            Error::EventTooLarge { size } => write!(
                f,
                "event too large: its name and payload take {size} bytes (allowed: at most {} together)",
                crate::MAX_EVENT_SIZE
            ),
            Error::QueryInvalid { reason } => f.write_str(reason),
            Error::NotAsked { origin, id } => write!(
                f,
                "no query {id:016x} of `{origin}` waits for a response here (never asked, answered already, or its time is up)"
            ),
            Error::ResponseTooLarge { size } => write!(
                f,
                "response too large: {size} bytes (allowed: at most {})",
                crate::MAX_RESPONSE_SIZE
            ),
            Error::TooManyQueries => write!(
                f,
                "{} queries are already waiting for answers; wait for one to finish",
                query::MAX_OPEN
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl Identity {
    /// A node called `name`, reached at `addr`. What it publishes about
    /// itself goes in its keys ([`Node::set`]).
    pub fn new(name: impl Into<String>, addr: SocketAddr) -> Identity {
        Identity {
            name: name.into(),
            addr,
            life: None,
        }
    }

    /// The same identity with process life `life` (see [`Identity::life`];
    /// 0 means none).
    pub fn with_life(self, life: u64) -> Identity {
        Identity {
            life: Some(life),
            ..self
        }
    }
}

/// Where a graceful leave stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leave {
    /// A member of the cluster.
    Staying,
    /// `leave` was called; the `left` announcement is still being gossiped.
    Announcing,
    /// The announcement went out as often as any update: [`Event::LeaveCompleted`]
    /// was emitted (and is again if the node has to announce `left` anew).
    Completed,
}

/// One cluster member's protocol state machine: SWIM with Lifeguard, piggybacked
/// gossip and push-pull, with no IO and no clock.
///
/// # Driving a node
///
/// 1. [`Node::new`] with a config, an identity, a seed and the current time.
/// 2. Inputs: every datagram, stream frame and stream closure goes to
///    [`step`](Node::step) (or [`handle`](Node::handle)) with the current
///    time; so does [`Input::Tick`] when [`poll_timeout`](Node::poll_timeout)
///    is due.
/// 3. Commands: [`join`](Node::join) (with seed addresses),
///    [`leave`](Node::leave), [`set`](Node::set) and
///    [`delete`](Node::delete) of this node's keys.
/// 4. Reads, at any time: [`members`](Node::members), [`local`](Node::local),
///    [`metrics`](Node::metrics), [`poll_timeout`](Node::poll_timeout).
///
/// # The output rule
///
/// After **every** call that takes `&mut self` (an input or a command),
/// carry out every output, in order, until there is none left; then read
/// [`poll_timeout`](Node::poll_timeout) and wake the node at that instant.
/// `step` returns the outputs as an iterator that pops them as they are read;
/// whatever it leaves unread stays queued for [`poll_output`](Node::poll_output),
/// so nothing is lost. `handle` + `poll_output` is the same thing for
/// drivers that interleave.
///
/// The timeout moves only through such calls: a probe or gossip tick sets
/// the next one, a probe sets its ack deadline, a suspicion or confirmation
/// sets a suspicion deadline, a death or leave sets a reap deadline, a join
/// failure sets a retry, and `leave` stops the periodic timers. Reading it
/// changes nothing.
///
/// The same seed, config and inputs at the same instants give the same outputs.
///
/// # Verify before vouching
///
/// A node never counts as a member, nor gossips, someone it has only heard
/// of. Alive news of a name it does not know is taken at once only from
/// that member itself (a packet sent under the name, from the address the
/// news gives), from a configured seed's answer to a join, or from the
/// answer to an exchange the node opened with a known member. Any other
/// such news (another member's gossip, a frame nobody asked for, a
/// stranger's answer) makes the name a *candidate*: the node pings it once
/// (a bare ping, paid from at most twice the size of the packet that
/// brought the news), asks `indirect_checks` members to ping-req it when a
/// member at its own address brought the news and the ping goes
/// unanswered within the probe timeout, and admits it when it answers from
/// that address (or a relay asked passes back its ack). Otherwise it is
/// forgotten at the end of the probe interval without a word: no
/// suspicion, no death, no tombstone. At most 256 candidates are held (a
/// new one evicts the oldest), each source's news makes no more than its
/// share of new members (64 at once, then 4 per probe interval), and a
/// node starts at most 256 checks at once, then 64 per probe interval
/// (news beyond that comes by catch-up). See [`Metrics::candidates`] and
/// the counters after it.
///
/// # Example
///
/// A node joins through a seed that does not answer: each call is followed
/// by draining its outputs, and time moves to [`poll_timeout`](Node::poll_timeout).
///
/// ```
/// use swim_core::{Config, Event, Identity, Input, Instant, Node, Output};
///
/// let me = Identity::new("node-1", ([10, 0, 0, 1], 7946).into());
/// let mut node = Node::new(Config::lan(), me, 42, Instant::ZERO)?;
/// node.join(&["10.0.0.2:7946".parse().unwrap()], Instant::ZERO)?;
///
/// // The join opens a stream to the seed and writes our state on it.
/// let mut stream = None;
/// for out in node.poll_outputs() {
///     match out {
///         Output::StreamOpen { id, .. } => stream = Some(id),
///         Output::StreamFrame { bytes, .. } => assert!(!bytes.is_empty()),
///         _ => {}
///     }
/// }
/// // The driver could not connect: the node hears the stream closed,
/// // and schedules a retry.
/// let closed = Input::StreamClosed { id: stream.unwrap() };
/// let events: Vec<Output> = node.step(closed, Instant::from_millis(3)).collect();
/// assert!(events.contains(&Output::Event(Event::JoinRetry { attempt: 1 })));
/// let wake = node.poll_timeout().unwrap();
/// assert!(wake <= Instant::from_millis(503), "the retry, or an earlier probe or gossip tick");
/// # Ok::<(), swim_core::Error>(())
/// ```
///
/// The README has a loop that carries two nodes' outputs to each other;
/// for more nodes, crashes and partitions, `swim-sim`'s `Cluster` does the
/// routing.
#[derive(Debug)]
pub struct Node {
    config: Config,
    now: Instant,
    rng: Random,
    timers: Timers,
    out: Outbox,
    metrics: Metrics,
    awareness: Awareness,
    /// The membership table, its gossip queue and the precedence rules.
    view: View,
    /// The probe of this protocol period and the probes relayed for others.
    prober: Prober,
    /// Exchanges in flight: joining, repair, reconnect and catching up.
    exchanges: Exchanges,
    /// Every member's key/value namespace, as this node holds it.
    replicas: Replicas,
    leave: Leave,
    /// Where datagrams are built (kept between them: one allocation per datagram sent).
    scratch: Vec<u8>,
    /// The keys that seal and open traffic (none: plain traffic).
    keyring: Keyring,
    nonces: Nonces,
    /// Queries spreading, seen and open (cluster key operations).
    queries: Queries,
    /// User events: the event clock, those delivered and those spreading.
    user_events: UserEvents,
    /// User queries spreading, seen and open (their own queue and tables:
    /// they never crowd out a key operation).
    user_queries: Queries,
    /// User queries asked of this node, waiting for the application.
    asked: user_query::AskedOf,
    /// Per open query of ours (key operations and user queries), the
    /// members asked.
    expected: std::collections::BTreeMap<u64, Vec<Name>>,
    /// The query clock when the sealing step in force was set: by
    /// [`Node::set_sealing`] (the clock then, past every stamp heard), or
    /// the stamp of the sealing operation that set it. A sealing operation
    /// stamped before it is refused: it started before this decision.
    sealing_stamp: u64,
    /// Claims about our namespace heard and not yet answered, and the
    /// earliest time of the next move (see [`Node::answer_claims`]).
    claims: Claims,
    /// When a member was last told that a peer holds it in another life
    /// (see [`Node::lives_differ`]).
    lives_told_at: Option<Instant>,
    /// Our summary when repair deltas were last refused for the replica
    /// budget: while it has not changed, no repair is opened (the same
    /// deltas would be refused again, for ever: a budget set below what
    /// the cluster holds).
    over_budget: Option<u64>,
    /// What each source of traffic may still add and draw (see
    /// [`crate::source`]).
    sources: Sources,
    /// Members heard of and not yet seen (see [`crate::candidate`]).
    candidates: Candidates,
    /// Candidates of the input being handled whose ping is not sent yet:
    /// it goes out once the input's news is applied, paid as the input
    /// allows (see [`Node::ping_candidates`]).
    unpinged: Vec<u32>,
}

/// The owner's last word (see the state layer in DESIGN.md): claims about
/// our namespace that we did not make wait here for the next move.
#[derive(Debug, Default)]
struct Claims {
    pending: bool,
    next_move: Instant,
    /// Moves in a row, each soon after the one before.
    streak: u32,
    /// Forged writes superseded since `burst_since`.
    burst: u32,
    burst_since: Instant,
}

/// Forged writes about us, superseded one by one, after which the
/// namespace moves instead (see [`Node::superseded`]).
const SUPERSEDE_BURST: u32 = 8;

/// The longest wait between two moves of our namespace while claims keep
/// coming (the wait doubles from one probe interval up to 16 of them, and
/// no further than this).
const MOVE_WAIT_MAX: Duration = Duration::from_secs(8);

/// New members a push-pull request (a frame this node did not ask for) may
/// add: a joining node names itself; one frame naming thousands of
/// strangers would stretch this node's probe round. What else the peer
/// knows arrives by gossip, or in the reply to an exchange this node opens.
const UNASKED_NEW_MEMBERS: usize = 16;

/// How many members a packet or frame may add that this node did not know
/// (see [`crate::source`]), and whether it may add them at once.
#[derive(Clone, Debug)]
enum Admit {
    /// A configured seed's answer to a join: only `max_members` bounds it.
    Seed,
    /// A known member's answer to an exchange this node opened: the
    /// node-wide share of exchanges. Names the node does not hold beyond
    /// the first [`EXCHANGE_TAKEN_AT_ITS_WORD`] are hearsay (a key holder
    /// answering can make up any): candidates, checked before admission.
    Exchange(Hearsay),
    /// Anything else: its source's share, and at most `most`. Alive news
    /// of an unknown name is hearsay (a candidate, checked before it is
    /// admitted: see [`crate::candidate`]) unless it is the sender's word
    /// about itself.
    Source(Hearsay),
}

/// New names a known member's answer to an exchange this node opened may
/// add at its word; the rest are candidates (an insider answering adds at
/// most this many made-up members an exchange, and exchanges are few).
const EXCHANGE_TAKEN_AT_ITS_WORD: usize = 64;

/// Who told a packet's or frame's news, for [`Admit::Source`] and
/// [`Admit::Exchange`].
#[derive(Clone, Debug)]
struct Hearsay {
    /// Where it came from.
    from: SocketAddr,
    /// The most new members it may add (or make candidates).
    most: usize,
    /// The name it was sent under.
    sender: Name,
    /// A stream frame (its source port is not the sender's own: only the
    /// IP address tells).
    stream: bool,
    /// The sender is a member at its own address: members may be asked to
    /// check its news (a candidate's indirect stage).
    vouched: bool,
}

impl Hearsay {
    /// Whether `u` is the sender's word about itself, from the address it
    /// gives: no hearsay, admitted at once (a joining member announces
    /// itself; a packet names one sender, so this is one member at most).
    fn first_hand(&self, u: &Update) -> bool {
        u.name == self.sender
            && if self.stream {
                u.addr.ip() == self.from.ip()
            } else {
                u.addr == self.from
            }
    }
}

/// What pays for the pings that check a packet's or frame's candidates:
/// no packet draws more than twice its size in them.
#[derive(Clone, Copy, Debug)]
enum Pay {
    /// The reply credit of the source (not a member at its own address),
    /// which its replies draw on too, less the bytes kept for them.
    Credit(Source, usize),
    /// At most this many bytes (twice the packet's or frame's size).
    Bytes(usize),
}

/// The bytes a packet or frame of `len` bytes may draw in pings to its
/// candidates (see [`Pay::Bytes`]).
fn twice(len: usize) -> Pay {
    Pay::Bytes(len.saturating_mul(2))
}

/// Lends the node's timers, outbox, counters and generator to a part.
macro_rules! effects {
    ($node:ident) => {
        &mut Effects {
            config: &$node.config,
            now: $node.now,
            timers: &mut $node.timers,
            out: &mut $node.out,
            metrics: &mut $node.metrics,
            rng: &mut $node.rng,
            // A node that hears nobody has no evidence against its own
            // links (see `probe::Answered`): it keeps deciding.
            healthy: $node.awareness.score() == 0
                || !$node.config.sick_node_rule
                || !$node.prober.hears(
                    $node.awareness.scale($node.config.probe_interval),
                    $node.now,
                ),
            hears: $node.prober.hears(
                $node.awareness.scale($node.config.probe_interval),
                $node.now,
            ),
            hears_until: $node
                .prober
                .hears_until($node.awareness.scale($node.config.probe_interval)),
            score: $node.awareness.score(),
        }
    };
}

impl Node {
    /// A node that knows only itself. `seed` decides every random choice,
    /// and the process's life too unless `identity` names one
    /// ([`Identity::with_life`]): give every process its own (from OS
    /// randomness, as the agent does). A process restarted with the seed
    /// it had before reuses its old life; its peers then hold its old keys
    /// until its first writes contradict them and it moves to a new life
    /// (see [`Metrics::namespace_moves`](crate::Metrics::namespace_moves)).
    pub fn new(config: Config, identity: Identity, seed: u64, now: Instant) -> Result<Node, Error> {
        config.validate()?;
        if !crate::wire::valid_name(&identity.name) {
            return Err(Error::Name {
                len: identity.name.len(),
            });
        }
        let mut rng = Random::new(seed);
        let hash_seed = rng.next_u64();
        let local = Member {
            name: Name::from(identity.name.as_str()),
            addr: identity.addr,
            incarnation: 0,
            status: Status::Alive,
        };
        // The life: drawn from the seed without a draw of its own (a mix of
        // the hash seed), so that the generator's sequence stays as it was.
        // 32 bits tell a name's successive processes apart and cost at most
        // 6 bytes in every alive update (a full u64 costs 11, and a join
        // wave's packets carry a third fewer updates).
        let life = identity
            .life
            .filter(|&l| l != 0)
            .unwrap_or_else(|| (mix(hash_seed ^ 0x6c69_6665) >> 32).max(1));
        let replicas = Replicas::new(local.name.clone(), life, config.max_replica_bytes);
        let view = View::new(local, life, hash_seed, now, &mut rng);
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
            now,
            rng,
            timers,
            out: Outbox::default(),
            metrics: Metrics::default(),
            view,
            prober: Prober::new(hash_seed ^ 2),
            exchanges: Exchanges::new(hash_seed ^ 3, now),
            replicas,
            leave: Leave::Staying,
            scratch: Vec::new(),
            keyring: Keyring::default(),
            // Derived without a draw, so that a node without keys draws
            // exactly what it drew before sealing existed.
            nonces: Nonces::new(mix(hash_seed ^ 0x6e6f_6e63), &identity.name),
            queries: Queries::new(now),
            // From the seed and the start time both: the agent starts
            // every process at `Instant::ZERO` (with a fresh seed), the
            // simulator restarts a node with its seed (at a later time).
            user_events: UserEvents::new(Queries::new(now).salt() ^ mix(hash_seed ^ 0x7573_6572)),
            user_queries: Queries::new(now),
            asked: user_query::AskedOf::default(),
            expected: Default::default(),
            sealing_stamp: 0,
            claims: Claims::default(),
            lives_told_at: None,
            over_budget: None,
            sources: Sources::new(hash_seed ^ 5),
            candidates: Candidates::new(hash_seed ^ 6),
            unpinged: Vec::new(),
        };
        node.schedule_reconnect();
        Ok(node)
    }

    /// Handles one input at `now` (and every timer due by then), and returns
    /// the outputs waiting, popped as they are read (see the output rule in
    /// the type doc).
    pub fn step(&mut self, input: Input, now: Instant) -> Outputs<'_> {
        self.handle(input, now);
        self.out.drain()
    }

    /// Handles one input at `now` and fires every timer due by then; the
    /// outputs wait in [`poll_output`](Node::poll_output).
    pub fn handle(&mut self, input: Input, now: Instant) {
        self.advance(now);
        let mark = self.out.mark();
        match input {
            Input::Datagram { from, bytes } => self.on_datagram(from, bytes),
            Input::StreamFrame { id, from, bytes } if id.is_accepted() => {
                self.on_request(id, from, bytes)
            }
            Input::StreamFrame { id, bytes, .. } => self.on_reply(id, bytes),
            Input::StreamClosed { id } => self.on_stream_closed(id),
            Input::Tick => {}
        }
        self.out.fold_namespaces(mark);
        self.fire_timers();
        self.send_held_answers();
    }

    /// The next output, if any.
    #[must_use = "carry out every output: it is gone once returned"]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }

    /// Every output waiting, popped as they are read (after a command such
    /// as [`join`](Node::join), or after [`handle`](Node::handle)).
    pub fn poll_outputs(&mut self) -> Outputs<'_> {
        self.out.drain()
    }

    /// When to call [`step`](Node::step) with [`Input::Tick`] next. A pure
    /// query; read it after draining the outputs of every call that takes
    /// `&mut self` (the type doc lists what moves it).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Joins a cluster through `seeds`: a push-pull exchange with each seed,
    /// retried with exponential backoff until one answers. Drain the outputs
    /// afterwards.
    pub fn join(&mut self, seeds: &[SocketAddr], now: Instant) -> Result<(), Error> {
        if self.is_leaving() {
            return Err(Error::Left);
        }
        self.advance(now);
        let own = self.view.local_entry().addr();
        for seed in self.exchanges.start_join(seeds, own) {
            self.open_exchange(seed, Reason::Join, true);
        }
        self.fire_timers();
        Ok(())
    }

    /// Stops a join in progress: no further attempt is made, and a seed
    /// that answers now completes nothing (no [`Event::JoinCompleted`]).
    /// What a late answer teaches is still merged. Returns whether a join
    /// was in progress (started and not yet completed, failed or
    /// cancelled). Drain the outputs afterwards.
    pub fn cancel_join(&mut self, now: Instant) -> bool {
        self.advance(now);
        self.timers.stop(Periodic::JoinRetry);
        let pending = self.exchanges.cancel_join();
        self.fire_timers();
        pending
    }

    /// Leaves gracefully: the node announces `left` and gossips it; when the
    /// announcement has spread, [`Event::LeaveCompleted`] tells the driver it
    /// may stop. The node keeps answering pings until then. Drain the
    /// outputs afterwards.
    pub fn leave(&mut self, now: Instant) {
        self.advance(now);
        if self.is_leaving() {
            return;
        }
        self.leave = Leave::Announcing;
        self.timers.stop(Periodic::Probe);
        self.timers.stop(Periodic::Reconnect);
        self.timers.stop(Periodic::JoinRetry);
        self.prober.stop();
        let incarnation = self.view.local_entry().incarnation;
        self.view.announce_self(Status::Left, incarnation, self.now);
        self.check_leave_completed();
        self.fire_timers();
    }

    /// Sets one of this node's keys; returns the write's version. The write
    /// spreads by gossip; [`Event::KeySet`] reports it here too. Drain the
    /// outputs afterwards.
    pub fn set(&mut self, key: &str, value: impl Into<Bytes>, now: Instant) -> Result<u64, Error> {
        let value = value.into();
        self.check_write(key, Some(&value))?;
        self.advance(now);
        let version = self.write(key, Some(value));
        self.fire_timers();
        Ok(version)
    }

    /// Sets several keys at once: the writes are checked as a whole (the
    /// namespace after all of them is within the limits) before any is
    /// made, then each takes the next version, in the order given. Returns
    /// the version of each write (0 where a write changed nothing).
    pub fn set_many(&mut self, pairs: &[(&str, Bytes)], now: Instant) -> Result<Vec<u64>, Error> {
        if self.is_leaving() {
            return Err(Error::Left);
        }
        let writes: Vec<(&str, Option<&Bytes>)> =
            pairs.iter().map(|(k, v)| (*k, Some(v))).collect();
        self.replicas.check_all(&writes).map_err(refused)?;
        self.advance(now);
        let versions = pairs
            .iter()
            .map(|(key, value)| self.write(key, Some(value.clone())))
            .collect();
        self.fire_timers();
        Ok(versions)
    }

    /// Deletes one of this node's keys (a tombstone, collected after
    /// `tombstone_grace`); false if it was not set. Drain the outputs afterwards.
    pub fn delete(&mut self, key: &str, now: Instant) -> Result<bool, Error> {
        self.check_write(key, None)?;
        self.advance(now);
        let before = self.metrics.keys_written;
        self.write(key, None);
        self.fire_timers();
        Ok(self.metrics.keys_written > before)
    }

    /// Declares a member that failed for good as left (Serf's
    /// `force-leave`): it stops being gossiped to and is reaped on
    /// schedule, and the cluster learns it like a leave. Only a member held
    /// dead can be forced out; one held left already is left alone. Drain
    /// the outputs afterwards.
    pub fn force_leave(&mut self, member: &str, now: Instant) -> Result<(), Error> {
        self.advance(now);
        let result = self.view.force_leave(member, effects!(self));
        self.fire_timers();
        result.map_err(|status| match status {
            None => Error::UnknownMember {
                name: member.to_string(),
            },
            Some(status) => Error::NotFailed {
                name: member.to_string(),
                status,
            },
        })
    }

    /// The value and version of `member`'s `key`, as this node holds it.
    pub fn get(&self, member: &str, key: &str) -> Option<(Bytes, u64)> {
        let (value, version) = self.replicas.namespace(member)?.get(key)?;
        Some((value.clone(), version))
    }

    /// `member`'s keys whose names start with `prefix` (all for `""`), with
    /// values and versions, in key order.
    pub fn keys(&self, member: &str, prefix: &str) -> Vec<(String, Bytes, u64)> {
        self.replicas.namespace(member).map_or(Vec::new(), |ns| {
            ns.iter()
                .filter(|(k, _, _)| k.starts_with(prefix))
                .map(|(k, v, n)| (k.to_string(), v.clone(), n))
                .collect()
        })
    }

    /// What this node holds of every member's keys (its own included).
    pub fn key_stats(&self) -> KeyStats {
        let (keys, bytes) = self.replicas.size();
        KeyStats { keys, bytes }
    }

    /// This process's life (see [`Identity::life`]): it changes when the
    /// node moves its namespace to answer a claim it did not make.
    pub fn life(&self) -> u64 {
        self.view.local_entry().life
    }

    fn check_write(&self, key: &str, value: Option<&Bytes>) -> Result<(), Error> {
        if self.is_leaving() {
            return Err(Error::Left);
        }
        self.replicas.check(key, value).map_err(refused)
    }

    /// Writes our own key and reports it; the version (0 if nothing changed).
    fn write(&mut self, key: &str, value: Option<Bytes>) -> u64 {
        let local = self.view.local().clone();
        match self.replicas.write(key, value, self.now) {
            Some(change) => {
                self.metrics.keys_written += 1;
                let version = change.version;
                self.report(&local, change);
                version
            }
            None => 0,
        }
    }

    /// Tells the application about a change to `owner`'s namespace.
    fn report(&mut self, owner: &Name, c: Change) {
        let (member, key, version) = (owner.clone(), String::from(c.key), c.version);
        self.out.event(match c.new {
            Some(value) => Event::KeySet {
                member,
                key,
                old: c.old,
                value,
                version,
            },
            None => Event::KeyDeleted {
                member,
                key,
                old: c.old,
                version,
            },
        });
    }

    /// This node's advertised address changed (a new interface, a new
    /// NAT mapping): it is spread with a new incarnation, and members
    /// report [`Event::MemberUpdated`]. Drain the outputs afterwards.
    pub fn set_addr(&mut self, addr: SocketAddr, now: Instant) -> Result<(), Error> {
        if self.is_leaving() {
            return Err(Error::Left);
        }
        self.advance(now);
        self.view.set_own_addr(addr, self.now);
        self.fire_timers();
        Ok(())
    }

    /// This node as the cluster sees it.
    ///
    /// Members are returned by value: the table keeps them in a compact form
    /// (a node of a large cluster holds thousands), and a `Member` is cheap to
    /// build (the name is inline or shared).
    pub fn local(&self) -> Member {
        self.view.local_entry().member()
    }

    /// Every member this node knows, itself included, in a deterministic order.
    pub fn members(&self) -> impl Iterator<Item = Member> + '_ {
        self.view.members().iter().map(Entry::member)
    }

    /// One member by name.
    pub fn member(&self, name: &str) -> Option<Member> {
        self.view.members().get(name).map(Entry::member)
    }

    /// The last dead verdict this node took on `member` (its evidence, and
    /// when and from whom this node learned it), kept until the member is
    /// reaped, even if it came back since.
    pub fn verdict(&self, member: &str) -> Option<&Verdict> {
        self.view.members().get(member)?.verdict()
    }

    /// Why this node holds `member` where it does: its status, since when,
    /// its running suspicion (who accused it so far) while it is suspect,
    /// and the last dead verdict taken on it (see [`Node::verdict`]).
    pub fn explain(&self, member: &str) -> Option<Explanation> {
        let e = self.view.members().get(member)?;
        let suspicion = (e.status() == Status::Suspect)
            .then(|| e.suspicion())
            .flatten()
            .map(|s| Suspected {
                accusers: s.accusers.clone(),
                since: s.start,
                deadline: s.deadline(),
            });
        Some(Explanation {
            member: e.member(),
            since: e.since,
            suspicion,
            verdict: e.verdict().cloned(),
        })
    }

    /// Alive and suspect members, itself included.
    pub fn num_live(&self) -> usize {
        self.view.members().live()
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

    /// The keys this node seals and opens traffic with.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Installs a secret key in the keyring; the first one installed
    /// becomes primary and turns sealing on (as [`Config::sealing`] says).
    /// Returns false when it was installed already.
    pub fn install_secret_key(&mut self, key: SecretKey) -> bool {
        self.keyring.install(key)
    }

    /// Makes an installed secret key the one that seals.
    pub fn use_secret_key(&mut self, id: SecretKeyId) -> Result<(), KeyringError> {
        self.keyring.use_key(id)
    }

    /// Removes an installed secret key other than the primary.
    pub fn remove_secret_key(&mut self, id: SecretKeyId) -> Result<(), KeyringError> {
        self.keyring.remove(id)
    }

    /// The old name of [`Node::install_secret_key`].
    #[deprecated(note = "renamed to `install_secret_key`")]
    pub fn install_key(&mut self, key: SecretKey) -> bool {
        self.install_secret_key(key)
    }

    /// The old name of [`Node::use_secret_key`].
    #[deprecated(note = "renamed to `use_secret_key`")]
    pub fn use_key(&mut self, id: SecretKeyId) -> Result<(), KeyringError> {
        self.use_secret_key(id)
    }

    /// The old name of [`Node::remove_secret_key`].
    #[deprecated(note = "renamed to `remove_secret_key`")]
    pub fn remove_key(&mut self, id: SecretKeyId) -> Result<(), KeyringError> {
        self.remove_secret_key(id)
    }

    /// Fires a user event (Serf's `serf event NAME PAYLOAD`): delivered
    /// here at once as [`Event::User`], then once at every member it
    /// reaches by gossip (see [`crate::user_event`]'s rules). `coalesce`:
    /// handlers that coalesce deliver only the newest of a burst of this
    /// name. Refused when the name is empty or holds control or invisible
    /// characters, when name and payload exceed [`crate::MAX_EVENT_SIZE`]
    /// bytes together, and after a leave. Drain the outputs afterwards.
    ///
    /// On a plain cluster anyone who can send to it can fire events too:
    /// a handler must treat the payload as untrusted.
    pub fn event(
        &mut self,
        name: &str,
        payload: &[u8],
        coalesce: bool,
        now: Instant,
    ) -> Result<(), Error> {
        if !user_event::valid_name(name) {
            return Err(Error::EventName { name: name.into() });
        }
        let size = name.len() + payload.len();
        if size > crate::MAX_EVENT_SIZE {
            return Err(Error::EventTooLarge { size });
        }
        if self.leave == Leave::Completed {
            return Err(Error::Left);
        }
        self.advance(now);
        let origin = self.view.local().clone();
        let e = self.user_events.fire(&origin, name, payload, coalesce);
        self.deliver(e);
        self.fire_timers();
        Ok(())
    }

    /// Starts a user query (Serf's `serf query NAME PAYLOAD`): it spreads
    /// to every member, and those matching `options.filter` (this node
    /// too) get [`Event::Query`]; each answers with [`Node::respond`]. The
    /// origin gets [`Event::QueryAck`] and [`Event::QueryResponse`] as
    /// they arrive (each member once), and when the timeout runs out
    /// [`Event::QueryDone`] with the counts and who of the members asked
    /// never answered. Returns the query's id. The timeout defaults to
    /// Serf's: the gossip interval times 16 times ceil(log10(n + 1)) (12.8
    /// s for 1,000 members on `lan`). Refused, with what is allowed, for a
    /// bad name, name + payload + filters over [`crate::MAX_QUERY_SIZE`]
    /// bytes or over what a datagram holds, a tag filter that does not
    /// compile, a relay factor over [`crate::MAX_RELAY_FACTOR`], a timeout
    /// of zero or over [`crate::MAX_QUERY_TIMEOUT`], too many queries
    /// open, and after a leave. Drain the outputs afterwards.
    ///
    /// Works on plain clusters, where anyone who can reach the cluster's
    /// port can ask too (see [`crate::user_query`]).
    pub fn query(
        &mut self,
        name: &str,
        payload: &[u8],
        options: QueryOptions,
        now: Instant,
    ) -> Result<u64, Error> {
        let uq = UserQuery {
            name: name.into(),
            payload: Bytes::copy_from_slice(payload),
            filter: options.filter,
            want_ack: options.want_ack,
            relay_factor: options.relay_factor,
        };
        uq.check()
            .map_err(|reason| Error::QueryInvalid { reason })?;
        // Room for the header, the query's own fields and a seal.
        let room = (self.budget(self.config.max_packet_size)).saturating_sub(96 + 3 * MAX_NAME_LEN);
        if uq.size() > room {
            return Err(Error::QueryInvalid {
                reason: format!(
                    "query too large for a datagram: its name, payload and filters take {} bytes \
                     (allowed: at most {room} with max_packet_size {})",
                    uq.size(),
                    self.config.max_packet_size
                ),
            });
        }
        let live = self.view.members().live();
        let timeout = options.timeout.unwrap_or_else(|| {
            let scale = ((live + 1) as f64).log10().ceil().max(1.0) as u32;
            (self.config.gossip_interval * 16 * scale).min(query::MAX_QUERY_TIMEOUT)
        });
        if timeout.is_zero() || timeout > query::MAX_QUERY_TIMEOUT {
            return Err(Error::QueryTimeout { timeout });
        }
        if self.leave == Leave::Completed {
            return Err(Error::Left);
        }
        self.advance(now);
        let (name, addr) = (self.view.local().clone(), self.view.local_entry().addr());
        let body = query::Body::User(uq.clone());
        let id = (self.user_queries)
            .start(&name, addr, body, timeout, &mut self.rng)
            .ok_or(Error::TooManyQueries)?;
        self.timers
            .schedule(self.now + timeout, Deadline::UserQueryDone { id });
        let asked: Vec<Name> = (self.live_names().into_iter())
            .filter(|m| uq.matches(m, |k| self.get(m, k).map(|(v, _)| v)))
            .collect();
        let ours = asked.contains(&name);
        self.expected.insert(id, asked);
        if ours {
            if uq.want_ack {
                self.on_user_answer(
                    id,
                    user_query::Reply {
                        ack: true,
                        payload: Bytes::new(),
                        member: name.clone(),
                    },
                );
            }
            let asked = user_query::Asked {
                origin_addr: addr,
                relay_factor: 0,
                until: self.now + timeout,
                member: true,
            };
            self.asked.insert(name.clone(), id, asked);
            self.out.event(Event::Query {
                origin: name,
                id,
                name: uq.name,
                payload: uq.payload,
                timeout,
            });
        }
        self.fire_timers();
        Ok(id)
    }

    /// Responds to user query `id` of `origin` (as [`Event::Query`] named
    /// it): to the origin's membership address, and through the query's
    /// relay factor of random members. Refused when the response exceeds
    /// [`crate::MAX_RESPONSE_SIZE`], or no such query waits here (never
    /// asked, answered already, or its time is up). Drain the outputs
    /// afterwards.
    pub fn respond(
        &mut self,
        origin: &str,
        id: u64,
        payload: &[u8],
        now: Instant,
    ) -> Result<(), Error> {
        if payload.len() > crate::MAX_RESPONSE_SIZE {
            return Err(Error::ResponseTooLarge {
                size: payload.len(),
            });
        }
        self.advance(now);
        let origin = Name::from(origin);
        let not_asked = || Error::NotAsked {
            origin: origin.to_string(),
            id,
        };
        let asked = self
            .asked
            .take(&origin, id, self.now)
            .ok_or_else(not_asked)?;
        let local = self.view.local().clone();
        if origin == local {
            self.on_user_answer(
                id,
                user_query::Reply {
                    ack: false,
                    payload: Bytes::copy_from_slice(payload),
                    member: local,
                },
            );
        } else {
            let answer = user_query::encode_reply(id, false, payload, &local);
            let member = (self.view.members().get(&origin))
                .is_some_and(|e| e.status().is_live() && e.addr() == asked.origin_addr);
            let left = asked.until.saturating_duration_since(self.now);
            let relays = if member { asked.relay_factor } else { 0 };
            self.relay_answer(&origin, &answer, relays);
            self.answer_origin(true, &origin, asked.origin_addr, left, member, answer);
        }
        self.fire_timers();
        Ok(())
    }

    /// The members held alive or suspect, this node included, in name order.
    fn live_names(&self) -> Vec<Name> {
        let mut names: Vec<Name> = (self.view.members().iter())
            .filter(|e| e.status().is_live())
            .map(|e| e.name.clone())
            .collect();
        names.sort_unstable();
        names
    }

    /// A query of ours stopped waiting: who answered and who acked.
    fn query_done(&mut self, id: u64, (answered, acked): (Vec<Name>, Vec<Name>)) {
        let asked = self.expected.remove(&id).unwrap_or_default();
        let heard: std::collections::BTreeSet<&Name> = answered.iter().chain(&acked).collect();
        let missing = (asked.iter())
            .filter(|m| !heard.contains(m))
            .cloned()
            .collect();
        self.out.event(Event::QueryDone {
            query: id,
            answers: answered.len(),
            acks: acked.len(),
            asked: asked.len(),
            missing,
        });
    }

    /// An ack or a response to a user query of ours (each member once).
    fn on_user_answer(&mut self, id: u64, reply: user_query::Reply) {
        let member = reply.member;
        // Only the members it asked (sorted): anyone can name anyone in an
        // answer, and a made-up name would be counted and hide who is
        // missing.
        let asked = self.expected.get(&id);
        if asked.is_none_or(|a| a.binary_search(&member).is_err()) {
            self.metrics.answers_unasked += 1;
            return;
        }
        if reply.ack {
            if self.user_queries.acked(id, &member) {
                self.out.event(Event::QueryAck { query: id, member });
            }
        } else if self.user_queries.answered(id, &member) {
            self.out.event(Event::QueryResponse {
                query: id,
                member,
                payload: reply.payload,
            });
        }
    }

    /// The event clock: the stamp of the next user event fired here.
    pub fn event_clock(&self) -> u64 {
        self.user_events.clock()
    }

    /// The user-event floor to keep for a later process of this node (see
    /// [`Node::resume_events`]): one past the stamps of the events
    /// delivered here, each cut to the clock this node had when it heard
    /// it (a forged event stamped far ahead does not count in full). Keep
    /// it after each [`Event::User`].
    pub fn event_floor(&self) -> u64 {
        self.user_events.persisted()
    }

    /// Tells a restarted process where its earlier life stopped: every
    /// user event stamped below `floor` was delivered then, and none is
    /// delivered again. Call it before [`Node::join`], with what
    /// [`Node::event_floor`] said last in the earlier process (the agent
    /// keeps it in its member snapshot, as Serf keeps its clock). Without
    /// it, a restarted process takes its floor from its peers' clocks at
    /// join (see [`crate::user_event`]), which cannot know of an event
    /// that only the other side of a partition heard.
    ///
    /// Returns false, ignoring it, when `floor` is above
    /// [`crate::user_event::MAX_RESUMED_FLOOR`] (a damaged file); once
    /// peers' clocks are learned, a floor more than
    /// [`crate::user_event::RESUME_SLACK`] above them is cut down to that.
    pub fn resume_events(&mut self, floor: u64) -> bool {
        self.user_events.resume(floor)
    }

    /// The old name of [`Node::keyring_op`].
    #[deprecated(note = "renamed to `keyring_op`")]
    pub fn key_op(&mut self, op: KeyringOp, timeout: Duration, now: Instant) -> Result<u64, Error> {
        self.keyring_op(op, timeout, now)
    }

    /// Starts a cluster keyring operation: carried out here at once, then by
    /// every member that hears it (see [`crate::KeyringOp`]). Each member's
    /// answer arrives as [`Event::KeyAnswer`] (this node's own first), and
    /// after `timeout` [`Event::QueryDone`] says how many answered. Returns
    /// the query's id. Refused unless this node seals its traffic: a key
    /// never crosses the wire in the clear. Drain the outputs afterwards.
    ///
    /// Started before this node learned the cluster's query clock (right
    /// after a restart's [`Node::join`], before a member answered), the
    /// operation is carried out here at once but held: it is stamped and
    /// sent once the clock is learned (stamped before, every member that
    /// learned the clock would ignore it as stale). The timeout runs from
    /// now either way.
    pub fn keyring_op(
        &mut self,
        op: KeyringOp,
        timeout: Duration,
        now: Instant,
    ) -> Result<u64, Error> {
        if !self.seals() {
            return Err(Error::NotSealed);
        }
        if let KeyringOp::Sealing(step @ Sealing::Accept) = op {
            return Err(Error::SealingStep { step });
        }
        if timeout.is_zero() || timeout > query::MAX_QUERY_TIMEOUT {
            return Err(Error::QueryTimeout { timeout });
        }
        self.advance(now);
        let (name, addr) = (self.view.local().clone(), self.view.local_entry().addr());
        // The stamp `start` gives the query.
        let stamp = self.queries.clock();
        let id = (self.queries)
            .start(&name, addr, &op, timeout, &mut self.rng)
            .ok_or(Error::TooManyQueries)?;
        self.timers
            .schedule(self.now + timeout, Deadline::QueryDone { id });
        let asked = self.live_names();
        self.expected.insert(id, asked);
        let refused = self.carry_out(&op, stamp);
        let keys = self.keyring.ids().collect();
        let sealing = Some(self.config.sealing);
        let answer = query::Answer {
            id,
            keys,
            refused,
            sealing,
            user: None,
        };
        self.on_answer(&name, answer);
        self.fire_timers();
        Ok(id)
    }

    /// Moves to another step of turning sealing on (see [`Sealing`]), at
    /// once: what is sent from now on, and what is accepted. The decision
    /// is stamped with the query clock: a cluster sealing operation
    /// ([`KeyringOp::Sealing`]) that started before it (a late or replayed
    /// one) is refused here, so it never undoes this call.
    ///
    /// A node that starts sealing here without having learned the query
    /// clock from a sealed frame (it joined at `accept`, when frames were
    /// plain: it would ignore every key operation) pulls state from a
    /// member to learn it: drain the outputs afterwards.
    ///
    /// Without keys the step changes nothing (traffic is plain); a driver
    /// should refuse `send` and `require` then (the agent does).
    pub fn set_sealing(&mut self, sealing: Sealing) {
        self.config.sealing = sealing;
        self.sealing_stamp = self.queries.clock();
        if !self.seals() {
            self.queries.drop_queue();
        }
        self.learn_clock();
    }

    /// The step of turning sealing on in force (as [`Config::sealing`]
    /// started it, and [`Node::set_sealing`] or a cluster sealing
    /// operation moved it since). Meaningless without keys: traffic is
    /// plain then.
    pub fn sealing(&self) -> Sealing {
        self.config.sealing
    }

    /// True once [`leave`](Node::leave) was called.
    pub fn is_leaving(&self) -> bool {
        self.leave != Leave::Staying
    }

    /// Time of the next probe (for tests and drivers that want to show it).
    pub fn next_probe_at(&self) -> Option<Instant> {
        self.timers.get(Periodic::Probe)
    }

    /// What this node knows, in one number (see [`crate::summary`]).
    fn summary(&self) -> u64 {
        gossip::summary(&self.view, &self.replicas)
    }

    fn advance(&mut self, now: Instant) {
        // Time never runs backwards inside the node, whatever the driver's clock does.
        self.now = self.now.max(now);
        self.out.shrink_idle();
    }

    fn fire_timers(&mut self) {
        while let Some(timer) = self.timers.pop(self.now) {
            match timer {
                Timer::Deadline(Deadline::ProbeTimeout { seq }) => self.on_probe_timeout(seq),
                Timer::Deadline(Deadline::ProbeRetry { seq, left }) => self.retry_probe(seq, left),
                Timer::Deadline(Deadline::RelayTimeout { seq }) => self.on_relay_timeout(seq),
                Timer::Deadline(Deadline::Suspicion { member, generation }) => {
                    let fx = effects!(self);
                    if let Some(addr) = self.view.on_suspicion_timeout(&member, generation, fx) {
                        self.last_word(addr, member);
                    }
                }
                Timer::Deadline(Deadline::Release { member }) => {
                    self.view.on_release(&member, effects!(self));
                }
                Timer::Deadline(Deadline::QueryDone { id }) => {
                    if let Some(done) = self.queries.finish(id) {
                        self.query_done(id, done);
                    }
                }
                Timer::Deadline(Deadline::UserQueryDone { id }) => {
                    if let Some(done) = self.user_queries.finish(id) {
                        self.query_done(id, done);
                    }
                }
                Timer::Deadline(Deadline::Candidate { seq }) => self.on_candidate_timeout(seq),
                Timer::Deadline(Deadline::AnswerDue) => self.send_held_answers(),
                Timer::Deadline(Deadline::HealCheck { member }) => self.check_heal(member),
                Timer::Deadline(Deadline::MoveNotice { member, from }) => {
                    self.notify_move(member, from)
                }
                Timer::Deadline(Deadline::Reap { member, generation }) => {
                    if self.view.on_reap(&member, generation, &mut self.out) {
                        self.replicas.forget(&member);
                    }
                }
                Timer::Periodic(Periodic::Probe) => self.on_probe_tick(),
                Timer::Periodic(Periodic::Gossip) => self.on_gossip_tick(),
                Timer::Periodic(Periodic::Reconnect) => self.on_reconnect_tick(),
                Timer::Periodic(Periodic::JoinRetry) => self.on_join_retry(),
            }
        }
        for (member, up) in self.view.take_liveness_changes() {
            self.replicas.set_up(&member, up);
        }
    }

    /// Decoding limits, and which names the membership table knows.
    fn with_limits<T>(&self, f: impl FnOnce(&Limits<'_>) -> T) -> T {
        let (members, local) = (self.view.members(), self.view.local());
        // Every ping names us: no lookup for that.
        let known = |s: &str| *local == *s || members.slot(s).is_some();
        f(&Limits {
            cluster: &self.config.cluster,
            known: &known,
        })
    }

    /// Opens a sealed message of at most `max` bytes, or lets a plain one
    /// through where plain traffic is accepted; with whether it was sealed.
    /// `None` when it was dropped (and counted).
    fn unseal(
        &mut self,
        bytes: Bytes,
        max: usize,
        from: SocketAddr,
        what: &'static str,
    ) -> Option<(Bytes, bool)> {
        let reason = match Envelope::parse(&bytes) {
            None if self.keyring.is_empty() || self.config.sealing != Sealing::Require => {
                return Some((bytes, false));
            }
            None => DropReason::Auth,
            Some(_) if bytes.len() > max => DropReason::Oversized,
            Some(env) if !swim_proto::readable(env.version) => DropReason::Version,
            Some(env) if env.cluster != self.config.cluster.as_bytes() => DropReason::Cluster,
            Some(env) => match env.open(&self.keyring) {
                Some(plain) => return Some((Bytes::from(plain), true)),
                None => DropReason::Auth,
            },
        };
        self.drop_input(reason, from, what);
        None
    }

    /// `plain` sealed under the primary key, when this node seals.
    fn seal(&mut self, plain: Bytes) -> Bytes {
        if !self.seals() {
            return plain;
        }
        let cluster = &self.config.cluster;
        seal::seal(&self.keyring, &mut self.nonces, cluster, &plain).map_or(plain, Bytes::from)
    }

    /// `plain` sealed under the primary key whenever this node holds one,
    /// whatever its step (for a reply to a peer known to open sealed
    /// traffic).
    fn seal_always(&mut self, plain: Bytes) -> Bytes {
        if self.keyring.is_empty() {
            return plain;
        }
        let cluster = &self.config.cluster;
        seal::seal(&self.keyring, &mut self.nonces, cluster, &plain).map_or(plain, Bytes::from)
    }

    fn seals(&self) -> bool {
        !self.keyring.is_empty() && self.config.sealing != Sealing::Accept
    }

    /// Room for a plain message that must fit `max` bytes once sealed.
    fn budget(&self, max: usize) -> usize {
        if self.seals() {
            max.saturating_sub(seal::overhead(&self.config.cluster, max))
        } else {
            max
        }
    }

    fn drop_input(&mut self, reason: DropReason, from: SocketAddr, what: &'static str) {
        self.metrics.dropped.count(reason);
        tracing::debug!(node = %self.view.local(), %from, ?reason, what, "dropped remote input");
    }

    // ---- datagrams: probes, acks, ping-reqs and their piggybacked updates

    /// Handles one datagram: decode, apply its updates, answer its messages.
    fn on_datagram(&mut self, from: SocketAddr, bytes: Bytes) {
        let len = bytes.len();
        let max = self.config.max_packet_size;
        let Some((bytes, authentic)) = self.unseal(bytes, max, from, "datagram") else {
            return;
        };
        let packet = match self.with_limits(|l| codec::decode_packet(bytes, max, l)) {
            Ok(p) => p,
            Err(reason) => return self.drop_input(reason, from, "datagram"),
        };
        if packet.from == *self.view.local() {
            return self.drop_input(DropReason::FromSelf, from, "datagram");
        }
        let local = self.view.local();
        if packet
            .messages
            .iter()
            .any(|m| matches!(m, Msg::Ping { target, .. } if target != local))
        {
            return self.drop_input(DropReason::WrongTarget, from, "ping");
        }
        let kind = packet.messages.first().map_or(Kind::Gossip, Msg::kind);
        self.metrics.received.count(kind, len);
        self.metrics.updates_received += packet.updates.len() as u64;
        // A member (in any status: one held dead may be back) speaking from
        // its own membership address may draw full replies, and may make
        // this node catch up or repair with it; what anyone else's packet
        // draws is paid from the credit
        // its bytes earn (see `crate::source`). Judged before the packet's
        // updates are applied: a stranger cannot vouch for itself.
        // A member that moved within its life is not trusted at its new
        // address yet (see `Entry::moved`).
        // A member that moved within its life speaking from the address it
        // was trusted at (its ack to a move notice, say) runs there: the
        // move was forged, and it is moved back.
        if authentic || self.keyring.is_empty() {
            self.view.spoke_at_home(&packet.from, from);
        }
        let member = self
            .view
            .members()
            .get(&packet.from)
            .is_some_and(|e| e.addr() == from && !e.moved());
        if !member {
            self.sources.earn(Source::of(from), len, self.now);
        } else if authentic || self.keyring.is_empty() {
            self.prober.heard(&packet.from, self.now);
        }
        // A candidate speaks, from the address its news gave: seen (its
        // ack, if that is what it sent, was expected).
        let mut seen = None;
        if self.candidates.len() > 0 {
            if let Some(c) = self.candidates.seen(&packet.from, from) {
                seen = Some(c.seq);
                self.admit(c);
            }
        }
        // Pull the state of a stranger, or of a peer that knows more: only
        // from senders that proved they hold a key, when this node has one.
        let trusted = authentic || self.keyring.is_empty();
        if !packet.from_known && trusted {
            self.meet_stranger(from, packet.live);
        }
        // A member that seals, and we have not learned the query clock
        // (we joined at `accept`, over plain frames): its answer to an
        // exchange comes sealed and teaches it (rate-limited as a catch-up).
        // Likewise when the clock was learned from one peer only (an
        // insider seed's could be far off): another member confirms it.
        let unconfirmed = self.queries.learned()
            && !self.queries.confirmed()
            && self.queries.provisional_source() != Some(from);
        if authentic && member && (!self.queries.learned() || unconfirmed) {
            self.catch_up(from, Reason::CatchUp, true);
        }
        let hearsay = Hearsay {
            from,
            most: usize::MAX,
            sender: packet.from.clone(),
            stream: false,
            vouched: member,
        };
        self.apply_all(packet.updates, Priority::News, Admit::Source(hearsay));
        if member && trusted {
            self.view.spoke(&packet.from, effects!(self));
        }
        self.answer_claims();
        // Who passed queries on, for the share of the pass-on queue they
        // take: a member at its address, or the source.
        let via = match member {
            true => query::Via::Member(from),
            false => query::Via::Source(Source::of(from)),
        };
        let (user_answers, answers): (Vec<_>, Vec<_>) =
            (packet.answers.into_iter()).partition(|a| a.user.is_some());
        if !(packet.queries.is_empty() && answers.is_empty()) {
            if authentic {
                // Every query of the packet is bound against the clock as
                // it was before it: chained queries do not walk it.
                let before = self.queries.clock();
                for q in packet.queries {
                    self.on_query(q, from, before, via);
                }
                for a in answers {
                    self.on_answer(&packet.from, a);
                }
            } else {
                // Queries act on keys: only from a key holder.
                self.drop_input(DropReason::Auth, from, "plain query");
            }
        }
        let user = !(packet.user_queries.is_empty() && user_answers.is_empty());
        if user || !packet.relayed.is_empty() {
            if trusted {
                let before = self.user_queries.clock();
                for q in packet.user_queries {
                    self.on_user_query(q, from, before, via);
                }
                for a in user_answers {
                    self.on_answer(&packet.from, a);
                }
                self.forward_relayed(packet.relayed, from);
            } else {
                self.drop_input(DropReason::Auth, from, "plain user query");
            }
        }
        if !packet.events.is_empty() {
            if trusted {
                self.hear_events(packet.events, from);
            } else {
                self.drop_input(DropReason::Auth, from, "plain user event");
            }
        }
        for d in &packet.deltas {
            let life = self.view.life_of(&d.owner);
            match self.replicas.apply(d, life, self.now) {
                Heard::Applied(Some(change)) => {
                    self.metrics.deltas_applied += 1;
                    self.report(&d.owner, change);
                }
                Heard::Applied(None) => {}
                Heard::Refused(r) => self.refused(r, from, "key write"),
                Heard::Claim => self.claim(from, "key write"),
                Heard::Superseded(rewrite) => {
                    if let Some(change) = rewrite {
                        let local = self.view.local().clone();
                        self.report(&local, change);
                    }
                    self.metrics.claims += 1;
                    tracing::debug!(node = %self.view.local(), %from, key = %d.write.key, "a key write we did not make: superseded");
                    self.superseded(from);
                }
            }
        }
        let ours = gossip::view_size(self.view.members());
        // Exchanges with a peer that knows more (catching up, repairing):
        // the answer of anyone but a member at its own address adds only
        // its source's share of new members.
        if self
            .exchanges
            .behind(packet.live, ours, self.now, &self.config)
            && trusted
        {
            self.catch_up(from, Reason::CatchUp, member);
        }
        self.compare_summaries(packet.summary, from, member);
        // The candidates' pings: from a member, up to twice the packet's
        // size; from anyone else, from its source's credit, keeping what
        // the acks to its pings take (a joining member's probe is answered
        // first; only the gossip an ack would piggyback gives way).
        let pay = if member {
            twice(len)
        } else if self.unpinged.is_empty() {
            Pay::Bytes(0)
        } else {
            let pings = (packet.messages.iter())
                .filter(|m| matches!(m, Msg::Ping { .. }))
                .count();
            let keep = match pings {
                0 => 0,
                n => n.saturating_mul(self.bare_len(&[Msg::Ack { seq: u32::MAX }]) + 8),
            };
            Pay::Credit(Source::of(from), keep)
        };
        self.ping_candidates(pay);
        let mut relayed = false;
        for m in packet.messages {
            match m {
                Msg::Ping { seq, .. } => {
                    self.reply(from, !member, &[Msg::Ack { seq }]);
                }
                Msg::Ack { seq } => match self.prober.on_ack(seq, &packet.from) {
                    Acked::Probe { first, sent } => {
                        if first {
                            self.awareness.apply(-1);
                            let rtt = self.now.saturating_duration_since(sent);
                            self.metrics.probe_rtt.observe(rtt);
                        }
                    }
                    Acked::Relay { to, seq, paid } => {
                        self.reply(to, paid, &[Msg::Ack { seq }]);
                    }
                    // The suspect answered its last word: its refutation,
                    // if any, came with the ack.
                    Acked::Recheck => {}
                    Acked::Stranger => {
                        self.drop_input(DropReason::Unsolicited, from, "ack from a stranger")
                    }
                    // The answer to a check that already ended with an
                    // admission (this packet's, or an earlier one's).
                    Acked::Unsolicited
                        if seen == Some(seq) || self.candidates.was_answered(seq) => {}
                    // A relay we asked to check a candidate passes its
                    // ack back (only a member at its own address).
                    Acked::Unsolicited => match self
                        .candidates
                        .relayed(seq, &packet.from)
                        .filter(|_| member)
                    {
                        Some(c) => self.admit(c),
                        None => self.drop_input(DropReason::Unsolicited, from, "ack"),
                    },
                },
                Msg::Nack { seq } => {
                    // Only from the relay's own address: a nack lowers our
                    // Lifeguard score, and anyone holding the key could
                    // send one naming any member.
                    if !member || !self.prober.on_nack(seq, &packet.from) {
                        self.drop_input(DropReason::Unsolicited, from, "nack");
                    }
                }
                Msg::PingReq {
                    seq,
                    target,
                    want_nack,
                    ..
                } => {
                    // Only a member we know, at the address we hold: never
                    // an address the packet names. One we hold dead is
                    // pinged too: after a partition heals, the requester may
                    // know it is back before we do.
                    let to = (target != *self.view.local())
                        .then(|| self.view.members().get(&target))
                        .flatten()
                        .map(|e| e.addr());
                    let Some(to) = to else {
                        self.drop_input(DropReason::UnknownTarget, from, "ping-req");
                        continue;
                    };
                    // One indirect probe a packet (a member asks one relay
                    // per probe): twelve in one datagram drew 2.5-3x its
                    // size from this node and the targets together.
                    if relayed {
                        self.drop_input(DropReason::Busy, from, "a second ping-req in a packet");
                        continue;
                    }
                    relayed = true;
                    match self.prober.relay(seq, from, want_nack, !member) {
                        Some(own) => {
                            let at = self.now + probe::relay_wait(&self.config);
                            self.timers
                                .schedule(at, Deadline::RelayTimeout { seq: own });
                            let ping = [Msg::Ping { seq: own, target }];
                            let head = Head {
                                messages: &ping,
                                buddy: None,
                            };
                            if member {
                                self.send_with(to, head);
                            } else {
                                self.send_paid(to, Source::of(from), head);
                                // The target's ack comes to us because of
                                // this requester: its credit pays for it too.
                                let ack = self.bare_len(&[Msg::Ack { seq: u32::MAX }]);
                                let _ = self.sources.spend(Source::of(from), ack, self.now);
                            }
                        }
                        None => self.drop_input(DropReason::Busy, from, "ping-req"),
                    }
                }
            }
        }
    }

    /// Applies the updates of one packet or frame heard from the network,
    /// in order: `News` by gossip, `Repair` from a peer's full state. Each
    /// is bounded by what was held before the packet (see [`View::begin`]).
    ///
    /// `admit` says how many new members it may add (see [`Admit`]).
    fn apply_all(&mut self, updates: Vec<Update>, priority: Priority, admit: Admit) {
        /// Updates looked up at once: enough to overlap the misses, on the stack.
        const BATCH: usize = 64;
        if updates.is_empty() {
            return;
        }
        let (now, interval) = (self.now, self.config.probe_interval);
        // What may be added, and whether the share (of the source, or of
        // exchanges) rather than `most` is what binds.
        let (allowed, by_share) = match &admit {
            Admit::Seed => (usize::MAX, false),
            Admit::Exchange(_) => {
                let share = self.sources.exchange_members_allowed(now, interval) as usize;
                (share, true)
            }
            Admit::Source(h) => {
                let share = self
                    .sources
                    .members_allowed(Source::of(h.from), now, interval);
                let share = share as usize;
                (share.min(h.most), share < h.most)
            }
        };
        let hearsay = match &admit {
            Admit::Source(h) | Admit::Exchange(h) => Some(h),
            Admit::Seed => None,
        };
        let mut room = allowed;
        let mut direct = match &admit {
            Admit::Exchange(h) if h.vouched => EXCHANGE_TAKEN_AT_ITS_WORD,
            _ => 0,
        };
        let refused = self.metrics.members_refused;
        // A verdict is said to come from the sender only when it is a
        // member at its own address (a packet's name is anyone's to write).
        self.view
            .begin(hearsay.filter(|h| h.vouched).map(|h| h.sender.clone()));
        let mut rest = updates.into_iter();
        while rest.len() > 0 {
            let n = rest.len().min(BATCH);
            let mut slots = [None; BATCH];
            self.view.lookup(&rest.as_slice()[..n], &mut slots[..n]);
            for (u, slot) in rest.by_ref().take(n).zip(slots) {
                if u.name == *self.view.local() {
                    self.about_self(&u);
                    continue;
                }
                // Alive news of a name the table does not hold (an earlier
                // update of the batch may have added it since the lookup).
                let new = u.status == Status::Alive
                    && slot.is_none()
                    && self.view.members().slot(&u.name).is_none();
                if new && hearsay.is_some_and(|h| !h.first_hand(&u)) {
                    if direct > 0 {
                        // A known member's answer: the first few are taken
                        // at its word (a join wave's catch-ups bring
                        // hundreds; checking all slowed a 1,000-node join
                        // from 3.9 to 7.2 s), the rest checked.
                        direct -= 1;
                    } else {
                        let vouched = hearsay.is_some_and(|h| h.vouched);
                        self.hearsay(u, priority, vouched, false, &mut room);
                        continue;
                    }
                }
                // A known member said to be at another address within its
                // life, by anyone but itself from there: checked at the new
                // address first (a forged move would point every node's
                // probes at a victim, or hand the member's name to whoever
                // is there), never through relays (they hold the old one).
                if hearsay.is_some_and(|h| !h.first_hand(&u)) && self.view.moves(&u, slot) {
                    let vouched = hearsay.is_some_and(|h| h.vouched);
                    self.hearsay(u, priority, vouched, true, &mut room);
                    continue;
                }
                let name = (new && self.candidates.len() > 0).then(|| (u.name.clone(), u.addr));
                let applied = self
                    .view
                    .apply(u, slot, priority, &mut room, effects!(self));
                self.applied(applied);
                // Taken at its own word or from a full state: no longer a
                // candidate.
                if let Some((name, addr)) = name {
                    self.candidates.drop_name(&name, addr);
                }
            }
        }
        self.view.end();
        let added = u32::try_from(allowed.saturating_sub(room)).unwrap_or(u32::MAX);
        match &admit {
            Admit::Seed => {}
            Admit::Exchange(_) => self.sources.exchange_members_added(added, now, interval),
            Admit::Source(h) => {
                self.sources
                    .members_added(Source::of(h.from), added, now, interval);
            }
        }
        let refused = self.metrics.members_refused - refused;
        if by_share && room == 0 && refused > 0 {
            self.metrics.members_capped += refused;
            tracing::debug!(node = %self.view.local(), ?admit, refused, "new members beyond their share");
        }
    }

    /// What applying an update did beyond the view: a restart resets the
    /// member's namespace; a revival may pull its state.
    fn applied(&mut self, applied: Option<Applied>) {
        match applied {
            Some(Applied::Restarted(member, life)) if self.replicas.new_life(&member, life) => {
                self.out.event(Event::NamespaceReset { member });
            }
            Some(Applied::Revived(addr, moved)) => self.revived(addr, moved),
            Some(Applied::LivesDiffer(addr, u)) => self.lives_differ(addr, &u),
            Some(Applied::Restarted(..)) | None => {}
        }
    }

    /// A peer's full state holds a member alive at our incarnation in
    /// another life (see [`Applied::LivesDiffer`]): the member hears of
    /// it (the update we do not hold, straight to the address we hold it
    /// at) and outbids the life that is not its own. At most one such
    /// notice per probe interval, node-wide.
    fn lives_differ(&mut self, addr: SocketAddr, u: &Update) {
        let every = self.config.probe_interval;
        if self.lives_told_at.is_some_and(|at| self.now < at + every) {
            return;
        }
        self.lives_told_at = Some(self.now);
        self.metrics.lives_differ += 1;
        tracing::debug!(node = %self.view.local(), member = %u.name, incarnation = u.incarnation, "two lives of a member at one incarnation: telling it");
        let head = Head {
            messages: &[],
            buddy: Some(u),
        };
        self.send_with(addr, head);
    }

    /// Alive news `u` of a name the table does not hold (or of a member at
    /// another address), from someone other than that member: a candidate
    /// (see [`crate::candidate`]), charged to the news's source (`room`),
    /// pinged once the input's news is applied. `vouched`: a member at its
    /// own address told it; `direct_only`: a move, never checked through
    /// relays.
    fn hearsay(
        &mut self,
        u: Update,
        priority: Priority,
        vouched: bool,
        direct_only: bool,
        room: &mut usize,
    ) {
        if self.candidates.contains(&u.name, u.addr) {
            // Already being checked: nothing more to charge or send.
            return;
        }
        let known = self.view.members().get(&u.name).is_some();
        if *room == 0 || !known && self.view.members().len() >= self.config.max_members {
            self.metrics.members_refused += 1;
            return;
        }
        *room -= 1;
        let seq = self.prober.next_seq();
        let name = u.name.clone();
        let interval = self.config.probe_interval;
        let told = crate::candidate::Told {
            vouched,
            direct_only,
        };
        let inserted = (self.candidates).insert(u, priority, seq, told, self.now, interval);
        match inserted {
            Inserted::Waiting => return,
            Inserted::Busy => {
                // Not charged to the source: nothing was taken in.
                *room += 1;
                self.metrics.candidates_refused += 1;
                return;
            }
            Inserted::Evicted => self.metrics.candidates_evicted += 1,
            Inserted::Added => {}
        }
        self.metrics.candidates += 1;
        tracing::trace!(node = %self.view.local(), member = %name, vouched, "a member heard of: checking it");
        self.unpinged.push(seq);
        let at = self.now + self.config.probe_timeout;
        self.timers.schedule(at, Deadline::Candidate { seq });
    }

    /// Pings the candidates of the input being handled (one datagram
    /// each, carrying nothing but the ping), as far as `pay` covers them
    /// (with their indirect stage, or they get none); the others are
    /// dropped until news names them again (see [`crate::candidate`]).
    fn ping_candidates(&mut self, pay: Pay) {
        if self.unpinged.is_empty() {
            return;
        }
        let own = self.view.local_entry().addr();
        let mut budget = match pay {
            Pay::Bytes(b) => b,
            Pay::Credit(..) => 0,
        };
        let mut indirect = Vec::new();
        for seq in core::mem::take(&mut self.unpinged) {
            let Some(c) = self.candidates.get(seq) else {
                continue; // admitted or evicted since
            };
            let (to, target) = (c.update.addr, c.update.name.clone());
            // Relays check only news a member vouched for, and never a move
            // (they hold the old address).
            let vouched = c.vouched && !c.direct_only;
            if to == own {
                self.metrics.candidates_unpinged += 1;
                continue;
            }
            // The indirect stage, should the ping go unanswered: a
            // ping-req to each relay.
            let req = if vouched {
                let req = Msg::PingReq {
                    seq,
                    target: target.clone(),
                    target_addr: to,
                    want_nack: false,
                };
                self.bare_len(&[req])
            } else {
                0
            };
            let bytes = self.bare(&[Msg::Ping { seq, target }]);
            let paid = match pay {
                Pay::Credit(source, keep) => {
                    let left = self.sources.credit(source) as usize;
                    left >= bytes.len().saturating_add(keep)
                        && self.sources.spend(source, bytes.len(), self.now)
                }
                Pay::Bytes(_) => match budget.checked_sub(bytes.len()) {
                    Some(left) => {
                        budget = left;
                        true
                    }
                    None => false,
                },
            };
            if paid && vouched {
                indirect.push((seq, req));
            }
            if !paid {
                // Unpaid, it is not checked at all (not even by relays):
                // news that names it again pays for its check then.
                self.candidates.forget(seq);
                self.metrics.candidates_unpinged += 1;
                continue;
            }
            self.metrics.sent.count(Kind::Ping, bytes.len());
            self.out.push(Output::Datagram { to, bytes });
        }
        // The ping-reqs of the indirect stage are paid from what the pings
        // left, as many as it covers (up to `indirect_checks`). A member's
        // news of made-up names drew 6.8x its size in pings and ping-reqs
        // when they were free (2.3x with one free a packet); a short
        // packet's newcomer that no relay checks is admitted when it
        // answers the ping, speaks to this node, or comes in a full state.
        if let Pay::Bytes(_) = pay {
            for (seq, req) in indirect {
                let relays = (budget / req.max(1)).min(self.config.indirect_checks);
                budget -= relays * req;
                self.candidates.pay_relays(seq, relays);
            }
        }
    }

    /// The size of [`bare`](Self::bare)`(messages)`, without sealing it.
    fn bare_len(&mut self, messages: &[Msg]) -> usize {
        let len = self.bare_plain(messages).len();
        if self.seals() {
            len + seal::overhead(&self.config.cluster, len)
        } else {
            len
        }
    }

    /// A datagram of `messages` alone (no piggybacked gossip), sealed when
    /// this node seals.
    fn bare(&mut self, messages: &[Msg]) -> Bytes {
        let plain = self.bare_plain(messages);
        self.seal(plain)
    }

    /// A datagram of `messages` alone, plain.
    fn bare_plain(&mut self, messages: &[Msg]) -> Bytes {
        let summary = self.summary();
        let live = gossip::view_size(self.view.members());
        let mut w = codec::PacketWriter::new(
            &mut self.scratch,
            &self.config.cluster,
            self.view.local(),
            live,
            summary,
        );
        for m in messages {
            w.message(m);
        }
        w.finish()
    }

    /// A candidate was seen (a packet of its own from the address its news
    /// gave) or a relay passed back its ack: it joins the table, and its
    /// alive is gossiped on.
    fn admit(&mut self, c: Candidate) {
        self.metrics.candidates_verified += 1;
        tracing::trace!(node = %self.view.local(), member = %c.update.name, stage = ?c.stage, "a member heard of answered: admitted");
        let mut room = 1;
        self.view.begin(None);
        let slot = self.view.members().slot(&c.update.name);
        let applied = (self.view).apply(c.update, slot, c.priority, &mut room, effects!(self));
        self.view.end();
        self.applied(applied);
    }

    /// The check of candidate `seq` ran out of time: members are asked to
    /// ping-req it (when a member's news named it, and only once), or it is
    /// forgotten without a word.
    fn on_candidate_timeout(&mut self, seq: u32) {
        let Some(c) = self.candidates.get(seq) else {
            return;
        };
        let (stage, paid, heard) = (c.stage, c.indirect, c.heard);
        let (target, target_addr) = (c.update.name.clone(), c.update.addr);
        let relays = if stage == Stage::Direct && paid > 0 && !self.is_leaving() {
            let me = self.view.local();
            (self.view.members()).sample(
                paid,
                &mut self.rng,
                |e| e.status() == Status::Alive,
                &[me],
            )
        } else {
            Vec::new()
        };
        if relays.is_empty() {
            self.candidates.forget(seq);
            self.metrics.candidates_forgotten += 1;
            tracing::trace!(node = %self.view.local(), member = %target, "a member heard of never answered: forgotten");
            return;
        }
        for relay in &relays {
            let Some(to) = self.view.members().get(relay).map(|e| e.addr()) else {
                continue;
            };
            let req = Msg::PingReq {
                seq,
                target: target.clone(),
                target_addr,
                want_nack: false,
            };
            self.send(to, &[req]);
        }
        self.candidates.asked(seq, relays);
        let at =
            (heard + self.config.probe_interval).max(self.now + probe::relay_wait(&self.config));
        self.timers.schedule(at, Deadline::Candidate { seq });
    }

    /// A query heard (in a packet from `from`): pass it on, carry it out,
    /// answer its origin at its membership address. Ignored when seen
    /// before or stale (see [`crate::query`]).
    fn on_query(&mut self, q: query::Query, from: SocketAddr, before: u64, via: query::Via) {
        // Passed on only sealed: a node at `accept` sends plain, and a
        // query may carry a key.
        let pass_on = self.seals();
        let Some(member) = self.heard_query(false, &q, from, before, via, pass_on) else {
            return;
        };
        let Some(op) = q.body.keys() else {
            return;
        };
        let refused = self.carry_out(op, q.clock);
        let answer = query::encode_answer(q.id, &self.keyring, refused, self.config.sealing);
        self.answer_origin(false, &q.origin, q.origin_addr, q.timeout, member, answer);
    }

    /// A user query heard (in a packet from `from`): passed on whatever
    /// its filters say; when this node matches them, acked (if the origin
    /// asked) and handed to the application (see [`crate::user_query`]).
    fn on_user_query(&mut self, q: query::Query, from: SocketAddr, before: u64, via: query::Via) {
        // Passed on only where it is not sent plain when it came sealed.
        let pass_on = self.seals() || self.keyring.is_empty();
        let Some(member) = self.heard_query(true, &q, from, before, via, pass_on) else {
            return;
        };
        let query::Body::User(uq) = q.body else {
            return;
        };
        let local = self.view.local().clone();
        if !uq.matches(&local, |k| self.get(&local, k).map(|(v, _)| v)) {
            return;
        }
        if uq.want_ack {
            let ack = user_query::encode_reply(q.id, true, &[], &local);
            let relays = if member { uq.relay_factor } else { 0 };
            self.relay_answer(&q.origin, &ack, relays);
            self.answer_origin(true, &q.origin, q.origin_addr, q.timeout, member, ack);
        }
        let asked = user_query::Asked {
            origin_addr: q.origin_addr,
            relay_factor: uq.relay_factor,
            until: self.now + q.timeout.max(user_query::MIN_RESPONSE_WINDOW),
            member,
        };
        self.asked.insert(q.origin.clone(), q.id, asked);
        self.out.event(Event::Query {
            origin: q.origin,
            id: q.id,
            name: uq.name,
            payload: uq.payload,
            timeout: q.timeout,
        });
    }

    /// A query heard, of a key operation or (`user`) a user query: `None`
    /// when it is ours, seen before, stale or implausible (counted and
    /// traced); else whether its origin is a member we hold at the address
    /// the query names (it takes precedence over made-up origins to be
    /// passed on, and its answer goes at once).
    fn heard_query(
        &mut self,
        user: bool,
        q: &query::Query,
        from: SocketAddr,
        before: u64,
        via: query::Via,
        pass_on: bool,
    ) -> Option<bool> {
        if q.origin == *self.view.local() {
            return None;
        }
        let member = (self.view.members().get(&q.origin))
            .is_some_and(|e| e.status().is_live() && e.addr() == q.origin_addr);
        let local = self.view.local();
        let queries = if user {
            &mut self.user_queries
        } else {
            &mut self.queries
        };
        match queries.heard(q, pass_on, before, member, via) {
            query::Heard::Again => return None,
            query::Heard::Stale => {
                self.metrics.queries_stale += 1;
                tracing::debug!(node = %local, %from, origin = %q.origin, clock = q.clock, "a query older than the clock this node learned: ignored");
                return None;
            }
            query::Heard::Implausible => {
                self.drop_input(DropReason::Implausible, from, "query clock");
                return None;
            }
            query::Heard::New { refused: true } => {
                self.metrics.queries_refused += 1;
                tracing::debug!(node = %local, %from, origin = %q.origin, "too many queries waiting to pass on: not passed on");
            }
            query::Heard::New { refused: false } => {}
        }
        Some(member)
    }

    /// Sends an answer to a query of `origin`'s (a user query's when
    /// `user`): at once when its origin is a `member` at `origin_addr`, the
    /// address the query names; else held until it is (a restarted origin
    /// speaks from a new address before this node heard it moved), or its
    /// time is up.
    fn answer_origin(
        &mut self,
        user: bool,
        origin: &Name,
        origin_addr: SocketAddr,
        timeout: Duration,
        member: bool,
        answer: Vec<u8>,
    ) {
        if member {
            return self.send_answer(origin_addr, &answer);
        }
        let known = (self.view.members().get(origin)).is_some_and(|e| e.status().is_live());
        let unsent = query::Unsent {
            member: known,
            origin: origin.clone(),
            origin_addr,
            answer,
            until: self.now + timeout.min(self.config.probe_interval * query::ANSWER_HOLD_PROBES),
        };
        let queries = if user {
            &mut self.user_queries
        } else {
            &mut self.queries
        };
        if queries.hold_answer(unsent.clone()) {
            self.timers.schedule(unsent.until, Deadline::AnswerDue);
        } else {
            self.answer_late(unsent);
        }
    }

    /// Sends a user query's answer through `k` random live members too,
    /// which forward it to `origin`'s membership address (Serf's relays).
    fn relay_answer(&mut self, origin: &Name, answer: &[u8], k: u8) {
        if k == 0 {
            return;
        }
        let me = self.view.local();
        let relays = (self.view.members()).sample(
            usize::from(k),
            &mut self.rng,
            |e| e.status() == Status::Alive,
            &[me, origin],
        );
        let relayed = user_query::encode_relayed(origin, answer);
        for relay in relays {
            let Some(to) = self.view.members().get(&relay).map(|e| e.addr()) else {
                continue;
            };
            self.send_raw(to, |w| w.relayed(&relayed));
        }
    }

    /// Answers to forward (from a packet from `from`): each to its origin's
    /// membership address when the origin is a live member, at most
    /// [`user_query::MAX_RELAYED`] of one packet; the rest dropped.
    fn forward_relayed(&mut self, relayed: Vec<user_query::Relayed>, from: SocketAddr) {
        for (i, r) in relayed.into_iter().enumerate() {
            let to = (self.view.members().get(&r.origin))
                .filter(|e| e.status().is_live() && r.origin != *self.view.local())
                .map(|e| e.addr());
            match to {
                Some(to) if i < user_query::MAX_RELAYED => self.send_answer(to, &r.answer),
                _ => {
                    tracing::trace!(node = %self.view.local(), %from, origin = %r.origin, "an answer to relay to no live member, or too many in one packet: dropped");
                }
            }
        }
    }

    /// Sends the held answers whose origins are now members at the
    /// addresses their queries name, and those whose time is up (see
    /// [`answer_late`](Node::answer_late)).
    fn send_held_answers(&mut self) {
        if !self.queries.holds_answers() && !self.user_queries.holds_answers() {
            return;
        }
        let members = self.view.members();
        let at_home = |u: &query::Unsent| {
            (members.get(&u.origin))
                .is_some_and(|e| e.status().is_live() && e.addr() == u.origin_addr)
        };
        let mut due = self.queries.take_answers(self.now, at_home);
        due.extend(self.user_queries.take_answers(self.now, at_home));
        for (unsent, ready) in due {
            if ready {
                self.send_answer(unsent.origin_addr, &unsent.answer);
            } else {
                self.answer_late(unsent);
            }
        }
    }

    /// An answer whose origin never showed at the address its query names:
    /// only to the origin's membership address as this node holds it,
    /// never to an address the query names; dropped (and counted) when the
    /// origin is not a live member.
    fn answer_late(&mut self, unsent: query::Unsent) {
        let to = (self.view.members().get(&unsent.origin))
            .filter(|e| e.status().is_live())
            .map(|e| e.addr());
        let Some(to) = to else {
            self.metrics.queries_unanswered += 1;
            tracing::debug!(node = %self.view.local(), origin = %unsent.origin, "a query whose origin this node does not know: not answered");
            return;
        };
        self.send_answer(to, &unsent.answer);
    }

    /// Sends an encoded answer to `to`.
    fn send_answer(&mut self, to: SocketAddr, answer: &[u8]) {
        self.send_raw(to, |w| w.answer(answer));
    }

    /// Sends a datagram of what `write` puts after the header, sealed
    /// whenever this node holds a key.
    fn send_raw(&mut self, to: SocketAddr, write: impl FnOnce(&mut codec::PacketWriter<'_>)) {
        let summary = self.summary();
        let live = gossip::view_size(self.view.members());
        let local = self.view.local();
        let mut w = codec::PacketWriter::new(
            &mut self.scratch,
            &self.config.cluster,
            local,
            live,
            summary,
        );
        write(&mut w);
        let plain = w.finish();
        // Sealed even at `accept` when this node holds a key: a key
        // operation's origin seals, so it opens sealed traffic, and only a
        // sealed answer counts there.
        let bytes = self.seal_always(plain);
        self.metrics.sent.count(Kind::Gossip, bytes.len());
        self.out.push(Output::Datagram { to, bytes });
    }

    /// Carries out a key operation (stamped `stamp` by its origin) on our
    /// keyring, or our sealing step; why it was refused.
    fn carry_out(&mut self, op: &KeyringOp, stamp: u64) -> Option<String> {
        if let KeyringOp::Sealing(step) = op {
            return self.move_sealing(*step, stamp);
        }
        match op.apply(&mut self.keyring) {
            Ok(changed) => {
                if changed {
                    tracing::info!(node = %self.view.local(), ?op, "keyring changed");
                    self.out.event(Event::KeyringChanged);
                }
                None
            }
            Err(e) => Some(e.to_string()),
        }
    }

    /// The query clock is not learned yet though this node seals: one
    /// exchange with a live member, drawn at random (rate-limited as a
    /// catch-up). Its frames come sealed both ways (a node answers a
    /// sealed frame sealed, whatever its step), so both sides learn.
    fn learn_clock(&mut self) {
        if self.queries.learned() || !self.seals() {
            return;
        }
        let me = self.view.local();
        let peer =
            (self.view.members()).sample(1, &mut self.rng, |e| e.status() == Status::Alive, &[me]);
        let to = peer
            .first()
            .and_then(|p| self.view.members().get(p))
            .map(|e| e.addr());
        if let Some(to) = to {
            tracing::debug!(node = %self.view.local(), %to, "sealing without the query clock: pulling state to learn it");
            self.catch_up(to, Reason::CatchUp, true);
        }
    }

    /// A cluster sealing operation (stamped `stamp`): moves this node to
    /// `step`; why it was refused.
    fn move_sealing(&mut self, step: Sealing, stamp: u64) -> Option<String> {
        let from = self.config.sealing;
        if self.keyring.is_empty() {
            // Not reached from the network (the operation came sealed).
            return Some("this member holds no key".into());
        }
        if step == Sealing::Accept {
            return Some("no key operation moves a member to `accept`".into());
        }
        if from == Sealing::Accept {
            return Some(format!(
                "this member is at sealing step `accept` (it sends plain): move it to `send` with its own \
                 config (sealing = \"send\", then SIGHUP or a restart) before `{}`",
                step.as_str()
            ));
        }
        if stamp < self.sealing_stamp {
            tracing::debug!(node = %self.view.local(), stamp, set_at = self.sealing_stamp, "a sealing operation older than this node's step: refused");
            return Some(format!(
                "this member's sealing step was set (to `{}`) after this operation started: kept",
                from.as_str()
            ));
        }
        self.sealing_stamp = stamp;
        if from != step {
            self.config.sealing = step;
            tracing::info!(node = %self.view.local(), from = from.as_str(), to = step.as_str(), "sealing step moved by a key operation");
            self.out.event(Event::SealingChanged { from, to: step });
        }
        None
    }

    /// User events heard (in a packet or a full-state frame from `from`):
    /// each new one delivered once and passed on (see
    /// [`crate::user_event`]). A node that set out to join delivers none
    /// before its first exchange taught it the event clock: they were
    /// fired before it joined (a restarted process would replay them).
    fn hear_events(&mut self, events: Vec<user_event::UserEvent>, from: SocketAddr) {
        let local = self.view.local();
        if !self.user_events.delivers() && !self.exchanges.founder() {
            tracing::trace!(node = %local, %from, n = events.len(), "user events before the join taught the event clock: ignored");
            return;
        }
        // Passed on only where it is not sent plain when it came sealed.
        let pass_on = self.seals() || self.keyring.is_empty();
        let before = self.user_events.clock();
        for e in events {
            // Under our own name but not fired by this process (it
            // remembers what it fired): an earlier life's, which that life
            // delivered (a seed cut off while it spread teaches a floor
            // below it).
            if e.origin == *self.view.local() && !self.user_events.fired_here(&e) {
                self.metrics.events_old += 1;
                continue;
            }
            match self.user_events.heard(&e, pass_on, before) {
                user_event::Heard::New { refused } => {
                    if refused && pass_on {
                        self.metrics.events_refused += 1;
                    }
                    self.deliver(e);
                }
                user_event::Heard::Again => {}
                user_event::Heard::Old => {
                    self.metrics.events_old += 1;
                    tracing::trace!(node = %self.view.local(), %from, origin = %e.origin, clock = e.clock, "a user event older than this node's floor: ignored");
                }
                user_event::Heard::Implausible => {
                    self.drop_input(DropReason::Implausible, from, "user event clock");
                }
            }
        }
    }

    /// Delivers a user event to the application.
    fn deliver(&mut self, e: user_event::UserEvent) {
        self.metrics.events_delivered += 1;
        self.out.event(Event::User {
            origin: e.origin,
            name: e.name,
            payload: e.payload,
            clock: e.clock,
            coalesce: e.coalesce,
        });
    }

    /// An answer to one of our queries (ours included).
    fn on_answer(&mut self, from: &Name, a: query::Answer) {
        if let Some(reply) = a.user {
            return self.on_user_answer(a.id, reply);
        }
        if !self.queries.answered(a.id, from) {
            return;
        }
        self.out.event(Event::KeyAnswer {
            query: a.id,
            member: from.clone(),
            keys: a.keys,
            refused: a.refused,
            sealing: a.sealing,
        });
    }

    /// Someone speaks about this node: refute, or insist on `left`.
    fn about_self(&mut self, u: &Update) {
        // An alive of another life under our name (a restart's stale word,
        // or a forged one) makes replicas drop our namespace when they take
        // it: answered, once refuted, like any claim about our keys.
        let foreign = u.status == Status::Alive && u.life != 0 && u.life != self.life();
        if u.life != 0 && u.life != self.life() {
            // An earlier life of our name: this process restarted, and
            // that life may have delivered events its seed never heard of
            // (see `UserEvents::restarted`).
            self.user_events.restarted();
        }
        match self.view.about_self(u, self.is_leaving(), self.now) {
            None => {}
            Some(Answer::StillLeaving) => self.leave = Leave::Announcing,
            Some(Answer::Implausible) => self.metrics.dropped.count(DropReason::Implausible),
            Some(Answer::Adopted) => {
                tracing::debug!(node = %self.view.local(), incarnation = u.incarnation, "adopted a higher incarnation heard about this node");
            }
            Some(Answer::SteppedDown { incarnation }) => {
                tracing::debug!(node = %self.view.local(), incarnation, "an accuser lags far behind: gossiping an alive it can take");
                // Gossip of it may be overtaken by our own next refutation
                // (one queued update per member): the accuser, the one
                // that lags, gets it at once.
                let to = (self.view.members().get(&u.accuser)).map(|e| e.addr());
                if let Some(to) = to {
                    let mut alive = Update::of(self.view.local_entry(), &Name::EMPTY);
                    alive.incarnation = incarnation;
                    let head = Head {
                        messages: &[],
                        buddy: Some(&alive),
                    };
                    self.send_with(to, head);
                }
            }
            Some(Answer::CannotRefute { incarnation }) => {
                self.metrics.unrefutable += 1;
                tracing::warn!(node = %self.view.local(), incarnation, "accused at an incarnation this node cannot outbid");
                self.out.event(Event::CannotRefute { incarnation });
            }
            Some(Answer::Conflict { addr }) => {
                self.metrics.refutations += 1;
                self.metrics.claims += 1;
                self.claims.pending = true;
                self.metrics.conflicts += 1;
                tracing::warn!(node = %self.view.local(), %addr, "another live process uses this node's name");
                self.out.event(Event::NameConflict { addr });
            }
            Some(Answer::Refuted { accused }) => {
                self.metrics.refutations += 1;
                if foreign {
                    self.metrics.claims += 1;
                    self.claims.pending = true;
                }
                if accused {
                    // Being suspected is a hint that we are the slow one
                    // (Lifeguard), counted once per shortest suspicion
                    // timeout: forged suspicions cannot pin the score.
                    let window = self.config.probe_interval * self.config.suspicion_mult;
                    self.awareness.accused(self.now, window);
                }
            }
        }
    }

    /// Sends `messages` to `to`, filling the rest of the packet with queued
    /// updates. With no messages (a gossip round), nothing is sent unless at
    /// least one update is pending. Returns whether a packet went out.
    fn send(&mut self, to: SocketAddr, messages: &[Msg]) -> bool {
        self.send_with(
            to,
            Head {
                messages,
                buddy: None,
            },
        )
    }

    /// Whether a member was heard lately (see `probe::Answered`), judged
    /// over the probe period as Lifeguard stretched it.
    fn hears(&self) -> bool {
        let period = self.awareness.scale(self.config.probe_interval);
        self.prober.hears(period, self.now)
    }

    /// Sends a datagram that starts with `head` (see [`send`](Self::send)).
    fn send_with(&mut self, to: SocketAddr, head: Head<'_>) -> bool {
        let max = self.budget(self.config.max_packet_size);
        self.send_limited(to, head, max).is_some()
    }

    /// Answers the source of a packet at `to` with `messages`: in full to
    /// a member at its own address, otherwise as far as the source's
    /// reply credit pays (see [`send_paid`](Self::send_paid)).
    fn reply(&mut self, to: SocketAddr, paid: bool, messages: &[Msg]) {
        let head = Head {
            messages,
            buddy: None,
        };
        if paid {
            self.send_paid(to, Source::of(to), head);
        } else {
            self.send_with(to, head);
        }
    }

    /// Sends a datagram drawn by a packet from `payer` (not a member at
    /// its own address) to `to`: no bigger than `payer`'s reply credit,
    /// which pays for it; withheld, and counted, when the credit does not
    /// cover its messages.
    fn send_paid(&mut self, to: SocketAddr, payer: Source, head: Head<'_>) {
        let credit = self.sources.credit(payer) as usize;
        let max = self.budget(credit.min(self.config.max_packet_size));
        match self.send_limited(to, head, max) {
            Some(sent) => {
                self.sources.spend(payer, sent, self.now);
            }
            None => {
                self.metrics.replies_capped += 1;
                tracing::debug!(node = %self.view.local(), %to, credit, "reply withheld: beyond its source's credit");
            }
        }
    }

    /// Sends a datagram that starts with `head`, of at most `max` plain
    /// bytes; the bytes sent, or `None` when nothing was.
    fn send_limited(&mut self, to: SocketAddr, head: Head<'_>, max: usize) -> Option<usize> {
        let spreading = gossip::Spreading {
            replicas: &mut self.replicas,
            queries: &mut self.queries,
            user_queries: &mut self.user_queries,
            events: &mut self.user_events,
        };
        let p = gossip::packet(
            &mut self.view,
            spreading,
            &self.config,
            max,
            head,
            &mut self.scratch,
        )?;
        self.metrics.updates_sent += p.updates as u64;
        self.metrics.deltas_sent += p.deltas as u64;
        debug_assert!(
            self.seals() || self.queries.pending() == 0,
            "a query would go out plain"
        );
        let bytes = self.seal(p.bytes);
        let sent = bytes.len();
        self.metrics.sent.count(p.kind, sent);
        self.out.push(Output::Datagram { to, bytes });
        if p.updates > 0 {
            self.check_leave_completed();
        }
        Some(sent)
    }

    /// Emits [`Event::LeaveCompleted`] once our `left` is no longer queued.
    fn check_leave_completed(&mut self) {
        if self.leave == Leave::Announcing
            && (self.view.members().live() == 0 || !self.view.own_update_pending())
        {
            self.leave = Leave::Completed;
            self.out.event(Event::LeaveCompleted);
        }
    }

    // ---- timers

    /// The start of a protocol period: conclude the last probe, start the next.
    fn on_probe_tick(&mut self) {
        self.answer_claims();
        let grace = self.config.tombstone_grace;
        if let Some(before) = self.now.as_micros().checked_sub(grace.as_micros() as u64) {
            self.replicas.collect(Instant::from_micros(before));
        }
        if let Some(failed) = self.prober.conclude() {
            // Without nacks, a failed probe is one miss whatever the relays did.
            let health = if self.config.nack { failed.health } else { 1 };
            self.awareness.apply(health);
            self.metrics.probe_failures += 1;
            self.view
                .suspect(&failed.target, failed.incarnation, effects!(self));
        }
        let now = self.now;
        // Lifeguard stretches the period of a node whose own links look
        // bad; one that hears nobody has no such evidence (see
        // `probe::Answered`) and probes at the normal pace.
        let hears = self.hears();
        let stretch = |d| if hears { self.awareness.scale(d) } else { d };
        let interval = stretch(self.config.probe_interval);
        self.timers.set(Periodic::Probe, now + interval);
        let quiet = (self.prober.take_quiet()).filter(|q| {
            q != self.view.local()
                && self
                    .view
                    .members()
                    .get(q)
                    .is_some_and(|e| e.status().is_live())
        });
        let Some(target) = quiet.or_else(|| self.view.next_probe_target(&mut self.rng)) else {
            return;
        };
        let Some(entry) = self.view.members().get(&target) else {
            return;
        };
        let (addr, incarnation) = (entry.addr(), entry.incarnation);
        let seq = self.prober.start(target.clone(), incarnation, now);
        self.metrics.probes += 1;
        let timeout = stretch(self.config.probe_timeout);
        self.timers
            .schedule(now + timeout, Deadline::ProbeTimeout { seq });
        // Lifeguard's buddy system: the probe of a member we suspect tells it.
        let buddy = self
            .config
            .buddy
            .then(|| self.view.suspicion_of(&target))
            .flatten();
        let messages = [Msg::Ping { seq, target }];
        let head = Head {
            messages: &messages,
            buddy: buddy.as_ref(),
        };
        self.send_with(addr, head);
    }

    /// Our own unconfirmed suspicion of `target` ran out: ping it once more,
    /// the suspicion attached, before it is declared dead.
    fn last_word(&mut self, addr: SocketAddr, target: Name) {
        let buddy = self.view.suspicion_of(&target);
        let messages = [Msg::Ping {
            seq: self.prober.recheck(),
            target,
        }];
        let head = Head {
            messages: &messages,
            buddy: buddy.as_ref(),
        };
        self.send_with(addr, head);
    }

    /// Pings `member`, one of many back at once: its answer, from its own
    /// address, confirms a heal (see [`crate::heal`]).
    fn check_heal(&mut self, member: Name) {
        let Some(addr) = self.view.members().get(&member).map(|e| e.addr()) else {
            return;
        };
        // Bare, like a candidate's check: gossip keeps to its own rounds.
        let seq = self.prober.recheck();
        let bytes = self.bare(&[Msg::Ping {
            seq,
            target: member,
        }]);
        self.metrics.sent.count(Kind::Ping, bytes.len());
        self.out.push(Output::Datagram { to: addr, bytes });
    }

    /// Member `member` moved away from `from`: a ping to `from` carrying
    /// its new alive. If the member still runs there, the move was forged
    /// (it was checked only at the new address, where anyone may answer):
    /// its ack, from the address it was trusted at, moves it back here
    /// (`View::spoke_at_home`), and it outbids the alive (at its conflict
    /// pace: two processes under one name do not fight), which moves it
    /// back everywhere. Nobody there: one datagram lost.
    fn notify_move(&mut self, member: Name, from: SocketAddr) {
        let Some(update) = (self.view.members().get(&member))
            .filter(|e| e.addr() != from)
            .map(|e| crate::member::Update::of(e, &Name::EMPTY))
        else {
            return;
        };
        let messages = [Msg::Ping {
            seq: self.prober.recheck(),
            target: member,
        }];
        let head = Head {
            messages: &messages,
            buddy: Some(&update),
        };
        let max = self.budget(self.config.max_packet_size);
        let max = max.min(self.bare_len(&messages) + 128);
        let _ = self.send_limited(from, head, max);
    }

    /// No direct ack in time: ask `indirect_checks` others to probe the target.
    fn on_probe_timeout(&mut self, seq: u32) {
        let Some(target) = self.prober.unacked(seq).cloned() else {
            return;
        };
        let members = self.view.members();
        let Some(addr) = members.get(&target).map(|e| e.addr()) else {
            return;
        };
        // A second path: the direct ping again, beside the relays'.
        self.retry_probe(seq, self.config.probe_retries);
        let members = self.view.members();
        let k = self.config.indirect_checks;
        let alive = |n: &Name| members.get(n).is_some_and(|e| e.status() == Status::Alive);
        // Members that answered us lately first: only their silence counts
        // against our own health (see `probe::Answered`); the rest at random.
        let answerers = self.prober.answerers(self.config.probe_interval, self.now);
        let mut relays: Vec<Name> = (answerers.into_iter())
            .filter(|n| **n != target && alive(n))
            .take(k)
            .cloned()
            .collect();
        let counted = relays.len();
        if counted < k {
            let mut skip: Vec<&str> = vec![self.view.local(), &target];
            skip.extend(relays.iter().map(|n| &**n));
            let more = members.sample(
                k - counted,
                &mut self.rng,
                |e| e.status() == Status::Alive,
                &skip,
            );
            relays.extend(more);
        }
        if relays.is_empty() {
            return;
        }
        self.metrics.indirect_probes += 1;
        for relay in &relays {
            let Some(relay_addr) = self.view.members().get(relay).map(|e| e.addr()) else {
                continue;
            };
            let req = Msg::PingReq {
                seq,
                target: target.clone(),
                target_addr: addr,
                want_nack: self.config.nack,
            };
            self.send(relay_addr, &[req]);
        }
        self.prober.set_relays(relays, counted);
    }

    /// Probe `seq` got no ack yet: ping its target directly once more
    /// and schedule the next of the `left` retries. Under independent
    /// loss one retry makes the direct exchange fail about as rarely as
    /// one ping-req's four legs do (1 in 100 at 5 % loss, not 1 in 10); a
    /// second one, spaced within the relays' wait, outlasts a short burst.
    /// A retry is the ping alone: it most often goes where the first ping
    /// was lost (a crashed or cut-off member), and gossip piggybacked
    /// there would spend retransmissions the cluster never receives.
    fn retry_probe(&mut self, seq: u32, left: u32) {
        if left == 0 {
            return;
        }
        let Some(target) = self.prober.unacked(seq).cloned() else {
            return;
        };
        let Some(to) = self.view.members().get(&target).map(|e| e.addr()) else {
            return;
        };
        self.metrics.probe_retries += 1;
        let bytes = self.bare(&[Msg::Ping { seq, target }]);
        self.metrics.sent.count(Kind::Ping, bytes.len());
        self.out.push(Output::Datagram { to, bytes });
        let left = left - 1;
        if left > 0 {
            // Spread over the relays' wait: the last retry's ack still
            // comes in before the probe concludes.
            let gap = probe::relay_wait(&self.config) / (self.config.probe_retries.max(1));
            self.timers
                .schedule(self.now + gap, Deadline::ProbeRetry { seq, left });
        }
    }

    fn on_relay_timeout(&mut self, seq: u32) {
        if let Some((requester, seq, paid)) = self.prober.relay_timed_out(seq) {
            self.reply(requester, paid, &[Msg::Nack { seq }]);
        }
    }

    /// One gossip round: pending updates to `fanout` random members, including
    /// members that died or left within `gossip_to_the_dead`.
    fn on_gossip_tick(&mut self) {
        let now = self.now;
        self.timers
            .set(Periodic::Gossip, now + self.config.gossip_interval);
        let user = self.user_events.pending() + self.user_queries.pending();
        if self.view.pending() == 0 && self.replicas.pending() == 0 && user == 0 {
            return;
        }
        let targets = gossip::round(
            self.view.members(),
            self.view.local(),
            &self.config,
            now,
            &mut self.rng,
        );
        for target in targets {
            let Some(addr) = self.view.members().get(&target).map(|e| e.addr()) else {
                continue;
            };
            if !self.send(addr, &[]) {
                break;
            }
        }
    }

    fn schedule_reconnect(&mut self) {
        if self.is_leaving() {
            return;
        }
        let first = self.timers.get(Periodic::Reconnect).is_none() && self.metrics.push_pulls == 0;
        let live = self.view.members().live();
        // 0: alone (see `Exchanges::schedule`).
        let alone = live <= 1 && self.view.members().dead() > 0;
        self.exchanges.schedule(
            first,
            if alone { 0 } else { live },
            &self.config,
            &mut self.timers,
            &mut self.rng,
            self.now,
        );
    }

    /// A reconnect attempt to one member held dead (not left): after a
    /// partition heals, this is how the two sides find each other again;
    /// the more of the table is dead, the likelier a draw finds one. There
    /// is no periodic exchange with live members: summaries tell when one
    /// is needed.
    fn on_reconnect_tick(&mut self) {
        self.schedule_reconnect();
        let members = self.view.members();
        if members.dead() == 0 {
            return;
        }
        let me = self.view.local();
        let dead = members.sample(1, &mut self.rng, |e| e.status() == Status::Dead, &[me]);
        for peer in dead {
            if let Some(addr) = self.view.members().get(&peer).map(|e| e.addr()) {
                self.open_exchange(addr, Reason::Reconnect, true);
            }
        }
    }

    fn on_join_retry(&mut self) {
        if self.is_leaving() {
            return;
        }
        for seed in self.exchanges.retry_join() {
            self.open_exchange(seed, Reason::Join, true);
        }
    }

    // ---- streams: push-pull exchanges

    /// A member held dead is alive again: after a partition heals, the two
    /// sides' keys differ wholesale. A few nodes (3 expected, whatever the
    /// cluster's size) pull its state at once; summaries repair the rest.
    /// `moved`: it came back at another address, which anyone may claim
    /// for a dead member: its answer is a stranger's (capped per source).
    fn revived(&mut self, addr: SocketAddr, moved: bool) {
        let live = self.view.members().live().max(1);
        if self.rng.below(live) < 3 {
            self.catch_up(addr, Reason::CatchUp, !moved);
        }
    }

    /// A lasting disagreement between our summary and a peer's opens one
    /// (rate-limited) exchange with it. Differences that gossip is still
    /// spreading settle within `settle`: about the retransmissions of one
    /// update.
    /// `vouched`: `from` is a member's own address.
    fn compare_summaries(&mut self, theirs: u64, from: SocketAddr, vouched: bool) {
        let c = &self.config;
        if c.reconnect_interval.is_zero() || self.is_leaving() {
            return;
        }
        let rounds = crate::retransmit_limit(c.retransmit_mult, self.view.members().live()) + 2;
        let settle = c.gossip_interval * rounds;
        let pause = c.probe_interval * 5;
        let ours = self.summary();
        if self.over_budget == Some(ours) {
            return;
        }
        if self
            .exchanges
            .disagrees(theirs, ours, self.now, settle, pause)
        {
            self.metrics.repair_exchanges += 1;
            self.open_exchange(from, Reason::Repair, vouched);
        }
    }

    /// Evidence that our view is behind `from`'s: pull its full state (at
    /// most once per probe interval, and with one source at most once per
    /// [`EXCHANGE_EVERY`](crate::source::EXCHANGE_EVERY) probe intervals).
    /// `vouched`: `from` is a member's own address.
    fn catch_up(&mut self, from: SocketAddr, reason: Reason, vouched: bool) {
        let (now, interval) = (self.now, self.config.probe_interval);
        if self.is_leaving()
            || !self.exchanges.may_catch_up(now, &self.config)
            || !self.sources.may_exchange(Source::of(from), now, interval)
        {
            return;
        }
        self.exchanges.catch_up(now, &self.config);
        self.open_exchange(from, reason, vouched);
    }

    /// A packet from a name we do not know (at `from`), whose sender holds
    /// `live` members, more than we do besides itself: our view is behind. State is
    /// pulled from a member we know, drawn at random,
    /// as a catch-up (at most once per probe interval, and once per
    /// [`EXCHANGE_EVERY`](crate::source::EXCHANGE_EVERY) probe intervals
    /// for packets from one source): never from the stranger, so that
    /// neither a packet forged from someone else's address draws a frame
    /// there, nor a stranger's answer fills the table. A node that knows
    /// no one else (restarted, its join not yet answered) pulls from the
    /// stranger, whose answer adds only its source's share.
    fn meet_stranger(&mut self, from: SocketAddr, live: u32) {
        let (now, interval) = (self.now, self.config.probe_interval);
        if self.view.members().live() < 2 {
            // We know no one else (a restart before its join completed).
            return self.catch_up(from, Reason::Stranger, false);
        }
        if live <= gossip::view_size(self.view.members()).saturating_add(1) {
            // A newcomer (its view is ours and itself; its own alive
            // arrives with its packets): nothing says we are behind.
            return;
        }
        if self.is_leaving()
            || !self.exchanges.may_catch_up(now, &self.config)
            || !self.sources.may_exchange(Source::of(from), now, interval)
        {
            return;
        }
        let me = self.view.local();
        let peer =
            (self.view.members()).sample(1, &mut self.rng, |e| e.status() == Status::Alive, &[me]);
        let to = peer
            .first()
            .and_then(|p| self.view.members().get(p))
            .map(|e| e.addr());
        if let Some(to) = to {
            self.exchanges.catch_up(now, &self.config);
            self.open_exchange(to, Reason::CatchUp, true);
        }
    }

    /// Opens an exchange with `to`: our table and digests; only ourselves
    /// to a stranger; for a repair, only our summary by bucket.
    /// `vouched`: `to` is a member's own address (or a configured seed),
    /// whose answer is not capped per source.
    fn open_exchange(&mut self, to: SocketAddr, reason: Reason, vouched: bool) {
        let id = self.exchanges.open(to, reason, vouched);
        let buckets = self.summary_buckets();
        let (members, digests, buckets) = match reason {
            Reason::Repair => (Members::None, Vec::new(), &buckets[..]),
            _ => (Members::All, self.replicas.digests(u64::MAX), &[][..]),
        };
        let contents = Contents {
            join: reason == Reason::Join,
            digests: &digests,
            buckets,
            ..Contents::default()
        };
        self.out.push(Output::StreamOpen { id, to });
        self.send_frame(id, members, contents);
    }

    /// Our summary by bucket: members' and namespaces' together.
    fn summary_buckets(&self) -> [u64; crate::summary::BUCKETS] {
        let (a, b) = (self.view.summary_buckets(), self.replicas.summary_buckets());
        core::array::from_fn(|i| a[i].wrapping_add(b[i]))
    }

    /// Sends one frame of an exchange on stream `id`.
    fn send_frame(&mut self, id: StreamId, members: Members, contents: Contents<'_>) {
        let seal = self.seals();
        self.send_frame_as(id, members, contents, seal);
    }

    /// A frame answering a peer's frame on a stream it opened: sealed when
    /// this node seals, and when the peer's frame came `sealed` (the peer
    /// holds a key, so it opens sealed frames whatever its step). At
    /// `accept` this lets the opener learn our query clock.
    fn answer_frame(
        &mut self,
        id: StreamId,
        members: Members,
        contents: Contents<'_>,
        sealed: bool,
    ) {
        let seal = self.seals() || (sealed && !self.keyring.is_empty());
        self.send_frame_as(id, members, contents, seal);
    }

    fn send_frame_as(
        &mut self,
        id: StreamId,
        members: Members,
        contents: Contents<'_>,
        seal: bool,
    ) {
        let bytes = self.frame(members, contents, seal);
        self.metrics.sent.count(Kind::PushPull, bytes.len());
        self.out.push(Output::StreamFrame { id, bytes });
    }

    /// One frame of an exchange (with our query clock), sealed when `seal`
    /// (and this node holds a key).
    fn frame(&mut self, members: Members, contents: Contents<'_>, seal: bool) -> Bytes {
        let events: Vec<Bytes> = match members {
            Members::None => Vec::new(),
            _ => self.user_events.recent().cloned().collect(),
        };
        let contents = Contents {
            query_clock: self.queries.clock().max(self.user_queries.clock()),
            event_clock: self.user_events.clock(),
            events: &events,
            ..contents
        };
        let max = self.config.max_stream_frame;
        let max = if seal {
            max.saturating_sub(seal::overhead(&self.config.cluster, max))
        } else {
            max
        };
        let plain = exchange::encode_frame(&self.view, &self.config, max, members, contents);
        if seal {
            self.seal_always(plain)
        } else {
            plain
        }
    }

    /// A frame on a stream a peer opened: its request (members and
    /// digests, or a repair's buckets), answered with ours and the deltas
    /// it lacks; or, on a stream we answered, its next frame: the deltas
    /// we lack, and in a repair its members and digests, answered with the
    /// deltas it lacks.
    fn on_request(&mut self, id: StreamId, from: SocketAddr, bytes: Bytes) {
        let len = bytes.len();
        let max = self.config.max_stream_frame;
        let Some((bytes, sealed)) = self.unseal(bytes, max, from, "push-pull request") else {
            self.exchanges.finish_answered(id);
            self.out.push(Output::StreamClose { id });
            return;
        };
        let answered = self.exchanges.finish_answered(id);
        let local = self.view.local();
        let pp = match self.with_limits(|l| codec::decode_stream(bytes, max, l)) {
            // A join under our own name is refused below, with a reason.
            Ok(pp) if pp.from == *local && (answered || !pp.join) => Err(DropReason::FromSelf),
            other => other,
        };
        let mut pp = match pp {
            Ok(pp) => pp,
            Err(reason) => {
                self.out.push(Output::StreamClose { id });
                return self.drop_input(reason, from, "push-pull request");
            }
        };
        self.metrics.received.count(Kind::PushPull, len);
        if pp.join && !answered {
            if let Some(holder) = self.name_taken(&pp) {
                return self.refuse_join(id, from, pp.from, holder);
            }
        }
        // The query clock is learned only from answers to exchanges this
        // node opened: anyone may open a stream, and a clock walked up
        // 2^20 a frame (the answer tells the sender where it stands)
        // would end at the highest clock, where every query is dropped.
        // A node that founded the cluster (it never set out to join one)
        // has no clock to learn but its own: it takes it when the first
        // member exchanges with it, so that member's queries are not
        // ignored as heard before the clock was learned (until its first
        // push-pull, the founder of a 2-node cluster ignored them).
        if !self.queries.learned()
            && self.exchanges.founder()
            && (sealed || self.keyring.is_empty())
        {
            let (clock, own) = (self.queries.clock(), self.view.local_entry().addr());
            self.queries.learn(clock, own);
        }
        if !self.user_queries.learned() && self.exchanges.founder() && (sealed || !self.seals()) {
            let (clock, own) = (self.user_queries.clock(), self.view.local_entry().addr());
            self.user_queries.learn(clock, own);
        }
        if !pp.events.is_empty() && (sealed || self.keyring.is_empty()) {
            let events = core::mem::take(&mut pp.events);
            self.hear_events(events, from);
        }
        if answered {
            // The last frame of an exchange we answered: the deltas we lack.
            let told = self.told_on_stream(from, &pp.from, UNASKED_NEW_MEMBERS);
            self.apply_all(pp.members, Priority::Repair, told);
            self.ping_candidates(twice(len));
            self.merge_deltas(from, &pp.deltas, &pp.digests, false);
            if let Some(set) = pp.differ {
                let for_them = self.replicas.deltas_for(&pp.digests, set);
                let contents = Contents {
                    deltas: &for_them,
                    ..Contents::default()
                };
                self.answer_frame(id, Members::None, contents, sealed);
            }
            self.out.push(Output::StreamClose { id });
            return;
        }
        if !pp.buckets.is_empty() && pp.members.is_empty() {
            // A repair: the members and digests of the buckets that differ.
            self.unasked_deltas(pp.deltas.len(), from);
            let set = crate::summary::differ(&self.summary_buckets(), &pp.buckets);
            let digests = self.replicas.digests(set);
            let contents = Contents {
                digests: &digests,
                differ: Some(set),
                ..Contents::default()
            };
            self.answer_frame(id, Members::Buckets(set), contents, sealed);
            if !self.exchanges.answered(id) {
                self.out.push(Output::StreamClose { id });
            }
            self.metrics.push_pulls += 1;
            return;
        }
        // A peer we hold dead is reconnecting: merge first, so that our reply
        // already carries our refutation if it holds us dead too. Otherwise
        // reply with the state as it was, as memberlist does (merging first
        // measurably slows a 1,000-node join wave).
        let reconnecting = self
            .view
            .members()
            .get(&pp.from)
            .is_some_and(|e| e.status() == Status::Dead);
        let (members, deltas) = (pp.members, pp.deltas);
        let told = self.told_on_stream(from, &pp.from, UNASKED_NEW_MEMBERS);
        let members = if reconnecting {
            self.apply_all(members, Priority::Repair, told.clone());
            None
        } else {
            Some(members)
        };
        let digests = self.replicas.digests(u64::MAX);
        let for_them = self.replicas.deltas_for(&pp.digests, u64::MAX);
        let contents = Contents {
            digests: &digests,
            deltas: &for_them,
            ..Contents::default()
        };
        self.answer_frame(id, Members::All, contents, sealed);
        if !self.exchanges.answered(id) {
            // Too many answered exchanges waiting for their last frame.
            self.out.push(Output::StreamClose { id });
        }
        if let Some(members) = members {
            self.apply_all(members, Priority::Repair, told);
        }
        self.ping_candidates(twice(len));
        // A stream's first frame carries no deltas (anyone may open one):
        // they are merged only from frames of an exchange we asked for.
        self.unasked_deltas(deltas.len(), from);
        self.merge_deltas(from, &[], &pp.digests, false);
        self.metrics.push_pulls += 1;
    }

    /// The running member holding the name a joiner uses, by address: this
    /// node, when the joiner uses our name (we run, so the name is taken).
    /// A joiner under another member's name is let in: it may be that
    /// member restarted elsewhere (after a `kill -9`, before anyone held
    /// the old process dead), and if the old process still runs, the two
    /// outbid each other until both report [`Event::NameConflict`].
    fn name_taken(&self, pp: &codec::PushPull) -> Option<SocketAddr> {
        let local = self.view.local_entry();
        (pp.from == local.name).then(|| local.addr())
    }

    /// Answers a join under a taken name with the holder's address and
    /// nothing else (no member list for an impostor), and tells the driver.
    fn refuse_join(&mut self, id: StreamId, from: SocketAddr, name: Name, holder: SocketAddr) {
        self.metrics.joins_refused += 1;
        let contents = Contents {
            name_taken_by: Some(holder),
            ..Contents::default()
        };
        self.send_frame(id, Members::None, contents);
        self.out.push(Output::StreamClose { id });
        self.out
            .event(Event::JoinRefusedHere { from, name, holder });
    }

    /// How news in a frame from `from` (sent under the name `sender`) is
    /// admitted: as hearsay of its source, at most `most` new members; the
    /// sender vouches for it when it is a member at that IP address (a
    /// stream's source port is not the member's own).
    fn told_on_stream(&self, from: SocketAddr, sender: &Name, most: usize) -> Admit {
        let vouched = (self.view.members().get(sender)).is_some_and(|e| e.addr().ip() == from.ip());
        Admit::Source(Hearsay {
            from,
            most,
            sender: sender.clone(),
            stream: true,
            vouched,
        })
    }

    /// The peer answered an exchange we opened: merge, send it the deltas it
    /// lacks (in a repair, with our members and digests of the buckets that
    /// differ, then wait for its last frame), and close. What a full state
    /// teaches us is old news to the cluster (the peer knew it): it is
    /// gossiped only where fresh updates leave room, and repaired keys are
    /// not gossiped at all.
    fn on_reply(&mut self, id: StreamId, bytes: Bytes) {
        let len = bytes.len();
        let Some(exchange) = self.exchanges.take(id) else {
            let nowhere = SocketAddr::from(([0, 0, 0, 0], 0));
            return self.drop_input(DropReason::Unsolicited, nowhere, "stream reply");
        };
        let max = self.config.max_stream_frame;
        let Some((bytes, sealed)) = self.unseal(bytes, max, exchange.peer, "push-pull reply")
        else {
            // Dropped and counted by `unseal`.
            self.out.push(Output::StreamClose { id });
            return self.exchange_failed(exchange);
        };
        let decoded = self.with_limits(|l| codec::decode_stream(bytes, max, l));
        let pp = match decoded {
            Ok(pp) => pp,
            Err(reason) => {
                self.out.push(Output::StreamClose { id });
                self.drop_input(reason, exchange.peer, "push-pull reply");
                return self.exchange_failed(exchange);
            }
        };
        self.metrics.received.count(Kind::PushPull, len);
        if let (Reason::Join, Some(holder)) = (exchange.reason, pp.name_taken_by) {
            // Reported whether or not it is authentic; it ends only this
            // attempt, as silence would, so a forged one blocks nothing.
            self.out.push(Output::StreamClose { id });
            self.out.event(Event::JoinRefused {
                seed: exchange.peer,
                holder,
                authenticated: sealed,
            });
            return self.exchange_failed(exchange);
        }
        self.learn_query_clock(pp.query_clock, sealed, exchange.peer);
        if sealed || self.keyring.is_empty() {
            // Learned only from answers to exchanges this node opened (as
            // the query clock is), then the events: a joiner's floor is
            // set before the events it would otherwise replay.
            // Until the clock is learned, a node that set out to join
            // learns it from any exchange it opened, not only its join's
            // (a seed cut off from it answers last).
            let join = exchange.reason == Reason::Join
                || (!self.user_events.learned() && !self.exchanges.founder());
            // An earlier life of our name in the answer: this process
            // restarted (see `UserEvents::restarted`; gossip about us
            // tells it too, see `about_self`).
            let local = self.view.local_entry();
            let (me, life) = (&local.name, local.life);
            if (pp.members.iter()).any(|u| u.name == *me && u.life != 0 && u.life != life) {
                self.user_events.restarted();
            }
            if !self.user_events.learn(pp.event_clock, exchange.peer, join) {
                self.drop_input(DropReason::Implausible, exchange.peer, "event clock");
            }
            if !pp.events.is_empty() {
                self.hear_events(pp.events, exchange.peer);
            }
        }
        if exchange.answered {
            // A repair's last frame.
            self.merge_deltas(exchange.peer, &pp.deltas, &pp.digests, true);
            self.out.push(Output::StreamClose { id });
            return;
        }
        self.metrics.push_pulls += 1;
        // A stranger's answer is capped per source like gossip; a seed's or
        // a known member's only by `max_members`.
        // A seed's answer to a join is bounded only by `max_members`; a
        // known member's answer by the node-wide share of exchanges.
        // Its new names are taken at its word (the first few) only when it
        // is a live member at the address we opened to; whoever answers at
        // a dead member's address (a reconnect), or at the address a
        // member moved to within its life, gets them all checked.
        let live = (self.view.members().get(&pp.from))
            .is_some_and(|e| e.status().is_live() && e.addr() == exchange.peer && !e.moved());
        let admit = match exchange.reason {
            Reason::Join => Admit::Seed,
            _ if exchange.vouched => Admit::Exchange(Hearsay {
                from: exchange.peer,
                most: usize::MAX,
                sender: pp.from.clone(),
                stream: true,
                vouched: live,
            }),
            _ => self.told_on_stream(exchange.peer, &pp.from, usize::MAX),
        };
        self.apply_all(pp.members, Priority::Repair, admit);
        self.ping_candidates(twice(len));
        self.merge_deltas(exchange.peer, &pp.deltas, &pp.digests, true);
        // A repair continues with our side of the buckets that differ.
        let more = match (exchange.reason, pp.differ) {
            (Reason::Repair, Some(set)) => Some(set),
            _ => None,
        };
        match more {
            Some(set) => {
                let digests = self.replicas.digests(set);
                let for_them = self.replicas.deltas_for(&pp.digests, set);
                let contents = Contents {
                    digests: &digests,
                    deltas: &for_them,
                    differ: Some(set),
                    ..Contents::default()
                };
                self.send_frame(id, Members::Buckets(set), contents);
                self.exchanges.await_last(id, exchange);
            }
            _ => {
                let for_them = self.replicas.deltas_for(&pp.digests, u64::MAX);
                let contents = Contents {
                    deltas: &for_them,
                    ..Contents::default()
                };
                self.send_frame(id, Members::None, contents);
                self.out.push(Output::StreamClose { id });
                if exchange.reason == Reason::Join && self.exchanges.joined() {
                    self.timers.stop(Periodic::JoinRetry);
                    self.out.event(Event::JoinCompleted {
                        seed: exchange.peer,
                    });
                }
            }
        }
    }

    /// A peer's query clock, from its answer to an exchange this node
    /// opened: learned when the frame was sealed under one of our keys
    /// (queries act only then), or when this node holds no key at all.
    fn learn_query_clock(&mut self, clock: u64, sealed: bool, from: SocketAddr) {
        if (sealed || self.keyring.is_empty()) && !self.queries.learn(clock, from) {
            self.drop_input(DropReason::Implausible, from, "query clock");
        }
        // User queries share the clock (Serf's query Lamport time), in a
        // table of their own; a plain frame teaches it too (they run on
        // plain clusters), but not where this node seals.
        if (sealed || !self.seals()) && !self.user_queries.learn(clock, from) {
            tracing::debug!(node = %self.view.local(), %from, clock, "a query clock far ahead: ignored for user queries");
        }
    }

    /// Repair deltas from the peer at `addr`, owner by owner (for
    /// owners whose life membership told us), and its digests of our own
    /// namespace: claims we did not make are answered. One entry per owner
    /// per frame: a second is refused. `opened`: the frame answers an
    /// exchange we opened (only then may a dispute send us to an owner).
    fn merge_deltas(
        &mut self,
        addr: SocketAddr,
        deltas: &[(Name, crate::namespace::Deltas)],
        digests: &[(Name, crate::namespace::Digest)],
        opened: bool,
    ) {
        if self.replicas.claimed(digests) {
            self.claim(addr, "digest");
        }
        // Only a peer we chose to ask may send us to an owner: anyone can
        // open a stream, and a dispute costs the owner an exchange.
        if let Some(owner) = self.replicas.disputed(digests).filter(|_| opened) {
            self.ask_owner(&owner);
        }
        let mut budget = false;
        let mut seen: Vec<&Name> = deltas.iter().map(|(o, _)| o).collect();
        seen.sort_unstable();
        let twice: Vec<&Name> = seen
            .windows(2)
            .filter(|p| p[0] == p[1])
            .map(|p| p[0])
            .collect();
        for (owner, d) in deltas {
            if twice.contains(&owner) {
                self.metrics.keys_refused.inconsistent += 1;
                continue;
            }
            let life = self.view.life_of(owner);
            match self.replicas.merge(owner, d, life) {
                Heard::Applied(changes) => {
                    if *owner != *self.view.local() {
                        self.metrics.namespaces_repaired += 1;
                        if d.reset {
                            self.metrics.resets += 1;
                        }
                    }
                    for change in changes {
                        self.report(owner, change);
                    }
                }
                Heard::Refused(r) => {
                    if r == crate::replicas::Refused::Budget {
                        budget = true;
                    }
                    self.refused(r, addr, "repair deltas");
                }
                Heard::Claim | Heard::Superseded(_) => self.claim(addr, "repair deltas"),
            }
        }
        if budget {
            if self.over_budget.is_none() {
                tracing::warn!(node = %self.view.local(), budget = self.config.max_replica_bytes, "repair deltas refused: the replica budget (max_replica_bytes) is below what the cluster holds; repair waits for news");
            }
            self.over_budget = Some(self.summary());
        }
    }

    /// A peer and we hold `owner`'s namespace at one life and watermark
    /// with different entries (a forged write taken by one of us at a
    /// version the owner reached): a repair with the owner shows it the
    /// digest it did not write, and it moves its namespace. At most one
    /// such exchange per probe interval (the catch-up limit).
    fn ask_owner(&mut self, owner: &Name) {
        self.metrics.keys_disputed += 1;
        let Some(addr) = self.view.live_addr_of(owner) else {
            return;
        };
        tracing::debug!(node = %self.view.local(), %owner, "a peer holds other entries of this owner at our watermark: asking the owner");
        self.catch_up(addr, Reason::Repair, true);
    }

    /// A key write or repair deltas were refused: counted and traced.
    fn refused(&mut self, r: crate::replicas::Refused, from: SocketAddr, what: &'static str) {
        self.metrics.keys_refused.count(r);
        tracing::debug!(node = %self.view.local(), %from, reason = ?r, what, "refused");
    }

    /// Repair deltas in a frame that may not carry them: dropped, counted.
    fn unasked_deltas(&mut self, n: usize, from: SocketAddr) {
        if n > 0 {
            self.metrics.keys_refused.unasked += n as u64;
            tracing::debug!(node = %self.view.local(), %from, n, "repair deltas nobody asked for");
        }
    }

    /// A forged write about us was answered with one of ours. A burst of
    /// them (a flood of made-up keys) may hide some we never hear, held by
    /// replicas whose digests then match ours: past [`SUPERSEDE_BURST`] in
    /// a probe interval's tenfold, the namespace moves, which resets every
    /// replica whatever it holds.
    fn superseded(&mut self, from: SocketAddr) {
        let window = self.config.probe_interval * 10;
        if self.now >= self.claims.burst_since + window {
            self.claims.burst_since = self.now;
            self.claims.burst = 0;
        }
        self.claims.burst += 1;
        if self.claims.burst == SUPERSEDE_BURST {
            self.claims.pending = true;
            tracing::debug!(node = %self.view.local(), %from, "a burst of forged writes: moving");
            self.answer_claims();
        }
    }

    /// A claim about our namespace that we did not make: answered at once,
    /// or at the next probe tick if we moved less than a probe interval ago.
    fn claim(&mut self, from: SocketAddr, what: &'static str) {
        self.metrics.claims += 1;
        tracing::debug!(node = %self.view.local(), %from, what, "a claim about our keys we did not make");
        self.claims.pending = true;
        self.answer_claims();
    }

    /// The owner's last word: a namespace about which peers were told
    /// something we did not write moves to a new life, announced in our
    /// next alive update (which every replica takes, whatever it was told,
    /// since it outbids what they hold), and every live key goes out again
    /// under it. At most one move per probe interval, waiting longer after
    /// each move soon after the last; none while another process uses our
    /// name (a conflict).
    fn answer_claims(&mut self) {
        if !self.claims.pending || self.now < self.claims.next_move || self.is_leaving() {
            return;
        }
        if self.view.in_conflict() {
            // Two processes cannot both own one namespace: while another
            // uses our name (reported as a conflict) neither moves, and
            // refuting it, at a slowing pace, resets what replicas took.
            self.claims.pending = false;
            return;
        }
        let life = (self.rng.next_u64() >> 32).max(1);
        if !self.view.renew_life(life, self.now) {
            return;
        }
        self.claims.pending = false;
        // Moves close together wait longer and longer (up to 16 probe
        // intervals): a liar who keeps claiming costs the cluster one
        // re-gossip of our keys per wait, not one per packet.
        let close = self.now < self.claims.next_move + self.config.probe_interval * 16;
        self.claims.streak = if close {
            (self.claims.streak + 1).min(4)
        } else {
            0
        };
        // The wait is bounded in time too, so that on a slow preset (wan:
        // 5 s probes) an owner's writes never wait more than a few
        // seconds longer than a replica took a forged jump.
        let wait = (self.config.probe_interval * (1 << self.claims.streak))
            .min(MOVE_WAIT_MAX.max(self.config.probe_interval));
        self.claims.next_move = self.now + wait;
        self.replicas.renew(life);
        self.metrics.namespace_moves += 1;
        tracing::info!(node = %self.view.local(), life, "moved our keys to a new life (answering a claim we did not make)");
    }

    fn on_stream_closed(&mut self, id: StreamId) {
        if id.is_accepted() {
            self.exchanges.finish_answered(id);
        } else if let Some(exchange) = self.exchanges.take(id) {
            self.exchange_failed(exchange);
        }
    }

    fn exchange_failed(&mut self, exchange: Exchange) {
        self.metrics.push_pull_failures += 1;
        if exchange.reason != Reason::Join {
            return;
        }
        if let Some((attempt, backoff)) =
            self.exchanges.join_failed(self.is_leaving(), &self.config)
        {
            let limit = self.config.join_attempts;
            if limit != 0 && attempt >= limit {
                self.exchanges.cancel_join();
                self.out.event(Event::JoinFailed { attempts: attempt });
            } else {
                self.timers.set(Periodic::JoinRetry, self.now + backoff);
                self.out.event(Event::JoinRetry { attempt });
            }
        }
    }
}

/// The error for a write of our own that the limits refuse.
fn refused(r: Refused) -> Error {
    match r {
        Refused::KeyLen(len) => Error::KeyLength { len },
        Refused::ValueLen(len) => Error::ValueTooLarge { len },
        Refused::Keys => Error::TooManyKeys,
        Refused::Bytes(bytes) => Error::NamespaceFull { bytes },
    }
}

/// What a node holds of every member's keys ([`Node::key_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyStats {
    /// Live keys, over all members.
    pub keys: usize,
    /// Their bytes of keys and values (tombstones' keys included).
    pub bytes: usize,
}

/// A 64-bit mix (splitmix64's finaliser): spreads the bits of `x`.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
