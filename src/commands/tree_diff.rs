//! `ipsecmgr diff --tree OLD NEW`: the tunnel-level review of a change to a
//! gateway's files (two checkouts, each with its etc/ipsec.conf), compared
//! by [`crate::manager::tree_diff`], as text, JSON or Markdown.

use std::fmt::Write as _;
use std::path::Path;

use crate::cli::{DiffArgs, TreeFormat};
use crate::commands::{EXIT_CONFIG, EXIT_OK, EXIT_USAGE};
use crate::escape::escaped;
use crate::gateway::checkout;
use crate::manager::gateway::Gateway;
use crate::manager::tree::Tree;
use crate::manager::tree_diff::{self, FragmentChange, Part};

pub fn run(gw: &Gateway, old: &Path, new: &Path, args: &DiffArgs) -> i32 {
    let (old_tree, new_tree) = match (checkout::load(old, gw), checkout::load(new, gw)) {
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
    let changes = tree_diff::compare(&old_tree, &new_tree, &gw.settings.ipsec_conf);
    let format = match args.format {
        Some(f) => f,
        None if args.json => TreeFormat::Json,
        None => TreeFormat::Text,
    };
    match format {
        TreeFormat::Json => crate::output::document(&crate::json::list("changes", &changes)),
        TreeFormat::Markdown => crate::out!("{}", markdown(&changes)),
        TreeFormat::Text => crate::out!("{}", text(&changes)),
    }
    EXIT_OK
}

/// Names each error that keeps the tree from being compared; true when
/// there was one.
fn report_errors(tree: &Tree, dir: &Path) -> bool {
    let errors = tree_diff::errors(tree);
    for d in &errors {
        let text = crate::diag::render_plain(d, &tree.compiled.parsed.sources);
        crate::errln!(
            "ipsecmgr: diff --tree: {}: {}",
            crate::escape::escaped_path(dir),
            crate::escape::escaped_lines(text.trim_end())
        );
    }
    if !errors.is_empty() {
        let lint = crate::gateway::command::shell_word(&dir.display().to_string());
        crate::errln!(
            "ipsecmgr: diff --tree: {} has errors; nothing compared (`ipsecmgr --root {} lint` shows them)",
            crate::escape::escaped_path(dir),
            crate::escape::escaped(&lint)
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
        let _ = writeln!(
            out,
            "{} {}: {}",
            c.status,
            escaped(&c.name),
            escaped(&c.command)
        );
        for (what, list) in [
            ("added", &c.tunnels_added),
            ("removed", &c.tunnels_removed),
            ("changed", &c.tunnels_changed),
            ("re-key", &c.rekey),
        ] {
            for t in list {
                let _ = writeln!(out, "  {what:<8} {}", escaped(t));
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
/// fragment (and one for ipsec.conf's own rules, with the steps to take by
/// hand) with its tunnels added, removed and changed, the phase 1 peers
/// that re-key, and the command that carries the change out.
fn markdown(changes: &[FragmentChange]) -> String {
    let mut out = String::from("### IPsec tunnels\n\n");
    if changes.is_empty() {
        out.push_str("No tunnel changes.\n");
        return out;
    }
    let total = |f: fn(&FragmentChange) -> usize| changes.iter().map(f).sum::<usize>();
    let fragments = changes.iter().filter(|c| !c.own_rules).count();
    let what = match (fragments, changes.len() > fragments) {
        (0, _) => "ipsec.conf's own rules change".to_string(),
        (n, true) => format!("{n} fragment(s) and ipsec.conf's own rules change"),
        (n, false) => format!("{n} fragment(s) change"),
    };
    let _ = writeln!(
        out,
        "{what}: **{}** tunnel(s) added, **{}** removed, **{}** changed; \
         **{}** peer(s) re-key.\n",
        total(|c| c.tunnels_added.len()),
        total(|c| c.tunnels_removed.len()),
        total(|c| c.tunnels_changed.len()),
        total(|c| c.rekey.len()),
    );
    table(&mut out, changes);
    other_rules(&mut out, changes);
    out
}

fn table(out: &mut String, changes: &[FragmentChange]) {
    out.push_str("| Fragment | Change | Tunnels added | Tunnels removed | Tunnels changed | Peers that re-key | Command |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for c in changes {
        // ipsec.conf's own rules: no command to run, but steps to take by hand
        let name = if c.own_rules {
            format!("{} (its own rules)", code_span(&c.name))
        } else {
            code_span(&c.name)
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            c.status,
            cell(&c.tunnels_added),
            cell(&c.tunnels_removed),
            cell(&c.tunnels_changed),
            cell(&c.rekey),
            command_cell(&c.command_parts),
        );
    }
}

/// Flows and SAs that are not tunnels, within fragments that stay.
fn other_rules(out: &mut String, changes: &[FragmentChange]) {
    let others: Vec<&FragmentChange> = changes
        .iter()
        .filter(|c| c.status == "changed")
        .filter(|c| c.other_rules_added > 0 || c.other_rules_removed > 0)
        .collect();
    if others.is_empty() {
        return;
    }
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

/// A command in a table cell: its prose as text, its code as code spans.
fn command_cell(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => markdown_text(t),
            Part::Code(c) => code_span(c),
        })
        .collect()
}

/// Text as inline code inside a table cell (CommonMark code spans, GitHub
/// tables): the span is fenced by more backticks than any run it holds,
/// and set off by spaces when it starts or ends with one; a pipe, which
/// would end the cell even inside the span, is escaped as GitHub's tables
/// want (`\|`).  Control characters are escaped, as everywhere.
fn code_span(text: &str) -> String {
    let text = escaped(text).replace('|', "\\|");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// Prose inside a table cell, with the characters markdown would read as
/// markup escaped.
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in escaped(text).chars() {
        if "\\`*_[]<>|#".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(code_span("plain"), "`plain`");
        assert_eq!(code_span("a|b`c"), "``a\\|b`c``");
        assert_eq!(code_span("`x``"), "``` `x`` ```");
        assert_eq!(code_span("a\nb"), "`a\\nb`");
        assert_eq!(
            markdown_text("by *hand* | <b>"),
            "by \\*hand\\* \\| \\<b\\>"
        );
        assert_eq!(cell(&[]), "\u{2013}");
        assert_eq!(cell(&["x".into(), "y".into()]), "`x`<br>`y`");
        assert_eq!(
            command_cell(&[
                Part::Text("by hand, ".into()),
                Part::Code("ipsecctl -f NEW".into())
            ]),
            "by hand, `ipsecctl -f NEW`"
        );
    }
}
