//! Keeps SIGPIPE from killing the host program.
//!
//! A C program starts with SIGPIPE at its default action (terminate), unlike a Rust program. Two
//! things keep libiris from ever raising it, without touching the host's signal dispositions:
//! - the core writes to its sockets with `send(..., MSG_NOSIGNAL)` (Rust's standard library does so
//!   on Linux), so a write to a socket the node reset returns `EPIPE` instead;
//! - as a second line of defence, libiris creates the core's I/O runtime from a helper thread that
//!   blocks SIGPIPE, so the I/O threads (which inherit that mask, as do the handler threads they
//!   start) could never be killed by one even if a write path lacked `MSG_NOSIGNAL`.

use iris_client::Error;
use std::sync::atomic::{AtomicU32, Ordering};

/// The process id for which the runtime has been prepared (a fork()ed child prepares its own).
static PREPARED_FOR: AtomicU32 = AtomicU32::new(0);

/// Makes sure the core's runtime exists and was started with SIGPIPE blocked in its threads.
/// Called before every operation that may start the runtime (connect, register).
pub(crate) fn prepare_runtime() -> Result<(), Error> {
    crate::logging::init_from_env();
    let pid = std::process::id();
    if PREPARED_FOR.load(Ordering::Acquire) == pid {
        return Ok(());
    }
    let helper = std::thread::Builder::new().name("iris-init".into());
    // The helper thread inherits the mask in force when it is created, so block SIGPIPE around the
    // spawn and restore the caller's mask right after.
    let restore = block_sigpipe();
    let spawned = helper.spawn(|| iris_client::runtime_handle().map(|_| ()));
    restore_mask(restore);
    let started = spawned
        .map_err(|e| Error::new(iris_client::ErrorKind::Io, format!("cannot start a thread: {e}")))?
        .join()
        .map_err(|_| Error::new(iris_client::ErrorKind::Io, "starting the I/O runtime panicked"))?;
    started?;
    PREPARED_FOR.store(pid, Ordering::Release);
    Ok(())
}

/// Blocks SIGPIPE on the calling thread and returns the previous mask.
fn block_sigpipe() -> libc::sigset_t {
    // SAFETY: plain signal-mask manipulation of the current thread with valid, initialised sets.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        old
    }
}

fn restore_mask(old: libc::sigset_t) {
    // SAFETY: `old` came from pthread_sigmask.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}
