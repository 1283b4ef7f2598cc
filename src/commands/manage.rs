//! The mutating commands: add, rm, apply, down, up, restart.  Each plans,
//! then prints the plan (`-n`) or carries it out under the lock.  Every
//! mutating run also finishes the phase 1 clean-ups left pending by an
//! earlier one, once no exchange with their peer is in flight
//! ([`crate::manager::pending`]).
//!
//! One driver ([`crate::commands::drive`]) runs every command; what it
//! finds is told to a [`Reporter`]: [`Text`] here, or the JSON document of
//! [`crate::commands::manage_json`].

use crate::cli::{AddArgs, ApplyArgs, NameArgs, RmArgs};
use crate::commands::drive::{Reporter, Run, drive};
use crate::commands::manage_json::JsonReport;
use crate::commands::{EXIT_CONFIG, EXIT_OK, EXIT_USAGE};
use crate::manager::config_only;
use crate::manager::exec;
use crate::manager::fragments;
use crate::manager::gateway::Gateway;
use crate::manager::ops;
use crate::manager::plan::{Later, Plan};
use crate::manager::tree::Tree;

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
    if tree.compiled.has_errors() {
        say(&format!("warning: {} has errors:", gw.ipsec_conf.gateway));
        crate::commands::print_errors(&tree.compiled);
    }
}

/// The text output: the plan and results on stdout, messages on stderr.
pub struct Text {
    pub config_only: bool,
    /// `-v`: ipsecmgr's own records in full
    pub verbose: bool,
}

/// What a --config-only run leaves to run, pasteable.
fn print_later(later: &[Later]) {
    if later.is_empty() {
        return;
    }
    crate::outln!("to make the gateway match, once isakmpd runs:");
    for l in later {
        crate::outln!(
            "    {}    # {}",
            crate::escape::escaped(&l.command()),
            crate::escape::escaped(&l.does)
        );
    }
}

impl Reporter for Text {
    fn arg_error(&mut self, op: &str, e: &ops::ArgError) -> i32 {
        say(&format!("{op}: {}", e.message()));
        arg_error_status(e)
    }

    fn say(&mut self, msg: String) {
        say(&msg);
    }

    fn warn(&mut self, msg: String) {
        say(&format!("warning: {msg}"));
    }

    fn dry_run(&mut self, gw: &Gateway) {
        warn_pending(gw);
    }

    fn recovered(&mut self, done: String) {
        say(&done);
    }

    fn tree(&mut self, gw: &Gateway, tree: &Tree) {
        warn_tree(gw, tree);
    }

    fn failed(&mut self, why: String) -> i32 {
        say(&why);
        EXIT_CONFIG
    }

    fn refused(&mut self, op: &str, why: String) -> i32 {
        say(&format!("{op}: {why}"));
        EXIT_CONFIG
    }

    fn refused_without_state(&mut self, gw: &Gateway, tree: &Tree, op: &str, why: String) -> i32 {
        warn_tree(gw, tree);
        self.refused(op, why)
    }

    fn nothing(&mut self, why: String, later: &[Later]) -> i32 {
        crate::outln!("{}", crate::escape::escaped_lines(&why));
        print_later(later);
        EXIT_OK
    }

    fn plan(&mut self, gw: &Gateway, tree: &Tree, plan: &Plan) {
        crate::out!(
            "{}",
            crate::escape::escaped_lines(&plan.render(&ops::tree_redactor(gw, tree), self.verbose))
        );
    }

    fn planned(&mut self, plan: &Plan) -> i32 {
        print_later(&plan.later);
        EXIT_OK
    }

    fn executed(&mut self, op: &str, plan: &Plan, result: &Result<(), String>) {
        if let Err(e) = result {
            say(&format!("{op}: {e}"));
            return;
        }
        if self.config_only {
            crate::outln!(
                "{op}: done, in the configuration only: no ipsecctl was run and isakmpd was told nothing"
            );
        } else {
            crate::outln!("{op}: done");
        }
        for note in &plan.notes {
            crate::outln!("{note}");
        }
        // only --config-only plans leave something to run
        print_later(&plan.later);
    }

    fn finish(&mut self, _plan: &Plan, result: Result<(), String>) -> i32 {
        match result {
            Ok(()) => EXIT_OK,
            Err(_) => EXIT_CONFIG,
        }
    }
}

