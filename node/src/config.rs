//! The node's validated configuration, independent of how it was given (CLI today, maybe a file
//! later). Tests and embedders build a [`Config`] directly.

use rsa::RsaPrivateKey;
use std::time::Duration;

/// The default relay port.
pub const DEFAULT_RELAY_PORT: u16 = 55555;
/// The default handshake deadline.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything a node needs to boot.
#[derive(Debug, Clone)]
pub struct Config {
    /// Which network this node belongs to.
    pub identity: Identity,
    /// The local relay server clients attach to.
    pub relay: RelayConfig,
    /// The overlay to other nodes; `None` runs a single isolated node (always the case in `--dev`).
    pub overlay: Option<OverlayConfig>,
}

impl Config {
    /// A one-node sandbox with a random network name, listening on `port` (0 = any free port).
    pub fn dev(port: u16) -> Config {
        Config {
            identity: Identity::dev(),
            relay: RelayConfig {
                port,
                ..RelayConfig::default()
            },
            overlay: None,
        }
    }
}

/// The network a node belongs to.
#[derive(Clone)]
pub enum Identity {
    /// A sandbox: random network name, no key, no peers.
    Dev {
        /// The generated network name.
        network: String,
    },
    /// A real network: nodes sharing `network` and `key` find and trust each other.
    Network {
        /// The network name.
        network: String,
        /// The network's shared private key (validated, >= 2048 bits). Boxed: it is large and
        /// read once.
        key: Box<RsaPrivateKey>,
    },
}

impl Identity {
    /// A dev identity with a fresh random network name.
    pub fn dev() -> Identity {
        Identity::Dev {
            network: format!("dev-{:016x}", random_u64()),
        }
    }

    /// The network name.
    pub fn network(&self) -> &str {
        match self {
            Identity::Dev { network } | Identity::Network { network, .. } => network,
        }
    }
}

// Never print key material, not even in debug logs.
impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Dev { network } => f.debug_struct("Dev").field("network", network).finish(),
            Identity::Network { network, .. } => f
                .debug_struct("Network")
                .field("network", network)
                .field("key", &"<redacted>")
                .finish(),
        }
    }
}

/// A random value from the OS source, for names that only need to be unlikely to collide.
fn random_u64() -> u64 {
    use rsa::rand_core::RngCore;
    rsa::rand_core::OsRng.next_u64()
}

/// Settings of the relay server (the loopback side clients attach to).
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// TCP port on 127.0.0.1 and `[::1]`; 0 picks a free one.
    pub port: u16,
    /// Also listen on the abstract Unix socket `@iris-relay-PORT` (Linux only; ignored elsewhere),
    /// which clients of the Rust core (and every binding) prefer over TCP.
    pub unix: bool,
    /// Cap on every message, request, reply, event and name a client may send (octets).
    pub max_message: usize,
    /// How long a new connection may take to complete the handshake.
    pub handshake_timeout: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            port: DEFAULT_RELAY_PORT,
            unix: true,
            max_message: iris_client::codec::DEFAULT_MAX_MESSAGE,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

/// The default TCP port of the overlay (node-to-node links) when `--listen` names no port.
pub const DEFAULT_OVERLAY_PORT: u16 = 55556;

/// Settings of the overlay (authenticated, encrypted links to the other nodes of the network).
///
/// Discovery probes TCP port(s) of other hosts: tests, demos and examples must confine it to
/// loopback (`discover = [127.0.0.0/24]`) or to a network namespace they created.
#[derive(Debug, Clone, Default)]
pub struct OverlayConfig {
    /// Addresses the overlay listens on (and dials from). Never empty once validated.
    pub listen: Vec<std::net::SocketAddr>,
    /// Address ranges discovery probes, on the ports of `listen`. Empty with `discover = false`.
    pub discover: Vec<crate::overlay::Cidr>,
    /// Whether range probing runs at all (seeds are dialled either way).
    pub probe: bool,
    /// Explicit peers, `HOST:PORT` (resolved at every attempt, so names may change address).
    pub seeds: Vec<String>,
    /// DNS names whose every A/AAAA record is a peer, on the default overlay port of `listen`.
    pub seed_dns: Vec<String>,
}
