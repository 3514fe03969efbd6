//! Safety invariants, checked after every event of a run.
//!
//! - a node never sees itself dead (or suspect, or left while it is not leaving);
//! - the incarnation a node holds for a member never goes backwards;
//! - no member is reported alive at the incarnation it was reported left at;
//! - with no faults and no loss, nobody is suspected.
//!
//! A violation stops the run; the report carries it with the seed and the
//! command that reproduces it.

use std::collections::BTreeMap;
use swim_core::{Bytes, Event, Member, Node, Status};

/// The first broken invariant of a run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// Simulated time.
    pub at_ms: u64,
    /// The node that saw it.
    pub node: usize,
    /// What was broken.
    pub what: String,
}

/// Per (viewer, member): the last incarnation and status seen, packed as
/// `incarnation << 2 | status` (incarnations saturate at 2^30).
///
/// For keys: per viewer, the highest version seen of each (owner, key), set
/// or deleted, which must never go back (a key that comes back below its
/// delete is a resurrection); and every value seen must be one its owner
/// wrote at that version.
#[derive(Debug, Default)]
pub struct Checker {
    seen: Vec<Vec<u32>>,
    keys: Vec<BTreeMap<(usize, String), u64>>,
    written: BTreeMap<(usize, u64), Vec<Option<Bytes>>>,
    /// Each node's life when last checked: a node that moves its namespace
    /// to a new life (answering a forged claim) writes its keys again at
    /// new versions without an event, and they are recorded as written.
    lives: Vec<u64>,
    /// Whether "nobody is suspected" applies (no faults, no loss).
    pub quiet_network: bool,
    /// With a hostile member, forged values and resurrections are measured
    /// here instead of stopping the run.
    pub(crate) forgeries: Option<crate::hostile::Forgeries>,
    /// The time of the event being checked (ms), for `forgeries`.
    pub(crate) now_ms: u64,
}

fn pack(m: &Member) -> u32 {
    let status = match m.status {
        Status::Alive => 0,
        Status::Suspect => 1,
        Status::Dead => 2,
        Status::Left => 3,
    };
    ((m.incarnation.min((1 << 30) - 1) as u32) << 2) | status
}

impl Checker {
    /// A checker for `nodes` nodes.
    pub fn new(nodes: usize, quiet_network: bool) -> Self {
        Checker {
            seen: vec![Vec::new(); nodes],
            keys: vec![BTreeMap::new(); nodes],
            written: BTreeMap::new(),
            lives: vec![0; nodes],
            quiet_network,
            forgeries: None,
            now_ms: 0,
        }
    }

    /// Node `v` restarted: what its previous process saw is gone.
    pub fn restarted(&mut self, v: usize) {
        self.seen[v].clear();
        if let Some(l) = self.lives.get_mut(v) {
            *l = 0;
        }
        self.keys[v].clear();
        if let Some(f) = self.forgeries.as_mut() {
            f.ended(v, None, None, self.now_ms);
            f.forget_reader(v);
            f.forget_owner(v);
        }
    }

    /// Node `v`'s process stopped (crashed, or left the cluster): it reads
    /// nothing any more, so a forged value it held stops counting, and it
    /// writes nothing any more, so neither does one of its keys.
    pub fn stopped(&mut self, v: usize) {
        if let Some(f) = self.forgeries.as_mut() {
            f.ended(v, None, None, self.now_ms);
            f.owner_stopped(v, self.now_ms);
        }
    }

    /// Whether reader `v` was shown owner `m`'s `key` at `version` or newer.
    pub(crate) fn was_shown(&self, v: usize, m: usize, key: &str, version: u64) -> bool {
        (self.forgeries.as_ref()).is_some_and(|f| f.was_shown(v, m, key, version))
    }

    /// Whether owner `m` wrote `value` (`None`: a delete) at `version`.
    pub(crate) fn genuine(&self, m: usize, version: u64, value: &Option<Bytes>) -> bool {
        (self.written.get(&(m, version))).is_some_and(|w| w.contains(value))
    }

    /// Checks node `v`'s own state after it handled an input.
    pub fn after_step(&mut self, v: usize, node: &Node) -> Result<(), String> {
        let life = node.life();
        if let Some(held) = self.lives.get_mut(v).filter(|l| **l != life) {
            let moved = *held != 0;
            *held = life;
            if moved {
                for (_, value, version) in node.keys(&node.local().name, "") {
                    self.written
                        .entry((v, version))
                        .or_default()
                        .push(Some(value));
                }
            }
        }
        let local = node.local();
        match local.status {
            Status::Alive => Ok(()),
            Status::Left if node.is_leaving() => Ok(()),
            s => Err(format!(
                "node-{v} sees itself {s} at incarnation {}",
                local.incarnation
            )),
        }
    }

