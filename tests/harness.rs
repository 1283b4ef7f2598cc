//! The isakmpd harness (the project's shared test tooling, outside this
//! repository).  `cargo test` without it: the tests that need it are
//! skipped with one notice per run that says what is skipped and how to
//! enable it, and every other test passes; with `CI=true` a missing
//! harness fails the run.  Proved on this very test binary, run again
//! with the harness taken away; and `.ci/run` runs the tests with
//! `CI=true`, so the checks against isakmpd's code cannot vanish there.
//! A harness without its OpenBSD sources gets them from
//! `tests/fetch-isakmpd-sources`, checked file by file.

mod common;

use std::path::Path;
use std::process::{Command, Output};

/// A test that needs the harness: it replays a FIFO line through
/// isakmpd's own conf.c.  The tests below run it in a child process.
#[test]
fn needs_the_harness() {
    crate::require_isakmpd!();
    let dump = common::isakmpd::replay(&["C set [a]:b=c force"]);
    assert_eq!(dump.get("a", "b").as_deref(), Some("c"));
}

/// This test binary, running `needs_the_harness` alone with the harness
/// at `harness`, and `CI` as given; `times` times, one after the other,
/// from one shell: as the test binaries of one `cargo test` run, they
/// have one parent, of their own (the notice is once per parent).
fn run_alone(harness: &Path, ci: Option<&str>, times: usize) -> Output {
    let once = r#""$0" --exact needs_the_harness --test-threads=1"#;
    let script = format!("set -e; {}", vec![once; times].join("; "));
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg(std::env::current_exe().unwrap())
        .env("ISAKMPD_HARNESS", harness)
        .env_remove("CI");
    if let Some(ci) = ci {
        cmd.env("CI", ci);
    }
    cmd.output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn without_the_harness_its_tests_are_skipped_with_one_notice() {
    // two runs with one parent, as two test binaries of one cargo test:
    // each passes, and the notice shows once
    let o = run_alone(Path::new("/nonexistent/isakmpd"), None, 2);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(out.matches("test result: ok. 1 passed").count(), 2, "{out}");
    assert_eq!(err.matches("notice:").count(), 1, "{err}");
    for says in [
        "notice: isakmpd harness not found at /nonexistent/isakmpd",
        "Skipped: the tests that replay FIFO lines through isakmpd's own conf.c",
        "every other test runs",
        "../shared/isakmpd",
        "ISAKMPD_HARNESS",
    ] {
        assert!(err.contains(says), "the notice does not say {says}:\n{err}");
    }
}

#[test]
fn in_ci_a_missing_harness_fails_the_run() {
    let o = run_alone(Path::new("/nonexistent/isakmpd"), Some("true"), 1);
    let (out, err) = text(&o);
    assert!(!o.status.success(), "{out}{err}");
    assert!(
        format!("{out}{err}")
            .contains("CI=true and isakmpd harness not found at /nonexistent/isakmpd"),
        "{out}{err}"
    );
}

#[test]
fn a_harness_without_its_openbsd_sources_points_at_the_fetch_script() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("build"), "#!/bin/sh\nexit 1\n").unwrap();
    let o = run_alone(dir.path(), None, 1);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        err.contains("lacks its OpenBSD sources") && err.contains("tests/fetch-isakmpd-sources"),
        "{err}"
    );
    let o = run_alone(dir.path(), Some("true"), 1);
    assert!(!o.status.success());
}

#[test]
fn ci_runs_the_tests_with_ci_true() {
    let script =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run")).unwrap();
    let lines: Vec<&str> = script.lines().map(str::trim).collect();
    let ci = lines
        .iter()
        .position(|l| *l == "export CI=true")
        .expect(".ci/run exports CI=true");
    let test = lines
        .iter()
        .position(|l| l.starts_with("cargo test"))
        .expect(".ci/run runs cargo test");
    assert!(ci < test, "CI=true is set after cargo test runs");
}

// ------------------------------------------- tests/fetch-isakmpd-sources

const FETCH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fetch-isakmpd-sources");

/// A copy of the harness without its OpenBSD sources.
fn harness_without_sources() -> tempfile::TempDir {
    let from = common::isakmpd::harness_sources();
    let to = tempfile::tempdir().unwrap();
    for entry in walkdir::WalkDir::new(&from) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(&from).unwrap();
        if rel.starts_with("openbsd") || rel.starts_with("daemon/openbsd") {
            continue;
        }
        let target = to.path().join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
    to
}

