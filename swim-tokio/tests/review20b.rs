//! Review 20b (agent level): a snapshot whose `events` record holds a
//! garbage floor. Failed on 980b4b9, passes since the agent refuses such a
//! floor with a warning (see swim-core/tests/review20b.rs for the
//! core-level findings).

mod common;

use common::{wait_for, Agent, TempDir};
use std::time::{Duration, Instant};
use swim_tokio::snapshot::Record;

/// `{"op":"events","floor":18446744073709551615}` in agent 2's snapshot
/// (hand-edited, or a corrupt but checksummed line): the agent starts and
/// joins without a word, then never runs a handler for a user event again,
/// and its own events reach nobody.
#[test]
fn finding_an_agent_resumes_a_garbage_event_floor_and_goes_deaf_and_mute() {
    let dir = TempDir::new("r20b-floor");
    let snap = dir.path("r2.snapshot");
    std::fs::write(&snap, Record::Events { floor: u64::MAX }.encode()).unwrap();
    let handler = format!(
        "user:ping=echo \"$SWIM_SELF_NAME $SWIM_ORIGIN\" >> {}/$SWIM_SELF_NAME.out",
        dir.0.display()
    );
    let a = Agent::start_with("r1", "127.0.0.1:0", &[], &["--event-handler", &handler]);
    let b = Agent::start_with(
        "r2",
        "127.0.0.1:0",
        &[a.gossip],
        &[
            "--event-handler",
            &handler,
            "--snapshot",
            snap.to_str().unwrap(),
        ],
    );
    wait_for("2 agents converge", Duration::from_secs(30), || {
        [&a, &b].iter().all(|x| {
            x.members()
                .is_some_and(|ms| ms.len() == 2 && ms.iter().all(|m| m.1 == "alive"))
        })
    });
    // Not coalesced: the two fired together would run a `user:ping`
    // handler once, for the newer.
    assert!(a.cli(&["event", "--no-coalesce", "ping"]).status.success());
    assert!(b.cli(&["event", "--no-coalesce", "ping"]).status.success());
    // Bounded poll: both agents run the handler for both events.
    let deadline = Instant::now() + Duration::from_secs(20);
    let count = |n: &str| dir.read(&format!("{n}.out")).lines().count();
    while Instant::now() < deadline && !(count("r1") == 2 && count("r2") == 2) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (r1, r2) = (dir.read("r1.out"), dir.read("r2.out"));
    eprintln!("r1 ran: {r1:?}; r2 ran: {r2:?}");
    assert!(count("r1") >= 1, "not vacuous: r1 ran its own event");
    assert!(
        b.log_text().contains("implausibly high"),
        "the operator is told"
    );
    assert_eq!(
        (count("r1"), count("r2")),
        (2, 2),
        "r1 ran {r1:?}, r2 (floor u64::MAX) ran {r2:?}"
    );
}
