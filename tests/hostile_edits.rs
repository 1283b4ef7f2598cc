//! Hostile edits, run against the real binary on a gateway (tests/common):
//! file names that try to write directives into ipsec.conf, trees that an
//! edit would break, links planted where ipsecmgr writes, paths that try to
//! leave `--root`.  Each case checks the exit status, the message, and that
//! the gateway is as it must be after (unchanged, when refused).  A
//! property test then runs random edits with random names and checks that
//! ipsec.conf always loads exactly the rules it should.

mod common;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

use common::{BIN, Gateway, HEAD, stderr, stdout, tunnel, write_private};

const STATE: &str = "var/db/ipsecmgr";

/// Runs ipsecmgr on `gw` with arguments that may be any bytes.
fn run(gw: &Gateway, args: &[OsString]) -> Output {
    let out = Command::new(BIN)
        .arg("--root")
        .arg(gw.root())
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    // the FIFO reader may still be reading what was just written
    gw.settle();
    out
}

fn os(a: &[&str]) -> Vec<OsString> {
    a.iter().map(OsString::from).collect()
}

/// Writes `text` to `home/NAME.conf` (NAME any bytes) and returns the path.
fn home(gw: &Gateway, name: &[u8], text: &str) -> OsString {
    let mut rel = b"home/".to_vec();
    rel.extend_from_slice(name);
    rel.extend_from_slice(b".conf");
    let p = gw.root().join(OsStr::from_bytes(&rel));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    write_private(&p, text);
    p.into_os_string()
}

/// Every file under the root but the lock, with its type, mode and bytes.
fn snapshot(root: &Path) -> BTreeMap<OsString, (u32, Vec<u8>)> {
    let mut m = BTreeMap::new();
    for top in ["etc", "config", STATE] {
        let dir = root.join(top);
        if fs::symlink_metadata(&dir).is_err() {
            continue;
        }
        for e in walkdir::WalkDir::new(&dir) {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(root).unwrap().as_os_str().to_owned();
            if rel == OsStr::new(&format!("{STATE}/lock")) || e.file_type().is_dir() {
                continue;
            }
            let md = fs::symlink_metadata(e.path()).unwrap();
            let bytes = if md.file_type().is_symlink() {
                fs::read_link(e.path()).unwrap().into_os_string().into_vec()
            } else {
                fs::read(e.path()).unwrap_or_default()
            };
            m.insert(rel, (md.mode(), bytes));
        }
    }
    m
}

struct Case {
    /// Builds what the case needs on the gateway; returns the arguments.
    setup: fn(&Gateway) -> Vec<OsString>,
    code: i32,
    /// Substrings stderr must hold.
    stderr: &'static [&'static str],
    /// Substrings stdout must hold.
    stdout: &'static [&'static str],
    /// Whether the gateway's files must be as they were.
    unchanged: bool,
    /// Further checks after the run.
    after: fn(&Gateway, &Output),
}

const fn refused(setup: fn(&Gateway) -> Vec<OsString>, stderr: &'static [&'static str]) -> Case {
    Case {
        setup,
        code: 1,
        stderr,
        stdout: &[],
        unchanged: true,
        after: |_, _| {},
    }
}

fn gateway() -> Gateway {
    Gateway::new(
        HEAD,
        &[
            ("customer-a", &tunnel(1, "a-secret-0123456789abcdef")),
            ("customer-b", &tunnel(2, "b-secret-0123456789abcdef")),
        ],
    )
}

