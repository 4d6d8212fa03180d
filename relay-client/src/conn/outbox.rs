//! The outgoing side of a connection: frames are encoded straight into one shared buffer. When the
//! socket is idle, the producing thread writes the buffer itself (no hand-off, no wake-up: the
//! lowest latency); otherwise the writer task sends whatever has accumulated in one write, so a
//! burst of frames costs one system call, not one per frame.

use crate::codec::ClientFrame;
use crate::outq::OutQueue;
use crate::transport::WriteHalf;
use std::io;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Above this many buffered octets, flow-controlled producers wait for the writer to catch up.
const HIGH_WATER: usize = 4 * 1024 * 1024;
/// Buffers that grew beyond this are not kept for reuse.
const KEEP_CAPACITY: usize = 1024 * 1024;
/// Inline writes are for small bursts; larger ones go to the writer task so a producer never
/// spends long inside the lock.
const INLINE_LIMIT: usize = 256 * 1024;

/// Who performs the write of a queued frame when the socket is idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Send {
    /// The calling thread, at once (lowest latency).
    Now,
    /// The writer task, together with whatever else arrives meanwhile (highest throughput).
    Batch,
}

struct State {
    buf: OutQueue,
    closed: bool,
    /// Someone owns the socket right now (the writer task, or a producer writing inline):
    /// producers must only append.
    writing: bool,
    /// A producer is writing inline, outside the lock; the writer task must leave the buffer alone.
    inline: bool,
    socket: Option<Arc<WriteHalf>>,
}

/// The shared output buffer of one connection.
pub(crate) struct Outbox {
    state: Mutex<State>,
    writer: Notify,
    space: Notify,
}

impl Outbox {
    pub(crate) fn new(socket: WriteHalf) -> Self {
        Outbox {
            state: Mutex::new(State {
                buf: OutQueue::with_capacity(64 * 1024),
                closed: false,
                writing: false,
                inline: false,
                socket: Some(Arc::new(socket)),
            }),
            writer: Notify::new(),
            space: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a frame regardless of how much is buffered (control frames and replies, which must
    /// never wait behind the reader). Returns false once the connection's writer has stopped.
    ///
    /// `Send::Now` writes on the calling thread when the socket is idle: for frames someone waits
    /// on (requests, replies, control). The write happens outside the lock, so frames pushed by
    /// other threads meanwhile queue up and leave together in the writer task's next write:
    /// a lone request costs no thread hand-off, a crowd of them still shares system calls.
    /// `Send::Batch` always leaves the write to the writer task, so a burst of fire-and-forget
    /// frames (publish, broadcast, tunnel data) shares system calls.
    pub(crate) fn push(&self, frame: &ClientFrame, send: Send) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        state.buf.push_client(frame);
        if state.writing {
            return true;
        }
        state.writing = true;
        let socket = if send == Send::Now && state.buf.len() <= INLINE_LIMIT {
            state.socket.clone()
        } else {
            None
        };
        let Some(socket) = socket else {
            drop(state);
            self.writer.notify_one();
            return true;
        };
        state.inline = true;
        let mut batch = std::mem::take(&mut state.buf);
        drop(state);
        while !batch.is_empty() {
            if batch.try_write_to(&socket).is_err() {
                break; // would block or failed: the writer task takes over
            }
        }
        let mut state = self.lock();
        state.inline = false;
        if batch.is_empty() && state.buf.is_empty() {
            state.writing = false;
            batch.clear();
            state.buf = batch; // keep the allocation
            let closed = state.closed;
            drop(state);
            if closed {
                self.writer.notify_one(); // the writer task may now finish
            }
            return true;
        }
        if !batch.is_empty() {
            // The unsent rest goes out before anything queued meanwhile.
            batch.append(&mut state.buf);
            state.buf = batch;
        }
        drop(state);
        self.writer.notify_one();
        true
    }

    /// Queues a frame once the buffer is below the high-water mark, so a fast producer cannot grow
    /// memory without bound. Returns false once the writer has stopped.
    pub(crate) async fn push_flow(&self, frame: &ClientFrame, send: Send) -> bool {
        // Fast path: below the mark there is nothing to wait for.
        if self.lock().buf.len() < HIGH_WATER {
            return self.push(frame, send);
        }
        loop {
            let space = self.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            {
                let state = self.lock();
                if state.closed {
                    return false;
                }
                if state.buf.len() < HIGH_WATER {
                    drop(state);
                    return self.push(frame, send);
                }
            }
            space.await;
        }
    }

    /// Stops accepting frames; the writer sends what is buffered, then shuts the socket down.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.writer.notify_one();
        self.space.notify_waiters();
    }

    /// The writer task: sends what producers could not send inline, until closed and drained or
    /// the socket fails. Shuts the socket's sending side down when it ends.
    pub(crate) async fn run_writer(&self) -> io::Result<()> {
        let mut spare = OutQueue::with_capacity(64 * 1024);
        let result = loop {
            let (batch, socket) = {
                let mut state = self.lock();
                if state.inline {
                    (None, None)
                } else if state.buf.is_empty() {
                    state.writing = false;
                    if state.closed {
                        break Ok(());
                    }
                    (None, None)
                } else {
                    state.writing = true;
                    let batch = std::mem::replace(&mut state.buf, std::mem::take(&mut spare));
                    (Some(batch), state.socket.clone())
                }
            };
            let (Some(mut batch), Some(socket)) = (batch, socket) else {
                self.writer.notified().await;
                continue;
            };
            if let Err(e) = batch.write_all_to(&socket).await {
                break Err(e);
            }
            self.space.notify_waiters();
            batch.clear();
            spare = if batch.capacity() <= KEEP_CAPACITY {
                batch
            } else {
                OutQueue::with_capacity(64 * 1024)
            };
        };
        let socket = {
            let mut state = self.lock();
            state.closed = true;
            state.socket.take()
        };
        self.space.notify_waiters();
        if let Some(socket) = socket {
            // Dropping the last handle on the write half sends FIN.
            drop(socket);
        }
        result
    }
}
