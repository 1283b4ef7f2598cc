//! The keys layout (`[keys]` in the settings): pre-shared keys as macros
//! of one file that ipsec.conf includes first, fragments writing
//! `psk $acme_psk`, the repository holding the names of the keys alone.
//!
//! In a checkout the keys file is absent and its declared names stand in
//! (see [`crate::syntax::load::KeysFile`]): lint checks that every key is
//! written with a declared macro (L204) and that every declared key is
//! used (L206).  Where the keys file is there (on the gateway, or a copy
//! of it under `--root`), it checks the file itself (L205): included
//! first by ipsec.conf, macros alone, each declared, every declared key
//! defined, readable by root alone; and each key's length (L202).  No
//! value is ever printed: a finding names the macro.

use std::collections::{HashMap, HashSet};

use super::checks::{MIN_PSK, short_psk};
use super::{Across, Finding, Maker};
use crate::compiler::Compiled;
use crate::diag::{FileId, Kind, Severity, Span};
use crate::gateway::tree::Tree;
use crate::rules::model::{IkeAuth, Rule, RuleKind};
use crate::settings::{KeysSettings, Settings};

/// What the keys checks need to know of the run.
pub(super) struct KeysLint<'a> {
    pub settings: &'a Settings,
    /// File modes and owners are checked (see `LintOptions`).
    pub modes: bool,
    /// On the gateway itself: mode problems are errors.
    pub live: bool,
    /// The file linted is the gateway's ipsec.conf: it must include the
    /// keys file.
    pub is_gateway_conf: bool,
}

/// The keys file as read, if ipsec.conf (or a file it includes) includes it.
fn keys_file(c: &Compiled) -> Option<FileId> {
    c.parsed
        .sources
        .iter()
        .find(|(_, f)| f.keys)
        .map(|(id, _)| id)
}

/// A span at the first line of `file`, for a finding about a file as a whole.
fn file_start(file: FileId) -> Span {
    Span {
        file,
        line: 1,
        col: 1,
        ..Span::default()
    }
}

/// Every check of the keys layout on one tree.
pub(super) fn check(tree: &Tree, maker: &Maker, k: &KeysLint, out: &mut Vec<Finding>) {
    let Some(keys) = &k.settings.keys else {
        return;
    };
    let c = &tree.compiled;
    let file = keys_file(c);
    keys_in_repository(c, maker, keys, out);
    unused_keys(c, maker, keys, file, k, out);
    match file {
        None if k.is_gateway_conf => out.push(maker.make(
            file_start(0),
            Kind::KeysFileProblem,
            Severity::Error,
            format!(
                "the settings declare the keys file {}, which this file does not include",
                crate::escape::escaped(&keys.file)
            ),
            Some(format!(
                "add `include \"{}\"` before the first fragment's include",
                crate::escape::escaped(&keys.file)
            )),
            1,
        )),
        None => {}
        Some(id) => {
            included_first(tree, id, maker, keys, out);
            if !c.parsed.sources.get(id).stand_in {
                keys_file_itself(c, id, maker, keys, k, out);
            }
        }
    }
}

/// L204: a key written in the repository: inline, or with a macro that is
/// not the keys file's.
fn keys_in_repository(c: &Compiled, maker: &Maker, keys: &KeysSettings, out: &mut Vec<Finding>) {
    for rule in &c.rules {
        let RuleKind::Ike(ike) = &rule.kind else {
            continue;
        };
        let IkeAuth::Psk(psk) = &ike.auth else {
            continue;
        };
        if psk.1.as_ref().is_some_and(|m| m.keys) {
            continue;
        }
        if c.parsed.sources.get(rule.origin.file).keys {
            continue;
        }
        let how = match &psk.1 {
            Some(m) => format!("with macro {}, defined outside the keys file", m.name),
            None => "inline".to_string(),
        };
        out.push(maker.make(
            rule.origin.span,
            Kind::KeyInRepository,
            Severity::Error,
            format!(
                "pre-shared key written {how}; with [keys] set, keys live in {} alone",
                crate::escape::escaped(&keys.file)
            ),
            Some(
                "`ipsecmgr key migrate` moves it into the keys file and writes `psk $NAME` here"
                    .into(),
            ),
            rule.origin.span.line,
        ));
    }
}

