//! The live state of each fragment's tunnels, for `status`: from
//! `ipsecctl -sa` and isakmpd's `S` report, what is live that no fragment
//! accounts for, and how isakmpd's connection list differs from the
//! fragments' (drift).

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;

use crate::compiler::Compiled;
use crate::emit::ipsecctl::addr;
use crate::escape::escaped;
use crate::manager::accounted::{self, FlowKey, Known, Strays, flow_keys, rule_peer};
use crate::manager::drift::{Drift, Lists, drift};
use crate::manager::fragments;
use crate::manager::gateway::Gateway;
use crate::manager::sections::ike_sections;
use crate::manager::state;
use crate::manager::teardown::ikes;
use crate::manager::tree::{Fragment, Tree};
use crate::manager::tunnel_state::{SaIndex, TunnelFacts, tunnel_state};
use crate::rules::model::{Rule, RuleKind};
use crate::system::report::{self, IsakmpdSa, KernelState};

/// How long isakmpd has to write its report.
const REPORT_WAIT: Duration = Duration::from_secs(3);

/// How long isakmpd has to answer `C get`, once it has answered `S`: it
/// reads its FIFO in order, so the answer follows at once.
const GET_WAIT: Duration = Duration::from_secs(1);

#[derive(Serialize)]
pub struct Tunnel {
    pub phase2: String,
    pub phase1: String,
    /// up, not-installed, flows-only, negotiating, phase1-only (half up),
    /// or down (see manager::tunnel_state)
    pub state: &'static str,
}

#[derive(Serialize)]
pub struct FragmentState {
    pub name: String,
    /// taken down with `down`, to stay down until `up`
    pub held_down: bool,
    pub tunnels: Vec<Tunnel>,
    /// flow rules (not from ike) and whether the kernel has them
    pub flows_loaded: usize,
    pub flows: usize,
    /// ipsec.conf includes it, but its file does not exist
    pub missing: bool,
    /// no longer included (`rm --config-only`), yet still loaded: its
    /// tunnels are those of its applied copy
    pub removed: bool,
    /// ipsec.conf includes it, but it cannot be read: why
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// For a fragment with rules authenticated by certificates: when the
    /// first of the certificates they rely on expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificates: Option<CertExpiry>,
}

/// When a fragment's certificates expire (see [`crate::gateway::certs`]).
#[derive(Serialize)]
pub struct CertExpiry {
    /// The date the first of them expires (`2027-01-05`), when one was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The certificate that expires first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Whole days from now; negative once expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    /// What is wrong with them, as `lint` says it (L208), first problem only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// When the certificates `rules` rely on expire, if any rule uses them.
fn cert_expiry(reader: &mut crate::gateway::certs::Reader, rules: &[&Rule]) -> Option<CertExpiry> {
    let mut checked = crate::gateway::certs::Checked::default();
    let mut any = false;
    for ike in ikes(rules.iter().copied()) {
        if crate::gateway::certs::uses_certificates(ike) {
            any = true;
            let c = reader.check(ike);
            checked.problems.extend(c.problems);
            checked.certs.extend(c.certs);
        }
    }
    if !any {
        return None;
    }
    let first = checked.certs.iter().min_by_key(|c| c.not_after);
    let now = crate::gateway::certs::now();
    Some(CertExpiry {
        expires: first.map(|c| crate::gateway::certs::date(c.not_after)),
        file: first.map(|c| c.shown.clone()),
        days: first.map(|c| (c.not_after - now).div_euclid(86_400)),
        problem: checked.problems.into_iter().next(),
    })
}

impl FragmentState {
    /// An included fragment whose file does not exist: it loads nothing.
    fn missing(name: String) -> Self {
        FragmentState {
            name,
            held_down: false,
            tunnels: Vec::new(),
            flows_loaded: 0,
            flows: 0,
            missing: true,
            removed: false,
            problem: None,
            certificates: None,
        }
    }

