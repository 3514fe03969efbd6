//! The node task: the one owner of the `swim_core::Node`.
//!
//! Each turn it carries out every pending output, then waits for exactly one
//! thing (a datagram, a stream message, the next deadline or a command), feeds
//! it to the node and starts over. It reads the clock and OS entropy for the
//! node and holds no protocol logic of its own.

use crate::config::AgentConfig;
use crate::handle::{
    AgentMetrics, DriverMetrics, Handle, HandleError, KeyAnswer, KeyReport, LeaveOutcome,
    MemberInfo,
};
use crate::snapshot::{Record, Snapshot};
use crate::stream::{self, FrameError};
use bytes::Bytes;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use swim_core::{Event, Identity, Input, Node, Output, StreamId};
use tokio::net::{lookup_host, TcpListener, UdpSocket};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant as TokioInstant;

/// A message from a stream task to the node task.
pub(crate) enum StreamMsg {
    /// A peer opened stream `id`; the node's frames for it go to `writer`.
    Accepted {
        id: StreamId,
        writer: mpsc::Sender<Bytes>,
    },
    /// A frame arrived on stream `id`.
    Frame {
        id: StreamId,
        from: SocketAddr,
        bytes: Bytes,
    },
    /// Stream `id` ended without the node closing it (closed by the peer, or failed).
    Closed { id: StreamId },
}

/// A request from a [`Handle`] to the node task.
pub(crate) enum Command {
    Members(oneshot::Sender<Vec<MemberInfo>>),
    /// Why the node holds a member where it does.
    Explain(String, oneshot::Sender<Option<crate::handle::ExplainInfo>>),
    Metrics(oneshot::Sender<AgentMetrics>),
    /// Join seeds; `true`: one attempt, no retries.
    Join(
        Vec<SocketAddr>,
        bool,
        oneshot::Sender<Result<(), HandleError>>,
    ),
    /// Stop the join in progress; whether there was one.
    CancelJoin(oneshot::Sender<bool>),
    Leave(oneshot::Sender<LeaveOutcome>),
    /// A member's keys starting with a prefix.
    Keys(String, String, oneshot::Sender<Vec<(String, Bytes, u64)>>),
    /// Set (`Some`) or delete (`None`) one of this node's keys.
    Write(
        String,
        Option<Bytes>,
        oneshot::Sender<Result<u64, HandleError>>,
    ),
    /// Declare a member that failed for good as left.
    ForceLeave(String, oneshot::Sender<Result<(), HandleError>>),
    /// Move this node to another sealing step: the step before, or why not.
    SetSealing(
        swim_core::Sealing,
        oneshot::Sender<Result<swim_core::Sealing, HandleError>>,
    ),
    /// A cluster key operation, answered when every live member answered
    /// or its time is up.
    KeyOp(
        swim_core::KeyringOp,
        oneshot::Sender<Result<KeyReport, HandleError>>,
    ),
    /// Fire a user event: its name, payload and whether handlers coalesce it.
    Event(
        String,
        Bytes,
        bool,
        oneshot::Sender<Result<(), HandleError>>,
    ),
    /// Ask a user query; its updates go to the sink; answered with its id.
    Query(
        String,
        Bytes,
        swim_core::QueryOptions,
        crate::handle::QuerySink,
        oneshot::Sender<Result<u64, HandleError>>,
    ),
    /// Respond to a user query: its origin, its id and the response.
    Respond(String, u64, Bytes, oneshot::Sender<Result<(), HandleError>>),
    Shutdown,
}

/// Counters kept by the driver itself (the node counts protocol traffic).
#[derive(Default)]
pub(crate) struct Counters {
    pub udp_recv_errors: AtomicU64,
    pub udp_send_errors: AtomicU64,
    pub streams_out: AtomicU64,
    pub streams_in: AtomicU64,
    pub stream_errors: AtomicU64,
    pub stream_timeouts: AtomicU64,
    pub stream_frames_oversized: AtomicU64,
    pub accept_errors: AtomicU64,
    pub streams_refused: AtomicU64,
    pub streams_evicted: AtomicU64,
}

/// Histograms the driver keeps from what it sees (Prometheus `/metrics`).
pub(crate) struct Histograms {
    /// Seconds from a member's `MemberSuspect` to its `MemberFailed` here.
    pub suspicion_to_dead: prometheus_client::metrics::histogram::Histogram,
    /// Seconds a push-pull stream was open, either side's, from its open
    /// (or accept) to the node's close or its end.
    pub stream_duration: prometheus_client::metrics::histogram::Histogram,
}

impl Default for Histograms {
    fn default() -> Self {
        use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
        Histograms {
            // 0.25 s to about 2 h.
            suspicion_to_dead: Histogram::new(exponential_buckets(0.25, 2.0, 16)),
            // 1 ms to about 33 s.
            stream_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
        }
    }
}

/// What the node task, the stream tasks and the handles share.
pub(crate) struct Shared {
    pub counters: Counters,
    pub histograms: Histograms,
    /// The event handlers' counters (see [`crate::handlers`]).
    pub handlers: crate::handlers::Counters,
    /// The node's clock's zero: its `swim_core::Instant`s are microseconds
    /// since this.
    pub origin: TokioInstant,
    /// When the node started (for its uptime).
    pub started: std::time::Instant,
    pub stream_timeout: Duration,
    pub max_frame: usize,
    /// Bytes of incoming frames in flight, over all streams, in KiB
    /// permits (see [`crate::stream::read_frame`]).
    pub budget: Arc<tokio::sync::Semaphore>,
    /// Incoming stream slots (see [`crate::stream`]).
    pub slots: stream::Slots,
}

impl Shared {
    pub(crate) fn count_stream_error(&self, e: &FrameError) {
        let c = match e {
            FrameError::Io(_) => &self.counters.stream_errors,
            FrameError::Timeout => &self.counters.stream_timeouts,
            FrameError::TooLarge(_) => &self.counters.stream_frames_oversized,
        };
        c.fetch_add(1, Relaxed);
    }

