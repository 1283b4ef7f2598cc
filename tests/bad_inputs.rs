//! Bad inputs, run against the real binary: each case builds its files in
//! a fresh temporary directory (or a simulated gateway, for the fragment
//! commands), runs `ipsecmgr` with a time limit, and checks the exit status,
//! the message (naming the file and, where there is one, the line), that
//! nothing panicked, and, on a gateway, that no file on disk changed.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Gateway, tunnel, write_private};

/// The default time limit: any case taking longer counts as a hang.
const LIMIT: Duration = Duration::from_secs(10);

/// Where a case runs.
#[derive(Clone, Copy, PartialEq)]
enum Env {
    /// A fresh temporary directory, the current directory of the run; no
    /// settings (`-c /dev/null`) unless the case passes its own `-c`.
    Plain,
    /// A gateway under `--root` (tests/common): two fragments, a stand-in
    /// ipsecctl and a FIFO read as isakmpd reads it.
    Gateway,
}

struct Case {
    env: Env,
    /// Writes the case's files under the directory (or gateway root) and
    /// returns the arguments after the global options.
    setup: fn(&Path) -> Vec<String>,
    stdin: &'static [u8],
    code: i32,
    /// Substrings stderr must contain; `{dir}` stands for the directory.
    stderr: &'static [&'static str],
    /// Substrings stdout must contain.
    stdout: &'static [&'static str],
    /// Substrings neither output may contain.
    absent: &'static [&'static str],
    /// Whether the run must leave the gateway tree as it was.
    unchanged: bool,
    /// Extra checks on the tree after the run.
    after: Option<fn(&Path)>,
    limit: Duration,
    /// Whether to pass `-c /dev/null` (Plain only).
    no_settings: bool,
    /// The address space the run may use (RLIMIT_AS), in MiB.
    memory_mib: Option<u64>,
}

const fn case(env: Env, setup: fn(&Path) -> Vec<String>, code: i32) -> Case {
    Case {
        env,
        setup,
        stdin: b"",
        code,
        stderr: &[],
        stdout: &[],
        absent: &[],
        unchanged: true,
        after: None,
        limit: LIMIT,
        no_settings: true,
        memory_mib: None,
    }
}

/// A compile or lint case in a plain directory.
const fn plain(
    setup: fn(&Path) -> Vec<String>,
    code: i32,
    stderr: &'static [&'static str],
) -> Case {
    Case {
        stderr,
        ..case(Env::Plain, setup, code)
    }
}

/// A lint case in a plain directory: lint writes its findings to stdout.
const fn lint(setup: fn(&Path) -> Vec<String>, code: i32, stdout: &'static [&'static str]) -> Case {
    Case {
        stdout,
        ..case(Env::Plain, setup, code)
    }
}

/// A fragment command on a gateway, which must change nothing.
const fn gw(setup: fn(&Path) -> Vec<String>, code: i32, stderr: &'static [&'static str]) -> Case {
    Case {
        stderr,
        ..case(Env::Gateway, setup, code)
    }
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Writes `bytes` to `dir/name`, mode 0600, as ipsecctl wants a main file.
fn put(dir: &Path, name: &str, bytes: &[u8]) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&p, bytes).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
}

/// `compile FILE` of a file holding `bytes`.
fn compile_of(dir: &Path, bytes: &[u8]) -> Vec<String> {
    put(dir, "in.conf", bytes);
    args(&["compile", "in.conf"])
}

fn lint_of(dir: &Path, bytes: &[u8]) -> Vec<String> {
    put(dir, "in.conf", bytes);
    args(&["lint", "in.conf"])
}

const FLOW: &str = "flow esp from 10.0.0.0/8 to 10.1.0.0/16 peer 192.0.2.1\n";

/// A manual SA with the given SPI and keys.
fn sa(spi: &str, authkey: &str, enckey: &str) -> Vec<u8> {
    format!(
        "esp from 10.0.0.1 to 10.0.0.2 spi {spi} auth hmac-sha1 enc aes \
         authkey {authkey} enckey {enckey}\n"
    )
    .into_bytes()
}

const AUTHKEY: &str = "0x0102030405060708090a0b0c0d0e0f1011121314";
const ENCKEY: &str = "0x0102030405060708090a0b0c0d0e0f10";

fn mkfifo(p: &Path) {
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

/// A list of `n` addresses `a.b.x.y`, as `{ ... }`.
fn addresses(first: u8, n: usize) -> String {
    let list: Vec<String> = (0..n)
        .map(|i| format!("{first}.{}.{}.1", i / 250, i % 250))
        .collect();
    format!("{{ {} }}", list.join(", "))
}

/// A tunnel written to `home/NAME.conf` on the gateway, for `add`.
fn home(root: &Path, name: &str, text: &str) -> String {
    let p = root.join(format!("home/{name}.conf"));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    write_private(&p, text);
    p.display().to_string()
}

/// Every path under `root` with its type, mode, owner and bytes (a link's
/// target), leaving out the lock file the state directory keeps for
/// serialising runs (its note names the last run by design).
fn snapshot(root: &Path) -> BTreeMap<String, (u32, u32, Vec<u8>)> {
    let mut m = BTreeMap::new();
    for e in walkdir::WalkDir::new(root) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().display().to_string();
        if rel == "var/db/ipsecmgr/lock" || rel == "var/db/ipsecmgr" {
            continue;
        }
        let md = fs::symlink_metadata(e.path()).unwrap();
        let ft = md.file_type();
        let bytes = if ft.is_symlink() {
            fs::read_link(e.path())
                .unwrap()
                .display()
                .to_string()
                .into_bytes()
        } else if ft.is_file() {
            fs::read(e.path()).unwrap()
        } else {
            Vec::new()
        };
        m.insert(rel, (md.mode(), md.uid(), bytes));
    }
    m
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
    timed_out: bool,
}

/// The command running the binary; under `memory_mib`, through a shell
/// that sets the address space limit first (a failed allocation then
/// aborts the run instead of taking the machine).
fn command(memory_mib: Option<u64>) -> Command {
    match memory_mib {
        None => Command::new(BIN),
        Some(mib) => {
            let mut c = Command::new("/bin/sh");
            let script = format!("ulimit -v {} && exec \"$0\" \"$@\"", mib * 1024);
            c.args(["-c", &script, BIN]);
            c
        }
    }
}

