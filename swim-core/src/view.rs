//! The cluster as this node sees it: the membership table, the updates
//! waiting to be gossiped about it, and the rules that change it
//! (precedence, suspicion, death, leave, reaping, refutation).
//!
//! Every status change of a member goes through [`View`]. What a change
//! causes outside the view (timers, events, counters) goes through
//! [`Effects`], which the node lends for the call.

use crate::config::Config;
use crate::damping::{self, Window};
use crate::event::Event;
use crate::member::{supersedes, Member, Status, Update};
use crate::member_table::{Entry, MemberTable};
use crate::metrics::Metrics;
use crate::name::Name;
use crate::outbox::Outbox;
use crate::piggyback::{PiggybackQueue, Priority};
use crate::suspicion::{self, Suspicion};
use crate::time::Instant;
use crate::timer::{Deadline, Timers};
use crate::util::Random;
use crate::verdict::{Evidence, Verdict};
use crate::wire::{DropReason, MAX_INCARNATION, MAX_JUMP};
use foldhash::fast::FixedState;
use hashbrown::HashMap;

/// What handling an input may cause outside the part that handles it,
/// borrowed from the node for one call.
pub(crate) struct Effects<'a> {
    pub config: &'a Config,
    pub now: Instant,
    pub timers: &'a mut Timers,
    pub out: &'a mut Outbox,
    pub metrics: &'a mut Metrics,
    pub rng: &'a mut Random,
    /// This node's Lifeguard score is 0 (its own probes and nacks arrive),
    /// or it hears nobody (and has no evidence against its own links).
    pub healthy: bool,
    /// A member's packet arrived lately (see `probe::Answered`): a node
    /// that hears nobody will get no confirmation of its suspicions.
    pub hears: bool,
    /// Until when it hears if no member speaks again.
    pub hears_until: Option<Instant>,
    /// This node's Lifeguard score (stated in the evidence of its verdicts).
    pub score: u32,
}

/// Who declared a member dead or left, for [`View::bury`].
struct Said {
    /// As the update names it (this node, for its own verdicts).
    accuser: Name,
    /// What the accuser sent with it.
    evidence: Option<Box<Evidence>>,
    /// This node made it (its suspicion ran out, or it left).
    own: bool,
}

/// What applying an update did that the node acts on beyond the view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The member restarted: a new life (its old namespace goes).
    Restarted(Name, u64),
    /// A member held dead or left is alive again, at this address;
    /// `moved`: not the address it was held at (anyone can say a dead
    /// member is back at its own address).
    Revived(std::net::SocketAddr, bool),
    /// A full state holds the member alive at the incarnation we hold but
    /// in another life (an insider's replay of its earlier life, say):
    /// neither side takes the other's, and the summary, which leaves lives
    /// out, cannot see it. Only the member can settle it, by outbidding
    /// the life that is not its own: it is told, at this address, with
    /// this update (the one we do not hold).
    LivesDiffer(std::net::SocketAddr, Box<Update>),
}

/// How a node answered what it heard about itself (see [`View::about_self`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Refuted with a higher incarnation. `accused`: it was a suspicion or
    /// a death notice (a hint that we are the slow one), not a stale alive
    /// from an earlier run under our name.
    Refuted { accused: bool },
    /// Leaving: announced `left` again instead.
    StillLeaving,
    /// Another live process uses our name (it keeps outbidding us, from
    /// `addr`): refuted now and reported once; from then on it is outbid
    /// at a pace that slows from once a second to once a minute, so the
    /// two stop fighting, and a forged "second process" never keeps our
    /// name.
    Conflict { addr: std::net::SocketAddr },
    /// An incarnation implausibly far above ours: ignored.
    Implausible,
    /// Accused at an incarnation we cannot outbid (the highest there is).
    CannotRefute { incarnation: u64 },
    /// An alive about us at a higher incarnation, from this life and at our
    /// address (forged, as only we raise our incarnation): taken as ours, so
    /// that whoever holds it can still be outbid within [`MAX_JUMP`].
    Adopted,
    /// Accused at an incarnation so far below ours that the accuser cannot
    /// take our alive (more than [`MAX_JUMP`] above): we gossip an alive it
    /// can take instead (see [`View::about_self`]).
    SteppedDown { incarnation: u64 },
}

/// Whether an update about another member, at `incarnation` with `status`,
/// is within reach of the member's own word, `base` being the incarnation
/// held for it before the packet or frame that carries the update.
///
/// An alive may be at most [`MAX_JUMP`] above `base`. An accusation
/// (suspect, dead, left) must leave the member room to refute it with an
/// alive every holder of `base` takes: at most `base + MAX_JUMP - 1`, and
/// below [`MAX_INCARNATION`]. What its subject could not refute is taken by
/// nobody.
fn plausible(status: Status, incarnation: u64, base: u64) -> bool {
    let reach = base.saturating_add(MAX_JUMP);
    match status {
        // Below the last value, so that its subject can always outbid it.
        Status::Alive => incarnation <= reach && incarnation < MAX_INCARNATION,
        // Below the last but one: its subject outbids it with an alive
        // peers take (not the last).
        _ => incarnation
            .checked_add(1)
            .is_some_and(|next| next <= reach && next < MAX_INCARNATION),
    }
}

/// How many times another life may outbid us before it is a conflict (a
/// restart's old life outbids us once per stale incarnation it held).
const CONFLICT_AFTER: u32 = 3;

/// Once another life is a conflict, the least time between two
/// refutations of it.
const CONFLICT_PACE: core::time::Duration = core::time::Duration::from_secs(1);

/// The longest wait between two refutations of a conflicting process.
const CONFLICT_PACE_MAX: core::time::Duration = core::time::Duration::from_secs(60);

/// The membership table and its gossip queue, from this node's point of view.
#[derive(Debug)]
pub(crate) struct View {
    local: Name,
    members: MemberTable,
    broadcasts: PiggybackQueue,
    /// The membership part of the summary (see [`crate::summary`]).
    summary: crate::summary::Sums,
    /// The other life that last outbid us, and how many times in a row.
    outbid_by: (u64, u32),
    /// A life found to be another live process under our name: not refuted.
    conflict: Option<u64>,
    /// When we last outbid the conflicting life.
    conflict_refuted: Option<Instant>,
    /// The wait before the next refutation of the conflicting process.
    conflict_pace: core::time::Duration,
    /// When an outbid last counted towards a conflict.
    outbid_at: Option<Instant>,
    /// When a rival process under our name was last heard.
    rival_at: Option<Instant>,
    /// Liveness changes not yet taken (see [`View::take_liveness_changes`]).
    liveness: Vec<(Name, bool)>,
    /// While a packet or frame is applied (see [`begin`](Self::begin)): the
    /// incarnation each member it changed held before it (or was added at).
    before: HashMap<Name, u64, FixedState>,
    /// While a packet or frame is applied: our own incarnation before it.
    own_before: Option<u64>,
    /// While a packet or frame is applied: the member that sent it (a
    /// verdict it carries was learned from it).
    heard_from: Option<Name>,
    /// Unseen comebacks of late: a heal is not flapping.
    heals: crate::heal::Heals,
}

