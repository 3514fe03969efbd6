//! `sealed`: node-0 holds keys 1 (primary) and 2 and requires sealing; it
//! has joined node-1 ..= node-4 of cluster `swim`. The input is a mode
//! byte, then either raw bytes, or a template message (a datagram or a
//! push-pull frame, valid in that state) sealed under key 1, 2 or 3 (which
//! node-0 does not hold) with a nonce from the input, then mutated (bits
//! flipped, bytes set or inserted, cut, extended). It is delivered as a
//! datagram, as a request on a stream a peer opened, or as the reply on a
//! stream node-0 opened.
//!
//! Only a message equal to the template sealed under a held key (the same
//! header and the same nonce, ciphertext and tag; the length of the sealed
//! field is not authenticated, so it may be spelt another way) may be
//! accepted, and it must be. Anything else must be dropped before it is
//! opened (counted as `auth`, `version`, `cluster` or `oversized`) and
//! change nothing: no member, no key, no traffic counted as received, no
//! datagram or frame sent, no event but a join retry.

use super::reader::Reader;
use super::*;

/// The cluster label: bound into every sealed message as associated data.
pub const CLUSTER: &str = "swim";
/// The keys node-0 holds, the primary first; key 3 is foreign.
pub const HELD: [u8; 2] = [1, 2];

/// Where the message is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// A datagram from node-3.
    Datagram,
    /// The first frame on a stream node-3 opened.
    Request,
    /// The reply on a stream node-0 opened to node-1.
    Reply,
}

/// The mode byte: the path (mode % 3) and the key that seals ((mode / 3)
/// % 4; 0: the input is raw bytes).
pub fn mode(path: Path, key: u8) -> u8 {
    let p = match path {
        Path::Datagram => 0,
        Path::Request => 1,
        Path::Reply => 2,
    };
    key * 3 + p
}

/// Datagram templates.
pub const PACKETS: u8 = 4;
/// Frame templates.
pub const FRAMES: u8 = 2;

/// Template `i` of the messages for `path` (plain, in [`CLUSTER`]): each is
/// accepted by node-0 once sealed under a held key.
pub fn template(path: Path, i: u8) -> Vec<u8> {
    use pb::message::Body;
    if path == Path::Datagram {
        return match i % PACKETS {
            0 => {
                let ping = Body::Ping(pb::Ping {
                    seq: 7,
                    target: name(0).into_bytes().into(),
                });
                packet(CLUSTER, 3, vec![ping], vec![], vec![])
            }
            1 => {
                let suspect = pb::Update {
                    status: pb::Status::Suspect as i32,
                    from: name(3).into_bytes().into(),
                    ..alive(2, 1)
                };
                packet(CLUSTER, 3, vec![], vec![suspect, alive(5, 1)], vec![])
            }
            2 => {
                let delta = pb::KeyDelta {
                    owner: name(1).into_bytes().into(),
                    life: life(1),
                    write: Some(write("color", b"red", 3, 2)),
                    gc: 0,
                };
                packet(CLUSTER, 3, vec![], vec![], vec![delta])
            }
            _ => {
                let req = Body::PingReq(pb::PingReq {
                    seq: 9,
                    target: name(2).into_bytes().into(),
                    target_addr: wire_addr(addr(2)),
                    want_nack: true,
                });
                packet(CLUSTER, 3, vec![req], vec![], vec![])
            }
        };
    }
    match i % FRAMES {
        0 => {
            let mut state = cluster_state();
            state.members.push(alive(5, 1));
            state.deltas[0].writes.push(write("shape", b"round", 3, 0));
            state.deltas[0].to = 3;
            frame(CLUSTER, 1, state)
        }
        _ => {
            let join = pb::PushPull {
                join: true,
                members: vec![alive(6, 1)],
                ..Default::default()
            };
            frame(CLUSTER, 6, join)
        }
    }
}

/// A sealed message's header (the associated data) and the contents of
/// its sealed field, read as the node reads them; `None` when `bytes` has
/// another shape.
pub fn envelope(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
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
    // The length in the fewest bytes: it is not authenticated, so the node
    // refuses any other spelling.
    fn field<'a>(r: &mut &'a [u8]) -> Option<&'a [u8]> {
        let before = r.len();
        let len = varint(r)?;
        if before - r.len() != prost::encoding::encoded_len_varint(len) {
            return None;
        }
        let len = usize::try_from(len).ok()?;
        let (f, rest) = r.split_at_checked(len)?;
        *r = rest;
        Some(f)
    }
    let mut r = bytes;
    loop {
        let (&key, rest) = r.split_first()?;
        r = rest;
        match key {
            0x08 => {
                varint(&mut r)?;
            }
            0x12 => {
                field(&mut r)?;
            }
            0x7a => {
                let aad = &bytes[..bytes.len() - rest.len() - 1];
                let sealed = field(&mut r)?;
                return r.is_empty().then_some((aad, sealed));
            }
            _ => return None,
        }
    }
}

