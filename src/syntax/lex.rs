//! The lexer: reads the characters of a file, and of the files it includes,
//! and yields tokens the way ipsecctl's lexer does, quirks included, because
//! they decide what a configuration means:
//!
//! * `#` starts a comment to the end of the line;
//! * outside quotes a backslash before a newline joins the lines, and before
//!   any other character stands for that character;
//! * `"..."` and `'...'` quote; a newline inside quotes is dropped;
//! * `$name` at the start of a token is replaced by the macro's value, which
//!   is then read as if it stood in the file (not expanded again);
//! * a run of digits (with an optional leading `-`) is a number only when a
//!   space or one of `) , / } =` follows it; otherwise it starts a word;
//! * a word is a keyword when it is one, else a string.
//!
//! Errors are collected as diagnostics.  Where ipsecctl gives up on the rest
//! of a line, the lexer does too and yields an `Error` token.

use std::sync::Arc;

use crate::diag::{Diagnostic, FileId, Kind, Span};
use crate::syntax::keyword::Keyword;
use crate::syntax::macros::{MacroId, Macros};
use crate::syntax::source::Sources;

/// ipsecctl reads tokens into an 8096-byte buffer; these are the longest
/// quoted string (or macro name) and word it accepts.
const QUOTED_MAX: usize = 8094;
const WORD_MAX: usize = 8095;

/// Bytes of macro values one statement may expand: enough for a list of
/// every network a rule may hold (65536), far below what macros defined
/// from each other (`m2 = $m1 $m1`) can double up to in a few lines.
pub const MAX_STATEMENT_EXPANSION: usize = 1 << 20;
/// Bytes of macro values a whole run may expand: one value used on every
/// line of a file would otherwise multiply the input without bound.
pub const MAX_TOTAL_EXPANSION: usize = 64 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokKind {
    Keyword(Keyword),
    Str(String),
    Number(i64),
    /// Any other single character.
    Char(u8),
    Newline,
    /// The rest of the line was skipped after a lexical error.
    Error,
    Eof,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub kind: TokKind,
    /// Where the token is; for a token from a macro's value, the `$name`.
    pub span: Span,
    /// The macro whose value the token came from.
    pub macro_use: Option<MacroId>,
}

impl Token {
    pub fn line(&self) -> u32 {
        self.span.line
    }
}

/// Where a character came from.
#[derive(Clone, Copy, Debug)]
struct Loc {
    span: Span,
    macro_use: Option<MacroId>,
}

type Char = Option<(u8, Loc)>;

#[derive(Debug)]
struct Cursor {
    file: FileId,
    pos: usize,
    line: u32,
    line_start: usize,
}

/// The value of the macro being read, as ipsecctl's `parsebuf`.
#[derive(Debug)]
struct MacroText {
    value: Arc<[u8]>,
    next: isize,
    loc: Loc,
}

#[derive(Debug)]
pub struct Lexer {
    stack: Vec<Cursor>,
    expansion: Option<MacroText>,
    pushback: Vec<(u8, Loc)>,
    token_start: Loc,
    diags: Vec<Diagnostic>,
    /// Reused for every word and number, so that a keyword costs no
    /// allocation.
    word_buf: Vec<u8>,
    digit_buf: Vec<(u8, Loc)>,
    /// Bytes of macro values expanded in the current statement, and in all.
    statement_expanded: usize,
    total_expanded: usize,
    /// Whether plain tokens are read straight from the bytes (see
    /// `plain_token`); the tests compare with the careful path alone.
    plain: bool,
    /// The bytes of the last string token, when they are not UTF-8 (its
    /// text then has U+FFFD in their place): a path is bytes.
    last_raw: Option<Vec<u8>>,
}

/// isspace(3) in the C locale.
pub fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

fn ends_number(c: u8) -> bool {
    is_c_space(c) || matches!(c, b')' | b',' | b'/' | b'}' | b'=')
}

/// The characters that continue a word, as a table: the lexer asks for
/// every character of every word.
const WORD_CONTINUES: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let mut stop = false;
        let mut i = 0;
        let stops = b"(){}<>!=/#,";
        while i < stops.len() {
            stop |= stops[i] == b;
            i += 1;
        }
        table[c] = b.is_ascii_alphanumeric() || (b.is_ascii_punctuation() && !stop);
        c += 1;
    }
    table
};

fn continues_word(c: u8) -> bool {
    WORD_CONTINUES[c as usize]
}

