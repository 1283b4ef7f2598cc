//! Planning each command: what to write, run and send, as a [`Plan`].
//! Nothing here touches the gateway.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::compiler::Compiled;
use crate::emit::ipsecctl::addr;
use crate::emit::tags;
use crate::escape::{escaped, escaped_path};
use crate::gateway::neighbours;
use crate::manager::conflicts::{self, Other};
use crate::manager::edit;
use crate::manager::fragments::{self, Loaded, LoadedFrom};
use crate::manager::gateway::{Gateway, GwPath};
use crate::manager::invariant;
use crate::manager::plan::{Plan, Step};
use crate::manager::render;
use crate::manager::sections::{IkeSections, ike_sections};
use crate::manager::state::{self, LoadedRecord, PendingCleanup, held_rules};
use crate::manager::teardown::{self, HeldRules, Kept, ikes};
use crate::manager::tree::{Missing, Tree};
use crate::rules::model::{Ike, IkeMode, Rule, RuleKind};
use crate::system::files;
use crate::system::ipsecctl::Ipsecctl;

pub use crate::manager::redact::{redacted_file, redacted_text, redactor, tree_redactor};

/// What a command found there was to do.
pub enum Planned {
    Plan(Plan),
    /// Nothing to do, and why.
    Nothing(String),
}

pub(crate) use crate::manager::state::unix_seconds;

fn others<'a>(tree: &'a Tree, gw: &'a Gateway, except: &str) -> Vec<Other<'a>> {
    let mut out = Vec::new();
    // by path: a fragment of the same base name elsewhere is another one
    let except = tree.fragment(except).map(|f| &f.gateway_path);
    for f in tree
        .fragments
        .iter()
        .filter(|f| Some(&f.gateway_path) != except)
    {
        for r in tree.rules_of(f) {
            out.push(Other {
                fragment: &f.gateway_path,
                rule: r,
            });
        }
    }
    for &i in &tree.main_rules {
        out.push(Other {
            fragment: &gw.ipsec_conf.gateway,
            rule: &tree.compiled.rules[i],
        });
    }
    out
}

/// A fragment to be loaded must compile alone and agree with the rest.
pub(crate) fn check_new(
    new: &Compiled,
    tree: &Tree,
    gw: &Gateway,
    name: &str,
) -> Result<(), String> {
    let errs = fragments::errors(new);
    if !errs.is_empty() {
        return Err(errs.join("\n"));
    }
    let rules: Vec<&Rule> = new.rules.iter().collect();
    let found = conflicts::find(&rules, &others(tree, gw, name));
    if !found.is_empty() {
        let file = new.parsed.sources.display_name(0);
        let lines: Vec<String> = found.iter().map(|c| format!("{file}: {c}")).collect();
        return Err(lines.join("\n"));
    }
    Ok(())
}

fn scratch(gw: &Gateway, name: &str, what: &str) -> PathBuf {
    gw.work_dir()
        .join(format!("{name}-{what}-{}.conf", std::process::id()))
}

/// An ipsecctl run on a file holding just `rules`.
fn ipsecctl_on(
    rules: &[&Rule],
    path: PathBuf,
    delete: bool,
    plan: &mut Plan,
) -> Result<(), String> {
    let text = render::file(rules).ok_or("bundled SAs cannot be loaded apart from their bundle")?;
    let (args, undo) = if delete {
        (
            Ipsecctl::delete_args(&path),
            Some(Ipsecctl::load_args(&path)),
        )
    } else {
        (
            Ipsecctl::load_args(&path),
            Some(Ipsecctl::delete_args(&path)),
        )
    };
    plan.push(Step::Ipsecctl {
        args,
        file: Some((path, text.into_bytes())),
        tolerant: delete,
        undo,
    });
    Ok(())
}

/// The file an `add` installs, its name, and its text.
pub struct Source {
    pub name: String,
    pub from: PathBuf,
    /// How messages name the file: as the user typed it, or the fragment's
    /// gateway path for a bare name.
    pub shown: String,
    pub dest: GwPath,
    pub text: Vec<u8>,
}

/// Why a FILE argument was not taken.
pub enum ArgError {
    /// The argument is not acceptable (a bad name).
    Refused(String),
    /// The file could not be read: the command could not run.
    Unreadable(String),
}

impl ArgError {
    pub fn message(&self) -> &str {
        match self {
            ArgError::Refused(m) | ArgError::Unreadable(m) => m,
        }
    }
}

/// Reads a FILE argument; the message names the path tried.
pub fn read_arg(path: &Path) -> Result<Vec<u8>, ArgError> {
    files::read_regular(path, files::MAX_CONFIG_BYTES)
        .map(|d| d.bytes)
        .map_err(|e| ArgError::Unreadable(format!("{}: {}", escaped_path(path), e.0)))
}

