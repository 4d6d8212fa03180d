//! A running node: the relay server and the router, started and stopped as one.

use crate::config::{Config, Identity};
use crate::overlay::{Overlay, OverlayError};
use crate::relay::{self, BindError, Listener, RelayContext, UnixBindError};
use crate::router::Router;
use crate::shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long shutdown waits for connections to flush their CLOSE before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Neither loopback address could be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The relay's Unix socket is held by another process.
    #[error(transparent)]
    UnixBind(#[from] UnixBindError),
    /// The overlay could not start.
    #[error(transparent)]
    Overlay(#[from] OverlayError),
}

/// A started node. Dropping it without [`Node::shutdown`] leaves its tasks running until the
/// runtime ends.
pub struct Node {
    config: Config,
    port: u16,
    router: Arc<Router>,
    relay: Arc<RelayContext>,
    overlay: Option<Overlay>,
    tasks: Vec<JoinHandle<()>>,
}

impl Node {
    /// Binds the relay and starts serving; returns once clients can connect.
    pub async fn start(config: Config) -> Result<Node, StartError> {
        let (tcp, port) = relay::bind(config.relay.port).await?;
        let mut listeners: Vec<Listener> = tcp.into_iter().map(Listener::Tcp).collect();
        #[cfg(target_os = "linux")]
        if config.relay.unix {
            listeners.push(relay::bind_unix(port)?);
        }
        let router = Router::new();
        let shutdown = Shutdown::new();
        let relay = RelayContext::new(router.clone(), config.relay.clone(), shutdown);
        let mut tasks = vec![router.start_timer()];
        let overlay = match (&config.overlay, &config.identity) {
            (Some(overlay), Identity::Network { network, key }) => {
                Some(Overlay::start(overlay, network, key, router.clone(), config.relay.max_message).await?)
            }
            _ => None,
        };
        for listener in listeners {
            tasks.push(tokio::spawn(relay::accept_loop(listener, relay.clone())));
        }
        tracing::info!(
            network = config.identity.network(),
            port,
            unix = cfg!(target_os = "linux") && config.relay.unix,
            dev = matches!(config.identity, crate::config::Identity::Dev { .. }),
            max_message = config.relay.max_message,
            "iris node started"
        );
        Ok(Node {
            config,
            port,
            router,
            relay,
            overlay,
            tasks,
        })
    }

    /// The relay's TCP port (useful when started with port 0).
    pub fn relay_port(&self) -> u16 {
        self.port
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The node's router (for embedding and tests).
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// The overlay, unless this node runs alone (`--dev`).
    pub fn overlay(&self) -> Option<&Overlay> {
        self.overlay.as_ref()
    }

    /// A trigger that starts the shutdown from elsewhere (e.g. a signal handler).
    pub fn shutdown_trigger(&self) -> Shutdown {
        self.relay.shutdown.clone()
    }

    /// Client connections currently open.
    pub fn connections(&self) -> usize {
        self.relay.tracker.live()
    }

    /// Leaves the overlay gracefully (peers are told), stops accepting, sends every client CLOSE("node shutting down"), waits (bounded) for those
    /// frames to be flushed, then stops the remaining tasks.
    pub async fn shutdown(self) {
        // Peers stop routing here first, so nothing new arrives while the clients are closed.
        if let Some(overlay) = self.overlay {
            overlay.leave().await;
        }
        self.relay.shutdown.trigger();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.relay.tracker.idle())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.relay.tracker.live(),
                "some connections did not finish closing"
            );
        }
        for task in &self.tasks {
            task.abort();
        }
        tracing::info!("iris node stopped");
    }
}
