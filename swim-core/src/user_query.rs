//! User queries (Serf's `serf query`): ask every member, or those whose
//! name or keys match a filter, and collect their answers.
//!
//! A user query rides the query path of `query.rs` (its own
//! instance: its own pass-on queue, table of queries seen and held
//! answers, so no user query can crowd out a key operation): spread by
//! gossip, stamped with the query clock, ignored when seen before or
//! stamped before what a joiner learned. Unlike a key operation it works
//! on plain clusters too (on a plain cluster anyone who can send to it can
//! ask, and every handler must treat a payload as untrusted).
//!
//! A member that hears a new one passes it on whatever its filters say,
//! then evaluates them: its name among `nodes` (if any are given), and for
//! each tag filter its own key's value matching the regular expression
//! (compiled with size and nesting limits; an invalid one matches
//! nothing). A member that matches sends an ack at once if the origin
//! asked for acks, and hands the query to the application
//! ([`Event::Query`](crate::Event::Query)), whose
//! [`Node::respond`](crate::Node::respond) sends the response. Answers go
//! to the origin's membership address only (held while the origin is not
//! yet a member at the address the query names, as key answers are), and
//! also through `relay_factor` random members, which forward them there:
//! one lost datagram does not lose an answer. The origin counts each
//! member once, acks and responses apart, and when the query's time is up
//! reports the counts and who of the members it expected never answered.
//!
//! Bounds: a query's name, payload and filters take at most
//! [`MAX_QUERY_SIZE`] bytes, a response at most [`MAX_RESPONSE_SIZE`],
//! refused at the call; at most [`MAX_ASKED`] queries wait for the
//! application's response (the oldest is dropped); a relay forwards at
//! most [`MAX_RELAYED`] answers of one datagram.

use crate::name::Name;
use crate::wire::DropReason;
use bytes::Bytes;
use core::time::Duration;
use prost::Message as _;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use swim_proto as pb;

/// The most bytes a user query's name, payload and filters take (Serf's
/// `QuerySizeLimit`).
pub const MAX_QUERY_SIZE: usize = 1024;

/// The most bytes a response's payload takes (Serf's `QueryResponseSizeLimit`).
pub const MAX_RESPONSE_SIZE: usize = 1024;

/// The most random members an answer is also sent through.
pub const MAX_RELAY_FACTOR: u8 = 5;

/// Queries a member remembers as asked of it, waiting for the
/// application's response.
pub const MAX_ASKED: usize = 64;

/// Answers of one datagram a relay forwards.
pub const MAX_RELAYED: usize = 4;

/// Tag filters a query may carry.
pub const MAX_TAG_FILTERS: usize = 8;

/// Member names a query's filter may list.
pub const MAX_NODE_FILTERS: usize = 64;

/// The longest regular expression a tag filter may hold.
pub const MAX_REGEX_LEN: usize = 256;

/// Which members a user query asks (all of them when empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryFilter {
    /// Only these members (none: any name).
    pub nodes: Vec<String>,
    /// Only members whose key (the first) holds a value matching the
    /// regular expression (the second), every one of them.
    pub tags: Vec<(String, String)>,
}

/// How a user query is run ([`Node::query`](crate::Node::query)).
/// The default asks every member, waits Serf's default timeout, asks for
/// no acks, and relays each answer through [`DEFAULT_RELAY_FACTOR`] members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryOptions {
    /// Which members answer.
    pub filter: QueryFilter,
    /// How long the origin waits (`None`: Serf's default, the gossip
    /// interval times 16 times ceil(log10(n + 1))).
    pub timeout: Option<Duration>,
    /// Members that match send an ack at once, beside their response.
    pub want_ack: bool,
    /// Each answer is also sent through this many random members (at most
    /// [`MAX_RELAY_FACTOR`]).
    pub relay_factor: u8,
}

