//! Carrying a plan out under a journal.  Before each step the journal in
//! state_dir records the plan and how far it got, so a run that was
//! interrupted (crash, kill, power) is found by the next one, which rolls
//! it back (if it had not reached its commit point) or completes it, and
//! says which.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::manager::gateway::Gateway;
use crate::manager::journal_check;
use crate::manager::plan::{Plan, Step};
use crate::manager::quiet;
use crate::manager::state;
use crate::rules::model::RuleKind;
use crate::system::fs::{atomic_write, create_private_dir, move_file};
use crate::system::interrupt;
use crate::system::ipsecctl::{self, Ipsecctl};
use crate::system::{fifo, files};

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    plan: Plan,
    /// The first step not known to be done.
    next: usize,
    /// When step `next` writes into the FIFO: how many of its lines are
    /// known to be in, so that a run taking it up sends only the rest.
    #[serde(default)]
    sent: usize,
}

fn write_journal(gw: &Gateway, plan: &Plan, next: usize) -> Result<(), String> {
    write_journal_sent(gw, plan, next, 0)
}

fn write_journal_sent(gw: &Gateway, plan: &Plan, next: usize, sent: usize) -> Result<(), String> {
    create_private_dir(&gw.state_dir)?;
    let text = serde_json::to_vec(&Journal {
        plan: plan.for_journal(),
        next,
        sent,
    })
    .map_err(|e| format!("cannot write the journal: {e}"))?;
    atomic_write(&gw.journal_path(), &text, 0o600)
}

/// Removes the journal of a run that is over, durably: a journal left
/// behind would be taken up again by the next run.
fn clear_journal(gw: &Gateway, log: &mut dyn FnMut(String)) {
    remove_backups(gw, log);
    let path = gw.journal_path();
    match fs::remove_file(&path) {
        Ok(()) => crate::system::fs::sync_dir(&gw.state_dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log(format!(
            "cannot remove {}: {}; the run is over, so remove it by hand, or the next run takes it up again",
            crate::escape::escaped_path(&path),
            files::io_reason(&e)
        )),
    }
}

/// Where a private write (see `Step::Write::private`) keeps the file it
/// replaces until the run ends: step `index`'s copy.
fn backup_path(gw: &Gateway, index: usize) -> PathBuf {
    gw.state_dir.join("backup").join(index.to_string())
}

/// Removes the copies private writes made, holding keys, once a run is
/// over (done or rolled back).
fn remove_backups(gw: &Gateway, log: &mut dyn FnMut(String)) {
    let dir = gw.state_dir.join("backup");
    match fs::remove_dir_all(&dir) {
        Ok(()) => crate::system::fs::sync_dir(&gw.state_dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log(format!(
            "cannot remove {}: {}; it holds copies of files with keys: remove it by hand",
            crate::escape::escaped_path(&dir),
            files::io_reason(&e)
        )),
    }
}

/// A private write: the file there now is copied aside first (the copy
/// readable by root alone), so that a rollback, even by a later run that
/// has only the journal, can put it back.
fn private_write(
    gw: &Gateway,
    index: usize,
    path: &Path,
    new: &[u8],
    mode: u32,
) -> Result<(), String> {
    if fs::symlink_metadata(path).is_ok() {
        let old = files::read_regular(path, files::MAX_CONFIG_BYTES)
            .map_err(|e| format!("{}: {}", crate::escape::escaped_path(path), e.0))?;
        let backup = backup_path(gw, index);
        if let Some(dir) = backup.parent() {
            create_private_dir(dir)?;
        }
        atomic_write(&backup, &old.bytes, 0o600)?;
    }
    atomic_write(path, new, mode)
}

/// Undoes a private write: the copy put back, or the file it created
/// removed.  When neither is there, the write had not begun.
fn undo_private_write(
    gw: &Gateway,
    index: usize,
    path: &Path,
    created: bool,
    mode: u32,
) -> Result<(), String> {
    let backup = backup_path(gw, index);
    if fs::symlink_metadata(&backup).is_ok() {
        let old = files::read_regular(&backup, files::MAX_CONFIG_BYTES)
            .map_err(|e| format!("{}: {}", crate::escape::escaped_path(&backup), e.0))?;
        atomic_write(path, &old.bytes, mode)?;
        let _ = fs::remove_file(&backup);
        return Ok(());
    }
    if created {
        return match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!(
                "cannot remove {}: {}",
                crate::escape::escaped_path(path),
                files::io_reason(&e)
            )),
            _ => Ok(()),
        };
    }
    Ok(())
}

