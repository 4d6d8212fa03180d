//! Request/reply through a real node: delivery, load spread, faults, timeouts, unregister.

mod common;
use common::*;
use iris_client::{Bytes, ErrorKind, ServiceHandler, ServiceLimits};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Replies with its member index and the request.
struct Tagged(usize);

impl ServiceHandler for Tagged {
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        if &request[..] == b"fail" {
            return Err("boom: the fault text travels verbatim \u{1F4A5}".into());
        }
        Ok(Bytes::from(format!("{}:{}", self.0, String::from_utf8_lossy(&request))))
    }
}

#[test]
fn request_25_clients_25_services_25_messages() {
    let node = Node::start(&[]);
    let services: Vec<_> = (0..25)
        .map(|i| iris_client::register(node.port, "calc", Arc::new(Tagged(i)), ServiceLimits::default()).unwrap())
        .collect();
    let served = Arc::new(Mutex::new(HashMap::<usize, usize>::new()));
    let clients: Vec<_> = (0..25)
        .map(|c| {
            let port = node.port;
            let served = served.clone();
            std::thread::spawn(move || {
                let conn = iris_client::connect(port).unwrap();
                for m in 0..25 {
                    let body = format!("c{c}m{m}");
                    let reply = conn.request("calc", body.clone(), 10 * SECOND).unwrap();
                    let reply = String::from_utf8(reply.to_vec()).unwrap();
                    let (member, echoed) = reply.split_once(':').unwrap();
                    assert_eq!(echoed, body);
                    *served.lock().unwrap().entry(member.parse().unwrap()).or_default() += 1;
                }
                conn.close().unwrap();
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let served = served.lock().unwrap();
    assert_eq!(served.values().sum::<usize>(), 625);
    // Load is spread: far more than one member took a share.
    assert!(
        served.len() >= 10,
        "only {} of 25 members served requests: {served:?}",
        served.len()
    );
    for s in services {
        s.unregister().unwrap();
    }
}

#[test]
fn fault_arrives_verbatim_as_a_remote_error() {
    let node = Node::start(&[]);
    let _service = iris_client::register(node.port, "calc", Arc::new(Tagged(0)), ServiceLimits::default()).unwrap();
    let conn = iris_client::connect(node.port).unwrap();
    let err = conn.request("calc", "fail", SECOND).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert_eq!(err.message(), "boom: the fault text travels verbatim \u{1F4A5}");
    // The connection stays usable after a fault.
    assert_eq!(&conn.request("calc", "ok", SECOND).unwrap()[..], b"0:ok");
}

struct Slow(Duration);

impl ServiceHandler for Slow {
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        std::thread::sleep(self.0);
        Ok(request)
    }
}

#[test]
fn request_times_out_when_the_service_is_too_slow() {
    let node = Node::start(&[]);
    let _service = iris_client::register(node.port, "slow", Arc::new(Slow(SECOND)), ServiceLimits::default()).unwrap();
    let conn = iris_client::connect(node.port).unwrap();
    let started = std::time::Instant::now();
    let err = conn.request("slow", "x", Duration::from_millis(100)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "the timeout fired late: {:?}",
        started.elapsed()
    );
}

#[test]
fn request_to_an_empty_cluster_times_out() {
    let node = Node::start(&[]);
    let conn = iris_client::connect(node.port).unwrap();
    let err = conn.request("nobody-home", "x", Duration::from_millis(50)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
}

#[test]
fn unregister_then_request_times_out() {
    let node = Node::start(&[]);
    let service = iris_client::register(node.port, "gone", Arc::new(Tagged(0)), ServiceLimits::default()).unwrap();
    let conn = iris_client::connect(node.port).unwrap();
    assert_eq!(&conn.request("gone", "a", SECOND).unwrap()[..], b"0:a");
    service.unregister().unwrap();
    let err = conn.request("gone", "b", Duration::from_millis(100)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
}

#[test]
fn invalid_arguments_are_refused_before_sending() {
    let node = Node::start(&[]);
    let conn = iris_client::connect(node.port).unwrap();
    let kind = |r: iris_client::Result<Bytes>| r.unwrap_err().kind();
    assert_eq!(kind(conn.request("", "x", SECOND)), ErrorKind::InvalidArgument);
    assert_eq!(
        kind(conn.request("c", Bytes::new(), SECOND)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(conn.request("c", "x", Duration::from_micros(999))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        conn.broadcast("c", Bytes::new()).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(conn.publish("", "x").unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(conn.tunnel("", SECOND).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        conn.unsubscribe("never").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        iris_client::register(node.port, "", Arc::new(Tagged(0)), ServiceLimits::default())
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn connecting_to_a_port_without_a_node_is_an_io_error() {
    // Bind and release a port so that nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_eq!(iris_client::connect(port).unwrap_err().kind(), ErrorKind::Io);
}

#[test]
fn async_api_works_inside_a_user_runtime() {
    let node = Node::start(&[]);
    let _service = iris_client::register(node.port, "calc", Arc::new(Tagged(7)), ServiceLimits::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conn = iris_client::connect_async(node.port).await.unwrap();
        let replies = futures_join(&conn).await;
        assert_eq!(replies, vec!["7:a".to_string(), "7:b".to_string()]);
        // Blocking calls are refused inside a runtime instead of stalling it.
        assert_eq!(
            conn.request("calc", "x", SECOND).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        conn.close_async().await.unwrap();
    });
}

async fn futures_join(conn: &iris_client::Connection) -> Vec<String> {
    let (a, b) = tokio::join!(
        conn.request_async("calc", "a", SECOND),
        conn.request_async("calc", "b", SECOND)
    );
    [a, b]
        .into_iter()
        .map(|r| String::from_utf8(r.unwrap().to_vec()).unwrap())
        .collect()
}
