//! `swim`: a SWIM membership agent and the commands that talk to it.
//!
//! `swim agent` runs a node and serves a local HTTP control API; `swim
//! members`, `join`, `leave`, `monitor` and `metrics` are clients of that API;
//! `swim demo` runs a small cluster in one process to show the protocol at work.

mod client;
mod demo;
mod print_config;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use swim_tokio::control::{ControlOptions, Token};
use swim_tokio::{swim_core, AgentConfig, FileConfig, Preset};

/// Default address of the agent's control API.
const DEFAULT_CONTROL: &str = "127.0.0.1:7373";
/// Default gossip address of the agent.
const DEFAULT_BIND: &str = "127.0.0.1:7946";

#[derive(Parser)]
#[command(
    name = "swim",
    version,
    about = "SWIM cluster membership: agent and client commands"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print a new random cluster key (base64 of 32 bytes) for a keyring file.
    Keygen,
    /// Run a node and its control API until SIGINT/SIGTERM (then leave
    /// gracefully); SIGHUP reloads the log filter, the tags and the sealing
    /// step.
    Agent(Box<AgentArgs>),
    /// List the members the agent knows.
    Members {
        /// Only members with this status.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        #[command(flatten)]
        format: FormatArg,
        /// Only members with a tag whose value matches, KEY=REGEX (repeat:
        /// all must match), e.g. `--tag role=web|db`.
        #[arg(long = "tag", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Explain why the agent holds a member where it does: who accused it,
    /// who confirmed, how long it was suspected, and when and from whom
    /// this agent learned the verdict (its own view; asks nobody else).
    Explain {
        /// The member's name.
        name: String,
        #[command(flatten)]
        format: FormatArg,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Ask the agent to join more seeds, and wait until one answers: exits
    /// non-zero, with the reason, if an attempt reaches no seed or none
    /// answers within --wait (the join is then cancelled).
    Join {
        /// Seeds as HOST:PORT.
        #[arg(required = true)]
        seeds: Vec<String>,
        /// Longest wait for a seed to answer (at most 5m).
        #[arg(long, default_value = "15s", value_parser = parse_wait)]
        wait: std::time::Duration,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Declare a member that failed for good as left (Serf's force-leave):
    /// the cluster stops gossiping to it and reaps it on schedule. Only a
    /// member held dead can be forced out.
    ForceLeave {
        /// The member's name.
        name: String,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Fire a user event (Serf's `serf event`): NAME and PAYLOAD are
    /// delivered once to every member, whose event handlers run for it.
    /// Name and payload together take at most 512 bytes.
    Event {
        /// The event's name (no control or invisible characters).
        name: String,
        /// The payload, as given (UTF-8 text) [default: empty].
        payload: Option<String>,
        /// Run handlers for every event of this name, even in a burst
        /// (by default, handlers with a user filter run once for the
        /// newest of a burst).
        #[arg(long)]
        no_coalesce: bool,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Ask a user query (Serf's `serf query`): members matching every
    /// filter run their `query`/`query:NAME` handlers and respond. Prints
    /// acks and responses as they arrive, then a summary (asked, acked,
    /// responded, missing). Name, payload and filters take at most 1024
    /// bytes.
    Query {
        /// The query's name (no control or invisible characters).
        name: String,
        /// The payload, as given (UTF-8 text) [default: empty].
        payload: Option<String>,
        /// Ask only this member (repeat for more).
        #[arg(long = "node", value_name = "NAME")]
        nodes: Vec<String>,
        /// Ask only members whose key KEY holds a value matching REGEX
        /// (repeat: all must match), e.g. `--tag role=^web`.
        #[arg(long = "tag", value_name = "KEY=REGEX", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
        /// How long to wait for answers, e.g. `5s` [default: the
        /// cluster's, which grows with its size].
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
        /// Send each answer also through this many random members (0-5).
        #[arg(long, value_name = "K")]
        relay_factor: Option<u8>,
        /// Ask for responses only, no acks.
        #[arg(long)]
        no_ack: bool,
        #[command(flatten)]
        format: FormatArg,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Check who is reachable (Serf's `serf reachability`): asks every
    /// member for an ack, then lists the members that did not ack and
    /// those held suspect or dead. Exits non-zero if any did not ack.
    Reachability {
        /// How long to wait for acks, e.g. `5s` [default: the cluster's].
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
        #[command(flatten)]
        format: FormatArg,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Ask the agent to leave the cluster gracefully and exit.
    Leave {
        #[command(flatten)]
        control: ControlArg,
    },
    /// Stream membership events as they happen, one line each.
    Monitor {
        /// `json`: each event as the API's JSON line.
        #[command(flatten)]
        format: FormatArg,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Read and write keys: every member owns a small key/value namespace
    /// that every other member replicates.
    Kv {
        #[command(subcommand)]
        op: KvOp,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Cluster keys, on every member at once: install a new key, make it the
    /// one that seals (once every member holds it), remove an old one, list,
    /// or move every member from sealing step `send` to `require`. Keys are
    /// read from --key-file or standard input, never from the command line.
    /// Exits non-zero unless every live member answered and none refused.
    Keys {
        #[command(subcommand)]
        op: KeysOp,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Print what an operator looks at first: version, uptime, members by
    /// status, health score and the key counters.
    Info {
        #[command(flatten)]
        format: FormatArg,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Print the agent's counters (traffic, dropped packets, streams): one
    /// `name value` line each, or the API's JSON.
    Metrics {
        #[command(flatten)]
        format: FormatArg,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Run a small cluster in this process: watch it form, lose a member and heal.
    Demo {
        /// How many nodes.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(3..=64))]
        nodes: u16,
    },
}

/// `swim kv` operations.
#[derive(Subcommand)]
enum KeysOp {
    /// Which keys every member holds, and which one it seals with.
    List {
        #[command(flatten)]
        format: FormatArg,
    },
    /// Install a key on every member (it does not seal yet).
    Install(KeyInput),
    /// Seal with this key on every member; refused unless all hold it.
    Use(KeyInput),
    /// Remove a key from every member; refused where it is the primary.
    Remove(KeyInput),
    /// Move every member to a sealing step: `require` (drop plain traffic),
    /// refused unless every live member already seals (`send`); or `send`
    /// (accept plain again, a rollback). From `accept` to `send` each
    /// member moves by its own config (sealing = "send", then SIGHUP).
    Sealing {
        /// `send` or `require`.
        #[arg(value_parser = parse_cluster_step)]
        step: swim_core::Sealing,
    },
}

/// A step `swim keys sealing` moves members to.
fn parse_cluster_step(s: &str) -> Result<swim_core::Sealing, String> {
    match swim_core::Sealing::parse(s) {
        Some(swim_core::Sealing::Accept) => Err(
            "no key operation moves members to `accept` (they would send plain): set \
             sealing = \"accept\" in a member's config file and SIGHUP it"
                .into(),
        ),
        Some(step) => Ok(step),
        None => Err(format!(
            "unknown sealing step `{s}`: expected `send` or `require`"
        )),
    }
}

/// Where a key comes from.
#[derive(Args)]
pub struct KeyInput {
    /// File holding the key (base64 of 32 bytes, as `swim keygen` prints);
    /// without it, the key is read from standard input.
    #[arg(long)]
    key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum KvOp {
    /// List a member's keys (this agent's own by default).
    List {
        /// The member.
        member: Option<String>,
        /// Only keys starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Print one key of a member (its value; with `--format json`, the
    /// API's JSON of that key).
    Get {
        /// The member.
        member: String,
        /// The key.
        key: String,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Set one of this agent's keys.
    Set {
        /// The key.
        key: String,
        /// The value (text).
        value: String,
    },
    /// Delete one of this agent's keys.
    Delete {
        /// The key.
        key: String,
    },
}

/// Where the agent's control API listens, and its token.
#[derive(Args)]
struct ControlArg {
    /// Control API address of the agent.
    #[arg(long, env = "SWIM_CONTROL", default_value = DEFAULT_CONTROL, global = true)]
    control: String,
    /// File holding the agent's control token, if it has one [default:
    /// $SWIM_CONTROL_TOKEN, the token itself]. Never pass a token as a value.
    #[arg(long, value_name = "PATH", global = true)]
    control_token_file: Option<PathBuf>,
}

impl ControlArg {
    /// The agent to talk to: its address and the token to send, from
    /// `--control-token-file` or else `$SWIM_CONTROL_TOKEN`.
    fn client(&self) -> Result<client::Control, Fail> {
        let token = match &self.control_token_file {
            Some(path) => Some(Token::from_file(path)?),
            None => Token::from_env()?,
        };
        Ok(client::Control {
            addr: self.control.clone(),
            token,
        })
    }
}

/// How a read command prints.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Aligned columns or lines, for people.
    Table,
    /// The control API's JSON, unchanged (filtered where the command
    /// filters).
    Json,
}

/// `--format json|table` (and `--json`, short for `--format json`).
#[derive(Args)]
struct FormatArg {
    /// Output format: `table` for people, `json` for the control API's JSON.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Short for `--format json`.
    #[arg(long, conflicts_with = "format")]
    json: bool,
}

impl FormatArg {
    /// Whether to print JSON.
    fn json(&self) -> bool {
        self.json || self.format == Format::Json
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum StatusArg {
    Alive,
    Suspect,
    Dead,
    Left,
}

impl StatusArg {
    fn as_str(self) -> &'static str {
        match self {
            StatusArg::Alive => "alive",
            StatusArg::Suspect => "suspect",
            StatusArg::Dead => "dead",
            StatusArg::Left => "left",
        }
    }
}

/// Options of `swim agent`; each overrides the config file's value.
#[derive(Args)]
struct AgentArgs {
    /// Unique node name.
    #[arg(long)]
    name: Option<String>,
    /// Address for gossip (UDP) and push-pull (TCP) [default: 127.0.0.1:7946].
    #[arg(long)]
    bind: Option<String>,
    /// Address peers reach this node at, if not the bind address.
    #[arg(long)]
    advertise: Option<String>,
    /// Seeds to join, HOST:PORT (repeat the flag or list several).
    #[arg(long, num_args = 1..)]
    join: Vec<String>,
    /// Join attempts before the agent gives up and exits non-zero (0:
    /// retry for ever) [default: the config file's `join_attempts`, else 0].
    #[arg(long, value_name = "N")]
    retry_max: Option<u32>,
    /// Longest wait between join attempts (the backoff doubles from
    /// `join_retry_min` up to it) [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_retry_interval)]
    retry_interval: Option<std::time::Duration>,
    /// TOML config file (the same options plus a `[protocol]` table of any
    /// protocol field); read after --config-dir, so its keys win.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory of TOML config files: every `*.toml` in it, merged in name
    /// order (a later file's keys win; `tags` and `[protocol]` merge key by
    /// key).
    #[arg(long, value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// Protocol preset [default: lan].
    #[arg(long, value_parser = Preset::from_str)]
    preset: Option<Preset>,
    /// Control API address [default: 127.0.0.1:7373]; an address that is
    /// not loopback needs a control token.
    #[arg(long, env = "SWIM_CONTROL")]
    control: Option<String>,
    /// File holding the control API's bearer token; requests must then
    /// carry `Authorization: Bearer TOKEN` [default: $SWIM_CONTROL_TOKEN, the
    /// token itself, or the config file's `control_token_file`].
    #[arg(long, value_name = "PATH")]
    control_token_file: Option<PathBuf>,
    /// Log filter in `RUST_LOG` syntax (tracing-subscriber's `EnvFilter`),
    /// e.g. `info` or `swim_tokio=debug,info` [default: the config file's
    /// `log`, else $RUST_LOG, else info].
    #[arg(long, env = "SWIM_LOG")]
    log: Option<String>,
    /// A key to set at start, KEY=VALUE (repeat the flag for more); added
    /// to the config file's `tags`, replacing a key of the same name.
    #[arg(long = "tag", value_parser = parse_tag)]
    tags: Vec<(String, String)>,
    /// Keyring file: cluster keys, one base64 key per line, the primary
    /// first; traffic is sealed with them and key operations rewrite it.
    #[arg(long)]
    keyring_file: Option<PathBuf>,
    /// How plain traffic is treated once keys are installed: accept (send
    /// plain, accept both), send (send sealed, accept both) or require
    /// (send sealed, drop plain) [default: require]. `send` and `require`
    /// need a keyring: without one, asking for them is an error.
    #[arg(long, value_parser = swim_core::Sealing::from_str)]
    sealing: Option<swim_core::Sealing>,
    /// Member snapshot file (Serf's -snapshot): members are recorded there
    /// as they join, fail and leave (never keys or tags), and a restarted
    /// agent rejoins them without --join seeds. Created if missing; a
    /// damaged tail is cut and logged.
    #[arg(long, value_name = "PATH")]
    snapshot: Option<PathBuf>,
    /// Rejoin the snapshot's members even after this agent left the
    /// cluster gracefully (Serf's rejoin_after_leave) [default: not after
    /// a leave].
    #[arg(long)]
    rejoin: bool,
    /// An event handler, [FILTER=]CMD (repeat the flag for more; added to
    /// the config file's `event_handlers`). FILTER: member-join,
    /// member-leave, member-failed, member-update, member-reap, user,
    /// user:NAME or *, comma-separated; none: every event. CMD runs
    /// through `sh -c` with the event's details in SWIM_EVENT,
    /// SWIM_SELF_NAME, SWIM_SELF_ADDRESS, SWIM_USER_EVENT, SWIM_USER_LTIME
    /// and SWIM_ORIGIN, and a user event's payload (or one line per
    /// member) on standard input. Payloads are untrusted input.
    #[arg(long = "event-handler", value_name = "[FILTER=]CMD", value_parser = swim_tokio::handlers::HandlerSpec::from_str)]
    event_handlers: Vec<swim_tokio::handlers::HandlerSpec>,
    /// Longest run of an event handler; a run still going is killed
    /// [default: the config file's `event_handler_timeout`, else 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_handler_timeout)]
    event_handler_timeout: Option<std::time::Duration>,
    /// Print the configuration the agent would start with (defaults,
    /// preset, --config-dir, --config, environment and flags merged), each
    /// value with where it came from, and exit without starting.
    #[arg(long)]
    print_config: bool,
}

fn parse_handler_timeout(s: &str) -> Result<std::time::Duration, String> {
    match swim_core::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be above zero, e.g. 30s".into()),
        Err(e) => Err(e),
    }
}

/// `KEY=VALUE` as given to `--tag`.
fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!(
            "invalid tag `{s}`: expected KEY=VALUE, e.g. role=web"
        )),
    }
}

/// A duration flag: `500ms`, `10s`, `2m`...
fn parse_retry_interval(s: &str) -> Result<std::time::Duration, String> {
    swim_tokio::parse_duration(s)
}

/// `swim join --wait`: above zero, at most five minutes.
fn parse_wait(s: &str) -> Result<std::time::Duration, String> {
    let d = swim_tokio::parse_duration(s)?;
    if d.is_zero() || d > swim_tokio::control::MAX_JOIN_WAIT {
        return Err(format!("{s} is out of range: above zero and at most 5m"));
    }
    Ok(d)
}

/// A failure to report on one line.
type Fail = String;

fn main() -> ExitCode {
    // An agent ignores SIGHUP from its first instruction on, before it
    // reads its arguments or config (its default action would kill it, and
    // a reload sent while the agent starts has nothing to reload yet); the
    // agent's own handler replaces this once its runtime runs.
    if std::env::args_os().nth(1).is_some_and(|a| a == "agent") {
        ignore_sighup();
    }
    // On a bad command line clap prints its whole message (the argument
    // missing, the values allowed, a similar flag) and exits with 2.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.cmd {
        Cmd::Agent(args) => run_agent(*args, matches.subcommand_matches("agent")),
        Cmd::Members {
            status,
            format,
            tags,
            control,
        } => control
            .client()
            .and_then(|c| client::members(&c, status.map(StatusArg::as_str), &tags, format.json())),
        Cmd::Join {
            seeds,
            wait,
            control,
        } => control
            .client()
            .and_then(|c| client::join(&c, &seeds, wait)),
        Cmd::Explain {
            name,
            format,
            control,
        } => control
            .client()
            .and_then(|c| client::explain(&c, &name, format.json())),
        Cmd::Event {
            name,
            payload,
            no_coalesce,
            control,
        } => control
            .client()
            .and_then(|c| client::event(&c, &name, payload.as_deref(), !no_coalesce)),
        Cmd::Query {
            name,
            payload,
            nodes,
            tags,
            timeout,
            relay_factor,
            no_ack,
            format,
            control,
        } => control.client().and_then(|c| {
            let q = client::QueryArgs {
                name,
                payload: payload.unwrap_or_default(),
                nodes,
                tags,
                timeout,
                relay_factor,
                ack: !no_ack,
            };
            client::query(&c, &q, format.json())
        }),
        Cmd::Reachability {
            timeout,
            format,
            control,
        } => control
            .client()
            .and_then(|c| client::reachability(&c, timeout.as_deref(), format.json())),
        Cmd::Leave { control } => control.client().and_then(|c| client::leave(&c)),
        Cmd::ForceLeave { name, control } => control
            .client()
            .and_then(|c| client::force_leave(&c, &name)),
        Cmd::Monitor { format, control } => control
            .client()
            .and_then(|c| client::monitor(&c, format.json())),
        Cmd::Info { format, control } => control
            .client()
            .and_then(|c| client::info(&c, format.json())),
        Cmd::Metrics { format, control } => control
            .client()
            .and_then(|c| client::metrics(&c, format.json())),
        Cmd::Kv { op, control } => control.client().and_then(|c| client::kv(&c, op)),
        Cmd::Keys { op, control } => control.client().and_then(|c| client::keys(&c, op)),
        Cmd::Demo { nodes } => demo::run(nodes.into()),
        Cmd::Keygen => swim_tokio::keyring::generate()
            .map(|k| println!("{}", swim_tokio::keyring::format_key(&k)))
            .map_err(|e| format!("cannot read /dev/urandom: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("swim: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ignores SIGHUP before `main` runs, as the C runtime starts the
/// program (its `.init_array`), when the command is `agent`: the earliest
/// a program can act. `main` does it again where this section is not run.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static IGNORE_SIGHUP_AT_START: extern "C" fn(libc::c_int, *const *const libc::c_char) =
    ignore_sighup_at_start;

#[cfg(target_os = "linux")]
extern "C" fn ignore_sighup_at_start(argc: libc::c_int, argv: *const *const libc::c_char) {
    if argc < 2 || argv.is_null() {
        return;
    }
    // SAFETY: glibc passes init_array functions the program's argc and
    // argv, argv holding argc valid NUL-terminated strings; signal(2) with
    // SIG_IGN runs no code of ours. Nothing else runs yet.
    unsafe {
        let first = *argv.add(1);
        if !first.is_null() && std::ffi::CStr::from_ptr(first).to_bytes() == b"agent" {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
        }
    }
}

/// Sets SIGHUP's disposition to "ignore".
#[cfg(unix)]
fn ignore_sighup() {
    // SAFETY: signal(2) with SIG_IGN installs no handler code, touches no
    // memory of ours, and runs before any other thread exists.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}

#[cfg(not(unix))]
fn ignore_sighup() {}

/// Changes the log filter of a running agent.
type SetFilter = Box<dyn Fn(&str) -> Result<(), Fail>>;

/// Parses a log filter (`tracing_subscriber`'s `EnvFilter` syntax, as
/// `RUST_LOG` takes it); the error says what is allowed.
fn parse_filter(filter: &str) -> Result<tracing_subscriber::EnvFilter, Fail> {
    tracing_subscriber::EnvFilter::builder()
        .parse(filter)
        .map_err(|e| {
            format!(
                "invalid log filter `{filter}`: {e}; use e.g. `info`, `swim_tokio=debug,info` or \
                 `warn,swim_core[member]=debug`"
            )
        })
}

/// Sets up logging to stderr with a reloadable `EnvFilter`; returns the
/// way to change the filter later (SIGHUP).
fn init_logging(filter: &str) -> Result<SetFilter, Fail> {
    use tracing_subscriber::prelude::*;
    let (targets, reload) = tracing_subscriber::reload::Layer::new(parse_filter(filter)?);
    tracing_subscriber::registry()
        .with(targets)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_target(false),
        )
        .init();
    Ok(Box::new(move |filter: &str| {
        let targets = parse_filter(filter)?;
        reload
            .reload(targets)
            .map_err(|e| format!("cannot change the log filter: {e}"))
    }))
}

/// A current-thread runtime: one node needs no more.
fn runtime() -> Result<tokio::runtime::Runtime, Fail> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn parse_addr(what: &str, s: &str) -> Result<SocketAddr, Fail> {
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    use std::net::ToSocketAddrs;
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            format!(
                "invalid {what} address `{s}`: expected IP:PORT, e.g. 127.0.0.1:7946 or [::1]:7946"
            )
        })
}

fn run_agent(args: AgentArgs, matches: Option<&clap::ArgMatches>) -> Result<(), Fail> {
    let given = Given {
        config_dir: args.config_dir.clone(),
        config: args.config.clone(),
        sealing: args.sealing.is_some(),
        retry_max: args.retry_max.is_some(),
        retry_interval: args.retry_interval.is_some(),
        preset: args.preset,
        control_token_file: args.control_token_file.clone(),
        event_handlers: !args.event_handlers.is_empty(),
    };
    let file = FileConfig::load_all(args.config_dir.as_deref(), args.config.as_deref())
        .map_err(|e| e.to_string())?;
    let name = args
        .name
        .or(file.name.clone())
        .ok_or("no node name: pass --name NAME or set `name` in the config file")?;
    let bind = parse_addr(
        "--bind",
        args.bind
            .as_deref()
            .or(file.bind.as_deref())
            .unwrap_or(DEFAULT_BIND),
    )?;
    let advertise = match args.advertise.as_deref().or(file.advertise.as_deref()) {
        Some(a) => Some(parse_addr("--advertise", a)?),
        None => None,
    };
    let control = parse_addr(
        "--control",
        args.control
            .as_deref()
            .or(file.control.as_deref())
            .unwrap_or(DEFAULT_CONTROL),
    )?;
    let token = agent_token(
        args.control_token_file.as_deref(),
        file.control_token_file.as_deref(),
    )?;
    let mut control_options = ControlOptions {
        token,
        ..ControlOptions::default()
    };
    if let Some(d) = file.control_header_timeout {
        control_options.header_read_timeout = d;
    }
    control_options.check_bind(control).map_err(|e| {
        format!(
            "{e}; pass --control-token-file PATH or set SWIM_CONTROL_TOKEN (or control_token_file \
             in the config file), or serve the control API on 127.0.0.1"
        )
    })?;
    let preset = args.preset.or(file.preset).unwrap_or_default();
    let mut config = AgentConfig::new(name, bind, preset);
    config.advertise = advertise;
    config.seeds = if args.join.is_empty() {
        file.join.clone().unwrap_or_default()
    } else {
        args.join
    };
    config.protocol = file.protocol_config(args.preset);
    if let Some(s) = args.sealing {
        config.protocol.sealing = s;
    }
    if let Some(n) = args.retry_max {
        config.protocol.join_attempts = n;
    }
    if let Some(d) = args.retry_interval {
        config.protocol.join_retry_max = d;
        config.protocol.join_retry_min = config.protocol.join_retry_min.min(d);
    }
    // The config's path is already relative to its file's directory.
    config.keyring_file = args.keyring_file.or_else(|| file.keyring_file.clone());
    if let Some(path) = &config.keyring_file {
        config.keys = swim_tokio::keyring::load(path).map_err(|e| e.to_string())?;
    }
    // A step asked for explicitly (not the preset's default) must be one
    // the keys allow, as on SIGHUP: `send` or `require` without a key
    // would run plain while the operator believes it sealed.
    let asked = match (args.sealing, file.protocol.sealing) {
        (Some(step), _) => Some((step, "--sealing")),
        (None, Some(step)) => Some((step, "[protocol] sealing in the config file")),
        (None, None) => None,
    };
    if let Some((step, from)) = asked {
        swim_tokio::sealing_needs_keys(step, !config.keys.is_empty())
            .map_err(|e| format!("{from}: {e}"))?;
    }
    config.snapshot = args.snapshot.or_else(|| file.snapshot.clone());
    config.rejoin_after_leave = args.rejoin || file.rejoin.unwrap_or(false);
    if let Some(d) = file.stream_timeout {
        config.stream_timeout = d;
    }
    if let Some(d) = file.leave_timeout {
        config.leave_timeout = d;
    }
    let mut handlers = Vec::new();
    for text in file.event_handlers.iter().flatten() {
        handlers.push(
            text.parse::<swim_tokio::handlers::HandlerSpec>()
                .map_err(|e| format!("{e} (event_handlers in the config)"))?,
        );
    }
    handlers.extend(args.event_handlers);
    let handler_timeout = (args.event_handler_timeout)
        .or(file.event_handler_timeout)
        .unwrap_or(swim_tokio::handlers::DEFAULT_TIMEOUT);
    let tags = agent_tags(&file, &args.tags);
    config.tags = tags.clone().into_iter().collect();
    config.protocol.validate().map_err(|e| {
        let flag = match e.field {
            "join_attempts" => " or --retry-max",
            "join_retry_min" | "join_retry_max" => " or --retry-interval",
            _ => "",
        };
        format!(
            "{e}; set {} in the config's [protocol] table{flag} (it starts from preset {preset})",
            e.field
        )
    })?;
    let log = agent_log(args.log.as_deref(), &file);
    if args.print_config {
        let e = PrintArgs {
            args: &given,
            matches,
            file: &file,
            config: &config,
            control,
            log: &log,
            handlers: &handlers,
            handler_timeout,
        };
        print!("{}", print_config_text(&e)?);
        return Ok(());
    }
    let set_filter = init_logging(&log)?;
    let file_sealing = file.protocol_config(args.preset).sealing;
    let reload = Reload {
        dir: args.config_dir.clone(),
        path: args.config.clone(),
        started: file,
        flag_tags: args.tags,
        flag_log: args.log,
        flag_preset: args.preset,
        flag_sealing: args.sealing,
        file_sealing,
        sealing_refused: false,
        tags,
        log,
        set_filter,
    };
    runtime()?.block_on(agent(
        config,
        control,
        control_options,
        reload,
        (handlers, handler_timeout),
    ))
}

/// The flags `--print-config` asks about (`run_agent` moves the rest).
struct Given {
    config_dir: Option<PathBuf>,
    config: Option<PathBuf>,
    sealing: bool,
    retry_max: bool,
    retry_interval: bool,
    preset: Option<Preset>,
    control_token_file: Option<PathBuf>,
    event_handlers: bool,
}

/// What `--print-config` needs of `run_agent`'s work.
struct PrintArgs<'a> {
    args: &'a Given,
    matches: Option<&'a clap::ArgMatches>,
    file: &'a FileConfig,
    config: &'a AgentConfig,
    control: SocketAddr,
    log: &'a str,
    handlers: &'a [swim_tokio::handlers::HandlerSpec],
    handler_timeout: std::time::Duration,
}

/// `swim agent --print-config`'s text (see [`print_config`]).
fn print_config_text(p: &PrintArgs) -> Result<String, Fail> {
    use print_config::{Effective, Layers, Source};
    use std::env::var_os;
    let args = p.args;
    let layers = Layers::load(args.config_dir.as_deref(), args.config.as_deref())?;
    // A flag's source as clap saw it: the command line or its env variable.
    let flag = |id: &str, env: &'static str| match p
        .matches
        .filter(|_| !id.is_empty())
        .and_then(|m| m.value_source(id))
    {
        Some(clap::parser::ValueSource::CommandLine) => Some(Source::Flag),
        Some(clap::parser::ValueSource::EnvVariable) => Some(Source::Env(env)),
        _ => None,
    };
    let either = |id: &str, set: fn(&FileConfig) -> bool| {
        flag(id, "")
            .or_else(|| layers.source(set))
            .unwrap_or(Source::Default)
    };
    let mut sources = BTreeMap::new();
    sources.insert("name", either("name", |f| f.name.is_some()));
    sources.insert("bind", either("bind", |f| f.bind.is_some()));
    sources.insert("advertise", either("advertise", |f| f.advertise.is_some()));
    sources.insert("join", either("join", |f| f.join.is_some()));
    sources.insert("stream_timeout", either("", |f| f.stream_timeout.is_some()));
    sources.insert("leave_timeout", either("", |f| f.leave_timeout.is_some()));
    sources.insert(
        "keyring_file",
        either("keyring_file", |f| f.keyring_file.is_some()),
    );
    sources.insert("snapshot", either("snapshot", |f| f.snapshot.is_some()));
    sources.insert("rejoin", either("rejoin", |f| f.rejoin.is_some()));
    let tags_in_files = layers.source(|f| !f.tags.is_empty()).is_some();
    sources.insert(
        "tags",
        match flag("tags", "") {
            Some(_) if tags_in_files => Source::FlagAndFiles,
            _ => either("tags", |f| !f.tags.is_empty()),
        },
    );
    let mut protocol_flags = BTreeMap::new();
    if args.sealing {
        protocol_flags.insert("sealing", Source::Flag);
    }
    if args.retry_max {
        protocol_flags.insert("join_attempts", Source::Flag);
    }
    if args.retry_interval {
        protocol_flags.insert("join_retry_max", Source::Flag);
        protocol_flags.insert("join_retry_min", Source::Flag);
    }
    let preset = args.preset.or(p.file.preset).unwrap_or_default();
    let log_source = flag("log", "SWIM_LOG")
        .or_else(|| layers.source(|f| f.log.is_some()))
        .or_else(|| var_os("RUST_LOG").map(|_| Source::Env("RUST_LOG")))
        .unwrap_or(Source::Default);
    let token = if let Some(path) = &args.control_token_file {
        Some((path.display().to_string(), Source::Flag))
    } else if var_os("SWIM_CONTROL_TOKEN").is_some() {
        Some((
            "$SWIM_CONTROL_TOKEN".into(),
            Source::Env("SWIM_CONTROL_TOKEN"),
        ))
    } else {
        (p.file.control_token_file.as_ref()).map(|path| {
            let s = layers.source(|f| f.control_token_file.is_some());
            (path.display().to_string(), s.unwrap_or(Source::File))
        })
    };
    let handlers_in_files = layers.source(|f| f.event_handlers.is_some()).is_some();
    let handlers_source = if args.event_handlers && handlers_in_files {
        Source::FlagAndFiles
    } else if args.event_handlers {
        Source::Flag
    } else {
        layers
            .source(|f| f.event_handlers.is_some())
            .unwrap_or(Source::Default)
    };
    let e = Effective {
        config: p.config,
        preset: (preset.to_string(), either("preset", |f| f.preset.is_some())),
        control: (
            p.control.to_string(),
            flag("control", "SWIM_CONTROL")
                .or_else(|| layers.source(|f| f.control.is_some()))
                .unwrap_or(Source::Default),
        ),
        token,
        log: (p.log.to_string(), log_source),
        handlers: (
            p.handlers.iter().map(|h| h.to_string()).collect(),
            handlers_source,
        ),
        handler_timeout: (
            p.handler_timeout,
            either("event_handler_timeout", |f| {
                f.event_handler_timeout.is_some()
            }),
        ),
        sources,
        protocol_flags,
    };
    Ok(print_config::text(&e, &layers))
}

/// The agent's tags: the config file's `tags`, then `--tag` flags (which
/// replace a key of the same name).
fn agent_tags(file: &FileConfig, flags: &[(String, String)]) -> BTreeMap<String, String> {
    let mut tags = file.tags.clone();
    tags.extend(flags.iter().cloned());
    tags
}

/// The agent's log filter: `--log` (or `$SWIM_LOG`), else the config
/// file's `log`, else `$RUST_LOG`, else `info`.
fn agent_log(flag: Option<&str>, file: &FileConfig) -> String {
    flag.map(str::to_string)
        .or(file.log.clone())
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".into())
}

/// What SIGHUP reloads: the log filter, the tags and the sealing step,
/// from the config file read again and the flags the agent started with.
struct Reload {
    /// The config directory, if the agent has one.
    dir: Option<PathBuf>,
    /// The config file, if the agent has one.
    path: Option<PathBuf>,
    /// The file as the agent started with it: what differs from it in a
    /// later read, but cannot change at run time, needs a restart.
    started: FileConfig,
    /// `--tag` flags.
    flag_tags: Vec<(String, String)>,
    /// `--log` (or `$SWIM_LOG`).
    flag_log: Option<String>,
    /// `--preset` (the file's `sealing` applies onto it).
    flag_preset: Option<Preset>,
    /// `--sealing`: when given, it wins over the file's `sealing`.
    flag_sealing: Option<swim_core::Sealing>,
    /// The sealing step the config file named when last read (the
    /// preset's, `require`, when it names none). SIGHUP moves the agent
    /// only when the file's step changed since: a `swim keys sealing`
    /// carried out since is not undone by a reload for another reason.
    file_sealing: swim_core::Sealing,
    /// The last SIGHUP refused to move the agent back from `require` to
    /// the file's step ([`sighup_step_back`]): the next SIGHUP tries
    /// again, file changed or not (once `swim keys sealing send` moved
    /// the cluster back, `send` to `accept` is allowed).
    sealing_refused: bool,
    /// The keys that are tags now (the file's and the flags'), as set.
    tags: BTreeMap<String, String>,
    /// The log filter in force.
    log: String,
    set_filter: SetFilter,
}

impl Reload {
    /// Reads the config file again and applies what can change while the
    /// agent runs: the log filter, the tags (keys new or changed are set,
    /// keys that were tags and are gone are deleted; other keys are left
    /// alone) and the sealing step (see [`Reload::sealing`]). Logs one line
    /// of what was applied, one for a sealing step moved or refused, and
    /// one naming what changed but needs a restart. A file that no longer
    /// parses changes nothing.
    async fn apply(&mut self, node: &swim_tokio::Handle) {
        let shown = match (&self.dir, &self.path) {
            (None, None) => {
                tracing::info!(
                    "SIGHUP: no config file (--config) or directory (--config-dir) to reload; \
                     nothing changed"
                );
                return;
            }
            (Some(d), None) => d.display().to_string(),
            (None, Some(p)) => p.display().to_string(),
            (Some(d), Some(p)) => format!("{} and {}", d.display(), p.display()),
        };
        let file = match FileConfig::load_all(self.dir.as_deref(), self.path.as_deref()) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!("SIGHUP: {e}; nothing changed, the agent keeps its running config");
                return;
            }
        };
        let log = agent_log(self.flag_log.as_deref(), &file);
        let log_note = if log == self.log {
            match (&self.flag_log, &file.log) {
                (Some(_), Some(l)) if *l != log => {
                    "unchanged (--log or $SWIM_LOG wins over the file's `log`)".to_string()
                }
                _ => "unchanged".to_string(),
            }
        } else {
            match (self.set_filter)(&log) {
                Ok(()) => {
                    self.log = log;
                    format!("now `{}`", self.log)
                }
                Err(e) => format!("kept `{}` ({e})", self.log),
            }
        };
        let tags = agent_tags(&file, &self.flag_tags);
        let (set, delete) = swim_tokio::tag_changes(&self.tags, &tags);
        let (mut done_set, mut done_delete, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        for (k, v) in set {
            match node.set(&k, v.clone().into_bytes().into()).await {
                Ok(_) => {
                    done_set.push(format!("{k}={v}"));
                    self.tags.insert(k, v);
                }
                Err(e) => failed.push(format!("set {k}: {e}")),
            }
        }
        for k in delete {
            match node.delete(&k).await {
                Ok(_) => {
                    done_delete.push(k.clone());
                    self.tags.remove(&k);
                }
                Err(e) => failed.push(format!("delete {k}: {e}")),
            }
        }
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        tracing::info!(
            "SIGHUP: reloaded {shown}: log filter {log_note}; tags set: {}; tags deleted: {}{}",
            list(&done_set),
            list(&done_delete),
            if failed.is_empty() {
                String::new()
            } else {
                format!("; refused: {}", failed.join("; "))
            }
        );
        self.sealing(node, &file, &shown).await;
        let restart = self.started.restart_needed(&file);
        if !restart.is_empty() {
            tracing::warn!(
                "SIGHUP: {} changed in {shown} but needs a restart to take effect (only log, tags and \
                 sealing reload)",
                restart.join(", "),
            );
        }
    }

    /// The sealing step, on SIGHUP: when the file names another step than
    /// it did when last read (and no `--sealing` flag pins it), the agent
    /// moves there at once and logs from which step to which; a move to
    /// `send` or `require` without a key is refused and logged, and so is
    /// a move back from `require` ([`sighup_step_back`]: it would cut the
    /// agent off, or start to). A step the file did not change is left
    /// alone, even where the agent is elsewhere since a `swim keys
    /// sealing` (a warning says so: a restart would start at the file's
    /// step).
    async fn sealing(&mut self, node: &swim_tokio::Handle, file: &FileConfig, shown: &str) {
        let wanted = file.protocol_config(self.flag_preset).sealing;
        let changed = wanted != self.file_sealing || self.sealing_refused;
        self.file_sealing = wanted;
        self.sealing_refused = false;
        if let Some(flag) = self.flag_sealing {
            if changed && wanted != flag {
                tracing::info!(
                    "SIGHUP: sealing step unchanged at `{}`: --sealing wins over the file's `sealing` (`{}` in {shown})",
                    flag.as_str(),
                    wanted.as_str()
                );
            }
            return;
        }
        if !changed {
            let now = node.metrics().await.ok().and_then(|m| m.sealing);
            if let Some(now) = now.filter(|now| *now != wanted) {
                tracing::warn!(
                    "SIGHUP: sealing step `{}` (set by `swim keys sealing`), but {shown} says `{}`: a restart \
                     starts at `{}`; set sealing = \"{}\" in [protocol] to keep this step",
                    now.as_str(),
                    wanted.as_str(),
                    wanted.as_str(),
                    now.as_str()
                );
            }
            return;
        }
        // Checked just before the move; a `swim keys sealing` landing in
        // between is the only race, and it moves the agent forward or to
        // `send`, never to `accept`.
        let now = node.metrics().await.ok().and_then(|m| m.sealing);
        if let Some(why) = now.and_then(|now| sighup_step_back(now, wanted)) {
            self.sealing_refused = true;
            tracing::error!("SIGHUP: sealing step not moved: {why}");
            return;
        }
        match node.set_sealing(wanted).await {
            Ok(from) if from == wanted => tracing::info!(
                "SIGHUP: sealing step `{}` as {shown} says: the agent was there already",
                wanted.as_str()
            ),
            Ok(from) => {
                tracing::info!(
                    "SIGHUP: sealing step moved from `{}` to `{}` ({shown})",
                    from.as_str(),
                    wanted.as_str()
                );
                if wanted == swim_core::Sealing::Require {
                    tracing::warn!(
                        "SIGHUP: this agent now drops plain traffic: members still at `accept` are cut off \
                         from it; `swim keys sealing require` checks every member first"
                    );
                }
            }
            Err(e) => tracing::error!("SIGHUP: sealing step not moved: {e}"),
        }
    }

    /// What to say when a cluster key operation moved the agent to `to`:
    /// where a restart would start.
    fn after_cluster_sealing(&self, to: swim_core::Sealing) {
        let (start, from) = match self.flag_sealing {
            Some(flag) => (flag, "--sealing"),
            None => (self.file_sealing, "the config file's `sealing`"),
        };
        if start != to {
            tracing::warn!(
                "sealing step now `{}`, but a restart of this agent starts at `{}` ({from}): change it \
                 to `{}` to keep this step",
                to.as_str(),
                start.as_str(),
                to.as_str()
            );
        }
    }
}

/// Why SIGHUP refuses to move an agent with keys from sealing step `now`
/// to `wanted`, if it does: a move back from `require`. The cluster is at
/// `require` as far as this agent knows (it got there by its config or by
/// `swim keys sealing require`), and a member at `accept` sends plain,
/// which every member at `require` drops: it would be cut off and held
/// failed within seconds. `require` to `send` cuts no one off by itself,
/// but a second SIGHUP to `accept` would, so it is refused too: the
/// rollback is the cluster's, `swim keys sealing send` (every member at
/// once, this one included). From `send`, `accept` stays allowed: it is
/// the rollback's last step, each member by its own config (no key
/// operation moves members to `accept`).
fn sighup_step_back(now: swim_core::Sealing, wanted: swim_core::Sealing) -> Option<String> {
    use swim_core::Sealing::{Accept, Require};
    if now != Require || wanted == Require {
        return None;
    }
    let harm = if wanted == Accept {
        "a member at `accept` sends plain traffic, which every member at `require` drops: this \
         agent would be cut off and held failed within seconds"
    } else {
        "members move back from `require` together, or a later move to `accept` cuts this one off"
    };
    let then = if wanted == Accept {
        "then SIGHUP again (this agent moves on to `accept`). A restart starts at the config's \
         step, `accept`, and is cut off the same way while members are at `require`"
    } else {
        "then SIGHUP again, or restart this agent (it starts at the config's step, `send`)"
    };
    Some(format!(
        "the agent stays at `require` (the config file says `{}`): SIGHUP does not move back \
         from `require`, as {harm}. To roll the cluster back, run `swim keys sealing send` \
         (every member moves to `send`; nobody is cut off), {then}",
        wanted.as_str()
    ))
}

/// The agent's control token: from `--control-token-file`, else
/// `$SWIM_CONTROL_TOKEN`, else the config's `control_token_file` (already
/// resolved against its file's directory, not where the agent starts).
fn agent_token(flag: Option<&Path>, from_config: Option<&Path>) -> Result<Option<Token>, Fail> {
    if let Some(path) = flag {
        return Token::from_file(path).map(Some);
    }
    if let Some(token) = Token::from_env()? {
        return Ok(Some(token));
    }
    let Some(path) = from_config else {
        return Ok(None);
    };
    Token::from_file(path)
        .map(Some)
        .map_err(|e| format!("{e} (control_token_file in the config)"))
}

async fn agent(
    config: AgentConfig,
    control: SocketAddr,
    control_options: ControlOptions,
    mut reload: Reload,
    (handlers, handler_timeout): (Vec<swim_tokio::handlers::HandlerSpec>, std::time::Duration),
) -> Result<(), Fail> {
    use tokio::signal::unix::{signal, SignalKind};
    let listener = tokio::net::TcpListener::bind(control).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            format!("cannot serve the control API on {control}: address already in use (is another agent running?); pass --control ADDR or set SWIM_CONTROL")
        } else {
            format!("cannot serve the control API on {control}: {e}; pass another --control ADDR")
        }
    })?;
    let control = listener.local_addr().unwrap_or(control);
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot listen for SIGTERM: {e}"))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot listen for SIGINT: {e}"))?;
    let mut hup =
        signal(SignalKind::hangup()).map_err(|e| format!("cannot listen for SIGHUP: {e}"))?;
    let seeds = config.seeds.join(", ");
    let mut joining = !config.seeds.is_empty();
    let node = swim_tokio::start(config).await.map_err(|e| e.to_string())?;
    // Subscribed before the node task first runs: no join outcome is missed.
    let mut events = node.subscribe();
    for h in &handlers {
        tracing::info!(handler = %h, timeout = ?handler_timeout, "event handler");
    }
    swim_tokio::handlers::spawn(&node, handlers, handler_timeout);
    // One line on stdout for scripts and tests; logs go to stderr.
    println!(
        "swim agent {} running: gossip={} advertise={} control={}",
        node.name(),
        node.local_addr(),
        node.advertise_addr(),
        control
    );
    let (left_tx, mut left_rx) = tokio::sync::mpsc::channel(1);
    let (handle, tokened) = (node.clone(), control_options.token.is_some());
    tokio::spawn(async move {
        // It returns only if it refuses the address, which was checked above.
        let Err(e) = swim_tokio::control::serve(listener, handle, left_tx, control_options).await;
        tracing::error!(error = %e, "control API not served");
    });
    tracing::info!(%control, token = tokened, "control API listening");
    // The last refusal of the join, to say why it failed.
    let mut refused = None;
    loop {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: leaving the cluster"),
            _ = int.recv() => tracing::info!("SIGINT: leaving the cluster"),
            _ = hup.recv() => {
                reload.apply(&node).await;
                continue;
            }
            _ = left_rx.recv() => return Ok(()),
            () = node.stopped() => return Ok(()),
            e = events.recv() => {
                match e {
                    Ok(swim_core::Event::JoinCompleted { .. }) => joining = false,
                    Ok(swim_core::Event::JoinRefused { seed, holder, authenticated }) => {
                        refused = Some(swim_tokio::join_refused(node.name(), seed, holder, authenticated));
                    }
                    Ok(swim_core::Event::SealingChanged { to, .. }) => {
                        reload.after_cluster_sealing(to);
                    }
                    Ok(swim_core::Event::JoinFailed { attempts }) if joining => {
                        node.shutdown().await;
                        if let Some(why) = refused {
                            return Err(format!("{why} (--join {seeds}, {attempts} attempts)"));
                        }
                        return Err(format!(
                            "no seed answered the join in {attempts} attempts (--join {seeds}); \
                             {}; or pass --retry-max 0 to retry for ever",
                            swim_tokio::JOIN_UNANSWERED
                        ));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        return Ok(())
                    }
                    _ => {}
                }
                continue;
            }
        }
        break;
    }
    tokio::select! {
        r = node.leave() => match r {
            Ok(o) if o.completed => tracing::info!("left the cluster"),
            Ok(_) => tracing::warn!("leave timed out; stopping anyway"),
            Err(_) => {}
        },
        _ = term.recv() => tracing::warn!("second signal: stopping without finishing the leave"),
        _ = int.recv() => tracing::warn!("second signal: stopping without finishing the leave"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use swim_core::Sealing::{Accept, Require, Send};

    /// SIGHUP moves forward freely, and from `send` to `accept` (the
    /// rollback's last step); back from `require` it refuses, saying why
    /// and what to run instead.
    #[test]
    fn sighup_does_not_move_back_from_require() {
        for (now, wanted) in [
            (Accept, Send),
            (Accept, Require),
            (Send, Require),
            (Send, Accept),
            (Require, Require),
        ] {
            assert_eq!(sighup_step_back(now, wanted), None, "{now:?} to {wanted:?}");
        }
        let why = sighup_step_back(Require, Accept).unwrap();
        for part in [
            "stays at `require`",
            "cut off",
            "swim keys sealing send",
            "restart",
        ] {
            assert!(why.contains(part), "{part}: {why}");
        }
        let why = sighup_step_back(Require, Send).unwrap();
        assert!(why.contains("swim keys sealing send"), "{why}");
    }
}
