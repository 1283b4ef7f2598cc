//! isakmpd's own configuration code (conf.c, ui.c, timer.c) as a test
//! oracle: `isakmpd-conf` replays FIFO lines and prints the database they
//! leave, sorted. Built once per machine into the cargo target directory
//! from the harness sources (`ISAKMPD_HARNESS`, default
//! `../shared/isakmpd` beside the crate); a failed build fails the test.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::BIN;

/// How long one replay may take; isakmpd-conf reads its input to the end
/// and then moves its virtual clock, so a few seconds is generous.
const REPLAY_BOUND: Duration = Duration::from_secs(30);
/// How long a test waits for another test binary that is building.
const BUILD_LOCK_BOUND: Duration = Duration::from_secs(180);

/// The database isakmpd holds after some FIFO lines: `[section]:tag=value`
/// lines in byte order, and what the stubs and the log printed.
#[derive(Clone)]
pub struct Dump {
    pub lines: Vec<String>,
    pub stderr: String,
}

impl PartialEq for Dump {
    fn eq(&self, other: &Dump) -> bool {
        self.lines == other.lines
    }
}

impl fmt::Debug for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            writeln!(f, "{l}")?;
        }
        Ok(())
    }
}

impl Dump {
    /// The value of `[section]:tag`, compared case-insensitively as conf.c
    /// does (conf_get_str hashes and compares with strcasecmp).
    pub fn get(&self, section: &str, tag: &str) -> Option<String> {
        let key = format!("[{section}]:{tag}=").to_ascii_lowercase();
        self.lines.iter().find_map(|l| {
            let (head, _) = l.split_at(l.find('=')? + 1);
            (head.to_ascii_lowercase() == key).then(|| l[head.len()..].to_string())
        })
    }

