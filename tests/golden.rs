//! Golden tests: each `tests/cases/NAME.case` is a tree of files and the
//! command to run on it; `NAME.expected` holds the exit status, stdout and
//! stderr the real binary must produce.  `BLESS=1 cargo test --test golden`
//! rewrites the expected files from what the binary does.
//!
//! Case format: an optional first line `# args: ARGS` (default:
//! `-c ipsecmgr.conf compile -k ipsec.conf`), then files, each starting
//! with a marker line `==> PATH <==` (text before the first marker is
//! `ipsec.conf`).  After the marker, `dir` makes PATH a directory,
//! `symlink TARGET` a symbolic link, `fifo` a named pipe, `mode NNN`
//! sets the file's mode (default 600), and `nonl` drops the file's final
//! newline.  The command runs in the tree's
//! directory with standard input from the file `stdin`, if there is one.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Entry {
    path: String,
    kind: String,
    text: String,
}

fn parse_case(text: &str) -> (Vec<String>, Vec<Entry>) {
    let mut lines = text.lines().peekable();
    let mut args = "-c ipsecmgr.conf compile -k ipsec.conf".to_string();
    if let Some(first) = lines.peek()
        && let Some(a) = first.strip_prefix("# args:")
    {
        args = a.trim().to_string();
        lines.next();
    }
    let mut entries = vec![Entry {
        path: "ipsec.conf".into(),
        kind: String::new(),
        text: String::new(),
    }];
    for line in lines {
        if let Some(rest) = line.strip_prefix("==> ")
            && let Some((path, kind)) = rest.split_once(" <==")
        {
            entries.push(Entry {
                path: path.to_string(),
                kind: kind.trim().to_string(),
                text: String::new(),
            });
            continue;
        }
        let e = entries.last_mut().expect("there is always an entry");
        e.text.push_str(line);
        e.text.push('\n');
    }
    // the implicit ipsec.conf is dropped when the case names its files
    if entries.len() > 1 && entries[0].text.trim().is_empty() {
        entries.remove(0);
    }
    let args = args.split_whitespace().map(str::to_string).collect();
    (args, entries)
}

fn build_tree(dir: &Path, entries: &[Entry]) {
    for e in entries {
        let path = dir.join(&e.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        let mut words = e.kind.split_whitespace();
        match words.next() {
            Some("dir") => fs::create_dir_all(&path).unwrap(),
            Some("symlink") => std::os::unix::fs::symlink(words.next().unwrap(), &path).unwrap(),
            Some("fifo") => {
                nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap()
            }
            Some("mode") => {
                let mode = u32::from_str_radix(words.next().unwrap(), 8).unwrap();
                fs::write(&path, &e.text).unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            }
            kind => {
                let text = match kind {
                    Some("nonl") => e.text.strip_suffix('\n').unwrap_or(&e.text),
                    _ => &e.text,
                };
                fs::write(&path, text).unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
    }
    let settings = dir.join("ipsecmgr.conf");
    if !settings.exists() {
        fs::write(&settings, "hostname = \"gw.example.net\"\n").unwrap();
    }
}

fn run_case(case: &Path) -> String {
    let text = fs::read_to_string(case).unwrap();
    let (args, entries) = parse_case(&text);
    let dir = tempfile::tempdir().unwrap();
    build_tree(dir.path(), &entries);
    let stdin = match fs::File::open(dir.path().join("stdin")) {
        Ok(f) => Stdio::from(f),
        Err(_) => Stdio::null(),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_ipsecmgr"))
        .args(&args)
        .current_dir(dir.path())
        .stdin(stdin)
        .output()
        .unwrap();
    format!(
        "status: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "case"))
        .collect();
    cases.sort();
    cases
}

#[test]
fn golden_cases() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut failed = Vec::new();
    let all = cases();
    assert!(all.len() >= 20, "the golden cases are missing");
    for case in all {
        let got = run_case(&case);
        let expected_path = case.with_extension("expected");
        if bless {
            fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            let diff: String = similar::TextDiff::from_lines(&expected, &got)
                .unified_diff()
                .header("expected", "got")
                .to_string();
            failed.push(format!("{}:\n{diff}", case.display()));
        }
    }
    assert!(
        failed.is_empty(),
        "{} golden cases differ:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
