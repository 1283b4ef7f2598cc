//! Flows of different files that match the same traffic.  The same
//! selector twice is an error; overlapping ones (one network inside the
//! other, on both sides) a warning, since which one the kernel picks depends
//! on load order.
//!
//! Rules are indexed by destination network: a map from (direction, family,
//! prefix length, network) to the rules with exactly that destination, each
//! such bucket ordered and keyed by source network.  A rule's candidates are
//! found by looking up each shorter prefix of its own destination (at most
//! 129 lookups), and in each bucket the sources containing its own (a lookup
//! per shorter source prefix) and inside it (one range); so what is looked
//! at is what overlaps, and the pass is near-linear in the number of rules
//! even when every rule shares one network (a hub's local network).
//!
//! Findings are per pair of statements, with the number of flow pairs: a
//! statement's lists expand to many flows, and two such statements to the
//! product.
//!
//! A tree can be written so that every flow clashes with every other (a
//! few hundred files each holding one flow to the same networks): the
//! pairs are quadratic in the input.  So the search stays linear: each flow
//! is compared with at most [`PARTNERS_PER_FLOW`] overlapping flows (a
//! statement one of whose flows had more says so), and each statement is
//! reported with at most [`STATEMENTS_PER_STATEMENT`] statements of other
//! files, the flow pairs with the rest counted together.

use rustc_hash::FxHashMap as HashMap;
use std::net::IpAddr;

use crate::gateway::conflicts::{Selector, selectors};
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

/// One flow selector of a rule, and who owns it.  Its networks and peer
/// are worked out when asked for: a large gateway has tens of thousands of
/// entries, held at once.
struct Entry<'a> {
    unit: usize,
    rule: &'a Rule,
    sel: Selector,
}

impl Entry<'_> {
    fn v4(&self) -> bool {
        self.sel.src.0.is_ipv4()
    }

    fn src(&self) -> Net {
        net(self.sel.src.0, self.sel.src.1).1
    }

    fn dst(&self) -> Net {
        net(self.sel.dst.0, self.sel.dst.1).1
    }

    fn peer(&self) -> Option<&str> {
        peer_of(self.rule)
    }
}

/// Two statements of different units whose flows clash: the later
/// statement's first such rule and selector, the earlier statement's rule,
/// and how many flow pairs of the two clash this way.
pub struct Clash<'a> {
    pub unit: usize,
    pub rule: &'a Rule,
    pub other_unit: usize,
    pub other: &'a Rule,
    pub selector: Selector,
    pub identical: bool,
    pub peers_differ: bool,
    pub pairs: usize,
}

/// The flow pairs a statement has with statements of other files beyond
/// the [`STATEMENTS_PER_STATEMENT`] reported one by one.
pub struct More<'a> {
    pub unit: usize,
    pub rule: &'a Rule,
    pub pairs: usize,
    /// Some of them are the same flow (an error), not only overlapping.
    pub identical: bool,
}

/// What the check found: clashes between two statements, what more a
/// statement clashes with, and the statements one of whose flows
/// overlapped more flows than were compared (one each).
pub struct Clashes<'a> {
    pub found: Vec<Clash<'a>>,
    pub more: Vec<More<'a>>,
    pub cut: Vec<(usize, &'a Rule)>,
}

/// Overlapping flows one flow is compared with: a flow to a hub's network
/// can overlap every flow of the tree.
pub const PARTNERS_PER_FLOW: usize = 1024;

/// Statements of other files a statement is reported with, one finding
/// each.
pub const STATEMENTS_PER_STATEMENT: usize = 8;

fn peer_of(rule: &Rule) -> Option<&str> {
    match &rule.kind {
        RuleKind::Flow(f) => f.peer.as_ref().map(|p| &*p.name),
        RuleKind::Ike(i) => i.peer.as_ref().map(|p| &*p.name),
        _ => None,
    }
}

