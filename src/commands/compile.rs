//! `ipsecmgr compile`: what `ipsecctl -nv -f FILE` prints.

use crate::cli::CompileArgs;
use crate::commands::{EXIT_CONFIG, EXIT_OK, EXIT_USAGE};
use crate::compiler::{self, Options};
use crate::diag::{self, Kind};
use crate::emit::{self, Action};
use crate::settings::Settings;
use crate::system::files::Root;

/// The file to read: FILE as typed (from the current directory), or the
/// configured ipsec.conf, a gateway path, under `--root`.
fn main_file(args: &CompileArgs, settings: &Settings, root: &Root) -> String {
    match &args.file {
        Some(typed) => typed.clone(),
        None => root
            .map(&settings.ipsec_conf)
            .to_string_lossy()
            .into_owned(),
    }
}

pub fn run(args: &CompileArgs, settings: &Settings, root: &Root) -> i32 {
    let names = settings.names(false);
    let opts = Options {
        root: root.clone(),
        check_secrecy: !root.is_set(),
        names: &names,
        hostname: settings.hostname(),
        main_local: true,
    };
    let compiled = compiler::compile_file(&main_file(args, settings, root), &opts);
    let action = if args.delete {
        Action::Delete
    } else {
        Action::Add
    };
    let late = emit::write_verbose_listing(&compiled, action, args.show_keys, &mut |text| {
        crate::output::stdout_bytes(text.as_bytes());
    });
    let mut diags = compiled.diags.clone();
    diags.extend(late);
    diag::sort(&mut diags);
    for d in &diags {
        crate::err!(
            "{}",
            crate::escape::escaped_lines(&diag::render_plain(d, &compiled.parsed.sources))
        );
    }
    if diags
        .iter()
        .any(|d| d.kind == Kind::FileUnreadable && d.span.is_some_and(|s| s.file == 0))
    {
        // the file itself could not be read: nothing was compiled
        EXIT_USAGE
    } else if diags.iter().any(diag::Diagnostic::is_error) {
        crate::errln!("ipsecmgr: errors in configuration: rules not loaded");
        EXIT_CONFIG
    } else {
        EXIT_OK
    }
}
