//! Scribe-style distribution trees, one per cluster and per topic ("group"), and what the router
//! needs to know of them (a [`GroupView`]). Pure data and rules; the [`super::engine::Engine`]
//! moves the messages.
//!
//! The tree of a group is the union of the Pastry routes from its participating nodes towards
//! the group's key: each participant sends `Join` to its next hop for the key (its *parent*),
//! which becomes a participant in turn; the node closest to the key is the *root*. Because every
//! next hop is strictly closer to the key (see [`super::pastry`]), parent pointers never form a
//! cycle.
//!
//! Aggregates flow both ways. A child's `Join` carries its subtree's [`Agg`] (members, spare
//! capacity and, while small, the list of member nodes); a parent's `Down` tells each child what
//! lies *outside* that child's subtree. So every participant knows, per tree direction, how many
//! members lie that way and how much spare capacity they have (requests and tunnels walk the tree
//! weighted by it), and, while the whole group spans at most [`DIRECT_MAX`] nodes, the complete
//! list of member nodes (senders then deliver directly, one hop).

use super::pastry::{closer, Hop};
use super::NodeId;
use iris_client::codec::ByteStr;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

/// Groups spanning at most this many member nodes are delivered to directly.
pub const DIRECT_MAX: usize = 16;

/// What a group is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupKind {
    /// A service cluster: requests, broadcasts, tunnels.
    Cluster,
    /// A publish/subscribe topic.
    Topic,
}

/// A cluster or a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Group {
    /// Cluster or topic.
    pub kind: GroupKind,
    /// Its name.
    pub name: ByteStr,
}

impl Group {
    /// The cluster `name`.
    pub fn cluster(name: impl Into<ByteStr>) -> Group {
        Group {
            kind: GroupKind::Cluster,
            name: name.into(),
        }
    }

    /// The topic `name`.
    pub fn topic(name: impl Into<ByteStr>) -> Group {
        Group {
            kind: GroupKind::Topic,
            name: name.into(),
        }
    }

    /// The routing key: the first 128 bits of SHA-256 over a kind label and the name, so a
    /// cluster and a topic of the same name have unrelated roots.
    pub fn key(&self) -> NodeId {
        let mut h = Sha256::new();
        h.update(match self.kind {
            GroupKind::Cluster => b"iris cluster\0".as_slice(),
            GroupKind::Topic => b"iris topic\0".as_slice(),
        });
        h.update(self.name.as_bytes());
        let digest = h.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        NodeId(u128::from_be_bytes(id))
    }
}

/// One node hosting members of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The node.
    pub node: NodeId,
    /// Its local members (subscribers for a topic).
    pub members: u32,
    /// Their spare capacity (clusters; 0 for topics).
    pub spare: u32,
    /// Where it listens, so a sender can link to it for direct delivery.
    pub addrs: Vec<SocketAddr>,
}

/// What lies in one direction of a tree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Agg {
    /// Members in total.
    pub members: u32,
    /// Their spare capacity in total.
    pub spare: u32,
    /// The member nodes, sorted by id, while there are at most [`DIRECT_MAX`]; `None` beyond.
    pub nodes: Option<Vec<Entry>>,
}

impl Agg {
    /// Nothing at all (the outside of a root).
    pub fn empty() -> Agg {
        Agg {
            members: 0,
            spare: 0,
            nodes: Some(Vec::new()),
        }
    }

    /// One node's own members.
    pub fn of(entry: Entry) -> Agg {
        Agg {
            members: entry.members,
            spare: entry.spare,
            nodes: Some(vec![entry]),
        }
    }

    /// Adds what `other` holds; the node list survives while it has at most `max` entries.
    pub fn add(&mut self, other: &Agg, max: usize) {
        self.members = self.members.saturating_add(other.members);
        self.spare = self.spare.saturating_add(other.spare);
        self.nodes = match (self.nodes.take(), &other.nodes) {
            (Some(mut a), Some(b)) if a.len() + b.len() <= max => {
                a.extend(b.iter().cloned());
                a.sort_by_key(|e| e.node);
                a.dedup_by_key(|e| e.node);
                Some(a)
            }
            _ => None,
        };
    }

