//! `io.iris.Native` methods of connections, plus the conversions every native method shares.

use crate::callbacks::JavaTopic;
use crate::env::{cache, JavaRef};
use crate::errors::{core_codes, core_error, entry, invalid, Failure, NativeResult};
use crate::tunnel::JTunnel;
use iris_client::{Bytes, Connection, TopicLimits};
use jni::objects::{JByteArray, JClass, JObject, JString};
use jni::signature::{Primitive, ReturnType};
use jni::sys::{jboolean, jbyteArray, jint, jlong, jobjectArray, JNI_FALSE, JNI_TRUE};
use jni::JNIEnv;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How often a blocked call looks at its Java thread's interrupt flag.
const INTERRUPT_CHECK: Duration = Duration::from_millis(50);

/// The native side of an `io.iris.Connection`.
pub(crate) struct JConn {
    pub conn: Connection,
}

impl JConn {
    pub fn into_handle(conn: Connection) -> jlong {
        Box::into_raw(Box::new(JConn { conn })) as jlong
    }
}

/// Borrows the object behind a handle.
///
/// # Safety
/// `handle` came from `into_handle` of the same type and has not been freed. The Java objects
/// guarantee this: they free their handle only from a Cleaner, once no call can be running.
pub(crate) unsafe fn borrow<'a, T>(handle: jlong) -> NativeResult<&'a T> {
    (handle as *const T)
        .as_ref()
        .ok_or_else(|| invalid("the native handle is null"))
}

/// Frees the object behind a handle (once; 0 is ignored).
///
/// # Safety
/// As for [`borrow`], and no other call uses the handle afterwards.
pub(crate) unsafe fn free<T>(handle: jlong) {
    if handle != 0 {
        drop(Box::from_raw(handle as *mut T));
    }
}

pub(crate) fn string(env: &mut JNIEnv, value: &JString, what: &str) -> NativeResult<String> {
    if value.is_null() {
        return Err(invalid(format!("the {what} must not be null")));
    }
    Ok(env.get_string(value)?.into())
}

pub(crate) fn bytes(env: &mut JNIEnv, value: &JByteArray, what: &str) -> NativeResult<Bytes> {
    if value.is_null() {
        return Err(invalid(format!("the {what} must not be null")));
    }
    Ok(Bytes::from(env.convert_byte_array(value)?))
}

pub(crate) fn to_java(env: &mut JNIEnv, data: &[u8]) -> NativeResult<jbyteArray> {
    Ok(env.byte_array_from_slice(data)?.into_raw())
}

/// A Java timeout in nanoseconds (negative: none given) as a core timeout.
pub(crate) fn timeout(nanos: jlong) -> Option<Duration> {
    u64::try_from(nanos).ok().map(Duration::from_nanos)
}

