//! Client commands: small HTTP/1.1 requests to the agent's control API.

use crate::{runtime, Fail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;
use std::io::Write;
use std::time::Duration;
use swim_tokio::control::Token;
use tokio::time::timeout;

/// Longest a request waits for the agent (a leave may take a while).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The agent a command talks to.
pub struct Control {
    /// Its control API address, `HOST:PORT`.
    pub addr: String,
    /// The token to send, if any.
    pub token: Option<Token>,
}

fn unreachable(control: &str, e: &std::io::Error) -> Fail {
    format!(
        "cannot reach the swim agent at {control} ({e}); start one with `swim agent --name NAME`, \
         or point --control / SWIM_CONTROL at a running agent"
    )
}

/// The innermost cause of an error (the OS's "Connection refused" rather
/// than the client's "client error (Connect)").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut e = e;
    while let Some(inner) = e.source() {
        e = inner;
    }
    e.to_string()
}

/// Sends one request through hyper-util's client and returns the response
/// head and streaming body.
///
/// Every request says `Content-Type: application/json` (the agent refuses
/// writes without it), a `POST` without a body sends `{}`, `Host` is the
/// control address as given, and the token goes in `Authorization` when
/// there is one.
async fn send(
    agent: &Control,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Response<Incoming>, Fail> {
    use hyper_util::client::legacy::{connect::HttpConnector, Client};
    let control = agent.addr.as_str();
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    connector.set_nodelay(true);
    let client: Client<_, Full<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
    let body = match body {
        Some(v) => Bytes::from(v.to_string()),
        None if method == Method::POST => Bytes::from_static(b"{}"),
        None => Bytes::new(),
    };
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{control}{path}"))
        .header(hyper::header::CONTENT_TYPE, "application/json");
    if let Some(token) = &agent.token {
        req = req.header(hyper::header::AUTHORIZATION, token.authorization());
    }
    let req = req.body(Full::new(body)).map_err(|e| {
        format!(
            "invalid control address `{control}` ({e}): expected HOST:PORT, e.g. 127.0.0.1:7373"
        )
    })?;
    client.request(req).await.map_err(|e| {
        if e.is_connect() {
            unreachable(control, &std::io::Error::other(root_cause(&e)))
        } else {
            format!(
                "control API request to {control} failed: {}",
                root_cause(&e)
            )
        }
    })
}

/// The JSON body of a response; the error says what the agent refused, if
/// the status is not 200.
async fn answer(control: &str, resp: Response<Incoming>) -> Result<Value, Fail> {
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the agent's answer failed: {e}"))?
        .to_bytes();
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("the agent at {control} sent invalid JSON ({status}): {e}"))?;
    if status != StatusCode::OK {
        let msg = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        return Err(format!("the agent refused ({status}): {msg}"));
    }
    Ok(v)
}