fn starts_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b':' | b'_' | b'*')
}

/// Token text as a string, when it is UTF-8 (the plain path reads no
/// other: the careful one keeps the bytes too, see [`Lexer::take_raw`]).
fn utf8_string(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes).ok().map(str::to_owned)
}

/// strtonum(3) over the whole range of a 64-bit integer.
fn parse_number(text: &str) -> Result<i64, &'static str> {
    text.parse::<i64>().map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow => "too large",
        std::num::IntErrorKind::NegOverflow => "too small",
        _ => "invalid",
    })
}

/// The token at `start` of plain bytes (a file's, or a macro's value),
/// and where it ends, when the careful path cannot read it differently: a
/// word or number ended by a byte that is there and is no backslash, a
/// quoted string without escapes or newlines, or punctuation.
fn plain_kind(text: &[u8], start: usize) -> Option<(TokKind, usize)> {
    let b = *text.get(start)?;
    Some(match b {
        b'"' | b'\'' => {
            let len = text[start + 1..]
                .iter()
                .position(|&c| c == b || c == b'\\' || c == b'\n' || c == 0)?;
            let close = start + 1 + len;
            if text[close] != b || len >= QUOTED_MAX {
                return None;
            }
            let value = utf8_string(&text[start + 1..close])?;
            (TokKind::Str(value), close + 1)
        }
        b'0'..=b'9' => {
            let digits = text[start..].iter().position(|c| !c.is_ascii_digit())?;
            let next = text[start + digits];
            if next == b'\\' || digits > WORD_MAX {
                return None;
            }
            if ends_number(next) {
                let number = std::str::from_utf8(&text[start..start + digits]).ok()?;
                (TokKind::Number(parse_number(number).ok()?), start + digits)
            } else {
                // digits that start a word: the word they begin
                plain_word(text, start)?
            }
        }
        _ if starts_word(b) => plain_word(text, start)?,
        b'\n' | b'#' | b'$' | b'-' | b'\\' | b' ' | b'\t' | 0 => return None,
        _ => (TokKind::Char(b), start + 1),
    })
}

/// The word at `start` of `text`, and where it ends, when a byte that
/// cannot continue it (and is no backslash) ends it.
fn plain_word(text: &[u8], start: usize) -> Option<(TokKind, usize)> {
    // a backslash continues a word, but may join the next line to it
    let len = text[start..]
        .iter()
        .position(|&c| !continues_word(c) || c == b'\\')?;
    let end = start + len;
    if text[end] == b'\\' || len > WORD_MAX {
        return None;
    }
    let word = &text[start..end];
    let kind = match Keyword::lookup(word) {
        Some(kw) => TokKind::Keyword(kw),
        None => TokKind::Str(utf8_string(word)?),
    };
    Some((kind, end))
}

impl Lexer {
    pub fn new(file: FileId) -> Self {
        let start = Loc {
            span: Span {
                file,
                line: 1,
                col: 1,
                ..Span::default()
            },
            macro_use: None,
        };
        Lexer {
            stack: vec![Cursor {
                file,
                pos: 0,
                line: 1,
                line_start: 0,
            }],
            expansion: None,
            pushback: Vec::new(),
            token_start: start,
            diags: Vec::new(),
            word_buf: Vec::with_capacity(64),
            digit_buf: Vec::with_capacity(16),
            statement_expanded: 0,
            total_expanded: 0,
            plain: true,
            last_raw: None,
        }
    }

    /// Continues reading in `file` until its end, then where it left off.
    pub fn push_file(&mut self, file: FileId) {
        self.stack.push(Cursor {
            file,
            pos: 0,
            line: 1,
            line_start: 0,
        });
    }

