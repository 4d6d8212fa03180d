//! One open tunnel: two ends, credit-based flow control per direction, strict ordering.
//!
//! Towards each end the node holds `credit`, the octets that end has allowed it to send. A chunk
//! that starts a message waits (in order, in the node) until the credit covers it; continuation
//! chunks are forced through even if the credit goes negative, so a message never stalls halfway.
//! Once a chunk has been queued towards its receiver, the node grants its size back to the sender.
//! The sender's own allowance (granted by the node) bounds what can wait here.

use super::destination::Destination;
use super::Violation;
use crate::util::lock;
use bytes::Bytes;
use iris_client::codec::NodeFrame;
use std::collections::VecDeque;
use std::sync::Mutex;

/// One chunk waiting for credit.
struct Chunk {
    size_or_cont: u64,
    payload: Bytes,
}

/// One end of a tunnel.
pub(super) struct End {
    /// The client at this end.
    pub(super) peer: Destination,
    /// The id frames towards this end carry (the client's id, or the other node's id).
    pub(super) tunnel_id: u64,
    /// The key of this tunnel in the destination's own tunnel table (equals `tunnel_id` for a
    /// local client; this node's id for a tunnel over a link).
    pub(super) key: u64,
    /// Every chunk, continuations too, needs credit: set for another node, which (unlike a
    /// client) would otherwise count forced continuations as a flow-control violation.
    strict: bool,
    /// Octets this end allows the node to send it; negative after forced continuations.
    credit: i64,
    /// Chunks waiting for credit towards this end, in order.
    queue: VecDeque<Chunk>,
    /// Payload octets in `queue`.
    queued: usize,
}

impl End {
    pub(super) fn new(peer: Destination, tunnel_id: u64) -> End {
        End::with_key(peer, tunnel_id, tunnel_id)
    }

    /// An end whose table key differs from the id its frames carry (a link to another node).
    pub(super) fn with_key(peer: Destination, tunnel_id: u64, key: u64) -> End {
        let strict = !peer.is_local();
        End {
            peer,
            tunnel_id,
            key,
            strict,
            credit: 0,
            queue: VecDeque::new(),
            queued: 0,
        }
    }
}

struct State {
    closed: bool,
    ends: [End; 2],
}

/// An open tunnel between two ends (0 = the initiator, 1 = the member).
pub(crate) struct Tunnel {
    state: Mutex<State>,
    /// Most octets that may wait here for one receiver: the sender's allowance plus slack for
    /// chunks in flight while the grant-back travels.
    max_queued: usize,
}

impl Tunnel {
    pub(super) fn new(initiator: End, member: End, max_queued: usize) -> Tunnel {
        Tunnel {
            state: Mutex::new(State {
                closed: false,
                ends: [initiator, member],
            }),
            max_queued,
        }
    }

    /// Calls `announce(side, end)` for both ends unless the tunnel closed meanwhile (confirmation
    /// and initial allowances race with a close from either side).
    pub(super) fn announce(&self, mut announce: impl FnMut(usize, &End)) {
        let st = lock(&self.state);
        if st.closed {
            return;
        }
        for (side, end) in st.ends.iter().enumerate() {
            announce(side, end);
        }
    }

    /// The id frames towards end `side` carry.
    pub(super) fn wire_id(&self, side: usize) -> u64 {
        lock(&self.state).ends[side].tunnel_id
    }

    /// A chunk from end `from` towards the other end.
    pub(super) fn transfer(&self, from: usize, size_or_cont: u64, payload: Bytes) -> Result<(), Violation> {
        let mut st = lock(&self.state);
        if st.closed {
            return Ok(());
        }
        let to = 1 - from;
        let receiver = &mut st.ends[to];
        let chunk = Chunk { size_or_cont, payload };
        if receiver.queue.is_empty() && can_send(receiver, &chunk) {
            forward(&mut st, from, chunk);
            return Ok(());
        }
        receiver.queued += chunk.payload.len();
        receiver.queue.push_back(chunk);
        // Another node may legitimately exceed its credit once: a closing end's node flushes what
        // waited there (at most `max_queued`) ahead of the close.
        let limit = if st.ends[from].strict {
            2 * self.max_queued
        } else {
            self.max_queued
        };
        let receiver = &st.ends[to];
        if receiver.queued > limit {
            return Err(Violation(format!(
                "tunnel {} sent {} octets beyond its allowance",
                st.ends[from].tunnel_id, st.ends[to].queued
            )));
        }
        Ok(())
    }

    /// End `side` allows the node `space` more octets; sends what now fits, in order.
    pub(super) fn allow(&self, side: usize, space: u64) {
        let mut st = lock(&self.state);
        if st.closed {
            return;
        }
        let receiver = &mut st.ends[side];
        receiver.credit = receiver.credit.saturating_add(i64::try_from(space).unwrap_or(i64::MAX));
        loop {
            let receiver = &mut st.ends[side];
            let Some(front) = receiver.queue.front() else { break };
            if !can_send(receiver, front) {
                break;
            }
            let Some(chunk) = receiver.queue.pop_front() else { break };
            receiver.queued -= chunk.payload.len();
            forward(&mut st, 1 - side, chunk);
        }
    }

    /// Closes the tunnel once; returns the other end (to be told with `reason`) if this call
    /// closed it.
    ///
    /// What the closing end sent before its close still reaches the other end, ahead of the close
    /// (even beyond the credit: the other end buffers it, and the closer's allowance bounds it), so
    /// "send, send, close" never loses the sends to a race with the other end's first grant. Data
    /// waiting towards the closing end is dropped: nobody will read it.
    pub(super) fn close(&self, from: usize) -> Option<(Destination, u64, u64)> {
        let mut st = lock(&self.state);
        if st.closed {
            return None;
        }
        st.closed = true;
        let other = &mut st.ends[1 - from];
        other.queued = 0;
        for chunk in std::mem::take(&mut other.queue) {
            other.peer.send(&NodeFrame::TunTransfer {
                tunnel_id: other.tunnel_id,
                size_or_cont: chunk.size_or_cont,
                payload: chunk.payload,
            });
        }
        let closer = &mut st.ends[from];
        closer.queue.clear();
        closer.queued = 0;
        let other = &st.ends[1 - from];
        Some((other.peer.clone(), other.tunnel_id, other.key))
    }
}

/// A first chunk needs credit for its size; a continuation always goes, except towards another
/// node.
fn can_send(receiver: &End, chunk: &Chunk) -> bool {
    (chunk.size_or_cont == 0 && !receiver.strict) || receiver.credit >= chunk.payload.len() as i64
}

/// Queues `chunk` from end `from` to the other end and grants its size back to the sender.
fn forward(st: &mut State, from: usize, chunk: Chunk) {
    let len = chunk.payload.len();
    let receiver = &mut st.ends[1 - from];
    receiver.credit -= len as i64;
    receiver.peer.send(&NodeFrame::TunTransfer {
        tunnel_id: receiver.tunnel_id,
        size_or_cont: chunk.size_or_cont,
        payload: chunk.payload,
    });
    if len > 0 {
        let sender = &st.ends[from];
        sender.peer.send(&NodeFrame::TunAllow {
            tunnel_id: sender.tunnel_id,
            space: len as u64,
        });
    }
}