/// The reporter `--json` asks for, or the text one.
fn reporter<'a>(
    gw: &'a Gateway,
    command: &'static str,
    dry_run: bool,
    config_only: bool,
    output: &'a crate::cli::PlanOutput,
) -> Box<dyn Reporter + 'a> {
    if output.json {
        Box::new(JsonReport::new(gw, command, dry_run, config_only, output))
    } else {
        Box::new(Text {
            config_only,
            verbose: output.verbose,
        })
    }
}

/// A FILE that could not be read: the command could not run.
pub fn arg_error_status(e: &ops::ArgError) -> i32 {
    match e {
        ops::ArgError::Refused(_) => EXIT_CONFIG,
        ops::ArgError::Unreadable(_) => EXIT_USAGE,
    }
}

pub fn add(gw: &Gateway, args: &AddArgs) -> i32 {
    let mut rep = reporter(gw, "add", args.dry_run, args.config_only, &args.output);
    let src = match ops::source(gw, &args.file) {
        Ok(s) => s,
        Err(e) => return rep.arg_error("add", &e),
    };
    rep.fragment(&src.name);
    let run = Run {
        op: format!("add {}", src.name),
        dry_run: args.dry_run,
        wait: args.wait.seconds,
        config_only: args.config_only,
    };
    drive(gw, &run, &mut *rep, |gw, tree| {
        if args.config_only {
            config_only::plan_add(gw, tree, &src)
        } else {
            ops::plan_add(gw, tree, &src)
        }
    })
}

/// Resolves NAME to a fragment, or reports why it cannot.
fn named(gw: &Gateway, rep: &mut dyn Reporter, verb: &str, arg: &str) -> Result<String, i32> {
    match fragments::resolve(gw, arg) {
        Ok(name) => {
            rep.fragment(&name);
            Ok(name)
        }
        Err(e) => Err(rep.refused(verb, e)),
    }
}

pub fn rm(gw: &Gateway, args: &RmArgs) -> i32 {
    let mut rep = reporter(gw, "rm", args.dry_run, args.config_only, &args.output);
    let name = match named(gw, &mut *rep, "rm", &args.name) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let run = Run {
        op: format!("rm {name}"),
        dry_run: args.dry_run,
        wait: args.wait.seconds,
        config_only: args.config_only,
    };
    drive(gw, &run, &mut *rep, |gw, tree| {
        if args.config_only {
            config_only::plan_rm(gw, tree, &name)
        } else {
            ops::plan_rm(gw, tree, &name)
        }
    })
}

pub fn updown(gw: &Gateway, args: &NameArgs, down: bool, up: bool) -> i32 {
    let verb = match (down, up) {
        (true, true) => "restart",
        (true, false) => "down",
        _ => "up",
    };
    let mut rep = reporter(gw, verb, args.dry_run, false, &args.output);
    let name = match named(gw, &mut *rep, verb, &args.name) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let run = Run {
        op: format!("{verb} {name}"),
        dry_run: args.dry_run,
        wait: args.wait.seconds,
        config_only: false,
    };
    drive(gw, &run, &mut *rep, |gw, tree| {
        ops::plan_updown(gw, tree, &name, down, up)
    })
}

pub fn apply(gw: &Gateway, args: &ApplyArgs) -> i32 {
    let mut rep = reporter(gw, "apply", args.dry_run, args.config_only, &args.output);
    let name = match named(gw, &mut *rep, "apply", &args.name) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let op = format!("apply {name}");
    let file = args.file.clone();
    // the text run says at once that FILE cannot be read; the JSON run
    // finds it when planning, in its document
    if !args.output.json
        && let Some(typed) = &file
        && let Err(e) = ops::read_arg(std::path::Path::new(typed))
    {
        return rep.arg_error(&op, &e);
    }
    let run = Run {
        op,
        dry_run: args.dry_run,
        wait: args.wait.seconds,
        config_only: args.config_only,
    };
    drive(gw, &run, &mut *rep, |gw, tree| {
        ops::check_included(gw, tree, &name)?;
        let loaded = fragments::loaded(gw, tree, &name)?;
        let (text, new) = ops::new_version(gw, &name, file.as_deref())?;
        let plan = if args.config_only {
            config_only::plan_apply
        } else {
            ops::plan_apply
        };
        plan(gw, tree, &name, &loaded, &text, &new, file.is_some())
    })
}
