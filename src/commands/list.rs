//! `ipsecmgr ls` and `ipsecmgr tags`: what the tree holds, read only
//! ([`crate::manager::listing`], [`crate::manager::tag_list`]), as text or
//! JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::cli::{LsArgs, TagsArgs};
use crate::commands::{EXIT_CONFIG, EXIT_OK, EXIT_USAGE};
use crate::escape::escaped;
use crate::manager::gateway::Gateway;
use crate::manager::listing::{self, Entry};
use crate::manager::tag_list::{self, TagList, Target, TargetError};
use crate::manager::tree::Tree;

pub fn ls(gw: &Gateway, args: &LsArgs) -> i32 {
    crate::commands::manage::warn_pending(gw);
    let tree = Tree::load(gw);
    crate::commands::print_errors(&tree.compiled);
    let listing = listing::listing(gw, &tree);
    for p in &listing.problems {
        crate::errln!("ipsecmgr: warning: {p}");
    }
    if args.json {
        for p in &listing.pending {
            crate::errln!("ipsecmgr: pending: {}", escaped(p));
        }
        crate::output::document(&crate::json::list("fragments", &listing.fragments));
        return EXIT_OK;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:>5} {:>5} {:>4} {:>4}  {:<9}  PATH",
        "NAME", "LINE", "FLOWS", "SAS", "IKE", "STATE"
    );
    for e in &listing.fragments {
        entry_text(&mut out, gw, e);
    }
    if !listing.pending.is_empty() {
        let _ = writeln!(out, "pending clean-ups:");
        for p in &listing.pending {
            let _ = writeln!(out, "    {}", escaped(p));
        }
    }
    crate::out!("{out}");
    EXIT_OK
}

fn entry_text(out: &mut String, gw: &Gateway, e: &Entry) {
    let hint = |verb: &str| escaped(&gw.command(&[verb, &e.name]));
    let _ = writeln!(
        out,
        "{:<24} {:>5} {:>5} {:>4} {:>4}  {:<9}  {}",
        escaped(&e.name),
        // a fragment no longer included has no line
        if e.line == 0 {
            "-".to_string()
        } else {
            e.line.to_string()
        },
        e.flows,
        e.sas,
        e.ike,
        e.state,
        escaped(&e.path)
    );
    if let Some(problem) = &e.problem {
        let _ = writeln!(
            out,
            "    still included, but cannot be read: {}",
            escaped(problem)
        );
    }
    if e.state == "removed" {
        let _ = writeln!(
            out,
            "    no longer included, still loaded (until `{}`)",
            hint("rm")
        );
    }
    if e.held_down {
        let _ = writeln!(out, "    held down (until `{}`)", hint("up"));
    }
    for t in e.phase1.iter().chain(&e.phase2) {
        let _ = writeln!(out, "    {t}");
    }
    if let Some(n) = &e.not_applied {
        let _ = writeln!(
            out,
            "    modified, not applied (`{}` shows how):",
            hint("diff")
        );
        for t in &n.added {
            let _ = writeln!(out, "      + {t}");
        }
        for t in &n.removed {
            let _ = writeln!(out, "      - {t}");
        }
    }
}

pub fn tags(gw: &Gateway, args: &TagsArgs) -> i32 {
    let tree = Tree::load(gw);
    let target = match tag_list::target(gw, &tree, &args.target) {
        Ok(t) => t,
        Err(TargetError::NotFound(e)) => {
            crate::errln!("ipsecmgr: tags: {}", crate::escape::escaped_lines(&e));
            return EXIT_CONFIG;
        }
        Err(TargetError::Unreadable(e)) => {
            crate::errln!("ipsecmgr: tags: {}", crate::escape::escaped_lines(&e));
            return EXIT_USAGE;
        }
    };
    let mut failed = false;
    if let Target::File(compiled) = &target {
        crate::commands::print_errors(compiled);
        failed = compiled.has_errors();
    }
    let list = tag_list::tag_list(&tree, &target, args.teardown);
    if args.json {
        let doc = TagsDoc {
            fragment: target.fragment(),
            phase1: list.of("phase1"),
            phase2: list.of("phase2"),
            ids: list.of("id"),
            teardown: list.teardown.as_deref(),
        };
        crate::output::document(&crate::json::object(&doc));
    } else {
        crate::out!("{}", crate::escape::escaped_lines(&tags_text(&list)));
    }
    if failed { EXIT_CONFIG } else { EXIT_OK }
}

fn tags_text(list: &TagList) -> String {
    let mut out = String::new();
    for (kind, value) in &list.named {
        let _ = writeln!(out, "{kind:<6} {value}");
    }
    if let Some(lines) = &list.teardown {
        out.push_str("\nteardown:\n");
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// `tags --json`: a fragment's (or a file's) isakmpd names, and with
/// `--teardown` the FIFO lines that take them down.
#[derive(Serialize)]
struct TagsDoc<'a> {
    /// The fragment, when the target is one.
    fragment: Option<&'a str>,
    phase1: Vec<&'a String>,
    phase2: Vec<&'a String>,
    ids: Vec<&'a String>,
    teardown: Option<&'a [String]>,
}
