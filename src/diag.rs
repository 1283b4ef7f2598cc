//! Diagnostics: what went wrong, where, and how to show it.
//!
//! Every stage reports problems as [`Diagnostic`] values; nothing below
//! `main` prints or exits.  The plain renderer prints the form ipsecctl uses,
//! `FILE: LINE: message`, so scripts written against ipsecctl keep working.

use std::fmt::Write as _;

/// Index of a loaded file in the run's list of sources.
pub type FileId = u32;

/// What the renderer needs of the loaded files: the name each is shown by.
/// The syntax stage's source list implements it, so that diagnostics stay
/// below the stages that report them.
pub trait FileNames {
    fn display_name(&self, id: FileId) -> &str;
}

/// A place in a source file: byte range, and the line and column it starts at
/// (both 1-based; the column counts bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
    pub line: u32,
    pub col: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// What a diagnostic states.  Each kind has a stable code, so tools that read
/// ipsecmgr's output can match on it rather than on the wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    // reading files
    FileUnreadable,
    FileSecrecy,
    IncludeFailed,
    IncludeCycle,
    IncludeTooDeep,
    // lexing
    SyntaxError,
    UnterminatedString,
    StringTooLong,
    MacroUndefined,
    InvalidNumber,
    MacroNameWhitespace,
    // values
    UnknownProtocol,
    ProtocolRange,
    UnknownPort,
    PortRange,
    HostUnresolved,
    InvalidNetmask,
    NatFamilyMismatch,
    NatOnDestination,
    InvalidSpi,
    ReservedSpi,
    TransformTwice,
    UnknownTransform,
    InvalidLifetime,
    KeyNotHex,
    KeyFile,
    InvalidInterface,
    // rules
    FamilyMismatch,
    PortWithoutProtocol,
    ImplicitAuth,
    NoPeer,
    NoValidCombination,
    SaInvalid,
    DefaultPeerMismatch,
    IllegalTransform,
    TooManyRules,
    // lint: across the tree
    FragmentNeedsMacro,
    DuplicateFlow,
    OverlappingFlows,
    Phase1Conflict,
    FieldTooLong,
    Phase1KeyShared,
    DownNotHeld,
    WeakCrypto,
    ShortPsk,
    LiteralPsk,
    KeyInRepository,
    KeysFileProblem,
    KeyUnused,
    SharedPsk,
    CertificateProblem,
    CertificateExpiring,
    FilePermissions,
    UnusedMacro,
    OrphanFragment,
    IncludeOutside,
    NameUndeclared,
}

impl Kind {
    /// Every kind, for documentation checks.
    pub const ALL: &'static [Kind] = &[
        Kind::FileUnreadable,
        Kind::FileSecrecy,
        Kind::IncludeFailed,
        Kind::IncludeCycle,
        Kind::IncludeTooDeep,
        Kind::SyntaxError,
        Kind::UnterminatedString,
        Kind::StringTooLong,
        Kind::MacroUndefined,
        Kind::InvalidNumber,
        Kind::MacroNameWhitespace,
        Kind::UnknownProtocol,
        Kind::ProtocolRange,
        Kind::UnknownPort,
        Kind::PortRange,
        Kind::HostUnresolved,
        Kind::InvalidNetmask,
        Kind::NatFamilyMismatch,
        Kind::NatOnDestination,
        Kind::InvalidSpi,
        Kind::ReservedSpi,
        Kind::TransformTwice,
        Kind::UnknownTransform,
        Kind::InvalidLifetime,
        Kind::KeyNotHex,
        Kind::KeyFile,
        Kind::InvalidInterface,
        Kind::FamilyMismatch,
        Kind::PortWithoutProtocol,
        Kind::ImplicitAuth,
        Kind::NoPeer,
        Kind::NoValidCombination,
        Kind::SaInvalid,
        Kind::DefaultPeerMismatch,
        Kind::IllegalTransform,
        Kind::TooManyRules,
        Kind::FragmentNeedsMacro,
        Kind::DuplicateFlow,
        Kind::OverlappingFlows,
        Kind::Phase1Conflict,
        Kind::FieldTooLong,
        Kind::Phase1KeyShared,
        Kind::DownNotHeld,
        Kind::WeakCrypto,
        Kind::ShortPsk,
        Kind::LiteralPsk,
        Kind::KeyInRepository,
        Kind::KeysFileProblem,
        Kind::KeyUnused,
        Kind::SharedPsk,
        Kind::CertificateProblem,
        Kind::CertificateExpiring,
        Kind::FilePermissions,
        Kind::UnusedMacro,
        Kind::OrphanFragment,
        Kind::IncludeOutside,
        Kind::NameUndeclared,
    ];

    /// The stable code printed by lint and in JSON output.
    pub fn code(self) -> &'static str {
        use Kind::*;
        match self {
            FileUnreadable => "E001",
            FileSecrecy => "E002",
            IncludeFailed => "E003",
            IncludeCycle => "E004",
            IncludeTooDeep => "E005",
            SyntaxError => "E010",
            UnterminatedString => "E011",
            StringTooLong => "E012",
            MacroUndefined => "E013",
            InvalidNumber => "E014",
            MacroNameWhitespace => "E015",
            UnknownProtocol => "E020",
            ProtocolRange => "E021",
            UnknownPort => "E022",
            PortRange => "E023",
            HostUnresolved => "E024",
            InvalidNetmask => "E025",
            NatFamilyMismatch => "E026",
            NatOnDestination => "E027",
            InvalidSpi => "E028",
            ReservedSpi => "E029",
            TransformTwice => "E030",
            UnknownTransform => "E031",
            InvalidLifetime => "E032",
            KeyNotHex => "E033",
            KeyFile => "E034",
            InvalidInterface => "E035",
            FamilyMismatch => "E040",
            PortWithoutProtocol => "E041",
            ImplicitAuth => "E042",
            NoPeer => "E043",
            NoValidCombination => "E044",
            SaInvalid => "E045",
            DefaultPeerMismatch => "E046",
            IllegalTransform => "E047",
            TooManyRules => "E048",
            FragmentNeedsMacro => "L101",
            DuplicateFlow => "L102",
            OverlappingFlows => "L103",
            Phase1Conflict => "L104",
            FieldTooLong => "L105",
            Phase1KeyShared => "L106",
            DownNotHeld => "L107",
            WeakCrypto => "L201",
            ShortPsk => "L202",
            LiteralPsk => "L203",
            KeyInRepository => "L204",
            KeysFileProblem => "L205",
            KeyUnused => "L206",
            SharedPsk => "L207",
            CertificateProblem => "L208",
            CertificateExpiring => "L209",
            FilePermissions => "L301",
            UnusedMacro => "L401",
            OrphanFragment => "L402",
            IncludeOutside => "L403",
            NameUndeclared => "L404",
        }
    }
}