impl View {
    /// A view that holds only `local`, in its life `life`.
    pub fn new(local: Member, life: u64, hash_seed: u64, now: Instant, rng: &mut Random) -> View {
        let mut members = MemberTable::new(hash_seed);
        let name = local.name.clone();
        let slot = members.insert(local, now, rng);
        if let Some(e) = members.at_mut(slot) {
            e.life = life;
        }
        let mut view = View {
            local: name.clone(),
            members,
            broadcasts: PiggybackQueue::default(),
            summary: crate::summary::Sums::default(),
            outbid_by: (0, 0),
            conflict: None,
            conflict_refuted: None,
            conflict_pace: CONFLICT_PACE,
            outbid_at: None,
            rival_at: None,
            liveness: Vec::new(),
            before: HashMap::with_hasher(FixedState::with_seed(hash_seed)),
            own_before: None,
            heard_from: None,
            heals: crate::heal::Heals::default(),
        };
        view.account(0, &name);
        view
    }

    /// Starts applying the updates of one packet or frame: until
    /// [`end`](Self::end), every update about a member is bounded by what
    /// was held before it, so a chain of updates inside one packet cannot
    /// climb (alive +2^32, alive +2^33, dead +2^33). `from`: the member
    /// that sent it, when it is a member speaking from its own address (a
    /// verdict it carries is said to come from it).
    pub fn begin(&mut self, from: Option<Name>) {
        self.before.clear();
        self.own_before = Some(self.local_entry().incarnation);
        self.heard_from = from;
    }

    /// The packet or frame of [`begin`](Self::begin) is applied.
    pub fn end(&mut self) {
        self.before.clear();
        self.own_before = None;
        self.heard_from = None;
    }

    /// The membership part of the summary: a wrapping sum over live members.
    pub fn summary(&self) -> u64 {
        self.summary.total()
    }

    /// The membership part of the summary, by bucket.
    pub fn summary_buckets(&self) -> &[u64; crate::summary::BUCKETS] {
        self.summary.buckets()
    }

    /// What member `name` adds to the summary now.
    fn contribution(&self, name: &str) -> u64 {
        self.members
            .get(name)
            .filter(|e| e.status().is_live())
            .map_or(0, |e| crate::summary::member(&e.name, e.incarnation))
    }

    /// Replaces `before`, what `name` added to the summary, by what it adds now.
    fn account(&mut self, before: u64, name: &str) {
        let after = self.contribution(name);
        self.summary.replace(name, before, after);
        if (before == 0) != (after == 0) && name != &*self.local {
            self.liveness.push((Name::from(name), after != 0));
        }
    }

    /// This node's name.
    pub fn local(&self) -> &Name {
        &self.local
    }

    /// This node's own entry.
    pub fn local_entry(&self) -> &Entry {
        self.members
            .get(&self.local)
            .expect("the local member is never removed")
    }

    /// The table, to read.
    pub fn members(&self) -> &MemberTable {
        &self.members
    }

    /// The table and the queue, to pack a packet's updates.
    pub fn gossip_parts(&mut self) -> (&mut PiggybackQueue, &mut MemberTable) {
        (&mut self.broadcasts, &mut self.members)
    }

    /// The address of `name` while we hold it alive or suspect.
    pub fn live_addr_of(&self, name: &str) -> Option<std::net::SocketAddr> {
        let e = self.members.get(name)?;
        matches!(e.status(), Status::Alive | Status::Suspect).then(|| e.addr())
    }

    /// The life we hold for `name` (`Some(0)`: not known yet), as
    /// membership told it: alive updates and full states carry lives; a
    /// key write never teaches one.
    pub fn life_of(&self, name: &str) -> Option<u64> {
        self.members.get(name).map(|e| e.life)
    }

    /// Whether another live process uses our name (see [`Answer::Conflict`]):
    /// until two quiet minutes pass without hearing it.
    pub fn in_conflict(&self) -> bool {
        self.conflict.is_some()
    }

    /// Members whose liveness (up: alive or suspect; down: dead or left)
    /// changed since the last call, oldest first.
    pub fn take_liveness_changes(&mut self) -> Vec<(Name, bool)> {
        std::mem::take(&mut self.liveness)
    }

    /// Our namespace moved to a new life (an answer to a claim about it we
    /// did not make): announced in our next alive update, at a higher
    /// incarnation, which every replica takes (it outbids what they hold).
    /// False when we cannot outbid (the highest incarnation).
    pub fn renew_life(&mut self, life: u64, now: Instant) -> bool {
        let local = self.local.clone();
        let Some(next) = self
            .local_entry()
            .incarnation
            .checked_add(1)
            .filter(|&n| n <= MAX_INCARNATION)
        else {
            return false;
        };
        if let Some(e) = self.members.get_mut(&local) {
            e.life = life;
        }
        self.announce_self(Status::Alive, next, now);
        true
    }

    /// The next member to probe (round-robin over a shuffled order).
    pub fn next_probe_target(&mut self, rng: &mut Random) -> Option<Name> {
        self.members.next_probe_target(&self.local, rng)
    }

    /// Members with an update waiting to be gossiped.
    pub fn pending(&self) -> usize {
        self.broadcasts.len()
    }

    /// Whether our own latest update is still waiting to be gossiped.
    pub fn own_update_pending(&self) -> bool {
        self.members
            .get(&self.local)
            .is_some_and(|e| e.gossip.is_some())
    }

    /// Where the table holds each update's member now, into `slots` (one
    /// tight pass, so that the processor overlaps the cache misses of a
    /// whole batch).
    pub fn lookup(&self, updates: &[Update], slots: &mut [Option<u32>]) {
        for (slot, u) in slots.iter_mut().zip(updates) {
            *slot = self.members.slot(&u.name);
        }
    }

