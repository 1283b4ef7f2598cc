//! Emitters: pure functions from rules to text.
//!
//! * [`ipsecctl`]: flows, SAs and bundles in ipsecctl's canonical form;
//! * [`isakmpd`]: the FIFO commands of ike rules;
//! * [`tags`]: the names isakmpd knows connections by.

pub mod ipsecctl;
pub mod isakmpd;
pub mod tags;

use crate::compiler::Compiled;
use crate::diag::{Diagnostic, Kind};
use crate::emit::isakmpd::REDACTED;
use crate::rules::model::RuleKind;

/// What to print for ike rules: the commands that add them, or those that
/// remove them (`ipsecctl -d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Add,
    Delete,
}

/// `ipsecctl -nv` output for a compiled configuration: macro definitions
/// and rules in the order read.  Returns the text and the problems found
/// while generating it.
pub fn verbose_listing(
    c: &Compiled,
    action: Action,
    show_secrets: bool,
) -> (String, Vec<Diagnostic>) {
    let mut text = String::new();
    let diags = write_verbose_listing(c, action, show_secrets, &mut |chunk| text.push_str(chunk));
    (text, diags)
}

/// Text is handed on in pieces of about this size: the listing of a large
/// gateway is many times its configuration, and need not be held whole.
const CHUNK: usize = 64 * 1024;

/// [`verbose_listing`], handing the text to `sink` piece by piece.
pub fn write_verbose_listing(
    c: &Compiled,
    action: Action,
    show_secrets: bool,
    sink: &mut dyn FnMut(&str),
) -> Vec<Diagnostic> {
    // a macro holding a key, by what parsed or what the text could mean
    let hidden = |name: &str| !show_secrets && c.redaction().is_key_macro(name);
    let mut macros = c.parsed.macros.iter().peekable();
    let mut out = String::new();
    let mut diags = Vec::new();
    let mut rules = c.rules.iter().peekable();
    loop {
        let take_macro = match (macros.peek(), rules.peek()) {
            (Some((_, m)), Some(r)) => m.stmt <= r.origin.stmt,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if take_macro {
            if let Some((_, def)) = macros.next() {
                let value = if hidden(&def.name) {
                    REDACTED
                } else {
                    &def.value
                };
                for part in [&*def.name, " = \"", value, "\"\n"] {
                    out.push_str(part);
                }
            }
            continue;
        }
        if out.len() >= CHUNK {
            sink(&out);
            out.clear();
        }
        let Some(rule) = rules.next() else { break };
        match &rule.kind {
            RuleKind::Flow(f) => ipsecctl::flow(&mut out, f),
            RuleKind::Sa(s) => ipsecctl::sa(&mut out, s, show_secrets),
            RuleKind::Bundle(b) => ipsecctl::bundle(&mut out, b),
            RuleKind::Ike(ike) if action == Action::Delete => {
                isakmpd::delete_commands(ike, &mut out)
            }
            RuleKind::Ike(ike) => {
                if let Err(e) = isakmpd::add_commands(ike, &mut out, show_secrets) {
                    diags.push(illegal_transform(rule, e));
                }
            }
        }
    }
    sink(&out);
    diags
}

/// The problems ipsecctl finds only while it writes isakmpd's commands (a
/// transform isakmpd has no name for, where ipsecctl stops that rule's
/// commands), found without writing them: the same errors the listing
/// reports, for every command that must see them before it changes
/// anything.
pub fn emission_errors(c: &Compiled) -> Vec<Diagnostic> {
    c.rules
        .iter()
        .filter_map(|rule| match &rule.kind {
            // the order add_commands meets them in
            RuleKind::Ike(ike) => isakmpd::phase1_transform(ike)
                .and_then(|_| isakmpd::phase2_transform(ike))
                .err()
                .map(|e| illegal_transform(rule, e)),
            _ => None,
        })
        .collect()
}

/// E047 for `rule`, at its line, reported as ipsecctl reports it: after
/// the configuration parsed.
fn illegal_transform(rule: &crate::rules::model::Rule, e: isakmpd::EmitError) -> Diagnostic {
    let mut d = Diagnostic::error(Kind::IllegalTransform, rule.origin.span, e.0)
        .at_line(rule.origin.line)
        .ordered((rule.origin.stmt, u32::MAX));
    d.late = true;
    d
}
