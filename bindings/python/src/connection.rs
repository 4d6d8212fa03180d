//! `iris.Connection`: a plain client connection (also a service's own connection).

use crate::aio::{spawn, Completions, TaskHandle, Value};
use crate::convert::{payload, topic_limits};
use crate::handler::{topic_shim, PyTopicHandler};
use crate::shutdown::track_connection;
use crate::tunnel::PyTunnel;
use crate::wait::{blocking, wait};
use iris_client::Connection;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use std::sync::Arc;

/// A connection to the local Iris node, made by `iris.connect`. Closed by `close()`, by leaving a
/// `with` block, or when the last reference goes away. Safe to use from many threads at once.
#[pyclass(module = "iris", name = "Connection", frozen)]
pub(crate) struct PyConnection {
    pub(crate) conn: Arc<Connection>,
}

impl PyConnection {
    /// A connection the application owns (closed at interpreter exit if still open).
    pub(crate) fn owned(conn: Connection) -> Self {
        let conn = Arc::new(conn);
        track_connection(&conn);
        PyConnection { conn }
    }

    /// A handle on a connection owned elsewhere (a service's, handed to `init`).
    pub(crate) fn borrowed(conn: Connection) -> Self {
        PyConnection { conn: Arc::new(conn) }
    }
}

/// Connects to the Iris node listening on `port` of this host.
#[pyfunction]
#[pyo3(signature = (port = 55555))]
pub(crate) fn connect(py: Python<'_>, port: i64) -> PyResult<PyConnection> {
    let port = crate::convert::port(py, port)?;
    let conn = wait(py, iris_client::connect_async(port))?;
    Ok(PyConnection::owned(conn))
}

