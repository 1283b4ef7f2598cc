//! `ipsecmgr diff NAME [FILE]`: what replacing a fragment would change
//! (computed by [`crate::manager::rule_diff`]), as text or JSON; with
//! `--tree`, the review of two trees ([`crate::commands::tree_diff`]).

use std::fmt::Write as _;

use crate::cli::{DiffArgs, TreeFormat};
use crate::commands::{EXIT_CONFIG, EXIT_OK, EXIT_USAGE};
use crate::manager::gateway::Gateway;
use crate::manager::ops;
use crate::manager::rule_diff::{self, DiffReport};

pub fn run(gw: &Gateway, args: &DiffArgs) -> i32 {
    if let Some(trees) = &args.tree {
        return crate::commands::tree_diff::run(gw, &trees[0], &trees[1], args);
    }
    let json = match args.format {
        Some(TreeFormat::Markdown) => {
            crate::errln!(
                "ipsecmgr: diff: --format markdown is the review of two trees (diff --tree OLD NEW); a fragment's diff is text or json"
            );
            return EXIT_USAGE;
        }
        Some(TreeFormat::Json) => true,
        Some(TreeFormat::Text) => false,
        None => args.json,
    };
    if let Some(typed) = &args.file
        && let Err(e) = ops::read_arg(std::path::Path::new(typed))
    {
        crate::errln!("ipsecmgr: diff: {}", e.message());
        return crate::commands::manage::arg_error_status(&e);
    }
    let name = args.name.as_deref().unwrap_or_default();
    match rule_diff::report(gw, name, args.file.as_deref(), args.verbose) {
        Ok(r) => {
            if json {
                crate::output::document(&crate::json::object(&r));
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

/// The report as `diff` prints it.
fn render_text(r: &DiffReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fragment {}\nold: {}\nnew: {}",
        r.fragment, r.old, r.new
    );
    rules_text(&mut out, r);
    apply_text(&mut out, r);
    if !r.diff.is_empty() {
        let _ = writeln!(out);
        out.push_str(&r.diff);
    }
    out
}

/// Tunnels, flows and SAs changed, and the peers that re-key.
fn rules_text(out: &mut String, r: &DiffReport) {
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
}

/// What `apply` would do.
fn apply_text(out: &mut String, r: &DiffReport) {
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
}
