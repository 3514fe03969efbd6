//! Real `swim agent` processes on loopback: convergence, crash detection,
//! refutation after a stall, graceful leave and restart with the same name.

mod common;

use common::{cluster, dead_bound, spread_bound, wait_for, Agent};
use std::time::Duration;

#[test]
fn crashed_agent_is_dead_everywhere_then_rejoins_under_the_same_name() {
    let mut agents = cluster("crash", 5);
    let victim = agents.pop().expect("five agents");
    let (name, addr) = (victim.name.clone(), victim.gossip);
    victim.signal(libc::SIGKILL);
    drop(victim);

    let bound = dead_bound(5);
    let took = wait_for(&format!("{name} dead on every other agent"), bound, || {
        agents
            .iter()
            .all(|a| a.status_of(&name).as_deref() == Some("dead"))
    });
    eprintln!("SIGKILLed {name} was dead everywhere after {took:?} (bound {bound:?})");

    let seed = agents[0].gossip;
    let restarted = Agent::start_with(&name, &addr.to_string(), &[seed], &[]);
    agents.push(restarted);
    let took = wait_for(
        &format!("restarted {name} alive everywhere with one entry"),
        spread_bound(),
        || {
            agents.iter().all(|a| {
                a.members().is_some_and(|ms| {
                    let entries: Vec<_> = ms.iter().filter(|m| m.0 == name).collect();
                    ms.len() == 5 && ms.iter().all(|m| m.1 == "alive") && entries.len() == 1
                })
            })
        },
    );
    eprintln!("restarted {name} was alive everywhere after {took:?}");
}

#[test]
fn stalled_agent_refutes_and_leaving_agent_is_left_never_dead() {
    let agents = cluster("stall", 5);

    // SIGSTOP: a CPU stall. The others suspect it; after SIGCONT it refutes.
    let paused = &agents[4];
    paused.signal(libc::SIGSTOP);
    let others = &agents[..4];
    let suspected = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for(
            "the stalled agent suspected",
            Duration::from_secs(15),
            || {
                others.iter().any(|a| {
                    matches!(
                        a.status_of(&paused.name).as_deref(),
                        Some("suspect" | "dead")
                    )
                })
            },
        )
    }));
    paused.signal(libc::SIGCONT);
    if let Err(e) = suspected {
        std::panic::resume_unwind(e);
    }
    let took = wait_for(
        "the resumed agent alive everywhere again",
        spread_bound(),
        || {
            agents.iter().all(|a| {
                a.members().is_some_and(|ms| {
                    ms.len() == 5
                        && ms.iter().all(|m| m.1 == "alive")
                        && ms.iter().any(|m| m.0 == paused.name && m.2 > 0)
                })
            })
        },
    );
    eprintln!("stalled agent refuted (higher incarnation) and was alive everywhere after {took:?}");

    // Graceful leave through the CLI: `left` everywhere, never `dead`.
    let leaver = &agents[3];
    let out = leaver.cli(&["leave"]);
    assert!(
        out.status.success(),
        "swim leave failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let remaining: Vec<&Agent> = agents.iter().filter(|a| a.name != leaver.name).collect();
    let mut seen_dead = None;
    let took = wait_for("the leaver left everywhere", spread_bound(), || {
        let views: Vec<Option<String>> = remaining
            .iter()
            .map(|a| a.status_of(&leaver.name))
            .collect();
        if let Some((i, _)) = views
            .iter()
            .enumerate()
            .find(|(_, s)| s.as_deref() == Some("dead"))
        {
            seen_dead = Some(remaining[i].name.clone());
        }
        views.iter().all(|s| s.as_deref() == Some("left"))
    });
    assert_eq!(seen_dead, None, "a left member was reported dead");
    eprintln!("leaver was left everywhere after {took:?}");
    // Stay a few probe periods: still left, never dead.
    let until = std::time::Instant::now() + Duration::from_secs(4);
    while std::time::Instant::now() < until {
        for a in &remaining {
            assert_eq!(
                a.status_of(&leaver.name).as_deref(),
                Some("left"),
                "on {}",
                a.name
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
