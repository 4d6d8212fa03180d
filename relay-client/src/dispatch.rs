//! The dispatcher: runs user handlers on threads of its own, enforcing the thread limit, the
//! memory limit and request expiry. One dispatcher per kind of work of each service (broadcasts,
//! requests) and per subscription (events).
//!
//! Workers are plain OS threads, never the async runtime's, so a handler may block. They are
//! started lazily, up to the thread limit, and exit after a while without work.

use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long an idle worker waits for work before its thread exits.
const IDLE_EXIT: Duration = Duration::from_secs(20);

thread_local! {
    static ON_HANDLER_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// True on a thread where user handlers run; blocking waits that need a handler to finish (such as
/// a graceful close's drain) must not happen there, or they would wait on themselves.
pub(crate) fn on_handler_thread() -> bool {
    ON_HANDLER_THREAD.with(|c| c.get())
}

/// Marks the current thread as one that runs user handlers (see [`on_handler_thread`]).
pub(crate) fn mark_handler_thread() {
    ON_HANDLER_THREAD.with(|c| c.set(true));
}

/// Why a job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// Queuing it would exceed the memory limit.
    Memory { queued: usize, limit: usize },
    /// The dispatcher is closed.
    Closed,
}

struct Job {
    size: usize,
    deadline: Option<Instant>,
    run: Box<dyn FnOnce() + Send>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    queued_bytes: usize,
    workers: usize,
    busy: usize,
    /// Workers blocked on the condition variable (only they need a wake-up).
    waiting: usize,
    started: bool,
    closed: bool,
}

struct Inner {
    name: String,
    threads: usize,
    memory: usize,
    state: Mutex<State>,
    work: Condvar,
}

/// A bounded FIFO of handler calls served by at most `threads` worker threads.
#[derive(Clone)]
pub(crate) struct Dispatcher {
    inner: Arc<Inner>,
}

