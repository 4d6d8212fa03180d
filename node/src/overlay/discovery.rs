//! Finding peers: seeds, DNS seeds, and rate-limited probing of the `--discover` ranges on the
//! overlay port(s) of this node's listen addresses.
//!
//! A probe is a TCP connection followed by the Noise handshake: a stranger learns only that a
//! Noise responder listens (the responder's static key is random per run and proves nothing);
//! nobody without the network name and key gets past the handshake. The first sweep runs fast
//! ([`BOOT_RATE`] attempts/s) so a new node joins at once; later sweeps are slow
//! ([`STEADY_RATE`]) and only look for nodes not linked yet, which also heals partitions.

use super::cidr::Cidr;
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
    probe_targets(&inner.config.discover, &inner.listen)
}

/// Every host of `ranges` on every port of `listen`, minus `listen` itself.
pub(crate) fn probe_targets(ranges: &[Cidr], listen: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut ports: Vec<u16> = listen.iter().map(|a| a.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    let mut out = Vec::new();
    for range in ranges {
        for host in range.hosts() {
            for &port in &ports {
                let addr = SocketAddr::new(host, port);
                if !listen.contains(&addr) {
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
    ports.sort_unstable();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn ipv6_ranges_probe_exactly_their_addresses_on_the_listen_ports() {
        let one: Vec<Cidr> = vec!["::1/128".parse().unwrap()];
        // Listening on [::1]:7000 only: the one address of the range is this node.
        assert!(probe_targets(&one, &addrs(&["[::1]:7000"])).is_empty());
        // A second listen port: [::1] on that port, nothing outside ::1.
        assert_eq!(
            probe_targets(&one, &addrs(&["[::1]:7000", "127.0.0.2:7001"])),
            addrs(&["[::1]:7001"])
        );
        // A /126 holds 4 addresses and, unlike IPv4, has no network/broadcast address to skip.
        let four: Vec<Cidr> = vec!["fd00::4/126".parse().unwrap()];
        assert_eq!(
            probe_targets(&four, &addrs(&["[fd00::5]:7000"])),
            addrs(&["[fd00::4]:7000", "[fd00::6]:7000", "[fd00::7]:7000"])
        );
        // IPv4 skips both ends.
        let v4: Vec<Cidr> = vec!["127.0.0.0/30".parse().unwrap()];
        assert_eq!(
            probe_targets(&v4, &addrs(&["127.0.0.1:7000"])),
            addrs(&["127.0.0.2:7000"])
        );
    }
}
