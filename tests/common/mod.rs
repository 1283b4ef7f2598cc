//! A gateway in a temporary directory, for running ipsecmgr on with
//! `--root`: ipsec.conf and its fragments, a stand-in ipsecctl that records
//! every call (and checks its input as ipsecctl would), and a real FIFO read
//! by a thread, as isakmpd reads it.
//!
//! The stand-in writes into the FIFO what ipsecctl would send to isakmpd,
//! so the FIFO stream is what isakmpd reads, in order: `fifo()` is
//! ipsecmgr's own lines, `stream()`/`history()` all of them. `replay()`
//! runs the boot load and the history through isakmpd's own conf.c/ui.c
//! (`isakmpd.rs`), `fresh()`/`fresh_of()` give the database a fresh load
//! leaves, and `check_db()` compares the two.  The connections, SAs and
//! exchanges the harness stubs are tested on the real daemon
//! (`daemon.rs`, tests/isakmpd_daemon.rs).
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_ipsecmgr");

/// One call of the stand-in ipsecctl: its arguments, and the file it was
/// given with -f, as it was when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub args: Vec<String>,
    pub file: Option<String>,
}

/// Who wrote a FIFO line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// ipsecmgr itself (teardown, connect, `S`).
    Ipsecmgr,
    /// The ipsecctl double's call number N (var/log/ipsecctl/N.*).
    Ipsecctl(usize),
}

/// The thread standing in for isakmpd's FIFO reading (ui.c ui_handler).
struct FifoReader {
    lines: Arc<Mutex<Vec<(Origin, String)>>>,
    /// How many times it found the FIFO empty, all read lines recorded.
    empty_polls: Arc<AtomicU64>,
    report: PathBuf,
    result: PathBuf,
    begin: PathBuf,
    end: PathBuf,
    pending: String,
    origin: Origin,
    /// The boot load's lines (made on the first `C get`) and how to make
    /// them: `C get` is answered from isakmpd's own database.
    boot_lines: Option<Vec<String>>,
    boot: (PathBuf, (String, Vec<(String, String)>)),
}

