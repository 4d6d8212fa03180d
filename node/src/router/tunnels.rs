//! Tunnel construction, dispatch of tunnel frames to the right [`Tunnel`], and teardown.
//!
//! Construction: the initiator's TUN_INIT picks one member, which gets TUN_INIT with a node-chosen
//! build id and answers TUN_CONFIRM with its own tunnel id. The node enforces the initiator's
//! timeout; a member that confirms too late gets TUN_CLOSE for that tunnel only.

use super::destination::{Destination, LocalPeer};
use super::timer::Expiry;
use super::tunnel::{End, Tunnel};
use super::{Router, Violation};
use crate::util::{deadline_after, lock};
use bytes::Bytes;
use iris_client::codec::{ByteStr, NodeFrame, CHUNK_LIMIT};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The largest TUN_TRANSFER payload, announced to both ends.
pub const TUNNEL_CHUNK_LIMIT: u64 = CHUNK_LIMIT as u64;
/// The allowance the node grants each client end right after construction (octets).
pub const INITIAL_TUNNEL_ALLOWANCE: u64 = 4 * 1024 * 1024;
/// Octets that may wait in the node for one receiver of one tunnel before the sender is deemed to
/// ignore its allowance: the allowance plus slack for grant-backs in flight.
const MAX_QUEUED: usize = INITIAL_TUNNEL_ALLOWANCE as usize + 2 * CHUNK_LIMIT;

/// A connection's entry for one of its tunnel ids.
pub(crate) enum TunnelSlot {
    /// TUN_INIT seen, not yet confirmed. `target` is the member asked and its build id (`None` when
    /// the cluster had no member); `token` tells this slot from a later one with the same id.
    Building { target: Option<(Destination, u64)>, token: u64 },
    /// An open tunnel, this connection being end `side`.
    Open { tunnel: Arc<Tunnel>, side: usize },
}

/// A construction delivered to a member, awaiting its TUN_CONFIRM.
#[derive(Debug)]
pub(crate) struct PendingBuild {
    initiator: Destination,
    tunnel_id: u64,
    token: u64,
}

fn tun_close(tunnel_id: u64, reason: &str) -> NodeFrame {
    NodeFrame::TunClose { tunnel_id, reason: ByteStr::from(reason) }
}

fn timed_out(tunnel_id: u64) -> NodeFrame {
    NodeFrame::TunConfirm { tunnel_id, chunk_limit: None }
}

impl Router {
    /// TUN_INIT from `initiator`: asks one member of `cluster` to accept a tunnel.
    pub fn tunnel_init(&self, initiator: &Arc<LocalPeer>, tunnel_id: u64, cluster: &ByteStr, timeout_ms: u64) -> Result<(), Violation> {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let deadline = deadline_after(timeout_ms);
        let me = Destination::Local(initiator.clone());
        let member = self.pick_member(cluster);
        let target = member.map(|dest| {
            let build_id = match &dest {
                Destination::Local(peer) => peer.allocate_build_id(),
            };
            (dest, build_id)
        });
        {
            let mut tunnels = lock(&initiator.tunnels);
            if tunnels.contains_key(&tunnel_id) {
                return Err(Violation(format!("TUN_INIT reuses tunnel id {tunnel_id}, which is still in use")));
            }
            tunnels.insert(tunnel_id, TunnelSlot::Building { target: target.clone(), token });
        }
        match target {
            None => {
                self.timer.schedule(deadline, Expiry::UnroutedBuild { initiator: me, tunnel_id, token });
            }
            Some((dest, build_id)) => {
                let Destination::Local(peer) = &dest;
                lock(&peer.builds).insert(build_id, PendingBuild { initiator: me, tunnel_id, token });
                peer.outbox.push(&NodeFrame::TunInit { build_id, chunk_limit: TUNNEL_CHUNK_LIMIT });
                self.timer.schedule(deadline, Expiry::Build { target: dest, build_id });
            }
        }
        Ok(())
    }

    /// TUN_CONFIRM from `member`: the construction `build_id` is accepted as the member's
    /// `tunnel_id`.
    pub fn tunnel_confirm(&self, member: &Arc<LocalPeer>, build_id: u64, tunnel_id: u64) -> Result<(), Violation> {
        let pending = lock(&member.builds).remove(&build_id);
        if lock(&member.tunnels).contains_key(&tunnel_id) {
            if let Some(p) = pending {
                self.fail_build(p);
            }
            return Err(Violation(format!("TUN_CONFIRM reuses tunnel id {tunnel_id}, which is still in use")));
        }
        let Some(pending) = pending else {
            tracing::debug!(conn = %member.id, build_id, tunnel_id, "late or unknown tunnel confirmation");
            member.outbox.push(&tun_close(tunnel_id, "tunnel construction timed out or was abandoned"));
            return Ok(());
        };
        self.timer.note_stale();
        let me = Destination::Local(member.clone());
        let tunnel = Arc::new(Tunnel::new(
            End::new(pending.initiator.clone(), pending.tunnel_id),
            End::new(me, tunnel_id),
            MAX_QUEUED,
        ));
        // The member's slot goes in first, so a concurrent teardown of the initiator that finds
        // the open tunnel can also remove it.
        lock(&member.tunnels).insert(tunnel_id, TunnelSlot::Open { tunnel: tunnel.clone(), side: 1 });
        let opened = match &pending.initiator {
            Destination::Local(initiator) => {
                let mut tunnels = lock(&initiator.tunnels);
                match tunnels.get(&pending.tunnel_id) {
                    Some(TunnelSlot::Building { token, .. }) if *token == pending.token => {
                        tunnels.insert(pending.tunnel_id, TunnelSlot::Open { tunnel: tunnel.clone(), side: 0 });
                        true
                    }
                    _ => false,
                }
            }
        };
        if !opened {
            lock(&member.tunnels).remove(&tunnel_id);
            member.outbox.push(&tun_close(tunnel_id, "the initiator abandoned the tunnel"));
            return Ok(());
        }
        tunnel.announce(|side, end| {
            let allow = NodeFrame::TunAllow { tunnel_id: end.tunnel_id, space: INITIAL_TUNNEL_ALLOWANCE };
            if side == 0 {
                vec![NodeFrame::TunConfirm { tunnel_id: end.tunnel_id, chunk_limit: Some(TUNNEL_CHUNK_LIMIT) }, allow]
            } else {
                vec![allow]
            }
        });
        Ok(())
    }

