//! The property of live operations, on isakmpd's own conf.c/ui.c: for
//! generated gateway trees and random sequences of add / rm / apply /
//! down / up, after each command isakmpd's database (everything the FIFO
//! received, replayed) equals a fresh load, in include order, of exactly
//! what should be loaded, with held-down fragments' connections off
//! `[Phase 2]:Connections` / `Passive-Connections`.
//!
//! Trees mix shared peers, one peer address under several local
//! addresses, shared networks (so shared ID sections), IPv6, `peer any`
//! (the default peer), passive and dynamic rules. A seeded generator:
//! `PROPERTY_SEED=N` replays one case, `PROPERTY_CASES=N` sets how many
//! run (default 500), one gateway per case, as many at once as there are
//! cores. A failure is shrunk and printed as a reproduction, one for each
//! kind of command that broke the property.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use common::*;

/// A small deterministic generator (xorshift64*), so a seed is a case.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A phase 1 peer as ipsecctl names it: every rule using one profile
/// gives the same `[peer-...]` sections, so they never conflict.
#[derive(Clone, Copy)]
struct Profile {
    peer: &'static str,
    local: Option<&'static str>,
    v6: bool,
    dynamic: bool,
}

const PROFILES: [Profile; 8] = [
    Profile {
        peer: "198.51.100.1",
        local: None,
        v6: false,
        dynamic: false,
    },
    Profile {
        peer: "198.51.100.1",
        local: Some("192.0.2.1"),
        v6: false,
        dynamic: false,
    },
    Profile {
        peer: "198.51.100.1",
        local: Some("192.0.2.2"),
        v6: false,
        dynamic: false,
    },
    Profile {
        peer: "198.51.100.2",
        local: None,
        v6: false,
        dynamic: true,
    },
    Profile {
        peer: "198.51.100.3",
        local: None,
        v6: false,
        dynamic: false,
    },
    Profile {
        peer: "2001:db8::1",
        local: None,
        v6: true,
        dynamic: false,
    },
    Profile {
        peer: "2001:db8::1",
        local: Some("2001:db8::fe"),
        v6: true,
        dynamic: false,
    },
    Profile {
        peer: "any",
        local: None,
        v6: false,
        dynamic: false,
    },
];

const MAIN_BASE: &str = "main auth hmac-sha2-256 enc aes-256 group modp2048";
const MAIN_ALT: &str = "main auth hmac-sha1 enc 3des group modp1024";
const QUICK_BASE: &str = "quick enc aes-256-gcm group modp2048";
const QUICK_ALT: &str = "quick enc aes-128 auth hmac-sha2-256 group modp3072";

#[derive(Clone)]
struct Rule {
    profile: usize,
    from: String,
    to: String,
    passive: bool,
}

#[derive(Clone)]
struct Fragment {
    name: String,
    rules: Vec<Rule>,
    /// Whether its phase 1 profile is used by no other fragment of the
    /// tree: only then may an apply change the phase 1 proposal.
    own_phase1: bool,
}

impl Fragment {
    /// The text of version `alt` (apply toggles between the two).
    fn text(&self, alt: bool) -> String {
        let mut out = String::new();
        for r in &self.rules {
            let p = PROFILES[r.profile];
            let mode = if p.dynamic {
                "dynamic "
            } else if r.passive {
                "passive "
            } else {
                ""
            };
            let local = p.local.map(|l| format!(" local {l}")).unwrap_or_default();
            let main = if alt && self.own_phase1 {
                MAIN_ALT
            } else {
                MAIN_BASE
            };
            let quick = if alt { QUICK_ALT } else { QUICK_BASE };
            let _ = writeln!(
                out,
                "ike {mode}esp from {} to {}{local} peer {} {main} {quick} psk \"psk-profile-{}-0123456789\"",
                r.from, r.to, p.peer, r.profile
            );
        }
        out
    }
}

/// A generated gateway: its fragments (include order is pool order for
/// the initial ones) and which are loaded at the start.
#[derive(Clone)]
struct Tree {
    fragments: Vec<Fragment>,
    initial: Vec<usize>,
}

