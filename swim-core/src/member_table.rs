//! The membership table, [`MemberTable`]: O(1) lookup by name, and the shuffled probe order.
//!
//! Entries live in a slab (`entries`, fixed chunks of 256), so an entry keeps
//! its index for as long as it is in the table: the gossip queue refers to
//! members by that index.
//! A hash index (foldhash keyed by the node's seed, so lookups are
//! deterministic and not predictable from outside) maps a name to its slot; it
//! hashes the name stored in the entry, so each name is stored once. Beside
//! them, `order` holds every slot once: probing walks it round-robin and
//! reshuffles it at the end of each pass; random gossip targets are drawn from
//! it by index. The index is never iterated to decide an output; `order` is.
//!
//! Memory matters here: a simulator holds `n` tables of `n` entries. An entry
//! is 96 bytes with a short name inline (see [`Name`]); what most members
//! lack (an IPv6 address, a running suspicion) lives behind an
//! optional box.

use crate::damping::{Flaps, Window};
use crate::member::{Member, Status};
use crate::name::Name;
use crate::piggyback::Pending;
use crate::suspicion::Suspicion;
use crate::time::Instant;
use crate::util::Random;
use crate::verdict::Verdict;
use core::hash::BuildHasher;
use foldhash::fast::FixedState;
use hashbrown::HashTable;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// What few members have: an IPv6 address, a running suspicion, a record
/// of failures.
#[derive(Debug, Default)]
struct Extra {
    v6: Option<SocketAddrV6>,
    suspicion: Option<Box<Suspicion>>,
    flaps: Option<Flaps>,
    /// The last dead verdict taken on the member (see [`crate::verdict`]).
    verdict: Option<Box<Verdict>>,
    /// The member was seen back since `verdict` was taken (see
    /// [`Entry::back_since`]): a later death is a new one, with its own
    /// verdict.
    back_since: bool,
    /// It moved to another address within one life (see [`Entry::moved`]).
    moved: Option<Moved>,
}

/// A move of a member to another address within one life.
#[derive(Debug, Clone, Copy)]
struct Moved {
    /// The address it had before (the last one it was trusted at).
    from: SocketAddr,
    /// When that address was last told of the move (see
    /// [`Entry::notice_due`]).
    told_at: Option<Instant>,
}

/// What a node keeps about one member.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The member's name, inline when short (no allocation per entry).
    pub name: Name,
    /// Its incarnation.
    pub incarnation: u64,
    /// Its life (see [`crate::namespace`]): which process under this name it is.
    pub life: u64,
    /// When `status` last changed.
    pub since: Instant,
    /// The update about this member waiting to be gossiped, if any.
    pub gossip: Option<Pending>,
    /// IPv6 address and running suspicion, when there are any.
    extra: Option<Box<Extra>>,
    /// Bumped whenever the member's status changes, so that stale suspicion and
    /// reap timers can be told apart from live ones.
    pub generation: u32,
    /// Index of this member in the probe order.
    pos: u32,
    /// IPv4 address and port (unless `extra` holds an IPv6 address).
    ip4: [u8; 4],
    port: u16,
    /// Its status; changed through [`MemberTable::set_status`] only.
    status: Status,
}

impl Entry {
    fn new(name: Name, addr: SocketAddr, incarnation: u64, status: Status, now: Instant) -> Entry {
        let mut e = Entry {
            name,
            incarnation,
            life: 0,
            since: now,
            gossip: None,
            extra: None,
            generation: 0,
            pos: 0,
            ip4: [0; 4],
            port: 0,
            status,
        };
        e.set_addr(addr);
        e
    }

