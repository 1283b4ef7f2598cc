//! Fault injection for tests, in debug builds only; release builds compile
//! it away.
//!
//! - `IPSECMGR_FAIL_AT=N` aborts a run just before step N of its plan, as a
//!   crash or a kill would.
//! - `IPSECMGR_ERROR_AT=N` makes step N fail, as a step that goes wrong
//!   does (ipsecctl refusing a rule, isakmpd gone).
//! - `IPSECMGR_DISK_FULL_AT=N` fills the disk at the Nth file write of the
//!   run (counting from 1): that write puts part of its bytes down and fails
//!   with ENOSPC, as write(2) does, and so does every write after it; with
//!   `IPSECMGR_DISK_FULL_FOR=K`, only K writes fail, as when removing the
//!   file that filled the disk gives the room back.
//! - `IPSECMGR_SIGNAL_AT=N` sends the run a SIGINT just before step N, as
//!   a Ctrl-C at that moment would.

use std::io::{self, Write};

/// Before step `index` of a plan: aborts the process, or makes the step
/// fail, when asked to (debug builds).
pub fn before_step(index: usize) -> Result<(), String> {
    #[cfg(debug_assertions)]
    {
        let asked = |var: &str| env_number(var) == Some(index);
        if asked("IPSECMGR_FAIL_AT") {
            crate::errln!("ipsecmgr: injected fault before step {index}");
            std::process::abort();
        }
        if asked("IPSECMGR_ERROR_AT") {
            return Err(format!("injected error at step {index}"));
        }
    }
    let _ = index;
    Ok(())
}

/// Just before step `index` of a plan: sends this process a SIGINT when
/// asked to (debug builds).
pub fn signal_before_step(index: usize) {
    #[cfg(debug_assertions)]
    if env_number("IPSECMGR_SIGNAL_AT") == Some(index) {
        crate::errln!("ipsecmgr: injected SIGINT before step {index}");
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT);
    }
    let _ = index;
}

/// Writes all of `bytes` to a file, unless the disk is (made) full.
pub fn write_all(file: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    #[cfg(debug_assertions)]
    if disk_full_now() {
        let _ = file.write_all(&bytes[..bytes.len() / 2]);
        return Err(nix::errno::Errno::ENOSPC.into());
    }
    file.write_all(bytes)
}

/// Counts this write; true once the injected disk-full point is reached.
#[cfg(debug_assertions)]
fn disk_full_now() -> bool {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static WRITES: AtomicUsize = AtomicUsize::new(0);
    let Some(at) = env_number("IPSECMGR_DISK_FULL_AT") else {
        return false;
    };
    let failing = env_number("IPSECMGR_DISK_FULL_FOR").unwrap_or(usize::MAX);
    let n = WRITES.fetch_add(1, Ordering::Relaxed) + 1;
    if n == at {
        crate::errln!("ipsecmgr: injected disk full at write {n}");
    }
    n >= at && n - at < failing
}

/// A number given in the environment variable `name`.
#[cfg(debug_assertions)]
fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.parse().ok()
}
