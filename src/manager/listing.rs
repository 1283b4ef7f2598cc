//! What `ls` lists: each fragment ipsec.conf includes, its rules by kind,
//! its tags, and whether what is loaded is what is on disk; and the
//! clean-ups still pending.

use std::fs;

use serde::Serialize;

use crate::emit::tags;
use crate::manager::gateway::Gateway;
use crate::manager::state;
use crate::manager::teardown::ikes;
use crate::manager::tree::{Fragment, Missing, Tree, Unreadable};
use crate::rules::model::{Ike, Rule, RuleKind};

/// One fragment, as `ls` shows it.
#[derive(Serialize)]
pub struct Entry {
    pub name: String,
    pub path: String,
    pub line: u32,
    pub flows: usize,
    pub sas: usize,
    pub ike: usize,
    /// applied (the applied copy is the file), modified (it is not),
    /// unmanaged (no applied copy), missing (the file included is gone),
    /// unreadable (it is there, but is no file that can be read), or
    /// removed (no longer included, yet still loaded: `rm --config-only`)
    pub state: &'static str,
    /// What is wrong with an unreadable fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// `down` took its connections off isakmpd's lists; `up` puts them back
    pub held_down: bool,
    pub phase1: Vec<String>,
    pub phase2: Vec<String>,
    /// For a modified fragment: how the file on disk differs from what is
    /// loaded (its applied copy), tunnel by phase 2 tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_applied: Option<NotApplied>,
}

/// Tunnels the file on disk adds or drops, against the applied copy.
#[derive(Serialize, Default)]
pub struct NotApplied {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// The fragments in the order ipsec.conf includes them, and the pending
/// clean-ups, each described on one line (they may be of fragments
/// already removed); and the state files that could not be read, said
/// rather than read as empty.
pub struct Listing {
    pub fragments: Vec<Entry>,
    pub pending: Vec<String>,
    pub problems: Vec<String>,
}

pub fn listing(gw: &Gateway, tree: &Tree) -> Listing {
    let mut problems = Vec::new();
    let held = state::held_fragments(gw).unwrap_or_else(|e| {
        problems.push(e);
        state::HeldDown::default()
    });
    let mut fragments: Vec<Entry> = tree
        .fragments
        .iter()
        .map(|f| entry(gw, tree, f, &held, &mut problems))
        .collect();
    let missing = tree.missing(gw);
    fragments.extend(missing.iter().map(|m| missing_entry(m, &held)));
    fragments.extend(
        tree.unreadable(gw)
            .iter()
            .map(|u| unreadable_entry(u, &held)),
    );
    fragments.sort_by_key(|e| e.line);
    let listed: Vec<String> = fragments.iter().map(|e| e.name.clone()).collect();
    fragments.extend(
        state::still_loaded(gw, &listed, &mut problems)
            .into_iter()
            .map(|(name, copy)| removed_entry(gw, name, &copy, &held)),
    );
    let pending = match state::pending_cleanups(gw) {
        Ok(p) => p.iter().map(state::describe).collect(),
        Err(e) => {
            problems.push(e);
            Vec::new()
        }
    };
    Listing {
        fragments,
        pending,
        problems,
    }
}

fn entry(
    gw: &Gateway,
    tree: &Tree,
    f: &Fragment,
    held: &state::HeldDown,
    problems: &mut Vec<String>,
) -> Entry {
    let rules: Vec<&Rule> = tree.rules_of(f).collect();
    let copy = state::applied_copy(gw, &f.name).unwrap_or_else(|e| {
        problems.push(e);
        None
    });
    let state = match &copy {
        None => "unmanaged",
        Some(copy) if fs::read(&f.actual).is_ok_and(|disk| &disk == copy) => "applied",
        Some(_) => "modified",
    };
    let mut e = entry_of(
        &f.name,
        f.gateway_path.clone(),
        f.include_line,
        state,
        held,
        &rules,
    );
    if let Some(copy) = &copy
        && state == "modified"
    {
        e.not_applied = Some(not_applied(gw, &f.name, copy, &e.phase2));
    }
    e
}

/// An include line whose file is gone: it loads nothing.
fn missing_entry(m: &Missing, held: &state::HeldDown) -> Entry {
    entry_of(
        &m.name,
        m.gateway_path.clone(),
        m.include_line,
        "missing",
        held,
        &[],
    )
}

/// An include line whose file cannot be read: it is still included.
fn unreadable_entry(u: &Unreadable, held: &state::HeldDown) -> Entry {
    let mut e = entry_of(
        &u.name,
        u.gateway_path.clone(),
        u.include_line,
        "unreadable",
        held,
        &[],
    );
    e.problem = Some(u.problem.clone());
    e
}

/// A fragment removed from the tree but not unloaded: its applied copy is
/// what isakmpd and the kernel still hold.
fn removed_entry(gw: &Gateway, name: String, copy: &[u8], held: &state::HeldDown) -> Entry {
    let path = gw.shown(&gw.applied_copy(&name));
    let applied = gw.compile_text(&path, copy);
    let rules: Vec<&Rule> = applied.rules.iter().collect();
    entry_of(&name, path, 0, "removed", held, &rules)
}

/// The entry of fragment `name` holding `rules`: its counts and tags
/// (what differs from the applied copy is the caller's to add).
fn entry_of(
    name: &str,
    path: String,
    line: u32,
    state: &'static str,
    held: &state::HeldDown,
    rules: &[&Rule],
) -> Entry {
    let count = |p: fn(&RuleKind) -> bool| rules.iter().filter(|r| p(&r.kind)).count();
    let own = ikes(rules.iter().copied());
    Entry {
        name: name.to_string(),
        path,
        line,
        flows: count(|k| matches!(k, RuleKind::Flow(_))),
        sas: count(|k| matches!(k, RuleKind::Sa(_))),
        ike: own.len(),
        state,
        problem: None,
        held_down: held.contains_key(name),
        phase1: unique(own.iter().map(|i| tags::phase1(i)).collect()),
        phase2: phase2_of(&own),
        not_applied: None,
    }
}

/// The phase 2 tags of ike rules, each once, in include order.
fn phase2_of(own: &[&Ike]) -> Vec<String> {
    unique(own.iter().map(|i| tags::ike_tags(i).phase2).collect())
}

/// The phase 2 tags of the fragment's applied copy and of its file, compared.
fn not_applied(gw: &Gateway, name: &str, copy: &[u8], on_disk: &[String]) -> NotApplied {
    let applied = gw.compile_text(&gw.shown(&gw.applied_copy(name)), copy);
    let loaded = phase2_of(&ikes(applied.rules.iter()));
    NotApplied {
        added: on_disk
            .iter()
            .filter(|t| !loaded.contains(t))
            .cloned()
            .collect(),
        removed: loaded
            .iter()
            .filter(|t| !on_disk.contains(t))
            .cloned()
            .collect(),
    }
}

/// Each once, in the order first seen.
fn unique(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
    v
}
