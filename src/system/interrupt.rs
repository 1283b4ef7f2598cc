//! SIGINT, SIGTERM and SIGHUP during a run that changes the gateway.  Once
//! [`catch`] is called they no longer end the process: signal-hook's
//! handler only sets a flag, and the run, seeing it, stops the ipsecctl it
//! waits for (its own process group, which a terminal's Ctrl-C does not
//! reach), then rolls back or stops where its journal says, and tells
//! which.  Every step of that is bounded, so further signals are not
//! needed to end it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The signal caught (its number), 0 while none was.
fn flag() -> &'static Arc<AtomicUsize> {
    static CAUGHT: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    CAUGHT.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

/// From now on, SIGINT, SIGTERM and SIGHUP are caught, not fatal.
pub fn catch() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            for sig in [SIGINT, SIGTERM, SIGHUP] {
                signal_hook::flag::register_usize(sig, flag().clone(), sig as usize)
                    .map_err(|e| format!("cannot catch {}: {e}", name(sig)))?;
            }
            Ok(())
        })
        .clone()
}

/// The signal caught since [`catch`], if one was.
pub fn caught() -> Option<i32> {
    match flag().load(Ordering::SeqCst) {
        0 => None,
        sig => i32::try_from(sig).ok(),
    }
}

/// A signal's name, for messages.
pub fn name(sig: i32) -> String {
    match sig {
        SIGINT => "SIGINT".to_string(),
        SIGTERM => "SIGTERM".to_string(),
        SIGHUP => "SIGHUP".to_string(),
        other => format!("signal {other}"),
    }
}

/// The exit status of a run a signal stopped: 128 and its number, as a
/// shell reports a command the signal ended (130 for Ctrl-C).
pub fn exit_status(sig: i32) -> i32 {
    128 + sig
}

/// Sleeps for `d` in short naps; false when a signal is caught first.
pub fn sleep(d: Duration) -> bool {
    let start = Instant::now();
    loop {
        if caught().is_some() {
            return false;
        }
        let left = d.saturating_sub(start.elapsed());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
}
