//! The C callback structs and their adapters onto the core's handler traits.
//!
//! Each adapter owns the C `context` through a [`Context`], whose Rust `Drop` calls the C `drop`.
//! The core holds the adapter in an `Arc` and clones it into every queued or running handler
//! call, so the last clone (and with it the C `drop`) goes away only after every call has ended:
//! `drop` runs exactly once, after everything else.

use crate::connection::iris_connection;
use crate::status::{bytes_arg, guard, invalid, name_arg, status_of};
use crate::tunnel::iris_tunnel;
use iris_client::{Bytes, Connection, Error, ServiceHandler, TopicHandler, Tunnel};
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::OnceLock;

/// The callbacks of one service member. Every function pointer may be NULL (then the call is
/// skipped; a NULL `handle_request` answers every request with a fault, a NULL `handle_tunnel`
/// closes inbound tunnels). `context` is passed to every callback untouched.
///
/// Threads: callbacks run on libiris's own handler threads, never on the caller's thread except
/// `init`, and never on its I/O threads. `init` runs once, on the thread calling `iris_register`,
/// before any other callback. After it, `handle_request` calls run concurrently on up to
/// `request_threads` threads and `handle_broadcast` calls on up to `broadcast_threads` threads
/// (see `iris_service_limits`); each inbound tunnel gets a `handle_tunnel` call on a thread of its
/// own; `handle_drop` runs at most once. Hence `context` must be safe to use from several threads
/// at once. Callbacks may block and may call any iris function (a blocking call there holds one of
/// the handler threads).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy)]
pub struct iris_service_handler {
    /// Passed to every callback; owned by the handler until `drop` runs.
    pub context: *mut c_void,
    /// Runs once before anything else, with the service's own connection (usable as a client:
    /// requests, publish, ...). The connection stays valid until `drop` runs; never free it
    /// (closing it, also from a handler, unregisters the service). Return 0 to proceed; anything
    /// else aborts `iris_register` with INVALID_ARGUMENT.
    pub init: Option<unsafe extern "C" fn(context: *mut c_void, connection: *const iris_connection) -> c_int>,
    /// A request of `request_len` octets (readable only during the call). Answer through `reply`
    /// with `iris_reply_ok` (the reply octets) or `iris_reply_fault` (the fault text the caller
    /// receives as IRIS_ERR_REMOTE); both copy their argument, the last one called wins. `reply`
    /// is valid only during the call. Returning without either sends the fault "the request
    /// handler gave no reply".
    pub handle_request: Option<
        unsafe extern "C" fn(context: *mut c_void, request: *const u8, request_len: usize, reply: *mut iris_reply),
    >,
    /// A message broadcast to the cluster (readable only during the call).
    pub handle_broadcast: Option<unsafe extern "C" fn(context: *mut c_void, message: *const u8, message_len: usize)>,
    /// An inbound tunnel. Ownership passes to the handler: it must release `tunnel` with
    /// `iris_tunnel_free` exactly once (from any thread, at any time, also after returning).
    pub handle_tunnel: Option<unsafe extern "C" fn(context: *mut c_void, tunnel: *mut iris_tunnel)>,
    /// The node dropped this service (not a graceful unregister). `status` is the error code
    /// (usually IRIS_ERR_CLOSED) and `reason` the message, readable only during the call.
    pub handle_drop: Option<unsafe extern "C" fn(context: *mut c_void, status: c_int, reason: *const c_char)>,
    /// Runs exactly once, after every other callback has returned and none can start again: after
    /// the service is unregistered or dropped (once the last running callback ends), or before
    /// `iris_register` returns if it fails (then on the calling thread). Otherwise it runs on a
    /// libiris thread, never on its I/O threads, so it may block and call iris functions; it
    /// may run after `iris_service_unregister` has returned. Free `context` here.
    pub drop: Option<unsafe extern "C" fn(context: *mut c_void)>,
}

/// The callbacks of one topic subscription. `handle_event` may be NULL (events are ignored);
/// `drop` may be NULL.
///
/// Threads: `handle_event` runs on libiris's handler threads, concurrently on up to
/// `event_threads` threads (see `iris_topic_limits`), so `context` must be thread-safe.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy)]
pub struct iris_topic_handler {
    /// Passed to every callback; owned by the handler until `drop` runs.
    pub context: *mut c_void,
    /// An event published to the topic (readable only during the call).
    pub handle_event: Option<unsafe extern "C" fn(context: *mut c_void, event: *const u8, event_len: usize)>,
    /// Runs exactly once, after every `handle_event` call has returned and none can start again
    /// (after `iris_unsubscribe` or the connection's close), or before `iris_subscribe` returns if
    /// it fails (then on the calling thread). Otherwise on a libiris thread, never on its I/O
    /// threads, possibly after `iris_unsubscribe` has returned. Free `context` here.
    pub drop: Option<unsafe extern "C" fn(context: *mut c_void)>,
}

/// Where a request handler puts its answer (opaque; valid only during `handle_request`).
#[allow(non_camel_case_types)]
pub struct iris_reply {
    outcome: Option<Result<Bytes, String>>,
}

/// Sets the reply to a copy of `data` (`len` octets; NULL only with 0, an empty reply is allowed).
#[no_mangle]
pub extern "C" fn iris_reply_ok(reply: *mut iris_reply, data: *const u8, len: usize) -> c_int {
    guard("iris_reply_ok", || {
        // SAFETY: `reply` is the pointer handed to handle_request, used during that call.
        let reply = unsafe { reply.as_mut() }.ok_or_else(|| invalid("the reply must not be NULL"))?;
        reply.outcome = Some(Ok(Bytes::copy_from_slice(bytes_arg("reply data", data, len)?)));
        Ok(())
    })
}

