//! Candidates: members this node has only heard of, waiting to be seen.
//!
//! Alive news of a name this node does not know is *hearsay* unless it
//! comes from that member itself (a packet from the name, at the address
//! the news gives). Hearsay does not enter the membership table: whatever
//! enters it is gossiped onward and carried in full states, so each node
//! that took a made-up member would pass it on as a source of its own, and
//! per-source caps would bound nothing. Instead the news waits here, and
//! the node checks it:
//!
//! 1. **Direct.** One ping to the name at the address the news gives
//!    (paid, like a reply, from what the news's packet earned: see the
//!    node's `ping_candidates`). Any packet from that name at that address
//!    (its ack, or a ping or gossip of its own) admits it.
//! 2. **Indirect.** No answer within the probe timeout, and the news came
//!    from a member at its own address: `k` members are asked to ping-req
//!    it, as for a probe. A relay pings only a member it knows, at the
//!    address it holds, so only members that already admitted the name
//!    answer; an ack passed back by one of the relays asked admits it (a
//!    member this node cannot reach directly is still admitted).
//! 3. **Forgotten.** Still nothing at the end of the probe interval: the
//!    candidate is dropped without a word (no suspicion, no death, no
//!    tombstone) and counted.
//!
//! The set is bounded ([`MAX_CANDIDATES`]): a new candidate in a full set
//! evicts the oldest, counted. Each source's new-member allowance (see
//! [`crate::source`]) is charged when its news becomes a candidate, so one
//! source fills the set no faster than it could fill the table before.
//!
//! Checks cost: a ping and its ack per (node, new member) pair, where
//! gossip costs a share of a few datagrams per new member. In a join wave
//! of thousands, checking every member heard of would multiply the
//! traffic (measured: 42 times the messages and 2.7 times the bytes of
//! main in a 5,000-node cold join). So a node starts at most
//! [`CHECK_BURST`] checks at once and [`CHECKS_PER_INTERVAL`] per probe
//! interval after that; news beyond it is refused (counted), and the
//! members it names arrive instead in the full state of an exchange with
//! a known member (a node that keeps hearing of more members than it
//! holds catches up), which holds only members that member admitted.
//!
//! Three indexes, none iterated to decide an output: by arrival (a
//! `BTreeMap` keyed by a counter, oldest first), by name and by the
//! sequence number of the candidate's ping (fixed-seed hash maps).

use crate::member::Update;
use crate::name::Name;
use crate::piggyback::Priority;
use crate::source::Bucket;
use crate::time::Instant;
use core::time::Duration;
use foldhash::fast::FixedState;
use hashbrown::HashMap;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

/// Candidates held at once; a new one evicts the oldest.
pub(crate) const MAX_CANDIDATES: usize = 256;

/// Checks a node may start at once: as many as it holds candidates, so
/// that the set fills only when checks go unanswered.
pub(crate) const CHECK_BURST: u32 = MAX_CANDIDATES as u32;

/// Checks a node may start per probe interval, after its burst.
pub(crate) const CHECKS_PER_INTERVAL: u32 = 64;

/// Sequence numbers of checks that ended with an admission, remembered so
/// that the answers still on their way (the direct ack after a relay's, a
/// ping answered after the member came by a full state) are expected, not
/// counted as unsolicited.
const ANSWERED: usize = 256;

/// How far the check of a candidate has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Pinged directly (or waiting for a packet of its own, when the ping
    /// could not be paid).
    Direct,
    /// Members were asked to ping-req it.
    Indirect,
}

/// One member heard of and not yet seen.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    /// The alive news, as heard.
    pub update: Update,
    /// How it is queued for gossip once admitted (news or repair).
    pub priority: Priority,
    /// The sequence number of its pings (direct and indirect).
    pub seq: u32,
    /// The news came from a member at its own address.
    pub vouched: bool,
    /// Checked at its address only, never through relays: news of a known
    /// member at another address (relays hold the old one).
    pub direct_only: bool,
    /// How many members may be asked to check it (the indirect stage):
    /// as many ping-reqs as what paid for its check could pay for too, and
    /// none unless it is vouched for.
    pub indirect: usize,
    /// Where its check stands.
    pub stage: Stage,
    /// The members asked to ping-req it; only their acks admit it.
    pub relays: Vec<Name>,
    /// When it was heard.
    pub heard: Instant,
}