impl Dispatcher {
    /// A dispatcher that queues work but starts no handler until [`start`](Self::start) (so a
    /// service's `init` runs before any handler).
    pub(crate) fn new(name: impl Into<String>, threads: usize, memory: usize) -> Self {
        Dispatcher {
            inner: Arc::new(Inner {
                name: name.into(),
                threads: threads.max(1),
                memory,
                state: Mutex::new(State::default()),
                work: Condvar::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking handler never holds this lock, so poisoning cannot leave bad state behind.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets workers run the queued work and whatever comes next.
    pub(crate) fn start(&self) {
        let mut state = self.lock();
        state.started = true;
        self.spawn_needed(&mut state);
    }

    /// Queues `run` for a worker. `size` counts against the memory limit until the job starts; a
    /// job whose `deadline` passes while queued is dropped without running.
    #[cfg(test)]
    pub(crate) fn submit(
        &self,
        size: usize,
        deadline: Option<Instant>,
        run: impl FnOnce() + Send + 'static,
    ) -> Result<(), Rejected> {
        if self.submit_quiet(size, deadline, run)? {
            self.inner.work.notify_one();
        }
        Ok(())
    }

    /// Like [`submit`](Self::submit) but leaves waking a worker to the caller: returns whether a
    /// worker sleeps and should be woken with [`wake`](Self::wake). A reader that queues a whole
    /// batch of messages wakes once per batch instead of once per message, which spares a
    /// sleep/wake-up pair per message.
    pub(crate) fn submit_quiet(
        &self,
        size: usize,
        deadline: Option<Instant>,
        run: impl FnOnce() + Send + 'static,
    ) -> Result<bool, Rejected> {
        let mut state = self.lock();
        if state.closed {
            return Err(Rejected::Closed);
        }
        if state.queued_bytes + size > self.inner.memory {
            return Err(Rejected::Memory {
                queued: state.queued_bytes,
                limit: self.inner.memory,
            });
        }
        state.queued_bytes += size;
        state.queue.push_back(Job {
            size,
            deadline,
            run: Box::new(run),
        });
        self.spawn_needed(&mut state);
        Ok(state.waiting > 0)
    }

    /// Wakes as many sleeping workers as there is queued work for.
    pub(crate) fn wake(&self) {
        let state = self.lock();
        let wake = state.waiting.min(state.queue.len());
        drop(state);
        for _ in 0..wake {
            self.inner.work.notify_one();
        }
    }

    /// Whether jobs are waiting for a worker.
    pub(crate) fn has_queued(&self) -> bool {
        !self.lock().queue.is_empty()
    }

    /// Whether two handles refer to the same dispatcher.
    pub(crate) fn same(&self, other: &Dispatcher) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Starts workers while queued jobs outnumber idle workers and the thread limit allows.
    fn spawn_needed(&self, state: &mut State) {
        if !state.started || state.closed {
            return;
        }
        while state.queue.len() > state.workers - state.busy && state.workers < self.inner.threads {
            let this = self.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("iris-{}", self.inner.name))
                .spawn(move || this.work_loop());
            match spawned {
                Ok(_) => state.workers += 1,
                Err(e) => {
                    tracing::error!(dispatcher = %self.inner.name, "cannot start a handler thread: {e}");
                    break;
                }
            }
        }
    }

    fn work_loop(self) {
        mark_handler_thread();
        let mut state = self.lock();
        loop {
            if state.closed {
                break;
            }
            let Some(job) = state.queue.pop_front() else {
                state.waiting += 1;
                let (next, wait) = self
                    .inner
                    .work
                    .wait_timeout(state, IDLE_EXIT)
                    .unwrap_or_else(|e| e.into_inner());
                state = next;
                state.waiting -= 1;
                if wait.timed_out() && state.queue.is_empty() {
                    break;
                }
                continue;
            };
            state.queued_bytes -= job.size;
            if job.deadline.is_some_and(|d| Instant::now() >= d) {
                tracing::debug!(dispatcher = %self.inner.name, "dropped a request that expired in the queue");
                continue;
            }
            state.busy += 1;
            drop(state);
            if let Err(panic) = catch_unwind(AssertUnwindSafe(job.run)) {
                tracing::error!(dispatcher = %self.inner.name, "a handler panicked: {}", panic_message(&panic));
            }
            state = self.lock();
            state.busy -= 1;
        }
        state.workers -= 1;
    }

    /// Drops queued work and lets the workers exit once their current call returns.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.queue.clear();
        state.queued_bytes = 0;
        drop(state);
        self.inner.work.notify_all();
    }
}

/// The text of a caught panic payload (bindings use it to turn a panic into an error message).
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[test]
    fn thread_limit_bounds_concurrency_and_keeps_fifo_order() {
        let d = Dispatcher::new("test", 2, usize::MAX);
        d.start();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        for i in 0..8 {
            let (running, peak, tx) = (running.clone(), peak.clone(), tx.clone());
            d.submit(1, None, move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
                running.fetch_sub(1, Ordering::SeqCst);
                tx.send(i).unwrap();
            })
            .unwrap();
        }
        let mut done: Vec<i32> = (0..8)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        done.sort();
        assert_eq!(done, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn memory_limit_admits_up_to_the_limit_and_releases_on_start() {
        let d = Dispatcher::new("test", 1, 10);
        // Not started: everything stays queued.
        assert!(d.submit(6, None, || {}).is_ok());
        assert!(d.submit(4, None, || {}).is_ok());
        assert_eq!(
            d.submit(1, None, || {}),
            Err(Rejected::Memory { queued: 10, limit: 10 })
        );
        assert_eq!(
            Dispatcher::new("t", 1, 1).submit(2, None, || {}),
            Err(Rejected::Memory { queued: 0, limit: 1 })
        );
        let (tx, rx) = mpsc::channel();
        d.start();
        d.submit(0, None, move || tx.send(()).unwrap()).unwrap();
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        // Everything started, so the memory is free again.
        assert!(d.submit(10, None, || {}).is_ok());
    }

    #[test]
    fn expired_jobs_never_run() {
        let d = Dispatcher::new("test", 1, usize::MAX);
        let ran = Arc::new(AtomicUsize::new(0));
        let past = Instant::now() - Duration::from_millis(1);
        let r = ran.clone();
        d.submit(1, Some(past), move || {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        let (tx, rx) = mpsc::channel();
        d.start();
        d.submit(1, None, move || tx.send(()).unwrap()).unwrap();
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_panicking_handler_does_not_kill_the_dispatcher() {
        let d = Dispatcher::new("test", 1, usize::MAX);
        d.start();
        d.submit(1, None, || panic!("boom")).unwrap();
        let (tx, rx) = mpsc::channel();
        d.submit(1, None, move || tx.send(on_handler_thread()).unwrap())
            .unwrap();
        assert!(rx.recv_timeout(Duration::from_secs(5)).unwrap());
    }

    #[test]
    fn closed_dispatcher_rejects_work() {
        let d = Dispatcher::new("test", 1, usize::MAX);
        d.close();
        assert_eq!(d.submit(1, None, || {}), Err(Rejected::Closed));
    }
}
