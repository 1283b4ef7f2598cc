//! The isakmpd FIFO lines that take a fragment's connections down, bring
//! them back, or clean up after `ipsecctl -d`, which removes a connection
//! and its two main sections but leaves the rest — and the phase 1 peer,
//! which isakmpd then keeps trying to reach.
//!
//! Whatever a rule that stays still uses is left alone: a phase 1 peer
//! shared with another fragment, or an identity section two connections
//! have in common.  The removed side is always what was loaded (the names
//! stored when the fragment was loaded, see [`crate::manager::state`]).
//!
//! What isakmpd does with these lines (OpenBSD sbin/isakmpd):
//! - `t NAME` (ui.c: ui_teardown) calls connection_teardown and deletes the
//!   phase 2 SAs of that name; `t main TAG` deletes the phase 1 SAs named
//!   TAG.  `t main ADDRESS` is never sent: ui_teardown builds the address
//!   with port 0 and sa.c: sa_check_peer compares the port too, while every
//!   real SA's transport has 500 or 4500, so it never matches.  SAs the peer
//!   initiated are named from `[Phase 1]:<address>` (exchange.c), that is,
//!   by the tag.
//! - A `[Phase 2]:Connections` change arms ui_conn_reinit, and
//!   connection.c: connection_reinit rebuilds every connection from that
//!   list: a connection stays down only while it is off the list.

use std::collections::{HashMap, HashSet};

use rustc_hash::FxHashSet;

use crate::manager::sections::{
    IkeSections, ListValue, SectionKey, id_sections, ike_sections, section_keys,
};
use crate::rules::model::{Ike, IkeMode, Rule, RuleKind};

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

/// The ike rules held down with `down`, by address (they are looked up
/// among the tree's rules, so the address names the rule).
pub type HeldRules = HashSet<*const Ike>;

/// What the rules that stay use.
pub struct Kept {
    sections: HashSet<String>,
    /// Phase 1 tags a remaining rule's configuration uses (held down or
    /// not): their sections stay.
    phase1: HashSet<String>,
    /// Those a rule that stays up uses: their peers keep phase 1.
    phase1_up: HashSet<String>,
    phase2: HashSet<String>,
    list_values: HashSet<ListValue>,
    general: HashSet<String>,
    /// `[Phase 1]:<key>` → the tag the last rule with that key sets (in
    /// include order): what isakmpd holds after loading them (conf.c:
    /// each `C set ... force` replaces the value).
    phase1_keys: HashMap<String, String>,
}

impl Kept {
    pub fn empty() -> Kept {
        Kept {
            sections: HashSet::new(),
            phase1: HashSet::new(),
            phase1_up: HashSet::new(),
            phase2: HashSet::new(),
            list_values: HashSet::new(),
            general: HashSet::new(),
            phase1_keys: HashMap::new(),
        }
    }

    /// What `remaining` (in include order) uses of what rules with the
    /// section keys `touched` use.  Only the remaining rules sharing a name
    /// with a touched one are looked at closely: on a gateway of thousands
    /// of tunnels, writing out every rule's sections would cost more than
    /// reading the configuration.
    pub fn of(remaining: &[&Ike], touched: &[IkeSections]) -> Kept {
        Kept::holding(remaining, touched, &HashSet::new())
    }

    /// [`Kept::of`], with the rules in `held` held down: their sections
    /// stay (the configuration is kept), but they use no phase 1 peer and
    /// no `[Phase 1]` key — a held-down tunnel's peer must find no phase 1
    /// to answer it (see [`down_lines`]).
    pub fn holding(remaining: &[&Ike], touched: &[IkeSections], held: &HeldRules) -> Kept {
        let mut kept = Kept::empty();
        let keys: FxHashSet<&SectionKey> = touched.iter().flat_map(|s| &s.keys).collect();
        for ike in remaining {
            let is_held = held.contains(&(*ike as *const Ike));
            let (mut shares, mut beyond_ids) = (false, false);
            for key in section_keys(ike) {
                if keys.contains(&key) {
                    shares = true;
                    beyond_ids |= key.0 != 4;
                }
            }
            // `from-secN` names come from the interface, not the networks;
            // `ike dynamic` rules share the `[General]` check intervals
            if ike.iface.is_some() || beyond_ids || ike.mode == IkeMode::Dynamic {
                kept.add(&ike_sections(ike), is_held);
            } else if shares {
                // many tunnels share the gateway's own identity: only its
                // section is in common
                kept.sections.extend(id_sections(ike));
            }
        }
        kept
    }

