//! Stand-ins for ipsecctl(8) and isakmpd(8), so that ipsecmgr's live
//! commands can be tried on Linux (see `start` beside this file, and the
//! README's sandbox walk-through).  Nothing here is OpenBSD's code: it
//! behaves as a gateway whose peers always answer, plausibly enough for
//! `add`, `ls`, `status`, `down`, `up`, `apply`, `diff` and `rm`.
//!
//! ```text
//! standin isakmpd DIR [SECONDS]      read DIR/var/run/isakmpd.fifo
//! standin ipsecctl DIR IPSECMGR ARG...  what ipsecctl -f/-d -f/-sa does
//! standin stop DIR                   end the isakmpd stand-in
//! ```
//!
//! The isakmpd stand-in keeps the configuration the FIFO builds (`C set`,
//! `C add`, `C rmv`, `C rm`, `C rms`, answering `C get`), brings up each
//! connection on `[Phase 2]:Connections` (its peer answers at once), tears
//! SAs down on `t` and `t main`, sets one up on `c`, answers `S` with its
//! SAs, and writes the flows and SAs it installed for `ipsecctl -sa`.  It
//! ends on `Q`, when DIR goes away, or after SECONDS (8 hours).
//!
//! Only the standard library is used, so `start` builds it with rustc.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the isakmpd stand-in runs unless told otherwise.
const LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// How long a writer waits for the FIFO's reader.
const OPEN_WAIT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["isakmpd", dir] => isakmpd(Path::new(dir), LIFETIME),
        ["isakmpd", dir, secs] => match secs.parse() {
            Ok(s) => isakmpd(Path::new(dir), Duration::from_secs(s)),
            Err(_) => Err(format!("{secs}: not a number of seconds")),
        },
        ["ipsecctl", dir, ipsecmgr, ref rest @ ..] => ipsecctl(Path::new(dir), ipsecmgr, rest),
        ["stop", dir] => stop(Path::new(dir)),
        _ => Err(
            "usage: standin isakmpd DIR [SECONDS] | ipsecctl DIR IPSECMGR ARG... | stop DIR"
                .to_string(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The sandbox's files.
struct Paths {
    fifo: PathBuf,
    result: PathBuf,
    pid: PathBuf,
    /// Flows and SAs the isakmpd stand-in installed, for `ipsecctl -sa`.
    kernel: PathBuf,
    /// Flows ipsecctl loaded itself (flow rules, not from ike).
    flows: PathBuf,
    log: PathBuf,
}

impl Paths {
    fn of(dir: &Path) -> Paths {
        Paths {
            fifo: dir.join("var/run/isakmpd.fifo"),
            result: dir.join("var/run/isakmpd.result"),
            pid: dir.join("var/run/isakmpd.pid"),
            kernel: dir.join("var/run/standin.kernel"),
            flows: dir.join("var/run/standin.flows"),
            log: dir.join("var/log/isakmpd.log"),
        }
    }
}

// ------------------------------------------------------------- isakmpd

fn isakmpd(dir: &Path, lifetime: Duration) -> Result<(), String> {
    let paths = Paths::of(dir);
    // read-write, as isakmpd opens it: the FIFO never reaches end of file
    let fifo = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&paths.fifo)
        .map_err(|e| format!("{}: {e}", paths.fifo.display()))?;
    watchdog(paths.fifo.clone(), lifetime);
    fs::write(&paths.pid, format!("{}\n", std::process::id())).map_err(|e| e.to_string())?;
    let mut daemon = Daemon::default();
    daemon.write_kernel(&paths);
    let mut log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.log)
        .map_err(|e| format!("{}: {e}", paths.log.display()))?;
    for line in BufReader::new(fifo).lines() {
        let Ok(line) = line else { continue };
        let _ = writeln!(log, "{line}");
        if line == "Q" {
            break;
        }
        daemon.command(&line, &paths);
    }
    let _ = fs::remove_file(&paths.pid);
    Ok(())
}

/// Ends the process when the sandbox is removed or its time is up, so
/// that a forgotten stand-in does not run for ever.
fn watchdog(fifo: PathBuf, lifetime: Duration) {
    let start = Instant::now();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            if !fifo.exists() || start.elapsed() > lifetime {
                std::process::exit(0);
            }
        }
    });
}

