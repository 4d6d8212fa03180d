//! `connect` and the native connection object.

use crate::bridge::{Arg, Bridge, Kind};
use crate::convert::{invalid, now_or_promise, port, promise, timeout, to_buffer, to_bytes};
use crate::tunnel::NativeTunnel;
use bytes::Bytes;
use iris_client::{Connection, TopicHandler, TopicLimits};
use napi::bindgen_prelude::{Buffer, Either};
use napi::{Env, JsFunction, JsObject};
use napi_derive::napi;
use std::sync::Arc;

/// Connects to the node on `port` as a plain client; resolves to a `NativeConnection`.
#[napi]
pub fn connect(env: Env, port_number: u32) -> napi::Result<JsObject> {
    let port = port(port_number)?;
    promise(&env, iris_client::connect_async(port), NativeConnection::wrap)
}

/// A relay connection. The last handle dropped (garbage collected) closes an application's
/// connection; the one a service's `init` receives does not own its connection.
#[napi]
pub struct NativeConnection {
    conn: Connection,
}

/// Converts a byte count given as a JavaScript number.
pub(crate) fn size(what: &str, value: f64) -> napi::Result<usize> {
    if !value.is_finite() || value < 0.0 || value.fract() != 0.0 || value > usize::MAX as f64 {
        return Err(invalid(format!("{what} must be a whole number >= 0, got {value}")));
    }
    Ok(value as usize)
}

/// Runs a subscription's events through the JavaScript dispatch function.
struct JsTopic {
    bridge: Bridge,
}

impl TopicHandler for JsTopic {
    fn handle_event(&self, event: Bytes) {
        self.bridge.call(Kind::Event, Arg::Bytes(event));
    }
}

impl NativeConnection {
    pub(crate) fn wrap(conn: Connection) -> Self {
        NativeConnection { conn }
    }
}

#[napi]
impl NativeConnection {
    /// Resolves to the reply Buffer.
    #[napi]
    pub fn request(&self, env: Env, cluster: String, request: Buffer, timeout_ms: f64) -> napi::Result<JsObject> {
        let (conn, request, timeout) = (self.conn.clone(), to_bytes(&request), timeout(timeout_ms)?);
        promise(
            &env,
            async move { conn.request_async(&cluster, request, timeout).await },
            to_buffer,
        )
    }

    /// Returns `true` when the message was queued at once, else a Promise.
    #[napi(ts_return_type = "true | Promise<void>")]
    pub fn broadcast(&self, env: Env, cluster: String, message: Buffer) -> napi::Result<Either<bool, JsObject>> {
        let (conn, message) = (self.conn.clone(), to_bytes(&message));
        now_or_promise(&env, async move { conn.broadcast_async(&cluster, message).await })
    }

    /// Returns `true` when the event was queued at once, else a Promise.
    #[napi(ts_return_type = "true | Promise<void>")]
    pub fn publish(&self, env: Env, topic: String, event: Buffer) -> napi::Result<Either<bool, JsObject>> {
        let (conn, event) = (self.conn.clone(), to_bytes(&event));
        now_or_promise(&env, async move { conn.publish_async(&topic, event).await })
    }

    /// `dispatch(kind, event, done)` runs on the JavaScript thread for every event.
    #[napi]
    pub fn subscribe(
        &self,
        env: Env,
        topic: String,
        dispatch: JsFunction,
        event_threads: f64,
        event_memory: f64,
    ) -> napi::Result<JsObject> {
        let limits = TopicLimits {
            event_threads: size("eventThreads", event_threads)?,
            event_memory: size("eventMemory", event_memory)?,
        };
        let handler: Arc<dyn TopicHandler> = Arc::new(JsTopic {
            bridge: Bridge::new(&dispatch)?,
        });
        let conn = self.conn.clone();
        promise(
            &env,
            async move { conn.subscribe_async(&topic, handler, limits).await },
            |()| (),
        )
    }

    #[napi]
    pub fn unsubscribe(&self, env: Env, topic: String) -> napi::Result<JsObject> {
        let conn = self.conn.clone();
        promise(&env, async move { conn.unsubscribe_async(&topic).await }, |()| ())
    }

    /// Resolves to a `NativeTunnel`.
    #[napi]
    pub fn tunnel(&self, env: Env, cluster: String, timeout_ms: f64) -> napi::Result<JsObject> {
        let (conn, timeout) = (self.conn.clone(), timeout(timeout_ms)?);
        promise(&env, async move { conn.tunnel_async(&cluster, timeout).await }, |t| {
            NativeTunnel::wrap(Arc::new(t))
        })
    }

    /// Closes gracefully. With `wait` false the close only starts (what a handler must do, since
    /// the drain waits for running handlers).
    #[napi]
    pub fn close(&self, env: Env, wait: bool) -> napi::Result<JsObject> {
        let conn = self.conn.clone();
        if wait {
            promise(&env, async move { conn.close_async().await }, |()| ())
        } else {
            let closing = conn.clone();
            iris_client::runtime_handle()
                .map_err(|e| crate::convert::to_napi_error(&e))?
                .spawn(async move { closing.close_async().await });
            promise(&env, async move { Ok(()) }, |()| ())
        }
    }

    #[napi]
    pub fn is_open(&self) -> bool {
        self.conn.is_open()
    }

    #[napi]
    pub fn id(&self) -> f64 {
        self.conn.id() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::size;

    #[test]
    fn sizes_must_be_whole_and_non_negative() {
        assert_eq!(size("x", 0.0).unwrap(), 0);
        assert_eq!(size("x", (64 << 20) as f64).unwrap(), 64 << 20);
        for bad in [-1.0, 1.5, f64::NAN, f64::INFINITY] {
            assert!(size("x", bad).is_err(), "{bad}");
        }
    }
}
