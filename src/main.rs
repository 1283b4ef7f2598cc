use clap::Parser;

use ipsecmgr::cli::{Cli, Command};
use ipsecmgr::commands::{self, EXIT_USAGE};
use ipsecmgr::manager::gateway::Gateway;
use ipsecmgr::output;
use ipsecmgr::settings::Settings;
use ipsecmgr::system::files::Root;

/// Exits with `status`.  If stdout could not be written, that is said;
/// when the output was the point of the command (a listing, a plan), what
/// was written is incomplete and the status is at least 2, but a change to
/// the gateway that was made keeps its status.
fn finish(command: &Command, status: i32) -> ! {
    if let Some(why) = output::stdout_failure() {
        ipsecmgr::errln!("ipsecmgr: cannot write standard output: {why}");
        if !changes_gateway(command) {
            std::process::exit(status.max(EXIT_USAGE));
        }
    }
    std::process::exit(status)
}

fn changes_gateway(command: &Command) -> bool {
    match command {
        Command::Add(a) => !a.dry_run,
        Command::Apply(a) => !a.dry_run,
        Command::Rm(a) => !a.dry_run,
        Command::Down(a) | Command::Up(a) | Command::Restart(a) => !a.dry_run,
        Command::Key(k) => match &k.action {
            ipsecmgr::cli::KeyAction::Set(a) => !a.dry_run,
            ipsecmgr::cli::KeyAction::Migrate(a) => !a.dry_run,
        },
        _ => false,
    }
}

/// Whether the command asks isakmpd for a report (`S`, `C get`).
fn asks_isakmpd(command: &Command) -> bool {
    changes_gateway(command) || matches!(command, Command::Status(_))
}

/// Whether the command works on the gateway's tree, so cannot run without
/// its ipsec.conf (`tags FILE` of a file there and `diff --tree` read only
/// what they are given).
fn needs_ipsec_conf(command: &Command) -> bool {
    match command {
        Command::Compile(_) | Command::Lint(_) => false,
        Command::Tags(a) => !(a.target.contains('/') || std::path::Path::new(&a.target).is_file()),
        Command::Diff(a) => a.tree.is_none(),
        _ => true,
    }
}

/// The command line; a usage error (which quotes the arguments) is said
/// through ipsecmgr's own output, escaped as everything it prints is.
fn parse_args() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // the message quotes arguments: told from the same arguments
            // escaped, so that one holding a newline stays on its line
            use std::os::unix::ffi::OsStrExt;
            let shown =
                std::env::args_os().map(|a| ipsecmgr::escape::escaped_bytes(a.as_bytes(), false));
            let e = Cli::try_parse_from(shown).err().unwrap_or(e);
            let text = e.render().to_string();
            if e.use_stderr() {
                ipsecmgr::err!("{text}");
            } else {
                ipsecmgr::out!("{text}");
            }
            let _ = output::stdout_failure();
            std::process::exit(e.exit_code());
        }
    }
}

fn main() {
    let cli = parse_args();
    let root = Root(cli.root.clone());
    let settings = match Settings::load(cli.config.as_deref(), &root) {
        Ok(s) => s,
        Err(e) => {
            ipsecmgr::errln!("ipsecmgr: {}", e.0);
            std::process::exit(EXIT_USAGE);
        }
    };
    match &cli.command {
        Command::Compile(args) => {
            finish(&cli.command, commands::compile::run(args, &settings, &root))
        }
        Command::Lint(args) => finish(&cli.command, commands::lint::run(args, &settings, &root)),
        _ => {}
    }
    if asks_isakmpd(&cli.command) {
        for w in settings.test_only_warnings(&root) {
            ipsecmgr::errln!("ipsecmgr: warning: {w}");
        }
    }
    let gw = Gateway::new(settings, root, false);
    if needs_ipsec_conf(&cli.command)
        && let Err(e) = gw.check_ipsec_conf()
    {
        ipsecmgr::errln!("ipsecmgr: {e}");
        finish(&cli.command, EXIT_USAGE);
    }
    let status = match &cli.command {
        Command::Compile(_) | Command::Lint(_) => EXIT_USAGE,
        Command::Add(a) => commands::manage::add(&gw, a),
        Command::Rm(a) => commands::manage::rm(&gw, a),
        Command::Apply(a) => commands::manage::apply(&gw, a),
        Command::Down(a) => commands::manage::updown(&gw, a, true, false),
        Command::Up(a) => commands::manage::updown(&gw, a, false, true),
        Command::Restart(a) => commands::manage::updown(&gw, a, true, true),
        Command::Diff(a) => commands::diff::run(&gw, a),
        Command::Ls(a) => commands::list::ls(&gw, a),
        Command::Tags(a) => commands::list::tags(&gw, a),
        Command::Status(a) => commands::status::run(&gw, a),
        Command::Key(a) => commands::key::run(&gw, a),
    };
    finish(&cli.command, status);
}
