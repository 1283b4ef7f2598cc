//! Hiding the secrets of configuration text before it is shown: the
//! files and diffs that `add -n`, `rm -n`, `apply -n` and `diff` print.
//! What counts as a secret is decided in [`crate::syntax::secrets`].

use crate::compiler::Compiled;
use crate::manager::gateway::Gateway;
use crate::manager::tree::Tree;

/// A function that hides the secrets of configuration text (read as the
/// gateway would read it, includes and macros included).
pub fn redactor(gw: &Gateway) -> impl Fn(&[u8]) -> String + '_ {
    move |text: &[u8]| redacted_text(&gw.compile_text("text", text), text)
}

/// [`redactor`] that knows the files of `tree`: the text of one of them,
/// or of ipsec.conf with include lines added or taken out (what `add` and
/// `rm` write), is redacted from what the tree already knows, without
/// reading every fragment again.
pub fn tree_redactor<'a>(gw: &'a Gateway, tree: &'a Tree) -> impl Fn(&[u8]) -> String + 'a {
    move |text: &[u8]| {
        let c = &tree.compiled;
        if let Some((id, _)) = c.parsed.sources.iter().find(|(_, f)| f.text == text) {
            return redacted_file(c, id, text);
        }
        let main = &c.parsed.sources.get(0).text;
        edited_includes(c, main, text)
            .unwrap_or_else(|| redacted_text(&gw.compile_text("text", text), text))
    }
}

/// `text` redacted line by line from `main` (file 0 of `c`), when the two
/// differ only by include lines; `None` otherwise.
fn edited_includes(c: &Compiled, main: &[u8], text: &[u8]) -> Option<String> {
    let redacted_main = redacted_file(c, 0, main);
    let main_lines: Vec<&[u8]> = main.split_inclusive(|&b| b == b'\n').collect();
    let redacted_lines: Vec<&str> = redacted_main.split_inclusive('\n').collect();
    if main_lines.len() != redacted_lines.len() {
        return None;
    }
    let new_lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let is_include = |line: &[u8]| {
        let line = String::from_utf8_lossy(line);
        let line = line.trim();
        line.starts_with("include ") && !line.contains('$') && !line.ends_with('\\')
    };
    let diff = similar::capture_diff_slices(similar::Algorithm::Myers, &main_lines, &new_lines);
    let mut out = String::with_capacity(text.len());
    for op in diff {
        match op {
            similar::DiffOp::Equal { old_index, len, .. } => {
                for line in &redacted_lines[old_index..old_index + len] {
                    out.push_str(line);
                }
            }
            similar::DiffOp::Delete {
                old_index, old_len, ..
            } => {
                // only include lines: anything else taken out could change
                // how the lines around it read
                let removed = &main_lines[old_index..old_index + old_len];
                if !removed.iter().all(|l| is_include(l)) {
                    return None;
                }
            }
            similar::DiffOp::Insert {
                new_index, new_len, ..
            } => {
                let added = &new_lines[new_index..new_index + new_len];
                if !added.iter().all(|l| is_include(l)) {
                    return None;
                }
                for line in added {
                    out.push_str(&String::from_utf8_lossy(line));
                }
            }
            similar::DiffOp::Replace { .. } => return None,
        }
    }
    Some(out)
}

/// `text` with its secrets (pre-shared keys, keys, and the values of
/// macros that hold them) replaced by `<redacted>`.
pub fn redacted_text(compiled: &Compiled, text: &[u8]) -> String {
    redacted_file(compiled, 0, text)
}

/// [`redacted_text`] for file `file` of a compiled tree: what parsed as a
/// secret, and whatever the text could mean as one (see
/// [`crate::syntax::secrets::Redaction`]), line for line.
pub fn redacted_file(compiled: &Compiled, file: crate::diag::FileId, text: &[u8]) -> String {
    let read = compiled
        .parsed
        .sources
        .iter()
        .find(|(id, _)| *id == file)
        .map_or(&[][..], |(_, f)| f.text.as_slice());
    compiled.redaction().text(file, text, read)
}
