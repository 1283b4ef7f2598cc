//! Tunnels that `down` cannot hold against their peer: when a fragment is
//! taken down, isakmpd may still accept its peer's re-initiation under
//! another fragment's connection name.
//!
//! isakmpd names a quick mode it answers with
//! connection.c: connection_passive_lookup_by_ids.  Its first loop wants a
//! connection whose local and remote IDs both match the proposal; its
//! second ("road warrior") loop takes the first connection whose local ID
//! alone equals either proposed ID.  Every connection ipsecctl loads is
//! recorded there (connection_init records all of `[Phase 2]:Connections`
//! not flagged Active-Only, which ipsecctl never sets, and all of
//! `Passive-Connections`).  So once tunnel T (local L, remote R) is off
//! the lists, a proposal for L and R is accepted as any connection C whose
//! local network is L (or R), and isakmpd installs T's networks under C's
//! name (tests/isakmpd_daemon.rs shows it on the real daemon).  The peer
//! gets that far only if it can still negotiate phase 1: `down` takes the
//! `[Phase 1]` key of a peer away unless a rule that stays up uses it.

use std::collections::HashMap;

use crate::emit::ipsecctl::addr;
use crate::rules::model::{Rule, RuleKind};

/// A rule of a unit (a fragment, or ipsec.conf itself): its index in the
/// unit's list.
pub type At = (usize, usize);

/// Tunnel `tunnel` cannot be held down: `via` keeps its peer's phase 1,
/// and `carrier` would carry its networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub tunnel: At,
    pub via: At,
    pub carrier: At,
}

/// The first few rules holding a key, of distinct units: enough to find
/// one of another unit that passes a test, however the first ones fail.
#[derive(Default)]
struct FirstFew(Vec<At>);

const FEW: usize = 3;

impl FirstFew {
    fn note(&mut self, at: At) {
        if self.0.len() < FEW && self.0.iter().all(|(u, _)| *u != at.0) {
            self.0.push(at);
        }
    }

    /// A rule of a unit other than `unit` that `also` accepts.
    fn other_than(&self, unit: usize, also: impl Fn(At) -> bool) -> Option<At> {
        self.0
            .iter()
            .copied()
            .find(|&(u, i)| u != unit && also((u, i)))
    }
}

/// Each ike rule of a unit that, with its unit taken down, another unit's
/// rule keeps reachable (the same peer address) and another unit's rule
/// would carry (the same local network as its local or remote one).
/// Linear in the rules.
pub fn exposures(units: &[Vec<&Rule>]) -> Vec<Exposure> {
    let mut by_peer: HashMap<String, FirstFew> = HashMap::new();
    let mut by_local: HashMap<String, FirstFew> = HashMap::new();
    for (u, rules) in units.iter().enumerate() {
        for (i, rule) in rules.iter().enumerate() {
            let RuleKind::Ike(ike) = &rule.kind else {
                continue;
            };
            if let Some(peer) = &ike.peer {
                by_peer.entry(addr(peer)).or_default().note((u, i));
            }
            by_local.entry(addr(&ike.src)).or_default().note((u, i));
        }
    }
    let mut found = Vec::new();
    for (u, rules) in units.iter().enumerate() {
        for (i, rule) in rules.iter().enumerate() {
            let RuleKind::Ike(ike) = &rule.kind else {
                continue;
            };
            let Some(via) = ike
                .peer
                .as_ref()
                .and_then(|p| by_peer.get(&addr(p)))
                .and_then(|f| f.other_than(u, |_| true))
            else {
                continue;
            };
            // the same networks in another file is the same connection
            // (L102 says so), not another one carrying it
            let networks = |(v, j): At| match &units[v][j].kind {
                RuleKind::Ike(o) => (addr(&o.src), addr(&o.dst)),
                _ => Default::default(),
            };
            let own = (addr(&ike.src), addr(&ike.dst));
            let carrier = [&own.0, &own.1].iter().find_map(|net| {
                by_local
                    .get(*net)
                    .and_then(|f| f.other_than(u, |at| networks(at) != own))
            });
            if let Some(carrier) = carrier {
                found.push(Exposure {
                    tunnel: (u, i),
                    via,
                    carrier,
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::{Options, compile_text};
    use crate::system::files::Root;
    use crate::system::names::Names;

    fn rules(text: &str) -> crate::compiler::Compiled {
        let names = Names::default();
        let opts = Options {
            root: Root(None),
            check_secrecy: false,
            names: &names,
            hostname: "gw.example".into(),
            main_local: false,
            keys: None,
        };
        let c = compile_text("t", text.as_bytes().to_vec(), &opts);
        assert!(!c.has_errors(), "{:?}", c.diags);
        c
    }

    fn unit(c: &crate::compiler::Compiled) -> Vec<&Rule> {
        c.rules.iter().collect()
    }

    #[test]
    fn a_tunnel_is_exposed_only_with_a_reachable_peer_and_a_carrier() {
        let t1 =
            rules("ike esp from 10.1.0.0/24 to 10.2.0.0/24 peer 192.0.2.1 psk \"k-0123456789\"\n");
        let same_peer_and_local =
            rules("ike esp from 10.1.0.0/24 to 10.3.0.0/24 peer 192.0.2.1 psk \"k-0123456789\"\n");
        let other_peer_same_local =
            rules("ike esp from 10.1.0.0/24 to 10.4.0.0/24 peer 192.0.2.9 psk \"k-0123456789\"\n");
        let same_peer_other_local =
            rules("ike esp from 10.5.0.0/24 to 10.6.0.0/24 peer 192.0.2.1 psk \"k-0123456789\"\n");
        // the peer keeps phase 1 and a neighbour carries: exposed
        let got = exposures(&[unit(&t1), unit(&same_peer_and_local)]);
        assert!(
            got.iter()
                .any(|e| e.tunnel == (0, 0) && e.carrier == (1, 0))
        );
        // a carrier, but the peer has no phase 1 once t1 is down
        let got = exposures(&[unit(&t1), unit(&other_peer_same_local)]);
        assert!(got.iter().all(|e| e.tunnel != (0, 0)));
        // phase 1 stays, but nothing else has t1's networks
        let got = exposures(&[unit(&t1), unit(&same_peer_other_local)]);
        assert!(got.is_empty(), "{got:?}");
        // both in one unit: down takes both
        let both = rules(
            "ike esp from 10.1.0.0/24 to 10.2.0.0/24 peer 192.0.2.1 psk \"k-0123456789\"\n\
             ike esp from 10.1.0.0/24 to 10.3.0.0/24 peer 192.0.2.1 psk \"k-0123456789\"\n",
        );
        assert!(exposures(&[unit(&both)]).is_empty());
    }
}