/// Who told of a candidate, and how it may be checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Told {
    /// A member at its own address told it.
    pub vouched: bool,
    /// Checked at its address only (see [`Candidate::direct_only`]).
    pub direct_only: bool,
}

/// What inserting a candidate did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// Added; the set had room.
    Added,
    /// Added in place of the oldest candidate, which is forgotten.
    Evicted,
    /// A candidate of that name and address is already waiting: nothing
    /// changed.
    Waiting,
    /// This node started as many checks as it may for now: refused.
    Busy,
}

/// The candidates of one node (see the module doc).
#[derive(Debug)]
pub(crate) struct Candidates {
    by_arrival: BTreeMap<u64, Candidate>,
    /// By name and the address the news gives: news of one name at two
    /// addresses (a member's real move and a forged one) is checked at
    /// both.
    by_name: HashMap<(Name, SocketAddr), u64, FixedState>,
    by_seq: HashMap<u32, u64, FixedState>,
    next: u64,
    /// Checks started for news from members at their own address, and
    /// for the rest (see [`CHECK_BURST`]): a flood of the second kind
    /// (spoofed sources each spending their own allowance) never keeps
    /// a member's news of a genuine newcomer from being checked.
    checks: [Bucket; 2],
    /// The last [`ANSWERED`] checks that ended with an admission.
    answered: VecDeque<u32>,
}

impl Candidates {
    /// An empty set; `hash_seed` fixes its hashers.
    pub fn new(hash_seed: u64) -> Candidates {
        Candidates {
            by_arrival: BTreeMap::new(),
            by_name: HashMap::with_hasher(FixedState::with_seed(hash_seed)),
            by_seq: HashMap::with_hasher(FixedState::with_seed(hash_seed ^ 1)),
            next: 0,
            checks: [Bucket::default(), Bucket::default()],
            answered: VecDeque::new(),
        }
    }

    /// Candidates waiting.
    pub fn len(&self) -> usize {
        self.by_arrival.len()
    }

    /// Whether a candidate named `name` at `addr` is waiting.
    pub fn contains(&self, name: &Name, addr: SocketAddr) -> bool {
        self.by_name.contains_key(&(name.clone(), addr))
    }

    /// The candidate whose pings carry `seq`.
    pub fn get(&self, seq: u32) -> Option<&Candidate> {
        self.by_seq.get(&seq).and_then(|id| self.by_arrival.get(id))
    }

    /// Candidate `seq` may have `relays` members asked to check it (what
    /// paid for its ping paid for their ping-reqs too).
    pub fn pay_relays(&mut self, seq: u32, relays: usize) {
        let id = self.by_seq.get(&seq).copied();
        if let Some(c) = id.and_then(|id| self.by_arrival.get_mut(&id)) {
            c.indirect = relays;
        }
    }

    /// Whether a new check of news from a member at its own address
    /// (`vouched`), or of other news, may start now (see [`CHECK_BURST`]).
    pub fn may_check(&self, vouched: bool, now: Instant, probe_interval: Duration) -> bool {
        let period = probe_interval / CHECKS_PER_INTERVAL;
        self.checks[usize::from(vouched)].allowed(now, CHECK_BURST, period) > 0
    }

    /// Adds the news `update` (an alive of a name the table does not
    /// hold), checked with pings carrying `seq`, if a check may start
    /// now. In a full set the oldest candidate makes room.
    pub fn insert(
        &mut self,
        update: Update,
        priority: Priority,
        seq: u32,
        told: Told,
        now: Instant,
        probe_interval: Duration,
    ) -> Inserted {
        let Told {
            vouched,
            direct_only,
        } = told;
        if self.contains(&update.name, update.addr) {
            return Inserted::Waiting;
        }
        if !self.may_check(vouched, now, probe_interval) {
            return Inserted::Busy;
        }
        let mut inserted = Inserted::Added;
        if self.by_arrival.len() >= MAX_CANDIDATES {
            // The oldest of news nobody vouched for makes room first
            // (a bounded scan of the set); a member's news only for news
            // that is vouched for too.
            let unvouched = (self.by_arrival.iter())
                .find(|(_, c)| !c.vouched)
                .map(|(id, _)| *id);
            let oldest = match unvouched {
                Some(id) => id,
                None if vouched => *self.by_arrival.keys().next().expect("full"),
                None => return Inserted::Busy,
            };
            self.remove(oldest);
            inserted = Inserted::Evicted;
        }
        let period = probe_interval / CHECKS_PER_INTERVAL;
        self.checks[usize::from(vouched)].take(1, now, period);
        let id = self.next;
        self.next += 1;
        self.by_name.insert((update.name.clone(), update.addr), id);
        self.by_seq.insert(seq, id);
        self.by_arrival.insert(
            id,
            Candidate {
                update,
                priority,
                seq,
                vouched,
                direct_only,
                indirect: 0,
                stage: Stage::Direct,
                relays: Vec::new(),
                heard: now,
            },
        );
        inserted
    }