    /// Whether `other` differs in what travels at once: whether there are members at all, or
    /// the listed member nodes (who, and how many members each). Other changes (spare capacity,
    /// and the member count of an aggregate too large to list) wait for the next tick, so a burst
    /// of joins in a large group costs each tree edge one update per tick, not one per join.
    pub fn membership_differs(&self, other: &Agg) -> bool {
        if (self.members == 0) != (other.members == 0) {
            return true;
        }
        if self.nodes.is_some() && self.members != other.members {
            return true;
        }
        match (&self.nodes, &other.nodes) {
            (Some(a), Some(b)) => {
                a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.node != y.node || x.members != y.members)
            }
            (None, None) => false,
            _ => true,
        }
    }
}

/// One direction of a tree as the router sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Direction {
    /// The neighbour (parent or child).
    pub node: NodeId,
    /// Members that way.
    pub members: u32,
    /// Their spare capacity.
    pub spare: u32,
}

/// What the router needs to route a group's traffic to other nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    /// The group.
    pub group: Group,
    /// Tree directions (parent first, if any, then children), including those without members.
    pub tree: Vec<Direction>,
    /// Every *other* node hosting members, when the whole group fits in [`DIRECT_MAX`] nodes and
    /// the tree has told this node all of it; `None` otherwise (traffic walks the tree).
    pub direct: Option<Vec<Entry>>,
}

impl GroupView {
    /// Tree neighbours a flood arriving from `from` (or starting here, `None`) continues to:
    /// every direction with members except the one it came from.
    pub fn flood_targets(&self, from: Option<NodeId>) -> impl Iterator<Item = NodeId> + '_ {
        self.tree
            .iter()
            .filter(move |d| d.members > 0 && Some(d.node) != from)
            .map(|d| d.node)
    }

    /// Whether any other node hosts members.
    pub fn has_remote_members(&self) -> bool {
        self.tree.iter().any(|d| d.members > 0)
    }
}

/// One node's part in one group's tree.
#[derive(Debug, Clone)]
pub struct Tree {
    /// Most member nodes listed for direct delivery (normally [`DIRECT_MAX`]).
    pub direct_max: usize,
    /// This node's own members (`None`: none).
    pub local: Option<Entry>,
    /// Local clients send to the group (a listener takes part to learn the view).
    pub listening: bool,
    /// The next hop towards the key this node joined through (`None`: root, or not joined).
    pub parent: Option<NodeId>,
    /// What lies outside this node's subtree, as the parent last said; `None` until it did.
    pub outside: Option<Agg>,
    /// Children and their subtrees.
    pub children: BTreeMap<NodeId, Agg>,
    /// What this node last told its parent.
    pub sent_up: Option<(NodeId, Agg)>,
    /// What this node last told each child.
    pub sent_down: HashMap<NodeId, Agg>,
    /// A spare-only change is waiting for the next tick.
    pub dirty: bool,
}

impl Default for Tree {
    fn default() -> Tree {
        Tree::new(DIRECT_MAX)
    }
}

/// What a parent that has not spoken yet is assumed to hold: possibly members (so floods and
/// requests still go up), no list.
fn unknown_outside() -> Agg {
    Agg {
        members: 1,
        spare: 1,
        nodes: None,
    }
}

impl Tree {
    /// No part in the tree yet; groups up to `direct_max` member nodes are listed.
    pub fn new(direct_max: usize) -> Tree {
        Tree {
            direct_max,
            local: None,
            listening: false,
            parent: None,
            outside: None,
            children: BTreeMap::new(),
            sent_up: None,
            sent_down: HashMap::new(),
            dirty: false,
        }
    }

    /// Whether this node takes part in the tree.
    pub fn active(&self) -> bool {
        self.local.is_some() || self.listening || !self.children.is_empty()
    }

