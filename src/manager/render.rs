//! Rules back to ipsec.conf statements, one rule each, so that ipsecctl can
//! load (or delete) exactly some rules of a fragment and no others.  Read
//! again, each statement gives back the same rule: same addresses as
//! named, same transforms, same tags.

use std::fmt::Write as _;

use crate::emit::isakmpd::REDACTED;
use crate::rules::model::*;
use crate::rules::xf::Transforms;

/// A quoted string, as the lexer reads it back.
fn quoted(s: &str) -> String {
    let q = if s.contains('"') && !s.contains('\'') {
        '\''
    } else {
        '"'
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        if c == q {
            out.push('\\');
        }
        out.push(c);
    }
    out.push(q);
    out
}

fn host(a: &HostAddr) -> String {
    match &a.nat {
        Some(nat) => format!("{} ({})", quoted(&a.name), quoted(&nat.name)),
        None => quoted(&a.name),
    }
}

fn endpoints(out: &mut String, proto: u8, src: &HostAddr, sport: u16, dst: &HostAddr, dport: u16) {
    if proto != 0 {
        let _ = write!(out, " proto {proto}");
    }
    let _ = write!(out, " from {}", host(src));
    if sport != 0 {
        let _ = write!(out, " port {sport}");
    }
    let _ = write!(out, " to {}", host(dst));
    if dport != 0 {
        let _ = write!(out, " port {dport}");
    }
}

fn peers(out: &mut String, local: &Option<HostAddr>, peer: &Option<HostAddr>) {
    if let Some(l) = local {
        let _ = write!(out, " local {}", quoted(&l.name));
    }
    match peer {
        Some(p) => {
            let _ = write!(out, " peer {}", quoted(&p.name));
        }
        None => out.push_str(" peer any"),
    }
}

fn transforms(out: &mut String, x: &Transforms) {
    if let Some(a) = x.auth {
        let _ = write!(out, " auth {}", a.name);
    }
    if let Some(e) = x.enc {
        let _ = write!(out, " enc {}", e.name);
    }
    if let Some(c) = x.comp {
        let _ = write!(out, " comp {}", c.name);
    }
    if let Some(g) = x.group {
        let _ = write!(out, " group {}", g.name);
    }
}

fn key(out: &mut String, what: &str, k: &Option<Key>, show: bool) {
    let Some(k) = k else { return };
    let _ = write!(out, " {what} ");
    if !show {
        out.push_str(REDACTED);
        return;
    }
    out.push_str("0x");
    for b in &k.0 {
        let _ = write!(out, "{b:02x}");
    }
}

fn flow(f: &Flow) -> String {
    let mut out = format!("flow {} {}", f.satype, f.direction);
    endpoints(&mut out, f.proto, &f.src, f.sport, &f.dst, f.dport);
    if let Some((srcid, dstid)) = &f.ids {
        peers(&mut out, &f.local, &f.peer);
        if let Some(id) = srcid {
            let _ = write!(out, " srcid {}", quoted(id));
        }
        if let Some(id) = dstid {
            let _ = write!(out, " dstid {}", quoted(id));
        }
    }
    let _ = write!(out, " type {}", f.flow_type);
    out
}

fn sa(s: &Sa, show: bool) -> String {
    let mut out = match s.satype {
        SaType::Tcpmd5 => "tcpmd5".to_string(),
        t => format!("{t} {}", s.tmode),
    };
    let _ = write!(
        out,
        " from {} to {} spi 0x{:08x}",
        host(&s.src),
        host(&s.dst),
        s.spi
    );
    if s.satype != SaType::Tcpmd5 {
        if s.udpencap {
            out.push_str(" udpencap");
            if s.udp_port != 0 {
                let _ = write!(out, " port {}", s.udp_port);
            }
        }
        transforms(&mut out, &s.xfs);
    }
    key(&mut out, "authkey", &s.authkey, show);
    key(&mut out, "enckey", &s.enckey, show);
    out
}

fn phase(out: &mut String, word: &str, p: &Phase) {
    out.push(' ');
    out.push_str(word);
    transforms(out, &p.xfs);
    if let Some(l) = p.lifetime {
        let _ = write!(out, " lifetime {l}");
    }
}

fn ike(i: &Ike, show: bool) -> String {
    let mut out = format!("ike {}", i.mode);
    match i.iface {
        Some(unit) => {
            let _ = write!(out, " interface sec{unit}");
        }
        None => {
            let _ = write!(out, " {} {}", i.satype, i.tmode);
            endpoints(&mut out, i.proto, &i.src, i.sport, &i.dst, i.dport);
        }
    }
    peers(&mut out, &i.local, &i.peer);
    let exchange = if i.phase1.aggressive {
        "aggressive"
    } else {
        "main"
    };
    phase(&mut out, exchange, &i.phase1);
    phase(&mut out, "quick", &i.phase2);
    if let Some(id) = &i.srcid {
        let _ = write!(out, " srcid {}", quoted(&id.name));
    }
    if let Some(id) = &i.dstid {
        let _ = write!(out, " dstid {}", quoted(&id.name));
    }
    match &i.auth {
        IkeAuth::Rsa => out.push_str(" rsa"),
        // a key of the keys file is written as its macro: ipsecctl is
        // handed the keys file with the rules (see manager::exec), and
        // the file, the plan and the journal hold no key
        IkeAuth::Psk(Secret(_, Some(m))) if m.keys => {
            let _ = write!(out, " psk ${}", m.name);
        }
        IkeAuth::Psk(p) if show => {
            let _ = write!(out, " psk {}", quoted(&p.0));
        }
        IkeAuth::Psk(_) => {
            let _ = write!(out, " psk {REDACTED}");
        }
    }
    if let (Some(tag), None) = (&i.tag, i.iface) {
        let _ = write!(out, " tag {}", quoted(tag));
    }
    out
}

/// The statement for one rule; `None` for a bundle, which only exists
/// between SAs.  Secrets are written only when `show_secrets`.
pub fn statement(rule: &Rule, show_secrets: bool) -> Option<String> {
    Some(match &rule.kind {
        RuleKind::Flow(f) => flow(f),
        RuleKind::Sa(s) => sa(s, show_secrets),
        RuleKind::Ike(i) => ike(i, show_secrets),
        RuleKind::Bundle(_) => return None,
    })
}

/// A file holding `rules`, for ipsecctl; `None` if one cannot be written
/// alone (a bundle).
pub fn file(rules: &[&Rule]) -> Option<String> {
    let mut text = String::from("# written by ipsecmgr for one ipsecctl run\n");
    for r in rules {
        text.push_str(&statement(r, true)?);
        text.push('\n');
    }
    Some(text)
}