    /// The member's status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Where the member receives datagrams and streams.
    pub fn addr(&self) -> SocketAddr {
        match self.extra.as_ref().and_then(|x| x.v6) {
            Some(v6) => SocketAddr::V6(v6),
            None => SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(self.ip4), self.port)),
        }
    }

    pub fn set_addr(&mut self, addr: SocketAddr) {
        match addr {
            SocketAddr::V4(v4) => {
                self.ip4 = v4.ip().octets();
                self.port = v4.port();
                if let Some(x) = self.extra.as_mut() {
                    x.v6 = None;
                }
                self.trim();
            }
            SocketAddr::V6(v6) => {
                self.ip4 = [0; 4];
                self.port = 0;
                self.extra.get_or_insert_with(Default::default).v6 = Some(v6);
            }
        }
    }

    /// The running suspicion, while `status == Suspect`.
    pub fn suspicion(&self) -> Option<&Suspicion> {
        self.extra.as_ref().and_then(|x| x.suspicion.as_deref())
    }

    /// The running suspicion, mutably.
    pub fn suspicion_mut(&mut self) -> Option<&mut Suspicion> {
        self.extra.as_mut().and_then(|x| x.suspicion.as_deref_mut())
    }

    /// Starts (`Some`) or ends (`None`) a suspicion.
    pub fn set_suspicion(&mut self, suspicion: Option<Suspicion>) {
        match suspicion {
            Some(s) => {
                self.extra.get_or_insert_with(Default::default).suspicion = Some(Box::new(s));
            }
            None => {
                if let Some(x) = self.extra.as_mut() {
                    x.suspicion = None;
                }
                self.trim();
            }
        }
    }

    /// The last dead verdict taken on the member, if any.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.extra.as_ref().and_then(|x| x.verdict.as_deref())
    }

    /// Records the dead verdict just taken on the member.
    pub fn set_verdict(&mut self, verdict: Verdict) {
        let x = self.extra.get_or_insert_with(Default::default);
        x.verdict = Some(Box::new(verdict));
        x.back_since = false;
    }

    /// The member is seen back: its verdict, if any, is behind it (see
    /// [`back_since`](Self::back_since)).
    pub fn seen_back(&mut self) {
        if let Some(x) = self.extra.as_mut().filter(|x| x.verdict.is_some()) {
            x.back_since = true;
        }
    }

    /// Whether the member was seen back since its verdict was taken: it
    /// spoke from its own address, or a member at its own address said it
    /// is back. A revival only a stranger told of may be anyone's word.
    pub fn back_since(&self) -> bool {
        self.extra.as_ref().is_some_and(|x| x.back_since)
    }

    /// Whether the member moved to another address within one life. A
    /// process keeps its address (one at a new address is a restart, with
    /// a new life), and anyone can answer at an address it names: whoever
    /// speaks from the new address is not taken for the member (its packets
    /// are not first-hand, its answers are checked) until it moves back to
    /// the address it was trusted at, or a new life comes. Time alone
    /// proves nothing: a live member never hears of a forged move its peers
    /// dropped, and one that moved itself is silent at the old address too.
    pub fn moved(&self) -> bool {
        self.extra.as_ref().is_some_and(|x| x.moved.is_some())
    }

    /// The member's address changes from `from` to `to`: `restarted` (a new
    /// life) ends a move; otherwise it is a move (see
    /// [`moved`](Self::moved)), ended when it goes back to the address it
    /// was trusted at.
    pub fn record_move(&mut self, from: SocketAddr, to: SocketAddr, restarted: bool) {
        let was = self.extra.as_ref().and_then(|x| x.moved);
        let back = was.is_some_and(|m| m.from == to);
        if restarted || back || from == to && was.is_none() {
            if let Some(x) = self.extra.as_mut() {
                x.moved = None;
            }
            self.trim();
            return;
        }
        let moved = match was {
            Some(m) => m,
            None => Moved {
                from,
                told_at: None,
            },
        };
        self.extra.get_or_insert_with(Default::default).moved = Some(moved);
    }

    /// The address the member was trusted at before it moved within its
    /// life (see [`moved`](Self::moved)).
    pub fn moved_from(&self) -> Option<SocketAddr> {
        self.extra.as_ref().and_then(|x| x.moved).map(|m| m.from)
    }

    /// The address a moved member was trusted at, to be told of the move
    /// (at most once per `every`: a forger that keeps raising the moved
    /// member's incarnation draws one notice per interval), if one is due.
    pub fn notice_due(&mut self, now: Instant, every: core::time::Duration) -> Option<SocketAddr> {
        let m = self.extra.as_mut()?.moved.as_mut()?;
        if m.told_at.is_some_and(|t| now < t + every) {
            return None;
        }
        m.told_at = Some(now);
        Some(m.from)
    }

    /// The member's failure record, if it has one.
    pub fn flaps(&self) -> Option<&Flaps> {
        self.extra.as_ref().and_then(|x| x.flaps.as_ref())
    }

    /// The member's failure record, made at `now` if it has none.
    pub fn flaps_mut(&mut self, now: Instant, w: Window) -> &mut Flaps {
        self.extra
            .get_or_insert_with(Default::default)
            .flaps
            .get_or_insert_with(|| Flaps::new(now, w))
    }

    /// Forgets the failure record.
    pub fn clear_flaps(&mut self) {
        if let Some(x) = self.extra.as_mut() {
            x.flaps = None;
        }
        self.trim();
    }

    /// Frees `extra` once it holds nothing.
    fn trim(&mut self) {
        if self.extra.as_ref().is_some_and(|x| {
            x.v6.is_none()
                && x.suspicion.is_none()
                && x.flaps.is_none()
                && x.verdict.is_none()
                && x.moved.is_none()
        }) {
            self.extra = None;
        }
    }

    /// The public view of this member: a held member (see
    /// [`crate::damping`]) shows the status the application last saw.
    pub fn member(&self) -> Member {
        Member {
            name: self.name.clone(),
            addr: self.addr(),
            incarnation: self.incarnation,
            status: self.flaps().and_then(|f| f.shown).unwrap_or(self.status),
        }
    }
}

