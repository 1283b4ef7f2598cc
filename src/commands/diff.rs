//! `ipsecmgr diff NAME [FILE]`: what replacing a fragment would change, by
//! tunnel, and what `apply` would do about it; then the text diff.  Secrets
//! are redacted throughout.

use serde::Serialize;
use std::fmt::Write as _;

use crate::cli::DiffArgs;
use crate::commands::{EXIT_CONFIG, EXIT_OK};
use crate::emit::ipsecctl;
use crate::emit::tags::phase2_tags;
use crate::manager::fragments::{self, LoadedFrom};
use crate::manager::gateway::Gateway;
use crate::manager::ops::{self, Planned};
use crate::manager::render;
use crate::manager::tree::Tree;
use crate::rules::model::{Rule, RuleKind};

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

pub fn run(gw: &Gateway, args: &DiffArgs) -> i32 {
    if let Some(trees) = &args.tree {
        return crate::commands::tree_diff::run(gw, &trees[0], &trees[1], args);
    }
    if let Some(typed) = &args.file
        && let Err(e) = ops::read_arg(std::path::Path::new(typed))
    {
        crate::errln!("ipsecmgr: diff: {}", e.message());
        return crate::commands::manage::arg_error_status(&e);
    }
    match report(gw, args) {
        Ok(r) => {
            if args.json {
                crate::outln!("{}", crate::json::object(&r));
            } else {
                crate::out!("{}", crate::escape::escaped_lines(&render_text(&r)));
            }
            // the report says what the errors are; the status says there are
            if r.new_has_errors {
                EXIT_CONFIG
            } else {
                EXIT_OK
            }
        }
        Err(e) => {
            crate::errln!("ipsecmgr: diff: {}", crate::escape::escaped_lines(&e));
            EXIT_CONFIG
        }
    }
}

/// What replacing a fragment would change: the facts `diff` prints, as
/// text or (`--json`) as a document.
#[derive(Serialize)]
struct DiffReport {
    fragment: String,
    old: String,
    new: String,
    tunnels_added: Vec<String>,
    tunnels_removed: Vec<String>,
    tunnels_changed: Vec<String>,
    /// flows and SAs (not ike rules), as ipsecctl prints them
    other_rules_removed: Vec<String>,
    other_rules_added: Vec<String>,
    rekey: Vec<String>,
    apply: ApplyPreview,
    /// the unified diff of the text, secrets redacted
    diff: String,
    /// the new version has errors (listed in the diff and by `lint`)
    new_has_errors: bool,
    #[serde(skip)]
    plan_text: Vec<String>,
}

/// What `apply` would do: its plan, nothing (and why), or a refusal.
#[derive(Serialize)]
struct ApplyPreview {
    status: &'static str,
    message: Option<String>,
    steps: Vec<crate::manager::plan_json::StepJson>,
}

