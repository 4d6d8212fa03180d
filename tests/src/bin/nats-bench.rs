//! `nats-bench`: the same workloads as `iris-bench`, against Debian's `nats-server` with the Rust
//! NATS client, so both are measured on one machine in one run. Built only with
//! `--features nats` (CI does not need it).
//!
//! ```text
//! nats-bench [--quick]     starts `nats-server -a 127.0.0.1 -p <free port>` and measures it
//! ```

use bytes::Bytes;
use futures_util::StreamExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn row(workload: &str, value: f64, unit: &str) {
    let shown = if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    };
    println!("| {workload} (nats) | {shown} | {unit} |");
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let scale: u64 = if std::env::args().any(|a| a == "--quick") {
        50
    } else {
        1
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Server(
        Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server (apt-get install nats-server)"),
    );
    let url = format!("127.0.0.1:{port}");
    let mut attempt = 0;
    let service = loop {
        match async_nats::connect(&url).await {
            Ok(c) => break c,
            Err(_) if attempt < 50 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("cannot reach nats-server: {e}"),
        }
    };
    // Echo responder.
    let mut requests = service.subscribe("bench").await.unwrap();
    let responder = service.clone();
    tokio::spawn(async move {
        while let Some(msg) = requests.next().await {
            if let Some(reply) = msg.reply {
                let _ = responder.publish(reply, msg.payload).await;
            }
        }
    });
    service.flush().await.unwrap();
    let client = async_nats::connect(&url).await.unwrap();

    let n = 50_000 / scale;
    let mut samples = Vec::with_capacity(n as usize);
    for _ in 0..1000 {
        client.request("bench", Bytes::from_static(b"x")).await.unwrap();
    }
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        client.request("bench", Bytes::from_static(b"x")).await.unwrap();
        samples.push(t.elapsed());
    }
    row(
        "request round trip, 1 in flight (mean)",
        start.elapsed().as_secs_f64() * 1e6 / n as f64,
        "us",
    );
    samples.sort();
    row(
        "request round trip, 1 in flight (p50)",
        samples[samples.len() / 2].as_secs_f64() * 1e6,
        "us",
    );

    for in_flight in [1u64, 16, 128] {
        let per_task = 200_000 / scale / in_flight + 1;
        let start = Instant::now();
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        client.request("bench", Bytes::from_static(b"x")).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        row(
            &format!("requests/s, {in_flight} in flight"),
            (per_task * in_flight) as f64 / start.elapsed().as_secs_f64(),
            "req/s",
        );
    }

    let subscriber = async_nats::connect(&url).await.unwrap();
    let mut events = subscriber.subscribe("events").await.unwrap();
    subscriber.flush().await.unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let c = counter.clone();
    tokio::spawn(async move {
        while events.next().await.is_some() {
            c.fetch_add(1, Ordering::Relaxed);
        }
    });
    let n = 4_000_000 / scale;
    let start = Instant::now();
    for _ in 0..n {
        client.publish("events", Bytes::from_static(b"x")).await.unwrap();
    }
    client.flush().await.unwrap();
    // Wait until everything arrived or the count stops moving for a second (nats-server drops
    // messages for a slow consumer), and time the delivery up to the last event seen.
    let mut last = counter.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    loop {
        let now = counter.load(Ordering::Relaxed);
        if now != last {
            last = now;
            last_change = Instant::now();
        }
        if now >= n || last_change.elapsed() > Duration::from_secs(1) {
            break;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let got = counter.load(Ordering::Relaxed);
    row(
        "events/s to one subscriber",
        got as f64 / (last_change - start).as_secs_f64(),
        "events/s",
    );
    if got < n {
        println!("| (nats events: {got} of {n} delivered; slow consumers are dropped by nats-server) | | |");
    }
}