/// Sends one request and returns the JSON body of a successful response.
async fn call(
    agent: &Control,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, Fail> {
    call_within(agent, method, path, body, REQUEST_TIMEOUT).await
}

/// [`call`], waiting at most `limit` for the answer.
async fn call_within(
    agent: &Control,
    method: Method,
    path: &str,
    body: Option<Value>,
    limit: Duration,
) -> Result<Value, Fail> {
    let control = agent.addr.as_str();
    let work = async { answer(control, send(agent, method, path, body).await?).await };
    timeout(limit, work)
        .await
        .map_err(|_| format!("the agent at {control} did not answer in time"))?
}

fn block<T>(f: impl std::future::Future<Output = Result<T, Fail>>) -> Result<T, Fail> {
    runtime()?.block_on(f)
}

/// `swim kv ...`.
/// `swim keys`: a cluster key operation, its report printed; an error
/// unless every live member answered and none refused.
pub fn keys(control: &Control, op: crate::KeysOp) -> Result<(), Fail> {
    use crate::KeysOp;
    let read = |input: crate::KeyInput| -> Result<String, Fail> {
        let text = match &input.key_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?,
            None => {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .map_err(|e| format!("cannot read the key from standard input: {e}"))?;
                s
            }
        };
        let from = input
            .key_file
            .clone()
            .unwrap_or_else(|| "standard input".into());
        let keys = swim_tokio::keyring::parse(&text, &from).map_err(|e| e.to_string())?;
        match keys.as_slice() {
            [key] => Ok(swim_tokio::keyring::format_key(key)),
            _ => Err(format!(
                "{}: holds {} keys; give exactly one",
                from.display(),
                keys.len()
            )),
        }
    };
    // Every operation asks every member: a POST (a GET starts nothing
    // cluster-wide).
    let (body, json) = match op {
        KeysOp::List { format } => (serde_json::json!({ "op": "list" }), format.json()),
        KeysOp::Install(k) => (
            serde_json::json!({ "op": "install", "key": read(k)? }),
            false,
        ),
        KeysOp::Use(k) => (serde_json::json!({ "op": "use", "key": read(k)? }), false),
        KeysOp::Remove(k) => (
            serde_json::json!({ "op": "remove", "key": read(k)? }),
            false,
        ),
        KeysOp::Sealing { step } => (
            serde_json::json!({ "op": "sealing", "step": step.as_str() }),
            false,
        ),
    };
    let v = block(call(control, Method::POST, "/v1/keys", Some(body)))?;
    if json {
        println!("{v}");
    } else {
        let (live, answered) = (&v["live"], &v["answered"]);
        println!("{answered} of {live} live members answered");
        if let Some(holders) = v["holders"].as_object() {
            for (key, n) in holders {
                let primary = v["primaries"][key].as_u64().unwrap_or(0);
                println!("key {}: held by {n}, primary on {primary}", esc(key));
            }
        }
        if let Some(steps) = v["sealing"].as_object().filter(|s| !s.is_empty()) {
            let shown: Vec<String> = (steps.iter())
                .map(|(s, n)| format!("{} on {n}", esc(s)))
                .collect();
            println!("sealing step: {}", shown.join(", "));
        }
        if let Some(answers) = v["answers"].as_object() {
            let at = |step: &str| -> Vec<String> {
                (answers.iter())
                    .filter(|(_, a)| a["sealing"].as_str() == Some(step))
                    .map(|(m, _)| esc(m))
                    .collect()
            };
            // The members an operator moves next, by name.
            for step in ["accept", "send"] {
                let names = at(step);
                if !names.is_empty() && names.len() < answers.len() {
                    println!("at {step}: {}", names.join(", "));
                }
            }
        }
        if let Some(answers) = v["answers"].as_object() {
            for (member, a) in answers {
                if let Some(why) = a["refused"].as_str() {
                    println!("{} refused: {}", esc(member), esc(why));
                }
            }
        }
    }
    if v["complete"].as_bool() == Some(true) {
        Ok(())
    } else {
        Err("not every live member answered, or some refused (see above)".into())
    }
}

pub fn kv(control: &Control, op: crate::KvOp) -> Result<(), Fail> {
    use crate::KvOp;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let show = |k: &Value| {
        // Key and value escaped: a peer's newline or terminal escape
        // stays on its line, visible (`--json` has them as they are).
        let text = |f: &str| k.get(f).and_then(Value::as_str).map(esc);
        let key = text("key").unwrap_or_default();
        match (text("value"), text("value_base64")) {
            (Some(v), _) => format!("{key}={v}"),
            (None, Some(b)) => format!("{key}=base64:{b}"),
            _ => key,
        }
    };
    match op {
        KvOp::List {
            member,
            prefix,
            format,
        } => {
            let json = format.json();
            let mut path = format!("/v1/kv?prefix={}", enc(&prefix));
            if let Some(m) = member {
                path.push_str(&format!("&member={}", enc(&m)));
            }
            let v = block(call(control, Method::GET, &path, None))?;
            if json {
                println!("{v}");
            } else {
                for k in v["keys"].as_array().into_iter().flatten() {
                    println!("{}", show(k));
                }
            }
            Ok(())
        }
        KvOp::Get {
            member,
            key,
            format,
        } => {
            let path = format!("/v1/kv?member={}&prefix={}", enc(&member), enc(&key));
            let v = block(call(control, Method::GET, &path, None))?;
            let found = v["keys"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|k| k["key"].as_str() == Some(key.as_str()));
            match found {
                Some(k) if format.json() => {
                    // The API's answer, narrowed to the one key.
                    let one = serde_json::json!({ "member": v["member"], "keys": [k] });
                    println!("{one}");
                    Ok(())
                }
                Some(k) => {
                    println!("{}", show(k).split_once('=').map_or("", |(_, v)| v));
                    Ok(())
                }
                None => Err(format!(
                    "{member} has no key `{key}` (as this agent sees it)"
                )),
            }
        }
        KvOp::Set { key, value } => {
            let body = serde_json::json!({ "key": key, "value": value });
            let v = block(call(control, Method::POST, "/v1/kv", Some(body)))?;
            println!("{key} set (version {})", v["version"]);
            Ok(())
        }
        KvOp::Delete { key } => {
            let path = format!("/v1/kv?key={}", enc(&key));
            let v = block(call(control, Method::DELETE, &path, None))?;
            if v["deleted"].as_bool() == Some(true) {
                println!("{key} deleted");
                Ok(())
            } else {
                Err(format!("this agent has no key `{key}`"))
            }
        }
    }
}

