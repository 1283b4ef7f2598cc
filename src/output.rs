//! Writing to standard output and error.  A reader that goes away
//! (`ipsecmgr ls | head -1`) is no error: the rest is dropped and the
//! command goes on, so that a mutating one is never stopped halfway.  Any
//! other failure to write stdout (a full disk under `> file`) is kept, and
//! the process says so when it exits, since what it wrote is incomplete.
//!
//! Text for people is written with its control characters escaped and no
//! workflow command in it ([`crate::escape::CommandGuard`]): ipsecmgr runs
//! in CI, where the runner reads every line of the log, and names, paths
//! and messages come from the files and settings it reads.  A document for
//! machines (JSON, SARIF, GitHub annotations) is written as its format
//! made it safe, never escaped again.

use std::fmt;
use std::io::{self, Write};
use std::sync::{Mutex, OnceLock};

use crate::escape::{CommandGuard, escaped_lines};
use crate::system::files::io_reason;

static STDOUT_FAILED: OnceLock<String> = OnceLock::new();

/// Where each stream's current line began.
static STDOUT_GUARD: Mutex<CommandGuard> = Mutex::new(CommandGuard::new());
static STDERR_GUARD: Mutex<CommandGuard> = Mutex::new(CommandGuard::new());

fn keep(result: io::Result<()>) {
    if let Err(e) = result
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        let _ = STDOUT_FAILED.set(io_reason(&e));
    }
}

/// `text` escaped and guarded as the stream `guard` keeps track of.
fn for_people(guard: &Mutex<CommandGuard>, text: fmt::Arguments) -> String {
    let text = escaped_lines(&text.to_string());
    let mut out = String::with_capacity(text.len());
    let mut guard = guard.lock().unwrap_or_else(|e| e.into_inner());
    guard.push(&text, &mut out);
    out
}

/// Writes text for people to stdout (see the module's comment).
pub fn stdout(text: fmt::Arguments) {
    let text = for_people(&STDOUT_GUARD, text);
    keep(io::stdout().lock().write_all(text.as_bytes()));
}

/// Writes bytes to stdout as they are, but for workflow commands: what
/// `compile` prints, byte for byte what ipsecctl prints.
pub fn stdout_bytes(bytes: &[u8]) {
    let mut out = Vec::with_capacity(bytes.len());
    let mut guard = STDOUT_GUARD.lock().unwrap_or_else(|e| e.into_inner());
    guard.push_bytes(bytes, &mut out);
    drop(guard);
    keep(io::stdout().lock().write_all(&out));
}

/// Writes a document for machines to stdout, as it is: its format keeps
/// it from starting a workflow command ([`crate::json`], and the GitHub
/// format, which is made of them).  It ends a line.
pub fn document(text: &str) {
    keep(io::stdout().lock().write_all(text.as_bytes()));
    if !text.ends_with('\n') {
        keep(io::stdout().lock().write_all(b"\n"));
    }
    *STDOUT_GUARD.lock().unwrap_or_else(|e| e.into_inner()) = CommandGuard::new();
}

/// Writes text for people to stderr; if that fails, there is nowhere left
/// to say so.
pub fn stderr(text: fmt::Arguments) {
    let text = for_people(&STDERR_GUARD, text);
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// Flushes stdout; why writing it failed, if it did other than by its
/// reader going away.
pub fn stdout_failure() -> Option<String> {
    keep(io::stdout().lock().flush());
    STDOUT_FAILED.get().cloned()
}