/// Applies the mutations the rest of `r` spells to `b`.
pub fn mutate(b: &mut Vec<u8>, r: &mut Reader<'_>) {
    while !r.is_empty() {
        let op = r.below(5);
        let at = usize::from(r.u16());
        match op {
            0 if !b.is_empty() => {
                let bit = at % (b.len() * 8);
                b[bit / 8] ^= 1 << (bit % 8);
            }
            1 => b.truncate(at % (b.len() + 1)),
            2 => b.extend_from_slice(r.bytes()),
            3 if !b.is_empty() => {
                let i = at % b.len();
                b[i] = r.u8();
            }
            4 => {
                let i = at % (b.len() + 1);
                b.insert(i, r.u8());
            }
            _ => {}
        }
    }
}

/// Input counted as dropped before it was opened.
fn unopened(d: &swim_core::Dropped) -> u64 {
    d.auth + d.version + d.cluster + d.oversized
}

/// Input counted as dropped after it was opened (or for its contents).
fn opened_drops(d: &swim_core::Dropped) -> u64 {
    d.total() - unopened(d)
}

/// The target's body.
pub fn run(data: &[u8]) {
    let mut r = Reader::new(data);
    let mode = r.u8();
    let path = [Path::Datagram, Path::Request, Path::Reply][usize::from(mode % 3)];
    let sealer = (mode / 3) % 4;
    let config = Config {
        cluster: CLUSTER.into(),
        ..Config::lan()
    };
    let mut node = joined(config, &HELD);
    let now = Instant::ZERO;
    let (bytes, genuine) = if sealer == 0 {
        (r.rest().to_vec(), false)
    } else {
        let plain = template(path, r.u8());
        let sealed = seal(sealer, CLUSTER, r.u64(), &plain);
        let mut bytes = sealed.clone();
        mutate(&mut bytes, &mut r);
        let same = bytes == sealed || envelope(&bytes) == envelope(&sealed);
        (bytes, same && HELD.contains(&sealer))
    };
    let peer = addr(3);
    let input = match path {
        Path::Datagram => Input::Datagram {
            from: peer,
            bytes: bytes.into(),
        },
        Path::Request => Input::StreamFrame {
            id: StreamId::accepted(1),
            from: peer,
            bytes: bytes.into(),
        },
        Path::Reply => {
            node.join(&[addr(1)], now).expect("not leaving");
            let id = opened(&drain(&mut node, now)).expect("a join opens a stream");
            Input::StreamFrame {
                id,
                from: addr(1),
                bytes: bytes.into(),
            }
        }
    };
    let (members, keys) = (snapshot(&node), key_values(&node));
    let before = node.metrics().clone();
    let out = step(&mut node, input, now);
    let after = node.metrics();
    if genuine {
        assert_eq!(
            unopened(&after.dropped),
            unopened(&before.dropped),
            "a genuine message was not opened"
        );
        assert!(
            after.received.total().packets > before.received.total().packets,
            "a genuine message was not accepted: {:?}",
            after.dropped
        );
        return;
    }
    assert!(
        unopened(&after.dropped) > unopened(&before.dropped),
        "a forged message was not dropped unopened: {:?}",
        after.dropped
    );
    assert_eq!(
        opened_drops(&after.dropped),
        opened_drops(&before.dropped),
        "a forged message was opened: {:?}",
        after.dropped
    );
    assert_eq!(
        after.received, before.received,
        "a forged message was received"
    );
    assert_eq!(
        after.push_pulls, before.push_pulls,
        "a forged exchange completed"
    );
    assert_eq!(
        snapshot(&node),
        members,
        "a forged message changed the membership"
    );
    assert_eq!(key_values(&node), keys, "a forged message changed the keys");
    for o in &out {
        let quiet = match o {
            Output::StreamClose { .. } => true,
            Output::Event(e) => matches!(e, swim_core::Event::JoinRetry { .. }),
            _ => false,
        };
        assert!(quiet, "a forged message drew {o:?}");
    }
}