    /// The members of a list-valued tag, as conf_get_list splits it.
    pub fn list(&self, section: &str, tag: &str) -> Vec<String> {
        self.get(section, tag)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `[Phase 2]:Connections`: the connections isakmpd sets up itself.
    pub fn connections(&self) -> Vec<String> {
        self.list("Phase 2", "Connections")
    }

    /// `[Phase 2]:Passive-Connections`: those it only answers for.
    pub fn passive_connections(&self) -> Vec<String> {
        self.list("Phase 2", "Passive-Connections")
    }

    /// How many times connection_reinit ran (the harness' last stderr line).
    pub fn reinits(&self) -> usize {
        self.stderr
            .lines()
            .find_map(|l| l.strip_prefix("# connections-reinit "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The stub events (`# ...` lines) in the order the harness printed them.
    pub fn events(&self) -> Vec<String> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("# "))
            .map(str::to_string)
            .collect()
    }

    /// The dump with the members of `[Phase 2]:Connections` and
    /// `Passive-Connections` sorted. Their order carries no meaning:
    /// connection_init (connection.c 1.41) sets each listed connection up
    /// on its own, and connection_passive_lookup_by_ids matches IDs
    /// exactly, and connection names are made from the IDs, so no two
    /// entries can both match. An apply that re-adds a changed connection
    /// at the end of the list is therefore equal to a fresh load.
    pub fn connection_order_ignored(&self) -> Dump {
        let lines = self
            .lines
            .iter()
            .map(|l| {
                let lower = l.to_ascii_lowercase();
                let is_list = ["[phase 2]:connections=", "[phase 2]:passive-connections="]
                    .iter()
                    .any(|p| lower.starts_with(p));
                if !is_list {
                    return l.clone();
                }
                let (head, value) = l.split_at(l.find('=').unwrap() + 1);
                let mut members: Vec<&str> = value.split(',').collect();
                members.sort_unstable();
                format!("{head}{}", members.join(","))
            })
            .collect();
        Dump {
            lines,
            stderr: self.stderr.clone(),
        }
    }

    /// The dump as compared with `fresh`, a fresh load of what should be
    /// loaded: without `[General]:DPD-check-interval` when the fresh load
    /// has none.  ipsecmgr keeps it on purpose when the last `ike
    /// dynamic` rule goes (with it gone, dpd.c's timer re-arms at once:
    /// a DPD storm on the real daemon, tests/isakmpd_daemon.rs).
    /// So is `[Phase 1]:Default=Default-phase-1`, isakmpd's built-in
    /// (conf.c: conf_load_defaults, which this harness leaves out unless
    /// asked): ipsecmgr sets it back when the last `peer any` rule goes,
    /// as a fresh start of isakmpd has it (the real daemon shows the
    /// removal leaving none at all, tests/isakmpd_property.rs).
    pub fn compared_with(&self, fresh: &Dump) -> Dump {
        let dpd = |l: &String| {
            l.to_ascii_lowercase()
                .starts_with("[general]:dpd-check-interval=")
        };
        let default = |l: &String| l.to_ascii_lowercase().starts_with("[phase 1]:default=");
        let built_in = |l: &String| l.eq_ignore_ascii_case("[Phase 1]:Default=Default-phase-1");
        let keep_dpd = fresh.lines.iter().any(dpd);
        let keep_default = fresh.lines.iter().any(default);
        Dump {
            lines: self
                .lines
                .iter()
                .filter(|l| keep_dpd || !dpd(l))
                .filter(|l| keep_default || !built_in(l))
                .cloned()
                .collect(),
            stderr: self.stderr.clone(),
        }
    }

    /// Lines only in `self` (`+`) and only in `expected` (`-`), both sorted.
    pub fn diff(&self, expected: &Dump) -> String {
        let mut out = String::new();
        for l in &expected.lines {
            if !self.lines.contains(l) {
                out.push_str(&format!("- {l}\n"));
            }
        }
        for l in &self.lines {
            if !expected.lines.contains(l) {
                out.push_str(&format!("+ {l}\n"));
            }
        }
        out
    }
}

/// Whether the isakmpd harness can be used.  Without it (a clone with no
/// `../shared/isakmpd` beside it and no `ISAKMPD_HARNESS`) the tests that
/// check ipsecmgr against isakmpd's own code are skipped, with one notice
/// per `cargo test` run; in CI (`CI=true`) a missing harness is an error,
/// so those checks can never vanish silently.
pub fn available() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    *FOUND.get_or_init(|| {
        let src = harness_sources();
        let missing = if !src.join("build").is_file() {
            format!(
                "isakmpd harness not found at {} (no build script there)",
                src.display()
            )
        } else if !src.join("openbsd/conf.c").is_file() {
            format!(
                "the isakmpd harness at {} lacks its OpenBSD sources (openbsd/, \
                 daemon/openbsd/): `tests/fetch-isakmpd-sources {}` fetches sbin/isakmpd \
                 at the revision the harness pins, and checks it",
                src.display(),
                src.display()
            )
        } else {
            return true;
        };
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and {missing}: the tests that check ipsecmgr against isakmpd's own \
             code must run in CI"
        );
        skip_notice(&format!(
            "{missing}.\n\
             Skipped: the tests that replay FIFO lines through isakmpd's own conf.c and \
             ui.c (the database checks of live_ops, manager, config_only, isakmpd_truth, \
             isakmpd_property, isakmpd_model, and status's drift check elsewhere); every \
             other test runs.\n\
             To run them: the harness is the project's shared test tooling, kept outside \
             this repository; put it at ../shared/isakmpd beside this checkout, or set \
             ISAKMPD_HARNESS to it (it builds with cc and libbsd-dev). README.md, Tests, \
             says more."
        ));
        false
    })
}

/// Prints `text` to the terminal once per `cargo test` run (every test
/// binary of a run has the same parent, cargo), past the test harness'
/// output capture.
pub fn skip_notice(text: &str) {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let _ = fs::create_dir_all(cache);
    let marker = cache.join(format!(
        "skip-notice-{}",
        std::os::unix::process::parent_id()
    ));
    let first = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
        .is_ok();
    if first {
        let _ = writeln!(std::io::stderr(), "\nnotice: {text}\n");
    }
}

/// Returns from the calling test when the isakmpd harness is missing
/// (see [`available`]).
#[macro_export]
macro_rules! require_isakmpd {
    () => {
        if !$crate::common::isakmpd::available() {
            return;
        }
    };
}