impl FifoReader {
    fn run(mut self, fifo: &Path, stop: &AtomicBool) {
        use std::os::unix::fs::OpenOptionsExt;
        // isakmpd opens its FIFO read-write and non-blocking
        let mut f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(fifo)
            .unwrap();
        while !stop.load(Ordering::SeqCst) {
            let got = self.drain(&mut f);
            if self.origin == Origin::Ipsecmgr {
                if let Ok(n) = fs::read_to_string(&self.begin) {
                    // ipsecmgr waits for ipsecctl, so what it wrote before
                    // is in the FIFO already: read it as ipsecmgr's
                    self.drain(&mut f);
                    self.origin = Origin::Ipsecctl(n.trim().parse().unwrap_or(usize::MAX));
                    let _ = fs::remove_file(&self.begin);
                }
            } else if self.end.exists() {
                // the double wrote everything before it made the end mark
                self.drain(&mut f);
                self.origin = Origin::Ipsecmgr;
                let _ = fs::remove_file(&self.end);
            }
            if !got {
                self.empty_polls.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    /// Reads until the FIFO is empty; whether anything was read.
    fn drain(&mut self, f: &mut fs::File) -> bool {
        let mut buf = [0u8; 4096];
        let mut got = false;
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            got = true;
            self.pending.push_str(&String::from_utf8_lossy(&buf[..n]));
            while let Some(i) = self.pending.find('\n') {
                let line: String = self.pending.drain(..=i).collect();
                self.take_line(line.trim_end_matches('\n').to_string());
            }
        }
        got
    }

    fn take_line(&mut self, line: String) {
        if line == "S" {
            let text = fs::read_to_string(&self.report).unwrap_or_default();
            self.answer(&text);
        }
        let get = line.strip_prefix("C get ").map(str::to_string);
        self.lines.lock().unwrap().push((self.origin, line));
        if let Some(key) = get {
            let answer = self.answer_get(&key);
            self.answer(&answer);
        }
    }

    /// Writes the result file whole (renamed into place): a test stand-in
    /// that a loaded machine pauses between creating and filling the file
    /// would hand ipsecmgr an empty answer, which is not what it tests.
    fn answer(&self, text: &str) {
        let tmp = self.result.with_extension("tmp");
        fs::write(&tmp, text).unwrap();
        fs::rename(&tmp, &self.result).unwrap();
    }

    /// What ui.c ui_config writes for `C get [S]:T`: the value and a
    /// newline, or nothing; taken from replaying the boot load and every
    /// line read so far through isakmpd's own conf.c.
    fn answer_get(&mut self, key: &str) -> String {
        // without the harness (skipped with its notice) isakmpd knows no
        // value: a test that checks the answer requires the harness, and
        // one that only runs `status` still runs
        if !isakmpd::available() {
            return String::new();
        }
        let Some((section, tag)) = key.strip_prefix('[').and_then(|k| k.split_once("]:")) else {
            return String::new();
        };
        let (settings, boot) = &self.boot;
        let mut lines = self
            .boot_lines
            .get_or_insert_with(|| boot_lines_of(settings, boot))
            .clone();
        lines.extend(self.lines.lock().unwrap().iter().map(|(_, l)| l.clone()));
        isakmpd::replay(&lines)
            .get(section, tag)
            .map(|v| format!("{v}\n"))
            .unwrap_or_default()
    }
}

pub struct Gateway {
    pub dir: tempfile::TempDir,
    lines: Arc<Mutex<Vec<(Origin, String)>>>,
    /// Where `fifo()`/`stream()` start: `clear()` moves it; replays do not.
    shown_from: AtomicUsize,
    empty_polls: Arc<AtomicU64>,
    /// ipsec.conf without its includes, and the fragments, as the gateway
    /// was made: what isakmpd loaded at boot, before any command.
    boot: (String, Vec<(String, String)>),
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

/// The stand-in: records argv and the -f file, refuses a file ipsecctl
/// would refuse (by compiling it with ipsecmgr, secrecy check included),
/// fails when told to (etc/ipsecctl.fail holds its message; with
/// etc/ipsecctl.fail-after-send it fails after writing to isakmpd, as
/// ipsecctl does when a flow is refused after the ike rules went out;
/// etc/ipsecctl.kill-caller, removed when used, kills ipsecmgr once the
/// lines are sent, as a crash in the middle of ipsecctl would), answers -sa
/// from var/ipsecctl.sa. For `-f` / `-d -f` it writes what ipsecctl would
/// write to isakmpd (the FIFO lines of `ipsecmgr compile [-d] -k`) into
/// the FIFO given with `-i`, else var/run/isakmpd.fifo, as ipsecctl's
/// ike.c does; the lines are also kept in var/log/ipsecctl/N.fifo. Around
/// the write it shakes hands with the reader (FIFO.ipsecctl.begin/.end) so
/// the reader knows which lines came from ipsecctl; a reader that does not
/// answer within 5 s fails the call instead of hanging.
fn double_script(root: &Path) -> String {
    format!(
        r#"#!/bin/sh
root='{root}'
log="$root/var/log/ipsecctl"
mkdir -p "$log"
n=$(ls "$log" | grep -c args)
printf '%s\n' "$@" > "$log/$n.args"
prev=""
file=""
delete=""
fifo="$root/var/run/isakmpd.fifo"
for a in "$@"; do
	case "$prev" in
	-f) file="$a" ;;
	-i) fifo="$a" ;;
	esac
	if [ "$a" = "-d" ]; then delete="-d"; fi
	prev="$a"
done
gone() {{
	i=0
	while [ -e "$1" ]; do
		i=$((i + 1))
		if [ $i -gt 500 ]; then rm -f "$1"; return 1; fi
		sleep 0.01
	done
}}
send() {{
	[ -p "$fifo" ] || {{ echo "ipsecctl: $fifo: not a FIFO" >&2; return 1; }}
	if [ ! -e "$fifo.ipsecctl.reader" ]; then
		timeout 5 sh -c 'cat "$1" > "$2"' sh "$log/$n.fifo" "$fifo"
		return
	fi
	# written aside and renamed, so the reader never sees it half written
	echo "$n" > "$fifo.ipsecctl.next" && mv "$fifo.ipsecctl.next" "$fifo.ipsecctl.begin"
	gone "$fifo.ipsecctl.begin" || {{ echo "ipsecctl: nobody reads $fifo" >&2; return 1; }}
	timeout 5 sh -c 'cat "$1" > "$2"' sh "$log/$n.fifo" "$fifo" || return 1
	echo "$n" > "$fifo.ipsecctl.end"
	gone "$fifo.ipsecctl.end" || {{ echo "ipsecctl: $fifo: lines not read" >&2; return 1; }}
}}
if [ -n "$file" ]; then
	cat "$file" > "$log/$n.file" 2>/dev/null || {{ echo "ipsecctl: cannot open $file" >&2; exit 1; }}
	'{bin}' -c "$root/etc/ipsecmgr.conf" compile $delete -k "$file" > "$log/$n.out" || {{
		echo "ipsecctl: Syntax error in config file: ipsec rules not loaded" >&2; exit 1; }}
fi
if [ -f "$root/etc/ipsecctl.fail" ]; then cat "$root/etc/ipsecctl.fail" >&2; exit 1; fi
if [ "$1" = "-sa" ]; then cat "$root/var/ipsecctl.sa"; fi
if [ -n "$file" ]; then
	grep -E '^(C|t|c) ' "$log/$n.out" > "$log/$n.fifo"
	rm -f "$log/$n.out"
	# etc/ipsecctl.quiet: a test that watches only ipsecmgr's own lines
	if [ -s "$log/$n.fifo" ] && [ ! -f "$root/etc/ipsecctl.quiet" ]; then send || exit 1; fi
fi
if [ -f "$root/etc/ipsecctl.kill-caller" ]; then rm -f "$root/etc/ipsecctl.kill-caller"; kill -9 $PPID; fi
if [ -f "$root/etc/ipsecctl.fail-after-send" ]; then cat "$root/etc/ipsecctl.fail-after-send" >&2; exit 1; fi
exit 0
"#,
        root = root.display(),
        bin = BIN
    )
}

/// The test gateways' settings.  Their isakmpd is a stand-in with no
/// connection reinit to wait for (see `isakmpd_reinit_window`).
pub const SETTINGS: &str = "hostname = \"gw1.example.net\"\nisakmpd_reinit_window = 0\n\n[hosts]\n\"gw-b.example.net\" = [\"198.51.100.2\"]\n";

impl Gateway {
    /// A gateway whose ipsec.conf includes `fragments` (name, text), in
    /// order, after `head`.
    pub fn new(head: &str, fragments: &[(&str, &str)]) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["etc/ipsec.d", "sbin", "var/run", "var/db"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        let mut conf = head.to_string();
        for (name, text) in fragments {
            conf.push_str(&format!("include \"/etc/ipsec.d/{name}.conf\"\n"));
            write_private(&root.join(format!("etc/ipsec.d/{name}.conf")), text);
        }
        write_private(&root.join("etc/ipsec.conf"), &conf);
        write_private(&root.join("etc/ipsecmgr.conf"), SETTINGS);
        let ipsecctl = root.join("sbin/ipsecctl");
        fs::write(&ipsecctl, double_script(root)).unwrap();
        fs::set_permissions(&ipsecctl, fs::Permissions::from_mode(0o755)).unwrap();
        let mut gw = Gateway {
            dir,
            lines: Arc::new(Mutex::new(Vec::new())),
            shown_from: AtomicUsize::new(0),
            empty_polls: Arc::new(AtomicU64::new(0)),
            boot: (
                without_includes(&conf),
                fragments
                    .iter()
                    .map(|(n, t)| (n.to_string(), t.to_string()))
                    .collect(),
            ),
            stop: Arc::new(AtomicBool::new(false)),
            reader: None,
        };
        gw.start_isakmpd();
        gw
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        write_private(&p, text);
    }

