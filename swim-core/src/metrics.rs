//! Counters a node keeps about its own traffic and protocol activity.

use crate::wire::DropReason;

/// Packets and bytes of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Traffic {
    /// Datagrams or stream frames.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Traffic by the kind of its first message (a compound packet counts once).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ByKind {
    /// Packets led by a ping.
    pub ping: Traffic,
    /// Packets led by an ack.
    pub ack: Traffic,
    /// Packets led by a nack.
    pub nack: Traffic,
    /// Packets led by a ping-req.
    pub ping_req: Traffic,
    /// Packets that carry only piggybacked updates (gossip rounds).
    pub gossip: Traffic,
    /// Push-pull frames.
    pub push_pull: Traffic,
}

impl ByKind {
    /// All kinds together.
    pub fn total(&self) -> Traffic {
        let all = [
            self.ping,
            self.ack,
            self.nack,
            self.ping_req,
            self.gossip,
            self.push_pull,
        ];
        all.iter().fold(Traffic::default(), |a, t| Traffic {
            packets: a.packets + t.packets,
            bytes: a.bytes + t.bytes,
        })
    }

    /// Counts one packet of `kind` and `len` bytes.
    pub(crate) fn count(&mut self, kind: Kind, len: usize) {
        let t = match kind {
            Kind::Ping => &mut self.ping,
            Kind::Ack => &mut self.ack,
            Kind::Nack => &mut self.nack,
            Kind::PingReq => &mut self.ping_req,
            Kind::Gossip => &mut self.gossip,
            Kind::PushPull => &mut self.push_pull,
        };
        t.packets += 1;
        t.bytes += len as u64;
    }
}

/// Which counter of [`ByKind`] a packet goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Ping,
    Ack,
    Nack,
    PingReq,
    Gossip,
    PushPull,
}

/// Remote input dropped, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dropped {
    /// Larger than the limit.
    pub oversized: u64,
    /// Not decodable.
    pub malformed: u64,
    /// Another protocol version.
    pub version: u64,
    /// Another cluster label.
    pub cluster: u64,
    /// A field out of range.
    pub invalid: u64,
    /// Claimed to come from this node.
    pub from_self: u64,
    /// A ping for another member.
    pub wrong_target: u64,
    /// An ack, nack or stream reply nobody asked for.
    pub unsolicited: u64,
    /// Too many indirect probes in flight.
    pub busy: u64,
    /// Incarnations or key versions implausibly far ahead (updates ignored).
    pub implausible: u64,
    /// Not sealed under an installed key (or plain where sealing is required).
    pub auth: u64,
    /// A ping-req for a member this node does not know: a relay pings only
    /// members it knows, at the address it holds.
    pub unknown_target: u64,
}

impl Dropped {
    pub(crate) fn count(&mut self, reason: DropReason) {
        let c = match reason {
            DropReason::Oversized => &mut self.oversized,
            DropReason::Malformed => &mut self.malformed,
            DropReason::Version => &mut self.version,
            DropReason::Cluster => &mut self.cluster,
            DropReason::Invalid => &mut self.invalid,
            DropReason::FromSelf => &mut self.from_self,
            DropReason::WrongTarget => &mut self.wrong_target,
            DropReason::Unsolicited => &mut self.unsolicited,
            DropReason::Busy => &mut self.busy,
            DropReason::Implausible => &mut self.implausible,
            DropReason::Auth => &mut self.auth,
            DropReason::UnknownTarget => &mut self.unknown_target,
        };
        *c += 1;
    }

    /// Everything dropped.
    pub fn total(&self) -> u64 {
        self.oversized
            + self.malformed
            + self.version
            + self.cluster
            + self.invalid
            + self.from_self
            + self.wrong_target
            + self.unsolicited
            + self.busy
            + self.implausible
            + self.auth
            + self.unknown_target
    }

    /// Dropped because the bytes themselves were bad (not merely late or unexpected).
    pub fn decode_failures(&self) -> u64 {
        self.oversized + self.malformed + self.version + self.cluster + self.invalid + self.auth
    }
}

/// Upper bounds, in microseconds, of the buckets of [`RoundTrips`]; one
/// more bucket holds what is above them all.
pub const ROUND_TRIP_BUCKETS_US: [u64; 12] = [
    250, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
];

