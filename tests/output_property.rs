//! Every output format, driven with names, hosts and settings of arbitrary
//! bytes: lint as text, JSON, SARIF and GitHub annotations, and the review
//! of `diff --tree` as text, JSON and markdown.  Whatever the input, each
//! JSON document parses, the GitHub format holds nothing but ipsecmgr's own
//! annotations, a markdown table row keeps its cells, and no other line of
//! stdout or stderr is one a GitHub runner would read as a workflow command.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Output;

use proptest::prelude::*;

use common::{run_in, write_private};

/// What a runner reads as a workflow command (see hostile_output.rs).
fn forged(text: &str) -> Vec<&str> {
    text.split(['\n', '\r'])
        .filter(|l| l.trim_start().starts_with("::") || l.contains("##["))
        .collect()
}

/// One annotation, and nothing else: `::error` or `::warning`, the
/// properties ipsecmgr writes (no raw `:` or `,` in a value), a known code.
fn is_annotation(line: &str) -> bool {
    let Some(rest) = line
        .strip_prefix("::error ")
        .or_else(|| line.strip_prefix("::warning "))
    else {
        return false;
    };
    let Some((props, _data)) = rest.split_once("::") else {
        return false;
    };
    let fields: Vec<&str> = props.split(',').collect();
    fields.len() == 4
        && fields[0].starts_with("file=")
        && !fields[0].contains(':')
        && fields[1]
            .strip_prefix("line=")
            .is_some_and(|n| n.parse::<u32>().is_ok())
        && fields[2]
            .strip_prefix("col=")
            .is_some_and(|n| n.parse::<u32>().is_ok())
        && fields[3].strip_prefix("title=").is_some_and(|c| {
            c.len() == 4 && c.starts_with(['E', 'L']) && c[1..].bytes().all(|b| b.is_ascii_digit())
        })
        && !line.contains('\r')
}

/// A name for a file: any bytes but `/` and NUL (which no file name
/// holds) and the quote and backslash (which would end or escape the
/// include line's string), short enough for a file system.
fn file_name() -> impl Strategy<Value = Vec<u8>> {
    let special: &[&[u8]] = &[
        b"::error::forged",
        b"##[error]old",
        b"a\n::warning::x",
        b"\x7f\xc2\x85\xc2\x9b",
        b"`|<br>*_",
        b"\xff\xfe",
        b"\r::stop-commands::t",
        b" \t\xe3\x80\x80::notice::y",
    ];
    prop_oneof![
        proptest::sample::select(special).prop_map(|s| s.to_vec()),
        proptest::collection::vec(any::<u8>(), 1..24),
    ]
    .prop_map(|mut v| {
        v.retain(|b| !matches!(b, b'/' | 0 | b'"' | b'\\'));
        if v.is_empty() || v == b"." || v == b".." {
            v = b"x".to_vec();
        }
        v
    })
}

/// A string of any characters (hosts, settings values).
fn text() -> impl Strategy<Value = String> {
    let special: &[&str] = &[
        "::error::forged",
        "x\n::warning::y",
        "##[error]z",
        "\u{85}::a",
        "\u{9b}31m",
        "gw.example.net",
    ];
    prop_oneof![
        proptest::sample::select(special).prop_map(str::to_string),
        any::<String>(),
    ]
}

/// A tunnel to `peer` (a name of any bytes, quoted) from network `n`.
fn tunnel(n: u8, peer: &[u8], weak: bool) -> Vec<u8> {
    let group = if weak { "modp1024" } else { "modp2048" };
    let mut t = format!("ike esp from 10.0.{n}.0/24 to 10.{n}.0.0/16 peer \"").into_bytes();
    t.extend(quotable(peer));
    t.extend_from_slice(
        format!(
            "\" \\\n\tmain auth hmac-sha2-256 enc aes-256 group {group} \\\n\tquick enc aes-256-gcm group modp2048 psk \"psk-{n}-0123456789abcdef\"\n"
        )
        .as_bytes(),
    );
    t
}

/// A peer name as a quoted string can hold it.
fn quotable(s: &[u8]) -> Vec<u8> {
    s.iter()
        .copied()
        .filter(|b| !matches!(b, b'"' | b'\\' | b'\n' | 0))
        .collect()
}

#[derive(Debug)]
struct Case {
    names: Vec<Vec<u8>>,
    hosts: Vec<Vec<u8>>,
    hostname: String,
    fragment_dir: String,
    ignore: String,
    hostile_settings: bool,
    /// The settings file as these bytes, not TOML.
    raw_settings: Option<Vec<u8>>,
}