    /// An included fragment that cannot be read: it loads nothing either.
    fn unreadable(name: String, problem: String) -> Self {
        FragmentState {
            missing: false,
            problem: Some(problem),
            ..FragmentState::missing(name)
        }
    }
}

/// What `status` reports.
#[derive(Serialize)]
pub struct Status {
    pub fragments: Vec<FragmentState>,
    pub unaccounted_isakmpd_sas: Vec<String>,
    pub unaccounted_flows: Vec<String>,
    pub unaccounted_sas: Vec<String>,
    /// `None` when isakmpd could not be asked.
    pub drift: Option<Drift>,
    /// Phase 1 clean-ups waiting for an exchange in flight to end.
    pub pending_cleanups: Vec<String>,
    /// Why drift was not checked, when it was not.
    #[serde(skip)]
    pub drift_unchecked: Option<String>,
    /// State files that could not be read, said rather than read as empty.
    #[serde(skip)]
    pub problems: Vec<String>,
}

/// Which fragment `status NAME` means: `None` without a NAME; an error
/// when NAME names no fragment ipsec.conf includes.
pub fn only_fragment(
    gw: &Gateway,
    tree: &Tree,
    arg: Option<&str>,
) -> Result<Option<String>, String> {
    let Some(arg) = arg else {
        return Ok(None);
    };
    let name = fragments::resolve(gw, arg)?;
    if tree.fragment(&name).is_some()
        || tree.missing(gw).iter().any(|m| m.name == name)
        || tree.unreadable(gw).iter().any(|m| m.name == name)
        // removed with --config-only and still loaded: a copy not empty
        || std::fs::symlink_metadata(gw.applied_copy(&name)).is_ok_and(|m| m.is_file() && m.len() > 0)
    {
        Ok(Some(name))
    } else {
        Err(format!("no fragment {}", escaped(&name)))
    }
}

/// The live state of the fragments (of `only`, when given).  An error when
/// the kernel's flows and SAs or isakmpd's SAs cannot be read; when only
/// isakmpd's connection list cannot be, drift is left unchecked.
pub fn status(gw: &Gateway, tree: &Tree, only: Option<&str>) -> Result<Status, String> {
    // isakmpd's report first: it answers `S` after every earlier FIFO line
    // and event, and an SA is marked ready and put in the kernel in one
    // call (exchange.c exchange_finalize, ipsec.c ipsec_finalize_exchange:
    // pf_key_v2_set_spi, pf_key_v2_enable_sa), so a kernel read after the
    // report holds what the report calls up.  Read the other way round, a
    // tunnel that came up in between would be called not-installed.
    let sas = report::parse_sa_report(&report::isakmpd_report(&gw.fifo, &gw.result, REPORT_WAIT)?);
    let kernel = report::kernel_state(&gw.ipsecctl, gw.ipsecctl_timeout)?;
    let mut problems = Vec::new();
    let held = state::held_fragments(gw).unwrap_or_else(|e| {
        problems.push(e);
        state::HeldDown::default()
    });
    let (mut status, known) = gather(gw, tree, only, &kernel, &sas, &|name| {
        held.contains_key(name)
    });
    status.problems.splice(0..0, problems);
    match state::pending_cleanups(gw) {
        Ok(pending) => {
            status.pending_cleanups = pending
                .iter()
                .filter(|p| only.is_none_or(|n| n == p.fragment))
                .map(state::describe)
                .collect();
        }
        Err(e) => status.problems.push(e),
    }
    let held_down: HashSet<String> = state::held_down(&held).into_iter().collect();
    match isakmpd_lists(gw) {
        Ok(lists) => status.drift = Some(drift(&known.connections, &held_down, &lists, only)),
        Err(e) => status.drift_unchecked = Some(e),
    }
    Ok(status)
}

/// isakmpd's `[Phase 2]:Connections` and `Passive-Connections`: both make
/// connections (connection.c: connection_init).
fn isakmpd_lists(gw: &Gateway) -> Result<Lists, String> {
    let get = |tag| report::isakmpd_get_list(&gw.fifo, &gw.result, "Phase 2", tag, GET_WAIT);
    Ok(Lists {
        active: get("Connections")?,
        passive: get("Passive-Connections")?,
    })
}

/// The applied copy of a fragment, compiled, if it has one.  Looked up by
/// the fragment itself, not by name: one lookup per fragment keeps status
/// linear in their number.
fn applied(gw: &Gateway, f: &Fragment, problems: &mut Vec<String>) -> Option<Compiled> {
    let text = state::applied_copy(gw, &f.name).unwrap_or_else(|e| {
        problems.push(e);
        None
    })?;
    Some(gw.compile_text(&gw.shown(&gw.applied_copy(&f.name)), &text))
}

/// The rules a fragment loaded: its applied copy's, else its own in the tree.
fn loaded_rules<'a>(tree: &'a Tree, f: &'a Fragment, copy: &'a Option<Compiled>) -> Vec<&'a Rule> {
    match copy {
        Some(c) => c.rules.iter().collect(),
        None => tree.rules_of(f).collect(),
    }
}

/// What a fragment's tunnels are judged by: isakmpd's SAs, the kernel's
/// flows, and whether the fragment is held down.
struct Live<'a> {
    index: SaIndex<'a>,
    flows: HashSet<FlowKey>,
}

