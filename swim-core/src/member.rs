//! Members, their status, and the precedence of membership updates.

use crate::member_table::Entry;
use crate::name::Name;
use crate::verdict::{Evidence, MAX_CONFIRMERS};
use crate::wire::{
    accuser, addr, key, len_field, name, put_address, put_bytes, skip, varint_field, DropReason,
    Malformed, MAX_INCARNATION,
};
use core::time::Duration;
use prost::encoding::{encode_key, encode_varint, WireType};
use std::net::SocketAddr;

/// Liveness of a member, as one node sees it.
///
/// Deliberately exhaustive (unlike the core's other public enums): these
/// four are the SWIM protocol's states and its precedence rules are written
/// over exactly them; a fifth would be a new protocol version, and
/// embedders rightly match on all four.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Answering probes (or not yet suspected).
    Alive,
    /// Failed a probe; dead unless it refutes before the suspicion timeout.
    Suspect,
    /// Declared failed after a suspicion that was not refuted.
    Dead,
    /// Left the cluster gracefully.
    Left,
}

impl Status {
    /// Order among updates that carry the same incarnation.
    fn rank(self) -> u8 {
        match self {
            Status::Alive => 0,
            Status::Suspect => 1,
            Status::Dead => 2,
            Status::Left => 3,
        }
    }

    /// Alive or suspect: still a member that is probed and gossiped to.
    pub fn is_live(self) -> bool {
        matches!(self, Status::Alive | Status::Suspect)
    }

    /// The lowercase name used in reports and CLIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Alive => "alive",
            Status::Suspect => "suspect",
            Status::Dead => "dead",
            Status::Left => "left",
        }
    }
}

impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Does an update `(new, new_inc)` replace what a node holds, `(old, old_inc)`?
///
/// The SWIM precedence rules:
/// - `alive(i)` beats anything held at `j < i` (a refutation or a rejoin);
/// - `suspect(i)` beats `alive(j)` when `i >= j` and `suspect(j)` when `i > j`,
///   and never touches a dead or left member;
/// - `dead(i)` and `left(i)` beat alive or suspect at `j <= i`; at equal
///   incarnation `left` beats `dead`, so a graceful leave is never reported as
///   a failure once the leave is heard.
pub fn supersedes(new: Status, new_inc: u64, old: Status, old_inc: u64) -> bool {
    match new {
        Status::Alive => new_inc > old_inc,
        Status::Suspect if !old.is_live() => false,
        _ => (new_inc, new.rank()) > (old_inc, old.rank()),
    }
}

/// One member as a node sees it: the public, read-only view.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Member {
    /// Unique name of the member in the cluster.
    pub name: Name,
    /// Where it receives datagrams and push-pull streams.
    pub addr: SocketAddr,
    /// Its incarnation: only the member itself raises it, to refute suspicion.
    pub incarnation: u64,
    /// Its status.
    pub status: Status,
}

impl Member {
    /// A member with no metadata (nodes make members; this is for tests and
    /// tools that need one without a node).
    pub fn new(
        name: impl Into<Name>,
        addr: SocketAddr,
        incarnation: u64,
        status: Status,
    ) -> Member {
        Member {
            name: name.into(),
            addr,
            incarnation,
            status,
        }
    }
}

/// A membership update as the core handles it (decoded and validated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Update {
    pub name: Name,
    pub addr: SocketAddr,
    pub incarnation: u64,
    pub status: Status,
    /// Who declared the member suspect or dead (empty otherwise). Not the
    /// sender of the packet: gossip passes accusations on.
    pub accuser: Name,
    /// The member's life (see [`crate::namespace`]); 0 when unknown.
    pub life: u64,
    /// What the accuser saw (dead updates only; see [`crate::verdict`]).
    pub evidence: Option<Box<Evidence>>,
}

impl Update {
    /// The update that states what `member` is now, as declared by `accuser`.
    pub fn of(member: &Entry, accuser: &Name) -> Update {
        Update {
            name: member.name.clone(),
            addr: member.addr(),
            incarnation: member.incarnation,
            status: member.status(),
            accuser: accuser.clone(),
            life: member.life,
            evidence: None,
        }
    }
}

// ---------------------------------------------------------------------------
// A membership update on the wire (`swim.v1.Update`): read in place and
// validated, and written field by field exactly as prost encodes the same
// message (the tests in `codec` compare the bytes), without building the
// message first.
// ---------------------------------------------------------------------------

/// The status an update carries (`swim.v1.Status`).
pub(crate) fn status(s: i32) -> Result<Status, DropReason> {
    match s {
        0 => Ok(Status::Alive),
        1 => Ok(Status::Suspect),
        2 => Ok(Status::Dead),
        3 => Ok(Status::Left),
        _ => Err(DropReason::Invalid),
    }
}

/// The wire number of a status (`swim.v1.Status`).
pub(crate) fn wire_status(s: Status) -> u64 {
    match s {
        Status::Alive => 0,
        Status::Suspect => 1,
        Status::Dead => 2,
        Status::Left => 3,
    }
}

/// A `swim.v1.Update` as read, not yet validated.
#[derive(Default)]
pub(crate) struct RawUpdate<'a> {
    name: &'a [u8],
    addr: &'a [u8],
    incarnation: u64,
    status: i32,
    from: &'a [u8],
    life: u64,
    /// The first [`MAX_CONFIRMERS`] confirmers (further ones are skipped).
    confirmed: [&'a [u8]; MAX_CONFIRMERS],
    confirmed_len: usize,
    score: u32,
    suspected_ms: u64,
}

