//! `ipsecmgr lint`: every problem of a gateway's configuration that can be
//! found without the gateway — the compiler's errors, and checks across the
//! include tree: clashing flows, phase 1 peers set up differently, names
//! isakmpd would cut, weak crypto and keys, file modes, unused macros,
//! fragments nothing includes.

pub mod cap;
pub mod certs;
pub mod checks;
pub mod flows;
pub mod keys;
pub mod listing;
pub mod phase1_keys;
pub mod render;
pub mod sarif;
pub mod select;
pub mod shared_local;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::compiler::{self, Compiled, Options};
use crate::diag::{FileId, Kind, Severity, Span};
use crate::emit::tags;
use crate::gateway::conflicts::{phase1_differences, phase1_settings};
use crate::gateway::tree::{Fragment, Tree};
use crate::rules::model::{Rule, RuleKind};
use crate::settings::Settings;
use crate::system::files::Root;
use checks::Hit;

/// One finding, ready to print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub severity: &'static str,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub end_column: u32,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The line of source, secrets masked.
    #[serde(skip)]
    pub source: String,
    /// The other place a finding across files is about.
    #[serde(skip)]
    pub across: Across,
}

/// What else a finding is about, for allow comments: a finding about two
/// files (the same flow in both, a phase 1 peer they set up differently)
/// is silenced only where both allow it, so that a newcomer's comment
/// cannot hide a clash with a file someone else keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Across {
    /// Its own file alone.
    #[default]
    No,
    /// Its own file and this one, at this line.
    With(String, u32),
    /// Its own file and several others: no comment silences it.
    Many,
}

impl Finding {
    pub fn is_error(&self) -> bool {
        self.severity == "error"
    }

    /// A finding about a file as a whole, placed at its first line.
    fn about_file(kind: Kind, severity: &'static str, path: &Path, message: String) -> Finding {
        Finding {
            code: kind.code(),
            severity,
            file: path.display().to_string(),
            line: 1,
            column: 1,
            end_column: 1,
            message,
            help: None,
            source: String::new(),
            across: Across::No,
        }
    }
}

pub struct LintOptions<'a> {
    pub root: Root,
    pub offline: bool,
    pub settings: &'a Settings,
    /// File modes and owners (L203, L301): always on the gateway itself;
    /// under `--root` only when asked, a checkout's modes not being the
    /// gateway's.
    pub check_modes: bool,
    pub selection: select::Selection,
}

impl LintOptions<'_> {
    fn modes_checked(&self) -> bool {
        self.check_modes || !self.root.is_set()
    }
}

/// Lints each path (an ipsec.conf and its includes, or a directory of
/// `*.conf`); `Err` when a path cannot be read at all.
pub fn lint(paths: &[PathBuf], opts: &LintOptions) -> Result<Vec<Finding>, String> {
    let names = opts.settings.names(opts.offline);
    let copts = Options {
        root: opts.root.clone(),
        check_secrecy: false,
        names: &names,
        hostname: opts.settings.hostname(),
        main_local: true,
        keys: opts.settings.keys_file(&opts.root, true),
    };
    let gateway_conf = opts.root.map(&opts.settings.ipsec_conf);
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| {
            format!(
                "{}: {}",
                crate::escape::escaped_path(path),
                crate::system::files::io_reason(&e)
            )
        })?;
        if meta.is_dir() {
            lint_dir(path, &copts, opts, &mut out);
        } else {
            let is_gateway_conf = same_file(path, &gateway_conf);
            lint_tree(path, is_gateway_conf, &copts, opts, &mut out);
        }
    }
    out.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.code).cmp(&(&b.file, b.line, b.column, b.code))
    });
    out.dedup();
    // a lexical error ends the statement with a syntax error at the same
    // token; one finding says it
    let lexical: std::collections::HashSet<(String, u32, u32)> = out
        .iter()
        .filter(|f| matches!(f.code, "E011" | "E012" | "E013" | "E014"))
        .map(|f| (f.file.clone(), f.line, f.column))
        .collect();
    out.retain(|f| f.code != "E010" || !lexical.contains(&(f.file.clone(), f.line, f.column)));
    out.retain(|f| opts.selection.keeps(f.code));
    select::apply_allow_comments(&mut out)?;
    cap::apply(&mut out);
    Ok(out)
}