/// The names of the keys file's macros that ike rules use.
fn used_keys(c: &Compiled) -> HashSet<&str> {
    c.rules
        .iter()
        .filter_map(|r| match &r.kind {
            RuleKind::Ike(ike) => match &ike.auth {
                IkeAuth::Psk(p) => p.1.as_ref().filter(|m| m.keys).map(|m| &*m.name),
                IkeAuth::Rsa => None,
            },
            _ => None,
        })
        .collect()
}

/// L206: a declared key no rule uses.  Only for the gateway's ipsec.conf,
/// the one file that includes every fragment.
fn unused_keys(
    c: &Compiled,
    maker: &Maker,
    keys: &KeysSettings,
    file: Option<FileId>,
    k: &KeysLint,
    out: &mut Vec<Finding>,
) {
    if !k.is_gateway_conf {
        return;
    }
    let used = used_keys(c);
    for name in keys.names.iter().filter(|n| !used.contains(n.as_str())) {
        let def = file.and_then(|id| {
            c.parsed
                .macros
                .iter()
                .find(|(_, d)| d.span.file == id && d.name == *name)
        });
        let message = format!("declared key {name} is used by no rule");
        let help = Some("remove it from [keys] names (and from the keys file)".to_string());
        match def {
            Some((_, d)) if !c.parsed.sources.get(d.span.file).stand_in => out.push(maker.make(
                d.span,
                Kind::KeyUnused,
                Severity::Warning,
                message,
                help,
                d.span.line,
            )),
            _ => {
                let at = k
                    .settings
                    .source
                    .as_deref()
                    .map_or_else(|| "the settings".into(), |p| p.display().to_string());
                let mut f = Finding::about_file(
                    Kind::KeyUnused,
                    "warning",
                    std::path::Path::new(&at),
                    message,
                );
                f.help = help;
                out.push(f);
            }
        }
    }
}

/// L205: ipsec.conf includes the keys file itself, before any fragment.
fn included_first(
    tree: &Tree,
    id: FileId,
    maker: &Maker,
    keys: &KeysSettings,
    out: &mut Vec<Finding>,
) {
    let Some(at) = tree.compiled.parsed.sources.get(id).included_from else {
        return;
    };
    let shown = crate::escape::escaped(&keys.file);
    let problem = if at.file != 0 {
        Some(format!(
            "the keys file {shown} is included here, not by ipsec.conf: a fragment loaded alone would not see it"
        ))
    } else {
        tree.fragments
            .iter()
            .find(|f| f.include_line < at.line)
            .map(|f| {
                format!(
                    "the keys file {shown} is included after {} (line {}): include it first",
                    f.gateway_path, f.include_line
                )
            })
    };
    if let Some(message) = problem {
        out.push(maker.make(
            at,
            Kind::KeysFileProblem,
            Severity::Error,
            message,
            Some("ipsec.conf includes the keys file first, then the fragments".into()),
            at.line,
        ));
    }
}

