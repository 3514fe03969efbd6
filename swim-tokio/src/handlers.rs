//! Event handlers (Serf's `-event-handler`): shell commands the agent runs
//! when membership changes or a user event arrives.
//!
//! A handler is `[FILTER=]CMD`. `FILTER` is a comma-separated list of
//! `member-join`, `member-leave`, `member-failed`, `member-update`,
//! `member-reap`, `user` (every user event), `user:NAME` (user events
//! named `NAME`), `query` (every user query asked of this agent),
//! `query:NAME` (queries named `NAME`) or `*` (every event but queries);
//! without one, the handler runs for every event but queries. A prefix before the first `=` that holds no whitespace is
//! read as a filter and must be a valid one (`*=FOO=1 cmd` runs a command
//! that starts with a variable assignment).
//!
//! `CMD` runs through `sh -c` with, in its environment, `SWIM_EVENT`
//! (`member-join`, ..., `user`), `SWIM_SELF_NAME`, `SWIM_SELF_ADDRESS`,
//! and for user events `SWIM_USER_EVENT` (the name), `SWIM_USER_LTIME`
//! (the event clock) and `SWIM_ORIGIN` (the member that fired it); for
//! queries (`SWIM_EVENT=query`) `SWIM_QUERY_NAME`, `SWIM_QUERY_ID` and
//! `SWIM_ORIGIN` (the member that asked). Its standard input is a user
//! event's or a query's payload, or for a member event one
//! line per member: `NAME\tADDRESS\tSTATUS\tTAGS` (tags as `k=v` joined by
//! `,`, as this agent holds them).
//!
//! **Queries** (Serf's query handlers). A handler runs for a query only
//! when its filter names queries (`query`, `query:NAME`): its standard
//! output, when it exits with status 0, is the response
//! ([`Handle::respond`](crate::Handle::respond)), cut to
//! [`swim_core::MAX_RESPONSE_SIZE`] bytes (and logged) if longer. A run is
//! killed at the query's timeout (or the handler timeout, if shorter); a
//! run that fails or times out sends no response (logged, counted in
//! `failures` or `timeouts`), nor does a query still queued when its time
//! is up (counted in `dropped`). Without a query handler the agent acks
//! (if asked) but does not respond. Queries named `_swim_...` (the
//! agent's own, such as `swim reachability`) run no handler.
//!
//! **Coalescing.** A handler whose filter names only user events (`user`,
//! `user:NAME`) gets the user events that ask for it (`coalesce`, the
//! default of `swim event`) through a [`swim_core::Coalescer`]: of a burst
//! of events with one name it runs once, for the newest. A burst ends
//! [`COALESCE_PERIOD`] after its first event or [`QUIESCENT_PERIOD`] after
//! its last (the `serf agent` defaults). A handler without a filter, or
//! one that also takes member events, runs for every user event.
//!
//! **Bounds.** Each handler runs one invocation at a time, from a queue of
//! [`QUEUE`] events: an event that finds it full is dropped and counted
//! (`dropped`). A coalescing handler holds bursts of at most
//! [`MAX_BURSTS`] names at once; an event of another name beyond them goes
//! to its queue at once. An invocation that runs past the handler timeout is killed
//! (its whole process group) and counted (`timeouts`); one that exits
//! non-zero, or cannot start, is counted (`failures`). At most
//! [`OUTPUT_LIMIT`] bytes of each of its standard output and error are
//! kept and logged. The handlers read the node's event channel from a
//! task of their own: a slow handler never holds up the node; if that
//! task falls behind the channel, the events it missed are counted
//! (`missed`).
//!
//! Event payloads come from the network: on a plain (unsealed) cluster
//! anyone who can send datagrams to the cluster's port can fire events.
//! A handler must treat its input and environment as untrusted.

use crate::Handle;
use bytes::Bytes;
use serde::Serialize;
use std::collections::HashSet;
use std::fmt;
use std::process::Stdio;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use swim_core::{Coalescer, Event, Member};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc};

/// Serf agent's `UserCoalescePeriod`: a burst of coalesced user events
/// ends this long after its first event at the latest.
pub const COALESCE_PERIOD: Duration = Duration::from_secs(3);

/// Serf agent's `UserQuiescentPeriod`: a burst of coalesced user events
/// ends once this long passed without another.
pub const QUIESCENT_PERIOD: Duration = Duration::from_secs(1);

