//! Plain connections: connect/close, request, broadcast, publish, subscribe, tunnels.

use crate::handlers::{iris_topic_handler, TopicAdapter};
use crate::limits::iris_topic_limits;
use crate::status::{bytes_arg, guard, invalid, malloc_copy, name_arg, out_arg, quietly};
use crate::tunnel::iris_tunnel;
use iris_client::{Connection, Error};
use std::ffi::{c_char, c_int};
use std::sync::Arc;
use std::time::Duration;

/// A connection to the local Iris node (opaque). Made by `iris_connect`, released with
/// `iris_connection_free`; the connection of a service is borrowed from it (see
/// `iris_service_connection`).
#[allow(non_camel_case_types)]
pub struct iris_connection {
    pub(crate) conn: Connection,
}

/// Turns a connection pointer argument into a reference.
pub(crate) fn conn_arg<'a>(conn: *const iris_connection) -> Result<&'a Connection, Error> {
    // SAFETY: a non-NULL pointer must come from libiris and not have been freed, as documented.
    unsafe { conn.as_ref() }
        .map(|c| &c.conn)
        .ok_or_else(|| invalid("the connection must not be NULL"))
}

pub(crate) fn millis(what: &str, ms: u64) -> Result<Duration, Error> {
    if ms == 0 {
        return Err(invalid(format!("the {what} must be at least 1 ms, got 0")));
    }
    Ok(Duration::from_millis(ms))
}

/// Connects to the node listening on `port` of this host (127.0.0.1, else ::1) as a plain
/// client. On success `*out` is a new connection the caller releases with `iris_connection_free`;
/// on failure `*out` is set to NULL.
///
/// Errors: IO (no node on that port), PROTOCOL (handshake refused), TIMEOUT (no handshake answer).
#[no_mangle]
pub extern "C" fn iris_connect(port: u16, out: *mut *mut iris_connection) -> c_int {
    guard("iris_connect", || {
        let out = out_arg("connection", out)?;
        *out = std::ptr::null_mut();
        crate::signals::prepare_runtime()?;
        let conn = iris_client::connect(port)?;
        *out = Box::into_raw(Box::new(iris_connection { conn }));
        Ok(())
    })
}

/// Closes the connection gracefully: subscriptions end, blocked calls on it (requests, tunnel
/// construction, tunnel send/recv) return `IRIS_ERR_CLOSED`, and the call waits (up to ~10 s) for
/// the node to confirm. Closing twice is fine. May be called from any thread, including one
/// blocked elsewhere on this connection's behalf and from inside a handler (there it does not
/// wait). The handle stays allocated: release it with `iris_connection_free` afterwards.
#[no_mangle]
pub extern "C" fn iris_connection_close(conn: *const iris_connection) -> c_int {
    guard("iris_connection_close", || conn_arg(conn)?.close())
}

/// Releases a connection made by `iris_connect`, closing it in the background if it is still
/// open. NULL is ignored. No other call may use `conn` during or after this one.
#[no_mangle]
pub extern "C" fn iris_connection_free(conn: *mut iris_connection) {
    quietly((), || {
        if !conn.is_null() {
            // SAFETY: `conn` came from `iris_connect` and is released exactly once, as documented.
            drop(unsafe { Box::from_raw(conn) });
        }
    })
}

/// True (1) while the connection is open, false (0) once it is closing or closed (or NULL).
#[no_mangle]
pub extern "C" fn iris_connection_is_open(conn: *const iris_connection) -> bool {
    quietly(false, || conn_arg(conn).map(|c| c.is_open()).unwrap_or(false))
}

/// A process-unique id of the connection, as used in libiris's log fields (0 for NULL).
#[no_mangle]
pub extern "C" fn iris_connection_id(conn: *const iris_connection) -> u64 {
    quietly(0, || conn_arg(conn).map(|c| c.id()).unwrap_or(0))
}

/// Sends `request` (`request_len` octets, at least 1) to one member of `cluster` and waits at most
/// `timeout_ms` (at least 1) for its reply.
///
/// On success `*reply` points to a new buffer of `*reply_len` octets (never NULL, even for an empty
/// reply) that the caller releases with `iris_free_bytes`. On failure `*reply` is NULL and
/// `*reply_len` 0. The request buffer is only read during the call.
///
/// Errors: TIMEOUT (no reply in time, or no member in the cluster), REMOTE (the service's fault,
/// verbatim in `iris_last_error_message()`), CLOSED, INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn iris_request(
    conn: *const iris_connection,
    cluster: *const c_char,
    request: *const u8,
    request_len: usize,
    timeout_ms: u64,
    reply: *mut *mut u8,
    reply_len: *mut usize,
) -> c_int {
    guard("iris_request", || {
        let reply = out_arg("reply", reply)?;
        *reply = std::ptr::null_mut();
        let reply_len = out_arg("reply_len", reply_len)?;
        *reply_len = 0;
        let conn = conn_arg(conn)?;
        let cluster = name_arg("cluster", cluster)?;
        let request = bytes_arg("request", request, request_len)?;
        let timeout = millis("timeout", timeout_ms)?;
        let answer = conn.request(cluster, request.to_vec(), timeout)?;
        *reply = malloc_copy(&answer)?;
        *reply_len = answer.len();
        Ok(())
    })
}

