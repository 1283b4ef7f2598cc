//! `ipsecmgr diff NAME [FILE]`: what replacing a fragment would change, by
//! tunnel, and what `apply` would do about it; then the text diff.  Secrets
//! are redacted throughout.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::cli::DiffArgs;
use crate::commands::{EXIT_CONFIG, EXIT_OK};
use crate::emit::{ipsecctl, tags};
use crate::manager::fragments::{self, LoadedFrom};
use crate::manager::gateway::Gateway;
use crate::manager::ops::{self, Planned};
use crate::manager::render;
use crate::manager::tree::Tree;
use crate::rules::model::{Rule, RuleKind};

/// The phase 2 tags of the ike rules among `rules`.
pub fn phase2_tags(rules: &[&Rule]) -> BTreeSet<String> {
    rules
        .iter()
        .filter_map(|r| match &r.kind {
            RuleKind::Ike(i) => Some(tags::ike_tags(i).phase2),
            _ => None,
        })
        .collect()
}

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
        Ok((text, new_has_errors)) => {
            crate::out!("{}", crate::escape::escaped_lines(&text));
            // the report says what the errors are; the status says there are
            if new_has_errors { EXIT_CONFIG } else { EXIT_OK }
        }
        Err(e) => {
            crate::errln!("ipsecmgr: diff: {}", crate::escape::escaped_lines(&e));
            EXIT_CONFIG
        }
    }
}

/// The report, and whether the new version has errors.
fn report(gw: &Gateway, args: &DiffArgs) -> Result<(String, bool), String> {
    let name = fragments::resolve(gw, args.name.as_deref().unwrap_or_default())?;
    let tree = Tree::load(gw);
    let loaded = fragments::loaded(gw, &tree, &name)?;
    let (new_text, new) = ops::new_version(gw, &name, args.file.as_deref())?;
    let old_rules = loaded.rules(&tree);
    let new_rules: Vec<&Rule> = new.rules.iter().collect();
    let ch = ops::changes(&old_rules, &new_rules);
    let mut out = String::new();
    let old_shown = match &loaded.from {
        LoadedFrom::Applied(p) => format!("{} (as last applied)", gw.shown(p)),
        LoadedFrom::Disk(p) => format!("{} (as included; no applied copy)", gw.shown(p)),
    };
    let new_shown = args
        .file
        .clone()
        .unwrap_or_else(|| fragments::file_of(gw, &name).gateway);
    let _ = writeln!(out, "fragment {name}\nold: {old_shown}\nnew: {new_shown}");
    let (before, after) = (phase2_tags(&ch.removed), phase2_tags(&ch.added));
    let _ = writeln!(out, "\ntunnels:");
    let mut any = false;
    for tag in after.difference(&before) {
        let _ = writeln!(out, "  added    {tag}");
        any = true;
    }
    for tag in before.difference(&after) {
        let _ = writeln!(out, "  removed  {tag}");
        any = true;
    }
    for tag in before.intersection(&after) {
        let _ = writeln!(out, "  changed  {tag}");
        any = true;
    }
    if !any {
        let _ = writeln!(out, "  (none changed)");
    }
    let others = |rules: &[&Rule]| -> Vec<String> {
        rules
            .iter()
            .filter(|r| !matches!(r.kind, RuleKind::Ike(_)))
            .map(|r| describe(r))
            .collect()
    };
    let (gone, new_other) = (others(&ch.removed), others(&ch.added));
    if !gone.is_empty() || !new_other.is_empty() {
        let _ = writeln!(out, "\nflows and SAs:");
        for d in &gone {
            let _ = writeln!(out, "  - {d}");
        }
        for d in &new_other {
            let _ = writeln!(out, "  + {d}");
        }
    }
    let _ = writeln!(out, "\nphase 1 peers that re-key:");
    if ch.rekey.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for tag in &ch.rekey {
        let _ = writeln!(out, "  {tag}");
    }
    let _ = writeln!(out, "\napply would:");
    match ops::plan_apply(
        gw,
        &tree,
        &name,
        &loaded,
        &new_text,
        &new,
        args.file.is_some(),
    ) {
        Ok(Planned::Plan(plan)) => {
            for line in plan.render(&ops::tree_redactor(gw, &tree)).lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        Ok(Planned::Nothing(why)) => {
            let _ = writeln!(out, "  nothing ({why})");
        }
        Err(e) => {
            let _ = writeln!(out, "  refuse:");
            for line in e.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
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
    if !diff.is_empty() {
        let _ = writeln!(out);
        out.push_str(&diff);
    }
    Ok((out, new.has_errors()))
}
