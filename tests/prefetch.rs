//! Files named by many plain include lines are read ahead on a second
//! thread; whatever happens to them (missing, not regular, included twice,
//! including others) must read exactly as when each is read in its turn.
//! A trailing comment keeps an include line from being read ahead, with the
//! same meaning to the parser: the two main files must compile alike.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn compile(root: &std::path::Path, main: &str) -> (String, String, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_ipsecmgr"))
        .args(["-c", "/dev/null", "--root"])
        .arg(root)
        .args(["compile", main])
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

#[test]
fn files_read_ahead_read_as_files_read_in_turn() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("etc/ipsec.d");
    fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    };
    let mut includes = Vec::new();
    for i in 0..30 {
        write(
            &format!("t{i}.conf"),
            &format!("ike esp from 10.{i}.0.0/24 to 10.200.{i}.0/24 peer 192.0.2.{i}\n"),
        );
        includes.push(format!("/etc/ipsec.d/t{i}.conf"));
    }
    // a fragment including another, then the other on its own
    write(
        "nested.conf",
        "include \"/etc/ipsec.d/t3.conf\"\nflow esp from 10.99.0.0/24 to 10.98.0.0/24 peer 192.0.2.99\n",
    );
    includes.insert(5, "/etc/ipsec.d/nested.conf".into());
    includes.insert(7, "/etc/ipsec.d/missing.conf".into());
    includes.insert(9, "/etc/ipsec.d/t1.conf".into());
    fs::create_dir(dir.join("adir.conf")).unwrap();
    includes.insert(11, "/etc/ipsec.d/adir.conf".into());
    nix::unistd::mkfifo(&dir.join("fifo.conf"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    includes.insert(13, "/etc/ipsec.d/fifo.conf".into());
    // a broken fragment: its syntax error must be reported at its line
    write("broken.conf", "flow esp from\n");
    includes.insert(20, "/etc/ipsec.d/broken.conf".into());

    let ahead: String = includes
        .iter()
        .map(|p| format!("include \"{p}\"\n"))
        .collect();
    let in_turn: String = includes
        .iter()
        .map(|p| format!("include \"{p}\" # read in turn\n"))
        .collect();
    fs::write(tmp.path().join("etc/ahead.conf"), &ahead).unwrap();
    fs::write(tmp.path().join("etc/in-turn.conf"), &in_turn).unwrap();

    // the main files are typed paths, read as typed; their includes are
    // gateway paths, under the root
    let main = |name: &str| tmp.path().join(name).display().to_string();
    let (out_a, err_a, code_a) = compile(tmp.path(), &main("etc/ahead.conf"));
    let (out_b, err_b, code_b) = compile(tmp.path(), &main("etc/in-turn.conf"));
    assert!(
        out_a.contains("from-10.29.0.0/24-to-10.200.29.0/24"),
        "{out_a}"
    );
    for why in [
        "missing.conf",
        "adir.conf",
        "fifo.conf",
        "broken.conf: 1: syntax error",
    ] {
        assert!(err_a.contains(why), "{why}: {err_a}");
    }
    assert_eq!(out_a, out_b);
    assert_eq!(
        err_a.replace("ahead.conf", "X"),
        err_b.replace("in-turn.conf", "X")
    );
    assert_eq!(code_a, code_b);
}
