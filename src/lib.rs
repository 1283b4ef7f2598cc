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

/// Like `print!`, but a closed stdout (`ipsecmgr ls | head`) is no error:
/// the rest of the output is dropped and the command goes on, so that a
/// mutating command is never stopped halfway by its reader going away.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `println!`, as [`out!`] is `print!`.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprint!`, as [`out!`] is `print!`: a closed stderr stops nothing.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// `eprintln!`, as [`out!`] is `print!`.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

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
