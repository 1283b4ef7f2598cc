//! Loading: reads a configuration file and everything it includes, and
//! splits it into parsed statements.  Macro definitions take effect as they
//! are read, so a macro is known from the statement after its definition on.

use crate::diag::{Diagnostic, FileId, Kind, Span};
use crate::syntax::ast::{Stmt, Text, Tok};
use crate::syntax::lex::{Lexer, TokKind, Token};
use crate::syntax::macros::Macros;
use crate::syntax::parse::StatementParser;
use crate::syntax::prefetch;
use crate::syntax::source::{SourceFile, Sources};
use crate::system::files::{self, MAX_CONFIG_BYTES, Root};
use std::os::unix::ffi::OsStrExt;

/// Includes nested deeper than this are refused.
pub const MAX_INCLUDE_DEPTH: usize = 64;

/// Files included in one run, counting a file again each time it is
/// included: a few files each including the next twice would otherwise ask
/// for billions.  A gateway of 100000 tunnel files, each including one
/// shared file, stays below it.
pub const MAX_INCLUDES: usize = 250_000;

/// Tokens of one statement.  A rule listing as many networks as one rule
/// may expand to (65536) needs about 300000; past this, the tokens alone
/// would take some 64 bytes for each byte of a line like `{{{{...`.
pub const MAX_STATEMENT_TOKENS: usize = 500_000;

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub root: Root,
    /// Refuse a main file that others can read, as ipsecctl does.
    pub check_secrecy: bool,
    /// The main file's name is a path on this machine, not under the root
    /// (includes still are).
    pub main_local: bool,
    /// The keys file of the keys layout, when there is one.
    pub keys: Option<KeysFile>,
}

/// The keys file (`include "/etc/ipsec.keys"`): the file whose macros are
/// the pre-shared keys.  Where it is absent and `stand_in` allows (a
/// checkout in CI, for `lint` and `compile`, which change nothing), one
/// macro stands in for each declared key name, with a value that is no
/// key ([`stand_in_value`]).
#[derive(Debug, Clone, Default)]
pub struct KeysFile {
    /// The keys file as include lines name it.
    pub path: String,
    pub names: Vec<String>,
    pub stand_in: bool,
    /// Read the keys file before the main file: the main file is one that
    /// ipsecmgr hands to `ipsecctl -f` alone (a fragment, rules to load),
    /// always with the keys file included first.
    pub first: bool,
}

/// The prefix of every stand-in value: a macro holding it came from a keys
/// file that is not there.
pub const STAND_IN_PREFIX: &str = "ipsecmgr-key-not-here.";

/// The value a declared key macro stands in with: one word (its
/// expansion makes one token), different for every name, so that two
/// peers given one macro still have one key, and longer than the 20
/// characters lint asks of a key.
pub fn stand_in_value(name: &str) -> String {
    format!("{STAND_IN_PREFIX}{name}")
}

impl KeysFile {
    /// The text of the stand-in file: one definition a line.
    fn text(&self) -> Vec<u8> {
        let mut out = String::new();
        for name in &self.names {
            out.push_str(&format!("{name} = \"{}\"\n", stand_in_value(name)));
        }
        out.into_bytes()
    }
}

/// A statement that parsed into a rule.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Number of the statement in reading order (counting every line).
    pub seq: u32,
    pub file: FileId,
    pub tokens: Vec<Token>,
    pub stmt: Stmt,
    /// The macro an ike rule's pre-shared key is the whole value of
    /// (`psk $acme_psk`), as defined when the statement was read.
    pub psk_macro: Option<PskMacro>,
}

/// A macro a pre-shared key was written with, and the file defining it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PskMacro {
    pub name: std::sync::Arc<str>,
    pub file: FileId,
    /// Defined in the keys file.
    pub keys: bool,
}

impl Statement {
    pub fn span(&self, tok: Tok) -> Span {
        self.tokens[tok as usize].span
    }

    /// The statement's first token.
    pub fn start(&self) -> Span {
        self.span(0)
    }
}

