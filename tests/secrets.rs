//! No secret reaches the terminal: every command, in every output format and
//! mode, on a gateway whose fragments hold pre-shared keys (literal and via
//! a macro) and manual SA keys, including the error paths that quote the
//! offending line. `compile -k` is the one way to see them. Every file
//! ipsecmgr writes is 0600, and the only copies of a secret outside the
//! gateway's own files are the ones handed to ipsecctl, which needs them.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::*;

const PSK_LITERAL: &str = "S3CRET-psk-0001-literal-9f8e7d6c5b4a";
const PSK_MACRO: &str = "S3CRET-psk-0002-macro-1a2b3c4d5e6f";
const PSK_BROKEN: &str = "S3CRET-psk-0003-broken-0a1b2c3d4e5f";
const PSK_UNTERMINATED: &str = "S3CRET-psk-0004-unterminated-77aa";
const PSK_CONFLICT: &str = "S3CRET-psk-0005-conflict-88bb99cc";
const PSK_CHANGED: &str = "S3CRET-psk-0006-changed-4d3c2b1a";
const PSK_NEW: &str = "S3CRET-psk-0007-new-0f1e2d3c4b5a";
const PSK_MACRO_NEW: &str = "S3CRET-psk-0008-macro-new-6a5b4c";

// hmac-sha2-256: 256 bits; aes: 128 bits
const AUTHKEY_OUT: &str = "deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef";
const AUTHKEY_IN: &str = "feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface";
const ENCKEY_OUT: &str = "c0ffee11c0ffee11c0ffee11c0ffee11";
const ENCKEY_IN: &str = "badc0de5badc0de5badc0de5badc0de5";
// the new fragment's keys
const AUTHKEY_NEW: &str = "0ddba11a0ddba11a0ddba11a0ddba11a0ddba11a0ddba11a0ddba11a0ddba11a";
const ENCKEY_NEW: &str = "5eed5eed5eed5eed5eed5eed5eed5eed";
// a key of the wrong length, in a broken file
const AUTHKEY_BAD: &str = "abad1deaabad1deaabad1dea";
// a TCP MD5 key
const MD5KEY: &str = "cafed00dcafed00dcafed00dcafed00d";

/// Every hex key of the gateway.
const HEX_KEYS: &[&str] = &[
    AUTHKEY_OUT,
    AUTHKEY_IN,
    ENCKEY_OUT,
    ENCKEY_IN,
    AUTHKEY_NEW,
    ENCKEY_NEW,
    AUTHKEY_BAD,
    MD5KEY,
];

/// What must never be printed: every secret, and a distinctive piece of
/// each key's hex digits (a key printed in part or in another case is a
/// leak too).
fn needles() -> Vec<String> {
    let mut v: Vec<String> = [
        PSK_LITERAL,
        PSK_MACRO,
        PSK_BROKEN,
        PSK_UNTERMINATED,
        PSK_CONFLICT,
        PSK_CHANGED,
        PSK_NEW,
        PSK_MACRO_NEW,
        "S3CRET",
    ]
    .iter()
    .chain(HEX_KEYS)
    .map(|s| s.to_string())
    .collect();
    for hex in HEX_KEYS {
        v.push(hex[..8].to_string());
        v.push(hex[..8].to_uppercase());
    }
    v
}

fn literal() -> String {
    tunnel(1, PSK_LITERAL)
}

fn macro_psk() -> String {
    format!(
        "k = \"{PSK_MACRO}\"\n\
         ike esp from 10.0.3.0/24 to 10.3.0.0/16 peer 198.51.3.1 \\\n\
         \tquick enc aes-256-gcm group modp2048 psk $k\n"
    )
}

fn manual() -> String {
    format!(
        "esp from 10.0.4.1 to 10.4.0.1 spi 0x1000:0x1001 auth hmac-sha2-256 enc aes \\\n\
         \tauthkey 0x{AUTHKEY_OUT}:0x{AUTHKEY_IN} \\\n\
         \tenckey 0x{ENCKEY_OUT}:0x{ENCKEY_IN}\n\
         tcpmd5 from 10.0.4.1 to 10.4.0.2 spi 0x2000 authkey 0x{MD5KEY}\n"
    )
}

/// A new fragment: a pre-shared key through a macro, and manual keys.
fn new_fragment() -> String {
    format!(
        "nk = \"{PSK_MACRO_NEW}\"\n\
         ike esp from 10.0.8.0/24 to 10.8.0.0/16 peer 198.51.8.1 psk $nk\n\
         ike esp from 10.0.9.0/24 to 10.9.0.0/16 peer 198.51.9.1 psk \"{PSK_NEW}\"\n\
         esp from 10.0.8.1 to 10.8.0.1 spi 0x3000:0x3001 auth hmac-sha2-256 enc aes \\\n\
         \tauthkey 0x{AUTHKEY_NEW}:0x{AUTHKEY_NEW} enckey 0x{ENCKEY_NEW}:0x{ENCKEY_NEW}\n"
    )
}

