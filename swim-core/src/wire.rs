//! Wire primitives: what every message of the wire format is built from.
//!
//! Protobuf read in place (varints, field keys, length-delimited and fixed
//! fields, skipping unknown fields as prost does) and written as prost
//! writes it; names and addresses as the wire carries them; the reasons
//! remote bytes are dropped ([`DropReason`]) and the bounds every decoder
//! checks ([`MAX_INCARNATION`], [`MAX_JUMP`], [`MAX_NAME_LEN`], [`Limits`]).
//!
//! This module sits below every protocol concern and imports none: each
//! concern encodes and decodes its own message bodies with these, and
//! `codec` assembles them into datagrams and stream frames.

use crate::name::Name;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Largest member name accepted locally and from the network.
pub const MAX_NAME_LEN: usize = 128;

/// Why remote bytes were dropped (counted in [`Metrics`](crate::Metrics)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// Larger than the configured limit.
    Oversized,
    /// Not a valid protobuf message of the expected type.
    Malformed,
    /// Another protocol version.
    Version,
    /// Another cluster label.
    Cluster,
    /// Decoded, but a field is out of range (empty name, bad address, ...).
    Invalid,
    /// Claims to come from this node itself.
    FromSelf,
    /// A ping meant for another member (a reused address).
    WrongTarget,
    /// An ack or nack nobody asked for, or a stream reply with no request.
    Unsolicited,
    /// Too many indirect probes in flight for other members.
    Busy,
    /// An incarnation or a key version implausibly far (more than 2^32)
    /// above the one held: no member refutes or writes that often.
    Implausible,
    /// Sealed under no key this node holds, or plain where sealing is
    /// required: dropped before any decoding.
    Auth,
    /// A ping-req for a member this node does not know.
    UnknownTarget,
}

/// The highest incarnation or key version accepted from the network (2^63 - 1):
/// a refutation always has room to outbid, and nothing wraps.
pub const MAX_INCARNATION: u64 = (1 << 63) - 1;

/// How far above the held incarnation (or a replica's key watermark) an
/// update may be.
pub(crate) const MAX_JUMP: u64 = 1 << 32;

/// Limits the decoder enforces, and how it tells known names.
pub(crate) struct Limits<'a> {
    pub cluster: &'a str,
    /// Whether a sender's name is in our table (this node included).
    pub known: &'a dyn Fn(&str) -> bool,
}

/// `b` as text, if it is valid UTF-8. Names are ASCII nearly always, and
/// checking that is much cheaper than the general UTF-8 check.
#[inline]
pub(crate) fn utf8(b: &[u8]) -> Option<&str> {
    if b.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        Some(unsafe { core::str::from_utf8_unchecked(b) })
    } else {
        core::str::from_utf8(b).ok()
    }
}

/// A validated name; short names are held inline, so decoding a packet
/// allocates nothing for them.
pub(crate) fn name(b: &[u8]) -> Result<Name, DropReason> {
    if b.is_empty() || b.len() > MAX_NAME_LEN {
        return Err(DropReason::Invalid);
    }
    // No control characters: names reach logs, terminals and tables.
    let s = utf8(b)
        .filter(|s| valid_name(s))
        .ok_or(DropReason::Invalid)?;
    Ok(Name::from(s))
}

/// Whether `s` may be a member's name: 1 to [`MAX_NAME_LEN`] bytes of
/// UTF-8 with no control characters (names reach logs, terminals and the
/// members table, where an escape or a newline would forge output).
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_NAME_LEN && !s.chars().any(hidden)
}

/// A character that prints as nothing or rearranges what follows: control
/// characters, and Unicode's format characters and line and paragraph
/// separators (soft hyphen, zero-width spaces and joiners, bidirectional
/// marks and overrides, word joiners, the byte-order mark, interlinear
/// annotation). "node-2" followed by a zero-width space would print as
/// an honest member's name.
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{34f}'
                | '\u{61c}'
                | '\u{115f}'..='\u{1160}'
                | '\u{17b4}'..='\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff0}'..='\u{fffb}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