fn entries<'a>(units: &[Vec<&'a Rule>]) -> Vec<Entry<'a>> {
    // counted first: grown by doubling, the vector of a large gateway
    // would be the run's peak of memory
    let count = units
        .iter()
        .flatten()
        .map(|r| match r.kind {
            RuleKind::Flow(_) => 1,
            RuleKind::Ike(_) => 2,
            _ => 0,
        })
        .sum();
    let mut entries = Vec::with_capacity(count);
    for (unit, rules) in units.iter().enumerate() {
        for rule in rules {
            for sel in selectors(rule) {
                entries.push(Entry { unit, rule, sel });
            }
        }
    }
    entries
}

/// The last address of a network.
fn last_address(v4: bool, n: Net) -> u128 {
    let width = if v4 { 32 } else { 128 };
    let host_bits = width - u32::from(n.1);
    if host_bits == 0 {
        n.0
    } else {
        n.0 | (u128::MAX >> (128 - host_bits))
    }
}

/// (direction, family, prefix length, network) of a destination.
type DstKey = (Direction, bool, u8, u128);

/// Entries indexed by destination, then source: what overlaps an entry is
/// found by lookups and one range per destination prefix length present,
/// never by walking every entry with the same destination (a hub's
/// inbound flows all share its local network).
///
/// The entries with one destination network (a bucket) are a run of
/// `order`, sorted by source: by first address (networks nest or are
/// apart, so those inside a network are a run of this order), then prefix
/// length (an exact network is a run too); the source prefix lengths
/// present are a run of `src_lengths`.  A few flat vectors: a gateway's
/// entries are tens of thousands, and a vector or two per destination
/// would cost several times them.
struct Index {
    /// Destination → bucket number.
    buckets: HashMap<DstKey, u32>,
    /// (first source address, source prefix length, entry), by bucket.
    order: Vec<(u128, u8, u32)>,
    /// Where each bucket starts in `order` and in `src_lengths` (one more,
    /// for the end of the last).
    starts: Vec<(u32, u32)>,
    src_lengths: Vec<u8>,
    dst_lengths: HashMap<(Direction, bool), Vec<u8>>,
}

impl Index {
    fn new(entries: &[Entry]) -> Self {
        let mut buckets: HashMap<DstKey, u32> = HashMap::default();
        let mut dst_lengths: HashMap<(Direction, bool), Vec<u8>> = HashMap::default();
        let mut counts: Vec<u32> = Vec::new();
        let bucket_of: Vec<u32> = entries
            .iter()
            .map(|e| {
                let (v4, dst) = (e.v4(), e.dst());
                let key = (e.sel.direction, v4, dst.1, dst.0);
                let b = *buckets.entry(key).or_insert_with(|| {
                    counts.push(0);
                    dst_lengths.entry((key.0, key.1)).or_default().push(key.2);
                    (counts.len() - 1) as u32
                });
                counts[b as usize] += 1;
                b
            })
            .collect();
        // each bucket's place in `order`, then its entries put there
        let mut starts = Vec::with_capacity(counts.len() + 1);
        let mut at = 0u32;
        for &c in &counts {
            starts.push((at, 0));
            at += c;
        }
        starts.push((at, 0));
        let mut next: Vec<u32> = starts.iter().map(|s| s.0).collect();
        let mut order = vec![(0u128, 0u8, 0u32); entries.len()];
        for (i, e) in entries.iter().enumerate() {
            let slot = &mut next[bucket_of[i] as usize];
            let src = e.src();
            order[*slot as usize] = (src.0, src.1, i as u32);
            *slot += 1;
        }
        let mut src_lengths = Vec::new();
        let mut lengths: Vec<u8> = Vec::new();
        for b in 0..counts.len() {
            let run = &mut order[starts[b].0 as usize..starts[b + 1].0 as usize];
            run.sort_unstable();
            lengths.clear();
            lengths.extend(run.iter().map(|r| r.1));
            lengths.sort_unstable();
            lengths.dedup();
            starts[b].1 = src_lengths.len() as u32;
            src_lengths.extend_from_slice(&lengths);
        }
        let last = counts.len();
        starts[last].1 = src_lengths.len() as u32;
        for l in dst_lengths.values_mut() {
            l.sort_unstable();
            l.dedup();
        }
        Index {
            buckets,
            order,
            starts,
            src_lengths,
            dst_lengths,
        }
    }

