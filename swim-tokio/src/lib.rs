//! Tokio driver for swim-core (in progress).
