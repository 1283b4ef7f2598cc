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
//!
//! Each is read as input: a regular file of a bounded size, never through
//! a link ([`crate::system::files::read_private`]), parsed, and checked
//! ([`crate::manager::state_check`]).  One that is not so is an error that
//! names it and says how to go on: read as empty, the next run would write
//! it without what it held (a held-down fragment, a pending clean-up).

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::manager::fragment_name::check_qualified;
use crate::manager::gateway::Gateway;
use crate::manager::plan::Step;
pub use crate::manager::records::{
    HeldConnection, HeldDown, LoadedRecord, PendingCleanup, held_connections,
};
use crate::manager::state_check;
use crate::manager::teardown::{HeldRules, ikes};
use crate::manager::tree::Tree;
use crate::rules::model::Ike;
use crate::system::files;

/// The largest state file read: a journal holds the texts of the files
/// its run writes.
pub const MAX_STATE_BYTES: u64 = 256 << 20;

const HELD_REPAIR: &str = "move it away to go on (no fragment is then held down: `ipsecmgr down NAME` holds one down again)";
const PENDING_REPAIR: &str =
    "move it away to go on (the phase 1 clean-ups it held are then left undone)";
const LOADED_REPAIR: &str = "move it away to go on (the fragment is then taken down by the names compiled from its applied copy)";
const APPLIED_REPAIR: &str =
    "move it away to go on (the fragment's file is then taken to be what is loaded)";

/// The bytes of the state file `path`, `None` when there is none; an
/// error naming it, and saying `repair`, when it is no regular file or
/// too large.
pub fn read_file(path: &Path, limit: u64, repair: &str) -> Result<Option<Vec<u8>>, String> {
    files::read_private(path, limit)
        .map_err(|e| format!("{}: {}; {repair}", crate::escape::escaped_path(path), e.0))
}

/// The state file `path` parsed as `what` and checked by `check`.
fn read_json<T: DeserializeOwned>(
    path: &Path,
    what: &str,
    repair: &str,
    check: impl Fn(&T) -> Result<(), String>,
) -> Result<Option<T>, String> {
    let Some(bytes) = read_file(path, MAX_STATE_BYTES, repair)? else {
        return Ok(None);
    };
    let shown = crate::escape::escaped_path(path);
    let value: T = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{shown}: not {what} ({e}); {repair}"))?;
    check(&value).map_err(|e| format!("{shown}: {e}; {repair}"))?;
    Ok(Some(value))
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

/// The record of fragment `name`, if ipsecmgr loaded it.
pub fn read_loaded(gw: &Gateway, name: &str) -> Result<Option<LoadedRecord>, String> {
    let path = loaded_path(gw, name);
    read_json(&path, "a loaded record", LOADED_REPAIR, state_check::record)
}

/// The applied copy of fragment `name`, if it has one: what was loaded.
pub fn applied_copy(gw: &Gateway, name: &str) -> Result<Option<Vec<u8>>, String> {
    let path = gw.applied_copy(name);
    read_file(&path, files::MAX_CONFIG_BYTES, APPLIED_REPAIR)
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    // one line: a plan shows it as a one-line change
    let mut text = serde_json::to_vec(value).unwrap_or_default();
    text.push(b'\n');
    text
}

/// A step that writes `new` over `path` (state files are private), which
/// was read before as `old`, said in a plan as `what` it records.
fn write_step(
    gw: &Gateway,
    path: PathBuf,
    old: Option<Vec<u8>>,
    new: Vec<u8>,
    what: String,
) -> Step {
    Step::record(path.clone(), gw.shown(&path), old, new, what)
}

/// The bytes of a state file read and checked before, to undo its write.
fn old_bytes(path: &Path) -> Option<Vec<u8>> {
    files::read_private(path, MAX_STATE_BYTES).ok().flatten()
}

/// The step storing what `name` is loaded with.
pub fn write_loaded(gw: &Gateway, name: &str, record: &LoadedRecord) -> Step {
    let path = loaded_path(gw, name);
    let what = format!(
        "what {name} loaded: {} connection(s), {} FIFO line(s)",
        record.ikes.len(),
        record.lines.len()
    );
    write_step(gw, path.clone(), old_bytes(&path), json(record), what)
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
pub fn held_fragments(gw: &Gateway) -> Result<HeldDown, String> {
    let path = held_path(gw);
    read_json(&path, "a held-down record", HELD_REPAIR, state_check::held)
        .map(Option::unwrap_or_default)
}

/// The names of every held-down connection, sorted: what `status` checks
/// isakmpd does not hold again.
pub fn held_down(held: &HeldDown) -> Vec<String> {
    let mut names: Vec<String> = held.values().flatten().map(|c| c.name.clone()).collect();
    names.sort();
    names.dedup();
    names
}

/// The step writing `held`, if it differs from what is stored.
pub fn write_held(gw: &Gateway, held: &HeldDown) -> Result<Option<Step>, String> {
    let path = held_path(gw);
    Ok((held_fragments(gw)? != *held).then(|| {
        let what = if held.is_empty() {
            "no fragment held down".to_string()
        } else {
            let names: Vec<&str> = held.keys().map(String::as_str).collect();
            format!("the fragments held down: {}", names.join(", "))
        };
        write_step(gw, path.clone(), old_bytes(&path), json(held), what)
    }))
}

/// The time stamp that names what a run moves aside, and the clock of the
/// pending clean-ups.
pub fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The ike rules of the fragments held down with `down`, but `except`'s.
/// (A held-down record that cannot be read holds none: a run that changes
/// the gateway refuses it before it plans, see [`check`].)
pub fn held_rules(gw: &Gateway, tree: &Tree, except: &str) -> HeldRules {
    let mut held = HeldRules::new();
    let fragments = held_fragments(gw).unwrap_or_default();
    for name in fragments.keys().filter(|n| n.as_str() != except) {
        if let Some(f) = tree.fragment(name) {
            held.extend(ikes(tree.rules_of(f)).into_iter().map(|i| i as *const Ike));
        }
    }
    held
}

/// The phase 1 clean-ups that wait, oldest first.
pub fn pending_cleanups(gw: &Gateway) -> Result<Vec<PendingCleanup>, String> {
    let path = pending_path(gw);
    let check = |p: &Vec<PendingCleanup>| state_check::pending(p);
    read_json(&path, "a list of pending clean-ups", PENDING_REPAIR, check)
        .map(Option::unwrap_or_default)
}

/// The step writing `pending`, if it differs from what is stored.
pub fn write_pending(gw: &Gateway, pending: &[PendingCleanup]) -> Result<Option<Step>, String> {
    let path = pending_path(gw);
    Ok((pending_cleanups(gw)? != pending).then(|| {
        let what = format!(
            "the phase 1 clean-ups pending: {}",
            if pending.is_empty() {
                "none".to_string()
            } else {
                pending
                    .iter()
                    .map(|p| format!("{} after `{} {}`", whom(p), p.op, p.fragment))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        );
        write_step(gw, path.clone(), old_bytes(&path), json(&pending), what)
    }))
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
                crate::escape::escaped_path(&path),
                crate::system::files::io_reason(&e)
            )),
        };
    }
    crate::system::fs::atomic_write(&path, &json(&pending), 0o600)
}

