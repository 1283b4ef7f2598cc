//! Faults at every step of every mutating command (debug builds only):
//!
//! - killed just before step N (`IPSECMGR_FAIL_AT=N`), or just after it,
//!   before the journal recorded it;
//! - step N failing (`IPSECMGR_ERROR_AT=N`);
//! - the disk filling at any file write (`IPSECMGR_DISK_FULL_AT=N`), of the
//!   run or of the run that recovers an interrupted one;
//! - a state directory that cannot be written.
//!
//! Each time ipsec.conf must be the old or the new version, every fragment
//! somewhere on disk, no temporary file left; the run, or the next one,
//! must complete the operation (ending where an uninterrupted run ends) or
//! roll it back (ending where it began), and say which.  The ipsecctl calls
//! are judged by which rule files end up loaded, as the gateway sees them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::*;

/// The state directory, under the root.
const STATE: &str = "var/db/ipsecmgr";

/// A fragment ipsecmgr manages (it has an applied copy), as loaded.
const FIVE_OLD: &str = "ike esp from 10.0.5.0/24 to 10.5.0.0/16 peer 198.51.5.1 psk \"five-secret-0123456789ab\"\n\
ike esp from 10.0.6.0/24 to 10.5.0.0/16 peer 198.51.5.1 psk \"five-secret-0123456789ab\"\n\
flow esp from 10.0.7.0/24 to 10.7.0.0/16 peer 198.51.5.1\n";

/// Its next version: one rule kept, one changed, one removed, one added.
const FIVE_NEW: &str = "ike esp from 10.0.5.0/24 to 10.5.0.0/16 peer 198.51.5.1 psk \"five-secret-0123456789ab\"\n\
ike esp from 10.0.6.0/24 to 10.5.0.0/16 peer 198.51.5.1 quick enc aes-256 psk \"five-secret-0123456789ab\"\n\
ike esp from 10.0.8.0/24 to 10.5.0.0/16 peer 198.51.5.1 psk \"five-secret-0123456789ab\"\n";

fn new_fragment() -> String {
    tunnel(11, "c-secret-0123456789abcdef")
}

/// The gateway every case starts from: an unmanaged fragment, a managed
/// one, a bystander the harmless command touches, and the files `add` and
/// `apply` are given.
fn base() -> Gateway {
    let gw = Gateway::new(
        HEAD,
        &[
            ("customer-acme", &acme()),
            ("five", FIVE_OLD),
            ("bystander", &tunnel(9, "bystander-secret-012345")),
        ],
    );
    gw.write(&format!("{STATE}/applied/five.conf"), FIVE_OLD);
    gw.write("home/c.conf", &new_fragment());
    gw.write("home/five.conf", FIVE_NEW);
    gw.peers_up(&["203.0.113.20", "198.51.5.1", "198.51.9.1"]);
    gw
}

/// A mutating run that changes no file: it only triggers the recovery of
/// an interrupted run (every mutating command recovers first).
const HARMLESS: [&str; 2] = ["up", "bystander"];

/// One mutating command on the base gateway.
struct Case {
    /// The command, as an interrupted run of it is named: `rm five`.
    op: &'static str,
    args: fn(&Gateway) -> Vec<String>,
}

const ADD: Case = Case {
    op: "add c",
    args: |gw| vec!["add".into(), gw.actual("home/c.conf")],
};
const RM_UNMANAGED: Case = Case {
    op: "rm customer-acme",
    args: |_| vec!["rm".into(), "customer-acme".into()],
};
const RM_MANAGED: Case = Case {
    op: "rm five",
    args: |_| vec!["rm".into(), "five".into()],
};
const APPLY: Case = Case {
    op: "apply five",
    args: |gw| vec!["apply".into(), "five".into(), gw.actual("home/five.conf")],
};
const DOWN: Case = Case {
    op: "down customer-acme",
    args: |_| vec!["down".into(), "customer-acme".into()],
};
const UP: Case = Case {
    op: "up customer-acme",
    args: |_| vec!["up".into(), "customer-acme".into()],
};
const RESTART: Case = Case {
    op: "restart customer-acme",
    args: |_| vec!["restart".into(), "customer-acme".into()],
};

// --config-only: the same files edited, no ipsecctl, nothing into the FIFO
const ADD_CONFIG_ONLY: Case = Case {
    op: "add c",
    args: |gw| {
        vec![
            "add".into(),
            "--config-only".into(),
            gw.actual("home/c.conf"),
        ]
    },
};
const RM_UNMANAGED_CONFIG_ONLY: Case = Case {
    op: "rm customer-acme",
    args: |_| vec!["rm".into(), "--config-only".into(), "customer-acme".into()],
};
const RM_MANAGED_CONFIG_ONLY: Case = Case {
    op: "rm five",
    args: |_| vec!["rm".into(), "--config-only".into(), "five".into()],
};
const APPLY_CONFIG_ONLY: Case = Case {
    op: "apply five",
    args: |gw| {
        vec![
            "apply".into(),
            "--config-only".into(),
            "five".into(),
            gw.actual("home/five.conf"),
        ]
    },
};

const CASES: [&Case; 11] = [
    &ADD,
    &RM_UNMANAGED,
    &RM_MANAGED,
    &APPLY,
    &DOWN,
    &UP,
    &RESTART,
    &ADD_CONFIG_ONLY,
    &RM_UNMANAGED_CONFIG_ONLY,
    &RM_MANAGED_CONFIG_ONLY,
    &APPLY_CONFIG_ONLY,
];

fn run(gw: &Gateway, args: &[String], env: &[(&str, &str)]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    gw.run_env(&args, env)
}

