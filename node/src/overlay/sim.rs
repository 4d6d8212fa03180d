//! A deterministic simulation of the overlay: many [`Engine`]s (the same code the node runs)
//! over an in-process network with virtual time. Links take a latency to come up, messages on a
//! link arrive in order after a latency, crashed nodes are noticed after the heartbeat timeout,
//! partitions cut every link that crosses them and refuse dials across.
//!
//! Traffic follows the rules the router applies to the engine's [`GroupView`]s: key-routed
//! messages hop along `next_hop`; a group flood goes directly to every member node while the view
//! lists them all (and links exist), otherwise it floods the tree through
//! [`GroupView::flood_targets`] with duplicate suppression ([`Dedup`]).
//!
//! CI runs 120-200 nodes; `cargo test --release -p iris-node --lib overlay::sim -- --ignored
//! --nocapture` runs the documented 1,000 and 10,000 node scenarios.

use super::engine::{Control, Engine, EngineConfig, Output};
use super::pastry::{closer, Hop};
use super::scribe::{Dedup, Group, GroupView};
use super::NodeId;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

/// A tiny deterministic generator (splitmix64).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn id(&mut self) -> NodeId {
        NodeId((u128::from(self.next()) << 64) | u128::from(self.next()))
    }
}

/// Message latency on a link.
const LATENCY: Duration = Duration::from_millis(1);
/// Time from a dial to the link being up (TCP + Noise handshake).
const LINK_SETUP: Duration = Duration::from_millis(4);
/// How long a crash takes to be noticed (the node's heartbeat timeout).
const DETECT: Duration = Duration::from_millis(2500);
/// How often each engine ticks (as the node does).
const TICK: Duration = Duration::from_millis(100);
/// How often each node's discovery finds one node it does not know yet.
const PROBE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
enum Traffic {
    /// A message routed by key: (message id, key, hops so far).
    Routed { id: u64, key: NodeId, hops: u32 },
    /// A group flood: (message id, group, origin, seq, hops so far, whether it goes by tree).
    Flood {
        id: u64,
        group: Group,
        origin: NodeId,
        seq: u64,
        hops: u32,
        tree: bool,
    },
}

#[derive(Debug)]
enum Event {
    Tick(NodeId),
    LinkUp(NodeId, NodeId),
    LinkDown(NodeId, NodeId),
    Control {
        from: NodeId,
        to: NodeId,
        gen: u64,
        msg: Control,
    },
    Traffic {
        from: NodeId,
        to: NodeId,
        gen: u64,
        what: Traffic,
    },
}

/// Per-node simulation state besides the engine.
struct SimNode {
    engine: Engine,
    views: HashMap<Group, GroupView>,
    dedup: Dedup,
    next_seq: u64,
    /// Groups with local members here.
    local: BTreeSet<Group>,
}

/// Outcome counters of the traffic sent.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counts {
    /// Key-routed messages sent.
    pub routed: u64,
    /// ... delivered to the node responsible for the key at delivery time.
    pub routed_right: u64,
    /// ... delivered elsewhere (a node that believed itself responsible).
    pub routed_wrong: u64,
    /// ... delivered more than once (must stay 0).
    pub routed_dup: u64,
    /// ... dropped at the hop limit (a routing loop; must stay 0).
    pub routed_looped: u64,
    /// Hops of delivered routed messages.
    pub hops_max: u32,
    /// Sum of hops (for the mean).
    pub hops_sum: u64,
    /// Flood deliveries to member nodes.
    pub flood_delivered: u64,
    /// Flood copies suppressed as duplicates by the window.
    pub flood_suppressed: u64,
    /// Flood deliveries to a node twice (must stay 0).
    pub flood_dup: u64,
}

/// The simulated network.
pub(crate) struct Sim {
    pub now: Duration,
    nodes: BTreeMap<NodeId, SimNode>,
    addr_of: HashMap<SocketAddr, NodeId>,
    addr_by_node: HashMap<NodeId, SocketAddr>,
    /// Live links by ordered pair, with a generation (messages of an older link are dropped).
    links: HashMap<(NodeId, NodeId), u64>,
    next_gen: u64,
    queue: BinaryHeap<Reverse<(Duration, u64, usize)>>,
    events: HashMap<usize, Event>,
    next_event: usize,
    seq: u64,
    /// Partition side per node; links and dials across sides fail.
    side: HashMap<NodeId, u8>,
    pub rng: Rng,
    pub counts: Counts,
    /// Deliveries per routed message id, per flood (id -> node -> count).
    routed_seen: HashMap<u64, u32>,
    flood_seen: HashMap<u64, HashMap<NodeId, u32>>,
    next_msg: u64,
    cfg: EngineConfig,
    /// Control messages delivered, by kind.
    pub control_counts: BTreeMap<&'static str, u64>,
    ids_cache: std::cell::RefCell<Option<Vec<NodeId>>>,
    /// Dials the engines asked for.
    pub dials: u64,
}

