//! Fault injection for tests: in debug builds only, the environment
//! variable `IPSECMGR_FAIL_AT=N` makes a run abort just before step N of its
//! plan, as a crash or a kill would.

/// Aborts the process before step `index` when asked to (debug builds).
pub fn maybe_fail(index: usize) {
    #[cfg(debug_assertions)]
    if let Ok(at) = std::env::var("IPSECMGR_FAIL_AT")
        && at.parse() == Ok(index)
    {
        eprintln!("ipsecmgr: injected fault before step {index}");
        std::process::abort();
    }
    let _ = index;
}
