//! Turning failures into Java exceptions, and keeping Rust panics out of Java.

use crate::env::cache;
use iris_client::ErrorKind;
use jni::objects::{JObject, JThrowable};
use jni::signature::ReturnType;
use jni::sys::jvalue;
use jni::JNIEnv;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Why a native call failed.
pub(crate) enum Failure {
    /// An error of the core, thrown as the matching `IrisException` subclass.
    Iris(iris_client::Error),
    /// A JNI call failed; a Java exception is usually pending already and is left to propagate.
    Jni(jni::errors::Error),
    /// The calling Java thread was interrupted while it waited.
    Interrupted,
}

impl From<iris_client::Error> for Failure {
    fn from(e: iris_client::Error) -> Self {
        Failure::Iris(e)
    }
}

impl From<jni::errors::Error> for Failure {
    fn from(e: jni::errors::Error) -> Self {
        Failure::Jni(e)
    }
}

pub(crate) type NativeResult<T> = Result<T, Failure>;

/// An INVALID_ARGUMENT error of the binding's own making (for example a null where Java should not
/// have let one through).
pub(crate) fn invalid(message: impl Into<String>) -> Failure {
    Failure::Iris(iris_client::Error::new(ErrorKind::InvalidArgument, message))
}

/// Throws the exception `io.iris.Dispatch.error(code, message)` builds.
pub(crate) fn throw_code(env: &mut JNIEnv, code: &str, message: &str) {
    if env.exception_check().unwrap_or(true) {
        return;
    }
    let built = env.with_local_frame(4, |env| -> jni::errors::Result<()> {
        let code = env.new_string(code)?;
        let message = env.new_string(message)?;
        let c = cache();
        let args = [jvalue { l: code.as_raw() }, jvalue { l: message.as_raw() }];
        // SAFETY: the method id belongs to `dispatch` and matches (String, String) -> RuntimeException.
        let exception =
            unsafe { env.call_static_method_unchecked(&c.dispatch, c.error, ReturnType::Object, &args) }?.l()?;
        env.throw(JThrowable::from(exception))
    });
    if built.is_err() && !env.exception_check().unwrap_or(true) {
        let _ = env.throw_new("java/lang/IllegalStateException", format!("{code}: {message}"));
    }
}

fn throw_failure(env: &mut JNIEnv, failure: Failure) {
    match failure {
        Failure::Iris(e) => throw_code(env, e.kind().code(), e.message()),
        Failure::Interrupted => throw_code(env, "INTERRUPTED", "the thread was interrupted while waiting"),
        Failure::Jni(e) => {
            if !env.exception_check().unwrap_or(true) {
                throw_code(env, "INTERNAL", &format!("JNI failure: {e}"));
            }
        }
    }
}

/// Runs the body of a native method: a failure becomes a pending Java exception and a panic an
/// `IrisException` with code `INTERNAL`; either way Java gets `fallback` as the return value.
pub(crate) fn entry<'local, R>(
    env: &mut JNIEnv<'local>,
    fallback: R,
    body: impl FnOnce(&mut JNIEnv<'local>) -> NativeResult<R>,
) -> R {
    match catch_unwind(AssertUnwindSafe(|| body(env))) {
        Ok(Ok(value)) => value,
        Ok(Err(failure)) => {
            throw_failure(env, failure);
            fallback
        }
        Err(panic) => {
            let message = panic_text(&panic);
            throw_code(env, "INTERNAL", &format!("the native library panicked: {message}"));
            fallback
        }
    }
}

pub(crate) fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    iris_client::panic_message(panic)
}

/// The text of a pending Java exception (its message, or its class name when the message is null
/// or empty), clearing it. Used where Java must not see the exception: on handler threads.
pub(crate) fn take_exception(env: &mut JNIEnv) -> Option<String> {
    if !env.exception_check().unwrap_or(false) {
        return None;
    }
    let throwable = env.exception_occurred().ok();
    let _ = env.exception_clear();
    let text = throwable.and_then(|t| describe(env, &t));
    Some(text.unwrap_or_else(|| "java exception".to_string()))
}

fn describe(env: &mut JNIEnv, throwable: &JObject) -> Option<String> {
    let text = env
        .with_local_frame(8, |env| -> jni::errors::Result<Option<String>> {
            let message = env
                .call_method(throwable, "getMessage", "()Ljava/lang/String;", &[])?
                .l()?;
            if !message.is_null() {
                let message: String = env.get_string(&message.into())?.into();
                if !message.is_empty() {
                    return Ok(Some(message));
                }
            }
            let class = env
                .call_method(throwable, "getClass", "()Ljava/lang/Class;", &[])?
                .l()?;
            let name = env.call_method(&class, "getName", "()Ljava/lang/String;", &[])?.l()?;
            Ok(Some(env.get_string(&name.into())?.into()))
        })
        .ok()
        .flatten();
    let _ = env.exception_clear();
    text
}

/// Every error code of the core, for the test that checks the Java side maps them all.
pub(crate) fn core_codes() -> Vec<&'static str> {
    ErrorKind::ALL.iter().map(|k| k.code()).collect()
}

/// The core error of `code`, for that test (thrown through the same path as real errors).
pub(crate) fn core_error(code: &str) -> Option<iris_client::Error> {
    ErrorKind::ALL
        .iter()
        .find(|k| k.code() == code)
        .map(|k| iris_client::Error::new(*k, format!("test {code}")))
}
