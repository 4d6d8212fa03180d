//! Command line: network keys, argument errors, the boot line.

mod common;

use common::NodeProc;
use std::process::{Command, Stdio};
use std::time::Duration;

fn iris(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_iris"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run iris")
}

/// A port free on 127.0.0.1 and [::1], below Linux's ephemeral range (32768-60999), so the
/// connections other tests open meanwhile cannot take it as their local port between this test
/// freeing it and a node binding it. Each call starts its search at another port, so tests
/// running in parallel do not pick the same one.
fn quiet_port() -> u16 {
    static CALLS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let start = 20_000 + ((std::process::id() % 1_000) as u16 * 10 + call * 500) % 12_000;
    (start..32_000)
        .chain(20_000..start)
        .find(|&p| {
            std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
                && std::net::TcpListener::bind(("::1", p))
                    .map_or_else(|e| e.kind() == std::io::ErrorKind::AddrNotAvailable, |_| true)
        })
        .expect("a free port below the ephemeral range")
}

fn temp(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("iris-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn keygen_then_boot_on_a_named_network() {
    let key = temp("net.pem");
    let out = iris(&["keygen", "--out", key.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pem = std::fs::read_to_string(&key).expect("key written");
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    // Never overwritten.
    assert!(!iris(&["keygen", "--out", key.to_str().expect("utf8")]).status.success());
    // Overlay confined to loopback, no probing: tests never touch a real interface.
    let mut node = NodeProc::start(&[
        "--net",
        "acme",
        "--rsa",
        key.to_str().expect("utf8"),
        "--port",
        "0",
        "--listen",
        "127.0.0.1:0",
        "--no-discover",
    ]);
    let _client = node.attach("svc");
    node.sigterm();
    assert!(node.wait_exit(Duration::from_secs(10)).success());
    let _ = std::fs::remove_file(&key);
}

#[test]
fn a_network_needs_a_usable_key() {
    let missing = iris(&["--net", "acme", "--rsa", "/nonexistent/key.pem", "--port", "0"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read RSA key file"));
    let garbage = temp("garbage.pem");
    std::fs::write(&garbage, "not a key").expect("write");
    let out = iris(&["--net", "acme", "--rsa", garbage.to_str().expect("utf8"), "--port", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a PKCS#1 RSA private key"));
    let _ = std::fs::remove_file(&garbage);
}

#[test]
fn a_network_choice_is_required() {
    for args in [
        &[][..],
        &["--port", "0"][..],
        &["--net", "acme"][..],
        &["--dev", "--net", "acme"][..],
    ] {
        let out = iris(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "{args:?} printed a boot line");
    }
    let out = iris(&["--dev", "--handshake-timeout", "-1", "--port", "0"]);
    assert!(!out.status.success());
}

#[test]
fn help_describes_the_modes() {
    let out = iris(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "--dev",
        "--net",
        "--rsa",
        "--port",
        "--max-message",
        "--handshake-timeout",
        "keygen",
    ] {
        assert!(help.contains(word), "help lacks {word}");
    }
}

#[test]
fn two_nodes_cannot_share_a_port_but_each_reports_its_own() {
    let first = NodeProc::dev(&[]);
    let out = iris(&["--dev", "--port", &first.port.to_string()]);
    assert!(!out.status.success(), "a second node on a used port must fail");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"));
}

#[test]
fn loopback_only_mode_refuses_an_overlay_that_could_leave_loopback() {
    let key = temp("guard.pem");
    assert!(iris(&["keygen", "--out", key.to_str().expect("utf8")]).status.success());
    let key = key.to_str().expect("utf8").to_string();
    let guarded = |extra: &[&str]| {
        let mut args = vec!["--net", "guard", "--rsa", key.as_str(), "--port", "0"];
        args.extend_from_slice(extra);
        // Every refused case fails while validating flags, before any socket exists.
        Command::new(env!("CARGO_BIN_EXE_iris"))
            .args(&args)
            .env("IRIS_LOOPBACK_ONLY", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run iris")
    };
    for refused in [
        &[][..], // defaults: the host's real interfaces
        &["--listen", "127.0.0.2:0", "--discover", "10.0.0.0/24"][..],
        &[
            "--listen",
            "127.0.0.2:0",
            "--no-discover",
            "--seed",
            "198.51.100.1:55556",
        ][..],
        &[
            "--listen",
            "127.0.0.2:0",
            "--no-discover",
            "--seed",
            "example.org:55556",
        ][..],
        &[
            "--listen",
            "127.0.0.2:0",
            "--no-discover",
            "--seed-dns",
            "iris.example.org",
        ][..],
    ] {
        let out = guarded(refused);
        assert!(!out.status.success(), "{refused:?} must be refused");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("IRIS_LOOPBACK_ONLY"), "{refused:?}: {stderr}");
    }
    // A loopback-confined overlay still starts (and prints its boot line).
    let mut child = Command::new(env!("CARGO_BIN_EXE_iris"))
        .args([
            "--net",
            "guard",
            "--rsa",
            &key,
            "--port",
            "0",
            "--listen",
            "127.0.0.1:0",
            "--discover",
            "127.0.0.0/24",
        ])
        .env("IRIS_LOOPBACK_ONLY", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn iris");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("boot line");
    assert!(line.starts_with("iris relay listening on port "), "{line:?}");
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill")
        .success());
    assert!(child.wait().expect("wait").success());
    let _ = std::fs::remove_file(&key);
}

#[cfg(target_os = "linux")]
#[test]
fn a_squatted_unix_relay_name_is_an_error_not_a_silent_detour() {
    use std::os::linux::net::SocketAddrExt;
    // A free port, then a stranger holding the abstract name clients would try first.
    let port = quiet_port();
    let name = format!("iris-relay-{port}");
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract address");
    let squatter = std::os::unix::net::UnixListener::bind_addr(&addr).expect("squat");
    let out = iris(&["--dev", "--port", &port.to_string()]);
    assert!(
        !out.status.success(),
        "the node must not run while clients would reach the squatter"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("@{name}")),
        "the error names the socket: {stderr}"
    );
    assert!(
        stderr.contains("--no-unix-relay"),
        "the error says the way out: {stderr}"
    );
    // Opting out of the socket runs the node on TCP alone.
    let mut node = NodeProc::start(&["--dev", "--port", &port.to_string(), "--no-unix-relay"]);
    assert_eq!(node.port, port);
    node.sigterm();
    assert!(node.wait_exit(Duration::from_secs(10)).success());
    drop(squatter);
}

#[test]
fn a_squatted_loopback_relay_address_is_an_error_not_a_silent_detour() {
    // A stranger on 127.0.0.1:PORT: clients dialling the port there would reach it, not the node.
    let port = quiet_port();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let out = iris(&["--dev", "--port", &port.to_string()]);
    assert!(
        !out.status.success(),
        "the node must not run while clients would reach the squatter"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("another process holds it"),
        "the error names the address and why: {stderr}"
    );
    drop(squatter);
    // With the port free again, the node starts on it.
    let log = temp("squatted-loopback.log");
    let mut node = NodeProc::start_logged(&["--dev", "--port", &port.to_string()], Some(&log));
    assert_eq!(node.port, port);
    node.sigterm();
    assert!(node.wait_exit(Duration::from_secs(10)).success());
}
