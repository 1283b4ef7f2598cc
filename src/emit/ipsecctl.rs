//! Flows, SAs and bundles in the canonical form `ipsecctl -nv` prints:
//!
//! ```text
//! flow esp out from 10.1.0.0/24 to 10.2.0.0/24 peer 192.0.2.1 type require
//! esp tunnel from 1.1.1.1 to 2.2.2.2 spi 0xdeadbeef auth hmac-sha2-256 enc aes
//! [bundle ipip to 2.2.2.2 spi 0x1a000000 with esp to 2.2.2.2 spi 0x3a000000]
//! ```

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::rules::inet;
use crate::rules::model::{Bundle, Flow, HostAddr, Key, Sa, SaType};
use crate::rules::netdb;

/// An address with `/bits` unless it is a single host.
pub fn addr(a: &HostAddr) -> String {
    let ip = match a.ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => inet::ntop6(&v6),
    };
    if a.prefix == a.max_prefix() {
        ip
    } else {
        format!("{ip}/{}", a.prefix)
    }
}

fn port(port: u16, proto: u8) -> String {
    netdb::port_name(port, proto == netdb::IPPROTO_TCP)
        .map_or_else(|| port.to_string(), str::to_string)
}

pub fn flow(out: &mut String, f: &Flow) {
    let _ = write!(out, "flow {} {}", f.satype, f.direction);
    if f.proto != 0 {
        match netdb::protocol_name(f.proto) {
            Some(name) => {
                let _ = write!(out, " proto {name}");
            }
            None => {
                let _ = write!(out, " proto {}", f.proto);
            }
        }
    }
    let _ = write!(out, " from {}", addr(&f.src));
    if f.sport != 0 {
        let _ = write!(out, " port {}", port(f.sport, f.proto));
    }
    let _ = write!(out, " to {}", addr(&f.dst));
    if f.dport != 0 {
        let _ = write!(out, " port {}", port(f.dport, f.proto));
    }
    if let Some(local) = &f.local {
        let _ = write!(out, " local {}", addr(local));
    }
    if let Some(peer) = &f.peer {
        let _ = write!(out, " peer {}", addr(peer));
    }
    if let Some((srcid, dstid)) = &f.ids {
        if let Some(id) = srcid {
            let _ = write!(out, " srcid {id}");
        }
        if let Some(id) = dstid {
            let _ = write!(out, " dstid {id}");
        }
    }
    let _ = writeln!(out, " type {}", f.flow_type);
}

fn key(out: &mut String, sep: &str, what: &str, k: &Key) {
    let _ = write!(out, "{sep}{what} 0x");
    for b in &k.0 {
        let _ = write!(out, "{b:02x}");
    }
}

/// An SA; its keys only when `show_keys`.
pub fn sa(out: &mut String, s: &Sa, show_keys: bool) {
    let _ = write!(out, "{} ", s.satype);
    if !matches!(s.satype, SaType::Tcpmd5 | SaType::Ipip) {
        let _ = write!(out, "{} ", s.tmode);
    }
    let _ = write!(
        out,
        "from {} to {} spi 0x{:08x}",
        addr(&s.src),
        addr(&s.dst),
        s.spi
    );
    if s.satype != SaType::Tcpmd5 {
        if let Some(x) = s.xfs.auth {
            let _ = write!(out, " auth {}", x.name);
        }
        if let Some(x) = s.xfs.enc {
            let _ = write!(out, " enc {}", x.name);
        }
        if let Some(x) = s.xfs.comp {
            let _ = write!(out, " comp {}", x.name);
        }
    }
    if show_keys {
        let sep = if s.satype == SaType::Tcpmd5 {
            " "
        } else {
            " \\\n\t"
        };
        if let Some(k) = &s.authkey {
            key(out, sep, "authkey", k);
        }
        if let Some(k) = &s.enckey {
            key(out, sep, "enckey", k);
        }
    }
    out.push('\n');
}

pub fn bundle(out: &mut String, b: &Bundle) {
    let _ = writeln!(
        out,
        "[bundle {} to {} spi 0x{:08x} with {} to {} spi 0x{:08x}]",
        b.satype,
        addr(&b.dst),
        b.spi,
        b.satype2,
        addr(&b.dst2),
        b.spi2
    );
}
