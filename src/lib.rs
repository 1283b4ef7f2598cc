//! ipsecmgr: reads OpenBSD's ipsec.conf(5) exactly as ipsecctl(8) does, and
//! manages its tunnels one include file at a time.
//!
//! The stages, each in its own module, data flowing one way:
//!
//! ```text
//! files ─ syntax::load (lexer, pest grammar) ─▶ statements with spans
//!       ─ rules::resolve ─▶ Vec<Rule>
//!       ─ emit ─▶ ipsecctl text │ isakmpd commands │ tags
//!       ─ commands
//! ```

pub mod cli;
pub mod commands;
pub mod compiler;
pub mod diag;
pub mod emit;
pub mod faults;
pub mod lint;
pub mod manager;
pub mod rules;
pub mod settings;
pub mod syntax;
pub mod system;
