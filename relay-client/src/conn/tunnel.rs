//! Tunnels: ordered, flow-controlled message streams to one cluster member.
//!
//! Outbound messages are cut into chunks no larger than the node's chunk limit; a chunk is sent
//! only while the node's allowance covers it. Inbound chunks are reassembled; each consumed
//! message is granted back to the node, so a reader that stops reading stops the writer.

use super::{ConnInner, Send};
use crate::codec::ClientFrame;
use crate::error::{Error, Result};
use crate::runtime;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a close waits for the node's acknowledgement.
const CLOSE_ACK_WAIT: Duration = Duration::from_secs(5);

struct Partial {
    buf: BytesMut,
    expected: usize,
}

struct State {
    /// Octets the node currently allows us to send.
    credit: u64,
    inbox: VecDeque<Bytes>,
    partial: Option<Partial>,
    /// Set once the tunnel can no longer carry data; buffered messages stay readable.
    closed: Option<Error>,
    /// The node has confirmed the tunnel is gone on its side.
    acked: bool,
}

/// One tunnel's state, shared by the reader task and the application's handles.
pub(crate) struct TunnelInner {
    id: u64,
    conn: Arc<ConnInner>,
    chunk_limit: usize,
    state: Mutex<State>,
    changed: Notify,
    /// Keeps the chunks of concurrent sends from interleaving.
    send_lock: tokio::sync::Mutex<()>,
}

impl TunnelInner {
    pub(crate) fn new(id: u64, conn: Arc<ConnInner>, chunk_limit: u64) -> Arc<Self> {
        let chunk_limit = usize::try_from(chunk_limit)
            .unwrap_or(usize::MAX)
            .clamp(1, crate::codec::CHUNK_LIMIT);
        Arc::new(TunnelInner {
            id,
            conn,
            chunk_limit,
            state: Mutex::new(State {
                credit: 0,
                inbox: VecDeque::new(),
                partial: None,
                closed: None,
                acked: false,
            }),
            changed: Notify::new(),
            send_lock: tokio::sync::Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn on_allow(&self, space: u64) {
        let mut state = self.lock();
        state.credit = state.credit.saturating_add(space);
        drop(state);
        self.changed.notify_waiters();
    }

    pub(crate) fn on_transfer(&self, size_or_cont: u64, payload: Bytes) {
        let mut state = self.lock();
        if state.closed.is_some() {
            return;
        }
        // Octets the node spent allowance on that no application will ever consume: granted back
        // at once, or an abandoned message would shrink the tunnel's window for good.
        let mut discarded = 0usize;
        let complete = if size_or_cont > 0 {
            if let Some(stale) = state.partial.take() {
                discarded += stale.buf.len();
                tracing::debug!(conn = self.conn.id, tunnel = self.id, "discarded an incomplete message");
            }
            let expected = usize::try_from(size_or_cont).unwrap_or(usize::MAX);
            if payload.len() == expected {
                Some(payload)
            } else if payload.len() < expected {
                let mut buf = BytesMut::with_capacity(expected.min(4 * 1024 * 1024));
                buf.extend_from_slice(&payload);
                state.partial = Some(Partial { buf, expected });
                None
            } else {
                discarded += payload.len();
                tracing::warn!(
                    conn = self.conn.id,
                    tunnel = self.id,
                    "discarded a chunk larger than its message"
                );
                None
            }
        } else {
            match state.partial.as_mut() {
                None => {
                    discarded += payload.len();
                    tracing::debug!(
                        conn = self.conn.id,
                        tunnel = self.id,
                        "discarded a stray continuation chunk"
                    );
                    None
                }
                Some(p) if p.buf.len() + payload.len() > p.expected => {
                    discarded += p.buf.len() + payload.len();
                    state.partial = None;
                    tracing::warn!(
                        conn = self.conn.id,
                        tunnel = self.id,
                        "discarded a message overrunning its size"
                    );
                    None
                }
                Some(p) => {
                    p.buf.extend_from_slice(&payload);
                    if p.buf.len() == p.expected {
                        state.partial.take().map(|p| p.buf.freeze())
                    } else {
                        None
                    }
                }
            }
        };
        let arrived = complete.is_some();
        if let Some(message) = complete {
            state.inbox.push_back(message);
        }
        drop(state);
        if discarded > 0 {
            self.conn.out.push(
                &ClientFrame::TunAllow {
                    tunnel_id: self.id,
                    space: discarded as u64,
                },
                Send::Batch,
            );
        }
        if arrived {
            self.changed.notify_waiters();
        }
    }

    /// The tunnel ended (closed by either side or with its connection).
    pub(crate) fn on_closed(&self, reason: Error) {
        let mut state = self.lock();
        state.acked = true;
        state.partial = None;
        if state.closed.is_none() {
            state.closed = Some(reason);
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// Waits until `check` yields a result, re-checking on every state change, until `deadline`.
    async fn wait_for<T>(
        &self,
        deadline: Option<Instant>,
        what: &str,
        mut check: impl FnMut(&mut State) -> Option<Result<T>>,
    ) -> Result<T> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(result) = check(&mut self.lock()) {
                return result;
            }
            match deadline {
                None => changed.await,
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, changed).await.is_err() {
                        return Err(Error::timeout(format!("tunnel {what} timed out")));
                    }
                }
            }
        }
    }

    async fn send(&self, message: Bytes, timeout: Option<Duration>) -> Result<()> {
        if message.is_empty() {
            return Err(Error::invalid("the tunnel message must not be empty"));
        }
        runtime::check_fork(self.conn.fork_generation)?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let guard = match deadline {
            None => self.send_lock.lock().await,
            Some(d) => tokio::time::timeout_at(d, self.send_lock.lock())
                .await
                .map_err(|_| Error::timeout("tunnel send timed out"))?,
        };
        let total = message.len() as u64;
        let mut offset = 0;
        while offset < message.len() {
            let end = (offset + self.chunk_limit).min(message.len());
            let need = (end - offset) as u64;
            self.wait_for(deadline, "send", |state| {
                if let Some(reason) = &state.closed {
                    return Some(Err(reason.clone()));
                }
                if state.credit >= need {
                    state.credit -= need;
                    return Some(Ok(()));
                }
                None
            })
            .await?;
            let frame = ClientFrame::TunTransfer {
                tunnel_id: self.id,
                size_or_cont: if offset == 0 { total } else { 0 },
                payload: message.slice(offset..end),
            };
            let sent = match deadline {
                None => self.conn.out.push_flow(&frame, Send::Batch).await,
                Some(d) => tokio::time::timeout_at(d, self.conn.out.push_flow(&frame, Send::Batch))
                    .await
                    .map_err(|_| Error::timeout("tunnel send timed out"))?,
            };
            if !sent {
                return Err(self.conn.closed_reason());
            }
            offset = end;
        }
        drop(guard);
        Ok(())
    }

    async fn recv(&self, timeout: Option<Duration>) -> Result<Bytes> {
        runtime::check_fork(self.conn.fork_generation)?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let message = self
            .wait_for(deadline, "receive", |state| {
                if let Some(message) = state.inbox.pop_front() {
                    return Some(Ok(message));
                }
                state.closed.as_ref().map(|reason| Err(reason.clone()))
            })
            .await?;
        if self.lock().closed.is_none() {
            self.conn.out.push(
                &ClientFrame::TunAllow {
                    tunnel_id: self.id,
                    space: message.len() as u64,
                },
                Send::Batch,
            );
        }
        Ok(message)
    }

    /// Marks the tunnel closed locally and tells the node. Returns false if it already was.
    fn begin_close(&self) -> bool {
        let mut state = self.lock();
        if state.closed.is_some() {
            return false;
        }
        state.closed = Some(Error::closed("the tunnel was closed"));
        drop(state);
        self.changed.notify_waiters();
        self.conn
            .out
            .push(&ClientFrame::TunClose { tunnel_id: self.id }, Send::Now);
        true
    }

    async fn close(&self) -> Result<()> {
        self.begin_close();
        let acked = self.wait_for(Some(Instant::now() + CLOSE_ACK_WAIT), "close", |state| {
            state.acked.then_some(Ok(()))
        });
        if acked.await.is_err() {
            tracing::debug!(
                conn = self.conn.id,
                tunnel = self.id,
                "no close acknowledgement from the node"
            );
        }
        Ok(())
    }

    pub(crate) fn close_in_background(&self) {
        self.begin_close();
    }
}

/// An ordered, flow-controlled stream of messages to one member of a cluster (or, in a service's
/// `handle_tunnel`, from a client).
///
/// Send and receive may run concurrently from different threads. Dropping the tunnel closes it.
pub struct Tunnel {
    inner: Arc<TunnelInner>,
}

impl Tunnel {
    pub(crate) fn from_inner(inner: Arc<TunnelInner>) -> Self {
        Tunnel { inner }
    }

