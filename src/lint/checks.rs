//! Checks of single rules and macros: crypto, keys, isakmpd's field limit,
//! unused macros.  Each returns (span, kind, severity, message, help).

use crate::compiler::Compiled;
use crate::diag::{Kind, Severity, Span};
use crate::emit::isakmpd;
use crate::rules::model::{IkeAuth, Rule, RuleKind};
use crate::rules::xf::{Auth, Enc, Group, Transforms};

pub struct Hit {
    pub span: Span,
    pub kind: Kind,
    pub severity: Severity,
    pub message: String,
    pub help: Option<String>,
}

fn hit(span: Span, kind: Kind, severity: Severity, message: String, help: &str) -> Hit {
    Hit {
        span,
        kind,
        severity,
        message,
        help: (!help.is_empty()).then(|| help.to_string()),
    }
}

/// isakmpd's FIFO parser reads at most 200 characters per field (ui.c).
pub const FIELD_MAX: usize = 200;

/// Names of weak or deprecated algorithms among `xfs`.
fn weak(xfs: &Transforms) -> Vec<&'static str> {
    let mut w = Vec::new();
    if let Some(e) = xfs.enc
        && matches!(
            e.alg,
            Enc::TripleDesCbc | Enc::Blowfish | Enc::Cast128 | Enc::Null
        )
    {
        w.push(e.name);
    }
    if let Some(a) = xfs.auth
        && a.alg == Auth::HmacMd5
    {
        w.push(a.name);
    }
    if let Some(g) = xfs.group
        && matches!(g.alg, Group::Modp(1) | Group::Modp(2))
    {
        w.push(g.name);
    }
    w
}

const WEAK_HELP: &str = "use aes-256 or aes-256-gcm, hmac-sha2-256, and modp2048 or an ecp group";

/// Weak crypto, short pre-shared keys.
pub fn rule_checks(rule: &Rule, hits: &mut Vec<Hit>) {
    let span = rule.origin.span;
    let mut report = |what: &str, xfs: &Transforms| {
        for name in weak(xfs) {
            hits.push(hit(
                span,
                Kind::WeakCrypto,
                Severity::Warning,
                format!("weak or deprecated transform {name} ({what})"),
                WEAK_HELP,
            ));
        }
    };
    match &rule.kind {
        RuleKind::Ike(ike) => {
            report("phase 1", &ike.phase1.xfs);
            report("phase 2", &ike.phase2.xfs);
        }
        RuleKind::Sa(sa) => report("SA", &sa.xfs),
        _ => {}
    }
    if let RuleKind::Ike(ike) = &rule.kind
        && let IkeAuth::Psk(psk) = &ike.auth
        && psk.0.chars().count() < 20
    {
        hits.push(hit(
            span,
            Kind::ShortPsk,
            Severity::Warning,
            format!(
                "pre-shared key of {} characters; use at least 20",
                psk.0.chars().count()
            ),
            "generate one, e.g. `openssl rand -hex 16`",
        ));
    }
}

/// Section names and values isakmpd's FIFO parser would cut at 200
/// characters (long IPv6 networks with ports, long ids).
pub fn field_checks(rule: &Rule, hits: &mut Vec<Hit>) {
    let RuleKind::Ike(ike) = &rule.kind else {
        return;
    };
    let mut text = String::new();
    if let Err(e) = isakmpd::add_commands(ike, &mut text, false) {
        hits.push(hit(
            rule.origin.span,
            Kind::IllegalTransform,
            Severity::Error,
            format!("{}: isakmpd has no name for it, ipsecctl stops here", e.0),
            "",
        ));
    }
    let mut worst: Option<String> = None;
    for line in text.lines() {
        let fields: Vec<&str> = match line
            .strip_prefix("C set [")
            .or_else(|| line.strip_prefix("C add ["))
        {
            Some(rest) => {
                let (section, rest) = rest.split_once("]:").unwrap_or((rest, ""));
                let (tag, value) = rest.split_once('=').unwrap_or((rest, ""));
                vec![section, tag, value.trim_end_matches(" force")]
            }
            None => Vec::new(),
        };
        if let Some(f) = fields.into_iter().find(|f| f.len() > FIELD_MAX)
            && worst.as_ref().is_none_or(|w| f.len() > w.len())
        {
            worst = Some(f.to_string());
        }
    }
    if let Some(f) = worst {
        hits.push(hit(
            rule.origin.span,
            Kind::FieldTooLong,
            Severity::Error,
            format!(
                "isakmpd name of {} characters: its FIFO reads at most {FIELD_MAX} per field: {}...",
                f.len(),
                &f[..60.min(f.len())]
            ),
            "shorten ids, or split the rule so its networks and ports make shorter names",
        ));
    }
}

/// Macros defined and never used.
pub fn unused_macros(c: &Compiled, hits: &mut Vec<Hit>) {
    for (_, def) in c.parsed.macros.iter() {
        if !def.used {
            hits.push(hit(
                def.span,
                Kind::UnusedMacro,
                Severity::Warning,
                format!("macro '{}' is never used", def.name),
                "",
            ));
        }
    }
}
