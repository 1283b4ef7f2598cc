//! `--json` on the mutating commands: the plan as steps and the result
//! (done, unchanged, failed; done and pending steps; the journal), through
//! the real binary on the test gateway.

mod common;

use serde_json::{Value, json};

use common::*;

const NEW_PSK: &str = "new-secret-0123456789abcd";

fn gateway() -> Gateway {
    let gw = Gateway::new(
        HEAD,
        &[
            ("customer-acme", &acme()),
            ("customer-b", &tunnel(2, "b-secret-0123456789abcdef")),
        ],
    );
    gw.write("home/new.conf", &tunnel(7, NEW_PSK));
    gw
}

fn json_env(gw: &Gateway, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, Value) {
    let out = gw.run_env(args, env);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}\n{}", stdout(&out), stderr(&out)));
    assert_eq!(v["version"], 1, "{v}");
    (out.status.code(), v)
}

fn json(gw: &Gateway, args: &[&str]) -> (Option<i32>, Value) {
    json_env(gw, args, &[])
}

fn kinds(v: &Value) -> Vec<&str> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect()
}

#[test]
fn a_dry_run_is_the_plan_with_keys_redacted_unless_asked() {
    let gw = gateway();
    let before = gw.read("etc/ipsec.conf");
    let new = gw.actual("home/new.conf");
    let (code, v) = json(&gw, &["add", "-n", "--json", &new]);
    assert_eq!(code, Some(0));
    assert_eq!(v["command"], "add");
    assert_eq!(v["fragment"], "new");
    assert_eq!(v["dry_run"], true);
    // the fragment, ipsec.conf, what a rollback sends isakmpd after the
    // load, the load, the applied copy and the names it was loaded with
    assert_eq!(
        kinds(&v),
        ["edit", "edit", "fifo-on-undo", "ipsecctl", "edit", "edit"]
    );
    assert_eq!(v["steps"][1]["path"], "/etc/ipsec.conf");
    assert!(
        v["steps"][1]["diff"]
            .as_str()
            .unwrap()
            .ends_with("+include \"/etc/ipsec.d/new.conf\"\n"),
        "{v}"
    );
    let installed = gw.actual("etc/ipsec.d/new.conf");
    assert_eq!(v["steps"][3]["argv"], json!(["ipsecctl", "-f", installed]));
    assert_eq!(
        v["result"],
        json!({"status": "planned", "changed": false, "done": [], "pending": [0, 1, 2, 3, 4, 5],
               "warnings": [], "journal": {"state": "clean"}})
    );
    assert!(!v.to_string().contains(NEW_PSK), "{v}");
    assert!(
        v["steps"][0]["diff"]
            .as_str()
            .unwrap()
            .contains("psk <redacted>")
    );
    assert_eq!(gw.read("etc/ipsec.conf"), before);
    assert!(gw.calls().is_empty());

    let (_, shown) = json(&gw, &["add", "-n", "--json", "-k", &new]);
    assert_eq!(shown["keys_shown"], true);
    assert!(
        shown["steps"][0]["diff"]
            .as_str()
            .unwrap()
            .contains(&format!("psk \"{NEW_PSK}\"")),
        "{shown}"
    );
    // -k alone would print nothing different: it is refused
    assert_eq!(gw.run(&["add", "-n", "-k", &new]).status.code(), Some(2));
}

#[test]
fn a_run_reports_what_it_did_and_a_second_one_that_nothing_changes() {
    let gw = gateway();
    let (code, v) = json(&gw, &["add", "--json", &gw.actual("home/new.conf")]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["dry_run"], false);
    assert_eq!(v["result"]["status"], "done");
    assert_eq!(v["result"]["changed"], true);
    assert_eq!(v["result"]["done"], json!([0, 1, 2, 3, 4, 5]));
    assert_eq!(v["result"]["pending"], json!([]));
    assert_eq!(v["result"]["journal"]["state"], "clean");
    assert_eq!(gw.calls().len(), 1);
    assert!(gw.read("etc/ipsec.conf").contains("new.conf"));

    let (code, again) = json(&gw, &["add", "--json", "new"]);
    assert_eq!(code, Some(0));
    assert_eq!(again["steps"], json!([]));
    assert_eq!(again["result"]["status"], "unchanged");
    assert_eq!(again["result"]["changed"], false);
    assert_eq!(again["result"]["message"], "new is already loaded");
}

#[test]
fn down_up_and_restart_list_the_fifo_lines_they_send() {
    let gw = gateway();
    for verb in ["down", "up", "restart"] {
        gw.clear();
        let (code, plan) = json(&gw, &[verb, "-n", "--json", "customer-b"]);
        assert_eq!(code, Some(0));
        // the FIFO lines, then the state files: held down, pending clean-ups
        let k = kinds(&plan);
        assert_eq!(k[0], "fifo", "{verb}: {plan}");
        assert!(k[1..].iter().all(|k| *k == "edit"), "{verb}: {plan}");
        for edit in &plan["steps"].as_array().unwrap()[1..] {
            let path = edit["path"].as_str().unwrap();
            assert!(path.starts_with("/var/db/ipsecmgr/"), "{verb}: {path}");
        }
        assert!(gw.fifo().is_empty(), "{verb} -n sent {:?}", gw.fifo());
        let (code, done) = json(&gw, &[verb, "--json", "customer-b"]);
        assert_eq!(code, Some(0), "{done}");
        assert_eq!(done["command"], verb);
        // the same steps; a clean-up's `not_before` is counted from the
        // moment each run plans, a second apart across a second's turn
        assert_eq!(without_clock(&done["steps"]), without_clock(&plan["steps"]));
        // the plan's lines went first; then, for down, `S` and what a
        // settled clean-up sends
        let sent = gw.fifo();
        let lines = done["steps"][0]["lines"].as_array().unwrap();
        assert_eq!(json!(sent[..lines.len()]), json!(lines), "{verb}: {sent:?}");
        assert_eq!(done["result"]["status"], "done");
    }
}

