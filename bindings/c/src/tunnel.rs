//! Tunnels: ordered, flow-controlled message streams.

use crate::status::{bytes_arg, guard, invalid, malloc_copy, out_arg, quietly};
use iris_client::{Error, Tunnel};
use std::ffi::c_int;
use std::time::Duration;

/// A tunnel (opaque): made by `iris_tunnel_open`, or handed to a service's `handle_tunnel`;
/// released with `iris_tunnel_free` either way.
#[allow(non_camel_case_types)]
pub struct iris_tunnel {
    tunnel: Tunnel,
}

impl iris_tunnel {
    pub(crate) fn into_raw(tunnel: Tunnel) -> *mut iris_tunnel {
        Box::into_raw(Box::new(iris_tunnel { tunnel }))
    }
}

fn tunnel_arg<'a>(tunnel: *const iris_tunnel) -> Result<&'a Tunnel, Error> {
    // SAFETY: a non-NULL pointer must come from libiris and not have been freed, as documented.
    unsafe { tunnel.as_ref() }
        .map(|t| &t.tunnel)
        .ok_or_else(|| invalid("the tunnel must not be NULL"))
}

/// 0 means "no deadline".
fn optional_timeout(ms: u64) -> Option<Duration> {
    (ms != 0).then(|| Duration::from_millis(ms))
}

/// Sends one message (at least 1 octet), waiting for flow-control credit as needed. `timeout_ms`
/// covers the whole message; 0 waits as long as it takes. The buffer is only read during the call.
/// May run concurrently with `iris_tunnel_recv` on another thread.
///
/// Errors: TIMEOUT (part of the message may have been sent; the receiver discards it), CLOSED,
/// INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn iris_tunnel_send(
    tunnel: *const iris_tunnel,
    message: *const u8,
    message_len: usize,
    timeout_ms: u64,
) -> c_int {
    guard("iris_tunnel_send", || {
        let tunnel = tunnel_arg(tunnel)?;
        let message = bytes_arg("message", message, message_len)?;
        tunnel.send(message.to_vec(), optional_timeout(timeout_ms))
    })
}

/// Receives the next message, waiting at most `timeout_ms` (0: forever). Messages that arrived
/// before the tunnel closed are still returned; after them, CLOSED.
///
/// On success `*message` points to a new buffer of `*message_len` octets that the caller releases
/// with `iris_free_bytes`; on failure it is NULL and `*message_len` 0.
#[no_mangle]
pub extern "C" fn iris_tunnel_recv(
    tunnel: *const iris_tunnel,
    timeout_ms: u64,
    message: *mut *mut u8,
    message_len: *mut usize,
) -> c_int {
    guard("iris_tunnel_recv", || {
        let message = out_arg("message", message)?;
        *message = std::ptr::null_mut();
        let message_len = out_arg("message_len", message_len)?;
        *message_len = 0;
        let tunnel = tunnel_arg(tunnel)?;
        let received = tunnel.recv(optional_timeout(timeout_ms))?;
        *message = malloc_copy(&received)?;
        *message_len = received.len();
        Ok(())
    })
}

/// Closes the tunnel (both ends) and waits briefly for the node to confirm; blocked sends and
/// receives on it return CLOSED. Closing twice is fine; any thread may close. The handle stays
/// allocated: release it with `iris_tunnel_free`.
#[no_mangle]
pub extern "C" fn iris_tunnel_close(tunnel: *const iris_tunnel) -> c_int {
    guard("iris_tunnel_close", || tunnel_arg(tunnel)?.close())
}

/// Releases a tunnel, closing it in the background if it is still open. NULL is ignored. No other
/// call may use `tunnel` during or after this one.
#[no_mangle]
pub extern "C" fn iris_tunnel_free(tunnel: *mut iris_tunnel) {
    quietly((), || {
        if !tunnel.is_null() {
            // SAFETY: `tunnel` came from libiris and is released exactly once, as documented.
            drop(unsafe { Box::from_raw(tunnel) });
        }
    })
}
