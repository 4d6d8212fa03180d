//! The overlay's brain, sans-I/O: Pastry state maintenance (state exchange on join, repair on
//! loss, periodic leaf-set exchange), which links to keep, and the Scribe trees of every cluster
//! and topic this node takes part in.
//!
//! The engine never touches a socket or a clock. Its caller feeds it events (a link came up or
//! went down, a control message arrived, local membership changed, time passed) and carries out
//! the [`Output`]s it queues: send a control message, dial a node, close a link, hand the router a
//! new [`GroupView`]. The running node (`membership.rs`) drives it with real links and time; the
//! simulation (`sim.rs`) drives thousands of engines over a virtual network with virtual time.

use super::pastry::{closer, Hop, Pastry};
use super::scribe::{Agg, Entry, Group, GroupView, Tree};
use super::NodeId;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

/// Timings of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Leaf-set members exchange their state this often (repair, merging partitions).
    pub state_interval: Duration,
    /// A link neither end needs is closed after this long.
    pub unneeded_grace: Duration,
    /// A group local clients stopped sending to is left after this long.
    pub listen_idle: Duration,
    /// A node heard of (not linked) is forgotten after this long; discovery skips known nodes.
    pub known_ttl: Duration,
    /// The same node is dialled at most this often.
    pub redial_pause: Duration,
    /// A link that carried traffic is kept at least this long afterwards.
    pub active_hold: Duration,
    /// Leaf set size ([`super::pastry::LEAF_SET`]; tests shrink it to get multi-hop routes and
    /// deep trees with few nodes).
    pub leaf_set: usize,
    /// Groups spanning at most this many member nodes are delivered to directly
    /// ([`super::scribe::DIRECT_MAX`]; 0 makes every group use its tree).
    pub direct_max: usize,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            state_interval: Duration::from_secs(10),
            unneeded_grace: Duration::from_secs(5),
            listen_idle: Duration::from_secs(60),
            known_ttl: Duration::from_secs(300),
            redial_pause: Duration::from_secs(5),
            active_hold: Duration::from_secs(30),
            leaf_set: super::pastry::LEAF_SET,
            direct_max: super::scribe::DIRECT_MAX,
        }
    }
}

/// Overlay control messages (the wire encodings are in `wire.rs`).
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// The sender's Pastry state: the nodes it holds (linked, so alive) and where they listen,
    /// plus a sample of other nodes it heard of. With `reply`, the receiver answers with its own
    /// (repair after a loss).
    State {
        /// Nodes of the sender's state and their listen addresses.
        entries: Vec<(NodeId, Vec<SocketAddr>)>,
        /// Other nodes the sender heard of (not vouched for: they may be gone).
        sample: Vec<(NodeId, Vec<SocketAddr>)>,
        /// Ask for the receiver's state in return.
        reply: bool,
    },
    /// Whether the sender still needs this link (a link neither end needs is closed).
    Need(bool),
    /// The sender joins the group's tree with the receiver as its parent; its subtree holds `agg`.
    /// Repeated when the subtree changes.
    Join {
        /// The group.
        group: Group,
        /// The sender's subtree.
        agg: Agg,
    },
    /// The sender is no longer the receiver's child in the group's tree.
    Leave {
        /// The group.
        group: Group,
    },
    /// From a parent: what lies outside the receiver's subtree.
    Down {
        /// The group.
        group: Group,
        /// Everything else in the tree.
        outside: Agg,
    },
}

/// What the engine asks its caller to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send a control message over the link to a node.
    Send(NodeId, Control),
    /// Link to a node at one of these addresses.
    Dial(NodeId, Vec<SocketAddr>),
    /// Close the link to a node (neither end needs it).
    Close(NodeId),
    /// The router's view of a group changed (`None`: this node no longer takes part).
    View(Group, Option<GroupView>),
}

#[derive(Debug)]
struct Link {
    peer_needs: bool,
    need_sent: Option<bool>,
    unneeded_since: Option<Duration>,
    last_active: Option<Duration>,
    closing: bool,
}

#[derive(Debug, Clone)]
struct Known {
    addrs: Vec<SocketAddr>,
    seen: Duration,
}

#[derive(Debug, Clone)]
struct GroupState {
    tree: Tree,
    last_used: Duration,
}

impl GroupState {
    fn new(direct_max: usize) -> GroupState {
        GroupState {
            tree: Tree::new(direct_max),
            last_used: Duration::ZERO,
        }
    }
}