#[pymethods]
impl PyConnection {
    /// Sends `request` to one member of `cluster` and returns its reply. Raises
    /// `iris.TimeoutError` when no reply comes within `timeout` seconds (also when the cluster
    /// has no member), `iris.RemoteError` with the service's fault text, `iris.ClosedError`.
    #[pyo3(signature = (cluster, request, timeout))]
    fn request<'py>(
        &self,
        py: Python<'py>,
        cluster: &str,
        request: &Bound<'py, PyAny>,
        timeout: f64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let request = payload(request, "request")?;
        let timeout = crate::convert::timeout(py, timeout)?;
        let reply = wait(py, self.conn.request_async(cluster, request, timeout))?;
        Ok(PyBytes::new(py, &reply))
    }

    /// Sends `message` to every member of `cluster` (best effort, no reply).
    fn broadcast(&self, py: Python<'_>, cluster: &str, message: &Bound<'_, PyAny>) -> PyResult<()> {
        let message = payload(message, "message")?;
        wait(py, self.conn.broadcast_async(cluster, message))
    }

    /// Sends `event` to every subscriber of `topic` (best effort).
    fn publish(&self, py: Python<'_>, topic: &str, event: &Bound<'_, PyAny>) -> PyResult<()> {
        let event = payload(event, "event")?;
        wait(py, self.conn.publish_async(topic, event))
    }

    /// Subscribes to `topic`: each event is passed to `handler` (a callable taking the event
    /// bytes, or an `iris.TopicHandler`) on a handler thread, within `limits`
    /// (`iris.TopicLimits`). Subscribing twice to one topic raises `iris.InvalidArgumentError`.
    #[pyo3(signature = (topic, handler, limits = None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        topic: &str,
        handler: &Bound<'_, PyAny>,
        limits: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let limits = topic_limits(limits)?;
        let handler = Arc::new(PyTopicHandler {
            shim: topic_shim(py, topic, handler, None)?,
        });
        wait(py, self.conn.subscribe_async(topic, handler, limits))
    }

    /// Ends the subscription to `topic`; events already queued for it are dropped.
    fn unsubscribe(&self, py: Python<'_>, topic: &str) -> PyResult<()> {
        wait(py, self.conn.unsubscribe_async(topic))
    }

    /// Opens a tunnel to one member of `cluster`, waiting at most `timeout` seconds for it.
    #[pyo3(signature = (cluster, timeout))]
    fn tunnel(&self, py: Python<'_>, cluster: &str, timeout: f64) -> PyResult<PyTunnel> {
        let timeout = crate::convert::timeout(py, timeout)?;
        Ok(PyTunnel::new(wait(py, self.conn.tunnel_async(cluster, timeout))?))
    }

    /// Closes the connection gracefully; calls blocked on it raise `iris.ClosedError`. Closing
    /// twice is fine; closing from inside a handler does not wait for the drain.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let conn = &self.conn;
        blocking(py, || conn.close())
    }

    /// True until the connection starts closing.
    #[getter]
    fn is_open(&self) -> bool {
        self.conn.is_open()
    }

    /// A process-unique id of the connection (as in log lines).
    #[getter]
    fn id(&self) -> u64 {
        self.conn.id()
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
        format!("<iris.Connection id={} open={}>", self.conn.id(), self.conn.is_open())
    }

    // ---- asyncio bridge (used by iris.aio) ----

    fn _start_request(
        &self,
        py: Python<'_>,
        done: &Completions,
        future: PyObject,
        cluster: String,
        request: &Bound<'_, PyAny>,
        timeout: f64,
    ) -> PyResult<TaskHandle> {
        let request = payload(request, "request")?;
        let timeout = crate::convert::timeout(py, timeout)?;
        let conn = self.conn.clone();
        spawn(done, future, async move {
            conn.request_async(&cluster, request, timeout).await.map(Value::Bytes)
        })
    }

    fn _start_broadcast(
        &self,
        done: &Completions,
        future: PyObject,
        cluster: String,
        message: &Bound<'_, PyAny>,
    ) -> PyResult<TaskHandle> {
        let message = payload(message, "message")?;
        let conn = self.conn.clone();
        spawn(done, future, async move {
            conn.broadcast_async(&cluster, message).await.map(|_| Value::None)
        })
    }

    fn _start_publish(
        &self,
        done: &Completions,
        future: PyObject,
        topic: String,
        event: &Bound<'_, PyAny>,
    ) -> PyResult<TaskHandle> {
        let event = payload(event, "event")?;
        let conn = self.conn.clone();
        spawn(done, future, async move {
            conn.publish_async(&topic, event).await.map(|_| Value::None)
        })
    }

    #[pyo3(signature = (done, future, topic, handler, event_loop, limits = None))]
    #[allow(clippy::too_many_arguments)]
    fn _start_subscribe(
        &self,
        py: Python<'_>,
        done: &Completions,
        future: PyObject,
        topic: String,
        handler: &Bound<'_, PyAny>,
        event_loop: &Bound<'_, PyAny>,
        limits: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<TaskHandle> {
        let limits = topic_limits(limits)?;
        let handler = Arc::new(PyTopicHandler {
            shim: topic_shim(py, &topic, handler, Some(event_loop))?,
        });
        let conn = self.conn.clone();
        spawn(done, future, async move {
            conn.subscribe_async(&topic, handler, limits).await.map(|_| Value::None)
        })
    }

    fn _start_unsubscribe(&self, done: &Completions, future: PyObject, topic: String) -> PyResult<TaskHandle> {
        let conn = self.conn.clone();
        spawn(done, future, async move {
            conn.unsubscribe_async(&topic).await.map(|_| Value::None)
        })
    }

    fn _start_tunnel(
        &self,
        py: Python<'_>,
        done: &Completions,
        future: PyObject,
        cluster: String,
        timeout: f64,
    ) -> PyResult<TaskHandle> {
        let timeout = crate::convert::timeout(py, timeout)?;
        let conn = self.conn.clone();
        spawn(done, future, async move {
            conn.tunnel_async(&cluster, timeout).await.map(Value::Tunnel)
        })
    }

    fn _start_close(&self, done: &Completions, future: PyObject) -> PyResult<TaskHandle> {
        let conn = self.conn.clone();
        spawn(
            done,
            future,
            async move { conn.close_async().await.map(|_| Value::None) },
        )
    }
}
