//! Maps the core's errors onto the exception classes of `iris._errors` (defined in Python so they
//! can inherit from both `iris.IrisError` and the matching builtin).

use iris_client::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyModule;

static ERRORS: GILOnceCell<Py<PyModule>> = GILOnceCell::new();

/// The exception class (in `iris._errors`) of each error kind.
pub(crate) fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Timeout => "TimeoutError",
        ErrorKind::Closed => "ClosedError",
        ErrorKind::Remote => "RemoteError",
        ErrorKind::InvalidArgument => "InvalidArgumentError",
        ErrorKind::Protocol => "ProtocolError",
        ErrorKind::Io => "ConnectionError",
        // A kind added to the core later still raises the base class, with its code.
        _ => "IrisError",
    }
}

fn build<'py>(py: Python<'py>, err: &Error) -> PyResult<Bound<'py, PyAny>> {
    let module = ERRORS.get_or_try_init(py, || py.import("iris._errors").map(Bound::unbind))?;
    let class = module.bind(py).getattr(class_name(err.kind()))?;
    let value = class.call1((err.message(),))?;
    value.setattr("code", err.kind().code())?;
    Ok(value)
}

/// The exception instance for `err`.
pub(crate) fn error_value<'py>(py: Python<'py>, err: &Error) -> Bound<'py, PyAny> {
    match build(py, err) {
        Ok(value) => value,
        Err(failed) => failed.into_value(py).into_bound(py).into_any(),
    }
}

/// The Python exception to raise for `err`.
pub(crate) fn to_pyerr(py: Python<'_>, err: &Error) -> PyErr {
    PyErr::from_value(error_value(py, err))
}

/// Raises INVALID_ARGUMENT (a `ValueError`) with `message`.
pub(crate) fn invalid(py: Python<'_>, message: impl Into<String>) -> PyErr {
    to_pyerr(py, &Error::new(ErrorKind::InvalidArgument, message))
}

/// `(code, number, class name)` of every error kind of the core (for the exhaustive mapping test).
#[pyfunction]
pub(crate) fn error_kinds() -> Vec<(&'static str, i32, &'static str)> {
    ErrorKind::ALL
        .iter()
        .map(|k| (k.code(), k.number(), class_name(*k)))
        .collect()
}

/// The exception the binding raises for an error of kind `code` with `message`.
#[pyfunction]
pub(crate) fn make_error<'py>(py: Python<'py>, code: &str, message: &str) -> PyResult<Bound<'py, PyAny>> {
    let kind = ErrorKind::ALL
        .into_iter()
        .find(|k| k.code() == code)
        .ok_or_else(|| invalid(py, format!("unknown error code {code:?}")))?;
    Ok(error_value(py, &Error::new(kind, message)))
}