/// `s` with every [`hidden`] character written as its Rust escape (`\n`,
/// `\u{1b}`, `\u{200b}`), the rest as it is: the one form in which a
/// string a peer controls (a key name or value, a tag, an event or query
/// name) is put into a log line, a terminal line or a table cell, where a
/// newline would forge a line and an escape would reach the terminal.
pub fn escape_hidden(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if hidden(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// An optional name (the accuser of an update): empty is allowed.
pub(crate) fn accuser(b: &[u8]) -> Result<Name, DropReason> {
    if b.is_empty() {
        return Ok(Name::EMPTY);
    }
    name(b)
}

pub(crate) fn addr(a: &[u8]) -> Result<SocketAddr, DropReason> {
    let (ip, port) = match a.len() {
        6 => (IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])), &a[4..]),
        18 => {
            let mut v6 = [0u8; 16];
            v6.copy_from_slice(&a[..16]);
            (IpAddr::V6(Ipv6Addr::from(v6)), &a[16..])
        }
        _ => return Err(DropReason::Invalid),
    };
    Ok(SocketAddr::new(ip, u16::from_be_bytes([port[0], port[1]])))
}

/// Writes the wire form of `a` into `out`; returns its length (6 or 18).
pub(crate) fn put_address(a: SocketAddr, out: &mut [u8; 18]) -> usize {
    let len = match a.ip() {
        IpAddr::V4(v4) => {
            out[..4].copy_from_slice(&v4.octets());
            4
        }
        IpAddr::V6(v6) => {
            out[..16].copy_from_slice(&v6.octets());
            16
        }
    };
    out[len..len + 2].copy_from_slice(&a.port().to_be_bytes());
    len + 2
}

// ---------------------------------------------------------------------------
// Reading protobuf. The decoders (in `codec`, and the bodies each concern
// reads) use these to read `swim.v1.Packet` and `swim.v1.StreamFrame` in place, borrowing every field from the datagram,
// and accepts exactly what prost's generated decoder accepts: the same wire
// types per field, the last occurrence of a scalar or bytes field wins,
// message fields merge, unknown fields (groups included) are skipped, and
// nesting is limited as prost limits it. Any input prost refuses is
// `Malformed`; the tests compare the two on valid, random and mutated bytes.
// ---------------------------------------------------------------------------

/// The bytes are not a valid protobuf encoding of the expected message.
#[derive(Debug)]
pub(crate) struct Malformed;

impl From<Malformed> for DropReason {
    fn from(_: Malformed) -> Self {
        DropReason::Malformed
    }
}

/// Wire types.
pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const START_GROUP: u8 = 3;
pub(crate) const END_GROUP: u8 = 4;
pub(crate) const FIXED32: u8 = 5;

/// How deep prost lets messages and groups nest (its recursion limit): a
/// field is skipped with `DEPTH` at the top level, one less inside each
/// message or group, and none at zero.
pub(crate) const DEPTH: u32 = 100;

/// A varint of at most 10 bytes that fits in 64 bits.
#[inline]
pub(crate) fn varint(r: &mut &[u8]) -> Result<u64, Malformed> {
    let s: &[u8] = r;
    match s.split_first() {
        Some((&b, rest)) if b < 0x80 => {
            *r = rest;
            Ok(u64::from(b))
        }
        _ => varint_long(r),
    }
}

#[inline(never)]
fn varint_long(r: &mut &[u8]) -> Result<u64, Malformed> {
    let mut value = 0u64;
    for (i, &b) in r.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            // The tenth byte holds the 64th bit only.
            if i == 9 && b > 1 {
                return Err(Malformed);
            }
            *r = &r[i + 1..];
            return Ok(value);
        }
    }
    Err(Malformed)
}

/// A field key: its tag (at least 1) and wire type.
#[inline]
pub(crate) fn key(r: &mut &[u8]) -> Result<(u32, u8), Malformed> {
    let key = u32::try_from(varint(r)?).map_err(|_| Malformed)?;
    let wire = (key & 7) as u8;
    if wire > FIXED32 || key >> 3 == 0 {
        return Err(Malformed);
    }
    Ok((key >> 3, wire))
}

/// The contents of a length-delimited field.
#[inline]
pub(crate) fn len_field<'a>(wire: u8, r: &mut &'a [u8]) -> Result<&'a [u8], Malformed> {
    if wire != LEN {
        return Err(Malformed);
    }
    let len = varint(r)?;
    if len > r.len() as u64 {
        return Err(Malformed);
    }
    let (field, rest) = r.split_at(len as usize);
    *r = rest;
    Ok(field)
}

