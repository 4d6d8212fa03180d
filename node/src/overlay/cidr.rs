//! Address ranges (`10.0.0.0/24`, `fd00::/120`) that discovery probes.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Largest range discovery accepts (addresses): probing more would take hours at a polite rate.
pub const MAX_RANGE: u128 = 1 << 16;

/// An IPv4 or IPv6 network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The network address (host bits cleared).
    pub network: IpAddr,
    /// Prefix length in bits.
    pub prefix: u8,
}

/// Why a range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not `ADDRESS/PREFIX`.
    #[error("{0:?} is not a CIDR range like 127.0.0.0/24")]
    Syntax(String),
    /// The prefix is longer than the address.
    #[error("prefix /{prefix} is too long for {addr}")]
    Prefix {
        /// The address given.
        addr: IpAddr,
        /// The prefix given.
        prefix: u8,
    },
    /// More than [`MAX_RANGE`] addresses.
    #[error("{0} holds more than 65536 addresses; narrow it (e.g. /16 for IPv4, /112 for IPv6)")]
    TooLarge(String),
}

fn bits(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(v4: bool, v: u128) -> IpAddr {
    if v4 {
        IpAddr::V4((v as u32).into())
    } else {
        IpAddr::V6(v.into())
    }
}

impl Cidr {
    /// The range of `prefix` bits around `addr`, host bits cleared.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        let width = bits(addr);
        if prefix > width {
            return Err(CidrError::Prefix { addr, prefix });
        }
        let host_bits = u32::from(width - prefix);
        let mask = if host_bits >= 128 {
            0
        } else {
            !((1u128 << host_bits) - 1)
        };
        Ok(Cidr {
            network: from_u128(addr.is_ipv4(), to_u128(addr) & mask),
            prefix,
        })
    }

    /// Number of addresses in the range.
    pub fn len(&self) -> u128 {
        let host_bits = u32::from(bits(self.network) - self.prefix);
        if host_bits >= 128 {
            u128::MAX
        } else {
            1u128 << host_bits
        }
    }

    /// Never true: a range holds at least one address (clippy wants the pair).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `addr` lies in the range.
    pub fn contains(&self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.network.is_ipv4()
            && Cidr::new(addr, self.prefix).is_ok_and(|c| c.network == self.network)
    }

    /// The `i`-th address of the range (`i < len()`).
    pub fn nth(&self, i: u128) -> IpAddr {
        from_u128(self.network.is_ipv4(), to_u128(self.network).wrapping_add(i))
    }

    /// Every address worth probing: for IPv4 ranges wider than /31, the network and broadcast
    /// addresses are skipped.
    pub fn hosts(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let len = self.len();
        let skip_ends = self.network.is_ipv4() && self.prefix < 31;
        let (first, last) = if skip_ends { (1, len - 1) } else { (0, len) };
        (first..last).map(move |i| self.nth(i))
    }
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let syntax = || CidrError::Syntax(s.to_string());
        let (addr, prefix) = s.trim().split_once('/').ok_or_else(syntax)?;
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        let prefix: u8 = prefix.parse().map_err(|_| syntax())?;
        let cidr = Cidr::new(addr, prefix)?;
        if cidr.len() > MAX_RANGE {
            return Err(CidrError::TooLarge(s.to_string()));
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_iterates_hosts() {
        let c: Cidr = "127.0.0.7/24".parse().unwrap();
        assert_eq!(c.to_string(), "127.0.0.0/24");
        assert_eq!(c.hosts().count(), 254);
        assert!(c.contains("127.0.0.200".parse().unwrap()));
        assert!(!c.contains("127.0.1.1".parse().unwrap()));
        assert!("10.0.0.0/8".parse::<Cidr>().is_err());
        assert!("::1/128".parse::<Cidr>().is_ok());
        assert!("nonsense".parse::<Cidr>().is_err());
    }
}