/// `add FILE`: a path (it holds a `/`), or a bare name of a file that
/// exists here, is read as typed, from the current directory; a bare name
/// that names no file here is the file of that name in the fragment
/// directory.  When neither exists, the message names both places.
pub fn source(gw: &Gateway, arg: &str) -> Result<Source, ArgError> {
    if arg.starts_with('-') {
        return Err(ArgError::Refused(format!(
            "{}: a file name may not start with '-'",
            escaped(arg)
        )));
    }
    let name = crate::manager::tree::fragment_name(arg);
    fragments::check_name(&name).map_err(ArgError::Refused)?;
    let dest = fragments::file_of(gw, &name);
    // an entry that is there, even one that cannot be read (a link loop),
    // is what was meant: reading it says why it cannot be
    let here = |p: &Path| fs::symlink_metadata(p).is_ok();
    let (from, shown) = if arg.contains('/') || here(Path::new(arg)) {
        (PathBuf::from(arg), escaped(arg))
    } else if here(&dest.actual) {
        (dest.actual.clone(), dest.gateway.clone())
    } else {
        return Err(ArgError::Unreadable(format!(
            "{}: no such file in the current directory, nor {} in the fragment directory; \
             give the file's path (`./{}`) or the name of a file in {}",
            escaped(arg),
            escaped_path(&dest.actual),
            escaped(arg),
            escaped_path(&gw.fragment_dir.actual)
        )));
    };
    let text = read_arg(&from)?;
    Ok(Source {
        name,
        from,
        shown,
        dest,
        text,
    })
}

/// What `add` changes in the files, checked: the fragment compiled, and
/// ipsec.conf before and after its include line goes in.
pub(crate) struct AddEdit {
    pub compiled: Compiled,
    pub conf: Vec<u8>,
    pub new_conf: Vec<u8>,
}

pub fn plan_add(gw: &Gateway, tree: &Tree, src: &Source) -> Result<Planned, String> {
    let name = &src.name;
    let copy_text = state::applied_copy(gw, name)?;
    if let Some(refused) = already_there(gw, tree, name, copy_text.as_deref(), &src.text) {
        return refused;
    }
    let AddEdit {
        compiled: new,
        conf,
        new_conf,
    } = add_edit(gw, tree, src)?;
    let mut plan = Plan::new(format!("add {name}"));
    for step in add_file_steps(gw, src, conf, new_conf)? {
        plan.push(step);
    }
    let record = LoadedRecord::of(&new.rules.iter().collect::<Vec<_>>());
    // undone after `ipsecctl -d -f`, which may fail or stop part-way:
    // ipsecmgr's own copy of its lines and the full clean-up
    let remaining = ikes(tree.rules_except(name));
    let kept = Kept::holding(&remaining, &record.ikes, &held_rules(gw, tree, name));
    let undo = teardown::cleanup(&record.ikes, &kept);
    if !record.ikes.is_empty() {
        plan.push(Step::FifoOnUndo { lines: undo.all() });
    }
    plan.push(Step::Ipsecctl {
        args: Ipsecctl::load_args(&src.dest.actual),
        file: None,
        tolerant: false,
        undo: Some(Ipsecctl::delete_args(&src.dest.actual)),
    });
    plan.initiating_kept = initiating_kept(gw, tree, "", &[]);
    plan.commit_here();
    for step in record_steps(gw, name, copy_text, &src.text, &record)? {
        plan.push(step);
    }
    Ok(Planned::Plan(plan))
}

/// add's edits of the files: the fragment installed, ipsec.conf with its
/// include line.
pub(crate) fn add_file_steps(
    gw: &Gateway,
    src: &Source,
    conf: Vec<u8>,
    new_conf: Vec<u8>,
) -> Result<[Step; 2], String> {
    Ok([
        Step::private_write(
            src.dest.actual.clone(),
            src.dest.gateway.clone(),
            fs::read(&src.dest.actual).ok(),
            src.text.clone(),
        ),
        Step::private_write(
            gw.ipsec_conf_target()?,
            gw.ipsec_conf.gateway.clone(),
            Some(conf),
            new_conf,
        ),
    ])
}

/// What `add` says of a fragment ipsec.conf includes already, or whose
/// rules are still loaded: nothing to do, or why not (`None`: neither).
fn already_there(
    gw: &Gateway,
    tree: &Tree,
    name: &str,
    copy_text: Option<&[u8]>,
    text: &[u8],
) -> Option<Result<Planned, String>> {
    if tree.fragment(name).is_some() {
        return Some(if copy_text == Some(text) {
            Ok(Planned::Nothing(format!("{name} is already loaded")))
        } else if copy_text.is_some_and(|t| t.is_empty()) {
            Err(format!(
                "{name} is already included by {} but not loaded (it was added with --config-only); `{}` loads it",
                gw.ipsec_conf.gateway,
                gw.command(&["apply", name])
            ))
        } else {
            Err(format!(
                "{name} is already included by {}; `{}` loads a changed file",
                gw.ipsec_conf.gateway,
                gw.command(&["apply", name])
            ))
        });
    }
    match copy_text {
        Some(t) if !t.is_empty() => Some(Err(still_loaded(gw, name))),
        _ => None,
    }
}

/// After a load: the applied copy becomes `text` and the loaded record
/// `record`, each written only when it changes.
fn record_steps(
    gw: &Gateway,
    name: &str,
    copy_text: Option<Vec<u8>>,
    text: &[u8],
    record: &LoadedRecord,
) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    if copy_text.as_deref() != Some(text) {
        steps.push(state::write_applied(gw, name, copy_text, text.to_vec()));
    }
    if state::read_loaded(gw, name)?.as_ref() != Some(record) {
        steps.push(state::write_loaded(gw, name, record));
    }
    Ok(steps)
}

