//! Protocol parameters: presets from memberlist's proven values and validation.

use crate::seal::Sealing;
use core::fmt;
use core::time::Duration;

/// Every knob of the protocol, as plain fields.
///
/// Start from a preset ([`Config::lan`], [`Config::wan`], [`Config::local`]),
/// change fields, then let [`Node::new`](crate::Node::new) call
/// [`Config::validate`].
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Cluster label carried in every packet; traffic with another label is dropped.
    pub cluster: String,
    /// Time between two probes (one protocol period).
    pub probe_interval: Duration,
    /// How long to wait for a direct ack before asking others (ping-req).
    pub probe_timeout: Duration,
    /// How many members are asked to probe indirectly (`k`).
    pub indirect_checks: usize,
    /// Time between two gossip rounds.
    pub gossip_interval: Duration,
    /// How many random members each gossip round sends to.
    pub gossip_fanout: usize,
    /// Each update is sent `retransmit_mult * ceil(log10(n + 1))` times.
    pub retransmit_mult: u32,
    /// Minimum suspicion timeout is `suspicion_mult * max(1, log10 n) * probe_interval`.
    pub suspicion_mult: u32,
    /// Maximum suspicion timeout is `suspicion_max_timeout_mult` times the minimum.
    pub suspicion_max_timeout_mult: u32,
    /// Base push-pull interval (for clusters of up to 32 members); zero disables it.
    pub push_pull_interval: Duration,
    /// How long dead or left members still receive gossip.
    pub gossip_to_the_dead: Duration,
    /// How long dead or left members stay in the table before they are reaped.
    pub reap_after: Duration,
    /// Lifeguard local health: the awareness score saturates at this (0 disables it).
    pub awareness_max_multiplier: u32,
    /// Largest datagram the node sends or accepts.
    pub max_packet_size: usize,
    /// Largest push-pull frame the node sends or accepts.
    pub max_stream_frame: usize,
    /// Largest application metadata a member may carry.
    pub max_meta_size: usize,
    /// First retry delay of a join that reached no seed; doubles up to `join_retry_max`.
    pub join_retry_min: Duration,
    /// Longest delay between two join attempts.
    pub join_retry_max: Duration,
    /// Join attempts before the node gives up with
    /// [`Event::JoinFailed`](crate::Event::JoinFailed); 0 (every preset)
    /// retries for ever.
    pub join_attempts: u32,
    /// How long a deleted key's tombstone is kept before its owner collects
    /// it. A node cut off for longer is reset (sent the whole namespace)
    /// rather than told of each delete, so nothing deleted comes back.
    pub tombstone_grace: Duration,
    /// How a node with keys treats plain traffic (the three steps of
    /// turning sealing on; see [`Sealing`]). No effect without keys.
    pub sealing: Sealing,
    /// Most members the table holds (dead and left ones included until
    /// reaped): news of more members is ignored, so that nobody can
    /// stretch this node's probe round without bound.
    pub max_members: usize,
}

/// Most join attempts [`Config::join_attempts`] may ask for (0, for ever, aside).
const MAX_JOIN_ATTEMPTS: u32 = 1000;

