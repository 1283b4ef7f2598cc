//! `ipsecmgr status [NAME]`: the live state of each fragment's tunnels, from
//! `ipsecctl -sa` and isakmpd's `S` report, what is live that no fragment
//! accounts for, and how isakmpd's connection list differs from the
//! fragments' (drift).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::cli::StatusArgs;
use crate::commands::{EXIT_CONFIG, EXIT_OK};
use crate::compiler::Compiled;
use crate::emit::ipsecctl::addr;
use crate::manager::fragments;
use crate::manager::gateway::Gateway;
use crate::manager::sections::{IkeSections, ike_sections};
use crate::manager::state;
use crate::manager::teardown::ikes;
use crate::manager::tree::{Fragment, Tree};
use crate::rules::model::{Rule, RuleKind};
use crate::system::ipsecctl::Ipsecctl;
use crate::system::report::{self, IsakmpdSa, KernelState};

/// How long isakmpd has to write its report.
const REPORT_WAIT: Duration = Duration::from_secs(3);

/// How long isakmpd has to answer `C get`, once it has answered `S`: it
/// reads its FIFO in order, so the answer follows at once.
const GET_WAIT: Duration = Duration::from_secs(1);

#[derive(Serialize)]
struct Tunnel {
    phase2: String,
    phase1: String,
    /// up, negotiating, phase1-only (half up), or down
    state: &'static str,
}

#[derive(Serialize)]
struct FragmentState {
    name: String,
    /// taken down with `down`, to stay down until `up`
    held_down: bool,
    tunnels: Vec<Tunnel>,
    /// flow rules (not from ike) and whether the kernel has them
    flows_loaded: usize,
    flows: usize,
    /// ipsec.conf includes it, but its file does not exist
    missing: bool,
}

/// A connection and the fragment it belongs to.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub fragment: String,
    pub connection: String,
}

/// How isakmpd's `[Phase 2]:Connections` differs from the fragments'.
#[derive(Serialize, Debug, Default, PartialEq, Eq)]
pub struct Drift {
    /// Connections isakmpd holds that no fragment (nor ipsec.conf) has.
    pub unknown: Vec<String>,
    /// Fragments' connections isakmpd does not hold.
    pub missing: Vec<Connection>,
    /// Connections held down that isakmpd holds again.
    pub held_down_active: Vec<Connection>,
}

#[derive(Serialize)]
struct Status {
    fragments: Vec<FragmentState>,
    unaccounted_isakmpd_sas: Vec<String>,
    unaccounted_flows: Vec<String>,
    unaccounted_sas: Vec<String>,
    /// `None` when isakmpd could not be asked.
    drift: Option<Drift>,
    /// Phase 1 clean-ups waiting for an exchange in flight to end.
    pending_cleanups: Vec<String>,
}

/// isakmpd's SAs, looked up by name and by peer.
struct SaIndex<'a> {
    by_name: HashMap<&'a str, Vec<&'a IsakmpdSa>>,
    phase1_by_peer: HashMap<&'a str, Vec<&'a IsakmpdSa>>,
}

impl<'a> SaIndex<'a> {
    fn new(sas: &'a [IsakmpdSa]) -> Self {
        let mut index = SaIndex {
            by_name: HashMap::new(),
            phase1_by_peer: HashMap::new(),
        };
        for sa in sas {
            index.by_name.entry(sa.name.as_str()).or_default().push(sa);
            if let (1, Some(dst)) = (sa.phase, sa.dst.as_deref()) {
                index.phase1_by_peer.entry(dst).or_default().push(sa);
            }
        }
        index
    }

    fn named(&self, phase: u8, name: &str) -> Vec<&'a IsakmpdSa> {
        let all = self.by_name.get(name).map_or(&[][..], Vec::as_slice);
        all.iter().filter(|s| s.phase == phase).copied().collect()
    }

    /// The phase 1 SAs of a tunnel: by its phase 1 name, or to its peer
    /// (an SA the peer started is named after `[Phase 1]:<address>`, or
    /// not at all while it negotiates).
    fn phase1(&self, name: &str, peer: Option<&str>) -> Vec<&'a IsakmpdSa> {
        let mut found = self.named(1, name);
        if let Some(list) = peer.and_then(|p| self.phase1_by_peer.get(p)) {
            found.extend(list.iter().filter(|s| s.name != name));
        }
        found
    }
}