/// How each statement went, for the parser's error recovery.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub ntokens: u32,
    /// The token where the grammar failed, and its span.
    pub syntax_error: Option<(Tok, Span)>,
    /// A check failed and the rest of the statement was abandoned.
    pub aborted: bool,
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub sources: Sources,
    pub statements: Vec<Statement>,
    pub macros: Macros,
    /// Secret tokens of statements that did not parse.
    pub unparsed_secrets: Vec<crate::syntax::secret_tokens::SecretToken>,
    pub diags: Vec<Diagnostic>,
    /// Indexed by statement number.
    pub outcomes: Vec<Outcome>,
    /// Where includes that could not be read point (under the root): named
    /// by the configuration all the same.
    pub failed_includes: Vec<std::path::PathBuf>,
}

/// The bytes of a macro's value (`name = value ...`, the words joined by a
/// blank), when a word's bytes are not UTF-8.
fn raw_value(tokens: &[Token], raw: &[(Tok, Vec<u8>)], name: Tok, end: Tok) -> Option<Vec<u8>> {
    if raw.is_empty() {
        return None;
    }
    let eq = (name + 1..end).find(|&i| tokens[i as usize].kind == TokKind::Char(b'='))?;
    let mut bytes = Vec::new();
    for i in eq + 1..end {
        if i > eq + 1 {
            bytes.push(b' ');
        }
        match (raw.iter().find(|(t, _)| *t == i), &tokens[i as usize].kind) {
            (Some((_, b)), _) => bytes.extend_from_slice(b),
            (None, TokKind::Str(s)) => bytes.extend_from_slice(s.as_bytes()),
            (None, TokKind::Keyword(k)) => bytes.extend_from_slice(k.as_str().as_bytes()),
            _ => return None,
        }
    }
    Some(bytes)
}

/// A statement handed on, whole: its tokens' vector is left empty, and a
/// new one is made for the next statement.
fn keep(st: &mut Statement) -> Statement {
    Statement {
        seq: st.seq,
        file: st.file,
        tokens: std::mem::take(&mut st.tokens),
        stmt: std::mem::replace(&mut st.stmt, Stmt::Empty),
        psk_macro: st.psk_macro.take(),
    }
}

/// Reads `name` (`-` for standard input) and the files it includes.
pub fn load(name: &str, opts: &LoadOptions) -> Parsed {
    let mut statements = Vec::new();
    let mut p = load_with(name, opts, &mut |st| statements.push(keep(st)));
    p.statements = statements;
    p
}

/// [`load`], handing each statement to `sink` as soon as it is parsed
/// rather than keeping them all.  What `sink` leaves of the statement's
/// tokens (their vector) serves the next statement.
pub fn load_with(name: &str, opts: &LoadOptions, sink: &mut dyn FnMut(&mut Statement)) -> Parsed {
    let mut loader = Loader {
        p: Parsed::default(),
        raw: Vec::new(),
        resolver: files::Resolver::default(),
        opts,
        parser: StatementParser::default(),
        sink,
        ahead: None,
        includes: 0,
        spare: Vec::new(),
    };
    let Some(file) = loader.open_main(name) else {
        return loader.p;
    };
    let includes = prefetch::plain_includes(&loader.p.sources.get(file).text, MAX_INCLUDES);
    if includes.len() < prefetch::WORTH_IT {
        loader.run(file);
        return loader.p;
    }
    let mut resolver = files::Resolver::default();
    let paths = includes
        .iter()
        .filter_map(|p| resolver.resolve(&opts.root, std::path::Path::new(p)).ok())
        .collect();
    let (tx, rx) = prefetch::channel();
    std::thread::scope(|scope| {
        scope.spawn(move || prefetch::read_ahead(paths, MAX_CONFIG_BYTES, tx));
        loader.ahead = Some(prefetch::Ahead::new(rx));
        loader.run(file);
        // the reader stops at its next file once nobody takes them
        loader.ahead = None;
    });
    loader.p
}

