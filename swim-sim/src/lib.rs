//! # swim-sim
//!
//! A seeded, deterministic network simulator for [`swim_core::Node`] clusters.
//! One `u64` seed decides every node seed, start time, latency and loss draw;
//! the same seed and options give the same trace, byte for byte (compare
//! [`Report::trace_hash`]). Observers measure the cluster against ground
//! truth: who is really up.
//!
//! For an application's own tests, [`Cluster`] is the short way in: a few
//! nodes, time that passes at will, crashes and partitions, every view.
//! Depend on it without the command line's crates:
//! `swim-sim = { version = "0.1", default-features = false }`.
#![warn(missing_docs)]

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
