//! `ipsecmgr diff --tree OLD NEW`: the tunnel-level review of a change to a
//! gateway's files (two checkouts, each with its etc/ipsec.conf): fragments
//! and tunnels added, removed and changed by tag, the peers that re-key,
//! and which fragments `add`, `rm` or `apply` would touch.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::cli::{DiffArgs, TreeFormat};
use crate::commands::{EXIT_CONFIG, EXIT_OK, EXIT_USAGE};
use crate::emit::tags::phase2_tags;
use crate::manager::gateway::Gateway;
use crate::manager::ops;
use crate::manager::tree::Tree;
use crate::rules::model::{Rule, RuleKind};
use crate::settings::Settings;
use crate::system::files::Root;

#[derive(Serialize, Default)]
struct FragmentChange {
    name: String,
    /// added, removed, changed
    status: &'static str,
    /// the command that carries the change out
    command: String,
    tunnels_added: Vec<String>,
    tunnels_removed: Vec<String>,
    tunnels_changed: Vec<String>,
    other_rules_added: usize,
    other_rules_removed: usize,
    rekey: Vec<String>,
}

fn load(dir: &Path, gw: &Gateway) -> Result<Tree, String> {
    if !dir.is_dir() {
        return Err(format!("{}: not a directory", dir.display()));
    }
    let root = Root(Some(dir.to_path_buf()));
    let settings = match &gw.settings.source {
        // settings given with -c apply to both trees
        Some(_) if gw.root.0.is_none() => Settings::load(gw.settings.source.as_deref(), &root),
        _ => Settings::load(None, &root),
    }
    .map_err(|e| e.0)?;
    Ok(Tree::load(&Gateway::new(settings, root, true)))
}

fn change(name: &str, old: &[&Rule], new: &[&Rule]) -> Option<FragmentChange> {
    let ch = ops::changes(old, new);
    if ch.removed.is_empty() && ch.added.is_empty() {
        return None;
    }
    let (gone, came) = (phase2_tags(&ch.removed), phase2_tags(&ch.added));
    let others = |rules: &[&Rule]| {
        rules
            .iter()
            .filter(|r| !matches!(r.kind, RuleKind::Ike(_)))
            .count()
    };
    Some(FragmentChange {
        name: name.to_string(),
        status: "changed",
        command: format!("ipsecmgr apply {name}"),
        tunnels_added: came.difference(&gone).cloned().collect(),
        tunnels_removed: gone.difference(&came).cloned().collect(),
        tunnels_changed: gone.intersection(&came).cloned().collect(),
        other_rules_added: others(&ch.added),
        other_rules_removed: others(&ch.removed),
        rekey: ch.rekey,
    })
}

fn main_rules(t: &Tree) -> Vec<&Rule> {
    t.main_rules.iter().map(|&i| &t.compiled.rules[i]).collect()
}

/// What carries out a change of ipsec.conf's own rules: no ipsecmgr
/// command manages them, and `ipsecctl -f` of the whole file would load
/// every rule again and delete none.
fn main_file_command(c: &FragmentChange, conf: &str) -> String {
    let removes = !c.tunnels_removed.is_empty()
        || !c.tunnels_changed.is_empty()
        || !c.rekey.is_empty()
        || c.other_rules_removed > 0;
    let adds = !c.tunnels_added.is_empty()
        || !c.tunnels_changed.is_empty()
        || !c.rekey.is_empty()
        || c.other_rules_added > 0;
    let mut steps = Vec::new();
    if removes {
        steps.push("`ipsecctl -d -f OLD` of a file holding the old versions of the rules removed or changed");
    }
    if adds {
        steps.push("`ipsecctl -f NEW` of a file holding the rules added or changed");
    }
    format!(
        "by hand, {} (not `ipsecctl -f {conf}`: it loads every rule again and deletes none)",
        steps.join(", then ")
    )
}

fn compare(old: &Tree, new: &Tree, conf: &str) -> Vec<FragmentChange> {
    let mut out = Vec::new();
    if let Some(mut c) = change("ipsec.conf", &main_rules(old), &main_rules(new)) {
        c.command = main_file_command(&c, conf);
        out.push(c);
    }
    for f in &new.fragments {
        let new_rules: Vec<&Rule> = new.rules_of(f).collect();
        match old.fragment(&f.name) {
            Some(o) => {
                let old_rules: Vec<&Rule> = old.rules_of(o).collect();
                out.extend(change(&f.name, &old_rules, &new_rules));
            }
            None => out.push(FragmentChange {
                name: f.name.clone(),
                status: "added",
                command: format!("ipsecmgr add {}", f.name),
                tunnels_added: phase2_tags(&new_rules).into_iter().collect(),
                other_rules_added: new_rules.len(),
                ..FragmentChange::default()
            }),
        }
    }
    for f in old
        .fragments
        .iter()
        .filter(|f| new.fragment(&f.name).is_none())
    {
        let rules: Vec<&Rule> = old.rules_of(f).collect();
        out.push(FragmentChange {
            name: f.name.clone(),
            status: "removed",
            command: format!("ipsecmgr rm {}", f.name),
            tunnels_removed: phase2_tags(&rules).into_iter().collect(),
            other_rules_removed: rules.len(),
            ..FragmentChange::default()
        });
    }
    out
}

