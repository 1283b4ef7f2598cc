//! What replacing a fragment would change, for `diff NAME [FILE]`: by
//! tunnel, by flow and SA, the peers that re-key, what `apply` would do
//! about it, and the text diff.  Secrets are redacted throughout.

use serde::Serialize;

use crate::compiler::Compiled;
use crate::emit::ipsecctl;
use crate::emit::tags::phase2_tags;
use crate::manager::fragments::{self, Loaded, LoadedFrom};
use crate::manager::gateway::Gateway;
use crate::manager::ops::{self, Changes, Planned};
use crate::manager::plan_json::{self, StepJson};
use crate::manager::redact::{redacted_file, redacted_text, tree_redactor};
use crate::manager::render;
use crate::manager::tree::Tree;
use crate::rules::model::{Rule, RuleKind};

/// What replacing a fragment would change: the facts `diff` prints, as
/// text or (`--json`) as a document.
#[derive(Serialize)]
pub struct DiffReport {
    pub fragment: String,
    pub old: String,
    pub new: String,
    pub tunnels_added: Vec<String>,
    pub tunnels_removed: Vec<String>,
    pub tunnels_changed: Vec<String>,
    /// flows and SAs (not ike rules), as ipsecctl prints them
    pub other_rules_removed: Vec<String>,
    pub other_rules_added: Vec<String>,
    pub rekey: Vec<String>,
    pub apply: ApplyPreview,
    /// the unified diff of the text, secrets redacted
    pub diff: String,
    /// the new version has errors (listed in the diff and by `lint`)
    pub new_has_errors: bool,
    /// the plan as `apply -n` shows it, when there is one
    #[serde(skip)]
    pub plan_text: Vec<String>,
}

/// What `apply` would do: its plan, nothing (and why), or a refusal.
#[derive(Serialize)]
pub struct ApplyPreview {
    /// plan, nothing, or refused
    pub status: &'static str,
    pub message: Option<String>,
    pub steps: Vec<StepJson>,
}

/// Tunnels by phase 2 tag: those only the new rules have, those only the
/// old have, and those both have in another version.
pub struct TunnelChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

pub fn tunnel_changes(ch: &Changes) -> TunnelChanges {
    let (before, after) = (phase2_tags(&ch.removed), phase2_tags(&ch.added));
    TunnelChanges {
        added: after.difference(&before).cloned().collect(),
        removed: before.difference(&after).cloned().collect(),
        changed: before.intersection(&after).cloned().collect(),
    }
}

/// The rules that are not ike rules: flows, SAs and bundles.
pub fn not_ike<'a, 'r>(rules: &'a [&'r Rule]) -> impl Iterator<Item = &'r Rule> + 'a {
    rules
        .iter()
        .copied()
        .filter(|r| !matches!(r.kind, RuleKind::Ike(_)))
}

/// A rule on one line, as ipsecctl prints it (ike rules as written).
fn describe(rule: &Rule) -> String {
    let mut s = String::new();
    match &rule.kind {
        RuleKind::Flow(f) => ipsecctl::flow(&mut s, f),
        RuleKind::Sa(sa) => ipsecctl::sa(&mut s, sa, false),
        RuleKind::Bundle(b) => ipsecctl::bundle(&mut s, b),
        RuleKind::Ike(_) => s = render::statement(rule, false).unwrap_or_default(),
    }
    s.trim_end().replace("\n", " ")
}

/// The report on replacing fragment `arg` by `file` (by its file on disk
/// when none is given).
/// `verbose`: the plan shows ipsecmgr's own records in full.
pub fn report(
    gw: &Gateway,
    arg: &str,
    file: Option<&str>,
    verbose: bool,
) -> Result<DiffReport, String> {
    let name = fragments::resolve(gw, arg)?;
    let tree = Tree::load(gw);
    let loaded = fragments::loaded(gw, &tree, &name)?;
    let (new_text, new) = ops::new_version(gw, &name, file)?;
    let old_rules = loaded.rules(&tree);
    let new_rules: Vec<&Rule> = new.rules.iter().collect();
    let ch = ops::changes(&old_rules, &new_rules);
    let old_shown = match &loaded.from {
        LoadedFrom::Applied(p) => format!("{} (as last applied)", gw.shown(p)),
        LoadedFrom::Disk(p) => format!("{} (as included; no applied copy)", gw.shown(p)),
    };
    let new_shown = file
        .map(str::to_string)
        .unwrap_or_else(|| fragments::file_of(gw, &name).gateway);
    let version = Version {
        name: &name,
        loaded: &loaded,
        text: &new_text,
        compiled: &new,
        file_given: file.is_some(),
    };
    let (apply, plan_text) = preview(gw, &tree, &version, verbose);
    let diff = text_diff(&tree, &version, &old_shown, &new_shown);
    let tunnels = tunnel_changes(&ch);
    let others = |rules: &[&Rule]| -> Vec<String> { not_ike(rules).map(describe).collect() };
    Ok(DiffReport {
        old: old_shown,
        new: new_shown,
        tunnels_added: tunnels.added,
        tunnels_removed: tunnels.removed,
        tunnels_changed: tunnels.changed,
        other_rules_removed: others(&ch.removed),
        other_rules_added: others(&ch.added),
        rekey: ch.rekey.iter().map(|t| t.to_string()).collect(),
        apply,
        diff,
        new_has_errors: new.has_errors(),
        plan_text,
        fragment: name,
    })
}

/// The fragment as loaded, and the new version of it.
struct Version<'a> {
    name: &'a str,
    loaded: &'a Loaded,
    text: &'a [u8],
    compiled: &'a Compiled,
    file_given: bool,
}

/// What `apply` would do, and its plan as text.
fn preview(gw: &Gateway, tree: &Tree, v: &Version, verbose: bool) -> (ApplyPreview, Vec<String>) {
    let redact = tree_redactor(gw, tree);
    let planned = ops::plan_apply(gw, tree, v.name, v.loaded, v.text, v.compiled, v.file_given);
    let (status, message, steps, text) = match planned {
        Ok(Planned::Plan(plan)) => (
            "plan",
            None,
            plan_json::steps(&plan, &redact),
            plan.render(&redact, verbose)
                .lines()
                .map(str::to_string)
                .collect(),
        ),
        Ok(Planned::Nothing(why)) => ("nothing", Some(why), Vec::new(), Vec::new()),
        Err(e) => ("refused", Some(e), Vec::new(), Vec::new()),
    };
    let preview = ApplyPreview {
        status,
        message,
        steps,
    };
    (preview, text)
}

/// The unified diff of the old text and the new, secrets redacted.
fn text_diff(tree: &Tree, v: &Version, old_shown: &str, new_shown: &str) -> String {
    let old_text = match (&v.loaded.compiled, tree.fragment(v.name)) {
        (Some(c), _) => redacted_text(c, &v.loaded.text),
        (None, Some(f)) => redacted_file(&tree.compiled, f.file, &v.loaded.text),
        (None, None) => String::new(),
    };
    let new_text = redacted_text(v.compiled, v.text);
    similar::TextDiff::from_lines(&old_text, &new_text)
        .unified_diff()
        .header(old_shown, new_shown)
        .to_string()
}
