//! IPv6 overlay addresses: nodes listening on [::1] (distinct ports) joined by `--seed [::1]:PORT`
//! and gossip (PEERS carries IPv6 addresses), request and publish across them; `--discover` with
//! an IPv6 range probes exactly that range.

mod common;

use common::overlay::{network_key, wait_until};
use common::NodeProc;
use iris_client::{Bytes, ServiceHandler, ServiceLimits, TopicLimits};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

/// A free TCP port on [::1].
fn free_port_v6() -> u16 {
    TcpListener::bind("[::1]:0")
        .expect("bind [::1]: this test needs IPv6 loopback")
        .local_addr()
        .expect("addr")
        .port()
}

struct Named(String, AtomicUsize);

impl ServiceHandler for Named {
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        self.1.fetch_add(1, Ordering::SeqCst);
        Ok(Bytes::from(format!("{}:{}", self.0, String::from_utf8_lossy(&request))))
    }
}

fn base_args(net: &str) -> Vec<String> {
    let key = network_key();
    ["--net", net, "--rsa", key.to_str().expect("utf8"), "--port", "0"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn start(args: &[String]) -> NodeProc {
    NodeProc::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn nodes_on_ipv6_loopback_join_by_seed_and_gossip() {
    let net = format!("v6-{}-{}", std::process::id(), free_port_v6());
    let ports = [free_port_v6(), free_port_v6(), free_port_v6()];
    let node = |i: usize, seed: Option<usize>| {
        let mut args = base_args(&net);
        args.extend(["--listen".into(), format!("[::1]:{}", ports[i]), "--no-discover".into()]);
        if let Some(s) = seed {
            args.extend(["--seed".into(), format!("[::1]:{}", ports[s])]);
        }
        start(&args)
    };
    // 0 alone; 1 knows 0; 2 knows only 1 and must learn 0's IPv6 address from it.
    let n0 = node(0, None);
    let n1 = node(1, Some(0));
    let n2 = node(2, Some(1));

    let m0 = Arc::new(Named("m0".into(), AtomicUsize::new(0)));
    let _s0 = iris_client::register(n0.port, "far", m0.clone(), ServiceLimits::default()).expect("register");
    let caller = iris_client::connect(n2.port).expect("connect");
    let took = wait_until(
        Duration::from_secs(15),
        "node 2 reaches node 0's member over [::1]",
        || matches!(caller.request("far", "probe", Duration::from_millis(300)), Ok(r) if &r[..] == b"m0:probe"),
    );
    eprintln!("IPv6 network formed after {took:?}");

    // Requests: each answered exactly once, by the member on node 0.
    let before = m0.1.load(Ordering::SeqCst);
    for i in 0..30 {
        let reply = caller.request("far", format!("r{i}"), T).expect("reply");
        assert_eq!(reply, format!("m0:r{i}").as_bytes());
    }
    assert_eq!(m0.1.load(Ordering::SeqCst) - before, 30, "each request ran once");

    // Publish from node 1: the subscribers on nodes 0 and 2 each get each event once.
    let counted: Vec<Arc<Mutex<(usize, usize)>>> = (0..2).map(|_| Arc::default()).collect();
    let subscribers: Vec<_> = [&n0, &n2]
        .iter()
        .zip(&counted)
        .map(|(n, counts)| {
            let conn = iris_client::connect(n.port).expect("connect");
            let counts = counts.clone();
            conn.subscribe(
                "news",
                move |event: Bytes| {
                    let mut c = counts.lock().unwrap();
                    if &event[..] == b"probe" {
                        c.0 += 1;
                    } else {
                        c.1 += 1;
                    }
                },
                TopicLimits::default(),
            )
            .expect("subscribe");
            conn
        })
        .collect();
    let publisher = iris_client::connect(n1.port).expect("connect");
    // Probes until both subscriptions are known on node 1 (probes are counted apart).
    wait_until(Duration::from_secs(10), "subscriptions reach node 1", || {
        publisher.publish("news", "probe").expect("publish");
        std::thread::sleep(Duration::from_millis(50));
        counted.iter().all(|c| c.lock().unwrap().0 > 0)
    });
    for i in 0..25 {
        publisher.publish("news", format!("e{i}")).expect("publish");
    }
    wait_until(T, "events delivered", || {
        counted.iter().all(|c| c.lock().unwrap().1 >= 25)
    });
    std::thread::sleep(Duration::from_millis(300));
    for c in &counted {
        assert_eq!(c.lock().unwrap().1, 25, "each subscriber got each event once");
    }
    drop(subscribers);
}

/// Counts connections accepted on `listener` (non-blocking) until `stop` is set.
fn count_accepts(listener: TcpListener, stop: Arc<AtomicUsize>) -> (Arc<AtomicUsize>, std::thread::JoinHandle<()>) {
    listener.set_nonblocking(true).expect("nonblocking");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let handle = std::thread::spawn(move || {
        while stop.load(Ordering::SeqCst) == 0 {
            match listener.accept() {
                Ok((stream, from)) => {
                    eprintln!("probe from {from} at {:?}", listener.local_addr());
                    seen.fetch_add(1, Ordering::SeqCst);
                    drop(stream); // not a node: the handshake fails, the prober moves on
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    (count, handle)
}

#[test]
fn an_ipv6_discovery_range_is_accepted_and_probes_only_that_range() {
    let net = format!("v6d-{}-{}", std::process::id(), free_port_v6());
    let (p, q) = (free_port_v6(), free_port_v6());
    // The node listens on [::1]:P and 127.0.0.2:Q and probes ::1/128: on both of its ports, that
    // is exactly [::1]:Q (its own [::1]:P is skipped).
    let inside = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], q))).expect("bind [::1]:Q");
    // Outside the range, on the node's ports: must stay silent.
    let outside = [
        TcpListener::bind(("127.0.0.3", p)).expect("bind 127.0.0.3:P"),
        TcpListener::bind(("127.0.0.3", q)).expect("bind 127.0.0.3:Q"),
    ];
    let stop = Arc::new(AtomicUsize::new(0));
    let (inside_count, h) = count_accepts(inside, stop.clone());
    let mut handles = vec![h];
    let mut outside_counts = Vec::new();
    for l in outside {
        let (c, h) = count_accepts(l, stop.clone());
        outside_counts.push(c);
        handles.push(h);
    }

    let mut args = base_args(&net);
    args.extend([
        "--listen".into(),
        format!("[::1]:{p}"),
        "--listen".into(),
        format!("127.0.0.2:{q}"),
        "--discover".into(),
        "::1/128".into(),
    ]);
    let node = start(&args); // accepted: the boot line came
    wait_until(Duration::from_secs(10), "the node probes [::1]:Q", || {
        inside_count.load(Ordering::SeqCst) > 0
    });
    // Later sweeps come every 3 s (plus sweep time); watch one more round.
    wait_until(Duration::from_secs(10), "a second sweep probes [::1]:Q again", || {
        inside_count.load(Ordering::SeqCst) > 1
    });
    drop(node);
    stop.store(1, Ordering::SeqCst);
    for h in handles {
        h.join().expect("accept thread");
    }
    for c in &outside_counts {
        assert_eq!(c.load(Ordering::SeqCst), 0, "an address outside ::1/128 was probed");
    }
}

#[test]
fn ipv6_seeds_need_brackets() {
    let mut args = base_args("v6-flags");
    args.extend(["--listen".into(), "[::1]:0".into(), "--no-discover".into()]);
    for bad in ["::1:7000", "::1", "[::1]"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_iris"))
            .args(&args)
            .args(["--seed", bad])
            .output()
            .expect("run iris");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("[ADDR]:PORT"), "{bad}: {stderr}");
    }
}
