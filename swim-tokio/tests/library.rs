//! The library API in one process: events, join, leave, IPv6.

use std::net::SocketAddr;
use std::time::Duration;
use swim_tokio::swim_core::{Event, Status};
use swim_tokio::{AgentConfig, Handle, HandleError, Preset, StartError};
use tokio::time::{sleep, timeout, Instant};

async fn node(name: &str, bind: &str, seeds: &[SocketAddr]) -> Result<Handle, StartError> {
    let bind: SocketAddr = bind.parse().expect("bind address");
    let mut c = AgentConfig::new(name, bind, Preset::Local);
    c.seeds = seeds.iter().map(|s| s.to_string()).collect();
    swim_tokio::start(c).await
}

async fn converge(nodes: &[&Handle], n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut ok = true;
        for h in nodes {
            let ms = h.members().await.expect("members");
            ok &= ms.len() == n && ms.iter().all(|m| m.status == Status::Alive);
        }
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "{n} nodes did not converge");
        sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn events_join_and_graceful_leave() {
    let a = node("lib-a", "127.0.0.1:0", &[]).await.expect("start a");
    let mut events = a.subscribe();
    let b = node("lib-b", "127.0.0.1:0", &[]).await.expect("start b");
    b.join(&[a.local_addr().to_string()]).await.expect("join");
    converge(&[&a, &b], 2).await;
    let joined = timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(Event::MemberJoined { member: m, .. }) = events.recv().await {
                return m;
            }
        }
    })
    .await
    .expect("a MemberJoined event");
    assert_eq!(&*joined.name, "lib-b");

    let outcome = b.leave().await.expect("leave");
    assert!(outcome.completed, "leave announced before stopping");
    assert!(b.is_stopped());
    assert_eq!(b.members().await, Err(HandleError::Stopped));
    let left = timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(Event::MemberLeft(m)) = events.recv().await {
                return m;
            }
        }
    })
    .await
    .expect("a MemberLeft event");
    assert_eq!(&*left.name, "lib-b");
    let m = a.metrics().await.expect("metrics");
    assert_eq!((m.alive, m.left), (1, 1));
    a.shutdown().await;
}

#[tokio::test]
async fn ipv6_nodes_converge() {
    let a = match node("v6-a", "[::1]:0", &[]).await {
        Ok(a) => a,
        Err(e) => {
            println!("SKIPPED IPv6 test: cannot bind [::1]: {e}");
            return;
        }
    };
    let b = node("v6-b", "[::1]:0", &[a.local_addr()])
        .await
        .expect("start b");
    let c = node("v6-c", "[::1]:0", &[a.local_addr()])
        .await
        .expect("start c");
    converge(&[&a, &b, &c], 3).await;
    assert!(a
        .members()
        .await
        .expect("members")
        .iter()
        .all(|m| m.addr.is_ipv6()));
    for h in [a, b, c] {
        h.shutdown().await;
    }
}

#[tokio::test]
async fn wildcard_bind_needs_an_advertise_address() {
    let e = node("wild", "0.0.0.0:0", &[])
        .await
        .expect_err("no advertise address");
    assert!(e.to_string().contains("--advertise"), "{e}");
    let mut c = AgentConfig::new("wild", "0.0.0.0:0".parse().expect("addr"), Preset::Local);
    c.advertise = Some("127.0.0.1:0".parse().expect("addr"));
    let h = swim_tokio::start(c).await.expect("start with advertise");
    assert_eq!(h.advertise_addr().port(), h.local_addr().port());
    h.shutdown().await;
}
