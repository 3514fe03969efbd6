//! Failure detection: direct probes, indirect probes through relays (ping-req),
//! acks, Lifeguard nacks, and the datagram entry point that dispatches them.

use crate::codec::{self, DropReason, Msg};
use crate::member::Status;
use crate::metrics::Kind;
use crate::name::Name;
use crate::node::Node;
use crate::time::Instant;
use crate::timer::{Deadline, Periodic};
use bytes::Bytes;
use std::net::SocketAddr;

/// Most indirect probes a node runs for others at once; more are dropped.
const MAX_RELAYS: usize = 1024;

/// The probe of one member during the current protocol period.
#[derive(Debug)]
pub(crate) struct Probe {
    pub seq: u32,
    pub target: Name,
    /// The target's incarnation when probed: a failed probe suspects that one.
    pub incarnation: u64,
    pub acked: bool,
    /// Members asked to ping-req; only they may forward an ack or a nack.
    pub relays: Vec<Name>,
    pub nacks: u32,
}

/// An indirect probe this node runs for a requester.
#[derive(Debug)]
pub(crate) struct Relay {
    pub requester_seq: u32,
    pub requester: SocketAddr,
    pub want_nack: bool,
}

impl Node {
    /// Handles one datagram: decode, apply its updates, answer its messages.
    pub(crate) fn on_datagram(&mut self, from: SocketAddr, bytes: Bytes) {
        let len = bytes.len();
        let max = self.config.max_packet_size;
        let packet = match self.with_limits(|l| codec::decode_packet(bytes, max, l)) {
            Ok(p) => p,
            Err(reason) => return self.drop_input(reason, from, "datagram"),
        };
        if packet.from == self.name {
            return self.drop_input(DropReason::FromSelf, from, "datagram");
        }
        if packet
            .messages
            .iter()
            .any(|m| matches!(m, Msg::Ping { target, .. } if *target != self.name))
        {
            return self.drop_input(DropReason::WrongTarget, from, "ping");
        }
        let kind = match packet.messages.first() {
            None => Kind::Gossip,
            Some(Msg::Ping { .. }) => Kind::Ping,
            Some(Msg::Ack { .. }) => Kind::Ack,
            Some(Msg::Nack { .. }) => Kind::Nack,
            Some(Msg::PingReq { .. }) => Kind::PingReq,
        };
        self.metrics.received.count(kind, len);
        self.metrics.updates_received += packet.updates.len() as u64;
        if !packet.from_known {
            self.catch_up(from);
        }
        self.apply_all(packet.updates, false);
        self.compare_views(packet.live, from);
        for m in packet.messages {
            match m {
                Msg::Ping { seq, .. } => {
                    self.send_packet(from, vec![Msg::Ack { seq }]);
                }
                Msg::Ack { seq } => self.on_ack(seq, &packet.from, from),
                Msg::Nack { seq } => self.on_nack(seq, &packet.from, from),
                Msg::PingReq {
                    seq,
                    target,
                    target_addr,
                    want_nack,
                } => self.on_ping_req(seq, target, target_addr, want_nack, from),
            }
        }
    }

    fn on_ack(&mut self, seq: u32, sender: &Name, from: SocketAddr) {
        if let Some(p) = self.probe.as_mut().filter(|p| p.seq == seq) {
            if *sender != p.target && !p.relays.contains(sender) {
                return self.drop_input(DropReason::Unsolicited, from, "ack from a stranger");
            }
            if !p.acked {
                p.acked = true;
                self.awareness.apply(-1);
            }
        } else if let Some(relay) = self.relays.remove(&seq) {
            self.send_packet(
                relay.requester,
                vec![Msg::Ack {
                    seq: relay.requester_seq,
                }],
            );
        } else {
            self.drop_input(DropReason::Unsolicited, from, "ack");
        }
    }

    fn on_nack(&mut self, seq: u32, sender: &Name, from: SocketAddr) {
        match self.probe.as_mut() {
            Some(p) if p.seq == seq && p.relays.contains(sender) => p.nacks += 1,
            _ => self.drop_input(DropReason::Unsolicited, from, "nack"),
        }
    }

