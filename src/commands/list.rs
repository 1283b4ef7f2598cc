//! `ipsecmgr ls` and `ipsecmgr tags`: what the tree holds, read only.

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use serde::Serialize;

use crate::cli::{LsArgs, TagsArgs};
use crate::commands::{EXIT_CONFIG, EXIT_OK, EXIT_USAGE};
use crate::emit::tags;
use crate::escape::escaped;
use crate::manager::fragments;
use crate::manager::gateway::Gateway;
use crate::manager::sections::ike_sections;
use crate::manager::state;
use crate::manager::teardown::{self, ikes};
use crate::manager::tree::{Fragment, Missing, Tree};
use crate::rules::model::{Rule, RuleKind};
use crate::system::files;

#[derive(Serialize)]
struct Entry {
    name: String,
    path: String,
    line: u32,
    flows: usize,
    sas: usize,
    ike: usize,
    /// applied (the applied copy is the file), modified (it is not),
    /// unmanaged (no applied copy), or missing (the file included is gone)
    state: &'static str,
    /// `down` took its connections off isakmpd's lists; `up` puts them back
    held_down: bool,
    phase1: Vec<String>,
    phase2: Vec<String>,
    /// For a modified fragment: how the file on disk differs from what is
    /// loaded (its applied copy), tunnel by phase 2 tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    not_applied: Option<NotApplied>,
}

/// Tunnels the file on disk adds or drops, against the applied copy.
#[derive(Serialize, Default)]
struct NotApplied {
    added: Vec<String>,
    removed: Vec<String>,
}

/// The phase 2 tags of the fragment's applied copy and of its file, compared.
fn not_applied(gw: &Gateway, name: &str, copy: &[u8], on_disk: &[String]) -> NotApplied {
    let applied = gw.compile_text(&gw.shown(&gw.applied_copy(name)), copy);
    let loaded: Vec<String> = unique(
        ikes(applied.rules.iter())
            .iter()
            .map(|i| tags::ike_tags(i).phase2)
            .collect(),
    );
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

fn unique(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
    v
}

fn entry(gw: &Gateway, tree: &Tree, f: &Fragment, held: &state::HeldDown) -> Entry {
    let rules: Vec<&Rule> = tree.rules_of(f).collect();
    let count = |p: fn(&RuleKind) -> bool| rules.iter().filter(|r| p(&r.kind)).count();
    let own = ikes(rules.iter().copied());
    let copy = fs::read(gw.applied_copy(&f.name));
    let state = match &copy {
        Err(_) => "unmanaged",
        Ok(copy) if fs::read(&f.actual).is_ok_and(|disk| &disk == copy) => "applied",
        Ok(_) => "modified",
    };
    let phase2 = unique(own.iter().map(|i| tags::ike_tags(i).phase2).collect());
    let not_applied = match &copy {
        Ok(copy) if state == "modified" => Some(not_applied(gw, &f.name, copy, &phase2)),
        _ => None,
    };
    Entry {
        name: f.name.clone(),
        path: f.gateway_path.clone(),
        line: f.include_line,
        flows: count(|k| matches!(k, RuleKind::Flow(_))),
        sas: count(|k| matches!(k, RuleKind::Sa(_))),
        ike: own.len(),
        state,
        held_down: held.contains_key(&f.name),
        phase1: unique(own.iter().map(|i| tags::phase1(i)).collect()),
        phase2,
        not_applied,
    }
}

/// An include line whose file is gone: it loads nothing.
fn missing_entry(m: &Missing, held: &state::HeldDown) -> Entry {
    Entry {
        name: m.name.clone(),
        path: m.gateway_path.clone(),
        line: m.include_line,
        flows: 0,
        sas: 0,
        ike: 0,
        state: "missing",
        held_down: held.contains_key(&m.name),
        phase1: Vec::new(),
        phase2: Vec::new(),
        not_applied: None,
    }
}

pub fn ls(gw: &Gateway, args: &LsArgs) -> i32 {
    crate::commands::manage::warn_pending(gw);
    let tree = Tree::load(gw);
    for d in tree.compiled.diags.iter().filter(|d| d.is_error()) {
        crate::err!(
            "{}",
            crate::escape::escaped_lines(&crate::diag::render_plain(
                d,
                &tree.compiled.parsed.sources
            ))
        );
    }
    let held = state::held_fragments(gw);
    let mut entries: Vec<Entry> = tree
        .fragments
        .iter()
        .map(|f| entry(gw, &tree, f, &held))
        .collect();
    entries.extend(tree.missing(gw).iter().map(|m| missing_entry(m, &held)));
    entries.sort_by_key(|e| e.line);
    // pending clean-ups may be of fragments already removed
    let pending = state::pending_cleanups(gw);
    if args.json {
        for p in &pending {
            crate::errln!("ipsecmgr: pending: {}", escaped(&state::describe(p)));
        }
        crate::outln!("{}", crate::json::list("fragments", &entries));
        return EXIT_OK;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:>5} {:>5} {:>4} {:>4}  {:<9}  PATH",
        "NAME", "LINE", "FLOWS", "SAS", "IKE", "STATE"
    );
    for e in &entries {
        let _ = writeln!(
            out,
            "{:<24} {:>5} {:>5} {:>4} {:>4}  {:<9}  {}",
            escaped(&e.name),
            e.line,
            e.flows,
            e.sas,
            e.ike,
            e.state,
            escaped(&e.path)
        );
        if e.held_down {
            let _ = writeln!(
                out,
                "    held down (until `ipsecmgr up {}`)",
                escaped(&e.name)
            );
        }
        for t in e.phase1.iter().chain(&e.phase2) {
            let _ = writeln!(out, "    {t}");
        }
        if let Some(n) = &e.not_applied {
            let _ = writeln!(
                out,
                "    modified, not applied (`ipsecmgr diff {}` shows how):",
                escaped(&e.name)
            );
            for t in &n.added {
                let _ = writeln!(out, "      + {t}");
            }
            for t in &n.removed {
                let _ = writeln!(out, "      - {t}");
            }
        }
    }
    if !pending.is_empty() {
        let _ = writeln!(out, "pending clean-ups:");
        for p in &pending {
            let _ = writeln!(out, "    {}", escaped(&state::describe(p)));
        }
    }
    crate::out!("{out}");
    EXIT_OK
}