/// `swim members`.
pub fn members(
    control: &Control,
    status: Option<&str>,
    tags: &[(String, String)],
    json: bool,
) -> Result<(), Fail> {
    let filters = tags
        .iter()
        .map(|(k, re)| {
            // Anchored: `role=web` means exactly web, as Serf's filters do.
            regex::Regex::new(&format!("^(?:{re})$"))
                .map(|r| (k.clone(), r))
                .map_err(|e| format!("invalid --tag {k}={re}: {e}"))
        })
        .collect::<Result<Vec<_>, Fail>>()?;
    let path = match status {
        Some(s) => format!("/v1/members?status={s}"),
        None => "/v1/members".into(),
    };
    let v = block(call(control, Method::GET, &path, None))?;
    let rows: Vec<Value> = v
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| {
            filters.iter().all(|(k, re)| {
                m["tags"][k.as_str()]
                    .as_str()
                    .is_some_and(|v| re.is_match(v))
            })
        })
        .collect();
    if json {
        println!("{}", Value::Array(rows));
        return Ok(());
    }
    let tags_of = |m: &Value| {
        let pairs: Vec<String> = m["tags"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{}={}", esc(k), esc(v.as_str().unwrap_or_default())))
            .collect();
        tags_summary(&pairs)
    };
    let field = |m: &Value, k: &str| match m.get(k) {
        Some(Value::String(s)) => esc(s),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let wname = rows
        .iter()
        .map(|m| field(m, "name").len())
        .max()
        .unwrap_or(0)
        .max(4);
    let waddr = rows
        .iter()
        .map(|m| field(m, "addr").len())
        .max()
        .unwrap_or(0)
        .max(7);
    println!(
        "{:wname$}  {:waddr$}  {:7}  {:11}  TAGS",
        "NAME", "ADDRESS", "STATUS", "INCARNATION"
    );
    for m in &rows {
        println!(
            "{:wname$}  {:waddr$}  {:7}  {:11}  {}",
            field(m, "name"),
            field(m, "addr"),
            field(m, "status"),
            field(m, "incarnation"),
            tags_of(m)
        );
    }
    Ok(())
}

/// The most characters the members table's TAGS column takes.
const TAGS_WIDTH: usize = 80;

/// `k=v` pairs joined by commas, cut to at most [`TAGS_WIDTH`] characters:
/// the pairs that fit whole, then `… +N more` (all of them are in
/// `swim members --json`, and in `swim kv list MEMBER`).
fn tags_summary(pairs: &[String]) -> String {
    let all = pairs.join(",");
    if all.chars().count() <= TAGS_WIDTH {
        return all;
    }
    let mut shown = String::new();
    for (i, p) in pairs.iter().enumerate() {
        let more = format!("… +{} more", pairs.len() - i);
        let next = shown.chars().count() + usize::from(i > 0) + p.chars().count();
        // Room for this pair and, after it, the note about the rest.
        let rest = pairs.len() - i - 1;
        let note = if rest == 0 {
            0
        } else {
            format!(" … +{rest} more").chars().count()
        };
        if next + note > TAGS_WIDTH {
            return if shown.is_empty() {
                more
            } else {
                format!("{shown} {more}")
            };
        }
        if i > 0 {
            shown.push(',');
        }
        shown.push_str(p);
    }
    shown
}

/// `s` with its control and other hidden characters escaped
/// ([`swim_core::escape_hidden`]): how
/// every string a peer controls (key names and values, tags, event and query
/// names, refusals) is printed to a terminal, a table or a monitor line.
fn esc(s: &str) -> String {
    swim_tokio::swim_core::escape_hidden(s).into_owned()
}

/// `s` as one percent-encoded path segment (unreserved bytes as they are).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `swim explain NAME`.
pub fn explain(control: &Control, name: &str, json: bool) -> Result<(), Fail> {
    let path = format!("/v1/explain/{}", path_segment(name));
    let v = block(call(control, Method::GET, &path, None))?;
    if json {
        println!("{v}");
    } else {
        println!("{}", explain_text(&v));
    }
    Ok(())
}

/// A wall-clock time of day, UTC, to the tenth of a second: `12:00:03.1`.
fn clock(unix_ms: u64) -> String {
    let day_ms = unix_ms % 86_400_000;
    let (h, m) = (day_ms / 3_600_000, day_ms / 60_000 % 60);
    let (s, tenth) = (day_ms / 1000 % 60, day_ms / 100 % 10);
    format!("{h:02}:{m:02}:{s:02}.{tenth}")
}

/// Milliseconds as seconds to the tenth: `4.2 s`.
fn secs(ms: u64) -> String {
    format!("{}.{} s", ms / 1000, ms / 100 % 10)
}

/// The human form of `GET /v1/explain/NAME`'s answer, e.g. `node-3 dead
/// since 12:00:03.1 UTC (4.2 s ago): accused by node-7 (Lifeguard score 0)
/// after 5.0 s of suspicion, confirmed by node-1, node-9; learned from
/// node-2`.
pub fn explain_text(v: &Value) -> String {
    // Names are checked on the wire (no control characters), and escaped
    // here all the same: this output goes to a terminal.
    let clean = esc;
    let text = |v: &Value, k: &str| clean(v[k].as_str().unwrap_or("?"));
    let num = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(clean)
            .collect()
    };
    let member = &v["member"];
    let name = text(member, "name");
    let status = text(member, "status");
    let verdict = &v["verdict"];
    let chain = |verdict: &Value| {
        let mut out = format!("accused by {}", text(verdict, "accuser"));
        let e = &verdict["evidence"];
        if e.is_object() {
            let confirmers = names(&e["confirmers"]);
            out.push_str(&format!(
                " (Lifeguard score {}) after {} of suspicion, ",
                num(e, "accuser_score"),
                secs(num(e, "suspected_ms"))
            ));
            if confirmers.is_empty() {
                out.push_str("confirmed by nobody");
            } else {
                out.push_str(&format!("confirmed by {}", confirmers.join(", ")));
            }
        } else {
            out.push_str(" (no evidence came with the verdict: an older build, or a full state)");
        }
        match (verdict["own"].as_bool(), verdict["learned_from"].as_str()) {
            (Some(true), _) => out.push_str("; this agent's own verdict"),
            (_, Some(from)) => out.push_str(&format!("; learned from {}", clean(from))),
            _ => out.push_str("; learned from a sender this agent could not tell"),
        }
        out
    };
    let when = |v: &Value, at: &str, ago: &str| {
        format!("{} UTC ({} ago)", clock(num(v, at)), secs(num(v, ago)))
    };
    let since = when(v, "since_unix_ms", "since_ms_ago");
    if status == "dead" && verdict.is_object() {
        let at = when(verdict, "learned_at_unix_ms", "learned_ms_ago");
        return format!("{name} dead since {at}: {}", chain(verdict));
    }
    let mut out = format!(
        "{name} {status} (incarnation {}) since {since}",
        num(member, "incarnation")
    );
    let s = &v["suspicion"];
    if s.is_object() {
        out.push_str(&format!(
            ": accused by {}; dead in {} unless it refutes",
            names(&s["accusers"]).join(", "),
            secs(num(s, "dead_in_ms"))
        ));
    }
    if verdict.is_object() {
        let at = when(verdict, "learned_at_unix_ms", "learned_ms_ago");
        out.push_str(&format!(
            "\nlast declared dead at {at} (incarnation {}): {}",
            num(verdict, "incarnation"),
            chain(verdict)
        ));
    } else if !s.is_object() {
        out.push_str("; no dead verdict held");
    }
    out
}

