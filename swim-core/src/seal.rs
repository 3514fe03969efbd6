//! Sealing: datagrams and stream frames encrypted and authenticated under the
//! cluster's keyring, so that nobody without a key can read or forge them.
//!
//! The cipher is AES-256-GCM (as memberlist's keyring), which runs on the
//! CPU's AES and carry-less multiply instructions where it has them
//! (`benches/seal.rs` sets it beside XChaCha20-Poly1305). A sealed message
//! is a `swim.v1.Sealed`: the protocol version and the cluster label in the
//! clear, so that other clusters' traffic is dropped before any key is
//! tried, and both bound as associated data; then the 12-byte nonce, the
//! ciphertext of the plain `Packet` or `StreamFrame`, and the 16-byte tag.
//!
//! Nonces never repeat under one key: each is a 64-bit prefix and a 32-bit
//! counter. The prefix comes from the node's seed mixed with its name (two
//! members started with the same seed still differ), and is replaced when
//! the counter runs out. A process must therefore never reuse a seed with a
//! key: drivers take the seed from OS entropy (the simulator's seeds differ
//! per node). No replay protection beyond the protocol's own precedence
//! rules (an old update replayed is old news), as in memberlist.
//!
//! Turning sealing on in a running cluster takes three steps
//! ([`Sealing`]), each rolled out to every member before the next: install
//! the keys and keep sending plain; send sealed, still accept plain; refuse
//! plain. A running node moves with [`Node::set_sealing`](crate::Node::set_sealing)
//! (the agent calls it on SIGHUP), and from `send` to `require` every
//! member can be moved at once by a key operation
//! ([`KeyringOp::Sealing`](crate::KeyringOp::Sealing)).

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use core::fmt;
use zeroize::Zeroize;

/// Bytes of the nonce in a sealed message.
pub(crate) const NONCE_LEN: usize = 12;
/// Bytes of the authentication tag.
pub(crate) const TAG_LEN: usize = 16;

/// A 256-bit cluster key. Its bytes are wiped when it is dropped and never
/// printed (`Debug` shows its [`SecretKeyId`]).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// A key from its 32 bytes (generate them with a cryptographic RNG, for
    /// example `head -c 32 /dev/urandom | base64`).
    pub fn new(bytes: [u8; 32]) -> SecretKey {
        SecretKey(bytes)
    }

    /// A key from a slice, which must hold exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<SecretKey> {
        <[u8; 32]>::try_from(bytes).ok().map(SecretKey)
    }

    /// The key's bytes (for storing it in a keyring file).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key's public identifier: the first 8 bytes of the key encrypting
    /// a fixed block (a key check value), which tells keys apart without
    /// revealing them.
    pub fn id(&self) -> SecretKeyId {
        use aes_gcm::aes::cipher::{BlockEncrypt, KeyInit as _};
        let aes = aes_gcm::aes::Aes256::new(&self.0.into());
        // GCM's counter blocks end in a small counter and its hash key is the
        // zero block: this block is neither.
        let mut block = *b"swim key check\xff\xff";
        aes.encrypt_block((&mut block).into());
        let mut id = [0; 8];
        id.copy_from_slice(&block[..8]);
        SecretKeyId(u64::from_be_bytes(id))
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id())
    }
}

/// A key's public identifier (see [`SecretKey::id`]), shown as 16 hex digits
/// by both `Display` and `Debug` (one spelling in logs, CLI and API).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretKeyId(pub u64);

impl fmt::Debug for SecretKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKeyId({:016x})", self.0)
    }
}

impl fmt::Display for SecretKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// How a node with keys treats plain traffic: the three steps of turning
/// sealing on in a running cluster (memberlist's `GossipVerifyOutgoing` and
/// `GossipVerifyIncoming`). A node with no key sends and accepts only plain
/// traffic whatever this says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sealing {
    /// Step 1: send plain, accept plain and sealed.
    Accept,
    /// Step 2: send sealed, accept plain and sealed.
    Send,
    /// Step 3, and the default: send sealed, drop plain.
    #[default]
    Require,
}

impl Sealing {
    /// The name configs use: `accept`, `send` or `require`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sealing::Accept => "accept",
            Sealing::Send => "send",
            Sealing::Require => "require",
        }
    }

    /// Parses [`as_str`](Sealing::as_str)'s names.
    pub fn parse(s: &str) -> Option<Sealing> {
        match s {
            "accept" => Some(Sealing::Accept),
            "send" => Some(Sealing::Send),
            "require" => Some(Sealing::Require),
            _ => None,
        }
    }
}

