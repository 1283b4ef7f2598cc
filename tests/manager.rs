//! The fragment commands on a gateway tree: the exact ipsecctl calls and
//! FIFO lines, byte for byte, and the files before and after.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use common::*;

fn gateway() -> Gateway {
    Gateway::new(
        HEAD,
        &[
            ("customer-acme", &acme()),
            ("customer-b", &tunnel(2, "b-secret-0123456789abcdef")),
        ],
    )
}

/// isakmpd's database (the FIFO replayed through its own conf.c/ui.c)
/// equals a fresh load of `names`, in order, with `down` held down.
fn assert_db(gw: &Gateway, names: &[&str], down: &[&str]) {
    if let Err(e) = gw.check_db(names, down) {
        panic!("{e}");
    }
}

const BOTH: [&str; 2] = ["customer-acme", "customer-b"];

#[test]
fn add_loads_the_file_and_adds_one_include_line() {
    crate::require_isakmpd!();
    let gw = gateway();
    let before = gw.read("etc/ipsec.conf");
    gw.write(
        "home/new-customer.conf",
        &tunnel(7, "new-secret-0123456789abcd"),
    );
    let out = gw.run(&["add", &gw.actual("home/new-customer.conf")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = gw.read("etc/ipsec.conf");
    assert_eq!(
        after,
        before.replace(
            "include \"/etc/ipsec.d/customer-b.conf\"\n",
            "include \"/etc/ipsec.d/customer-b.conf\"\ninclude \"/etc/ipsec.d/new-customer.conf\"\n"
        )
    );
    let installed = gw.path("etc/ipsec.d/new-customer.conf");
    assert_eq!(
        fs::read_to_string(&installed).unwrap(),
        tunnel(7, "new-secret-0123456789abcd")
    );
    assert_eq!(fs::metadata(&installed).unwrap().mode() & 0o777, 0o600);
    let calls = gw.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].args,
        vec!["-f".to_string(), installed.display().to_string()]
    );
    assert_eq!(
        calls[0].file.as_deref(),
        Some(tunnel(7, "new-secret-0123456789abcd").as_str())
    );
    assert!(
        gw.fifo().is_empty(),
        "add writes nothing into the FIFO itself"
    );
    assert_db(&gw, &["customer-acme", "customer-b", "new-customer"], &[]);
    let copy = gw.path("var/db/ipsecmgr/applied/new-customer.conf");
    assert_eq!(fs::metadata(&copy).unwrap().mode() & 0o777, 0o600);
    assert!(
        !stdout(&out).contains("new-secret"),
        "the plan shows no PSK"
    );

    // adding it again is a no-op that says so
    gw.clear();
    let out = gw.run(&["add", "new-customer"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "new-customer is already loaded\n");
    assert!(gw.calls().is_empty());
}

#[test]
fn add_refuses_conflicts_and_outside_macros_and_changes_nothing() {
    let gw = gateway();
    let before = gw.read("etc/ipsec.conf");
    // the same flow as customer-b
    gw.write("home/dup.conf", &tunnel(2, "other-secret-0123456789ab"));
    let out = gw.run(&["add", &gw.actual("home/dup.conf")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("is already in /etc/ipsec.d/customer-b.conf"),
        "{err}"
    );
    // the same phase 1 peer set up differently
    gw.write(
        "home/peer.conf",
        "ike esp from 10.0.9.0/24 to 10.9.0.0/16 peer 198.51.2.1 psk \"a-different-secret-xyz1\"\n",
    );
    let err = stderr(&gw.run(&["add", &gw.actual("home/peer.conf")]));
    assert!(
        err.contains(
            "phase 1 peer-198.51.2.1 is set up differently in /etc/ipsec.d/customer-b.conf"
        ),
        "{err}"
    );
    assert!(!err.contains("a-different-secret"), "{err}");
    // a macro that only ipsec.conf defines
    gw.write(
        "home/macro.conf",
        "flow esp from 10.0.9.0/24 to $nets peer 192.0.2.9\n",
    );
    let given = gw.actual("home/macro.conf");
    let err = stderr(&gw.run(&["add", &given]));
    // the error names the file given, not where it would be installed
    assert!(
        err.contains(&format!(
            "{given}: 1: macro 'nets' not defined (a macro defined outside the file"
        )),
        "{err}"
    );
    assert_eq!(gw.read("etc/ipsec.conf"), before);
    assert!(gw.calls().is_empty());
    for name in ["dup", "peer", "macro"] {
        assert!(!gw.path(&format!("etc/ipsec.d/{name}.conf")).exists());
    }
}

#[test]
fn add_undoes_everything_when_ipsecctl_fails() {
    crate::require_isakmpd!();
    let gw = gateway();
    let before = gw.read("etc/ipsec.conf");
    gw.write("etc/ipsecctl.fail", "ipsecctl: failed to add rule 3\n");
    gw.write("home/c.conf", &tunnel(7, "c-secret-0123456789abcdef"));
    let out = gw.run(&["add", &gw.actual("home/c.conf")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("ipsecctl: failed to add rule 3"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(gw.read("etc/ipsec.conf"), before);
    assert!(!gw.path("etc/ipsec.d/c.conf").exists());
    assert!(!gw.path("var/db/ipsecmgr/applied/c.conf").exists());
    assert!(!gw.path("var/db/ipsecmgr/journal").exists());
    assert_db(&gw, &BOTH, &[]);
}

#[test]
fn rm_deletes_and_cleans_up_exactly_its_own_sections() {
    crate::require_isakmpd!();
    let gw = gateway();
    let before = gw.read("etc/ipsec.conf");
    let out = gw.run(&["rm", "customer-acme"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = gw.calls();
    assert_eq!(calls.len(), 1);
    let file = gw.actual("etc/ipsec.d/customer-acme.conf");
    assert_eq!(calls[0].args, vec!["-d".to_string(), "-f".into(), file]);
    let p2a = "from-10.0.50.0/24-to-172.16.10.0/24";
    let p2b = "from-10.0.50.0/24-to-172.16.11.0/24";
    let p1 = "peer-203.0.113.20";
    let xf = "AES_GCM_16128-NONE-MODP_3072-TUNNEL";
    // ipsecmgr's own copy of the four lines of `ipsecctl -d` comes first;
    // the phase 1 peer goes once `S` shows no exchange with it in flight
    let mut expected: Vec<String> = Vec::new();
    let from = "C rms [from-10.0.50.0/24]".to_string();
    for (p2, first, to) in [
        (p2a, true, "to-172.16.10.0/24"),
        (p2b, false, "to-172.16.11.0/24"),
    ] {
        expected.extend([
            format!("t {p2}"),
            format!("C rmv [Phase 2]:Connections={p2}"),
            format!("C rms [{p2}]"),
            format!("C rms [phase2-{p2}]"),
            format!("C rms [phase2-suite-{p2}]"),
            format!("C rms [phase2-protocol-{p2}]"),
            format!("C rms [phase2-transform-{p2}-{xf}]"),
        ]);
        // the local network's section goes with the first, once
        if first {
            expected.push(from.clone());
        }
        expected.push(format!("C rms [{to}]"));
    }
    expected.extend([
        format!("t main {p1}"),
        "S".into(),
        // how long an exchange in flight may live (isakmpd's own bound)
        "C get [General]:Exchange-max-time".into(),
        "C rm [Phase 1]:203.0.113.20".into(),
        format!("C rms [{p1}]"),
        format!("C rms [phase1-{p1}]"),
        format!("C rms [phase1-transform-{p1}-PRE_SHARED-SHA-AES128-MODP_3072]"),
    ]);
    assert_eq!(gw.fifo(), expected);
    assert_db(&gw, &["customer-b"], &[]);
    assert_eq!(
        gw.read("etc/ipsec.conf"),
        before.replace("include \"/etc/ipsec.d/customer-acme.conf\"\n", "")
    );
    assert!(!gw.path("etc/ipsec.d/customer-acme.conf").exists());
    let removed: Vec<_> = fs::read_dir(gw.path("var/db/ipsecmgr/removed"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(removed.len(), 1);
    assert!(removed[0].starts_with("customer-acme.conf."), "{removed:?}");
}

#[test]
fn rm_keeps_a_phase_1_peer_another_fragment_shares() {
    crate::require_isakmpd!();
    let shared_a = "ike esp from 10.0.1.0/24 to 10.1.0.0/16 peer 192.0.2.50 psk \"shared-secret-0123456789\"\n";
    let shared_b = "ike esp from 10.0.2.0/24 to 10.2.0.0/16 peer 192.0.2.50 psk \"shared-secret-0123456789\"\n";
    let gw = Gateway::new("", &[("a", shared_a), ("b", shared_b)]);
    let out = gw.run(&["rm", "a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let fifo = gw.fifo();
    assert!(
        fifo.iter().all(|l| !l.contains("peer-192.0.2.50")),
        "{fifo:?}"
    );
    assert!(
        fifo.iter()
            .all(|l| !l.starts_with("t main") && !l.starts_with("C rm [Phase 1]"))
    );
    assert!(
        fifo.iter()
            .all(|l| !l.contains("10.0.2.0") && !l.contains("10.2.0.0"))
    );
    assert!(
        fifo.contains(&"C rms [to-10.1.0.0/16]".to_string()),
        "{fifo:?}"
    );
    assert_db(&gw, &["b"], &[]);
}

#[test]
fn down_up_and_restart_send_exactly_their_lines() {
    crate::require_isakmpd!();
    let gw = gateway();
    let out = gw.run(&["down", "customer-b"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let p2 = "from-10.0.2.0/24-to-10.2.0.0/16";
    assert_eq!(
        gw.fifo(),
        vec![
            format!("C rmv [Phase 2]:Connections={p2}"),
            format!("t {p2}"),
            "C rm [Phase 1]:198.51.2.1".into(),
            "t main peer-198.51.2.1".into(),
            "S".into(),
            "C get [General]:Exchange-max-time".into(),
        ]
    );
    assert_db(&gw, &BOTH, &["customer-b"]);
    gw.clear();
    gw.run(&["up", "customer-b"]);
    assert_eq!(
        gw.fifo(),
        vec![
            "C set [Phase 1]:198.51.2.1=peer-198.51.2.1 force".into(),
            format!("C add [Phase 2]:Connections={p2}"),
            format!("c {p2}")
        ]
    );
    assert_db(&gw, &BOTH, &[]);
    gw.clear();
    gw.run(&["restart", "customer-b.conf"]);
    // down's four, then up's three
    assert_eq!(gw.commands().len(), 7, "{:?}", gw.commands());
    assert_db(&gw, &BOTH, &[]);
    assert!(
        gw.calls().is_empty(),
        "down/up never touch the configuration"
    );
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let gw = gateway();
    let before = gw.read("etc/ipsec.conf");
    let out = gw.run(&["rm", "-n", "customer-acme"]);
    assert!(out.status.success());
    let plan = stdout(&out);
    assert!(plan.starts_with(&format!(
        "run ipsecctl -d -f {}\nfifo t from-10.0.50.0/24-to-172.16.10.0/24\nfifo C rmv [Phase 2]:Connections=",
        gw.actual("etc/ipsec.d/customer-acme.conf")
    )));
    assert!(
        plan.contains("-include \"/etc/ipsec.d/customer-acme.conf\"\n"),
        "{plan}"
    );
    assert!(plan.contains(
        "move /etc/ipsec.d/customer-acme.conf to /var/db/ipsecmgr/removed/customer-acme.conf."
    ));
    assert_eq!(gw.read("etc/ipsec.conf"), before);
    assert!(gw.calls().is_empty() && gw.fifo().is_empty());
    assert!(gw.path("etc/ipsec.d/customer-acme.conf").exists());
}

#[test]
fn apply_touches_only_the_rules_that_change() {
    crate::require_isakmpd!();
    let old = "ike esp from 10.0.5.0/24 to 10.5.0.0/16 peer 198.51.5.1 psk \"five-secret-0123456789ab\"\n\
               ike esp from 10.0.6.0/24 to 10.5.0.0/16 peer 198.51.5.1 psk \"five-secret-0123456789ab\"\n\
               flow esp from 10.0.7.0/24 to 10.7.0.0/16 peer 198.51.5.1\n";
    let gw = Gateway::new(
        "",
        &[
            ("five", old),
            ("other", &tunnel(3, "other-secret-0123456789")),
        ],
    );
    // five keeps a rule with its peer: the peer must be up for the load
    gw.peers_up(&["198.51.5.1"]);
    // bring it under ipsecmgr's management: the applied copy
    gw.write("var/db/ipsecmgr/applied/five.conf", old);
    let new = "ike esp from 10.0.5.0/24 to 10.5.0.0/16 peer 198.51.5.1 psk \"five-secret-0123456789ab\"\n\
               ike esp from 10.0.6.0/24 to 10.5.0.0/16 peer 198.51.5.1 quick enc aes-256 psk \"five-secret-0123456789ab\"\n\
               ike esp from 10.0.8.0/24 to 10.5.0.0/16 peer 198.51.5.1 psk \"five-secret-0123456789ab\"\n";
    gw.write("home/five.conf", new);

    let diff = gw.run(&["diff", "five", &gw.actual("home/five.conf")]);
    let text = stdout(&diff);
    assert!(
        text.contains("  added    from-10.0.8.0/24-to-10.5.0.0/16\n"),
        "{text}"
    );
    assert!(
        text.contains("  changed  from-10.0.6.0/24-to-10.5.0.0/16\n"),
        "{text}"
    );
    assert!(
        text.contains("  - flow esp out from 10.0.7.0/24 to 10.7.0.0/16"),
        "{text}"
    );
    assert!(
        text.contains("phase 1 peers that re-key:\n  (none)\n"),
        "{text}"
    );
    assert!(!text.contains("five-secret"), "diff shows no PSK:\n{text}");
    assert!(
        text.contains("+ike esp from 10.0.8.0/24 to 10.5.0.0/16 peer 198.51.5.1 psk <redacted>"),
        "{text}"
    );

    let out = gw.run(&["apply", "five", &gw.actual("home/five.conf")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = gw.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].args[..2], ["-d".to_string(), "-f".to_string()]);
    let removed = calls[0].file.clone().unwrap();
    let added = calls[1].file.clone().unwrap();
    assert_eq!(calls[1].args[0], "-f");
    // the unchanged first tunnel is in neither file
    assert!(
        !removed.contains("10.0.5.0") && !added.contains("10.0.5.0"),
        "{removed}{added}"
    );
    assert!(
        removed.contains("from \"10.0.6.0/24\"")
            && removed.contains("flow esp out from \"10.0.7.0/24\"")
    );
    assert!(removed.contains("flow esp in from \"10.7.0.0/16\""));
    assert!(added.contains("from \"10.0.6.0/24\"") && added.contains("enc aes-256"));
    assert!(added.contains("from \"10.0.8.0/24\""));
    let fifo = gw.fifo();
    assert!(
        fifo.iter()
            .all(|l| !l.contains("10.0.5.0") && !l.contains("198.51.3.")),
        "{fifo:?}"
    );
    assert!(
        fifo.iter().all(|l| !l.starts_with("t main")),
        "the peer stays: {fifo:?}"
    );
    assert_eq!(gw.read("etc/ipsec.d/five.conf"), new);
    assert_db(&gw, &["five", "other"], &[]);
    assert_eq!(gw.read("var/db/ipsecmgr/applied/five.conf"), new);
    // the scratch files are gone
    assert_eq!(
        fs::read_dir(gw.path("var/db/ipsecmgr/work"))
            .unwrap()
            .count(),
        0
    );

    gw.clear();
    let out = gw.run(&["apply", "five"]);
    assert_eq!(stdout(&out), "five: nothing to apply\n");
    assert!(gw.calls().is_empty());
}

#[test]
fn one_fragment_among_twenty_touches_no_other_tag() {
    crate::require_isakmpd!();
    let texts: Vec<(String, String)> = (1..=20)
        .map(|n| {
            (
                format!("c{n:02}"),
                tunnel(n, &format!("secret-number-{n:02}-0123456")),
            )
        })
        .collect();
    let frags: Vec<(&str, &str)> = texts
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let gw = Gateway::new(HEAD, &frags);
    let foreign = |line: &str| {
        (1..=20).filter(|&n| n != 7).any(|n| {
            line.contains(&format!("10.0.{n}.0/24")) || line.contains(&format!("198.51.{n}.1"))
        })
    };
    for args in [vec!["down", "c07"], vec!["up", "c07"]] {
        gw.clear();
        assert!(gw.run(&args).status.success());
        assert!(
            gw.fifo().iter().all(|l| !foreign(l)),
            "{args:?}: {:?}",
            gw.fifo()
        );
    }
    gw.clear();
    let before = gw.read("etc/ipsec.conf");
    assert!(gw.run(&["rm", "c07"]).status.success());
    assert!(!gw.fifo().is_empty());
    assert!(gw.fifo().iter().all(|l| !foreign(l)), "{:?}", gw.fifo());
    for c in gw.calls() {
        assert!(!foreign(c.file.as_deref().unwrap_or("")));
    }
    let mut names: Vec<&str> = frags.iter().map(|(n, _)| *n).collect();
    names.retain(|n| *n != "c07");
    assert_db(&gw, &names, &[]);
    let after = gw.read("etc/ipsec.conf");
    assert_eq!(before.lines().count(), after.lines().count() + 1);
    assert_eq!(
        after,
        before.replace("include \"/etc/ipsec.d/c07.conf\"\n", "")
    );
    gw.clear();
    gw.write("home/c07.conf", &tunnel(7, "secret-number-07-0123456"));
    assert!(
        gw.run(&["add", &gw.actual("home/c07.conf")])
            .status
            .success()
    );
    assert_eq!(
        gw.read("etc/ipsec.conf"),
        format!("{after}include \"/etc/ipsec.d/c07.conf\"\n")
    );
    for c in gw.calls() {
        assert!(!foreign(c.file.as_deref().unwrap_or("")), "{c:?}");
    }
    names.push("c07");
    assert_db(&gw, &names, &[]);
    gw.clear();
    gw.write("home/c07.conf", &tunnel(7, "secret-number-07-changed"));
    assert!(
        gw.run(&["apply", "c07", &gw.actual("home/c07.conf")])
            .status
            .success()
    );
    assert!(!gw.calls().is_empty());
    for c in gw.calls() {
        assert!(!foreign(c.file.as_deref().unwrap_or("")), "{c:?}");
    }
    assert!(gw.fifo().iter().all(|l| !foreign(l)), "{:?}", gw.fifo());
    assert_db(&gw, &names, &[]);
}

#[test]
fn no_isakmpd_is_reported_at_once_and_nothing_is_done() {
    let mut gw = gateway();
    gw.stop_isakmpd();
    let before = gw.read("etc/ipsec.conf");
    let start = Instant::now();
    let out = gw.run(&["rm", "customer-acme"]);
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("isakmpd is not running"),
        "{}",
        stderr(&out)
    );
    assert_eq!(gw.read("etc/ipsec.conf"), before);
    assert!(gw.calls().is_empty());
    assert!(gw.path("etc/ipsec.d/customer-acme.conf").exists());
}

#[test]
fn a_held_lock_names_its_holder_and_a_stale_one_is_taken() {
    let gw = gateway();
    let state = gw.path("var/db/ipsecmgr");
    let held =
        ipsecmgr::system::fs::Lock::acquire(&state, "rm other", Duration::from_secs(1)).unwrap();
    let start = Instant::now();
    let out = gw.run(&["down", "customer-b"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is locked by pid"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("ipsecmgr rm other"));
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(held);
    // the lock file stays behind, but no process holds it: not a problem
    assert!(state.join("lock").exists());
    assert!(gw.run(&["down", "customer-b"]).status.success());
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn an_interrupted_rm_is_completed_by_the_next_run() {
    crate::require_isakmpd!();
    let gw = gateway();
    // abort after ipsecctl -d and the FIFO cleanup, before ipsec.conf is edited
    let out = gw.run_env(&["rm", "customer-acme"], &[("IPSECMGR_FAIL_AT", "2")]);
    assert!(!out.status.success());
    assert!(gw.path("var/db/ipsecmgr/journal").exists());
    assert!(gw.read("etc/ipsec.conf").contains("customer-acme"));
    let out = gw.run(&["down", "customer-b"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("completed the interrupted `rm customer-acme`"),
        "{}",
        stderr(&out)
    );
    assert!(!gw.read("etc/ipsec.conf").contains("customer-acme"));
    assert!(!gw.path("etc/ipsec.d/customer-acme.conf").exists());
    assert!(!gw.path("var/db/ipsecmgr/journal").exists());
    assert_db(&gw, &["customer-b"], &["customer-b"]);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn an_interrupted_add_is_rolled_back_by_the_next_run() {
    crate::require_isakmpd!();
    let gw = gateway();
    let before = gw.read("etc/ipsec.conf");
    gw.write("home/c.conf", &tunnel(7, "c-secret-0123456789abcdef"));
    // abort after ipsec.conf was edited, before ipsecctl ran
    let out = gw.run_env(
        &["add", &gw.actual("home/c.conf")],
        &[("IPSECMGR_FAIL_AT", "2")],
    );
    assert!(!out.status.success());
    assert_ne!(gw.read("etc/ipsec.conf"), before);
    let out = gw.run(&["up", "customer-b"]);
    assert!(
        stderr(&out).contains("rolled back the interrupted `add c`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(gw.read("etc/ipsec.conf"), before);
    assert!(!gw.path("etc/ipsec.d/c.conf").exists());
    assert_db(&gw, &BOTH, &[]);
}

#[test]
fn names_never_escape_the_fragment_directory() {
    let gw = gateway();
    fs::create_dir_all(gw.path("outside")).unwrap();
    gw.write("outside/x.conf", &tunnel(9, "x-secret-0123456789abcdef"));
    std::os::unix::fs::symlink(gw.path("outside/x.conf"), gw.path("etc/ipsec.d/link.conf"))
        .unwrap();
    for (arg, why) in [
        ("../x", "'..' is not allowed"),
        ("..", "not a file name"),
        ("-x", "may not start with '-'"),
        ("/etc/ipsec.d/../passwd", "'..' is not allowed"),
        ("/etc/passwd", "not in the fragment directory"),
    ] {
        let out = gw.run(&["rm", "--", arg]);
        assert_eq!(out.status.code(), Some(1), "{arg}");
        assert!(stderr(&out).contains(why), "{arg}: {}", stderr(&out));
    }
    let out = gw.run(&["rm", &gw.actual("etc/ipsec.d/link.conf")]);
    assert!(
        stderr(&out).contains("not in the fragment directory"),
        "{}",
        stderr(&out)
    );
    assert!(gw.calls().is_empty() && gw.fifo().is_empty());
}

#[test]
fn ls_tags_and_status() {
    crate::require_isakmpd!();
    let gw = gateway();
    let out = stdout(&gw.run(&["ls"]));
    assert!(out.contains("customer-acme"), "{out}");
    let json: serde_json::Value =
        serde_json::from_slice(&gw.run(&["ls", "--json"]).stdout).unwrap();
    assert_eq!(json["version"], 1);
    let json = &json["fragments"];
    assert_eq!(json[0]["name"], "customer-acme");
    assert_eq!(json[0]["ike"], 2);
    assert_eq!(json[1]["phase2"][0], "from-10.0.2.0/24-to-10.2.0.0/16");
    assert_eq!(json[0]["state"], "unmanaged");

    let tags = stdout(&gw.run(&["tags", "--teardown", "customer-b"]));
    assert!(
        tags.starts_with("phase1 peer-198.51.2.1\nphase2 from-10.0.2.0/24-to-10.2.0.0/16\n"),
        "{tags}"
    );
    assert!(
        tags.contains(
            "\nteardown:\nt from-10.0.2.0/24-to-10.2.0.0/16\nC rmv [Phase 2]:Connections="
        ),
        "{tags}"
    );
    assert!(tags.contains("t main peer-198.51.2.1\n"), "{tags}");

    gw.write(
        "var/ipsecctl.sa",
        "FLOWS:\nflow esp out from 10.0.2.0/24 to 10.2.0.0/16 peer 198.51.2.1 type require\n\
         flow esp out from 10.99.0.0/16 to 10.98.0.0/16 peer 192.0.2.99 type require\n\nSAD:\nNo entries\n",
    );
    gw.write(
        "var/isakmpd.sa",
        "SA name: peer-198.51.2.1 (Phase 1/Initiator)\nsrc: 192.0.2.1 dst: 198.51.2.1\nFlags 0x00000001\n\n\
         SA name: from-10.0.2.0/24-to-10.2.0.0/16 (Phase 2)\nsrc: 192.0.2.1 dst: 198.51.2.1\nFlags 0x00000001\n\n\
         SA name: peer-203.0.113.20 (Phase 1/Initiator)\nsrc: 192.0.2.1 dst: 203.0.113.20\nFlags 0x00000001\n\n\
         SA name: stale-connection (Phase 2)\nsrc: 192.0.2.1 dst: 192.0.2.99\nFlags 0x00000000\n\n",
    );
    let out = gw.run(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("customer-acme:\n  phase1-only from-10.0.50.0/24-to-172.16.10.0/24"),
        "{text}"
    );
    assert!(
        text.contains("customer-b:\n  up          from-10.0.2.0/24-to-10.2.0.0/16"),
        "{text}"
    );
    assert!(
        text.contains("isakmpd SAs no fragment accounts for:\n  stale-connection (phase 2)"),
        "{text}"
    );
    assert!(
        text.contains("flows no fragment accounts for:\n  flow esp out from 10.99.0.0/16"),
        "{text}"
    );
    assert!(gw.fifo().contains(&"S".to_string()));
}

#[test]
fn diff_of_a_version_with_errors_says_so_and_fails() {
    let gw = gateway();
    gw.write(
        "home/broken.conf",
        "ike esp from 10.0.50.0/24 to 10.9.0.0/16 peer 203.0.113.20 psk \"acme-4f9a1c7e2b8d5036a1e9\" bogus\n",
    );
    let out = gw.run(&["diff", "customer-acme", &gw.actual("home/broken.conf")]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("refuse:"), "{text}");
    assert!(text.contains("syntax error"), "{text}");
    assert!(!text.contains("acme-4f9a1c7e2b8d5036a1e9"), "{text}");
    // a version without errors: status 0
    gw.write("home/fine.conf", &acme());
    let out = gw.run(&["diff", "customer-acme", &gw.actual("home/fine.conf")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The gateway double speaks to isakmpd as ipsecctl does: its lines go
/// through the FIFO, and replayed through isakmpd's own conf.c/ui.c they
/// leave the database a fresh load gives.
#[test]
fn the_double_writes_what_ipsecctl_sends_and_the_replay_sees_it() {
    crate::require_isakmpd!();
    let gw = gateway();
    assert_eq!(gw.replay(), gw.fresh(), "nothing run yet");
    gw.write("home/c7.conf", &tunnel(7, "c7-secret-0123456789abcd"));
    let out = gw.run(&["add", &gw.actual("home/c7.conf")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stream = gw.stream();
    let settings = gw.settings();
    let sent = common::isakmpd::ipsecctl_lines(&settings, &gw.fragment("c7"), false);
    assert_eq!(stream, sent, "the FIFO got exactly ipsecctl's lines");
    assert!(gw.fifo().is_empty(), "none of them is ipsecmgr's");
    assert!(sent.contains(&"C add [Phase 2]:Connections=from-10.0.7.0/24-to-10.7.0.0/16".into()));
    let db = gw.replay();
    assert_eq!(db, gw.fresh(), "{}", db.diff(&gw.fresh()));
    assert!(
        db.connections()
            .contains(&"from-10.0.7.0/24-to-10.7.0.0/16".to_string())
    );
    assert_eq!(
        db.get("Phase 1", "198.51.7.1").as_deref(),
        Some("peer-198.51.7.1")
    );
    gw.check_db(&["customer-acme", "customer-b", "c7"], &[])
        .unwrap();
    assert!(gw.check_db(&["customer-acme", "customer-b"], &[]).is_err());
}

/// The stand-in ipsecctl writes to the FIFO `-i` names, as ipsecctl does,
/// and fails (after a bounded wait) when nobody reads it; the lines of a
/// removal come in the order isakmpd reads them, each with its writer.
#[test]
fn the_double_honours_dash_i_and_the_stream_keeps_its_order() {
    let gw = gateway();
    let fragment = gw.fragment("customer-b");
    let run_double = |fifo: &str| {
        std::process::Command::new(gw.path("sbin/ipsecctl"))
            .args(["-i", fifo, "-f", &fragment.display().to_string()])
            .output()
            .unwrap()
    };
    let out = run_double(&gw.actual("var/run/isakmpd.fifo"));
    assert!(out.status.success(), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(20));
    let sent = common::isakmpd::ipsecctl_lines(&gw.settings(), &fragment, false);
    assert_eq!(gw.stream(), sent);
    gw.clear();
    let out = run_double(&gw.actual("var/run/elsewhere.fifo"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a FIFO"), "{}", stderr(&out));
    assert!(gw.stream().is_empty());

    gw.clear();
    assert!(gw.run(&["rm", "customer-acme"]).status.success());
    let stream = gw.stream_with_origin();
    // ipsecctl -d -f's lines arrive as one block, whatever ipsecmgr sends
    // around them
    let block: Vec<usize> = (0..stream.len())
        .filter(|&i| stream[i].0 == Origin::Ipsecctl(0))
        .collect();
    assert!(!block.is_empty(), "{stream:?}");
    assert_eq!(
        block.len(),
        block[block.len() - 1] - block[0] + 1,
        "{stream:?}"
    );
    let (start, deleted) = (block[0], block.len());
    let ipsecmgr_lines: Vec<String> = stream
        .iter()
        .filter(|(o, _)| *o == Origin::Ipsecmgr)
        .map(|(_, l)| l.clone())
        .collect();
    assert_eq!(
        stream[start..start + deleted]
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>(),
        vec![
            "t from-10.0.50.0/24-to-172.16.10.0/24",
            "C rmv [Phase 2]:Connections=from-10.0.50.0/24-to-172.16.10.0/24",
            "C rms [from-10.0.50.0/24-to-172.16.10.0/24]",
            "C rms [phase2-from-10.0.50.0/24-to-172.16.10.0/24]",
            "t from-10.0.50.0/24-to-172.16.11.0/24",
            "C rmv [Phase 2]:Connections=from-10.0.50.0/24-to-172.16.11.0/24",
            "C rms [from-10.0.50.0/24-to-172.16.11.0/24]",
            "C rms [phase2-from-10.0.50.0/24-to-172.16.11.0/24]",
        ]
    );
    assert_eq!(gw.fifo(), ipsecmgr_lines, "fifo() is ipsecmgr's lines only");
}
