//! Member names stored inline: a small-string type for the membership table.
//!
//! A simulator holds `n` tables of `n` entries, so a heap allocation per
//! (node, member) pair for the name (an `Arc<str>` costs a 32-byte
//! allocation for a short name, on top of its 16-byte pointer) is a large
//! share of the memory. [`Name`] keeps names of up to [`INLINE`] bytes inside
//! its 16 bytes (the size of the `Arc<str>` it replaces, so no struct that
//! holds a name grows) and shares longer ones through a thin `Arc<String>`,
//! so cloning is always cheap and never allocates.

use core::borrow::Borrow;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::ops::Deref;
use std::sync::Arc;

/// Longest name kept inline: 14 bytes fill the 16 of a `Name` with the tag
/// and the length ("node-12345" and most short host names).
pub(crate) const INLINE: usize = 14;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Arc<String>),
}

/// A member name: inline up to 14 bytes, a shared `Arc<String>` beyond, so
/// that neither the table nor an [`Event`](crate::Event) allocates for a short
/// name. Compares, orders, hashes and formats exactly like the `str` it holds
/// (it dereferences to one).
#[derive(Clone)]
pub struct Name(Repr);

impl Name {
    /// The empty name (the `from` of an update with no accuser).
    pub const EMPTY: Name = Name(Repr::Inline {
        len: 0,
        bytes: [0; INLINE],
    });

    /// The name as a string slice.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                let bytes = &bytes[..*len as usize];
                // SAFETY: `Repr` is private and an inline name is only ever
                // built by `From<&str>`, which copies a whole `&str`.
                unsafe { core::str::from_utf8_unchecked(bytes) }
            }
            Repr::Heap(s) => s,
        }
    }

    /// The name's bytes: what comparisons look at.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..*len as usize],
            Repr::Heap(s) => s.as_bytes(),
        }
    }

    /// The name as an `Arc<str>` for the public API (allocates).
    pub fn to_arc(&self) -> Arc<str> {
        Arc::from(self.as_str())
    }

    /// Whether the name is stored inline (no heap allocation).
    #[cfg(test)]
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }
}

impl Default for Name {
    fn default() -> Self {
        Name::EMPTY
    }
}

impl From<&str> for Name {
    #[inline]
    fn from(s: &str) -> Self {
        if s.len() <= INLINE {
            Name(Repr::Inline {
                len: s.len() as u8,
                bytes: pack(s.as_bytes()),
            })
        } else {
            Name(Repr::Heap(Arc::new(String::from(s))))
        }
    }
}

/// `b` (at most [`INLINE`] bytes) zero-padded to [`INLINE`] bytes, put
/// together in registers from two overlapping loads rather than copied byte
/// by byte: a name read right after it was built would otherwise wait for
/// the narrow stores of the copy (a store-forwarding stall).
#[inline]
fn pack(b: &[u8]) -> [u8; INLINE] {
    let n = b.len();
    let word: u128 = match n {
        8.. => {
            let lo = u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
            let hi = u64::from_le_bytes(b[n - 8..].try_into().unwrap_or_default());
            u128::from(lo) | u128::from(hi) << (8 * (n - 8))
        }
        4.. => {
            let lo = u32::from_le_bytes(b[..4].try_into().unwrap_or_default());
            let hi = u32::from_le_bytes(b[n - 4..].try_into().unwrap_or_default());
            u128::from(lo) | u128::from(hi) << (8 * (n - 4))
        }
        _ => b
            .iter()
            .enumerate()
            .fold(0, |w, (i, &c)| w | u128::from(c) << (8 * i)),
    };
    let all = word.to_le_bytes();
    let mut out = [0; INLINE];
    out.copy_from_slice(&all[..INLINE]);
    out
}

impl From<String> for Name {
    /// Inline when short, else keeps the `String` (no copy).
    fn from(s: String) -> Self {
        if s.len() <= INLINE {
            Name::from(s.as_str())
        } else {
            Name(Repr::Heap(Arc::new(s)))
        }
    }
}

impl From<Arc<str>> for Name {
    fn from(s: Arc<str>) -> Self {
        Name::from(&*s)
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Name {
    #[inline]
    fn eq(&self, other: &Name) -> bool {
        match (&self.0, &other.0) {
            // Inline names are zero-padded: equal names, equal arrays.
            (Repr::Inline { len: a, bytes: x }, Repr::Inline { len: b, bytes: y }) => {
                a == b && x == y
            }
            _ => self.as_bytes() == other.as_bytes(),
        }
    }
}

impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<Arc<str>> for Name {
    fn eq(&self, other: &Arc<str>) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> core::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::BuildHasher;
    use foldhash::fast::FixedState;

    #[test]
    fn short_names_are_inline_and_long_ones_shared() {
        let short = Name::from("node-12345");
        assert!(short.is_inline());
        assert_eq!(&*short, "node-12345");
        let edge = Name::from("x".repeat(INLINE).as_str());
        assert!(edge.is_inline());
        assert_eq!(edge.len(), INLINE);
        let long = Name::from("y".repeat(INLINE + 1));
        assert!(!long.is_inline());
        assert_eq!(&*long, "y".repeat(INLINE + 1));
        let shared = long.clone();
        match (&long.0, &shared.0) {
            (Repr::Heap(a), Repr::Heap(b)) => assert!(Arc::ptr_eq(a, b), "clones share"),
            _ => panic!("long names live on the heap"),
        }
        assert!(Name::from(Arc::<str>::from("ab")).is_inline());
        assert_eq!(
            &*Name::from(Arc::<str>::from("z".repeat(40))),
            "z".repeat(40)
        );
    }

    #[test]
    fn behaves_like_the_str_it_holds() {
        let names = ["", "a", "héllo-wörld", "𝄞 music", &"q".repeat(200)];
        let h = FixedState::with_seed(5);
        for s in names {
            let n = Name::from(s);
            assert_eq!(n.as_str(), s);
            assert_eq!(n, s);
            assert_eq!(n, Name::from(String::from(s)));
            assert_eq!(&*n.to_arc(), s);
            assert_eq!(h.hash_one(&n), h.hash_one(s), "hashes like str");
            assert_eq!(format!("{n:?}"), format!("{s:?}"));
            assert_eq!(format!("{n}"), s);
        }
        assert_eq!(Name::default(), Name::EMPTY);
        assert!(Name::EMPTY.is_empty());
    }

    #[test]
    fn every_inline_length_packs_and_compares() {
        let all = "abcdefghijklmn";
        for n in 0..=INLINE {
            let name = Name::from(&all[..n]);
            assert_eq!(name.as_str(), &all[..n]);
            assert_eq!(name, Name::from(String::from(&all[..n])));
            if n > 0 {
                assert_ne!(name, Name::from(&all[..n - 1]));
                assert_ne!(name, Name::from(&all[1..n]));
            }
        }
    }

    #[test]
    fn is_as_small_as_an_arc_str() {
        assert_eq!(std::mem::size_of::<Name>(), 16);
        assert_eq!(std::mem::size_of::<Name>(), std::mem::size_of::<Arc<str>>());
        assert_eq!(std::mem::size_of::<Option<Name>>(), 16);
    }
}
