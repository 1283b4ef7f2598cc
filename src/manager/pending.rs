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

/// How long after its last change to a connection list isakmpd rebuilds
/// its connections: ui.c: ui_conn_reinit arms a 5 s timer, re-armed by
/// every change; the setting `isakmpd_reinit_window` adds room for a busy
/// daemon.  Until then the passive record of a connection taken off its
/// list lives (connection.c: connection_teardown leaves it to
/// connection_reinit), and a peer that re-initiates is accepted under its
/// name: what a run takes away is watched at least this long.
pub fn reinit_window(gw: &Gateway) -> Duration {
    Duration::from_secs(gw.settings.isakmpd_reinit_window)
}

/// isakmpd's Exchange-max-time when `[General]` does not set it
/// (exchange.h: EXCHANGE_MAX_TIME).
const DEFAULT_EXCHANGE_MAX_TIME: u64 = 120;

/// How long isakmpd has to answer `C get`, once it has answered `S`.
const GET_WAIT: Duration = Duration::from_secs(2);

fn now() -> u64 {
    state::unix_seconds()
}

/// Whether `sa` belongs to what `p` waits for: an SA of its names or
/// peers, or an initiator exchange that was in flight when its connections
/// went (isakmpd does not say with whom) and may still live.
fn concerns(p: &PendingCleanup, sa: &IsakmpdSa, now: u64) -> bool {
    let by_address = |a: &Option<String>| a.as_ref().is_some_and(|a| p.addresses.contains(a));
    let earlier_exchange = sa.initiator_in_flight()
        && p.deadline.is_none_or(|d| now < d)
        && p.exchanges
            .as_ref()
            .zip(sa.icookie.as_ref())
            .is_some_and(|(seen, c)| seen.contains(c));
    earlier_exchange
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

/// isakmpd's Exchange-max-time, in seconds.
pub fn exchange_max_time(gw: &Gateway) -> u64 {
    report::isakmpd_get(
        &gw.fifo,
        &gw.result,
        "General",
        "Exchange-max-time",
        GET_WAIT,
    )
    .ok()
    .flatten()
    .and_then(|v| v.trim().parse().ok())
    .unwrap_or(DEFAULT_EXCHANGE_MAX_TIME)
}

/// Notes, in the clean-ups first seen since their run, the initiator
/// exchanges in flight now and when the last of them must be over.
/// Returns whether any was filled in.
fn note_exchanges(gw: &Gateway, pending: &mut [PendingCleanup], sas: &[IsakmpdSa]) -> bool {
    if pending.iter().all(|p| p.exchanges.is_some()) {
        return false;
    }
    let in_flight: Vec<String> = sas
        .iter()
        .filter(|s| s.initiator_in_flight())
        .filter_map(|s| s.icookie.clone())
        .collect();
    let deadline = now() + exchange_max_time(gw) + POLL.as_secs();
    for p in pending.iter_mut().filter(|p| p.exchanges.is_none()) {
        p.exchanges = Some(in_flight.clone());
        p.deadline = Some(deadline);
    }
    true
}

/// The lines that finish `p` now, against what the gateway loads now (a
/// fragment added since may use the peer again).
fn finishing_lines(gw: &Gateway, p: &PendingCleanup, tree: &Tree) -> Vec<String> {
    if p.removed.is_empty() {
        return Vec::new();
    }
    let remaining = ikes(tree.compiled.rules.iter());
    let kept = Kept::holding(&remaining, &p.removed, &state::held_rules(gw, tree, ""));
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

/// Reads `S` once, tears down late SAs, finishes every clean-up whose
/// peer has no exchange in flight and whose window has passed.  Returns
/// the clean-ups still waiting.
pub fn settle(gw: &Gateway, log: &mut dyn FnMut(String)) -> Result<Vec<PendingCleanup>, String> {
    let mut pending = state::pending_cleanups(gw)?;
    if pending.is_empty() {
        return Ok(pending);
    }
    let text = report::isakmpd_report(&gw.fifo, &gw.result, REPORT_WAIT)?;
    let sas = report::parse_sa_report(&text);
    let noted = note_exchanges(gw, &mut pending, &sas);
    let mut lines = late_teardowns(&pending, &sas);
    let now = now();
    let (waiting, done): (Vec<PendingCleanup>, Vec<PendingCleanup>) =
        pending.into_iter().partition(|p| {
            now < p.not_before || sas.iter().any(|sa| negotiating(sa) && concerns(p, sa, now))
        });
    if done.iter().any(|p| !p.removed.is_empty()) {
        let tree = Tree::load(gw);
        for p in &done {
            lines.extend(finishing_lines(gw, p, &tree));
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
    if !done.is_empty() || noted {
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

/// Starts the reinit window of the clean-ups still in it from now: the
/// run that made them has just sent its last list change.
pub fn window_from_now(gw: &Gateway) {
    let now = now();
    let Ok(mut pending) = state::pending_cleanups(gw) else {
        return;
    };
    let mut moved = false;
    for p in pending.iter_mut().filter(|p| p.not_before > now) {
        p.not_before = now + reinit_window(gw).as_secs();
        moved = true;
    }
    if moved {
        // a window that stays as planned is a second or two short at worst
        let _ = state::store_pending(gw, &pending);
    }
}

/// [`settle`], repeated until nothing waits or `wait` has passed (`None`:
/// once), saying what is still waiting.  A clean-up whose connections
/// went in this run is waited for until isakmpd's reinit has run, `wait`
/// or not: what a peer brought back meanwhile is torn down then.
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
        let now = now();
        let reinit = waiting
            .iter()
            .map(|p| p.not_before.saturating_sub(now))
            .max()
            .filter(|&s| s <= reinit_window(gw).as_secs())
            .map(Duration::from_secs)
            .unwrap_or_default();
        let asked = wait.unwrap_or_default().saturating_sub(start.elapsed());
        let left = asked.max(reinit);
        if left.is_zero() {
            for p in &waiting {
                log(format!(
                    "{}; the next ipsecmgr run (or --wait) finishes it",
                    state::describe(p)
                ));
            }
            return;
        }
        if last_said.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
            if asked.is_zero() {
                log(format!(
                    "waiting {} s for isakmpd's connection reinit, to tear down what a peer brings back meanwhile",
                    left.as_secs().max(1)
                ));
            } else {
                let peers: Vec<String> = waiting.iter().map(names).collect();
                log(format!(
                    "waiting for the exchanges with {} to end ({} s left)",
                    peers.join(", "),
                    left.as_secs()
                ));
            }
            last_said = Some(Instant::now());
        }
        if !crate::system::interrupt::sleep(POLL.min(left)) {
            log(format!(
                "stopped waiting: caught {}; the clean-ups stay pending for the next ipsecmgr run",
                crate::system::interrupt::caught()
                    .map_or("a signal".into(), crate::system::interrupt::name)
            ));
            return;
        }
    }
}