    fn snapshot(&self) -> DriverMetrics {
        let c = &self.counters;
        DriverMetrics {
            udp_recv_errors: c.udp_recv_errors.load(Relaxed),
            udp_send_errors: c.udp_send_errors.load(Relaxed),
            streams_out: c.streams_out.load(Relaxed),
            streams_in: c.streams_in.load(Relaxed),
            stream_errors: c.stream_errors.load(Relaxed),
            stream_timeouts: c.stream_timeouts.load(Relaxed),
            stream_frames_oversized: c.stream_frames_oversized.load(Relaxed),
            accept_errors: c.accept_errors.load(Relaxed),
            streams_refused: c.streams_refused.load(Relaxed),
            streams_evicted: c.streams_evicted.load(Relaxed),
        }
    }
}

/// Why a node could not start. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The node rejected its config, name or metadata.
    #[error("{0}")]
    Node(swim_core::Error),
    /// A socket could not be bound.
    #[error("cannot bind {proto} {addr}: {}", bind_advice(source))]
    Bind {
        /// `"UDP"` or `"TCP"`.
        proto: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// A seed address could not be resolved.
    #[error("cannot resolve seed `{seed}`: {reason}; give seeds as HOST:PORT that this host can resolve")]
    Resolve {
        /// The seed as given.
        seed: String,
        /// What went wrong.
        reason: String,
    },
    /// The bind address is a wildcard and no advertise address was given.
    #[error("bind address {bind} is a wildcard that peers cannot reach; pass --advertise IP:PORT with this host's address")]
    NoAdvertise {
        /// The bind address.
        bind: SocketAddr,
    },
    /// The member snapshot could not be read or rewritten.
    #[error("cannot use the snapshot {}: {source}; check that its directory exists and is writable, or pass another --snapshot PATH", path.display())]
    Snapshot {
        /// The snapshot file.
        path: std::path::PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Another agent holds the member snapshot's lock: two agents must
    /// not share one snapshot file.
    #[error("{0}")]
    SnapshotInUse(crate::snapshot::InUse),
    /// The operating system gave no random bytes: the node's seed (and so
    /// its nonces) would be guessable, so it does not start.
    #[error("cannot read random bytes from the operating system ({0}); the node needs them for its nonces and does not start without them: check that /dev/urandom (or getrandom(2)) is available")]
    Entropy(String),
    /// The stream budget cannot hold one frame of `max_stream_frame` bytes.
    #[error("stream_budget of {budget} bytes cannot hold one frame of max_stream_frame = {max_frame} bytes; raise the budget or lower max_stream_frame")]
    StreamBudget {
        /// The budget, in bytes.
        budget: usize,
        /// The protocol's `max_stream_frame`.
        max_frame: usize,
    },
}

/// What a bind error means, and what to do about it.
fn bind_advice(source: &io::Error) -> String {
    if source.kind() == io::ErrorKind::AddrInUse {
        "address already in use (is another agent running there?); choose another --bind port"
            .to_string()
    } else {
        format!("{source}; check the --bind address is one of this host's")
    }
}

/// Resolves `HOST:PORT` seeds to socket addresses (the first address of each).
pub async fn resolve_seeds(seeds: &[String]) -> Result<Vec<SocketAddr>, StartError> {
    let mut out = Vec::with_capacity(seeds.len());
    for seed in seeds {
        if let Ok(a) = seed.parse::<SocketAddr>() {
            out.push(a);
            continue;
        }
        let bad = |reason: String| StartError::Resolve {
            seed: seed.clone(),
            reason,
        };
        if !seed.contains(':') {
            return Err(bad("no port (expected HOST:PORT)".into()));
        }
        let mut addrs = lookup_host(seed.as_str())
            .await
            .map_err(|e| bad(e.to_string()))?;
        out.push(addrs.next().ok_or_else(|| bad("no address found".into()))?);
    }
    Ok(out)
}

/// A seed for the node's random generator (and so its nonce prefixes) from
/// OS entropy (`getrandom`). Fails closed: no OS randomness, no node.
fn entropy_seed() -> Result<u64, StartError> {
    seed_from(getrandom::u64())
}

/// [`entropy_seed`]'s rule: what the OS gave, or an error, never a
/// stand-in (a clock and a process id are guessable).
fn seed_from(r: Result<u64, getrandom::Error>) -> Result<u64, StartError> {
    r.map_err(|e| StartError::Entropy(e.to_string()))
}

/// Binds the UDP socket and the TCP listener on the same port.
async fn bind(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), StartError> {
    let bind_err = |proto, addr, source| StartError::Bind {
        proto,
        addr,
        source,
    };
    // With port 0 the TCP port may be taken although the UDP one was free: try a few.
    let attempts = if addr.port() == 0 { 16 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|e| bind_err("UDP", addr, e))?;
        let local = udp.local_addr().map_err(|e| bind_err("UDP", addr, e))?;
        match TcpListener::bind(local).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(bind_err("TCP", local, e)),
        }
    }
    Err(last.unwrap_or_else(|| bind_err("TCP", addr, io::Error::other("no free port"))))
}

