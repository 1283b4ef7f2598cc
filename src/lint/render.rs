//! Printing findings: text with the source line and a caret (rendered by
//! annotate-snippets), JSON, or GitHub workflow commands.  File names and
//! messages come from the files linted: in the text and GitHub formats
//! each is escaped on one line ([`crate::escape`]), so that none can start
//! a line of its own.

use std::fmt::Write as _;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use crate::escape::escaped;
use crate::lint::Finding;
use crate::syntax::secrets;

/// `file:line:col: error[CODE]: message`, then the line and a caret.
pub fn text(findings: &[Finding]) -> String {
    let renderer = Renderer::plain();
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(
            out,
            "{}:{}:{}: {}[{}]: {}",
            escaped(&f.file),
            f.line,
            f.column,
            f.severity,
            f.code,
            escaped(&f.message)
        );
        let level = if f.is_error() {
            Level::ERROR
        } else {
            Level::WARNING
        };
        // the line was masked from what its file holds; masked again
        // alone, so that no line reaches the log with a key on it
        let source = secrets::starred_line(&f.source);
        let mut group = Group::with_level(level.clone());
        if !f.source.is_empty() {
            // columns count bytes of the file; the line shown is text, so
            // the span is widened to whole characters
            let src = source.as_str();
            let mut start = (f.column as usize - 1).min(src.len());
            while !src.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (f.end_column as usize - 1).clamp(start, src.len());
            while !src.is_char_boundary(end) {
                end += 1;
            }
            group = group.element(
                Snippet::source(src)
                    .line_start(f.line as usize)
                    .annotation(AnnotationKind::Primary.span(start..end.max(start))),
            );
        }
        if !f.source.is_empty() {
            let _ = writeln!(out, "{}", renderer.render(&[group]));
        }
        // written here, not by the renderer, whose indent follows the
        // width of the line number shown (or none): one indent for all
        if let Some(help) = &f.help {
            let _ = writeln!(out, "{HELP_INDENT}= help: {}", escaped(help));
        }
    }
    let errors = findings.iter().filter(|f| f.is_error()).count();
    let warnings = findings.len() - errors;
    let _ = writeln!(
        out,
        "{}, {}",
        counted(errors, "error"),
        counted(warnings, "warning")
    );
    out
}

/// Where a finding's help line starts.
const HELP_INDENT: &str = "  ";

/// `1 error`, `2 errors`, `0 errors`.
fn counted(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A finding's file as a workflow annotation names it: relative to the
/// repository root (the current directory), without a leading `./`.
fn annotation_path(file: &str) -> String {
    let path = std::path::Path::new(file);
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.to_path_buf()))
        .unwrap_or_else(|| path.to_path_buf());
    let clean: std::path::PathBuf = relative
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    clean.display().to_string()
}

/// GitHub Actions annotations: `::error file=..,line=..,col=..,title=CODE::message`,
/// one line each: the runner's own escapes (ActionCommand.cs) keep a
/// newline, `%`, and in properties `:` and `,`, from ending a field.
pub fn github(findings: &[Finding]) -> String {
    fn data(s: &str) -> String {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    }
    fn property(s: &str) -> String {
        data(s).replace(':', "%3A").replace(',', "%2C")
    }
    let mut out = String::new();
    for f in findings {
        let mut message = escaped(&f.message);
        if let Some(help) = &f.help {
            message.push_str("\nhelp: ");
            message.push_str(&escaped(help));
        }
        let _ = writeln!(
            out,
            "::{} file={},line={},col={},title={}::{}",
            f.severity,
            property(&escaped(&annotation_path(&f.file))),
            f.line,
            f.column,
            property(f.code),
            data(&message)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding() -> Finding {
        Finding {
            code: "L201",
            severity: "warning",
            file: "a,b.conf".into(),
            line: 3,
            column: 5,
            end_column: 9,
            message: "weak: 100%".into(),
            help: Some("use aes".into()),
            source: "ike esp from a to b".into(),
            across: Default::default(),
        }
    }

    #[test]
    fn formats() {
        let t = text(&[finding()]);
        assert!(
            t.starts_with("a,b.conf:3:5: warning[L201]: weak: 100%\n"),
            "{t}"
        );
        assert!(t.contains("3 | ike esp from a to b"), "{t}");
        assert!(t.contains("^^^^"), "{t}");
        assert!(t.contains("help: use aes"), "{t}");
        assert!(
            t.ends_with("\n  = help: use aes\n0 errors, 1 warning\n"),
            "{t}"
        );
        assert_eq!(
            github(&[finding()]),
            "::warning file=a%2Cb.conf,line=3,col=5,title=L201::weak: 100%25%0Ahelp: use aes\n"
        );
        // lint --format json prints findings as a versioned document
        let v: serde_json::Value =
            serde_json::from_str(&crate::json::list("findings", &[finding()])).unwrap();
        assert_eq!(v["findings"][0]["code"], "L201");
        assert_eq!(v["findings"][0]["column"], 5);
    }

    #[test]
    fn a_key_on_the_line_shown_is_starred() {
        let mut f = finding();
        f.source = "ike esp peer 1.2.3.4 PSK \"hunter22\" tag x".into();
        f.column = 22;
        f.end_column = 25;
        let t = text(&[f]);
        assert!(!t.contains("hunter22"), "{t}");
        assert!(t.contains("PSK \"********\" tag x"), "{t}");
    }
}