/// `swim join`: waits until a seed answered (or the agent says none did).
pub fn join(control: &Control, seeds: &[String], wait: Duration) -> Result<(), Fail> {
    let wait_text = format!("{}ms", wait.as_millis());
    let v = block(call_within(
        control,
        Method::POST,
        "/v1/join",
        Some(serde_json::json!({ "seeds": seeds, "wait": wait_text })),
        wait + Duration::from_secs(10),
    ))?;
    let seed = v.get("seed").and_then(Value::as_str).unwrap_or("a seed");
    println!("joined the cluster through {seed}");
    Ok(())
}

/// `swim leave`.
pub fn leave(control: &Control) -> Result<(), Fail> {
    let v = block(call(control, Method::POST, "/v1/leave", None))?;
    if v.get("completed").and_then(Value::as_bool) == Some(true) {
        println!("left the cluster; the agent is shutting down");
    } else {
        println!("leave timed out before it spread fully; the agent is shutting down");
    }
    Ok(())
}

/// `swim event NAME [PAYLOAD]`: fires a user event through the agent.
pub fn event(
    control: &Control,
    name: &str,
    payload: Option<&str>,
    coalesce: bool,
) -> Result<(), Fail> {
    let body = serde_json::json!({
        "name": name,
        "payload": payload.unwrap_or(""),
        "coalesce": coalesce,
    });
    block(call(control, Method::POST, "/v1/event", Some(body)))?;
    println!("event `{name}` fired");
    Ok(())
}

