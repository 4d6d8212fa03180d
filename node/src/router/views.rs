//! The router's side of the overlay: how each cluster and topic reaches other nodes (a
//! [`RemoteView`] the overlay installs), how a message arrived ([`Arrival`]), and the choices that
//! follow from both: which member a request or tunnel goes to, where a broadcast or publish is
//! passed on.
//!
//! The rules, per [`Via`] of the message (see `spec/overlay.md`):
//! - from a local client, or routed here from outside the tree: deliver locally, then directly to
//!   every member node while the view lists them all (one hop), else flood the tree; a node
//!   outside the tree routes it towards the group's key;
//! - `Direct`: local delivery only;
//! - `Flood`: suppress duplicates, deliver locally, continue to every other tree direction with
//!   members;
//! - requests and tunnels pick one destination, weighted by spare capacity, among local members
//!   and the listed member nodes (direct) or the tree directions other than the one they came
//!   from (`Walk`).

use super::Router;
use crate::overlay::remote::RemotePeer;
use crate::overlay::scribe::Group;
use crate::overlay::wire::{Via, MAX_HOPS};
use crate::overlay::NodeId;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A link being set up for the router (see [`OverlayHooks::link_to`]).
pub type LinkFuture = Pin<Box<dyn Future<Output = Option<Arc<RemotePeer>>> + Send>>;

/// What the router needs from the overlay.
pub trait OverlayHooks: Send + Sync {
    /// This node's id.
    fn me(&self) -> NodeId;
    /// The linked node a message for `key` goes to next; `None` when this node is the closest.
    fn next_hop(&self, key: NodeId) -> Option<Arc<RemotePeer>>;
    /// Whether constructions started here accept a redirect to a direct link (`Wire::TunInit`'s
    /// `origin`); without, tunnels to distant members are relayed along the tree.
    fn redirect_tunnels(&self) -> bool {
        false
    }
    /// This node's overlay listen addresses (what a redirect tells the other node to dial).
    fn listen(&self) -> Vec<SocketAddr> {
        Vec::new()
    }
    /// A link to `node`: the current one, or a new one dialled at `addrs`; `None` when none is
    /// up within `within` (or the dials failed sooner).
    fn link_to(&self, node: NodeId, addrs: Vec<SocketAddr>, within: Duration) -> LinkFuture {
        let _ = (node, addrs, within);
        Box::pin(async { None })
    }
}

/// One way out of this node for a group's traffic.
#[derive(Debug, Clone)]
pub struct RemoteDir {
    /// The node (over its current link).
    pub peer: Arc<RemotePeer>,
    /// Members that way.
    pub members: u32,
    /// Their spare capacity.
    pub spare: u32,
}

/// How a group reaches other nodes, resolved to links: the overlay's [`GroupView`] at the time
/// it was installed.
///
/// [`GroupView`]: crate::overlay::scribe::GroupView
#[derive(Debug, Clone, Default)]
pub struct RemoteView {
    /// Tree directions (parent, children).
    pub tree: Vec<RemoteDir>,
    /// Every other member node, when the group is small and all of them are linked.
    pub direct: Option<Vec<RemoteDir>>,
}

impl RemoteView {
    /// Whether any other node hosts members.
    pub fn has_remote_members(&self) -> bool {
        self.tree.iter().any(|d| d.members > 0)
    }
}

/// How a message reached the router.
#[derive(Debug, Clone)]
pub(crate) enum Arrival {
    /// From a local client.
    Client,
    /// From another node, with how it travelled.
    Remote(Arc<RemotePeer>, Via),
}

impl Arrival {
    /// The neighbour it came from, if any.
    pub(crate) fn from(&self) -> Option<&Arc<RemotePeer>> {
        match self {
            Arrival::Client => None,
            Arrival::Remote(peer, _) => Some(peer),
        }
    }

    /// Whether it may only be delivered to local members.
    pub(crate) fn local_only(&self) -> bool {
        matches!(self, Arrival::Remote(_, Via::Direct))
    }

    fn hops(&self) -> u8 {
        match self {
            Arrival::Client => 0,
            Arrival::Remote(_, via) => via.hops(),
        }
    }

    /// Whether it may go one link further.
    pub(crate) fn may_forward(&self) -> bool {
        self.hops() < MAX_HOPS
    }

    pub(crate) fn next_hops(&self) -> u8 {
        self.hops().saturating_add(1)
    }
}

/// A remote candidate of a request or tunnel construction.
pub(crate) struct RemoteChoice {
    pub peer: Arc<RemotePeer>,
    pub via: Via,
    pub weight: u64,
}

impl Router {
    /// Connects the overlay (once; later calls are ignored).
    pub fn set_overlay(&self, hooks: Arc<dyn OverlayHooks>) {
        let _ = self.overlay.set(hooks);
    }