/// Events waiting for one handler; more are dropped (and counted).
pub const QUEUE: usize = 256;

/// Bytes of a run's standard output (and of its error) kept for the log.
pub const OUTPUT_LIMIT: usize = 4096;

/// Bursts one handler coalesces at once (distinct event names); an event
/// of yet another name, beyond them, goes to its queue uncoalesced.
pub const MAX_BURSTS: usize = 256;

/// The default limit on one run of a handler.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the output of a killed run is still read, for a process that
/// left its group holding the pipes.
const DRAIN: Duration = Duration::from_secs(1);

/// What events a handler runs for (one element of its filter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// `*`: every event.
    Any,
    /// `member-join`.
    MemberJoin,
    /// `member-leave`.
    MemberLeave,
    /// `member-failed`.
    MemberFailed,
    /// `member-update`.
    MemberUpdate,
    /// `member-reap`.
    MemberReap,
    /// `user`: every user event.
    User,
    /// `user:NAME`: user events of that name.
    UserNamed(String),
    /// `query`: every user query asked of this agent.
    Query,
    /// `query:NAME`: user queries of that name.
    QueryNamed(String),
}

/// The filters a handler takes, for error messages.
const ALLOWED: &str = "member-join, member-leave, member-failed, member-update, member-reap, \
                       user, user:NAME, query, query:NAME or *, comma-separated";

impl Filter {
    fn parse(s: &str) -> Option<Filter> {
        Some(match s {
            "*" => Filter::Any,
            "member-join" => Filter::MemberJoin,
            "member-leave" => Filter::MemberLeave,
            "member-failed" => Filter::MemberFailed,
            "member-update" => Filter::MemberUpdate,
            "member-reap" => Filter::MemberReap,
            "user" => Filter::User,
            "query" => Filter::Query,
            _ => match (s.strip_prefix("user:"), s.strip_prefix("query:")) {
                (Some(name), _) if !name.is_empty() => Filter::UserNamed(name.to_string()),
                (_, Some(name)) if !name.is_empty() => Filter::QueryNamed(name.to_string()),
                _ => return None,
            },
        })
    }

    fn matches(&self, kind: &str, user_name: Option<&str>) -> bool {
        match self {
            Filter::Any => kind != "query",
            Filter::User => kind == "user",
            Filter::UserNamed(n) => kind == "user" && user_name == Some(n.as_str()),
            Filter::Query => kind == "query",
            Filter::QueryNamed(n) => kind == "query" && user_name == Some(n.as_str()),
            Filter::MemberJoin => kind == "member-join",
            Filter::MemberLeave => kind == "member-leave",
            Filter::MemberFailed => kind == "member-failed",
            Filter::MemberUpdate => kind == "member-update",
            Filter::MemberReap => kind == "member-reap",
        }
    }

    fn is_user(&self) -> bool {
        matches!(self, Filter::User | Filter::UserNamed(_))
    }
}

/// One event handler: `[FILTER=]CMD` (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerSpec {
    /// What it runs for; empty: every event.
    pub filters: Vec<Filter>,
    /// The command, run through `sh -c`.
    pub command: String,
    /// As written.
    pub text: String,
}

impl HandlerSpec {
    /// Whether it runs for an event of `kind` (`user_name`: a user event's name).
    fn matches(&self, kind: &str, user_name: Option<&str>) -> bool {
        (self.filters.is_empty() && kind != "query")
            || self.filters.iter().any(|f| f.matches(kind, user_name))
    }

    /// Whether it coalesces user events: its filter names only user events.
    pub fn coalesces(&self) -> bool {
        !self.filters.is_empty() && self.filters.iter().all(Filter::is_user)
    }
}

impl FromStr for HandlerSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<HandlerSpec, String> {
        let (filters, command) = match s.split_once('=') {
            Some((f, cmd)) if !f.chars().any(char::is_whitespace) => {
                let mut filters = Vec::new();
                for part in f.split(',') {
                    filters.push(Filter::parse(part).ok_or_else(|| {
                        format!(
                            "event handler `{s}`: unknown filter `{part}` (allowed: {ALLOWED}); \
                             a command that starts with VAR=VALUE needs a filter first, e.g. `*=VAR=VALUE cmd`"
                        )
                    })?);
                }
                (filters, cmd)
            }
            _ => (Vec::new(), s),
        };
        if command.trim().is_empty() {
            return Err(format!(
                "event handler `{s}`: no command; expected [FILTER=]CMD, e.g. `user:deploy=/usr/local/bin/deploy.sh`"
            ));
        }
        if command.contains('\0') {
            return Err(format!("event handler `{s}`: the command holds a NUL byte"));
        }
        let filters = if filters.contains(&Filter::Any) {
            Vec::new()
        } else {
            filters
        };
        Ok(HandlerSpec {
            filters,
            command: command.to_string(),
            text: s.to_string(),
        })
    }
}

