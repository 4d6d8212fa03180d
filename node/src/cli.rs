//! Command line parsing: turns arguments into a [`Config`] or a key generation job.

use crate::config::{Config, Identity, OverlayConfig, RelayConfig, DEFAULT_OVERLAY_PORT, DEFAULT_RELAY_PORT};
use crate::keys::{self, KeyError};
use crate::overlay::{netif, Cidr, CidrError};
use clap::{Args, Parser, Subcommand};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The Iris node: lets local applications talk to each other and to other nodes of the network
/// by cluster and topic name.
///
/// Applications attach over TCP on the loopback interface (relay protocol v1).
#[derive(Debug, Parser)]
#[command(name = "iris", version, args_conflicts_with_subcommands = true)]
#[command(
    after_help = "Examples:\n  iris --dev                          one-node sandbox, random network name\n  iris --net acme --rsa acme.pem      join the network \"acme\"\n  iris keygen --out acme.pem          create a network key"
)]
pub struct Cli {
    /// Node settings (ignored with a subcommand).
    #[command(flatten)]
    pub run: RunArgs,
    /// An optional maintenance command instead of running the node.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags for running the node.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run a one-node developer sandbox: random network name, no key, no peers, no overlay.
    #[arg(long, conflicts_with_all = ["net", "rsa", "listen", "discover", "seed", "seed_dns", "no_discover"])]
    pub dev: bool,
    /// Name of the network to join (requires --rsa).
    #[arg(long, value_name = "NAME", requires = "rsa")]
    pub net: Option<String>,
    /// The network's PKCS#1 RSA private key, PEM or DER, at least 2048 bits (requires --net).
    #[arg(long, value_name = "KEY.pem", requires = "net")]
    pub rsa: Option<PathBuf>,
    /// TCP port of the relay on 127.0.0.1 and [::1]; 0 picks a free port.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RELAY_PORT)]
    pub port: u16,
    /// Serve the relay on TCP only: no abstract Unix socket @iris-relay-PORT (Linux), which the
    /// Rust client core and every binding otherwise use, being faster than loopback TCP.
    #[arg(long)]
    pub no_unix_relay: bool,
    /// Largest message, request, reply or event a client may send, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = iris_client::codec::DEFAULT_MAX_MESSAGE)]
    pub max_message: usize,
    /// Seconds a new client connection has to complete the handshake (fractions allowed).
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub handshake_timeout: f64,
    /// Overlay address to listen on, IP or IP:PORT (repeatable; default port 55556). DEFAULT: every
    /// non-loopback IPv4 address of this host.
    #[arg(long, value_name = "IP[:PORT]")]
    pub listen: Vec<String>,
    /// Address range discovery probes for peers, e.g. 127.0.0.0/24 (repeatable). DEFAULT: the
    /// subnet of each listen address (at most a /20 around it). Discovery sends TCP connection
    /// attempts to every address of these ranges; confine it (tests: 127.0.0.0/24).
    #[arg(long, value_name = "CIDR")]
    pub discover: Vec<String>,
    /// An explicit peer, HOST:PORT, IPv6 as [ADDR]:PORT (repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    pub seed: Vec<String>,
    /// A DNS name whose every A/AAAA record is a peer (e.g. a Kubernetes headless service).
    #[arg(long, value_name = "NAME")]
    pub seed_dns: Vec<String>,
    /// Do not probe address ranges; only seeds and DNS seeds are dialled.
    #[arg(long, conflicts_with = "discover")]
    pub no_discover: bool,
    /// Log filter, e.g. info, debug, iris_node=trace (default: $RUST_LOG, else info).
    #[arg(long, value_name = "LEVEL")]
    pub log: Option<String>,
}

/// Maintenance commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new network key (PKCS#1 PEM, readable by the owner only).
    Keygen {
        /// Where to write the key; an existing file is never overwritten.
        #[arg(long, value_name = "KEY.pem")]
        out: PathBuf,
        /// Modulus size in bits.
        #[arg(long, default_value_t = 2048)]
        bits: usize,
    },
}

