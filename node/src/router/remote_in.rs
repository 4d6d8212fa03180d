//! The router's side of the overlay links: traffic other nodes send (for this node's clients, or
//! passing through along a tree or route) and the cleanup when a link is lost. Overlay
//! maintenance (state, trees) is the engine's business and never reaches the router.

use super::destination::Destination;
use super::views::Arrival;
use super::Router;
use crate::overlay::remote::RemotePeer;
use crate::overlay::scribe::Group;
use crate::overlay::wire::Wire;
use crate::util::deadline_after;
use iris_client::codec::ByteStr;
use std::sync::Arc;

/// A change this node's overlay must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalChange {
    /// The local members of this cluster changed.
    Cluster(ByteStr),
    /// This topic gained its first or lost its last local subscriber.
    Topic(ByteStr),
    /// A local client sent to a group this node has no view of yet (join its tree to learn it).
    Used(Group),
}

impl Router {
    /// Handles one traffic message from another node. Link and overlay maintenance messages are
    /// not the router's and are ignored here.
    pub fn remote_message(self: &Arc<Self>, remote: &Arc<RemotePeer>, msg: Wire) {
        let dest = || Destination::Remote(remote.clone());
        if let Wire::Request { via, .. }
        | Wire::Broadcast { via, .. }
        | Wire::Publish { via, .. }
        | Wire::TunInit { via, .. } = &msg
        {
            tracing::trace!(node = %remote.node, ?via, "traffic from another node");
        }
        match msg {
            Wire::Request {
                id,
                cluster,
                request,
                timeout_ms,
                via,
            } => self.request_to(
                &dest(),
                id,
                &cluster,
                request,
                timeout_ms,
                &Arrival::Remote(remote.clone(), via),
            ),
            Wire::Reply { id, outcome } => self.remote_reply(remote, id, outcome),
            Wire::Broadcast { cluster, message, via } => {
                self.broadcast_to(&cluster, message, &Arrival::Remote(remote.clone(), via))
            }
            Wire::Publish { topic, event, via } => self.publish_to(topic, event, &Arrival::Remote(remote.clone(), via)),
            Wire::TunInit {
                build,
                cluster,
                timeout_ms,
                via,
                origin,
            } => {
                let key = remote.allocate_tunnel_key();
                self.build(
                    dest(),
                    build,
                    key,
                    &cluster,
                    deadline_after(timeout_ms),
                    &Arrival::Remote(remote.clone(), via),
                    origin,
                );
            }
            Wire::TunRedirect { build, node, listen } => self.remote_tunnel_redirect(remote, build, node, listen),
            Wire::TunConfirm { build, tunnel } => self.remote_tunnel_confirm(remote, build, tunnel),
            Wire::TunFailed { build } => self.remote_tunnel_failed(remote, build),
            Wire::TunAllow { tunnel, space } => self.remote_tunnel_allow(remote, tunnel, space),
            Wire::TunTransfer {
                tunnel,
                size_or_cont,
                payload,
            } => self.remote_tunnel_transfer(remote, tunnel, size_or_cont, payload),
            Wire::TunClose { tunnel, reason } => self.remote_tunnel_close(remote, tunnel, &reason),
            Wire::Hello { .. } | Wire::Heartbeat | Wire::Bye | Wire::Control(_) => {}
        }
    }

    /// A link is gone (node crashed, left, or the link was replaced): nothing new goes to it
    /// (the overlay replaces the views that named it), requests sent over it are answered
    /// timed_out at once, its tunnels close with a reason and constructions over it fail.
    pub fn detach_remote(&self, remote: &Arc<RemotePeer>) {
        remote.close();
        self.answer_abandoned(remote.take_all_requests());
        self.abandon_tunnels_of(&Destination::Remote(remote.clone()), "the other end's node was lost");
    }
}