    /// Forgets flood origins not heard of for a minute (call once a second).
    pub fn age_floods(&self) {
        crate::util::lock(&self.dedup).age(60);
    }

    pub(super) fn hooks(&self) -> Option<&Arc<dyn OverlayHooks>> {
        self.overlay.get()
    }

    /// Where a message for `group` goes when this node is outside its tree: the next hop towards
    /// the group's key (`None`: this node is the closest, or it runs alone).
    pub(super) fn route_hop(&self, group: &Group) -> Option<Arc<RemotePeer>> {
        self.hooks()?.next_hop(group.key()).filter(|p| !p.is_closed())
    }

    /// Remote candidates for a request or tunnel construction arriving as `arrival`, given the
    /// group's view: listed member nodes (direct), else tree directions other than the arrival's.
    /// `None` when there is no view at all (this node is outside the tree).
    pub(super) fn remote_candidates(&self, view: Option<&RemoteView>, arrival: &Arrival) -> Option<Vec<RemoteChoice>> {
        let view = view?;
        if arrival.local_only() {
            return Some(Vec::new());
        }
        let weight = |d: &RemoteDir| -> u64 {
            if !d.peer.has_room() {
                return 0;
            }
            // Its report lags, so requests this node has in flight to it discount it meanwhile.
            let members = u64::from(d.members.max(1));
            (u64::from(d.spare) * members / (members + d.peer.load() as u64)).max(1)
        };
        let hops = arrival.next_hops();
        let from = arrival.from().map(|p| p.node);
        let out = match &view.direct {
            Some(direct) => direct
                .iter()
                .filter(|d| d.members > 0 && Some(d.peer.node) != from && !d.peer.is_closed())
                .map(|d| RemoteChoice {
                    peer: d.peer.clone(),
                    via: Via::Direct,
                    weight: weight(d),
                })
                .collect(),
            None if arrival.may_forward() => view
                .tree
                .iter()
                .filter(|d| d.members > 0 && Some(d.peer.node) != from && !d.peer.is_closed())
                .map(|d| RemoteChoice {
                    peer: d.peer.clone(),
                    via: Via::Walk { hops },
                    weight: weight(d),
                })
                .collect(),
            None => Vec::new(),
        };
        Some(out)
    }

    /// Passes a broadcast or publish on to other nodes, per the module rules. `send` queues one
    /// copy for a node with the given `Via`. Returns false when the message is a duplicate and
    /// must not be delivered locally either.
    pub(super) fn fan_out(
        &self,
        group: &Group,
        view: Option<&RemoteView>,
        arrival: &Arrival,
        mut send: impl FnMut(&Arc<RemotePeer>, Via),
    ) -> bool {
        let Some(hooks) = self.hooks() else { return true };
        match arrival {
            Arrival::Remote(_, Via::Direct) => true,
            Arrival::Remote(from, Via::Flood { hops, origin, seq }) => {
                if !crate::util::lock(&self.dedup).first_time(*origin, *seq) {
                    return false;
                }
                if let Some(view) = view {
                    if *hops < MAX_HOPS {
                        let via = Via::Flood {
                            hops: hops + 1,
                            origin: *origin,
                            seq: *seq,
                        };
                        for d in &view.tree {
                            if d.members > 0 && d.peer.node != from.node {
                                send(&d.peer, via);
                            }
                        }
                    }
                }
                true
            }
            // From a local client, or routed here from outside the tree.
            _ => {
                match view {
                    Some(view) => match &view.direct {
                        Some(direct) => {
                            for d in direct.iter().filter(|d| d.members > 0) {
                                send(&d.peer, Via::Direct);
                            }
                        }
                        None => {
                            if view.has_remote_members() && arrival.may_forward() {
                                let me = hooks.me();
                                let seq = self.flood_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                // Its own flood must not come back as new (a subtree moving between
                                // parents can briefly form two paths).
                                crate::util::lock(&self.dedup).first_time(me, seq);
                                let via = Via::Flood {
                                    hops: arrival.next_hops(),
                                    origin: me,
                                    seq,
                                };
                                for d in view.tree.iter().filter(|d| d.members > 0) {
                                    send(&d.peer, via);
                                }
                            }
                        }
                    },
                    None => {
                        if arrival.may_forward() {
                            if let Some(next) = self.route_hop(group) {
                                send(
                                    &next,
                                    Via::Route {
                                        hops: arrival.next_hops(),
                                    },
                                );
                            }
                        }
                    }
                }
                true
            }
        }
    }
}

/// Picks one of `weights` at random in proportion; `None` when all weigh 0.
pub(super) fn pick_weighted(weights: &[u64], random: u64) -> Option<usize> {
    let total: u64 = weights.iter().sum();
    if total == 0 {
        return None;
    }
    let mut point = random % total;
    for (i, &w) in weights.iter().enumerate() {
        if point < w {
            return Some(i);
        }
        point -= w;
    }
    None
}
