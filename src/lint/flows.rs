//! Flows of different files that match the same traffic.  The same
//! selector twice is an error; overlapping ones (one network inside the
//! other, on both sides) a warning, since which one the kernel picks depends
//! on load order.
//!
//! Rules are indexed by destination network: a map from (direction, family,
//! prefix length, network) to the rules with exactly that destination.  A
//! rule's candidates are found by looking up each shorter prefix of its own
//! destination (at most 129 lookups), so the pass is linear in the number
//! of rules for any realistic tree, never quadratic.

use rustc_hash::FxHashMap as HashMap;
use std::net::IpAddr;

use crate::manager::conflicts::{Selector, selectors};
use crate::rules::model::{Direction, Rule, RuleKind};

/// A network as (address masked to the prefix, prefix).
type Net = (u128, u8);

fn net(ip: IpAddr, prefix: u8) -> (bool, Net) {
    let (v4, bits, width) = match ip {
        IpAddr::V4(a) => (true, u128::from(u32::from(a)), 32u32),
        IpAddr::V6(a) => (false, u128::from(a), 128u32),
    };
    let prefix = u32::from(prefix).min(width);
    let masked = if prefix == 0 {
        0
    } else {
        let keep = u128::MAX << (width - prefix);
        bits & (keep & (u128::MAX >> (128 - width)))
    };
    (v4, (masked, prefix as u8))
}

fn mask(bits: u128, v4: bool, prefix: u8) -> u128 {
    let width = if v4 { 32 } else { 128 };
    if prefix == 0 {
        0
    } else {
        bits & ((u128::MAX << (width - u32::from(prefix))) & (u128::MAX >> (128 - width)))
    }
}

/// Whether two networks of one family overlap (one contains the other).
fn overlap(v4: bool, a: Net, b: Net) -> bool {
    let p = a.1.min(b.1);
    mask(a.0, v4, p) == mask(b.0, v4, p)
}

fn compatible(a: u16, b: u16) -> bool {
    a == 0 || b == 0 || a == b
}

/// One flow selector of a rule, and who owns it.
struct Entry<'a> {
    unit: usize,
    rule: &'a Rule,
    sel: Selector,
    peer: Option<String>,
    v4: bool,
    src: Net,
    dst: Net,
}

/// What was found: (unit and rule of the later, unit and rule of the
/// earlier, selector, identical?).
pub struct Clash<'a> {
    pub unit: usize,
    pub rule: &'a Rule,
    pub other_unit: usize,
    pub other: &'a Rule,
    pub selector: Selector,
    pub identical: bool,
    pub peers_differ: bool,
}

fn peer_of(rule: &Rule) -> Option<String> {
    match &rule.kind {
        RuleKind::Flow(f) => f.peer.as_ref().map(|p| p.name.clone()),
        RuleKind::Ike(i) => i.peer.as_ref().map(|p| p.name.clone()),
        _ => None,
    }
}

/// Clashes between rules of different units (`units[i]` = the rules of
/// file i).
pub fn clashes<'a>(units: &[Vec<&'a Rule>]) -> Vec<Clash<'a>> {
    let mut entries = Vec::new();
    for (unit, rules) in units.iter().enumerate() {
        for rule in rules {
            for sel in selectors(rule) {
                let (v4, src) = net(sel.src.0, sel.src.1);
                let (_, dst) = net(sel.dst.0, sel.dst.1);
                entries.push(Entry {
                    unit,
                    rule,
                    peer: peer_of(rule),
                    sel,
                    v4,
                    src,
                    dst,
                });
            }
        }
    }
    type Key = (Direction, bool, u8, u128);
    let mut index: HashMap<Key, Vec<usize>> = HashMap::default();
    for (i, e) in entries.iter().enumerate() {
        index
            .entry((e.sel.direction, e.v4, e.dst.1, e.dst.0))
            .or_default()
            .push(i);
    }
    // the destination prefix lengths that occur, per direction and family
    let mut lengths: HashMap<(Direction, bool), Vec<u8>> = HashMap::default();
    for e in &entries {
        lengths
            .entry((e.sel.direction, e.v4))
            .or_default()
            .push(e.dst.1);
    }
    for l in lengths.values_mut() {
        l.sort_unstable();
        l.dedup();
    }
    let mut found = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let present = &lengths[&(e.sel.direction, e.v4)];
        for &len in present.iter().take_while(|&&l| l <= e.dst.1) {
            let key = (e.sel.direction, e.v4, len, mask(e.dst.0, e.v4, len));
            let Some(candidates) = index.get(&key) else {
                continue;
            };
            for &j in candidates {
                // each pair once: the containing one first, or the earlier
                if j == i || (len == e.dst.1 && j > i) {
                    continue;
                }
                let o = &entries[j];
                if o.unit == e.unit
                    || !overlap(e.v4, e.src, o.src)
                    || !(e.sel.proto == o.sel.proto || e.sel.proto == 0 || o.sel.proto == 0)
                    || !compatible(e.sel.sport, o.sel.sport)
                    || !compatible(e.sel.dport, o.sel.dport)
                {
                    continue;
                }
                let (later, earlier) = if o.unit < e.unit { (e, o) } else { (o, e) };
                found.push(Clash {
                    unit: later.unit,
                    rule: later.rule,
                    other_unit: earlier.unit,
                    other: earlier.rule,
                    selector: later.sel.clone(),
                    identical: e.sel == o.sel,
                    peers_differ: e.peer != o.peer,
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let (v4, a) = net("10.0.0.0".parse().unwrap(), 16);
        let (_, b) = net("10.0.5.0".parse().unwrap(), 24);
        let (_, c) = net("10.1.0.0".parse().unwrap(), 24);
        assert!(v4);
        assert!(overlap(true, a, b) && overlap(true, b, a));
        assert!(!overlap(true, a, c));
        let (_, any) = net("0.0.0.0".parse().unwrap(), 0);
        assert!(overlap(true, any, c));
        let (v4, x) = net("2001:db8::1".parse().unwrap(), 128);
        let (_, y) = net("2001:db8::".parse().unwrap(), 32);
        assert!(!v4 && overlap(false, x, y));
    }
}