/// A configuration key: section and tag, compared without case as
/// isakmpd compares them.
type Key = (String, String);

#[derive(Default)]
struct Daemon {
    /// (section, tag) lower-cased → (section, tag as set, value)
    conf: BTreeMap<Key, (String, String, String)>,
    /// Connections with an established phase 2 SA.
    up: BTreeSet<String>,
    /// Phase 1 SAs torn down with `t main` while connections stay up.
    phase1_down: BTreeSet<String>,
}

fn key(section: &str, tag: &str) -> Key {
    (section.to_lowercase(), tag.to_lowercase())
}

/// `[section]:tag=value [force]`: a section may hold blanks (`Phase 2`),
/// a value is one word.  The value may be absent (`C get`, `C rm`).
fn parse_target(text: &str) -> Option<(String, String, Option<String>, bool)> {
    let rest = text.strip_prefix('[')?;
    let (section, rest) = rest.split_once("]:")?;
    let mut words = rest.split_whitespace();
    let target = words.next()?;
    let force = words.next() == Some("force");
    let (tag, value) = match target.split_once('=') {
        Some((t, v)) => (t, Some(v.to_string())),
        None => (target, None),
    };
    Some((section.to_string(), tag.to_string(), value, force))
}

impl Daemon {
    fn get(&self, section: &str, tag: &str) -> Option<&str> {
        self.conf
            .get(&key(section, tag))
            .map(|(_, _, v)| v.as_str())
    }

