//! Applying membership updates: precedence, refutation, suspicion, death,
//! leave and reaping. Every status change of a member goes through here.

use crate::event::Event;
use crate::member::{supersedes, Member, Status, Update};
use crate::membership::Entry;
use crate::name::Name;
use crate::node::Node;
use crate::suspicion::{self, Suspicion};
use crate::timer::Deadline;

impl Node {
    /// Applies updates heard from the network (gossip, or push-pull when
    /// `full_state`), in order. The table is searched for all of them first,
    /// in one tight pass, so that the processor overlaps those cache misses
    /// instead of taking them one update at a time.
    pub(crate) fn apply_all(&mut self, updates: Vec<Update>, full_state: bool) {
        let slots: Vec<Option<u32>> = updates.iter().map(|u| self.members.slot(&u.name)).collect();
        for (u, slot) in updates.into_iter().zip(slots) {
            self.apply(u, slot, full_state);
        }
    }

    /// Applies one update; `slot` is where the table held its member when the
    /// batch was searched (checked again here: an earlier update may have
    /// added the member since). An update that does not supersede what we
    /// hold is ignored, except as a confirmation of a running suspicion.
    fn apply(&mut self, mut u: Update, slot: Option<u32>, full_state: bool) {
        if u.name == self.name {
            return self.about_self(u);
        }
        if full_state && u.status == Status::Dead {
            // A peer's full state says dead: suspect instead, so the member gets
            // a chance to refute if that peer's view is stale.
            u.status = Status::Suspect;
        }
        let slot = slot
            .filter(|&s| self.members.at(s).is_some_and(|e| e.name == u.name))
            .or_else(|| self.members.slot(&u.name));
        let Some(entry) = slot.and_then(|s| self.members.at_mut(s)) else {
            if u.status == Status::Alive {
                self.add_member(u);
            }
            return;
        };
        let (old, old_inc) = (entry.status(), entry.incarnation);
        if !supersedes(u.status, u.incarnation, old, old_inc) {
            if u.status == Status::Suspect && old == Status::Suspect && u.incarnation == old_inc {
                self.confirm_suspicion(&u);
            } else if (u.status, u.incarnation) == (old, old_inc) {
                if let Some(p) = entry.gossip.as_mut() {
                    p.heard();
                }
            }
            return;
        }
        match u.status {
            Status::Alive => self.revive(u, old),
            Status::Suspect => {
                let accuser = if u.from.is_empty() {
                    Name::EMPTY
                } else {
                    u.from.clone()
                };
                self.start_suspicion(&u.name, u.incarnation, accuser);
            }
            Status::Dead | Status::Left => self.bury(&u.name, u.status, u.incarnation, u.from),
        }
    }

    fn add_member(&mut self, u: Update) {
        let member = Member {
            name: u.name.clone(),
            addr: u.addr,
            incarnation: u.incarnation,
            status: Status::Alive,
            meta: u.meta.clone(),
        };
        let slot = self.members.insert(member.clone(), self.now, &mut self.rng);
        self.queue(slot, &u);
        self.emit(Event::MemberJoined(member));
    }

    /// A higher-incarnation alive: refutation, rejoin, or new address/metadata.
    fn revive(&mut self, u: Update, old: Status) {
        let now = self.now;
        let Some(e) = self.members.get_mut(&u.name) else {
            return;
        };
        let changed = e.addr() != u.addr || !e.meta_is(&u.meta);
        e.set_addr(u.addr);
        e.set_meta(u.meta.clone());
        e.incarnation = u.incarnation;
        e.set_suspicion(None);
        self.members.set_status(&u.name, Status::Alive, now);
        let member = self.members.get(&u.name).map(Entry::member);
        self.broadcast(&u);
        let Some(member) = member else { return };
        match old {
            Status::Suspect => self.emit(Event::MemberRecovered(member)),
            Status::Dead | Status::Left => self.emit(Event::MemberJoined(member)),
            Status::Alive if changed => self.emit(Event::MemberUpdated(member)),
            Status::Alive => {}
        }
    }

    /// Suspects `name` at `incarnation` on behalf of `accuser` (this node after a
    /// failed probe, or whoever the gossip names). Ignored if stale.
    pub(crate) fn suspect(&mut self, name: &Name, incarnation: u64, accuser: &Name) {
        let Some(e) = self.members.get(name) else {
            return;
        };
        let (status, held) = (e.status(), e.incarnation);
        if supersedes(Status::Suspect, incarnation, status, held) {
            self.start_suspicion(name, incarnation, accuser.clone());
        } else if status == Status::Suspect && incarnation == held {
            // Our own failed probe of a member already suspect: an independent confirmation.
            let mut u = Update::of(e, accuser);
            u.status = Status::Suspect;
            self.confirm_suspicion(&u);
        }
    }

