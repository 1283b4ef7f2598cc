//! `add`, `rm` and `apply` with `--config-only`, through the real binary:
//! the files are edited, ipsecctl is not run, nothing goes into isakmpd's
//! FIFO (not even `S`), isakmpd need not run; the run names the command
//! that makes the gateway match later, and that command, run normally,
//! leaves isakmpd's database equal to a fresh load of the configuration.

mod common;

use std::process::Output;

use serde_json::Value;

use common::*;

const STATE: &str = "var/db/ipsecmgr";

fn acme_psk() -> &'static str {
    "acme-4f9a1c7e2b8d5036a1e9"
}

/// Runs ipsecmgr, which must succeed; its stdout.
fn ok(gw: &Gateway, args: &[&str]) -> String {
    let out = gw.run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// A gateway whose fragments were all added by ipsecmgr (it holds their
/// applied copies and loaded records), the FIFO record then cleared.
fn managed(fragments: &[(&str, &str)]) -> Gateway {
    let gw = Gateway::new(HEAD, &[]);
    for (name, text) in fragments {
        let rel = format!("home/{name}.conf");
        gw.write(&rel, text);
        ok(&gw, &["add", &gw.actual(&rel)]);
    }
    gw.check_db(&fragments.iter().map(|(n, _)| *n).collect::<Vec<_>>(), &[])
        .unwrap();
    gw.clear();
    gw
}

/// Asserts the run touched neither ipsecctl nor isakmpd.
fn untouched_isakmpd(gw: &Gateway, what: &str) {
    assert!(
        gw.calls().is_empty(),
        "{what}: ipsecctl ran: {:?}",
        gw.calls()
    );
    assert!(
        gw.stream().is_empty(),
        "{what}: the FIFO got {:?}",
        gw.stream()
    );
}

/// The commands a text run says to run later (the indented lines after
/// "to make the gateway match"), each as its words; the part after `#`
/// says what it does.
fn later_lines(out: &str) -> Vec<(Vec<String>, String)> {
    let Some((_, rest)) = out.split_once("to make the gateway match, once isakmpd runs:\n") else {
        return Vec::new();
    };
    rest.lines()
        .take_while(|l| l.starts_with("    "))
        .map(|l| {
            let (cmd, does) = l.trim().split_once("    # ").expect("a comment");
            (shell_words(cmd), does.to_string())
        })
        .collect()
}

/// Splits a command line as sh does for words that are plain or single
/// quoted (what ipsecmgr prints).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            _ => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

/// Runs a command a config-only run named: `ipsecmgr --root ROOT ARGS`,
/// checked to be that, on the gateway.
fn run_later(gw: &Gateway, argv: &[String]) -> Output {
    let root = gw.root().display().to_string();
    assert_eq!(argv[..3], ["ipsecmgr", "--root", root.as_str()], "{argv:?}");
    let args: Vec<&str> = argv[3..].iter().map(String::as_str).collect();
    gw.run(&args)
}

/// Runs a `--json` command: its exit status and document, which must
/// follow the schema of the mutating commands' documents (or of ls).
/// Runs the first command a --config-only run named, which must be
/// `ipsecmgr --root ROOT VERB NAME` for `want` = [VERB, NAME], and checks
/// that it succeeds.
fn run_named(gw: &Gateway, out: &str, want: [&str; 2]) {
    let later = later_lines(out);
    assert!(!later.is_empty(), "nothing named: {out}");
    assert_eq!(later[0].0[3..], want, "{out}");
    let done = run_later(gw, &later[0].0);
    assert!(done.status.success(), "{}", stderr(&done));
}

fn json(gw: &Gateway, args: &[&str]) -> (Option<i32>, Value) {
    let out = gw.run(args);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}\n{}", stdout(&out), stderr(&out)));
    check_schema(if args[0] == "ls" { "ls" } else { "plan" }, &v);
    (out.status.code(), v)
}

fn check_schema(which: &str, doc: &Value) {
    let mut schema: Value =
        serde_json::from_str(include_str!("../schemas/ipsecmgr.schema.json")).unwrap();
    let map = schema.as_object_mut().unwrap();
    map.remove("oneOf");
    map.insert("$ref".into(), format!("#/$defs/{which}").into());
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{doc}\n{}", errors.join("\n"));
}

