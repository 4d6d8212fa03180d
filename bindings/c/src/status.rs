//! Status codes, the thread-local last error, and the guard every exported function runs in.

use iris_client::{Error, ErrorKind};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What an iris function returns: `IRIS_OK` (0) or a negative error code. The error codes are the
/// negated numbers of the core's error kinds, so they never change meaning.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum iris_status {
    /// Success.
    IRIS_OK = 0,
    /// The deadline passed: no reply, no tunnel, no credit or no message in time. A request to a
    /// cluster without members ends this way too.
    IRIS_ERR_TIMEOUT = -1,
    /// The connection, service or tunnel is closed (by the application, by the node, or because
    /// the object belongs to the parent of a fork()ed process).
    IRIS_ERR_CLOSED = -2,
    /// The remote request handler failed; `iris_last_error_message()` is its fault text, verbatim.
    IRIS_ERR_REMOTE = -3,
    /// An argument was NULL, not UTF-8, empty where it must not be, a timeout of 0 ms where one is
    /// required, a duplicate subscription, ... Nothing was sent.
    IRIS_ERR_INVALID_ARGUMENT = -4,
    /// The node broke the relay protocol or refused the handshake.
    IRIS_ERR_PROTOCOL = -5,
    /// The socket failed (node not running, connection reset, ...).
    IRIS_ERR_IO = -6,
    /// A bug inside libiris was caught at the API boundary (a Rust panic); the message says where.
    IRIS_ERR_INTERNAL = -100,
}

/// The status code of an error of the core: the negated kind number.
pub(crate) fn status_of(kind: ErrorKind) -> c_int {
    -kind.number()
}

thread_local! {
    static LAST: RefCell<(c_int, CString)> = RefCell::new((0, CString::default()));
}

fn set_last(code: c_int, message: &str) {
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST.with(|last| *last.borrow_mut() = (code, message));
}

/// Records `err` as this thread's last error and returns its status code.
pub(crate) fn fail(err: &Error) -> c_int {
    let code = status_of(err.kind());
    set_last(code, err.message());
    code
}

/// An INVALID_ARGUMENT error.
pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

/// Runs the body of an exported function: records success or the error as this thread's last
/// error, and turns a panic into `IRIS_ERR_INTERNAL` instead of letting it cross the C ABI.
pub(crate) fn guard(name: &str, body: impl FnOnce() -> Result<(), Error>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            set_last(0, "");
            0
        }
        Ok(Err(e)) => fail(&e),
        Err(panic) => {
            let code = iris_status::IRIS_ERR_INTERNAL as c_int;
            set_last(code, &format!("internal error in {name}: {}", panic_text(&panic)));
            code
        }
    }
}

/// Runs `body`, swallowing a panic (for functions that return no status, such as the `free`s).
pub(crate) fn quietly<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

pub(crate) fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    iris_client::panic_message(panic)
}

/// Reads a NUL-terminated UTF-8 name argument.
pub(crate) fn name_arg<'a>(what: &str, ptr: *const c_char) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(invalid(format!("the {what} must not be NULL")));
    }
    // SAFETY: the caller promises a NUL-terminated string that outlives the call.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| invalid(format!("the {what} is not valid UTF-8")))
}

/// Reads a `(pointer, length)` byte argument; NULL is accepted only with length 0.
pub(crate) fn bytes_arg<'a>(what: &str, ptr: *const u8, len: usize) -> Result<&'a [u8], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(invalid(format!("the {what} pointer is NULL but its length is {len}")));
    }
    // SAFETY: the caller promises `len` readable octets at `ptr` for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Checks an out-parameter pointer.
pub(crate) fn out_arg<T>(what: &str, ptr: *mut T) -> Result<&'static mut T, Error> {
    // SAFETY: a non-NULL out pointer must be writable, as the header states.
    unsafe { ptr.as_mut() }.ok_or_else(|| invalid(format!("the {what} out-pointer must not be NULL")))
}

