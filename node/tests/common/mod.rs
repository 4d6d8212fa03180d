//! Shared helpers: start the real `iris` binary and speak raw relay v1 to it over loopback TCP.
#![allow(dead_code)]

pub mod member;
pub mod netns;
pub mod overlay;

use bytes::{Bytes, BytesMut};
use iris_client::codec::{
    decode_node_frame, ByteStr, ClientFrame, Limits, NodeFrame, CLIENT_MAGIC, PROTOCOL_VERSION, RELAY_MAGIC,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Generous bound for anything that should happen "now".
pub const PATIENCE: Duration = Duration::from_secs(5);
/// How long to watch for something that must not happen.
pub const QUIET: Duration = Duration::from_millis(300);

/// A running `iris` process, killed on drop.
pub struct NodeProc {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    /// The relay port parsed from the boot line.
    pub port: u16,
}

impl NodeProc {
    /// `iris --dev --port 0` plus `extra` flags.
    pub fn dev(extra: &[&str]) -> NodeProc {
        let mut args = vec!["--dev", "--port", "0"];
        args.extend_from_slice(extra);
        NodeProc::start(&args)
    }

    /// Starts `iris` with exactly `args` and waits for its boot line.
    ///
    /// Refuses (panics) to start a node with the overlay enabled unless its listen address is
    /// explicit loopback and discovery is confined to loopback or off: tests must never probe a
    /// real interface of the machine.
    pub fn start(args: &[&str]) -> NodeProc {
        NodeProc::start_logged(args, None)
    }

    /// [`NodeProc::start`], with the node's log (stderr) written to `log` if given.
    pub fn start_logged(args: &[&str], log_file: Option<&std::path::Path>) -> NodeProc {
        NodeProc::start_with_env(args, log_file, &[])
    }

    /// [`NodeProc::start_logged`] with extra environment variables for the node.
    pub fn start_with_env(args: &[&str], log_file: Option<&std::path::Path>, env: &[(&str, &str)]) -> NodeProc {
        assert_network_safe(args);
        let log = std::env::var("IRIS_TEST_LOG").unwrap_or_default();
        let mut command = Command::new(env!("CARGO_BIN_EXE_iris"));
        command.args(args).envs(env.iter().copied()).args(if log.is_empty() {
            vec![]
        } else {
            vec!["--log", log.as_str()]
        });
        NodeProc::spawn(command, log_file)
    }

    /// Runs `command` (an `iris` node, perhaps behind a wrapper that execs it, such as
    /// `ip netns exec`) and waits for its boot line. The caller vouches that the command is
    /// network safe. The log (stderr) goes to `log_file` if given and is quoted if the node
    /// fails to boot.
    pub fn spawn(mut command: Command, log_file: Option<&std::path::Path>) -> NodeProc {
        let stderr = match log_file {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
            None if std::env::var_os("IRIS_TEST_LOG").is_some() => Stdio::inherit(),
            None => Stdio::null(),
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read boot line");
        let port = line
            .trim()
            .strip_prefix("iris relay listening on port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                let log = log_file
                    .map(|p| std::fs::read_to_string(p).unwrap_or_default())
                    .unwrap_or_default();
                panic!("unexpected boot line {line:?} from {command:?}; log:\n{log}")
            });
        NodeProc {
            child,
            _stdout: stdout,
            port,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: the node dies without a word to anyone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "iris did not exit in {within:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A client attached as a member of `cluster` ("" = plain client).
    pub fn attach(&self, cluster: &str) -> Client {
        Client::attach(self.port, cluster)
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a read produced.
#[derive(Debug)]
pub enum Event {
    /// A frame from the node.
    Frame(NodeFrame),
    /// The node closed the connection.
    Eof,
    /// Nothing within the wait.
    Quiet,
}

/// A raw relay v1 connection.
pub struct Client {
    stream: TcpStream,
    buf: BytesMut,
}

impl Client {
    /// Connects to 127.0.0.1:`port` without a handshake.
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Connects and completes the handshake as a member of `cluster` ("" = plain client).
    pub fn attach(port: u16, cluster: &str) -> Client {
        let mut client = Client::connect(port);
        client.send(&init(CLIENT_MAGIC, PROTOCOL_VERSION, cluster));
        match client.recv() {
            NodeFrame::Init { magic, version } => {
                assert_eq!(magic, RELAY_MAGIC);
                assert_eq!(version, PROTOCOL_VERSION);
            }
            other => panic!("expected INIT, got {other:?}"),
        }
        client
    }

    /// A second handle on the socket, for writing from another thread.
    pub fn try_clone_stream(&self) -> TcpStream {
        self.stream.try_clone().expect("clone socket")
    }

    /// Sends one frame.
    pub fn send(&mut self, frame: &ClientFrame) {
        let mut out = BytesMut::new();
        frame.encode(&mut out);
        self.stream.write_all(&out).expect("write");
    }

    /// Sends raw bytes (for malformed input). Errors are ignored: the node may already be gone.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// The next event within `within`.
    pub fn next(&mut self, within: Duration) -> Event {
        let deadline = Instant::now() + within;
        loop {
            match decode_node_frame(&mut self.buf, &Limits::default()) {
                Ok(Some(frame)) => return Event::Frame(frame),
                Ok(None) => {}
                Err(e) => panic!("node sent invalid bytes: {e}"),
            }
            let now = Instant::now();
            if now >= deadline {
                return Event::Quiet;
            }
            self.stream.set_read_timeout(Some(deadline - now)).expect("timeout");
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Event::Eof,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return Event::Quiet
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Event::Eof,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// The next frame; panics if none comes within [`PATIENCE`].
    pub fn recv(&mut self) -> NodeFrame {
        match self.next(PATIENCE) {
            Event::Frame(frame) => frame,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Asserts that nothing arrives for [`QUIET`].
    pub fn expect_quiet(&mut self) {
        match self.next(QUIET) {
            Event::Quiet => {}
            other => panic!("expected nothing, got {other:?}"),
        }
    }

    /// Asserts that the node closes the connection without sending anything first.
    pub fn expect_eof(&mut self) {
        match self.next(PATIENCE) {
            Event::Eof => {}
            other => panic!("expected the node to close, got {other:?}"),
        }
    }

    /// Expects CLOSE and then the end of the stream; returns the reason.
    pub fn expect_close(&mut self) -> String {
        let reason = match self.recv() {
            NodeFrame::Close { reason } => reason.to_string(),
            other => panic!("expected CLOSE, got {other:?}"),
        };
        self.expect_eof();
        reason
    }

    /// Expects a REPLY and returns (id, outcome).
    pub fn expect_reply(&mut self) -> (u64, iris_client::codec::ReplyOutcome) {
        match self.recv() {
            NodeFrame::Reply { id, outcome } => (id, outcome),
            other => panic!("expected REPLY, got {other:?}"),
        }
    }

    /// Expects a REQUEST and returns (node id, payload, timeout_ms).
    pub fn expect_request(&mut self) -> (u64, Bytes, u64) {
        match self.recv() {
            NodeFrame::Request {
                id,
                request,
                timeout_ms,
            } => (id, request, timeout_ms),
            other => panic!("expected REQUEST, got {other:?}"),
        }
    }

    /// Subscribes to `topic` and waits until the subscription is live (by publishing to itself).
    pub fn subscribe_synced(&mut self, topic: &str) {
        self.send(&ClientFrame::Subscribe { topic: topic.into() });
        self.sync();
    }

    /// Waits until every frame sent so far has been handled by the node: publishes a marker on a
    /// private topic and waits for it to come back (frames of one connection are handled in order).
    pub fn sync(&mut self) {
        let topic: ByteStr = format!("sync-{:p}", self).into();
        self.send(&ClientFrame::Subscribe { topic: topic.clone() });
        self.send(&ClientFrame::Publish {
            topic: topic.clone(),
            event: Bytes::from_static(b"sync"),
        });
        match self.recv() {
            NodeFrame::Publish { topic: t, .. } if t == topic => {}
            other => panic!("unexpected frame while syncing: {other:?}"),
        }
        self.send(&ClientFrame::Unsubscribe { topic });
    }
}

/// An INIT frame.
pub fn init(magic: &str, version: &str, cluster: &str) -> ClientFrame {
    ClientFrame::Init {
        magic: magic.into(),
        version: version.into(),
        cluster: cluster.into(),
    }
}

/// A REQUEST frame.
pub fn request(id: u64, cluster: &str, payload: &'static [u8], timeout_ms: u64) -> ClientFrame {
    ClientFrame::Request {
        id,
        cluster: cluster.into(),
        request: Bytes::from_static(payload),
        timeout_ms,
    }
}

/// Panics unless an overlay-enabled command line keeps every packet on loopback.
pub fn assert_network_safe(args: &[&str]) {
    if args.contains(&"--dev") || !args.contains(&"--net") {
        return;
    }
    let values = |flag: &str| -> Vec<String> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].to_string())
            .collect()
    };
    let loopback = |host: &str| host.starts_with("127.") || host == "[::1]" || host == "::1" || host == "localhost";
    let listen = values("--listen");
    assert!(
        !listen.is_empty(),
        "refusing to start an overlay node without explicit --listen: {args:?}"
    );
    for l in &listen {
        let host = l.rsplit_once(':').map_or(l.as_str(), |(h, _)| h);
        assert!(loopback(host), "refusing non-loopback --listen {l}");
    }
    let discover = values("--discover");
    assert!(
        args.contains(&"--no-discover") || !discover.is_empty(),
        "refusing default discovery: {args:?}"
    );
    for d in &discover {
        assert!(
            d.starts_with("127.") || d.starts_with("::1/"),
            "refusing non-loopback --discover {d}"
        );
    }
    for s in values("--seed") {
        let host = s.rsplit_once(':').map_or(s.as_str(), |(h, _)| h);
        assert!(loopback(host), "refusing non-loopback --seed {s}");
    }
    assert!(values("--seed-dns").is_empty(), "refusing --seed-dns in tests");
}
