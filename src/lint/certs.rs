//! L208 and L209: the certificates and keys of `ike` rules authenticated
//! by certificates (see [`crate::gateway::certs`]): missing or unreadable
//! files, a private key that does not match its certificate, a
//! certificate expired or not yet valid (L208, errors), and one expiring
//! within `warn_days` (L209, a warning).
//!
//! On the gateway every file is required.  In a checkout (`--root`) a
//! repository may keep the certificates but not the private keys, or none
//! of it: what is not there is not checked; what is there is.

use std::collections::HashSet;

use super::{Finding, Maker};
use crate::diag::{Kind, Severity};
use crate::gateway::certs::{self, Reader};
use crate::rules::model::{Rule, RuleKind};
use crate::settings::Settings;
use crate::system::files::Root;

/// One day, in seconds.
const DAY: i64 = 86_400;

pub(super) struct CertLint<'a> {
    pub settings: &'a Settings,
    pub root: &'a Root,
    pub modes: bool,
}

/// Whether a problem is about a file a checkout need not keep: anything
/// under a certificate directory it does not have, or a private key.
fn not_kept(problem: &str, dir_there: bool) -> bool {
    !dir_there
        || (problem.contains("/private/") && problem.to_ascii_lowercase().contains("no such file"))
}

pub(super) fn check(rules: &[&Rule], maker: &Maker, k: &CertLint, out: &mut Vec<Finding>) {
    let ikes: Vec<(&Rule, &crate::rules::model::Ike)> = rules
        .iter()
        .filter_map(|r| match &r.kind {
            RuleKind::Ike(i) if certs::uses_certificates(i) => Some((*r, &**i)),
            _ => None,
        })
        .collect();
    if ikes.is_empty() {
        return;
    }
    let cs = &k.settings.certificates;
    let checkout = k.root.is_set();
    let dir_there = std::fs::metadata(k.root.map(&cs.dir)).is_ok_and(|m| m.is_dir());
    let mut reader = Reader::new(cs, k.root, k.modes);
    let now = certs::now();
    let horizon = now + i64::from(cs.warn_days) * DAY;
    let mut said: HashSet<String> = HashSet::new();
    for (rule, ike) in ikes {
        let checked = reader.check(ike);
        let mut push = |kind: Kind, severity: Severity, message: String, help: &str| {
            if said.insert(message.clone()) {
                out.push(maker.make(
                    rule.origin.span,
                    kind,
                    severity,
                    message,
                    Some(help.to_string()),
                    rule.origin.span.line,
                ));
            }
        };
        for p in checked.problems {
            if checkout && not_kept(&p, dir_there) {
                continue;
            }
            push(
                Kind::CertificateProblem,
                Severity::Error,
                p,
                "put the certificates isakmpd needs in place (isakmpd(8): FILES)",
            );
        }
        let mode_severity = if checkout {
            Severity::Warning
        } else {
            Severity::Error
        };
        for p in checked.mode_problems {
            push(
                Kind::CertificateProblem,
                mode_severity,
                p,
                "chown root and chmod 600 the private key",
            );
        }
        for c in &checked.certs {
            if c.not_after < now {
                push(
                    Kind::CertificateProblem,
                    Severity::Error,
                    format!("{}: expired on {}", c.shown, certs::date(c.not_after)),
                    "renew the certificate",
                );
            } else if c.not_before > now {
                push(
                    Kind::CertificateProblem,
                    Severity::Error,
                    format!(
                        "{}: not valid before {}",
                        c.shown,
                        certs::date(c.not_before)
                    ),
                    "check the certificate's dates and the clock",
                );
            } else if c.not_after < horizon {
                push(
                    Kind::CertificateExpiring,
                    Severity::Warning,
                    format!(
                        "{}: expires on {}, in {} day(s)",
                        c.shown,
                        certs::date(c.not_after),
                        (c.not_after - now) / DAY
                    ),
                    "renew it before then",
                );
            }
        }
    }
}
