//! Zero configuration, tested for real: three `iris` nodes, each in its own network namespace on
//! a private LAN (a bridge in a fourth namespace), started with nothing but
//! `--net NAME --rsa KEY.pem --port 0`. They listen on their namespace's non-loopback address,
//! probe its subnet, find each other, and every pattern crosses them with exact counts. Plus the
//! guard that lets a node use such defaults only inside a namespace created for the test
//! (`IRIS_LOOPBACK_ONLY=netns:NAME`).
//!
//! Needs root and `ip` (iproute2); fails (never skips) without them. Nothing leaves the
//! namespaces: the LAN 10.231.X.0/24 exists only inside them.

mod common;

use common::member::Member;
use common::netns::{require_root_and_ip, Forward, Lan, TestNs};
use common::overlay::{network_key, wait_until};
use common::NodeProc;
use iris_client::{Bytes, Connection, ServiceLimits, TopicLimits};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

/// The node's whole command line: the zero-configuration promise.
fn zero_config_args(net: &str) -> Vec<String> {
    let key = network_key();
    vec![
        "--net".into(),
        net.into(),
        "--rsa".into(),
        key.to_str().expect("utf8").into(),
        "--port".into(),
        "0".into(),
    ]
}

#[test]
fn three_nodes_with_zero_configuration_form_one_network() {
    let lan = Lan::new("zc", 1, 3);
    let net = format!("zc-{}", std::process::id());
    let args = zero_config_args(&net);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let nodes: Vec<NodeProc> = lan.hosts.iter().map(|ns| ns.start_iris(&args)).collect();
    // The defaults the node chose: its namespace's address on the default port, its /24.
    for (i, ns) in lan.hosts.iter().enumerate() {
        let log = ns.log();
        assert!(
            log.contains(&format!("{}:55556", lan.addr(i))) && log.contains("10.231.1.0/24"),
            "node {i} did not take the namespace's defaults:\n{log}"
        );
    }
    let forwards: Vec<Forward> = lan
        .hosts
        .iter()
        .zip(&nodes)
        .map(|(ns, n)| Forward::new(ns, n.port))
        .collect();
    let port = |i: usize| forwards[i].port;

    // One network: from every node, a member on every other node answers (three nodes are a
    // full mesh, so each of these uses a direct link).
    let members: Vec<Arc<Member>> = (0..3).map(|i| Member::new(&format!("m{i}"))).collect();
    let mut services = Vec::new();
    for (i, m) in members.iter().enumerate() {
        for cluster in [format!("at-{i}"), "echo".to_string()] {
            services
                .push(iris_client::register(port(i), &cluster, m.clone(), ServiceLimits::default()).expect("register"));
        }
    }
    let conns: Vec<Connection> = (0..3)
        .map(|i| iris_client::connect(port(i)).expect("connect"))
        .collect();
    for (from, conn) in conns.iter().enumerate() {
        for to in (0..3).filter(|&to| to != from) {
            let took = wait_until(
                Duration::from_secs(20),
                &format!("node {from} reaches node {to}"),
                || matches!(conn.request(&format!("at-{to}"), "probe", Duration::from_millis(500)), Ok(r) if r.starts_with(format!("m{to}:").as_bytes())),
            );
            eprintln!("node {from} reached node {to} after {took:?}");
        }
    }
    // Every member must be reachable through "echo" from node 0 before counting.
    for m in &members {
        wait_until(
            Duration::from_secs(10),
            &format!("echo served by {}", m.name),
            || matches!(conns[0].request("echo", "probe", Duration::from_millis(500)), Ok(r) if r.starts_with(m.name.as_bytes())),
        );
    }

    // Requests: each answered exactly once, by one member, every node taking a share.
    let base: Vec<usize> = members.iter().map(|m| m.requests.load(Ordering::SeqCst)).collect();
    for i in 0..60 {
        let reply = conns[0].request("echo", format!("r{i}"), T).expect("reply");
        assert!(reply.ends_with(format!(":r{i}").as_bytes()), "{reply:?}");
    }
    let got: Vec<usize> = members
        .iter()
        .zip(&base)
        .map(|(m, b)| m.requests.load(Ordering::SeqCst) - b)
        .collect();
    assert_eq!(got.iter().sum::<usize>(), 60, "{got:?}");
    assert!(got.iter().all(|&g| g > 0), "requests spread across nodes: {got:?}");

    // Broadcast from node 1: every member on every node, exactly once.
    for i in 0..20 {
        conns[1].broadcast("echo", format!("b{i}")).expect("broadcast");
    }
    wait_until(T, "broadcasts delivered", || {
        members.iter().all(|m| m.broadcasts.load(Ordering::SeqCst) >= 20)
    });
    std::thread::sleep(Duration::from_millis(300));
    for m in &members {
        assert_eq!(
            m.broadcasts.load(Ordering::SeqCst),
            20,
            "{} got each broadcast once",
            m.name
        );
    }

    // Publish from node 2: one subscriber per node, each event exactly once (probes apart).
    let counted: Vec<Arc<Mutex<(usize, usize)>>> = (0..3).map(|_| Arc::default()).collect();
    let subscribers: Vec<Connection> = (0..3)
        .map(|i| {
            let conn = iris_client::connect(port(i)).expect("connect");
            let counts = counted[i].clone();
            conn.subscribe(
                "news",
                move |event: Bytes| {
                    let mut c = counts.lock().unwrap();
                    if &event[..] == b"probe" {
                        c.0 += 1;
                    } else {
                        c.1 += 1;
                    }
                },
                TopicLimits::default(),
            )
            .expect("subscribe");
            conn
        })
        .collect();
    wait_until(Duration::from_secs(10), "subscriptions reach node 2", || {
        conns[2].publish("news", "probe").expect("publish");
        std::thread::sleep(Duration::from_millis(50));
        counted.iter().all(|c| c.lock().unwrap().0 > 0)
    });
    for i in 0..25 {
        conns[2].publish("news", format!("e{i}")).expect("publish");
    }
    wait_until(T, "events delivered", || {
        counted.iter().all(|c| c.lock().unwrap().1 >= 25)
    });
    std::thread::sleep(Duration::from_millis(300));
    for (i, c) in counted.iter().enumerate() {
        assert_eq!(c.lock().unwrap().1, 25, "subscriber on node {i} got each event once");
    }

    // A tunnel from node 0 to the member on node 2: ordered, intact, multi-chunk messages too.
    let tunnel = conns[0].tunnel("at-2", T).expect("tunnel across namespaces");
    for (i, size) in [1usize, 1000, 70_000, 300_000, 5].into_iter().enumerate() {
        let msg: Vec<u8> = (0..size).map(|b| (b + i) as u8).collect();
        tunnel.send(msg.clone(), Some(T)).expect("send");
        let back = tunnel.recv(Some(T)).expect("echo");
        assert!(back[..] == msg[..], "message {i} ({size} octets) intact and in order");
    }
    for i in 0..100u32 {
        tunnel.send(i.to_be_bytes().to_vec(), Some(T)).expect("send");
    }
    for i in 0..100u32 {
        assert_eq!(
            tunnel.recv(Some(T)).expect("recv")[..],
            i.to_be_bytes()[..],
            "pipelined order"
        );
    }
    tunnel.close().expect("close");

    drop(subscribers);
    drop(conns);
    drop(services);
    drop(nodes);
}

