//! Which findings lint reports: `--select`/`--ignore` with the settings'
//! `[lint]` table, and `# ipsecmgr: allow CODE[,CODE]` comments in the
//! files linted.  Only lint codes (`L...`) can be left out: the compiler's
//! errors (`E...`) are what ipsecctl refuses to load.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::lint::{Across, Finding};
use crate::settings::{LintSelection, check_lint_codes};

/// The lint codes to report, as sets: a list may hold any number of
/// entries, and every finding is looked up in it.
#[derive(Debug, Default)]
pub struct Selection {
    /// Only these, when not empty.
    select: HashSet<String>,
    ignore: HashSet<String>,
}

impl Selection {
    /// The command line's `--select` replaces the settings' list; its
    /// `--ignore` adds to theirs (as ruff does).
    pub fn new(
        settings: &LintSelection,
        select: &[String],
        ignore: &[String],
    ) -> Result<Selection, String> {
        check_lint_codes("--select", select)?;
        check_lint_codes("--ignore", ignore)?;
        let select = if select.is_empty() {
            &settings.select[..]
        } else {
            select
        };
        Ok(Selection {
            select: select.iter().cloned().collect(),
            ignore: settings.ignore.iter().chain(ignore).cloned().collect(),
        })
    }

    pub fn keeps(&self, code: &str) -> bool {
        if !code.starts_with('L') {
            return true;
        }
        let selected = self.select.is_empty() || self.select.contains(code);
        selected && !self.ignore.contains(code)
    }
}

/// The marker of an allow comment, after the `#`.
const MARKER: &str = "ipsecmgr:";

/// Files larger than this are not searched for allow comments (the
/// compiler refuses far smaller ones).
const MAX_SCANNED: u64 = 1 << 26;

/// Drops the findings an allow comment covers: one about its own file
/// where that file allows it, one about two files only where both do
/// ([`Across`]).  `Err` names the file and line of a comment that is not
/// understood (a code that is not a lint code): a misspelt code would
/// otherwise silence nothing, unnoticed.
pub fn apply_allow_comments(findings: &mut Vec<Finding>) -> Result<(), String> {
    let mut allowed: HashMap<String, HashMap<u32, Vec<String>>> = HashMap::new();
    for f in findings.iter().filter(|f| f.code.starts_with('L')) {
        let other = match &f.across {
            Across::With(file, _) => Some(file),
            Across::No | Across::Many => None,
        };
        for file in std::iter::once(&f.file).chain(other) {
            if !allowed.contains_key(file) {
                allowed.insert(file.clone(), comments_of(file)?);
            }
        }
    }
    let allows = |file: &str, line: u32, code: &str| {
        allowed
            .get(file)
            .and_then(|lines| lines.get(&line))
            .is_some_and(|codes| codes.iter().any(|c| c == code))
    };
    findings.retain(|f| {
        let here = allows(&f.file, f.line, f.code);
        let silenced = match &f.across {
            Across::No => here,
            Across::With(file, line) => here && allows(file, *line, f.code),
            Across::Many => false,
        };
        !silenced
    });
    Ok(())
}

/// The allow comments of `file` by line; a file that cannot be read again
/// (a FIFO, a dangling link) has none.
fn comments_of(file: &str) -> Result<HashMap<u32, Vec<String>>, String> {
    match crate::system::files::read_regular(Path::new(file), MAX_SCANNED) {
        Ok(data) => allowed_lines(&String::from_utf8_lossy(&data.bytes))
            .map_err(|(line, why)| format!("{}:{line}: {why}", crate::escape::escaped(file))),
        Err(_) => Ok(HashMap::new()),
    }
}

/// The codes allowed on each line (numbered from 1) of a file.  A comment
/// covers the statement it ends: its own line, and the lines continued
/// onto it with a backslash — where ipsec.conf lets a comment stand.
pub fn allowed_lines(text: &str) -> Result<HashMap<u32, Vec<String>>, (u32, String)> {
    let mut out: HashMap<u32, Vec<String>> = HashMap::new();
    let mut statement_start = 1;
    for (i, line) in text.lines().enumerate() {
        let number = i as u32 + 1;
        if let Some(codes) = allow_comment(line).map_err(|e| (number, e))? {
            for l in statement_start..=number {
                out.entry(l).or_default().extend(codes.iter().cloned());
            }
        }
        if !line.trim_end_matches('\r').ends_with('\\') {
            statement_start = number + 1;
        }
    }
    Ok(out)
}

/// The codes of `# ipsecmgr: allow CODE[,CODE]` in one line, if it has
/// such a comment.
fn allow_comment(line: &str) -> Result<Option<Vec<String>>, String> {
    let Some(comment) = comment_of(line) else {
        return Ok(None);
    };
    let Some(rest) = comment.trim().strip_prefix(MARKER) else {
        return Ok(None);
    };
    let Some(list) = rest.trim_start().strip_prefix("allow") else {
        return Err(format!("`# {MARKER}` comment without `allow CODE[,CODE]`"));
    };
    let codes: Vec<String> = list
        .split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if codes.is_empty() {
        return Err(format!("`# {MARKER} allow` names no code"));
    }
    check_lint_codes("allow comment", &codes)?;
    Ok(Some(codes))
}

/// The text after the `#` that starts a comment, outside quotes.
fn comment_of(line: &str) -> Option<&str> {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') => return Some(&line[i + 1..]),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_covers_the_statement_it_ends() {
        let text = "flow esp from a to b \\\n  peer c # ipsecmgr: allow L103, L201\n\
                    psk \"# ipsecmgr: allow L402\"\nx # other comment\n";
        let got = allowed_lines(text).unwrap();
        assert_eq!(got[&1], ["L103", "L201"]);
        assert_eq!(got[&2], ["L103", "L201"]);
        assert!(!got.contains_key(&3));
        assert!(!got.contains_key(&4));
        assert_eq!(
            allowed_lines("a\nb # ipsecmgr: allow L999\n")
                .unwrap_err()
                .0,
            2
        );
        assert!(allowed_lines("# ipsecmgr: alow L201\n").is_err());
        assert!(allowed_lines("# ipsecmgr: allow E031\n").is_err());
    }

    #[test]
    fn selection_keeps_compiler_errors() {
        let s = Selection::new(
            &LintSelection {
                select: vec!["L201".into(), "L301".into()],
                ignore: vec![],
            },
            &[],
            &["L301".into()],
        )
        .unwrap();
        assert!(s.keeps("L201") && s.keeps("E031"));
        assert!(!s.keeps("L301") && !s.keeps("L102"));
        assert!(Selection::new(&LintSelection::default(), &["L1O2".into()], &[]).is_err());
    }
}