/// A tunnel's state.  Only the ready flag (sa.h: SA_FLAG_READY, set when
/// the exchange finished) means established; an SA without it is still
/// being negotiated.  An SA a rekey replaced still carries traffic until
/// it expires.
fn tunnel_state(index: &SaIndex, phase1: &str, phase2: &str, peer: Option<&str>) -> &'static str {
    let phase2 = index.named(2, phase2);
    let phase1 = index.phase1(phase1, peer);
    if phase2.iter().any(|sa| sa.ready()) {
        "up"
    } else if !phase2.is_empty() {
        "negotiating"
    } else if phase1.iter().any(|sa| sa.ready()) {
        "phase1-only"
    } else if !phase1.is_empty() {
        "negotiating"
    } else {
        "down"
    }
}

/// (direction, source, destination) as `ipsecctl -sa` prints a flow.
fn flow_keys(rule: &Rule) -> Vec<(String, String, String)> {
    match &rule.kind {
        RuleKind::Flow(f) => vec![(f.direction.to_string(), addr(&f.src), addr(&f.dst))],
        RuleKind::Ike(i) => vec![
            ("out".into(), addr(&i.src), addr(&i.dst)),
            ("in".into(), addr(&i.dst), addr(&i.src)),
        ],
        _ => Vec::new(),
    }
}

fn rule_peer(r: &Rule) -> Option<String> {
    match &r.kind {
        RuleKind::Ike(i) => i.peer.as_ref().map(addr),
        RuleKind::Flow(f) => f.peer.as_ref().map(addr),
        RuleKind::Sa(s) => Some(addr(&s.dst)),
        RuleKind::Bundle(_) => None,
    }
}

/// The applied copy of a fragment, compiled, if it has one.  Looked up by
/// the fragment itself, not by name: one lookup per fragment keeps status
/// linear in their number.
fn applied(gw: &Gateway, f: &Fragment) -> Option<Compiled> {
    let copy = gw.applied_copy(&f.name);
    let text = std::fs::read(&copy).ok()?;
    Some(gw.compile_text(&gw.shown(&copy), &text))
}

/// The rules a fragment loaded: its applied copy's, else its own in the tree.
fn loaded_rules<'a>(tree: &'a Tree, f: &'a Fragment, copy: &'a Option<Compiled>) -> Vec<&'a Rule> {
    match copy {
        Some(c) => c.rules.iter().collect(),
        None => tree.rules_of(f).collect(),
    }
}

/// What the fragments and ipsec.conf account for.
#[derive(Default)]
struct Known {
    names: HashSet<String>,
    flows: HashSet<(String, String, String)>,
    peers: HashSet<String>,
    /// Every connection, with its fragment (`None`: ipsec.conf itself)
    /// and whether it is passive.
    connections: Vec<(Option<String>, String, bool)>,
}

impl Known {
    fn add_rules<'a>(&mut self, rules: impl IntoIterator<Item = &'a Rule>) {
        for r in rules {
            self.flows.extend(flow_keys(r));
            self.peers.extend(rule_peer(r));
        }
    }

    fn add_tunnel(&mut self, fragment: Option<&str>, s: &IkeSections) {
        self.names.insert(s.phase1.clone());
        self.names.insert(s.phase2.clone());
        self.connections
            .push((fragment.map(str::to_string), s.phase2.clone(), s.passive));
    }
}

/// The flows, SAs and isakmpd SAs that no fragment accounts for.  With
/// `only`, just those to that fragment's peers.
fn strays(
    known: &Known,
    kernel: &KernelState,
    sas: &[IsakmpdSa],
    only_peers: Option<&HashSet<String>>,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let related = |peers: &[Option<&str>]| {
        only_peers.is_none_or(|own| peers.iter().flatten().any(|p| own.contains(*p)))
    };
    let isakmpd = sas
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
        .filter(|f| {
            let k = (
                f.direction.clone().unwrap_or_default(),
                f.src.clone(),
                f.dst.clone(),
            );
            !known.flows.contains(&k)
        })
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
    (isakmpd, flows, kernel_sas)
}

