//! Editing ipsec.conf: one include line in or out, every other byte kept.

/// The statement that includes `path`.
pub fn include_line(path: &str) -> String {
    format!("include \"{path}\"\n")
}

fn is_include_of(line: &str, path: &str) -> bool {
    let line = line.trim();
    let Some(rest) = line.strip_prefix("include") else {
        return false;
    };
    let rest = rest.trim_start();
    let quoted = [format!("\"{path}\""), format!("'{path}'")];
    quoted.iter().any(|q| {
        rest.strip_prefix(q.as_str())
            .is_some_and(|after| after.trim().is_empty() || after.trim_start().starts_with('#'))
    })
}

/// One statement of a file as the lexer reads it: its lines (a statement
/// continued with `\\` or inside quotes spans several) and where it ends.
struct Statement {
    first_line: u32,
    last_line: u32,
    /// The byte after its newline (the file's length for the last one).
    end: usize,
    include: bool,
}

/// The statements of `text`, split where ipsecctl's lexer ends them.
/// Macros are not expanded: only where statements end matters here.
fn statements(text: &[u8]) -> Vec<Statement> {
    use crate::syntax::keyword::Keyword;
    use crate::syntax::lex::{Lexer, TokKind};
    use crate::syntax::macros::Macros;
    use crate::syntax::source::{SourceFile, Sources};
    let mut sources = Sources::default();
    let file = sources.add(SourceFile::text("", text.to_vec()));
    let mut macros = Macros::default();
    let mut lexer = Lexer::new(file);
    let mut out = Vec::new();
    let mut first: Option<(u32, bool)> = None;
    loop {
        let token = lexer.next_token(&sources, &mut macros);
        let _ = lexer.take_diags();
        let (first_line, include) = *first.get_or_insert((
            token.span.line,
            token.kind == TokKind::Keyword(Keyword::Include),
        ));
        let end = match token.kind {
            TokKind::Newline => token.span.start as usize + 1,
            TokKind::Eof => text.len(),
            _ => continue,
        };
        out.push(Statement {
            first_line,
            last_line: token.span.line,
            end: end.min(text.len()),
            include,
        });
        first = None;
        if token.kind == TokKind::Eof {
            return out;
        }
    }
}

/// `text` with `include "path"` added after the last include statement (or
/// at the end): always where a statement ends, never inside one continued
/// over several lines.
pub fn add_include(text: &[u8], path: &str) -> Vec<u8> {
    let at = statements(text)
        .iter()
        .rev()
        .find(|s| s.include)
        .map_or(text.len(), |s| s.end);
    let mut out = Vec::with_capacity(text.len() + path.len() + 12);
    out.extend_from_slice(&text[..at]);
    // a last line without its newline gets one, or the include would join it
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(include_line(path).as_bytes());
    out.extend_from_slice(&text[at..]);
    out
}

/// `text` without the line `line` (1-based), which must be an include of
/// `path` alone.
pub fn remove_include(text: &[u8], line: u32, path: &str) -> Result<Vec<u8>, String> {
    let mut lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let i = line as usize - 1;
    let alone = include_lines(text, path).contains(&line);
    match lines.get(i) {
        Some(_) if alone => {
            lines.remove(i);
            Ok(lines.concat())
        }
        _ => Err(format!(
            "{line}: holds more than `include \"{}\"`; remove it by hand",
            crate::escape::escaped(path)
        )),
    }
}

/// Why an include line cannot be removed: it holds more than the include.
pub fn not_alone(conf: &str, line: u32, path: &str) -> String {
    format!("{conf}: {line}: cannot remove the include of {path} (it is not alone on its line)")
}

/// The line numbers of the statements including `path`, each a whole
/// statement on a line of its own (not a line inside a continued one).
pub fn include_lines(text: &[u8], path: &str) -> Vec<u32> {
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    statements(text)
        .iter()
        .filter(|s| s.include && s.first_line == s.last_line)
        .filter(|s| {
            lines
                .get(s.first_line as usize - 1)
                .is_some_and(|l| is_include_of(&String::from_utf8_lossy(l), path))
        })
        .map(|s| s.first_line)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_after_the_last_include_and_keeps_the_rest() {
        let text = b"# head\ninclude \"/etc/a.conf\"\n\nflow esp from 1.1.1.1 to 2.2.2.2\n";
        let out = add_include(text, "/etc/b.conf");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# head\ninclude \"/etc/a.conf\"\ninclude \"/etc/b.conf\"\n\nflow esp from 1.1.1.1 to 2.2.2.2\n"
        );
        let out = add_include(b"flow x", "/etc/b.conf");
        assert_eq!(out, b"flow x\ninclude \"/etc/b.conf\"\n");
    }

    #[test]
    fn adds_where_a_statement_ends_not_inside_a_continued_one() {
        let text = b"include \"/etc/a.conf\"\nm = \"x \\\ninclude y\"\nflow x\n";
        let out = add_include(text, "/etc/b.conf");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "include \"/etc/a.conf\"\ninclude \"/etc/b.conf\"\nm = \"x \\\ninclude y\"\nflow x\n"
        );
        let text = b"# a\ninc = \"include \\\n  z\"\n";
        assert_eq!(
            add_include(text, "/b"),
            b"# a\ninc = \"include \\\n  z\"\ninclude \"/b\"\n"
        );
        let text = b"include \"/b\" \\\n flow x\ninclude \"/b\"\n";
        assert_eq!(include_lines(text, "/b"), vec![3]);
    }

    #[test]
    fn removes_exactly_one_line() {
        let text = b"include \"/a.conf\"\ninclude \"/b.conf\"  # the b tunnel\nx\n";
        assert_eq!(include_lines(text, "/b.conf"), vec![2]);
        let out = remove_include(text, 2, "/b.conf").unwrap();
        assert_eq!(out, b"include \"/a.conf\"\nx\n");
        assert!(remove_include(text, 3, "/b.conf").is_err());
        assert!(remove_include(b"include \"/b.conf\" flow\n", 1, "/b.conf").is_err());
    }
}
