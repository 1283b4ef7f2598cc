//! The one driver of the mutating commands: lock, take up an interrupted
//! run, settle pending clean-ups, load the tree, plan, then print the plan
//! or carry it out and settle again.  What it finds is told to a
//! [`Reporter`]: the text one ([`crate::commands::manage`]) or the JSON one
//! ([`crate::commands::manage_json`]).

use std::time::Duration;

use crate::manager::exec;
use crate::manager::gateway::Gateway;
use crate::manager::ops::{self, Planned};
use crate::manager::pending;
use crate::manager::plan::{Later, Plan};
use crate::manager::state;
use crate::manager::tree::Tree;
use crate::system::fs::{LOCK_WAIT, Lock};
use crate::system::interrupt;

/// How a run tells what it finds and does.  The methods returning a status
/// end the run.
pub trait Reporter {
    /// The fragment the command is about, once known.
    fn fragment(&mut self, _name: &str) {}
    /// A FILE argument that was refused or could not be read.
    fn arg_error(&mut self, op: &str, e: &ops::ArgError) -> i32;
    /// A message of the run: recovering an interrupted one, settling
    /// clean-ups.
    fn say(&mut self, msg: String);
    /// A warning from carrying the plan out.
    fn warn(&mut self, msg: String);
    /// A dry run begins.
    fn dry_run(&mut self, gw: &Gateway);
    /// An interrupted earlier run was completed or rolled back.
    fn recovered(&mut self, done: String);
    /// The tree was loaded.
    fn tree(&mut self, gw: &Gateway, tree: &Tree);
    /// The run could not go on (the lock, the recovery).
    fn failed(&mut self, why: String) -> i32;
    /// The command was refused.
    fn refused(&mut self, op: &str, why: String) -> i32;
    /// The command was refused on a gateway without state, before the
    /// tree was reported.
    fn refused_without_state(&mut self, gw: &Gateway, tree: &Tree, op: &str, why: String) -> i32;
    /// There was nothing to do (in the files, with `later` left to run).
    fn nothing(&mut self, why: String, later: &[Later]) -> i32;
    /// The plan, before it is carried out.
    fn plan(&mut self, gw: &Gateway, tree: &Tree, plan: &Plan);
    /// The end of a dry run.
    fn planned(&mut self, plan: &Plan) -> i32;
    /// The plan was carried out, or failed; pending clean-ups are settled
    /// after this, then [`Reporter::finish`] ends the run.
    fn executed(&mut self, op: &str, plan: &Plan, result: &Result<(), String>);
    fn finish(&mut self, plan: &Plan, result: Result<(), String>) -> i32;
}

/// A run of a mutating command.
pub struct Run {
    /// The command as the lock and the journal name it: `rm customer-a`.
    pub op: String,
    pub dry_run: bool,
    /// `--wait`: how long to wait for the clean-ups the plan leaves pending.
    pub wait: Option<u64>,
    /// `--config-only`: files only; no ipsecctl, nothing into the FIFO, no
    /// `S` report read (so no pending clean-up settled).
    pub config_only: bool,
}

/// Locks, recovers an interrupted run, finishes pending clean-ups that can
/// be, loads the tree, plans with `planner`, then reports the plan (-n) or
/// executes it; after it, finishes what it left pending, waiting up to
/// `wait`.  A plan without steps changes nothing: its notes say why.  A
/// signal caught on the way ends the run at a safe point, with the exit
/// status a shell gives a command the signal ended (128 + its number).
pub fn drive(
    gw: &Gateway,
    run: &Run,
    rep: &mut dyn Reporter,
    planner: impl Fn(&Gateway, &Tree) -> Result<Planned, String>,
) -> i32 {
    // from here on, Ctrl-C (or SIGTERM, SIGHUP) stops the run at a safe
    // point rather than killing it with ipsecctl still loading rules
    if !run.dry_run
        && let Err(e) = interrupt::catch()
    {
        rep.warn(e);
    }
    let status = drive_run(gw, run, rep, planner);
    match interrupt::caught() {
        Some(sig) if !run.dry_run => interrupt::exit_status(sig),
        _ => status,
    }
}