/// Whether ipsec.conf includes fragment `name` (its file there, or gone):
/// `apply` changes such a fragment only.  One `rm --config-only` took out
/// is in no include line, though still loaded: installed and loaded, its
/// file would hold tunnels ipsec.conf does not.
pub fn check_included(gw: &Gateway, tree: &Tree, name: &str) -> Result<(), String> {
    if tree.fragment(name).is_some() || tree.missing(gw).iter().any(|m| m.name == name) {
        return Ok(());
    }
    if state::applied_copy(gw, name)?.is_some_and(|t| !t.is_empty()) {
        return Err(format!(
            "{name} is not included by {} (`rm --config-only` took it out, and what it loaded is still loaded): `ipsecmgr rm {name}` unloads it, or `ipsecmgr add --config-only FILE` puts the file back and `ipsecmgr apply {name}` then loads the change",
            escaped(&gw.ipsec_conf.gateway)
        ));
    }
    Err(format!(
        "no fragment {name}: not included by {}",
        escaped(&gw.ipsec_conf.gateway)
    ))
}

/// Why a fragment not in the configuration cannot be added: what it
/// loaded before is still loaded (its include went with `rm --config-only`).
pub(crate) fn still_loaded(gw: &Gateway, name: &str) -> String {
    format!(
        "{name} is not included by {} but still loaded ({} holds what; `rm --config-only` left it): `{}` unloads it, or `{}` puts the file back and `{}` then loads the change",
        gw.ipsec_conf.gateway,
        gw.shown(&gw.applied_copy(name)),
        gw.command(&["rm", name]),
        gw.command(&["add", "--config-only", "FILE"]),
        gw.command(&["apply", name])
    )
}

/// The checks of `add` and the edit of ipsec.conf it makes; the caller
/// has found the fragment is not included yet.
pub(crate) fn add_edit(gw: &Gateway, tree: &Tree, src: &Source) -> Result<AddEdit, String> {
    let name = &src.name;
    check_tree_compiles(gw, tree)?;
    let same_file = fs::canonicalize(&src.from).ok() == fs::canonicalize(&src.dest.actual).ok();
    if !same_file
        && let Ok(existing) = fs::read(&src.dest.actual)
        && existing != src.text
    {
        return Err(format!(
            "a different {} is already in the fragment directory",
            src.dest.gateway
        ));
    }
    // errors name the file the user gave, with its own line numbers
    let new = gw.compile_as(&src.dest.gateway, &src.shown, &src.text);
    check_new(&new, tree, gw, name)?;
    if new.rules.is_empty() {
        return Err(format!(
            "{}: holds no rules; an empty fragment would load nothing",
            escaped_path(&src.from)
        ));
    }
    let conf = fs::read(&gw.ipsec_conf.actual)
        .map_err(|e| format!("{}: {}", gw.ipsec_conf.gateway, files::io_reason(&e)))?;
    let new_conf = edit::add_include(&conf, &src.dest.gateway);
    invariant::after_add(gw, tree, &new_conf, &src.dest, &src.text, &new)?;
    Ok(AddEdit {
        compiled: new,
        conf,
        new_conf,
    })
}

/// The phase 1 tags of the active rules among `rules`: isakmpd keeps
/// starting exchanges for their connections (connection.c:
/// connection_checker).
fn active_peers<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> Vec<String> {
    ikes(rules)
        .into_iter()
        .filter(|ike| ike.mode != IkeMode::Passive)
        .map(tags::phase1)
        .collect()
}

/// The phase 1 tags isakmpd keeps starting exchanges with, fragment
/// `except` aside (`""`: none), and those of the rules `staying` (of that
/// fragment, which the plan leaves loaded): those of the connections it
/// keeps up itself, not held down.
pub fn initiating_kept(gw: &Gateway, tree: &Tree, except: &str, staying: &[&Rule]) -> Vec<String> {
    // a record that cannot be read is refused before any plan
    let held = state::held_fragments(gw).unwrap_or_default();
    let mut tags = active_peers(tree.main_rules.iter().map(|&i| &tree.compiled.rules[i]));
    for f in tree
        .fragments
        .iter()
        .filter(|f| f.name != except && !held.contains_key(&f.name))
    {
        tags.extend(active_peers(tree.rules_of(f)));
    }
    if !held.contains_key(except) {
        tags.extend(active_peers(staying.iter().copied()));
    }
    tags.sort();
    tags.dedup();
    tags
}

/// The phase 1 tags isakmpd may be starting exchanges with now: those of
/// the connections it keeps up itself, and those of pending clean-ups (an
/// exchange started before their connections went may still live).
pub fn initiating(gw: &Gateway, tree: &Tree) -> Vec<String> {
    let mut tags = initiating_kept(gw, tree, "", &[]);
    for p in state::pending_cleanups(gw).unwrap_or_default() {
        tags.extend(p.peers);
        tags.extend(p.removed.into_iter().map(|s| s.phase1));
    }
    tags.sort();
    tags.dedup();
    tags
}

/// `held`, and `own` too when the fragment they belong to is held down.
fn with_own(held: &HeldRules, is_held: bool, own: &[&Rule]) -> HeldRules {
    let mut all = held.clone();
    if is_held {
        all.extend(
            ikes(own.iter().copied())
                .into_iter()
                .map(|i| i as *const Ike),
        );
    }
    all
}