    /// Queues `update` about the member in `slot` for piggybacking. Updates
    /// about this node are always news.
    fn queue(&mut self, slot: u32, update: &Update, priority: Priority) {
        let priority = if update.name == self.local {
            Priority::News
        } else {
            priority
        };
        self.broadcasts.push(
            &mut self.members,
            slot,
            crate::member::encode_update(update),
            priority,
        );
    }

    fn broadcast(&mut self, update: &Update, priority: Priority) {
        if let Some(slot) = self.members.slot(&update.name) {
            self.queue(slot, update, priority);
        }
    }

    /// Applies one update about another member, heard at `priority` (news
    /// by gossip, repair from a full state). `slot` is where [`lookup`](Self::lookup)
    /// found its member (checked again: an earlier update of the same batch
    /// may have added it since). An update that does not supersede what we
    /// hold is ignored, except as a confirmation of a running suspicion or
    /// as feedback for the gossip queue. Says when a superseding alive
    /// update brought a new life (a restart) or revived a member held dead.
    pub fn apply(
        &mut self,
        mut u: Update,
        slot: Option<u32>,
        priority: Priority,
        room: &mut usize,
        fx: &mut Effects,
    ) -> Option<Applied> {
        debug_assert!(u.name != self.local);
        if priority == Priority::Repair && u.status == Status::Dead {
            // A peer's full state says dead: suspect instead, so the member
            // gets a chance to refute if that peer's view is stale (as
            // memberlist does). Taking it where the sick-node rule kept
            // this node from deciding sped up a crash seen across a healed
            // cut, but made 640 false deaths (187 without) when 490 of
            // 1,000 nodes came back from a cut: not done.
            u.status = Status::Suspect;
        }
        if u.status == Status::Dead && self.accuser_out_of_reach(&u.accuser) {
            // A verdict by a member this node holds dead was made where
            // this node could not see: across a cut (each side
            // of a partition declares the other dead), or by a member whose
            // links failed. A suspicion instead: the subject refutes it if
            // it runs, and this node decides by its own timer if not.
            u.status = Status::Suspect;
        }
        let slot = slot
            .filter(|&s| self.members.at(s).is_some_and(|e| e.name == u.name))
            .or_else(|| self.members.slot(&u.name));
        let Some(entry) = slot.and_then(|s| self.members.at_mut(s)) else {
            if u.status == Status::Alive {
                if *room == 0 || self.members.len() >= fx.config.max_members {
                    fx.metrics.members_refused += 1;
                    return None;
                }
                *room -= 1;
                let name = u.name.clone();
                if self.own_before.is_some() {
                    // The rest of the packet is bounded by what it added.
                    self.before.insert(name.clone(), u.incarnation);
                }
                self.add(u, priority, fx);
                self.account(0, &name);
            }
            return None;
        };
        let (old, old_inc) = (entry.status(), entry.incarnation);
        let base = match self.before.is_empty() {
            true => old_inc,
            false => self.before.get(&u.name).copied().unwrap_or(old_inc),
        };
        if !plausible(u.status, u.incarnation, base) {
            // No member refutes 2^32 times between two packets we hear: a
            // forged jump would put the member out of its refutation's reach.
            fx.metrics.dropped.count(DropReason::Implausible);
            return None;
        }
        if !supersedes(u.status, u.incarnation, old, old_inc) {
            if u.status == Status::Suspect && old == Status::Suspect && u.incarnation == old_inc {
                self.confirm_suspicion(&u, priority, fx);
            } else if (u.status, u.incarnation) == (old, old_inc) {
                if let Some(p) = entry.gossip.as_mut() {
                    p.heard();
                }
                if entry.life == 0 {
                    entry.life = u.life;
                } else if priority == Priority::Repair
                    && u.status == Status::Alive
                    && u.life != 0
                    && u.life != entry.life
                {
                    return Some(Applied::LivesDiffer(entry.addr(), Box::new(u)));
                }
            }
            return None;
        }
        // Only a superseding update changes what the member adds to the
        // summary (no-op updates, the bulk of gossip, cost no extra lookup).
        let name = u.name.clone();
        if self.own_before.is_some() {
            self.before.entry(name.clone()).or_insert(old_inc);
        }
        let before = if old.is_live() {
            crate::summary::member(&name, old_inc)
        } else {
            0
        };
        let applied = match u.status {
            Status::Alive => self.revive(u, old, priority, fx),
            Status::Suspect => {
                let accuser = u.accuser.clone();
                self.start_suspicion(&u.name, u.incarnation, accuser, priority, fx);
                None
            }
            Status::Dead | Status::Left => {
                let said = Said {
                    accuser: u.accuser,
                    evidence: u.evidence,
                    own: false,
                };
                self.bury(&u.name, u.status, u.incarnation, said, priority, fx);
                None
            }
        };
        self.account(before, &name);
        applied
    }

    /// Whether `accuser` is a member this node holds dead or left (not
    /// merely suspect: a node whose own links fail holds most members
    /// suspect, and takes their verdicts, see [`View::on_suspicion_timeout`]).
    fn accuser_out_of_reach(&self, accuser: &Name) -> bool {
        if accuser.is_empty() || *accuser == self.local {
            return false;
        }
        (self.members.get(accuser)).is_some_and(|e| !e.status().is_live())
    }

    fn add(&mut self, u: Update, priority: Priority, fx: &mut Effects) {
        let member = Member {
            name: u.name.clone(),
            addr: u.addr,
            incarnation: u.incarnation,
            status: Status::Alive,
        };
        let slot = self.members.insert(member.clone(), fx.now, fx.rng);
        if let Some(e) = self.members.at_mut(slot) {
            e.life = u.life;
        }
        self.queue(slot, &u, priority);
        fx.out.event(Event::MemberJoined {
            member,
            keys: Vec::new(),
        });
    }

    /// Whether alive news `u` (of the member at `slot`, when the table holds
    /// it) would move it to another address: an alive that supersedes what
    /// is held, at another address, in this life or a new one (a restart
    /// at a new address announces itself first-hand; news of it from
    /// others is checked like any move).
    pub fn moves(&self, u: &Update, slot: Option<u32>) -> bool {
        if u.status != Status::Alive || slot.is_none() {
            return false;
        }
        self.members.get(&u.name).is_some_and(|e| {
            // Bounded like any update (an implausible one is dropped,
            // counted, when it is applied).
            let base = self.before.get(&u.name).copied().unwrap_or(e.incarnation);
            e.addr() != u.addr
                && u.incarnation > e.incarnation
                && plausible(Status::Alive, u.incarnation, base)
        })
    }

