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
    /// An explicit peer, HOST:PORT (repeatable).
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
    /// No `--listen` was given and the host has no non-loopback IPv4 address.
    #[error("no --listen given and this host has no non-loopback IPv4 address; pass --listen IP[:PORT]")]
    NoListenAddress,
    /// A `--discover` range was refused.
    #[error("--discover: {0}")]
    Discover(#[from] CidrError),
    /// A `--seed` was not HOST:PORT.
    #[error("--seed {0:?}: expected HOST:PORT")]
    Seed(String),
    /// `--max-message` was too small to be useful.
    #[error("--max-message must be at least 1024 bytes, got {0}")]
    MaxMessage(usize),
    /// `IRIS_LOOPBACK_ONLY` is set and an overlay address or range reaches beyond loopback.
    #[error("IRIS_LOOPBACK_ONLY is set, but {0} is not confined to loopback (pass --listen 127.0.0.X:PORT and --discover 127.0.0.0/24, or --no-discover with loopback --seed addresses)")]
    NotLoopback(String),
}

/// Set (to anything) in test and CI environments: the node then refuses to start an overlay that
/// could send a packet beyond loopback, instead of trusting every test to pass the right flags.
pub const LOOPBACK_ONLY_VAR: &str = "IRIS_LOOPBACK_ONLY";

/// With [`LOOPBACK_ONLY_VAR`] set, checks that nothing in `overlay` reaches past loopback.
fn check_loopback_only(overlay: &OverlayConfig) -> Result<(), ConfigError> {
    if std::env::var_os(LOOPBACK_ONLY_VAR).is_none_or(|v| v.is_empty()) {
        return Ok(());
    }
    for addr in &overlay.listen {
        if !addr.ip().is_loopback() {
            return Err(ConfigError::NotLoopback(format!("listen address {addr}")));
        }
    }
    for range in &overlay.discover {
        if !(range.nth(0).is_loopback() && range.nth(range.len().saturating_sub(1)).is_loopback()) {
            return Err(ConfigError::NotLoopback(format!("discovery range {range}")));
        }
    }
    for seed in &overlay.seeds {
        let host = seed
            .rsplit_once(':')
            .map_or(seed.as_str(), |(h, _)| h)
            .trim_matches(|c| c == '[' || c == ']');
        if !host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
            return Err(ConfigError::NotLoopback(format!("seed {seed}")));
        }
    }
    if let Some(name) = overlay.seed_dns.first() {
        return Err(ConfigError::NotLoopback(format!("DNS seed {name}")));
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
                check_loopback_only(&overlay)?;
                Some(overlay)
            }
        };
        Ok(Config {
            identity,
            relay: RelayConfig {
                port: self.port,
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
            listen.push(parse_listen(value).ok_or_else(|| ConfigError::Listen(value.clone()))?);
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
            if seed.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).is_none() {
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