/// Checks the state files every run reads (held-down fragments, pending
/// clean-ups): a run that changes the gateway refuses to go on past one
/// that cannot be read, rather than write it again without what it held.
pub fn check(gw: &Gateway) -> Result<(), String> {
    held_fragments(gw)?;
    pending_cleanups(gw)?;
    Ok(())
}

/// One line saying what a pending clean-up waits for, for `ls`.
pub fn describe(p: &PendingCleanup) -> String {
    let what = if p.removed.is_empty() {
        "teardown"
    } else {
        "clean-up"
    };
    format!(
        "{what} of {} after `{} {}` waits until no exchange with it is in flight",
        whom(p),
        p.op,
        p.fragment
    )
}

/// Whom a pending clean-up waits for: its peers, or the connections it
/// watches when no peer goes.
fn whom(p: &PendingCleanup) -> String {
    if p.peers.is_empty() {
        p.phase2_names.join(", ")
    } else {
        p.peers.join(", ")
    }
}

/// Fragments ipsec.conf no longer includes whose applied copy holds
/// rules, by name: `rm --config-only` left them loaded until a normal `rm`.
/// (An empty applied copy means nothing of the fragment is loaded.)  What
/// is there and cannot be one (no fragment name, no regular file) is said
/// in `problems`.
pub fn still_loaded(
    gw: &Gateway,
    listed: &[String],
    problems: &mut Vec<String>,
) -> Vec<(String, Vec<u8>)> {
    let dir = gw.state_dir.join("applied");
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(&dir).min_depth(1).sort_by_file_name() {
        let Ok(entry) = entry else { continue };
        if entry.file_type().is_dir() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(&dir) else {
            continue;
        };
        let name = rel.to_str().and_then(|n| n.strip_suffix(".conf"));
        // what a killed run left half written is not a copy
        if crate::system::fs::is_temp_name(entry.file_name()) {
            continue;
        }
        let Some(name) = name.filter(|n| check_qualified(n).is_ok()) else {
            problems.push(format!(
                "{}: not the applied copy of a fragment name; move it away",
                gw.shown(entry.path())
            ));
            continue;
        };
        if listed.iter().any(|l| l == name) {
            continue;
        }
        match applied_copy(gw, name) {
            Ok(Some(copy)) if !copy.is_empty() => found.push((name.to_string(), copy)),
            Ok(_) => {}
            Err(e) => problems.push(e),
        }
    }
    found
}