/// Entries per chunk of the [`Slab`].
const CHUNK: usize = 256;

/// Entries in fixed-size chunks: growing never moves an entry nor copies the
/// table, and never leaves more than one chunk of slack (a `Vec` that
/// doubles leaves a quarter of the table unused on average, and needs room
/// for both copies while it grows).
#[derive(Debug, Default)]
struct Slab {
    chunks: Vec<Box<[Option<Entry>]>>,
    len: u32,
}

impl Slab {
    fn get(&self, slot: u32) -> Option<&Entry> {
        let i = slot as usize;
        self.chunks.get(i / CHUNK)?[i % CHUNK].as_ref()
    }

    fn get_mut(&mut self, slot: u32) -> Option<&mut Entry> {
        let i = slot as usize;
        self.chunks.get_mut(i / CHUNK)?[i % CHUNK].as_mut()
    }

    /// The cell of a slot below `len`.
    fn cell(&mut self, slot: u32) -> &mut Option<Entry> {
        let i = slot as usize;
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }

    /// Puts `entry` in a new slot at the end.
    fn push(&mut self, entry: Entry) -> u32 {
        let slot = self.len;
        if (slot as usize).is_multiple_of(CHUNK) {
            self.chunks.push((0..CHUNK).map(|_| None).collect());
        }
        self.len += 1;
        *self.cell(slot) = Some(entry);
        slot
    }
}

/// All members this node knows, itself included.
#[derive(Debug)]
pub(crate) struct MemberTable {
    /// Slab of entries; `None` marks a free slot (listed in `free`).
    entries: Slab,
    free: Vec<u32>,
    /// Name to slot, hashing the name held in the entry.
    index: HashTable<u32>,
    hasher: FixedState,
    /// Slots in probe order.
    order: Vec<u32>,
    /// Next index of `order` to probe; `order[..cursor]` were visited this pass.
    cursor: usize,
    /// Members with status alive or suspect (self included).
    live: usize,
    /// Members with status dead (not left): the candidates for reconnecting.
    dead: usize,
}

