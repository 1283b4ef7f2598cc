//! Conflicts between one fragment's rules and the rest of the tree, found
//! through indexes (no pass compares every rule with every other):
//!
//! * the same flow (the same traffic selector) in two fragments: which one
//!   the kernel uses depends on load order;
//! * the same phase 1 peer set up differently: isakmpd keeps only the last.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::emit::tags;
use crate::rules::model::{Direction, Ike, IkeAuth, Rule, RuleKind};

/// A traffic selector: what the kernel matches packets on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Selector {
    pub direction: Direction,
    pub proto: u8,
    pub src: (IpAddr, u8),
    pub sport: u16,
    pub dst: (IpAddr, u8),
    pub dport: u16,
}

impl Selector {
    pub fn describe(&self) -> String {
        let port = |p: u16| {
            if p == 0 {
                String::new()
            } else {
                format!(" port {p}")
            }
        };
        format!(
            "{} from {}/{}{} to {}/{}{}",
            self.direction,
            self.src.0,
            self.src.1,
            port(self.sport),
            self.dst.0,
            self.dst.1,
            port(self.dport)
        )
    }
}

/// The selectors a rule puts into the kernel: a flow's own, an ike rule's
/// two directions.
pub fn selectors(rule: &Rule) -> Vec<Selector> {
    match &rule.kind {
        RuleKind::Flow(f) => vec![Selector {
            direction: f.direction,
            proto: f.proto,
            src: (f.src.ip, f.src.prefix),
            sport: f.sport,
            dst: (f.dst.ip, f.dst.prefix),
            dport: f.dport,
        }],
        RuleKind::Ike(i) => {
            let out = Selector {
                direction: Direction::Out,
                proto: i.proto,
                src: (i.src.ip, i.src.prefix),
                sport: i.sport,
                dst: (i.dst.ip, i.dst.prefix),
                dport: i.dport,
            };
            let inbound = Selector {
                direction: Direction::In,
                src: out.dst,
                sport: out.dport,
                dst: out.src,
                dport: out.sport,
                ..out.clone()
            };
            vec![out, inbound]
        }
        _ => Vec::new(),
    }
}

/// What a phase 1 peer is set up with; rules sharing a phase 1 tag must
/// agree on all of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase1Settings {
    pub local: Option<String>,
    pub auth: IkeAuth,
    pub aggressive: bool,
    pub transforms: String,
    pub lifetime: Option<i32>,
    pub srcid: Option<String>,
    pub dstid: Option<String>,
}

pub fn phase1_settings(ike: &Ike) -> Phase1Settings {
    let x = &ike.phase1.xfs;
    Phase1Settings {
        local: ike.local.as_ref().map(|l| l.name.to_string()),
        auth: ike.auth.clone(),
        aggressive: ike.phase1.aggressive,
        transforms: format!(
            "{:?}/{:?}/{:?}",
            x.auth.map(|a| a.name),
            x.enc.map(|e| e.name),
            x.group.map(|g| g.name)
        ),
        lifetime: ike.phase1.lifetime,
        srcid: ike.srcid.as_ref().map(|i| i.name.to_string()),
        dstid: ike.dstid.as_ref().map(|i| i.name.to_string()),
    }
}

/// Which phase 1 settings differ, in words (never the key itself).
pub fn phase1_differences(a: &Phase1Settings, b: &Phase1Settings) -> Vec<&'static str> {
    let mut d = Vec::new();
    if a.auth != b.auth {
        d.push(match (&a.auth, &b.auth) {
            (IkeAuth::Psk(_), IkeAuth::Psk(_)) => "pre-shared key",
            _ => "authentication",
        });
    }
    if a.aggressive != b.aggressive {
        d.push("mode");
    }
    if a.transforms != b.transforms {
        d.push("transforms");
    }
    if a.lifetime != b.lifetime {
        d.push("lifetime");
    }
    if a.srcid != b.srcid || a.dstid != b.dstid {
        d.push("ids");
    }
    if a.local != b.local {
        d.push("local address");
    }
    d
}

/// A rule of another fragment, for the messages.
pub struct Other<'a> {
    pub fragment: &'a str,
    pub rule: &'a Rule,
}

/// The conflicts of `new` (a fragment's rules) with `others`.
pub fn find(new: &[&Rule], others: &[Other]) -> Vec<String> {
    let mut by_selector: HashMap<Selector, &Other> = HashMap::new();
    let mut by_phase1: HashMap<String, (&Other, Phase1Settings)> = HashMap::new();
    for o in others {
        for s in selectors(o.rule) {
            by_selector.entry(s).or_insert(o);
        }
        if let RuleKind::Ike(ike) = &o.rule.kind {
            by_phase1
                .entry(tags::phase1(ike))
                .or_insert_with(|| (o, phase1_settings(ike)));
        }
    }
    let mut found = Vec::new();
    for rule in new {
        for s in selectors(rule) {
            if let Some(o) = by_selector.get(&s) {
                let msg = format!(
                    "{}: flow {} is already in {}:{}",
                    rule.origin.line,
                    s.describe(),
                    o.fragment,
                    o.rule.origin.line
                );
                if !found.contains(&msg) {
                    found.push(msg);
                }
            }
        }
        if let RuleKind::Ike(ike) = &rule.kind {
            let tag = tags::phase1(ike);
            if let Some((o, theirs)) = by_phase1.get(&tag) {
                let diff = phase1_differences(&phase1_settings(ike), theirs);
                if !diff.is_empty() {
                    let msg = format!(
                        "{}: phase 1 {tag} is set up differently in {}:{}: {}; \
                         isakmpd would keep only one",
                        rule.origin.line,
                        o.fragment,
                        o.rule.origin.line,
                        diff.join(", ")
                    );
                    if !found.contains(&msg) {
                        found.push(msg);
                    }
                }
            }
        }
    }
    found
}