/// `add` edits ipsec.conf only when its own text compiles (its rules and
/// include lines): an include line added to a file ipsecctl refuses would
/// not load, and the checks against the rest of the tree would see only
/// part of it.  A file that is not OpenBSD's (Libreswan and strongSwan
/// keep an ipsec.conf of `conn` sections) is said to be one, with the way
/// to point at a gateway's copy.  Errors in other fragments are warned of
/// and the add goes on: the edited tree must still load exactly the old
/// rules and the new ones ([`invariant::after_add`]).
fn check_tree_compiles(gw: &Gateway, tree: &Tree) -> Result<(), String> {
    let in_main_file = |d: &crate::diag::Diagnostic| d.span.is_some_and(|s| s.file == 0);
    if !tree
        .compiled
        .diags
        .iter()
        .any(|d| d.is_error() && in_main_file(d))
    {
        return Ok(());
    }
    let conf = &gw.ipsec_conf.gateway;
    let text = fs::read(&gw.ipsec_conf.actual).unwrap_or_default();
    if looks_foreign(&text) {
        return Err(format!(
            "{} is not an OpenBSD ipsec.conf(5): it holds `conn` or `config setup` sections, \
             as Libreswan's and strongSwan's do; to work on a copy of a gateway's files, \
             give their root with --root DIR (DIR/etc/ipsec.conf)",
            escaped(conf)
        ));
    }
    Err(format!(
        "{} has errors and would not load: fix them before adding a fragment \
         (`{}` lists them)",
        escaped(conf),
        gw.command(&["lint"])
    ))
}

/// Whether ipsec.conf text is another IPsec suite's: section headers of
/// Libreswan's and strongSwan's ipsec.conf(5), which OpenBSD's grammar
/// has no word for.
fn looks_foreign(text: &[u8]) -> bool {
    String::from_utf8_lossy(text).lines().any(|l| {
        let mut words = l.split_whitespace();
        // `conn = ...` would be a macro of that name
        match (words.next(), words.next()) {
            (Some("conn"), Some(w)) => !w.starts_with('='),
            (Some("config"), Some("setup")) => true,
            _ => false,
        }
    })
}

