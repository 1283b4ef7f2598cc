//! The mutating commands: add, rm, apply, down, up, restart.  Each plans,
//! then prints the plan (`-n`) or carries it out under the lock.  Every
//! mutating run also finishes the phase 1 clean-ups left pending by an
//! earlier one, once no exchange with their peer is in flight
//! ([`crate::manager::pending`]).

use std::time::Duration;

use crate::cli::{AddArgs, ApplyArgs, NameArgs};
use crate::commands::{EXIT_CONFIG, EXIT_OK, EXIT_USAGE};
use crate::diag;
use crate::manager::exec;
use crate::manager::fragments;
use crate::manager::gateway::Gateway;
use crate::manager::ops::{self, Planned};
use crate::manager::pending;
use crate::manager::tree::Tree;
use crate::system::fs::{LOCK_WAIT, Lock};

fn say(msg: &str) {
    crate::errln!("ipsecmgr: {}", crate::escape::escaped_lines(msg));
}

/// Warns of an interrupted run that the next mutating run takes up, so
/// that commands that only look show the state things are really in.
pub fn warn_pending(gw: &Gateway) {
    if let Some(what) = exec::pending(gw) {
        say(&format!("warning: {what}"));
    }
}

/// Prints the tree's errors: commands go on, but the admin should know.
fn warn_tree(gw: &Gateway, tree: &Tree) {
    let errors: Vec<_> = tree
        .compiled
        .diags
        .iter()
        .filter(|d| d.is_error())
        .collect();
    if errors.is_empty() {
        return;
    }
    say(&format!("warning: {} has errors:", gw.ipsec_conf.gateway));
    for d in errors {
        crate::err!(
            "{}",
            crate::escape::escaped_lines(&diag::render_plain(d, &tree.compiled.parsed.sources))
        );
    }
}

/// Locks, recovers an interrupted run, finishes pending clean-ups that can
/// be, loads the tree, plans with `planner`, then prints or executes the
/// plan; after it, finishes what it left pending, waiting up to `wait`.
pub fn run_planned(
    gw: &Gateway,
    op: &str,
    dry_run: bool,
    wait: Option<u64>,
    planner: impl Fn(&Gateway, &Tree) -> Result<Planned, String>,
) -> i32 {
    if !dry_run
        && !gw.state_dir.exists()
        && let Some(status) = refused_before_any_state(gw, op, &planner)
    {
        return status;
    }
    let _lock = if dry_run {
        warn_pending(gw);
        None
    } else {
        match Lock::acquire(&gw.state_dir, op, LOCK_WAIT) {
            Ok(lock) => Some(lock),
            Err(e) => {
                say(&e);
                return EXIT_CONFIG;
            }
        }
    };
    if !dry_run {
        match exec::recover(gw, &mut |m| say(&m)) {
            Ok(Some(done)) => say(&done),
            Ok(None) => {}
            Err(e) => {
                say(&e);
                return EXIT_CONFIG;
            }
        }
        pending::finish(gw, None, &mut |m| say(&m));
    }
    let tree = Tree::load(gw);
    warn_tree(gw, &tree);
    let plan = match planner(gw, &tree) {
        Err(e) => {
            say(&format!("{op}: {e}"));
            return EXIT_CONFIG;
        }
        Ok(Planned::Nothing(why)) => {
            crate::outln!("{}", crate::escape::escaped_lines(&why));
            return EXIT_OK;
        }
        Ok(Planned::Plan(plan)) => plan,
    };
    crate::out!(
        "{}",
        crate::escape::escaped_lines(&plan.render(&ops::tree_redactor(gw, &tree)))
    );
    if dry_run {
        return EXIT_OK;
    }
    match exec::execute(gw, &plan, &mut |m| say(&format!("warning: {m}"))) {
        Ok(()) => {
            crate::outln!("{op}: done");
            for note in &plan.notes {
                crate::outln!("{note}");
            }
            pending::finish(gw, wait.map(Duration::from_secs), &mut |m| say(&m));
            EXIT_OK
        }
        Err(e) => {
            say(&format!("{op}: {e}"));
            EXIT_CONFIG
        }
    }
}

