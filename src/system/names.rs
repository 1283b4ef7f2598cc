//! Host and interface names: from ipsecmgr's configuration when it declares
//! them, else from the system (interfaces, then the resolver).

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::OnceLock;

/// What looking a host name up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Vec<IpAddr>),
    NotFound,
    /// Not declared, and the system may not be asked.
    Undeclared,
}

#[derive(Debug, Default)]
pub struct Names {
    hosts: HashMap<String, Vec<IpAddr>>,
    interfaces: HashMap<String, Vec<IpAddr>>,
    use_system: bool,
    system_interfaces: OnceLock<HashMap<String, Vec<IpAddr>>>,
}

/// ipsecctl cannot use link-local IPv6 addresses of an interface.
fn usable(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
        IpAddr::V4(_) => true,
    }
}

impl Names {
    pub fn new(
        hosts: HashMap<String, Vec<IpAddr>>,
        interfaces: HashMap<String, Vec<IpAddr>>,
        use_system: bool,
    ) -> Self {
        Names {
            hosts,
            interfaces,
            use_system,
            system_interfaces: OnceLock::new(),
        }
    }

    /// The usable addresses of the interface `name`; empty when there is no
    /// such interface.
    pub fn interface(&self, name: &str) -> Vec<IpAddr> {
        let declared = self.interfaces.get(name).or_else(|| {
            if self.use_system {
                self.system_interfaces
                    .get_or_init(system_interfaces)
                    .get(name)
            } else {
                None
            }
        });
        declared
            .map(|addrs| addrs.iter().copied().filter(usable).collect())
            .unwrap_or_default()
    }

    /// The addresses of a host name.
    pub fn host(&self, name: &str) -> Lookup {
        if let Some(addrs) = self.hosts.get(name) {
            return Lookup::Found(addrs.clone());
        }
        if !self.use_system {
            return Lookup::Undeclared;
        }
        if looks_numeric(name) {
            // glibc would read `1.2.3` as an address; OpenBSD does not
            return Lookup::NotFound;
        }
        let Ok(found) = (name, 0).to_socket_addrs() else {
            return Lookup::NotFound;
        };
        let addrs: Vec<IpAddr> = found
            .filter(|sa| match sa {
                std::net::SocketAddr::V6(v6) => v6.scope_id() == 0,
                std::net::SocketAddr::V4(_) => true,
            })
            .map(|sa| sa.ip())
            .collect();
        if addrs.is_empty() {
            Lookup::NotFound
        } else {
            Lookup::Found(addrs)
        }
    }
}

/// `1.2.3`, `0x01020304`: address forms some resolvers accept and
/// ipsecctl's does not.
fn looks_numeric(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | 'x' | 'X'))
}

fn system_interfaces() -> HashMap<String, Vec<IpAddr>> {
    let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return map;
    };
    for ifa in addrs {
        let entry = map.entry(ifa.interface_name.clone()).or_default();
        let Some(addr) = ifa.address else { continue };
        if let Some(v4) = addr.as_sockaddr_in() {
            entry.push(IpAddr::V4(v4.ip()));
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            entry.push(IpAddr::V6(v6.ip()));
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_names_come_first_and_link_local_is_skipped() {
        let ifaces = HashMap::from([(
            "em0".to_string(),
            vec!["fe80::1".parse().unwrap(), "192.0.2.1".parse().unwrap()],
        )]);
        let hosts = HashMap::from([("gw".to_string(), vec!["192.0.2.9".parse().unwrap()])]);
        let names = Names::new(hosts, ifaces, false);
        assert_eq!(
            names.interface("em0"),
            vec!["192.0.2.1".parse::<IpAddr>().unwrap()]
        );
        assert!(names.interface("em1").is_empty());
        assert_eq!(
            names.host("gw"),
            Lookup::Found(vec!["192.0.2.9".parse().unwrap()])
        );
        assert_eq!(names.host("other"), Lookup::Undeclared);
    }
}
