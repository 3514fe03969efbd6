//! The agent's local control API: HTTP/1.1 with JSON bodies, so `curl` works.
//!
//! | method and path | what |
//! | --- | --- |
//! | `GET /v1/agent` | this agent's name and addresses |
//! | `GET /v1/members[?status=alive]` | the member list, a JSON array |
//! | `POST /v1/join` | body `{"seeds": ["HOST:PORT", ...]}`: join more seeds |
//! | `POST /v1/leave` | leave gracefully; the agent exits afterwards |
//! | `GET /v1/metrics` | protocol and driver counters, dropped packets included |
//! | `GET /v1/monitor` | newline-delimited JSON events, streamed as they happen |
//! | `GET /v1/keys` | every member's keys (a cluster-wide `list`) |
//! | `POST /v1/keys` | body `{"op": "install" \| "use" \| "remove", "key": "BASE64"}`: on every member |

use crate::handle::{AgentMetrics, Handle, HandleError};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use swim_core::{Event, Member};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};

/// Largest request body the control API reads.
const MAX_BODY: usize = 64 * 1024;

/// The JSON form of one member in events.
fn member_json(m: &Member) -> Value {
    json!({
        "name": &*m.name,
        "addr": m.addr.to_string(),
        "status": m.status.as_str(),
        "incarnation": m.incarnation,
        "meta": String::from_utf8_lossy(&m.meta),
    })
}

/// The JSON form of an event: `{"event": "member-joined", "member": {...}}`.
pub fn event_json(e: &Event) -> Value {
    let member = |kind: &str, m: &Member| json!({ "event": kind, "member": member_json(m) });
    match e {
        Event::MemberJoined(m) => member("member-joined", m),
        Event::MemberUpdated(m) => member("member-updated", m),
        Event::MemberSuspect(m) => member("member-suspect", m),
        Event::MemberRecovered(m) => member("member-recovered", m),
        Event::MemberFailed(m) => member("member-failed", m),
        Event::MemberLeft(m) => member("member-left", m),
        Event::MemberReaped(m) => member("member-reaped", m),
        Event::JoinCompleted { seed } => {
            json!({ "event": "join-completed", "seed": seed.to_string() })
        }
        Event::JoinRetry { attempt } => json!({ "event": "join-retry", "attempt": attempt }),
        Event::LeaveCompleted => json!({ "event": "leave-completed" }),
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
        e => json!({ "event": "other", "debug": format!("{e:?}") }),
    }
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

/// The decoded `name=value` pairs of a query string.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
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
    json!({
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
            "implausible": d.implausible, "auth": d.auth,
            "total": d.total(), "decode_failures": d.decode_failures(),
        },
        "probes": c.probes,
        "indirect_probes": c.indirect_probes,
        "probe_failures": c.probe_failures,
        "suspicions": c.suspicions,
        "refutations": c.refutations,
        "deaths": c.deaths,
        "push_pulls": c.push_pulls,
        "push_pull_failures": c.push_pull_failures,
        "keys_written": c.keys_written,
        "deltas_sent": c.deltas_sent,
        "deltas_applied": c.deltas_applied,
        "repairs": c.repairs,
        "resets": c.resets,
        "summary_repairs": c.summary_repairs,
        "conflicts": c.conflicts,
        "unrefutable": c.unrefutable,
        "members_refused": c.members_refused,
        "driver": m.driver,
    })
}

/// A response body: one whole buffer, or a stream of lines.
pub enum ApiBody {
    /// A complete body.
    Full(Full<Bytes>),
    /// Lines as they come (the monitor).
    Lines(mpsc::Receiver<Bytes>),
}

impl Body for ApiBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ApiBody::Full(f) => Pin::new(f).poll_frame(cx),
            ApiBody::Lines(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ApiBody::Full(f) => f.is_end_stream(),
            ApiBody::Lines(_) => false,
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            ApiBody::Full(f) => f.size_hint(),
            ApiBody::Lines(_) => hyper::body::SizeHint::default(),
        }
    }
}