/// What the run with FAIL_AT=0 left in its journal: the plan.
struct PlanInfo {
    /// The kind of each step (Write, Move, Ipsecctl, Fifo).
    kinds: Vec<String>,
    /// Steps before this one are rolled back, from it on completed.
    commit: usize,
    /// The lines its FifoOnUndo steps send when it is rolled back.
    undo_fifo: Vec<String>,
}

impl PlanInfo {
    fn len(&self) -> usize {
        self.kinds.len()
    }
}

/// Learns the plan of a case from the journal an interrupted run leaves,
/// and checks it against what `-n` prints.
fn plan_of(case: &Case) -> PlanInfo {
    let gw = base();
    let args = (case.args)(&gw);
    let out = run(&gw, &args, &[("IPSECMGR_FAIL_AT", "0")]);
    assert!(!out.status.success(), "{}: {}", case.op, stderr(&out));
    let journal = gw.read(&format!("{STATE}/journal"));
    let journal: serde_json::Value = serde_json::from_str(&journal)
        .unwrap_or_else(|e| panic!("{}: journal {journal:?}: {e}", case.op));
    assert_eq!(journal["plan"]["op"], case.op, "{journal}");
    assert_eq!(journal["next"], 0, "{journal}");
    let steps = journal["plan"]["steps"].as_array().expect("steps");
    let kinds: Vec<String> = steps
        .iter()
        .map(|s| {
            let obj = s.as_object().expect("a step is an object");
            assert_eq!(obj.len(), 1, "{s}");
            obj.keys().next().unwrap().clone()
        })
        .collect();
    let commit = journal["plan"]["commit"].as_u64().expect("commit") as usize;
    assert!(!kinds.is_empty(), "{}: an empty plan", case.op);
    assert!(commit <= kinds.len(), "{journal}");

    // `-n` shows the same plan: one edit/record/move/run line per such step, one
    // fifo line per FIFO line
    let gw = base();
    let mut dry = (case.args)(&gw);
    dry.insert(1, "-n".into());
    let out = run(&gw, &dry, &[]);
    assert!(out.status.success(), "{}: {}", case.op, stderr(&out));
    let text = stdout(&out);
    let shown = text
        .lines()
        .filter(|l| {
            ["edit ", "record ", "move ", "run ipsecctl "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .count();
    assert_eq!(
        shown,
        kinds
            .iter()
            .filter(|k| !matches!(k.as_str(), "Fifo" | "FifoOnUndo"))
            .count(),
        "{}: -n shows another plan than the journal holds:\n{text}{kinds:?}",
        case.op
    );
    let fifo_lines: usize = steps
        .iter()
        .filter_map(|s| s.get("Fifo"))
        .map(|f| f["lines"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("fifo ")).count(),
        fifo_lines,
        "{}:\n{text}",
        case.op
    );
    let undo_fifo: Vec<String> = steps
        .iter()
        .filter_map(|s| s.get("FifoOnUndo"))
        .flat_map(|f| f["lines"].as_array().cloned().unwrap_or_default())
        .map(|l| l.as_str().unwrap_or_default().to_string())
        .collect();
    PlanInfo {
        kinds,
        commit,
        undo_fifo,
    }
}

/// The files a run may touch (ipsec.conf, fragments, the state directory,
/// the files given to add/apply), path → text.  The lock is left out; the
/// time stamp in the names of removed files is replaced by `<stamp>`.
type Snapshot = BTreeMap<String, String>;

fn snapshot(gw: &Gateway) -> Snapshot {
    let mut out = Snapshot::new();
    for top in ["etc", "home", STATE] {
        let dir = gw.path(top);
        if fs::symlink_metadata(&dir).is_err() {
            continue;
        }
        for entry in walkdir::WalkDir::new(&dir) {
            let entry = entry.unwrap();
            if entry.file_type().is_dir() {
                continue;
            }
            let rel = entry
                .path()
                .strip_prefix(gw.root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel == format!("{STATE}/lock") {
                continue;
            }
            let text =
                fs::read_to_string(entry.path()).unwrap_or_else(|e| format!("<unreadable: {e}>"));
            out.insert(without_stamp(&rel), text);
        }
    }
    out
}

fn without_stamp(rel: &str) -> String {
    if rel.starts_with(&format!("{STATE}/removed/"))
        && let Some((head, stamp)) = rel.rsplit_once('.')
        && !stamp.is_empty()
        && stamp.bytes().all(|b| b.is_ascii_digit())
    {
        return format!("{head}.<stamp>");
    }
    rel.to_string()
}

/// How two snapshots differ, for a message; empty when they are equal.
fn differences(got: &Snapshot, want: &Snapshot) -> String {
    let keys: BTreeSet<&String> = got.keys().chain(want.keys()).collect();
    let mut out = String::new();
    for k in keys {
        match (got.get(k), want.get(k)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => out.push_str(&format!(
                "  {k}:\n    is:        {a:?}\n    should be: {b:?}\n"
            )),
        }
    }
    out
}

fn fragment_names(s: &Snapshot) -> BTreeSet<String> {
    s.keys()
        .filter_map(|k| k.strip_prefix("etc/ipsec.d/"))
        .filter_map(|n| n.strip_suffix(".conf"))
        .map(str::to_string)
        .collect()
}

/// Every fragment, in its old or its new version, is still somewhere: in
/// the fragment directory, or in the state directory (its applied copy, or
/// moved to removed/).  One being added may also still be only where `add`
/// was given it (add copies its source, never moves it).
fn check_preserved(mid: &Snapshot, start: &Snapshot, end: &Snapshot) -> Result<(), String> {
    let names: BTreeSet<String> = fragment_names(start)
        .into_iter()
        .chain(fragment_names(end))
        .collect();
    for name in names {
        let key = format!("etc/ipsec.d/{name}.conf");
        let versions: Vec<&String> = [start.get(&key), end.get(&key)]
            .into_iter()
            .flatten()
            .collect();
        let mut places = vec![
            key.clone(),
            format!("{STATE}/applied/{name}.conf"),
            format!("{STATE}/removed/{name}.conf.<stamp>"),
            format!("{STATE}/removed/{name}.applied.<stamp>"),
        ];
        if !start.contains_key(&key) {
            places.push(format!("home/{name}.conf"));
        }
        let found = places
            .iter()
            .any(|p| mid.get(p).is_some_and(|t| versions.contains(&t)));
        if !found {
            return Err(format!(
                "fragment {name} is lost: no version of it in {places:?}"
            ));
        }
    }
    Ok(())
}

/// An ipsecctl call with the gateway's root taken out of its paths and the
/// pid out of scratch file names, so runs on two gateways compare.
type NormalCall = (Vec<String>, Option<String>);

fn normal_calls(gw: &Gateway) -> Vec<NormalCall> {
    let root = gw.root().display().to_string();
    gw.calls()
        .into_iter()
        .map(|c| {
            let args = c
                .args
                .iter()
                .map(|a| {
                    let a = a.replace(&root, "");
                    match a.rsplit_once('-') {
                        Some((head, _)) if a.contains("/work/") => format!("{head}-<pid>"),
                        _ => a,
                    }
                })
                .collect();
            (args, c.file.map(|f| f.replace(&root, "")))
        })
        .collect()
}

fn counts<T: Ord + Clone>(items: &[T]) -> BTreeMap<T, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i.clone()).or_insert(0) += 1;
    }
    m
}

/// What of `want` (as a multiset) is missing from `got`.
fn missing<T: Ord + Clone + std::fmt::Debug>(got: &[T], want: &[T]) -> Vec<T> {
    let have = counts(got);
    counts(want)
        .into_iter()
        .filter(|(k, n)| have.get(k).copied().unwrap_or(0) < *n)
        .map(|(k, _)| k)
        .collect()
}

/// What identifies a rule on the gateway: its keyword, direction and
/// selectors.  Loading a rule with the same key replaces it (the same flow,
/// the same isakmpd connection), and deleting it removes it, whatever file
/// either came from.
type RuleKey = (String, String, String, String);

/// The rules the gateway holds, by key: Some(statement) loaded, None not.
type Rules = BTreeMap<RuleKey, Option<String>>;

/// The statements of a rule file: continued lines joined, comments, blank
/// lines and macro definitions left out, spaces collapsed.
fn statements(text: &str) -> Vec<String> {
    text.replace("\\\n", " ")
        .lines()
        .map(|l| {
            let l = l.split('#').next().unwrap_or("");
            l.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .filter(|l| !l.is_empty() && !l.contains(" = "))
        .collect()
}

/// The address after `word` in a statement's tokens: one token, or a
/// `{ ... }` list.
fn address_after(tokens: &[&str], word: &str) -> String {
    let Some(i) = tokens.iter().position(|t| *t == word) else {
        return String::new();
    };
    let mut out = Vec::new();
    for t in &tokens[i + 1..] {
        out.push(t.trim_matches('"'));
        if !out[0].starts_with('{') || t.ends_with('}') {
            break;
        }
    }
    out.join(" ")
}

fn rule_key(statement: &str) -> RuleKey {
    let tokens: Vec<&str> = statement.split(' ').collect();
    let before_from = tokens
        .iter()
        .position(|t| *t == "from")
        .unwrap_or(tokens.len());
    let direction = tokens[..before_from]
        .iter()
        .find(|t| matches!(**t, "in" | "out"))
        .map_or("", |d| d);
    (
        tokens.first().map_or("", |k| k).to_string(),
        direction.to_string(),
        address_after(&tokens, "from"),
        address_after(&tokens, "to"),
    )
}

/// Each rule each ipsecctl call acts on, in order: its key, whether the
/// call deletes it, and its statement.
fn rule_calls(calls: &[NormalCall]) -> impl Iterator<Item = (RuleKey, bool, String)> + '_ {
    calls.iter().flat_map(|(args, text)| {
        let deletes = args.first().is_some_and(|a| a == "-d");
        statements(text.as_deref().unwrap_or(""))
            .into_iter()
            .map(move |st| (rule_key(&st), deletes, st))
    })
}

/// Plays ipsecctl calls, in order, on the rules a gateway holds.
fn replay(calls: &[NormalCall], rules: &mut Rules) {
    for (key, deletes, st) in rule_calls(calls) {
        rules.insert(key, (!deletes).then_some(st));
    }
}

/// The rules an uninterrupted run touches, as they were before it: one it
/// deletes first was loaded as deleted (ipsecctl deletes with the rule as
/// loaded), one it loads first was not there.
fn rules_before(reference: &[NormalCall]) -> Rules {
    let mut out = Rules::new();
    for (key, deletes, st) in rule_calls(reference) {
        out.entry(key).or_insert(deletes.then_some(st));
    }
    out
}

/// How an uninterrupted run of a case ends.
struct Reference {
    end: Snapshot,
    calls: Vec<NormalCall>,
    fifo: Vec<String>,
    undo_fifo: Vec<String>,
}

fn reference(case: &Case, plan: &PlanInfo) -> Reference {
    let gw = base();
    let args = (case.args)(&gw);
    // one past the last step: no fault, and proof the plan has no more steps
    let out = run(&gw, &args, &[("IPSECMGR_FAIL_AT", &plan.len().to_string())]);
    assert!(out.status.success(), "{}: {}", case.op, stderr(&out));
    assert!(!stderr(&out).contains("injected fault"), "{}", stderr(&out));
    let end = snapshot(&gw);
    assert!(!end.contains_key(&format!("{STATE}/journal")));
    Reference {
        end,
        calls: normal_calls(&gw),
        fifo: gw.commands(),
        undo_fifo: plan.undo_fifo.clone(),
    }
}

/// The FIFO lines of the harmless command alone.
fn harmless_lines() -> Vec<String> {
    let gw = base();
    let out = gw.run(&HARMLESS);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(gw.calls().is_empty());
    let lines = gw.commands();
    assert!(!lines.is_empty());
    lines
}

/// A case with what every fault check compares against: its plan, how an
/// uninterrupted run of it ends, and the harmless command's FIFO lines.
struct Subject<'a> {
    case: &'a Case,
    plan: PlanInfo,
    reference: Reference,
    harmless: Vec<String>,
}

impl<'a> Subject<'a> {
    fn of(case: &'a Case) -> Self {
        let plan = plan_of(case);
        let reference = reference(case, &plan);
        Subject {
            case,
            plan,
            reference,
            harmless: harmless_lines(),
        }
    }

    /// A fresh gateway, its files, and the case's arguments on it.
    fn fresh(&self) -> (Gateway, Snapshot, Vec<String>) {
        let gw = base();
        let start = snapshot(&gw);
        let args = (self.case.args)(&gw);
        (gw, start, args)
    }
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// What any fault may leave, and no more: ipsec.conf old or new, every
/// fragment somewhere, no temporary file.
fn left_sound(mid: &Snapshot, start: &Snapshot, reference: &Reference) -> Result<(), String> {
    let litter: Vec<&String> = mid.keys().filter(|k| k.contains(".ipsecmgr-")).collect();
    ensure!(litter.is_empty(), "temporary files left behind: {litter:?}");
    let conf = &mid["etc/ipsec.conf"];
    ensure!(
        conf == &start["etc/ipsec.conf"] || conf == &reference.end["etc/ipsec.conf"],
        "ipsec.conf is neither the old nor the new version:\n{conf}"
    );
    check_preserved(mid, start, &reference.end)
}

/// Kills a run of `case` just before step `n`, then lets the harmless
/// command recover it, checking everything on the way.
fn interrupt_at(s: &Subject, n: usize) -> Result<(), String> {
    let Subject { reference, .. } = s;
    let (gw, start, args) = s.fresh();
    let journal = format!("{STATE}/journal");

    let out = run(&gw, &args, &[("IPSECMGR_FAIL_AT", &n.to_string())]);
    ensure!(
        !out.status.success(),
        "the run with the fault succeeded: {}",
        stderr(&out)
    );
    ensure!(
        stderr(&out).contains(&format!("injected fault before step {n}")),
        "no injected fault: {}",
        stderr(&out)
    );
    let mid = snapshot(&gw);
    ensure!(
        mid.contains_key(&journal),
        "the interrupted run left no journal"
    );
    left_sound(&mid, &start, reference)?;
    recovers(&gw, s, n, &start)
}

/// Lets the harmless command recover a run of `case` whose journal says
/// step `n` is next, and checks where that ends.
fn recovers(gw: &Gateway, s: &Subject, n: usize, start: &Snapshot) -> Result<(), String> {
    let Subject {
        case,
        plan,
        reference,
        harmless,
        ..
    } = s;
    let journal = format!("{STATE}/journal");
    // a command that only looks says what is pending, and changes nothing
    let before = snapshot(gw);
    let out = gw.run(&["ls"]);
    let said = format!(
        "`{}` was interrupted at step {} of {}; the next mutating ipsecmgr run will {}",
        case.op,
        n + 1,
        plan.len(),
        if n < plan.commit {
            "roll it back"
        } else {
            "complete it"
        }
    );
    ensure!(
        out.status.success() && stderr(&out).contains(&said),
        "ls does not say {said:?}: {}",
        stderr(&out)
    );
    ensure!(
        differences(&snapshot(gw), &before).is_empty(),
        "ls changed files"
    );

    let out = gw.run(&HARMLESS);
    let err = stderr(&out);
    ensure!(
        out.status.success(),
        "the next run failed after the interrupted one: {err}"
    );
    let completed = err.contains(&format!("completed the interrupted `{}`", case.op));
    let rolled_back = err.contains(&format!("rolled back the interrupted `{}`", case.op));
    ensure!(
        completed != rolled_back,
        "the next run does not say that it completed or rolled back `{}`: {err}",
        case.op
    );
    let should_complete = n >= plan.commit;
    ensure!(
        completed == should_complete,
        "interrupted before step {n} of a plan committed at step {}, it was {}",
        plan.commit,
        if completed {
            "completed"
        } else {
            "rolled back"
        }
    );
    let end = snapshot(gw);
    ensure!(
        !end.contains_key(&journal),
        "the journal is still there after recovery"
    );
    let (want, what) = if completed {
        (&reference.end, "an uninterrupted run")
    } else {
        (start, "the start")
    };
    let diff = differences(&end, want);
    ensure!(
        diff.is_empty(),
        "after it was {}, the files differ from {what}:\n{diff}",
        if completed {
            "completed"
        } else {
            "rolled back"
        }
    );

    // the FIFO lines of the operation: all but those of the harmless command
    let mut fifo = gw.commands();
    ensure!(
        fifo.ends_with(harmless),
        "the harmless command's FIFO lines are not last: {fifo:?}"
    );
    fifo.truncate(fifo.len() - harmless.len());
    gateway_ends_as(gw, &fifo, completed, reference)
}

/// Checks what the gateway was told, the ipsecctl calls and the FIFO lines
/// `fifo` of the operation: all of an uninterrupted run (`completed`), or
/// nothing that stays.
fn gateway_ends_as(
    gw: &Gateway,
    fifo: &[String],
    completed: bool,
    reference: &Reference,
) -> Result<(), String> {
    let calls = normal_calls(gw);
    let before = rules_before(&reference.calls);
    let mut now = before.clone();
    replay(&calls, &mut now);
    let stray: Vec<&RuleKey> = now.keys().filter(|k| !before.contains_key(*k)).collect();
    ensure!(
        stray.is_empty(),
        "rules the operation never touches were loaded or deleted: {stray:?}\nafter {calls:?}"
    );
    if completed {
        let mut want = before.clone();
        replay(&reference.calls, &mut want);
        ensure!(
            now == want,
            "the rules loaded differ from an uninterrupted run's:\n{}\nafter {calls:?}",
            rules_differences(&now, &want)
        );
        let lost = missing(fifo, &reference.fifo);
        ensure!(
            lost.is_empty(),
            "FIFO lines of an uninterrupted run never sent: {lost:?}\nsent: {fifo:?}"
        );
    } else {
        ensure!(
            now == before,
            "a rolled back run left the rules changed:\n{}\nafter {calls:?}",
            rules_differences(&now, &before)
        );
        // nothing, or (once per rollback that got past the ipsecctl run)
        // exactly the lines the plan keeps for undoing it
        let undo = &reference.undo_fifo;
        ensure!(
            fifo.is_empty()
                || (!undo.is_empty()
                    && fifo.len().is_multiple_of(undo.len())
                    && fifo.chunks(undo.len()).all(|c| c == undo.as_slice())),
            "a rolled back run sent FIFO lines other than its undo lines {undo:?}: {fifo:?}"
        );
    }
    Ok(())
}

fn rules_differences(got: &Rules, want: &Rules) -> String {
    want.iter()
        .filter(|(k, v)| got.get(*k) != Some(*v))
        .map(|(k, v)| {
            format!(
                "  {k:?}:\n    is:        {:?}\n    should be: {v:?}\n",
                got.get(k)
            )
        })
        .collect()
}

/// A crash just after step `n` finished, before the journal recorded it:
/// the files, the loaded rules and the FIFO show step `n` done, the journal
/// still names it as the next step.  (The journal is replaced atomically,
/// so this is exactly what a crash between a step and the journal update
/// leaves.)  It is made from a run interrupted before step `n + 1` whose
/// journal is put back one step; for the last step, from a run interrupted
/// before it, completed, and its journal put back.
fn crash_after(s: &Subject, n: usize) -> Result<(), String> {
    let Subject {
        plan, reference, ..
    } = s;
    let (gw, start, args) = s.fresh();
    let journal = gw.path(&format!("{STATE}/journal"));
    let text = if n + 1 < plan.len() {
        let out = run(&gw, &args, &[("IPSECMGR_FAIL_AT", &(n + 1).to_string())]);
        ensure!(!out.status.success(), "no fault: {}", stderr(&out));
        let mut j: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&journal).unwrap_or_default())
                .map_err(|e| format!("journal: {e}"))?;
        ensure!(j["next"] == n + 1, "journal: {}", j["next"]);
        j["next"] = n.into();
        j.to_string()
    } else {
        let out = run(&gw, &args, &[("IPSECMGR_FAIL_AT", &n.to_string())]);
        ensure!(!out.status.success(), "no fault: {}", stderr(&out));
        let text = fs::read_to_string(&journal).unwrap_or_default();
        let out = gw.run(&HARMLESS);
        ensure!(out.status.success(), "{}", stderr(&out));
        if n < plan.commit {
            // a plan committed at its end (--config-only: files only) was
            // rolled back, not completed: the journal put back names its
            // last step on the files of the start, and the next run must
            // roll back again; what the harmless run sent is not the
            // operation's
            ensure!(
                stderr(&out).contains("rolled back the interrupted"),
                "{}",
                stderr(&out)
            );
            gw.clear();
        }
        text
    };
    write_private(&journal, &text);
    let mid = snapshot(&gw);
    left_sound(&mid, &start, reference)?;
    recovers(&gw, s, n, &start)
}

