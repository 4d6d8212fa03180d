//! Every pattern across nodes: five `iris` processes on 127.0.0.2-6 that find each other by
//! probing 127.0.0.0/24 only, clients (the client core) on different nodes, exact delivery counts.

mod common;

use common::member::Member;
use common::overlay::{wait_until, TestNet};
use common::NodeProc;
use iris_client::{Bytes, Connection, ErrorKind, ServiceLimits, TopicLimits, Tunnel};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);

fn register(node: &NodeProc, cluster: &str, member: &Arc<Member>) -> iris_client::Service {
    iris_client::register(node.port, cluster, member.clone(), ServiceLimits::default()).expect("register")
}

/// Waits until a request from `caller` to `cluster` is answered by a member named `by`.
fn wait_routable(caller: &Connection, cluster: &str, by: &str) -> Duration {
    wait_until(
        Duration::from_secs(10),
        &format!("{cluster} served by {by}"),
        || matches!(caller.request(cluster, "probe", Duration::from_millis(300)), Ok(r) if r.starts_with(by.as_bytes())),
    )
}

#[test]
fn requests_broadcasts_and_events_cross_nodes_exactly_once() {
    let net = TestNet::new("patterns");
    let booted = Instant::now();
    let (n2, n3, n4, n5, n6) = (net.start(2), net.start(3), net.start(4), net.start(5), net.start(6));
    let boot = booted.elapsed();
    let caller = iris_client::connect(n2.port).expect("connect");

    let (m3, m4, m5) = (Member::new("m3"), Member::new("m4"), Member::new("m5"));
    let _s3 = register(&n3, "echo", &m3);
    let _s5 = register(&n5, "echo", &m5);
    wait_routable(&caller, "echo", "m3");
    wait_routable(&caller, "echo", "m5");
    let registered = Instant::now();
    let _s4 = register(&n4, "echo", &m4);
    let reachable = wait_until(
        Duration::from_secs(5),
        "m4 reachable",
        || matches!(caller.request("echo", "probe", Duration::from_millis(300)), Ok(r) if r.starts_with(b"m4")),
    );
    eprintln!("5 nodes booted in {boot:?}; a new member was reachable from another node after {reachable:?} (registered {:?} ago)", registered.elapsed());
    let members = [&m3, &m4, &m5];
    let base: Vec<usize> = members.iter().map(|m| m.requests.load(Ordering::SeqCst)).collect();

    // Requests: every one answered exactly once, every node takes a share.
    for i in 0..90 {
        let reply = caller.request("echo", format!("r{i}"), T).expect("reply");
        assert!(reply.ends_with(format!(":r{i}").as_bytes()), "{reply:?}");
    }
    let got: Vec<usize> = members
        .iter()
        .zip(&base)
        .map(|(m, b)| m.requests.load(Ordering::SeqCst) - b)
        .collect();
    assert_eq!(got.iter().sum::<usize>(), 90);
    assert!(got.iter().all(|&g| g > 5), "requests spread across nodes: {got:?}");

    // Broadcast: every member on every node, exactly once.
    let local = Member::new("m2");
    let _s2 = register(&n2, "echo", &local);
    wait_routable(&caller, "echo", "m2");
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..20 {
        caller.broadcast("echo", format!("b{i}")).expect("broadcast");
    }
    wait_until(T, "broadcasts delivered", || {
        [&local, &m3, &m4, &m5]
            .iter()
            .all(|m| m.broadcasts.load(Ordering::SeqCst) >= 20)
    });
    std::thread::sleep(Duration::from_millis(300));
    for m in [&local, &m3, &m4, &m5] {
        assert_eq!(
            m.broadcasts.load(Ordering::SeqCst),
            20,
            "{} got each broadcast once",
            m.name
        );
    }

    // Publish: every subscriber on every node, exactly once (two subscribers on one node).
    let counters: Vec<Arc<AtomicUsize>> = (0..6).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let subscribers: Vec<Connection> = [&n2, &n3, &n3, &n4, &n5, &n6]
        .iter()
        .map(|n| iris_client::connect(n.port).expect("connect"))
        .collect();
    for (conn, counter) in subscribers.iter().zip(&counters) {
        let counter = counter.clone();
        conn.subscribe(
            "news",
            move |_e: Bytes| {
                counter.fetch_add(1, Ordering::SeqCst);
            },
            TopicLimits::default(),
        )
        .expect("subscribe");
    }
    // A new subscriber is reachable network-wide within 1 s.
    std::thread::sleep(Duration::from_secs(1));
    let publisher = iris_client::connect(n6.port).expect("connect");
    for i in 0..25 {
        publisher.publish("news", format!("e{i}")).expect("publish");
    }
    wait_until(T, "events delivered", || {
        counters.iter().all(|c| c.load(Ordering::SeqCst) >= 25)
    });
    std::thread::sleep(Duration::from_millis(300));
    for c in &counters {
        assert_eq!(c.load(Ordering::SeqCst), 25, "each subscriber got each event once");
    }
}