    /// A higher-incarnation alive: refutation, rejoin, or new address/metadata.
    /// Returns the new life if the member restarted.
    fn revive(
        &mut self,
        u: Update,
        old: Status,
        priority: Priority,
        fx: &mut Effects,
    ) -> Option<Applied> {
        let e = self.members.get_mut(&u.name)?;
        let was = (old, e.incarnation);
        let changed = e.addr() != u.addr;
        let new_life = (u.life != 0 && e.life != 0 && u.life != e.life)
            .then(|| Applied::Restarted(u.name.clone(), u.life));
        let restarted = new_life.is_some();
        let outcome = new_life
            .or(matches!(old, Status::Dead | Status::Left)
                .then_some(Applied::Revived(u.addr, changed)));
        if u.life != 0 {
            e.life = u.life;
        }
        if self.heard_from.is_some() {
            // A member at its own address says it is back.
            e.seen_back();
        }
        let prev = e.addr();
        let was_moved = e.moved();
        if restarted || changed {
            e.record_move(prev, u.addr, restarted);
        }
        // A live member that still runs at the address it was trusted at is
        // told it moved, and refutes a forged move first-hand (see
        // `Deadline::MoveNotice`): at each move, and again (at most once
        // per probe interval) when a higher alive comes for it while moved.
        if old.is_live() && (changed || was_moved) {
            let to = match e.moved() {
                true => e.notice_due(fx.now, fx.config.probe_interval),
                false => (restarted && changed).then_some(prev),
            };
            if let Some(from) = to {
                let member = u.name.clone();
                fx.timers
                    .schedule(fx.now, Deadline::MoveNotice { member, from });
            }
        }
        e.set_addr(u.addr);
        e.incarnation = u.incarnation;
        e.set_suspicion(None);
        let shown = self.damp_revival(&u.name, was, u.incarnation, restarted, fx);
        self.members.set_status(&u.name, Status::Alive, fx.now);
        let member = self.members.get(&u.name).map(Entry::member);
        self.broadcast(&u, priority);
        if let Some(member) = member.filter(|_| shown) {
            match old {
                Status::Suspect => fx.out.event(Event::MemberRecovered(member)),
                Status::Dead | Status::Left => fx.out.event(Event::MemberJoined {
                    member,
                    keys: Vec::new(),
                }),
                Status::Alive if changed => fx.out.event(Event::MemberUpdated(member)),
                Status::Alive => {}
            }
        }
        outcome
    }

    /// Flap damping of a member coming back from `was` (its status and
    /// incarnation) at `incarnation`: whether the application is to see it
    /// (false while it is held; see [`crate::damping`]). The accusations it
    /// refuted since `was` count first. A restarted process (a new life)
    /// starts with a clean record.
    fn damp_revival(
        &mut self,
        name: &Name,
        was: (Status, u64),
        incarnation: u64,
        restarted: bool,
        fx: &mut Effects,
    ) -> bool {
        let (now, h) = (fx.now, fx.config.flap_half_life);
        if restarted || h.is_zero() {
            if let Some(e) = self.members.get_mut(name) {
                // A held member's new life ends the hold: the application,
                // which still sees it as it was held, hears it is back.
                let shown = e.flaps().and_then(|f| f.shown);
                e.clear_flaps();
                let mut member = e.member();
                member.status = Status::Alive;
                // (Coming back from suspect or dead, `revive` tells it.)
                let told = was.0 != Status::Alive;
                match shown.filter(|_| !told) {
                    Some(Status::Suspect) => fx.out.event(Event::MemberRecovered(member)),
                    Some(Status::Dead) => fx.out.event(Event::MemberJoined {
                        member,
                        keys: Vec::new(),
                    }),
                    _ => {}
                }
            }
            return true;
        }
        let dead_for = (self.members.get(name))
            .and_then(|e| e.flaps())
            .and_then(|f| f.dead_for(now));
        self.accused(name, was, (Status::Alive, incarnation), fx);
        let w = window(fx.config);
        let Some(e) = self.members.get_mut(name) else {
            return true;
        };
        let Some(flaps) = e.flaps() else {
            return true;
        };
        let old = was.0;
        let held = flaps.shown.is_some();
        let sick = matches!(old, Status::Suspect | Status::Dead);
        let mut unseen = e.flaps_mut(now, w).came_back(now, w, dead_for);
        if unseen {
            // Many coming back unseen at once: a heal, not flapping, once
            // members pinged confirm it (see `crate::heal`).
            let n = self.members.len();
            let back = self.heals.came_back(now, w, name, n);
            unseen = !back.heal;
            for member in back.check {
                fx.timers.schedule(now, Deadline::HealCheck { member });
            }
            for other in back.show {
                self.show_healed(&other, fx);
            }
        }
        let Some(e) = self.members.get_mut(name) else {
            return true;
        };
        let flaps = e.flaps_mut(now, w);
        let hold = !held && sick && flaps.hold(now, w, unseen, old);
        if !held && !hold {
            if flaps.forgotten(now, w) {
                e.clear_flaps();
            }
            return true;
        }
        if hold {
            fx.metrics.held += 1;
        }
        if let Some(at) = flaps.release_at(now, w).filter(|_| !flaps.timer) {
            flaps.timer = true;
            let member = name.clone();
            fx.timers.schedule(at, Deadline::Release { member });
        }
        false
    }

    /// Member `name` spoke from `from`, the address it was trusted at
    /// before it moved within its life (see `Entry::moved`): it runs there,
    /// so the move was someone else's word (one that answered at the new
    /// address: anyone can). It is moved back here, at the incarnation held
    /// (its own next alive there is taken as usual). Returns whether it
    /// was.
    pub fn spoke_at_home(&mut self, name: &Name, from: std::net::SocketAddr) -> bool {
        let Some(e) = self.members.get_mut(name) else {
            return false;
        };
        if !e.moved() || e.moved_from() != Some(from) {
            return false;
        }
        let prev = e.addr();
        e.record_move(prev, from, false);
        e.set_addr(from);
        true
    }

    /// Member `name` spoke from its own address, in a packet that opened
    /// (or on a plain cluster): its verdict, if any, is behind it, and
    /// when it confirms a heal (see [`crate::heal`]), the members held as
    /// unseen in it are shown.
    pub fn spoke(&mut self, name: &Name, fx: &mut Effects) {
        if let Some(e) = self.members.get_mut(name) {
            e.seen_back();
        }
        if !self.heals.checking() {
            return;
        }
        for member in self.heals.spoke(fx.now, window(fx.config), name) {
            self.show_healed(&member, fx);
        }
    }

