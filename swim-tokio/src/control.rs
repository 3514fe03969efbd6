//! The agent's local control API: HTTP/1.1 with JSON bodies, so `curl` works.
//!
//! | method and path | what |
//! | --- | --- |
//! | `GET /v1/agent` | this agent's name and addresses |
//! | `GET /v1/members[?status=alive]` | the member list, a JSON array |
//! | `GET /v1/explain/NAME` | why this agent holds member NAME where it does: its status and since when, its running suspicion (`accusers` so far, `dead_in_ms`), and the last dead verdict on it (`accuser`, the `evidence` it sent: `confirmers`, `accuser_score`, `suspected_ms`; when this agent learned it, `learned_at_unix_ms` and `learned_ms_ago`, and from whom, `learned_from`: the member that passed it on, `null` for its own verdict, `own: true`, or one from a sender it could not tell); 404 for a member it does not know. Read-only |
//! | `POST /v1/join` | body `{"seeds": ["HOST:PORT", ...], "wait": "10s"}`: join more seeds (at most [`MAX_JOIN_SEEDS`]); with `wait` (at most [`MAX_JOIN_WAIT`]), answers when a seed answered (200), an attempt reached none (502) or the wait ran out (504); the last two cancel the join |
//! | `POST /v1/leave` | leave gracefully; the agent exits afterwards |
//! | `GET /v1/metrics` | protocol and driver counters, dropped packets included, and the control API's own (`control`) |
//! | `GET /metrics` | the same counters in Prometheus (OpenMetrics) text, plus histograms of probe round trips, suspicion-to-death time and stream duration |
//! | `GET /v1/info` | name, version, uptime, members by status, health score, the sealing step (`off` without keys, else `accept`, `send` or `require`) and the ids of the keys held (primary first; never the keys), key counters |
//! | `GET /v1/monitor` | newline-delimited JSON events, streamed as they happen, each with `time`: when the agent sent it, RFC 3339 in UTC to the millisecond |
//! | `POST /v1/event` | body `{"name": "deploy", "payload": "v42", "coalesce": true}`: fire a user event (Serf's `serf event`), delivered once to every member. `payload` is UTF-8 text; binary payloads go as `payload_base64` instead (standard base64, padded; not both); both may be left out (empty payload). `coalesce` (default `true`, as Serf's): handlers with a user filter run only for the newest of a burst of this name. Name and payload together take at most [`swim_core::MAX_EVENT_SIZE`] (512) bytes; an empty name, one with control or invisible characters, or a larger event is a 400 saying so |
//! | `POST /v1/query` | body `{"name": "whoami", "payload": "...", "nodes": ["a1"], "tags": {"role": "^web"}, "timeout": "5s", "relay_factor": 2, "ack": true}` (all but `name` optional; `payload_base64` for binary payloads): asks a user query (Serf's `serf query`) of the members matching every filter. Streams newline-delimited JSON: `{"type": "ack", "member": ...}` and `{"type": "response", "member": ..., "payload": ...}` as they arrive, then `{"type": "summary", "id", "asked", "acks", "responses", "missing": [...], "dropped"}`. A bad name, regular expression, timeout or relay factor, or name + payload + filters over [`swim_core::MAX_QUERY_SIZE`] (1024) bytes, is a 400 saying so |
//! | `POST /v1/reachability` | optional body `{"timeout": "5s"}`: a query asking every member for an ack only; answers `{"summary", "acked", "not_acked", "suspect", "dead"}` when its time is up |
//! | `POST /v1/force-leave` | body `{"name": "MEMBER"}`: a member held dead becomes left for good |
//! | `POST /v1/keys` | body `{"op": "list"}`: every member's keys and sealing step; `{"op": "install" \| "use" \| "remove", "key": "BASE64"}`: that operation on every member (`remove` refused while a live member seals with the key); `{"op": "sealing", "step": "send" \| "require"}`: every member moves to that step (`require` refused, 409, unless every live member already seals). A `GET` starts nothing cluster-wide: `GET /v1/keys` is a 405 saying so |
//!
//! Routing is an `axum` router served connection by connection through
//! hyper's HTTP/1 server (so the header timeout, head size and connection cap
//! below are hyper's and ours, not a framework default); query strings and
//! JSON bodies are read through serde, and a bad one is a 400 that names what
//! was wrong and what is expected.
//!
//! ## Who may call it
//!
//! Every request passes these checks before it is routed; a refusal is a JSON
//! `{"error": "..."}` that says why.
//!
//! | check | refusal |
//! | --- | --- |
//! | without a token: the `Host` header (and an absolute request URI) names a loopback host, `localhost`, `127.x.y.z` or `[::1]` (any port), or the address the API is bound to; this defeats DNS rebinding, where a web page's own host name resolves to 127.0.0.1 | 403 |
//! | with a token ([`ControlOptions::token`]): `Authorization: Bearer TOKEN`, compared in constant time; any `Host` is then accepted | 401 |
//! | every request, `GET` included, with or without a token: no `Origin` header, or one naming the very host the request is addressed to (`http://` and its `Host`); no `Sec-Fetch-Site` header, or `same-origin` or `none`. Browsers send these on every cross-site request (a page's `fetch`, `<img>`, `<script>` or `<iframe>`), so no web page can read from, stream from or hold a slot of this API | 403 |
//! | `POST`, `PUT`, `PATCH` and `DELETE` carry `Content-Type: application/json` (parameters such as `; charset=utf-8` allowed); a web page cannot send that cross-origin without a CORS preflight, which this API never grants, so HTML forms cannot make the agent leave | 415 |
//!
//! A token is mandatory when the API listens on an address that is not
//! loopback ([`ControlOptions::check_bind`]).
//!
//! ## Limits
//!
//! | limit | default | beyond it |
//! | --- | --- | --- |
//! | connections open at once | [`MAX_CONNECTIONS`] (128) | a new connection is closed as soon as it is accepted, counted in `control.connections_refused` |
//! | time to send a request's headers (also between requests on a kept-alive connection) | [`HEADER_READ_TIMEOUT`] (10 s) | the connection is closed, counted in `control.header_timeouts` |
//! | size of a request's head | [`MAX_HEAD`] (16 KiB) | 431 |
//! | time to send a request's body | [`BODY_READ_TIMEOUT`] (10 s) | 408 |
//! | size of a request's body | [`MAX_BODY`] (64 KiB) | 400 |
//! | `monitor` streams open at once | [`MAX_MONITORS`] (32) | 503 |
//! | seeds in one `POST /v1/join` | [`MAX_JOIN_SEEDS`] (64) | 400 |
//!
//! A `monitor` stream holds no queue of its own: it reads the node's event
//! channel (shared by all subscribers, `AgentConfig::event_capacity` events)
//! only when the connection can take more bytes. A client that stops reading
//! falls behind, misses events rather than buffering them, and is told with
//! a `{"event": "lagged", "missed": N}` line once it reads again.

use crate::handle::{AgentMetrics, Handle, HandleError};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use swim_core::{Event, Member};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, OwnedSemaphorePermit, Semaphore};

/// Largest request body the control API reads.
pub const MAX_BODY: usize = 64 * 1024;
/// Largest request head (request line and headers) the control API reads;
/// it is also hyper's read buffer, so an idle connection holds no more.
pub const MAX_HEAD: usize = 16 * 1024;
/// Default limit on control connections open at once ([`ControlOptions::max_connections`]).
pub const MAX_CONNECTIONS: usize = 128;
/// Default limit on `monitor` streams open at once ([`ControlOptions::max_monitors`]).
pub const MAX_MONITORS: usize = 32;
/// Default limit on the seeds of one `POST /v1/join` ([`ControlOptions::max_join_seeds`]).
pub const MAX_JOIN_SEEDS: usize = 64;
/// Default time a client has to send a request's headers
/// ([`ControlOptions::header_read_timeout`]).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a `POST /v1/join` may wait for the join's outcome (`"wait"`).
pub const MAX_JOIN_WAIT: Duration = Duration::from_secs(300);
/// Time a client has to send a request's body once its headers arrived.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The environment variable that holds the control token (for the agent and
/// the client commands alike).
pub const TOKEN_ENV: &str = "SWIM_CONTROL_TOKEN";

/// The control API's bearer token: visible ASCII, no whitespace, not empty.
///
/// Its `Debug` form hides the value, and it has no `==`: compare with
/// [`Token::matches`], which takes constant time.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// The token in `text`, trimmed of surrounding whitespace (a trailing
    /// newline in a file is common). The error says what is wrong with it.
    pub fn new(text: &str) -> Result<Token, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("is empty".into());
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "may hold only visible ASCII characters (no spaces inside, no control characters)"
                    .into(),
            );
        }
        Ok(Token(t.to_string()))
    }

    /// Reads the token from a file (its whole content, trimmed).
    pub fn from_file(path: &Path) -> Result<Token, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the control token file {}: {e}", path.display()))?;
        Token::new(&text).map_err(|e| format!("the control token in {} {e}", path.display()))
    }

    /// The token in the environment variable [`TOKEN_ENV`], if it is set.
    pub fn from_env() -> Result<Option<Token>, String> {
        match std::env::var(TOKEN_ENV) {
            Ok(v) => Token::new(&v)
                .map(Some)
                .map_err(|e| format!("the control token in ${TOKEN_ENV} {e}")),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!(
                "the control token in ${TOKEN_ENV} may hold only visible ASCII characters"
            )),
        }
    }

    /// The value of an `Authorization` header that carries this token.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// Whether `presented` is this token, in time that depends only on the
    /// length of `presented` (which the caller chose), never on how much of it
    /// matches: every byte of `presented` is compared (against the token,
    /// repeated to its length) and the differences are OR-ed together before
    /// the one branch at the end. A different length is a mismatch too.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let secret = self.0.as_bytes();
        let mut diff = u8::from(presented.len() != secret.len());
        for (i, &b) in presented.iter().enumerate() {
            diff |= b ^ secret[i % secret.len()];
        }
        std::hint::black_box(diff) == 0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