/// Why a keyring change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyringError {
    /// No installed key has this id.
    Unknown(SecretKeyId),
    /// The primary key cannot be removed: make another primary first.
    Primary(SecretKeyId),
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyringError::Unknown(id) => write!(f, "no installed key has id {id}"),
            KeyringError::Primary(id) => write!(
                f,
                "key {id} is the primary key; make another key primary before removing it"
            ),
        }
    }
}

impl std::error::Error for KeyringError {}

struct Installed {
    key: SecretKey,
    id: SecretKeyId,
    cipher: Aes256Gcm,
}

/// The keys a node holds: the primary seals, every key is tried to open.
#[derive(Default)]
pub struct Keyring {
    /// The primary first.
    keys: Vec<Installed>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("primary", &self.primary())
            .field("keys", &self.ids().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// Whether no key is installed (traffic is plain).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key that seals, if any.
    pub fn primary(&self) -> Option<SecretKeyId> {
        self.keys.first().map(|k| k.id)
    }

    /// The ids of every installed key, the primary first.
    pub fn ids(&self) -> impl Iterator<Item = SecretKeyId> + '_ {
        self.keys.iter().map(|k| k.id)
    }

    /// Every installed key, the primary first (to store them).
    pub fn keys(&self) -> impl Iterator<Item = &SecretKey> + '_ {
        self.keys.iter().map(|k| &k.key)
    }

    /// Whether a key with this id is installed.
    pub fn contains(&self, id: SecretKeyId) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    /// Installs `key` (the first key installed becomes primary). Returns
    /// false when it was installed already.
    pub(crate) fn install(&mut self, key: SecretKey) -> bool {
        let id = key.id();
        if self.contains(id) {
            return false;
        }
        let cipher = Aes256Gcm::new(key.as_bytes().into());
        self.keys.push(Installed { key, id, cipher });
        true
    }

    /// `plain` (a `Packet` or `StreamFrame`) sealed under the primary key
    /// with nonce `nonce`, as a node would send it; `None` without keys.
    /// For tests, benchmarks and fuzzing: the caller must never use a
    /// nonce twice under one key (the node itself never does).
    pub fn seal_with_nonce(&self, cluster: &str, nonce: u64, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonces = Nonces {
            prefix: nonce,
            counter: 0,
        };
        seal(self, &mut nonces, cluster, plain)
    }

    /// The plain message inside a sealed datagram or stream frame, if one
    /// of these keys authenticates it (`None` for anything else). For
    /// tests and tools that look at what a node sent; a node opens what it
    /// receives itself.
    pub fn open_sealed(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        Envelope::parse(bytes)?.open(self)
    }

    /// Makes the installed key `id` the one that seals.
    pub(crate) fn use_key(&mut self, id: SecretKeyId) -> Result<(), KeyringError> {
        let at = self.position(id)?;
        let k = self.keys.remove(at);
        self.keys.insert(0, k);
        Ok(())
    }

    /// Removes the installed key `id`, unless it is the primary.
    pub(crate) fn remove(&mut self, id: SecretKeyId) -> Result<(), KeyringError> {
        match self.position(id)? {
            0 => Err(KeyringError::Primary(id)),
            at => {
                self.keys.remove(at);
                Ok(())
            }
        }
    }

    fn position(&self, id: SecretKeyId) -> Result<usize, KeyringError> {
        self.keys
            .iter()
            .position(|k| k.id == id)
            .ok_or(KeyringError::Unknown(id))
    }

    /// Encrypts `buf[at..]` in place under the primary key, with
    /// `buf[..aad]` as associated data, and appends the tag. False when
    /// there is no key.
    fn seal(&self, nonce: &[u8; NONCE_LEN], aad: usize, buf: &mut Vec<u8>, at: usize) -> bool {
        let Some(k) = self.keys.first() else {
            return false;
        };
        let (head, plain) = buf.split_at_mut(at);
        let sealed =
            k.cipher
                .encrypt_in_place_detached(Nonce::from_slice(nonce), &head[..aad], plain);
        match sealed {
            Ok(tag) => {
                buf.extend_from_slice(&tag);
                true
            }
            Err(_) => false,
        }
    }

    /// Opens `sealed` (nonce, ciphertext, tag) under the first key that
    /// authenticates it, the primary first.
    fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut plain = ciphertext.to_vec();
        for k in &self.keys {
            let ok = k.cipher.decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                aad,
                &mut plain,
                Tag::from_slice(tag),
            );
            if ok.is_ok() {
                return Some(plain);
            }
            // A failed open leaves the buffer as it was (the tag is checked
            // before anything is decrypted).
        }
        None
    }
}