fn control_kind(c: &Control) -> &'static str {
    match c {
        Control::State { reply: false, .. } => "state",
        Control::State { reply: true, .. } => "state-reply",
        Control::Need(_) => "need",
        Control::Join { .. } => "join",
        Control::Leave { .. } => "leave",
        Control::Down { .. } => "down",
    }
}

fn pair(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    (a.min(b), a.max(b))
}

impl Sim {
    pub(crate) fn new(seed: u64) -> Sim {
        Sim::with_config(seed, EngineConfig::default())
    }

    /// A network whose engines run with `cfg`.
    pub(crate) fn with_config(seed: u64, cfg: EngineConfig) -> Sim {
        Sim {
            now: Duration::ZERO,
            nodes: BTreeMap::new(),
            addr_of: HashMap::new(),
            addr_by_node: HashMap::new(),
            links: HashMap::new(),
            next_gen: 0,
            queue: BinaryHeap::new(),
            events: HashMap::new(),
            next_event: 0,
            seq: 0,
            side: HashMap::new(),
            rng: Rng(seed),
            counts: Counts::default(),
            routed_seen: HashMap::new(),
            flood_seen: HashMap::new(),
            next_msg: 0,
            cfg,
            control_counts: BTreeMap::new(),
            ids_cache: std::cell::RefCell::new(None),
            dials: 0,
        }
    }

    fn at(&mut self, when: Duration, ev: Event) {
        let id = self.next_event;
        self.next_event += 1;
        self.seq += 1;
        self.events.insert(id, ev);
        self.queue.push(Reverse((when, self.seq, id)));
    }

    /// Live node ids, sorted (cached between joins and crashes).
    pub(crate) fn ids(&self) -> Vec<NodeId> {
        self.live().to_vec()
    }