/// Whether two directories hold the same files with the same bytes.
fn same_files(a: &Path, b: &Path) -> Result<(), String> {
    let list = |d: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    if list(a) != list(b) {
        return Err(format!("{a:?} and {b:?} list other files"));
    }
    for name in list(a) {
        if std::fs::read(a.join(&name)).unwrap() != std::fs::read(b.join(&name)).unwrap() {
            return Err(format!("{name} differs"));
        }
    }
    Ok(())
}

fn fetch(harness: &Path, from: Option<&Path>, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg(FETCH).arg(harness);
    if let Some(from) = from {
        cmd.arg(from);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_fetch_script_fills_a_harness_with_checked_sources() {
    crate::require_isakmpd!();
    let real = common::isakmpd::harness_sources();
    let copy = harness_without_sources();
    // an sbin/isakmpd tree at the pinned revision: the harness's own copy
    let o = fetch(copy.path(), Some(&real.join("daemon/openbsd")), &[]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    same_files(
        &copy.path().join("daemon/openbsd"),
        &real.join("daemon/openbsd"),
    )
    .unwrap();
    same_files(&copy.path().join("openbsd"), &real.join("openbsd")).unwrap();
    // and the harness builds from them
    let built = tempfile::tempdir().unwrap();
    let b = Command::new("sh")
        .arg(copy.path().join("build"))
        .arg(built.path().join("out"))
        .output()
        .unwrap();
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert!(built.path().join("out/isakmpd-conf").is_file());
    // a second run does not overwrite them
    let o = fetch(copy.path(), Some(&real.join("daemon/openbsd")), &[]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
}

#[test]
fn the_fetch_script_refuses_a_tree_that_is_not_the_pinned_one() {
    crate::require_isakmpd!();
    let real = common::isakmpd::harness_sources();
    let copy = harness_without_sources();
    let tree = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(real.join("daemon/openbsd")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tree.path().join(e.file_name())).unwrap();
    }
    let mut conf = std::fs::read(tree.path().join("conf.c")).unwrap();
    conf.extend_from_slice(b"/* changed */\n");
    std::fs::write(tree.path().join("conf.c"), conf).unwrap();
    std::fs::remove_file(tree.path().join("ui.c")).unwrap();
    let o = fetch(copy.path(), Some(tree.path()), &[]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("conf.c: not the file of "), "{err}");
    assert!(err.contains("ui.c: missing"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!copy.path().join("openbsd").exists());
    assert!(!copy.path().join("daemon/openbsd").exists());
}

#[test]
fn the_fetch_script_fetches_the_pinned_commit_with_git() {
    crate::require_isakmpd!();
    let real = common::isakmpd::harness_sources();
    let copy = harness_without_sources();
    // a stand-in for the tree the harness's sources come from: a git
    // repository whose commit holds them in sbin/isakmpd, and more
    let remote = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .arg("-C")
            .arg(remote.path())
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.net")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.net")
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {:?}", text(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    let sbin = remote.path().join("sbin/isakmpd");
    std::fs::create_dir_all(&sbin).unwrap();
    for e in std::fs::read_dir(real.join("daemon/openbsd")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), sbin.join(e.file_name())).unwrap();
    }
    std::fs::create_dir_all(remote.path().join("sbin/other")).unwrap();
    std::fs::write(remote.path().join("sbin/other/x.c"), "int x;\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "tree"]);
    git(&["config", "uploadpack.allowFilter", "true"]);
    git(&["config", "uploadpack.allowAnySHA1InWant", "true"]);
    let commit = git(&["rev-parse", "HEAD"]);
    // the copy pins this commit, as the real harness pins the real one
    let build = copy.path().join("build");
    let text_of_build = std::fs::read_to_string(&build).unwrap();
    let pinned: String = text_of_build
        .lines()
        .map(|l| {
            if l.starts_with("COMMIT=") {
                format!("COMMIT={commit}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(pinned, text_of_build, "the harness's build pins no COMMIT");
    std::fs::write(&build, pinned).unwrap();
    let url = format!("file://{}", remote.path().display());
    let o = fetch(copy.path(), None, &[("ISAKMPD_SOURCES_REPOSITORY", &url)]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    same_files(
        &copy.path().join("daemon/openbsd"),
        &real.join("daemon/openbsd"),
    )
    .unwrap();
    same_files(&copy.path().join("openbsd"), &real.join("openbsd")).unwrap();
}
