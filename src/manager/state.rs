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
use crate::manager::teardown::ikes;
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

/// A step that writes `new` over `path` (state files are private).
fn write_step(gw: &Gateway, path: PathBuf, new: Vec<u8>) -> Step {
    let old = fs::read(&path).ok();
    Step::private_write(path.clone(), gw.shown(&path), old, new)
}

/// The step storing what `name` is loaded with.
pub fn write_loaded(gw: &Gateway, name: &str, record: &LoadedRecord) -> Step {
    write_step(gw, loaded_path(gw, name), json(record))
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
    (held_fragments(gw) != *held).then(|| write_step(gw, held_path(gw), json(held)))
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

/// The phase 1 clean-ups that wait, oldest first.
pub fn pending_cleanups(gw: &Gateway) -> Vec<PendingCleanup> {
    fs::read(pending_path(gw))
        .ok()
        .and_then(|t| serde_json::from_slice(&t).ok())
        .unwrap_or_default()
}

/// The step writing `pending`, if it differs from what is stored.
pub fn write_pending(gw: &Gateway, pending: &[PendingCleanup]) -> Option<Step> {
    (pending_cleanups(gw) != pending).then(|| write_step(gw, pending_path(gw), json(&pending)))
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

/// One line saying what a pending clean-up waits for, for `ls`.
pub fn describe(p: &PendingCleanup) -> String {
    let what = if p.removed.is_empty() {
        "teardown"
    } else {
        "clean-up"
    };
    format!(
        "{what} of {} after `{} {}` waits until no exchange with it is in flight",
        p.peers.join(", "),
        p.op,
        p.fragment
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