/// Answers with a fault: the caller's `iris_request` returns IRIS_ERR_REMOTE with a copy of
/// `fault` (NUL-terminated UTF-8) as its message.
#[no_mangle]
pub extern "C" fn iris_reply_fault(reply: *mut iris_reply, fault: *const c_char) -> c_int {
    guard("iris_reply_fault", || {
        // SAFETY: `reply` is the pointer handed to handle_request, used during that call.
        let reply = unsafe { reply.as_mut() }.ok_or_else(|| invalid("the reply must not be NULL"))?;
        reply.outcome = Some(Err(name_arg("fault", fault)?.to_string()));
        Ok(())
    })
}

/// The C `context` plus its `drop`, called when this is dropped.
struct Context {
    ptr: *mut c_void,
    drop: Option<unsafe extern "C" fn(*mut c_void)>,
}

// SAFETY: the header requires contexts to be usable from any thread.
unsafe impl Send for Context {}
unsafe impl Sync for Context {}

#[derive(Clone, Copy)]
struct SendPtr(*mut c_void);
// SAFETY: as for Context.
unsafe impl Send for SendPtr {}

impl Drop for Context {
    fn drop(&mut self) {
        let Some(drop_fn) = self.drop else { return };
        let ptr = SendPtr(self.ptr);
        // Never run user code inside the core's async runtime (on its I/O threads a blocking call
        // would stall every connection, and inside its `block_on` iris calls are refused): hand
        // it to a thread of its own. `iris_register` and `iris_subscribe` hold the last reference
        // on their failure paths, so there `drop` runs on the caller's thread before returning.
        if tokio::runtime::Handle::try_current().is_ok() {
            let spawned = std::thread::Builder::new().name("iris-drop".into()).spawn(move || {
                let ptr = ptr;
                // SAFETY: the C drop function with the context it was registered with, once.
                unsafe { drop_fn(ptr.0) }
            });
            if spawned.is_ok() {
                return;
            }
        }
        // SAFETY: as above.
        unsafe { drop_fn(ptr.0) }
    }
}

/// Adapts an `iris_service_handler` to the core's `ServiceHandler`.
pub(crate) struct ServiceAdapter {
    callbacks: iris_service_handler,
    context: Context,
    /// The connection handed to `init`; declared after `context` so it outlives the C `drop`.
    init_connection: OnceLock<Box<iris_connection>>,
}

impl ServiceAdapter {
    pub(crate) fn new(handler: &iris_service_handler) -> Self {
        ServiceAdapter {
            callbacks: *handler,
            context: Context {
                ptr: handler.context,
                drop: handler.drop,
            },
            init_connection: OnceLock::new(),
        }
    }
}

// SAFETY: the function pointers are plain code pointers; the context is covered by Context.
unsafe impl Send for ServiceAdapter {}
unsafe impl Sync for ServiceAdapter {}

impl ServiceHandler for ServiceAdapter {
    fn init(&self, connection: &Connection) -> Result<(), String> {
        let conn = self.init_connection.get_or_init(|| {
            Box::new(iris_connection {
                conn: connection.clone(),
            })
        });
        let Some(init) = self.callbacks.init else { return Ok(()) };
        // SAFETY: the C callback with its context and a connection valid until `drop`.
        match unsafe { init(self.context.ptr, &**conn) } {
            0 => Ok(()),
            code => Err(format!("init returned {code}")),
        }
    }

    fn handle_broadcast(&self, message: Bytes) {
        if let Some(f) = self.callbacks.handle_broadcast {
            // SAFETY: the C callback with its context and a buffer valid during the call.
            unsafe { f(self.context.ptr, message.as_ptr(), message.len()) }
        }
    }

    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        let Some(f) = self.callbacks.handle_request else {
            return Err("this service does not handle requests".to_string());
        };
        let mut reply = iris_reply { outcome: None };
        // SAFETY: the C callback with its context, a buffer and a reply valid during the call.
        unsafe { f(self.context.ptr, request.as_ptr(), request.len(), &mut reply) };
        reply
            .outcome
            .unwrap_or_else(|| Err("the request handler gave no reply".to_string()))
    }

    fn handle_tunnel(&self, tunnel: Tunnel) {
        if let Some(f) = self.callbacks.handle_tunnel {
            // SAFETY: the C callback with its context; it takes ownership of the tunnel.
            unsafe { f(self.context.ptr, iris_tunnel::into_raw(tunnel)) }
        }
    }

    fn handle_drop(&self, reason: Error) {
        if let Some(f) = self.callbacks.handle_drop {
            let text = CString::new(reason.message().replace('\0', "\\0")).unwrap_or_default();
            // SAFETY: the C callback with its context and a string valid during the call.
            unsafe { f(self.context.ptr, status_of(reason.kind()), text.as_ptr()) }
        }
    }
}

/// Adapts an `iris_topic_handler` to the core's `TopicHandler`.
pub(crate) struct TopicAdapter {
    handle_event: Option<unsafe extern "C" fn(*mut c_void, *const u8, usize)>,
    context: Context,
}

impl TopicAdapter {
    pub(crate) fn new(handler: &iris_topic_handler) -> Self {
        TopicAdapter {
            handle_event: handler.handle_event,
            context: Context {
                ptr: handler.context,
                drop: handler.drop,
            },
        }
    }
}

impl TopicHandler for TopicAdapter {
    fn handle_event(&self, event: Bytes) {
        if let Some(f) = self.handle_event {
            // SAFETY: the C callback with its context and a buffer valid during the call.
            unsafe { f(self.context.ptr, event.as_ptr(), event.len()) }
        }
    }
}
