//! Bytes in, bytes out: encoding and validating decoding of the wire format.
//!
//! Everything from the network passes through [`decode_packet`] or
//! [`decode_stream`], which check size, version, cluster label and every
//! field before the node sees it. A packet is accepted whole or dropped whole,
//! so a bad field can never leave half its updates applied.

use crate::member::{Status, Update};
use crate::metrics::Kind;
use crate::name::Name;
use bytes::Bytes;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use swim_proto as pb;

use crate::config::MAX_NAME_LEN;

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

/// A decoded datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Packet {
    pub from: Name,
    /// Whether the sender is in our table (an unknown one means we are behind).
    pub from_known: bool,
    pub messages: Vec<Msg>,
    pub updates: Vec<Update>,
    /// How many members the sender holds live (its view's size).
    pub live: u32,
}

/// A decoded push-pull frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PushPull {
    pub from: Name,
    pub join: bool,
    pub members: Vec<Update>,
}

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
}

/// Limits the decoder enforces, and how it tells known names.
pub(crate) struct Limits<'a> {
    pub cluster: &'a str,
    pub max_meta: usize,
    /// Whether a sender's name is in our table (this node included).
    pub known: &'a dyn Fn(&str) -> bool,
}

/// A validated name; short names are held inline, so decoding a packet
/// allocates nothing for them.
fn name(b: &[u8]) -> Result<Name, DropReason> {
    if b.is_empty() || b.len() > MAX_NAME_LEN {
        return Err(DropReason::Invalid);
    }
    let s = std::str::from_utf8(b).map_err(|_| DropReason::Invalid)?;
    Ok(Name::from(s))
}

/// A validated name, and whether `known` knows it.
fn known_name(b: &[u8], known: &dyn Fn(&str) -> bool) -> Result<(Name, bool), DropReason> {
    let name = name(b)?;
    let is_known = known(&name);
    Ok((name, is_known))
}

/// An optional name (the accuser of an update): empty is allowed.
fn accuser(b: &[u8]) -> Result<Name, DropReason> {
    if b.is_empty() {
        return Ok(Name::EMPTY);
    }
    name(b)
}