/// Where the harness sources are.
pub fn harness_sources() -> PathBuf {
    match std::env::var_os("ISAKMPD_HARNESS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/isakmpd"),
    }
}

/// The built isakmpd-conf, building it on first use in this process.
pub fn binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(build_cached)
}

/// Builds into `<target tmpdir>/isakmpd-conf/<stamp>/` under a file lock,
/// so concurrent test binaries build it once; a stamp of the sources makes
/// a changed harness rebuild.
fn build_cached() -> PathBuf {
    let src = harness_sources();
    let script = src.join("build");
    assert!(
        script.is_file(),
        "isakmpd harness not found: {} has no build script (set ISAKMPD_HARNESS)",
        src.display()
    );
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("isakmpd-conf");
    fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("{}: {e}", cache.display()));
    let dir = cache.join(format!("{:016x}", sources_stamp(&src)));
    let bin = dir.join("isakmpd-conf");
    let _lock = lock_exclusive(&cache.join("lock"));
    if bin.is_file() {
        return bin;
    }
    let staging = cache.join(format!("building-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let out = Command::new("sh")
        .arg(&script)
        .arg(&staging)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success() && staging.join("isakmpd-conf").is_file(),
        "building isakmpd-conf with {} failed (needs cc and libbsd-dev: \
         apt-get install -y libbsd-dev):\n{}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&staging, &dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    bin
}

/// A hash of every harness file's path and content.
pub fn sources_stamp(src: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(src)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        // the harness' own regression cases do not go into the binary
        .filter(|p| !p.strip_prefix(src).is_ok_and(|r| r.starts_with("tests")))
        .collect();
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        f.strip_prefix(src).unwrap_or(&f).hash(&mut h);
        fs::read(&f).unwrap_or_default().hash(&mut h);
    }
    h.finish()
}

