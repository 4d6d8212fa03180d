//! The overlay: authenticated, encrypted links between the nodes of one network, discovery of
//! peers, membership (who hosts which clusters and topics) and routing across nodes.
//!
//! | module | responsibility |
//! |---|---|
//! | `link/` | Noise XX + RSA proof handshake, AES-GCM framing |
//! | `wire` | node-to-node messages and their bounded encoding |
//! | `membership` | the live links, hello, heartbeats, duplicate links, leave; drives the engine |
//! | `discovery` | rate-limited range probing, seeds, DNS seeds |
//! | `engine` | sans-I/O: Pastry maintenance, link needs, Scribe trees, views for the router |
//! | `pastry` | Pastry routing table + leaf set, monotone next hop |
//! | `scribe` | groups, tree aggregates, `GroupView`, flood duplicate window |
//! | `sim` (tests) | virtual-time simulation of many engines: 150 nodes in CI, 10,000 on demand |
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
