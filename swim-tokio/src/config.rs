//! How to start an agent: [`AgentConfig`] for code, [`FileConfig`] for TOML files.

use bytes::Bytes;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The protocol preset a node starts from (see `swim_core::Config`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// A local network: `Config::lan()` (the default).
    #[default]
    Lan,
    /// Across data centres: `Config::wan()`, longer timeouts.
    Wan,
    /// One host (loopback): `Config::local()`, short timeouts.
    Local,
}

impl Preset {
    /// The protocol config of this preset.
    pub fn config(self) -> swim_core::Config {
        match self {
            Preset::Lan => swim_core::Config::lan(),
            Preset::Wan => swim_core::Config::wan(),
            Preset::Local => swim_core::Config::local(),
        }
    }

    /// The preset's lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Lan => "lan",
            Preset::Wan => "wan",
            Preset::Local => "local",
        }
    }
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lan" => Ok(Preset::Lan),
            "wan" => Ok(Preset::Wan),
            "local" => Ok(Preset::Local),
            other => Err(format!(
                "unknown preset `{other}` (expected lan, wan or local)"
            )),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything [`start`](crate::start) needs to run one node.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Unique node name in the cluster.
    pub name: String,
    /// Local address for the UDP socket and the TCP listener (port 0 picks a free one).
    pub bind: SocketAddr,
    /// The address peers reach this node at, when it differs from `bind`
    /// (NAT, or `bind` is a wildcard such as `0.0.0.0`).
    pub advertise: Option<SocketAddr>,
    /// Seeds to join at start, as `HOST:PORT` (resolved at start).
    pub seeds: Vec<String>,
    /// Protocol parameters.
    pub protocol: swim_core::Config,
    /// Initial application metadata.
    pub meta: Bytes,
    /// Keys this node sets at start (its tags), in order.
    pub tags: Vec<(String, String)>,
    /// Limit on each step of a push-pull stream (connect, write, read).
    pub stream_timeout: Duration,
    /// How long a graceful leave may take before the node stops anyway.
    pub leave_timeout: Duration,
    /// Events buffered per subscriber before a slow one misses some.
    pub event_capacity: usize,
    /// Bytes of incoming stream frames held at once, over all streams
    /// (default 32 MiB): a frame is read as its bytes arrive, each chunk
    /// taken from this budget, so peers announcing large frames cannot make
    /// the agent hold more. A frame larger than the budget cannot be read.
    pub stream_budget: usize,
    /// Cluster keys, the primary first (none: plain traffic). How the node
    /// treats plain traffic is `protocol.sealing`.
    pub keys: Vec<swim_core::Key>,
    /// Where the keyring is kept: rewritten whenever a key operation
    /// changes the keys (see [`crate::keyring`]).
    pub keyring_file: Option<std::path::PathBuf>,
}

impl AgentConfig {
    /// A node named `name` on `bind`, with the given preset and the defaults
    /// for everything else.
    pub fn new(name: impl Into<String>, bind: SocketAddr, preset: Preset) -> Self {
        AgentConfig {
            name: name.into(),
            bind,
            advertise: None,
            seeds: Vec::new(),
            protocol: preset.config(),
            meta: Bytes::new(),
            tags: Vec::new(),
            stream_timeout: Duration::from_secs(10),
            leave_timeout: Duration::from_secs(15),
            event_capacity: 1024,
            stream_budget: 32 << 20,
            keys: Vec::new(),
            keyring_file: None,
        }
    }
}

/// A duration in a config file: `"250ms"`, `"1s"`, `"1.5s"`, `"2m"`, `"1h"`,
/// or an integer number of milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

