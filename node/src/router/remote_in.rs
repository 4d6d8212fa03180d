//! The router's side of the overlay: messages other nodes send (announcements, and traffic for
//! this node's own clients) and the cleanup when a link is lost.
//!
//! Work that arrives from another node is delivered to local clients only (`local_only`), so
//! nothing is forwarded twice: in the phase-1 overlay every node links to every other, and a
//! message crosses at most one link.

use super::destination::Destination;
use super::Router;
use crate::overlay::remote::RemotePeer;
use crate::overlay::wire::Wire;
use crate::util::lock;
use iris_client::codec::ByteStr;
use std::sync::Arc;

/// A change of this node's own membership, for the overlay to announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalChange {
    /// The local members of this cluster changed.
    Cluster(ByteStr),
    /// This topic gained its first or lost its last local subscriber.
    Topic(ByteStr),
}

impl Router {
    /// Handles one routing message from another node. Link-level messages (hello, heartbeat,
    /// bye, peers) belong to the overlay's membership and are ignored here.
    pub fn remote_message(&self, remote: &Arc<RemotePeer>, msg: Wire) {
        let dest = || Destination::Remote(remote.clone());
        match msg {
            Wire::Cluster { name, load } => {
                let had = remote.set_cluster(&name, load);
                if load.members > 0 && !had {
                    self.join(&name, dest());
                } else if load.members == 0 && had {
                    self.leave(&name, dest().key());
                }
            }
            Wire::Topic { name, subscribed } => {
                if subscribed {
                    if lock(&remote.topics).insert(name.clone()) {
                        self.add_remote_subscriber(name, dest());
                    }
                } else if lock(&remote.topics).remove(&name) {
                    self.remove_destination(&name, dest().key());
                }
            }
            Wire::Request {
                id,
                cluster,
                request,
                timeout_ms,
            } => self.request_to(&dest(), id, &cluster, request, timeout_ms, true),
            Wire::Reply { id, outcome } => self.remote_reply(remote, id, outcome),
            Wire::Broadcast { cluster, message } => self.broadcast_to(&cluster, message, true),
            Wire::Publish { topic, event } => self.publish_to(topic, event, true),
            Wire::TunInit {
                build,
                cluster,
                timeout_ms,
            } => {
                let key = remote.allocate_tunnel_key();
                self.build(dest(), build, key, &cluster, timeout_ms, true);
            }
            Wire::TunConfirm { build, tunnel } => self.remote_tunnel_confirm(remote, build, tunnel),
            Wire::TunFailed { build } => self.remote_tunnel_failed(remote, build),
            Wire::TunAllow { tunnel, space } => self.remote_tunnel_allow(remote, tunnel, space),
            Wire::TunTransfer {
                tunnel,
                size_or_cont,
                payload,
            } => self.remote_tunnel_transfer(remote, tunnel, size_or_cont, payload),
            Wire::TunClose { tunnel, reason } => self.remote_tunnel_close(remote, tunnel, &reason),
            Wire::Hello { .. } | Wire::Heartbeat | Wire::Bye | Wire::Peers { .. } => {}
        }
    }

    /// A link is gone (node crashed, left, or the link was replaced): nothing new goes to it,
    /// requests sent over it are answered timed_out at once, its tunnels close with a reason and
    /// constructions over it fail.
    pub fn detach_remote(&self, remote: &Arc<RemotePeer>) {
        remote.close();
        let key = Destination::Remote(remote.clone()).key();
        for cluster in remote.take_clusters() {
            self.leave(&cluster, key);
        }
        let topics: Vec<ByteStr> = lock(&remote.topics).drain().collect();
        for topic in topics {
            self.remove_destination(&topic, key);
        }
        self.answer_abandoned(remote.take_all_requests());
        self.abandon_tunnels_of(&Destination::Remote(remote.clone()), "the other end's node was lost");
    }
}
