//! Push-pull: full-state exchange over a stream, on join and periodically.
//!
//! The side that opens the stream sends its whole table; the other replies with
//! its own and both merge. Joining is a push-pull with every seed, retried with
//! exponential backoff until one answers. Besides the periodic exchange (and
//! the reconnect attempt to one member held dead), a node catches up, at most
//! once per probe interval, when it has evidence that its view is behind: a
//! packet from a member it never heard of, or a whole probe interval of
//! packets whose senders all hold bigger views than its own.

use crate::codec::{self, DropReason};
use crate::event::{Event, Output, StreamId};
use crate::member::Status;
use crate::metrics::Kind;
use crate::name::Name;
use crate::node::Node;
use crate::timer::Periodic;
use bytes::Bytes;
use core::time::Duration;
use std::net::SocketAddr;

/// Why this node opened a stream.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Exchange {
    /// A join attempt with a seed.
    Join { seed: SocketAddr },
    /// Anti-entropy: the periodic exchange, a reconnect or a catch-up.
    Periodic { peer: SocketAddr },
}

/// Progress of joining the cluster.
#[derive(Debug, Default)]
pub(crate) struct Join {
    pub seeds: Vec<SocketAddr>,
    /// Join streams still open in the current attempt.
    pub pending: usize,
    /// Failed attempts so far.
    pub attempts: u32,
    pub joined: bool,
}

/// Probe intervals of hearing only bigger views than ours before pulling.
const BEHIND_FOR: u32 = 1;

/// The push-pull interval for a cluster of `n`: the base interval up to 32
/// members, then `base * (ceil(log2 n - 5) + 1)`, so full-state traffic per node
/// stays flat as the cluster grows.
pub fn push_pull_interval(base: Duration, n: usize) -> Duration {
    if n <= 32 {
        return base;
    }
    let scale = ((n as f64).log2() - 5.0).ceil() as u32 + 1;
    base * scale
}

impl Node {
    pub(crate) fn schedule_push_pull(&mut self, now: crate::Instant) {
        let base = self.config.push_pull_interval;
        if base.is_zero() || self.leaving {
            return;
        }
        let interval = push_pull_interval(base, self.members.live());
        // The first exchange comes at a random point of the first interval, so
        // nodes started together spread their exchanges out; later ones are
        // jittered by up to a tenth.
        let first = self.timers.get(Periodic::PushPull).is_none() && self.metrics.push_pulls == 0;
        let offset = if first {
            Duration::from_micros(self.rng.below(interval.as_micros().max(1) as usize) as u64)
        } else {
            interval
                + Duration::from_micros(
                    self.rng.below(interval.as_micros().max(10) as usize / 10) as u64
                )
        };
        self.timers.set(Periodic::PushPull, now + offset);
    }

    pub(crate) fn start_join(&mut self, seeds: Vec<SocketAddr>) {
        let own = self.local_entry().addr();
        self.join.seeds = seeds.into_iter().filter(|s| *s != own).collect();
        self.join.joined = false;
        self.join.attempts = 0;
        self.attempt_join();
    }

    fn attempt_join(&mut self) {
        let seeds = self.join.seeds.clone();
        self.join.pending = seeds.len();
        for seed in seeds {
            self.open_exchange(seed, Exchange::Join { seed });
        }
    }

    pub(crate) fn on_join_retry(&mut self) {
        if !self.join.joined && !self.leaving {
            self.attempt_join();
        }
    }

    pub(crate) fn on_push_pull_tick(&mut self) {
        let now = self.now;
        self.schedule_push_pull(now);
        let me = self.name.clone();
        let live = self
            .members
            .sample(1, &mut self.rng, |e| e.status().is_live(), &[&me]);
        // Reconnect: also try one member we hold dead (not left). After a
        // partition heals, this is how the two sides find each other again;
        // the more of the table is dead, the likelier a draw finds one.
        let dead = if self.members.dead() == 0 {
            Vec::new()
        } else {
            self.members
                .sample(1, &mut self.rng, |e| e.status() == Status::Dead, &[&me])
        };
        for peer in live.into_iter().chain(dead) {
            if let Some(addr) = self.members.get(&peer).map(|e| e.addr()) {
                self.open_exchange(addr, Exchange::Periodic { peer: addr });
            }
        }
    }

    /// A packet from a member we have never heard of: our view is behind the
    /// sender's. Pull its full state (at most once per probe interval).
    pub(crate) fn catch_up(&mut self, from: SocketAddr) {
        let base = self.config.push_pull_interval;
        if base.is_zero() || self.leaving || self.now < self.catch_up_after {
            return;
        }
        self.catch_up_after = self.now + self.config.probe_interval;
        self.behind_since = None;
        self.open_exchange(from, Exchange::Periodic { peer: from });
    }

    /// Compares the size of the sender's view (`theirs`, live members) with
    /// ours. Gossip fills most of a fresh node's table fast, but the last few
    /// members it lacks are rumors every other node already heard many times
    /// and sends last: waiting for them takes time that grows with the
    /// cluster. So a node that hears only bigger views than its own for
    /// [`BEHIND_FOR`] probe intervals in a row pulls the full state of the
    /// last sender. Any packet showing a view no bigger than ours resets the
    /// wait: a fresh update in flight (someone just joined) reaches us by
    /// gossip well within it.
    pub(crate) fn compare_views(&mut self, theirs: u32, from: SocketAddr) {
        if theirs <= self.view_size() {
            self.behind_since = None;
            return;
        }
        let since = *self.behind_since.get_or_insert(self.now);
        if self.now >= since + self.config.probe_interval * BEHIND_FOR {
            self.catch_up(from);
        }
    }