    fn unindex(&mut self, c: &Candidate) {
        self.by_name.remove(&(c.update.name.clone(), c.update.addr));
        self.by_seq.remove(&c.seq);
    }

    fn remove(&mut self, id: u64) -> Option<Candidate> {
        let c = self.by_arrival.remove(&id)?;
        self.unindex(&c);
        Some(c)
    }

    /// Takes out a candidate that is admitted now.
    fn admitted(&mut self, id: u64) -> Option<Candidate> {
        let c = self.remove(id)?;
        if self.answered.len() == ANSWERED {
            self.answered.pop_front();
        }
        self.answered.push_back(c.seq);
        Some(c)
    }

    /// Whether `seq` belongs to a recent check that ended with an
    /// admission: an answer to it is late, not unsolicited.
    pub fn was_answered(&self, seq: u32) -> bool {
        self.answered.contains(&seq)
    }

    /// A packet from `name` arrived from `from`: the candidate of that
    /// name, taken out, if the news gave that address. (A packet from the
    /// name at another address admits nothing: anyone may put any name in
    /// a packet, and only the address the news gave was checked.)
    pub fn seen(&mut self, name: &Name, from: SocketAddr) -> Option<Candidate> {
        let &id = self.by_name.get(&(name.clone(), from))?;
        self.admitted(id)
    }

    /// An ack `seq` passed back by member `relay`: the candidate it
    /// answers, taken out, if `relay` is one of those asked to check it.
    pub fn relayed(&mut self, seq: u32, relay: &Name) -> Option<Candidate> {
        let &id = self.by_seq.get(&seq)?;
        let c = self.by_arrival.get(&id)?;
        if c.stage != Stage::Indirect || !c.relays.contains(relay) {
            return None;
        }
        self.admitted(id)
    }

    /// Members were asked to check candidate `seq`.
    pub fn asked(&mut self, seq: u32, relays: Vec<Name>) {
        let Some(&id) = self.by_seq.get(&seq) else {
            return;
        };
        if let Some(c) = self.by_arrival.get_mut(&id) {
            c.stage = Stage::Indirect;
            c.relays = relays;
        }
    }

    /// Takes out candidate `seq` (its time ran out).
    pub fn forget(&mut self, seq: u32) -> Option<Candidate> {
        let &id = self.by_seq.get(&seq)?;
        self.remove(id)
    }