/// Random members each answer is also sent through unless a query says
/// otherwise. Measured on 1,000 simulated nodes (`swim-sim run
/// swim-sim/scenarios/bench/query-1000-loss1.toml`): at 1 % loss, no relay
/// collects 98.7-99.3 % of the responses, one 99.9-100 %, two 100 %; at 5 %
/// loss 94.3-95.5 %, 99.3-99.5 % and 100 %. Serf's default is 0.
pub const DEFAULT_RELAY_FACTOR: u8 = 2;

impl Default for QueryOptions {
    fn default() -> QueryOptions {
        QueryOptions {
            filter: QueryFilter::default(),
            timeout: None,
            want_ack: false,
            relay_factor: DEFAULT_RELAY_FACTOR,
        }
    }
}

/// A user query as the wire carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UserQuery {
    pub name: String,
    pub payload: Bytes,
    pub filter: QueryFilter,
    pub want_ack: bool,
    pub relay_factor: u8,
}

/// Whether `name` may name a user query.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && !name.chars().any(crate::wire::hidden)
}

/// Compiles a tag filter's expression with bounds on its size and nesting
/// (a regular expression from the network costs at most this).
pub(crate) fn compile(regex: &str) -> Result<regex_lite::Regex, String> {
    if regex.len() > MAX_REGEX_LEN {
        return Err(format!(
            "{} bytes (allowed: at most {MAX_REGEX_LEN})",
            regex.len()
        ));
    }
    regex_lite::RegexBuilder::new(regex)
        .size_limit(1 << 16)
        .nest_limit(16)
        .build()
        .map_err(|e| e.to_string())
}

impl UserQuery {
    /// Its bytes as the size limit counts them.
    pub fn size(&self) -> usize {
        self.name.len()
            + self.payload.len()
            + self.filter.nodes.iter().map(String::len).sum::<usize>()
            + (self.filter.tags.iter())
                .map(|(k, r)| k.len() + r.len())
                .sum::<usize>()
    }

    /// Checks what the wire and the call both refuse; the reason.
    pub fn check(&self) -> Result<(), String> {
        if !valid_name(&self.name) {
            return Err(format!(
                "invalid query name {:?}: allowed 1 to 128 bytes of UTF-8 without control or invisible characters",
                self.name
            ));
        }
        if self.size() > MAX_QUERY_SIZE {
            return Err(format!(
                "query too large: its name, payload and filters take {} bytes (allowed: at most {MAX_QUERY_SIZE})",
                self.size()
            ));
        }
        if self.relay_factor > MAX_RELAY_FACTOR {
            return Err(format!(
                "relay factor {} (allowed: 0 to {MAX_RELAY_FACTOR})",
                self.relay_factor
            ));
        }
        if self.filter.nodes.len() > MAX_NODE_FILTERS {
            return Err(format!(
                "{} node filters (allowed: at most {MAX_NODE_FILTERS})",
                self.filter.nodes.len()
            ));
        }
        if self.filter.tags.len() > MAX_TAG_FILTERS {
            return Err(format!(
                "{} tag filters (allowed: at most {MAX_TAG_FILTERS})",
                self.filter.tags.len()
            ));
        }
        if let Some(bad) = self.filter.nodes.iter().find(|n| !crate::valid_name(n)) {
            return Err(format!("node filter {bad:?} is not a valid member name"));
        }
        for (key, regex) in &self.filter.tags {
            compile(regex).map_err(|e| format!("tag filter {key}={regex}: {e}"))?;
        }
        Ok(())
    }

    pub fn to_wire(&self) -> pb::UserQuery {
        pb::UserQuery {
            name: self.name.clone(),
            payload: self.payload.clone(),
            nodes: (self.filter.nodes.iter())
                .map(|n| Bytes::copy_from_slice(n.as_bytes()))
                .collect(),
            tags: (self.filter.tags.iter())
                .map(|(key, regex)| pb::TagFilter {
                    key: key.clone(),
                    regex: regex.clone(),
                })
                .collect(),
            want_ack: self.want_ack,
            relay_factor: u32::from(self.relay_factor),
        }
    }