/// Whether two paths as written name one file, by name (`.` and repeated
/// slashes aside).
pub fn same_path(a: &str, b: &str) -> bool {
    let lexical = |p: &str| -> std::path::PathBuf {
        std::path::Path::new(p)
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect()
    };
    lexical(a) == lexical(b)
}

/// Loads configuration text given in memory, named `name` in messages.
pub fn load_text(name: &str, text: Vec<u8>, opts: &LoadOptions) -> Parsed {
    let mut statements = Vec::new();
    let mut p = load_text_with(name, text, opts, &mut |st| statements.push(keep(st)));
    p.statements = statements;
    p
}

/// [`load_text`], handing each statement to `sink`.
pub fn load_text_with(
    name: &str,
    text: Vec<u8>,
    opts: &LoadOptions,
    sink: &mut dyn FnMut(&mut Statement),
) -> Parsed {
    let mut loader = Loader {
        p: Parsed::default(),
        raw: Vec::new(),
        resolver: files::Resolver::default(),
        opts,
        parser: StatementParser::default(),
        sink,
        ahead: None,
        includes: 0,
        spare: Vec::new(),
    };
    let file = loader.p.sources.add(SourceFile::text(name, text));
    loader.run(file);
    loader.p
}

struct Loader<'o> {
    p: Parsed,
    /// The bytes of the current statement's string tokens that are not
    /// UTF-8, by token.
    raw: Vec<(Tok, Vec<u8>)>,
    /// Where include paths lead under the root.
    resolver: files::Resolver,
    opts: &'o LoadOptions,
    parser: StatementParser,
    sink: &'o mut dyn FnMut(&mut Statement),
    /// Included files read ahead on another thread, when there are many.
    ahead: Option<prefetch::Ahead>,
    /// Files included so far (each time they were).
    includes: usize,
    /// The last statement's token vector, emptied, for the next: one
    /// allocation for the run instead of one a statement.
    spare: Vec<Token>,
}

/// The largest token vector kept for the next statement: one cut at
/// [`MAX_STATEMENT_TOKENS`] is not held for the rest of the run.
const SPARE_TOKENS: usize = 4096;

