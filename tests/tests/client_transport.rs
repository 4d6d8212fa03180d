//! The local transport: the core prefers the node's abstract Unix socket (Linux) and falls back to
//! loopback TCP when the node has none; every pattern works over both, and clients on either
//! transport (a relay v1 client of 2014 only knows TCP) reach each other through one node.

mod common;
use bytes::BytesMut;
use common::*;
use iris_client::codec::{self, ByteStr, ClientFrame, Limits, NodeFrame, ReplyOutcome};
use iris_client::transport::Kind;
use iris_client::{Bytes, ServiceHandler, ServiceLimits, TopicHandler, TopicLimits, Tunnel};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Echoes requests (prefixed) and tunnel messages; counts broadcasts.
#[derive(Default)]
struct Echo {
    broadcasts: AtomicUsize,
}

impl ServiceHandler for Echo {
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        let mut reply = b"echo:".to_vec();
        reply.extend_from_slice(&request);
        Ok(reply.into())
    }

    fn handle_broadcast(&self, _message: Bytes) {
        self.broadcasts.fetch_add(1, Ordering::SeqCst);
    }

    fn handle_tunnel(&self, tunnel: Tunnel) {
        while let Ok(message) = tunnel.recv(None) {
            if tunnel.send(message, Some(30 * SECOND)).is_err() {
                break;
            }
        }
    }
}

#[derive(Default)]
struct Count(AtomicUsize);

impl TopicHandler for Count {
    fn handle_event(&self, _event: Bytes) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Request, broadcast, publish and a tunnel carrying small and large messages, in order.
fn every_pattern(port: u16, expected: Kind) {
    let echo = Arc::new(Echo::default());
    let service = iris_client::register(port, "echo", echo.clone(), ServiceLimits::default()).unwrap();
    let conn = iris_client::connect(port).unwrap();
    assert_eq!(conn.transport(), expected);
    assert_eq!(service.connection().transport(), expected);

    for i in 0..100 {
        let reply = conn.request("echo", format!("r{i}"), 5 * SECOND).unwrap();
        assert_eq!(reply, Bytes::from(format!("echo:r{i}")));
    }
    for _ in 0..50 {
        conn.broadcast("echo", "b").unwrap();
    }
    assert!(eventually(5 * SECOND, || echo.broadcasts.load(Ordering::SeqCst) == 50));
    let events = Arc::new(Count::default());
    conn.subscribe_arc("news", events.clone(), TopicLimits::default())
        .unwrap();
    for _ in 0..50 {
        conn.publish("news", "e").unwrap();
    }
    assert!(eventually(5 * SECOND, || events.0.load(Ordering::SeqCst) == 50));
    assert!(!eventually(std::time::Duration::from_millis(100), || events
        .0
        .load(Ordering::SeqCst)
        > 50));

    let tunnel = conn.tunnel("echo", 5 * SECOND).unwrap();
    let big = Bytes::from((0..4 << 20).map(|i: u32| (i % 251) as u8).collect::<Vec<u8>>());
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..200u32 {
                let message = if i % 50 == 49 {
                    big.clone()
                } else {
                    Bytes::from(vec![(i % 256) as u8; 64 * 1024])
                };
                tunnel.send(message, Some(30 * SECOND)).unwrap();
            }
        });
        for i in 0..200u32 {
            let got = tunnel.recv(Some(30 * SECOND)).unwrap();
            if i % 50 == 49 {
                assert!(got == big, "message {i}: the 4 MiB message came back intact");
            } else {
                assert_eq!(got.len(), 64 * 1024, "message {i}");
                assert!(
                    got.iter().all(|&b| b == (i % 256) as u8),
                    "message {i} in order and intact"
                );
            }
        }
    });
    tunnel.close().unwrap();
    conn.close().unwrap();
    service.unregister().unwrap();
}

#[cfg(target_os = "linux")]
#[test]
fn the_core_uses_the_nodes_unix_socket() {
    let node = Node::start(&[]);
    every_pattern(node.port, Kind::Unix);
}

#[test]
fn the_core_falls_back_to_tcp_when_the_node_has_no_unix_socket() {
    let node = Node::start(&["--no-unix-relay"]);
    every_pattern(node.port, Kind::Tcp);
}

/// One relay v1 frame from the node, read off a blocking TCP socket.
fn read_frame(socket: &mut std::net::TcpStream, buf: &mut BytesMut) -> NodeFrame {
    loop {
        if let Some(frame) = codec::decode_node_frame(buf, &Limits::default()).expect("valid frame") {
            return frame;
        }
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).expect("read");
        assert!(n > 0, "the node closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn send(socket: &mut std::net::TcpStream, frame: ClientFrame) {
    let mut out = BytesMut::new();
    frame.encode(&mut out);
    socket.write_all(&out).expect("write");
}

#[test]
fn a_plain_tcp_client_and_a_core_client_reach_each_other() {
    let node = Node::start(&[]);
    let service =
        iris_client::register(node.port, "echo", Arc::new(Echo::default()), ServiceLimits::default()).unwrap();
    // A relay v1 client as the 2014 libraries wrote it: TCP to 127.0.0.1, nothing else.
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", node.port)).expect("tcp connect");
    socket.set_read_timeout(Some(10 * SECOND)).unwrap();
    let mut buf = BytesMut::new();
    send(
        &mut socket,
        ClientFrame::Init {
            magic: ByteStr::from_static(codec::CLIENT_MAGIC),
            version: ByteStr::from_static(codec::PROTOCOL_VERSION),
            cluster: ByteStr::from("old-tcp"),
        },
    );
    assert!(matches!(read_frame(&mut socket, &mut buf), NodeFrame::Init { .. }));
    send(
        &mut socket,
        ClientFrame::Request {
            id: 7,
            cluster: ByteStr::from("echo"),
            request: Bytes::from_static(b"from tcp"),
            timeout_ms: 5000,
        },
    );
    match read_frame(&mut socket, &mut buf) {
        NodeFrame::Reply { id: 7, outcome } => {
            assert_eq!(outcome, ReplyOutcome::Reply(Bytes::from_static(b"echo:from tcp")))
        }
        other => panic!("expected the reply, got {other:?}"),
    }
    // And the other way: the core client asks the TCP client's cluster.
    let conn = iris_client::connect(node.port).unwrap();
    let asker = std::thread::spawn(move || {
        let reply = conn.request("old-tcp", "from the core", 5 * SECOND);
        conn.close().unwrap();
        reply
    });
    match read_frame(&mut socket, &mut buf) {
        NodeFrame::Request { id, request, .. } => {
            assert_eq!(request, Bytes::from_static(b"from the core"));
            send(
                &mut socket,
                ClientFrame::Reply {
                    id,
                    result: Ok(Bytes::from_static(b"tcp says hi")),
                },
            );
        }
        other => panic!("expected a request, got {other:?}"),
    }
    assert_eq!(asker.join().unwrap().unwrap(), Bytes::from_static(b"tcp says hi"));
    send(&mut socket, ClientFrame::Close);
    service.unregister().unwrap();
}