/// One problem found in the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub kind: Kind,
    pub severity: Severity,
    pub message: String,
    /// The construct the diagnostic is about, when it has one.
    pub span: Option<Span>,
    /// The line ipsecctl would name for this problem: for most rule errors
    /// that is the rule's last line, where its parser notices them.
    pub line: u32,
    pub notes: Vec<String>,
    /// Sort key that puts diagnostics in the order ipsecctl reports them:
    /// (statement number, token number within it).
    pub order: (u32, u32),
    /// Reported after the configuration parsed, while generating commands,
    /// as ipsecctl does for transforms isakmpd cannot use.
    pub late: bool,
}

impl Diagnostic {
    pub fn error(kind: Kind, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            kind,
            severity: Severity::Error,
            message: message.into(),
            span: Some(span),
            line: span.line,
            notes: Vec::new(),
            order: (0, 0),
            late: false,
        }
    }

    /// A problem with a file as a whole, before any line of it was read.
    pub fn file_error(kind: Kind, file: FileId, message: impl Into<String>) -> Self {
        let mut d = Diagnostic::error(kind, Span::default(), message);
        d.span = Some(Span {
            file,
            ..Span::default()
        });
        d
    }

    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    pub fn at_line(mut self, line: u32) -> Self {
        self.line = line;
        self
    }

    pub fn ordered(mut self, order: (u32, u32)) -> Self {
        self.order = order;
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Passes the message and the notes through `hide`, which replaces
    /// what no one may see (a key quoted as a host name, say).
    pub fn redact(&mut self, hide: &dyn Fn(&str) -> String) {
        self.message = hide(&self.message);
        for note in &mut self.notes {
            *note = hide(note);
        }
    }
}

/// Renders diagnostics as ipsecctl prints its errors: `FILE: LINE: message`,
/// notes indented below.  Problems found while generating commands carry the
/// program name first, as ipsecctl's do.
pub fn render_plain(d: &Diagnostic, sources: &impl FileNames) -> String {
    let mut out = String::new();
    if d.late {
        out.push_str("ipsecmgr: ");
    }
    match d.span {
        Some(span) if d.line > 0 => {
            let _ = write!(out, "{}: {}: ", sources.display_name(span.file), d.line);
        }
        Some(span) => {
            let _ = write!(out, "{}: ", sources.display_name(span.file));
        }
        None => {}
    }
    if d.severity == Severity::Warning && d.kind != Kind::DefaultPeerMismatch {
        out.push_str("warning: ");
    }
    out.push_str(&d.message);
    out.push('\n');
    for note in &d.notes {
        let _ = writeln!(out, "\t{note}");
    }
    out
}

/// Puts diagnostics in the order ipsecctl would print them.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| d.order);
}