impl fmt::Display for HandlerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The handlers' counters, as [`crate::AgentMetrics`] shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HandlerMetrics {
    /// Handler runs started.
    pub runs: u64,
    /// Runs that exited non-zero, died of a signal or could not start
    /// (timeouts not included).
    pub failures: u64,
    /// Runs killed at the handler timeout.
    pub timeouts: u64,
    /// Events dropped because a handler's queue was full.
    pub dropped: u64,
    /// Events the handlers never saw: they fell behind the node's event
    /// channel.
    pub missed: u64,
}

/// The handlers' counters, shared with the handle.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    runs: AtomicU64,
    failures: AtomicU64,
    timeouts: AtomicU64,
    dropped: AtomicU64,
    missed: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> HandlerMetrics {
        HandlerMetrics {
            runs: self.runs.load(Relaxed),
            failures: self.failures.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            missed: self.missed.load(Relaxed),
        }
    }
}

/// One run's input.
#[derive(Clone, Debug)]
struct Job {
    env: Vec<(&'static str, String)>,
    stdin: Bytes,
    /// A query's origin and id, and when its time is up: the run's
    /// output is the response.
    query: Option<(String, u64, tokio::time::Instant)>,
}

/// What an event is to a handler: its kind, a user event's name, and the
/// members it is about (member events).
fn classify(e: &Event) -> Option<(&'static str, Option<&str>, Option<&Member>)> {
    Some(match e {
        Event::MemberJoined { member, .. } => ("member-join", None, Some(member)),
        Event::MemberLeft(m) => ("member-leave", None, Some(m)),
        Event::MemberFailed { member, .. } => ("member-failed", None, Some(member)),
        Event::MemberUpdated(m) => ("member-update", None, Some(m)),
        Event::MemberReaped(m) => ("member-reap", None, Some(m)),
        Event::User { name, .. } => ("user", Some(name.as_str()), None),
        Event::Query { name, .. } => ("query", Some(name.as_str()), None),
        _ => return None,
    })
}

/// The run's input for event `e` of kind `kind`.
async fn job(handle: &Handle, kind: &'static str, e: &Event) -> Job {
    let mut env = vec![
        ("SWIM_EVENT", kind.to_string()),
        ("SWIM_SELF_NAME", handle.name().to_string()),
        ("SWIM_SELF_ADDRESS", handle.advertise_addr().to_string()),
    ];
    let mut query = None;
    let stdin = match e {
        Event::Query {
            origin,
            id,
            name,
            payload,
            timeout,
        } => {
            env.push(("SWIM_QUERY_NAME", name.clone()));
            env.push(("SWIM_QUERY_ID", id.to_string()));
            env.push(("SWIM_ORIGIN", origin.to_string()));
            query = Some((
                origin.to_string(),
                *id,
                tokio::time::Instant::now() + *timeout,
            ));
            payload.clone()
        }
        Event::User {
            origin,
            name,
            payload,
            clock,
            ..
        } => {
            env.push(("SWIM_USER_EVENT", name.clone()));
            env.push(("SWIM_USER_LTIME", clock.to_string()));
            env.push(("SWIM_ORIGIN", origin.to_string()));
            payload.clone()
        }
        _ => match classify(e) {
            Some((_, _, Some(m))) => {
                // The member's tags as this agent holds them (bounded wait:
                // the node answers at once unless it is stopping).
                let keys = tokio::time::timeout(Duration::from_secs(1), handle.keys(&m.name, ""));
                let tags = match keys.await {
                    Ok(Ok(keys)) => keys
                        .iter()
                        .map(|(k, v, _)| format!("{k}={}", String::from_utf8_lossy(v)))
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => String::new(),
                };
                let line = format!("{}\t{}\t{}\t{}\n", m.name, m.addr, m.status.as_str(), tags);
                Bytes::from(line.replace('\0', ""))
            }
            _ => Bytes::new(),
        },
    };
    Job { env, stdin, query }
}

/// Starts the handlers on `handle`'s events, each killed after `timeout`.
/// Subscribes before it returns: no event after the call is missed.
pub fn spawn(handle: &Handle, specs: Vec<HandlerSpec>, timeout: Duration) {
    if specs.is_empty() {
        return;
    }
    let events = handle.subscribe();
    let mut queues = Vec::new();
    for spec in &specs {
        let (tx, rx) = mpsc::channel::<Job>(QUEUE);
        tokio::spawn(worker(handle.clone(), spec.clone(), rx, timeout));
        queues.push(tx);
    }
    tokio::spawn(dispatch(handle.clone(), specs, queues, events));
}

/// Reads the node's events and queues each to the handlers it matches.
async fn dispatch(
    handle: Handle,
    specs: Vec<HandlerSpec>,
    queues: Vec<mpsc::Sender<Job>>,
    mut events: broadcast::Receiver<Event>,
) {
    let counters = handle.handler_counters();
    // Each coalescing handler's coalescer and the names it holds bursts of
    // (at most MAX_BURSTS).
    let mut coalescers: Vec<Option<(Coalescer, HashSet<String>)>> = (specs.iter())
        .map(|s| {
            s.coalesces().then(|| {
                (
                    Coalescer::new(COALESCE_PERIOD, QUIESCENT_PERIOD),
                    HashSet::new(),
                )
            })
        })
        .collect();
    let queue = |i: usize, job: Job| {
        if queues[i].try_send(job).is_err() {
            counters.dropped.fetch_add(1, Relaxed);
            tracing::warn!(handler = %specs[i], "event handler busy: its queue is full, event dropped");
        }
    };
    loop {
        let due = (coalescers.iter().flatten())
            .filter_map(|(c, _)| c.next_due())
            .min();
        let wait = due
            .map(|d| Duration::from_micros(d.as_micros().saturating_sub(handle.now().as_micros())));
        let sleep = async {
            match wait {
                Some(w) => tokio::time::sleep(w).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = events.recv() => match r {
                Ok(e) => {
                    let Some((kind, user_name, _)) = classify(&e) else { continue };
                    if kind == "query" && user_name.is_some_and(|n| n.starts_with("_swim_")) {
                        continue;
                    }
                    let mut made = None;
                    for i in 0..specs.len() {
                        if !specs[i].matches(kind, user_name) {
                            continue;
                        }
                        if let Some((c, names)) = &mut coalescers[i] {
                            let name = user_name.unwrap_or("");
                            if user_name.is_some()
                                && (names.contains(name) || names.len() < MAX_BURSTS)
                            {
                                if let Some(e) = c.offer(e.clone(), handle.now()) {
                                    queue(i, job(&handle, kind, &e).await);
                                } else {
                                    names.insert(name.to_string());
                                }
                                continue;
                            }
                        }
                        if made.is_none() {
                            made = Some(job(&handle, kind, &e).await);
                        }
                        if let Some(j) = &made {
                            queue(i, j.clone());
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    counters.missed.fetch_add(n, Relaxed);
                    tracing::warn!(missed = n, "event handlers fell behind the node's events; some were not handled");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            () = sleep => {
                let now = handle.now();
                for (i, c) in coalescers.iter_mut().enumerate() {
                    let Some((c, names)) = c else { continue };
                    let ready = c.due(now);
                    for e in ready {
                        if let Event::User { name, .. } = &e {
                            names.remove(name);
                        }
                        queue(i, job(&handle, "user", &e).await);
                    }
                }
            }
        }
    }
}

/// Runs one handler's queued events, one at a time.
async fn worker(handle: Handle, spec: HandlerSpec, mut jobs: mpsc::Receiver<Job>, limit: Duration) {
    while let Some(job) = jobs.recv().await {
        run(&handle, &spec, job, limit).await;
    }
}

/// Reads `r` to its end, keeping at most [`OUTPUT_LIMIT`] bytes.
async fn bounded(mut r: impl AsyncRead + Unpin) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut cut = false;
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return (kept, cut),
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                cut |= n > room;
            }
        }
    }
}

fn shown((bytes, cut): &(Vec<u8>, bool)) -> String {
    let mut text = String::from_utf8_lossy(bytes).trim_end().to_string();
    if *cut {
        text.push_str(" [cut]");
    }
    text
}

/// Kills the process group `pid` leads.
fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|p| libc::pid_t::try_from(p).ok()) {
        // SAFETY: kill(2) with a negative pid signals that process group;
        // it touches no memory of ours.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// Kills a run's process group when dropped while armed: a run cut short
/// (the agent stopping) takes its processes with it.
struct Group(Option<u32>);

impl Drop for Group {
    fn drop(&mut self) {
        kill_group(self.0.take());
    }
}

/// One run of `spec` on `job`, killed after `limit`.
async fn run(handle: &Handle, spec: &HandlerSpec, job: Job, limit: Duration) {
    let counters = handle.handler_counters();
    let mut limit = limit;
    if let Some((origin, id, until)) = &job.query {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            counters.dropped.fetch_add(1, Relaxed);
            tracing::warn!(handler = %spec, %origin, id, "query handler: the query's time was up before it could run; no response");
            return;
        }
        limit = limit.min(left);
    }
    counters.runs.fetch_add(1, Relaxed);
    let event = (job.env.iter())
        .find(|(k, _)| *k == "SWIM_EVENT")
        .map_or("", |(_, v)| v.as_str())
        .to_string();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(&spec.command)
        .envs(job.env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            counters.failures.fetch_add(1, Relaxed);
            tracing::error!(handler = %spec, event, error = %e, "event handler could not start");
            return;
        }
    };
    let pid = child.id();
    let mut group = Group(pid);
    let stdin = child.stdin.take();
    let payload = job.stdin;
    let feed = tokio::spawn(async move {
        if let Some(mut w) = stdin {
            // A handler that does not read its input closes the pipe: fine.
            let _ = w.write_all(&payload).await;
        }
    });
    let out = (child.stdout.take()).map(|r| tokio::spawn(bounded(r)));
    let err = (child.stderr.take()).map(|r| tokio::spawn(bounded(r)));
    let status = tokio::time::timeout(limit, child.wait()).await;
    match status {
        Err(_) => {
            kill_group(group.0.take());
            let _ = child.kill().await;
        }
        // Exited: what it left running in the background is its own.
        Ok(_) => group.0 = None,
    }
    let read = |h: Option<tokio::task::JoinHandle<(Vec<u8>, bool)>>| async move {
        let Some(h) = h else {
            return (Vec::new(), false);
        };
        let abort = h.abort_handle();
        match tokio::time::timeout(DRAIN, h).await {
            Ok(Ok(r)) => r,
            _ => {
                abort.abort();
                (Vec::new(), false)
            }
        }
    };
    let (out_raw, err_raw) = (read(out).await, read(err).await);
    let (out, err) = (shown(&out_raw), shown(&err_raw));
    feed.abort();
    match status {
        Err(_) => {
            counters.timeouts.fetch_add(1, Relaxed);
            tracing::error!(handler = %spec, event, timeout = ?limit, stdout = ?out, stderr = ?err,
                "event handler timed out and was killed");
        }
        Ok(Ok(s)) if s.success() => {
            tracing::info!(handler = %spec, event, stdout = ?out, stderr = ?err, "event handler ran");
            if let Some((origin, id, _)) = job.query {
                respond(handle, spec, &origin, id, out_raw).await;
            }
        }
        Ok(Ok(s)) => {
            counters.failures.fetch_add(1, Relaxed);
            tracing::error!(handler = %spec, event, status = %s, stdout = ?out, stderr = ?err,
                "event handler failed");
        }
        Ok(Err(e)) => {
            counters.failures.fetch_add(1, Relaxed);
            tracing::error!(handler = %spec, event, error = %e, "event handler could not be waited for");
        }
    }
}

