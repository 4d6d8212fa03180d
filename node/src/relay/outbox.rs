//! A connection's output: frames are encoded into one shared buffer, written in as few system
//! calls as possible and with as few thread hand-offs as possible.
//!
//! # Who writes
//! Frames routed while a connection's (or an overlay link's) reader handles one batch of input
//! (everything decoded from one socket read) are only appended; when the batch ends, the reader
//! writes each outbox it touched itself, if that socket is idle ([`Batch`]). A request therefore
//! crosses the node without waking any writer task, and a burst still leaves in one write per
//! destination. The writer task takes over whatever cannot be written at once (a full socket),
//! frames queued outside a batch (timers), and the final flush.
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
use iris_client::codec::NodeFrame;
use iris_client::outq::OutQueue;
use iris_client::transport::WriteHalf;
use std::cell::RefCell;
use std::io;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

/// Above this many buffered octets best-effort traffic is dropped and requests wait.
pub const HIGH_WATER: usize = 8 * 1024 * 1024;
/// A writer keeps its spare buffer's allocation for the next swap only below this capacity.
const RETAIN_CAPACITY: usize = 1024 * 1024;
/// A batch's end writes inline only this much; more goes to the writer task.
const INLINE_LIMIT: usize = 256 * 1024;

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

/// Who may write the socket right now.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Nobody: the buffer is empty.
    #[default]
    Idle,
    /// The buffer has data and a write is arranged (a batch end or the writer task will take it).
    Scheduled,
    /// The writer task is writing.
    Writer,
    /// A batch end is writing inline, outside the lock.
    Inline,
}

/// The shared output buffer of one connection. Cheap to clone; clones share the buffer.
#[derive(Debug, Clone)]
pub struct Outbox {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer when there is something to write or the outbox closes.
    ready: Notify,
    /// Wakes readers waiting for the outbox to fail or its writer to end.
    changed: Notify,
    hard_limit: usize,
}

#[derive(Debug, Default)]
struct State {
    buf: OutQueue,
    owner: Owner,
    /// The socket, for inline writes at a batch's end (absent for test sinks).
    socket: Option<Arc<WriteHalf>>,
    /// No more frames are accepted; the writer flushes what is queued and ends.
    closing: bool,
    /// The writer has ended (flushed, failed, or the hard limit was hit).
    dead: bool,
    /// Why the outbox died on its own (write failure or overflow), for the connection's log.
    failure: Option<String>,
}

thread_local! {
    /// Outboxes that got their first frame during the batch running on this thread, if any.
    static BATCH: RefCell<Option<Vec<Outbox>>> = const { RefCell::new(None) };
}

/// One batch of routing on this thread: frames pushed meanwhile are written when it ends
/// (dropped), by this thread, where the socket allows. Batches do not nest; must not be held
/// across an `.await`.
pub struct Batch(());

impl Batch {
    /// Starts a batch on this thread.
    pub fn start() -> Batch {
        BATCH.with(|b| *b.borrow_mut() = Some(Vec::new()));
        Batch(())
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        let touched = BATCH.with(|b| b.borrow_mut().take()).unwrap_or_default();
        for outbox in touched {
            outbox.flush_inline();
        }
    }
}