/// Starts a node: binds its sockets, spawns its task on the current tokio
/// runtime, joins the configured seeds and returns a handle to it.
pub async fn start(config: AgentConfig) -> Result<Handle, StartError> {
    config
        .protocol
        .validate()
        .map_err(|e| StartError::Node(e.into()))?;
    if config.stream_budget < config.protocol.max_stream_frame {
        return Err(StartError::StreamBudget {
            budget: config.stream_budget,
            max_frame: config.protocol.max_stream_frame,
        });
    }
    let mut seeds = resolve_seeds(&config.seeds).await?;
    let (udp, tcp) = bind(config.bind).await?;
    let local = udp.local_addr().map_err(|e| StartError::Bind {
        proto: "UDP",
        addr: config.bind,
        source: e,
    })?;
    let advertise = match config.advertise {
        Some(a) if a.port() == 0 => SocketAddr::new(a.ip(), local.port()),
        Some(a) => a,
        None if local.ip().is_unspecified() => return Err(StartError::NoAdvertise { bind: local }),
        None => local,
    };
    let origin = TokioInstant::now();
    // A life of its own, from OS entropy: a restarted agent's keys are
    // never taken for its earlier process's (32 bits, as the core draws).
    let identity =
        Identity::new(config.name.clone(), advertise).with_life((entropy_seed()? >> 32).max(1));
    let mut node = Node::new(
        config.protocol.clone(),
        identity,
        entropy_seed()?,
        swim_core::Instant::ZERO,
    )
    .map_err(StartError::Node)?;
    for key in &config.keys {
        node.install_secret_key(key.clone());
    }
    for (key, value) in &config.tags {
        node.set(key, value.clone().into_bytes(), swim_core::Instant::ZERO)
            .map_err(StartError::Node)?;
    }
    let mut snapshot_join = false;
    let snapshot = match &config.snapshot {
        Some(path) => {
            let (snapshot, loaded) = Snapshot::open(path, config.rejoin_after_leave, &config.name)
                .map_err(|source| {
                    let in_use =
                        (source.get_ref()).and_then(|e| e.downcast_ref::<crate::snapshot::InUse>());
                    match in_use {
                        Some(in_use) => StartError::SnapshotInUse(in_use.clone()),
                        None => StartError::Snapshot {
                            path: path.clone(),
                            source,
                        },
                    }
                })?;
            let known = rejoin_seeds(&loaded, advertise, &seeds);
            if !known.is_empty() {
                tracing::info!(
                    path = %path.display(),
                    members = loaded.members.len(),
                    rejoining = known.len(),
                    "snapshot: rejoining the members it records"
                );
            }
            snapshot_join = seeds.is_empty() && !known.is_empty();
            seeds.extend(known);
            if loaded.event_floor > 0 {
                // Events the earlier process delivered are not delivered again.
                if node.resume_events(loaded.event_floor) {
                    tracing::info!(path = %path.display(), floor = loaded.event_floor, "snapshot: resuming the user-event floor");
                } else {
                    tracing::warn!(
                        path = %path.display(),
                        floor = loaded.event_floor,
                        max = swim_core::user_event::MAX_RESUMED_FLOOR,
                        "snapshot: the user-event floor it records is implausibly high (a damaged file?): ignored"
                    );
                }
            }
            Some(snapshot)
        }
        None => None,
    };
    if !seeds.is_empty() {
        node.join(&seeds, swim_core::Instant::ZERO)
            .map_err(StartError::Node)?;
    }
    let shared = Arc::new(Shared {
        counters: Counters::default(),
        histograms: Histograms::default(),
        handlers: crate::handlers::Counters::default(),
        origin,
        started: std::time::Instant::now(),
        stream_timeout: config.stream_timeout,
        max_frame: config.protocol.max_stream_frame,
        budget: Arc::new(tokio::sync::Semaphore::new(
            config.stream_budget.div_ceil(1024).max(1),
        )),
        slots: stream::Slots::default(),
    });
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (events, _) = broadcast::channel(config.event_capacity.max(1));
    let (stream_tx, stream_rx) = mpsc::channel(256);
    let (stopped_tx, stopped_rx) = watch::channel(false);
    tokio::spawn(stream::accept_loop(tcp, shared.clone(), stream_tx.clone()));
    let driver = Driver {
        node,
        origin,
        udp,
        buf: vec![0; config.protocol.max_packet_size + 1],
        shared: shared.clone(),
        events: events.clone(),
        stream_tx,
        stream_rx,
        streams: HashMap::new(),
        leave_timeout: config.leave_timeout,
        leaving: None,
        name: config.name.clone(),
        key_ops: HashMap::new(),
        keyring_file: config.keyring_file.clone(),
        user_queries: HashMap::new(),
        suspected: HashMap::new(),
        stream_started: HashMap::new(),
        snapshot,
        snapshot_join,
        join_once: false,
        log_limit: crate::logs::RateLimit::new(std::time::Instant::now()),
        drop_notes: crate::logs::DropNotes::default(),
    };
    let sealing = if config.keys.is_empty() {
        "off (no keys: plain traffic)"
    } else {
        config.protocol.sealing.as_str()
    };
    tracing::info!(node = %config.name, bind = %local, advertise = %advertise, sealing, "swim node started");
    tokio::spawn(async move {
        driver.run(cmd_rx).await;
        let _ = stopped_tx.send(true);
    });
    Ok(Handle::new(
        config.name,
        local,
        advertise,
        cmd_tx,
        events,
        shared,
        stopped_rx,
    ))
}

/// A graceful leave in progress.
struct Leaving {
    deadline: TokioInstant,
    waiters: Vec<oneshot::Sender<LeaveOutcome>>,
    completed: bool,
}

struct Driver {
    node: Node,
    origin: TokioInstant,
    udp: UdpSocket,
    buf: Vec<u8>,
    shared: Arc<Shared>,
    events: broadcast::Sender<Event>,
    stream_tx: mpsc::Sender<StreamMsg>,
    stream_rx: mpsc::Receiver<StreamMsg>,
    /// Open streams (either side's), and where their outgoing frames go.
    streams: HashMap<StreamId, mpsc::Sender<Bytes>>,
    leave_timeout: Duration,
    leaving: Option<Leaving>,
    name: String,
    /// Key operations waiting for answers, by query id.
    key_ops: HashMap<u64, (KeyReport, oneshot::Sender<Result<KeyReport, HandleError>>)>,
    keyring_file: Option<std::path::PathBuf>,
    /// User queries of this node in flight, by query id, and where their
    /// updates go.
    user_queries: HashMap<u64, crate::handle::QuerySink>,
    /// Members suspected now, and since when (for `suspicion_to_dead`).
    suspected: HashMap<swim_core::Name, TokioInstant>,
    /// Open streams, and since when (for `stream_duration`).
    stream_started: HashMap<StreamId, TokioInstant>,
    /// The member snapshot, if the node keeps one.
    snapshot: Option<Snapshot>,
    /// The join at start has only the snapshot's members as seeds: it makes
    /// one pass, as Serf's, and the agent runs alone if none answers.
    snapshot_join: bool,
    /// The join in progress makes one attempt (its caller reports the
    /// outcome): a failed attempt ends it instead of retrying.
    join_once: bool,
    /// Lines about peer-caused events (see [`crate::logs`]).
    log_limit: crate::logs::RateLimit,
    /// When each source's dropped traffic was last noted.
    drop_notes: crate::logs::DropNotes,
}