/// L205 and L202 on the keys file as it is: macros alone, each declared,
/// every declared one there, readable by root alone; each key long enough.
fn keys_file_itself(
    c: &Compiled,
    id: FileId,
    maker: &Maker,
    keys: &KeysSettings,
    k: &KeysLint,
    out: &mut Vec<Finding>,
) {
    let problem = |span: Span, message: String, help: &str| {
        maker.make(
            span,
            Kind::KeysFileProblem,
            Severity::Error,
            message,
            Some(help.to_string()),
            span.line,
        )
    };
    for rule in c.rules.iter().filter(|r| r.origin.file == id) {
        out.push(problem(
            rule.origin.span,
            "a rule in the keys file, which holds key macros alone".into(),
            "move the rule into a fragment",
        ));
    }
    for (_, f) in c.parsed.sources.iter() {
        if let Some(at) = f.included_from.filter(|s| s.file == id) {
            out.push(problem(
                at,
                "an include in the keys file, which holds key macros alone".into(),
                "define the keys in the keys file itself",
            ));
        }
    }
    let mut defined: HashMap<&str, Span> = HashMap::new();
    for (_, def) in c.parsed.macros.iter().filter(|(_, d)| d.span.file == id) {
        defined.insert(&def.name, def.span);
        if !keys.declares(&def.name) {
            out.push(problem(
                def.span,
                format!(
                    "macro {} is not declared in the settings' [keys] names",
                    def.name
                ),
                "declare it, so that lint in CI knows it; or remove it",
            ));
        }
        let len = def.value.chars().count();
        if len < MIN_PSK {
            out.push(maker.hit(short_psk(def.span, len)));
        }
    }
    for name in keys
        .names
        .iter()
        .filter(|n| !defined.contains_key(n.as_str()))
    {
        out.push(problem(
            file_start(id),
            format!("declared key {name} is not defined in the keys file"),
            "`ipsecmgr key set NAME` sets it",
        ));
    }
    let f = c.parsed.sources.get(id);
    if let (true, Some(uid), Some(mode)) = (k.modes, f.uid, f.mode) {
        let me = nix::unistd::getuid().as_raw();
        let why = if uid != 0 && uid != me {
            Some("owned by neither root nor the user running ipsecmgr")
        } else if mode & 0o077 != 0 {
            Some("readable or writable by others than its owner")
        } else {
            None
        };
        if let Some(why) = why {
            let mut finding = problem(
                file_start(id),
                format!("the keys file is {why} (mode {:04o})", mode & 0o7777),
                "chown root and chmod 600",
            );
            if !k.live {
                finding.severity = "warning";
            }
            out.push(finding);
        }
    }
}

/// L207: one pre-shared key for two peers.  Keys are compared as they
/// are and never shown; a finding names the two rules.  In a checkout,
/// where the keys are stand-ins, one macro given to two peers is found.
pub(super) fn shared_psks(
    units: &[Vec<&Rule>],
    unit_names: &[String],
    makers: &[&Maker],
    out: &mut Vec<Finding>,
) {
    // key → the first rule using it: its unit, its peer
    let mut first: HashMap<&str, (usize, &Rule, Option<&str>)> = HashMap::new();
    let mut said: HashSet<(Option<&str>, Option<&str>)> = HashSet::new();
    for (u, rules) in units.iter().enumerate() {
        for rule in rules {
            let RuleKind::Ike(ike) = &rule.kind else {
                continue;
            };
            let IkeAuth::Psk(psk) = &ike.auth else {
                continue;
            };
            let peer = ike.peer.as_ref().map(|p| &*p.name);
            let Some(&(ou, other, other_peer)) = first.get(&*psk.0) else {
                first.insert(&psk.0, (u, rule, peer));
                continue;
            };
            if other_peer == peer || !said.insert((other_peer, peer)) {
                continue;
            }
            let name = |p: Option<&str>| p.unwrap_or("any (the default peer)").to_string();
            let mut f = makers[u].make(
                rule.origin.span,
                Kind::SharedPsk,
                Severity::Warning,
                format!(
                    "peer {} has the same pre-shared key as peer {} in {}:{}",
                    name(peer),
                    name(other_peer),
                    unit_names[ou],
                    other.origin.line
                ),
                Some(
                    "give each peer a key of its own: one leaked key then opens one tunnel".into(),
                ),
                rule.origin.span.line,
            );
            f.across = Across::With(unit_names[ou].clone(), other.origin.line);
            out.push(f);
        }
    }
}
