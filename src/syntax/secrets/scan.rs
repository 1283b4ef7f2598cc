//! Where a text may hold key material, read loosely: not as the parser
//! reads it, but as a typo could have meant it. A value after `psk`,
//! `authkey` or `enckey` in any case, glued to it or after `=` or `:`, is
//! a key even when the statement does not parse; so is the value of a
//! macro named after one of those words, continued lines and all.
//!
//! The scanner keeps no more than one lexeme of look-ahead, so its memory
//! is that of what it finds, whatever the text.

use std::ops::Range;

/// What one text may hold.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Found {
    /// Byte ranges of values after a key keyword (quotes included, as the
    /// parser's tokens are).
    pub values: Vec<Range<usize>>,
    /// The same, in comments (prose as often as a key put aside).
    pub comment_values: Vec<Range<usize>>,
    /// Names of macros given as such a value (`psk $k`): they hold keys.
    pub key_macros: Vec<String>,
    /// Every macro definition: its name and its value (inside the quotes
    /// when it is one quoted string), continued lines included.
    pub defs: Vec<Def>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Def {
    pub name: Range<usize>,
    pub value: Range<usize>,
}

/// Does `word` name a key, in any spelling?
pub fn is_key_keyword(word: &[u8]) -> bool {
    ["psk", "authkey", "enckey"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k.as_bytes()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    /// A quoted string; its range includes the quotes.
    Quoted,
    Equals,
    Newline,
    /// `#` to the end of the line, `#` excluded.
    Comment,
}

#[derive(Debug, Clone)]
struct Lexeme {
    kind: Kind,
    range: Range<usize>,
}

/// Splits text into words, quoted strings, `=`, newlines and comments,
/// joining lines continued with a backslash and treating `\r` as a blank.
struct Lexer<'t> {
    text: &'t [u8],
    pos: usize,
    /// Inside a comment: `#` is text, and quotes end with it.
    in_comment: bool,
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c')
}

/// The bytes that never end a word, whatever surrounds them: a word is
/// read over them without the checks below (every byte of a file passes).
const PLAIN: [bool; 256] = {
    let mut table = [true; 256];
    let special = b" \t\r\x0b\x0c\n=#\\\"':";
    let mut i = 0;
    while i < special.len() {
        table[special[i] as usize] = false;
        i += 1;
    }
    table
};

impl<'t> Lexer<'t> {
    /// The length of a backslash-newline (with an optional `\r`) at `pos`.
    fn continuation(&self, pos: usize) -> Option<usize> {
        match self.text.get(pos..)? {
            [b'\\', b'\n', ..] => Some(2),
            [b'\\', b'\r', b'\n', ..] => Some(3),
            _ => None,
        }
    }

    fn skip_blanks(&mut self) {
        loop {
            if let Some(n) = self.continuation(self.pos) {
                self.pos += n;
            } else if self.text.get(self.pos).is_some_and(|&b| is_blank(b)) {
                self.pos += 1;
            } else {
                return;
            }
        }
    }

    /// A quoted string from its opening quote at `start`: to the same
    /// quote not escaped by a backslash, over lines, or to the end.
    fn quoted(&mut self, start: usize) -> usize {
        let quote = self.text[start];
        let mut i = start + 1;
        while i < self.text.len() {
            match self.text[i] {
                b'\\' => i += 2,
                b if b == quote => return i + 1,
                _ => i += 1,
            }
        }
        self.text.len()
    }

    /// A word from `start`: to a blank, newline, `=` or comment; a quote
    /// or `:` ends it too when what came before is a key keyword
    /// (`psk"…"`, `psk:…`), elsewhere they are part of it.
    fn word(&self, start: usize) -> usize {
        let mut i = start;
        while i < self.text.len() {
            let plain = self.text[i..]
                .iter()
                .take_while(|&&b| PLAIN[b as usize])
                .count();
            i += plain;
            let Some(&b) = self.text.get(i) else {
                break;
            };
            let ends = is_blank(b)
                || b == b'\n'
                || b == b'='
                || (b == b'#' && !self.in_comment)
                || self.continuation(i).is_some()
                || (matches!(b, b'"' | b'\'' | b':') && is_key_keyword(&self.text[start..i]));
            if ends && i > start {
                break;
            }
            i += 1;
        }
        i
    }
}