fn reply(status: StatusCode, body: &Value) -> Response<ApiBody> {
    let mut text = body.to_string();
    text.push('\n');
    let mut r = Response::new(ApiBody::Full(Full::new(Bytes::from(text))));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response<ApiBody> {
    reply(status, &json!({ "error": message.to_string() }))
}

/// A key operation's report: every member's answer, and how many hold and
/// seal with each key. `complete`: every live member answered, none refused.
fn keys_reply(r: Result<crate::KeyReport, HandleError>) -> Response<ApiBody> {
    match r {
        Ok(report) => reply(
            StatusCode::OK,
            &json!({
                "complete": report.complete(),
                "live": report.live,
                "answered": report.answers.len(),
                "holders": report.holders(),
                "primaries": report.primaries(),
                "answers": report.answers,
            }),
        ),
        Err(HandleError::Stopped) => stopped(HandleError::Stopped),
        Err(e @ HandleError::NotEverywhere { .. }) => error(StatusCode::CONFLICT, e),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

fn stopped(e: HandleError) -> Response<ApiBody> {
    error(StatusCode::SERVICE_UNAVAILABLE, e)
}

/// A request's body, at most `MAX_BODY` bytes; the error is the response to send.
async fn body(req: Request<Incoming>) -> Result<Bytes, Response<ApiBody>> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("cannot read the body: {e}"),
        )),
    }
}

/// What the leave endpoint tells the agent's main loop.
pub type LeaveNotify = mpsc::Sender<()>;

/// Serves the control API on `listener` until the process ends.
///
/// After a successful `POST /v1/leave` a message goes to `on_leave`, so the
/// agent can exit.
pub async fn serve(listener: TcpListener, handle: Handle, on_leave: LeaveNotify) {
    loop {
        let (sock, _) = match listener.accept().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "control API accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let (handle, on_leave) = (handle.clone(), on_leave.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let (handle, on_leave) = (handle.clone(), on_leave.clone());
                async move { Ok::<_, Infallible>(route(req, handle, on_leave).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(sock), svc)
                .await
            {
                tracing::debug!(error = %e, "control API connection ended");
            }
        });
    }
}

