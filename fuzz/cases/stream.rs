//! `stream`: any bytes, delivered as a stream frame on each of the three
//! paths a frame takes, to node-0 joined to node-1 ..= node-4:
//!
//! 1. the first frame (a request) on a stream a peer opened
//!    ([`StreamId::accepted`]);
//! 2. the last frame of an exchange a peer opened and node-0 answered;
//! 3. the reply on a stream node-0 opened (it joins again to open one).
//!
//! Every path is taken for every input, and each must reach decoding (the
//! reply is not dropped as unsolicited). Nothing may panic, the outputs
//! keep their bounds, every frame draws an answer or a close on its
//! stream, and a frame dropped as undecodable changes nothing.

use super::*;

/// The target's body.
pub fn run(data: &[u8]) {
    let now = Instant::ZERO;
    let mut node = joined(Config::lan(), &[]);
    let peer = addr(2);

    // 1. A request on a stream node-2 opened.
    let id = StreamId::accepted(1);
    let out = deliver(&mut node, id, peer, data, now);
    assert!(
        out.iter().any(|o| matches!(o,
            Output::StreamFrame { id: i, .. } | Output::StreamClose { id: i } if *i == id)),
        "a request drew neither an answer nor a close: {out:?}"
    );

    // 2. The last frame of an exchange node-2 opened and node-0 answered.
    let id = StreamId::accepted(2);
    let request = pb::PushPull {
        members: vec![alive(2, 1)],
        ..Default::default()
    };
    let request = frame("", 2, request).into();
    let out = step(
        &mut node,
        Input::StreamFrame {
            id,
            from: peer,
            bytes: request,
        },
        now,
    );
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::StreamFrame { id: i, .. } if *i == id))
            && !out
                .iter()
                .any(|o| matches!(o, Output::StreamClose { id: i } if *i == id)),
        "a valid request was not answered and kept open: {out:?}"
    );
    let out = deliver(&mut node, id, peer, data, now);
    assert!(
        out.contains(&Output::StreamClose { id }),
        "the last frame did not close the exchange: {out:?}"
    );

    // 3. The reply on a stream node-0 opened.
    node.join(&[addr(1)], now).expect("not leaving");
    let id = opened(&drain(&mut node, now)).expect("a join opens a stream");
    let unsolicited = node.metrics().dropped.unsolicited;
    let out = deliver(&mut node, id, addr(1), data, now);
    assert_eq!(
        node.metrics().dropped.unsolicited,
        unsolicited,
        "the reply was not taken for the exchange's"
    );
    assert!(
        out.contains(&Output::StreamClose { id }),
        "the reply did not close the exchange: {out:?}"
    );
}

/// Delivers `data` on stream `id` from `from` at `now`, and checks that a
/// frame dropped as undecodable changed nothing.
pub fn deliver(
    node: &mut Node,
    id: StreamId,
    from: SocketAddr,
    data: &[u8],
    now: Instant,
) -> Vec<Output> {
    let (members, keys) = (snapshot(node), key_values(node));
    let dropped = node.metrics().dropped;
    let before = dropped.decode_failures() + dropped.from_self;
    let bytes = Bytes::copy_from_slice(data);
    let out = step(node, Input::StreamFrame { id, from, bytes }, now);
    let dropped = node.metrics().dropped;
    if dropped.decode_failures() + dropped.from_self > before {
        assert_eq!(
            snapshot(node),
            members,
            "a dropped frame changed the membership"
        );
        assert_eq!(key_values(node), keys, "a dropped frame changed the keys");
    }
    out
}
