//! `ipsecmgr lint`: findings in text, JSON or GitHub format; exit 1 when
//! there are errors (or warnings, with --deny-warnings), 2 when it could
//! not run.

use crate::cli::{Format, LintArgs};
use crate::commands::{EXIT_CONFIG, EXIT_OK, EXIT_USAGE};
use crate::lint::select::Selection;
use crate::lint::{self, LintOptions, render};
use crate::settings::Settings;
use crate::system::files::Root;

pub fn run(args: &LintArgs, settings: &Settings, root: &Root) -> i32 {
    if let Some(dir) = &root.0
        && !dir.is_dir()
    {
        crate::errln!(
            "ipsecmgr: lint: {}: not a readable directory",
            crate::escape::escaped_path(dir)
        );
        return EXIT_USAGE;
    }
    let paths = if args.paths.is_empty() {
        // a gateway path: its links are followed inside the root only
        match root.resolve(std::path::Path::new(&settings.ipsec_conf)) {
            Ok(p) => vec![p],
            Err(e) => {
                crate::errln!("ipsecmgr: lint: {}", e.0);
                return EXIT_USAGE;
            }
        }
    } else {
        args.paths.clone()
    };
    let selection = match Selection::new(&settings.lint, &args.select, &args.ignore) {
        Ok(s) => s,
        Err(e) => {
            crate::errln!("ipsecmgr: lint: {}", crate::escape::escaped_lines(&e));
            return EXIT_USAGE;
        }
    };
    let opts = LintOptions {
        root: root.clone(),
        offline: args.offline,
        settings,
        check_modes: args.check_modes,
        selection,
    };
    let findings = match lint::lint(&paths, &opts) {
        Ok(f) => f,
        Err(e) => {
            crate::errln!("ipsecmgr: lint: {e}");
            return EXIT_USAGE;
        }
    };
    // file names and snippets come from the files linted: the text is
    // escaped as it is printed, the machine formats by their own rules
    match args.format {
        Format::Text => crate::out!("{}", render::text(&findings)),
        Format::Json => crate::output::document(&crate::json::list("findings", &findings)),
        Format::Github => crate::output::document(&render::github(&findings)),
        Format::Sarif => crate::output::document(&lint::sarif::sarif(&findings)),
    }
    let errors = findings.iter().any(|f| f.is_error());
    if errors || (args.deny_warnings && !findings.is_empty()) {
        EXIT_CONFIG
    } else {
        EXIT_OK
    }
}
