//! The mutating commands with `--json`: the same driver as the text
//! commands ([`crate::commands::drive::drive`]), but every outcome — a
//! plan, a result, a refusal, a failure halfway — is one JSON document on
//! stdout ([`plan_json::Report`]), so that automation never reads the text.

use crate::cli::PlanOutput;
use crate::commands::drive::Reporter;
use crate::commands::{EXIT_CONFIG, EXIT_OK};
use crate::manager::exec;
use crate::manager::gateway::Gateway;
use crate::manager::ops;
use crate::manager::plan::{Later, Plan};
use crate::manager::plan_json::{self, LaterJson, Outcome, Report, StepJson};
use crate::manager::tree::Tree;

/// One JSON run: what the command is, how its output is asked for, and
/// what it found so far.
pub struct JsonReport<'a> {
    gw: &'a Gateway,
    command: &'static str,
    fragment: Option<String>,
    dry_run: bool,
    config_only: bool,
    output: &'a PlanOutput,
    warnings: Vec<String>,
    /// An interrupted earlier run that this one completed or rolled back.
    recovered: Option<String>,
    steps: Vec<StepJson>,
}

impl<'a> JsonReport<'a> {
    pub fn new(
        gw: &'a Gateway,
        command: &'static str,
        dry_run: bool,
        config_only: bool,
        output: &'a PlanOutput,
    ) -> JsonReport<'a> {
        let mut warnings = Vec::new();
        if dry_run && let Some(what) = exec::pending(gw) {
            warnings.push(what);
        }
        JsonReport {
            gw,
            command,
            fragment: None,
            dry_run,
            config_only,
            output,
            warnings,
            recovered: None,
            steps: Vec::new(),
        }
    }

    /// Prints the report and returns the exit status that goes with it.
    fn print(&mut self, result: Outcome) -> i32 {
        let status = if result.status == "failed" {
            EXIT_CONFIG
        } else {
            EXIT_OK
        };
        let report = Report {
            command: self.command,
            fragment: self.fragment.take(),
            dry_run: self.dry_run,
            config_only: self.config_only,
            keys_shown: self.output.show_keys,
            steps: std::mem::take(&mut self.steps),
            result,
        };
        crate::output::document(&crate::json::object(&report));
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
            later: None,
        }
    }

    /// What is left to run, on a --config-only run that changed or would
    /// change the files.
    fn later(&self, later: &[Later]) -> Option<Vec<LaterJson>> {
        self.config_only.then(|| LaterJson::of(later))
    }
}

impl Reporter for JsonReport<'_> {
    fn fragment(&mut self, name: &str) {
        self.fragment = Some(name.to_string());
    }

    fn arg_error(&mut self, _op: &str, e: &ops::ArgError) -> i32 {
        self.failed(e.message().to_string())
    }

    fn say(&mut self, msg: String) {
        self.warnings.push(msg);
    }

    fn warn(&mut self, msg: String) {
        self.warnings.push(msg);
    }

    // the interrupted run is among the warnings from the start
    fn dry_run(&mut self, _gw: &Gateway) {}

    fn recovered(&mut self, done: String) {
        self.recovered = Some(done);
    }

    fn tree(&mut self, _gw: &Gateway, tree: &Tree) {
        self.warnings.extend(tree_errors(tree));
    }

    /// A refusal or failure before any plan was carried out.
    fn failed(&mut self, why: String) -> i32 {
        self.steps.clear();
        let result = self.outcome("failed", Some(why));
        self.print(result)
    }

    fn refused(&mut self, _op: &str, why: String) -> i32 {
        self.failed(why)
    }

    fn refused_without_state(
        &mut self,
        _gw: &Gateway,
        _tree: &Tree,
        _op: &str,
        why: String,
    ) -> i32 {
        self.failed(why)
    }

    fn nothing(&mut self, why: String, later: &[Later]) -> i32 {
        let mut result = self.outcome("unchanged", Some(why));
        result.recovered = self.recovered.take();
        result.later = self.later(later);
        self.print(result)
    }

    fn plan(&mut self, gw: &Gateway, tree: &Tree, plan: &Plan) {
        self.steps = if self.output.show_keys {
            plan_json::steps(plan, &|t: &[u8]| String::from_utf8_lossy(t).into_owned())
        } else {
            plan_json::steps(plan, &ops::tree_redactor(gw, tree))
        };
    }

    fn planned(&mut self, plan: &Plan) -> i32 {
        let mut result = self.outcome("planned", None);
        result.pending = (0..plan.steps.len()).collect();
        result.recovered = self.recovered.take();
        result.later = self.later(&plan.later);
        self.print(result)
    }

    // what it did is in the document [`Reporter::finish`] prints
    fn executed(&mut self, _op: &str, _plan: &Plan, _result: &Result<(), String>) {}

    fn finish(&mut self, plan: &Plan, result: Result<(), String>) -> i32 {
        let mut outcome = match result {
            Ok(()) => {
                let mut r = self.outcome("done", None);
                r.changed = true;
                r.done = (0..plan.steps.len()).collect();
                r.later = self.later(&plan.later);
                r
            }
            Err(e) => {
                let mut r = self.outcome("failed", Some(e));
                (r.done, r.pending) = Outcome::split_by_journal(plan.steps.len(), &r.journal);
                r.changed = r.journal.state != "clean";
                r
            }
        };
        outcome.recovered = self.recovered.take();
        self.print(outcome)
    }
}

/// The errors of the tree, for the warnings: commands go on, but the
/// admin should know.
fn tree_errors(tree: &Tree) -> Vec<String> {
    tree.compiled
        .rendered_errors()
        .map(|text| text.trim_end().to_string())
        .collect()
}