    /// Bucket `b`'s entries, in order of source, and its source lengths.
    fn bucket(&self, b: u32) -> (&[(u128, u8, u32)], &[u8]) {
        let (from, to) = (self.starts[b as usize], self.starts[b as usize + 1]);
        (
            &self.order[from.0 as usize..to.0 as usize],
            &self.src_lengths[from.1 as usize..to.1 as usize],
        )
    }

    /// The entries of a run whose source is exactly `src`.
    fn with_source(run: &[(u128, u8, u32)], src: Net) -> impl Iterator<Item = usize> + '_ {
        let from = run.partition_point(|&(s, l, _)| (s, l) < (src.0, src.1));
        run[from..]
            .iter()
            .take_while(move |&&(s, l, _)| (s, l) == (src.0, src.1))
            .map(|&(_, _, j)| j as usize)
    }

    /// Every entry whose destination contains `e`'s and whose source
    /// contains or lies inside `e`'s, each once, handed to `each` with
    /// whether its destination is `e`'s own; stops when `each` says so.
    fn overlapping(&self, e: &Entry, each: &mut dyn FnMut(usize, bool) -> bool) -> bool {
        let (v4, src, dst) = (e.v4(), e.src(), e.dst());
        let lengths = &self.dst_lengths[&(e.sel.direction, v4)];
        for &len in lengths.iter().take_while(|&&l| l <= dst.1) {
            let key = (e.sel.direction, v4, len, mask(dst.0, v4, len));
            let Some(&b) = self.buckets.get(&key) else {
                continue;
            };
            let (run, src_lengths) = self.bucket(b);
            let same_dst = len == dst.1;
            // sources containing e's
            for &sl in src_lengths.iter().take_while(|&&l| l < src.1) {
                let outer = (mask(src.0, v4, sl), sl);
                for j in Index::with_source(run, outer) {
                    if !each(j, same_dst) {
                        return false;
                    }
                }
            }
            // sources inside e's, its own included (one starting where e's
            // does but shorter contains it: found above)
            let last = last_address(v4, src);
            let from = run.partition_point(|&(s, _, _)| s < src.0);
            for &(s, len, j) in &run[from..] {
                if s > last {
                    break;
                }
                if len < src.1 {
                    continue;
                }
                if !each(j as usize, same_dst) {
                    return false;
                }
            }
        }
        true
    }
}

/// Whether two overlapping entries clash: of different units, for the
/// same protocol and ports.
fn clash_between(e: &Entry, o: &Entry) -> bool {
    o.unit != e.unit
        && (e.sel.proto == o.sel.proto || e.sel.proto == 0 || o.sel.proto == 0)
        && compatible(e.sel.sport, o.sel.sport)
        && compatible(e.sel.dport, o.sel.dport)
}

/// Whether the pair is the inbound mirror of two `ike` rules' outbound
/// selectors, which clash exactly when those do: counted once, as flows
/// of two rules.
fn mirrored(e: &Entry, o: &Entry) -> bool {
    let ike = |x: &Entry| matches!(x.rule.kind, RuleKind::Ike(_));
    e.sel.direction == Direction::In && ike(e) && ike(o)
}

/// Which two statements clash, and how: (later unit, its statement,
/// earlier unit, its statement, identical?).
type PairKey = (usize, u32, u32, usize, u32, u32, bool);

fn pair_key(later: &Entry, earlier: &Entry, identical: bool) -> PairKey {
    let (a, b) = (&later.rule.origin, &earlier.rule.origin);
    (
        later.unit,
        a.file,
        a.stmt,
        earlier.unit,
        b.file,
        b.stmt,
        identical,
    )
}

/// A statement: its unit, file and number.
type StatementKey = (usize, u32, u32);

fn statement_key(e: &Entry) -> StatementKey {
    (e.unit, e.rule.origin.file, e.rule.origin.stmt)
}

/// Clashes between rules of different units (`units[i]` = the rules of
/// file i), one per pair of statements with the number of flow pairs.
pub fn clashes<'a>(units: &[Vec<&'a Rule>]) -> Clashes<'a> {
    clashes_within(units, PARTNERS_PER_FLOW)
}

