//! The three places a user learns a command from — `--help`, the manual and
//! the README — name the same options for it.  `--help` is what the binary
//! accepts, so the other two are checked against it.

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ipsecmgr");

const COMMANDS: &[&str] = &[
    "compile", "add", "rm", "diff", "apply", "down", "up", "restart", "ls", "tags", "status",
    "lint",
];

/// Options every command takes; the manual and the README give them once.
const GLOBAL: &[&str] = &["-c", "--config", "--root", "-h", "--help"];

fn options_in_help(command: &str) -> BTreeSet<String> {
    let out = Command::new(BIN)
        .args([command, "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{command} --help failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let options = text.split("\nOptions:\n").nth(1).unwrap_or("");
    let mut found = BTreeSet::new();
    for line in options.lines() {
        // "  -n, --name <X>  text": the option words before the text, on a
        // line indented as an option is (not a list of values below one)
        if !(line.starts_with("  -") || line.starts_with("      --")) {
            continue;
        }
        for word in line
            .split("  ")
            .find(|w| !w.trim().is_empty())
            .unwrap_or("")
            .split(", ")
        {
            let word = word.split([' ', '=']).next().unwrap_or("");
            if word.starts_with('-') && !GLOBAL.contains(&word) {
                found.insert(word.to_string());
            }
        }
    }
    found
}

/// The options of `command`'s entries in the manual: each `.It` whose first
/// `Ic` is the command, to its `.Xc` or the end of its line.
fn options_in_manual(command: &str) -> BTreeSet<String> {
    let man = fs::read_to_string("man/ipsecmgr.8").unwrap();
    let lines: Vec<&str> = man.lines().collect();
    let mut found = BTreeSet::new();
    let mut entries = 0;
    for (i, line) in lines.iter().enumerate() {
        let head: Vec<&str> = if *line == ".It Xo" {
            let end = lines[i..].iter().position(|l| *l == ".Xc").unwrap_or(0);
            lines[i + 1..i + end].to_vec()
        } else if line.starts_with(".It Ic ") {
            vec![&line[4..]]
        } else {
            continue;
        };
        let first_ic = head.first().and_then(|l| l.split_whitespace().nth(1));
        if !head
            .first()
            .is_some_and(|l| l.starts_with("Ic ") || l.starts_with(".Ic "))
            || first_ic != Some(command)
        {
            continue;
        }
        entries += 1;
        for l in &head {
            found.extend(manual_flags(l));
        }
    }
    assert!(entries > 0, "the manual has no entry for {command}");
    found
}

/// `Fl dk` is -d and -k; `Fl -json` is --json.
fn manual_flags(line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = Vec::new();
    for pair in words.windows(2) {
        if pair[0] != "Fl" {
            continue;
        }
        match pair[1].strip_prefix('-') {
            Some(long) => out.push(format!("--{long}")),
            None => out.extend(pair[1].chars().map(|c| format!("-{c}"))),
        }
    }
    out
}

/// The options in the README's synopses of `command`: every code span
/// that starts `ipsecmgr … COMMAND`, or names the command alone after a
/// comma in the command table.
fn options_in_readme(command: &str) -> BTreeSet<String> {
    let readme = fs::read_to_string("README.md").unwrap();
    let mut found = BTreeSet::new();
    let mut synopses = 0;
    for span in readme.split('`').skip(1).step_by(2) {
        let words: Vec<&str> = span.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == command) else {
            continue;
        };
        let leads = words[..at].iter().all(|w| {
            *w == "ipsecmgr"
                || w.starts_with('[')
                || w.ends_with(']')
                || w.starts_with('-')
                || *w == "CONFIG"
                || *w == "DIR"
        });
        if !(leads && (words[0] == "ipsecmgr" || at == 0)) {
            continue;
        }
        if at == 0 && words.len() == 1 {
            continue;
        }
        synopses += 1;
        for w in words[at + 1..].iter().take_while(|w| **w != "|") {
            let w = w.trim_start_matches('[').trim_end_matches(']');
            for opt in w.split('|') {
                let opt = opt.split(['=', ']']).next().unwrap_or("");
                if opt.starts_with('-') && opt.len() > 1 && !GLOBAL.contains(&opt) {
                    found.insert(opt.to_string());
                }
            }
        }
    }
    assert!(synopses > 0, "the README has no synopsis of {command}");
    found
}

/// Commands whose options in `place` differ from their `--help`.
fn disagreements(place: &str, options: fn(&str) -> BTreeSet<String>) -> Vec<String> {
    COMMANDS
        .iter()
        .filter_map(|command| {
            let (help, other) = (options_in_help(command), options(command));
            (help != other).then(|| format!("{command}: --help {help:?}, {place} {other:?}"))
        })
        .collect()
}

#[test]
fn the_manual_names_the_options_of_every_command() {
    let wrong = disagreements("manual", options_in_manual);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_readme_names_the_options_of_every_command() {
    let wrong = disagreements("README", options_in_readme);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_check_reads_what_it_compares() {
    // a parser that found nothing would make the checks above pass vacuously
    assert!(options_in_help("lint").contains("--deny-warnings"));
    assert!(options_in_help("compile").contains("-k"));
    assert!(options_in_manual("compile").contains("-d"));
    assert_eq!(manual_flags(".Op Fl dk"), ["-d", "-k"]);
    assert_eq!(manual_flags(".Op Fl -json Op Fl k"), ["--json", "-k"]);
}
