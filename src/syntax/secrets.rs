//! Which tokens hold secrets (pre-shared keys, hex keys), and so which
//! macros do: nothing may print them unless asked to.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::diag::{FileId, Span};
use crate::syntax::ast::{KeySpec, Stmt, Tok};
use crate::syntax::load::{Parsed, Statement};
use crate::syntax::macros::MacroId;
pub use crate::syntax::secret_tokens::{REDACTED, SecretToken, unparsed_secret_tokens};

/// The tokens of a statement whose text is a secret.
pub fn secret_tokens(stmt: &Stmt) -> Vec<Tok> {
    let hex = |k: &Option<KeySpec>| match k {
        Some(KeySpec::Hex(t)) => Some(t.tok),
        _ => None,
    };
    match stmt {
        Stmt::Ike(i) => match &i.auth {
            Some(crate::syntax::ast::IkeAuth::Psk(t)) => vec![t.tok],
            _ => Vec::new(),
        },
        Stmt::Sa(s) => [hex(&s.authkey), hex(&s.enckey)]
            .into_iter()
            .flatten()
            .collect(),
        Stmt::Tcpmd5(t) => hex(&t.authkey).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Every secret token of the statements.
pub fn secret_spans(statements: &[Statement]) -> Vec<SecretToken> {
    statements
        .iter()
        .flat_map(|st| {
            let psk = matches!(st.stmt, Stmt::Ike(_));
            secret_tokens(&st.stmt).into_iter().map(move |tok| {
                let t = &st.tokens[tok as usize];
                SecretToken {
                    span: t.span,
                    macro_use: t.macro_use,
                    psk,
                }
            })
        })
        .collect()
}

/// Macros whose value ended up (in part) in a secret.
pub fn secret_macros(secrets: &[SecretToken]) -> HashSet<MacroId> {
    secrets.iter().filter_map(|s| s.macro_use).collect()
}

mod scan;

pub use scan::{is_key_keyword, macro_references};

/// Where the secrets of a configuration are and what they say, by what
/// parsed and by what the text could mean (see [`scan`]): what nothing may
/// print unless keys were asked for.
#[derive(Debug, Default, Clone)]
pub struct Redaction {
    /// Byte ranges to hide, per file, sorted and apart.
    ranges: HashMap<FileId, Vec<Range<usize>>>,
    /// Macros that hold (part of) a key, by name: every definition of
    /// such a name is hidden.
    key_macros: HashSet<String>,
    /// What statements (not comments) hold as secrets, per file: what a
    /// message may quote.
    quotable: Vec<(FileId, Range<usize>)>,
}

impl Redaction {
    /// The secrets of a loaded tree: the secret tokens the parser found,
    /// and what scanning each file's text finds.
    pub fn new(parsed: &Parsed, tokens: &[SecretToken]) -> Redaction {
        let found: Vec<(FileId, scan::Found)> = parsed
            .sources
            .iter()
            .map(|(id, f)| (id, scan::scan(&f.text)))
            .collect();
        let mut key_macros: HashSet<String> = secret_macros(tokens)
            .into_iter()
            .map(|id| parsed.macros.get(id).name.clone())
            .collect();
        key_macros.extend(found.iter().flat_map(|(_, f)| f.key_macros.iter().cloned()));
        // every macro of the keys file is a key, used or not
        key_macros.extend(
            parsed
                .macros
                .iter()
                .filter(|(_, d)| parsed.sources.get(d.span.file).keys)
                .map(|(_, d)| d.name.clone()),
        );
        let defs = found.iter().flat_map(|(id, f)| {
            let text = &parsed.sources.get(*id).text;
            f.defs
                .iter()
                .map(move |d| (&text[d.name.clone()], &text[d.value.clone()]))
        });
        let key_macros = holders_of_keys(defs, key_macros);
        let mut r = Redaction {
            key_macros,
            ..Redaction::default()
        };
        // the tokens' ranges by file, to take each file's at once
        let mut token_ranges: HashMap<FileId, Vec<Range<usize>>> = HashMap::new();
        for t in tokens.iter().filter(|t| t.macro_use.is_none()) {
            let text = &parsed.sources.get(t.span.file).text;
            token_ranges
                .entry(t.span.file)
                .or_default()
                .push(whole(text, t.span));
        }
        for (id, f) in found {
            let text = &parsed.sources.get(id).text;
            let from_tokens = token_ranges.remove(&id).unwrap_or_default();
            // messages quote what statements hold, not what comments say
            let quotable = merged(
                f.values
                    .iter()
                    .cloned()
                    .chain(from_tokens.iter().cloned())
                    .collect(),
            );
            let mut ranges = Redaction::ranges_of(&f, text, &r.key_macros);
            ranges.extend(from_tokens);
            let ranges = merged(ranges);
            r.quotable.extend(quotable.into_iter().map(|q| (id, q)));
            if !ranges.is_empty() {
                r.ranges.insert(id, ranges);
            }
        }
        r
    }

    /// The ranges of a scanned text: values after key keywords, and the
    /// values of the definitions of `key_macros` (a macro named like a key
    /// keyword holds one too).
    fn ranges_of(
        found: &scan::Found,
        text: &[u8],
        key_macros: &HashSet<String>,
    ) -> Vec<Range<usize>> {
        let mut ranges = found.values.clone();
        ranges.extend(found.comment_values.iter().cloned());
        for d in &found.defs {
            let name = &text[d.name.clone()];
            let named = String::from_utf8_lossy(name);
            if key_macros.contains(named.as_ref()) || is_key_keyword(name) {
                ranges.push(d.value.clone());
            }
        }
        ranges
    }

    /// The words of every secret of `parsed` (the tree this was made
    /// from), to take out of messages: found when there are messages.
    pub fn words(&self, parsed: &Parsed) -> SecretWords {
        let mut words = SecretWords::default();
        for (id, range) in &self.quotable {
            words.add(&parsed.sources.get(*id).text[range.clone()]);
        }
        for (_, def) in parsed.macros.iter() {
            if self.key_macros.contains(&def.name) {
                words.add(def.value.as_bytes());
            }
        }
        words
    }

    /// Does macro `name` hold a key?
    pub fn is_key_macro(&self, name: &str) -> bool {
        self.key_macros.contains(name)
    }

    /// The ranges of file `file` to hide, sorted and apart.
    pub fn ranges(&self, file: FileId) -> &[Range<usize>] {
        self.ranges.get(&file).map_or(&[], Vec::as_slice)
    }

    /// `text` with its secrets replaced by `<redacted>`, line for line.
    /// `text` is file `file` as read, or another version of it (then it
    /// is scanned anew, with the key macros of the tree).
    pub fn text(&self, file: FileId, text: &[u8], read: &[u8]) -> String {
        let fresh;
        let ranges = if text == read {
            self.ranges(file)
        } else {
            fresh = merged(self.ranges_in(text));
            &fresh
        };
        String::from_utf8_lossy(&masked(text, ranges)).into_owned()
    }

    /// The ranges of any text, by scanning it: with the key macros known,
    /// and those the text itself shows to hold keys.
    pub fn ranges_in(&self, text: &[u8]) -> Vec<Range<usize>> {
        let found = scan::scan(text);
        let mut known = self.key_macros.clone();
        known.extend(found.key_macros.iter().cloned());
        let defs = found
            .defs
            .iter()
            .map(|d| (&text[d.name.clone()], &text[d.value.clone()]));
        let key_macros = holders_of_keys(defs, known);
        Redaction::ranges_of(&found, text, &key_macros)
    }
}

/// The words of secrets, as messages would quote them.
#[derive(Debug, Default, Clone)]
pub struct SecretWords(HashSet<String>);

impl SecretWords {
    fn add(&mut self, secret: &[u8]) {
        let text = String::from_utf8_lossy(secret);
        for word in text.split(is_message_delimiter).filter(|w| !w.is_empty()) {
            if !self.0.contains(word) {
                self.0.insert(word.to_string());
            }
        }
    }

    /// A message with every word of a secret in it replaced.
    pub fn message(&self, message: &str) -> String {
        if self.0.is_empty() {
            return message.to_string();
        }
        let mut out = String::with_capacity(message.len());
        let mut word_start = 0;
        for (i, c) in message.char_indices().chain([(message.len(), ' ')]) {
            if i < message.len() && !is_message_delimiter(c) {
                continue;
            }
            let word = &message[word_start..i];
            if self.0.contains(word) {
                out.push_str(REDACTED);
            } else {
                out.push_str(word);
            }
            if i < message.len() {
                out.push(c);
            }
            word_start = i + c.len_utf8();
        }
        out
    }
}

/// The names of the macros holding keys: those given, every macro their
/// definitions (`defs`: name and value text) expand, and every macro whose
/// definition expands one of them, transitively.
fn holders_of_keys<'t>(
    defs: impl Iterator<Item = (&'t [u8], &'t [u8])>,
    given: HashSet<String>,
) -> HashSet<String> {
    // macro name -> the names it expands, and the names that expand it
    let mut expands: HashMap<String, Vec<String>> = HashMap::new();
    let mut expanded_by: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in defs {
        let name = String::from_utf8_lossy(name).into_owned();
        for inner in macro_references(value) {
            expanded_by
                .entry(inner.clone())
                .or_default()
                .push(name.clone());
            expands.entry(name.clone()).or_default().push(inner);
        }
    }
    // the parts of a key hold some of it; what copies a key holds it all
    // (but not what else the copy is made of)
    let parts = closure(given, &expands);
    closure(parts, &expanded_by)
}

/// `start` and every name reached from it through `links`.
fn closure(start: HashSet<String>, links: &HashMap<String, Vec<String>>) -> HashSet<String> {
    let mut todo: Vec<String> = start.iter().cloned().collect();
    let mut reached = start;
    while let Some(name) = todo.pop() {
        for other in links.get(&name).into_iter().flatten() {
            if reached.insert(other.clone()) {
                todo.push(other.clone());
            }
        }
    }
    reached
}

/// A token's span, within the text.
fn whole(text: &[u8], span: Span) -> Range<usize> {
    let end = (span.end as usize).min(text.len());
    (span.start as usize).min(end)..end
}

/// Sorted ranges, those that overlap or touch joined (in place: a tree's
/// ranges can be many).
fn merged(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.retain(|r| r.start < r.end);
    ranges.sort_unstable_by_key(|r| (r.start, r.end));
    let mut kept = 0;
    for i in 0..ranges.len() {
        if kept > 0 && ranges[i].start <= ranges[kept - 1].end {
            ranges[kept - 1].end = ranges[kept - 1].end.max(ranges[i].end);
        } else {
            ranges[kept] = ranges[i].clone();
            kept += 1;
        }
    }
    ranges.truncate(kept);
    ranges.shrink_to_fit();
    ranges
}

/// One line of source with every value after a key keyword (any
/// spelling) replaced by as many `*`, so columns stay where they were.
pub fn starred_line(line: &str) -> String {
    let mut bytes = line.as_bytes().to_vec();
    let found = scan::scan(line.as_bytes());
    for r in found.values.into_iter().chain(found.comment_values) {
        for b in &mut bytes[r] {
            if !matches!(*b, b'"' | b'\'') {
                *b = b'*';
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Where a message's words end: a secret is matched whole, not in part.
fn is_message_delimiter(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '`'
            | ','
            | ';'
            | ':'
            | '='
            | '('
            | ')'
            | '{'
            | '}'
            | '['
            | ']'
            | '<'
            | '>'
            | '\\'
    ) || c.is_whitespace()
}

/// `text` with each range replaced by `<redacted>`, keeping its line
/// breaks (and the backslash continuing a line) so that lines still
/// match the original's one for one.
pub fn masked(text: &[u8], ranges: &[Range<usize>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut pos = 0;
    for r in ranges {
        if r.start < pos || r.end > text.len() {
            continue;
        }
        out.extend_from_slice(&text[pos..r.start]);
        let pieces: Vec<&[u8]> = text[r.clone()].split(|&b| b == b'\n').collect();
        for (i, piece) in pieces.iter().enumerate() {
            let kept = piece
                .iter()
                .rev()
                .take_while(|&&b| b == b'\\' || b == b'\r')
                .count();
            if i == 0 || kept < piece.len() {
                out.extend_from_slice(REDACTED.as_bytes());
            }
            out.extend_from_slice(&piece[piece.len() - kept..]);
            if i + 1 < pieces.len() {
                out.push(b'\n');
            }
        }
        pos = r.end;
    }
    out.extend_from_slice(&text[pos.min(text.len())..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A text redacted with no tree behind it: by what it says alone.
    fn alone(text: &str) -> String {
        Redaction::default().text(0, text.as_bytes(), b"")
    }

    #[test]
    fn words_after_key_keywords_are_hidden() {
        assert_eq!(
            alone("ike esp peer 1.2.3.4 psk \"secret\" tag x\n"),
            "ike esp peer 1.2.3.4 psk <redacted> tag x\n"
        );
        assert_eq!(alone("psk \"se cret\" tag x\n"), "psk <redacted> tag x\n");
        assert_eq!(alone("psk \"unterminated\n"), "psk <redacted>\n");
        assert_eq!(
            alone("esp spi 1 authkey 0xabcd enckey file \"k\"\n"),
            "esp spi 1 authkey <redacted> enckey file \"k\"\n"
        );
        assert_eq!(alone("ike esp psk $k\n"), "ike esp psk $k\n");
        assert_eq!(alone("psk <redacted> x\n"), "psk <redacted> x\n");
        assert_eq!(alone("flow esp from a to b\n"), "flow esp from a to b\n");
        assert_eq!(
            alone("PSK=\"s\"\r\nPsk:s\n"),
            "PSK=<redacted>\r\nPsk:<redacted>\n"
        );
    }

    #[test]
    fn key_macros_are_hidden_line_for_line() {
        let text = "k = \"one\\\ntwo\\\n\\\nthree\"\nn = \"10.0.0.1\"\nike esp peer $n PSK $k\n";
        assert_eq!(
            alone(text),
            "k = \"<redacted>\\\n<redacted>\\\n\\\n<redacted>\"\nn = \"10.0.0.1\"\nike esp peer $n PSK $k\n"
        );
        // a macro holding one that holds a key, and one holding a copy
        let text = "a = \"s\"\nb = \"x\"\nk = $a\nc = \"$k\" $b\nike esp psk $k\n";
        assert_eq!(
            alone(text),
            "a = \"<redacted>\"\nb = \"x\"\nk = <redacted>\nc = <redacted>\nike esp psk $k\n"
        );
        assert_eq!(alone("psk = \"s\"\n"), "psk = <redacted>\n");
    }

    #[test]
    fn messages_lose_the_words_of_secrets() {
        let mut r = SecretWords::default();
        r.add(b"0xab:0xcd");
        r.add(b"two words");
        assert_eq!(
            r.message("no IP address found for two"),
            "no IP address found for <redacted>"
        );
        assert_eq!(
            r.message("key '0xcd' too short"),
            "key '<redacted>' too short"
        );
        // only whole words: a secret is not looked for inside others
        assert_eq!(r.message("networks two-by-two"), "networks two-by-two");
    }

    #[test]
    fn ranges_merge() {
        assert_eq!(merged(vec![5..6, 0..2, 1..3, 3..4, 7..7]), vec![0..4, 5..6]);
    }

    #[test]
    fn starred_lines_keep_their_columns() {
        assert_eq!(
            starred_line("ike esp Psk \"abc\" x"),
            "ike esp Psk \"***\" x"
        );
        assert_eq!(starred_line("# psk=abc"), "# psk=***");
    }

    proptest::proptest! {
        /// Any text: no panic, and as many lines out as in, so that diffs
        /// of redacted texts line up with the originals.
        #[test]
        fn any_text_keeps_its_lines(text in proptest::collection::vec(
            proptest::sample::select(b"psk PSK=:\"'\\\n\r#$k0xa= authkey enckey file\t".to_vec()),
            0..200,
        )) {
            let r = Redaction::default();
            let out = r.text(0, &text, b"");
            let lines = |t: &[u8]| t.iter().filter(|&&b| b == b'\n').count();
            proptest::prop_assert_eq!(lines(out.as_bytes()), lines(&text));
            let _ = starred_line(&String::from_utf8_lossy(&text));
        }
    }
}
