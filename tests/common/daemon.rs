//! OpenBSD's real isakmpd, two of them, for the tests of what the daemon
//! does: `../shared/isakmpd/build-daemon` builds the whole daemon with a
//! fake kernel that records the SAs and flows it installs, and
//! `daemon/pair` starts two (A on 127.0.0.1, B on 127.0.0.2) in a private
//! network namespace, where they negotiate main and quick mode for real.
//!
//! A is the gateway ipsecmgr manages: a root directory with ipsec.conf,
//! its fragments and ipsecmgr's settings, whose FIFO and result file are
//! the daemon's own, and whose `sbin/ipsecctl` is a stand-in writing into
//! that FIFO exactly what ipsecctl sends (the FIFO lines of `ipsecmgr
//! compile [-d] -k FILE`) and answering `-sa` from the fake kernel's
//! tables.  B is the peer, loaded once from its own ipsec.conf.
//!
//! Every wait polls with a bound; the daemons die with the test (`pair
//! stop` on drop, and `timeout` around each daemon).
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::isakmpd::{self, harness_sources, lock_exclusive, sources_stamp};
use super::programs::{Ran, kill_group, run_bounded_with_input, write_program};
use super::{BIN, write_private};

/// How long a daemon may live at most (`pair start -L`): a test that
/// crashes cannot leave one running for longer.
const DAEMON_LIFE: u32 = 600;
/// How long one build of the daemons may take.
const BUILD_BOUND: Duration = Duration::from_secs(300);

/// Whether the real-daemon tests can run: the harness is there and this
/// process may make a network namespace.  Otherwise they are skipped with
/// one notice, except in CI (`CI=true`), where that is an error.
pub fn available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        if !isakmpd::available() {
            return false;
        }
        let ns = Command::new("unshare")
            .args(unshare_args())
            .arg("true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ns {
            return true;
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and no network namespace can be made here (`unshare {}` \
             failed): the real-daemon tests cannot run",
            unshare_args().join(" ")
        );
        isakmpd::skip_notice(
            "no network namespace can be made here (unshare -n as root, or -rn \
             with user namespaces): the real-isakmpd tests are skipped",
        );
        false
    })
}

/// Returns from the calling test when the real daemons cannot run.
#[macro_export]
macro_rules! require_daemons {
    () => {
        if !$crate::common::daemon::available() {
            return;
        }
    };
}

fn unshare_args() -> Vec<&'static str> {
    if nix::unistd::geteuid().is_root() {
        vec!["-n"]
    } else {
        vec!["-rn"]
    }
}

/// The daemon binaries, built once per machine into the target directory
/// (under a lock, so concurrent test binaries build them once).
pub struct Binaries {
    pub isakmpd: PathBuf,
    pub asan: PathBuf,
}

pub fn binaries() -> &'static Binaries {
    static BUILT: OnceLock<Binaries> = OnceLock::new();
    BUILT.get_or_init(build_cached)
}

