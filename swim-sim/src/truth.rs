//! Ground truth about verdicts: which members are healthy, which are sick,
//! which links work, and whether each suspicion or death a view takes is
//! false (about a healthy member it can reach) or expected.
//!
//! The simulator tells this module every fault as it starts and ends, so
//! the judgement does not depend on how a scenario describes a fault:
//!
//! - A **link** `a -> b` *works* while it is connected (no cut, not down,
//!   not held) and loses less than [`SICK_LOSS`] of its datagrams beyond
//!   what every link loses (the higher of the link's own loss and the
//!   nodes'; the network's loss is the same everywhere).
//! - A member is **sick** while it does not run, is paused or slow, loses
//!   [`SICK_LOSS`] or more of what it sends or receives (its own loss), or
//!   can send to (or hear from) less than [`SICK_REACH`] of the other nodes
//!   because of the links. Loss every link shares (the network's) makes no
//!   link fail and no node sick: each is judged against the rest. A member with 80% loss on its links is sick, and
//!   its death is expected; the minority side of a partition is sick.
//! - A view V taking a verdict (suspect, dead) about member M at time t is
//!   **false** when M runs and is healthy at t, was not sick in the last
//!   [`grace`] before t (a refutation needs that long to reach
//!   everyone), and the link V <-> M works both ways at t and worked
//!   through the grace. Anything else is **expected**. Whether V itself is
//!   healthy does not matter: a sick node's stale verdict about a member it
//!   can reach again is false, and gossip that makes a healthy view adopt
//!   it is false again.
//!
//! Per member the report gives how often it was declared dead, the peak
//! share of views that held it dead, and its dead -> alive flips.

use crate::network::LinkState;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use swim_core::Instant;

/// Loss at or above which a link does not work and a node's own loss makes
/// it sick: a quarter of the datagrams (a probe and its ack both arrive
/// with probability at most 56%).
pub const SICK_LOSS: f64 = 0.25;

/// How long after a member's sickness ended (or a link was repaired) a
/// verdict about it is still expected: two probe periods for it to hear
/// the suspicion, plus the time its refutation is retransmitted
/// (`retransmit_mult * ceil(log10(n + 1))` gossip rounds). With
/// `Config::lan()` and 100 nodes: 2 s + 12 * 200 ms = 4.4 s.
pub fn grace(c: &swim_core::Config, nodes: usize) -> Duration {
    let rounds = c.retransmit_mult * ((nodes as f64 + 1.0).log10().ceil() as u32).max(1);
    c.probe_interval * 2 + c.gossip_interval * rounds
}

/// At most this many false deaths are listed one by one (all are counted).
pub const LISTED: usize = 500;

/// At most this many cross-cut deaths are listed one by one (all are
/// counted): a partition of `n` makes about `n^2 / 2` of them.
pub const CROSS_CUT_LISTED: usize = 100;

/// One false death (a view took a dead verdict about a healthy member it
/// could reach), or one cross-cut death (an expected verdict about a
/// member the view could not reach when it took it; `cause` says why it
/// is expected).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FalseDeath {
    /// The view (node index) that holds the member dead.
    pub view: usize,
    /// The member declared dead.
    pub member: usize,
    /// When, in simulated ms.
    pub at_ms: u64,
    /// Who declared it, as the event names it (`None`: the event does not say).
    pub accuser: Option<String>,
    /// What ground truth knows around it: recent sickness of the accuser
    /// or the view, or "no fault near".
    pub cause: String,
    /// Whether the view was sick when it took the verdict, or within the
    /// grace before (the sick node's own stale verdict, as against one a
    /// healthy view took or adopted).
    pub view_was_sick: bool,
    /// The verdict's evidence as the view took it (`None`: the event
    /// carried no verdict).
    pub evidence: Option<Evidence>,
}

/// The evidence of a dead verdict, as a view took it (see
/// [`swim_core::Verdict`]).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Evidence {
    /// The members whose suspicions the accuser counted (at most
    /// [`swim_core::MAX_CONFIRMERS`]); empty without evidence.
    pub confirmers: Vec<String>,
    /// The accuser's Lifeguard score at the verdict (`None`: the accuser
    /// sent no evidence).
    pub accuser_score: Option<u32>,
    /// How long the accuser had suspected the member (ms; `None`: no
    /// evidence).
    pub suspected_ms: Option<u64>,
    /// The member whose packet carried the verdict to the view (`None`:
    /// the view's own verdict).
    pub learned_from: Option<String>,
}