/// Credentials and limits of the control API; `Default` gives no token and
/// the limits in the module's table.
#[derive(Clone, Debug)]
pub struct ControlOptions {
    /// When set, every request must carry `Authorization: Bearer TOKEN`, and
    /// any `Host` is accepted. Mandatory on an address that is not loopback.
    pub token: Option<Token>,
    /// How long a client may take to send a request's headers; an idle
    /// connection (a kept-alive one between requests too) is closed after it.
    pub header_read_timeout: Duration,
    /// Connections open at once; newer ones are closed as soon as accepted.
    pub max_connections: usize,
    /// `monitor` streams open at once; more are answered 503.
    pub max_monitors: usize,
    /// Seeds in one `POST /v1/join`; more are answered 400.
    pub max_join_seeds: usize,
}

impl Default for ControlOptions {
    fn default() -> Self {
        ControlOptions {
            token: None,
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            max_monitors: MAX_MONITORS,
            max_join_seeds: MAX_JOIN_SEEDS,
        }
    }
}

impl ControlOptions {
    /// Refuses to serve on `addr` without a token unless `addr` is loopback
    /// (`127.0.0.0/8` or `::1`): anyone who can reach it could make the agent
    /// leave, and no `Host` check helps against a direct client.
    pub fn check_bind(&self, addr: SocketAddr) -> Result<(), InsecureBind> {
        if self.token.is_some() || is_loopback(addr.ip()) {
            Ok(())
        } else {
            Err(InsecureBind { addr: Some(addr) })
        }
    }
}

/// The control API was to listen on an address that is not loopback without
/// a token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}, so it needs a token: without one anyone who reaches it could control the agent",
    match addr {
        Some(a) => format!("the control API address {a} is not a loopback address"),
        None => "the control API's address is unknown".to_string(),
    }
)]
pub struct InsecureBind {
    /// The address (`None` if the listener could not tell it).
    pub addr: Option<SocketAddr>,
}

/// Whether `ip` is loopback, an IPv4-mapped IPv6 loopback address included.
fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The host part of a `Host` value (`name`, `name:port`, `[v6]`, `[v6]:port`),
/// or `None` if it is malformed.
fn host_part(value: &str) -> Option<&str> {
    let port_ok = |p: &str| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    if value.starts_with('[') {
        let end = value.find(']')?;
        let (host, rest) = value.split_at(end + 1);
        match rest.strip_prefix(':') {
            Some(p) if port_ok(p) => Some(host),
            None if rest.is_empty() => Some(host),
            _ => None,
        }
    } else {
        match value.split_once(':') {
            Some((host, p)) if port_ok(p) => Some(host),
            Some(_) => None,
            None => Some(value),
        }
    }
}

/// Whether a `Host` value names this machine's loopback interface, or the
/// address `bound` the API listens on.
fn local_host(value: &str, bound: Option<SocketAddr>) -> bool {
    let Some(host) = host_part(value) else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let ip = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().map(IpAddr::V6),
        None => host.parse::<Ipv4Addr>().map(IpAddr::V4),
    };
    ip.is_ok_and(|ip| {
        is_loopback(ip) || bound.is_some_and(|b| !b.ip().is_unspecified() && b.ip() == ip)
    })
}

/// The first host the request names (absolute URI or `Host` headers) that is
/// not local, as shown in an error.
fn foreign_host<B>(req: &Request<B>, bound: Option<SocketAddr>) -> Option<String> {
    if let Some(a) = req.uri().authority() {
        if !local_host(a.as_str(), bound) {
            return Some(a.to_string());
        }
    }
    req.headers()
        .get_all(HOST)
        .iter()
        .find_map(|v| match v.to_str() {
            Ok(s) if local_host(s, bound) => None,
            _ => Some(String::from_utf8_lossy(v.as_bytes()).into_owned()),
        })
}

/// Why a request looks cross-site, if it does: a `Sec-Fetch-Site` other
/// than `same-origin` or `none`, or an `Origin` that is not `http://` and
/// the request's own `Host` (browsers send both on cross-site requests;
/// the swim commands and curl send neither).
fn cross_site<B>(req: &Request<B>) -> Option<String> {
    let shown = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    for v in req.headers().get_all("sec-fetch-site") {
        let ok = v.to_str().is_ok_and(|s| {
            s.trim().eq_ignore_ascii_case("same-origin") || s.trim().eq_ignore_ascii_case("none")
        });
        if !ok {
            return Some(format!("Sec-Fetch-Site: {}", shown(v)));
        }
    }
    let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
    for v in req.headers().get_all(hyper::header::ORIGIN) {
        let same = match (v.to_str(), host) {
            (Ok(origin), Some(host)) => origin
                .strip_prefix("http://")
                .is_some_and(|o| o.eq_ignore_ascii_case(host)),
            _ => false,
        };
        if !same {
            return Some(format!("Origin: {}", shown(v)));
        }
    }
    None
}

/// The token of an `Authorization: Bearer TOKEN` value.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let start = rest.iter().position(|&b| b != b' ')?;
    Some(&rest[start..])
}

/// Whether a `Content-Type` value is JSON (`application/json`, parameters allowed).
fn is_json(value: Option<&HeaderValue>) -> bool {
    value.and_then(|v| v.to_str().ok()).is_some_and(|s| {
        s.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json")
    })
}

/// The control API's own counters, shown under `control` in `/v1/metrics`.
#[derive(Default)]
struct Stats {
    connections_refused: AtomicU64,
    header_timeouts: AtomicU64,
    monitors_refused: AtomicU64,
    refused_host: AtomicU64,
    refused_token: AtomicU64,
    refused_content_type: AtomicU64,
    refused_cross_site: AtomicU64,
}

fn bump(c: &AtomicU64) -> u64 {
    c.fetch_add(1, Ordering::Relaxed) + 1
}

/// What every connection of one [`serve`] shares.
struct Shared {
    handle: Handle,
    on_leave: LeaveNotify,
    bound: Option<SocketAddr>,
    options: ControlOptions,
    connections: Arc<Semaphore>,
    monitors: Arc<Semaphore>,
    stats: Stats,
}

impl Shared {
    fn stats_json(&self) -> Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let s = &self.stats;
        let open = |sem: &Semaphore, max: usize| max.saturating_sub(sem.available_permits());
        json!({
            "connections": open(&self.connections, self.options.max_connections),
            "max_connections": self.options.max_connections,
            "connections_refused": get(&s.connections_refused),
            "header_timeouts": get(&s.header_timeouts),
            "monitors": open(&self.monitors, self.options.max_monitors),
            "max_monitors": self.options.max_monitors,
            "monitors_refused": get(&s.monitors_refused),
            "requests_refused": {
                "host": get(&s.refused_host),
                "token": get(&s.refused_token),
                "content_type": get(&s.refused_content_type),
                "cross_site": get(&s.refused_cross_site),
            },
        })
    }

    /// Checks who may call and how (see the module docs): the response to
    /// send instead of routing the request, if it is refused.
    fn refusal<B>(&self, req: &Request<B>) -> Option<ApiResponse> {
        match &self.options.token {
            Some(token) => {
                let presented = req
                    .headers()
                    .get(AUTHORIZATION)
                    .and_then(|v| bearer(v.as_bytes()));
                let message = match presented {
                    Some(t) if token.matches(t) => None,
                    Some(_) => Some("wrong control token"),
                    None => Some(
                        "this agent's control API needs a token: send `Authorization: Bearer TOKEN` \
                         (the swim commands read it from --control-token-file PATH or $SWIM_CONTROL_TOKEN)",
                    ),
                };
                if let Some(message) = message {
                    bump(&self.stats.refused_token);
                    let mut r = error(StatusCode::UNAUTHORIZED, message);
                    r.headers_mut().insert(
                        WWW_AUTHENTICATE,
                        HeaderValue::from_static("Bearer realm=\"swim\""),
                    );
                    return Some(r);
                }
            }
            None => {
                if let Some(host) = foreign_host(req, self.bound) {
                    bump(&self.stats.refused_host);
                    return Some(error(
                        StatusCode::FORBIDDEN,
                        format!(
                            "host `{host}` is not a loopback name: without a control token this API \
                             answers only requests addressed to localhost, 127.x.y.z or [::1] \
                             (a guard against DNS rebinding); give the agent a token to allow other names"
                        ),
                    ));
                }
            }
        }
        if let Some(what) = cross_site(req) {
            bump(&self.stats.refused_cross_site);
            return Some(error(
                StatusCode::FORBIDDEN,
                format!(
                    "cross-site request refused ({what}): this API answers only its own clients \
                     (the swim commands, curl), never a web page from another site"
                ),
            ));
        }
        let writes = matches!(
            *req.method(),
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        if writes && !is_json(req.headers().get(CONTENT_TYPE)) {
            bump(&self.stats.refused_content_type);
            return Some(error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "{} requests must carry `Content-Type: application/json` \
                     (a guard against cross-site form posts)",
                    req.method()
                ),
            ));
        }
        None
    }
}

