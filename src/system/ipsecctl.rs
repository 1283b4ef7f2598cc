//! Running ipsecctl(8): an argument vector, never a shell; its exit status
//! and messages are what the caller decides on.
//!
//! Every run is bounded: ipsecctl gets its own process group, and when it
//! has not exited and closed its output by the deadline (a hung ipsecctl,
//! or one that left a child holding its stdout), the whole group is killed
//! and the run counts as failed.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::system::files::io_reason;

/// How long a run may take when the caller sets no bound.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Output beyond this is read and dropped: ipsecctl's own output is far
/// smaller, so more means something else is talking.
const OUTPUT_LIMIT: u64 = 64 << 20;

/// How long to wait for the pipes to close once the group is killed (a
/// process that left the group may still hold them).
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(1);

/// ipsecctl's FIFO when not given `-i` (ipsecctl.c: `isakmpd_fifo`).
pub const DEFAULT_FIFO: &str = "/var/run/isakmpd.fifo";

#[derive(Debug, Clone)]
pub struct Ipsecctl {
    pub path: PathBuf,
    /// Passed as `-i FIFO` to runs that load or delete rules.
    pub fifo: Option<PathBuf>,
    pub timeout: Duration,
    /// A caught signal ([`crate::system::interrupt`]) stops the run: its
    /// process group is killed, and the run counts as failed.
    pub interruptible: bool,
}

/// What one run of ipsecctl did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    /// How it ended when that was not a plain exit 0: exit status, signal,
    /// or killed at the deadline.
    pub ended: Option<String>,
}

impl Outcome {
    /// What to tell the user about a failed run: its messages, and how it
    /// ended when that says more.
    pub fn failure(&self) -> String {
        let said = self.stderr.trim_end();
        match (&self.ended, said.is_empty()) {
            (Some(how), true) => how.clone(),
            (Some(how), false) => format!("{said}\n({how})"),
            (None, _) => said.to_string(),
        }
    }
}

impl Ipsecctl {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Ipsecctl {
            path: path.into(),
            fifo: None,
            timeout: DEFAULT_TIMEOUT,
            interruptible: false,
        }
    }

    /// Runs ipsecctl with `args`; `Err` when it could not be started, so
    /// that it did nothing.
    pub fn run(&self, args: &[String]) -> Result<Outcome, String> {
        let mut cmd = Command::new(&self.path);
        cmd.args(self.fifo_args(args))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // its own group, so that a kill reaches what it started too
            .process_group(0);
        let child = cmd.spawn().map_err(|e| self.not_started(&e))?;
        Ok(self.wait(child))
    }

    /// `-i FIFO` for a run that reads rules (only those write to isakmpd).
    fn fifo_args(&self, args: &[String]) -> Vec<String> {
        match &self.fifo {
            Some(fifo) if args.iter().any(|a| a == "-f") => {
                vec!["-i".into(), fifo.display().to_string()]
            }
            _ => Vec::new(),
        }
    }

    fn not_started(&self, e: &std::io::Error) -> String {
        let shown = crate::escape::escaped_path(&self.path);
        let why = match e.raw_os_error() {
            // execve says ENOENT for a missing #! interpreter too
            Some(code) if code == nix::errno::Errno::ENOENT as i32 && self.path.exists() => {
                "its interpreter (the #! line) does not exist".to_string()
            }
            Some(code) if code == nix::errno::Errno::EACCES as i32 => {
                format!("{} (is it executable?)", io_reason(e))
            }
            _ => io_reason(e),
        };
        format!("cannot run {shown}: {why}")
    }

    /// Waits for the child to exit and close its output, up to the timeout.
    fn wait(&self, mut child: Child) -> Outcome {
        let start = Instant::now();
        let mut pipes = Pipes::start(&mut child);
        let mut status: Option<ExitStatus> = None;
        let stopped = loop {
            if status.is_none() {
                status = child.try_wait().ok().flatten();
            }
            if pipes.open == 0 && status.is_some() {
                break None;
            }
            if let Some(sig) = self.interrupted() {
                break Some(Stop::Signal(sig));
            }
            let left = self.timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                break Some(Stop::Deadline);
            }
            pipes.take(left.min(Duration::from_millis(10)));
        };
        if stopped.is_some() {
            status = Some(kill_group(&mut child));
            pipes.drain(DRAIN_AFTER_KILL);
        }
        self.outcome(pipes.output, status, stopped)
    }

    /// The signal that stops this run, if it is one a signal stops.
    fn interrupted(&self) -> Option<i32> {
        self.interruptible
            .then(crate::system::interrupt::caught)
            .flatten()
    }

    fn outcome(
        &self,
        output: [Vec<u8>; 2],
        status: Option<ExitStatus>,
        stopped: Option<Stop>,
    ) -> Outcome {
        let [stdout, stderr] = output.map(|o| String::from_utf8_lossy(&o).into_owned());
        let ended = match stopped {
            Some(Stop::Deadline) => Some(format!(
                "{} did not finish within {} seconds and was killed, with everything it started",
                crate::escape::escaped_path(&self.path),
                self.timeout.as_secs()
            )),
            Some(Stop::Signal(sig)) => Some(format!(
                "{} was stopped, with everything it started: ipsecmgr caught {}",
                self.path.display(),
                crate::system::interrupt::name(sig)
            )),
            None => status.and_then(describe_failure),
        };
        Outcome {
            success: stopped.is_none() && status.is_some_and(|s| s.success()),
            stdout,
            stderr,
            ended,
        }
    }

    /// `ipsecctl -f FILE`: load a file's flows, SAs and ike rules.
    pub fn load_args(file: &Path) -> Vec<String> {
        vec!["-f".into(), file.display().to_string()]
    }

    /// `ipsecctl -d -f FILE`: delete them.
    pub fn delete_args(file: &Path) -> Vec<String> {
        vec!["-d".into(), "-f".into(), file.display().to_string()]
    }
}