impl Evidence {
    /// The evidence of `v`.
    pub fn of(v: &swim_core::Verdict) -> Evidence {
        let e = v.evidence.as_ref();
        Evidence {
            confirmers: e
                .map(|e| e.confirmers.iter().map(|c| c.to_string()).collect())
                .unwrap_or_default(),
            accuser_score: e.map(|e| e.accuser_score),
            suspected_ms: e.map(|e| u64::try_from(e.suspected_for.as_millis()).unwrap_or(u64::MAX)),
            learned_from: v.learned_from.as_ref().map(|n| n.to_string()),
        }
    }
}

impl FalseDeath {
    /// One line for the report: who held whom dead, when, the chain of
    /// evidence, and what ground truth knows around it.
    pub fn explain(&self) -> String {
        let mut out = format!(
            "node-{} held node-{} dead at {:.1} s: accused by {}",
            self.view,
            self.member,
            self.at_ms as f64 / 1000.0,
            self.accuser.as_deref().unwrap_or("(not named)")
        );
        if let Some(e) = &self.evidence {
            if let (Some(score), Some(ms)) = (e.accuser_score, e.suspected_ms) {
                out.push_str(&format!(
                    " (Lifeguard score {score}) after {:.1} s of suspicion, confirmed by {}",
                    ms as f64 / 1000.0,
                    if e.confirmers.is_empty() {
                        "nobody".to_string()
                    } else {
                        e.confirmers.join(", ")
                    }
                ));
            } else {
                out.push_str(" (no evidence sent)");
            }
            match &e.learned_from {
                Some(from) => out.push_str(&format!("; learned from {from}")),
                None => out.push_str("; its own verdict"),
            }
        }
        out.push_str(&format!("; {}", self.cause));
        out
    }
}

/// What happened to one member's standing, over the run (only members
/// suspected, declared dead or flipped are listed).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct MemberVerdicts {
    /// The member.
    pub member: usize,
    /// Dead verdicts taken about it (one per view and event).
    pub declared_dead: u64,
    /// How many of them were false.
    pub false_deaths: u64,
    /// Who declared its false deaths, and how many each (as events name
    /// the accuser; "?" when they do not).
    pub false_accusers: BTreeMap<String, u64>,
    /// How many were expected (it was sick, down or cut off from the view).
    pub expected_deaths: u64,
    /// False suspicions of it.
    pub false_suspicions: u64,
    /// The highest share of the other running views that held it dead at once.
    pub peak_dead_share: f64,
    /// When that share was first reached (ms).
    pub peak_dead_at_ms: u64,
    /// Dead -> alive changes, over all views.
    pub flips: u64,
    /// The most dead -> alive changes one view made.
    pub max_flips_per_view: u32,
}

/// How well the healthy views held one sick member out during the
/// hold-out window ([`crate::Options::hold_out`]).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct HoldOut {
    /// The sick member.
    pub member: usize,
    /// The lowest share of healthy views that held it not alive (suspect,
    /// dead or unknown), over the samples taken while it was sick.
    pub min_share: f64,
    /// When that lowest share was sampled (ms).
    pub min_at_ms: u64,
    /// The mean share over those samples.
    pub mean_share: f64,
    /// Samples taken (every [`SAMPLE`]).
    pub samples: u64,
    /// Dead -> alive changes by healthy views while it was sick.
    pub flips: u64,
    /// The most such changes one healthy view made.
    pub max_flips_per_view: u32,
}

/// How often hold-out shares are sampled.
pub const SAMPLE: Duration = Duration::from_millis(500);

/// A verdict a view took, as ground truth judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Suspect,
    Dead,
}

