//! Cluster membership, member selection and broadcast.
//!
//! Tables keyed by [`ByteStr`] are always queried with a `ByteStr`, never a `&str`: `ByteStr`'s
//! hash is that of its bytes, which differs from `str`'s, so a `&str` lookup would miss.

use super::destination::{ConnId, Destination, DestinationKey};
use super::Router;
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
}

impl Router {
    pub(super) fn join(&self, cluster: &ByteStr, member: Destination) {
        let mut clusters = self.clusters.write().unwrap_or_else(PoisonError::into_inner);
        let entry = clusters.entry(cluster.clone()).or_default();
        let key = member.key();
        if !entry.members.iter().any(|m| m.key() == key) {
            Arc::make_mut(&mut entry.members).push(member);
        }
    }

    pub(super) fn leave(&self, cluster: &ByteStr, id: ConnId) {
        let mut clusters = self.clusters.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = clusters.get_mut(cluster) {
            Arc::make_mut(&mut entry.members).retain(|m| m.key() != DestinationKey::Local(id));
            if entry.members.is_empty() {
                clusters.remove(cluster);
            }
        }
    }

    /// Picks the member for one request or tunnel: one that is keeping up with its output if any
    /// is, and among those the least loaded (fewest outstanding delivered requests); among equals
    /// the scan starts one further each time, so every member takes a share even when all are
    /// idle.
    pub(super) fn pick_member(&self, cluster: &ByteStr) -> Option<Destination> {
        let clusters = self.clusters.read().unwrap_or_else(PoisonError::into_inner);
        let entry = clusters.get(cluster)?;
        let members = &entry.members;
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
    pub fn broadcast(&self, cluster: &ByteStr, message: Bytes) {
        let Some(members) = self.members(cluster) else { return };
        let frame = NodeFrame::Broadcast { message };
        for member in members.iter() {
            member.send_best_effort(&frame, "broadcast");
        }
    }

    /// How many members `cluster` has (for tests and diagnostics).
    pub fn member_count(&self, cluster: &str) -> usize {
        self.members(&ByteStr::from(cluster)).map_or(0, |m| m.len())
    }
}