pub use swim_core::parse_duration;

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"250ms\", \"1s\" or \"2m\", or milliseconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ConfigDuration, E> {
                parse_duration(v).map(ConfigDuration).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ConfigDuration, E> {
                u64::try_from(v)
                    .map(|ms| ConfigDuration(Duration::from_millis(ms)))
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ConfigDuration, E> {
                Ok(ConfigDuration(Duration::from_millis(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Protocol parameters that override the preset (the `[protocol]` table).
///
/// Every field mirrors the `swim_core::Config` field of the same name;
/// durations are strings such as `"500ms"`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ProtocolOverrides {
    pub cluster: Option<String>,
    pub probe_interval: Option<ConfigDuration>,
    pub probe_timeout: Option<ConfigDuration>,
    pub indirect_checks: Option<usize>,
    pub gossip_interval: Option<ConfigDuration>,
    pub gossip_fanout: Option<usize>,
    pub retransmit_mult: Option<u32>,
    pub suspicion_mult: Option<u32>,
    pub suspicion_max_timeout_mult: Option<u32>,
    pub push_pull_interval: Option<ConfigDuration>,
    pub gossip_to_the_dead: Option<ConfigDuration>,
    pub reap_after: Option<ConfigDuration>,
    pub awareness_max_multiplier: Option<u32>,
    pub max_packet_size: Option<usize>,
    pub max_stream_frame: Option<usize>,
    pub max_meta_size: Option<usize>,
    pub join_retry_min: Option<ConfigDuration>,
    pub join_retry_max: Option<ConfigDuration>,
    pub join_attempts: Option<u32>,
    pub tombstone_grace: Option<ConfigDuration>,
    pub max_members: Option<usize>,
    /// `"accept"`, `"send"` or `"require"` (see `swim_core::Sealing`).
    pub sealing: Option<SealingName>,
}

/// A [`swim_core::Sealing`] step as configs write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealingName(pub swim_core::Sealing);

impl FromStr for SealingName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        swim_core::Sealing::parse(s)
            .map(SealingName)
            .ok_or_else(|| format!("unknown sealing step `{s}` (expected accept, send or require)"))
    }
}

impl<'de> Deserialize<'de> for SealingName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

impl ProtocolOverrides {
    /// Writes every field that is set into `c`.
    pub fn apply(&self, c: &mut swim_core::Config) {
        fn set<T: Clone>(dst: &mut T, src: &Option<T>) {
            if let Some(v) = src {
                *dst = v.clone();
            }
        }
        fn dur(dst: &mut Duration, src: &Option<ConfigDuration>) {
            if let Some(v) = src {
                *dst = v.0;
            }
        }
        set(&mut c.cluster, &self.cluster);
        dur(&mut c.probe_interval, &self.probe_interval);
        dur(&mut c.probe_timeout, &self.probe_timeout);
        set(&mut c.indirect_checks, &self.indirect_checks);
        dur(&mut c.gossip_interval, &self.gossip_interval);
        set(&mut c.gossip_fanout, &self.gossip_fanout);
        set(&mut c.retransmit_mult, &self.retransmit_mult);
        set(&mut c.suspicion_mult, &self.suspicion_mult);
        set(
            &mut c.suspicion_max_timeout_mult,
            &self.suspicion_max_timeout_mult,
        );
        dur(&mut c.push_pull_interval, &self.push_pull_interval);
        dur(&mut c.gossip_to_the_dead, &self.gossip_to_the_dead);
        dur(&mut c.reap_after, &self.reap_after);
        set(
            &mut c.awareness_max_multiplier,
            &self.awareness_max_multiplier,
        );
        set(&mut c.max_packet_size, &self.max_packet_size);
        set(&mut c.max_stream_frame, &self.max_stream_frame);
        set(&mut c.max_meta_size, &self.max_meta_size);
        dur(&mut c.join_retry_min, &self.join_retry_min);
        dur(&mut c.join_retry_max, &self.join_retry_max);
        set(&mut c.join_attempts, &self.join_attempts);
        dur(&mut c.tombstone_grace, &self.tombstone_grace);
        set(&mut c.max_members, &self.max_members);
        if let Some(s) = self.sealing {
            c.sealing = s.0;
        }
    }
}

/// The agent's TOML config file: every command-line option of `swim agent`
/// plus protocol overrides. Unknown keys are an error.
///
/// ```toml
/// name = "node-1"
/// bind = "10.0.0.1:7946"
/// advertise = "203.0.113.1:7946"
/// join = ["10.0.0.2:7946"]
/// preset = "lan"
/// control = "127.0.0.1:7373"
/// control_token_file = "control.token"
/// control_header_timeout = "10s"
/// log = "info"
/// stream_timeout = "10s"
/// leave_timeout = "15s"
///
/// [protocol]
/// probe_interval = "500ms"
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Node name.
    pub name: Option<String>,
    /// Bind address (`IP:PORT`).
    pub bind: Option<String>,
    /// Advertise address (`IP:PORT`).
    pub advertise: Option<String>,
    /// Seeds to join (`HOST:PORT`).
    #[serde(default)]
    pub join: Vec<String>,
    /// Protocol preset.
    pub preset: Option<Preset>,
    /// Control API address.
    pub control: Option<String>,
    /// File holding the control API's bearer token (relative to the config
    /// file's directory); mandatory when `control` is not a loopback address.
    pub control_token_file: Option<std::path::PathBuf>,
    /// How long the control API waits for a request's headers before it
    /// closes the connection (default 10 s).
    pub control_header_timeout: Option<ConfigDuration>,
    /// Log filter, e.g. `"info"` or `"swim_tokio=debug,info"`.
    pub log: Option<String>,
    /// Limit on each step of a push-pull stream.
    pub stream_timeout: Option<ConfigDuration>,
    /// How long a graceful leave may take.
    pub leave_timeout: Option<ConfigDuration>,
    /// Initial metadata (UTF-8 text).
    pub meta: Option<String>,
    /// The keyring file (cluster keys, primary first).
    pub keyring_file: Option<PathBuf>,
    /// Keys set at start, e.g. `tags = { role = "web" }`.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    /// Protocol overrides.
    #[serde(default)]
    pub protocol: ProtocolOverrides,
}

/// A config file that could not be read or parsed.
#[derive(Debug)]
pub struct FileConfigError {
    /// The file.
    pub path: String,
    /// What went wrong, on one line.
    pub message: String,
}

impl fmt::Display for FileConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config file {}: {}", self.path, self.message)
    }
}

