//! Names and paths shown to people: control characters and bytes that are
//! not UTF-8 are written as escapes, so that a file name cannot move the
//! cursor, recolour the terminal or start a new line of output.

use std::fmt::Write as _;

/// `bytes` as text with every control character (and every byte that is
/// not UTF-8) escaped: `\n`, `\t`, `\r`, or `\xNN` / `\u{NNNN}`.  With
/// `multi_line`, newlines and tabs stay as they are (for messages and
/// listings of several lines, where they are layout).
pub fn escaped_bytes(bytes: &[u8], multi_line: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' | '\t' if multi_line => out.push(c),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x80 && c.is_control() => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// A name or path, on one line.
pub fn escaped(s: &str) -> String {
    escaped_bytes(s.as_bytes(), false)
}

/// A path, on one line, whatever bytes it holds.
pub fn escaped_path(p: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    escaped_bytes(p.as_os_str().as_bytes(), false)
}

/// A message of one or more lines: its newlines and tabs kept, every other
/// control character escaped.
pub fn escaped_lines(s: &str) -> String {
    escaped_bytes(s.as_bytes(), true)
}

/// Keeps a GitHub Actions runner from reading a workflow command in text
/// ipsecmgr prints.  The runner takes a line for a command when, its
/// leading blanks trimmed, it starts with `::` (ActionCommand.TryParseV2),
/// or when it holds `##[` anywhere (the older ActionCommand.TryParse); it
/// splits lines at CR as well as LF.  So the second colon of a line that
/// begins `::` is written `\x3a`, and the bracket of `##[` is written
/// `\x5b`.  Text goes through in pieces: what a line began with is kept
/// from one piece to the next.
#[derive(Debug, Clone, Copy)]
pub struct CommandGuard {
    /// Only blanks so far on this line (`Some(true)`: and then one colon).
    line_start: Option<bool>,
    /// How many `#` came last.
    hashes: u8,
}

impl Default for CommandGuard {
    fn default() -> Self {
        CommandGuard::new()
    }
}

impl CommandGuard {
    /// At the start of a line.
    pub const fn new() -> Self {
        CommandGuard {
            line_start: Some(false),
            hashes: 0,
        }
    }

    /// Appends `text` to `out`, neutralised.
    pub fn push(&mut self, text: &str, out: &mut String) {
        for c in text.chars() {
            self.push_char(c, out);
        }
    }

    /// Appends `bytes` to `out`, neutralised: bytes that are not UTF-8 go
    /// through as they are (they start no command).
    pub fn push_bytes(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let mut s = String::new();
        for chunk in bytes.utf8_chunks() {
            s.clear();
            self.push(chunk.valid(), &mut s);
            out.extend_from_slice(s.as_bytes());
            if !chunk.invalid().is_empty() {
                out.extend_from_slice(chunk.invalid());
                self.line_start = None;
                self.hashes = 0;
            }
        }
    }

    fn push_char(&mut self, c: char, out: &mut String) {
        let bracket = c == '[' && self.hashes >= 2;
        self.hashes = if c == '#' {
            self.hashes.saturating_add(1)
        } else {
            0
        };
        match (self.line_start, c) {
            (_, '\n' | '\r') => self.line_start = Some(false),
            (Some(false), ':') => self.line_start = Some(true),
            (Some(true), ':') => {
                self.line_start = None;
                out.push_str("\\x3a");
                return;
            }
            (Some(false), c) if c.is_whitespace() => {}
            _ => self.line_start = None,
        }
        if bracket {
            out.push_str("\\x5b");
        } else {
            out.push(c);
        }
    }
}

/// `text` with no workflow command in it (see [`CommandGuard`]), read
/// as a whole from the start of a line.
pub fn without_commands(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    CommandGuard::default().push(text, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_line_can_start_a_workflow_command() {
        assert_eq!(without_commands("::error::x"), ":\\x3aerror::x");
        assert_eq!(
            without_commands("ok\n \t\u{3000}::warning::y\r::z"),
            "ok\n \t\u{3000}:\\x3awarning::y\r:\\x3az"
        );
        assert_eq!(without_commands("a::b :: c"), "a::b :: c");
        assert_eq!(without_commands("x ##[error]y #[z"), "x ##\\x5berror]y #[z");
        assert_eq!(without_commands("## heading"), "## heading");
        // piece by piece as at once
        let mut guard = CommandGuard::default();
        let mut out = String::new();
        for piece in ["ok\n", ":", ":err", "or #", "#[", "x"] {
            guard.push(piece, &mut out);
        }
        assert_eq!(out, "ok\n:\\x3aerror ##\\x5bx");
        let mut bytes = Vec::new();
        CommandGuard::default().push_bytes(b"\xff::a\n::b", &mut bytes);
        assert_eq!(bytes, b"\xff::a\n:\\x3ab");
    }

    #[test]
    fn control_characters_and_bad_bytes_are_escaped() {
        assert_eq!(escaped("plain-name_1.conf"), "plain-name_1.conf");
        assert_eq!(escaped("a\nb\tc\x1b[31m"), "a\\nb\\tc\\x1b[31m");
        assert_eq!(escaped("\u{9b}x\u{7f}"), "\\u{9b}x\\x7f");
        assert_eq!(escaped_bytes(b"a\xffb", false), "a\\xffb");
        assert_eq!(escaped_lines("one\n\ttwo\x07\n"), "one\n\ttwo\\x07\n");
        assert_eq!(escaped("é"), "é");
    }
}
