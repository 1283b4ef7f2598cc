//! Syntax: files → tokens → statements, with spans.

pub mod ast;
pub mod keyword;
pub mod lex;
pub mod load;
pub mod macros;
pub mod parse;
pub mod prefetch;
pub mod recovery;
pub mod secret_tokens;
pub mod secrets;
pub mod source;
pub mod words;
