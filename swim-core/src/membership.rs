//! The membership table: O(1) lookup by name, and the shuffled probe order.
//!
//! Members live in a hash map (foldhash keyed by the node's seed, so lookups
//! are deterministic and not predictable from outside). Beside it, `order`
//! holds every name once: probing walks it round-robin and reshuffles it at the
//! end of each pass; random gossip targets are drawn from it by index. The map
//! is never iterated to decide an output; `order` is.

use crate::broadcast::Pending;
use crate::member::{Member, Status};
use crate::suspicion::Suspicion;
use crate::time::Instant;
use crate::util::Random;
use foldhash::fast::FixedState;
use hashbrown::HashMap;
use std::sync::Arc;

/// What a node keeps about one member.
#[derive(Debug)]
pub(crate) struct Entry {
    pub member: Member,
    /// When `member.status` last changed.
    pub since: Instant,
    /// Index of this member in the probe order.
    pos: u32,
    /// The update about this member waiting to be gossiped, if any.
    pub gossip: Option<Pending>,
    /// Running suspicion, while `status == Suspect`.
    pub suspicion: Option<Box<Suspicion>>,
    /// Bumped whenever the member's status changes, so that stale suspicion and
    /// reap timers can be told apart from live ones.
    pub generation: u32,
}

/// All members this node knows, itself included.
#[derive(Debug)]
pub(crate) struct Membership {
    map: HashMap<Arc<str>, Entry, FixedState>,
    order: Vec<Arc<str>>,
    /// Next index of `order` to probe; `order[..cursor]` were visited this pass.
    cursor: usize,
    /// Members with status alive or suspect (self included).
    live: usize,
}

impl Membership {
    pub fn new(hash_seed: u64) -> Self {
        Membership {
            map: HashMap::with_hasher(FixedState::with_seed(hash_seed)),
            order: Vec::new(),
            cursor: 0,
            live: 0,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.map.get(name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Entry> {
        self.map.get_mut(name)
    }

    /// Number of members (any status, self included).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Number of alive or suspect members, self included: the `n` of the formulas.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Names in probe order (deterministic; used for full-state dumps).
    pub fn names(&self) -> &[Arc<str>] {
        &self.order
    }

    /// Adds a member not yet known, at a random place among those still to be
    /// probed this pass, so that it is probed once in the current pass.
    pub fn insert(&mut self, member: Member, now: Instant, rng: &mut Random) {
        debug_assert!(!self.map.contains_key(&*member.name));
        if member.status.is_live() {
            self.live += 1;
        }
        let name = member.name.clone();
        let last = self.order.len();
        self.order.push(name.clone());
        let entry = Entry {
            member,
            since: now,
            pos: last as u32,
            gossip: None,
            suspicion: None,
            generation: 0,
        };
        self.map.insert(name, entry);
        let j = self.cursor + rng.below(last + 1 - self.cursor);
        self.swap(j, last);
    }

    /// Removes a member (reaping), keeping the pass's visited/unvisited split.
    pub fn remove(&mut self, name: &str) -> Option<Entry> {
        let entry = self.map.remove(name)?;
        if entry.member.status.is_live() {
            self.live -= 1;
        }
        let mut pos = entry.pos as usize;
        if pos < self.cursor {
            // Fill the hole with the last visited name, so the unvisited tail stays whole.
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
        if let Some(e) = self.map.get_mut(name) {
            match (e.member.status.is_live(), status.is_live()) {
                (true, false) => self.live -= 1,
                (false, true) => self.live += 1,
                _ => {}
            }
            if e.member.status != status {
                e.since = now;
                e.generation = e.generation.wrapping_add(1);
            }
            e.member.status = status;
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        self.order.swap(a, b);
        for i in [a, b] {
            if let Some(e) = self.map.get_mut(&*self.order[i]) {
                e.pos = i as u32;
            }
        }
    }

    /// The next member to probe: round-robin over the shuffled order,
    /// reshuffled after each full pass. Skips `local` and members that are not live.
    pub fn next_probe_target(&mut self, local: &str, rng: &mut Random) -> Option<Arc<str>> {
        for _ in 0..self.order.len() {
            if self.cursor >= self.order.len() {
                self.shuffle(rng);
                self.cursor = 0;
            }
            let name = &self.order[self.cursor];
            self.cursor += 1;
            if &**name != local
                && self
                    .map
                    .get(&**name)
                    .is_some_and(|e| e.member.status.is_live())
            {
                return Some(name.clone());
            }
        }
        None
    }

    fn shuffle(&mut self, rng: &mut Random) {
        for i in (1..self.order.len()).rev() {
            let j = rng.below(i + 1);
            self.order.swap(i, j);
        }
        for (i, name) in self.order.iter().enumerate() {
            if let Some(e) = self.map.get_mut(&**name) {
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
    ) -> Vec<Arc<str>> {
        let mut out: Vec<Arc<str>> = Vec::with_capacity(k);
        if self.order.is_empty() || k == 0 {
            return out;
        }
        let draws = 8 * k + 16;
        for _ in 0..draws {
            if out.len() == k {
                break;
            }
            let name = &self.order[rng.below(self.order.len())];
            if exclude.contains(&&**name) || out.contains(name) {
                continue;
            }
            if self.map.get(&**name).is_some_and(&mut eligible) {
                out.push(name.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn member(i: usize) -> Member {
        Member {
            name: format!("n{i}").into(),
            addr: ([10, 0, 0, 1], 7946 + i as u16).into(),
            incarnation: 0,
            status: Status::Alive,
            meta: Bytes::new(),
        }
    }

    fn table(n: usize, rng: &mut Random) -> Membership {
        let mut m = Membership::new(7);
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
            let s = m.sample(3, &mut rng, |e| e.member.status.is_live(), &["n0"]);
            assert_eq!(s.len(), 3);
            assert!(s.iter().all(|n| &**n != "n3" && &**n != "n0"));
            let mut d = s.clone();
            d.dedup();
            assert_eq!(d.len(), 3);
        }
        m.remove("n4");
        assert_eq!(m.live(), 8);
    }
}