fn check(c: Case) {
    let gw = gateway();
    let args = (c.setup)(&gw);
    let before = snapshot(gw.root());
    let out = run(&gw, &args);
    let shown = format!(
        "ipsecmgr {:?}\nexit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        args,
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"), "{shown}");
    assert_eq!(out.status.code(), Some(c.code), "{shown}");
    for want in c.stderr {
        assert!(
            stderr(&out).contains(want),
            "stderr lacks {want:?}: {shown}"
        );
    }
    for want in c.stdout {
        assert!(
            stdout(&out).contains(want),
            "stdout lacks {want:?}: {shown}"
        );
    }
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains(&0x1b),
            "an escape character reached the terminal: {shown}"
        );
    }
    if c.unchanged {
        let after = snapshot(gw.root());
        let changed: Vec<&OsString> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .collect();
        assert!(changed.is_empty(), "files changed: {changed:?}: {shown}");
        assert!(gw.calls().is_empty(), "{:?}: {shown}", gw.calls());
    }
    (c.after)(&gw, &out);
}

macro_rules! cases {
    ($($name:ident => $case:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check($case);
            }
        )*
    };
}

/// ipsec.conf of the test gateway, with `extra` after its includes.
fn conf_with(extra: &str) -> String {
    format!(
        "{HEAD}include \"/etc/ipsec.d/customer-a.conf\"\ninclude \"/etc/ipsec.d/customer-b.conf\"\n{extra}"
    )
}

/// A fragment defining `lan`, which ipsec.conf uses after its includes.
fn lan_user(gw: &Gateway) {
    gw.write(
        "etc/ipsec.conf",
        &format!(
            "lan = \"10.0.0.0/24\"\n{}flow esp from $lan to 10.40.0.0/16 peer 192.0.2.40\n",
            conf_with("")
        ),
    );
}

