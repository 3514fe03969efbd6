//! Protocol parameters: presets from memberlist's proven values and validation.

use crate::seal::Sealing;
use core::fmt;
use core::time::Duration;

/// Defines [`Config`] and [`ConfigOverrides`] from one list of fields, so
/// the two can never drift apart: every field of the one is a field of the
/// other, with the same name, type and documentation.
macro_rules! config_fields {
    ($( $(#[$attr:meta])* $field:ident : $ty:ty, )*) => {
        /// Every knob of the protocol, as plain fields.
        ///
        /// Start from a preset ([`Config::lan`], [`Config::wan`],
        /// [`Config::local`]), change fields (in code, or from a config file
        /// through [`ConfigOverrides`]), then let
        /// [`Node::new`](crate::Node::new) call [`Config::validate`].
        ///
        /// With the `serde` feature a `Config` serializes as a table of
        /// every field (durations as strings such as `"1.5s"`, the sealing
        /// step as `"accept"`, `"send"` or `"require"`), and deserializes
        /// from one that names every field and nothing else.
        #[derive(Clone, Debug, PartialEq)]
        #[cfg_attr(
            feature = "serde",
            derive(serde::Serialize, serde::Deserialize),
            serde(deny_unknown_fields)
        )]
        pub struct Config {
            $(
                $(#[$attr])*
                #[cfg_attr(feature = "serde", serde(with = "field"))]
                pub $field: $ty,
            )*
        }

        /// Some fields of a [`Config`]: what a config file changes on a
        /// preset. A field left `None` keeps the preset's value.
        ///
        /// Every field of [`Config`] is here under the same name. With the
        /// `serde` feature it deserializes from a table of any of them
        /// (durations as `"250us"`, `"500ms"`, `"1.5s"`, `"2m"`, `"1h"` or
        /// an integer of milliseconds; `sealing` as `"accept"`, `"send"` or
        /// `"require"`), and refuses a key that is not a field, naming it
        /// and the fields allowed.
        #[derive(Clone, Debug, Default, PartialEq)]
        #[cfg_attr(
            feature = "serde",
            derive(serde::Serialize, serde::Deserialize),
            serde(default, deny_unknown_fields)
        )]
        pub struct ConfigOverrides {
            $(
                $(#[$attr])*
                #[cfg_attr(
                    feature = "serde",
                    serde(with = "field::option", skip_serializing_if = "Option::is_none")
                )]
                pub $field: Option<$ty>,
            )*
        }

        impl Config {
            /// The name of every field, in declaration order: the keys a
            /// config file's protocol table may hold.
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];
        }

        impl ConfigOverrides {
            /// Writes every field that is set into `c`.
            pub fn apply(&self, c: &mut Config) {
                $(
                    if let Some(v) = &self.$field {
                        c.$field = v.clone();
                    }
                )*
            }

            /// Takes every field that `later` sets (a later file overrides
            /// an earlier one key by key); the others stay as they are.
            pub fn merge(&mut self, later: &ConfigOverrides) {
                $(
                    if let Some(v) = &later.$field {
                        self.$field = Some(v.clone());
                    }
                )*
            }

            /// Whether no field is set.
            pub fn is_empty(&self) -> bool {
                true $(&& self.$field.is_none())*
            }
        }

        impl From<Config> for ConfigOverrides {
            /// Every field set to `c`'s value.
            fn from(c: Config) -> Self {
                ConfigOverrides {
                    $($field: Some(c.$field),)*
                }
            }
        }
    };
}

