//! What an administrator meets first, through the real binary: the usage
//! line `ipsecmgr add customer-1.conf` run where the file is, refusals
//! that come before any change and say why, plans that show what changes
//! (not ipsecmgr's records), hints that can be pasted as they are, help
//! that describes what is printed, and settings errors that say where.

mod common;

use std::fs;
use std::process::{Command, Output};

use common::{BIN, Gateway, HEAD, stderr, stdout, tunnel, write_private};

/// Runs ipsecmgr with `--root` on `gw`, from the directory `cwd`.
fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

fn gateway() -> Gateway {
    Gateway::new(HEAD, &[("c1", &tunnel(1, "k1-0123456789abcdefghij"))])
}

/// A directory outside the gateway tree, holding the admin's own files.
fn home(gw: &Gateway) -> std::path::PathBuf {
    let dir = gw.root().join("home");
    fs::create_dir_all(&dir).unwrap();
    dir
}

// ------------------------------------------------- add FILE, where it is

#[test]
fn add_takes_a_bare_file_name_from_the_current_directory() {
    let gw = gateway();
    let home = home(&gw);
    write_private(
        &home.join("customer-1.conf"),
        &tunnel(7, "k7-0123456789abcdefghij"),
    );
    let o = gw.run_from(&home, &["add", "customer-1.conf"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("add customer-1: done"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        gw.read("etc/ipsec.d/customer-1.conf"),
        tunnel(7, "k7-0123456789abcdefghij")
    );
    assert!(
        gw.read("etc/ipsec.conf")
            .contains("include \"/etc/ipsec.d/customer-1.conf\"")
    );
}

#[test]
fn add_of_a_name_found_nowhere_says_where_it_looked() {
    let gw = gateway();
    let home = home(&gw);
    let o = gw.run_from(&home, &["add", "-n", "customer-9.conf"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    let frag = gw.actual("etc/ipsec.d/customer-9.conf");
    assert!(
        err.contains("customer-9.conf: no such file in the current directory")
            && err.contains(&frag)
            && err.contains("`./customer-9.conf`"),
        "{err}"
    );
}

#[test]
fn add_of_a_bare_name_not_here_is_the_fragment_file() {
    // a file written into the fragment directory first, then added by name
    let gw = gateway();
    gw.write("etc/ipsec.d/c5.conf", &tunnel(5, "k5-0123456789abcdefghij"));
    let o = gw.run_from(&home(&gw), &["add", "-n", "c5"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("+include \"/etc/ipsec.d/c5.conf\""),
        "{}",
        stdout(&o)
    );
}

// ------------------------------------------------------- help and usage

#[test]
fn ls_help_describes_the_json_ls_prints() {
    let gw = gateway();
    let help = stdout(&gw.run_from(gw.root(), &["ls", "--help"]));
    let line = help
        .lines()
        .find(|l| l.trim_start().starts_with("--json"))
        .expect("ls --help names --json");
    let out = gw.run_from(gw.root(), &["ls", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    for key in &keys {
        assert!(line.contains(&format!("\"{key}\"")), "{key} not in: {line}");
    }
    let entry = doc["fragments"][0].as_object().unwrap();
    for key in ["name", "state", "phase1", "phase2"] {
        assert!(entry.contains_key(key) && line.contains(key), "{line}");
    }
}

#[test]
fn diff_format_without_tree_is_honoured_or_refused() {
    let gw = gateway();
    let json = gw.run_from(gw.root(), &["diff", "--format", "json", "c1"]);
    assert_eq!(code(&json), 0, "{}", stderr(&json));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(doc["fragment"], "c1");
    let same = gw.run_from(gw.root(), &["diff", "--json", "c1"]);
    assert_eq!(json.stdout, same.stdout);
    let md = gw.run_from(gw.root(), &["diff", "--format", "markdown", "c1"]);
    assert_eq!(code(&md), 2, "{}", stdout(&md));
    assert!(stdout(&md).is_empty(), "{}", stdout(&md));
    assert!(stderr(&md).contains("--tree"), "{}", stderr(&md));
}

// ------------------------------------------------------------ diff --tree

#[test]
fn diff_tree_of_a_directory_that_is_no_gateway_tree_cannot_run() {
    let gw = gateway();
    let empty = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .args(["diff", "--tree"])
        .arg(gw.root())
        .arg(empty.path())
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}/etc/ipsec.conf", empty.path().display()))
            && err.contains("not a gateway tree"),
        "{err}"
    );
    // a tree that is one but has errors is still a finding: exit 1
    gw.write("etc/ipsec.d/c1.conf", "ike esp from nowhere\n");
    let o = Command::new(BIN)
        .args(["diff", "--tree"])
        .arg(gw.root())
        .arg(gw.root())
        .output()
        .unwrap();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
}

#[test]
fn diff_tree_markdown_shows_ipsec_conf_apart_from_the_fragments() {
    let gw = gateway();
    let new = tempfile::tempdir().unwrap();
    let copy = |rel: &str, text: &str| {
        let p = new.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        write_private(&p, text);
    };
    copy(
        "etc/ipsec.conf",
        &gw.read("etc/ipsec.conf").replace(
            "flow in from 10.0.0.0/16 to 10.0.0.1 type bypass",
            "flow in from 10.0.0.0/16 to 10.0.0.2 type bypass",
        ),
    );
    copy("etc/ipsec.d/c1.conf", &gw.read("etc/ipsec.d/c1.conf"));
    copy("etc/ipsecmgr.conf", &gw.read("etc/ipsecmgr.conf"));
    let o = Command::new(BIN)
        .args(["diff", "--tree"])
        .arg(gw.root())
        .arg(new.path())
        .args(["--format", "markdown"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let md = stdout(&o);
    assert!(!md.contains('\u{2035}'), "{md}");
    assert!(!md.contains("fragment(s) change"), "{md}");
    assert!(md.contains("ipsec.conf's own rules change"), "{md}");
    let row = md
        .lines()
        .find(|l| l.starts_with("| `ipsec.conf`"))
        .expect("a row for ipsec.conf");
    // prose, with real code spans, not prose inside one code span
    assert!(row.contains("by hand, `ipsecctl -d -f OLD`"), "{row}");
}

// -------------------------------------------------------------- compile

#[test]
fn compile_goes_on_past_the_file_mode_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ipsec.conf");
    fs::write(
        &file,
        "flow in from 10.0.0.0/16 to 10.0.0.1 type bypass\nike esp from 10.0.1.0/24 frm 10.1.0.0/16\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let o = Command::new(BIN)
        .args(["-c", "/dev/null", "compile"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    let shown = file.display().to_string();
    assert!(err.contains(&format!("{shown}: ")), "{err}");
    assert!(err.contains("syntax error"), "{err}");
    assert!(
        err.find("syntax error") > err.find("group or others")
            && err.contains(&format!("{shown}: 2: ")),
        "{err}"
    );
}

// ------------------------------------------------------------- settings

#[test]
fn a_setting_after_a_table_says_which_table_it_landed_in() {
    let dir = tempfile::tempdir().unwrap();
    for (text, table, key) in [
        (
            "[hosts]\n\"a.example\" = [\"192.0.2.1\"]\nstate_dir = \"/var/db/x\"\n",
            "[hosts]",
            "state_dir",
        ),
        (
            "[interfaces]\nem0 = [\"192.0.2.1\"]\nipsecctl_timeout = 5\n",
            "[interfaces]",
            "ipsecctl_timeout",
        ),
        (
            "[lint]\nignore = [\"L401\"]\nhostname = \"gw\"\n",
            "[lint]",
            "hostname",
        ),
    ] {
        let settings = dir.path().join("ipsecmgr.conf");
        fs::write(&settings, text).unwrap();
        let o = Command::new(BIN)
            .arg("-c")
            .arg(&settings)
            .args(["compile", "-"])
            .output()
            .unwrap();
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains(&format!("{}: 3: ", settings.display()))
                && err.contains(table)
                && err.contains(&format!("`{key}`"))
                && err.contains("above the first table"),
            "{err}"
        );
    }
}

// ---------------------------------------------------------------- hints

/// Every `ipsecmgr …` a message suggests, as printed between backticks.
fn hints(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("ipsecmgr "))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_hint_under_root_and_c_names_them() {
    let gw = Gateway::new(HEAD, &[]);
    let settings = home(&gw).join("alt settings.conf");
    fs::copy(gw.settings(), &settings).unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(BIN)
            .arg("-c")
            .arg(&settings)
            .arg("--root")
            .arg(gw.root())
            .args(args)
            .output()
            .unwrap();
        gw.settle();
        format!("{}{}", stdout(&o), stderr(&o))
    };
    let mut said = String::new();
    gw.write("home/c1.conf", &tunnel(1, "k1-0123456789abcdefghij"));
    run(&["add", &gw.actual("home/c1.conf")]);
    // modified on disk: ls points at diff
    gw.write(
        "etc/ipsec.d/c1.conf",
        &tunnel(1, "k1-0123456789abcdefghij").replace("10.1.0.0/16", "10.11.0.0/16"),
    );
    said += &run(&["ls"]);
    // an included, changed file added again points at apply
    said += &run(&["add", "-n", &gw.actual("etc/ipsec.d/c1.conf")]);
    // held down: down's note and ls point at up
    said += &run(&["down", "c1"]);
    said += &run(&["ls"]);
    // added with --config-only: what to run later, and down points at apply
    gw.write("home/c2.conf", &tunnel(2, "k2-0123456789abcdefghij"));
    said += &run(&["add", "--config-only", &gw.actual("home/c2.conf")]);
    said += &run(&["down", "c2"]);
    let found = hints(&said);
    assert!(found.len() >= 5, "{said}");
    let root = format!("--root {}", gw.root().display());
    let c = format!("-c '{}'", settings.display());
    for h in &found {
        assert!(h.contains(&root) && h.contains(&c), "{h}\n---\n{said}");
    }
    for verb in ["diff c1", "apply c1", "up c1", "apply c2"] {
        assert!(
            found.iter().any(|h| h.ends_with(verb)),
            "no hint of {verb}: {found:?}"
        );
    }
}

// ------------------------------------------- refusals before any change

/// The files of the gateway, to see that a refused run changed none (the
/// lock's note of who last held it aside).
#[derive(PartialEq)]
struct Snapshot(Vec<(String, Vec<u8>)>);

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (path, bytes) in &self.0 {
            writeln!(f, "{path} ({} bytes)", bytes.len())?;
        }
        Ok(())
    }
}

fn snapshot(gw: &Gateway) -> Snapshot {
    let mut files: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(gw.root())
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| !e.path().starts_with(gw.path("var/log")))
        .filter(|e| e.path() != gw.path("var/db/ipsecmgr/lock"))
        .map(|e| {
            (
                e.path().display().to_string(),
                fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    files.sort();
    Snapshot(files)
}

#[test]
fn add_refuses_an_ipsec_conf_that_does_not_compile() {
    let gw = gateway();
    gw.write("home/c5.conf", &tunnel(5, "k5-0123456789abcdefghij"));
    let new = gw.actual("home/c5.conf");
    // a typo in ipsec.conf's own rules
    gw.write(
        "etc/ipsec.conf",
        &gw.read("etc/ipsec.conf").replace("flow in", "flow inn"),
    );
    let before = snapshot(&gw);
    for args in [&["add", &new][..], &["add", "--config-only", &new]] {
        let o = gw.run_from(gw.root(), args);
        assert_eq!(code(&o), 1, "{args:?}: {}{}", stdout(&o), stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("/etc/ipsec.conf has errors and would not load")
                && err.contains(&format!("ipsecmgr --root {} lint", gw.root().display())),
            "{err}"
        );
        assert!(stdout(&o).is_empty(), "{}", stdout(&o));
        assert_eq!(snapshot(&gw), before, "{args:?} changed a file");
    }
    // Libreswan's ipsec.conf where OpenBSD's is expected: say so, and how
    // to point at a gateway's copy
    gw.write(
        "etc/ipsec.conf",
        "config setup\n\tprotostack=netkey\n\nconn office\n\tleft=192.0.2.1\n\tright=%any\n",
    );
    let before = snapshot(&gw);
    let o = gw.run_from(gw.root(), &["add", &new]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("is not an OpenBSD ipsec.conf(5)") && err.contains("--root DIR"),
        "{err}"
    );
    assert_eq!(snapshot(&gw), before);
}

// ------------------------------------------------------ runs repeated

#[test]
fn rm_run_again_is_done_already() {
    let gw = gateway();
    let first = gw.run_from(gw.root(), &["rm", "c1"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let before = snapshot(&gw);
    let again = gw.run_from(gw.root(), &["rm", "c1"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let said = stdout(&again);
    assert!(said.contains("c1 was already removed on 20"), "{said}");
    assert!(said.contains("/var/db/ipsecmgr/removed/c1.conf."), "{said}");
    assert_eq!(snapshot(&gw), before, "a second rm changed something");
    let json = gw.run_from(gw.root(), &["rm", "--json", "c1"]);
    assert_eq!(code(&json), 0, "{}", stderr(&json));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["result"]["status"], "unchanged", "{doc}");
    let config_only = gw.run_from(gw.root(), &["rm", "--config-only", "c1"]);
    assert_eq!(code(&config_only), 0, "{}", stderr(&config_only));
    // a name that never was is still no fragment
    let never = gw.run_from(gw.root(), &["rm", "c9"]);
    assert_eq!(code(&never), 1, "{}", stderr(&never));
    // and add, run again, was and stays done
    gw.write("home/c3.conf", &tunnel(3, "k3-0123456789abcdefghij"));
    let c3 = gw.actual("home/c3.conf");
    assert_eq!(code(&gw.run_from(gw.root(), &["add", &c3])), 0);
    let again = gw.run_from(gw.root(), &["add", &c3]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(
        stdout(&again).contains("c3 is already loaded"),
        "{}",
        stdout(&again)
    );
}

// ------------------------------------------- one notion of "has errors"

/// A tunnel whose transform ipsecctl knows and isakmpd has no name for
/// (E047): `compile` and `lint` reject it.
fn no_isakmpd_name(n: u32, where_: &str) -> String {
    tunnel(n, &format!("k{n}-0123456789abcdefghij")).replace(
        match where_ {
            "main" => "main auth hmac-sha2-256 enc aes-256",
            _ => "quick enc aes-256-gcm",
        },
        match where_ {
            "main" => "main auth hmac-sha2-256 enc aes-256-gcm",
            _ => "quick enc chacha20-poly1305",
        },
    )
}

#[test]
fn a_file_compile_rejects_is_refused_by_every_command_before_any_step() {
    for place in ["main", "quick"] {
        let gw = gateway();
        let bad = no_isakmpd_name(5, place);
        gw.write("home/c5.conf", &bad);
        gw.write("home/c1-new.conf", &no_isakmpd_name(1, place));
        let (c5, c1_new) = (gw.actual("home/c5.conf"), gw.actual("home/c1-new.conf"));
        // compile and lint reject it: the reference
        let compiled = gw.run_from(gw.root(), &["compile", &c5]);
        assert_eq!(code(&compiled), 1, "{place}: {}", stderr(&compiled));
        let lint = gw.run_from(gw.root(), &["lint", &c5]);
        assert_eq!(code(&lint), 1, "{place}: {}", stdout(&lint));
        assert!(stdout(&lint).contains("E047"), "{}", stdout(&lint));
        let before = snapshot(&gw);
        for args in [
            &["add", "-n", &c5][..],
            &["add", &c5],
            &["add", "--config-only", &c5],
            &["add", "--json", "-n", &c5],
            &["apply", "-n", "c1", &c1_new],
            &["apply", "c1", &c1_new],
            &["apply", "--config-only", "c1", &c1_new],
        ] {
            let o = gw.run_from(gw.root(), args);
            assert_eq!(
                code(&o),
                1,
                "{place} {args:?}: {}{}",
                stdout(&o),
                stderr(&o)
            );
            let said = format!("{}{}", stdout(&o), stderr(&o));
            assert!(
                said.contains("illegal transform"),
                "{place} {args:?}: {said}"
            );
            assert!(
                !said.contains("edit /etc/ipsec.conf"),
                "{place} {args:?}: {said}"
            );
            assert_eq!(snapshot(&gw), before, "{place} {args:?} changed a file");
            assert!(gw.calls().is_empty(), "{place} {args:?} ran ipsecctl");
            assert!(gw.fifo().is_empty(), "{place} {args:?} wrote into the FIFO");
        }
        let diff = gw.run_from(gw.root(), &["diff", "--json", "c1", &c1_new]);
        assert_eq!(code(&diff), 1, "{place}: {}", stderr(&diff));
        let doc: serde_json::Value = serde_json::from_slice(&diff.stdout).unwrap();
        assert_eq!(doc["new_has_errors"], true, "{place}: {doc}");
        assert_eq!(doc["apply"]["status"], "refused", "{place}: {doc}");
    }
}

#[test]
fn a_rollback_says_what_isakmpd_saw() {
    for reload_fails in [false, true] {
        // c1 loaded through ipsecmgr; apply of a changed network deletes
        // the old rule (ipsecctl -d -f), then the load of the new one fails
        let gw = Gateway::new(HEAD, &[]);
        gw.write("home/c1.conf", &tunnel(1, "k1-0123456789abcdefghij"));
        let o = gw.run_from(gw.root(), &["add", &gw.actual("home/c1.conf")]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let refused = if reload_fails { "*" } else { "*-added-*" };
        common::programs::wrap_ipsecctl(
            &gw,
            &format!(
                r#"for a in "$@"; do [ "$a" = -d ] && exec "$DOUBLE" "$@"; done
case "$*" in {refused}) echo "ipsecctl: load refused" >&2; exit 1 ;; esac
exec "$DOUBLE" "$@""#
            ),
        );
        gw.write(
            "home/c1-new.conf",
            &tunnel(1, "k1-0123456789abcdefghij").replace("10.1.0.0/16", "10.11.0.0/16"),
        );
        let o = gw.run_from(gw.root(), &["apply", "c1", &gw.actual("home/c1-new.conf")]);
        assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("nothing was changed in the files (what was done is undone), but isakmpd saw the run: "),
            "{err}"
        );
        let said = if reload_fails {
            "failed to load them again (as said above): they stay down"
        } else {
            "loaded them again (they negotiate anew)"
        };
        assert!(
            err.contains("tore its tunnels down and `ipsecctl -f") && err.contains(said),
            "{err}"
        );
        assert_eq!(
            gw.read("etc/ipsec.d/c1.conf"),
            tunnel(1, "k1-0123456789abcdefghij")
        );
    }
}

// ------------------------------------------------------------ readable plans

/// A customer of two local and two remote networks: four connections.
fn two_by_two() -> String {
    "beta_local = \"{ 10.0.60.0/24, 10.0.61.0/24 }\"\n\
     beta_nets = \"{ 172.16.20.0/24, 172.16.21.0/24 }\"\n\
     ike esp from $beta_local to $beta_nets peer 203.0.113.30 \\\n\
     \tquick enc aes-128-gcm psk \"beta-0123456789abcdefghij\"\n"
        .to_string()
}

#[test]
fn plans_say_what_records_hold_in_one_line_each() {
    let gw = gateway();
    gw.write("home/customer-beta.conf", &two_by_two());
    let file = gw.actual("home/customer-beta.conf");
    let plan = gw.run_from(gw.root(), &["add", "-n", &file]);
    assert_eq!(code(&plan), 0, "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(
        text.contains(
            "record /var/db/ipsecmgr/loaded/customer-beta.json: what customer-beta loaded: 4 connection(s), "
        ),
        "{text}"
    );
    assert!(
        text.contains("record /var/db/ipsecmgr/applied/customer-beta.conf: the copy of customer-beta as applied: 4 line(s)"),
        "{text}"
    );
    assert!(!text.contains("{\"ikes\""), "{text}");
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 512, "a line of {longest} bytes:\n{text}");
    // the full text with -v
    let full = stdout(&gw.run_from(gw.root(), &["add", "-n", "-v", &file]));
    assert!(full.contains("+{\"ikes\""), "{full}");
    assert!(
        text.len() * 2 < full.len(),
        "{} / {}",
        text.len(),
        full.len()
    );
    // the JSON steps keep the diff and say what the record holds
    let json = gw.run_from(gw.root(), &["add", "-n", "--json", &file]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let record = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == "/var/db/ipsecmgr/loaded/customer-beta.json")
        .expect("the loaded record's step");
    assert!(
        record["record"]
            .as_str()
            .unwrap()
            .starts_with("what customer-beta loaded: 4")
    );
    assert!(record["diff"].as_str().unwrap().contains("{\"ikes\""));
    // diff's preview of apply is as short
    let o = gw.run_from(gw.root(), &["add", &file]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    gw.write(
        "etc/ipsec.d/customer-beta.conf",
        &two_by_two().replace("172.16.21.0/24", "172.16.22.0/24"),
    );
    let diff = stdout(&gw.run_from(gw.root(), &["diff", "customer-beta"]));
    assert!(
        diff.contains(
            "record /var/db/ipsecmgr/loaded/customer-beta.json: what customer-beta loaded: 4"
        ),
        "{diff}"
    );
    assert!(!diff.contains("{\"ikes\""), "{diff}");
    let diff = stdout(&gw.run_from(gw.root(), &["diff", "-v", "customer-beta"]));
    assert!(diff.contains("{\"ikes\""), "{diff}");
}

#[test]
fn a_refused_run_prints_the_refusal_not_the_plan() {
    let mut gw = gateway();
    gw.write("home/c5.conf", &tunnel(5, "k5-0123456789abcdefghij"));
    gw.stop_isakmpd();
    let before = snapshot(&gw);
    let o = gw.run_from(gw.root(), &["add", &gw.actual("home/c5.conf")]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).is_empty(), "a plan was printed:\n{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("isakmpd") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(snapshot(&gw), before);
}
