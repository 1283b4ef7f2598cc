//! Ctrl-C (SIGINT), SIGTERM and SIGHUP during a run that changes the
//! gateway, through the real binary: the ipsecctl it waits for is stopped
//! with everything it started, the run rolls back (before its commit
//! point) or stops where its journal says (after it), says which, and
//! exits 128 + the signal's number; a `--wait` for clean-ups stops
//! waiting and leaves them pending.

mod common;

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::programs::{kill_pid, process_gone, wrap_ipsecctl};
use common::{BIN, Gateway, HEAD, stderr, stdout, tunnel};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn gateway() -> Gateway {
    Gateway::new(HEAD, &[("c1", &tunnel(1, "k1-0123456789abcdefghij"))])
}

fn spawn(gw: &Gateway, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(BIN);
    cmd.arg("--root").arg(gw.root()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (at most 20 s) until `ready` holds.
fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < Duration::from_secs(20), "never: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The run's exit code and outputs, waited for at most 20 s.
fn finish(gw: &Gateway, child: Child) -> (Option<i32>, String, String) {
    let pid = child.id() as i32;
    let start = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        if start.elapsed() > Duration::from_secs(20) {
            kill_pid(pid);
            panic!("ipsecmgr did not end within 20 s of the signal");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = waiter.join().unwrap();
    gw.settle();
    (out.status.code(), stdout(&out), stderr(&out))
}

/// The gateway's configuration and state files, for "nothing changed".
fn files(gw: &Gateway) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = walkdir::WalkDir::new(gw.root())
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .filter(|p| p.starts_with(gw.path("etc")) || p.starts_with(gw.path("var/db")))
        .filter(|p| *p != gw.path("var/db/ipsecmgr/lock"))
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap_or_default();
            (p.display().to_string(), text)
        })
        .collect();
    out.sort();
    out
}

/// An ipsecctl that, loading rules, notes its pid and hangs; the recording
/// double runs everything else (-d, -sa).
const HANGING_LOAD: &str = r#"for a in "$@"; do [ "$a" = -d ] && exec "$DOUBLE" "$@"; done
[ "$1" = -sa ] && exec "$DOUBLE" "$@"
echo $$ > "$ROOT/var/ipsecctl.pid"
sleep 60
exec "$DOUBLE" "$@""#;

fn interrupted_while_ipsecctl_loads(signal: Signal, status: i32) {
    let gw = gateway();
    gw.write("home/c5.conf", &tunnel(5, "k5-0123456789abcdefghij"));
    wrap_ipsecctl(&gw, HANGING_LOAD);
    let before = files(&gw);
    let child = spawn(&gw, &["add", &gw.actual("home/c5.conf")], &[]);
    let pid_file = gw.path("var/ipsecctl.pid");
    wait_until("ipsecctl runs", || {
        fs::read_to_string(&pid_file).is_ok_and(|t| t.ends_with('\n'))
    });
    let ipsecctl: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    let (code, out, err) = finish(&gw, child);
    assert_eq!(code, Some(status), "{out}{err}");
    let name = format!("{signal:?}");
    assert!(
        err.contains(&format!(
            "was stopped, with everything it started: ipsecmgr caught {name}"
        )),
        "{err}"
    );
    assert!(err.contains("nothing was changed in the files"), "{err}");
    // the ipsecctl and the sleep it started are gone, and loaded nothing
    wait_until("the stopped ipsecctl is gone", || process_gone(ipsecctl));
    std::thread::sleep(Duration::from_millis(100));
    let loads: Vec<_> = gw
        .calls()
        .into_iter()
        .filter(|c| c.args.iter().any(|a| a == "-f") && !c.args.iter().any(|a| a == "-d"))
        .collect();
    assert!(loads.is_empty(), "a load went through: {loads:?}");
    assert_eq!(files(&gw), before, "the files are not as they were");
    assert!(!gw.path("var/db/ipsecmgr/journal").exists());
}