/// Releases a buffer libiris returned (a reply or a tunnel message). NULL is ignored. The buffers
/// come from `malloc`, so `free` works too.
#[no_mangle]
pub extern "C" fn iris_free_bytes(data: *mut u8) {
    // SAFETY: `data` came from libiris's malloc and is released once, as documented.
    unsafe { libc::free(data.cast()) }
}

/// Sends `message` (at least 1 octet) to every member of `cluster`, best effort, no reply.
/// The buffer is only read during the call.
#[no_mangle]
pub extern "C" fn iris_broadcast(
    conn: *const iris_connection,
    cluster: *const c_char,
    message: *const u8,
    message_len: usize,
) -> c_int {
    guard("iris_broadcast", || {
        let conn = conn_arg(conn)?;
        let cluster = name_arg("cluster", cluster)?;
        let message = bytes_arg("message", message, message_len)?;
        conn.broadcast(cluster, message.to_vec())
    })
}

/// Publishes `event` (at least 1 octet) to every subscriber of `topic`, best effort.
/// The buffer is only read during the call.
#[no_mangle]
pub extern "C" fn iris_publish(
    conn: *const iris_connection,
    topic: *const c_char,
    event: *const u8,
    event_len: usize,
) -> c_int {
    guard("iris_publish", || {
        let conn = conn_arg(conn)?;
        let topic = name_arg("topic", topic)?;
        let event = bytes_arg("event", event, event_len)?;
        conn.publish(topic, event.to_vec())
    })
}

/// Subscribes to `topic`: each event runs `handler->handle_event` on an iris handler thread,
/// at most `limits->event_threads` at once (NULL limits, or 0 fields, take the defaults).
///
/// `*handler` is copied; its `drop(context)` runs exactly once: after `iris_unsubscribe` or the
/// connection's close, once every running `handle_event` has returned, or before this function
/// returns if it fails. Subscribing twice to one topic is INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn iris_subscribe(
    conn: *const iris_connection,
    topic: *const c_char,
    handler: *const iris_topic_handler,
    limits: *const iris_topic_limits,
) -> c_int {
    guard("iris_subscribe", || {
        // SAFETY: a non-NULL handler must point to a valid struct, as documented.
        let handler = unsafe { handler.as_ref() }.ok_or_else(|| invalid("the topic handler must not be NULL"))?;
        // Take ownership of the context first, so `drop` runs on every path from here on.
        let adapter = Arc::new(TopicAdapter::new(handler));
        let conn = conn_arg(conn)?;
        let topic = name_arg("topic", topic)?;
        // SAFETY: a non-NULL limits pointer must point to a valid struct, as documented.
        let limits = unsafe { limits.as_ref() }.map(|l| l.to_core()).unwrap_or_default();
        // `adapter` stays alive across the call, so a failure drops the last reference here,
        // outside the core's runtime, and the C `drop` runs before this returns.
        conn.subscribe_arc(topic, adapter.clone(), limits)
    })
}

/// Ends the subscription to `topic`; events already queued for it are dropped. Unsubscribing from
/// a topic not subscribed is INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn iris_unsubscribe(conn: *const iris_connection, topic: *const c_char) -> c_int {
    guard("iris_unsubscribe", || {
        let conn = conn_arg(conn)?;
        let topic = name_arg("topic", topic)?;
        conn.unsubscribe(topic)
    })
}

/// Opens a tunnel to one member of `cluster`, waiting at most `timeout_ms` (at least 1) for it to
/// accept. On success `*out` is a new tunnel the caller releases with `iris_tunnel_free`; on
/// failure NULL.
///
/// Errors: TIMEOUT (no member accepted in time), CLOSED, INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn iris_tunnel_open(
    conn: *const iris_connection,
    cluster: *const c_char,
    timeout_ms: u64,
    out: *mut *mut iris_tunnel,
) -> c_int {
    guard("iris_tunnel_open", || {
        let out = out_arg("tunnel", out)?;
        *out = std::ptr::null_mut();
        let conn = conn_arg(conn)?;
        let cluster = name_arg("cluster", cluster)?;
        let timeout = millis("timeout", timeout_ms)?;
        let tunnel = conn.tunnel(cluster, timeout)?;
        *out = iris_tunnel::into_raw(tunnel);
        Ok(())
    })
}
