//! What goes into the state machine and what comes out of it.

use crate::member::Member;
use bytes::Bytes;
use std::net::SocketAddr;

/// Identifies one push-pull stream between a node and its driver.
///
/// The node picks the id of streams it opens ([`Output::StreamOpen`]); the
/// driver picks the id of streams a peer opened ([`Input::StreamRequest`]).
/// The two never need to be told apart: the node only echoes the latter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u64);

/// Something that happened outside the node, fed to [`Node::step`](crate::Node::step).
#[derive(Clone, Debug)]
pub enum Input {
    /// A datagram arrived from `from`.
    Datagram {
        /// The transport address it came from (acks go back there).
        from: SocketAddr,
        /// Its payload, exactly as received.
        bytes: Bytes,
    },
    /// A peer opened a push-pull stream and sent its frame.
    StreamRequest {
        /// The driver's id for this stream, echoed in the reply.
        id: StreamId,
        /// Where the stream came from.
        from: SocketAddr,
        /// The frame's payload (without the driver's length prefix).
        bytes: Bytes,
    },
    /// The peer answered a stream this node opened.
    StreamReply {
        /// The id from [`Output::StreamOpen`].
        id: StreamId,
        /// The reply frame's payload.
        bytes: Bytes,
    },
    /// A stream this node opened failed (refused, reset, timed out, too large).
    StreamFailed {
        /// The id from [`Output::StreamOpen`].
        id: StreamId,
    },
    /// Nothing arrived: time passed. Call it at [`Node::poll_timeout`](crate::Node::poll_timeout).
    Tick,
}

/// Something the driver must do, or tell the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send one datagram (never larger than `max_packet_size`).
    Datagram {
        /// Destination.
        to: SocketAddr,
        /// Payload.
        bytes: Bytes,
    },
    /// Open a stream to `to`, write `bytes` as one frame, read one frame back
    /// and feed it as [`Input::StreamReply`] (or [`Input::StreamFailed`]).
    StreamOpen {
        /// Id to quote in the input that concludes the stream.
        id: StreamId,
        /// Destination.
        to: SocketAddr,
        /// The request frame.
        bytes: Bytes,
    },
    /// Write `bytes` as the one reply frame on a peer's stream, then close it.
    StreamReply {
        /// The driver's id from [`Input::StreamRequest`].
        id: StreamId,
        /// The reply frame.
        bytes: Bytes,
    },
    /// Close a peer's stream without a reply (its request was dropped).
    StreamClose {
        /// The driver's id from [`Input::StreamRequest`].
        id: StreamId,
    },
    /// Tell the application.
    Event(Event),
}

/// A change the application may want to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A member was learned (or came back after being dead or left).
    MemberJoined(Member),
    /// A member changed its address or metadata.
    MemberUpdated(Member),
    /// A member failed a probe and is suspected.
    MemberSuspect(Member),
    /// A suspect member refuted the suspicion: alive again.
    MemberRecovered(Member),
    /// A suspicion timed out: the member is dead.
    MemberFailed(Member),
    /// A member left gracefully.
    MemberLeft(Member),
    /// A dead or left member was removed from the table.
    MemberReaped(Member),
    /// A join reached a seed and merged its state.
    JoinCompleted {
        /// The seed that answered.
        seed: SocketAddr,
    },
    /// No seed answered; the node tries again at the given backoff.
    JoinRetry {
        /// Which attempt failed (1 for the first).
        attempt: u32,
    },
    /// The local leave has been gossiped as often as any update is: the
    /// driver may stop now.
    LeaveCompleted,
}
