//! Scenario files: a cluster, its network, a timeline of faults and the checks
//! a run must pass, in TOML (`swim-sim/scenarios/*.toml`).
//!
//! ```toml
//! description = "crash one node of 100"
//! nodes = 100
//! duration = "60s"
//! preset = "lan"                    # lan | wan | local
//!
//! [config]                          # any swim_core::Config field, onto the preset
//! gossip_fanout = 4                 # (the agent's [protocol] table takes the same)
//! join_retry_min = "1s"             # durations: "250us", "1.5s", "2m", or integer ms
//!
//! [network]
//! latency = { kind = "uniform", min = "500us", max = "1ms" }
//! loss = 0.0
//!
//! [[fault]]
//! at = "15s"
//! kind = "crash"
//! node = 7                          # or nodes = [1, 2] / "10%" / "all", spaced by `every`
//!
//! [checks]
//! converged_within = "5s"
//! dead_everywhere_within = "60s"
//! no_false_deaths = true
//! ```
//!
//! Partial failures: when nodes join, faults that start and stop, loss on
//! one node's links, repeats, and healing one named fault.
//!
//! ```toml
//! [[fault]]                         # nodes 1-16 join through node 0, 2 s apart
//! at = "2s"                         # (they do not start in the join window)
//! kind = "join"
//! nodes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
//! every = "2s"
//!
//! [[fault]]                         # 80% loss on 10 nodes' links, both ways
//! at = "30s"
//! kind = "loss"
//! name = "flaky"                    # a heal can end this fault alone
//! nodes = "1%"
//! direction = "both"                # "inbound" | "outbound" | "both"
//! rate = 0.8
//!
//! [[fault]]
//! at = "330s"
//! kind = "heal"
//! fault = "flaky"                   # without it, heal ends every link fault
//!
//! [[fault]]                         # node 0 cannot send from 20 s to 50 s
//! at = "20s"
//! kind = "loss"
//! node = 0
//! direction = "outbound"
//! rate = 1.0
//! until = "50s"                     # also on partition, partition-oneway, pause, slow
//!
//! [[fault]]                         # stalls of 1-8 s (drawn by the seed), 8 times, 15 s apart
//! at = "25s"
//! kind = "pause"
//! nodes = "8%"
//! duration = "1s..8s"
//! every = "15s"
//! count = 8
//!
//! [checks]
//! no_false_deaths_in_healthy_views = true
//! hold_out = { from = "90s", until = "330s", share = 0.99, max_flips = 1 }
//! alive_everywhere_within = { after = "330s", within = "60s" }
//! ```
//!
//! What a seed draws (nodes given as a percentage, durations given as a
//! range) is drawn again for each seed ([`Scenario::with_seed`]).
//!
//! Unknown keys, nodes that do not exist, times outside the run and values of
//! the wrong type are errors that name the file, the line and what was expected.

use crate::faults::{expand, FaultSpec};
use crate::network::{Latency, Network};
use crate::sim::{Fault, FaultKind, Options, Report};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;
use swim_core::{ConfigOverrides, Preset};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    description: Option<String>,
    nodes: usize,
    #[serde(default)]
    seed: u64,
    #[serde(with = "swim_core::serde_duration")]
    duration: Duration,
    #[serde(default)]
    preset: Preset,
    #[serde(default, with = "swim_core::serde_duration::option")]
    join_window: Option<Duration>,
    /// Every node holds one cluster key and seals as `[config] sealing` says.
    #[serde(default)]
    sealed: bool,
    /// Overrides of the preset's fields (any `swim_core::Config` field).
    #[serde(default)]
    config: ConfigOverrides,
    network: Option<NetworkSpec>,
    /// The window rates are measured over.
    measure: Option<MeasureSpec>,
    /// Keys every node sets when it starts.
    start_keys: Option<StartKeys>,
    /// Nodes running the build before user events and queries (a rolling
    /// upgrade): see [`Options::older`].
    #[serde(default)]
    older: Vec<usize>,
    /// Whether a restarted node resumes its user-event floor, as an agent
    /// with a snapshot does: see [`Options::snapshot`] (default true).
    snapshot: Option<bool>,
    #[serde(default)]
    fault: Vec<toml::Spanned<FaultSpec>>,
    #[serde(default)]
    checks: Checks,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSpec {
    latency: Option<LatencySpec>,
    #[serde(default)]
    loss: f64,
    #[serde(default)]
    duplicate: f64,
    #[serde(default)]
    reorder: f64,
    #[serde(default, with = "swim_core::serde_duration::option")]
    reorder_delay: Option<Duration>,
    #[serde(default, with = "swim_core::serde_duration::option")]
    stream_timeout: Option<Duration>,
    #[serde(default)]
    link_loss: Vec<LinkLoss>,
    /// Every node's stream uplink, e.g. `"100Mbit"`.
    stream_bandwidth: Option<Rate>,
    #[serde(default)]
    node_bandwidth: Vec<NodeRate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeRate {
    node: usize,
    rate: Rate,
}

/// A bit rate as scenarios write it: a number and `kbit`, `Mbit` or `Gbit`.
struct Rate(u64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_rate(&s).map(Rate).map_err(serde::de::Error::custom)
    }
}

/// Parses `"100Mbit"` (also `kbit`, `Gbit`, `bit`) into bits per second.
fn parse_rate(s: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "bandwidth `{s}`: expected a number and a unit, like \"100Mbit\" (kbit, Mbit or Gbit)"
        )
    };
    let t = s.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(bad)?;
    let (n, unit) = t.split_at(split);
    let n: f64 = n.trim().parse().map_err(|_| bad())?;
    let scale = match unit {
        "bit" => 1.0,
        "kbit" => 1e3,
        "Mbit" => 1e6,
        "Gbit" => 1e9,
        _ => return Err(bad()),
    };
    let bps = n * scale;
    if !(1.0..1e15).contains(&bps) {
        return Err(bad());
    }
    Ok(bps as u64)
}

/// Keys every node sets when it starts: `count` keys of `size` bytes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartKeys {
    count: usize,
    size: usize,
}

