//! `iris-bench`: throughput and latency of a relay v1 node, measured with the Rust client core,
//! beside the physical floor of this machine's loopback (raw TCP ping-pong and bulk copy).
//!
//! ```text
//! iris-bench                 start `iris --dev --port 0` (IRIS_BIN or target/<profile>/iris) and measure it
//! iris-bench --port P        measure an already running relay v1 node on port P
//! iris-bench --quick         shorter runs (for a smoke test)
//! iris-bench --only NAME     run only workloads whose name contains NAME
//! ```
//! Every figure is printed as a Markdown table row: workload, result, unit.

use bytes::Bytes;
use iris_client::{Connection, ServiceHandler, ServiceLimits, TopicLimits, Tunnel};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Options {
    port: Option<u16>,
    quick: bool,
    only: Option<String>,
}

fn options() -> Options {
    let mut opts = Options {
        port: None,
        quick: false,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => opts.port = Some(args.next().expect("--port N").parse().expect("port number")),
            "--quick" => opts.quick = true,
            "--only" => opts.only = Some(args.next().expect("--only NAME")),
            "-h" | "--help" => {
                println!("usage: iris-bench [--port P] [--quick] [--only NAME]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other:?}"),
        }
    }
    opts
}

fn row(workload: &str, value: f64, unit: &str) {
    let shown = if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    };
    println!("| {workload} | {shown} | {unit} |");
}

struct Bench {
    port: u16,
    scale: u64,
    only: Option<String>,
}

impl Bench {
    fn wants(&self, name: &str) -> bool {
        self.only.as_ref().is_none_or(|o| name.contains(o.as_str()))
    }
    fn n(&self, full: u64) -> u64 {
        (full / self.scale).max(1)
    }
}

/// Echoes requests; counts broadcasts; echoes tunnel messages back only when asked.
struct Echo {
    broadcasts: Arc<AtomicU64>,
}

impl ServiceHandler for Echo {
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        Ok(request)
    }
    fn handle_broadcast(&self, _message: Bytes) {
        self.broadcasts.fetch_add(1, Ordering::Relaxed);
    }
    fn handle_tunnel(&self, tunnel: Tunnel) {
        // Sink: count octets and acknowledge every message with a 1-byte message after each
        // "flush" marker so the sender can time the whole transfer.
        while let Ok(message) = tunnel.recv(None) {
            if &message[..] == b"!" && tunnel.send(&b"k"[..], None).is_err() {
                break;
            }
        }
    }
}

/// Waits until `counter` reaches `target` or stops moving for a second (the node sheds
/// best-effort traffic to a subscriber that falls too far behind); returns the count and when the
/// last increment was seen.
fn wait_for(counter: &AtomicU64, target: u64) -> (u64, Instant) {
    let mut last = counter.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    loop {
        let now = counter.load(Ordering::Relaxed);
        if now != last {
            last = now;
            last_change = Instant::now();
        }
        if now >= target || last_change.elapsed() > Duration::from_secs(1) {
            return (now, last_change);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Prints the delivery rate of a fire-and-forget workload, and what was shed if anything.
fn delivered(workload: &str, unit: &str, sent: u64, got: u64, start: Instant, end: Instant) {
    row(workload, got as f64 / (end - start).as_secs_f64(), unit);
    if got < sent {
        println!("| ({workload}: {got} of {sent} delivered, the rest shed by the node for a slow receiver) | | |");
    }
}

fn raw_tcp(b: &Bench) {
    if b.wants("raw tcp round trip") {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_nodelay(true).unwrap();
            let mut byte = [0u8; 1];
            while s.read_exact(&mut byte).is_ok() {
                if s.write_all(&byte).is_err() {
                    break;
                }
            }
        });
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        let n = b.n(50_000);
        let mut byte = [1u8; 1];
        let start = Instant::now();
        for _ in 0..n {
            s.write_all(&byte).unwrap();
            s.read_exact(&mut byte).unwrap();
        }
        row(
            "raw TCP loopback round trip (floor)",
            start.elapsed().as_secs_f64() * 1e6 / n as f64,
            "us",
        );
    }
    if b.wants("raw tcp bulk") {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let total: u64 = b.n(4 << 30);
        let reader = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 1 << 20];
            let mut got = 0u64;
            while got < total {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got += n as u64;
            }
            got
        });
        let mut s = TcpStream::connect(addr).unwrap();
        let buf = vec![7u8; 1 << 20];
        let start = Instant::now();
        let mut sent = 0u64;
        while sent < total {
            s.write_all(&buf).unwrap();
            sent += buf.len() as u64;
        }
        assert_eq!(reader.join().unwrap(), sent);
        row(
            "raw TCP loopback bulk copy (floor)",
            sent as f64 / start.elapsed().as_secs_f64() / 1e9,
            "GB/s",
        );
    }
}

