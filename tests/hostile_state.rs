//! Hostile state: what ipsecmgr reads back from its state directory is
//! input like any other.  A state file that does not parse is refused,
//! naming it and how to repair it, never read as empty; one that is a FIFO,
//! a device or a link is refused without waiting or reading without end;
//! every name and path read back is checked as strictly as one from the
//! command line; and what a killed run left half written is removed.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::time::Duration;

use common::programs::*;
use common::*;
use serde_json::Value;

const STATE: &str = "var/db/ipsecmgr";
const BOUND: Duration = Duration::from_secs(20);

/// A gateway whose fragments a and b were added by ipsecmgr.
fn managed() -> Gateway {
    let gw = Gateway::new(HEAD, &[]);
    for (name, n) in [("a", 1), ("b", 2)] {
        let rel = format!("home/{name}.conf");
        gw.write(&rel, &tunnel(n, &format!("{name}-secret-0123456789abcdef")));
        let out = gw.run(&["add", &gw.actual(&rel)]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    gw.clear();
    gw
}

fn state(rel: &str) -> String {
    format!("{STATE}/{rel}")
}

fn mkfifo(gw: &Gateway, rel: &str) {
    let p = gw.path(rel);
    let _ = fs::remove_file(&p);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

fn link_to(gw: &Gateway, rel: &str, target: &str) {
    let p = gw.path(rel);
    let _ = fs::remove_file(&p);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    symlink(target, &p).unwrap();
}

#[test]
fn a_corrupt_held_down_or_pending_file_is_refused_not_read_as_empty() {
    let gw = managed();
    let out = gw.run(&["down", "a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let held = gw.read(&state("held-down.json"));
    assert!(held.contains("\"a\""), "{held}");
    gw.clear();
    // cut short, as a full disk or a crash of another tool could leave it
    let cut = &held[..held.len() / 2];
    gw.write(&state("held-down.json"), cut);
    let ran = run_bounded(&gw, &["down", "b"], BOUND);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("held-down.json"), "{ran:?}");
    assert!(ran.stderr.contains("move it away"), "{ran:?}");
    assert_eq!(
        gw.read(&state("held-down.json")),
        cut,
        "the file was rewritten"
    );
    assert!(gw.fifo().is_empty(), "{:?}", gw.fifo());
    // ls says so, and lists the rest
    let ran = run_bounded(&gw, &["ls"], BOUND);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stderr.contains("held-down.json"), "{ran:?}");
    fs::remove_file(gw.path(&state("held-down.json"))).unwrap();

    // a pending clean-up that does not parse: rm would have dropped it
    gw.write(
        &state("pending-cleanup.json"),
        "[{\"fragment\": \"x\", \"op\"",
    );
    let ran = run_bounded(&gw, &["rm", "a"], BOUND);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("pending-cleanup.json"), "{ran:?}");
    assert!(
        gw.read("etc/ipsec.conf").contains("a.conf"),
        "a was removed"
    );
    assert_eq!(
        gw.read(&state("pending-cleanup.json")),
        "[{\"fragment\": \"x\", \"op\""
    );
}

#[test]
fn fifos_devices_and_links_in_the_state_directory_hang_nothing() {
    let gw = managed();
    // one at a time: each in the place of a file ipsecmgr reads
    for rel in [
        "held-down.json",
        "pending-cleanup.json",
        "journal",
        "applied/a.conf",
        "loaded/a.json",
        "lock",
    ] {
        let saved = fs::read(gw.path(&state(rel))).ok();
        for kind in ["fifo", "/dev/zero", "/dev/null"] {
            if kind == "fifo" {
                mkfifo(&gw, &state(rel));
            } else {
                link_to(&gw, &state(rel), kind);
            }
            for args in [
                &["ls"][..],
                &["status"],
                &["rm", "-n", "a"],
                &["down", "a"],
                &["apply", "a"],
            ] {
                let ran = run_bounded(&gw, args, BOUND);
                assert!(!ran.hung, "{rel} as {kind}: {args:?} hung: {ran:?}");
                assert!(!ran.stderr.contains("panicked"), "{rel}: {ran:?}");
                if args[0] == "down" {
                    // a state file that is no file: refused, named
                    assert_eq!(ran.code, Some(1), "{rel} as {kind}: {ran:?}");
                    let name = rel.rsplit('/').next().unwrap();
                    assert!(ran.stderr.contains(name), "{rel} as {kind}: {ran:?}");
                }
            }
            // nothing but status's questions went to isakmpd
            let told: Vec<String> = gw
                .fifo()
                .into_iter()
                .filter(|l| l != "S" && !l.starts_with("C get "))
                .collect();
            assert!(told.is_empty(), "{rel} as {kind}: {told:?}");
        }
        let _ = fs::remove_file(gw.path(&state(rel)));
        if let Some(bytes) = saved {
            fs::write(gw.path(&state(rel)), bytes).unwrap();
        }
    }
    // everything in its place again: the commands work
    let out = gw.run(&["down", "a"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The loaded record of `name`, as JSON.
fn record(gw: &Gateway, name: &str) -> Value {
    serde_json::from_str(&gw.read(&state(&format!("loaded/{name}.json")))).unwrap()
}

fn put_record(gw: &Gateway, name: &str, v: &Value) {
    gw.write(&state(&format!("loaded/{name}.json")), &v.to_string());
}

#[test]
fn names_in_loaded_records_are_checked() {
    let gw = managed();
    let good = record(&gw, "a");
    let b = record(&gw, "b");
    let b_peer = b["ikes"][0]["phase1"].as_str().unwrap().to_string();
    let crafted: Vec<(&str, Value)> = vec![
        // a global section among a's own
        ("Phase 1", {
            let mut v = good.clone();
            v["ikes"][0]["phase1_sections"]
                .as_array_mut()
                .unwrap()
                .push("Phase 1".into());
            v
        }),
        // another customer's peer, with names that lead nowhere near it
        (b_peer.as_str(), {
            let mut v = good.clone();
            v["ikes"][0]["phase1"] = b_peer.clone().into();
            v["ikes"][0]["keys"] = serde_json::json!([[0, "192.0.2.250"]]);
            v
        }),
        // a name that would start a line of its own in the FIFO
        ("C rms [General]", {
            let mut v = good.clone();
            v["ikes"][0]["phase2"] = "from-x\nC rms [General]".into();
            v
        }),
    ];
    for (what, v) in crafted {
        put_record(&gw, "a", &v);
        let ran = run_bounded(&gw, &["rm", "-n", "a"], BOUND);
        assert!(
            !ran.stdout.contains(&format!("[{what}]"))
                && !ran.stdout.contains(&format!("t main {what}")),
            "{what}: the plan uses the crafted name: {ran:?}"
        );
        assert_eq!(ran.code, Some(1), "{what}: {ran:?}");
        assert!(ran.stderr.contains("loaded/a.json"), "{what}: {ran:?}");
    }
    put_record(&gw, "a", &good);
    let ran = run_bounded(&gw, &["rm", "-n", "a"], BOUND);
    assert_eq!(ran.code, Some(0), "{ran:?}");
}

#[test]
fn a_journal_cannot_write_outside_the_gateway() {
    let gw = managed();
    let victim = gw.path("victim");
    fs::write(&victim, "precious\n").unwrap();
    // an interrupted run whose plan writes elsewhere: completed by the next
    let journal = serde_json::json!({
        "plan": {
            "op": "apply a",
            "steps": [{"Write": {
                "path": victim,
                "shown": "/etc/ipsec.d/a.conf",
                "old": null,
                "new": b"owned\n".to_vec(),
                "mode": 0o600
            }}],
            "commit": 0,
            "notes": [],
            "later": []
        },
        "next": 0,
        "sent": 0
    });
    gw.write(&state("journal"), &journal.to_string());
    let ran = run_bounded(&gw, &["down", "b"], BOUND);
    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "precious\n",
        "{ran:?}"
    );
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("journal"), "{ran:?}");
    // and a held-down record naming something that is no fragment
    fs::remove_file(gw.path(&state("journal"))).unwrap();
    for held in [
        r#"{"../../etc/x": [{"list": "Connections", "name": "from-a-to-b"}]}"#,
        r#"{"a": [{"list": "General", "name": "from-a-to-b"}]}"#,
        r#"{"a": [{"list": "Connections", "name": "x\nC rms [Phase 1]"}]}"#,
    ] {
        gw.write(&state("held-down.json"), held);
        let ran = run_bounded(&gw, &["up", "a"], BOUND);
        assert_eq!(ran.code, Some(1), "{held}: {ran:?}");
        assert!(ran.stderr.contains("held-down.json"), "{held}: {ran:?}");
        assert!(gw.fifo().is_empty(), "{held}: {:?}", gw.fifo());
    }
}

#[test]
fn temporaries_a_killed_run_left_in_the_state_directory_are_removed() {
    let gw = managed();
    let left = [
        state("loaded/.a.json.ipsecmgr-4242-00ff00ff00ff00ff"),
        state("applied/sub/.x.conf.ipsecmgr-4242-0123456789abcdef"),
        state(".held-down.json.ipsecmgr-4242-0123456789abcdef"),
        "etc/ipsec.d/sub/.y.conf.ipsecmgr-4242-0123456789abcdef".to_string(),
    ];
    for rel in &left {
        gw.write(rel, "psk \"half-written-0123456789\"\n");
    }
    let out = gw.run(&["down", "a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for rel in &left {
        assert!(!gw.path(rel).exists(), "{rel} is still there");
    }
    assert!(
        stderr(&out).contains("removed 4 temporary file(s)"),
        "{}",
        stderr(&out)
    );
}
