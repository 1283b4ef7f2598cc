//! Finishing the phase 1 clean-ups that wait for an exchange in flight.
//!
//! No FIFO command aborts an exchange: it retransmits and lives until it
//! succeeds or Exchange-max-time (120 s by default) runs out.  While it
//! lives it holds a pointer into its peer's configuration (exchange.c:
//! exchange_establish_p1 keeps `conf_get_str(name, "Configuration")` in
//! exchange->policy; conf.c frees the value when its section is removed), so
//! removing the peer's sections then is a use-after-free in isakmpd.  rm,
//! apply and down therefore take the connections away at once, and leave
//! the peer's clean-up pending until isakmpd's `S` report (sa.c:
//! sa_report_all) shows no SA of that peer still negotiating (without
//! SA_FLAG_READY).  Any SA that became ready under a name taken away (a
//! late answer) is torn down again.

use std::time::{Duration, Instant};

use crate::manager::gateway::Gateway;
use crate::manager::state::{self, PendingCleanup};
use crate::manager::teardown::{self, Kept, ikes};
use crate::manager::tree::Tree;
use crate::system::fifo;
use crate::system::report::{self, IsakmpdSa};

/// How long isakmpd has to write one `S` report.  It answers at once
/// when it reads its FIFO (checked before), so this bounds only a wedged
/// or starved daemon; a clean-up not settled for want of an answer stays
/// pending, so the bound is generous rather than tight.
const REPORT_WAIT: Duration = Duration::from_secs(10);

/// How often `--wait` asks isakmpd again.
const POLL: Duration = Duration::from_secs(1);

/// Whether `sa` belongs to what `p` waits for.  An SA isakmpd has not
/// named yet and that has no transport to tell its peer by (sa.c: sa_dump
/// prints `<no transport>`) may be any peer's: it counts for every one.
fn concerns(p: &PendingCleanup, sa: &IsakmpdSa) -> bool {
    let by_address = |a: &Option<String>| a.as_ref().is_some_and(|a| p.addresses.contains(a));
    (sa.unnamed() && sa.dst.is_none())
        || p.peers.contains(&sa.name)
        || p.phase2_names.contains(&sa.name)
        || by_address(&sa.dst)
        || by_address(&sa.src)
}

/// An SA still negotiating: not ready, and not a replaced one waiting to
/// expire.
fn negotiating(sa: &IsakmpdSa) -> bool {
    !sa.ready() && !sa.replaced()
}

/// The `t` lines for SAs that became ready under a name taken away.
fn late_teardowns(pending: &[PendingCleanup], sas: &[IsakmpdSa]) -> Vec<String> {
    let mut lines = Vec::new();
    for sa in sas.iter().filter(|s| s.ready() && !s.replaced()) {
        let line = if sa.phase == 1 && pending.iter().any(|p| p.phase1_names.contains(&sa.name)) {
            format!("t main {}", sa.name)
        } else if sa.phase == 2 && pending.iter().any(|p| p.phase2_names.contains(&sa.name)) {
            format!("t {}", sa.name)
        } else {
            continue;
        };
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines
}

/// The lines that finish `p` now, against what the gateway loads now (a
/// fragment added since may use the peer again).
fn finishing_lines(p: &PendingCleanup, tree: &Tree) -> Vec<String> {
    if p.removed.is_empty() {
        return Vec::new();
    }
    let remaining = ikes(tree.compiled.rules.iter());
    let kept = Kept::of(&remaining, &p.removed);
    teardown::phase1_cleanup(&p.removed, &kept)
}

/// Checks, when the clean-up is planned, that every line finishing it may
/// ever send can go into the FIFO whole: a line refused later would leave
/// it pending for good.  With nothing kept, the most lines are sent.
pub fn check_sendable(p: &PendingCleanup) -> Result<(), String> {
    let mut lines = teardown::phase1_cleanup(&p.removed, &Kept::empty());
    lines.extend(p.phase1_names.iter().map(|n| format!("t main {n}")));
    lines.extend(p.phase2_names.iter().map(|n| format!("t {n}")));
    fifo::check_lines(&lines)
}

/// Reads `S` once, tears down late SAs, finishes every clean-up whose peer
/// has no exchange in flight.  Returns the clean-ups still waiting.
pub fn settle(gw: &Gateway, log: &mut dyn FnMut(String)) -> Result<Vec<PendingCleanup>, String> {
    let pending = state::pending_cleanups(gw)?;
    if pending.is_empty() {
        return Ok(pending);
    }
    let text = report::isakmpd_report(&gw.fifo, &gw.result, REPORT_WAIT)?;
    let sas = report::parse_sa_report(&text);
    let mut lines = late_teardowns(&pending, &sas);
    let (waiting, done): (Vec<PendingCleanup>, Vec<PendingCleanup>) = pending
        .into_iter()
        .partition(|p| sas.iter().any(|sa| negotiating(sa) && concerns(p, sa)));
    if done.iter().any(|p| !p.removed.is_empty()) {
        let tree = Tree::load(gw);
        for p in &done {
            lines.extend(finishing_lines(p, &tree));
        }
    }
    fifo::send(&gw.fifo, &lines)?;
    for p in &done {
        if !p.peers.is_empty() || !p.removed.is_empty() {
            log(format!(
                "no exchange in flight with {}: finished the clean-up after `{} {}`",
                names(p),
                p.op,
                p.fragment
            ));
        }
    }
    if !done.is_empty() {
        state::store_pending(gw, &waiting)?;
    }
    Ok(waiting)
}

fn names(p: &PendingCleanup) -> String {
    if p.peers.is_empty() {
        p.phase2_names.join(", ")
    } else {
        p.peers.join(", ")
    }
}

/// [`settle`], repeated until nothing waits or `wait` has passed (`None`:
/// once), saying what is still waiting.
pub fn finish(gw: &Gateway, wait: Option<Duration>, log: &mut dyn FnMut(String)) {
    let start = Instant::now();
    let mut last_said: Option<Instant> = None;
    loop {
        let waiting = match settle(gw, log) {
            Ok(w) => w,
            Err(e) => {
                log(format!(
                    "{e}; the pending clean-ups stay for the next ipsecmgr run"
                ));
                return;
            }
        };
        if waiting.is_empty() {
            return;
        }
        let left = wait.and_then(|w| w.checked_sub(start.elapsed()));
        let Some(left) = left.filter(|l| !l.is_zero()) else {
            for p in &waiting {
                log(format!(
                    "{}; the next ipsecmgr run (or --wait) finishes it",
                    state::describe(p)
                ));
            }
            return;
        };
        if last_said.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
            let peers: Vec<String> = waiting.iter().map(names).collect();
            log(format!(
                "waiting for the exchanges with {} to end ({} s left)",
                peers.join(", "),
                left.as_secs()
            ));
            last_said = Some(Instant::now());
        }
        std::thread::sleep(POLL.min(left));
    }
}