/// What `swim query` asks.
pub struct QueryArgs {
    /// The query's name.
    pub name: String,
    /// Its payload (UTF-8 text).
    pub payload: String,
    /// Only these members.
    pub nodes: Vec<String>,
    /// Only members whose key matches, KEY and REGEX.
    pub tags: Vec<(String, String)>,
    /// How long to wait, as given.
    pub timeout: Option<String>,
    /// Random members each answer also goes through.
    pub relay_factor: Option<u8>,
    /// Ask for acks.
    pub ack: bool,
}

/// Longest a query's answer stream may take: the longest query, and a margin.
const QUERY_WAIT: Duration = Duration::from_secs(300 + 30);

/// A payload shown on one line: quoted and escaped (or its base64).
fn payload_shown(v: &Value) -> String {
    match (v.get("payload"), v.get("payload_base64")) {
        (Some(p), _) => p.to_string(),
        (None, Some(b)) => format!("base64:{}", b.as_str().unwrap_or("")),
        _ => "\"\"".to_string(),
    }
}

/// One line of `swim query`'s stream, for people.
fn query_line(v: &Value) -> String {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    match s("type").as_str() {
        "ack" => format!("ack       {}", s("member")),
        "response" => format!("response  {:20} {}", s("member"), payload_shown(v)),
        "summary" => {
            let missing: Vec<&str> = (v.get("missing").and_then(Value::as_array))
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let missing = if missing.is_empty() {
                "none".to_string()
            } else {
                missing.join(", ")
            };
            let mut text = format!(
                "asked {}, acked {}, responded {}; missing: {missing}",
                n("asked"),
                n("acks"),
                n("responses")
            );
            if n("dropped") > 0 {
                text.push_str(&format!(
                    " ({} updates not shown: the client fell behind)",
                    n("dropped")
                ));
            }
            text
        }
        _ => v.to_string(),
    }
}

/// `swim query NAME [PAYLOAD]`: prints acks and responses as they arrive,
/// then the summary.
pub fn query(agent: &Control, q: &QueryArgs, json: bool) -> Result<(), Fail> {
    let control = agent.addr.as_str();
    let tags: serde_json::Map<String, Value> = (q.tags.iter())
        .map(|(k, r)| (k.clone(), Value::from(r.as_str())))
        .collect();
    let mut body = serde_json::json!({
        "name": q.name,
        "payload": q.payload,
        "nodes": q.nodes,
        "tags": tags,
        "ack": q.ack,
    });
    if let Some(t) = &q.timeout {
        body["timeout"] = Value::from(t.as_str());
    }
    if let Some(k) = q.relay_factor {
        body["relay_factor"] = Value::from(k);
    }
    block(async {
        let work = async {
            let resp = send(agent, Method::POST, "/v1/query", Some(body)).await?;
            if resp.status() != StatusCode::OK {
                return Err(answer(control, resp)
                    .await
                    .err()
                    .unwrap_or_else(|| "the agent refused".into()));
            }
            let mut body = resp.into_body();
            let mut pending = Vec::new();
            let mut out = std::io::stdout();
            let mut done = false;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| format!("reading the agent's answer failed: {e}"))?;
                let Some(data) = frame.data_ref() else {
                    continue;
                };
                pending.extend_from_slice(data);
                while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=pos).collect();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]).to_string();
                    let v = serde_json::from_str::<Value>(&text).ok();
                    done |= v
                        .as_ref()
                        .and_then(|v| v.get("type"))
                        .and_then(Value::as_str)
                        == Some("summary");
                    let shown = match (&v, json) {
                        (Some(v), false) => query_line(v),
                        _ => text,
                    };
                    if writeln!(out, "{shown}").and_then(|()| out.flush()).is_err() {
                        return Ok(());
                    }
                }
            }
            if done {
                Ok(())
            } else {
                Err(format!(
                    "the agent at {control} ended the query's stream before its summary (it stopped or left)"
                ))
            }
        };
        timeout(QUERY_WAIT, work)
            .await
            .map_err(|_| format!("the agent at {control} did not finish the query in time"))?
    })
}