    /// From the wire; invalid when out of bounds (a regular expression that
    /// does not compile is kept: it matches nothing here).
    pub fn from_wire(u: pb::UserQuery) -> Result<UserQuery, DropReason> {
        if u.nodes.len() > MAX_NODE_FILTERS
            || u.tags.len() > MAX_TAG_FILTERS
            || u.relay_factor > 255
        {
            return Err(DropReason::Invalid);
        }
        let nodes = (u.nodes.iter())
            .map(|n| crate::wire::name(n).map(|n| n.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let q = UserQuery {
            name: u.name,
            payload: u.payload,
            filter: QueryFilter {
                nodes,
                tags: u.tags.into_iter().map(|t| (t.key, t.regex)).collect(),
            },
            want_ack: u.want_ack,
            relay_factor: u.relay_factor as u8,
        };
        let fits = valid_name(&q.name)
            && q.size() <= MAX_QUERY_SIZE
            && q.relay_factor <= MAX_RELAY_FACTOR
            && q.filter.tags.iter().all(|(_, r)| r.len() <= MAX_REGEX_LEN);
        if !fits {
            return Err(DropReason::Invalid);
        }
        Ok(q)
    }

    /// Whether member `name`, whose keys `value` reads, is asked.
    pub fn matches(&self, name: &str, value: impl Fn(&str) -> Option<Bytes>) -> bool {
        if !self.filter.nodes.is_empty() && !self.filter.nodes.iter().any(|n| n == name) {
            return false;
        }
        self.filter.tags.iter().all(|(key, regex)| {
            let Ok(re) = compile(regex) else {
                return false;
            };
            value(key)
                .and_then(|v| String::from_utf8(v.to_vec()).ok())
                .is_some_and(|v| re.is_match(&v))
        })
    }
}

/// A member's answer to a user query, as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub ack: bool,
    pub payload: Bytes,
    pub member: Name,
}

/// Encodes an answer to user query `id`.
pub(crate) fn encode_reply(id: u64, ack: bool, payload: &[u8], member: &Name) -> Vec<u8> {
    pb::Answer {
        id,
        body: Some(pb::answer::Body::User(pb::UserReply {
            ack,
            payload: Bytes::copy_from_slice(payload),
            member: Bytes::copy_from_slice(member.as_bytes()),
        })),
    }
    .encode_to_vec()
}

/// Validates a `swim.v1.UserReply`.
pub(crate) fn reply_from_wire(r: pb::UserReply) -> Result<Reply, DropReason> {
    if r.payload.len() > MAX_RESPONSE_SIZE {
        return Err(DropReason::Invalid);
    }
    Ok(Reply {
        ack: r.ack,
        payload: r.payload,
        member: crate::wire::name(&r.member)?,
    })
}

/// Encodes an answer to forward to `origin` (a `swim.v1.Relayed`).
pub(crate) fn encode_relayed(origin: &Name, answer: &[u8]) -> Vec<u8> {
    let answer = pb::Answer::decode(answer).unwrap_or_default();
    pb::Relayed {
        origin: Bytes::copy_from_slice(origin.as_bytes()),
        answer: Some(answer),
    }
    .encode_to_vec()
}

/// An answer to forward, as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Relayed {
    pub origin: Name,
    /// The answer, encoded again (it goes out as it came).
    pub answer: Vec<u8>,
}

/// Decodes a `swim.v1.Relayed`: only a user query's answer is relayed.
pub(crate) fn decode_relayed(field: &[u8]) -> Result<Relayed, DropReason> {
    let r = pb::Relayed::decode(field).map_err(|_| DropReason::Malformed)?;
    let answer = r.answer.ok_or(DropReason::Invalid)?;
    match &answer.body {
        Some(pb::answer::Body::User(u)) if u.payload.len() <= MAX_RESPONSE_SIZE => {}
        _ => return Err(DropReason::Invalid),
    }
    Ok(Relayed {
        origin: crate::wire::name(&r.origin)?,
        answer: answer.encode_to_vec(),
    })
}

