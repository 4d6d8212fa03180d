//! Calls from the core's handler threads into JavaScript.
//!
//! The core runs handlers on its own dispatcher threads, which may block. Each call here queues
//! the work on the JavaScript thread through a thread-safe function, with a token, and blocks the
//! dispatcher thread until JavaScript calls `complete(token, ...)` (once the handler and its
//! Promise have settled). So the core's thread limits really
//! bound how many handler calls are in flight, and a request's reply is whatever the handler's
//! Promise resolved to.
//!
//! The thread-safe function is referenced: while a service or subscription holds a bridge, the
//! event loop stays alive. Dropping the last holder (the core drops the handler when the
//! service or subscription ends) releases it.

use crate::connection::NativeConnection;
use crate::convert::{to_napi_error, JsBytes};
use crate::tunnel::NativeTunnel;
use bytes::Bytes;
use iris_client::{Connection, Tunnel};
use napi::bindgen_prelude::{Buffer, ToNapiValue};
use napi::threadsafe_function::{ErrorStrategy, ThreadSafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Env, JsFunction, Status};
use napi_derive::napi;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a waiting handler thread checks that the JavaScript environment still exists.
const ALIVE_CHECK: Duration = Duration::from_millis(500);

/// Which handler JavaScript should run; `index.js` switches on the numbers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Init = 0,
    Request = 1,
    Broadcast = 2,
    Tunnel = 3,
    Drop = 4,
    Event = 5,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Init => "init",
            Kind::Request => "request",
            Kind::Broadcast => "broadcast",
            Kind::Tunnel => "tunnel",
            Kind::Drop => "drop",
            Kind::Event => "event",
        }
    }
}

/// The argument a handler receives.
pub(crate) enum Arg {
    Bytes(Bytes),
    Connection(Connection),
    Tunnel(Arc<Tunnel>),
    Error(iris_client::Error),
}

/// How a JavaScript handler finished.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// It returned (or resolved to) this reply.
    Reply(Bytes),
    /// It threw (or rejected) with this text.
    Fault(String),
    /// It finished without a reply.
    Done,
}

struct Call {
    kind: Kind,
    arg: Arg,
    token: u32,
}

/// Handler calls waiting for JavaScript's `complete(token, ...)`, by token.
static WAITING: Mutex<Option<HashMap<u32, SyncSender<Outcome>>>> = Mutex::new(None);
static NEXT_TOKEN: AtomicU32 = AtomicU32::new(0);

fn waiting() -> std::sync::MutexGuard<'static, Option<HashMap<u32, SyncSender<Outcome>>>> {
    WAITING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Called by `index.js` once a handler (and its Promise) has settled: `fault` is the text of what
/// it threw, `reply` what a request handler returned.
#[napi]
pub fn complete(token: u32, fault: Option<String>, reply: Option<Buffer>) {
    let Some(tx) = waiting().as_mut().and_then(|w| w.remove(&token)) else {
        return;
    };
    let outcome = match (fault, reply) {
        (Some(fault), _) => Outcome::Fault(fault),
        (None, Some(reply)) => Outcome::Reply(crate::convert::to_bytes(&reply)),
        (None, None) => Outcome::Done,
    };
    let _ = tx.send(outcome);
}

/// A JavaScript dispatch function `(kind, arg, token) => void`, callable from any thread.
pub(crate) struct Bridge {
    tsfn: ThreadsafeFunction<Call, ErrorStrategy::Fatal>,
}

impl Bridge {
    pub(crate) fn new(dispatch: &JsFunction) -> napi::Result<Self> {
        let tsfn = dispatch
            .create_threadsafe_function(0, |ctx: ThreadSafeCallContext<Call>| to_js_args(ctx.env, ctx.value))?;
        Ok(Bridge { tsfn })
    }

    /// Runs the handler on the JavaScript thread and waits for it (and its Promise) to finish.
    pub(crate) fn call(&self, kind: Kind, arg: Arg) -> Outcome {
        let (done, finished) = sync_channel(1);
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        waiting().get_or_insert_with(HashMap::new).insert(token, done);
        let forget = || {
            waiting().as_mut().and_then(|w| w.remove(&token));
        };
        let status = self
            .tsfn
            .call(Call { kind, arg, token }, ThreadsafeFunctionCallMode::Blocking);
        if status != Status::Ok {
            forget();
            return Outcome::Fault(format!("cannot call the JavaScript {} handler: {status}", kind.name()));
        }
        loop {
            match finished.recv_timeout(ALIVE_CHECK) {
                Ok(outcome) => return outcome,
                Err(RecvTimeoutError::Disconnected) => {
                    return Outcome::Fault(format!("the JavaScript {} handler never completed", kind.name()))
                }
                // The environment is gone (worker or process teardown): nobody will answer.
                Err(RecvTimeoutError::Timeout) if self.tsfn.aborted() => {
                    forget();
                    return Outcome::Fault("the JavaScript environment has shut down".to_string());
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }
}

/// Builds `(kind, arg, token)` on the JavaScript thread.
fn to_js_args(env: Env, call: Call) -> napi::Result<Vec<sys::napi_value>> {
    let Call { kind, arg, token } = call;
    let raw = env.raw();
    // SAFETY: every value is converted on the JavaScript thread with this call's env.
    unsafe {
        let arg = match arg {
            Arg::Bytes(bytes) => ToNapiValue::to_napi_value(raw, JsBytes(bytes))?,
            Arg::Connection(conn) => ToNapiValue::to_napi_value(raw, NativeConnection::wrap(conn))?,
            Arg::Tunnel(tunnel) => ToNapiValue::to_napi_value(raw, NativeTunnel::wrap(tunnel))?,
            Arg::Error(err) => ToNapiValue::to_napi_value(raw, to_napi_error(&err).reason)?,
        };
        Ok(vec![
            ToNapiValue::to_napi_value(raw, kind as u32)?,
            arg,
            ToNapiValue::to_napi_value(raw, token)?,
        ])
    }
}
