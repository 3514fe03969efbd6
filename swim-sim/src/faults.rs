//! A scenario's fault timeline: each `[[fault]]` table (a [`FaultSpec`])
//! expands into the simulator's [`Fault`]s: over the nodes it names,
//! spaced by `every` or repeated `count` times, link faults with an end
//! healed by name, stall lengths drawn from a range by the run's seed.

use crate::hostile::{Attack, Hostile};
use crate::network::Direction;
use crate::sim::{Fault, FaultKind};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::Deserialize;
use std::time::Duration;

/// Which nodes a fault applies to.
#[derive(Deserialize)]
#[serde(untagged)]
enum NodeSet {
    List(Vec<usize>),
    /// `"all"` or a percentage such as `"10%"` (chosen by the seed, never node 0).
    Text(String),
}

/// A duration, or a range `"1s..8s"` drawn from per fault by the run's seed.
#[derive(Clone, Copy)]
struct Span {
    min: Duration,
    max: Duration,
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Ms(u64),
            Text(String),
        }
        let bad = |s: &str, e: String| {
            serde::de::Error::custom(format!(
                "duration `{s}`: {e} (expected a duration like \"2s\" or a range like \"1s..8s\")"
            ))
        };
        match Raw::deserialize(d)? {
            Raw::Ms(ms) => {
                let d = Duration::from_millis(ms);
                Ok(Span { min: d, max: d })
            }
            Raw::Text(t) => {
                let (a, b) = t.split_once("..").unwrap_or((&t, &t));
                let min = swim_core::parse_duration(a.trim()).map_err(|e| bad(&t, e))?;
                let max = swim_core::parse_duration(b.trim()).map_err(|e| bad(&t, e))?;
                if max < min {
                    return Err(bad(&t, "the range is empty".into()));
                }
                Ok(Span { min, max })
            }
        }
    }
}

