//! What an administrator meets first, through the real binary: the usage
//! line `ipsecmgr add customer-1.conf` run where the file is, refusals
//! that come before any change and say why, plans that show what changes
//! (not ipsecmgr's records), hints that can be pasted as they are, help
//! that describes what is printed, and settings errors that say where.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::{BIN, Gateway, HEAD, stderr, stdout, tunnel, write_private};

/// Runs ipsecmgr with `--root` on `gw`, from the directory `cwd`.
fn run_in(gw: &Gateway, cwd: &Path, args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .current_dir(cwd)
        .arg("--root")
        .arg(gw.root())
        .args(args)
        .output()
        .unwrap();
    gw.settle();
    out
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

fn gateway() -> Gateway {
    Gateway::new(HEAD, &[("c1", &tunnel(1, "k1-0123456789abcdefghij"))])
}

/// A directory outside the gateway tree, holding the admin's own files.
fn home(gw: &Gateway) -> std::path::PathBuf {
    let dir = gw.root().join("home");
    fs::create_dir_all(&dir).unwrap();
    dir
}

// ------------------------------------------------- add FILE, where it is

#[test]
fn add_takes_a_bare_file_name_from_the_current_directory() {
    let gw = gateway();
    let home = home(&gw);
    write_private(
        &home.join("customer-1.conf"),
        &tunnel(7, "k7-0123456789abcdefghij"),
    );
    let o = run_in(&gw, &home, &["add", "customer-1.conf"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("add customer-1: done"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        gw.read("etc/ipsec.d/customer-1.conf"),
        tunnel(7, "k7-0123456789abcdefghij")
    );
    assert!(
        gw.read("etc/ipsec.conf")
            .contains("include \"/etc/ipsec.d/customer-1.conf\"")
    );
}

#[test]
fn add_of_a_name_found_nowhere_says_where_it_looked() {
    let gw = gateway();
    let home = home(&gw);
    let o = run_in(&gw, &home, &["add", "-n", "customer-9.conf"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    let frag = gw.actual("etc/ipsec.d/customer-9.conf");
    assert!(
        err.contains("customer-9.conf: no such file in the current directory")
            && err.contains(&frag)
            && err.contains("`./customer-9.conf`"),
        "{err}"
    );
}

#[test]
fn add_of_a_bare_name_not_here_is_the_fragment_file() {
    // a file written into the fragment directory first, then added by name
    let gw = gateway();
    gw.write("etc/ipsec.d/c5.conf", &tunnel(5, "k5-0123456789abcdefghij"));
    let o = run_in(&gw, &home(&gw), &["add", "-n", "c5"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("+include \"/etc/ipsec.d/c5.conf\""),
        "{}",
        stdout(&o)
    );
}
