//! # swim-tokio
//!
//! A tokio driver for [`swim_core`]: one UDP socket for probes and gossip, a
//! TCP listener for push-pull streams, and one task that owns the
//! [`swim_core::Node`] and feeds it.
//!
//! ## Call order
//!
//! 1. [`AgentConfig::new`]`(name, bind, preset)`; set what else you need
//!    (`seeds`, sealing keys, overrides of the protocol's [`Preset`]).
//! 2. [`start`]`(config).await` binds the sockets, spawns the node task on
//!    the current tokio runtime and returns its [`Handle`] (joining the
//!    seeds in the background, when there are any).
//! 3. [`Handle::subscribe`] before anything you must not miss: every
//!    [`swim_core::Event`] the node emits, as a broadcast channel.
//! 4. Commands and reads through the handle, from any task:
//!    [`Handle::join`], [`Handle::set`] / [`Handle::delete`],
//!    [`Handle::event`], [`Handle::query`], [`Handle::members`],
//!    [`Handle::metrics`], ...
//! 5. [`Handle::leave`] to leave gracefully (the others see `MemberLeft`,
//!    not a failure), or [`Handle::shutdown`] to stop at once.
//!
//! Two nodes on loopback, on ephemeral ports: `b` joins through `a`, sets a
//! key, and `a`'s application sees it.
//!
//! ```
//! use std::time::Duration;
//! use swim_tokio::swim_core::Event;
//! use swim_tokio::{AgentConfig, Preset};
//! use tokio::sync::broadcast::Receiver;
//! use tokio::time::{error::Elapsed, timeout};
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let a = swim_tokio::start(AgentConfig::new("a", "127.0.0.1:0".parse()?, Preset::Local)).await?;
//! let mut events = a.subscribe();
//! let mut config = AgentConfig::new("b", "127.0.0.1:0".parse()?, Preset::Local);
//! config.seeds = vec![a.local_addr().to_string()];
//! let b = swim_tokio::start(config).await?;
//!
//! // What `a`'s application reads: `b` joins, then sets a key.
//! async fn wait_for(events: &mut Receiver<Event>, want: impl Fn(&Event) -> bool) -> Result<(), Elapsed> {
//!     timeout(Duration::from_secs(10), async {
//!         loop {
//!             if events.recv().await.is_ok_and(|e| want(&e)) {
//!                 return;
//!             }
//!         }
//!     })
//!     .await
//! }
//! wait_for(&mut events, |e| matches!(e, Event::MemberJoined { member, .. } if member.name == "b")).await?;
//! b.set("role", "db".into()).await?;
//! wait_for(&mut events, |e| matches!(e, Event::KeySet { member, key, .. } if *member == "b" && key == "role")).await?;
//!
//! assert!(b.leave().await?.completed);
//! a.shutdown().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
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
#![deny(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links)]

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

pub use config::{tag_changes, AgentConfig, FileConfig, FileConfigError};
// The core's own items: linked to their pages in swim-core, not copied here
// (a copy's links to other core items would not resolve from this crate).
pub use driver::{join_refused, resolve_seeds, start, StartError, JOIN_UNANSWERED};
pub use handle::{
    sealing_needs_keys, AgentMetrics, DriverMetrics, ExplainInfo, Handle, HandleError, KeyAnswer,
    KeyReport, LeaveOutcome, MemberInfo, QueryStream, QuerySummary, QueryUpdate, Reachability,
    MAX_QUERY_NODES, QUERY_UPDATES, REACHABILITY_QUERY,
};
pub use swim_core;
#[doc(no_inline)]
pub use swim_core::{parse_duration, ConfigOverrides, Preset};
