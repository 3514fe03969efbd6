//! What every plain counter of `/v1/metrics` and `/metrics` means: one table
//! read by the Prometheus output (its `# HELP` lines) and checked against
//! `docs/operations.md` by a test, so the two cannot drift apart.
//!
//! Names are the JSON keys of `/v1/metrics` (the driver's counters with the
//! `driver_` prefix, the control API's with `control_`); in Prometheus each
//! is `swim_NAME_total`.

/// `(name, help)` of every plain counter.
pub(crate) const COUNTERS: &[(&str, &str)] = &[
    ("updates_sent", "Membership updates piggybacked on packets this node sent"),
    ("updates_received", "Membership updates this node received"),
    ("probes", "Probes this node started (one member pinged per protocol period)"),
    ("indirect_probes", "Probes that got no direct ack in time and asked other members to ping-req the target"),
    ("probe_retries", "Direct pings sent again to a probe's target before giving up on it (probe_retries in the config)"),
    ("probe_failures", "Probes that got no ack at all, direct or relayed: each makes the target suspect"),
    ("suspicions", "Members this node started to suspect"),
    ("refutations", "Suspicions or death notices of this node that it refuted with a higher incarnation"),
    ("deaths", "Members this node itself declared dead (a suspicion that ran out)"),
    ("push_pulls", "Full-state exchanges completed, either side"),
    ("push_pull_failures", "Full-state exchanges this node opened that failed (refused, timed out, reset)"),
    ("keys_written", "Writes (sets and deletes) to this node's own keys"),
    ("deltas_sent", "Key writes piggybacked on packets this node sent"),
    ("deltas_applied", "Key writes heard by gossip that changed this node's copy"),
    ("namespaces_repaired", "Members' key namespaces repaired from a peer by anti-entropy"),
    ("resets", "Of namespaces_repaired: repairs that replaced a member's whole namespace (its owner restarted or moved to a new life)"),
    ("repair_exchanges", "Repair exchanges opened because a peer's key summary kept differing from this node's"),
    ("repairs", "Deprecated name of namespaces_repaired; removed in the next release"),
    ("summary_repairs", "Deprecated name of repair_exchanges; removed in the next release"),
    ("conflicts", "Other live processes found using this node's name (names must be unique; rename one)"),
    ("unrefutable", "Accusations of this node at an incarnation it could not outbid (it cannot refute them; restart it with a fresh life)"),
    ("held", "Members that came back while flapping and were held out of the table for a while (see flap_half_life)"),
    ("members_refused", "News of unknown members ignored: the table was full (max_members) or an unasked stream frame named too many"),
    ("members_capped", "Of members_refused: new members beyond what one source address may add per interval"),
    ("candidates", "Unknown members heard of second-hand, held as candidates and pinged before they join the table"),
    ("candidates_verified", "Candidates that answered their ping and joined the table"),
    ("candidates_forgotten", "Candidates that never answered, forgotten without suspicion or tombstone"),
    ("candidates_evicted", "Candidates forgotten before their check ended to make room for newer ones (256 at most)"),
    ("candidates_refused", "News of unknown members not checked because this node had started as many checks as it may"),
    ("candidates_unpinged", "Candidates not pinged: the ping would have cost more than the news paid for, or pointed at this node"),
    ("replies_capped", "Replies withheld or sent without gossip because a non-member source had drawn its share of bytes"),
    ("joins_refused", "Joins this node refused because the joiner used a name a running member holds"),
    ("queries_stale", "Queries ignored as replays or older than this node's query clock"),
    ("queries_unanswered", "Queries carried out but not answered: their origin is not a member this node knows"),
    ("queries_refused", "Queries carried out but not passed on: too many were waiting to spread"),
    ("answers_unasked", "Answers to this node's queries from members the query did not ask (not counted as answers)"),
    ("events_delivered", "User events delivered to the application, each once"),
    ("events_old", "User events ignored as older than this node's floor (fired before it joined, or forgotten)"),
    ("events_refused", "User events delivered but not passed on: too many were waiting to spread"),
    ("lives_differ", "Members told that a peer's full state holds them alive in another life (they outbid it)"),
    ("claims", "Claims about this node's own keys it did not write (forged, or a restart that reused a life)"),
    ("namespace_moves", "Times this node moved its key namespace to a new life to answer claims"),
    ("keys_disputed", "Digests that showed another member's namespace at our life with other entries: the owner is asked to look"),
    ("driver_udp_recv_errors", "Errors receiving on the UDP socket (the agent went on)"),
    ("driver_udp_send_errors", "Datagrams that could not be sent (full buffer, unreachable)"),
    ("driver_streams_out", "Push-pull streams this agent opened to peers"),
    ("driver_streams_in", "Push-pull streams peers opened to this agent"),
    ("driver_stream_errors", "Streams that failed with an IO error (refused, reset, closed early)"),
    ("driver_stream_timeouts", "Streams that timed out"),
    ("driver_stream_frames_oversized", "Stream frames refused as larger than max_stream_frame"),
    ("driver_accept_errors", "Errors accepting incoming streams"),
    ("driver_streams_refused", "Incoming streams closed at once: every slot was held by a trusted stream"),
    ("driver_streams_evicted", "Incoming streams not yet answered whose slot was taken back for a newer stream"),
    ("control_connections_refused", "Control API connections refused: all max_connections were open"),
    ("control_header_timeouts", "Control API connections closed because their request headers did not arrive in time"),
    ("control_monitors_refused", "Monitor streams refused: all max_monitors were open"),
];

/// The help of counter `name`, if the table has it.
pub(crate) fn help(name: &str) -> Option<&'static str> {
    COUNTERS.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
}

/// The counters' table of `docs/operations.md`, as the table above makes it.
#[cfg(test)]
pub(crate) fn doc_table() -> String {
    let mut t = String::from("| counter (`/v1/metrics` key) | Prometheus | what it counts |\n");
    t.push_str("| --- | --- | --- |\n");
    for (name, help) in COUNTERS {
        let json = match name.split_once('_') {
            Some(("driver", rest)) => format!("driver.{rest}"),
            Some(("control", rest)) => format!("control.{rest}"),
            _ => name.to_string(),
        };
        t.push_str(&format!("| `{json}` | `swim_{name}_total` | {help} |\n"));
    }
    t
}
