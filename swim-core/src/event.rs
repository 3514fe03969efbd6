//! What goes into the state machine and what comes out of it.
//!
//! Every enum here is `#[non_exhaustive]`: new inputs, outputs and events
//! (key/value state, sealed frames, user events) are added without breaking
//! drivers, which keep a catch-all arm.

use crate::member::Member;
use crate::name::Name;
use bytes::Bytes;
use std::net::SocketAddr;

/// Identifies one stream (a conversation of frames with one peer).
///
/// Streams come from two sides, and their ids from two disjoint spaces: the
/// node numbers the streams it opens ([`Output::StreamOpen`]), the driver the
/// streams a peer opened to this node, with [`StreamId::accepted`]. A driver
/// only ever creates accepted ids; it echoes the node's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(u64);

impl StreamId {
    /// Marks ids of streams a peer opened (the top bit).
    const ACCEPTED: u64 = 1 << 63;

    /// The id of the `n`th stream a peer opened to this node; the driver
    /// picks `n` (a counter will do; only the low 63 bits are used).
    pub const fn accepted(n: u64) -> StreamId {
        StreamId(n | Self::ACCEPTED)
    }

    /// The id of the `n`th stream this node opened (the node makes these;
    /// drivers and tests only need it to name a stream the node never opened).
    pub const fn opened(n: u64) -> StreamId {
        StreamId(n & !Self::ACCEPTED)
    }

    /// Whether a peer opened this stream.
    pub const fn is_accepted(self) -> bool {
        self.0 & Self::ACCEPTED != 0
    }

    /// The id as a number (for logs and traces).
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

/// Something that happened outside the node, fed to [`Node::step`](crate::Node::step).
///
/// ```
/// use swim_core::{Bytes, Input, StreamId};
///
/// let from = "10.0.0.2:7946".parse().unwrap();
/// let datagram = Input::Datagram { from, bytes: Bytes::from_static(b"...") };
/// // A peer opened a stream and sent a frame: the driver names the stream.
/// let frame = Input::StreamFrame { id: StreamId::accepted(1), from, bytes: Bytes::new() };
/// # let _ = (datagram, frame);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Input {
    /// A datagram arrived from `from`.
    Datagram {
        /// The transport address it came from (acks go back there).
        from: SocketAddr,
        /// Its payload, exactly as received.
        bytes: Bytes,
    },
    /// A frame arrived on a stream: the reply on a stream this node opened,
    /// or a frame on a stream a peer opened (its first frame starts the
    /// conversation; give such a stream a fresh [`StreamId::accepted`]).
    StreamFrame {
        /// The stream.
        id: StreamId,
        /// The peer's address.
        from: SocketAddr,
        /// The frame's payload (without the driver's length prefix).
        bytes: Bytes,
    },
    /// A stream ended that the node had not closed: the peer closed it, or
    /// it failed (refused, reset, timed out waiting for a frame, a frame over
    /// the size limit). Reported once per stream; never after the node's own
    /// [`Output::StreamClose`].
    StreamClosed {
        /// The stream.
        id: StreamId,
    },
    /// Nothing arrived: time passed. Call it at [`Node::poll_timeout`](crate::Node::poll_timeout).
    Tick,
}

/// Something the driver must do, or tell the application.
///
/// A driver carries out every output in order; a stream's frames are written
/// in the order they come.
///
/// ```
/// use swim_core::Output;
///
/// fn carry_out(out: Output) {
///     match out {
///         Output::Datagram { to, bytes } => { /* send `bytes` to `to` over UDP */ }
///         Output::StreamOpen { id, to } => { /* connect to `to`, remember the stream as `id` */ }
///         Output::StreamFrame { id, bytes } => { /* write one length-prefixed frame on `id` */ }
///         Output::StreamClose { id } => { /* finish writing `id`, then close it */ }
///         Output::Event(e) => println!("{e:?}"),
///         _ => { /* outputs added by later versions */ }
///     }
/// }
/// # carry_out(Output::StreamClose { id: swim_core::StreamId::opened(1) });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Send one datagram (never larger than `max_packet_size`).
    Datagram {
        /// Destination.
        to: SocketAddr,
        /// Payload.
        bytes: Bytes,
    },
    /// Open a stream to `to`. Its frames follow as [`Output::StreamFrame`];
    /// what the peer sends back comes in as [`Input::StreamFrame`], and a
    /// failure as [`Input::StreamClosed`].
    StreamOpen {
        /// The node's id for the stream.
        id: StreamId,
        /// Destination.
        to: SocketAddr,
    },
    /// Write one frame on stream `id` (at most `max_stream_frame` bytes).
    StreamFrame {
        /// The stream.
        id: StreamId,
        /// The frame.
        bytes: Bytes,
    },
    /// Close stream `id` once its frames are written: the node reads nothing
    /// more from it, and no [`Input::StreamClosed`] is due for it.
    StreamClose {
        /// The stream.
        id: StreamId,
    },
    /// Tell the application.
    Event(Event),
}

