//! Host specifications: what `10.1.0.0/16`, `em0`, `gw.example.net` or
//! `3ffe::1` stand for, tried in ipsecctl's order: interface, IPv4 address
//! or network, IPv6, then host name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::rules::model::HostAddr;
use crate::rules::{inet, num};
use crate::system::names::{Lookup, Names};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// `/bits` that is not a number from 0 to 128.
    InvalidNetmask(String),
    NotFound,
    /// A name the configuration does not declare, in offline mode.
    Undeclared,
}

fn addr(ip: IpAddr, prefix: u8, net: bool, name: impl Into<Arc<str>>) -> HostAddr {
    HostAddr {
        ip,
        prefix,
        net,
        name: name.into(),
        nat: None,
    }
}

/// Resolves one host specification to its addresses.
pub fn resolve(spec: &str, names: &Names) -> Result<Vec<HostAddr>, HostError> {
    let (bare, mask) = match spec.rfind('/') {
        Some(slash) => {
            // -1 is how ipsecctl marks "no mask", so `/-1` means none
            let bits = num::strtol(&spec[slash + 1..])
                .filter(|b| (-1..=128).contains(b))
                .ok_or_else(|| HostError::InvalidNetmask(spec[slash..].to_string()))?;
            (&spec[..slash], u8::try_from(bits).ok())
        }
        None => (spec, None),
    };
    let ifaddrs = names.interface(bare);
    if !ifaddrs.is_empty() {
        return Ok(ifaddrs
            .into_iter()
            .map(|ip| {
                let full = if ip.is_ipv4() { 32 } else { 128 };
                addr(ip, full, false, bare)
            })
            .collect());
    }
    if let Some(a) = v4(spec) {
        return Ok(vec![a]);
    }
    if let Some(ip) = inet::pton6(bare) {
        return Ok(vec![v6(ip, mask.unwrap_or(128))]);
    }
    if mask.is_some() {
        return Err(HostError::NotFound);
    }
    if bare.len() != spec.len() && inet::pton4(bare).is_some() {
        // `a.b.c.d/-1`: ipsecctl looks the whole text up as a name
        return Err(HostError::NotFound);
    }
    match names.host(spec) {
        Lookup::Found(ips) => Ok(ips.into_iter().map(resolved).collect()),
        Lookup::NotFound => Err(HostError::NotFound),
        Lookup::Undeclared => Err(HostError::Undeclared),
    }
}

/// An IPv4 address, or with `/bits` a network; named as written.
fn v4(spec: &str) -> Option<HostAddr> {
    if spec.contains('/') {
        let (ip, bits) = inet::net_pton4(spec)?;
        Some(addr(IpAddr::V4(ip), bits, true, spec))
    } else {
        let ip = inet::pton4(spec)?;
        Some(addr(IpAddr::V4(ip), 32, false, spec))
    }
}

/// An IPv6 address or network, named in its canonical form.
fn v6(ip: Ipv6Addr, prefix: u8) -> HostAddr {
    let text = inet::ntop6(&ip);
    if prefix == 128 {
        addr(IpAddr::V6(ip), 128, false, text)
    } else {
        addr(IpAddr::V6(ip), prefix, true, format!("{text}/{prefix}"))
    }
}

/// An address a host name resolved to.  ipsecctl sets no netmask on the
/// IPv6 ones, so they print with `/0`; kept, since that is what it loads.
fn resolved(ip: IpAddr) -> HostAddr {
    match ip {
        IpAddr::V4(v4) => addr(ip, 32, false, v4.to_string()),
        IpAddr::V6(v6) => addr(ip, 0, false, inet::ntop6(&v6)),
    }
}

/// `any`, expanded: every IPv4 and every IPv6 address.  Made once: every
/// rule without a network shares the names.
pub fn any() -> [HostAddr; 2] {
    static ANY: std::sync::OnceLock<[HostAddr; 2]> = std::sync::OnceLock::new();
    ANY.get_or_init(|| {
        [
            addr(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0, true, "0.0.0.0/0"),
            addr(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0, true, "::/0"),
        ]
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn names() -> Names {
        Names::new(
            HashMap::from([(
                "gw".to_string(),
                vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
            )]),
            HashMap::from([(
                "lo0".to_string(),
                vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            )]),
            false,
        )
    }

    fn one(spec: &str) -> HostAddr {
        let mut v = resolve(spec, &names()).unwrap();
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn addresses_and_networks_keep_their_written_names() {
        let a = one("10.0.2/24");
        assert_eq!((&*a.name, a.prefix, a.net), ("10.0.2/24", 24, true));
        assert_eq!(a.ip, "10.0.2.0".parse::<IpAddr>().unwrap());
        let a = one("1.1.1.1/32");
        assert!(a.net);
        let a = one("3ffe:1::0/24");
        assert_eq!((&*a.name, a.prefix), ("3ffe:1::/24", 24));
        let a = one("3ffe::1");
        assert_eq!((&*a.name, a.net), ("3ffe::1", false));
    }

    #[test]
    fn interfaces_and_names() {
        let v = resolve("lo0", &names()).unwrap();
        assert_eq!(v.len(), 2);
        assert!(v.iter().all(|a| &*a.name == "lo0" && !a.net));
        let v = resolve("gw", &names()).unwrap();
        assert_eq!(&*v[1].name, "2001:db8::1");
        assert_eq!(v[1].prefix, 0);
        assert_eq!(resolve("gw/24", &names()), Err(HostError::NotFound));
        assert_eq!(resolve("nosuch", &names()), Err(HostError::Undeclared));
        assert_eq!(
            resolve("1.2.3.4/129", &names()),
            Err(HostError::InvalidNetmask("/129".into()))
        );
        assert_eq!(resolve("1.2.3.4/33", &names()), Err(HostError::NotFound));
    }
}
