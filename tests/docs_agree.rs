//! The three places a user learns a command from — `--help`, the manual and
//! the README — name the same options for it.  `--help` is what the binary
//! accepts, so the other two are checked against it.

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ipsecmgr");

const COMMANDS: &[&str] = &[
    "compile",
    "add",
    "rm",
    "diff",
    "apply",
    "down",
    "up",
    "restart",
    "ls",
    "tags",
    "status",
    "lint",
    "key set",
    "key migrate",
];

/// Whether `words` begin with the words of `command` (`key set`).
fn starts_with_command<'a>(words: impl IntoIterator<Item = &'a str>, command: &str) -> bool {
    let want: Vec<&str> = command.split_whitespace().collect();
    let got: Vec<&str> = words.into_iter().take(want.len()).collect();
    got == want
}

/// Options every command takes; the manual and the README give them once.
const GLOBAL: &[&str] = &["-c", "--config", "--root", "-h", "--help"];

fn options_in_help(command: &str) -> BTreeSet<String> {
    let out = Command::new(BIN)
        .args(command.split_whitespace())
        .arg("--help")
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
        let is_command = head
            .first()
            .is_some_and(|l| starts_with_command(l.split_whitespace().skip(1), command));
        if !head
            .first()
            .is_some_and(|l| l.starts_with("Ic ") || l.starts_with(".Ic "))
            || !is_command
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
        let Some(at) =
            (0..words.len()).find(|&i| starts_with_command(words[i..].iter().copied(), command))
        else {
            continue;
        };
        let after = at + command.split_whitespace().count() - 1;
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
        if at == 0 && words.len() == after + 1 {
            continue;
        }
        synopses += 1;
        for w in words[after + 1..].iter().take_while(|w| **w != "|") {
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

// ------------------------------------------------ the audit, command-wide

/// The subcommands `ipsecmgr --help` lists.
fn commands_in_help() -> Vec<String> {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let list = text.split("\nCommands:\n").nth(1).unwrap_or("");
    let mut out = Vec::new();
    for c in list
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
    {
        // a command with commands of its own (`key set`) is each of them
        let own = Command::new(BIN).args([c, "--help"]).output().unwrap();
        let own = String::from_utf8(own.stdout).unwrap();
        match own.split("\nCommands:\n").nth(1) {
            Some(sub) => out.extend(
                sub.lines()
                    .take_while(|l| l.starts_with("  "))
                    .filter_map(|l| l.split_whitespace().next())
                    .filter(|s| *s != "help")
                    .map(|s| format!("{c} {s}")),
            ),
            None => out.push(c.to_string()),
        }
    }
    out
}

/// The options `ipsecmgr --help` lists, short and long.
fn global_options_in_help() -> BTreeSet<String> {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let options = text.split("\nOptions:\n").nth(1).unwrap_or("");
    let mut found = BTreeSet::new();
    for line in options.lines() {
        let head = line.trim_start().split("  ").next().unwrap_or("");
        for word in head.split(", ") {
            let word = word.split([' ', '=']).next().unwrap_or("");
            if word.starts_with('-') {
                found.insert(word.to_string());
            }
        }
    }
    found
}

#[test]
fn every_command_in_help_is_checked_and_in_the_manual_and_readme() {
    let listed = commands_in_help();
    assert_eq!(
        listed, COMMANDS,
        "ipsecmgr --help lists other commands than are checked here"
    );
    for command in COMMANDS {
        // both panic when a command has no entry or synopsis
        options_in_manual(command);
        options_in_readme(command);
    }
}

#[test]
fn the_manual_names_every_global_option() {
    let man = fs::read_to_string("man/ipsecmgr.8").unwrap();
    let flags: BTreeSet<String> = man.lines().flat_map(manual_flags).collect();
    let missing: Vec<String> = global_options_in_help()
        .into_iter()
        .filter(|o| !flags.contains(o))
        .collect();
    assert!(missing.is_empty(), "the manual lacks {missing:?}");
    let readme = fs::read_to_string("README.md").unwrap();
    for o in ["-c", "--root"] {
        assert!(readme.contains(&format!("[{o} ")), "the README lacks {o}");
    }
}

/// `--option` → its possible values, as `COMMAND -h` lists them.
fn values_in_help(command: &str) -> Vec<(String, BTreeSet<String>)> {
    let out = Command::new(BIN)
        .args(command.split_whitespace())
        .arg("-h")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .filter_map(|l| {
            let option = l
                .trim_start()
                .split([' ', ','])
                .find(|w| w.starts_with("--"))?;
            let values = l.split("[possible values: ").nth(1)?.split(']').next()?;
            let values = values.split(", ").map(str::to_string).collect();
            Some((option.to_string(), values))
        })
        .collect()
}

/// The synopsis lines of the manual's entries for `command`: each `.It`
/// whose first `Ic` is the command, to its `.Xc` or the end of its line.
fn manual_heads(command: &str) -> Vec<String> {
    let man = fs::read_to_string("man/ipsecmgr.8").unwrap();
    let lines: Vec<&str> = man.lines().collect();
    let mut heads = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let head: Vec<&str> = if *line == ".It Xo" {
            let end = lines[i..].iter().position(|l| *l == ".Xc").unwrap_or(0);
            lines[i + 1..i + end].to_vec()
        } else if let Some(rest) = line.strip_prefix(".It ") {
            vec![rest]
        } else {
            continue;
        };
        let first = head.first().map(|l| l.trim_start_matches('.'));
        if first.is_some_and(|l| {
            l.split_whitespace().next() == Some("Ic")
                && starts_with_command(l.split_whitespace().skip(1), command)
        }) {
            heads.extend(head.iter().map(|l| l.to_string()));
        }
    }
    heads
}

/// The values the manual's entries for `command` give `option`
/// (`Fl -format Cm text | json`).
fn values_in_manual(command: &str, option: &str) -> BTreeSet<String> {
    // mdoc writes `Fl -format` for --format
    let flag = option.strip_prefix('-').unwrap_or(option);
    let mut found = BTreeSet::new();
    for line in manual_heads(command) {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, pair) in words.windows(2).enumerate() {
            if pair != ["Fl", flag] || words.get(i + 2) != Some(&"Cm") {
                continue;
            }
            for w in &words[i + 3..] {
                match *w {
                    "|" | "Cm" => {}
                    w if w.starts_with(|c: char| c.is_ascii_uppercase()) => break,
                    w => {
                        found.insert(w.to_string());
                    }
                }
            }
        }
    }
    found
}

