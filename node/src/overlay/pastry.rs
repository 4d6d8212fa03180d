//! A Pastry routing table (base 16 digits of 128-bit ids) and leaf set: the [`Routing`]
//! implementation for networks larger than one leaf set. Sans-I/O: it only decides next hops;
//! links, join messages and repair belong to the membership layer.
//!
//! Not wired into the running node yet (phase 1 uses [`super::routing::FullMesh`]); the
//! simulation in `overlay/sim.rs` exercises it at 100-10,000 nodes.

use super::membership::NodeId;
use super::routing::{Hop, Routing};

/// Bits per digit.
const B: u32 = 4;
/// Digits per id.
pub const DIGITS: usize = 128 / B as usize;
/// Columns per routing table row.
const COLUMNS: usize = 1 << B;
/// Leaf set size (half on each side).
pub const LEAF_SET: usize = 16;

/// The digit of `id` at position `i` (0 = most significant).
pub fn digit(id: NodeId, i: usize) -> usize {
    ((id.0 >> (128 - B as usize * (i + 1))) & (COLUMNS as u128 - 1)) as usize
}

/// Length of the common prefix of `a` and `b`, in digits.
pub fn shared_prefix(a: NodeId, b: NodeId) -> usize {
    ((a.0 ^ b.0).leading_zeros() / B) as usize
}

/// Distance on the ring of ids.
pub fn ring_distance(a: NodeId, b: NodeId) -> u128 {
    let d = a.0.wrapping_sub(b.0);
    d.min(d.wrapping_neg())
}

/// One node's Pastry state.
#[derive(Debug, Clone)]
pub struct Pastry {
    me: NodeId,
    table: Vec<[Option<NodeId>; COLUMNS]>,
    /// Closest nodes clockwise (larger ids), nearest first.
    larger: Vec<NodeId>,
    /// Closest nodes counter-clockwise (smaller ids), nearest first.
    smaller: Vec<NodeId>,
}

impl Pastry {
    /// Empty state for node `me`.
    pub fn new(me: NodeId) -> Pastry {
        Pastry {
            me,
            table: vec![[None; COLUMNS]; DIGITS],
            larger: Vec::new(),
            smaller: Vec::new(),
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.me
    }

    /// Every node this state refers to (leaf set and routing table), without duplicates.
    pub fn known(&self) -> Vec<NodeId> {
        let mut all: Vec<NodeId> = self.larger.iter().chain(&self.smaller).copied().collect();
        all.extend(self.table.iter().flatten().flatten().copied());
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The leaf set (both halves).
    pub fn leaf_set(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.larger.iter().chain(&self.smaller).copied()
    }

    fn insert_leaf(side: &mut Vec<NodeId>, node: NodeId, dist: impl Fn(NodeId) -> u128) {
        if side.contains(&node) {
            return;
        }
        let pos = side.partition_point(|&n| dist(n) < dist(node));
        if pos < LEAF_SET / 2 {
            side.insert(pos, node);
            side.truncate(LEAF_SET / 2);
        }
    }

    /// Whether `key` lies within the span of the leaf set (a side with room covers its whole
    /// half of the ring: this node knows every node there).
    fn leaf_covers(&self, key: NodeId) -> bool {
        let cw = key.0.wrapping_sub(self.me.0);
        let ccw = self.me.0.wrapping_sub(key.0);
        let covers_cw =
            self.larger.len() < LEAF_SET / 2 || self.larger.last().is_some_and(|f| cw <= f.0.wrapping_sub(self.me.0));
        let covers_ccw = self.smaller.len() < LEAF_SET / 2
            || self.smaller.last().is_some_and(|f| ccw <= self.me.0.wrapping_sub(f.0));
        (cw <= ccw && covers_cw) || (ccw <= cw && covers_ccw) || (covers_cw && covers_ccw)
    }
}

impl Routing for Pastry {
    fn add(&mut self, node: NodeId) {
        if node == self.me {
            return;
        }
        let me = self.me;
        Self::insert_leaf(&mut self.larger, node, |n| n.0.wrapping_sub(me.0));
        Self::insert_leaf(&mut self.smaller, node, |n| me.0.wrapping_sub(n.0));
        let row = shared_prefix(me, node);
        if row < DIGITS {
            let slot = &mut self.table[row][digit(node, row)];
            if slot.is_none() {
                *slot = Some(node);
            }
        }
    }

    fn remove(&mut self, node: NodeId) {
        self.larger.retain(|&n| n != node);
        self.smaller.retain(|&n| n != node);
        for row in &mut self.table {
            for slot in row.iter_mut() {
                if *slot == Some(node) {
                    *slot = None;
                }
            }
        }
    }

    fn next_hop(&self, key: NodeId) -> Hop {
        if key == self.me {
            return Hop::Local;
        }
        let closest_of = |candidates: &mut dyn Iterator<Item = NodeId>| {
            let mut best = (ring_distance(self.me, key), Hop::Local);
            for n in candidates {
                let d = ring_distance(n, key);
                if d < best.0 || (d == best.0 && matches!(best.1, Hop::Node(b) if n < b)) {
                    best = (d, Hop::Node(n));
                }
            }
            best.1
        };
        if self.leaf_covers(key) {
            return closest_of(&mut self.leaf_set());
        }
        let row = shared_prefix(self.me, key);
        if let Some(node) = self.table[row][digit(key, row)] {
            return Hop::Node(node);
        }
        // Rare case: any known node at least as close in prefix and numerically closer.
        let mine = ring_distance(self.me, key);
        let mut candidates = self
            .known()
            .into_iter()
            .filter(|&n| shared_prefix(n, key) >= row && ring_distance(n, key) < mine);
        closest_of(&mut candidates)
    }

    fn state_size(&self) -> usize {
        self.known().len()
    }
}
