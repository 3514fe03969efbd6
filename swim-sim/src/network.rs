//! The simulated network: latency distributions, loss, duplication,
//! reordering, partitions (symmetric and one-way), held links and flapping
//! links. Every draw comes from the simulation's one seeded generator.

use rand_chacha::ChaCha8Rng;
use rand_core::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long a datagram or stream frame takes one way.
#[derive(Clone, Debug, PartialEq)]
pub enum Latency {
    /// Always the same.
    Fixed(Duration),
    /// Uniform from `min` (inclusive) to `max` (exclusive).
    Uniform {
        /// Shortest.
        min: Duration,
        /// Longest.
        max: Duration,
    },
    /// `min` plus a Pareto-distributed extra (shape 1.5) whose median is
    /// `median - min`, capped at `max`: most packets are quick, a few are very late.
    LongTail {
        /// Shortest.
        min: Duration,
        /// Median.
        median: Duration,
        /// Cap.
        max: Duration,
    },
}

impl Latency {
    /// Draws one latency.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } => {
                let span = max.saturating_sub(min).as_micros() as u64;
                min + Duration::from_micros(if span == 0 { 0 } else { rng.next_u64() % span })
            }
            Latency::LongTail { min, median, max } => {
                const SHAPE: f64 = 1.5;
                let u = unit(rng).max(1e-12);
                let scale =
                    median.saturating_sub(min).as_secs_f64() / (2f64.powf(1.0 / SHAPE) - 1.0);
                let extra = scale * (u.powf(-1.0 / SHAPE) - 1.0);
                (min + Duration::from_secs_f64(extra.min(1e6))).min(max)
            }
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Latency::Fixed(_) => Ok(()),
            Latency::Uniform { min, max } if min <= max => Ok(()),
            Latency::LongTail { min, median, max } if min <= median && median <= max => Ok(()),
            _ => Err(format!("latency {self:?}: needs min <= median <= max")),
        }
    }
}

impl Network {
    /// Node `i`'s stream uplink in bits per second, if limited.
    pub fn bandwidth_of(&self, i: usize) -> Option<u64> {
        (self.node_bandwidth.iter().rev())
            .find(|(n, _)| *n == i)
            .map(|&(_, b)| b)
            .or(self.stream_bandwidth)
    }
}

/// A uniform draw in `[0, 1)`.
pub fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// TCP's first retransmission timeout (Linux's minimum); it doubles with
/// every retry of the same segment.
pub const STREAM_RTO: Duration = Duration::from_millis(200);

/// How much later than one latency a stream frame (or a connection
/// handshake) arrives over a link that loses `loss` of its packets, as TCP
/// retransmits it: each try is lost with probability `loss`, and the k-th
/// retry waits `STREAM_RTO * 2^(k-1)` more. `None`: the retries outlast
/// `timeout` and the stream fails, which grows likelier with loss (at 10%
/// about one frame in 10^4 with a 2 s timeout, at 80% four in ten). No
/// draw is made on a lossless link.
pub fn retransmit_delay(loss: f64, timeout: Duration, rng: &mut ChaCha8Rng) -> Option<Duration> {
    let mut wait = Duration::ZERO;
    if loss <= 0.0 {
        return Some(wait);
    }
    let mut rto = STREAM_RTO;
    while unit(rng) < loss {
        wait += rto;
        rto *= 2;
        if wait >= timeout {
            return None;
        }
    }
    Some(wait)
}