/// Ground truth and the verdict records.
#[derive(Debug)]
pub(crate) struct Truth {
    n: usize,
    grace: Duration,
    /// Node-level faults in force (paused, slow), with their cause.
    node_fault: Vec<Vec<&'static str>>,
    /// Sickness that the links cause now.
    link_sick: Vec<Option<&'static str>>,
    /// When each member's last sickness ended, and what it was.
    sick_until: Vec<Option<(Instant, &'static str)>>,
    /// Link states that ended within the grace, with when they ended.
    history: VecDeque<(Instant, LinkState)>,
    /// `dead[v]` has bit `m` set while view `v` holds `m` dead.
    dead: Vec<Vec<u64>>,
    dead_count: Vec<u32>,
    flips: BTreeMap<(usize, usize), u32>,
    members: BTreeMap<usize, MemberVerdicts>,
    /// False deaths, the first [`LISTED`].
    pub false_list: Vec<FalseDeath>,
    /// Expected deaths taken across a broken link (a cut), the first
    /// [`CROSS_CUT_LISTED`].
    pub cross_cut_list: Vec<FalseDeath>,
    /// How many deaths were taken across a broken link.
    pub cross_cut_deaths: u64,
    pub false_deaths: u64,
    /// False deaths taken by views that were healthy when they took them
    /// (not sick then, nor within the grace before).
    pub false_deaths_healthy_views: u64,
    pub expected_deaths: u64,
    pub false_suspicions: u64,
    /// False suspicions a view raised itself (it was the accuser), not
    /// adopted by gossip: one per failed probe of a healthy member.
    pub false_accusations: u64,
    /// The hold-out window and what it measured.
    window: Option<(Instant, Instant)>,
    next_sample: Instant,
    hold_out: BTreeMap<usize, HoldOut>,
    window_flips: BTreeMap<(usize, usize), u32>,
}

impl Truth {
    /// Ground truth for `n` nodes; verdicts within `grace` of a sickness
    /// or a broken link are expected.
    pub(crate) fn new(n: usize, grace: Duration, window: Option<(Duration, Duration)>) -> Self {
        let window = window.map(|(a, b)| (Instant::ZERO + a, Instant::ZERO + b));
        Truth {
            n,
            grace,
            node_fault: vec![Vec::new(); n],
            link_sick: vec![None; n],
            sick_until: vec![None; n],
            history: VecDeque::new(),
            dead: vec![vec![0; n.div_ceil(64)]; n],
            dead_count: vec![0; n],
            flips: BTreeMap::new(),
            members: BTreeMap::new(),
            false_list: Vec::new(),
            cross_cut_list: Vec::new(),
            cross_cut_deaths: 0,
            false_deaths: 0,
            false_deaths_healthy_views: 0,
            expected_deaths: 0,
            false_suspicions: 0,
            false_accusations: 0,
            next_sample: window.map_or(Instant::ZERO, |w| w.0),
            window,
            hold_out: BTreeMap::new(),
            window_flips: BTreeMap::new(),
        }
    }

    /// Why member `m` is sick now (`running`: its process runs), if it is.
    pub(crate) fn sick(&self, m: usize, running: bool) -> Option<&'static str> {
        if !running {
            return Some("not running");
        }
        self.node_fault[m].first().copied().or(self.link_sick[m])
    }

    /// Whether view `v` is sick at `now` (`running`: its process runs) or
    /// was within the grace before: its verdicts then may be its own
    /// stale ones.
    fn sick_near(&self, v: usize, running: bool, now: Instant) -> bool {
        self.sick(v, running).is_some()
            || self.sick_until[v].is_some_and(|(t, _)| {
                t.as_micros() + self.grace.as_micros() as u64 >= now.as_micros()
            })
    }

    /// A node-level fault (`cause`: "paused", "slow") starts (`on`) or
    /// ends on `m`; faults of different causes overlap.
    pub(crate) fn node_fault(&mut self, m: usize, cause: &'static str, on: bool, now: Instant) {
        let faults = &mut self.node_fault[m];
        if on {
            if !faults.contains(&cause) {
                faults.push(cause);
            }
        } else if let Some(k) = faults.iter().position(|&c| c == cause) {
            faults.remove(k);
            self.sick_until[m] = Some((now, cause));
        }
    }

    /// Member `m`'s process stops or starts again: a new life.
    pub(crate) fn process_changed(&mut self, m: usize, now: Instant) {
        self.sick_until[m] = Some((now, "restarted"));
    }

    /// The links change at `now` from `old` to `new`.
    pub(crate) fn links_changed(&mut self, old: &LinkState, new: &LinkState, now: Instant) {
        for m in 0..self.n {
            if let Some(cause) = self.link_sick[m] {
                self.sick_until[m] = Some((now, cause));
            }
        }
        self.link_sick = link_sickness(new, self.n);
        self.history.push_back((now, old.clone()));
        self.prune(now);
    }

    fn prune(&mut self, now: Instant) {
        while let Some((ended, _)) = self.history.front() {
            if ended.as_micros() + (self.grace.as_micros() as u64) < now.as_micros() {
                self.history.pop_front();
            } else {
                break;
            }
        }
    }

