//! Clean interpreter exit with services still registered.
//!
//! The core calls handlers on threads Python does not know about. A thread that takes the GIL
//! while the interpreter finalizes is killed or hangs, so `iris` registers [`shutdown`] with
//! `atexit`: it stops new handler calls from entering Python, closes every live connection and
//! service gracefully (with the GIL released, so handlers already running can finish), and waits
//! briefly for the last handler calls to leave Python.

use iris_client::{Connection, Service};
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);
static IN_PYTHON: AtomicUsize = AtomicUsize::new(0);

/// How long exit waits for graceful closes, then for handler calls still inside Python.
const CLOSE_BUDGET: Duration = Duration::from_secs(3);
const HANDLER_BUDGET: Duration = Duration::from_secs(2);

enum Live {
    Conn(Weak<Connection>),
    Service(Weak<Service>),
}

static LIVE: Mutex<Vec<Live>> = Mutex::new(Vec::new());

fn track(entry: Live) {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    if live.len() >= 64 && live.len().is_power_of_two() {
        live.retain(|l| match l {
            Live::Conn(w) => w.strong_count() > 0,
            Live::Service(w) => w.strong_count() > 0,
        });
    }
    live.push(entry);
}

/// Remembers a connection the application owns, to close it at exit.
pub(crate) fn track_connection(conn: &Arc<Connection>) {
    track(Live::Conn(Arc::downgrade(conn)));
}

/// Remembers a service, to unregister it at exit.
pub(crate) fn track_service(service: &Arc<Service>) {
    track(Live::Service(Arc::downgrade(service)));
}

/// Runs `call` with the GIL unless the interpreter is exiting (then returns `None` without
/// touching Python). Counts the call so exit can wait for it to leave Python.
pub(crate) fn with_python<R>(call: impl FnOnce(Python<'_>) -> R) -> Option<R> {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            IN_PYTHON.fetch_sub(1, Ordering::SeqCst);
        }
    }
    IN_PYTHON.fetch_add(1, Ordering::SeqCst);
    let _leave = Leave;
    if SHUTTING_DOWN.load(Ordering::SeqCst) {
        return None;
    }
    keep_thread_state();
    Some(Python::with_gil(call))
}

/// A Python thread state kept for the life of one of the core's handler threads.
///
/// Taking the GIL on a thread Python does not know creates a thread state and deletes it again
/// on release, which costs more than a small handler call itself. The core's handler threads
/// (named `iris-*`) are long-lived, so each keeps one state (detached, without the GIL) until it
/// exits; then it is deleted, unless the interpreter is exiting (then it is left to Python).
struct KeptState {
    saved: *mut pyo3::ffi::PyThreadState,
    gil_state: pyo3::ffi::PyGILState_STATE,
}

impl Drop for KeptState {
    fn drop(&mut self) {
        if SHUTTING_DOWN.load(Ordering::SeqCst) || unsafe { pyo3::ffi::Py_IsInitialized() } == 0 {
            return;
        }
        // SAFETY: `saved` is this thread's own state, detached by `keep_thread_state`; restoring
        // it and releasing the matching PyGILState_Ensure deletes it.
        unsafe {
            pyo3::ffi::PyEval_RestoreThread(self.saved);
            pyo3::ffi::PyGILState_Release(self.gil_state);
        }
    }
}

thread_local! {
    static KEPT: std::cell::RefCell<Option<KeptState>> = const { std::cell::RefCell::new(None) };
}

fn keep_thread_state() {
    let _ = KEPT.try_with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.is_some() || !std::thread::current().name().is_some_and(|n| n.starts_with("iris-")) {
            return;
        }
        // SAFETY: called without the GIL (handler threads never hold it between calls); Ensure
        // attaches a new state and takes the GIL, SaveThread releases the GIL keeping the state.
        unsafe {
            let gil_state = pyo3::ffi::PyGILState_Ensure();
            let saved = pyo3::ffi::PyEval_SaveThread();
            *kept = Some(KeptState { saved, gil_state });
        }
    });
}

/// Called by `atexit`: closes everything still open and keeps handlers out of the finalizing
/// interpreter. Safe to call more than once.
#[pyfunction]
pub(crate) fn shutdown(py: Python<'_>) {
    SHUTTING_DOWN.store(true, Ordering::SeqCst);
    let live = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|e| e.into_inner()));
    py.allow_threads(move || {
        if let Ok(rt) = iris_client::runtime_handle() {
            let tasks: Vec<_> = live
                .into_iter()
                .filter_map(|entry| match entry {
                    Live::Conn(w) => w.upgrade().map(|c| rt.spawn(async move { c.close_async().await })),
                    Live::Service(w) => w.upgrade().map(|s| rt.spawn(async move { s.unregister_async().await })),
                })
                .collect();
            rt.block_on(async move {
                let _ = tokio::time::timeout(CLOSE_BUDGET, async move {
                    for task in tasks {
                        let _ = task.await;
                    }
                })
                .await;
            });
        }
        let deadline = Instant::now() + HANDLER_BUDGET;
        while IN_PYTHON.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}
