//! The service and topic limits structs, with the core's defaults.

use crate::status::quietly;
use iris_client::{ServiceLimits, TopicLimits};

/// Limits of one service registration. A field left at 0 takes its default (see
/// `iris_service_limits_default`).
///
/// - `*_threads`: at most that many handler calls of that kind run at once; the rest wait in FIFO
///   order.
/// - `*_memory`: total payload octets queued but not yet started. A message is admitted when
///   `queued + len <= limit` (so one larger than the limit never is) and released when its
///   handler starts; one that does not fit is dropped and logged (its caller times out).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, Default)]
pub struct iris_service_limits {
    pub broadcast_threads: usize,
    pub broadcast_memory: usize,
    pub request_threads: usize,
    pub request_memory: usize,
}

/// Limits of one topic subscription; same meaning as `iris_service_limits`, for events.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, Default)]
pub struct iris_topic_limits {
    pub event_threads: usize,
    pub event_memory: usize,
}

impl iris_service_limits {
    pub(crate) fn to_core(self) -> ServiceLimits {
        ServiceLimits {
            broadcast_threads: self.broadcast_threads,
            broadcast_memory: self.broadcast_memory,
            request_threads: self.request_threads,
            request_memory: self.request_memory,
        }
    }
}

impl iris_topic_limits {
    pub(crate) fn to_core(self) -> TopicLimits {
        TopicLimits {
            event_threads: self.event_threads,
            event_memory: self.event_memory,
        }
    }
}

/// The default service limits, as the core resolves them: threads = 4 x CPU count, memory =
/// 64 MiB per kind.
#[no_mangle]
pub extern "C" fn iris_service_limits_default() -> iris_service_limits {
    quietly(iris_service_limits::default(), || {
        let l = ServiceLimits::default().resolved();
        iris_service_limits {
            broadcast_threads: l.broadcast_threads,
            broadcast_memory: l.broadcast_memory,
            request_threads: l.request_threads,
            request_memory: l.request_memory,
        }
    })
}

/// The default topic limits, as the core resolves them: threads = 4 x CPU count, memory = 64 MiB.
#[no_mangle]
pub extern "C" fn iris_topic_limits_default() -> iris_topic_limits {
    quietly(iris_topic_limits::default(), || {
        let l = TopicLimits::default().resolved();
        iris_topic_limits {
            event_threads: l.event_threads,
            event_memory: l.event_memory,
        }
    })
}
