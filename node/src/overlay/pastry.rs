//! A Pastry routing state (base-16 digits of 128-bit ids): a prefix routing table and a leaf set.
//! Sans-I/O: it holds node ids and decides next hops; links, state exchange and repair belong to
//! the [`super::engine::Engine`].
//!
//! Two next-hop rules share the state:
//! - [`Pastry::next_hop`], for messages routed to a key, is Pastry's own: the leaf set when the
//!   key lies within its span, else the routing table entry sharing one more digit with the key,
//!   else a known node sharing as many digits and closer to the key. Every hop either shares one
//!   more digit or gets numerically closer, which bounds routes by about log16 N hops plus the
//!   last step through the leaf set. A hop through the table can move numerically away from the
//!   key (across a digit boundary), so loop-freedom rests on the leaf sets (every node knows a
//!   live node on each side): with them the last hops through the leaf sets only get closer and
//!   end at the key's node. While leaf sets are being repaired a route could in principle cycle;
//!   the hop limit of the wire ends such a message.
//! - [`Pastry::tree_hop`], for Scribe trees, is *monotone*: every hop goes to a node strictly
//!   closer to the key in the total order "ring distance to the key, then lower id". Pastry's
//!   choice is taken when it is closer, which is almost always; otherwise the closest known node
//!   is. So a tree built from these hops is acyclic whatever the (possibly stale, possibly
//!   inconsistent) states of its nodes, and both rules end at the same node, the one closest to
//!   the key.

use super::NodeId;

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

/// Whether `a` is strictly closer to `key` than `b` (ties go to the lower id, so exactly one node
/// is the closest to any key).
pub fn closer(a: NodeId, b: NodeId, key: NodeId) -> bool {
    (ring_distance(a, key), a) < (ring_distance(b, key), b)
}

/// The next step for a message addressed to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// No known node is closer to the key: this node is responsible for it.
    Local,
    /// Forward to this node.
    Node(NodeId),
}

/// One node's Pastry state. Holds only nodes this node is linked to.
#[derive(Debug, Clone)]
pub struct Pastry {
    me: NodeId,
    /// Rows 0.. of the routing table; rows past the end are empty (a network of N nodes uses
    /// about log16 N of the 32), so the state stays small to copy.
    table: Vec<[Option<NodeId>; COLUMNS]>,
    /// Closest nodes clockwise (larger ids), nearest first.
    larger: Vec<NodeId>,
    /// Closest nodes counter-clockwise (smaller ids), nearest first.
    smaller: Vec<NodeId>,
    /// Leaf set entries per side.
    half: usize,
}

impl Pastry {
    /// Empty state for node `me`, with a leaf set of [`LEAF_SET`].
    pub fn new(me: NodeId) -> Pastry {
        Pastry::with_leaf_set(me, LEAF_SET)
    }