    /// A member held as unseen came back with a heal (see
    /// [`crate::heal`]): shown now, unless accused since.
    fn show_healed(&mut self, name: &Name, fx: &mut Effects) {
        let (now, w) = (fx.now, window(fx.config));
        let Some(e) = self.members.get_mut(name) else {
            return;
        };
        if e.flaps().is_none() || !e.flaps_mut(now, w).healed() {
            return;
        }
        let member = name.clone();
        fx.timers.schedule(now, Deadline::Release { member });
    }

    /// The member moved from `from` to `to` (status, incarnation): the
    /// accusations this shows (see [`crate::damping::accused_level`]) go on
    /// its record. The incarnations are peers' word: the difference is
    /// checked and capped.
    fn accused(&mut self, name: &Name, from: (Status, u64), to: (Status, u64), fx: &mut Effects) {
        let h = fx.config.flap_half_life;
        if h.is_zero() || from.0 == Status::Left || to.0 == Status::Left {
            return;
        }
        let rise = damping::accused_level(to.0, to.1)
            .saturating_sub(damping::accused_level(from.0, from.1));
        // Refutations raise an incarnation one at a time: a view that missed
        // some counts them (a flaky member refutes about once a probe
        // interval, so a view that held it dead for minutes misses a few
        // hundred). A rise beyond that is no history of accusations (a
        // forged jump, or one the member adopted to stay within every
        // peer's reach) and counts none.
        let count = if rise > MAX_MISSED_REFUTATIONS {
            0
        } else {
            rise
        };
        let Some(e) = self.members.get_mut(name) else {
            return;
        };
        if count == 0 && e.flaps().is_none() {
            return;
        }
        let count = (count as f64).min(damping::MAX);
        let (now, w) = (fx.now, window(fx.config));
        e.flaps_mut(now, w).moved(now, w, count, to.0);
    }

    /// A release timer of a held member fired: show it again once it has
    /// stayed alive and unaccused for its clearance, as it is now (telling
    /// the application what changed since it was held), or wait longer (a
    /// member down now is looked at again when it comes back).
    pub fn on_release(&mut self, name: &Name, fx: &mut Effects) {
        let (now, w) = (fx.now, window(fx.config));
        let Some(e) = self.members.get_mut(name) else {
            return;
        };
        if e.flaps().is_none() {
            return;
        }
        let flaps = e.flaps_mut(now, w);
        flaps.timer = false;
        let Some(shown) = flaps.shown else {
            return;
        };
        if !flaps.releases(now, w) {
            if let Some(at) = flaps.release_at(now, w) {
                flaps.timer = true;
                let member = name.clone();
                fx.timers.schedule(at, Deadline::Release { member });
            }
            return;
        }
        flaps.shown = None;
        let accuser = e
            .suspicion()
            .and_then(|s| s.accusers.first().cloned())
            .or_else(|| e.verdict().map(|v| v.accuser.clone()))
            .unwrap_or_else(|| self.local.clone());
        let verdict = e.verdict().cloned();
        let member = e.member();
        let event = match (shown, member.status) {
            (Status::Suspect, Status::Alive) => Event::MemberRecovered(member),
            (Status::Dead, Status::Alive) => Event::MemberJoined {
                member,
                keys: Vec::new(),
            },
            (Status::Dead, Status::Suspect) => Event::MemberSuspect { member, accuser },
            (Status::Suspect, Status::Dead) => {
                let verdict = Box::new(verdict.unwrap_or(Verdict {
                    incarnation: member.incarnation,
                    accuser: accuser.clone(),
                    evidence: None,
                    learned_at: now,
                    learned_from: None,
                    own: false,
                }));
                Event::MemberFailed {
                    member,
                    accuser,
                    verdict,
                }
            }
            _ => return,
        };
        fx.out.event(event);
    }

    /// Our own probe of `name` (held at `incarnation`) failed: suspect it, or
    /// confirm a suspicion already running.
    pub fn suspect(&mut self, name: &Name, incarnation: u64, fx: &mut Effects) {
        let before = self.contribution(name);
        self.suspect_one(name, incarnation, fx);
        self.account(before, name);
    }

    fn suspect_one(&mut self, name: &Name, incarnation: u64, fx: &mut Effects) {
        let Some(e) = self.members.get(name) else {
            return;
        };
        let (status, held) = (e.status(), e.incarnation);
        let me = self.local.clone();
        if supersedes(Status::Suspect, incarnation, status, held) {
            self.start_suspicion(name, incarnation, me, Priority::News, fx);
        } else if status == Status::Suspect && incarnation == held {
            let mut u = Update::of(e, &me);
            u.status = Status::Suspect;
            self.confirm_suspicion(&u, Priority::News, fx);
        }
    }

    fn start_suspicion(
        &mut self,
        name: &Name,
        incarnation: u64,
        accuser: Name,
        priority: Priority,
        fx: &mut Effects,
    ) {
        let now = fx.now;
        let n = self.members.live();
        let c = fx.config;
        let min = suspicion::min_timeout(c.suspicion_mult, n, c.probe_interval);
        let max = min * c.suspicion_max_timeout_mult;
        // Independent confirmations Lifeguard expects before the timeout reaches min.
        let k = c.suspicion_mult.saturating_sub(2);
        let expected = if (n as u32).saturating_sub(2) < k {
            0
        } else {
            k
        };
        if let Some(e) = self.members.get(name) {
            let was = (e.status(), e.incarnation);
            self.accused(name, was, (Status::Suspect, incarnation), fx);
        }
        self.members.set_status(name, Status::Suspect, now);
        let Some(e) = self.members.get_mut(name) else {
            return;
        };
        e.incarnation = incarnation;
        let held = e.flaps().is_some_and(|f| f.shown.is_some());
        let s = Suspicion::new(now, min, max, expected, accuser.clone());
        let deadline = s.deadline();
        e.set_suspicion(Some(s));
        let generation = e.generation;
        let update = Update::of(e, &accuser);
        let member = e.member();
        if accuser == self.local {
            fx.metrics.suspicions += 1;
        }
        fx.timers.schedule(
            deadline,
            Deadline::Suspicion {
                member: name.clone(),
                generation,
            },
        );
        // A suspicion still running at the shortest timeout may be
        // reminded to the suspect (see `on_suspicion_timeout`).
        if expected > 0 && min < max {
            fx.timers.schedule(
                now + min,
                Deadline::Suspicion {
                    member: name.clone(),
                    generation,
                },
            );
        }
        self.broadcast(&update, priority);
        if !held {
            fx.out.event(Event::MemberSuspect { member, accuser });
        }
    }