impl Driver {
    /// A join from the snapshot alone makes one pass: when it is to retry,
    /// it stops, and the agent runs alone until a member joins it (or
    /// `swim join`), rather than retrying addresses that may be long gone.
    fn end_snapshot_join(&mut self, event: &Event) {
        match event {
            Event::JoinCompleted { .. } => {
                self.snapshot_join = false;
                self.join_once = false;
            }
            Event::JoinRetry { .. } | Event::JoinFailed { .. } if self.snapshot_join => {
                self.snapshot_join = false;
                // One pass, like a one-attempt join: the event says the
                // join failed, not that it retries.
                self.join_once = true;
                let now = self.now();
                self.node.cancel_join(now);
                tracing::warn!(
                    node = %self.name,
                    "snapshot: no member it records answered; running alone until a member \
                     joins this one or `swim join` names a seed"
                );
            }
            _ => {}
        }
    }

    /// A one-attempt join ([`Handle::join_once`]) whose attempt failed
    /// ends here: the join is cancelled and the event says it failed, so
    /// the log, `monitor` and the caller agree that nothing retries.
    fn end_join_once(&mut self, event: Event) -> Event {
        match event {
            Event::JoinRetry { attempt } if self.join_once => {
                self.join_once = false;
                let now = self.now();
                self.node.cancel_join(now);
                Event::JoinFailed { attempts: attempt }
            }
            Event::JoinFailed { .. } => {
                self.join_once = false;
                event
            }
            e => e,
        }
    }

    /// Notes (once per source per minute, within the log's rate limit)
    /// traffic from `from` that the node just dropped because it opened
    /// under no key or carried another cluster's label.
    fn note_drops(&mut self, from: SocketAddr, before: (u64, u64)) {
        use crate::logs::Dropped;
        let d = &self.node.metrics().dropped;
        let now = std::time::Instant::now();
        for (why, was, is) in [
            (Dropped::Auth, before.0, d.auth),
            (Dropped::Cluster, before.1, d.cluster),
        ] {
            if is > was && self.drop_notes.due(from, why, now) && self.log_limit.allow(now) {
                let cluster = self.node.config().cluster.clone();
                crate::logs::note_dropped(&self.name, from, why, &cluster);
            }
        }
    }

    /// A stream ended: its duration goes into the histogram (once).
    fn stream_ended(&mut self, id: StreamId) {
        if let Some(t) = self.stream_started.remove(&id) {
            (self.shared.histograms.stream_duration).observe(t.elapsed().as_secs_f64());
        }
    }

    /// Records membership changes and the user-event floor in the
    /// snapshot, if there is one.
    fn snapshot_event(&mut self, event: &Event) {
        let Some(snapshot) = &mut self.snapshot else {
            return;
        };
        let record = match event {
            Event::MemberJoined { member: m, .. }
            | Event::MemberUpdated(m)
            | Event::MemberRecovered(m) => Record::Alive {
                name: m.name.to_string(),
                addr: m.addr,
            },
            Event::MemberFailed { member: m, .. }
            | Event::MemberLeft(m)
            | Event::MemberReaped(m) => Record::Gone {
                name: m.name.to_string(),
            },
            Event::User { .. } => Record::Events {
                floor: self.node.event_floor(),
            },
            _ => return,
        };
        if matches!(&record, Record::Alive { name, .. } | Record::Gone { name } if *name == self.name)
        {
            return;
        }
        let node = &self.node;
        snapshot.record(record, || live_members(node));
    }

    /// Suspicion times from membership events.
    fn time_suspicions(&mut self, event: &Event) {
        match event {
            Event::MemberSuspect { member: m, .. } => {
                self.suspected
                    .entry(m.name.clone())
                    .or_insert_with(TokioInstant::now);
            }
            Event::MemberFailed { member: m, .. } => {
                if let Some(t) = self.suspected.remove(&m.name) {
                    (self.shared.histograms.suspicion_to_dead).observe(t.elapsed().as_secs_f64());
                }
            }
            Event::MemberRecovered(m)
            | Event::MemberLeft(m)
            | Event::MemberReaped(m)
            | Event::MemberJoined { member: m, .. }
            | Event::MemberUpdated(m) => {
                self.suspected.remove(&m.name);
            }
            _ => {}
        }
    }