/// Files with an error on, or right next to, a line holding a secret.
fn broken() -> Vec<(&'static str, String)> {
    vec![
        (
            // a syntax error on the psk line
            "syntax",
            format!(
                "ike esp from 10.0.5.0/24 to 10.5.0.0/16 peer 198.51.5.1 psk \"{PSK_BROKEN}\" bogus\n"
            ),
        ),
        (
            // the error is the line after the psk
            "next",
            format!(
                "ike esp from 10.0.5.0/24 to 10.5.0.0/16 peer 198.51.5.1 \\\n\
                 \tpsk \"{PSK_BROKEN}\"\n\
                 ike esp from 10.0.6.0/24 to nowhere-at-all peer 198.51.6.1 psk \"{PSK_BROKEN}\"\n"
            ),
        ),
        (
            "unterminated",
            format!(
                "ike esp from 10.0.5.0/24 to 10.5.0.0/16 peer 198.51.5.1 psk \"{PSK_UNTERMINATED}\n"
            ),
        ),
        (
            // a macro holding a psk, then an error using it
            "macro",
            format!(
                "bk = \"{PSK_BROKEN}\"\n\
                 ike esp from 10.0.5.0/24 to 10.5.0.0/16 peer 198.51.5.1 psk $bk psk $bk\n"
            ),
        ),
        (
            // a key of the wrong length
            "keylen",
            format!(
                "esp from 10.0.5.1 to 10.5.0.1 spi 0x4000:0x4001 auth hmac-sha2-256 enc aes \\\n\
                 \tauthkey 0x{AUTHKEY_BAD}:0x{AUTHKEY_BAD} enckey 0x{ENCKEY_OUT}:0x{ENCKEY_IN}\n"
            ),
        ),
        (
            // fine alone, but the peer of `lit` with another key
            "conflict",
            format!(
                "ike esp from 10.0.7.0/24 to 10.7.0.0/16 peer 198.51.1.1 psk \"{PSK_CONFLICT}\"\n"
            ),
        ),
    ]
}

fn gateway() -> Gateway {
    Gateway::new(
        HEAD,
        &[
            ("lit", &literal()),
            ("mac", &macro_psk()),
            ("man", &manual()),
        ],
    )
}

