//! `ipsecmgr compile`: what `ipsecctl -nv -f FILE` prints.

use serde::Serialize;

use crate::cli::CompileArgs;
use crate::commands::{EXIT_CONFIG, EXIT_OK, EXIT_USAGE};
use crate::compiler::{self, Options};
use crate::diag::{self, Kind};
use crate::emit::{self, Action};
use crate::settings::Settings;
use crate::syntax::source::Sources;
use crate::system::files::Root;

/// The file to read: FILE as typed (from the current directory), or the
/// configured ipsec.conf, a gateway path, under `--root`, its links
/// followed inside the root only.
fn main_file(args: &CompileArgs, settings: &Settings, root: &Root) -> Result<String, String> {
    match &args.file {
        Some(typed) => Ok(typed.clone()),
        None => root
            .resolve(std::path::Path::new(&settings.ipsec_conf))
            .map(|p| p.to_string_lossy().into_owned())
            .map_err(|e| e.0),
    }
}

pub fn run(args: &CompileArgs, settings: &Settings, root: &Root) -> i32 {
    let file = match main_file(args, settings, root) {
        Ok(f) => f,
        Err(e) => {
            crate::errln!("ipsecmgr: compile: {e}");
            return EXIT_USAGE;
        }
    };
    let names = settings.names(false);
    let opts = Options {
        root: root.clone(),
        check_secrecy: !root.is_set(),
        names: &names,
        hostname: settings.hostname(),
        main_local: true,
        keys: settings.keys_file(root, true),
    };
    let compiled = compiler::compile_file(&file, &opts);
    if args.show_keys
        && let Some((_, f)) = compiled.parsed.sources.iter().find(|(_, f)| f.stand_in)
    {
        crate::errln!(
            "ipsecmgr: compile: -k: the keys file {} is not here, so there are no keys to show",
            crate::escape::escaped(&f.name)
        );
        return EXIT_USAGE;
    }
    let action = if args.delete {
        Action::Delete
    } else {
        Action::Add
    };
    // ipsecctl reads nothing of a main file others can read, so prints no
    // rule of it; its other errors are still reported
    let refused = compiled
        .diags
        .iter()
        .any(|d| d.kind == Kind::FileSecrecy && d.span.is_some_and(|s| s.file == 0));
    let mut listing = String::new();
    let late = emit::write_verbose_listing(&compiled, action, args.show_keys, &mut |text| {
        if refused {
            return;
        }
        if args.json {
            listing.push_str(text);
        } else {
            crate::output::stdout_bytes(text.as_bytes());
        }
    });
    let mut diags = compiled.diags.clone();
    diags.extend(late);
    diag::sort(&mut diags);
    if args.json {
        let doc = CompileDoc::new(file, &listing, &diags, &compiled.parsed.sources);
        crate::output::document(&crate::json::object(&doc));
    } else {
        for d in &diags {
            crate::err!(
                "{}",
                crate::escape::escaped_lines(&diag::render_plain(d, &compiled.parsed.sources))
            );
        }
    }
    exit_status(&diags, args.json)
}

/// What the diagnostics make of the exit status; without `--json`, a
/// configuration with errors is also said to be not loaded.
fn exit_status(diags: &[diag::Diagnostic], json: bool) -> i32 {
    if diags
        .iter()
        .any(|d| d.kind == Kind::FileUnreadable && d.span.is_some_and(|s| s.file == 0))
    {
        // the file itself could not be read: nothing was compiled
        EXIT_USAGE
    } else if diags.iter().any(diag::Diagnostic::is_error) {
        if !json {
            crate::errln!("ipsecmgr: errors in configuration: rules not loaded");
        }
        EXIT_CONFIG
    } else {
        EXIT_OK
    }
}

/// `compile --json`: the listing `ipsecctl -nv` prints, line by line, and
/// the diagnostics with where they are.
#[derive(Serialize)]
struct CompileDoc<'a> {
    file: String,
    listing: Vec<&'a str>,
    diagnostics: Vec<DiagnosticDoc>,
}

impl<'a> CompileDoc<'a> {
    fn new(file: String, listing: &'a str, diags: &[diag::Diagnostic], sources: &Sources) -> Self {
        CompileDoc {
            file,
            listing: listing.lines().collect(),
            diagnostics: diags
                .iter()
                .map(|d| DiagnosticDoc::of(d, sources))
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct DiagnosticDoc {
    code: &'static str,
    severity: &'static str,
    /// The file as messages name it; absent for a problem of no file.
    file: Option<String>,
    /// 0 when the problem is of a whole file.
    line: u32,
    message: String,
    notes: Vec<String>,
}

impl DiagnosticDoc {
    fn of(d: &diag::Diagnostic, sources: &Sources) -> Self {
        DiagnosticDoc {
            code: d.kind.code(),
            severity: if d.is_error() { "error" } else { "warning" },
            file: d.span.map(|s| sources.display_name(s.file).to_string()),
            line: d.line,
            message: d.message.clone(),
            notes: d.notes.clone(),
        }
    }
}
