//! Every JSON document ipsecmgr prints, made by the real binary on the test
//! gateway, validated against schemas/ipsecmgr.schema.json: as a whole
//! (exactly one of its documents) and as the document its command is
//! documented to print.  Broken documents must be refused, so that the
//! schema is known to say something.

mod common;

use std::process::Command;

use serde_json::{Value, json};

use common::*;

const SCHEMA: &str = include_str!("../schemas/ipsecmgr.schema.json");

fn schema() -> Value {
    serde_json::from_str(SCHEMA).unwrap()
}

/// The schema narrowed to one of its documents (`$defs/<which>`).
fn schema_of(which: &str) -> Value {
    let mut s = schema();
    let map = s.as_object_mut().unwrap();
    map.remove("oneOf");
    map.insert("$ref".into(), json!(format!("#/$defs/{which}")));
    s
}

fn errors(schema: &Value, doc: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("the schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Checks `doc`, printed by `what`, against the whole schema and against
/// the document `which`; returns the problems found.
fn check(which: &str, what: &str, doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (label, s) in [("schema", schema()), (which, schema_of(which))] {
        for e in errors(&s, doc) {
            problems.push(format!("{what} against {label}: {e}"));
        }
    }
    problems
}

fn parse(what: &str, out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}):\n{}\n{}", stdout(out), stderr(out)))
}

/// One run: the document it prints, its arguments, its environment.
type Run<'a> = (&'static str, Vec<&'a str>, Vec<(&'a str, &'a str)>);