impl std::error::Error for FileConfigError {}

impl FileConfig {
    /// Parses TOML text; `path` is only used in errors.
    pub fn parse(text: &str, path: &str) -> Result<FileConfig, FileConfigError> {
        toml::from_str(text).map_err(|e| {
            let mut message = e.message().replace('\n', " ");
            if let Some(span) = e.span() {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                message = format!("line {line}: {message}");
            }
            FileConfigError {
                path: path.to_string(),
                message,
            }
        })
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<FileConfig, FileConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| FileConfigError {
            path: shown.clone(),
            message: format!("cannot read it: {e}"),
        })?;
        FileConfig::parse(&text, &shown)
    }

    /// The keys of this file that differ in `new` and that a running agent
    /// cannot apply (everything but `tags` and `log`): they need a restart.
    pub fn restart_needed(&self, new: &FileConfig) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut check = |name, differs: bool| {
            if differs {
                out.push(name);
            }
        };
        check("name", self.name != new.name);
        check("bind", self.bind != new.bind);
        check("advertise", self.advertise != new.advertise);
        check("join", self.join != new.join);
        check("preset", self.preset != new.preset);
        check("control", self.control != new.control);
        check(
            "control_token_file",
            self.control_token_file != new.control_token_file,
        );
        check(
            "control_header_timeout",
            self.control_header_timeout != new.control_header_timeout,
        );
        check("stream_timeout", self.stream_timeout != new.stream_timeout);
        check("leave_timeout", self.leave_timeout != new.leave_timeout);
        check("meta", self.meta != new.meta);
        check("keyring_file", self.keyring_file != new.keyring_file);
        check("protocol", self.protocol != new.protocol);
        out
    }
}