/// Runs the binary, killing it at `limit`.
fn run(dir: &Path, global: &[String], a: &[String], c: &Case) -> Ran {
    let (stdin, limit) = (c.stdin, c.limit);
    let mut child = command(c.memory_mib)
        .args(global)
        .args(a)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let r_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let r_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = start.elapsed();
    let _ = writer.join();
    let stdout = String::from_utf8_lossy(&r_out.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&r_err.join().unwrap()).into_owned();
    Ran {
        code: status.code(),
        stdout,
        stderr,
        took,
        timed_out,
    }
}

fn clip(s: &str) -> &str {
    let mut end = s.len().min(2000);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn check(c: Case) {
    let tmp = tempfile::tempdir().unwrap();
    let gateway;
    let (dir, global): (&Path, Vec<String>) = match c.env {
        Env::Plain => {
            let g = if c.no_settings {
                args(&["-c", "/dev/null"])
            } else {
                Vec::new()
            };
            (tmp.path(), g)
        }
        Env::Gateway => {
            gateway = Gateway::new(
                "# gw1\nflow in from 10.0.0.0/16 to 10.0.0.1 type bypass\n",
                &[
                    ("customer-a", &tunnel(1, "a-secret-0123456789abcdef")),
                    ("customer-b", &tunnel(2, "b-secret-0123456789abcdef")),
                ],
            );
            let root = gateway.root();
            (root, args(&["--root", &root.display().to_string()]))
        }
    };
    let a = (c.setup)(dir);
    let before = (c.env == Env::Gateway).then(|| snapshot(dir));
    let r = run(dir, &global, &a, &c);
    let shown = format!(
        "ipsecmgr {} {}\nexit {:?} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
        global.join(" "),
        a.join(" "),
        r.code,
        r.took,
        clip(&r.stdout),
        clip(&r.stderr)
    );
    assert!(!r.timed_out, "did not finish within {:?}: {shown}", c.limit);
    for text in [&r.stdout, &r.stderr] {
        assert!(
            !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
            "panic: {shown}"
        );
    }
    assert_eq!(r.code, Some(c.code), "exit status: {shown}");
    let d = dir.display().to_string();
    for want in c.stderr {
        let want = want.replace("{dir}", &d);
        assert!(r.stderr.contains(&want), "stderr lacks {want:?}: {shown}");
    }
    for want in c.stdout {
        let want = want.replace("{dir}", &d);
        assert!(r.stdout.contains(&want), "stdout lacks {want:?}: {shown}");
    }
    for unwanted in c.absent {
        assert!(
            !r.stdout.contains(unwanted) && !r.stderr.contains(unwanted),
            "output has {unwanted:?}: {shown}"
        );
    }
    if let Some(before) = before.filter(|_| c.unchanged) {
        let after = snapshot(dir);
        let changed: Vec<&String> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .collect();
        assert!(changed.is_empty(), "files changed: {changed:?}: {shown}");
    }
    if let Some(f) = c.after {
        f(dir);
    }
}

macro_rules! cases {
    ($($name:ident => $case:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check($case);
            }
        )*

        #[test]
        fn there_are_at_least_fifty_cases() {
            let names = [$(stringify!($name)),*];
            assert!(names.len() >= 50, "{} cases", names.len());
        }
    };
}

