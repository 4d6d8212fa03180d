//! Every deadline the router enforces, in one heap served by one task: no task or timer per
//! request or tunnel construction.
//!
//! Entries are never removed early. When a request is answered its entry stays until its deadline
//! and then finds nothing to expire (the pending tables are the truth, the heap only says when to
//! look). Entries are small, and the heap is compacted when most of it is stale.

use super::destination::Destination;
use super::Router;
use crate::util::lock;
use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio::time::Instant;

/// What to check when a deadline passes.
#[derive(Debug)]
pub(crate) enum Expiry {
    /// A request delivered to `target` under the node's id `id`.
    Request { target: Destination, id: u64 },
    /// A request that was never delivered (no member, or the member gave no answer): the caller
    /// gets timed_out at the deadline.
    Unanswered { caller: Destination, caller_id: u64 },
    /// A tunnel construction delivered to `target` under build id `build_id`.
    Build { target: Destination, build_id: u64 },
    /// A tunnel construction that found no member: the initiator gets timed_out at the deadline
    /// unless it closed the tunnel meanwhile (`token` tells that slot from a later one).
    UnroutedBuild {
        initiator: Destination,
        tunnel_id: u64,
        token: u64,
    },
}

struct Entry {
    at: Instant,
    seq: u64,
    what: Expiry,
}

// Min-heap on (at, seq): BinaryHeap is a max-heap, so the order is reversed.
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Entry {}

/// Compaction runs when at least this many entries are known stale and they are most of the heap.
const COMPACT_MIN_STALE: usize = 16 * 1024;

/// The router's deadline heap.
pub(crate) struct Timer {
    heap: Mutex<BinaryHeap<Entry>>,
    wake: Notify,
    seq: AtomicU64,
    /// Entries whose work was finished early (a rough count; only triggers compaction).
    stale: AtomicUsize,
}

impl Timer {
    pub(crate) fn new() -> Timer {
        Timer {
            heap: Mutex::default(),
            wake: Notify::new(),
            seq: AtomicU64::new(0),
            stale: AtomicUsize::new(0),
        }
    }

    /// Arranges for `what` to be expired at `at`; `None` means never (an unrepresentably far
    /// deadline).
    pub(crate) fn schedule(&self, at: Option<Instant>, what: Expiry) {
        let Some(at) = at else { return };
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut heap = lock(&self.heap);
        let earliest = !matches!(heap.peek(), Some(e) if e.at <= at);
        heap.push(Entry { at, seq, what });
        drop(heap);
        if earliest {
            self.wake.notify_one();
        }
    }

    /// Notes that one scheduled entry will find nothing to do.
    pub(crate) fn note_stale(&self) {
        self.stale.fetch_add(1, Ordering::Relaxed);
    }

    /// Removes and returns every entry due at `now`, and the next deadline after them.
    fn due(&self, now: Instant) -> (Vec<Expiry>, Option<Instant>) {
        let mut heap = lock(&self.heap);
        let mut due = Vec::new();
        while heap.peek().is_some_and(|e| e.at <= now) {
            if let Some(e) = heap.pop() {
                due.push(e.what);
            }
        }
        let stale = self.stale.load(Ordering::Relaxed);
        if stale >= COMPACT_MIN_STALE && stale * 2 >= heap.len() {
            heap.retain(|e| is_live(&e.what));
            self.stale.store(0, Ordering::Relaxed);
        }
        (due, heap.peek().map(|e| e.at))
    }

    /// The timer task: sleeps until the earliest deadline (or a new earlier one), then expires what
    /// is due. Runs until aborted (see `Router::start_timer`).
    pub(crate) async fn run(router: Arc<Router>) {
        let timer = &router.timer;
        loop {
            let notified = timer.wake.notified();
            let (due, next) = timer.due(Instant::now());
            for what in due {
                router.expire(what);
            }
            match next {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// Whether an entry still guards something (used only for compaction).
fn is_live(what: &Expiry) -> bool {
    match what {
        Expiry::Request { target, id } => target.has_request(*id),
        Expiry::Build { target, build_id } => lock(target.builds()).contains_key(build_id),
        Expiry::Unanswered { .. } | Expiry::UnroutedBuild { .. } => true,
    }
}
