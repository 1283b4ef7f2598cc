//! Address text as OpenBSD's libc reads and writes it.  ipsecctl's tags are
//! built from these strings, so the details matter: IPv4 octets may have
//! leading zeros, `a.b.c/bits` is a network, and IPv6 is printed with the
//! first longest run of zero groups shortened and embedded IPv4 where
//! inet_ntop(3) uses it.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A non-empty run of decimal digits (leading zeros allowed) whose value
/// is at most `max`.
fn decimal(digits: &[u8], max: u32) -> Option<u32> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, &b| {
        let v = acc * 10 + u32::from(b.is_ascii_digit().then(|| b - b'0')?);
        (v <= max).then_some(v)
    })
}

/// inet_pton(3) for IPv4: exactly four dotted decimal octets.
pub fn pton4(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut n = 0;
    // split as bytes: a str pattern search costs more than the octets
    for part in s.as_bytes().split(|&b| b == b'.') {
        if n == 4 {
            return None;
        }
        octets[n] = decimal(part, 255)? as u8;
        n += 1;
    }
    (n == 4).then(|| Ipv4Addr::from(octets))
}

/// inet_pton(3) for IPv6.
pub fn pton6(s: &str) -> Option<Ipv6Addr> {
    s.parse().ok()
}

/// inet_net_pton(3) for IPv4 with a `/bits` suffix: the address (missing
/// octets zero) and the prefix length.
pub fn net_pton4(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (addr, bits) = s.split_once('/')?;
    let bits = decimal(bits.as_bytes(), 32)?;
    // more than four octets is no address: stop at the fifth
    let mut octets = [0u8; 4];
    let mut n = 0;
    let mut push = |o: u8| {
        let slot = octets.get_mut(n)?;
        *slot = o;
        n += 1;
        Some(())
    };
    if let Some(hex) = addr
        .strip_prefix("0x")
        .or_else(|| addr.strip_prefix("0X"))
        .filter(|h| h.bytes().next().is_some_and(|b| b.is_ascii_hexdigit()))
    {
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        for pair in hex.as_bytes().chunks(2) {
            let hi = (pair[0] as char).to_digit(16)? as u8;
            let lo = pair.get(1).map_or(Some(0), |&b| (b as char).to_digit(16))? as u8;
            push(hi << 4 | lo)?;
        }
    } else {
        for part in addr.as_bytes().split(|&b| b == b'.') {
            push(decimal(part, 255)? as u8)?;
        }
    }
    if n == 0 {
        return None;
    }
    Some((
        Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]),
        bits as u8,
    ))
}

/// inet_ntop(3) for IPv6, as OpenBSD formats it.
pub fn ntop6(addr: &Ipv6Addr) -> String {
    let words = addr.segments();
    let mut best: Option<(usize, usize)> = None;
    let mut cur: Option<(usize, usize)> = None;
    for (i, &w) in words.iter().enumerate() {
        if w == 0 {
            cur = Some(cur.map_or((i, 1), |(b, l)| (b, l + 1)));
        } else if let Some(run) = cur.take()
            && best.is_none_or(|b| run.1 > b.1)
        {
            best = Some(run);
        }
    }
    if let Some(run) = cur
        && best.is_none_or(|b| run.1 > b.1)
    {
        best = Some(run);
    }
    let best = best.filter(|&(_, len)| len >= 2);
    let mut out = String::new();
    let mut i = 0;
    while i < 8 {
        if let Some((base, len)) = best
            && i == base
        {
            out.push(':');
            i += len;
            if i == 8 {
                out.push(':');
            }
            continue;
        }
        if i != 0 {
            out.push(':');
        }
        let embedded_v4 = i == 6
            && best.is_some_and(|(b, l)| b == 0 && (l == 6 || (l == 5 && words[5] == 0xffff)));
        if embedded_v4 {
            let o = addr.octets();
            let _ = write!(out, "{}.{}.{}.{}", o[12], o[13], o[14], o[15]);
            break;
        }
        let _ = write!(out, "{:x}", words[i]);
        i += 1;
    }
    out
}

/// A netmask of `prefix` bits, as an address of the same family.
pub fn mask4(prefix: u8) -> Ipv4Addr {
    let bits = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    Ipv4Addr::from(bits)
}

pub fn mask6(prefix: u8) -> Ipv6Addr {
    let bits = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix.min(128)))
    };
    Ipv6Addr::from(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_text() {
        assert_eq!(pton4("010.1.1.1"), Some(Ipv4Addr::new(10, 1, 1, 1)));
        assert_eq!(pton4("1.1.1"), None);
        assert_eq!(pton4("1.1.1.256"), None);
        assert_eq!(pton4("1.1.1.1."), None);
        assert_eq!(
            net_pton4("10.0.2/24"),
            Some((Ipv4Addr::new(10, 0, 2, 0), 24))
        );
        assert_eq!(
            net_pton4("0x0a01/16"),
            Some((Ipv4Addr::new(10, 1, 0, 0), 16))
        );
        assert_eq!(net_pton4("1.2.3.4/33"), None);
        assert_eq!(net_pton4("1.2.3.4.5/8"), None);
        assert_eq!(net_pton4("1.2.3.4/-1"), None);
    }

    #[test]
    fn ipv6_text() {
        let t = |s: &str| ntop6(&s.parse().unwrap());
        assert_eq!(t("3ffe:1::0"), "3ffe:1::");
        assert_eq!(t("::"), "::");
        assert_eq!(t("::1"), "::1");
        assert_eq!(t("::2:3"), "::0.2.0.3");
        assert_eq!(t("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(t("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
        assert_eq!(t("1:0:0:2:0:0:3:4"), "1::2:0:0:3:4");
        assert_eq!(t("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7");
        assert_eq!(t("ffff:ffff:ffff:ffff::"), "ffff:ffff:ffff:ffff::");
    }

    #[test]
    fn masks() {
        assert_eq!(mask4(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(mask4(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(ntop6(&mask6(64)), "ffff:ffff:ffff:ffff::");
    }
}
