//! The kernel's floor for the cross-node tunnel's path on this machine: plain loopback TCP hops
//! in series (sender -> forwarder -> ... -> sink), 1 MiB reads and writes, no framing, no
//! encryption, one thread per hop. A cross-node tunnel crosses three such hops (client -> node A,
//! node A -> node B, node B -> client), a single node's tunnel two; neither can be faster than
//! this on the same cores. A benchmark, not a test; loopback only.
//!
//! `cargo run --release -p iris-node --example loopback_floor [hops] [GiB]` (defaults: 3 hops,
//! 4 GiB).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let hops: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(3).max(1);
    let total: u64 = args.next().and_then(|s| s.parse::<u64>().ok()).unwrap_or(4) << 30;
    let listeners: Vec<TcpListener> = (0..hops)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let ports: Vec<u16> = listeners.iter().map(|l| l.local_addr().expect("addr").port()).collect();
    let mut threads = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let next = ports.get(i + 1).copied();
        threads.push(std::thread::spawn(move || -> u64 {
            let (mut from, _) = listener.accept().expect("accept");
            let mut to = next.map(|port| TcpStream::connect(("127.0.0.1", port)).expect("connect"));
            let mut buf = vec![0u8; 1 << 20];
            let mut moved = 0u64;
            loop {
                let n = from.read(&mut buf).expect("read");
                if n == 0 {
                    return moved;
                }
                if let Some(to) = to.as_mut() {
                    to.write_all(&buf[..n]).expect("write");
                }
                moved += n as u64;
            }
        }));
    }
    let mut sender = TcpStream::connect(("127.0.0.1", ports[0])).expect("connect");
    let data = vec![1u8; 1 << 20];
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        sender.write_all(&data).expect("write");
        sent += data.len() as u64;
    }
    drop(sender);
    let moved: Vec<u64> = threads.into_iter().map(|t| t.join().expect("hop")).collect();
    let took = start.elapsed();
    assert!(moved.iter().all(|&m| m == sent), "every hop moved every octet");
    println!(
        "{hops} loopback TCP hop(s) in series: {:.2} GB/s ({} GiB in {took:?})",
        sent as f64 / took.as_secs_f64() / 1e9,
        sent >> 30
    );
}
