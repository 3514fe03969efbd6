//! # swim-sim
//!
//! A seeded, deterministic network simulator for [`swim_core::Node`] clusters.
//! One `u64` seed decides every node seed, start time, latency and loss draw;
//! the same seed and options give the same trace, byte for byte (compare
//! [`Report::trace_hash`]). Observers measure the cluster against ground
//! truth: who is really up.
//!
//! For an application's own tests, [`Cluster`] is the short way in: a few
//! real nodes, time that passes at will, crashes and partitions, commands,
//! every view and every event a node's application would read.
//!
//! ## Call order
//!
//! 1. [`Cluster::new`]`(n, seed)` (or [`Cluster::with_config`],
//!    [`Cluster::with_options`] for a network with latency and loss, sealing
//!    keys, ...): nodes 1.. join through node 0 in the first second.
//! 2. [`Cluster::run_for`] lets simulated time pass (a minute takes
//!    milliseconds).
//! 3. Faults and commands at the present instant: [`Cluster::crash`],
//!    [`Cluster::restart`], [`Cluster::leave`], [`Cluster::partition`] /
//!    [`Cluster::heal`], any [`FaultKind`] with [`Cluster::fault`];
//!    [`Cluster::set`], [`Cluster::delete`], [`Cluster::fire`],
//!    [`Cluster::query`], any [`swim_core::Node`] method with
//!    [`Cluster::command`]. Then run again.
//! 4. Assert: [`Cluster::events`] drains the [`swim_core::Event`]s each node
//!    emitted; [`Cluster::status`], [`Cluster::get`], [`Cluster::view`],
//!    [`Cluster::converged`], [`Cluster::keys_agree`] read the views;
//!    [`Cluster::violation`] is the first safety violation the checker saw.
//!
//! ```
//! use std::time::Duration;
//! use swim_core::Event;
//! use swim_sim::Cluster;
//!
//! let mut cluster = Cluster::new(3, 7); // three nodes, seed 7
//! cluster.run_for(Duration::from_secs(5));
//! cluster.set(1, "role", "db");
//! cluster.crash(2);
//! cluster.run_for(Duration::from_secs(30));
//!
//! for viewer in [0, 1] {
//!     let seen = cluster.events(viewer);
//!     assert!(seen.iter().any(|e| matches!(e,
//!         Event::MemberFailed { member, .. } if member.name == "node-2")));
//!     if viewer == 0 {
//!         assert!(seen.iter().any(|e| matches!(e,
//!             Event::KeySet { member, key, .. } if *member == "node-1" && key == "role")));
//!     }
//! }
//! assert!(cluster.converged() && cluster.violation().is_none());
//! ```
//!
//! For whole runs (hundreds or thousands of nodes, scheduled faults, a
//! [`Report`]), use [`Sim`] with [`Options`]; the `swim-sim` command line
//! runs scenario files.
//!
//! ## Depending on it
//!
//! The crates are not published on crates.io: depend on them by path or
//! by git (see the README's "Embedding" section). Without the command
//! line's crates (clap, TOML, SVG plots):
//!
//! ```toml
//! [dev-dependencies]
//! swim-core = { path = "../swim/swim-core" }
//! swim-sim = { path = "../swim/swim-sim", default-features = false }
//! ```
#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links)]

pub mod check;
mod cluster;
pub mod deliveries;
#[cfg(feature = "cli")]
mod faults;
pub mod hostile;
pub mod network;
#[cfg(feature = "cli")]
pub mod numbers;
mod observe;
#[cfg(feature = "cli")]
pub mod plot;
#[cfg(feature = "cli")]
pub mod scenario;
mod sim;
pub mod theory;
mod trace;
pub mod truth;
pub mod units;

pub use check::Violation;
pub use cluster::Cluster;
pub use hostile::{Attack, Baseline, Hostile, HostileReport};
pub use network::{Latency, Network};
pub use observe::{CatchUpReport, Coverage, CrashReport, HealReport, LeaveReport, Observer};
#[cfg(feature = "cli")]
pub use scenario::{Checks, Scenario, Verdict};
pub use sim::{
    addr_of, index_of_name, name_of, Candidates, Fault, FaultKind, Options, Report, Sim,
};
pub use trace::TraceHash;
pub use truth::{Evidence, FalseDeath, HoldOut, MemberVerdicts};

/// The README's examples (the core's and this crate's), compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
