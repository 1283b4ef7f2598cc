//! Hostile and realistic stand-ins for the programs ipsecmgr works with:
//! ipsecctl replacements wrapped around the recording double, an isakmpd
//! that answers `S` and `C get` as ui.c does (and can write slowly or stop
//! reading), and a way to run ipsecmgr that cannot hang a test.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::{BIN, Gateway, SETTINGS};

/// Where the recording double is moved to when a wrapper replaces it.
pub const DOUBLE: &str = "sbin/ipsecctl.double";

/// Replaces sbin/ipsecctl with a shell script: `body` runs with `$ROOT`
/// (the gateway root) and `$DOUBLE` (the recording double) set.
pub fn wrap_ipsecctl(gw: &Gateway, body: &str) {
    let real = gw.path("sbin/ipsecctl");
    let double = gw.path(DOUBLE);
    if !double.exists() {
        fs::rename(&real, &double).unwrap();
    }
    let script = format!(
        "#!/bin/sh\nROOT='{}'\nDOUBLE='{}'\n{body}\n",
        gw.root().display(),
        double.display()
    );
    write_program(&real, &script);
}

/// Writes an executable file.
pub fn write_program(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// An ipsecctl that, like the real one (ike.c: ike_ipsec_establish), opens
/// the FIFO — `-i FIFO`, else its default — blocking, for a file with ike
/// rules, and writes a line into it; then the recording double runs.
pub const FIFO_WRITING_IPSECCTL: &str = r#"fifo="$ROOT/var/run/isakmpd.fifo"
prev=""
file=""
for a in "$@"; do
	if [ "$prev" = "-i" ]; then fifo="$a"; fi
	if [ "$prev" = "-f" ]; then file="$a"; fi
	prev="$a"
done
if [ -n "$file" ] && grep -q '^ike' "$file"; then
	printf 'C set [ipsecctl-was-here]:File=%s force\n' "${file##*/}" > "$fifo" || exit 1
fi
exec "$DOUBLE" "$@""#;

/// Adds lines to the gateway's ipsecmgr.conf (top-level keys).
pub fn set_settings(gw: &Gateway, extra: &str) {
    gw.write("etc/ipsecmgr.conf", &format!("{extra}\n{SETTINGS}"));
}

/// What ran: exit code (None: killed by the bound, or by a signal), the
/// outputs, and how long it took.
pub struct Ran {
    pub code: Option<i32>,
    pub hung: bool,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl std::fmt::Debug for Ran {
    /// Shows the end of long outputs only: a plan can be very long.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tail = |s: &str| {
            let skip = s.chars().count().saturating_sub(1500);
            s.chars().skip(skip).collect::<String>()
        };
        write!(
            f,
            "exit {:?}, hung {}, took {:?}\n--- stdout (end)\n{}\n--- stderr (end)\n{}",
            self.code,
            self.hung,
            self.took,
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }
}

/// Runs ipsecmgr on `gw` for at most `limit`; a run still going then is
/// killed, with everything it started in its process group.  Outputs go to
/// files, so a process that keeps them open cannot hang the test.
pub fn run_bounded(gw: &Gateway, args: &[&str], limit: Duration) -> Ran {
    let ran = run_bounded_on(Path::new(BIN), gw.root(), args, limit);
    // let the FIFO reader take what was just written
    std::thread::sleep(Duration::from_millis(30));
    ran
}

/// [`run_bounded`] of the ipsecmgr `bin` on the gateway root `root`.
pub fn run_bounded_on(bin: &Path, root: &Path, args: &[&str], limit: Duration) -> Ran {
    run_bounded_with_input(bin, root, args, None, limit)
}

/// [`run_bounded_on`], with `input` (if any) on its standard input.
pub fn run_bounded_with_input(
    bin: &Path,
    root: &Path,
    args: &[&str],
    input: Option<&str>,
    limit: Duration,
) -> Ran {
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let stdin = match input {
        Some(text) => {
            let f = tempfile::NamedTempFile::new().unwrap();
            fs::write(f.path(), text).unwrap();
            Stdio::from(f.reopen().unwrap())
        }
        None => Stdio::null(),
    };
    let start = Instant::now();
    let mut child = Command::new(bin)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(stdin)
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut hung = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > limit {
            hung = true;
            kill_group(child.id());
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ran {
        code: status.and_then(|s| s.code()),
        hung,
        stdout: fs::read_to_string(out.path()).unwrap_or_default(),
        stderr: fs::read_to_string(err.path()).unwrap_or_default(),
        took: start.elapsed(),
    }
}

pub fn kill_group(pid: u32) {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Whether process `pid` is gone (or a zombie nobody has reaped yet).
pub fn process_gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// Kills process `pid` if it still runs (cleanup after a failed check).
pub fn kill_pid(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// How the isakmpd stand-in behaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Write the `S` report in two halves, this far apart.
    pub slow_report: Option<Duration>,
    /// After writing an answer, give the result file back the modification
    /// time the old one had: two answers within one clock tick.
    pub same_tick: bool,
    /// Shrink the pipe to this size (Linux: F_SETPIPE_SZ).
    pub pipe_size: Option<usize>,
    /// Read nothing until [`Isakmpd::release`].
    pub stalled: bool,
}

/// A reader of a FIFO standing in for isakmpd: records every line (bytes,
/// as received), answers `S` with the bytes of var/isakmpd.sa and
/// `C get [S]:T` with var/isakmpd.get/S:T (a value and a newline, or
/// nothing when that file does not exist), as ui.c: ui_report_sa and
/// ui_config ("get") write them to the result file.
pub struct Isakmpd {
    lines: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl Isakmpd {
    /// Starts reading `fifo` (relative to the root; created if missing);
    /// answers go to `result`.
    pub fn start(gw: &Gateway, fifo: &str, result: &str, how: Behaviour) -> Isakmpd {
        let fifo = gw.path(fifo);
        fs::create_dir_all(fifo.parent().unwrap()).unwrap();
        if !fifo.exists() {
            nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        }
        let mut me = Isakmpd {
            lines: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
            stalled: Arc::new(AtomicBool::new(how.stalled)),
            reader: None,
        };
        let (lines, stop, stalled) = (me.lines.clone(), me.stop.clone(), me.stalled.clone());
        let answers = Answers {
            report: gw.path("var/isakmpd.sa"),
            gets: gw.path("var/isakmpd.get"),
            result: gw.path(result),
            how: how.clone(),
        };
        // isakmpd opens its FIFO read-write and non-blocking
        let mut f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&fifo)
            .unwrap();
        if let Some(size) = how.pipe_size {
            shrink_pipe(&f, size);
        }
        me.reader = Some(std::thread::spawn(move || {
            let mut pending: Vec<u8> = Vec::new();
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::SeqCst) {
                if stalled.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                match f.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        pending.extend_from_slice(&buf[..n]);
                        while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                            let line: Vec<u8> = pending.drain(..=i).take(i).collect();
                            answers.answer(&line);
                            lines.lock().unwrap().push(line);
                        }
                    }
                    _ => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        }));
        me
    }

    /// The lines received so far, as text.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }

    /// Starts reading a stalled FIFO.
    pub fn release(&self) {
        self.stalled.store(false, Ordering::SeqCst);
    }
}

impl Drop for Isakmpd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.reader.take() {
            let _ = h.join();
        }
    }
}

