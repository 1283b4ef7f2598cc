//! Writing to standard output and error.  A reader that goes away
//! (`ipsecmgr ls | head -1`) is no error: the rest is dropped and the
//! command goes on, so that a mutating one is never stopped halfway.  Any
//! other failure to write stdout (a full disk under `> file`) is kept, and
//! the process says so when it exits, since what it wrote is incomplete.

use std::fmt;
use std::io::{self, Write};
use std::sync::OnceLock;

use crate::system::files::io_reason;

static STDOUT_FAILED: OnceLock<String> = OnceLock::new();

fn keep(result: io::Result<()>) {
    if let Err(e) = result
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        let _ = STDOUT_FAILED.set(io_reason(&e));
    }
}

/// Writes to stdout (see the module's comment for failures).
pub fn stdout(text: fmt::Arguments) {
    keep(io::stdout().lock().write_fmt(text));
}

/// Writes bytes to stdout.
pub fn stdout_bytes(bytes: &[u8]) {
    keep(io::stdout().lock().write_all(bytes));
}

/// Writes to stderr; if that fails, there is nowhere left to say so.
pub fn stderr(text: fmt::Arguments) {
    let _ = io::stderr().lock().write_fmt(text);
}

/// Flushes stdout; why writing it failed, if it did other than by its
/// reader going away.
pub fn stdout_failure() -> Option<String> {
    keep(io::stdout().lock().flush());
    STDOUT_FAILED.get().cloned()
}
