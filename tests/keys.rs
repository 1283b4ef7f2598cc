//! The keys layout: keys as macros of one keys file, declared by name in
//! the settings; `key migrate` and `key set`; fragments written with key
//! macros added, applied and removed alone.  Every output is searched for
//! the keys, which must never show.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use common::{Gateway, SETTINGS, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_ipsecmgr");

const ACME_KEY: &str = "acme-key-4f9a1c7e2b8d5036a1e9";
const GLOBEX_KEY: &str = "globex-key-7d1e0c93a6f24b58e2c0";
const NEW_KEY: &str = "acme-new-key-0b6d2f9e41c7a835";

fn acme(psk: &str) -> String {
    format!("ike esp from 10.0.1.0/24 to 10.1.0.0/16 peer 198.51.100.1 psk {psk}\n")
}

fn globex(psk: &str) -> String {
    format!("ike esp from 10.0.2.0/24 to 10.2.0.0/16 peer 198.51.100.2 psk {psk}\n")
}

/// Every byte a run printed.
fn said(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

fn assert_no_key(what: &str, text: &str) {
    for key in [ACME_KEY, GLOBEX_KEY, NEW_KEY] {
        assert!(!text.contains(key), "{what} shows a key:\n{text}");
    }
}

/// A gateway with the two customers' keys inline, and `[keys]` set.
fn inline_gateway() -> Gateway {
    let gw = Gateway::new(
        "",
        &[
            ("acme", &acme(&format!("\"{ACME_KEY}\""))),
            ("globex", &globex(&format!("\"{GLOBEX_KEY}\""))),
        ],
    );
    gw.write(
        "etc/ipsecmgr.conf",
        &format!("{SETTINGS}\n[keys]\nnames = []\n"),
    );
    gw
}

/// A gateway already in the keys layout.
fn keys_gateway() -> Gateway {
    let gw = Gateway::new(
        "include \"/etc/ipsec.keys\"\n",
        &[
            ("acme", &acme("$acme_psk")),
            ("globex", &globex("$globex_psk")),
        ],
    );
    gw.write(
        "etc/ipsecmgr.conf",
        &format!("{SETTINGS}\n[keys]\nnames = [\"acme_psk\", \"globex_psk\"]\n"),
    );
    gw.write(
        "etc/ipsec.keys",
        &format!("acme_psk = \"{ACME_KEY}\"\nglobex_psk = \"{GLOBEX_KEY}\"\n"),
    );
    gw
}

/// `ipsecmgr --root ROOT ARGS` with `input` on standard input, the
/// stand-in isakmpd settled after it.
fn run_with_input(gw: &Gateway, args: &[&str], input: &str) -> Output {
    let out = run_with_env(gw, args, input, &[]);
    gw.settle();
    out
}

/// `ipsecmgr --root ROOT ARGS`, with `input` on standard input and `env`
/// in its environment.
fn run_with_env(gw: &Gateway, args: &[&str], input: &str, env: &[(&str, &str)]) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("--root")
        .arg(gw.root())
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// What `compile -k` prints, without the macro definition lines ipsecctl
/// -nv prints for the keys file (`name = "value"`).
fn rules_listing(gw: &Gateway) -> String {
    let out = gw.run(&["compile", "-k"]);
    assert!(out.status.success(), "{}", said(&out));
    stdout(&out)
        .lines()
        .filter(|l| !l.contains(" = \""))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn migrate_moves_the_keys_and_loads_what_was_loaded() {
    let gw = inline_gateway();
    let before = rules_listing(&gw);
    assert!(before.contains(&format!("Authentication={ACME_KEY} force")));
    let plan = gw.run(&["key", "migrate", "-n"]);
    assert!(plan.status.success(), "{}", said(&plan));
    assert_no_key("key migrate -n", &said(&plan));
    assert!(
        stdout(&plan).contains("edit /etc/ipsec.keys (keys not shown):\n    acme_psk: added\n"),
        "{}",
        stdout(&plan)
    );
    assert!(stdout(&plan).contains("+\tpsk $acme_psk") || stdout(&plan).contains("psk $acme_psk"));
    assert!(
        !gw.path("etc/ipsec.keys").exists(),
        "-n wrote the keys file"
    );
    let json = gw.run(&["key", "migrate", "-n", "--json"]);
    assert_no_key("key migrate -n --json", &said(&json));
    let out = gw.run(&["key", "migrate"]);
    assert!(out.status.success(), "{}", said(&out));
    assert_no_key("key migrate", &said(&out));
    // the keys are in the keys file alone, readable by root alone
    let keys = gw.read("etc/ipsec.keys");
    assert!(
        keys.contains(ACME_KEY) && keys.contains(GLOBEX_KEY),
        "{keys}"
    );
    let mode = fs::metadata(gw.path("etc/ipsec.keys"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    for f in [
        "etc/ipsec.conf",
        "etc/ipsec.d/acme.conf",
        "etc/ipsec.d/globex.conf",
        "etc/ipsecmgr.conf",
    ] {
        assert_no_key(f, &gw.read(f));
    }
    assert!(
        gw.read("etc/ipsec.conf")
            .starts_with("include \"/etc/ipsec.keys\"\n")
    );
    assert!(
        gw.read("etc/ipsecmgr.conf")
            .contains("names = [\"acme_psk\", \"globex_psk\"]")
    );
    // the same rules, the same keys
    assert_eq!(rules_listing(&gw), before);
    // nothing was loaded or unloaded
    assert!(gw.calls().is_empty(), "{:?}", gw.calls());
    assert!(gw.commands().is_empty(), "{:?}", gw.commands());
    // lint on the gateway: clean; in a checkout without the keys file:
    // clean too, knowing the keys by their names
    let lint = gw.run(&["lint", "--deny-warnings"]);
    assert_eq!(stdout(&lint), "0 errors, 0 warnings\n", "{}", said(&lint));
    fs::remove_file(gw.path("etc/ipsec.keys")).unwrap();
    let ci = gw.run(&["lint", "--deny-warnings", "--offline"]);
    assert_eq!(stdout(&ci), "0 errors, 0 warnings\n", "{}", said(&ci));
    assert_eq!(ci.status.code(), Some(0));
    // a second run has nothing to move
    fs::write(gw.path("etc/ipsec.keys"), &keys).unwrap();
    fs::set_permissions(gw.path("etc/ipsec.keys"), fs::Permissions::from_mode(0o600)).unwrap();
    let again = gw.run(&["key", "migrate"]);
    assert!(
        stdout(&again).contains("nothing to migrate"),
        "{}",
        said(&again)
    );
}

#[test]
fn a_failed_migration_leaves_every_file_as_it_was() {
    for step in 0..5 {
        let gw = inline_gateway();
        let files = [
            "etc/ipsec.conf",
            "etc/ipsec.d/acme.conf",
            "etc/ipsec.d/globex.conf",
            "etc/ipsecmgr.conf",
        ];
        let before: Vec<String> = files.iter().map(|f| gw.read(f)).collect();
        let out = gw.run_env(
            &["key", "migrate"],
            &[("IPSECMGR_ERROR_AT", &step.to_string())],
        );
        assert!(!out.status.success(), "step {step}: {}", said(&out));
        assert_no_key("a failed key migrate", &said(&out));
        let after: Vec<String> = files.iter().map(|f| gw.read(f)).collect();
        assert_eq!(after, before, "step {step}: {}", said(&out));
        assert!(
            !gw.path("etc/ipsec.keys").exists(),
            "step {step}: keys file left"
        );
        assert!(!gw.path("var/db/ipsecmgr/journal").exists());
    }
    // killed part-way: the next run rolls it back
    let gw = inline_gateway();
    let before = gw.read("etc/ipsec.d/acme.conf");
    let out = gw.run_env(&["key", "migrate"], &[("IPSECMGR_FAIL_AT", "2")]);
    assert!(!out.status.success());
    let next = gw.run(&["ls"]);
    assert!(said(&next).contains("was interrupted"), "{}", said(&next));
    let real = gw.run(&["key", "migrate"]);
    assert!(
        said(&real).contains("rolled back the interrupted `key migrate`"),
        "{}",
        said(&real)
    );
    assert!(real.status.success(), "{}", said(&real));
    assert_ne!(gw.read("etc/ipsec.d/acme.conf"), before);
    assert!(gw.read("etc/ipsec.keys").contains(ACME_KEY));
}

#[test]
fn migrate_refuses_a_key_it_cannot_move_and_changes_nothing() {
    let gw = Gateway::new(
        "",
        &[("acme", &format!("k = \"{ACME_KEY}\"\n{}", acme("$k")))],
    );
    gw.write(
        "etc/ipsecmgr.conf",
        &format!("{SETTINGS}\n[keys]\nnames = []\n"),
    );
    let out = gw.run(&["key", "migrate"]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("written with macro k"),
        "{}",
        said(&out)
    );
    assert_no_key("refused migrate", &said(&out));
    assert!(!gw.path("etc/ipsec.keys").exists());
    // without [keys], it says what to declare
    gw.write("etc/ipsecmgr.conf", SETTINGS);
    let out = gw.run(&["key", "migrate"]);
    assert!(said(&out).contains("no [keys] table"), "{}", said(&out));
}

#[test]
fn fragments_with_key_macros_load_alone_with_the_keys_file() {
    let gw = keys_gateway();
    gw.peers_up(&["198.51.100.1", "198.51.100.2", "198.51.100.3"]);
    // add: a new customer, its key already in the keys file
    gw.write(
        "etc/ipsecmgr.conf",
        &format!("{SETTINGS}\n[keys]\nnames = [\"acme_psk\", \"globex_psk\", \"initech_psk\"]\n"),
    );
    let mut keys = gw.read("etc/ipsec.keys");
    keys.push_str("initech_psk = \"initech-key-0b6d2f9e41c7a835d9\"\n");
    gw.write("etc/ipsec.keys", &keys);
    let initech = "ike esp from 10.0.3.0/24 to 10.3.0.0/16 peer 198.51.100.3 psk $initech_psk\n";
    fs::write(gw.path("initech.conf"), initech).unwrap();
    let plan = gw.run(&["add", "-n", gw.path("initech.conf").to_str().unwrap()]);
    assert!(plan.status.success(), "{}", said(&plan));
    assert!(!said(&plan).contains("initech-key"), "{}", said(&plan));
    let out = gw.run(&["add", gw.path("initech.conf").to_str().unwrap()]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(!said(&out).contains("initech-key"), "{}", said(&out));
    let calls = gw.calls();
    let load = calls.last().expect("an ipsecctl run");
    // the file ipsecctl was given includes the keys file, then the fragment;
    // no key is on its command line, and the file is gone
    let file = load.file.clone().unwrap_or_default();
    assert!(
        file.contains(&format!(
            "include \"{}\"",
            gw.path("etc/ipsec.keys").display()
        )) && file.contains(&format!(
            "include \"{}\"",
            gw.path("etc/ipsec.d/initech.conf").display()
        )),
        "{file}"
    );
    assert!(!load.args.iter().any(|a| a.contains("initech-key")));
    let wrapper = &load.args[load.args.len() - 1];
    assert!(
        !std::path::Path::new(wrapper).exists(),
        "{wrapper} left behind"
    );
    // isakmpd got the key itself
    assert!(
        gw.stream().contains(
            &"C set [peer-198.51.100.3]:Authentication=initech-key-0b6d2f9e41c7a835d9 force"
                .to_string()
        ),
        "{:?}",
        gw.stream()
    );
    // apply: a changed network; the rules file holds the macro, not the key
    gw.clear();
    let changed = "ike esp from 10.0.3.0/24 to 10.30.0.0/16 peer 198.51.100.3 psk $initech_psk\n";
    fs::write(gw.path("initech-v2.conf"), changed).unwrap();
    let out = gw.run(&[
        "apply",
        "initech",
        gw.path("initech-v2.conf").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", said(&out));
    for call in gw.calls() {
        let f = call.file.unwrap_or_default();
        assert!(
            !f.contains("initech-key"),
            "a rules file holds the key:\n{f}"
        );
    }
    assert!(
        gw.stream()
            .iter()
            .any(|l| l.contains("Authentication=initech-key"))
    );
    // rm: unloads from the applied copy, with the keys
    gw.clear();
    let out = gw.run(&["rm", "initech"]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(!gw.path("var/db/ipsecmgr/journal").exists());
    let leftovers: Vec<_> = fs::read_dir(gw.path("var/db/ipsecmgr/work"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // lint: a fragment using a key macro is no L101
    let lint = gw.run(&["lint"]);
    assert!(!stdout(&lint).contains("L101"), "{}", stdout(&lint));
}

#[test]
fn key_set_writes_the_keys_file_and_loads_that_peer_alone() {
    let gw = keys_gateway();
    gw.peers_up(&["198.51.100.1", "198.51.100.2"]);
    // the fragments were loaded at boot: their applied copies say so
    for name in ["acme", "globex"] {
        gw.write(
            &format!("var/db/ipsecmgr/applied/{name}.conf"),
            &gw.read(&format!("etc/ipsec.d/{name}.conf")),
        );
    }
    let plan = run_with_input(
        &gw,
        &["key", "set", "-n", "acme_psk"],
        &format!("{NEW_KEY}\n"),
    );
    assert!(plan.status.success(), "{}", said(&plan));
    assert_no_key("key set -n", &said(&plan));
    assert!(
        stdout(&plan).contains("    acme_psk: changed\n"),
        "{}",
        stdout(&plan)
    );
    assert!(
        stdout(&plan).contains("fifo C set [peer-198.51.100.1]:Authentication=<redacted> force"),
        "{}",
        stdout(&plan)
    );
    assert!(
        gw.read("etc/ipsec.keys").contains(ACME_KEY),
        "-n changed the keys file"
    );
    let json = run_with_input(&gw, &["key", "set", "-n", "--json", "acme_psk"], NEW_KEY);
    assert_no_key("key set -n --json", &said(&json));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert!(doc.to_string().contains("load-key"), "{doc}");
    gw.clear();
    let out = run_with_input(&gw, &["key", "set", "acme_psk"], &format!("{NEW_KEY}\n"));
    assert!(out.status.success(), "{}", said(&out));
    assert_no_key("key set", &said(&out));
    let keys = gw.read("etc/ipsec.keys");
    assert_eq!(
        keys,
        format!("acme_psk = \"{NEW_KEY}\"\nglobex_psk = \"{GLOBEX_KEY}\"\n")
    );
    let mode = fs::metadata(gw.path("etc/ipsec.keys"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // one line for the one peer: nothing else changes in isakmpd
    assert_eq!(
        gw.commands(),
        [format!(
            "C set [peer-198.51.100.1]:Authentication={NEW_KEY} force"
        )]
    );
    assert!(gw.calls().is_empty(), "ipsecctl ran: {:?}", gw.calls());
    // the same key again: nothing to do
    let again = run_with_input(&gw, &["key", "set", "acme_psk"], NEW_KEY);
    assert!(stdout(&again).contains("nothing to do"), "{}", said(&again));
    // refused: undeclared, too short, not one word; nothing written
    for (name, value, why) in [
        ("other_psk", NEW_KEY, "not declared"),
        ("acme_psk", "short", "at least 20"),
        ("acme_psk", "a key with blanks in it 0123", "no blank"),
    ] {
        let out = run_with_input(&gw, &["key", "set", name], value);
        assert_eq!(out.status.code(), Some(1), "{}", said(&out));
        assert!(said(&out).contains(why), "{}", said(&out));
        assert!(!said(&out).contains(value) || value == NEW_KEY && !said(&out).contains(NEW_KEY));
    }
    assert_eq!(gw.read("etc/ipsec.keys"), keys);
    // a key is never taken from the command line
    let out = gw.run(&["key", "set", "acme_psk", NEW_KEY]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
}

/// The usual rotation: the peer changed its key first, so its tunnel
/// keeps failing and retrying, with no phase 1 SA.  A load of rules for it
/// would wait or be refused (see manager/quiet.rs); a key load is not: it
/// replaces a value no exchange points into (ike_auth.c copies the key).
#[test]
fn key_set_for_a_peer_whose_tunnel_keeps_failing_is_not_held_back() {
    let gw = keys_gateway();
    // globex is up; acme's peer has no phase 1 SA while its tunnel tries
    gw.peers_up(&["198.51.100.2"]);
    for name in ["acme", "globex"] {
        gw.write(
            &format!("var/db/ipsecmgr/applied/{name}.conf"),
            &gw.read(&format!("etc/ipsec.d/{name}.conf")),
        );
    }
    let out = run_with_input(&gw, &["key", "set", "acme_psk"], &format!("{NEW_KEY}\n"));
    assert!(out.status.success(), "{}", said(&out));
    assert_no_key("key set", &said(&out));
    assert_eq!(
        gw.commands(),
        [format!(
            "C set [peer-198.51.100.1]:Authentication={NEW_KEY} force"
        )]
    );
    // --wait is not an option of key set: there is nothing to wait for
    let out = run_with_input(&gw, &["key", "set", "--wait", "5", "acme_psk"], NEW_KEY);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
}

#[test]
fn an_interrupted_key_set_is_completed_and_its_journal_holds_no_key() {
    // interrupted after the keys file is written, before the load
    let gw = keys_gateway();
    gw.peers_up(&["198.51.100.1", "198.51.100.2"]);
    gw.write(
        "var/db/ipsecmgr/applied/acme.conf",
        &gw.read("etc/ipsec.d/acme.conf"),
    );
    let out = run_with_env(
        &gw,
        &["key", "set", "acme_psk"],
        NEW_KEY,
        &[("IPSECMGR_FAIL_AT", "1")],
    );
    assert!(!out.status.success());
    let journal = gw.read("var/db/ipsecmgr/journal");
    assert!(journal.contains("LoadKey"), "{journal}");
    // the keys file's bytes, old and new, are not in it (as text or bytes)
    assert!(
        !journal.contains(NEW_KEY) && !journal.contains(ACME_KEY),
        "{journal}"
    );
    assert!(
        journal.contains("\"new\":[]") && journal.contains("\"old\":[]"),
        "{journal}"
    );
    assert!(gw.read("etc/ipsec.keys").contains(NEW_KEY));
    gw.clear();
    // the next mutating run completes it: the load goes out
    let next = run_with_input(&gw, &["key", "set", "acme_psk"], NEW_KEY);
    assert!(
        said(&next).contains("completed the interrupted `key set acme_psk`"),
        "{}",
        said(&next)
    );
    assert!(
        gw.commands().contains(&format!(
            "C set [peer-198.51.100.1]:Authentication={NEW_KEY} force"
        )),
        "{:?}",
        gw.commands()
    );
    assert!(!gw.path("var/db/ipsecmgr/journal").exists());
}