fn request_latency(b: &Bench, conn: &Connection) {
    if !b.wants("request round trip") {
        return;
    }
    let n = b.n(50_000);
    for _ in 0..1000.min(n) {
        conn.request("bench", &b"x"[..], Duration::from_secs(5)).unwrap();
    }
    let mut samples = Vec::with_capacity(n as usize);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        conn.request("bench", &b"x"[..], Duration::from_secs(5)).unwrap();
        samples.push(t.elapsed());
    }
    let mean = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    samples.sort();
    row("request round trip, 1 in flight (mean)", mean, "us");
    row(
        "request round trip, 1 in flight (p50)",
        samples[samples.len() / 2].as_secs_f64() * 1e6,
        "us",
    );
    row(
        "request round trip, 1 in flight (p99)",
        samples[samples.len() * 99 / 100].as_secs_f64() * 1e6,
        "us",
    );
}

fn request_throughput(b: &Bench, conn: &Connection, in_flight: usize) {
    let name = format!("requests/s, {in_flight} in flight");
    if !b.wants(&name) {
        return;
    }
    let per_task = b.n(200_000) / in_flight as u64 + 1;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let elapsed = rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let conn = conn.clone();
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        conn.request_async("bench", &b"x"[..], Duration::from_secs(30))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        start.elapsed()
    });
    row(
        &name,
        (per_task * in_flight as u64) as f64 / elapsed.as_secs_f64(),
        "req/s",
    );
}

fn broadcast_throughput(b: &Bench, conn: &Connection, counter: &AtomicU64) {
    if !b.wants("broadcast") {
        return;
    }
    let n = b.n(2_000_000);
    let base = counter.load(Ordering::Relaxed);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    rt.block_on(async {
        for _ in 0..n {
            conn.broadcast_async("bench", &b"x"[..]).await.unwrap();
        }
    });
    let (count, end) = wait_for(counter, base + n);
    delivered(
        "broadcast messages/s to one member",
        "msg/s",
        n,
        count - base,
        start,
        end,
    );
}

fn publish_throughput(b: &Bench, publisher: &Connection, port: u16) {
    if !b.wants("events") {
        return;
    }
    let subscriber = iris_client::connect(port).unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let c = counter.clone();
    subscriber
        .subscribe(
            "bench-topic",
            move |_e: Bytes| {
                c.fetch_add(1, Ordering::Relaxed);
            },
            TopicLimits::default(),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let n = b.n(4_000_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    rt.block_on(async {
        for _ in 0..n {
            publisher.publish_async("bench-topic", &b"x"[..]).await.unwrap();
        }
    });
    let (count, end) = wait_for(&counter, n);
    delivered("events/s to one subscriber", "events/s", n, count, start, end);
    subscriber.close().unwrap();
}

fn tunnel_throughput(b: &Bench, conn: &Connection, size: usize, total_bytes: u64) {
    let name = if size == 1 {
        "tunnel messages/s, 1-byte messages".to_string()
    } else {
        format!("tunnel, {} messages", human(size))
    };
    if !b.wants(&name) {
        return;
    }
    let tunnel = conn.tunnel("bench", Duration::from_secs(5)).unwrap();
    let message = Bytes::from(vec![0x5au8; size]);
    let count = (b.n(total_bytes) / size as u64).max(2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let elapsed = rt.block_on(async {
        let start = Instant::now();
        for _ in 0..count {
            tunnel.send_async(message.clone(), None).await.unwrap();
        }
        tunnel.send_async(&b"!"[..], None).await.unwrap();
        let ack = tunnel.recv_async(Some(Duration::from_secs(120))).await.unwrap();
        assert_eq!(&ack[..], b"k");
        start.elapsed()
    });
    if size == 1 {
        row(&name, count as f64 / elapsed.as_secs_f64(), "msg/s");
    } else {
        row(
            &name,
            (count * size as u64) as f64 / elapsed.as_secs_f64() / 1e9,
            "GB/s",
        );
    }
    tunnel.close().unwrap();
}

fn human(size: usize) -> String {
    if size >= 1 << 20 {
        format!("{} MiB", size >> 20)
    } else {
        format!("{} KiB", size >> 10)
    }
}

fn main() {
    let opts = options();
    let node = match opts.port {
        Some(_) => None,
        None => Some(iris_tests::Node::start(&[])),
    };
    let port = opts.port.or(node.as_ref().map(|n| n.port)).unwrap();
    let b = Bench {
        port,
        scale: if opts.quick { 50 } else { 1 },
        only: opts.only,
    };
    println!("| workload | result | unit |");
    println!("|---|---|---|");
    raw_tcp(&b);
    let broadcasts = Arc::new(AtomicU64::new(0));
    let handler = Arc::new(Echo {
        broadcasts: broadcasts.clone(),
    });
    let service = iris_client::register(b.port, "bench", handler, ServiceLimits::default()).unwrap();
    let conn = iris_client::connect(b.port).unwrap();
    request_latency(&b, &conn);
    for in_flight in [1, 16, 128] {
        request_throughput(&b, &conn, in_flight);
    }
    broadcast_throughput(&b, &conn, &broadcasts);
    publish_throughput(&b, &conn, b.port);
    tunnel_throughput(&b, &conn, 1, 2_000_000);
    for size in [64 << 10, 1 << 20, 16 << 20] {
        tunnel_throughput(&b, &conn, size, 8 << 30);
    }
    conn.close().unwrap();
    service.unregister().unwrap();
}