/// The network's steady properties.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// One-way latency.
    pub latency: Latency,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back by up to `reorder_delay` extra.
    pub reorder: f64,
    /// Largest extra delay of a reordered datagram.
    pub reorder_delay: Duration,
    /// Extra loss on directed links `(from, to, rate)`.
    pub link_loss: Vec<(usize, usize, f64)>,
    /// How long a stream waits before it fails across a cut link.
    pub stream_timeout: Duration,
    /// Each node's uplink for stream frames, in bits per second (`None`:
    /// unlimited, a frame takes one latency). A node's frames leave one
    /// after another, so a large state takes time to send.
    pub stream_bandwidth: Option<u64>,
    /// Uplinks of particular nodes `(node, bits per second)`, over `stream_bandwidth`.
    pub node_bandwidth: Vec<(usize, u64)>,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            latency: Latency::Uniform {
                min: Duration::from_micros(500),
                max: Duration::from_micros(1000),
            },
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(10),
            link_loss: Vec::new(),
            stream_timeout: Duration::from_secs(2),
            stream_bandwidth: None,
            node_bandwidth: Vec::new(),
        }
    }
}

impl Network {
    /// Checks every probability and distribution.
    pub fn validate(&self, nodes: usize) -> Result<(), String> {
        self.latency.validate()?;
        for (what, p) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("network.{what} = {p}: must be between 0 and 1"));
            }
        }
        for &(node, bps) in &self.node_bandwidth {
            if node >= nodes {
                return Err(format!(
                    "bandwidth of node {node}: no such node (nodes are 0..{})",
                    nodes - 1
                ));
            }
            if bps == 0 {
                return Err(format!("bandwidth of node {node}: must be above zero"));
            }
        }
        if self.stream_bandwidth == Some(0) {
            return Err("network.stream_bandwidth: must be above zero".into());
        }
        for &(a, b, p) in &self.link_loss {
            if a >= nodes || b >= nodes {
                return Err(format!(
                    "link loss {a}->{b} names a node that does not exist (nodes are 0..{})",
                    nodes - 1
                ));
            }
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("link loss {a}->{b} = {p}: must be between 0 and 1"));
            }
        }
        Ok(())
    }
}

/// What happens to one datagram.
#[derive(Clone, Debug, PartialEq)]
pub enum Fate {
    /// Lost, or cut off.
    Dropped,
    /// Parked on a held link until it is released.
    Held,
    /// Delivered after each of these delays (two when duplicated).
    Delivered(Vec<Duration>),
}

/// Which way a node's loss applies: to what it receives, what it sends, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Datagrams and stream frames the node receives.
    Inbound,
    /// Datagrams and stream frames the node sends.
    Outbound,
    /// Both ways.
    Both,
}

/// One cut in force: a partition (groups that cannot reach each other) or
/// a one-way partition (`from` cannot reach `to`).
#[derive(Clone, Debug)]
struct Cut {
    /// The fault's name (`None`: unnamed, replaced by the next unnamed cut).
    name: Option<String>,
    /// The group of each node (0: not listed).
    group: Vec<u16>,
    /// Directed group pairs that cannot talk.
    blocked: BTreeSet<(u16, u16)>,
}

/// Extra loss on some nodes' links, in force until healed.
#[derive(Clone, Debug)]
struct NodeLoss {
    name: Option<String>,
    nodes: Vec<usize>,
    direction: Direction,
    rate: f64,
}

/// What the faults in force do to the links, at one instant: cuts, links
/// that are down, per-link and per-node loss. Ground truth
/// ([`crate::truth`]) keeps copies of past states to judge verdicts made
/// just after a fault ended.
#[derive(Clone, Debug, Default)]
pub struct LinkState {
    cuts: Vec<Cut>,
    /// Undirected node pairs that are down (flapping links), stored low-high.
    down: BTreeSet<(usize, usize)>,
    /// Directed links that hold their datagrams.
    held: BTreeSet<(usize, usize)>,
    link_loss: BTreeMap<(usize, usize), f64>,
    node_loss: Vec<NodeLoss>,
    /// The highest node loss in force on each node's receipts and sends.
    loss_in: Vec<f64>,
    loss_out: Vec<f64>,
    /// The network-wide loss.
    loss: f64,
}

impl LinkState {
    /// Can a packet go from `a` to `b` at all?
    pub fn connected(&self, a: usize, b: usize) -> bool {
        self.cuts
            .iter()
            .all(|c| !c.blocked.contains(&(c.group[a], c.group[b])))
            && !self.down.contains(&(a.min(b), a.max(b)))
    }

