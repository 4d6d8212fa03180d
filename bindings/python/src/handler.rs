//! Adapters from Python handler objects to the core's handler traits.
//!
//! The core calls these on its own handler threads; each call takes the GIL only while it runs
//! the Python side. The Python side is a small shim (`iris._handlers`) that picks the user's
//! method or the default, runs coroutines on an event loop, checks reply types and logs
//! exceptions of broadcast, event, tunnel and drop handlers through `logging.getLogger("iris")`.

use crate::connection::PyConnection;
use crate::errors::error_value;
use crate::shutdown::with_python;
use crate::tunnel::PyTunnel;
use bytes::Bytes;
use iris_client::{Connection, Error, ServiceHandler, TopicHandler, Tunnel};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::{Arc, Mutex};

/// Text of a Python exception, for a fault or a log line.
fn exception_text(py: Python<'_>, err: &PyErr) -> String {
    err.value(py).str().map(|s| s.to_string()).unwrap_or_default()
}

/// Reports an exception the shim itself let through (only `BaseException`s that are not
/// `Exception`s get here): Python's unraisable hook prints it.
fn report(py: Python<'_>, err: PyErr, shim: &Py<PyAny>) {
    err.write_unraisable(py, Some(shim.bind(py)));
}

/// A service member implemented in Python.
pub(crate) struct PyServiceHandler {
    shim: Py<PyAny>,
    /// The exception `init` raised, re-raised by `register` instead of the core's summary.
    pub(crate) init_error: Mutex<Option<PyErr>>,
}

impl PyServiceHandler {
    pub(crate) fn new(shim: Py<PyAny>) -> Arc<Self> {
        Arc::new(PyServiceHandler {
            shim,
            init_error: Mutex::new(None),
        })
    }

    pub(crate) fn take_init_error(&self) -> Option<PyErr> {
        self.init_error.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl ServiceHandler for PyServiceHandler {
    fn init(&self, connection: &Connection) -> Result<(), String> {
        let outcome = with_python(|py| {
            let conn = Py::new(py, PyConnection::borrowed(connection.clone()))?;
            self.shim.call_method1(py, intern!(py, "init"), (conn,)).map(drop)
        });
        match outcome {
            None => Err("the Python interpreter is exiting".into()),
            Some(Ok(())) => Ok(()),
            Some(Err(err)) => {
                let text = with_python(|py| exception_text(py, &err)).unwrap_or_default();
                *self.init_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(err);
                Err(text)
            }
        }
    }

    fn handle_broadcast(&self, message: Bytes) {
        with_python(|py| {
            if let Err(err) = self
                .shim
                .call_method1(py, intern!(py, "handle_broadcast"), (PyBytes::new(py, &message),))
            {
                report(py, err, &self.shim);
            }
        });
    }

    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        with_python(|py| {
            match self
                .shim
                .call_method1(py, intern!(py, "handle_request"), (PyBytes::new(py, &request),))
            {
                Ok(reply) => match reply.downcast_bound::<PyBytes>(py) {
                    Ok(bytes) => Ok(Bytes::copy_from_slice(bytes.as_bytes())),
                    Err(_) => Err("the request handler did not return bytes".to_string()),
                },
                Err(err) => Err(exception_text(py, &err)),
            }
        })
        .unwrap_or_else(|| Err("the service's Python interpreter is exiting".into()))
    }

    fn handle_tunnel(&self, tunnel: Tunnel) {
        with_python(|py| {
            let result = Py::new(py, PyTunnel::new(tunnel))
                .and_then(|t| self.shim.call_method1(py, intern!(py, "handle_tunnel"), (t,)));
            if let Err(err) = result {
                report(py, err, &self.shim);
            }
        });
    }

    fn handle_drop(&self, reason: Error) {
        with_python(|py| {
            if let Err(err) = self
                .shim
                .call_method1(py, intern!(py, "handle_drop"), (error_value(py, &reason),))
            {
                report(py, err, &self.shim);
            }
        });
    }
}

/// A topic subscription implemented in Python.
pub(crate) struct PyTopicHandler {
    pub(crate) shim: Py<PyAny>,
}

impl TopicHandler for PyTopicHandler {
    fn handle_event(&self, event: Bytes) {
        with_python(|py| {
            if let Err(err) = self
                .shim
                .call_method1(py, intern!(py, "handle_event"), (PyBytes::new(py, &event),))
            {
                report(py, err, &self.shim);
            }
        });
    }
}

/// Builds the Python shim for a service handler (`loop`: the event loop coroutines run on, and
/// the marker of an `iris.aio` service; `None` = the binding's background loop).
pub(crate) fn service_shim(
    py: Python<'_>,
    handler: &Bound<'_, PyAny>,
    event_loop: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let module = py.import(intern!(py, "iris._handlers"))?;
    Ok(module
        .getattr(intern!(py, "ServiceShim"))?
        .call1((handler, event_loop))?
        .unbind())
}

/// Builds the Python shim for a topic handler (a callable or an object with `handle_event`).
pub(crate) fn topic_shim(
    py: Python<'_>,
    topic: &str,
    handler: &Bound<'_, PyAny>,
    event_loop: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let module = py.import(intern!(py, "iris._handlers"))?;
    Ok(module
        .getattr(intern!(py, "TopicShim"))?
        .call1((topic, handler, event_loop))?
        .unbind())
}
