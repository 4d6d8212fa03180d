//! The application's handle on a relay connection.

use super::{open, ConnInner, Send, Status, Subscription, Tunnel};
use crate::codec::{ByteStr, ClientFrame, ReplyOutcome};
use crate::dispatch::{on_handler_thread, Dispatcher};
use crate::error::{Error, Result};
use crate::handler::TopicHandler;
use crate::limits::TopicLimits;
use crate::runtime;
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a graceful close waits for the node to drain before cutting the connection.
const CLOSE_WAIT: Duration = Duration::from_secs(10);
/// Extra time a request waits beyond its timeout for the node's answer (the node enforces the
/// timeout itself; this only guards against a node that never answers).
const REQUEST_GRACE: Duration = Duration::from_secs(2);

/// A connection to the local Iris node.
///
/// Cheap to clone; all clones share one socket. The connection closes when [`close`](Self::close)
/// is called or when the last application handle is dropped. Every method has a blocking form,
/// callable from any thread that is not running an async runtime, and an `_async` form, which must
/// be polled inside a Tokio runtime (yours or the core's).
#[derive(Clone)]
pub struct Connection {
    pub(crate) inner: Arc<ConnInner>,
    /// Present on handles the application owns: the last one dropped closes the connection.
    /// Handles given to handlers do not own it, so a stored one cannot keep a service alive.
    _owner: Option<Arc<Owner>>,
}

pub(crate) struct Owner(Arc<ConnInner>);

impl Drop for Owner {
    fn drop(&mut self) {
        if self.0.begin_close() {
            let inner = self.0.clone();
            if let Ok(rt) = runtime::runtime() {
                rt.spawn(async move { finish_close(&inner).await });
            }
        }
    }
}

/// Waits for the node to finish a graceful close, and cuts the connection if it takes too long.
async fn finish_close(inner: &Arc<ConnInner>) {
    if tokio::time::timeout(CLOSE_WAIT, inner.wait_finished()).await.is_err() {
        tracing::warn!(
            conn = inner.id,
            "the node did not finish the close in time; disconnecting"
        );
        inner.abort.notify_one();
        inner.wait_finished().await;
    }
}

/// Connects to the node listening on `port` of this host, as a plain client.
pub fn connect(port: u16) -> Result<Connection> {
    runtime::block_on(connect_async(port))?
}

/// Async form of [`connect`].
pub async fn connect_async(port: u16) -> Result<Connection> {
    let rt = runtime::runtime()?;
    let inner = rt
        .spawn(async move { open(port, "", None).await })
        .await
        .map_err(|e| Error::io("connect task failed", std::io::Error::other(e.to_string())))??;
    Ok(Connection::owned(inner))
}

/// Checks a cluster or topic name.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        Err(Error::invalid(format!("the {what} name must not be empty")))
    } else {
        Ok(())
    }
}

fn check_payload(what: &str, data: &[u8]) -> Result<()> {
    if data.is_empty() {
        Err(Error::invalid(format!("the {what} must not be empty")))
    } else {
        Ok(())
    }
}

