//! L107: a tunnel that `down` cannot hold against its peer, because the
//! peer keeps its phase 1 through another file's rule and another file's
//! tunnel shares its local network (see [`crate::gateway::neighbours`]).

use super::{Finding, Maker};
use crate::diag::{Kind, Severity};
use crate::emit::ipsecctl::addr;
use crate::emit::tags;
use crate::gateway::neighbours::exposures;
use crate::rules::model::{Rule, RuleKind};

/// A warning at each such tunnel, naming the rule that keeps its peer's
/// phase 1 and the one that would carry its networks.
pub(super) fn check(
    units: &[Vec<&Rule>],
    unit_names: &[String],
    makers: &[&Maker],
    out: &mut Vec<Finding>,
) {
    for e in exposures(units) {
        let (u, i) = e.tunnel;
        let rule = units[u][i];
        let (via, carrier) = (units[e.via.0][e.via.1], units[e.carrier.0][e.carrier.1]);
        let (RuleKind::Ike(ike), RuleKind::Ike(other)) = (&rule.kind, &carrier.kind) else {
            continue;
        };
        let peer = ike.peer.as_ref().map(addr).unwrap_or_default();
        out.push(makers[u].make(
            rule.origin.span,
            Kind::DownNotHeld,
            Severity::Warning,
            format!(
                "taken down, this tunnel ({} to {}) can come back under another name: peer {peer} keeps its phase 1 through {}:{}, and isakmpd accepts the peer's re-initiation as {} ({}:{}), whose local network matches",
                addr(&ike.src),
                addr(&ike.dst),
                unit_names[e.via.0],
                via.origin.line,
                tags::ike_tags(other).phase2,
                unit_names[e.carrier.0],
                carrier.origin.line,
            ),
            Some("give the peer's tunnels of one local network one file, or take both down together".into()),
            rule.origin.span.line,
        ));
    }
}