    /// Checks one event node `v` emitted about member `m`.
    pub fn on_event(&mut self, v: usize, m: usize, event: &Event) -> Result<(), String> {
        let (key, value, version) = match event {
            Event::KeySet {
                key,
                value,
                version,
                ..
            } => (key, Some(value.clone()), *version),
            Event::KeyDeleted { key, version, .. } => (key, None, *version),
            Event::NamespaceReset { .. } | Event::MemberReaped(_) => {
                self.keys[v].retain(|(owner, _), _| *owner != m);
                if let Some(f) = self.forgeries.as_mut() {
                    f.ended(v, Some(m), None, self.now_ms);
                }
                if let Event::MemberReaped(_) = event {
                    // A reaped member may come back at any incarnation.
                    if let Some(slot) = self.seen[v].get_mut(m) {
                        *slot = 0;
                    }
                }
                return Ok(());
            }
            _ => return self.on_member_event(v, m, event),
        };
        if v == m {
            self.written
                .entry((m, version))
                .or_default()
                .push(value.clone());
        } else if self.forgeries.is_some() {
            return self.measure(v, m, key, value, version);
        } else if value.is_some()
            && !self
                .written
                .get(&(m, version))
                .is_some_and(|w| w.contains(&value))
        {
            return Err(format!(
                "node-{v} holds {key} of node-{m} at version {version} as {value:?}, which node-{m} never wrote"
            ));
        }
        let held = self.keys[v].entry((m, key.clone())).or_insert(0);
        if version < *held {
            return Err(format!(
                "node-{v} moved {key} of node-{m} back from version {held} to {version} ({})",
                if value.is_some() {
                    "a resurrection"
                } else {
                    "an old delete"
                }
            ));
        }
        *held = version;
        Ok(())
    }

    /// With a hostile member: a forged value starts (or continues) a
    /// hold, a genuine write or any delete ends it; a genuine value below
    /// a genuine version held is a resurrection.
    fn measure(
        &mut self,
        v: usize,
        m: usize,
        key: &str,
        value: Option<Bytes>,
        version: u64,
    ) -> Result<(), String> {
        let genuine = (self.written.get(&(m, version))).is_some_and(|w| w.contains(&value));
        let now = self.now_ms;
        let Some(f) = self.forgeries.as_mut() else {
            return Ok(());
        };
        if value.is_some() && !genuine {
            f.forged(v, m, key, now);
            return Ok(());
        }
        if genuine {
            f.took(m, version, now);
        }
        f.ended(v, Some(m), Some(key), now);
        if !genuine {
            return Ok(());
        }
        f.shown(v, m, key, version);
        let held = self.keys[v].entry((m, key.to_string())).or_insert(0);
        if version < *held && value.is_some() {
            f.resurrections += 1;
        }
        *held = (*held).max(version);
        Ok(())
    }

    fn on_member_event(&mut self, v: usize, m: usize, event: &Event) -> Result<(), String> {
        let Some(member) = event.about() else {
            return Ok(());
        };

        if self.quiet_network && matches!(event, Event::MemberSuspect { .. }) {
            return Err(format!(
                "node-{v} suspects {} although nothing failed",
                member.name
            ));
        }
        let row = &mut self.seen[v];
        if row.len() <= m {
            row.resize(m + 1, 0);
        }
        let (old, new) = (row[m], pack(member));
        let (old_inc, old_status) = (old >> 2, old & 3);
        if old != 0 {
            if new >> 2 < old_inc {
                return Err(format!(
                    "node-{v} moved {} back from incarnation {old_inc} to {}",
                    member.name, member.incarnation
                ));
            }
            if old_status == 3 && new & 3 == 0 && new >> 2 == old_inc {
                return Err(format!(
                    "node-{v} holds {} both left and alive at incarnation {old_inc}",
                    member.name
                ));
            }
        }
        row[m] = new;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(status: Status, incarnation: u64) -> Member {
        Member::new("node-1", ([10, 0, 0, 1], 1).into(), incarnation, status)
    }

    #[test]
    fn incarnations_never_go_backwards() {
        let mut c = Checker::new(2, false);
        c.on_event(
            0,
            1,
            &Event::MemberJoined {
                member: member(Status::Alive, 5),
                keys: vec![],
            },
        )
        .unwrap();
        c.on_event(
            0,
            1,
            &Event::MemberSuspect {
                member: member(Status::Suspect, 5),
                accuser: "node-2".into(),
            },
        )
        .unwrap();
        let err = c
            .on_event(0, 1, &Event::MemberRecovered(member(Status::Alive, 4)))
            .unwrap_err();
        assert!(err.contains("back from incarnation 5 to 4"), "{err}");
    }

    #[test]
    fn left_and_alive_at_the_same_incarnation_is_a_violation() {
        let mut c = Checker::new(2, false);
        c.on_event(0, 1, &Event::MemberLeft(member(Status::Left, 3)))
            .unwrap();
        assert!(c
            .on_event(
                0,
                1,
                &Event::MemberJoined {
                    member: member(Status::Alive, 3),
                    keys: vec![]
                }
            )
            .is_err());
        let mut c = Checker::new(2, false);
        c.on_event(0, 1, &Event::MemberLeft(member(Status::Left, 3)))
            .unwrap();
        c.on_event(
            0,
            1,
            &Event::MemberJoined {
                member: member(Status::Alive, 4),
                keys: vec![],
            },
        )
        .unwrap();
    }

    #[test]
    fn suspicion_on_a_quiet_network_is_a_violation() {
        let mut c = Checker::new(2, true);
        assert!(c
            .on_event(
                0,
                1,
                &Event::MemberSuspect {
                    member: member(Status::Suspect, 0),
                    accuser: "node-2".into()
                }
            )
            .is_err());
    }
}
