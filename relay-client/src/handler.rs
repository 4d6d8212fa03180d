//! The callbacks an application (or a binding on its behalf) supplies.

use crate::{Connection, Error, Tunnel};
use bytes::Bytes;

/// Callbacks of one service member. Every method has a default, so implement only what the
/// service uses.
///
/// The core calls them on its own handler threads, never on the I/O runtime, so they may block:
/// `init` once before anything else, then requests and broadcasts concurrently up to the
/// [`ServiceLimits`](crate::ServiceLimits), each inbound tunnel on a thread of its own, and
/// `handle_drop` at most once if the node drops the service.
pub trait ServiceHandler: Send + Sync + 'static {
    /// Runs once, before any other handler, with the service's own connection. An error aborts the
    /// registration with that message.
    fn init(&self, _connection: &Connection) -> Result<(), String> {
        Ok(())
    }

    /// A message broadcast to the cluster.
    fn handle_broadcast(&self, _message: Bytes) {}

    /// A request: return the reply, or the fault text the caller receives as a remote error.
    fn handle_request(&self, _request: Bytes) -> Result<Bytes, String> {
        Err("this service does not handle requests".to_string())
    }

    /// An inbound tunnel; it is closed when dropped.
    fn handle_tunnel(&self, _tunnel: Tunnel) {}

    /// The node dropped this service (a non-graceful close); `reason` says why.
    fn handle_drop(&self, _reason: Error) {}
}

/// The callback of one topic subscription.
pub trait TopicHandler: Send + Sync + 'static {
    /// An event published to the topic.
    fn handle_event(&self, event: Bytes);
}

impl<F: Fn(Bytes) + Send + Sync + 'static> TopicHandler for F {
    fn handle_event(&self, event: Bytes) {
        self(event)
    }
}