/// An exclusive flock on `path`, waited for at most BUILD_LOCK_BOUND.
pub fn lock_exclusive(path: &Path) -> nix::fcntl::Flock<fs::File> {
    use nix::fcntl::{Flock, FlockArg};
    let start = Instant::now();
    loop {
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return l,
            Err((_, e)) if e == nix::errno::Errno::EWOULDBLOCK => {
                assert!(
                    start.elapsed() < BUILD_LOCK_BOUND,
                    "{} held for over {BUILD_LOCK_BOUND:?} by another build",
                    path.display()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Err((_, e)) => panic!("locking {}: {e}", path.display()),
        }
    }
}

/// Replays `lines` (one FIFO command each, without newline) through
/// isakmpd's ui.c/conf.c from an empty database.
pub fn replay<S: AsRef<str>>(lines: &[S]) -> Dump {
    let mut input = String::new();
    for l in lines {
        input.push_str(l.as_ref());
        input.push('\n');
    }
    run_harness(&input, &[])
}

/// Replays `lines` on top of isakmpd's built-in defaults, as the daemon
/// holds them from its start (conf.c: conf_load_defaults, among them
/// `[Phase 1]:Default=Default-phase-1`).
pub fn replay_with_defaults<S: AsRef<str>>(lines: &[S]) -> Dump {
    let mut input = String::new();
    for l in lines {
        input.push_str(l.as_ref());
        input.push('\n');
    }
    run_harness(&input, &[OsStr::new("--defaults")])
}

/// Replays `lines` on top of the database `init` (an isakmpd.conf, mode
/// 0600) loads, as `isakmpd -c FILE` would load it.
pub fn replay_with_init<S: AsRef<str>>(init: &Path, lines: &[S]) -> Dump {
    let mut input = String::new();
    for l in lines {
        input.push_str(l.as_ref());
        input.push('\n');
    }
    run_harness(&input, &[OsStr::new("--init"), init.as_os_str()])
}

fn run_harness(input: &str, args: &[&OsStr]) -> Dump {
    use std::io::Read;
    let mut child = Command::new(binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary().display()));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    // read both outputs as they come: a dump of the defaults is larger
    // than a pipe holds
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > REPLAY_BOUND {
            let _ = child.kill();
            panic!("isakmpd-conf ran for over {REPLAY_BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    writer
        .join()
        .unwrap()
        .expect("writing isakmpd-conf's input");
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        status.success(),
        "isakmpd-conf failed: {}",
        String::from_utf8_lossy(&stderr)
    );
    Dump {
        lines: String::from_utf8_lossy(&stdout)
            .lines()
            .map(str::to_string)
            .collect(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Whether a line of `ipsecmgr compile` output is a FIFO command (what
/// ipsecctl writes to isakmpd) rather than a canonical flow/SA rule.
pub fn is_fifo_line(line: &str) -> bool {
    ["C ", "t ", "c "].iter().any(|p| line.starts_with(p))
}

/// The FIFO lines `ipsecctl -f FILE` (or `-d -f FILE` when `delete`) sends
/// for `file`, from `ipsecmgr -c SETTINGS compile [-d] -k FILE`.
///
/// Cached per process by the settings' and the file's text: the property
/// tests compile the same fragments again and again.
pub fn ipsecctl_lines(settings: &Path, file: &Path, delete: bool) -> Vec<String> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    type Key = (Vec<u8>, Vec<u8>, bool);
    static CACHE: OnceLock<Mutex<HashMap<Key, Vec<String>>>> = OnceLock::new();
    let key = (
        fs::read(settings).unwrap_or_default(),
        fs::read(file).unwrap_or_default(),
        delete,
    );
    let cache = CACHE.get_or_init(Default::default);
    if let Some(lines) = cache.lock().unwrap().get(&key) {
        return lines.clone();
    }
    let lines = compile_fifo_lines(settings, file, delete);
    cache.lock().unwrap().insert(key, lines.clone());
    lines
}

fn compile_fifo_lines(settings: &Path, file: &Path, delete: bool) -> Vec<String> {
    let mut cmd = Command::new(BIN);
    cmd.arg("-c").arg(settings).arg("compile");
    if delete {
        cmd.arg("-d");
    }
    let out = cmd.arg("-k").arg(file).output().unwrap();
    assert!(
        out.status.success(),
        "compile {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| is_fifo_line(l))
        .map(str::to_string)
        .collect()
}

/// The database after a fresh `ipsecctl -f` of each file, in order.
pub fn fresh_load(settings: &Path, files: &[PathBuf]) -> Dump {
    replay(&fresh_lines(settings, files))
}

/// What a fresh load of `files` sends, in order.
pub fn fresh_lines(settings: &Path, files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .flat_map(|f| ipsecctl_lines(settings, f, false))
        .collect()
}

/// The `[Phase 1]` keys while fragments are held down: each key the
/// held-down fragments' lines (`down`) set holds what the lines of the
/// rest (`up`, in load order) set there last, or nothing — a held-down
/// tunnel's peer must find no phase 1 to negotiate (exchange.c:
/// exchange_setup_p1 looks the peer up by that key).
pub fn held_down_keys(down: &[String], up: &[String]) -> Vec<String> {
    let key_of = |l: &str| {
        l.strip_prefix("C set [Phase 1]:")
            .and_then(|rest| rest.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_end_matches(" force").to_string()))
    };
    let mut keys: Vec<String> = Vec::new();
    for (k, _) in down.iter().filter_map(|l| key_of(l)) {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|k| {
            let last = up
                .iter()
                .rev()
                .filter_map(|l| key_of(l))
                .find(|(uk, _)| *uk == k);
            match last {
                Some((_, v)) => format!("C set [Phase 1]:{k}={v} force"),
                // isakmpd's built-in, which a fresh start has
                None if k.eq_ignore_ascii_case("Default") => {
                    "C set [Phase 1]:Default=Default-phase-1 force".to_string()
                }
                None => format!("C rm [Phase 1]:{k}"),
            }
        })
        .collect()
}

/// What taking `file`'s connections off the lists sends: a `C rmv` of each
/// connection it adds to `[Phase 2]:Connections` / `Passive-Connections`.
pub fn held_down_lines(settings: &Path, file: &Path) -> Vec<String> {
    ipsecctl_lines(settings, file, false)
        .iter()
        .filter_map(|l| l.strip_prefix("C add [Phase 2]:"))
        .map(|rest| format!("C rmv [Phase 2]:{rest}"))
        .collect()
}