impl Iterator for Lexer<'_> {
    type Item = Lexeme;

    fn next(&mut self) -> Option<Lexeme> {
        self.skip_blanks();
        let start = self.pos;
        let (kind, end) = match *self.text.get(start)? {
            b'\n' => (Kind::Newline, start + 1),
            b'=' => (Kind::Equals, start + 1),
            b'"' | b'\'' => (Kind::Quoted, self.quoted(start)),
            b'#' if !self.in_comment => {
                let end = self.text[start..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(self.text.len(), |n| start + n);
                self.pos = end;
                return Some(Lexeme {
                    kind: Kind::Comment,
                    range: start + 1..end,
                });
            }
            _ => (Kind::Word, self.word(start)),
        };
        self.pos = end.min(self.text.len());
        Some(Lexeme {
            kind,
            range: start..self.pos,
        })
    }
}

/// A macro name as ipsecctl accepts it after `$`.
fn is_macro_name(word: &[u8]) -> bool {
    !word.is_empty() && word.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The names referenced as `$name` in `text`.
pub fn macro_references(text: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = text[i..].iter().position(|&b| b == b'$') {
        let start = i + p + 1;
        let len = text[start..]
            .iter()
            .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_')
            .count();
        if len > 0 {
            out.push(String::from_utf8_lossy(&text[start..start + len]).into_owned());
        }
        i = start + len;
    }
    out
}

/// The inside of a lexeme: a quoted string without its quotes (the
/// closing one may be missing).
fn inner(text: &[u8], l: &Lexeme) -> Range<usize> {
    if l.kind != Kind::Quoted {
        return l.range.clone();
    }
    let quote = text[l.range.start];
    let end = if l.range.len() > 1 && text[l.range.end - 1] == quote {
        l.range.end - 1
    } else {
        l.range.end
    };
    l.range.start + 1..end
}

struct Scanner<'t> {
    text: &'t [u8],
    lexer: std::iter::Peekable<Lexer<'t>>,
    found: Found,
}

impl Scanner<'_> {
    fn peek_kind(&mut self) -> Option<Kind> {
        self.lexer.peek().map(|l| l.kind)
    }

    fn peek_is_colon(&mut self) -> bool {
        let text = self.text;
        self.lexer.peek().is_some_and(|l| {
            l.kind == Kind::Word && text[l.range.clone()].iter().all(|&b| b == b':')
        })
    }

    /// What follows a key keyword: `=` and `:` are skipped, then a value,
    /// and more after a `:` (`0xA : 0xB`, a key pair written apart).
    fn key_value(&mut self) {
        loop {
            while self.peek_kind() == Some(Kind::Equals) || self.peek_is_colon() {
                self.lexer.next();
            }
            let Some(l) = self
                .lexer
                .next_if(|l| matches!(l.kind, Kind::Word | Kind::Quoted))
            else {
                return;
            };
            let text = &self.text[l.range.clone()];
            if l.kind == Kind::Word && text.starts_with(b"$") {
                self.found.key_macros.extend(macro_references(text));
            } else if l.kind == Kind::Quoted || !text.eq_ignore_ascii_case(b"file") {
                // `psk:key` is read as `psk` and `:key`; the colon is no key
                let colons = text.iter().take_while(|&&b| b == b':').count();
                self.found.values.push(l.range.start + colons..l.range.end);
            }
            if !(text.ends_with(b":") || self.peek_is_colon()) {
                return;
            }
        }
    }

    /// A macro definition's value: what follows `=` to the end of the line.
    fn definition(&mut self, name: Range<usize>) {
        let mut parts: Vec<Lexeme> = Vec::with_capacity(1);
        while let Some(l) = self
            .lexer
            .next_if(|l| !matches!(l.kind, Kind::Newline | Kind::Comment))
        {
            if parts.len() < 2 {
                parts.push(l);
            } else {
                parts[1] = l;
            }
        }
        let value = match parts.as_slice() {
            [] => return,
            [one] => inner(self.text, one),
            [first, .., last] => first.range.start..last.range.end,
        };
        self.found.defs.push(Def { name, value });
    }

    fn comment(&mut self, range: Range<usize>) {
        let inside = scan_with(&self.text[range.clone()], true);
        let shift = |r: Range<usize>| r.start + range.start..r.end + range.start;
        let values = inside.values.into_iter().chain(inside.comment_values);
        self.found.comment_values.extend(values.map(shift));
        self.found.key_macros.extend(inside.key_macros);
        self.found.defs.extend(inside.defs.into_iter().map(|d| Def {
            name: shift(d.name),
            value: shift(d.value),
        }));
    }

    fn run(mut self) -> Found {
        let mut at_start = true;
        while let Some(l) = self.lexer.next() {
            match l.kind {
                Kind::Newline => {
                    at_start = true;
                    continue;
                }
                Kind::Comment => self.comment(l.range),
                Kind::Word if is_key_keyword(&self.text[l.range.clone()]) => self.key_value(),
                Kind::Word
                    if at_start
                        && is_macro_name(&self.text[l.range.clone()])
                        && self.peek_kind() == Some(Kind::Equals) =>
                {
                    self.lexer.next();
                    self.definition(l.range);
                }
                _ => {}
            }
            at_start = false;
        }
        self.found
    }
}

