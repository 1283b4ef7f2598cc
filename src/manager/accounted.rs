//! What the fragments and ipsec.conf account for, and what is live that
//! nothing accounts for (strays): flows, kernel SAs and isakmpd SAs.

use std::collections::HashSet;

use crate::emit::ipsecctl::addr;
use crate::manager::drift::Expected;
use crate::manager::sections::IkeSections;
use crate::rules::model::{Rule, RuleKind};
use crate::system::report::{IsakmpdSa, KernelEntry, KernelState};

/// A flow as `ipsecctl -sa` prints it: (direction, source, destination).
pub type FlowKey = (String, String, String);

/// The flows a rule loads, as `ipsecctl -sa` prints them.
pub fn flow_keys(rule: &Rule) -> Vec<FlowKey> {
    match &rule.kind {
        RuleKind::Flow(f) => vec![(f.direction.to_string(), addr(&f.src), addr(&f.dst))],
        RuleKind::Ike(i) => vec![
            ("out".into(), addr(&i.src), addr(&i.dst)),
            ("in".into(), addr(&i.dst), addr(&i.src)),
        ],
        _ => Vec::new(),
    }
}

/// A live flow's key.
pub fn live_flow_key(f: &KernelEntry) -> FlowKey {
    (
        f.direction.clone().unwrap_or_default(),
        f.src.clone(),
        f.dst.clone(),
    )
}

/// The peer a rule talks to, if it names one.
pub fn rule_peer(r: &Rule) -> Option<String> {
    match &r.kind {
        RuleKind::Ike(i) => i.peer.as_ref().map(addr),
        RuleKind::Flow(f) => f.peer.as_ref().map(addr),
        RuleKind::Sa(s) => Some(addr(&s.dst)),
        RuleKind::Bundle(_) => None,
    }
}

/// What the fragments and ipsec.conf account for.
#[derive(Default)]
pub struct Known {
    names: HashSet<String>,
    flows: HashSet<FlowKey>,
    peers: HashSet<String>,
    /// Every connection, in the order the configuration has them.
    pub connections: Vec<Expected>,
}

impl Known {
    pub fn add_rules<'a>(&mut self, rules: impl IntoIterator<Item = &'a Rule>) {
        for r in rules {
            self.flows.extend(flow_keys(r));
            self.peers.extend(rule_peer(r));
        }
    }

    /// A tunnel of `fragment` (`None`: of ipsec.conf itself).
    pub fn add_tunnel(&mut self, fragment: Option<&str>, s: &IkeSections) {
        self.names.insert(s.phase1.clone());
        self.names.insert(s.phase2.clone());
        self.connections
            .push((fragment.map(str::to_string), s.phase2.clone(), s.passive));
    }
}

/// What is live that no fragment accounts for, each as a line to show.
pub struct Strays {
    pub isakmpd_sas: Vec<String>,
    pub flows: Vec<String>,
    pub kernel_sas: Vec<String>,
}

/// The flows, SAs and isakmpd SAs that no fragment accounts for.  With
/// `only_peers`, just those to these peers.
pub fn strays(
    known: &Known,
    kernel: &KernelState,
    sas: &[IsakmpdSa],
    only_peers: Option<&HashSet<String>>,
) -> Strays {
    let related = |peers: &[Option<&str>]| {
        only_peers.is_none_or(|own| peers.iter().flatten().any(|p| own.contains(*p)))
    };
    let isakmpd_sas = sas
        .iter()
        // a rekey leaves replaced SAs and unnamed new ones for a while
        .filter(|s| !s.replaced() && !s.unnamed())
        .filter(|s| !known.names.contains(&s.name))
        .filter(|s| s.dst.as_ref().is_none_or(|d| !known.peers.contains(d)) || s.phase == 2)
        .filter(|s| related(&[s.dst.as_deref()]))
        .map(|s| format!("{} (phase {})", s.name, s.phase))
        .collect();
    let flows = kernel
        .flows
        .iter()
        .filter(|f| !known.flows.contains(&live_flow_key(f)))
        .filter(|f| related(&[f.peer.as_deref()]))
        .map(|f| f.line.clone())
        .collect();
    let kernel_sas = kernel
        .sas
        .iter()
        .filter(|s| !known.peers.contains(&s.dst) && !known.peers.contains(&s.src))
        .filter(|s| related(&[Some(s.dst.as_str()), Some(s.src.as_str())]))
        .map(|s| s.line.clone())
        .collect();
    Strays {
        isakmpd_sas,
        flows,
        kernel_sas,
    }
}