/// A step that failed: why, and whether it may have done part of its work
/// (then it is undone too).  An ipsecctl that could not be started, or a
/// FIFO that took no line, did nothing.
struct Failed {
    why: String,
    touched: bool,
}

impl Failed {
    fn untouched(why: String) -> Failed {
        Failed {
            why,
            touched: false,
        }
    }
}

impl From<String> for Failed {
    fn from(why: String) -> Failed {
        Failed { why, touched: true }
    }
}

/// ipsecctl as the gateway's settings run it: bounded in time, and told
/// the FIFO when it is not ipsecctl's own default.
fn ipsecctl(gw: &Gateway) -> Ipsecctl {
    let mut ctl = Ipsecctl::new(&gw.ipsecctl);
    ctl.timeout = gw.ipsecctl_timeout;
    if gw.settings.isakmpd_fifo != ipsecctl::DEFAULT_FIFO {
        ctl.fifo = Some(gw.fifo.clone());
    }
    ctl
}

/// The file an ipsecctl step reads (`-f FILE`).
fn rules_file(args: &[String]) -> Option<&str> {
    let at = args.iter().position(|a| a == "-f")?;
    args.get(at + 1).map(String::as_str)
}

/// Whether rules text holds ike rules, which make ipsecctl write into
/// isakmpd's FIFO (ike.c: ike_ipsec_establish opens it, blocking, for each
/// one, when loading and when deleting).  Text that does not compile is
/// taken to hold some.
fn has_ike_rules(gw: &Gateway, text: &[u8]) -> bool {
    let compiled = gw.compile_text("ipsecctl input", text);
    compiled.has_errors()
        || compiled
            .rules
            .iter()
            .any(|r| matches!(r.kind, RuleKind::Ike(_)))
}

/// The rules an ipsecctl step will read: its own file, else the file its
/// `-f` names as an earlier step of the plan writes it, else as it is.
fn ipsecctl_input(
    earlier: &[Step],
    args: &[String],
    file: &Option<(PathBuf, Vec<u8>)>,
) -> Option<Vec<u8>> {
    if let Some((_, text)) = file {
        return Some(text.clone());
    }
    let path = Path::new(rules_file(args)?);
    let written = earlier.iter().rev().find_map(|s| match s {
        Step::Write { path: p, new, .. } if p == path => Some(new.clone()),
        _ => None,
    });
    written.or_else(|| fs::read(path).ok())
}

/// Checks that isakmpd reads its FIFO before an ipsecctl run that writes
/// into it: ipsecctl opens the FIFO blocking and would wait for a reader.
fn check_fifo_for(gw: &Gateway, input: Option<&[u8]>) -> Result<(), String> {
    match input {
        Some(text) if !has_ike_rules(gw, text) => Ok(()),
        // a file that cannot be read is not read by ipsecctl either
        None => Ok(()),
        Some(_) => fifo::check(&gw.fifo),
    }
}

/// Checks what the plan needs before touching anything: ipsecctl can be
/// run, isakmpd reads its FIFO when a step writes into it, every FIFO
/// line can be sent whole, and (without `--wait`) no load would re-set the
/// sections of a peer an exchange in flight may be with (see
/// [`crate::manager::quiet`]).  A run checks this before it shows its
/// plan, so that a refused run shows the refusal alone.
pub fn preflight(gw: &Gateway, plan: &Plan, wait: Option<Duration>) -> Result<(), String> {
    let mut peers = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        match step {
            Step::Ipsecctl { args, file, .. } => {
                check_executable(&gw.ipsecctl)?;
                let input = ipsecctl_input(&plan.steps[..i], args, file);
                check_fifo_for(gw, input.as_deref())?;
                if is_load(args)
                    && let Some(text) = &input
                {
                    peers.extend(quiet::peers_of(gw, text));
                }
            }
            Step::Fifo { lines } => {
                fifo::check_lines(lines)?;
                fifo::check(&gw.fifo)?;
            }
            // sent only on a rollback, when isakmpd may be gone: the lines
            // must still be whole
            Step::FifoOnUndo { lines } => fifo::check_lines(lines)?,
            // no exchange holds the key it replaces (see Step::LoadKey)
            Step::LoadKey { .. } => fifo::check(&gw.fifo)?,
            _ => {}
        }
    }
    quiet::check_before(gw, &peers, &plan.initiating, &plan.initiating_kept, wait)
}