    /// Why a verdict by view `v` about member `m` now is expected; `None`:
    /// it is false.
    fn expected(
        &self,
        v: usize,
        m: usize,
        running: bool,
        links: &LinkState,
        now: Instant,
    ) -> Option<String> {
        if let Some(cause) = self.sick(m, running) {
            return Some(format!("member {cause}"));
        }
        let within = |t: Instant| t.as_micros() + self.grace.as_micros() as u64 >= now.as_micros();
        if let Some((t, cause)) = self.sick_until[m].filter(|(t, _)| within(*t)) {
            return Some(format!(
                "member recovering ({cause} until {} ms)",
                t.as_millis()
            ));
        }
        let works = |s: &LinkState| {
            s.works_as_the_rest(v, m, SICK_LOSS) && s.works_as_the_rest(m, v, SICK_LOSS)
        };
        if !works(links) {
            return Some("link to the view cut or lossy".into());
        }
        if let Some((t, _)) = self
            .history
            .iter()
            .filter(|(t, _)| within(*t))
            .find(|(_, s)| !works(s))
        {
            return Some(format!(
                "link to the view recovering (broken until {} ms)",
                t.as_millis()
            ));
        }
        None
    }

    /// What ground truth knows around a false verdict: recent sickness of
    /// the accuser or the view.
    fn context(&self, v: usize, accuser: Option<usize>, running: &dyn Fn(usize) -> bool) -> String {
        let about = |who: &str, i: usize| {
            if let Some(c) = self.sick(i, running(i)) {
                Some(format!("{who} node-{i} is sick ({c})"))
            } else {
                self.sick_until[i].map(|(t, c)| {
                    format!("{who} node-{i} was sick ({c}) until {} ms", t.as_millis())
                })
            }
        };
        let mut parts: Vec<String> = Vec::new();
        if let Some(a) = accuser.filter(|&a| a != v) {
            parts.extend(about("accuser", a));
        }
        parts.extend(about("view", v));
        if parts.is_empty() {
            "no fault near the view or the accuser".into()
        } else {
            parts.join("; ")
        }
    }