/// Converts a timeout to whole milliseconds, refusing anything under 1 ms.
pub(crate) fn timeout_ms(timeout: Duration) -> Result<u64> {
    let ms = timeout.as_millis();
    if ms < 1 {
        Err(Error::invalid(format!(
            "the timeout must be at least 1 ms, got {timeout:?}"
        )))
    } else {
        Ok(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

impl Connection {
    pub(crate) fn owned(inner: Arc<ConnInner>) -> Self {
        Connection {
            _owner: Some(Arc::new(Owner(inner.clone()))),
            inner,
        }
    }

    pub(crate) fn borrowed(inner: Arc<ConnInner>) -> Self {
        Connection { inner, _owner: None }
    }

    /// A process-unique id of this connection, as used in log fields.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Which local transport this connection runs over: the node's Unix socket where it has one
    /// (Linux), else loopback TCP.
    pub fn transport(&self) -> crate::transport::Kind {
        self.inner.transport
    }

    /// Sends `request` to one member of `cluster` and waits for its reply.
    ///
    /// Errors: TIMEOUT when no reply came within `timeout` (also when the cluster has no member),
    /// REMOTE with the service's fault text, CLOSED, INVALID_ARGUMENT.
    pub fn request(&self, cluster: &str, request: impl Into<Bytes>, timeout: Duration) -> Result<Bytes> {
        runtime::block_on(self.request_async(cluster, request, timeout))?
    }

    /// Async form of [`request`](Self::request).
    pub async fn request_async(&self, cluster: &str, request: impl Into<Bytes>, timeout: Duration) -> Result<Bytes> {
        let request = request.into();
        check_name("cluster", cluster)?;
        check_payload("request", &request)?;
        let timeout_ms = timeout_ms(timeout)?;
        let inner = &self.inner;
        runtime::check_fork(inner.fork_generation)?;
        let id = inner.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut shared = inner.lock();
            if !matches!(shared.status, Status::Open) {
                drop(shared);
                return Err(inner.check_open().err().unwrap_or_else(|| inner.closed_reason()));
            }
            shared.requests.insert(id, tx);
        }
        let frame = ClientFrame::Request {
            id,
            cluster: ByteStr::from(cluster),
            request,
            timeout_ms,
        };
        if let Err(e) = inner.send(&frame, Send::Now).await {
            inner.lock().requests.remove(&id);
            return Err(e);
        }
        let answer = match tokio::time::timeout(timeout.saturating_add(REQUEST_GRACE), rx).await {
            Ok(Ok(answer)) => answer?,
            Ok(Err(_)) => return Err(inner.closed_reason()),
            Err(_) => {
                inner.lock().requests.remove(&id);
                return Err(Error::timeout(format!(
                    "the node did not answer the request to {cluster:?}"
                )));
            }
        };
        match answer {
            ReplyOutcome::Reply(reply) => Ok(reply),
            ReplyOutcome::Fault(fault) => Err(Error::new(crate::ErrorKind::Remote, fault.as_str())),
            ReplyOutcome::TimedOut => Err(Error::timeout(format!(
                "the request to {cluster:?} timed out after {timeout_ms} ms"
            ))),
        }
    }

    /// Sends `message` to every member of `cluster` (best effort, no reply).
    pub fn broadcast(&self, cluster: &str, message: impl Into<Bytes>) -> Result<()> {
        runtime::block_on(self.broadcast_async(cluster, message))?
    }

    /// Async form of [`broadcast`](Self::broadcast).
    pub async fn broadcast_async(&self, cluster: &str, message: impl Into<Bytes>) -> Result<()> {
        let message = message.into();
        check_name("cluster", cluster)?;
        check_payload("message", &message)?;
        self.inner.check_open()?;
        self.inner
            .send(
                &ClientFrame::Broadcast {
                    cluster: ByteStr::from(cluster),
                    message,
                },
                Send::Batch,
            )
            .await
    }

    /// Sends `event` to every subscriber of `topic` (best effort).
    pub fn publish(&self, topic: &str, event: impl Into<Bytes>) -> Result<()> {
        runtime::block_on(self.publish_async(topic, event))?
    }

    /// Async form of [`publish`](Self::publish).
    pub async fn publish_async(&self, topic: &str, event: impl Into<Bytes>) -> Result<()> {
        let event = event.into();
        check_name("topic", topic)?;
        check_payload("event", &event)?;
        self.inner.check_open()?;
        self.inner
            .send(
                &ClientFrame::Publish {
                    topic: ByteStr::from(topic),
                    event,
                },
                Send::Batch,
            )
            .await
    }

    /// Subscribes to `topic`: every event published to it runs `handler`, within `limits`.
    /// Subscribing to a topic this connection already subscribes to is INVALID_ARGUMENT.
    pub fn subscribe(&self, topic: &str, handler: impl TopicHandler, limits: TopicLimits) -> Result<()> {
        self.subscribe_arc(topic, Arc::new(handler), limits)
    }

    /// [`subscribe`](Self::subscribe) with a shared handler (what bindings hold).
    pub fn subscribe_arc(&self, topic: &str, handler: Arc<dyn TopicHandler>, limits: TopicLimits) -> Result<()> {
        runtime::block_on(self.subscribe_async(topic, handler, limits))?
    }

    /// Async form of [`subscribe`](Self::subscribe).
    pub async fn subscribe_async(
        &self,
        topic: &str,
        handler: Arc<dyn TopicHandler>,
        limits: TopicLimits,
    ) -> Result<()> {
        check_name("topic", topic)?;
        self.inner.check_open()?;
        let limits = limits.resolved();
        let topic = ByteStr::from(topic);
        {
            let mut shared = self.inner.lock();
            if shared.topics.contains_key(&*topic) {
                return Err(Error::invalid(format!("already subscribed to {topic:?}")));
            }
            let events = Dispatcher::new("event", limits.event_threads, limits.event_memory);
            events.start();
            shared.topics.insert(topic.clone(), Subscription { handler, events });
        }
        self.inner.send(&ClientFrame::Subscribe { topic }, Send::Now).await
    }

    /// Stops the subscription to `topic`; events already queued for it are dropped.
    /// Unsubscribing from a topic not subscribed is INVALID_ARGUMENT.
    pub fn unsubscribe(&self, topic: &str) -> Result<()> {
        runtime::block_on(self.unsubscribe_async(topic))?
    }

    /// Async form of [`unsubscribe`](Self::unsubscribe).
    pub async fn unsubscribe_async(&self, topic: &str) -> Result<()> {
        check_name("topic", topic)?;
        self.inner.check_open()?;
        let Some(sub) = self.inner.lock().topics.remove(topic) else {
            return Err(Error::invalid(format!("not subscribed to {topic:?}")));
        };
        sub.events.close();
        self.inner
            .send(
                &ClientFrame::Unsubscribe {
                    topic: ByteStr::from(topic),
                },
                Send::Now,
            )
            .await
    }

    /// Opens a tunnel to one member of `cluster`, waiting at most `timeout` for it to accept.
    pub fn tunnel(&self, cluster: &str, timeout: Duration) -> Result<Tunnel> {
        runtime::block_on(self.tunnel_async(cluster, timeout))?
    }

    /// Async form of [`tunnel`](Self::tunnel).
    pub async fn tunnel_async(&self, cluster: &str, timeout: Duration) -> Result<Tunnel> {
        check_name("cluster", cluster)?;
        let timeout_ms = timeout_ms(timeout)?;
        let inner = &self.inner;
        inner.check_open()?;
        let id = inner.next_tunnel_id();
        let (tx, rx) = oneshot::channel();
        inner.lock().builds.insert(id, tx);
        let frame = ClientFrame::TunInit {
            tunnel_id: id,
            cluster: ByteStr::from(cluster),
            timeout_ms,
        };
        if let Err(e) = inner.send(&frame, Send::Now).await {
            inner.lock().builds.remove(&id);
            return Err(e);
        }
        match tokio::time::timeout(timeout.saturating_add(REQUEST_GRACE), rx).await {
            Ok(Ok(built)) => Ok(Tunnel::from_inner(built?)),
            Ok(Err(_)) => Err(inner.closed_reason()),
            Err(_) => {
                inner.lock().builds.remove(&id);
                Err(Error::timeout(format!(
                    "the node did not answer the tunnel request to {cluster:?}"
                )))
            }
        }
    }

    /// Closes the connection gracefully: a service leaves its cluster first, work already
    /// accepted finishes, then the node confirms. Blocked calls on this connection are released
    /// with CLOSED. Closing twice is fine. Called from inside a handler, it does not wait for the
    /// drain (which would wait on the handler itself).
    pub fn close(&self) -> Result<()> {
        if on_handler_thread() {
            self.start_close();
            return Ok(());
        }
        runtime::block_on(self.close_async())?
    }

    /// Async form of [`close`](Self::close).
    pub async fn close_async(&self) -> Result<()> {
        runtime::check_fork(self.inner.fork_generation)?;
        self.inner.begin_close();
        finish_close(&self.inner).await;
        Ok(())
    }

    /// Starts a graceful close without waiting for it to finish.
    pub(crate) fn start_close(&self) {
        if self.inner.begin_close() {
            let inner = self.inner.clone();
            if let Ok(rt) = runtime::runtime() {
                rt.spawn(async move { finish_close(&inner).await });
            }
        }
    }

    /// True until the connection starts closing.
    pub fn is_open(&self) -> bool {
        self.inner.check_open().is_ok()
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.inner.id)
            .field("open", &self.is_open())
            .finish()
    }
}