config_fields! {
    /// Cluster label carried in every packet; traffic with another label is dropped.
    cluster: String,
    /// Time between two probes (one protocol period).
    probe_interval: Duration,
    /// How long to wait for a direct ack before asking others (ping-req).
    probe_timeout: Duration,
    /// How many members are asked to probe indirectly (`k`).
    indirect_checks: usize,
    /// Time between two gossip rounds.
    gossip_interval: Duration,
    /// How many random members each gossip round sends to.
    gossip_fanout: usize,
    /// Each update is sent `retransmit_mult * ceil(log10(n + 1))` times.
    retransmit_mult: u32,
    /// Minimum suspicion timeout is `suspicion_mult * max(1, log10 n) * probe_interval`.
    suspicion_mult: u32,
    /// Maximum suspicion timeout is `suspicion_max_timeout_mult` times the minimum.
    suspicion_max_timeout_mult: u32,
    /// Base interval of the reconnect tick, an exchange with one member held
    /// dead (for clusters of up to 32 members; see
    /// [`reconnect_interval`](crate::reconnect_interval)). Zero turns off
    /// reconnects, and with them summary repair and catch-up exchanges
    /// (joining still runs). Config files may still spell it
    /// `push_pull_interval`, its former name (deprecated, read for one
    /// more release).
    #[cfg_attr(feature = "serde", serde(alias = "push_pull_interval"))]
    reconnect_interval: Duration,
    /// How long dead or left members still receive gossip.
    gossip_to_the_dead: Duration,
    /// How long dead or left members stay in the table before they are reaped.
    reap_after: Duration,
    /// Lifeguard local health: the awareness score saturates at this (0 disables it).
    awareness_max_multiplier: u32,
    /// The sick-node rule (with local health): a node whose Lifeguard score
    /// is above zero and that still hears members declares nobody dead (its
    /// suspicions wait; a healthy member's verdict is taken). Off, a node's
    /// score only stretches its probing. Separate from
    /// `awareness_max_multiplier` so each part can be measured alone.
    sick_node_rule: bool,
    /// Lifeguard's buddy system: a probe of a member this node suspects
    /// carries the suspicion, so the member hears of it and refutes at once.
    buddy: bool,
    /// Lifeguard's nacks: a relay asked for an indirect probe answers "no
    /// ack" when its own probe fails, so the asker can tell its own missing
    /// links (nacks missing too) from the target's failure.
    nack: bool,
    /// A second path before suspecting: when the direct ack is late, the
    /// node pings the target again, up to this many times (with the
    /// probe's sequence number, the first at once, the others spaced over
    /// the relays' wait), while the relays run their indirect probes. One
    /// lost datagram on the direct path then no longer leaves the verdict
    /// to the relays alone (memberlist's TCP fallback ping plays this
    /// part). A retry is the ping alone, without gossip. Zero turns it
    /// off; at most 4.
    probe_retries: u32,
    /// Flap damping: each view counts the accusations of a member (its
    /// falls from alive, and the refutations it made while this view did
    /// not follow it) per probe interval it watched it alive, weighing both
    /// down by half in this time. A member that comes back at a rate of 0.2
    /// or more (accused at one probe in five), or after more than this time
    /// dead in the view (unseen: nothing watched), is held (shown to the
    /// application as it last was) until it has stayed alive and unaccused
    /// for 25 probe intervals (10 if it was only unseen), or its rate has
    /// decayed to 0.1; so a member that keeps failing stays out while it is
    /// sick instead of flapping, and a healthy one on a lossy link, back
    /// from a pause or a restart is shown at once (see `damping`). Zero
    /// disables it.
    flap_half_life: Duration,
    /// Largest datagram the node sends or accepts.
    max_packet_size: usize,
    /// Largest push-pull frame the node sends or accepts.
    max_stream_frame: usize,
    /// First retry delay of a join that reached no seed; doubles up to `join_retry_max`.
    join_retry_min: Duration,
    /// Longest delay between two join attempts.
    join_retry_max: Duration,
    /// Join attempts before the node gives up with
    /// [`Event::JoinFailed`](crate::Event::JoinFailed); 0 (every preset)
    /// retries for ever.
    join_attempts: u32,
    /// How long a deleted key's tombstone is kept before its owner collects
    /// it. A node cut off for longer is reset (sent the whole namespace)
    /// rather than told of each delete, so nothing deleted comes back.
    tombstone_grace: Duration,
    /// How a node with keys treats plain traffic (the three steps of
    /// turning sealing on; see [`Sealing`]). No effect without keys.
    sealing: Sealing,
    /// Most members the table holds (dead and left ones included until
    /// reaped): news of more members is ignored, so that nobody can
    /// stretch this node's probe round without bound.
    max_members: usize,
    /// Most bytes of other members' keys and values the node holds, over
    /// all of them (each owner holds at most 64 KiB, and a replica refuses
    /// more): writes and repairs beyond it are refused and counted in
    /// [`KeysRefused::budget`](crate::KeysRefused::budget). The default,
    /// 64 MiB, holds 1,000 full namespaces or 100,000 members with 600
    /// bytes of keys each.
    max_replica_bytes: usize,
}

