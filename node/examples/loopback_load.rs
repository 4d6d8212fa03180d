//! A small load generator: embeds a dev node, attaches members and a caller over loopback, and
//! reports request/reply and publish throughput. Bounded in time; a smoke benchmark, not a test.
//!
//! `cargo run --release -p iris-node --example loopback_load [seconds]`

use bytes::{Bytes, BytesMut};
use iris_client::codec::{decode_node_frame, ClientFrame, Limits, NodeFrame, CLIENT_MAGIC, PROTOCOL_VERSION};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A blocking relay connection with a read buffer.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    out: BytesMut,
}

impl Conn {
    fn attach(port: u16, cluster: &str) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut conn = Conn {
            stream,
            buf: BytesMut::new(),
            out: BytesMut::new(),
        };
        conn.queue(&ClientFrame::Init {
            magic: CLIENT_MAGIC.into(),
            version: PROTOCOL_VERSION.into(),
            cluster: cluster.into(),
        });
        conn.flush();
        assert!(matches!(conn.recv(), NodeFrame::Init { .. }));
        conn
    }
    fn queue(&mut self, frame: &ClientFrame) {
        frame.encode(&mut self.out);
    }
    fn flush(&mut self) {
        self.stream.write_all(&self.out).expect("write");
        self.out.clear();
    }
    /// The next frame, `None` once the node closed the connection.
    fn next(&mut self) -> Option<NodeFrame> {
        loop {
            if let Some(frame) = decode_node_frame(&mut self.buf, &Limits::default()).expect("valid") {
                return Some(frame);
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
    fn recv(&mut self) -> NodeFrame {
        self.next().expect("node closed the connection")
    }
}

fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let node = runtime
        .block_on(iris_node::Node::start(iris_node::Config::dev(0)))
        .expect("start");
    let port = node.relay_port();

    // Members answer every request with its payload.
    for _ in 0..2 {
        let mut member = Conn::attach(port, "echo");
        std::thread::spawn(move || {
            while let Some(frame) = member.next() {
                let NodeFrame::Request { id, request, .. } = frame else {
                    continue;
                };
                member.queue(&ClientFrame::Reply {
                    id,
                    result: Ok(request),
                });
                // Reply in batches when more requests are already buffered.
                if member.buf.is_empty() {
                    member.flush();
                }
            }
        });
    }

    let window = 512u64;
    let mut caller = Conn::attach(port, "");
    let payload = Bytes::from_static(&[0u8; 64]);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut sent, mut done) = (0u64, 0u64);
    let started = Instant::now();
    while Instant::now() < deadline {
        while sent - done < window {
            caller.queue(&ClientFrame::Request {
                id: sent,
                cluster: "echo".into(),
                request: payload.clone(),
                timeout_ms: 10_000,
            });
            sent += 1;
        }
        caller.flush();
        match caller.recv() {
            NodeFrame::Reply { .. } => done += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    let rate = done as f64 / started.elapsed().as_secs_f64();
    println!(
        "request/reply: {done} in {:?} = {rate:.0}/s (64-octet payloads, window {window})",
        started.elapsed()
    );

    // Publish to 2 subscribers.
    let mut subscribers: Vec<Conn> = (0..2).map(|_| Conn::attach(port, "")).collect();
    for s in &mut subscribers {
        s.queue(&ClientFrame::Subscribe { topic: "t".into() });
        s.flush();
    }
    std::thread::sleep(Duration::from_millis(100));
    let counters: Vec<_> = subscribers
        .into_iter()
        .map(|mut s| {
            std::thread::spawn(move || {
                let mut n = 0u64;
                s.stream
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .expect("timeout");
                loop {
                    if let Some(frame) = decode_node_frame(&mut s.buf, &Limits::default()).expect("valid") {
                        assert!(matches!(frame, NodeFrame::Publish { .. }));
                        n += 1;
                        continue;
                    }
                    let mut chunk = [0u8; 64 * 1024];
                    match s.stream.read(&mut chunk) {
                        Ok(0) | Err(_) => return n,
                        Ok(k) => s.buf.extend_from_slice(&chunk[..k]),
                    }
                }
            })
        })
        .collect();
    let mut publisher = Conn::attach(port, "");
    let started = Instant::now();
    let mut published = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        for _ in 0..256 {
            publisher.queue(&ClientFrame::Publish {
                topic: "t".into(),
                event: payload.clone(),
            });
        }
        publisher.flush();
        published += 256;
    }
    let elapsed = started.elapsed();
    let received: Vec<u64> = counters.into_iter().map(|c| c.join().unwrap_or(0)).collect();
    println!("publish: {published} sent in {elapsed:?} = {:.0}/s; received per subscriber {received:?} (drops above the high-water mark are allowed)", published as f64 / elapsed.as_secs_f64());
    runtime.block_on(node.shutdown());
}
