//! Bytes in, bytes out: encoding and validating decoding of the wire format.
//!
//! Everything from the network passes through [`decode_packet`] or
//! [`decode_stream`], which check size, version, cluster label and every
//! field before the node sees it. A packet is accepted whole or dropped whole,
//! so a bad field can never leave half its updates applied.
//!
//! This module assembles: datagrams (`swim.v1.Packet`: header, protocol
//! messages, piggybacked updates, deltas, queries and answers) and stream
//! frames (`swim.v1.StreamFrame`). The primitives it reads and writes them
//! with are in [`crate::wire`]; the bodies belong to their concerns:
//! membership updates to [`crate::member`], key writes, digests and deltas
//! to [`crate::namespace`], queries and answers to [`crate::query`], the
//! summary's buckets to [`crate::summary`].

use crate::member::{put_update, RawUpdate, Update};
// The tests check the bodies of the membership and namespace concerns
// through whole packets and frames.
#[cfg(test)]
use crate::member::{encode_update, gossiped_life, wire_status, Status};
use crate::metrics::Kind;
use crate::name::Name;
use crate::namespace::{self, digest, key_delta, owner_deltas, wire_deltas, wire_digest, KeyDelta};
#[cfg(test)]
use crate::wire::MAX_INCARNATION;
use crate::wire::{
    addr, bytes_len, fixed64_field, framed_len, key, len_field, name, put_address, put_bytes, same,
    skip, uint_len, utf8, varint_field, DropReason, Limits, Malformed, DEPTH, FIXED64, LEN,
    MAX_NAME_LEN, VARINT,
};
use bytes::Bytes;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use prost::Message as _;
use std::net::SocketAddr;
use swim_proto as pb;

/// A protocol message inside a packet, decoded and validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Msg {
    Ping {
        seq: u32,
        target: Name,
    },
    Ack {
        seq: u32,
    },
    Nack {
        seq: u32,
    },
    PingReq {
        seq: u32,
        target: Name,
        target_addr: SocketAddr,
        want_nack: bool,
    },
}

impl Msg {
    /// Which traffic counter a packet led by this message goes to.
    pub fn kind(&self) -> Kind {
        match self {
            Msg::Ping { .. } => Kind::Ping,
            Msg::Ack { .. } => Kind::Ack,
            Msg::Nack { .. } => Kind::Nack,
            Msg::PingReq { .. } => Kind::PingReq,
        }
    }
}

/// The protocol messages of a datagram, in order. A node puts one message
/// in each datagram it sends, so one is held inline: decoding a probe or an
/// ack allocates nothing. Reads as a slice (`iter`, `first`, ...).
#[derive(Clone, Debug, Eq)]
pub(crate) enum Msgs {
    /// Exactly one message.
    One(Msg),
    /// Any other number (no allocation when empty).
    Many(Vec<Msg>),
}

impl Msgs {
    /// Room for `n` messages: the heap only for more than one.
    fn with_capacity(n: usize) -> Msgs {
        Msgs::Many(if n > 1 {
            Vec::with_capacity(n)
        } else {
            Vec::new()
        })
    }

    #[inline]
    fn push(&mut self, m: Msg) {
        match self {
            Msgs::Many(v) if v.capacity() == 0 => *self = Msgs::One(m),
            Msgs::Many(v) => v.push(m),
            Msgs::One(_) => {
                let Msgs::One(first) = core::mem::replace(self, Msgs::Many(Vec::new())) else {
                    return;
                };
                *self = Msgs::Many(vec![first, m]);
            }
        }
    }
}

impl Default for Msgs {
    fn default() -> Self {
        Msgs::Many(Vec::new())
    }
}

impl core::ops::Deref for Msgs {
    type Target = [Msg];
    fn deref(&self) -> &[Msg] {
        match self {
            Msgs::One(m) => core::slice::from_ref(m),
            Msgs::Many(v) => v,
        }
    }
}

impl PartialEq for Msgs {
    /// Equal when they hold the same messages, however they are stored.
    fn eq(&self, other: &Msgs) -> bool {
        **self == **other
    }
}

impl From<Vec<Msg>> for Msgs {
    fn from(v: Vec<Msg>) -> Msgs {
        let mut out = Msgs::with_capacity(v.len());
        for m in v {
            out.push(m);
        }
        out
    }
}

/// The messages of a [`Msgs`], by value.
pub(crate) enum MsgsIntoIter {
    One(Option<Msg>),
    Many(std::vec::IntoIter<Msg>),
}

impl Iterator for MsgsIntoIter {
    type Item = Msg;
    fn next(&mut self) -> Option<Msg> {
        match self {
            MsgsIntoIter::One(m) => m.take(),
            MsgsIntoIter::Many(it) => it.next(),
        }
    }
}

impl IntoIterator for Msgs {
    type Item = Msg;
    type IntoIter = MsgsIntoIter;
    fn into_iter(self) -> MsgsIntoIter {
        match self {
            Msgs::One(m) => MsgsIntoIter::One(Some(m)),
            Msgs::Many(v) => MsgsIntoIter::Many(v.into_iter()),
        }
    }
}

/// A decoded datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Packet {
    pub from: Name,
    /// Whether the sender is in our table (an unknown one means we are behind).
    pub from_known: bool,
    pub messages: Msgs,
    pub updates: Vec<Update>,
    /// How many members the sender holds live (its view's size).
    pub live: u32,
    /// Fresh writes to namespaces.
    pub deltas: Vec<KeyDelta>,
    /// The sender's summary (0: none).
    pub summary: u64,
    /// Requests to every member.
    pub queries: Vec<crate::query::Query>,
    /// Answers to our queries.
    pub answers: Vec<crate::query::Answer>,
    /// User events.
    pub events: Vec<crate::user_event::UserEvent>,
    /// User queries.
    pub user_queries: Vec<crate::query::Query>,
    /// Answers to forward to their origins.
    pub relayed: Vec<crate::user_query::Relayed>,
}

/// A decoded push-pull frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PushPull {
    pub from: Name,
    pub join: bool,
    pub members: Vec<Update>,
    /// What the sender holds of each owner's namespace.
    pub digests: Vec<(Name, namespace::Digest)>,
    /// What the sender found the receiver lacks, owner by owner.
    pub deltas: Vec<(Name, namespace::Deltas)>,
    /// The sender's summary by bucket (a repair's opening frame).
    pub buckets: Vec<u64>,
    /// The buckets the frame is about (a repair's later frames).
    pub differ: Option<u64>,
    /// The sender's query clock (0: none; see [`crate::query`]).
    pub query_clock: u64,
    /// A refused join: the address of the member holding the joiner's name.
    pub name_taken_by: Option<SocketAddr>,
    /// The sender's event clock (0: none; see [`crate::user_event`]).
    pub event_clock: u64,
    /// The sender's most recent user events.
    pub events: Vec<crate::user_event::UserEvent>,
}

/// The body of a `swim.v1.Message` as read, not yet validated.
#[derive(Default)]
enum RawBody<'a> {
    #[default]
    None,
    Ping {
        seq: u32,
        target: &'a [u8],
    },
    Ack {
        seq: u32,
    },
    Nack {
        seq: u32,
    },
    PingReq {
        seq: u32,
        target: &'a [u8],
        target_addr: &'a [u8],
        want_nack: bool,
    },
}

