//! How to start an agent: [`AgentConfig`] for code, [`FileConfig`] for TOML files.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use swim_core::{ConfigOverrides, Preset};

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
    pub keys: Vec<swim_core::SecretKey>,
    /// Where the keyring is kept: rewritten whenever a key operation
    /// changes the keys (see [`crate::keyring`]).
    pub keyring_file: Option<std::path::PathBuf>,
    /// The member snapshot (Serf's `-snapshot`, see [`crate::snapshot`]):
    /// members are recorded there as they join, fail and leave, and a
    /// node that starts with a snapshot joins the members it names as
    /// well as `seeds`.
    pub snapshot: Option<std::path::PathBuf>,
    /// Whether the snapshot's members are rejoined after this node left
    /// gracefully (Serf's `rejoin_after_leave`; default false: an agent
    /// that left stays out until given seeds).
    pub rejoin_after_leave: bool,
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
            tags: Vec::new(),
            stream_timeout: Duration::from_secs(10),
            leave_timeout: Duration::from_secs(15),
            event_capacity: 1024,
            stream_budget: 32 << 20,
            keys: Vec::new(),
            keyring_file: None,
            snapshot: None,
            rejoin_after_leave: false,
        }
    }
}

/// The agent's TOML config file: every command-line option of `swim agent`
/// plus a `[protocol]` table of overrides of any `swim_core::Config` field
/// onto the preset ([`ConfigOverrides`]). Unknown keys are an error that
/// names the file, the line and the key.
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
/// tags = { role = "web" }
/// snapshot = "/var/lib/swim/members.snapshot"
/// rejoin = false
/// event_handlers = ["user:deploy=/usr/local/bin/deploy.sh", "member-failed=logger failed"]
/// event_handler_timeout = "30s"
///
/// [protocol]
/// probe_interval = "500ms"
/// join_retry_min = "1s"
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
    pub join: Option<Vec<String>>,
    /// Protocol preset.
    pub preset: Option<Preset>,
    /// Control API address.
    pub control: Option<String>,
    /// File holding the control API's bearer token (relative to the config
    /// file's directory; [`FileConfig::load`] resolves it); mandatory when
    /// `control` is not a loopback address.
    pub control_token_file: Option<PathBuf>,
    /// How long the control API waits for a request's headers before it
    /// closes the connection (default 10 s; above zero).
    #[serde(default, with = "swim_core::serde_duration::option")]
    pub control_header_timeout: Option<Duration>,
    /// Log filter, e.g. `"info"` or `"swim_tokio=debug,info"`.
    pub log: Option<String>,
    /// Limit on each step of a push-pull stream.
    #[serde(default, with = "swim_core::serde_duration::option")]
    pub stream_timeout: Option<Duration>,
    /// How long a graceful leave may take.
    #[serde(default, with = "swim_core::serde_duration::option")]
    pub leave_timeout: Option<Duration>,
    /// The keyring file (cluster keys, primary first), relative to the
    /// config file's directory ([`FileConfig::load`] resolves it).
    pub keyring_file: Option<PathBuf>,
    /// The member snapshot file, relative to the config file's directory
    /// ([`FileConfig::load`] resolves it).
    pub snapshot: Option<PathBuf>,
    /// Rejoin the snapshot's members after a graceful leave.
    pub rejoin: Option<bool>,
    /// Event handlers, `[FILTER=]CMD` each (see [`crate::handlers`]);
    /// `--event-handler` flags add to them, and the files of a config
    /// directory add theirs in order.
    pub event_handlers: Option<Vec<String>>,
    /// Longest run of an event handler (default 30 s; above zero).
    #[serde(default, with = "swim_core::serde_duration::option")]
    pub event_handler_timeout: Option<Duration>,
    /// Keys set at start, e.g. `tags = { role = "web" }`.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Overrides of the preset's protocol parameters: any
    /// `swim_core::Config` field.
    #[serde(default)]
    pub protocol: ConfigOverrides,
}

/// A config file (or directory) that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} {path}: {}{message}",
    if *is_dir { "config dir" } else { "config file" },
    line.map(|l| format!("line {l}: ")).unwrap_or_default()
)]
pub struct FileConfigError {
    /// The file or directory.
    pub path: String,
    /// Whether `path` is a directory (`--config-dir`) rather than a file.
    pub is_dir: bool,
    /// The line of the file the error is on, when it is about one.
    pub line: Option<usize>,
    /// What went wrong and what is allowed, on one line.
    pub message: String,
}