    /// The FIFO, with a reader standing in for isakmpd: it records every
    /// line with who wrote it (ipsecmgr, or the ipsecctl double's call N),
    /// and answers `S` by writing var/isakmpd.sa to the result file.
    pub fn start_isakmpd(&mut self) {
        let fifo = self.path("var/run/isakmpd.fifo");
        if !fifo.exists() {
            nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        }
        self.stop.store(false, Ordering::SeqCst);
        let reader = FifoReader {
            lines: self.lines.clone(),
            empty_polls: self.empty_polls.clone(),
            report: self.path("var/isakmpd.sa"),
            result: self.path("var/run/isakmpd.result"),
            begin: PathBuf::from(format!("{}.ipsecctl.begin", fifo.display())),
            end: PathBuf::from(format!("{}.ipsecctl.end", fifo.display())),
            pending: String::new(),
            origin: Origin::Ipsecmgr,
            boot_lines: None,
            boot: (self.settings(), self.boot.clone()),
        };
        let stop = self.stop.clone();
        // tells the double this reader shakes hands (another stand-in may
        // read the FIFO instead: then the double just writes)
        fs::write(self.reader_marker(), "").unwrap();
        self.reader = Some(std::thread::spawn(move || reader.run(&fifo, &stop)));
        // let the reader open the FIFO before anyone writes
        std::thread::sleep(Duration::from_millis(30));
    }

