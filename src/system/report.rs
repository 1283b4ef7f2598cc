//! Reading the gateway's live state: `ipsecctl -sa` (the kernel's flows and
//! SAs) and isakmpd's `S` report (its SAs, by connection name).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::system::files::io_reason;
use crate::system::ipsecctl::Ipsecctl;

/// One SA isakmpd reports: `SA name: NAME (Phase N/...)` and the transport
/// line `src: A dst: B` under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsakmpdSa {
    pub name: String,
    pub phase: u8,
    pub src: Option<String>,
    pub dst: Option<String>,
    /// The `Flags 0x...` line (sa.c: sa_dump), when the report has one.
    pub flags: Option<u32>,
    /// A phase 1 SA's initiator cookie (sa.c: report_phase1), which names
    /// it from the exchange's first message on, before isakmpd names it.
    pub icookie: Option<String>,
}

/// sa.h: SA_FLAG_READY, set once the exchange that makes the SA finished.
pub const SA_FLAG_READY: u32 = 0x01;
/// sa.h: SA_FLAG_REPLACED, set on an SA a rekey has superseded.
pub const SA_FLAG_REPLACED: u32 = 0x08;

impl IsakmpdSa {
    /// Established: the ready flag is set (an SA without it is still negotiating).
    pub fn ready(&self) -> bool {
        self.flags.is_some_and(|f| f & SA_FLAG_READY != 0)
    }

    /// Superseded by a rekey, waiting to expire.
    pub fn replaced(&self) -> bool {
        self.flags.is_some_and(|f| f & SA_FLAG_REPLACED != 0)
    }

    /// isakmpd has not named it (sa.c prints `<unnamed>`): its exchange
    /// has not finished (exchange.c: exchange_finalize names it).
    pub fn unnamed(&self) -> bool {
        self.name == "<unnamed>"
    }

    /// A phase 1 exchange this side started and the peer has not answered:
    /// unnamed, not ready, and with no transport yet, so its peer cannot
    /// be told (tests/isakmpd_daemon.rs shows the real report).
    pub fn initiator_in_flight(&self) -> bool {
        self.phase == 1 && self.unnamed() && !self.ready() && self.dst.is_none()
    }
}

/// Parses isakmpd's `S` report (sa.c: sa_report_all).  It is read as
/// bytes: identities and names may hold any (e.g. Latin-1), shown lossily.
pub fn parse_sa_report(report: &[u8]) -> Vec<IsakmpdSa> {
    let text = String::from_utf8_lossy(report);
    let mut sas = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("SA name: ") else {
            continue;
        };
        let (name, phase) = match rest.rsplit_once(" (Phase ") {
            Some((name, tail)) => {
                let digit = tail.chars().next().and_then(|c| c.to_digit(10));
                (name.to_string(), digit.unwrap_or(0) as u8)
            }
            None => (rest.to_string(), 0),
        };
        let mut sa = IsakmpdSa {
            name,
            phase,
            src: None,
            dst: None,
            flags: None,
            icookie: None,
        };
        if let Some(ids) = lines.peek().and_then(|l| l.strip_prefix("src: ")) {
            if let Some((src, dst)) = ids.split_once(" dst: ") {
                sa.src = Some(src.trim().to_string());
                sa.dst = Some(dst.trim().to_string());
            }
            lines.next();
        }
        // the SA's block runs to its blank line; take its flags from it
        while let Some(line) = lines.next_if(|l| !l.is_empty() && !l.starts_with("SA name: ")) {
            if let Some(hex) = line.strip_prefix("Flags 0x") {
                sa.flags = u32::from_str_radix(hex.trim(), 16).ok();
            } else if let Some(rest) = line.strip_prefix("icookie ") {
                sa.icookie = rest.split_whitespace().next().map(str::to_string);
            }
        }
        sas.push(sa);
    }
    sas
}

/// A flow or SA line of `ipsecctl -sa`, with the fields status needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelEntry {
    pub line: String,
    pub direction: Option<String>,
    pub src: String,
    pub dst: String,
    pub peer: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelState {
    pub flows: Vec<KernelEntry>,
    pub sas: Vec<KernelEntry>,
}

fn word_after<'a>(words: &[&'a str], key: &str) -> Option<&'a str> {
    words
        .iter()
        .position(|w| *w == key)
        .and_then(|i| words.get(i + 1).copied())
}

fn entry(line: &str, is_flow: bool) -> Option<KernelEntry> {
    let words: Vec<&str> = line.split_whitespace().collect();
    Some(KernelEntry {
        line: line.to_string(),
        direction: is_flow
            .then(|| words.get(2).map(|d| d.to_string()))
            .flatten(),
        src: word_after(&words, "from")?.to_string(),
        dst: word_after(&words, "to")?.to_string(),
        peer: word_after(&words, "peer").map(str::to_string),
    })
}