fn build_cached() -> Binaries {
    let src = harness_sources();
    let script = src.join("build-daemon");
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("isakmpd-daemon");
    fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("{}: {e}", cache.display()));
    let dir = cache.join(format!("{:016x}", sources_stamp(&src)));
    let bins = Binaries {
        isakmpd: dir.join("isakmpd"),
        asan: dir.join("isakmpd-asan"),
    };
    let _lock = lock_exclusive(&cache.join("lock"));
    if bins.isakmpd.is_file() && bins.asan.is_file() {
        return bins;
    }
    let staging = cache.join(format!("building-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let mut child = Command::new("sh")
        .arg(&script)
        .arg(&staging)
        .env("ASAN", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > BUILD_BOUND {
            kill_group(child.id());
            panic!("{} ran for over {BUILD_BOUND:?}", script.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && staging.join("isakmpd-asan").is_file(),
        "building isakmpd with {} failed (it needs gcc, libbsd-dev, libmd-dev \
         and libssl-dev):\n{}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&staging, &dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    bins
}

fn pair_script() -> PathBuf {
    harness_sources().join("daemon/pair")
}

/// The daemons' timers (`pair start -c/-x/-r/-p`): short, so that each
/// scenario takes seconds.
#[derive(Debug, Clone)]
pub struct Timers {
    /// `[General]:Check-interval`: how often a connection is checked.
    pub check: u32,
    /// `[General]:Exchange-max-time`: how long an exchange may live.
    pub max_time: u32,
    /// `[General]:Retransmits`.
    pub retransmits: u32,
    /// `[General]:DPD-check-interval`, when set.
    pub dpd: Option<u32>,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            check: 2,
            max_time: 10,
            retransmits: 3,
            dpd: None,
        }
    }
}

/// What the two daemons start with.
pub struct Setup<'a> {
    /// A's fragments (name, text), included by its ipsec.conf in order.
    pub fragments: &'a [(&'a str, &'a str)],
    /// B's ipsec.conf.
    pub peer: &'a str,
    pub timers: Timers,
    /// Run A under AddressSanitizer.
    pub asan: bool,
}

/// One SA of isakmpd's `S` report (sa.c: sa_dump_all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sa {
    pub name: String,
    /// `1/Initiator`, `1/Responder` or `2`.
    pub phase: String,
    /// The transport line: `src: A dst: B`, or `<no transport>`.
    pub transport: String,
    pub flags: u32,
    /// Phase 1 only: `icookie … rcookie …`.
    pub cookies: Option<String>,
}

impl Sa {
    pub fn ready(&self) -> bool {
        self.flags & 0x01 != 0
    }
    pub fn replaced(&self) -> bool {
        self.flags & 0x08 != 0
    }
    /// Ready and not replaced: the SA isakmpd uses.
    pub fn live(&self) -> bool {
        self.ready() && !self.replaced()
    }
}

/// Parses an `S` report.
pub fn parse_report(text: &str) -> Vec<Sa> {
    let mut sas = Vec::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines();
        let Some(head) = lines.next().and_then(|l| l.strip_prefix("SA name: ")) else {
            continue;
        };
        let Some((name, phase)) = head.rsplit_once(" (Phase ") else {
            continue;
        };
        let mut sa = Sa {
            name: name.to_string(),
            phase: phase.trim_end_matches(')').to_string(),
            transport: lines.next().unwrap_or_default().to_string(),
            flags: 0,
            cookies: None,
        };
        for l in lines {
            if let Some(hex) = l.strip_prefix("Flags 0x") {
                sa.flags = u32::from_str_radix(hex.trim(), 16).unwrap_or(0);
            } else if l.starts_with("icookie ") {
                sa.cookies = Some(l.to_string());
            }
        }
        sas.push(sa);
    }
    sas
}

/// One line of the fake kernel's `kernel.state`: `sa …` or `flow …`, its
/// `key=value` words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelEntry {
    pub kind: String,
    pub fields: Vec<(String, String)>,
}

impl KernelEntry {
    pub fn get(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }
}

pub fn parse_kernel(text: &str) -> Vec<KernelEntry> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let kind = words.next()?.to_string();
            let fields = words
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Some(KernelEntry { kind, fields })
        })
        .collect()
}

/// The gateway ipsecmgr manages (node A) and its peer (node B).
pub struct Daemons {
    pub dir: tempfile::TempDir,
    pair: PathBuf,
    /// The third daemon, C, once started (see [`Daemons::start_third`]).
    third: std::sync::Mutex<Option<std::process::Child>>,
}

/// The ipsecmgr under test: this build, or the one `IPSECMGR_UNDER_TEST`
/// names (to run the same scenarios on another build, say the one before a
/// change).
pub fn under_test() -> PathBuf {
    std::env::var_os("IPSECMGR_UNDER_TEST").map_or_else(|| PathBuf::from(BIN), PathBuf::from)
}

/// The FIFO lines of `ipsecmgr compile -k` for an ipsec.conf.
fn fifo_lines(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "compile {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| isakmpd::is_fifo_line(l))
        .map(|l| format!("{l}\n"))
        .collect()
}