/// Why the arguments do not describe a runnable node.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither `--dev` nor `--net`/`--rsa` was given.
    #[error("choose a network: either --dev for a sandbox, or --net NAME --rsa KEY.pem to join a network")]
    NoNetwork,
    /// `--net` was empty.
    #[error("--net must not be empty")]
    EmptyNetwork,
    /// The key could not be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// `--handshake-timeout` was not a positive number of seconds.
    #[error("--handshake-timeout must be a positive number of seconds, got {0}")]
    HandshakeTimeout(f64),
    /// A `--listen` value was not IP or IP:PORT.
    #[error("--listen {0:?}: expected IP or IP:PORT, e.g. 127.0.0.2:55556")]
    Listen(String),
    /// A `--listen` value was a link-local IPv6 address.
    #[error("--listen {0:?}: a link-local IPv6 address (fe80::/10) only means something with this host's interface zone, which other nodes cannot use to reach it; listen on a global or unique-local IPv6 address, or on IPv4")]
    LinkLocalListen(String),
    /// No `--listen` was given and the host has no non-loopback IPv4 address.
    #[error("no --listen given and this host has no non-loopback IPv4 address; pass --listen IP[:PORT]")]
    NoListenAddress,
    /// A `--discover` range was refused.
    #[error("--discover: {0}")]
    Discover(#[from] CidrError),
    /// A `--seed` was not HOST:PORT.
    #[error("--seed {0:?}: expected HOST:PORT, with IPv6 addresses in brackets ([ADDR]:PORT)")]
    Seed(String),
    /// `--max-message` was too small to be useful.
    #[error("--max-message must be at least 1024 bytes, got {0}")]
    MaxMessage(usize),
    /// `IRIS_LOOPBACK_ONLY` is set and an overlay address or range reaches beyond loopback.
    #[error("IRIS_LOOPBACK_ONLY is set, but {0} is not confined to loopback (pass --listen 127.0.0.X:PORT and --discover 127.0.0.0/24, or --no-discover with loopback --seed addresses)")]
    NotLoopback(String),
    /// `IRIS_LOOPBACK_ONLY=netns:NAME` is set, an overlay setting reaches beyond loopback, and
    /// this process could not prove it runs inside the test namespace NAME.
    #[error("IRIS_LOOPBACK_ONLY={value} allows {what} only inside that network namespace, but {why}")]
    NotInTestNamespace {
        /// The variable's value.
        value: String,
        /// The first setting that reaches beyond loopback.
        what: String,
        /// Why the namespace was not proven.
        why: String,
    },
}

/// Set in test and CI environments: the node then refuses to start an overlay that could send a
/// packet beyond loopback, instead of trusting every test to pass the right flags.
///
/// - unset or empty: no restriction;
/// - `netns:NAME` ([`NETNS_PREFIX`]): non-loopback overlay settings (the defaults included) are
///   allowed only if this process runs in the network namespace `/run/netns/NAME` (same
///   `st_dev` and `st_ino`) and that is not the host's namespace (the one of PID 1); see
///   [`prove_test_namespace`]. Otherwise as below;
/// - anything else (`1`): every listen address, discovery range and seed must be loopback, and
///   DNS seeds are refused.
pub const LOOPBACK_ONLY_VAR: &str = "IRIS_LOOPBACK_ONLY";

/// The prefix of a [`LOOPBACK_ONLY_VAR`] value naming a test namespace.
pub const NETNS_PREFIX: &str = "netns:";

/// Where `ip netns` keeps named network namespaces.
const NETNS_DIR: &str = "/run/netns";

/// Applies [`LOOPBACK_ONLY_VAR`] (its value given as `value`) to `overlay`.
fn check_confinement(overlay: &OverlayConfig, value: Option<&std::ffi::OsStr>) -> Result<(), ConfigError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    let Err(what) = first_beyond_loopback(overlay) else {
        return Ok(());
    };
    match value.to_str().and_then(|v| v.strip_prefix(NETNS_PREFIX)) {
        Some(name) => match prove_test_namespace(name) {
            Ok(()) => Ok(()),
            Err(why) => Err(ConfigError::NotInTestNamespace {
                value: value.to_string_lossy().into_owned(),
                what,
                why,
            }),
        },
        None => Err(ConfigError::NotLoopback(what)),
    }
}