cases! {
    // ---- bytes that are not text ----

    binary_junk => plain(
        |d| {
            // a fixed pseudo-random byte soup, NULs and high bytes included
            let mut x: u32 = 0x1234_5678;
            let junk: Vec<u8> = (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x >> 24) as u8
                })
                .collect();
            compile_of(d, &junk)
        },
        1,
        &["in.conf: 1: syntax error"],
    );
    binary_junk_lint => lint(
        |d| {
            let junk: Vec<u8> = (0..=255u8).rev().cycle().take(2048).collect();
            lint_of(d, &junk)
        },
        1,
        &["in.conf:1:", "error[E010]"],
    );
    nul_byte_in_a_line => plain(
        |d| compile_of(d, b"# ok\nflow esp from 10.0.0.0/8\0 to 10.1.0.0/16 peer 192.0.2.1\n"),
        1,
        &["in.conf: 2: syntax error"],
    );
    nul_byte_in_a_line_lint => lint(
        |d| lint_of(d, b"flow esp from 10.0.0.0/8\0 to 10.1.0.0/16 peer 192.0.2.1\n"),
        1,
        &["in.conf:1:24: error[E010]: syntax error"],
    );
    non_utf8_bytes => plain(
        |d| compile_of(d, b"\nflow esp from 10.0.0.0/8 to 10.1.0.0/16 peer \xff\xfe\n"),
        1,
        &["in.conf: 2: syntax error"],
    );
    non_utf8_bytes_lint => lint(
        |d| lint_of(d, b"\nflow esp from 10.0.0.0/8 to 10.1.0.0/16 peer \xff\xfe\n"),
        1,
        &["in.conf:2:", "error[E010]: syntax error"],
    );
    non_ascii_utf8_lint => lint(
        |d| lint_of(d, "flow esp from é to 10.1.0.0/16 peer 192.0.2.1\n".as_bytes()),
        1,
        &["in.conf:1:", "error[E010]: syntax error"],
    );
    non_ascii_utf8 => plain(
        |d| compile_of(d, "flow esp from é to 10.1.0.0/16 peer 192.0.2.1\n".as_bytes()),
        1,
        &["in.conf: 1: syntax error"],
    );

    // ---- sizes ----

    one_megabyte_line => plain(
        |d| compile_of(d, &vec![b'a'; 1 << 20]),
        1,
        &["in.conf: 1: string too long"],
    );
    one_megabyte_line_lint => lint(
        |d| lint_of(d, &vec![b'a'; 1 << 20]),
        1,
        &["in.conf:1:1: error[E012]: string too long"],
    );
    very_long_word => plain(
        |d| compile_of(d, format!("flow esp from {} to any\n", "x".repeat(9000)).as_bytes()),
        1,
        &["in.conf: 1: string too long"],
    );
    very_long_quoted_string => plain(
        |d| compile_of(d, format!("# c\na = \"{}\"\n", "1".repeat(9000)).as_bytes()),
        1,
        &["in.conf: 2: string too long"],
    );
    lists_multiplying_to_a_million_pairs => plain(
        |d| {
            let text = format!(
                "ike esp from {} to {} peer 192.0.2.1\n",
                addresses(10, 1000),
                addresses(172, 1000)
            );
            compile_of(d, text.as_bytes())
        },
        1,
        &["in.conf: 1: rule expands to 1000000 source/destination pairs; at most 65536 per rule"],
    );
    lists_multiplying_to_a_million_pairs_lint => lint(
        |d| {
            let text = format!(
                "ike esp from {} to {} peer 192.0.2.1\n",
                addresses(10, 1000),
                addresses(172, 1000)
            );
            lint_of(d, text.as_bytes())
        },
        1,
        &["in.conf:1:", "error[E048]", "1000000 source/destination pairs"],
    );
    rules_multiplying_past_two_million_in_all => Case {
        // 32 flows of 256 x 256 = 65536 pairs each, two rules per pair:
        // the 16th rule passes 2000000 rules in all. Reaching the total
        // means building it, so this case gets a longer limit.
        limit: Duration::from_secs(60),
        stderr: &[
            "in.conf: 16: rule expands to 65536 source/destination pairs, \
             which with the 1966080 rules before it passes the limit of 2000000 in all",
        ],
        // the rule is not over the per-rule limit: the message must not say so
        absent: &["at most 65536 per rule"],
        ..case(Env::Plain, |d| {
            let mut text = String::new();
            for r in 0..32 {
                let a: Vec<String> = (0..256).map(|i| format!("10.{r}.{i}.1")).collect();
                let b: Vec<String> = (0..256).map(|i| format!("172.16.{i}.{r}")).collect();
                text.push_str(&format!(
                    "flow esp from {{ {} }} to {{ {} }} peer 192.0.2.1\n",
                    a.join(","),
                    b.join(",")
                ));
            }
            compile_of(d, text.as_bytes())
        }, 1)
    };

    // ---- includes ----

    include_nesting_a_thousand_deep => plain(
        |d| {
            for i in 0..1000 {
                let text = if i < 999 {
                    format!("include \"n{}.conf\"\n", i + 1)
                } else {
                    FLOW.to_string()
                };
                put(d, &format!("n{i}.conf"), text.as_bytes());
            }
            args(&["compile", "n0.conf"])
        },
        1,
        &["n63.conf: 1: failed to include file n64.conf: includes nested deeper than 64"],
    );
    include_of_a_directory => plain(
        |d| {
            fs::create_dir(d.join("sub")).unwrap();
            compile_of(d, b"# c\ninclude \"sub\"\n")
        },
        1,
        &["in.conf: 2: failed to include file sub: is a directory"],
    );
    include_of_a_fifo => plain(
        |d| {
            mkfifo(&d.join("pipe"));
            compile_of(d, b"include \"pipe\"\n")
        },
        1,
        &["in.conf: 1: failed to include file pipe: is a FIFO, not a regular file"],
    );
    include_of_a_fifo_lint => lint(
        |d| {
            mkfifo(&d.join("pipe"));
            lint_of(d, b"include \"pipe\"\n")
        },
        1,
        &["in.conf:1:", "is a FIFO"],
    );
    fifo_in_a_linted_directory => lint(
        |d| {
            put(d, "conf/ok.conf", FLOW.as_bytes());
            mkfifo(&d.join("conf/pipe.conf"));
            args(&["lint", "conf"])
        },
        1,
        &["conf/pipe.conf:1:1: error[E001]: is a FIFO, not a regular file"],
    );
    link_loop_in_a_linted_directory => lint(
        |d| {
            put(d, "conf/ok.conf", FLOW.as_bytes());
            std::os::unix::fs::symlink("b.conf", d.join("conf/a.conf")).unwrap();
            std::os::unix::fs::symlink("a.conf", d.join("conf/b.conf")).unwrap();
            args(&["lint", "conf"])
        },
        1,
        &[
            "conf/a.conf:1:1: error[E001]: Too many symbolic links",
            "conf/b.conf:1:1: error[E001]: Too many symbolic links",
        ],
    );
    broken_link_in_a_linted_directory => lint(
        |d| {
            put(d, "conf/ok.conf", FLOW.as_bytes());
            std::os::unix::fs::symlink("gone", d.join("conf/gone.conf")).unwrap();
            args(&["lint", "conf"])
        },
        1,
        &["conf/gone.conf:1:1: error[E001]: No such file or directory"],
    );
    include_of_dev_zero => plain(
        |d| compile_of(d, b"include \"/dev/zero\"\n"),
        1,
        &["in.conf: 1: failed to include file /dev/zero: is a device"],
    );
    include_of_dev_null => plain(
        |d| compile_of(d, b"include \"/dev/null\"\n"),
        1,
        &["in.conf: 1: failed to include file /dev/null: is a device"],
    );
    symlink_loop_as_the_file => plain(
        |d| {
            std::os::unix::fs::symlink("loop2", d.join("loop1")).unwrap();
            std::os::unix::fs::symlink("loop1", d.join("loop2")).unwrap();
            args(&["compile", "loop1"])
        },
        2,
        &["loop1: Too many symbolic links"],
    );
    symlink_loop_as_an_include => plain(
        |d| {
            std::os::unix::fs::symlink("loop2", d.join("loop1")).unwrap();
            std::os::unix::fs::symlink("loop1", d.join("loop2")).unwrap();
            compile_of(d, b"\n\ninclude \"loop1\"\n")
        },
        1,
        &["in.conf: 3: failed to include file loop1: Too many symbolic links"],
    );
    self_include => plain(
        |d| compile_of(d, b"include \"in.conf\"\n"),
        1,
        &["in.conf: 1: failed to include file in.conf: include cycle: in.conf -> in.conf"],
    );
    two_file_include_cycle => plain(
        |d| {
            put(d, "a.conf", b"\ninclude \"b.conf\"\n");
            put(d, "b.conf", b"include \"a.conf\"\n");
            args(&["compile", "a.conf"])
        },
        1,
        &["b.conf: 1: failed to include file a.conf: include cycle: a.conf -> b.conf -> a.conf"],
    );
    two_file_include_cycle_lint => lint(
        |d| {
            put(d, "a.conf", b"\ninclude \"b.conf\"\n");
            put(d, "b.conf", b"include \"a.conf\"\n");
            args(&["lint", "a.conf"])
        },
        1,
        &["b.conf:1:", "error[E004]"],
    );
    missing_include => plain(
        |d| compile_of(d, b"# c\ninclude \"nope.conf\"\n"),
        1,
        &["in.conf: 2: failed to include file nope.conf: No such file or directory"],
    );

    // ---- macros ----

    macro_expanding_to_itself => plain(
        |d| compile_of(d, b"a = \"$a\"\n$a\n"),
        1,
        &["in.conf: 2: syntax error"],
    );
    macro_expanding_to_itself_in_a_rule => plain(
        |d| compile_of(d, b"a = \"$a\"\nflow esp from $a to 10.1.0.0/16 peer 192.0.2.1\n"),
        1,
        &["in.conf: 2: syntax error"],
    );
    undefined_macro => plain(
        |d| compile_of(d, b"\nflow esp from $nope to 10.1.0.0/16 peer 192.0.2.1\n"),
        1,
        &["in.conf: 2: macro 'nope' not defined"],
    );
    macro_name_with_a_blank => plain(
        |d| compile_of(d, b"\"a b\" = \"10.0.0.1\"\n"),
        1,
        &["in.conf: 1: macro name cannot contain whitespace"],
    );
    macro_name_with_a_tab => plain(
        |d| compile_of(d, b"a\tb = \"10.0.0.1\"\n"),
        1,
        &["in.conf: 1: syntax error"],
    );

    // ---- values ----

    netmask_too_long_for_ipv4 => plain(
        |d| compile_of(d, b"flow esp from 10.0.0.0/33 to 10.1.0.0/16 peer 192.0.2.1\n"),
        1,
        &["in.conf: 1: could not parse host specification", "10.0.0.0/33"],
    );
    netmask_too_long_for_ipv6 => plain(
        |d| compile_of(d, b"flow esp from 2001:db8::/129 to 2001:db8:1::/48 peer 192.0.2.1\n"),
        1,
        &["in.conf: 1: invalid netmask '/129'"],
    );
    netmask_not_a_number => plain(
        |d| compile_of(d, b"flow esp from 10.0.0.0/abc to 10.1.0.0/16 peer 192.0.2.1\n"),
        1,
        &["in.conf: 1: syntax error"],
    );
    netmask_negative => plain(
        |d| compile_of(d, b"flow esp from 10.0.0.0/-1 to 10.1.0.0/16 peer 192.0.2.1\n"),
        1,
        &["in.conf: 1: could not parse host specification", "10.0.0.0/-1"],
    );
    port_above_65535 => plain(
        |d| compile_of(d, b"flow esp proto tcp from 10.0.0.0/8 port 70000 to 10.1.0.0/16 peer 192.0.2.1\n"),
        1,
        &["in.conf: 1: port outside range"],
    );
    unknown_port_name => plain(
        |d| compile_of(d, b"flow esp proto tcp from 10.0.0.0/8 port nosuchsvc to 10.1.0.0/16 peer 192.0.2.1\n"),
        1,
        &["in.conf: 1: unknown port: nosuchsvc"],
    );
    port_without_protocol => plain(
        |d| compile_of(d, b"flow esp from 10.0.0.0/8 port 22 to 10.1.0.0/16 peer 192.0.2.1\n"),
        1,
        &["in.conf: 1: no protocol supplied with source/destination ports"],
    );
    unknown_protocol => plain(
        |d| compile_of(d, b"flow esp proto nosuchproto from 10.0.0.0/8 to 10.1.0.0/16 peer 192.0.2.1\n"),
        1,
        &["in.conf: 1: unknown protocol: nosuchproto"],
    );
    spi_above_32_bits => plain(
        |d| compile_of(d, &sa("0x1ffffffff", AUTHKEY, ENCKEY)),
        1,
        &["in.conf: 1: 8589934591 not a valid spi"],
    );
    spi_in_reserved_range => plain(
        |d| compile_of(d, &sa("0x10", AUTHKEY, ENCKEY)),
        1,
        &["in.conf: 1: 16 within reserved spi range"],
    );
    spi_not_a_number => plain(
        |d| compile_of(d, &sa("0xzz", AUTHKEY, ENCKEY)),
        1,
        &["in.conf: 1: 0xzz not a valid spi"],
    );
    number_beyond_64_bits => plain(
        |d| compile_of(d, &sa("99999999999999999999999", AUTHKEY, ENCKEY)),
        1,
        &["in.conf: 1: \"99999999999999999999999\" invalid number: too large"],
    );
    key_of_odd_hex_length => plain(
        |d| compile_of(d, &sa("0x1000", "0x0102030405060708090a0b0c0d0e0f101112131", ENCKEY)),
        1,
        &["in.conf: 1: wrong authentication key length, needs to be 160 bits"],
    );
    key_not_hex => plain(
        |d| compile_of(d, &sa("0x1000", AUTHKEY, "0xgg02030405060708090a0b0c0d0e0f10")),
        1,
        &["in.conf: 1: keys need to be specified in hex digits"],
    );
    key_file_that_is_a_fifo => plain(
        |d| {
            mkfifo(&d.join("key"));
            compile_of(d, &sa("0x1000", "file \"key\"", ENCKEY))
        },
        1,
        &["in.conf: 1: open key: is a FIFO, not a regular file"],
    );
    key_file_dev_zero => plain(
        |d| compile_of(d, &sa("0x1000", "file \"/dev/zero\"", ENCKEY)),
        1,
        &["in.conf: 1: open /dev/zero: is a device"],
    );
    unknown_transform => plain(
        |d| compile_of(d, b"ike esp from 10.0.0.0/8 to 10.1.0.0/16 peer 192.0.2.1 quick enc nosuchcipher\n"),
        1,
        &["in.conf: 1: nosuchcipher not a valid transform"],
    );
    transform_given_twice => plain(
        |d| compile_of(d, b"ike esp from 10.0.0.0/8 to 10.1.0.0/16 peer 192.0.2.1 main auth hmac-sha1 auth hmac-sha1\n"),
        1,
        &["in.conf: 1: auth already set"],
    );
    address_families_mixed => plain(
        |d| compile_of(d, b"flow esp from 10.0.0.0/8 to 2001:db8::/32 peer 192.0.2.1\n"),
        1,
        &["in.conf: 1: source/destination address families do not match"],
    );

    // ---- syntax ----

    unknown_keyword => plain(
        |d| compile_of(d, b"\n\nfloww esp from 10.0.0.0/8 to 10.1.0.0/16 peer 192.0.2.1\n"),
        1,
        &["in.conf: 3: syntax error"],
    );
    unknown_trailing_keyword => plain(
        |d| compile_of(d, b"flow esp from 10.0.0.0/8 to 10.1.0.0/16 peer 192.0.2.1 bogus\n"),
        1,
        &["in.conf: 1: syntax error"],
    );
    unterminated_quote => plain(
        |d| compile_of(d, b"a = \"10.0.0.1\nflow esp from $a to 10.1.0.0/16 peer 192.0.2.1\n"),
        1,
        &["in.conf: 1: reached end of file while parsing quoted string"],
    );
    unterminated_quote_lint => lint(
        |d| lint_of(d, b"a = \"10.0.0.1\n"),
        1,
        &["in.conf:1:5: error[E011]: reached end of file while parsing quoted string"],
    );
    trailing_backslash_at_eof => plain(
        |d| compile_of(d, b"flow esp from 10.0.0.0/8 to 10.1.0.0/16 peer 192.0.2.1 \\"),
        1,
        &["in.conf: 1: syntax error"],
    );
    continuation_into_eof => plain(
        |d| compile_of(d, b"flow esp from 10.0.0.0/8 to 10.1.0.0/16 \\\n"),
        1,
        &["in.conf: 2: syntax error"],
    );
    crlf_line_endings => plain(
        |d| compile_of(d, FLOW.replace('\n', "\r\n").repeat(2).as_bytes()),
        1,
        &["in.conf: 1: syntax error", "in.conf: 2: syntax error"],
    );
    vertical_tab => plain(
        |d| compile_of(d, b"flow esp\x0bfrom 10.0.0.0/8 to 10.1.0.0/16 peer 192.0.2.1\n"),
        1,
        &["in.conf: 1: syntax error"],
    );
    form_feed_line => plain(
        |d| compile_of(d, format!("{FLOW}\x0c\n").as_bytes()),
        1,
        &["in.conf: 2: syntax error"],
    );
    tabs_are_blanks => Case {
        // not bad: tabs separate words as blanks do
        stdout: &["flow esp out from 10.0.0.0/8 to 10.1.0.0/16 peer 192.0.2.1 type require"],
        ..case(Env::Plain, |d| compile_of(d, FLOW.replace(' ', "\t").as_bytes()), 0)
    };
    empty_file => case(Env::Plain, |d| compile_of(d, b""), 0);
    only_comments => case(Env::Plain, |d| compile_of(d, b"# one\n   # two\n#\n"), 0);
    junk_on_stdin => Case {
        stdin: b"\x01\x02 junk\nmore\n",
        stderr: &["stdin: 1: syntax error"],
        ..case(Env::Plain, |_| args(&["compile", "-"]), 1)
    };
    half_a_rule_on_stdin => Case {
        stdin: b"\nflow esp from 10.0.0.0/8 to\n",
        stderr: &["stdin: 2: syntax error"],
        ..case(Env::Plain, |_| args(&["compile", "-"]), 1)
    };

    // ---- main files that are not files, or not private ----

    main_file_missing => plain(
        |_| args(&["compile", "nosuch.conf"]),
        2,
        &["nosuch.conf: No such file or directory"],
    );
    main_file_a_fifo => plain(
        |d| {
            mkfifo(&d.join("in.conf"));
            args(&["compile", "in.conf"])
        },
        2,
        &["in.conf: is a FIFO, not a regular file"],
    );
    main_file_dev_zero => plain(
        |_| args(&["compile", "/dev/zero"]),
        2,
        &["/dev/zero: is a device, not a regular file"],
    );
    main_file_a_directory => plain(
        |d| {
            fs::create_dir(d.join("sub.conf")).unwrap();
            args(&["compile", "sub.conf"])
        },
        2,
        &["sub.conf: is a directory"],
    );
    lint_of_a_device => lint(
        |_| args(&["lint", "/dev/null"]),
        1,
        &["/dev/null:1:1: error[E001]: is a device, not a regular file"],
    );
    main_file_world_readable => plain(
        |d| {
            put(d, "in.conf", FLOW.as_bytes());
            fs::set_permissions(d.join("in.conf"), fs::Permissions::from_mode(0o644)).unwrap();
            args(&["compile", "in.conf"])
        },
        1,
        &["in.conf: group writable or world read/writable"],
    );
    psk_in_world_readable_file_lint => lint(
        |d| {
            put(d, "in.conf", &tunnel(9, "abcdefghijklmnopqrstuvwxyz").into_bytes());
            fs::set_permissions(d.join("in.conf"), fs::Permissions::from_mode(0o644)).unwrap();
            args(&["lint", "in.conf"])
        },
        1,
        &["in.conf:1:1: error[L301]", "error[L203]: pre-shared key written in a file readable by others"],
    );
    file_not_owned_by_root_lint => lint(
        |d| {
            put(d, "in.conf", &tunnel(9, "abcdefghijklmnopqrstuvwxyz").into_bytes());
            give_away(&d.join("in.conf"));
            args(&["lint", "in.conf"])
        },
        1,
        &["in.conf:1:1: error[L301]: owned by neither root nor the user running ipsecmgr"],
    );
    file_not_owned_by_root_compile => plain(
        |d| {
            put(d, "in.conf", FLOW.as_bytes());
            give_away(&d.join("in.conf"));
            args(&["compile", "in.conf"])
        },
        1,
        &["in.conf: owner not root or current user"],
    );
    lint_of_stdin => plain(
        |_| args(&["lint", "-"]),
        2,
        &["lint: -: No such file or directory"],
    );

    // ---- settings (-c) ----

    settings_not_toml => Case {
        no_settings: false,
        stderr: &["ipsecmgr: s.toml: 1: string values must be quoted"],
        ..case(Env::Plain, |d| {
            put(d, "s.toml", b"hostname = \n");
            put(d, "e.conf", b"");
            args(&["-c", "s.toml", "compile", "e.conf"])
        }, 2)
    };
    settings_unknown_key => Case {
        no_settings: false,
        stderr: &["ipsecmgr: s.toml: 2: unknown field `hostnme`"],
        ..case(Env::Plain, |d| {
            put(d, "s.toml", b"# x\nhostnme = \"gw\"\n");
            put(d, "e.conf", b"");
            args(&["-c", "s.toml", "lint", "e.conf"])
        }, 2)
    };
    settings_wrong_type => Case {
        no_settings: false,
        stderr: &["ipsecmgr: s.toml: 2: in [hosts], `foo`: invalid type: string \"192.0.2.1\", expected a sequence"],
        ..case(Env::Plain, |d| {
            put(d, "s.toml", b"[hosts]\nfoo = \"192.0.2.1\"\n");
            put(d, "e.conf", b"");
            args(&["-c", "s.toml", "compile", "e.conf"])
        }, 2)
    };
    settings_bad_address => Case {
        no_settings: false,
        stderr: &["ipsecmgr: s.toml: hosts.foo: \"nonsense\" is not an IP address"],
        ..case(Env::Plain, |d| {
            put(d, "s.toml", b"[hosts]\nfoo = [\"nonsense\"]\n");
            put(d, "e.conf", b"");
            args(&["-c", "s.toml", "compile", "e.conf"])
        }, 2)
    };
    settings_not_utf8 => Case {
        no_settings: false,
        stderr: &["ipsecmgr: s.toml: not UTF-8 text"],
        ..case(Env::Plain, |d| {
            put(d, "s.toml", b"\xff\xfe\n");
            put(d, "e.conf", b"");
            args(&["-c", "s.toml", "compile", "e.conf"])
        }, 2)
    };
    settings_a_fifo => Case {
        no_settings: false,
        stderr: &["ipsecmgr: s.toml: is a FIFO, not a regular file"],
        ..case(Env::Plain, |d| {
            mkfifo(&d.join("s.toml"));
            put(d, "e.conf", b"");
            args(&["-c", "s.toml", "compile", "e.conf"])
        }, 2)
    };
    settings_missing => Case {
        no_settings: false,
        stderr: &["ipsecmgr: nosuch.toml: No such file or directory"],
        ..case(Env::Plain, |d| {
            put(d, "e.conf", b"");
            args(&["-c", "nosuch.toml", "compile", "e.conf"])
        }, 2)
    };
    settings_under_root_unknown_key => Case {
        stderr: &["etc/ipsecmgr.conf: 1: unknown field `fragments`"],
        ..case(Env::Gateway, |root| {
            write_private(&root.join("etc/ipsecmgr.conf"), "fragments = \"/x\"\n");
            args(&["rm", "customer-a"])
        }, 2)
    };

    // ---- fragment names ----

    rm_dot_dot => gw(|_| args(&["rm", "--", "../x"]), 1, &["rm: ../x: '..' is not allowed in a fragment path"]);
    rm_dot_dot_alone => gw(|_| args(&["rm", ".."]), 1, &["rm: ..: not a file name in the fragment directory"]);
    rm_slash_inside_name => gw(|_| args(&["rm", "a/b"]), 1, &["rm: a/b: not in the fragment directory /etc/ipsec.d"]);
    rm_root => gw(|_| args(&["rm", "/"]), 1, &["rm: /: not in the fragment directory /etc/ipsec.d"]);
    rm_leading_dash => gw(|_| args(&["rm", "--", "-x"]), 1, &["rm: -x: a fragment name may not start with '-'"]);
    rm_empty_name => gw(|_| args(&["rm", ""]), 1, &["rm: empty fragment name"]);
    rm_missing_fragment => gw(|_| args(&["rm", "nosuch"]), 1, &["rm nosuch: no fragment nosuch: not included by /etc/ipsec.conf"]);
    rm_missing_fragment_dry_run => gw(|_| args(&["rm", "-n", "nosuch"]), 1, &["no fragment nosuch: not included by /etc/ipsec.conf"]);
    down_dot_dot => gw(|_| args(&["down", "../customer-a"]), 1, &["down: ../customer-a: '..' is not allowed"]);
    apply_missing_fragment => gw(|_| args(&["apply", "nosuch"]), 1, &["apply nosuch: no fragment nosuch: not included by /etc/ipsec.conf"]);
    add_dot_dot_alone => gw(|_| args(&["add", ".."]), 1, &["add: ..: not a file name in the fragment directory"]);
    add_leading_dash => gw(|_| args(&["add", "--", "-x"]), 1, &["add: -x: a file name may not start with '-'"]);
    add_empty_name => gw(|_| args(&["add", ""]), 1, &["add: empty fragment name"]);
    add_directory_path => gw(|_| args(&["add", "/etc/ipsec.d/"]), 1, &["add: empty fragment name"]);
    add_missing_fragment => gw(|_| args(&["add", "nosuch"]), 2, &["add: nosuch: no such file in the current directory, nor {dir}/etc/ipsec.d/nosuch.conf in the fragment directory"]);

    // ---- a journal that is not one ----

    journal_of_junk => gw(
        |root| {
            put(root, "var/db/ipsecmgr/journal", b"\x00\xffnot json{");
            args(&["rm", "customer-a"])
        },
        1,
        &["{dir}/var/db/ipsecmgr/journal: unreadable journal (", "move it away to go on"],
    );
    journal_of_junk_seen_by_ls => Case {
        stdout: &["customer-a"],
        ..gw(
            |root| {
                put(root, "var/db/ipsecmgr/journal", b"{\"plan\": 7}");
                args(&["ls"])
            },
            0,
            &["warning: {dir}/var/db/ipsecmgr/journal: unreadable journal ("],
        )
    };

    // ---- fragments that must not be added ----

    add_file_that_does_not_parse => gw(
        |root| vec!["add".into(), home(root, "bad", "# c\nike esp from 10.0.9.0/24 to\n")],
        1,
        &["add bad: ", "bad.conf: 2: syntax error"],
    );
    add_file_that_does_not_parse_dry_run => gw(
        |root| vec!["add".into(), "-n".into(), home(root, "bad", "ike esp from 10.0.9.0/24 to\n")],
        1,
        &["bad.conf: 1: syntax error"],
    );
    add_file_with_undefined_macro => gw(
        |root| vec!["add".into(), home(root, "m", "flow esp from 10.0.9.0/24 to $nets peer 192.0.2.9\n")],
        1,
        &["m.conf: 1: macro 'nets' not defined"],
    );
    add_file_duplicating_a_flow => gw(
        |root| vec!["add".into(), home(root, "dup", &tunnel(2, "other-secret-0123456789ab"))],
        1,
        &["dup.conf: 4: flow out from 10.0.2.0/24 to 10.2.0.0/16 is already in /etc/ipsec.d/customer-b.conf:4"],
    );
    add_file_of_binary_junk => gw(
        |root| {
            let p = root.join("home/junk.conf");
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            put(root, "home/junk.conf", &(0..=255u8).cycle().take(1000).collect::<Vec<u8>>());
            vec!["add".into(), p.display().to_string()]
        },
        1,
        &["junk.conf: 1: syntax error"],
    );
    add_file_that_is_a_fifo => gw(
        |root| {
            fs::create_dir_all(root.join("home")).unwrap();
            mkfifo(&root.join("home/pipe.conf"));
            vec!["add".into(), root.join("home/pipe.conf").display().to_string()]
        },
        2,
        &["pipe.conf: is a FIFO, not a regular file"],
    );
    add_file_that_includes_itself => gw(
        |root| vec!["add".into(), home(root, "selfinc", "include \"/etc/ipsec.d/selfinc.conf\"\n")],
        1,
        &["selfinc.conf: 1: ", "include cycle"],
    );

    // ---- tags, which takes a fragment name or any file ----

    tags_of_a_file_that_does_not_parse => plain(
        |d| {
            put(d, "in.conf", b"# c\nflow esp from\n");
            args(&["tags", "in.conf"])
        },
        1,
        &["in.conf: 2: syntax error"],
    );
    tags_of_a_fifo => gw(
        |root| {
            fs::create_dir_all(root.join("home")).unwrap();
            mkfifo(&root.join("home/pipe.conf"));
            vec!["tags".into(), root.join("home/pipe.conf").display().to_string()]
        },
        2,
        &["pipe.conf: is a FIFO, not a regular file"],
    );
    tags_of_dev_zero => Case {
        // reading /dev/zero grows by about 1 GB a second: stop early
        limit: Duration::from_secs(2),
        stderr: &["/dev/zero: is a device, not a regular file"],
        ..case(Env::Plain, |_| args(&["tags", "/dev/zero"]), 2)
    };
    tags_of_a_symlink_loop => gw(
        |root| {
            let d = root.join("etc/ipsec.d");
            std::os::unix::fs::symlink("l2.conf", d.join("l1.conf")).unwrap();
            std::os::unix::fs::symlink("l1.conf", d.join("l2.conf")).unwrap();
            args(&["tags", "l1"])
        },
        2,
        &["tags: {dir}/etc/ipsec.d/l1.conf: ", "Too many symbolic links"],
    );
    diff_with_a_fifo => gw(
        |root| {
            fs::create_dir_all(root.join("home")).unwrap();
            mkfifo(&root.join("home/pipe.conf"));
            vec![
                "diff".into(),
                "customer-a".into(),
                root.join("home/pipe.conf").display().to_string(),
            ]
        },
        2,
        &["diff: {dir}/home/pipe.conf: is a FIFO, not a regular file"],
    );
    add_symlink_loop => gw(
        |root| {
            let d = root.join("etc/ipsec.d");
            std::os::unix::fs::symlink("l2.conf", d.join("l1.conf")).unwrap();
            std::os::unix::fs::symlink("l1.conf", d.join("l2.conf")).unwrap();
            args(&["add", "l1"])
        },
        2,
        &["add: {dir}/etc/ipsec.d/l1.conf: Too many symbolic links"],
    );
    unknown_command => plain(|_| args(&["bogus"]), 2, &["unrecognized subcommand 'bogus'"]);

    // ---- add normalises modes and owners (not refused) ----

    add_world_readable_file_installs_it_private => Case {
        unchanged: false,
        after: Some(|root| installed_private(root, "wr")),
        ..case(Env::Gateway, |root| {
            let p = home(root, "wr", &tunnel(7, "c-secret-0123456789abcdef"));
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
            args(&["add", &p])
        }, 0)
    };
    add_file_not_owned_by_root_installs_it_as_root => Case {
        unchanged: false,
        after: Some(|root| installed_private(root, "own")),
        ..case(Env::Gateway, |root| {
            let p = home(root, "own", &tunnel(8, "d-secret-0123456789abcdef"));
            give_away(Path::new(&p));
            args(&["add", &p])
        }, 0)
    };
    // ---- resource limits: a tiny input must not take the machine ----

    include_bomb_of_forty_one_files => Case {
        // 2^40 inclusions asked for; the 250001st is refused, once
        limit: BOMB_LIMIT,
        memory_mib: Some(512),
        stderr: &["f39.conf: 2: failed to include file f40.conf: \
                   more than 250000 files included in all; no further include is read"],
        ..case(Env::Plain, include_bomb, 1)
    };
    include_bomb_of_forty_one_files_lint => Case {
        limit: BOMB_LIMIT,
        memory_mib: Some(512),
        stdout: &["f39.conf:2:9: error[E005]: failed to include file f40.conf: \
                   more than 250000 files included in all"],
        ..case(Env::Plain, |d| {
            include_bomb(d);
            args(&["lint", "f0.conf"])
        }, 1)
    };
    macros_doubling_forty_times => Case {
        // m17 would be 9 * 2^17 - 1 bytes; the 1 MiB per statement stops it
        memory_mib: Some(512),
        stderr: &["in.conf: 18: macro 'm16' expanded here makes 1179646 bytes of macro \
                   text in one statement; at most 1048576 are allowed"],
        ..case(Env::Plain, |d| compile_of(d, doubling_macros("xxxxxxxx").as_bytes()), 1)
    };
    macros_doubling_forty_times_lint => Case {
        memory_mib: Some(512),
        stdout: &["in.conf:18:", "error[E012]: macro 'm16' expanded here makes 1179646 bytes"],
        ..case(Env::Plain, |d| lint_of(d, doubling_macros("xxxxxxxx").as_bytes()), 1)
    };
    macros_of_one_letter_doubling_forty_times => Case {
        // m19 is 2^19 words: more tokens than a statement may hold; its
        // half a million tokens take some seconds in a debug build
        limit: Duration::from_secs(30),
        memory_mib: Some(512),
        stderr: &["in.conf: 20: statement too long: more than 500000 tokens"],
        ..case(Env::Plain, |d| compile_of(d, doubling_macros("x").as_bytes()), 1)
    };
    one_macro_expanded_on_every_line => Case {
        // 800000 bytes a line, within the statement's limit: the 83rd line
        // after the definition passes 64 MiB in all
        limit: Duration::from_secs(30),
        memory_mib: Some(512),
        stderr: &["in.conf: 85: macro 'big' expanded here makes more than 67108864 bytes \
                   of macro text in all, the most allowed"],
        ..case(Env::Plain, |d| {
            let mut text = format!("w = \"{}\"\nbig = {}\n", "x".repeat(8000), "$w ".repeat(100));
            text.push_str(&"a = $big\n".repeat(100));
            compile_of(d, text.as_bytes())
        }, 1)
    };
    line_of_eight_million_braces => Case {
        // 64 bytes of tokens for each byte of input before
        limit: Duration::from_secs(30),
        memory_mib: Some(256),
        stderr: &["in.conf: 1: syntax error"],
        absent: &["memory allocation"],
        ..case(Env::Plain, |d| {
            let mut text = vec![b'{'; 8 << 20];
            text.push(b'\n');
            text.extend_from_slice(FLOW.as_bytes());
            compile_of(d, &text)
        }, 1)
    };
    macro_of_six_hundred_thousand_words => Case {
        memory_mib: Some(256),
        stderr: &["in.conf: 2: statement too long: more than 500000 tokens"],
        ..case(Env::Plain, |d| {
            let text = format!("# c\nwords = {}\n{FLOW}", "x ".repeat(600_000));
            compile_of(d, text.as_bytes())
        }, 1)
    };
    overlapping_lists_in_two_files_lint => Case {
        // 4096 flows each overlapping 361: one finding for the two rules
        memory_mib: Some(512),
        stdout: &[
            "conf/b.conf:1:1: warning[L103]: 1478656 flows of this rule overlap ones in \
             conf/a.conf:1 with another peer (counted by pair), such as flow",
            "0 errors, 1 warning",
        ],
        ..case(Env::Plain, overlapping_lists, 0)
    };
    hub_of_thirty_thousand_tunnels_sharing_one_network_lint => Case {
        // every inbound flow has the hub's network as destination
        limit: Duration::from_secs(20),
        memory_mib: Some(1024),
        stdout: &["0 errors, 0 warnings"],
        ..case(Env::Plain, |d| lint_of(d, hub(30_000).as_bytes()), 0)
    };

    lint_under_root_warns_of_a_readable_fragment => Case {
        stderr: &[],
        stdout: &[
            "{dir}/etc/ipsec.d/customer-a.conf:1:1: warning[L301]",
            "warning[L203]: pre-shared key written in a file readable by others",
            "0 errors, 2 warnings",
        ],
        ..case(Env::Gateway, |root| {
            let p = root.join("etc/ipsec.d/customer-a.conf");
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
            args(&["lint", "--check-modes"])
        }, 0)
    };
}

