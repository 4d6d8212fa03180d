//! The Node.js binding of Iris: the native half of the npm package `iris`.
//!
//! A thin napi-rs layer over the `iris-client` core. It converts arguments, turns the core's
//! `_async` calls into Promises, adapts JavaScript handlers into the core's handler traits (the
//! core's dispatcher threads call into JavaScript through a thread-safe function and wait for the
//! handler, and its Promise, to finish), and reports errors with their stable code. The public
//! JavaScript API (argument checks, error classes, handler objects) lives in `index.js`; nothing
//! here is meant to be called by applications directly.

mod bridge;
mod connection;
mod convert;
mod service;
mod tunnel;

pub use bridge::complete;
pub use connection::{connect, NativeConnection};
pub use convert::{error_kinds, error_sample};
pub use service::{register, NativeService};
pub use tunnel::NativeTunnel;
