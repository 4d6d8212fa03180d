//! Counts live connection tasks so shutdown can wait for them to flush their CLOSE.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// A counter of live connections with a way to wait for zero.
#[derive(Debug, Clone, Default)]
pub struct ConnTracker {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    live: AtomicUsize,
    idle: Notify,
}

/// Held by a connection task for its lifetime.
#[derive(Debug)]
pub struct ConnGuard {
    inner: Arc<Inner>,
}

impl ConnTracker {
    /// Registers a live connection until the guard drops.
    pub fn enter(&self) -> ConnGuard {
        self.inner.live.fetch_add(1, Ordering::SeqCst);
        ConnGuard {
            inner: self.inner.clone(),
        }
    }

    /// Live connections now.
    pub fn live(&self) -> usize {
        self.inner.live.load(Ordering::SeqCst)
    }

    /// Waits until no connection is live.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.live() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if self.inner.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}
