//! `ipsecmgr lint`: every example in conf.d-examples/bad yields its own code
//! and no other, with the output in its `expected.txt` (BLESS=1 rewrites
//! them); the example gateway lints clean; formats, options, exit codes.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ipsecmgr");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/conf.d-examples");

/// Copies a tree as a gateway would hold it: files 0600 (git keeps no
/// modes), except those named `readable-group*` (0640) and `readable*`
/// (0644); links as links.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in walkdir::WalkDir::new(from).min_depth(1) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        let ft = entry.path().symlink_metadata().unwrap().file_type();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path()).unwrap(), &dest).unwrap();
        } else if ft.is_dir() {
            fs::create_dir_all(&dest).unwrap();
        } else {
            fs::copy(entry.path(), &dest).unwrap();
            let name = rel.file_name().unwrap().to_string_lossy().into_owned();
            let mode = if name.starts_with("readable-group") {
                0o640
            } else if name.starts_with("readable") {
                0o644
            } else {
                0o600
            };
            fs::set_permissions(&dest, fs::Permissions::from_mode(mode)).unwrap();
        }
    }
}

fn lint_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["--root", "."])
        .arg("lint")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The codes of the findings in text output.
fn codes(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let start = l.find(": error[").or_else(|| l.find(": warning["))?;
            let rest = &l[start..];
            let open = rest.find('[')? + 1;
            let close = rest.find(']')?;
            Some(rest[open..close].to_string())
        })
        .collect()
}