/// The report on fragment `args.name`.
fn report(gw: &Gateway, args: &DiffArgs) -> Result<DiffReport, String> {
    let name = fragments::resolve(gw, args.name.as_deref().unwrap_or_default())?;
    let tree = Tree::load(gw);
    let loaded = fragments::loaded(gw, &tree, &name)?;
    let (new_text, new) = ops::new_version(gw, &name, args.file.as_deref())?;
    let old_rules = loaded.rules(&tree);
    let new_rules: Vec<&Rule> = new.rules.iter().collect();
    let ch = ops::changes(&old_rules, &new_rules);
    let old_shown = match &loaded.from {
        LoadedFrom::Applied(p) => format!("{} (as last applied)", gw.shown(p)),
        LoadedFrom::Disk(p) => format!("{} (as included; no applied copy)", gw.shown(p)),
    };
    let new_shown = args
        .file
        .clone()
        .unwrap_or_else(|| fragments::file_of(gw, &name).gateway);
    let (before, after) = (phase2_tags(&ch.removed), phase2_tags(&ch.added));
    let others = |rules: &[&Rule]| -> Vec<String> {
        rules
            .iter()
            .filter(|r| !matches!(r.kind, RuleKind::Ike(_)))
            .map(|r| describe(r))
            .collect()
    };
    let redact = ops::tree_redactor(gw, &tree);
    let (apply, plan_text) = match ops::plan_apply(
        gw,
        &tree,
        &name,
        &loaded,
        &new_text,
        &new,
        args.file.is_some(),
    ) {
        Ok(Planned::Plan(plan)) => (
            ApplyPreview {
                status: "plan",
                message: None,
                steps: crate::manager::plan_json::steps(&plan, &redact),
            },
            plan.render(&redact).lines().map(str::to_string).collect(),
        ),
        Ok(Planned::Nothing(why)) => (
            ApplyPreview {
                status: "nothing",
                message: Some(why),
                steps: Vec::new(),
            },
            Vec::new(),
        ),
        Err(e) => (
            ApplyPreview {
                status: "refused",
                message: Some(e),
                steps: Vec::new(),
            },
            Vec::new(),
        ),
    };
    let old_text = match (&loaded.compiled, tree.fragment(&name)) {
        (Some(c), _) => ops::redacted_text(c, &loaded.text),
        (None, Some(f)) => ops::redacted_file(&tree.compiled, f.file, &loaded.text),
        (None, None) => String::new(),
    };
    let new_shown_text = ops::redacted_text(&new, &new_text);
    let diff = similar::TextDiff::from_lines(&old_text, &new_shown_text)
        .unified_diff()
        .header(&old_shown, &new_shown)
        .to_string();
    Ok(DiffReport {
        fragment: name,
        old: old_shown,
        new: new_shown,
        tunnels_added: after.difference(&before).cloned().collect(),
        tunnels_removed: before.difference(&after).cloned().collect(),
        tunnels_changed: before.intersection(&after).cloned().collect(),
        other_rules_removed: others(&ch.removed),
        other_rules_added: others(&ch.added),
        rekey: ch.rekey.iter().map(|t| t.to_string()).collect(),
        apply,
        diff,
        new_has_errors: new.has_errors(),
        plan_text,
    })
}

/// The report as `diff` prints it.
fn render_text(r: &DiffReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fragment {}\nold: {}\nnew: {}",
        r.fragment, r.old, r.new
    );
    let _ = writeln!(out, "\ntunnels:");
    for (what, tags) in [
        ("added  ", &r.tunnels_added),
        ("removed", &r.tunnels_removed),
        ("changed", &r.tunnels_changed),
    ] {
        for tag in tags {
            let _ = writeln!(out, "  {what}  {tag}");
        }
    }
    if r.tunnels_added.is_empty() && r.tunnels_removed.is_empty() && r.tunnels_changed.is_empty() {
        let _ = writeln!(out, "  (none changed)");
    }
    if !r.other_rules_removed.is_empty() || !r.other_rules_added.is_empty() {
        let _ = writeln!(out, "\nflows and SAs:");
        for d in &r.other_rules_removed {
            let _ = writeln!(out, "  - {d}");
        }
        for d in &r.other_rules_added {
            let _ = writeln!(out, "  + {d}");
        }
    }
    let _ = writeln!(out, "\nphase 1 peers that re-key:");
    if r.rekey.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for tag in &r.rekey {
        let _ = writeln!(out, "  {tag}");
    }
    let _ = writeln!(out, "\napply would:");
    match (r.apply.status, &r.apply.message) {
        ("plan", _) => {
            for line in &r.plan_text {
                let _ = writeln!(out, "  {line}");
            }
        }
        ("nothing", Some(why)) => {
            let _ = writeln!(out, "  nothing ({why})");
        }
        (_, message) => {
            let _ = writeln!(out, "  refuse:");
            for line in message.as_deref().unwrap_or_default().lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    if !r.diff.is_empty() {
        let _ = writeln!(out);
        out.push_str(&r.diff);
    }
    out
}