/// Puts a wrapper in front of the stand-in ipsecctl that also records the
/// mode of the file it is given with -f, when it reads it.
fn record_modes(gw: &Gateway) {
    let real = gw.path("sbin/ipsecctl.real");
    fs::rename(gw.path("sbin/ipsecctl"), &real).unwrap();
    let script = format!(
        "#!/bin/sh\nlog='{log}'\nmkdir -p \"$log\"\nprev=\"\"\nfor a in \"$@\"; do\n\
         \tif [ \"$prev\" = \"-f\" ] && [ -f \"$a\" ]; then\n\
         \t\tprintf '%s %s\\n' \"$(stat -c %a \"$a\")\" \"$a\" >> \"$log/modes\"\n\
         \tfi\n\tprev=\"$a\"\ndone\nexec '{real}' \"$@\"\n",
        log = gw.path("var/log").display(),
        real = real.display()
    );
    let p = gw.path("sbin/ipsecctl");
    fs::write(&p, script).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Writes a file readable by anyone, as a user's file may well be.
fn write_public(gw: &Gateway, rel: &str, text: &str) {
    gw.write(rel, text);
    fs::set_permissions(gw.path(rel), fs::Permissions::from_mode(0o644)).unwrap();
}

struct Checker {
    needles: Vec<String>,
    runs: usize,
    leaks: Vec<String>,
}

impl Checker {
    fn new() -> Checker {
        Checker {
            needles: needles(),
            runs: 0,
            leaks: Vec::new(),
        }
    }

    fn check(&mut self, what: &str, out: &Output) {
        self.runs += 1;
        assert!(
            out.status.code().is_some(),
            "{what}: killed by a signal\n{}",
            stderr(out)
        );
        for (stream, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
            for needle in &self.needles {
                if let Some(i) = text.find(needle.as_str()) {
                    let line_start = text[..i].rfind('\n').map_or(0, |j| j + 1);
                    let line_end = text[i..].find('\n').map_or(text.len(), |j| i + j);
                    self.leaks.push(format!(
                        "`{what}` {stream} shows {needle:?}: {:?}",
                        &text[line_start..line_end]
                    ));
                    break;
                }
            }
        }
    }

    fn run(&mut self, gw: &Gateway, args: &[&str]) -> Output {
        let out = gw.run(args);
        self.check(&format!("ipsecmgr {}", args.join(" ")), &out);
        out
    }

    fn run_ok(&mut self, gw: &Gateway, args: &[&str]) -> Output {
        let out = self.run(gw, args);
        assert!(
            out.status.success(),
            "ipsecmgr {}: {}{}",
            args.join(" "),
            stdout(&out),
            stderr(&out)
        );
        out
    }

    fn run_fails(&mut self, gw: &Gateway, args: &[&str]) -> Output {
        let out = self.run(gw, args);
        assert!(
            !out.status.success(),
            "ipsecmgr {} should fail: {}",
            args.join(" "),
            stdout(&out)
        );
        out
    }

    fn finish(&self) {
        eprintln!("{} command runs checked for secrets", self.runs);
        assert!(
            self.leaks.is_empty(),
            "secrets printed:\n{}",
            self.leaks.join("\n")
        );
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd {
        let p = e.unwrap().path();
        let ft = fs::symlink_metadata(&p).unwrap().file_type();
        if ft.is_dir() {
            files_under(&p, out);
        } else if ft.is_file() {
            out.push(p);
        }
    }
}

fn assert_private(gw: &Gateway, when: &str) {
    let mut files = Vec::new();
    files_under(&gw.path("var/db"), &mut files);
    files_under(&gw.path("etc/ipsec.d"), &mut files);
    files.push(gw.path("etc/ipsec.conf"));
    let wrong: Vec<String> = files
        .iter()
        .filter(|p| mode(p) != 0o600)
        .map(|p| format!("{} {:o}", p.display(), mode(p)))
        .collect();
    assert!(wrong.is_empty(), "{when}: files not 0600: {wrong:?}");
}

fn set_live_state(gw: &Gateway) {
    gw.write(
        "var/ipsecctl.sa",
        "FLOWS:\nflow esp out from 10.0.1.0/24 to 10.1.0.0/16 peer 198.51.1.1 type require\n\
         flow esp out from 10.0.4.1 to 10.4.0.1 peer 10.4.0.1 type require\n\
         flow esp out from 10.99.0.0/16 to 10.98.0.0/16 peer 192.0.2.99 type require\n\n\
         SAD:\nesp tunnel from 10.0.4.1 to 10.4.0.1 spi 0x00001000 auth hmac-sha2-256 enc aes\n",
    );
    gw.write(
        "var/isakmpd.sa",
        "SA name: peer-198.51.1.1 (Phase 1/Initiator)\nsrc: 192.0.2.1 dst: 198.51.1.1\nFlags 0x00000001\n\n\
         SA name: from-10.0.1.0/24-to-10.1.0.0/16 (Phase 2)\nsrc: 192.0.2.1 dst: 198.51.1.1\nFlags 0x00000000\n\n\
         SA name: peer-198.51.3.1 (Phase 1/Initiator)\nsrc: 192.0.2.1 dst: 198.51.3.1\nFlags 0x00000001\n\n\
         SA name: stale-connection (Phase 2)\nsrc: 192.0.2.1 dst: 192.0.2.99\nFlags 0x00000000\n\n",
    );
}

#[test]
fn no_command_prints_a_secret_and_every_written_file_is_private() {
    // status asks isakmpd's own conf.c (the harness) for its connections;
    // without the harness the rest still runs
    let live = common::isakmpd::available();
    let mut gw = gateway();
    record_modes(&gw);
    set_live_state(&gw);
    let mut c = Checker::new();
    let names = ["lit", "mac", "man"];
    for (name, text) in broken() {
        write_public(&gw, &format!("home/broken/{name}.conf"), &text);
    }
    write_public(&gw, "home/new.conf", &new_fragment());
    write_public(&gw, "home/pair/lit.conf", &literal());
    write_public(&gw, "home/pair/conflict.conf", &broken()[5].1);
    let mut changed = literal().replace(PSK_LITERAL, PSK_CHANGED);
    changed.push_str(&format!(
        "ike esp from 10.0.11.0/24 to 10.11.0.0/16 peer 198.51.1.1 \\\n\
         \tmain auth hmac-sha2-256 enc aes-256 group modp2048 \\\n\
         \tquick enc aes-256-gcm group modp2048 psk \"{PSK_CHANGED}\"\n"
    ));
    write_public(&gw, "home/lit-changed.conf", &changed);
    write_public(
        &gw,
        "home/man-changed.conf",
        &manual().replace(ENCKEY_IN, ENCKEY_NEW),
    );

    // compile, each way, of the tree and of each fragment
    // typed paths are read as typed: the gateway's files in the tree
    let conf = gw.actual("etc/ipsec.conf");
    let mut targets = vec![conf.clone()];
    targets.extend(
        names
            .iter()
            .map(|n| gw.actual(&format!("etc/ipsec.d/{n}.conf"))),
    );
    targets.push(gw.actual("home/new.conf"));
    for t in &targets {
        c.run_ok(&gw, &["compile", t]);
        c.run_ok(&gw, &["compile", "-d", t]);
    }
    for (name, _) in broken() {
        let p = gw.actual(&format!("home/broken/{name}.conf"));
        if name == "conflict" {
            continue; // fine alone
        }
        c.run_fails(&gw, &["compile", &p]);
        c.run_fails(&gw, &["compile", "-d", &p]);
    }
    // compile from standard input
    for args in [&["compile", "-"][..], &["compile", "-d", "-"][..]] {
        let mut child = Command::new(BIN)
            .arg("--root")
            .arg(gw.root())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin
                .write_all(format!("{}{}", macro_psk(), manual()).as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        c.check(&format!("ipsecmgr {} (stdin)", args.join(" ")), &out);
    }

    // lint, every format, the gateway and the broken files
    for format in ["text", "json", "github"] {
        c.run(&gw, &["lint", "--format", format]);
        c.run(&gw, &["lint", "--format", format, "--offline"]);
        c.run(&gw, &["lint", "--format", format, "--deny-warnings"]);
        c.run(
            &gw,
            &["lint", "--format", format, &gw.actual("etc/ipsec.conf")],
        );
        c.run(
            &gw,
            &["lint", "--format", format, &gw.actual("etc/ipsec.d")],
        );
        c.run_fails(
            &gw,
            &["lint", "--format", format, &gw.actual("home/broken")],
        );
        // a phase 1 peer set up with two keys
        let out = c.run_fails(&gw, &["lint", "--format", format, &gw.actual("home/pair")]);
        assert!(stdout(&out).contains("L104"), "{}", stdout(&out));
        for (name, _) in broken() {
            let p = gw.actual(&format!("home/broken/{name}.conf"));
            c.run(&gw, &["lint", "--format", format, "--offline", &p]);
            // next to the gateway's own files, so conflicts are found too
            c.run(
                &gw,
                &["lint", "--format", format, &gw.actual("etc/ipsec.conf"), &p],
            );
        }
    }
    // the lint errors do quote the broken lines, only not their secrets
    let out = c.run_fails(&gw, &["lint", &gw.actual("home/broken/syntax.conf")]);
    assert!(stdout(&out).contains("peer 198.51.5.1"), "{}", stdout(&out));

    // the read-only commands
    c.run_ok(&gw, &["ls"]);
    c.run_ok(&gw, &["ls", "--json"]);
    for n in names {
        c.run_ok(&gw, &["tags", n]);
        c.run_ok(&gw, &["tags", "--teardown", n]);
        if live {
            c.run_ok(&gw, &["status", n]);
            c.run_ok(&gw, &["status", "--json", n]);
        }
    }
    c.run_ok(&gw, &["tags", &gw.actual("home/new.conf")]);
    c.run_ok(&gw, &["tags", "--teardown", &gw.actual("home/new.conf")]);
    c.run_fails(&gw, &["tags", &gw.actual("home/broken/syntax.conf")]);
    c.run_fails(&gw, &["tags", &gw.actual("home/broken/unterminated.conf")]);
    if live {
        c.run_ok(&gw, &["status"]);
        c.run_ok(&gw, &["status", "--json"]);
    }

    // diff: unchanged, changed psk, changed manual keys, broken new versions
    for n in names {
        c.run_ok(&gw, &["diff", n]);
    }
    let out = c.run_ok(&gw, &["diff", "lit", &gw.actual("home/lit-changed.conf")]);
    assert!(stdout(&out).contains("10.0.11.0/24"), "{}", stdout(&out));
    c.run_ok(&gw, &["diff", "man", &gw.actual("home/man-changed.conf")]);
    for (name, _) in broken() {
        let p = gw.actual(&format!("home/broken/{name}.conf"));
        c.run(&gw, &["diff", "lit", &p]);
    }
    // diff --tree between two checkouts of a gateway
    let other = Gateway::new(
        HEAD,
        &[
            ("lit", &changed),
            ("mac", &macro_psk().replace(PSK_MACRO, PSK_MACRO_NEW)),
            ("man", &manual().replace(ENCKEY_IN, ENCKEY_NEW)),
            ("new", &new_fragment()),
        ],
    );
    let settings = gw.actual("etc/ipsecmgr.conf");
    for json in [false, true] {
        for (a, b) in [(gw.root(), other.root()), (other.root(), gw.root())] {
            let mut cmd = Command::new(BIN);
            cmd.args(["-c", &settings, "diff", "--tree"]).arg(a).arg(b);
            if json {
                cmd.arg("--json");
            }
            let out = cmd.output().unwrap();
            c.check(&format!("ipsecmgr diff --tree (json: {json})"), &out);
        }
    }

    // the plans, then the changes themselves
    c.run_ok(&gw, &["add", "-n", &gw.actual("home/new.conf")]);
    for (name, _) in broken() {
        let p = gw.actual(&format!("home/broken/{name}.conf"));
        c.run_fails(&gw, &["add", "-n", &p]);
        c.run_fails(&gw, &["add", &p]);
    }
    // ipsecctl refusing the file
    gw.write("etc/ipsecctl.fail", "ipsecctl: failed to add rule 1\n");
    c.run_fails(&gw, &["add", &gw.actual("home/new.conf")]);
    c.run_fails(&gw, &["apply", "lit", &gw.actual("home/lit-changed.conf")]);
    fs::remove_file(gw.path("etc/ipsecctl.fail")).unwrap();
    assert_private(&gw, "after the failed runs");

    gw.clear();
    c.run_ok(&gw, &["add", &gw.actual("home/new.conf")]);
    assert_private(&gw, "after add");
    c.run_ok(&gw, &["add", "new"]); // already loaded
    c.run_ok(&gw, &["ls"]);
    c.run_ok(&gw, &["ls", "--json"]);
    if live {
        c.run_ok(&gw, &["status"]);
        c.run_ok(&gw, &["status", "--json"]);
    }
    c.run_ok(&gw, &["diff", "new"]);

    c.run_ok(
        &gw,
        &["apply", "-n", "lit", &gw.actual("home/lit-changed.conf")],
    );
    c.run_ok(&gw, &["apply", "lit", &gw.actual("home/lit-changed.conf")]);
    assert_private(&gw, "after apply of lit");
    c.run_ok(
        &gw,
        &["apply", "-n", "man", &gw.actual("home/man-changed.conf")],
    );
    c.run_ok(&gw, &["apply", "man", &gw.actual("home/man-changed.conf")]);
    assert_private(&gw, "after apply of man");
    c.run_ok(&gw, &["apply", "-n", "mac"]); // nothing to do
    c.run_ok(&gw, &["apply", "mac"]);
    for (name, _) in broken() {
        let p = gw.actual(&format!("home/broken/{name}.conf"));
        c.run_fails(&gw, &["apply", "-n", "mac", &p]);
        c.run_fails(&gw, &["apply", "mac", &p]);
    }
    // a fragment edited in place into one that does not parse
    let mac_file = gw.path("etc/ipsec.d/mac.conf");
    let mac_before = fs::read_to_string(&mac_file).unwrap();
    gw.write(
        "etc/ipsec.d/mac.conf",
        &format!("{mac_before}ike esp peer psk \"{PSK_BROKEN}\" oops\n"),
    );
    c.run(&gw, &["diff", "mac"]);
    c.run_fails(&gw, &["apply", "-n", "mac"]);
    c.run_fails(&gw, &["apply", "mac"]);
    c.run(&gw, &["lint"]);
    c.run(&gw, &["lint", "--format", "json"]);
    c.run(&gw, &["lint", "--format", "github"]);
    c.run(&gw, &["ls"]);
    c.run(&gw, &["ls", "--json"]);
    if live {
        c.run(&gw, &["status"]);
        c.run(&gw, &["status", "--json"]);
    }
    c.run(&gw, &["compile", &conf]);
    c.run(&gw, &["compile", "-d", &conf]);
    gw.write("etc/ipsec.d/mac.conf", &mac_before);

    for n in ["lit", "mac", "man", "new"] {
        for cmd in ["down", "up", "restart"] {
            c.run_ok(&gw, &[cmd, "-n", n]);
            c.run_ok(&gw, &[cmd, n]);
        }
    }
    assert_private(&gw, "after down/up/restart");

    for n in ["lit", "mac", "man", "new"] {
        c.run_ok(&gw, &["rm", "-n", n]);
    }
    c.run_ok(&gw, &["rm", "man"]);
    c.run_ok(&gw, &["rm", "new"]);
    assert_private(&gw, "after rm");
    c.run_ok(&gw, &["rm", "new"]); // already removed: says when
    c.run_fails(&gw, &["down", "new"]);
    c.run_ok(&gw, &["ls", "--json"]);
    if live {
        c.run_ok(&gw, &["status", "--json"]);
    }

    // the FIFO carries no secret: ipsecmgr only tears down
    gw.stop_isakmpd();
    let fifo = gw.fifo();
    for needle in needles() {
        assert!(
            fifo.iter().all(|l| !l.contains(&needle)),
            "FIFO line shows {needle}"
        );
    }

    // ipsecctl is handed the secrets it needs: only gateway files, 0600
    let calls = gw.calls();
    assert!(!calls.is_empty());
    let root = gw.root().display().to_string();
    for call in &calls {
        let Some(file) = &call.file else { continue };
        if !needles().iter().any(|n| file.contains(n.as_str())) {
            continue;
        }
        let i = call.args.iter().position(|a| a == "-f").unwrap();
        let path = &call.args[i + 1];
        assert!(
            path.starts_with(&format!("{root}/etc/ipsec.d/"))
                || path.starts_with(&format!("{root}/var/db/ipsecmgr/")),
            "ipsecctl read secrets from {path}"
        );
    }
    let modes = fs::read_to_string(gw.path("var/log/modes")).unwrap();
    for line in modes.lines() {
        assert!(
            line.starts_with("600 "),
            "ipsecctl was handed a file that is not 0600: {line}"
        );
    }

    // the one way to see them, so this test can fail
    let conf_text = fs::read_to_string(gw.path("etc/ipsec.conf")).unwrap();
    assert!(conf_text.contains("lit.conf") && conf_text.contains("mac.conf"));
    let shown = stdout(&gw.run(&["compile", "-k", &conf]));
    assert!(shown.contains(PSK_CHANGED), "{shown}");
    assert!(shown.contains(PSK_MACRO), "{shown}");
    let shown = stdout(&gw.run(&["compile", "-k", &gw.actual("home/man-changed.conf")]));
    for key in [AUTHKEY_OUT, AUTHKEY_IN, ENCKEY_OUT, ENCKEY_NEW, MD5KEY] {
        assert!(shown.contains(key), "{key}: {shown}");
    }
    let shown = stdout(&gw.run(&["compile", "-k", &gw.actual("home/new.conf")]));
    for key in [PSK_NEW, PSK_MACRO_NEW, AUTHKEY_NEW, ENCKEY_NEW] {
        assert!(shown.contains(key), "{key}: {shown}");
    }
    let mut checked = Checker::new();
    checked.check("compile -k", &gw.run(&["compile", "-k", &conf]));
    assert!(!checked.leaks.is_empty(), "the checker sees what -k shows");

    c.finish();
}

/// A hostile spelling or layout of a key: the files to write (relative to
/// the root; `home/case.conf` is the one handed to the commands), the key
/// material that must never be printed, and whether `compile -k` shows it
/// (the file compiles), which proves the needles are the right ones.
struct Hostile {
    name: &'static str,
    files: Vec<(&'static str, String)>,
    needles: Vec<&'static str>,
    compiles: bool,
}

const PEER: &str = "ike esp from 10.0.20.0/24 to 10.20.0.0/16 peer 198.51.20.1";
const MANUAL: &str = "esp from 10.0.21.1 to 10.21.0.1 spi 0x5000:0x5001 auth hmac-sha2-256 enc aes";

fn case(name: &'static str, text: String, needles: &[&'static str], compiles: bool) -> Hostile {
    Hostile {
        name,
        files: vec![("home/case.conf", text)],
        needles: needles.to_vec(),
        compiles,
    }
}

/// The table: each of the typos and layouts that once printed a key.
fn hostile_cases() -> Vec<Hostile> {
    let k = |s: &'static str| s;
    let hex_a = "a11ce5a11ce5a11ce5a11ce5a11ce5a11ce5a11ce5a11ce5a11ce5a11ce5a11c";
    let hex_b = "b0b5b0b5b0b5b0b5b0b5b0b5b0b5b0b5";
    let hex_c = "c4a11e96c4a11e96c4a11e96c4a11e96";
    let mut v = vec![
        case(
            "psk=",
            format!("{PEER} psk=\"{}\"\n", k("Kx01-equals-no-blank-5c1d")),
            &["Kx01-equals-no-blank-5c1d"],
            false,
        ),
        case(
            "psk\"",
            format!("{PEER} psk\"{}\"\n", k("Kx02-glued-quote-77e0")),
            &["Kx02-glued-quote-77e0"],
            false,
        ),
        case(
            "PSK",
            format!("{PEER} PSK \"{}\"\n", k("Kx03-upper-case-9a9b")),
            &["Kx03-upper-case-9a9b"],
            false,
        ),
        case(
            "Psk",
            format!("{PEER} Psk \"{}\"\n", k("Kx04-capitalised-4e4f")),
            &["Kx04-capitalised-4e4f"],
            false,
        ),
        case(
            "psk :",
            format!("{PEER} psk : \"{}\"\n", k("Kx05-strongswan-colon-1f2e")),
            &["Kx05-strongswan-colon-1f2e"],
            false,
        ),
        case(
            "psk= bare",
            format!("{PEER} psk={}\n", k("Kx06-bare-after-equals-3d3c")),
            &["Kx06-bare-after-equals-3d3c"],
            false,
        ),
        case(
            "tabs",
            format!("{PEER}\tpsk\t\t\"{}\"\tbogus\n", k("Kx07-tabs-around-6b6a")),
            &["Kx07-tabs-around-6b6a"],
            false,
        ),
        case(
            "Enckey",
            format!("{MANUAL} Enckey 0x{hex_b}\n"),
            &["b0b5b0b5b0b5"],
            false,
        ),
        case(
            "authkey a : b",
            format!("{MANUAL} authkey 0x{hex_a} : 0x{hex_c}\n"),
            &["a11ce5a11ce5", "c4a11e96c4a1"],
            false,
        ),
        case(
            "AUTHKEY=",
            format!("{MANUAL} AUTHKEY=0x{hex_a}\n"),
            &["a11ce5a11ce5"],
            false,
        ),
        case(
            // the value goes on over two lines inside its quotes; it compiles
            "macro continued",
            format!(
                "k = \"{}\\\n{}\"\n{PEER} psk $k\n",
                k("Kx08-first-half-0a0b"),
                k("Kx08-second-half-0c0d")
            ),
            &["Kx08-first-half-0a0b", "Kx08-second-half-0c0d"],
            true,
        ),
        case(
            // over three lines, and the use has a typo
            "macro continued, typo",
            format!(
                "k = \"{}\\\n{}\\\n{}\"\n{PEER} PSK $k\n",
                k("Kx09-one-1a1b"),
                k("Kx09-two-2a2b"),
                k("Kx09-three-3a3b")
            ),
            &["Kx09-one-1a1b", "Kx09-two-2a2b", "Kx09-three-3a3b"],
            false,
        ),
        case(
            // a newline inside quotes is dropped: the value spans the lines
            "quoted over lines",
            format!(
                "k = \"{}\n{}\"\n{PEER} psk $k\n",
                k("Kx10-upper-line-4c4d"),
                k("Kx10-lower-line-5e5f")
            ),
            &["Kx10-upper-line-4c4d", "Kx10-lower-line-5e5f"],
            true,
        ),
        case(
            "macro, psk=",
            format!("k = \"{}\"\n{PEER} psk=$k\n", k("Kx11-macro-equals-6f6e")),
            &["Kx11-macro-equals-6f6e"],
            false,
        ),
        case(
            // a key where an address is expected
            "macro as address",
            format!(
                "k = \"{}\"\nike esp from 10.0.20.0/24 to 10.20.0.0/16 peer $k psk $k\n",
                k("Kx12-used-as-peer-7a7b")
            ),
            &["Kx12-used-as-peer-7a7b"],
            false,
        ),
        case(
            // a macro holding a macro that holds the key
            "nested macro",
            format!(
                "inner = \"{}\"\nouter = $inner\n{PEER} PSK $outer\n",
                k("Kx13-nested-8c8d")
            ),
            &["Kx13-nested-8c8d"],
            false,
        ),
        case(
            "crlf",
            format!(
                "k = \"{}\"\r\n{PEER} psk $k\r\n{PEER} psk \"{}\"\r\n",
                k("Kx14-crlf-macro-9e9f"),
                k("Kx14-crlf-literal-0f0e")
            ),
            &["Kx14-crlf-macro-9e9f", "Kx14-crlf-literal-0f0e"],
            false,
        ),
        case(
            "unterminated over lines",
            format!(
                "{PEER} psk \"{}\n{}\n",
                k("Kx15-open-quote-1d1c"),
                k("Kx15-next-line-2d2c")
            ),
            &["Kx15-open-quote-1d1c", "Kx15-next-line-2d2c"],
            false,
        ),
        case(
            "commented-out key",
            format!(
                "# {PEER} psk \"{}\"\n{PEER} psk \"{}\" oops\n",
                k("Kx16-comment-3b3a"),
                k("Kx16-live-4b4a")
            ),
            &["Kx16-comment-3b3a", "Kx16-live-4b4a"],
            false,
        ),
        case(
            // a copy of a key macro holds the key too
            "key macro copied",
            format!(
                "k = \"{}\"\ncopy = $k\n{PEER} psk $k\n",
                k("Kx19-copied-8e8f")
            ),
            &["Kx19-copied-8e8f"],
            true,
        ),
        case(
            "psk, key on the next line",
            format!("{PEER} psk \\\n\t\"{}\" bogus\n", k("Kx20-next-line-9f9e")),
            &["Kx20-next-line-9f9e"],
            false,
        ),
        case(
            "macro named psk",
            format!("psk = \"{}\"\n{PEER} psk $psk\n", k("Kx21-named-psk-0a0f")),
            &["Kx21-named-psk-0a0f"],
            false,
        ),
        case(
            // a key where a transform is expected: quoted in the message
            "macro as transform",
            format!(
                "k = \"{}\"\n{PEER} quick enc $k psk $k\n",
                k("Kx23-used-as-enc-2c2d")
            ),
            &["Kx23-used-as-enc-2c2d"],
            false,
        ),
    ];
    // a fragment that includes a file whose psk line has a syntax error
    v.push(Hostile {
        name: "include with a syntax error",
        files: vec![
            (
                "home/case.conf",
                "include \"/home/keys.conf\"\n".to_string(),
            ),
            (
                "home/keys.conf",
                format!("{PEER} psk : \"{}\"\n", k("Kx17-included-5a5b")),
            ),
        ],
        needles: vec!["Kx17-included-5a5b"],
        compiles: false,
    });
    v
}

/// Runs one command of a case and records what it printed of a needle.
fn check_run(gw: &Gateway, case: &Hostile, args: &[&str], leaks: &mut Vec<String>) {
    let out = gw.run(args);
    assert!(out.status.code().is_some(), "{}: killed", case.name);
    for (stream, text) in [("stdout", stdout(&out)), ("stderr", stderr(&out))] {
        for needle in &case.needles {
            if let Some(i) = text.find(needle) {
                let from = text[..i].rfind('\n').map_or(0, |j| j + 1);
                let to = text[i..].find('\n').map_or(text.len(), |j| i + j);
                leaks.push(format!(
                    "[{}] `ipsecmgr {}` {stream}: {:?}",
                    case.name,
                    args.join(" "),
                    &text[from..to]
                ));
            }
        }
    }
}

/// Every command that may quote the case's text: compile, lint in each
/// format, add -n, diff and apply -n against an installed fragment; then
/// the case installed in place of that fragment (and its key macro in
/// ipsec.conf): lint of the tree, diff, apply -n, rm -n, add -n of another.
fn run_case(case: &Hostile, leaks: &mut Vec<String>) {
    let gw = Gateway::new(HEAD, &[("lit", &tunnel(1, PSK_LITERAL))]);
    gw.write("home/other.conf", &tunnel(2, PSK_LITERAL));
    for (rel, text) in &case.files {
        gw.write(rel, text);
    }
    let file = gw.actual("home/case.conf");
    let mut run = |args: &[&str]| check_run(&gw, case, args, leaks);
    run(&["compile", &file]);
    run(&["compile", "-d", &file]);
    for format in ["text", "json", "github"] {
        run(&["lint", "--offline", "--format", format, &file]);
    }
    run(&["add", "-n", &file]);
    run(&["diff", "lit", &file]);
    run(&["apply", "-n", "lit", &file]);

    // installed in place of `lit`, as an edit made on the gateway
    let main = &case.files[0].1;
    gw.write("etc/ipsec.d/lit.conf", main);
    for format in ["text", "json", "github"] {
        run(&["lint", "--offline", "--format", format]);
    }
    run(&["compile"]);
    run(&["diff", "lit"]);
    run(&["apply", "-n", "lit"]);
    run(&["rm", "-n", "lit"]);
    run(&["add", "-n", &gw.actual("home/other.conf")]);
    run(&["ls"]);
}

/// The same key material in ipsec.conf itself: a key macro continued over
/// lines just above the include lines that `add` and `rm` edit, so their
/// diffs show it as context.
fn run_in_main(leaks: &mut Vec<String>) {
    let first = "Kx18-main-first-6c6d";
    let second = "Kx18-main-second-7d7c";
    let head = format!("{HEAD}key = \"{first}\\\n{second}\"\n");
    let gw = Gateway::new(
        &head,
        &[(
            "lit",
            "ike esp from 10.0.1.0/24 to 10.1.0.0/16 peer 198.51.1.1 psk $key\n",
        )],
    );
    gw.write("home/other.conf", &tunnel(2, PSK_LITERAL));
    let case = Hostile {
        name: "key macro in ipsec.conf",
        files: Vec::new(),
        needles: vec![first, second],
        compiles: true,
    };
    for args in [
        &["compile"][..],
        &["lint", "--offline"],
        &["lint", "--offline", "--format", "json"],
        &["add", "-n", &gw.actual("home/other.conf")],
        &["rm", "-n", "lit"],
        &["diff", "lit"],
    ] {
        check_run(&gw, &case, args, leaks);
    }
    let shown = stdout(&gw.run(&["compile", "-k"]));
    assert!(shown.contains(&format!("{first}{second}")), "{shown}");
}

#[test]
fn hostile_spellings_and_layouts_never_print_a_key() {
    let mut leaks = Vec::new();
    let cases = hostile_cases();
    for case in &cases {
        for needle in &case.needles {
            assert!(
                case.files.iter().any(|(_, t)| t.contains(needle)),
                "[{}] {needle} is not in the case's files",
                case.name
            );
        }
        run_case(case, &mut leaks);
        // -k shows what the other runs hide, so the check above can fail
        if case.compiles {
            let gw = Gateway::new(HEAD, &[]);
            for (rel, text) in &case.files {
                gw.write(rel, text);
            }
            let out = gw.run(&["compile", "-k", &gw.actual("home/case.conf")]);
            let shown = stdout(&out);
            for needle in &case.needles {
                assert!(shown.contains(needle), "[{}] -k: {shown}", case.name);
            }
        }
    }
    run_in_main(&mut leaks);
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

/// Prose in a comment is not a key: messages keep their words, while the
/// snippet and diff still hide what follows `psk` there.
#[test]
fn comments_do_not_garble_messages() {
    let gw = Gateway::new(HEAD, &[("lit", &tunnel(1, PSK_LITERAL))]);
    gw.write(
        "home/case.conf",
        "# psk for the peer below\n\
         ike esp from 10.0.5.0/24 to nowhere-at-all peer 198.51.5.1 psk \"Kx22-prose-1b1c\"\n",
    );
    let out = gw.run(&["compile", &gw.actual("home/case.conf")]);
    let err = stderr(&out);
    assert!(
        err.contains("no IP address found for nowhere-at-all"),
        "{err}"
    );
    let out = gw.run(&["diff", "lit", &gw.actual("home/case.conf")]);
    let shown = stdout(&out);
    assert!(shown.contains("# psk <redacted> the peer below"), "{shown}");
    assert!(!shown.contains("Kx22-prose-1b1c"), "{shown}");
}