    fn confirm_suspicion(&mut self, u: &Update, priority: Priority, fx: &mut Effects) {
        if u.accuser.is_empty() {
            return;
        }
        let Some(e) = self.members.get_mut(&u.name) else {
            return;
        };
        let Some(s) = e.suspicion_mut() else {
            return;
        };
        if !s.confirm(&u.accuser) {
            return;
        }
        let (deadline, generation) = (s.deadline(), e.generation);
        fx.timers.schedule(
            deadline,
            Deadline::Suspicion {
                member: u.name.clone(),
                generation,
            },
        );
        // Pass the confirmation on: others count it too.
        self.broadcast(u, priority);
    }

    /// A suspicion timer fired: dead, unless refuted or shortened since.
    ///
    /// A suspicion nobody else confirmed is this node's word alone, and this
    /// node may be the one whose links failed (it could not send, so the
    /// suspect never heard it was suspected). Before declaring it dead, the
    /// node gives it a last word: the suspect's address is returned, to be
    /// pinged with the suspicion attached, and the verdict waits a probe
    /// interval for its refutation. While this node is not `healthy` (its
    /// Lifeguard score is up: members that answered it lately stopped even
    /// nacking, or it refutes suspicions of itself, and it still hears
    /// members) it declares nobody dead, even with confirmations (they may
    /// come from other sick members): the suspicion waits, pinging the
    /// suspect each probe interval, for a refutation or a verdict from a
    /// healthy member. A node that hears no member at all (isolated, or
    /// the survivor of a pair) has no such evidence and decides, as each
    /// side of a partition does (see `probe::Answered`).
    /// Where no confirmation could come (a cluster of a few members), the
    /// node still decides alone.
    ///
    /// A suspicion of this node's alone, still unconfirmed at the shortest
    /// timeout, is reminded to the suspect the same way (a ping carrying
    /// it), and again each shortest timeout until it is refuted, confirmed
    /// or due: the gossip this node sent while its links were failing may
    /// all have been lost, and without a reminder the suspect hears of it
    /// only at the longest timeout (72 s at 1,000 members), long after the
    /// node's links came back.
    pub fn on_suspicion_timeout(
        &mut self,
        name: &Name,
        generation: u32,
        fx: &mut Effects,
    ) -> Option<std::net::SocketAddr> {
        let e = self.members.get_mut(name)?;
        let local = &self.local;
        let (addr, current) = (e.addr(), e.generation == generation);
        let suspect = e.status() == Status::Suspect;
        let s = e.suspicion_mut()?;
        // A node that hears nobody will get no confirmation: its own
        // suspicion is due at the shortest timeout (the last word follows).
        let ours = s.accusers.contains(local);
        let due = s.deadline() <= fx.now || (ours && !fx.hears && fx.now >= s.start + s.min);
        let alone = s.accusers.len() == 1 && s.accusers[0] == *local;
        if !current || !suspect {
            return None;
        }
        if !due {
            // Reminded: our own unconfirmed suspicion from the shortest
            // timeout on, any suspicion from twice it (its confirmations
            // few, perhaps all from this node's side of a cut that has
            // healed since, and the suspect never heard it).
            // (Compared as instants: the timer fired at `start + min`
            // rounded to the microsecond.)
            let ran = |k: u32| fx.now >= s.start + s.min * k;
            let spaced = s.reminded.is_none_or(|at| fx.now >= at + s.min);
            let remind = !s.last_word && spaced && ran(1) && (alone || ran(2));
            if remind {
                s.reminded = Some(fx.now);
            }
            let mut next = fx.now + s.min;
            // The next reminder keeps its pace whatever checks came
            // between (a reminder a whole timeout after an early check
            // drifted: 12 s instead of 8 at 100 members).
            if let Some(at) = s.reminded.map(|at| at + s.min).filter(|&at| at > fx.now) {
                next = next.min(at);
            }
            // Our own suspicion past the shortest timeout is due the
            // moment this node stops hearing: look again then, not a
            // whole timeout later (the survivor of a pair whose partner
            // crashed heard it a moment before).
            let quiet = fx.hears_until.map(|t| t.max(s.start + s.min));
            if let Some(quiet) = quiet.filter(|&q| ours && q >= fx.now) {
                next = next.min(quiet + core::time::Duration::from_micros(1));
            }
            if !s.last_word && next < s.deadline() {
                let member = name.clone();
                fx.timers
                    .schedule(next, Deadline::Suspicion { member, generation });
            }
            return remind.then_some(addr);
        }
        let sick = !fx.healthy && s.expected > 0;
        if sick || (alone && !s.last_word) {
            let until = fx.now + fx.config.probe_interval;
            s.not_before = Some(until);
            s.last_word = true;
            fx.timers.schedule(
                until,
                Deadline::Suspicion {
                    member: name.clone(),
                    generation,
                },
            );
            return Some(addr);
        }
        // The evidence: the other accusers this node counted, its own
        // score, and how long the suspicion ran.
        let others = s.accusers.iter().filter(|a| **a != *local).cloned();
        let age = fx.now.saturating_duration_since(s.start);
        let evidence = Evidence::new(others, fx.score, age);
        let incarnation = self.members.get(name)?.incarnation;
        fx.metrics.deaths += 1;
        let me = self.local.clone();
        let before = self.contribution(name);
        let said = Said {
            accuser: me,
            evidence: Some(Box::new(evidence)),
            own: true,
        };
        self.bury(name, Status::Dead, incarnation, said, Priority::News, fx);
        self.account(before, name);
        None
    }

    /// The suspicion of `name` as an update, if this node holds it suspect
    /// (Lifeguard's buddy system: a probe of a suspect carries it, so the
    /// member hears of it and refutes at once, whatever gossip lost).
    pub fn suspicion_of(&self, name: &str) -> Option<Update> {
        let e = self.members.get(name)?;
        let accuser = e.suspicion()?.accusers.first()?.clone();
        (e.status() == Status::Suspect).then(|| Update::of(e, &accuser))
    }

