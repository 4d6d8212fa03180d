//! Cluster membership, member selection and broadcast.
//!
//! Tables keyed by [`ByteStr`] are always queried with a `ByteStr`, never a `&str`: `ByteStr`'s
//! hash is that of its bytes, which differs from `str`'s, so a `&str` lookup would miss.

use super::destination::{Destination, DestinationKey};
use super::remote_in::LocalChange;
use super::Router;
use crate::overlay::wire::{ClusterLoad, Wire};
use bytes::Bytes;
use iris_client::codec::{ByteStr, NodeFrame};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};

/// The members of one cluster.
#[derive(Default)]
pub(super) struct Cluster {
    /// Copied on write: membership changes are rare, routing is hot.
    members: Arc<Vec<Destination>>,
    /// Where the next selection starts scanning, so equally loaded members take turns.
    cursor: AtomicUsize,
    /// How many of `members` are other nodes (0: the plain local scan applies).
    remote_count: usize,
}

/// Weight of one local member for cross-node selection and in the spare capacity this node
/// reports: 16 when idle, shrinking with its outstanding requests, 0 when far behind.
fn local_weight(m: &Destination) -> u32 {
    if !m.has_room() {
        return 0;
    }
    (16 / (1 + m.load())).max(1) as u32
}

impl Router {
    pub(super) fn join(&self, cluster: &ByteStr, member: Destination) {
        let mut clusters = self.clusters.write().unwrap_or_else(PoisonError::into_inner);
        let entry = clusters.entry(cluster.clone()).or_default();
        let key = member.key();
        let local = member.is_local();
        if !entry.members.iter().any(|m| m.key() == key) {
            Arc::make_mut(&mut entry.members).push(member);
        }
        if local {
            entry.remote_count = entry.members.iter().filter(|m| !m.is_local()).count();
            drop(clusters);
            self.notify(LocalChange::Cluster(cluster.clone()));
        } else {
            entry.remote_count = entry.members.iter().filter(|m| !m.is_local()).count();
        }
    }

    pub(super) fn leave(&self, cluster: &ByteStr, key: DestinationKey) {
        let mut clusters = self.clusters.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = clusters.get_mut(cluster) {
            Arc::make_mut(&mut entry.members).retain(|m| m.key() != key);
            entry.remote_count = entry.members.iter().filter(|m| !m.is_local()).count();
            if entry.members.is_empty() {
                clusters.remove(cluster);
            }
        }
        drop(clusters);
        if matches!(key, DestinationKey::Local(_)) {
            self.notify(LocalChange::Cluster(cluster.clone()));
        }
    }

    /// This node's own members of `cluster` and their spare capacity, as announced to peers.
    pub fn local_cluster_load(&self, cluster: &ByteStr) -> ClusterLoad {
        let Some(members) = self.members(cluster) else {
            return ClusterLoad { members: 0, spare: 0 };
        };
        let mut load = ClusterLoad { members: 0, spare: 0 };
        for m in members.iter().filter(|m| m.is_local()) {
            load.members += 1;
            load.spare += local_weight(m);
        }
        load
    }

