//! The native tunnel object.

use crate::convert::{optional_timeout, promise, to_buffer, to_bytes};
use iris_client::Tunnel;
use napi::bindgen_prelude::Buffer;
use napi::{Env, JsObject};
use napi_derive::napi;
use std::sync::Arc;

/// One end of a tunnel; closed when closed explicitly or when its last holder goes away.
#[napi]
pub struct NativeTunnel {
    tunnel: Arc<Tunnel>,
}

impl NativeTunnel {
    pub(crate) fn wrap(tunnel: Arc<Tunnel>) -> Self {
        NativeTunnel { tunnel }
    }
}

#[napi]
impl NativeTunnel {
    /// Sends one message; `timeout_ms` 0 waits as long as it takes.
    #[napi]
    pub fn send(&self, env: Env, message: Buffer, timeout_ms: f64) -> napi::Result<JsObject> {
        let (tunnel, message, timeout) = (self.tunnel.clone(), to_bytes(&message), optional_timeout(timeout_ms)?);
        promise(&env, async move { tunnel.send_async(message, timeout).await }, |()| ())
    }

    /// Resolves to the next message; `timeout_ms` 0 waits as long as it takes.
    #[napi]
    pub fn recv(&self, env: Env, timeout_ms: f64) -> napi::Result<JsObject> {
        let (tunnel, timeout) = (self.tunnel.clone(), optional_timeout(timeout_ms)?);
        promise(&env, async move { tunnel.recv_async(timeout).await }, to_buffer)
    }

    #[napi]
    pub fn close(&self, env: Env) -> napi::Result<JsObject> {
        let tunnel = self.tunnel.clone();
        promise(&env, async move { tunnel.close_async().await }, |()| ())
    }

    #[napi]
    pub fn id(&self) -> f64 {
        self.tunnel.id() as f64
    }
}