    fn start_suspicion(&mut self, name: &Name, incarnation: u64, accuser: Name) {
        let now = self.now;
        let n = self.members.live();
        let c = &self.config;
        let min = suspicion::min_timeout(c.suspicion_mult, n, c.probe_interval);
        let max = min * c.suspicion_max_timeout_mult;
        // Independent confirmations Lifeguard expects before the timeout reaches min.
        let k = c.suspicion_mult.saturating_sub(2);
        let expected = if (n as u32).saturating_sub(2) < k {
            0
        } else {
            k
        };
        self.members.set_status(name, Status::Suspect, now);
        let Some(e) = self.members.get_mut(name) else {
            return;
        };
        e.incarnation = incarnation;
        let s = Suspicion::new(now, min, max, expected, accuser.clone());
        let deadline = s.deadline();
        e.set_suspicion(Some(s));
        let generation = e.generation;
        let update = Update::of(e, &accuser);
        let member = e.member();
        if accuser == self.name {
            self.metrics.suspicions += 1;
        }
        self.timers.schedule(
            deadline,
            Deadline::Suspicion {
                member: name.clone(),
                generation,
            },
        );
        self.broadcast(&update);
        self.emit(Event::MemberSuspect(member));
    }

    fn confirm_suspicion(&mut self, u: &Update) {
        if u.from.is_empty() {
            return;
        }
        let Some(e) = self.members.get_mut(&u.name) else {
            return;
        };
        let Some(s) = e.suspicion_mut() else {
            return;
        };
        if !s.confirm(&u.from) {
            return;
        }
        let (deadline, generation) = (s.deadline(), e.generation);
        self.timers.schedule(
            deadline,
            Deadline::Suspicion {
                member: u.name.clone(),
                generation,
            },
        );
        // Pass the confirmation on: others count it too.
        self.broadcast(u);
    }

    pub(crate) fn on_suspicion_timeout(&mut self, name: &Name, generation: u32) {
        let now = self.now;
        let Some(e) = self.members.get(name) else {
            return;
        };
        let due = e.suspicion().is_some_and(|s| s.deadline() <= now);
        if e.generation != generation || e.status() != Status::Suspect || !due {
            return;
        }
        let incarnation = e.incarnation;
        self.metrics.deaths += 1;
        let me = self.name.clone();
        self.bury(name, Status::Dead, incarnation, me);
    }

    /// Marks a member dead or left, gossips it, and schedules its reaping.
    fn bury(&mut self, name: &Name, status: Status, incarnation: u64, from: Name) {
        let now = self.now;
        self.members.set_status(name, status, now);
        let Some(e) = self.members.get_mut(name) else {
            return;
        };
        e.incarnation = incarnation;
        e.set_suspicion(None);
        let generation = e.generation;
        let update = Update::of(e, &from);
        let member = e.member();
        self.timers.schedule(
            now + self.config.reap_after,
            Deadline::Reap {
                member: name.clone(),
                generation,
            },
        );
        self.broadcast(&update);
        self.emit(match status {
            Status::Left => Event::MemberLeft(member),
            _ => Event::MemberFailed(member),
        });
    }

    pub(crate) fn on_reap(&mut self, name: &Name, generation: u32) {
        let Some(e) = self.members.get(name) else {
            return;
        };
        if e.generation != generation || e.status().is_live() {
            return;
        }
        if let Some(mut e) = self.members.remove(name) {
            self.broadcasts.forget(e.gossip.take());
            self.emit(Event::MemberReaped(e.member()));
        }
    }

    /// Someone speaks about this node. Suspicion or death at our incarnation or
    /// above is refuted with a higher incarnation; so is a stale alive or left
    /// from an earlier run under the same name. While leaving, we insist on
    /// `left` instead.
    fn about_self(&mut self, u: Update) {
        let local = self.local_entry();
        let (incarnation, status) = (local.incarnation, local.status());
        let contradicts = match u.status {
            Status::Alive => u.incarnation > incarnation,
            Status::Suspect | Status::Dead | Status::Left => {
                u.incarnation >= incarnation && u.status != status
            }
        };
        if !contradicts {
            return;
        }
        if self.leaving {
            self.announce_self(Status::Left, u.incarnation.max(incarnation));
            return;
        }
        self.metrics.refutations += 1;
        if u.status != Status::Alive {
            // Being suspected is a hint that we are the slow one (Lifeguard).
            self.awareness.apply(1);
        }
        self.announce_self(Status::Alive, u.incarnation.max(incarnation) + 1);
    }
}