/// Whether ipsecctl `args` load rules (`-f` without `-d`).
fn is_load(args: &[String]) -> bool {
    rules_file(args).is_some() && !args.iter().any(|a| a == "-d")
}

/// How long a load may wait for an exchange in flight (see
/// [`crate::manager::quiet`]): forward, what `--wait` allows; to undo or
/// to complete an interrupted run, up to isakmpd's own bound on an
/// exchange's life, as nothing is gained by leaving the run half done.
#[derive(Clone, Copy)]
enum LoadWait {
    Forward(Duration),
    Recovering,
}

impl LoadWait {
    fn bound(self, gw: &Gateway) -> Duration {
        match self {
            LoadWait::Forward(d) => d,
            // the exchanges of the connections taken away end by then
            LoadWait::Recovering => {
                Duration::from_secs(crate::manager::pending::exchange_max_time(gw) + 5)
            }
        }
    }
}

/// What is left of `--wait` for a forward load, the run `started` then.
fn forward_wait(wait: Option<Duration>, started: std::time::Instant) -> LoadWait {
    LoadWait::Forward(wait.unwrap_or_default().saturating_sub(started.elapsed()))
}

/// What a load checks before it runs: how long it may wait, and which
/// peers isakmpd may be starting exchanges with.
#[derive(Clone, Copy)]
struct LoadGuard<'a> {
    wait: LoadWait,
    initiating: &'a [String],
}

fn check_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(|e| {
        format!(
            "{}: {}",
            crate::escape::escaped_path(path),
            files::io_reason(&e)
        )
    })?;
    if !meta.is_file() {
        return Err(format!(
            "{} is not a regular file",
            crate::escape::escaped_path(path)
        ));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!(
            "{} is not executable",
            crate::escape::escaped_path(path)
        ));
    }
    Ok(())
}

/// Runs an ipsecctl step; an `interruptible` run (a forward step of this
/// run, not an undo or a recovery) is stopped by a caught signal.
fn run_ipsecctl(
    gw: &Gateway,
    args: &[String],
    file: &Option<(PathBuf, Vec<u8>)>,
    tolerant: bool,
    guard: LoadGuard,
    interruptible: bool,
    log: &mut dyn FnMut(String),
) -> Result<(), Failed> {
    if let Some((path, text)) = file {
        if let Some(dir) = path.parent() {
            create_private_dir(dir)?;
        }
        atomic_write(path, text, 0o600)?;
    }
    let input = ipsecctl_input(&[], args, file);
    let quiet = || match &input {
        Some(text) if is_load(args) => quiet::wait_until_quiet(
            gw,
            &quiet::peers_of(gw, text),
            guard.initiating,
            guard.wait.bound(gw),
        ),
        _ => Ok(()),
    };
    let ctl = Ipsecctl {
        interruptible,
        ..ipsecctl(gw)
    };
    let wrapped = with_keys(gw, args);
    let outcome = wrapped
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|(args, _)| {
            check_fifo_for(gw, input.as_deref())
                .and_then(|()| quiet())
                .and_then(|()| ctl.run(args))
        });
    if let Some((path, _)) = file {
        let _ = fs::remove_file(path);
    }
    if let Ok((_, Some(wrapper))) = &wrapped {
        let _ = fs::remove_file(wrapper);
    }
    // not started: nothing was loaded or deleted
    let outcome = outcome.map_err(Failed::untouched)?;
    let shown = args.join(" ");
    if outcome.success {
        let said = outcome.stderr.trim_end();
        if !said.is_empty() {
            log(format!("ipsecctl {shown}: {said}"));
        }
        return Ok(());
    }
    let said = outcome.failure();
    if tolerant {
        log(format!("ipsecctl {shown} failed, going on: {said}"));
        Ok(())
    } else {
        Err(format!("ipsecctl {shown} failed:\n{said}").into())
    }
}

