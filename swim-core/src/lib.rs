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
pub use wire::{hidden, valid_name, DropReason, MAX_INCARNATION};

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