impl<'a> RawUpdate<'a> {
    /// Reads the fields of an update nested `depth` deep.
    pub(crate) fn read(mut r: &'a [u8], depth: u32) -> Result<Self, Malformed> {
        let mut u = RawUpdate::default();
        while !r.is_empty() {
            let (tag, wire) = key(&mut r)?;
            match tag {
                1 => u.name = len_field(wire, &mut r)?,
                2 => u.addr = len_field(wire, &mut r)?,
                3 => u.incarnation = varint_field(wire, &mut r)?,
                // An enum is an int32: the low 32 bits, as prost reads it.
                4 => u.status = varint_field(wire, &mut r)? as i32,
                6 => u.from = len_field(wire, &mut r)?,
                7 => u.life = varint_field(wire, &mut r)?,
                8 => {
                    // Read (so malformed bytes are refused as prost
                    // refuses them), kept only up to the cap.
                    let c = len_field(wire, &mut r)?;
                    if let Some(slot) = u.confirmed.get_mut(u.confirmed_len) {
                        *slot = c;
                        u.confirmed_len += 1;
                    }
                }
                // A uint32: the low 32 bits, as prost reads it.
                9 => u.score = varint_field(wire, &mut r)? as u32,
                10 => u.suspected_ms = varint_field(wire, &mut r)?,
                _ => skip(wire, tag, &mut r, depth)?,
            }
        }
        Ok(u)
    }

    /// The validated update.
    pub(crate) fn validate(&self) -> Result<Update, DropReason> {
        if self.incarnation > MAX_INCARNATION {
            return Err(DropReason::Invalid);
        }
        Ok(Update {
            name: name(self.name)?,
            addr: addr(self.addr)?,
            incarnation: self.incarnation,
            status: status(self.status)?,
            accuser: accuser(self.from)?,
            life: self.life,
            evidence: self.evidence(),
        })
    }

    /// The evidence of a dead update: none unless it says how long the
    /// suspicion ran. Evidence never makes an update invalid: a confirmer
    /// that is no valid name is left out.
    fn evidence(&self) -> Option<Box<Evidence>> {
        if self.suspected_ms == 0 || status(self.status) != Ok(Status::Dead) {
            return None;
        }
        let confirmers = self.confirmed[..self.confirmed_len]
            .iter()
            .filter_map(|c| name(c).ok());
        Some(Box::new(Evidence::new(
            confirmers,
            self.score,
            Duration::from_millis(self.suspected_ms),
        )))
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
    let status = wire_status(u.status);
    if status != 0 {
        encode_key(4, WireType::Varint, buf);
        encode_varint(status, buf);
    }
    put_bytes(6, u.accuser.as_bytes(), buf);
    if u.life != 0 {
        encode_key(7, WireType::Varint, buf);
        encode_varint(u.life, buf);
    }
    if let Some(e) = u.evidence.as_deref().filter(|_| u.status == Status::Dead) {
        for c in e.confirmers.iter().take(MAX_CONFIRMERS) {
            put_bytes(8, c.as_bytes(), buf);
        }
        if e.accuser_score != 0 {
            encode_key(9, WireType::Varint, buf);
            encode_varint(u64::from(e.accuser_score), buf);
        }
        encode_key(10, WireType::Varint, buf);
        encode_varint(e.wire_ms(), buf);
    }
}

/// The life an update carries when gossiped (see [`encode_update`]).
pub(crate) fn gossiped_life(u: &Update) -> u64 {
    if u.status == Status::Alive {
        u.life
    } else {
        0
    }
}

/// An update encoded on its own, ready to be queued for piggybacking.
///
/// Gossip carries a member's life in alive updates only (suspicions and
/// deaths are about a life already known). Every node learns a member's
/// life from membership, the alive update that introduces it or its full
/// state, and never from a key write: a write with a forged life must not
/// decide whose keys a replica takes.
pub(crate) fn encode_update(u: &Update) -> crate::piggyback::Encoded {
    let mut buf = Vec::with_capacity(64);
    if gossiped_life(u) != u.life {
        let mut short = u.clone();
        short.life = 0;
        put_update(&short, &mut buf);
    } else {
        put_update(u, &mut buf);
    }
    crate::piggyback::Encoded::new(&buf)
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    #[test]
    fn alive_needs_a_higher_incarnation() {
        for old in [Alive, Suspect, Dead, Left] {
            assert!(!supersedes(Alive, 3, old, 3), "alive(3) over {old:?}(3)");
            assert!(supersedes(Alive, 4, old, 3), "alive(4) over {old:?}(3)");
            assert!(!supersedes(Alive, 2, old, 3));
        }
    }

    #[test]
    fn suspect_beats_alive_at_equal_and_suspect_only_at_higher() {
        assert!(supersedes(Suspect, 3, Alive, 3));
        assert!(supersedes(Suspect, 4, Alive, 3));
        assert!(!supersedes(Suspect, 2, Alive, 3));
        assert!(!supersedes(Suspect, 3, Suspect, 3));
        assert!(supersedes(Suspect, 4, Suspect, 3));
        for old in [Dead, Left] {
            assert!(
                !supersedes(Suspect, 9, old, 3),
                "suspect never revives {old:?}"
            );
        }
    }

    #[test]
    fn dead_and_left_beat_live_states_at_equal_incarnation() {
        for new in [Dead, Left] {
            for old in [Alive, Suspect] {
                assert!(supersedes(new, 3, old, 3));
                assert!(!supersedes(new, 2, old, 3));
            }
        }
        assert!(!supersedes(Dead, 3, Dead, 3));
        assert!(supersedes(Dead, 4, Dead, 3));
        assert!(
            supersedes(Left, 3, Dead, 3),
            "a leave heard late still wins"
        );
        assert!(
            !supersedes(Dead, 3, Left, 3),
            "a left member is never reported dead"
        );
        assert!(!supersedes(Left, 3, Left, 3));
    }
}
