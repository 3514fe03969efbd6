//! # swim-tokio
//!
//! A tokio driver for [`swim_core`]: one UDP socket for probes and gossip, a
//! TCP listener for push-pull streams, and one task that owns the
//! [`swim_core::Node`] and feeds it.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use swim_tokio::{AgentConfig, Preset};
//! let mut config = AgentConfig::new("node-1", "127.0.0.1:7946".parse()?, Preset::Lan);
//! config.seeds = vec!["127.0.0.1:7947".into()];
//! let node = swim_tokio::start(config).await?;
//! let mut events = node.subscribe();
//! while let Ok(event) = events.recv().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```
//!
//! ## How the driver works
//!
//! The node task loops: carry out every pending [`swim_core::Output`]
//! (send datagrams with `try_send_to`, spawn a task per stream it opens, queue
//! frames to stream tasks, close streams, broadcast events), then `select!` on the UDP
//! socket, the stream tasks' channel, the node's next deadline and the
//! [`Handle`]'s command channel, and feed exactly one [`swim_core::Input`].
//! Time given to the node is microseconds since the task started; its seed
//! comes from OS entropy. A stream is a conversation of length-prefixed
//! frames both ways (`u32` big-endian length), each limited to
//! `max_stream_frame` bytes and each with its own timeout. The `swim` binary adds an HTTP control API
//! ([`control`]) and a CLI on top.
#![warn(missing_docs)]

mod config;
pub mod control;
mod driver;
mod files;
mod handle;
pub mod handlers;
pub mod keyring;
mod logs;
mod metrics_help;
pub mod snapshot;
mod stream;

pub use config::{
    parse_duration, tag_changes, AgentConfig, ConfigOverrides, FileConfig, FileConfigError, Preset,
};
pub use driver::{join_refused, resolve_seeds, start, StartError, JOIN_UNANSWERED};
pub use handle::{
    sealing_needs_keys, AgentMetrics, DriverMetrics, ExplainInfo, Handle, HandleError, KeyAnswer,
    KeyReport, LeaveOutcome, MemberInfo, QueryStream, QuerySummary, QueryUpdate, Reachability,
    MAX_QUERY_NODES, QUERY_UPDATES, REACHABILITY_QUERY,
};
pub use swim_core;
