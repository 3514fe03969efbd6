//! Ground truth and the observers that measure the cluster against it.
//!
//! The simulator knows who is really up. Each node's view is tracked
//! incrementally from the events it emits (one bit per member it sees alive),
//! so "every live node sees exactly the live set as alive" is known after every
//! event without scanning the cluster.

use serde::Serialize;
use swim_core::{Event, Instant, Member, Status};

/// One crash and how the cluster noticed it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CrashReport {
    /// The crashed node's index.
    pub node: usize,
    /// When it crashed.
    pub crashed_at_ms: u64,
    /// When some live node first probed it (sent it a ping) after the crash.
    pub first_probe_ms: Option<u64>,
    /// When some live node first suspected it.
    pub first_suspect_ms: Option<u64>,
    /// When some live node first declared it dead.
    pub first_dead_ms: Option<u64>,
    /// When every live node held it dead.
    pub all_dead_ms: Option<u64>,
    /// When it was restarted, if it was while its crash was still being
    /// measured (its dead verdict then need not reach everyone).
    pub restarted_at_ms: Option<u64>,
    /// How the dead verdict spread: `(ms after the first dead verdict,
    /// fraction of live nodes that declared it dead)`, one point each time
    /// another node did (by its own suspicion timing out or by gossip; a
    /// node that declared it and then stopped still counts).
    pub dead_curve: Vec<(u64, f64)>,
    #[serde(skip)]
    declared: Vec<bool>,
}

/// A fault that healed, and how long the cluster took to re-converge.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct HealReport {
    /// What ended: "restart of node-7", "partition healed", "node-3
    /// resumed", ...
    pub what: String,
    /// Whether it was a process restart (its node is back as a new
    /// process), not a network or scheduling fault that ended.
    pub restart: bool,
    /// When the fault healed (restart, resume, release, heal, end of flapping).
    pub healed_at_ms: u64,
    /// How long after that every live node saw exactly the live set alive.
    pub reconverged_after_ms: Option<u64>,
    /// After a partition healed: how long until every running node held
    /// every running node's keys as their owner does (checked each second).
    pub keys_agreed_after_ms: Option<u64>,
}

/// A graceful leave and how the cluster learned of it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LeaveReport {
    /// The node that left.
    pub node: usize,
    /// When it began to leave.
    pub left_at_ms: u64,
    /// How long until every live node had reported it left (a
    /// `MemberLeft` event), ms after the leave; `None`: not by the end.
    pub left_everywhere_after_ms: Option<u64>,
    /// Live nodes that reported it left.
    pub told: usize,
    #[serde(skip)]
    knows: Vec<bool>,
}

/// A restarted node catching up with the cluster's keys.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CatchUpReport {
    /// The node.
    pub node: usize,
    /// When it restarted.
    pub restarted_at_ms: u64,
    /// How long until it held every running node's keys as their owners
    /// do (checked every 100 ms; `None`: not by the end of the run).
    pub keys_complete_after_ms: Option<u64>,
}

/// How one fresh update spread: the fraction of live nodes that know it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Coverage {
    /// The member the update is about.
    pub node: usize,
    /// For a key write: the key (the member's own), else `None`.
    pub key: Option<String>,
    /// When it was published.
    pub at_ms: u64,
    /// `(ms after publication, fraction of live nodes that know it)`, one
    /// point each time another node learns it.
    pub curve: Vec<(u64, f64)>,
    /// When every live node knew it (ms after publication).
    pub complete_after_ms: Option<u64>,
    #[serde(skip)]
    incarnation: u64,
    #[serde(skip)]
    knows: Vec<bool>,
}

