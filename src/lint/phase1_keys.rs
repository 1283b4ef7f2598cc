//! L106: one peer address under several phase 1 tags.
//!
//! ipsecctl writes `C set [Phase 1]:<address>=<tag> force` for every rule,
//! so with `peer A local X` in one file and `peer A local Y` in another,
//! isakmpd holds only the tag set last (conf.c: a forced set replaces the
//! value).  That key is how isakmpd finds the phase 1 configuration when
//! the peer starts the exchange (exchange.c: the responder looks its peer
//! up in `[Phase 1]` by address): the peer can only ever reach the last
//! one, whichever local address it talks to.

use rustc_hash::FxHashMap as HashMap;

use super::{Across, Finding, Maker};
use crate::diag::{Kind, Severity};
use crate::emit::tags;
use crate::rules::model::{Rule, RuleKind};

/// The first rule seen for an address: its unit, the rule, and its local
/// address, which with the peer's decides its tag (written out only when
/// two differ: most gateways have none to report).
type First<'a> = (usize, &'a Rule, Option<&'a str>);

/// A warning for each rule whose peer address another file already puts
/// under a different phase 1 tag (once per pair of tags).
pub(super) fn check(
    units: &[Vec<&Rule>],
    unit_names: &[String],
    makers: &[&Maker],
    out: &mut Vec<Finding>,
) {
    let mut first: HashMap<&str, First> = HashMap::default();
    let mut said: std::collections::HashSet<(String, String)> = Default::default();
    for (u, rules) in units.iter().enumerate() {
        for rule in rules {
            let RuleKind::Ike(ike) = &rule.kind else {
                continue;
            };
            let Some(peer) = &ike.peer else { continue };
            let local = ike.local.as_ref().map(|l| &*l.name);
            let Some(&(ou, other, other_local)) = first.get(&*peer.name) else {
                first.insert(&peer.name, (u, rule, local));
                continue;
            };
            // the same peer: the tags differ exactly when the locals do
            if ou == u || other_local == local {
                continue;
            }
            let RuleKind::Ike(other_ike) = &other.kind else {
                continue;
            };
            let (tag, other_tag) = (tags::phase1(ike), tags::phase1(other_ike));
            if !said.insert((other_tag.clone(), tag.clone())) {
                continue;
            }
            let mut f = makers[u].make(
                rule.origin.span,
                Kind::Phase1KeyShared,
                Severity::Warning,
                format!(
                    "peer {} is phase 1 {tag} here and {other_tag} in {}:{}; isakmpd keeps one [Phase 1]:{} (the last loaded), the only one the peer can reach when it starts the exchange",
                    peer.name, unit_names[ou], other.origin.line, peer.name
                ),
                Some("use one local address per peer address, or accept that the peer cannot start phase 1 for the others".into()),
                rule.origin.span.line,
            );
            f.across = Across::With(unit_names[ou].clone(), other.origin.line);
            out.push(f);
        }
    }
}
