//! Cluster membership, member selection and broadcast.
//!
//! Tables keyed by [`ByteStr`] are always queried with a `ByteStr`, never a `&str`: `ByteStr`'s
//! hash is that of its bytes, which differs from `str`'s, so a `&str` lookup would miss.

use super::destination::{Destination, DestinationKey};
use super::remote_in::LocalChange;
use super::views::{pick_weighted, Arrival, RemoteChoice, RemoteView};
use super::Router;
use crate::overlay::scribe::Group;
use crate::overlay::wire::{Via, Wire};
use bytes::Bytes;
use iris_client::codec::{ByteStr, NodeFrame};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};

/// A cluster as this node sees it: its local members and how it reaches the others.
#[derive(Default)]
pub(super) struct Cluster {
    /// Local members. Copied on write: membership changes are rare, routing is hot.
    members: Arc<Vec<Destination>>,
    /// Where the next selection starts scanning, so equally loaded members take turns.
    cursor: AtomicUsize,
    /// Other nodes, as the overlay last described them (`None`: this node is not in the tree).
    remote: Option<Arc<RemoteView>>,
    /// A local client sent to the cluster since the overlay last looked.
    used: AtomicBool,
}

/// A cluster's local members and remote view, as of one moment.
pub(super) type Snapshot = (Arc<Vec<Destination>>, Option<Arc<RemoteView>>);