    /// The probability that a datagram from `a` to `b` is lost on a link
    /// that is connected: the highest of the network's loss, the link's and
    /// the nodes' own (`a`'s outbound, `b`'s inbound).
    pub fn loss(&self, a: usize, b: usize) -> f64 {
        let link = self.link_loss.get(&(a, b)).copied().unwrap_or(0.0);
        self.loss
            .max(link)
            .max(self.loss_out.get(a).copied().unwrap_or(0.0))
            .max(self.loss_in.get(b).copied().unwrap_or(0.0))
    }

    /// Whether `a -> b` delivers most datagrams: connected, not held, and
    /// losing less than `threshold` of them.
    pub fn works(&self, a: usize, b: usize, threshold: f64) -> bool {
        self.connected(a, b) && !self.held.contains(&(a, b)) && self.loss(a, b) < threshold
    }

    /// Whether `a -> b` works as well as the rest of the network, within
    /// `threshold`: connected, not held, and its own loss (the link's and
    /// the nodes', not the loss every link shares) below `threshold`. Loss
    /// on every link makes no link worse than the others: what the
    /// protocol does there is judged, not excused.
    pub fn works_as_the_rest(&self, a: usize, b: usize, threshold: f64) -> bool {
        let link = self.link_loss.get(&(a, b)).copied().unwrap_or(0.0);
        let own = link
            .max(self.loss_out.get(a).copied().unwrap_or(0.0))
            .max(self.loss_in.get(b).copied().unwrap_or(0.0));
        self.connected(a, b) && !self.held.contains(&(a, b)) && own < threshold
    }

    /// The network-wide loss.
    pub fn network_loss(&self) -> f64 {
        self.loss
    }

    /// Whether the only faults in force are nodes' own loss (no cut, no
    /// link down or held, no per-link loss).
    pub fn only_node_loss(&self) -> bool {
        self.cuts.is_empty()
            && self.down.is_empty()
            && self.held.is_empty()
            && self.link_loss.is_empty()
    }

    /// Highest node loss on node `i`'s receipts and on its sends.
    pub fn node_loss(&self, i: usize) -> (f64, f64) {
        (self.loss_in[i], self.loss_out[i])
    }

    fn refresh_node_loss(&mut self) {
        self.loss_in.iter_mut().for_each(|p| *p = 0.0);
        self.loss_out.iter_mut().for_each(|p| *p = 0.0);
        for l in &self.node_loss {
            for &n in &l.nodes {
                if l.direction != Direction::Outbound {
                    self.loss_in[n] = self.loss_in[n].max(l.rate);
                }
                if l.direction != Direction::Inbound {
                    self.loss_out[n] = self.loss_out[n].max(l.rate);
                }
            }
        }
    }
}

/// The state of the links: the steady network plus the faults in force.
#[derive(Debug, Default)]
pub struct Links {
    state: LinkState,
    /// Directed links whose datagrams are held, with what they hold.
    pub(crate) held: BTreeMap<(usize, usize), Vec<bytes::Bytes>>,
}