fn generate_tree(rng: &mut Rng) -> Tree {
    let count = 3 + rng.below(3);
    let mut to_net = 0;
    let mut fragments: Vec<Fragment> = (0..count)
        .map(|i| {
            let rules = (0..1 + rng.below(2))
                .map(|_| {
                    to_net += 1;
                    let profile = rng.below(PROFILES.len());
                    let p = PROFILES[profile];
                    let shared_from = 1 + rng.below(3);
                    let (from, to) = if p.v6 {
                        (
                            format!("2001:db8:{shared_from}::/64"),
                            format!("2001:db8:f{to_net}::/64"),
                        )
                    } else {
                        (
                            format!("10.0.{shared_from}.0/24"),
                            format!("10.{}.0.0/16", 100 + to_net),
                        )
                    };
                    Rule {
                        profile,
                        from,
                        to,
                        passive: p.peer == "any" || rng.chance(20),
                    }
                })
                .collect();
            Fragment {
                name: format!("f{i}"),
                rules,
                own_phase1: false,
            }
        })
        .collect();
    let users = |profile: usize, fragments: &[Fragment]| {
        fragments
            .iter()
            .filter(|f| f.rules.iter().any(|r| r.profile == profile))
            .count()
    };
    for i in 0..fragments.len() {
        let profiles: BTreeSet<usize> = fragments[i].rules.iter().map(|r| r.profile).collect();
        fragments[i].own_phase1 = profiles.iter().all(|&p| users(p, &fragments) == 1);
    }
    let mut initial: Vec<usize> = (0..count).filter(|_| rng.chance(60)).collect();
    if initial.is_empty() {
        initial.push(0);
    }
    Tree { fragments, initial }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Add(usize),
    Rm(usize),
    Apply(usize),
    Down(usize),
    Up(usize),
}

/// What should be: the loaded fragments in include order, the held-down
/// ones, and which version each is at.
#[derive(Clone, Default)]
struct Expected {
    loaded: Vec<usize>,
    down: BTreeSet<usize>,
    alt: BTreeMap<usize, bool>,
}

impl Expected {
    fn after(&self, op: &Op) -> Expected {
        let mut next = self.clone();
        match *op {
            Op::Add(f) => {
                if !next.loaded.contains(&f) {
                    next.loaded.push(f);
                }
            }
            Op::Rm(f) => {
                next.loaded.retain(|&x| x != f);
                next.down.remove(&f);
            }
            Op::Apply(f) => {
                let alt = next.alt.entry(f).or_insert(false);
                *alt = !*alt;
            }
            Op::Down(f) => {
                next.down.insert(f);
            }
            Op::Up(f) => {
                next.down.remove(&f);
            }
        }
        next
    }
}

fn generate_ops(rng: &mut Rng, tree: &Tree) -> Vec<Op> {
    let mut state = Expected {
        loaded: tree.initial.clone(),
        ..Expected::default()
    };
    let n = tree.fragments.len();
    let mut ops = Vec::new();
    while ops.len() < 3 + rng.below(4) {
        let loaded = state.loaded.clone();
        let absent: Vec<usize> = (0..n).filter(|f| !loaded.contains(f)).collect();
        let down: Vec<usize> = state.down.iter().copied().collect();
        let up: Vec<usize> = loaded
            .iter()
            .copied()
            .filter(|f| !state.down.contains(f))
            .collect();
        let pick = |rng: &mut Rng, from: &[usize]| from[rng.below(from.len())];
        let op = match rng.below(5) {
            0 if !absent.is_empty() => Op::Add(pick(rng, &absent)),
            1 if !loaded.is_empty() => Op::Rm(pick(rng, &loaded)),
            2 if !loaded.is_empty() => Op::Apply(pick(rng, &loaded)),
            3 if !up.is_empty() => Op::Down(pick(rng, &up)),
            4 if !down.is_empty() => Op::Up(pick(rng, &down)),
            _ => continue,
        };
        state = state.after(&op);
        ops.push(op);
    }
    ops
}

/// How one case ended.
enum Outcome {
    Held {
        refused: usize,
    },
    /// The command at this index broke the property.
    Broke {
        step: usize,
        why: String,
    },
}