    /// The size of our view as packets carry it: members alive or suspect.
    pub(crate) fn view_size(&self) -> u32 {
        u32::try_from(self.members.live()).unwrap_or(u32::MAX)
    }

    fn open_exchange(&mut self, to: SocketAddr, why: Exchange) {
        self.next_stream += 1;
        let id = StreamId(self.next_stream);
        let bytes = self.encode_state(matches!(why, Exchange::Join { .. }));
        self.exchanges.insert(id, why);
        self.metrics.sent.count(Kind::PushPull, bytes.len());
        self.outputs.push_back(Output::StreamOpen { id, to, bytes });
    }

    /// This node's full table, itself first, as one stream frame.
    fn encode_state(&self, join: bool) -> bytes::Bytes {
        let local = self.local_entry();
        let others = self.members.iter().filter(|m| m.name != local.name);
        let all = std::iter::once(local)
            .chain(others)
            .map(|m| crate::member::Update::of(m, &Name::EMPTY));
        codec::encode_stream(
            &self.config.cluster,
            &self.name,
            join,
            all,
            self.config.max_stream_frame,
        )
    }

    pub(crate) fn on_stream_request(&mut self, id: StreamId, from: SocketAddr, bytes: Bytes) {
        let len = bytes.len();
        let max = self.config.max_stream_frame;
        let pp = match self.with_limits(|l| codec::decode_stream(bytes, max, l)) {
            Ok(pp) if pp.from == self.name => Err(DropReason::FromSelf),
            other => other,
        };
        let pp = match pp {
            Ok(pp) => pp,
            Err(reason) => {
                self.outputs.push_back(Output::StreamClose { id });
                return self.drop_input(reason, from, "push-pull request");
            }
        };
        self.metrics.received.count(Kind::PushPull, len);
        // A peer we hold dead is reconnecting: merge first, so that our reply
        // already carries our refutation if it holds us dead too. Otherwise
        // reply with the state as it was, as memberlist does (merging first
        // measurably slows a 1,000-node join wave).
        let reconnecting = self
            .members
            .get(&pp.from)
            .is_some_and(|e| e.status() == Status::Dead);
        let members = if reconnecting {
            self.merge(pp.members);
            None
        } else {
            Some(pp.members)
        };
        let reply = self.encode_state(false);
        self.metrics.sent.count(Kind::PushPull, reply.len());
        self.outputs
            .push_back(Output::StreamReply { id, bytes: reply });
        if let Some(members) = members {
            self.merge(members);
        }
        self.metrics.push_pulls += 1;
    }

    pub(crate) fn on_stream_reply(&mut self, id: StreamId, bytes: Bytes) {
        let len = bytes.len();
        let Some(why) = self.exchanges.remove(&id) else {
            let nowhere = SocketAddr::from(([0, 0, 0, 0], 0));
            return self.drop_input(DropReason::Unsolicited, nowhere, "stream reply");
        };
        let (Exchange::Join { seed: peer } | Exchange::Periodic { peer }) = why;
        let max = self.config.max_stream_frame;
        match self.with_limits(|l| codec::decode_stream(bytes, max, l)) {
            Ok(pp) => {
                self.metrics.received.count(Kind::PushPull, len);
                self.metrics.push_pulls += 1;
                self.merge(pp.members);
                if let Exchange::Join { seed } = why {
                    self.join.pending = self.join.pending.saturating_sub(1);
                    if !self.join.joined {
                        self.join.joined = true;
                        self.timers.stop(Periodic::JoinRetry);
                        self.emit(Event::JoinCompleted { seed });
                    }
                }
            }
            Err(reason) => {
                self.drop_input(reason, peer, "push-pull reply");
                self.exchange_failed(why);
            }
        }
    }

    pub(crate) fn on_stream_failed(&mut self, id: StreamId) {
        if let Some(why) = self.exchanges.remove(&id) {
            self.exchange_failed(why);
        }
    }

    fn exchange_failed(&mut self, why: Exchange) {
        self.metrics.push_pull_failures += 1;
        let Exchange::Join { .. } = why else { return };
        self.join.pending = self.join.pending.saturating_sub(1);
        if self.join.pending > 0 || self.join.joined || self.leaving {
            return;
        }
        self.join.attempts += 1;
        let c = &self.config;
        let backoff = c
            .join_retry_min
            .saturating_mul(1 << self.join.attempts.min(20).saturating_sub(1))
            .min(c.join_retry_max);
        self.timers.set(Periodic::JoinRetry, self.now + backoff);
        self.emit(Event::JoinRetry {
            attempt: self.join.attempts,
        });
    }

    /// Applies a peer's full state. What it teaches us is old news to the
    /// cluster (the peer knew it): it is gossiped only where fresh updates
    /// leave room.
    fn merge(&mut self, members: Vec<crate::member::Update>) {
        self.repairing = true;
        self.apply_all(members, true);
        self.repairing = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_scales_above_32_members() {
        let base = Duration::from_secs(30);
        assert_eq!(push_pull_interval(base, 1), base);
        assert_eq!(push_pull_interval(base, 32), base);
        assert_eq!(push_pull_interval(base, 33), base * 2);
        assert_eq!(push_pull_interval(base, 64), base * 2);
        assert_eq!(push_pull_interval(base, 65), base * 3);
        assert_eq!(push_pull_interval(base, 1000), base * 6);
    }
}
