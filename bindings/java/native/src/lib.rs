//! JNI glue of the Iris Java binding (`io.iris`).
//!
//! This crate only converts arguments between Java and the `iris-client` core, adapts Java handler
//! objects into the core's handler traits, and maps the core's errors onto Java exceptions. Every
//! policy (limits, expiry, validation, timeouts) lives in the core.
//!
//! Native objects are handed to Java as `jlong` handles: a `Box` the Java object owns and frees
//! exactly once, from a `java.lang.ref.Cleaner` once the Java object is unreachable (so no call can
//! still be using it). Closing is a separate, idempotent operation.
//!
//! Threads: the core calls handlers on its own dispatcher threads; each is attached to the JVM once,
//! as a daemon (so open services never keep the JVM alive), and detached when it exits.

mod callbacks;
mod connection;
mod env;
mod errors;
mod service;
mod tunnel;

use jni::sys::{jint, JNI_ERR, JNI_VERSION_1_8};
use jni::JavaVM;
use std::ffi::c_void;

/// Caches the VM, classes and method ids when the library is loaded, on the thread whose class
/// loader can see the `io.iris` classes (native-attached threads later cannot look them up).
#[no_mangle]
pub extern "system" fn JNI_OnLoad(vm: JavaVM, _reserved: *mut c_void) -> jint {
    let loaded = std::panic::catch_unwind(move || env::init(vm));
    match loaded {
        Ok(Ok(())) => JNI_VERSION_1_8,
        _ => JNI_ERR,
    }
}
