//! Argument conversion: payloads, timeouts, ports and limits.

use crate::errors::invalid;
use bytes::Bytes;
use iris_client::{ServiceLimits, TopicLimits};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView};
use std::time::Duration;

/// Copies a bytes-like argument (`bytes`, `bytearray`, `memoryview`) while the GIL is held.
pub(crate) fn payload(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Bytes> {
    if let Ok(b) = value.downcast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    if let Ok(b) = value.downcast::<PyByteArray>() {
        return Ok(Bytes::from(b.to_vec()));
    }
    if value.is_instance_of::<PyMemoryView>() {
        let copy = value.py().get_type::<PyBytes>().call1((value,))?;
        return Ok(Bytes::copy_from_slice(copy.downcast::<PyBytes>()?.as_bytes()));
    }
    Err(PyTypeError::new_err(format!(
        "the {what} must be bytes, bytearray or memoryview, not {}",
        value.get_type().name()?
    )))
}

/// A timeout in seconds; negative or NaN values are refused (the core refuses < 1 ms).
pub(crate) fn timeout(py: Python<'_>, seconds: f64) -> PyResult<Duration> {
    if seconds.is_nan() || seconds < 0.0 {
        return Err(invalid(
            py,
            format!("the timeout must be a non-negative number of seconds, got {seconds}"),
        ));
    }
    Ok(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
}

/// An optional timeout: `None` waits forever.
pub(crate) fn optional_timeout(py: Python<'_>, seconds: Option<f64>) -> PyResult<Option<Duration>> {
    seconds.map(|s| timeout(py, s)).transpose()
}

/// A TCP port number.
pub(crate) fn port(py: Python<'_>, value: i64) -> PyResult<u16> {
    u16::try_from(value)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| invalid(py, format!("the port must be in 1..=65535, got {value}")))
}

fn field(limits: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    let value = limits.getattr(name)?;
    if value.is_none() {
        return Ok(0);
    }
    let n: i64 = value.extract()?;
    usize::try_from(n).map_err(|_| invalid(limits.py(), format!("{name} must not be negative, got {n}")))
}

/// Reads an `iris.ServiceLimits` (or any object with its attributes); `None` = defaults.
pub(crate) fn service_limits(limits: Option<&Bound<'_, PyAny>>) -> PyResult<ServiceLimits> {
    let Some(l) = limits.filter(|l| !l.is_none()) else {
        return Ok(ServiceLimits::default());
    };
    Ok(ServiceLimits {
        broadcast_threads: field(l, "broadcast_threads")?,
        broadcast_memory: field(l, "broadcast_memory")?,
        request_threads: field(l, "request_threads")?,
        request_memory: field(l, "request_memory")?,
    })
}

/// Reads an `iris.TopicLimits` (or any object with its attributes); `None` = defaults.
pub(crate) fn topic_limits(limits: Option<&Bound<'_, PyAny>>) -> PyResult<TopicLimits> {
    let Some(l) = limits.filter(|l| !l.is_none()) else {
        return Ok(TopicLimits::default());
    };
    Ok(TopicLimits {
        event_threads: field(l, "event_threads")?,
        event_memory: field(l, "event_memory")?,
    })
}

/// The thread limit a field left at 0 takes: 4 x CPU count.
#[pyfunction]
pub(crate) fn default_threads() -> usize {
    iris_client::default_threads()
}