/// The documents of one gateway's life: looked at, changed by every
/// mutating command (with and without -n), refused, interrupted.
fn documents(live: bool) -> Vec<(&'static str, String, Value)> {
    let gw = Gateway::new(
        HEAD,
        &[
            ("customer-acme", &acme()),
            ("customer-b", &tunnel(2, "b-secret-0123456789abcdef")),
        ],
    );
    gw.write("home/new.conf", &tunnel(7, "new-secret-0123456789abcd"));
    gw.write(
        "home/acme2.conf",
        &acme().replace("172.16.11.0/24", "172.16.12.0/24"),
    );
    // a weak fragment for lint to find something in
    gw.write(
        "home/weak.conf",
        "ike esp from 10.0.9.0/24 to 10.9.0.0/16 peer 198.51.9.1 main group modp1024 psk \"short\"\n",
    );
    gw.write(
        "var/ipsecctl.sa",
        "FLOWS:\nflow esp out from 10.0.2.0/24 to 10.2.0.0/16 peer 198.51.2.1 type require\n\nSAD:\nNo entries\n",
    );
    gw.write(
        "var/isakmpd.sa",
        "SA name: peer-198.51.2.1 (Phase 1/Initiator)\nsrc: 192.0.2.1 dst: 198.51.2.1\nFlags 0x00000001\n\n\
         SA name: from-10.0.2.0/24-to-10.2.0.0/16 (Phase 2)\nsrc: 192.0.2.1 dst: 198.51.2.1\nFlags 0x00000001\n\n",
    );
    let new = gw.actual("home/new.conf");
    let acme2 = gw.actual("home/acme2.conf");
    let weak = gw.actual("home/weak.conf");
    let runs: Vec<Run> = vec![
        ("ls", vec!["ls", "--json"], vec![]),
        ("status", vec!["status", "--json"], vec![]),
        ("status", vec!["status", "--json", "customer-b"], vec![]),
        ("lint", vec!["lint", "--format", "json"], vec![]),
        ("compile", vec!["compile", "--json"], vec![]),
        ("compile", vec!["compile", "--json", "-d", &weak], vec![]),
        ("tags", vec!["tags", "--json", "customer-acme"], vec![]),
        ("tags", vec!["tags", "--json", "--teardown", &weak], vec![]),
        (
            "diff",
            vec!["diff", "--json", "customer-acme", &acme2],
            vec![],
        ),
        ("diff", vec!["diff", "--json", "customer-b"], vec![]),
        (
            "lint",
            vec!["lint", "--offline", "--format", "json", &weak],
            vec![],
        ),
        ("plan", vec!["add", "-n", "--json", &new], vec![]),
        ("plan", vec!["add", "-n", "--json", "-k", &new], vec![]),
        ("plan", vec!["add", "--json", &new], vec![]),
        ("plan", vec!["add", "--json", "new"], vec![]),
        (
            "plan",
            vec!["apply", "-n", "--json", "customer-acme", &acme2],
            vec![],
        ),
        (
            "plan",
            vec!["apply", "--json", "customer-acme", &acme2],
            vec![],
        ),
        ("plan", vec!["down", "-n", "--json", "customer-b"], vec![]),
        ("plan", vec!["down", "--json", "customer-b"], vec![]),
        ("plan", vec!["up", "-n", "--json", "customer-b"], vec![]),
        ("plan", vec!["up", "--json", "customer-b"], vec![]),
        (
            "plan",
            vec!["restart", "-n", "--json", "customer-b"],
            vec![],
        ),
        ("plan", vec!["restart", "--json", "customer-b"], vec![]),
        ("plan", vec!["rm", "-n", "--json", "new"], vec![]),
        ("plan", vec!["rm", "--json", "new"], vec![]),
        ("plan", vec!["rm", "--json", "no-such-fragment"], vec![]),
        ("plan", vec!["add", "--json", "/no/such/file.conf"], vec![]),
        // interrupted after its commit point: a journal is left
        (
            "plan",
            vec!["rm", "--json", "customer-b"],
            vec![("IPSECMGR_ERROR_AT", "3")],
        ),
        (
            "plan",
            vec!["down", "-n", "--json", "customer-acme"],
            vec![],
        ),
        ("plan", vec!["down", "--json", "customer-acme"], vec![]),
        // customer-acme is held down now, and isakmpd answers `C get`
        ("ls", vec!["ls", "--json"], vec![]),
        ("status", vec!["status", "--json"], vec![]),
    ];
    let mut docs = Vec::new();
    for (which, args, env) in runs.into_iter().filter(|r| live || r.0 != "status") {
        let out = gw.run_env(&args, &env);
        let what = format!("ipsecmgr {}", args.join(" "));
        docs.push((which, what.clone(), parse(&what, &out)));
    }
    // diff --tree: two checkouts, the gateway before and after a change
    let old = gw.root().to_path_buf();
    let changed = tempfile::tempdir().unwrap();
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        for entry in walkdir::WalkDir::new(from.join("etc")) {
            let entry = entry.unwrap();
            let target = to.join(entry.path().strip_prefix(from).unwrap());
            if entry.file_type().is_dir() {
                std::fs::create_dir_all(&target).unwrap();
            } else if entry.file_type().is_file() {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    };
    copy(&old, changed.path());
    write_private(
        &changed.path().join("etc/ipsec.d/customer-acme.conf"),
        &acme().replace("172.16.10.0/24", "172.16.13.0/24"),
    );
    for args in [vec!["--json"], vec!["--format", "json"]] {
        let out = Command::new(BIN)
            .args(["diff", "--tree"])
            .arg(&old)
            .arg(changed.path())
            .args(&args)
            .output()
            .unwrap();
        let what = format!("ipsecmgr diff --tree OLD NEW {}", args.join(" "));
        docs.push(("tree_diff", what.clone(), parse(&what, &out)));
    }
    docs
}

#[test]
fn every_json_output_follows_the_schema() {
    // status asks isakmpd's own conf.c (the harness) for its connections;
    // without the harness the other documents are still checked
    let docs = documents(common::isakmpd::available());
    let mut problems = Vec::new();
    for (which, what, doc) in &docs {
        problems.extend(check(which, what, doc));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // the runs covered what they were meant to
    let statuses: Vec<&str> = docs
        .iter()
        .filter(|(w, _, _)| *w == "plan")
        .map(|(_, _, d)| d["result"]["status"].as_str().unwrap())
        .collect();
    for s in ["planned", "done", "unchanged", "failed"] {
        assert!(statuses.contains(&s), "no {s} result among {statuses:?}");
    }
    let journals: Vec<&str> = docs
        .iter()
        .filter_map(|(_, _, d)| d["result"]["journal"]["state"].as_str())
        .collect();
    assert!(journals.contains(&"completion-pending"), "{journals:?}");
    let kinds: Vec<&str> = docs
        .iter()
        .filter_map(|(_, _, d)| d["steps"].as_array())
        .flatten()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    for k in ["edit", "move", "ipsecctl", "fifo"] {
        assert!(kinds.contains(&k), "no {k} step among {kinds:?}");
    }
    let lint = docs
        .iter()
        .find(|(_, w, _)| w.contains("--offline"))
        .unwrap();
    assert!(
        !lint.2["findings"].as_array().unwrap().is_empty(),
        "{}",
        lint.2
    );
    if let Some((_, _, status)) = docs.iter().find(|(_, w, _)| w == "ipsecmgr status --json") {
        assert_eq!(
            status["fragments"][1]["tunnels"][0]["state"], "up",
            "{status}"
        );
    }
}

#[test]
fn the_schema_refuses_what_ipsecmgr_must_not_print() {
    let live = common::isakmpd::available();
    let docs = documents(live);
    let find = |which: &str| docs.iter().find(|(w, _, _)| *w == which).unwrap().2.clone();
    let mut broken: Vec<(&str, Value)> = Vec::new();
    for which in [
        "ls",
        "status",
        "lint",
        "tree_diff",
        "plan",
        "compile",
        "tags",
        "diff",
    ]
    .into_iter()
    .filter(|w| live || *w != "status")
    {
        let mut d = find(which);
        d.as_object_mut().unwrap().remove("version");
        broken.push((which, d));
        let mut d = find(which);
        d["version"] = json!(2);
        broken.push((which, d));
        let mut d = find(which);
        d["unknown_field"] = json!(true);
        broken.push((which, d));
    }
    let mut d = find("plan");
    d["result"]["status"] = json!("maybe");
    broken.push(("plan", d));
    let mut d = find("plan");
    d["steps"][0]["kind"] = json!("reboot");
    broken.push(("plan", d));
    let mut d = find("plan");
    d["result"]["journal"] = json!({"state": "lost"});
    broken.push(("plan", d));
    let mut d = find("ls");
    d["fragments"][0]["state"] = json!("half");
    broken.push(("ls", d));
    let mut d = find("lint");
    d["findings"] = json!([{"code": "X1", "severity": "error", "file": "f", "line": 1,
        "column": 1, "end_column": 1, "message": "m"}]);
    broken.push(("lint", d));
    for (which, doc) in broken {
        assert!(
            !check(which, "broken", &doc).is_empty(),
            "{which}: the schema takes a broken document:\n{doc:#}"
        );
    }
}

/// The runs cover the fields that only some states fill: a held-down
/// fragment, and drift from isakmpd's answer to `C get`.
#[test]
fn the_documents_cover_held_down_fragments_and_drift() {
    crate::require_isakmpd!();
    let docs = documents(true);
    let last = |which: &str| {
        docs.iter()
            .rev()
            .find(|(w, _, _)| *w == which)
            .map(|(_, _, d)| d.clone())
            .unwrap()
    };
    let ls = last("ls");
    let acme = ls["fragments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "customer-acme")
        .unwrap();
    assert_eq!(acme["held_down"], true, "{ls}");
    let status = last("status");
    assert!(status["drift"].is_object(), "{status}");
    assert_eq!(status["drift"]["held_down_active"], json!([]), "{status}");
}

/// compile, tags and diff say in JSON what their text says.
#[test]
fn compile_tags_and_diff_documents_hold_what_the_text_holds() {
    let docs = documents(false);
    let doc = |what: &str| {
        docs.iter()
            .find(|(_, w, _)| w.contains(what))
            .map(|(_, _, d)| d.clone())
            .unwrap_or_else(|| panic!("no run {what}"))
    };
    let compiled = doc("compile --json -d");
    let listing = compiled["listing"].as_array().unwrap();
    assert!(
        listing
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("C rms [")),
        "{compiled}"
    );
    assert!(!compiled.to_string().contains("\"short\""), "{compiled}");
    let tags = doc("tags --json customer-acme");
    assert_eq!(tags["fragment"], "customer-acme");
    assert!(
        tags["phase2"]
            .as_array()
            .unwrap()
            .contains(&json!("from-10.0.50.0/24-to-172.16.10.0/24")),
        "{tags}"
    );
    assert_eq!(tags["teardown"], Value::Null);
    let torn = doc("tags --json --teardown");
    assert!(!torn["teardown"].as_array().unwrap().is_empty(), "{torn}");
    let diff = doc("diff --json customer-acme");
    assert_eq!(
        diff["tunnels_added"],
        json!(["from-10.0.50.0/24-to-172.16.12.0/24"])
    );
    assert_eq!(
        diff["tunnels_removed"],
        json!(["from-10.0.50.0/24-to-172.16.11.0/24"])
    );
    assert_eq!(diff["apply"]["status"], "plan", "{diff}");
    assert!(
        diff["diff"].as_str().unwrap().contains("+acme_nets"),
        "{diff}"
    );
}
