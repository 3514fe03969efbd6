//! # swim-sim
//!
//! A seeded, deterministic network simulator for [`swim_core::Node`] clusters.
//! One `u64` seed decides every node seed, start time, latency and loss draw;
//! the same seed and options give the same trace, byte for byte (compare
//! [`Report::trace_hash`]). Observers measure the cluster against ground
//! truth: who is really up.
#![warn(missing_docs)]

pub mod check;
pub mod network;
mod observe;
pub mod plot;
pub mod scenario;
mod sim;
pub mod theory;
mod trace;
pub mod units;

pub use check::Violation;
pub use network::{Latency, Network};
pub use observe::{Coverage, CrashReport, HealReport, Observer};
pub use scenario::{Checks, Failure, Scenario};
pub use sim::{addr_of, name_of, Fault, FaultKind, Options, Report, Sim};
pub use trace::TraceHash;