/// With the keys layout, ipsecctl is handed a file that includes the keys
/// file, then the rules file its `-f` names: a fragment written with
/// `psk $acme_psk` loads (and deletes) alone exactly as ipsec.conf loads
/// it, one symbol table for both files (parse.y: an include reads on in
/// the same parser; macros are global).  The file holds two paths and no
/// key, is written 0600 (parse.y: pushfile refuses a main file others can
/// read) and removed after the run; no key is ever on a command line.
/// Returns the arguments to run and the file to remove.
fn with_keys(gw: &Gateway, args: &[String]) -> Result<(Vec<String>, Option<PathBuf>), String> {
    let (Some(keys), Some(at)) = (&gw.settings.keys, args.iter().position(|a| a == "-f")) else {
        return Ok((args.to_vec(), None));
    };
    let Some(rules) = args.get(at + 1) else {
        return Ok((args.to_vec(), None));
    };
    let keys_path = gw.root.map(&keys.file);
    // no keys file yet (before `key migrate`): the rules load as they are
    if std::fs::symlink_metadata(&keys_path).is_err() {
        return Ok((args.to_vec(), None));
    }
    let text = format!(
        "# written by ipsecmgr for one ipsecctl run: the keys, then the rules\ninclude {}\ninclude {}\n",
        include_word(&keys_path.display().to_string())?,
        include_word(rules)?
    );
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let wrapper = gw
        .work_dir()
        .join(format!("with-keys-{}-{n}.conf", std::process::id()));
    create_private_dir(&gw.work_dir())?;
    atomic_write(&wrapper, text.as_bytes(), 0o600)?;
    let mut args = args.to_vec();
    args[at + 1] = wrapper.display().to_string();
    Ok((args, Some(wrapper)))
}

/// A path as an include statement's quoted string: ipsecctl's lexer ends
/// it at its quote and reads a backslash before a quote or newline as an
/// escape (parse.y: yylex), so a path holding one cannot be written.
fn include_word(path: &str) -> Result<String, String> {
    if path.contains(['"', '\\']) || path.chars().any(char::is_control) {
        return Err(format!(
            "{}: a path ipsecctl cannot be given in an include",
            crate::escape::escaped(path)
        ));
    }
    Ok(format!("\"{path}\""))
}

/// Sends a FIFO step's lines from line `from` on; when it has to wait,
/// and when it stops, the journal records how many are in.
fn send_fifo(
    gw: &Gateway,
    plan: &Plan,
    index: usize,
    lines: &[String],
    from: usize,
) -> Result<(), Failed> {
    let rest = &lines[from.min(lines.len())..];
    let mut record = |sent: usize| {
        let _ = write_journal_sent(gw, plan, index, from + sent);
    };
    fifo::send_lines(&gw.fifo, rest, &mut record).map_err(|u| {
        if u.sent > 0 {
            record(u.sent);
        }
        Failed {
            why: u.why,
            touched: u.sent > 0,
        }
    })
}

