//! One relay connection: its shared state, the socket tasks, and the handling of every frame the
//! node sends.

mod connection;
mod outbox;
mod service;
mod tunnel;

pub use connection::{connect, connect_async, Connection};
pub use service::{register, register_async, Service};
pub use tunnel::Tunnel;

use crate::codec::{self, ByteStr, ClientFrame, Limits, NodeFrame, ReplyOutcome};
use crate::dispatch::{Dispatcher, Rejected};
use crate::error::{Error, ErrorKind, Result};
use crate::handler::{ServiceHandler, TopicHandler};
use crate::transport::{ReadHalf, Stream};
use bytes::{Bytes, BytesMut};
use outbox::{Outbox, Send};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::sync::{oneshot, watch};
use tunnel::TunnelInner;

/// Octets of node-to-client tunnel allowance a client grants at construction, as the v1 clients do.
pub(crate) const TUNNEL_GRANT: u64 = 64 * 1024 * 1024;
/// How long the handshake may take before connecting fails.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// Where a connection is in its life.
#[derive(Clone)]
enum Status {
    Open,
    /// The application asked to close; the node is draining accepted work.
    Closing,
    Closed(Error),
}

/// A service member's handler and its two dispatchers.
struct ServiceCtx {
    handler: Arc<dyn ServiceHandler>,
    requests: Dispatcher,
    broadcasts: Dispatcher,
}

struct Subscription {
    handler: Arc<dyn TopicHandler>,
    events: Dispatcher,
}

/// State shared by the application's calls and the reader task, under one short-held lock.
struct Shared {
    status: Status,
    requests: HashMap<u64, oneshot::Sender<Result<ReplyOutcome>>>,
    builds: HashMap<u64, oneshot::Sender<Result<Arc<TunnelInner>>>>,
    tunnels: HashMap<u64, Arc<TunnelInner>>,
    topics: HashMap<ByteStr, Subscription>,
    service: Option<ServiceCtx>,
}

/// Everything one connection owns. Application handles, the socket tasks and tunnels hold it.
pub(crate) struct ConnInner {
    id: u64,
    /// The process generation that created the connection (see `runtime::check_fork`).
    fork_generation: u32,
    cluster: String,
    transport: crate::transport::Kind,
    out: Outbox,
    shared: Mutex<Shared>,
    next_request: AtomicU64,
    next_tunnel: AtomicU64,
    /// Becomes true when the connection has fully ended (every pending call released).
    finished: watch::Sender<bool>,
    /// Ends the socket tasks early when a graceful close takes too long.
    abort: tokio::sync::Notify,
    /// Mirrors `status == Open` so the hot path checks it without the lock.
    open: std::sync::atomic::AtomicBool,
}

impl ConnInner {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails with the reason the connection is unusable, if it is.
    fn check_open(&self) -> Result<()> {
        crate::runtime::check_fork(self.fork_generation)?;
        if self.open.load(Ordering::Acquire) {
            return Ok(());
        }
        match &self.lock().status {
            Status::Open => Ok(()),
            Status::Closing => Err(Error::closed("the connection is closing")),
            Status::Closed(e) => Err(closed_error(e)),
        }
    }

    /// Queues a flow-controlled frame, failing with CLOSED once the connection is gone.
    async fn send(&self, frame: &ClientFrame, send: Send) -> Result<()> {
        if self.out.push_flow(frame, send).await {
            Ok(())
        } else {
            Err(self.closed_reason())
        }
    }

    /// The error calls get once the connection is unusable.
    fn closed_reason(&self) -> Error {
        match &self.lock().status {
            Status::Closed(e) => closed_error(e),
            _ => Error::closed("the connection is closed"),
        }
    }

