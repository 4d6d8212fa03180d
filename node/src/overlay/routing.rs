//! Which node a message for a key goes to next.
//!
//! Phase 1 is a full mesh: every node links to every other (the whole network fits in the leaf
//! set), so every destination is one hop away and cluster/topic state is announced to everyone.
//! A Pastry-style implementation (prefix routing table + leaf set, O(log N) state and hops) and
//! Scribe trees per cluster/topic plug in behind [`Routing`] without changing the link,
//! wire or router layers: the router keeps holding `Destination::Remote(next hop)` entries.

use super::membership::NodeId;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// The next step for a message addressed to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// This node is responsible for the key.
    Local,
    /// Forward to this node.
    Node(NodeId),
}

/// A routing table over node ids.
pub trait Routing: Send + Sync {
    /// A node became reachable over a link.
    fn add(&mut self, node: NodeId);
    /// A node is no longer reachable.
    fn remove(&mut self, node: NodeId);
    /// Where a message for `key` goes next: the known node whose id is numerically closest to
    /// the key (this node included), as in Pastry.
    fn next_hop(&self, key: NodeId) -> Hop;
    /// Entries held (the per-node state the simulation reports).
    fn state_size(&self) -> usize;
}

/// The routing key of a cluster or topic name (the future root of its Scribe tree).
pub fn key_of(name: &[u8]) -> NodeId {
    let digest = Sha256::digest(name);
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    NodeId(u128::from_be_bytes(id))
}

/// Phase 1: every known node is a direct neighbour.
#[derive(Debug, Clone)]
pub struct FullMesh {
    me: NodeId,
    nodes: BTreeSet<NodeId>,
}

impl FullMesh {
    /// A table for node `me` that knows nobody yet.
    pub fn new(me: NodeId) -> FullMesh {
        FullMesh {
            me,
            nodes: BTreeSet::new(),
        }
    }
}

/// Distance on the 128-bit ring.
fn ring_distance(a: NodeId, b: NodeId) -> u128 {
    let d = a.0.wrapping_sub(b.0);
    d.min(d.wrapping_neg())
}

impl Routing for FullMesh {
    fn add(&mut self, node: NodeId) {
        if node != self.me {
            self.nodes.insert(node);
        }
    }
    fn remove(&mut self, node: NodeId) {
        self.nodes.remove(&node);
    }
    fn next_hop(&self, key: NodeId) -> Hop {
        let mut best = (ring_distance(self.me, key), Hop::Local);
        for &node in &self.nodes {
            let d = ring_distance(node, key);
            if d < best.0 || (d == best.0 && matches!(best.1, Hop::Node(n) if node < n)) {
                best = (d, Hop::Node(node));
            }
        }
        best.1
    }
    fn state_size(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_node_owns_a_key() {
        let mut mesh = FullMesh::new(NodeId(100));
        assert_eq!(mesh.next_hop(NodeId(5)), Hop::Local);
        mesh.add(NodeId(10));
        mesh.add(NodeId(100));
        assert_eq!(mesh.state_size(), 1);
        assert_eq!(mesh.next_hop(NodeId(5)), Hop::Node(NodeId(10)));
        assert_eq!(mesh.next_hop(NodeId(90)), Hop::Local);
        mesh.remove(NodeId(10));
        assert_eq!(mesh.next_hop(NodeId(5)), Hop::Local);
        assert_ne!(key_of(b"a"), key_of(b"b"));
    }
}
