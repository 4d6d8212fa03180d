//! Tunnels through a real node: ordering, concurrency, large messages, flow control, timeouts.

mod common;
use common::*;
use iris_client::{Bytes, ErrorKind, ServiceHandler, ServiceLimits, Tunnel};
use std::sync::Arc;
use std::time::Duration;

/// Echoes every tunnel message back.
struct Echo;

impl ServiceHandler for Echo {
    fn handle_tunnel(&self, tunnel: Tunnel) {
        while let Ok(message) = tunnel.recv(None) {
            if tunnel.send(message, Some(30 * SECOND)).is_err() {
                break;
            }
        }
    }
}

#[test]
fn tunnels_7_clients_7_services_7_tunnels_each_in_order() {
    let node = Node::start(&[]);
    let services: Vec<_> = (0..7)
        .map(|_| iris_client::register(node.port, "tun", Arc::new(Echo), ServiceLimits::default()).unwrap())
        .collect();
    let clients: Vec<_> = (0..7)
        .map(|c| {
            let port = node.port;
            std::thread::spawn(move || {
                let conn = iris_client::connect(port).unwrap();
                let workers: Vec<_> = (0..7)
                    .map(|t| {
                        let tunnel = conn.tunnel("tun", 5 * SECOND).unwrap();
                        std::thread::spawn(move || {
                            for m in 0..7 {
                                tunnel.send(format!("c{c}t{t}m{m}"), Some(10 * SECOND)).unwrap();
                            }
                            for m in 0..7 {
                                let got = tunnel.recv(Some(10 * SECOND)).unwrap();
                                assert_eq!(got, Bytes::from(format!("c{c}t{t}m{m}")));
                            }
                            tunnel.close().unwrap();
                        })
                    })
                    .collect();
                for w in workers {
                    w.join().unwrap();
                }
                conn.close().unwrap();
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    for s in services {
        s.unregister().unwrap();
    }
}

fn pattern(len: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<u8>>(),
    )
}

#[test]
fn a_16_mib_message_crosses_intact_both_ways() {
    let node = Node::start(&[]);
    let _service = iris_client::register(node.port, "big", Arc::new(Echo), ServiceLimits::default()).unwrap();
    let conn = iris_client::connect(node.port).unwrap();
    let tunnel = conn.tunnel("big", 5 * SECOND).unwrap();
    let message = pattern(16 << 20, 7);
    tunnel.send(message.clone(), Some(60 * SECOND)).unwrap();
    let back = tunnel.recv(Some(60 * SECOND)).unwrap();
    assert_eq!(back.len(), message.len());
    assert!(back == message, "the 16 MiB message came back altered");
}

#[test]
fn overload_sends_time_out_and_the_tunnel_still_works() {
    let node = Node::start(&[]);
    // The service reads slowly at first, so the sender runs out of allowance.
    let _service = iris_client::register(node.port, "flood", Arc::new(Echo), ServiceLimits::default()).unwrap();
    let conn = iris_client::connect(node.port).unwrap();
    let tunnel = conn.tunnel("flood", 5 * SECOND).unwrap();
    let huge = pattern(64 << 20, 1);
    for i in 0..10 {
        let err = tunnel.send(huge.clone(), Some(Duration::from_millis(10))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "send {i}: {err}");
    }
    // Small messages still get through, in order (incomplete big ones are discarded).
    for m in 0..5 {
        tunnel.send(format!("small {m}"), Some(60 * SECOND)).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 5 {
        let message = tunnel.recv(Some(60 * SECOND)).unwrap();
        if message.len() < 64 {
            got.push(message);
        }
    }
    assert_eq!(
        got,
        (0..5).map(|m| Bytes::from(format!("small {m}"))).collect::<Vec<_>>()
    );
}

#[test]
fn tunnel_to_an_empty_cluster_times_out() {
    let node = Node::start(&[]);
    let conn = iris_client::connect(node.port).unwrap();
    let err = conn.tunnel("nobody", Duration::from_millis(100)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
}

/// Holds the tunnel open without reading until told, to exercise backpressure.
struct Stalled(std::sync::Mutex<Option<std::sync::mpsc::Sender<Tunnel>>>);

impl ServiceHandler for Stalled {
    fn handle_tunnel(&self, tunnel: Tunnel) {
        let _ = self.0.lock().unwrap().as_ref().unwrap().send(tunnel);
    }
}

#[test]
fn a_reader_that_does_not_read_blocks_the_writer_then_releases_it() {
    let node = Node::start(&[]);
    let (tx, rx) = std::sync::mpsc::channel();
    let _service = iris_client::register(
        node.port,
        "stall",
        Arc::new(Stalled(std::sync::Mutex::new(Some(tx)))),
        ServiceLimits::default(),
    )
    .unwrap();
    let conn = iris_client::connect(node.port).unwrap();
    let tunnel = conn.tunnel("stall", 5 * SECOND).unwrap();
    let server_end = rx.recv_timeout(5 * SECOND).unwrap();
    // 1 MiB messages: the receiver grants 64 MiB and the node 4 MiB, so well before 200 MiB the
    // writer must stall.
    let chunk = pattern(1 << 20, 3);
    let mut sent = 0;
    loop {
        match tunnel.send(chunk.clone(), Some(Duration::from_millis(500))) {
            Ok(()) => sent += 1,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
                break;
            }
        }
        assert!(sent < 200, "the writer never stalled: flow control is not applied");
    }
    assert!(sent >= 4, "stalled too early, after {sent} MiB");
    // Reading everything releases the writer again.
    for _ in 0..sent {
        assert_eq!(server_end.recv(Some(30 * SECOND)).unwrap().len(), 1 << 20);
    }
    tunnel.send("after", Some(30 * SECOND)).unwrap();
    let mut last = server_end.recv(Some(30 * SECOND)).unwrap();
    // A timed-out send may have left a partial message, which the receiver discards.
    while last.len() != 5 {
        last = server_end.recv(Some(30 * SECOND)).unwrap();
    }
    assert_eq!(&last[..], b"after");
}

#[test]
fn closing_a_tunnel_ends_the_peer_after_buffered_messages() {
    let node = Node::start(&[]);
    let (tx, rx) = std::sync::mpsc::channel();
    let _service = iris_client::register(
        node.port,
        "closer",
        Arc::new(Stalled(std::sync::Mutex::new(Some(tx)))),
        ServiceLimits::default(),
    )
    .unwrap();
    let conn = iris_client::connect(node.port).unwrap();
    let tunnel = conn.tunnel("closer", 5 * SECOND).unwrap();
    let server_end = rx.recv_timeout(5 * SECOND).unwrap();
    tunnel.send("last words", Some(5 * SECOND)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    tunnel.close().unwrap();
    tunnel.close().unwrap(); // idempotent
    assert_eq!(tunnel.send("x", Some(SECOND)).unwrap_err().kind(), ErrorKind::Closed);
    // The peer still reads what arrived before the close, then sees CLOSED.
    assert_eq!(&server_end.recv(Some(5 * SECOND)).unwrap()[..], b"last words");
    assert_eq!(server_end.recv(Some(5 * SECOND)).unwrap_err().kind(), ErrorKind::Closed);
}