/// The ike rules of the tree in include order, with fragment `name`'s
/// rules replaced by `replacement` where they stand (at the end when the
/// fragment holds none).
fn remaining_in_order<'a>(tree: &'a Tree, name: &str, replacement: &[&'a Rule]) -> Vec<&'a Ike> {
    let own: HashSet<usize> = tree
        .fragment(name)
        .map(|f| f.rules.iter().copied().collect())
        .unwrap_or_default();
    let mut rules: Vec<&Rule> = Vec::with_capacity(tree.compiled.rules.len());
    let mut placed = false;
    for (i, rule) in tree.compiled.rules.iter().enumerate() {
        if own.contains(&i) {
            if !placed {
                rules.extend_from_slice(replacement);
                placed = true;
            }
            continue;
        }
        rules.push(rule);
    }
    if !placed {
        rules.extend_from_slice(replacement);
    }
    ikes(rules)
}

/// The names fragment `name` was loaded with, for `rules` of its loaded
/// version: the stored ones, or (for a fragment loaded before they were
/// stored, or a record that does not match) the names compiled now.
fn loaded_names(
    gw: &Gateway,
    name: &str,
    rules: &[&Rule],
    subset: Option<&[&Rule]>,
) -> Result<Vec<IkeSections>, String> {
    let own = ikes(rules.iter().copied());
    let stored = state::read_loaded(gw, name)?
        .map(|r| r.ikes)
        .filter(|s| s.len() == own.len());
    let wanted: Option<HashSet<*const Ike>> = subset.map(|sub| {
        ikes(sub.iter().copied())
            .into_iter()
            .map(|i| i as *const Ike)
            .collect()
    });
    Ok(own
        .iter()
        .enumerate()
        .filter(|(_, ike)| {
            wanted
                .as_ref()
                .is_none_or(|w| w.contains(&(**ike as *const Ike)))
        })
        .map(|(k, ike)| match &stored {
            Some(s) => s[k].clone(),
            None => ike_sections(ike),
        })
        .collect())
}

/// A pending phase 1 clean-up of the peers `orphans` of `removed`.
fn pending_entry(
    gw: &Gateway,
    name: &str,
    op: &str,
    removed: &[IkeSections],
    orphans: &[String],
    connections: &[IkeSections],
) -> PendingCleanup {
    let of_orphans: Vec<IkeSections> = removed
        .iter()
        .filter(|s| orphans.contains(&s.phase1))
        .cloned()
        .collect();
    // a quick mode still to be named (it has its peer's address only) may
    // become one of the connections taken away
    let mut addresses: Vec<String> = of_orphans
        .iter()
        .chain(connections)
        .filter_map(|s| s.peer_address.clone())
        .collect();
    addresses.sort();
    addresses.dedup();
    let mut phase2_names: Vec<String> = connections.iter().map(|s| s.phase2.clone()).collect();
    phase2_names.dedup();
    PendingCleanup {
        fragment: name.to_string(),
        op: op.to_string(),
        peers: orphans.to_vec(),
        addresses,
        phase1_names: orphans.to_vec(),
        phase2_names,
        removed: of_orphans,
        exchanges: None,
        deadline: None,
        not_before: unix_seconds() + crate::manager::pending::reinit_window(gw).as_secs(),
    }
}

/// Adds `entry` to the pending clean-ups (replacing one of the same
/// fragment and command).
fn add_pending(gw: &Gateway, entry: PendingCleanup, plan: &mut Plan) -> Result<(), String> {
    crate::manager::pending::check_sendable(&entry)?;
    let mut pending = state::pending_cleanups(gw)?;
    pending.retain(|p| !(p.fragment == entry.fragment && p.op == entry.op));
    pending.push(entry);
    if let Some(step) = state::write_pending(gw, &pending)? {
        plan.push(step);
    }
    Ok(())
}

/// The ipsecctl -d run that removes what a fragment loaded.
fn delete_loaded(
    gw: &Gateway,
    tree: &Tree,
    name: &str,
    loaded: &Loaded,
    plan: &mut Plan,
) -> Result<(), String> {
    match loaded.standalone_file() {
        Some(path) => {
            plan.push(Step::Ipsecctl {
                args: Ipsecctl::delete_args(path),
                file: None,
                tolerant: true,
                undo: None,
            });
            Ok(())
        }
        None => {
            let rules = loaded.rules(tree);
            ipsecctl_on(&rules, scratch(gw, name, "delete"), true, plan)
        }
    }
}

pub fn plan_rm(gw: &Gateway, tree: &Tree, name: &str) -> Result<Planned, String> {
    if tree.fragment(name).is_none()
        && !gw.applied_copy(name).exists()
        && let Some(m) = tree.missing(gw).into_iter().find(|m| m.name == name)
    {
        return plan_rm_missing(gw, tree, &m);
    }
    if let Some(done) = already_removed(gw, tree, name) {
        return Ok(done);
    }
    let recorded = fragments::loaded(gw, tree, name)?;
    let file = fragments::file_of(gw, name);
    let gateway_path = tree
        .fragment(name)
        .map_or(file.gateway.clone(), |f| f.gateway_path.clone());
    let mut plan = Plan::new(format!("rm {name}"));
    plan.initiating_kept = initiating_kept(gw, tree, name, &[]);
    // added with --config-only, the records say nothing of it is loaded;
    // a boot (or `ipsecctl -f` of ipsec.conf) loads its file all the same:
    // what the file holds is unloaded, what was not loaded harms nothing
    let loaded = if never_loaded(&recorded) {
        match fragments::on_disk(gw, tree, name) {
            Ok(on_disk) => {
                plan.notes.push(format!(
                    "{name} was added with --config-only: what its file holds was unloaded all the same, as a boot may have loaded it (an `ipsecctl -d` that finds nothing loaded is no error)"
                ));
                Some(on_disk)
            }
            Err(_) => {
                plan.notes.push(format!(
                    "nothing of {name} was loaded and its file is gone, so there was nothing to unload"
                ));
                None
            }
        }
    } else {
        Some(fragments::loaded(gw, tree, name)?)
    };
    let mut own = Vec::new();
    if let Some(loaded) = &loaded {
        delete_loaded(gw, tree, name, loaded, &mut plan)?;
        own = loaded_names(gw, name, &loaded.rules(tree), None)?;
    }
    let held = held_rules(gw, tree, name);
    let kept = Kept::holding(&remaining_in_order(tree, name, &[]), &own, &held);
    let cleanup = teardown::cleanup(&own, &kept);
    if !cleanup.connections.is_empty() {
        plan.push(Step::Fifo {
            lines: cleanup.connections.clone(),
        });
    }
    // even with no peer to clean up, the connections' names are watched
    // until isakmpd's reinit: a peer re-initiating meanwhile is accepted
    if !own.is_empty() {
        let entry = pending_entry(gw, name, "rm", &own, &cleanup.orphans, &own);
        add_pending(gw, entry, &mut plan)?;
    }
    let mut held = state::held_fragments(gw)?;
    if held.remove(name).is_some()
        && let Some(step) = state::write_held(gw, &held)?
    {
        plan.push(step);
    }
    plan.extend(include_removal(gw, tree, name, &gateway_path)?);
    let stamp = unix_seconds();
    let actual = tree
        .fragment(name)
        .map_or(file.actual.clone(), |f| f.actual.clone());
    plan.extend(move_aside(gw, &actual, &format!("{name}.conf.{stamp}")));
    if let LoadedFrom::Applied(copy) = &recorded.from {
        plan.extend(move_aside(gw, copy, &format!("{name}.applied.{stamp}")));
    }
    plan.extend(state::retire_loaded(gw, name, stamp));
    Ok(Planned::Plan(plan))
}

/// `rm` run again: a fragment that is neither included nor loaded, and
/// that an earlier `rm` moved aside, is removed already (nothing to do, as
/// a configuration tool running `rm` again expects).
pub(crate) fn already_removed(gw: &Gateway, tree: &Tree, name: &str) -> Option<Planned> {
    if tree.fragment(name).is_some() || fs::symlink_metadata(gw.applied_copy(name)).is_ok() {
        return None;
    }
    let (when, file) = state::last_removed(gw, name)?;
    Some(Planned::Nothing(format!(
        "{name} was already removed on {} (its file is {})",
        humantime::format_rfc3339_seconds(when),
        gw.shown(&file)
    )))
}

/// Whether the applied copy says nothing of the fragment is loaded: it is
/// empty, as `add --config-only` leaves it.
pub fn never_loaded(loaded: &Loaded) -> bool {
    matches!(loaded.from, LoadedFrom::Applied(_)) && loaded.text.is_empty()
}

/// The step removing the include lines of `gateway_path` from ipsec.conf,
/// checked; none when ipsec.conf does not include it.
pub(crate) fn include_removal(
    gw: &Gateway,
    tree: &Tree,
    name: &str,
    gateway_path: &str,
) -> Result<Option<Step>, String> {
    let conf = fs::read(&gw.ipsec_conf.actual)
        .map_err(|e| format!("{}: {}", gw.ipsec_conf.gateway, files::io_reason(&e)))?;
    let mut new_conf = conf.clone();
    for line in edit::include_lines(&conf, gateway_path).iter().rev() {
        new_conf = edit::remove_include(&new_conf, *line, gateway_path)
            .map_err(|e| format!("{}: {e}", gw.ipsec_conf.gateway))?;
    }
    if let Some(f) = tree.fragment(name)
        && new_conf == conf
    {
        return Err(edit::not_alone(
            &gw.ipsec_conf.gateway,
            f.include_line,
            &f.gateway_path,
        ));
    }
    if new_conf == conf {
        return Ok(None);
    }
    invariant::after_rm(gw, tree, &new_conf, name)?;
    Ok(Some(Step::private_write(
        gw.ipsec_conf_target()?,
        gw.ipsec_conf.gateway.clone(),
        Some(conf),
        new_conf,
    )))
}

/// The step moving `file` into removed/ as `stem` (or a free name beside
/// it), when the file is there.
pub(crate) fn move_aside(gw: &Gateway, file: &Path, stem: &str) -> Option<Step> {
    if !file.exists() {
        return None;
    }
    let to = crate::system::fs::free_name(&gw.removed_dir(), stem);
    Some(Step::Move {
        shown_from: gw.shown(file),
        shown_to: gw.shown(&to),
        from: file.to_path_buf(),
        to,
    })
}

/// `rm` of a fragment whose file is gone and that ipsecmgr never applied:
/// nothing was loaded from it, so only its include line goes, which
/// would make the next boot's `ipsecctl -f ipsec.conf` fail.
pub(crate) fn plan_rm_missing(gw: &Gateway, tree: &Tree, m: &Missing) -> Result<Planned, String> {
    let mut plan = Plan::new(format!("rm {}", m.name));
    plan.push(missing_include_removal(gw, tree, m)?);
    plan.notes.push(format!(
        "{} does not exist: nothing was loaded from it, so there is nothing to unload",
        escaped(&m.gateway_path)
    ));
    Ok(Planned::Plan(plan))
}

/// The step removing the include of a fragment whose file is gone; refused
/// when the include shares its line with more.
pub(crate) fn missing_include_removal(
    gw: &Gateway,
    tree: &Tree,
    m: &Missing,
) -> Result<Step, String> {
    include_removal(gw, tree, &m.name, &m.gateway_path)?
        .ok_or_else(|| edit::not_alone(&gw.ipsec_conf.gateway, m.include_line, &m.gateway_path))
}

/// What an exchange in flight does to `restart` and `down`: no FIFO
/// command aborts one (ui.c has none); it retransmits and lives up to
/// Exchange-max-time (exchange.c: exchange_create arms its death timer),
/// 120 seconds by default.
pub const EXCHANGE_NOTE: &str = "an exchange already in flight is not aborted (isakmpd has no command for that): it finishes or times out first (Exchange-max-time, 120 s by default)";

/// The FIFO lines of `down`/`up`/`restart`, and the held-down state each
/// leaves: `down` holds the fragment's connections off isakmpd's lists
/// until `up` (or `restart`) puts them back.
pub fn plan_updown(
    gw: &Gateway,
    tree: &Tree,
    name: &str,
    down: bool,
    up: bool,
) -> Result<Planned, String> {
    let loaded = fragments::loaded(gw, tree, name)?;
    let rules = loaded.rules(tree);
    let own = loaded_names(gw, name, &rules, None)?;
    if own.is_empty() && never_loaded(&loaded) {
        return Ok(Planned::Nothing(format!(
            "{name} is not loaded (it was added with --config-only): `{}` loads it",
            gw.command(&["apply", name])
        )));
    }
    if own.is_empty() {
        return Ok(Planned::Nothing(format!("{name} has no ike rules")));
    }
    let op = match (down, up) {
        (true, true) => "restart",
        (true, false) => "down",
        _ => "up",
    };
    let mut plan = Plan::new(format!("{op} {name}"));
    let mut lines = Vec::new();
    let held_others = held_rules(gw, tree, name);
    let kept = Kept::holding(&remaining_in_order(tree, name, &[]), &own, &held_others);
    if down {
        lines.extend(teardown::down_lines(&own, &kept));
    }
    if up {
        let with_own = Kept::holding(&remaining_in_order(tree, name, &rules), &own, &held_others);
        lines.extend(teardown::up_lines(&own, &with_own));
    }
    plan.push(Step::Fifo { lines });
    let mut held = state::held_fragments(gw)?;
    if down && !up {
        held.insert(name.to_string(), state::held_connections(&own));
        let orphans = teardown::peer_tags_left_down(&own, &kept);
        add_pending(
            gw,
            pending_entry(gw, name, op, &[], &orphans, &own),
            &mut plan,
        )?;
        plan.notes.push(format!(
            "{name} is held down: later add, rm and apply keep its connections off isakmpd's lists until `{}`",
            gw.command(&["up", name])
        ));
        plan.notes.extend(not_held_notes(gw, tree, name, &rules));
    } else {
        held.remove(name);
        // a late teardown would take the connections down again
        let mut pending = state::pending_cleanups(gw)?;
        pending.retain(|p| !(p.fragment == name && p.op == "down"));
        plan.extend(state::write_pending(gw, &pending)?);
    }
    plan.extend(state::write_held(gw, &held)?);
    let passive: Vec<&str> = own
        .iter()
        .filter(|s| s.passive)
        .map(|s| s.phase2.as_str())
        .collect();
    if up && !passive.is_empty() {
        plan.notes.push(format!(
            "passive connections wait for their peer to connect: {}",
            passive.join(", ")
        ));
    }
    if up && down {
        plan.notes.push(EXCHANGE_NOTE.to_string());
    }
    Ok(Planned::Plan(plan))
}

/// What `down` of `name` (loaded with `rules`) cannot hold: its tunnels
/// whose peer keeps phase 1 through a fragment that stays up, and whose
/// networks a tunnel that stays up would carry (see
/// [`crate::gateway::neighbours`]).
fn not_held_notes(gw: &Gateway, tree: &Tree, name: &str, rules: &[&Rule]) -> Vec<String> {
    let held = state::held_fragments(gw).unwrap_or_default();
    let mut units: Vec<Vec<&Rule>> = vec![rules.to_vec()];
    let mut unit_names = vec![name.to_string()];
    units.push(
        tree.main_rules
            .iter()
            .map(|&i| &tree.compiled.rules[i])
            .collect(),
    );
    unit_names.push(gw.ipsec_conf.gateway.clone());
    for f in tree
        .fragments
        .iter()
        .filter(|f| f.name != name && !held.contains_key(&f.name))
    {
        units.push(tree.rules_of(f).collect());
        unit_names.push(f.name.clone());
    }
    let mut notes = Vec::new();
    for e in neighbours::exposures(&units)
        .into_iter()
        .filter(|e| e.tunnel.0 == 0)
    {
        let ike_of = |(u, i): neighbours::At| match &units[u][i].kind {
            RuleKind::Ike(ike) => Some(ike.as_ref()),
            _ => None,
        };
        let (Some(ike), Some(carrier)) = (ike_of(e.tunnel), ike_of(e.carrier)) else {
            continue;
        };
        let peer = ike.peer.as_ref().map(addr).unwrap_or_default();
        notes.push(format!(
            "{} ({} to {}) cannot be held down against an active peer: {peer} keeps its phase 1 through {}, and isakmpd accepts its re-initiation of these networks as {} of {} (its local network matches: connection.c, connection_passive_lookup_by_ids); `ipsecmgr status` then shows {name} as flows-only; take {} down too to hold it",
            tags::ike_tags(ike).phase2,
            addr(&ike.src),
            addr(&ike.dst),
            escaped(&unit_names[e.via.0]),
            tags::ike_tags(carrier).phase2,
            escaped(&unit_names[e.carrier.0]),
            escaped(&unit_names[e.carrier.0]),
        ));
    }
    notes
}

/// How a fragment's rules change between two versions.
pub struct Changes<'a> {
    pub removed: Vec<&'a Rule>,
    pub added: Vec<&'a Rule>,
    /// Phase 1 peers kept whose settings change: they must re-key.
    pub rekey: Vec<String>,
}