/// A change the application may want to act on.
///
/// ```
/// use swim_core::Event;
///
/// fn on_event(e: &Event) {
///     match e {
///         Event::MemberFailed { member, accuser, .. } => {
///             println!("{} failed (declared by {accuser})", member.name)
///         }
///         e => {
///             if let Some(name) = e.member() {
///                 println!("{name}: {e:?}");
///             }
///         }
///     }
/// }
/// # on_event(&Event::LeaveCompleted);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A member was learned (or came back after being dead or left).
    MemberJoined {
        /// The member.
        member: Member,
        /// Its keys `(key, value, version)` in key order, when this node
        /// learned them together with the member (from a join or repair);
        /// no [`Event::KeySet`] follows for these. Keys learned later come
        /// as `KeySet` events.
        keys: Vec<(String, Bytes, u64)>,
    },
    /// A member changed its address or metadata.
    MemberUpdated(Member),
    /// A member failed a probe and is suspected.
    MemberSuspect {
        /// The member.
        member: Member,
        /// Who suspected it first (this node, or the member whose
        /// suspicion reached it by gossip).
        accuser: Name,
    },
    /// A suspect member refuted the suspicion: alive again.
    MemberRecovered(Member),
    /// A suspicion timed out: the member is dead.
    MemberFailed {
        /// The member.
        member: Member,
        /// Who declared it dead: the member whose suspicion timer ran out
        /// (this node's name when it was this node).
        accuser: Name,
        /// The verdict as this node took it: its evidence, and when and
        /// from whom this node learned it (also kept, until the member is
        /// reaped: see [`Node::verdict`](crate::Node::verdict)).
        verdict: Box<crate::Verdict>,
    },
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
    /// A seed refused our join: our name is taken by a running member at
    /// `holder` (a second process started under the seed's own name). The attempt fails as if the seed had not answered (the
    /// join retries per [`Config::join_attempts`](crate::Config::join_attempts));
    /// a driver should tell the operator to pick another name.
    JoinRefused {
        /// The seed that refused.
        seed: SocketAddr,
        /// The address of the member holding the name.
        holder: SocketAddr,
        /// The refusal came sealed under one of our keys (else anyone on
        /// the path could have forged it: report it, act on nothing).
        authenticated: bool,
    },
    /// This node refused a join under a taken name (its own).
    JoinRefusedHere {
        /// Where the join came from.
        from: SocketAddr,
        /// The name it used.
        name: Name,
        /// The address of the member holding the name.
        holder: SocketAddr,
    },
    /// The local leave has been gossiped as often as any update is: the
    /// driver may stop now.
    LeaveCompleted,
    /// A join gave up: no seed answered in `attempts` attempts
    /// ([`Config::join_attempts`](crate::Config::join_attempts)). The node
    /// retries no more; [`Node::join`](crate::Node::join) starts again.
    JoinFailed {
        /// The attempts made, all of which failed.
        attempts: u32,
    },
    /// A member set one of its keys (as this node learned it).
    KeySet {
        /// The owner.
        member: Name,
        /// The key.
        key: String,
        /// The value this node held before, if any.
        old: Option<Bytes>,
        /// The new value.
        value: Bytes,
        /// The owner's version of the write.
        version: u64,
    },
    /// A member deleted one of its keys.
    KeyDeleted {
        /// The owner.
        member: Name,
        /// The key.
        key: String,
        /// The value this node held before.
        old: Option<Bytes>,
        /// The owner's version of the delete.
        version: u64,
    },
    /// A member restarted (a new life): every key it had is gone.
    NamespaceReset {
        /// The member.
        member: Name,
    },
    /// This node was accused (suspected, declared dead) at the highest
    /// incarnation there is, which it cannot outbid: the accusation stands
    /// until the node restarts. Only a key holder can send that; see the
    /// security notes.
    CannotRefute {
        /// The accusation's incarnation.
        incarnation: u64,
    },
    /// Another live process uses this node's name: it kept outbidding this
    /// node's incarnation with a life of its own. This node stops
    /// outbidding it (the two would flap for ever), so the cluster follows
    /// the other process; the application should stop one of them.
    NameConflict {
        /// Where the other process is.
        addr: std::net::SocketAddr,
    },
    /// A member's answer to a key operation this node started
    /// ([`Node::keyring_op`](crate::Node::keyring_op)), this node's own included.
    KeyAnswer {
        /// The query's id.
        query: u64,
        /// Who answered.
        member: Name,
        /// The keys it holds now, the primary first.
        keys: Vec<crate::SecretKeyId>,
        /// Why it refused the operation (`None`: done).
        refused: Option<String>,
        /// Its step of turning sealing on after the operation (`None`: a
        /// build that does not say).
        sealing: Option<crate::Sealing>,
    },
    /// A user event (Serf's `serf event`), delivered once: fired here
    /// ([`Node::event`](crate::Node::event)) or heard from the cluster.
    /// Anyone who can reach the cluster (on a plain cluster, anyone on the
    /// network; on a sealed one, a key holder) can fire one: treat the
    /// payload as untrusted.
    User {
        /// The member that fired it.
        origin: Name,
        /// Its name.
        name: String,
        /// Its payload.
        payload: Bytes,
        /// The cluster's event clock when it was fired: events of one
        /// origin come in this order; across origins it orders causally.
        clock: u64,
        /// A handler that coalesces events delivers only the newest of a
        /// burst with this name (see [`Coalescer`](crate::Coalescer)).
        coalesce: bool,
    },
    /// A user query ([`Node::query`](crate::Node::query)) asks this
    /// member: answer with [`Node::respond`](crate::Node::respond) before
    /// `timeout` runs out (an ack, if the origin asked for acks, went
    /// already). Anyone who can reach the cluster can ask (on a plain
    /// cluster, anyone on the network): treat the payload as untrusted.
    Query {
        /// The member that asked.
        origin: Name,
        /// The query's id (with `origin`, what [`Node::respond`](crate::Node::respond) names).
        id: u64,
        /// Its name.
        name: String,
        /// Its payload.
        payload: Bytes,
        /// How long its origin waits for answers, from when it started.
        timeout: core::time::Duration,
    },
    /// A member acked a user query of this node (each member once).
    QueryAck {
        /// The query's id.
        query: u64,
        /// Who acked.
        member: Name,
    },
    /// A member's response to a user query of this node (each member once).
    QueryResponse {
        /// The query's id.
        query: u64,
        /// Who responded.
        member: Name,
        /// Its response.
        payload: Bytes,
    },
    /// Query `query` of this node stopped waiting: `answers` members
    /// answered (responded, for a user query; this node included).
    QueryDone {
        /// The query's id.
        query: u64,
        /// How many members answered.
        answers: usize,
        /// How many acked (a user query that asked for acks; else 0).
        acks: usize,
        /// How many members were asked: those live when it started (and,
        /// for a user query, matching its filter), this node included.
        asked: usize,
        /// Who of those asked neither answered nor acked, in name order.
        missing: Vec<Name>,
    },
    /// This node's keyring changed (a key operation was carried out here):
    /// a driver that keeps the keys in a file writes them now.
    KeyringChanged,
    /// A cluster sealing operation ([`KeyringOp::Sealing`](crate::KeyringOp::Sealing))
    /// moved this node to another step of turning sealing on. Only in
    /// memory: a restarted node starts at the step its config says.
    SealingChanged {
        /// The step before.
        from: crate::Sealing,
        /// The step now.
        to: crate::Sealing,
    },
}

impl Event {
    /// The member this event is about, as the node saw it then, if the event
    /// is about one.
    pub fn about(&self) -> Option<&Member> {
        match self {
            Event::MemberJoined { member: m, .. }
            | Event::MemberSuspect { member: m, .. }
            | Event::MemberFailed { member: m, .. }
            | Event::MemberUpdated(m)
            | Event::MemberRecovered(m)
            | Event::MemberLeft(m)
            | Event::MemberReaped(m) => Some(m),
            _ => None,
        }
    }

    /// The name of the member this event is about, if it is about one.
    pub fn member(&self) -> Option<&Name> {
        match self {
            Event::KeySet { member, .. }
            | Event::KeyDeleted { member, .. }
            | Event::NamespaceReset { member } => Some(member),
            e => e.about().map(|m| &m.name),
        }
    }
}