cases! {
    // ---- 1. names are plain file names; what is shown is escaped ----

    name_with_a_quote_is_refused => refused(
        |gw| vec!["add".into(), home(gw, b"q\"x", &tunnel(7, "c-secret-0123456789abcdef"))],
        &["add: q\"x: a fragment name holds only letters, digits, '.', '_' and '-'"],
    );
    name_smuggling_a_bypass_flow_is_refused_and_shown_escaped => Case {
        after: |_, out| assert_eq!(stderr(out).lines().count(), 1, "{}", stderr(out)),
        ..refused(
            |gw| {
                let name = b"x\"\nflow in from any to any type bypass\n#";
                vec!["add".into(), home(gw, name, &tunnel(7, "c-secret-0123456789abcdef"))]
            },
            &["x\"\\nflow in from any to any type bypass\\n#: a fragment name holds only"],
        )
    };
    name_with_an_escape_sequence_is_refused_escaped => refused(
        |gw| vec!["add".into(), home(gw, b"red\x1b[31m", &tunnel(7, "c-secret-0123456789abcdef"))],
        &["red\\x1b[31m: a fragment name holds only"],
    );
    name_starting_with_a_dot_is_refused => refused(
        |gw| vec!["add".into(), home(gw, b".hidden", &tunnel(7, "c-secret-0123456789abcdef"))],
        &[".hidden: a fragment name may not start with '.'"],
    );
    name_too_long_is_refused => refused(
        |gw| vec!["add".into(), home(gw, &[b'a'; 200], &tunnel(7, "c-secret-0123456789abcdef"))],
        &["a fragment name is at most 128 bytes long"],
    );
    upper_case_conf_suffix_is_refused => refused(
        |gw| vec!["add".into(), home(gw, b"Customer6.CONF", &tunnel(7, "c-secret-0123456789abcdef"))],
        &["Customer6.CONF: fragment files end in '.conf', in lower case: name the file Customer6.conf"],
    );
    empty_fragment_is_refused => refused(
        |gw| vec!["add".into(), home(gw, b"empty", "# nothing yet\n\n")],
        &["empty.conf: holds no rules; an empty fragment would load nothing"],
    );
    ls_escapes_names_and_paths => Case {
        setup: |gw| {
            gw.write("etc/ipsec.d/e\x1b[31m.conf", &tunnel(7, "e-secret-0123456789abcdef"));
            gw.write("etc/ipsec.conf", &conf_with("include \"/etc/ipsec.d/e\x1b[31m.conf\"\n"));
            os(&["ls"])
        },
        code: 0,
        stdout: &["e\\x1b[31m ", "/etc/ipsec.d/e\\x1b[31m.conf"],
        ..refused(|_| Vec::new(), &[])
    };
    tags_escapes_a_file_s_errors => Case {
        setup: |gw| {
            gw.write("bad\x1b[2J.conf", "flow esp from\n");
            vec!["tags".into(), gw.path("bad\x1b[2J.conf").into_os_string()]
        },
        code: 1,
        stderr: &["bad\\x1b[2J.conf: 1: syntax error"],
        ..refused(|_| Vec::new(), &[])
    };
    lint_escapes_file_names => Case {
        setup: |gw| {
            gw.write("bad\x1b[2J.conf", "flow esp from\n");
            vec!["lint".into(), gw.path("bad\x1b[2J.conf").into_os_string()]
        },
        stdout: &["bad\\x1b[2J.conf:1:"],
        ..refused(|_| Vec::new(), &[])
    };

    // ---- 2. edits that would break the tree ----

    include_lands_after_a_statement_not_inside_a_continued_one => Case {
        setup: |gw| {
            gw.write("etc/ipsec.conf", &conf_with("motd = \"hello \\\ninclude \\\nworld\"\n"));
            vec!["add".into(), home(gw, b"c", &tunnel(7, "c-secret-0123456789abcdef"))]
        },
        code: 0,
        unchanged: false,
        after: |gw, _| {
            assert_eq!(
                gw.read("etc/ipsec.conf"),
                conf_with("include \"/etc/ipsec.d/c.conf\"\nmotd = \"hello \\\ninclude \\\nworld\"\n")
            );
        },
        ..refused(|_| Vec::new(), &[])
    };
    fragment_including_ipsec_conf_is_refused => Case {
        setup: |gw| {
            // ipsec.conf with no rules of its own, so that the fragment,
            // compiled alone, repeats none
            gw.write("etc/ipsec.conf", "# gw1\n");
            let text = format!("include \"/etc/ipsec.conf\"\n{}", tunnel(7, "c-secret-0123456789abcdef"));
            vec!["add".into(), "-n".into(), home(gw, b"cyc", &text)]
        },
        ..refused(|_| Vec::new(), &["/etc/ipsec.conf as edited would not compile", "include cycle"])
    };

    // ---- 3. the edited tree loads exactly the rules it should ----

    config_only_add_changing_the_rules_of_others_is_refused_as_well => Case {
        setup: |gw| {
            lan_user(gw);
            let text = format!("lan = \"10.0.0.0/8\"\n{}", tunnel(7, "c-secret-0123456789abcdef"));
            vec!["add".into(), "--config-only".into(), home(gw, b"c", &text)]
        },
        ..refused(|_| Vec::new(), &[
            "/etc/ipsec.conf as edited would load 2 rule(s) nobody asked for (the first at /etc/ipsec.conf: 7)",
            "nothing was written",
        ])
    };
    add_of_a_fragment_changing_the_rules_of_others_is_refused => Case {
        setup: |gw| {
            lan_user(gw);
            let text = format!("lan = \"10.0.0.0/8\"\n{}", tunnel(7, "c-secret-0123456789abcdef"));
            vec!["add".into(), home(gw, b"c", &text)]
        },
        ..refused(|_| Vec::new(), &[
            "/etc/ipsec.conf as edited would load 2 rule(s) nobody asked for (the first at /etc/ipsec.conf: 7)",
            "and lose 2 rule(s) of the rest of the tree (the first at /etc/ipsec.conf: 6)",
            "nothing was written",
        ])
    };
    rm_of_a_fragment_others_depend_on_is_refused => Case {
        setup: |gw| {
            gw.write("etc/ipsec.d/customer-b.conf", &format!("lan = \"10.0.0.0/24\"\n{}", tunnel(2, "b-secret-0123456789abcdef")));
            gw.write(
                "etc/ipsec.conf",
                &conf_with("flow esp from $lan to 10.40.0.0/16 peer 192.0.2.40\n"),
            );
            os(&["rm", "customer-b"])
        },
        ..refused(|_| Vec::new(), &["/etc/ipsec.conf as edited would not compile", "macro 'lan' not defined"])
    };
    apply_of_a_version_changing_the_rules_of_others_is_refused => Case {
        setup: |gw| {
            lan_user(gw);
            let text = format!("lan = \"10.0.0.0/8\"\n{}", tunnel(2, "b-secret-0123456789abcdef"));
            gw.write("home/b2.conf", &text);
            vec!["apply".into(), "customer-b".into(), gw.path("home/b2.conf").into_os_string()]
        },
        ..refused(|_| Vec::new(), &["would load 2 rule(s) nobody asked for (the first at /etc/ipsec.conf: 6)"])
    };

    // ---- 4. rm never replaces a file in removed/ ----

    rm_keeps_an_earlier_removed_copy_of_the_same_second => Case {
        setup: |gw| {
            for stamp in now() - 2..now() + 30 {
                gw.write(
                    &format!("{STATE}/removed/customer-a.conf.{stamp}"),
                    &format!("earlier copy {stamp}\n"),
                );
            }
            os(&["rm", "customer-a"])
        },
        code: 0,
        unchanged: false,
        after: |gw, _| {
            let dir = gw.path(&format!("{STATE}/removed"));
            let mut moved = 0;
            let mut earlier = 0;
            for e in fs::read_dir(&dir).unwrap() {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                let text = fs::read_to_string(e.path()).unwrap();
                let stamp = name.trim_start_matches("customer-a.conf.");
                if text == tunnel(1, "a-secret-0123456789abcdef") {
                    moved += 1;
                } else {
                    assert_eq!(text, format!("earlier copy {stamp}\n"), "{name} was replaced");
                    earlier += 1;
                }
            }
            assert_eq!(moved, 1, "the removed fragment is in removed/ once");
            assert_eq!(earlier, 32, "every earlier copy is kept");
        },
        ..refused(|_| Vec::new(), &[])
    };

    // ---- 5. one base name in two directories ----

    rm_of_one_of_two_same_named_fragments_keeps_the_others_phase_1 => Case {
        setup: |gw| two_acmes(gw, "sub"),
        code: 0,
        unchanged: false,
        after: |gw, _| {
            let fifo = gw.fifo();
            assert!(
                !fifo.iter().any(|l| l.contains("peer-198.51.2.1")),
                "the phase 1 sub/acme still uses was torn down: {fifo:?}"
            );
            assert!(gw.path("etc/ipsec.d/sub/acme.conf").exists());
            assert!(!gw.path("etc/ipsec.d/acme.conf").exists());
        },
        ..refused(|_| Vec::new(), &[])
    };
    qualified_name_removes_the_fragment_in_the_subdirectory => Case {
        setup: |gw| {
            two_acmes(gw, "sub");
            os(&["rm", "sub/acme"])
        },
        code: 0,
        unchanged: false,
        after: |gw, _| {
            let fifo = gw.fifo();
            assert!(
                !fifo.iter().any(|l| l.contains("peer-198.51.2.1")),
                "the phase 1 acme still uses was torn down: {fifo:?}"
            );
            assert!(!gw.path("etc/ipsec.d/sub/acme.conf").exists());
            assert!(gw.path("etc/ipsec.d/acme.conf").exists());
            assert!(!gw.read("etc/ipsec.conf").contains("sub/acme"));
            let ls = stdout(&run(gw, &os(&["ls"])));
            assert!(ls.contains("\nacme "), "{ls}");
        },
        ..refused(|_| Vec::new(), &[])
    };
    ambiguous_fragment_name_is_refused_with_its_candidates => Case {
        setup: |gw| {
            two_acmes(gw, "sub");
            fs::create_dir_all(gw.path("etc/ipsec.d/other")).unwrap();
            fs::rename(gw.path("etc/ipsec.d/acme.conf"), gw.path("etc/ipsec.d/other/acme.conf")).unwrap();
            let conf = gw.read("etc/ipsec.conf").replace("ipsec.d/acme.conf", "ipsec.d/other/acme.conf");
            gw.write("etc/ipsec.conf", &conf);
            os(&["rm", "acme"])
        },
        ..refused(|_| Vec::new(), &[
            "rm acme: acme: ambiguous fragment name; name one of:",
            "other/acme (/etc/ipsec.d/other/acme.conf)",
            "sub/acme (/etc/ipsec.d/sub/acme.conf)",
        ])
    };

    // ---- 6. a linked ipsec.conf stays a link ----

    linked_ipsec_conf_is_edited_through_the_link => Case {
        setup: |gw| {
            fs::create_dir_all(gw.path("config")).unwrap();
            fs::rename(gw.path("etc/ipsec.conf"), gw.path("config/ipsec.conf")).unwrap();
            std::os::unix::fs::symlink("../config/ipsec.conf", gw.path("etc/ipsec.conf")).unwrap();
            vec!["add".into(), home(gw, b"c", &tunnel(7, "c-secret-0123456789abcdef"))]
        },
        code: 0,
        unchanged: false,
        after: |gw, _| {
            let link = fs::symlink_metadata(gw.path("etc/ipsec.conf")).unwrap();
            assert!(link.file_type().is_symlink(), "ipsec.conf is no longer a link");
            assert!(gw.read("config/ipsec.conf").ends_with("include \"/etc/ipsec.d/c.conf\"\n"));
        },
        ..refused(|_| Vec::new(), &[])
    };

    // ---- 7. temporaries a killed run left ----

    recovery_removes_temporaries_a_killed_run_left => Case {
        setup: |gw| {
            gw.write("etc/.ipsec.conf.ipsecmgr-4242", "half written\n");
            gw.write("etc/ipsec.d/.customer-a.conf.ipsecmgr-77-0123456789abcdef", "psk \"k\"\n");
            gw.write(&format!("{STATE}/applied/.x.conf.ipsecmgr-4242"), "psk \"k\"\n");
            gw.write("etc/ipsec.d/.keep.ipsecmgr-notours", "not a temporary\n");
            gw.write(&format!("{STATE}/work/customer-a-delete-4242.conf"), "psk \"k\"\n");
            os(&["up", "customer-b"])
        },
        code: 0,
        stderr: &["removed 4 temporary file(s) an interrupted run left"],
        unchanged: false,
        after: |gw, _| {
            assert!(!gw.path("etc/.ipsec.conf.ipsecmgr-4242").exists());
            assert!(!gw.path("etc/ipsec.d/.customer-a.conf.ipsecmgr-77-0123456789abcdef").exists());
            assert!(!gw.path(&format!("{STATE}/applied/.x.conf.ipsecmgr-4242")).exists());
            assert!(gw.path("etc/ipsec.d/.keep.ipsecmgr-notours").exists());
            assert!(!gw.path(&format!("{STATE}/work/customer-a-delete-4242.conf")).exists());
        },
        ..refused(|_| Vec::new(), &[])
    };

    // ---- 8. --root confines includes ----

    include_climbing_out_of_the_root_is_refused => Case {
        setup: |gw| {
            gw.write("etc/ipsec.conf", &conf_with("include \"/../../../../../../etc/passwd\"\n"));
            os(&["lint"])
        },
        stdout: &[
            "etc/ipsec.conf:5:",
            "failed to include file /../../../../../../etc/passwd: /../../../../../../etc/passwd: leads out of the root directory",
        ],
        after: |_, out| assert!(!stdout(out).contains("root:"), "{}", stdout(out)),
        ..refused(|_| Vec::new(), &[])
    };

    // ---- 9. the lock and the state directory ----

    lock_planted_as_a_link_is_not_followed => Case {
        setup: |gw| {
            fs::create_dir_all(gw.path(STATE)).unwrap();
            gw.write("etc/victim", "precious\n");
            std::os::unix::fs::symlink(gw.path("etc/victim"), gw.path(&format!("{STATE}/lock"))).unwrap();
            os(&["up", "customer-b"])
        },
        after: |gw, _| assert_eq!(gw.read("etc/victim"), "precious\n"),
        ..refused(|_| Vec::new(), &["var/db/ipsecmgr/lock: Too many"])
    };
    state_dir_writable_by_others_is_refused => Case {
        setup: |gw| {
            fs::create_dir_all(gw.path(STATE)).unwrap();
            fs::set_permissions(gw.path(STATE), fs::Permissions::from_mode(0o777)).unwrap();
            os(&["up", "customer-b"])
        },
        after: |gw, _| assert!(gw.fifo().is_empty()),
        ..refused(|_| Vec::new(), &["var/db/ipsecmgr: the state directory may be written by its group or others (mode 777)"])
    };

    // ---- 10. settings paths ----

    relative_settings_path_is_refused => Case {
        code: 2,
        ..refused(
            |gw| {
                gw.write("etc/ipsecmgr.conf", &format!("state_dir = \"var/db/x\"\n{}", common::SETTINGS));
                os(&["up", "customer-b"])
            },
            &["etc/ipsecmgr.conf: state_dir: \"var/db/x\" is not an absolute path"],
        )
    };
    overlapping_settings_paths_are_refused => Case {
        code: 2,
        ..refused(
            |gw| {
                gw.write("etc/ipsecmgr.conf", &format!("fragment_dir = \"/var/db/ipsecmgr/frag\"\n{}", common::SETTINGS));
                os(&["up", "customer-b"])
            },
            &["etc/ipsecmgr.conf: state_dir: \"/var/db/ipsecmgr\" overlaps fragment_dir \"/var/db/ipsecmgr/frag\""],
        )
    };
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `ipsec.d/acme.conf` and `ipsec.d/DIR/acme.conf`, both included, two
/// tunnels to one peer (one phase 1); returns `rm acme`.
fn two_acmes(gw: &Gateway, dir: &str) -> Vec<OsString> {
    let t = |n: u32| {
        format!(
            "ike esp from 10.0.{n}.0/24 to 10.{n}.0.0/16 peer 198.51.2.1 psk \"shared-secret-0123456789\"\n"
        )
    };
    gw.write("etc/ipsec.d/acme.conf", &t(3));
    gw.write(&format!("etc/ipsec.d/{dir}/acme.conf"), &t(4));
    gw.write(
        "etc/ipsec.conf",
        &format!(
            "{HEAD}include \"/etc/ipsec.d/acme.conf\"\ninclude \"/etc/ipsec.d/{dir}/acme.conf\"\n"
        ),
    );
    os(&["rm", "acme"])
}

// ---- the property: every edit leaves a tree that loads what it should ----

mod property {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// Names as a hostile pull request would write them, and random bytes.
    fn name() -> impl Strategy<Value = Vec<u8>> {
        let special: Vec<&'static [u8]> = vec![
            b"q\"x",
            b"x\"\nflow in from any to any type bypass\n#",
            b"..",
            b"../x",
            b"a/b",
            b"-x",
            b".x",
            b"red\x1b[31m",
            b"\xff\xfe",
            b"Customer6.CONF",
            b"tab\there",
            b"ok-name_1.2",
        ];
        prop_oneof![
            proptest::sample::select(special).prop_map(|s| s.to_vec()),
            proptest::collection::vec(any::<u8>(), 1..12),
            "[a-z][a-z0-9-]{0,7}".prop_map(String::into_bytes),
        ]
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add { name: Vec<u8>, net: u32 },
        Rm { pick: usize, name: Option<Vec<u8>> },
        Apply { pick: usize, net: u32 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (name(), 10u32..40).prop_map(|(name, net)| Op::Add { name, net }),
            2 => (any::<usize>(), proptest::option::weighted(0.3, name()))
                .prop_map(|(pick, name)| Op::Rm { pick, name }),
            1 => (any::<usize>(), 10u32..40).prop_map(|(pick, net)| Op::Apply { pick, net }),
        ]
    }

    /// The top of ipsec.conf: plain, with a continued macro holding a line
    /// that starts with `include`, or without its last newline.
    fn head() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(HEAD.to_string()),
            Just(format!("{HEAD}motd = \"hi \\\ninclude \\\nthere\"\n")),
            Just(format!("{HEAD}# no newline after this comment")),
        ]
    }

    fn text(net: u32) -> String {
        tunnel(net, &format!("secret-{net}-0123456789abcdef"))
    }

    /// The gateway's compiled rules (one line each, sorted), as the
    /// stand-in for `ipsecctl -nv -f /etc/ipsec.conf` lists them.
    fn compiled(gw: &Gateway, path: &str) -> Result<Vec<String>, String> {
        let out = run(gw, &os(&["compile", path]));
        if !out.status.success() {
            return Err(stderr(&out));
        }
        let mut lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
        lines.sort();
        Ok(lines)
    }

    /// What ipsec.conf must load: its own rules and each fragment's.
    struct Model {
        head: String,
        fragments: Vec<(String, String)>,
        cache: HashMap<String, Vec<String>>,
    }

    impl Model {
        fn rules_of(&mut self, gw: &Gateway, text: &str) -> Vec<String> {
            if let Some(r) = self.cache.get(text) {
                return r.clone();
            }
            let n = self.cache.len();
            gw.write(&format!("ref/{n}.conf"), text);
            let r = compiled(gw, &gw.actual(&format!("ref/{n}.conf"))).unwrap();
            self.cache.insert(text.to_string(), r.clone());
            r
        }

        fn expected(&mut self, gw: &Gateway) -> Vec<String> {
            let mut all = self.rules_of(gw, &self.head.clone());
            for (_, t) in self.fragments.clone() {
                all.extend(self.rules_of(gw, &t));
            }
            all.sort();
            all
        }
    }

    fn arg_path(gw: &Gateway, rel: &[u8]) -> Option<OsString> {
        let p = gw.root().join(OsStr::from_bytes(rel));
        Some(p.into_os_string())
    }

    /// Runs one op; returns the args and how the model changes if it works.
    fn attempt(gw: &Gateway, m: &Model, op: &Op, step: usize) -> Option<(Vec<OsString>, Model2)> {
        match op {
            Op::Add { name, net } => {
                let name: Vec<u8> = name.iter().map(|&b| if b == 0 { 1 } else { b }).collect();
                let mut rel = b"home/".to_vec();
                rel.extend_from_slice(&name);
                rel.extend_from_slice(b".conf");
                let path = arg_path(gw, &rel)?;
                let p = Path::new(&path);
                if !p.starts_with(gw.path("home")) {
                    return None;
                }
                fs::create_dir_all(p.parent()?).ok()?;
                if fs::symlink_metadata(p).is_ok() {
                    return None;
                }
                fs::write(p, text(*net)).ok()?;
                fs::set_permissions(p, fs::Permissions::from_mode(0o600)).ok()?;
                let base = p
                    .file_name()?
                    .to_str()?
                    .trim_end_matches(".conf")
                    .to_string();
                Some((vec!["add".into(), path], Model2::Add(base, text(*net))))
            }
            Op::Rm { pick, name } => match name {
                Some(n) if !n.contains(&0) => Some((
                    vec!["rm".into(), "--".into(), OsString::from_vec(n.clone())],
                    Model2::RmName(n.clone()),
                )),
                _ if m.fragments.is_empty() => None,
                _ => {
                    let i = pick % m.fragments.len();
                    Some((
                        vec!["rm".into(), m.fragments[i].0.clone().into()],
                        Model2::Rm(i),
                    ))
                }
            },
            Op::Apply { pick, net } => {
                if m.fragments.is_empty() {
                    return None;
                }
                let i = pick % m.fragments.len();
                let rel = format!("home/apply-{step}.conf");
                gw.write(&rel, &text(*net));
                Some((
                    vec![
                        "apply".into(),
                        m.fragments[i].0.clone().into(),
                        gw.path(&rel).into_os_string(),
                    ],
                    Model2::Apply(i, text(*net)),
                ))
            }
        }
    }

    /// How the model changes when an op succeeds.
    enum Model2 {
        Add(String, String),
        Rm(usize),
        RmName(Vec<u8>),
        Apply(usize, String),
    }

    fn apply_change(m: &mut Model, c: Model2) {
        match c {
            Model2::Add(name, t) => m.fragments.push((name, t)),
            Model2::Rm(i) => {
                m.fragments.remove(i);
            }
            Model2::RmName(n) => {
                let name = String::from_utf8_lossy(&n);
                let name = name.trim_end_matches(".conf");
                let i = m.fragments.iter().position(|(f, _)| f == name);
                m.fragments
                    .remove(i.expect("rm of a name the model does not know worked"));
            }
            Model2::Apply(i, t) => m.fragments[i].1 = t,
        }
    }

    fn scenario(head: String, initial: Vec<u32>, ops: Vec<Op>) {
        let mut nets = initial;
        nets.sort();
        nets.dedup();
        let frags: Vec<(String, String)> =
            nets.iter().map(|n| (format!("f{n}"), text(*n))).collect();
        let refs: Vec<(&str, &str)> = frags
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let gw = Gateway::new(&head, &[]);
        // the head without its last newline is written as it is, includes after
        let mut conf = head.clone();
        for (name, t) in &refs {
            if !conf.is_empty() && !conf.ends_with('\n') {
                conf.push('\n');
            }
            conf.push_str(&format!("include \"/etc/ipsec.d/{name}.conf\"\n"));
            gw.write(&format!("etc/ipsec.d/{name}.conf"), t);
        }
        gw.write("etc/ipsec.conf", &conf);
        let mut m = Model {
            head,
            fragments: frags,
            cache: HashMap::new(),
        };
        for (step, op) in ops.iter().enumerate() {
            let Some((args, change)) = attempt(&gw, &m, op, step) else {
                continue;
            };
            let before = snapshot(gw.root());
            let out = run(&gw, &args);
            let shown = format!(
                "{op:?}: ipsecmgr {args:?}: exit {:?}\n{}{}",
                out.status.code(),
                stdout(&out),
                stderr(&out)
            );
            assert!(!stderr(&out).contains("panicked"), "{shown}");
            if out.status.success() {
                apply_change(&mut m, change);
            } else {
                let after = snapshot(gw.root());
                assert!(before == after, "refused, yet files changed: {shown}");
            }
            let got = compiled(&gw, &gw.actual("etc/ipsec.conf"))
                .unwrap_or_else(|e| panic!("ipsec.conf no longer compiles: {e}\n{shown}"));
            assert_eq!(got, m.expected(&gw), "{shown}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn every_edit_leaves_ipsec_conf_loading_exactly_the_expected_rules(
            head in head(),
            initial in proptest::collection::vec(1u32..9, 0..3),
            ops in proptest::collection::vec(op(), 1..5),
        ) {
            scenario(head, initial, ops);
        }
    }
}

/// Not a hostile case but the invariant's other side: a tree that already
/// has an error (a hand-edited fragment) still takes an add that adds
/// exactly its rules, and the error stays the only one.
#[test]
fn a_tree_already_broken_still_takes_a_clean_add() {
    let gw = gateway();
    gw.write("etc/ipsec.d/customer-b.conf", "flow esp from\n");
    let out = run(
        &gw,
        &[
            "add".into(),
            home(&gw, b"c", &tunnel(7, "c-secret-0123456789abcdef")),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        gw.read("etc/ipsec.conf")
            .ends_with("include \"/etc/ipsec.d/c.conf\"\n")
    );
    let out = run(&gw, &os(&["compile"]));
    let err = stderr(&out);
    assert_eq!(
        err.lines().filter(|l| l.contains("syntax error")).count(),
        1,
        "{err}"
    );
}