/// Most join attempts [`Config::join_attempts`] may ask for (0, for ever, aside).
const MAX_JOIN_ATTEMPTS: u32 = 1000;

/// Longest duration [`parse_duration`] accepts, in seconds.
const MAX_DURATION_SECS: u64 = 1_000_000_000;

/// Parses a duration as configs and command lines write it: a number and a
/// unit, `ns`, `us`, `ms`, `s`, `m` (or `min`) or `h`, like `1500ms`, `1.5s`
/// or `2m`; a bare `0` is zero. The number may have a fraction, which is
/// kept exactly (to the nanosecond). The error says what was wrong and what
/// is allowed.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let not_a_number =
        || format!("invalid duration '{s}': expected a number and a unit, like 250ms, 1.5s or 2m");
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
        return Err(not_a_number());
    }
    let nanos_per_unit: u128 = match unit.trim() {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" if int.bytes().chain(frac.bytes()).all(|b| b == b'0') => 0,
        _ => {
            return Err(format!(
                "invalid duration '{s}': the unit must be ns, us, ms, s, m or h"
            ))
        }
    };
    let too_long = || format!("invalid duration '{s}': at most 10^9 seconds");
    let whole: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| too_long())?
    };
    // Nanoseconds are the finest unit: digits of the fraction past the
    // 18th cannot change the result of a unit of at most an hour.
    let frac = &frac[..frac.len().min(18)];
    let frac_value: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| not_a_number())?
    };
    let nanos = whole
        .checked_mul(nanos_per_unit)
        .and_then(|n| n.checked_add(frac_value * nanos_per_unit / 10u128.pow(frac.len() as u32)))
        .filter(|&n| n <= u128::from(MAX_DURATION_SECS) * 1_000_000_000)
        .ok_or_else(too_long)?;
    Ok(Duration::new(
        (nanos / 1_000_000_000) as u64,
        (nanos % 1_000_000_000) as u32,
    ))
}

/// Writes a duration the way [`parse_duration`] reads it back exactly: in
/// the largest unit that divides it (`2m`, `1500ms`, `250us`), `0s` for zero.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    for (unit, per) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if nanos.is_multiple_of(per) {
            return format!("{}{unit}", nanos / per);
        }
    }
    format!("{nanos}ns")
}

/// The protocol preset a config starts from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[non_exhaustive]
pub enum Preset {
    /// A local network: [`Config::lan`] (the default).
    #[default]
    Lan,
    /// Across data centres: [`Config::wan`], longer timeouts.
    Wan,
    /// One host (loopback): [`Config::local`], short timeouts.
    Local,
}

impl Preset {
    /// The protocol config of this preset.
    pub fn config(self) -> Config {
        match self {
            Preset::Lan => Config::lan(),
            Preset::Wan => Config::wan(),
            Preset::Local => Config::local(),
        }
    }

    /// The preset's lowercase name, as configs write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Lan => "lan",
            Preset::Wan => "wan",
            Preset::Local => "local",
        }
    }
}

