//! [`Handle`]: the application's view of a running node.

use crate::driver::{resolve_seeds, Command, Shared, StartError};

use bytes::Bytes;
use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use swim_core::{Event, Member, Status};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// Why the node holds a member where it does ([`Handle::explain`]), with
/// the clocks to read its times: the node's clock and the wall clock when
/// it was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExplainInfo {
    /// The member, its running suspicion and its last dead verdict, as the
    /// node holds them.
    pub explanation: swim_core::Explanation,
    /// The node's clock when it answered.
    pub now: swim_core::Instant,
    /// The wall clock at `now`.
    pub wall: std::time::SystemTime,
}

impl ExplainInfo {
    /// How long before the answer `t` (of the node's clock) was.
    pub fn ago(&self, t: swim_core::Instant) -> std::time::Duration {
        self.now.saturating_duration_since(t)
    }

    /// Milliseconds since the Unix epoch at `t` (of the node's clock).
    pub fn unix_ms(&self, t: swim_core::Instant) -> u64 {
        let at = self.wall.checked_sub(self.ago(t));
        at.and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// One member as the local node sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemberInfo {
    /// Its unique name.
    pub name: String,
    /// Where it receives datagrams and streams.
    pub addr: SocketAddr,
    /// `alive`, `suspect`, `dead` or `left`.
    #[serde(serialize_with = "status_str")]
    pub status: Status,
    /// Its incarnation number.
    pub incarnation: u64,
    /// Its keys (tags) as this node holds them, values as lossy UTF-8 text.
    pub tags: std::collections::BTreeMap<String, String>,
}

fn status_str<S: serde::Serializer>(s: &Status, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_str())
}

impl From<&Member> for MemberInfo {
    fn from(m: &Member) -> Self {
        MemberInfo {
            name: m.name.to_string(),
            addr: m.addr,
            status: m.status,
            incarnation: m.incarnation,
            tags: Default::default(),
        }
    }
}

/// Counters of the driver itself: socket and stream trouble the node never sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DriverMetrics {
    /// Errors receiving on the UDP socket (the loop went on).
    pub udp_recv_errors: u64,
    /// Datagrams that could not be sent (full buffer, unreachable).
    pub udp_send_errors: u64,
    /// Push-pull streams opened to peers.
    pub streams_out: u64,
    /// Push-pull streams peers opened.
    pub streams_in: u64,
    /// Streams that failed with an IO error (refused, reset, closed early).
    pub stream_errors: u64,
    /// Streams that timed out.
    pub stream_timeouts: u64,
    /// Stream frames refused because they were larger than `max_stream_frame`.
    pub stream_frames_oversized: u64,
    /// Errors accepting incoming streams.
    pub accept_errors: u64,
    /// Incoming streams closed at once: every slot (of their peer's
    /// `MAX_STREAMS_PER_PEER`, or of all) was held by a trusted stream.
    pub streams_refused: u64,
    /// Incoming streams on probation (the node had not answered them yet)
    /// whose slot was taken back for a newer stream.
    pub streams_evicted: u64,
}

/// A snapshot of a node's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentMetrics {
    /// The protocol's counters, including dropped (garbage) packets and frames.
    pub core: swim_core::Metrics,
    /// The driver's counters.
    pub driver: DriverMetrics,
    /// Lifeguard's local health score (0 is healthy).
    pub health_score: u32,
    /// Members alive (itself included).
    pub alive: usize,
    /// Members suspect.
    pub suspect: usize,
    /// Members dead.
    pub dead: usize,
    /// Members left.
    pub left: usize,
    /// How the node treats plain traffic (see [`swim_core::Sealing`]);
    /// `None` when it holds no key (it sends and accepts only plain traffic).
    pub sealing: Option<swim_core::Sealing>,
    /// The ids of the keys it holds (16 hex digits each, never the keys),
    /// the primary first.
    pub key_ids: Vec<String>,
    /// The event handlers' counters (all zero without handlers).
    pub handlers: crate::handlers::HandlerMetrics,
}

/// How a graceful leave ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaveOutcome {
    /// True if the node announced its leave as often as the protocol asks
    /// before stopping; false if the leave timeout cut it short.
    pub completed: bool,
}

