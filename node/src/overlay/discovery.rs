//! Finding peers: seeds, DNS seeds, and rate-limited probing of the `--discover` ranges on the
//! overlay port(s) of this node's listen addresses.
//!
//! A probe is a TCP connection followed by the Noise handshake: a stranger learns only that a
//! Noise responder listens (the responder's static key is random per run and proves nothing);
//! nobody without the network name and key gets past the handshake. The first sweep runs fast
//! ([`BOOT_RATE`] attempts/s) so a new node joins at once; later sweeps are slow
//! ([`STEADY_RATE`]) and only look for nodes not linked yet, which also heals partitions.

use super::membership::Inner;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Connection attempts per second during the first sweep.
pub const BOOT_RATE: u32 = 1000;
/// Connection attempts per second in later sweeps.
pub const STEADY_RATE: u32 = 50;
/// Pause between sweeps (and between seed rounds).
pub const SWEEP_PAUSE: Duration = Duration::from_secs(3);

/// Every address discovery probes, this node's own excluded.
pub(crate) fn targets(inner: &Inner) -> Vec<SocketAddr> {
    let mut ports: Vec<u16> = inner.listen.iter().map(|a| a.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    let mut out = Vec::new();
    for range in &inner.config.discover {
        for host in range.hosts() {
            for &port in &ports {
                let addr = SocketAddr::new(host, port);
                if !inner.listen.contains(&addr) {
                    out.push(addr);
                }
            }
        }
    }
    out
}

/// Dials `addrs` at `rate` attempts per second.
async fn sweep(inner: &Arc<Inner>, addrs: &[SocketAddr], rate: u32) {
    // Batches every 10 ms keep the timer load low at high rates.
    let per_batch = (rate / 100).max(1) as usize;
    let pause = Duration::from_secs_f64(per_batch as f64 / f64::from(rate.max(1)));
    for batch in addrs.chunks(per_batch) {
        // Nodes already linked or known alive (held by a neighbour) are not probed again.
        let known = inner.known_addrs();
        for &addr in batch.iter().filter(|a| !known.contains(a)) {
            inner.dial(addr);
        }
        tokio::time::sleep(pause).await;
    }
}

/// Resolves seeds and DNS seeds (fresh each round: addresses may change).
async fn seed_addrs(inner: &Inner) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for seed in &inner.config.seeds {
        match tokio::net::lookup_host(seed.as_str()).await {
            Ok(addrs) => out.extend(addrs),
            Err(e) => tracing::debug!(%seed, error = %e, "seed does not resolve"),
        }
    }
    let mut ports: Vec<u16> = inner.listen.iter().map(|a| a.port()).collect();
    ports.dedup();
    for name in &inner.config.seed_dns {
        for &port in &ports {
            match tokio::net::lookup_host((name.as_str(), port)).await {
                Ok(addrs) => out.extend(addrs),
                Err(e) => tracing::debug!(%name, error = %e, "DNS seed does not resolve"),
            }
        }
    }
    out
}

/// The discovery task: runs until aborted.
pub(crate) async fn run(inner: Arc<Inner>) {
    let ranges = if inner.config.probe {
        targets(&inner)
    } else {
        Vec::new()
    };
    let mut rate = BOOT_RATE;
    loop {
        let seeds = seed_addrs(&inner).await;
        for addr in seeds {
            inner.dial(addr);
        }
        sweep(&inner, &ranges, rate).await;
        rate = STEADY_RATE;
        tokio::time::sleep(SWEEP_PAUSE).await;
    }
}