    /// Empty state with a leaf set of `size` nodes (at least 2; tests use small ones to get
    /// multi-hop routes in small networks).
    pub fn with_leaf_set(me: NodeId, size: usize) -> Pastry {
        Pastry {
            me,
            table: Vec::new(),
            larger: Vec::new(),
            smaller: Vec::new(),
            half: (size / 2).max(1),
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.me
    }

    /// Every node this state refers to (leaf set and routing table), sorted, without duplicates.
    pub fn known(&self) -> Vec<NodeId> {
        let mut all: Vec<NodeId> = self.larger.iter().chain(&self.smaller).copied().collect();
        all.extend(self.table.iter().flatten().flatten().copied());
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Entries held (the per-node state the simulation reports).
    pub fn state_size(&self) -> usize {
        self.known().len()
    }

    /// The leaf set (both halves, nearest first on each side; a node may appear on both sides in
    /// a small network).
    pub fn leaf_set(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.larger.iter().chain(&self.smaller).copied()
    }

    /// Whether `node` is part of this state.
    pub fn contains(&self, node: NodeId) -> bool {
        self.larger.contains(&node)
            || self.smaller.contains(&node)
            || self.at(
                shared_prefix(self.me, node).min(DIGITS - 1),
                digit(node, shared_prefix(self.me, node).min(DIGITS - 1)),
            ) == Some(node)
    }

    /// Leaf set entries per side.
    pub fn leaf_half(&self) -> usize {
        self.half
    }

    /// Whether `node` is in the leaf set.
    pub fn in_leaf_set(&self, node: NodeId) -> bool {
        self.larger.contains(&node) || self.smaller.contains(&node)
    }

    /// Whether the leaf set spans the whole ring (this node knows every node of the network):
    /// a half with room, or halves that meet.
    pub fn complete(&self) -> bool {
        self.larger.len() < self.half
            || self.smaller.len() < self.half
            || self.larger.iter().any(|n| self.smaller.contains(n))
    }

    fn leaf_position(side: &[NodeId], half: usize, node: NodeId, dist: impl Fn(NodeId) -> u128) -> Option<usize> {
        if side.contains(&node) {
            return None;
        }
        let pos = side.partition_point(|&n| dist(n) < dist(node));
        (pos < half).then_some(pos)
    }

    /// The routing table entry at `row`, `col`.
    fn at(&self, row: usize, col: usize) -> Option<NodeId> {
        self.table.get(row).and_then(|r| r[col])
    }

    /// Whether `node` would enter the leaf set.
    fn fits_leaf_set(&self, node: NodeId) -> bool {
        let me = self.me;
        node != me
            && (Self::leaf_position(&self.larger, self.half, node, |n| n.0.wrapping_sub(me.0)).is_some()
                || Self::leaf_position(&self.smaller, self.half, node, |n| me.0.wrapping_sub(n.0)).is_some())
    }

    /// The routing table slot `node` belongs in.
    fn slot_of(&self, node: NodeId) -> Option<NodeId> {
        let row = shared_prefix(self.me, node);
        self.at(row, digit(node, row))
    }

    /// Whether adding `node` would change this state (it would enter the leaf set, or take its
    /// routing table slot).
    pub fn would_add(&self, node: NodeId) -> bool {
        node != self.me
            && (self.fits_leaf_set(node)
                || !matches!(self.slot_of(node), Some(old) if !self.better_for_slot(node, old, shared_prefix(self.me, node))))
    }

    /// Whether `node` would enter the leaf set or fill an empty routing table slot (what a
    /// joining node dials at once; better candidates for filled slots can wait).
    pub fn would_fill(&self, node: NodeId) -> bool {
        node != self.me && (self.fits_leaf_set(node) || self.slot_of(node).is_none())
    }

    /// Whether `a` suits the routing table slot of row `row` better than `b` (both fit it). Any
    /// node of the slot would do; preferring the one whose remaining digits are closest (XOR) to
    /// this node's own spreads the choices of different nodes evenly over the candidates, so no
    /// node ends up in everybody's table (first-come filling would make the oldest nodes hubs).
    fn better_for_slot(&self, a: NodeId, b: NodeId, row: usize) -> bool {
        let rest = if row + 1 >= DIGITS {
            0
        } else {
            u128::MAX >> (B as usize * (row + 1))
        };
        ((a.0 ^ self.me.0) & rest) < ((b.0 ^ self.me.0) & rest)
    }

    /// Adds a node this node is linked to; returns whether the leaf set changed. A node that fits
    /// neither the leaf set nor its routing table slot (empty, or held by a worse candidate) is
    /// not kept; a candidate it displaces leaves the state.
    pub fn add(&mut self, node: NodeId) -> bool {
        if node == self.me {
            return false;
        }
        let me = self.me;
        let half = self.half;
        let mut leaf_changed = false;
        if let Some(pos) = Self::leaf_position(&self.larger, half, node, |n| n.0.wrapping_sub(me.0)) {
            self.larger.insert(pos, node);
            self.larger.truncate(half);
            leaf_changed = true;
        }
        if let Some(pos) = Self::leaf_position(&self.smaller, half, node, |n| me.0.wrapping_sub(n.0)) {
            self.smaller.insert(pos, node);
            self.smaller.truncate(half);
            leaf_changed = true;
        }
        let row = shared_prefix(me, node);
        let col = digit(node, row);
        let better = !matches!(self.at(row, col), Some(old) if !self.better_for_slot(node, old, row));
        if better {
            if self.table.len() <= row {
                self.table.resize(row + 1, [None; COLUMNS]);
            }
            self.table[row][col] = Some(node);
        }
        leaf_changed
    }

    /// Forgets a node (its link is gone); returns whether the leaf set changed.
    pub fn remove(&mut self, node: NodeId) -> bool {
        let before = self.larger.len() + self.smaller.len();
        self.larger.retain(|&n| n != node);
        self.smaller.retain(|&n| n != node);
        let row = shared_prefix(self.me, node).min(DIGITS - 1);
        for slot in self.table.get_mut(row).into_iter().flatten() {
            if *slot == Some(node) {
                *slot = None;
            }
        }
        before != self.larger.len() + self.smaller.len()
    }

    /// Whether `key` lies within the span of the leaf set.
    fn leaf_covers(&self, key: NodeId) -> bool {
        if self.complete() {
            return true;
        }
        let cw = key.0.wrapping_sub(self.me.0);
        let ccw = self.me.0.wrapping_sub(key.0);
        let far_cw = self.larger.last().map_or(0, |f| f.0.wrapping_sub(self.me.0));
        let far_ccw = self.smaller.last().map_or(0, |f| self.me.0.wrapping_sub(f.0));
        cw <= far_cw || ccw <= far_ccw
    }

    /// The closest node to `key` among `candidates` and this node.
    fn closest_of(&self, key: NodeId, candidates: impl Iterator<Item = NodeId>) -> Hop {
        let mut best = self.me;
        for n in candidates {
            if closer(n, best, key) {
                best = n;
            }
        }
        if best == self.me {
            Hop::Local
        } else {
            Hop::Node(best)
        }
    }

    /// Where a message routed to `key` goes next, by Pastry's rule (see the module doc), or
    /// [`Hop::Local`] when this node is responsible for the key.
    pub fn next_hop(&self, key: NodeId) -> Hop {
        self.hop(key, false)
    }

    /// The next hop of a Scribe tree towards `key`: always a node strictly closer to the key than
    /// this one (see the module doc), or [`Hop::Local`] when no known node is.
    pub fn tree_hop(&self, key: NodeId) -> Hop {
        self.hop(key, true)
    }

    fn hop(&self, key: NodeId, monotone: bool) -> Hop {
        if key == self.me {
            return Hop::Local;
        }
        if self.leaf_covers(key) {
            return self.closest_of(key, self.leaf_set());
        }
        let row = shared_prefix(self.me, key);
        if let Some(node) = self.at(row, digit(key, row)) {
            if !monotone || closer(node, self.me, key) {
                return Hop::Node(node);
            }
        }
        if !monotone {
            // A hole in the table: a known node sharing as many digits that is closer.
            let same_prefix = self.known().into_iter().filter(|&n| shared_prefix(n, key) >= row);
            if let hop @ Hop::Node(_) = self.closest_of(key, same_prefix) {
                return hop;
            }
        }
        self.closest_of(key, self.known().into_iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_networks_are_complete_and_route_in_one_hop() {
        let mut p = Pastry::new(NodeId(100));
        assert_eq!(p.next_hop(NodeId(5)), Hop::Local);
        assert!(p.add(NodeId(10)));
        assert!(!p.add(NodeId(10)));
        assert!(p.add(NodeId(1 << 120)));
        assert!(p.complete());
        assert_eq!(p.state_size(), 2);
        assert_eq!(p.next_hop(NodeId(5)), Hop::Node(NodeId(10)));
        assert_eq!(p.next_hop(NodeId(90)), Hop::Local);
        assert_eq!(p.next_hop(NodeId((1 << 120) + 7)), Hop::Node(NodeId(1 << 120)));
        assert!(p.remove(NodeId(10)));
        assert_eq!(p.next_hop(NodeId(5)), Hop::Local);
        assert!(!p.contains(NodeId(10)));
    }

    #[test]
    fn every_tree_hop_is_strictly_closer() {
        // A state with arbitrary holes still never proposes a tree parent farther from the key.
        let me = NodeId(0x8000_0000_0000_0000_0000_0000_0000_0000);
        let mut p = Pastry::new(me);
        let mut x: u128 = 0x1234_5678_9abc_def0_1357_9bdf_2468_ace0;
        for _ in 0..200 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            p.add(NodeId(x));
        }
        assert!(!p.complete());
        for i in 0..1000u128 {
            let key = NodeId(i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835));
            if let Hop::Node(n) = p.tree_hop(key) {
                assert!(closer(n, me, key));
            }
            // A routed hop shares one more digit with the key, or as many and is closer.
            if let Hop::Node(n) = p.next_hop(key) {
                let (mine, theirs) = (shared_prefix(me, key), shared_prefix(n, key));
                assert!(theirs > mine || closer(n, me, key), "{n:?} for {key:?}");
            }
        }
    }

    #[test]
    fn across_a_digit_boundary_routes_take_the_table_and_trees_stay_monotone() {
        // This node sits just below the boundary b|c; the key just above it. The table entry for
        // the key's first digit shares one more digit but is numerically farther than this node.
        let top = |x: u128| NodeId(x << 112);
        let me = top(0xbff0);
        let key = top(0xc010);
        let mut p = Pastry::with_leaf_set(me, 2);
        for n in [0xbfe0, 0xbff8, 0x3000, 0xc900] {
            p.add(top(n));
        }
        assert_eq!(p.known(), [0x3000, 0xbfe0, 0xbff8, 0xc900].map(top));
        assert!(!p.leaf_covers(key));
        assert!(!closer(top(0xc900), me, key));
        assert_eq!(p.next_hop(key), Hop::Node(top(0xc900)));
        assert_eq!(p.tree_hop(key), Hop::Node(top(0xbff8)));
    }
}