/// On a gateway without a state directory yet, plans once without the
/// lock (planning only reads): a run that is refused or has nothing to do
/// ends here and creates no state; one that will change something goes on
/// to lock and plan again.  (With no state there is no journal to recover
/// and no clean-up pending.)
fn refused_before_any_state(
    gw: &Gateway,
    op: &str,
    planner: &impl Fn(&Gateway, &Tree) -> Result<Planned, String>,
) -> Option<i32> {
    let tree = Tree::load(gw);
    match planner(gw, &tree) {
        Err(e) => {
            warn_tree(gw, &tree);
            say(&format!("{op}: {e}"));
            Some(EXIT_CONFIG)
        }
        Ok(Planned::Nothing(why)) => {
            crate::outln!("{}", crate::escape::escaped_lines(&why));
            Some(EXIT_OK)
        }
        Ok(Planned::Plan(_)) => None,
    }
}

pub fn add(gw: &Gateway, args: &AddArgs) -> i32 {
    if args.output.json {
        return crate::commands::manage_json::add(gw, args);
    }
    let src = match ops::source(gw, &args.file) {
        Ok(s) => s,
        Err(e) => {
            say(&format!("add: {}", e.message()));
            return arg_error_status(&e);
        }
    };
    let op = format!("add {}", src.name);
    run_planned(gw, &op, args.dry_run, None, |gw, tree| {
        ops::plan_add(gw, tree, &src)
    })
}

/// A FILE that could not be read: the command could not run.
pub fn arg_error_status(e: &ops::ArgError) -> i32 {
    match e {
        ops::ArgError::Refused(_) => EXIT_CONFIG,
        ops::ArgError::Unreadable(_) => EXIT_USAGE,
    }
}

fn named(gw: &Gateway, verb: &str, arg: &str) -> Result<(String, String), i32> {
    match fragments::resolve(gw, arg) {
        Ok(name) => Ok((format!("{verb} {name}"), name)),
        Err(e) => {
            say(&format!("{verb}: {e}"));
            Err(EXIT_CONFIG)
        }
    }
}

pub fn rm(gw: &Gateway, args: &NameArgs) -> i32 {
    if args.output.json {
        return crate::commands::manage_json::rm(gw, args);
    }
    let (op, name) = match named(gw, "rm", &args.name) {
        Ok(x) => x,
        Err(code) => return code,
    };
    run_planned(gw, &op, args.dry_run, args.wait, |gw, tree| {
        ops::plan_rm(gw, tree, &name)
    })
}

pub fn updown(gw: &Gateway, args: &NameArgs, down: bool, up: bool) -> i32 {
    if args.output.json {
        return crate::commands::manage_json::updown(gw, args, down, up);
    }
    let verb = match (down, up) {
        (true, true) => "restart",
        (true, false) => "down",
        _ => "up",
    };
    let (op, name) = match named(gw, verb, &args.name) {
        Ok(x) => x,
        Err(code) => return code,
    };
    run_planned(gw, &op, args.dry_run, args.wait, |gw, tree| {
        ops::plan_updown(gw, tree, &name, down, up)
    })
}

pub fn apply(gw: &Gateway, args: &ApplyArgs) -> i32 {
    if args.output.json {
        return crate::commands::manage_json::apply(gw, args);
    }
    let (op, name) = match named(gw, "apply", &args.name) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let file = args.file.clone();
    if let Some(typed) = &file
        && let Err(e) = ops::read_arg(std::path::Path::new(typed))
    {
        say(&format!("{op}: {}", e.message()));
        return arg_error_status(&e);
    }
    run_planned(gw, &op, args.dry_run, args.wait, |gw, tree| {
        let loaded = fragments::loaded(gw, tree, &name)?;
        let (text, new) = ops::new_version(gw, &name, file.as_deref())?;
        ops::plan_apply(gw, tree, &name, &loaded, &text, &new, file.is_some())
    })
}