/// Whether two paths name one file: resolved when both exist, else compared
/// by name.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => lexical(a) == lexical(b),
    }
}

/// Rules whose statement has an error: what was made of them is not what
/// was meant, so no finding across files is derived from them (an unknown
/// transform would otherwise make a phase 1 "set up differently").
fn without_broken<'r>(rules: Vec<&'r Rule>, c: &Compiled) -> Vec<&'r Rule> {
    // by line: a file can hold many errors, and a statement many rules
    let broken: std::collections::HashSet<(FileId, u32)> = c
        .diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .filter_map(|d| d.span.map(|s| (s.file, s.line)))
        .collect();
    if broken.is_empty() {
        return rules;
    }
    rules
        .into_iter()
        .filter(|r| {
            let o = &r.origin;
            let last = o.line.max(o.span.line);
            !(o.span.line..=last).any(|line| broken.contains(&(o.span.file, line)))
        })
        .collect()
}

/// Secret byte ranges per file, for masking source lines.
fn secret_ranges(c: &Compiled) -> HashMap<FileId, Vec<(usize, usize)>> {
    c.parsed
        .sources
        .iter()
        .map(|(id, _)| {
            (
                id,
                c.redaction()
                    .ranges(id)
                    .iter()
                    .map(|r| (r.start, r.end))
                    .collect(),
            )
        })
        .collect()
}

/// Turns a diagnostic-like hit into a finding, with its masked source line.
/// What it masks with is found at the first finding: a clean tree needs
/// none of it.
struct Maker<'c> {
    c: &'c Compiled,
    secrets: std::cell::OnceCell<HashMap<FileId, Vec<(usize, usize)>>>,
    words: std::cell::OnceCell<crate::syntax::secrets::SecretWords>,
}

impl<'c> Maker<'c> {
    fn new(c: &'c Compiled) -> Self {
        Maker {
            c,
            secrets: std::cell::OnceCell::new(),
            words: std::cell::OnceCell::new(),
        }
    }

    fn secrets(&self) -> &HashMap<FileId, Vec<(usize, usize)>> {
        self.secrets.get_or_init(|| secret_ranges(self.c))
    }

    fn words(&self) -> &crate::syntax::secrets::SecretWords {
        self.words
            .get_or_init(|| self.c.redaction().words(&self.c.parsed))
    }

    fn file_name(&self, file: FileId) -> String {
        let f = self.c.parsed.sources.get(file);
        match &f.path {
            Some(p) => p.display().to_string(),
            None => f.name.clone(),
        }
    }

    fn make(
        &self,
        span: Span,
        kind: Kind,
        severity: Severity,
        message: String,
        help: Option<String>,
        line: u32,
    ) -> Finding {
        let sources = &self.c.parsed.sources;
        let (source, start_col, end_col) = if span.line > 0 && span.line == line {
            let line_bytes = sources.line_text(span);
            let line_start = span.start as usize + 1 - span.col as usize;
            let mut masked = line_bytes.to_vec();
            let ranges = self
                .secrets()
                .get(&span.file)
                .map(Vec::as_slice)
                .unwrap_or_default();
            // sorted and apart: only those ending past the line's start
            let line_end = line_start + masked.len();
            let first = ranges.partition_point(|&(_, e)| e <= line_start);
            for &(s, e) in ranges[first..].iter().take_while(|&&(s, _)| s < line_end) {
                for (i, b) in masked.iter_mut().enumerate() {
                    let pos = line_start + i;
                    if pos >= s && pos < e && *b != b'"' {
                        *b = b'*';
                    }
                }
            }
            mask_after_keywords(&mut masked);
            let width = (span.end.saturating_sub(span.start) as usize).max(1);
            let end = (span.col as usize + width)
                .min(masked.len() + 1)
                .max(span.col as usize + 1);
            (
                String::from_utf8_lossy(&masked).into_owned(),
                span.col,
                end as u32,
            )
        } else {
            (String::new(), 1, 1)
        };
        let (message, help) = (
            self.words().message(&message),
            help.map(|h| self.words().message(&h)),
        );
        Finding {
            code: kind.code(),
            severity: match severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            file: self.file_name(span.file),
            line: line.max(1),
            column: start_col.max(1),
            end_column: end_col.max(1),
            message,
            help,
            source,
            across: Across::No,
        }
    }