/// What the observers measured.
#[derive(Debug, Default)]
pub struct Observer {
    live: Vec<bool>,
    live_count: usize,
    /// `view[v]` has bit `m` set when node `v` sees member `m` alive.
    view: Vec<Vec<u64>>,
    true_seen: Vec<usize>,
    false_seen: Vec<usize>,
    ok: Vec<bool>,
    ok_count: usize,
    pub(crate) all_started: bool,
    /// First time every live node saw exactly the live set alive (after all started).
    pub converged_at: Option<Instant>,
    /// Whether the cluster is converged right now.
    pub converged_now: bool,
    /// The last time the cluster was converged.
    pub last_converged_at: Option<Instant>,
    /// Crash records, in crash order.
    pub crashes: Vec<CrashReport>,
    active_crash: Vec<Option<usize>>,
    /// Events of type failed seen about each member (for leave checks).
    pub failed_events: Vec<u64>,
    /// Every healed fault and its re-convergence.
    pub heals: Vec<HealReport>,
    /// Restarted nodes and how long they took to hold every namespace.
    pub catch_ups: Vec<CatchUpReport>,
    /// Graceful leaves and how the cluster learned of them.
    pub leaves: Vec<LeaveReport>,
    /// Spread of each announced update.
    pub coverage: Vec<Coverage>,
}

impl Observer {
    pub(crate) fn new(n: usize) -> Self {
        Observer {
            live: vec![false; n],
            view: vec![vec![0; n.div_ceil(64)]; n],
            true_seen: vec![0; n],
            false_seen: vec![0; n],
            ok: vec![false; n],
            active_crash: vec![None; n],
            failed_events: vec![0; n],
            ..Default::default()
        }
    }

    /// Is node `i` really up (started, not crashed, not leaving)?
    pub fn is_live(&self, i: usize) -> bool {
        self.live[i]
    }

    /// How many live nodes see exactly the live set alive right now.
    pub fn converged_nodes(&self) -> usize {
        self.ok_count
    }

    /// Over all live nodes, how many live members they miss (do not see alive).
    pub fn missing_views(&self) -> usize {
        (0..self.live.len())
            .filter(|&v| self.live[v])
            .map(|v| self.live_count - self.true_seen[v])
            .sum()
    }

    /// Every `(viewer, member)` pair where a live viewer does not see a live
    /// member alive (O(n²): for diagnostics and tests, not the hot path).
    pub fn missing_pairs(&self) -> Vec<(usize, usize)> {
        let n = self.live.len();
        let live = |i: usize| self.live[i];
        (0..n)
            .filter(|&v| live(v))
            .flat_map(|v| {
                (0..n)
                    .filter(move |&m| live(m) && !self.bit(v, m))
                    .map(move |m| (v, m))
            })
            .collect()
    }

    /// How many members node `v` sees alive (itself included); 0 when it is down.
    pub fn seen_alive(&self, v: usize) -> usize {
        self.true_seen[v] + self.false_seen[v]
    }

    /// How many nodes are really up.
    pub fn live_count(&self) -> usize {
        self.live_count
    }

    fn bit(&self, v: usize, m: usize) -> bool {
        self.view[v][m / 64] >> (m % 64) & 1 == 1
    }

    fn set_view(&mut self, v: usize, m: usize, alive: bool) {
        if self.bit(v, m) == alive {
            return;
        }
        self.view[v][m / 64] ^= 1 << (m % 64);
        let counter = if self.live[m] {
            &mut self.true_seen[v]
        } else {
            &mut self.false_seen[v]
        };
        if alive {
            *counter += 1;
        } else {
            *counter -= 1;
        }
        self.refresh(v);
    }

    fn refresh(&mut self, v: usize) {
        let ok = self.live[v] && self.true_seen[v] == self.live_count && self.false_seen[v] == 0;
        if ok != self.ok[v] {
            self.ok[v] = ok;
            if ok {
                self.ok_count += 1;
            } else {
                self.ok_count -= 1;
            }
        }
    }

    pub(crate) fn check_converged(&mut self, now: Instant) {
        self.converged_now = self.all_started && self.ok_count == self.live_count;
        if !self.converged_now {
            return;
        }
        self.last_converged_at = Some(now);
        if self.converged_at.is_none() {
            self.converged_at = Some(now);
        }
        for h in self.heals.iter_mut().rev() {
            if h.reconverged_after_ms.is_some() {
                break;
            }
            h.reconverged_after_ms = Some(now.as_millis() - h.healed_at_ms);
        }
    }

