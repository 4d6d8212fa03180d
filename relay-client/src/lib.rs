//! The Iris relay v1 client core.
//!
//! This crate is the one implementation of the client side of Iris: it attaches an application to
//! its local `iris` node over relay protocol v1 and implements requests, broadcasts, publish/
//! subscribe and tunnels, plus the semantics every language binding shares: service and topic
//! limits, request expiry, argument validation, ordering and error kinds. The Python, Node.js,
//! Java and C bindings are thin layers over it.
//!
//! It also holds the sans-I/O relay [`codec`], which the node uses too.
//!
//! ```no_run
//! use std::{sync::Arc, time::Duration};
//! use iris_client::{ServiceHandler, ServiceLimits};
//!
//! struct Echo;
//! impl ServiceHandler for Echo {
//!     fn handle_request(&self, request: bytes::Bytes) -> Result<bytes::Bytes, String> {
//!         Ok(request)
//!     }
//! }
//!
//! # fn main() -> iris_client::Result<()> {
//! let service = iris_client::register(55555, "echo", Arc::new(Echo), ServiceLimits::default())?;
//! let conn = iris_client::connect(55555)?;
//! let reply = conn.request("echo", "hi", Duration::from_secs(1))?;
//! assert_eq!(&reply[..], b"hi");
//! conn.close()?;
//! service.unregister()?;
//! # Ok(())
//! # }
//! ```
//!
//! What it is not: it does not start or manage the node, and it never talks to another host; the
//! node does that.

pub mod codec;
mod conn;
mod dispatch;
mod error;
mod handler;
mod limits;
pub mod outq;
mod runtime;
pub mod transport;
pub use runtime::{block_on_checked, runtime_handle};

pub use bytes::Bytes;
pub use conn::{connect, connect_async, register, register_async, Connection, Service, Tunnel};
pub use dispatch::panic_message;
pub use error::{Error, ErrorKind, Result};
pub use handler::{ServiceHandler, TopicHandler};
pub use limits::{default_threads, ServiceLimits, TopicLimits, DEFAULT_MEMORY};
