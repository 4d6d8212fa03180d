//! Tunnel construction, dispatch of tunnel frames to the right [`Tunnel`], and teardown.
//!
//! Construction: the initiator's TUN_INIT picks one member, which gets TUN_INIT with a node-chosen
//! build id and answers TUN_CONFIRM with its own tunnel id. The node enforces the initiator's
//! timeout; a member that confirms too late gets TUN_CLOSE for that tunnel only.

use super::clusters::Choice;
use super::destination::{Destination, LocalPeer};
use super::timer::Expiry;
use super::tunnel::{End, Tunnel};
use super::views::Arrival;
use super::{Router, Violation};
use crate::overlay::remote::RemotePeer;
use crate::overlay::wire::{Via, Wire};
use crate::overlay::NodeId;
use crate::util::{deadline_after, lock, remaining_ms};
use bytes::Bytes;
use iris_client::codec::{ByteStr, NodeFrame, CHUNK_LIMIT};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The largest TUN_TRANSFER payload, announced to both ends.
pub const TUNNEL_CHUNK_LIMIT: u64 = CHUNK_LIMIT as u64;
/// The allowance the node grants each client end right after construction (octets).
pub const INITIAL_TUNNEL_ALLOWANCE: u64 = 4 * 1024 * 1024;
/// How long the origin of a redirected construction waits for its link to the member node before
/// it sends the construction along the tree instead.
pub const REDIRECT_LINK_WAIT: Duration = Duration::from_secs(2);
/// Octets that may wait in the node for one receiver of one tunnel before the sender is deemed to
/// ignore its allowance: the allowance plus slack for grant-backs in flight.
const MAX_QUEUED: usize = INITIAL_TUNNEL_ALLOWANCE as usize + 2 * CHUNK_LIMIT;

/// A connection's entry for one of its tunnel ids.
pub(crate) enum TunnelSlot {
    /// TUN_INIT seen, not yet confirmed. `target` is the member asked and its build id (`None` when
    /// the cluster had no member); `token` tells this slot from a later one with the same id.
    Building {
        target: Option<(Destination, u64)>,
        token: u64,
    },
    /// An open tunnel, this connection being end `side`.
    Open { tunnel: Arc<Tunnel>, side: usize },
}

/// A construction delivered to a member (or another node), awaiting its confirmation.
#[derive(Debug)]
pub(crate) struct PendingBuild {
    initiator: Destination,
    /// The id frames towards the initiator carry.
    tunnel_id: u64,
    /// The initiator's slot key (equals `tunnel_id` for a local client).
    key: u64,
    token: u64,
    /// What is being built and until when (a redirect asks again).
    cluster: ByteStr,
    deadline: Option<Instant>,
}

fn tun_close(tunnel_id: u64, reason: &str) -> NodeFrame {
    NodeFrame::TunClose {
        tunnel_id,
        reason: ByteStr::from(reason),
    }
}

fn timed_out(tunnel_id: u64) -> NodeFrame {
    NodeFrame::TunConfirm {
        tunnel_id,
        chunk_limit: None,
    }
}

impl Router {
    /// TUN_INIT from `initiator`: asks one member of `cluster` to accept a tunnel.
    pub fn tunnel_init(
        &self,
        initiator: &Arc<LocalPeer>,
        tunnel_id: u64,
        cluster: &ByteStr,
        timeout_ms: u64,
    ) -> Result<(), Violation> {
        if lock(&initiator.tunnels).contains_key(&tunnel_id) {
            return Err(Violation(format!(
                "TUN_INIT reuses tunnel id {tunnel_id}, which is still in use"
            )));
        }
        let origin = self.overlay.get().filter(|h| h.redirect_tunnels()).map(|h| h.me());
        self.build(
            Destination::Local(initiator.clone()),
            tunnel_id,
            tunnel_id,
            cluster,
            deadline_after(timeout_ms),
            &Arrival::Client,
            origin,
        );
        Ok(())
    }