/// `swim reachability`: who did not ack, and who is held suspect or dead.
pub fn reachability(agent: &Control, wait: Option<&str>, json: bool) -> Result<(), Fail> {
    let body = match wait {
        Some(t) => serde_json::json!({ "timeout": t }),
        None => serde_json::json!({}),
    };
    let v = block(call_within(
        agent,
        Method::POST,
        "/v1/reachability",
        Some(body),
        QUERY_WAIT,
    ))?;
    let names = |k: &str| -> Vec<String> {
        (v.get(k).and_then(Value::as_array))
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect()
    };
    let not_acked = names("not_acked");
    if json {
        println!("{v}");
    } else {
        let list = |l: Vec<String>| {
            if l.is_empty() {
                "none".to_string()
            } else {
                l.join(", ")
            }
        };
        let asked = (v
            .get("summary")
            .and_then(|s| s.get("asked"))
            .and_then(Value::as_u64))
        .unwrap_or(0);
        println!("acked: {} of {asked} members asked", names("acked").len());
        println!("not acking: {}", list(not_acked.clone()));
        println!("suspect: {}", list(names("suspect")));
        println!("dead: {}", list(names("dead")));
    }
    if not_acked.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} member(s) did not ack: {}",
            not_acked.len(),
            not_acked.join(", ")
        ))
    }
}

/// `swim force-leave NAME`.
pub fn force_leave(control: &Control, name: &str) -> Result<(), Fail> {
    let body = serde_json::json!({ "name": name });
    block(call(control, Method::POST, "/v1/force-leave", Some(body)))?;
    println!("{name} is left; it will be reaped on schedule");
    Ok(())
}

/// `swim info`.
pub fn info(control: &Control, json: bool) -> Result<(), Fail> {
    let v = block(call(control, Method::GET, "/v1/info", None))?;
    if json {
        println!("{v}");
        return Ok(());
    }
    let m = &v["members"];
    println!(
        "agent:    {} (swim {})",
        v["name"].as_str().unwrap_or(""),
        v["version"].as_str().unwrap_or("")
    );
    println!("address:  {}", v["advertise"].as_str().unwrap_or(""));
    println!("uptime:   {} s", v["uptime_seconds"]);
    println!(
        "members:  {} alive, {} suspect, {} dead, {} left",
        m["alive"], m["suspect"], m["dead"], m["left"]
    );
    println!("health:   {} (0 is healthy)", v["health_score"]);
    let keys: Vec<&str> = v["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match (v["sealing"].as_str().unwrap_or("off"), keys.split_first()) {
        (step, Some((primary, rest))) => {
            println!("sealing:  {step}");
            println!("keys:     {primary} (primary)");
            for k in rest {
                println!("          {k}");
            }
        }
        _ => println!("sealing:  off (no keys: traffic is plain)"),
    }
    for (k, n) in v["counters"].as_object().into_iter().flatten() {
        println!("{:9} {n}", format!("{k}:"));
    }
    Ok(())
}

/// `swim metrics`: the API's JSON, or one `name value` line per counter
/// (nested names joined with `.`).
pub fn metrics(control: &Control, json: bool) -> Result<(), Fail> {
    let v = block(call(control, Method::GET, "/v1/metrics", None))?;
    if json {
        println!("{v}");
        return Ok(());
    }
    let mut rows = Vec::new();
    flatten("", &v, &mut rows);
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("{k:width$}  {v}");
    }
    Ok(())
}

/// `v`'s leaves as `(a.b.c, value)`, in the JSON's order.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&join(k), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&join(&i.to_string()), v, out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// One event as a human line, led by its wall-clock time (RFC 3339, UTC):
/// the agent's `time`, or this process's clock for an agent without it.
fn event_line(v: &Value) -> String {
    let time = v
        .get("time")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| swim_tokio::control::rfc3339(std::time::SystemTime::now()));
    format!("{time} {}", event_text(v))
}