/// The fragments loaded at the start, (name, text), in include order.
fn initial_texts(tree: &Tree) -> Vec<(String, String)> {
    tree.initial
        .iter()
        .map(|&i| {
            (
                tree.fragments[i].name.clone(),
                tree.fragments[i].text(false),
            )
        })
        .collect()
}

fn as_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// The arguments of `op`, its new text written to `home/NAME.conf` by
/// `write` first where it takes one; `home` is that file's path.
fn op_args(
    op: &Op,
    tree: &Tree,
    state: &Expected,
    home: &dyn Fn(&str) -> String,
    write: &dyn Fn(&str, &str),
) -> Vec<String> {
    let name = |i: usize| tree.fragments[i].name.clone();
    let version = |i: usize| *state.alt.get(&i).unwrap_or(&false);
    let write_version = |f: usize, alt: bool| {
        let rel = format!("home/{}.conf", name(f));
        write(&rel, &tree.fragments[f].text(alt));
        home(&rel)
    };
    match *op {
        Op::Add(f) => vec!["add".into(), write_version(f, version(f))],
        Op::Rm(f) => vec!["rm".into(), name(f)],
        Op::Apply(f) => vec!["apply".into(), name(f), write_version(f, !version(f))],
        Op::Down(f) => vec!["down".into(), name(f)],
        Op::Up(f) => vec!["up".into(), name(f)],
    }
}

/// Runs a case on a fresh gateway; stops at the first command after which
/// the property does not hold.
fn run_case(tree: &Tree, ops: &[Op]) -> Outcome {
    let initial = initial_texts(tree);
    let refs = as_refs(&initial);
    let gw = Gateway::new(HEAD, &refs);
    for (name, text) in &initial {
        gw.write(&format!("var/db/ipsecmgr/applied/{name}.conf"), text);
    }
    // every peer has a phase 1 up: isakmpd starts none, and loads for a
    // shared peer go ahead (the real-daemon part meets silent peers)
    let peers: BTreeSet<&str> = PROFILES
        .iter()
        .map(|p| p.peer)
        .filter(|p| *p != "any")
        .collect();
    gw.peers_up(&peers.into_iter().collect::<Vec<_>>());
    let mut state = Expected {
        loaded: tree.initial.clone(),
        ..Expected::default()
    };
    let mut refused = 0;
    for (step, op) in ops.iter().enumerate() {
        let (ok, said) = run_op(&gw, tree, &state, op);
        if ok {
            state = state.after(op);
        } else {
            refused += 1;
        }
        if let Err(why) = check(&gw, tree, &state) {
            let why = format!("{why}\nipsecmgr said on stderr:\n{said}");
            return Outcome::Broke { step, why };
        }
    }
    Outcome::Held { refused }
}

/// Runs one command; whether ipsecmgr said it succeeded, and its stderr.
fn run_op(gw: &Gateway, tree: &Tree, state: &Expected, op: &Op) -> (bool, String) {
    let args = op_args(op, tree, state, &|rel| gw.actual(rel), &|rel, text| {
        gw.write(rel, text)
    });
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = gw.run(&args);
    (out.status.success(), stderr(&out))
}

/// The property after a command: the database is a fresh load of what
/// should be loaded, and no held-down connection is listed.
fn check(gw: &Gateway, tree: &Tree, state: &Expected) -> Result<(), String> {
    let texts: Vec<(String, String)> = state
        .loaded
        .iter()
        .map(|&i| {
            let alt = *state.alt.get(&i).unwrap_or(&false);
            (tree.fragments[i].name.clone(), tree.fragments[i].text(alt))
        })
        .collect();
    let refs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let down: Vec<String> = state
        .down
        .iter()
        .map(|&i| tree.fragments[i].name.clone())
        .collect();
    let down: Vec<&str> = down.iter().map(String::as_str).collect();
    let db = gw.replay();
    let want = gw.fresh_of_texts(&refs, &down).connection_order_ignored();
    let got = db.connection_order_ignored().compared_with(&want);
    if got != want {
        return Err(format!(
            "- only in the fresh load, + only in isakmpd:\n{}",
            got.diff(&want)
        ));
    }
    let listed: Vec<String> = db
        .connections()
        .into_iter()
        .chain(db.passive_connections())
        .collect();
    for &f in &state.down {
        let text = tree.fragments[f].text(*state.alt.get(&f).unwrap_or(&false));
        for conn in connections_of(&text) {
            if listed.contains(&conn) {
                return Err(format!("held-down {conn} is listed in isakmpd"));
            }
        }
    }
    Ok(())
}

