//! ipsecctl's parser reports a syntax error only when it is not still
//! recovering from the previous one: after a failed statement, an error in
//! the first two tokens of the next goes unreported (the statement is
//! dropped all the same).  This reproduces which errors it prints.

use crate::diag::{Diagnostic, Kind};
use crate::syntax::load::Outcome;

/// The "syntax error" diagnostics ipsecctl would print for these outcomes.
pub fn syntax_errors(outcomes: &[Outcome]) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut recovering = 0u32;
    for (seq, o) in outcomes.iter().enumerate() {
        if let Some((tok, span)) = o.syntax_error {
            if tok >= recovering {
                diags.push(
                    Diagnostic::error(Kind::SyntaxError, span, "syntax error")
                        .ordered((seq as u32, tok)),
                );
            }
            recovering = 2;
        } else if o.aborted {
            recovering = 2;
        } else {
            recovering = recovering.saturating_sub(o.ntokens);
        }
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(n: u32) -> Outcome {
        Outcome {
            ntokens: n,
            ..Outcome::default()
        }
    }

    fn bad(n: u32, tok: u32) -> Outcome {
        Outcome {
            ntokens: n,
            syntax_error: Some((tok, Default::default())),
            aborted: false,
        }
    }

    #[test]
    fn errors_right_after_a_failed_statement_are_quiet() {
        let reported = |o: &[Outcome]| -> Vec<(u32, u32)> {
            syntax_errors(o).iter().map(|d| d.order).collect()
        };
        assert_eq!(reported(&[bad(3, 1), bad(3, 0)]), vec![(0, 1)]);
        assert_eq!(reported(&[bad(3, 1), bad(4, 2)]), vec![(0, 1), (1, 2)]);
        // an empty line uses up one of the two
        assert_eq!(
            reported(&[bad(3, 1), ok(1), bad(3, 1)]),
            vec![(0, 1), (2, 1)]
        );
        assert_eq!(reported(&[bad(3, 1), ok(1), bad(3, 0)]), vec![(0, 1)]);
        let aborted = Outcome {
            aborted: true,
            ..ok(5)
        };
        assert_eq!(reported(&[aborted, bad(3, 0)]), vec![]);
    }
}
