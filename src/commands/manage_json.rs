//! The mutating commands with `--json`: the same planning and execution as
//! [`crate::commands::manage`], but every outcome — a plan, a result, a
//! refusal, a failure halfway — is one JSON document on stdout
//! ([`plan_json::Report`]), so that automation never reads the text.

use crate::cli::{AddArgs, ApplyArgs, NameArgs, PlanOutput};
use crate::commands::{EXIT_CONFIG, EXIT_OK};
use crate::manager::exec;
use crate::manager::fragments;
use crate::manager::gateway::Gateway;
use crate::manager::ops::{self, Planned};
use crate::manager::pending;
use crate::manager::plan::Plan;
use crate::manager::plan_json::{self, Outcome, Report};
use crate::manager::tree::Tree;
use crate::system::fs::{LOCK_WAIT, Lock};
use std::time::Duration;

/// One JSON run: what the command is and how its output is asked for.
struct JsonRun<'a> {
    gw: &'a Gateway,
    command: &'static str,
    fragment: Option<String>,
    dry_run: bool,
    output: &'a PlanOutput,
    warnings: Vec<String>,
    /// `--wait`: how long to wait for the clean-ups the plan leaves pending.
    wait: Option<u64>,
}

impl JsonRun<'_> {
    /// Prints the report and returns the exit status that goes with it.
    fn finish(self, steps: Vec<plan_json::StepJson>, result: Outcome) -> i32 {
        let status = if result.status == "failed" {
            EXIT_CONFIG
        } else {
            EXIT_OK
        };
        let report = Report {
            command: self.command,
            fragment: self.fragment,
            dry_run: self.dry_run,
            keys_shown: self.output.show_keys,
            steps,
            result,
        };
        crate::outln!("{}", crate::json::object(&report));
        status
    }

    fn outcome(&mut self, status: &'static str, message: Option<String>) -> Outcome {
        Outcome {
            status,
            changed: false,
            message,
            done: Vec::new(),
            pending: Vec::new(),
            recovered: None,
            warnings: std::mem::take(&mut self.warnings),
            journal: plan_json::journal_state(self.gw),
        }
    }

    /// A refusal or failure before any plan was carried out.
    fn failed(mut self, message: String) -> i32 {
        let result = self.outcome("failed", Some(message));
        self.finish(Vec::new(), result)
    }

    /// Locks, recovers, plans, then reports the plan (-n) or carries it out
    /// and reports what was done.
    fn run(
        mut self,
        planner: impl Fn(&Gateway, &Tree) -> Result<Planned, String>,
        op: &str,
    ) -> i32 {
        let gw = self.gw;
        // as the text commands do: on a gateway without state yet, a run
        // that is refused or has nothing to do creates none (planning only
        // reads; with no state there is nothing to recover or settle)
        if !self.dry_run && !gw.state_dir.exists() {
            match planner(gw, &Tree::load(gw)) {
                Err(e) => return self.failed(e),
                Ok(Planned::Nothing(why)) => {
                    let result = self.outcome("unchanged", Some(why));
                    return self.finish(Vec::new(), result);
                }
                Ok(Planned::Plan(_)) => {}
            }
        }
        let _lock = if self.dry_run {
            None
        } else {
            match Lock::acquire(&gw.state_dir, op, LOCK_WAIT) {
                Ok(lock) => Some(lock),
                Err(e) => return self.failed(e),
            }
        };
        let mut recovered = None;
        if !self.dry_run {
            let mut said = Vec::new();
            let r = exec::recover(gw, &mut |m| said.push(m));
            self.warnings.extend(said);
            match r {
                Ok(done) => recovered = done,
                Err(e) => return self.failed(e),
            }
            // as the text commands do: finish what waits and can be
            self.settle_pending(None);
        }
        let tree = Tree::load(gw);
        self.warnings.extend(tree_errors(&tree));
        let plan = match planner(gw, &tree) {
            Err(e) => return self.failed(e),
            Ok(Planned::Nothing(why)) => {
                let mut result = self.outcome("unchanged", Some(why));
                result.recovered = recovered;
                return self.finish(Vec::new(), result);
            }
            Ok(Planned::Plan(plan)) => plan,
        };
        let steps = if self.output.show_keys {
            plan_json::steps(&plan, &|t: &[u8]| String::from_utf8_lossy(t).into_owned())
        } else {
            plan_json::steps(&plan, &ops::tree_redactor(gw, &tree))
        };
        let mut result = if self.dry_run {
            let mut r = self.outcome("planned", None);
            r.pending = (0..plan.steps.len()).collect();
            r
        } else {
            self.execute(&plan)
        };
        result.recovered = recovered;
        self.finish(steps, result)
    }

    /// Finishes the pending clean-ups that can be (waiting up to `wait`),
    /// what it says going into the warnings.
    fn settle_pending(&mut self, wait: Option<u64>) {
        let mut said = Vec::new();
        pending::finish(self.gw, wait.map(Duration::from_secs), &mut |m| {
            said.push(m)
        });
        self.warnings.extend(said);
    }

    fn execute(&mut self, plan: &Plan) -> Outcome {
        let mut said = Vec::new();
        let executed = exec::execute(self.gw, plan, &mut |m| said.push(m));
        self.warnings.extend(said);
        if executed.is_ok() {
            self.settle_pending(self.wait);
        }
        match executed {
            Ok(()) => {
                let mut r = self.outcome("done", None);
                r.changed = true;
                r.done = (0..plan.steps.len()).collect();
                r
            }
            Err(e) => {
                let mut r = self.outcome("failed", Some(e));
                (r.done, r.pending) = Outcome::split_by_journal(plan.steps.len(), &r.journal);
                r.changed = r.journal.state != "clean";
                r
            }
        }
    }
}