/// What has been found so far, and how much of it per statement.
#[derive(Default)]
struct Found<'a> {
    clashes: Vec<Clash<'a>>,
    by_pair: HashMap<PairKey, usize>,
    /// Per later statement: how many statements it is reported with, and
    /// its entry in `more` once it has one.
    reported: HashMap<StatementKey, (usize, Option<usize>)>,
    more: Vec<More<'a>>,
}

impl<'a> Found<'a> {
    /// Counts the clashing pair `e`, `o` (of different units).
    fn add(&mut self, e: &Entry<'a>, o: &Entry<'a>) {
        let (later, earlier) = if o.unit < e.unit { (e, o) } else { (o, e) };
        let identical = e.sel == o.sel;
        let peers_differ = e.peer() != o.peer();
        let key = pair_key(later, earlier, identical);
        if let Some(&k) = self.by_pair.get(&key) {
            self.clashes[k].pairs += 1;
            self.clashes[k].peers_differ |= peers_differ;
            return;
        }
        let reported = self.reported.entry(statement_key(later)).or_default();
        if reported.0 < STATEMENTS_PER_STATEMENT {
            reported.0 += 1;
            self.by_pair.insert(key, self.clashes.len());
            self.clashes.push(Clash {
                unit: later.unit,
                rule: later.rule,
                other_unit: earlier.unit,
                other: earlier.rule,
                selector: later.sel.clone(),
                identical,
                peers_differ,
                pairs: 1,
            });
            return;
        }
        let at = *reported.1.get_or_insert_with(|| {
            self.more.push(More {
                unit: later.unit,
                rule: later.rule,
                pairs: 0,
                identical: false,
            });
            self.more.len() - 1
        });
        self.more[at].pairs += 1;
        self.more[at].identical |= identical;
    }
}

