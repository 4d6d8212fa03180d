//! `register` and the native service object.

use crate::bridge::{Arg, Bridge, Kind, Outcome};
use crate::connection::{size, NativeConnection};
use crate::convert::{port, promise};
use bytes::Bytes;
use iris_client::{Connection, Service, ServiceHandler, ServiceLimits, Tunnel};
use napi::{Env, JsFunction, JsObject};
use napi_derive::napi;
use std::sync::Arc;

/// Runs a service's callbacks through the JavaScript dispatch function.
struct JsService {
    bridge: Bridge,
}

impl ServiceHandler for JsService {
    fn init(&self, connection: &Connection) -> Result<(), String> {
        match self.bridge.call(Kind::Init, Arg::Connection(connection.clone())) {
            Outcome::Fault(fault) => Err(fault),
            Outcome::Reply(_) | Outcome::Done => Ok(()),
        }
    }

    fn handle_broadcast(&self, message: Bytes) {
        self.bridge.call(Kind::Broadcast, Arg::Bytes(message));
    }

    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        match self.bridge.call(Kind::Request, Arg::Bytes(request)) {
            Outcome::Reply(reply) => Ok(reply),
            Outcome::Fault(fault) => Err(fault),
            Outcome::Done => Err("the request handler returned no reply".to_string()),
        }
    }

    /// The tunnel is closed once the JavaScript handler (and its Promise) has finished, even if
    /// JavaScript still holds the object.
    fn handle_tunnel(&self, tunnel: Tunnel) {
        let tunnel = Arc::new(tunnel);
        self.bridge.call(Kind::Tunnel, Arg::Tunnel(tunnel.clone()));
        let _ = tunnel.close();
    }

    fn handle_drop(&self, reason: iris_client::Error) {
        self.bridge.call(Kind::Drop, Arg::Error(reason));
    }
}

/// Registers a service member; `dispatch(kind, arg, done)` runs every callback on the
/// JavaScript thread. Resolves to a `NativeService` once `init` has finished.
#[napi]
pub fn register(
    env: Env,
    port_number: u32,
    cluster: String,
    dispatch: JsFunction,
    limits: Vec<f64>,
) -> napi::Result<JsObject> {
    let port = port(port_number)?;
    let limit = |i: usize, what: &str| size(what, limits.get(i).copied().unwrap_or(0.0));
    let limits = ServiceLimits {
        request_threads: limit(0, "requestThreads")?,
        request_memory: limit(1, "requestMemory")?,
        broadcast_threads: limit(2, "broadcastThreads")?,
        broadcast_memory: limit(3, "broadcastMemory")?,
    };
    let handler: Arc<dyn ServiceHandler> = Arc::new(JsService {
        bridge: Bridge::new(&dispatch)?,
    });
    promise(
        &env,
        async move { iris_client::register_async(port, &cluster, handler, limits).await },
        |service| NativeService { service },
    )
}

/// A registered service member; garbage collection unregisters it (`index.js` keeps registered
/// services reachable until they are unregistered).
#[napi]
pub struct NativeService {
    service: Service,
}

#[napi]
impl NativeService {
    /// Leaves the cluster gracefully. With `wait` false it only starts (for use inside handlers).
    #[napi]
    pub fn unregister(&self, env: Env, wait: bool) -> napi::Result<JsObject> {
        self.connection().close(env, wait)
    }

    /// The service's own connection, usable as a client too.
    #[napi]
    pub fn connection(&self) -> NativeConnection {
        NativeConnection::wrap(self.service.connection().clone())
    }
}