/// Runs step `index` of `plan`; a FIFO step starts at line `from`.
fn run_step(
    gw: &Gateway,
    plan: &Plan,
    index: usize,
    from: usize,
    forward_only: bool,
    load_wait: LoadWait,
    log: &mut dyn FnMut(String),
) -> Result<(), Failed> {
    match &plan.steps[index] {
        Step::Write {
            path,
            new,
            mode,
            private,
            ..
        } => {
            if let Some(dir) = path.parent() {
                create_private_dir(dir)?;
            }
            if *private {
                return Ok(private_write(gw, index, path, new, *mode)?);
            }
            Ok(atomic_write(path, new, *mode)?)
        }
        Step::Move { from, to, .. } => {
            if from.exists() {
                Ok(move_file(from, to)?)
            } else {
                Ok(())
            }
        }
        Step::Ipsecctl {
            args,
            file,
            tolerant,
            ..
        } => {
            let guard = LoadGuard {
                wait: load_wait,
                initiating: &plan.initiating,
            };
            run_ipsecctl(
                gw,
                args,
                file,
                *tolerant || forward_only,
                guard,
                !forward_only,
                log,
            )
        }
        Step::Fifo { lines } => send_fifo(gw, plan, index, lines, from),
        Step::FifoOnUndo { .. } => Ok(()),
        Step::LoadKey { name, peers } => {
            let key =
                crate::manager::keys_file::value_in_file(gw, name).map_err(Failed::untouched)?;
            let lines: Vec<String> = peers.iter().map(|p| p.line(&key)).collect();
            send_fifo(gw, plan, index, &lines, from)
        }
    }
}

/// What taking back an ipsecctl run did: the undo run, and whether it
/// failed (the rollback goes on: the files are still put back).
struct Undone {
    /// The step taken back.
    index: usize,
    run: Vec<String>,
    undo: Vec<String>,
    failed: bool,
}

/// Takes back the steps before `done`, last first, and returns what it
/// did to isakmpd.  Stops at the first step it cannot undo (say the disk
/// is full) and returns its index and why: the steps below it are still
/// done, and undoing it again later is safe, as undoing any step twice is.
fn roll_back(
    gw: &Gateway,
    plan: &Plan,
    done: usize,
    log: &mut dyn FnMut(String),
) -> Result<Vec<Undone>, (usize, String)> {
    let mut undone = Vec::new();
    for (i, step) in plan.steps[..done].iter().enumerate().rev() {
        let result = match step {
            Step::Write {
                path,
                old,
                mode,
                private: true,
                ..
            } => undo_private_write(gw, i, path, old.is_none(), *mode),
            Step::Write {
                path,
                old: Some(old),
                mode,
                ..
            } => atomic_write(path, old, *mode),
            Step::Write {
                path, old: None, ..
            } => match fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!(
                    "cannot remove {}: {}",
                    crate::escape::escaped_path(path),
                    files::io_reason(&e)
                )),
                _ => Ok(()),
            },
            Step::Move { from, to, .. } if to.exists() => move_file(to, from),
            Step::Ipsecctl {
                args: run,
                undo: Some(args),
                file,
                ..
            } => {
                let guard = LoadGuard {
                    wait: LoadWait::Recovering,
                    initiating: &plan.initiating,
                };
                // a failed undo is said, and the rollback goes on
                let failed = run_ipsecctl(gw, args, file, false, guard, false, log)
                    .map_err(|f| log(format!("undoing `ipsecctl {}`: {}", run.join(" "), f.why)))
                    .is_err();
                undone.push(Undone {
                    index: i,
                    run: run.clone(),
                    undo: args.clone(),
                    failed,
                });
                Ok(())
            }
            // only when the step after it (which it undoes) may have run;
            // isakmpd may be gone by now: what cannot be sent is said, and
            // the rest of the rollback goes on
            Step::FifoOnUndo { lines } if i + 1 < done => {
                if let Err(e) = fifo::send(&gw.fifo, lines) {
                    log(format!("{e}; isakmpd keeps what the undone step loaded"));
                }
                Ok(())
            }
            _ => Ok(()),
        };
        result.map_err(|e| (i, e))?;
    }
    Ok(undone)
}

/// After an undo failed at step `stuck`: the journal is kept, naming that
/// step, for the next run to finish the rollback.  If even that cannot be
/// written, the journal already there names a later step, and the next
/// run undoes a few steps twice, which is safe.
fn keep_for_rollback(gw: &Gateway, plan: &Plan, stuck: usize, why: &str) -> String {
    let _ = write_journal(gw, plan, stuck);
    format!(
        "could not undo a step: {why}\n`{}` is partly undone; the next ipsecmgr run rolls it back",
        plan.op
    )
}