    fn own(&self) -> Agg {
        self.local.clone().map_or_else(Agg::empty, Agg::of)
    }

    fn outside_or_unknown(&self) -> Agg {
        match (self.parent, &self.outside) {
            (None, _) => Agg::empty(),
            (Some(_), Some(o)) => o.clone(),
            (Some(_), None) => unknown_outside(),
        }
    }

    /// The subtree rooted here (what the parent hears).
    pub fn subtree(&self) -> Agg {
        let mut agg = self.own();
        for child in self.children.values() {
            agg.add(child, self.direct_max);
        }
        agg
    }

    /// Everything except `child`'s subtree (what that child hears).
    pub fn outside_of(&self, child: NodeId) -> Agg {
        let mut agg = self.own();
        for (node, sub) in &self.children {
            if *node != child {
                agg.add(sub, self.direct_max);
            }
        }
        agg.add(&self.outside_or_unknown(), self.direct_max);
        agg
    }

    /// The router's view of the group from this node (`me`).
    pub fn view(&self, group: &Group, me: NodeId) -> GroupView {
        let mut tree = Vec::with_capacity(self.children.len() + 1);
        let outside = self.outside_or_unknown();
        if let Some(parent) = self.parent {
            tree.push(Direction {
                node: parent,
                members: outside.members,
                spare: outside.spare,
            });
        }
        for (node, sub) in &self.children {
            tree.push(Direction {
                node: *node,
                members: sub.members,
                spare: sub.spare,
            });
        }
        let mut all = outside;
        for sub in self.children.values() {
            all.add(sub, self.direct_max);
        }
        let direct = all.nodes.map(|mut nodes| {
            nodes.retain(|e| e.node != me);
            nodes
        });
        GroupView {
            group: group.clone(),
            tree,
            direct,
        }
    }

    /// The parent this node should have given its routing: the next hop for the key, unless
    /// this node is the root. A child is never a parent (it is farther from the key, so routing
    /// never picks it; checked anyway).
    pub fn parent_for(&self, hop: Hop, me: NodeId, key: NodeId) -> Option<NodeId> {
        match hop {
            Hop::Node(n) if closer(n, me, key) && !self.children.contains_key(&n) => Some(n),
            _ => None,
        }
    }
}

/// Duplicate suppression for tree floods: per origin node, a sliding window over its sequence
/// numbers (as in IPsec's anti-replay window). A flood crosses each tree edge once, so duplicates
/// only arise while a subtree moves to a new parent; the window removes them.
#[derive(Debug, Default)]
pub struct Dedup {
    origins: HashMap<NodeId, Window>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    /// Highest sequence number seen.
    top: u64,
    /// Bit i set: `top - i` was seen.
    seen: [u64; WINDOW_WORDS],
    /// Ticks since the origin was last heard of (for eviction).
    idle: u32,
}

const WINDOW_WORDS: usize = 16;
const WINDOW: u64 = 64 * WINDOW_WORDS as u64;

impl Window {
    fn bit(&mut self, back: u64) -> (&mut u64, u64) {
        (&mut self.seen[(back / 64) as usize], 1u64 << (back % 64))
    }

    fn shift(&mut self, by: u64) {
        if by >= WINDOW {
            self.seen = [0; WINDOW_WORDS];
            return;
        }
        let (words, bits) = ((by / 64) as usize, (by % 64) as u32);
        for i in (0..WINDOW_WORDS).rev() {
            let lo = if i >= words { self.seen[i - words] } else { 0 };
            let carry = if bits > 0 && i > words {
                self.seen[i - words - 1] >> (64 - bits)
            } else {
                0
            };
            self.seen[i] = if bits > 0 { (lo << bits) | carry } else { lo };
        }
    }
}

