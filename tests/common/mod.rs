//! A gateway in a temporary directory, for running ipsecmgr on with
//! `--root`: ipsec.conf and its fragments, a stand-in ipsecctl that records
//! every call (and checks its input as ipsecctl would), and a real FIFO read
//! by a thread, as isakmpd reads it.
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
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

pub struct Gateway {
    pub dir: tempfile::TempDir,
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

/// The stand-in: records argv and the -f file, refuses a file ipsecctl
/// would refuse (by compiling it with ipsecmgr, secrecy check included),
/// fails when told to (etc/ipsecctl.fail holds its message), answers -sa
/// from var/ipsecctl.sa.
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
for a in "$@"; do
	if [ "$prev" = "-f" ]; then file="$a"; fi
	prev="$a"
done
if [ -n "$file" ]; then
	cat "$file" > "$log/$n.file" 2>/dev/null || {{ echo "ipsecctl: cannot open $file" >&2; exit 1; }}
	'{bin}' -c "$root/etc/ipsecmgr.conf" compile "$file" > /dev/null || {{
		echo "ipsecctl: Syntax error in config file: ipsec rules not loaded" >&2; exit 1; }}
fi
if [ -f "$root/etc/ipsecctl.fail" ]; then cat "$root/etc/ipsecctl.fail" >&2; exit 1; fi
if [ "$1" = "-sa" ]; then cat "$root/var/ipsecctl.sa"; fi
exit 0
"#,
        root = root.display(),
        bin = BIN
    )
}

pub const SETTINGS: &str =
    "hostname = \"gw1.example.net\"\n\n[hosts]\n\"gw-b.example.net\" = [\"198.51.100.2\"]\n";

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
    /// line, and answers `S` by writing var/isakmpd.sa to the result file.
    pub fn start_isakmpd(&mut self) {
        let fifo = self.path("var/run/isakmpd.fifo");
        if !fifo.exists() {
            nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        }
        self.stop.store(false, Ordering::SeqCst);
        let (lines, stop) = (self.lines.clone(), self.stop.clone());
        let report = self.path("var/isakmpd.sa");
        let result = self.path("var/run/isakmpd.result");
        self.reader = Some(std::thread::spawn(move || {
            use std::os::unix::fs::OpenOptionsExt;
            // isakmpd opens its FIFO read-write and non-blocking
            let mut f = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
                .open(&fifo)
                .unwrap();
            let mut pending = String::new();
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::SeqCst) {
                match f.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        pending.push_str(&String::from_utf8_lossy(&buf[..n]));
                        while let Some(i) = pending.find('\n') {
                            let line: String = pending.drain(..=i).collect();
                            let line = line.trim_end_matches('\n').to_string();
                            if line == "S" {
                                let text = fs::read_to_string(&report).unwrap_or_default();
                                fs::write(&result, text).unwrap();
                            }
                            lines.lock().unwrap().push(line);
                        }
                    }
                    _ => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        }));
        // let the reader open the FIFO before anyone writes
        std::thread::sleep(Duration::from_millis(30));
    }

    pub fn stop_isakmpd(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.reader.take() {
            h.join().unwrap();
        }
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
        // the FIFO reader may still be reading what was just written
        std::thread::sleep(Duration::from_millis(20));
        out
    }

    /// The FIFO lines isakmpd received so far.
    pub fn fifo(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.lines.lock().unwrap().clear();
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

    /// The path a run shows for `rel` under the root.
    pub fn actual(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop_isakmpd();
    }
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
pub mod programs;