/// One fragment's tunnels and flows, as the live state has them; what it
/// accounts for goes into `known`.
fn fragment_state(
    name: &str,
    held_down: bool,
    rules: &[&Rule],
    live: &Live,
    known: &mut Known,
) -> FragmentState {
    let mut tunnels = Vec::new();
    for ike in ikes(rules.iter().copied()) {
        let s = ike_sections(ike);
        known.add_tunnel(Some(name), &s);
        let out_flow = ("out".to_string(), addr(&ike.src), addr(&ike.dst));
        let facts = TunnelFacts {
            phase1: &s.phase1,
            phase2: &s.phase2,
            peer: s.peer_address.as_deref(),
            flow_installed: live.flows.contains(&out_flow),
            active: !s.passive && !held_down,
            held_down,
        };
        tunnels.push(Tunnel {
            state: tunnel_state(&live.index, &facts),
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
        .filter(|r| flow_keys(r).iter().all(|k| live.flows.contains(k)))
        .count();
    FragmentState {
        name: name.to_string(),
        held_down,
        tunnels,
        flows_loaded,
        flows: flow_rules.len(),
        missing: false,
        removed: false,
        problem: None,
        certificates: None,
    }
}

/// The fragments' states and the strays; what the configuration accounts
/// for comes back too, for drift.  Every fragment is accounted for, even
/// with `only`: a stray is what no fragment has.
fn gather(
    gw: &Gateway,
    tree: &Tree,
    only: Option<&str>,
    kernel: &KernelState,
    sas: &[IsakmpdSa],
    held: &dyn Fn(&str) -> bool,
) -> (Status, Known) {
    let live = Live {
        index: SaIndex::new(sas),
        flows: kernel.flows.iter().map(accounted::live_flow_key).collect(),
    };
    let mut known = Known::default();
    known.add_rules(&tree.compiled.rules);
    let mut reported = Reported::new(only);
    let mut problems = Vec::new();
    let mut certs =
        crate::gateway::certs::Reader::new(&gw.settings.certificates, &gw.root, !gw.root.is_set());
    for f in &tree.fragments {
        let copy = applied(gw, f, &mut problems);
        let rules = loaded_rules(tree, f, &copy);
        let mut state = fragment_state(&f.name, held(&f.name), &rules, &live, &mut known);
        if only.is_none_or(|o| o == f.name) {
            state.certificates = cert_expiry(&mut certs, &rules);
        }
        reported.offer(state, &rules);
    }
    let missing = tree.missing(gw);
    let mut listed: Vec<String> = tree.fragments.iter().map(|f| f.name.clone()).collect();
    listed.extend(missing.iter().map(|m| m.name.clone()));
    for m in missing {
        reported.offer(FragmentState::missing(m.name), &[]);
    }
    for u in tree.unreadable(gw) {
        listed.push(u.name.clone());
        reported.offer(FragmentState::unreadable(u.name, u.problem), &[]);
    }
    // out of the tree with `rm --config-only`, still loaded until `rm`
    for (name, text) in state::still_loaded(gw, &listed, &mut problems) {
        let copy = gw.compile_text(&gw.shown(&gw.applied_copy(&name)), &text);
        let rules: Vec<&Rule> = copy.rules.iter().collect();
        let mut state = fragment_state(&name, held(&name), &rules, &live, &mut known);
        state.removed = true;
        reported.offer(state, &rules);
    }
    for ike in ikes(tree.main_rules.iter().map(|&i| &tree.compiled.rules[i])) {
        known.add_tunnel(None, &ike_sections(ike));
    }
    let peers = only.map(|_| &reported.peers);
    let strays = accounted::strays(&known, kernel, sas, peers);
    let mut status = Status::of(reported.fragments, strays);
    status.problems = problems;
    (status, known)
}

/// The fragments `status` reports: every one, or the one NAME names,
/// whose peers then bound the strays listed.
struct Reported<'a> {
    only: Option<&'a str>,
    fragments: Vec<FragmentState>,
    peers: HashSet<String>,
}

impl<'a> Reported<'a> {
    fn new(only: Option<&'a str>) -> Self {
        Reported {
            only,
            fragments: Vec::new(),
            peers: HashSet::new(),
        }
    }

    /// Keeps `state` (of a fragment holding `rules`) when it is reported.
    fn offer(&mut self, state: FragmentState, rules: &[&Rule]) {
        if self.only.is_none_or(|n| n == state.name) {
            if self.only.is_some() {
                self.peers.extend(rules.iter().filter_map(|r| rule_peer(r)));
            }
            self.fragments.push(state);
        }
    }
}

impl Status {
    /// Before what the state directory and isakmpd's lists add.
    fn of(fragments: Vec<FragmentState>, strays: Strays) -> Self {
        Status {
            fragments,
            unaccounted_isakmpd_sas: strays.isakmpd_sas,
            unaccounted_flows: strays.flows,
            unaccounted_sas: strays.kernel_sas,
            drift: None,
            pending_cleanups: Vec::new(),
            drift_unchecked: None,
            problems: Vec::new(),
        }
    }
}