impl FileConfig {
    /// Parses TOML text; `path` is only used in errors. Relative paths in
    /// it are left as written.
    pub fn parse(text: &str, path: &str) -> Result<FileConfig, FileConfigError> {
        let err = |line, message| FileConfigError {
            path: path.to_string(),
            is_dir: false,
            line,
            message,
        };
        let file: FileConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            err(line, e.message().trim_end().replace('\n', " "))
        })?;
        for h in file.event_handlers.iter().flatten() {
            if let Err(e) = h.parse::<crate::handlers::HandlerSpec>() {
                return Err(err(None, format!("event_handlers: {e}")));
            }
        }
        if file.event_handler_timeout == Some(Duration::ZERO) {
            return Err(err(
                None,
                "event_handler_timeout must be above zero, e.g. \"30s\"".into(),
            ));
        }
        if file.control_header_timeout == Some(Duration::ZERO) {
            return Err(err(
                None,
                "control_header_timeout must be above zero, e.g. \"10s\"".into(),
            ));
        }
        Ok(file)
    }

    /// Reads and parses a TOML file, and resolves `keyring_file`,
    /// `control_token_file` and `snapshot` against the file's directory.
    pub fn load(path: &Path) -> Result<FileConfig, FileConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| FileConfigError {
            path: shown.clone(),
            is_dir: false,
            line: None,
            message: format!("cannot read it: {e}"),
        })?;
        let mut file = FileConfig::parse(&text, &shown)?;
        let dir = path.parent().unwrap_or(Path::new(""));
        for p in [
            &mut file.keyring_file,
            &mut file.control_token_file,
            &mut file.snapshot,
        ]
        .into_iter()
        .flatten()
        {
            *p = dir.join(&*p);
        }
        Ok(file)
    }

    /// Every `*.toml` file of `dir`, loaded and merged in name order (see
    /// [`FileConfig::merge`]): Serf's `-config-dir`. Other files are
    /// ignored; a directory without any gives the empty config.
    pub fn load_dir(dir: &Path) -> Result<FileConfig, FileConfigError> {
        let err = |e: std::io::Error| FileConfigError {
            path: dir.display().to_string(),
            is_dir: true,
            line: None,
            message: format!("cannot read it: {e}"),
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(err)? {
            let path = entry.map_err(err)?.path();
            if path.extension().is_some_and(|x| x == "toml") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        let mut merged = FileConfig::default();
        for path in paths {
            merged.merge(FileConfig::load(&path)?);
        }
        Ok(merged)
    }

    /// The agent's config: the files of `dir` (if any) in name order, then
    /// `file` (if any) on top.
    pub fn load_all(
        dir: Option<&Path>,
        file: Option<&Path>,
    ) -> Result<FileConfig, FileConfigError> {
        let mut merged = match dir {
            Some(dir) => FileConfig::load_dir(dir)?,
            None => FileConfig::default(),
        };
        if let Some(file) = file {
            merged.merge(FileConfig::load(file)?);
        }
        Ok(merged)
    }

    /// Lays `later` over this config: each key `later` sets replaces this
    /// one's (`join` as a whole list); `tags` and the `[protocol]` table
    /// merge key by key.
    pub fn merge(&mut self, later: FileConfig) {
        fn take<T>(dst: &mut Option<T>, src: Option<T>) {
            if src.is_some() {
                *dst = src;
            }
        }
        let FileConfig {
            name,
            bind,
            advertise,
            join,
            preset,
            control,
            control_token_file,
            control_header_timeout,
            log,
            stream_timeout,
            leave_timeout,
            keyring_file,
            snapshot,
            rejoin,
            event_handlers,
            event_handler_timeout,
            tags,
            protocol,
        } = later;
        if let Some(more) = event_handlers {
            self.event_handlers
                .get_or_insert_with(Vec::new)
                .extend(more);
        }
        take(&mut self.event_handler_timeout, event_handler_timeout);
        take(&mut self.name, name);
        take(&mut self.bind, bind);
        take(&mut self.advertise, advertise);
        take(&mut self.join, join);
        take(&mut self.preset, preset);
        take(&mut self.control, control);
        take(&mut self.control_token_file, control_token_file);
        take(&mut self.control_header_timeout, control_header_timeout);
        take(&mut self.log, log);
        take(&mut self.stream_timeout, stream_timeout);
        take(&mut self.leave_timeout, leave_timeout);
        take(&mut self.keyring_file, keyring_file);
        take(&mut self.snapshot, snapshot);
        take(&mut self.rejoin, rejoin);
        self.tags.extend(tags);
        self.protocol.merge(&protocol);
    }

    /// The protocol config this file asks for: `preset` (the file's unless
    /// a flag gave one; `lan` by default) with the `[protocol]` overrides.
    /// Not validated: command-line flags may still change it.
    pub fn protocol_config(&self, preset: Option<Preset>) -> swim_core::Config {
        let mut c = preset.or(self.preset).unwrap_or_default().config();
        self.protocol.apply(&mut c);
        c
    }

    /// The keys of this file that differ in `new` and that a running agent
    /// cannot apply (everything but `tags`, `log` and `[protocol]
    /// sealing`): they need a restart.
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
        check("keyring_file", self.keyring_file != new.keyring_file);
        check("snapshot", self.snapshot != new.snapshot);
        check("rejoin", self.rejoin != new.rejoin);
        check("event_handlers", self.event_handlers != new.event_handlers);
        check(
            "event_handler_timeout",
            self.event_handler_timeout != new.event_handler_timeout,
        );
        // The sealing step moves on SIGHUP: only the rest of the table counts.
        let rest = |p: &ConfigOverrides| ConfigOverrides {
            sealing: None,
            ..p.clone()
        };
        check("protocol", rest(&self.protocol) != rest(&new.protocol));
        out
    }
}