/// The least time a member waits for its application's response to a
/// query asked of it, whatever timeout the query carries: a copy of a
/// query with a timeout of 1 ms (an insider's, racing the real one) must
/// not leave every response refused. The origin still counts only what
/// arrives before its own timeout.
pub const MIN_RESPONSE_WINDOW: core::time::Duration = core::time::Duration::from_secs(10);

/// A query asked of this member, waiting for the application's response.
#[derive(Clone, Debug)]
pub(crate) struct Asked {
    pub origin_addr: SocketAddr,
    pub relay_factor: u8,
    /// Its origin's deadline as this member reckons it.
    pub until: crate::time::Instant,
    /// Its origin was a live member at `origin_addr` when it was asked.
    pub member: bool,
}

/// An asked query as the table holds it: in arrival order too.
#[derive(Clone, Debug)]
struct Held {
    asked: Asked,
    arrived: u64,
}

/// The queries asked of this member, by `(origin, id)`, at most
/// [`MAX_ASKED`]. When full, the one to go is of an origin that was no
/// member, else of the origin holding the most; among those, the last to
/// arrive (a flood of long queries, from made-up origins, from one
/// insider, or posing as the genuine origin at its own address, pushes
/// out only itself).
#[derive(Debug, Default)]
pub(crate) struct AskedOf {
    asked: BTreeMap<(Name, u64), Held>,
    arrivals: u64,
}

impl AskedOf {
    /// Remembers a query asked of this member.
    pub fn insert(&mut self, origin: Name, id: u64, asked: Asked) {
        if self.asked.len() >= MAX_ASKED {
            let mut held: BTreeMap<&Name, usize> = BTreeMap::new();
            for (o, _) in self.asked.keys() {
                *held.entry(o).or_default() += 1;
            }
            let first = (self.asked.iter())
                .min_by_key(|((o, _), h)| {
                    (h.asked.member, usize::MAX - held[o], u64::MAX - h.arrived)
                })
                .map(|(k, _)| k.clone());
            if let Some(k) = first {
                self.asked.remove(&k);
            }
        }
        self.arrivals += 1;
        let arrived = self.arrivals;
        self.asked.insert((origin, id), Held { asked, arrived });
    }

