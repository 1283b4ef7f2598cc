//! lint against trees made to flood it: many files whose flows all clash,
//! allow comments that would silence a finding about another file, and
//! selection lists of many thousand entries.  Output and time must stay in
//! proportion to the input, and a finding about two files is the business
//! of both.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ipsecmgr");

fn write_private(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// A gateway checkout: ipsec.conf including each fragment, and settings.
fn checkout(dir: &Path, fragments: &[(String, String)], settings: &str) {
    fs::create_dir_all(dir.join("etc/ipsec.d")).unwrap();
    let mut conf = String::new();
    for (name, text) in fragments {
        let _ = writeln!(conf, "include \"/etc/ipsec.d/{name}.conf\"");
        write_private(&dir.join(format!("etc/ipsec.d/{name}.conf")), text);
    }
    write_private(&dir.join("etc/ipsec.conf"), &conf);
    write_private(&dir.join("etc/ipsecmgr.conf"), settings);
}

fn lint(dir: &Path, args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(BIN)
        .args(["--root", ".", "lint", "--offline"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (out, start.elapsed())
}

/// The end of a long output, for a message.
fn tail(text: &str) -> &str {
    let mut from = text.len().saturating_sub(3000);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    &text[from..]
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Findings of each code in text output.
fn count(out: &str, code: &str) -> usize {
    out.lines()
        .filter(|l| l.contains(&format!("[{code}]: ")))
        .count()
}

/// Flow `i` of a set whose every two overlap: sources and destinations
/// are taken from two chains of nested networks.
fn nested_flow(i: usize) -> String {
    let src = 8 + (i % 25);
    let dst = 12 + (i / 25 % 21);
    format!("flow esp from 10.0.0.0/{src} to 172.16.0.0/{dst} peer 198.51.100.1\n")
}

#[test]
fn six_hundred_files_of_clashing_flows_make_a_bounded_report() {
    let tmp = tempfile::tempdir().unwrap();
    let files: Vec<(String, String)> = (0..600)
        .map(|i| (format!("f{i:03}"), nested_flow(i)))
        .collect();
    checkout(tmp.path(), &files, "");
    let (out, took) = lint(tmp.path(), &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{}", tail(&text));
    // every file but the first clashes with an earlier one: each is told,
    // in a report that grows with the files, not with their pairs
    assert!(text.len() < 4 << 20, "{} bytes of output", text.len());
    let shown = count(&text, "L102") + count(&text, "L103");
    assert!(shown <= 3000, "{shown} findings shown");
    assert!(
        text.contains("not shown (at most"),
        "no word of what was left out:\n{}",
        tail(&text)
    );
    assert!(took < Duration::from_secs(60), "{took:?}");
    // JSON holds the same findings and notes
    let (out, _) = lint(tmp.path(), &["--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = doc["findings"].as_array().unwrap().len();
    assert!(n <= 3100, "{n} findings in JSON");
}

#[test]
fn thousands_of_files_with_one_identical_flow_stay_linear() {
    let tmp = tempfile::tempdir().unwrap();
    let flow = "flow esp from 10.0.0.0/24 to 172.16.0.0/24 peer 198.51.100.1\n".to_string();
    let small: Vec<(String, String)> = (0..400)
        .map(|i| (format!("f{i:04}"), flow.clone()))
        .collect();
    checkout(&tmp.path().join("small"), &small, "");
    let large: Vec<(String, String)> = (0..1600)
        .map(|i| (format!("f{i:04}"), flow.clone()))
        .collect();
    checkout(&tmp.path().join("large"), &large, "");
    let (small_out, small_took) = lint(&tmp.path().join("small"), &[]);
    let (large_out, large_took) = lint(&tmp.path().join("large"), &[]);
    let (small_text, large_text) = (stdout(&small_out), stdout(&large_out));
    // four times the files: not sixteen times the output or the time
    assert!(
        large_text.len() < 5 * small_text.len() + (64 << 10),
        "{} bytes for 400 files, {} for 1600",
        small_text.len(),
        large_text.len()
    );
    assert!(
        large_took < small_took * 8 + Duration::from_secs(2),
        "{small_took:?} for 400 files, {large_took:?} for 1600"
    );
    assert!(count(&large_text, "L102") >= 100, "{}", tail(&large_text));
}

/// Two files that set up one phase 1 peer differently (L104), and that
/// hold the same flow (L102); `allow_a`, `allow_b`: what each file's rule
/// ends with.
fn clashing_pair(dir: &Path, allow_a: &str, allow_b: &str) {
    let rule = |net: u8, group: &str, allow: &str| {
        format!(
            "ike esp from 10.0.{net}.0/24 to 10.1.0.0/16 peer 198.51.100.1 \\\n\tmain group {group} psk \"a-long-enough-shared-secret\"{allow}\n"
        )
    };
    checkout(
        dir,
        &[
            (
                "a".into(),
                rule(1, "modp2048", allow_a) + &rule(2, "modp2048", ""),
            ),
            ("b".into(), rule(1, "modp3072", allow_b)),
        ],
        "",
    );
}

#[test]
fn a_finding_about_two_files_is_silenced_only_where_both_allow_it() {
    let tmp = tempfile::tempdir().unwrap();
    let allow = "    # ipsecmgr: allow L102,L104";
    // the newcomer alone allows it: a clash with a.conf stays reported
    let dir = tmp.path().join("newcomer");
    clashing_pair(&dir, "", allow);
    let got = stdout(&lint(&dir, &[]).0);
    assert_eq!(count(&got, "L104"), 1, "{got}");
    assert_eq!(count(&got, "L102"), 1, "{got}");
    assert!(got.contains("b.conf:1:1: error[L104]"), "{got}");
    // the first file alone allows it: reported too
    let dir = tmp.path().join("first");
    clashing_pair(&dir, allow, "");
    let got = stdout(&lint(&dir, &[]).0);
    assert_eq!(count(&got, "L104") + count(&got, "L102"), 2, "{got}");
    // both allow it: silenced
    let dir = tmp.path().join("both");
    clashing_pair(&dir, allow, allow);
    let (out, _) = lint(&dir, &[]);
    let got = stdout(&out);
    assert_eq!(count(&got, "L104") + count(&got, "L102"), 0, "{got}");
    assert_eq!(out.status.code(), Some(0), "{got}");
}

#[test]
fn huge_selection_lists_cost_what_a_short_one_does() {
    let tmp = tempfile::tempdir().unwrap();
    let weak = |i: usize| {
        format!(
            "ike esp from 10.{}.{}.0/24 to 172.16.0.0/12 peer 198.51.100.1 main enc 3des psk \"a-long-enough-shared-secret\"\n",
            i / 256,
            i % 256
        )
    };
    let files: Vec<(String, String)> = (0..50)
        .map(|f| {
            let text: String = (0..40).map(|r| weak(f * 40 + r)).collect();
            (format!("f{f:02}"), text)
        })
        .collect();
    // (a settings file may have 1 MiB: 90000 entries of one list fit)
    let short = "[lint]\nignore = [\"L402\"]\n";
    let mut long = String::from("[lint]\nignore = [");
    for _ in 0..90_000 {
        long.push_str("\"L402\",");
    }
    long.push_str("]\n");
    checkout(&tmp.path().join("short"), &files, short);
    checkout(&tmp.path().join("long"), &files, &long);
    let (short_out, short_took) = lint(&tmp.path().join("short"), &[]);
    let (long_out, long_took) = lint(&tmp.path().join("long"), &[]);
    let (short_text, long_text) = (stdout(&short_out), stdout(&long_out));
    assert!(count(&short_text, "L201") > 0, "{}", tail(&short_text));
    assert!(
        short_text == long_text,
        "{}\n---\n{}{}",
        tail(&short_text),
        tail(&long_text),
        String::from_utf8_lossy(&long_out.stderr)
    );
    assert!(
        long_took < short_took * 3 + Duration::from_secs(1),
        "{short_took:?} with a short list, {long_took:?} with 90000 entries"
    );
}
