//! Closing: blocked calls are released, many connections come and go, graceful drain.

mod common;
use common::*;
use iris_client::{Bytes, ErrorKind, ServiceHandler, ServiceLimits};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Slow(Duration);

impl ServiceHandler for Slow {
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        std::thread::sleep(self.0);
        Ok(request)
    }
}

#[test]
fn close_releases_a_blocked_request_with_closed() {
    let node = Node::start(&[]);
    let _service =
        iris_client::register(node.port, "slow", Arc::new(Slow(3 * SECOND)), ServiceLimits::default()).unwrap();
    let conn = iris_client::connect(node.port).unwrap();
    let c = conn.clone();
    let blocked = std::thread::spawn(move || {
        let started = Instant::now();
        (c.request("slow", "x", 30 * SECOND), started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    conn.close().unwrap();
    let (result, waited) = blocked.join().unwrap();
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Closed);
    assert!(waited < Duration::from_secs(2), "released only after {waited:?}");
    // After close every call fails with CLOSED; closing again is fine.
    assert_eq!(conn.request("slow", "x", SECOND).unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(conn.publish("t", "x").unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(conn.tunnel("slow", SECOND).unwrap_err().kind(), ErrorKind::Closed);
    conn.close().unwrap();
}

struct Hold(std::sync::Mutex<Option<std::sync::mpsc::Sender<iris_client::Tunnel>>>);

impl ServiceHandler for Hold {
    fn handle_tunnel(&self, tunnel: iris_client::Tunnel) {
        let _ = self.0.lock().unwrap().as_ref().unwrap().send(tunnel);
    }
}

#[test]
fn close_releases_a_blocked_tunnel_receive() {
    let node = Node::start(&[]);
    let (tx, _rx) = std::sync::mpsc::channel();
    let _service = iris_client::register(
        node.port,
        "hold",
        Arc::new(Hold(std::sync::Mutex::new(Some(tx)))),
        ServiceLimits::default(),
    )
    .unwrap();
    let conn = iris_client::connect(node.port).unwrap();
    let tunnel = Arc::new(conn.tunnel("hold", 5 * SECOND).unwrap());
    let t = tunnel.clone();
    let blocked = std::thread::spawn(move || t.recv(None));
    std::thread::sleep(Duration::from_millis(200));
    conn.close().unwrap();
    assert_eq!(blocked.join().unwrap().unwrap_err().kind(), ErrorKind::Closed);
}

#[test]
fn a_graceful_unregister_answers_requests_already_delivered() {
    let node = Node::start(&[]);
    let service = iris_client::register(
        node.port,
        "drain",
        Arc::new(Slow(Duration::from_millis(500))),
        ServiceLimits::default(),
    )
    .unwrap();
    let conn = iris_client::connect(node.port).unwrap();
    let c = conn.clone();
    let in_flight = std::thread::spawn(move || c.request("drain", "finish me", 10 * SECOND));
    std::thread::sleep(Duration::from_millis(150));
    service.unregister().unwrap();
    assert_eq!(&in_flight.join().unwrap().unwrap()[..], b"finish me");
}

struct Echo;
impl ServiceHandler for Echo {
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        Ok(request)
    }
}

#[test]
fn a_hundred_concurrent_connects_and_registrations() {
    let node = Node::start(&[]);
    let port = node.port;
    let threads: Vec<_> = (0..100)
        .map(|i| {
            std::thread::spawn(move || {
                if i % 2 == 0 {
                    let service =
                        iris_client::register(port, "crowd", Arc::new(Echo), ServiceLimits::default()).unwrap();
                    std::thread::sleep(Duration::from_millis(500));
                    service.unregister().unwrap();
                } else {
                    let conn = iris_client::connect(port).unwrap();
                    std::thread::sleep(Duration::from_millis(100));
                    let reply = conn.request("crowd", format!("{i}"), 10 * SECOND).unwrap();
                    assert_eq!(reply, Bytes::from(format!("{i}")));
                    conn.close().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

struct Dropped(std::sync::Mutex<Option<std::sync::mpsc::Sender<iris_client::Error>>>);

impl ServiceHandler for Dropped {
    fn handle_drop(&self, reason: iris_client::Error) {
        let _ = self.0.lock().unwrap().take().unwrap().send(reason);
    }
}

#[test]
fn node_shutdown_drops_services_and_closes_clients() {
    let node = Node::start(&[]);
    let (tx, rx) = std::sync::mpsc::channel();
    let _service = iris_client::register(
        node.port,
        "victim",
        Arc::new(Dropped(std::sync::Mutex::new(Some(tx)))),
        ServiceLimits::default(),
    )
    .unwrap();
    let conn = iris_client::connect(node.port).unwrap();
    let status = node.terminate();
    assert!(status.success(), "iris exited with {status}");
    let reason = rx.recv_timeout(5 * SECOND).expect("handle_drop was not called");
    assert_eq!(reason.kind(), ErrorKind::Closed);
    assert!(eventually(5 * SECOND, || !conn.is_open()));
    assert_eq!(
        conn.request("victim", "x", SECOND).unwrap_err().kind(),
        ErrorKind::Closed
    );
}
