//! Resource limits of services and subscriptions, with the v1 clients' defaults.

/// Memory a dispatcher may hold in queued, not yet started messages, unless configured.
pub const DEFAULT_MEMORY: usize = 64 * 1024 * 1024;

/// Handler invocations of one kind that may run at once, unless configured: 4 x CPU count.
pub fn default_threads() -> usize {
    4 * std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn or_default(value: usize, default: usize) -> usize {
    if value == 0 {
        default
    } else {
        value
    }
}

/// Limits of one service registration. A field left at 0 takes its default.
///
/// - `*_threads`: at most that many handler calls of that kind run at once; the rest wait in FIFO
///   order.
/// - `*_memory`: total payload octets queued but not yet started. A message is admitted when
///   `queued + len <= limit` (so one larger than the limit never is), released when its handler
///   starts; a message that does not fit is dropped and logged (a dropped request's caller times
///   out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceLimits {
    pub broadcast_threads: usize,
    pub broadcast_memory: usize,
    pub request_threads: usize,
    pub request_memory: usize,
}

impl ServiceLimits {
    /// The limits with every 0 replaced by its default.
    pub fn resolved(self) -> Self {
        ServiceLimits {
            broadcast_threads: or_default(self.broadcast_threads, default_threads()),
            broadcast_memory: or_default(self.broadcast_memory, DEFAULT_MEMORY),
            request_threads: or_default(self.request_threads, default_threads()),
            request_memory: or_default(self.request_memory, DEFAULT_MEMORY),
        }
    }
}

/// Limits of one topic subscription; same meaning as [`ServiceLimits`], for events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicLimits {
    pub event_threads: usize,
    pub event_memory: usize,
}

impl TopicLimits {
    /// The limits with every 0 replaced by its default.
    pub fn resolved(self) -> Self {
        TopicLimits {
            event_threads: or_default(self.event_threads, default_threads()),
            event_memory: or_default(self.event_memory, DEFAULT_MEMORY),
        }
    }
}