    /// An operator's word that a dead member is gone for good: it becomes
    /// left at its incarnation (which outranks dead), spread like a leave,
    /// and is reaped on schedule. `Err` with its status when it is not dead.
    pub fn force_leave(&mut self, name: &str, fx: &mut Effects) -> Result<(), Option<Status>> {
        let e = self.members.get(name).ok_or(None)?;
        match e.status() {
            Status::Dead => {}
            Status::Left => return Ok(()),
            other => return Err(Some(other)),
        }
        let (name, incarnation) = (e.name.clone(), e.incarnation);
        let me = self.local.clone();
        let said = Said {
            accuser: me,
            evidence: None,
            own: true,
        };
        self.bury(&name, Status::Left, incarnation, said, Priority::News, fx);
        Ok(())
    }

    /// Marks a member dead or left, gossips it, and schedules its reaping.
    /// `said`: who declared it, and the evidence the verdict carries (kept
    /// with the member and passed on as it came). A member already dead
    /// (or left) here, or back only by a stranger's word since (see
    /// `Entry::back_since`), keeps the verdict it
    /// has (only its incarnation moves) unless the new one comes from its
    /// accuser itself: anyone can send "alive, one higher" and then "dead,
    /// one higher" with made-up evidence.
    fn bury(
        &mut self,
        name: &Name,
        status: Status,
        incarnation: u64,
        said: Said,
        priority: Priority,
        fx: &mut Effects,
    ) {
        let Said {
            mut accuser,
            mut evidence,
            own,
        } = said;
        let now = fx.now;
        let kept = (self.members.get(name))
            .filter(|_| status == Status::Dead && !own)
            .filter(|e| !e.status().is_live() || !e.back_since())
            .and_then(|e| e.verdict())
            .filter(|v| self.heard_from.as_ref() != Some(&accuser) || v.own)
            .cloned();
        if let Some(e) = self.members.get(name).filter(|_| status == Status::Dead) {
            let was = (e.status(), e.incarnation);
            self.accused(name, was, (Status::Dead, incarnation), fx);
        }
        self.members.set_status(name, status, now);
        let Some(e) = self.members.get_mut(name) else {
            return;
        };
        e.incarnation = incarnation;
        e.set_suspicion(None);
        // A held member: the application hears of its death unless it
        // already sees it dead; a leave ends the hold.
        let shown = e.flaps().and_then(|f| f.shown);
        if shown.is_some() {
            e.flaps_mut(now, window(fx.config)).shown =
                (status == Status::Dead).then_some(Status::Dead);
        }
        let generation = e.generation;
        if let Some(v) = &kept {
            accuser = v.accuser.clone();
            evidence = v.evidence.clone().map(Box::new);
        }
        let mut update = Update::of(e, &accuser);
        let verdict = (status == Status::Dead).then(|| {
            let verdict = match kept {
                Some(kept) => Verdict {
                    incarnation,
                    ..kept
                },
                None => Verdict {
                    incarnation,
                    accuser: accuser.clone(),
                    evidence: evidence.as_deref().cloned(),
                    learned_at: now,
                    learned_from: self.heard_from.clone().filter(|_| !own),
                    own,
                },
            };
            e.set_verdict(verdict.clone());
            Box::new(verdict)
        });
        update.evidence = evidence.filter(|_| status == Status::Dead);
        let member = e.member();
        fx.timers.schedule(
            now + fx.config.reap_after,
            Deadline::Reap {
                member: name.clone(),
                generation,
            },
        );
        self.broadcast(&update, priority);
        if shown == Some(Status::Dead) && status == Status::Dead {
            return;
        }
        fx.out.event(match verdict {
            Some(verdict) => Event::MemberFailed {
                member,
                accuser,
                verdict,
            },
            None => Event::MemberLeft(member),
        });
    }

    /// A reap timer fired: forget the member, unless it came back since.
    /// Returns whether it was reaped.
    pub fn on_reap(&mut self, name: &Name, generation: u32, out: &mut Outbox) -> bool {
        let Some(e) = self.members.get(name) else {
            return false;
        };
        if e.generation != generation || e.status().is_live() {
            return false;
        }
        let Some(mut e) = self.members.remove(name) else {
            return false;
        };
        self.broadcasts.forget(e.gossip.take());
        out.event(Event::MemberReaped(e.member()));
        true
    }

    /// Sets this node's own status and incarnation and gossips it.
    pub fn announce_self(&mut self, status: Status, incarnation: u64, now: Instant) {
        let local = self.local.clone();
        let before = self.contribution(&local);
        self.announce_one(status, incarnation, now);
        self.account(before, &local);
    }

    fn announce_one(&mut self, status: Status, incarnation: u64, now: Instant) {
        let local = self.local.clone();
        if let Some(e) = self.members.get_mut(&local) {
            e.incarnation = incarnation;
        }
        self.members.set_status(&local, status, now);
        let update = Update::of(self.local_entry(), &Name::EMPTY);
        self.broadcast(&update, Priority::News);
    }

    /// Moves this node to `addr` and spreads it with a new incarnation.
    pub fn set_own_addr(&mut self, addr: std::net::SocketAddr, now: Instant) {
        let local = self.local.clone();
        if let Some(e) = self.members.get_mut(&local) {
            e.set_addr(addr);
        }
        // At the highest incarnation the new address cannot supersede: it
        // spreads with the next restart (2^63 updates away).
        let incarnation = (self.local_entry().incarnation + 1).min(MAX_INCARNATION);
        self.announce_self(Status::Alive, incarnation, now);
    }