#[test]
fn rm_and_apply_plan_moves_and_edits() {
    let gw = gateway();
    // acme keeps a rule with its peer: it must be up for apply's load
    gw.peers_up(&["203.0.113.20"]);
    let (_, rm) = json(&gw, &["rm", "-n", "--json", "customer-b"]);
    assert!(kinds(&rm).contains(&"move"), "{rm}");
    assert!(kinds(&rm).contains(&"ipsecctl"), "{rm}");
    gw.write(
        "home/acme2.conf",
        &acme().replace("172.16.11.0/24", "172.16.12.0/24"),
    );
    let (code, apply) = json(
        &gw,
        &[
            "apply",
            "--json",
            "customer-acme",
            &gw.actual("home/acme2.conf"),
        ],
    );
    assert_eq!(code, Some(0), "{apply}");
    assert_eq!(apply["result"]["status"], "done");
    assert!(
        !apply.to_string().contains("acme-4f9a1c7e2b8d5036a1e9"),
        "{apply}"
    );
    let (code, rm) = json(&gw, &["rm", "--json", "customer-b"]);
    assert_eq!(code, Some(0), "{rm}");
    assert!(!gw.read("etc/ipsec.conf").contains("customer-b"));
}

#[test]
fn failures_are_json_with_the_message_and_the_journal() {
    let gw = gateway();
    let (code, v) = json(&gw, &["rm", "--json", "nosuch"]);
    assert_eq!(code, Some(1));
    assert_eq!(v["result"]["status"], "failed");
    assert!(
        v["result"]["message"].as_str().unwrap().contains("nosuch"),
        "{v}"
    );

    // ipsecctl refuses: rolled back, nothing changed
    gw.write("etc/ipsecctl.fail", "ipsecctl: no way\n");
    let before = gw.read("etc/ipsec.conf");
    let (code, v) = json(&gw, &["add", "--json", &gw.actual("home/new.conf")]);
    assert_eq!(code, Some(1));
    assert_eq!(v["result"]["status"], "failed");
    assert_eq!(v["result"]["changed"], false);
    assert!(
        v["result"]["message"].as_str().unwrap().contains("no way"),
        "{v}"
    );
    assert_eq!(v["result"]["journal"]["state"], "clean");
    assert_eq!(gw.read("etc/ipsec.conf"), before);
    std::fs::remove_file(gw.path("etc/ipsecctl.fail")).unwrap();

    // a step after the commit point fails: partly done, to be completed
    let (_, plan) = json(&gw, &["rm", "-n", "--json", "customer-b"]);
    let last = plan["steps"].as_array().unwrap().len() - 1;
    let (code, v) = json_env(
        &gw,
        &["rm", "--json", "customer-b"],
        &[("IPSECMGR_ERROR_AT", &last.to_string())],
    );
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["result"]["status"], "failed");
    assert_eq!(v["result"]["changed"], true);
    let journal = &v["result"]["journal"];
    assert_eq!(journal["state"], "completion-pending", "{v}");
    assert_eq!(journal["op"], "rm customer-b");
    assert_eq!(journal["next_step"], last);
    assert_eq!(v["result"]["pending"], json!([last]));
    // the next run says so, then completes it
    let (_, look) = json(&gw, &["down", "-n", "--json", "customer-acme"]);
    assert_eq!(look["result"]["journal"]["state"], "completion-pending");
    assert!(
        look["result"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("rm customer-b")
    );
    let (code, next) = json(&gw, &["down", "--json", "customer-acme"]);
    assert_eq!(code, Some(0), "{next}");
    assert_eq!(
        next["result"]["recovered"],
        "completed the interrupted `rm customer-b`"
    );
    assert_eq!(next["result"]["journal"]["state"], "clean");
}

/// With --json a command does what it does without: rm's phase 1
/// clean-up, which waits for isakmpd's `S` report, is finished, and the
/// database is a fresh load of what stays.
#[test]
fn json_runs_finish_the_clean_ups_the_text_runs_finish() {
    crate::require_isakmpd!();
    let gw = gateway();
    let (code, v) = json(&gw, &["rm", "--json", "customer-b"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["result"]["status"], "done", "{v}");
    gw.check_db(&["customer-acme"], &[]).unwrap();
    assert!(
        !gw.path("var/db/ipsecmgr/pending-cleanup.json").exists(),
        "{v}"
    );
}

/// `steps` with each `"not_before":SECONDS` in an edit's diff cut to
/// `"not_before":_`.
fn without_clock(steps: &Value) -> Value {
    let mut steps = steps.clone();
    for step in steps.as_array_mut().into_iter().flatten() {
        if let Some(Value::String(diff)) = step.get_mut("diff") {
            let mut out = String::new();
            let mut rest = diff.as_str();
            while let Some(at) = rest.find("\"not_before\":") {
                let (head, tail) = rest.split_at(at + "\"not_before\":".len());
                out.push_str(head);
                out.push('_');
                rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
            }
            out.push_str(rest);
            *diff = out;
        }
    }
    steps
}