impl Outbox {
    /// An open outbox that drops its connection once more than `hard_limit` octets are queued.
    pub fn new(hard_limit: usize) -> Outbox {
        Outbox {
            shared: Arc::new(Shared {
                state: Mutex::default(),
                ready: Notify::new(),
                changed: Notify::new(),
                hard_limit: hard_limit.max(HIGH_WATER),
            }),
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
        let mut st = lock(&self.shared.state);
        if st.closing {
            return Pushed::Closed;
        }
        if !room(st.buf.len()) {
            return Pushed::Full;
        }
        st.buf.push_node(frame);
        if st.buf.len() > self.shared.hard_limit {
            // The client is far behind on traffic that cannot be dropped: drop the client.
            st.buf = OutQueue::default();
            st.closing = true;
            st.failure = Some("output buffer overflow: client is not reading".into());
            drop(st);
            self.shared.ready.notify_one();
            self.shared.changed.notify_waiters();
            return Pushed::Closed;
        }
        if st.owner != Owner::Idle {
            // Whoever owns the socket (or will) takes this frame along.
            return Pushed::Queued;
        }
        st.owner = Owner::Scheduled;
        drop(st);
        let deferred = BATCH.with(|b| match b.borrow_mut().as_mut() {
            Some(touched) => {
                touched.push(self.clone());
                true
            }
            None => false,
        });
        if !deferred {
            self.shared.ready.notify_one();
        }
        Pushed::Queued
    }

    /// At a batch's end: writes what is queued on this thread if the socket takes it now, and
    /// hands the rest to the writer task.
    fn flush_inline(&self) {
        let mut st = lock(&self.shared.state);
        if st.owner != Owner::Scheduled {
            return; // the writer task took over meanwhile
        }
        let socket = match &st.socket {
            Some(socket) if st.buf.len() <= INLINE_LIMIT => socket.clone(),
            _ => {
                drop(st);
                self.shared.ready.notify_one();
                return;
            }
        };
        st.owner = Owner::Inline;
        let mut batch = std::mem::take(&mut st.buf);
        drop(st);
        while !batch.is_empty() {
            if batch.try_write_to(&socket).is_err() {
                break; // full, or failed: the writer task takes over and sees the error
            }
        }
        let mut st = lock(&self.shared.state);
        if batch.is_empty() && st.buf.is_empty() {
            st.owner = Owner::Idle;
            batch.clear();
            st.buf = batch; // keep the allocation
            let closing = st.closing;
            drop(st);
            if closing {
                self.shared.ready.notify_one(); // the writer may now finish
            }
            return;
        }
        if !batch.is_empty() {
            // The unsent rest goes out before anything queued meanwhile.
            batch.append(&mut st.buf);
            st.buf = batch;
        }
        st.owner = Owner::Scheduled;
        drop(st);
        self.shared.ready.notify_one();
    }

    /// Whether the buffer is below the high-water mark (or closing, when nothing waits anyway).
    pub fn has_room(&self) -> bool {
        let st = lock(&self.shared.state);
        st.closing || st.buf.len() < HIGH_WATER
    }

    /// Queues `last` (if any), then stops accepting frames; the writer flushes and ends.
    pub fn close(&self, last: Option<&NodeFrame>) {
        let mut st = lock(&self.shared.state);
        if !st.closing {
            if let Some(frame) = last {
                st.buf.push_node(frame);
                if st.owner == Owner::Idle {
                    st.owner = Owner::Scheduled;
                }
            }
            st.closing = true;
        }
        drop(st);
        self.shared.ready.notify_one();
        self.shared.changed.notify_waiters();
    }

    /// Whether the outbox accepts no more frames.
    pub fn is_closing(&self) -> bool {
        lock(&self.shared.state).closing
    }

    /// Octets queued and not yet handed to the socket.
    pub fn queued(&self) -> usize {
        lock(&self.shared.state).buf.len()
    }

    /// Resolves once the outbox closed for a reason of its own (write failure, overflow) or its
    /// writer ended; returns that reason if there was one.
    pub async fn failed(&self) -> Option<String> {
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = lock(&self.shared.state);
                if st.failure.is_some() || st.dead {
                    return st.failure.clone();
                }
            }
            notified.await;
        }
    }

    /// Removes and returns everything queued (tests read frames back without a socket).
    #[cfg(test)]
    pub(crate) fn take_queued(&self) -> bytes::BytesMut {
        let mut st = lock(&self.shared.state);
        st.owner = Owner::Idle;
        std::mem::take(&mut st.buf).to_bytes()
    }

    fn finish(&self, failure: Option<String>) {
        let mut st = lock(&self.shared.state);
        st.dead = true;
        st.closing = true;
        st.buf = OutQueue::default();
        st.socket = None;
        if st.failure.is_none() {
            st.failure = failure;
        }
        drop(st);
        self.shared.changed.notify_waiters();
    }

    /// The writer loop for a socket: also lets batch ends write this socket inline.
    pub async fn run_socket_writer(&self, socket: WriteHalf) {
        let socket = Arc::new(socket);
        lock(&self.shared.state).socket = Some(socket.clone());
        self.run(Sink::<tokio::io::Sink>::Socket(socket)).await
    }

    /// The writer loop on any byte sink (tests).
    pub async fn run_writer<W: AsyncWrite + Unpin>(&self, sink: W) {
        self.run(Sink::Stream(sink)).await
    }

    /// The writer loop: takes the buffer whenever a write is scheduled and writes it whole until
    /// the outbox is closed and flushed, then shuts the socket's write side down. Never holds the
    /// lock across I/O, and never writes while a batch end writes inline.
    async fn run<W: AsyncWrite + Unpin>(&self, mut sink: Sink<W>) {
        let mut spare = OutQueue::default();
        loop {
            let notified = self.shared.ready.notified();
            let step = {
                let mut st = lock(&self.shared.state);
                match st.owner {
                    Owner::Inline => Step::Wait,
                    _ if !st.buf.is_empty() => {
                        st.owner = Owner::Writer;
                        std::mem::swap(&mut st.buf, &mut spare);
                        Step::Write
                    }
                    _ => {
                        st.owner = Owner::Idle;
                        if st.closing {
                            Step::Done
                        } else {
                            Step::Wait
                        }
                    }
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
            if let Err(e) = sink.write(&mut spare).await {
                self.finish(Some(format!("write failed: {e}")));
                return;
            }
            spare.clear();
            if spare.capacity() > RETAIN_CAPACITY {
                spare = OutQueue::default();
            }
        }
        lock(&self.shared.state).socket = None;
        sink.shutdown().await;
        self.finish(None);
    }
}

/// Where the writer loop writes.
enum Sink<W> {
    /// The connection's socket, shared with inline writers: vectored writes, bulk payloads
    /// straight from where they were received. The write side closes (FIN) when the last handle
    /// on it is dropped.
    Socket(Arc<WriteHalf>),
    /// Any other byte sink.
    Stream(W),
}

impl<W: AsyncWrite + Unpin> Sink<W> {
    async fn write(&mut self, queue: &mut OutQueue) -> io::Result<()> {
        match self {
            Sink::Socket(socket) => queue.write_all_to(socket).await,
            Sink::Stream(w) => {
                for piece in queue.pieces() {
                    w.write_all(piece).await?;
                }
                queue.clear();
                Ok(())
            }
        }
    }

    async fn shutdown(&mut self) {
        if let Sink::Stream(w) = self {
            let _ = w.shutdown().await;
        }
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

    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_end_writes_an_idle_socket_itself() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = tokio::net::TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let (_read, write) = iris_client::transport::Stream::Tcp(client).into_split();
        let outbox = Outbox::new(usize::MAX);
        let writer = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.run_socket_writer(write).await })
        };
        tokio::task::yield_now().await; // the writer registers the socket and waits
                                        // No await from here on: on this single-threaded runtime the writer task cannot run, so
                                        // the bytes can only have been written by the batch's end.
        let batch = Batch::start();
        assert!(outbox.push(&broadcast(3)));
        assert!(outbox.push(&broadcast(4)));
        drop(batch);
        let mut got = [0u8; 11];
        server.read_exact(&mut got).expect("written inline, in one batch");
        assert_eq!(got, [0x03, 3, 7, 7, 7, 0x03, 4, 7, 7, 7, 7]);
        outbox.close(None);
        writer.await.expect("writer");
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
