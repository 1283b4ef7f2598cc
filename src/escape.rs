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

#[cfg(test)]
mod tests {
    use super::*;

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
