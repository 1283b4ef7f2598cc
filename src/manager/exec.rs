//! Carrying a plan out under a journal.  Before each step the journal in
//! state_dir records the plan and how far it got, so a run that was
//! interrupted (crash, kill, power) is found by the next one, which rolls
//! it back (if it had not reached its commit point) or completes it, and
//! says which.

use std::fs;

use serde::{Deserialize, Serialize};

use crate::manager::gateway::Gateway;
use crate::manager::plan::{Plan, Step};
use crate::system::fs::{atomic_write, create_private_dir, move_file};
use crate::system::ipsecctl::Ipsecctl;
use crate::system::{fifo, files};

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    plan: Plan,
    /// The first step not known to be done.
    next: usize,
}

fn write_journal(gw: &Gateway, plan: &Plan, next: usize) -> Result<(), String> {
    create_private_dir(&gw.state_dir)?;
    let text = serde_json::to_vec(&Journal {
        plan: plan.clone(),
        next,
    })
    .map_err(|e| format!("cannot write the journal: {e}"))?;
    atomic_write(&gw.journal_path(), &text, 0o600)
}

/// Removes the journal of a run that is over, durably: a journal left
/// behind would be taken up again by the next run.
fn clear_journal(gw: &Gateway, log: &mut dyn FnMut(String)) {
    let path = gw.journal_path();
    match fs::remove_file(&path) {
        Ok(()) => crate::system::fs::sync_dir(&gw.state_dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log(format!(
            "cannot remove {}: {}; the run is over, so remove it by hand, or the next run takes it up again",
            path.display(),
            files::io_reason(&e)
        )),
    }
}

/// Checks what the plan needs before touching anything: ipsecctl can be run,
/// isakmpd reads its FIFO.
fn preflight(gw: &Gateway, plan: &Plan) -> Result<(), String> {
    let uses = |f: fn(&Step) -> bool| plan.steps.iter().any(f);
    if uses(|s| matches!(s, Step::Ipsecctl { .. })) && !gw.ipsecctl.is_file() {
        return Err(format!("{} not found", gw.ipsecctl.display()));
    }
    if uses(|s| matches!(s, Step::Fifo { .. })) {
        fifo::check(&gw.fifo)?;
    }
    Ok(())
}

fn run_step(
    gw: &Gateway,
    step: &Step,
    forward_only: bool,
    log: &mut dyn FnMut(String),
) -> Result<(), String> {
    match step {
        Step::Write {
            path, new, mode, ..
        } => {
            if let Some(dir) = path.parent() {
                create_private_dir(dir)?;
            }
            atomic_write(path, new, *mode)
        }
        Step::Move { from, to, .. } => {
            if from.exists() {
                move_file(from, to)
            } else {
                Ok(())
            }
        }
        Step::Ipsecctl {
            args,
            file,
            tolerant,
            ..
        } => {
            if let Some((path, text)) = file {
                if let Some(dir) = path.parent() {
                    create_private_dir(dir)?;
                }
                atomic_write(path, text, 0o600)?;
            }
            let outcome = Ipsecctl::new(&gw.ipsecctl).run(args);
            if let Some((path, _)) = file {
                let _ = fs::remove_file(path);
            }
            let outcome = outcome?;
            if outcome.success {
                return Ok(());
            }
            let said = outcome.stderr.trim_end();
            if *tolerant || forward_only {
                log(format!(
                    "ipsecctl {} failed, going on: {said}",
                    args.join(" ")
                ));
                Ok(())
            } else {
                Err(format!("ipsecctl {} failed:\n{said}", args.join(" ")))
            }
        }
        Step::Fifo { lines } => fifo::send(&gw.fifo, lines),
    }
}

/// Takes back the steps before `done`, last first.  Stops at the first
/// step it cannot undo (say the disk is full) and returns its index and
/// why: the steps below it are still done, and undoing it again later is
/// safe, as undoing any step twice is.
fn roll_back(
    gw: &Gateway,
    plan: &Plan,
    done: usize,
    log: &mut dyn FnMut(String),
) -> Result<(), (usize, String)> {
    for (i, step) in plan.steps[..done].iter().enumerate().rev() {
        let result = match step {
            Step::Write {
                path,
                old: Some(old),
                mode,
                ..
            } => atomic_write(path, old, *mode),
            Step::Write {
                path, old: None, ..
            } => match fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!(
                    "cannot remove {}: {}",
                    path.display(),
                    files::io_reason(&e)
                )),
                _ => Ok(()),
            },
            Step::Move { from, to, .. } if to.exists() => move_file(to, from),
            Step::Ipsecctl {
                undo: Some(args),
                file,
                ..
            } => run_step(
                gw,
                &Step::Ipsecctl {
                    args: args.clone(),
                    file: file.clone(),
                    tolerant: true,
                    undo: None,
                },
                true,
                log,
            ),
            _ => Ok(()),
        };
        result.map_err(|e| (i, e))?;
    }
    Ok(())
}

/// After an undo failed at step `stuck`: the journal is kept, naming that
/// step, for the next run to finish the rollback.  If even that cannot be
/// written, the journal already there names a later step, and the next
/// run undoes a few steps twice, which is safe.
fn keep_for_rollback(gw: &Gateway, plan: &Plan, stuck: usize, why: &str) -> String {
    let _ = write_journal(gw, plan, stuck);
    format!(
        "could not undo a step: {why}\n`{}` is partly undone; the next ipsecmgr run rolls it back",
        plan.op
    )
}