    fn live(&self) -> std::cell::Ref<'_, Vec<NodeId>> {
        if self.ids_cache.borrow().is_none() {
            *self.ids_cache.borrow_mut() = Some(self.nodes.keys().copied().collect());
        }
        std::cell::Ref::map(self.ids_cache.borrow(), |c| c.as_ref().expect("filled"))
    }

    /// Adds a node; it dials `seed` (if any) like a node started with `--seed`.
    pub(crate) fn add_node(&mut self, seed: Option<NodeId>) -> NodeId {
        let id = self.rng.id();
        let n = self.addr_of.len() as u32 + 1;
        let addr = SocketAddr::from(([10, (n >> 16) as u8, (n >> 8) as u8, n as u8], 7000));
        self.addr_of.insert(addr, id);
        self.addr_by_node.insert(id, addr);
        let engine = Engine::new(id, vec![addr], self.cfg.clone());
        *self.ids_cache.borrow_mut() = None;
        self.nodes.insert(
            id,
            SimNode {
                engine,
                views: HashMap::new(),
                dedup: Dedup::default(),
                next_seq: 0,
                local: BTreeSet::new(),
            },
        );
        // Ticks start at a random phase, as real nodes do.
        let phase = Duration::from_micros(self.rng.next() % 100_000);
        self.at(self.now + phase, Event::Tick(id));
        if let Some(seed) = seed {
            self.dial(id, seed);
        }
        id
    }

    fn crosses(&self, a: NodeId, b: NodeId) -> bool {
        self.side.get(&a).copied().unwrap_or(0) != self.side.get(&b).copied().unwrap_or(0)
    }

    fn dial(&mut self, from: NodeId, to: NodeId) {
        if from != to && self.nodes.contains_key(&to) && !self.crosses(from, to) {
            self.at(self.now + LINK_SETUP, Event::LinkUp(from, to));
        }
    }

    /// Kills a node without a goodbye: its peers notice after the heartbeat timeout.
    pub(crate) fn crash(&mut self, n: NodeId) {
        let Some(node) = self.nodes.remove(&n) else { return };
        *self.ids_cache.borrow_mut() = None;
        let gone: Vec<(NodeId, NodeId)> = node
            .engine
            .linked()
            .map(|o| pair(n, o))
            .filter(|p| self.links.contains_key(p))
            .collect();
        for (a, b) in gone {
            self.links.remove(&(a, b));
            let other = if a == n { b } else { a };
            self.at(self.now + DETECT, Event::LinkDown(other, n));
        }
    }

    /// Splits the network: nodes for which `side_of` returns different values cannot talk.
    pub(crate) fn partition(&mut self, side_of: impl Fn(NodeId) -> u8) {
        self.side = self.nodes.keys().map(|&n| (n, side_of(n))).collect();
        let cut: Vec<(NodeId, NodeId)> = self
            .links
            .keys()
            .filter(|(a, b)| self.crosses(*a, *b))
            .copied()
            .collect();
        for (a, b) in cut {
            self.links.remove(&(a, b));
            self.at(self.now + DETECT, Event::LinkDown(a, b));
            self.at(self.now + DETECT, Event::LinkDown(b, a));
        }
    }

    /// Ends the partition (discovery then finds the other side).
    pub(crate) fn heal(&mut self) {
        self.side.clear();
    }

    /// Local members of `group` join or leave at node `n`.
    pub(crate) fn set_member(&mut self, n: NodeId, group: &Group, member: bool) {
        let now = self.now;
        let Some(node) = self.nodes.get_mut(&n) else { return };
        if member {
            node.local.insert(group.clone());
            node.engine.set_local(group, Some((1, 16)), now);
        } else {
            node.local.remove(group);
            node.engine.set_local(group, None, now);
        }
        self.pump(n);
    }

    /// Carries out what node `n`'s engine asked for.
    fn pump(&mut self, n: NodeId) {
        let Some(node) = self.nodes.get_mut(&n) else { return };
        let outputs = node.engine.drain();
        for out in outputs {
            match out {
                Output::Send(to, msg) => {
                    if let Some(&gen) = self.links.get(&pair(n, to)) {
                        self.at(self.now + LATENCY, Event::Control { from: n, to, gen, msg });
                    }
                }
                Output::Dial(to, addrs) => {
                    self.dials += 1;
                    if let Some(&target) = addrs.first().and_then(|a| self.addr_of.get(a)) {
                        debug_assert_eq!(target, to);
                        self.dial(n, target);
                    }
                }
                Output::Close(to) => {
                    if self.links.remove(&pair(n, to)).is_some() {
                        self.at(self.now + LATENCY, Event::LinkDown(n, to));
                        self.at(self.now + LATENCY, Event::LinkDown(to, n));
                    }
                }
                Output::View(group, view) => {
                    let node = self.nodes.get_mut(&n).expect("live");
                    match view {
                        Some(v) => node.views.insert(group, v),
                        None => node.views.remove(&group),
                    };
                }
            }
        }
    }

    /// Runs events until virtual time `until`.
    pub(crate) fn run_until(&mut self, until: Duration) {
        while let Some(&Reverse((when, _, id))) = self.queue.peek() {
            if when > until {
                break;
            }
            self.queue.pop();
            self.now = when;
            let ev = self.events.remove(&id).expect("event");
            self.handle(ev);
        }
        self.now = until;
    }

    /// Runs for `d` more virtual time.
    pub(crate) fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn handle(&mut self, ev: Event) {
        let now = self.now;
        match ev {
            Event::Tick(n) => {
                let Some(node) = self.nodes.get_mut(&n) else { return };
                node.engine.tick(now, &|_| false);
                node.dedup.age(600);
                self.pump(n);
                // Discovery: now and then a node finds one it does not know.
                if self.rng.below((PROBE.as_millis() / TICK.as_millis()) as usize) == 0 {
                    let count = self.live().len();
                    let pick = self.rng.below(count);
                    let other = self.live()[pick];
                    if !self.nodes[&n].engine.knows(other) {
                        self.dial(n, other);
                    }
                }
                self.at(now + TICK, Event::Tick(n));
            }
            Event::LinkUp(a, b) => {
                let key = pair(a, b);
                if a == b || self.links.contains_key(&key) || self.crosses(a, b) {
                    return;
                }
                if !self.nodes.contains_key(&a) || !self.nodes.contains_key(&b) {
                    return;
                }
                self.next_gen += 1;
                self.links.insert(key, self.next_gen);
                let (aa, ba) = (self.addr_by_node[&a], self.addr_by_node[&b]);
                self.nodes.get_mut(&a).expect("a").engine.link_up(b, vec![ba], now);
                self.nodes.get_mut(&b).expect("b").engine.link_up(a, vec![aa], now);
                self.pump(a);
                self.pump(b);
            }
            Event::LinkDown(at, peer) => {
                if self.links.contains_key(&pair(at, peer)) {
                    return; // a newer link between them is up
                }
                if let Some(node) = self.nodes.get_mut(&at) {
                    node.engine.link_down(peer, now);
                    self.pump(at);
                }
            }
            Event::Control { from, to, gen, msg } => {
                *self.control_counts.entry(control_kind(&msg)).or_insert(0) += 1;
                if self.links.get(&pair(from, to)) != Some(&gen) {
                    return;
                }
                if let Some(node) = self.nodes.get_mut(&to) {
                    node.engine.receive(from, msg, now);
                    self.pump(to);
                }
            }
            Event::Traffic { from, to, gen, what } => {
                if self.links.get(&pair(from, to)) != Some(&gen) || !self.nodes.contains_key(&to) {
                    return; // lost with its link
                }
                self.traffic_at(to, Some(from), what);
            }
        }
    }

    fn forward(&mut self, from: NodeId, to: NodeId, what: Traffic) {
        if let Some(&gen) = self.links.get(&pair(from, to)) {
            self.at(self.now + LATENCY, Event::Traffic { from, to, gen, what });
        }
    }

    /// The live node responsible for `key`.
    pub(crate) fn owner(&self, key: NodeId) -> NodeId {
        // Nodes are sorted: the owner is a ring neighbour of the key's position.
        let ids = self.live();
        let pos = ids.partition_point(|n| n.0 < key.0);
        let cands = [ids[pos % ids.len()], ids[(pos + ids.len() - 1) % ids.len()]];
        let mut best = cands[0];
        for c in cands {
            if closer(c, best, key) {
                best = c;
            }
        }
        best
    }

    /// Sends a key-routed message from `from`.
    pub(crate) fn send_routed(&mut self, from: NodeId, key: NodeId) -> u64 {
        let id = self.next_msg;
        self.next_msg += 1;
        self.counts.routed += 1;
        self.traffic_at(from, None, Traffic::Routed { id, key, hops: 0 });
        id
    }

    /// Publishes on `group` from node `from`, as the router does.
    pub(crate) fn publish(&mut self, from: NodeId, group: &Group) -> u64 {
        let id = self.next_msg;
        self.next_msg += 1;
        self.flood_seen.insert(id, HashMap::new());
        self.start_flood(from, group, id, 0);
        id
    }

    fn start_flood(&mut self, at: NodeId, group: &Group, id: u64, hops: u32) {
        let node = self.nodes.get_mut(&at).expect("live");
        let seq = node.next_seq;
        node.next_seq += 1;
        let view = node.views.get(group).cloned();
        if node.local.contains(group) {
            self.deliver_flood(id, at);
        }
        match view {
            Some(v) => {
                let direct_ok = v
                    .direct
                    .as_ref()
                    .is_some_and(|d| d.iter().all(|e| self.links.contains_key(&pair(at, e.node))));
                if direct_ok {
                    for e in v.direct.as_ref().expect("direct") {
                        let what = Traffic::Flood {
                            id,
                            group: group.clone(),
                            origin: at,
                            seq,
                            hops: hops + 1,
                            tree: false,
                        };
                        self.forward(at, e.node, what);
                    }
                } else {
                    for t in v.flood_targets(None).collect::<Vec<_>>() {
                        let what = Traffic::Flood {
                            id,
                            group: group.clone(),
                            origin: at,
                            seq,
                            hops: hops + 1,
                            tree: true,
                        };
                        self.forward(at, t, what);
                    }
                }
            }
            None => {
                // Not in the tree: route towards the key until a tree node takes over.
                if let Hop::Node(next) = self.nodes[&at].engine.next_hop(group.key()) {
                    let what = Traffic::Flood {
                        id,
                        group: group.clone(),
                        origin: NodeId(0),
                        seq: 0,
                        hops: hops + 1,
                        tree: false,
                    };
                    self.forward(at, next, what);
                }
            }
        }
    }

    fn deliver_flood(&mut self, id: u64, at: NodeId) {
        let seen = self.flood_seen.entry(id).or_default();
        let count = seen.entry(at).or_insert(0);
        *count += 1;
        if *count > 1 {
            self.counts.flood_dup += 1;
        } else {
            self.counts.flood_delivered += 1;
        }
    }

    fn traffic_at(&mut self, at: NodeId, from: Option<NodeId>, what: Traffic) {
        match what {
            Traffic::Routed { id, key, hops } => match self.nodes[&at].engine.next_hop(key) {
                Hop::Node(next) if hops < 64 => self.forward(
                    at,
                    next,
                    Traffic::Routed {
                        id,
                        key,
                        hops: hops + 1,
                    },
                ),
                Hop::Node(_) => self.counts.routed_looped += 1,
                Hop::Local => {
                    let n = self.routed_seen.entry(id).or_insert(0);
                    *n += 1;
                    if *n > 1 {
                        self.counts.routed_dup += 1;
                    } else if self.owner(key) == at {
                        self.counts.routed_right += 1;
                    } else {
                        self.counts.routed_wrong += 1;
                    }
                    self.counts.hops_max = self.counts.hops_max.max(hops);
                    self.counts.hops_sum += u64::from(hops);
                }
            },
            Traffic::Flood {
                id,
                group,
                origin,
                seq,
                hops,
                tree,
            } => {
                let node = self.nodes.get_mut(&at).expect("live");
                if origin == NodeId(0) {
                    // Routed part: the first node of the tree floods it.
                    if node.views.contains_key(&group) {
                        self.start_flood(at, &group, id, hops);
                    } else if let Hop::Node(next) = node.engine.next_hop(group.key()) {
                        if hops < 64 {
                            let what = Traffic::Flood {
                                id,
                                group,
                                origin,
                                seq,
                                hops: hops + 1,
                                tree,
                            };
                            self.forward(at, next, what);
                        }
                    }
                    return;
                }
                if !tree {
                    if node.local.contains(&group) {
                        self.deliver_flood(id, at);
                    }
                    return;
                }
                if !node.dedup.first_time(origin, seq) {
                    self.counts.flood_suppressed += 1;
                    return;
                }
                let targets: Vec<NodeId> = node
                    .views
                    .get(&group)
                    .map(|v| v.flood_targets(from).collect())
                    .unwrap_or_default();
                if node.local.contains(&group) {
                    self.deliver_flood(id, at);
                }
                for t in targets {
                    let what = Traffic::Flood {
                        id,
                        group: group.clone(),
                        origin,
                        seq,
                        hops: hops + 1,
                        tree,
                    };
                    self.forward(at, t, what);
                }
            }
        }
    }

    /// Deliveries of flood `id`, per node.
    pub(crate) fn flood_receivers(&self, id: u64) -> BTreeSet<NodeId> {
        self.flood_seen
            .get(&id)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Nodes with local members of `group`.
    pub(crate) fn members(&self, group: &Group) -> BTreeSet<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.local.contains(group))
            .map(|(id, _)| *id)
            .collect()
    }

    /// How many nodes have a leaf set that differs from the true one (the nearest live nodes on
    /// each side).
    pub(crate) fn wrong_leaf_sets(&self) -> usize {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        self.wrong_among(&ids)
    }

    fn wrong_among(&self, ids: &[NodeId]) -> usize {
        let n = ids.len();
        let half = self.cfg.leaf_set.div_euclid(2).max(1).min(n.saturating_sub(1));
        let mut wrong = 0;
        for (i, id) in ids.iter().enumerate() {
            let mut truth: BTreeSet<NodeId> = BTreeSet::new();
            for k in 1..=half {
                truth.insert(ids[(i + k) % n]);
                truth.insert(ids[(i + n - k) % n]);
            }
            let have: BTreeSet<NodeId> = self.nodes[id].engine.pastry().leaf_set().collect();
            if have != truth {
                wrong += 1;
            }
        }
        wrong
    }

    /// [`Sim::wrong_leaf_sets`] while partitioned: the truth is the nearest nodes of the same side.
    pub(crate) fn wrong_leaf_sets_within_sides(&self) -> usize {
        let mut wrong = 0;
        for side in [0u8, 1] {
            let ids: Vec<NodeId> = self
                .nodes
                .keys()
                .copied()
                .filter(|n| self.side.get(n).copied().unwrap_or(0) == side)
                .collect();
            wrong += self.wrong_among(&ids);
        }
        wrong
    }

    /// Runs until every leaf set is right (checked every 100 ms); the time it took, or `None`
    /// after `limit`.
    pub(crate) fn converge(&mut self, limit: Duration) -> Option<Duration> {
        let start = self.now;
        while self.now < start + limit {
            if self.wrong_leaf_sets() == 0 {
                return Some(self.now - start);
            }
            self.run_for(Duration::from_millis(100));
        }
        (self.wrong_leaf_sets() == 0).then(|| self.now - start)
    }

    /// Per-node state: (mean, max) Pastry entries and (mean, max) links.
    pub(crate) fn state(&self) -> (f64, usize, f64, usize) {
        let states: Vec<usize> = self.nodes.values().map(|n| n.engine.pastry().state_size()).collect();
        let links: Vec<usize> = self.nodes.values().map(|n| n.engine.linked().count()).collect();
        let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len().max(1) as f64;
        (
            mean(&states),
            states.iter().copied().max().unwrap_or(0),
            mean(&links),
            links.iter().copied().max().unwrap_or(0),
        )
    }

    /// Random keys routed from random nodes; returns the counts of that batch.
    /// Routes `keys` random keys from random nodes; the counts of this batch alone (its own
    /// longest route included).
    pub(crate) fn route_batch(&mut self, keys: usize) -> Counts {
        let before = self.counts.clone();
        self.counts.hops_max = 0;
        let ids = self.ids();
        for _ in 0..keys {
            let from = ids[self.rng.below(ids.len())];
            let key = self.rng.id();
            self.send_routed(from, key);
        }
        self.run_for(Duration::from_millis(200));
        let batch = diff(&self.counts, &before);
        self.counts.hops_max = self.counts.hops_max.max(before.hops_max);
        batch
    }
}