    /// A fault healed at `now`: measure how long until the cluster re-converges.
    pub(crate) fn healed(&mut self, now: Instant, what: String, restart: bool) {
        self.heals.push(HealReport {
            what,
            restart,
            healed_at_ms: now.as_millis(),
            reconverged_after_ms: None,
            keys_agreed_after_ms: None,
        });
    }

    /// Whether node `v` holds member `m` alive now.
    pub(crate) fn sees_alive(&self, v: usize, m: usize) -> bool {
        self.bit(v, m)
    }

    /// Node `m` published a fresh update at `incarnation`: follow its spread.
    pub(crate) fn announced(&mut self, m: usize, incarnation: u64, now: Instant) {
        let mut knows = vec![false; self.live.len()];
        knows[m] = true;
        let fraction = 1.0 / self.live_count.max(1) as f64;
        self.coverage.push(Coverage {
            node: m,
            key: None,
            at_ms: now.as_millis(),
            curve: vec![(0, fraction)],
            complete_after_ms: None,
            incarnation,
            knows,
        });
    }

    /// Node `m` wrote `key` at `version` at `now`: follow its spread.
    pub(crate) fn wrote(&mut self, m: usize, key: &str, version: u64, now: Instant) {
        self.announced(m, version, now);
        if let Some(c) = self.coverage.last_mut() {
            c.key = Some(key.to_string());
        }
    }

    fn learned(&mut self, v: usize, member: &Member, now: Instant) {
        let Some(m) = crate::sim::index_of_name(&member.name) else {
            return;
        };
        self.spread(v, m, None, member.incarnation, now);
    }

    /// Node `v` learned update (`key`, `at` incarnation or version) of member `m`.
    fn spread(&mut self, v: usize, m: usize, key: Option<&str>, at: u64, now: Instant) {
        let live = &self.live;
        let live_count = self.live_count.max(1);
        for c in self
            .coverage
            .iter_mut()
            .filter(|c| c.node == m && c.key.as_deref() == key && at >= c.incarnation)
        {
            if c.knows[v] || !live[v] {
                continue;
            }
            c.knows[v] = true;
            let known = c.knows.iter().zip(live).filter(|(k, l)| **k && **l).count();
            let after = now.as_millis() - c.at_ms;
            c.curve.push((after, known as f64 / live_count as f64));
            if known >= live_count && c.complete_after_ms.is_none() {
                c.complete_after_ms = Some(after);
            }
        }
    }

    /// Ground truth: node `m` comes up (`true`) or goes away (`false`).
    pub(crate) fn set_live(&mut self, m: usize, live: bool) {
        if self.live[m] == live {
            return;
        }
        self.live[m] = live;
        if live {
            self.live_count += 1;
        } else {
            self.live_count -= 1;
        }
        for v in 0..self.live.len() {
            if self.bit(v, m) {
                if live {
                    self.false_seen[v] -= 1;
                    self.true_seen[v] += 1;
                } else {
                    self.true_seen[v] -= 1;
                    self.false_seen[v] += 1;
                }
            }
        }
        for v in 0..self.live.len() {
            self.refresh(v);
        }
    }

    /// A node process starts: it sees only itself.
    pub(crate) fn started(&mut self, v: usize) {
        self.set_view(v, v, true);
        self.set_live(v, true);
    }

    /// A node process is gone: its view goes with it.
    pub(crate) fn stopped(&mut self, v: usize, crashed: bool, now: Instant) {
        self.set_live(v, false);
        for m in 0..self.live.len() {
            if self.bit(v, m) {
                self.set_view(v, m, false);
            }
        }
        if crashed {
            self.active_crash[v] = Some(self.crashes.len());
            self.crashes.push(CrashReport {
                node: v,
                crashed_at_ms: now.as_millis(),
                first_probe_ms: None,
                first_suspect_ms: None,
                first_dead_ms: None,
                all_dead_ms: None,
                restarted_at_ms: None,
                dead_curve: Vec::new(),
                declared: vec![false; self.live.len()],
            });
        }
    }