    fn reader_marker(&self) -> PathBuf {
        self.path("var/run/isakmpd.fifo.ipsecctl.reader")
    }

    pub fn stop_isakmpd(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.reader.take() {
            h.join().unwrap();
        }
        let _ = fs::remove_file(self.reader_marker());
    }

    /// Runs ipsecmgr on this gateway.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("--root").arg(self.root()).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        self.settle();
        out
    }

    /// ipsecmgr on this gateway, run from `cwd` (where a relative FILE
    /// argument is looked up), without a backtrace asked for.
    pub fn run_from(&self, cwd: &Path, args: &[&str]) -> Output {
        let out = Command::new(BIN)
            .current_dir(cwd)
            .arg("--root")
            .arg(self.root())
            .args(args)
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
        self.settle();
        out
    }

    /// Waits (at most a second) until the reader has read everything
    /// written to the FIFO so far: the writers are done, so once the
    /// reader has started a pass after this call and found the FIFO empty,
    /// every line is recorded.
    pub fn settle(&self) {
        if self.stop.load(Ordering::SeqCst) {
            return; // no reader
        }
        let start = self.empty_polls.load(Ordering::SeqCst);
        let begun = std::time::Instant::now();
        while self.empty_polls.load(Ordering::SeqCst) < start + 2
            && begun.elapsed() < Duration::from_secs(1)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The FIFO lines ipsecmgr itself wrote so far (not ipsecctl's).
    pub fn fifo(&self) -> Vec<String> {
        self.stream_with_origin()
            .into_iter()
            .filter(|(o, _)| *o == Origin::Ipsecmgr)
            .map(|(_, l)| l)
            .collect()
    }

    /// Makes the stand-in's `S` report show a live phase 1 SA with each of
    /// `peers` (addresses): isakmpd then starts no phase 1 with them, so a
    /// load for them need not wait (see manager::quiet).
    pub fn peers_up(&self, peers: &[&str]) {
        let mut report = String::new();
        for peer in peers {
            report.push_str(&format!(
                "SA name: peer-{peer} (Phase 1/Initiator)\nsrc: 192.0.2.1 dst: {peer}\n\
                 Flags 0x00000003\nicookie 0123456789abcdef rcookie 0123456789abcdef\n\n"
            ));
        }
        self.write("var/isakmpd.sa", &report);
    }

    /// The FIFO lines ipsecmgr itself wrote that change isakmpd: without
    /// the queries (`S`, `C get`), which only read its state.
    pub fn commands(&self) -> Vec<String> {
        self.fifo()
            .into_iter()
            .filter(|l| l != "S" && !l.starts_with("C get "))
            .collect()
    }

    /// Every FIFO line isakmpd read so far, ipsecctl's and ipsecmgr's, in
    /// the order it read them.
    pub fn stream(&self) -> Vec<String> {
        self.stream_with_origin()
            .into_iter()
            .map(|(_, l)| l)
            .collect()
    }

    /// Every FIFO line so far, with who wrote it.
    pub fn stream_with_origin(&self) -> Vec<(Origin, String)> {
        let from = self.shown_from.load(Ordering::SeqCst);
        self.lines.lock().unwrap()[from..].to_vec()
    }

    /// Every FIFO line since the gateway started, `clear()` or not.
    pub fn history(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap();
        lines.iter().map(|(_, l)| l.clone()).collect()
    }

    pub fn clear(&self) {
        let len = self.lines.lock().unwrap().len();
        self.shown_from.store(len, Ordering::SeqCst);
        let _ = fs::remove_dir_all(self.path("var/log/ipsecctl"));
    }

    /// The ipsecctl calls so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        let log = self.path("var/log/ipsecctl");
        let mut calls = Vec::new();
        for n in 0.. {
            let Ok(args) = fs::read_to_string(log.join(format!("{n}.args"))) else {
                break;
            };
            calls.push(Call {
                args: args.lines().map(str::to_string).collect(),
                file: fs::read_to_string(log.join(format!("{n}.file"))).ok(),
            });
        }
        calls
    }

    /// ipsecmgr's settings file on this gateway.
    pub fn settings(&self) -> PathBuf {
        self.path("etc/ipsecmgr.conf")
    }

    /// isakmpd's database: what `ipsecctl -f /etc/ipsec.conf` loaded at
    /// boot (the gateway as made), then every FIFO line it read since
    /// (`clear()` or not), replayed through isakmpd's own code.
    pub fn replay(&self) -> isakmpd::Dump {
        let mut lines = self.boot_lines();
        lines.extend(self.history());
        isakmpd::replay(&lines)
    }

    /// What the boot load sent: the gateway's files as made, compiled in
    /// include order.
    pub fn boot_lines(&self) -> Vec<String> {
        boot_lines_of(&self.settings(), &self.boot)
    }

    /// The fragments etc/ipsec.conf includes, in order, under the root.
    pub fn included(&self) -> Vec<PathBuf> {
        self.read("etc/ipsec.conf")
            .lines()
            .filter_map(|l| l.trim().strip_prefix("include "))
            .map(|p| self.path(p.trim().trim_matches('"').trim_start_matches('/')))
            .collect()
    }

    /// The database a fresh boot gives: ipsec.conf's own rules, then each
    /// fragment it includes, in include order.
    pub fn fresh(&self) -> isakmpd::Dump {
        isakmpd::replay(&self.fresh_lines_of(&self.included(), &[]))
    }

    /// The database after a fresh load of ipsec.conf's own rules and the
    /// fragments etc/ipsec.d/NAME.conf of `names`, in that order, with the
    /// connections of the `down` ones taken off `[Phase 2]:Connections` /
    /// `Passive-Connections` (what `down` is to leave).
    pub fn fresh_of(&self, names: &[&str], down: &[&str]) -> isakmpd::Dump {
        let files: Vec<PathBuf> = names.iter().map(|n| self.fragment(n)).collect();
        let down: Vec<PathBuf> = down.iter().map(|n| self.fragment(n)).collect();
        isakmpd::replay(&self.fresh_lines_of(&files, &down))
    }

    /// Like `fresh_of`, from the fragments' texts as given (name, text),
    /// not from what is on disk.
    pub fn fresh_of_texts(&self, fragments: &[(&str, &str)], down: &[&str]) -> isakmpd::Dump {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(format!("{name}.conf"));
        for (name, text) in fragments {
            write_private(&path(name), text);
        }
        let files: Vec<PathBuf> = fragments.iter().map(|(n, _)| path(n)).collect();
        let down: Vec<PathBuf> = down.iter().map(|n| path(n)).collect();
        isakmpd::replay(&self.fresh_lines_of(&files, &down))
    }

    /// `check_db` against `fresh_of_texts`.
    pub fn check_db_texts(&self, fragments: &[(&str, &str)], down: &[&str]) -> Result<(), String> {
        let want = self
            .fresh_of_texts(fragments, down)
            .connection_order_ignored();
        let got = self
            .replay()
            .connection_order_ignored()
            .compared_with(&want);
        if got == want {
            return Ok(());
        }
        Err(format!(
            "- only in the fresh load, + only in isakmpd:\n{}",
            got.diff(&want)
        ))
    }

    /// `etc/ipsec.d/NAME.conf` under the root.
    pub fn fragment(&self, name: &str) -> PathBuf {
        self.path(&format!("etc/ipsec.d/{name}.conf"))
    }

    fn fresh_lines_of(&self, files: &[PathBuf], down: &[PathBuf]) -> Vec<String> {
        let mut lines = self.head_lines();
        let up: Vec<PathBuf> = files
            .iter()
            .filter(|f| !down.contains(f))
            .cloned()
            .collect();
        lines.extend(isakmpd::fresh_lines(&self.settings(), files));
        for f in down {
            lines.extend(isakmpd::held_down_lines(&self.settings(), f));
        }
        let mut held_keys = self.head_lines();
        held_keys.extend(isakmpd::fresh_lines(&self.settings(), &up));
        lines.extend(isakmpd::held_down_keys(
            &isakmpd::fresh_lines(&self.settings(), down),
            &held_keys,
        ));
        lines
    }

    /// What `ipsecctl -f` sends for ipsec.conf's own rules (its text
    /// without the include lines).
    fn head_lines(&self) -> Vec<String> {
        let head = without_includes(&self.read("etc/ipsec.conf"));
        let tmp = tempfile::NamedTempFile::new().unwrap();
        write_private(tmp.path(), &head);
        isakmpd::ipsecctl_lines(&self.settings(), tmp.path(), false)
    }

    /// Ok when isakmpd's database (the replay of the FIFO) equals a fresh
    /// load of `names` with `down` held down, up to the order of the
    /// connection lists (see `Dump::connection_order_ignored`); else the
    /// differing lines.
    pub fn check_db(&self, names: &[&str], down: &[&str]) -> Result<(), String> {
        let want = self.fresh_of(names, down).connection_order_ignored();
        let got = self
            .replay()
            .connection_order_ignored()
            .compared_with(&want);
        if got == want {
            return Ok(());
        }
        Err(format!(
            "isakmpd's database differs from a fresh load of {names:?} (down {down:?}); \
             - only in the fresh load, + only in isakmpd:\n{}",
            got.diff(&want)
        ))
    }

    /// The path a run shows for `rel` under the root.
    pub fn actual(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // a test that is failing already must not panic again here (a
        // reader thread that panicked): that would abort the test binary
        if std::thread::panicking() {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(h) = self.reader.take() {
                let _ = h.join();
            }
            return;
        }
        self.stop_isakmpd();
    }
}

/// ipsec.conf's text without its include lines: its own rules.
fn without_includes(conf: &str) -> String {
    conf.lines()
        .filter(|l| !l.trim_start().starts_with("include "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// What the boot load of a gateway made of `boot` (ipsec.conf without its
/// includes, and the fragments) sent: its files compiled in include order.
fn boot_lines_of(settings: &Path, boot: &(String, Vec<(String, String)>)) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("ipsec.conf");
    write_private(&head, &boot.0);
    let mut files = vec![head];
    // a gateway in the keys layout: its ipsec.conf includes the keys file
    // first, so each fragment loaded with its keys' macros
    let keys = settings
        .parent()
        .map(|etc| etc.join("ipsec.keys"))
        .and_then(|k| fs::read_to_string(k).ok())
        .unwrap_or_default();
    for (i, (_, text)) in boot.1.iter().enumerate() {
        let f = dir.path().join(format!("{i}.conf"));
        write_private(&f, &format!("{keys}{text}"));
        files.push(f);
    }
    isakmpd::fresh_lines(settings, &files)
}

pub fn write_private(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Standard output, then standard error.
pub fn both(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// ipsecmgr with `args` alone (no `--root` added), run in `dir`, without a
/// backtrace asked for.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap()
}

/// The top of a test gateway's ipsec.conf, before the includes.
pub const HEAD: &str = "# gw1\nflow in from 10.0.0.0/16 to 10.0.0.1 type bypass\n";

/// A customer fragment with its own macro, a list of networks.
pub fn acme() -> String {
    "acme_nets = \"{ 172.16.10.0/24, 172.16.11.0/24 }\"\n\
     ike esp from 10.0.50.0/24 to $acme_nets peer 203.0.113.20 \\\n\
     \tquick enc aes-128-gcm psk \"acme-4f9a1c7e2b8d5036a1e9\"\n"
        .to_string()
}

/// A tunnel fragment to its own peer, from one of our networks.
pub fn tunnel(n: u32, psk: &str) -> String {
    format!(
        "ike esp from 10.0.{n}.0/24 to 10.{n}.0.0/16 peer 198.51.{n}.1 \\\n\tmain auth hmac-sha2-256 enc aes-256 group modp2048 \\\n\tquick enc aes-256-gcm group modp2048 \\\n\tpsk \"{psk}\"\n"
    )
}

pub mod daemon;
pub mod isakmpd;
pub mod programs;
