//! Conversions between JavaScript values and the core's types, and the one way results travel
//! back to JavaScript (Promises resolved from the core's runtime).

use bytes::Bytes;
use iris_client::{Error, ErrorKind};
use napi::bindgen_prelude::{Buffer, Either, ToNapiValue};
use napi::{sys, Env, JsObject, NapiRaw, Status};
use napi_derive::napi;
use std::future::Future;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
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

/// Payloads up to this size are copied into a V8-owned Buffer; larger ones are handed over as an
/// external Buffer (no copy when the core held the only reference, but a finalizer per Buffer).
const COPY_LIMIT: usize = 64 * 1024;

/// Bytes on their way to JavaScript as a Buffer.
pub(crate) struct JsBytes(pub(crate) Bytes);

impl ToNapiValue for JsBytes {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        // SAFETY: called on the JavaScript thread with a live env, as ToNapiValue requires.
        let env = unsafe { Env::from_raw(env) };
        let buffer = if val.0.len() <= COPY_LIMIT {
            env.create_buffer_copy(&val.0)?.into_raw()
        } else {
            env.create_buffer_with_data(Vec::from(val.0))?.into_raw()
        };
        // SAFETY: as above.
        Ok(unsafe { buffer.raw() })
    }
}

pub(crate) fn to_buffer(bytes: Bytes) -> JsBytes {
    JsBytes(bytes)
}

/// A waker that does nothing, for polling a future once on the JavaScript thread.
fn noop_waker() -> Waker {
    const VTABLE: RawWakerVTable =
        RawWakerVTable::new(|_| RawWaker::new(std::ptr::null(), &VTABLE), |_| {}, |_| {}, |_| {});
    // SAFETY: every vtable function ignores the (null) data pointer.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// For calls that usually finish at once (publish, broadcast: the frame is queued unless the
/// connection's output buffer is full): polls `future` once on the calling thread and returns
/// `true` when it is done, saving the cost of a Promise settled from another thread; otherwise
/// hands it to the runtime and returns a Promise.
pub(crate) fn now_or_promise<F>(env: &Env, future: F) -> napi::Result<Either<bool, JsObject>>
where
    F: Future<Output = iris_client::Result<()>> + Send + 'static,
{
    let runtime = iris_client::runtime_handle().map_err(|e| to_napi_error(&e))?;
    let mut future = Box::pin(future);
    {
        let _entered = runtime.enter();
        let waker = noop_waker();
        match future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(Ok(())) => return Ok(Either::A(true)),
            Poll::Ready(Err(err)) => return Err(to_napi_error(&err)),
            Poll::Pending => {}
        }
    }
    promise(env, future, |()| ()).map(Either::B)
}

/// A timeout in milliseconds as the core wants it. `NaN`, negative and infinite values are
/// invalid; values under 1 ms are passed on so the core applies its own rule.
pub(crate) fn timeout(ms: f64) -> napi::Result<Duration> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(invalid(format!(
            "the timeout must be a finite number of milliseconds >= 0, got {ms}"
        )));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(err: napi::Error) -> String {
        err.reason
            .split(']')
            .next()
            .unwrap_or_default()
            .trim_start_matches("[iris:")
            .to_string()
    }

    #[test]
    fn timeouts_convert_from_milliseconds() {
        assert_eq!(timeout(1500.0).unwrap(), Duration::from_millis(1500));
        assert_eq!(timeout(0.5).unwrap(), Duration::from_micros(500));
        assert_eq!(optional_timeout(0.0).unwrap(), None);
        assert_eq!(optional_timeout(20.0).unwrap(), Some(Duration::from_millis(20)));
        for bad in [-1.0, f64::NAN, f64::INFINITY, 1e300] {
            assert_eq!(code_of(timeout(bad).unwrap_err()), "INVALID_ARGUMENT", "{bad}");
        }
    }

    #[test]
    fn ports_and_sizes_are_checked() {
        assert_eq!(port(55555).unwrap(), 55555);
        assert_eq!(code_of(port(70000).unwrap_err()), "INVALID_ARGUMENT");
    }

    #[test]
    fn every_error_kind_keeps_its_code_and_message() {
        for kind in ErrorKind::ALL {
            let err = to_napi_error(&Error::new(kind, "what happened"));
            assert_eq!(err.reason, format!("[iris:{}] what happened", kind.code()));
        }
    }
}
