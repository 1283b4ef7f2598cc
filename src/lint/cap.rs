//! How many findings lint shows: at most [`PER_FILE`] of one code in one
//! file and [`PER_CODE`] of one code in all, so that a tree written to
//! flood the report (hundreds of files whose flows all clash, a file of
//! thousands of weak rules) makes a report of a size a person or a CI log
//! can take.  What is left out is said, by a finding of the same code in
//! the file where it begins: how many, and which limit left them out.

use std::collections::HashMap;
use std::path::Path;

use crate::diag::Kind;
use crate::lint::Finding;

/// Findings of one code shown for one file.
pub const PER_FILE: usize = 100;

/// Findings of one code shown in all.
pub const PER_CODE: usize = 1000;

/// Findings left out, and whether any of them is an error.
#[derive(Default)]
struct LeftOut {
    count: usize,
    error: bool,
}

impl LeftOut {
    fn add(&mut self, f: &Finding) {
        self.count += 1;
        self.error |= f.is_error();
    }

    fn note(&self, code: &'static str, file: &str, message: String) -> Finding {
        let kind = Kind::ALL.iter().copied().find(|k| k.code() == code);
        let mut f = Finding::about_file(
            kind.unwrap_or(Kind::FileUnreadable),
            if self.error { "error" } else { "warning" },
            Path::new(file),
            message,
        );
        // the code the note counts, even one no Kind has (none today)
        f.code = code;
        f.file = file.to_string();
        f
    }
}

/// Keeps the first findings of each code (in the order given: by file and
/// line), and adds a note for those left out.
pub fn apply(findings: &mut Vec<Finding>) {
    let mut per_file: HashMap<(&'static str, String), usize> = HashMap::new();
    let mut per_code: HashMap<&'static str, usize> = HashMap::new();
    // (code, file) → left out by the limit per file, in order of first
    let mut file_notes: Vec<((&'static str, String), LeftOut)> = Vec::new();
    let mut file_note_at: HashMap<(&'static str, String), usize> = HashMap::new();
    // code → the file where findings left out by the limit in all begin
    let mut code_notes: Vec<(&'static str, String, LeftOut)> = Vec::new();
    let mut code_note_at: HashMap<&'static str, usize> = HashMap::new();
    findings.retain(|f| {
        let key = (f.code, f.file.clone());
        let in_file = per_file.entry(key.clone()).or_default();
        if *in_file >= PER_FILE {
            let at = *file_note_at.entry(key.clone()).or_insert_with(|| {
                file_notes.push((key, LeftOut::default()));
                file_notes.len() - 1
            });
            file_notes[at].1.add(f);
            return false;
        }
        let in_all = per_code.entry(f.code).or_default();
        if *in_all >= PER_CODE {
            let at = *code_note_at.entry(f.code).or_insert_with(|| {
                code_notes.push((f.code, f.file.clone(), LeftOut::default()));
                code_notes.len() - 1
            });
            code_notes[at].2.add(f);
            return false;
        }
        *in_file += 1;
        *in_all += 1;
        true
    });
    if file_notes.is_empty() && code_notes.is_empty() {
        return;
    }
    for ((code, file), left) in &file_notes {
        findings.push(left.note(
            code,
            file,
            format!(
                "{} more {code} findings in this file are not shown (at most {PER_FILE} of one code per file)",
                left.count
            ),
        ));
    }
    for (code, file, left) in &code_notes {
        findings.push(left.note(
            code,
            file,
            format!(
                "{} more {code} findings, in this file and the ones after it, are not shown (at most {PER_CODE} of one code in all)",
                left.count
            ),
        ));
    }
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.code).cmp(&(&b.file, b.line, b.column, b.code))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(file: &str, line: u32, code: &'static str, severity: &'static str) -> Finding {
        let mut f = Finding::about_file(Kind::WeakCrypto, severity, Path::new(file), "x".into());
        f.code = code;
        f.line = line;
        f
    }

    #[test]
    fn findings_are_capped_per_file_and_code_and_the_rest_is_said() {
        let mut all = Vec::new();
        for file in 0..30 {
            for line in 1..=150u32 {
                all.push(finding(&format!("f{file:02}"), line + 1, "L201", "warning"));
            }
            all.push(finding(&format!("f{file:02}"), 2, "L102", "error"));
        }
        apply(&mut all);
        let count = |code: &str| {
            all.iter()
                .filter(|f| f.code == code && f.message == "x")
                .count()
        };
        assert_eq!(count("L201"), PER_CODE);
        assert_eq!(count("L102"), 30);
        let notes: Vec<&Finding> = all.iter().filter(|f| f.message != "x").collect();
        // ten files shown up to the limit per file: each says 50 more; the
        // eleventh, where the limit in all is reached, says how many of
        // its own and the later files' are not shown
        assert_eq!(notes.len(), 11, "{notes:#?}");
        assert!(
            notes[0]
                .message
                .starts_with("50 more L201 findings in this file")
        );
        assert_eq!(notes[0].file, "f00");
        let last = notes.last().unwrap();
        assert_eq!(last.file, "f10");
        assert!(
            last.message
                .starts_with(&format!("{} more L201 findings, in this file", 20 * 150)),
            "{}",
            last.message
        );
        assert!(notes.iter().all(|n| n.severity == "warning" && n.line == 1));
        // in file order, each note before the findings of its file
        assert!(
            all.windows(2)
                .all(|w| (&w[0].file, w[0].line) <= (&w[1].file, w[1].line))
        );
    }
}