fn diff(a: &Counts, b: &Counts) -> Counts {
    Counts {
        routed: a.routed - b.routed,
        routed_right: a.routed_right - b.routed_right,
        routed_wrong: a.routed_wrong - b.routed_wrong,
        routed_dup: a.routed_dup - b.routed_dup,
        routed_looped: a.routed_looped - b.routed_looped,
        hops_max: a.hops_max,
        hops_sum: a.hops_sum - b.hops_sum,
        flood_delivered: a.flood_delivered - b.flood_delivered,
        flood_suppressed: a.flood_suppressed - b.flood_suppressed,
        flood_dup: a.flood_dup - b.flood_dup,
    }
}

/// ceil(log16 n) + 1: the hop target of the issue.
pub(crate) fn hop_bound(n: usize) -> u32 {
    let mut digits = 0;
    let mut reach = 1usize;
    while reach < n {
        reach = reach.saturating_mul(16);
        digits += 1;
    }
    digits + 1
}

/// What one scenario reports.
#[derive(Debug)]
#[allow(dead_code)] // read through Debug
pub(crate) struct Report {
    nodes: usize,
    join_convergence: Duration,
    dials_per_join: f64,
    /// Hops right after the joins converged.
    hops_max: u32,
    hops_mean: f64,
    /// Hops 10 s later (routing tables filled in by maintenance).
    hops_max_settled: u32,
    hops_mean_settled: f64,
    hop_bound: u32,
    routed: u64,
    routed_wrong: u64,
    /// Routed messages dropped at the hop limit over the whole run, churn included.
    routed_looped: u64,
    state_mean: f64,
    state_max: usize,
    links_mean: f64,
    links_max: usize,
    churn_routed: u64,
    churn_delivered_right: u64,
    churn_lost: u64,
    churn_dup: u64,
    churn_reconvergence: Duration,
    partition_split: Duration,
    flood_member_nodes: usize,
    flood_exact: bool,
    partition_heal: Duration,
    after_heal_flood_exact: bool,
    control_messages: BTreeMap<&'static str, u64>,
    virtual_time: Duration,
}