    /// Starts a construction for `initiator` (its slot `key`, frames to it carry `tunnel_id`)
    /// that arrived as `arrival`: picks a member as for requests and delivers the construction.
    /// `origin` is the node whose client started it, when that node accepts a redirect: a
    /// member chosen here for a construction that came over another node is not asked; the
    /// origin gets this node's address instead (see [`Router::remote_tunnel_redirect`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn build(
        &self,
        initiator: Destination,
        tunnel_id: u64,
        key: u64,
        cluster: &ByteStr,
        deadline: Option<Instant>,
        arrival: &Arrival,
        origin: Option<NodeId>,
    ) {
        let pending = PendingBuild {
            initiator,
            tunnel_id,
            key,
            token: self.next_token.fetch_add(1, Ordering::Relaxed),
            cluster: cluster.clone(),
            deadline,
        };
        self.route_build(pending, arrival, origin, true);
    }

    /// Picks where the construction `pending` goes and sends it there: a new one (`fresh`: its
    /// slot is made) or one sent along the tree again (only while its slot still waits for it).
    fn route_build(&self, pending: PendingBuild, arrival: &Arrival, origin: Option<NodeId>, fresh: bool) {
        let (dest, via) = match self.choose(&pending.cluster, arrival) {
            Choice::Local(d) => {
                if self.redirect(&pending.initiator, pending.tunnel_id, arrival, origin) {
                    return;
                }
                (Some(d), Via::Direct)
            }
            Choice::Remote(r) => (Some(Destination::Remote(r.peer)), r.via),
            Choice::None => (None, Via::Direct),
        };
        let target = dest.map(|dest| {
            let build_id = dest.allocate_build_id();
            (dest, build_id)
        });
        if target.is_none() && !pending.initiator.is_local() {
            // The other node believed we host the cluster; it tells its client when the deadline
            // comes (it enforces it too).
            pending.initiator.send(&timed_out(pending.tunnel_id));
            return;
        }
        if fresh {
            lock(pending.initiator.tunnels()).insert(
                pending.key,
                TunnelSlot::Building {
                    target: target.clone(),
                    token: pending.token,
                },
            );
        } else if !retarget(&pending, target.clone()) {
            return;
        }
        let (tunnel_id, token, deadline) = (pending.tunnel_id, pending.token, pending.deadline);
        match target {
            None => {
                self.timer.schedule(
                    deadline,
                    Expiry::UnroutedBuild {
                        initiator: pending.initiator,
                        tunnel_id,
                        token,
                    },
                );
            }
            Some((dest, build_id)) => self.ask(pending, dest, build_id, via, origin),
        }
    }

    /// Sends the construction `pending` to `dest` (which calls it `build_id`) and enforces its
    /// deadline there.
    fn ask(&self, pending: PendingBuild, dest: Destination, build_id: u64, via: Via, origin: Option<NodeId>) {
        let (cluster, deadline) = (pending.cluster.clone(), pending.deadline);
        lock(dest.builds()).insert(build_id, pending);
        match &dest {
            Destination::Local(peer) => {
                peer.outbox.push(&NodeFrame::TunInit {
                    build_id,
                    chunk_limit: TUNNEL_CHUNK_LIMIT,
                });
            }
            Destination::Remote(remote) => {
                remote.mark_used();
                remote.send_wire(&Wire::TunInit {
                    build: build_id,
                    cluster,
                    timeout_ms: remaining_ms(deadline),
                    via,
                    // A member node asked directly never redirects.
                    origin: origin.filter(|_| via != Via::Direct),
                });
            }
        }
        self.timer.schedule(deadline, Expiry::Build { target: dest, build_id });
    }

    /// A member was chosen here for a construction from `initiator` (another node) that accepts a
    /// redirect and did not come straight from its origin: answers with this node's address
    /// instead of asking the member. Whether it did.
    fn redirect(&self, initiator: &Destination, tunnel_id: u64, arrival: &Arrival, origin: Option<NodeId>) -> bool {
        let (Some(origin), Arrival::Remote(from, via), Some(hooks)) = (origin, arrival, self.overlay.get()) else {
            return false;
        };
        if *via == Via::Direct || from.node == origin || origin == hooks.me() || !initiator.is_remote() {
            return false;
        }
        let listen = hooks.listen();
        if listen.is_empty() {
            return false;
        }
        tracing::debug!(origin = %origin, via = %from.node, "tunnel member found here; redirecting the origin to a direct link");
        from.send_wire(&Wire::TunRedirect {
            build: tunnel_id,
            node: hooks.me(),
            listen,
        });
        true
    }

    /// TUN_REDIRECT from another node for the construction this node sent it as `build`: a
    /// node passing the construction on hands the redirect back towards its origin; the origin
    /// links to the member node (at most [`REDIRECT_LINK_WAIT`], never past the deadline) and
    /// asks it directly, or, when no link comes up, sends the construction along the tree again,
    /// this time not to be redirected.
    pub(super) fn remote_tunnel_redirect(
        self: &Arc<Self>,
        remote: &RemotePeer,
        build: u64,
        node: NodeId,
        listen: Vec<SocketAddr>,
    ) {
        let Some(pending) = lock(&remote.builds).remove(&build) else {
            return;
        };
        self.timer.note_stale();
        // The origin keeps its slot, pointing nowhere while the link is set up; a node on the way
        // forgets the construction.
        if !retarget(&pending, None) {
            return;
        }
        if let Destination::Remote(back) = &pending.initiator {
            lock(pending.initiator.tunnels()).remove(&pending.key);
            back.send_wire(&Wire::TunRedirect {
                build: pending.tunnel_id,
                node,
                listen,
            });
            return;
        }
        let Some(hooks) = self.overlay.get().cloned() else {
            return self.fail_build(pending);
        };
        let within = pending
            .deadline
            .map_or(REDIRECT_LINK_WAIT, |d| d.saturating_duration_since(Instant::now()))
            .min(REDIRECT_LINK_WAIT);
        let router = self.clone();
        tokio::spawn(async move {
            let link = hooks.link_to(node, listen, within).await;
            router.redirected(pending, link);
        });
    }

    /// The origin's link to a redirecting member node is up (or not): asks it directly, or
    /// falls back to the tree; unless the initiator gave up or the deadline passed meanwhile.
    fn redirected(&self, pending: PendingBuild, link: Option<Arc<RemotePeer>>) {
        if pending.deadline.is_some_and(|d| d <= Instant::now()) {
            return self.fail_build(pending);
        }
        match link {
            Some(link) => {
                let node = link.node;
                let dest = Destination::Remote(link);
                let build_id = dest.allocate_build_id();
                if retarget(&pending, Some((dest.clone(), build_id))) {
                    tracing::debug!(node = %node, "tunnel construction continues over a direct link");
                    self.ask(pending, dest, build_id, Via::Direct, None);
                }
            }
            None => {
                tracing::debug!(cluster = %pending.cluster, "no direct link to the tunnel's member node; the tunnel is relayed along the tree");
                self.route_build(pending, &Arrival::Client, None, false);
            }
        }
    }

    /// TUN_CONFIRM from `member`: the construction `build_id` is accepted as the member's
    /// `tunnel_id`.
    pub fn tunnel_confirm(&self, member: &Arc<LocalPeer>, build_id: u64, tunnel_id: u64) -> Result<(), Violation> {
        let pending = lock(&member.builds).remove(&build_id);
        if lock(&member.tunnels).contains_key(&tunnel_id) {
            if let Some(p) = pending {
                self.fail_build(p);
            }
            return Err(Violation(format!(
                "TUN_CONFIRM reuses tunnel id {tunnel_id}, which is still in use"
            )));
        }
        let Some(pending) = pending else {
            tracing::debug!(conn = %member.id, build_id, tunnel_id, "late or unknown tunnel confirmation");
            member
                .outbox
                .push(&tun_close(tunnel_id, "tunnel construction timed out or was abandoned"));
            return Ok(());
        };
        self.timer.note_stale();
        self.open(pending, End::new(Destination::Local(member.clone()), tunnel_id));
        Ok(())
    }

    /// Another node confirmed the construction this node sent it as `build`; it calls the tunnel
    /// `tunnel`.
    pub(super) fn remote_tunnel_confirm(&self, remote: &Arc<RemotePeer>, build: u64, tunnel: u64) {
        let pending = lock(&remote.builds).remove(&build);
        let Some(pending) = pending else {
            remote.send_wire(&Wire::TunClose {
                tunnel,
                reason: ByteStr::from("tunnel construction timed out or was abandoned"),
            });
            return;
        };
        self.timer.note_stale();
        self.open(
            pending,
            End::with_key(Destination::Remote(remote.clone()), tunnel, build),
        );
    }

    /// Another node could not build the tunnel this node asked for as `build`.
    pub(super) fn remote_tunnel_failed(&self, remote: &RemotePeer, build: u64) {
        let pending = lock(&remote.builds).remove(&build);
        if let Some(pending) = pending {
            self.timer.note_stale();
            self.fail_build(pending);
        }
    }

    /// Opens the tunnel between the initiator of `pending` and `member`, unless the initiator
    /// gave up meanwhile (then the member is told the tunnel closed).
    fn open(&self, pending: PendingBuild, member: End) {
        let member_dest = member.peer.clone();
        let (member_key, member_id) = (member.key, member.tunnel_id);
        let tunnel = Arc::new(Tunnel::new(
            End::with_key(pending.initiator.clone(), pending.tunnel_id, pending.key),
            member,
            MAX_QUEUED,
        ));
        // The member's slot goes in first, so a concurrent teardown of the initiator that finds
        // the open tunnel can also remove it.
        lock(member_dest.tunnels()).insert(
            member_key,
            TunnelSlot::Open {
                tunnel: tunnel.clone(),
                side: 1,
            },
        );
        let opened = {
            let mut tunnels = lock(pending.initiator.tunnels());
            match tunnels.get(&pending.key) {
                Some(TunnelSlot::Building { token, .. }) if *token == pending.token => {
                    tunnels.insert(
                        pending.key,
                        TunnelSlot::Open {
                            tunnel: tunnel.clone(),
                            side: 0,
                        },
                    );
                    true
                }
                _ => false,
            }
        };
        if !opened {
            lock(member_dest.tunnels()).remove(&member_key);
            member_dest.send(&tun_close(member_id, "the initiator abandoned the tunnel"));
            return;
        }
        tunnel.announce(|side, end| {
            if side == 0 {
                match &end.peer {
                    Destination::Local(_) => end.peer.send(&NodeFrame::TunConfirm {
                        tunnel_id: end.tunnel_id,
                        chunk_limit: Some(TUNNEL_CHUNK_LIMIT),
                    }),
                    Destination::Remote(remote) => remote.send_wire(&Wire::TunConfirm {
                        build: end.tunnel_id,
                        tunnel: end.key,
                    }),
                }
            }
            end.peer.send(&NodeFrame::TunAllow {
                tunnel_id: end.tunnel_id,
                space: INITIAL_TUNNEL_ALLOWANCE,
            });
        });
    }

    /// TUN_ALLOW from `peer`: it accepts `space` more octets on `tunnel_id`.
    pub fn tunnel_allow(&self, peer: &Arc<LocalPeer>, tunnel_id: u64, space: u64) {
        if let Some((tunnel, side)) = open_tunnel(&peer.tunnels, tunnel_id) {
            tunnel.allow(side, space);
        }
    }

    /// Credit from another node for the tunnel this node calls `key`.
    pub(super) fn remote_tunnel_allow(&self, remote: &RemotePeer, key: u64, space: u64) {
        if let Some((tunnel, side)) = open_tunnel(&remote.tunnels, key) {
            tunnel.allow(side, space);
        }
    }

    /// TUN_TRANSFER from `peer`. Data for a tunnel that is not open (closed meanwhile, or never
    /// confirmed) is dropped: it may have crossed a close on the wire.
    pub fn tunnel_transfer(
        &self,
        peer: &Arc<LocalPeer>,
        tunnel_id: u64,
        size_or_cont: u64,
        payload: Bytes,
    ) -> Result<(), Violation> {
        match open_tunnel(&peer.tunnels, tunnel_id) {
            Some((tunnel, side)) => tunnel.transfer(side, size_or_cont, payload),
            None => {
                tracing::debug!(conn = %peer.id, tunnel_id, "data for a tunnel that is not open dropped");
                Ok(())
            }
        }
    }

    /// Tunnel data from another node for the tunnel this node calls `key`. A node that ignores
    /// its credit loses that tunnel (closed at both ends), not the link.
    pub(super) fn remote_tunnel_transfer(&self, remote: &RemotePeer, key: u64, size_or_cont: u64, payload: Bytes) {
        let Some((tunnel, side)) = open_tunnel(&remote.tunnels, key) else {
            return;
        };
        if let Err(v) = tunnel.transfer(side, size_or_cont, payload) {
            tracing::warn!(node = %remote.node, tunnel = key, reason = %v, "tunnel over a link violated flow control; closing it");
            let wire_id = tunnel.wire_id(side);
            if let Some(slot) = lock(&remote.tunnels).remove(&key) {
                self.close_slot(slot, "flow control violated between nodes");
            }
            remote.send_wire(&Wire::TunClose {
                tunnel: wire_id,
                reason: ByteStr::from("flow control violated between nodes"),
            });
        }
    }

    /// TUN_CLOSE from `peer`: tears the tunnel down, tells the other end, acknowledges. Idempotent:
    /// closing an unknown or already closed tunnel is acknowledged too.
    pub fn tunnel_close(&self, peer: &Arc<LocalPeer>, tunnel_id: u64) {
        let slot = lock(&peer.tunnels).remove(&tunnel_id);
        if let Some(slot) = slot {
            self.close_slot(slot, "");
        }
        peer.outbox.push(&tun_close(tunnel_id, ""));
    }

    /// Another node closed the tunnel this node calls `key` (its client closed, or it failed).
    pub(super) fn remote_tunnel_close(&self, remote: &RemotePeer, key: u64, reason: &str) {
        let slot = lock(&remote.tunnels).remove(&key);
        if let Some(slot) = slot {
            self.close_slot(slot, reason);
        }
    }

    /// Ends one of a departing end's tunnel slots, telling the other end with `reason`.
    fn close_slot(&self, slot: TunnelSlot, reason: &str) {
        match slot {
            TunnelSlot::Open { tunnel, side } => {
                if let Some((other, other_id, other_key)) = tunnel.close(side) {
                    {
                        let mut tunnels = lock(other.tunnels());
                        if matches!(tunnels.get(&other_key), Some(TunnelSlot::Open { tunnel: t, .. }) if Arc::ptr_eq(t, &tunnel))
                        {
                            tunnels.remove(&other_key);
                        }
                    }
                    other.send(&tun_close(other_id, reason));
                }
            }
            TunnelSlot::Building {
                target: Some((dest, build_id)),
                ..
            } => {
                // A node asked to build is not told: its late confirmation finds nothing and is
                // answered with a close.
                if lock(dest.builds()).remove(&build_id).is_some() {
                    self.timer.note_stale();
                }
            }
            TunnelSlot::Building { target: None, .. } => {}
        }
    }

    /// Tells an initiator its construction failed, if it still waits for it.
    fn fail_build(&self, pending: PendingBuild) {
        fail_slot(&pending.initiator, pending.tunnel_id, pending.key, pending.token);
    }

    pub(super) fn expire_build(&self, target: &Destination, build_id: u64) {
        let pending = lock(target.builds()).remove(&build_id);
        if let Some(pending) = pending {
            tracing::debug!(target = ?target, build_id, "tunnel construction timed out");
            self.fail_build(pending);
        }
    }

    pub(super) fn expire_unrouted_build(&self, initiator: &Destination, tunnel_id: u64, token: u64) {
        fail_slot(initiator, tunnel_id, tunnel_id, token);
    }

    /// A connection went away: its tunnels close towards their other ends with `reason`, its
    /// pending constructions are withdrawn, and constructions waiting for its confirmation fail.
    pub(super) fn abandon_tunnels(&self, peer: &Arc<LocalPeer>, reason: &str) {
        self.abandon_tunnels_of(&Destination::Local(peer.clone()), reason);
    }

    /// [`Router::abandon_tunnels`] for any destination (a lost link too).
    pub(super) fn abandon_tunnels_of(&self, dest: &Destination, reason: &str) {
        let slots: Vec<TunnelSlot> = lock(dest.tunnels()).drain().map(|(_, s)| s).collect();
        for slot in slots {
            self.close_slot(slot, reason);
        }
        let builds: Vec<PendingBuild> = lock(dest.builds()).drain().map(|(_, b)| b).collect();
        for pending in builds {
            self.timer.note_stale();
            self.fail_build(pending);
        }
    }
}