    /// Ends the connection once: releases every pending call with `reason`, closes tunnels and
    /// dispatchers, and tells a dropped service's handler. `dropped` is true when the end was not
    /// asked for by the application.
    fn finish(self: &Arc<Self>, reason: Error, dropped: bool) {
        let mut shared = self.lock();
        if matches!(shared.status, Status::Closed(_)) {
            return;
        }
        let asked = matches!(shared.status, Status::Closing);
        shared.status = Status::Closed(reason.clone());
        self.open.store(false, Ordering::Release);
        let requests = std::mem::take(&mut shared.requests);
        let builds = std::mem::take(&mut shared.builds);
        let tunnels = std::mem::take(&mut shared.tunnels);
        let topics = std::mem::take(&mut shared.topics);
        let service = shared.service.take();
        drop(shared);
        self.out.close();
        let err = closed_error(&reason);
        for (_, tx) in requests {
            let _ = tx.send(Err(err.clone()));
        }
        for (_, tx) in builds {
            let _ = tx.send(Err(err.clone()));
        }
        for (_, tunnel) in tunnels {
            tunnel.on_closed(err.clone());
        }
        for (_, sub) in topics {
            sub.events.close();
        }
        if let Some(service) = service {
            service.requests.close();
            service.broadcasts.close();
            if dropped && !asked {
                tracing::warn!(conn = self.id, cluster = %self.cluster, "service dropped: {reason}");
                let handler = service.handler;
                let spawned = std::thread::Builder::new().name("iris-drop".into()).spawn(move || {
                    crate::dispatch::mark_handler_thread();
                    handler.handle_drop(reason);
                });
                if let Err(e) = spawned {
                    tracing::error!(conn = self.id, "cannot start a thread for handle_drop: {e}");
                }
            }
        }
        self.finished.send_replace(true);
    }

    /// Starts a graceful close: nothing new is accepted, pending calls of this connection are
    /// released with CLOSED, and the node is asked to drain and close. Returns false if the
    /// connection was already closing or closed.
    fn begin_close(&self) -> bool {
        let mut shared = self.lock();
        if !matches!(shared.status, Status::Open) {
            return false;
        }
        shared.status = Status::Closing;
        self.open.store(false, Ordering::Release);
        let requests = std::mem::take(&mut shared.requests);
        let builds = std::mem::take(&mut shared.builds);
        let topics = std::mem::take(&mut shared.topics);
        let tunnels: Vec<_> = shared.tunnels.values().cloned().collect();
        drop(shared);
        let err = Error::closed("the connection was closed");
        for (_, tx) in requests {
            let _ = tx.send(Err(err.clone()));
        }
        for (_, tx) in builds {
            let _ = tx.send(Err(err.clone()));
        }
        for (_, sub) in topics {
            sub.events.close();
        }
        for tunnel in tunnels {
            tunnel.on_closed(err.clone());
        }
        self.out.push(&ClientFrame::Close, Send::Now);
        true
    }

    /// Waits until the connection has fully ended.
    async fn wait_finished(&self) {
        let mut rx = self.finished.subscribe();
        let _ = rx.wait_for(|done| *done).await;
    }

    fn next_tunnel_id(&self) -> u64 {
        self.next_tunnel.fetch_add(1, Ordering::Relaxed)
    }

    /// Handles one frame from the node. Returns `Some(reason)` when the node closed the connection.
    fn on_frame(self: &Arc<Self>, frame: NodeFrame, wakes: &mut Wakes) -> std::result::Result<(), End> {
        match frame {
            NodeFrame::Reply { id, outcome } => {
                if let Some(tx) = self.lock().requests.remove(&id) {
                    let _ = tx.send(Ok(outcome));
                }
            }
            NodeFrame::Request {
                id,
                request,
                timeout_ms,
            } => self.on_request(id, request, timeout_ms, wakes),
            NodeFrame::Broadcast { message } => self.on_broadcast(message, wakes),
            NodeFrame::Publish { topic, event } => self.on_event(topic, event, wakes),
            NodeFrame::TunInit { build_id, chunk_limit } => self.on_tunnel_init(build_id, chunk_limit),
            NodeFrame::TunConfirm { tunnel_id, chunk_limit } => self.on_tunnel_confirm(tunnel_id, chunk_limit),
            NodeFrame::TunAllow { tunnel_id, space } => {
                if let Some(t) = self.tunnel(tunnel_id) {
                    t.on_allow(space);
                }
            }
            NodeFrame::TunTransfer {
                tunnel_id,
                size_or_cont,
                payload,
            } => {
                if let Some(t) = self.tunnel(tunnel_id) {
                    t.on_transfer(size_or_cont, payload);
                }
            }
            NodeFrame::TunClose { tunnel_id, reason } => {
                if let Some(t) = self.lock().tunnels.remove(&tunnel_id) {
                    let err = if reason.is_empty() {
                        Error::closed("the tunnel was closed")
                    } else {
                        Error::closed(format!("the tunnel was closed: {reason}"))
                    };
                    t.on_closed(err);
                }
            }
            NodeFrame::Close { reason } => return Err(End::NodeClosed(reason)),
            NodeFrame::Init { .. } | NodeFrame::Deny { .. } => {
                return Err(End::Violation(
                    "the node sent a handshake frame after the handshake".into(),
                ))
            }
        }
        Ok(())
    }

