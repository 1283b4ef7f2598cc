//! Paths, messages and exit codes as an administrator meets them, through
//! the real binary on a gateway (tests/common):
//! - one rule for FILE arguments: a gateway path (a setting, an include
//!   line, the default ipsec.conf) is taken under `--root`; a path typed on
//!   the command line is read as typed, from the current directory; a bare
//!   name given to a fragment command is the fragment;
//! - errors name the file the user gave, with its own line numbers, and a
//!   file with CRLF line ends gets a hint;
//! - the exit status contract: 0 ok, 1 configuration errors / refused /
//!   failed, 2 could not run.

mod common;

use std::process::{Command, Output};

use common::{BIN, Gateway, HEAD, stderr, stdout, tunnel, write_private};

/// Runs ipsecmgr with `--root` on `gw`, from the directory `cwd`.
/// The first lines of an output, for a failure message.
fn head(text: String) -> String {
    text.lines().take(6).collect::<Vec<_>>().join("\n")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

fn gateway() -> Gateway {
    Gateway::new(HEAD, &[("c1", &tunnel(1, "k1")), ("c2", &tunnel(2, "k2"))])
}

/// A directory outside the gateway tree, holding the admin's own files.
fn home(gw: &Gateway) -> std::path::PathBuf {
    let dir = gw.root().join("home");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------- paths

struct PathCase {
    what: &'static str,
    /// Arguments; `@` is replaced by the root directory's path, `%` by its
    /// last component.
    args: &'static [&'static str],
    /// The working directory, below the root (`""`: the root itself).
    cwd: &'static str,
    code: i32,
    /// Stdout holds this.
    out: &'static str,
    /// Stderr holds this (`@` as in args).
    err: &'static str,
}

const PATH_CASES: &[PathCase] = &[
    PathCase {
        what: "compile of an absolute typed path reads it as typed",
        args: &["compile", "@/home/x.conf"],
        cwd: "",
        code: 0,
        out: "peer-198.51.7.1",
        err: "",
    },
    PathCase {
        what: "compile of a relative typed path reads it from the current directory",
        args: &["compile", "x.conf"],
        cwd: "home",
        code: 0,
        out: "peer-198.51.7.1",
        err: "",
    },
    PathCase {
        what: "compile of a path typed relative to the root's parent is not mapped again",
        args: &["compile", "%/etc/ipsec.conf"],
        cwd: "..",
        code: 0,
        out: "peer-198.51.1.1",
        err: "",
    },
    PathCase {
        what: "compile of a missing typed file names the path tried and could not run",
        args: &["compile", "@/home/none.conf"],
        cwd: "",
        code: 2,
        out: "",
        err: "@/home/none.conf: No such file or directory",
    },
    PathCase {
        what: "compile without FILE reads the gateway's ipsec.conf under the root",
        args: &["compile"],
        cwd: "home",
        code: 0,
        out: "peer-198.51.2.1",
        err: "",
    },
    PathCase {
        what: "tags of a typed relative path reads it from the current directory",
        args: &["tags", "./x.conf"],
        cwd: "home",
        code: 0,
        out: "phase1 peer-198.51.7.1",
        err: "",
    },
    PathCase {
        what: "tags of a bare name is the fragment",
        args: &["tags", "c2"],
        cwd: "home",
        code: 0,
        out: "198.51.2.1",
        err: "",
    },
    PathCase {
        what: "add of a typed absolute path outside the root reads it as typed",
        args: &["add", "-n", "@/home/x.conf"],
        cwd: "",
        code: 0,
        out: "x.conf",
        err: "",
    },
    PathCase {
        what: "add of a bare name of a file in the current directory reads that file",
        args: &["add", "-n", "x.conf"],
        cwd: "home",
        code: 0,
        out: "+include \"/etc/ipsec.d/x.conf\"",
        err: "",
    },
    PathCase {
        what: "add of a bare name found nowhere names the paths tried",
        args: &["add", "-n", "y.conf"],
        cwd: "home",
        code: 2,
        out: "",
        err: "@/etc/ipsec.d/y.conf in the fragment directory",
    },
    PathCase {
        what: "diff of a typed relative FILE reads it from the current directory",
        args: &["diff", "c2", "./c2-new.conf"],
        cwd: "home",
        code: 0,
        out: "198.51.9.1",
        err: "",
    },
    PathCase {
        what: "apply of a missing typed FILE names it and could not run",
        args: &["apply", "-n", "c2", "./gone.conf"],
        cwd: "home",
        code: 2,
        out: "",
        err: "./gone.conf: No such file or directory",
    },
];

#[test]
fn file_arguments_follow_one_rule() {
    let gw = gateway();
    write_private(&home(&gw).join("x.conf"), &tunnel(7, "k7"));
    let c2_new = tunnel(2, "k2").replace("198.51.2.1", "198.51.9.1");
    write_private(&home(&gw).join("c2-new.conf"), &c2_new);
    let root = gw.root().display().to_string();
    let base = gw
        .root()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut failures = Vec::new();
    for case in PATH_CASES {
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| a.replace('@', &root).replace('%', &base))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = gw.run_from(&gw.root().join(case.cwd), &args);
        let err = case.err.replace('@', &root);
        if code(&o) != case.code || !stdout(&o).contains(case.out) || !stderr(&o).contains(&err) {
            failures.push(format!(
                "{}: {:?}\n  exit {} (want {})\n  stdout: {}\n  stderr: {}",
                case.what,
                case.args,
                code(&o),
                case.code,
                head(stdout(&o)),
                head(stderr(&o))
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ------------------------------------------------------------- messages

#[test]
fn errors_name_the_file_given_with_its_own_lines() {
    let gw = gateway();
    let dir = home(&gw);
    // ipsecctl reads a carriage return as part of a word
    write_private(
        &dir.join("crlf.conf"),
        &tunnel(5, "k5").replace('\n', "\r\n"),
    );
    write_private(
        &dir.join("one.conf"),
        "ike esp from 10.0.8.0/24 to nowhere peer\n",
    );
    write_private(
        &dir.join("c2-broken.conf"),
        "ike esp from 10.0.2.0/24 enc\n",
    );

    let o = gw.run_from(&dir, &["add", "-n", "./crlf.conf"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(
        err.contains("./crlf.conf: 1:") || err.contains("./crlf.conf:1:"),
        "{err}"
    );
    assert!(!err.contains("/etc/ipsec.d/crlf.conf"), "{err}");
    assert!(err.contains("the file has CRLF line ends"), "{err}");

    let o = gw.run_from(&dir, &["add", "-n", "./one.conf"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(err.contains("./one.conf"), "{err}");
    assert!(!err.contains("line 6") && !err.contains(": 6:"), "{err}");
    assert!(!err.contains("CRLF"), "{err}");

    let o = gw.run_from(&dir, &["apply", "-n", "c2", "./c2-broken.conf"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(err.contains("./c2-broken.conf"), "{err}");
    assert!(!err.contains("/etc/ipsec.d/c2.conf"), "{err}");

    // diff reports the new version's errors in its report
    let o = gw.run_from(&dir, &["diff", "c2", "./c2-broken.conf"]);
    let all = stdout(&o) + &stderr(&o);
    assert_eq!(code(&o), 1, "{all}");
    assert!(all.contains("./c2-broken.conf: 1:"), "{all}");
    assert!(!all.contains("/etc/ipsec.d/c2.conf: 1:"), "{all}");
}

// ----------------------------------------------------------- exit codes

/// Every command, on a gateway whose ipsec.conf is gone: ipsecmgr cannot
/// run (2), names the path it tried, and prints no empty table.
const NEEDS_IPSEC_CONF: &[&[&str]] = &[
    &["compile"],
    &["ls"],
    &["ls", "--json"],
    &["status"],
    &["status", "c1"],
    &["tags", "c1"],
    &["diff", "c1"],
    &["add", "-n", "c3"],
    &["add", "c3"],
    &["rm", "-n", "c1"],
    &["rm", "c1"],
    &["apply", "c1"],
    &["down", "c1"],
    &["up", "c1"],
    &["restart", "-n", "c1"],
];

#[test]
fn a_missing_ipsec_conf_means_could_not_run_for_every_command() {
    let gw = gateway();
    write_private(&gw.path("etc/ipsec.d/c3.conf"), &tunnel(3, "k3"));
    std::fs::remove_file(gw.path("etc/ipsec.conf")).unwrap();
    let tried = gw.path("etc/ipsec.conf").display().to_string();
    let mut failures = Vec::new();
    for args in NEEDS_IPSEC_CONF {
        let o = gw.run_from(gw.root(), args);
        let (out, err) = (stdout(&o), stderr(&o));
        if code(&o) != 2 || !err.contains(&tried) || out.contains("NAME") || out.contains("[]") {
            failures.push(format!(
                "{args:?}: exit {}\n  stdout: {out}\n  stderr: {err}",
                code(&o),
                out = head(out),
                err = head(err)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The contract per command on a healthy gateway: 0 when it did what was
/// asked, 1 when the configuration is wrong or the change refused.
const CONTRACT: &[(&[&str], i32)] = &[
    (&["compile"], 0),
    (&["compile", "etc/ipsec.d/bad.conf"], 1),
    (&["ls"], 0),
    (&["tags", "c1"], 0),
    (&["tags", "nothing-here"], 1),
    (&["diff", "c1"], 0),
    (&["add", "-n", "bad"], 1),
    (&["rm", "-n", "nothing-here"], 1),
    (&["rm", "-n", "c1"], 0),
    (&["apply", "-n", "c1"], 0),
    (&["down", "-n", "c1"], 0),
    (&["compile", "etc/ipsec.d/c1.conf"], 0),
    (&["compile", "no-such-file.conf"], 2),
    (&["compile", "--no-such-option"], 2),
    (&["tags", "etc/ipsec.d/bad.conf"], 1),
    (&["tags"], 2),
    (&["diff", "nothing-here"], 1),
    (&["diff", "c1", "etc/ipsec.d/bad.conf"], 1),
    (&["diff", "--tree", "only-one"], 2),
    (&["ls", "--json"], 0),
    (&["ls", "extra"], 2),
    (&["status"], 0),
    (&["status", "c1"], 0),
    (&["status", "nothing-here"], 1),
    (&["lint", "etc/ipsec.d/c1.conf"], 0),
    (&["lint", "etc/ipsec.d/bad.conf"], 1),
    (&["lint", "--select", "X999"], 2),
    (&["lint", "no-such-file.conf"], 2),
    (&["add", "-n", "c3"], 0),
    (&["add", "-n", "no-such-file.conf"], 2),
    (&["add"], 2),
    (&["apply", "-n", "nothing-here"], 1),
    (&["down", "-n", "nothing-here"], 1),
    (&["up", "-n", "c1"], 0),
    (&["up", "-n", "nothing-here"], 1),
    (&["restart", "-n", "c1"], 0),
    (&["restart", "-n", "nothing-here"], 1),
    (&["restart"], 2),
];

#[test]
fn exit_statuses_follow_the_manual() {
    let gw = gateway();
    write_private(
        &gw.path("etc/ipsec.d/bad.conf"),
        "ike esp from 10.0.9.0/24 enc\n",
    );
    write_private(&gw.path("etc/ipsec.d/c3.conf"), &tunnel(3, "k3"));
    let mut failures = Vec::new();
    for (args, want) in CONTRACT {
        let o = gw.run_from(gw.root(), args);
        if code(&o) != *want {
            failures.push(format!(
                "{args:?}: exit {} (want {want})\n  stdout: {}\n  stderr: {}",
                code(&o),
                head(stdout(&o)),
                head(stderr(&o))
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------- state

#[test]
fn a_refused_change_leaves_no_state_behind() {
    let gw = gateway();
    let state = gw.path("var/db/ipsecmgr");
    assert!(!state.exists());
    write_private(
        &gw.path("etc/ipsec.d/bad.conf"),
        "ike esp from 10.0.9.0/24 enc\n",
    );
    // refused: the file has errors, the name is no fragment, nothing to do
    for args in [
        &["add", "bad"][..],
        &["rm", "nothing-here"],
        &["down", "nothing-here"],
        &["add", "--json", "bad"],
        &["rm", "--json", "nothing-here"],
    ] {
        let o = gw.run_from(gw.root(), args);
        assert_eq!(code(&o), 1, "{args:?}: {}", stderr(&o));
        assert!(!state.exists(), "{args:?} left {}", state.display());
    }
    // a change that is carried out creates it
    write_private(&gw.path("etc/ipsec.d/c3.conf"), &tunnel(3, "k3"));
    let o = gw.run_from(gw.root(), &["add", "c3"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(state.join("applied/c3.conf").exists());
}

/// A journal is an interrupted run only once its run is gone: while the
/// lock is held, `ls` says the run is in progress, and who holds it.
#[test]
fn a_journal_is_interrupted_only_when_its_lock_holder_is_gone() {
    use std::io::Write;
    let gw = gateway();
    write_private(&gw.path("etc/ipsec.d/c3.conf"), &tunnel(3, "k3"));
    // the ipsecctl stand-in kills ipsecmgr once the lines are sent
    std::fs::write(gw.path("etc/ipsecctl.kill-caller"), "").unwrap();
    let o = gw.run_from(gw.root(), &["add", "c3"]);
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(gw.path("var/db/ipsecmgr/journal").exists());

    let o = gw.run_from(gw.root(), &["ls"]);
    let err = stderr(&o);
    assert!(err.contains("`add c3` was interrupted at step"), "{err}");
    assert!(
        err.contains("; the next mutating ipsecmgr run will roll it back")
            || err.contains("; the next mutating ipsecmgr run will complete it"),
        "{err}"
    );

    // a run holding the lock, as a running `add` does
    let mut lock = std::fs::OpenOptions::new()
        .write(true)
        .open(gw.path("var/db/ipsecmgr/lock"))
        .unwrap();
    lock.set_len(0).unwrap();
    lock.write_all(b"pid 4242: ipsecmgr add c3\n").unwrap();
    let held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock).unwrap();
    let o = gw.run_from(gw.root(), &["ls"]);
    let err = stderr(&o);
    assert!(
        err.contains("`add c3` is in progress (pid 4242: ipsecmgr add c3), at step"),
        "{err}"
    );
    assert!(!err.contains("interrupted"), "{err}");
    drop(held);
}

// -------------------------------------------------------------- missing

#[test]
fn a_fragment_whose_file_is_gone_is_shown_missing_and_rm_removes_its_include() {
    let gw = gateway();
    std::fs::remove_file(gw.path("etc/ipsec.d/c2.conf")).unwrap();

    let o = gw.run_from(gw.root(), &["ls"]);
    let out = stdout(&o);
    let row = out
        .lines()
        .find(|l| l.starts_with("c2 "))
        .unwrap_or_default();
    assert!(
        row.contains("missing") && row.contains("/etc/ipsec.d/c2.conf"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("c1 ") && l.contains("unmanaged")),
        "{out}"
    );

    let o = gw.run_from(gw.root(), &["ls", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let states: Vec<(&str, &str)> = v["fragments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("c1", "unmanaged"), ("c2", "missing")]);

    let o = gw.run_from(gw.root(), &["rm", "c2"]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(code(&o), 0, "{out}{err}");
    assert!(out.contains("nothing was loaded from it"), "{out}");
    assert!(!gw.read("etc/ipsec.conf").contains("c2.conf"));
    assert!(gw.read("etc/ipsec.conf").contains("/etc/ipsec.d/c1.conf"));
    assert!(gw.calls().is_empty(), "{:?}", gw.calls());
    assert!(gw.fifo().is_empty(), "{:?}", gw.fifo());
}

#[test]
fn a_fragment_that_cannot_be_read_is_shown_as_such_not_as_removed() {
    let gw = gateway();
    // applied by ipsecmgr: it has an applied copy
    let o = gw.run_from(gw.root(), &["apply", "c2"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    gw.write("var/ipsecctl.sa", "FLOWS:\nNo flows\n\nSAD:\nNo entries\n");
    gw.write("var/isakmpd.sa", "");
    let file = gw.path("etc/ipsec.d/c2.conf");
    for what in ["a directory", "a FIFO"] {
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_dir(&file);
        if what == "a FIFO" {
            nix::unistd::mkfifo(&file, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        } else {
            std::fs::create_dir(&file).unwrap();
        }
        let o = gw.run_from(gw.root(), &["ls"]);
        let out = stdout(&o);
        let row = out
            .lines()
            .find(|l| l.starts_with("c2 "))
            .unwrap_or_default();
        assert!(
            row.contains("unreadable") && row.contains(" 4 "),
            "{what}: {out}"
        );
        assert!(!out.contains("no longer included"), "{what}: {out}");
        assert!(
            out.contains("still included, but cannot be read: failed to include file /etc/ipsec.d/c2.conf: is a"),
            "{what}: {out}"
        );
        let o = gw.run_from(gw.root(), &["ls", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let c2: Vec<&serde_json::Value> = v["fragments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"] == "c2")
            .collect();
        assert_eq!(c2.len(), 1, "{what}: {v}");
        assert_eq!(c2[0]["state"], "unreadable", "{what}: {v}");
        assert!(
            c2[0]["problem"].as_str().unwrap().contains("is a"),
            "{what}: {v}"
        );
        let o = gw.run_from(gw.root(), &["status"]);
        let out = stdout(&o);
        assert!(
            out.contains("c2:\n  unreadable  still included"),
            "{what}: {out}{}",
            stderr(&o)
        );
        assert!(
            !out.contains("removed     no longer included"),
            "{what}: {out}"
        );
    }
}

#[test]
fn status_shows_a_fragment_whose_file_is_gone() {
    crate::require_isakmpd!();
    let gw = gateway();
    gw.write("var/ipsecctl.sa", "FLOWS:\nNo flows\n\nSAD:\nNo entries\n");
    gw.write("var/isakmpd.sa", "");
    std::fs::remove_file(gw.path("etc/ipsec.d/c2.conf")).unwrap();
    let o = gw.run_from(gw.root(), &["status"]);
    let out = stdout(&o);
    assert!(out.contains("c2:\n  missing "), "{out}{}", stderr(&o));
    let o = gw.run_from(gw.root(), &["status", "c2", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let f = &v["fragments"][0];
    assert_eq!(
        (f["name"].as_str(), f["missing"].as_bool()),
        (Some("c2"), Some(true)),
        "{v}"
    );
    assert_eq!(v["fragments"].as_array().unwrap().len(), 1, "{v}");
}

#[test]
fn ls_shows_a_modified_fragment_with_the_tunnels_not_applied() {
    let gw = gateway();
    write_private(&gw.path("etc/ipsec.d/c3.conf"), &tunnel(3, "k3"));
    assert_eq!(code(&gw.run_from(gw.root(), &["add", "c3"])), 0);
    // edited on disk, not applied: one tunnel more, the old one changed
    let edited = tunnel(4, "k3").replace("peer 198.51.4.1", "peer 198.51.3.1") + &tunnel(5, "k5");
    write_private(&gw.path("etc/ipsec.d/c3.conf"), &edited);

    let out = stdout(&gw.run_from(gw.root(), &["ls"]));
    let at = out.find("\nc3 ").expect("c3 listed");
    let c3 = &out[at..];
    assert!(c3.lines().nth(1).unwrap().contains("modified"), "{out}");
    assert!(c3.contains("modified, not applied"), "{out}");
    assert!(c3.contains("+ from-10.0.4.0/24-to-10.4.0.0/16"), "{out}");
    assert!(c3.contains("+ from-10.0.5.0/24-to-10.5.0.0/16"), "{out}");
    assert!(c3.contains("- from-10.0.3.0/24-to-10.3.0.0/16"), "{out}");

    let v: serde_json::Value =
        serde_json::from_str(&stdout(&gw.run_from(gw.root(), &["ls", "--json"]))).unwrap();
    let c3 = v["fragments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "c3")
        .unwrap();
    assert_eq!(c3["state"], "modified");
    assert_eq!(
        c3["not_applied"]["removed"],
        serde_json::json!(["from-10.0.3.0/24-to-10.3.0.0/16"])
    );
    assert_eq!(
        c3["not_applied"]["added"].as_array().unwrap().len(),
        2,
        "{c3}"
    );
    // an applied fragment has no such field
    let c1 = &v["fragments"][0];
    assert!(c1.get("not_applied").is_none(), "{c1}");
}

// ---------------------------------------------------------------- plans

/// A path in a plan that holds a space is printed quoted, as a shell
/// reads it back; plain paths stay as they are.
#[test]
fn plans_quote_paths_that_a_shell_would_split() {
    let gw = gateway();
    let settings = gw.read("etc/ipsecmgr.conf");
    gw.write(
        "etc/ipsecmgr.conf",
        &format!("fragment_dir = \"/etc/ipsec files\"\n{settings}"),
    );
    std::fs::create_dir_all(gw.path("etc/ipsec files")).unwrap();
    write_private(&home(&gw).join("x.conf"), &tunnel(7, "k7"));
    let o = gw.run_from(gw.root(), &["add", "-n", &gw.actual("home/x.conf")]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    assert!(out.contains("edit '/etc/ipsec files/x.conf':"), "{out}");
    let run = format!("run ipsecctl -f '{}'", gw.actual("etc/ipsec files/x.conf"));
    assert!(out.contains(&run), "{out}");
    assert!(out.contains("edit /etc/ipsec.conf:"), "{out}");
}

/// Settings that only a test set-up should have are warned about on a
/// gateway (no `--root`): isakmpd writes its answers to its own result
/// file whatever its -f (ui.h), and rebuilds its connections 5 s after a
/// list change (ui.c: ui_conn_reinit); under `--root` nothing is said.
#[test]
fn test_only_settings_are_warned_about_on_a_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("ipsecmgr.conf");
    write_private(
        &settings,
        "isakmpd_result = \"/var/run/elsewhere.result\"\nisakmpd_reinit_window = 1\n",
    );
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&settings)
        .arg("status")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("warning: isakmpd_result is set to /var/run/elsewhere.result")
            && err.contains("/var/run/isakmpd.result"),
        "{err}"
    );
    assert!(
        err.contains("warning: isakmpd_reinit_window is 1 s"),
        "{err}"
    );
    // lint and compile ask isakmpd nothing
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&settings)
        .args(["compile", "/dev/null"])
        .output()
        .unwrap();
    assert!(
        !stderr(&out).contains("warning: isakmpd"),
        "{}",
        stderr(&out)
    );
    // a test set-up under --root
    let gw = Gateway::new(HEAD, &[("b", &tunnel(2, "b-secret-0123456789abcdef"))]);
    gw.write(
        "etc/ipsecmgr.conf",
        "isakmpd_result = \"/var/run/elsewhere.result\"\nisakmpd_reinit_window = 1\n",
    );
    let out = gw.run_from(gw.root(), &["status"]);
    assert!(
        !stderr(&out).contains("warning: isakmpd"),
        "{}",
        stderr(&out)
    );
}