/// What the members said to a cluster key operation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KeyReport {
    /// Members alive or suspect when the operation started, this node included.
    pub live: usize,
    /// Each member's answer, by name.
    pub answers: std::collections::BTreeMap<String, KeyAnswer>,
}

/// One member's answer to a key operation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KeyAnswer {
    /// The ids of the keys it holds now, the primary first.
    pub keys: Vec<String>,
    /// Why it refused the operation, if it did.
    pub refused: Option<String>,
    /// Its step of turning sealing on after the operation (`accept`,
    /// `send` or `require`); `None` from a build that does not say.
    #[serde(serialize_with = "step_str")]
    pub sealing: Option<swim_core::Sealing>,
}

fn step_str<S: serde::Serializer>(
    s: &Option<swim_core::Sealing>,
    ser: S,
) -> Result<S::Ok, S::Error> {
    match s {
        Some(s) => ser.serialize_str(s.as_str()),
        None => ser.serialize_none(),
    }
}

impl KeyReport {
    /// Every live member answered and none refused.
    pub fn complete(&self) -> bool {
        self.answers.len() >= self.live && self.answers.values().all(|a| a.refused.is_none())
    }

    /// How many members hold each key.
    pub fn holders(&self) -> std::collections::BTreeMap<String, usize> {
        let mut n = std::collections::BTreeMap::new();
        for k in self.answers.values().flat_map(|a| &a.keys) {
            *n.entry(k.clone()).or_default() += 1;
        }
        n
    }

    /// How many members seal with each key.
    pub fn primaries(&self) -> std::collections::BTreeMap<String, usize> {
        let mut n = std::collections::BTreeMap::new();
        for k in self.answers.values().filter_map(|a| a.keys.first()) {
            *n.entry(k.clone()).or_default() += 1;
        }
        n
    }

    /// How many members answered at each sealing step (`accept`, `send`,
    /// `require`, or `unknown` for a build that does not say).
    pub fn sealing_steps(&self) -> std::collections::BTreeMap<&'static str, usize> {
        let mut n = std::collections::BTreeMap::new();
        for a in self.answers.values() {
            let step = a.sealing.map_or("unknown", swim_core::Sealing::as_str);
            *n.entry(step).or_default() += 1;
        }
        n
    }

    /// The members that answered at sealing step `step`, by name.
    pub fn members_at(&self, step: swim_core::Sealing) -> Vec<String> {
        (self.answers.iter())
            .filter(|(_, a)| a.sealing == Some(step))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// A command to a node that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// The node has stopped (shut down or left).
    #[error("the node has stopped")]
    Stopped,
    /// A seed could not be resolved.
    #[error("{0}")]
    Resolve(String),
    /// The node refused the command.
    #[error("{0}")]
    Node(swim_core::Error),
    /// `use` was refused: not every live member holds the key.
    #[error(
        "key {key} is held by {holders} of {live} live members: install it everywhere before using it"
    )]
    NotEverywhere {
        /// The key's id.
        key: String,
        /// Members that reported holding it.
        holders: usize,
        /// Members alive or suspect.
        live: usize,
    },
    /// A move to sealing step `send` or `require` on a node that holds no
    /// key (its traffic is plain at any step).
    #[error(
        "sealing step `{}` needs a key, but this agent holds no key, so its traffic would be plain at any step; \
         without keys only `accept` is allowed: give the agent a keyring file (--keyring-file or \
         keyring_file; it is read at start), or set sealing = \"accept\"",
        .step.as_str()
    )]
    NoKeys {
        /// The step asked for.
        step: swim_core::Sealing,
    },
    /// `sealing require` was refused: not every live member answered a
    /// `list` saying that it seals already (`send` or `require`); a member
    /// still at `accept` sends plain, which `require` would drop.
    #[error("{}", not_ready(*.live, *.ready, .at_accept, *.unknown, .silent))]
    NotReady {
        /// Members alive or suspect.
        live: usize,
        /// Members that answered at `send` or `require`.
        ready: usize,
        /// Members that answered at `accept`, by name.
        at_accept: Vec<String>,
        /// Members that answered without saying their step (an older build).
        unknown: usize,
        /// Live members that did not answer, by name.
        silent: Vec<String>,
    },
    /// `remove` was refused: a live member still seals with the key (or
    /// not every live member said which key it seals with).
    #[error(
        "key {key} is the primary key of {primaries} member(s) and {answered} of {live} live members answered: \
         `swim keys use` another key everywhere before removing this one"
    )]
    PrimaryInUse {
        /// The key's id.
        key: String,
        /// Members that reported sealing with it.
        primaries: usize,
        /// Members that answered the check.
        answered: usize,
        /// Members alive or suspect.
        live: usize,
    },
}