    /// Every cluster with at least one local member.
    pub fn local_clusters(&self) -> Vec<ByteStr> {
        let clusters = self.clusters.read().unwrap_or_else(PoisonError::into_inner);
        clusters
            .iter()
            .filter(|(_, c)| c.members.iter().any(|m| m.is_local()))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Weighted choice across nodes: each local member weighs [`local_weight`], each other node
    /// what it last reported as spare capacity (at least 1, so a busy node is disfavoured but
    /// still reachable). Destinations whose output is far behind weigh 0. `None` when everything
    /// weighs 0 (the caller falls back to the plain scan, which sheds).
    fn pick_weighted(&self, cluster: &ByteStr, members: &[Destination]) -> Option<Destination> {
        let weight = |m: &Destination| -> u64 {
            if !m.has_room() {
                return 0;
            }
            match m {
                Destination::Local(_) => u64::from(local_weight(m)),
                // Its report lags by up to one interval, so requests this node has in flight to
                // it discount it meanwhile.
                Destination::Remote(r) => r.cluster_load(cluster).map_or(0, |l| {
                    let members = u64::from(l.members.max(1));
                    (u64::from(l.spare) * members / (members + r.load() as u64)).max(1)
                }),
            }
        };
        let weights: Vec<u64> = members.iter().map(weight).collect();
        let total: u64 = weights.iter().sum();
        if total == 0 {
            return None;
        }
        let mut point = self.next_random() % total;
        for (m, w) in members.iter().zip(weights) {
            if point < w {
                return Some(m.clone());
            }
            point -= w;
        }
        None
    }

    /// xorshift64*: cheap, lock-free, good enough to spread requests.
    fn next_random(&self) -> u64 {
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Picks the member for one request or tunnel: one that is keeping up with its output if any
    /// is, and among those the least loaded (fewest outstanding delivered requests); among equals
    /// the scan starts one further each time, so every member takes a share even when all are
    /// idle.
    ///
    /// With `local_only` (work that arrived from another node) only local members are
    /// candidates. When other nodes host members too, the choice is weighted by spare capacity
    /// (see `pick_weighted`).
    pub(super) fn pick_member(&self, cluster: &ByteStr, local_only: bool) -> Option<Destination> {
        let clusters = self.clusters.read().unwrap_or_else(PoisonError::into_inner);
        let entry = clusters.get(cluster)?;
        let filtered;
        let members: &[Destination] = if entry.remote_count == 0 {
            &entry.members
        } else if local_only {
            filtered = entry
                .members
                .iter()
                .filter(|m| m.is_local())
                .cloned()
                .collect::<Vec<_>>();
            &filtered
        } else {
            if let Some(pick) = self.pick_weighted(cluster, &entry.members) {
                return Some(pick);
            }
            &entry.members
        };
        let n = members.len();
        if n == 0 {
            return None;
        }
        let start = entry.cursor.fetch_add(1, Ordering::Relaxed) % n;
        // Lower is better: (behind on output, outstanding requests).
        let rank = |m: &Destination| (!m.has_room(), m.load());
        let mut best = &members[start];
        let mut best_rank = rank(best);
        for i in 1..n {
            if best_rank == (false, 0) {
                break;
            }
            let candidate = &members[(start + i) % n];
            let candidate_rank = rank(candidate);
            if candidate_rank < best_rank {
                best = candidate;
                best_rank = candidate_rank;
            }
        }
        Some(best.clone())
    }

    /// The current members of `cluster` (a snapshot).
    pub(super) fn members(&self, cluster: &ByteStr) -> Option<Arc<Vec<Destination>>> {
        let clusters = self.clusters.read().unwrap_or_else(PoisonError::into_inner);
        clusters.get(cluster).map(|c| c.members.clone())
    }

    /// Sends `message` to every member of `cluster`, the sender too if it is one. Best effort.
    /// Each other node hosting members gets one copy and delivers it to its own members.
    pub fn broadcast(&self, cluster: &ByteStr, message: Bytes) {
        self.broadcast_to(cluster, message, false);
    }

    /// [`Router::broadcast`]; with `local_only` (it came from another node) only local members.
    pub(super) fn broadcast_to(&self, cluster: &ByteStr, message: Bytes, local_only: bool) {
        let Some(members) = self.members(cluster) else { return };
        let mut wire = None;
        let frame = NodeFrame::Broadcast {
            message: message.clone(),
        };
        for member in members.iter() {
            match member {
                Destination::Local(_) => member.send_best_effort(&frame, "broadcast"),
                Destination::Remote(remote) if !local_only => {
                    let msg = wire.get_or_insert_with(|| Wire::Broadcast {
                        cluster: cluster.clone(),
                        message: message.clone(),
                    });
                    remote.send_wire_best_effort(msg, "broadcast");
                }
                Destination::Remote(_) => {}
            }
        }
    }

    /// How many destinations `cluster` has: local members plus nodes hosting members (tests and
    /// diagnostics).
    pub fn member_count(&self, cluster: &str) -> usize {
        self.members(&ByteStr::from(cluster)).map_or(0, |m| m.len())
    }
}