/// Makes step `n` of `case` fail (an error, not a crash).  Before the
/// commit point the run undoes what it did and says nothing was changed;
/// from it on, it keeps its journal and says the next run completes it,
/// which the next run does.
fn error_at(s: &Subject, n: usize) -> Result<(), String> {
    let Subject {
        plan, reference, ..
    } = s;
    let (gw, start, args) = s.fresh();
    let out = run(&gw, &args, &[("IPSECMGR_ERROR_AT", &n.to_string())]);
    let err = stderr(&out);
    ensure!(
        out.status.code() == Some(1) && err.contains(&format!("injected error at step {n}")),
        "exit status {:?}: {err}",
        out.status.code()
    );
    let mid = snapshot(&gw);
    left_sound(&mid, &start, reference)?;
    if n < plan.commit {
        ensure!(
            err.contains("nothing was changed"),
            "before the commit point, it does not say nothing was changed: {err}"
        );
        let diff = differences(&mid, &start);
        ensure!(diff.is_empty(), "it says nothing changed, but:\n{diff}");
        return gateway_ends_as(&gw, &gw.commands(), false, reference);
    }
    ensure!(
        err.contains("is partly done; the next ipsecmgr run completes it"),
        "after the commit point, it does not say the next run completes it: {err}"
    );
    recovers(&gw, s, n, &start)
}