/// Runs `plan`.  On a failure before the commit point, what was done is
/// undone and the error returned; after it, the error is returned and the
/// journal kept, for the next run to complete.
/// `wait` (`--wait`) is how long a load may wait for an exchange in
/// flight with its peers; without it, a plan whose loads would have to
/// wait is refused before any step.
pub fn execute(
    gw: &Gateway,
    plan: &Plan,
    wait: Option<Duration>,
    log: &mut dyn FnMut(String),
) -> Result<(), String> {
    preflight(gw, plan, wait).map_err(|e| format!("{e}\nnothing was changed"))?;
    let started = std::time::Instant::now();
    for i in 0..plan.steps.len() {
        crate::faults::signal_before_step(i);
        if let Some(sig) = interrupt::caught() {
            return Err(stop_at(gw, plan, i, sig, log));
        }
        // the journal must say where the run is before the step starts; a
        // journal that cannot be written stops the run there, like a step
        // that fails.  `recorded` is the step the journal on disk names,
        // where the next run would take up; `done` how many steps may have
        // done something and are undone if the run is rolled back.
        // `ran`: how many steps reached what they act on, for saying what
        // isakmpd saw
        let (e, recorded, done, ran) = match write_journal(gw, plan, i) {
            Err(e) if i == 0 => return Err(format!("{e}\nnothing was changed")),
            Err(e) => (e, i - 1, i, i),
            Ok(()) => match crate::faults::before_step(i) {
                // an injected fault stands for a step that failed part-way:
                // undone, though it never ran
                Err(e) => (e, i, i + 1, i),
                Ok(()) => match run_step(gw, plan, i, 0, false, forward_wait(wait, started), log) {
                    Ok(()) => continue,
                    // a step that fails may have done part of its work
                    // (ipsecctl goes on past a rule it rejects): it is
                    // undone too, unless it did nothing at all
                    Err(f) => {
                        let done = if f.touched { i + 1 } else { i };
                        (f.why, i, done, done)
                    }
                },
            },
        };
        if recorded >= plan.commit {
            return Err(format!(
                "{e}\n`{}` is partly done; the next ipsecmgr run completes it",
                plan.op
            ));
        }
        let undone = match roll_back(gw, plan, done, log) {
            Ok(undone) => undone,
            Err((stuck, why)) => {
                return Err(format!("{e}\n{}", keep_for_rollback(gw, plan, stuck, &why)));
            }
        };
        clear_journal(gw, log);
        return Err(format!("{e}\n{}", rolled_back(plan, ran, &undone)));
    }
    clear_journal(gw, log);
    Ok(())
}

/// A signal caught before step `next`: the steps before it are done.  Up
/// to the commit point they are rolled back; past it the journal records
/// where the run stopped, for the next run to complete it.  Says which.
fn stop_at(
    gw: &Gateway,
    plan: &Plan,
    next: usize,
    sig: i32,
    log: &mut dyn FnMut(String),
) -> String {
    let caught = format!(
        "caught {} before step {} of {}",
        interrupt::name(sig),
        next + 1,
        plan.steps.len()
    );
    if next > plan.commit {
        return match write_journal(gw, plan, next) {
            Ok(()) => format!(
                "{caught}: stopped there; `{}` is partly done, and the next ipsecmgr run completes it",
                plan.op
            ),
            Err(e) => format!(
                "{caught}: stopped there ({e}); `{}` is partly done, and the next ipsecmgr run completes it",
                plan.op
            ),
        };
    }
    match roll_back(gw, plan, next, log) {
        Ok(undone) => {
            clear_journal(gw, log);
            format!(
                "{caught}: rolled back; {}",
                rolled_back(plan, next, &undone)
            )
        }
        Err((stuck, why)) => format!("{caught}: {}", keep_for_rollback(gw, plan, stuck, &why)),
    }
}

