//! # swim-core
//!
//! The SWIM membership protocol (with Lifeguard's refinements, piggybacked
//! gossip and push-pull anti-entropy) as one pure state machine, [`Node`].
//!
//! The core does no IO and reads no clock: time is an input ([`Instant`]),
//! randomness comes from one seed, bytes come in as [`Input`]s and go out as
//! [`Output`]s. Drivers (the async socket driver, the `swim-sim` simulator,
//! your own event loop) carry datagrams and streams and call [`Node::step`] when
//! [`Node::poll_timeout`] says so.
//!
//! ## Call order
//!
//! 1. Build a [`Config`] ([`Config::lan`], [`Config::wan`], [`Config::local`],
//!    or a [`Preset`] with overrides; [`Config::validate`] says what is
//!    wrong) and an [`Identity`] (name and address).
//! 2. [`Node::new`]`(config, identity, seed, now)`: `now` is an [`Instant`]
//!    on a clock the driver picks; the seed decides every random choice.
//! 3. Give commands: [`Node::join`] with seed addresses (none for the first
//!    node), [`Node::set`] / [`Node::delete`] of this node's keys,
//!    [`Node::event`], [`Node::query`] / [`Node::respond`],
//!    [`Node::keyring_op`], and finally [`Node::leave`].
//! 4. Feed inputs: every datagram ([`Input::Datagram`]), stream frame and
//!    stream closure goes to [`Node::step`] with the current time, and so
//!    does [`Input::Tick`] once [`Node::poll_timeout`] is due.
//! 5. **After every call of 3 or 4, drain the outputs** (the iterator
//!    [`Node::step`] returns, or [`Node::poll_output`] until `None`): send
//!    [`Output::Datagram`]s, open, write and close streams, hand
//!    [`Output::Event`]s ([`Event`]) to the application.
//! 6. Read [`Node::poll_timeout`] and sleep until then or the next input,
//!    whichever comes first; go to 4.
//!
//! Reads ([`Node::members`], [`Node::member`], [`Node::get`],
//! [`Node::metrics`], ...) are allowed at any time and change nothing. The
//! [`Node`] page has the rule in full, and its method groups.
//!
//! ## Example
//!
//! Two nodes in one process, the network a list of outputs in flight: `b`
//! joins through `a` (over a stream), then both probe each other by
//! datagram. Each side's events are what its application would read.
//!
//! ```
//! use swim_core::{Config, Event, Identity, Input, Instant, Node, Output, StreamId};
//!
//! let addr = |port| std::net::SocketAddr::from(([127, 0, 0, 1], port));
//! let mut now = Instant::ZERO;
//! let mut nodes = [
//!     Node::new(Config::local(), Identity::new("a", addr(7001)), 1, now)?,
//!     Node::new(Config::local(), Identity::new("b", addr(7002)), 2, now)?,
//! ];
//! nodes[1].join(&[addr(7001)], now)?; // a command, then drain its outputs:
//! let mut in_flight: Vec<(usize, Output)> = nodes[1].poll_outputs().map(|o| (1, o)).collect();
//! let mut streams: Vec<(usize, StreamId)> = Vec::new(); // k: (opener, its id); accepted(k) at the other end
//! let mut events: Vec<(usize, Event)> = Vec::new();
//! while now < Instant::from_millis(2_000) {
//!     while !in_flight.is_empty() {
//!         let (src, out) = in_flight.remove(0);
//!         let (dst, from) = (1 - src, nodes[src].local().addr);
//!         let input = match out {
//!             Output::Datagram { bytes, .. } => Input::Datagram { from, bytes },
//!             Output::StreamOpen { id, .. } => {
//!                 streams.push((src, id)); // a real driver connects here
//!                 continue;
//!             }
//!             Output::StreamFrame { id, bytes } => {
//!                 // The receiving end knows the stream under its own id.
//!                 let id = match streams.iter().position(|&s| s == (src, id)) {
//!                     Some(k) => StreamId::accepted(k as u64),
//!                     None => streams[(0..streams.len())
//!                         .find(|&k| StreamId::accepted(k as u64) == id)
//!                         .expect("an accepted stream")]
//!                     .1,
//!                 };
//!                 Input::StreamFrame { id, from, bytes }
//!             }
//!             Output::Event(e) => {
//!                 events.push((src, e));
//!                 continue;
//!             }
//!             _ => continue, // a stream's close: nothing to tear down here
//!         };
//!         in_flight.extend(nodes[dst].step(input, now).map(|o| (dst, o)));
//!     }
//!     // Nothing in flight: sleep until the earliest timer, then tick.
//!     now = nodes.iter().filter_map(Node::poll_timeout).min().expect("timers run");
//!     for (i, node) in nodes.iter_mut().enumerate() {
//!         in_flight.extend(node.step(Input::Tick, now).map(|o| (i, o)));
//!     }
//! }
//! let joined = |i: usize, name: &str| events.iter().any(|(j, e)| {
//!     *j == i && matches!(e, Event::MemberJoined { member, .. } if member.name == name)
//! });
//! assert!(joined(0, "b") && joined(1, "a"));
//! assert!(events.iter().any(|(j, e)| *j == 1 && matches!(e, Event::JoinCompleted { .. })));
//! assert_eq!((nodes[0].num_live(), nodes[1].num_live()), (2, 2));
//! # Ok::<(), swim_core::Error>(())
//! ```
//!
//! For more nodes, faults and time that passes at will, `swim-sim`'s
//! `Cluster` runs real nodes in a seeded simulation; `swim-tokio` drives a
//! node over UDP and TCP.
//!
//! ## Remote bytes
//!
//! Remote bytes never make the node panic or return an error: a packet that
//! fails to decode or validate is dropped whole, counted in
//! [`Metrics::dropped`] and traced with `tracing` at debug level.
//!
//! Words: a *key* is an entry of a member's namespace ([`Node::set`],
//! [`MAX_KEYS`]); the secrets that seal traffic are *secret keys*
//! ([`SecretKey`]), held in the *keyring* ([`Keyring`], [`KeyringOp`]).
//!
//! Feature `serde`: [`Config`], [`ConfigOverrides`], [`Preset`] and
//! [`Sealing`] (de)serialize, so that config files (the agent's `[protocol]`
//! table, the simulator's scenarios) are a preset plus overrides of any
//! `Config` field; `serde_duration` reads durations as they write them.
#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links)]

