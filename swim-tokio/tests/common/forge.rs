//! Forged packets, as an attacker on the same network writes them, and
//! the counters that show what an agent made of them.

use super::Agent;
use prost::Message;
use std::net::SocketAddr;
use swim_proto as pb;

/// The wire form of an IPv4 address and port.
pub fn wire_addr(a: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(a) = a else {
        panic!("IPv4 only")
    };
    let mut v = a.ip().octets().to_vec();
    v.extend_from_slice(&a.port().to_be_bytes());
    v
}

/// An update about `name`, accused (or vouched for) by "attacker".
pub fn update(name: &str, addr: SocketAddr, inc: u64, status: pb::Status) -> pb::Update {
    pb::Update {
        name: name.as_bytes().to_vec().into(),
        addr: wire_addr(addr).into(),
        incarnation: inc,
        status: status as i32,
        from: b"attacker".to_vec().into(),
        life: 7,
        ..Default::default()
    }
}

/// A plain datagram from "attacker" carrying `updates`.
pub fn packet(cluster: &str, updates: Vec<pb::Update>) -> Vec<u8> {
    pb::Packet {
        version: pb::PROTOCOL_VERSION,
        cluster: cluster.into(),
        from: b"attacker".to_vec().into(),
        updates,
        ..Default::default()
    }
    .encode_to_vec()
}

/// A counter of the agent's `/v1/metrics`, by path (0 when absent).
pub fn metric(a: &Agent, path: &[&str]) -> u64 {
    let m = a.get("/v1/metrics").unwrap_or_default();
    path.iter().fold(&m, |v, k| &v[*k]).as_u64().unwrap_or(0)
}