/// What turns the tags `old` (the keys a previous load set) into `new`:
/// the keys to set (new, or with a changed value) and the keys to delete
/// (tags before, gone now). Keys that were never tags are not touched.
pub fn tag_changes(
    old: &std::collections::BTreeMap<String, String>,
    new: &std::collections::BTreeMap<String, String>,
) -> (Vec<(String, String)>, Vec<String>) {
    let set = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let delete = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    (set, delete)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_config_parses_and_applies() {
        let f = FileConfig::parse(
            "name = \"a\"\nbind = \"127.0.0.1:7946\"\njoin = [\"127.0.0.1:7947\"]\npreset = \"local\"\n\
             [protocol]\nprobe_interval = \"500ms\"\ngossip_fanout = 4\nreap_after = 60000\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(f.preset, Some(Preset::Local));
        let mut c = f.preset.unwrap_or_default().config();
        f.protocol.apply(&mut c);
        assert_eq!(c.probe_interval, Duration::from_millis(500));
        assert_eq!(c.gossip_fanout, 4);
        assert_eq!(c.reap_after, Duration::from_secs(60));
        assert_eq!(c.probe_timeout, Duration::from_millis(200));
    }

    #[test]
    fn control_keys_parse() {
        let f = FileConfig::parse(
            "control = \"0.0.0.0:7373\"\ncontrol_token_file = \"t.token\"\ncontrol_header_timeout = \"500ms\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(f.control_token_file, Some("t.token".into()));
        assert_eq!(
            f.control_header_timeout,
            Some(ConfigDuration(Duration::from_millis(500)))
        );
        let e = FileConfig::parse("control_token = \"secret\"\n", "t.toml").unwrap_err();
        assert!(e.to_string().contains("`control_token`"), "{e}");
    }

    #[test]
    fn tag_changes_set_new_and_changed_and_delete_only_former_tags() {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let old = map(&[("role", "web"), ("dc", "a"), ("rack", "1")]);
        let new = map(&[("role", "db"), ("dc", "a"), ("zone", "z")]);
        let (set, delete) = tag_changes(&old, &new);
        assert_eq!(
            set,
            vec![("role".into(), "db".into()), ("zone".into(), "z".into())]
        );
        assert_eq!(delete, vec!["rack".to_string()]);
        assert_eq!(tag_changes(&new, &new), (vec![], vec![]));
    }

    #[test]
    fn restart_needed_names_what_a_reload_cannot_apply() {
        let a = FileConfig::parse(
            "name = \"a\"\nbind = \"127.0.0.1:1\"\nlog = \"info\"\ntags = { r = \"1\" }\n",
            "t.toml",
        )
        .unwrap();
        let b = FileConfig::parse(
            "name = \"a\"\nbind = \"127.0.0.1:2\"\nlog = \"debug\"\ntags = { r = \"2\" }\n\
             keyring_file = \"k\"\n[protocol]\nprobe_interval = \"2s\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            a.restart_needed(&b),
            vec!["bind", "keyring_file", "protocol"]
        );
        assert!(a.restart_needed(&a).is_empty());
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = FileConfig::parse("name = \"a\"\nbindd = \"x\"\n", "t.toml").unwrap_err();
        assert!(e.to_string().contains("bindd"), "{e}");
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = FileConfig::parse("[protocol]\nprobe_intervall = \"1s\"\n", "t.toml").unwrap_err();
        assert!(e.to_string().contains("probe_intervall"), "{e}");
        let e = FileConfig::parse("preset = \"fast\"\n", "t.toml").unwrap_err();
        assert!(e.to_string().contains("fast"), "{e}");
    }
}