fn scan_with(text: &[u8], in_comment: bool) -> Found {
    Scanner {
        text,
        lexer: Lexer {
            text,
            pos: 0,
            in_comment,
        }
        .peekable(),
        found: Found::default(),
    }
    .run()
}

/// Scans a whole file's text.
pub fn scan(text: &[u8]) -> Found {
    scan_with(text, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<&str> {
        let found = scan(text.as_bytes());
        found
            .values
            .into_iter()
            .chain(found.comment_values)
            .map(|r| &text[r])
            .collect()
    }

    #[test]
    fn values_after_key_keywords_in_any_spelling() {
        assert_eq!(
            values("ike esp peer 1.2.3.4 psk \"s1\" tag x\n"),
            ["\"s1\""]
        );
        assert_eq!(values("psk=\"s2\"\n"), ["\"s2\""]);
        assert_eq!(values("psk\"s3\"\n"), ["\"s3\""]);
        assert_eq!(values("PSK 's4'\n"), ["'s4'"]);
        assert_eq!(values("Psk : \"s5\"\n"), ["\"s5\""]);
        assert_eq!(values("psk:s6\n"), ["s6"]);
        assert_eq!(values("psk\t\ts7\r\n"), ["s7"]);
        assert_eq!(values("psk \\\n\t\"s8\"\n"), ["\"s8\""]);
        assert_eq!(values("psk \"s 9\" x\n"), ["\"s 9\""]);
        assert_eq!(values("psk \"open\nnext\n"), ["\"open\nnext\n"]);
        assert_eq!(values("enckey 0xa:0xb\n"), ["0xa:0xb"]);
        assert_eq!(values("AUTHKEY 0xa : 0xb x\n"), ["0xa", "0xb"]);
        assert_eq!(values("authkey 0xa: 0xb x\n"), ["0xa:", "0xb"]);
        assert_eq!(values("# psk \"old\"\n"), ["\"old\""]);
        assert_eq!(values("# don't psk it\n"), ["it"]);
    }

    #[test]
    fn what_is_not_a_key() {
        assert!(values("authkey file \"/etc/k\"\n").is_empty());
        assert!(values("psk $k\n").is_empty());
        assert!(values("flow esp from a to b srcid mypsk\n").is_empty());
        assert!(values("ike esp psk\n").is_empty());
        let found = scan(b"# the psk is \"x\"\n");
        assert!(found.values.is_empty() && found.comment_values.len() == 1);
        assert_eq!(scan(b"psk $k\nx = \"$a $b\"\n").key_macros, ["k"]);
    }

    #[test]
    fn macro_definitions_over_lines() {
        let text = "a = \"one\\\ntwo\"\n  b=c d # c\nflow x = y\nq = \"x\nz\"\n";
        let found = scan(text.as_bytes());
        let defs: Vec<(&str, &str)> = found
            .defs
            .iter()
            .map(|d| (&text[d.name.clone()], &text[d.value.clone()]))
            .collect();
        assert_eq!(defs, [("a", "one\\\ntwo"), ("b", "c d"), ("q", "x\nz")]);
    }

    #[test]
    fn references() {
        assert_eq!(macro_references(b"$a x $b_1$c $"), ["a", "b_1", "c"]);
    }
}