impl Loader<'_> {
    fn open_main(&mut self, name: &str) -> Option<FileId> {
        if name == "-" {
            let text = files::read_stdin();
            let file = self.p.sources.add(SourceFile::text(
                "stdin",
                text.as_ref().map_or_else(|_| Vec::new(), |t| t.clone()),
            ));
            return match text {
                Ok(_) => Some(file),
                Err(e) => {
                    self.p
                        .diags
                        .push(Diagnostic::file_error(Kind::FileUnreadable, file, e.0));
                    None
                }
            };
        }
        let path = if self.opts.main_local {
            Ok(std::path::PathBuf::from(name))
        } else {
            self.opts.root.resolve(std::path::Path::new(name))
        };
        let (path, data) = match path {
            Ok(p) => {
                let data = files::read_regular(&p, MAX_CONFIG_BYTES);
                (p, data)
            }
            Err(e) => (self.opts.root.map(name), Err(files::ReadError(e.0))),
        };
        let problem = match &data {
            Err(e) => Some((Kind::FileUnreadable, e.0.clone())),
            Ok(d) if self.opts.check_secrecy => {
                files::secrecy_problem(d).map(|why| (Kind::FileSecrecy, why.to_string()))
            }
            Ok(_) => None,
        };
        let (uid, mode, identity) = match &data {
            Ok(d) => (Some(d.uid), Some(d.mode), Some(d.identity)),
            Err(_) => (None, None, None),
        };
        let file = self.p.sources.add(SourceFile {
            name: name.into(),
            path: Some(path),
            text: data.map(|d| d.bytes).unwrap_or_default(),
            included_from: None,
            uid,
            mode,
            identity,
            stand_in: false,
            keys: false,
        });
        match problem {
            None => Some(file),
            // ipsecctl stops at a main file others can read; the file is
            // read on, so that its other errors show in the same run
            Some((kind @ Kind::FileSecrecy, why)) => {
                self.p.diags.push(Diagnostic::file_error(kind, file, why));
                Some(file)
            }
            Some((kind, why)) => {
                self.p.diags.push(Diagnostic::file_error(kind, file, why));
                None
            }
        }
    }

    fn run(&mut self, file: FileId) {
        let mut lexer = Lexer::new(file);
        // a gateway without its keys file yet (before `key migrate`) loads
        // its fragments as they are
        if let Some(keys) = self.opts.keys.as_ref().filter(|k| k.first)
            && self
                .opts
                .root
                .resolve(std::path::Path::new(&keys.path))
                .is_ok_and(|p| std::fs::symlink_metadata(p).is_ok())
        {
            self.keys_first(&mut lexer, file, keys.path.clone());
        }
        loop {
            let seq = self.p.outcomes.len() as u32;
            let (mut tokens, cut) = self.statement_tokens(&mut lexer, seq);
            let at_eof = tokens.last().is_some_and(|t| t.kind == TokKind::Eof);
            if at_eof && tokens.len() == 1 {
                break;
            }
            let mut outcome = Outcome {
                ntokens: tokens.len() as u32,
                ..Outcome::default()
            };
            let file = tokens[0].span.file;
            let mut included = false;
            if cut {
                self.too_long(&tokens, seq, &mut outcome);
                self.p.outcomes.push(outcome);
                if at_eof {
                    break;
                }
                continue;
            }
            match self.parser.parse(&tokens) {
                Err(tok) => {
                    outcome.syntax_error = Some((tok, tokens[tok as usize].span));
                    let secrets = crate::syntax::secret_tokens::unparsed_secret_tokens(&tokens);
                    self.p.unparsed_secrets.extend(secrets);
                }
                Ok(Stmt::Empty) => {}
                Ok(Stmt::Include(path)) => {
                    let raw = std::mem::take(&mut self.raw);
                    included = self.include(&mut lexer, &tokens, &raw, &path, seq);
                    outcome.aborted = !included;
                }
                Ok(Stmt::Macro { name, value, end }) => {
                    let raw = std::mem::take(&mut self.raw);
                    outcome.aborted = !self.define(&tokens, &raw, name, value, end, seq);
                }
                Ok(stmt) => {
                    let psk_macro = self.psk_macro(&tokens, &stmt);
                    let mut st = Statement {
                        seq,
                        file,
                        tokens,
                        stmt,
                        psk_macro,
                    };
                    (self.sink)(&mut st);
                    tokens = st.tokens;
                }
            }
            if tokens.capacity() <= SPARE_TOKENS {
                self.spare = tokens;
            }
            self.p.outcomes.push(outcome);
            // an include on the last line, without a newline, is still read
            if at_eof && !included {
                break;
            }
        }
    }

    /// Reads the keys file before `file`, as if `file` began with an
    /// include of it (what ipsecmgr hands ipsecctl: see manager::exec); a
    /// keys file that cannot be read is an error at `file`'s first line.
    fn keys_first(&mut self, lexer: &mut Lexer, file: FileId, path: String) {
        let span = Span {
            file,
            line: 1,
            col: 1,
            ..Span::default()
        };
        let tokens = [Token {
            kind: TokKind::Str(path.clone()),
            span,
            macro_use: None,
        }];
        let path = Text {
            value: path,
            tok: 0,
        };
        self.include(lexer, &tokens, &[], &path, 0);
    }

    /// Tokens up to and including the next newline (or the end), and
    /// whether the statement was cut: past [`MAX_STATEMENT_TOKENS`] the rest
    /// is read but not kept, and only its last token (newline or end) is.
    fn statement_tokens(&mut self, lexer: &mut Lexer, seq: u32) -> (Vec<Token>, bool) {
        let mut tokens = std::mem::take(&mut self.spare);
        tokens.clear();
        tokens.reserve(64);
        self.raw.clear();
        loop {
            let token = lexer.next_token(&self.p.sources, &mut self.p.macros);
            if let Some(bytes) = lexer.take_raw()
                && tokens.len() < MAX_STATEMENT_TOKENS
            {
                self.raw.push((tokens.len() as Tok, bytes));
            }
            let at = (tokens.len() as u32).min(MAX_STATEMENT_TOKENS as u32);
            self.p
                .diags
                .extend(lexer.take_diags().into_iter().map(|d| d.ordered((seq, at))));
            let last = matches!(token.kind, TokKind::Newline | TokKind::Eof);
            let cut = tokens.len() >= MAX_STATEMENT_TOKENS;
            if last || !cut {
                tokens.push(token);
            }
            if last {
                return (tokens, cut);
            }
        }
    }

    /// A statement cut at [`MAX_STATEMENT_TOKENS`]: when the grammar fails
    /// before the cut, that is the syntax error the whole statement has
    /// (the grammar never looks past where it fails); otherwise the
    /// statement is refused as too long.
    fn too_long(&mut self, tokens: &[Token], seq: u32, outcome: &mut Outcome) {
        let end = tokens.len() - 1;
        let secrets = crate::syntax::secret_tokens::unparsed_secret_tokens(tokens);
        self.p.unparsed_secrets.extend(secrets);
        if let Err(tok) = self.parser.parse(tokens)
            && (tok as usize) < end
        {
            outcome.syntax_error = Some((tok, tokens[tok as usize].span));
            return;
        }
        let msg = format!("statement too long: more than {MAX_STATEMENT_TOKENS} tokens");
        self.error(Kind::StringTooLong, tokens, 0, seq, msg);
        outcome.aborted = true;
    }

    fn error(&mut self, kind: Kind, tokens: &[Token], tok: Tok, seq: u32, msg: String) {
        let span = tokens[tok as usize].span;
        self.p
            .diags
            .push(Diagnostic::error(kind, span, msg).ordered((seq, tok)));
    }

    /// The macro whose whole value an ike rule's pre-shared key is.
    fn psk_macro(&self, tokens: &[Token], stmt: &Stmt) -> Option<PskMacro> {
        let Stmt::Ike(ike) = stmt else {
            return None;
        };
        let Some(crate::syntax::ast::IkeAuth::Psk(t)) = &ike.auth else {
            return None;
        };
        let def = self.p.macros.get(tokens.get(t.tok as usize)?.macro_use?);
        (*def.value == *t.value).then(|| PskMacro {
            name: def.name.as_str().into(),
            file: def.span.file,
            keys: self.p.sources.get(def.span.file).keys,
        })
    }

    /// `name = "value"`.  ipsecctl's check for blanks in the name skips the
    /// first character; so does this one.
    fn define(
        &mut self,
        tokens: &[Token],
        raw: &[(Tok, Vec<u8>)],
        name: Text,
        value: String,
        end: Tok,
        seq: u32,
    ) -> bool {
        if name
            .value
            .bytes()
            .skip(1)
            .any(crate::syntax::lex::is_c_space)
        {
            let msg = "macro name cannot contain whitespace".to_string();
            self.error(Kind::MacroNameWhitespace, tokens, end, seq, msg);
            return false;
        }
        let span = tokens[name.tok as usize].span;
        let bytes = raw_value(tokens, raw, name.tok, end);
        self.p.macros.define(name.value, value, bytes, span, seq);
        true
    }

    /// `include "path"`: reads the file and continues the lexer in it.
    fn include(
        &mut self,
        lexer: &mut Lexer,
        tokens: &[Token],
        raw: &[(Tok, Vec<u8>)],
        path: &Text,
        seq: u32,
    ) -> bool {
        // a path is bytes: one that is not UTF-8 is looked up as written,
        // and named with those bytes escaped
        let raw = raw.iter().find(|(t, _)| *t == path.tok).map(|(_, b)| b);
        let bytes = raw.map_or(path.value.as_bytes(), Vec::as_slice);
        let name = match raw {
            Some(b) => crate::escape::escaped_bytes(b, false),
            None => path.value.clone(),
        };
        let failed = |why: String| format!("failed to include file {name}: {why}");
        let written = std::path::Path::new(std::ffi::OsStr::from_bytes(bytes));
        let actual = match self.resolver.resolve(&self.opts.root, written) {
            Ok(actual) => actual,
            Err(e) => {
                self.error(Kind::IncludeFailed, tokens, path.tok, seq, failed(e.0));
                return false;
            }
        };
        // the files the include is written in, outermost first: not the
        // lexer's stack, from which a file whose last line is this include
        // (with no newline) is already gone
        let open = self
            .p
            .sources
            .include_chain(tokens[path.tok as usize].span.file);
        if self.includes >= MAX_INCLUDES {
            // said once: every later include fails the same way
            if self.includes == MAX_INCLUDES {
                let msg = failed(format!(
                    "more than {MAX_INCLUDES} files included in all; no further include is read"
                ));
                self.error(Kind::IncludeTooDeep, tokens, path.tok, seq, msg);
                self.includes += 1;
            }
            return false;
        }
        if open.len() >= MAX_INCLUDE_DEPTH {
            let msg = failed(format!("includes nested deeper than {MAX_INCLUDE_DEPTH}"));
            self.error(Kind::IncludeTooDeep, tokens, path.tok, seq, msg);
            return false;
        }
        // text being checked before it is installed (`add`) names itself by
        // the path it will have, which does not exist yet
        let same_name = |f: &SourceFile| f.identity.is_none() && f.name == name;
        if let Some(cycle) = self.cycle(&open, same_name, &name) {
            let msg = failed(format!("include cycle: {cycle}"));
            self.error(Kind::IncludeCycle, tokens, path.tok, seq, msg);
            return false;
        }
        let is_keys = self
            .opts
            .keys
            .as_ref()
            .filter(|k| same_path(&k.path, &name));
        if let Some(stand_in) = is_keys.filter(|k| k.stand_in)
            && std::fs::symlink_metadata(&actual).is_err()
        {
            let mut file = SourceFile::text(&name, stand_in.text());
            file.path = Some(actual);
            file.included_from = Some(tokens[path.tok as usize].span);
            file.stand_in = true;
            file.keys = true;
            let id = self.p.sources.add(file);
            lexer.push_file(id);
            self.includes += 1;
            return true;
        }
        let data = self.ahead.as_mut().and_then(|a| a.take(&actual));
        match data.unwrap_or_else(|| files::read_regular(&actual, MAX_CONFIG_BYTES)) {
            Err(e) => {
                self.error(Kind::IncludeFailed, tokens, path.tok, seq, failed(e.0));
                self.p.failed_includes.push(actual);
                false
            }
            Ok(data) => {
                let same_file = |f: &SourceFile| f.identity == Some(data.identity);
                if let Some(cycle) = self.cycle(&open, same_file, &name) {
                    let msg = failed(format!("include cycle: {cycle}"));
                    self.error(Kind::IncludeCycle, tokens, path.tok, seq, msg);
                    return false;
                }
                let id = self.p.sources.add(SourceFile {
                    name: name.clone(),
                    path: Some(actual),
                    text: data.bytes,
                    included_from: Some(tokens[path.tok as usize].span),
                    uid: Some(data.uid),
                    mode: Some(data.mode),
                    identity: Some(data.identity),
                    stand_in: false,
                    keys: is_keys.is_some(),
                });
                lexer.push_file(id);
                self.includes += 1;
                true
            }
        }
    }

    /// The include chain, written out, when a file being read is `same`.
    fn cycle(
        &self,
        open: &[FileId],
        same: impl Fn(&SourceFile) -> bool,
        name: &str,
    ) -> Option<String> {
        let pos = open.iter().position(|&f| same(self.p.sources.get(f)))?;
        let mut names: Vec<&str> = open[pos..]
            .iter()
            .map(|&f| self.p.sources.display_name(f))
            .collect();
        names.push(name);
        Some(names.join(" -> "))
    }
}
