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
    /// the command that carries the change out, code in backticks
    pub command: String,
    /// The same in parts, so that each format sets the code apart its way
    /// (a name may hold a backtick).
    #[serde(skip)]
    pub command_parts: Vec<Part>,
    pub tunnels_added: Vec<String>,
    pub tunnels_removed: Vec<String>,
    pub tunnels_changed: Vec<String>,
    pub other_rules_added: usize,
    pub other_rules_removed: usize,
    pub rekey: Vec<String>,
    /// ipsec.conf's own rules, which no ipsecmgr command manages: the
    /// command is the steps to take by hand.
    #[serde(skip)]
    pub own_rules: bool,
}

/// A piece of a command said for people: prose, or code to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Code(String),
}

/// `parts` as one line, code in backticks.
fn plain(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => t.clone(),
            Part::Code(c) => format!("`{c}`"),
        })
        .collect()
}

/// A change carried out by one ipsecmgr command.
fn run(verb: &str, name: &str) -> (String, Vec<Part>) {
    let code = format!("ipsecmgr {verb} {name}");
    (code.clone(), vec![Part::Code(code)])
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
        c.command_parts = main_file_command(&c, conf);
        c.command = plain(&c.command_parts);
        c.own_rules = true;
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
    let (command, command_parts) = run("apply", name);
    Some(FragmentChange {
        name: name.to_string(),
        status: "changed",
        command,
        command_parts,
        tunnels_added: tunnels.added,
        tunnels_removed: tunnels.removed,
        tunnels_changed: tunnels.changed,
        other_rules_added: not_ike(&ch.added).count(),
        other_rules_removed: not_ike(&ch.removed).count(),
        rekey: ch.rekey,
        own_rules: false,
    })
}

fn added(f: &Fragment, rules: &[&Rule]) -> FragmentChange {
    let (command, command_parts) = run("add", &f.name);
    FragmentChange {
        name: f.name.clone(),
        status: "added",
        command,
        command_parts,
        tunnels_added: phase2_tags(rules).into_iter().collect(),
        other_rules_added: rules.len(),
        ..FragmentChange::default()
    }
}

fn removed(f: &Fragment, rules: &[&Rule]) -> FragmentChange {
    let (command, command_parts) = run("rm", &f.name);
    FragmentChange {
        name: f.name.clone(),
        status: "removed",
        command,
        command_parts,
        tunnels_removed: phase2_tags(rules).into_iter().collect(),
        other_rules_removed: rules.len(),
        ..FragmentChange::default()
    }
}

fn main_rules(t: &Tree) -> Vec<&Rule> {
    t.main_rules.iter().map(|&i| &t.compiled.rules[i]).collect()
}

/// What carries out a change of ipsec.conf's own rules: no ipsecmgr
/// command manages them, and `ipsecctl -f` of the whole file would load
/// every rule again and delete none.
fn main_file_command(c: &FragmentChange, conf: &str) -> Vec<Part> {
    let removes = !c.tunnels_removed.is_empty()
        || !c.tunnels_changed.is_empty()
        || !c.rekey.is_empty()
        || c.other_rules_removed > 0;
    let adds = !c.tunnels_added.is_empty()
        || !c.tunnels_changed.is_empty()
        || !c.rekey.is_empty()
        || c.other_rules_added > 0;
    let text = |t: &str| Part::Text(t.to_string());
    let mut parts = vec![text("by hand, ")];
    if removes {
        parts.push(Part::Code("ipsecctl -d -f OLD".into()));
        parts.push(text(
            " of a file holding the old versions of the rules removed or changed",
        ));
    }
    if adds {
        if removes {
            parts.push(text(", then "));
        }
        parts.push(Part::Code("ipsecctl -f NEW".into()));
        parts.push(text(" of a file holding the rules added or changed"));
    }
    parts.push(text(" (not "));
    parts.push(Part::Code(format!("ipsecctl -f {conf}")));
    parts.push(text(": it loads every rule again and deletes none)"));
    parts
}