/// The whole scenario: `n` nodes join through random seeds, converge, route; churn (10 % crash,
/// as many join) while routing; a group with members on 5 % of the nodes gets floods; a partition
/// into halves, heal, re-converge, flood again.
pub(crate) fn scenario(n: usize, seed: u64, cfg: EngineConfig) -> Report {
    let mut sim = Sim::with_config(seed, cfg);
    // Large runs say how far they got (they can take longer than one is willing to wait).
    let wall = std::time::Instant::now();
    let progress = |sim: &Sim, what: &str| {
        if n >= 1000 {
            eprintln!(
                "overlay sim ({n} nodes): {what} at {:?} virtual, {:?} wall",
                sim.now,
                wall.elapsed()
            );
        }
    };
    sim.add_node(None);
    // Joins: a node every 2 ms through a random existing node.
    for i in 1..n {
        let ids = sim.ids();
        let seed_node = ids[sim.rng.below(ids.len())];
        sim.add_node(Some(seed_node));
        sim.run_for(Duration::from_millis(2));
        if i % 1000 == 0 {
            progress(&sim, &format!("{i} joined"));
        }
    }
    let join_convergence = sim
        .converge(Duration::from_secs(120))
        .expect("leaf sets converge after the joins");
    progress(&sim, "converged after the joins");
    let dials_per_join = sim.dials as f64 / n as f64;
    let batch = sim.route_batch(2000);
    // Links nobody needs (made while joining) close after their grace.
    sim.run_for(Duration::from_secs(10));
    let (state_mean, state_max, links_mean, links_max) = sim.state();
    let settled = sim.route_batch(2000);
    progress(&sim, "keys routed, unneeded links closed");

    // Churn: crash 10 %, add as many, while routing keys all along.
    let before = sim.counts.clone();
    let victims: Vec<NodeId> = {
        let ids = sim.ids();
        (0..n / 10)
            .map(|i| ids[(i * 7919) % ids.len()])
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    for v in &victims {
        sim.crash(*v);
        let ids = sim.ids();
        let s = ids[sim.rng.below(ids.len())];
        sim.add_node(Some(s));
        for _ in 0..10 {
            let ids = sim.ids();
            let from = ids[sim.rng.below(ids.len())];
            let key = sim.rng.id();
            sim.send_routed(from, key);
        }
        sim.run_for(Duration::from_millis(50));
    }
    progress(&sim, "churn done");
    let churn_start = sim.now;
    sim.run_for(Duration::from_millis(500));
    let churn = diff(&sim.counts, &before);
    sim.converge(Duration::from_secs(120))
        .expect("leaf sets converge after churn");
    progress(&sim, "converged after churn");
    let churn_reconvergence = sim.now - churn_start;
    let after = sim.route_batch(1000);
    assert_eq!(after.routed_wrong, 0, "after churn every key reaches its owner");

    // A group with members on 5 % of the nodes (at least 3); floods from random nodes.
    let group = Group::topic("sim-topic");
    let ids = sim.ids();
    let members: Vec<NodeId> = (0..(n / 20).max(3))
        .map(|i| ids[(i * 104_729 + 3) % ids.len()])
        .collect();
    for m in &members {
        sim.set_member(*m, &group, true);
    }
    sim.run_for(Duration::from_secs(2));
    let expect = sim.members(&group);
    let mut flood_exact = true;
    let mut ids_sent = Vec::new();
    for i in 0..20 {
        let from = ids[(i * 31 + 1) % ids.len()];
        if sim.nodes.contains_key(&from) {
            ids_sent.push(sim.publish(from, &group));
        }
    }
    sim.run_for(Duration::from_millis(500));
    for id in &ids_sent {
        flood_exact &= sim.flood_receivers(*id) == expect;
    }

    // Partition into two random halves (as two racks losing their uplink), each half
    // re-forms its own ring; then heal: discovery finds the other half and they merge.
    let side: HashMap<NodeId, u8> = sim.ids().into_iter().map(|n| (n, (n.0 >> 17) as u8 & 1)).collect();
    sim.partition(|n| side[&n]);
    let split_at = sim.now;
    let mut split = Duration::ZERO;
    while sim.now < split_at + Duration::from_secs(120) {
        sim.run_for(Duration::from_millis(100));
        if sim.wrong_leaf_sets_within_sides() == 0 {
            split = sim.now - split_at;
            break;
        }
    }
    assert!(split > Duration::ZERO, "each half re-forms its ring");
    sim.run_for(Duration::from_secs(5));
    progress(&sim, "halves re-formed");
    sim.heal();
    let healed_at = sim.now;
    sim.converge(Duration::from_secs(600))
        .expect("the halves merge after the partition heals");
    let partition_heal = sim.now - healed_at;
    sim.run_for(Duration::from_secs(3));
    let mut after_heal_flood_exact = true;
    let ids = sim.ids();
    let mut sent = Vec::new();
    for i in 0..20 {
        sent.push(sim.publish(ids[(i * 17 + 5) % ids.len()], &group));
    }
    sim.run_for(Duration::from_millis(500));
    for id in &sent {
        after_heal_flood_exact &= sim.flood_receivers(*id) == expect;
    }
    Report {
        nodes: sim.nodes.len(),
        join_convergence,
        dials_per_join,
        hops_max: batch.hops_max,
        hops_mean: batch.hops_sum as f64 / batch.routed.max(1) as f64,
        hops_max_settled: settled.hops_max,
        hops_mean_settled: settled.hops_sum as f64 / settled.routed.max(1) as f64,
        hop_bound: hop_bound(n),
        routed: batch.routed + settled.routed,
        routed_wrong: batch.routed_wrong + settled.routed_wrong,
        routed_looped: sim.counts.routed_looped,
        state_mean,
        state_max,
        links_mean,
        links_max,
        churn_routed: churn.routed,
        churn_delivered_right: churn.routed_right,
        churn_lost: churn.routed - churn.routed_right - churn.routed_wrong - churn.routed_dup,
        churn_dup: churn.routed_dup + churn.flood_dup,
        churn_reconvergence,
        partition_split: split,
        flood_member_nodes: expect.len(),
        flood_exact,
        partition_heal,
        after_heal_flood_exact,
        control_messages: sim.control_counts.clone(),
        virtual_time: sim.now,
    }
}

fn check(n: usize, seed: u64) -> Report {
    check_with(n, seed, EngineConfig::default())
}

fn check_with(n: usize, seed: u64, cfg: EngineConfig) -> Report {
    let report = scenario(n, seed, cfg);
    eprintln!("overlay sim: {report:#?}");
    assert_eq!(report.routed_wrong, 0, "every key reaches its numerically closest node");
    assert_eq!(report.routed_looped, 0, "no route cycles, churn included");
    assert!(
        report.hops_max <= report.hop_bound,
        "{} hops > {}",
        report.hops_max,
        report.hop_bound
    );
    assert_eq!(report.churn_dup, 0, "nothing is delivered twice, churn included");
    assert!(report.flood_exact, "every flood reaches exactly the member nodes");
    assert!(
        report.after_heal_flood_exact,
        "after the partition heals, floods reach every member node again"
    );
    report
}

#[test]
fn a_hundred_and_fifty_nodes_converge_route_survive_churn_and_heal() {
    let report = check(150, 0x1715);
    assert!(
        report.state_max < 150,
        "state stays below a full mesh: {}",
        report.state_max
    );
}

#[test]
fn deep_trees_with_a_small_leaf_set_and_no_direct_delivery() {
    // Few nodes, but routes of several hops and floods that must cross the trees.
    let cfg = EngineConfig {
        leaf_set: 4,
        direct_max: 0,
        ..EngineConfig::default()
    };
    let report = check_with(60, 0x5eed, cfg);
    assert!(report.hops_max >= 2, "multi-hop routes: {report:?}");
}

#[test]
fn members_coming_and_going_leave_no_tree_state_behind() {
    let cfg = EngineConfig {
        leaf_set: 4,
        direct_max: 2,
        ..EngineConfig::default()
    };
    let mut sim = Sim::with_config(11, cfg);
    sim.add_node(None);
    for _ in 1..40 {
        let ids = sim.ids();
        let s = ids[sim.rng.below(ids.len())];
        sim.add_node(Some(s));
        sim.run_for(Duration::from_millis(2));
    }
    sim.converge(Duration::from_secs(30)).expect("converges");
    let ids = sim.ids();
    let groups: Vec<Group> = (0..8).map(|i| Group::topic(format!("t{i}"))).collect();
    for round in 0..30 {
        for (i, g) in groups.iter().enumerate() {
            let n = ids[(round * 7 + i * 13) % ids.len()];
            sim.set_member(n, g, round % 3 != 2);
        }
        sim.run_for(Duration::from_millis(30));
    }
    sim.run_for(Duration::from_secs(1));
    // Everything still subscribed is reachable exactly once...
    for g in &groups {
        let expect = sim.members(g);
        let id = sim.publish(ids[3], g);
        sim.run_for(Duration::from_millis(200));
        assert_eq!(sim.flood_receivers(id), expect, "{g:?}");
    }
    // ...and once every member left, no node holds any tree state or view.
    for g in &groups {
        for n in sim.members(g) {
            sim.set_member(n, g, false);
        }
    }
    sim.run_for(Duration::from_secs(1));
    for n in sim.ids() {
        let node = &sim.nodes[&n];
        assert_eq!(node.engine.groups().count(), 0, "tree state left on {n}");
        assert!(node.views.is_empty(), "views left on {n}");
    }
}

#[test]
fn a_small_network_is_a_full_mesh_with_one_hop() {
    let mut sim = Sim::new(7);
    let first = sim.add_node(None);
    for _ in 0..9 {
        sim.add_node(Some(first));
    }
    sim.converge(Duration::from_secs(10)).expect("converges");
    let (_, _, links_mean, _) = sim.state();
    assert_eq!(links_mean, 9.0, "everyone links to everyone");
    let batch = sim.route_batch(500);
    assert_eq!((batch.routed_right, batch.hops_max), (500, 1));
    let group = Group::cluster("svc");
    let ids = sim.ids();
    for m in &ids[..4] {
        sim.set_member(*m, &group, true);
    }
    sim.run_for(Duration::from_secs(1));
    for from in &ids {
        let v = sim.nodes[from].views.get(&group);
        if let Some(v) = v {
            assert!(v.direct.is_some(), "small groups are listed: {v:?}");
        }
    }
    let id = sim.publish(ids[9], &group);
    sim.run_for(Duration::from_millis(100));
    assert_eq!(sim.flood_receivers(id), ids[..4].iter().copied().collect());
    // Unneeded links never appear in a full mesh; crash one node: the rest stays a full mesh.
    sim.crash(ids[5]);
    sim.run_for(Duration::from_secs(4));
    assert_eq!(sim.state().2, 8.0);
}

#[test]
#[ignore = "larger runs: cargo test --release -p iris-node --lib overlay::sim -- --ignored --nocapture"]
fn thousands_of_nodes() {
    check(1000, 0x1000);
    check(10_000, 0x10000);
}

#[test]
#[ignore = "cargo test --release -p iris-node --lib overlay::sim::ten_thousand -- --ignored --nocapture"]
fn ten_thousand_nodes() {
    check(10_000, 0x10000);
}

#[test]
#[ignore = "cargo test --release -p iris-node --lib overlay::sim::three_thousand -- --ignored --nocapture"]
fn three_thousand_nodes() {
    check(3000, 0x3000);
}

#[test]
#[ignore = "cargo test --release -p iris-node --lib overlay::sim::one_thousand -- --ignored --nocapture"]
fn one_thousand_nodes() {
    check(1000, 0x1000);
}