    fn tunnel(&self, id: u64) -> Option<Arc<TunnelInner>> {
        self.lock().tunnels.get(&id).cloned()
    }

    fn on_request(self: &Arc<Self>, id: u64, request: Bytes, timeout_ms: u64, wakes: &mut Wakes) {
        let Some((handler, dispatcher)) = self
            .lock()
            .service
            .as_ref()
            .map(|s| (s.handler.clone(), s.requests.clone()))
        else {
            tracing::warn!(conn = self.id, "ignored a request delivered to a plain client");
            return;
        };
        let deadline = Instant::now().checked_add(Duration::from_millis(timeout_ms));
        let conn = self.clone();
        let size = request.len();
        let queue = dispatcher.clone();
        let job = move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler.handle_request(request)));
            let result = match outcome {
                Ok(Ok(reply)) => Ok(reply),
                Ok(Err(fault)) if fault.is_empty() => Err(ByteStr::from("request handler failed without a message")),
                Ok(Err(fault)) => Err(ByteStr::from(fault)),
                Err(panic) => Err(ByteStr::from(format!(
                    "request handler panicked: {}",
                    crate::dispatch::panic_message(&panic)
                ))),
            };
            // More requests waiting means more replies right behind this one: let the writer task
            // send them together. The last of a burst goes out at once.
            let send = if queue.has_queued() { Send::Batch } else { Send::Now };
            conn.out.push(&ClientFrame::Reply { id, result }, send);
        };
        match dispatcher.submit_quiet(size, deadline, job) {
            Ok(sleeping) => wakes.note(&dispatcher, sleeping),
            Err(rejected) => self.log_rejected("request", size, rejected),
        }
    }

    fn on_broadcast(self: &Arc<Self>, message: Bytes, wakes: &mut Wakes) {
        let Some((handler, dispatcher)) = self
            .lock()
            .service
            .as_ref()
            .map(|s| (s.handler.clone(), s.broadcasts.clone()))
        else {
            tracing::warn!(conn = self.id, "ignored a broadcast delivered to a plain client");
            return;
        };
        let size = message.len();
        match dispatcher.submit_quiet(size, None, move || handler.handle_broadcast(message)) {
            Ok(sleeping) => wakes.note(&dispatcher, sleeping),
            Err(rejected) => self.log_rejected("broadcast", size, rejected),
        }
    }

    fn on_event(self: &Arc<Self>, topic: ByteStr, event: Bytes, wakes: &mut Wakes) {
        let Some((handler, dispatcher)) = self
            .lock()
            .topics
            .get(&*topic)
            .map(|s| (s.handler.clone(), s.events.clone()))
        else {
            // Events may still arrive for a moment after an unsubscribe.
            return;
        };
        let size = event.len();
        match dispatcher.submit_quiet(size, None, move || handler.handle_event(event)) {
            Ok(sleeping) => wakes.note(&dispatcher, sleeping),
            Err(rejected) => self.log_rejected("event", size, rejected),
        }
    }

    fn log_rejected(&self, what: &str, size: usize, rejected: Rejected) {
        match rejected {
            Rejected::Memory { queued, limit } => tracing::warn!(
                conn = self.id,
                "dropped a {size}-octet {what}: {queued} of {limit} octets of queue memory in use"
            ),
            Rejected::Closed => tracing::debug!(conn = self.id, "dropped a {what} arriving while closing"),
        }
    }

    fn on_tunnel_init(self: &Arc<Self>, build_id: u64, chunk_limit: u64) {
        let Some(handler) = self.lock().service.as_ref().map(|s| s.handler.clone()) else {
            tracing::warn!(conn = self.id, "ignored a tunnel delivered to a plain client");
            return;
        };
        let id = self.next_tunnel_id();
        let inner = TunnelInner::new(id, self.clone(), chunk_limit);
        self.lock().tunnels.insert(id, inner.clone());
        self.out.push(
            &ClientFrame::TunConfirm {
                build_id,
                tunnel_id: id,
            },
            Send::Batch,
        );
        self.out.push(
            &ClientFrame::TunAllow {
                tunnel_id: id,
                space: TUNNEL_GRANT,
            },
            Send::Now,
        );
        let tunnel = Tunnel::from_inner(inner);
        let spawned = std::thread::Builder::new().name("iris-tunnel".into()).spawn(move || {
            crate::dispatch::mark_handler_thread();
            handler.handle_tunnel(tunnel);
        });
        if let Err(e) = spawned {
            tracing::error!(conn = self.id, "cannot start a tunnel handler thread: {e}");
        }
    }

    fn on_tunnel_confirm(self: &Arc<Self>, tunnel_id: u64, chunk_limit: Option<u64>) {
        let Some(tx) = self.lock().builds.remove(&tunnel_id) else {
            return;
        };
        let Some(chunk_limit) = chunk_limit else {
            let _ = tx.send(Err(Error::timeout("no cluster member accepted the tunnel in time")));
            return;
        };
        let inner = TunnelInner::new(tunnel_id, self.clone(), chunk_limit);
        self.lock().tunnels.insert(tunnel_id, inner.clone());
        self.out.push(
            &ClientFrame::TunAllow {
                tunnel_id,
                space: TUNNEL_GRANT,
            },
            Send::Now,
        );
        if let Err(Ok(orphan)) = tx.send(Ok(inner)) {
            // The caller went away (its connection is closing): tear the new tunnel down.
            orphan.close_in_background();
        }
    }
}