/// The JSON form of one member in events.
fn member_json(m: &Member) -> Value {
    json!({
        "name": &*m.name,
        "addr": m.addr.to_string(),
        "status": m.status.as_str(),
        "incarnation": m.incarnation,
    })
}

/// A wall-clock time as RFC 3339 in UTC, to the millisecond:
/// `2026-12-07T04:05:06.789Z` (the `time` of every monitor line).
pub fn rfc3339(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The JSON form of an event: `{"event": "member-joined", "member": {...}}`.
pub fn event_json(e: &Event) -> Value {
    let member = |kind: &str, m: &Member| json!({ "event": kind, "member": member_json(m) });
    match e {
        Event::MemberJoined { member: m, keys } => {
            let mut v = member("member-joined", m);
            v["keys"] = keys
                .iter()
                .map(|(k, val, n)| key_json(k, val, *n))
                .collect();
            v
        }
        Event::MemberUpdated(m) => member("member-updated", m),
        Event::MemberSuspect { member: m, accuser } => {
            let mut v = member("member-suspect", m);
            v["accuser"] = json!(&**accuser);
            v
        }
        Event::MemberRecovered(m) => member("member-recovered", m),
        Event::MemberFailed {
            member: m,
            accuser,
            verdict,
        } => {
            let mut v = member("member-failed", m);
            v["accuser"] = json!(&**accuser);
            v["evidence"] = verdict.evidence.as_ref().map_or(Value::Null, evidence_json);
            v["learned_from"] = json!(verdict.learned_from.as_deref());
            v["own"] = json!(verdict.own);
            v
        }
        Event::MemberLeft(m) => member("member-left", m),
        Event::MemberReaped(m) => member("member-reaped", m),
        Event::JoinCompleted { seed } => {
            json!({ "event": "join-completed", "seed": seed.to_string() })
        }
        Event::JoinRetry { attempt } => json!({ "event": "join-retry", "attempt": attempt }),
        Event::LeaveCompleted => json!({ "event": "leave-completed" }),
        Event::JoinFailed { attempts } => json!({ "event": "join-failed", "attempts": attempts }),
        Event::KeySet {
            member,
            key,
            value,
            version,
            ..
        } => {
            let mut v = json!({ "event": "key-set", "member": &**member, "version": version });
            put_value(&mut v, key, value);
            v
        }
        Event::KeyDeleted {
            member,
            key,
            version,
            ..
        } => json!({ "event": "key-deleted", "member": &**member, "key": key, "version": version }),
        Event::NamespaceReset { member } => {
            json!({ "event": "namespace-reset", "member": &**member })
        }
        Event::NameConflict { addr } => {
            json!({ "event": "name-conflict", "other": addr.to_string() })
        }
        Event::JoinRefused {
            seed,
            holder,
            authenticated,
        } => json!({
            "event": "join-refused", "seed": seed.to_string(), "holder": holder.to_string(),
            "authenticated": authenticated,
        }),
        Event::JoinRefusedHere { from, name, holder } => json!({
            "event": "join-refused-here", "from": from.to_string(), "name": &**name,
            "holder": holder.to_string(),
        }),
        Event::User {
            origin,
            name,
            payload,
            clock,
            coalesce,
        } => {
            use base64::Engine as _;
            let mut v = json!({
                "event": "user", "name": name, "origin": &**origin, "clock": clock,
                "coalesce": coalesce,
            });
            match std::str::from_utf8(payload) {
                Ok(text) => v["payload"] = json!(text),
                Err(_) => {
                    v["payload_base64"] =
                        json!(base64::engine::general_purpose::STANDARD.encode(payload))
                }
            }
            v
        }
        Event::Query {
            origin,
            id,
            name,
            payload,
            timeout,
        } => {
            let mut v = json!({
                "event": "query", "name": name, "origin": &**origin, "id": id,
                "timeout_ms": millis(*timeout),
            });
            put_payload(&mut v, payload);
            v
        }
        Event::QueryAck { query, member } => {
            json!({ "event": "query-ack", "id": query, "member": &**member })
        }
        Event::QueryResponse {
            query,
            member,
            payload,
        } => {
            let mut v = json!({ "event": "query-response", "id": query, "member": &**member });
            put_payload(&mut v, payload);
            v
        }
        Event::QueryDone {
            query,
            answers,
            acks,
            asked,
            missing,
        } => {
            let missing: Vec<&str> = missing.iter().map(|m| &**m).collect();
            json!({
                "event": "query-done", "id": query, "asked": asked, "acks": acks,
                "responses": answers, "missing": missing,
            })
        }
        e => json!({ "event": "other", "debug": format!("{e:?}") }),
    }
}

/// Puts a payload into `v`: `payload` when it is UTF-8 text,
/// `payload_base64` otherwise.
fn put_payload(v: &mut Value, payload: &[u8]) {
    use base64::Engine as _;
    match std::str::from_utf8(payload) {
        Ok(text) => v["payload"] = json!(text),
        Err(_) => {
            v["payload_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(payload))
        }
    }
}

/// The JSON of a verdict's evidence.
fn evidence_json(e: &swim_core::Evidence) -> Value {
    let confirmers: Vec<&str> = e.confirmers.iter().map(|c| c.as_str()).collect();
    json!({
        "confirmers": confirmers,
        "accuser_score": e.accuser_score,
        "suspected_ms": u64::try_from(e.suspected_for.as_millis()).unwrap_or(u64::MAX),
    })
}

/// Milliseconds of `d`, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The JSON of `GET /v1/explain/NAME`.
pub fn explain_json(info: &crate::ExplainInfo) -> Value {
    let x = &info.explanation;
    let suspicion = x.suspicion.as_ref().map_or(Value::Null, |s| {
        let accusers: Vec<&str> = s.accusers.iter().map(|a| a.as_str()).collect();
        json!({
            "accusers": accusers,
            "since_unix_ms": info.unix_ms(s.since),
            "since_ms_ago": millis(info.ago(s.since)),
            "dead_in_ms": millis(s.deadline.saturating_duration_since(info.now)),
        })
    });
    let verdict = x.verdict.as_ref().map_or(Value::Null, |v| {
        json!({
            "incarnation": v.incarnation,
            "accuser": v.accuser.as_str(),
            "evidence": v.evidence.as_ref().map_or(Value::Null, evidence_json),
            "learned_at_unix_ms": info.unix_ms(v.learned_at),
            "learned_ms_ago": millis(info.ago(v.learned_at)),
            "learned_from": v.learned_from.as_deref(),
            "own": v.own,
        })
    });
    json!({
        "member": member_json(&x.member),
        "since_unix_ms": info.unix_ms(x.since),
        "since_ms_ago": millis(info.ago(x.since)),
        "suspicion": suspicion,
        "verdict": verdict,
    })
}

/// Puts `key` and its value into `v`: `value` when it is UTF-8 text,
/// `value_base64` otherwise (so binary values survive JSON).
fn put_value(v: &mut Value, key: &str, value: &[u8]) {
    use base64::Engine as _;
    v["key"] = json!(key);
    match std::str::from_utf8(value) {
        Ok(text) => v["value"] = json!(text),
        Err(_) => {
            v["value_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(value))
        }
    }
}

/// The JSON form of one key: `{"key", "value" | "value_base64", "version"}`.
pub fn key_json(key: &str, value: &[u8], version: u64) -> Value {
    let mut v = json!({ "version": version });
    put_value(&mut v, key, value);
    v
}

fn traffic(t: &swim_core::Traffic) -> Value {
    json!({ "packets": t.packets, "bytes": t.bytes })
}

fn by_kind(k: &swim_core::ByKind) -> Value {
    json!({
        "ping": traffic(&k.ping), "ack": traffic(&k.ack), "nack": traffic(&k.nack),
        "ping_req": traffic(&k.ping_req), "gossip": traffic(&k.gossip),
        "push_pull": traffic(&k.push_pull), "total": traffic(&k.total()),
    })
}

/// The JSON form of the metrics.
pub fn metrics_json(m: &AgentMetrics) -> Value {
    let c = &m.core;
    let d = &c.dropped;
    let k = &c.keys_refused;
    let mut v = json!({
        "members": { "alive": m.alive, "suspect": m.suspect, "dead": m.dead, "left": m.left },
        "health_score": m.health_score,
        "sent": by_kind(&c.sent),
        "received": by_kind(&c.received),
        "updates_sent": c.updates_sent,
        "updates_received": c.updates_received,
        "dropped": {
            "oversized": d.oversized, "malformed": d.malformed, "version": d.version,
            "cluster": d.cluster, "invalid": d.invalid, "from_self": d.from_self,
            "wrong_target": d.wrong_target, "unsolicited": d.unsolicited, "busy": d.busy,
            "implausible": d.implausible, "auth": d.auth, "unknown_target": d.unknown_target,
            "total": d.total(), "decode_failures": d.decode_failures(),
        },
        "probes": c.probes,
        "indirect_probes": c.indirect_probes,
        "probe_retries": c.probe_retries,
        "probe_failures": c.probe_failures,
        "suspicions": c.suspicions,
        "refutations": c.refutations,
        "deaths": c.deaths,
        "push_pulls": c.push_pulls,
        "push_pull_failures": c.push_pull_failures,
        "keys_written": c.keys_written,
        "deltas_sent": c.deltas_sent,
        "deltas_applied": c.deltas_applied,
        "namespaces_repaired": c.namespaces_repaired,
        "resets": c.resets,
        "repair_exchanges": c.repair_exchanges,
        // The old names of the two above, deprecated: dropped next release.
        "repairs": c.namespaces_repaired,
        "summary_repairs": c.repair_exchanges,
        "conflicts": c.conflicts,
        "unrefutable": c.unrefutable,
        "held": c.held,
        "members_refused": c.members_refused,
        "candidates": c.candidates,
        "candidates_verified": c.candidates_verified,
        "candidates_forgotten": c.candidates_forgotten,
        "candidates_evicted": c.candidates_evicted,
        "candidates_refused": c.candidates_refused,
        "candidates_unpinged": c.candidates_unpinged,
        "probe_rtt": {
            "bucket_bounds_us": swim_core::ROUND_TRIP_BUCKETS_US,
            "buckets": c.probe_rtt.buckets,
            "sum_us": c.probe_rtt.sum_us,
            "count": c.probe_rtt.count,
        },
        "driver": m.driver,
        "event_handlers": m.handlers,
    });
    // What the caps and the state layer refused (a second literal: one
    // would pass `json!`'s recursion limit).
    let more = json!({
        "members_capped": c.members_capped,
        "replies_capped": c.replies_capped,
        "joins_refused": c.joins_refused,
        "queries_stale": c.queries_stale,
        "queries_unanswered": c.queries_unanswered,
        "queries_refused": c.queries_refused,
        "claims": c.claims,
        "namespace_moves": c.namespace_moves,
        "keys_disputed": c.keys_disputed,
        "answers_unasked": c.answers_unasked,
        "lives_differ": c.lives_differ,
        "events_delivered": c.events_delivered,
        "events_old": c.events_old,
        "events_refused": c.events_refused,
        "keys_refused": {
            "unknown_life": k.unknown_life, "other_life": k.other_life,
            "implausible": k.implausible, "limits": k.limits,
            "inconsistent": k.inconsistent, "budget": k.budget, "unasked": k.unasked,
        },
    });
    if let (Some(v), Value::Object(more)) = (v.as_object_mut(), more) {
        v.extend(more);
    }
    v
}

/// The Prometheus (OpenMetrics) text of the metrics: every counter of
/// [`metrics_json`] as a `swim_..._total` counter (traffic by `kind`,
/// dropped packets by `reason`), members by `status` and the health score as
/// gauges, the control API's counters, and the driver's histograms.
fn prometheus_text(m: &AgentMetrics, control: &Value, h: &crate::driver::Histograms) -> String {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::registry::{Registry, Unit};
    type Labels = Vec<(String, String)>;
    let mut r = Registry::with_prefix("swim");
    let json = metrics_json(m);
    let c = &m.core;
    for (dir, by) in [("sent", &c.sent), ("received", &c.received)] {
        let packets = Family::<Labels, Counter>::default();
        let bytes = Family::<Labels, Counter>::default();
        for (kind, t) in [
            ("ping", &by.ping),
            ("ack", &by.ack),
            ("nack", &by.nack),
            ("ping_req", &by.ping_req),
            ("gossip", &by.gossip),
            ("push_pull", &by.push_pull),
        ] {
            let l = vec![("kind".to_string(), kind.to_string())];
            packets.get_or_create(&l).inc_by(t.packets);
            bytes.get_or_create(&l).inc_by(t.bytes);
        }
        r.register(
            format!("{dir}_packets"),
            format!("Packets {dir}, by kind"),
            packets,
        );
        r.register_with_unit(
            dir.to_string(),
            format!("Bytes {dir}, by kind"),
            Unit::Bytes,
            bytes,
        );
    }
    let dropped = Family::<Labels, Counter>::default();
    for (reason, n) in json["dropped"].as_object().into_iter().flatten() {
        if reason != "total" && reason != "decode_failures" {
            let l = vec![("reason".to_string(), reason.clone())];
            dropped.get_or_create(&l).inc_by(n.as_u64().unwrap_or(0));
        }
    }
    r.register("dropped", "Packets and frames dropped, by reason", dropped);
    let keys_refused = Family::<Labels, Counter>::default();
    for (reason, n) in json["keys_refused"].as_object().into_iter().flatten() {
        let l = vec![("reason".to_string(), reason.clone())];
        keys_refused
            .get_or_create(&l)
            .inc_by(n.as_u64().unwrap_or(0));
    }
    r.register(
        "keys_refused",
        "Key writes and repair deltas about other members refused, by reason",
        keys_refused,
    );
    let counters = |r: &mut Registry, prefix: &str, v: &Value, skip: &[&str]| {
        for (k, n) in v.as_object().into_iter().flatten() {
            if let (Some(n), false) = (n.as_u64(), skip.contains(&k.as_str())) {
                let counter = Counter::<u64>::default();
                counter.inc_by(n);
                let name = format!("{prefix}{k}");
                // A counter missing from the table still gets a help line;
                // a test makes sure none is missing.
                let help = crate::metrics_help::help(&name)
                    .map_or_else(|| format!("{name}: undocumented"), String::from);
                r.register(name, help, counter);
            }
        }
    };
    counters(&mut r, "", &json, &["health_score"]);
    counters(&mut r, "driver_", &json["driver"], &[]);
    for (k, help) in crate::handlers::HELP {
        let counter = Counter::<u64>::default();
        counter.inc_by(json["event_handlers"][k].as_u64().unwrap_or(0));
        r.register(format!("event_handler_{k}"), help, counter);
    }
    let open = ["connections", "max_connections", "monitors", "max_monitors"];
    counters(&mut r, "control_", control, &open);
    let refused = Family::<Labels, Counter>::default();
    for (why, n) in control["requests_refused"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let l = vec![("reason".to_string(), why.clone())];
        refused.get_or_create(&l).inc_by(n.as_u64().unwrap_or(0));
    }
    r.register(
        "control_requests_refused",
        "Control API requests refused, by check",
        refused,
    );
    for k in open {
        let g = Gauge::<i64>::default();
        g.set(control[k].as_i64().unwrap_or(0));
        let help = match k {
            "connections" => "Control API connections open now",
            "max_connections" => "Control API connections allowed at once",
            "monitors" => "Monitor streams open now",
            _ => "Monitor streams allowed at once",
        };
        r.register(format!("control_{k}"), help, g);
    }
    let members = Family::<Labels, Gauge>::default();
    for (status, n) in [
        ("alive", m.alive),
        ("suspect", m.suspect),
        ("dead", m.dead),
        ("left", m.left),
    ] {
        let l = vec![("status".to_string(), status.to_string())];
        members.get_or_create(&l).set(n as i64);
    }
    r.register("members", "Members this node holds, by status", members);
    let health = Gauge::<i64>::default();
    health.set(i64::from(m.health_score));
    r.register(
        "health_score",
        "Lifeguard local health score (0 is healthy)",
        health,
    );
    r.register_with_unit(
        "suspicion_to_dead",
        "Time from a member's suspicion to its death, as this node saw them",
        Unit::Seconds,
        h.suspicion_to_dead.clone(),
    );
    r.register_with_unit(
        "stream_duration",
        "Time a push-pull stream was open (either side's)",
        Unit::Seconds,
        h.stream_duration.clone(),
    );
    r.register_with_unit(
        "probe_rtt",
        "Probe round trips, ping to first ack (direct or through a relay)",
        Unit::Seconds,
        RoundTripHistogram(c.probe_rtt.clone()),
    );
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &r);
    text
}

/// The core's probe round trips (counted in its fixed buckets) as a
/// Prometheus histogram in seconds.
#[derive(Debug)]
struct RoundTripHistogram(swim_core::RoundTrips);

impl prometheus_client::encoding::EncodeMetric for RoundTripHistogram {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        let r = &self.0;
        let bounds = swim_core::ROUND_TRIP_BUCKETS_US
            .iter()
            .map(|&us| us as f64 / 1e6);
        let buckets: Vec<(f64, u64)> = bounds
            .chain([f64::MAX])
            .zip(r.buckets.iter().copied())
            .collect();
        let sum = r.sum_us as f64 / 1e6;
        encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            sum, r.count, &buckets, None,
        )
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Histogram
    }
}

