//! Service registration: a connection that is a member of a cluster.

use crate::connection::iris_connection;
use crate::handlers::{iris_service_handler, ServiceAdapter};
use crate::limits::iris_service_limits;
use crate::status::{guard, invalid, name_arg, out_arg, quietly};
use iris_client::{Error, Service};
use std::ffi::{c_char, c_int};
use std::sync::Arc;

/// A registered member of a cluster (opaque): made by `iris_register`, released with
/// `iris_service_free`.
#[allow(non_camel_case_types)]
pub struct iris_service {
    service: Service,
    connection: iris_connection,
}

fn service_arg<'a>(service: *const iris_service) -> Result<&'a iris_service, Error> {
    // SAFETY: a non-NULL pointer must come from libiris and not have been freed, as documented.
    unsafe { service.as_ref() }.ok_or_else(|| invalid("the service must not be NULL"))
}

/// Registers a member of `cluster` at the node on `port` with the callbacks in `*handler` (copied)
/// and `*limits` (NULL, or fields left at 0, take the defaults).
///
/// `handler->init` runs on the calling thread before this returns and before any other callback.
/// On success `*out` is a new service the caller releases with `iris_service_free`; on failure
/// NULL. Unless `handler` is NULL, `handler->drop` runs exactly once, also when this fails.
///
/// Errors: IO (no node on that port), INVALID_ARGUMENT (bad arguments, or `init` returned
/// non-zero), PROTOCOL, TIMEOUT.
#[no_mangle]
pub extern "C" fn iris_register(
    port: u16,
    cluster: *const c_char,
    handler: *const iris_service_handler,
    limits: *const iris_service_limits,
    out: *mut *mut iris_service,
) -> c_int {
    guard("iris_register", || {
        // SAFETY: a non-NULL handler must point to a valid struct, as documented.
        let handler = unsafe { handler.as_ref() }.ok_or_else(|| invalid("the service handler must not be NULL"))?;
        // Take ownership of the context first, so `drop` runs on every path from here on.
        let adapter = Arc::new(ServiceAdapter::new(handler));
        let out = out_arg("service", out)?;
        *out = std::ptr::null_mut();
        let cluster = name_arg("cluster", cluster)?;
        // SAFETY: a non-NULL limits pointer must point to a valid struct, as documented.
        let limits = unsafe { limits.as_ref() }.map(|l| l.to_core()).unwrap_or_default();
        crate::signals::prepare_runtime()?;
        // `adapter` stays alive across the call, so a failure drops the last reference here,
        // outside the core's runtime, and the C `drop` runs before this returns.
        let service = iris_client::register(port, cluster, adapter.clone(), limits)?;
        let connection = iris_connection {
            conn: service.connection().clone(),
        };
        *out = Box::into_raw(Box::new(iris_service { service, connection }));
        Ok(())
    })
}

/// Leaves the cluster gracefully: the node stops routing to this member first, requests already
/// delivered are answered, then the connection closes (waiting up to ~10 s for the node).
/// Unregistering twice is fine. The handle stays allocated: release it with `iris_service_free`.
#[no_mangle]
pub extern "C" fn iris_service_unregister(service: *const iris_service) -> c_int {
    guard("iris_service_unregister", || service_arg(service)?.service.unregister())
}

/// The service's own connection, usable as a client (requests, publish, subscribe, ...). Borrowed:
/// valid until `iris_service_free`; never free it (closing it unregisters the service). NULL if
/// `service` is NULL.
#[no_mangle]
pub extern "C" fn iris_service_connection(service: *const iris_service) -> *const iris_connection {
    quietly(std::ptr::null(), || {
        service_arg(service)
            .map(|s| &s.connection as *const _)
            .unwrap_or(std::ptr::null())
    })
}

/// Releases a service, unregistering it in the background if it still is registered (the
/// handler's `drop` then runs later, on a libiris thread). NULL is ignored. No other call may use
/// `service` (or its connection) during or after this one.
#[no_mangle]
pub extern "C" fn iris_service_free(service: *mut iris_service) {
    quietly((), || {
        if !service.is_null() {
            // SAFETY: `service` came from `iris_register` and is released exactly once.
            drop(unsafe { Box::from_raw(service) });
        }
    })
}
