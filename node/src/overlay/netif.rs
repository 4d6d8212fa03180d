//! The host's network interfaces, for the overlay's defaults (listen on every non-loopback IPv4
//! address, discover the subnets of the listen addresses).

use super::cidr::Cidr;
use std::net::{IpAddr, Ipv4Addr};

/// One IPv4 address of an interface and its subnet.
#[derive(Debug, Clone, Copy)]
pub struct IfAddr {
    /// The interface address.
    pub addr: Ipv4Addr,
    /// Its prefix length (from the netmask).
    pub prefix: u8,
}

/// Every IPv4 address configured on an interface that is up (loopback included).
pub fn ipv4_addrs() -> Vec<IfAddr> {
    let mut out = Vec::new();
    // SAFETY: getifaddrs fills a linked list we only read and then free exactly once; every
    // pointer is checked for null before it is dereferenced.
    unsafe {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            let up = ifa.ifa_flags & (libc::IFF_UP as libc::c_uint) != 0;
            if up && !ifa.ifa_addr.is_null() && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                let addr = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                let prefix = if ifa.ifa_netmask.is_null() {
                    32
                } else {
                    let mask = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
                    u32::from_be(mask.sin_addr.s_addr).count_ones() as u8
                };
                out.push(IfAddr { addr, prefix });
            }
            cur = ifa.ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

/// Narrowest prefix a default discovery range may have (IPv4): a /16 interface subnet is probed
/// only in the /20 around the node's own address, so the default stays polite on big networks.
const MIN_DEFAULT_PREFIX: u8 = 20;

/// The default discovery range for a listen address: its interface's subnet, narrowed to at most
/// a /20 around it. Unknown addresses (e.g. 0.0.0.0) get none.
pub fn default_range(listen: IpAddr, interfaces: &[IfAddr]) -> Option<Cidr> {
    let IpAddr::V4(v4) = listen else { return None };
    let iface = interfaces.iter().find(|i| i.addr == v4)?;
    Cidr::new(listen, iface.prefix.max(MIN_DEFAULT_PREFIX)).ok()
}