/// Parses `ipsecctl -sa` (ipsecctl.c: ipsecctl_show): a `FLOWS:` section
/// and a `SAD:` section; SA lines may continue on tab-indented lines.
pub fn parse_show_all(text: &str) -> KernelState {
    let mut state = KernelState::default();
    let mut in_sad = false;
    for line in text.lines() {
        match line {
            "FLOWS:" => in_sad = false,
            "SAD:" => in_sad = true,
            _ if line.starts_with('\t') || line.trim().is_empty() => {}
            _ if line.starts_with("flow ") => {
                if let Some(e) = entry(line, true) {
                    state.flows.push(e);
                }
            }
            _ if in_sad => {
                if let Some(e) = entry(line.trim_end_matches(" \\"), false) {
                    state.sas.push(e);
                }
            }
            _ => {}
        }
    }
    state
}

/// The kernel's flows and SAs: runs `ipsecctl -sa` (for at most `timeout`).
pub fn kernel_state(ipsecctl: &Path, timeout: Duration) -> Result<KernelState, String> {
    let mut ctl = Ipsecctl::new(ipsecctl);
    ctl.timeout = timeout;
    match ctl.run(&["-sa".to_string()]) {
        Ok(o) if o.success => Ok(parse_show_all(&o.stdout)),
        Ok(o) => Err(format!("ipsecctl -sa failed: {}", o.failure())),
        Err(e) => Err(e),
    }
}

/// The result file may hold this much; more is not isakmpd's answer.
const RESULT_LIMIT: u64 = 256 << 20;

/// An empty result file is taken as the whole answer (no SAs, no such tag)
/// once it has stayed empty this long: isakmpd creates it and writes the
/// answer in one go (ui.c: ui_open_result, then fclose).
const EMPTY_SETTLES: Duration = Duration::from_millis(100);

/// A report that ends where an answer ends is read again after this long,
/// to see that no more is coming.
const RECHECK: Duration = Duration::from_millis(10);

/// Whether an `S` report is whole: every SA's block ends with a blank line
/// (sa.c: sa_dump_all writes a lone newline after each SA).
pub fn sa_report_complete(report: &[u8]) -> bool {
    report.ends_with(b"\n\n")
}

/// Whether a `C get` answer is whole: the value and a newline (ui.c:
/// ui_config, "get").
pub fn get_answer_complete(answer: &[u8]) -> bool {
    answer.ends_with(b"\n")
}

/// Asks isakmpd for its SA report: `S` into the FIFO; see [`ask`].
pub fn isakmpd_report(fifo: &Path, result: &Path, wait: Duration) -> Result<Vec<u8>, String> {
    ask(fifo, result, "S", sa_report_complete, wait)
}

/// Asks isakmpd for one configuration value (`C get [SECTION]:TAG`); `None`
/// when it has none.
pub fn isakmpd_get(
    fifo: &Path,
    result: &Path,
    section: &str,
    tag: &str,
    wait: Duration,
) -> Result<Option<String>, String> {
    let line = format!("C get [{section}]:{tag}");
    let answer = ask(fifo, result, &line, get_answer_complete, wait)?;
    let text = String::from_utf8_lossy(&answer);
    let value = text.trim_end_matches('\n');
    Ok((!value.is_empty()).then(|| value.to_string()))
}

/// A list-valued configuration value (`C get [SECTION]:TAG`), as the list
/// isakmpd reads from it (conf.c: conf_get_list splits at commas and trims
/// blanks); empty when it has none.
pub fn isakmpd_get_list(
    fifo: &Path,
    result: &Path,
    section: &str,
    tag: &str,
    wait: Duration,
) -> Result<Vec<String>, String> {
    let value = isakmpd_get(fifo, result, section, tag, wait)?;
    Ok(value
        .unwrap_or_default()
        .split(',')
        .map(|c| c.trim_matches([' ', '\t']).to_string())
        .filter(|c| !c.is_empty())
        .collect())
}