/// Which part of the run the rates cover.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MeasureSpec {
    #[serde(default, with = "swim_core::serde_duration::option")]
    from: Option<Duration>,
    #[serde(default, with = "swim_core::serde_duration::option")]
    until: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkLoss {
    from: usize,
    to: usize,
    rate: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
enum LatencySpec {
    Fixed {
        #[serde(with = "swim_core::serde_duration")]
        value: Duration,
    },
    Uniform {
        #[serde(with = "swim_core::serde_duration")]
        min: Duration,
        #[serde(with = "swim_core::serde_duration")]
        max: Duration,
    },
    LongTail {
        #[serde(with = "swim_core::serde_duration")]
        min: Duration,
        #[serde(with = "swim_core::serde_duration")]
        median: Duration,
        #[serde(with = "swim_core::serde_duration")]
        max: Duration,
    },
}

/// What a run must show to pass.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// The cluster first converges within this time.
    #[serde(default, with = "swim_core::serde_duration::option")]
    pub converged_within: Option<Duration>,
    /// Each crashed node is dead on every live node within this time of its crash.
    #[serde(default, with = "swim_core::serde_duration::option")]
    pub dead_everywhere_within: Option<Duration>,
    /// After each healed fault, the cluster re-converges within this time.
    #[serde(default, with = "swim_core::serde_duration::option")]
    pub reconverge_within: Option<Duration>,
    /// Each announced update reaches every live node within this time.
    #[serde(default, with = "swim_core::serde_duration::option")]
    pub coverage_within: Option<Duration>,
    /// Each restarted node holds every running node's keys within this time.
    #[serde(default, with = "swim_core::serde_duration::option")]
    pub keys_complete_within: Option<Duration>,
    /// No view takes a false dead verdict: about a member that was healthy
    /// and reachable from it both ways (ground truth, [`crate::truth`]).
    #[serde(default)]
    pub no_false_deaths: bool,
    /// Like `no_false_deaths`, but a view that was itself sick earlier in
    /// the run may hold a stale false verdict of its own (the views that
    /// were healthy throughout, and what they adopt by gossip, may not).
    #[serde(default)]
    pub no_false_deaths_in_healthy_views: bool,
    /// Each node that leaves gracefully is reported left by every live
    /// node within this time of its leave.
    #[serde(default, with = "swim_core::serde_duration::option")]
    pub leave_everywhere_within: Option<Duration>,
    /// No view suspects a member that was healthy and reachable from it.
    #[serde(default)]
    pub no_false_suspicions: bool,
    /// The cluster is converged when the run ends.
    #[serde(default)]
    pub converged_at_end: bool,
    /// Over a window, healthy views hold each sick member out, and do not
    /// flip it back and forth (the flaky-member test).
    pub hold_out: Option<HoldOutCheck>,
    /// After a time, every running node holds exactly the running nodes
    /// alive within a bound.
    pub alive_everywhere_within: Option<AliveCheck>,
    /// When the run ends, every running node holds every running node
    /// alive or suspect (for lossy networks, where some suspicion is
    /// nearly always in flight and `converged_at_end` is a coin toss).
    #[serde(default)]
    pub settled_at_end: bool,
    /// When the run ends, every running node holds every running node's
    /// keys exactly as their owner does.
    #[serde(default)]
    pub keys_agree_at_end: bool,
    /// Each user event fired is delivered by every node running from its
    /// firing to the run's end within this time ([`crate::deliveries`]).
    #[serde(default, with = "swim_core::serde_duration::option")]
    pub events_everywhere_within: Option<Duration>,
    /// Each user query collects at least this share of the responses of
    /// the nodes it asks that ran throughout (0.999: 99.9 %), before its
    /// origin stops waiting.
    pub queries_complete: Option<f64>,
    /// No node delivers a user event twice, in one process life or across
    /// a restart, and no process delivers one fired before it started
    /// (beyond [`crate::deliveries::REPLAY_GRACE`]).
    #[serde(default)]
    pub events_once: bool,
    /// Hostile member: no reader holds a value its owner never wrote
    /// longer than this after the owner's next write.
    #[serde(default, with = "swim_core::serde_duration::option")]
    pub no_forged_values_after: Option<Duration>,
    /// Hostile member: every owner write is visible at every healthy
    /// running reader within this time (it also sets the deadline the
    /// report measures, 30 s without it).
    #[serde(default, with = "swim_core::serde_duration::option")]
    pub no_lost_writes_within: Option<Duration>,
    /// Hostile member: member entries and key bytes per node (mean, and
    /// the peak over samples) exceed the same run without the hostile
    /// member by at most this share (0.10: 10 %). The honest run is made
    /// too ([`Scenario::attach_honest`]).
    pub entries_within_honest: Option<f64>,
    /// Hostile member: no reader takes back a value its owner superseded.
    #[serde(default)]
    pub no_resurrections: bool,
    /// Hostile member: no node holds a namespace above `MAX_KEYS` keys or
    /// `MAX_NAMESPACE_BYTES` bytes.
    #[serde(default)]
    pub no_namespaces_over_limits: bool,
}

impl Checks {
    /// The checks a run from flags (no scenario file) is judged by, from
    /// its options: no false deaths; every crash dead everywhere within
    /// SWIM's bound (the expected wait for a first probe, `e/(e-1)`
    /// periods, plus two more for the ping-req round and a retry, then the
    /// longest suspicion, then 3 s to tell everyone); every leave and every
    /// restart known everywhere within the time gossip takes to reach every
    /// node, three times over, plus two probe periods (a crash whose node
    /// restarts before it is dead everywhere is not judged); and at the end every
    /// running node holds every running node alive or suspect (under loss
    /// some suspicion is nearly always in flight).
    pub fn for_flags(o: &Options) -> Checks {
        let c = &o.config;
        let n = o.nodes.max(2) as f64;
        let periods = 2.0 + crate::theory::first_detection_limit();
        let suspicion = c.probe_interval.as_secs_f64()
            * f64::from(c.suspicion_mult)
            * n.log10().max(1.0)
            * f64::from(c.suspicion_max_timeout_mult);
        let detect = c.probe_interval.as_secs_f64() * periods + suspicion + 3.0;
        let spread = c.gossip_interval.as_secs_f64()
            * 3.0
            * crate::theory::dissemination_rounds(o.nodes.max(2), c.gossip_fanout.max(1))
            + 2.0 * c.probe_interval.as_secs_f64();
        let ms = |s: f64| Duration::from_millis((s * 1000.0).round() as u64);
        let has = |f: fn(&FaultKind) -> bool| o.faults.iter().any(|x| f(&x.kind));
        Checks {
            no_false_deaths: true,
            settled_at_end: true,
            dead_everywhere_within: has(|k| matches!(k, FaultKind::Crash(_))).then(|| ms(detect)),
            leave_everywhere_within: has(|k| matches!(k, FaultKind::Leave(_))).then(|| ms(spread)),
            reconverge_within: has(|k| matches!(k, FaultKind::Restart(_))).then(|| ms(spread)),
            ..Checks::default()
        }
    }

    /// Whether any check measures a hostile member.
    pub fn hostile(&self) -> bool {
        self.no_forged_values_after.is_some()
            || self.no_lost_writes_within.is_some()
            || self.entries_within_honest.is_some()
            || self.no_resurrections
            || self.no_namespaces_over_limits
    }
}