/// The JSON of `GET /v1/info`: what an operator looks at first.
fn info_json(handle: &Handle, m: &AgentMetrics) -> Value {
    let c = &m.core;
    json!({
        "name": handle.name(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": handle.uptime().as_secs(),
        "advertise": handle.advertise_addr().to_string(),
        "members": { "alive": m.alive, "suspect": m.suspect, "dead": m.dead, "left": m.left },
        "health_score": m.health_score,
        // The sealing step and the key ids (never the keys themselves).
        "sealing": m.sealing.map_or("off", swim_core::Sealing::as_str),
        "keys": m.key_ids,
        "counters": {
            "probes": c.probes,
            "probe_failures": c.probe_failures,
            "suspicions": c.suspicions,
            "deaths": c.deaths,
            "refutations": c.refutations,
            "push_pulls": c.push_pulls,
            "push_pull_failures": c.push_pull_failures,
            "dropped": c.dropped.total(),
            "keys_written": c.keys_written,
        },
    })
}

/// The next event of a subscription, with the receiver handed back.
type NextEvent = Pin<
    Box<
        dyn Future<
                Output = (
                    broadcast::Receiver<Event>,
                    Result<Event, broadcast::error::RecvError>,
                ),
            > + Send,
    >,
>;

/// The `monitor` body: one JSON line per event, read from the node's event
/// channel only when the connection asks for more, so a slow reader misses
/// events (and gets a `lagged` line) instead of buffering them.
pub struct EventLines {
    /// `None` once the node stopped.
    next: Option<NextEvent>,
    /// The monitor slot, given back when the body is dropped.
    _slot: Option<OwnedSemaphorePermit>,
}

impl EventLines {
    /// The lines of `events`, holding `slot` (if any) until dropped.
    pub fn new(events: broadcast::Receiver<Event>, slot: Option<OwnedSemaphorePermit>) -> Self {
        EventLines {
            next: Some(Self::recv(events)),
            _slot: slot,
        }
    }

    fn recv(mut events: broadcast::Receiver<Event>) -> NextEvent {
        Box::pin(async move {
            let r = events.recv().await;
            (events, r)
        })
    }
}

impl Body for EventLines {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let Some(next) = this.next.as_mut() else {
            return Poll::Ready(None);
        };
        let (events, r) = std::task::ready!(next.as_mut().poll(cx));
        let line = match r {
            Ok(e) => event_json(&e),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                json!({ "event": "lagged", "missed": n })
            }
            Err(broadcast::error::RecvError::Closed) => {
                this.next = None;
                return Poll::Ready(None);
            }
        };
        this.next = Some(Self::recv(events));
        let mut line = line;
        line["time"] = json!(rfc3339(std::time::SystemTime::now()));
        let mut text = line.to_string();
        text.push('\n');
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(text)))))
    }

    fn is_end_stream(&self) -> bool {
        self.next.is_none()
    }
}