    fn hit(&self, h: Hit) -> Finding {
        self.make(h.span, h.kind, h.severity, h.message, h.help, h.span.line)
    }

    fn diagnostics(&self, out: &mut Vec<Finding>) {
        for d in &self.c.diags {
            let Some(span) = d.span else { continue };
            let help = d.notes.first().cloned();
            let mut f = self.make(span, d.kind, d.severity, d.message.clone(), help, d.line);
            if d.kind == Kind::DefaultPeerMismatch {
                f.help =
                    Some("isakmpd has one default peer: give these rules the same settings".into());
            }
            out.push(f);
        }
    }
}

/// Masks the word after `psk`, `authkey` and `enckey` (not `file`) in a
/// line of source, for statements that did not parse (so their secret
/// tokens are not known).
fn mask_after_keywords(line: &mut [u8]) {
    let mut i = 0;
    while i < line.len() {
        let word_start = i == 0 || !(line[i - 1].is_ascii_alphanumeric() || line[i - 1] == b'_');
        let hit = ["psk", "authkey", "enckey"].iter().find(|k| {
            line[i..].starts_with(k.as_bytes())
                && line
                    .get(i + k.len())
                    .is_some_and(|&c| c == b' ' || c == b'\t')
        });
        let Some(k) = hit.filter(|_| word_start) else {
            i += 1;
            continue;
        };
        let mut j = i + k.len();
        while j < line.len() && (line[j] == b' ' || line[j] == b'\t') {
            j += 1;
        }
        if line[j..].starts_with(b"file") {
            i = j;
            continue;
        }
        let quote = line.get(j).copied().filter(|&c| c == b'"' || c == b'\'');
        let start = j + usize::from(quote.is_some());
        let mut end = start;
        while end < line.len() {
            let c = line[end];
            if quote.map_or(c == b' ' || c == b'\t', |q| c == q) {
                break;
            }
            end += 1;
        }
        for b in &mut line[start..end] {
            *b = b'*';
        }
        i = end;
    }
}

fn severity_for(live: bool) -> Severity {
    if live {
        Severity::Error
    } else {
        Severity::Warning
    }
}

/// Mode and owner of every file read; secrets must not be readable by others.
fn file_modes(c: &Compiled, maker: &Maker, live: bool, out: &mut Vec<Finding>) {
    let me = nix::unistd::getuid().as_raw();
    for (id, f) in c.parsed.sources.iter() {
        let (Some(uid), Some(mode)) = (f.uid, f.mode) else {
            continue;
        };
        let problem = if uid != 0 && uid != me {
            Some("owned by neither root nor the user running ipsecmgr")
        } else if mode & 0o037 != 0 {
            Some("group writable, or readable by others")
        } else {
            None
        };
        if let Some(why) = problem {
            let span = Span {
                file: id,
                line: 0,
                ..Span::default()
            };
            let mut finding = maker.make(
                span,
                Kind::FilePermissions,
                severity_for(live),
                format!("{why} (mode {:04o}); it may hold keys", mode & 0o7777),
                Some("chown root and chmod 600".into()),
                1,
            );
            finding.line = 1;
            out.push(finding);
        }
    }
}

/// A pre-shared key written in a file that others can read.
fn literal_psks(c: &Compiled, maker: &Maker, live: bool, out: &mut Vec<Finding>) {
    for tok in c.secrets.iter().filter(|t| t.psk && t.macro_use.is_none()) {
        let Some(mode) = c.parsed.sources.get(tok.span.file).mode else {
            continue;
        };
        if mode & 0o044 != 0 {
            let who = if mode & 0o004 != 0 {
                "others"
            } else {
                "its group"
            };
            out.push(maker.make(
                tok.span,
                Kind::LiteralPsk,
                severity_for(live),
                format!(
                    "pre-shared key written in a file readable by {who} (mode {:04o})",
                    mode & 0o7777
                ),
                Some("chmod 600 the file".into()),
                tok.span.line,
            ));
        }
    }
}

