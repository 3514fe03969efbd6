//! The summary: one number that says what a node knows, carried in every
//! datagram, so that two nodes learn that they agree without exchanging
//! anything else.
//!
//! It is a wrapping sum, over the members a node holds alive or suspect, of
//! a pinned hash of `(name, incarnation)`, plus, over the namespaces it
//! holds, of a pinned hash of `(owner, life, watermark, GC watermark,
//! content)`. The content is a wrapping sum of a pinned hash of each entry
//! held (key, version, value or tombstone), those ahead of a gap too:
//! honest replicas at one watermark hold the same entries below it, and a
//! replica holds honest entries above it only while it is behind its owner
//! (whose watermark then differs anyway). A replica that took a write its
//! owner never made disagrees with the owner at the owner's own watermark,
//! whatever version the write claimed, and repair looks: the owner sees its
//! digest and disowns it.
//! (A member's life is in the sum only through its namespace: a join wave
//! spreads no lives, and the sums of nodes that learned of a keyless member
//! by gossip still agree.)
//! A sum changes in O(1) when one member or namespace changes, whatever the
//! order changes arrive in. The hash is FNV-1a followed by splitmix64's
//! finaliser: the same bits on every platform and in every version (never
//! a hasher seeded per process).
//!
//! Failure modes: two different states can share a sum (a 2^-64 chance per
//! comparison), which hides a repair until the next change; suspicion is
//! not in the sum (it is settled by refutation or death); a node whose
//! peers run a version without summaries never compares.

use crate::namespace::Digest;

/// How many buckets a summary is split into, by name: a repair exchange
/// first compares the buckets and then carries only the members and
/// namespaces of those that differ.
pub(crate) const BUCKETS: usize = 64;

/// The bucket of the member or owner `name`.
pub(crate) fn bucket(name: &str) -> usize {
    (self::name(name) >> 58) as usize
}

/// A summary kept per bucket; the summary is their (wrapping) sum.
#[derive(Clone, Debug)]
pub(crate) struct Sums {
    total: u64,
    buckets: Box<[u64; BUCKETS]>,
}

impl Default for Sums {
    fn default() -> Self {
        Sums {
            total: 0,
            buckets: Box::new([0; BUCKETS]),
        }
    }
}

impl Sums {
    /// What `name` adds changes from `before` to `after`.
    pub fn replace(&mut self, name: &str, before: u64, after: u64) {
        if before == after {
            return;
        }
        let b = &mut self.buckets[bucket(name)];
        *b = b.wrapping_sub(before).wrapping_add(after);
        self.total = self.total.wrapping_sub(before).wrapping_add(after);
    }

    /// The whole summary.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Each bucket's sum.
    pub fn buckets(&self) -> &[u64; BUCKETS] {
        &self.buckets
    }
}

/// The buckets in which two nodes' sums differ, as a bitmap (bit `b` for
/// bucket `b`); all of them when `theirs` has another length.
pub(crate) fn differ(ours: &[u64; BUCKETS], theirs: &[u64]) -> u64 {
    if theirs.len() != BUCKETS {
        return u64::MAX;
    }
    (0..BUCKETS)
        .filter(|&b| ours[b] != theirs[b])
        .fold(0, |m, b| m | 1 << b)
}

/// Whether `name` falls in one of the buckets of bitmap `set`.
pub(crate) fn in_buckets(name: &str, set: u64) -> bool {
    set == u64::MAX || set & (1 << bucket(name)) != 0
}

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

pub(crate) fn finish(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// A hash of a name alone.
pub(crate) fn name(name: &str) -> u64 {
    finish(fnv(fnv(BASIS, b"n"), name.as_bytes()))
}

/// The contribution of a live member.
pub(crate) fn member(name: &str, incarnation: u64) -> u64 {
    let h = fnv(fnv(BASIS, b"m"), name.as_bytes());
    finish(fnv(h, &incarnation.to_le_bytes()))
}

/// The contribution of a namespace.
pub(crate) fn namespace(owner: &str, d: Digest) -> u64 {
    let mut h = fnv(BASIS, b"k");
    h = fnv(h, owner.as_bytes());
    for v in [d.life, d.watermark, d.gc, d.content] {
        h = fnv(h, &v.to_le_bytes());
    }
    finish(h)
}

/// What an empty namespace's content is (never 0: on the wire, 0 says
/// that a peer did not send its content).
pub(crate) const EMPTY_CONTENT: u64 = 0x6b65_7973_2d6e_6f6e;

/// The hash of one entry of a namespace, as summed into its content.
pub(crate) fn entry(key: &str, version: u64, value: Option<&[u8]>) -> u64 {
    let mut h = fnv(BASIS, b"e");
    h = fnv(h, &(key.len() as u64).to_le_bytes());
    h = fnv(h, key.as_bytes());
    h = fnv(h, &version.to_le_bytes());
    h = match value {
        Some(v) => fnv(fnv(h, b"v"), v),
        None => fnv(h, b"d"),
    };
    finish(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_pinned() {
        // Changing these breaks agreement with every running node.
        assert_eq!(member("node-1", 3), 0xd049_a993_3326_b75f);
        let d = Digest {
            life: 7,
            watermark: 12,
            gc: 4,
            content: EMPTY_CONTENT,
        };
        assert_eq!(namespace("node-1", d), 0x541e_855c_13e3_d847);
        assert_eq!(entry("role", 3, Some(b"db")), 0x1bda_b7c9_8cbd_c3a7);
        assert_eq!(entry("role", 4, None), 0x8461_8bfd_4a56_ba33);
    }
}