/// Probe round trips (from a probe's ping to its first ack, direct or
/// through a relay), counted in fixed buckets from the times the node is
/// given (it reads no clock).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoundTrips {
    /// How many fell in each bucket of [`ROUND_TRIP_BUCKETS_US`] (at most
    /// that bound, above the one before), then how many above the last.
    pub buckets: [u64; ROUND_TRIP_BUCKETS_US.len() + 1],
    /// Their sum, in microseconds.
    pub sum_us: u64,
    /// How many.
    pub count: u64,
}

impl RoundTrips {
    pub(crate) fn observe(&mut self, rtt: core::time::Duration) {
        let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        let i = ROUND_TRIP_BUCKETS_US.partition_point(|&b| b < us);
        self.buckets[i] += 1;
        self.sum_us = self.sum_us.saturating_add(us);
        self.count += 1;
    }
}

/// Everything a node counts. Read it with [`Node::metrics`](crate::Node::metrics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Traffic sent.
    pub sent: ByKind,
    /// Traffic received and accepted.
    pub received: ByKind,
    /// Membership updates piggybacked on sent packets.
    pub updates_sent: u64,
    /// Membership updates received.
    pub updates_received: u64,
    /// Remote input dropped.
    pub dropped: Dropped,
    /// Probes started.
    pub probes: u64,
    /// Probes that needed ping-reqs.
    pub indirect_probes: u64,
    /// Direct pings sent again to a probe's target (see
    /// [`Config::probe_retries`](crate::Config)).
    pub probe_retries: u64,
    /// Probes that got no ack at all.
    pub probe_failures: u64,
    /// Members this node started to suspect.
    pub suspicions: u64,
    /// Suspicions (or death notices) of itself this node refuted.
    pub refutations: u64,
    /// Members this node declared dead.
    pub deaths: u64,
    /// Push-pull exchanges completed (either side).
    pub push_pulls: u64,
    /// Push-pull exchanges this node opened that failed.
    pub push_pull_failures: u64,
    /// Joins this node refused because the joiner used a taken name.
    pub joins_refused: u64,
    /// Writes to this node's own keys (sets and deletes).
    pub keys_written: u64,
    /// Key writes piggybacked on sent packets.
    pub deltas_sent: u64,
    /// Key writes heard by gossip that changed this node's copy.
    pub deltas_applied: u64,
    /// Owners' namespaces repaired from a peer (deltas merged), whatever
    /// exchange brought them (formerly `repairs`).
    pub namespaces_repaired: u64,
    /// Of those, repairs that replaced the namespace (a reset).
    pub resets: u64,
    /// Repair exchanges: those opened because a peer's summary kept
    /// differing from ours (formerly `summary_repairs`).
    pub repair_exchanges: u64,
    /// Other live processes found using this node's name.
    pub conflicts: u64,
    /// Accusations of this node at an incarnation it could not outbid.
    pub unrefutable: u64,
    /// Answers to our user queries naming a member they did not ask
    /// (forged, or a member that joined since): not counted.
    pub answers_unasked: u64,
    /// Members told that a peer's full state holds them alive at their
    /// incarnation in another life (they outbid it).
    pub lives_differ: u64,
    /// Probe round trips.
    pub probe_rtt: RoundTrips,
    /// Members that came back while flapping and were held out (see
    /// [`Config::flap_half_life`](crate::Config::flap_half_life)).
    pub held: u64,
    /// News of members this node did not know, ignored: the table held
    /// `max_members`, or a stream frame it did not ask for named more new
    /// members than one may add.
    pub members_refused: u64,
    /// Of `members_refused`: news of new members beyond what one source
    /// (an IPv4 address, an IPv6 /64) may add per interval.
    pub members_capped: u64,
    /// Alive news of members this node did not know, heard from someone
    /// other than the member itself (hearsay): held as candidates and
    /// checked with a ping before anything else (see
    /// [`Node`](crate::Node)'s type doc, "Verify before vouching").
    pub candidates: u64,
    /// Candidates that answered (or were vouched for by a relay's ack)
    /// and joined the table.
    pub candidates_verified: u64,
    /// Candidates that never answered: forgotten without a word (no
    /// suspicion, no death, no tombstone).
    pub candidates_forgotten: u64,
    /// Candidates forgotten before their check ended, to make room for
    /// newer ones (the set holds at most 256).
    pub candidates_evicted: u64,
    /// News of unknown members not checked (not counted in `candidates`):
    /// this node had started as many checks as it may (256 at once, then
    /// 64 per probe interval). In a join wave, the members it names come
    /// in the full state of an exchange with a known member instead.
    pub candidates_refused: u64,
    /// Candidates whose ping was not sent: it would have drawn more bytes
    /// than the news that named them paid for (twice its size), or it
    /// would have gone to this node's own address.
    pub candidates_unpinged: u64,
    /// Replies withheld or sent without piggybacked gossip because they
    /// would have drawn more bytes to a source than its share (twice what
    /// it sent, for a source that is not a member at its own address).
    pub replies_capped: u64,
    /// Queries ignored as older than the query clock this node learned (a
    /// replay, or a query from before this node joined), stamped at or
    /// before an operation of its origin this node forgot (a replay), or
    /// heard before it learned the clock at all.
    pub queries_stale: u64,
    /// Queries carried out but not answered: their origin is not a member
    /// this node knows (answers go only to an origin's membership address).
    pub queries_unanswered: u64,
    /// Queries carried out but not passed on: their origin had as many
    /// waiting as this node keeps, or all origins together did and none
    /// waiting was of a made-up origin a member's query could evict.
    pub queries_refused: u64,
    /// User events delivered to the application (fired here or heard),
    /// each once.
    pub events_delivered: u64,
    /// User events ignored as stamped before this node's floor: fired
    /// before it joined, or forgotten here to make room (see
    /// [`crate::user_event`]).
    pub events_old: u64,
    /// User events delivered but not passed on: their origin had as many
    /// waiting to spread as this node keeps, or all origins together did.
    pub events_refused: u64,
    /// Key writes and repair deltas about other members refused, by reason.
    pub keys_refused: KeysRefused,
    /// Claims about this node's own namespace that it did not write (a
    /// forged write, digest or reset, or a restart that reused a life)
    /// heard: each one is answered by moving the namespace to a new life.
    pub claims: u64,
    /// Times this node moved its namespace to a new life, answering claims
    /// (at most one per probe interval).
    pub namespace_moves: u64,
    /// Times a peer's digest showed another member's namespace at our
    /// life and watermarks with other entries (one of us took a forged
    /// write): the owner is asked to look (a repair with it).
    pub keys_disputed: u64,
}