/// Grows `v` by an eighth when full instead of doubling it: tables are large
/// and many, so slack costs more than the extra (amortised O(1)) copies.
pub(crate) fn reserve_one<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 8).max(4));
    }
}

impl MemberTable {
    pub fn new(hash_seed: u64) -> Self {
        MemberTable {
            entries: Slab::default(),
            free: Vec::new(),
            index: HashTable::new(),
            hasher: FixedState::with_seed(hash_seed),
            order: Vec::new(),
            cursor: 0,
            live: 0,
            dead: 0,
        }
    }

    /// The slot of `name`, if it is in the table.
    pub fn slot(&self, name: &str) -> Option<u32> {
        let entries = &self.entries;
        self.index
            .find(self.hasher.hash_one(name), |&i| {
                entries.get(i).is_some_and(|e| e.name == *name)
            })
            .copied()
    }

    /// The entry in `slot`, if the slot is in use.
    pub fn at(&self, slot: u32) -> Option<&Entry> {
        self.entries.get(slot)
    }

    /// The entry in `slot`, if the slot is in use.
    pub fn at_mut(&mut self, slot: u32) -> Option<&mut Entry> {
        self.entries.get_mut(slot)
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.at(self.slot(name)?)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Entry> {
        let slot = self.slot(name)?;
        self.at_mut(slot)
    }

    /// Number of members (any status, self included).
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Number of alive or suspect members, self included: the `n` of the formulas.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Number of members held dead (not left).
    pub fn dead(&self) -> usize {
        self.dead
    }

    /// Entries in probe order (deterministic; used for full-state dumps).
    pub fn iter(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.order.iter().filter_map(|&i| self.at(i))
    }

    /// Adds a member not yet known, at a random place among those still to be
    /// probed this pass, so that it is probed once in the current pass.
    /// Returns its slot.
    pub fn insert(&mut self, member: Member, now: Instant, rng: &mut Random) -> u32 {
        debug_assert!(self.slot(&member.name).is_none());
        if member.status.is_live() {
            self.live += 1;
        }
        if member.status == Status::Dead {
            self.dead += 1;
        }
        let last = self.order.len();
        let mut entry = Entry::new(
            member.name,
            member.addr,
            member.incarnation,
            member.status,
            now,
        );
        entry.pos = last as u32;
        let hash = self.hasher.hash_one(&*entry.name);
        let slot = match self.free.pop() {
            Some(slot) => {
                *self.entries.cell(slot) = Some(entry);
                slot
            }
            None => self.entries.push(entry),
        };
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.insert_unique(hash, slot, |&i| {
            entries.get(i).map_or(0, |e| hasher.hash_one(&*e.name))
        });
        reserve_one(&mut self.order);
        self.order.push(slot);
        let j = self.cursor + rng.below(last + 1 - self.cursor);
        self.swap(j, last);
        slot
    }

    /// Removes a member (reaping), keeping the pass's visited/unvisited split.
    pub fn remove(&mut self, name: &str) -> Option<Entry> {
        let entries = &self.entries;
        let found = self.index.find_entry(self.hasher.hash_one(name), |&i| {
            entries.get(i).is_some_and(|e| e.name == *name)
        });
        let slot = found.ok()?.remove().0;
        let entry = self.entries.cell(slot).take()?;
        self.free.push(slot);
        if entry.status.is_live() {
            self.live -= 1;
        }
        if entry.status == Status::Dead {
            self.dead -= 1;
        }
        let mut pos = entry.pos as usize;
        if pos < self.cursor {
            // Fill the hole with the last visited member, so the unvisited tail stays whole.
            self.cursor -= 1;
            self.swap(pos, self.cursor);
            pos = self.cursor;
        }
        let last = self.order.len() - 1;
        self.swap(pos, last);
        self.order.pop();
        Some(entry)
    }

    /// Records a status change of `name` and keeps the live count right.
    pub fn set_status(&mut self, name: &str, status: Status, now: Instant) {
        let Some(slot) = self.slot(name) else { return };
        let Some(e) = self.entries.get_mut(slot) else {
            return;
        };
        match (e.status.is_live(), status.is_live()) {
            (true, false) => self.live -= 1,
            (false, true) => self.live += 1,
            _ => {}
        }
        match (e.status == Status::Dead, status == Status::Dead) {
            (true, false) => self.dead -= 1,
            (false, true) => self.dead += 1,
            _ => {}
        }
        if e.status != status {
            e.since = now;
            e.generation = e.generation.wrapping_add(1);
        }
        e.status = status;
    }

    fn swap(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        self.order.swap(a, b);
        for i in [a, b] {
            if let Some(e) = self.entries.get_mut(self.order[i]) {
                e.pos = i as u32;
            }
        }
    }

    /// The next member to probe: round-robin over the shuffled order,
    /// reshuffled after each full pass. Skips `local` and members that are not live.
    pub fn next_probe_target(&mut self, local: &str, rng: &mut Random) -> Option<Name> {
        for _ in 0..self.order.len() {
            if self.cursor >= self.order.len() {
                self.shuffle(rng);
                self.cursor = 0;
            }
            let slot = self.order[self.cursor];
            self.cursor += 1;
            if let Some(e) = self.at(slot) {
                if e.name != *local && e.status.is_live() {
                    return Some(e.name.clone());
                }
            }
        }
        None
    }

    fn shuffle(&mut self, rng: &mut Random) {
        for i in (1..self.order.len()).rev() {
            let j = rng.below(i + 1);
            self.order.swap(i, j);
        }
        for (i, &slot) in self.order.iter().enumerate() {
            if let Some(e) = self.entries.get_mut(slot) {
                e.pos = i as u32;
            }
        }
    }

    /// Up to `k` distinct random members accepted by `eligible`, never `local`
    /// nor a name in `exclude`. Rejection sampling with a bounded number of
    /// draws, so the cost does not grow with the table.
    pub fn sample(
        &self,
        k: usize,
        rng: &mut Random,
        mut eligible: impl FnMut(&Entry) -> bool,
        exclude: &[&str],
    ) -> Vec<Name> {
        let mut out: Vec<Name> = Vec::with_capacity(k);
        if self.order.is_empty() || k == 0 {
            return out;
        }
        let draws = 8 * k + 16;
        for _ in 0..draws {
            if out.len() == k {
                break;
            }
            let Some(e) = self.at(self.order[rng.below(self.order.len())]) else {
                continue;
            };
            let name = &e.name;
            if exclude.contains(&&**name) || out.contains(name) {
                continue;
            }
            if eligible(e) {
                out.push(name.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(i: usize) -> Member {
        Member {
            name: format!("n{i}").into(),
            addr: ([10, 0, 0, 1], 7946 + i as u16).into(),
            incarnation: 0,
            status: Status::Alive,
        }
    }

    fn table(n: usize, rng: &mut Random) -> MemberTable {
        let mut m = MemberTable::new(7);
        for i in 0..n {
            m.insert(member(i), Instant::ZERO, rng);
        }
        m
    }

    #[test]
    fn round_robin_visits_every_member_once_per_pass() {
        let mut rng = Random::new(1);
        let mut m = table(50, &mut rng);
        for _pass in 0..5 {
            let mut seen: Vec<String> = (0..49)
                .map(|_| m.next_probe_target("n0", &mut rng).unwrap().to_string())
                .collect();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), 49, "each of the 49 peers exactly once");
            assert!(!seen.contains(&"n0".to_string()));
        }
    }

    #[test]
    fn joins_and_reaps_mid_pass_keep_the_pass_whole() {
        let mut rng = Random::new(2);
        let mut m = table(20, &mut rng);
        // Finish the first pass so the next one starts fresh.
        for _ in 0..19 {
            m.next_probe_target("n0", &mut rng);
        }
        let mut seen = Vec::new();
        for _ in 0..10 {
            seen.push(m.next_probe_target("n0", &mut rng).unwrap().to_string());
        }
        let visited = seen[0].clone();
        let unvisited: Vec<String> = (1..20)
            .map(|i| format!("n{i}"))
            .filter(|n| !seen.contains(n))
            .collect();
        m.remove(&visited);
        m.remove(&unvisited[0]);
        m.insert(member(99), Instant::ZERO, &mut rng);
        let rest: Vec<String> = (0..unvisited.len())
            .map(|_| m.next_probe_target("n0", &mut rng).unwrap().to_string())
            .collect();
        let mut expect: Vec<String> = unvisited[1..].to_vec();
        expect.push("n99".into());
        let mut got = rest.clone();
        got.sort();
        expect.sort();
        assert_eq!(
            got, expect,
            "the rest of the pass is exactly the unvisited members plus the newcomer"
        );
        assert_eq!(m.len(), 19);
    }

    #[test]
    fn live_count_and_sampling_follow_status() {
        let mut rng = Random::new(3);
        let mut m = table(10, &mut rng);
        assert_eq!(m.live(), 10);
        m.set_status("n3", Status::Dead, Instant::ZERO);
        m.set_status("n4", Status::Suspect, Instant::ZERO);
        assert_eq!(m.live(), 9);
        for _ in 0..50 {
            let s = m.sample(3, &mut rng, |e| e.status().is_live(), &["n0"]);
            assert_eq!(s.len(), 3);
            assert!(s.iter().all(|n| &**n != "n3" && &**n != "n0"));
            let mut d = s.clone();
            d.dedup();
            assert_eq!(d.len(), 3);
        }
        assert_eq!(m.dead(), 1);
        m.remove("n3");
        assert_eq!(m.dead(), 0);
        m.remove("n4");
        assert_eq!(m.live(), 8);
    }

    #[test]
    fn addresses_round_trip_through_the_compact_entry() {
        let v6: SocketAddr = "[fe80::1%3]:7946".parse().unwrap();
        let v4: SocketAddr = ([10, 1, 2, 3], 7000).into();
        let mut e = Entry::new("a".into(), v6, 1, Status::Alive, Instant::ZERO);
        assert_eq!(e.addr(), v6, "scope id kept");
        assert!(e.extra.is_some(), "an IPv6 address lives in the box");
        e.set_addr(v4);
        assert_eq!(e.addr(), v4);
        assert!(e.extra.is_none(), "nothing rare left: no box");
    }

    #[test]
    fn slots_are_reused_and_lookups_follow_them() {
        let mut rng = Random::new(4);
        let mut m = table(10, &mut rng);
        let slot = m.slot("n3").unwrap();
        m.remove("n3");
        assert!(m.get("n3").is_none() && m.at(slot).is_none());
        m.insert(member(42), Instant::ZERO, &mut rng);
        assert_eq!(m.slot("n42"), Some(slot));
        assert_eq!(m.iter().count(), 10);
        assert!(m
            .iter()
            .all(|e| m.get(&e.name).is_some_and(|f| f.pos == e.pos)));
    }

    #[test]
    fn an_entry_stays_small() {
        // A simulator holds n tables of n entries: keep an eye on the size
        // (88 bytes before the member's life joined it).
        assert!(
            std::mem::size_of::<Entry>() <= 96,
            "{}",
            std::mem::size_of::<Entry>()
        );
        assert_eq!(
            std::mem::size_of::<Option<Entry>>(),
            std::mem::size_of::<Entry>()
        );
    }
}
