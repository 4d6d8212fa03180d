//! Where routed traffic goes: a local client connection, or another node (which delivers to its
//! own local clients).

use super::requests::PendingRequest;
use super::tunnels::{PendingBuild, TunnelSlot};
use crate::overlay::remote::{LinkId, RemotePeer};
use crate::relay::outbox::{Outbox, Pushed};
use crate::util::lock;
use iris_client::codec::{ByteStr, NodeFrame};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Identifies one client connection of this node (unique for the node's lifetime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A target of routed traffic: a cluster member, a topic subscriber, a request's caller or a
/// tunnel end.
///
/// The router's tables hold destinations, never connections, so the overlay can add a `Remote`
/// case (a member attached to another node) without changing the routing logic: every place that
/// must treat the cases differently matches on this enum.
#[derive(Clone)]
pub enum Destination {
    /// A client attached to this node. Holding the peer itself (not just its id) saves a table
    /// lookup per delivered frame on the hot paths.
    Local(Arc<LocalPeer>),
    /// Another node, over one authenticated link. In cluster and topic tables it stands for all
    /// of that node's members or subscribers; it delivers to its local clients only.
    Remote(Arc<RemotePeer>),
}

/// Equality key of a [`Destination`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationKey {
    /// A local connection.
    Local(ConnId),
    /// A link to another node.
    Remote(LinkId),
}

impl Destination {
    /// The identity used to compare destinations.
    pub fn key(&self) -> DestinationKey {
        match self {
            Destination::Local(peer) => DestinationKey::Local(peer.id),
            Destination::Remote(remote) => DestinationKey::Remote(remote.link),
        }
    }

    /// Requests delivered to this destination and not yet answered; the load balancer prefers the
    /// smallest.
    pub fn load(&self) -> usize {
        match self {
            Destination::Local(peer) => peer.load.load(Ordering::Relaxed),
            Destination::Remote(remote) => remote.load(),
        }
    }

    /// Whether the destination keeps up with its traffic (output below the high-water mark).
    pub fn has_room(&self) -> bool {
        match self {
            Destination::Local(peer) => peer.outbox.has_room(),
            Destination::Remote(remote) => remote.has_room(),
        }
    }

    /// Queues a frame that must not be dropped (replies, tunnel frames, control).
    pub(crate) fn send(&self, frame: &NodeFrame) {
        match self {
            Destination::Local(peer) => {
                peer.outbox.push(frame);
            }
            Destination::Remote(remote) => remote.send_frame(frame),
        }
    }

    /// Queues a best-effort frame (broadcast, publish); dropped with a log when the client is far
    /// behind.
    pub(crate) fn send_best_effort(&self, frame: &NodeFrame, what: &'static str) {
        match self {
            Destination::Local(peer) => {
                if peer.outbox.push_if_room(frame) == Pushed::Full {
                    let dropped = peer.dropped.fetch_add(1, Ordering::Relaxed);
                    // One line per 1024 drops: a stuck client must not flood the log.
                    if dropped & 1023 == 0 {
                        tracing::warn!(conn = %peer.id, what, total_dropped = dropped + 1,
                            "dropped best-effort traffic: client is not reading fast enough");
                    }
                }
            }
            Destination::Remote(remote) => {
                if remote.has_room() {
                    remote.send_frame(frame);
                } else {
                    tracing::debug!(node = %remote.node, what, "dropped best-effort traffic: link far behind");
                }
            }
        }
    }

    /// The destination's tunnels, by its own key for them.
    pub(crate) fn tunnels(&self) -> &Mutex<HashMap<u64, TunnelSlot>> {
        match self {
            Destination::Local(peer) => &peer.tunnels,
            Destination::Remote(remote) => &remote.tunnels,
        }
    }

    /// Tunnel constructions delivered to the destination, by build id.
    pub(crate) fn builds(&self) -> &Mutex<HashMap<u64, PendingBuild>> {
        match self {
            Destination::Local(peer) => &peer.builds,
            Destination::Remote(remote) => &remote.builds,
        }
    }

    /// A fresh build id for a construction delivered to this destination.
    pub(crate) fn allocate_build_id(&self) -> u64 {
        match self {
            Destination::Local(peer) => peer.allocate_build_id(),
            Destination::Remote(remote) => remote.allocate_tunnel_key(),
        }
    }

    /// Removes a delivered request (answered, expired or abandoned).
    pub(crate) fn take_request(&self, id: u64) -> Option<PendingRequest> {
        match self {
            Destination::Local(peer) => peer.take_request(id),
            Destination::Remote(remote) => remote.take_request(id),
        }
    }