    /// Everything `s` uses; a held-down rule no peer nor key.
    fn add(&mut self, s: &IkeSections, held: bool) {
        self.phase1.insert(s.phase1.clone());
        if !held {
            self.phase1_up.insert(s.phase1.clone());
            self.phase1_keys
                .insert(s.phase1_key.clone(), s.phase1.clone());
        }
        self.phase2.insert(s.phase2.clone());
        self.sections.extend(s.phase1_sections.iter().cloned());
        self.sections.extend(s.id_sections.iter().cloned());
        self.sections.extend(s.phase2_sections.iter().cloned());
        self.sections.extend(s.network_ids.iter().cloned());
        self.list_values.extend(s.list_values.iter().cloned());
        self.general.extend(s.general.iter().cloned());
    }

    /// The tag `[Phase 1]:<key>` holds after a fresh load of what stays.
    pub fn phase1_key(&self, key: &str) -> Option<&str> {
        self.phase1_keys.get(key).map(String::as_str)
    }
}

fn push_unique(lines: &mut Vec<String>, line: String) {
    if !lines.contains(&line) {
        lines.push(line);
    }
}

/// The FIFO lines that remove what `removed` loaded and nothing that stays,
/// in two parts: `connections` takes the connections away at once (its
/// first lines are ipsecmgr's own copy of what `ipsecctl -d` sends, harmless
/// to repeat); `phase1` removes the phase 1 peers no rule uses any more.
/// `phase1` may wait: an exchange in flight holds a pointer into its peer's
/// section (exchange.c: exchange_establish_p1 keeps the value of
/// `conf_get_str(name, "Configuration")` in exchange->policy, and conf.c
/// frees it when the section goes), so it is sent only once no exchange
/// with that peer is in flight.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cleanup {
    pub connections: Vec<String>,
    pub phase1: Vec<String>,
    /// The phase 1 tags no rule uses any more (`t main TAG` is in
    /// `connections`).
    pub orphans: Vec<String>,
}

impl Cleanup {
    /// Both parts, in order.
    pub fn all(&self) -> Vec<String> {
        let mut lines = self.connections.clone();
        lines.extend(self.phase1.iter().cloned());
        lines
    }
}

/// `[General]:DPD-check-interval`, which is never removed (see [`cleanup`]).
pub fn is_dpd_interval(tag: &str) -> bool {
    tag.eq_ignore_ascii_case("DPD-check-interval")
}

/// The distinct phase 1 peers of `removed` that no remaining rule uses.
fn orphaned_peers<'a>(removed: &'a [IkeSections], kept: &Kept) -> Vec<&'a IkeSections> {
    distinct_peers(removed, |s| !kept.phase1.contains(&s.phase1))
}

/// The distinct phase 1 peers of `own` that no rule staying up uses:
/// taking `own` down leaves them no tunnel.
fn peers_left_down<'a>(own: &'a [IkeSections], kept: &Kept) -> Vec<&'a IkeSections> {
    distinct_peers(own, |s| !kept.phase1_up.contains(&s.phase1))
}

/// The phase 1 tags of [`peers_left_down`].
pub fn peer_tags_left_down(own: &[IkeSections], kept: &Kept) -> Vec<String> {
    peers_left_down(own, kept)
        .into_iter()
        .map(|s| s.phase1.clone())
        .collect()
}

fn distinct_peers(of: &[IkeSections], keep: impl Fn(&IkeSections) -> bool) -> Vec<&IkeSections> {
    let mut seen = HashSet::new();
    of.iter()
        .filter(|s| keep(s) && seen.insert(s.phase1.clone()))
        .collect()
}

/// isakmpd's own `[Phase 1]:Default`, which it holds from its start
/// (conf.c: conf_load_defaults) until a `peer any` rule's forced set
/// replaces it; removing that one leaves none at all.
const BUILT_IN_DEFAULT: &str = "Default-phase-1";

/// `[Phase 1]:<key>` after `removed` goes: removed when no rule that stays
/// uses the key (`Default` back to isakmpd's own, as a fresh start has
/// it), else set to the tag a fresh load leaves there (another fragment's
/// peer at the same address, exchange.c looks the responder's phase 1 up
/// by it).
fn phase1_key_line(s: &IkeSections, kept: &Kept) -> Option<String> {
    match kept.phase1_key(&s.phase1_key) {
        None if s.phase1_key.eq_ignore_ascii_case("Default") => Some(format!(
            "C set [Phase 1]:{}={BUILT_IN_DEFAULT} force",
            s.phase1_key
        )),
        None => Some(format!("C rm [Phase 1]:{}", s.phase1_key)),
        Some(tag) if tag != s.phase1 => {
            Some(format!("C set [Phase 1]:{}={tag} force", s.phase1_key))
        }
        Some(_) => None,
    }
}