    /// Someone speaks about this node. Suspicion or death at our incarnation or
    /// above is refuted with a higher incarnation; so is a stale alive or left
    /// from an earlier run under the same name. While `leaving`, we insist on
    /// `left` instead.
    ///
    /// Reach: everything is bounded by our incarnation before the packet
    /// (`o`, see [`begin`](Self::begin)). An update above `o + MAX_JUMP` is
    /// implausible (no peer takes it either). A higher alive from this life
    /// at our address (forged: only we raise our incarnation) is adopted,
    /// so that a peer that took it can still be outbid. An accusation at
    /// `a` far below ours (`a + MAX_JUMP` < ours) comes from a peer that
    /// lags so far that it cannot take our alive: we gossip an alive at
    /// `a + MAX_JUMP`, which it takes and everyone ahead of it ignores.
    pub fn about_self(&mut self, u: &Update, leaving: bool, now: Instant) -> Option<Answer> {
        let local = self.local_entry();
        let (incarnation, status) = (local.incarnation, local.status());
        let (life, addr) = (local.life, local.addr());
        let reach = self
            .own_before
            .unwrap_or(incarnation)
            .saturating_add(MAX_JUMP);
        // An alive under our name at another address, below our own
        // incarnation: peers that hold us far below (a forger climbed us
        // where they do not follow) take it; outbid it where they are.
        let below = u.status == Status::Alive
            && u.addr != addr
            && u.incarnation < incarnation
            && status == Status::Alive
            && !leaving;
        let contradicts = match u.status {
            // A newer alive, or one at ours from an earlier process under
            // our name (another life): outbid it.
            Status::Alive => {
                u.incarnation > incarnation
                    || (u.incarnation == incarnation && u.life != 0 && u.life != life)
                    || below
            }
            Status::Suspect | Status::Dead | Status::Left => {
                u.incarnation >= incarnation && u.status != status
            }
        };
        if !contradicts {
            let far = u.incarnation.saturating_add(MAX_JUMP);
            if u.status != Status::Alive && far < incarnation && status == Status::Alive && !leaving
            {
                return Some(self.step_down(far));
            }
            return None;
        }
        let other_life = u.status == Status::Alive && u.life != 0 && u.life != life;
        // Beyond our reach, an accusation is refused (peers refuse it too:
        // a forger who sends it to us alone would have us climb where no
        // peer follows). But an alive under our name at another address or
        // from another life is what the sender's peers now hold (an
        // insider's chain of alives, each within their reach, moved us
        // there): only our outbidding it brings us back, however far up.
        let moved = u.status == Status::Alive && (other_life || u.addr != addr);
        if u.incarnation > reach && !moved {
            return Some(Answer::Implausible);
        }
        // A rival: an alive under our name from another process (another
        // life, or our life at another address: a clone started with our
        // life).
        let rival = other_life || (u.status == Status::Alive && u.addr != addr);
        let mut conflict = None;
        if rival {
            // A conflict ends after two quiet minutes without a rival.
            if self
                .rival_at
                .is_some_and(|at| now >= at + CONFLICT_PACE_MAX * 2)
            {
                self.conflict = None;
                self.outbid_by = (0, 0);
            }
            self.rival_at = Some(now);
            if self.conflict.is_some() {
                // Still outbid, at a pace that slows (1 s, doubling to a
                // minute): two processes under one name stop fighting,
                // and a forger who plays a second process never keeps our
                // name (peers that probe the address it gave accuse us,
                // and accusations are refuted at once).
                if self
                    .conflict_refuted
                    .is_some_and(|at| now < at + self.conflict_pace)
                {
                    return None;
                }
                self.conflict_pace = (self.conflict_pace * 2).min(CONFLICT_PACE_MAX);
            } else if self.outbid_at.is_none_or(|at| now >= at + CONFLICT_PACE) {
                // One outbid counts per second, however many a packet holds.
                self.outbid_at = Some(now);
                let (by, times) = self.outbid_by;
                let times = if by == u.life { times + 1 } else { 1 };
                self.outbid_by = (u.life, times);
                if times >= CONFLICT_AFTER {
                    self.conflict = Some(u.life);
                    self.conflict_pace = CONFLICT_PACE;
                    conflict = Some(Answer::Conflict { addr: u.addr });
                }
            }
            if self.conflict.is_some() {
                self.conflict_refuted = Some(now);
            }
        }
        if leaving {
            self.announce_self(Status::Left, u.incarnation.max(incarnation), now);
            return Some(Answer::StillLeaving);
        }
        if u.status == Status::Alive && !other_life && u.addr == addr && status == Status::Alive {
            self.announce_self(Status::Alive, u.incarnation, now);
            return Some(Answer::Adopted);
        }
        if below {
            return Some(self.step_down(u.incarnation + 1));
        }
        // Never to the last incarnation: no peer takes an alive there.
        let Some(next) = u
            .incarnation
            .max(incarnation)
            .checked_add(1)
            .filter(|&n| n < MAX_INCARNATION)
        else {
            return Some(Answer::CannotRefute {
                incarnation: u.incarnation,
            });
        };
        self.announce_self(Status::Alive, next, now);
        conflict.or(Some(Answer::Refuted {
            accused: u.status != Status::Alive,
        }))
    }

    /// Gossips that we are alive at `incarnation`, below our own: a peer
    /// that holds us far below takes it (it refutes its accusation), every
    /// peer that holds more ignores it. Our own incarnation stays.
    fn step_down(&mut self, incarnation: u64) -> Answer {
        let mut update = Update::of(self.local_entry(), &Name::EMPTY);
        update.incarnation = incarnation;
        self.broadcast(&update, Priority::News);
        Answer::SteppedDown { incarnation }
    }
}

/// The most refutations a view may have missed while it held a member
/// down (about one a probe interval for 17 minutes): a rise of more is a
/// forged or adopted jump, which damping ignores.
const MAX_MISSED_REFUTATIONS: u64 = 1024;

/// How this node weighs accusations for flap damping (see [`crate::damping`]).
fn window(config: &Config) -> Window {
    Window {
        half_life: config.flap_half_life,
        interval: config.probe_interval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::member::Member;

    fn view() -> View {
        let me = Member::new("me", ([10, 0, 0, 1], 1).into(), 0, Status::Alive);
        View::new(me, 7, 1, Instant::ZERO, &mut Random::new(1))
    }

    fn accusation(incarnation: u64) -> Update {
        Update {
            name: "me".into(),
            addr: ([10, 0, 0, 1], 1).into(),
            incarnation,
            status: Status::Suspect,
            accuser: "x".into(),
            life: 0,
            evidence: None,
        }
    }

    #[test]
    fn an_accusation_at_the_highest_incarnation_cannot_be_outbid_and_nothing_wraps() {
        let mut v = view();
        v.announce_self(Status::Alive, MAX_INCARNATION - 2, Instant::ZERO);
        let answer = v.about_self(&accusation(MAX_INCARNATION - 2), false, Instant::ZERO);
        assert_eq!(answer, Some(Answer::Refuted { accused: true }));
        assert_eq!(v.local_entry().incarnation, MAX_INCARNATION - 1);
        let answer = v.about_self(&accusation(MAX_INCARNATION - 1), false, Instant::ZERO);
        assert_eq!(
            answer,
            Some(Answer::CannotRefute {
                incarnation: MAX_INCARNATION - 1
            })
        );
        assert_eq!(v.local_entry().incarnation, MAX_INCARNATION - 1);
        let far = accusation(MAX_INCARNATION);
        let mut low = view();
        assert_eq!(
            low.about_self(&far, false, Instant::ZERO),
            Some(Answer::Implausible)
        );
        assert_eq!(low.local_entry().incarnation, 0);
    }
}