/// A node's nonce sequence.
#[derive(Debug)]
pub(crate) struct Nonces {
    prefix: u64,
    counter: u32,
}

impl Nonces {
    /// The sequence of a node whose seed gave `seed_mix`, named `name`.
    pub fn new(seed_mix: u64, name: &str) -> Nonces {
        Nonces {
            prefix: crate::summary::finish(seed_mix ^ crate::summary::name(name)),
            counter: 0,
        }
    }

    /// The next nonce; a new prefix when the counter has run out.
    fn next(&mut self) -> [u8; NONCE_LEN] {
        if self.counter == u32::MAX {
            self.prefix = crate::summary::finish(self.prefix ^ 0x7365_616c);
            self.counter = 0;
        }
        self.counter += 1;
        let mut n = [0; NONCE_LEN];
        n[..8].copy_from_slice(&self.prefix.to_be_bytes());
        n[8..].copy_from_slice(&self.counter.to_be_bytes());
        n
    }
}

/// What a sealed message adds to the plain one: the envelope's header (the
/// same as the plain one's), the field's key and length, nonce and tag.
pub(crate) fn overhead(cluster: &str, max_len: usize) -> usize {
    header_len(cluster)
        + 1
        + prost::encoding::encoded_len_varint(max_len as u64)
        + NONCE_LEN
        + TAG_LEN
}

/// The envelope's field holding nonce, ciphertext and tag.
const SEALED_FIELD: u32 = 15;

fn header_len(cluster: &str) -> usize {
    let mut n = 2;
    if !cluster.is_empty() {
        n += 1 + prost::encoding::encoded_len_varint(cluster.len() as u64) + cluster.len();
    }
    n
}

fn put_header(cluster: &str, buf: &mut Vec<u8>) {
    use prost::encoding::{encode_key, encode_varint, WireType};
    encode_key(1, WireType::Varint, buf);
    encode_varint(u64::from(swim_proto::PROTOCOL_VERSION), buf);
    if !cluster.is_empty() {
        encode_key(2, WireType::LengthDelimited, buf);
        encode_varint(cluster.len() as u64, buf);
        buf.extend_from_slice(cluster.as_bytes());
    }
}

/// Seals `plain` under the primary key: a `swim.v1.Sealed`. `None` when the
/// keyring is empty.
pub(crate) fn seal(
    keyring: &Keyring,
    nonces: &mut Nonces,
    cluster: &str,
    plain: &[u8],
) -> Option<Vec<u8>> {
    use prost::encoding::{encode_key, encode_varint, WireType};
    if keyring.is_empty() {
        return None;
    }
    let len = NONCE_LEN + plain.len() + TAG_LEN;
    let mut buf = Vec::with_capacity(overhead(cluster, len) + plain.len());
    put_header(cluster, &mut buf);
    let aad = buf.len();
    encode_key(SEALED_FIELD, WireType::LengthDelimited, &mut buf);
    encode_varint(len as u64, &mut buf);
    let nonce = nonces.next();
    buf.extend_from_slice(&nonce);
    let at = buf.len();
    buf.extend_from_slice(plain);
    keyring.seal(&nonce, aad, &mut buf, at).then_some(buf)
}

/// A sealed message as received: its header (the associated data) and
/// what its sealed field holds.
pub(crate) struct Envelope<'a> {
    pub version: u32,
    pub cluster: &'a [u8],
    aad: &'a [u8],
    sealed: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// `bytes` as a sealed message: version, optional cluster label, then
    /// the sealed field and nothing else. `None` when `bytes` has another
    /// shape (a plain message, or garbage the plain decoder will drop).
    pub fn parse(bytes: &'a [u8]) -> Option<Envelope<'a>> {
        let mut r = bytes;
        let mut version = 0;
        let mut cluster: &[u8] = &[];
        loop {
            let (&key, rest) = r.split_first()?;
            match key {
                0x08 => {
                    r = rest;
                    version = u32::try_from(varint(&mut r)?).ok()?;
                }
                0x12 => {
                    r = rest;
                    cluster = bytes_field(&mut r)?;
                }
                // Field 15, wire type 2: one-byte key 0x7a.
                0x7a => {
                    let aad = &bytes[..bytes.len() - r.len()];
                    r = rest;
                    let sealed = bytes_field(&mut r)?;
                    return r.is_empty().then_some(Envelope {
                        version,
                        cluster,
                        aad,
                        sealed,
                    });
                }
                _ => return None,
            }
        }
    }

    /// The plain message, if a key of `keyring` authenticates it.
    pub fn open(&self, keyring: &Keyring) -> Option<Vec<u8>> {
        keyring.open(self.aad, self.sealed)
    }
}