/// Parses a duration as configs and command lines write it: a number and a
/// unit, `us`, `ms`, `s`, `m` (or `min`) or `h`, like `1500ms`, `1.5s` or
/// `2m`; a bare `0` is zero. The error says what was wrong and what is allowed.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| {
        format!("invalid duration '{s}': expected a number and a unit, like 250ms, 1.5s or 2m")
    })?;
    let scale = match unit.trim() {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "" if value == 0.0 => 0.0,
        _ => {
            return Err(format!(
                "invalid duration '{s}': the unit must be us, ms, s, m or h"
            ))
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || secs > 1e9 {
        return Err(format!("invalid duration '{s}': at most 10^9 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Largest member name accepted locally and from the network.
pub const MAX_NAME_LEN: usize = 128;

impl Config {
    /// Values for a LAN: memberlist's `DefaultLANConfig`.
    pub fn lan() -> Self {
        Config {
            cluster: String::new(),
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            indirect_checks: 3,
            gossip_interval: Duration::from_millis(200),
            gossip_fanout: 3,
            retransmit_mult: 4,
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            push_pull_interval: Duration::from_secs(30),
            gossip_to_the_dead: Duration::from_secs(30),
            reap_after: Duration::from_secs(300),
            awareness_max_multiplier: 8,
            max_packet_size: 1400,
            max_stream_frame: 8 << 20,
            max_meta_size: 512,
            join_retry_min: Duration::from_millis(500),
            join_retry_max: Duration::from_secs(30),
            join_attempts: 0,
            tombstone_grace: Duration::from_secs(600),
            sealing: Sealing::Require,
            max_members: 65_536,
        }
    }

    /// Values for a WAN: longer timeouts, more fanout.
    pub fn wan() -> Self {
        Config {
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(3),
            gossip_interval: Duration::from_millis(500),
            gossip_fanout: 4,
            suspicion_mult: 6,
            push_pull_interval: Duration::from_secs(60),
            gossip_to_the_dead: Duration::from_secs(60),
            reap_after: Duration::from_secs(600),
            ..Config::lan()
        }
    }

    /// Values for one host (loopback): short timeouts.
    pub fn local() -> Self {
        Config {
            probe_timeout: Duration::from_millis(200),
            indirect_checks: 1,
            gossip_interval: Duration::from_millis(100),
            retransmit_mult: 2,
            suspicion_mult: 3,
            push_pull_interval: Duration::from_secs(15),
            gossip_to_the_dead: Duration::from_secs(15),
            reap_after: Duration::from_secs(150),
            ..Config::lan()
        }
    }

    /// Checks every field against its allowed range.
    ///
    /// The error names the field, the value given and what is allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn err(field: &'static str, value: String, allowed: &'static str) -> ConfigError {
            ConfigError {
                field,
                value,
                allowed,
            }
        }
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        let in_ms = |field, d: Duration, lo: u64, hi: u64, allowed| {
            if d < Duration::from_millis(lo) || d > Duration::from_millis(hi) {
                Err(err(field, ms(d), allowed))
            } else {
                Ok(())
            }
        };
        if self.cluster.len() > MAX_NAME_LEN {
            return Err(err(
                "cluster",
                format!("{} bytes", self.cluster.len()),
                "at most 128 bytes",
            ));
        }
        in_ms(
            "probe_interval",
            self.probe_interval,
            10,
            600_000,
            "10ms to 10min",
        )?;
        in_ms(
            "probe_timeout",
            self.probe_timeout,
            1,
            600_000,
            "1ms to 10min",
        )?;
        if self.probe_timeout >= self.probe_interval {
            return Err(err(
                "probe_timeout",
                ms(self.probe_timeout),
                "less than probe_interval",
            ));
        }
        if self.indirect_checks > 16 {
            return Err(err(
                "indirect_checks",
                self.indirect_checks.to_string(),
                "0 to 16",
            ));
        }
        in_ms(
            "gossip_interval",
            self.gossip_interval,
            1,
            600_000,
            "1ms to 10min",
        )?;
        if !(1..=64).contains(&self.gossip_fanout) {
            return Err(err(
                "gossip_fanout",
                self.gossip_fanout.to_string(),
                "1 to 64",
            ));
        }
        if !(1..=64).contains(&self.retransmit_mult) {
            return Err(err(
                "retransmit_mult",
                self.retransmit_mult.to_string(),
                "1 to 64",
            ));
        }
        if !(1..=64).contains(&self.suspicion_mult) {
            return Err(err(
                "suspicion_mult",
                self.suspicion_mult.to_string(),
                "1 to 64",
            ));
        }
        if !(1..=64).contains(&self.suspicion_max_timeout_mult) {
            return Err(err(
                "suspicion_max_timeout_mult",
                self.suspicion_max_timeout_mult.to_string(),
                "1 to 64",
            ));
        }
        if !self.push_pull_interval.is_zero() {
            in_ms(
                "push_pull_interval",
                self.push_pull_interval,
                100,
                86_400_000,
                "0 (off) or 100ms to 24h",
            )?;
        }
        in_ms(
            "gossip_to_the_dead",
            self.gossip_to_the_dead,
            0,
            86_400_000,
            "0 to 24h",
        )?;
        in_ms("reap_after", self.reap_after, 0, 604_800_000, "0 to 7 days")?;
        in_ms(
            "tombstone_grace",
            self.tombstone_grace,
            0,
            604_800_000,
            "0 to 7 days",
        )?;
        if self.reap_after < self.gossip_to_the_dead {
            return Err(err(
                "reap_after",
                ms(self.reap_after),
                "at least gossip_to_the_dead",
            ));
        }
        if self.awareness_max_multiplier > 64 {
            return Err(err(
                "awareness_max_multiplier",
                self.awareness_max_multiplier.to_string(),
                "0 (off) to 64",
            ));
        }
        if !(512..=65_507).contains(&self.max_packet_size) {
            return Err(err(
                "max_packet_size",
                self.max_packet_size.to_string(),
                "512 to 65507 bytes",
            ));
        }
        if !(65_536..=(256 << 20)).contains(&self.max_stream_frame) {
            return Err(err(
                "max_stream_frame",
                self.max_stream_frame.to_string(),
                "64 KiB to 256 MiB",
            ));
        }
        if self.max_meta_size > self.max_packet_size / 2 {
            return Err(err(
                "max_meta_size",
                self.max_meta_size.to_string(),
                "at most max_packet_size / 2",
            ));
        }
        if !(16..=1 << 24).contains(&self.max_members) {
            return Err(err(
                "max_members",
                self.max_members.to_string(),
                "16 to 16777216",
            ));
        }
        in_ms(
            "join_retry_min",
            self.join_retry_min,
            1,
            3_600_000,
            "1ms to 1h",
        )?;
        if self.join_retry_max < self.join_retry_min
            || self.join_retry_max > Duration::from_secs(3600)
        {
            return Err(err(
                "join_retry_max",
                ms(self.join_retry_max),
                "join_retry_min to 1h",
            ));
        }
        if self.join_attempts > MAX_JOIN_ATTEMPTS {
            return Err(err(
                "join_attempts",
                self.join_attempts.to_string(),
                "0 (retry for ever) or 1 to 1000",
            ));
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::lan()
    }
}

/// A config field outside its allowed range.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The field's name, as in [`Config`].
    pub field: &'static str,
    /// The value that was given.
    pub value: String,
    /// What the field allows.
    pub allowed: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid config: {} = {} (allowed: {})",
            self.field, self.value, self.allowed
        )
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_match_the_design_table() {
        for c in [Config::lan(), Config::wan(), Config::local()] {
            c.validate().unwrap();
        }
        let (lan, wan, local) = (Config::lan(), Config::wan(), Config::local());
        assert_eq!(
            (lan.probe_interval, lan.probe_timeout),
            (Duration::from_secs(1), Duration::from_millis(500))
        );
        assert_eq!(
            (wan.probe_interval, wan.probe_timeout),
            (Duration::from_secs(5), Duration::from_secs(3))
        );
        assert_eq!(local.probe_timeout, Duration::from_millis(200));
        assert_eq!(
            (
                lan.indirect_checks,
                wan.indirect_checks,
                local.indirect_checks
            ),
            (3, 3, 1)
        );
        assert_eq!(
            (wan.gossip_interval, wan.gossip_fanout),
            (Duration::from_millis(500), 4)
        );
        assert_eq!((local.retransmit_mult, local.suspicion_mult), (2, 3));
        assert_eq!(wan.suspicion_mult, 6);
        assert_eq!(local.push_pull_interval, Duration::from_secs(15));
    }

    #[test]
    fn durations_parse_as_written_in_configs() {
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("30").unwrap_err().contains("unit must be"));
        assert!(parse_duration("fast")
            .unwrap_err()
            .contains("expected a number"));
        assert!(parse_duration("1e300s").is_err());
    }

    #[test]
    fn validate_names_the_field_and_the_range() {
        let c = Config {
            probe_timeout: Duration::from_secs(2),
            ..Config::lan()
        };
        let e = c.validate().unwrap_err();
        assert_eq!(e.field, "probe_timeout");
        assert!(e.to_string().contains("less than probe_interval"), "{e}");

        let c = Config {
            gossip_fanout: 0,
            ..Config::lan()
        };
        assert_eq!(c.validate().unwrap_err().field, "gossip_fanout");
        let c = Config {
            max_packet_size: 100,
            ..Config::lan()
        };
        let e = c.validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid config: max_packet_size = 100 (allowed: 512 to 65507 bytes)"
        );
        let c = Config {
            reap_after: Duration::from_secs(1),
            ..Config::lan()
        };
        assert_eq!(c.validate().unwrap_err().field, "reap_after");
    }
}