/// A control API response.
type ApiResponse = Response<axum::body::Body>;

fn reply(status: StatusCode, body: &Value) -> ApiResponse {
    let mut text = body.to_string();
    text.push('\n');
    let mut r = Response::new(axum::body::Body::from(text));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> ApiResponse {
    reply(status, &json!({ "error": message.to_string() }))
}

/// Waits up to `wait` for the outcome of the join just started through
/// `seeds`: 200 when a seed answered; 502 when an attempt reached no seed,
/// 504 when none answered in time (both cancel the join, so the agent does
/// not retry behind the caller's back).
async fn join_outcome(
    handle: &Handle,
    events: &mut broadcast::Receiver<Event>,
    seeds: &[String],
    wait: Duration,
) -> ApiResponse {
    let list = seeds.join(", ");
    let mut refused = None;
    let outcome = tokio::time::timeout(wait, async {
        loop {
            match events.recv().await {
                Ok(Event::JoinCompleted { seed }) => return Ok(seed),
                Ok(Event::JoinRefused {
                    seed,
                    holder,
                    authenticated,
                }) => refused = Some((seed, holder, authenticated)),
                Ok(Event::JoinRetry { .. }) | Ok(Event::JoinFailed { .. }) => return Err(()),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return Err(()),
            }
        }
    })
    .await;
    let why = match outcome {
        Ok(Ok(seed)) => {
            return reply(
                StatusCode::OK,
                &json!({ "joined": true, "seed": seed.to_string(), "joining": seeds }),
            )
        }
        Ok(Err(())) if handle.is_stopped() => return stopped(HandleError::Stopped),
        Ok(Err(())) if let Some((seed, holder, authenticated)) = refused => (
            StatusCode::CONFLICT,
            crate::driver::join_refused(handle.name(), seed, holder, authenticated),
        ),
        Ok(Err(())) => (
            StatusCode::BAD_GATEWAY,
            format!(
                "no seed answered the join ({list}): unreachable, not a swim agent, or one \
                 that drops this agent's traffic; {}",
                crate::driver::JOIN_UNANSWERED
            ),
        ),
        Err(_) => (
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "no seed answered the join ({list}) within {wait:?}; wait longer, or {}",
                crate::driver::JOIN_UNANSWERED
            ),
        ),
    };
    let _ = handle.cancel_join().await;
    error(why.0, format!("{}; the join is cancelled", why.1))
}

/// A key operation's report: every member's answer, and how many hold and
/// seal with each key. `complete`: every live member answered, none refused.
fn keys_reply(r: Result<crate::KeyReport, HandleError>) -> ApiResponse {
    match r {
        Ok(report) => reply(
            StatusCode::OK,
            &json!({
                "complete": report.complete(),
                "live": report.live,
                "answered": report.answers.len(),
                "holders": report.holders(),
                "primaries": report.primaries(),
                "sealing": report.sealing_steps(),
                "answers": report.answers,
            }),
        ),
        Err(HandleError::Stopped) => stopped(HandleError::Stopped),
        Err(
            e @ (HandleError::NotEverywhere { .. }
            | HandleError::PrimaryInUse { .. }
            | HandleError::NotReady { .. }),
        ) => error(StatusCode::CONFLICT, e),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

fn stopped(e: HandleError) -> ApiResponse {
    error(StatusCode::SERVICE_UNAVAILABLE, e)
}

/// A request's body, at most `MAX_BODY` bytes within `BODY_READ_TIMEOUT`;
/// the error is the response to send.
async fn body(req: Request<axum::body::Body>) -> Result<Bytes, ApiResponse> {
    let read = Limited::new(req.into_body(), MAX_BODY).collect();
    match tokio::time::timeout(BODY_READ_TIMEOUT, read).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("cannot read the body: {e}"),
        )),
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive within {} s",
                BODY_READ_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// What the leave endpoint tells the agent's main loop.
pub type LeaveNotify = mpsc::Sender<()>;

/// Serves the control API on `listener` until the process ends, with the
/// checks and limits of `options` (see the module docs).
///
/// After a successful `POST /v1/leave` a message goes to `on_leave`, so the
/// agent can exit. Returns at once, serving nothing, if `options` has no
/// token and `listener` is not on a loopback address
/// ([`ControlOptions::check_bind`]).
pub async fn serve(
    listener: TcpListener,
    handle: Handle,
    on_leave: LeaveNotify,
    options: ControlOptions,
) -> Result<Infallible, InsecureBind> {
    let bound = listener.local_addr().ok();
    match bound {
        Some(a) => options.check_bind(a)?,
        None if options.token.is_none() => return Err(InsecureBind { addr: None }),
        None => {}
    }
    let shared = Arc::new(Shared {
        handle,
        on_leave,
        bound,
        connections: Arc::new(Semaphore::new(options.max_connections)),
        monitors: Arc::new(Semaphore::new(options.max_monitors)),
        options,
        stats: Stats::default(),
    });
    let router = router(shared.clone());
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "control API accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = shared.connections.clone().try_acquire_owned() else {
            drop(sock);
            let n = bump(&shared.stats.connections_refused);
            let limit = shared.options.max_connections;
            // Warn on the 1st, 2nd, 4th, 8th... so a flood cannot flood the log.
            if n.is_power_of_two() {
                tracing::warn!(%peer, limit, refused = n, "control API: too many connections, closed a new one");
            } else {
                tracing::debug!(%peer, limit, refused = n, "control API: too many connections, closed a new one");
            }
            continue;
        };
        let shared = shared.clone();
        let svc = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let result = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(shared.options.header_read_timeout)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(sock), svc)
                .await;
            if let Err(e) = result {
                if e.is_timeout() {
                    bump(&shared.stats.header_timeouts);
                }
                tracing::debug!(%peer, error = %e, "control API connection ended");
            }
        });
    }
}

/// The control API's routes, behind the checks of [`Shared::refusal`]
/// (which run for every request, unknown paths included).
fn router(shared: Arc<Shared>) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/v1/agent", get(agent))
        .route("/v1/members", get(members))
        .route("/v1/explain/{name}", get(explain))
        .route("/v1/kv", get(kv_list).post(kv_set).delete(kv_delete))
        .route("/v1/keys", get(keys_get).post(keys_op))
        .route("/metrics", get(prometheus))
        .route("/v1/info", get(info))
        .route("/v1/metrics", get(metrics))
        .route("/v1/join", post(join))
        .route("/v1/force-leave", post(force_leave))
        .route("/v1/event", post(user_event))
        .route("/v1/query", post(user_query))
        .route("/v1/reachability", post(reachability))
        .route("/v1/leave", post(leave))
        .route("/v1/monitor", get(monitor))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(shared.clone(), checks))
        .with_state(shared)
}

/// The state every handler gets.
type St = axum::extract::State<Arc<Shared>>;

/// Who may call, and how: a refusal instead of the endpoint.
async fn checks(
    axum::extract::State(shared): St,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> ApiResponse {
    match shared.refusal(&req) {
        Some(refusal) => refusal,
        None => next.run(req).await,
    }
}

async fn not_found(uri: hyper::Uri) -> ApiResponse {
    error(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {}", uri.path()),
    )
}

async fn method_not_allowed() -> ApiResponse {
    error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

/// A query string read through serde; a bad one is a 400 naming what is
/// allowed.
struct Query<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S>
    for Query<T>
{
    type Rejection = ApiResponse;

    async fn from_request_parts(
        parts: &mut hyper::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiResponse> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Query(q.0))
            .map_err(|e| {
                // serde's message without axum's prefix.
                let text = e.body_text();
                let text = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid query string: {text}"),
                )
            })
    }
}