/// Whether a node may be at sealing step `step`, holding keys or not
/// (`has_keys`): without keys its traffic is plain at any step, so only
/// `accept` is allowed; `send` and `require` are [`HandleError::NoKeys`].
/// The one check for a move on SIGHUP ([`Handle::set_sealing`]) and for a
/// step asked for explicitly at start (the agent's `--sealing` or config
/// file).
pub fn sealing_needs_keys(step: swim_core::Sealing, has_keys: bool) -> Result<(), HandleError> {
    if has_keys || step == swim_core::Sealing::Accept {
        Ok(())
    } else {
        Err(HandleError::NoKeys { step })
    }
}

/// The message of [`HandleError::NotReady`].
fn not_ready(
    live: usize,
    ready: usize,
    at_accept: &[String],
    unknown: usize,
    silent: &[String],
) -> String {
    let mut why = Vec::new();
    if !at_accept.is_empty() {
        why.push(format!("at `accept`: {}", at_accept.join(", ")));
    }
    if unknown > 0 {
        why.push(format!(
            "{unknown} answered without their step (an older build: upgrade it)"
        ));
    }
    if !silent.is_empty() {
        why.push(format!(
            "did not answer: {} (at `accept` without the query clock yet, unreachable, or an older build)",
            silent.join(", ")
        ));
    }
    format!(
        "{} of {live} live members are not ready for sealing step `require` ({}): move each to `send` \
         first (sealing = \"send\" in its config file, then SIGHUP it), then run this again",
        live.saturating_sub(ready),
        why.join("; ")
    )
}

/// Updates a query keeps in flight, at most: a member's ack or response
/// that finds them full is dropped (and counted in
/// [`QuerySummary::dropped`]); the summary always arrives.
pub const QUERY_UPDATES: usize = 1024;

/// The most members a query's node filter may name (what members accept
/// from the wire).
pub const MAX_QUERY_NODES: usize = 64;

/// The name of the query [`Handle::reachability`] sends (asking for acks
/// only). Event handlers never run for queries whose name starts with
/// `_swim_`.
pub const REACHABILITY_QUERY: &str = "_swim_ping";

/// One update of a user query this node asked ([`Handle::query`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryUpdate {
    /// A member acked (it received the query and matched its filter).
    Ack {
        /// Who acked.
        member: String,
    },
    /// A member responded.
    Response {
        /// Who responded.
        member: String,
        /// Its response.
        payload: Bytes,
    },
    /// The query's time is up: nothing follows.
    Done(QuerySummary),
}

/// What a user query collected, when its time was up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QuerySummary {
    /// The query's id.
    pub id: u64,
    /// Members asked: live when it started and matching its filter.
    pub asked: usize,
    /// Members that acked.
    pub acks: usize,
    /// Members that responded.
    pub responses: usize,
    /// Members asked that neither acked nor responded, in name order.
    pub missing: Vec<String>,
    /// Updates dropped because the receiver did not keep up (at most
    /// [`QUERY_UPDATES`] wait); the counts above still include them.
    pub dropped: u64,
}

/// A user query in flight ([`Handle::query`]): its acks and responses as
/// they arrive, then its summary.
#[derive(Debug)]
pub struct QueryStream {
    id: u64,
    updates: mpsc::Receiver<QueryUpdate>,
    done: Option<oneshot::Receiver<QuerySummary>>,
}

impl QueryStream {
    /// The query's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The next ack or response, then [`QueryUpdate::Done`], then `None`
    /// (also `None` if the node stopped before the query's time was up).
    pub async fn next(&mut self) -> Option<QueryUpdate> {
        if let Some(u) = self.updates.recv().await {
            return Some(u);
        }
        let done = self.done.take()?;
        done.await.ok().map(QueryUpdate::Done)
    }