struct Answers {
    report: PathBuf,
    gets: PathBuf,
    result: PathBuf,
    how: Behaviour,
}

impl Answers {
    fn answer(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        if line.first() == Some(&b'S') {
            let report = fs::read(&self.report).unwrap_or_default();
            self.write(&report, self.how.slow_report);
        } else if let Some(key) = text.strip_prefix("C get ") {
            // `[S]:T` names the file holding the value
            let name = key.trim_start_matches('[').replacen("]:", ":", 1);
            let answer = match fs::read(self.gets.join(name)) {
                Ok(mut v) => {
                    v.push(b'\n');
                    v
                }
                Err(_) => Vec::new(),
            };
            self.write(&answer, None);
        }
    }

    /// Writes an answer as isakmpd does: the file is created (truncated)
    /// and written; with `pause`, in two halves.
    fn write(&self, bytes: &[u8], pause: Option<Duration>) {
        use std::io::Write;
        let old_time: Option<SystemTime> = fs::metadata(&self.result)
            .ok()
            .and_then(|m| m.modified().ok());
        let mut f = fs::File::create(&self.result).unwrap();
        match pause {
            Some(pause) => {
                let half = bytes.len() / 2;
                f.write_all(&bytes[..half]).unwrap();
                f.flush().unwrap();
                std::thread::sleep(pause);
                f.write_all(&bytes[half..]).unwrap();
            }
            None => f.write_all(bytes).unwrap(),
        }
        if let (true, Some(t)) = (self.how.same_tick, old_time) {
            f.set_modified(t).unwrap();
        }
    }
}

/// Makes the pipe behind `f` hold `size` bytes (Linux: F_SETPIPE_SZ).
#[cfg(target_os = "linux")]
fn shrink_pipe(f: &fs::File, size: usize) {
    nix::fcntl::fcntl(f, nix::fcntl::FcntlArg::F_SETPIPE_SZ(size as i32)).unwrap();
}

/// Other systems have no call for it: a test that needs it cannot run.
#[cfg(not(target_os = "linux"))]
fn shrink_pipe(_: &fs::File, size: usize) {
    panic!("a pipe of {size} bytes needs Linux's F_SETPIPE_SZ");
}

/// Waits (up to 5 s) until something reads the FIFO `rel`: the usual
/// stand-in opens it from its thread, which a busy machine may start late.
pub fn wait_for_reader(gw: &Gateway, rel: &str) {
    let fifo = gw.path(rel);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let opened = fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&fifo);
        if opened.is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("nothing reads {}", fifo.display());
}