/// The connection names ipsecctl gives a fragment's rules.
fn connections_of(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let at = |k: &str| words.iter().position(|w| *w == k).map(|i| words[i + 1]);
            Some(format!("from-{}-to-{}", at("from")?, at("to")?))
        })
        .collect()
}

fn describe(op: &Op, tree: &Tree) -> String {
    let n = |i: usize| tree.fragments[i].name.clone();
    match *op {
        Op::Add(f) => format!("add {}", n(f)),
        Op::Rm(f) => format!("rm {}", n(f)),
        Op::Apply(f) => format!("apply {} (other version)", n(f)),
        Op::Down(f) => format!("down {}", n(f)),
        Op::Up(f) => format!("up {}", n(f)),
    }
}

fn kind(op: &Op) -> &'static str {
    match op {
        Op::Add(_) => "add",
        Op::Rm(_) => "rm",
        Op::Apply(_) => "apply",
        Op::Down(_) => "down",
        Op::Up(_) => "up",
    }
}

fn target(op: &Op) -> usize {
    match *op {
        Op::Add(f) | Op::Rm(f) | Op::Apply(f) | Op::Down(f) | Op::Up(f) => f,
    }
}

/// Shrinks a failing case: drops commands, then fragments the remaining
/// commands do not name, as long as it still fails.
fn shrink(mut tree: Tree, mut ops: Vec<Op>, step: usize) -> (Tree, Vec<Op>) {
    ops.truncate(step + 1);
    let fails = |t: &Tree, o: &[Op]| matches!(run_case(t, o), Outcome::Broke { .. });
    let mut i = 0;
    while i + 1 < ops.len() {
        let mut fewer = ops.clone();
        fewer.remove(i);
        if fails(&tree, &fewer) {
            ops = fewer;
        } else {
            i += 1;
        }
    }
    for f in (0..tree.fragments.len()).rev() {
        if ops.iter().any(|o| target(o) == f)
            || tree.initial.len() <= 1 && tree.initial.contains(&f)
        {
            continue;
        }
        let mut smaller = tree.clone();
        smaller.initial.retain(|&x| x != f);
        if smaller.initial.len() < tree.initial.len() && fails(&smaller, &ops) {
            tree = smaller;
        }
    }
    (tree, ops)
}

fn reproduction(seed: u64, tree: &Tree, ops: &[Op]) -> String {
    let mut out =
        format!("PROPERTY_SEED={seed}\ngateway (ipsec.conf: HEAD, then include in this order):\n");
    for &i in &tree.initial {
        let f = &tree.fragments[i];
        let _ = write!(
            out,
            "  {}.conf (loaded):\n    {}",
            f.name,
            f.text(false).trim_end().replace('\n', "\n    ")
        );
        out.push('\n');
    }
    let mut named: BTreeSet<usize> = ops.iter().map(target).collect();
    named.retain(|f| !tree.initial.contains(f));
    for i in named {
        let f = &tree.fragments[i];
        let _ = write!(
            out,
            "  {}.conf (not loaded):\n    {}",
            f.name,
            f.text(false).trim_end().replace('\n', "\n    ")
        );
        out.push('\n');
    }
    if ops.iter().any(|o| matches!(o, Op::Apply(_))) {
        let _ = writeln!(
            out,
            "  (apply switches to the other version: {QUICK_ALT}, and {MAIN_ALT} when the fragment has its phase 1 peer to itself)"
        );
    }
    out.push_str("commands:\n");
    for op in ops {
        let _ = writeln!(out, "  ipsecmgr {}", describe(op, tree));
    }
    match run_case(tree, ops) {
        Outcome::Broke { step, why } => {
            let _ = write!(out, "after `{}`:\n{why}", describe(&ops[step], tree));
        }
        Outcome::Held { .. } => out.push_str("(the shrunk case no longer fails)\n"),
    }
    out
}