/// Why a run was ended before it finished.
#[derive(Clone, Copy)]
enum Stop {
    /// It ran past its time limit.
    Deadline,
    /// ipsecmgr caught this signal.
    Signal(i32),
}

/// A child's stdout and stderr, each read to its end in a thread, and
/// what they gave.
struct Pipes {
    done: mpsc::Receiver<(usize, Vec<u8>)>,
    /// How many are still open.
    open: usize,
    output: [Vec<u8>; 2],
}

impl Pipes {
    fn start(child: &mut Child) -> Pipes {
        let (tx, rx) = mpsc::channel();
        let mut open = 0;
        if let Some(p) = child.stdout.take() {
            read_in_thread(0, p, tx.clone());
            open += 1;
        }
        if let Some(p) = child.stderr.take() {
            read_in_thread(1, p, tx);
            open += 1;
        }
        Pipes {
            done: rx,
            open,
            output: [Vec::new(), Vec::new()],
        }
    }

    /// Takes what a pipe that closed within `wait` gave.
    fn take(&mut self, wait: Duration) {
        if self.open == 0 {
            std::thread::sleep(wait);
            return;
        }
        match self.done.recv_timeout(wait) {
            Ok((which, bytes)) => {
                self.output[which] = bytes;
                self.open -= 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => self.open = 0,
        }
    }

    /// Takes what the pipes give within `within` (a process that left the
    /// group may keep them open for ever).
    fn drain(&mut self, within: Duration) {
        let start = Instant::now();
        while self.open > 0 && start.elapsed() < within {
            self.take(within.saturating_sub(start.elapsed()));
        }
    }
}

/// Reads a pipe to its end in a thread; sends (which, bytes) when done.
fn read_in_thread(
    which: usize,
    pipe: impl Read + Send + 'static,
    done: mpsc::Sender<(usize, Vec<u8>)>,
) {
    std::thread::spawn(move || {
        let mut pipe = pipe;
        let mut bytes = Vec::new();
        let _ = (&mut pipe).take(OUTPUT_LIMIT).read_to_end(&mut bytes);
        // whatever is beyond the limit is read and dropped, so that the
        // writer is not blocked on a full pipe
        let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        let _ = done.send((which, bytes));
    });
}

/// Kills ipsecctl's process group and reaps ipsecctl.
fn kill_group(child: &mut Child) -> ExitStatus {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill();
    match child.wait() {
        Ok(status) => status,
        // cannot happen for a child of ours; an exit status of failure
        Err(_) => std::os::unix::process::ExitStatusExt::from_raw(1 << 8),
    }
}

fn describe_failure(status: ExitStatus) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    if status.success() {
        None
    } else if let Some(code) = status.code() {
        Some(format!("exit status {code}"))
    } else {
        status.signal().map(|s| format!("killed by signal {s}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("ipsecctl");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn a_hung_run_is_killed_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let mut ctl = Ipsecctl::new(script(dir.path(), "sleep 30 & exit 0"));
        ctl.timeout = Duration::from_millis(300);
        let start = Instant::now();
        let out = ctl.run(&["-sa".into()]).unwrap();
        assert!(start.elapsed() < Duration::from_secs(3));
        assert!(!out.success);
        assert!(out.failure().contains("did not finish within"), "{out:?}");
    }

    #[test]
    fn messages_and_status_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let ctl = Ipsecctl::new(script(dir.path(), "echo out; echo warn >&2; exit 3"));
        let out = ctl.run(&[]).unwrap();
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("out\n", "warn\n")
        );
        assert_eq!(out.failure(), "warn\n(exit status 3)");
        let e = Ipsecctl::new(dir.path().join("none")).run(&[]).unwrap_err();
        assert!(e.contains("No such file"), "{e}");
    }

    #[test]
    fn fifo_is_passed_to_runs_that_read_rules() {
        let mut ctl = Ipsecctl::new("/x");
        ctl.fifo = Some("/run/f".into());
        assert_eq!(ctl.fifo_args(&["-f".into(), "a".into()]), ["-i", "/run/f"]);
        assert!(ctl.fifo_args(&["-sa".into()]).is_empty());
    }
}