/// Copies `data` into a buffer from `malloc` (never NULL, even for 0 octets) that the caller
/// releases with `iris_free_bytes` (or `free`).
pub(crate) fn malloc_copy(data: &[u8]) -> Result<*mut u8, Error> {
    // SAFETY: plain allocation; a NULL result is handled below.
    let ptr = unsafe { libc::malloc(data.len().max(1)) } as *mut u8;
    if ptr.is_null() {
        return Err(Error::new(
            ErrorKind::Io,
            format!("out of memory for {} octets", data.len()),
        ));
    }
    // SAFETY: `ptr` holds at least `data.len()` writable octets and does not overlap `data`.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), ptr, data.len()) };
    Ok(ptr)
}

/// The human-readable message of the last status-returning iris call on the calling thread, or ""
/// if that call succeeded. For `IRIS_ERR_REMOTE` it is the service's fault text, verbatim.
///
/// Ownership: the string belongs to libiris and stays valid until the next iris call on the same
/// thread; copy it to keep it. Never NULL.
#[no_mangle]
pub extern "C" fn iris_last_error_message() -> *const c_char {
    quietly(c"internal error".as_ptr(), || {
        LAST.with(|last| last.borrow().1.as_ptr())
    })
}

/// The status code the last status-returning iris call on the calling thread returned.
#[no_mangle]
pub extern "C" fn iris_last_error_code() -> c_int {
    quietly(iris_status::IRIS_ERR_INTERNAL as c_int, || {
        LAST.with(|last| last.borrow().0)
    })
}

/// The stable name of a status code: "OK", "TIMEOUT", "CLOSED", "REMOTE", "INVALID_ARGUMENT",
/// "PROTOCOL", "IO", "INTERNAL", or "UNKNOWN" for anything else. A static string; never NULL.
#[no_mangle]
pub extern "C" fn iris_status_name(status: c_int) -> *const c_char {
    quietly(c"UNKNOWN".as_ptr(), || {
        if status == 0 {
            return c"OK".as_ptr();
        }
        if status == iris_status::IRIS_ERR_INTERNAL as c_int {
            return c"INTERNAL".as_ptr();
        }
        match ErrorKind::ALL.iter().find(|k| status_of(**k) == status) {
            Some(kind) => kind_name(*kind).as_ptr(),
            None => c"UNKNOWN".as_ptr(),
        }
    })
}

/// The kind's stable code as a static C string.
fn kind_name(kind: ErrorKind) -> &'static CStr {
    match kind.code() {
        "TIMEOUT" => c"TIMEOUT",
        "CLOSED" => c"CLOSED",
        "REMOTE" => c"REMOTE",
        "INVALID_ARGUMENT" => c"INVALID_ARGUMENT",
        "PROTOCOL" => c"PROTOCOL",
        "IO" => c"IO",
        _ => c"UNKNOWN",
    }
}

#[cfg(test)]
/// The header enum value of a core error kind; a kind the header does not list yet has none.
pub(crate) fn header_status(kind: ErrorKind) -> Option<iris_status> {
    use iris_status::*;
    [
        IRIS_ERR_TIMEOUT,
        IRIS_ERR_CLOSED,
        IRIS_ERR_REMOTE,
        IRIS_ERR_INVALID_ARGUMENT,
        IRIS_ERR_PROTOCOL,
        IRIS_ERR_IO,
    ]
    .into_iter()
    .find(|s| *s as c_int == status_of(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_has_a_distinct_header_status_and_name() {
        let mut seen = std::collections::HashSet::new();
        for kind in ErrorKind::ALL {
            let status = header_status(kind).unwrap_or_else(|| panic!("{kind:?} missing from iris_status"));
            assert!(seen.insert(status as c_int), "{kind:?} shares a status code");
            let name = unsafe { CStr::from_ptr(iris_status_name(status as c_int)) };
            assert_eq!(name.to_str().unwrap(), kind.code());
            let code = fail(&Error::new(kind, "m"));
            assert_eq!(code, status as c_int);
            assert_eq!(iris_last_error_code(), code);
        }
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn panics_become_internal_errors() {
        let code = guard("test", || panic!("boom"));
        assert_eq!(code, iris_status::IRIS_ERR_INTERNAL as c_int);
        let message = unsafe { CStr::from_ptr(iris_last_error_message()) }
            .to_str()
            .unwrap()
            .to_string();
        assert!(message.contains("boom"), "{message}");
        assert_eq!(guard("test", || Ok(())), 0);
        assert_eq!(unsafe { CStr::from_ptr(iris_last_error_message()) }.to_bytes(), b"");
    }
}
