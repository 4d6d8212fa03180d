//! Calls from the core's handler threads into JavaScript.
//!
//! The core runs handlers on its own dispatcher threads, which may block. Each call here queues
//! the work on the JavaScript thread through a thread-safe function, handing JavaScript a native
//! `done` callback, and blocks the dispatcher thread until `done` is called (the JavaScript side
//! calls it once the handler and its Promise have settled). So the core's thread limits really
//! bound how many handler calls are in flight, and a request's reply is whatever the handler's
//! Promise resolved to.
//!
//! The thread-safe function is referenced: while a service or subscription holds a bridge, the
//! event loop stays alive. Dropping the last holder (the core drops the handler when the
//! service or subscription ends) releases it.

use crate::connection::NativeConnection;
use crate::convert::to_napi_error;
use crate::tunnel::NativeTunnel;
use bytes::Bytes;
use iris_client::{Connection, Tunnel};
use napi::bindgen_prelude::ToNapiValue;
use napi::threadsafe_function::{ErrorStrategy, ThreadSafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, CallContext, Env, JsBuffer, JsFunction, JsString, JsUnknown, NapiRaw, Status, ValueType};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a waiting handler thread checks that the JavaScript environment still exists.
const ALIVE_CHECK: Duration = Duration::from_millis(500);

/// Which handler JavaScript should run; the names are what `index.js` switches on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Init,
    Request,
    Broadcast,
    Tunnel,
    Drop,
    Event,
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
    done: SyncSender<Outcome>,
}

/// A JavaScript dispatch function `(kind, arg, done) => void`, callable from any thread.
pub(crate) struct Bridge {
    tsfn: ThreadsafeFunction<Call, ErrorStrategy::Fatal>,
}

impl Bridge {
    pub(crate) fn new(dispatch: &JsFunction) -> napi::Result<Self> {
        let tsfn = dispatch.create_threadsafe_function(0, |ctx: ThreadSafeCallContext<Call>| to_js_args(ctx.env, ctx.value))?;
        Ok(Bridge { tsfn })
    }

    /// Runs the handler on the JavaScript thread and waits for it (and its Promise) to finish.
    pub(crate) fn call(&self, kind: Kind, arg: Arg) -> Outcome {
        let (done, finished) = sync_channel(1);
        let status = self.tsfn.call(Call { kind, arg, done }, ThreadsafeFunctionCallMode::Blocking);
        if status != Status::Ok {
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
                    return Outcome::Fault("the JavaScript environment has shut down".to_string())
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }
}

/// Builds `(kind, arg, done)` on the JavaScript thread.
fn to_js_args(env: Env, call: Call) -> napi::Result<Vec<sys::napi_value>> {
    let Call { kind, arg, done } = call;
    let raw = env.raw();
    let kind = env.create_string(kind.name())?;
    // SAFETY: every value is converted on the JavaScript thread with this call's env.
    let arg = unsafe {
        match arg {
            Arg::Bytes(bytes) => ToNapiValue::to_napi_value(raw, crate::convert::to_buffer(bytes))?,
            Arg::Connection(conn) => ToNapiValue::to_napi_value(raw, NativeConnection::wrap(conn))?,
            Arg::Tunnel(tunnel) => ToNapiValue::to_napi_value(raw, NativeTunnel::wrap(tunnel))?,
            Arg::Error(err) => ToNapiValue::to_napi_value(raw, to_napi_error(&err).reason)?,
        }
    };
    let done = Mutex::new(Some(done));
    let done = env.create_function_from_closure("done", move |ctx: CallContext<'_>| {
        let outcome = read_outcome(&ctx)?;
        if let Some(tx) = done.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(outcome);
        }
        ctx.env.get_undefined()
    })?;
    // SAFETY: as above.
    unsafe { Ok(vec![kind.raw(), arg, done.raw()]) }
}

/// `done(fault?: string | null, reply?: Buffer)`.
fn read_outcome(ctx: &CallContext<'_>) -> napi::Result<Outcome> {
    if ctx.length >= 1 {
        let fault = ctx.get::<JsUnknown>(0)?;
        if fault.get_type()? == ValueType::String {
            // SAFETY: the type was just checked.
            let text = unsafe { fault.cast::<JsString>() }.into_utf8()?.into_owned()?;
            return Ok(Outcome::Fault(text));
        }
    }
    if ctx.length >= 2 {
        let reply = ctx.get::<JsUnknown>(1)?;
        if reply.is_buffer()? {
            // SAFETY: the type was just checked.
            let reply = unsafe { reply.cast::<JsBuffer>() }.into_value()?;
            return Ok(Outcome::Reply(Bytes::copy_from_slice(&reply)));
        }
    }
    Ok(Outcome::Done)
}
