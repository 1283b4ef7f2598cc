//! The isakmpd FIFO lines that take a fragment's connections down, bring
//! them back, or clean up after `ipsecctl -d`, which removes a connection
//! and its two main sections but leaves the rest — and the phase 1 peer,
//! which isakmpd then keeps trying to reach.
//!
//! Whatever a rule that stays still uses is left alone: a phase 1 peer
//! shared with another fragment, or an identity section two connections
//! have in common.

use std::collections::HashSet;

use crate::manager::sections::{IkeSections, id_sections, ike_sections};
use crate::rules::model::{Ike, Rule, RuleKind};

/// The ike rules among `rules`.
pub fn ikes<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> Vec<&'a Ike> {
    rules
        .into_iter()
        .filter_map(|r| match &r.kind {
            RuleKind::Ike(ike) => Some(ike.as_ref()),
            _ => None,
        })
        .collect()
}

/// What the rules that stay use.
struct Kept {
    sections: HashSet<String>,
    phase1: HashSet<String>,
    peers: HashSet<String>,
}

/// The names an ike rule's sections are built from: its peer, networks
/// and identities, each with whether it names only `[id-..]` sections.
/// Two rules whose keys all differ share no section, no phase 1, no peer.
fn section_keys(ike: &Ike) -> impl Iterator<Item = (bool, u8, Option<&str>)> {
    [
        (false, 0, ike.peer.as_ref().map(|p| p.name.as_str())),
        (false, 1, Some(ike.src.name.as_str())),
        (false, 2, Some(ike.dst.name.as_str())),
        (false, 3, ike.src.nat.as_ref().map(|n| n.name.as_str())),
        // a local identity may be another rule's remote one: one kind
        (true, 4, ike.srcid.as_ref().map(|i| i.name.as_str())),
        (true, 4, ike.dstid.as_ref().map(|i| i.name.as_str())),
    ]
    .into_iter()
    // a rule without a peer uses the default one; without the others, none
    .filter(|&(_, k, name)| k == 0 || name.is_some())
}

impl Kept {
    /// What `remaining` uses of what `touched` uses.  Only the remaining
    /// rules sharing a name with a touched one are looked at closely: on a
    /// gateway of thousands of tunnels, writing out every rule's sections
    /// would cost more than reading the configuration.
    fn of(remaining: &[&Ike], touched: &[&Ike]) -> Kept {
        let mut kept = Kept {
            sections: HashSet::new(),
            phase1: HashSet::new(),
            peers: HashSet::new(),
        };
        let keys: rustc_hash::FxHashSet<(u8, Option<&str>)> = touched
            .iter()
            .flat_map(|i| section_keys(i))
            .map(|(_, k, name)| (k, name))
            .collect();
        for ike in remaining {
            let (mut shares, mut beyond_ids) = (false, false);
            for (id_only, k, name) in section_keys(ike) {
                if keys.contains(&(k, name)) {
                    shares = true;
                    beyond_ids |= !id_only;
                }
            }
            // `from-secN` names come from the interface, not the networks
            if ike.iface.is_some() || beyond_ids {
                kept.add(ike);
            } else if shares {
                // many tunnels share the gateway's own identity: only its
                // section is in common
                kept.sections.extend(id_sections(ike));
            }
        }
        kept
    }

    /// Everything `ike` uses.
    fn add(&mut self, ike: &Ike) {
        let s = ike_sections(ike);
        self.phase1.insert(s.phase1.clone());
        if let Some(addr) = &s.peer_address {
            self.peers.insert(addr.clone());
        }
        self.sections.extend(s.phase1_sections);
        self.sections.extend(s.id_sections);
        self.sections.extend(s.phase2_sections);
        self.sections.extend(s.network_ids);
    }
}

fn push_unique(lines: &mut Vec<String>, line: String) {
    if !lines.contains(&line) {
        lines.push(line);
    }
}

/// The distinct phase 1 peers of `removed` that no remaining rule uses.
fn orphaned_peers<'a>(removed: &'a [IkeSections], kept: &Kept) -> Vec<&'a IkeSections> {
    let mut seen = HashSet::new();
    removed
        .iter()
        .filter(|s| !kept.phase1.contains(&s.phase1) && seen.insert(s.phase1.clone()))
        .collect()
}

fn teardown_phase1(lines: &mut Vec<String>, s: &IkeSections, kept: &Kept) {
    push_unique(lines, format!("t main {}", s.phase1));
    // newer isakmpd also finds a phase 1 SA by the peer's address, which
    // catches SAs set up by the peer (whose name isakmpd did not choose)
    if let Some(addr) = &s.peer_address
        && !kept.peers.contains(addr)
    {
        push_unique(lines, format!("t main {addr}"));
    }
}

/// After `ipsecctl -d -f` of `removed`: remove the sections it left behind.
pub fn cleanup_lines(removed: &[&Ike], remaining: &[&Ike]) -> Vec<String> {
    cleanup_with(removed, &Kept::of(remaining, removed))
}