/// Rules in `old` and not in `new`, and the other way round (as multisets,
/// so a rule written twice counts twice).
pub fn changes<'a>(old: &[&'a Rule], new: &[&'a Rule]) -> Changes<'a> {
    let count = |rules: &[&'a Rule]| {
        let mut m: HashMap<&RuleKind, usize> = HashMap::new();
        for r in rules {
            *m.entry(&r.kind).or_default() += 1;
        }
        m
    };
    let minus = |a: &[&'a Rule], b: &HashMap<&RuleKind, usize>| {
        let mut left = b.clone();
        a.iter()
            .filter(|r| match left.get_mut(&r.kind) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            })
            .copied()
            .collect::<Vec<_>>()
    };
    let removed = minus(old, &count(new));
    let added = minus(new, &count(old));
    let settings = |rules: &[&'a Rule]| {
        ikes(rules.iter().copied())
            .into_iter()
            .map(|i| (tags::phase1(i), conflicts::phase1_settings(i)))
            .collect::<HashMap<_, _>>()
    };
    let (before, after) = (settings(old), settings(new));
    let mut rekey: Vec<String> = before
        .iter()
        .filter(|(tag, s)| after.get(*tag).is_some_and(|t| t != *s))
        .map(|(tag, _)| tag.clone())
        .collect();
    rekey.sort();
    Changes {
        removed,
        added,
        rekey,
    }
}

