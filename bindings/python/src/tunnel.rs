//! `iris.Tunnel`: an ordered, flow-controlled message stream to one cluster member.

use crate::aio::{spawn, Completions, TaskHandle, Value};
use crate::convert::{optional_timeout, payload};
use crate::wait::{blocking, wait};
use iris_client::Tunnel;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use std::sync::Arc;

/// A tunnel, from `Connection.tunnel` or handed to `ServiceHandler.handle_tunnel`. Messages
/// arrive in order, exactly as sent. `send` and `recv` may run concurrently on different threads.
/// Closed by `close()`, by leaving a `with` block, or when the last reference goes away.
#[pyclass(module = "iris", name = "Tunnel", frozen)]
pub(crate) struct PyTunnel {
    pub(crate) tunnel: Arc<Tunnel>,
}

impl PyTunnel {
    pub(crate) fn new(tunnel: Tunnel) -> Self {
        PyTunnel {
            tunnel: Arc::new(tunnel),
        }
    }
}

#[pymethods]
impl PyTunnel {
    /// Sends one message, waiting for flow-control allowance as needed; `timeout` (seconds)
    /// covers the whole message, `None` waits as long as it takes.
    #[pyo3(signature = (message, timeout = None))]
    fn send(&self, py: Python<'_>, message: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let message = payload(message, "message")?;
        let timeout = optional_timeout(py, timeout)?;
        wait(py, self.tunnel.send_async(message, timeout))
    }

    /// Receives the next message, waiting at most `timeout` seconds (`None`: forever). Messages
    /// that arrived before the tunnel closed are still returned; after them, `iris.ClosedError`.
    #[pyo3(signature = (timeout = None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyBytes>> {
        let timeout = optional_timeout(py, timeout)?;
        let message = wait(py, self.tunnel.recv_async(timeout))?;
        Ok(PyBytes::new(py, &message))
    }

    /// Closes the tunnel (waiting briefly for the node to confirm). Closing twice is fine.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let tunnel = &self.tunnel;
        blocking(py, || tunnel.close())
    }

    /// The tunnel's id on its connection (as in log lines).
    #[getter]
    fn id(&self) -> u64 {
        self.tunnel.id()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("<iris.Tunnel id={}>", self.tunnel.id())
    }

    // ---- asyncio bridge (used by iris.aio) ----

    #[pyo3(signature = (done, future, message, timeout = None))]
    fn _start_send(
        &self,
        py: Python<'_>,
        done: &Completions,
        future: PyObject,
        message: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<TaskHandle> {
        let message = payload(message, "message")?;
        let timeout = optional_timeout(py, timeout)?;
        let tunnel = self.tunnel.clone();
        spawn(done, future, async move {
            tunnel.send_async(message, timeout).await.map(|_| Value::None)
        })
    }

    #[pyo3(signature = (done, future, timeout = None))]
    fn _start_recv(
        &self,
        py: Python<'_>,
        done: &Completions,
        future: PyObject,
        timeout: Option<f64>,
    ) -> PyResult<TaskHandle> {
        let timeout = optional_timeout(py, timeout)?;
        let tunnel = self.tunnel.clone();
        spawn(done, future, async move {
            tunnel.recv_async(timeout).await.map(Value::Bytes)
        })
    }

    fn _start_close(&self, done: &Completions, future: PyObject) -> PyResult<TaskHandle> {
        let tunnel = self.tunnel.clone();
        spawn(
            done,
            future,
            async move { tunnel.close_async().await.map(|_| Value::None) },
        )
    }
}