    /// TUN_ALLOW from `peer`: it accepts `space` more octets on `tunnel_id`.
    pub fn tunnel_allow(&self, peer: &Arc<LocalPeer>, tunnel_id: u64, space: u64) {
        if let Some((tunnel, side)) = open_tunnel(peer, tunnel_id) {
            tunnel.allow(side, space);
        }
    }

    /// TUN_TRANSFER from `peer`. Data for a tunnel that is not open (closed meanwhile, or never
    /// confirmed) is dropped: it may have crossed a close on the wire.
    pub fn tunnel_transfer(&self, peer: &Arc<LocalPeer>, tunnel_id: u64, size_or_cont: u64, payload: Bytes) -> Result<(), Violation> {
        match open_tunnel(peer, tunnel_id) {
            Some((tunnel, side)) => tunnel.transfer(side, size_or_cont, payload),
            None => {
                tracing::debug!(conn = %peer.id, tunnel_id, "data for a tunnel that is not open dropped");
                Ok(())
            }
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

    /// Ends one of a departing connection's tunnel slots, telling the other end with `reason`.
    fn close_slot(&self, slot: TunnelSlot, reason: &str) {
        match slot {
            TunnelSlot::Open { tunnel, side } => {
                if let Some((other, other_id)) = tunnel.close(side) {
                    match &other {
                        Destination::Local(other_peer) => {
                            let mut tunnels = lock(&other_peer.tunnels);
                            if matches!(tunnels.get(&other_id), Some(TunnelSlot::Open { tunnel: t, .. }) if Arc::ptr_eq(t, &tunnel)) {
                                tunnels.remove(&other_id);
                            }
                        }
                    }
                    other.send(&tun_close(other_id, reason));
                }
            }
            TunnelSlot::Building { target: Some((Destination::Local(member), build_id)), .. } => {
                if lock(&member.builds).remove(&build_id).is_some() {
                    self.timer.note_stale();
                }
            }
            TunnelSlot::Building { target: None, .. } => {}
        }
    }

    /// Tells an initiator its construction failed, if it still waits for it.
    fn fail_build(&self, pending: PendingBuild) {
        match &pending.initiator {
            Destination::Local(initiator) => {
                let mut tunnels = lock(&initiator.tunnels);
                if matches!(tunnels.get(&pending.tunnel_id), Some(TunnelSlot::Building { token, .. }) if *token == pending.token) {
                    tunnels.remove(&pending.tunnel_id);
                    drop(tunnels);
                    initiator.outbox.push(&timed_out(pending.tunnel_id));
                }
            }
        }
    }

    pub(super) fn expire_build(&self, target: &Destination, build_id: u64) {
        let Destination::Local(member) = target;
        let pending = lock(&member.builds).remove(&build_id);
        if let Some(pending) = pending {
            tracing::debug!(conn = %member.id, build_id, "tunnel construction timed out");
            self.fail_build(pending);
        }
    }

    pub(super) fn expire_unrouted_build(&self, initiator: &Destination, tunnel_id: u64, token: u64) {
        let Destination::Local(peer) = initiator;
        let fail = PendingBuild { initiator: Destination::Local(peer.clone()), tunnel_id, token };
        self.fail_build(fail);
    }

    /// A connection went away: its tunnels close towards their other ends with `reason`, its
    /// pending constructions are withdrawn, and constructions waiting for its confirmation fail.
    pub(super) fn abandon_tunnels(&self, peer: &Arc<LocalPeer>, reason: &str) {
        let slots: Vec<TunnelSlot> = lock(&peer.tunnels).drain().map(|(_, s)| s).collect();
        for slot in slots {
            self.close_slot(slot, reason);
        }
        let builds: Vec<PendingBuild> = lock(&peer.builds).drain().map(|(_, b)| b).collect();
        for pending in builds {
            self.timer.note_stale();
            self.fail_build(pending);
        }
    }
}

/// The open tunnel `tunnel_id` of `peer` and `peer`'s side of it.
fn open_tunnel(peer: &LocalPeer, tunnel_id: u64) -> Option<(Arc<Tunnel>, usize)> {
    match lock(&peer.tunnels).get(&tunnel_id) {
        Some(TunnelSlot::Open { tunnel, side }) => Some((tunnel.clone(), *side)),
        _ => None,
    }
}