/// One event as a human line, without its time.
fn event_text(v: &Value) -> String {
    // Every string is escaped (a peer chose most of them: key names and
    // values, event names, member names): a newline in one would forge a
    // line of its own, an escape would reach the terminal.
    let s = |v: &Value, k: &str| esc(v.get(k).and_then(Value::as_str).unwrap_or(""));
    let event = s(v, "event");
    if event == "user" {
        // The payload quoted and escaped: a newline in it stays on the line.
        let payload = match (v.get("payload"), v.get("payload_base64")) {
            // JSON leaves some hidden characters (DEL, C1 controls,
            // zero-width and bidirectional marks) as they are.
            (Some(p), _) => format!("payload={}", esc(&p.to_string())),
            (None, Some(b)) => format!("payload_base64={}", b.as_str().unwrap_or("")),
            _ => String::new(),
        };
        return format!(
            "{event:16} {} origin={} clock={} coalesce={} {payload}",
            s(v, "name"),
            s(v, "origin"),
            v.get("clock").and_then(Value::as_u64).unwrap_or(0),
            v.get("coalesce").and_then(Value::as_bool).unwrap_or(true),
        )
        .trim_end()
        .to_string();
    }
    match v.get("member").filter(|m| m.is_object()) {
        Some(m) => {
            let mut line = format!(
                "{event:16} {} {} {} incarnation={}",
                s(m, "name"),
                s(m, "addr"),
                s(m, "status"),
                m.get("incarnation").and_then(Value::as_u64).unwrap_or(0)
            );
            // Who accused it, and for a death who confirmed it and from
            // whom this agent learned it: what the JSON line has.
            if let Some(a) = v.get("accuser").and_then(Value::as_str) {
                line.push_str(&format!(" accuser={}", esc(a)));
            }
            let confirmers: Vec<String> = v["evidence"]["confirmers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(esc)
                .collect();
            if !confirmers.is_empty() {
                line.push_str(&format!(" confirmers={}", confirmers.join(",")));
            }
            if let Some(f) = v.get("learned_from").and_then(Value::as_str) {
                line.push_str(&format!(" learned_from={}", esc(f)));
            } else if v.get("own").and_then(Value::as_bool) == Some(true) {
                line.push_str(" own_verdict=true");
            }
            line
        }
        None => {
            let rest: Vec<String> = v
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| *k != "event" && *k != "time")
                .map(|(k, v)| {
                    // A query's payload or response, quoted and escaped:
                    // a newline in it stays on the line.
                    let quoted = k.as_str() == "payload";
                    // Any other string escaped; other values (numbers,
                    // lists, objects) as JSON, which escapes their strings.
                    format!(
                        "{}={}",
                        esc(k),
                        v.as_str()
                            .filter(|_| !quoted)
                            .map(esc)
                            .unwrap_or_else(|| esc(&v.to_string()))
                    )
                })
                .collect();
            format!("{event:16} {}", rest.join(" "))
                .trim_end()
                .to_string()
        }
    }
}