pub fn tags(gw: &Gateway, args: &TagsArgs) -> i32 {
    let tree = Tree::load(gw);
    let mut failed = false;
    let standalone;
    let owned;
    let (rules, name): (Vec<&Rule>, Option<String>) = match fragments::resolve(gw, &args.target)
        .ok()
        .filter(|n| tree.fragment(n).is_some() || gw.applied_copy(n).exists())
    {
        Some(name) => match fragments::loaded(gw, &tree, &name) {
            Ok(l) => {
                owned = l;
                (owned.rules(&tree), Some(name))
            }
            Err(e) => {
                crate::errln!("ipsecmgr: tags: {}", crate::escape::escaped_lines(&e));
                return EXIT_CONFIG;
            }
        },
        None => {
            // a bare name may be a file of the fragment directory that
            // ipsec.conf does not include
            let in_dir = fragments::resolve(gw, &args.target)
                .ok()
                .filter(|_| !args.target.contains('/'))
                .map(|n| fragments::file_of(gw, &n).actual)
                .filter(|p| fs::symlink_metadata(p).is_ok());
            let path = in_dir.unwrap_or_else(|| PathBuf::from(&args.target));
            // only regular files: a FIFO or a device would never end
            let text = match files::read_regular(&path, files::MAX_CONFIG_BYTES) {
                Ok(data) => data.bytes,
                Err(_) if fs::symlink_metadata(&path).is_err() => {
                    crate::errln!(
                        "ipsecmgr: tags: {}: no such fragment or file",
                        crate::escape::escaped(&args.target)
                    );
                    return EXIT_CONFIG;
                }
                Err(e) => {
                    // there, but not readable: tags could not run
                    crate::errln!(
                        "ipsecmgr: tags: {}: {}",
                        crate::escape::escaped_path(&path),
                        e.0
                    );
                    return EXIT_USAGE;
                }
            };
            standalone = gw.compile_text(&args.target, &text);
            for d in standalone.diags.iter().filter(|d| d.is_error()) {
                crate::err!(
                    "{}",
                    crate::diag::render_plain(d, &standalone.parsed.sources)
                );
            }
            failed = standalone.has_errors();
            (standalone.rules.iter().collect(), None)
        }
    };
    let own = ikes(rules.iter().copied());
    // each tag once, in the order the rules name them
    let mut named: Vec<(&'static str, String)> = Vec::new();
    for ike in &own {
        let s = ike_sections(ike);
        named.push(("phase1", s.phase1));
        named.push(("phase2", s.phase2));
        for id in s.network_ids.into_iter().chain(s.id_sections) {
            named.push(("id", id));
        }
    }
    let mut seen = std::collections::HashSet::new();
    named.retain(|n| seen.insert(n.clone()));
    let teardown = args.teardown.then(|| {
        let remaining: Vec<&Rule> = match &name {
            Some(n) => tree.rules_except(n).collect(),
            None => tree.compiled.rules.iter().collect(),
        };
        // ipsecmgr's own copy of what `ipsecctl -d` sends comes first
        teardown::cleanup_lines(&own, &ikes(remaining))
    });
    if args.json {
        let of = |kind: &str| -> Vec<&String> {
            named
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, v)| v)
                .collect()
        };
        let doc = TagsDoc {
            fragment: name.as_deref(),
            phase1: of("phase1"),
            phase2: of("phase2"),
            ids: of("id"),
            teardown: teardown.as_deref(),
        };
        crate::outln!("{}", crate::json::object(&doc));
    } else {
        let mut out = String::new();
        for (kind, value) in &named {
            let _ = writeln!(out, "{kind:<6} {value}");
        }
        if let Some(lines) = &teardown {
            out.push_str("\nteardown:\n");
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
        }
        crate::out!("{}", crate::escape::escaped_lines(&out));
    }
    if failed { EXIT_CONFIG } else { EXIT_OK }
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