/// Points the slot of the construction `pending` at `target`, if the slot still waits for it
/// (the initiator may have given up meanwhile). Whether it did.
fn retarget(pending: &PendingBuild, target: Option<(Destination, u64)>) -> bool {
    match lock(pending.initiator.tunnels()).get_mut(&pending.key) {
        Some(TunnelSlot::Building { token, target: slot }) if *token == pending.token => {
            *slot = target;
            true
        }
        _ => false,
    }
}

/// Tells `initiator` its construction (slot `key`, `token`) failed, if it still waits for it.
fn fail_slot(initiator: &Destination, tunnel_id: u64, key: u64, token: u64) {
    let mut tunnels = lock(initiator.tunnels());
    if matches!(tunnels.get(&key), Some(TunnelSlot::Building { token: t, .. }) if *t == token) {
        tunnels.remove(&key);
        drop(tunnels);
        initiator.send(&timed_out(tunnel_id));
    }
}

/// The open tunnel `key` of a tunnel table and that end's side of it.
fn open_tunnel(tunnels: &Mutex<HashMap<u64, TunnelSlot>>, key: u64) -> Option<(Arc<Tunnel>, usize)> {
    match lock(tunnels).get(&key) {
        Some(TunnelSlot::Open { tunnel, side }) => Some((tunnel.clone(), *side)),
        _ => None,
    }
}