/// A phase 1 peer: the peer's and the local address, as written.
type Phase1Key<'a> = (Option<&'a str>, Option<&'a str>);

/// Checks across files: clashing flows, phase 1 peers set up differently.
/// `makers[u]` renders findings about unit `u`'s rules.
fn across(units: &[Vec<&Rule>], unit_names: &[String], makers: &[&Maker], out: &mut Vec<Finding>) {
    let clashes = flows::clashes(units);
    for clash in &clashes.found {
        let other = format!(
            "{}:{}",
            unit_names[clash.other_unit], clash.other.origin.line
        );
        let (kind, severity, message, help) = if clash.identical {
            (
                Kind::DuplicateFlow,
                Severity::Error,
                duplicate_message(clash, &other),
                "keep each flow in one file",
            )
        } else {
            (
                Kind::OverlappingFlows,
                Severity::Warning,
                overlap_message(clash, &other),
                "make the networks disjoint",
            )
        };
        let m = makers[clash.unit];
        let mut f = m.make(
            clash.rule.origin.span,
            kind,
            severity,
            message,
            Some(help.into()),
            clash.rule.origin.span.line,
        );
        f.across = Across::With(
            unit_names[clash.other_unit].clone(),
            clash.other.origin.line,
        );
        out.push(f);
    }
    for more in &clashes.more {
        let (kind, severity, what) = if more.identical {
            (
                Kind::DuplicateFlow,
                Severity::Error,
                "clashes with (some the same flow)",
            )
        } else {
            (Kind::OverlappingFlows, Severity::Warning, "overlaps")
        };
        let mut f = makers[more.unit].make(
            more.rule.origin.span,
            kind,
            severity,
            format!(
                "this rule also {what} flows of more statements of other files, {} flow pairs in all; only the first {} statements are named",
                more.pairs,
                flows::STATEMENTS_PER_STATEMENT
            ),
            Some("keep each flow in one file, and the networks of files disjoint".into()),
            more.rule.origin.span.line,
        );
        f.across = Across::Many;
        out.push(f);
    }
    for &(unit, rule) in &clashes.cut {
        out.push(makers[unit].make(
            rule.origin.span,
            Kind::OverlappingFlows,
            Severity::Warning,
            format!(
                "a flow of this rule overlaps more than {} others; only that many were compared, so a clash with another file may be missing",
                flows::PARTNERS_PER_FLOW
            ),
            Some("make the networks of files disjoint".into()),
            rule.origin.span.line,
        ));
    }
    phase1_keys::check(units, unit_names, makers, out);
    keys::shared_psks(units, unit_names, makers, out);
    shared_local::check(units, unit_names, makers, out);
    // keyed by what names the phase 1 tag (peer and local address), so no
    // tag is written out unless it is reported
    let mut first: rustc_hash::FxHashMap<Phase1Key, (usize, &Rule)> = Default::default();
    for (u, rules) in units.iter().enumerate() {
        for rule in rules {
            let RuleKind::Ike(ike) = &rule.kind else {
                continue;
            };
            let peer = ike.peer.as_ref().map(|p| &*p.name);
            let local = peer.and(ike.local.as_ref().map(|l| &*l.name));
            match first.get(&(peer, local)) {
                None => {
                    first.insert((peer, local), (u, rule));
                }
                Some(&(ou, other)) if ou != u => {
                    let RuleKind::Ike(o) = &other.kind else {
                        continue;
                    };
                    let tag = tags::phase1(ike);
                    let diff = phase1_differences(&phase1_settings(ike), &phase1_settings(o));
                    if diff.is_empty() {
                        continue;
                    }
                    let mut f = makers[u].make(
                        rule.origin.span,
                        Kind::Phase1Conflict,
                        Severity::Error,
                        format!(
                            "phase 1 {tag} is set up differently in {}:{} ({}); isakmpd keeps only the last",
                            unit_names[ou],
                            other.origin.line,
                            diff.join(", ")
                        ),
                        Some("give every rule with this peer the same phase 1 settings".into()),
                        rule.origin.span.line,
                    );
                    f.across = Across::With(unit_names[ou].clone(), other.origin.line);
                    out.push(f);
                }
                Some(_) => {}
            }
        }
    }
}