pub(crate) fn size(value: jlong) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// Runs a core future to completion on the calling Java thread, giving up with
/// [`Failure::Interrupted`] if the thread is interrupted meanwhile.
pub(crate) fn wait<F: Future>(env: &mut JNIEnv, future: F) -> NativeResult<F::Output> {
    let c = cache();
    let outcome = iris_client::block_on_checked(future, INTERRUPT_CHECK, || {
        // SAFETY: `interrupted` is Dispatch.interrupted()Z.
        let flag = unsafe {
            env.call_static_method_unchecked(
                &c.dispatch,
                c.interrupted,
                ReturnType::Primitive(Primitive::Boolean),
                &[],
            )
        };
        match flag.and_then(|v| v.z()) {
            Ok(false) => Ok(()),
            Ok(true) => Err(Failure::Interrupted),
            Err(e) => Err(Failure::Jni(e)),
        }
    })?;
    outcome
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_connect(mut env: JNIEnv, _: JClass, port: jint) -> jlong {
    entry(&mut env, 0, |_| {
        let port = u16::try_from(port).map_err(|_| invalid(format!("port {port} is out of range")))?;
        Ok(JConn::into_handle(iris_client::connect(port)?))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_connectionFree(mut env: JNIEnv, _: JClass, handle: jlong) {
    // SAFETY: called once, by the Connection's Cleaner.
    entry(&mut env, (), |_| unsafe {
        free::<JConn>(handle);
        Ok(())
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_request(
    mut env: JNIEnv,
    _: JClass,
    handle: jlong,
    cluster: JString,
    request: JByteArray,
    timeout_nanos: jlong,
) -> jbyteArray {
    entry(&mut env, std::ptr::null_mut(), |env| {
        // SAFETY: see `borrow`.
        let conn = &unsafe { borrow::<JConn>(handle) }?.conn;
        let cluster = string(env, &cluster, "cluster")?;
        let request = bytes(env, &request, "request")?;
        let timeout = timeout(timeout_nanos).unwrap_or(Duration::ZERO);
        let reply = wait(env, conn.request_async(&cluster, request, timeout))??;
        to_java(env, &reply)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_broadcast(
    mut env: JNIEnv,
    _: JClass,
    handle: jlong,
    cluster: JString,
    message: JByteArray,
) {
    entry(&mut env, (), |env| {
        // SAFETY: see `borrow`.
        let conn = &unsafe { borrow::<JConn>(handle) }?.conn;
        let cluster = string(env, &cluster, "cluster")?;
        let message = bytes(env, &message, "message")?;
        Ok(conn.broadcast(&cluster, message)?)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_publish(
    mut env: JNIEnv,
    _: JClass,
    handle: jlong,
    topic: JString,
    event: JByteArray,
) {
    entry(&mut env, (), |env| {
        // SAFETY: see `borrow`.
        let conn = &unsafe { borrow::<JConn>(handle) }?.conn;
        let topic = string(env, &topic, "topic")?;
        let event = bytes(env, &event, "event")?;
        Ok(conn.publish(&topic, event)?)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_subscribe(
    mut env: JNIEnv,
    _: JClass,
    handle: jlong,
    topic: JString,
    handler: JObject,
    event_threads: jint,
    event_memory: jlong,
) {
    entry(&mut env, (), |env| {
        // SAFETY: see `borrow`.
        let conn = &unsafe { borrow::<JConn>(handle) }?.conn;
        let topic = string(env, &topic, "topic")?;
        if handler.is_null() {
            return Err(invalid("the topic handler must not be null"));
        }
        let handler = JavaTopic::new(JavaRef::new(env.new_global_ref(&handler)?));
        let limits = TopicLimits {
            event_threads: size(event_threads.into()),
            event_memory: size(event_memory),
        };
        Ok(conn.subscribe_arc(&topic, Arc::new(handler), limits)?)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_unsubscribe(mut env: JNIEnv, _: JClass, handle: jlong, topic: JString) {
    entry(&mut env, (), |env| {
        // SAFETY: see `borrow`.
        let conn = &unsafe { borrow::<JConn>(handle) }?.conn;
        let topic = string(env, &topic, "topic")?;
        Ok(conn.unsubscribe(&topic)?)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_tunnel(
    mut env: JNIEnv,
    _: JClass,
    handle: jlong,
    cluster: JString,
    timeout_nanos: jlong,
) -> jlong {
    entry(&mut env, 0, |env| {
        // SAFETY: see `borrow`.
        let conn = &unsafe { borrow::<JConn>(handle) }?.conn;
        let cluster = string(env, &cluster, "cluster")?;
        let timeout = timeout(timeout_nanos).unwrap_or(Duration::ZERO);
        let tunnel = wait(env, conn.tunnel_async(&cluster, timeout))??;
        Ok(JTunnel::into_handle(Arc::new(tunnel)))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_connectionClose(mut env: JNIEnv, _: JClass, handle: jlong) {
    entry(&mut env, (), |_| {
        // SAFETY: see `borrow`.
        let conn = &unsafe { borrow::<JConn>(handle) }?.conn;
        Ok(conn.close()?)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_connectionIsOpen(mut env: JNIEnv, _: JClass, handle: jlong) -> jboolean {
    entry(&mut env, JNI_FALSE, |_| {
        // SAFETY: see `borrow`.
        let conn = &unsafe { borrow::<JConn>(handle) }?.conn;
        Ok(if conn.is_open() { JNI_TRUE } else { JNI_FALSE })
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_connectionId(mut env: JNIEnv, _: JClass, handle: jlong) -> jlong {
    entry(&mut env, 0, |_| {
        // SAFETY: see `borrow`.
        let conn = &unsafe { borrow::<JConn>(handle) }?.conn;
        Ok(conn.id() as jlong)
    })
}

/// Every error code of the core (for the test that checks each maps to a Java exception).
#[no_mangle]
pub extern "system" fn Java_io_iris_Native_errorCodes(mut env: JNIEnv, _: JClass) -> jobjectArray {
    entry(&mut env, std::ptr::null_mut(), |env| {
        let codes = core_codes();
        let array = env.new_object_array(codes.len() as i32, &cache().string_class, JObject::null())?;
        for (i, code) in codes.iter().enumerate() {
            let code = env.new_string(code)?;
            env.set_object_array_element(&array, i as i32, &code)?;
        }
        Ok(array.into_raw())
    })
}

/// Throws the core error of `code` through the same path as real failures (for that test).
#[no_mangle]
pub extern "system" fn Java_io_iris_Native_throwCoreError(mut env: JNIEnv, _: JClass, code: JString) {
    entry(&mut env, (), |env| {
        let code = string(env, &code, "code")?;
        Err(core_error(&code)
            .map(Failure::Iris)
            .unwrap_or_else(|| invalid(format!("no core error code {code}"))))
    })
}

/// Panics inside a native method (for the test that panics never crash the JVM).
#[no_mangle]
pub extern "system" fn Java_io_iris_Native_panicForTest(mut env: JNIEnv, _: JClass) {
    entry(&mut env, (), |_| -> NativeResult<()> {
        panic!("deliberate test panic")
    })
}
