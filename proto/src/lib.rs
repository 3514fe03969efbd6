//! The wire schema of swim: prost types generated from `swim.proto`.
//!
//! `Packet` is a datagram (probe messages plus piggybacked `Update`s);
//! `StreamFrame` is one side of a push-pull exchange. Decoding and validation
//! live in `swim-core`'s codec; this crate only holds the types.
//!
//! The types are generated from `swim.proto` by prost (with protox as the
//! parser, so no `protoc` is needed) and committed as `src/swim.v1.rs`:
//! building this crate runs no code generator. The test
//! `tests/generated.rs` regenerates the file and fails if it differs; after
//! editing `swim.proto`, `SWIM_PROTO_BLESS=1 cargo test -p swim-proto --test
//! generated` rewrites it.
#![allow(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links)]

/// Version 1 of the schema (`package swim.v1`).
pub mod v1 {
    include!("swim.v1.rs");
}

pub use v1::*;

/// Written by hand (generation skips the derived one): the key to install
/// is secret, so only its length is shown. A `Packet` or `Query` printed
/// with `{:?}` shows no key bytes.
impl core::fmt::Debug for v1::KeyOp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let op = v1::key_op::Op::try_from(self.op)
            .map(|o| o.as_str_name())
            .unwrap_or("unknown");
        f.debug_struct("KeyOp")
            .field("op", &op)
            .field("key", &format_args!("<{} secret bytes>", self.key.len()))
            .field("key_id", &format_args!("{:016x}", self.key_id))
            .field(
                "sealing",
                &v1::SealingStep::try_from(self.sealing)
                    .map(|s| s.as_str_name())
                    .unwrap_or("unknown"),
            )
            .finish()
    }
}

/// The protocol version this build speaks (and writes in every packet).
pub const PROTOCOL_VERSION: u32 = 1;

/// The oldest protocol version this build still reads (memberlist's
/// protocol min/max): packets outside `MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION`
/// are dropped. A change a build before it cannot read raises
/// `PROTOCOL_VERSION`; keeping the minimum lets a cluster upgrade one member
/// at a time. Sealing and queries did not need one: an older build skips
/// their fields, and drops a sealed message as invalid (it names no sender).
pub const MIN_PROTOCOL_VERSION: u32 = 1;

/// Whether this build reads packets of protocol version `v`.
pub fn readable(v: u32) -> bool {
    (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&v)
}