/// L102: the same flow in two files; counted when the statements' lists
/// make several.
fn duplicate_message(clash: &flows::Clash, other: &str) -> String {
    let sel = clash.selector.describe();
    match clash.pairs {
        1 => format!("flow {sel} is also in {other}"),
        n => format!("{n} flows of this rule are also in {other}, such as flow {sel}"),
    }
}

/// L103: flows that overlap ones of another file.
fn overlap_message(clash: &flows::Clash, other: &str) -> String {
    let sel = clash.selector.describe();
    let peer = if clash.peers_differ {
        " with another peer"
    } else {
        ""
    };
    match clash.pairs {
        1 => {
            format!("flow {sel} overlaps one in {other}{peer}; which applies depends on load order")
        }
        n => format!(
            "{n} flows of this rule overlap ones in {other}{peer} (counted by pair), \
             such as flow {sel}; which applies depends on load order"
        ),
    }
}

fn rule_hits(rules: &[&Rule], c: &Compiled, maker: &Maker, out: &mut Vec<Finding>) {
    let mut hits = Vec::new();
    for r in rules {
        checks::rule_checks(r, &mut hits);
        checks::field_checks(r, &mut hits);
    }
    checks::unused_macros(c, &mut hits);
    out.extend(hits.into_iter().map(|h| maker.hit(h)));
}

fn lint_tree(
    path: &Path,
    is_gateway_conf: bool,
    copts: &Options,
    opts: &LintOptions,
    out: &mut Vec<Finding>,
) {
    let tree = lint_tree_checks(path, is_gateway_conf, copts, opts, out);
    // a whole tree of small allocations: the process ends soon, and the
    // kernel takes the memory back faster than freeing it piece by piece
    std::mem::forget(tree);
}

fn lint_tree_checks(
    path: &Path,
    is_gateway_conf: bool,
    copts: &Options,
    opts: &LintOptions,
    out: &mut Vec<Finding>,
) -> Tree {
    let live = !opts.root.is_set();
    let compiled = compiler::compile_file(&path.display().to_string(), copts);
    let tree = Tree::from_compiled(compiled);
    let c = &tree.compiled;
    let maker = Maker::new(c);
    maker.diagnostics(out);
    let mut units: Vec<Vec<&Rule>> = vec![without_broken(
        tree.main_rules.iter().map(|&i| &c.rules[i]).collect(),
        c,
    )];
    let mut names = vec![maker.file_name(0)];
    for f in &tree.fragments {
        units.push(without_broken(tree.rules_of(f).collect(), c));
        names.push(maker.file_name(f.file));
    }
    let makers = vec![&maker; units.len()];
    across(&units, &names, &makers, out);
    let all: Vec<&Rule> = c.rules.iter().collect();
    rule_hits(&all, c, &maker, out);
    if opts.modes_checked() {
        file_modes(c, &maker, live, out);
        literal_psks(c, &maker, live, out);
    }
    fragment_checks(&tree, &maker, is_gateway_conf, copts, opts, out);
    let keys_lint = keys::KeysLint {
        settings: opts.settings,
        modes: opts.modes_checked(),
        live,
        is_gateway_conf,
    };
    keys::check(&tree, &maker, &keys_lint, out);
    let cert_lint = certs::CertLint {
        settings: opts.settings,
        root: &opts.root,
        modes: opts.modes_checked(),
    };
    certs::check(&all, &maker, &cert_lint, out);
    drop(maker);
    tree
}