/// What a JSON body must look like, for the error when it does not.
trait Usage {
    /// An example body.
    const USAGE: &'static str;
}

/// A JSON body read through serde: at most [`MAX_BODY`] bytes within
/// [`BODY_READ_TIMEOUT`]; a bad one is a 400 saying what was wrong and what
/// is expected.
struct Json<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Usage> axum::extract::FromRequest<S>
    for Json<T>
{
    type Rejection = ApiResponse;

    async fn from_request(req: Request<axum::body::Body>, _: &S) -> Result<Self, ApiResponse> {
        let bytes = body(req).await?;
        serde_json::from_slice(&bytes).map(Json).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                format!("invalid body: {e}; expected {}", T::USAGE),
            )
        })
    }
}

/// A member status, as `?status=` takes it.
#[derive(Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum StatusFilter {
    Alive,
    Suspect,
    Dead,
    Left,
}

impl StatusFilter {
    fn matches(self, s: swim_core::Status) -> bool {
        matches!(
            (self, s),
            (StatusFilter::Alive, swim_core::Status::Alive)
                | (StatusFilter::Suspect, swim_core::Status::Suspect)
                | (StatusFilter::Dead, swim_core::Status::Dead)
                | (StatusFilter::Left, swim_core::Status::Left)
        )
    }
}

#[derive(serde::Deserialize)]
struct MembersQuery {
    status: Option<StatusFilter>,
}

#[derive(serde::Deserialize)]
struct KvQuery {
    member: Option<String>,
    #[serde(default)]
    prefix: String,
}

#[derive(serde::Deserialize)]
struct KvKey {
    key: String,
}

#[derive(serde::Deserialize)]
struct KvWrite {
    key: String,
    value: String,
}

impl Usage for KvWrite {
    const USAGE: &'static str = "{\"key\": \"...\", \"value\": \"...\"}";
}

/// A cluster key operation's name.
#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum KeyOpName {
    List,
    Install,
    Use,
    Remove,
    Sealing,
}

#[derive(serde::Deserialize)]
struct KeysBody {
    op: KeyOpName,
    key: Option<String>,
    /// The step of `sealing`: `send` or `require`.
    step: Option<String>,
}

impl Usage for KeysBody {
    const USAGE: &'static str =
        "{\"op\": \"list\"}, {\"op\": \"install\" | \"use\" | \"remove\", \"key\": \"BASE64\"} \
         or {\"op\": \"sealing\", \"step\": \"send\" | \"require\"}";
}

#[derive(serde::Deserialize)]
struct JoinBody {
    seeds: Vec<String>,
    wait: Option<String>,
}

impl Usage for JoinBody {
    const USAGE: &'static str = "{\"seeds\": [\"HOST:PORT\", ...], \"wait\": \"10s\" (optional)}";
}

/// The body of `POST /v1/event`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBody {
    name: String,
    payload: Option<String>,
    payload_base64: Option<String>,
    #[serde(default = "yes")]
    coalesce: bool,
}

fn yes() -> bool {
    true
}

impl Usage for EventBody {
    const USAGE: &'static str = "{\"name\": \"NAME\", \"payload\": \"TEXT\" or \"payload_base64\": \"BASE64\" (optional), \"coalesce\": true|false (optional, default true)}";
}

/// The body of `POST /v1/query`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryBody {
    name: String,
    payload: Option<String>,
    payload_base64: Option<String>,
    #[serde(default)]
    nodes: Vec<String>,
    #[serde(default)]
    tags: std::collections::BTreeMap<String, String>,
    timeout: Option<String>,
    relay_factor: Option<u8>,
    #[serde(default = "yes")]
    ack: bool,
}

impl Usage for QueryBody {
    const USAGE: &'static str = "{\"name\": \"NAME\", \"payload\": \"TEXT\" or \"payload_base64\": \"BASE64\" (optional), \"nodes\": [\"MEMBER\", ...], \"tags\": {\"KEY\": \"REGEX\"}, \"timeout\": \"5s\", \"relay_factor\": 0-5, \"ack\": true|false (all optional but name)}";
}

/// The body of `POST /v1/reachability` (and the query string of `GET`).
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReachabilityBody {
    timeout: Option<String>,
}

impl Usage for ReachabilityBody {
    const USAGE: &'static str = "{\"timeout\": \"5s\" (optional)}";
}

/// A query's `timeout`: `None` for the default; the error says what is
/// wrong (its range is the core's to check, with its message).
fn query_timeout(t: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(t) = t else { return Ok(None) };
    crate::parse_duration(t)
        .map(Some)
        .map_err(|e| format!("invalid timeout `{t}`: {e}"))
}

/// A payload given as text or base64 (not both); the error says what is
/// wrong.
fn payload_of(text: Option<String>, b64: Option<String>, usage: &str) -> Result<Bytes, String> {
    use base64::Engine as _;
    match (text, b64) {
        (Some(_), Some(_)) => Err(format!(
            "give the payload as `payload` (UTF-8 text) or as `payload_base64`, not both; expected {usage}"
        )),
        (Some(text), None) => Ok(Bytes::from(text)),
        (None, Some(b64)) => (base64::engine::general_purpose::STANDARD.decode(b64.trim()))
            .map(Bytes::from)
            .map_err(|e| format!("invalid payload_base64: {e}; expected standard base64 with padding")),
        (None, None) => Ok(Bytes::new()),
    }
}

/// A streamed body of JSON lines, fed by a task through a bounded channel.
struct Lines(mpsc::Receiver<Bytes>);

impl Body for Lines {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.get_mut()
            .0
            .poll_recv(cx)
            .map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// One JSON line.
fn line(v: &Value) -> Bytes {
    let mut text = v.to_string();
    text.push('\n');
    Bytes::from(text)
}

/// The JSON line of a query's update.
pub fn query_update_json(u: &crate::QueryUpdate) -> Value {
    match u {
        crate::QueryUpdate::Ack { member } => json!({ "type": "ack", "member": member }),
        crate::QueryUpdate::Response { member, payload } => {
            let mut v = json!({ "type": "response", "member": member });
            put_payload(&mut v, payload);
            v
        }
        crate::QueryUpdate::Done(s) => json!({
            "type": "summary", "id": s.id, "asked": s.asked, "acks": s.acks,
            "responses": s.responses, "missing": s.missing, "dropped": s.dropped,
        }),
    }
}

#[derive(serde::Deserialize)]
struct ForceLeaveBody {
    name: String,
}

impl Usage for ForceLeaveBody {
    const USAGE: &'static str = "{\"name\": \"MEMBER\"}";
}

async fn agent(axum::extract::State(shared): St) -> ApiResponse {
    let handle = &shared.handle;
    reply(
        StatusCode::OK,
        &json!({ "name": handle.name(), "bind": handle.local_addr().to_string(),
                 "advertise": handle.advertise_addr().to_string() }),
    )
}

async fn members(axum::extract::State(shared): St, Query(q): Query<MembersQuery>) -> ApiResponse {
    match shared.handle.members().await {
        Ok(ms) => {
            let ms: Vec<_> = ms
                .into_iter()
                .filter(|m| q.status.is_none_or(|f| f.matches(m.status)))
                .collect();
            reply(StatusCode::OK, &json!(ms))
        }
        Err(e) => stopped(e),
    }
}

/// `GET /v1/explain/NAME`: read-only, this agent's own view.
async fn explain(
    axum::extract::State(shared): St,
    name: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> ApiResponse {
    let Ok(axum::extract::Path(name)) = name else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid member name in the path: expected /v1/explain/NAME (percent-encoded UTF-8)",
        );
    };
    match shared.handle.explain(&name).await {
        Ok(Some(info)) => reply(StatusCode::OK, &explain_json(&info)),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("this agent does not know member `{name}` (never heard of it, or reaped)"),
        ),
        Err(e) => stopped(e),
    }
}

async fn kv_list(axum::extract::State(shared): St, Query(q): Query<KvQuery>) -> ApiResponse {
    let handle = &shared.handle;
    let member = q.member.unwrap_or_else(|| handle.name().to_string());
    match handle.keys(&member, &q.prefix).await {
        Ok(keys) if keys.is_empty() && member != handle.name() => {
            // No keys: say whether the member is unknown rather than keyless
            // (`kv get` of a typo said "has no key").
            match handle.members().await {
                Ok(ms) if ms.iter().any(|m| m.name == member) => {
                    reply(StatusCode::OK, &json!({ "member": member, "keys": [] }))
                }
                Ok(_) => error(
                    StatusCode::NOT_FOUND,
                    format!(
                        "this agent does not know member `{member}` (never heard of it, or \
                         reaped); `swim members` lists the members it knows"
                    ),
                ),
                Err(e) => stopped(e),
            }
        }
        Ok(keys) => {
            let keys: Vec<Value> = keys.iter().map(|(k, v, n)| key_json(k, v, *n)).collect();
            reply(StatusCode::OK, &json!({ "member": member, "keys": keys }))
        }
        Err(e) => stopped(e),
    }
}