impl Dedup {
    /// Whether `(origin, seq)` is new; records it. Sequence numbers older than the window count
    /// as seen (dropping is safer than delivering twice).
    pub fn first_time(&mut self, origin: NodeId, seq: u64) -> bool {
        let w = self.origins.entry(origin).or_insert(Window {
            top: seq,
            seen: [0; WINDOW_WORDS],
            idle: 0,
        });
        w.idle = 0;
        if w.seen == [0; WINDOW_WORDS] && w.top == seq {
            w.seen[0] = 1;
            return true;
        }
        if seq > w.top {
            w.shift(seq - w.top);
            w.top = seq;
            w.seen[0] |= 1;
            return true;
        }
        let back = w.top - seq;
        if back >= WINDOW {
            return false;
        }
        let (word, mask) = w.bit(back);
        let new = *word & mask == 0;
        *word |= mask;
        new
    }

    /// Forgets origins not heard of for `ticks` calls.
    pub fn age(&mut self, ticks: u32) {
        self.origins.retain(|_, w| {
            w.idle += 1;
            w.idle <= ticks
        });
    }

    /// Origins tracked.
    pub fn len(&self) -> usize {
        self.origins.len()
    }

    /// Whether no origin is tracked.
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(node: u128, members: u32) -> Entry {
        Entry {
            node: NodeId(node),
            members,
            spare: members * 16,
            addrs: vec![],
        }
    }

    #[test]
    fn aggregates_list_small_groups_and_count_large_ones() {
        let mut agg = Agg::empty();
        for i in 0..DIRECT_MAX as u128 {
            agg.add(&Agg::of(entry(i, 1)), DIRECT_MAX);
        }
        assert_eq!(agg.nodes.as_ref().map(Vec::len), Some(DIRECT_MAX));
        agg.add(&Agg::of(entry(99, 2)), DIRECT_MAX);
        assert_eq!((agg.members, agg.nodes.is_none()), (DIRECT_MAX as u32 + 2, true));
        let mut a = Agg::of(entry(1, 1));
        let mut b = a.clone();
        b.spare = 3;
        assert!(!a.membership_differs(&b));
        a.add(&Agg::of(entry(2, 1)), DIRECT_MAX);
        assert!(a.membership_differs(&b));
    }

    #[test]
    fn outside_excludes_the_child_and_views_list_other_nodes() {
        let me = NodeId(5);
        let mut t = Tree {
            local: Some(entry(5, 1)),
            parent: Some(NodeId(1)),
            ..Tree::default()
        };
        t.children.insert(NodeId(7), Agg::of(entry(7, 2)));
        t.children.insert(NodeId(8), Agg::empty());
        // Parent silent: assumed to hold something, no list.
        let v = t.view(&Group::topic("t"), me);
        assert_eq!(v.direct, None);
        assert_eq!(v.flood_targets(Some(NodeId(7))).collect::<Vec<_>>(), vec![NodeId(1)]);
        t.outside = Some(Agg::of(entry(1, 1)));
        let v = t.view(&Group::topic("t"), me);
        let direct: Vec<NodeId> = v.direct.unwrap().iter().map(|e| e.node).collect();
        assert_eq!(direct, vec![NodeId(1), NodeId(7)]);
        assert_eq!(t.subtree().members, 3);
        let o = t.outside_of(NodeId(7));
        assert_eq!((o.members, o.nodes.unwrap().len()), (2, 2));
    }

    #[test]
    fn dedup_window_accepts_each_sequence_number_once() {
        let mut d = Dedup::default();
        let o = NodeId(3);
        assert!(d.first_time(o, 10));
        assert!(!d.first_time(o, 10));
        assert!(d.first_time(o, 12));
        assert!(d.first_time(o, 11));
        assert!(!d.first_time(o, 11));
        assert!(d.first_time(o, 10 + WINDOW + 100));
        assert!(!d.first_time(o, 12), "older than the window");
        for s in 2000..3000 {
            assert!(d.first_time(o, s * 2));
        }
        for s in (2000..3000).rev().take(WINDOW as usize / 2 - 1) {
            assert!(d.first_time(o, s * 2 + 1));
            assert!(!d.first_time(o, s * 2 + 1));
        }
        d.age(0);
        assert!(d.is_empty());
    }
}
