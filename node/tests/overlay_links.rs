//! Link management in process: two nodes that dial each other at the same moment end up with
//! exactly one link (both keep the one dialled by the lower node id), and a graceful leave removes
//! the link on the other side at once.

mod common;

use common::overlay::{free_port, network_key};
use iris_node::config::{Config, Identity, OverlayConfig, RelayConfig};
use iris_node::keys::load_private_key;
use iris_node::Node;
use std::time::{Duration, Instant};

/// A node on 127.0.0.`host` whose only peer is the seed 127.0.0.`seed` (no probing at all).
fn config(network: &str, host: u8, seed: u8, port: u16) -> Config {
    let key = load_private_key(&network_key()).expect("key");
    Config {
        identity: Identity::Network {
            network: network.to_string(),
            key: Box::new(key),
        },
        relay: RelayConfig {
            port: 0,
            ..RelayConfig::default()
        },
        overlay: Some(OverlayConfig {
            listen: vec![format!("127.0.0.{host}:{port}").parse().unwrap()],
            discover: vec![],
            probe: false,
            seeds: vec![format!("127.0.0.{seed}:{port}")],
            seed_dns: vec![],
        }),
    }
}

fn peers(node: &Node) -> Vec<iris_node::overlay::NodeId> {
    node.overlay().expect("overlay").peers()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_leave_exactly_one_link_and_leaving_is_immediate() {
    let name = format!("links-{}", std::process::id());
    for round in 0..4 {
        let port = free_port();
        let (a, b) = tokio::join!(
            Node::start(config(&name, 2, 3, port)),
            Node::start(config(&name, 3, 2, port))
        );
        let (a, b) = (a.expect("start a"), b.expect("start b"));
        let (ida, idb) = (a.overlay().unwrap().node_id(), b.overlay().unwrap().node_id());
        let start = Instant::now();
        while !(peers(&a) == vec![idb] && peers(&b) == vec![ida]) {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "round {round}: no link ({:?} / {:?})",
                peers(&a),
                peers(&b)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Whatever duplicates were dialled have been resolved; the survivor stays.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(peers(&a), vec![idb], "round {round}");
        assert_eq!(peers(&b), vec![ida], "round {round}");

        let left = Instant::now();
        a.shutdown().await;
        while !peers(&b).is_empty() {
            assert!(
                left.elapsed() < Duration::from_secs(2),
                "round {round}: the leave was not noticed at once"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        b.shutdown().await;
    }
}

struct Echo;

impl iris_client::ServiceHandler for Echo {
    fn handle_request(&self, request: iris_client::Bytes) -> Result<iris_client::Bytes, String> {
        Ok(request)
    }
    fn handle_tunnel(&self, tunnel: iris_client::Tunnel) {
        while let Ok(msg) = tunnel.recv(None) {
            if tunnel.send(msg, Some(Duration::from_secs(5))).is_err() {
                break;
            }
        }
    }
}

/// Traffic that starts while the two nodes are still resolving their duplicate links finishes:
/// a replaced link stays open until what it carries is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_started_during_duplicate_resolution_completes() {
    let name = format!("dup-traffic-{}", std::process::id());
    for round in 0..6 {
        let port = free_port();
        let (a, b) = tokio::join!(
            Node::start(config(&name, 2, 3, port)),
            Node::start(config(&name, 3, 2, port))
        );
        let (a, b) = (a.expect("start a"), b.expect("start b"));
        let (pa, pb) = (a.relay_port(), b.relay_port());
        // The blocking client API runs on a plain thread (not inside the runtime).
        let client = std::thread::spawn(move || {
            let _svc =
                iris_client::register(pb, "echo", std::sync::Arc::new(Echo), Default::default()).expect("register");
            let caller = iris_client::connect(pa).expect("connect");
            let start = Instant::now();
            // As early as the member is reachable at all...
            while caller.request("echo", "probe", Duration::from_millis(50)).is_err() {
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "round {round}: never reachable"
                );
            }
            // ...a tunnel and requests run through the time the duplicates are resolved.
            let tunnel = caller.tunnel("echo", Duration::from_secs(2)).expect("tunnel");
            for i in 0..60u32 {
                tunnel
                    .send(i.to_be_bytes().to_vec(), Some(Duration::from_secs(2)))
                    .expect("send");
                let back = tunnel.recv(Some(Duration::from_secs(2)));
                assert_eq!(
                    back.expect("echo")[..],
                    i.to_be_bytes()[..],
                    "round {round}, message {i}"
                );
                let reply = caller.request("echo", format!("r{i}"), Duration::from_secs(2));
                assert_eq!(reply.expect("reply")[..], *format!("r{i}").as_bytes(), "round {round}");
                std::thread::sleep(Duration::from_millis(20));
            }
            tunnel.close().expect("close");
        });
        tokio::task::spawn_blocking(move || client.join())
            .await
            .expect("join")
            .expect("client side");
        a.shutdown().await;
        b.shutdown().await;
    }
}