/// The values the README's synopses give `option` (`--format a|b|c`).
fn values_in_readme(option: &str) -> BTreeSet<String> {
    let readme = fs::read_to_string("README.md").unwrap();
    let mut found = BTreeSet::new();
    for span in readme.split('`').skip(1).step_by(2) {
        let words: Vec<&str> = span.split_whitespace().collect();
        for pair in words.windows(2) {
            if pair[0].trim_start_matches(['[', '|']).ends_with(option) {
                for v in pair[1].split('|') {
                    let v = v.trim_matches(|c| "[]\\\\".contains(c));
                    if !v.is_empty() && !v.starts_with('-') {
                        found.insert(v.to_string());
                    }
                }
            }
        }
    }
    found
}

#[test]
fn the_values_of_every_option_agree() {
    let mut wrong = Vec::new();
    for command in COMMANDS {
        for (option, values) in values_in_help(command) {
            let man = values_in_manual(command, &option);
            if !values.is_subset(&man) {
                wrong.push(format!(
                    "{command} {option}: --help {values:?}, manual {man:?}"
                ));
            }
            let readme = values_in_readme(&option);
            if !values.is_subset(&readme) {
                wrong.push(format!(
                    "{command} {option}: --help {values:?}, README {readme:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // the parsers read what they compare
    assert!(
        values_in_help("lint")
            .iter()
            .any(|(o, v)| o == "--format" && v.contains("sarif"))
    );
    assert!(values_in_manual("lint", "--format").contains("sarif"));
    assert!(values_in_manual("diff", "--format").contains("markdown"));
    assert!(values_in_readme("--format").contains("github"));
}

#[test]
fn the_manual_gives_every_command_its_exit_status() {
    let man = fs::read_to_string("man/ipsecmgr.8").unwrap();
    let section = man
        .split("\n.Sh EXIT STATUS\n")
        .nth(1)
        .and_then(|s| s.split("\n.Sh ").next())
        .expect("an EXIT STATUS section");
    let named: BTreeSet<&str> = section
        .lines()
        .filter(|l| l.starts_with(".It Ic "))
        .flat_map(|l| l.split_whitespace())
        .collect();
    // `key set` is named by its two words
    let missing: Vec<&&str> = COMMANDS
        .iter()
        .filter(|c| !c.split_whitespace().all(|w| named.contains(w)))
        .collect();
    assert!(
        missing.is_empty(),
        "EXIT STATUS says nothing of {missing:?}"
    );
}