fn cleanup_with(removed: &[&Ike], kept: &Kept) -> Vec<String> {
    let removed: Vec<IkeSections> = removed.iter().map(|i| ike_sections(i)).collect();
    let mut lines = Vec::new();
    for s in &removed {
        // ipsecctl -d removes the connection section and its configuration
        let done = [s.phase2.clone(), format!("phase2-{}", s.phase2)];
        for section in s.phase2_sections.iter().chain(&s.network_ids) {
            if !done.contains(section) && !kept.sections.contains(section) {
                push_unique(&mut lines, format!("C rms [{section}]"));
            }
        }
    }
    for s in orphaned_peers(&removed, kept) {
        teardown_phase1(&mut lines, s, kept);
        push_unique(&mut lines, format!("C rm [Phase 1]:{}", s.phase1_key));
        for section in s.phase1_sections.iter().chain(&s.id_sections) {
            if !kept.sections.contains(section) {
                push_unique(&mut lines, format!("C rms [{section}]"));
            }
        }
    }
    lines
}

/// `down`: tear every connection down, and each phase 1 peer no remaining
/// rule uses; the configuration stays.
pub fn down_lines(ikes: &[&Ike], remaining: &[&Ike]) -> Vec<String> {
    let kept = Kept::of(remaining, ikes);
    let sections: Vec<IkeSections> = ikes.iter().map(|i| ike_sections(i)).collect();
    let mut lines = Vec::new();
    for s in &sections {
        push_unique(&mut lines, format!("t {}", s.phase2));
    }
    for s in orphaned_peers(&sections, &kept) {
        teardown_phase1(&mut lines, s, &kept);
    }
    lines
}

/// `up`: start each connection again (`t` took it off isakmpd's list of
/// active connections); passive ones wait for their peer.
pub fn up_lines(ikes: &[&Ike]) -> Vec<String> {
    let mut lines = Vec::new();
    for s in ikes.iter().map(|i| ike_sections(i)).filter(|s| !s.passive) {
        push_unique(&mut lines, format!("c {}", s.phase2));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::{Options, compile_text};
    use crate::rules::model::RuleKind;
    use crate::system::files::Root;
    use crate::system::names::Names;

    /// Looking closely only at rules that share a name gives what looking
    /// at every rule gives, whichever rule is taken away.
    #[test]
    fn the_shortcut_keeps_what_every_rule_keeps() {
        let text = "\
ike esp from 10.1.0.0/24 to 10.2.0.0/24 peer 192.0.2.1 psk \"k1-0123456789\"
ike esp from 10.1.1.0/24 to 10.2.1.0/24 peer 192.0.2.1 psk \"k1-0123456789\"
ike esp from 10.1.0.0/24 to 10.3.0.0/24 peer 192.0.2.2 srcid gw.example dstid a.example psk \"k2-0123456789\"
ike esp from 10.4.0.0/24 to 10.5.0.0/24 peer 192.0.2.3 srcid gw.example psk \"k3-0123456789\"
ike esp from 10.6.0.0/24 to 10.7.0.0/24 peer 192.0.2.4 local 192.0.2.100 psk \"k4-0123456789\"
ike esp from 10.8.0.0/24 to 10.7.0.0/24 peer 192.0.2.4 psk \"k4-0123456789\"
ike passive esp from 10.9.0.0/24 to any psk \"k5-0123456789\"
ike passive esp from 10.10.0.0/24 to any psk \"k5-0123456789\"
ike esp from 10.11.0.0/24 to 10.12.0.0/24 peer 192.0.2.5 main enc aes-256 psk \"k6-0123456789\"
ike esp from 10.11.0.0/24 to 10.13.0.0/24 peer 192.0.2.6 quick enc aes-256 psk \"k7-0123456789\"
ike esp from 10.14.0.0/24 to 10.15.0.0/24 peer 192.0.2.7 srcid a.example psk \"k8-0123456789\"
";
        let names = Names::default();
        let opts = Options {
            root: Root(None),
            check_secrecy: false,
            names: &names,
            hostname: "gw.example".into(),
            main_local: false,
        };
        let c = compile_text("t", text.as_bytes().to_vec(), &opts);
        assert!(!c.has_errors(), "{:?}", c.diags);
        let ikes: Vec<&Ike> = c
            .rules
            .iter()
            .filter_map(|r| match &r.kind {
                RuleKind::Ike(i) => Some(&**i),
                _ => None,
            })
            .collect();
        assert_eq!(ikes.len(), 11);
        for i in 0..ikes.len() {
            let touched = [ikes[i]];
            let remaining: Vec<&Ike> = (0..ikes.len())
                .filter(|&j| j != i)
                .map(|j| ikes[j])
                .collect();
            let fast = Kept::of(&remaining, &touched);
            let mut full = Kept {
                sections: HashSet::new(),
                phase1: HashSet::new(),
                peers: HashSet::new(),
            };
            for ike in &remaining {
                full.add(ike);
            }
            let theirs = ike_sections(ikes[i]);
            let mine: Vec<&String> = theirs
                .phase1_sections
                .iter()
                .chain(&theirs.id_sections)
                .chain(&theirs.phase2_sections)
                .chain(&theirs.network_ids)
                .collect();
            for section in mine {
                assert_eq!(
                    fast.sections.contains(section),
                    full.sections.contains(section),
                    "rule {i}: {section}"
                );
            }
            assert_eq!(
                fast.phase1.contains(&theirs.phase1),
                full.phase1.contains(&theirs.phase1),
                "rule {i}"
            );
            if let Some(peer) = &theirs.peer_address {
                assert_eq!(fast.peers.contains(peer), full.peers.contains(peer));
            }
            assert_eq!(
                cleanup_with(&touched, &fast),
                cleanup_with(&touched, &full),
                "rule {i}"
            );
        }
    }
}