fn varint(r: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = r.split_first()?;
        *r = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// A length-delimited field whose length is written in the fewest bytes:
/// the length is not authenticated, so a sealed message has one spelling.
fn bytes_field<'a>(r: &mut &'a [u8]) -> Option<&'a [u8]> {
    let before = r.len();
    let len = varint(r)?;
    if before - r.len() != prost::encoding::encoded_len_varint(len) {
        return None;
    }
    let len = usize::try_from(len).ok()?;
    if len > r.len() {
        return None;
    }
    let (field, rest) = r.split_at(len);
    *r = rest;
    Some(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(keys: &[u8]) -> Keyring {
        let mut r = Keyring::default();
        for &b in keys {
            r.install(SecretKey::new([b; 32]));
        }
        r
    }

    #[test]
    fn sealed_messages_open_under_any_installed_key_and_nowhere_else() {
        let plain = b"a plain packet".as_slice();
        let mut nonces = Nonces::new(1, "a");
        let sealed = seal(&ring(&[1]), &mut nonces, "c", plain).unwrap();
        assert!(sealed.len() <= plain.len() + overhead("c", sealed.len()));
        let env = Envelope::parse(&sealed).unwrap();
        assert_eq!(
            (env.version, env.cluster),
            (swim_proto::PROTOCOL_VERSION, &b"c"[..])
        );
        assert_eq!(env.open(&ring(&[1])).as_deref(), Some(plain));
        assert_eq!(env.open(&ring(&[2, 1])).as_deref(), Some(plain));
        assert_eq!(env.open(&ring(&[2])), None);
        assert_eq!(env.open(&ring(&[])), None);
        // The sealed field's length has one spelling: a padded varint of
        // the same value is not the sealed message.
        let at = sealed.iter().position(|&b| b == 0x7a).unwrap() + 1;
        let mut padded = sealed[..at].to_vec();
        padded.extend_from_slice(&[sealed[at] | 0x80, 0x00]);
        padded.extend_from_slice(&sealed[at + 1..]);
        assert!(Envelope::parse(&padded).is_none());
        // The label is bound: moved to another cluster, it no longer opens.
        let mut moved = sealed.clone();
        let at = moved.iter().position(|&b| b == b'c').unwrap();
        moved[at] = b'd';
        assert_eq!(Envelope::parse(&moved).unwrap().open(&ring(&[1])), None);
        // Every single bit flipped is caught (or changes the shape).
        for i in 0..sealed.len() * 8 {
            let mut bad = sealed.clone();
            bad[i / 8] ^= 1 << (i % 8);
            if let Some(env) = Envelope::parse(&bad) {
                assert_eq!(env.open(&ring(&[1])), None, "bit {i}");
            }
        }
    }

    #[test]
    fn nonces_never_repeat_across_counter_exhaustion_or_same_seeded_members() {
        let mut a = Nonces::new(7, "a");
        let mut b = Nonces::new(7, "b");
        assert_ne!(a.next()[..8], b.next()[..8]);
        let first = a.next();
        a.counter = u32::MAX - 1;
        let last = a.next();
        let after = a.next();
        assert_eq!(&last[8..], &u32::MAX.to_be_bytes());
        assert_ne!(after[..8], first[..8]);
        assert_eq!(&after[8..], &1u32.to_be_bytes());
    }

    #[test]
    fn keyring_rotation_rules() {
        let mut r = ring(&[1, 2]);
        let (one, two) = (SecretKey::new([1; 32]).id(), SecretKey::new([2; 32]).id());
        assert_ne!(one, two);
        assert_eq!(r.primary(), Some(one));
        assert!(!r.install(SecretKey::new([1; 32])));
        assert_eq!(r.remove(one), Err(KeyringError::Primary(one)));
        r.use_key(two).unwrap();
        assert_eq!(r.ids().collect::<Vec<_>>(), [two, one]);
        r.remove(one).unwrap();
        assert_eq!(r.use_key(one), Err(KeyringError::Unknown(one)));
        assert!(format!("{:?}", SecretKey::new([9; 32])).starts_with("Key("));
    }
}