    /// Lexical errors found since the last call.
    pub fn take_diags(&mut self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.diags)
    }

    /// The bytes of the token just read, when it is a string whose bytes
    /// are not UTF-8; taken once.
    pub fn take_raw(&mut self) -> Option<Vec<u8>> {
        self.last_raw.take()
    }

    /// A string token of `bytes`: its text, and its bytes kept when they
    /// are not UTF-8.
    fn string(&mut self, bytes: &[u8]) -> TokKind {
        match std::str::from_utf8(bytes) {
            Ok(s) => TokKind::Str(s.to_owned()),
            Err(_) => {
                self.last_raw = Some(bytes.to_vec());
                TokKind::Str(String::from_utf8_lossy(bytes).into_owned())
            }
        }
    }

    fn error(&mut self, kind: Kind, message: String) {
        let span = self.token_start.span;
        self.diags.push(Diagnostic::error(kind, span, message));
    }

    fn here(&self) -> Loc {
        let cur = self.stack.last().expect("the top file is never popped");
        Loc {
            span: Span {
                file: cur.file,
                start: cur.pos as u32,
                end: cur.pos as u32,
                line: cur.line,
                col: (cur.pos - cur.line_start) as u32 + 1,
            },
            macro_use: None,
        }
    }

    /// The next byte of the current file, as getc(3).
    fn getc(&mut self, src: &Sources) -> Char {
        let cur = self.stack.last_mut()?;
        let c = *src.get(cur.file).text.get(cur.pos)?;
        let span = Span {
            file: cur.file,
            start: cur.pos as u32,
            end: cur.pos as u32 + 1,
            line: cur.line,
            col: (cur.pos - cur.line_start) as u32 + 1,
        };
        cur.pos += 1;
        if c == b'\n' {
            cur.line += 1;
            cur.line_start = cur.pos;
        }
        Some((
            c,
            Loc {
                span,
                macro_use: None,
            },
        ))
    }

    /// Reads plain bytes straight from the file while `keep` accepts them:
    /// no macro is being expanded, nothing was put back, and no backslash or
    /// newline (which need the careful path) is among them.  Returns the
    /// bytes and the place of the last one.
    fn scan<'s>(&mut self, src: &'s Sources, keep: impl Fn(u8) -> bool) -> Option<(&'s [u8], Loc)> {
        if self.expansion.is_some() || !self.pushback.is_empty() {
            return None;
        }
        let cur = self.stack.last_mut()?;
        let text = &src.get(cur.file).text;
        let start = cur.pos;
        let len = text[start..]
            .iter()
            .position(|&b| b == b'\\' || b == b'\n' || !keep(b))
            .unwrap_or(text.len() - start);
        if len == 0 {
            return None;
        }
        cur.pos += len;
        let last = start + len - 1;
        let loc = Loc {
            span: Span {
                file: cur.file,
                start: last as u32,
                end: last as u32 + 1,
                line: cur.line,
                col: (last - cur.line_start) as u32 + 1,
            },
            macro_use: None,
        };
        Some((&text[start..start + len], loc))
    }

    /// The next byte of the file, when it can be read plainly (as `scan`
    /// reads) and is none that needs the careful path.
    fn peek_plain(&self, src: &Sources) -> Option<u8> {
        if self.expansion.is_some() || !self.pushback.is_empty() {
            return None;
        }
        let cur = self.stack.last()?;
        let b = *src.get(cur.file).text.get(cur.pos)?;
        (b != b'\\').then_some(b)
    }

    /// Leaves an included file at its end.  A last line without a newline
    /// ends there, as the newline after the `include` ends it in ipsecctl.
    fn pop_file(&mut self, src: &Sources) -> Option<Char> {
        if self.stack.len() <= 1 {
            return None;
        }
        let end = self.here();
        let cur = self.stack.pop()?;
        let text = &src.get(cur.file).text;
        if text.last().is_some_and(|&b| b != b'\n') {
            return Some(Some((b'\n', end)));
        }
        Some(None)
    }

    /// The next character: from the macro being expanded, from what was put
    /// back, or from the file (joining continued lines outside quotes).
    fn lgetc(&mut self, quote: Option<u8>, src: &Sources) -> Char {
        if let Some(m) = self.expansion.as_mut() {
            if m.next >= 0 {
                let i = m.next as usize;
                m.next += 1;
                match m.value.get(i) {
                    Some(&c) if c != 0 => return Some((c, m.loc)),
                    _ => self.expansion = None,
                }
            } else {
                m.next += 1;
            }
        }
        if let Some(c) = self.pushback.pop() {
            return Some(c);
        }
        if let Some(q) = quote {
            if let Some(c) = self.getc(src) {
                return Some(c);
            }
            self.error(
                Kind::UnterminatedString,
                "reached end of file while parsing quoted string".into(),
            );
            let end = self.here();
            let popped = self.pop_file(src)?;
            if let Some(newline) = popped {
                // read after the closing quote, as the parent's newline is
                self.pushback.push(newline);
            }
            return Some((q, end));
        }
        let mut c = self.getc(src);
        while let Some((b'\\', _)) = c {
            let next = self.getc(src);
            if !matches!(next, Some((b'\n', _))) {
                c = next;
                break;
            }
            c = self.getc(src);
        }
        while c.is_none() {
            match self.pop_file(src)? {
                Some(newline) => return Some(newline),
                None => c = self.getc(src),
            }
        }
        c
    }

    fn lungetc(&mut self, c: Char) {
        let Some(c) = c else { return };
        if let Some(m) = self.expansion.as_mut() {
            m.next -= 1;
            if m.next >= 0 {
                return;
            }
        }
        self.pushback.push(c);
    }

    /// Skips the rest of the line, its newline included.
    fn skip_line(&mut self, src: &Sources) -> TokKind {
        self.expansion = None;
        loop {
            let c = match self.pushback.pop() {
                Some(c) => Some(c),
                None => self.lgetc(None, src),
            };
            if matches!(c, None | Some((b'\n', _))) {
                // the next line has its own allowance of macro text
                self.statement_expanded = 0;
                return TokKind::Error;
            }
        }
    }

    fn token(&self, kind: TokKind, last: Option<Loc>) -> Token {
        let start = self.token_start;
        let mut span = start.span;
        if let Some(last) = last
            && start.macro_use.is_none()
            && last.span.file == span.file
            && last.span.end > span.start
        {
            span.end = last.span.end;
        }
        Token {
            kind,
            span,
            macro_use: start.macro_use,
        }
    }

    /// The next token.  After `Eof` it keeps returning `Eof`.
    pub fn next_token(&mut self, src: &Sources, macros: &mut Macros) -> Token {
        loop {
            self.skip_plain_blanks(src);
            if let Some(token) = self.plain_token(src) {
                return token;
            }
            let mut c = self.lgetc(None, src);
            while let Some((b' ' | b'\t', _)) = c {
                c = self.lgetc(None, src);
            }
            self.token_start = c.map_or_else(|| self.here(), |(_, loc)| loc);
            if let Some((b'#', _)) = c {
                while !matches!(c, None | Some((b'\n', _))) {
                    c = self.lgetc(None, src);
                }
                if let Some((_, loc)) = c {
                    self.token_start = loc;
                }
            }
            if let Some((b'$', _)) = c
                && self.expansion.is_none()
            {
                match self.macro_reference(src, macros) {
                    Some(token) => return token,
                    None => continue,
                }
            }
            return self.token_after(c, src);
        }
    }

    /// The next token read straight from the bytes, when it is one that
    /// cannot come out differently by the careful path (see [`plain_kind`]),
    /// a newline, or a comment's newline.  Most of a
    /// configuration is such tokens.  `None` leaves the lexer as it was
    /// (but for blanks skipped in a macro's value).
    fn plain_token(&mut self, src: &Sources) -> Option<Token> {
        if !self.plain {
            return None;
        }
        // a macro's value is read before what was put back (the character
        // after `$name` waits there until the value ends)
        if self.expansion.is_some() {
            return self.plain_macro_token();
        }
        if !self.pushback.is_empty() {
            return None;
        }
        let cur = self.stack.last()?;
        let text = &src.get(cur.file).text;
        let mut start = cur.pos;
        if text.get(start) == Some(&b'#') {
            // a comment ends at its newline, which is the token (unless a
            // backslash joins the next line to it)
            let len = text[start..]
                .iter()
                .position(|&c| c == b'\n' || c == b'\\')?;
            start += len;
        }
        let (kind, end) = match *text.get(start)? {
            b'\n' => (TokKind::Newline, start + 1),
            _ => plain_kind(text, start)?,
        };
        let span = Span {
            file: cur.file,
            start: start as u32,
            end: end as u32,
            line: cur.line,
            col: (start - cur.line_start) as u32 + 1,
        };
        self.token_start = Loc {
            span: Span {
                end: start as u32 + 1,
                ..span
            },
            macro_use: None,
        };
        let cur = self.stack.last_mut()?;
        cur.pos = end;
        if kind == TokKind::Newline {
            cur.line += 1;
            cur.line_start = end;
            self.statement_expanded = 0;
        }
        Some(Token {
            kind,
            span,
            macro_use: None,
        })
    }

    /// [`Lexer::plain_token`] in the value of the macro being expanded:
    /// every token of it is placed at the `$name`.  Blanks are skipped as
    /// the careful path skips them; a token must end inside the value (one
    /// running to its end may go on in the file), and a newline, comment
    /// or NUL byte take the careful path.
    fn plain_macro_token(&mut self) -> Option<Token> {
        let m = self.expansion.as_mut()?;
        let value = &m.value[..];
        let from = usize::try_from(m.next).ok()?;
        let blanks = value
            .get(from..)?
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        let start = from + blanks;
        m.next = start as isize;
        if matches!(value.get(start)?, b'\n' | b'#' | 0) {
            return None;
        }
        let (kind, end) = plain_kind(value, start)?;
        if value.get(end) == Some(&0) {
            return None; // the value ends there
        }
        m.next = end as isize;
        self.token_start = m.loc;
        Some(Token {
            kind,
            span: m.loc.span,
            macro_use: m.loc.macro_use,
        })
    }

    /// Skips blanks, and lines joined by a backslash, before a token: what
    /// the careful path skips there, read straight from the bytes.
    fn skip_plain_blanks(&mut self, src: &Sources) {
        loop {
            let _ = self.scan(src, |b| b == b' ' || b == b'\t');
            if !self.plain || self.expansion.is_some() || !self.pushback.is_empty() {
                return;
            }
            let Some(cur) = self.stack.last_mut() else {
                return;
            };
            let text = &src.get(cur.file).text;
            if text.get(cur.pos..cur.pos + 2) != Some(b"\\\n") {
                return;
            }
            cur.pos += 2;
            cur.line += 1;
            cur.line_start = cur.pos;
        }
    }

    /// Reads `$name`; starts expanding it, or returns the token that ends the
    /// attempt (end of file, or an error).
    fn macro_reference(&mut self, src: &Sources, macros: &mut Macros) -> Option<Token> {
        let mut name = Vec::new();
        let mut last = self.token_start;
        loop {
            let c = self.lgetc(None, src);
            let Some((b, loc)) = c else {
                return Some(self.token(TokKind::Eof, None));
            };
            if name.len() >= QUOTED_MAX {
                self.error(Kind::StringTooLong, "string too long".into());
                let kind = self.skip_line(src);
                return Some(self.token(kind, None));
            }
            if b.is_ascii_alphanumeric() || b == b'_' {
                name.push(b);
                last = loc;
                continue;
            }
            self.lungetc(c);
            break;
        }
        let name = String::from_utf8_lossy(&name).into_owned();
        let Some((id, value)) = macros.expand(&name, self.token_start.span) else {
            self.error(Kind::MacroUndefined, format!("macro '{name}' not defined"));
            let kind = self.skip_line(src);
            return Some(self.token(kind, None));
        };
        if let Err(msg) = self.count_expansion(&name, value.len()) {
            self.error(Kind::StringTooLong, msg);
            let kind = self.skip_line(src);
            return Some(self.token(kind, None));
        }
        let mut span = self.token_start.span;
        span.end = last.span.end.max(span.end);
        self.expansion = Some(MacroText {
            value,
            next: 0,
            loc: Loc {
                span,
                macro_use: Some(id),
            },
        });
        None
    }

    /// Counts `len` bytes of macro `name` against the expansion limits.
    fn count_expansion(&mut self, name: &str, len: usize) -> Result<(), String> {
        let statement = self.statement_expanded.saturating_add(len);
        if statement > MAX_STATEMENT_EXPANSION {
            return Err(format!(
                "macro '{name}' expanded here makes {statement} bytes of macro text \
                 in one statement; at most {MAX_STATEMENT_EXPANSION} are allowed"
            ));
        }
        let total = self.total_expanded.saturating_add(len);
        if total > MAX_TOTAL_EXPANSION {
            return Err(format!(
                "macro '{name}' expanded here makes more than {MAX_TOTAL_EXPANSION} \
                 bytes of macro text in all, the most allowed"
            ));
        }
        self.statement_expanded = statement;
        self.total_expanded = total;
        Ok(())
    }

    fn token_after(&mut self, c: Char, src: &Sources) -> Token {
        let Some((b, loc)) = c else {
            return self.token(TokKind::Eof, None);
        };
        match b {
            b'\'' | b'"' => return self.quoted(b, src),
            b'\n' => {
                self.statement_expanded = 0;
                return self.token(TokKind::Newline, Some(loc));
            }
            _ => {}
        }
        if b == b'-' || b.is_ascii_digit() {
            let digits = match self.number((b, loc), src) {
                Ok(token) => return token,
                Err(digits) => digits,
            };
            if b == b'-' {
                // a lone '-': the digits after it are read again
                for &c in digits[1..].iter().rev() {
                    self.lungetc(Some(c));
                }
                return self.token(TokKind::Char(b'-'), Some(loc));
            }
            // the digits start a word, as ipsecctl re-reads them as one
            let token = self.word(&digits, src);
            self.digit_buf = digits;
            return token;
        }
        if starts_word(b) {
            return self.word(&[(b, loc)], src);
        }
        self.token(TokKind::Char(b), Some(loc))
    }

    fn quoted(&mut self, quote: u8, src: &Sources) -> Token {
        let mut text = Vec::new();
        loop {
            if text.len() < QUOTED_MAX
                && let Some((run, _)) = self.scan(src, |b| b != quote && b != 0)
            {
                let room = QUOTED_MAX - text.len();
                if run.len() <= room {
                    text.extend_from_slice(run);
                } else {
                    // too long: the careful path below reports it
                    text.extend_from_slice(&run[..room]);
                    if let Some(cur) = self.stack.last_mut() {
                        cur.pos -= run.len() - room;
                    }
                }
            }
            let Some((mut b, loc)) = self.lgetc(Some(quote), src) else {
                return self.token(TokKind::Eof, None);
            };
            if b == b'\n' {
                continue;
            } else if b == b'\\' {
                let next = self.lgetc(Some(quote), src);
                let Some((n, _)) = next else {
                    return self.token(TokKind::Eof, None);
                };
                if n == quote || n == b' ' || n == b'\t' {
                    b = n;
                } else if n == b'\n' {
                    continue;
                } else {
                    self.lungetc(next);
                }
            } else if b == quote {
                let kind = self.string(&text);
                return self.token(kind, Some(loc));
            } else if b == 0 {
                self.error(Kind::SyntaxError, "syntax error".into());
                let kind = self.skip_line(src);
                return self.token(kind, None);
            }
            if text.len() >= QUOTED_MAX {
                self.error(Kind::StringTooLong, "string too long".into());
                let kind = self.skip_line(src);
                return self.token(kind, None);
            }
            text.push(b);
        }
    }

    /// A number, or `Err` with the characters read when they turn out to
    /// start a word (the character after them is put back).
    fn number(&mut self, first: (u8, Loc), src: &Sources) -> Result<Token, Vec<(u8, Loc)>> {
        let mut digits = std::mem::take(&mut self.digit_buf);
        digits.clear();
        digits.push(first);
        // the character after the digits: looked at where it can be read
        // plainly, else read and put back
        let next: Option<u8> = loop {
            if digits.len() > WORD_MAX {
                self.digit_buf = digits;
                self.error(Kind::StringTooLong, "string too long".into());
                let kind = self.skip_line(src);
                return Ok(self.token(kind, None));
            }
            if let Some(b) = self.peek_plain(src).filter(|b| !b.is_ascii_digit()) {
                break Some(b);
            }
            let c = self.lgetc(None, src);
            match c {
                Some((d, loc)) if d.is_ascii_digit() => digits.push((d, loc)),
                _ => {
                    self.lungetc(c);
                    break c.map(|(b, _)| b);
                }
            }
        };
        let only_minus = digits.len() == 1 && first.0 == b'-';
        if !only_minus && next.is_none_or(ends_number) {
            let mut text = std::mem::take(&mut self.word_buf);
            text.clear();
            text.extend(digits.iter().map(|&(d, _)| d));
            let last = digits.last().map(|&(_, loc)| loc);
            self.digit_buf = digits;
            // only '-' and digits: always UTF-8
            let number = std::str::from_utf8(&text).map_or(Err("invalid"), parse_number);
            let token = match number {
                Ok(n) => self.token(TokKind::Number(n), last),
                Err(why) => {
                    let text = String::from_utf8_lossy(&text).into_owned();
                    self.error(
                        Kind::InvalidNumber,
                        format!("\"{text}\" invalid number: {why}"),
                    );
                    let kind = self.skip_line(src);
                    self.token(kind, None)
                }
            };
            self.word_buf = text;
            return Ok(token);
        }
        Err(digits)
    }

    /// A word that starts with `start` (its first character, or the digits
    /// a number turned out not to be).
    fn word(&mut self, start: &[(u8, Loc)], src: &Sources) -> Token {
        let mut text = std::mem::take(&mut self.word_buf);
        text.clear();
        text.extend(start.iter().map(|&(b, _)| b));
        let mut last = start.last().map_or(self.token_start, |&(_, l)| l);
        if let Some((run, loc)) = self.scan(src, continues_word) {
            text.extend_from_slice(run);
            last = loc;
        }
        // the word ends at a plain character that cannot continue it
        let mut ended = self.peek_plain(src).is_some_and(|b| !continues_word(b));
        loop {
            if text.len() > WORD_MAX {
                self.word_buf = text;
                self.error(Kind::StringTooLong, "string too long".into());
                let kind = self.skip_line(src);
                return self.token(kind, None);
            }
            if ended {
                break;
            }
            let c = self.lgetc(None, src);
            match c {
                Some((b, loc)) if continues_word(b) => {
                    text.push(b);
                    last = loc;
                }
                _ => {
                    self.lungetc(c);
                    ended = true;
                }
            }
        }
        let kind = match Keyword::lookup(&text) {
            Some(kw) => TokKind::Keyword(kw),
            None => self.string(&text),
        };
        self.word_buf = text;
        self.token(kind, Some(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::source::SourceFile;

    fn lex(text: &str, macros: &mut Macros) -> (Vec<TokKind>, Vec<String>) {
        let mut src = Sources::default();
        let id = src.add(SourceFile::text("t", text.as_bytes().to_vec()));
        let mut lexer = Lexer::new(id);
        let mut kinds = Vec::new();
        loop {
            let t = lexer.next_token(&src, macros);
            if t.kind == TokKind::Eof {
                break;
            }
            kinds.push(t.kind);
        }
        let errs = lexer.take_diags().into_iter().map(|d| d.message).collect();
        (kinds, errs)
    }

    fn s(text: &str) -> TokKind {
        TokKind::Str(text.into())
    }

    /// Every token (kind, span, macro) and message, lexing `text` with the
    /// plain path or with the careful path alone.
    fn lex_all(text: &[u8], plain: bool) -> (Vec<String>, Vec<String>) {
        let mut src = Sources::default();
        let id = src.add(SourceFile::text("t", text.to_vec()));
        let mut macros = Macros::default();
        // values ending in a word, a number or blanks (which go on in the
        // file), with quotes, comments, newlines and dashes
        let values = [
            ("m", "{ 1.1.1.1 \"q\" }"),
            ("n", " 12 ab-c 3x '#' \"x\\\"y\" -4 z"),
            ("w", "word"),
            ("d", "7"),
            ("e", ""),
            ("k", "a\tb\nc "),
            ("h", "x # y"),
            ("q", "\"open"),
            ("s", "a\\ b/24,c=d"),
            // a NUL ends a value (as in ipsecctl's C string)
            ("z", "ab\0cd 1\0"),
        ];
        for (name, value) in values {
            macros.define(name.into(), value.into(), None, Span::default(), 0);
        }
        let mut lexer = Lexer::new(id);
        lexer.plain = plain;
        let mut tokens = Vec::new();
        loop {
            let t = lexer.next_token(&src, &mut macros);
            tokens.push(format!("{:?} {:?} {:?}", t.kind, t.span, t.macro_use));
            if t.kind == TokKind::Eof {
                break;
            }
        }
        let errs = lexer
            .take_diags()
            .into_iter()
            .map(|d| format!("{d:?}"))
            .collect();
        (tokens, errs)
    }

    #[test]
    fn the_plain_path_reads_as_the_careful_one() {
        let mut texts: Vec<Vec<u8>> = [
            "ike esp from 10.0.0.0/24 to 10.1.0.0/16 peer 1.2.3.4 psk \"k\"\n",
            "a = \"x y\"\nflow from $a to $m\n",
            "$m$n $w$w $d1 $d $e $k $h $q\" $s x\n$w",
            "$z-x $z x\n$z2\n",
            "x\\\ny 12\\\n3 12( -5 -x - 99999999999999999999 7a 0x1f\n",
            "'a\\'b' \"open\nline\" \"\" '' \"a\\\\\" # c \\\n more\n",
            "\r\x0b{a,b}/24=\"v\"\t\t!x\x00y\u{e9}\u{2603} word\n",
            "12",
            "word",
            "\"unterminated",
            "-",
            "7",
            "a\\",
            "tail 1",
        ]
        .iter()
        .map(|t| t.as_bytes().to_vec())
        .collect();
        texts.push(
            format!(
                "{} {}\n",
                "w".repeat(WORD_MAX + 1),
                "1".repeat(WORD_MAX + 2)
            )
            .into_bytes(),
        );
        texts.push(
            format!(
                "\"{}\" \"{}\"\n",
                "q".repeat(QUOTED_MAX - 1),
                "q".repeat(QUOTED_MAX)
            )
            .into_bytes(),
        );
        texts.push(b"bad \xff\xfe utf8 \"\xc3\" 1\xff\n".to_vec());
        let cases = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
        for entry in std::fs::read_dir(cases).unwrap() {
            texts.push(std::fs::read(entry.unwrap().path()).unwrap());
        }
        for text in &texts {
            assert_eq!(
                lex_all(text, true),
                lex_all(text, false),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn the_plain_path_reads_any_text_as_the_careful_one(
            text in "[a-z0-9 \\t\\r\\n\"'\\\\#$=/{}(),:_*.!-]{0,60}"
        ) {
            proptest::prop_assert_eq!(
                lex_all(text.as_bytes(), true),
                lex_all(text.as_bytes(), false)
            );
        }
    }

    #[test]
    fn words_numbers_and_punctuation() {
        let (k, e) = lex("ike 10.0.2/24 {a,b} -x 12(\n", &mut Macros::default());
        assert!(e.is_empty());
        assert_eq!(
            k,
            vec![
                TokKind::Keyword(Keyword::Ike),
                s("10.0.2"),
                TokKind::Char(b'/'),
                TokKind::Number(24),
                TokKind::Char(b'{'),
                s("a"),
                TokKind::Char(b','),
                s("b"),
                TokKind::Char(b'}'),
                TokKind::Char(b'-'),
                s("x"),
                s("12"),
                TokKind::Char(b'('),
                TokKind::Newline,
            ]
        );
    }

    #[test]
    fn quotes_comments_and_continuations() {
        let (k, _) = lex(
            "\"a b\" 'c\\'d' # comment\nx\\\ny \\q\n",
            &mut Macros::default(),
        );
        assert_eq!(
            k,
            vec![
                s("a b"),
                s("c'd"),
                TokKind::Newline,
                // a continuation joins the lines as they are, even mid-word
                s("xy"),
                s("q"),
                TokKind::Newline,
            ]
        );
    }

    #[test]
    fn macros_expand_at_token_start_only() {
        let mut m = Macros::default();
        m.define(
            "n".into(),
            "{ 1.1.1.1, 2.2.2.2 }".into(),
            None,
            Span::default(),
            0,
        );
        let (k, e) = lex("$n x$n \"$n\"\n", &mut m);
        assert!(e.is_empty());
        assert_eq!(k[0], TokKind::Char(b'{'));
        assert_eq!(k[1], s("1.1.1.1"));
        assert_eq!(k[5], s("x$n"));
        assert_eq!(k[6], s("$n"));
    }

    #[test]
    fn macro_text_is_limited_per_line() {
        let mut m = Macros::default();
        let words = "x ".repeat(300_000);
        m.define("m".into(), words, None, Span::default(), 0);
        let (k, e) = lex("$m $m\n$m\n", &mut m);
        assert_eq!(
            e,
            vec![
                "macro 'm' expanded here makes 1200000 bytes of macro text in one \
                 statement; at most 1048576 are allowed"
            ]
        );
        // the first line ends at its error; the second is within its own
        assert_eq!(k.len(), 2 * 300_000 + 2);
        assert_eq!(k[300_000], TokKind::Error);
        assert!(k[300_001..600_001].iter().all(|t| *t == s("x")));
        assert_eq!(k[600_001], TokKind::Newline);
    }

    #[test]
    fn lexical_errors() {
        let (k, e) = lex("a $nope b\nc\n\"open", &mut Macros::default());
        assert_eq!(k[0], s("a"));
        assert_eq!(k[1], TokKind::Error);
        assert_eq!(k[2], s("c"));
        assert_eq!(
            e,
            vec![
                "macro 'nope' not defined",
                "reached end of file while parsing quoted string"
            ]
        );
        let (_, e) = lex("99999999999999999999\n", &mut Macros::default());
        assert_eq!(
            e,
            vec!["\"99999999999999999999\" invalid number: too large"]
        );
    }
}