/// The errors of the tree, for the warnings: commands go on, but the
/// admin should know.
fn tree_errors(tree: &Tree) -> Vec<String> {
    tree.compiled
        .diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            crate::diag::render_plain(d, &tree.compiled.parsed.sources)
                .trim_end()
                .to_string()
        })
        .collect()
}

fn start<'a>(
    gw: &'a Gateway,
    command: &'static str,
    dry_run: bool,
    output: &'a PlanOutput,
) -> JsonRun<'a> {
    let mut warnings = Vec::new();
    if dry_run && let Some(what) = exec::pending(gw) {
        warnings.push(what);
    }
    JsonRun {
        gw,
        command,
        fragment: None,
        dry_run,
        output,
        warnings,
        wait: None,
    }
}

/// Resolves NAME to a fragment, or reports why it cannot.
fn named<'a>(mut run: JsonRun<'a>, arg: &str) -> Result<(JsonRun<'a>, String), i32> {
    match fragments::resolve(run.gw, arg) {
        Ok(name) => {
            run.fragment = Some(name.clone());
            Ok((run, name))
        }
        Err(e) => Err(run.failed(e)),
    }
}

pub fn add(gw: &Gateway, args: &AddArgs) -> i32 {
    let mut run = start(gw, "add", args.dry_run, &args.output);
    let src = match ops::source(gw, &args.file) {
        Ok(s) => s,
        Err(e) => return run.failed(e.message().to_string()),
    };
    run.fragment = Some(src.name.clone());
    let op = format!("add {}", src.name);
    run.run(|gw, tree| ops::plan_add(gw, tree, &src), &op)
}

pub fn rm(gw: &Gateway, args: &NameArgs) -> i32 {
    let (mut run, name) = match named(start(gw, "rm", args.dry_run, &args.output), &args.name) {
        Ok(x) => x,
        Err(code) => return code,
    };
    run.wait = args.wait;
    let op = format!("rm {name}");
    run.run(|gw, tree| ops::plan_rm(gw, tree, &name), &op)
}

pub fn updown(gw: &Gateway, args: &NameArgs, down: bool, up: bool) -> i32 {
    let verb = match (down, up) {
        (true, true) => "restart",
        (true, false) => "down",
        _ => "up",
    };
    let (mut run, name) = match named(start(gw, verb, args.dry_run, &args.output), &args.name) {
        Ok(x) => x,
        Err(code) => return code,
    };
    run.wait = args.wait;
    let op = format!("{verb} {name}");
    run.run(|gw, tree| ops::plan_updown(gw, tree, &name, down, up), &op)
}

pub fn apply(gw: &Gateway, args: &ApplyArgs) -> i32 {
    let (mut run, name) = match named(start(gw, "apply", args.dry_run, &args.output), &args.name) {
        Ok(x) => x,
        Err(code) => return code,
    };
    run.wait = args.wait;
    let op = format!("apply {name}");
    let file = args.file.clone();
    run.run(
        |gw, tree| {
            let loaded = fragments::loaded(gw, tree, &name)?;
            let (text, new) = ops::new_version(gw, &name, file.as_deref())?;
            ops::plan_apply(gw, tree, &name, &loaded, &text, &new, file.is_some())
        },
        &op,
    )
}