    /// Takes query `(origin, id)` to respond to it, if still waiting at `now`.
    pub fn take(&mut self, origin: &Name, id: u64, now: crate::time::Instant) -> Option<Asked> {
        self.asked.retain(|_, h| h.asked.until > now);
        self.asked.remove(&(origin.clone(), id)).map(|h| h.asked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(filter: QueryFilter) -> UserQuery {
        UserQuery {
            name: "uptime".into(),
            payload: Bytes::from_static(b"p"),
            filter,
            want_ack: true,
            relay_factor: 2,
        }
    }

    #[test]
    fn filters_match_names_and_tags() {
        let all = query(QueryFilter::default());
        assert!(all.matches("a", |_| None));
        let named = query(QueryFilter {
            nodes: vec!["a".into(), "b".into()],
            tags: vec![],
        });
        assert!(named.matches("b", |_| None) && !named.matches("c", |_| None));
        let tagged = query(QueryFilter {
            nodes: vec![],
            tags: vec![("role".into(), "^web-[0-9]+$".into())],
        });
        let web = |k: &str| (k == "role").then(|| Bytes::from_static(b"web-12"));
        let db = |k: &str| (k == "role").then(|| Bytes::from_static(b"db-1"));
        assert!(tagged.matches("x", web) && !tagged.matches("x", db));
        assert!(!tagged.matches("x", |_| None), "no such key: no match");
        let bad = query(QueryFilter {
            nodes: vec![],
            tags: vec![("role".into(), "(".into())],
        });
        assert!(bad.check().is_err());
        assert!(
            !bad.matches("x", web),
            "an invalid expression matches nothing"
        );
    }

    #[test]
    fn a_query_round_trips_and_bounds_hold() {
        let q = query(QueryFilter {
            nodes: vec!["a".into()],
            tags: vec![("k".into(), "v.*".into())],
        });
        assert_eq!(UserQuery::from_wire(q.to_wire()), Ok(q.clone()));
        let mut big = q.clone();
        big.payload = Bytes::from(vec![0; MAX_QUERY_SIZE]);
        assert!(big.check().unwrap_err().contains("at most 1024"));
        assert_eq!(
            UserQuery::from_wire(big.to_wire()),
            Err(DropReason::Invalid)
        );
        let mut wide = q.clone();
        wide.relay_factor = 9;
        assert!(wide.check().is_err());
        let mut many = q.clone();
        many.filter.nodes = (0..=MAX_NODE_FILTERS).map(|i| format!("n{i}")).collect();
        assert!(many.check().unwrap_err().contains("at most 64"));
        assert!(compile(&"a".repeat(MAX_REGEX_LEN + 1)).is_err());
        assert!(compile(&"(".repeat(40).to_string()).is_err(), "nesting");
    }

    #[test]
    fn replies_and_relayed_answers_round_trip() {
        let a = encode_reply(7, false, b"up 3 days", &"b".into());
        let r = decode_relayed(&encode_relayed(&"a".into(), &a)).unwrap();
        assert_eq!(r.origin, Name::from("a"));
        assert_eq!(r.answer, a);
        let keys = pb::Answer {
            id: 1,
            body: Some(pb::answer::Body::Keys(pb::KeyReply::default())),
        }
        .encode_to_vec();
        assert_eq!(
            decode_relayed(&encode_relayed(&"a".into(), &keys)),
            Err(DropReason::Invalid),
            "a key answer is never relayed"
        );
    }

    #[test]
    fn a_full_table_evicts_strangers_then_the_busiest_origin() {
        let t = crate::time::Instant::ZERO;
        let addr: SocketAddr = ([10, 0, 0, 1], 1).into();
        let asked = |secs: u64, member: bool| Asked {
            origin_addr: addr,
            relay_factor: 0,
            until: t + Duration::from_secs(secs),
            member,
        };
        let mut a = AskedOf::default();
        a.insert("m".into(), 0, asked(3, true));
        for i in 1..MAX_ASKED as u64 {
            a.insert(format!("ghost-{i}").into(), i, asked(300, false));
        }
        a.insert("m".into(), 99, asked(3, true));
        assert!(
            a.take(&"m".into(), 0, t).is_some(),
            "a stranger's went, not the member's"
        );
        let mut b = AskedOf::default();
        b.insert("m".into(), 0, asked(3, true));
        for i in 1..MAX_ASKED as u64 {
            b.insert("insider".into(), i, asked(300, true));
        }
        b.insert("m".into(), 99, asked(3, true));
        assert!(
            b.take(&"m".into(), 0, t).is_some(),
            "the busiest origin's went"
        );
    }

    #[test]
    fn asked_is_bounded_and_expires() {
        let t = crate::time::Instant::ZERO;
        let mut a = AskedOf::default();
        let addr: SocketAddr = ([10, 0, 0, 1], 1).into();
        for i in 0..MAX_ASKED as u64 + 3 {
            let until = t + Duration::from_secs(10 + i);
            let asked = Asked {
                origin_addr: addr,
                relay_factor: 0,
                until,
                member: true,
            };
            a.insert("o".into(), i, asked);
        }
        // Each arrival beyond the bound pushed out the one before it.
        let last = MAX_ASKED as u64 - 1;
        assert!(
            a.take(&"o".into(), last, t).is_none(),
            "the last to arrive went"
        );
        assert!(
            a.take(&"o".into(), last + 3, t).is_some(),
            "the newest stays"
        );
        assert!(a.take(&"o".into(), 0, t).is_some(), "the first stays");
        assert!(a.take(&"o".into(), 5, t).is_some());
        assert!(a.take(&"o".into(), 5, t).is_none(), "once");
        assert!(
            a.take(&"o".into(), 6, t + Duration::from_secs(60))
                .is_none(),
            "expired"
        );
    }
}