/// What a rollback leaves to say, when the first `ran` steps of `plan`
/// had run: the files are as they were, but an ipsecctl run or FIFO lines
/// that went out reached isakmpd, which acted on them (a tunnel torn down
/// and loaded again negotiates anew), and an undo that failed left it so.
fn rolled_back(plan: &Plan, ran: usize, undone: &[Undone]) -> String {
    let mut seen: Vec<String> = undone
        .iter()
        .rev()
        .filter(|u| u.index < ran)
        .map(|u| {
            let (run, undo) = (u.run.join(" "), u.undo.join(" "));
            let deletes = u.run.iter().any(|a| a == "-d");
            match (deletes, u.failed) {
                (true, false) => format!(
                    "`ipsecctl {run}` tore its tunnels down and `ipsecctl {undo}` loaded them again (they negotiate anew)"
                ),
                (false, false) => format!(
                    "`ipsecctl {run}` ran and `ipsecctl {undo}` took its rules out again"
                ),
                (true, true) => format!(
                    "`ipsecctl {run}` tore its tunnels down and `ipsecctl {undo}` failed to load them again (as said above): they stay down"
                ),
                (false, true) => format!(
                    "`ipsecctl {run}` ran and `ipsecctl {undo}` failed to take its rules out again (as said above): they may stay loaded"
                ),
            }
        })
        .collect();
    for step in &plan.steps[..ran] {
        if let Step::Fifo { lines } = step {
            seen.push(format!(
                "{} line(s) went into isakmpd's FIFO, which cannot be taken back",
                lines.len()
            ));
        }
    }
    if seen.is_empty() {
        return "nothing was changed: what was done is undone".to_string();
    }
    format!(
        "nothing was changed in the files (what was done is undone), but isakmpd saw the run: {}",
        seen.join("; ")
    )
}

/// The journal an interrupted run left, if any: read as every state file
/// is, and its steps checked ([`journal_check`]) before any is taken up.
fn read_journal(gw: &Gateway) -> Result<Option<Journal>, String> {
    let path = gw.journal_path();
    let repair = "move it away to go on";
    let Some(text) = state::read_file(&path, state::MAX_STATE_BYTES, repair)? else {
        return Ok(None);
    };
    let shown = crate::escape::escaped_path(&path);
    let journal: Journal = serde_json::from_slice(&text)
        .map_err(|e| format!("{shown}: unreadable journal ({e}); {repair}"))?;
    journal_check::check(gw, &journal.plan)
        .map_err(|e| format!("{shown}: refused: {e}; {repair}"))?;
    Ok(Some(journal))
}

/// What an interrupted run left for the next mutating run to do, said for
/// people, if anything: commands that only look warn with it.  A journal
/// whose run still holds the lock is a run in progress, not an interrupted one.
pub fn pending(gw: &Gateway) -> Option<String> {
    match read_journal(gw) {
        Ok(None) => None,
        Err(e) => Some(e),
        Ok(Some(j)) => {
            let at = format!("step {} of {}", j.next + 1, j.plan.steps.len());
            let holder = crate::system::fs::Lock::holder(&gw.state_dir).map(|note| {
                note.map_or("another ipsecmgr run holds the lock".to_string(), |n| {
                    crate::escape::escaped(&n)
                })
            });
            Some(match holder {
                Some(holder) => format!("`{}` is in progress ({holder}), at {at}", j.plan.op),
                None => format!(
                    "`{}` was interrupted at {at}; the next mutating ipsecmgr run will {}",
                    j.plan.op,
                    if j.next < j.plan.commit {
                        "roll it back"
                    } else {
                        "complete it"
                    }
                ),
            })
        }
    }
}

