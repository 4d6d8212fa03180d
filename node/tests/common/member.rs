//! A cluster member for multi-node tests: answers requests with `name:request`, counts requests
//! and broadcasts, echoes tunnels (or, with `stall`, keeps them unread).

use iris_client::{Bytes, ServiceHandler, Tunnel};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long an echoed tunnel message may wait for credit.
const ECHO_PATIENCE: Duration = Duration::from_secs(5);

/// See the module doc.
#[derive(Default)]
pub struct Member {
    /// Prefix of every reply, so callers see who answered.
    pub name: String,
    /// Requests handled.
    pub requests: AtomicUsize,
    /// Broadcasts received.
    pub broadcasts: AtomicUsize,
    /// Keep tunnels unread (in `tunnels`) instead of echoing them.
    pub stall: bool,
    /// Stalled tunnels.
    pub tunnels: Mutex<Vec<Tunnel>>,
}

impl Member {
    /// An echoing member called `name`.
    pub fn new(name: &str) -> Arc<Member> {
        Arc::new(Member {
            name: name.to_string(),
            ..Member::default()
        })
    }

    /// A member that never reads its tunnels.
    pub fn stalling(name: &str) -> Arc<Member> {
        Arc::new(Member {
            name: name.to_string(),
            stall: true,
            ..Member::default()
        })
    }
}

impl ServiceHandler for Member {
    fn handle_broadcast(&self, _message: Bytes) {
        self.broadcasts.fetch_add(1, Ordering::SeqCst);
    }
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        Ok(Bytes::from(format!(
            "{}:{}",
            self.name,
            String::from_utf8_lossy(&request)
        )))
    }
    fn handle_tunnel(&self, tunnel: Tunnel) {
        if self.stall {
            self.tunnels.lock().unwrap().push(tunnel);
            return;
        }
        while let Ok(msg) = tunnel.recv(None) {
            if tunnel.send(msg, Some(ECHO_PATIENCE)).is_err() {
                break;
            }
        }
    }
}
