//! Node identifiers.

use std::fmt;

/// A node's 128-bit identifier, random per run: its place on the Pastry ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u128);

impl NodeId {
    /// A fresh random id.
    pub fn random() -> NodeId {
        use rsa::rand_core::RngCore;
        let mut b = [0u8; 16];
        rsa::rand_core::OsRng.fill_bytes(&mut b);
        NodeId(u128::from_be_bytes(b))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first 8 hex digits identify a node in logs well enough.
        write!(f, "{:08x}", (self.0 >> 96) as u32)
    }
}
