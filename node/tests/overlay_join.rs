//! Joining: a lone node is ready at once; seeds and peer gossip build the network without range
//! probing; the overlay flags are validated before anything is bound.

mod common;

use common::overlay::{free_port, network_key, wait_until, TestNet};
use common::NodeProc;
use iris_client::{Bytes, ServiceHandler, ServiceLimits};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Named(&'static str);

impl ServiceHandler for Named {
    fn handle_request(&self, _request: Bytes) -> Result<Bytes, String> {
        Ok(Bytes::from(self.0))
    }
}

#[test]
fn a_lone_node_is_ready_at_once() {
    let net = TestNet::new("lone");
    let start = Instant::now();
    let node = net.start(2);
    let ready = start.elapsed();
    let _svc =
        iris_client::register(node.port, "svc", Arc::new(Named("me")), ServiceLimits::default()).expect("register");
    let caller = iris_client::connect(node.port).expect("connect");
    assert_eq!(
        &caller.request("svc", "hi", Duration::from_secs(5)).expect("reply")[..],
        b"me"
    );
    eprintln!("lone overlay node ready after {ready:?} (process start included)");
    assert!(
        ready < Duration::from_secs(1),
        "a lone node took {ready:?} to open its relay"
    );
}

#[test]
fn seeds_and_gossip_join_nodes_without_probing() {
    let net = TestNet::new("seeds");
    let key = network_key();
    let args = |host: u8, seed: Option<u8>| -> Vec<String> {
        let mut a: Vec<String> = [
            "--net",
            &net.name,
            "--rsa",
            key.to_str().unwrap(),
            "--port",
            "0",
            "--no-discover",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(["--listen".to_string(), format!("127.0.0.{host}:{}", net.port)]);
        if let Some(seed) = seed {
            a.extend(["--seed".to_string(), format!("127.0.0.{seed}:{}", net.port)]);
        }
        a
    };
    let start = |host, seed| {
        let a = args(host, seed);
        NodeProc::start(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    // 2 alone; 3 knows 2; 4 knows only 3 and learns 2 from it.
    let n2 = start(2, None);
    let _s2 = iris_client::register(n2.port, "far", Arc::new(Named("n2")), ServiceLimits::default()).expect("register");
    let n3 = start(3, Some(2));
    let n4 = start(4, Some(3));
    let _s4 =
        iris_client::register(n4.port, "near", Arc::new(Named("n4")), ServiceLimits::default()).expect("register");
    let from4 = iris_client::connect(n4.port).expect("connect");
    let from2 = iris_client::connect(n2.port).expect("connect");
    let took = wait_until(
        Duration::from_secs(10),
        "node 4 reaches node 2's member",
        || matches!(from4.request("far", "hi", Duration::from_millis(300)), Ok(r) if &r[..] == b"n2"),
    );
    wait_until(
        Duration::from_secs(10),
        "node 2 reaches node 4's member",
        || matches!(from2.request("near", "hi", Duration::from_millis(300)), Ok(r) if &r[..] == b"n4"),
    );
    eprintln!("seeded network formed; 4 reached 2 after {took:?}");
    drop(n3);
}

fn iris(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_iris"))
        .args(args)
        .output()
        .expect("run iris")
}

#[test]
fn overlay_flags_are_validated_and_dev_has_no_overlay() {
    let key = network_key();
    let key = key.to_str().unwrap();
    let port = free_port().to_string();
    let listen = format!("127.0.0.2:{port}");
    // Each of these fails while parsing the configuration: nothing is bound or probed.
    for (args, expect) in [
        (vec!["--dev", "--listen", "127.0.0.2"], "cannot be used with"),
        (vec!["--dev", "--seed", "127.0.0.2:1"], "cannot be used with"),
        (
            vec![
                "--net",
                "x",
                "--rsa",
                key,
                "--listen",
                &listen,
                "--discover",
                "10.0.0.0/8",
            ],
            "65536",
        ),
        (
            vec!["--net", "x", "--rsa", key, "--listen", &listen, "--discover", "banana"],
            "CIDR",
        ),
        (
            vec!["--net", "x", "--rsa", key, "--listen", "not-an-ip", "--no-discover"],
            "--listen",
        ),
        (
            vec![
                "--net",
                "x",
                "--rsa",
                key,
                "--listen",
                &listen,
                "--seed",
                "nohostport",
                "--no-discover",
            ],
            "--seed",
        ),
        (
            vec![
                "--net",
                "x",
                "--rsa",
                key,
                "--listen",
                &listen,
                "--no-discover",
                "--discover",
                "127.0.0.0/24",
            ],
            "cannot be used with",
        ),
    ] {
        let out = iris(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: expected {expect:?} in {stderr}");
    }
}