fn case(seed: u64) -> (Tree, Vec<Op>) {
    let mut rng = Rng::new(seed);
    let tree = generate_tree(&mut rng);
    let ops = generate_ops(&mut rng, &tree);
    (tree, ops)
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// Every generated tree is one ipsecmgr accepts as it is: each fragment,
/// in both versions, compiles, and the initial gateway lints clean of
/// errors; so a failure of the property is never a bad input.
#[test]
fn generated_trees_are_valid_gateways() {
    for seed in 0..40 {
        let (tree, _) = case(seed);
        let gw = Gateway::new(HEAD, &[]);
        for f in &tree.fragments {
            for alt in [false, true] {
                let path = format!("home/{}-{alt}.conf", f.name);
                gw.write(&path, &f.text(alt));
                let out = std::process::Command::new(BIN)
                    .arg("-c")
                    .arg(gw.settings())
                    .arg("compile")
                    .arg(gw.path(&path))
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "seed {seed}: {}\n{}",
                    f.text(alt),
                    stderr(&out)
                );
            }
        }
    }
}

/// The generator covers what the trees must have: shared peers, one
/// address under several local addresses, IPv6, peer any, passive and
/// dynamic rules, each in some case of the default run.
#[test]
fn generated_trees_cover_the_features() {
    let mut seen = BTreeSet::new();
    for seed in 0..500 {
        let (tree, ops) = case(seed);
        for f in &tree.fragments {
            for r in &f.rules {
                let p = PROFILES[r.profile];
                seen.insert(if p.v6 { "ipv6" } else { "ipv4" });
                if p.peer == "any" {
                    seen.insert("peer any");
                }
                if p.dynamic {
                    seen.insert("dynamic");
                }
                if r.passive {
                    seen.insert("passive");
                }
                if p.local.is_some() {
                    seen.insert("local");
                }
            }
        }
        let profiles: Vec<usize> = tree
            .fragments
            .iter()
            .flat_map(|f| f.rules.iter().map(|r| r.profile))
            .collect();
        let addresses: BTreeSet<&str> = profiles.iter().map(|&p| PROFILES[p].peer).collect();
        if profiles.iter().collect::<BTreeSet<_>>().len() < profiles.len() {
            seen.insert("shared peer");
        }
        let tags: BTreeSet<usize> = profiles.iter().copied().collect();
        if addresses.len() < tags.len() {
            seen.insert("one address, several tags");
        }
        for op in &ops {
            seen.insert(kind(op));
        }
    }
    for want in [
        "ipv4",
        "ipv6",
        "peer any",
        "dynamic",
        "passive",
        "local",
        "shared peer",
        "one address, several tags",
        "add",
        "rm",
        "apply",
        "down",
        "up",
    ] {
        assert!(seen.contains(want), "no case has {want}: {seen:?}");
    }
}

/// A case's seed, the step that broke it, its refusals, why it broke.
type CaseResult = (u64, Option<usize>, usize, String);