/// Sends a query handler's output as the response, cut to
/// [`swim_core::MAX_RESPONSE_SIZE`] bytes.
async fn respond(
    handle: &Handle,
    spec: &HandlerSpec,
    origin: &str,
    id: u64,
    (mut out, cut): (Vec<u8>, bool),
) {
    let max = swim_core::MAX_RESPONSE_SIZE;
    if cut || out.len() > max {
        tracing::warn!(handler = %spec, %origin, id, max,
            "query handler: its output is longer than a response may be; sending the first {max} bytes");
        out.truncate(max);
    }
    match handle.respond(origin, id, Bytes::from(out)).await {
        Ok(()) => tracing::debug!(handler = %spec, %origin, id, "query handler: response sent"),
        Err(e) => {
            handle.handler_counters().failures.fetch_add(1, Relaxed);
            tracing::warn!(handler = %spec, %origin, id, error = %e, "query handler: response not sent");
        }
    }
}

/// The handlers' counters as JSON and their help, for the metrics outputs.
pub(crate) const HELP: [(&str, &str); 5] = [
    ("runs", "Event handler runs started"),
    (
        "failures",
        "Event handler runs that exited non-zero, died of a signal or could not start",
    ),
    (
        "timeouts",
        "Event handler runs killed at the handler timeout",
    ),
    (
        "dropped",
        "Events dropped because an event handler's queue was full",
    ),
    (
        "missed",
        "Events the event handlers missed: they fell behind the node's event channel",
    ),
];