impl<'a> RawBody<'a> {
    /// Reads a `swim.v1.Message` (at depth 1). A body variant seen again
    /// merges into the one before; another variant replaces it.
    fn read(mut r: &'a [u8]) -> Result<Self, Malformed> {
        /// Unknown fields of the message, and of its body.
        const OUTER: u32 = DEPTH - 1;
        const INNER: u32 = DEPTH - 2;
        let mut body = RawBody::None;
        while !r.is_empty() {
            let (tag, wire) = key(&mut r)?;
            body = match tag {
                1 => {
                    let (mut seq, mut target) = match body {
                        RawBody::Ping { seq, target } => (seq, target),
                        _ => (0, &[][..]),
                    };
                    let mut f = len_field(wire, &mut r)?;
                    while !f.is_empty() {
                        let (tag, wire) = key(&mut f)?;
                        match tag {
                            1 => seq = varint_field(wire, &mut f)? as u32,
                            2 => target = len_field(wire, &mut f)?,
                            _ => skip(wire, tag, &mut f, INNER)?,
                        }
                    }
                    RawBody::Ping { seq, target }
                }
                2 | 3 => {
                    let mut seq = match body {
                        RawBody::Ack { seq } if tag == 2 => seq,
                        RawBody::Nack { seq } if tag == 3 => seq,
                        _ => 0,
                    };
                    let mut f = len_field(wire, &mut r)?;
                    while !f.is_empty() {
                        let (tag, wire) = key(&mut f)?;
                        match tag {
                            1 => seq = varint_field(wire, &mut f)? as u32,
                            _ => skip(wire, tag, &mut f, INNER)?,
                        }
                    }
                    if tag == 2 {
                        RawBody::Ack { seq }
                    } else {
                        RawBody::Nack { seq }
                    }
                }
                4 => {
                    let (mut seq, mut target, mut target_addr, mut want_nack) = match body {
                        RawBody::PingReq {
                            seq,
                            target,
                            target_addr,
                            want_nack,
                        } => (seq, target, target_addr, want_nack),
                        _ => (0, &[][..], &[][..], false),
                    };
                    let mut f = len_field(wire, &mut r)?;
                    while !f.is_empty() {
                        let (tag, wire) = key(&mut f)?;
                        match tag {
                            1 => seq = varint_field(wire, &mut f)? as u32,
                            2 => target = len_field(wire, &mut f)?,
                            3 => target_addr = len_field(wire, &mut f)?,
                            4 => want_nack = varint_field(wire, &mut f)? != 0,
                            _ => skip(wire, tag, &mut f, INNER)?,
                        }
                    }
                    RawBody::PingReq {
                        seq,
                        target,
                        target_addr,
                        want_nack,
                    }
                }
                _ => {
                    skip(wire, tag, &mut r, OUTER)?;
                    body
                }
            };
        }
        Ok(body)
    }

    fn validate(&self) -> Result<Msg, DropReason> {
        Ok(match *self {
            RawBody::None => return Err(DropReason::Invalid),
            RawBody::Ping { seq, target } => Msg::Ping {
                seq,
                target: name(target)?,
            },
            RawBody::Ack { seq } => Msg::Ack { seq },
            RawBody::Nack { seq } => Msg::Nack { seq },
            RawBody::PingReq {
                seq,
                target,
                target_addr,
                want_nack,
            } => Msg::PingReq {
                seq,
                target: name(target)?,
                target_addr: addr(target_addr)?,
                want_nack,
            },
        })
    }
}

/// The fields a datagram and a stream frame both start with, as read.
#[derive(Default)]
struct RawHeader<'a> {
    version: u32,
    cluster: &'a [u8],
    from: &'a [u8],
}

