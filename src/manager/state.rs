//! What ipsecmgr remembers about isakmpd between runs, in state_dir:
//!
//! - `applied/NAME.conf`: the fragment as last loaded (an empty file: none
//!   of it is loaded, as `add --config-only` leaves it; none at all: loaded
//!   without ipsecmgr, its file taken to be what is loaded).  A
//!   `--config-only` run loads nothing, so it keeps these saying what is
//!   loaded ([`crate::manager::config_only`]).
//! - `loaded/NAME.json`: the names (tags, sections, list values) and the
//!   FIFO lines a fragment was loaded with, stored at add/apply.  rm, down
//!   and apply take a fragment down by these, never by compiling it again:
//!   a host name resolved through DNS, or the hostname `ike dynamic` uses,
//!   may give other names today than on the day it was loaded.  The lines
//!   are kept with the pre-shared key redacted: nothing needs it back.
//! - `held-down.json`: the fragments `down` took down, with their
//!   connections.  Every later command keeps those off isakmpd's lists.
//! - `pending-cleanup.json`: phase 1 clean-ups that wait until no exchange
//!   with their peer is in flight (see [`crate::manager::teardown::Cleanup`]).
//!
//! Each file is written by a plan step (a `Step::Write`), so an interrupted
//! run rolls it back or completes it with the rest of its plan.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::emit::isakmpd;
use crate::manager::gateway::Gateway;
use crate::manager::plan::Step;
use crate::manager::sections::{IkeSections, ike_sections};
use crate::manager::teardown::{HeldRules, ikes};
use crate::manager::tree::Tree;
use crate::rules::model::Ike;
use crate::rules::model::Rule;

/// What one fragment was loaded with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedRecord {
    /// Per ike rule, in order.
    pub ikes: Vec<IkeSections>,
    /// The FIFO lines `ipsecctl -f` sent for them (keys redacted).
    pub lines: Vec<String>,
}

impl LoadedRecord {
    /// The record of `rules` as compiled now, at the moment they are loaded.
    pub fn of(rules: &[&Rule]) -> LoadedRecord {
        let own = ikes(rules.iter().copied());
        let mut text = String::new();
        for ike in &own {
            // the lines stop where ipsecctl stops them
            if isakmpd::add_commands(ike, &mut text, false).is_err() {
                break;
            }
        }
        LoadedRecord {
            ikes: own.iter().map(|i| ike_sections(i)).collect(),
            lines: text.lines().map(str::to_string).collect(),
        }
    }
}

/// A connection `down` holds down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldConnection {
    /// `Connections` or `Passive-Connections`.
    pub list: String,
    pub name: String,
}

/// Fragment name → its held-down connections.
pub type HeldDown = BTreeMap<String, Vec<HeldConnection>>;

/// A phase 1 clean-up that waits for its peer's exchanges to end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCleanup {
    /// The fragment, and the command that left it (`rm`, `apply`, `down`).
    pub fragment: String,
    pub op: String,
    /// Phase 1 tags and peer addresses whose exchanges are waited for.
    pub peers: Vec<String>,
    pub addresses: Vec<String>,
    /// SA names taken away: any that becomes ready is torn down again
    /// (`t main` for a phase 1 tag, `t` for a connection).
    pub phase1_names: Vec<String>,
    pub phase2_names: Vec<String>,
    /// What was loaded under those peers and goes (empty after `down`,
    /// which removes no configuration).
    pub removed: Vec<IkeSections>,
    /// The initiator phase 1 exchanges in flight when the connections
    /// went, by icookie: isakmpd does not say which peer such an exchange
    /// is with, so any of them may be with these peers.  Filled in by the
    /// first settle after the run; an exchange started later is not for a
    /// connection already gone.
    #[serde(default)]
    pub exchanges: Option<Vec<String>>,
    /// Unix time after which none of `exchanges` can still live: isakmpd
    /// ends an exchange at Exchange-max-time (exchange.c: exchange_create).
    #[serde(default)]
    pub deadline: Option<u64>,
    /// Unix time before which the clean-up is not finished: until
    /// isakmpd's connection reinit (ui.c: ui_conn_reinit, 5 s after the
    /// last list change) the connections' passive records live, and a peer
    /// re-initiating is accepted under a name taken away.
    #[serde(default)]
    pub not_before: u64,
}

fn loaded_path(gw: &Gateway, name: &str) -> PathBuf {
    gw.state_dir.join("loaded").join(format!("{name}.json"))
}