impl Span {
    /// One draw (the value itself when it is not a range).
    fn draw(&self, rng: &mut ChaCha8Rng) -> Duration {
        let span = (self.max - self.min).as_micros() as u64;
        if span == 0 {
            return self.min;
        }
        self.min + Duration::from_micros(rng.next_u64() % (span + 1))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultSpec {
    #[serde(with = "swim_core::serde_duration")]
    at: Duration,
    pub(crate) kind: String,
    node: Option<usize>,
    nodes: Option<NodeSet>,
    #[serde(default, with = "swim_core::serde_duration::option")]
    every: Option<Duration>,
    /// Repeat the fault this many times, `every` apart, on each node.
    count: Option<u32>,
    duration: Option<Span>,
    /// A name a `heal` fault can end it by.
    pub(crate) name: Option<String>,
    /// For `heal`: the name of the one fault to end.
    fault: Option<String>,
    /// For `loss`: the probability that a datagram is lost.
    rate: Option<f64>,
    /// For `loss`: `"inbound"`, `"outbound"` or `"both"` (the default).
    direction: Option<String>,
    #[serde(default, with = "swim_core::serde_duration::option")]
    delay: Option<Duration>,
    groups: Option<Vec<Vec<usize>>>,
    from: Option<Vec<usize>>,
    to: Option<Vec<usize>>,
    #[serde(default, with = "swim_core::serde_duration::option")]
    period: Option<Duration>,
    #[serde(default, with = "swim_core::serde_duration::option")]
    until: Option<Duration>,
    key: Option<String>,
    value: Option<String>,
    /// For `event`: the user event's name.
    event: Option<String>,
    /// For `event`: its payload (a repeat's takes its number: `v#2`).
    payload: Option<String>,
    /// For `event`: handlers that coalesce deliver only the newest of a burst.
    coalesce: Option<bool>,
    /// For `query`: the user query's name.
    query: Option<String>,
    /// For `query`: only these nodes are asked (all when absent).
    only: Option<Vec<usize>>,
    /// For `query`: members send an ack too.
    ack: Option<bool>,
    /// For `query`: random members each answer is also sent through.
    relay_factor: Option<u8>,
    /// For `hostile`: it holds the cluster key and seals (an insider).
    sealed: Option<bool>,
    /// For `hostile`: what it forges (default: every attack).
    attacks: Option<Vec<String>>,
}

pub(crate) fn node_set(spec: &FaultSpec, nodes: usize, seed: u64) -> Result<Vec<usize>, String> {
    match (&spec.node, &spec.nodes) {
        (Some(n), None) => Ok(vec![*n]),
        (None, Some(NodeSet::List(list))) => Ok(list.clone()),
        (None, Some(NodeSet::Text(t))) if t == "all" => Ok((0..nodes).collect()),
        (None, Some(NodeSet::Text(t))) => {
            let pct: f64 = t
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .filter(|p| (0.0..=100.0).contains(p))
                .ok_or_else(|| {
                    format!(
                        "nodes = \"{t}\": expected a list, \"all\" or a percentage like \"10%\""
                    )
                })?;
            let count = ((nodes as f64) * pct / 100.0).round().max(1.0) as usize;
            // A seeded choice among nodes 1.. (node 0 is the seed everyone joined through).
            let mut pool: Vec<usize> = (1..nodes).collect();
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_f417);
            for i in (1..pool.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                pool.swap(i, j);
            }
            pool.truncate(count.min(pool.len()));
            pool.sort_unstable();
            Ok(pool)
        }
        (Some(_), Some(_)) => Err("give either node or nodes, not both".into()),
        (None, None) => Err("needs node = N or nodes = [...]".into()),
    }
}

/// Kinds a `name` (and `until`/`duration` on a link fault) applies to.
const NAMED: &str = "partition, partition-oneway and loss";

/// One spec to faults: per-node kinds expand over `nodes`, spaced by
/// `every`, or repeated `count` times `every` apart; link faults with an
/// end (`until`, or `duration` from each start) get a heal of their own.
/// `k` is the spec's position (it names unnamed faults that end), `names`
/// every name the file gives.
pub(crate) fn expand(
    spec: &FaultSpec,
    nodes: usize,
    seed: u64,
    k: usize,
    names: &[&str],
) -> Result<Vec<Fault>, String> {
    let at = spec.at;
    let kind = spec.kind.as_str();
    let link = matches!(kind, "partition" | "partition-oneway" | "loss");
    if spec.name.is_some() && !link {
        return Err(format!("name = \"...\" is allowed on {NAMED} faults only"));
    }
    if spec.fault.is_some() && kind != "heal" {
        return Err("fault = \"...\" (the fault to end) is allowed on heal only".into());
    }
    if (spec.rate.is_some() || spec.direction.is_some()) && kind != "loss" {
        return Err("rate and direction are allowed on loss only".into());
    }
    if spec.until.is_some() && !(link || matches!(kind, "pause" | "slow" | "flap" | "hostile")) {
        return Err(format!(
            "until is allowed on {NAMED}, pause, slow, flap and hostile faults only"
        ));
    }
    if (spec.sealed.is_some() || spec.attacks.is_some()) && kind != "hostile" {
        return Err("sealed and attacks are allowed on hostile only".into());
    }
    if kind == "hostile" {
        return hostile(spec, at);
    }
    let count = spec.count.unwrap_or(1);
    if count == 0 {
        return Err("count = 0: must be at least 1".into());
    }
    if count > 1 && spec.every.is_none_or(|e| e.is_zero()) {
        return Err(format!(
            "count = {count} needs every = \"...\" (the time between repeats)"
        ));
    }
    if spec.count.is_some() && spec.until.is_some() {
        return Err("give until or count, not both (a repeated fault lasts `duration`)".into());
    }
    // Draws of `duration` ranges, from the run's seed and the spec's place.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xd0a7_1e55 ^ ((k as u64) << 32));
    let repeats = |first: Duration| -> Vec<Duration> {
        let every = spec.every.unwrap_or(Duration::ZERO);
        (0..count).map(|r| first + every * r).collect()
    };
    let need = |d: Option<Duration>, what: &str| d.ok_or_else(|| format!("needs {what}"));
    // How long one occurrence lasts: `duration`, or up to `until`.
    let length = |start: Duration, rng: &mut ChaCha8Rng| -> Result<Option<Duration>, String> {
        match (spec.duration, spec.until) {
            (Some(_), Some(_)) => Err("give duration or until, not both".into()),
            (Some(d), None) => Ok(Some(d.draw(rng))),
            (None, Some(u)) if u > start => Ok(Some(u - start)),
            (None, Some(u)) => Err(format!("until {u:?} is not after at {start:?}")),
            (None, None) => Ok(None),
        }
    };
    match kind {
        "crash" | "restart" | "leave" | "pause" | "slow" | "announce" | "join" => {
            let mut out = Vec::new();
            for (i, node) in node_set(spec, nodes, seed)?.into_iter().enumerate() {
                // Without count, `every` spaces the nodes; with it, the repeats.
                let first = if spec.count.is_some() {
                    at
                } else {
                    at + spec.every.unwrap_or(Duration::ZERO) * i as u32
                };
                for start in repeats(first) {
                    let mut lasting = || {
                        length(start, &mut rng)?.ok_or_else(|| "needs duration = \"...\" or until".to_string())
                    };
                    let kind = match kind {
                        "crash" => FaultKind::Crash(node),
                        "restart" => FaultKind::Restart(node),
                        "leave" => FaultKind::Leave(node),
                        "announce" => FaultKind::Announce(node),
                        "join" => FaultKind::Join(node),
                        "pause" => FaultKind::Pause {
                            node,
                            duration: lasting()?,
                        },
                        _ => FaultKind::Slow {
                            node,
                            delay: need(spec.delay, "delay = \"...\"")?,
                            duration: lasting()?,
                        },
                    };
                    out.push(Fault { at: start, kind });
                }
            }
            Ok(out)
        }
        "query" => {
            let every = spec.every.unwrap_or(Duration::ZERO);
            let name = spec.query.clone().ok_or("needs query = \"NAME\"")?;
            let set = node_set(spec, nodes, seed)?;
            let mut out = Vec::new();
            for (k, &node) in set.iter().enumerate() {
                for start in repeats(at + every * k as u32) {
                    let kind = FaultKind::Query {
                        node,
                        name: name.clone(),
                        payload: spec.payload.clone().unwrap_or_default(),
                        only: spec.only.clone().unwrap_or_default(),
                        want_ack: spec.ack.unwrap_or(false),
                        relay_factor: spec.relay_factor.unwrap_or(0),
                    };
                    out.push(Fault { at: start, kind });
                }
            }
            Ok(out)
        }
        "event" => {
            let every = spec.every.unwrap_or(Duration::ZERO);
            let name = spec.event.clone().ok_or("needs event = \"NAME\"")?;
            let payload = spec.payload.clone().unwrap_or_default();
            let set = node_set(spec, nodes, seed)?;
            let mut out = Vec::new();
            for (k, &node) in set.iter().enumerate() {
                // As for `set`: with count, each node repeats every `every`.
                let first = if spec.count.is_some() {
                    at + every * k as u32 / set.len() as u32
                } else {
                    at + every * k as u32
                };
                for (r, start) in repeats(first).into_iter().enumerate() {
                    let kind = FaultKind::Event {
                        node,
                        name: name.clone(),
                        payload: if count > 1 {
                            format!("{payload}#{r}")
                        } else {
                            payload.clone()
                        },
                        coalesce: spec.coalesce.unwrap_or(false),
                    };
                    out.push(Fault { at: start, kind });
                }
            }
            Ok(out)
        }
        "set" | "delete" => {
            let every = spec.every.unwrap_or(Duration::ZERO);
            let key = spec.key.clone().ok_or("needs key = \"...\"")?;
            let set = node_set(spec, nodes, seed)?;
            let mut out = Vec::new();
            for (k, &node) in set.iter().enumerate() {
                // Without count, `every` spaces the nodes; with it, each
                // node repeats every `every` (the nodes spread over it) and
                // a set's value takes the repeat's number (`v#2`).
                let first = if spec.count.is_some() {
                    at + every * k as u32 / set.len() as u32
                } else {
                    at + every * k as u32
                };
                for (r, start) in repeats(first).into_iter().enumerate() {
                    let kind = match kind {
                        "set" => {
                            let value = spec.value.clone().ok_or("needs value = \"...\"")?;
                            FaultKind::Set {
                                node,
                                key: key.clone(),
                                value: if count > 1 { format!("{value}#{r}") } else { value },
                            }
                        }
                        _ => FaultKind::Delete {
                            node,
                            key: key.clone(),
                        },
                    };
                    out.push(Fault { at: start, kind });
                }
            }
            Ok(out)
        }
        "partition" | "partition-oneway" | "loss" => {
            let fault = match kind {
                "partition" => FaultKind::Partition(
                    spec.groups.clone().ok_or("needs groups = [[...], [...]]")?,
                ),
                "partition-oneway" => FaultKind::PartitionOneWay {
                    from: spec.from.clone().ok_or("needs from = [...]")?,
                    to: spec.to.clone().ok_or("needs to = [...]")?,
                },
                _ => FaultKind::Loss {
                    nodes: node_set(spec, nodes, seed)?,
                    direction: direction(spec.direction.as_deref())?,
                    rate: spec
                        .rate
                        .filter(|r| (0.0..=1.0).contains(r))
                        .ok_or("needs rate = P, a probability between 0 and 1")?,
                },
            };
            let mut out = Vec::new();
            for (r, start) in repeats(at).into_iter().enumerate() {
                let end = length(start, &mut rng)?;
                let name = match (&spec.name, end) {
                    (Some(n), _) if count == 1 => Some(n.clone()),
                    (Some(n), _) => Some(format!("{n}#{r}")),
                    (None, Some(_)) => Some(format!("#{k}.{r}")),
                    (None, None) => None,
                };
                let kind = match &name {
                    Some(name) => FaultKind::Named {
                        name: name.clone(),
                        fault: Box::new(fault.clone()),
                    },
                    None => fault.clone(),
                };
                out.push(Fault { at: start, kind });
                if let (Some(name), Some(d)) = (name, end) {
                    out.push(Fault {
                        at: start + d,
                        kind: FaultKind::HealNamed(name),
                    });
                }
            }
            Ok(out)
        }
        "hold" | "release" | "flap" => {
            let pair = |v: &Option<Vec<usize>>, what: &str| match v.as_deref() {
                Some([n]) => Ok(*n),
                _ => Err(format!("needs {what} = [NODE]")),
            };
            let (a, b) = (pair(&spec.from, "from")?, pair(&spec.to, "to")?);
            Ok(vec![Fault {
                at,
                kind: match kind {
                    "hold" => FaultKind::Hold { from: a, to: b },
                    "release" => FaultKind::Release { from: a, to: b },
                    _ => FaultKind::Flap {
                        a,
                        b,
                        period: need(spec.period, "period = \"...\"")?,
                        until: need(spec.until, "until = \"...\"")?,
                    },
                },
            }])
        }
        "heal" => match &spec.fault {
            None => Ok(vec![Fault {
                at,
                kind: FaultKind::Heal,
            }]),
            Some(name) if names.contains(&name.as_str()) => {
                let named: Vec<Fault> = repeats(at)
                    .into_iter()
                    .map(|at| Fault {
                        at,
                        kind: FaultKind::HealNamed(name.clone()),
                    })
                    .collect();
                Ok(named)
            }
            Some(name) => Err(format!(
                "fault = \"{name}\": no fault has that name (names given: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )),
        },
        other => Err(format!(
            "unknown kind '{other}': expected crash, restart, leave, pause, slow, announce, join, set, delete, event, query, partition, \
             partition-oneway, loss, hold, release, flap, heal or hostile"
        )),
    }
}

/// A `hostile` spec: a member (`node`) or a stranger (no node) forging
/// one message every `every` from `at` to `until` (or for `duration`).
fn hostile(spec: &FaultSpec, at: Duration) -> Result<Vec<Fault>, String> {
    if spec.nodes.is_some() {
        return Err("give node = N (the member that lies) or no node (a stranger)".into());
    }
    if spec.count.is_some() {
        return Err("count is not allowed on hostile (give every and until)".into());
    }
    let every = spec
        .every
        .filter(|e| !e.is_zero())
        .ok_or("needs every = \"...\" (the time between forged messages)")?;
    let until = match (spec.until, spec.duration) {
        (Some(_), Some(_)) => return Err("give duration or until, not both".into()),
        (Some(u), None) if u > at => u,
        (Some(u), None) => return Err(format!("until {u:?} is not after at {at:?}")),
        (None, Some(d)) if d.min == d.max => at + d.min,
        (None, Some(_)) => return Err("duration: give one duration, not a range".into()),
        (None, None) => return Err("needs until = \"...\" or duration = \"...\"".into()),
    };
    let attacks = match &spec.attacks {
        None => Attack::ALL.to_vec(),
        Some(names) if names.is_empty() => return Err("attacks = []: name at least one".into()),
        Some(names) => names
            .iter()
            .map(|n| {
                Attack::parse(n).ok_or_else(|| {
                    format!(
                        "attack '{n}': expected one of {}",
                        Attack::ALL.map(Attack::name).join(", ")
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let sealed = spec.sealed.unwrap_or(false);
    if attacks.contains(&Attack::Reply) && spec.node.is_none() && spec.attacks.is_some() {
        return Err(
            "attack 'reply' needs node = N (a member that peers open exchanges with)".into(),
        );
    }
    Ok(vec![Fault {
        at,
        kind: FaultKind::Hostile(Hostile {
            node: spec.node,
            every,
            until,
            sealed,
            attacks,
        }),
    }])
}

fn direction(text: Option<&str>) -> Result<Direction, String> {
    match text.unwrap_or("both") {
        "inbound" => Ok(Direction::Inbound),
        "outbound" => Ok(Direction::Outbound),
        "both" => Ok(Direction::Both),
        other => Err(format!(
            "direction = \"{other}\": expected \"inbound\", \"outbound\" or \"both\""
        )),
    }
}