#[test]
fn property_every_command_leaves_a_fresh_load_of_what_should_be_loaded() {
    crate::require_isakmpd!();
    let start = Instant::now();
    let seeds: Vec<u64> = match env_number("PROPERTY_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_number("PROPERTY_CASES").unwrap_or(500)).collect(),
    };
    let next = AtomicU64::new(0);
    let results: Mutex<Vec<CaseResult>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                    let Some(&seed) = seeds.get(i) else { break };
                    let (tree, ops) = case(seed);
                    let result = match run_case(&tree, &ops) {
                        Outcome::Held { refused } => (seed, None, refused, String::new()),
                        Outcome::Broke { step, why } => (seed, Some(step), 0, why),
                    };
                    results.lock().unwrap().push(result);
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort();
    let failed: Vec<u64> = results
        .iter()
        .filter(|r| r.1.is_some())
        .map(|r| r.0)
        .collect();
    let refused: usize = results.iter().map(|r| r.2).sum();
    let commands: usize = seeds.iter().map(|&s| case(s).1.len()).sum();
    // a broken sequence stops at the command that broke it
    let run: usize = results
        .iter()
        .map(|r| r.1.map_or_else(|| case(r.0).1.len(), |step| step + 1))
        .sum();
    let summary = format!(
        "{} sequences ({commands} commands, {run} run, {refused} refused by ipsecmgr): \
         {} held, {} broke, in {:.0?}",
        results.len(),
        results.len() - failed.len(),
        failed.len(),
        start.elapsed()
    );
    eprintln!("{summary}");
    if failed.is_empty() {
        return;
    }
    // one shrunk reproduction per kind of command that broke the property
    let mut by_kind: BTreeMap<&str, (usize, u64, &str)> = BTreeMap::new();
    for r in &results {
        let Some(step) = r.1 else { continue };
        let kind = kind(&case(r.0).1[step]);
        by_kind.entry(kind).or_insert((0, r.0, &r.3)).0 += 1;
    }
    let mut text = String::new();
    for (kind, (count, seed, first_why)) in &by_kind {
        let (tree, ops) = case(*seed);
        let step = match run_case(&tree, &ops) {
            Outcome::Broke { step, .. } => step,
            Outcome::Held { .. } => ops.len() - 1,
        };
        let (tree, ops) = shrink(tree, ops, step);
        let _ = write!(
            text,
            "\n== broken by `{kind}` in {count} sequences; smallest reproduction of seed {seed}:\n{}\
             as it first broke:\n{first_why}\n",
            reproduction(*seed, &tree, &ops)
        );
    }
    panic!(
        "{summary}\nfailing seeds: {:?}{}\n{text}",
        &failed[..failed.len().min(20)],
        if failed.len() > 20 { " ..." } else { "" },
    );
}

