//! A reader that goes away (`ipsecmgr ls | head -1`), or a closed stderr,
//! makes no command panic and stops none halfway: read-only commands end
//! with their usual status, mutating ones carry their plan through.  A
//! stdout that fails otherwise (a full disk) is reported, with exit status
//! 2 when the output was the point of the command.

mod common;

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use common::*;

#[derive(Clone, Copy, Debug)]
enum Unread {
    Stdout,
    Stderr,
}

/// A pipe whose reading end is already closed: every write to the other
/// end fails with EPIPE.
fn unread_pipe() -> OwnedFd {
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    write
}

/// Runs ipsecmgr on `gw` with one of its outputs unread; returns the exit
/// status (None if a signal ended it) and what the other output said.
fn run_unread(gw: &Gateway, args: &[&str], which: Unread) -> (Option<i32>, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("--root").arg(gw.root()).args(args);
    cmd.stdin(Stdio::null());
    match which {
        Unread::Stdout => cmd
            .stdout(Stdio::from(unread_pipe()))
            .stderr(Stdio::piped()),
        Unread::Stderr => cmd
            .stderr(Stdio::from(unread_pipe()))
            .stdout(Stdio::piped()),
    };
    let out = cmd.output().unwrap();
    let other = match which {
        Unread::Stdout => &out.stderr,
        Unread::Stderr => &out.stdout,
    };
    (
        out.status.code(),
        String::from_utf8_lossy(other).into_owned(),
    )
}

fn gateway() -> Gateway {
    let gw = Gateway::new(
        "# gw1\n",
        &[
            ("alpha", &tunnel(1, "alpha-secret-0123456789")),
            ("beta", &tunnel(2, "beta-secret-0123456789a")),
        ],
    );
    gw.write("home/gamma.conf", &tunnel(3, "gamma-secret-0123456789"));
    gw
}

#[test]
fn an_unread_output_stops_nothing_and_panics_nothing() {
    // status asks isakmpd's own conf.c (the harness) for its connections;
    // without the harness the other commands still run
    let live = common::isakmpd::available();
    let gw = gateway();
    let gamma = gw.path("home/gamma.conf").display().to_string();
    // (arguments, exit status when nothing is read)
    let runs: Vec<(Vec<&str>, i32)> = vec![
        (vec!["compile"], 0),
        (vec!["compile", "-k"], 0),
        (vec!["lint"], 0),
        (vec!["lint", "--format", "json"], 0),
        (vec!["ls"], 0),
        (vec!["ls", "--json"], 0),
        (vec!["tags", "alpha"], 0),
        (vec!["tags", "--teardown", "alpha"], 0),
        (vec!["diff", "alpha", &gamma], 0),
        (vec!["status"], 0),
        (vec!["status", "--json"], 0),
        (vec!["add", "-n", &gamma], 0),
        (vec!["rm", "-n", "alpha"], 0),
        (vec!["down", "-n", "alpha"], 0),
        (vec!["rm", "no-such-fragment"], 1),
        (vec!["--help"], 0),
        (vec!["no-such-command"], 2),
    ];
    let runs: Vec<_> = runs
        .into_iter()
        .filter(|(args, _)| live || args[0] != "status")
        .collect();
    let mut failures = Vec::new();
    for which in [Unread::Stdout, Unread::Stderr] {
        for (args, want) in &runs {
            let (code, other) = run_unread(&gw, args, which);
            if code != Some(*want) || other.contains("panicked") {
                failures.push(format!(
                    "{args:?} with {which:?} unread: exit {code:?}, want {want}:\n{other}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_mutating_command_whose_output_is_unread_still_completes() {
    for which in [Unread::Stdout, Unread::Stderr] {
        let gw = gateway();
        let gamma = gw.path("home/gamma.conf").display().to_string();
        let (code, other) = run_unread(&gw, &["add", &gamma], which);
        assert_eq!(code, Some(0), "add with {which:?} unread: {other}");
        let (code, other) = run_unread(&gw, &["rm", "alpha"], which);
        assert_eq!(code, Some(0), "rm with {which:?} unread: {other}");
        let conf = gw.read("etc/ipsec.conf");
        assert!(
            conf.contains("gamma.conf") && !conf.contains("alpha.conf"),
            "{conf}"
        );
        assert!(!gw.path("etc/ipsec.d/alpha.conf").exists());
        assert!(gw.path("etc/ipsec.d/gamma.conf").exists());
        assert!(!gw.path("var/db/ipsecmgr/journal").exists());
        let calls: Vec<Vec<String>> = gw.calls().into_iter().map(|c| c.args).collect();
        assert_eq!(calls.len(), 2, "{calls:?}");
    }
}

#[test]
fn a_full_disk_under_stdout_is_reported() {
    let gw = gateway();
    let gamma = gw.path("home/gamma.conf").display().to_string();
    // (arguments, whether it changes the gateway: then its status stands)
    for (args, done) in [
        (vec!["compile"], false),
        (vec!["lint"], false),
        (vec!["ls"], false),
        (vec!["add", "-n", &gamma], false),
        (vec!["add", &gamma], true),
    ] {
        let out = Command::new(BIN)
            .arg("--root")
            .arg(gw.root())
            .args(&args)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(if done { 0 } else { 2 }),
            "{args:?}: {err}"
        );
        assert!(
            err.ends_with("ipsecmgr: cannot write standard output: No space left on device\n"),
            "{args:?}: {err}"
        );
        if done {
            // the change stands
            assert!(gw.read("etc/ipsec.conf").contains("gamma.conf"));
        }
    }
}
