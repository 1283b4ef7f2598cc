//! Where a statement's secrets are, as far as its tokens tell: the lowest
//! layer of redaction, which the loader uses on statements that did not
//! parse.  What the parsed tree and its macros add lives in
//! [`crate::syntax::secrets`].

use crate::diag::Span;
use crate::syntax::keyword::Keyword;
use crate::syntax::lex::{TokKind, Token};
use crate::syntax::macros::MacroId;

/// What every output prints in place of a key.
pub const REDACTED: &str = "<redacted>";

/// A token holding a secret: where it is, whether a macro supplied it, and
/// whether it is a pre-shared key (not a key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretToken {
    pub span: Span,
    pub macro_use: Option<MacroId>,
    pub psk: bool,
}

/// The secrets of a statement that did not parse, as far as its tokens
/// tell: whatever follows `psk`, `authkey` or `enckey` (but not `file`).
/// It may have been meant as a key; nothing may print it either way.
pub fn unparsed_secret_tokens(tokens: &[Token]) -> Vec<SecretToken> {
    tokens
        .windows(2)
        .filter_map(|pair| {
            let psk = match pair[0].kind {
                TokKind::Keyword(Keyword::Psk) => true,
                TokKind::Keyword(Keyword::Authkey | Keyword::Enckey) => false,
                _ => return None,
            };
            let value = &pair[1];
            matches!(value.kind, TokKind::Str(_) | TokKind::Number(_)).then_some(SecretToken {
                span: value.span,
                macro_use: value.macro_use,
                psk,
            })
        })
        .collect()
}
