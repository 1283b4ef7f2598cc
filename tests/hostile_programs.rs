//! External programs and the FIFO behaving badly: an ipsecctl that hangs,
//! leaves a child behind, cannot be executed, or warns; an isakmpd that is
//! not there, reads slowly or writes its answers slowly; bytes that are not
//! UTF-8.  Every run is bounded, and every case ends with the gateway as
//! the command says it left it.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::programs::*;
use common::*;

/// Where `add` takes its new fragment from.
const NEW: &str = "home/c.conf";

fn gateway() -> Gateway {
    let gw = Gateway::new(
        HEAD,
        &[
            ("customer-acme", &acme()),
            ("customer-b", &tunnel(2, "b-secret-0123456789abcdef")),
        ],
    );
    gw.write(NEW, &tunnel(7, "c-secret-0123456789abcdef"));
    wait_for_reader(&gw, "var/run/isakmpd.fifo");
    gw
}

/// What a case starts with: the gateway, and an isakmpd stand-in when the
/// case replaces the usual one.
struct Setup {
    gw: Gateway,
    isakmpd: Option<Isakmpd>,
    conf_before: String,
}

struct Case {
    name: &'static str,
    prepare: fn(&mut Gateway) -> Option<Isakmpd>,
    /// `NEW` stands for the new fragment's path.
    args: &'static [&'static str],
    check: fn(&Setup, &Ran),
}

/// The process ids the stand-in recorded in var/ipsecctl.pids.
fn recorded_pids(gw: &Gateway) -> Vec<i32> {
    gw.read("var/ipsecctl.pids")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Nothing of the add is left: ipsec.conf as before, no fragment, no
/// applied copy, no journal; and the next mutating run has nothing to
/// roll back.
fn nothing_left(s: &Setup, ran: &Ran) {
    let gw = &s.gw;
    assert!(!ran.hung, "the run hung: {ran:?}");
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("nothing was changed"), "{ran:?}");
    assert_eq!(gw.read("etc/ipsec.conf"), s.conf_before);
    assert!(!gw.path("etc/ipsec.d/c.conf").exists());
    assert!(!gw.path("var/db/ipsecmgr/applied/c.conf").exists());
    assert!(!gw.path("var/db/ipsecmgr/journal").exists(), "{ran:?}");
    // the stand-in's processes are all gone
    for pid in recorded_pids(gw) {
        let gone = process_gone(pid);
        kill_pid(pid);
        assert!(gone, "process {pid} that ipsecctl started still runs");
    }
}

fn next_run_is_clean(s: &Setup) {
    let ran = run_bounded(&s.gw, &["down", "customer-b"], Duration::from_secs(10));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(!ran.stderr.contains("interrupted"), "{ran:?}");
}

fn short_timeout(gw: &mut Gateway) {
    set_settings(gw, "ipsecctl_timeout = 1");
}

/// An S report where customer-b's tunnel is up, its phase 2 SA last.
fn report_with_b_up(extra_id: &[u8]) -> Vec<u8> {
    let mut r = b"SA name: peer-198.51.2.1 (Phase 1/Initiator)\nsrc: 192.0.2.1 dst: 198.51.2.1\n\
                  Lifetime: 3600 seconds\nFlags 0x00000001\nicookie 1 rcookie 2\nID: "
        .to_vec();
    r.extend_from_slice(extra_id);
    r.extend_from_slice(
        b"\n\nSA name: from-10.0.2.0/24-to-10.2.0.0/16 (Phase 2)\nsrc: 192.0.2.1 dst: 198.51.2.1\n\
          Flags 0x00000001\nSPI 0: 1234abcd\n\n",
    );
    r
}

fn b_is_up(s: &Setup, ran: &Ran) {
    assert!(!ran.hung, "{ran:?}");
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(
        ran.stdout
            .contains("customer-b:\n  up          from-10.0.2.0/24-to-10.2.0.0/16"),
        "{ran:?}"
    );
    let asked = s.isakmpd.as_ref().unwrap().lines();
    assert_eq!(asked.first().map(String::as_str), Some("S"), "{asked:?}");
}

