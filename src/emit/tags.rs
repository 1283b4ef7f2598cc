//! The names isakmpd knows an ike rule's connections by.  Tearing a tunnel
//! down over the FIFO needs exactly these, so they are built in one place:
//!
//! ```text
//! phase 1   peer-<peer>                 peer-192.0.2.1
//!           peer-<peer>-local-<local>   peer-192.0.2.1-local-198.51.100.1
//!           peer-default                (no peer: the default peer)
//! phase 2   <local-id>-<remote-id>      from-10.1.0.0/24-to-10.2.0.0/24
//!   ids     from-<src>[=proto][:port]   from-10.1.0.0/24=6:22
//!           to-<dst>[=proto][:port]     to-10.2.0.0/24=6
//!           from-secN / to-secN         (ike interface secN)
//!   nat     nat-<net>[=proto][:port]    (flow NAT)
//! identity  id-<name>                   id-gw.example.net
//! ```
//!
//! Addresses appear as the rule names them: as written for IPv4, in
//! canonical form for IPv6, the interface name for an interface.

use std::collections::BTreeSet;

use crate::rules::model::{Ike, Rule, RuleKind};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IkeTags {
    pub phase1: String,
    pub phase2: String,
    pub local_id: String,
    pub remote_id: String,
    pub nat_id: Option<String>,
}

/// The phase 1 (peer) name of an ike rule.
pub fn phase1(ike: &Ike) -> String {
    match (&ike.peer, &ike.local) {
        (Some(peer), Some(local)) => ["peer-", &peer.name, "-local-", &local.name].concat(),
        (Some(peer), None) => ["peer-", &peer.name].concat(),
        (None, _) => "peer-default".to_string(),
    }
}

/// The section an identity is described in.
pub fn id_section(name: &str) -> String {
    ["id-", name].concat()
}

pub fn ike_tags(ike: &Ike) -> IkeTags {
    let phase1 = phase1(ike);
    let (local_id, remote_id, nat_id) = match ike.iface {
        Some(unit) => (format!("from-sec{unit}"), format!("to-sec{unit}"), None),
        None => {
            let mut proto = String::new();
            if ike.proto != 0 {
                proto.push('=');
                proto.push_str(itoa::Buffer::new().format(ike.proto));
            }
            let port = |p: u16| {
                let mut s = String::new();
                if p != 0 {
                    s.push(':');
                    s.push_str(itoa::Buffer::new().format(p));
                }
                s
            };
            let sport = port(ike.sport);
            (
                ["from-", &ike.src.name, &proto, &sport].concat(),
                ["to-", &ike.dst.name, &proto, &port(ike.dport)].concat(),
                ike.src
                    .nat
                    .as_ref()
                    .map(|nat| ["nat-", &nat.name, &proto, &sport].concat()),
            )
        }
    };
    IkeTags {
        phase1,
        phase2: [&local_id, "-", &remote_id].concat(),
        local_id,
        remote_id,
        nat_id,
    }
}

/// The phase 2 tags of the ike rules among `rules`.
pub fn phase2_tags(rules: &[&Rule]) -> BTreeSet<String> {
    rules
        .iter()
        .filter_map(|r| match &r.kind {
            RuleKind::Ike(i) => Some(ike_tags(i).phase2),
            _ => None,
        })
        .collect()
}
