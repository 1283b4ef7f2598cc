//! The plans of `--config-only`: what add, rm and apply change in the
//! files — the fragment, its include line in ipsec.conf, the copies in
//! removed/ — with no ipsecctl run and nothing sent to isakmpd.
//!
//! ipsecmgr's records keep saying what is loaded, which such a run does
//! not change: the applied copy of a fragment (state_dir/applied/) is what
//! was last loaded from it, and stays so.  So a fragment added with
//! --config-only gets an empty applied copy (nothing of it is loaded); one
//! removed keeps its applied copy and loaded record (all of it is still
//! loaded); one whose file is replaced keeps the copy of the version
//! loaded.  An unmanaged fragment (loaded without ipsecmgr: no applied
//! copy, its file taken to be what is loaded) gets its file as it is as
//! applied copy before the file changes or goes.  The normal command the
//! plan names in [`Plan::later`] then loads or unloads the difference,
//! with its usual teardown, and brings the records up to date.
//! held-down.json and pending-cleanup.json are not touched: nothing was
//! taken down.

use std::fs;

use crate::compiler::Compiled;
use crate::manager::fragments::{self, Loaded, LoadedFrom};
use crate::manager::gateway::Gateway;
use crate::manager::invariant;
use crate::manager::ops::{self, Planned, Source};
use crate::manager::plan::{Later, Plan, Step};
use crate::manager::state;
use crate::manager::tree::Tree;

fn later(gw: &Gateway, verb: &str, name: &str, does: String) -> Later {
    Later {
        argv: gw.command_argv(&[verb, name]),
        does,
    }
}

/// The step writing `text` as the applied copy of `name`, over `old`
/// (`None`: there is none yet).
fn write_copy(gw: &Gateway, name: &str, old: Option<Vec<u8>>, text: Vec<u8>) -> Step {
    crate::manager::state::write_applied(gw, name, old, text)
}

/// The text of an unmanaged fragment, kept as its applied copy; refused
/// when the file does not compile alone (a macro from ipsec.conf), as the
/// copy could not tell later what it loaded.
fn unmanaged_text(loaded: &Loaded, name: &str) -> Result<Vec<u8>, String> {
    match (&loaded.from, &loaded.compiled) {
        (LoadedFrom::Disk(_), Some(c)) if !c.has_errors() => Ok(loaded.text.clone()),
        _ => Err(format!(
            "{name} was loaded without ipsecmgr and its file does not compile alone, so --config-only cannot keep a copy of what it loaded; run the command without --config-only once isakmpd runs"
        )),
    }
}

/// A plan that changes no file: `why`, and what is left to run.
fn nothing_to_edit(op: String, why: String, later: Vec<Later>) -> Planned {
    if later.is_empty() {
        return Planned::Nothing(why);
    }
    let mut plan = Plan::new(op);
    plan.notes.push(why);
    plan.later = later;
    Planned::Plan(plan)
}

pub fn plan_add(gw: &Gateway, tree: &Tree, src: &Source) -> Result<Planned, String> {
    let name = &src.name;
    let op = format!("add {name}");
    let copy_text = state::applied_copy(gw, name)?;
    let loads = || vec![later(gw, "apply", name, format!("loads {name}"))];
    if let Some(f) = tree.fragment(name) {
        if fs::read(&f.actual).ok().as_deref() != Some(src.text.as_slice()) {
            return Err(format!(
                "{name} is already included by {}; `{}` installs a changed file",
                gw.ipsec_conf.gateway,
                gw.command(&["apply", "--config-only", name, "FILE"])
            ));
        }
        if copy_text.as_deref() == Some(src.text.as_slice()) {
            return Ok(Planned::Nothing(format!("{name} is already loaded")));
        }
        if copy_text.is_none() {
            // loaded without ipsecmgr: its file is taken to be loaded
            return Ok(Planned::Nothing(format!(
                "{name} is already in the configuration, and taken to be loaded (it was loaded without ipsecmgr)"
            )));
        }
        return Ok(nothing_to_edit(
            op,
            format!("{name} is already in the configuration"),
            loads(),
        ));
    }
    let edit = ops::add_edit(gw, tree, src)?;
    let mut plan = Plan::new(op);
    for step in ops::add_file_steps(gw, src, edit.conf, edit.new_conf)? {
        plan.push(step);
    }
    match &copy_text {
        // nothing of it is loaded
        None => plan.push(write_copy(gw, name, None, Vec::new())),
        Some(t) if t.is_empty() => {}
        // removed with --config-only and still loaded: the later apply
        // replaces what it loaded
        Some(_) => plan.notes.push(format!(
            "what {name} loaded before is still loaded; `{}` replaces it",
            gw.command(&["apply", name])
        )),
    }
    if copy_text.as_deref() != Some(src.text.as_slice()) {
        plan.later = loads();
    }
    plan.commit_here();
    Ok(Planned::Plan(plan))
}

