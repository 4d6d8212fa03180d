//! The bridge from the core's async calls to asyncio, without taking the GIL on the core's
//! threads.
//!
//! Each event loop has one [`Completions`] queue. An `_start_*` method spawns the core's async
//! call on the core's runtime; when it ends, its result is pushed onto the queue and, if the queue
//! was empty, one byte is written to a socket pair whose read end the loop watches
//! (`loop.add_reader`). The loop then drains the queue on its own thread, with the GIL it already
//! holds, converting results and resolving the asyncio futures (`iris/aio.py`). Results are thus
//! batched, and no runtime thread ever waits for the GIL.

use crate::connection::PyConnection;
use crate::errors::error_value;
use crate::service::PyService;
use crate::tunnel::PyTunnel;
use bytes::Bytes;
use iris_client::{Connection, Error, Service, Tunnel};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use std::future::Future;
use std::io::Write;
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

/// The outcome of one async call, converted to Python on the loop's thread.
pub(crate) enum Value {
    None,
    Bytes(Bytes),
    Connection(Connection),
    Service(Service),
    Tunnel(Tunnel),
    Error(Error),
    PyError(PyErr),
}

struct Queue {
    done: Mutex<Vec<(PyObject, Value)>>,
    waker: UnixStream,
}

impl Queue {
    fn complete(&self, future: PyObject, value: Value) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        let was_empty = done.is_empty();
        done.push((future, value));
        drop(done);
        if was_empty {
            // A full socket buffer means a wake-up is pending anyway.
            let _ = (&self.waker).write(&[1]);
        }
    }
}

/// The completion queue of one asyncio event loop (internal to `iris.aio`).
#[pyclass(module = "iris._native", frozen)]
pub(crate) struct Completions {
    queue: Arc<Queue>,
    reader: Mutex<Option<UnixStream>>,
}

#[pymethods]
impl Completions {
    #[new]
    fn new() -> PyResult<Self> {
        let (reader, waker) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        waker.set_nonblocking(true)?;
        Ok(Completions {
            queue: Arc::new(Queue {
                done: Mutex::new(Vec::new()),
                waker,
            }),
            reader: Mutex::new(Some(reader)),
        })
    }

    /// Hands the read end of the wake-up socket to the caller, who owns (and closes) it.
    fn take_reader_fd(&self) -> PyResult<i32> {
        let reader = self.reader.lock().unwrap_or_else(|e| e.into_inner()).take();
        reader
            .map(IntoRawFd::into_raw_fd)
            .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("the reader was already taken"))
    }

    /// Every finished call as `(future, ok, value)`; `value` is the result or the exception.
    fn take<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let done = std::mem::take(&mut *self.queue.done.lock().unwrap_or_else(|e| e.into_inner()));
        let mut out = Vec::with_capacity(done.len());
        for (future, value) in done {
            let (ok, value): (bool, PyObject) = match value {
                Value::None => (true, py.None()),
                Value::Bytes(b) => (true, PyBytes::new(py, &b).into_any().unbind()),
                Value::Connection(c) => (true, Py::new(py, PyConnection::owned(c))?.into_any()),
                Value::Service(s) => (true, Py::new(py, PyService::new(py, s)?)?.into_any()),
                Value::Tunnel(t) => (true, Py::new(py, PyTunnel::new(t))?.into_any()),
                Value::Error(e) => (false, error_value(py, &e).unbind()),
                Value::PyError(e) => (false, e.into_value(py).into_any()),
            };
            out.push(PyTuple::new(
                py,
                [future, ok.into_pyobject(py)?.to_owned().into_any().unbind(), value],
            )?);
        }
        Ok(out)
    }
}

/// Lets asyncio cancel the core call behind a cancelled future.
#[pyclass(module = "iris._native", frozen)]
pub(crate) struct TaskHandle {
    abort: Option<tokio::task::AbortHandle>,
}

#[pymethods]
impl TaskHandle {
    /// Abandons the call (its result, if any, is discarded).
    fn abort(&self) {
        if let Some(a) = &self.abort {
            a.abort();
        }
    }
}

/// Runs `call` on the core's runtime and queues its result for the loop.
pub(crate) fn spawn<F>(done: &Completions, future: PyObject, call: F) -> PyResult<TaskHandle>
where
    F: Future<Output = iris_client::Result<Value>> + Send + 'static,
{
    let rt = iris_client::runtime_handle().map_err(|e| Python::with_gil(|py| crate::errors::to_pyerr(py, &e)))?;
    let queue = done.queue.clone();
    let task = rt.spawn(async move {
        let value = call.await.unwrap_or_else(Value::Error);
        queue.complete(future, value);
    });
    Ok(TaskHandle {
        abort: Some(task.abort_handle()),
    })
}

/// Runs a blocking `call` on a thread of its own (never a runtime thread, so it may make
/// blocking iris calls, e.g. a service's `init`) and queues its result for the loop.
pub(crate) fn spawn_blocking(
    done: &Completions,
    future: PyObject,
    call: impl FnOnce() -> Value + Send + 'static,
) -> PyResult<TaskHandle> {
    let queue = done.queue.clone();
    std::thread::Builder::new()
        .name("iris-register".into())
        .spawn(move || queue.complete(future, call()))
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("cannot start a thread: {e}")))?;
    Ok(TaskHandle { abort: None })
}

/// Async form of `connect` for `iris.aio`.
#[pyfunction]
pub(crate) fn start_connect(py: Python<'_>, done: &Completions, future: PyObject, port: i64) -> PyResult<TaskHandle> {
    let port = crate::convert::port(py, port)?;
    spawn(done, future, async move {
        iris_client::connect_async(port).await.map(Value::Connection)
    })
}
