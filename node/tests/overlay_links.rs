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
