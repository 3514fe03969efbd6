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

/// The state of the links: the steady network plus the faults in force.
#[derive(Debug, Default)]
pub struct Links {
    /// Partition group of each node (0 where not partitioned).
    group: Vec<u16>,
    /// Directed group pairs that cannot talk.
    blocked: BTreeSet<(u16, u16)>,
    /// Undirected node pairs that are down (flapping links), stored low-high.
    down: BTreeSet<(usize, usize)>,
    /// Directed links whose datagrams are held, with what they hold.
    pub(crate) held: BTreeMap<(usize, usize), Vec<bytes::Bytes>>,
    link_loss: BTreeMap<(usize, usize), f64>,
}

impl Links {
    /// Links for `nodes` nodes with the steady per-link losses of `net`.
    pub fn new(nodes: usize, net: &Network) -> Self {
        Links {
            group: vec![0; nodes],
            link_loss: net.link_loss.iter().map(|&(a, b, p)| ((a, b), p)).collect(),
            ..Default::default()
        }
    }

    /// Cuts the cluster into `groups` that cannot reach each other (nodes not
    /// listed form one more group). Replaces any partition in force.
    pub fn partition(&mut self, groups: &[Vec<usize>]) {
        self.group.iter_mut().for_each(|g| *g = 0);
        for (i, members) in groups.iter().enumerate() {
            for &m in members {
                self.group[m] = i as u16 + 1;
            }
        }
        let k = groups.len() as u16;
        self.blocked = (0..=k)
            .flat_map(|a| (0..=k).filter(move |&b| b != a).map(move |b| (a, b)))
            .collect();
    }

    /// Datagrams from `from` to `to` are dropped; the other way still works.
    pub fn partition_oneway(&mut self, from: &[usize], to: &[usize]) {
        self.group.iter_mut().for_each(|g| *g = 0);
        from.iter().for_each(|&m| self.group[m] = 1);
        to.iter().for_each(|&m| self.group[m] = 2);
        self.blocked = [(1, 2)].into_iter().collect();
    }

    /// Ends every partition and brings flapping links up.
    pub fn heal(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
        self.blocked.clear();
        self.down.clear();
    }

    /// Takes the link between `a` and `b` down (`true`) or up.
    pub fn set_down(&mut self, a: usize, b: usize, down: bool) {
        let key = (a.min(b), a.max(b));
        if down {
            self.down.insert(key);
        } else {
            self.down.remove(&key);
        }
    }

    /// Is the link between `a` and `b` down?
    pub fn is_down(&self, a: usize, b: usize) -> bool {
        self.down.contains(&(a.min(b), a.max(b)))
    }

    /// Can a packet go from `a` to `b` at all?
    pub fn connected(&self, a: usize, b: usize) -> bool {
        !self.blocked.contains(&(self.group[a], self.group[b])) && !self.is_down(a, b)
    }

    /// Starts holding datagrams on the link `from -> to`.
    pub fn hold(&mut self, from: usize, to: usize) {
        self.held.entry((from, to)).or_default();
    }

    /// Stops holding `from -> to`; returns what it held, in order.
    pub fn release(&mut self, from: usize, to: usize) -> Vec<bytes::Bytes> {
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
        let loss = self
            .link_loss
            .get(&(a, b))
            .copied()
            .unwrap_or(0.0)
            .max(net.loss);
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
