//! Which tokens hold secrets (pre-shared keys, hex keys), and so which
//! macros do: nothing may print them unless asked to.

use std::collections::HashSet;

use crate::diag::Span;
use crate::syntax::ast::{KeySpec, Stmt, Tok};
use crate::syntax::load::Statement;
use crate::syntax::macros::MacroId;

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

/// A token holding a secret: where it is, whether a macro supplied it, and
/// whether it is a pre-shared key (not a key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretToken {
    pub span: Span,
    pub macro_use: Option<MacroId>,
    pub psk: bool,
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

/// The secrets of a statement that did not parse, as far as its tokens
/// tell: whatever follows `psk`, `authkey` or `enckey` (but not `file`).
/// It may have been meant as a key; nothing may print it either way.
pub fn unparsed_secret_tokens(tokens: &[crate::syntax::lex::Token]) -> Vec<SecretToken> {
    use crate::syntax::keyword::Keyword;
    use crate::syntax::lex::TokKind;
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
