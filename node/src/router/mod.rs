//! The local router: clusters and their members, topics and their subscribers, requests in flight
//! and tunnels. It decides where each routed frame goes; the relay only decodes and encodes.
//!
//! Methods are called by the reader task of the connection that sent the frame, so one client's
//! operations are handled in order and no task exists per request. Locks are held only for table
//! lookups and buffer appends, never across I/O.

mod clusters;
mod destination;
mod remote_in;
mod requests;
mod timer;
mod topics;
mod tunnel;
mod tunnels;
mod views;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_remote;

pub use destination::{ConnId, Destination, DestinationKey, LocalPeer};
pub use remote_in::LocalChange;
pub(crate) use requests::PendingRequest;
pub(crate) use tunnels::{PendingBuild, TunnelSlot};
pub use tunnels::{INITIAL_TUNNEL_ALLOWANCE, TUNNEL_CHUNK_LIMIT};
pub use views::{LinkFuture, OverlayHooks, RemoteDir, RemoteView};

use clusters::Cluster;
use iris_client::codec::ByteStr;
#[cfg(test)]
use iris_client::codec::ReplyOutcome;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use timer::{Expiry, Timer};
use topics::Topic;

/// A client broke the protocol in a way only the router can see (e.g. reused a tunnel id); the
/// connection that did it is dropped with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Violation(pub String);

/// The routing tables of one node.
pub struct Router {
    clusters: RwLock<HashMap<ByteStr, Cluster>>,
    /// Subscribers per topic, copied on write so publishing clones one `Arc` under the read lock.
    topics: RwLock<HashMap<ByteStr, Topic>>,
    timer: Timer,
    /// Requests not delivered because every member was far behind (for rate-limited logging).
    shed: AtomicU64,
    /// Distinguishes tunnel slots that reuse a tunnel id (see `Expiry::UnroutedBuild`).
    next_token: AtomicU64,
    /// State of the cheap generator behind weighted member selection.
    rng: AtomicU64,
    /// Told when this node's own clusters or topics change (the overlay announces them).
    observer: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<LocalChange>>,
    /// The overlay, when this node has one.
    overlay: std::sync::OnceLock<Arc<dyn OverlayHooks>>,
    /// Sequence numbers of the tree floods this node starts.
    flood_seq: AtomicU64,
    /// Tree floods already seen (duplicate suppression).
    dedup: std::sync::Mutex<crate::overlay::scribe::Dedup>,
}

impl Router {
    /// An empty router. Call [`Router::start_timer`] inside a runtime before routing.
    pub fn new() -> Arc<Router> {
        Arc::new(Router {
            clusters: RwLock::default(),
            topics: RwLock::default(),
            timer: Timer::new(),
            shed: AtomicU64::new(0),
            next_token: AtomicU64::new(0),
            rng: AtomicU64::new(seed()),
            observer: std::sync::OnceLock::new(),
            overlay: std::sync::OnceLock::new(),
            flood_seq: AtomicU64::new(0),
            dedup: std::sync::Mutex::default(),
        })
    }

    /// Spawns the task that enforces every deadline; abort the handle to stop it.
    pub fn start_timer(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(Timer::run(self.clone()))
    }

    /// Registers the one observer of local membership changes (the overlay); later calls are
    /// ignored.
    pub fn set_observer(&self, observer: tokio::sync::mpsc::UnboundedSender<LocalChange>) {
        let _ = self.observer.set(observer);
    }

    fn notify(&self, change: LocalChange) {
        if let Some(observer) = self.observer.get() {
            let _ = observer.send(change);
        }
    }

    /// Makes a freshly handshaken connection routable (joins its cluster, if any).
    pub fn attach(&self, peer: &Arc<LocalPeer>) {
        if let Some(cluster) = &peer.cluster {
            self.join(cluster, Destination::Local(peer.clone()));
        }
    }

    /// Stops routing anything new to `peer`: leaves its cluster and all its topics. Work already
    /// delivered to it (requests, tunnels) is untouched, so a graceful close can let it finish.
    pub fn depart(&self, peer: &Arc<LocalPeer>) {
        if let Some(cluster) = &peer.cluster {
            self.leave(cluster, DestinationKey::Local(peer.id));
        }
        self.unsubscribe_all(peer);
    }

    /// Final cleanup when a connection goes away: [`Router::depart`], then every request still
    /// delivered to it is answered timed_out to its caller right away, constructions towards it
    /// fail, and its tunnels are closed towards their other ends with `reason` (non-empty).
    pub fn detach(&self, peer: &Arc<LocalPeer>, reason: &str) {
        self.depart(peer);
        self.abandon_requests(peer);
        self.abandon_tunnels(peer, reason);
    }

    /// Acts on a deadline that passed.
    fn expire(&self, what: Expiry) {
        match what {
            Expiry::Request { target, id } => self.expire_request(&target, id),
            Expiry::Unanswered { caller, caller_id } => requests::answer_timed_out(&caller, caller_id),
            Expiry::Build { target, build_id } => self.expire_build(&target, build_id),
            Expiry::UnroutedBuild {
                initiator,
                tunnel_id,
                token,
            } => self.expire_unrouted_build(&initiator, tunnel_id, token),
        }
    }
}

/// A non-zero seed for the selection generator.
fn seed() -> u64 {
    use rsa::rand_core::RngCore;
    rsa::rand_core::OsRng.next_u64() | 1
}
