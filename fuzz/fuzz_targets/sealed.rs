//! The `sealed` target: see `fuzz/cases/sealed.rs`, which the corpus replay
//! test (`swim-core/tests/fuzz_corpus.rs`) runs too.
#![no_main]

#[path = "../cases/mod.rs"]
mod cases;

libfuzzer_sys::fuzz_target!(|data: &[u8]| cases::sealed::run(data));
