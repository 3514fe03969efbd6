//! The `sequence` target: see `fuzz/cases/sequence.rs`, which the corpus replay
//! test (`swim-core/tests/fuzz_corpus.rs`) runs too.
#![no_main]

#[path = "../cases/mod.rs"]
mod cases;

libfuzzer_sys::fuzz_target!(|data: &[u8]| cases::sequence::run(data));