impl core::str::FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lan" => Ok(Preset::Lan),
            "wan" => Ok(Preset::Wan),
            "local" => Ok(Preset::Local),
            other => Err(format!(
                "unknown preset `{other}` (expected lan, wan or local)"
            )),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::str::FromStr for Sealing {
    type Err = String;
    /// Parses `accept`, `send` or `require`; the error names what is allowed.
    fn from_str(s: &str) -> Result<Self, String> {
        Sealing::parse(s)
            .ok_or_else(|| format!("unknown sealing step `{s}` (expected accept, send or require)"))
    }
}

impl ConfigOverrides {
    /// The preset's config with these overrides, validated.
    pub fn onto(&self, preset: Preset) -> Result<Config, ConfigError> {
        let mut c = preset.config();
        self.apply(&mut c);
        c.validate()?;
        Ok(c)
    }
}

/// Serde for durations as configs write them (feature `serde`): a string
/// such as `"250us"`, `"500ms"`, `"1.5s"`, `"2m"` or `"1h"` (see
/// [`parse_duration`]), or an integer of milliseconds. Serializes as the
/// string [`format_duration`] writes.
///
/// ```
/// # #[derive(serde::Deserialize)]
/// struct Options {
///     #[serde(with = "swim_core::serde_duration")]
///     timeout: std::time::Duration,
///     #[serde(default, with = "swim_core::serde_duration::option")]
///     grace: Option<std::time::Duration>,
/// }
/// ```
#[cfg(feature = "serde")]
pub mod serde_duration {
    use super::{format_duration, parse_duration};
    use core::fmt;
    use core::time::Duration;
    use serde::{de, Deserializer, Serializer};

    /// Writes `d` as a string such as `"1500ms"`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    /// Reads a duration string or an integer of milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration such as \"250ms\", \"1.5s\" or \"2m\", or an integer of milliseconds",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_duration(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("a duration cannot be negative ({v} ms)")))
                    .and_then(|ms| self.visit_u64(ms))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                if v / 1000 > super::MAX_DURATION_SECS {
                    return Err(E::custom(format!(
                        "invalid duration {v} ms: at most 10^9 seconds"
                    )));
                }
                Ok(Duration::from_millis(v))
            }
        }
        d.deserialize_any(V)
    }

    /// The same for an `Option<Duration>` (pair it with `#[serde(default)]`).
    pub mod option {
        use core::time::Duration;
        use serde::{Deserializer, Serializer};

        /// Writes `Some(d)` as [`serialize`](super::serialize) does, `None` as none.
        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        /// Reads a duration as [`deserialize`](super::deserialize) does, as `Some`.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

/// How each type of [`Config`] field is (de)serialized, so that one
/// `#[serde(with = "field")]` fits every field the macro writes.
#[cfg(feature = "serde")]
mod field {
    use core::time::Duration;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// A type a [`Config`](super::Config) field may have.
    pub(super) trait Field: Sized {
        fn ser<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error>;
        fn de<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
    }

    impl Field for Duration {
        fn ser<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            super::serde_duration::serialize(self, s)
        }
        fn de<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            super::serde_duration::deserialize(d)
        }
    }

    macro_rules! plain {
        ($($t:ty),*) => {$(
            impl Field for $t {
                fn ser<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    self.serialize(s)
                }
                fn de<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    <$t>::deserialize(d)
                }
            }
        )*};
    }
    plain!(bool, u32, usize, String, crate::Sealing);

    pub(super) fn serialize<T: Field, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        v.ser(s)
    }

    pub(super) fn deserialize<'de, T: Field, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        T::de(d)
    }

    pub(super) mod option {
        use super::Field;
        use serde::{Deserializer, Serializer};

        pub(in super::super) fn serialize<T: Field, S: Serializer>(
            v: &Option<T>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => v.ser(s),
                None => s.serialize_none(),
            }
        }

        pub(in super::super) fn deserialize<'de, T: Field, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<T>, D::Error> {
            T::de(d).map(Some)
        }
    }
}

/// Written as `"accept"`, `"send"` or `"require"` (feature `serde`).
#[cfg(feature = "serde")]
impl serde::Serialize for Sealing {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Read from `"accept"`, `"send"` or `"require"` (feature `serde`).
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Sealing {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let s = String::deserialize(d)?;
        s.parse().map_err(D::Error::custom)
    }
}