/// The include bomb takes some seconds to reach the limit.
const BOMB_LIMIT: Duration = Duration::from_secs(30);

/// `f0.conf` .. `f40.conf`, each including the next twice.
fn include_bomb(d: &Path) -> Vec<String> {
    for i in 0..40 {
        let next = format!("include \"f{}.conf\"\n", i + 1);
        put(d, &format!("f{i}.conf"), next.repeat(2).as_bytes());
    }
    put(d, "f40.conf", b"# the end\n");
    args(&["compile", "f0.conf"])
}

/// `m0` holds `word`, and each of 40 more macros twice the one before.
fn doubling_macros(word: &str) -> String {
    let mut text = format!("m0 = \"{word}\"\n");
    for i in 1..=40 {
        text.push_str(&format!("m{i} = $m{} $m{}\n", i - 1, i - 1));
    }
    text
}

/// `conf/a.conf`: 64 x 64 networks; `conf/b.conf`: the 19 networks
/// holding all of a's on each side.
fn overlapping_lists(d: &Path) -> Vec<String> {
    let list = |f: &dyn Fn(usize) -> String, n: usize| (0..n).map(f).collect::<Vec<_>>().join(", ");
    let a = format!(
        "ike esp from {{ {} }} to {{ {} }} peer 192.0.2.1 psk \"a-long-enough-shared-secret\"\n",
        list(&|i| format!("10.0.{i}.0/24"), 64),
        list(&|i| format!("172.16.{i}.0/24"), 64),
    );
    let b = format!(
        "ike esp from {{ {} }} to {{ {} }} peer 192.0.2.2 psk \"another-long-enough-secret\"\n",
        list(&|l| format!("10.0.0.0/{l}"), 19),
        list(&|l| format!("172.16.0.0/{l}"), 19),
    );
    put(d, "conf/a.conf", a.as_bytes());
    put(d, "conf/b.conf", b.as_bytes());
    args(&["lint", "conf"])
}

