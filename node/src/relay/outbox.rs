//! A connection's output: frames are encoded into one shared buffer that the connection's writer
//! task swaps out and writes whole, so bursts coalesce into few large writes.
//!
//! # Slow readers
//! A client that does not read its socket must not make the node buffer without bound, and must
//! not stall other clients. The policy, by kind of traffic:
//! - broadcast and publish (fire and forget, best effort): when the buffer is above the high-water
//!   mark the frame is dropped for that client and logged ([`Outbox::push_if_room`]);
//! - requests: members that keep up are preferred; when every member of the cluster is above the
//!   mark the request is shed and its caller gets timed_out at the deadline (see
//!   `Router::request`). The node never blocks one client's reader on another client;
//! - tunnel data is already bounded by tunnel flow control (the client's own grants);
//! - replies, tunnel control frames and CLOSE are small or caused by the receiving client itself,
//!   and are always queued ([`Outbox::push`]).
//!
//! As a last resort a buffer above the hard limit drops the connection ("too slow").

use crate::util::lock;
use bytes::BytesMut;
use iris_client::codec::NodeFrame;
use std::sync::Mutex;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

/// Above this many buffered octets best-effort traffic is dropped and requests wait.
pub const HIGH_WATER: usize = 8 * 1024 * 1024;
/// A writer keeps its spare buffer's allocation for the next swap only below this capacity.
const RETAIN_CAPACITY: usize = 1024 * 1024;

/// Outcome of [`Outbox::push_if_room`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The frame was queued.
    Queued,
    /// The buffer is above the high-water mark; the frame was dropped.
    Full,
    /// The connection is closing; the frame was dropped.
    Closed,
}

/// The shared output buffer of one connection.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    /// Wakes the writer when there is something to write or the outbox closes.
    ready: Notify,
    /// Wakes readers waiting for the outbox to fail or its writer to end.
    changed: Notify,
    hard_limit: usize,
}

#[derive(Debug, Default)]
struct State {
    buf: BytesMut,
    /// No more frames are accepted; the writer flushes what is queued and ends.
    closing: bool,
    /// The writer has ended (flushed, failed, or the hard limit was hit).
    dead: bool,
    /// Why the outbox died on its own (write failure or overflow), for the connection's log.
    failure: Option<String>,
}

impl Outbox {
    /// An open outbox that drops its connection once more than `hard_limit` octets are queued.
    pub fn new(hard_limit: usize) -> Outbox {
        Outbox {
            state: Mutex::default(),
            ready: Notify::new(),
            changed: Notify::new(),
            hard_limit: hard_limit.max(HIGH_WATER),
        }
    }

    /// Queues a frame regardless of the high-water mark. Returns false if the outbox is closing.
    pub fn push(&self, frame: &NodeFrame) -> bool {
        self.push_when(frame, |_| true) == Pushed::Queued
    }

    /// Queues a frame only while the buffer is below the high-water mark.
    pub fn push_if_room(&self, frame: &NodeFrame) -> Pushed {
        self.push_when(frame, |len| len < HIGH_WATER)
    }

    fn push_when(&self, frame: &NodeFrame, room: impl FnOnce(usize) -> bool) -> Pushed {
        let mut st = lock(&self.state);
        if st.closing {
            return Pushed::Closed;
        }
        if !room(st.buf.len()) {
            return Pushed::Full;
        }
        let was_empty = st.buf.is_empty();
        frame.encode(&mut st.buf);
        if st.buf.len() > self.hard_limit {
            // The client is far behind on traffic that cannot be dropped: drop the client.
            st.buf = BytesMut::new();
            st.closing = true;
            st.failure = Some("output buffer overflow: client is not reading".into());
            drop(st);
            self.ready.notify_one();
            self.changed.notify_waiters();
            return Pushed::Closed;
        }
        drop(st);
        if was_empty {
            // The writer only sleeps on an empty buffer, so only the first frame needs to wake it.
            self.ready.notify_one();
        }
        Pushed::Queued
    }

    /// Whether the buffer is below the high-water mark (or closing, when nothing waits anyway).
    pub fn has_room(&self) -> bool {
        let st = lock(&self.state);
        st.closing || st.buf.len() < HIGH_WATER
    }

