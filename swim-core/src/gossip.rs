//! Dissemination: filling every datagram with queued updates after its
//! protocol messages, and choosing the members of a gossip round.

use crate::codec::{Msg, PacketWriter};
use crate::config::Config;
use crate::member_table::MemberTable;
use crate::metrics::Kind;
use crate::name::Name;
use crate::piggyback::retransmit_limit;
use crate::query::Queries;
use crate::replicas::Replicas;
use crate::time::Instant;
use crate::user_event::UserEvents;
use crate::util::Random;
use crate::view::View;
use crate::wire;
use bytes::Bytes;

/// What a datagram starts with: protocol messages, and (a probe of a
/// member held suspect) that suspicion, ahead of everything queued.
#[derive(Clone, Copy, Default)]
pub(crate) struct Head<'a> {
    pub messages: &'a [Msg],
    pub buddy: Option<&'a crate::member::Update>,
}

/// What spreads after the membership updates, in this order while there
/// is room: key operations, key writes, user queries, user events.
pub(crate) struct Spreading<'a> {
    pub replicas: &'a mut Replicas,
    pub queries: &'a mut Queries,
    pub user_queries: &'a mut Queries,
    pub events: &'a mut UserEvents,
}

/// How many times more often a query is passed on than an update.
const QUERY_SPREAD: u32 = 3;

/// One datagram, ready to send.
pub(crate) struct Packet {
    pub bytes: Bytes,
    /// The kind of its first message, for the traffic counters.
    pub kind: Kind,
    /// Updates piggybacked on it.
    pub updates: usize,
    /// Key writes piggybacked on it.
    pub deltas: usize,
}

/// Builds a datagram: `messages`, then as many queued updates as fit in
/// `max` bytes. With no messages (a gossip round) there is no packet
/// unless at least one update is pending; none either when the messages
/// alone exceed `max`. `scratch` is where it is built.
pub(crate) fn packet(
    view: &mut View,
    spreading: Spreading<'_>,
    config: &Config,
    max: usize,
    head: Head<'_>,
    scratch: &mut Vec<u8>,
) -> Option<Packet> {
    let Spreading {
        replicas,
        queries,
        user_queries,
        events,
    } = spreading;
    let messages = head.messages;
    let summary = summary(view, replicas);
    let kind = messages.first().map_or(Kind::Gossip, Msg::kind);
    let live = view_size(view.members());
    let mut w = PacketWriter::new(scratch, &config.cluster, view.local(), live, summary);
    for m in messages {
        w.message(m);
    }
    if w.len() > max {
        // Not even the messages fit (a reply paid from a small credit).
        return None;
    }
    let mut buddy = 0;
    if let Some(u) = head.buddy {
        let encoded = crate::member::encode_update(u);
        let encoded = encoded.as_slice();
        if w.len() + wire::framed_len(encoded.len()) <= max {
            w.update(encoded);
            buddy = 1;
        }
    }
    let budget = max.saturating_sub(w.len());
    let (queue, members) = view.gossip_parts();
    // n counts every member held, the dead too (as memberlist does): on a
    // side of a cut that holds most of the cluster dead, a limit from the
    // few live members sent a verdict 4 times, often never reaching a
    // member of that side before its own timer ran out.
    let limit = retransmit_limit(config.retransmit_mult, members.len());
    // Membership news takes the whole packet, except a quarter while user
    // events or queries wait: a join wave of thousands keeps the queue
    // full for minutes (5,000 nodes: an event fired 40 s in reached 1 of
    // them), and they would never get room.
    let user = user_queries.pending() > 0 || events.pending() > 0;
    let for_updates = if user { budget - budget / 4 } else { budget };
    let mut used = 0;
    let updates = queue.take(members, for_updates, limit, wire::framed_len, |u| {
        used += wire::framed_len(u.len());
        w.update(u)
    });
    let mut room = budget.saturating_sub(used);
    let mut spread = 0;
    if queries.pending() > 0 {
        // A query must reach every member, and no anti-entropy repairs
        // one that was missed: it is passed on three times as often as an
        // update, so the odds of missing a member are about the cube of
        // an update's.
        spread = queries.take(room, limit * QUERY_SPREAD, wire::framed_len, |q| {
            room -= wire::framed_len(q.len());
            w.query(q)
        });
    }
    let deltas = if replicas.pending() == 0 {
        0
    } else {
        let mut used = 0;
        let n = replicas.take(room, limit, wire::framed_len, |d| {
            used += wire::framed_len(d.len());
            w.delta(d)
        });
        room = room.saturating_sub(used);
        n
    };
    // User queries and events last, in what room is left (a quarter of
    // the packet at least, see above): they never take a key operation's
    // or a key write's.
    // Passed on as often as a key operation, for the same reason (nothing
    // repairs a query missed; only full-state exchanges an event).
    if user_queries.pending() > 0 {
        spread += user_queries.take(room, limit * QUERY_SPREAD, wire::framed_len, |q| {
            room -= wire::framed_len(q.len());
            w.user_query(q)
        });
    }
    let told = if events.pending() == 0 {
        0
    } else {
        events.take(room, limit * QUERY_SPREAD, wire::framed_len, |e| w.event(e))
    };
    let updates = updates + buddy;
    if kind == Kind::Gossip && updates == 0 && deltas == 0 && spread == 0 && told == 0 {
        return None;
    }
    let bytes = w.finish();
    debug_assert!(bytes.len() <= max);
    Some(Packet {
        bytes,
        kind,
        updates,
        deltas,
    })
}

/// What a node knows, in one number (see [`crate::summary`]): its
/// members' part and its namespaces' part.
pub(crate) fn summary(view: &View, replicas: &Replicas) -> u64 {
    view.summary().wrapping_add(replicas.summary())
}

/// The size of a view as packets carry it: members alive or suspect.
pub(crate) fn view_size(members: &MemberTable) -> u32 {
    u32::try_from(members.live()).unwrap_or(u32::MAX)
}

/// The members of one gossip round: `fanout` at random, counting members
/// that died or left within `gossip_to_the_dead`, never `local`.
pub(crate) fn round(
    members: &MemberTable,
    local: &Name,
    config: &Config,
    now: Instant,
    rng: &mut Random,
) -> Vec<Name> {
    let recent = config.gossip_to_the_dead;
    members.sample(
        config.gossip_fanout,
        rng,
        |e| e.status().is_live() || now.saturating_duration_since(e.since) < recent,
        &[local],
    )
}
