//! Request/reply: one member answers each request; the node enforces every timeout and always
//! answers the caller.

use super::clusters::Choice;
use super::destination::{Destination, LocalPeer};
use super::timer::Expiry;
use super::views::Arrival;
use super::Router;
use crate::overlay::remote::RemotePeer;
use crate::overlay::wire::{Via, Wire};
use crate::util::deadline_after;
use bytes::Bytes;
use iris_client::codec::{ByteStr, NodeFrame, ReplyOutcome};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::time::Instant;

/// A request delivered to a member and not yet answered.
#[derive(Debug)]
pub(crate) struct PendingRequest {
    /// Who asked.
    caller: Destination,
    /// The caller's own id for the request (never confused with the node's id towards the member).
    caller_id: u64,
    /// When the caller gets timed_out.
    deadline: Option<Instant>,
}

impl PendingRequest {
    /// A request now owed an answer. A caller on another node counts it on that link, so a link
    /// being replaced stays open until it is answered.
    fn new(caller: &Destination, caller_id: u64, deadline: Option<Instant>) -> PendingRequest {
        if let Destination::Remote(remote) = caller {
            remote.owe_answer();
        }
        PendingRequest {
            caller: caller.clone(),
            caller_id,
            deadline,
        }
    }
}

impl Drop for PendingRequest {
    fn drop(&mut self) {
        if let Destination::Remote(remote) = &self.caller {
            remote.answered();
        }
    }
}

/// Tells the caller its request timed out.
pub(super) fn answer_timed_out(caller: &Destination, caller_id: u64) {
    caller.send(&NodeFrame::Reply {
        id: caller_id,
        outcome: ReplyOutcome::TimedOut,
    });
}

impl Router {
    /// Routes a request to one member of `cluster` and arranges for the caller to be answered.
    ///
    /// Members that keep up with their output are preferred. When every member is above its
    /// high-water mark the request is shed: not delivered, and the caller gets timed_out at its
    /// deadline (as if a client had dropped it for lack of memory). Waiting for room instead would
    /// stall the caller's whole connection, one timeout per request, behind one stuck member.
    pub fn request(&self, caller: &Destination, caller_id: u64, cluster: &ByteStr, request: Bytes, timeout_ms: u64) {
        self.request_to(caller, caller_id, cluster, request, timeout_ms, &Arrival::Client);
    }

    /// [`Router::request`] for a request that arrived as `arrival`: from another node it goes to
    /// a local member, or further along the tree or route (see `views.rs`).
    pub(super) fn request_to(
        &self,
        caller: &Destination,
        caller_id: u64,
        cluster: &ByteStr,
        request: Bytes,
        timeout_ms: u64,
        arrival: &Arrival,
    ) {
        let deadline = deadline_after(timeout_ms);
        let unanswered = || Expiry::Unanswered {
            caller: caller.clone(),
            caller_id,
        };
        let (member, via) = match self.choose(cluster, arrival) {
            Choice::Local(member) => (member, None),
            Choice::Remote(r) => (Destination::Remote(r.peer), Some(r.via)),
            Choice::None => {
                // Nobody to ask: the caller still waits its full timeout, as if the request were lost.
                self.timer.schedule(deadline, unanswered());
                return;
            }
        };
        if !member.has_room() {
            let shed = self.shed.fetch_add(1, Ordering::Relaxed);
            // One line per 1024 shed requests: overload must not also flood the log.
            if shed & 1023 == 0 {
                tracing::warn!(%cluster, total_shed = shed + 1, "request shed: every member is far behind on its output");
            }
            self.timer.schedule(deadline, unanswered());
            return;
        }
        match (&member, via) {
            (Destination::Local(peer), _) => {
                let id = peer.allocate_request_id();
                peer.add_request(id, PendingRequest::new(caller, caller_id, deadline));
                // If the member is closing the push is refused; the entry then waits for the
                // deadline like any unanswered request.
                peer.outbox.push(&NodeFrame::Request {
                    id,
                    request,
                    timeout_ms,
                });
                self.timer.schedule(
                    deadline,
                    Expiry::Request {
                        target: member.clone(),
                        id,
                    },
                );
            }
            (Destination::Remote(remote), via) => {
                // This node enforces the deadline too: if the other node dies or stalls, the
                // caller still hears back (at once when the link drops, else at the deadline).
                let id = remote.allocate_request_id();
                remote.add_request(id, PendingRequest::new(caller, caller_id, deadline));
                remote.mark_used();
                remote.send_wire(&Wire::Request {
                    id,
                    cluster: cluster.clone(),
                    request,
                    timeout_ms,
                    via: via.unwrap_or(Via::Direct),
                });
                self.timer.schedule(
                    deadline,
                    Expiry::Request {
                        target: member.clone(),
                        id,
                    },
                );
            }
        }
    }

    /// Handles a member's REPLY to the node's request `id`. Late, unknown and duplicate replies are
    /// ignored; an empty fault means "no answer" and the caller times out at its deadline.
    pub fn reply(&self, member: &Arc<LocalPeer>, id: u64, result: Result<Bytes, ByteStr>) {
        let Some(pending) = member.take_request(id) else {
            tracing::debug!(conn = %member.id, id, "reply to an unknown or expired request ignored");
            return;
        };
        let outcome = match result {
            Ok(reply) => ReplyOutcome::Reply(reply),
            Err(fault) if fault.is_empty() => {
                // The delivery's own timer entry is now stale; a fresh one answers the caller.
                self.timer.note_stale();
                let what = Expiry::Unanswered {
                    caller: pending.caller.clone(),
                    caller_id: pending.caller_id,
                };
                self.timer.schedule(pending.deadline, what);
                return;
            }
            Err(fault) => ReplyOutcome::Fault(fault),
        };
        self.timer.note_stale();
        pending.caller.send(&NodeFrame::Reply {
            id: pending.caller_id,
            outcome,
        });
    }

    pub(super) fn expire_request(&self, target: &Destination, id: u64) {
        if let Some(pending) = target.take_request(id) {
            tracing::debug!(target = ?target, id, "request timed out");
            answer_timed_out(&pending.caller, pending.caller_id);
        }
    }

    /// Another node answered the request this node sent it as `id`.
    pub(super) fn remote_reply(&self, remote: &RemotePeer, id: u64, outcome: ReplyOutcome) {
        let Some(pending) = remote.take_request(id) else {
            tracing::debug!(node = %remote.node, id, "reply to an unknown or expired request ignored");
            return;
        };
        self.timer.note_stale();
        pending.caller.send(&NodeFrame::Reply {
            id: pending.caller_id,
            outcome,
        });
    }

    /// A member went away: its callers learn at once instead of waiting out their timeouts (the
    /// request may or may not have been processed; re-sending it elsewhere could run it twice).
    pub(super) fn abandon_requests(&self, peer: &Arc<LocalPeer>) {
        self.answer_abandoned(peer.take_all_requests());
    }

    /// Answers timed_out to the callers of requests that can no longer be answered.
    pub(super) fn answer_abandoned(&self, abandoned: Vec<PendingRequest>) {
        for pending in abandoned {
            self.timer.note_stale();
            answer_timed_out(&pending.caller, pending.caller_id);
        }
    }
}
