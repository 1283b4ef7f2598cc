//! The stages run one after the other: load and parse, resolve, and gather
//! the diagnostics in the order ipsecctl reports them.

use std::cell::OnceCell;

use crate::diag::{self, Diagnostic};
use crate::rules::model::Rule;
use crate::rules::resolve::{ResolveOptions, Resolver};
use crate::syntax::load::{self, KeysFile, LoadOptions, Parsed, Statement};
use crate::syntax::recovery;
use crate::syntax::secrets::{Redaction, SecretToken, secret_spans};
use crate::system::files::Root;
use crate::system::names::Names;

pub struct Options<'a> {
    pub root: Root,
    /// Refuse a main file others can read (not under `--root`, where the
    /// checkout's modes are not the gateway's).
    pub check_secrecy: bool,
    pub names: &'a Names,
    pub hostname: String,
    /// The file given is a path on this machine, not under the root.
    pub main_local: bool,
    /// Stand-ins for the declared keys when the keys file is absent (only
    /// for `lint` and `compile` of a checkout: nothing is loaded from it).
    pub keys: Option<KeysFile>,
}

/// A configuration read and resolved.  The statements' tokens and trees
/// are gone once the rules are made; what later stages need of them (where
/// the secrets are) is kept.
pub struct Compiled {
    pub parsed: Parsed,
    pub secrets: Vec<SecretToken>,
    /// Where the secrets are, by what parsed and what the text could mean:
    /// found when first asked for (it scans every file's text again, which
    /// a clean tree's lint never needs).
    redaction: OnceCell<Redaction>,
    pub rules: Vec<Rule>,
    /// Every problem, in the order ipsecctl would report them.
    pub diags: Vec<Diagnostic>,
}

impl Compiled {
    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }

    /// Each error, rendered as ipsecctl prints it (`FILE: LINE: message`).
    pub fn rendered_errors(&self) -> impl Iterator<Item = String> + '_ {
        self.diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| diag::render_plain(d, &self.parsed.sources))
    }

    /// Where the secrets are, by what parsed and what the text could mean.
    pub fn redaction(&self) -> &Redaction {
        self.redaction
            .get_or_init(|| Redaction::new(&self.parsed, &self.secrets))
    }
}

/// Compiles the file `name` (`-`: standard input) and what it includes.
pub fn compile_file(name: &str, opts: &Options) -> Compiled {
    let load_opts = LoadOptions {
        root: opts.root.clone(),
        check_secrecy: opts.check_secrecy,
        main_local: opts.main_local,
        keys: opts.keys.clone(),
    };
    compile(opts, |sink| load::load_with(name, &load_opts, sink))
}

/// Compiles configuration text held in memory.
pub fn compile_text(name: &str, text: Vec<u8>, opts: &Options) -> Compiled {
    let load_opts = LoadOptions {
        root: opts.root.clone(),
        check_secrecy: false,
        main_local: false,
        keys: opts.keys.clone(),
    };
    compile(opts, |sink| {
        load::load_text_with(name, text, &load_opts, sink)
    })
}

/// Loads with `load`, resolving each statement as it comes: a statement's
/// tokens and tree are dropped once its rules are made.
fn compile(
    opts: &Options,
    load: impl FnOnce(&mut dyn FnMut(&mut Statement)) -> Parsed,
) -> Compiled {
    let resolve_opts = ResolveOptions {
        names: opts.names,
        root: &opts.root,
        hostname: opts.hostname.clone(),
    };
    let mut resolver = Resolver::new(&resolve_opts);
    let mut secrets = Vec::new();
    let mut parsed = load(&mut |st: &mut Statement| {
        secrets.extend(secret_spans(std::slice::from_ref(st)));
        resolver.statement(st);
    });
    let resolved = resolver.finish();
    secrets.append(&mut parsed.unparsed_secrets);
    for &seq in &resolved.aborted {
        parsed.outcomes[seq as usize].aborted = true;
    }
    let mut diags = std::mem::take(&mut parsed.diags);
    diags.extend(recovery::syntax_errors(&parsed.outcomes));
    diags.extend(resolved.diags);
    diag::sort(&mut diags);
    let mut compiled = Compiled {
        parsed,
        secrets,
        redaction: OnceCell::new(),
        rules: resolved.rules,
        diags: Vec::new(),
    };
    if !diags.is_empty() {
        let words = compiled.redaction().words(&compiled.parsed);
        for d in &mut diags {
            d.redact(&|text| words.message(text));
        }
    }
    compiled.diags = diags;
    compiled
}
