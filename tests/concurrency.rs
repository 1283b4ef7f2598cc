//! Two administrators at once: two threads each run the real binary 50
//! times on one gateway (add then rm of 25 fragments each, every op its own
//! process), freely interleaved.  The lock must serialise them: at the end
//! the tree is exactly what the successful ops made it, every failed op
//! says why, nothing is torn or left half done, and nothing panicked.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;

/// Fragments per thread.
const PER_THREAD: u32 = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Add,
    Rm,
}

/// One run of ipsecmgr, as the thread that started it saw it.
#[derive(Debug)]
struct Op {
    verb: Verb,
    name: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// When it ran, from the start of the test.
    span: (Duration, Duration),
}

impl Op {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// Fragment `prefix-NN`: its own networks and peer (tunnel number `n`), so
/// no two fragments conflict.
struct Frag {
    name: String,
    text: String,
}

fn fragments(prefix: &str, first: u32) -> Vec<Frag> {
    (0..PER_THREAD)
        .map(|i| Frag {
            name: format!("{prefix}-{i:02}"),
            text: tunnel(
                first + i,
                &format!("{prefix}-secret-{i:02}-0123456789abcdef"),
            ),
        })
        .collect()
}

fn record(verb: Verb, name: &str, out: &Output, span: (Duration, Duration)) -> Op {
    Op {
        span,
        verb,
        name: name.to_string(),
        code: out.status.code(),
        stdout: stdout(out),
        stderr: stderr(out),
    }
}

/// Adds then removes each fragment in turn, one process per op.
fn worker(gw: &Gateway, frags: &[Frag], t0: Instant) -> Vec<Op> {
    let mut ops = Vec::new();
    let timed = |verb: Verb, name: &str, args: &[&str]| {
        let from = t0.elapsed();
        let out = gw.run(args);
        record(verb, name, &out, (from, t0.elapsed()))
    };
    for f in frags {
        let src = gw.actual(&format!("home/{}.conf", f.name));
        ops.push(timed(Verb::Add, &f.name, &["add", &src]));
        ops.push(timed(Verb::Rm, &f.name, &["rm", &f.name]));
    }
    ops
}

/// How many of `mine` ran while one of `theirs` was running.
fn overlapping(mine: &[Op], theirs: &[Op]) -> usize {
    mine.iter()
        .filter(|m| {
            theirs
                .iter()
                .any(|t| m.span.0 < t.span.1 && t.span.0 < m.span.1)
        })
        .count()
}

fn include_line(name: &str) -> String {
    format!("include \"/etc/ipsec.d/{name}.conf\"")
}

/// ipsec.conf as it must look at any moment: the head, then whole include
/// lines, each at most once.  Returns the included names.
fn check_conf(text: &str) -> Result<BTreeSet<String>, String> {
    let Some(rest) = text.strip_prefix(HEAD) else {
        return Err(format!("the head is gone:\n{text}"));
    };
    if !rest.is_empty() && !rest.ends_with('\n') {
        return Err(format!("the last line is cut short:\n{text}"));
    }
    let mut names = BTreeSet::new();
    for line in rest.lines() {
        let name = line
            .strip_prefix("include \"/etc/ipsec.d/")
            .and_then(|l| l.strip_suffix(".conf\""))
            .ok_or_else(|| format!("not an include line: {line:?} in\n{text}"))?;
        if !names.insert(name.to_string()) {
            return Err(format!("{name} is included twice:\n{text}"));
        }
    }
    Ok(names)
}

fn names_in(dir: &std::path::Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn is_lock_refusal(err: &str) -> bool {
    err.contains("/var/db/ipsecmgr/lock is locked by")
        && err.contains("ipsecmgr ")
        && err.contains("waited")
}

fn has_panic(text: &str) -> bool {
    text.contains("panicked") || text.contains("RUST_BACKTRACE") || text.contains("stack backtrace")
}

#[test]
fn two_concurrent_admins_leave_exactly_what_succeeded() {
    let gw = Gateway::new(HEAD, &[]);
    let a = fragments("a", 10);
    let b = fragments("b", 60);
    for f in a.iter().chain(&b) {
        gw.write(&format!("home/{}.conf", f.name), &f.text);
    }
    let texts: BTreeMap<&str, &str> = a
        .iter()
        .chain(&b)
        .map(|f| (f.name.as_str(), f.text.as_str()))
        .collect();

    // while the two run, ipsec.conf is read over and over: every read must
    // see a whole file, old or new, never a torn one
    let done = AtomicBool::new(false);
    let start = Instant::now();
    let (ops_a, ops_b, reads) = std::thread::scope(|s| {
        let watcher = s.spawn(|| -> Result<u32, String> {
            let mut reads = 0u32;
            while !done.load(Ordering::SeqCst) {
                let text = gw.read("etc/ipsec.conf");
                check_conf(&text)?;
                reads += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(reads)
        });
        let ta = s.spawn(|| worker(&gw, &a, start));
        let tb = s.spawn(|| worker(&gw, &b, start));
        let ops_a = ta.join().unwrap();
        let ops_b = tb.join().unwrap();
        done.store(true, Ordering::SeqCst);
        (ops_a, ops_b, watcher.join().unwrap())
    });
    let elapsed = start.elapsed();
    let reads = reads.unwrap_or_else(|e| panic!("a reader saw a torn ipsec.conf: {e}"));

    let ops: Vec<&Op> = ops_a.iter().chain(&ops_b).collect();
    let total = ops.len();
    let succeeded = ops.iter().filter(|o| o.ok()).count();
    let refused: Vec<&&Op> = ops.iter().filter(|o| !o.ok()).collect();
    let overlaps = overlapping(&ops_a, &ops_b);
    eprintln!(
        "{total} ops in {elapsed:?}: {succeeded} succeeded, {} refused \
         ({} for the lock); {overlaps} of thread A's ops overlapped one of B's; \
         ipsec.conf read {reads} times meanwhile",
        refused.len(),
        refused
            .iter()
            .filter(|o| is_lock_refusal(&o.stderr))
            .count()
    );
    // the two really ran at the same time
    assert!(overlaps > 0, "the two threads never overlapped");
    assert_eq!(total, 4 * PER_THREAD as usize);

    // no panic, and no run killed by a signal
    for o in &ops {
        assert!(
            !has_panic(&o.stderr) && !has_panic(&o.stdout),
            "{:?} {}: {}{}",
            o.verb,
            o.name,
            o.stdout,
            o.stderr
        );
        assert!(o.code.is_some(), "{o:?} was killed by a signal");
    }

    // a success says it was done; a failure says why
    let added_ok: BTreeSet<&str> = ops
        .iter()
        .filter(|o| o.verb == Verb::Add && o.ok())
        .map(|o| o.name.as_str())
        .collect();
    for o in &ops {
        let verb = match o.verb {
            Verb::Add => "add",
            Verb::Rm => "rm",
        };
        if o.ok() {
            assert!(
                o.stdout.ends_with(&format!("{verb} {}: done\n", o.name)),
                "{o:?}"
            );
            continue;
        }
        assert_eq!(o.code, Some(1), "{o:?}");
        assert!(o.stderr.starts_with("ipsecmgr: "), "{o:?}");
        // an rm of a fragment whose add failed may also say it is not there
        let why = is_lock_refusal(&o.stderr)
            || (o.verb == Verb::Rm
                && !added_ok.contains(o.name.as_str())
                && o.stderr.contains(&format!("no fragment {}", o.name)));
        assert!(why, "a refusal that does not say why: {o:?}");
    }

    // the tree is exactly what the successful ops made it: a fragment is
    // included iff its last successful op was add
    let mut last: BTreeMap<&str, Verb> = BTreeMap::new();
    let mut removed_ok: BTreeSet<&str> = BTreeSet::new();
    for o in ops.iter().filter(|o| o.ok()) {
        last.insert(&o.name, o.verb);
        if o.verb == Verb::Rm {
            removed_ok.insert(&o.name);
        }
    }
    let included: BTreeSet<String> = last
        .iter()
        .filter(|(_, v)| **v == Verb::Add)
        .map(|(n, _)| n.to_string())
        .collect();
    let conf = gw.read("etc/ipsec.conf");
    let in_conf = check_conf(&conf).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(in_conf, included, "ipsec.conf:\n{conf}");
    for name in &included {
        assert!(conf.contains(&include_line(name)));
    }

    // the fragment directory holds exactly the included fragments, as added
    let frag_dir = gw.path("etc/ipsec.d");
    let want: BTreeSet<String> = included.iter().map(|n| format!("{n}.conf")).collect();
    assert_eq!(names_in(&frag_dir), want, "etc/ipsec.d");
    for name in &included {
        assert_eq!(
            gw.read(&format!("etc/ipsec.d/{name}.conf")),
            texts[name.as_str()],
            "{name}"
        );
    }
    // no temporary left beside ipsec.conf
    let etc: BTreeSet<String> = ["ipsec.conf", "ipsec.d", "ipsecmgr.conf"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names_in(&gw.path("etc")), etc, "etc");

    // the state directory: an applied copy per included fragment, a removed
    // fragment and its applied copy per successful rm, no journal, no scratch
    let state = gw.path("var/db/ipsecmgr");
    assert_eq!(names_in(&state.join("applied")), want, "applied copies");
    for name in &included {
        assert_eq!(
            gw.read(&format!("var/db/ipsecmgr/applied/{name}.conf")),
            texts[name.as_str()],
            "applied copy of {name}"
        );
    }
    let removed = names_in(&state.join("removed"));
    let mut seen: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for file in &removed {
        let (name, kind) = if let Some((n, _stamp)) = file.split_once(".conf.") {
            (n, 0)
        } else if let Some((n, _stamp)) = file.split_once(".applied.") {
            (n, 1)
        } else {
            panic!("unexpected file in removed/: {file}");
        };
        let e = seen.entry(name.to_string()).or_default();
        if kind == 0 {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
        assert_eq!(
            gw.read(&format!("var/db/ipsecmgr/removed/{file}")),
            texts[name],
            "removed/{file}"
        );
    }
    let want_removed: BTreeMap<String, (u32, u32)> =
        removed_ok.iter().map(|n| (n.to_string(), (1, 1))).collect();
    assert_eq!(seen, want_removed, "removed/: {removed:?}");
    assert!(!state.join("journal").exists(), "a journal was left behind");
    let work = names_in(&state.join("work"));
    assert!(work.is_empty(), "scratch files left: {work:?}");
    // the names each included fragment was loaded with, and those of each
    // removed one set aside
    let loaded = names_in(&state.join("loaded"));
    let mut want_loaded: BTreeSet<String> =
        want.iter().map(|n| n.replace(".conf", ".json")).collect();
    for n in &removed_ok {
        assert_eq!(
            loaded
                .iter()
                .filter(|f| f.starts_with(&format!("{n}.json.removed.")))
                .count(),
            1,
            "loaded/: {loaded:?}"
        );
    }
    want_loaded.extend(
        loaded
            .iter()
            .filter(|f| f.contains(".json.removed."))
            .cloned(),
    );
    assert_eq!(loaded, want_loaded, "loaded/");
    let state_left: BTreeSet<String> = names_in(&state)
        .into_iter()
        .filter(|n| !["applied", "removed", "work", "lock", "loaded"].contains(&n.as_str()))
        .collect();
    assert!(
        state_left.is_empty(),
        "unexpected in the state dir: {state_left:?}"
    );

    // ipsecctl ran once per successful op, never twice at once (the
    // stand-in numbers its calls by counting its log: a concurrent call
    // would overwrite another's record)
    let calls = gw.calls();
    assert_eq!(calls.len(), succeeded, "{calls:?}");
    assert!(calls.iter().all(|c| c.file.is_some()), "{calls:?}");

    // isakmpd got whole lines only: no two runs' writes were mixed
    let fifo = gw.fifo();
    assert!(!fifo.is_empty(), "rm sent no FIFO lines");
    for line in &fifo {
        assert!(
            line.starts_with("C rms [") && line.ends_with(']')
                || line.starts_with("C rm [Phase 1]:198.51.")
                || line.starts_with("C rmv [Phase 2]:Connections=from-")
                || line.starts_with("t main ")
                || line
                    .strip_prefix("t from-")
                    .is_some_and(|n| !n.contains(' '))
                || line == "S"
                || line == "C get [General]:Exchange-max-time",
            "a FIFO line that isakmpd would not understand: {line:?}"
        );
    }

    // what is left compiles cleanly
    let out = gw.run(&["compile"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!has_panic(&stderr(&out)), "{}", stderr(&out));
    let lint = gw.run(&["lint", "/etc/ipsec.conf"]);
    assert!(!has_panic(&stderr(&lint)), "{}", stderr(&lint));
    assert!(!has_panic(&stdout(&lint)), "{}", stdout(&lint));

    // the lock waits, so nearly everything goes through
    assert!(
        succeeded * 10 >= total * 9,
        "only {succeeded} of {total} ops succeeded; refusals: {refused:#?}"
    );
}