impl<'a> RawHeader<'a> {
    /// Reads field 1, 2 or 3 of a datagram or a frame, if `tag` is one.
    /// The cluster label is a `string`: text, or the input is malformed.
    #[inline(always)]
    fn read(&mut self, tag: u32, wire: u8, r: &mut &'a [u8]) -> Result<bool, Malformed> {
        match tag {
            1 => self.version = varint_field(wire, r)? as u32,
            2 => {
                let cluster = len_field(wire, r)?;
                utf8(cluster).ok_or(Malformed)?;
                self.cluster = cluster;
            }
            3 => self.from = len_field(wire, r)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks version, cluster label and sender, in that order.
    fn validate(&self, limits: &Limits<'_>) -> Result<Name, DropReason> {
        if !pb::readable(self.version) {
            return Err(DropReason::Version);
        }
        if !same(self.cluster, limits.cluster.as_bytes()) {
            return Err(DropReason::Cluster);
        }
        name(self.from)
    }
}

/// The fewest bytes a valid update takes in a datagram: its field's key and
/// length (2), a name of one byte (3) and an IPv4 address (8).
const MIN_UPDATE: usize = 13;

/// Decodes and validates a datagram of at most `max_len` bytes.
///
/// One pass over the bytes, borrowing every field. Bytes that are not a
/// valid `swim.v1.Packet` are `Malformed` before any other reason; then a
/// bad version, cluster label, sender, message or update, in that order.
/// Allocates at most the vector of updates, once, big enough for every
/// update the rest of the datagram can hold.
pub(crate) fn decode_packet(
    bytes: Bytes,
    max_len: usize,
    limits: &Limits<'_>,
) -> Result<Packet, DropReason> {
    if bytes.len() > max_len {
        return Err(DropReason::Oversized);
    }
    let mut header = RawHeader::default();
    let mut live = 0u32;
    let mut messages = Msgs::default();
    let mut updates: Vec<Update> = Vec::new();
    let mut deltas: Vec<KeyDelta> = Vec::new();
    let mut summary = 0;
    let mut queries = Vec::new();
    let mut answers = Vec::new();
    let mut events = Vec::new();
    let mut user_queries = Vec::new();
    let mut relayed = Vec::new();
    // A message or update out of range: the datagram will be dropped, so
    // the rest is only checked to be well formed.
    let mut invalid = false;
    let mut r = &bytes[..];
    while !r.is_empty() {
        let (tag, wire) = key(&mut r)?;
        match tag {
            4 => {
                let body = RawBody::read(len_field(wire, &mut r)?)?;
                if !invalid {
                    match body.validate() {
                        Ok(m) => messages.push(m),
                        Err(_) => invalid = true,
                    }
                }
            }
            5 => {
                let u = RawUpdate::read(len_field(wire, &mut r)?, DEPTH - 1)?;
                if !invalid {
                    match u.validate() {
                        Ok(u) => {
                            if updates.capacity() == 0 {
                                updates.reserve_exact(1 + r.len() / MIN_UPDATE);
                            }
                            updates.push(u);
                        }
                        Err(_) => invalid = true,
                    }
                }
            }
            6 => live = varint_field(wire, &mut r)? as u32,
            8 => summary = fixed64_field(wire, &mut r)?,
            9 | 12 => {
                let field = len_field(wire, &mut r)?;
                // Key operations in `queries`, user queries in
                // `user_queries` (a build before them skips the field).
                match crate::query::decode_query(&bytes, field) {
                    Ok(q) if (tag == 9) == q.body.keys().is_some() => match tag {
                        9 => queries.push(q),
                        _ => user_queries.push(q),
                    },
                    Ok(_) => invalid = true,
                    Err(DropReason::Malformed) => return Err(DropReason::Malformed),
                    Err(_) => invalid = true,
                }
            }
            10 => {
                let field = len_field(wire, &mut r)?;
                match crate::query::decode_answer(field) {
                    Ok(a) => answers.push(a),
                    Err(DropReason::Malformed) => return Err(DropReason::Malformed),
                    Err(_) => invalid = true,
                }
            }
            11 => {
                let field = len_field(wire, &mut r)?;
                match crate::user_event::decode(&bytes, field) {
                    Ok(e) => events.push(e),
                    Err(DropReason::Malformed) => return Err(DropReason::Malformed),
                    Err(_) => invalid = true,
                }
            }
            13 => {
                let field = len_field(wire, &mut r)?;
                match crate::user_query::decode_relayed(field) {
                    Ok(a) => relayed.push(a),
                    Err(DropReason::Malformed) => return Err(DropReason::Malformed),
                    Err(_) => invalid = true,
                }
            }
            7 => {
                let field = len_field(wire, &mut r)?;
                nested(&bytes, field, true, &mut invalid, &mut deltas, key_delta)?;
            }
            _ => {
                if !header.read(tag, wire, &mut r)? {
                    skip(wire, tag, &mut r, DEPTH)?;
                }
            }
        }
    }
    let from = header.validate(limits)?;
    if invalid {
        return Err(DropReason::Invalid);
    }
    // The sender's name as the packet holds it, not as just copied into
    // `from`: comparing bytes just written stalls the CPU (a wide load
    // cannot be forwarded from the narrow stores still in flight).
    let from_known = (limits.known)(utf8(header.from).unwrap_or_default());
    Ok(Packet {
        from,
        from_known,
        messages,
        updates,
        live,
        deltas,
        summary,
        queries,
        answers,
        events,
        user_queries,
        relayed,
    })
}

/// Decodes and validates a push-pull frame of at most `max_len` bytes, in
/// two passes like [`decode_packet`]. `push_pull` may come in several
/// pieces, which merge: the members of all, the last `join`.
pub(crate) fn decode_stream(
    bytes: Bytes,
    max_len: usize,
    limits: &Limits<'_>,
) -> Result<PushPull, DropReason> {
    /// Unknown fields of `PushPull`, and of its members.
    const OUTER: u32 = DEPTH - 1;
    const INNER: u32 = DEPTH - 2;
    if bytes.len() > max_len {
        return Err(DropReason::Oversized);
    }
    let mut header = RawHeader::default();
    let (mut push_pull, mut join, mut n_members) = (false, false, 0usize);
    let mut r = &bytes[..];
    while !r.is_empty() {
        let (tag, wire) = key(&mut r)?;
        if header.read(tag, wire, &mut r)? {
            continue;
        }
        if tag != 4 {
            skip(wire, tag, &mut r, DEPTH)?;
            continue;
        }
        push_pull = true;
        let mut f = len_field(wire, &mut r)?;
        while !f.is_empty() {
            let (tag, wire) = key(&mut f)?;
            match tag {
                1 => join = varint_field(wire, &mut f)? != 0,
                2 => {
                    len_field(wire, &mut f)?;
                    n_members += 1;
                }
                _ => skip(wire, tag, &mut f, OUTER)?,
            }
        }
    }
    let from = header.validate(limits);
    let keep = from.is_ok() && push_pull;
    let mut invalid = false;
    let mut members = Vec::with_capacity(if keep { n_members } else { 0 });
    let (mut digests, mut deltas) = (Vec::new(), Vec::new());
    let (mut buckets, mut differ, mut query_clock) = (Vec::new(), None, 0);
    let (mut event_clock, mut events) = (0, Vec::new());
    // The last one wins, as in protobuf; empty is absent.
    let mut name_taken_by: &[u8] = &[];
    let mut r = &bytes[..];
    while !r.is_empty() {
        let (tag, wire) = key(&mut r)?;
        if tag != 4 {
            if !header.read(tag, wire, &mut r)? {
                skip(wire, tag, &mut r, DEPTH)?;
            }
            continue;
        }
        let mut f = len_field(wire, &mut r)?;
        while !f.is_empty() {
            let (tag, wire) = key(&mut f)?;
            match tag {
                1 => {
                    varint_field(wire, &mut f)?;
                }
                2 => {
                    let u = RawUpdate::read(len_field(wire, &mut f)?, INNER)?;
                    if keep && !invalid {
                        match u.validate() {
                            Ok(u) => members.push(u),
                            Err(_) => invalid = true,
                        }
                    }
                }
                3 => {
                    let field = len_field(wire, &mut f)?;
                    nested(&bytes, field, keep, &mut invalid, &mut digests, digest)?;
                }
                4 => {
                    let field = len_field(wire, &mut f)?;
                    nested(&bytes, field, keep, &mut invalid, &mut deltas, owner_deltas)?;
                }
                5 if wire == LEN => {
                    let packed = len_field(wire, &mut f)?;
                    if packed.len() % 8 != 0 {
                        return Err(DropReason::Malformed);
                    }
                    let mut p = packed;
                    while !p.is_empty() {
                        buckets.push(fixed64_field(FIXED64, &mut p)?);
                    }
                }
                5 => buckets.push(fixed64_field(wire, &mut f)?),
                6 => differ = Some(fixed64_field(wire, &mut f)?),
                7 => query_clock = varint_field(wire, &mut f)?,
                8 => name_taken_by = len_field(wire, &mut f)?,
                9 => event_clock = varint_field(wire, &mut f)?,
                10 => {
                    let field = len_field(wire, &mut f)?;
                    match crate::user_event::decode(&bytes, field) {
                        Ok(e) if keep && events.len() < crate::user_event::IN_EXCHANGE => {
                            events.push(e)
                        }
                        Ok(_) => {}
                        Err(DropReason::Malformed) => return Err(DropReason::Malformed),
                        Err(_) => invalid = true,
                    }
                }
                _ => skip(wire, tag, &mut f, OUTER)?,
            }
        }
    }
    let from = from?;
    if !push_pull || invalid || buckets.len() > crate::summary::BUCKETS {
        return Err(DropReason::Invalid);
    }
    let name_taken_by = match name_taken_by {
        [] => None,
        a => Some(crate::wire::addr(a)?),
    };
    Ok(PushPull {
        from,
        join,
        members,
        digests,
        deltas,
        buckets,
        differ,
        query_clock,
        name_taken_by,
        event_clock,
        events,
    })
}

/// Decodes a nested message of the state layer (`field`, a slice of
/// `bytes`) with prost, then validates it into `out`: undecodable is
/// `Malformed`; out of range marks the whole frame `invalid`. Nothing is
/// kept unless `keep` (the frame will be dropped anyway).
fn nested<M: prost::Message + Default, T>(
    bytes: &Bytes,
    field: &[u8],
    keep: bool,
    invalid: &mut bool,
    out: &mut Vec<T>,
    validate: impl FnOnce(M) -> Result<T, DropReason>,
) -> Result<(), Malformed> {
    let m = M::decode(bytes.slice_ref(field)).map_err(|_| Malformed)?;
    if keep && !*invalid {
        match validate(m) {
            Ok(v) => out.push(v),
            Err(_) => *invalid = true,
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Writing protobuf, field by field exactly as prost encodes the same message
// (the tests compare the bytes), without building the message first.
// ---------------------------------------------------------------------------

/// The fields a datagram and a stream frame both start with: version (1),
/// cluster label (2) and sender (3).
fn put_header(cluster: &str, from: &str, buf: &mut Vec<u8>) {
    prost::encoding::uint32::encode(1, &pb::PROTOCOL_VERSION, buf);
    put_bytes(2, cluster.as_bytes(), buf);
    put_bytes(3, from.as_bytes(), buf);
}

/// Builds one datagram: header, protocol messages, then piggybacked updates
/// appended as pre-encoded bytes (protobuf lets repeated fields come in any order).
///
/// It writes into a scratch buffer the caller keeps between datagrams, and
/// the finished datagram is copied out at its exact size: sending one costs
/// one allocation. The buffer never holds more than one datagram.
pub(crate) struct PacketWriter<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> PacketWriter<'a> {
    pub fn new(
        scratch: &'a mut Vec<u8>,
        cluster: &str,
        from: &str,
        live: u32,
        summary: u64,
    ) -> Self {
        scratch.clear();
        let mut w = PacketWriter { buf: scratch };
        w.varint_field(1, u64::from(pb::PROTOCOL_VERSION));
        w.bytes_field(2, cluster.as_bytes());
        w.bytes_field(3, from.as_bytes());
        if live != 0 {
            w.varint_field(6, u64::from(live));
        }
        if summary != 0 {
            w.key(8, FIXED64);
            w.buf.extend_from_slice(&summary.to_le_bytes());
        }
        w
    }

    #[inline]
    fn varint(&mut self, v: u64) {
        if v < 0x80 {
            self.buf.push(v as u8);
        } else {
            encode_varint(v, &mut self.buf);
        }
    }

    #[inline]
    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field << 3 | u32::from(wire)));
    }

    #[inline]
    fn varint_field(&mut self, field: u32, v: u64) {
        self.key(field, VARINT);
        self.varint(v);
    }

    /// A length-delimited field, left out when empty (proto3 defaults).
    #[inline]
    fn bytes_field(&mut self, field: u32, b: &[u8]) {
        if !b.is_empty() {
            self.key(field, LEN);
            self.varint(b.len() as u64);
            self.buf.extend_from_slice(b);
        }
    }

    /// An unsigned field, left out when zero (proto3 defaults).
    fn uint_field(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.varint_field(field, v);
        }
    }

    /// Appends a protocol message (field 4, a `swim.v1.Message` holding one
    /// body). The bodies number their fields alike: seq (1), target (2),
    /// target address (3), want_nack (4).
    pub fn message(&mut self, m: &Msg) {
        let mut a = [0u8; 18];
        let (tag, seq, target, addr, want_nack): (u32, u32, &[u8], &[u8], bool) = match m {
            Msg::Ping { seq, target } => (1, *seq, target.as_bytes(), &[], false),
            Msg::Ack { seq } => (2, *seq, &[], &[], false),
            Msg::Nack { seq } => (3, *seq, &[], &[], false),
            Msg::PingReq {
                seq,
                ref target,
                target_addr,
                want_nack,
            } => {
                let len = put_address(*target_addr, &mut a);
                (4, *seq, target.as_bytes(), &a[..len], *want_nack)
            }
        };
        let body = uint_len(u64::from(seq))
            + bytes_len(target)
            + bytes_len(addr)
            + uint_len(u64::from(want_nack));
        self.key(4, LEN);
        self.varint((1 + encoded_len_varint(body as u64) + body) as u64);
        self.key(tag, LEN);
        self.varint(body as u64);
        self.uint_field(1, u64::from(seq));
        self.bytes_field(2, target);
        self.bytes_field(3, addr);
        self.uint_field(4, u64::from(want_nack));
    }