pub fn plan_rm(gw: &Gateway, tree: &Tree, name: &str) -> Result<Planned, String> {
    let copy_text = state::applied_copy(gw, name)?;
    let added_config_only = copy_text.as_ref().is_some_and(|t| t.is_empty());
    if added_config_only && tree.fragment(name).is_none() {
        // never loaded, and its file is gone: the normal rm unloads
        // nothing either
        return ops::plan_rm(gw, tree, name);
    }
    let unloads = || vec![later(gw, "rm", name, format!("unloads {name}"))];
    let Some(frag) = tree.fragment(name) else {
        let missing = tree.missing(gw).into_iter().find(|m| m.name == name);
        match (missing, copy_text.is_some()) {
            // nothing was loaded from it: only its include line goes
            (Some(m), false) => return ops::plan_rm_missing(gw, tree, &m),
            // its file is gone, what it loaded is still loaded
            (Some(m), true) => {
                let mut plan = Plan::new(format!("rm {name}"));
                plan.push(ops::missing_include_removal(gw, tree, &m)?);
                plan.later = unloads();
                plan.commit_here();
                return Ok(Planned::Plan(plan));
            }
            (None, true) => {
                return Ok(nothing_to_edit(
                    format!("rm {name}"),
                    format!("{name} is not in the configuration any more, but still loaded"),
                    unloads(),
                ));
            }
            (None, false) => {
                if let Some(done) = ops::already_removed(gw, tree, name) {
                    return Ok(done);
                }
            }
        }
        // says why there is no such fragment
        fragments::loaded(gw, tree, name)?;
        return Err(format!("no fragment {name}"));
    };
    let loaded = fragments::loaded(gw, tree, name)?;
    let mut plan = Plan::new(format!("rm {name}"));
    if copy_text.is_none() {
        plan.push(write_copy(gw, name, None, unmanaged_text(&loaded, name)?));
        plan.notes.push(format!(
            "{name} was loaded without ipsecmgr: its file is kept as its applied copy, what `{}` unloads",
            gw.command(&["rm", name])
        ));
    } else if added_config_only {
        // a boot may have loaded it since: what its file holds is what
        // the later rm unloads
        let on_disk = fragments::on_disk(gw, tree, name)?;
        plan.push(write_copy(
            gw,
            name,
            copy_text,
            unmanaged_text(&on_disk, name)?,
        ));
        plan.notes.push(format!(
            "{name} was added with --config-only, and a boot may have loaded it since: its file is kept as its applied copy, what `ipsecmgr rm {name}` unloads"
        ));
    }
    plan.extend(ops::include_removal(gw, tree, name, &frag.gateway_path)?);
    let stamp = ops::unix_seconds();
    plan.extend(ops::move_aside(
        gw,
        &frag.actual,
        &format!("{name}.conf.{stamp}"),
    ));
    plan.later = unloads();
    plan.commit_here();
    Ok(Planned::Plan(plan))
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
    ops::check_new(new, tree, gw, name)?;
    invariant::after_apply(gw, tree, name, new_text, new)?;
    let op = format!("apply {name}");
    let dest = fragments::file_of(gw, name);
    let on_disk = fs::read(&dest.actual).ok();
    let mut plan = Plan::new(op.clone());
    // what is loaded: the applied copy, or for an unmanaged fragment its
    // file as it is
    let is_loaded = match &loaded.from {
        LoadedFrom::Applied(_) => loaded.text.as_slice(),
        LoadedFrom::Disk(_) => on_disk.as_deref().unwrap_or_default(),
    } == new_text;
    if file_given && on_disk.as_deref() != Some(new_text) {
        if matches!(loaded.from, LoadedFrom::Disk(_)) {
            plan.push(write_copy(gw, name, None, unmanaged_text(loaded, name)?));
            plan.notes.push(format!(
                "{name} was loaded without ipsecmgr: its file as it was is kept as its applied copy, what `{}` replaces",
                gw.command(&["apply", name])
            ));
        }
        plan.push(Step::private_write(
            dest.actual.clone(),
            dest.gateway.clone(),
            on_disk,
            new_text.to_vec(),
        ));
    }
    let loads = if is_loaded {
        Vec::new()
    } else {
        vec![later(gw, "apply", name, format!("loads the new {name}"))]
    };
    if plan.is_empty() {
        let why = if is_loaded {
            format!("{name}: nothing to apply")
        } else {
            format!("{name}'s file already holds this version")
        };
        return Ok(nothing_to_edit(op, why, loads));
    }
    plan.later = loads;
    plan.commit_here();
    Ok(Planned::Plan(plan))
}
