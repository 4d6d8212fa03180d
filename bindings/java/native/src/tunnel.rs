//! `io.iris.Native` methods of tunnels.

use crate::connection::{borrow, bytes, free, timeout, to_java, wait};
use crate::errors::entry;
use iris_client::Tunnel;
use jni::objects::{JByteArray, JClass};
use jni::sys::{jbyteArray, jlong};
use jni::JNIEnv;
use std::sync::Arc;

/// The native side of an `io.iris.Tunnel`. Shared, because a service's tunnel thread closes the
/// tunnel when the Java handler returns while the Java object may still hold it.
pub(crate) struct JTunnel {
    pub tunnel: Arc<Tunnel>,
}

impl JTunnel {
    pub fn into_handle(tunnel: Arc<Tunnel>) -> jlong {
        Box::into_raw(Box::new(JTunnel { tunnel })) as jlong
    }
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_tunnelSend(
    mut env: JNIEnv,
    _: JClass,
    handle: jlong,
    message: JByteArray,
    timeout_nanos: jlong,
) {
    entry(&mut env, (), |env| {
        // SAFETY: see `borrow`.
        let tunnel = &unsafe { borrow::<JTunnel>(handle) }?.tunnel;
        let message = bytes(env, &message, "message")?;
        Ok(wait(env, tunnel.send_async(message, timeout(timeout_nanos)))??)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_tunnelReceive(
    mut env: JNIEnv,
    _: JClass,
    handle: jlong,
    timeout_nanos: jlong,
) -> jbyteArray {
    entry(&mut env, std::ptr::null_mut(), |env| {
        // SAFETY: see `borrow`.
        let tunnel = &unsafe { borrow::<JTunnel>(handle) }?.tunnel;
        let message = wait(env, tunnel.recv_async(timeout(timeout_nanos)))??;
        to_java(env, &message)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_tunnelClose(mut env: JNIEnv, _: JClass, handle: jlong) {
    entry(&mut env, (), |_| {
        // SAFETY: see `borrow`.
        let tunnel = &unsafe { borrow::<JTunnel>(handle) }?.tunnel;
        Ok(tunnel.close()?)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_tunnelId(mut env: JNIEnv, _: JClass, handle: jlong) -> jlong {
    entry(&mut env, 0, |_| {
        // SAFETY: see `borrow`.
        Ok(unsafe { borrow::<JTunnel>(handle) }?.tunnel.id() as jlong)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_tunnelFree(mut env: JNIEnv, _: JClass, handle: jlong) {
    // SAFETY: called once, by the Tunnel's Cleaner.
    entry(&mut env, (), |_| unsafe {
        free::<JTunnel>(handle);
        Ok(())
    })
}
