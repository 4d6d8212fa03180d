//! The kernel's floor for the cross-node tunnel's path on this machine: plain local socket hops
//! in series (sender -> forwarder -> ... -> sink), 1 MiB reads and writes, no framing, no
//! encryption, one thread per hop. A cross-node tunnel crosses three such hops (client -> node A,
//! node A -> node B, node B -> client), a single node's tunnel two; neither can be faster than
//! this on the same cores. A benchmark, not a test; loopback and abstract Unix sockets only.
//!
//! `cargo run --release -p iris-node --example loopback_floor [HOPS] [GiB]` (defaults: 3 hops,
//! 4 GiB). HOPS is a number of loopback TCP hops, or one letter per hop: `t` for loopback TCP,
//! `u` for a Unix stream socket; `utu` is the cross-node tunnel's path with clients on the nodes'
//! Unix sockets, `ttt` the same over TCP alone.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Instant;

/// One end of a hop.
trait Socket: Read + Write + Send {}
impl<T: Read + Write + Send> Socket for T {}

/// A hop's listening side, and how to reach it.
enum Hop {
    Tcp(TcpListener),
    Unix(UnixListener, std::path::PathBuf),
}

impl Hop {
    fn bind(kind: char, i: usize) -> Hop {
        match kind {
            't' => Hop::Tcp(TcpListener::bind("127.0.0.1:0").expect("bind")),
            'u' => {
                let path = std::env::temp_dir().join(format!("iris-floor-{}-{i}.sock", std::process::id()));
                let _ = std::fs::remove_file(&path);
                Hop::Unix(UnixListener::bind(&path).expect("bind"), path)
            }
            other => panic!("unknown hop kind {other:?}: use t (TCP) or u (Unix)"),
        }
    }

    /// A function that connects to this hop.
    fn dialer(&self) -> Box<dyn FnOnce() -> Box<dyn Socket> + Send> {
        match self {
            Hop::Tcp(l) => {
                let addr = l.local_addr().expect("addr");
                Box::new(move || Box::new(TcpStream::connect(addr).expect("connect")))
            }
            Hop::Unix(_, path) => {
                let path = path.clone();
                Box::new(move || Box::new(UnixStream::connect(path).expect("connect")))
            }
        }
    }

    fn accept(&self) -> Box<dyn Socket> {
        match self {
            Hop::Tcp(l) => Box::new(l.accept().expect("accept").0),
            Hop::Unix(l, _) => Box::new(l.accept().expect("accept").0),
        }
    }
}

impl Drop for Hop {
    fn drop(&mut self) {
        if let Hop::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let spec = args.next().unwrap_or_else(|| "3".into());
    let kinds: Vec<char> = match spec.parse::<usize>() {
        Ok(n) => vec!['t'; n.max(1)],
        Err(_) => spec.chars().collect(),
    };
    let total: u64 = args.next().and_then(|s| s.parse::<u64>().ok()).unwrap_or(4) << 30;
    let hops: Vec<Hop> = kinds.iter().enumerate().map(|(i, &k)| Hop::bind(k, i)).collect();
    let mut dialers: Vec<Option<_>> = hops.iter().map(|h| Some(h.dialer())).collect();
    let first = dialers[0].take().expect("first hop");
    let moved: Vec<u64> = std::thread::scope(|scope| {
        let mut threads = Vec::new();
        for (i, hop) in hops.iter().enumerate() {
            let next = dialers.get_mut(i + 1).and_then(Option::take);
            threads.push(scope.spawn(move || -> u64 {
                let mut from = hop.accept();
                let mut to = next.map(|dial| dial());
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
        let mut sender = first();
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
        let path: String = kinds
            .iter()
            .map(|k| if *k == 't' { "tcp" } else { "unix" })
            .collect::<Vec<_>>()
            .join(" -> ");
        println!(
            "{} hop(s) in series ({path}): {:.2} GB/s ({} GiB in {took:?})",
            kinds.len(),
            sent as f64 / took.as_secs_f64() / 1e9,
            sent >> 30
        );
        moved
    });
    assert_eq!(moved.len(), kinds.len());
}
