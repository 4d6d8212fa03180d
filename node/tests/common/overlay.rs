//! Multi-node helpers: a test network (name, key, overlay port) whose nodes listen on
//! 127.0.0.X and discover only 127.0.0.0/24.

use super::NodeProc;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A network key made once per test binary.
pub fn network_key() -> PathBuf {
    static KEY: OnceLock<PathBuf> = OnceLock::new();
    KEY.get_or_init(|| keygen("net")).clone()
}

/// A second, unrelated key (for "wrong key" tests).
pub fn other_key() -> PathBuf {
    static KEY: OnceLock<PathBuf> = OnceLock::new();
    KEY.get_or_init(|| keygen("other")).clone()
}

fn keygen(tag: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("iris-overlay-test-{}-{tag}.pem", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_iris"))
        .args(["keygen", "--out", path.to_str().expect("utf8")])
        .output()
        .expect("run keygen");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    path
}

/// A free TCP port (likely still free on 127.0.0.X a moment later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// One test network: its own name and overlay port, so concurrent tests never meet.
pub struct TestNet {
    /// Network name.
    pub name: String,
    /// Overlay port every node of this network listens on.
    pub port: u16,
    /// The key file.
    pub key: PathBuf,
}

impl TestNet {
    /// A fresh network named after `tag`.
    pub fn new(tag: &str) -> TestNet {
        TestNet {
            name: format!("{tag}-{}-{}", std::process::id(), free_port()),
            port: free_port(),
            key: network_key(),
        }
    }

    /// The command line of the node on 127.0.0.`host`: loopback listen, loopback discovery.
    pub fn args(&self, host: u8) -> Vec<String> {
        vec![
            "--net".into(),
            self.name.clone(),
            "--rsa".into(),
            self.key.to_str().expect("utf8").into(),
            "--port".into(),
            "0".into(),
            "--listen".into(),
            format!("127.0.0.{host}:{}", self.port),
            "--discover".into(),
            "127.0.0.0/24".into(),
        ]
    }

    /// Starts the node on 127.0.0.`host`. Set IRIS_TEST_LOG_DIR to keep each node's log.
    pub fn start(&self, host: u8) -> NodeProc {
        self.start_with_env(host, &[])
    }

    /// [`TestNet::start`] with extra environment variables (e.g. the overlay's test knobs).
    pub fn start_with_env(&self, host: u8, env: &[(&str, &str)]) -> NodeProc {
        let args = self.args(host);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let log =
            std::env::var_os("IRIS_TEST_LOG_DIR").map(|d| PathBuf::from(d).join(format!("{}-{host}.log", self.name)));
        NodeProc::start_with_env(&args, log.as_deref(), env)
    }
}

/// Polls `cond` every 20 ms until it holds; panics with `what` after `within`.
pub fn wait_until(within: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if cond() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