    /// A node is leaving (no longer part of the live set).
    pub(crate) fn leaving(&mut self, v: usize, now: Instant) {
        self.set_live(v, false);
        self.leaves.push(LeaveReport {
            node: v,
            left_at_ms: now.as_millis(),
            left_everywhere_after_ms: None,
            told: 0,
            knows: vec![false; self.live.len()],
        });
    }

    /// Live node `v` reported member `m` left at `now`.
    fn told_left(&mut self, v: usize, m: usize, now: Instant) {
        let live = &self.live;
        for l in self.leaves.iter_mut().filter(|l| l.node == m) {
            if l.knows[v] {
                continue;
            }
            l.knows[v] = true;
            l.told = l.knows.iter().zip(live).filter(|(k, l)| **k && **l).count();
            if l.told >= self.live_count && l.left_everywhere_after_ms.is_none() {
                l.left_everywhere_after_ms = Some(now.as_millis() - l.left_at_ms);
            }
        }
    }

    /// Node `v` emitted `event` at `now`. `holds_dead(v, m)` says whether
    /// node `v` currently holds `m` dead or has reaped it.
    pub(crate) fn on_event(
        &mut self,
        v: usize,
        event: &Event,
        now: Instant,
        all_dead: impl FnOnce(usize) -> bool,
    ) {
        if let Event::KeySet {
            member,
            key,
            version,
            ..
        } = event
        {
            if let Some(m) = crate::sim::index_of_name(member) {
                if !self.coverage.is_empty() {
                    self.spread(v, m, Some(key), *version, now);
                }
            }
            return;
        }
        let Some(member) = event.about() else {
            return;
        };
        let alive = matches!(
            event,
            Event::MemberJoined { .. } | Event::MemberRecovered(_) | Event::MemberUpdated(_)
        );
        let Some(m) = crate::sim::index_of_name(&member.name).filter(|&m| m < self.live.len())
        else {
            return;
        };
        self.set_view(v, m, alive && member.status == Status::Alive);
        if alive && !self.coverage.is_empty() {
            self.learned(v, member, now);
        }
        if !self.live[v] {
            return;
        }
        if matches!(event, Event::MemberFailed { .. }) {
            self.failed_events[m] += 1;
        }
        if matches!(event, Event::MemberLeft(_)) && !self.leaves.is_empty() {
            self.told_left(v, m, now);
        }
        let Some(c) = self.active_crash[m] else {
            return;
        };
        let ms = now.as_millis();
        let record = &mut self.crashes[c];
        match event {
            Event::MemberSuspect { .. } => {
                record.first_suspect_ms.get_or_insert(ms);
            }
            Event::MemberFailed { .. } => {
                let first = *record.first_dead_ms.get_or_insert(ms);
                if !record.declared[v] {
                    record.declared[v] = true;
                    let declared = record.dead_curve.len() + 1;
                    let share = (declared as f64 / self.live_count.max(1) as f64).min(1.0);
                    record.dead_curve.push((ms - first, share));
                }
                if record.all_dead_ms.is_none() && all_dead(m) {
                    record.all_dead_ms = Some(ms);
                }
            }
            _ => {}
        }
    }

    /// Whether node `m` is down after a crash whose first probe is not yet seen.
    pub(crate) fn awaits_probe(&self, m: usize) -> bool {
        self.active_crash[m].is_some_and(|c| self.crashes[c].first_probe_ms.is_none())
    }

    /// Some node pinged the crashed node `m` at `now`.
    pub(crate) fn probed(&mut self, m: usize, now: Instant) {
        if let Some(c) = self.active_crash[m] {
            self.crashes[c]
                .first_probe_ms
                .get_or_insert(now.as_millis());
        }
    }

    /// Marks a crashed node as back (its crash record is closed).
    pub(crate) fn restarted(&mut self, v: usize, now: Instant) {
        if let Some(c) = self.active_crash[v].take() {
            let record = &mut self.crashes[c];
            if record.all_dead_ms.is_none() {
                record.restarted_at_ms = Some(now.as_millis());
            }
        }
    }
}
