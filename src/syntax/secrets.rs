//! Which tokens hold secrets (pre-shared keys, hex keys), and so which
//! macros do: nothing may print them unless asked to.

use std::collections::HashSet;

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

/// Macros whose value ended up (in part) in a secret.
pub fn secret_macros(statements: &[Statement]) -> HashSet<MacroId> {
    statements
        .iter()
        .flat_map(|st| {
            secret_tokens(&st.stmt)
                .into_iter()
                .filter_map(|tok| st.tokens[tok as usize].macro_use)
        })
        .collect()
}
