//! `swim agent --print-config`: the merged configuration the agent would
//! start with, each value with where it came from.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use swim_tokio::{swim_core, AgentConfig, FileConfig};

/// Where one value came from, most specific first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// An environment variable (named).
    Env(&'static str),
    /// The `--config` file.
    File,
    /// A file of `--config-dir`.
    Dir,
    /// Flags added to what the config files give (`tags`, `event_handlers`).
    FlagAndFiles,
    /// The protocol preset (named).
    Preset,
    /// The agent's built-in default.
    Default,
}

impl Source {
    fn text(self, preset: &str) -> String {
        match self {
            Source::Flag => "flag".into(),
            Source::Env(var) => format!("env ${var}"),
            Source::File => "config file".into(),
            Source::Dir => "config-dir".into(),
            Source::FlagAndFiles => "config file(s) + flag".into(),
            Source::Preset => format!("preset {preset}"),
            Source::Default => "default".into(),
        }
    }
}

/// The config file and directory as read apart, to tell their keys apart.
pub struct Layers {
    /// The `--config-dir` files, merged.
    pub dir: FileConfig,
    /// The `--config` file.
    pub file: FileConfig,
}

impl Layers {
    /// Reads both again (the merged config was read already, so they parse).
    pub fn load(dir: Option<&Path>, file: Option<&Path>) -> Result<Layers, String> {
        Ok(Layers {
            dir: FileConfig::load_all(dir, None).map_err(|e| e.to_string())?,
            file: FileConfig::load_all(None, file).map_err(|e| e.to_string())?,
        })
    }

    /// The file layer that sets a key (as `set` tells), if any.
    pub fn source(&self, set: impl Fn(&FileConfig) -> bool) -> Option<Source> {
        if set(&self.file) {
            Some(Source::File)
        } else if set(&self.dir) {
            Some(Source::Dir)
        } else {
            None
        }
    }

    /// The file layer that sets protocol field `field`, if any.
    fn protocol_source(&self, field: &str) -> Option<Source> {
        let has = |f: &FileConfig| {
            serde_json::to_value(&f.protocol)
                .ok()
                .is_some_and(|v| v.get(field).is_some())
        };
        self.source(has)
    }
}

/// Everything the agent's own options decided, beside [`AgentConfig`].
pub struct Effective<'a> {
    /// The agent's config.
    pub config: &'a AgentConfig,
    /// The preset the protocol started from, and where it came from.
    pub preset: (String, Source),
    /// The control API address.
    pub control: (String, Source),
    /// Where the control token comes from (never the token), if any.
    pub token: Option<(String, Source)>,
    /// The log filter.
    pub log: (String, Source),
    /// The event handlers, as given.
    pub handlers: (Vec<String>, Source),
    /// The event handlers' timeout.
    pub handler_timeout: (std::time::Duration, Source),
    /// Sources of the other top-level keys, by name.
    pub sources: BTreeMap<&'static str, Source>,
    /// Sources of the protocol fields flags set.
    pub protocol_flags: BTreeMap<&'static str, Source>,
}

/// A value as TOML text (strings quoted, lists bracketed).
fn toml(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(toml).collect::<Vec<_>>().join(", ")
            )
        }
        Value::Object(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{k} = {}", toml(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// The text `--print-config` prints: `key = value  # source` lines, then
/// the `[protocol]` table, every field of it.
pub fn text(e: &Effective, layers: &Layers) -> String {
    let c = e.config;
    let preset = e.preset.0.as_str();
    let src = |k: &str| e.sources.get(k).copied().unwrap_or(Source::Default);
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: Value, s: Source| {
        lines.push((format!("{k} = {}", toml(&v)), s.text(preset)));
    };
    let path = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map_or(Value::Null, |p| Value::from(p.display().to_string()))
    };
    put("name", c.name.clone().into(), src("name"));
    put("bind", c.bind.to_string().into(), src("bind"));
    put(
        "advertise",
        c.advertise.map_or(Value::Null, |a| a.to_string().into()),
        src("advertise"),
    );
    put("join", c.seeds.clone().into(), src("join"));
    put("preset", preset.into(), e.preset.1);
    put("control", e.control.0.clone().into(), e.control.1);
    match &e.token {
        Some((from, s)) => put(
            "control_token",
            format!("(set from {from}; not shown)").into(),
            *s,
        ),
        None => put("control_token", Value::Null, Source::Default),
    }
    put("log", e.log.0.clone().into(), e.log.1);
    put(
        "stream_timeout",
        swim_core::format_duration(c.stream_timeout).into(),
        src("stream_timeout"),
    );
    put(
        "leave_timeout",
        swim_core::format_duration(c.leave_timeout).into(),
        src("leave_timeout"),
    );
    put("keyring_file", path(&c.keyring_file), src("keyring_file"));
    put("snapshot", path(&c.snapshot), src("snapshot"));
    put("rejoin", c.rejoin_after_leave.into(), src("rejoin"));
    put("event_handlers", e.handlers.0.clone().into(), e.handlers.1);
    put(
        "event_handler_timeout",
        swim_core::format_duration(e.handler_timeout.0).into(),
        e.handler_timeout.1,
    );
    let tags: serde_json::Map<String, Value> = (c.tags.iter())
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    put("tags", Value::Object(tags), src("tags"));
    let protocol = serde_json::to_value(&c.protocol).unwrap_or(Value::Null);
    let mut table: Vec<(String, String)> = Vec::new();
    for field in swim_core::Config::FIELDS {
        let s = (e.protocol_flags.get(field).copied())
            .or_else(|| layers.protocol_source(field))
            .unwrap_or(Source::Preset);
        table.push((
            format!("{field} = {}", toml(&protocol[*field])),
            s.text(preset),
        ));
    }
    let width = lines
        .iter()
        .chain(&table)
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let row = |(l, s): &(String, String)| format!("{l:width$}  # {s}\n");
    let mut out = String::from(
        "# The configuration `swim agent` starts with, merged from defaults, the preset,\n\
         # --config-dir, --config, environment variables and flags (later ones win);\n\
         # each value says where it came from.\n",
    );
    out.extend(lines.iter().map(row));
    out.push_str("\n[protocol]\n");
    out.extend(table.iter().map(row));
    out
}