async fn route(req: Request<Incoming>, handle: Handle, on_leave: LeaveNotify) -> Response<ApiBody> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/v1/agent") => reply(
            StatusCode::OK,
            &json!({ "name": handle.name(), "bind": handle.local_addr().to_string(),
                     "advertise": handle.advertise_addr().to_string() }),
        ),
        (Method::GET, "/v1/members") => {
            let filter = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("status="))
                .map(str::to_string);
            if let Some(f) = &filter {
                if !["alive", "suspect", "dead", "left"].contains(&f.as_str()) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("unknown status `{f}` (alive, suspect, dead or left)"),
                    );
                }
            }
            match handle.members().await {
                Ok(ms) => {
                    let ms: Vec<_> = ms
                        .into_iter()
                        .filter(|m| filter.as_deref().is_none_or(|f| m.status.as_str() == f))
                        .collect();
                    reply(StatusCode::OK, &json!(ms))
                }
                Err(e) => stopped(e),
            }
        }
        (Method::GET, "/v1/kv") => {
            let q = query_pairs(&query);
            let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
            let member = get("member").unwrap_or(handle.name()).to_string();
            let prefix = get("prefix").unwrap_or("");
            match handle.keys(&member, prefix).await {
                Ok(keys) => {
                    let keys: Vec<Value> =
                        keys.iter().map(|(k, v, n)| key_json(k, v, *n)).collect();
                    reply(StatusCode::OK, &json!({ "member": member, "keys": keys }))
                }
                Err(e) => stopped(e),
            }
        }
        (Method::POST, "/v1/kv") => {
            let body = match body(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let parsed = serde_json::from_slice::<Value>(&body).ok();
            let field = |k: &str| {
                parsed
                    .as_ref()
                    .and_then(|v| v.get(k))
                    .and_then(Value::as_str)
            };
            let (Some(key), Some(value)) = (field("key"), field("value")) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "expected {\"key\": \"...\", \"value\": \"...\"}",
                );
            };
            match handle
                .set(key, Bytes::copy_from_slice(value.as_bytes()))
                .await
            {
                Ok(version) => reply(StatusCode::OK, &json!({ "key": key, "version": version })),
                Err(HandleError::Stopped) => stopped(HandleError::Stopped),
                Err(e) => error(StatusCode::BAD_REQUEST, e),
            }
        }
        (Method::DELETE, "/v1/kv") => {
            let q = query_pairs(&query);
            let Some((_, key)) = q.iter().find(|(k, _)| k == "key") else {
                return error(StatusCode::BAD_REQUEST, "expected ?key=KEY");
            };
            match handle.delete(key).await {
                Ok(deleted) => reply(StatusCode::OK, &json!({ "key": key, "deleted": deleted })),
                Err(HandleError::Stopped) => stopped(HandleError::Stopped),
                Err(e) => error(StatusCode::BAD_REQUEST, e),
            }
        }
        (Method::GET, "/v1/keys") => keys_reply(handle.key_op(swim_core::KeyOp::List).await),
        (Method::POST, "/v1/keys") => {
            let body = match body(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let usage =
                "expected {\"op\": \"install\" | \"use\" | \"remove\", \"key\": \"BASE64\"}";
            let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                return error(StatusCode::BAD_REQUEST, usage);
            };
            let (Some(op), Some(key)) = (v["op"].as_str(), v["key"].as_str()) else {
                return error(StatusCode::BAD_REQUEST, usage);
            };
            let key = match crate::keyring::parse_key(key) {
                Ok(k) => k,
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("key: {e}")),
            };
            let id = key.id();
            keys_reply(match op {
                "install" => handle.key_op(swim_core::KeyOp::Install(key)).await,
                "use" => handle.use_key(id).await,
                "remove" => handle.key_op(swim_core::KeyOp::Remove(id)).await,
                other => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("unknown op `{other}`; {usage}"),
                    )
                }
            })
        }
        (Method::GET, "/v1/metrics") => match handle.metrics().await {
            Ok(m) => reply(StatusCode::OK, &metrics_json(&m)),
            Err(e) => stopped(e),
        },
        (Method::POST, "/v1/join") => {
            let body = match body(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let seeds: Vec<String> = match serde_json::from_slice::<Value>(&body) {
                Ok(v) => match v.get("seeds").and_then(Value::as_array) {
                    Some(a) => a
                        .iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect(),
                    None => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "expected {\"seeds\": [\"HOST:PORT\", ...]}",
                        )
                    }
                },
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")),
            };
            if seeds.is_empty() {
                return error(StatusCode::BAD_REQUEST, "no seeds given");
            }
            match handle.join(&seeds).await {
                Ok(addrs) => {
                    let addrs: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
                    reply(StatusCode::OK, &json!({ "joining": addrs }))
                }
                Err(HandleError::Stopped) => stopped(HandleError::Stopped),
                Err(e) => error(StatusCode::BAD_REQUEST, e),
            }
        }
        (Method::POST, "/v1/leave") => match handle.leave().await {
            Ok(outcome) => {
                let _ = on_leave.try_send(());
                reply(
                    StatusCode::OK,
                    &json!({ "left": true, "completed": outcome.completed }),
                )
            }
            Err(e) => stopped(e),
        },
        (Method::GET, "/v1/monitor") => {
            let mut events = handle.subscribe();
            let (tx, rx) = mpsc::channel(256);
            tokio::spawn(async move {
                loop {
                    let line = match events.recv().await {
                        Ok(e) => event_json(&e),
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            json!({ "event": "lagged", "missed": n })
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    };
                    let mut text = line.to_string();
                    text.push('\n');
                    if tx.send(Bytes::from(text)).await.is_err() {
                        return;
                    }
                }
            });
            let mut r = Response::new(ApiBody::Lines(rx));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            );
            r
        }
        (
            _,
            "/v1/agent" | "/v1/members" | "/v1/metrics" | "/v1/join" | "/v1/leave" | "/v1/monitor"
            | "/v1/keys" | "/v1/kv",
        ) => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        _ => error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}")),
    }
}
