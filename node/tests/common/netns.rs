//! Network namespaces for tests that run nodes with their true defaults: every namespace is
//! created here, named `iris-t-<pid>-<tag>`, holds only lo and veths on a private
//! 10.231.X.0/24 that exists nowhere else, and is deleted by a Drop guard. Traffic therefore never
//! reaches a real interface of the machine.
//!
//! Needs root and the `ip` tool (iproute2); without them the tests fail with a clear message.

use super::NodeProc;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

/// Every namespace these helpers create starts with this, then `<pid>-`.
pub const PREFIX: &str = "iris-t-";

/// The `ip` tool: /usr/sbin/ip, else the first `ip` on PATH. Panics if there is none.
pub fn ip_tool() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/ip");
    if sbin.is_file() {
        return sbin;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("ip"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "this test needs the `ip` tool (iproute2) at /usr/sbin/ip or on PATH to create network namespaces; \
                 install iproute2 (it is not skipped: the zero-configuration promise must be tested)"
            )
        })
}

/// Panics with a clear message unless the test runs as root with `ip` available.
pub fn require_root_and_ip() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test creates network namespaces and must run as root (euid is {euid}); \
         it is not skipped: the zero-configuration promise must be tested"
    );
    let ip = ip_tool();
    let probe = Command::new(&ip).args(["netns", "list"]).output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "`{} netns list` failed: {probe:?}",
        ip.display()
    );
    ip
}

/// Runs `ip ARGS`; panics with its stderr if it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new(ip_tool()).args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Runs `ip ARGS`, ignoring failure (cleanup).
fn ip_quiet(args: &[&str]) {
    let _ = Command::new(ip_tool()).args(args).output();
}

/// `(st_dev, st_ino)` of a namespace file.
fn ns_id(path: &str) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Kills (SIGKILL) every `iris` process inside the named namespace, unless that namespace is
/// this process's own or the host's (a name bound to an existing namespace, as
/// [`TestNs::attach_to_self`] makes, would otherwise list every process of it).
fn kill_processes_in(name: &str) {
    let Some(theirs) = ns_id(&format!("/run/netns/{name}")) else {
        return;
    };
    let kthreadd = std::fs::read_to_string("/proc/2/comm").is_ok_and(|c| c.trim_end() == "kthreadd");
    let mut known = vec![ns_id("/proc/self/ns/net"), ns_id("/proc/1/ns/net")];
    if kthreadd {
        known.push(ns_id("/proc/2/ns/net"));
    }
    if known.contains(&Some(theirs)) || known.iter().all(Option::is_none) {
        return;
    }
    let Ok(out) = Command::new(ip_tool()).args(["netns", "pids", name]).output() else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let Ok(pid) = pid.parse::<libc::pid_t>() else { continue };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim_end() != "iris" {
            continue;
        }
        // SAFETY: kill has no memory preconditions; the pid is an iris node inside a namespace
        // only these helpers create.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Deletes namespaces of [`PREFIX`] left by earlier runs that crashed (their pid is gone), and
/// kills the nodes still running inside them. Runs once per test process.
pub fn clean_stale() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let out = Command::new(ip_tool())
            .args(["netns", "list"])
            .output()
            .expect("ip netns list");
        let me = std::process::id();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // "NAME" or "NAME (id: N)".
            let name = line.split_whitespace().next().unwrap_or("");
            let Some(rest) = name.strip_prefix(PREFIX) else {
                continue;
            };
            let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if pid == me || Path::new(&format!("/proc/{pid}")).exists() {
                continue; // ours, or a run still going
            }
            eprintln!("removing stale test namespace {name}");
            kill_processes_in(name);
            ip_quiet(&["netns", "delete", name]);
        }
    });
}

/// A network namespace created for this test; deleted on drop (iris nodes inside killed first).
pub struct TestNs {
    /// Its name under /run/netns.
    pub name: String,
    /// Whether it is a name bound to an existing namespace (`ip netns attach`): then only the
    /// name is removed, nothing inside is killed.
    attached: bool,
}