/// One node's overlay state.
pub struct Engine {
    me: NodeId,
    addrs: Vec<SocketAddr>,
    cfg: EngineConfig,
    pastry: Pastry,
    links: BTreeMap<NodeId, Link>,
    book: BTreeMap<NodeId, Known>,
    groups: BTreeMap<Group, GroupState>,
    views: HashMap<Group, GroupView>,
    dialed: HashMap<NodeId, Duration>,
    out: Vec<Output>,
    leaf_dirty: bool,
    last_state: Duration,
    now: Duration,
    rng: u64,
    last_expiry: Duration,
    last_improve: Duration,
}

/// How often a better routing table candidate may be dialled.
const IMPROVE_INTERVAL: Duration = Duration::from_secs(1);
/// Book entries looked at per improvement attempt.
const IMPROVE_SCAN: usize = 64;

/// How often forgotten nodes are swept from the book.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(5);

/// Nodes outside its own state a node mentions in each state message.
const GOSSIP_SAMPLE: usize = 16;

/// Nodes heard of (not linked) the book holds at most: a node's memory stays bounded however
/// large the network. Linked nodes are always recorded; when the book is full, other new names
/// are not, until the sweep forgets stale ones. Repair, improvements and the merge after a
/// partition need a sample of the network, not all of it.
pub const BOOK_MAX: usize = 1024;