#[test]
fn tunnels_cross_nodes_in_order_with_end_to_end_backpressure() {
    let net = TestNet::new("tunnels");
    let (n2, n3) = (net.start(2), net.start(3));
    let echo = Member::new("echo");
    let _svc = register(&n3, "tun", &echo);
    let staller = Member::stalling("stall");
    let _svc2 = register(&n3, "stall", &staller);
    let caller = iris_client::connect(n2.port).expect("connect");
    wait_routable(&caller, "tun", "echo");

    // Order and integrity, multi-chunk messages included.
    let tunnel = caller.tunnel("tun", T).expect("tunnel across nodes");
    let sizes = [1usize, 100, 70_000, 300_000, 5, 65_536, 1_000_000];
    for round in 0..3 {
        for (i, &size) in sizes.iter().enumerate() {
            let msg: Vec<u8> = (0..size).map(|b| (b + i + round) as u8).collect();
            tunnel.send(msg.clone(), Some(T)).expect("send");
            let back = tunnel.recv(Some(T)).expect("echo");
            assert_eq!(back.len(), size);
            assert!(back[..] == msg[..], "message {i} of round {round} intact and in order");
        }
    }
    for i in 0..200u32 {
        tunnel.send(i.to_be_bytes().to_vec(), Some(T)).expect("send");
    }
    for i in 0..200u32 {
        assert_eq!(
            tunnel.recv(Some(T)).expect("recv")[..],
            i.to_be_bytes()[..],
            "pipelined order"
        );
    }
    tunnel.close().expect("close");

    // A reader that never reads eventually blocks the writer on the other node.
    let stalled = caller.tunnel("stall", T).expect("tunnel");
    let chunk = vec![7u8; 1 << 20];
    let mut sent = 0;
    let blocked = loop {
        match stalled.send(chunk.clone(), Some(Duration::from_millis(500))) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 400, "400 MiB went into a tunnel nobody reads: no backpressure");
    };
    assert_eq!(blocked.kind(), ErrorKind::Timeout, "{blocked}");
    eprintln!("writer blocked after {sent} MiB");
    // The reader resumes: everything sent arrives.
    let remote_end = wait_for_tunnel(&staller);
    for _ in 0..sent {
        assert_eq!(remote_end.recv(Some(T)).expect("recv").len(), 1 << 20);
    }
    // A close on one node reaches the other end on the other node.
    remote_end.close().expect("close");
    let err = stalled.recv(Some(T)).expect_err("closed by the other end");
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
}

fn wait_for_tunnel(member: &Member) -> Tunnel {
    let mut found = None;
    wait_until(T, "stalled tunnel handed over", || {
        found = member.tunnels.lock().unwrap().pop();
        found.is_some()
    });
    found.expect("tunnel")
}
