//! Counters a node keeps about its own traffic and protocol activity.

use crate::codec::DropReason;

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
    }

    /// Dropped because the bytes themselves were bad (not merely late or unexpected).
    pub fn decode_failures(&self) -> u64 {
        self.oversized + self.malformed + self.version + self.cluster + self.invalid + self.auth
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
    /// Writes to this node's own keys (sets and deletes).
    pub keys_written: u64,
    /// Key writes piggybacked on sent packets.
    pub deltas_sent: u64,
    /// Key writes heard by gossip that changed this node's copy.
    pub deltas_applied: u64,
    /// Owners' namespaces repaired from a peer (deltas merged).
    pub repairs: u64,
    /// Of those, repairs that replaced the namespace (a reset).
    pub resets: u64,
    /// Exchanges opened because a peer's summary kept differing from ours.
    pub summary_repairs: u64,
    /// Other live processes found using this node's name.
    pub conflicts: u64,
    /// Accusations of this node at an incarnation it could not outbid.
    pub unrefutable: u64,
    /// Members that came back while flapping and were held out (see
    /// [`Config::flap_half_life`](crate::Config::flap_half_life)).
    pub held: u64,
    /// News of members this node did not know, ignored: the table held
    /// `max_members`, or a stream frame it did not ask for named more new
    /// members than one may add.
    pub members_refused: u64,
}
