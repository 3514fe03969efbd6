//! The node's one source of randomness.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// A seeded ChaCha8 generator: every random choice of a node draws from it,
/// so one seed reproduces a node's behaviour exactly.
#[derive(Debug, Clone)]
pub(crate) struct Random(ChaCha8Rng);

impl Random {
    pub fn new(seed: u64) -> Self {
        Random(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A uniform integer in `0..n` (`n > 0`), without modulo bias worth noting
    /// (Lemire's multiply-shift on 64 bits).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((u128::from(self.0.next_u64()) * n as u128) >> 64) as usize
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}