pub use crate::wire::MAX_NAME_LEN;

/// Most direct pings a probe sends again before it concludes (see
/// [`Config::probe_retries`](Config)).
const MAX_PROBE_RETRIES: u32 = 4;

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
            reconnect_interval: Duration::from_secs(30),
            gossip_to_the_dead: Duration::from_secs(30),
            reap_after: Duration::from_secs(300),
            awareness_max_multiplier: 8,
            sick_node_rule: true,
            buddy: true,
            nack: true,
            probe_retries: 3,
            flap_half_life: Duration::from_secs(15),
            max_packet_size: 1400,
            max_stream_frame: 8 << 20,
            join_retry_min: Duration::from_millis(500),
            join_retry_max: Duration::from_secs(30),
            join_attempts: 0,
            tombstone_grace: Duration::from_secs(600),
            sealing: Sealing::Require,
            max_members: 65_536,
            max_replica_bytes: 64 << 20,
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
            reconnect_interval: Duration::from_secs(60),
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
            reconnect_interval: Duration::from_secs(15),
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
        if self.probe_retries > MAX_PROBE_RETRIES {
            return Err(err(
                "probe_retries",
                self.probe_retries.to_string(),
                "0 to 4",
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
        if !self.reconnect_interval.is_zero() {
            in_ms(
                "reconnect_interval",
                self.reconnect_interval,
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
        // A full namespace (64 KiB of keys and values, 256 keys) goes whole
        // in one frame, with room for the framing and a table of members.
        if !((128 << 10)..=(256 << 20)).contains(&self.max_stream_frame) {
            return Err(err(
                "max_stream_frame",
                self.max_stream_frame.to_string(),
                "128 KiB to 256 MiB",
            ));
        }
        if !((64 << 10)..=(1 << 40)).contains(&self.max_replica_bytes) {
            return Err(err(
                "max_replica_bytes",
                self.max_replica_bytes.to_string(),
                "64 KiB to 1 TiB",
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
        assert_eq!(local.reconnect_interval, Duration::from_secs(15));
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
    fn durations_are_exact_and_format_back_to_what_parses() {
        assert_eq!(parse_duration("2.5ns"), Ok(Duration::from_nanos(2)));
        assert_eq!(parse_duration("1.000000001s"), Ok(Duration::new(1, 1)));
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0.0"), Ok(Duration::ZERO));
        assert_eq!(
            parse_duration("1000000000s"),
            Ok(Duration::from_secs(1_000_000_000))
        );
        assert!(parse_duration("1000000001s")
            .unwrap_err()
            .contains("at most 10^9 seconds"));
        assert!(parse_duration("1.2.3s")
            .unwrap_err()
            .contains("expected a number"));
        assert!(parse_duration("-1s")
            .unwrap_err()
            .contains("expected a number"));
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(7200), "2h"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_micros(250), "250us"),
            (Duration::new(1, 1), "1000000001ns"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d), "{text}");
        }
    }

    #[test]
    fn presets_and_sealing_steps_parse_by_name() {
        for p in [Preset::Lan, Preset::Wan, Preset::Local] {
            assert_eq!(p.as_str().parse::<Preset>(), Ok(p));
        }
        assert_eq!(Preset::Wan.config(), Config::wan());
        assert_eq!(
            "fast".parse::<Preset>(),
            Err("unknown preset `fast` (expected lan, wan or local)".into())
        );
        for s in [Sealing::Accept, Sealing::Send, Sealing::Require] {
            assert_eq!(s.as_str().parse::<Sealing>(), Ok(s));
        }
        assert!("sealed"
            .parse::<Sealing>()
            .unwrap_err()
            .contains("expected accept, send or require"));
    }

    #[test]
    fn overrides_apply_merge_and_validate_onto_a_preset() {
        let mut a = ConfigOverrides {
            probe_interval: Some(Duration::from_secs(4)),
            gossip_fanout: Some(5),
            ..ConfigOverrides::default()
        };
        assert!(!a.is_empty() && ConfigOverrides::default().is_empty());
        a.merge(&ConfigOverrides {
            gossip_fanout: Some(6),
            sealing: Some(Sealing::Send),
            ..ConfigOverrides::default()
        });
        let c = a.onto(Preset::Wan).unwrap();
        assert_eq!(
            (c.probe_interval, c.gossip_fanout, c.sealing),
            (Duration::from_secs(4), 6, Sealing::Send)
        );
        assert_eq!(c.probe_timeout, Config::wan().probe_timeout);
        let bad = ConfigOverrides {
            probe_timeout: Some(Duration::from_secs(5)),
            ..ConfigOverrides::default()
        };
        assert_eq!(bad.onto(Preset::Lan).unwrap_err().field, "probe_timeout");
        let all = ConfigOverrides::from(Config::wan());
        let mut lan = Config::lan();
        all.apply(&mut lan);
        assert_eq!(lan, Config::wan());
        assert_eq!(Config::FIELDS.len(), 27);
        assert_eq!(Config::FIELDS[0], "cluster");
    }

    /// The serde forms, through JSON (TOML files are tested by the agent
    /// and the simulator, which load them).
    #[cfg(feature = "serde")]
    #[test]
    fn serde_reads_durations_as_strings_or_milliseconds_and_refuses_unknown_fields() {
        let o: ConfigOverrides = serde_json::from_str(
            r#"{"probe_interval": "1.5s", "reap_after": 60000, "sealing": "accept", "cluster": "prod"}"#,
        )
        .unwrap();
        assert_eq!(o.probe_interval, Some(Duration::from_millis(1500)));
        assert_eq!(o.reap_after, Some(Duration::from_secs(60)));
        assert_eq!(o.sealing, Some(Sealing::Accept));
        assert_eq!(o.cluster.as_deref(), Some("prod"));
        assert_eq!(o.gossip_fanout, None);
        let e = serde_json::from_str::<ConfigOverrides>(r#"{"probe_intervall": "1s"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown field `probe_intervall`") && e.contains("`max_members`"),
            "{e}"
        );
        let e = serde_json::from_str::<ConfigOverrides>(r#"{"reap_after": -5}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot be negative"), "{e}");
        let e = serde_json::from_str::<ConfigOverrides>(r#"{"sealing": "on"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected accept, send or require"), "{e}");
        let e = serde_json::from_str::<ConfigOverrides>(r#"{"probe_interval": true}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("or an integer of milliseconds"), "{e}");

        // A whole Config round-trips, durations written as strings.
        let json = serde_json::to_value(Config::wan()).unwrap();
        assert_eq!(json["probe_interval"], "5s");
        assert_eq!(json["sealing"], "require");
        assert_eq!(json.as_object().unwrap().len(), Config::FIELDS.len());
        assert_eq!(
            serde_json::from_value::<Config>(json.clone()).unwrap(),
            Config::wan()
        );
        // Overrides serialize only what they set.
        let o = ConfigOverrides {
            gossip_fanout: Some(5),
            ..ConfigOverrides::default()
        };
        assert_eq!(serde_json::to_string(&o).unwrap(), r#"{"gossip_fanout":5}"#);
        assert_eq!(
            serde_json::from_str::<Preset>(r#""local""#).unwrap(),
            Preset::Local
        );
        // The old name of `reconnect_interval` is still read, for one release.
        let o: ConfigOverrides = serde_json::from_str(r#"{"push_pull_interval": "20s"}"#).unwrap();
        assert_eq!(o.reconnect_interval, Some(Duration::from_secs(20)));
        let mut json = serde_json::to_value(Config::lan()).unwrap();
        let v = json.as_object_mut().unwrap().remove("reconnect_interval");
        json["push_pull_interval"] = v.unwrap();
        assert_eq!(
            serde_json::from_value::<Config>(json).unwrap(),
            Config::lan()
        );
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
