//! The router's view of another node ([`crate::router::Destination::Remote`]): the work this node
//! handed it (requests, tunnel constructions, tunnels) and the buffer its link writer drains.
//!
//! One `RemotePeer` exists per authenticated link, not per node: when a link dies, everything
//! pending on it is settled at once (callers get timed_out, tunnels close), and a new link starts
//! clean.

use super::wire::Wire;
use super::NodeId;
use crate::router::{PendingBuild, PendingRequest, TunnelSlot};
use crate::util::lock;
use bytes::BytesMut;
use iris_client::codec::NodeFrame;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use tokio::sync::Notify;

/// Above this many queued octets best-effort traffic (broadcast, publish) to the node is dropped
/// and requests prefer other destinations.
pub const LINK_HIGH_WATER: usize = 16 * 1024 * 1024;

/// A link whose queued output exceeds this is dropped ("link output overflow"): the other node
/// stopped reading while must-deliver traffic (replies, tunnel frames, announcements) piled up.
pub const LINK_HARD_LIMIT: usize = 256 * 1024 * 1024;

/// A drained buffer larger than this is freed instead of reused (see [`RemotePeer::next_batch`]):
/// a link that carried a burst keeps at most two buffers of this size. A tunnel's 4 MiB window
/// per hop makes batches of up to about this size at full speed.
const RETAINED_BUFFER: usize = 4 * 1024 * 1024;

/// Identifies one link (unique for the node's lifetime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u64);

/// Plaintext waiting for the link's writer task.
#[derive(Debug, Default)]
struct Outgoing {
    buf: BytesMut,
    closed: bool,
}

/// Another node, as seen over one link.
pub struct RemotePeer {
    /// This link's id (equality of destinations, logs).
    pub link: LinkId,
    /// The node at the other end.
    pub node: NodeId,
    out: Mutex<Outgoing>,
    ready: Notify,
    /// Wakes the link's reader when the link is closed from this side.
    stop: Notify,
    closed: AtomicBool,
    next_request_id: AtomicU64,
    /// Shared by constructions this node sends and tunnels the other node builds here: both key
    /// `tunnels`, so one counter keeps them apart.
    next_tunnel_key: AtomicU64,
    /// Requests sent to the node and not yet answered, by this node's id.
    pub(crate) requests: Mutex<HashMap<u64, PendingRequest>>,
    load: AtomicUsize,
    /// Constructions sent to the node, awaiting its confirmation, by this node's build id.
    pub(crate) builds: Mutex<HashMap<u64, PendingBuild>>,
    /// Tunnels running over this link, by this node's id for them.
    pub(crate) tunnels: Mutex<HashMap<u64, TunnelSlot>>,
    dropped: AtomicU64,
    /// Traffic was routed over the link since the overlay last looked (links in use are kept).
    used: AtomicBool,
    /// Requests that came over this link and still owe it an answer.
    owed: AtomicUsize,
}

impl std::fmt::Debug for RemotePeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({}, link {})", self.node, self.link.0)
    }
}

impl RemotePeer {
    /// A fresh peer for a new link.
    pub fn new(link: LinkId, node: NodeId) -> RemotePeer {
        RemotePeer {
            link,
            node,
            out: Mutex::default(),
            ready: Notify::new(),
            stop: Notify::new(),
            closed: AtomicBool::new(false),
            next_request_id: AtomicU64::new(0),
            next_tunnel_key: AtomicU64::new(0),
            requests: Mutex::default(),
            load: AtomicUsize::new(0),
            builds: Mutex::default(),
            tunnels: Mutex::default(),
            dropped: AtomicU64::new(0),
            used: AtomicBool::new(false),
            owed: AtomicUsize::new(0),
        }
    }

