//! The one helper through which every blocking call waits: the GIL is released, and Python's
//! signal handlers run every `CHECK_EVERY` so Ctrl-C (KeyboardInterrupt) interrupts the wait.

use crate::errors::to_pyerr;
use pyo3::prelude::*;
use std::future::Future;
use std::time::Duration;

/// How often a blocked call lets Python check for signals.
const CHECK_EVERY: Duration = Duration::from_millis(50);

/// Runs `future` on the core's runtime without the GIL and returns its result as Python's.
pub(crate) fn wait<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    F: Future<Output = iris_client::Result<T>> + Send,
    T: Send,
{
    let outcome = py.allow_threads(move || {
        iris_client::block_on_checked(future, CHECK_EVERY, || Python::with_gil(|py| py.check_signals()))
    });
    match outcome {
        Err(e) | Ok(Ok(Err(e))) => Err(to_pyerr(py, &e)),
        Ok(Err(interrupted)) => Err(interrupted),
        Ok(Ok(Ok(value))) => Ok(value),
    }
}

/// Runs a blocking core call (one that is bounded by the core and safe on handler threads, such as
/// close) without the GIL.
pub(crate) fn blocking<T: Send>(py: Python<'_>, call: impl FnOnce() -> iris_client::Result<T> + Send) -> PyResult<T> {
    py.allow_threads(call).map_err(|e| to_pyerr(py, &e))
}