fn text(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn addr(a: &[u8]) -> Result<SocketAddr, DropReason> {
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

/// The wire form of an address: IP octets, then the port big-endian.
pub(crate) fn address(a: SocketAddr) -> Bytes {
    let mut out = [0u8; 18];
    let len = put_address(a, &mut out);
    Bytes::copy_from_slice(&out[..len])
}

/// Writes the wire form of `a` into `out`; returns its length (6 or 18).
fn put_address(a: SocketAddr, out: &mut [u8; 18]) -> usize {
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

fn wire_status(s: Status) -> pb::Status {
    match s {
        Status::Alive => pb::Status::Alive,
        Status::Suspect => pb::Status::Suspect,
        Status::Dead => pb::Status::Dead,
        Status::Left => pb::Status::Left,
    }
}

fn update(u: pb::Update, limits: &Limits<'_>) -> Result<Update, DropReason> {
    if u.meta.len() > limits.max_meta {
        return Err(DropReason::Invalid);
    }
    Ok(Update {
        name: name(&u.name)?,
        addr: addr(&u.addr)?,
        incarnation: u.incarnation,
        status: status(u.status)?,
        meta: u.meta,
        accuser: accuser(&u.from)?,
    })
}

/// The wire form of an update.
#[cfg(test)]
pub(crate) fn wire_update(u: &Update) -> pb::Update {
    pb::Update {
        name: text(&u.name),
        addr: address(u.addr),
        incarnation: u.incarnation,
        status: wire_status(u.status) as i32,
        meta: u.meta.clone(),
        from: text(&u.accuser),
    }
}

/// Appends `u` encoded as a `swim.v1.Update` to `buf`, field by field exactly
/// as prost encodes the message, but without building it: no allocation per
/// update, which matters when a full-state frame carries thousands.
pub(crate) fn put_update(u: &Update, buf: &mut Vec<u8>) {
    put_bytes(1, u.name.as_bytes(), buf);
    let mut a = [0u8; 18];
    let len = put_address(u.addr, &mut a);
    put_bytes(2, &a[..len], buf);
    if u.incarnation != 0 {
        encode_key(3, WireType::Varint, buf);
        encode_varint(u.incarnation, buf);
    }
    let status = wire_status(u.status) as i32;
    if status != 0 {
        encode_key(4, WireType::Varint, buf);
        encode_varint(status as u64, buf);
    }
    put_bytes(5, &u.meta, buf);
    put_bytes(6, u.accuser.as_bytes(), buf);
}

/// A length-delimited field, left out when empty (proto3 defaults).
fn put_bytes(field: u32, b: &[u8], buf: &mut Vec<u8>) {
    if !b.is_empty() {
        encode_key(field, WireType::LengthDelimited, buf);
        encode_varint(b.len() as u64, buf);
        buf.extend_from_slice(b);
    }
}

/// An update encoded on its own, ready to be queued for piggybacking.
pub(crate) fn encode_update(u: &Update) -> crate::broadcast::Encoded {
    let mut buf = Vec::with_capacity(64);
    put_update(u, &mut buf);
    crate::broadcast::Encoded::new(&buf)
}

fn header(
    version: u32,
    cluster: &str,
    from: &[u8],
    limits: &Limits<'_>,
) -> Result<(Name, bool), DropReason> {
    if version != pb::PROTOCOL_VERSION {
        return Err(DropReason::Version);
    }
    if cluster != limits.cluster {
        return Err(DropReason::Cluster);
    }
    known_name(from, limits.known)
}

/// Decodes a message of at most `max_len` bytes (datagram or stream frame).
fn open<M: prost::Message + Default>(bytes: Bytes, max_len: usize) -> Result<M, DropReason> {
    if bytes.len() > max_len {
        return Err(DropReason::Oversized);
    }
    M::decode(bytes).map_err(|_| DropReason::Malformed)
}

/// Decodes and validates a datagram of at most `max_len` bytes.
pub(crate) fn decode_packet(
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
    let updates = p
        .updates
        .into_iter()
        .map(|u| update(u, limits))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Packet {
        from,
        from_known,
        messages,
        updates,
        live: p.live,
    })
}

/// Decodes and validates a push-pull frame of at most `max_len` bytes.
pub(crate) fn decode_stream(
    bytes: Bytes,
    max_len: usize,
    limits: &Limits<'_>,
) -> Result<PushPull, DropReason> {
    let f: pb::StreamFrame = open(bytes, max_len)?;
    let (from, _) = header(f.version, &f.cluster, &f.from, limits)?;
    let pp = f.push_pull.ok_or(DropReason::Invalid)?;
    let members = pp
        .members
        .into_iter()
        .map(|u| update(u, limits))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PushPull {
        from,
        join: pp.join,
        members,
    })
}

/// The fields a datagram and a stream frame both start with: version (1),
/// cluster label (2) and sender (3).
fn put_header(cluster: &str, from: &str, buf: &mut Vec<u8>) {
    prost::encoding::uint32::encode(1, &pb::PROTOCOL_VERSION, buf);
    put_bytes(2, cluster.as_bytes(), buf);
    put_bytes(3, from.as_bytes(), buf);
}

/// Bytes that an encoded update of `len` bytes takes inside a packet.
pub(crate) fn framed_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// Builds one datagram: header, protocol messages, then piggybacked updates
/// appended as pre-encoded bytes (protobuf lets repeated fields come in any order).
pub(crate) struct PacketWriter {
    buf: Vec<u8>,
}

impl PacketWriter {
    pub fn new(cluster: &str, from: &str, live: u32) -> Self {
        let mut buf = Vec::with_capacity(256);
        put_header(cluster, from, &mut buf);
        if live != 0 {
            prost::encoding::uint32::encode(6, &live, &mut buf);
        }
        PacketWriter { buf }
    }

    pub fn message(&mut self, m: &Msg) {
        use pb::message::Body;
        let body = match *m {
            Msg::Ping { seq, ref target } => Body::Ping(pb::Ping {
                seq,
                target: text(target),
            }),
            Msg::Ack { seq } => Body::Ack(pb::Ack { seq }),
            Msg::Nack { seq } => Body::Nack(pb::Nack { seq }),
            Msg::PingReq {
                seq,
                ref target,
                target_addr,
                want_nack,
            } => Body::PingReq(pb::PingReq {
                seq,
                target: text(target),
                target_addr: address(target_addr),
                want_nack,
            }),
        };
        prost::encoding::message::encode(4, &pb::Message { body: Some(body) }, &mut self.buf);
    }

    /// Appends one update encoded by [`encode_update`].
    pub fn update(&mut self, encoded: &[u8]) {
        encode_key(5, WireType::LengthDelimited, &mut self.buf);
        encode_varint(encoded.len() as u64, &mut self.buf);
        self.buf.extend_from_slice(encoded);
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn finish(self) -> Bytes {
        self.buf.into()
    }
}

/// Encodes a push-pull frame holding as many of `members` (in the given order)
/// as fit in `max_len` bytes.
pub(crate) fn encode_stream(
    cluster: &str,
    from: &str,
    join: bool,
    members: impl Iterator<Item = Update>,
    max_len: usize,
) -> Bytes {
    // Room for the header and the push_pull field's own key and length.
    let mut budget = max_len.saturating_sub(16 + 2 * MAX_NAME_LEN);
    let mut body = Vec::new();
    if join {
        prost::encoding::bool::encode(1, &join, &mut body);
    }
    let mut one = Vec::with_capacity(64);
    for m in members {
        one.clear();
        put_update(&m, &mut one);
        let size = framed_len(one.len());
        if size > budget {
            break;
        }
        budget -= size;
        encode_key(2, WireType::LengthDelimited, &mut body);
        encode_varint(one.len() as u64, &mut body);
        body.extend_from_slice(&one);
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
    use prost::Message as _;

    fn unknown(_: &str) -> bool {
        false
    }

    pub(crate) fn limits() -> Limits<'static> {
        Limits {
            cluster: "c",
            max_meta: 512,
            known: &unknown,
        }
    }

    fn sample_update(status: Status) -> Update {
        Update {
            name: "node-1".into(),
            addr: "[::1]:7946".parse().unwrap(),
            incarnation: 42,
            status,
            meta: Bytes::from_static(b"role=db"),
            accuser: "node-2".into(),
        }
    }

    #[test]
    fn packet_round_trips() {
        let mut w = PacketWriter::new("c", "me", 0);
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
        let bytes = w.finish();
        let p = decode_packet(bytes.clone(), 1400, &limits()).unwrap();
        assert_eq!(
            p,
            Packet {
                from: "me".into(),
                from_known: false,
                messages: msgs,
                updates,
                live: 0,
            }
        );
    }

    #[test]
    fn rejects_foreign_cluster_version_size_and_bad_fields() {
        let bytes = PacketWriter::new("other", "me", 0).finish();
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
        };
        assert_eq!(
            decode_packet(p.encode_to_vec().into(), 1400, &limits()),
            Err(DropReason::Invalid)
        );
    }

    #[test]
    fn stream_frame_round_trips_and_respects_its_budget() {
        let members: Vec<Update> = (0..1000)
            .map(|i| Update {
                name: format!("member-{i}").into(),
                ..sample_update(Status::Alive)
            })
            .collect();
        let bytes = encode_stream("c", "me", true, members.iter().cloned(), 1 << 20);
        let pp = decode_stream(bytes.clone(), 1 << 20, &limits()).unwrap();
        assert!(pp.join);
        assert_eq!(pp.members, members);
        let small = encode_stream("c", "me", false, members.iter().cloned(), 4096);
        assert!(small.len() <= 4096, "{}", small.len());
        let pp = decode_stream(small.clone(), 4096, &limits()).unwrap();
        assert!(!pp.members.is_empty() && pp.members.len() < 1000);
        assert_eq!(pp.members[..], members[..pp.members.len()]);
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
                any::<u64>(),
                status,
                proptest::collection::vec(any::<u8>(), 0..64),
                prop_oneof![Just(Name::EMPTY), name()],
            )
                .prop_map(|(name, addr, incarnation, status, meta, accuser)| Update {
                    name,
                    addr,
                    incarnation,
                    status,
                    meta: meta.into(),
                    accuser,
                })
        }

        fn msg() -> impl Strategy<Value = Msg> {
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
                let mut w = PacketWriter::new("c", &from, live);
                for m in &messages {
                    w.message(m);
                }
                for u in &updates {
                    w.update(encode_update(u).as_slice());
                }
                let bytes = w.finish();
                let decoded = decode_packet(bytes, 1 << 16, &limits()).unwrap();
                prop_assert_eq!(decoded, Packet { from, from_known: false, messages, updates, live });
            }

            #[test]
            fn every_valid_stream_frame_round_trips(from in name(), join in any::<bool>(), members in proptest::collection::vec(update(), 0..16)) {
                let bytes = encode_stream("c", &from, join, members.iter().cloned(), 1 << 20);
                let decoded = decode_stream(bytes, 1 << 20, &limits()).unwrap();
                prop_assert_eq!(decoded, PushPull { from, join, members });
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
                    push_pull: Some(pb::PushPull { join, members: vec![wire_update(&u); 3] }),
                };
                let ours = encode_stream("c", &from, join, std::iter::repeat_n(u, 3), 1 << 20);
                prop_assert_eq!(&ours[..], &frame.encode_to_vec()[..]);
            }
        }
    }
}
