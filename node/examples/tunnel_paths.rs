//! Tunnels into a large group: direct or relayed along the tree. N nodes in this process on
//! 127.0.0.2.. (no probing, each seeded with the first), with the overlay's test knobs set as in
//! the ten-node test (leaf set 2, no direct delivery), so the group's traffic follows its Scribe
//! tree as in a large network. A member on the last node; from every other node one tunnel,
//! timed alone: 1 MiB messages for the given seconds. Reports each origin's GB/s.
//!
//! `cargo run --release -p iris-node --example tunnel_paths -- KEY.pem [nodes] [seconds]`
//! (default 8 nodes, 2 s). Run it again with `IRIS_OVERLAY_TUNNEL_REDIRECT=0` in the environment
//! to relay every tunnel along the tree instead of redirecting it to a direct link: origins whose
//! construction crosses other tree nodes then carry their data over those nodes too.

use iris_client::{Bytes, ServiceHandler, ServiceLimits, Tunnel};
use iris_node::config::{Config, Identity, OverlayConfig, RelayConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Sink;

impl ServiceHandler for Sink {
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        Ok(request)
    }
    fn handle_tunnel(&self, tunnel: Tunnel) {
        while tunnel.recv(None).is_ok() {}
    }
}

fn config(key: &rsa::RsaPrivateKey, host: u8, port: u16) -> Config {
    Config {
        identity: Identity::Network {
            network: "tunnel-paths".into(),
            key: Box::new(key.clone()),
        },
        relay: RelayConfig {
            port: 0,
            ..RelayConfig::default()
        },
        overlay: Some(OverlayConfig {
            listen: vec![format!("127.0.0.{host}:{port}").parse().expect("addr")],
            discover: vec![],
            probe: false,
            seeds: if host == 2 {
                vec![]
            } else {
                vec![format!("127.0.0.2:{port}")]
            },
            seed_dns: vec![],
        }),
    }
}

/// GB/s of one tunnel from `caller` to "sink", 1 MiB messages for `seconds` (after a warm-up).
fn tunnel_rate(caller: &iris_client::Connection, seconds: f64) -> f64 {
    let tunnel = caller.tunnel("sink", Duration::from_secs(5)).expect("tunnel");
    let chunk = Bytes::from(vec![0u8; 1 << 20]);
    let send_for = |d: Duration| {
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < d {
            tunnel.send(chunk.clone(), Some(Duration::from_secs(10))).expect("send");
            sent += chunk.len() as u64;
        }
        sent as f64 / start.elapsed().as_secs_f64() / 1e9
    };
    send_for(Duration::from_millis(300));
    let rate = send_for(Duration::from_secs_f64(seconds));
    let _ = tunnel.close();
    rate
}

fn main() {
    let mut args = std::env::args().skip(1);
    let key_path = args.next().expect("usage: tunnel_paths KEY.pem [nodes] [seconds]");
    let nodes: u8 = args.next().and_then(|s| s.parse().ok()).unwrap_or(8).clamp(3, 60);
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    // The knobs are read when each overlay starts; nothing else runs yet.
    std::env::set_var("IRIS_OVERLAY_LEAF_SET", "2");
    std::env::set_var("IRIS_OVERLAY_DIRECT_MAX", "0");
    let redirect = std::env::var("IRIS_OVERLAY_TUNNEL_REDIRECT").as_deref() != Ok("0");
    println!(
        "{nodes} nodes; tunnels {}",
        if redirect {
            "redirected to direct links"
        } else {
            "relayed along the tree"
        }
    );
    let key = iris_node::keys::load_private_key(std::path::Path::new(&key_path)).expect("key");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let all: Vec<iris_node::Node> = runtime.block_on(async {
        let mut all = Vec::new();
        for host in 2..2 + nodes {
            all.push(iris_node::Node::start(config(&key, host, port)).await.expect("node"));
        }
        all
    });
    let member = all.last().expect("nodes");
    let _sink =
        iris_client::register(member.relay_port(), "sink", Arc::new(Sink), ServiceLimits::default()).expect("register");
    let callers: Vec<iris_client::Connection> = all[..all.len() - 1]
        .iter()
        .map(|n| iris_client::connect(n.relay_port()).expect("connect"))
        .collect();
    let start = Instant::now();
    for caller in &callers {
        while caller.request("sink", "x", Duration::from_millis(200)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the overlay did not converge"
            );
        }
    }
    println!("every node reaches the member after {:?}", start.elapsed());
    let mut rates = Vec::new();
    for (i, caller) in callers.iter().enumerate() {
        let rate = tunnel_rate(caller, seconds);
        println!("from 127.0.0.{}: {rate:.2} GB/s", i + 2);
        rates.push(rate);
    }
    let (min, max) = rates
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    println!(
        "tunnel GB/s over {} origins: min {min:.2}, mean {mean:.2}, max {max:.2}",
        rates.len()
    );
    runtime.block_on(async {
        for node in all {
            node.shutdown().await;
        }
    });
}
