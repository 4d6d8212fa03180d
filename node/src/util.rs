//! Small helpers shared by the relay and the router.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Locks a mutex, ignoring poisoning: every critical section in this crate leaves its data
/// consistent before anything that could panic, so a poisoned lock still holds valid state and the
/// node keeps serving the other connections.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The instant `timeout_ms` from now, or `None` when that is too far away to represent (a client
/// may send any u64); such a deadline never fires.
pub(crate) fn deadline_after(timeout_ms: u64) -> Option<Instant> {
    Instant::now().checked_add(Duration::from_millis(timeout_ms))
}

/// The inverse of [`deadline_after`]: milliseconds left until `deadline`, at least 1 (a deadline
/// passed meanwhile still has to be sent as one); `u64::MAX` for none.
pub(crate) fn remaining_ms(deadline: Option<Instant>) -> u64 {
    deadline.map_or(u64::MAX, |d| {
        (d.saturating_duration_since(Instant::now()).as_millis() as u64).max(1)
    })
}
