//! The wire schema of swim: prost types generated from `swim.proto`.
//!
//! `Packet` is a datagram (probe messages plus piggybacked `Update`s);
//! `StreamFrame` is one side of a push-pull exchange. Decoding and validation
//! live in `swim-core`'s codec; this crate only holds the types.
#![allow(missing_docs)]

/// Version 1 of the schema (`package swim.v1`).
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/swim.v1.rs"));
}

pub use v1::*;

/// The protocol version this build speaks; packets with another are dropped.
pub const PROTOCOL_VERSION: u32 = 1;