/// The usual isakmpd replaced by the stand-in on the default FIFO; the
/// kernel has customer-b's flows, as with its tunnel up.
fn own_isakmpd(gw: &mut Gateway, how: Behaviour) -> Isakmpd {
    gw.write(
        "var/ipsecctl.sa",
        "FLOWS:\nflow esp out from 10.0.2.0/24 to 10.2.0.0/16 peer 198.51.2.1 type require\n\
         flow esp in from 10.2.0.0/16 to 10.0.2.0/24 peer 198.51.2.1 type require\n\nSAD:\nNo entries\n",
    );
    gw.stop_isakmpd();
    Isakmpd::start(gw, "var/run/isakmpd.fifo", "var/run/isakmpd.result", how)
}

const CASES: &[Case] = &[
    Case {
        name: "ipsecctl that never exits",
        prepare: |gw| {
            short_timeout(gw);
            wrap_ipsecctl(
                gw,
                "echo $$ >> \"$ROOT/var/ipsecctl.pids\"\nexec sleep 1000",
            );
            None
        },
        args: &["add", NEW],
        check: |s, ran| {
            assert!(
                ran.stderr
                    .contains("did not finish within 1 seconds and was killed"),
                "{ran:?}"
            );
            // the load and the undo each get their second
            assert!(ran.took < Duration::from_secs(6), "{ran:?}");
            nothing_left(s, ran);
            next_run_is_clean(s);
        },
    },
    Case {
        name: "ipsecctl that exits and leaves a child holding its stdout",
        prepare: |gw| {
            short_timeout(gw);
            wrap_ipsecctl(
                gw,
                "sleep 1000 &\necho $! >> \"$ROOT/var/ipsecctl.pids\"\nexit 0",
            );
            None
        },
        args: &["add", NEW],
        check: |s, ran| {
            assert!(
                ran.stderr.contains("did not finish within 1 seconds"),
                "{ran:?}"
            );
            assert!(ran.took < Duration::from_secs(6), "{ran:?}");
            nothing_left(s, ran);
        },
    },
    Case {
        name: "ipsecctl of mode 0644",
        prepare: |gw| {
            let p = gw.path("sbin/ipsecctl");
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
            None
        },
        args: &["add", NEW],
        check: |s, ran| {
            assert!(ran.stderr.contains("ipsecctl is not executable"), "{ran:?}");
            nothing_left(s, ran);
            assert!(s.gw.calls().is_empty());
            // once it can be run again, adding works
            let p = s.gw.path("sbin/ipsecctl");
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            let again = run_bounded(&s.gw, &["add", &s.gw.actual(NEW)], Duration::from_secs(10));
            assert_eq!(again.code, Some(0), "{again:?}");
            next_run_is_clean(s);
        },
    },
    Case {
        name: "ipsecctl whose interpreter does not exist",
        prepare: |gw| {
            wrap_ipsecctl(gw, "");
            write_program(&gw.path("sbin/ipsecctl"), "#!/nonexistent/sh\nexit 0\n");
            None
        },
        args: &["add", NEW],
        check: |s, ran| {
            assert!(
                ran.stderr
                    .contains("its interpreter (the #! line) does not exist"),
                "{ran:?}"
            );
            // nothing was loaded, so no `ipsecctl -d` was tried either
            assert!(!ran.stderr.contains("-d -f"), "{ran:?}");
            nothing_left(s, ran);
            next_run_is_clean(s);
        },
    },
    Case {
        name: "ipsecctl that succeeds with a warning",
        prepare: |gw| {
            wrap_ipsecctl(
                gw,
                "\"$DOUBLE\" \"$@\"\nrc=$?\necho 'ipsecctl: rule 1: deprecated keyword' >&2\nexit $rc",
            );
            None
        },
        args: &["add", NEW],
        check: |s, ran| {
            assert_eq!(ran.code, Some(0), "{ran:?}");
            let file = s.gw.actual("etc/ipsec.d/c.conf");
            assert!(
                ran.stderr.contains(&format!(
                    "warning: ipsecctl -f {file}: ipsecctl: rule 1: deprecated keyword"
                )),
                "{ran:?}"
            );
            assert!(s.gw.path("var/db/ipsecmgr/applied/c.conf").exists());
        },
    },
    Case {
        name: "no isakmpd reads the FIFO: ipsecctl would block opening it",
        prepare: |gw| {
            wrap_ipsecctl(gw, FIFO_WRITING_IPSECCTL);
            gw.stop_isakmpd();
            None
        },
        args: &["add", NEW],
        check: |s, ran| {
            assert!(!ran.hung, "the run hung in ipsecctl: {ran:?}");
            assert!(ran.took < Duration::from_secs(2), "{ran:?}");
            assert_eq!(ran.code, Some(1), "{ran:?}");
            assert!(ran.stderr.contains("isakmpd is not running"), "{ran:?}");
            assert_eq!(s.gw.read("etc/ipsec.conf"), s.conf_before);
            assert!(s.gw.calls().is_empty(), "ipsecctl was run");
        },
    },
    Case {
        name: "a FIFO that is not ipsecctl's default is passed with -i",
        prepare: |gw| {
            set_settings(gw, "isakmpd_fifo = \"/var/run/isakmpd/other.fifo\"");
            wrap_ipsecctl(gw, FIFO_WRITING_IPSECCTL);
            // nothing reads the default FIFO: without -i, ipsecctl blocks
            gw.stop_isakmpd();
            Some(Isakmpd::start(
                gw,
                "var/run/isakmpd/other.fifo",
                "var/run/isakmpd.result",
                Behaviour::default(),
            ))
        },
        args: &["add", NEW],
        check: |s, ran| {
            assert!(!ran.hung, "{ran:?}");
            assert_eq!(ran.code, Some(0), "{ran:?}");
            let calls = s.gw.calls();
            let fifo = s.gw.actual("var/run/isakmpd/other.fifo");
            assert_eq!(
                calls[0].args,
                ["-i", &fifo, "-f", &s.gw.actual("etc/ipsec.d/c.conf")],
                "{calls:?}"
            );
            // the stand-in's own line, then what ipsecctl sends for the
            // file: all of it into the FIFO given with -i
            let lines = s.isakmpd.as_ref().unwrap().lines();
            assert_eq!(
                lines.first().map(String::as_str),
                Some("C set [ipsecctl-was-here]:File=c.conf force"),
                "{lines:?}"
            );
            assert!(
                lines
                    .iter()
                    .any(|l| l == "C add [Phase 2]:Connections=from-10.0.7.0/24-to-10.7.0.0/16"),
                "{lines:?}"
            );
        },
    },
    Case {
        name: "a FIFO line longer than PIPE_BUF is refused before anything is done",
        prepare: |gw| {
            let long_id = "g".repeat(5000);
            gw.write(
                "etc/ipsec.d/long.conf",
                &format!(
                    "ike esp from 10.0.9.0/24 to 10.9.0.0/16 peer 198.51.9.1 srcid \"{long_id}@example.net\" psk \"x-secret-0123456789abcd\"\n"
                ),
            );
            let conf = gw.read("etc/ipsec.conf");
            gw.write(
                "etc/ipsec.conf",
                &format!("{conf}include \"/etc/ipsec.d/long.conf\"\n"),
            );
            None
        },
        args: &["rm", "long"],
        check: |s, ran| {
            assert_eq!(ran.code, Some(1), "{ran:?}");
            assert!(ran.took < Duration::from_secs(2), "{ran:?}");
            assert!(
                ran.stderr
                    .contains("refusing to write a FIFO line of 5024 bytes"),
                "{ran:?}"
            );
            assert!(s.gw.calls().is_empty());
            assert!(s.gw.fifo().is_empty(), "{:?}", s.gw.fifo());
            assert!(s.gw.read("etc/ipsec.conf").contains("long.conf"));
            assert!(!s.gw.path("var/db/ipsecmgr/journal").exists());
        },
    },
    Case {
        name: "an S report holding Latin-1 bytes",
        prepare: |gw| {
            fs::write(gw.path("var/isakmpd.sa"), report_with_b_up(b"Caf\xe9 GmbH")).unwrap();
            Some(own_isakmpd(gw, Behaviour::default()))
        },
        args: &["status"],
        check: b_is_up,
    },
    Case {
        name: "an S report written slowly",
        prepare: |gw| {
            fs::write(gw.path("var/isakmpd.sa"), report_with_b_up(b"gw")).unwrap();
            let how = Behaviour {
                slow_report: Some(Duration::from_millis(300)),
                ..Behaviour::default()
            };
            Some(own_isakmpd(gw, how))
        },
        args: &["status"],
        check: b_is_up,
    },
    Case {
        name: "an S report of the old one's size within the same clock tick",
        prepare: |gw| {
            let report = report_with_b_up(b"gw");
            fs::write(gw.path("var/isakmpd.sa"), &report).unwrap();
            // what the last status left: as long as the new one
            fs::write(gw.path("var/run/isakmpd.result"), vec![b'x'; report.len()]).unwrap();
            let how = Behaviour {
                same_tick: true,
                ..Behaviour::default()
            };
            Some(own_isakmpd(gw, how))
        },
        args: &["status"],
        check: b_is_up,
    },
];