impl Engine {
    /// A node `me` listening on `addrs`, knowing nobody.
    pub fn new(me: NodeId, addrs: Vec<SocketAddr>, cfg: EngineConfig) -> Engine {
        let pastry = Pastry::with_leaf_set(me, cfg.leaf_set);
        Engine {
            me,
            addrs,
            cfg,
            pastry,
            links: BTreeMap::new(),
            book: BTreeMap::new(),
            groups: BTreeMap::new(),
            views: HashMap::new(),
            dialed: HashMap::new(),
            out: Vec::new(),
            leaf_dirty: false,
            last_state: Duration::ZERO,
            now: Duration::ZERO,
            rng: (me.0 as u64 ^ (me.0 >> 64) as u64) | 1,
            last_expiry: Duration::ZERO,
            last_improve: Duration::ZERO,
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.me
    }

    /// The Pastry state.
    pub fn pastry(&self) -> &Pastry {
        &self.pastry
    }

    /// Takes the outputs queued so far.
    pub fn drain(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// Where a message routed by key goes next.
    pub fn next_hop(&self, key: NodeId) -> Hop {
        self.pastry.next_hop(key)
    }

    /// Nodes linked now.
    pub fn linked(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.links.keys().copied()
    }

    /// Listen addresses of every node known to be alive (linked, or held by a neighbour recently):
    /// discovery does not probe them.
    pub fn known_addrs(&self) -> HashSet<SocketAddr> {
        self.book.values().flat_map(|k| k.addrs.iter().copied()).collect()
    }

    /// Whether `node` is linked or was heard of recently.
    pub fn knows(&self, node: NodeId) -> bool {
        self.book.contains_key(&node)
    }

    /// The tree state of a group (tests, diagnostics).
    pub fn tree(&self, group: &Group) -> Option<&Tree> {
        self.groups.get(group).map(|g| &g.tree)
    }

    /// Groups this node takes part in.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.keys()
    }

    fn send(&mut self, to: NodeId, msg: Control) {
        self.out.push(Output::Send(to, msg));
    }

    fn dial(&mut self, node: NodeId, addrs: Vec<SocketAddr>) {
        if node == self.me || self.links.contains_key(&node) || addrs.is_empty() {
            return;
        }
        if let Some(&at) = self.dialed.get(&node) {
            if self.now < at + self.cfg.redial_pause {
                return;
            }
        }
        self.dialed.insert(node, self.now);
        self.out.push(Output::Dial(node, addrs));
    }

    /// This node's Pastry state for `to`, plus a few other nodes it heard of, picked at random:
    /// without them, the nodes that happened to join first would stay in everyone's routing
    /// table (each slot takes the best candidate its holder knows of; see `Pastry::add`).
    fn state_for(&mut self, to: NodeId, reply: bool) -> Control {
        let known = self.pastry.known();
        let entries: Vec<(NodeId, Vec<SocketAddr>)> = known
            .iter()
            .filter(|&&n| n != to)
            .filter_map(|n| self.book.get(n).map(|k| (*n, k.addrs.clone())))
            .collect();
        let mut sample: Vec<(NodeId, Vec<SocketAddr>)> = Vec::new();
        if self.book.len() > known.len() + 1 {
            // Random points on the ring, each taking the next node of the book after it.
            for _ in 0..GOSSIP_SAMPLE {
                let point = NodeId(u128::from(self.random()) << 64 | u128::from(self.random()));
                let pick = self.book.range(point..).next().or_else(|| self.book.iter().next());
                if let Some((n, k)) = pick {
                    if *n != to && known.binary_search(n).is_err() && !sample.iter().any(|(e, _)| e == n) {
                        sample.push((*n, k.addrs.clone()));
                    }
                }
            }
        }
        Control::State { entries, sample, reply }
    }

    /// xorshift64*: deterministic per node, so simulations replay exactly.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    // ---- links ----

    /// An authenticated link to `node` (listening on `addrs`) is up.
    pub fn link_up(&mut self, node: NodeId, addrs: Vec<SocketAddr>, now: Duration) {
        self.now = now;
        if node == self.me {
            return;
        }
        self.links.insert(
            node,
            Link {
                peer_needs: true,
                need_sent: None,
                unneeded_since: None,
                last_active: None,
                closing: false,
            },
        );
        self.book.insert(node, Known { addrs, seen: now });
        let msg = self.state_for(node, false);
        self.send(node, msg);
        if self.pastry.add(node) {
            self.leaf_dirty = true;
        }
        // A link that replaced another to the same node may have lost messages in flight: tell a
        // tree neighbour everything again.
        for g in self.groups.values_mut() {
            if g.tree.parent == Some(node) {
                g.tree.sent_up = None;
            }
            g.tree.sent_down.remove(&node);
        }
        self.reroute_all();
    }

    /// The link to `node` is gone (closed, failed, or the node left).
    pub fn link_down(&mut self, node: NodeId, now: Duration) {
        self.now = now;
        let Some(link) = self.links.remove(&node) else { return };
        // Closed because neither end needed it: the node is alive, keep it in the book so
        // discovery does not dial it again. Otherwise forget it (it may be gone).
        let retired = !link.peer_needs && link.need_sent == Some(false);
        if retired {
            if let Some(k) = self.book.get_mut(&node) {
                k.seen = now;
            }
        } else {
            self.book.remove(&node);
        }
        let leaf_lost = self.pastry.remove(node);
        // Other linked nodes may fill the holes.
        let linked: Vec<NodeId> = self.links.keys().copied().collect();
        for n in linked {
            if self.pastry.would_add(n) && self.pastry.add(n) {
                self.leaf_dirty = true;
            }
        }
        for g in self.groups.values_mut() {
            g.tree.children.remove(&node);
            g.tree.sent_down.remove(&node);
            if g.tree.parent == Some(node) {
                g.tree.parent = None;
                g.tree.outside = None;
                g.tree.sent_up = None;
            }
        }
        if leaf_lost {
            self.leaf_dirty = true;
            // Repair: the remaining leaf set knows who is next in line.
            let ask: BTreeSet<NodeId> = self.pastry.leaf_set().collect();
            for n in ask {
                let msg = self.state_for(n, true);
                self.send(n, msg);
            }
            self.fill_from_book();
        }
        self.reroute_all();
    }

    /// Dials nodes from the book that would fill holes of the state.
    fn fill_from_book(&mut self) {
        let mut tentative = self.pastry.clone();
        let mut dial = Vec::new();
        for (n, k) in &self.book {
            if !self.links.contains_key(n) && tentative.would_fill(*n) {
                tentative.add(*n);
                dial.push((*n, k.addrs.clone()));
            }
        }
        for (n, addrs) in dial {
            if tentative.contains(n) {
                self.dial(n, addrs);
            }
        }
    }

    // ---- messages ----

    /// A control message from a linked node.
    pub fn receive(&mut self, from: NodeId, msg: Control, now: Duration) {
        self.now = now;
        if !self.links.contains_key(&from) {
            return;
        }
        match msg {
            Control::State { entries, sample, reply } => {
                // Nodes that would improve this state get dialled; simulating the additions in
                // order keeps one candidate per slot. Most messages bring nothing new. Only the
                // sender's own state vouches that a node is alive (refreshes it); a sampled node
                // is recorded when new, so the dead are forgotten even while others mention them.
                let vouched = entries.len();
                let mut tentative: Option<Pastry> = None;
                let mut candidates = Vec::new();
                for (i, (node, addrs)) in entries.into_iter().chain(sample).enumerate() {
                    if node == self.me || addrs.is_empty() {
                        continue;
                    }
                    if !self.links.contains_key(&node) && self.pastry.would_fill(node) {
                        // The best state all entries allow; only its new members get dialled
                        // (adding them one by one would dial some that a later entry displaces).
                        let t = tentative.get_or_insert_with(|| self.pastry.clone());
                        if t.would_fill(node) {
                            t.add(node);
                            candidates.push((node, addrs.clone()));
                        }
                    }
                    let room = self.book.len() < BOOK_MAX;
                    match self.book.get_mut(&node) {
                        Some(k) if i < vouched => {
                            k.seen = now;
                            if k.addrs != addrs {
                                k.addrs = addrs;
                            }
                        }
                        Some(_) => {}
                        None if room => {
                            self.book.insert(node, Known { addrs, seen: now });
                        }
                        None => {}
                    }
                }
                if let Some(t) = tentative {
                    for (node, addrs) in candidates {
                        if t.contains(node) {
                            self.dial(node, addrs);
                        }
                    }
                }
                if reply {
                    let msg = self.state_for(from, false);
                    self.send(from, msg);
                }
            }
            Control::Need(need) => {
                if let Some(link) = self.links.get_mut(&from) {
                    link.peer_needs = need;
                }
            }
            Control::Join { group, agg } => {
                let key = group.key();
                if !closer(self.me, from, key) {
                    // Only a node farther from the key can pick this one as its next hop.
                    tracing::debug!(%from, group = ?group, "join from a node closer to the key; ignored");
                    return;
                }
                let direct_max = self.cfg.direct_max;
                let g = self
                    .groups
                    .entry(group.clone())
                    .or_insert_with(|| GroupState::new(direct_max));
                let old = g.tree.children.insert(from, agg.clone());
                let urgent = !matches!(old, Some(old) if !old.membership_differs(&agg));
                self.update(&group, urgent);
            }
            Control::Leave { group } => {
                if let Some(g) = self.groups.get_mut(&group) {
                    if g.tree.children.remove(&from).is_some() {
                        g.tree.sent_down.remove(&from);
                        self.update(&group, true);
                    }
                }
            }
            Control::Down { group, outside } => {
                if let Some(g) = self.groups.get_mut(&group) {
                    if g.tree.parent == Some(from) {
                        let urgent = !matches!(&g.tree.outside, Some(o) if !o.membership_differs(&outside));
                        g.tree.outside = Some(outside);
                        self.update(&group, urgent);
                    }
                }
            }
        }
    }

    // ---- local membership ----

    /// This node's own members of `group` changed: `Some((members, spare))`, or `None` when it has
    /// none left.
    pub fn set_local(&mut self, group: &Group, local: Option<(u32, u32)>, now: Duration) {
        self.now = now;
        let me = self.me;
        let addrs = self.addrs.clone();
        let direct_max = self.cfg.direct_max;
        let g = self
            .groups
            .entry(group.clone())
            .or_insert_with(|| GroupState::new(direct_max));
        let entry = local.filter(|(m, _)| *m > 0).map(|(members, spare)| Entry {
            node: me,
            members,
            spare,
            addrs,
        });
        // Members appearing or the last one leaving travel at once; a changed count travels as
        // the aggregates it changes decide (`Agg::membership_differs`).
        let urgent = g.tree.local.is_some() != entry.is_some();
        g.tree.local = entry;
        self.update(group, urgent);
    }

    /// Local clients sent to `group` (requests, broadcasts, publishes, tunnels): this node takes
    /// part in its tree as a listener, to learn where the members are.
    pub fn touch(&mut self, group: &Group, now: Duration) {
        self.now = now;
        let direct_max = self.cfg.direct_max;
        let g = self
            .groups
            .entry(group.clone())
            .or_insert_with(|| GroupState::new(direct_max));
        g.last_used = now;
        if !g.tree.listening {
            g.tree.listening = true;
            self.update(group, true);
        }
    }

    // ---- trees ----

    fn reroute_all(&mut self) {
        let groups: Vec<Group> = self.groups.keys().cloned().collect();
        for g in groups {
            self.update(&g, false);
        }
    }

    /// Brings one group's tree up to date: parent, what the parent and the children hear, and the
    /// router's view. Spare-only changes wait for the next tick unless `urgent`.
    fn update(&mut self, group: &Group, urgent: bool) {
        let me = self.me;
        let key = group.key();
        let hop = self.pastry.tree_hop(key);
        let Some(g) = self.groups.get_mut(group) else { return };
        let tree = &mut g.tree;
        let mut out = Vec::new();
        if !tree.active() {
            if let Some(parent) = tree.parent.take() {
                out.push(Output::Send(parent, Control::Leave { group: group.clone() }));
            }
            self.groups.remove(group);
            if self.views.remove(group).is_some() {
                out.push(Output::View(group.clone(), None));
            }
            self.out.extend(out);
            return;
        }
        let parent = tree.parent_for(hop, me, key);
        if parent != tree.parent {
            if let Some(old) = tree.parent {
                out.push(Output::Send(old, Control::Leave { group: group.clone() }));
            }
            tree.parent = parent;
            tree.outside = None;
            tree.sent_up = None;
        }
        let mut dirty = false;
        if let Some(parent) = tree.parent {
            let sub = tree.subtree();
            let send = match &tree.sent_up {
                Some((p, s)) if *p == parent => {
                    if *s == sub {
                        false
                    } else if urgent || s.membership_differs(&sub) {
                        true
                    } else {
                        dirty = true;
                        false
                    }
                }
                _ => true,
            };
            if send {
                out.push(Output::Send(
                    parent,
                    Control::Join {
                        group: group.clone(),
                        agg: sub.clone(),
                    },
                ));
                tree.sent_up = Some((parent, sub));
            }
        }
        let children: Vec<NodeId> = tree.children.keys().copied().collect();
        for child in children {
            let outside = tree.outside_of(child);
            let send = match tree.sent_down.get(&child) {
                Some(s) if *s == outside => false,
                Some(s) if !urgent && !s.membership_differs(&outside) => {
                    dirty = true;
                    false
                }
                _ => true,
            };
            if send {
                out.push(Output::Send(
                    child,
                    Control::Down {
                        group: group.clone(),
                        outside: outside.clone(),
                    },
                ));
                tree.sent_down.insert(child, outside);
            }
        }
        tree.dirty = dirty;
        let view = tree.view(group, me);
        if self.views.get(group) != Some(&view) {
            self.views.insert(group.clone(), view.clone());
            out.push(Output::View(group.clone(), Some(view)));
        }
        self.out.extend(out);
    }

    // ---- time ----

    /// Time passed. `active(node)` tells whether the link to `node` carried traffic or holds
    /// pending work since the last tick (such links are kept).
    pub fn tick(&mut self, now: Duration, active: &dyn Fn(NodeId) -> bool) {
        self.now = now;
        // Listeners whose clients went quiet, and spare-only changes waiting for this tick.
        let mut todo = Vec::new();
        for (group, g) in self.groups.iter_mut() {
            if g.tree.listening && now >= g.last_used + self.cfg.listen_idle {
                g.tree.listening = false;
                todo.push((group.clone(), true));
            } else if g.tree.dirty {
                todo.push((group.clone(), true));
            }
        }
        for (group, urgent) in todo {
            self.update(&group, urgent);
        }
        // Leaf-set exchange: when it changed, and periodically.
        if self.leaf_dirty || now >= self.last_state + self.cfg.state_interval {
            self.leaf_dirty = false;
            self.last_state = now;
            let leaves: BTreeSet<NodeId> = self.pastry.leaf_set().collect();
            for n in leaves {
                let msg = self.state_for(n, false);
                self.send(n, msg);
            }
        }
        // Direct delivery needs links to every member node of the groups local clients use.
        let mut direct_targets: BTreeSet<NodeId> = BTreeSet::new();
        let mut to_dial = Vec::new();
        for (group, g) in &self.groups {
            if g.tree.local.is_none() && !g.tree.listening {
                continue;
            }
            if let Some(direct) = self.views.get(group).and_then(|v| v.direct.as_ref()) {
                for e in direct {
                    direct_targets.insert(e.node);
                    if !self.links.contains_key(&e.node) {
                        to_dial.push((e.node, e.addrs.clone()));
                    }
                }
            }
        }
        for (node, addrs) in to_dial {
            self.dial(node, addrs);
        }
        // Which links are still needed.
        let mut tree_neighbours: BTreeSet<NodeId> = BTreeSet::new();
        for g in self.groups.values() {
            tree_neighbours.extend(g.tree.parent);
            tree_neighbours.extend(g.tree.children.keys().copied());
        }
        let mut msgs = Vec::new();
        for (&node, link) in self.links.iter_mut() {
            if active(node) {
                link.last_active = Some(now);
            }
            let need = self.pastry.contains(node)
                || tree_neighbours.contains(&node)
                || direct_targets.contains(&node)
                || link.last_active.is_some_and(|at| now < at + self.cfg.active_hold);
            // The other end assumes a new link is needed: only a change from that is news.
            if link.need_sent.unwrap_or(true) != need {
                msgs.push(Output::Send(node, Control::Need(need)));
            }
            link.need_sent = Some(need);
            if need || link.peer_needs {
                link.unneeded_since = None;
            } else {
                let since = *link.unneeded_since.get_or_insert(now);
                if !link.closing && now >= since + self.cfg.unneeded_grace {
                    link.closing = true;
                    msgs.push(Output::Close(node));
                }
            }
        }
        self.out.extend(msgs);
        // Now and then a better candidate for a filled routing table slot (see `Pastry::add`).
        if now >= self.last_improve + IMPROVE_INTERVAL {
            self.last_improve = now;
            // A bounded look at the book, from a random point (the whole book may be large).
            let point = NodeId(u128::from(self.random()) << 64 | u128::from(self.random()));
            let better = self
                .book
                .range(point..)
                .chain(self.book.range(..point))
                .take(IMPROVE_SCAN)
                .find(|(n, _)| {
                    !self.links.contains_key(n) && !self.dialed.contains_key(n) && self.pastry.would_add(**n)
                })
                .map(|(n, k)| (*n, k.addrs.clone()));
            if let Some((node, addrs)) = better {
                self.dial(node, addrs);
            }
        }
        // Forget nodes nobody mentioned for a long time (discovery may probe them again).
        if now >= self.last_expiry + EXPIRY_INTERVAL {
            self.last_expiry = now;
            let ttl = self.cfg.known_ttl;
            let links = &self.links;
            self.book.retain(|n, k| links.contains_key(n) || now < k.seen + ttl);
            let pause = self.cfg.redial_pause;
            self.dialed.retain(|_, at| now < *at + pause);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> Vec<SocketAddr> {
        vec![SocketAddr::from(([127, 0, 0, i], 7000))]
    }

    fn sends(out: &[Output], to: NodeId) -> Vec<&Control> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send(n, c) if *n == to => Some(c),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_new_link_gets_the_state_and_known_nodes_are_dialled() {
        let mut e = Engine::new(NodeId(1), addr(1), EngineConfig::default());
        e.link_up(NodeId(2), addr(2), Duration::ZERO);
        let out = e.drain();
        assert!(matches!(
            sends(&out, NodeId(2))[..],
            [Control::State { reply: false, .. }]
        ));
        e.receive(
            NodeId(2),
            Control::State {
                entries: vec![(NodeId(3), addr(3)), (NodeId(1), addr(1))],
                sample: vec![],
                reply: true,
            },
            Duration::ZERO,
        );
        let out = e.drain();
        assert!(out.contains(&Output::Dial(NodeId(3), addr(3))));
        assert!(
            !out.iter().any(|o| matches!(o, Output::Dial(NodeId(1), _))),
            "never dials itself"
        );
        let reply = sends(&out, NodeId(2));
        assert!(matches!(reply[..], [Control::State { reply: false, .. }]));
    }

    #[test]
    fn the_book_stays_bounded_however_many_nodes_are_mentioned() {
        let mut e = Engine::new(NodeId(1), addr(1), EngineConfig::default());
        e.link_up(NodeId(2), addr(2), Duration::ZERO);
        let many = |from: u128, n: u128| -> Vec<(NodeId, Vec<SocketAddr>)> {
            (from..from + n).map(|i| (NodeId(i << 64 | 7), addr(9))).collect()
        };
        for round in 0..4u128 {
            e.receive(
                NodeId(2),
                Control::State {
                    entries: many(1000 + round * 1000, 500),
                    sample: many(1500 + round * 1000, 500),
                    reply: false,
                },
                Duration::from_millis(round as u64),
            );
        }
        assert_eq!(
            e.book.len(),
            BOOK_MAX,
            "4,000 names mentioned, the book holds its maximum"
        );
        // Linked nodes are recorded even when it is full.
        e.link_up(NodeId(3), addr(3), Duration::from_millis(10));
        assert!(e.knows(NodeId(3)));
        assert_eq!(e.book.len(), BOOK_MAX + 1);
    }

    #[test]
    fn members_join_towards_the_root_and_learn_each_other() {
        // Two nodes: the one closer to the key is the root, the other its child.
        let group = Group::cluster("svc");
        let key = group.key();
        let (a, b) = (NodeId(key.0.wrapping_add(1)), NodeId(key.0.wrapping_add(1 << 100)));
        let mut ea = Engine::new(a, addr(1), EngineConfig::default());
        let mut eb = Engine::new(b, addr(2), EngineConfig::default());
        ea.link_up(b, addr(2), Duration::ZERO);
        eb.link_up(a, addr(1), Duration::ZERO);
        ea.drain();
        eb.drain();
        eb.set_local(&group, Some((2, 32)), Duration::ZERO);
        let out = eb.drain();
        let join = sends(&out, a);
        assert!(matches!(join[..], [Control::Join { agg, .. }] if agg.members == 2));
        ea.receive(b, join[0].clone(), Duration::ZERO);
        let out = ea.drain();
        let down = sends(&out, b);
        assert!(matches!(down[..], [Control::Down { outside, .. }] if outside.members == 0));
        let view = out.iter().find_map(|o| match o {
            Output::View(_, Some(v)) => Some(v.clone()),
            _ => None,
        });
        let view = view.expect("root has a view");
        assert_eq!(view.direct.as_ref().map(|d| d.len()), Some(1));
        assert_eq!(view.tree[0].node, b);
        eb.receive(a, down[0].clone(), Duration::ZERO);
        // Leaving: the child's Leave empties the root's tree.
        eb.set_local(&group, None, Duration::ZERO);
        let out = eb.drain();
        assert!(out.contains(&Output::Send(a, Control::Leave { group: group.clone() })));
        assert!(out.contains(&Output::View(group.clone(), None)));
        ea.receive(b, Control::Leave { group: group.clone() }, Duration::ZERO);
        assert!(ea.tree(&group).is_none());
    }

    #[test]
    fn links_nobody_needs_are_closed_after_the_grace() {
        let cfg = EngineConfig::default();
        let grace = cfg.unneeded_grace;
        let me = NodeId(0);
        let mut e = Engine::new(me, addr(1), cfg);
        // A full leaf set on both sides, and a node that fits neither it nor its routing table
        // slot (held by a better candidate).
        let near: Vec<NodeId> = (1..=16u128)
            .chain((1..=8u128).map(|i| u128::MAX - i))
            .map(NodeId)
            .collect();
        for &n in &near {
            e.link_up(n, addr(2), Duration::ZERO);
        }
        let spare = NodeId(17);
        e.link_up(spare, addr(3), Duration::ZERO);
        assert!(!e.pastry().contains(spare));
        e.drain();
        let t = |s: u64| Duration::from_millis(s);
        e.tick(t(100), &|_| false);
        let out = e.drain();
        assert!(out.contains(&Output::Send(spare, Control::Need(false))));
        assert!(!out
            .iter()
            .any(|o| matches!(o, Output::Send(n, Control::Need(_)) if *n != spare)));
        // The other end still needs it: kept.
        e.tick(t(100) + grace * 2, &|_| false);
        assert!(!e.drain().contains(&Output::Close(spare)));
        e.receive(spare, Control::Need(false), t(200) + grace * 2);
        e.tick(t(300) + grace * 2, &|_| false);
        assert!(!e.drain().contains(&Output::Close(spare)), "not before the grace");
        // Traffic over it keeps it too.
        e.tick(t(400) + grace * 2, &|n| n == spare);
        let out = e.drain();
        assert!(out.contains(&Output::Send(spare, Control::Need(true))));
        let later = t(400) + grace * 2 + e.cfg.active_hold;
        e.tick(later, &|_| false);
        e.tick(later + grace, &|_| false);
        let out = e.drain();
        assert!(out.contains(&Output::Close(spare)));
        e.link_down(spare, later + grace);
        assert!(
            e.knows(spare),
            "a retired node stays known, so discovery leaves it alone"
        );
        e.link_down(near[0], later + grace);
        assert!(!e.knows(near[0]), "a lost node is forgotten");
    }
}