/// Compares isakmpd's `[Phase 2]:Connections` with the connections the
/// fragments (and ipsec.conf) have.  Passive connections are listed under
/// `Passive-Connections` instead, so they are never missing from it.
/// `held_down`: connections taken down to stay down; isakmpd holding one
/// again means something reloaded it.  With `only`, just that fragment's.
pub fn drift(
    expected: &[(Option<String>, String, bool)],
    held_down: &HashSet<String>,
    isakmpd: &[String],
    only: Option<&str>,
) -> Drift {
    let held: HashSet<&str> = isakmpd.iter().map(String::as_str).collect();
    let known: HashSet<&str> = expected.iter().map(|(_, c, _)| c.as_str()).collect();
    let wanted = |fragment: &Option<String>| only.is_none_or(|n| fragment.as_deref() == Some(n));
    let mut d = Drift::default();
    if only.is_none() {
        d.unknown = isakmpd
            .iter()
            .filter(|c| !known.contains(c.as_str()))
            .cloned()
            .collect();
    }
    for (fragment, connection, passive) in expected.iter().filter(|(f, _, _)| wanted(f)) {
        let entry = || Connection {
            fragment: fragment.clone().unwrap_or_default(),
            connection: connection.clone(),
        };
        let holds = held.contains(connection.as_str());
        if held_down.contains(connection) {
            if holds {
                d.held_down_active.push(entry());
            }
        } else if !holds && !passive {
            d.missing.push(entry());
        }
    }
    d
}

/// isakmpd's `[Phase 2]:Connections`, as the list isakmpd reads from it
/// (conf.c: conf_get_list splits at commas and trims blanks).
fn isakmpd_connections(gw: &Gateway) -> Result<Vec<String>, String> {
    let value = report::isakmpd_get(&gw.fifo, &gw.result, "Phase 2", "Connections", GET_WAIT)?;
    Ok(value
        .unwrap_or_default()
        .split(',')
        .map(|c| c.trim_matches([' ', '\t']).to_string())
        .filter(|c| !c.is_empty())
        .collect())
}

/// One fragment's tunnels and flows, as the live state has them; what it
/// accounts for goes into `known`.
fn fragment_state(
    name: &str,
    rules: &[&Rule],
    index: &SaIndex,
    live: &HashSet<(String, String, String)>,
    known: &mut Known,
) -> FragmentState {
    let mut tunnels = Vec::new();
    for ike in ikes(rules.iter().copied()) {
        let s = ike_sections(ike);
        known.add_tunnel(Some(name), &s);
        tunnels.push(Tunnel {
            state: tunnel_state(index, &s.phase1, &s.phase2, s.peer_address.as_deref()),
            phase2: s.phase2,
            phase1: s.phase1,
        });
    }
    let flow_rules: Vec<&&Rule> = rules
        .iter()
        .filter(|r| matches!(r.kind, RuleKind::Flow(_)))
        .collect();
    let flows_loaded = flow_rules
        .iter()
        .filter(|r| flow_keys(r).iter().all(|k| live.contains(k)))
        .count();
    FragmentState {
        name: name.to_string(),
        held_down: false,
        tunnels,
        flows_loaded,
        flows: flow_rules.len(),
        missing: false,
    }
}

fn gather(
    gw: &Gateway,
    tree: &Tree,
    only: Option<&str>,
    kernel: &KernelState,
    sas: &[IsakmpdSa],
) -> (Status, Known) {
    let index = SaIndex::new(sas);
    let live: HashSet<(String, String, String)> = kernel
        .flows
        .iter()
        .map(|f| {
            (
                f.direction.clone().unwrap_or_default(),
                f.src.clone(),
                f.dst.clone(),
            )
        })
        .collect();
    let mut known = Known::default();
    known.add_rules(&tree.compiled.rules);
    let mut fragments = Vec::new();
    let mut only_peers = HashSet::new();
    for f in &tree.fragments {
        let copy = applied(gw, f);
        let rules = loaded_rules(tree, f, &copy);
        let state = fragment_state(&f.name, &rules, &index, &live, &mut known);
        if only.is_none_or(|n| n == f.name) {
            if only.is_some() {
                only_peers.extend(rules.iter().filter_map(|r| rule_peer(r)));
            }
            fragments.push(state);
        }
    }
    for m in tree.missing(gw) {
        if only.is_none_or(|n| n == m.name) {
            fragments.push(FragmentState {
                name: m.name,
                held_down: false,
                tunnels: Vec::new(),
                flows_loaded: 0,
                flows: 0,
                missing: true,
            });
        }
    }
    for ike in ikes(tree.main_rules.iter().map(|&i| &tree.compiled.rules[i])) {
        known.add_tunnel(None, &ike_sections(ike));
    }
    let (isakmpd, flows, kernel_sas) = strays(&known, kernel, sas, only.map(|_| &only_peers));
    let status = Status {
        fragments,
        unaccounted_isakmpd_sas: isakmpd,
        unaccounted_flows: flows,
        unaccounted_sas: kernel_sas,
        drift: None,
        pending_cleanups: Vec::new(),
    };
    (status, known)
}

