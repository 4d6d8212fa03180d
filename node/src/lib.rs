//! The Iris node (`iris`): the daemon local applications attach to.
//!
//! It runs the relay server (relay protocol v1 over TCP on loopback, see `spec/relay-v1.md`) and
//! the router that delivers requests, broadcasts, events and tunnels between attached clients by
//! cluster and topic name, and the overlay ([`overlay`], `spec/overlay.md`) that links the nodes of
//! one network with authenticated, encrypted links and routes every pattern across them.
//!
//! Embedding (tests, benchmarks):
//! ```no_run
//! # async fn demo() -> Result<(), iris_node::StartError> {
//! let node = iris_node::Node::start(iris_node::Config::dev(0)).await?;
//! println!("relay on port {}", node.relay_port());
//! node.shutdown().await;
//! # Ok(()) }
//! ```

pub mod cli;
pub mod config;
pub mod keys;
mod node;
pub mod overlay;
pub mod relay;
pub mod router;
pub mod shutdown;
mod util;

pub use config::{Config, Identity, OverlayConfig, RelayConfig};
pub use node::{Node, StartError};
pub use shutdown::Shutdown;
