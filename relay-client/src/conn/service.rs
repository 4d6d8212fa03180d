//! Service registration: a connection that is a member of a cluster.

use super::{open, Connection, ServiceCtx};
use crate::dispatch::Dispatcher;
use crate::error::{Error, Result};
use crate::handler::ServiceHandler;
use crate::limits::ServiceLimits;
use crate::runtime;
use std::sync::Arc;

/// A registered member of a cluster. Dropping it unregisters, like [`unregister`](Self::unregister).
pub struct Service {
    conn: Connection,
}

/// Registers `handler` as a member of `cluster` at the node on `port`.
///
/// `init` runs on the calling thread before this returns and before any other handler runs; if it
/// fails, the registration is withdrawn and the error returned.
pub fn register(port: u16, cluster: &str, handler: Arc<dyn ServiceHandler>, limits: ServiceLimits) -> Result<Service> {
    let conn = runtime::block_on(connect_member(port, cluster, handler.clone(), limits))??;
    finish_registration(conn, handler.as_ref())
}

/// Async form of [`register`]; `init` runs on a blocking-capable thread.
pub async fn register_async(
    port: u16,
    cluster: &str,
    handler: Arc<dyn ServiceHandler>,
    limits: ServiceLimits,
) -> Result<Service> {
    let conn = runtime::runtime()?
        .spawn(connect_member(port, cluster.to_string(), handler.clone(), limits))
        .await
        .map_err(|e| Error::io("register task failed", std::io::Error::other(e.to_string())))??;
    // `init` may make blocking calls, which refuse to run on a runtime thread (a spawn_blocking
    // thread counts as one): run it on a plain thread of its own.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("iris-init".into())
        .spawn(move || {
            crate::dispatch::mark_handler_thread();
            let _ = tx.send(finish_registration(conn, handler.as_ref()));
        })
        .map_err(|e| Error::io("cannot start the init thread", e))?;
    rx.await
        .map_err(|_| Error::closed("service init ended without a result"))?
}

async fn connect_member(
    port: u16,
    cluster: impl AsRef<str>,
    handler: Arc<dyn ServiceHandler>,
    limits: ServiceLimits,
) -> Result<Connection> {
    let cluster = cluster.as_ref();
    super::connection::check_name("cluster", cluster)?;
    let limits = limits.resolved();
    let ctx = ServiceCtx {
        handler,
        requests: Dispatcher::new("request", limits.request_threads, limits.request_memory),
        broadcasts: Dispatcher::new("broadcast", limits.broadcast_threads, limits.broadcast_memory),
    };
    Ok(Connection::owned(open(port, cluster, Some(ctx)).await?))
}

/// Runs `init`, then lets the dispatchers start handlers.
fn finish_registration(conn: Connection, handler: &dyn ServiceHandler) -> Result<Service> {
    if let Err(message) = handler.init(&Connection::borrowed(conn.inner.clone())) {
        let _ = conn.close();
        return Err(Error::invalid(format!("service init failed: {message}")));
    }
    let dispatchers = conn
        .inner
        .lock()
        .service
        .as_ref()
        .map(|s| (s.requests.clone(), s.broadcasts.clone()));
    if let Some((requests, broadcasts)) = dispatchers {
        requests.start();
        broadcasts.start();
    }
    Ok(Service { conn })
}

impl Service {
    /// Leaves the cluster gracefully: the node stops routing to this member first, requests already
    /// delivered are answered, then the connection closes. Unregistering twice is fine.
    pub fn unregister(&self) -> Result<()> {
        self.conn.close()
    }

    /// Async form of [`unregister`](Self::unregister).
    pub async fn unregister_async(&self) -> Result<()> {
        self.conn.close_async().await
    }

    /// The service's own connection, usable as a client too.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("conn", &self.conn).finish()
    }
}