/// The variants a sweep compares, as `[config]` overrides: SWIM (the
/// Lifeguard parts off, and no flap damping), one part at a time on SWIM
/// (local health comes with nacks, which it scores, and only stretches a
/// sick node's probing; the sick-node rule adds that a node whose score is
/// up declares nobody dead), Lifeguard (all of them), Lifeguard with flap
/// damping, and this project's default (with probe retries as well).
pub const VARIANTS: [(&str, &str); 8] = [
    (
        "SWIM",
        "awareness_max_multiplier = 0\nsick_node_rule = false\nsuspicion_max_timeout_mult = 1\nbuddy = false\nnack = false\nflap_half_life = 0\nprobe_retries = 0",
    ),
    (
        "+local_health",
        "awareness_max_multiplier = 8\nsick_node_rule = false\nsuspicion_max_timeout_mult = 1\nbuddy = false\nnack = true\nflap_half_life = 0\nprobe_retries = 0",
    ),
    (
        "+sick_node_rule",
        "awareness_max_multiplier = 8\nsick_node_rule = true\nsuspicion_max_timeout_mult = 1\nbuddy = false\nnack = true\nflap_half_life = 0\nprobe_retries = 0",
    ),
    (
        "+dynamic_suspicion",
        "awareness_max_multiplier = 0\nsick_node_rule = false\nsuspicion_max_timeout_mult = 6\nbuddy = false\nnack = false\nflap_half_life = 0\nprobe_retries = 0",
    ),
    (
        "+buddy",
        "awareness_max_multiplier = 0\nsick_node_rule = false\nsuspicion_max_timeout_mult = 1\nbuddy = true\nnack = false\nflap_half_life = 0\nprobe_retries = 0",
    ),
    (
        "Lifeguard",
        "awareness_max_multiplier = 8\nsick_node_rule = true\nsuspicion_max_timeout_mult = 6\nbuddy = true\nnack = true\nflap_half_life = 0\nprobe_retries = 0",
    ),
    ("+damping", "probe_retries = 0"),
    ("+retries (default)", ""),
];

/// `hold_out = { from = "80s", until = "320s", share = 0.99, max_flips = 1 }`:
/// from `from` to `until`, every sick member is held not alive (suspect,
/// dead or unknown) by at least `share` of the healthy views at every
/// sample (each 500 ms), and no healthy view flips a sick member from dead
/// to alive more than `max_flips` times.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HoldOutCheck {
    /// Start of the window.
    #[serde(with = "swim_core::serde_duration")]
    pub from: Duration,
    /// End of the window.
    #[serde(with = "swim_core::serde_duration")]
    pub until: Duration,
    /// Lowest share of healthy views that must hold each sick member not alive.
    pub share: Option<f64>,
    /// Most dead -> alive flips of a sick member by one healthy view.
    pub max_flips: Option<u32>,
}

/// `alive_everywhere_within = { after = "320s", within = "60s" }`: some
/// instant in `[after, after + within]` has every running node holding
/// exactly the running nodes alive.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AliveCheck {
    /// From when.
    #[serde(with = "swim_core::serde_duration")]
    pub after: Duration,
    /// The bound.
    #[serde(with = "swim_core::serde_duration")]
    pub within: Duration,
}

/// A parsed scenario: the options of a run and its checks.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Where it came from (for messages and reproduce lines).
    pub path: String,
    /// What it shows.
    pub description: String,
    /// The run (its seed can be overridden).
    pub options: Options,
    /// What the run must show.
    pub checks: Checks,
    /// The file's text, to parse again for another seed or config
    /// ([`Scenario::with_seed`], [`Scenario::with_config`]); empty for a
    /// run built from flags.
    pub text: String,
}