async fn kv_set(axum::extract::State(shared): St, Json(w): Json<KvWrite>) -> ApiResponse {
    match shared.handle.set(&w.key, Bytes::from(w.value)).await {
        Ok(version) => reply(StatusCode::OK, &json!({ "key": w.key, "version": version })),
        Err(HandleError::Stopped) => stopped(HandleError::Stopped),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn kv_delete(axum::extract::State(shared): St, Query(q): Query<KvKey>) -> ApiResponse {
    match shared.handle.delete(&q.key).await {
        Ok(deleted) => reply(StatusCode::OK, &json!({ "key": q.key, "deleted": deleted })),
        Err(HandleError::Stopped) => stopped(HandleError::Stopped),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

/// `GET /v1/keys`: refused, since a list asks every member (a GET starts
/// nothing cluster-wide).
async fn keys_get() -> ApiResponse {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "listing keys asks every member (a cluster-wide query), which a GET never starts: \
         POST /v1/keys with {\"op\": \"list\"} (as `swim keys list` does)",
    );
    r.headers_mut()
        .insert(hyper::header::ALLOW, HeaderValue::from_static("POST"));
    r
}

async fn keys_op(axum::extract::State(shared): St, Json(b): Json<KeysBody>) -> ApiResponse {
    let handle = &shared.handle;
    if let KeyOpName::Sealing = b.op {
        let step = match b.step.as_deref().map(|s| (s, swim_core::Sealing::parse(s))) {
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("missing field `step`; expected {}", KeysBody::USAGE),
                )
            }
            Some((_, Some(step))) => step,
            Some((s, None)) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown sealing step `{s}`: expected `send` or `require`"),
                )
            }
        };
        return keys_reply(handle.set_cluster_sealing(step).await);
    }
    let key = match (&b.op, &b.key) {
        (KeyOpName::List | KeyOpName::Sealing, _) => None,
        (_, None) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("missing field `key`; expected {}", KeysBody::USAGE),
            )
        }
        (_, Some(text)) => match crate::keyring::parse_key(text) {
            Ok(k) => Some(k),
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("key: {e}")),
        },
    };
    keys_reply(match (b.op, key) {
        (KeyOpName::Install, Some(key)) => handle.key_op(swim_core::KeyringOp::Install(key)).await,
        (KeyOpName::Use, Some(key)) => handle.use_key(key.id()).await,
        (KeyOpName::Remove, Some(key)) => handle.remove_key(key.id()).await,
        _ => handle.key_op(swim_core::KeyringOp::List).await,
    })
}

async fn prometheus(axum::extract::State(shared): St) -> ApiResponse {
    let handle = &shared.handle;
    match handle.metrics().await {
        Ok(m) => {
            let text = prometheus_text(&m, &shared.stats_json(), handle.histograms());
            let mut r = Response::new(axum::body::Body::from(text));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            r
        }
        Err(e) => stopped(e),
    }
}

async fn info(axum::extract::State(shared): St) -> ApiResponse {
    match shared.handle.metrics().await {
        Ok(m) => reply(StatusCode::OK, &info_json(&shared.handle, &m)),
        Err(e) => stopped(e),
    }
}

async fn metrics(axum::extract::State(shared): St) -> ApiResponse {
    match shared.handle.metrics().await {
        Ok(m) => {
            let mut v = metrics_json(&m);
            v["control"] = shared.stats_json();
            reply(StatusCode::OK, &v)
        }
        Err(e) => stopped(e),
    }
}

async fn join(axum::extract::State(shared): St, Json(b): Json<JoinBody>) -> ApiResponse {
    let handle = &shared.handle;
    let max = shared.options.max_join_seeds;
    if b.seeds.len() > max {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "too many seeds: {} given, at most {max} per request",
                b.seeds.len()
            ),
        );
    }
    if b.seeds.is_empty() {
        return error(StatusCode::BAD_REQUEST, "no seeds given");
    }
    let wait = match &b.wait {
        None => None,
        Some(s) => match crate::parse_duration(s) {
            Ok(d) if !d.is_zero() && d <= MAX_JOIN_WAIT => Some(d),
            Ok(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("wait `{s}` out of range: above zero and at most 5m"),
                )
            }
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("wait: {e}")),
        },
    };
    // Subscribed before the join starts: its outcome cannot be missed.
    let mut events = handle.subscribe();
    // With a wait, the caller hears the outcome: one attempt, no retries
    // behind its back.
    let joined = match wait {
        Some(_) => handle.join_once(&b.seeds).await,
        None => handle.join(&b.seeds).await,
    };
    let addrs = match joined {
        Ok(addrs) => addrs,
        Err(HandleError::Stopped) => return stopped(HandleError::Stopped),
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let shown: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    let Some(wait) = wait else {
        return reply(StatusCode::OK, &json!({ "joining": shown }));
    };
    join_outcome(handle, &mut events, &shown, wait).await
}

async fn force_leave(
    axum::extract::State(shared): St,
    Json(b): Json<ForceLeaveBody>,
) -> ApiResponse {
    match shared.handle.force_leave(&b.name).await {
        Ok(()) => reply(StatusCode::OK, &json!({ "name": b.name, "status": "left" })),
        Err(HandleError::Stopped) => stopped(HandleError::Stopped),
        Err(e) => error(StatusCode::CONFLICT, e),
    }
}