fn render_text(status: &Status) -> String {
    let mut out = String::new();
    for f in &status.fragments {
        let held = if f.held_down { "  (held down)" } else { "" };
        let _ = writeln!(out, "{}:{held}", f.name);
        if f.missing {
            let _ = writeln!(
                out,
                "  missing     its file does not exist; it loads nothing"
            );
        }
        for t in &f.tunnels {
            let _ = writeln!(out, "  {:<11} {}  ({})", t.state, t.phase2, t.phase1);
        }
        if f.flows > 0 {
            let _ = writeln!(
                out,
                "  flows       {} of {} loaded",
                f.flows_loaded, f.flows
            );
        }
    }
    let named = |cs: &[Connection]| -> Vec<String> {
        cs.iter()
            .map(|c| {
                let from = if c.fragment.is_empty() {
                    "ipsec.conf"
                } else {
                    &c.fragment
                };
                format!("{}  ({from})", c.connection)
            })
            .collect()
    };
    let drift = status.drift.as_ref();
    let lists = [
        (
            "isakmpd SAs no fragment accounts for",
            status.unaccounted_isakmpd_sas.clone(),
        ),
        (
            "flows no fragment accounts for",
            status.unaccounted_flows.clone(),
        ),
        (
            "SAs no fragment accounts for",
            status.unaccounted_sas.clone(),
        ),
        (
            "connections isakmpd holds that no fragment has",
            drift.map(|d| d.unknown.clone()).unwrap_or_default(),
        ),
        (
            "connections isakmpd does not hold",
            drift.map(|d| named(&d.missing)).unwrap_or_default(),
        ),
        (
            "held down but active again",
            drift
                .map(|d| named(&d.held_down_active))
                .unwrap_or_default(),
        ),
        ("pending clean-ups", status.pending_cleanups.clone()),
    ];
    for (title, items) in lists {
        if !items.is_empty() {
            let _ = writeln!(out, "{title}:");
            for i in items {
                let _ = writeln!(out, "  {i}");
            }
        }
    }
    out
}

/// Which fragment `status NAME` means; `Err` is the exit status.
fn only_fragment(gw: &Gateway, tree: &Tree, args: &StatusArgs) -> Result<Option<String>, i32> {
    let Some(n) = &args.name else {
        return Ok(None);
    };
    match fragments::resolve(gw, n) {
        Ok(name)
            if tree.fragment(&name).is_some()
                || tree.missing(gw).iter().any(|m| m.name == name) =>
        {
            Ok(Some(name))
        }
        Ok(name) => {
            crate::errln!(
                "ipsecmgr: status: no fragment {}",
                crate::escape::escaped(&name)
            );
            Err(EXIT_CONFIG)
        }
        Err(e) => {
            crate::errln!("ipsecmgr: status: {}", crate::escape::escaped_lines(&e));
            Err(EXIT_CONFIG)
        }
    }
}

/// The kernel's flows and SAs (`ipsecctl -sa`).
fn kernel_state(gw: &Gateway) -> Result<KernelState, String> {
    let mut ctl = Ipsecctl::new(&gw.ipsecctl);
    ctl.timeout = gw.ipsecctl_timeout;
    match ctl.run(&["-sa".to_string()]) {
        Ok(o) if o.success => Ok(report::parse_show_all(&o.stdout)),
        Ok(o) => Err(format!("ipsecctl -sa failed: {}", o.failure())),
        Err(e) => Err(e),
    }
}