/// Sends `line`, whose answer isakmpd writes to the result file, and
/// waits (up to `wait`) for the whole answer.  The old file is removed
/// first: isakmpd creates it anew for each answer, so whatever is there
/// afterwards is the answer to this line.
fn ask(
    fifo: &Path,
    result: &Path,
    line: &str,
    complete: fn(&[u8]) -> bool,
    wait: Duration,
) -> Result<Vec<u8>, String> {
    match std::fs::remove_file(result) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(format!(
                "cannot remove {} before asking isakmpd: {}",
                crate::escape::escaped_path(result),
                io_reason(&e)
            ));
        }
    }
    crate::system::fifo::send(fifo, &[line.to_string()])?;
    let start = Instant::now();
    let mut empty_since: Option<Instant> = None;
    loop {
        if let Some(bytes) = read_result(result)? {
            if bytes.is_empty() {
                let since = *empty_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= EMPTY_SETTLES {
                    return Ok(bytes);
                }
            } else {
                empty_since = None;
                if complete(&bytes) {
                    std::thread::sleep(RECHECK);
                    if read_result(result)?.as_deref() == Some(bytes.as_slice()) {
                        return Ok(bytes);
                    }
                }
            }
        }
        if start.elapsed() > wait {
            return Err(format!(
                "isakmpd did not answer `{line}` in {} within {} seconds",
                crate::escape::escaped_path(result),
                wait.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The result file's bytes; `None` while it does not exist.  Asked first:
/// a file that appears between a failed read and a look would otherwise
/// be an error.  Once there it stays (only ipsecmgr removes it).
fn read_result(result: &Path) -> Result<Option<Vec<u8>>, String> {
    if std::fs::symlink_metadata(result).is_err() {
        return Ok(None);
    }
    match crate::system::files::read_regular(result, RESULT_LIMIT) {
        Ok(data) => Ok(Some(data.bytes)),
        Err(e) => Err(format!(
            "cannot read {}: {}",
            crate::escape::escaped_path(result),
            e.0
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isakmpd_sa_report() {
        let text = "SA name: peer-192.0.2.9 (Phase 1/Initiator)\nsrc: 192.0.2.1 dst: 192.0.2.9\n\
                    Lifetime: 3600 seconds\nFlags 0x00000001\nicookie 1 rcookie 2\n\n\
                    SA name: from-10.0.0.0/24-to-10.9.0.0/24 (Phase 2)\nsrc: 192.0.2.1 dst: 192.0.2.9\n\
                    Flags 0x00000000\nSPI 0: 1234abcd\n\nSA name: <unnamed> (Phase 1/Responder)\n\
                    <no transport>\n\n";
        let sas = parse_sa_report(text.as_bytes());
        assert_eq!(sas.len(), 3);
        assert_eq!(sas[0].name, "peer-192.0.2.9");
        assert_eq!(sas[0].phase, 1);
        assert_eq!(sas[0].dst.as_deref(), Some("192.0.2.9"));
        assert_eq!(sas[1].phase, 2);
        assert_eq!(sas[2].src, None);
        assert!(sas[0].ready() && !sas[0].replaced());
        assert!(!sas[1].ready());
        assert_eq!(sas[2].flags, None);
        assert!(sas[2].unnamed());
    }

    #[test]
    fn ipsecctl_show_all() {
        let text = "FLOWS:\nflow esp in from 10.9.0.0/24 to 10.0.0.0/24 peer 192.0.2.9 type use\n\
                    flow esp out from 10.0.0.0/24 to 10.9.0.0/24 peer 192.0.2.9 type require\n\n\
                    SAD:\nesp tunnel from 192.0.2.9 to 192.0.2.1 spi 0x1234abcd auth hmac-sha2-256 enc aes\n";
        let s = parse_show_all(text);
        assert_eq!(s.flows.len(), 2);
        assert_eq!(s.flows[0].direction.as_deref(), Some("in"));
        assert_eq!(s.flows[1].peer.as_deref(), Some("192.0.2.9"));
        assert_eq!(s.sas[0].dst, "192.0.2.1");
        assert_eq!(
            parse_show_all("FLOWS:\nNo flows\n\nSAD:\nNo entries\n"),
            KernelState::default()
        );
    }

    /// A reader standing in for isakmpd: answers each line it reads with
    /// `answer`, written to `result` as ui.c does (create, write, close).
    fn answering(fifo: &Path, result: &Path, answer: &'static [u8]) -> std::thread::JoinHandle<()> {
        use std::io::Read;
        nix::unistd::mkfifo(fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(fifo)
            .unwrap();
        let result = result.to_path_buf();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            if f.read(&mut buf).is_ok() {
                std::fs::write(&result, answer).unwrap();
            }
        })
    }

    #[test]
    fn an_old_result_is_never_taken_for_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        let (fifo, result) = (dir.path().join("fifo"), dir.path().join("result"));
        std::fs::write(&result, "stale,value\n").unwrap();
        let t = answering(&fifo, &result, b"a,b\n");
        let got = isakmpd_get(
            &fifo,
            &result,
            "Phase 2",
            "Connections",
            Duration::from_secs(2),
        );
        t.join().unwrap();
        assert_eq!(got.unwrap().as_deref(), Some("a,b"));
    }

    #[test]
    fn an_empty_answer_means_no_value_and_a_cut_report_is_not_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (fifo, result) = (dir.path().join("fifo"), dir.path().join("result"));
        let t = answering(&fifo, &result, b"");
        let got = isakmpd_get(
            &fifo,
            &result,
            "Phase 2",
            "Connections",
            Duration::from_secs(2),
        );
        t.join().unwrap();
        assert_eq!(got.unwrap(), None);
        assert!(!sa_report_complete(
            b"SA name: a (Phase 2)\nsrc: 1 dst: 2\n"
        ));
        assert!(sa_report_complete(
            b"SA name: a (Phase 2)\nsrc: 1 dst: 2\nFlags 0x1\n\n"
        ));
    }
}