fn held_path(gw: &Gateway) -> PathBuf {
    gw.state_dir.join("held-down.json")
}

fn pending_path(gw: &Gateway) -> PathBuf {
    gw.state_dir.join("pending-cleanup.json")
}

/// The record of fragment `name`, if ipsecmgr loaded it (a record that
/// cannot be read counts as none: the names are then compiled afresh).
pub fn read_loaded(gw: &Gateway, name: &str) -> Option<LoadedRecord> {
    let text = fs::read(loaded_path(gw, name)).ok()?;
    serde_json::from_slice(&text).ok()
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    // one line: a plan shows it as a one-line change
    let mut text = serde_json::to_vec(value).unwrap_or_default();
    text.push(b'\n');
    text
}

/// A step that writes `new` over `path` (state files are private), said
/// in a plan as `what` it records.
fn write_step(gw: &Gateway, path: PathBuf, new: Vec<u8>, what: String) -> Step {
    let old = fs::read(&path).ok();
    Step::record(path.clone(), gw.shown(&path), old, new, what)
}

/// The step storing what `name` is loaded with.
pub fn write_loaded(gw: &Gateway, name: &str, record: &LoadedRecord) -> Step {
    let what = format!(
        "what {name} loaded: {} connection(s), {} FIFO line(s)",
        record.ikes.len(),
        record.lines.len()
    );
    write_step(gw, loaded_path(gw, name), json(record), what)
}

/// The step keeping `text` as the applied copy of `name` (what is loaded
/// of it: an empty copy, nothing), said in a plan in one line.
pub fn write_applied(gw: &Gateway, name: &str, old: Option<Vec<u8>>, text: Vec<u8>) -> Step {
    let copy = gw.applied_copy(name);
    let what = match text.iter().filter(|&&b| b == b'\n').count() {
        _ if text.is_empty() => {
            format!("the copy of {name} as applied: empty, none of it is loaded")
        }
        lines => format!("the copy of {name} as applied: {lines} line(s)"),
    };
    Step::record(copy.clone(), gw.shown(&copy), old, text, what)
}

/// The step moving the record of a removed fragment aside (kept, as rm
/// keeps the fragment), when there is one.
pub fn retire_loaded(gw: &Gateway, name: &str, stamp: u64) -> Option<Step> {
    let from = loaded_path(gw, name);
    if !from.exists() {
        return None;
    }
    // a second rm of the name within the same second must not replace it
    let to = crate::system::fs::free_name(
        &gw.state_dir.join("loaded"),
        &format!("{name}.json.removed.{stamp}"),
    );
    Some(Step::Move {
        shown_from: gw.shown(&from),
        shown_to: gw.shown(&to),
        from,
        to,
    })
}

/// When fragment `name` was last removed (`rm` moved its file or applied
/// copy aside, named `NAME.conf.SECONDS` or `NAME.applied.SECONDS`), and
/// that file: so that an `rm` run again can say it is done already.
pub fn last_removed(gw: &Gateway, name: &str) -> Option<(std::time::SystemTime, PathBuf)> {
    let at = gw.removed_dir().join(name);
    let dir = at.parent()?;
    let base = at.file_name()?.to_str()?.to_string();
    let stamp_of = |file: &str| {
        [".conf.", ".applied."].iter().find_map(|kind| {
            let rest = file.strip_prefix(&base)?.strip_prefix(kind)?;
            // `.N` follows when a name was taken within the same second
            rest.split('.').next()?.parse::<u64>().ok()
        })
    };
    // a stamp no run of ipsecmgr wrote (past the year 9999) is not one
    const YEAR_10000: u64 = 253_402_300_800;
    fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let stamp = stamp_of(e.file_name().to_str()?)?;
            (stamp < YEAR_10000).then(|| (stamp, e.path()))
        })
        .max()
        .map(|(stamp, path)| {
            let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(stamp);
            (when, path)
        })
}

/// The held-down fragments and their connections.
pub fn held_fragments(gw: &Gateway) -> HeldDown {
    fs::read(held_path(gw))
        .ok()
        .and_then(|t| serde_json::from_slice(&t).ok())
        .unwrap_or_default()
}