/// The new version of a fragment for `diff`/`apply`: FILE as typed, or
/// the fragment's file on disk; compiled under the name the user knows it
/// by, so that errors name that file.
pub fn new_version(
    gw: &Gateway,
    name: &str,
    file: Option<&str>,
) -> Result<(Vec<u8>, Compiled), String> {
    let dest = fragments::file_of(gw, name);
    let (path, shown) = match file {
        Some(typed) => (PathBuf::from(typed), escaped(typed)),
        None => (dest.actual.clone(), dest.gateway.clone()),
    };
    let text = read_arg(&path).map_err(|e| e.message().to_string())?;
    let compiled = gw.compile_as(&dest.gateway, &shown, &text);
    Ok((text, compiled))
}

pub fn plan_apply(
    gw: &Gateway,
    tree: &Tree,
    name: &str,
    loaded: &Loaded,
    new_text: &[u8],
    new: &Compiled,
    file_given: bool,
) -> Result<Planned, String> {
    check_new(new, tree, gw, name)?;
    invariant::after_apply(gw, tree, name, new_text, new)?;
    let old_rules = loaded.rules(tree);
    let new_rules: Vec<&Rule> = new.rules.iter().collect();
    let ch = apply_changes(&old_rules, &new_rules);
    let dest = fragments::file_of(gw, name);
    let on_disk = fs::read(&dest.actual).ok();
    let copy_text = state::applied_copy(gw, name)?;
    let nothing = ch.removed.is_empty()
        && ch.added.is_empty()
        && copy_text.as_deref() == Some(new_text)
        && on_disk.as_deref() == Some(new_text);
    if nothing {
        return Ok(Planned::Nothing(format!("{name}: nothing to apply")));
    }
    let mut plan = Plan::new(format!("apply {name}"));
    let staying: Vec<&Rule> = old_rules
        .iter()
        .copied()
        .filter(|r| !ch.removed.iter().any(|gone| std::ptr::eq(*gone, *r)))
        .collect();
    plan.initiating_kept = initiating_kept(gw, tree, name, &staying);
    if file_given && on_disk.as_deref() != Some(new_text) {
        plan.push(Step::private_write(
            dest.actual.clone(),
            dest.gateway.clone(),
            on_disk,
            new_text.to_vec(),
        ));
    }
    let removed = loaded_names(gw, name, &old_rules, Some(&ch.removed))?;
    let record = LoadedRecord::of(&new_rules);
    let added: Vec<IkeSections> = ikes(ch.added.iter().copied())
        .into_iter()
        .map(ike_sections)
        .collect();
    let mut held = state::held_fragments(gw)?;
    let is_held = held.contains_key(name);
    let held_others = held_rules(gw, tree, name);
    apply_runs(
        gw,
        tree,
        name,
        &ch,
        &old_rules,
        is_held,
        &held_others,
        &mut plan,
    )?;
    plan.commit_here();
    let remaining = remaining_in_order(tree, name, &new_rules);
    let touched: Vec<IkeSections> = removed.iter().chain(&added).cloned().collect();
    let kept = Kept::holding(
        &remaining,
        &touched,
        &with_own(&held_others, is_held, &new_rules),
    );
    let cleanup = teardown::cleanup(&removed, &kept);
    let mut lines = after_apply_lines(&cleanup, &added, &kept, &ch.rekey);
    if is_held {
        // ipsecctl -f put the new connections on the lists, and their
        // peers' keys back
        lines.extend(teardown::hold_lines(&added, &kept));
        held.insert(name.to_string(), state::held_connections(&record.ikes));
    }
    if !lines.is_empty() {
        plan.push(Step::Fifo { lines });
    }
    // the connections that go for good (not those loaded again under the
    // same name) are watched until isakmpd's reinit, as after rm
    let gone: Vec<IkeSections> = removed
        .iter()
        .filter(|r| !added.iter().any(|a| a.phase2 == r.phase2))
        .cloned()
        .collect();
    if !gone.is_empty() || !cleanup.orphans.is_empty() {
        let entry = pending_entry(gw, name, "apply", &removed, &cleanup.orphans, &gone);
        add_pending(gw, entry, &mut plan)?;
    }
    plan.extend(state::write_held(gw, &held)?);
    for step in record_steps(gw, name, copy_text, new_text, &record)? {
        plan.push(step);
    }
    Ok(Planned::Plan(plan))
}