/// Runs `plan`.  On a failure before the commit point, what was done is
/// undone and the error returned; after it, the error is returned and the
/// journal kept, for the next run to complete.
pub fn execute(gw: &Gateway, plan: &Plan, log: &mut dyn FnMut(String)) -> Result<(), String> {
    preflight(gw, plan)?;
    for (i, step) in plan.steps.iter().enumerate() {
        // the journal must say where the run is before the step starts; a
        // journal that cannot be written stops the run there, like a step
        // that fails.  `recorded` is the step the journal on disk names,
        // where the next run would take up; `done` how many steps may have
        // done something and are undone if the run is rolled back.
        let (e, recorded, done) = match write_journal(gw, plan, i) {
            Err(e) if i == 0 => return Err(format!("{e}\nnothing was changed")),
            Err(e) => (e, i - 1, i),
            Ok(()) => {
                match crate::faults::before_step(i).and_then(|()| run_step(gw, step, false, log)) {
                    Ok(()) => continue,
                    // a step that fails may have done part of its work
                    // (ipsecctl goes on past a rule it rejects)
                    Err(e) => (e, i, i + 1),
                }
            }
        };
        if recorded >= plan.commit {
            return Err(format!(
                "{e}\n`{}` is partly done; the next ipsecmgr run completes it",
                plan.op
            ));
        }
        if let Err((stuck, why)) = roll_back(gw, plan, done, log) {
            return Err(format!("{e}\n{}", keep_for_rollback(gw, plan, stuck, &why)));
        }
        clear_journal(gw, log);
        return Err(format!("{e}\nnothing was changed: what was done is undone"));
    }
    clear_journal(gw, log);
    Ok(())
}

/// The journal an interrupted run left, if any.
fn read_journal(gw: &Gateway) -> Result<Option<Journal>, String> {
    let path = gw.journal_path();
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "cannot read {}: {}",
                path.display(),
                files::io_reason(&e)
            ));
        }
    };
    serde_json::from_slice(&text).map(Some).map_err(|e| {
        format!(
            "{}: unreadable journal ({e}); move it away to go on",
            path.display()
        )
    })
}

/// What an interrupted run left for the next mutating run to do, said for
/// people, if anything: commands that only look warn with it.
pub fn pending(gw: &Gateway) -> Option<String> {
    match read_journal(gw) {
        Ok(None) => None,
        Err(e) => Some(e),
        Ok(Some(j)) => Some(format!(
            "`{}` was interrupted at step {} of {}; the next mutating ipsecmgr run {} it",
            j.plan.op,
            j.next + 1,
            j.plan.steps.len(),
            if j.next < j.plan.commit {
                "rolls back"
            } else {
                "completes"
            }
        )),
    }
}

/// Removes the temporary files a killed run left beside the files
/// ipsecmgr writes (half-written copies, some holding keys), and the rule
/// files it wrote for ipsecctl (the journal holds them again for a run
/// that is to be completed or rolled back), and says so.
fn remove_stale_temps(gw: &Gateway, log: &mut dyn FnMut(String)) {
    let mut dirs = vec![
        gw.fragment_dir.actual.clone(),
        gw.state_dir.clone(),
        gw.state_dir.join("applied"),
        gw.removed_dir(),
    ];
    for conf in [Ok(gw.ipsec_conf.actual.clone()), gw.ipsec_conf_target()] {
        if let Some(dir) = conf.ok().as_deref().and_then(std::path::Path::parent) {
            dirs.push(dir.to_path_buf());
        }
    }
    dirs.sort();
    dirs.dedup();
    let removed: Vec<String> = dirs
        .iter()
        .flat_map(|d| crate::system::fs::remove_stale_temps(d, false))
        .chain(crate::system::fs::remove_stale_temps(&gw.work_dir(), true))
        .map(|p| gw.shown(&p))
        .collect();
    if !removed.is_empty() {
        log(format!(
            "removed {} temporary file(s) an interrupted run left: {}",
            removed.len(),
            removed.join(", ")
        ));
    }
}

/// Finishes or rolls back a run that was interrupted, after removing the
/// temporary files it left; returns what it did.
pub fn recover(gw: &Gateway, log: &mut dyn FnMut(String)) -> Result<Option<String>, String> {
    remove_stale_temps(gw, log);
    let Some(journal) = read_journal(gw)? else {
        return Ok(None);
    };
    let plan = &journal.plan;
    let next = journal.next.min(plan.steps.len());
    let said = if next < plan.commit {
        // the run may have died after step `next` did its work and before
        // the journal said so: it is undone too (undoing a step that did
        // not happen changes nothing)
        if let Err((stuck, why)) = roll_back(gw, plan, next + 1, log) {
            return Err(format!(
                "rolling back the interrupted `{}`: {}",
                plan.op,
                keep_for_rollback(gw, plan, stuck, &why)
            ));
        }
        format!("rolled back the interrupted `{}`", plan.op)
    } else {
        for (i, step) in plan.steps.iter().enumerate().skip(next) {
            write_journal(gw, plan, i)
                .and_then(|()| run_step(gw, step, true, log))
                .map_err(|e| {
                    format!(
                        "completing the interrupted `{}`: {e}\nthe next ipsecmgr run tries again",
                        plan.op
                    )
                })?;
        }
        format!("completed the interrupted `{}`", plan.op)
    };
    clear_journal(gw, log);
    Ok(Some(said))
}