/// The names of every held-down connection, sorted: what `status` checks
/// isakmpd does not hold again.
pub fn held_down(gw: &Gateway) -> Vec<String> {
    let mut names: Vec<String> = held_fragments(gw)
        .into_values()
        .flatten()
        .map(|c| c.name)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The step writing `held`, if it differs from what is stored.
pub fn write_held(gw: &Gateway, held: &HeldDown) -> Option<Step> {
    (held_fragments(gw) != *held).then(|| {
        let what = if held.is_empty() {
            "no fragment held down".to_string()
        } else {
            let names: Vec<&str> = held.keys().map(String::as_str).collect();
            format!("the fragments held down: {}", names.join(", "))
        };
        write_step(gw, held_path(gw), json(held), what)
    })
}

/// The connections of `own` as held down.
pub fn held_connections(own: &[IkeSections]) -> Vec<HeldConnection> {
    let mut out: Vec<HeldConnection> = Vec::new();
    for s in own {
        let c = HeldConnection {
            list: s.connection_list().to_string(),
            name: s.phase2.clone(),
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// The time stamp that names what a run moves aside, and the clock of the
/// pending clean-ups.
pub fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The ike rules of the fragments held down with `down`, but `except`'s.
pub fn held_rules(gw: &Gateway, tree: &Tree, except: &str) -> HeldRules {
    let mut held = HeldRules::new();
    for name in held_fragments(gw).keys().filter(|n| n.as_str() != except) {
        if let Some(f) = tree.fragment(name) {
            held.extend(ikes(tree.rules_of(f)).into_iter().map(|i| i as *const Ike));
        }
    }
    held
}

/// The phase 1 clean-ups that wait, oldest first.
pub fn pending_cleanups(gw: &Gateway) -> Vec<PendingCleanup> {
    fs::read(pending_path(gw))
        .ok()
        .and_then(|t| serde_json::from_slice(&t).ok())
        .unwrap_or_default()
}

/// The step writing `pending`, if it differs from what is stored.
pub fn write_pending(gw: &Gateway, pending: &[PendingCleanup]) -> Option<Step> {
    (pending_cleanups(gw) != pending).then(|| {
        let what = format!(
            "the phase 1 clean-ups pending: {}",
            if pending.is_empty() {
                "none".to_string()
            } else {
                pending
                    .iter()
                    .map(|p| format!("{} after `{} {}`", p.peers.join(", "), p.op, p.fragment))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        );
        write_step(gw, pending_path(gw), json(&pending), what)
    })
}

/// Writes `pending` now, outside a plan (finishing a clean-up); none
/// left removes the file.
pub fn store_pending(gw: &Gateway, pending: &[PendingCleanup]) -> Result<(), String> {
    let path = pending_path(gw);
    if pending.is_empty() {
        return match fs::remove_file(&path) {
            Ok(()) => {
                crate::system::fs::sync_dir(&gw.state_dir);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!(
                "cannot remove {}: {}",
                path.display(),
                crate::system::files::io_reason(&e)
            )),
        };
    }
    crate::system::fs::atomic_write(&path, &json(&pending), 0o600)
}

/// One line saying what a pending clean-up waits for, for `ls`.
pub fn describe(p: &PendingCleanup) -> String {
    let what = if p.removed.is_empty() {
        "teardown"
    } else {
        "clean-up"
    };
    let whom = if p.peers.is_empty() {
        p.phase2_names.join(", ")
    } else {
        p.peers.join(", ")
    };
    format!(
        "{what} of {whom} after `{} {}` waits until no exchange with it is in flight",
        p.op, p.fragment
    )
}

/// Fragments ipsec.conf no longer includes whose applied copy holds
/// rules, by name: `rm --config-only` left them loaded until a normal `rm`.
/// (An empty applied copy means nothing of the fragment is loaded.)
pub fn still_loaded(gw: &Gateway, listed: &[String]) -> Vec<(String, Vec<u8>)> {
    let dir = gw.state_dir.join("applied");
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(&dir).min_depth(1).sort_by_file_name() {
        let Ok(entry) = entry else { continue };
        let Ok(rel) = entry.path().strip_prefix(&dir) else {
            continue;
        };
        let Some(name) = rel.to_str().and_then(|n| n.strip_suffix(".conf")) else {
            continue;
        };
        if !entry.file_type().is_file() || listed.iter().any(|l| l == name) {
            continue;
        }
        match fs::read(entry.path()) {
            Ok(copy) if !copy.is_empty() => found.push((name.to_string(), copy)),
            _ => {}
        }
    }
    found
}