impl Daemons {
    /// Starts both daemons with A's gateway and B's rules loaded (as an
    /// `ipsecctl -f` at boot would load them).
    pub fn start(setup: &Setup) -> Daemons {
        Daemons::start_with_keys(setup, None)
    }

    /// [`Daemons::start`], A's gateway in the keys layout when `keys`
    /// (the keys file's text, `name = "value"` lines) is given: its
    /// ipsec.conf includes the keys file first, its settings declare the
    /// names, its fragments write `psk $name`.
    pub fn start_with_keys(setup: &Setup, keys: Option<&str>) -> Daemons {
        let dir = tempfile::Builder::new()
            .prefix("ipsecmgr-daemons.")
            .tempdir()
            .unwrap();
        let d = Daemons {
            pair: dir.path().join("var/run/pair"),
            dir,
            third: std::sync::Mutex::new(None),
        };
        d.write_gateway(setup.fragments);
        if let Some(keys) = keys {
            d.write_keys(keys);
        }
        let a_input = d.path("var/a.input");
        let root = d.root().to_str().unwrap().to_string();
        fs::write(&a_input, fifo_lines(&["--root", &root, "compile", "-k"])).unwrap();
        d.write("peer/ipsec.conf", setup.peer);
        d.write("peer/ipsecmgr.conf", "hostname = \"peer.example\"\n");
        let b_input = d.path("var/b.input");
        let peer_conf = d.path("peer/ipsec.conf");
        let peer_settings = d.path("peer/ipsecmgr.conf");
        fs::write(
            &b_input,
            fifo_lines(&[
                "-c",
                peer_settings.to_str().unwrap(),
                "compile",
                "-k",
                peer_conf.to_str().unwrap(),
            ]),
        )
        .unwrap();
        d.start_pair(setup, &a_input, &b_input);
        d
    }

    fn start_pair(&self, setup: &Setup, a_input: &Path, b_input: &Path) {
        let bins = binaries();
        let bin = if setup.asan {
            &bins.asan
        } else {
            &bins.isakmpd
        };
        let t = &setup.timers;
        let mut args: Vec<String> = vec![
            "-d".into(),
            self.pair.display().to_string(),
            "start".into(),
            "-b".into(),
            bin.display().to_string(),
            "-c".into(),
            t.check.to_string(),
            "-x".into(),
            t.max_time.to_string(),
            "-r".into(),
            t.retransmits.to_string(),
            "-L".into(),
            DAEMON_LIFE.to_string(),
        ];
        if let Some(p) = t.dpd {
            args.extend(["-p".into(), p.to_string()]);
        }
        // isakmpd -D CLASS=LEVEL: connections (0), transport (1) and
        // messages (2, DPD among them), for the checks that read the log
        for class in 0..3 {
            args.extend(["-D".into(), format!("{class}=30")]);
        }
        args.push(a_input.display().to_string());
        args.push(b_input.display().to_string());
        let out = Command::new("timeout")
            .arg("60")
            .arg("unshare")
            .args(unshare_args())
            .arg(pair_script())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pair start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn write_gateway(&self, fragments: &[(&str, &str)]) {
        let mut conf = String::from("# the gateway under test\n");
        for (name, text) in fragments {
            self.write(&format!("etc/ipsec.d/{name}.conf"), text);
            conf.push_str(&format!("include \"/etc/ipsec.d/{name}.conf\"\n"));
        }
        self.write("etc/ipsec.conf", &conf);
        self.write(
            "etc/ipsecmgr.conf",
            "hostname = \"gw.example\"\n\
             isakmpd_fifo = \"/var/run/pair/a/fifo\"\n\
             isakmpd_result = \"/var/run/pair/a/isakmpd.result\"\n",
        );
        fs::create_dir_all(self.path("sbin")).unwrap();
        write_program(&self.path("sbin/ipsecctl"), &stand_in_ipsecctl(self.root()));
        let state = self.path("var/db/ipsecmgr");
        fs::create_dir_all(&state).unwrap();
        fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    }

    /// Puts A's gateway in the keys layout with the keys file `keys`.
    fn write_keys(&self, keys: &str) {
        self.write("etc/ipsec.keys", keys);
        let conf = fs::read_to_string(self.path("etc/ipsec.conf")).unwrap();
        self.write(
            "etc/ipsec.conf",
            &format!("include \"/etc/ipsec.keys\"\n{conf}"),
        );
        let names: Vec<String> = keys
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(n, _)| format!("\"{}\"", n.trim()))
            .collect();
        let settings = fs::read_to_string(self.path("etc/ipsecmgr.conf")).unwrap();
        self.write(
            "etc/ipsecmgr.conf",
            &format!("{settings}\n[keys]\nnames = [{}]\n", names.join(", ")),
        );
    }