impl Metrics {
    /// The old name of [`Metrics::namespaces_repaired`].
    #[deprecated(note = "renamed to the field `namespaces_repaired`")]
    pub fn repairs(&self) -> u64 {
        self.namespaces_repaired
    }

    /// The old name of [`Metrics::repair_exchanges`].
    #[deprecated(note = "renamed to the field `repair_exchanges`")]
    pub fn summary_repairs(&self) -> u64 {
        self.repair_exchanges
    }
}

/// Key writes and repair deltas refused, by reason: nothing refused
/// changed any state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeysRefused {
    /// About a member this node does not know, or whose life membership
    /// has not told it yet (a key write never teaches a life).
    pub unknown_life: u64,
    /// Of another life than the one membership says (an old process's
    /// write, or a forged life).
    pub other_life: u64,
    /// A version more than 2^32 above the one held.
    pub implausible: u64,
    /// More keys or bytes than an owner may hold
    /// ([`MAX_KEYS`](crate::MAX_KEYS), [`MAX_NAMESPACE_BYTES`](crate::MAX_NAMESPACE_BYTES)).
    pub limits: u64,
    /// Something no owner could have sent: a reset moving a watermark back
    /// or dropping a key above the GC watermark, a key or an owner twice.
    pub inconsistent: u64,
    /// Beyond [`Config::max_replica_bytes`](crate::Config::max_replica_bytes).
    pub budget: u64,
    /// Repair deltas in a frame that may not carry them: the first frame
    /// of a stream a peer opened, or the reply to an exchange a stranger's
    /// packet started.
    pub unasked: u64,
}

impl KeysRefused {
    pub(crate) fn count(&mut self, r: crate::replicas::Refused) {
        use crate::namespace::Refusal;
        use crate::replicas::Refused;
        let c = match r {
            Refused::UnknownLife => &mut self.unknown_life,
            Refused::OtherLife => &mut self.other_life,
            Refused::Budget => &mut self.budget,
            Refused::Namespace(Refusal::Implausible) => &mut self.implausible,
            Refused::Namespace(Refusal::Limits) => &mut self.limits,
            Refused::Namespace(Refusal::Inconsistent) => &mut self.inconsistent,
        };
        *c += 1;
    }

    /// Everything refused.
    pub fn total(&self) -> u64 {
        self.unknown_life
            + self.other_life
            + self.implausible
            + self.limits
            + self.inconsistent
            + self.budget
            + self.unasked
    }
}
