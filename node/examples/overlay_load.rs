//! Cross-node smoke benchmark: two nodes in this process, linked over loopback (127.0.0.2 and
//! 127.0.0.3, no probing, each seeded with the other), a member on node B, a caller on node A.
//! Reports request latency (same node and across nodes), requests/s with 128 in flight, how soon
//! a new member is reachable from the other node, publish throughput across nodes, tunnel
//! throughput with encryption on. Bounded in time; a smoke benchmark, not a test.
//!
//! `cargo run --release -p iris-node --example overlay_load -- KEY.pem [seconds] [all|tunnel] [unix|tcp]`
//! (make the key with `iris keygen --out KEY.pem`; a third argument `tunnel` runs only the
//! tunnel phase, for profiling and for paired runs; a fourth, `tcp`, runs the nodes without
//! their Unix relay sockets, so the clients attach over loopback TCP).

use iris_client::{Bytes, ServiceHandler, ServiceLimits, Tunnel};
use iris_node::config::{Config, Identity, OverlayConfig, RelayConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Echo;

impl ServiceHandler for Echo {
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        Ok(request)
    }
    fn handle_tunnel(&self, tunnel: Tunnel) {
        // Count and drop: the sender measures.
        while tunnel.recv(None).is_ok() {}
    }
}

fn config(key: &rsa::RsaPrivateKey, host: u8, seed: u8, port: u16, unix: bool) -> Config {
    Config {
        identity: Identity::Network {
            network: "overlay-bench".into(),
            key: Box::new(key.clone()),
        },
        relay: RelayConfig {
            port: 0,
            unix,
            ..RelayConfig::default()
        },
        overlay: Some(OverlayConfig {
            listen: vec![format!("127.0.0.{host}:{port}").parse().expect("addr")],
            discover: vec![],
            probe: false,
            seeds: vec![format!("127.0.0.{seed}:{port}")],
            seed_dns: vec![],
        }),
    }
}

fn latency(conn: &iris_client::Connection, cluster: &str, n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        conn.request(cluster, "x", Duration::from_secs(5)).expect("reply");
    }
    start.elapsed() / n as u32
}

fn main() {
    let mut args = std::env::args().skip(1);
    let key_path = args
        .next()
        .expect("usage: overlay_load KEY.pem [seconds] [all|tunnel] [unix|tcp]");
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    let tunnel_only = args.next().as_deref() == Some("tunnel");
    // Clients attach over the nodes' Unix sockets unless told to use loopback TCP.
    let unix = args.next().as_deref() != Some("tcp");
    println!(
        "clients attach over {}",
        if unix { "Unix sockets" } else { "loopback TCP" }
    );
    let key = iris_node::keys::load_private_key(std::path::Path::new(&key_path)).expect("key");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (a, b) = runtime.block_on(async {
        let a = iris_node::Node::start(config(&key, 2, 3, port, unix))
            .await
            .expect("node a");
        let b = iris_node::Node::start(config(&key, 3, 2, port, unix))
            .await
            .expect("node b");
        (a, b)
    });
    let _local =
        iris_client::register(a.relay_port(), "local", Arc::new(Echo), ServiceLimits::default()).expect("register");
    let _remote =
        iris_client::register(b.relay_port(), "remote", Arc::new(Echo), ServiceLimits::default()).expect("register");
    let caller = Arc::new(iris_client::connect(a.relay_port()).expect("connect"));
    let start = Instant::now();
    while caller.request("remote", "x", Duration::from_millis(200)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "nodes did not link");
    }
    println!("linked and routable after {:?}", start.elapsed());
    if !tunnel_only {
        others(&caller, &b, seconds);
    }
    tunnel(&caller, seconds);
    runtime.block_on(async {
        a.shutdown().await;
        b.shutdown().await;
    });
}

/// Everything but the tunnel: latency, requests in flight, a new member, publish.
fn others(caller: &Arc<iris_client::Connection>, b: &iris_node::Node, seconds: u64) {
    latency(caller, "local", 500);
    println!("request round trip, same node:  {:?}", latency(caller, "local", 5000));
    latency(caller, "remote", 500);
    println!("request round trip, cross node: {:?}", latency(caller, "remote", 5000));

    // 128 in flight across nodes.
    let client_rt = tokio::runtime::Runtime::new().expect("runtime");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let done: usize = client_rt.block_on(async {
        let tasks: Vec<_> = (0..128)
            .map(|_| {
                let caller = caller.clone();
                tokio::spawn(async move {
                    let mut n = 0usize;
                    while Instant::now() < deadline {
                        caller
                            .request_async("remote", "x", Duration::from_secs(5))
                            .await
                            .expect("reply");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.expect("task");
        }
        total
    });
    println!(
        "cross-node requests, 128 in flight: {:.0}/s",
        done as f64 / seconds as f64
    );

    // A member that registers now: how soon the other node reaches it.
    let registered = Instant::now();
    let _fresh =
        iris_client::register(b.relay_port(), "fresh", Arc::new(Echo), ServiceLimits::default()).expect("register");
    while caller.request("fresh", "x", Duration::from_millis(100)).is_err() {
        assert!(
            registered.elapsed() < Duration::from_secs(10),
            "new member never reachable"
        );
    }
    println!(
        "new member reachable from the other node after {:?}",
        registered.elapsed()
    );

    // Publish across nodes: one publisher on A, one subscriber on B, events delivered per second.
    let subscriber = iris_client::connect(b.relay_port()).expect("connect");
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let last = Arc::new(std::sync::Mutex::new(Instant::now()));
    {
        let (received, last) = (received.clone(), last.clone());
        subscriber
            .subscribe(
                "bench",
                move |_e: Bytes| {
                    received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    *last.lock().expect("lock") = Instant::now();
                },
                iris_client::TopicLimits::default(),
            )
            .expect("subscribe");
    }
    let probe = Instant::now();
    while received.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        caller.publish("bench", "probe").expect("publish");
        std::thread::sleep(Duration::from_millis(5));
        assert!(probe.elapsed() < Duration::from_secs(10), "subscriber never reached");
    }
    std::thread::sleep(Duration::from_millis(200));
    let base = received.load(std::sync::atomic::Ordering::Relaxed);
    let start = Instant::now();
    let mut published = 0u64;
    let event = Bytes::from_static(b"e");
    while start.elapsed() < Duration::from_secs(seconds) {
        for _ in 0..1000 {
            caller.publish("bench", event.clone()).expect("publish");
        }
        published += 1000;
    }
    // Wait until delivery stops.
    let mut seen = 0;
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = received.load(std::sync::atomic::Ordering::Relaxed);
        if now == seen {
            break;
        }
        seen = now;
    }
    let delivered = seen - base;
    let took = last.lock().expect("lock").duration_since(start);
    println!(
        "publish across nodes: {published} published, {delivered} delivered ({:.1} %), {:.0} delivered/s",
        100.0 * delivered as f64 / published as f64,
        delivered as f64 / took.as_secs_f64()
    );
}

/// Tunnel throughput across the encrypted link.
fn tunnel(caller: &iris_client::Connection, seconds: u64) {
    let tunnel = caller.tunnel("remote", Duration::from_secs(5)).expect("tunnel");
    let chunk = Bytes::from(vec![0u8; 1 << 20]);
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        tunnel.send(chunk.clone(), Some(Duration::from_secs(10))).expect("send");
        sent += chunk.len() as u64;
    }
    println!(
        "tunnel across nodes: {:.2} GB/s (1 MiB messages)",
        sent as f64 / start.elapsed().as_secs_f64() / 1e9
    );
    let _ = tunnel.close();
}