    /// Starts a third daemon, C, on 127.0.0.3 in the pair's network
    /// namespace (entered through A's daemon), loaded with `rules` (an
    /// ipsec.conf, as B's): a second peer of A, with a phase 1 of its own.
    /// Its node directory is `c` beside A's and B's, so every query above
    /// takes `'c'`; it is stopped with the pair.
    pub fn start_third(&self, rules: &str, timers: &Timers) {
        let pid = fs::read_to_string(self.node('a').join("pid")).unwrap();
        let pid = pid.trim().to_string();
        let node = self.node('c');
        fs::create_dir_all(&node).unwrap();
        let enter = |args: &[&str]| {
            let out = Command::new("timeout")
                .args(["30", "nsenter", "-t", &pid, "-n"])
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "nsenter {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let lo_setup = binaries().isakmpd.with_file_name("isakmpd-lo-setup");
        if lo_setup.is_file() {
            // B's address named too: the tool labels the Nth address it
            // adds lo:N, and a lone 127.0.0.3 would take lo:1 from
            // 127.0.0.2, which B may not have bound yet
            enter(&[lo_setup.to_str().unwrap(), "127.0.0.2", "127.0.0.3"]);
        } else {
            enter(&["ip", "addr", "add", "127.0.0.3/8", "dev", "lo"]);
        }
        let conf = node.join("isakmpd.conf");
        write_private(
            &conf,
            &format!(
                "[General]\nListen-on=127.0.0.3\nCheck-interval={}\nExchange-max-time={}\nRetransmits={}\n",
                timers.check, timers.max_time, timers.retransmits
            ),
        );
        self.write("peer3/ipsec.conf", rules);
        self.write("peer3/ipsecmgr.conf", "hostname = \"peer3.example\"\n");
        let input = fifo_lines(&[
            "-c",
            self.path("peer3/ipsecmgr.conf").to_str().unwrap(),
            "compile",
            "-k",
            self.path("peer3/ipsec.conf").to_str().unwrap(),
        ]);
        let log = fs::File::create(node.join("log")).unwrap();
        let child = Command::new("nsenter")
            .args(["-t", &pid, "-n", "timeout", "-k", "5"])
            .arg(DAEMON_LIFE.to_string())
            .arg(&binaries().isakmpd)
            .args(["-d", "-K", "-v", "-c"])
            .arg(&conf)
            .arg("-f")
            .arg(node.join("fifo"))
            .arg("-i")
            .arg(node.join("pid"))
            .args(["-D", "0=30", "-D", "1=30", "-D", "2=30"])
            .env("ISAKMPD_RUNDIR", &node)
            .env("ASAN_OPTIONS", "detect_leaks=0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        fs::write(node.join("timeout.pid"), child.id().to_string()).unwrap();
        *self.third.lock().unwrap() = Some(child);
        let started = eventually(Duration::from_secs(10), || {
            node.join("fifo").exists() && node.join("pid").exists()
        });
        assert!(started, "isakmpd C did not start:\n{}", self.log('c'));
        let lines: Vec<&str> = input.lines().collect();
        self.send('c', &lines);
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        write_private(&p, text);
    }

    fn node(&self, node: char) -> PathBuf {
        self.pair.join(node.to_string())
    }

    /// Runs ipsecmgr on A, killed after `limit`.
    pub fn ipsecmgr(&self, args: &[&str], limit: Duration) -> Ran {
        self.ipsecmgr_with_input(args, None, limit)
    }

    /// [`Daemons::ipsecmgr`], with `input` on its standard input.
    pub fn ipsecmgr_with_input(&self, args: &[&str], input: Option<&str>, limit: Duration) -> Ran {
        run_bounded_with_input(&under_test(), self.root(), args, input, limit)
    }

    /// Runs ipsecmgr on A, which must succeed within `limit`; its output.
    pub fn ok(&self, args: &[&str], limit: Duration) -> String {
        let ran = self.ipsecmgr(args, limit);
        assert!(ran.code == Some(0), "ipsecmgr {args:?}: {ran:?}");
        format!("{}{}", ran.stdout, ran.stderr)
    }

    /// Writes `lines` into a node's FIFO in one write (bounded: the open
    /// does not block, the daemon keeps its FIFO open).
    pub fn send(&self, node: char, lines: &[&str]) {
        let fifo = self.node(node).join("fifo");
        let mut text = String::new();
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&fifo)
            .unwrap_or_else(|e| panic!("{}: {e} (is isakmpd {node} running?)", fifo.display()));
        f.write_all(text.as_bytes()).unwrap();
    }

    /// What the node answers to `line` (`S` or `C get …`), sent after
    /// `before` in the same write, so that it shows the state right after
    /// them.
    pub fn ask(&self, node: char, before: &[&str], line: &str) -> String {
        let result = self.node(node).join("isakmpd.result");
        let _ = fs::remove_file(&result);
        let mut lines = before.to_vec();
        lines.push(line);
        self.send(node, &lines);
        let start = Instant::now();
        loop {
            // the daemon build writes it aside and renames it into place
            if let Ok(text) = fs::read_to_string(&result) {
                return text;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "isakmpd {node} did not answer {line:?} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The node's SAs now.
    pub fn sas(&self, node: char) -> Vec<Sa> {
        parse_report(&self.ask(node, &[], "S"))
    }

    /// The node's answer to `C get [section]:tag`, without its newline.
    pub fn get(&self, node: char, key: &str) -> String {
        self.ask(node, &[], &format!("C get {key}"))
            .trim_end()
            .to_string()
    }

    /// The node's fake kernel now: its SAs and flows.
    pub fn kernel(&self, node: char) -> Vec<KernelEntry> {
        parse_kernel(&fs::read_to_string(self.node(node).join("kernel.state")).unwrap_or_default())
    }

    /// The flows the node's kernel has now.
    pub fn flows(&self, node: char) -> Vec<KernelEntry> {
        self.kernel(node)
            .into_iter()
            .filter(|e| e.kind == "flow")
            .collect()
    }

    /// Every call the node's isakmpd made into its kernel so far.
    pub fn kernel_log(&self, node: char) -> String {
        fs::read_to_string(self.node(node).join("kernel.log")).unwrap_or_default()
    }

    /// The node's daemon log (isakmpd -d -v, with debug levels).
    pub fn log(&self, node: char) -> String {
        fs::read_to_string(self.node(node).join("log")).unwrap_or_default()
    }

    /// Writes a line to the node's fake kernel (e.g. an injected expire).
    pub fn kernel_command(&self, node: char, line: &str) {
        let fifo = self.node(node).join("kernel.fifo");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&fifo)
            .unwrap_or_else(|e| panic!("{}: {e}", fifo.display()));
        writeln!(f, "{line}").unwrap();
    }

    /// Stops (SIGSTOP) or resumes (SIGCONT) a node's daemon: a peer that
    /// stops answering, and answers again.
    pub fn pause(&self, node: char, paused: bool) {
        let verb = if paused { "pause" } else { "resume" };
        self.pair_cmd(&[verb, &node.to_string()]);
    }

    /// Whether the node's daemon still runs.
    pub fn alive(&self, node: char) -> bool {
        self.pair_status(&["alive", &node.to_string()])
    }

    fn pair_cmd(&self, args: &[&str]) {
        assert!(self.pair_status(args), "pair {args:?} failed");
    }

    fn pair_status(&self, args: &[&str]) -> bool {
        Command::new("timeout")
            .arg("30")
            .arg(pair_script())
            .arg("-d")
            .arg(&self.pair)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The ipsecctl stand-in's calls so far: one line of arguments each.
    pub fn ipsecctl_calls(&self) -> Vec<String> {
        fs::read_to_string(self.path("var/log/ipsecctl.calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Daemons {
    fn drop(&mut self) {
        // the third daemon, if one was started: Q, then its group killed
        let c = self.node('c');
        if let Ok(pid) = fs::read_to_string(c.join("timeout.pid")) {
            if let Ok(mut f) = fs::OpenOptions::new()
                .write(true)
                .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
                .open(c.join("fifo"))
            {
                let _ = f.write_all(b"Q\n");
            }
            std::thread::sleep(Duration::from_millis(300));
            if let Ok(pid) = pid.trim().parse::<u32>() {
                kill_group(pid);
            }
        }
        if let Some(mut child) = self.third.lock().ok().and_then(|mut t| t.take()) {
            let _ = child.wait();
        }
        let _ = self.pair_status(&["stop"]);
    }
}

/// Polls `check` every 200 ms until it holds; false after `bound`.
pub fn eventually(bound: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > bound {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Checks that `check` holds for the whole of `span`, polling every 200 ms.
pub fn throughout(span: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < span {
        if !check() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    true
}

/// The stand-in for ipsecctl on gateway `root`: for `-f FILE` and `-d -f
/// FILE` it writes into the FIFO (`-i FIFO`) the lines ipsecctl's ike.c
/// would write, taken from `ipsecmgr compile [-d] -k FILE`, in one write;
/// for `-sa` it prints the fake kernel's flows and SAs the way
/// ipsecctl.c's show functions print the kernel's.  Every call is logged
/// to var/log/ipsecctl.calls.
fn stand_in_ipsecctl(root: &Path) -> String {
    format!(
        r#"#!/bin/sh
root='{root}'
echo "$*" >> "$root/var/log/ipsecctl.calls"
prev="" file="" delete="" fifo="/var/run/isakmpd.fifo" show=""
for a in "$@"; do
	case "$prev" in
	-f) file="$a" ;;
	-i) fifo="$a" ;;
	esac
	case "$a" in
	-d) delete="-d" ;;
	-sa) show=1 ;;
	esac
	prev="$a"
done
if [ -n "$show" ]; then
	state="$root/var/run/pair/a/kernel.state"
	echo "FLOWS:"
	awk '$1 == "flow" {{
		for (i = 2; i <= NF; i++) {{ split($i, kv, "="); f[kv[1]] = kv[2] }}
		printf "flow %s %s from %s to %s peer %s type require\n", f["proto"], f["dir"], f["src"], f["dst"], f["peer"]
	}}' "$state" 2>/dev/null
	echo
	echo "SAD:"
	awk '$1 == "sa" {{
		for (i = 2; i <= NF; i++) {{ split($i, kv, "="); f[kv[1]] = kv[2] }}
		printf "%s tunnel from %s to %s spi %s\n", f["proto"], f["src"], f["dst"], f["spi"]
	}}' "$state" 2>/dev/null
	exit 0
fi
[ -n "$file" ] || {{ echo "ipsecctl: no -f" >&2; exit 1; }}
lines=$('{bin}' -c "$root/etc/ipsecmgr.conf" compile $delete -k "$file" | grep -E '^(C|t|c) ') || {{
	echo "ipsecctl: Syntax error in config file: ipsec rules not loaded" >&2; exit 1; }}
[ -n "$lines" ] || exit 0
printf '%s\n' "$lines" | timeout 5 sh -c 'cat > "$1"' sh "$fifo" || {{
	echo "ipsecctl: $fifo: cannot write" >&2; exit 1; }}
exit 0
"#,
        root = root.display(),
        bin = BIN
    )
}
