//! `iris.Service` and `iris.register`.

use crate::aio::{spawn_blocking, Completions, TaskHandle, Value};
use crate::connection::PyConnection;
use crate::convert::service_limits;
use crate::errors::to_pyerr;
use crate::handler::{service_shim, PyServiceHandler};
use crate::shutdown::track_service;
use crate::wait::blocking;
use iris_client::Service;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::sync::Arc;

/// A registered member of a cluster, made by `iris.register`. Unregistered by `unregister()`, by
/// leaving a `with` block, when the last reference goes away, or at interpreter exit.
#[pyclass(module = "iris", name = "Service", frozen)]
pub(crate) struct PyService {
    service: Arc<Service>,
    connection: Py<PyConnection>,
}

impl PyService {
    pub(crate) fn new(py: Python<'_>, service: Service) -> PyResult<Self> {
        let service = Arc::new(service);
        track_service(&service);
        let connection = Py::new(py, PyConnection::borrowed(service.connection().clone()))?;
        Ok(PyService { service, connection })
    }
}

/// Turns a failed registration into the exception to raise: the one `init` raised, if any.
fn registration_error(py: Python<'_>, handler: &PyServiceHandler, err: &iris_client::Error) -> PyErr {
    handler.take_init_error().unwrap_or_else(|| to_pyerr(py, err))
}

/// Registers `handler` (an `iris.ServiceHandler`) as a member of `cluster` at the node on `port`.
/// `init(conn)` runs before this returns and before any other handler; an exception from it
/// aborts the registration and is raised here.
#[pyfunction]
#[pyo3(signature = (port, cluster, handler, limits = None))]
pub(crate) fn register(
    py: Python<'_>,
    port: i64,
    cluster: &str,
    handler: &Bound<'_, PyAny>,
    limits: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyService> {
    let port = crate::convert::port(py, port)?;
    let limits = service_limits(limits)?;
    let adapter = PyServiceHandler::new(service_shim(py, handler, None)?);
    let core_handler = adapter.clone();
    // The blocking core call runs `init` on this thread (so init may itself make blocking calls).
    let registered = py.allow_threads(|| iris_client::register(port, cluster, core_handler, limits));
    match registered {
        Ok(service) => PyService::new(py, service),
        Err(err) => Err(registration_error(py, &adapter, &err)),
    }
}

/// Async form of `register` for `iris.aio`: registration and `init` run on a thread of their own.
#[pyfunction]
#[pyo3(signature = (done, future, port, cluster, handler, event_loop, limits = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn start_register(
    py: Python<'_>,
    done: &Completions,
    future: PyObject,
    port: i64,
    cluster: String,
    handler: &Bound<'_, PyAny>,
    event_loop: &Bound<'_, PyAny>,
    limits: Option<&Bound<'_, PyAny>>,
) -> PyResult<TaskHandle> {
    let port = crate::convert::port(py, port)?;
    let limits = service_limits(limits)?;
    let adapter = PyServiceHandler::new(service_shim(py, handler, Some(event_loop))?);
    spawn_blocking(done, future, move || {
        let core_handler = adapter.clone();
        match iris_client::register(port, &cluster, core_handler, limits) {
            Ok(service) => Value::Service(service),
            Err(err) => match adapter.take_init_error() {
                Some(init_error) => Value::PyError(init_error),
                None => Value::Error(err),
            },
        }
    })
}

#[pymethods]
impl PyService {
    /// Leaves the cluster gracefully: the node stops routing to this member, requests already
    /// delivered are answered, then the connection closes. Unregistering twice is fine.
    fn unregister(&self, py: Python<'_>) -> PyResult<()> {
        let service = &self.service;
        blocking(py, || service.unregister())
    }

    /// The service's own connection, usable as a client too.
    #[getter]
    fn connection(&self, py: Python<'_>) -> Py<PyConnection> {
        self.connection.clone_ref(py)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.unregister(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let conn = self.service.connection();
        format!("<iris.Service conn={} registered={}>", conn.id(), conn.is_open())
    }

    // ---- asyncio bridge (used by iris.aio) ----

    fn _start_unregister(&self, done: &Completions, future: PyObject) -> PyResult<TaskHandle> {
        let service = self.service.clone();
        crate::aio::spawn(done, future, async move {
            service.unregister_async().await.map(|_| Value::None)
        })
    }
}