/// A checkout: ipsec.conf including a fragment per name, each with a
/// tunnel to one of the hosts (declared in the settings, or not).
fn checkout(dir: &Path, case: &Case, changed: bool) {
    fs::create_dir_all(dir.join("etc/ipsec.d")).unwrap();
    let mut conf = b"flow in from 10.0.0.0/16 to 10.0.0.1 type bypass\n".to_vec();
    for (i, name) in case.names.iter().enumerate() {
        // the old tree lacks the last fragment; the new one changes the first
        if !changed && i + 1 == case.names.len() && i > 0 {
            continue;
        }
        let mut rel = b"etc/ipsec.d/".to_vec();
        rel.extend_from_slice(name);
        rel.extend_from_slice(b".conf");
        let host = &case.hosts[i % case.hosts.len()];
        let weak = changed && i == 0;
        let path = dir.join(OsStr::from_bytes(&rel));
        fs::write(&path, tunnel(i as u8 + 1, host, weak)).unwrap();
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        conf.extend_from_slice(b"include \"/");
        conf.extend_from_slice(&rel);
        conf.extend_from_slice(b"\"\n");
    }
    fs::write(dir.join("etc/ipsec.conf"), conf).unwrap();
    let mut settings = toml::Table::new();
    let mut hosts = toml::Table::new();
    // the first host is declared, the others are not (L404 names them)
    hosts.insert(
        String::from_utf8_lossy(&quotable(&case.hosts[0])).into_owned(),
        toml::Value::Array(vec!["198.51.100.1".into()]),
    );
    settings.insert("hosts".into(), toml::Value::Table(hosts));
    if case.hostile_settings {
        settings.insert("hostname".into(), case.hostname.clone().into());
        settings.insert(
            "fragment_dir".into(),
            format!("/{}", case.fragment_dir).into(),
        );
        let mut lint = toml::Table::new();
        lint.insert(
            "ignore".into(),
            toml::Value::Array(vec![case.ignore.clone().into()]),
        );
        settings.insert("lint".into(), toml::Value::Table(lint));
    }
    let path = dir.join("etc/ipsecmgr.conf");
    match &case.raw_settings {
        Some(bytes) => fs::write(&path, bytes).unwrap(),
        None => write_private(&path, &toml::to_string(&settings).unwrap()),
    }
}

/// Checks one run's output in `format`; `Err` says what is wrong.
fn check(args: &[&str], format: &str, out: &Output) -> Result<(), String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = || format!("{args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    if out.status.code().is_none_or(|c| c > 2) {
        return Err(format!("exit {:?}: {}", out.status, said()));
    }
    if let Some(line) = forged(&stderr).first() {
        return Err(format!("stderr forges {line:?}: {}", said()));
    }
    match format {
        "json" | "sarif" => {
            if !stdout.is_empty() {
                serde_json::from_str::<serde_json::Value>(&stdout)
                    .map_err(|e| format!("not JSON ({e}): {}", said()))?;
            } else if out.status.code() == Some(0) {
                return Err(format!("no document: {}", said()));
            }
            if let Some(line) = forged(&stdout).first() {
                return Err(format!("stdout forges {line:?}: {}", said()));
            }
        }
        "github" => {
            if let Some(line) = stdout
                .split(['\n', '\r'])
                .find(|l| !l.is_empty() && !is_annotation(l))
            {
                return Err(format!(
                    "not one of ipsecmgr's annotations: {line:?}: {}",
                    said()
                ));
            }
        }
        "markdown" => {
            if let Some(line) = forged(&stdout).first() {
                return Err(format!("stdout forges {line:?}: {}", said()));
            }
            for row in stdout.lines().filter(|l| l.starts_with('|')) {
                let cells = row.replace("\\|", "").matches('|').count();
                if cells != 8 {
                    return Err(format!("a row of {cells} bars: {row:?}: {}", said()));
                }
            }
        }
        _ => {
            if let Some(line) = forged(&stdout).first() {
                return Err(format!("stdout forges {line:?}: {}", said()));
            }
        }
    }
    Ok(())
}

fn case() -> impl Strategy<Value = Case> {
    let host = prop_oneof![
        text().prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 1..16),
    ];
    (
        proptest::collection::vec(file_name(), 1..4),
        proptest::collection::vec(host, 1..3),
        (text(), text(), text()),
        proptest::bool::weighted(0.3),
        proptest::option::weighted(0.1, proptest::collection::vec(any::<u8>(), 0..64)),
    )
        .prop_map(
            |(
                mut names,
                hosts,
                (hostname, fragment_dir, ignore),
                hostile_settings,
                raw_settings,
            )| {
                names.sort();
                names.dedup();
                Case {
                    names,
                    hosts,
                    hostname,
                    fragment_dir,
                    ignore,
                    hostile_settings,
                    raw_settings,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(24),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_format_parses_and_forges_no_workflow_command(case in case()) {
        let tmp = tempfile::tempdir().unwrap();
        let old = tmp.path().join("old");
        let new = tmp.path().join("new");
        checkout(&old, &case, false);
        checkout(&new, &case, true);
        for format in ["text", "json", "sarif", "github"] {
            let args = ["--root", ".", "lint", "--offline", "--format", format];
            let out = run_in(&new, &args);
            if let Err(e) = check(&args, format, &out) {
                prop_assert!(false, "{}", e);
            }
        }
        for format in ["text", "json", "markdown"] {
            let args = ["diff", "--tree", "../old", ".", "--format", format];
            let out = run_in(&new, &args);
            if let Err(e) = check(&args, format, &out) {
                prop_assert!(false, "{}", e);
            }
        }
        let args = ["diff", "--tree", "../old", ".", "--json"];
        let out = run_in(&new, &args);
        if let Err(e) = check(&args, "json", &out) {
            prop_assert!(false, "{}", e);
        }
    }
}