    fn list(&self, section: &str, tag: &str) -> Vec<String> {
        self.get(section, tag)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    fn set(&mut self, section: &str, tag: &str, value: String) {
        let entry = (section.to_string(), tag.to_string(), value);
        self.conf.insert(key(section, tag), entry);
    }

    fn command(&mut self, line: &str, paths: &Paths) {
        if let Some((verb, target)) = line.strip_prefix("C ").and_then(|r| r.split_once(' ')) {
            if verb == "get" {
                let value = parse_target(target)
                    .and_then(|(s, t, _, _)| self.get(&s, &t).map(|v| format!("{v}\n")))
                    .unwrap_or_default();
                answer(paths, &value);
            } else {
                self.config(verb, target);
            }
            self.write_kernel(paths);
            return;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["S"] => answer(paths, &self.report()),
            ["t", "main", name] => {
                self.phase1_down.insert(name.to_string());
            }
            ["t", "quick", name] | ["t", name] => {
                self.up.remove(name);
            }
            ["c", name] => self.connect(name),
            _ => {}
        }
        self.write_kernel(paths);
    }

    /// `C set`, `C add`, `C rmv`, `C rm`, `C rms`.
    fn config(&mut self, verb: &str, target: &str) {
        if verb == "rms" {
            let section = target.trim_start_matches('[').trim_end_matches(']');
            let section = section.to_lowercase();
            self.conf.retain(|(s, _), _| *s != section);
            // a connection whose section is gone has nothing left to run
            self.up.retain(|c| c.to_lowercase() != section);
            return;
        }
        let Some((section, tag, value, force)) = parse_target(target) else {
            return;
        };
        let listed_before = self.connections();
        match (verb, value) {
            ("set", Some(v)) if force || self.get(&section, &tag).is_none() => {
                self.set(&section, &tag, v)
            }
            ("add", Some(v)) => {
                let mut list = self.list(&section, &tag);
                if !list.contains(&v) {
                    list.push(v);
                }
                self.set(&section, &tag, list.join(","));
            }
            ("rmv", Some(v)) => {
                let list: Vec<String> = self
                    .list(&section, &tag)
                    .into_iter()
                    .filter(|x| *x != v)
                    .collect();
                if list.is_empty() {
                    self.conf.remove(&key(&section, &tag));
                } else {
                    self.set(&section, &tag, list.join(","));
                }
            }
            ("rm", _) => {
                self.conf.remove(&key(&section, &tag));
            }
            _ => {}
        }
        // a connection put on the list is set up, and its peer answers
        for c in self.connections().difference(&listed_before) {
            self.connect(c);
        }
    }

    /// The active connections isakmpd sets up itself.
    fn connections(&self) -> BTreeSet<String> {
        self.list("Phase 2", "Connections").into_iter().collect()
    }

    fn connect(&mut self, name: &str) {
        if self.get(name, "ISAKMP-peer").is_none() {
            return;
        }
        if let Some(p1) = self.get(name, "ISAKMP-peer").map(str::to_string) {
            self.phase1_down.remove(&p1);
        }
        self.up.insert(name.to_string());
    }

    /// A connection's phase 1 name, its peer's address and ours.
    fn ends(&self, connection: &str) -> (String, String, String) {
        let p1 = self
            .get(connection, "ISAKMP-peer")
            .unwrap_or("")
            .to_string();
        let peer = self.get(&p1, "Address").unwrap_or("0.0.0.0").to_string();
        // without a local address, isakmpd's own choice, of the peer's family
        let any = if peer.contains(':') { "::" } else { "0.0.0.0" };
        let local = self.get(&p1, "Local-address").unwrap_or(any).to_string();
        (p1, peer, local)
    }

    /// What `S` writes: each SA's name, phase, ends and flags (ready).
    fn report(&self) -> String {
        let mut out = String::new();
        let mut phase1 = BTreeMap::new();
        for c in &self.up {
            let (p1, peer, local) = self.ends(c);
            if !self.phase1_down.contains(&p1) {
                phase1.insert(p1, (peer.clone(), local.clone()));
            }
            out.push_str(&sa_block(c, "Phase 2", &local, &peer));
        }
        for (p1, (peer, local)) in &phase1 {
            out.push_str(&sa_block(p1, "Phase 1/Initiator", local, peer));
        }
        out
    }

    /// The flows and SAs the up connections installed, as `ipsecctl -sa`
    /// prints them.
    fn write_kernel(&self, paths: &Paths) {
        let (mut flows, mut sas) = (String::new(), String::new());
        for (n, c) in self.up.iter().enumerate() {
            let (_, peer, local) = self.ends(c);
            let ids = self.get(c, "Local-ID").zip(self.get(c, "Remote-ID"));
            let Some((src, dst)) = ids.and_then(|(l, r)| self.id(l).zip(self.id(r))) else {
                continue;
            };
            flows += &format!("flow esp out from {src} to {dst} peer {peer} type require\n");
            flows += &format!("flow esp in from {dst} to {src} peer {peer} type use\n");
            let spi = 0x1000_0000 + 2 * n;
            sas += &format!("esp tunnel from {local} to {peer} spi 0x{spi:08x}\n");
            sas += &format!("esp tunnel from {peer} to {local} spi 0x{:08x}\n", spi + 1);
        }
        let _ = write_whole(&paths.kernel, &format!("{flows}\x00{sas}"));
    }

    /// An identity section as a flow shows it: `net/len` or an address.
    fn id(&self, section: &str) -> Option<String> {
        let kind = self.get(section, "ID-type")?;
        if kind.ends_with("_ADDR") {
            return self.get(section, "Address").map(str::to_string);
        }
        let net = self.get(section, "Network")?;
        let mask = self.get(section, "Netmask")?;
        let len = match (mask.parse::<Ipv4Addr>(), mask.parse::<Ipv6Addr>()) {
            (Ok(m), _) => u32::from(m).count_ones(),
            (_, Ok(m)) => u128::from(m).count_ones(),
            _ => return None,
        };
        Some(format!("{net}/{len}"))
    }
}

fn sa_block(name: &str, phase: &str, src: &str, dst: &str) -> String {
    format!("SA name: {name} ({phase})\nsrc: {src} dst: {dst}\nFlags 0x00000001\n\n")
}

/// Writes an answer whole, as isakmpd's result file appears.
fn answer(paths: &Paths, text: &str) {
    let _ = write_whole(&paths.result, text);
}

fn write_whole(path: &Path, text: &str) -> std::io::Result<()> {
    // a name of its own per file and process: the kernel and flows files
    // share a stem, and ipsecctl and isakmpd write at the same time
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(name);
    fs::write(&tmp, text)?;
    fs::rename(&tmp, path)
}

// ------------------------------------------------------------ ipsecctl

fn ipsecctl(dir: &Path, ipsecmgr: &str, args: &[&str]) -> Result<(), String> {
    let paths = Paths::of(dir);
    let mut fifo = paths.fifo.clone();
    let (mut file, mut delete, mut show) = (None, false, false);
    let mut words = args.iter();
    while let Some(w) = words.next() {
        match *w {
            "-f" => file = words.next().copied(),
            "-i" => fifo = PathBuf::from(words.next().copied().unwrap_or_default()),
            "-d" => delete = true,
            "-sa" => show = true,
            other => return Err(format!("ipsecctl (sandbox): {other}: not understood")),
        }
    }
    if show {
        print!("{}", show_all(&paths));
        return Ok(());
    }
    let Some(file) = file else {
        return Err("ipsecctl (sandbox): nothing to do (-f FILE or -sa)".to_string());
    };
    // the rules as ipsecctl would send them, from ipsecmgr's compiler
    let mut cmd = Command::new(ipsecmgr);
    cmd.arg("--root").arg(dir).arg("compile");
    if delete {
        cmd.arg("-d");
    }
    let out = cmd
        .arg("-k")
        .arg(file)
        .output()
        .map_err(|e| format!("ipsecctl (sandbox): {ipsecmgr}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{}ipsecctl: Syntax error in config file: ipsec rules not loaded",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = listing
        .lines()
        .filter(|l| ["C ", "t ", "c "].iter().any(|p| l.starts_with(p)))
        .collect();
    load_flows(&paths, &listing, delete);
    if !lines.is_empty() {
        send(&fifo, &lines)?;
    }
    Ok(())
}

/// Flow rules (not from ike) go into the kernel at once.
fn load_flows(paths: &Paths, listing: &str, delete: bool) {
    let mut flows: Vec<String> = fs::read_to_string(&paths.flows)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    for f in listing.lines().filter(|l| l.starts_with("flow ")) {
        flows.retain(|x| x != f);
        if !delete {
            flows.push(f.to_string());
        }
    }
    let mut text = flows.join("\n");
    text.push('\n');
    let _ = write_whole(&paths.flows, &text);
}

/// Writes `lines` into the FIFO; a FIFO nobody reads is an error, not a
/// wait for ever (the open is given OPEN_WAIT).
fn send(fifo: &Path, lines: &[&str]) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let path = fifo.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(fs::OpenOptions::new().write(true).open(&path));
    });
    let mut f = match rx.recv_timeout(OPEN_WAIT) {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => return Err(format!("ipsecctl: {}: {e}", fifo.display())),
        Err(_) => return Err(format!("ipsecctl: nobody reads {}", fifo.display())),
    };
    for l in lines {
        f.write_all(format!("{l}\n").as_bytes())
            .map_err(|e| format!("ipsecctl: {}: {e}", fifo.display()))?;
    }
    Ok(())
}

