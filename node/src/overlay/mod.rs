//! The overlay: authenticated, encrypted links between the nodes of one network, discovery of
//! peers, membership (who hosts which clusters and topics) and routing across nodes.
//!
//! | module | responsibility |
//! |---|---|
//! | `link/` | Noise XX + RSA proof handshake, AES-GCM framing |
//! | `wire` | node-to-node messages and their bounded encoding |
//! | `membership` | node ids, the live links, state exchange, heartbeats, duplicate links |
//! | `discovery` | rate-limited range probing, seeds, DNS seeds |
//! | `routing` | the [`routing::Routing`] abstraction (phase 1: everyone is one hop away) |
//! | `pastry` | Pastry routing table + leaf set behind the same trait (not wired in yet) |
//! | `sim` (tests) | deterministic routing simulation, 200 nodes in CI, 10,000 on demand |
//! | `remote` | [`remote::RemotePeer`], the router's `Destination::Remote` |
//! | `cidr`, `netif` | address ranges, the host's interfaces (defaults) |

pub mod cidr;
pub mod discovery;
pub mod engine;
mod id;
pub mod link;
pub mod membership;
pub mod netif;
pub mod pastry;
pub mod remote;
pub mod scribe;
pub mod wire;

#[cfg(test)]
mod sim;

pub use cidr::{Cidr, CidrError};
pub use id::NodeId;
pub use membership::{Overlay, OverlayError};