/// Includes outside the fragment directory, fragments nothing includes,
/// fragments `ipsecctl -f` could not load alone.
fn fragment_checks(
    tree: &Tree,
    maker: &Maker,
    is_gateway_conf: bool,
    copts: &Options,
    opts: &LintOptions,
    out: &mut Vec<Finding>,
) {
    let dir = opts.settings.fragment_dir.trim_end_matches('/').to_string();
    let sources = &tree.compiled.parsed.sources;
    for f in &tree.fragments {
        let Some(span) = sources.get(f.file).included_from else {
            continue;
        };
        if !f.gateway_path.starts_with(&format!("{dir}/")) {
            out.push(
                maker.make(
                    span,
                    Kind::IncludeOutside,
                    Severity::Warning,
                    format!("{} is outside the fragment directory {dir}", f.gateway_path),
                    Some(
                        "keep tunnel files in the fragment directory, where ipsecmgr manages them"
                            .into(),
                    ),
                    span.line,
                ),
            );
        }
    }
    for i in fragments_needing_macros(tree) {
        fragment_alone(&tree.fragments[i], copts, opts.settings, out);
    }
    // only the gateway's ipsec.conf is meant to include every fragment: a
    // new tunnel file linted alone includes none of the others
    if is_gateway_conf {
        orphan_fragments(tree, maker, opts, out);
    }
}

/// Fragments in the fragment directory that nothing includes.
fn orphan_fragments(tree: &Tree, maker: &Maker, opts: &LintOptions, out: &mut Vec<Finding>) {
    let dir = opts.settings.fragment_dir.trim_end_matches('/').to_string();
    let sources = &tree.compiled.parsed.sources;
    // compared as written first: resolving every path through the file
    // system would cost more than reading the files
    // an include that failed (of a FIFO, a broken link) still names its
    // file: that one is reported at the include, not as an orphan
    let included: std::collections::HashSet<PathBuf> = sources
        .iter()
        .filter_map(|(_, f)| f.path.as_deref())
        .chain(
            tree.compiled
                .parsed
                .failed_includes
                .iter()
                .map(PathBuf::as_path),
        )
        .map(lexical)
        .collect();
    let mut canonical_included = None;
    let actual_dir = opts.root.map(&dir);
    let listing = listing::conf_entries(&actual_dir, 1);
    report_unreadable(&listing, out);
    let mut orphans: Vec<PathBuf> = listing
        .entries
        .into_iter()
        .filter(|p| !included.contains(&lexical(p)))
        .collect();
    // a file reached through a symbolic link or `..` is only known after
    // resolving both sides; one that does not resolve (a link loop, a
    // dangling link) cannot be what an include reads
    if !orphans.is_empty() {
        let canonical = canonical_included.get_or_insert_with(|| {
            sources
                .iter()
                .filter_map(|(_, f)| f.path.as_ref().and_then(|p| std::fs::canonicalize(p).ok()))
                .collect::<std::collections::HashSet<PathBuf>>()
        });
        orphans.retain(|p| std::fs::canonicalize(p).map_or(true, |c| !canonical.contains(&c)));
    }
    for p in orphans {
        let mut message = format!("not included by {}", maker.file_name(0));
        if let Some(why) = listing::not_a_file(&p) {
            message.push_str(&format!(", and it cannot be: {why}"));
        }
        let mut f = Finding::about_file(Kind::OrphanFragment, "warning", &p, message);
        f.help = Some("include it, or move it out of the fragment directory".into());
        out.push(f);
    }
}

/// Entries a directory walk could not read are errors, not gaps.
fn report_unreadable(listing: &listing::Listing, out: &mut Vec<Finding>) {
    for (path, why) in &listing.unreadable {
        out.push(Finding::about_file(
            Kind::FileUnreadable,
            "error",
            path,
            format!("cannot read: {why}"),
        ));
    }
}

