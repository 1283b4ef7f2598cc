//! Hostile output: what file names, settings and configurations put into
//! ipsecmgr's output.  ipsecmgr runs in CI on pull requests, where a GitHub
//! runner reads every line of the log for workflow commands (`::error`,
//! `::stop-commands`, and the older `##[error]` anywhere in a line): no
//! input may forge one, on stdout or stderr, in any mode.  The machine
//! formats (JSON, SARIF) must stay documents a JSON parser reads, holding
//! the names as they are; the markdown review must keep its commands.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::{HEAD, both, run_in, tunnel, write_private};

/// The lines of `text` a GitHub runner would take for a workflow command:
/// one that starts with `::` once its leading blanks are trimmed (as the
/// runner's ActionCommand.TryParseV2 trims them; it splits lines at CR
/// too), or that holds `##[` anywhere (its older TryParse).
fn forged(text: &str) -> Vec<&str> {
    text.split(['\n', '\r'])
        .filter(|l| l.trim_start().starts_with("::") || l.contains("##["))
        .collect()
}

/// A gateway checkout in `dir`: ipsec.conf including `fragments`.
fn checkout(dir: &Path, fragments: &[(&str, String)], settings: &str) {
    fs::create_dir_all(dir.join("etc/ipsec.d")).unwrap();
    let mut conf = HEAD.to_string();
    for (name, text) in fragments {
        conf.push_str(&format!("include \"/etc/ipsec.d/{name}.conf\"\n"));
        write_private(&dir.join(format!("etc/ipsec.d/{name}.conf")), text);
    }
    write_private(&dir.join("etc/ipsec.conf"), &conf);
    write_private(&dir.join("etc/ipsecmgr.conf"), settings);
}

#[test]
fn settings_text_reaches_stderr_escaped_in_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    checkout(root, &[("a", tunnel(1, "a-secret-0123456789abcdef"))], "");
    let hostile = [
        "ipsec_conf = \"/x\\n::warning::forged\"\n",
        "fragment_dir = \"/etc/ipsec.d\\n::error::forged\"\n",
        "state_dir = \"/var/db/\\n::stop-commands::x\"\n",
        "hostname = \"gw\\n::error::forged\"\n",
        "[hosts]\n\"h\\n::error::forged\" = [\"192.0.2.1\"]\n",
        "[hosts]\nh = [\"192.0.2.1\\n::error::forged\"]\n",
        "[interfaces]\n\"em0\\n::error::forged\" = [\"192.0.2.1\"]\n",
        "\"k\\n::error::forged\" = 1\n",
        "[lint]\nignore = [\"L401\\n::error::forged\"]\n",
    ];
    for settings in hostile {
        write_private(&root.join("etc/ipsecmgr.conf"), settings);
        for args in [
            &["--root", ".", "lint"][..],
            &["--root", ".", "ls"],
            &["--root", ".", "compile"],
            &["--root", ".", "status"],
            &["--root", ".", "rm", "-n", "a"],
        ] {
            let out = run_in(root, args);
            let text = both(&out);
            assert!(
                forged(&text).is_empty(),
                "{settings}{args:?} forges a workflow command:\n{text}"
            );
            // the settings are refused, naming the file and the key
            assert_eq!(out.status.code(), Some(2), "{settings}{args:?}:\n{text}");
            assert!(
                text.contains("ipsecmgr.conf"),
                "{settings}{args:?}:\n{text}"
            );
            assert!(text.contains("\\n::"), "{settings}{args:?}:\n{text}");
        }
    }
}

#[test]
fn lint_text_escapes_file_names() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    checkout(root, &[("a", tunnel(1, "a-secret-0123456789abcdef"))], "");
    // an orphan fragment whose name holds whole lines of the attacker's
    write_private(
        &root.join("etc/ipsec.d/x\n::error::FORGED\n##[error]old\r::warning::cr.conf"),
        &tunnel(2, "b-secret-0123456789abcdef"),
    );
    // and one whose name starts a line of the listing
    fs::create_dir_all(root.join("::error::forged")).unwrap();
    write_private(
        &root.join("::error::forged/x.conf"),
        &tunnel(3, "c-secret-0123456789abcdef"),
    );
    for args in [
        &["--root", ".", "lint"][..],
        &["--root", ".", "lint", "--offline"],
        &["lint", "::error::forged"],
        &["lint", "::error::forged/x.conf"],
        &["--root", ".", "lint", "etc"],
    ] {
        let out = run_in(root, args);
        let text = both(&out);
        assert!(
            forged(&text).is_empty(),
            "{args:?} forges a workflow command:\n{text}"
        );
    }
    let out = run_in(root, &["--root", ".", "lint"]);
    let text = both(&out);
    assert!(
        text.contains(
            "x\\n::error::FORGED\\n##\\x5berror]old\\r::warning::cr.conf:1:1: warning[L402]"
        ),
        "{text}"
    );
}

/// A name with DEL and C1 controls (U+0085 is a newline to some readers,
/// U+009B a terminal's CSI) and the older form of a workflow command.
const HOSTILE_NAME: &[u8] = b"d\x7fel\xc2\x85nel\xc2\x9bcsi##[error]x";

fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match (b[i], s.get(i + 1..i + 3)) {
            (b'%', Some(hex)) if u8::from_str_radix(hex, 16).is_ok() => {
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every string in a JSON document.
fn strings(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a.iter().flat_map(strings).collect(),
        serde_json::Value::Object(o) => o.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn machine_formats_are_json_with_the_names_as_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    let new = tmp.path().join("new");
    checkout(&old, &[("a", tunnel(1, "a-secret-0123456789abcdef"))], "");
    checkout(&new, &[("a", tunnel(1, "a-secret-0123456789abcdef"))], "");
    // the new tree includes a fragment with the hostile name, which also
    // uses a weak group (a finding about that file)
    let mut file = b"etc/ipsec.d/".to_vec();
    file.extend_from_slice(HOSTILE_NAME);
    file.extend_from_slice(b".conf");
    let path = new.join(OsStr::from_bytes(&file));
    write_private(
        &path,
        &tunnel(2, "b-secret-0123456789abcdef").replace("modp2048", "modp1024"),
    );
    let mut conf = fs::read(new.join("etc/ipsec.conf")).unwrap();
    conf.extend_from_slice(b"include \"/");
    conf.extend_from_slice(&file);
    conf.extend_from_slice(b"\"\n");
    fs::write(new.join("etc/ipsec.conf"), conf).unwrap();
    let shown = String::from_utf8_lossy(HOSTILE_NAME).into_owned();
    for (args, dir) in [
        (&["--root", ".", "lint", "--format", "json"][..], &new),
        (&["--root", ".", "lint", "--format", "sarif"], &new),
        (&["diff", "--tree", "../old", ".", "--json"], &new),
        (&["diff", "--tree", "../old", ".", "--format", "json"], &new),
    ] {
        let out = run_in(dir, args);
        let text = String::from_utf8_lossy(&out.stdout);
        let doc: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}):\n{text}"));
        // the name, as it is, in some string of the document (SARIF has
        // URIs: percent-encoded)
        assert!(
            strings(&doc)
                .iter()
                .any(|s| s.contains(&shown) || percent_decoded(s).contains(&shown)),
            "{args:?}: {doc}"
        );
        assert!(forged(&both(&out)).is_empty(), "{args:?}:\n{}", both(&out));
        // no DEL or C1 control reaches the terminal as such
        assert!(
            !text.contains(['\u{7f}', '\u{85}', '\u{9b}']),
            "{args:?}:\n{text}"
        );
    }
}

#[test]
fn the_markdown_review_keeps_its_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    let new = tmp.path().join("new");
    checkout(&old, &[("a", tunnel(1, "a-secret-0123456789abcdef"))], "");
    checkout(
        &new,
        &[
            ("a", tunnel(1, "a-secret-0123456789abcdef")),
            ("b`|c", tunnel(2, "b-secret-0123456789abcdef")),
        ],
        "",
    );
    // a rule of ipsec.conf itself changes: no ipsecmgr command, by hand
    let conf = fs::read_to_string(new.join("etc/ipsec.conf")).unwrap();
    fs::write(
        new.join("etc/ipsec.conf"),
        conf.replace("10.0.0.1 type bypass", "10.0.0.2 type bypass"),
    )
    .unwrap();
    let out = run_in(
        &new,
        &["diff", "--tree", "../old", ".", "--format", "markdown"],
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{md}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!md.contains('\u{2035}') && !md.contains('\u{2223}'), "{md}");
    // the hand-run commands are code spans of their own
    assert!(md.contains("`ipsecctl -d -f OLD`"), "{md}");
    assert!(md.contains("`ipsecctl -f NEW`"), "{md}");
    assert!(md.contains("(not `ipsecctl -f /etc/ipsec.conf`:"), "{md}");
    // a name holding a backtick and a pipe is one code span, in one cell:
    // fenced by two backticks, the pipe escaped as GitHub's tables want
    assert!(md.contains("| ``b`\\|c`` | added |"), "{md}");
    assert!(md.contains("``ipsecmgr add b`\\|c``"), "{md}");
    for line in md.lines().filter(|l| l.starts_with("| `")) {
        let cells = line.replace("\\|", "").matches('|').count();
        assert_eq!(cells, 8, "{line}");
    }
}

#[test]
fn usage_errors_quote_arguments_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    checkout(
        tmp.path(),
        &[("a", tunnel(1, "a-secret-0123456789abcdef"))],
        "",
    );
    for args in [
        &["x\n::error::forged"][..],
        &["lint", "--bogus\n::error::forged"],
        &["lint", "--format", "x\n::warning::forged"],
        &["--root", ".", "rm", "-n", "a\n::error::forged"],
    ] {
        let out = run_in(tmp.path(), args);
        let text = both(&out);
        assert!(forged(&text).is_empty(), "{args:?}:\n{text}");
        assert!(text.contains("\\n::"), "{args:?}:\n{text}");
        assert_ne!(out.status.code(), Some(0), "{args:?}:\n{text}");
    }
}
