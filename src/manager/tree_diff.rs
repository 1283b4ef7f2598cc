//! The tunnel-level comparison of two trees (two checkouts of a gateway's
//! files), for `diff --tree`: fragments and tunnels added, removed and
//! changed by tag, the peers that re-key, and the command that carries
//! each change out.

use serde::Serialize;

use crate::diag::Diagnostic;
use crate::emit::tags::phase2_tags;
use crate::manager::ops;
use crate::manager::rule_diff::{not_ike, tunnel_changes};
use crate::manager::tree::{Fragment, Tree};
use crate::rules::model::Rule;

/// How one fragment (or ipsec.conf's own rules) changes.
#[derive(Serialize, Default)]
pub struct FragmentChange {
    pub name: String,
    /// added, removed, changed
    pub status: &'static str,
    /// the command that carries the change out
    pub command: String,
    pub tunnels_added: Vec<String>,
    pub tunnels_removed: Vec<String>,
    pub tunnels_changed: Vec<String>,
    pub other_rules_added: usize,
    pub other_rules_removed: usize,
    pub rekey: Vec<String>,
    /// For ipsec.conf's own rules, which no ipsecmgr command manages: the
    /// ipsecctl runs that carry the change out by hand.
    #[serde(skip)]
    pub by_hand: Option<ByHand>,
}

/// What carries out a change of ipsec.conf's own rules: no ipsecmgr
/// command manages them, and `ipsecctl -f` of the whole file would load
/// every rule again and delete none.
#[derive(Debug, Clone)]
pub struct ByHand {
    /// Rules are removed or changed: the old versions are deleted.
    pub removes: bool,
    /// Rules are added or changed: the new versions are loaded.
    pub adds: bool,
    /// ipsec.conf as the gateway names it.
    pub conf: String,
}

impl ByHand {
    /// The steps in words, each command through `code` (a code span).
    pub fn describe(&self, code: &dyn Fn(&str) -> String) -> String {
        let mut steps = Vec::new();
        if self.removes {
            steps.push(format!(
                "{} of a file holding the old versions of the rules removed or changed",
                code("ipsecctl -d -f OLD")
            ));
        }
        if self.adds {
            steps.push(format!(
                "{} of a file holding the rules added or changed",
                code("ipsecctl -f NEW")
            ));
        }
        format!(
            "by hand, {} (not {}: it loads every rule again and deletes none)",
            steps.join(", then "),
            code(&format!("ipsecctl -f {}", self.conf))
        )
    }
}

/// The errors that keep a tree from being compared: a rule that did not
/// compile would read as removed.
pub fn errors(tree: &Tree) -> Vec<&Diagnostic> {
    tree.compiled
        .diags
        .iter()
        .filter(|d| d.is_error())
        .collect()
}

/// What changes from `old` to `new`: ipsec.conf's own rules first, then
/// the fragments of `new` in its order, then those it no longer has.
/// `conf` is ipsec.conf as the gateway names it.
pub fn compare(old: &Tree, new: &Tree, conf: &str) -> Vec<FragmentChange> {
    let mut out = Vec::new();
    if let Some(mut c) = change("ipsec.conf", &main_rules(old), &main_rules(new)) {
        let by_hand = by_hand(&c, conf);
        c.command = by_hand.describe(&|s| format!("`{s}`"));
        c.by_hand = Some(by_hand);
        out.push(c);
    }
    for f in &new.fragments {
        let new_rules: Vec<&Rule> = new.rules_of(f).collect();
        match old.fragment(&f.name) {
            Some(o) => {
                let old_rules: Vec<&Rule> = old.rules_of(o).collect();
                out.extend(change(&f.name, &old_rules, &new_rules));
            }
            None => out.push(added(f, &new_rules)),
        }
    }
    let gone = old.fragments.iter();
    for f in gone.filter(|f| new.fragment(&f.name).is_none()) {
        out.push(removed(f, &old.rules_of(f).collect::<Vec<_>>()));
    }
    out
}

/// A fragment in both trees, when its rules differ.
fn change(name: &str, old: &[&Rule], new: &[&Rule]) -> Option<FragmentChange> {
    let ch = ops::changes(old, new);
    if ch.removed.is_empty() && ch.added.is_empty() {
        return None;
    }
    let tunnels = tunnel_changes(&ch);
    Some(FragmentChange {
        name: name.to_string(),
        status: "changed",
        command: format!("ipsecmgr apply {name}"),
        tunnels_added: tunnels.added,
        tunnels_removed: tunnels.removed,
        tunnels_changed: tunnels.changed,
        other_rules_added: not_ike(&ch.added).count(),
        other_rules_removed: not_ike(&ch.removed).count(),
        rekey: ch.rekey,
        by_hand: None,
    })
}

fn added(f: &Fragment, rules: &[&Rule]) -> FragmentChange {
    FragmentChange {
        name: f.name.clone(),
        status: "added",
        command: format!("ipsecmgr add {}", f.name),
        tunnels_added: phase2_tags(rules).into_iter().collect(),
        other_rules_added: rules.len(),
        ..FragmentChange::default()
    }
}

fn removed(f: &Fragment, rules: &[&Rule]) -> FragmentChange {
    FragmentChange {
        name: f.name.clone(),
        status: "removed",
        command: format!("ipsecmgr rm {}", f.name),
        tunnels_removed: phase2_tags(rules).into_iter().collect(),
        other_rules_removed: rules.len(),
        ..FragmentChange::default()
    }
}

fn main_rules(t: &Tree) -> Vec<&Rule> {
    t.main_rules.iter().map(|&i| &t.compiled.rules[i]).collect()
}

/// How a change of ipsec.conf's own rules is carried out.
fn by_hand(c: &FragmentChange, conf: &str) -> ByHand {
    ByHand {
        removes: !c.tunnels_removed.is_empty()
            || !c.tunnels_changed.is_empty()
            || !c.rekey.is_empty()
            || c.other_rules_removed > 0,
        adds: !c.tunnels_added.is_empty()
            || !c.tunnels_changed.is_empty()
            || !c.rekey.is_empty()
            || c.other_rules_added > 0,
        conf: conf.to_string(),
    }
}