fn drive_run(
    gw: &Gateway,
    run: &Run,
    rep: &mut dyn Reporter,
    planner: impl Fn(&Gateway, &Tree) -> Result<Planned, String>,
) -> i32 {
    let op = run.op.as_str();
    if !run.dry_run
        && !gw.state_dir.exists()
        && let Some(status) = refused_before_any_state(gw, op, rep, &planner)
    {
        return status;
    }
    let _lock = if run.dry_run {
        rep.dry_run(gw);
        None
    } else {
        match Lock::acquire(&gw.state_dir, op, LOCK_WAIT) {
            Ok(lock) => Some(lock),
            Err(e) => return rep.failed(e),
        }
    };
    if !run.dry_run {
        match exec::recover(gw, run.config_only, &mut |m| rep.say(m)) {
            Ok(Some(done)) => rep.recovered(done),
            Ok(None) => {}
            Err(e) => return rep.failed(e),
        }
    }
    // a state file that cannot be read would be written again without
    // what it held: no plan is made past one
    if let Err(e) = state::check(gw) {
        return rep.failed(e);
    }
    if !run.dry_run && !run.config_only {
        pending::finish(gw, None, &mut |m| rep.say(m));
    }
    let tree = Tree::load(gw);
    rep.tree(gw, &tree);
    let plan = match planner(gw, &tree) {
        Err(e) => return rep.refused(op, e),
        Ok(Planned::Nothing(why)) => return rep.nothing(why, &[]),
        Ok(Planned::Plan(plan)) if plan.is_empty() => {
            return rep.nothing(plan.notes.join("\n"), &plan.later);
        }
        Ok(Planned::Plan(mut plan)) => {
            plan.initiating = ops::initiating(gw, &tree);
            plan
        }
    };
    if run.config_only && plan.touches_isakmpd() {
        // the planners of --config-only make none: a bug, said as one
        return rep.refused(
            op,
            "internal error: a --config-only plan runs ipsecctl or writes into the FIFO; nothing was changed".to_string(),
        );
    }
    // a run refused for what it needs (isakmpd not reading its FIFO, an
    // ipsecctl that cannot run) says so alone, without a plan it will not
    // carry out
    let wait = run.wait.map(Duration::from_secs);
    if !run.dry_run
        && let Err(e) = exec::preflight(gw, &plan, wait)
    {
        return rep.refused(op, format!("{e}\nnothing was changed"));
    }
    rep.plan(gw, &tree, &plan);
    if run.dry_run {
        return rep.planned(&plan);
    }
    let result = exec::execute(gw, &plan, wait, &mut |m| rep.warn(m));
    rep.executed(op, &plan, &result);
    if result.is_ok() && !run.config_only {
        pending::window_from_now(gw);
        pending::finish(gw, run.wait.map(Duration::from_secs), &mut |m| rep.say(m));
    }
    rep.finish(&plan, result)
}

/// On a gateway without a state directory yet, plans once without the
/// lock (planning only reads): a run that is refused or has nothing to do
/// ends here and creates no state; one that will change something goes on
/// to lock and plan again.  (With no state there is no journal to recover
/// and no clean-up pending.)
fn refused_before_any_state(
    gw: &Gateway,
    op: &str,
    rep: &mut dyn Reporter,
    planner: &impl Fn(&Gateway, &Tree) -> Result<Planned, String>,
) -> Option<i32> {
    let tree = Tree::load(gw);
    match planner(gw, &tree) {
        Err(e) => Some(rep.refused_without_state(gw, &tree, op, e)),
        Ok(Planned::Nothing(why)) => Some(rep.nothing(why, &[])),
        Ok(Planned::Plan(plan)) if plan.is_empty() => {
            Some(rep.nothing(plan.notes.join("\n"), &plan.later))
        }
        Ok(Planned::Plan(_)) => None,
    }
}