/// The value of a fixed64 field.
pub(crate) fn fixed64_field(wire: u8, r: &mut &[u8]) -> Result<u64, Malformed> {
    if wire != FIXED64 || r.len() < 8 {
        return Err(Malformed);
    }
    let (v, rest) = r.split_at(8);
    *r = rest;
    let mut b = [0u8; 8];
    b.copy_from_slice(v);
    Ok(u64::from_le_bytes(b))
}

/// The value of a varint field.
#[inline]
pub(crate) fn varint_field(wire: u8, r: &mut &[u8]) -> Result<u64, Malformed> {
    if wire != VARINT {
        return Err(Malformed);
    }
    varint(r)
}

/// Skips an unknown field whose key was just read. Recursion is bounded by
/// `depth` (at most [`DEPTH`]).
pub(crate) fn skip(wire: u8, tag: u32, r: &mut &[u8], depth: u32) -> Result<(), Malformed> {
    if depth == 0 {
        return Err(Malformed);
    }
    let len = match wire {
        VARINT => {
            varint(r)?;
            0
        }
        FIXED64 => 8,
        LEN => varint(r)?,
        START_GROUP => loop {
            let (inner, inner_wire) = key(r)?;
            if inner_wire == END_GROUP {
                if inner != tag {
                    return Err(Malformed);
                }
                break 0;
            }
            skip(inner_wire, inner, r, depth - 1)?;
        },
        FIXED32 => 4,
        _ => return Err(Malformed),
    };
    if len > r.len() as u64 {
        return Err(Malformed);
    }
    *r = &r[len as usize..];
    Ok(())
}

/// Whether `a` and `b` hold the same bytes. Two empty slices are equal
/// without a call to `memcmp`: the pointer of an empty slice may dangle
/// (the default cluster label is empty), and a vectorised `memcmp` reads it
/// with a masked load that faults and is suppressed, at a cost of hundreds
/// of cycles, on every packet.
#[inline]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// A length-delimited field, left out when empty (proto3 defaults).
pub(crate) fn put_bytes(field: u32, b: &[u8], buf: &mut Vec<u8>) {
    if !b.is_empty() {
        encode_key(field, WireType::LengthDelimited, buf);
        encode_varint(b.len() as u64, buf);
        buf.extend_from_slice(b);
    }
}

/// Bytes that an encoded update of `len` bytes takes inside a packet.
pub(crate) fn framed_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

// ---------------------------------------------------------------------------
// Writing protobuf, as prost writes it.
// ---------------------------------------------------------------------------

/// Bytes an unsigned field with a one-byte key takes (none when zero).
pub(crate) fn uint_len(v: u64) -> usize {
    if v == 0 {
        0
    } else {
        1 + encoded_len_varint(v)
    }
}

/// Bytes a length-delimited field with a one-byte key takes (none when empty).
pub(crate) fn bytes_len(b: &[u8]) -> usize {
    if b.is_empty() {
        0
    } else {
        framed_len(b.len())
    }
}

#[cfg(test)]
mod escape_tests {
    use super::escape_hidden;
    use std::borrow::Cow;

    /// Control, format and separator characters come out as escapes, so a
    /// string a peer chose stays on one line and sends the terminal
    /// nothing; anything else (non-ASCII letters, quotes, backslashes) is
    /// left as it is, and a clean string is not copied.
    #[test]
    fn hidden_characters_are_escaped_and_nothing_else() {
        assert!(matches!(
            escape_hidden("web-1 é \"x\" \\"),
            Cow::Borrowed(_)
        ));
        assert_eq!(escape_hidden("web-1 é"), "web-1 é");
        assert_eq!(escape_hidden("a\nb"), "a\\nb");
        assert_eq!(escape_hidden("\r\t"), "\\r\\t");
        assert_eq!(escape_hidden("\u{1b}[2J"), "\\u{1b}[2J");
        assert_eq!(escape_hidden("node\u{200b}-2"), "node\\u{200b}-2");
        assert_eq!(escape_hidden("x\u{2028}y\u{feff}"), "x\\u{2028}y\\u{feff}");
        assert_eq!(escape_hidden("\u{7f}\u{0}"), "\\u{7f}\\u{0}");
        for s in ["a\nb\r\u{1b}\u{85}\u{2029}", "\u{202e}evil"] {
            let e = escape_hidden(s);
            assert!(!e.chars().any(super::hidden), "{e:?}");
            assert!(!e.contains('\n') && !e.contains('\r'), "{e:?}");
        }
    }
}