/// The same sequences on OpenBSD's real isakmpd, under AddressSanitizer
/// (tests/common/daemon.rs): a part of them, `PROPERTY_DAEMON_CASES`
/// (default 4), as each takes seconds of real time.  After each command
/// the daemon is alive and used no freed memory, and every `[section]:tag`
/// any version of any fragment of the tree sets holds, by `C get` (ui.c:
/// ui_config), what a fresh load of what should be loaded leaves there,
/// held-down fragments held, over isakmpd's built-in defaults.
/// `[General]` is left out: the daemon's own comes from its configuration
/// file.  Every command runs
/// with `--wait`, as the peers here never answer and isakmpd keeps
/// exchanges with them in flight (see `ipsecmgr(8)`, add).
#[test]
fn property_holds_on_the_real_daemon() {
    crate::require_daemons!();
    let cases = env_number("PROPERTY_DAEMON_CASES").unwrap_or(4);
    let start = Instant::now();
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let next = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed >= cases {
                        break;
                    }
                    let (tree, ops) = case(seed);
                    if let Err(why) = run_case_on_daemon(&tree, &ops) {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{}{why}", reproduction_text(seed, &tree, &ops)));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "{cases} sequences on the real daemon: {} held, {} broke, in {:.0?}",
        cases as usize - failures.len(),
        failures.len(),
        start.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A case without running it: the tree and the commands.
fn reproduction_text(seed: u64, tree: &Tree, ops: &[Op]) -> String {
    let mut out = format!("PROPERTY_SEED={seed} on the real daemon\n");
    for (i, f) in tree.fragments.iter().enumerate() {
        let loaded = if tree.initial.contains(&i) {
            "loaded"
        } else {
            "not loaded"
        };
        let _ = writeln!(
            out,
            "  {}.conf ({loaded}):\n    {}",
            f.name,
            f.text(false).trim_end().replace('\n', "\n    ")
        );
    }
    for op in ops {
        let _ = writeln!(out, "  ipsecmgr {}", describe(op, tree));
    }
    out
}

fn run_case_on_daemon(tree: &Tree, ops: &[Op]) -> Result<(), String> {
    use common::daemon::{Daemons, Setup, Timers};
    let initial = initial_texts(tree);
    let refs = as_refs(&initial);
    let d = Daemons::start(&Setup {
        fragments: &refs,
        peer: "",
        timers: Timers {
            max_time: 3,
            ..Timers::default()
        },
        asan: true,
    });
    for (name, text) in &initial {
        d.write(&format!("var/db/ipsecmgr/applied/{name}.conf"), text);
    }
    let universe = every_key(&d, tree);
    let mut state = Expected {
        loaded: tree.initial.clone(),
        ..Expected::default()
    };
    for op in ops {
        let home = |rel: &str| d.path(rel).display().to_string();
        let args = op_args(op, tree, &state, &home, &|rel, text| d.write(rel, text));
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(["--wait", "20"]);
        let ran = d.ipsecmgr(&args, std::time::Duration::from_secs(120));
        if ran.code == Some(0) {
            state = state.after(op);
        }
        let after = format!("after `{}` ({ran:?})", describe(op, tree));
        if !d.alive('a') || d.log('a').contains("AddressSanitizer") {
            return Err(format!("{after}: isakmpd died:\n{}", d.log('a')));
        }
        check_daemon(&d, tree, &state, &universe).map_err(|e| format!("{after}:\n{e}"))?;
    }
    Ok(())
}

/// The settings the daemon gateway compiles with.
fn daemon_settings(d: &common::daemon::Daemons) -> std::path::PathBuf {
    d.path("etc/ipsecmgr.conf")
}

/// Every `[section]:tag` (but `[General]`) that any version of any
/// fragment of the tree sets.
fn every_key(d: &common::daemon::Daemons, tree: &Tree) -> BTreeSet<(String, String)> {
    let mut keys = BTreeSet::new();
    for (i, f) in tree.fragments.iter().enumerate() {
        for alt in [false, true] {
            let path = d.path(&format!("var/versions/{i}-{alt}.conf"));
            d.write(&format!("var/versions/{i}-{alt}.conf"), &f.text(alt));
            for l in common::isakmpd::ipsecctl_lines(&daemon_settings(d), &path, false) {
                let Some(rest) = l
                    .strip_prefix("C set [")
                    .or_else(|| l.strip_prefix("C add ["))
                else {
                    continue;
                };
                let Some((section, tail)) = rest.split_once("]:") else {
                    continue;
                };
                let Some((tag, _)) = tail.split_once('=') else {
                    continue;
                };
                if !section.eq_ignore_ascii_case("General") {
                    keys.insert((section.to_string(), tag.to_string()));
                }
            }
        }
    }
    keys
}

/// Every key of `universe` holds on the daemon what a fresh load of what
/// should be loaded leaves (lists compared as sets).
fn check_daemon(
    d: &common::daemon::Daemons,
    tree: &Tree,
    state: &Expected,
    universe: &BTreeSet<(String, String)>,
) -> Result<(), String> {
    let file = |i: usize| {
        let alt = *state.alt.get(&i).unwrap_or(&false);
        d.path(&format!("var/versions/{i}-{alt}.conf"))
    };
    let settings = daemon_settings(d);
    let loaded: Vec<std::path::PathBuf> = state.loaded.iter().map(|&i| file(i)).collect();
    let down: Vec<std::path::PathBuf> = state.down.iter().map(|&i| file(i)).collect();
    let up: Vec<std::path::PathBuf> = loaded
        .iter()
        .filter(|f| !down.contains(f))
        .cloned()
        .collect();
    let mut lines = common::isakmpd::fresh_lines(&settings, &loaded);
    for f in &down {
        lines.extend(common::isakmpd::held_down_lines(&settings, f));
    }
    lines.extend(common::isakmpd::held_down_keys(
        &common::isakmpd::fresh_lines(&settings, &down),
        &common::isakmpd::fresh_lines(&settings, &up),
    ));
    let want = common::isakmpd::replay_with_defaults(&lines);
    let set = |v: &str| -> BTreeSet<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut wrong = String::new();
    let _ = tree;
    for (section, tag) in universe {
        let got = d.get('a', &format!("[{section}]:{tag}"));
        let expected = want.get(section, tag).unwrap_or_default();
        let same = if section.eq_ignore_ascii_case("Phase 2") {
            set(&got) == set(&expected)
        } else {
            got == expected
        };
        if !same {
            let _ = writeln!(
                wrong,
                "  [{section}]:{tag}: isakmpd has {got:?}, a fresh load {expected:?}"
            );
        }
    }
    if wrong.is_empty() { Ok(()) } else { Err(wrong) }
}
