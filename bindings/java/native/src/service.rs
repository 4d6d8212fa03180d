//! `io.iris.Native` methods of services.

use crate::callbacks::JavaService;
use crate::connection::{borrow, free, size, string, JConn};
use crate::env::JavaRef;
use crate::errors::{entry, invalid};
use iris_client::{Service, ServiceLimits};
use jni::objects::{JClass, JObject, JString};
use jni::sys::{jint, jlong};
use jni::JNIEnv;
use std::sync::Arc;

#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub extern "system" fn Java_io_iris_Native_register(
    mut env: JNIEnv,
    _: JClass,
    port: jint,
    cluster: JString,
    handler: JObject,
    broadcast_threads: jint,
    broadcast_memory: jlong,
    request_threads: jint,
    request_memory: jlong,
) -> jlong {
    entry(&mut env, 0, |env| {
        let port = u16::try_from(port).map_err(|_| invalid(format!("port {port} is out of range")))?;
        let cluster = string(env, &cluster, "cluster")?;
        if handler.is_null() {
            return Err(invalid("the service handler must not be null"));
        }
        let handler = Arc::new(JavaService::new(JavaRef::new(env.new_global_ref(&handler)?)));
        let limits = ServiceLimits {
            broadcast_threads: size(broadcast_threads.into()),
            broadcast_memory: size(broadcast_memory),
            request_threads: size(request_threads.into()),
            request_memory: size(request_memory),
        };
        let service = iris_client::register(port, &cluster, handler, limits)?;
        Ok(Box::into_raw(Box::new(service)) as jlong)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_serviceConnection(mut env: JNIEnv, _: JClass, handle: jlong) -> jlong {
    entry(&mut env, 0, |_| {
        // SAFETY: see `borrow`.
        let service = unsafe { borrow::<Service>(handle) }?;
        Ok(JConn::into_handle(service.connection().clone()))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_serviceClose(mut env: JNIEnv, _: JClass, handle: jlong) {
    entry(&mut env, (), |_| {
        // SAFETY: see `borrow`.
        Ok(unsafe { borrow::<Service>(handle) }?.unregister()?)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_iris_Native_serviceFree(mut env: JNIEnv, _: JClass, handle: jlong) {
    // SAFETY: called once, by the Service's Cleaner.
    entry(&mut env, (), |_| unsafe {
        free::<Service>(handle);
        Ok(())
    })
}
