//! Checks of single rules and macros: crypto, keys, isakmpd's field limit,
//! unused macros.  Each returns (span, kind, severity, message, help).

use crate::compiler::Compiled;
use crate::diag::{Kind, Severity, Span};
use crate::emit::{isakmpd, tags};
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

pub use crate::rules::model::MIN_PSK;

/// The L202 finding for a key of `len` characters.
pub fn short_psk(span: Span, len: usize) -> Hit {
    hit(
        span,
        Kind::ShortPsk,
        Severity::Warning,
        format!("pre-shared key of {len} characters; use at least {MIN_PSK}"),
        "generate one, e.g. `openssl rand -hex 16`",
    )
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
    // a key of the keys file is checked there, once (see lint::keys)
    if let RuleKind::Ike(ike) = &rule.kind
        && let IkeAuth::Psk(psk) = &ike.auth
        && !psk.1.as_ref().is_some_and(|m| m.keys)
        && psk.0.chars().count() < MIN_PSK
    {
        hits.push(short_psk(span, psk.0.chars().count()));
    }
}

fn digits(n: u32) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// An upper bound of the longest section name or value ipsecctl sends for
/// `ike`, computed from lengths alone (most rules are far below the limit).
fn longest_bound(ike: &crate::rules::model::Ike) -> usize {
    let proto = if ike.proto != 0 {
        1 + digits(ike.proto.into())
    } else {
        0
    };
    let port = |p: u16| if p != 0 { 1 + digits(p.into()) } else { 0 };
    let (lid, rid) = match ike.iface {
        Some(u) => (9 + digits(u), 7 + digits(u)),
        None => (
            5 + ike.src.name.len() + proto + port(ike.sport),
            3 + ike.dst.name.len() + proto + port(ike.dport),
        ),
    };
    let p2 = lid + 1 + rid;
    let p1 = match (&ike.peer, &ike.local) {
        (Some(p), Some(l)) => 12 + p.name.len() + l.name.len(),
        (Some(p), None) => 5 + p.name.len(),
        (None, _) => 12,
    };
    let nat = ike
        .src
        .nat
        .as_ref()
        .map_or(0, |n| 4 + n.name.len() + proto + port(ike.sport));
    let ids = [&ike.srcid, &ike.dstid]
        .into_iter()
        .flatten()
        .map(|id| 3 + id.name.len())
        .max()
        .unwrap_or(0);
    let psk = match &ike.auth {
        IkeAuth::Psk(p) => p.0.len(),
        IkeAuth::Rsa => 0,
    };
    let tag = ike.tag.as_ref().map_or(0, |t| t.len());
    // transform names: a prefix, the tag, and at most ~45 characters of
    // algorithm names, plus "-life"
    [p2 + 16 + 55, p1 + 17 + 50, nat, ids, psk, tag, lid, rid]
        .into_iter()
        .max()
        .unwrap_or(0)
}

/// The longest section name or value ipsecctl would send for `ike`.
fn longest_field(ike: &crate::rules::model::Ike) -> String {
    let t = tags::ike_tags(ike);
    let mut fields: Vec<String> = vec![
        format!("phase2-protocol-{}", t.phase2),
        format!("phase1-{}", t.phase1),
        t.local_id.clone(),
        t.remote_id.clone(),
    ];
    fields.extend(t.nat_id.clone());
    for id in [&ike.srcid, &ike.dstid].into_iter().flatten() {
        fields.push(tags::id_section(&id.name));
    }
    fields.extend(
        ike.peer
            .iter()
            .chain(&ike.local)
            .map(|a| a.name.to_string()),
    );
    fields.extend(ike.tag.as_deref().map(str::to_string));
    if let IkeAuth::Psk(psk) = &ike.auth {
        fields.push("*".repeat(psk.0.len()));
    }
    let life = |l: Option<i32>| if l.is_some() { "-life" } else { "" };
    if let Ok(x) = isakmpd::phase2_transform(ike) {
        fields.push(x.name(&t.phase2) + life(ike.phase2.lifetime));
    }
    if let Ok(x) = isakmpd::phase1_transform(ike) {
        fields.push(x.name(&t.phase1) + life(ike.phase1.lifetime));
    }
    fields
        .into_iter()
        .max_by_key(String::len)
        .unwrap_or_default()
}

/// Transforms isakmpd has no name for, and names its FIFO parser would cut
/// at 200 characters (long IPv6 networks with ports, long ids).
pub fn field_checks(rule: &Rule, hits: &mut Vec<Hit>) {
    let RuleKind::Ike(ike) = &rule.kind else {
        return;
    };
    if let Err(e) = isakmpd::phase1_transform(ike).and_then(|_| isakmpd::phase2_transform(ike)) {
        hits.push(hit(
            rule.origin.span,
            Kind::IllegalTransform,
            Severity::Error,
            format!("{}: isakmpd has no name for it, ipsecctl stops here", e.0),
            "",
        ));
    }
    if longest_bound(ike) <= FIELD_MAX {
        return;
    }
    let f = longest_field(ike);
    if f.len() > FIELD_MAX {
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

/// Macros defined and never used (a key of the keys file unused is L206's).
pub fn unused_macros(c: &Compiled, hits: &mut Vec<Hit>) {
    for (_, def) in c.parsed.macros.iter() {
        if !def.used && !c.parsed.sources.get(def.span.file).keys {
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