/// `swim monitor`: prints events until the agent goes away.
pub fn monitor(agent: &Control, json: bool) -> Result<(), Fail> {
    let control = agent.addr.as_str();
    block(async {
        let resp = send(agent, Method::GET, "/v1/monitor", None).await?;
        if resp.status() != StatusCode::OK {
            let why = timeout(Duration::from_secs(10), answer(control, resp))
                .await
                .map_err(|_| format!("the agent at {control} did not answer in time"))?;
            return Err(why.err().unwrap_or_else(|| "the agent refused".into()));
        }
        // The agent subscribes before it answers: from here on no event is missed.
        eprintln!("swim: monitoring the agent at {control}");
        let mut body = resp.into_body();
        let mut pending = Vec::new();
        let mut out = std::io::stdout();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            let Some(data) = frame.data_ref() else {
                continue;
            };
            pending.extend_from_slice(data);
            while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line[..line.len() - 1]).to_string();
                let shown = if json {
                    text
                } else {
                    serde_json::from_str::<Value>(&text)
                        .map(|v| event_line(&v))
                        .unwrap_or(text)
                };
                if writeln!(out, "{shown}").and_then(|()| out.flush()).is_err() {
                    return Ok(());
                }
            }
        }
        eprintln!("swim: the agent at {control} closed the monitor stream (it stopped or left)");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tags_are_summed_up_within_the_column() {
        let few: Vec<String> = ["role=web", "dc=eu"].map(String::from).to_vec();
        assert_eq!(tags_summary(&few), "role=web,dc=eu");
        assert_eq!(tags_summary(&[]), "");
        let many: Vec<String> = (0..250)
            .map(|i| format!("app-key-{i:03}=value-{i}"))
            .collect();
        let s = tags_summary(&many);
        assert!(
            s.chars().count() <= TAGS_WIDTH,
            "{} chars: {s}",
            s.chars().count()
        );
        assert!(
            s.starts_with("app-key-000=value-0,app-key-001=value-1"),
            "{s}"
        );
        let shown = s.split(' ').next().unwrap().split(',').count();
        assert!(s.ends_with(&format!("… +{} more", 250 - shown)), "{s}");
        // One pair too long for the column: only the count.
        let long = vec!["k=".to_string() + &"v".repeat(200)];
        assert_eq!(tags_summary(&long), "… +1 more");
    }

    #[test]
    fn query_lines_quote_payloads() {
        let v = json!({"event": "query-response", "id": 7, "member": "m", "payload": "a\nb"});
        assert_eq!(
            event_text(&v),
            "query-response   id=7 member=m payload=\"a\\nb\""
        );
        let v = json!({"type": "response", "member": "m", "payload": "a\nb"});
        assert_eq!(query_line(&v), "response  m                    \"a\\nb\"");
        let v = json!({"type": "summary", "asked": 3, "acks": 2, "responses": 1,
                       "missing": ["x", "y"], "dropped": 0});
        assert_eq!(
            query_line(&v),
            "asked 3, acked 2, responded 1; missing: x, y"
        );
    }

    #[test]
    fn monitor_lines_show_user_events() {
        let v = json!({"event": "user", "name": "deploy", "origin": "a", "clock": 3,
                       "coalesce": true, "payload": "v42\nrm", "time": "2026-12-07T04:05:06.789Z"});
        assert_eq!(
            event_line(&v),
            "2026-12-07T04:05:06.789Z user             deploy origin=a clock=3 coalesce=true \
             payload=\"v42\\nrm\""
        );
    }

    /// Every line starts with an RFC 3339 time, the agent's or, from an
    /// agent that sends none, this process's; accusers are shown.
    #[test]
    fn monitor_lines_are_timed_and_name_the_accuser() {
        let v = json!({"event": "member-suspect", "accuser": "node-7", "time": "2026-12-07T04:05:06.789Z",
                       "member": {"name": "node-3", "addr": "127.0.0.1:1", "status": "suspect", "incarnation": 2}});
        assert_eq!(
            event_line(&v),
            "2026-12-07T04:05:06.789Z member-suspect   node-3 127.0.0.1:1 suspect incarnation=2 accuser=node-7"
        );
        let v = json!({"event": "member-failed", "accuser": "node-7", "learned_from": "node-2",
                       "evidence": {"confirmers": ["node-1", "node-9"]}, "own": false,
                       "member": {"name": "node-3", "addr": "127.0.0.1:1", "status": "dead", "incarnation": 2}});
        let line = event_line(&v);
        let (time, rest) = line.split_once(' ').unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{line}");
        assert_eq!(
            rest,
            "member-failed    node-3 127.0.0.1:1 dead incarnation=2 accuser=node-7 \
             confirmers=node-1,node-9 learned_from=node-2"
        );
        let v = json!({"event": "leave-completed", "time": "2026-12-07T04:05:06.789Z"});
        assert_eq!(event_line(&v), "2026-12-07T04:05:06.789Z leave-completed");
    }

    #[test]
    fn explain_prints_the_chain_of_a_verdict() {
        let at = 1_765_022_403_100u64; // 12:00:03.1 UTC
        let v = json!({
            "member": {"name": "node-3", "addr": "127.0.0.1:1", "status": "dead", "incarnation": 2},
            "since_unix_ms": at, "since_ms_ago": 4200, "suspicion": null,
            "verdict": {
                "incarnation": 2, "accuser": "node-7",
                "evidence": {"confirmers": ["node-1", "node-9"], "accuser_score": 0, "suspected_ms": 5000},
                "learned_at_unix_ms": at, "learned_ms_ago": 4200, "learned_from": "node-2"
            }
        });
        assert_eq!(
            explain_text(&v),
            "node-3 dead since 12:00:03.1 UTC (4.2 s ago): accused by node-7 (Lifeguard score 0) \
             after 5.0 s of suspicion, confirmed by node-1, node-9; learned from node-2"
        );
        let mut own = v.clone();
        own["verdict"]["learned_from"] = Value::Null;
        own["verdict"]["own"] = json!(true);
        own["verdict"]["evidence"]["confirmers"] = json!([]);
        assert!(explain_text(&own).ends_with("confirmed by nobody; this agent's own verdict"));
        let mut untold = v.clone();
        untold["verdict"]["learned_from"] = Value::Null;
        untold["verdict"]["own"] = json!(false);
        assert!(explain_text(&untold).ends_with("learned from a sender this agent could not tell"));
        let mut back = v.clone();
        back["member"]["status"] = json!("alive");
        back["member"]["incarnation"] = json!(3);
        let text = explain_text(&back);
        assert!(
            text.starts_with("node-3 alive (incarnation 3) since 12:00:03.1 UTC"),
            "{text}"
        );
        assert!(text.contains("\nlast declared dead at 12:00:03.1 UTC (4.2 s ago) (incarnation 2): accused by node-7"), "{text}");
        let suspect = json!({
            "member": {"name": "node-3", "status": "suspect", "incarnation": 2},
            "since_unix_ms": at, "since_ms_ago": 1000,
            "suspicion": {"accusers": ["node-7", "node-1"], "since_unix_ms": at, "since_ms_ago": 1000, "dead_in_ms": 3000},
            "verdict": null
        });
        assert_eq!(
            explain_text(&suspect),
            "node-3 suspect (incarnation 2) since 12:00:03.1 UTC (1.0 s ago): accused by node-7, \
             node-1; dead in 3.0 s unless it refutes"
        );
        assert_eq!(path_segment("a b/ü"), "a%20b%2F%C3%BC");
    }
}
