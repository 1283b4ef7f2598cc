//! One module per subcommand; each glues the stages together and returns
//! the process exit status.

pub mod compile;
pub mod diff;
pub mod drive;
pub mod key;
pub mod lint;
pub mod list;
pub mod manage;
pub mod manage_json;
pub mod status;
pub mod tree_diff;

/// Exit statuses.
pub const EXIT_OK: i32 = 0;
/// The configuration has errors (or, for lint, findings).
pub const EXIT_CONFIG: i32 = 1;
/// ipsecmgr could not run: bad usage, unreadable settings; or its output
/// could not be written.
pub const EXIT_USAGE: i32 = 2;

/// Prints the errors of what was compiled on stderr, escaped.
pub fn print_errors(compiled: &crate::compiler::Compiled) {
    for text in compiled.rendered_errors() {
        crate::err!("{}", crate::escape::escaped_lines(&text));
    }
}