/// Dispatchers that got work during one batch of frames and have a sleeping worker to wake once
/// the batch is handled.
#[derive(Default)]
struct Wakes(Vec<Dispatcher>);

impl Wakes {
    fn note(&mut self, dispatcher: &Dispatcher, sleeping: bool) {
        if sleeping && !self.0.iter().any(|d| d.same(dispatcher)) {
            self.0.push(dispatcher.clone());
        }
    }

    fn wake_all(&mut self) {
        for dispatcher in self.0.drain(..) {
            dispatcher.wake();
        }
    }
}

/// Why the reader stopped.
enum End {
    NodeClosed(ByteStr),
    Violation(String),
}

fn closed_error(reason: &Error) -> Error {
    match reason.kind() {
        ErrorKind::Closed => reason.clone(),
        _ => Error::closed(format!("the connection is closed: {reason}")),
    }
}

/// Connects, performs the relay handshake for `cluster` ("" for a plain client) and starts the
/// socket tasks. Must run on the core's runtime.
async fn open(port: u16, cluster: &str, service: Option<ServiceCtx>) -> Result<Arc<ConnInner>> {
    let mut socket = Stream::connect_local(port)
        .await
        .map_err(|e| Error::io(&format!("cannot connect to the iris node on port {port}"), e))?;
    let limits = Limits::default();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let handshake = async {
        let mut hello = BytesMut::new();
        ClientFrame::Init {
            magic: ByteStr::from_static(codec::CLIENT_MAGIC),
            version: ByteStr::from_static(codec::PROTOCOL_VERSION),
            cluster: ByteStr::from(cluster),
        }
        .encode(&mut hello);
        tokio::io::AsyncWriteExt::write_all(&mut socket, &hello)
            .await
            .map_err(|e| Error::io("cannot send the handshake", e))?;
        loop {
            match codec::decode_node_frame(&mut buf, &limits) {
                Ok(Some(NodeFrame::Init { .. })) => return Ok(()),
                Ok(Some(NodeFrame::Deny { reason, .. })) => {
                    return Err(Error::protocol(format!("the node refused the handshake: {reason}")))
                }
                Ok(Some(other)) => {
                    return Err(Error::protocol(format!(
                        "the node answered the handshake with {other:?}"
                    )))
                }
                Ok(None) => {}
                Err(e) => return Err(Error::protocol(format!("invalid handshake answer: {e}"))),
            }
            let n = socket
                .read_buf(&mut buf)
                .await
                .map_err(|e| Error::io("handshake failed", e))?;
            if n == 0 {
                return Err(Error::protocol("the node closed the connection during the handshake"));
            }
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| Error::timeout("the node did not complete the handshake in time"))??;

    let kind = socket.kind();
    let (read_half, write_half) = socket.into_split();
    let inner = Arc::new(ConnInner {
        id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed),
        fork_generation: crate::runtime::fork_generation(),
        cluster: cluster.to_string(),
        transport: kind,
        out: Outbox::new(write_half),
        shared: Mutex::new(Shared {
            status: Status::Open,
            requests: HashMap::new(),
            builds: HashMap::new(),
            tunnels: HashMap::new(),
            topics: HashMap::new(),
            service,
        }),
        next_request: AtomicU64::new(0),
        next_tunnel: AtomicU64::new(0),
        finished: watch::channel(false).0,
        abort: tokio::sync::Notify::new(),
        open: std::sync::atomic::AtomicBool::new(true),
    });
    tracing::debug!(conn = inner.id, port, cluster, transport = ?kind, "connected");
    let writer = inner.clone();
    tokio::spawn(async move {
        if let Err(e) = writer.out.run_writer().await {
            tracing::debug!(conn = writer.id, "write failed: {e}");
            writer.finish(Error::io("connection to the node lost", e), true);
        }
    });
    let reader = inner.clone();
    tokio::spawn(async move {
        let (reason, dropped) = tokio::select! {
            end = read_loop(&reader, read_half, buf, limits) => end,
            _ = reader.abort.notified() => (Error::closed("the connection was closed"), false),
        };
        reader.finish(reason, dropped);
    });
    Ok(inner)
}