/// One check's verdict on a run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Verdict {
    /// Which check (its key in the scenario's `[checks]`).
    pub check: String,
    /// Whether the run passed it.
    pub passed: bool,
    /// Whether the run measured anything it checks: a check with nothing
    /// to measure (no crash in the run, a crash too near the end to be
    /// judged) neither passes nor fails, and is reported as such.
    pub measured: bool,
    /// What was measured, beside the limit, in units.
    pub detail: String,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, String> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read it: {e}"))?;
        Scenario::parse(&text, &shown)
    }

    /// Parses scenario text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Scenario, String> {
        Scenario::parse_with(text, path, None)
    }

    /// The same scenario run with `seed`: what the seed draws (nodes chosen
    /// by percentage, stall lengths given as ranges) is drawn again.
    pub fn with_seed(&self, seed: u64) -> Result<Scenario, String> {
        if self.text.is_empty() {
            let mut s = self.clone();
            s.options.seed = seed;
            return Ok(s);
        }
        Scenario::parse_with(&self.text, &self.path, Some(seed)).map(|s| s.keep_overrides(self))
    }

    /// The same scenario with more `[config]` overrides on top of the
    /// file's, given as TOML (`"buddy = false\nnack = false"`).
    pub fn with_config(&self, overrides: &str) -> Result<Scenario, String> {
        let extra: ConfigOverrides = toml::from_str(overrides)
            .map_err(|e| format!("config overrides `{overrides}`: {}", e.message().trim_end()))?;
        let mut s = self.clone();
        extra.apply(&mut s.options.config);
        s.options
            .config
            .validate()
            .map_err(|e| format!("{}: config overrides `{overrides}`: {e}", self.path))?;
        Ok(s)
    }

    /// The same run without its hostile members (still measured as one):
    /// the baseline `entries_within_honest` compares with.
    pub fn honest(&self) -> Scenario {
        let mut s = self.clone();
        (s.options.faults).retain(|f| !matches!(f.kind, crate::sim::FaultKind::Hostile(_)));
        s.options.hostile_report = true;
        s
    }

    /// Whether a fault of this scenario is a hostile member.
    pub fn has_hostile(&self) -> bool {
        (self.options.faults.iter()).any(|f| matches!(f.kind, crate::sim::FaultKind::Hostile(_)))
    }

    /// When the checks compare with the honest run, makes it and puts its
    /// figures in `report` ([`crate::HostileReport::honest`]).
    pub fn attach_honest(&self, report: &mut Report) -> Result<(), String> {
        if self.checks.entries_within_honest.is_none() || !self.has_hostile() {
            return Ok(());
        }
        let honest = crate::sim::Sim::new(self.honest().options)?.run();
        if let (Some(h), Some(b)) = (report.hostile.as_mut(), honest.hostile) {
            h.honest = Some(b.baseline());
        }
        Ok(())
    }

    /// Keeps what `with_config` changed on `old`, after parsing again.
    fn keep_overrides(mut self, old: &Scenario) -> Scenario {
        self.options.config = old.options.config.clone();
        self
    }

    fn parse_with(text: &str, path: &str, seed: Option<u64>) -> Result<Scenario, String> {
        let mut file: File = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| format!("line {}: ", line_of(text, s.start)))
                .unwrap_or_default();
            format!("{path}: {line}{}", e.message().trim_end())
        })?;
        if let Some(seed) = seed {
            file.seed = seed;
        }
        let config = file
            .config
            .onto(file.preset)
            .map_err(|e| format!("{path}: [config] {e} (on preset {})", file.preset))?;
        let mut options = Options::new(file.nodes, file.seed, file.duration);
        options.config = config;
        if let Some(w) = file.join_window {
            options.join_window = w;
        }
        if file.sealed {
            options.keys = vec![swim_core::SecretKey::new(
                *b"swim-sim's scenario cluster key!",
            )];
        }
        if let Some(n) = file.network {
            options.network = network(n);
        }
        if let Some(k) = file.start_keys {
            if k.count > swim_core::MAX_KEYS
                || k.size > swim_core::MAX_VALUE_LEN
                || k.count * (k.size + 4) > swim_core::MAX_NAMESPACE_BYTES
            {
                return Err(format!(
                    "{path}: start_keys: {} keys of {} bytes break a namespace limit (at most {} keys, values of {} bytes, {} bytes in all)",
                    k.count,
                    k.size,
                    swim_core::MAX_KEYS,
                    swim_core::MAX_VALUE_LEN,
                    swim_core::MAX_NAMESPACE_BYTES
                ));
            }
            options.start_keys = (k.count, k.size);
        }
        if let Some(m) = file.measure {
            options.measure = (m.from.unwrap_or(Duration::ZERO), m.until);
        }
        if let Some(bad) = file.older.iter().find(|&&i| i >= options.nodes) {
            return Err(format!(
                "{path}: older names node {bad} but nodes are 0..{}",
                options.nodes - 1
            ));
        }
        if file.sealed && !file.older.is_empty() {
            return Err(format!(
                "{path}: older works on plain clusters only (the simulator strips the new fields from plain datagrams and frames)"
            ));
        }
        options.older = file.older;
        options.snapshot = file.snapshot.unwrap_or(true);
        let names: Vec<&str> = (file.fault.iter())
            .filter_map(|f| f.get_ref().name.as_deref())
            .collect();
        for (k, spanned) in file.fault.iter().enumerate() {
            let line = line_of(text, spanned.span().start);
            let spec = spanned.get_ref();
            let faults = expand(spec, file.nodes, file.seed, k, &names)
                .map_err(|e| format!("{path}: line {line}: fault '{}': {e}", spec.kind))?;
            for f in &faults {
                check_fault(f, &options)
                    .map_err(|e| format!("{path}: line {line}: fault '{}': {e}", spec.kind))?;
            }
            options.faults.extend(faults);
        }
        options.faults.sort_by_key(|f| f.at);
        if let Some(h) = &file.checks.hold_out {
            if h.from >= h.until || h.until > file.duration {
                return Err(format!(
                    "{path}: [checks] hold_out: needs from < until <= duration ({:?}), got {:?} to {:?}",
                    file.duration, h.from, h.until
                ));
            }
            if h.share.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
                return Err(format!(
                    "{path}: [checks] hold_out.share: must be between 0 and 1"
                ));
            }
            options.hold_out = Some((h.from, h.until));
        }
        if let Some(a) = &file.checks.alive_everywhere_within {
            if a.after > file.duration {
                return Err(format!(
                    "{path}: [checks] alive_everywhere_within.after = {:?} is after the end of the run ({:?})",
                    a.after, file.duration
                ));
            }
            options.alive_after = Some(a.after);
        }
        if file.checks.hostile() {
            options.hostile_report = true;
        }
        if let Some(d) = file.checks.no_lost_writes_within {
            options.write_deadline = d;
        }
        if (file.checks.entries_within_honest).is_some_and(|x| !(0.0..=10.0).contains(&x)) {
            return Err(format!(
                "{path}: [checks] entries_within_honest: a share between 0 and 10 (0.10: 10 %)"
            ));
        }
        options.validate().map_err(|e| format!("{path}: {e}"))?;
        Ok(Scenario {
            path: path.to_string(),
            description: file.description.unwrap_or_default(),
            options,
            checks: file.checks,
            text: text.to_string(),
        })
    }

    /// The checks the run failed or could not judge (see
    /// [`Scenario::verdicts`]).
    pub fn verify(&self, r: &Report) -> Vec<Verdict> {
        self.verdicts(r).into_iter().filter(|v| !v.passed).collect()
    }

    /// One verdict per check the scenario asks for (and one for the
    /// safety checker, which every run has): passed or failed, with the
    /// measured value beside its limit.
    pub fn verdicts(&self, r: &Report) -> Vec<Verdict> {
        let mut out = Vec::new();
        let mut judge = |check: &str, passed: bool, detail: String| {
            out.push(Verdict {
                check: check.into(),
                passed,
                measured: true,
                detail,
            })
        };
        let mut unmeasured = Vec::new();
        let ms = |d: Duration| d.as_millis() as u64;
        let end = format!("not by the end of the run ({})", secs(r.simulated_ms));
        let took = |t: Option<u64>| t.map_or_else(|| end.clone(), secs);
        match &r.violation {
            Some(v) => judge(
                "safety",
                false,
                format!("node-{} at {}: {}", v.node, secs(v.at_ms), v.what),
            ),
            None => judge(
                "safety",
                true,
                "no node broke a protocol invariant (the checker watched every step)".into(),
            ),
        }
        let c = &self.checks;
        if let Some(limit) = c.converged_within {
            judge(
                "converged_within",
                r.converged_ms.is_some_and(|t| t <= ms(limit)),
                format!(
                    "every live node saw exactly the live set alive at {} (limit {})",
                    took(r.converged_ms),
                    secs(ms(limit))
                ),
            );
        }
        if let Some(limit) = c.dead_everywhere_within {
            worst_of(
                &mut judge,
                &mut unmeasured,
                "dead_everywhere_within",
                "crashes",
                r.crashes.iter().map(|c| Timed {
                    name: format!("node-{} (crashed at {})", c.node, secs(c.crashed_at_ms)),
                    from_ms: c.crashed_at_ms,
                    took: c.all_dead_ms.map(|t| t - c.crashed_at_ms),
                    excuse: c
                        .restarted_at_ms
                        .map(|t| format!("restarted at {} before every node declared it", secs(t))),
                }),
                ms(limit),
                "dead on every live node",
                r.simulated_ms,
            );
        }
        if let Some(limit) = c.reconverge_within {
            worst_of(
                &mut judge,
                &mut unmeasured,
                "reconverge_within",
                "heals",
                r.heals.iter().map(|h| Timed {
                    name: format!("{} at {}", h.what, secs(h.healed_at_ms)),
                    from_ms: h.healed_at_ms,
                    took: h.reconverged_after_ms,
                    excuse: None,
                }),
                ms(limit),
                "every live node saw exactly the live set alive again",
                r.simulated_ms,
            );
        }
        if let Some(limit) = c.coverage_within {
            worst_of(
                &mut judge,
                &mut unmeasured,
                "coverage_within",
                "updates",
                r.coverage.iter().map(|c| {
                    let what = match &c.key {
                        Some(k) => format!("write of {k} by node-{} at {}", c.node, secs(c.at_ms)),
                        None => format!("update of node-{} at {}", c.node, secs(c.at_ms)),
                    };
                    Timed {
                        name: what,
                        from_ms: c.at_ms,
                        took: c.complete_after_ms,
                        excuse: None,
                    }
                }),
                ms(limit),
                "known by every live node",
                r.simulated_ms,
            );
        }
        if let Some(limit) = c.leave_everywhere_within {
            worst_of(
                &mut judge,
                &mut unmeasured,
                "leave_everywhere_within",
                "leaves",
                r.leaves.iter().map(|l| Timed {
                    name: format!("node-{} at {}", l.node, secs(l.left_at_ms)),
                    from_ms: l.left_at_ms,
                    took: l.left_everywhere_after_ms,
                    excuse: None,
                }),
                ms(limit),
                "reported left by every live node",
                r.simulated_ms,
            );
        }
        if let Some(limit) = c.events_everywhere_within {
            worst_of(
                &mut judge,
                &mut unmeasured,
                "events_everywhere_within",
                "user events",
                r.deliveries.iter().map(|d| Timed {
                    name: format!(
                        "{:?} of node-{} at {} ({} of {} delivered)",
                        d.name,
                        d.origin,
                        secs(d.at_ms),
                        d.delivered,
                        d.expected
                    ),
                    from_ms: d.at_ms,
                    took: d.everywhere_after_ms,
                    excuse: None,
                }),
                ms(limit),
                "delivered by every node running from its firing on",
                r.simulated_ms,
            );
        }
        if let Some(share) = c.queries_complete {
            let worst = r.queries.iter().min_by(|a, b| {
                a.complete
                    .total_cmp(&b.complete)
                    .then(b.done.is_none().cmp(&a.done.is_none()))
            });
            let failed = r
                .queries
                .iter()
                .filter(|q| q.complete < share || q.done.is_none())
                .count();
            if r.queries.is_empty() {
                unmeasured.push("queries_complete".to_string());
            }
            let detail = match worst {
                None => "no query was asked: nothing to measure".to_string(),
                Some(q) => format!(
                    "{failed} of {} queries short; lowest: {:?} of node-{} at {}, {} of {} responses ({:.2} %; at least {:.2} % wanted){}",
                    r.queries.len(),
                    q.name,
                    q.origin,
                    secs(q.at_ms),
                    q.responded,
                    q.expected,
                    q.complete * 100.0,
                    share * 100.0,
                    if q.done.is_none() { ", and the origin never finished it" } else { "" }
                ),
            };
            judge(
                "queries_complete",
                failed == 0 && !r.queries.is_empty(),
                detail,
            );
        }
        if c.events_once {
            let dups: u64 = r.deliveries.iter().map(|d| d.duplicates).sum();
            let replayed: u64 = r.deliveries.iter().map(|d| d.replayed).sum();
            if r.deliveries.is_empty() {
                unmeasured.push("events_once".to_string());
            }
            judge(
                "events_once",
                dups + replayed == 0 && !r.deliveries.is_empty(),
                format!(
                    "{dups} user events delivered twice and {replayed} by processes started after them, over {} events (limit 0 each)",
                    r.deliveries.len()
                ),
            );
        }
        if let Some(limit) = c.keys_complete_within {
            worst_of(
                &mut judge,
                &mut unmeasured,
                "keys_complete_within",
                "restarts",
                r.catch_ups.iter().map(|c| Timed {
                    name: format!("node-{} at {}", c.node, secs(c.restarted_at_ms)),
                    from_ms: c.restarted_at_ms,
                    took: c.keys_complete_after_ms,
                    excuse: None,
                }),
                ms(limit),
                "held every running node's keys",
                r.simulated_ms,
            );
        }
        if c.no_false_deaths {
            judge(
                "no_false_deaths",
                r.false_positive_deaths == 0,
                format!(
                    "{} dead verdicts about a member healthy and reachable from its view (limit 0; {} expected deaths)",
                    r.false_positive_deaths, r.expected_deaths
                ),
            );
        }
        if c.no_false_deaths_in_healthy_views {
            judge(
                "no_false_deaths_in_healthy_views",
                r.false_deaths_in_healthy_views == 0,
                format!(
                    "{} false deaths by views that were never sick (limit 0)",
                    r.false_deaths_in_healthy_views
                ),
            );
        }
        if c.no_false_suspicions {
            judge(
                "no_false_suspicions",
                r.false_suspicions == 0,
                format!("{} false suspicions (limit 0)", r.false_suspicions),
            );
        }
        if c.settled_at_end {
            judge(
                "settled_at_end",
                r.unsettled_at_end == 0,
                format!(
                    "{} (viewer, member) pairs of running nodes held neither alive nor suspect at the end (limit 0; {} held alive, {} suspect)",
                    r.unsettled_at_end, r.alive_pairs_at_end, r.suspect_pairs_at_end
                ),
            );
        }
        if let Some(h) = &c.hold_out {
            let mut problems = Vec::new();
            if r.hold_out.is_empty() {
                problems
                    .push("no member was sick during the window: nothing was measured".to_string());
            }
            for m in &r.hold_out {
                if let Some(share) = h.share.filter(|&s| m.min_share < s) {
                    problems.push(format!(
                        "node-{} held out by only {:.1}% of healthy views at {} (at least {:.1}%)",
                        m.member,
                        m.min_share * 100.0,
                        secs(m.min_at_ms),
                        share * 100.0
                    ));
                }
                if let Some(max) = h.max_flips.filter(|&x| m.max_flips_per_view > x) {
                    problems.push(format!(
                        "node-{} flipped dead -> alive up to {} times by one healthy view (at most {max}; {} flips in all)",
                        m.member, m.max_flips_per_view, m.flips
                    ));
                }
            }
            let lowest = r
                .hold_out
                .iter()
                .map(|m| m.min_share)
                .fold(f64::INFINITY, f64::min);
            let flips = r
                .hold_out
                .iter()
                .map(|m| m.max_flips_per_view)
                .max()
                .unwrap_or(0);
            let detail = if problems.is_empty() {
                format!(
                    "{} sick members held out by at least {:.1}% of healthy views (limit {}), at most {flips} flips by one view (limit {})",
                    r.hold_out.len(),
                    lowest * 100.0,
                    h.share.map_or("none".into(), |s| format!("{:.1}%", s * 100.0)),
                    h.max_flips.map_or("none".into(), |x| x.to_string()),
                )
            } else {
                problems.join("; ")
            };
            judge("hold_out", problems.is_empty(), detail);
        }
        if let Some(a) = &c.alive_everywhere_within {
            let limit = ms(a.after + a.within);
            judge(
                "alive_everywhere_within",
                r.alive_everywhere_ms.is_some_and(|t| t <= limit),
                format!(
                    "every running node held exactly the running nodes alive at {} (limit {})",
                    took(r.alive_everywhere_ms),
                    secs(limit)
                ),
            );
        }
        let hostile = r.hostile.clone().unwrap_or_default();
        if let Some(limit) = c.no_forged_values_after {
            let t = hostile.forged_after_write_max_ms;
            judge(
                "no_forged_values_after",
                t.is_none_or(|t| t <= ms(limit)),
                format!(
                    "a forged value stayed at most {} after its owner's next write (limit {}); {} (reader, owner, key) took one",
                    t.map_or("0 s".into(), secs),
                    secs(ms(limit)),
                    hostile.forged_keys
                ),
            );
        }
        if c.no_lost_writes_within.is_some() {
            judge(
                "no_lost_writes_within",
                hostile.writes_lost == 0,
                format!(
                    "{} of {} owner writes not visible everywhere within {} (limit 0){}",
                    hostile.writes_lost,
                    hostile.writes_checked,
                    secs(hostile.write_deadline_ms),
                    hostile
                        .lost_examples
                        .first()
                        .map(|e| format!("; first: {e}"))
                        .unwrap_or_default()
                ),
            );
        }
        if c.no_resurrections {
            judge(
                "no_resurrections",
                hostile.resurrections == 0,
                format!(
                    "{} values taken back after their owner superseded them (limit 0)",
                    hostile.resurrections
                ),
            );
        }
        if c.no_namespaces_over_limits {
            judge(
                "no_namespaces_over_limits",
                hostile.namespaces_over_limits == 0,
                format!(
                    "{} (node, owner) namespaces above the limits (limit 0)",
                    hostile.namespaces_over_limits
                ),
            );
        }
        if let Some(share) = c.entries_within_honest {
            let (passed, detail) = match (hostile.excess_over_honest(), &hostile.honest) {
                (Some(x), Some(h)) => (
                    x <= share,
                    format!(
                        "{:.1}% over the honest run (limit {:.1}%): members {} mean / {} peak against {} / {}, key bytes {} / {} against {} / {}",
                        x * 100.0,
                        share * 100.0,
                        hostile.members_mean,
                        hostile.members_peak,
                        h.members_mean,
                        h.members_peak,
                        hostile.key_bytes_mean,
                        hostile.key_bytes_peak,
                        h.key_bytes_mean,
                        h.key_bytes_peak
                    ),
                ),
                (None, _) if hostile.forged_sent.is_empty() => {
                    (true, "nothing was forged: the run is the honest one".into())
                }
                _ => (false, "no honest run to compare with (Scenario::attach_honest)".into()),
            };
            judge("entries_within_honest", passed, detail);
        }
        if c.keys_agree_at_end {
            judge(
                "keys_agree_at_end",
                r.keys_agree_at_end,
                if r.keys_agree_at_end {
                    "every running node held every running node's keys as their owner does".into()
                } else {
                    "some node's copy of a namespace differs from its owner's when the run ended"
                        .into()
                },
            );
        }
        if c.converged_at_end {
            judge(
                "converged_at_end",
                r.converged_at_end,
                if r.converged_at_end {
                    "every live node saw exactly the live set alive when the run ended".into()
                } else {
                    format!(
                        "not converged when the run ended ({} (viewer, member) pairs held alive, {} suspect, {} neither)",
                        r.alive_pairs_at_end, r.suspect_pairs_at_end, r.unsettled_at_end
                    )
                },
            );
        }
        for v in &mut out {
            v.measured = !unmeasured.contains(&v.check);
        }
        out
    }
}