/// apply's ipsecctl runs: `-d -f` on the rules removed, `-f` on those
/// added; for a held-down fragment, preceded by what puts the old
/// connections off the lists again should they be undone.
#[allow(clippy::too_many_arguments)]
fn apply_runs(
    gw: &Gateway,
    tree: &Tree,
    name: &str,
    ch: &Changes,
    old_rules: &[&Rule],
    is_held: bool,
    held_others: &HeldRules,
    plan: &mut Plan,
) -> Result<(), String> {
    if is_held {
        // an undone `ipsecctl -d` loads the old rules again, and with
        // them their connections and keys: held down once more
        let old = loaded_names(gw, name, old_rules, None)?;
        let kept = Kept::holding(
            &remaining_in_order(tree, name, old_rules),
            &old,
            &with_own(held_others, true, old_rules),
        );
        plan.push(Step::FifoOnUndo {
            lines: teardown::hold_lines(&old, &kept),
        });
    }
    if !ch.removed.is_empty() {
        ipsecctl_on(&ch.removed, scratch(gw, name, "removed"), true, plan)?;
    }
    if !ch.added.is_empty() {
        ipsecctl_on(&ch.added, scratch(gw, name, "added"), false, plan)?;
    }
    Ok(())
}

/// The rules apply unloads and loads.  Bundles only exist between SAs
/// loaded together, so a change touching one reloads them all.
fn apply_changes<'a>(old_rules: &[&'a Rule], new_rules: &[&'a Rule]) -> Changes<'a> {
    let mut ch = changes(old_rules, new_rules);
    let bundled = |rules: &[&Rule]| rules.iter().any(|r| matches!(r.kind, RuleKind::Bundle(_)));
    if bundled(&ch.removed) || bundled(&ch.added) {
        ch.removed = old_rules.to_vec();
        ch.added = new_rules.to_vec();
    }
    ch
}

/// The FIFO lines after apply's ipsecctl runs: the removed connections'
/// clean-up, the phase 1 keys the new rules set, and a fresh phase 1 for
/// each peer whose settings changed (`t main TAG`), each once.
fn after_apply_lines(
    cleanup: &teardown::Cleanup,
    added: &[IkeSections],
    kept: &Kept,
    rekey: &[String],
) -> Vec<String> {
    let mut lines = cleanup.connections.clone();
    lines.extend(teardown::phase1_keys_after_load(added, kept));
    for tag in rekey {
        let line = format!("t main {tag}");
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines
}