fn ls_state(gw: &Gateway, name: &str) -> Value {
    let (code, v) = json(gw, &["ls", "--json"]);
    assert_eq!(code, Some(0));
    v["fragments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn add_config_only_edits_the_files_then_the_named_apply_loads_it() {
    crate::require_isakmpd!();
    let gw = managed(&[("b", &tunnel(2, "b-secret-0123456789abcdef"))]);
    gw.write("home/acme.conf", &acme());
    let out = ok(&gw, &["add", "--config-only", &gw.actual("home/acme.conf")]);
    untouched_isakmpd(&gw, "add --config-only");
    assert!(
        out.contains("add acme: done, in the configuration only"),
        "{out}"
    );
    assert!(
        !out.contains("run ipsecctl") && !out.contains("fifo "),
        "{out}"
    );
    assert!(!out.contains(acme_psk()), "{out}");
    // the files: the fragment, its include, and an empty applied copy
    // (nothing of it loaded); no loaded record
    assert_eq!(gw.read("etc/ipsec.d/acme.conf"), acme());
    assert!(
        gw.read("etc/ipsec.conf")
            .ends_with("include \"/etc/ipsec.d/acme.conf\"\n")
    );
    assert!(gw.path(&format!("{STATE}/applied/acme.conf")).is_file());
    assert_eq!(gw.read(&format!("{STATE}/applied/acme.conf")), "");
    assert!(!gw.path(&format!("{STATE}/loaded/acme.json")).exists());
    // isakmpd holds what it held
    gw.check_db_texts(&[("b", &tunnel(2, "b-secret-0123456789abcdef"))], &[])
        .unwrap();
    // ls tells the truth: in the configuration, not loaded
    let e = ls_state(&gw, "acme");
    assert_eq!(e["state"], "modified", "{e}");
    assert_eq!(
        e["not_applied"]["added"],
        serde_json::json!([
            "from-10.0.50.0/24-to-172.16.10.0/24",
            "from-10.0.50.0/24-to-172.16.11.0/24"
        ]),
        "{e}"
    );
    // a normal add or down of it says how to load it
    let again = gw.run(&["add", &gw.actual("home/acme.conf")]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains(&format!(
            "not loaded (it was added with --config-only); `ipsecmgr --root {} apply acme` loads it",
            gw.root().display()
        )),
        "{}",
        stderr(&again)
    );
    let down = ok(&gw, &["down", "acme"]);
    assert!(down.contains("acme is not loaded"), "{down}");
    untouched_isakmpd(&gw, "add and down after add --config-only");

    let later = later_lines(&out);
    assert_eq!(later.len(), 1, "{out}");
    assert_eq!(later[0].1, "loads acme");
    run_named(&gw, &out, ["apply", "acme"]);
    assert!(!gw.calls().is_empty());
    gw.check_db(&["b", "acme"], &[]).unwrap();
    assert_eq!(gw.read(&format!("{STATE}/applied/acme.conf")), acme());
    assert!(gw.path(&format!("{STATE}/loaded/acme.json")).is_file());
    assert_eq!(ls_state(&gw, "acme")["state"], "applied");
}

#[test]
fn config_only_needs_no_isakmpd_and_a_normal_run_does() {
    crate::require_isakmpd!();
    let mut gw = managed(&[("b", &tunnel(2, "b-secret-0123456789abcdef"))]);
    gw.write("home/acme.conf", &acme());
    gw.write("home/b.conf", &tunnel(3, "b-secret-0123456789abcdef"));
    gw.stop_isakmpd();
    let conf = gw.read("etc/ipsec.conf");
    // without --config-only: refused, nothing changed
    for args in [
        vec!["add".to_string(), gw.actual("home/acme.conf")],
        vec!["rm".to_string(), "b".to_string()],
        vec![
            "apply".to_string(),
            "b".to_string(),
            gw.actual("home/b.conf"),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = gw.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("nothing was changed"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(gw.read("etc/ipsec.conf"), conf);
    assert!(gw.calls().is_empty());
    // with it: done, and said what to run once isakmpd runs
    let out = ok(&gw, &["add", "--config-only", &gw.actual("home/acme.conf")]);
    let add_later = later_lines(&out);
    let out = ok(
        &gw,
        &["apply", "--config-only", "b", &gw.actual("home/b.conf")],
    );
    let apply_later = later_lines(&out);
    assert_eq!(apply_later[0].0[3..], ["apply", "b"]);
    assert_eq!(
        gw.read("etc/ipsec.d/b.conf"),
        tunnel(3, "b-secret-0123456789abcdef")
    );
    assert!(gw.calls().is_empty());
    gw.start_isakmpd();
    for (argv, _) in add_later.iter().chain(&apply_later) {
        let out = run_later(&gw, argv);
        assert!(out.status.success(), "{argv:?}: {}", stderr(&out));
    }
    gw.check_db(&["b", "acme"], &[]).unwrap();
}

#[test]
fn rm_config_only_keeps_what_is_loaded_until_the_named_rm_unloads_it() {
    crate::require_isakmpd!();
    let b = tunnel(2, "b-secret-0123456789abcdef");
    let gw = managed(&[("acme", &acme()), ("b", &b)]);
    let loaded_record = gw.read(&format!("{STATE}/loaded/acme.json"));
    let before = ls_state(&gw, "acme");
    let out = ok(&gw, &["rm", "--config-only", "acme"]);
    untouched_isakmpd(&gw, "rm --config-only");
    assert!(!gw.read("etc/ipsec.conf").contains("acme"));
    assert!(!gw.fragment("acme").exists());
    let removed: Vec<String> = std::fs::read_dir(gw.path(&format!("{STATE}/removed")))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(removed[0].starts_with("acme.conf."), "{removed:?}");
    // still loaded: its applied copy and record stay
    assert_eq!(gw.read(&format!("{STATE}/applied/acme.conf")), acme());
    assert_eq!(gw.read(&format!("{STATE}/loaded/acme.json")), loaded_record);
    assert!(!gw.path(&format!("{STATE}/pending-cleanup.json")).exists());
    gw.check_db_texts(&[("acme", &acme()), ("b", &b)], &[])
        .unwrap();
    // ls shows it, out of the tree yet loaded, with the tags it is loaded by
    let listed = ls_state(&gw, "acme");
    assert_eq!(listed["state"], "removed", "{listed}");
    assert_eq!(listed["line"], 0, "{listed}");
    for field in ["flows", "sas", "ike", "phase1", "phase2"] {
        assert_eq!(listed[field], before[field], "{field}: {listed} / {before}");
    }
    assert!(!listed["phase2"].as_array().unwrap().is_empty(), "{listed}");
    let ls = ok(&gw, &["ls"]);
    assert!(
        ls.contains(&format!(
            "still loaded (until `ipsecmgr --root {} rm acme`)",
            gw.root().display()
        )),
        "{ls}"
    );
    // a second one has nothing to edit, and says the same
    let again = ok(&gw, &["rm", "--config-only", "acme"]);
    assert!(
        again.contains("not in the configuration any more"),
        "{again}"
    );
    assert_eq!(later_lines(&again), later_lines(&out));
    // adding it back normally would load it twice: refused
    gw.write("home/acme.conf", &acme());
    let add = gw.run(&["add", &gw.actual("home/acme.conf")]);
    assert_eq!(add.status.code(), Some(1));
    assert!(stderr(&add).contains("still loaded"), "{}", stderr(&add));
    untouched_isakmpd(&gw, "rm and add after rm --config-only");
    // and status reports its tunnels, from its applied copy, not as strays
    let status = gw.run(&["status", "--json", "acme"]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    let v: Value = serde_json::from_slice(&status.stdout).unwrap();
    check_schema("status", &v);
    let frags = v["fragments"].as_array().unwrap();
    assert_eq!(frags.len(), 1, "{v}");
    assert_eq!(frags[0]["name"], "acme", "{v}");
    assert_eq!(frags[0]["removed"], true, "{v}");
    let phase2: Vec<&Value> = frags[0]["tunnels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["phase2"])
        .collect();
    let loaded: Vec<&Value> = before["phase2"].as_array().unwrap().iter().collect();
    assert_eq!(phase2, loaded, "{v}");
    let text = ok(&gw, &["status"]);
    assert!(
        text.contains("removed     no longer included, still loaded"),
        "{text}"
    );

    let later = later_lines(&out);
    assert_eq!(later.len(), 1, "{out}");
    assert_eq!(later[0].1, "unloads acme");
    run_named(&gw, &out, ["rm", "acme"]);
    let deletes = gw
        .calls()
        .iter()
        .filter(|c| c.args.first().is_some_and(|a| a == "-d"))
        .count();
    assert_eq!(deletes, 1, "{:?}", gw.calls());
    gw.check_db(&["b"], &[]).unwrap();
    assert!(!gw.path(&format!("{STATE}/applied/acme.conf")).exists());
    assert!(!gw.path(&format!("{STATE}/loaded/acme.json")).exists());
    assert_eq!(ls_state(&gw, "acme"), Value::Null);
}

#[test]
fn rm_config_only_of_a_fragment_loaded_without_ipsecmgr_keeps_its_file_as_applied_copy() {
    crate::require_isakmpd!();
    let b = tunnel(2, "b-secret-0123456789abcdef");
    // loaded at boot: no applied copy
    let gw = Gateway::new(HEAD, &[("acme", &acme()), ("b", &b)]);
    assert!(!gw.path(&format!("{STATE}/applied/acme.conf")).exists());
    let out = ok(&gw, &["rm", "--config-only", "acme"]);
    untouched_isakmpd(&gw, "rm --config-only");
    assert!(out.contains("loaded without ipsecmgr"), "{out}");
    assert!(!gw.fragment("acme").exists());
    assert_eq!(gw.read(&format!("{STATE}/applied/acme.conf")), acme());
    run_named(&gw, &out, ["rm", "acme"]);
    gw.check_db(&["b"], &[]).unwrap();
}

#[test]
fn apply_config_only_installs_the_file_and_the_named_apply_loads_the_change() {
    crate::require_isakmpd!();
    let old = tunnel(5, "five-secret-0123456789ab");
    let new = format!("{old}{}", tunnel(6, "six-secret-0123456789abc"));
    // six loaded at boot (no applied copy), five added by ipsecmgr:
    // apply --config-only keeps six's file as it was as its applied copy
    let gw = Gateway::new(HEAD, &[("six", &tunnel(8, "six-secret-0123456789abc"))]);
    gw.write("home/five.conf", &old);
    ok(&gw, &["add", &gw.actual("home/five.conf")]);
    gw.write("home/five.conf", &new);
    gw.write("home/six.conf", &tunnel(9, "six-secret-0123456789abc"));
    gw.clear();

    let out = ok(
        &gw,
        &[
            "apply",
            "--config-only",
            "five",
            &gw.actual("home/five.conf"),
        ],
    );
    untouched_isakmpd(&gw, "apply --config-only five");
    assert_eq!(gw.read("etc/ipsec.d/five.conf"), new);
    assert_eq!(gw.read(&format!("{STATE}/applied/five.conf")), old);
    assert_eq!(ls_state(&gw, "five")["state"], "modified");
    let five_later = later_lines(&out);
    assert_eq!(five_later[0].0[3..], ["apply", "five"]);
    assert_eq!(five_later[0].1, "loads the new five");

    let out = ok(
        &gw,
        &["apply", "--config-only", "six", &gw.actual("home/six.conf")],
    );
    untouched_isakmpd(&gw, "apply --config-only six");
    assert!(out.contains("loaded without ipsecmgr"), "{out}");
    assert_eq!(
        gw.read(&format!("{STATE}/applied/six.conf")),
        tunnel(8, "six-secret-0123456789abc")
    );
    let six_later = later_lines(&out);

    // applying again with the file already installed: nothing to edit,
    // the same command named
    let again = ok(&gw, &["apply", "--config-only", "five"]);
    assert!(
        again.contains("five's file already holds this version"),
        "{again}"
    );
    assert_eq!(later_lines(&again), five_later);
    untouched_isakmpd(&gw, "apply --config-only again");

    for (argv, _) in five_later.iter().chain(&six_later) {
        let out = run_later(&gw, argv);
        assert!(out.status.success(), "{argv:?}: {}", stderr(&out));
    }
    gw.check_db(&["five", "six"], &[]).unwrap();
    let done = ok(&gw, &["apply", "--config-only", "five"]);
    assert!(done.contains("five: nothing to apply"), "{done}");
    assert!(later_lines(&done).is_empty(), "{done}");
}

/// `add --config-only` records that nothing of the fragment is loaded; a
/// boot (or `ipsecctl -f ipsec.conf`) then loads it all the same.  So rm
/// unloads what the file holds whatever the record says, and a failing
/// `ipsecctl -d` (nothing was loaded after all) is no error.
#[test]
fn a_normal_rm_after_add_config_only_unloads_what_the_file_holds() {
    crate::require_isakmpd!();
    let b = tunnel(2, "b-secret-0123456789abcdef");
    let gw = managed(&[("b", &b)]);
    gw.write("home/acme.conf", &acme());
    ok(&gw, &["add", "--config-only", &gw.actual("home/acme.conf")]);
    // the boot loads every include of ipsec.conf
    let boot = std::process::Command::new(gw.path("sbin/ipsecctl"))
        .arg("-f")
        .arg(gw.fragment("acme"))
        .output()
        .unwrap();
    assert!(boot.status.success(), "{}", stderr(&boot));
    gw.settle();
    gw.check_db(&["b", "acme"], &[]).unwrap();
    ok(&gw, &["rm", "acme"]);
    assert!(!gw.read("etc/ipsec.conf").contains("acme"));
    assert!(!gw.path(&format!("{STATE}/applied/acme.conf")).exists());
    gw.check_db(&["b"], &[]).unwrap();
    let deletes: Vec<_> = gw
        .calls()
        .into_iter()
        .filter(|c| c.args.contains(&"-d".to_string()))
        .collect();
    assert_eq!(deletes.len(), 1, "{:?}", gw.calls());

    // without a boot between them: the same, and the unload of what was
    // not loaded harms nothing
    gw.clear();
    ok(&gw, &["add", "--config-only", &gw.actual("home/acme.conf")]);
    ok(&gw, &["rm", "acme"]);
    gw.check_db(&["b"], &[]).unwrap();

    // rm --config-only keeps the file as what may be loaded, and names the
    // rm that unloads it
    ok(&gw, &["add", "--config-only", &gw.actual("home/acme.conf")]);
    gw.clear();
    let out = ok(&gw, &["rm", "--config-only", "acme"]);
    untouched_isakmpd(&gw, "rm --config-only after add --config-only");
    assert_eq!(gw.read(&format!("{STATE}/applied/acme.conf")), acme());
    let boot = std::process::Command::new(gw.path("sbin/ipsecctl"))
        .arg("-f")
        .arg(gw.path(&format!("{STATE}/applied/acme.conf")))
        .output()
        .unwrap();
    assert!(boot.status.success(), "{}", stderr(&boot));
    gw.settle();
    run_named(&gw, &out, ["rm", "acme"]);
    gw.check_db(&["b"], &[]).unwrap();
    assert!(!gw.path(&format!("{STATE}/applied/acme.conf")).exists());
}

/// A fragment `rm --config-only` took out is not in ipsec.conf: apply
/// would install a file nothing includes and load tunnels ipsec.conf does
/// not hold.  It is refused, as add is, naming what to run instead.
#[test]
fn apply_of_a_fragment_taken_out_with_rm_config_only_is_refused() {
    crate::require_isakmpd!();
    let b = tunnel(2, "b-secret-0123456789abcdef");
    let gw = managed(&[("acme", &acme()), ("b", &b)]);
    ok(&gw, &["rm", "--config-only", "acme"]);
    gw.write(
        "home/acme.conf",
        &acme().replace("172.16.11.0/24", "172.16.12.0/24"),
    );
    let conf = gw.read("etc/ipsec.conf");
    for args in [
        &["apply", "acme", &gw.actual("home/acme.conf")][..],
        &["apply", "acme"],
        &[
            "apply",
            "--config-only",
            "acme",
            &gw.actual("home/acme.conf"),
        ],
        &["apply", "-n", "acme", &gw.actual("home/acme.conf")],
    ] {
        let out = gw.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        let err = stderr(&out);
        assert!(
            err.contains("not included by /etc/ipsec.conf"),
            "{args:?}: {err}"
        );
        assert!(err.contains("`ipsecmgr rm acme`"), "{args:?}: {err}");
        assert!(!gw.fragment("acme").exists(), "{args:?} installed the file");
        assert_eq!(gw.read("etc/ipsec.conf"), conf);
        untouched_isakmpd(&gw, &format!("{args:?}"));
    }
    // the way back: the file again in the configuration, then apply (a
    // rule that stays keeps its peer: up, so the load need not wait)
    ok(&gw, &["add", "--config-only", &gw.actual("home/acme.conf")]);
    gw.peers_up(&["203.0.113.20"]);
    ok(&gw, &["apply", "acme"]);
    gw.check_db_texts(
        &[
            ("acme", &acme().replace("172.16.11.0/24", "172.16.12.0/24")),
            ("b", &b),
        ],
        &[],
    )
    .unwrap();
}

#[test]
fn a_dry_run_prints_the_config_only_plan_and_changes_nothing() {
    let gw = Gateway::new(HEAD, &[("b", &tunnel(2, "b-secret-0123456789abcdef"))]);
    gw.write("home/acme.conf", &acme());
    let conf = gw.read("etc/ipsec.conf");
    let out = ok(
        &gw,
        &["add", "-n", "--config-only", &gw.actual("home/acme.conf")],
    );
    let edits: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("edit ") || l.starts_with("record "))
        .collect();
    assert_eq!(
        edits,
        [
            "edit /etc/ipsec.d/acme.conf:",
            "edit /etc/ipsec.conf:",
            "record /var/db/ipsecmgr/applied/acme.conf: the copy of acme as applied: empty, none of it is loaded"
        ],
        "{out}"
    );
    assert!(
        !out.contains("run ipsecctl") && !out.contains("fifo "),
        "{out}"
    );
    assert!(!out.contains(acme_psk()), "{out}");
    // the applied copy is created empty: nothing of acme loaded (said in
    // full with -v)
    let full = ok(
        &gw,
        &[
            "add",
            "-n",
            "-v",
            "--config-only",
            &gw.actual("home/acme.conf"),
        ],
    );
    assert!(
        full.contains("edit /var/db/ipsecmgr/applied/acme.conf:\n    (an empty file)\n"),
        "{full}"
    );
    assert_eq!(later_lines(&out)[0].0[3..], ["apply", "acme"]);
    let out = ok(&gw, &["rm", "-n", "--config-only", "b"]);
    assert!(out.contains("edit /etc/ipsec.conf:"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("move /etc/ipsec.d/b.conf to /var/db/ipsecmgr/removed/b.conf.")),
        "{out}"
    );
    assert!(
        !out.contains("run ipsecctl") && !out.contains("fifo "),
        "{out}"
    );
    assert_eq!(later_lines(&out)[0].0[3..], ["rm", "b"]);
    untouched_isakmpd(&gw, "-n --config-only");
    assert_eq!(gw.read("etc/ipsec.conf"), conf);
    assert!(!gw.path(STATE).exists());
}

#[test]
fn json_says_config_only_and_what_to_run_later() {
    crate::require_isakmpd!();
    let gw = managed(&[("five", &tunnel(5, "five-secret-0123456789ab"))]);
    gw.write("home/acme.conf", &acme());
    gw.write("home/five.conf", &tunnel(6, "five-secret-0123456789ab"));
    let root = gw.root().display().to_string();
    let argv = |verb: &str, name: &str| serde_json::json!(["ipsecmgr", "--root", root, verb, name]);

    let (code, v) = json(
        &gw,
        &[
            "add",
            "-n",
            "--json",
            "--config-only",
            &gw.actual("home/acme.conf"),
        ],
    );
    assert_eq!(code, Some(0));
    assert_eq!(v["config_only"], true, "{v}");
    assert_eq!(v["result"]["status"], "planned");
    assert_eq!(
        v["result"]["later"][0]["argv"],
        argv("apply", "acme"),
        "{v}"
    );
    let kinds: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["edit", "edit", "edit"], "{v}");
    assert!(!gw.fragment("acme").exists());

    let (code, v) = json(
        &gw,
        &[
            "add",
            "--json",
            "--config-only",
            &gw.actual("home/acme.conf"),
        ],
    );
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["result"]["status"], "done");
    assert_eq!(v["result"]["done"], serde_json::json!([0, 1, 2]));
    let later = &v["result"]["later"][0];
    assert_eq!(later["argv"], argv("apply", "acme"));
    assert_eq!(later["does"], "loads acme");
    assert_eq!(
        shell_words(later["command"].as_str().unwrap()),
        later["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    );
    assert!(!v.to_string().contains(acme_psk()), "{v}");

    let (code, v) = json(
        &gw,
        &[
            "apply",
            "--json",
            "--config-only",
            "five",
            &gw.actual("home/five.conf"),
        ],
    );
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["result"]["later"][0]["argv"], argv("apply", "five"));
    let (code, v) = json(&gw, &["rm", "--json", "--config-only", "five"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["result"]["later"][0]["argv"], argv("rm", "five"));
    // nothing left to edit: unchanged, the command still named
    let (code, v) = json(&gw, &["rm", "--json", "--config-only", "five"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["result"]["status"], "unchanged");
    assert_eq!(v["result"]["later"][0]["argv"], argv("rm", "five"));
    untouched_isakmpd(&gw, "--json --config-only");
    // the schema knows the fields: a misspelt one is refused
    let mut broken = v.clone();
    broken["result"]["later"][0]["args"] = Value::Null;
    let refused = std::panic::catch_unwind(|| check_schema("plan", &broken));
    assert!(refused.is_err(), "the schema took {broken}");
    // a normal run's document has neither field
    let (_, v) = json(&gw, &["up", "-n", "--json", "acme"]);
    assert!(v.get("config_only").is_none(), "{v}");
    assert!(v["result"].get("later").is_none(), "{v}");
}

/// Each refusal comes before any plan is printed, and on a gateway
/// without state creates none.
#[test]
fn refusals_come_before_the_plan_and_leave_no_state() {
    let gw = Gateway::new(HEAD, &[("b", &tunnel(2, "b-secret-0123456789abcdef"))]);
    gw.write("home/bad.conf", "ike esp from\n");
    gw.write("home/clash.conf", &tunnel(2, "other-secret-0123456789ab"));
    gw.write("home/ok.conf", &acme());
    let conf = gw.read("etc/ipsec.conf");
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            vec![
                "rm".into(),
                "--config-only".into(),
                "b".into(),
                "--wait".into(),
            ],
            2,
            "cannot be used with",
        ),
        (
            vec![
                "apply".into(),
                "--config-only".into(),
                "b".into(),
                "--wait=5".into(),
            ],
            2,
            "cannot be used with",
        ),
        (
            vec![
                "add".into(),
                "--config-only".into(),
                gw.actual("home/bad.conf"),
            ],
            1,
            "bad.conf",
        ),
        (
            vec![
                "add".into(),
                "--config-only".into(),
                gw.actual("home/clash.conf"),
            ],
            1,
            "clash.conf",
        ),
        (
            vec![
                "apply".into(),
                "--config-only".into(),
                "b".into(),
                gw.actual("home/bad.conf"),
            ],
            1,
            "bad.conf",
        ),
        (
            vec!["rm".into(), "--config-only".into(), "nosuch".into()],
            1,
            "no fragment nosuch",
        ),
    ];
    for (args, code, says) in &cases {
        for json_out in [false, true] {
            let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
            if json_out {
                args.insert(1, "--json");
            }
            let out = gw.run(&args);
            assert_eq!(out.status.code(), Some(*code), "{args:?}: {}", stderr(&out));
            let text = format!("{}{}", stdout(&out), stderr(&out));
            assert!(text.contains(says), "{args:?}: {text}");
            if json_out && *code == 1 {
                let v: Value = serde_json::from_slice(&out.stdout).unwrap();
                check_schema("plan", &v);
                assert_eq!(v["result"]["status"], "failed", "{v}");
                assert_eq!(v["steps"], serde_json::json!([]), "{v}");
            } else {
                assert!(
                    stdout(&out).is_empty(),
                    "{args:?}: a plan was printed: {}",
                    stdout(&out)
                );
            }
            assert!(!gw.path(STATE).exists(), "{args:?} created state");
        }
    }
    // an include that is not alone on its line cannot be removed
    gw.write(
        "etc/ipsec.conf",
        &(conf.replace(
            "include \"/etc/ipsec.d/b.conf\"\n",
            "include \"/etc/ipsec.d/b.conf\" \\\n",
        ) + "\n"),
    );
    let out = gw.run(&["rm", "--config-only", "b"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    // named as every message names a place: FILE: LINE:
    assert!(
        stderr(&out)
            .contains("/etc/ipsec.conf: 3: cannot remove the include of /etc/ipsec.d/b.conf"),
        "{}",
        stderr(&out)
    );
    assert!(!gw.path(STATE).exists());
    untouched_isakmpd(&gw, "refusals");
    // and none of them needed isakmpd: a good one goes through
    ok(&gw, &["add", "--config-only", &gw.actual("home/ok.conf")]);
}

/// A config-only run interrupted is rolled back by the next run, a
/// config-only one too; an interrupted normal run that needs ipsecctl to
/// be taken up is left for a normal run.
#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn interrupted_runs_and_config_only() {
    crate::require_isakmpd!();
    let b = tunnel(2, "b-secret-0123456789abcdef");
    let gw = managed(&[("b", &b)]);
    gw.write("home/acme.conf", &acme());
    gw.write("home/c.conf", &tunnel(3, "c-secret-0123456789abcdef"));
    let conf = gw.read("etc/ipsec.conf");
    let out = gw.run_env(
        &["add", "--config-only", &gw.actual("home/acme.conf")],
        &[("IPSECMGR_FAIL_AT", "2")],
    );
    assert!(!out.status.success());
    assert!(gw.path(&format!("{STATE}/journal")).exists());
    let out = ok(&gw, &["add", "--config-only", &gw.actual("home/c.conf")]);
    let err = stderr(&gw.run(&["ls"]));
    assert!(err.is_empty(), "{err}");
    assert!(out.contains("add c: done"), "{out}");
    assert!(!gw.fragment("acme").exists());
    assert!(!gw.read("etc/ipsec.conf").contains("acme"));
    assert_eq!(
        gw.read("etc/ipsec.conf"),
        format!("{conf}include \"/etc/ipsec.d/c.conf\"\n")
    );
    untouched_isakmpd(&gw, "recovery by --config-only");

    // a normal add killed just before its load: rolling it back runs
    // `ipsecctl -d`, which --config-only leaves to a normal run
    gw.clear();
    let out = gw.run_env(
        &["add", &gw.actual("home/acme.conf")],
        &[("IPSECMGR_FAIL_AT", "3")],
    );
    assert!(
        stderr(&out).contains("injected fault before step 3"),
        "{}",
        stderr(&out)
    );
    let out = gw.run(&["rm", "--config-only", "c"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the interrupted `add acme` is to be rolled back with ipsecctl and isakmpd, which --config-only leaves alone; a run without --config-only takes it up once isakmpd runs"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(gw.calls().is_empty());
    assert!(gw.path(&format!("{STATE}/journal")).exists());
    assert!(gw.fragment("c").exists());
    // a normal run takes it up
    let out = gw.run(&["up", "b"]);
    assert!(
        stderr(&out).contains("rolled back the interrupted `add acme`"),
        "{}",
        stderr(&out)
    );
    assert!(!gw.path(&format!("{STATE}/journal")).exists());
    assert!(!gw.read("etc/ipsec.conf").contains("acme"));

    // killed after its load: what is left are file writes (the applied
    // copy, the loaded record), which a --config-only run completes
    let out = gw.run_env(
        &["add", &gw.actual("home/acme.conf")],
        &[("IPSECMGR_FAIL_AT", "4")],
    );
    assert!(
        stderr(&out).contains("injected fault before step 4"),
        "{}",
        stderr(&out)
    );
    let calls = gw.calls().len();
    let out = ok(&gw, &["rm", "--config-only", "c"]);
    let _ = out;
    assert_eq!(gw.calls().len(), calls);
    assert!(!gw.path(&format!("{STATE}/journal")).exists());
    assert_eq!(gw.read(&format!("{STATE}/applied/acme.conf")), acme());
    assert!(gw.path(&format!("{STATE}/loaded/acme.json")).is_file());
    gw.check_db(&["b", "acme"], &[]).unwrap();
}

/// The named command run after the rules were loaded anyway (the admin
/// ran ipsecctl by hand, or a boot loaded ipsec.conf) loads them again,
/// which leaves isakmpd's database as a fresh load (ui.c: ui_config skips
/// a `C add` value already on its list; `C set ... force` replaces), and
/// brings ipsecmgr's records up to date.
#[test]
fn the_named_apply_after_a_load_by_hand_is_harmless() {
    crate::require_isakmpd!();
    let gw = managed(&[("b", &tunnel(2, "b-secret-0123456789abcdef"))]);
    gw.write("home/acme.conf", &acme());
    let out = ok(&gw, &["add", "--config-only", &gw.actual("home/acme.conf")]);
    let by_hand = std::process::Command::new(gw.path("sbin/ipsecctl"))
        .arg("-f")
        .arg(gw.fragment("acme"))
        .output()
        .unwrap();
    assert!(by_hand.status.success(), "{}", stderr(&by_hand));
    gw.settle();
    gw.check_db(&["b", "acme"], &[]).unwrap();
    let later = later_lines(&out);
    let out = run_later(&gw, &later[0].0);
    assert!(out.status.success(), "{}", stderr(&out));
    gw.check_db(&["b", "acme"], &[]).unwrap();
    assert_eq!(ls_state(&gw, "acme")["state"], "applied");
    // and what is recorded now unloads it
    ok(&gw, &["rm", "acme"]);
    gw.check_db(&["b"], &[]).unwrap();
}

/// What is already so: a fragment loaded at boot, added again with the
/// same text, needs nothing, now or later; one whose file is gone but
/// whose rules are loaded loses its include line and stays loaded until
/// the named rm.
#[test]
fn config_only_of_what_is_already_so_and_of_a_file_gone() {
    crate::require_isakmpd!();
    let b = tunnel(2, "b-secret-0123456789abcdef");
    let gw = Gateway::new(HEAD, &[("acme", &acme())]);
    gw.write("home/acme.conf", &acme());
    let out = ok(&gw, &["add", "--config-only", &gw.actual("home/acme.conf")]);
    assert!(out.contains("taken to be loaded"), "{out}");
    assert!(later_lines(&out).is_empty(), "{out}");
    assert!(!gw.path(STATE).exists());
    untouched_isakmpd(&gw, "add --config-only of what is there");

    let gw = managed(&[("acme", &acme()), ("b", &b)]);
    std::fs::remove_file(gw.fragment("acme")).unwrap();
    let out = ok(&gw, &["rm", "--config-only", "acme"]);
    untouched_isakmpd(&gw, "rm --config-only of a file gone");
    assert!(!gw.read("etc/ipsec.conf").contains("acme"));
    assert_eq!(gw.read(&format!("{STATE}/applied/acme.conf")), acme());
    run_named(&gw, &out, ["rm", "acme"]);
    gw.check_db(&["b"], &[]).unwrap();
}

/// The command named is the one to paste: with this run's settings file
/// (when not the default one) and root, each word quoted as a shell needs.
#[test]
fn the_named_command_carries_the_settings_file_quoted() {
    let gw = Gateway::new(HEAD, &[]);
    gw.write("home/acme.conf", &acme());
    gw.write("home/my settings.conf", &gw.read("etc/ipsecmgr.conf"));
    let settings = gw.actual("home/my settings.conf");
    let out = ok(
        &gw,
        &[
            "-c",
            &settings,
            "add",
            "--config-only",
            &gw.actual("home/acme.conf"),
        ],
    );
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("ipsecmgr "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains(&format!("'{settings}'")), "{line}");
    let root = gw.root().display().to_string();
    assert_eq!(
        later_lines(&out)[0].0,
        [
            "ipsecmgr", "-c", &settings, "--root", &root, "apply", "acme"
        ]
    );
}