/// Where one request or tunnel construction goes.
pub(super) enum Choice {
    /// A local member.
    Local(Destination),
    /// Another node, travelling as `via`.
    Remote(RemoteChoice),
    /// Nobody.
    None,
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
        if !entry.members.iter().any(|m| m.key() == key) {
            Arc::make_mut(&mut entry.members).push(member);
        }
        drop(clusters);
        self.notify(LocalChange::Cluster(cluster.clone()));
    }

    pub(super) fn leave(&self, cluster: &ByteStr, key: DestinationKey) {
        let mut clusters = self.clusters.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = clusters.get_mut(cluster) {
            Arc::make_mut(&mut entry.members).retain(|m| m.key() != key);
            if entry.members.is_empty() && entry.remote.is_none() {
                clusters.remove(cluster);
            }
        }
        drop(clusters);
        self.notify(LocalChange::Cluster(cluster.clone()));
    }

    /// Installs how `cluster` reaches other nodes (`None`: this node left its tree).
    pub fn set_cluster_view(&self, cluster: &ByteStr, view: Option<RemoteView>) {
        let mut clusters = self.clusters.write().unwrap_or_else(PoisonError::into_inner);
        match view {
            Some(view) => clusters.entry(cluster.clone()).or_default().remote = Some(Arc::new(view)),
            None => {
                if let Some(entry) = clusters.get_mut(cluster) {
                    entry.remote = None;
                    if entry.members.is_empty() {
                        clusters.remove(cluster);
                    }
                }
            }
        }
    }

    /// This node's own members of `cluster` and their spare capacity (what the overlay reports).
    pub fn local_cluster_load(&self, cluster: &ByteStr) -> (u32, u32) {
        let Some((members, _)) = self.cluster(cluster) else {
            return (0, 0);
        };
        members
            .iter()
            .fold((0, 0), |(n, spare), m| (n + 1, spare + local_weight(m)))
    }

    /// Every cluster with at least one local member.
    pub fn local_clusters(&self) -> Vec<ByteStr> {
        let clusters = self.clusters.read().unwrap_or_else(PoisonError::into_inner);
        clusters
            .iter()
            .filter(|(_, c)| !c.members.is_empty())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Clusters local clients sent to since the last call (the overlay keeps this node in their
    /// trees as a listener); entries left with nothing are dropped.
    pub fn take_used_clusters(&self) -> Vec<ByteStr> {
        let mut clusters = self.clusters.write().unwrap_or_else(PoisonError::into_inner);
        let used = clusters
            .iter()
            .filter(|(_, c)| c.used.swap(false, Ordering::Relaxed))
            .map(|(n, _)| n.clone())
            .collect();
        clusters.retain(|_, c| !c.members.is_empty() || c.remote.is_some() || c.used.load(Ordering::Relaxed));
        used
    }

    /// Notes that a local client sends to `cluster`; the first use tells the overlay at once.
    fn note_cluster_use(&self, cluster: &ByteStr) {
        if self.hooks().is_none() {
            return;
        }
        {
            let clusters = self.clusters.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = clusters.get(cluster) {
                if entry.used.swap(true, Ordering::Relaxed) || entry.remote.is_some() {
                    return;
                }
                drop(clusters);
                self.notify(LocalChange::Used(Group::cluster(cluster.clone())));
                return;
            }
        }
        let mut clusters = self.clusters.write().unwrap_or_else(PoisonError::into_inner);
        let entry = clusters.entry(cluster.clone()).or_default();
        if !entry.used.swap(true, Ordering::Relaxed) && entry.remote.is_none() {
            drop(clusters);
            self.notify(LocalChange::Used(Group::cluster(cluster.clone())));
        }
    }

    /// xorshift64*: cheap, lock-free, good enough to spread requests.
    pub(super) fn next_random(&self) -> u64 {
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The local members and the remote view of `cluster` (snapshots).
    pub(super) fn cluster(&self, cluster: &ByteStr) -> Option<Snapshot> {
        let clusters = self.clusters.read().unwrap_or_else(PoisonError::into_inner);
        clusters.get(cluster).map(|c| (c.members.clone(), c.remote.clone()))
    }

    /// Picks where one request or tunnel construction goes.
    ///
    /// With local members only, the single-node rule: a member keeping up with its output if any
    /// is, and among those the least loaded (fewest outstanding delivered requests); among equals
    /// the scan starts one further each time, so every member takes a share even when all are
    /// idle. When other nodes host members too, a weighted random choice by spare capacity: a
    /// local member weighs [`local_weight`], another node (direct) or tree direction its reported
    /// spare capacity discounted by what this node has in flight to it. A node outside the
    /// cluster's tree routes it towards the cluster's key.
    pub(super) fn choose(&self, cluster: &ByteStr, arrival: &Arrival) -> Choice {
        if matches!(arrival, Arrival::Client) {
            self.note_cluster_use(cluster);
        }
        let (members, view) = {
            let clusters = self.clusters.read().unwrap_or_else(PoisonError::into_inner);
            match clusters.get(cluster) {
                // The single-node case, decided under one read lock (the hot path).
                Some(c) if c.remote.is_none() && !c.members.is_empty() => {
                    return scan(&c.members, c.cursor.fetch_add(1, Ordering::Relaxed));
                }
                Some(c) => (c.members.clone(), c.remote.clone()),
                None => Default::default(),
            }
        };
        let remote = self.remote_candidates(view.as_deref(), arrival);
        let Some(remote) = remote else {
            // Outside the tree (or no overlay).
            if !members.is_empty() {
                return self.scan(cluster, &members);
            }
            if arrival.local_only() || !arrival.may_forward() {
                return Choice::None;
            }
            return match self.route_hop(&Group::cluster(cluster.clone())) {
                Some(peer) => Choice::Remote(RemoteChoice {
                    peer,
                    via: Via::Route {
                        hops: arrival.next_hops(),
                    },
                    weight: 1,
                }),
                None => Choice::None,
            };
        };
        if remote.is_empty() {
            return self.scan(cluster, &members);
        }
        let mut weights: Vec<u64> = members.iter().map(|m| u64::from(local_weight(m))).collect();
        weights.extend(remote.iter().map(|r| r.weight));
        match pick_weighted(&weights, self.next_random()) {
            Some(i) if i < members.len() => Choice::Local(members[i].clone()),
            Some(i) => Choice::Remote(remote.into_iter().nth(i - members.len()).expect("index")),
            // Everything is far behind: the local scan sheds, or the first remote (which sheds).
            None if !members.is_empty() => self.scan(cluster, &members),
            None => Choice::Remote(remote.into_iter().next().expect("non-empty")),
        }
    }

    /// [`scan`] with the cluster's cursor.
    fn scan(&self, cluster: &ByteStr, members: &[Destination]) -> Choice {
        let turn = {
            let clusters = self.clusters.read().unwrap_or_else(PoisonError::into_inner);
            clusters
                .get(cluster)
                .map_or(0, |c| c.cursor.fetch_add(1, Ordering::Relaxed))
        };
        scan(members, turn)
    }

    /// Sends `message` to every member of `cluster`, the sender too if it is one. Best effort.
    pub fn broadcast(&self, cluster: &ByteStr, message: Bytes) {
        self.note_cluster_use(cluster);
        self.broadcast_to(cluster, message, &Arrival::Client);
    }

    /// [`Router::broadcast`] for a message that arrived as `arrival` (see `views.rs`).
    pub(super) fn broadcast_to(&self, cluster: &ByteStr, message: Bytes, arrival: &Arrival) {
        let (members, view) = self.cluster(cluster).unwrap_or_default();
        let group = Group::cluster(cluster.clone());
        let fresh = self.fan_out(&group, view.as_deref(), arrival, |peer, via| {
            peer.mark_used();
            peer.send_wire_best_effort(
                &Wire::Broadcast {
                    cluster: cluster.clone(),
                    message: message.clone(),
                    via,
                },
                "broadcast",
            );
        });
        if !fresh {
            return;
        }
        let frame = NodeFrame::Broadcast { message };
        for member in members.iter() {
            member.send_best_effort(&frame, "broadcast");
        }
    }

    /// How many local members `cluster` has plus nodes listed for it (tests and diagnostics).
    pub fn member_count(&self, cluster: &str) -> usize {
        self.cluster(&ByteStr::from(cluster)).map_or(0, |(m, v)| {
            m.len()
                + v.and_then(|v| v.direct.as_ref().map(|d| d.iter().filter(|d| d.members > 0).count()))
                    .unwrap_or(0)
        })
    }
}

/// The single-node rule over local members (see [`Router::choose`]); `turn` rotates the start.
fn scan(members: &[Destination], turn: usize) -> Choice {
    let n = members.len();
    if n == 0 {
        return Choice::None;
    }
    let start = turn % n;
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
    Choice::Local(best.clone())
}