/// Where each fault falls: before a step, or just after it (see
/// [`crash_after`]).
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    Before,
    JustAfter,
    /// The step fails rather than the process dying.
    Error,
}

/// Faults `case` at each step of its plan; returns how many steps.
fn at_every_step(case: &Case, fault: Fault) -> usize {
    let subject = Subject::of(case);
    let plan = &subject.plan;
    let mut failures = Vec::new();
    for n in 0..plan.len() {
        let (result, when) = match fault {
            Fault::Before => (interrupt_at(&subject, n), "interrupted before"),
            Fault::JustAfter => (
                crash_after(&subject, n),
                "crashed just after (before the journal recorded it)",
            ),
            Fault::Error => (error_at(&subject, n), "failed at"),
        };
        if let Err(e) = result {
            failures.push(format!(
                "`{}` {when} step {n} ({}): {e}",
                case.op, plan.kinds[n]
            ));
        }
    }
    eprintln!(
        "{}: a fault {} each of {} steps {:?}, commit point {}",
        case.op,
        match fault {
            Fault::Before => "before",
            Fault::JustAfter => "just after",
            Fault::Error => "at",
        },
        plan.len(),
        plan.kinds,
        plan.commit
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    plan.len()
}

fn every_step(case: &Case) -> usize {
    at_every_step(case, Fault::Before)
}

fn after_every_step(case: &Case) {
    at_every_step(case, Fault::JustAfter);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn every_command_survives_a_failure_at_every_step() {
    let total: usize = CASES
        .iter()
        .map(|case| at_every_step(case, Fault::Error))
        .sum();
    eprintln!("a failure injected at {total} steps");
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn add_survives_an_interruption_at_every_step() {
    every_step(&ADD);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn rm_of_an_unmanaged_fragment_survives_an_interruption_at_every_step() {
    every_step(&RM_UNMANAGED);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn rm_of_a_managed_fragment_survives_an_interruption_at_every_step() {
    every_step(&RM_MANAGED);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn apply_survives_an_interruption_at_every_step() {
    every_step(&APPLY);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn down_survives_an_interruption_at_every_step() {
    every_step(&DOWN);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn up_survives_an_interruption_at_every_step() {
    every_step(&UP);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn restart_survives_an_interruption_at_every_step() {
    every_step(&RESTART);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn add_survives_a_crash_just_after_every_step() {
    after_every_step(&ADD);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn rm_of_an_unmanaged_fragment_survives_a_crash_just_after_every_step() {
    after_every_step(&RM_UNMANAGED);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn rm_of_a_managed_fragment_survives_a_crash_just_after_every_step() {
    after_every_step(&RM_MANAGED);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn apply_survives_a_crash_just_after_every_step() {
    after_every_step(&APPLY);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn down_survives_a_crash_just_after_every_step() {
    after_every_step(&DOWN);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn up_survives_a_crash_just_after_every_step() {
    after_every_step(&UP);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn restart_survives_a_crash_just_after_every_step() {
    after_every_step(&RESTART);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn add_config_only_survives_an_interruption_at_every_step() {
    every_step(&ADD_CONFIG_ONLY);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn add_config_only_survives_a_crash_just_after_every_step() {
    after_every_step(&ADD_CONFIG_ONLY);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn rm_config_only_of_an_unmanaged_fragment_survives_an_interruption_at_every_step() {
    every_step(&RM_UNMANAGED_CONFIG_ONLY);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn rm_config_only_of_an_unmanaged_fragment_survives_a_crash_just_after_every_step() {
    after_every_step(&RM_UNMANAGED_CONFIG_ONLY);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn rm_config_only_of_a_managed_fragment_survives_an_interruption_at_every_step() {
    every_step(&RM_MANAGED_CONFIG_ONLY);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn rm_config_only_of_a_managed_fragment_survives_a_crash_just_after_every_step() {
    after_every_step(&RM_MANAGED_CONFIG_ONLY);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn apply_config_only_survives_an_interruption_at_every_step() {
    every_step(&APPLY_CONFIG_ONLY);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn apply_config_only_survives_a_crash_just_after_every_step() {
    after_every_step(&APPLY_CONFIG_ONLY);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn the_fault_matrix_covers_every_command_and_at_least_ten_steps() {
    let mut total = 0;
    let mut summary = String::from("steps injected per command:\n");
    for case in CASES {
        let plan = plan_of(case);
        let config_only = (case.args)(&base()).iter().any(|a| a == "--config-only");
        let label = format!(
            "{}{}",
            case.op,
            if config_only { " --config-only" } else { "" }
        );
        summary.push_str(&format!("  {label:<38} {}\n", plan.len()));
        if config_only {
            assert!(
                plan.kinds.iter().all(|k| k == "Write" || k == "Move"),
                "{label}: a --config-only plan with {:?}",
                plan.kinds
            );
        }
        total += plan.len();
    }
    summary.push_str(&format!("  {:<38} {total}\n", "total"));
    eprint!("{summary}");
    let verbs: BTreeSet<&str> = CASES
        .iter()
        .map(|c| c.op.split(' ').next().unwrap())
        .collect();
    for verb in ["add", "rm", "apply", "down", "up", "restart"] {
        assert!(verbs.contains(verb), "{verb} is not covered");
    }
    assert!(total >= 10, "{summary}");
}

/// The step a journal names as next.
fn journal_next(text: &str, plan: &PlanInfo) -> Result<usize, String> {
    let j: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("journal {text:?}: {e}"))?;
    let next = j["next"].as_u64().ok_or("journal without next")? as usize;
    ensure!(next < plan.len(), "journal next {next}");
    Ok(next)
}

/// Fills the disk at write `n` of a run of `case`, keeping it full for the
/// rest of that run, then lets the harmless command (on a disk with room
/// again) recover whatever the run left.  Returns false when the run makes
/// fewer than `n` writes, and so ran to its end untouched.
fn disk_full_at(s: &Subject, n: usize, room: Room) -> Result<bool, String> {
    let Subject {
        plan, reference, ..
    } = s;
    let (gw, start, args) = s.fresh();
    let journal = format!("{STATE}/journal");
    let at = n.to_string();
    let mut env = vec![("IPSECMGR_DISK_FULL_AT", at.as_str())];
    if room == Room::BackAfterOneWrite {
        env.push(("IPSECMGR_DISK_FULL_FOR", "1"));
    }
    let out = run(&gw, &args, &env);
    let err = stderr(&out);
    ensure!(!err.contains("panicked"), "{err}");
    if !err.contains(&format!("injected disk full at write {n}")) {
        ensure!(out.status.success(), "no fault, yet it failed: {err}");
        let diff = differences(&snapshot(&gw), &reference.end);
        ensure!(diff.is_empty(), "no fault, yet it ended elsewhere:\n{diff}");
        return Ok(false);
    }
    if out.status.success() && room == Room::BackAfterOneWrite {
        // the write that failed did not matter (the lock's note of who
        // holds it): the run went through
        let diff = differences(&snapshot(&gw), &reference.end);
        ensure!(
            diff.is_empty(),
            "it succeeded, yet it ended elsewhere:\n{diff}"
        );
        return Ok(true);
    }
    ensure!(
        out.status.code() == Some(1),
        "exit status {:?} on a full disk: {err}",
        out.status.code()
    );
    ensure!(
        err.contains("No space left on device"),
        "the message does not say the disk is full: {err}"
    );
    let mid = snapshot(&gw);
    left_sound(&mid, &start, reference)?;

    let Some(text) = mid.get(&journal) else {
        // the run took back all it had done: exactly where it began
        ensure!(
            err.contains("nothing was changed"),
            "no journal kept, yet it does not say nothing was changed: {err}"
        );
        let diff = differences(&mid, &start);
        ensure!(diff.is_empty(), "it says nothing changed, but:\n{diff}");
        gateway_ends_as(&gw, &gw.commands(), false, reference)?;
        return Ok(true);
    };
    // the message says what the next run will do, as the journal does
    let next = journal_next(text, plan)?;
    let said = if next < plan.commit {
        "the next ipsecmgr run rolls it back"
    } else {
        "the next ipsecmgr run completes it"
    };
    ensure!(
        err.contains(said),
        "the journal names step {next} (commit point {}), but the message does not say {said:?}: {err}",
        plan.commit
    );
    recovers(&gw, s, next, &start).map(|()| true)
}

/// Whether a full disk stays full for the rest of the run.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Room {
    NeverBack,
    /// The failed write's own temporary file was what filled it.
    BackAfterOneWrite,
}

/// Fills the disk at every write of a run of `case`; returns how many
/// writes that was.
fn disk_full_at_every_write(case: &Case) -> usize {
    let subject = Subject::of(case);
    let mut failures = Vec::new();
    let mut writes = 0;
    for room in [Room::NeverBack, Room::BackAfterOneWrite] {
        let mut n = 1;
        loop {
            match disk_full_at(&subject, n, room) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => failures.push(format!(
                    "`{}` with the disk full at write {n} ({room:?}): {e}",
                    case.op
                )),
            }
            n += 1;
            assert!(n < 100, "{}: a run makes over 100 writes", case.op);
        }
        writes = n - 1;
    }
    eprintln!(
        "{}: the disk filled at each of {writes} writes, staying full and not",
        case.op
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(writes >= 2, "{}: only {writes} writes", case.op);
    2 * writes
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn every_command_survives_a_full_disk_at_every_write() {
    let mut total = 0;
    for case in CASES {
        total += disk_full_at_every_write(case);
    }
    eprintln!("disk full injected at {total} writes");
}

/// Interrupts `case` before step `n`, then lets the harmless command
/// recover it on a disk that fills at its write `m`: that run must fail
/// saying so and keep the journal, and a run after it (with room again)
/// must recover as if nothing had come between.  Returns false when the
/// recovery made fewer than `m` writes.
fn full_disk_during_recovery(s: &Subject, n: usize, m: usize) -> Result<bool, String> {
    let Subject {
        plan, reference, ..
    } = s;
    let (gw, start, args) = s.fresh();
    let out = run(&gw, &args, &[("IPSECMGR_FAIL_AT", &n.to_string())]);
    ensure!(!out.status.success(), "no fault: {}", stderr(&out));
    let harmless_args: Vec<String> = HARMLESS.iter().map(|a| a.to_string()).collect();
    let out = run(
        &gw,
        &harmless_args,
        &[("IPSECMGR_DISK_FULL_AT", &m.to_string())],
    );
    let err = stderr(&out);
    ensure!(!err.contains("panicked"), "{err}");
    let full = err.find(&format!("injected disk full at write {m}"));
    let recovered = err
        .find("completed the interrupted")
        .or_else(|| err.find("rolled back the interrupted"));
    match (full, recovered) {
        (None, _) => return Ok(false),
        // the disk filled only after the recovery was done
        (Some(f), Some(r)) if r < f => return Ok(false),
        // a recovery that needed no room (removing files) went through
        (Some(_), Some(_)) => {
            let completed = err.contains("completed the interrupted");
            ensure!(
                completed == (n >= plan.commit),
                "interrupted before step {n}, commit point {}: {err}",
                plan.commit
            );
            let want = if completed { &reference.end } else { &start };
            let diff = differences(&snapshot(&gw), want);
            ensure!(diff.is_empty(), "recovered on a full disk, but:\n{diff}");
            gateway_ends_as(&gw, &gw.commands(), completed, reference)?;
            return Ok(true);
        }
        (Some(_), None) => {}
    }
    ensure!(
        out.status.code() == Some(1),
        "exit status {:?}: {err}",
        out.status.code()
    );
    ensure!(
        err.contains("No space left on device") && err.contains("the next ipsecmgr run"),
        "the message does not say the disk is full and what comes next: {err}"
    );
    let mid = snapshot(&gw);
    ensure!(
        mid.contains_key(&format!("{STATE}/journal")),
        "the journal is gone though the recovery failed"
    );
    left_sound(&mid, &start, reference)?;
    // the recovery may have got further before the disk filled
    let next = journal_next(&mid[&format!("{STATE}/journal")], plan)?;
    recovers(&gw, s, next, &start).map(|()| true)
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn a_recovery_survives_a_full_disk_at_every_write() {
    let mut failures = Vec::new();
    let mut total = 0;
    for case in CASES {
        let subject = Subject::of(case);
        for n in 0..subject.plan.len() {
            for m in 1.. {
                match full_disk_during_recovery(&subject, n, m) {
                    Ok(true) => total += 1,
                    Ok(false) => break,
                    Err(e) => failures.push(format!(
                        "`{}` interrupted before step {n}, recovered with the disk full at write {m}: {e}",
                        case.op
                    )),
                }
                assert!(m < 100, "a recovery makes over 100 writes");
            }
        }
    }
    eprintln!("disk full injected at {total} writes of recoveries");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(total >= 10, "only {total} writes");
}

/// A read-only bind mount of a directory over itself, undone when dropped.
struct ReadOnlyMount(std::path::PathBuf);

impl ReadOnlyMount {
    /// None where this process may not mount (it takes root, and a
    /// container that allows it).
    fn over(dir: &std::path::Path) -> Option<ReadOnlyMount> {
        let mount = |args: &[&std::ffi::OsStr]| {
            std::process::Command::new("mount")
                .args(args)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !mount(&[OsStr::new("--bind"), dir.as_os_str(), dir.as_os_str()]) {
            return None;
        }
        let mounted = ReadOnlyMount(dir.to_path_buf());
        mount(&[
            OsStr::new("-o"),
            OsStr::new("remount,bind,ro"),
            dir.as_os_str(),
        ])
        .then_some(mounted)
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// The ways a state directory can be unusable.
#[derive(Clone, Copy, Debug)]
enum Unusable {
    /// Mode 0500: stops everyone but root.
    ReadOnlyMode,
    /// A read-only file system: stops root too.
    ReadOnlyMount,
    /// A regular file where the directory should be.
    NotADirectory,
}

/// Makes the state directory unusable `how`; None where that cannot be
/// done here (a mode does not stop root; mounting takes root).  The value
/// returned must live while the directory is to stay unusable.
fn spoil_state_dir(gw: &Gateway, how: Unusable) -> Option<Option<ReadOnlyMount>> {
    let dir = gw.path(STATE);
    fs::create_dir_all(&dir).unwrap();
    match how {
        Unusable::ReadOnlyMode => {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o500)).unwrap();
            let probe = dir.join("probe");
            if fs::write(&probe, "").is_err() {
                return Some(None);
            }
            let _ = fs::remove_file(&probe);
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
            None
        }
        Unusable::ReadOnlyMount => {
            let mount = ReadOnlyMount::over(&dir)?;
            assert!(
                fs::write(dir.join("probe"), "").is_err(),
                "the mount is writable"
            );
            Some(Some(mount))
        }
        Unusable::NotADirectory => {
            fs::remove_dir_all(&dir).unwrap();
            fs::write(&dir, "not a directory\n").unwrap();
            Some(None)
        }
    }
}

#[test]
fn an_unwritable_state_directory_fails_clearly_and_changes_nothing() {
    let mut tested = Vec::new();
    for how in [
        Unusable::ReadOnlyMode,
        Unusable::ReadOnlyMount,
        Unusable::NotADirectory,
    ] {
        if unwritable_state_directory(how) {
            tested.push(how);
        } else {
            eprintln!("state directory {how:?}: cannot be made here");
        }
    }
    eprintln!("state directory made unusable as {tested:?}");
    // root is stopped only by the mount; anyone else by the mode
    assert!(tested.len() >= 2, "only {tested:?} could be tested");
}

/// Runs each case with the state directory unusable `how`; false when
/// that cannot be done here.
fn unwritable_state_directory(how: Unusable) -> bool {
    for case in CASES {
        let gw = base();
        let Some(spoiled) = spoil_state_dir(&gw, how) else {
            return false;
        };
        let before = snapshot(&gw);
        let args = (case.args)(&gw);
        let out = run(&gw, &args, &[]);
        let err = stderr(&out);
        drop(spoiled);
        // give the directory back so the temporary directory can go
        if gw.path(STATE).is_dir() {
            fs::set_permissions(gw.path(STATE), fs::Permissions::from_mode(0o700)).unwrap();
        }
        assert_eq!(
            out.status.code(),
            Some(1),
            "{} with the state directory {how:?}: {err}",
            case.op
        );
        assert!(
            err.starts_with("ipsecmgr: ") && err.contains(&gw.actual(STATE)),
            "{} with the state directory {how:?}: the message does not name it: {err}",
            case.op
        );
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            err.lines().count(),
            1,
            "{} with the state directory {how:?}: {err}",
            case.op
        );
        let diff = differences(&snapshot(&gw), &before);
        assert!(diff.is_empty(), "{}: files changed:\n{diff}", case.op);
        assert!(gw.calls().is_empty(), "{}: {:?}", case.op, gw.calls());
        assert!(gw.commands().is_empty(), "{}: {:?}", case.op, gw.commands());
        eprintln!("{}: state directory {how:?}: {}", case.op, err.trim_end());
    }
    true
}