#[test]
fn ipv6_nodes_discover_each_other_on_a_namespace_lan() {
    // Defaults are IPv4 only; an IPv6 overlay names its addresses and range (unique local
    // addresses that exist only on this LAN).
    let lan = Lan::new("v6", 4, 3);
    let net = format!("v6ns-{}", std::process::id());
    let nodes: Vec<NodeProc> = lan
        .hosts
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            let mut args = zero_config_args(&net);
            args.extend([
                "--listen".into(),
                format!("[{}]:7000", lan.ula(i)),
                "--discover".into(),
                format!("{}/120", lan.ula(0)),
            ]);
            ns.start_iris(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .collect();
    let forwards: Vec<Forward> = lan
        .hosts
        .iter()
        .zip(&nodes)
        .map(|(ns, n)| Forward::new(ns, n.port))
        .collect();
    let members: Vec<Arc<Member>> = (0..3).map(|i| Member::new(&format!("m{i}"))).collect();
    let services: Vec<_> = members
        .iter()
        .zip(&forwards)
        .enumerate()
        .map(|(i, (m, f))| {
            iris_client::register(f.port, &format!("at-{i}"), m.clone(), ServiceLimits::default()).expect("register")
        })
        .collect();
    let conns: Vec<Connection> = forwards
        .iter()
        .map(|f| iris_client::connect(f.port).expect("connect"))
        .collect();
    for (from, conn) in conns.iter().enumerate() {
        for to in (0..3).filter(|&to| to != from) {
            wait_until(
                Duration::from_secs(20),
                &format!("node {from} reaches node {to} over IPv6"),
                || matches!(conn.request(&format!("at-{to}"), "probe", Duration::from_millis(500)), Ok(r) if r.starts_with(format!("m{to}:").as_bytes())),
            );
        }
    }
    let log = lan.hosts[2].log();
    assert!(
        log.contains(&format!("[{}]:7000", lan.ula(0))) || log.contains(&format!("[{}]:7000", lan.ula(1))),
        "node 2 linked over IPv6:\n{log}"
    );
    // Requests: each answered once by the member it names.
    for to in 0..3 {
        let before = members[to].requests.load(Ordering::SeqCst);
        for i in 0..10 {
            let reply = conns[(to + 1) % 3]
                .request(&format!("at-{to}"), format!("r{i}"), T)
                .expect("reply");
            assert_eq!(reply, format!("m{to}:r{i}").as_bytes());
        }
        assert_eq!(members[to].requests.load(Ordering::SeqCst) - before, 10);
    }
    drop(conns);
    drop(services);
    drop(nodes);
}

/// Runs `iris --net guard --rsa KEY --port 0 EXTRA` (optionally inside `ns`) with
/// `IRIS_LOOPBACK_ONLY=value`; returns (exit code, stderr). Every refused case must fail while
/// validating flags; if one did not, `--no-discover` and a listen address that exists on no
/// interface of the host keep it from sending anything.
fn guarded(ns: Option<&TestNs>, value: &str, extra: &[&str]) -> (Option<i32>, String) {
    let iris = std::path::Path::new(env!("CARGO_BIN_EXE_iris"));
    let mut command = match ns {
        Some(ns) => ns.command(iris),
        None => Command::new(iris),
    };
    let key = network_key();
    command
        .args(["--net", "guard", "--rsa", key.to_str().expect("utf8"), "--port", "0"])
        .args(extra)
        .env("IRIS_LOOPBACK_ONLY", value)
        .stdin(Stdio::null());
    let out = command.output().expect("run iris");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_guard_refuses_non_loopback_settings_without_proof_of_a_test_namespace() {
    require_root_and_ip();
    common::netns::clean_stale();
    let addr = Ipv4Addr::new(10, 231, 2, 1);
    let ns = TestNs::new("guard-no");
    ns.add_stub_link(addr);
    let host_alias = TestNs::attach_to_self("guard-host");
    let listen = format!("{addr}:{}", common::overlay::free_port());
    let far = ["--listen", listen.as_str(), "--no-discover"];
    let mine = format!("netns:{}", ns.name);
    let missing = format!("netns:{}-missing", ns.name);
    let alias = format!("netns:{}", host_alias.name);
    for (inside, value, expect) in [
        // Outside the namespace it names.
        (false, mine.as_str(), "does not run in the network namespace"),
        // A name that does not exist, inside and outside a test namespace.
        (true, missing.as_str(), "there is no network namespace"),
        (false, missing.as_str(), "there is no network namespace"),
        // A name bound to the host's own namespace.
        (false, alias.as_str(), "the host's"),
        // Inside the namespace, but not naming it: the plain loopback rule.
        (true, "1", "is not confined to loopback"),
    ] {
        let (code, stderr) = guarded(inside.then_some(&ns), value, &far);
        assert_eq!(
            code,
            Some(2),
            "inside={inside} {value}: must be refused at validation: {stderr}"
        );
        assert!(
            stderr.contains("IRIS_LOOPBACK_ONLY"),
            "inside={inside} {value}: {stderr}"
        );
        assert!(
            stderr.contains(expect),
            "inside={inside} {value}: expected {expect:?} in {stderr}"
        );
        eprintln!("inside={inside}: {}", stderr.lines().next().unwrap_or(""));
    }
    // Loopback settings need no proof, wherever the node runs.
    let mut command = ns.command(std::path::Path::new(env!("CARGO_BIN_EXE_iris")));
    let key = network_key();
    command
        .args(["--net", "guard", "--rsa", key.to_str().expect("utf8"), "--port", "0"])
        .args(["--listen", "127.0.0.1:0", "--no-discover"])
        .env("IRIS_LOOPBACK_ONLY", &missing);
    drop(NodeProc::spawn(command, None)); // panics unless the boot line comes
}

#[test]
fn the_guard_allows_true_defaults_inside_the_test_namespace() {
    require_root_and_ip();
    common::netns::clean_stale();
    let addr = Ipv4Addr::new(10, 231, 3, 1);
    let ns = TestNs::new("guard-yes");
    ns.add_stub_link(addr); // its subnet leads nowhere: probes go unanswered
    let args = zero_config_args("guard-yes");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut node = ns.start_iris(&args); // panics (with the log) unless the boot line comes
    let log = ns.log();
    assert!(
        log.contains(&format!("{addr}:55556")) && log.contains("10.231.3.0/24"),
        "defaults inside the namespace:\n{log}"
    );
    node.sigterm();
    assert!(node.wait_exit(T).success(), "clean exit:\n{}", ns.log());
}