#[test]
fn ctrl_c_while_ipsecctl_loads_stops_it_and_rolls_back() {
    interrupted_while_ipsecctl_loads(Signal::SIGINT, 130);
}

#[test]
fn sigterm_while_ipsecctl_loads_stops_it_and_rolls_back() {
    interrupted_while_ipsecctl_loads(Signal::SIGTERM, 143);
}

/// How many steps `add` of c5 has, from its JSON plan.
fn add_steps(gw: &Gateway, file: &str) -> usize {
    let plan = gw.run(&["add", "-n", "--json", file]);
    let doc: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    doc["steps"].as_array().unwrap().len()
}

#[test]
fn a_signal_before_the_commit_point_rolls_back() {
    let gw = gateway();
    gw.write("home/c5.conf", &tunnel(5, "k5-0123456789abcdefghij"));
    let before = files(&gw);
    let child = spawn(
        &gw,
        &["add", &gw.actual("home/c5.conf")],
        &[("IPSECMGR_SIGNAL_AT", "1")],
    );
    let (code, out, err) = finish(&gw, child);
    assert_eq!(code, Some(130), "{out}{err}");
    assert!(
        err.contains("caught SIGINT before step 2 of ")
            && err.contains(": rolled back; nothing was changed: what was done is undone"),
        "{err}"
    );
    assert_eq!(files(&gw), before);
    assert!(gw.calls().is_empty(), "{:?}", gw.calls());
}

#[test]
fn a_signal_past_the_commit_point_leaves_the_rest_to_the_next_run() {
    let gw = gateway();
    gw.write("home/c5.conf", &tunnel(5, "k5-0123456789abcdefghij"));
    let file = gw.actual("home/c5.conf");
    let last = add_steps(&gw, &file) - 1;
    let child = spawn(
        &gw,
        &["add", &file],
        &[("IPSECMGR_SIGNAL_AT", &last.to_string())],
    );
    let (code, out, err) = finish(&gw, child);
    assert_eq!(code, Some(130), "{out}{err}");
    assert!(
        err.contains(&format!(
            "caught SIGINT before step {} of {}",
            last + 1,
            last + 1
        )) && err.contains(
            "stopped there; `add c5` is partly done, and the next ipsecmgr run completes it"
        ),
        "{err}"
    );
    assert!(gw.path("var/db/ipsecmgr/journal").exists());
    let ls = gw.run(&["ls"]);
    assert!(
        stderr(&ls).contains("`add c5` was interrupted"),
        "{}",
        stderr(&ls)
    );
    // the next run completes it
    let again = gw.run(&["add", &file]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("completed the interrupted `add c5`"),
        "{}",
        stderr(&again)
    );
    assert!(gw.path("var/db/ipsecmgr/loaded/c5.json").exists());
    assert!(!gw.path("var/db/ipsecmgr/journal").exists());
}

#[test]
fn a_signal_while_waiting_for_clean_ups_leaves_them_pending() {
    let gw = gateway();
    // isakmpd still negotiates with c1's peer: its clean-up must wait
    gw.write(
        "var/isakmpd.sa",
        "SA name: peer-198.51.1.1 (Phase 1/Initiator)\nsrc: 192.0.2.1 dst: 198.51.1.1\nFlags 0x00000000\n\n",
    );
    let child = spawn(&gw, &["rm", "--wait", "60", "c1"], &[]);
    let pending = gw.path("var/db/ipsecmgr/pending-cleanup.json");
    let journal = gw.path("var/db/ipsecmgr/journal");
    wait_until("rm is done and waits", || {
        pending.exists() && !journal.exists() && !gw.path("etc/ipsec.d/c1.conf").exists()
    });
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let (code, out, err) = finish(&gw, child);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(code, Some(130), "{out}{err}");
    assert!(out.contains("rm c1: done"), "{out}");
    assert!(
        err.contains(
            "stopped waiting: caught SIGINT; the clean-ups stay pending for the next ipsecmgr run"
        ),
        "{err}"
    );
    assert!(pending.exists());
}