    /// Waits for every update and returns the acks, the responses and the
    /// summary (`None` if the node stopped first).
    pub async fn collect(mut self) -> Option<(Vec<String>, Vec<(String, Bytes)>, QuerySummary)> {
        let (mut acks, mut responses) = (Vec::new(), Vec::new());
        while let Some(u) = self.next().await {
            match u {
                QueryUpdate::Ack { member } => acks.push(member),
                QueryUpdate::Response { member, payload } => responses.push((member, payload)),
                QueryUpdate::Done(s) => return Some((acks, responses, s)),
            }
        }
        None
    }
}

/// Who answered a reachability check ([`Handle::reachability`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reachability {
    /// The query's summary.
    pub summary: QuerySummary,
    /// Members that acked, in name order.
    pub acked: Vec<String>,
    /// Members this node holds alive, suspect or dead that did not ack, in
    /// name order.
    pub not_acked: Vec<String>,
    /// Members held suspect when the check ended.
    pub suspect: Vec<String>,
    /// Members held dead when the check ended.
    pub dead: Vec<String>,
}

/// The driver's side of a [`QueryStream`].
pub(crate) struct QuerySink {
    pub updates: mpsc::Sender<QueryUpdate>,
    pub done: oneshot::Sender<QuerySummary>,
    pub dropped: u64,
}

impl QuerySink {
    /// A stream and its sink, for query `id`.
    pub(crate) fn pair() -> (
        QuerySink,
        mpsc::Receiver<QueryUpdate>,
        oneshot::Receiver<QuerySummary>,
    ) {
        let (tx, rx) = mpsc::channel(QUERY_UPDATES);
        let (dtx, drx) = oneshot::channel();
        (
            QuerySink {
                updates: tx,
                done: dtx,
                dropped: 0,
            },
            rx,
            drx,
        )
    }
}

