//! The trace hash: a running FNV-1a digest of everything the simulation
//! delivered and every output the nodes produced, so two runs can be compared
//! byte for byte with one number.

/// FNV-1a, 64 bits.
#[derive(Clone, Debug)]
pub struct TraceHash(u64);

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHash {
    /// Mixes `bytes` into the digest.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Mixes a number into the digest.
    pub fn write_u64(&mut self, v: u64) {
        self.write(&v.to_le_bytes());
    }

    /// The digest so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_and_order_sensitivity() {
        let mut h = TraceHash::default();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
        let (mut x, mut y) = (TraceHash::default(), TraceHash::default());
        x.write_u64(1);
        x.write_u64(2);
        y.write_u64(2);
        y.write_u64(1);
        assert_ne!(x.finish(), y.finish());
    }
}