    /// View `v` took `verdict` about member `m` at `now`, as `accuser`
    /// declared (with `evidence`, for a death).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn verdict(
        &mut self,
        v: usize,
        m: usize,
        verdict: Verdict,
        accuser: Option<&str>,
        evidence: Option<&swim_core::Verdict>,
        links: &LinkState,
        running: &dyn Fn(usize) -> bool,
        live_views: usize,
        now: Instant,
    ) {
        self.prune(now);
        let expected = self.expected(v, m, running(m), links, now);
        let record = self.members.entry(m).or_insert_with(|| MemberVerdicts {
            member: m,
            ..Default::default()
        });
        match verdict {
            Verdict::Suspect => {
                if expected.is_none() {
                    record.false_suspicions += 1;
                    self.false_suspicions += 1;
                    if accuser.and_then(crate::sim::index_of_name) == Some(v) {
                        self.false_accusations += 1;
                    }
                }
            }
            Verdict::Dead => {
                record.declared_dead += 1;
                if let Some(cause) = expected {
                    record.expected_deaths += 1;
                    self.expected_deaths += 1;
                    let cut = !(links.works_as_the_rest(v, m, SICK_LOSS)
                        && links.works_as_the_rest(m, v, SICK_LOSS));
                    if cut {
                        self.cross_cut_deaths += 1;
                    }
                    if cut && self.cross_cut_list.len() < CROSS_CUT_LISTED {
                        self.cross_cut_list.push(FalseDeath {
                            view: v,
                            member: m,
                            at_ms: now.as_millis(),
                            accuser: accuser.map(str::to_string),
                            cause,
                            view_was_sick: self.sick_near(v, running(v), now),
                            evidence: evidence.map(Evidence::of),
                        });
                    }
                } else {
                    record.false_deaths += 1;
                    *record
                        .false_accusers
                        .entry(accuser.unwrap_or("?").to_string())
                        .or_default() += 1;
                    self.false_deaths += 1;
                    let view_was_sick = self.sick_near(v, running(v), now);
                    if !view_was_sick {
                        self.false_deaths_healthy_views += 1;
                    }
                    if self.false_list.len() < LISTED {
                        let from = accuser.and_then(crate::sim::index_of_name);
                        let cause = self.context(v, from, running);
                        self.false_list.push(FalseDeath {
                            view: v,
                            member: m,
                            at_ms: now.as_millis(),
                            accuser: accuser.map(str::to_string),
                            cause,
                            view_was_sick,
                            evidence: evidence.map(Evidence::of),
                        });
                    }
                }
                self.set_dead(v, m, true, running, live_views, now);
            }
        }
    }

    fn bit(&self, v: usize, m: usize) -> bool {
        self.dead[v][m / 64] >> (m % 64) & 1 == 1
    }

    /// View `v` holds `m` dead (`true`) or alive again (`false`); a change
    /// back to alive is a flip.
    pub(crate) fn set_dead(
        &mut self,
        v: usize,
        m: usize,
        dead: bool,
        running: &dyn Fn(usize) -> bool,
        live_views: usize,
        now: Instant,
    ) {
        if self.bit(v, m) == dead {
            return;
        }
        self.dead[v][m / 64] ^= 1 << (m % 64);
        let record = self.members.entry(m).or_insert_with(|| MemberVerdicts {
            member: m,
            ..Default::default()
        });
        if dead {
            self.dead_count[m] += 1;
            let others = live_views.saturating_sub(usize::from(running(m))).max(1);
            let share = f64::from(self.dead_count[m]) / others as f64;
            if share > record.peak_dead_share {
                record.peak_dead_share = share.min(1.0);
                record.peak_dead_at_ms = now.as_millis();
            }
            return;
        }
        self.dead_count[m] -= 1;
        record.flips += 1;
        let f = self.flips.entry((v, m)).or_default();
        *f += 1;
        record.max_flips_per_view = record.max_flips_per_view.max(*f);
        let in_window = self.window.is_some_and(|(a, b)| now >= a && now <= b);
        if in_window && self.sick(v, running(v)).is_none() && self.sick(m, running(m)).is_some() {
            let f = self.window_flips.entry((v, m)).or_default();
            *f += 1;
            let f = *f;
            let h = self.hold_out.entry(m).or_insert_with(|| empty_hold_out(m));
            h.flips += 1;
            h.max_flips_per_view = h.max_flips_per_view.max(f);
        }
    }

    /// View `v`'s process is gone: it holds nothing any more.
    pub(crate) fn view_gone(&mut self, v: usize) {
        for m in 0..self.n {
            if self.bit(v, m) {
                self.dead[v][m / 64] ^= 1 << (m % 64);
                self.dead_count[m] -= 1;
            }
        }
    }

    /// How many views hold `m` dead now.
    pub(crate) fn dead_count(&self, m: usize) -> u32 {
        self.dead_count[m]
    }

    /// When the next hold-out sample is due (`None`: no window, or past it).
    pub(crate) fn next_sample(&self) -> Option<Instant> {
        let (_, end) = self.window?;
        (self.next_sample <= end).then_some(self.next_sample)
    }

    /// Samples, at `now`, the share of healthy views that hold each sick
    /// member not alive (`alive(v, m)`: view `v` holds `m` alive).
    pub(crate) fn sample(
        &mut self,
        now: Instant,
        running: &dyn Fn(usize) -> bool,
        alive: &dyn Fn(usize, usize) -> bool,
    ) {
        self.next_sample = now + SAMPLE;
        let healthy: Vec<usize> = (0..self.n)
            .filter(|&v| self.sick(v, running(v)).is_none())
            .collect();
        for m in 0..self.n {
            if !running(m) || self.sick(m, true).is_none() {
                continue;
            }
            let views = healthy.iter().filter(|&&v| v != m);
            let (mut out, mut all) = (0u64, 0u64);
            for &v in views {
                all += 1;
                out += u64::from(!alive(v, m));
            }
            if all == 0 {
                continue;
            }
            let share = out as f64 / all as f64;
            let h = self.hold_out.entry(m).or_insert_with(|| empty_hold_out(m));
            h.samples += 1;
            h.mean_share += (share - h.mean_share) / h.samples as f64;
            if share < h.min_share || h.samples == 1 {
                h.min_share = share;
                h.min_at_ms = now.as_millis();
            }
        }
    }

    /// Per member records, in member order.
    pub(crate) fn members(&self) -> Vec<MemberVerdicts> {
        self.members.values().cloned().collect()
    }

    /// Hold-out records, in member order.
    pub(crate) fn hold_outs(&self) -> Vec<HoldOut> {
        self.hold_out.values().cloned().collect()
    }
}