/// What turns the tags `old` (the keys a previous load set) into `new`:
/// the keys to set (new, or with a changed value) and the keys to delete
/// (tags before, gone now). Keys that were never tags are not touched.
pub fn tag_changes(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
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
        assert_eq!(f.control_header_timeout, Some(Duration::from_millis(500)));
        let e = FileConfig::parse("control_token = \"secret\"\n", "t.toml").unwrap_err();
        assert!(e.to_string().contains("`control_token`"), "{e}");
    }

    #[test]
    fn tag_changes_set_new_and_changed_and_delete_only_former_tags() {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
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
        // The sealing step reloads; the rest of [protocol] does not.
        let c = FileConfig::parse(
            "name = \"a\"\nbind = \"127.0.0.1:1\"\n[protocol]\nsealing = \"send\"\n",
            "t.toml",
        )
        .unwrap();
        assert!(a.restart_needed(&c).is_empty());
        let d = FileConfig::parse(
            "name = \"a\"\nbind = \"127.0.0.1:1\"\n[protocol]\nsealing = \"send\"\ngossip_fanout = 5\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.restart_needed(&d), vec!["protocol"]);
    }

    /// A fresh directory under the system's temporary one.
    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("swim-config-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn protocol_takes_any_config_field_onto_the_preset() {
        // Keys the old hand-written copy lacked, and integer milliseconds.
        let f = FileConfig::parse(
            "preset = \"wan\"\n[protocol]\njoin_retry_min = \"2s\"\njoin_retry_max = \"1m\"\n\
             max_stream_frame = 1048576\ntombstone_grace = 120000\n\
             sealing = \"send\"\n",
            "t.toml",
        )
        .unwrap();
        let c = f.protocol_config(None);
        assert_eq!(c.join_retry_min, Duration::from_secs(2));
        assert_eq!(c.join_retry_max, Duration::from_secs(60));
        assert_eq!(c.max_stream_frame, 1 << 20);
        assert_eq!(c.tombstone_grace, Duration::from_secs(120));
        assert_eq!(c.sealing, swim_core::Sealing::Send);
        assert_eq!(c.probe_interval, Duration::from_secs(5), "wan's");
        // A preset flag replaces the file's preset, not its overrides.
        let c = f.protocol_config(Some(Preset::Local));
        assert_eq!(c.probe_timeout, Duration::from_millis(200));
        assert_eq!(c.join_retry_min, Duration::from_secs(2));
    }

    #[test]
    fn errors_name_the_file_and_the_line_and_say_what_is_allowed() {
        let e = FileConfig::parse(
            "name = \"a\"\n\n[protocol]\nprobe_interval = \"5 secs\"\n",
            "t.toml",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(4));
        let text = e.to_string();
        assert!(
            text.starts_with("config file t.toml: line 4: invalid duration '5 secs'")
                && text.contains("the unit must be"),
            "{text}"
        );
        let e = FileConfig::parse("[protocol]\nsealing = \"on\"\n", "t.toml").unwrap_err();
        assert!(
            e.to_string().contains("line 2")
                && e.to_string().contains("expected accept, send or require"),
            "{e}"
        );
        let e = FileConfig::parse("[protocol]\ngossip_fanout = -1\n", "t.toml").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = FileConfig::parse("control_header_timeout = 0\n", "t.toml").unwrap_err();
        assert!(e.to_string().contains("must be above zero"), "{e}");
        // Reading fails: the reason, and no advice about keys.
        let missing = temp_dir("missing").join("nope.toml");
        let e = FileConfig::load(&missing).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "config file {}: cannot read it: No such file or directory (os error 2)",
                missing.display()
            )
        );
    }

    #[test]
    fn a_config_dir_merges_its_toml_files_in_name_order() {
        let dir = temp_dir("dir");
        std::fs::write(
            dir.join("20-web.toml"),
            "bind = \"127.0.0.1:2\"\njoin = [\"b:1\"]\ntags = { role = \"web\" }\n\
             [protocol]\ngossip_fanout = 5\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("10-base.toml"),
            "name = \"n\"\nbind = \"127.0.0.1:1\"\njoin = [\"a:1\", \"c:1\"]\npreset = \"wan\"\n\
             keyring_file = \"keys\"\ntags = { role = \"base\", dc = \"x\" }\n\
             [protocol]\nprobe_interval = \"2s\"\ngossip_fanout = 4\n",
        )
        .unwrap();
        std::fs::write(dir.join("30-notes.txt"), "not toml at all [").unwrap();
        let merged = FileConfig::load_dir(&dir).unwrap();
        assert_eq!(merged.name.as_deref(), Some("n"));
        assert_eq!(
            merged.bind.as_deref(),
            Some("127.0.0.1:2"),
            "the later file wins"
        );
        assert_eq!(
            merged.join,
            Some(vec!["b:1".to_string()]),
            "a list is replaced whole"
        );
        assert_eq!(
            merged.keyring_file,
            Some(dir.join("keys")),
            "relative to its file"
        );
        assert_eq!(
            merged.tags.clone().into_iter().collect::<Vec<_>>(),
            vec![("dc".into(), "x".into()), ("role".into(), "web".into())]
        );
        let c = merged.protocol_config(None);
        assert_eq!(
            (c.probe_interval, c.gossip_fanout, c.probe_timeout),
            (Duration::from_secs(2), 5, Duration::from_secs(3))
        );
        // A file given besides the directory goes on top of it.
        let top = dir.join("top.conf");
        std::fs::write(&top, "[protocol]\ngossip_fanout = 6\n").unwrap();
        let all = FileConfig::load_all(Some(&dir), Some(&top)).unwrap();
        assert_eq!(all.protocol.gossip_fanout, Some(6));
        assert_eq!(all.protocol.probe_interval, Some(Duration::from_secs(2)));
        // An error names the file of the directory it is in.
        std::fs::write(
            dir.join("15-bad.toml"),
            "[protocol]\nprobe_intervall = \"1s\"\n",
        )
        .unwrap();
        let e = FileConfig::load_dir(&dir).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "config file {}: line 2:",
                dir.join("15-bad.toml").display()
            )) && e.contains("probe_intervall"),
            "{e}"
        );
        let e = FileConfig::load_dir(&dir.join("none"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("config dir ") && e.contains("cannot read it"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
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

    #[test]
    fn event_handlers_are_checked_merged_and_need_a_restart() {
        let e = FileConfig::parse(
            "event_handlers = [\"user:x=a\", \"memberjoin=b\"]\n",
            "t.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("event_handlers")
                && e.contains("unknown filter `memberjoin`")
                && e.contains("allowed"),
            "{e}"
        );
        let e = FileConfig::parse("event_handler_timeout = \"0s\"\n", "t.toml").unwrap_err();
        assert!(e.to_string().contains("above zero"), "{e}");
        let mut a = FileConfig::parse(
            "event_handlers = [\"user:x=a\"]\nevent_handler_timeout = \"5s\"\n",
            "a.toml",
        )
        .unwrap();
        assert_eq!(a.event_handler_timeout, Some(Duration::from_secs(5)));
        let b = FileConfig::parse("event_handlers = [\"member-join=b\"]\n", "b.toml").unwrap();
        let before = a.clone();
        a.merge(b);
        assert_eq!(
            a.event_handlers,
            Some(vec!["user:x=a".to_string(), "member-join=b".to_string()])
        );
        assert_eq!(before.restart_needed(&a), vec!["event_handlers"]);
    }
}