/// `Err(the first setting)` if anything in `overlay` reaches past loopback.
fn first_beyond_loopback(overlay: &OverlayConfig) -> Result<(), String> {
    for addr in &overlay.listen {
        if !addr.ip().is_loopback() {
            return Err(format!("listen address {addr}"));
        }
    }
    for range in &overlay.discover {
        // Both loopback sets (127.0.0.0/8, ::1) are contiguous: the ends decide.
        if !(range.nth(0).is_loopback() && range.nth(range.len().saturating_sub(1)).is_loopback()) {
            return Err(format!("discovery range {range}"));
        }
    }
    for seed in &overlay.seeds {
        let loopback =
            split_seed(seed).is_some_and(|(host, _)| host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()));
        if !loopback {
            return Err(format!("seed {seed}"));
        }
    }
    if let Some(name) = overlay.seed_dns.first() {
        return Err(format!("DNS seed {name}"));
    }
    Ok(())
}

/// `HOST:PORT` or `[IPV6]:PORT` as (host without brackets, port). A bare address, a missing port
/// or an IPv6 address without brackets (`::1:7000`: is 7000 the port or part of the address?)
/// gives `None`.
fn split_seed(seed: &str) -> Option<(&str, u16)> {
    let (host, port) = seed.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    let host = match host.strip_prefix('[') {
        Some(rest) => {
            let inner = rest.strip_suffix(']')?;
            // A scoped address ([fe80::1%2]:PORT) is valid too, though never loopback.
            if inner.parse::<std::net::Ipv6Addr>().is_err() && seed.parse::<SocketAddr>().is_err() {
                return None;
            }
            inner
        }
        None if host.is_empty() || host.contains([':', '[', ']']) => return None,
        None => host,
    };
    Some((host, port))
}

/// A `(st_dev, st_ino)` pair naming a namespace.
type NsId = (u64, u64);

fn ns_id(path: &str) -> std::io::Result<NsId> {
    use std::os::unix::fs::MetadataExt;
    // metadata() follows the /proc magic link to the namespace's nsfs inode.
    std::fs::metadata(path).map(|m| (m.dev(), m.ino()))
}

/// Proves that this process runs inside the network namespace `ip netns` created as `name`
/// (`/run/netns/NAME`, compared by `st_dev` + `st_ino` with `/proc/self/ns/net`) and that this is
/// not the host's namespace: not the one of PID 1 (`/proc/1/ns/net`). Some sandboxes protect PID
/// 1 from inspection even from root; then the kernel thread kthreadd (PID 2, always in the
/// initial namespace) stands in. Both are compared when readable; if neither is, nothing is
/// proven. `Err` says why not.
pub fn prove_test_namespace(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(format!("{name:?} is not a network namespace name"));
    }
    let named_path = format!("{NETNS_DIR}/{name}");
    let named = ns_id(&named_path).map_err(|e| format!("there is no network namespace {named_path} ({e})"))?;
    let own = ns_id("/proc/self/ns/net").map_err(|e| format!("cannot read /proc/self/ns/net ({e})"))?;
    if own != named {
        return Err(format!(
            "this process does not run in the network namespace {named_path}"
        ));
    }
    let mut references = Vec::new();
    let mut unreadable = Vec::new();
    match ns_id("/proc/1/ns/net") {
        Ok(id) => references.push(("PID 1", id)),
        Err(e) => unreadable.push(format!("/proc/1/ns/net: {e}")),
    }
    let kthreadd = std::fs::read_to_string("/proc/2/comm").is_ok_and(|comm| comm.trim_end() == "kthreadd");
    if kthreadd {
        match ns_id("/proc/2/ns/net") {
            Ok(id) => references.push(("kthreadd (PID 2)", id)),
            Err(e) => unreadable.push(format!("/proc/2/ns/net: {e}")),
        }
    }
    if references.is_empty() {
        return Err(format!(
            "the host's network namespace cannot be read ({}), so {named_path} cannot be told apart from it",
            unreadable.join("; ")
        ));
    }
    if let Some((who, _)) = references.iter().find(|(_, id)| *id == own) {
        return Err(format!(
            "{named_path} is the network namespace of {who}, the host's, not one created for a test"
        ));
    }
    Ok(())
}

