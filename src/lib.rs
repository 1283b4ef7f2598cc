//! ipsecmgr: reads OpenBSD's ipsec.conf(5) exactly as ipsecctl(8) does, and
//! manages its tunnels one include file at a time.
//!
//! The stages, each in its own module, data flowing one way:
//!
//! ```text
//! files ─ syntax::load (lexer, pest grammar) ─▶ statements with spans
//!       ─ rules::resolve ─▶ Vec<Rule>
//!       ─ emit ─▶ ipsecctl text │ isakmpd commands │ tags
//!       ─ gateway ─▶ the include tree of fragments
//!       ─ lint │ manager ─▶ findings │ plans carried out
//!       ─ commands
//! ```

/// `print!` through [`output`]: a closed stdout stops nothing.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::stdout(format_args!($($arg)*))
    };
}

/// `println!` through [`output`].
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` through [`output`].
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::output::stderr(format_args!($($arg)*))
    };
}

/// `eprintln!` through [`output`].
#[macro_export]
macro_rules! errln {
    () => {
        $crate::output::stderr(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub mod cli;
pub mod commands;
pub mod compiler;
pub mod diag;
pub mod emit;
pub mod escape;
pub mod faults;
pub mod gateway;
pub mod json;
pub mod lint;
pub mod manager;
pub mod output;
pub mod rules;
pub mod settings;
pub mod syntax;
pub mod system;