#[test]
fn hostile_programs_neither_hang_a_run_nor_leave_it_half_done() {
    let mut failed = Vec::new();
    for case in CASES {
        let mut gw = gateway();
        let isakmpd = (case.prepare)(&mut gw);
        let setup = Setup {
            conf_before: gw.read("etc/ipsec.conf"),
            gw,
            isakmpd,
        };
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| match *a {
                NEW => setup.gw.actual(NEW),
                other => other.to_string(),
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ran = run_bounded(&setup.gw, &args, Duration::from_secs(10));
        let checked =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (case.check)(&setup, &ran)));
        if checked.is_err() {
            failed.push(case.name);
        }
        for pid in recorded_pids(&setup.gw) {
            kill_pid(pid);
        }
    }
    assert!(failed.is_empty(), "failed: {failed:#?}");
}

/// Many tunnels, so that `rm` sends far more FIFO lines than a small pipe
/// holds.
fn big_fragment(n: u32) -> String {
    (1..=n)
        .map(|i| {
            format!(
                "ike esp from 10.1.{i}.0/24 to 10.200.{i}.0/24 peer 198.51.100.{i} psk \"big-secret-0123456789ab\"\n"
            )
        })
        .collect()
}

#[test]
fn a_stalled_fifo_gets_whole_lines_and_a_resumed_run_sends_only_the_rest() {
    let mut gw = Gateway::new(
        HEAD,
        &[
            ("big", &big_fragment(60)),
            ("customer-b", &tunnel(2, "b-secret-0123456789abcdef")),
        ],
    );
    // only ipsecmgr's own lines are watched here: the stand-in ipsecctl
    // sends none of its own
    gw.write("etc/ipsecctl.quiet", "");
    // the lines of rm's FIFO step, as its plan shows them
    let plan = stdout(&gw.run(&["rm", "-n", "big"]));
    let expected: Vec<String> = plan
        .lines()
        .filter_map(|l| l.strip_prefix("fifo "))
        .map(str::to_string)
        .collect();
    let bytes: usize = expected.iter().map(|l| l.len() + 1).sum();
    assert!(bytes > 3 * 4096, "{bytes} bytes of FIFO lines");
    // a 4 KiB pipe that isakmpd stops reading
    let isakmpd = own_isakmpd(
        &mut gw,
        Behaviour {
            pipe_size: Some(4096),
            stalled: true,
            ..Behaviour::default()
        },
    );
    let ran = run_bounded(&gw, &["rm", "big"], Duration::from_secs(15));
    assert!(!ran.hung, "{ran:?}");
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("partly done"), "{ran:?}");
    isakmpd.release();
    std::thread::sleep(Duration::from_millis(200));
    let first = isakmpd.lines();
    assert!(
        !first.is_empty() && first.len() < expected.len(),
        "{first:?}"
    );
    // the next run completes the rm after the lines already sent
    let ran = run_bounded(&gw, &["down", "customer-b"], Duration::from_secs(15));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(
        ran.stderr.contains("completed the interrupted `rm big`"),
        "{ran:?}"
    );
    // every line whole, each sent once, in order: exactly rm's lines,
    // then down's
    let got = isakmpd.lines();
    assert!(got.len() > expected.len(), "{got:?}");
    if let Some(i) = (0..expected.len()).find(|&i| got.get(i) != Some(&expected[i])) {
        panic!(
            "line {i} isakmpd read: {:?}, sent should be: {:?}",
            got.get(i),
            expected[i]
        );
    }
    // then: `S`, the clean-up of big's peers rm left pending (finished by
    // the next run once S shows no exchange with them), and down's lines
    assert!(
        got[expected.len()..].iter().all(|l| l == "S"
            || l == "C get [General]:Exchange-max-time"
            || l.contains("198.51.100.")
            || l.contains("198.51.2.1")
            || l.contains("10.0.2.0")),
        "{got:?}"
    );
    assert!(!gw.read("etc/ipsec.conf").contains("big.conf"));
}
