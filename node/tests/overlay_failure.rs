//! Failures: a killed node is routed around (requests in flight on it end with a timeout, never a
//! hang), a hung node is detected by heartbeats within 3 s, a graceful leave takes effect at once,
//! and nodes rejoin.

mod common;

use common::overlay::{wait_until, TestNet};
use common::NodeProc;
use iris_client::{Bytes, Connection, ErrorKind, ServiceHandler, ServiceLimits};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Answers with its name; requests saying "slow" take 30 s.
struct Named(&'static str);

impl ServiceHandler for Named {
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        if &request[..] == b"slow" {
            std::thread::sleep(Duration::from_secs(30));
        }
        Ok(Bytes::from(self.0))
    }
}

fn register(node: &NodeProc, cluster: &str, name: &'static str) -> iris_client::Service {
    iris_client::register(node.port, cluster, Arc::new(Named(name)), ServiceLimits::default()).expect("register")
}

fn served_by(caller: &Connection, cluster: &str, name: &str, within: Duration) -> Duration {
    wait_until(
        within,
        &format!("{cluster} served by {name}"),
        || matches!(caller.request(cluster, "hi", Duration::from_millis(300)), Ok(r) if r == name.as_bytes()),
    )
}

/// Time until `n` requests in a row succeed.
fn until_steady(caller: &Connection, cluster: &str, n: usize, within: Duration) -> Duration {
    let start = Instant::now();
    let mut streak = 0;
    while streak < n {
        assert!(
            start.elapsed() < within,
            "{cluster} not steadily served within {within:?}"
        );
        match caller.request(cluster, "hi", Duration::from_millis(500)) {
            Ok(_) => streak += 1,
            Err(_) => streak = 0,
        }
    }
    start.elapsed()
}

fn signal(node: &NodeProc, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &node.pid().to_string()])
        .status()
        .expect("kill")
        .success());
}

#[test]
fn a_killed_node_is_routed_around_and_rejoins() {
    let net = TestNet::new("failure");
    let (n2, n3, mut n4) = (net.start(2), net.start(3), net.start(4));
    let caller = iris_client::connect(n2.port).expect("connect");
    let _m3 = register(&n3, "svc", "m3");
    let _m4 = register(&n4, "svc", "m4");
    let _slow = register(&n4, "slow", "m4");
    served_by(&caller, "svc", "m3", Duration::from_secs(10));
    served_by(&caller, "svc", "m4", Duration::from_secs(10));
    served_by(&caller, "slow", "m4", Duration::from_secs(10));

    // A request in flight on the node that dies ends with a timeout for its caller, not a hang.
    let in_flight = {
        let caller = iris_client::connect(n2.port).expect("connect");
        std::thread::spawn(move || {
            let start = Instant::now();
            let result = caller.request("slow", "slow", Duration::from_secs(60));
            (result.map_err(|e| e.kind()), start.elapsed())
        })
    };
    // Load from several callers while the node dies.
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let conn = iris_client::connect(n2.port).expect("connect");
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut ok, mut failed, mut slowest) = (0usize, 0usize, Duration::ZERO);
                while !stop.load(Ordering::SeqCst) {
                    let start = Instant::now();
                    match conn.request("svc", "hi", Duration::from_secs(2)) {
                        Ok(_) => ok += 1,
                        Err(_) => failed += 1,
                    }
                    slowest = slowest.max(start.elapsed());
                }
                (ok, failed, slowest)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let killed = Instant::now();
    n4.kill9();
    let steady = until_steady(&caller, "svc", 20, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    for handle in load {
        let (ok, failed, slowest) = handle.join().expect("load thread");
        eprintln!("load thread: {ok} ok, {failed} failed, slowest {slowest:?}");
        assert!(ok > 0);
        assert!(slowest < Duration::from_secs(3), "a request hung for {slowest:?}");
    }
    eprintln!("after kill -9: 20 requests in a row served {steady:?} after the kill");
    let (result, took) = in_flight.join().expect("caller thread");
    assert_eq!(
        result,
        Err(ErrorKind::Timeout),
        "the caller of a request lost with its node gets a timeout"
    );
    assert!(
        took < Duration::from_secs(10),
        "the lost request ended after {took:?}, not at its 60 s deadline"
    );
    assert!(killed.elapsed() < Duration::from_secs(15));

    // The node restarts (new id, same address) and rejoins.
    let n4 = net.start(4);
    let _m4 = register(&n4, "svc", "m4");
    let rejoined = served_by(&caller, "svc", "m4", Duration::from_secs(10));
    eprintln!("restarted node served requests {rejoined:?} after its member registered");
}

#[test]
fn a_hung_node_is_detected_by_heartbeats_and_a_leaving_node_at_once() {
    let net = TestNet::new("hang");
    let (n2, n3, n4) = (net.start(2), net.start(3), net.start(4));
    let caller = iris_client::connect(n2.port).expect("connect");
    let _m3 = register(&n3, "svc", "m3");
    let _m4 = register(&n4, "svc", "m4");
    served_by(&caller, "svc", "m3", Duration::from_secs(10));
    served_by(&caller, "svc", "m4", Duration::from_secs(10));

    // SIGSTOP: sockets stay open, only the missing heartbeats tell.
    signal(&n4, "-STOP");
    let stopped = Instant::now();
    let steady = until_steady(&caller, "svc", 20, Duration::from_secs(10));
    eprintln!("hung node routed around {steady:?} after it stopped");
    assert!(stopped.elapsed() < Duration::from_secs(8));
    // Resumed, it is found again (the slow discovery sweeps merge the partition).
    signal(&n4, "-CONT");
    let healed = served_by(&caller, "svc", "m4", Duration::from_secs(20));
    eprintln!("resumed node served again after {healed:?}");

    // Graceful leave: peers forget the node at once.
    let _solo = register(&n3, "solo", "m3");
    served_by(&caller, "solo", "m3", Duration::from_secs(10));
    let mut n3 = n3;
    n3.sigterm();
    assert!(n3.wait_exit(Duration::from_secs(10)).success());
    let err = caller
        .request("solo", "hi", Duration::from_millis(800))
        .expect_err("nobody left in solo");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    until_steady(&caller, "svc", 10, Duration::from_secs(3));
}