    /// Appends one key write encoded by [`namespace::encode_key_delta`].
    pub fn delta(&mut self, encoded: &[u8]) {
        self.key(7, LEN);
        self.varint(encoded.len() as u64);
        self.buf.extend_from_slice(encoded);
    }

    /// Appends one query (`swim.v1.Query`, encoded).
    pub fn query(&mut self, encoded: &[u8]) {
        self.key(9, LEN);
        self.varint(encoded.len() as u64);
        self.buf.extend_from_slice(encoded);
    }

    /// Appends one user event (`swim.v1.UserEvent`, encoded).
    pub fn event(&mut self, encoded: &[u8]) {
        self.key(11, LEN);
        self.varint(encoded.len() as u64);
        self.buf.extend_from_slice(encoded);
    }

    /// Appends one user query (`swim.v1.Query`, encoded).
    pub fn user_query(&mut self, encoded: &[u8]) {
        self.key(12, LEN);
        self.varint(encoded.len() as u64);
        self.buf.extend_from_slice(encoded);
    }

    /// Appends one answer to forward (`swim.v1.Relayed`, encoded).
    pub fn relayed(&mut self, encoded: &[u8]) {
        self.key(13, LEN);
        self.varint(encoded.len() as u64);
        self.buf.extend_from_slice(encoded);
    }

    /// Appends one answer (`swim.v1.Answer`, encoded).
    pub fn answer(&mut self, encoded: &[u8]) {
        self.key(10, LEN);
        self.varint(encoded.len() as u64);
        self.buf.extend_from_slice(encoded);
    }

    /// Appends one update encoded by [`encode_update`].
    pub fn update(&mut self, encoded: &[u8]) {
        self.key(5, LEN);
        self.varint(encoded.len() as u64);
        self.buf.extend_from_slice(encoded);
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// The datagram, in an allocation of its own exact size.
    pub fn finish(self) -> Bytes {
        Bytes::copy_from_slice(self.buf)
    }
}

/// What a push-pull frame carries besides the header.
pub(crate) struct Frame<'a, I> {
    pub join: bool,
    /// Members, in the order they should go when not all fit.
    pub members: I,
    pub digests: &'a [(Name, namespace::Digest)],
    pub deltas: &'a [(Name, namespace::Deltas)],
    /// This node's summary by bucket (a repair's opening frame), or none.
    pub buckets: &'a [u64],
    /// The buckets a repair's later frame is about.
    pub differ: Option<u64>,
    /// The sender's query clock (0: not sent).
    pub query_clock: u64,
    /// A refused join: the address of the member holding the joiner's name.
    pub name_taken_by: Option<SocketAddr>,
    /// The sender's event clock (0: not sent).
    pub event_clock: u64,
    /// Recent user events (encoded), sent after everything else while
    /// they fit.
    pub events: &'a [Bytes],
}