    /// Whether the request `id` is still outstanding (timer compaction).
    pub(crate) fn has_request(&self, id: u64) -> bool {
        match self {
            Destination::Local(peer) => lock(&peer.requests).contains_key(&id),
            Destination::Remote(remote) => lock(&remote.requests).contains_key(&id),
        }
    }

    /// Whether this is a client attached to this node.
    pub fn is_local(&self) -> bool {
        matches!(self, Destination::Local(_))
    }

    /// Whether this is another node.
    pub fn is_remote(&self) -> bool {
        matches!(self, Destination::Remote(_))
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Local(peer) => write!(f, "Local({})", peer.id),
            Destination::Remote(remote) => write!(f, "{remote:?}"),
        }
    }
}

/// The router's view of one local client connection: its output and the routing state that
/// belongs to it. Created by the relay after the handshake.
pub struct LocalPeer {
    /// The connection's id (logs, equality).
    pub id: ConnId,
    /// The cluster this connection is a member of, `None` for a plain client.
    pub cluster: Option<ByteStr>,
    /// The connection's output buffer.
    pub outbox: Outbox,
    /// Next node-chosen request id for requests delivered to this connection.
    next_request_id: AtomicU64,
    /// Next node-chosen build id for tunnels built towards this connection.
    next_build_id: AtomicU64,
    /// Requests delivered to this connection and not yet answered, by node-chosen id.
    pub(crate) requests: Mutex<HashMap<u64, PendingRequest>>,
    /// `requests.len()`, readable without the lock by the load balancer.
    load: AtomicUsize,
    /// Signalled when the last outstanding request is answered or expires (graceful close).
    drained: Notify,
    /// Tunnel constructions delivered to this connection and not yet confirmed, by build id.
    pub(crate) builds: Mutex<HashMap<u64, PendingBuild>>,
    /// This connection's tunnels by its own tunnel ids.
    pub(crate) tunnels: Mutex<HashMap<u64, TunnelSlot>>,
    /// Topics this connection subscribed to, to clean up when it goes.
    pub(crate) topics: Mutex<HashSet<ByteStr>>,
    /// Best-effort frames dropped because the client was too slow.
    dropped: AtomicU64,
}

impl LocalPeer {
    /// A new peer for connection `id`, member of `cluster` if any.
    pub fn new(id: ConnId, cluster: Option<ByteStr>, outbox: Outbox) -> Arc<LocalPeer> {
        Arc::new(LocalPeer {
            id,
            cluster,
            outbox,
            next_request_id: AtomicU64::new(0),
            next_build_id: AtomicU64::new(0),
            requests: Mutex::default(),
            load: AtomicUsize::new(0),
            drained: Notify::new(),
            builds: Mutex::default(),
            tunnels: Mutex::default(),
            topics: Mutex::default(),
            dropped: AtomicU64::new(0),
        })
    }

    /// Requests delivered to this connection and not yet answered.
    pub fn outstanding_requests(&self) -> usize {
        self.load.load(Ordering::Relaxed)
    }

    /// Waits until no delivered request is outstanding.
    pub async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.outstanding_requests() == 0 {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn allocate_request_id(&self) -> u64 {
        self.next_request_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn allocate_build_id(&self) -> u64 {
        self.next_build_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Records a delivered request.
    pub(crate) fn add_request(&self, id: u64, pending: PendingRequest) {
        let mut requests = lock(&self.requests);
        requests.insert(id, pending);
        self.load.store(requests.len(), Ordering::Relaxed);
    }

    /// Removes a delivered request (answered, expired or abandoned).
    pub(crate) fn take_request(&self, id: u64) -> Option<PendingRequest> {
        let mut requests = lock(&self.requests);
        let pending = requests.remove(&id)?;
        self.load.store(requests.len(), Ordering::Relaxed);
        let empty = requests.is_empty();
        drop(requests);
        if empty {
            self.drained.notify_waiters();
        }
        Some(pending)
    }

    /// Removes every delivered request (the connection is going away).
    pub(crate) fn take_all_requests(&self) -> Vec<PendingRequest> {
        let mut requests = lock(&self.requests);
        let all = requests.drain().map(|(_, p)| p).collect();
        self.load.store(0, Ordering::Relaxed);
        drop(requests);
        self.drained.notify_waiters();
        all
    }

    /// Whether this peer and `dest` are the same destination.
    pub fn is(&self, dest: &Destination) -> bool {
        dest.key() == DestinationKey::Local(self.id)
    }
}
