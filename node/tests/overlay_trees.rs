//! Every pattern across the Scribe trees and multi-hop Pastry routes, with real processes: ten
//! nodes on 127.0.0.2-11 (discovery confined to 127.0.0.0/24) whose leaf sets hold one node per
//! side and whose direct delivery is off (the overlay's test knobs), so requests and tunnels walk
//! the trees, broadcasts and events flood them, and senders outside a tree route towards its key,
//! as in a large network. Exact delivery counts; a member node killed mid-way is routed around.

mod common;

use common::member::Member;
use common::overlay::{wait_until, TestNet};
use common::NodeProc;
use iris_client::{Bytes, Connection, ServiceLimits, TopicLimits};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);
const KNOBS: &[(&str, &str)] = &[("IRIS_OVERLAY_LEAF_SET", "2"), ("IRIS_OVERLAY_DIRECT_MAX", "0")];
const TUNNEL_REDIRECT: &str = "IRIS_OVERLAY_TUNNEL_REDIRECT";

fn register(node: &NodeProc, cluster: &str, m: &Arc<Member>) -> iris_client::Service {
    iris_client::register(node.port, cluster, m.clone(), ServiceLimits::default()).expect("register")
}

fn answered_by(caller: &Connection, cluster: &str, by: &str) -> bool {
    matches!(caller.request(cluster, "probe", Duration::from_millis(500)), Ok(r) if r.starts_with(by.as_bytes()))
}

#[test]
fn every_pattern_crosses_trees_and_multi_hop_routes() {
    let net = TestNet::new("trees");
    // The last node relays its tunnels along the tree; the others redirect theirs to direct links.
    let relaying = [KNOBS, &[(TUNNEL_REDIRECT, "0")]].concat();
    let mut nodes: Vec<NodeProc> = (2..=11)
        .map(|h| net.start_with_env(h, if h == 11 { &relaying } else { KNOBS }))
        .collect();
    let caller = iris_client::connect(nodes[0].port).expect("connect");

    // Members of "echo" on three nodes; the caller's node hosts none.
    let names = ["m4", "m7", "m10"];
    let members: Vec<Arc<Member>> = names.iter().map(|n| Member::new(n)).collect();
    let _services: Vec<iris_client::Service> = [2usize, 5, 8]
        .iter()
        .zip(&members)
        .map(|(&i, m)| register(&nodes[i], "echo", m))
        .collect();
    for name in names {
        wait_until(Duration::from_secs(20), &format!("{name} reachable"), || {
            answered_by(&caller, "echo", name)
        });
    }

    // Requests: each answered exactly once, every member takes a share.
    let base: Vec<usize> = members.iter().map(|m| m.requests.load(Ordering::SeqCst)).collect();
    for i in 0..150 {
        let reply = caller.request("echo", format!("r{i}"), T).expect("reply");
        assert!(reply.ends_with(format!(":r{i}").as_bytes()), "{reply:?}");
    }
    let got: Vec<usize> = members
        .iter()
        .zip(&base)
        .map(|(m, b)| m.requests.load(Ordering::SeqCst) - b)
        .collect();
    assert_eq!(got.iter().sum::<usize>(), 150, "{got:?}");
    assert!(got.iter().all(|&g| g >= 10), "requests spread over the tree: {got:?}");

    // Broadcasts from a node outside the tree: every member exactly once.
    let outsider = iris_client::connect(nodes[1].port).expect("connect");
    for i in 0..30 {
        outsider.broadcast("echo", format!("b{i}")).expect("broadcast");
    }
    wait_until(T, "broadcasts delivered", || {
        members.iter().all(|m| m.broadcasts.load(Ordering::SeqCst) >= 30)
    });
    std::thread::sleep(Duration::from_millis(300));
    for m in &members {
        assert_eq!(
            m.broadcasts.load(Ordering::SeqCst),
            30,
            "{} got each broadcast once",
            m.name
        );
    }

    // Publish: subscribers on five nodes (two on one), publisher on another.
    let counters: Vec<Arc<AtomicUsize>> = (0..6).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let subscribers: Vec<Connection> = [3usize, 3, 4, 6, 8, 9]
        .iter()
        .map(|&i| iris_client::connect(nodes[i].port).expect("connect"))
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
    let publisher = iris_client::connect(nodes[7].port).expect("connect");
    // Until every subscriber's node has joined the tree, probe events may reach only some.
    wait_until(Duration::from_secs(10), "every subscriber reachable", || {
        publisher.publish("news", "probe").expect("publish");
        std::thread::sleep(Duration::from_millis(100));
        counters.iter().all(|c| c.load(Ordering::SeqCst) > 0)
    });
    std::thread::sleep(Duration::from_millis(500));
    let before: Vec<usize> = counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    for i in 0..40 {
        publisher.publish("news", format!("e{i}")).expect("publish");
    }
    wait_until(T, "events delivered", || {
        counters
            .iter()
            .zip(&before)
            .all(|(c, b)| c.load(Ordering::SeqCst) >= b + 40)
    });
    std::thread::sleep(Duration::from_millis(300));
    for (c, b) in counters.iter().zip(&before) {
        assert_eq!(c.load(Ordering::SeqCst) - b, 40, "each subscriber got each event once");
    }

    // Tunnels from every node without a member, relayed along the tree (the last node) or
    // redirected to a direct link (the others): order and integrity.
    for i in [0usize, 1, 3, 4, 6, 7, 9] {
        let tunneller = iris_client::connect(nodes[i].port).expect("connect");
        for round in 0..2 {
            let tunnel = tunneller.tunnel("echo", T).expect("tunnel");
            for (j, size) in [1usize, 70_000, 300_000, 5].into_iter().enumerate() {
                let msg: Vec<u8> = (0..size).map(|b| (b + i + j + round) as u8).collect();
                tunnel.send(msg.clone(), Some(T)).expect("send");
                assert!(
                    tunnel.recv(Some(T)).expect("echo")[..] == msg[..],
                    "node {i}, tunnel {round}, message {j} intact"
                );
            }
            tunnel.close().expect("close");
        }
    }

    // Kill the node of m7: within a few seconds the others answer everything again.
    nodes[5].kill9();
    wait_until(Duration::from_secs(15), "requests answered without m7", || {
        (0..20).all(|_| matches!(caller.request("echo", "k", T), Ok(r) if !r.starts_with(b"m7")))
    });
    let left = [&members[0], &members[2]];
    let base: Vec<usize> = left.iter().map(|m| m.broadcasts.load(Ordering::SeqCst)).collect();
    for i in 0..20 {
        outsider.broadcast("echo", format!("after{i}")).expect("broadcast");
    }
    wait_until(T, "broadcasts after the kill", || {
        left.iter()
            .zip(&base)
            .all(|(m, b)| m.broadcasts.load(Ordering::SeqCst) >= b + 20)
    });
    std::thread::sleep(Duration::from_millis(300));
    for (m, b) in left.iter().zip(&base) {
        assert_eq!(
            m.broadcasts.load(Ordering::SeqCst) - b,
            20,
            "{} exactly once after the kill",
            m.name
        );
    }
}