/// A hub of `n` tunnels from its one network, each to its own, each peer
/// with its own key.
fn hub(n: usize) -> String {
    (0..n)
        .map(|i| {
            let (a, b, c) = (11 + i / 65536, i / 256 % 256, i % 256);
            format!(
                "ike esp from 10.0.0.0/16 to {a}.{b}.{c}.0/24 peer 198.{a}.{b}.{c} \
                 psk \"a-long-enough-shared-secret-{i}\"\n"
            )
        })
        .collect()
}

/// Hands a file to a user that is neither root nor us (when we are root;
/// otherwise the file is already not root's).
fn give_away(p: &Path) {
    if nix::unistd::geteuid().is_root() {
        nix::unistd::chown(
            p,
            Some(nix::unistd::Uid::from_raw(4321)),
            Some(nix::unistd::Gid::from_raw(4321)),
        )
        .unwrap();
    }
}

/// `add` installed `etc/ipsec.d/NAME.conf` 0600, owned by the user running
/// it, and included it.
fn installed_private(root: &Path, name: &str) {
    let p = root.join(format!("etc/ipsec.d/{name}.conf"));
    let md = fs::metadata(&p).unwrap();
    assert_eq!(md.mode() & 0o777, 0o600, "{}", p.display());
    assert_eq!(md.uid(), nix::unistd::geteuid().as_raw(), "{}", p.display());
    let conf = fs::read_to_string(root.join("etc/ipsec.conf")).unwrap();
    assert!(
        conf.contains(&format!("include \"/etc/ipsec.d/{name}.conf\"\n")),
        "{conf}"
    );
}
