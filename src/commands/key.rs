//! `ipsecmgr key set NAME` and `ipsecmgr key migrate`: planned and carried
//! out by the driver every mutating command uses.  A key is read from
//! standard input, or asked for on a terminal without echo; never from the
//! command line, where `ps` shows it to every user.

use std::io::{BufRead, Read};

use crate::cli::{KeyAction, KeyArgs, KeyOutput, PlanOutput};
use crate::commands::EXIT_USAGE;
use crate::commands::drive::{Reporter, Run, drive};
use crate::commands::manage::Text;
use crate::commands::manage_json::JsonReport;
use crate::manager::gateway::Gateway;
use crate::manager::keys;

/// The most bytes read as a key: far past any key isakmpd takes, so a
/// stream without end cannot fill memory.
const MAX_INPUT: u64 = 4096;

pub fn run(gw: &Gateway, args: &KeyArgs) -> i32 {
    match &args.action {
        KeyAction::Set(a) => {
            let value = match read_key(&a.name) {
                Ok(v) => v,
                Err(e) => {
                    crate::errln!("ipsecmgr: key set: {}", crate::escape::escaped_lines(&e));
                    return EXIT_USAGE;
                }
            };
            let output = plan_output(&a.output);
            let mut rep = reporter(gw, "key set", a.dry_run, &output);
            let run = Run {
                op: format!("key set {}", a.name),
                dry_run: a.dry_run,
                // a key load waits for no exchange (see Step::LoadKey)
                wait: None,
                config_only: false,
            };
            let name = a.name.clone();
            drive(gw, &run, &mut *rep, |gw, tree| {
                keys::plan_key_set(gw, tree, &name, &value)
            })
        }
        KeyAction::Migrate(a) => {
            let output = plan_output(&a.output);
            let mut rep = reporter(gw, "key migrate", a.dry_run, &output);
            let run = Run {
                op: "key migrate".into(),
                dry_run: a.dry_run,
                wait: None,
                config_only: false,
            };
            drive(gw, &run, &mut *rep, keys::plan_migrate)
        }
    }
}

/// The plan output of a key command: never with keys shown.
fn plan_output(o: &KeyOutput) -> PlanOutput {
    PlanOutput {
        json: o.json,
        show_keys: false,
        verbose: o.verbose,
    }
}

fn reporter<'a>(
    gw: &'a Gateway,
    command: &'static str,
    dry_run: bool,
    output: &'a PlanOutput,
) -> Box<dyn Reporter + 'a> {
    if output.json {
        Box::new(JsonReport::new(gw, command, dry_run, false, output))
    } else {
        Box::new(Text {
            config_only: false,
            verbose: output.verbose,
        })
    }
}

/// The key: asked for twice on a terminal, without echo; otherwise the
/// first line of standard input (its line end taken off).
fn read_key(name: &str) -> Result<String, String> {
    let stdin = std::io::stdin();
    if nix::unistd::isatty(&stdin).unwrap_or(false) {
        let first = prompt(&format!("key {name}: "))?;
        let again = prompt(&format!("key {name} again: "))?;
        if first != again {
            return Err("the two keys typed differ; nothing was changed".into());
        }
        return Ok(first);
    }
    let mut line = Vec::new();
    stdin
        .lock()
        .take(MAX_INPUT)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("standard input: {e}"))?;
    if line.len() as u64 >= MAX_INPUT {
        return Err(format!(
            "standard input: a key line of {MAX_INPUT} bytes or more"
        ));
    }
    let line = line.strip_suffix(b"\n").unwrap_or(&line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8(line.to_vec())
        .map_err(|_| "standard input: the key is not UTF-8 text".to_string())
}

/// One line read from the terminal with echo off, `ask` said on stderr.
fn prompt(ask: &str) -> Result<String, String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).map_err(|e| format!("the terminal: {e}"))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSAFLUSH, &quiet).map_err(|e| format!("the terminal: {e}"))?;
    crate::err!("{ask}");
    let mut line = Vec::new();
    let read = stdin.lock().take(MAX_INPUT).read_until(b'\n', &mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSAFLUSH, &saved);
    crate::errln!();
    read.map_err(|e| format!("the terminal: {e}"))?;
    let line = line.strip_suffix(b"\n").unwrap_or(&line);
    String::from_utf8(line.to_vec()).map_err(|_| "the key is not UTF-8 text".to_string())
}