fn empty_hold_out(member: usize) -> HoldOut {
    HoldOut {
        member,
        min_share: 1.0,
        min_at_ms: 0,
        mean_share: 0.0,
        samples: 0,
        flips: 0,
        max_flips_per_view: 0,
    }
}

/// A node that can send to, or hear from, less than this share of the
/// other nodes (over links that work as well as the rest of the network) is
/// sick: the minority side of a cut, a node behind a bad uplink. Exactly
/// half is not less than half: a node cut from 50 of 100 others, like one
/// cut from 49 of 99, is on no minority side.
pub const SICK_REACH: f64 = 0.5;

/// Which nodes the links make sick in `s`, and why. Loss every link shares
/// (the network's) makes nobody sick: each node is judged against the rest.
fn link_sickness(s: &LinkState, n: usize) -> Vec<Option<&'static str>> {
    let mut out = vec![None; n];
    for (m, sick) in out.iter_mut().enumerate() {
        let (inbound, outbound) = s.node_loss(m);
        if inbound >= SICK_LOSS {
            *sick = Some("inbound loss");
        } else if outbound >= SICK_LOSS {
            *sick = Some("outbound loss");
        }
    }
    let others = n.saturating_sub(1).max(1) as f64;
    let short = |cannot: usize| (others - cannot as f64) / others < SICK_REACH;
    if s.only_node_loss() {
        // Links are bad only through other nodes' own loss.
        let loud_out = (0..n).filter(|&b| s.node_loss(b).1 >= SICK_LOSS).count();
        let deaf_in = (0..n).filter(|&b| s.node_loss(b).0 >= SICK_LOSS).count();
        for (m, sick) in out.iter_mut().enumerate() {
            let (i, o) = s.node_loss(m);
            let cannot_hear = loud_out - usize::from(o >= SICK_LOSS);
            let cannot_reach = deaf_in - usize::from(i >= SICK_LOSS);
            if sick.is_none() && (short(cannot_hear) || short(cannot_reach)) {
                *sick = Some("cut off from most members");
            }
        }
        return out;
    }
    for (m, sick) in out.iter_mut().enumerate() {
        if sick.is_some() {
            continue;
        }
        let (mut cannot_send, mut cannot_hear) = (0, 0);
        for b in (0..n).filter(|&b| b != m) {
            cannot_send += usize::from(!s.works_as_the_rest(m, b, SICK_LOSS));
            cannot_hear += usize::from(!s.works_as_the_rest(b, m, SICK_LOSS));
        }
        if short(cannot_send) {
            *sick = Some("cannot send to most members");
        } else if short(cannot_hear) {
            *sick = Some("cannot hear from most members");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{Direction, Links, Network};

    fn at(s: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(s)
    }

    fn judged(t: &mut Truth, links: &LinkState, v: usize, m: usize, now: Instant) -> u64 {
        let before = t.false_deaths;
        t.verdict(
            v,
            m,
            Verdict::Dead,
            Some("node-9"),
            None,
            links,
            &|_| true,
            10,
            now,
        );
        t.false_deaths - before
    }

    /// A false death is listed with its verdict's evidence, and the
    /// report's line shows the chain.
    #[test]
    fn a_false_death_is_listed_with_its_evidence() {
        let net = Network::default();
        let links = Links::new(10, &net);
        let mut t = Truth::new(10, Duration::from_secs(4), None);
        let mut verdict = *dead_verdict();
        t.verdict(
            1,
            2,
            Verdict::Dead,
            Some("node-9"),
            Some(&verdict),
            links.state(),
            &|_| true,
            10,
            at(7),
        );
        let d = &t.false_list[0];
        let e = d.evidence.as_ref().expect("evidence listed");
        assert_eq!(e.confirmers, ["node-4", "node-6"]);
        assert_eq!((e.accuser_score, e.suspected_ms), (Some(1), Some(5_000)));
        assert_eq!(e.learned_from.as_deref(), Some("node-3"));
        assert_eq!(
            d.explain(),
            "node-1 held node-2 dead at 7.0 s: accused by node-9 (Lifeguard score 1) after \
             5.0 s of suspicion, confirmed by node-4, node-6; learned from node-3; no fault \
             near the view or the accuser"
        );
        // Without evidence (an older build), and the view's own verdict.
        verdict.evidence = None;
        verdict.learned_from = None;
        t.verdict(
            3,
            2,
            Verdict::Dead,
            Some("node-3"),
            Some(&verdict),
            links.state(),
            &|_| true,
            10,
            at(8),
        );
        assert_eq!(
            t.false_list[1].explain(),
            "node-3 held node-2 dead at 8.0 s: accused by node-3 (no evidence sent); its own \
             verdict; no fault near the view or the accuser"
        );
        #[cfg(feature = "cli")]
        {
            let json = serde_json::to_value(&t.false_list[0]).unwrap();
            assert_eq!(json["evidence"]["confirmers"][1], "node-6");
        }
    }

    /// A verdict on node-2 by node-9, learned from node-3.
    fn dead_verdict() -> Box<swim_core::Verdict> {
        let evidence = swim_core::Evidence::new(
            ["node-4".into(), "node-6".into()],
            1,
            Duration::from_millis(5_000),
        );
        Box::new(swim_core::Verdict::new(
            1,
            "node-9".into(),
            Some(evidence),
            at(7),
            Some("node-3".into()),
            false,
        ))
    }

    /// A view is left out of "healthy views" only while it is sick, or
    /// within the grace after: a pause early in the run does not hide a
    /// false death it takes a minute later.
    #[test]
    fn a_view_is_sick_only_within_the_grace_of_its_sickness() {
        let net = Network::default();
        let links = Links::new(10, &net);
        let mut t = Truth::new(10, Duration::from_secs(4), None);
        t.node_fault(3, "paused", true, at(10));
        t.node_fault(3, "paused", false, at(15));
        // Within the grace (4 s) of its pause: its false death is a sick
        // view's.
        assert_eq!(judged(&mut t, links.state(), 3, 2, at(17)), 1);
        assert_eq!(t.false_deaths_healthy_views, 0);
        assert!(t.false_list[0].view_was_sick);
        // A minute later it is a healthy view again.
        assert_eq!(judged(&mut t, links.state(), 3, 2, at(75)), 1);
        assert_eq!(t.false_deaths_healthy_views, 1);
        assert!(!t.false_list[1].view_was_sick);
    }

    #[test]
    fn a_death_is_false_only_when_the_member_is_healthy_and_reachable() {
        let net = Network::default();
        let mut links = Links::new(10, &net);
        let mut t = Truth::new(10, Duration::from_secs(4), None);
        // Healthy member, working links: false, and listed with its accuser.
        assert_eq!(judged(&mut t, links.state(), 1, 2, at(1)), 1);
        assert_eq!(t.false_list[0].accuser.as_deref(), Some("node-9"));
        // The minority side of a partition: the cross verdict is expected.
        let old = links.state().clone();
        links.partition(&[vec![0, 1, 2], vec![3, 4, 5, 6, 7, 8, 9]]);
        t.links_changed(&old, links.state(), at(10));
        assert_eq!(judged(&mut t, links.state(), 4, 1, at(11)), 0);
        // ... and listed as a cross-cut death.
        assert_eq!(t.cross_cut_deaths, 1);
        assert_eq!(
            (t.cross_cut_list[0].view, t.cross_cut_list[0].member),
            (4, 1)
        );
        // Within one side, a member that is not sick is still judged: 4 and 5
        // are on the majority side.
        assert_eq!(judged(&mut t, links.state(), 4, 5, at(11)), 1);
        // After the heal, the grace covers verdicts across the old cut; then
        // they are false again.
        let old = links.state().clone();
        links.heal();
        t.links_changed(&old, links.state(), at(20));
        assert_eq!(judged(&mut t, links.state(), 4, 1, at(22)), 0);
        assert_eq!(judged(&mut t, links.state(), 4, 1, at(30)), 1);
        // 80% loss on one node's links makes it sick: its death is expected.
        let old = links.state().clone();
        links.node_loss(None, &[7], Direction::Both, 0.8);
        t.links_changed(&old, links.state(), at(40));
        assert_eq!(t.sick(7, true), Some("inbound loss"));
        assert_eq!(t.sick(6, true), None);
        assert_eq!(judged(&mut t, links.state(), 3, 7, at(41)), 0);
        // A paused member is sick; once it resumes, the grace runs, then
        // verdicts are false.
        t.node_fault(8, "paused", true, at(50));
        t.node_fault(8, "slow", true, at(50));
        assert_eq!(judged(&mut t, links.state(), 3, 8, at(51)), 0);
        t.node_fault(8, "paused", false, at(55));
        assert_eq!(t.sick(8, true), Some("slow"), "still slow after the stall");
        t.node_fault(8, "slow", false, at(60));
        assert_eq!(t.sick(8, true), None);
        assert_eq!(judged(&mut t, links.state(), 3, 8, at(62)), 0);
        assert_eq!(judged(&mut t, links.state(), 3, 8, at(70)), 1);
        assert_eq!(t.expected_deaths, 5);
    }

    #[test]
    fn a_node_that_cannot_send_is_sick_and_the_others_are_not() {
        let mut links = Links::new(10, &Network::default());
        let old = links.state().clone();
        links.partition_oneway(&[0], &(1..10).collect::<Vec<_>>());
        let mut t = Truth::new(10, Duration::from_secs(4), None);
        t.links_changed(&old, links.state(), at(1));
        assert_eq!(t.sick(0, true), Some("cannot send to most members"));
        assert!((1..10).all(|m| t.sick(m, true).is_none()));
        // Node 0's own verdict about 3 is expected (it cannot reach 3);
        // node 5's is false.
        assert_eq!(judged(&mut t, links.state(), 0, 3, at(2)), 0);
        assert_eq!(judged(&mut t, links.state(), 5, 3, at(2)), 1);
    }

    /// Reachability is a share of the others: strictly less than half
    /// makes a node sick, whatever the cluster's parity.
    #[test]
    fn a_node_is_sick_when_it_reaches_less_than_half_of_the_others() {
        for (n, cut, sick) in [
            (100, 49, false),
            (100, 50, true),
            (101, 50, false),
            (101, 51, true),
        ] {
            let mut links = Links::new(n, &Network::default());
            let old = links.state().clone();
            links.partition_oneway(&[0], &(1..=cut).collect::<Vec<_>>());
            let mut t = Truth::new(n, Duration::from_secs(4), None);
            t.links_changed(&old, links.state(), at(1));
            assert_eq!(
                t.sick(0, true).is_some(),
                sick,
                "cut from {cut} of {} others",
                n - 1
            );
        }
    }

    /// Loss on every link makes no node sick and no verdict expected: a
    /// death at 30 % network loss is false; a link 30 % worse than the rest
    /// does not work.
    #[test]
    fn loss_every_link_shares_excuses_nothing() {
        let net = Network {
            loss: 0.3,
            ..Network::default()
        };
        let mut links = Links::new(10, &net);
        let mut t = Truth::new(10, Duration::from_secs(4), None);
        assert!((0..10).all(|m| t.sick(m, true).is_none()));
        assert_eq!(judged(&mut t, links.state(), 1, 2, at(1)), 1);
        let old = links.state().clone();
        links.node_loss(None, &[7], Direction::Both, 0.6);
        t.links_changed(&old, links.state(), at(10));
        assert_eq!(t.sick(7, true), Some("inbound loss"));
        assert_eq!(judged(&mut t, links.state(), 1, 7, at(11)), 0);
    }

    #[test]
    fn the_grace_covers_a_refutation_spreading() {
        let lan = swim_core::Config::lan();
        assert_eq!(grace(&lan, 100), Duration::from_millis(4400));
        assert_eq!(grace(&lan, 3), Duration::from_millis(2800));
    }

    #[test]
    fn flips_peaks_and_hold_outs_are_counted() {
        let live = |_| true;
        let mut t = Truth::new(
            4,
            Duration::from_secs(1),
            Some((Duration::ZERO, Duration::from_secs(100))),
        );
        t.node_fault(3, "slow", true, at(0));
        for v in 0..3 {
            t.set_dead(v, 3, true, &live, 4, at(1));
        }
        t.set_dead(0, 3, false, &live, 4, at(2));
        t.set_dead(0, 3, true, &live, 4, at(3));
        t.set_dead(0, 3, false, &live, 4, at(4));
        let r = &t.members()[0];
        assert_eq!((r.member, r.flips, r.max_flips_per_view), (3, 2, 2));
        assert_eq!(r.peak_dead_share, 1.0);
        // Views 1 and 2 hold 3 dead, view 0 alive: two thirds held out.
        t.sample(at(5), &live, &|v, _| v == 0);
        let h = &t.hold_outs()[0];
        assert!((h.min_share - 2.0 / 3.0).abs() < 1e-9, "{h:?}");
        assert!((h.mean_share - 2.0 / 3.0).abs() < 1e-9, "{h:?}");
        assert_eq!((h.flips, h.max_flips_per_view), (2, 2));
        t.view_gone(1);
        assert_eq!(t.dead_count(3), 1);
    }
}
