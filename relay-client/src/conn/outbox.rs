//! The outgoing side of a connection: frames are encoded straight into one shared buffer and a
//! single writer task sends whatever has accumulated in one write. A burst of frames therefore
//! costs one system call, not one per frame.

use crate::codec::ClientFrame;
use bytes::BytesMut;
use std::sync::Mutex;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

/// Above this many buffered octets, flow-controlled producers wait for the writer to catch up.
const HIGH_WATER: usize = 4 * 1024 * 1024;
/// Buffers that grew beyond this are not kept for reuse.
const KEEP_CAPACITY: usize = 1024 * 1024;

struct State {
    buf: BytesMut,
    closed: bool,
}

/// The shared output buffer of one connection.
pub(crate) struct Outbox {
    state: Mutex<State>,
    writer: Notify,
    space: Notify,
}

impl Outbox {
    pub(crate) fn new() -> Self {
        Outbox {
            state: Mutex::new(State { buf: BytesMut::with_capacity(64 * 1024), closed: false }),
            writer: Notify::new(),
            space: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a frame regardless of how much is buffered (control frames and replies, which must
    /// never wait behind the reader). Returns false once the connection's writer has stopped.
    pub(crate) fn push(&self, frame: &ClientFrame) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        let was_empty = state.buf.is_empty();
        frame.encode(&mut state.buf);
        drop(state);
        if was_empty {
            self.writer.notify_one();
        }
        true
    }

    /// Queues a frame once the buffer is below the high-water mark, so a fast producer cannot grow
    /// memory without bound. Returns false once the writer has stopped.
    pub(crate) async fn push_flow(&self, frame: &ClientFrame) -> bool {
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
                    return self.push(frame);
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

    /// The writer task: sends accumulated frames until closed and drained, or the socket fails.
    pub(crate) async fn run_writer<W: AsyncWrite + Unpin>(&self, mut socket: W) -> std::io::Result<()> {
        let mut spare = BytesMut::with_capacity(64 * 1024);
        let result = loop {
            let batch = {
                let mut state = self.lock();
                if state.buf.is_empty() {
                    if state.closed {
                        break Ok(());
                    }
                    None
                } else {
                    Some(std::mem::replace(&mut state.buf, std::mem::take(&mut spare)))
                }
            };
            let Some(mut batch) = batch else {
                self.writer.notified().await;
                continue;
            };
            if let Err(e) = socket.write_all(&batch).await {
                break Err(e);
            }
            self.space.notify_waiters();
            batch.clear();
            spare = if batch.capacity() <= KEEP_CAPACITY { batch } else { BytesMut::with_capacity(64 * 1024) };
        };
        self.close();
        let _ = socket.shutdown().await;
        result
    }
}