/// What takes away `removed` (as loaded) and leaves what `kept` uses.
pub fn cleanup(removed: &[IkeSections], kept: &Kept) -> Cleanup {
    let mut out = Cleanup::default();
    let orphans = orphaned_peers(removed, kept);
    let orphan_tags: HashSet<&str> = orphans.iter().map(|s| s.phase1.as_str()).collect();
    for s in removed {
        if !kept.phase2.contains(&s.phase2) {
            push_unique(&mut out.connections, format!("t {}", s.phase2));
        }
        let phase1_part = orphan_tags.contains(s.phase1.as_str());
        for v in s
            .list_values
            .iter()
            .filter(|v| !kept.list_values.contains(v))
        {
            let in_phase1 = s.phase1_sections.contains(&v.section);
            if in_phase1 && phase1_part {
                // the whole section goes with the peer
                continue;
            }
            push_unique(
                &mut out.connections,
                format!("C rmv [{}]:{}={}", v.section, v.tag, v.value),
            );
        }
        let own = s.phase2_sections.iter().chain(&s.network_ids);
        // a peer that stays loses the transforms nobody offers any more
        let stale_phase1 = s.phase1_sections.iter().filter(|_| !phase1_part);
        for section in own.chain(stale_phase1) {
            if !kept.sections.contains(section) {
                push_unique(&mut out.connections, format!("C rms [{section}]"));
            }
        }
        if !phase1_part && let Some(line) = phase1_key_line(s, kept) {
            push_unique(&mut out.connections, line);
        }
        // a fresh load without `ike dynamic` rules sets no check intervals;
        // but DPD-check-interval stays: with it gone, dpd.c:
        // dpd_timer_interval returns 0, and dpd_timer_reset re-arms the
        // timer of every DPD phase 1 SA at once on each R_U_THERE_ACK, a
        // storm of thousands of messages a second
        for tag in s
            .general
            .iter()
            .filter(|t| !kept.general.contains(*t) && !is_dpd_interval(t))
        {
            push_unique(&mut out.connections, format!("C rm [General]:{tag}"));
        }
    }
    for s in orphans {
        push_unique(&mut out.connections, format!("t main {}", s.phase1));
        out.orphans.push(s.phase1.clone());
    }
    out.phase1 = phase1_cleanup(removed, kept);
    out
}

/// The `phase1` part of [`cleanup`]: each orphaned peer's `[Phase 1]` key
/// and sections.
pub fn phase1_cleanup(removed: &[IkeSections], kept: &Kept) -> Vec<String> {
    let mut lines = Vec::new();
    for s in orphaned_peers(removed, kept) {
        if let Some(line) = phase1_key_line(s, kept) {
            push_unique(&mut lines, line);
        }
        let same_peer = removed.iter().filter(|r| r.phase1 == s.phase1);
        for r in same_peer {
            for section in r.phase1_sections.iter().chain(&r.id_sections) {
                if !kept.sections.contains(section) {
                    push_unique(&mut lines, format!("C rms [{section}]"));
                }
            }
        }
    }
    lines
}

/// After an `ipsecctl -f` of `added` (in their order): the `[Phase 1]`
/// keys a fresh load would leave to another tag (a later fragment's rule at
/// the same address), set back to it.
pub fn phase1_keys_after_load(added: &[IkeSections], kept: &Kept) -> Vec<String> {
    let mut last: Vec<(&str, &str)> = Vec::new();
    for s in added {
        last.retain(|(k, _)| *k != s.phase1_key);
        last.push((&s.phase1_key, &s.phase1));
    }
    let mut lines = Vec::new();
    for (key, tag) in last {
        if let Some(want) = kept.phase1_key(key)
            && want != tag
        {
            lines.push(format!("C set [Phase 1]:{key}={want} force"));
        }
    }
    lines
}

/// Compatibility for callers that have rules, not stored names: the
/// cleanup of `removed` against `remaining`, both parts.
pub fn cleanup_lines(removed: &[&Ike], remaining: &[&Ike]) -> Vec<String> {
    let removed: Vec<IkeSections> = removed.iter().map(|i| ike_sections(i)).collect();
    cleanup(&removed, &Kept::of(remaining, &removed)).all()
}

