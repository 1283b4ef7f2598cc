//! The README's sandbox walk-through, run as the README shows it: its
//! lines, taken from the README, run by sh from a directory laid out as
//! the repository's root (its `examples` and `conf.d-examples`), each line
//! required to succeed; then what the walk-through is to show is checked
//! in what it printed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ipsecmgr");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The first ```sh block after the README's "## Try it: a sandbox".
fn walk_through() -> String {
    let readme = fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    let section = readme
        .split("\n## Try it: a sandbox\n")
        .nth(1)
        .expect("the README has a sandbox section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("a sh block in the sandbox section");
    block.to_string()
}

/// Ends the stand-in isakmpd however the walk-through ended.
struct Sandbox(PathBuf);

impl Drop for Sandbox {
    fn drop(&mut self) {
        let stop = self.0.join("stop");
        if stop.exists() {
            let _ = Command::new(&stop).status();
        }
        if let Ok(pid) = fs::read_to_string(self.0.join("var/run/isakmpd.pid"))
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

#[test]
fn the_readme_sandbox_walk_through_runs_as_written() {
    let script = walk_through();
    for command in ["add", "ls", "status", "down", "rm", "diff"] {
        assert!(
            script.contains(&format!("./ipsecmgr {command}")),
            "the walk-through has no {command}:\n{script}"
        );
    }
    let root = tempfile::tempdir().unwrap();
    for dir in ["examples", "conf.d-examples"] {
        std::os::unix::fs::symlink(Path::new(REPO).join(dir), root.path().join(dir)).unwrap();
    }
    let _sandbox = Sandbox(root.path().join("sandbox"));
    let start = Instant::now();
    let out = Command::new("sh")
        .arg("-ec")
        .arg(&script)
        .current_dir(root.path())
        // the binary this test run built, rather than a cargo build inside it
        .env("IPSECMGR", BIN)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "the walk-through failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(start.elapsed() < Duration::from_secs(120));
    // what it shows: the example's tunnels up, the new customer loaded, down
    // and held down, up again, changed, removed; no key printed
    for said in [
        "sandbox ready in sandbox",
        "  up          from-10.0.50.0/24-to-172.16.10.0/24",
        "add customer-1: done",
        "  up          from-10.0.50.0/24-to-172.16.40.0/24",
        "customer-1:  (held down)\n  down        from-10.0.50.0/24-to-172.16.40.0/24",
        "down customer-1: done",
        "up customer-1: done",
        "  added    from-10.0.50.0/24-to-172.16.42.0/24",
        "apply customer-1: done",
        "rm customer-1: done",
    ] {
        assert!(
            stdout.contains(said),
            "not shown: {said}\n---\n{stdout}\n{stderr}"
        );
    }
    for key in [
        "customer-1-5be0d2a94c71e386f1d0",
        "acme-4f9a1c7e2b8d5036a1e9",
    ] {
        assert!(
            !stdout.contains(key) && !stderr.contains(key),
            "a key was printed"
        );
    }
    // isakmpd read the FIFO lines of it all, and was stopped
    let log = fs::read_to_string(root.path().join("sandbox/var/log/isakmpd.log")).unwrap();
    assert!(log.contains("C add [Phase 2]:Connections=from-10.0.50.0/24-to-172.16.40.0/24"));
    assert!(log.contains("t from-10.0.50.0/24-to-172.16.40.0/24"));
    assert!(log.ends_with("Q\n"), "{log}");
}