fn bad_examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(Path::new(EXAMPLES).join("bad"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

#[test]
fn each_bad_example_yields_its_code_and_only_it() {
    let bless = std::env::var_os("BLESS").is_some();
    let examples = bad_examples();
    assert!(examples.len() >= 45, "examples missing: {}", examples.len());
    let mut failures = Vec::new();
    for ex in examples {
        let name = ex.file_name().unwrap().to_string_lossy().into_owned();
        let code = &name[..4];
        let tmp = tempfile::tempdir().unwrap();
        copy_tree(&ex, tmp.path());
        let extra = fs::read_to_string(ex.join("args")).unwrap_or_default();
        let args: Vec<&str> = extra.split_whitespace().collect();
        let out = lint_in(tmp.path(), &args);
        let got = text(&out);
        let found = codes(&got);
        for secret in ["shared-secret", "short-secret"] {
            if got.contains(secret) {
                failures.push(format!("{name}: a pre-shared key shows:\n{got}"));
            }
        }
        if found.is_empty() || found.iter().any(|c| c != code) {
            failures.push(format!("{name}: codes {found:?}\n{got}"));
        }
        let is_error = got.contains(&format!(": error[{code}]"));
        let want_status = if is_error { 1 } else { 0 };
        if out.status.code() != Some(want_status) {
            failures.push(format!(
                "{name}: exit {:?}, expected {want_status}",
                out.status.code()
            ));
        }
        let expected = ex.join("expected.txt");
        if bless {
            fs::write(&expected, &got).unwrap();
        } else if fs::read_to_string(&expected).unwrap_or_default() != got {
            failures.push(format!("{name}: output differs from expected.txt:\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_example_gateway_lints_clean() {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&Path::new(EXAMPLES).join("etc"), &tmp.path().join("etc"));
    let out = lint_in(tmp.path(), &["--deny-warnings"]);
    assert_eq!(text(&out), "0 errors, 0 warnings\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn formats_options_and_exit_codes() {
    let weak = Path::new(EXAMPLES).join("bad/L201-weak-crypto");
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&weak, tmp.path());
    // a warning: exit 0, or 1 with --deny-warnings
    assert_eq!(lint_in(tmp.path(), &[]).status.code(), Some(0));
    assert_eq!(
        lint_in(tmp.path(), &["--deny-warnings"]).status.code(),
        Some(1)
    );

    let json: serde_json::Value =
        serde_json::from_slice(&lint_in(tmp.path(), &["--format", "json"]).stdout).unwrap();
    assert_eq!(json["version"], 1);
    let json = &json["findings"];
    assert_eq!(json[0]["code"], "L201");
    assert_eq!(json[0]["severity"], "warning");
    assert_eq!(json[0]["file"], "./etc/ipsec.conf");
    assert_eq!(json[0]["line"], 1);
    assert!(json[0]["column"].as_u64().unwrap() >= 1);
    assert!(json[0]["help"].is_string());

    // annotations name the file from the repository root, without `./`
    let gh = text(&lint_in(tmp.path(), &["--format", "github"]));
    assert!(
        gh.starts_with("::warning file=etc/ipsec.conf,line=1,col=1,title=L201::weak or deprecated transform modp1024"),
        "{gh}"
    );
    let absolute = Command::new(BIN)
        .args(["--root", ".", "lint", "--format", "github"])
        .arg(tmp.path().join("etc/ipsec.conf"))
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(
        text(&absolute).starts_with("::warning file=etc/ipsec.conf,line=1,"),
        "{}",
        text(&absolute)
    );

    // an error: exit 1
    let err = Path::new(EXAMPLES).join("bad/E043-no-peer");
    let tmp2 = tempfile::tempdir().unwrap();
    copy_tree(&err, tmp2.path());
    assert_eq!(lint_in(tmp2.path(), &[]).status.code(), Some(1));

    // could not run: exit 2
    let out = Command::new(BIN)
        .args(["--root", "/nonexistent/root", "lint"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN)
        .args(["lint", "/nonexistent/ipsec.conf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN)
        .args(["lint", "--format", "yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn secrets_never_show_in_any_format() {
    let ex = Path::new(EXAMPLES).join("bad/L203-literal-psk");
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&ex, tmp.path());
    for format in ["text", "json", "github"] {
        let out = text(&lint_in(tmp.path(), &["--check-modes", "--format", format]));
        assert!(out.contains("L203"), "{out}");
        assert!(
            !out.contains("a-long-enough-shared-secret"),
            "{format}: {out}"
        );
    }
}

#[test]
fn on_a_live_system_file_modes_are_errors() {
    // no --root: the gateway's own files
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("ipsec.conf"), "include \"readable.conf\"\n").unwrap();
    fs::set_permissions(
        tmp.path().join("ipsec.conf"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fs::write(
        tmp.path().join("readable.conf"),
        "flow esp from 10.0.0.0/24 to 10.1.0.0/24 peer 198.51.100.1\n",
    )
    .unwrap();
    fs::set_permissions(
        tmp.path().join("readable.conf"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["-c", "/dev/null", "lint", "ipsec.conf"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let got = text(&out);
    assert!(got.contains("\nreadable.conf:1:1: error[L301]:"), "{got}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_directory_is_linted_file_by_file_and_together() {
    let tmp = tempfile::tempdir().unwrap();
    let t = "ike esp from 10.0.1.0/24 to 10.1.0.0/16 peer 198.51.100.1 psk \"a-long-enough-shared-secret\"\n";
    let got = lint_private_files(tmp.path(), &[("a.conf", t.into()), ("b.conf", t.into())]);
    assert_eq!(codes(&got), vec!["L102"], "{got}");
    assert!(got.contains("./b.conf:1:1: error[L102]: flow out from 10.0.1.0/24 to 10.1.0.0/16 is also in ./a.conf:1"), "{got}");
}

/// Writes `files` (mode 0600) into `dir` and lints the directory with no
/// settings; the text output.
fn lint_private_files(dir: &Path, files: &[(&str, String)]) -> String {
    for (name, text) in files {
        fs::write(dir.join(name), text).unwrap();
        fs::set_permissions(dir.join(name), fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = Command::new(BIN)
        .args(["-c", "/dev/null", "lint", "."])
        .current_dir(dir)
        .output()
        .unwrap();
    text(&out)
}

/// Findings as (file name, code, message), from text output.
fn named_findings(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .filter_map(|l| {
            let (place, rest) = l.split_once(": ")?;
            let (code, message) = rest.split_once("]: ")?;
            let code = code.rsplit_once('[')?.1;
            let file = Path::new(place.split(':').next()?).file_name()?;
            Some((
                file.to_string_lossy().into_owned(),
                code.into(),
                message.into(),
            ))
        })
        .collect()
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

#[test]
fn links_fifos_and_link_loops_among_fragments_are_named_not_passed_over() {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&Path::new(EXAMPLES).join("etc"), &tmp.path().join("etc"));
    let frag = tmp.path().join("etc/ipsec.d");
    mkfifo(&frag.join("odd.conf"));
    std::os::unix::fs::symlink("loop.conf", frag.join("loop.conf")).unwrap();
    // a second name for an included file is not an orphan
    std::os::unix::fs::symlink("customer-acme.conf", frag.join("alias.conf")).unwrap();
    fs::write(tmp.path().join("spare"), "").unwrap();
    std::os::unix::fs::symlink("../../spare", frag.join("spare.conf")).unwrap();
    // one that is included but cannot be read is reported at the include
    mkfifo(&frag.join("piped.conf"));
    let conf = tmp.path().join("etc/ipsec.conf");
    let mut text_of_conf = fs::read_to_string(&conf).unwrap();
    text_of_conf.push_str("include \"/etc/ipsec.d/piped.conf\"\n");
    fs::write(&conf, text_of_conf).unwrap();
    let out = lint_in(tmp.path(), &[]);
    let got = text(&out);
    let mut found = named_findings(&got);
    found.sort();
    let want = [
        ("ipsec.conf", "E003", "is a FIFO, not a regular file"),
        ("loop.conf", "L402", "cannot be: "),
        (
            "odd.conf",
            "L402",
            "cannot be: is a FIFO, not a regular file",
        ),
        ("spare.conf", "L402", "not included by "),
    ];
    assert_eq!(found.len(), want.len(), "{got}");
    for ((file, code, message), (wfile, wcode, wpart)) in found.iter().zip(want) {
        assert_eq!((file.as_str(), code.as_str()), (wfile, wcode), "{got}");
        assert!(message.contains(wpart), "{got}");
    }
    assert!(!found[3].2.contains("cannot be"), "{got}");
    assert_eq!(out.status.code(), Some(1), "{got}");

    // a directory of files: the link is linted through, the rest is named
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = "ike esp from 10.0.1.0/24 to 10.1.0.0/16 peer 198.51.100.1 psk \"a-long-enough-shared-secret\"\n";
    fs::write(d.join("a.conf"), t).unwrap();
    fs::write(d.join("real"), t).unwrap();
    for name in ["a.conf", "real"] {
        fs::set_permissions(d.join(name), fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::os::unix::fs::symlink("real", d.join("b.conf")).unwrap();
    std::os::unix::fs::symlink("loop.conf", d.join("loop.conf")).unwrap();
    std::os::unix::fs::symlink("missing", d.join("gone.conf")).unwrap();
    mkfifo(&d.join("odd.conf"));
    let out = Command::new(BIN)
        .args(["-c", "/dev/null", "lint", "."])
        .current_dir(d)
        .output()
        .unwrap();
    let got = text(&out);
    let mut found: Vec<(String, String)> = named_findings(&got)
        .into_iter()
        .map(|(f, c, _)| (f, c))
        .collect();
    found.sort();
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        found,
        pairs(&[
            ("b.conf", "L102"),
            ("gone.conf", "E001"),
            ("loop.conf", "E001"),
            ("odd.conf", "E001"),
        ]),
        "{got}"
    );
    assert!(got.contains("is a FIFO, not a regular file"), "{got}");
    assert_eq!(out.status.code(), Some(1), "{got}");
}

#[test]
fn diff_tree_reviews_a_change_by_tunnel() {
    let tmp = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
    copy_tree(&Path::new(EXAMPLES).join("etc"), &old.join("etc"));
    copy_tree(&Path::new(EXAMPLES).join("etc"), &new.join("etc"));
    let acme = new.join("etc/ipsec.d/customer-acme.conf");
    let text_acme = fs::read_to_string(&acme)
        .unwrap()
        .replace("172.16.11.0/24", "172.16.12.0/24");
    fs::write(&acme, text_acme).unwrap();
    let conf = new.join("etc/ipsec.conf");
    let c = fs::read_to_string(&conf).unwrap().replace(
        "include \"/etc/ipsec.d/customer-initech.conf\"\n",
        "include \"/etc/ipsec.d/customer-new.conf\"\n",
    );
    fs::write(&conf, c).unwrap();
    fs::remove_file(new.join("etc/ipsec.d/customer-initech.conf")).unwrap();
    fs::write(
        new.join("etc/ipsec.d/customer-new.conf"),
        "ike esp from 10.0.70.0/24 to 10.70.0.0/16 peer 198.51.100.70 psk \"new-customer-secret-0123\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["diff", "--tree"])
        .arg(&old)
        .arg(&new)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text(&out),
        "changed customer-acme: ipsecmgr apply customer-acme\n\
         \x20 added    from-10.0.50.0/24-to-172.16.12.0/24\n\
         \x20 removed  from-10.0.50.0/24-to-172.16.11.0/24\n\
         added customer-new: ipsecmgr add customer-new\n\
         \x20 added    from-10.0.70.0/24-to-10.70.0.0/16\n\
         removed customer-initech: ipsecmgr rm customer-initech\n\
         \x20 removed  from-10.0.60.0/24-to-10.90.0.0/16\n"
    );
    let out = Command::new(BIN)
        .args(["diff", "--json", "--tree"])
        .arg(&old)
        .arg(&new)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], 1);
    let v = &v["changes"];
    assert_eq!(v[0]["name"], "customer-acme");
    assert_eq!(v[0]["status"], "changed");
    assert_eq!(v[1]["status"], "added");
    assert_eq!(
        v[2]["tunnels_removed"][0],
        "from-10.0.60.0/24-to-10.90.0.0/16"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("secret"));
}

#[test]
fn the_manual_lists_every_code() {
    let man = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/ipsecmgr.8")).unwrap();
    for kind in ipsecmgr::diag::Kind::ALL {
        let code = kind.code();
        assert!(
            man.contains(&format!(".It {code}\n")),
            "{code} is not in man/ipsecmgr.8"
        );
    }
}

/// The example gateway as a fresh `git clone` leaves it: every file 0644.
fn checkout_with_open_modes(to: &Path) {
    copy_tree(&Path::new(EXAMPLES).join("etc"), &to.join("etc"));
    for entry in walkdir::WalkDir::new(to.join("etc")) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

#[test]
fn under_root_file_modes_are_checked_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    checkout_with_open_modes(tmp.path());
    let out = lint_in(tmp.path(), &["--offline", "--deny-warnings"]);
    assert_eq!(text(&out), "0 errors, 0 warnings\n");
    assert_eq!(out.status.code(), Some(0));
    let out = lint_in(tmp.path(), &["--offline", "--check-modes"]);
    let mut found = codes(&text(&out));
    found.sort();
    found.dedup();
    assert_eq!(found, ["L203", "L301"], "{}", text(&out));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn codes_are_selected_and_ignored_from_the_command_line_and_settings() {
    let tmp = tempfile::tempdir().unwrap();
    checkout_with_open_modes(tmp.path());
    let acme = tmp.path().join("etc/ipsec.d/customer-acme.conf");
    let weak = fs::read_to_string(&acme)
        .unwrap()
        .replace("psk \"acme-4f9a1c7e2b8d5036a1e9\"", "psk \"short\"");
    fs::write(&acme, weak.replace("enc aes-128 group", "enc 3des group")).unwrap();
    let all = codes(&text(&lint_in(tmp.path(), &["--offline", "--check-modes"])));
    for code in ["L201", "L202", "L203", "L301"] {
        assert!(all.iter().any(|c| c == code), "{code}: {all:?}");
    }
    let only = |args: &[&str]| {
        let mut a = vec!["--offline", "--check-modes"];
        a.extend_from_slice(args);
        let mut c = codes(&text(&lint_in(tmp.path(), &a)));
        c.sort();
        c.dedup();
        c
    };
    assert_eq!(only(&["--select", "L201,L202"]), ["L201", "L202"]);
    assert_eq!(only(&["--ignore", "L301,L203"]), ["L201", "L202"]);
    assert_eq!(
        only(&["--select", "L201", "--select", "L203", "--ignore", "L203"]),
        ["L201"]
    );
    // the [lint] table of the settings; --select replaces its select,
    // --ignore adds to its ignore
    let settings = tmp.path().join("etc/ipsecmgr.conf");
    let mut conf = fs::read_to_string(&settings).unwrap();
    conf.push_str("\n[lint]\nselect = [\"L201\", \"L202\", \"L203\"]\nignore = [\"L203\"]\n");
    fs::write(&settings, &conf).unwrap();
    assert_eq!(only(&[]), ["L201", "L202"]);
    assert_eq!(only(&["--ignore", "L202"]), ["L201"]);
    assert_eq!(only(&["--select", "L301"]), ["L301"]);

    // unknown codes, and compiler errors, are refused by name
    let out = lint_in(tmp.path(), &["--ignore", "L201,L999,E031"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--ignore: not a lint code: L999, E031"),
        "{err}"
    );
    fs::write(
        &settings,
        conf.replace("ignore = [\"L203\"]", "ignore = [\"L2O3\"]"),
    )
    .unwrap();
    let out = lint_in(tmp.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ipsecmgr.conf: lint.ignore: not a lint code: L2O3"),
        "{err}"
    );
}

#[test]
fn every_help_line_has_one_indent_and_counts_are_worded() {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&Path::new(EXAMPLES).join("etc"), &tmp.path().join("etc"));
    // a finding without a source line (L402), one with (L201) far down a
    // file, so that the line number is wide
    fs::write(tmp.path().join("etc/ipsec.d/forgotten.conf"), "").unwrap();
    let acme = tmp.path().join("etc/ipsec.d/customer-acme.conf");
    let body = fs::read_to_string(&acme).unwrap();
    let padded = "#\n".repeat(120) + &body.replace("enc aes-128 group", "enc 3des group");
    fs::write(&acme, padded).unwrap();
    let got = text(&lint_in(tmp.path(), &["--offline"]));
    let helps: Vec<&str> = got.lines().filter(|l| l.contains("= help:")).collect();
    assert_eq!(helps.len(), 2, "{got}");
    assert!(helps.iter().all(|l| l.starts_with("  = help: ")), "{got}");
    assert!(got.ends_with("\n0 errors, 2 warnings\n"), "{got}");
    fs::remove_file(tmp.path().join("etc/ipsec.d/forgotten.conf")).unwrap();
    let got = text(&lint_in(tmp.path(), &["--offline"]));
    assert!(got.ends_with("\n0 errors, 1 warning\n"), "{got}");
}

#[test]
fn findings_come_in_file_and_line_order() {
    // findings of several checks in several files, written so that the
    // checks would find them out of order: a later file's cross-fragment
    // finding, then an earlier file's finding of its own at a later line
    let tmp = tempfile::tempdir().unwrap();
    let rule = |net: u8, peer: u8, key: &str| {
        format!(
            "ike esp from 10.0.{net}.0/24 to 10.1.0.0/16 peer 198.51.100.{peer} psk \"{key}\"\n"
        )
    };
    let files = [
        (
            "a.conf",
            rule(1, 1, "a-long-enough-shared-secret") + &rule(2, 2, "short"),
        ),
        (
            "b.conf",
            rule(1, 3, "another-long-enough-secret") + &rule(4, 4, "short"),
        ),
        (
            "c.conf",
            rule(5, 5, "short") + &rule(1, 6, "third-long-enough-secret"),
        ),
    ];
    let got = lint_private_files(tmp.path(), &files);
    let places: Vec<(String, u32)> = got
        .lines()
        .filter(|l| l.contains(": error[") || l.contains(": warning["))
        .map(|l| {
            let mut parts = l.split(':');
            let file = parts.next().unwrap().to_string();
            (file, parts.next().unwrap().parse().unwrap())
        })
        .collect();
    assert!(
        places.len() >= 4,
        "too few findings to judge the order:\n{got}"
    );
    assert!(places.iter().any(|(f, _)| f.ends_with("a.conf")), "{got}");
    assert!(places.iter().any(|(f, _)| f.ends_with("c.conf")), "{got}");
    let mut sorted = places.clone();
    sorted.sort();
    assert_eq!(places, sorted, "{got}");
}