pub fn run(gw: &Gateway, old: &Path, new: &Path, args: &DiffArgs) -> i32 {
    let (old_tree, new_tree) = match (load(old, gw), load(new, gw)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => {
            crate::errln!(
                "ipsecmgr: diff --tree: {}",
                crate::escape::escaped_lines(&e)
            );
            return EXIT_USAGE;
        }
    };
    let mut broken = false;
    for (t, dir) in [(&old_tree, old), (&new_tree, new)] {
        broken |= report_errors(t, dir);
    }
    if broken {
        return EXIT_CONFIG;
    }
    let changes = compare(&old_tree, &new_tree, &gw.settings.ipsec_conf);
    let format = match args.format {
        Some(f) => f,
        None if args.json => TreeFormat::Json,
        None => TreeFormat::Text,
    };
    let out = match format {
        TreeFormat::Json => crate::json::list("changes", &changes) + "\n",
        TreeFormat::Markdown => markdown(&changes),
        TreeFormat::Text => text(&changes),
    };
    crate::out!("{}", crate::escape::escaped_lines(&out));
    EXIT_OK
}

/// A tree with errors cannot be compared: a rule that did not compile would
/// read as removed.  Names each error; true when there was one.
fn report_errors(tree: &Tree, dir: &Path) -> bool {
    let errors: Vec<_> = tree
        .compiled
        .diags
        .iter()
        .filter(|d| d.is_error())
        .collect();
    for d in &errors {
        let text = crate::diag::render_plain(d, &tree.compiled.parsed.sources);
        crate::errln!(
            "ipsecmgr: diff --tree: {}: {}",
            crate::escape::escaped_path(dir),
            crate::escape::escaped_lines(text.trim_end())
        );
    }
    if !errors.is_empty() {
        crate::errln!(
            "ipsecmgr: diff --tree: {} has errors; nothing compared (`ipsecmgr --root {} lint` shows them)",
            crate::escape::escaped_path(dir),
            crate::escape::escaped_path(dir)
        );
    }
    !errors.is_empty()
}

fn text(changes: &[FragmentChange]) -> String {
    let mut out = String::new();
    if changes.is_empty() {
        out.push_str("no tunnel changes\n");
    }
    for c in changes {
        let _ = writeln!(out, "{} {}: {}", c.status, c.name, c.command);
        for (what, list) in [
            ("added", &c.tunnels_added),
            ("removed", &c.tunnels_removed),
            ("changed", &c.tunnels_changed),
            ("re-key", &c.rekey),
        ] {
            for t in list {
                let _ = writeln!(out, "  {what:<8} {t}");
            }
        }
        if c.status == "changed" && (c.other_rules_added > 0 || c.other_rules_removed > 0) {
            let _ = writeln!(
                out,
                "  flows and SAs: {} added, {} removed",
                c.other_rules_added, c.other_rules_removed
            );
        }
    }
    out
}

/// The review for a pull request: a summary line, then one table row per
/// fragment with its tunnels added, removed and changed, the phase 1 peers
/// that re-key, and the command that carries the change out.
fn markdown(changes: &[FragmentChange]) -> String {
    let mut out = String::from("### IPsec tunnels\n\n");
    if changes.is_empty() {
        out.push_str("No tunnel changes.\n");
        return out;
    }
    let total = |f: fn(&FragmentChange) -> usize| changes.iter().map(f).sum::<usize>();
    let _ = writeln!(
        out,
        "{} fragment(s) change: **{}** tunnel(s) added, **{}** removed, **{}** changed; \
         **{}** peer(s) re-key.\n",
        changes.len(),
        total(|c| c.tunnels_added.len()),
        total(|c| c.tunnels_removed.len()),
        total(|c| c.tunnels_changed.len()),
        total(|c| c.rekey.len()),
    );
    out.push_str("| Fragment | Change | Tunnels added | Tunnels removed | Tunnels changed | Peers that re-key | Command |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for c in changes {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            code_span(&c.name),
            c.status,
            cell(&c.tunnels_added),
            cell(&c.tunnels_removed),
            cell(&c.tunnels_changed),
            cell(&c.rekey),
            code_span(&c.command),
        );
    }
    // flows and SAs that are not tunnels, within fragments that stay
    let others: Vec<&FragmentChange> = changes
        .iter()
        .filter(|c| c.status == "changed")
        .filter(|c| c.other_rules_added > 0 || c.other_rules_removed > 0)
        .collect();
    if !others.is_empty() {
        out.push_str("\nFlows and SAs besides tunnels:");
        for c in others {
            let _ = write!(
                out,
                " {} +{} -{};",
                code_span(&c.name),
                c.other_rules_added,
                c.other_rules_removed
            );
        }
        out.pop();
        out.push_str(".\n");
    }
    out
}

/// A table cell listing names, one per line, or a dash when there are none.
fn cell(items: &[String]) -> String {
    if items.is_empty() {
        return "\u{2013}".into();
    }
    items
        .iter()
        .map(|i| code_span(i))
        .collect::<Vec<_>>()
        .join("<br>")
}

/// Text as inline code inside a table: a pipe would end the cell and a
/// backtick the span, so both are replaced by look-alikes that cannot.
fn code_span(text: &str) -> String {
    let safe = text.replace('|', "\u{2223}").replace('`', "\u{2035}");
    format!("`{safe}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(code_span("a|b`c"), "`a\u{2223}b\u{2035}c`");
        assert_eq!(cell(&[]), "\u{2013}");
        assert_eq!(cell(&["x".into(), "y".into()]), "`x`<br>`y`");
    }
}