/// [`clashes`], comparing each flow with at most `per_flow` others.
fn clashes_within<'a>(units: &[Vec<&'a Rule>], per_flow: usize) -> Clashes<'a> {
    let entries = entries(units);
    let index = Index::new(&entries);
    let mut found = Found::default();
    let mut cut: Vec<(usize, &'a Rule)> = Vec::new();
    let mut cut_statements = std::collections::HashSet::new();
    for (i, e) in entries.iter().enumerate() {
        let mut looked_at = 0usize;
        let complete = index.overlapping(e, &mut |j, same_dst| {
            // each pair once: from the contained one, or the later
            if j == i || (same_dst && j > i) {
                return true;
            }
            looked_at += 1;
            if looked_at > per_flow {
                return false;
            }
            let o = &entries[j];
            if mirrored(e, o) {
                return true;
            }
            debug_assert!(overlap(e.v4(), e.src(), o.src()) && overlap(e.v4(), e.dst(), o.dst()));
            if clash_between(e, o) {
                found.add(e, o);
            }
            true
        });
        // with one file there is no other to have missed
        if !complete && units.len() > 1 && cut_statements.insert(statement_key(e)) {
            cut.push((e.unit, e.rule));
        }
    }
    Clashes {
        found: found.clashes,
        more: found.more,
        cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::{Options, compile_text};
    use crate::system::names::Names;

    /// Rules of `text`, which must compile.
    fn rules(text: &str) -> Vec<Rule> {
        let names = Names::default();
        let opts = Options {
            root: Default::default(),
            check_secrecy: false,
            names: &names,
            hostname: "gw".into(),
            main_local: true,
            keys: None,
        };
        let c = compile_text("t", text.as_bytes().to_vec(), &opts);
        assert!(!c.has_errors(), "{:?}", c.diags);
        c.rules
    }

    /// Flow pairs of different units that overlap, by looking at all pairs.
    fn every_pair(units: &[Vec<&Rule>]) -> usize {
        let entries = entries(units);
        let mut n = 0;
        for (i, e) in entries.iter().enumerate() {
            for o in &entries[..i] {
                if e.sel.direction == o.sel.direction
                    && e.v4() == o.v4()
                    && overlap(e.v4(), e.src(), o.src())
                    && overlap(e.v4(), e.dst(), o.dst())
                    && clash_between(e, o)
                    && !mirrored(e, o)
                {
                    n += 1;
                }
            }
        }
        n
    }

    #[test]
    fn the_index_finds_what_looking_at_every_pair_finds() {
        // nested, equal, disjoint and shared networks, ports and protocols
        let nets = [
            "10.0.0.0/8",
            "10.0.0.0/16",
            "10.0.0.0/24",
            "10.0.1.0/24",
            "10.1.0.0/16",
            "10.0.0.1",
            "0.0.0.0/0",
        ];
        let mut units_text = [String::new(), String::new(), String::new()];
        let mut k = 0;
        for (i, a) in nets.iter().enumerate() {
            for (j, b) in nets.iter().enumerate() {
                let unit = &mut units_text[(i * 7 + j * 3) % 3];
                let proto = ["", " proto tcp", " proto udp"][k % 3];
                let port = if k % 5 == 1 && !proto.is_empty() {
                    " port 22"
                } else {
                    ""
                };
                let text = if k % 2 == 0 {
                    format!(
                        "ike esp{proto} from {a}{port} to {b} peer 192.0.2.{}\n",
                        k % 4 + 1
                    )
                } else {
                    format!("flow esp{proto} from {a} to {b}{port} peer 192.0.2.1\n")
                };
                unit.push_str(&text);
                k += 1;
            }
        }
        let compiled: Vec<Vec<Rule>> = units_text.iter().map(|t| rules(t)).collect();
        let units: Vec<Vec<&Rule>> = compiled.iter().map(|u| u.iter().collect()).collect();
        let found = clashes(&units);
        assert!(found.cut.is_empty());
        let counted: usize = found.found.iter().map(|c| c.pairs).sum::<usize>()
            + found.more.iter().map(|m| m.pairs).sum::<usize>();
        let want = every_pair(&units);
        assert!(want > 100, "{want}");
        assert_eq!(counted, want);
    }

    #[test]
    fn one_finding_per_pair_of_statements() {
        let a = rules(
            "ike esp from { 10.0.0.0/24, 10.0.1.0/24 } to { 10.9.0.0/24, 10.9.1.0/24, 10.9.2.0/24 } peer 192.0.2.1\n",
        );
        let b = rules("ike esp from 10.0.0.0/16 to 10.9.0.0/16 peer 192.0.2.2\n");
        let units = vec![a.iter().collect(), b.iter().collect()];
        let found = clashes(&units);
        assert_eq!(found.found.len(), 1);
        let c = &found.found[0];
        // six rules of a, each overlapping the one of b (counted once, not
        // again for the inbound direction)
        assert_eq!((c.pairs, c.identical, c.peers_differ), (6, false, true));
        assert_eq!((c.unit, c.other_unit), (1, 0));
        // each flow of a lies inside b's, and finds it: compared with no
        // other flow, a's statement says it was cut short
        let cut = clashes_within(&units, 0);
        assert_eq!(cut.cut.len(), 1);
        assert_eq!(cut.cut[0].0, 0);
        assert!(cut.found.is_empty());
        assert!(clashes_within(&units, 1).cut.is_empty());
    }

    #[test]
    fn a_statement_clashing_with_every_file_stays_linear() {
        // 3000 files holding one and the same flow: 4.5 million pairs
        let one = rules("flow esp from 10.0.0.0/24 to 10.9.0.0/24 peer 192.0.2.1\n");
        let units: Vec<Vec<&Rule>> = (0..3000).map(|_| one.iter().collect()).collect();
        let found = clashes(&units);
        // each later file is told, with the first files it clashes with,
        // and the rest counted together
        assert!(
            found.found.len() <= STATEMENTS_PER_STATEMENT * units.len(),
            "{}",
            found.found.len()
        );
        let mut told: Vec<usize> = found.found.iter().map(|c| c.unit).collect();
        told.sort_unstable();
        told.dedup();
        assert_eq!(told.len(), units.len() - 1);
        assert!(found.found.iter().all(|c| c.identical && c.other_unit < 8));
        let last = found.more.iter().find(|m| m.unit == 2999).unwrap();
        assert!(last.identical && last.pairs > 0);
        // later files have more overlapping flows than are compared
        assert!(!found.cut.is_empty());
        assert!(found.cut.iter().all(|&(u, _)| u > PARTNERS_PER_FLOW));
    }

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
