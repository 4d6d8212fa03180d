//! Conversions between JavaScript values and the core's types, and the one way results travel
//! back to JavaScript (Promises resolved from the core's runtime).

use bytes::Bytes;
use iris_client::{Error, ErrorKind};
use napi::bindgen_prelude::{Buffer, ToNapiValue};
use napi::{Env, JsObject, Status};
use napi_derive::napi;
use std::future::Future;
use std::time::Duration;

/// The prefix `index.js` parses to rebuild the error class: `[iris:CODE] message`.
pub(crate) fn to_napi_error(err: &Error) -> napi::Error {
    coded_error(err.kind().code(), err.message())
}

pub(crate) fn coded_error(code: &str, message: &str) -> napi::Error {
    napi::Error::new(Status::GenericFailure, format!("[iris:{code}] {message}"))
}

pub(crate) fn invalid(message: impl AsRef<str>) -> napi::Error {
    coded_error(ErrorKind::InvalidArgument.code(), message.as_ref())
}

/// Copies a JavaScript buffer into the core's byte type (the core may keep it after the call).
pub(crate) fn to_bytes(buffer: &Buffer) -> Bytes {
    Bytes::copy_from_slice(buffer)
}

/// Hands bytes to JavaScript as a Buffer without another copy when the core held the only
/// reference.
pub(crate) fn to_buffer(bytes: Bytes) -> Buffer {
    Buffer::from(Vec::<u8>::from(bytes))
}

/// A timeout in milliseconds as the core wants it. `NaN`, negative and infinite values are
/// invalid; values under 1 ms are passed on so the core applies its own rule.
pub(crate) fn timeout(ms: f64) -> napi::Result<Duration> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(invalid(format!("the timeout must be a finite number of milliseconds >= 0, got {ms}")));
    }
    Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| invalid(format!("the timeout {ms} ms is too large")))
}

/// A tunnel timeout: 0 means no deadline.
pub(crate) fn optional_timeout(ms: f64) -> napi::Result<Option<Duration>> {
    let t = timeout(ms)?;
    Ok(if t.is_zero() { None } else { Some(t) })
}

pub(crate) fn port(port: u32) -> napi::Result<u16> {
    u16::try_from(port).map_err(|_| invalid(format!("the port must be within 0..=65535, got {port}")))
}

/// Runs `future` on the core's runtime and returns a Promise settled with its outcome:
/// `convert`ed on the JavaScript thread on success, rejected with the coded error otherwise.
/// The pending Promise keeps the event loop alive until it settles.
pub(crate) fn promise<T, V, F, C>(env: &Env, future: F, convert: C) -> napi::Result<JsObject>
where
    T: Send + 'static,
    V: ToNapiValue + 'static,
    F: Future<Output = iris_client::Result<T>> + Send + 'static,
    C: FnOnce(T) -> V + Send + 'static,
{
    let runtime = iris_client::runtime_handle().map_err(|e| to_napi_error(&e))?;
    let (deferred, promise) = env.create_deferred()?;
    runtime.spawn(async move {
        match future.await {
            Ok(value) => deferred.resolve(move |_env| Ok(convert(value))),
            Err(err) => deferred.reject(to_napi_error(&err)),
        }
    });
    Ok(promise)
}

/// The stable codes of every core error kind, in the core's order (for the exhaustive-mapping
/// test).
#[napi(js_name = "errorKinds")]
pub fn error_kinds() -> Vec<String> {
    ErrorKind::ALL.iter().map(|k| k.code().to_string()).collect()
}

/// Throws a core error of the kind with `code`, built the way every real error is (for the
/// exhaustive-mapping test).
#[napi(js_name = "errorSample")]
pub fn error_sample(code: String, message: String) -> napi::Result<()> {
    let kind = ErrorKind::ALL
        .into_iter()
        .find(|k| k.code() == code)
        .ok_or_else(|| invalid(format!("no error kind has the code {code:?}")))?;
    Err(to_napi_error(&Error::new(kind, message)))
}