    /// The node's clock: microseconds since the driver started.
    fn now(&self) -> swim_core::Instant {
        let micros = u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX);
        swim_core::Instant::from_micros(micros)
    }

    fn to_tokio(&self, t: swim_core::Instant) -> TokioInstant {
        self.origin + Duration::from_micros(t.as_micros())
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            while let Some(out) = self.node.poll_output() {
                self.execute(out);
            }
            if let Some(l) = &self.leaving {
                if l.completed || TokioInstant::now() >= l.deadline {
                    break;
                }
            }
            let deadline = self.node.poll_timeout().map(|t| self.to_tokio(t));
            let wake = match (&self.leaving, deadline) {
                (Some(l), Some(d)) => Some(d.min(l.deadline)),
                (Some(l), None) => Some(l.deadline),
                (None, d) => d,
            };
            let input = tokio::select! {
                r = self.udp.recv_from(&mut self.buf) => match r {
                    Ok((n, from)) => Input::Datagram { from, bytes: Bytes::copy_from_slice(&self.buf[..n]) },
                    Err(e) => {
                        // ICMP errors and the like: one bad packet never stops the loop.
                        self.shared.counters.udp_recv_errors.fetch_add(1, Relaxed);
                        tracing::debug!(error = %e, "UDP receive failed");
                        continue;
                    }
                },
                Some(msg) = self.stream_rx.recv() => match msg {
                    StreamMsg::Accepted { id, writer } => {
                        self.streams.insert(id, writer);
                        self.stream_started.insert(id, TokioInstant::now());
                        continue;
                    }
                    StreamMsg::Frame { id, from, bytes } => Input::StreamFrame { id, from, bytes },
                    StreamMsg::Closed { id } => {
                        self.streams.remove(&id);
                        self.stream_ended(id);
                        Input::StreamClosed { id }
                    }
                },
                () = sleep_until_opt(wake) => Input::Tick,
                cmd = commands.recv() => match cmd {
                    Some(Command::Shutdown) | None => break,
                    Some(cmd) => {
                        self.command(cmd);
                        continue;
                    }
                },
            };
            let source = match &input {
                Input::Datagram { from, .. } | Input::StreamFrame { from, .. } => Some(*from),
                _ => None,
            };
            let d = &self.node.metrics().dropped;
            let before = (d.auth, d.cluster);
            let now = self.now();
            self.node.handle(input, now);
            if let Some(from) = source {
                self.note_drops(from, before);
            }
            self.log_limit.tick(std::time::Instant::now());
        }
        // What is queued for the snapshot is written before anyone hears
        // that the node stopped.
        if let Some(mut s) = self.snapshot.take() {
            s.close();
        }
        if let Some(l) = self.leaving.take() {
            let outcome = LeaveOutcome {
                completed: l.completed,
            };
            for w in l.waiters {
                let _ = w.send(outcome);
            }
        }
        tracing::info!(node = %self.name, "swim node stopped");
    }

    fn command(&mut self, cmd: Command) {
        let now = self.now();
        match cmd {
            Command::Members(reply) => {
                let mut members: Vec<MemberInfo> = self
                    .node
                    .members()
                    .map(|m| {
                        let mut info = MemberInfo::from(&m);
                        info.tags = self
                            .node
                            .keys(&m.name, "")
                            .into_iter()
                            .map(|(k, v, _)| (k, String::from_utf8_lossy(&v).into_owned()))
                            .collect();
                        info
                    })
                    .collect();
                // Stable output: by name, whatever the table's probe order.
                members.sort_by(|a, b| a.name.cmp(&b.name));
                let _ = reply.send(members);
            }
            Command::Explain(name, reply) => {
                let info = self
                    .node
                    .explain(&name)
                    .map(|explanation| crate::handle::ExplainInfo {
                        explanation,
                        now,
                        wall: std::time::SystemTime::now(),
                    });
                let _ = reply.send(info);
            }
            Command::Metrics(reply) => {
                let mut by_status = [0usize; 4];
                for m in self.node.members() {
                    by_status[m.status as usize] += 1;
                }
                let _ = reply.send(AgentMetrics {
                    core: self.node.metrics().clone(),
                    driver: self.shared.snapshot(),
                    health_score: self.node.health_score(),
                    alive: by_status[swim_core::Status::Alive as usize],
                    suspect: by_status[swim_core::Status::Suspect as usize],
                    dead: by_status[swim_core::Status::Dead as usize],
                    left: by_status[swim_core::Status::Left as usize],
                    sealing: (!self.node.keyring().is_empty()).then(|| self.node.config().sealing),
                    key_ids: self.node.keyring().ids().map(|id| id.to_string()).collect(),
                    handlers: self.shared.handlers.snapshot(),
                });
            }
            Command::Join(seeds, once, reply) => {
                let r = self.node.join(&seeds, now).map_err(HandleError::Node);
                if r.is_ok() {
                    self.join_once = once;
                    let shown: Vec<String> = seeds.iter().map(ToString::to_string).collect();
                    tracing::info!(node = %self.name, seeds = %shown.join(", "), once, "joining");
                }
                let _ = reply.send(r);
            }
            Command::CancelJoin(reply) => {
                let pending = self.node.cancel_join(now);
                self.join_once = false;
                if pending {
                    tracing::warn!(node = %self.name, "no seed answered in time; the join is cancelled");
                }
                let _ = reply.send(pending);
            }
            Command::Leave(reply) => match &mut self.leaving {
                Some(l) => l.waiters.push(reply),
                None => {
                    tracing::info!(node = %self.name, "leaving the cluster");
                    self.leaving = Some(Leaving {
                        deadline: TokioInstant::now() + self.leave_timeout,
                        waiters: vec![reply],
                        completed: false,
                    });
                    self.node.leave(now);
                    let node = &self.node;
                    if let Some(s) = &mut self.snapshot {
                        s.record(Record::Leave, || live_members(node));
                    }
                }
            },
            Command::Keys(member, prefix, reply) => {
                let _ = reply.send(self.node.keys(&member, &prefix));
            }
            Command::Write(key, Some(value), reply) => {
                let _ = reply.send(self.node.set(&key, value, now).map_err(HandleError::Node));
            }
            Command::Write(key, None, reply) => {
                let deleted = self.node.delete(&key, now).map_err(HandleError::Node);
                let _ = reply.send(deleted.map(u64::from));
            }
            Command::ForceLeave(name, reply) => {
                let r = self.node.force_leave(&name, now).map_err(HandleError::Node);
                let _ = reply.send(r);
            }
            Command::KeyOp(op, reply) => {
                // Long enough for the query to reach everyone and the
                // answers to come back, a few gossip rounds each way.
                let timeout = self.node.config().probe_interval * 3;
                let live = self.node.num_live();
                match self.node.keyring_op(op, timeout, now) {
                    Ok(id) => {
                        let report = KeyReport {
                            live,
                            ..KeyReport::default()
                        };
                        self.key_ops.insert(id, (report, reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(HandleError::Node(e)));
                    }
                }
            }
            Command::SetSealing(step, reply) => {
                let from = self.node.sealing();
                let r = crate::handle::sealing_needs_keys(step, !self.node.keyring().is_empty())
                    .map(|()| {
                        self.node.set_sealing(step);
                        from
                    });
                let _ = reply.send(r);
            }
            Command::Event(name, payload, coalesce, reply) => {
                let r = (self.node)
                    .event(&name, &payload, coalesce, now)
                    .map_err(HandleError::Node);
                let _ = reply.send(r);
            }
            Command::Query(name, payload, options, sink, reply) => {
                match self.node.query(&name, &payload, options, now) {
                    Ok(id) => {
                        self.user_queries.insert(id, sink);
                        let _ = reply.send(Ok(id));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(HandleError::Node(e)));
                    }
                }
            }
            Command::Respond(origin, id, payload, reply) => {
                let r = (self.node)
                    .respond(&origin, id, &payload, now)
                    .map_err(HandleError::Node);
                let _ = reply.send(r);
            }
            Command::Shutdown => {}
        }
    }

    /// User queries' acks, responses and ends, to their streams (an
    /// update that finds a stream full is dropped and counted).
    fn on_query_event(&mut self, event: &Event) {
        use crate::handle::QueryUpdate;
        let (query, update) = match event {
            Event::QueryAck { query, member } => (
                query,
                QueryUpdate::Ack {
                    member: member.to_string(),
                },
            ),
            Event::QueryResponse {
                query,
                member,
                payload,
            } => (
                query,
                QueryUpdate::Response {
                    member: member.to_string(),
                    payload: payload.clone(),
                },
            ),
            Event::QueryDone {
                query,
                answers,
                acks,
                asked,
                missing,
            } => {
                if let Some(sink) = self.user_queries.remove(query) {
                    let summary = crate::handle::QuerySummary {
                        id: *query,
                        asked: *asked,
                        acks: *acks,
                        responses: *answers,
                        missing: missing.iter().map(ToString::to_string).collect(),
                        dropped: sink.dropped,
                    };
                    // Dropping the updates' sender ends them; the summary follows.
                    let _ = sink.done.send(summary);
                }
                return;
            }
            _ => return,
        };
        if let Some(sink) = self.user_queries.get_mut(query) {
            if sink.updates.try_send(update).is_err() {
                sink.dropped += 1;
            }
        }
    }

    /// Key operations' answers, and the keyring file kept current.
    fn on_key_event(&mut self, event: &Event) {
        match event {
            Event::KeyAnswer {
                query,
                member,
                keys,
                refused,
                sealing,
            } => {
                if let Some((report, _)) = self.key_ops.get_mut(query) {
                    let answer = KeyAnswer {
                        keys: keys.iter().map(ToString::to_string).collect(),
                        refused: refused.clone(),
                        sealing: *sealing,
                    };
                    report.answers.insert(member.to_string(), answer);
                    // Everyone live at the start answered: no need to wait
                    // out the query's time.
                    if report.answers.len() >= report.live {
                        if let Some((report, reply)) = self.key_ops.remove(query) {
                            let _ = reply.send(Ok(report));
                        }
                    }
                }
            }
            Event::QueryDone { query, .. } => {
                if let Some((report, reply)) = self.key_ops.remove(query) {
                    let _ = reply.send(Ok(report));
                }
            }
            Event::KeyringChanged => {
                if let Some(path) = &self.keyring_file {
                    match crate::keyring::save(path, self.node.keyring().keys()) {
                        Ok(()) => {
                            tracing::info!(node = %self.name, path = %path.display(), "keyring file written")
                        }
                        Err(e) => {
                            tracing::error!(node = %self.name, error = %e, "keyring changed but could not be saved")
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn execute(&mut self, out: Output) {
        match out {
            Output::Datagram { to, bytes } => {
                if let Err(e) = self.udp.try_send_to(&bytes, to) {
                    // A full socket buffer or an unreachable peer: UDP is lossy anyway.
                    self.shared.counters.udp_send_errors.fetch_add(1, Relaxed);
                    tracing::debug!(%to, error = %e, "UDP send failed");
                }
            }
            Output::StreamOpen { id, to } => {
                let (writer, writes) = mpsc::channel(stream::MAX_QUEUED_FRAMES);
                self.streams.insert(id, writer);
                self.stream_started.insert(id, TokioInstant::now());
                tokio::spawn(stream::open(
                    id,
                    to,
                    writes,
                    self.shared.clone(),
                    self.stream_tx.clone(),
                ));
            }
            Output::StreamFrame { id, bytes } => {
                let Some(writer) = self.streams.get(&id) else {
                    return;
                };
                if id.is_accepted() {
                    // The node answers only a peer whose frame opened
                    // (sealed) or decoded (plain): its slot is safe now.
                    self.shared.slots.trust(id);
                }
                if writer.try_send(bytes).is_err() {
                    // The peer stopped reading: give the stream up. Its task
                    // ends and reports it closed.
                    self.shared.counters.stream_errors.fetch_add(1, Relaxed);
                    tracing::debug!(stream = id.as_u64(), "stream backed up; closing it");
                    self.streams.remove(&id);
                }
            }
            Output::StreamClose { id } => {
                // The stream task writes what is queued, then closes.
                self.streams.remove(&id);
                self.stream_ended(id);
            }
            Output::Event(event) => {
                self.end_snapshot_join(&event);
                let event = self.end_join_once(event);
                log_event(&self.name, &event, &mut self.log_limit);
                self.on_key_event(&event);
                self.on_query_event(&event);
                self.time_suspicions(&event);
                self.snapshot_event(&event);
                if let (Event::LeaveCompleted, Some(l)) = (&event, &mut self.leaving) {
                    l.completed = true;
                }
                let _ = self.events.send(event);
            }
            out => tracing::debug!(?out, "output of a newer core ignored"),
        }
    }
}

/// The members alive or suspect now (the snapshot's live set), but this node.
fn live_members(node: &Node) -> std::collections::BTreeMap<String, SocketAddr> {
    let own = node.local().name;
    node.members()
        .filter(|m| {
            m.name != own
                && matches!(
                    m.status,
                    swim_core::Status::Alive | swim_core::Status::Suspect
                )
        })
        .map(|m| (m.name.to_string(), m.addr))
        .collect()
}

/// Most snapshot members a restarted node joins (the first to answer
/// completes the join; the others are chosen at random).
const MAX_REJOIN_SEEDS: usize = 16;

/// The snapshot's members to join: their addresses but this node's own and
/// the seeds already given, at most [`MAX_REJOIN_SEEDS`] chosen at random.
fn rejoin_seeds(
    loaded: &crate::snapshot::Loaded,
    advertise: SocketAddr,
    seeds: &[SocketAddr],
) -> Vec<SocketAddr> {
    let mut addrs: Vec<SocketAddr> = loaded
        .members
        .values()
        .copied()
        .filter(|a| *a != advertise && !seeds.contains(a))
        .collect();
    addrs.sort();
    addrs.dedup();
    // A partial Fisher-Yates shuffle, seeded from the OS (nothing secret
    // depends on it: a fixed start will do if the OS gives nothing).
    let mut x = getrandom::u64().unwrap_or(0x9e37_79b9_7f4a_7c15) | 1;
    let n = addrs.len().min(MAX_REJOIN_SEEDS);
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = i + (x % (addrs.len() - i) as u64) as usize;
        addrs.swap(i, j);
    }
    addrs.truncate(n);
    addrs
}

async fn sleep_until_opt(t: Option<TokioInstant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// What a refused join means, for the log, the CLI and the control API:
/// the seed, the holder of the name, and the fix.
pub fn join_refused(
    name: &str,
    seed: SocketAddr,
    holder: SocketAddr,
    authenticated: bool,
) -> String {
    let how = if authenticated {
        ""
    } else {
        " (the refusal was not sealed, so it may be forged; it only ends this attempt)"
    };
    format!(
        "the seed {seed} refused the join: the name {name} is taken by a running member at \
         {holder}; names must be unique: start this agent with another --name{how}"
    )
}

/// What to check when no seed answered a join, for the log, the CLI and
/// the control API. A wrong address is one cause; keys or a cluster label
/// other than the seed's are the other: the seed drops such traffic
/// without an answer, so the joiner sees silence either way (the seed's
/// log names what it dropped).
pub const JOIN_UNANSWERED: &str = "check the addresses and that an agent runs there; if one does, \
     it may hold other keys or another cluster label than this agent and drop its traffic \
     unanswered (sealed under a key it lacks, plain while it requires sealing, or another \
     `cluster`): check that this agent's keyring (--keyring-file or keyring_file) and \
     [protocol] cluster match the seed's; the seed logs what it dropped";

/// Logs one event. What peers can cause goes through `limit` (see
/// [`crate::logs`]); key events are debug lines without their values.
fn log_event(node: &str, event: &Event, limit: &mut crate::logs::RateLimit) {
    use tracing::{debug, info, warn};
    let local = matches!(
        event,
        Event::JoinCompleted { .. }
            | Event::JoinRetry { .. }
            | Event::JoinFailed { .. }
            | Event::JoinRefused { .. }
            | Event::LeaveCompleted
            | Event::KeyringChanged
            | Event::SealingChanged { .. }
            | Event::KeyAnswer { .. }
            | Event::QueryDone { .. }
    );
    let key_event = matches!(
        event,
        Event::KeySet { .. } | Event::KeyDeleted { .. } | Event::NamespaceReset { .. }
    );
    if key_event && !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    // A line the log filter would not print is not counted against the
    // limit either (at `--log warn`, member joins counted as suppressed
    // lines and the agent warned about lines it would never have shown).
    let shown = match event {
        Event::MemberSuspect { .. }
        | Event::MemberFailed { .. }
        | Event::JoinRefusedHere { .. }
        | Event::NameConflict { .. } => tracing::enabled!(tracing::Level::WARN),
        Event::QueryAck { .. } | Event::QueryResponse { .. } => {
            tracing::enabled!(tracing::Level::DEBUG)
        }
        _ => tracing::enabled!(tracing::Level::INFO),
    };
    if !local && !shown {
        return;
    }
    if !local && !limit.allow(std::time::Instant::now()) {
        return;
    }
    let Some(text) = sentence(node, event) else {
        return;
    };
    // One readable sentence per event; `event` is the monitor's name of it.
    let kind = crate::control::event_json(event)["event"]
        .as_str()
        .unwrap_or("event")
        .to_string();
    match event {
        Event::MemberSuspect { .. }
        | Event::MemberFailed { .. }
        | Event::JoinRetry { .. }
        | Event::JoinFailed { .. }
        | Event::JoinRefused { .. }
        | Event::JoinRefusedHere { .. }
        | Event::NameConflict { .. }
        | Event::CannotRefute { .. }
        | Event::SealingChanged { .. } => warn!(node, event = kind, "{text}"),
        Event::KeySet { .. }
        | Event::KeyDeleted { .. }
        | Event::NamespaceReset { .. }
        | Event::QueryAck { .. }
        | Event::QueryResponse { .. } => debug!(node, event = kind, "{text}"),
        _ => info!(node, event = kind, "{text}"),
    }
}

/// An event as the sentence the log prints (`None` for the events that
/// are not logged: key answers and finished queries, which their callers
/// report). Key values and payloads are never in it, only their sizes.
/// Every string a peer chose (key names, event and query names, member
/// names) goes through [`swim_core::escape_hidden`]: a newline in it would
/// start a log line of the peer's choosing.
fn sentence(node: &str, event: &Event) -> Option<String> {
    let e = |s: &str| swim_core::escape_hidden(s).into_owned();
    let confirmed = |v: &swim_core::Verdict| {
        let names: Vec<String> = (v.evidence.as_ref())
            .map(|ev| ev.confirmers.iter().map(|c| e(c.as_str())).collect())
            .unwrap_or_default();
        if names.is_empty() {
            "confirmed by nobody".to_string()
        } else {
            format!("confirmed by {}", names.join(", "))
        }
    };
    Some(match event {
        Event::MemberJoined { member: m, keys } => format!(
            "member joined: {} at {} (incarnation {}, {} key(s))",
            e(m.name.as_str()),
            m.addr,
            m.incarnation,
            keys.len()
        ),
        Event::MemberUpdated(m) => format!(
            "member updated: {} is now at {}, incarnation {}",
            e(m.name.as_str()),
            m.addr,
            m.incarnation
        ),
        Event::MemberSuspect { member: m, accuser } => format!(
            "member suspect: {} ({}) at incarnation {}, accused by {}; it is declared dead \
             unless it refutes in time",
            e(m.name.as_str()),
            m.addr,
            m.incarnation,
            e(accuser.as_str())
        ),
        Event::MemberRecovered(m) => format!(
            "member recovered: {} refuted its suspicion and is alive (incarnation {})",
            e(m.name.as_str()),
            m.incarnation
        ),
        Event::MemberFailed {
            member: m,
            accuser,
            verdict,
        } => {
            let from = match (&verdict.learned_from, verdict.own) {
                (_, true) => "this agent's own verdict".to_string(),
                (Some(f), _) => format!("learned from {}", e(f.as_str())),
                (None, false) => "learned from a sender this agent could not tell".to_string(),
            };
            format!(
                "member failed: {} ({}) is declared dead at incarnation {}, accused by {}, {}; \
                 {from} (`swim explain {}` tells more)",
                e(m.name.as_str()),
                m.addr,
                m.incarnation,
                e(accuser.as_str()),
                confirmed(verdict),
                e(m.name.as_str())
            )
        }
        Event::MemberLeft(m) => format!(
            "member left: {} ({}) left the cluster",
            e(m.name.as_str()),
            m.addr
        ),
        Event::MemberReaped(m) => format!(
            "member reaped: {} ({}), its dead or left record is forgotten",
            e(m.name.as_str()),
            m.addr
        ),
        Event::JoinCompleted { seed } => format!("joined the cluster through the seed {seed}"),
        Event::JoinRetry { attempt } => format!(
            "no seed answered join attempt {attempt}; retrying the join (a wrong address, no \
             agent there, or other keys or cluster label at the seed)"
        ),
        Event::LeaveCompleted => "the leave was announced to the cluster".to_string(),
        Event::JoinFailed { attempts } => format!(
            "no seed answered the join in {attempts} attempt(s); the join is cancelled and \
             nothing retries it; {JOIN_UNANSWERED}"
        ),
        Event::KeySet {
            member,
            key,
            value,
            version,
            ..
        } => format!(
            "member {} set key `{}` ({} bytes, version {version})",
            e(member.as_str()),
            e(key),
            value.len()
        ),
        Event::KeyDeleted {
            member,
            key,
            version,
            ..
        } => format!(
            "member {} deleted key `{}` (version {version})",
            e(member.as_str()),
            e(key)
        ),
        Event::NamespaceReset { member } => {
            format!(
                "member {}'s keys were replaced as a whole (a reset)",
                e(member.as_str())
            )
        }
        Event::JoinRefused {
            seed,
            holder,
            authenticated,
        } => join_refused(node, *seed, *holder, *authenticated),
        Event::JoinRefusedHere { from, name, holder } => format!(
            "refused a join from {from}: it uses the name {}, held by the running member at \
             {holder}",
            e(name.as_str())
        ),
        Event::NameConflict { addr } => format!(
            "another process at {addr} uses this node's name: names must be unique; rename one \
             of them"
        ),
        Event::CannotRefute { incarnation } => format!(
            "this node is accused at incarnation {incarnation}, which it cannot outbid: the \
             accusation stands until it restarts (counted in `unrefutable`; see \
             docs/operations.md)"
        ),
        Event::SealingChanged { from, to } => format!(
            "sealing step moved from `{}` to `{}` by a cluster key operation (`swim keys \
             sealing`); in memory only: a restart starts at the step the config says",
            from.as_str(),
            to.as_str()
        ),
        Event::KeyringChanged => {
            "this agent's keyring changed (a key operation was carried out here)".to_string()
        }
        Event::User {
            origin,
            name,
            payload,
            clock,
            ..
        } => format!(
            "user event `{}` from {} delivered (clock {clock}, {} bytes)",
            e(name),
            e(origin.as_str()),
            payload.len()
        ),
        Event::Query {
            origin,
            id,
            name,
            payload,
            ..
        } => format!(
            "query asked of this node: `{}` (id {id}) by {} ({} bytes)",
            e(name),
            e(origin.as_str()),
            payload.len()
        ),
        Event::QueryAck { query, member } => {
            format!("query {query} acked by {}", e(member.as_str()))
        }
        Event::QueryResponse {
            query,
            member,
            payload,
        } => format!(
            "query {query} answered by {} ({} bytes)",
            e(member.as_str()),
            payload.len()
        ),
        Event::KeyAnswer { .. } | Event::QueryDone { .. } => return None,
        // A kind of event newer than this agent: named, never dumped.
        _ => "an event of a kind this agent does not describe".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed (and so the nonce prefix) used to fall back to the clock
    /// XOR the process id when the OS gave no random bytes. It fails closed.
    #[test]
    fn no_os_randomness_no_seed() {
        let e = seed_from(Err(getrandom::Error::UNSUPPORTED)).unwrap_err();
        assert!(matches!(e, StartError::Entropy(_)), "{e}");
        assert!(e.to_string().contains("does not start"), "{e}");
        assert_eq!(seed_from(Ok(7)).unwrap(), 7);
    }

    /// Events are logged as sentences: no `Debug` dump of a Rust value, key
    /// values never, key ids in hex and query ids as the API gives them.
    #[test]
    fn events_read_as_sentences() {
        let member = swim_core::Member::new(
            "m3",
            ([127, 0, 0, 1], 7).into(),
            2,
            swim_core::Status::Suspect,
        );
        let events = [
            Event::MemberSuspect {
                member: member.clone(),
                accuser: "m7".into(),
            },
            Event::CannotRefute { incarnation: 9 },
            Event::KeyringChanged,
            Event::User {
                origin: "m1".into(),
                name: "deploy".into(),
                payload: bytes::Bytes::from_static(b"SECRET"),
                clock: 4,
                coalesce: true,
            },
            Event::KeySet {
                member: "m1".into(),
                key: "role".into(),
                old: None,
                value: bytes::Bytes::from_static(b"SECRET"),
                version: 3,
            },
            Event::QueryAck {
                query: 255,
                member: "m2".into(),
            },
        ];
        for e in &events {
            let text = sentence("n", e).unwrap();
            for dump in ["{", "}", "Event", "Member {", "Bytes", "SECRET"] {
                assert!(!text.contains(dump), "{text}");
            }
        }
        assert_eq!(
            sentence("n", &events[0]).unwrap(),
            "member suspect: m3 (127.0.0.1:7) at incarnation 2, accused by m7; it is declared \
             dead unless it refutes in time"
        );
        // Query ids as the monitor, the query API and SWIM_QUERY_ID spell them.
        assert_eq!(sentence("n", &events[5]).unwrap(), "query 255 acked by m2");
        // Key ids, wherever a value holding one is formatted, are hex.
        let id = swim_core::SecretKeyId(0x0123_4567_89ab_cdef);
        assert_eq!(format!("{id}"), "0123456789abcdef");
        assert_eq!(format!("{id:?}"), "SecretKeyId(0123456789abcdef)");
    }

    /// At `--log warn`, a flood of member joins (info lines, never shown)
    /// leaves the limit untouched: a suspicion after it is still printed.
    #[test]
    fn lines_the_filter_hides_do_not_use_up_the_limit() {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let start = std::time::Instant::now();
            let mut limit = crate::logs::RateLimit::new(start);
            let member = swim_core::Member::new(
                "m",
                ([127, 0, 0, 1], 1).into(),
                0,
                swim_core::Status::Alive,
            );
            let joined = Event::MemberJoined {
                member: member.clone(),
                keys: Vec::new(),
            };
            for _ in 0..1000 {
                log_event("n", &joined, &mut limit);
            }
            assert!(
                limit.allow(start),
                "1,000 hidden lines used none of the limit"
            );
        });
    }
}