/// `1.544 s`, the unit every verdict uses.
pub fn secs(ms: u64) -> String {
    format!("{:.3} s", ms as f64 / 1000.0)
}

/// One item a timed check judges: what, from when, how long it took
/// (`None`: not by the end of the run), and why it cannot be judged.
struct Timed {
    name: String,
    from_ms: u64,
    took: Option<u64>,
    excuse: Option<String>,
}

/// One verdict over a list of timed items: passed when every item took at
/// most `limit` ms; the detail names the slowest (or the first missing).
/// An item that did not get there is not judged when something ended its
/// measurement (a crashed node restarted) or the run ended before its
/// limit; a check that judged nothing is recorded in `unmeasured`.
#[allow(clippy::too_many_arguments)]
fn worst_of(
    judge: &mut impl FnMut(&str, bool, String),
    unmeasured: &mut Vec<String>,
    check: &str,
    noun: &str,
    items: impl Iterator<Item = Timed>,
    limit: u64,
    what: &str,
    end_ms: u64,
) {
    let items: Vec<Timed> = items.collect();
    let excuse = |t: &Timed| -> Option<String> {
        if t.took.is_some() {
            return None;
        }
        t.excuse.clone().or_else(|| {
            (t.from_ms.saturating_add(limit) > end_ms).then(|| {
                format!(
                    "the run ended {} after it, before the limit",
                    secs(end_ms.saturating_sub(t.from_ms))
                )
            })
        })
    };
    let judged: Vec<&Timed> = items.iter().filter(|t| excuse(t).is_none()).collect();
    let failed = judged
        .iter()
        .filter(|t| t.took.is_none_or(|t| t > limit))
        .count();
    let unjudged: Vec<String> = (items.iter())
        .filter_map(|t| excuse(t).map(|why| format!("{}: {why}", t.name)))
        .collect();
    let not_judged = if unjudged.is_empty() {
        String::new()
    } else {
        format!("; not judged: {}", unjudged.join(", "))
    };
    let worst = judged.iter().max_by_key(|t| t.took.unwrap_or(u64::MAX));
    let detail = match worst {
        None if items.is_empty() => {
            format!("no {noun} in the run: nothing to measure (limit {})", secs(limit))
        }
        None => format!(
            "nothing to measure (limit {}){}",
            secs(limit),
            not_judged
        ),
        Some(t) => format!(
            "{} {noun}, {failed} over the limit; slowest: {}, {what} after {} (limit {}){not_judged}",
            judged.len(),
            t.name,
            t.took.map_or_else(
                || format!("not by the end of the run ({})", secs(end_ms)),
                secs
            ),
            secs(limit)
        ),
    };
    if judged.is_empty() {
        unmeasured.push(check.to_string());
    }
    judge(check, failed == 0 && !judged.is_empty(), detail);
}

