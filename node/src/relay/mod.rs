//! The relay server: accepts local clients on loopback TCP (and, on Linux, on the abstract Unix
//! socket named after the port; see [`iris_client::transport`]) and runs one reader and one writer
//! task per connection.

pub mod connection;
pub mod handshake;
pub mod outbox;
mod tracker;

pub use tracker::ConnTracker;

use crate::config::RelayConfig;
use crate::router::{ConnId, Router};
use crate::shutdown::Shutdown;
use iris_client::codec::Limits;
use iris_client::transport::Stream;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;
use tracing::Instrument;

/// Why the relay could not listen.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Neither loopback address could be bound.
    #[error("cannot listen on port {port}: 127.0.0.1: {v4}; [::1]: {v6}")]
    Neither {
        /// The port asked for.
        port: u16,
        /// Why 127.0.0.1 failed.
        v4: std::io::Error,
        /// Why `[::1]` failed.
        v6: std::io::Error,
    },
    /// A loopback address of the port asked for is held by another process, which clients that
    /// connect there would reach instead of this node.
    #[error("cannot listen on {addr}: another process holds it, and local clients connecting there would reach it instead of this node (stop it or pick another --port)")]
    Taken {
        /// The address in use.
        addr: std::net::SocketAddr,
    },
}

/// Why the relay's Unix socket could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on the relay socket {name}: {error} (another process holds it; stop it, pick another --port, or pass --no-unix-relay)")]
pub struct UnixBindError {
    /// The abstract name, `@iris-relay-PORT`.
    pub name: String,
    /// Why.
    pub error: std::io::Error,
}

/// A bound relay listener.
#[derive(Debug)]
pub enum Listener {
    /// TCP on a loopback address.
    Tcp(TcpListener),
    /// The abstract Unix socket named after the port.
    #[cfg(target_os = "linux")]
    Unix(tokio::net::UnixListener),
}

/// Binds the abstract Unix socket of the relay on `port`. Its name is taken from the TCP port the
/// relay holds, so a clash means some other process squats on it, which clients would then reach
/// instead of this node: that is an error, not a warning.
#[cfg(target_os = "linux")]
pub fn bind_unix(port: u16) -> Result<Listener, UnixBindError> {
    tokio::net::UnixListener::bind(iris_client::transport::unix_relay_path(port))
        .map(Listener::Unix)
        .map_err(|error| UnixBindError {
            name: iris_client::transport::unix_relay_name(port),
            error,
        })
}

/// Binds 127.0.0.1 and `[::1]` on `port` (0 = a free port, the same on both where possible); never
/// binds anything but loopback. A host without one of the two loopback addresses gets the other
/// alone (with a log line). Fails if neither binds, or if another process holds either address of
/// the port asked for.
pub async fn bind(port: u16) -> Result<(Vec<TcpListener>, u16), BindError> {
    // A free port taken on [::1] by someone else: try another, a few times.
    for _ in 0..7 {
        match bind_pair(port).await {
            Err(BindError::Taken { .. }) if port == 0 => continue,
            result => return result,
        }
    }
    bind_pair(port).await
}

async fn bind_pair(port: u16) -> Result<(Vec<TcpListener>, u16), BindError> {
    let mut listeners = Vec::new();
    let mut chosen = port;
    let v4_err = match TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
        Ok(listener) => {
            if let Ok(addr) = listener.local_addr() {
                chosen = addr.port();
            }
            listeners.push(listener);
            None
        }
        Err(e) => Some(e),
    };
    let v6_err = match TcpListener::bind((Ipv6Addr::LOCALHOST, chosen)).await {
        Ok(listener) => {
            if let Ok(addr) = listener.local_addr() {
                chosen = addr.port();
            }
            listeners.push(listener);
            None
        }
        Err(e) => Some(e),
    };
    let in_use = |e: &Option<std::io::Error>| e.as_ref().is_some_and(|e| e.kind() == std::io::ErrorKind::AddrInUse);
    if in_use(&v4_err) {
        return Err(BindError::Taken {
            addr: (Ipv4Addr::LOCALHOST, port).into(),
        });
    }
    if in_use(&v6_err) {
        return Err(BindError::Taken {
            addr: (Ipv6Addr::LOCALHOST, chosen).into(),
        });
    }
    match (v4_err, v6_err) {
        (Some(v4), Some(v6)) => Err(BindError::Neither { port, v4, v6 }),
        (v4, v6) => {
            if let Some(e) = v4 {
                tracing::warn!(port = chosen, error = %e, "127.0.0.1 not available; relay on [::1] only");
            }
            if let Some(e) = v6 {
                tracing::info!(port = chosen, error = %e, "[::1] not available; relay on 127.0.0.1 only");
            }
            Ok((listeners, chosen))
        }
    }
}

/// What every connection task shares.
pub struct RelayContext {
    /// Where frames are routed.
    pub router: Arc<Router>,
    /// Relay settings.
    pub config: RelayConfig,
    /// Decoder caps derived from the settings.
    pub limits: Limits,
    /// Fires when the node shuts down.
    pub shutdown: Shutdown,
    /// Counts live connections so shutdown can wait for their CLOSE to be flushed.
    pub tracker: ConnTracker,
    next_conn: AtomicU64,
}

impl RelayContext {
    /// Shared state for the connections of one relay.
    pub fn new(router: Arc<Router>, config: RelayConfig, shutdown: Shutdown) -> Arc<RelayContext> {
        let limits = Limits {
            max_message: config.max_message,
            ..Limits::default()
        };
        Arc::new(RelayContext {
            router,
            config,
            limits,
            shutdown,
            tracker: ConnTracker::default(),
            next_conn: AtomicU64::new(1),
        })
    }
}

/// Accepts connections on `listener` until shutdown, serving each in its own task.
pub async fn accept_loop(listener: Listener, ctx: Arc<RelayContext>) {
    loop {
        let accepted = tokio::select! {
            a = accept(&listener) => a,
            _ = ctx.shutdown.wait() => return,
        };
        match accepted {
            Ok((stream, addr)) => {
                let id = ConnId(ctx.next_conn.fetch_add(1, Ordering::Relaxed));
                let guard = ctx.tracker.enter();
                let ctx = ctx.clone();
                let span = tracing::info_span!("conn", conn = %id);
                tokio::spawn(
                    async move {
                        tracing::debug!(addr, "accepted");
                        connection::serve(stream, id, ctx).await;
                        drop(guard);
                    }
                    .instrument(span),
                );
            }
            Err(e) => {
                // Usually EMFILE: back off briefly instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// The next connection on `listener`, with its peer for logs.
async fn accept(listener: &Listener) -> std::io::Result<(Stream, String)> {
    match listener {
        Listener::Tcp(l) => {
            let (stream, addr) = l.accept().await?;
            // Frames are coalesced in the outbox already; Nagle would only add latency.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
            Ok((Stream::Tcp(stream), addr.to_string()))
        }
        #[cfg(target_os = "linux")]
        Listener::Unix(l) => {
            let (stream, _) = l.accept().await?;
            // The kernel vouches for the peer process: worth a line in the log.
            let who = match stream.peer_cred() {
                Ok(cred) => format!("unix pid={} uid={}", cred.pid().unwrap_or(-1), cred.uid()),
                Err(_) => "unix".to_string(),
            };
            Ok((Stream::Unix(stream), who))
        }
    }
}
