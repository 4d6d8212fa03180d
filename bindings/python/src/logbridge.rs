//! Forwards the core's warnings and errors (`tracing` events: a message dropped by a memory limit,
//! a service dropped by the node, ...) to Python's `logging.getLogger("iris")`.
//!
//! Events are formatted where they happen (often on the core's I/O threads, which must never wait
//! for the GIL) and handed over a bounded channel to one thread that logs them with the GIL. When
//! the channel is full, events are counted and reported as dropped instead of blocking.

use crate::shutdown::with_python;
use pyo3::intern;
use pyo3::prelude::*;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::OnceLock;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

static SENDER: OnceLock<SyncSender<(i32, String)>> = OnceLock::new();
static LOST: AtomicU64 = AtomicU64::new(0);

struct Fields(String);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            let _ = write!(self.0, " {}={:?}", field.name(), value);
        }
    }
}

struct ToPython;

impl<S: Subscriber> Layer<S> for ToPython {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        *metadata.level() <= Level::WARN
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let level = match *event.metadata().level() {
            Level::ERROR => 40,
            Level::WARN => 30,
            _ => return,
        };
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        if let Some(tx) = SENDER.get() {
            if let Err(TrySendError::Full(_)) = tx.try_send((level, fields.0)) {
                LOST.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn log(py: Python<'_>, level: i32, message: &str) -> PyResult<()> {
    let logger = py
        .import(intern!(py, "logging"))?
        .call_method1(intern!(py, "getLogger"), ("iris",))?;
    logger.call_method1(intern!(py, "log"), (level, "%s", message))?;
    Ok(())
}

/// Installs the forwarder as the process's `tracing` subscriber, unless another one is already
/// installed (an embedding Rust program's own wins).
pub(crate) fn install() {
    let (tx, rx) = sync_channel::<(i32, String)>(1024);
    if SENDER.set(tx).is_err() {
        return;
    }
    let subscriber = tracing_subscriber::registry().with(ToPython);
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        return;
    }
    let _ = std::thread::Builder::new().name("iris-log".into()).spawn(move || {
        while let Ok((level, message)) = rx.recv() {
            let lost = LOST.swap(0, Ordering::Relaxed);
            let logged = with_python(|py| {
                if lost > 0 {
                    let _ = log(
                        py,
                        30,
                        &format!("{lost} iris log records were dropped (too many at once)"),
                    );
                }
                if let Err(e) = log(py, level, &message) {
                    e.write_unraisable(py, None);
                }
            });
            if logged.is_none() {
                return; // the interpreter is exiting
            }
        }
    });
}
