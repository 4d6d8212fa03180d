//! The core's own Tokio runtime, which carries every connection's socket tasks, and the bridge
//! from the blocking API onto it.

use crate::error::{Error, Result};
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

struct Owned {
    generation: u32,
    runtime: Arc<tokio::runtime::Runtime>,
}

static RUNTIME: Mutex<Option<Owned>> = Mutex::new(None);

/// The runtime for this process. A fork()ed child gets a fresh one: the parent's worker threads do
/// not exist in the child, so the parent's runtime is leaked there, never used.
pub(crate) fn runtime() -> Result<Arc<tokio::runtime::Runtime>> {
    let generation = fork_generation();
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(owned) = slot.as_ref() {
        if owned.generation == generation {
            return Ok(owned.runtime.clone());
        }
        std::mem::forget(slot.take());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("iris-io")
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the I/O runtime", e))?;
    let runtime = Arc::new(runtime);
    *slot = Some(Owned {
        generation,
        runtime: runtime.clone(),
    });
    Ok(runtime)
}

/// Runs `future` to completion on the core's runtime, blocking the calling thread.
///
/// Refuses (instead of panicking) when called from inside an async runtime, where blocking would
/// stall other tasks: async code uses the `*_async` methods.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::invalid(
            "a blocking iris call was made from inside an async runtime; use the *_async method instead",
        ));
    }
    Ok(runtime()?.block_on(future))
}

/// Counts fork()s of this process that produced the current process (0 in the original one).
static FORK_GENERATION: AtomicU32 = AtomicU32::new(0);

extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// The fork generation objects record at creation; registers the fork hook on first use, so a
/// later check costs one atomic load instead of a getpid() system call.
pub(crate) fn fork_generation() -> u32 {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // SAFETY: registers a handler that only touches an atomic, which is async-signal-safe.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// Fails with CLOSED when an object made by the parent process is used in a fork()ed child.
pub(crate) fn check_fork(owner_generation: u32) -> Result<()> {
    if owner_generation == FORK_GENERATION.load(Ordering::Relaxed) {
        Ok(())
    } else {
        Err(Error::closed(
            "this iris object belongs to the parent process; connect again in the forked child",
        ))
    }
}

/// Runs `future` on the core's runtime from a blocking thread, calling `check` every `every` while
/// it waits; an error from `check` abandons the future and is returned as `Ok(Err(e))`.
///
/// Bindings use this so a blocked call stays interruptible (Python's Ctrl-C, Java's
/// `Thread.interrupt`). An abandoned request's late reply is discarded by the core.
pub fn block_on_checked<F: Future, E>(
    future: F,
    every: std::time::Duration,
    mut check: impl FnMut() -> std::result::Result<(), E>,
) -> Result<std::result::Result<F::Output, E>> {
    block_on(async {
        tokio::pin!(future);
        loop {
            match tokio::time::timeout(every, &mut future).await {
                Ok(output) => return Ok(output),
                Err(_) => check()?,
            }
        }
    })
}

/// A handle on the core's runtime, for bindings that need to spawn onto it (for example to drive
/// async calls from a foreign event loop).
pub fn runtime_handle() -> Result<tokio::runtime::Handle> {
    Ok(runtime()?.handle().clone())
}
