//! The isakmpd FIFO lines that take a fragment's connections down, bring
//! them back, or clean up after `ipsecctl -d`, which removes a connection
//! and its two main sections but leaves the rest — and the phase 1 peer,
//! which isakmpd then keeps trying to reach.
//!
//! Whatever a rule that stays still uses is left alone: a phase 1 peer
//! shared with another fragment, or an identity section two connections
//! have in common.

use std::collections::HashSet;

use crate::manager::sections::{IkeSections, ike_sections};
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

impl Kept {
    fn of(remaining: &[&Ike]) -> Kept {
        let mut kept = Kept {
            sections: HashSet::new(),
            phase1: HashSet::new(),
            peers: HashSet::new(),
        };
        for ike in remaining {
            let s = ike_sections(ike);
            kept.phase1.insert(s.phase1.clone());
            if let Some(addr) = &s.peer_address {
                kept.peers.insert(addr.clone());
            }
            kept.sections.extend(s.phase1_sections);
            kept.sections.extend(s.id_sections);
            kept.sections.extend(s.phase2_sections);
            kept.sections.extend(s.network_ids);
        }
        kept
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
    let kept = Kept::of(remaining);
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
    for s in orphaned_peers(&removed, &kept) {
        teardown_phase1(&mut lines, s, &kept);
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
    let kept = Kept::of(remaining);
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