/// `POST /v1/event`: fires a user event.
async fn user_event(axum::extract::State(shared): St, Json(b): Json<EventBody>) -> ApiResponse {
    use base64::Engine as _;
    let payload = match (b.payload, b.payload_base64) {
        (Some(_), Some(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "give the payload as `payload` (UTF-8 text) or as `payload_base64`, not both; expected {}",
                    EventBody::USAGE
                ),
            )
        }
        (Some(text), None) => Bytes::from(text),
        (None, Some(b64)) => match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
            Ok(bytes) => Bytes::from(bytes),
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid payload_base64: {e}; expected standard base64 with padding"),
                )
            }
        },
        (None, None) => Bytes::new(),
    };
    let size = b.name.len() + payload.len();
    match shared.handle.event(&b.name, payload, b.coalesce).await {
        Ok(()) => reply(
            StatusCode::OK,
            &json!({ "name": b.name, "size": size, "coalesce": b.coalesce }),
        ),
        Err(HandleError::Stopped) => stopped(HandleError::Stopped),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

/// `POST /v1/query`: asks a user query; streams its acks and responses
/// as JSON lines as they arrive, then its summary.
async fn user_query(axum::extract::State(shared): St, Json(b): Json<QueryBody>) -> ApiResponse {
    let payload = match payload_of(b.payload, b.payload_base64, QueryBody::USAGE) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let timeout = match query_timeout(b.timeout.as_deref()) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let relay_factor = b.relay_factor.unwrap_or(swim_core::DEFAULT_RELAY_FACTOR);
    let options = swim_core::QueryOptions {
        filter: swim_core::QueryFilter {
            nodes: b.nodes,
            tags: b.tags.into_iter().collect(),
        },
        timeout,
        want_ack: b.ack,
        relay_factor,
    };
    let mut stream = match shared.handle.query(&b.name, payload, options).await {
        Ok(s) => s,
        Err(HandleError::Stopped) => return stopped(HandleError::Stopped),
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Some(u) = stream.next().await {
            if tx.send(line(&query_update_json(&u))).await.is_err() {
                // The client went away: the query runs out on its own.
                return;
            }
        }
    });
    let mut r = Response::new(axum::body::Body::new(Lines(rx)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    r
}

/// `POST /v1/reachability`: a query that asks every member for
/// an ack only; who acked, who did not, who is held suspect or dead.
async fn reachability(
    axum::extract::State(shared): St,
    req: Request<axum::body::Body>,
) -> ApiResponse {
    let b: ReachabilityBody = {
        let bytes = match body(req).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            ReachabilityBody::default()
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(b) => b,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("invalid body: {e}; expected {}", ReachabilityBody::USAGE),
                    )
                }
            }
        }
    };
    let timeout = match query_timeout(b.timeout.as_deref()) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match shared.handle.reachability(timeout).await {
        Ok(r) => reply(
            StatusCode::OK,
            &serde_json::to_value(&r).unwrap_or(Value::Null),
        ),
        Err(HandleError::Stopped) => stopped(HandleError::Stopped),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn leave(axum::extract::State(shared): St) -> ApiResponse {
    match shared.handle.leave().await {
        Ok(outcome) => {
            let _ = shared.on_leave.try_send(());
            reply(
                StatusCode::OK,
                &json!({ "left": true, "completed": outcome.completed }),
            )
        }
        Err(e) => stopped(e),
    }
}

async fn monitor(axum::extract::State(shared): St) -> ApiResponse {
    let Ok(slot) = shared.monitors.clone().try_acquire_owned() else {
        bump(&shared.stats.monitors_refused);
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "too many monitor streams: at most {} at once; close one and retry",
                shared.options.max_monitors
            ),
        );
    };
    // Subscribed before the answer: the client misses no event after it.
    let events = shared.handle.subscribe();
    let mut r = Response::new(axum::body::Body::new(EventLines::new(events, Some(slot))));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `monitor` shows queries asked of this agent, and its own queries'
    /// answers.
    #[test]
    fn queries_have_monitor_lines() {
        let v = event_json(&Event::Query {
            origin: "o".into(),
            id: 7,
            name: "whoami".into(),
            payload: Bytes::from_static(b"hi"),
            timeout: Duration::from_secs(2),
        });
        assert_eq!(
            v,
            json!({"event": "query", "name": "whoami", "origin": "o", "id": 7,
                   "timeout_ms": 2000, "payload": "hi"})
        );
        let v = event_json(&Event::QueryResponse {
            query: 7,
            member: "m".into(),
            payload: Bytes::from_static(&[0xff]),
        });
        assert_eq!(v["payload_base64"], "/w==", "{v}");
        let v = event_json(&Event::QueryDone {
            query: 7,
            answers: 1,
            acks: 2,
            asked: 3,
            missing: vec!["z".into()],
        });
        assert_eq!(v["missing"], json!(["z"]), "{v}");
        assert_eq!(v["responses"], 1, "{v}");
    }

    fn operations_page() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md");
        std::fs::read_to_string(path).expect("docs/operations.md")
    }

    /// Every metric on `/metrics` has a real help line, and the operations
    /// page names every one of them; its counters' table is the one the
    /// help lines come from (`SWIM_BLESS=1` rewrites it).
    #[test]
    fn every_metric_has_help_and_is_documented() {
        let m = AgentMetrics {
            core: swim_core::Metrics::default(),
            driver: Default::default(),
            health_score: 0,
            alive: 1,
            suspect: 0,
            dead: 0,
            left: 0,
            sealing: None,
            key_ids: Vec::new(),
            handlers: Default::default(),
        };
        let control = json!({
            "connections": 0, "max_connections": 1, "connections_refused": 0,
            "header_timeouts": 0, "monitors": 0, "max_monitors": 1, "monitors_refused": 0,
            "requests_refused": {"host": 0, "token": 0, "content_type": 0, "cross_site": 0},
        });
        let text = prometheus_text(&m, &control, &Default::default());
        let mut page = operations_page();
        let table = crate::metrics_help::doc_table();
        let (begin, end) = ("<!-- counters:begin -->\n", "<!-- counters:end -->");
        let (a, b) = (
            page.find(begin).unwrap() + begin.len(),
            page.find(end).unwrap(),
        );
        if std::env::var_os("SWIM_BLESS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md");
            std::fs::write(path, format!("{}{table}{}", &page[..a], &page[b..])).unwrap();
            page = operations_page();
        } else {
            assert_eq!(
                page[a..b],
                table,
                "docs/operations.md's counters table is out of date: SWIM_BLESS=1 rewrites it"
            );
        }
        let mut names = 0;
        let mut missing = Vec::new();
        for line in text.lines().filter(|l| l.starts_with("# HELP ")) {
            let (name, help) = line["# HELP ".len()..].split_once(' ').unwrap();
            names += 1;
            assert!(
                !help.contains("(see /v1/metrics)") && !help.contains("undocumented"),
                "{line}"
            );
            assert!(help.len() >= 15, "a help line says what it counts: {line}");
            if !page.contains(&format!("`{name}")) {
                missing.push(name);
            }
        }
        assert!(names > 70, "{names} metrics");
        assert!(
            missing.is_empty(),
            "docs/operations.md does not name {missing:?}"
        );
        // Every plain counter of the JSON has a line in the table.
        let json = metrics_json(&m);
        for (k, v) in json.as_object().unwrap() {
            if v.is_u64() && k != "health_score" {
                assert!(crate::metrics_help::help(k).is_some(), "no help for {k}");
            }
        }
    }

    /// The page explains every state and status an operator sees.
    #[test]
    fn the_operations_page_explains_every_state() {
        let page = operations_page();
        for state in [
            "alive",
            "suspect",
            "dead",
            "left",
            "held",
            "unrefutable",
            "reaped",
            "candidate",
            "resets",
            "conflicts",
            "lagged",
            "accept",
            "send",
            "require",
        ] {
            assert!(page.contains(&format!("`{state}`")), "{state}");
        }
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        assert!(
            readme.contains("docs/operations.md"),
            "README links the page"
        );
    }

    /// Monitor times are RFC 3339, UTC, to the millisecond.
    #[test]
    fn monitor_times_are_rfc3339() {
        let t = std::time::UNIX_EPOCH + Duration::from_millis(1_765_022_403_100);
        assert_eq!(rfc3339(t), "2025-12-06T12:00:03.100Z");
    }

    #[test]
    fn loopback_host_names_are_local_and_others_are_not() {
        let bound: Option<SocketAddr> = Some("127.0.0.1:7373".parse().unwrap());
        for ok in [
            "localhost",
            "LocalHost:7373",
            "127.0.0.1",
            "127.0.0.1:7373",
            "127.8.9.10:1",
            "[::1]",
            "[::1]:7373",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert!(local_host(ok, bound), "{ok} should be local");
        }
        for bad in [
            "attacker.example",
            "attacker.example:7373",
            "localhost.attacker.example",
            "127.0.0.1.nip.io",
            "10.0.0.1:7373",
            "0.0.0.0:7373",
            "[::]:7373",
            "[::1]x",
            "localhost:",
            "localhost:12345678",
            "localhost:80:80",
            "::1",
            "",
        ] {
            assert!(!local_host(bad, bound), "{bad} should not be local");
        }
        // The exact address the API is bound to, even if not loopback.
        let lan: Option<SocketAddr> = Some("10.0.0.5:7373".parse().unwrap());
        assert!(local_host("10.0.0.5:7373", lan));
        assert!(!local_host("10.0.0.6:7373", lan));
        // A wildcard bind does not make every address local.
        let any: Option<SocketAddr> = Some("0.0.0.0:7373".parse().unwrap());
        assert!(!local_host("0.0.0.0:7373", any));
    }

    #[test]
    fn absolute_uris_and_every_host_header_are_checked() {
        let req = |uri: &str, hosts: &[&str]| {
            let mut b = Request::builder().uri(uri);
            for h in hosts {
                b = b.header(HOST, *h);
            }
            b.body(()).unwrap()
        };
        assert_eq!(
            foreign_host(&req("/v1/members", &["localhost:1"]), None),
            None
        );
        assert_eq!(foreign_host(&req("/v1/members", &[]), None), None);
        assert_eq!(
            foreign_host(&req("http://evil.example/v1/members", &["localhost"]), None),
            Some("evil.example".into())
        );
        assert_eq!(
            foreign_host(&req("/v1/members", &["localhost", "evil.example"]), None),
            Some("evil.example".into())
        );
    }

    #[test]
    fn bearer_and_content_type_parsing() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer   abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer"), None);
        assert_eq!(bearer(b"Bearer "), None);
        let ct = |s: &str| is_json(Some(&HeaderValue::from_str(s).unwrap()));
        assert!(ct("application/json"));
        assert!(ct("Application/JSON; charset=utf-8"));
        assert!(!ct("application/x-www-form-urlencoded"));
        assert!(!ct("text/plain"));
        assert!(!ct("multipart/form-data; boundary=x"));
        assert!(!ct("application/jsonp"));
        assert!(!is_json(None));
    }

    #[test]
    fn tokens_are_trimmed_checked_and_compared_whole() {
        let t = Token::new("  s3cret-Token\n").unwrap();
        assert!(t.matches(b"s3cret-Token"));
        assert!(!t.matches(b"s3cret-Tokem"));
        assert!(!t.matches(b"s3cret-Toke"));
        assert!(!t.matches(b"s3cret-Token2"));
        assert!(!t.matches(b"s3cret-Tokens3cret-Token"));
        assert!(!t.matches(b""));
        assert_eq!(t.authorization(), "Bearer s3cret-Token");
        assert_eq!(format!("{t:?}"), "Token(..)");
        assert!(Token::new(" \n").is_err());
        assert!(Token::new("two words").is_err());
        assert!(Token::new("caf\u{e9}").is_err());
    }

    #[test]
    fn a_token_is_needed_off_loopback() {
        let none = ControlOptions::default();
        assert!(none.check_bind("127.0.0.1:7373".parse().unwrap()).is_ok());
        assert!(none.check_bind("127.1.2.3:7373".parse().unwrap()).is_ok());
        assert!(none.check_bind("[::1]:7373".parse().unwrap()).is_ok());
        for a in ["0.0.0.0:7373", "10.0.0.1:7373", "[::]:7373"] {
            let e = none.check_bind(a.parse().unwrap()).unwrap_err();
            assert!(e.to_string().contains("needs a token"), "{e}");
        }
        let with = ControlOptions {
            token: Some(Token::new("t").unwrap()),
            ..ControlOptions::default()
        };
        assert!(with.check_bind("0.0.0.0:7373".parse().unwrap()).is_ok());
    }

    /// The monitor body holds nothing of its own: events that arrive while it
    /// is not polled stay in the shared channel, and a reader that fell more
    /// than the channel's capacity behind is told how many it missed.
    #[tokio::test]
    async fn a_slow_monitor_misses_events_and_is_told() {
        let (tx, rx) = broadcast::channel(4);
        let mut body = EventLines::new(rx, None);
        for _ in 0..10 {
            tx.send(Event::LeaveCompleted).unwrap();
        }
        let mut lines = Vec::new();
        for _ in 0..5 {
            let frame = body.frame().await.unwrap().unwrap();
            let data = frame.into_data().unwrap();
            lines.push(serde_json::from_slice::<Value>(&data).unwrap());
        }
        // Every line carries the time it was sent.
        for l in &mut lines {
            let time = l.as_object_mut().unwrap().remove("time").unwrap();
            assert!(time.as_str().unwrap().ends_with('Z'), "{time}");
        }
        assert_eq!(lines[0], json!({ "event": "lagged", "missed": 6 }));
        assert!(lines[1..].iter().all(|l| l["event"] == "leave-completed"));
        drop(tx);
        assert!(body.frame().await.is_none());
        assert!(body.is_end_stream());
    }
}