mod awareness;
mod candidate;
mod codec;
mod config;
mod damping;
mod event;
mod exchange;
mod gossip;
mod heal;
mod member;
mod member_table;
mod metrics;
mod name;
mod namespace;
mod node;
mod outbox;
mod piggyback;
mod probe;
mod query;
mod replicas;
mod seal;
mod source;
mod summary;
mod suspicion;
mod time;
mod timer;
pub mod user_event;
pub mod user_query;
mod util;
mod verdict;
mod view;
mod wire;

pub use bytes::Bytes;
#[cfg(feature = "serde")]
pub use config::serde_duration;
pub use config::{
    format_duration, parse_duration, Config, ConfigError, ConfigOverrides, Preset, MAX_NAME_LEN,
};
pub use event::{Event, Input, Output, StreamId};
pub use exchange::reconnect_interval;
pub use piggyback::retransmit_limit;
pub use wire::{escape_hidden, hidden, valid_name, DropReason, MAX_INCARNATION};

/// The old name of [`reconnect_interval`], from when a periodic push-pull
/// exchange ran with live members.
#[deprecated(note = "renamed to `reconnect_interval`")]
pub fn push_pull_interval(base: core::time::Duration, n: usize) -> core::time::Duration {
    reconnect_interval(base, n)
}
pub use member::{supersedes, Member, Status};
pub use metrics::{
    ByKind, Dropped, KeysRefused, Metrics, RoundTrips, Traffic, ROUND_TRIP_BUCKETS_US,
};
pub use name::Name;
pub use namespace::{MAX_KEYS, MAX_KEY_LEN, MAX_NAMESPACE_BYTES, MAX_VALUE_LEN};
pub use node::{Error, Identity, KeyStats, Node};
pub use outbox::Outputs;
pub use query::{KeyringOp, MAX_QUERY_TIMEOUT};
pub use seal::{Keyring, KeyringError, Sealing, SecretKey, SecretKeyId};
pub use user_event::{Coalescer, MAX_EVENT_SIZE};
pub use user_query::{
    QueryFilter, QueryOptions, DEFAULT_RELAY_FACTOR, MAX_QUERY_SIZE, MAX_REGEX_LEN,
    MAX_RELAY_FACTOR, MAX_RESPONSE_SIZE, MAX_TAG_FILTERS,
};

/// The old name of [`SecretKey`] ("key" alone now means a namespace key).
#[deprecated(note = "renamed to `SecretKey`")]
pub type Key = SecretKey;
/// The old name of [`SecretKeyId`].
#[deprecated(note = "renamed to `SecretKeyId`")]
pub type KeyId = SecretKeyId;
/// The old name of [`KeyringError`].
#[deprecated(note = "renamed to `KeyringError`")]
pub type KeyError = KeyringError;
/// The old name of [`KeyringOp`].
#[deprecated(note = "renamed to `KeyringOp`")]
pub type KeyOp = KeyringOp;
pub use suspicion::{min_timeout as suspicion_min_timeout, timeout as suspicion_timeout};
pub use time::Instant;
pub use verdict::{Evidence, Explanation, Suspected, Verdict, MAX_CONFIRMERS};
