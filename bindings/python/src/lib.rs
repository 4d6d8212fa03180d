//! The native half of the Python binding: `iris._native`, a thin PyO3 layer over the Rust client
//! core (`iris_client`). Every policy (limits, expiry, validation, timeouts, error kinds) lives in
//! the core; this crate converts arguments, adapts Python handler objects into the core's handler
//! traits, maps errors, and bridges the core's async calls onto asyncio (see `aio`).
//!
//! Threading contract: the core calls handlers on its own OS threads; the adapters take the GIL
//! only while calling into Python. Every call that waits (on the node, on flow control, on a
//! graceful close) releases the GIL, and blocking calls poll Python's signal handlers so Ctrl-C
//! interrupts them.

mod aio;
mod connection;
mod convert;
mod errors;
mod handler;
mod logbridge;
mod service;
mod shutdown;
mod tunnel;
mod wait;

use pyo3::prelude::*;

/// The native module; the public API is re-exported by the pure-Python package `iris`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<connection::PyConnection>()?;
    m.add_class::<service::PyService>()?;
    m.add_class::<tunnel::PyTunnel>()?;
    m.add_class::<aio::Completions>()?;
    m.add_class::<aio::TaskHandle>()?;
    m.add_function(wrap_pyfunction!(connection::connect, m)?)?;
    m.add_function(wrap_pyfunction!(service::register, m)?)?;
    m.add_function(wrap_pyfunction!(aio::start_connect, m)?)?;
    m.add_function(wrap_pyfunction!(service::start_register, m)?)?;
    m.add_function(wrap_pyfunction!(shutdown::shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(errors::error_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(errors::make_error, m)?)?;
    m.add_function(wrap_pyfunction!(convert::default_threads, m)?)?;
    m.add("DEFAULT_MEMORY", iris_client::DEFAULT_MEMORY)?;
    logbridge::install();
    Ok(())
}
