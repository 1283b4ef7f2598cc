//! `ipsecmgr status [NAME]`: the live state of each fragment's tunnels, from
//! `ipsecctl -sa` and isakmpd's `S` report, and what is live that no
//! fragment accounts for.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::cli::StatusArgs;
use crate::commands::{EXIT_CONFIG, EXIT_OK};
use crate::emit::ipsecctl::addr;
use crate::manager::fragments;
use crate::manager::gateway::Gateway;
use crate::manager::sections::ike_sections;
use crate::manager::teardown::ikes;
use crate::manager::tree::Tree;
use crate::rules::model::{Rule, RuleKind};
use crate::system::ipsecctl::Ipsecctl;
use crate::system::report::{self, IsakmpdSa, KernelState};

/// How long isakmpd has to write its report.
const REPORT_WAIT: Duration = Duration::from_secs(3);

#[derive(Serialize)]
struct Tunnel {
    phase2: String,
    phase1: String,
    /// up, phase1-only (half up), or down
    state: &'static str,
}

#[derive(Serialize)]
struct FragmentState {
    name: String,
    tunnels: Vec<Tunnel>,
    /// flow rules (not from ike) and whether the kernel has them
    flows_loaded: usize,
    flows: usize,
}

#[derive(Serialize)]
struct Status {
    fragments: Vec<FragmentState>,
    unaccounted_isakmpd_sas: Vec<String>,
    unaccounted_flows: Vec<String>,
    unaccounted_sas: Vec<String>,
}

fn tunnel_state(sas: &[IsakmpdSa], p1: &str, p2: &str, peer: Option<&str>) -> &'static str {
    if sas.iter().any(|s| s.phase == 2 && s.name == p2) {
        "up"
    } else if sas
        .iter()
        .any(|s| s.phase == 1 && (s.name == p1 || (peer.is_some() && s.dst.as_deref() == peer)))
    {
        "phase1-only"
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

fn gather(
    gw: &Gateway,
    tree: &Tree,
    only: Option<&str>,
    kernel: &KernelState,
    sas: &[IsakmpdSa],
) -> Status {
    let mut known_names: HashSet<String> = HashSet::new();
    let mut known_flows: HashSet<(String, String, String)> = HashSet::new();
    let mut known_peers: HashSet<String> = HashSet::new();
    for r in &tree.compiled.rules {
        known_flows.extend(flow_keys(r));
        let peer = match &r.kind {
            RuleKind::Ike(i) => i.peer.as_ref().map(addr),
            RuleKind::Flow(f) => f.peer.as_ref().map(addr),
            RuleKind::Sa(s) => Some(addr(&s.dst)),
            RuleKind::Bundle(_) => None,
        };
        known_peers.extend(peer);
    }
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
    let loaded: Vec<_> = tree
        .fragments
        .iter()
        .map(|f| fragments::loaded(gw, tree, &f.name).ok())
        .collect();
    let mut fragments = Vec::new();
    for (f, l) in tree.fragments.iter().zip(&loaded) {
        let rules: Vec<&Rule> = match l {
            Some(l) => l.rules(tree),
            None => tree.rules_of(f).collect(),
        };
        let mut tunnels = Vec::new();
        for ike in ikes(rules.iter().copied()) {
            let s = ike_sections(ike);
            known_names.insert(s.phase1.clone());
            known_names.insert(s.phase2.clone());
            let state = tunnel_state(sas, &s.phase1, &s.phase2, s.peer_address.as_deref());
            tunnels.push(Tunnel {
                phase2: s.phase2,
                phase1: s.phase1,
                state,
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
        if only.is_none_or(|n| n == f.name) {
            fragments.push(FragmentState {
                name: f.name.clone(),
                tunnels,
                flows_loaded,
                flows: flow_rules.len(),
            });
        }
    }
    for ike in ikes(tree.main_rules.iter().map(|&i| &tree.compiled.rules[i])) {
        let s = ike_sections(ike);
        known_names.insert(s.phase1);
        known_names.insert(s.phase2);
    }
    Status {
        fragments,
        unaccounted_isakmpd_sas: sas
            .iter()
            .filter(|s| !known_names.contains(&s.name))
            .filter(|s| s.dst.as_ref().is_none_or(|d| !known_peers.contains(d)) || s.phase == 2)
            .map(|s| format!("{} (phase {})", s.name, s.phase))
            .collect(),
        unaccounted_flows: kernel
            .flows
            .iter()
            .filter(|f| {
                let k = (
                    f.direction.clone().unwrap_or_default(),
                    f.src.clone(),
                    f.dst.clone(),
                );
                !known_flows.contains(&k)
            })
            .map(|f| f.line.clone())
            .collect(),
        unaccounted_sas: kernel
            .sas
            .iter()
            .filter(|s| !known_peers.contains(&s.dst) && !known_peers.contains(&s.src))
            .map(|s| s.line.clone())
            .collect(),
    }
}

pub fn run(gw: &Gateway, args: &StatusArgs) -> i32 {
    crate::commands::manage::warn_pending(gw);
    let tree = Tree::load(gw);
    let only = match &args.name {
        Some(n) => match fragments::resolve(gw, n) {
            Ok(name) if tree.fragment(&name).is_some() => Some(name),
            Ok(name) => {
                crate::errln!("ipsecmgr: status: no fragment {name}");
                return EXIT_CONFIG;
            }
            Err(e) => {
                crate::errln!("ipsecmgr: status: {e}");
                return EXIT_CONFIG;
            }
        },
        None => None,
    };
    let shown = match Ipsecctl::new(&gw.ipsecctl).run(&["-sa".to_string()]) {
        Ok(o) if o.success => o.stdout,
        Ok(o) => {
            crate::errln!(
                "ipsecmgr: status: ipsecctl -sa failed: {}",
                o.stderr.trim_end()
            );
            return EXIT_CONFIG;
        }
        Err(e) => {
            crate::errln!("ipsecmgr: status: {e}");
            return EXIT_CONFIG;
        }
    };
    let kernel = report::parse_show_all(&shown);
    let sas = match report::isakmpd_report(&gw.fifo, &gw.result, REPORT_WAIT) {
        Ok(text) => report::parse_sa_report(&text),
        Err(e) => {
            crate::errln!("ipsecmgr: status: {e}");
            return EXIT_CONFIG;
        }
    };
    let status = gather(gw, &tree, only.as_deref(), &kernel, &sas);
    if args.json {
        crate::outln!("{}", crate::json::object(&status));
        return EXIT_OK;
    }
    let mut out = String::new();
    for f in &status.fragments {
        let _ = writeln!(out, "{}:", f.name);
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
    let lists = [
        (
            "isakmpd SAs no fragment accounts for",
            &status.unaccounted_isakmpd_sas,
        ),
        ("flows no fragment accounts for", &status.unaccounted_flows),
        ("SAs no fragment accounts for", &status.unaccounted_sas),
    ];
    for (title, items) in lists {
        if only.is_none() && !items.is_empty() {
            let _ = writeln!(out, "{title}:");
            for i in items {
                let _ = writeln!(out, "  {i}");
            }
        }
    }
    crate::out!("{out}");
    EXIT_OK
}