    /// Queues a message for the node. Dropped silently once the link is closing.
    pub fn send_wire(&self, msg: &Wire) {
        let mut out = lock(&self.out);
        if out.closed {
            return;
        }
        let was_empty = out.buf.is_empty();
        msg.encode(&mut out.buf);
        if out.buf.len() > LINK_HARD_LIMIT {
            out.buf = BytesMut::new();
            drop(out);
            tracing::warn!(node = %self.node, link = self.link.0, "link output overflow: the node does not read; dropping the link");
            self.close();
            return;
        }
        drop(out);
        if was_empty {
            self.ready.notify_one();
        }
    }

    /// Queues a best-effort message unless the link is far behind.
    pub fn send_wire_best_effort(&self, msg: &Wire, what: &'static str) {
        if !self.has_room() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed);
            if dropped & 1023 == 0 {
                tracing::warn!(node = %self.node, link = self.link.0, what, total_dropped = dropped + 1,
                    "dropped best-effort traffic: link to the node is far behind");
            }
            return;
        }
        self.send_wire(msg);
    }

    /// Whether the link keeps up (queued output below [`LINK_HIGH_WATER`]).
    pub fn has_room(&self) -> bool {
        lock(&self.out).buf.len() < LINK_HIGH_WATER
    }

    /// Translates a frame the router addressed to this destination into a node message.
    pub(crate) fn send_frame(&self, frame: &NodeFrame) {
        let msg = match frame {
            NodeFrame::Reply { id, outcome } => Wire::Reply {
                id: *id,
                outcome: outcome.clone(),
            },
            NodeFrame::TunConfirm {
                tunnel_id,
                chunk_limit: None,
            } => Wire::TunFailed { build: *tunnel_id },
            NodeFrame::TunAllow { tunnel_id, space } => Wire::TunAllow {
                tunnel: *tunnel_id,
                space: *space,
            },
            NodeFrame::TunTransfer {
                tunnel_id,
                size_or_cont,
                payload,
            } => Wire::TunTransfer {
                tunnel: *tunnel_id,
                size_or_cont: *size_or_cont,
                payload: payload.clone(),
            },
            NodeFrame::TunClose { tunnel_id, reason } => Wire::TunClose {
                tunnel: *tunnel_id,
                reason: reason.clone(),
            },
            other => {
                // The router sends these to remote destinations through dedicated paths.
                tracing::error!(node = %self.node, frame = ?other, "frame cannot travel to another node; dropped");
                return;
            }
        };
        self.send_wire(&msg);
    }

    /// Moves everything queued into `batch` (the writer's side): `Some(true)` with data,
    /// `Some(false)` after `idle` without any (the caller sends a heartbeat), `None` once closed
    /// and drained.
    ///
    /// `batch` must be empty (the writer clears it once written). The two buffers trade places, so
    /// the writer's previous batch, its memory already allocated and touched, takes what is
    /// queued next: at a steady rate neither side allocates or grows a buffer.
    pub async fn next_batch(&self, idle: std::time::Duration, batch: &mut BytesMut) -> Option<bool> {
        debug_assert!(batch.is_empty());
        loop {
            let notified = self.ready.notified();
            {
                let mut out = lock(&self.out);
                if !out.buf.is_empty() {
                    if batch.capacity() > RETAINED_BUFFER {
                        // After a burst: let the large buffer go.
                        *batch = BytesMut::new();
                    }
                    std::mem::swap(&mut out.buf, batch);
                    return Some(true);
                }
                if out.closed {
                    return None;
                }
            }
            // Idle: the caller sends a heartbeat.
            if tokio::time::timeout(idle, notified).await.is_err() {
                return Some(false);
            }
        }
    }

    /// Everything queued so far (tests read it back instead of running a writer).
    #[cfg(test)]
    pub(crate) fn take_queued(&self) -> BytesMut {
        lock(&self.out).buf.split()
    }

    /// Stops accepting messages; the writer flushes what is queued and ends.
    pub fn close(&self) {
        lock(&self.out).closed = true;
        self.closed.store(true, Ordering::Relaxed);
        self.ready.notify_one();
        self.stop.notify_waiters();
    }

    /// Resolves once [`RemotePeer::close`] was called.
    pub async fn stopped(&self) {
        loop {
            let notified = self.stop.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// Whether [`RemotePeer::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Requests sent and not yet answered.
    pub fn load(&self) -> usize {
        self.load.load(Ordering::Relaxed)
    }

    pub(crate) fn allocate_request_id(&self) -> u64 {
        self.next_request_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn allocate_tunnel_key(&self) -> u64 {
        self.next_tunnel_key.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn add_request(&self, id: u64, pending: PendingRequest) {
        let mut requests = lock(&self.requests);
        requests.insert(id, pending);
        self.load.store(requests.len(), Ordering::Relaxed);
    }

    pub(crate) fn take_request(&self, id: u64) -> Option<PendingRequest> {
        let mut requests = lock(&self.requests);
        let pending = requests.remove(&id);
        self.load.store(requests.len(), Ordering::Relaxed);
        pending
    }

    pub(crate) fn take_all_requests(&self) -> Vec<PendingRequest> {
        let mut requests = lock(&self.requests);
        self.load.store(0, Ordering::Relaxed);
        requests.drain().map(|(_, p)| p).collect()
    }

    /// Notes that traffic was routed to the node (cheap: one relaxed store).
    pub(crate) fn mark_used(&self) {
        self.used.store(true, Ordering::Relaxed);
    }

    /// A request that came over this link is being worked on.
    pub(crate) fn owe_answer(&self) {
        self.owed.fetch_add(1, Ordering::Relaxed);
    }

    /// ... and was answered (or will never be).
    pub(crate) fn answered(&self) {
        self.owed.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether work is pending on the link: requests sent over it or owed an answer over it,
    /// constructions, tunnels.
    pub fn has_pending(&self) -> bool {
        self.owed.load(Ordering::Relaxed) > 0
            || !lock(&self.requests).is_empty()
            || !lock(&self.builds).is_empty()
            || !lock(&self.tunnels).is_empty()
    }

    /// Whether the link carried traffic since the last call, or still has work pending on it:
    /// such a link is kept even when no tree needs it.
    pub fn take_active(&self) -> bool {
        self.used.swap(false, Ordering::Relaxed) | self.has_pending()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn decode_all(buf: &mut BytesMut) -> Vec<Wire> {
        let limits = crate::overlay::wire::WireLimits { max_body: 1 << 20 };
        std::iter::from_fn(|| Wire::decode(buf, &limits).unwrap()).collect()
    }

    #[tokio::test]
    async fn the_writer_gets_everything_in_order_then_idles_then_ends() {
        let peer = RemotePeer::new(LinkId(1), NodeId(7));
        let mut batch = BytesMut::new();
        for round in 0..3u64 {
            peer.send_wire(&Wire::Heartbeat);
            peer.send_wire(&Wire::TunAllow {
                tunnel: round,
                space: 5,
            });
            assert_eq!(peer.next_batch(Duration::from_secs(5), &mut batch).await, Some(true));
            assert_eq!(
                decode_all(&mut batch),
                vec![
                    Wire::Heartbeat,
                    Wire::TunAllow {
                        tunnel: round,
                        space: 5
                    }
                ]
            );
            batch.clear();
        }
        assert_eq!(
            peer.next_batch(Duration::from_millis(10), &mut batch).await,
            Some(false)
        );
        // Closing flushes what is queued, then the writer ends.
        peer.send_wire(&Wire::Bye);
        peer.close();
        peer.send_wire(&Wire::Heartbeat); // after close: dropped
        assert_eq!(peer.next_batch(Duration::from_secs(5), &mut batch).await, Some(true));
        assert_eq!(decode_all(&mut batch), vec![Wire::Bye]);
        batch.clear();
        assert_eq!(peer.next_batch(Duration::from_secs(5), &mut batch).await, None);
    }
}