/// What `ipsecctl -sa` prints: the flows, then the SAs.
fn show_all(paths: &Paths) -> String {
    let kernel = fs::read_to_string(&paths.kernel).unwrap_or_default();
    let (ike_flows, sas) = kernel.split_once('\x00').unwrap_or(("", ""));
    let flows = fs::read_to_string(&paths.flows).unwrap_or_default() + ike_flows;
    let flows: Vec<&str> = flows.lines().filter(|l| !l.is_empty()).collect();
    let sas: Vec<&str> = sas.lines().collect();
    let or = |items: Vec<&str>, none: &str| {
        if items.is_empty() {
            format!("{none}\n")
        } else {
            items.iter().map(|l| format!("{l}\n")).collect()
        }
    };
    format!(
        "FLOWS:\n{}\nSAD:\n{}",
        or(flows, "No flows"),
        or(sas, "No entries")
    )
}

// ---------------------------------------------------------------- stop

fn stop(dir: &Path) -> Result<(), String> {
    let paths = Paths::of(dir);
    let Ok(pid) = fs::read_to_string(&paths.pid) else {
        return Ok(()); // not running
    };
    let pid = pid.trim().to_string();
    let running = || {
        Command::new("kill")
            .args(["-0", &pid])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let _ = send(&paths.fifo, &["Q"]);
    let start = Instant::now();
    while running() && start.elapsed() < OPEN_WAIT {
        std::thread::sleep(Duration::from_millis(50));
    }
    if running() {
        let _ = Command::new("kill").arg(&pid).status();
    }
    let _ = fs::remove_file(&paths.pid);
    Ok(())
}