    /// Takes out the candidate named `name` at `addr` (the table took it
    /// by another way: its own word, or a full state).
    pub fn drop_name(&mut self, name: &Name, addr: SocketAddr) -> Option<Candidate> {
        let &id = self.by_name.get(&(name.clone(), addr))?;
        self.admitted(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::member::Status;

    fn news(i: u32) -> Update {
        Update {
            name: Name::from(format!("fake-{i}").as_str()),
            addr: SocketAddr::from(([10, 253, (i >> 8) as u8, i as u8], 7946)),
            incarnation: 1,
            status: Status::Alive,
            accuser: Name::EMPTY,
            life: 7,
            evidence: None,
        }
    }

    const P: Duration = Duration::from_secs(1);

    fn add_at(c: &mut Candidates, i: u32, t: Instant) -> Inserted {
        c.insert(
            news(i),
            Priority::News,
            1000 + i,
            Told {
                vouched: true,
                direct_only: false,
            },
            t,
            P,
        )
    }

    fn add(c: &mut Candidates, i: u32) -> Inserted {
        add_at(c, i, Instant::ZERO)
    }

    #[test]
    fn checks_start_in_a_burst_then_a_few_per_interval() {
        let mut c = Candidates::new(1);
        for i in 0..CHECK_BURST {
            assert_eq!(add(&mut c, i), Inserted::Added);
        }
        assert_eq!(add(&mut c, 999), Inserted::Busy);
        assert!(
            !c.contains(&news(999).name, news(999).addr),
            "refused, not held"
        );
        let t = Instant::from_millis;
        let step = 1_000 / u64::from(CHECKS_PER_INTERVAL) + 1;
        // (The set is full too: the oldest makes room.)
        let back = add_at(&mut c, 999, t(step));
        assert_eq!(back, Inserted::Evicted, "a token back");
        assert_eq!(add_at(&mut c, 1000, t(step)), Inserted::Busy);
        let mut n = 0;
        for i in 2000..2100 {
            n += u32::from(add_at(&mut c, i, t(step + 1_000)) != Inserted::Busy);
        }
        assert_eq!(n, CHECKS_PER_INTERVAL, "one interval later");
    }

    #[test]
    fn a_full_set_evicts_the_oldest_candidate() {
        let mut c = Candidates::new(1);
        for i in 0..MAX_CANDIDATES as u32 {
            // Spread out in time: the set, not the checks, is the limit.
            let t = Instant::from_millis(u64::from(i) * 100);
            assert_eq!(add_at(&mut c, i, t), Inserted::Added);
        }
        assert_eq!(c.len(), MAX_CANDIDATES);
        let later = Instant::from_millis(100_000);
        assert_eq!(add_at(&mut c, 9_999, later), Inserted::Evicted);
        assert_eq!(c.len(), MAX_CANDIDATES);
        assert!(!c.contains(&news(0).name, news(0).addr), "the oldest went");
        assert!(c.get(1000).is_none(), "and its ping's number with it");
        assert!(
            c.contains(&news(1).name, news(1).addr)
                && c.contains(&news(9999).name, news(9999).addr)
        );
        assert_eq!(add_at(&mut c, 9_999, later), Inserted::Waiting, "no twice");
        assert_eq!(c.len(), MAX_CANDIDATES);
        assert_eq!(c.by_name.len(), MAX_CANDIDATES);
        assert_eq!(c.by_seq.len(), MAX_CANDIDATES);
    }

    #[test]
    fn only_a_packet_from_the_name_at_its_address_sees_a_candidate() {
        let mut c = Candidates::new(1);
        add(&mut c, 5);
        let elsewhere = SocketAddr::from(([10, 0, 0, 9], 7946));
        assert!(c.seen(&news(5).name, elsewhere).is_none());
        assert!(c.seen(&news(6).name, news(5).addr).is_none());
        let seen = c.seen(&news(5).name, news(5).addr).expect("seen");
        assert_eq!(seen.update, news(5));
        assert_eq!(c.len(), 0);
        assert!(c.get(1005).is_none());
    }

    #[test]
    fn only_an_asked_relay_admits_a_candidate_indirectly() {
        let mut c = Candidates::new(1);
        add(&mut c, 5);
        let r = Name::from("node-1");
        assert!(c.relayed(1005, &r).is_none(), "nobody was asked yet");
        c.asked(1005, vec![r.clone()]);
        assert_eq!(c.get(1005).map(|x| x.stage), Some(Stage::Indirect));
        assert!(c.relayed(1005, &Name::from("node-2")).is_none());
        assert!(c.relayed(1006, &r).is_none());
        assert!(c.relayed(1005, &r).is_some());
        assert!(c.forget(1005).is_none(), "gone");
        assert!(c.was_answered(1005), "its other answers are expected");
        assert!(!c.was_answered(1006));
    }

    #[test]
    fn forgetting_and_dropping_clear_every_index() {
        let mut c = Candidates::new(1);
        add(&mut c, 1);
        add(&mut c, 2);
        assert!(c.forget(1001).is_some());
        assert!(c.drop_name(&news(2).name, news(2).addr).is_some());
        assert_eq!(c.len(), 0);
        assert!(c.by_name.is_empty() && c.by_seq.is_empty());
        assert_eq!(add(&mut c, 1), Inserted::Added, "heard again: a new check");
    }
}