/// `down`: each connection off its list first, so that no reinit brings it
/// back (connection.c: connection_reinit), then torn down; and each phase 1
/// peer no rule that stays up uses: its phase 1 SAs torn down, and its
/// `[Phase 1]` key taken away (or given to the tag a rule that stays up
/// has there), so that the peer finds no phase 1 to negotiate with
/// (exchange.c: exchange_setup_p1 answers only addresses that key names,
/// or `Default`).  Without phase 1, an active peer cannot re-initiate the
/// tunnel.  The rest of the configuration stays.
pub fn down_lines(own: &[IkeSections], kept: &Kept) -> Vec<String> {
    let mut lines = Vec::new();
    for s in own {
        push_unique(
            &mut lines,
            format!("C rmv [Phase 2]:{}={}", s.connection_list(), s.phase2),
        );
        push_unique(&mut lines, format!("t {}", s.phase2));
    }
    lines.extend(held_key_lines(own, kept));
    for s in peers_left_down(own, kept) {
        push_unique(&mut lines, format!("t main {}", s.phase1));
    }
    lines
}

/// Each `[Phase 1]` key of `held` as the rules that stay up leave it:
/// taken away when none uses it, else the tag the last of them sets
/// (`held`'s own may have been the last one set).
fn held_key_lines(held: &[IkeSections], kept: &Kept) -> Vec<String> {
    let mut lines = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    for s in held {
        if !keys.contains(&s.phase1_key.as_str()) {
            keys.push(&s.phase1_key);
        }
    }
    for key in keys {
        let Some(last) = held.iter().rev().find(|s| s.phase1_key == key) else {
            continue;
        };
        if let Some(line) = phase1_key_line(last, kept) {
            push_unique(&mut lines, line);
        }
    }
    lines
}

/// `up`: each `[Phase 1]` key back to the tag a fresh load of what is up
/// leaves there (`kept` counts `own` as up), each connection back on its
/// list, then started; passive ones only go back on the list, to wait for
/// their peer.
pub fn up_lines(own: &[IkeSections], kept: &Kept) -> Vec<String> {
    let mut lines = Vec::new();
    for s in own {
        if let Some(tag) = kept.phase1_key(&s.phase1_key) {
            push_unique(
                &mut lines,
                format!("C set [Phase 1]:{}={tag} force", s.phase1_key),
            );
        }
    }
    for s in own {
        push_unique(
            &mut lines,
            format!("C add [Phase 2]:{}={}", s.connection_list(), s.phase2),
        );
    }
    for s in own.iter().filter(|s| !s.passive) {
        push_unique(&mut lines, format!("c {}", s.phase2));
    }
    lines
}

/// Lines that keep held-down connections off their lists after an
/// `ipsecctl -f` put them back, and their peers' `[Phase 1]` keys as
/// `down` left them (`kept`: with the held-down rules held).
pub fn hold_lines(held: &[IkeSections], kept: &Kept) -> Vec<String> {
    let mut lines = Vec::new();
    for s in held {
        push_unique(
            &mut lines,
            format!("C rmv [Phase 2]:{}={}", s.connection_list(), s.phase2),
        );
        push_unique(&mut lines, format!("t {}", s.phase2));
    }
    lines.extend(held_key_lines(held, kept));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::{Options, compile_text};
    use crate::rules::model::RuleKind;
    use crate::system::files::Root;
    use crate::system::names::Names;

    /// Tunnels that share peers, identities, keys and connection names in
    /// every way the sections allow.
    fn shared_names() -> crate::compiler::Compiled {
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
            keys: None,
        };
        let c = compile_text("t", text.as_bytes().to_vec(), &opts);
        assert!(!c.has_errors(), "{:?}", c.diags);
        c
    }

    /// Two views of what stays agree on everything rule `i` names.
    fn assert_same_kept(i: usize, theirs: &IkeSections, fast: &Kept, full: &Kept) {
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
        assert_eq!(
            fast.phase1_key(&theirs.phase1_key),
            full.phase1_key(&theirs.phase1_key)
        );
        let removed = std::slice::from_ref(theirs);
        assert_eq!(cleanup(removed, fast), cleanup(removed, full), "rule {i}");
    }

    /// Looking closely only at rules that share a name gives what looking
    /// at every rule gives, whichever rule is taken away.
    #[test]
    fn the_shortcut_keeps_what_every_rule_keeps() {
        let c = shared_names();
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
            let remaining: Vec<&Ike> = (0..ikes.len())
                .filter(|&j| j != i)
                .map(|j| ikes[j])
                .collect();
            let theirs = ike_sections(ikes[i]);
            let fast = Kept::of(&remaining, std::slice::from_ref(&theirs));
            let mut full = Kept::empty();
            for ike in &remaining {
                full.add(&ike_sections(ike), false);
            }
            assert_same_kept(i, &theirs, &fast, &full);
        }
    }
}