/// Encodes a push-pull frame of at most `max_len` bytes: as many members as
/// fit (in the given order), then digests, then whole owners' deltas while
/// they fit.
pub(crate) fn encode_stream<I: Iterator<Item = Update>>(
    cluster: &str,
    from: &str,
    frame: Frame<'_, I>,
    max_len: usize,
) -> Bytes {
    // Room for the header and the push_pull field's own key and length.
    let mut budget = max_len.saturating_sub(16 + 2 * MAX_NAME_LEN);
    let mut body = Vec::new();
    if frame.join {
        prost::encoding::bool::encode(1, &frame.join, &mut body);
    }
    if !frame.buckets.is_empty() {
        prost::encoding::fixed64::encode_packed(5, frame.buckets, &mut body);
    }
    if let Some(d) = frame.differ {
        prost::encoding::fixed64::encode(6, &d, &mut body);
    }
    if frame.query_clock != 0 {
        prost::encoding::uint64::encode(7, &frame.query_clock, &mut body);
    }
    if let Some(holder) = frame.name_taken_by {
        let mut wire = [0u8; 18];
        let len = crate::wire::put_address(holder, &mut wire);
        prost::encoding::bytes::encode(8, &wire[..len].to_vec(), &mut body);
    }
    if frame.event_clock != 0 {
        prost::encoding::uint64::encode(9, &frame.event_clock, &mut body);
    }
    budget = budget.saturating_sub(body.len());
    let mut one = Vec::with_capacity(64);
    let mut put = |field: u32, one: &[u8], body: &mut Vec<u8>| {
        let size = framed_len(one.len());
        if size > budget {
            return false;
        }
        budget -= size;
        encode_key(field, WireType::LengthDelimited, body);
        encode_varint(one.len() as u64, body);
        body.extend_from_slice(one);
        true
    };
    for m in frame.members {
        one.clear();
        put_update(&m, &mut one);
        if !put(2, &one, &mut body) {
            break;
        }
    }
    for (owner, d) in frame.digests {
        if !put(3, &wire_digest(owner, d).encode_to_vec(), &mut body) {
            break;
        }
    }
    for (owner, d) in frame.deltas {
        // Whole owners only: one that does not fit waits for the next exchange.
        put(4, &wire_deltas(owner, d).encode_to_vec(), &mut body);
    }
    for e in frame.events {
        put(10, e, &mut body);
    }
    let mut buf = Vec::with_capacity(body.len() + 32 + cluster.len() + from.len());
    put_header(cluster, from, &mut buf);
    encode_key(4, WireType::LengthDelimited, &mut buf);
    encode_varint(body.len() as u64, &mut buf);
    buf.extend_from_slice(&body);
    buf.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    /// The wire form of an address: IP octets, then the port big-endian.
    fn address(a: SocketAddr) -> Bytes {
        let mut out = [0u8; 18];
        let len = put_address(a, &mut out);
        Bytes::copy_from_slice(&out[..len])
    }

    /// The wire form of an update.
    pub(crate) fn wire_update(u: &Update) -> pb::Update {
        pb::Update {
            name: text(&u.name),
            addr: address(u.addr),
            incarnation: u.incarnation,
            status: wire_status(u.status) as i32,
            from: text(&u.accuser),
            life: u.life,
            confirmed: u
                .evidence
                .iter()
                .flat_map(|e| e.confirmers.iter().map(|c| text(c)))
                .collect(),
            score: u.evidence.as_ref().map_or(0, |e| e.accuser_score),
            suspected_ms: u.evidence.as_ref().map_or(0, |e| e.wire_ms()),
        }
    }

    fn unknown(_: &str) -> bool {
        false
    }

    pub(crate) fn limits() -> Limits<'static> {
        Limits {
            cluster: "c",
            known: &unknown,
        }
    }

    fn sample_update(status: Status) -> Update {
        Update {
            name: "node-1".into(),
            addr: "[::1]:7946".parse().unwrap(),
            incarnation: 42,
            status,
            accuser: "node-2".into(),
            life: 99,
            evidence: (status == Status::Dead).then(|| {
                Box::new(crate::verdict::Evidence::new(
                    ["node-3".into(), "node-4".into()],
                    2,
                    core::time::Duration::from_millis(5_250),
                ))
            }),
        }
    }

    /// A dead update's evidence from the network: thousands of
    /// confirmers (garbage among them) decode without panic, and at most
    /// `MAX_CONFIRMERS` are kept; a confirmer of the wrong wire type is
    /// refused as prost refuses it.
    #[test]
    fn evidence_is_bounded_when_decoded() {
        use crate::verdict::MAX_CONFIRMERS;
        let mut dead = wire_update(&sample_update(Status::Dead));
        dead.confirmed = (0..5000)
            .map(|i| match i % 3 {
                0 => Bytes::from(vec![0xc3, 0x28]),
                1 => Bytes::new(),
                _ => text(&format!("c{i}")),
            })
            .collect();
        dead.score = u32::MAX;
        dead.suspected_ms = u64::MAX;
        let mut suspect = dead.clone();
        suspect.status = wire_status(Status::Suspect) as i32;
        let p = pb::Packet {
            version: pb::PROTOCOL_VERSION,
            cluster: "c".into(),
            from: text("me"),
            updates: vec![dead, suspect],
            ..Default::default()
        };
        let got = decode_packet(p.encode_to_vec().into(), 1 << 20, &limits()).unwrap();
        let e = got.updates[0].evidence.as_deref().expect("dead: evidence");
        assert!(e.confirmers.len() <= MAX_CONFIRMERS);
        // The first four on the wire, the valid names among them.
        assert_eq!(e.confirmers, ["c2"]);
        assert_eq!(e.accuser_score, u32::MAX);
        assert_eq!(e.suspected_for.as_millis(), u128::from(u64::MAX));
        assert_eq!(
            got.updates[1].evidence, None,
            "evidence on dead updates only"
        );
        // Encoded again, it is small and bounded.
        let again = encode_update(&got.updates[0]);
        assert!(again.as_slice().len() < 64, "{}", again.as_slice().len());

        // Field 8 as a varint: malformed, for prost and for us.
        let mut bad = Vec::new();
        put_update(&sample_update(Status::Dead), &mut bad);
        bad.extend_from_slice(&[8 << 3, 1]);
        assert!(pb::Update::decode(&bad[..]).is_err());
        assert!(crate::member::RawUpdate::read(&bad, crate::wire::DEPTH).is_err());
    }

    /// What evidence costs a dead update on the wire: two confirmers of 6
    /// bytes (8 each), an age of 5,250 ms (3), a score of 2 (2).
    #[test]
    fn evidence_costs_a_few_bytes() {
        let with = encode_update(&sample_update(Status::Dead));
        let mut bare = sample_update(Status::Dead);
        bare.evidence = None;
        let without = encode_update(&bare);
        assert_eq!(
            with.as_slice().len() - without.as_slice().len(),
            8 + 8 + 3 + 2
        );
        // Alive and suspect updates carry none.
        let mut alive = sample_update(Status::Alive);
        alive.evidence = sample_update(Status::Dead).evidence;
        let mut plain = alive.clone();
        plain.evidence = None;
        assert_eq!(
            encode_update(&alive).as_slice(),
            encode_update(&plain).as_slice()
        );
    }

    #[test]
    fn packet_round_trips() {
        let mut w_buf = Vec::new();
        let mut w = PacketWriter::new(&mut w_buf, "c", "me", 0, 0);
        let msgs = vec![
            Msg::Ping {
                seq: 7,
                target: "you".into(),
            },
            Msg::Ack { seq: 8 },
            Msg::Nack { seq: 9 },
            Msg::PingReq {
                seq: 10,
                target: "x".into(),
                target_addr: "10.1.2.3:99".parse().unwrap(),
                want_nack: true,
            },
        ];
        for m in &msgs {
            w.message(m);
        }
        let updates: Vec<Update> = [Status::Alive, Status::Suspect, Status::Dead, Status::Left]
            .map(sample_update)
            .to_vec();
        for u in &updates {
            w.update(encode_update(u).as_slice());
        }
        // Only an alive update above incarnation 0 carries the life.
        let updates: Vec<Update> = updates
            .into_iter()
            .map(|u| Update {
                life: gossiped_life(&u),
                ..u
            })
            .collect();
        let bytes = w.finish();
        let p = decode_packet(bytes.clone(), 1400, &limits()).unwrap();
        assert_eq!(
            p,
            Packet {
                from: "me".into(),
                from_known: false,
                messages: msgs.into(),
                updates,
                live: 0,
                deltas: vec![],
                summary: 0,
                queries: vec![],
                answers: vec![],
                events: vec![],
                user_queries: vec![],
                relayed: vec![],
            }
        );
    }

    #[test]
    fn rejects_foreign_cluster_version_size_and_bad_fields() {
        let bytes = PacketWriter::new(&mut Vec::new(), "other", "me", 0, 0).finish();
        assert_eq!(
            decode_packet(bytes.clone(), 1400, &limits()),
            Err(DropReason::Cluster)
        );
        assert_eq!(
            decode_packet(Bytes::from(vec![0u8; 1401]), 1400, &limits()),
            Err(DropReason::Oversized)
        );
        assert_eq!(
            decode_packet(Bytes::from_static(&[0xff, 0xff]), 1400, &limits()),
            Err(DropReason::Malformed)
        );
        let v2 = pb::Packet {
            version: 2,
            cluster: "c".into(),
            from: text("me"),
            ..Default::default()
        };
        assert_eq!(
            decode_packet(v2.encode_to_vec().into(), 1400, &limits()),
            Err(DropReason::Version)
        );
        let anon = pb::Packet {
            version: 1,
            cluster: "c".into(),
            ..Default::default()
        };
        assert_eq!(
            decode_packet(anon.encode_to_vec().into(), 1400, &limits()),
            Err(DropReason::Invalid)
        );
        let mut bad = wire_update(&sample_update(Status::Alive));
        bad.addr = Bytes::from_static(&[1, 2, 3]);
        let p = pb::Packet {
            version: 1,
            cluster: "c".into(),
            from: text("me"),
            messages: vec![],
            updates: vec![bad],
            live: 0,
            deltas: vec![],
            summary: 0,
            ..Default::default()
        };
        assert_eq!(
            decode_packet(p.encode_to_vec().into(), 1400, &limits()),
            Err(DropReason::Invalid)
        );
    }

    #[test]
    fn writers_share_one_scratch_buffer_and_grow_past_it() {
        let updates: Vec<Update> = (0..200)
            .map(|i| Update {
                name: format!("member-{i}").into(),
                ..sample_update(Status::Alive)
            })
            .collect();
        // Two writers at once (the second finds the scratch buffer taken),
        // one of them larger than the default packet size.
        let mut big_buf = Vec::new();

        let mut big = PacketWriter::new(&mut big_buf, "c", "me", 3, 0);
        let mut small_buf = Vec::new();

        let mut small = PacketWriter::new(&mut small_buf, "c", "you", 0, 0);
        small.message(&Msg::Ack { seq: 1 });
        for u in &updates {
            big.update(encode_update(u).as_slice());
        }
        assert!(big.len() > 4 * 1400);
        let (big, small) = (big.finish(), small.finish());
        let p = decode_packet(big, 1 << 16, &limits()).unwrap();
        assert_eq!((p.updates, p.live), (updates, 3));
        let p = decode_packet(small, 1400, &limits()).unwrap();
        assert_eq!(&p.messages[..], &[Msg::Ack { seq: 1 }]);
        // The buffer came back: the next datagram starts empty.
        let again = PacketWriter::new(&mut Vec::new(), "c", "me", 0, 0).finish();
        assert_eq!(
            again,
            PacketWriter::new(&mut Vec::new(), "c", "me", 0, 0).finish()
        );
        assert!(again.len() < 16);
    }

    #[test]
    fn stream_frame_round_trips_and_respects_its_budget() {
        let members: Vec<Update> = (0..1000)
            .map(|i| Update {
                name: format!("member-{i}").into(),
                ..sample_update(Status::Alive)
            })
            .collect();
        let bytes = encode_stream(
            "c",
            "me",
            Frame {
                join: true,
                members: members.iter().cloned(),
                digests: &[],
                deltas: &[],
                buckets: &[],
                differ: None,
                query_clock: 77,
                name_taken_by: None,
                event_clock: 0,
                events: Default::default(),
            },
            1 << 20,
        );
        let pp = decode_stream(bytes.clone(), 1 << 20, &limits()).unwrap();
        assert!(pp.join);
        assert_eq!(pp.members, members);
        assert_eq!(pp.query_clock, 77);
        let small = encode_stream(
            "c",
            "me",
            Frame {
                join: false,
                members: members.iter().cloned(),
                digests: &[],
                deltas: &[],
                buckets: &[],
                differ: None,
                query_clock: 0,
                name_taken_by: None,
                event_clock: 0,
                events: Default::default(),
            },
            4096,
        );
        assert!(small.len() <= 4096, "{}", small.len());
        let pp = decode_stream(small.clone(), 4096, &limits()).unwrap();
        assert!(!pp.members.is_empty() && pp.members.len() < 1000);
        assert_eq!(pp.members[..], members[..pp.members.len()]);
    }

    #[test]
    fn a_refused_join_carries_the_holders_address_and_a_bad_one_is_invalid() {
        for holder in ["10.0.0.7:7946", "[fd00::7]:7946"] {
            let holder: SocketAddr = holder.parse().unwrap();
            let frame = Frame {
                join: false,
                members: std::iter::empty(),
                digests: &[],
                deltas: &[],
                buckets: &[],
                differ: None,
                query_clock: 0,
                name_taken_by: Some(holder),
                event_clock: 0,
                events: Default::default(),
            };
            let bytes = encode_stream("c", "seed", frame, 1 << 16);
            let pp = decode_stream(bytes, 1 << 16, &limits()).unwrap();
            assert_eq!(pp.name_taken_by, Some(holder));
        }
        let bad = pb::StreamFrame {
            version: pb::PROTOCOL_VERSION,
            cluster: "c".into(),
            from: Bytes::from_static(b"seed"),
            push_pull: Some(pb::PushPull {
                name_taken_by: Bytes::from_static(&[1, 2, 3]),
                ..Default::default()
            }),
        };
        assert_eq!(
            decode_stream(bad.encode_to_vec().into(), 1 << 16, &limits()),
            Err(DropReason::Invalid)
        );
    }

    mod roundtrip {
        use super::*;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = Name> {
            "[a-z0-9.-]{1,40}".prop_map(Name::from)
        }

        fn socket() -> impl Strategy<Value = SocketAddr> {
            prop_oneof![
                (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
                (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
            ]
        }

        fn update() -> impl Strategy<Value = Update> {
            let status = prop_oneof![
                Just(Status::Alive),
                Just(Status::Suspect),
                Just(Status::Dead),
                Just(Status::Left)
            ];
            (
                name(),
                socket(),
                0..=MAX_INCARNATION,
                status,
                prop_oneof![Just(Name::EMPTY), name()],
            )
                .prop_map(|(name, addr, incarnation, status, accuser)| Update {
                    evidence: (status == Status::Dead && incarnation % 3 != 0).then(|| {
                        let n = (incarnation % 6) as usize;
                        let confirmers = (0..n).map(|i| Name::from(format!("c{i}").as_str()));
                        Box::new(crate::verdict::Evidence::new(
                            confirmers,
                            (incarnation % 9) as u32,
                            core::time::Duration::from_millis(incarnation >> 40),
                        ))
                    }),
                    name,
                    addr,
                    incarnation,
                    status,
                    accuser,
                    life: incarnation.rotate_left(7),
                })
        }

        pub(super) fn msg() -> impl Strategy<Value = Msg> {
            prop_oneof![
                (any::<u32>(), name()).prop_map(|(seq, target)| Msg::Ping { seq, target }),
                any::<u32>().prop_map(|seq| Msg::Ack { seq }),
                any::<u32>().prop_map(|seq| Msg::Nack { seq }),
                (any::<u32>(), name(), socket(), any::<bool>()).prop_map(
                    |(seq, target, target_addr, want_nack)| {
                        Msg::PingReq {
                            seq,
                            target,
                            target_addr,
                            want_nack,
                        }
                    }
                ),
            ]
        }

        proptest! {
            #[test]
            fn every_valid_packet_round_trips(
                from in name(),
                messages in proptest::collection::vec(msg(), 0..4),
                updates in proptest::collection::vec(update(), 0..8),
                live in any::<u32>(),
            ) {
                let mut w_buf = Vec::new();
                let mut w = PacketWriter::new(&mut w_buf, "c", &from, live, 0);
                for m in &messages {
                    w.message(m);
                }
                for u in &updates {
                    w.update(encode_update(u).as_slice());
                }
                let updates: Vec<Update> = updates.into_iter().map(|u| Update { life: gossiped_life(&u), ..u }).collect();
                let bytes = w.finish();
                let decoded = decode_packet(bytes, 1 << 16, &limits()).unwrap();
                prop_assert_eq!(decoded, Packet { from, from_known: false, messages: messages.into(), updates, live, deltas: vec![], summary: 0, queries: vec![], answers: vec![], events: vec![], user_queries: vec![], relayed: vec![] });
            }

            #[test]
            fn every_valid_stream_frame_round_trips(from in name(), join in any::<bool>(), members in proptest::collection::vec(update(), 0..16)) {
                let bytes = encode_stream("c", &from, Frame { join, members: members.iter().cloned(), digests: &[], deltas: &[], buckets: &[], differ: None, query_clock: 0, name_taken_by: None, event_clock: 0, events: Default::default() }, 1 << 20);
                let decoded = decode_stream(bytes, 1 << 20, &limits()).unwrap();
                prop_assert_eq!(decoded, PushPull { from, join, members, digests: vec![], deltas: vec![], buckets: vec![], differ: None, query_clock: 0, name_taken_by: None, event_clock: 0, events: Default::default() });
            }

            #[test]
            fn the_hand_encoder_writes_what_prost_writes(u in update(), join in any::<bool>(), from in name()) {
                let mut mine = Vec::new();
                put_update(&u, &mut mine);
                prop_assert_eq!(&mine, &wire_update(&u).encode_to_vec());
                let frame = pb::StreamFrame {
                    version: pb::PROTOCOL_VERSION,
                    cluster: "c".into(),
                    from: text(&from),
                    push_pull: Some(pb::PushPull { join, members: vec![wire_update(&u); 3], ..Default::default() }),
                };
                let ours = encode_stream("c", &from, Frame { join, members: std::iter::repeat_n(u, 3), digests: &[], deltas: &[], buckets: &[], differ: None, query_clock: 0, name_taken_by: None, event_clock: 0, events: Default::default() }, 1 << 20);
                prop_assert_eq!(&ours[..], &frame.encode_to_vec()[..]);
            }
        }
    }

    /// The decoder checked against prost's generated one: the prost-based
    /// decoding below is what `decode_packet` and `decode_stream` were
    /// before they were written by hand, kept as the reference. Both must
    /// give the same packet, or drop for the same reason, on every input.
    mod against_prost {
        use super::*;
        use crate::wire::{END_GROUP, FIXED32, START_GROUP};
        use proptest::prelude::*;

        fn known(s: &str) -> bool {
            s.starts_with('k')
        }

        fn limits() -> Limits<'static> {
            Limits {
                cluster: "c",
                known: &known,
            }
        }

        mod reference {
            use super::super::super::*;

            fn name(b: &[u8]) -> Result<Name, DropReason> {
                if b.is_empty() || b.len() > MAX_NAME_LEN {
                    return Err(DropReason::Invalid);
                }
                let s = std::str::from_utf8(b).map_err(|_| DropReason::Invalid)?;
                if s.chars().any(crate::wire::hidden) {
                    return Err(DropReason::Invalid);
                }
                Ok(Name::from(s))
            }

            fn accuser(b: &[u8]) -> Result<Name, DropReason> {
                if b.is_empty() {
                    return Ok(Name::EMPTY);
                }
                name(b)
            }

            fn status(s: i32) -> Result<Status, DropReason> {
                Ok(
                    match pb::Status::try_from(s).map_err(|_| DropReason::Invalid)? {
                        pb::Status::Alive => Status::Alive,
                        pb::Status::Suspect => Status::Suspect,
                        pb::Status::Dead => Status::Dead,
                        pb::Status::Left => Status::Left,
                    },
                )
            }

            fn update(u: pb::Update) -> Result<Update, DropReason> {
                if u.incarnation > MAX_INCARNATION {
                    return Err(DropReason::Invalid);
                }
                let status = status(u.status)?;
                // Evidence on dead updates that say how long the suspicion
                // ran; the first MAX_CONFIRMERS confirmers, the valid names.
                let evidence = (status == Status::Dead && u.suspected_ms != 0).then(|| {
                    let confirmers = u.confirmed.iter().take(crate::verdict::MAX_CONFIRMERS);
                    Box::new(crate::verdict::Evidence::new(
                        confirmers.filter_map(|c| name(c).ok()),
                        u.score,
                        core::time::Duration::from_millis(u.suspected_ms),
                    ))
                });
                Ok(Update {
                    name: name(&u.name)?,
                    addr: addr(&u.addr)?,
                    incarnation: u.incarnation,
                    status,
                    accuser: accuser(&u.from)?,
                    life: u.life,
                    evidence,
                })
            }

            fn header(
                version: u32,
                cluster: &str,
                from: &[u8],
                limits: &Limits<'_>,
            ) -> Result<(Name, bool), DropReason> {
                if !pb::readable(version) {
                    return Err(DropReason::Version);
                }
                if cluster != limits.cluster {
                    return Err(DropReason::Cluster);
                }
                let name = name(from)?;
                let known = (limits.known)(&name);
                Ok((name, known))
            }

            /// Every item validated, or the first error.
            fn all<A, T>(
                v: Vec<A>,
                f: impl FnMut(A) -> Result<T, DropReason>,
            ) -> Result<Vec<T>, DropReason> {
                v.into_iter().map(f).collect()
            }

            /// Decodes a message of at most `max_len` bytes.
            fn open<M: prost::Message + Default>(
                bytes: Bytes,
                max_len: usize,
            ) -> Result<M, DropReason> {
                if bytes.len() > max_len {
                    return Err(DropReason::Oversized);
                }
                M::decode(bytes).map_err(|_| DropReason::Malformed)
            }

            pub fn decode_packet(
                bytes: Bytes,
                max_len: usize,
                limits: &Limits<'_>,
            ) -> Result<Packet, DropReason> {
                let p: pb::Packet = open(bytes, max_len)?;
                let (from, from_known) = header(p.version, &p.cluster, &p.from, limits)?;
                let messages = p
                    .messages
                    .into_iter()
                    .map(|m| {
                        use pb::message::Body;
                        Ok(match m.body.ok_or(DropReason::Invalid)? {
                            Body::Ping(p) => Msg::Ping {
                                seq: p.seq,
                                target: name(&p.target)?,
                            },
                            Body::Ack(a) => Msg::Ack { seq: a.seq },
                            Body::Nack(n) => Msg::Nack { seq: n.seq },
                            Body::PingReq(r) => Msg::PingReq {
                                seq: r.seq,
                                target: name(&r.target)?,
                                target_addr: addr(&r.target_addr)?,
                                want_nack: r.want_nack,
                            },
                        })
                    })
                    .collect::<Result<Vec<_>, DropReason>>()?;
                let updates = all(p.updates, update)?;
                let deltas = all(p.deltas, key_delta)?;
                let queries = all(p.queries, |q| {
                    let b = Bytes::from(q.encode_to_vec());
                    crate::query::decode_query(&b, &b)
                })?;
                let answers = all(p.answers, |a| {
                    crate::query::decode_answer(&a.encode_to_vec())
                })?;
                Ok(Packet {
                    from,
                    from_known,
                    messages: messages.into(),
                    updates,
                    live: p.live,
                    deltas,
                    summary: p.summary,
                    queries,
                    answers,
                    events: vec![],
                    user_queries: vec![],
                    relayed: vec![],
                })
            }

            pub fn decode_stream(
                bytes: Bytes,
                max_len: usize,
                limits: &Limits<'_>,
            ) -> Result<PushPull, DropReason> {
                let f: pb::StreamFrame = open(bytes, max_len)?;
                let (from, _) = header(f.version, &f.cluster, &f.from, limits)?;
                let pp = f.push_pull.ok_or(DropReason::Invalid)?;
                let members = all(pp.members, update)?;
                let digests = all(pp.digests, digest)?;
                let deltas = all(pp.deltas, owner_deltas)?;
                if pp.buckets.len() > crate::summary::BUCKETS {
                    return Err(DropReason::Invalid);
                }
                let name_taken_by = match &pp.name_taken_by[..] {
                    [] => None,
                    a => Some(crate::wire::addr(a)?),
                };
                Ok(PushPull {
                    from,
                    join: pp.join,
                    members,
                    digests,
                    deltas,
                    buckets: pp.buckets,
                    differ: pp.differ,
                    query_clock: pp.query_clock,
                    name_taken_by,
                    event_clock: 0,
                    events: vec![],
                })
            }
        }

        fn same_packet(bytes: &[u8]) -> Result<(), TestCaseError> {
            let bytes = Bytes::copy_from_slice(bytes);
            for max in [1 << 16, 64] {
                let ours = decode_packet(bytes.clone(), max, &limits());
                let theirs = reference::decode_packet(bytes.clone(), max, &limits());
                prop_assert_eq!(ours, theirs, "{:02x?}", &bytes[..]);
            }
            Ok(())
        }

        fn same_stream(bytes: &[u8]) -> Result<(), TestCaseError> {
            let bytes = Bytes::copy_from_slice(bytes);
            let ours = decode_stream(bytes.clone(), 1 << 16, &limits());
            let theirs = reference::decode_stream(bytes.clone(), 1 << 16, &limits());
            prop_assert_eq!(ours, theirs, "{:02x?}", &bytes[..]);
            Ok(())
        }

        /// Short byte strings: names good and bad (empty, too long, not
        /// UTF-8, known or not), addresses good and bad, labels.
        fn field_bytes() -> impl Strategy<Value = Bytes> {
            prop_oneof![
                Just(Bytes::new()),
                Just(Bytes::from_static(b"c")),
                Just(Bytes::from_static(b"kay")),
                Just(Bytes::from_static(b"node-7")),
                Just(Bytes::from_static(&[0xff, 0xfe])),
                Just(Bytes::from_static("n\u{e9}".as_bytes())),
                Just(Bytes::from(vec![b'k'; 129])),
                Just(Bytes::from_static(&[10, 0, 0, 1, 0x1f, 0x0a])),
                Just(Bytes::from_static(&[0; 18])),
                proptest::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from),
            ]
        }

        fn small_u64() -> impl Strategy<Value = u64> {
            prop_oneof![0..5u64, any::<u64>(), Just(u64::MAX), Just(1 << 32)]
        }

        fn wire_update() -> impl Strategy<Value = pb::Update> {
            (
                field_bytes(),
                field_bytes(),
                small_u64(),
                prop_oneof![0..5i32, any::<i32>()],
                field_bytes(),
                proptest::collection::vec(field_bytes(), 0..7),
                small_u64(),
            )
                .prop_map(|(name, addr, incarnation, status, from, confirmed, ms)| {
                    pb::Update {
                        name,
                        addr,
                        incarnation,
                        status,
                        from,
                        life: incarnation >> 3,
                        confirmed,
                        score: (ms >> 5) as u32,
                        suspected_ms: ms,
                    }
                })
        }

        fn any_message() -> impl Strategy<Value = pb::Message> {
            use pb::message::Body;
            let body = prop_oneof![
                (any::<u32>(), field_bytes())
                    .prop_map(|(seq, target)| Body::Ping(pb::Ping { seq, target })),
                any::<u32>().prop_map(|seq| Body::Ack(pb::Ack { seq })),
                any::<u32>().prop_map(|seq| Body::Nack(pb::Nack { seq })),
                (any::<u32>(), field_bytes(), field_bytes(), any::<bool>()).prop_map(
                    |(seq, target, target_addr, want_nack)| {
                        Body::PingReq(pb::PingReq {
                            seq,
                            target,
                            target_addr,
                            want_nack,
                        })
                    }
                ),
            ];
            proptest::option::weighted(0.9, body).prop_map(|body| pb::Message { body })
        }

        fn wire_packet() -> impl Strategy<Value = pb::Packet> {
            (
                prop_oneof![Just(1u32), any::<u32>()],
                prop_oneof![Just("c".to_string()), ".{0,3}"],
                field_bytes(),
                proptest::collection::vec(any_message(), 0..4),
                proptest::collection::vec(wire_update(), 0..6),
                any::<u32>(),
            )
                .prop_map(|(version, cluster, from, messages, updates, live)| {
                    pb::Packet {
                        version,
                        cluster,
                        from,
                        messages,
                        updates,
                        live,
                        deltas: vec![],
                        summary: u64::from(live).wrapping_mul(0x9e37_79b9),
                        ..Default::default()
                    }
                })
        }

        fn wire_frame() -> impl Strategy<Value = pb::StreamFrame> {
            (
                prop_oneof![Just(1u32), any::<u32>()],
                prop_oneof![Just("c".to_string()), ".{0,3}"],
                field_bytes(),
                proptest::option::weighted(
                    0.9,
                    (
                        any::<bool>(),
                        proptest::collection::vec(wire_update(), 0..6),
                        prop_oneof![Just(0u64), any::<u64>()],
                    )
                        .prop_map(|(join, members, query_clock)| {
                            pb::PushPull {
                                join,
                                members,
                                query_clock,
                                ..Default::default()
                            }
                        }),
                ),
            )
                .prop_map(|(version, cluster, from, push_pull)| pb::StreamFrame {
                    version,
                    cluster,
                    from,
                    push_pull,
                })
        }

        /// Raw protobuf: fields with tags 1 to 7 of every wire type, length-
        /// delimited ones holding bytes or nested fields, groups well or
        /// badly closed; varints long, short and overlong.
        fn raw_fields(depth: u32) -> BoxedStrategy<Vec<u8>> {
            let key = |tag: u32, wire: u8| {
                let mut b = Vec::new();
                encode_varint(u64::from(tag << 3 | u32::from(wire)), &mut b);
                b
            };
            let leaf = prop_oneof![
                (1..8u32, small_u64()).prop_map(move |(tag, v)| {
                    let mut b = key(tag, VARINT);
                    encode_varint(v, &mut b);
                    b
                }),
                (1..8u32, field_bytes()).prop_map(move |(tag, v)| {
                    let mut b = key(tag, LEN);
                    encode_varint(v.len() as u64, &mut b);
                    b.extend_from_slice(&v);
                    b
                }),
                (1..8u32, any::<[u8; 8]>(), any::<bool>()).prop_map(move |(tag, v, wide)| {
                    let mut b = key(tag, if wide { FIXED64 } else { FIXED32 });
                    b.extend_from_slice(&v[..if wide { 8 } else { 4 }]);
                    b
                }),
                // Overlong and ten-byte varints, bad keys.
                proptest::collection::vec(
                    prop_oneof![Just(0x80u8), Just(0xffu8), Just(0x01u8), Just(0x00u8)],
                    1..12
                ),
            ];
            if depth == 0 {
                return proptest::collection::vec(leaf, 0..5)
                    .prop_map(|v| v.concat())
                    .boxed();
            }
            let inner = raw_fields(depth - 1);
            let nested = prop_oneof![
                (1..8u32, inner.clone()).prop_map(move |(tag, v)| {
                    let mut b = key(tag, LEN);
                    encode_varint(v.len() as u64, &mut b);
                    b.extend_from_slice(&v);
                    b
                }),
                (1..8u32, 0..2u32, inner).prop_map(move |(tag, off, v)| {
                    let mut b = key(tag, START_GROUP);
                    b.extend_from_slice(&v);
                    b.extend_from_slice(&key(tag + off, END_GROUP));
                    b
                }),
            ];
            proptest::collection::vec(prop_oneof![2 => leaf, 1 => nested], 0..6)
                .prop_map(|v| v.concat())
                .boxed()
        }

        /// Packet-shaped bytes: fields of the right tags around raw messages,
        /// updates and unknown fields (repeated and merged).
        fn raw_packet() -> impl Strategy<Value = Vec<u8>> {
            let field = prop_oneof![
                wire_packet().prop_map(|p| p.encode_to_vec()),
                raw_fields(3),
                (4..6u32, raw_fields(2)).prop_map(|(tag, v)| {
                    let mut b = Vec::new();
                    encode_key(tag, WireType::LengthDelimited, &mut b);
                    encode_varint(v.len() as u64, &mut b);
                    b.extend_from_slice(&v);
                    b
                }),
            ];
            proptest::collection::vec(field, 1..4).prop_map(|v| v.concat())
        }

        fn mutate(mut b: Vec<u8>, edits: Vec<(usize, u8, u8)>) -> Vec<u8> {
            for (at, kind, byte) in edits {
                if b.is_empty() {
                    b.push(byte);
                    continue;
                }
                let at = at % b.len();
                match kind % 4 {
                    0 => b[at] = byte,
                    1 => b.insert(at, byte),
                    2 => {
                        b.remove(at);
                    }
                    _ => b.truncate(at),
                }
            }
            b
        }

        fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
            proptest::collection::vec(any::<(usize, u8, u8)>(), 0..4)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2048))]

            #[test]
            fn packets_decode_as_prost_decodes_them(p in wire_packet(), e in edits()) {
                let bytes = p.encode_to_vec();
                same_packet(&bytes)?;
                same_packet(&mutate(bytes, e))?;
            }

            #[test]
            fn raw_packets_decode_as_prost_decodes_them(b in raw_packet(), e in edits()) {
                same_packet(&b)?;
                same_packet(&mutate(b, e))?;
            }

            #[test]
            fn random_bytes_decode_as_prost_decodes_them(
                b in proptest::collection::vec(any::<u8>(), 0..64)
            ) {
                same_packet(&b)?;
                same_stream(&b)?;
            }

            #[test]
            fn frames_decode_as_prost_decodes_them(
                f in wire_frame(),
                extra in raw_fields(3),
                e in edits(),
            ) {
                let bytes = f.encode_to_vec();
                same_stream(&bytes)?;
                // Another push_pull piece, or unknown fields.
                let mut more = bytes.clone();
                more.extend_from_slice(&extra);
                same_stream(&more)?;
                let mut piece = bytes.clone();
                encode_key(4, WireType::LengthDelimited, &mut piece);
                encode_varint(extra.len() as u64, &mut piece);
                piece.extend_from_slice(&extra);
                same_stream(&piece)?;
                same_stream(&mutate(bytes, e))?;
            }

            #[test]
            fn the_writer_writes_what_prost_writes(
                from in "[a-z]{1,20}",
                live in any::<u32>(),
                messages in proptest::collection::vec(roundtrip::msg(), 0..3),
            ) {
                let mut w_buf = Vec::new();
                let mut w = PacketWriter::new(&mut w_buf, "c", &from, live, 0);
                for m in &messages {
                    w.message(m);
                }
                let ours = w.finish();
                // The header and the view size first, then the messages.
                let mut theirs = pb::Packet {
                    version: pb::PROTOCOL_VERSION,
                    cluster: "c".into(),
                    from: text(&from),
                    live,
                    ..Default::default()
                }
                .encode_to_vec();
                for m in messages {
                    prost::encoding::message::encode(4, &wire_message(m), &mut theirs);
                }
                prop_assert_eq!(&ours[..], &theirs[..]);
            }
        }

        fn wire_message(m: Msg) -> pb::Message {
            use pb::message::Body;
            let body = match m {
                Msg::Ping { seq, target } => Body::Ping(pb::Ping {
                    seq,
                    target: text(&target),
                }),
                Msg::Ack { seq } => Body::Ack(pb::Ack { seq }),
                Msg::Nack { seq } => Body::Nack(pb::Nack { seq }),
                Msg::PingReq {
                    seq,
                    target,
                    target_addr,
                    want_nack,
                } => Body::PingReq(pb::PingReq {
                    seq,
                    target: text(&target),
                    target_addr: address(target_addr),
                    want_nack,
                }),
            };
            pb::Message { body: Some(body) }
        }

        /// Groups nested around prost's recursion limit, at every level a
        /// field can be skipped at.
        #[test]
        fn nesting_is_limited_as_prost_limits_it() {
            let group = |depth: usize, tag: u8| {
                let mut b = vec![tag << 3 | START_GROUP; depth];
                b.extend_from_slice(&[0x08, 0x01]);
                b.extend(std::iter::repeat_n(tag << 3 | END_GROUP, depth));
                b
            };
            let wrap = |tag: u8, inner: &[u8]| {
                let mut b = vec![tag << 3 | LEN];
                encode_varint(inner.len() as u64, &mut b);
                b.extend_from_slice(inner);
                b
            };
            let mut ok = 0;
            for depth in 90..=101 {
                let g = group(depth, 15);
                let ping = wrap(4, &wrap(1, &g));
                let ping_req = wrap(4, &wrap(4, &g));
                let message = wrap(4, &g);
                let update = wrap(5, &g);
                for body in [g.clone(), ping, ping_req, message, update] {
                    let mut p = vec![0x08, 0x01, 0x12, 0x01, b'c', 0x1a, 0x01, b'k'];
                    p.extend_from_slice(&body);
                    same_packet(&p).unwrap();
                    ok += usize::from(decode_packet(p.into(), 1 << 16, &limits()).is_ok());
                }
                let member = wrap(4, &wrap(2, &g));
                let mut f = vec![0x08, 0x01, 0x12, 0x01, b'c', 0x1a, 0x01, b'k'];
                f.extend_from_slice(&member);
                same_stream(&f).unwrap();
                same_stream(&[&f[..], &g[..]].concat()).unwrap();
            }
            assert!(ok > 0, "some depths are allowed");
        }

        #[test]
        fn merges_and_last_wins_as_prost_does() {
            let ping = pb::Message {
                body: Some(pb::message::Body::Ping(pb::Ping {
                    seq: 5,
                    target: Bytes::new(),
                })),
            };
            let target = pb::Message {
                body: Some(pb::message::Body::Ping(pb::Ping {
                    seq: 0,
                    target: Bytes::from_static(b"kay"),
                })),
            };
            let ack = pb::Message {
                body: Some(pb::message::Body::Ack(pb::Ack { seq: 9 })),
            };
            // One Message holding a ping in two pieces, with and without an ack between.
            for parts in [
                vec![&ping, &target],
                vec![&ping, &ack, &target],
                vec![&target, &ping],
            ] {
                let message: Vec<u8> = parts.iter().flat_map(|m| m.encode_to_vec()).collect();
                let mut p = pb::Packet {
                    version: 1,
                    cluster: "c".into(),
                    from: Bytes::from_static(b"kay"),
                    ..Default::default()
                }
                .encode_to_vec();
                encode_key(4, WireType::LengthDelimited, &mut p);
                encode_varint(message.len() as u64, &mut p);
                p.extend_from_slice(&message);
                // A second sender and cluster label: the last wins.
                p.extend_from_slice(&[0x1a, 0x01, b'z', 0x12, 0x01, b'c']);
                same_packet(&p).unwrap();
            }
        }
    }
}