/// A path with `.` components and repeated separators taken out, without
/// asking the file system.
fn lexical(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// Fragments that use a macro defined outside them: loaded alone, as
/// `ipsecctl -f` loads them, they fail. Only these are compiled again
/// alone, for the exact errors (after one, error recovery may swallow a
/// later definition).
fn fragments_needing_macros(tree: &Tree) -> Vec<usize> {
    let parsed = &tree.compiled.parsed;
    let sources = &parsed.sources;
    let fragment_of_file: HashMap<FileId, usize> = tree
        .fragments
        .iter()
        .enumerate()
        .map(|(i, f)| (f.file, i))
        .collect();
    // the fragment a file belongs to: itself, or the fragment including it
    let owner = |mut file: FileId| loop {
        if let Some(&i) = fragment_of_file.get(&file) {
            return Some(i);
        }
        file = sources.get(file).included_from?.file;
    };
    let mut needing: Vec<usize> = parsed
        .macros
        .cross_file_uses()
        .iter()
        .filter_map(|u| {
            let frag = owner(u.at.file)?;
            let def = parsed.macros.get(u.id);
            // ipsecmgr hands the keys file to every `ipsecctl -f` of a
            // fragment (see manager::exec)
            if sources.get(def.span.file).keys {
                return None;
            }
            (owner(def.span.file) != Some(frag)).then_some(frag)
        })
        .collect();
    needing.sort_unstable();
    needing.dedup();
    needing
}

fn fragment_alone(f: &Fragment, copts: &Options, settings: &Settings, out: &mut Vec<Finding>) {
    let alone = compiler::compile_file(&f.actual.display().to_string(), copts);
    let alone_maker = Maker::new(&alone);
    // the declared keys come with the keys file, which ipsecmgr hands to
    // every `ipsecctl -f` of a fragment
    let is_key = |message: &str| {
        settings.keys.as_ref().is_some_and(|k| {
            k.names
                .iter()
                .any(|n| message == format!("macro '{n}' not defined"))
        })
    };
    for d in alone
        .diags
        .iter()
        .filter(|d| d.kind == Kind::MacroUndefined && !is_key(&d.message))
    {
        let Some(span) = d.span else { continue };
        out.push(alone_maker.make(
            span,
            Kind::FragmentNeedsMacro,
            Severity::Error,
            format!(
                "{} alone: {}; `ipsecctl -f` loads the file alone",
                f.gateway_path, d.message
            ),
            Some("define the macro in this file too".into()),
            d.line,
        ));
    }
}

fn lint_dir(dir: &Path, copts: &Options, opts: &LintOptions, out: &mut Vec<Finding>) {
    let live = !opts.root.is_set();
    // every entry that is not a directory is compiled, so that a FIFO or
    // a broken link gets the compiler's own message
    let listing = listing::conf_entries(dir, usize::MAX);
    report_unreadable(&listing, out);
    let mut files = listing.entries;
    // under --root, a link leading out of the root is not followed: what
    // a checkout links to is not the checkout's to show
    if let Some(root) = &opts.root.0 {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
        files.retain(|p| match std::fs::canonicalize(p) {
            Ok(target) if !target.starts_with(&root) => {
                out.push(Finding::about_file(
                    Kind::FileUnreadable,
                    "error",
                    p,
                    format!(
                        "a link leading out of the root directory {}; not read",
                        crate::escape::escaped_path(&root)
                    ),
                ));
                false
            }
            _ => true,
        });
    }
    let compiled: Vec<Compiled> = files
        .iter()
        .map(|p| compiler::compile_file(&p.display().to_string(), copts))
        .collect();
    let makers: Vec<Maker> = compiled.iter().map(Maker::new).collect();
    for (c, m) in compiled.iter().zip(&makers) {
        m.diagnostics(out);
        let rules: Vec<&Rule> = c.rules.iter().collect();
        rule_hits(&rules, c, m, out);
        let cert_lint = certs::CertLint {
            settings: opts.settings,
            root: &opts.root,
            modes: opts.modes_checked(),
        };
        certs::check(&rules, m, &cert_lint, out);
        if opts.modes_checked() {
            file_modes(c, m, live, out);
            literal_psks(c, m, live, out);
        }
    }
    let units: Vec<Vec<&Rule>> = compiled
        .iter()
        .map(|c| without_broken(c.rules.iter().collect(), c))
        .collect();
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let by_unit: Vec<&Maker> = makers.iter().collect();
    across(&units, &names, &by_unit, out);
}

#[cfg(test)]
mod tests {
    use super::mask_after_keywords;

    #[test]
    fn masks_keys_in_any_line() {
        let mut l = b"ike esp from a to $b psk \"se cret\" tag x".to_vec();
        mask_after_keywords(&mut l);
        assert_eq!(l, b"ike esp from a to $b psk \"*******\" tag x");
        let mut l = b"esp spi 1 authkey 0xabcd enckey file \"k\"".to_vec();
        mask_after_keywords(&mut l);
        assert_eq!(l, b"esp spi 1 authkey ****** enckey file \"k\"");
    }
}
