//! A deterministic in-process simulation of Pastry routing (no sockets, no clock): nodes join one
//! by one through a random bootstrap node, learn the state of the nodes on their join route, and
//! announce themselves to every node they learnt of. Reports hop counts, correctness (the route
//! ends at the numerically closest live node) and per-node state.
//!
//! CI runs 200 nodes; `cargo test -p iris-node --release --lib overlay::sim -- --ignored
//! --nocapture` runs 1,000 and 10,000.

use super::membership::NodeId;
use super::pastry::{ring_distance, Pastry};
use super::routing::{Hop, Routing};
use std::collections::BTreeMap;

/// A tiny deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn id(&mut self) -> NodeId {
        NodeId((u128::from(self.next()) << 64) | u128::from(self.next()))
    }
}

/// The simulated network.
struct Sim {
    nodes: BTreeMap<NodeId, Pastry>,
}

/// Results of routing many keys (all fields are reported through `Debug`).
#[derive(Debug)]
#[allow(dead_code)]
struct Stats {
    nodes: usize,
    max_hops: usize,
    mean_hops: f64,
    wrong: usize,
    mean_state: f64,
    max_state: usize,
}

impl Sim {
    /// Routes `key` from `from`; returns the path (excluding `from`).
    fn route(&self, from: NodeId, key: NodeId) -> Vec<NodeId> {
        let mut path = Vec::new();
        let mut at = from;
        while let Hop::Node(next) = self.nodes[&at].next_hop(key) {
            path.push(next);
            at = next;
            assert!(path.len() <= 64, "routing loop for {key:?}");
        }
        path
    }

    fn join(&mut self, id: NodeId, rng: &mut Rng) {
        let mut state = Pastry::new(id);
        if !self.nodes.is_empty() {
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            let bootstrap = ids[(rng.next() % ids.len() as u64) as usize];
            let mut path = vec![bootstrap];
            path.extend(self.route(bootstrap, id));
            for hop in &path {
                state.add(*hop);
                for n in self.nodes[hop].known() {
                    state.add(n);
                }
            }
            for n in state.known() {
                if let Some(other) = self.nodes.get_mut(&n) {
                    other.add(id);
                }
            }
        }
        self.nodes.insert(id, state);
    }

    fn closest(&self, key: NodeId) -> NodeId {
        let mut best = None;
        for &n in self.nodes.keys() {
            let d = ring_distance(n, key);
            let better = match best {
                None => true,
                Some((bd, bn)) => d < bd || (d == bd && n < bn),
            };
            if better {
                best = Some((d, n));
            }
        }
        best.expect("nodes").1
    }

    fn measure(&self, keys: usize, rng: &mut Rng) -> Stats {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let (mut total, mut max_hops, mut wrong) = (0usize, 0usize, 0usize);
        for _ in 0..keys {
            let from = ids[(rng.next() % ids.len() as u64) as usize];
            let key = rng.id();
            let path = self.route(from, key);
            let end = path.last().copied().unwrap_or(from);
            if end != self.closest(key) {
                wrong += 1;
            }
            total += path.len();
            max_hops = max_hops.max(path.len());
        }
        let states: Vec<usize> = self.nodes.values().map(|p| p.state_size()).collect();
        Stats {
            nodes: ids.len(),
            max_hops,
            mean_hops: total as f64 / keys as f64,
            wrong,
            mean_state: states.iter().sum::<usize>() as f64 / states.len() as f64,
            max_state: states.iter().copied().max().unwrap_or(0),
        }
    }
}

fn build(n: usize, seed: u64) -> (Sim, Rng) {
    let mut rng = Rng(seed);
    let mut sim = Sim { nodes: BTreeMap::new() };
    for _ in 0..n {
        let id = rng.id();
        sim.join(id, &mut rng);
    }
    (sim, rng)
}

/// ceil(log16 n) + 1: the hop target of the issue.
fn hop_bound(n: usize) -> usize {
    let mut digits = 0;
    let mut reach = 1usize;
    while reach < n {
        reach = reach.saturating_mul(16);
        digits += 1;
    }
    digits + 1
}

fn check(n: usize, keys: usize) -> Stats {
    let (sim, mut rng) = build(n, 0x1715 + n as u64);
    let stats = sim.measure(keys, &mut rng);
    eprintln!("pastry sim: {stats:?} (hop bound {})", hop_bound(n));
    assert_eq!(stats.wrong, 0, "every key reaches its numerically closest node");
    assert!(
        stats.max_hops <= hop_bound(n),
        "{} hops > {}",
        stats.max_hops,
        hop_bound(n)
    );
    stats
}

#[test]
fn two_hundred_nodes_route_every_key_to_its_owner_in_logarithmic_hops() {
    let stats = check(200, 2000);
    assert!(
        stats.max_state < 200,
        "state stays below a full mesh: {}",
        stats.max_state
    );
}

#[test]
#[ignore = "larger run: cargo test --release -p iris-node --lib overlay::sim -- --ignored --nocapture"]
fn thousands_of_nodes() {
    check(1000, 5000);
    check(10_000, 5000);
}
