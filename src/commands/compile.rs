//! `ipsecmgr compile`: what `ipsecctl -nv -f FILE` prints.

use crate::cli::CompileArgs;
use crate::commands::{EXIT_CONFIG, EXIT_OK};
use crate::compiler::{self, Options};
use crate::diag;
use crate::emit::{self, Action};
use crate::settings::Settings;
use crate::system::files::Root;

pub fn run(args: &CompileArgs, settings: &Settings, root: &Root) -> i32 {
    let names = settings.names(false);
    let opts = Options {
        root: root.clone(),
        check_secrecy: !root.is_set(),
        names: &names,
        hostname: settings.hostname(),
        main_local: false,
    };
    let compiled = compiler::compile_file(&args.file, &opts);
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
    if diags.iter().any(diag::Diagnostic::is_error) {
        crate::errln!("ipsecmgr: errors in configuration: rules not loaded");
        EXIT_CONFIG
    } else {
        EXIT_OK
    }
}