    fn on_ping_req(
        &mut self,
        seq: u32,
        target: Name,
        addr: SocketAddr,
        want_nack: bool,
        from: SocketAddr,
    ) {
        if self.relays.len() >= MAX_RELAYS {
            return self.drop_input(DropReason::Busy, from, "ping-req");
        }
        let own = self.next_seq();
        self.relays.insert(
            own,
            Relay {
                requester_seq: seq,
                requester: from,
                want_nack,
            },
        );
        // Answer within the requester's protocol period: before its probe concludes.
        let c = &self.config;
        let wait = c
            .probe_timeout
            .min(c.probe_interval.saturating_sub(c.probe_timeout))
            .mul_f64(0.8);
        self.timers
            .schedule(self.now + wait, Deadline::RelayTimeout { seq: own });
        self.send_packet(addr, vec![Msg::Ping { seq: own, target }]);
    }

    pub(crate) fn on_relay_timeout(&mut self, seq: u32) {
        if let Some(relay) = self.relays.remove(&seq) {
            if relay.want_nack {
                self.send_packet(
                    relay.requester,
                    vec![Msg::Nack {
                        seq: relay.requester_seq,
                    }],
                );
            }
        }
    }

    /// The start of a protocol period: conclude the last probe, start the next.
    pub(crate) fn on_probe_tick(&mut self) {
        let now = self.now;
        self.conclude_probe();
        self.timers.set(
            Periodic::Probe,
            now + self.awareness.scale(self.config.probe_interval),
        );
        let Some(target) = self.members.next_probe_target(&self.name, &mut self.rng) else {
            return;
        };
        let Some(entry) = self.members.get(&target) else {
            return;
        };
        let (addr, incarnation) = (entry.addr(), entry.incarnation);
        let seq = self.next_seq();
        self.metrics.probes += 1;
        self.probe = Some(Probe {
            seq,
            target: target.clone(),
            incarnation,
            acked: false,
            relays: Vec::new(),
            nacks: 0,
        });
        let timeout = self.awareness.scale(self.config.probe_timeout);
        self.timers
            .schedule(now + timeout, Deadline::ProbeTimeout { seq });
        self.send_packet(addr, vec![Msg::Ping { seq, target }]);
    }

    /// No direct ack in time: ask `indirect_checks` others to probe the target.
    pub(crate) fn on_probe_timeout(&mut self, seq: u32) {
        let Some(p) = self.probe.as_ref().filter(|p| p.seq == seq && !p.acked) else {
            return;
        };
        let target = p.target.clone();
        let Some(addr) = self.members.get(&target).map(|e| e.addr()) else {
            return;
        };
        let relays = self.members.sample(
            self.config.indirect_checks,
            &mut self.rng,
            |e| e.status() == Status::Alive,
            &[&self.name, &target],
        );
        if relays.is_empty() {
            return;
        }
        self.metrics.indirect_probes += 1;
        for relay in &relays {
            let Some(relay_addr) = self.members.get(relay).map(|e| e.addr()) else {
                continue;
            };
            let req = Msg::PingReq {
                seq,
                target: target.clone(),
                target_addr: addr,
                want_nack: true,
            };
            self.send_packet(relay_addr, vec![req]);
        }
        if let Some(p) = self.probe.as_mut() {
            p.relays = relays;
        }
    }

    /// The protocol period is over: a probe without any ack suspects its target.
    fn conclude_probe(&mut self) {
        let Some(p) = self.probe.take() else { return };
        if p.acked {
            return;
        }
        // Lifeguard: relays that did not even nack mean our own links are suspect.
        let expected = p.relays.len() as u32;
        let delta = if expected > 0 {
            expected.saturating_sub(p.nacks)
        } else {
            1
        };
        self.awareness.apply(delta as i32);
        self.metrics.probe_failures += 1;
        let me = self.name.clone();
        self.suspect(&p.target, p.incarnation, &me);
    }

    /// Time of the next probe (for tests and drivers that want to show it).
    pub fn next_probe_at(&self) -> Option<Instant> {
        self.timers.get(Periodic::Probe)
    }
}