fn network(n: NetworkSpec) -> Network {
    let default = Network::default();
    Network {
        latency: match n.latency {
            None => default.latency,
            Some(LatencySpec::Fixed { value }) => Latency::Fixed(value),
            Some(LatencySpec::Uniform { min, max }) => Latency::Uniform { min, max },
            Some(LatencySpec::LongTail { min, median, max }) => {
                Latency::LongTail { min, median, max }
            }
        },
        loss: n.loss,
        duplicate: n.duplicate,
        reorder: n.reorder,
        reorder_delay: n.reorder_delay.unwrap_or(default.reorder_delay),
        stream_timeout: n.stream_timeout.unwrap_or(default.stream_timeout),
        link_loss: n
            .link_loss
            .into_iter()
            .map(|l| (l.from, l.to, l.rate))
            .collect(),
        stream_bandwidth: n.stream_bandwidth.map(|r| r.0),
        node_bandwidth: n
            .node_bandwidth
            .into_iter()
            .map(|r| (r.node, r.rate.0))
            .collect(),
    }
}

fn check_fault(f: &Fault, o: &Options) -> Result<(), String> {
    if let Some(n) = f.kind.nodes().into_iter().find(|&n| n >= o.nodes) {
        return Err(format!(
            "node {n} does not exist (nodes are 0..{})",
            o.nodes - 1
        ));
    }
    if f.at > o.duration {
        return Err(format!(
            "at {:?} is after the end of the run ({:?})",
            f.at, o.duration
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::FaultKind;

    const GOOD: &str = r#"
description = "test"
nodes = 10
duration = "30s"
preset = "local"

[config]
gossip_fanout = 4
probe_timeout = "300ms"

[network]
latency = { kind = "long-tail", min = "1ms", median = "2ms", max = "50ms" }
loss = 0.05

[[fault]]
at = "5s"
kind = "crash"
nodes = "20%"

[[fault]]
at = "10s"
kind = "partition"
groups = [[0, 1], [2, 3]]

[[fault]]
at = "12s"
kind = "restart"
nodes = [4, 5]
every = "1s"

[checks]
converged_within = "5s"
no_false_deaths = true
"#;

    #[test]
    fn config_takes_every_field_the_old_match_refused() {
        let s = Scenario::parse(
            "nodes = 3\nduration = \"10s\"\npreset = \"wan\"\n[config]\n\
             join_retry_min = \"1s\"\njoin_retry_max = \"10s\"\njoin_attempts = 3\n\
             max_stream_frame = 131072\nnack = false\nsealing = \"send\"\n",
            "t.toml",
        )
        .unwrap();
        let c = &s.options.config;
        assert_eq!(
            (c.join_retry_min, c.join_retry_max, c.join_attempts),
            (Duration::from_secs(1), Duration::from_secs(10), 3)
        );
        assert_eq!((c.max_stream_frame, c.nack), (131_072, false));
        assert_eq!(c.sealing, swim_core::Sealing::Send);
        assert_eq!(c.probe_interval, swim_core::Config::wan().probe_interval);
    }

    #[test]
    fn a_good_scenario_parses_into_options() {
        let s = Scenario::parse(GOOD, "good.toml").unwrap();
        assert_eq!(s.options.nodes, 10);
        assert_eq!(s.options.config.gossip_fanout, 4);
        assert_eq!(s.options.config.probe_timeout, Duration::from_millis(300));
        assert_eq!(s.options.network.loss, 0.05);
        assert_eq!(s.options.faults.len(), 5);
        assert!(matches!(s.options.faults[0].kind, FaultKind::Crash(n) if n != 0));
        assert_eq!(s.options.faults[3].kind, FaultKind::Restart(4));
        assert_eq!(s.options.faults[4].at, Duration::from_secs(13));
        assert_eq!(s.checks.converged_within, Some(Duration::from_secs(5)));
        assert!(s.checks.no_false_deaths);
    }

    fn error(text: &str) -> String {
        Scenario::parse(text, "bad.toml").unwrap_err()
    }

    #[test]
    fn bad_scenarios_name_the_file_the_line_and_what_was_expected() {
        let e = error("nodes = 3\nduration = \"10s\"\nnodez = 4\n");
        assert!(
            e.starts_with("bad.toml: line 3:") && e.contains("unknown field `nodez`"),
            "{e}"
        );
        let e = error(
            "nodes = 3\nduration = \"10s\"\n\n[[fault]]\nat = \"1s\"\nkind = \"crash\"\nnode = 7\n",
        );
        assert!(
            e.starts_with("bad.toml: line 4:")
                && e.contains("node 7 does not exist (nodes are 0..2)"),
            "{e}"
        );
        let e =
            error("nodes = 3\nduration = \"10s\"\n\n[[fault]]\nat = \"11s\"\nkind = \"heal\"\n");
        assert!(
            e.contains("line 4") && e.contains("after the end of the run"),
            "{e}"
        );
        let e = error("nodes = 3\nduration = \"10s\"\n[checks]\nconverged_within = true\n");
        assert!(
            e.contains("line 4")
                && e.contains("invalid type: boolean `true`, expected a duration such as"),
            "{e}"
        );
        let e = error(
            "nodes = 3\nduration = \"10s\"\n[[fault]]\nat = \"1s\"\nkind = \"explode\"\nnode = 1\n",
        );
        assert!(e.contains("unknown kind 'explode'"), "{e}");
        // Integers are milliseconds, as in the agent's config: 5 ms is
        // below the range, which the error gives.
        let e = error("nodes = 3\nduration = \"10s\"\n[config]\nprobe_interval = 5\n");
        assert_eq!(
            e,
            "bad.toml: [config] invalid config: probe_interval = 5ms (allowed: 10ms to 10min) \
             (on preset lan)"
        );
        let e = error("nodes = 3\nduration = \"10s\"\n[config]\nprobe_intervall = \"1s\"\n");
        assert!(
            e.starts_with("bad.toml: line 4: unknown field `probe_intervall`, expected one of")
                && e.contains("`max_stream_frame`"),
            "{e}"
        );
        let e = error("nodes = 3\nduration = \"10s\"\npreset = \"fast\"\n");
        assert!(
            e.starts_with("bad.toml: line 3:") && e.contains("unknown variant `fast`"),
            "{e}"
        );
        let e = error("nodes = 3\nduration = \"ten seconds\"\n");
        assert!(
            e.contains("line 2") && e.contains("invalid duration"),
            "{e}"
        );
    }

    const PARTIAL: &str = r#"
nodes = 10
duration = "60s"

[[fault]]
at = "1s"
kind = "join"
nodes = [8, 9]
every = "2s"

[[fault]]
at = "10s"
kind = "loss"
node = 3
direction = "inbound"
rate = 0.8
until = "20s"

[[fault]]
at = "12s"
kind = "partition"
name = "split"
groups = [[0, 1]]

[[fault]]
at = "30s"
kind = "heal"
fault = "split"

[[fault]]
at = "5s"
kind = "pause"
node = 4
duration = "1s..8s"
every = "10s"
count = 3

[checks]
hold_out = { from = "15s", until = "20s", share = 0.9, max_flips = 1 }
alive_everywhere_within = { after = "30s", within = "20s" }
"#;

    #[test]
    fn partial_failures_parse_into_timed_named_faults() {
        let s = Scenario::parse(PARTIAL, "p.toml").unwrap();
        let kinds: Vec<(u64, String)> = (s.options.faults.iter())
            .map(|f| (f.at.as_secs(), format!("{:?}", f.kind)))
            .collect();
        let has = |at: u64, text: &str| kinds.iter().any(|(t, k)| *t == at && k.contains(text));
        assert!(has(1, "Join(8)") && has(3, "Join(9)"), "{kinds:?}");
        assert!(
            has(
                10,
                "Named { name: \"#1.0\", fault: Loss { nodes: [3], direction: Inbound, rate: 0.8 }"
            ),
            "{kinds:?}"
        );
        assert!(has(20, "HealNamed(\"#1.0\")"), "{kinds:?}");
        assert!(
            has(12, "Named { name: \"split\", fault: Partition"),
            "{kinds:?}"
        );
        assert!(has(30, "HealNamed(\"split\")"), "{kinds:?}");
        let pauses: Vec<(u64, Duration)> = (s.options.faults.iter())
            .filter_map(|f| match f.kind {
                FaultKind::Pause { node: 4, duration } => Some((f.at.as_secs(), duration)),
                _ => None,
            })
            .collect();
        assert_eq!(pauses.iter().map(|p| p.0).collect::<Vec<_>>(), [5, 15, 25]);
        assert!(pauses
            .iter()
            .all(|p| p.1 >= Duration::from_secs(1) && p.1 <= Duration::from_secs(8)));
        assert_eq!(
            s.options.hold_out,
            Some((Duration::from_secs(15), Duration::from_secs(20)))
        );
        assert_eq!(s.options.alive_after, Some(Duration::from_secs(30)));
    }

    #[test]
    fn bad_partial_failures_say_what_is_allowed() {
        let base = "nodes = 5\nduration = \"60s\"\n[[fault]]\nat = \"1s\"\n";
        let e = error(&format!(
            "{base}kind = \"loss\"\nnode = 1\nrate = 0.5\ndirection = \"up\"\n"
        ));
        assert!(
            e.starts_with("bad.toml: line 3: fault 'loss': direction = \"up\": expected \"inbound\", \"outbound\" or \"both\""),
            "{e}"
        );
        let e = error(&format!("{base}kind = \"loss\"\nnode = 1\nrate = 1.5\n"));
        assert!(
            e.contains("needs rate = P, a probability between 0 and 1"),
            "{e}"
        );
        let e = error(&format!("{base}kind = \"heal\"\nfault = \"nope\"\n"));
        assert!(
            e.contains("fault = \"nope\": no fault has that name (names given: none)"),
            "{e}"
        );
        let e = error(&format!("{base}kind = \"crash\"\nnode = 1\nname = \"x\"\n"));
        assert!(
            e.contains(
                "name = \"...\" is allowed on partition, partition-oneway and loss faults only"
            ),
            "{e}"
        );
        let e = error(&format!(
            "{base}kind = \"pause\"\nnode = 1\nduration = \"1s\"\ncount = 3\n"
        ));
        assert!(e.contains("count = 3 needs every"), "{e}");
        let e = error(&format!(
            "{base}kind = \"pause\"\nnode = 1\nduration = \"8s..1s\"\n"
        ));
        assert!(
            e.contains("line 7") && e.contains("the range is empty"),
            "{e}"
        );
        let e = error(&format!(
            "{base}kind = \"loss\"\nnode = 1\nrate = 0.5\nuntil = \"1s\"\n"
        ));
        assert!(e.contains("until 1s is not after at 1s"), "{e}");
        let e = error("nodes = 5\nduration = \"60s\"\n[checks]\nhold_out = { from = \"50s\", until = \"40s\" }\n");
        assert!(e.contains("hold_out: needs from < until"), "{e}");
    }

    #[test]
    fn a_hostile_fault_parses_with_its_attacks() {
        let base = "nodes = 5\nduration = \"60s\"\nsealed = true\n[[fault]]\nat = \"10s\"\nkind = \"hostile\"\n";
        let s = Scenario::parse(
            &format!("{base}node = 2\nsealed = true\nevery = \"500ms\"\nuntil = \"50s\"\nattacks = [\"forge-write\", \"reply\"]\n[checks]\nno_resurrections = true\n"),
            "h.toml",
        )
        .unwrap();
        assert!(s.options.hostile_report && s.has_hostile());
        assert_eq!(
            s.options.faults[0].kind,
            FaultKind::Hostile(crate::hostile::Hostile {
                node: Some(2),
                every: Duration::from_millis(500),
                until: Duration::from_secs(50),
                sealed: true,
                attacks: vec![
                    crate::hostile::Attack::ForgeWrite,
                    crate::hostile::Attack::Reply
                ],
            })
        );
        assert!(s.honest().options.faults.is_empty());
        let e = error(&format!(
            "{base}every = \"1s\"\nuntil = \"50s\"\nattacks = [\"lie\"]\n"
        ));
        assert!(
            e.contains("attack 'lie': expected one of forge-write"),
            "{e}"
        );
        let e = error(&format!(
            "{base}every = \"1s\"\nuntil = \"50s\"\nattacks = [\"reply\"]\n"
        ));
        assert!(e.contains("'reply' needs node"), "{e}");
        let e = error(&format!("{base}node = 1\nuntil = \"50s\"\n"));
        assert!(e.contains("needs every"), "{e}");
    }
}