/// The env of a run as a map (tests).
#[cfg(test)]
fn env_map(j: &Job) -> std::collections::BTreeMap<&str, &str> {
    j.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_filters_and_commands() {
        let s: HandlerSpec = "user:deploy=echo hi".parse().unwrap();
        assert_eq!(s.filters, vec![Filter::UserNamed("deploy".into())]);
        assert_eq!(s.command, "echo hi");
        assert!(s.coalesces());
        let s: HandlerSpec = "member-join,member-leave=a=b".parse().unwrap();
        assert_eq!(s.filters, vec![Filter::MemberJoin, Filter::MemberLeave]);
        assert_eq!(s.command, "a=b");
        assert!(!s.coalesces());
        let s: HandlerSpec = "echo x=1".parse().unwrap();
        assert!(s.filters.is_empty());
        assert_eq!(s.command, "echo x=1");
        let s: HandlerSpec = "*=FOO=1 cmd".parse().unwrap();
        assert!(s.filters.is_empty());
        assert_eq!(s.command, "FOO=1 cmd");
        let e = "member-joni=cmd".parse::<HandlerSpec>().unwrap_err();
        assert!(
            e.contains("unknown filter `member-joni`") && e.contains("allowed"),
            "{e}"
        );
        assert!("user="
            .parse::<HandlerSpec>()
            .unwrap_err()
            .contains("no command"));
        assert!("user:=x".parse::<HandlerSpec>().is_err());
        let s: HandlerSpec = "user,member-join=x".parse().unwrap();
        assert!(s.matches("user", Some("a")) && s.matches("member-join", None));
        assert!(!s.matches("member-leave", None));
        assert!(!s.coalesces(), "takes member events too: no coalescing");
    }

    #[test]
    fn query_filters_take_only_queries() {
        let s: HandlerSpec = "query:whoami=echo hi".parse().unwrap();
        assert_eq!(s.filters, vec![Filter::QueryNamed("whoami".into())]);
        assert!(s.matches("query", Some("whoami")));
        assert!(!s.matches("query", Some("other")));
        assert!(!s.matches("user", Some("whoami")), "not a user event");
        assert!(!s.coalesces());
        let s: HandlerSpec = "query=x".parse().unwrap();
        assert!(s.matches("query", Some("any")) && !s.matches("user", Some("any")));
        let s: HandlerSpec = "user:whoami=x".parse().unwrap();
        assert!(!s.matches("query", Some("whoami")), "not a query");
        for any in ["*=x", "echo x"] {
            let s: HandlerSpec = any.parse().unwrap();
            assert!(
                !s.matches("query", Some("q")),
                "{any}: queries need a query filter"
            );
            assert!(s.matches("user", Some("q")), "{any}");
        }
        assert!("query:=x".parse::<HandlerSpec>().is_err());
        let e = "queries=x".parse::<HandlerSpec>().unwrap_err();
        assert!(e.contains("query:NAME"), "{e}");
    }

    #[tokio::test]
    async fn a_query_s_job_carries_its_details() {
        let node = crate::start(crate::AgentConfig::new(
            "n1",
            "127.0.0.1:0".parse().unwrap(),
            crate::Preset::Local,
        ))
        .await
        .unwrap();
        let e = Event::Query {
            origin: "o".into(),
            id: 42,
            name: "whoami".into(),
            payload: Bytes::from_static(b"hi"),
            timeout: Duration::from_secs(5),
        };
        let j = job(&node, "query", &e).await;
        let env = env_map(&j);
        assert_eq!(env["SWIM_EVENT"], "query");
        assert_eq!(env["SWIM_SELF_NAME"], "n1");
        assert_eq!(env["SWIM_QUERY_NAME"], "whoami");
        assert_eq!(env["SWIM_QUERY_ID"], "42");
        assert_eq!(env["SWIM_ORIGIN"], "o");
        assert_eq!(&j.stdin[..], b"hi");
        let (origin, id, until) = j.query.clone().unwrap();
        assert_eq!((origin.as_str(), id), ("o", 42));
        assert!(until > tokio::time::Instant::now());
        node.shutdown().await;
    }

    /// A query handler's output is the response, cut to the limit; one
    /// that fails responds nothing and is counted.
    #[tokio::test]
    async fn a_query_handler_s_output_is_the_response() {
        let node = crate::start(crate::AgentConfig::new(
            "n1",
            "127.0.0.1:0".parse().unwrap(),
            crate::Preset::Local,
        ))
        .await
        .unwrap();
        spawn(
            &node,
            vec![
                "query:long=head -c 5000 /dev/zero | tr '\\0' x"
                    .parse()
                    .unwrap(),
                "query:fail=echo no; exit 3".parse().unwrap(),
            ],
            Duration::from_secs(10),
        );
        let options = || swim_core::QueryOptions {
            timeout: Some(Duration::from_secs(2)),
            ..Default::default()
        };
        let q = node.query("long", Bytes::new(), options()).await.unwrap();
        let (_, responses, summary) = q.collect().await.unwrap();
        assert_eq!(summary.responses, 1, "{summary:?}");
        assert_eq!(responses[0].1.len(), swim_core::MAX_RESPONSE_SIZE);
        assert!(responses[0].1.iter().all(|&b| b == b'x'));
        let q = node.query("fail", Bytes::new(), options()).await.unwrap();
        let (_, responses, summary) = q.collect().await.unwrap();
        assert!(
            responses.is_empty() && summary.responses == 0,
            "{summary:?}"
        );
        assert_eq!(summary.missing, vec!["n1".to_string()]);
        assert_eq!(node.handler_counters().snapshot().failures, 1);
        node.shutdown().await;
    }

    /// A query handler still running at the query's timeout is killed
    /// then (not at the longer handler timeout), counted, and responds
    /// nothing; too many node filters are refused at the call.
    #[tokio::test]
    async fn a_slow_query_handler_is_killed_at_the_query_s_timeout() {
        let node = crate::start(crate::AgentConfig::new(
            "n1",
            "127.0.0.1:0".parse().unwrap(),
            crate::Preset::Local,
        ))
        .await
        .unwrap();
        spawn(
            &node,
            vec!["query:slow=sleep 30; echo late".parse().unwrap()],
            Duration::from_secs(60),
        );
        let options = swim_core::QueryOptions {
            timeout: Some(Duration::from_secs(1)),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let q = node.query("slow", Bytes::new(), options).await.unwrap();
        let (_, responses, _) = q.collect().await.unwrap();
        assert!(responses.is_empty());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while node.handler_counters().snapshot().timeouts == 0 {
            assert!(std::time::Instant::now() < deadline, "never killed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        let options = swim_core::QueryOptions {
            filter: swim_core::QueryFilter {
                nodes: (0..65).map(|i| format!("n{i}")).collect(),
                tags: Vec::new(),
            },
            ..Default::default()
        };
        let e = node.query("x", Bytes::new(), options).await.unwrap_err();
        assert!(e.to_string().contains("65 node filters"), "{e}");
        node.shutdown().await;
    }

    #[tokio::test]
    async fn a_user_event_s_job_carries_its_details() {
        let node = crate::start(crate::AgentConfig::new(
            "n1",
            "127.0.0.1:0".parse().unwrap(),
            crate::Preset::Local,
        ))
        .await
        .unwrap();
        let e = Event::User {
            origin: "o".into(),
            name: "deploy".into(),
            payload: Bytes::from_static(b"v42"),
            clock: 7,
            coalesce: true,
        };
        let j = job(&node, "user", &e).await;
        let env = env_map(&j);
        assert_eq!(env["SWIM_EVENT"], "user");
        assert_eq!(env["SWIM_SELF_NAME"], "n1");
        assert_eq!(env["SWIM_USER_EVENT"], "deploy");
        assert_eq!(env["SWIM_USER_LTIME"], "7");
        assert_eq!(env["SWIM_ORIGIN"], "o");
        assert_eq!(&j.stdin[..], b"v42");
        node.shutdown().await;
    }
}