impl RunArgs {
    /// Validates the flags and loads the key; does no networking.
    pub fn to_config(&self) -> Result<Config, ConfigError> {
        let identity = match (self.dev, &self.net, &self.rsa) {
            (true, _, _) => Identity::dev(),
            (false, Some(net), Some(rsa)) => {
                if net.trim().is_empty() {
                    return Err(ConfigError::EmptyNetwork);
                }
                Identity::Network {
                    network: net.clone(),
                    key: Box::new(keys::load_private_key(rsa)?),
                }
            }
            _ => return Err(ConfigError::NoNetwork),
        };
        let handshake_timeout = Duration::try_from_secs_f64(self.handshake_timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or(ConfigError::HandshakeTimeout(self.handshake_timeout))?;
        if self.max_message < 1024 {
            return Err(ConfigError::MaxMessage(self.max_message));
        }
        // A real network gets an overlay; a sandbox never does (no listening, no discovery).
        let overlay = match identity {
            Identity::Dev { .. } => None,
            Identity::Network { .. } => {
                let overlay = self.overlay_config()?;
                check_confinement(&overlay, std::env::var_os(LOOPBACK_ONLY_VAR).as_deref())?;
                Some(overlay)
            }
        };
        Ok(Config {
            identity,
            relay: RelayConfig {
                port: self.port,
                unix: !self.no_unix_relay,
                max_message: self.max_message,
                handshake_timeout,
            },
            overlay,
        })
    }
}

impl RunArgs {
    /// The overlay settings, defaults filled in from the host's interfaces.
    fn overlay_config(&self) -> Result<OverlayConfig, ConfigError> {
        let interfaces = netif::ipv4_addrs();
        let mut listen = Vec::new();
        for value in &self.listen {
            let addr = parse_listen(value).ok_or_else(|| ConfigError::Listen(value.clone()))?;
            if matches!(addr.ip(), IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80) {
                return Err(ConfigError::LinkLocalListen(value.clone()));
            }
            listen.push(addr);
        }
        if listen.is_empty() {
            listen = interfaces
                .iter()
                .filter(|i| !i.addr.is_loopback())
                .map(|i| SocketAddr::new(IpAddr::V4(i.addr), DEFAULT_OVERLAY_PORT))
                .collect();
            if listen.is_empty() {
                return Err(ConfigError::NoListenAddress);
            }
        }
        let mut discover = Vec::new();
        if !self.no_discover {
            for value in &self.discover {
                discover.push(value.parse::<Cidr>()?);
            }
            if discover.is_empty() {
                discover = listen
                    .iter()
                    .filter_map(|a| netif::default_range(a.ip(), &interfaces))
                    .collect();
                discover.dedup();
            }
        }
        for seed in &self.seed {
            if split_seed(seed).is_none() {
                return Err(ConfigError::Seed(seed.clone()));
            }
        }
        Ok(OverlayConfig {
            listen,
            discover,
            probe: !self.no_discover,
            seeds: self.seed.clone(),
            seed_dns: self.seed_dns.clone(),
        })
    }
}

/// `IP`, `IP:PORT`, `[V6]:PORT` or a bare IPv6 address.
fn parse_listen(value: &str) -> Option<SocketAddr> {
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Some(addr);
    }
    value
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, DEFAULT_OVERLAY_PORT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    fn overlay(listen: &[&str], discover: &[&str], seeds: &[&str]) -> OverlayConfig {
        OverlayConfig {
            listen: listen.iter().map(|a| a.parse().unwrap()).collect(),
            discover: discover.iter().map(|c| c.parse().unwrap()).collect(),
            probe: !discover.is_empty(),
            seeds: seeds.iter().map(|s| s.to_string()).collect(),
            seed_dns: Vec::new(),
        }
    }