pub fn run(gw: &Gateway, args: &StatusArgs) -> i32 {
    crate::commands::manage::warn_pending(gw);
    let tree = Tree::load(gw);
    let only = match only_fragment(gw, &tree, args) {
        Ok(only) => only,
        Err(code) => return code,
    };
    let kernel = match kernel_state(gw) {
        Ok(k) => k,
        Err(e) => {
            crate::errln!("ipsecmgr: status: {}", crate::escape::escaped_lines(&e));
            return EXIT_CONFIG;
        }
    };
    let sas = match report::isakmpd_report(&gw.fifo, &gw.result, REPORT_WAIT) {
        Ok(bytes) => report::parse_sa_report(&bytes),
        Err(e) => {
            crate::errln!("ipsecmgr: status: {}", crate::escape::escaped_lines(&e));
            return EXIT_CONFIG;
        }
    };
    let (mut status, known) = gather(gw, &tree, only.as_deref(), &kernel, &sas);
    let held = state::held_fragments(gw);
    for f in &mut status.fragments {
        f.held_down = held.contains_key(&f.name);
    }
    status.pending_cleanups = state::pending_cleanups(gw)
        .iter()
        .filter(|p| only.as_deref().is_none_or(|n| n == p.fragment))
        .map(state::describe)
        .collect();
    let held_down: HashSet<String> = state::held_down(gw).into_iter().collect();
    match isakmpd_connections(gw) {
        Ok(list) => {
            status.drift = Some(drift(
                &known.connections,
                &held_down,
                &list,
                only.as_deref(),
            ));
        }
        Err(e) => crate::errln!("ipsecmgr: status: warning: drift not checked: {e}"),
    }
    if args.json {
        crate::outln!("{}", crate::json::object(&status));
        return EXIT_OK;
    }
    crate::out!("{}", crate::escape::escaped_lines(&render_text(&status)));
    EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(name: &str, phase: u8, dst: &str, flags: u32) -> IsakmpdSa {
        IsakmpdSa {
            name: name.into(),
            phase,
            src: Some("192.0.2.1".into()),
            dst: Some(dst.into()),
            flags: Some(flags),
        }
    }

    #[test]
    fn drift_both_ways_and_held_down() {
        let expected = vec![
            (Some("a".to_string()), "c1".to_string(), false),
            (Some("a".to_string()), "c2".to_string(), false),
            (Some("b".to_string()), "p1".to_string(), true),
            (Some("b".to_string()), "c3".to_string(), false),
        ];
        let held: HashSet<String> = ["c3".to_string()].into();
        let d = drift(
            &expected,
            &held,
            &["c1".into(), "x".into(), "c3".into()],
            None,
        );
        assert_eq!(d.unknown, ["x"]);
        assert_eq!(d.missing.len(), 1);
        assert_eq!(d.missing[0].connection, "c2");
        assert_eq!(d.held_down_active[0].connection, "c3");
        let d = drift(&expected, &held, &["x".into()], Some("b"));
        assert!(d.unknown.is_empty() && d.missing.is_empty() && d.held_down_active.is_empty());
    }

    #[test]
    fn only_the_ready_flag_means_up() {
        let sas = vec![
            sa("peer-198.51.2.1", 1, "198.51.2.1", 0x01),
            sa("p2", 2, "198.51.2.1", 0x00),
        ];
        let index = SaIndex::new(&sas);
        let state =
            |index: &SaIndex| tunnel_state(index, "peer-198.51.2.1", "p2", Some("198.51.2.1"));
        assert_eq!(state(&index), "negotiating");
        let sas = vec![sa("peer-198.51.2.1", 1, "198.51.2.1", 0x00)];
        assert_eq!(state(&SaIndex::new(&sas)), "negotiating");
        let sas = vec![sa("peer-198.51.2.1", 1, "198.51.2.1", 0x01)];
        assert_eq!(state(&SaIndex::new(&sas)), "phase1-only");
        let sas = vec![sa("p2", 2, "198.51.2.1", 0x09)];
        assert_eq!(state(&SaIndex::new(&sas)), "up");
        assert_eq!(state(&SaIndex::new(&[])), "down");
    }
}
