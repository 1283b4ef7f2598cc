//! `ipsecmgr status [NAME]`: the live state of each fragment's tunnels
//! (computed by [`crate::manager::status`]), as text or JSON.

use std::fmt::Write as _;

use crate::cli::StatusArgs;
use crate::commands::{EXIT_CONFIG, EXIT_OK};
use crate::manager::drift::Connection;
use crate::manager::gateway::Gateway;
use crate::manager::status::{self, FragmentState, Status};
use crate::manager::tree::Tree;

pub fn run(gw: &Gateway, args: &StatusArgs) -> i32 {
    crate::commands::manage::warn_pending(gw);
    let tree = Tree::load(gw);
    let status = status::only_fragment(gw, &tree, args.name.as_deref())
        .and_then(|only| status::status(gw, &tree, only.as_deref()));
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            crate::errln!("ipsecmgr: status: {}", crate::escape::escaped_lines(&e));
            return EXIT_CONFIG;
        }
    };
    for p in &status.problems {
        crate::errln!("ipsecmgr: status: warning: {p}");
    }
    if let Some(e) = &status.drift_unchecked {
        crate::errln!("ipsecmgr: status: warning: drift not checked: {e}");
    }
    if args.json {
        crate::output::document(&crate::json::object(&status));
        return EXIT_OK;
    }
    crate::out!(
        "{}",
        crate::escape::escaped_lines(&render_text(gw, &status))
    );
    EXIT_OK
}

fn render_text(gw: &Gateway, status: &Status) -> String {
    let mut out = String::new();
    for f in &status.fragments {
        fragment_text(&mut out, gw, f);
    }
    for (title, items) in lists(status) {
        if !items.is_empty() {
            let _ = writeln!(out, "{title}:");
            for i in items {
                let _ = writeln!(out, "  {i}");
            }
        }
    }
    out
}

fn fragment_text(out: &mut String, gw: &Gateway, f: &FragmentState) {
    let held = if f.held_down { "  (held down)" } else { "" };
    let _ = writeln!(out, "{}:{held}", crate::escape::escaped(&f.name));
    if f.removed {
        let _ = writeln!(
            out,
            "  removed     no longer included, still loaded (until `{}`)",
            gw.command(&["rm", &f.name])
        );
    }
    if f.missing {
        let _ = writeln!(
            out,
            "  missing     its file does not exist; it loads nothing"
        );
    }
    if let Some(problem) = &f.problem {
        let _ = writeln!(
            out,
            "  unreadable  still included, but cannot be read: {}",
            crate::escape::escaped(problem)
        );
    }
    for t in &f.tunnels {
        let _ = writeln!(out, "  {:<11} {}  ({})", t.state, t.phase2, t.phase1);
    }
    if f.flows > 0 {
        let _ = writeln!(
            out,
            "  flows       {} of {} loaded",
            f.flows_loaded, f.flows
        );
    }
    if let Some(c) = &f.certificates {
        if let (Some(expires), Some(file), Some(days)) = (&c.expires, &c.file, c.days) {
            let when = if days < 0 {
                format!("expired {expires}")
            } else {
                format!("expires {expires}, in {days} day(s)")
            };
            let _ = writeln!(
                out,
                "  certificate {when}  ({})",
                crate::escape::escaped(file)
            );
        }
        if let Some(p) = &c.problem {
            let _ = writeln!(out, "  certificate {}", crate::escape::escaped(p));
        }
    }
}

/// The lists after the fragments, each under its title (shown when not
/// empty).
fn lists(status: &Status) -> [(&'static str, Vec<String>); 7] {
    let drift = status.drift.as_ref();
    [
        (
            "isakmpd SAs no fragment accounts for",
            status.unaccounted_isakmpd_sas.clone(),
        ),
        (
            "flows no fragment accounts for",
            status.unaccounted_flows.clone(),
        ),
        (
            "SAs no fragment accounts for",
            status.unaccounted_sas.clone(),
        ),
        (
            "connections isakmpd holds that no fragment has",
            drift.map(|d| d.unknown.clone()).unwrap_or_default(),
        ),
        (
            "connections isakmpd does not hold",
            drift.map(|d| named(&d.missing)).unwrap_or_default(),
        ),
        (
            "held down but active again",
            drift
                .map(|d| named(&d.held_down_active))
                .unwrap_or_default(),
        ),
        ("pending clean-ups", status.pending_cleanups.clone()),
    ]
}

/// Connections with the fragment each belongs to.
fn named(cs: &[Connection]) -> Vec<String> {
    cs.iter()
        .map(|c| {
            let from = if c.fragment.is_empty() {
                "ipsec.conf"
            } else {
                &c.fragment
            };
            format!("{}  ({from})", c.connection)
        })
        .collect()
}
