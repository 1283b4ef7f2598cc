//! Include paths as the gateway reads them.  Under `--root` (a checkout in
//! CI, a copy of a gateway's /etc) the links of a path are followed inside
//! the root only: an absolute target is taken under the root, and a link
//! that leads out of it is an error at the include's file and line, so that
//! no checkout can make ipsecmgr read and print the files of the machine it
//! runs on.  And a path is bytes: one that is not UTF-8 names the file it
//! names.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use common::{both, run_in};

/// What the runner's own file holds, which must never show.
const SECRET: &str = "runner-token-6b1f0e2a9c";

fn write_private(path: &Path, text: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

const TUNNEL: &str = "ike esp from 10.0.1.0/24 to 10.1.0.0/16 peer 198.51.100.1 psk \"a-long-enough-shared-secret\"\n";

#[test]
fn links_out_of_the_root_are_never_read() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("runner");
    write_private(
        &outside.join("secret.conf"),
        format!("{SECRET} = \"x\"\nflow {SECRET}\n").as_bytes(),
    );
    let root = tmp.path().join("checkout");
    let old = tmp.path().join("old");
    for dir in [&root, &old] {
        write_private(
            &dir.join("etc/ipsec.conf"),
            b"flow in from 10.0.0.0/16 to 10.0.0.1 type bypass\n\
              include \"/etc/ipsec.d/ok.conf\"\n\
              include \"/etc/ipsec.d/relative.conf\"\n\
              include \"/etc/ipsec.d/absolute.conf\"\n\
              include \"/etc/ipsec.d/via-dir/secret.conf\"\n",
        );
        write_private(&dir.join("etc/ipsec.d/real.conf"), TUNNEL.as_bytes());
        // an absolute target is the root's own file
        symlink("/etc/ipsec.d/real.conf", dir.join("etc/ipsec.d/ok.conf")).unwrap();
        symlink(
            "../../../runner/secret.conf",
            dir.join("etc/ipsec.d/relative.conf"),
        )
        .unwrap();
        // an absolute target is under the root, where there is none
        symlink(
            outside.join("secret.conf"),
            dir.join("etc/ipsec.d/absolute.conf"),
        )
        .unwrap();
        symlink("../../../runner", dir.join("etc/ipsec.d/via-dir")).unwrap();
        write_private(&dir.join("etc/ipsecmgr.conf"), b"");
    }
    // a key file linked out, and the main file itself
    write_private(
        &root.join("etc/keys.conf"),
        b"esp from 10.0.0.1 to 10.0.0.2 spi 0x1000 authkey file \"/etc/k\" enckey 0x0102\n",
    );
    symlink(outside.join("secret.conf"), root.join("etc/k")).unwrap();
    let cases: &[(&[&str], &Path)] = &[
        (&["--root", ".", "lint"], &root),
        (&["--root", ".", "lint", "--format", "json"], &root),
        (&["--root", ".", "lint", "--format", "github"], &root),
        (&["--root", ".", "lint", "etc"], &root),
        (&["--root", ".", "compile"], &root),
        (&["--root", ".", "compile", "etc/keys.conf"], &root),
        (&["--root", ".", "ls"], &root),
        (&["diff", "--tree", "../old", "."], &root),
    ];
    for (args, dir) in cases {
        let out = run_in(dir, args);
        let text = both(&out);
        assert!(
            !text.contains(SECRET),
            "{args:?} shows the runner's file:\n{text}"
        );
        assert!(!text.contains("panicked"), "{args:?}:\n{text}");
    }
    // the includes that lead out are errors at their lines
    let out = run_in(&root, &["--root", ".", "lint"]);
    let text = both(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("etc/ipsec.conf:3:")
            && text.contains("the link /etc/ipsec.d/relative.conf leads out of the root"),
        "{text}"
    );
    assert!(text.contains("etc/ipsec.conf:4:"), "{text}");
    assert!(
        text.contains("etc/ipsec.conf:5:")
            && text.contains("the link /etc/ipsec.d/via-dir leads out of the root"),
        "{text}"
    );
    // the one inside the root is read, through its absolute link
    let out = run_in(&root, &["--root", ".", "compile"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("from-10.0.1.0/24-to-10.1.0.0/16"),
        "{}",
        both(&out)
    );
    // a main file that is a link out of the root
    fs::rename(
        root.join("etc/ipsec.conf"),
        root.join("etc/ipsec.conf.real"),
    )
    .unwrap();
    symlink(outside.join("secret.conf"), root.join("etc/ipsec.conf")).unwrap();
    for args in [&["--root", ".", "lint"][..], &["--root", ".", "compile"]] {
        let out = run_in(&root, args);
        let text = both(&out);
        assert!(!text.contains(SECRET), "{args:?}:\n{text}");
        assert_ne!(out.status.code(), Some(0), "{args:?}:\n{text}");
    }
}

#[test]
fn an_include_path_that_is_not_utf8_names_its_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let name: &[u8] = b"etc/ipsec.d/caf\xe9-\xff.conf";
    write_private(&root.join(OsStr::from_bytes(name)), TUNNEL.as_bytes());
    let mut conf = b"flow in from 10.0.0.0/16 to 10.0.0.1 type bypass\ninclude \"/".to_vec();
    conf.extend_from_slice(name);
    conf.extend_from_slice(b"\"\n");
    write_private(&root.join("etc/ipsec.conf"), &conf);
    // and through a macro (holding the quotes, as ipsecctl needs it to)
    let mut by_macro = b"p = \"\\\"/".to_vec();
    by_macro.extend_from_slice(name);
    by_macro.extend_from_slice(b"\\\"\"\ninclude $p\n");
    write_private(&root.join("etc/by-macro.conf"), &by_macro);
    for args in [
        &["--root", ".", "compile"][..],
        &["--root", ".", "compile", "etc/by-macro.conf"],
        &["--root", ".", "lint"],
    ] {
        let out = run_in(root, args);
        let text = both(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}:\n{text}");
        assert!(
            !text.contains("E003") && !text.contains("failed to include"),
            "{text}"
        );
    }
    let out = run_in(root, &["--root", ".", "compile"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("from-10.0.1.0/24-to-10.1.0.0/16"),
        "{}",
        both(&out)
    );
    // ls names the fragment, escaped
    let out = run_in(root, &["--root", ".", "ls"]);
    assert!(both(&out).contains("caf\\xe9-\\xff"), "{}", both(&out));
}
