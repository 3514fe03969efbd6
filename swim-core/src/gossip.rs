//! Dissemination: piggybacking queued updates on every datagram, and the
//! dedicated gossip round to `fanout` random members.

use crate::broadcast::retransmit_limit;
use crate::codec::{self, Msg, PacketWriter};
use crate::event::Output;
use crate::metrics::Kind;
use crate::node::Node;
use crate::timer::Periodic;
use std::net::SocketAddr;

impl Node {
    /// Sends `messages` to `to`, filling the rest of the packet with queued
    /// updates. With no messages (a gossip round), nothing is sent unless at
    /// least one update is pending. Returns whether a packet went out.
    pub(crate) fn send_packet(&mut self, to: SocketAddr, messages: Vec<Msg>) -> bool {
        let kind = match messages.first() {
            None => Kind::Gossip,
            Some(Msg::Ping { .. }) => Kind::Ping,
            Some(Msg::Ack { .. }) => Kind::Ack,
            Some(Msg::Nack { .. }) => Kind::Nack,
            Some(Msg::PingReq { .. }) => Kind::PingReq,
        };
        let mut w = PacketWriter::new(&self.config.cluster, &self.name, self.view_size());
        for m in messages {
            w.message(m);
        }
        let budget = self.config.max_packet_size.saturating_sub(w.len());
        let limit = retransmit_limit(self.config.retransmit_mult, self.members.live());
        let updates =
            self.broadcasts
                .take(&mut self.members, budget, limit, codec::framed_len, |u| {
                    w.update(u)
                });
        if kind == Kind::Gossip && updates == 0 {
            return false;
        }
        let bytes = w.finish();
        debug_assert!(bytes.len() <= self.config.max_packet_size);
        self.metrics.updates_sent += updates as u64;
        self.metrics.sent.count(kind, bytes.len());
        self.outputs.push_back(Output::Datagram { to, bytes });
        if updates > 0 {
            self.check_leave_completed();
        }
        true
    }

    /// One gossip round: pending updates to `fanout` random members, including
    /// members that died or left within `gossip_to_the_dead`.
    pub(crate) fn on_gossip_tick(&mut self) {
        let now = self.now;
        self.timers
            .set(Periodic::Gossip, now + self.config.gossip_interval);
        if self.broadcasts.len() == 0 {
            return;
        }
        let recent = self.config.gossip_to_the_dead;
        let targets = self.members.sample(
            self.config.gossip_fanout,
            &mut self.rng,
            |e| e.status().is_live() || now.saturating_duration_since(e.since) < recent,
            &[&self.name],
        );
        for target in targets {
            let Some(addr) = self.members.get(&target).map(|e| e.addr()) else {
                continue;
            };
            if !self.send_packet(addr, Vec::new()) {
                break;
            }
        }
    }
}