    #[test]
    fn seeds_need_a_port_and_brackets_around_ipv6() {
        assert_eq!(split_seed("127.0.0.2:7000"), Some(("127.0.0.2", 7000)));
        assert_eq!(split_seed("[::1]:7000"), Some(("::1", 7000)));
        assert_eq!(split_seed("node.example:7000"), Some(("node.example", 7000)));
        assert_eq!(split_seed("[fe80::1%2]:7000"), Some(("fe80::1%2", 7000)));
        for bad in [
            "::1",
            "::1:7000",
            "fd00::5",
            "[::1]",
            "[::1:7000",
            "[nonsense]:7000",
            "127.0.0.2",
            ":7000",
            "host:port",
            "host:70000",
        ] {
            assert_eq!(split_seed(bad), None, "{bad}");
        }
    }

    #[test]
    fn link_local_listen_addresses_are_refused_with_a_reason() {
        use clap::Parser;
        for (value, refused) in [
            ("[fe80::1%2]:7000", true),
            ("fe80::1", true),
            ("[febf::1]:7000", true),
            ("[fec0::1]:7000", false),
            ("[fd00::1]:7000", false),
            ("[::1]:7000", false),
        ] {
            let cli = Cli::try_parse_from(["iris", "--no-discover", "--listen", value]).expect("parses");
            let result = cli.run.overlay_config();
            match result {
                Err(ConfigError::LinkLocalListen(v)) => {
                    assert!(refused, "{value} refused");
                    assert_eq!(v, value);
                }
                Ok(config) => assert!(!refused && config.listen.len() == 1, "{value} accepted"),
                Err(e) => panic!("{value}: {e}"),
            }
        }
    }

    #[test]
    fn loopback_only_covers_ipv6() {
        let one = Some(OsStr::new("1"));
        let ok = overlay(
            &["[::1]:7000", "127.0.0.2:7000"],
            &["::1/128", "127.0.0.0/24"],
            &["[::1]:7001"],
        );
        assert!(check_confinement(&ok, one).is_ok());
        for bad in [
            overlay(&["[fd00::1]:7000"], &[], &[]),
            overlay(&["[::]:7000"], &[], &[]),
            overlay(&["[::ffff:10.0.0.1]:7000"], &[], &[]),
            overlay(&["[::1]:7000"], &["::/127"], &[]),
            overlay(&["[::1]:7000"], &["fd00::/120"], &[]),
            overlay(&["[::1]:7000"], &[], &["[fd00::1]:7001"]),
            overlay(&["[::1]:7000"], &[], &["localhost:7001"]),
        ] {
            let err = check_confinement(&bad, one).expect_err("must be refused");
            assert!(matches!(err, ConfigError::NotLoopback(_)), "{err}");
        }
        // Unset or empty: no restriction.
        let far = overlay(&["10.0.0.1:7000"], &["10.0.0.0/24"], &[]);
        assert!(check_confinement(&far, None).is_ok());
        assert!(check_confinement(&far, Some(OsStr::new(""))).is_ok());
    }

    #[test]
    fn a_test_namespace_must_be_proven() {
        let far = overlay(&["10.0.0.1:7000"], &["10.0.0.0/24"], &[]);
        for value in ["netns:", "netns:..", "netns:a/b", "netns:iris-no-such-namespace-ever"] {
            let err = check_confinement(&far, Some(OsStr::new(value))).expect_err(value);
            assert!(matches!(err, ConfigError::NotInTestNamespace { .. }), "{value}: {err}");
            assert!(err.to_string().contains(value), "{err}");
        }
        // A value naming no namespace at all is the plain loopback rule.
        let err = check_confinement(&far, Some(OsStr::new("netns"))).expect_err("netns");
        assert!(matches!(err, ConfigError::NotLoopback(_)), "{err}");
        // Loopback settings need no proof.
        let near = overlay(&["127.0.0.2:7000"], &["127.0.0.0/24"], &[]);
        assert!(check_confinement(&near, Some(OsStr::new("netns:iris-no-such-namespace-ever"))).is_ok());
        // The unit tests run in the host's namespace: no name can prove otherwise.
        assert!(prove_test_namespace("iris-no-such-namespace-ever")
            .unwrap_err()
            .contains("no network namespace"));
    }
}
