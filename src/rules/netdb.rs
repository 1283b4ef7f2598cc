//! Protocol and port names, from the built-in tables rather than the local
//! machine's files, so that the same configuration compiles the same way on
//! a gateway and on a CI runner.

use crate::rules::netdb_table::{PROTOCOLS, SERVICES};

pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ESP: u8 = 50;
pub const IPPROTO_AH: u8 = 51;

/// getprotobyname(3): a protocol by name or alias.  ipsecctl keeps the
/// number in a byte, so the pseudo-protocol `divert` (258) becomes 2.
pub fn protocol_number(name: &str) -> Option<u8> {
    PROTOCOLS
        .iter()
        .find(|(n, _, aliases)| *n == name || aliases.contains(&name))
        .map(|&(_, num, _)| num as u8)
}

/// getprotobynumber(3): the protocol's official name.
pub fn protocol_name(num: u8) -> Option<&'static str> {
    PROTOCOLS
        .iter()
        .find(|&&(_, n, _)| n == u16::from(num))
        .map(|&(name, _, _)| name)
}

/// getservbyname(3), trying tcp, then udp.
pub fn port_number(name: &str) -> Option<u16> {
    let find = |tcp: bool| {
        SERVICES
            .iter()
            .find(|&&(n, _, t, aliases)| t == tcp && (n == name || aliases.contains(&name)))
            .map(|&(_, port, _, _)| port)
    };
    find(true).or_else(|| find(false))
}

/// getservbyport(3): the service name of a tcp or udp port.
pub fn port_name(port: u16, tcp: bool) -> Option<&'static str> {
    SERVICES
        .iter()
        .find(|&&(_, p, t, _)| p == port && t == tcp)
        .map(|&(name, _, _, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(protocol_number("etherip"), Some(97));
        assert_eq!(protocol_number("UDP"), Some(17));
        assert_eq!(protocol_number("nosuch"), None);
        assert_eq!(protocol_name(97), Some("etherip"));
        assert_eq!(port_number("ssh"), Some(22));
        assert_eq!(port_number("ntp"), Some(123));
        assert_eq!(port_name(123, false), Some("ntp"));
        assert_eq!(port_name(2022, true), None);
    }
}