/// Removes the temporary files a killed run left beside the files
/// ipsecmgr writes (half-written copies, some holding keys), and the rule
/// files it wrote for ipsecctl (the journal holds them again for a run
/// that is to be completed or rolled back), and says so.
fn remove_stale_temps(gw: &Gateway, log: &mut dyn FnMut(String)) {
    // the directories ipsecmgr writes files in, and below them those of
    // fragments in subdirectories (`sub/acme`)
    let mut dirs = Vec::new();
    for top in [
        gw.fragment_dir.actual.clone(),
        gw.state_dir.join("applied"),
        gw.state_dir.join("loaded"),
    ] {
        dirs.extend(directories(&top));
    }
    dirs.extend([gw.state_dir.clone(), gw.removed_dir()]);
    for conf in [Ok(gw.ipsec_conf.actual.clone()), gw.ipsec_conf_target()] {
        if let Some(dir) = conf.ok().as_deref().and_then(std::path::Path::parent) {
            dirs.push(dir.to_path_buf());
        }
    }
    dirs.sort();
    dirs.dedup();
    let removed: Vec<String> = dirs
        .iter()
        .flat_map(|d| crate::system::fs::remove_stale_temps(d, false))
        .chain(crate::system::fs::remove_stale_temps(&gw.work_dir(), true))
        .map(|p| gw.shown(&p))
        .collect();
    if !removed.is_empty() {
        log(format!(
            "removed {} temporary file(s) an interrupted run left: {}",
            removed.len(),
            removed.join(", ")
        ));
    }
}

/// `top` and the directories below it, as deep as a fragment's name can
/// go, links not followed.
fn directories(top: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(top)
        .max_depth(8)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_dir())
        .map(walkdir::DirEntry::into_path)
        .collect()
}

/// Whether taking up `journal` runs ipsecctl or writes into the FIFO: a
/// rollback undoes an ipsecctl run or sends the lines that go with it, a
/// completion runs the ipsecctl and FIFO steps left.
fn recovery_touches_isakmpd(journal: &Journal) -> bool {
    let plan = &journal.plan;
    let next = journal.next.min(plan.steps.len());
    if next < plan.commit {
        let undone = &plan.steps[..(next + 1).min(plan.steps.len())];
        undone.iter().any(|s| {
            matches!(
                s,
                Step::Ipsecctl { undo: Some(_), .. } | Step::FifoOnUndo { .. }
            )
        })
    } else {
        plan.steps[next..].iter().any(|s| {
            matches!(
                s,
                Step::Ipsecctl { .. } | Step::Fifo { .. } | Step::LoadKey { .. }
            )
        })
    }
}

/// Finishes or rolls back a run that was interrupted, after removing the
/// temporary files it left; returns what it did.  With `files_only` (a
/// `--config-only` run, which leaves ipsecctl and isakmpd alone), a run
/// whose recovery would run ipsecctl or write into the FIFO is left as it
/// is, and that is the error.
pub fn recover(
    gw: &Gateway,
    files_only: bool,
    log: &mut dyn FnMut(String),
) -> Result<Option<String>, String> {
    remove_stale_temps(gw, log);
    let Some(journal) = read_journal(gw)? else {
        return Ok(None);
    };
    let plan = &journal.plan;
    let next = journal.next.min(plan.steps.len());
    if files_only && recovery_touches_isakmpd(&journal) {
        return Err(format!(
            "the interrupted `{}` is to be {} with ipsecctl and isakmpd, which --config-only leaves alone; a run without --config-only takes it up once isakmpd runs",
            plan.op,
            if next < plan.commit {
                "rolled back"
            } else {
                "completed"
            }
        ));
    }
    let said = if next < plan.commit {
        // the run may have died after step `next` did its work and before
        // the journal said so: it is undone too (undoing a step that did
        // not happen changes nothing)
        if let Err((stuck, why)) = roll_back(gw, plan, next + 1, log).map(|_| ()) {
            return Err(format!(
                "rolling back the interrupted `{}`: {}",
                plan.op,
                keep_for_rollback(gw, plan, stuck, &why)
            ));
        }
        format!("rolled back the interrupted `{}`", plan.op)
    } else {
        for i in next..plan.steps.len() {
            // the lines of an interrupted FIFO step already sent are not
            // sent again
            let from = if i == next { journal.sent } else { 0 };
            write_journal_sent(gw, plan, i, from)
                .map_err(Failed::from)
                .and_then(|()| run_step(gw, plan, i, from, true, LoadWait::Recovering, log))
                .map_err(|Failed { why: e, .. }| {
                    format!(
                        "completing the interrupted `{}`: {e}\nthe next ipsecmgr run tries again",
                        plan.op
                    )
                })?;
        }
        format!("completed the interrupted `{}`", plan.op)
    };
    clear_journal(gw, log);
    Ok(Some(said))
}
