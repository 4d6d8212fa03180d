//! Helpers for the cross-component tests: start a real `iris` node on a free loopback port.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace's target directory (where `iris` and `iris-peer` are built).
pub fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join(if cfg!(debug_assertions) { "debug" } else { "release" });
    }
    // Test executables live in target/<profile>/deps.
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// Path of a binary built by this workspace, honouring an `IRIS_BIN`-style override variable.
pub fn binary(name: &str, override_var: &str) -> PathBuf {
    if let Ok(path) = std::env::var(override_var) {
        return PathBuf::from(path);
    }
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// A running `iris --dev` node on a free port; killed when dropped.
pub struct Node {
    child: Child,
    /// The relay port it listens on.
    pub port: u16,
}

impl Node {
    /// Starts `iris --dev --port 0 <extra>` and waits for its boot line.
    pub fn start(extra: &[&str]) -> Node {
        let mut child = Command::new(binary("iris", "IRIS_BIN"))
            .args(["--dev", "--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start iris");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("iris relay listening on port ") {
                    let _ = tx.send(port.trim().parse::<u16>().expect("port number"));
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("iris did not report its port within 20 s");
        Node { child, port }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "iris did not exit within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