    /// Queues `last` (if any), then stops accepting frames; the writer flushes and ends.
    pub fn close(&self, last: Option<&NodeFrame>) {
        let mut st = lock(&self.state);
        if !st.closing {
            if let Some(frame) = last {
                frame.encode(&mut st.buf);
            }
            st.closing = true;
        }
        drop(st);
        self.ready.notify_one();
        self.changed.notify_waiters();
    }

    /// Whether the outbox accepts no more frames.
    pub fn is_closing(&self) -> bool {
        lock(&self.state).closing
    }

    /// Octets queued and not yet handed to the socket.
    pub fn queued(&self) -> usize {
        lock(&self.state).buf.len()
    }

    /// Resolves once the outbox closed for a reason of its own (write failure, overflow) or its
    /// writer ended; returns that reason if there was one.
    pub async fn failed(&self) -> Option<String> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = lock(&self.state);
                if st.failure.is_some() || st.dead {
                    return st.failure.clone();
                }
            }
            notified.await;
        }
    }

    /// Removes and returns everything queued (tests read frames back without a socket).
    #[cfg(test)]
    pub(crate) fn take_queued(&self) -> BytesMut {
        std::mem::take(&mut lock(&self.state).buf)
    }

    fn finish(&self, failure: Option<String>) {
        let mut st = lock(&self.state);
        st.dead = true;
        st.closing = true;
        st.buf = BytesMut::new();
        if st.failure.is_none() {
            st.failure = failure;
        }
        drop(st);
        self.changed.notify_waiters();
    }

    /// The writer loop: swaps the buffer out and writes it whole until the outbox is closed and
    /// flushed, then shuts the socket's write side down. Never holds the lock across I/O.
    pub async fn run_writer<W: AsyncWrite + Unpin>(&self, mut sink: W) {
        let mut spare = BytesMut::new();
        loop {
            let notified = self.ready.notified();
            let step = {
                let mut st = lock(&self.state);
                if !st.buf.is_empty() {
                    std::mem::swap(&mut st.buf, &mut spare);
                    Step::Write
                } else if st.closing {
                    Step::Done
                } else {
                    Step::Wait
                }
            };
            match step {
                Step::Write => {}
                Step::Done => break,
                Step::Wait => {
                    notified.await;
                    continue;
                }
            }
            if let Err(e) = sink.write_all(&spare).await {
                self.finish(Some(format!("write failed: {e}")));
                return;
            }
            spare.clear();
            if spare.capacity() > RETAIN_CAPACITY {
                spare = BytesMut::new();
            }
        }
        let _ = sink.shutdown().await;
        self.finish(None);
    }
}

/// What the writer does next.
enum Step {
    Write,
    Wait,
    Done,
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn broadcast(len: usize) -> NodeFrame {
        NodeFrame::Broadcast {
            message: Bytes::from(vec![7u8; len]),
        }
    }

    #[test]
    fn best_effort_traffic_is_dropped_above_the_high_water_mark() {
        let outbox = Outbox::new(usize::MAX);
        assert_eq!(outbox.push_if_room(&broadcast(HIGH_WATER)), Pushed::Queued);
        assert_eq!(outbox.push_if_room(&broadcast(10)), Pushed::Full);
        assert!(outbox.push(&broadcast(10)), "control traffic is always queued");
        outbox.close(None);
        assert_eq!(outbox.push_if_room(&broadcast(10)), Pushed::Closed);
    }

    #[test]
    fn overflow_closes_the_outbox() {
        let outbox = Outbox::new(HIGH_WATER);
        assert!(outbox.push(&broadcast(HIGH_WATER - 100)));
        assert!(!outbox.push(&broadcast(200)));
        assert!(outbox.is_closing());
    }

    #[tokio::test]
    async fn writer_flushes_everything_then_ends() {
        let outbox = std::sync::Arc::new(Outbox::new(usize::MAX));
        let (client, mut server) = tokio::io::duplex(1024);
        let writer = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.run_writer(client).await })
        };
        for _ in 0..100 {
            outbox.push(&broadcast(100));
        }
        outbox.close(Some(&NodeFrame::Close { reason: "".into() }));
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut server, &mut got)
            .await
            .expect("read");
        writer.await.expect("writer");
        assert_eq!(got.len(), 100 * 102 + 2);
        assert_eq!(outbox.failed().await, None);
    }
}