impl Links {
    /// Links for `nodes` nodes with the steady per-link losses of `net`.
    pub fn new(nodes: usize, net: &Network) -> Self {
        Links {
            state: LinkState {
                link_loss: net.link_loss.iter().map(|&(a, b, p)| ((a, b), p)).collect(),
                loss_in: vec![0.0; nodes],
                loss_out: vec![0.0; nodes],
                loss: net.loss,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// The faults in force on the links now.
    pub fn state(&self) -> &LinkState {
        &self.state
    }

    fn add_cut(&mut self, name: Option<&str>, group: Vec<u16>, blocked: BTreeSet<(u16, u16)>) {
        if name.is_none() {
            // An unnamed cut replaces the unnamed one in force, as ever.
            self.state.cuts.retain(|c| c.name.is_some());
        }
        self.state.cuts.push(Cut {
            name: name.map(str::to_string),
            group,
            blocked,
        });
    }

    /// Cuts the cluster into `groups` that cannot reach each other (nodes not
    /// listed form one more group). Replaces the unnamed partition in force.
    pub fn partition(&mut self, groups: &[Vec<usize>]) {
        self.partition_named(None, groups);
    }

    /// [`partition`](Links::partition), under a name that a heal can name
    /// (named partitions add to each other).
    pub fn partition_named(&mut self, name: Option<&str>, groups: &[Vec<usize>]) {
        let mut group = vec![0; self.state.loss_in.len()];
        for (i, members) in groups.iter().enumerate() {
            for &m in members {
                group[m] = i as u16 + 1;
            }
        }
        let k = groups.len() as u16;
        let blocked = (0..=k)
            .flat_map(|a| (0..=k).filter(move |&b| b != a).map(move |b| (a, b)))
            .collect();
        self.add_cut(name, group, blocked);
    }

    /// Datagrams from `from` to `to` are dropped; the other way still works.
    pub fn partition_oneway(&mut self, from: &[usize], to: &[usize]) {
        self.partition_oneway_named(None, from, to);
    }

    /// [`partition_oneway`](Links::partition_oneway) under a name.
    pub fn partition_oneway_named(&mut self, name: Option<&str>, from: &[usize], to: &[usize]) {
        let mut group = vec![0; self.state.loss_in.len()];
        from.iter().for_each(|&m| group[m] = 1);
        to.iter().for_each(|&m| group[m] = 2);
        self.add_cut(name, group, [(1, 2)].into_iter().collect());
    }

    /// Extra loss `rate` on `nodes`' links in `direction`, until healed.
    pub fn node_loss(
        &mut self,
        name: Option<&str>,
        nodes: &[usize],
        direction: Direction,
        rate: f64,
    ) {
        self.state.node_loss.push(NodeLoss {
            name: name.map(str::to_string),
            nodes: nodes.to_vec(),
            direction,
            rate,
        });
        self.state.refresh_node_loss();
    }

    /// Ends every partition and node loss and brings flapping links up.
    pub fn heal(&mut self) {
        self.state.cuts.clear();
        self.state.down.clear();
        self.state.node_loss.clear();
        self.state.refresh_node_loss();
    }

    /// Ends the cuts and node losses named `name`; whether there was one.
    pub fn heal_named(&mut self, name: &str) -> bool {
        let before = self.state.cuts.len() + self.state.node_loss.len();
        self.state.cuts.retain(|c| c.name.as_deref() != Some(name));
        self.state
            .node_loss
            .retain(|l| l.name.as_deref() != Some(name));
        self.state.refresh_node_loss();
        before != self.state.cuts.len() + self.state.node_loss.len()
    }

    /// Takes the link between `a` and `b` down (`true`) or up.
    pub fn set_down(&mut self, a: usize, b: usize, down: bool) {
        let key = (a.min(b), a.max(b));
        if down {
            self.state.down.insert(key);
        } else {
            self.state.down.remove(&key);
        }
    }

    /// Is the link between `a` and `b` down?
    pub fn is_down(&self, a: usize, b: usize) -> bool {
        self.state.down.contains(&(a.min(b), a.max(b)))
    }

    /// Can a packet go from `a` to `b` at all?
    pub fn connected(&self, a: usize, b: usize) -> bool {
        self.state.connected(a, b)
    }

    /// The probability that a datagram from `a` to `b` is lost (when connected).
    pub fn loss(&self, a: usize, b: usize) -> f64 {
        self.state.loss(a, b)
    }

    /// Starts holding datagrams on the link `from -> to`.
    pub fn hold(&mut self, from: usize, to: usize) {
        self.held.entry((from, to)).or_default();
        self.state.held.insert((from, to));
    }

    /// Stops holding `from -> to`; returns what it held, in order.
    pub fn release(&mut self, from: usize, to: usize) -> Vec<bytes::Bytes> {
        self.state.held.remove(&(from, to));
        self.held.remove(&(from, to)).unwrap_or_default()
    }

    /// Decides the fate of one datagram from `a` to `b`.
    pub fn route(
        &mut self,
        a: usize,
        b: usize,
        bytes: &bytes::Bytes,
        net: &Network,
        rng: &mut ChaCha8Rng,
    ) -> Fate {
        if !self.connected(a, b) {
            return Fate::Dropped;
        }
        if let Some(queue) = self.held.get_mut(&(a, b)) {
            queue.push(bytes.clone());
            return Fate::Held;
        }
        let loss = self.loss(a, b);
        if loss > 0.0 && unit(rng) < loss {
            return Fate::Dropped;
        }
        let copies = if net.duplicate > 0.0 && unit(rng) < net.duplicate {
            2
        } else {
            1
        };
        let delays = (0..copies)
            .map(|_| {
                let mut d = net.latency.sample(rng);
                if net.reorder > 0.0 && unit(rng) < net.reorder {
                    d += Duration::from_micros(
                        rng.next_u64() % (net.reorder_delay.as_micros() as u64 + 1),
                    );
                }
                d
            })
            .collect();
        Fate::Delivered(delays)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(1)
    }

    #[test]
    fn latency_distributions_stay_in_their_bounds() {
        let mut r = rng();
        let (min, median, max) = (
            Duration::from_millis(1),
            Duration::from_millis(2),
            Duration::from_millis(50),
        );
        let tail = Latency::LongTail { min, median, max };
        let mut draws: Vec<Duration> = (0..10_000).map(|_| tail.sample(&mut r)).collect();
        draws.sort();
        assert!(draws.iter().all(|d| *d >= min && *d <= max));
        let mid = draws[5_000].as_secs_f64();
        assert!((mid - 0.002).abs() < 0.0002, "median {mid}");
        assert!(draws[9_990] > Duration::from_millis(20), "a long tail");
        let uni = Latency::Uniform { min, max: median };
        assert!((0..1000)
            .map(|_| uni.sample(&mut r))
            .all(|d| d >= min && d <= median));
        assert!(Latency::Uniform { min: max, max: min }.validate().is_err());
    }

    #[test]
    fn a_partition_stops_traffic_both_ways_and_a_oneway_only_one() {
        let net = Network::default();
        let mut links = Links::new(4, &net);
        let b = bytes::Bytes::new();
        links.partition(&[vec![0, 1], vec![2, 3]]);
        let mut r = rng();
        assert_eq!(links.route(0, 2, &b, &net, &mut r), Fate::Dropped);
        assert_eq!(links.route(3, 1, &b, &net, &mut r), Fate::Dropped);
        assert!(matches!(
            links.route(0, 1, &b, &net, &mut r),
            Fate::Delivered(_)
        ));
        links.partition_oneway(&[0], &[1]);
        assert_eq!(links.route(0, 1, &b, &net, &mut r), Fate::Dropped);
        assert!(matches!(
            links.route(1, 0, &b, &net, &mut r),
            Fate::Delivered(_)
        ));
        assert!(matches!(
            links.route(2, 3, &b, &net, &mut r),
            Fate::Delivered(_)
        ));
        links.heal();
        assert!(matches!(
            links.route(0, 1, &b, &net, &mut r),
            Fate::Delivered(_)
        ));
    }

    #[test]
    fn streams_wait_for_retransmits_and_fail_more_often_with_more_loss() {
        let mut r = rng();
        let timeout = Duration::from_secs(2);
        assert_eq!(retransmit_delay(0.0, timeout, &mut r), Some(Duration::ZERO));
        let failed = |p: f64, r: &mut ChaCha8Rng| {
            (0..10_000)
                .filter(|_| retransmit_delay(p, timeout, r).is_none())
                .count()
        };
        let (low, high) = (failed(0.1, &mut r), failed(0.8, &mut r));
        // 200 + 400 + 800 + 1600 ms: the fourth loss in a row fails it.
        assert!(low < 10, "{low}");
        assert!((3_700..4_500).contains(&high), "{high}");
        let late = (0..1000)
            .filter_map(|_| retransmit_delay(0.5, timeout, &mut r))
            .filter(|d| *d >= STREAM_RTO)
            .count();
        assert!(late > 300, "{late}");
    }

    #[test]
    fn node_loss_applies_in_its_direction_and_a_named_heal_ends_only_its_fault() {
        let net = Network::default();
        let mut links = Links::new(3, &net);
        links.node_loss(Some("a"), &[0], Direction::Inbound, 0.8);
        links.node_loss(Some("b"), &[1], Direction::Outbound, 0.5);
        assert_eq!((links.loss(1, 0), links.loss(0, 1)), (0.8, 0.0));
        assert_eq!(links.loss(1, 2), 0.5);
        assert_eq!((links.loss(0, 2), links.loss(2, 0)), (0.0, 0.8));
        links.partition_named(Some("p"), &[vec![2]]);
        assert!(!links.connected(0, 2));
        assert!(links.heal_named("a"));
        assert!(!links.heal_named("a"));
        assert_eq!(links.loss(2, 0), 0.0);
        assert_eq!(links.loss(1, 2), 0.5);
        assert!(!links.connected(0, 2));
        assert!(links.heal_named("p"));
        assert!(links.connected(0, 2));
        links.heal();
        assert_eq!(links.loss(1, 2), 0.0);
    }

    #[test]
    fn held_links_keep_datagrams_until_released_in_order() {
        let net = Network::default();
        let mut links = Links::new(2, &net);
        let mut r = rng();
        links.hold(0, 1);
        for i in 0..3u8 {
            assert_eq!(
                links.route(0, 1, &bytes::Bytes::from(vec![i]), &net, &mut r),
                Fate::Held
            );
        }
        assert!(matches!(
            links.route(1, 0, &bytes::Bytes::new(), &net, &mut r),
            Fate::Delivered(_)
        ));
        let released = links.release(0, 1);
        assert_eq!(
            released.iter().map(|b| b[0]).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert!(matches!(
            links.route(0, 1, &bytes::Bytes::new(), &net, &mut r),
            Fate::Delivered(_)
        ));
    }

    #[test]
    fn loss_duplication_and_reordering_happen_at_their_rates() {
        let net = Network {
            loss: 0.1,
            duplicate: 0.05,
            reorder: 0.2,
            ..Network::default()
        };
        let mut links = Links::new(2, &net);
        let mut r = rng();
        let b = bytes::Bytes::new();
        let fates: Vec<Fate> = (0..20_000)
            .map(|_| links.route(0, 1, &b, &net, &mut r))
            .collect();
        let lost = fates.iter().filter(|f| **f == Fate::Dropped).count() as f64 / 20_000.0;
        let dup = fates
            .iter()
            .filter(|f| matches!(f, Fate::Delivered(d) if d.len() == 2))
            .count() as f64
            / 18_000.0;
        let late = fates
            .iter()
            .filter_map(|f| {
                if let Fate::Delivered(d) = f {
                    Some(d[0])
                } else {
                    None
                }
            })
            .filter(|d| *d > Duration::from_millis(1))
            .count() as f64
            / 18_000.0;
        assert!((lost - 0.1).abs() < 0.01, "{lost}");
        assert!((dup - 0.05).abs() < 0.01, "{dup}");
        assert!((late - 0.2 * 0.9).abs() < 0.02, "{late}");
        let mut flaky = Links::new(
            2,
            &Network {
                link_loss: vec![(0, 1, 1.0)],
                ..Network::default()
            },
        );
        assert_eq!(flaky.route(0, 1, &b, &net, &mut r), Fate::Dropped);
        flaky.set_down(1, 0, true);
        assert!(!flaky.connected(1, 0));
    }
}