/// Reads and handles frames until the connection ends; returns why and whether it was a drop.
async fn read_loop(inner: &Arc<ConnInner>, mut socket: ReadHalf, mut buf: BytesMut, limits: Limits) -> (Error, bool) {
    let mut wakes = Wakes::default();
    loop {
        loop {
            match codec::decode_node_frame(&mut buf, &limits) {
                Ok(Some(frame)) => match inner.on_frame(frame, &mut wakes) {
                    Ok(()) => {}
                    Err(End::NodeClosed(reason)) if reason.is_empty() => {
                        return (Error::closed("the connection was closed"), false)
                    }
                    Err(End::NodeClosed(reason)) => {
                        return (
                            Error::closed(format!("the node dropped the connection: {reason}")),
                            true,
                        )
                    }
                    Err(End::Violation(why)) => return (Error::protocol(why), true),
                },
                Ok(None) => {
                    wakes.wake_all();
                    break;
                }
                Err(e) => {
                    tracing::error!(conn = inner.id, "protocol violation by the node: {e}");
                    return (Error::protocol(format!("protocol violation by the node: {e}")), true);
                }
            }
        }
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        match socket.read_buf(&mut buf).await {
            Ok(0) => return (Error::closed("the node closed the connection"), true),
            Ok(_) => {}
            Err(e) => return (Error::io("connection to the node lost", e), true),
        }
    }
}