    /// Sends one message, waiting for flow-control allowance as needed. `timeout` covers the whole
    /// message; `None` waits as long as it takes. On a timeout part of the message may have been
    /// sent; the receiver discards such an incomplete message.
    pub fn send(&self, message: impl Into<Bytes>, timeout: Option<Duration>) -> Result<()> {
        runtime::block_on(self.inner.send(message.into(), timeout))?
    }

    /// Async form of [`send`](Self::send).
    pub async fn send_async(&self, message: impl Into<Bytes>, timeout: Option<Duration>) -> Result<()> {
        self.inner.send(message.into(), timeout).await
    }

    /// Receives the next message, waiting at most `timeout` (`None`: forever). Messages that
    /// arrived before the tunnel closed are still returned; after them, CLOSED.
    pub fn recv(&self, timeout: Option<Duration>) -> Result<Bytes> {
        runtime::block_on(self.inner.recv(timeout))?
    }

    /// Async form of [`recv`](Self::recv).
    pub async fn recv_async(&self, timeout: Option<Duration>) -> Result<Bytes> {
        self.inner.recv(timeout).await
    }

    /// Closes the tunnel and waits briefly for the node to confirm. Closing twice is fine.
    pub fn close(&self) -> Result<()> {
        runtime::block_on(self.inner.close())?
    }

    /// Async form of [`close`](Self::close).
    pub async fn close_async(&self) -> Result<()> {
        self.inner.close().await
    }

    /// The tunnel's id on this connection (for logs).
    pub fn id(&self) -> u64 {
        self.inner.id
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.inner.close_in_background();
    }
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel")
            .field("id", &self.inner.id)
            .field("conn", &self.inner.conn.id)
            .finish()
    }
}
