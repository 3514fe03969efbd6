//! One config model: the agent's `[protocol]` table and a simulator
//! scenario's `[config]` table are both a preset plus overrides of any
//! `swim_core::Config` field, read by the same code.

use std::time::Duration;
use swim_tokio::swim_core::{Config, ConfigOverrides, Sealing};
use swim_tokio::FileConfig;

/// A valid config that differs from `Config::lan()` in every field.
fn every_field_changed() -> Config {
    Config {
        cluster: "prod".into(),
        probe_interval: Duration::from_millis(1500),
        probe_timeout: Duration::from_millis(700),
        indirect_checks: 4,
        gossip_interval: Duration::from_millis(250),
        gossip_fanout: 5,
        retransmit_mult: 5,
        suspicion_mult: 5,
        suspicion_max_timeout_mult: 7,
        reconnect_interval: Duration::from_secs(45),
        gossip_to_the_dead: Duration::from_secs(40),
        reap_after: Duration::from_secs(400),
        awareness_max_multiplier: 9,
        sick_node_rule: false,
        buddy: false,
        nack: false,
        probe_retries: 1,
        flap_half_life: Duration::from_secs(20),
        max_packet_size: 1300,
        max_stream_frame: 4 << 20,
        join_retry_min: Duration::from_micros(250_500),
        join_retry_max: Duration::from_secs(20),
        join_attempts: 7,
        tombstone_grace: Duration::from_secs(900),
        sealing: Sealing::Send,
        max_members: 1000,
        max_replica_bytes: 32 << 20,
    }
}

/// `config` as the body of a TOML table.
fn toml_body(config: &Config) -> String {
    toml::to_string(&toml::Table::try_from(config).expect("a Config serializes")).expect("TOML")
}

/// The config the agent's file and the scenario make of one table.
fn both_ways(preset: &str, body: &str) -> (Config, Config) {
    let agent = FileConfig::parse(
        &format!("preset = \"{preset}\"\n[protocol]\n{body}"),
        "a.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .protocol_config(None);
    agent.validate().expect("the agent's config is valid");
    let scenario = swim_sim::Scenario::parse(
        &format!("nodes = 3\nduration = \"10s\"\npreset = \"{preset}\"\n[config]\n{body}"),
        "s.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .options
    .config;
    (agent, scenario)
}

#[test]
fn one_table_gives_one_config_in_the_agent_and_in_a_scenario() {
    // Every way a value may be written: duration strings with a fraction,
    // integer milliseconds, a sealing step, and keys the simulator's old
    // hand-written copy refused (join_retry_min, max_stream_frame...).
    let body = "probe_interval = \"1.5s\"\nprobe_timeout = 600\ngossip_fanout = 5\n\
                join_retry_min = \"250ms\"\njoin_retry_max = \"2m\"\nmax_stream_frame = 1048576\n\
                buddy = false\nsealing = \"accept\"\ncluster = \"blue\"\n";
    let (agent, scenario) = both_ways("wan", body);
    assert_eq!(agent, scenario);
    let mut expected = Config::wan();
    expected.probe_interval = Duration::from_millis(1500);
    expected.probe_timeout = Duration::from_millis(600);
    expected.gossip_fanout = 5;
    expected.join_retry_min = Duration::from_millis(250);
    expected.join_retry_max = Duration::from_secs(120);
    expected.max_stream_frame = 1 << 20;
    expected.buddy = false;
    expected.sealing = Sealing::Accept;
    expected.cluster = "blue".into();
    assert_eq!(agent, expected);
}

#[test]
fn every_config_field_is_settable_from_toml_in_both() {
    let target = every_field_changed();
    target.validate().expect("the target config is valid");
    // Every field is in the serialized table and differs from lan's, so
    // each one must be read for the result to equal the target.
    let lan = toml::Table::try_from(Config::lan()).expect("serializes");
    let changed = toml::Table::try_from(&target).expect("serializes");
    assert_eq!(changed.len(), Config::FIELDS.len());
    for field in Config::FIELDS {
        assert_ne!(
            lan.get(*field),
            changed.get(*field),
            "{field} is the same as lan's"
        );
    }
    let (agent, scenario) = both_ways("lan", &toml_body(&target));
    assert_eq!(agent, target);
    assert_eq!(scenario, target);

    // wan written out as overrides, read onto lan: wan.
    let (agent, scenario) = both_ways("lan", &toml_body(&Config::wan()));
    assert_eq!(agent, Config::wan());
    assert_eq!(scenario, Config::wan());
    let overrides: ConfigOverrides = toml::from_str(&toml_body(&Config::wan())).expect("parses");
    assert_eq!(overrides, ConfigOverrides::from(Config::wan()));
}

#[test]
fn both_refuse_an_unknown_key_naming_the_file_line_and_key() {
    let agent = FileConfig::parse("[protocol]\ngossip_fanout = 4\nfanout = 4\n", "a.toml")
        .unwrap_err()
        .to_string();
    let scenario = swim_sim::Scenario::parse(
        "nodes = 3\nduration = \"10s\"\n[config]\nfanout = 4\n",
        "s.toml",
    )
    .unwrap_err();
    for (e, head) in [
        (&agent, "config file a.toml: line 3: unknown field `fanout`"),
        (&scenario, "s.toml: line 4: unknown field `fanout`"),
    ] {
        assert!(e.starts_with(head) && e.contains("`gossip_fanout`"), "{e}");
    }
}