impl TestNs {
    /// A fresh namespace `iris-t-<pid>-<tag>` with lo up.
    pub fn new(tag: &str) -> TestNs {
        let name = format!("{PREFIX}{}-{tag}", std::process::id());
        ip_quiet(&["netns", "delete", &name]); // a leftover of this very process (never)
        ip(&["netns", "add", &name]);
        let ns = TestNs { name, attached: false };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// A name for the namespace of this very process (the host's), to prove the guard refuses it.
    pub fn attach_to_self(tag: &str) -> TestNs {
        let name = format!("{PREFIX}{}-{tag}", std::process::id());
        ip_quiet(&["netns", "delete", &name]);
        ip(&["netns", "attach", &name, &std::process::id().to_string()]);
        TestNs { name, attached: true }
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// A veth pair `v0`/`v1`, both ends inside this namespace, with `addr/24` on `v0`: a
    /// non-loopback address whose subnet leads nowhere (nothing answers on `v1`).
    pub fn add_stub_link(&self, addr: Ipv4Addr) {
        self.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        self.ip(&["addr", "add", &format!("{addr}/24"), "dev", "v0"]);
        self.ip(&["link", "set", "v1", "up"]);
        self.ip(&["link", "set", "v0", "up"]);
    }

    /// A command running `program` inside this namespace (`ip netns exec`, which execs it: the
    /// child's pid is the program's). The child is killed if the spawning thread dies.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(ip_tool());
        command.args(["netns", "exec", &self.name]).arg(program);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        command
    }

    /// `iris ARGS` inside this namespace with `IRIS_LOOPBACK_ONLY=netns:NAME` (so the node
    /// itself checks it runs here), waiting for its boot line; its log goes to a temp file.
    pub fn start_iris(&self, args: &[&str]) -> NodeProc {
        let mut command = self.command(Path::new(env!("CARGO_BIN_EXE_iris")));
        command
            .args(args)
            .env("IRIS_LOOPBACK_ONLY", format!("netns:{}", self.name));
        NodeProc::spawn(command, Some(&self.log_path()))
    }

    /// Where [`TestNs::start_iris`] writes the node's log.
    pub fn log_path(&self) -> PathBuf {
        std::env::var_os("IRIS_TEST_LOG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("{}.log", self.name))
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        if !self.attached {
            kill_processes_in(&self.name);
            if std::env::var_os("IRIS_TEST_LOG_DIR").is_none() {
                let _ = std::fs::remove_file(self.log_path());
            }
        }
        ip_quiet(&["netns", "delete", &self.name]);
    }
}

/// `count` namespaces (`<tag>-0`, ...) whose `eth0` (10.231.`subnet`.(i+1)/24 and
/// fd31:231:`subnet`::(i+1)/64, plus its link-local address) is a veth into one bridge in a
/// further namespace (`<tag>-br`): a private LAN nothing else is on.
pub struct Lan {
    /// The node namespaces, in order. Dropped before the bridge.
    pub hosts: Vec<TestNs>,
    _bridge: TestNs,
    subnet: u8,
}

impl Lan {
    /// Builds the LAN (cleaning stale namespaces of earlier crashed runs first).
    pub fn new(tag: &str, subnet: u8, count: usize) -> Lan {
        require_root_and_ip();
        clean_stale();
        let bridge = TestNs::new(&format!("{tag}-br"));
        bridge.ip(&["link", "add", "br0", "type", "bridge"]);
        bridge.ip(&["link", "set", "br0", "up"]);
        let mut hosts = Vec::new();
        for i in 0..count {
            let host = TestNs::new(&format!("{tag}-{i}"));
            let port = format!("p{i}");
            // Both ends are created directly inside their namespaces: nothing ever appears in
            // the host's.
            ip(&[
                "link",
                "add",
                "eth0",
                "netns",
                &host.name,
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                &bridge.name,
            ]);
            bridge.ip(&["link", "set", &port, "master", "br0"]);
            bridge.ip(&["link", "set", &port, "up"]);
            let addr = Ipv4Addr::new(10, 231, subnet, i as u8 + 1);
            host.ip(&["addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
            // nodad: usable at once (no duplicate address detection on a LAN built here).
            let ula = Lan::ula_of(subnet, i);
            host.ip(&["addr", "add", &format!("{ula}/64"), "dev", "eth0", "nodad"]);
            host.ip(&["link", "set", "eth0", "up"]);
            hosts.push(host);
        }
        Lan {
            hosts,
            _bridge: bridge,
            subnet,
        }
    }

    /// The IPv4 address of host `i`.
    pub fn addr(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.subnet, i as u8 + 1)
    }

    /// The IPv6 unique local address of host `i`: fd31:231:`subnet`::`i+1`, in fd31:231:`subnet`::/64.
    pub fn ula(&self, i: usize) -> Ipv6Addr {
        Lan::ula_of(self.subnet, i)
    }

    fn ula_of(subnet: u8, i: usize) -> Ipv6Addr {
        Ipv6Addr::new(0xfd31, 0x231, u16::from(subnet), 0, 0, 0, 0, i as u16 + 1)
    }
}

/// Makes a port inside a namespace reachable from this process: a listener on 127.0.0.1 of the
/// test's own namespace whose every connection is relayed to 127.0.0.1:`port` inside `ns` (the
/// upstream socket is created by a thread that entered `ns` with setns; a socket keeps the
/// namespace it was created in). Stops accepting on drop.
pub struct Forward {
    /// The local port clients connect to.
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Forward {
    /// Starts relaying connections to 127.0.0.1:`port` inside `ns`.
    pub fn new(ns: &TestNs, port: u16) -> Forward {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind forwarder");
        listener.set_nonblocking(true).expect("nonblocking");
        let local = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let ns_path = PathBuf::from(format!("/run/netns/{}", ns.name));
        std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let ns_path = ns_path.clone();
                        std::thread::spawn(move || relay(client, &ns_path, port));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Forward { port: local, stop }
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Connects to 127.0.0.1:`port` from inside the namespace at `ns_path` (on this thread, which
/// stays in that namespace), then copies both ways until both directions ended.
fn relay(client: TcpStream, ns_path: &Path, port: u16) {
    let file = std::fs::File::open(ns_path).expect("open namespace");
    // SAFETY: setns on a valid fd; CLONE_NEWNET moves only this thread, which from now on only
    // creates the upstream socket and copies bytes.
    let entered = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(entered, 0, "setns: {}", std::io::Error::last_os_error());
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)) else {
        return; // the node is gone: the client sees its connection close
    };
    let _ = client.set_nonblocking(false);
    let _ = upstream.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let (c2, u2) = (client.try_clone().expect("clone"), upstream.try_clone().expect("clone"));
    let up = std::thread::spawn(move || pump(c2, u2));
    pump(upstream, client);
    let _ = up.join();
}

/// Copies `from` to `to` until EOF or an error, then half-closes `to` (both ways on error).
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}