/// A cloneable handle to a running node.
///
/// The node runs until [`shutdown`](Handle::shutdown) or
/// [`leave`](Handle::leave), or until every handle is dropped.
#[derive(Clone)]
pub struct Handle {
    name: Arc<str>,
    local: SocketAddr,
    advertise: SocketAddr,
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("name", &self.name)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl Handle {
    pub(crate) fn new(
        name: String,
        local: SocketAddr,
        advertise: SocketAddr,
        commands: mpsc::Sender<Command>,
        events: broadcast::Sender<Event>,
        shared: Arc<Shared>,
        stopped: watch::Receiver<bool>,
    ) -> Self {
        Handle {
            name: name.into(),
            local,
            advertise,
            commands,
            events,
            shared,
            stopped,
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address the sockets are bound to (with the real port if 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The address peers reach this node at.
    pub fn advertise_addr(&self) -> SocketAddr {
        self.advertise
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, HandleError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| HandleError::Stopped)?;
        rx.await.map_err(|_| HandleError::Stopped)
    }

    /// Every member the node knows, itself included.
    pub async fn members(&self) -> Result<Vec<MemberInfo>, HandleError> {
        self.ask(Command::Members).await
    }

    /// Why the node holds `member` where it does: its status, its running
    /// suspicion, and the last dead verdict on it (who accused, who
    /// confirmed, when and from whom this node learned it). `None`: the
    /// node does not know the member (never heard of it, or reaped).
    pub async fn explain(&self, member: &str) -> Result<Option<ExplainInfo>, HandleError> {
        let member = member.to_string();
        self.ask(|tx| Command::Explain(member, tx)).await
    }

    /// The node's and the driver's counters.
    pub async fn metrics(&self) -> Result<AgentMetrics, HandleError> {
        self.ask(Command::Metrics).await
    }

    /// A stream of membership events from now on. A subscriber that falls more
    /// than the configured capacity behind gets `RecvError::Lagged`.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Joins (more) seeds, given as `HOST:PORT`. Returns once the node started
    /// the join; [`Event::JoinCompleted`] tells when a seed answered.
    pub async fn join(&self, seeds: &[String]) -> Result<Vec<SocketAddr>, HandleError> {
        let addrs = resolve_seeds(seeds).await.map_err(|e| match e {
            StartError::Resolve { .. } => HandleError::Resolve(e.to_string()),
            other => HandleError::Resolve(other.to_string()),
        })?;
        let sent = addrs.clone();
        self.ask(|tx| Command::Join(sent, false, tx)).await??;
        Ok(addrs)
    }

    /// Joins seeds in one attempt: if none answers it, the join ends with
    /// [`Event::JoinFailed`] (and the agent logs that it ended) instead of
    /// retrying behind the caller's back. For callers that report the
    /// outcome themselves, as `swim join` does.
    pub async fn join_once(&self, seeds: &[String]) -> Result<Vec<SocketAddr>, HandleError> {
        let addrs = resolve_seeds(seeds).await.map_err(|e| match e {
            StartError::Resolve { .. } => HandleError::Resolve(e.to_string()),
            other => HandleError::Resolve(other.to_string()),
        })?;
        let sent = addrs.clone();
        self.ask(|tx| Command::Join(sent, true, tx)).await??;
        Ok(addrs)
    }

    /// Stops the join in progress (no further attempt; a seed answering
    /// now completes nothing). Returns whether a join was in progress.
    pub async fn cancel_join(&self) -> Result<bool, HandleError> {
        self.ask(Command::CancelJoin).await
    }

    /// `member`'s keys that start with `prefix`, as this node holds them:
    /// `(key, value, version)` in key order.
    pub async fn keys(
        &self,
        member: &str,
        prefix: &str,
    ) -> Result<Vec<(String, Bytes, u64)>, HandleError> {
        let (m, p) = (member.to_string(), prefix.to_string());
        self.ask(|tx| Command::Keys(m, p, tx)).await
    }

    /// Sets one of this node's keys; returns the write's version.
    pub async fn set(&self, key: &str, value: Bytes) -> Result<u64, HandleError> {
        let key = key.to_string();
        self.ask(|tx| Command::Write(key, Some(value), tx)).await?
    }

    /// Deletes one of this node's keys; false if it was not set.
    pub async fn delete(&self, key: &str) -> Result<bool, HandleError> {
        let key = key.to_string();
        Ok(self.ask(|tx| Command::Write(key, None, tx)).await?? > 0)
    }

    /// Fires a user event (Serf's `serf event`): delivered once to every
    /// member, this one included, as [`Event::User`]. `coalesce`: event
    /// handlers with a user filter run only for the newest of a burst of
    /// events of this name. Refused ([`HandleError::Node`] with
    /// [`swim_core::Error::EventName`] or [`swim_core::Error::EventTooLarge`])
    /// for an empty name or one with control or invisible characters, and
    /// when name and payload exceed [`swim_core::MAX_EVENT_SIZE`] bytes.
    pub async fn event(
        &self,
        name: &str,
        payload: Bytes,
        coalesce: bool,
    ) -> Result<(), HandleError> {
        let name = name.to_string();
        self.ask(|tx| Command::Event(name, payload, coalesce, tx))
            .await?
    }

    /// Asks a user query (Serf's `serf query`): every member matching
    /// `options.filter` (this one too) gets [`Event::Query`] and may
    /// respond ([`Handle::respond`]; the agent's `query` event handlers
    /// do). The stream yields acks (if `options.want_ack`) and responses as
    /// they arrive, then the summary when the query's time is up. Refused
    /// ([`HandleError::Node`] with [`swim_core::Error::QueryInvalid`],
    /// [`swim_core::Error::QueryTimeout`] or
    /// [`swim_core::Error::TooManyQueries`]) with the core's reason, and
    /// for more than [`MAX_QUERY_NODES`] node filters.
    pub async fn query(
        &self,
        name: &str,
        payload: Bytes,
        options: swim_core::QueryOptions,
    ) -> Result<QueryStream, HandleError> {
        // The core's members drop a query naming more (its wire limit),
        // which its call does not refuse yet: refused here, with the reason.
        if options.filter.nodes.len() > MAX_QUERY_NODES {
            return Err(HandleError::Node(swim_core::Error::QueryInvalid {
                reason: format!(
                    "{} node filters (allowed: at most {MAX_QUERY_NODES})",
                    options.filter.nodes.len()
                ),
            }));
        }
        let name = name.to_string();
        let (sink, updates, done) = QuerySink::pair();
        let id = self
            .ask(|tx| Command::Query(name, payload, options, sink, tx))
            .await??;
        Ok(QueryStream {
            id,
            updates,
            done: Some(done),
        })
    }

    /// Responds to query `id` of `origin` (as [`Event::Query`] named it).
    /// Refused when the response exceeds [`swim_core::MAX_RESPONSE_SIZE`]
    /// bytes or no such query waits here (answered already, or its time is
    /// up).
    pub async fn respond(&self, origin: &str, id: u64, payload: Bytes) -> Result<(), HandleError> {
        let origin = origin.to_string();
        self.ask(|tx| Command::Respond(origin, id, payload, tx))
            .await?
    }

    /// Checks who is reachable (Serf's `serf reachability`): a query named
    /// [`REACHABILITY_QUERY`] that asks every live member for an ack only,
    /// waiting `timeout` (`None`: the default query timeout). Returns who
    /// acked, who this node holds alive, suspect or dead but did not ack,
    /// and who it holds suspect or dead.
    pub async fn reachability(
        &self,
        timeout: Option<std::time::Duration>,
    ) -> Result<Reachability, HandleError> {
        let options = swim_core::QueryOptions {
            timeout,
            want_ack: true,
            ..swim_core::QueryOptions::default()
        };
        let stream = self
            .query(REACHABILITY_QUERY, Bytes::new(), options)
            .await?;
        let (mut acked, _, summary) = stream.collect().await.ok_or(HandleError::Stopped)?;
        acked.sort();
        acked.dedup();
        let members = self.members().await?;
        let held = |s: Status| -> Vec<String> {
            let mut v: Vec<String> = (members.iter())
                .filter(|m| m.status == s)
                .map(|m| m.name.clone())
                .collect();
            v.sort();
            v
        };
        let mut not_acked: Vec<String> = (members.iter())
            .filter(|m| m.status != Status::Left && !acked.contains(&m.name))
            .map(|m| m.name.clone())
            .collect();
        not_acked.sort();
        Ok(Reachability {
            suspect: held(Status::Suspect),
            dead: held(Status::Dead),
            summary,
            acked,
            not_acked,
        })
    }

    /// The node's clock now (microseconds since it started): the time the
    /// node is given, for [`swim_core::Coalescer`] and the like.
    pub fn now(&self) -> swim_core::Instant {
        let micros = u64::try_from(self.shared.origin.elapsed().as_micros()).unwrap_or(u64::MAX);
        swim_core::Instant::from_micros(micros)
    }

    /// The event handlers' counters, shared with [`crate::handlers`].
    pub(crate) fn handler_counters(&self) -> &crate::handlers::Counters {
        &self.shared.handlers
    }

    /// Declares a member this node holds dead as left for good (Serf's
    /// `force-leave`): the cluster stops gossiping to it and reaps it on
    /// schedule. Refused for a member that is alive, suspect or unknown.
    pub async fn force_leave(&self, name: &str) -> Result<(), HandleError> {
        let name = name.to_string();
        self.ask(|tx| Command::ForceLeave(name, tx)).await?
    }

    /// Carries out a key operation on every member (see
    /// [`swim_core::KeyringOp`]) and reports their answers as soon as every
    /// member live when it started has answered, or once its time is up.
    pub async fn key_op(&self, op: swim_core::KeyringOp) -> Result<KeyReport, HandleError> {
        self.ask(|tx| Command::KeyOp(op, tx)).await?
    }

    /// Makes `key` the one every member seals with, but only when every
    /// live member reports holding it (else [`HandleError::NotEverywhere`]:
    /// a member without it would be cut off).
    pub async fn use_key(&self, key: swim_core::SecretKeyId) -> Result<KeyReport, HandleError> {
        let list = self.key_op(swim_core::KeyringOp::List).await?;
        let id = key.to_string();
        let holders = list.holders().get(&id).copied().unwrap_or(0);
        if holders < list.live || list.answers.len() < list.live {
            return Err(HandleError::NotEverywhere {
                key: id,
                holders,
                live: list.live,
            });
        }
        self.key_op(swim_core::KeyringOp::Use(key)).await
    }

    /// Removes `key` from every member, but only when every live member
    /// answered a `list` and none seals with it (else
    /// [`HandleError::PrimaryInUse`]: once the others dropped the key, a
    /// member still sealing with it would be cut off).
    pub async fn remove_key(&self, key: swim_core::SecretKeyId) -> Result<KeyReport, HandleError> {
        let list = self.key_op(swim_core::KeyringOp::List).await?;
        let id = key.to_string();
        let primaries = list.primaries().get(&id).copied().unwrap_or(0);
        if primaries > 0 || list.answers.len() < list.live {
            return Err(HandleError::PrimaryInUse {
                key: id,
                primaries,
                answered: list.answers.len(),
                live: list.live,
            });
        }
        self.key_op(swim_core::KeyringOp::Remove(key)).await
    }

    /// Moves this node alone to another step of turning sealing on (see
    /// [`swim_core::Sealing`]), at once; returns the step it was at. Refused
    /// ([`HandleError::NoKeys`]) for `send` and `require` when the node
    /// holds no key. The agent calls it when SIGHUP finds another step in
    /// the config file.
    pub async fn set_sealing(
        &self,
        step: swim_core::Sealing,
    ) -> Result<swim_core::Sealing, HandleError> {
        self.ask(|tx| Command::SetSealing(step, tx)).await?
    }

    /// Moves every member to sealing step `step` (`send` or `require`) with
    /// a cluster key operation ([`swim_core::KeyringOp::Sealing`]). For
    /// `require`, only when every live member answered a `list` and
    /// already seals (`send` or `require`): else [`HandleError::NotReady`]
    /// (a member still at `accept` sends plain, which `require` would
    /// drop). Moving from `accept` to `send` is each member's own step
    /// (its config, then SIGHUP or a restart): a member at `accept`
    /// refuses the operation, and `accept` is refused here
    /// ([`swim_core::Error::SealingStep`]).
    pub async fn set_cluster_sealing(
        &self,
        step: swim_core::Sealing,
    ) -> Result<KeyReport, HandleError> {
        use swim_core::Sealing;
        if step == Sealing::Require {
            let live: Vec<String> = (self.members().await?.into_iter())
                .filter(|m| m.status.is_live())
                .map(|m| m.name)
                .collect();
            let list = self.key_op(swim_core::KeyringOp::List).await?;
            let ready = (list.answers.values())
                .filter(|a| matches!(a.sealing, Some(Sealing::Send | Sealing::Require)))
                .count();
            if ready < list.live || ready < list.answers.len() {
                let at_accept = list.members_at(Sealing::Accept);
                let unknown = list
                    .answers
                    .values()
                    .filter(|a| a.sealing.is_none())
                    .count();
                let silent = (live.into_iter())
                    .filter(|m| !list.answers.contains_key(m))
                    .collect();
                return Err(HandleError::NotReady {
                    live: list.live.max(list.answers.len()),
                    ready,
                    at_accept,
                    unknown,
                    silent,
                });
            }
        }
        self.key_op(swim_core::KeyringOp::Sealing(step)).await
    }

    /// Leaves the cluster gracefully, then stops the node: announces `left`,
    /// keeps answering until the announcement has spread
    /// ([`Event::LeaveCompleted`]) or the leave timeout passes.
    pub async fn leave(&self) -> Result<LeaveOutcome, HandleError> {
        self.ask(Command::Leave).await
    }

    /// Stops the node at once, without telling the cluster (peers will
    /// eventually declare it dead). Returns when it has stopped.
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
        self.stopped().await;
    }

    /// Waits until the node has stopped.
    pub async fn stopped(&self) {
        let mut rx = self.stopped.clone();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// True once the node has stopped.
    pub fn is_stopped(&self) -> bool {
        *self.stopped.borrow()
    }

    /// How long the node has been running.
    pub fn uptime(&self) -> std::time::Duration {
        self.shared.started.elapsed()
    }

    /// The driver's histograms (for the control API's `/metrics`).
    pub(crate) fn histograms(&self) -> &crate::driver::Histograms {
        &self.shared.histograms
    }

    /// The configured limit on stream steps (for diagnostics).
    pub fn stream_timeout(&self) -> std::time::Duration {
        self.shared.stream_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusal of `sealing require` names the members to move and says
    /// how.
    #[test]
    fn not_ready_names_the_members_and_the_fix() {
        let e = HandleError::NotReady {
            live: 5,
            ready: 2,
            at_accept: vec!["a".into()],
            unknown: 1,
            silent: vec!["c".into()],
        };
        let text = e.to_string();
        assert!(
            text.starts_with("3 of 5 live members are not ready"),
            "{text}"
        );
        for part in [
            "at `accept`: a",
            "1 answered without their step (an older build: upgrade it)",
            "did not answer: c",
            "sealing = \"send\"",
            "SIGHUP",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        let e = HandleError::NoKeys {
            step: swim_core::Sealing::Send,
        };
        assert!(e.to_string().contains("only `accept` is allowed"), "{e}");
    }
}
