//! `ipsecmgr diff --tree OLD NEW --format markdown`: the review of a change
//! to a gateway's files as a table, for a pull request's summary.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

/// A checkout of a gateway: etc/ipsec.conf including `fragments`.
fn checkout(dir: &Path, fragments: &[(&str, String)]) {
    fs::create_dir_all(dir.join("etc/ipsec.d")).unwrap();
    let mut conf = HEAD.to_string();
    for (name, text) in fragments {
        conf.push_str(&format!("include \"/etc/ipsec.d/{name}.conf\"\n"));
        write_private(&dir.join(format!("etc/ipsec.d/{name}.conf")), text);
    }
    write_private(&dir.join("etc/ipsec.conf"), &conf);
    write_private(&dir.join("etc/ipsecmgr.conf"), SETTINGS);
}

fn diff_tree(old: &Path, new: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["diff", "--tree"])
        .arg(old)
        .arg(new)
        .args(args)
        .output()
        .unwrap()
}

/// Old: acme, b, c.  New: acme with one network replaced, b re-keyed
/// (stronger phase 1 group), c gone, d new.
fn change() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    checkout(
        &tmp.path().join("old"),
        &[
            ("customer-acme", acme()),
            ("customer-b", tunnel(2, "b-secret-0123456789abcdef")),
            ("customer-c", tunnel(3, "c-secret-0123456789abcdef")),
        ],
    );
    checkout(
        &tmp.path().join("new"),
        &[
            (
                "customer-acme",
                acme().replace("172.16.11.0/24", "172.16.12.0/24"),
            ),
            (
                "customer-b",
                tunnel(2, "b-secret-0123456789abcdef").replacen(
                    "group modp2048",
                    "group modp3072",
                    1,
                ),
            ),
            ("customer-d", tunnel(4, "d-secret-0123456789abcdef")),
        ],
    );
    tmp
}

#[test]
fn markdown_is_a_table_of_fragments_tunnels_and_rekeys() {
    let tmp = change();
    let out = diff_tree(
        &tmp.path().join("old"),
        &tmp.path().join("new"),
        &["--format", "markdown"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "### IPsec tunnels\n\n\
         4 fragment(s) change: **2** tunnel(s) added, **2** removed, **1** changed; **1** peer(s) re-key.\n\n\
         | Fragment | Change | Tunnels added | Tunnels removed | Tunnels changed | Peers that re-key | Command |\n\
         |---|---|---|---|---|---|---|\n\
         | `customer-acme` | changed | `from-10.0.50.0/24-to-172.16.12.0/24` | `from-10.0.50.0/24-to-172.16.11.0/24` | \u{2013} | \u{2013} | `ipsecmgr apply customer-acme` |\n\
         | `customer-b` | changed | \u{2013} | \u{2013} | `from-10.0.2.0/24-to-10.2.0.0/16` | `peer-198.51.2.1` | `ipsecmgr apply customer-b` |\n\
         | `customer-d` | added | `from-10.0.4.0/24-to-10.4.0.0/16` | \u{2013} | \u{2013} | \u{2013} | `ipsecmgr add customer-d` |\n\
         | `customer-c` | removed | \u{2013} | `from-10.0.3.0/24-to-10.3.0.0/16` | \u{2013} | \u{2013} | `ipsecmgr rm customer-c` |\n"
    );
}

#[test]
fn no_change_says_so_and_other_formats_stay() {
    let tmp = change();
    let old = tmp.path().join("old");
    let out = diff_tree(&old, &old, &["--format", "markdown"]);
    assert_eq!(stdout(&out), "### IPsec tunnels\n\nNo tunnel changes.\n");
    let new = tmp.path().join("new");
    let text = stdout(&diff_tree(&old, &new, &[]));
    assert_eq!(text, stdout(&diff_tree(&old, &new, &["--format", "text"])));
    assert!(
        text.starts_with("changed customer-acme: ipsecmgr apply customer-acme\n"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&diff_tree(&old, &new, &["--format", "json"]).stdout).unwrap();
    let legacy: serde_json::Value =
        serde_json::from_slice(&diff_tree(&old, &new, &["--json"]).stdout).unwrap();
    assert_eq!(json, legacy);
    // --json and --format contradict each other
    let both = diff_tree(&old, &new, &["--json", "--format", "markdown"]);
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn a_tree_with_errors_is_refused_not_read_as_removed_tunnels() {
    let tmp = change();
    let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
    let b = new.join("etc/ipsec.d/customer-b.conf");
    let broken = fs::read_to_string(&b)
        .unwrap()
        .replace("enc aes-256 ", "enc aes256 ");
    write_private(&b, &broken);
    let out = diff_tree(&old, &new, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.contains("/etc/ipsec.d/customer-b.conf: 2: aes256 not a valid transform"),
        "{err}"
    );
    assert!(err.contains("has errors; nothing compared"), "{err}");
    // the other way round too: the base is broken
    let out = diff_tree(&new, &old, &["--format", "markdown"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
}

#[test]
fn a_change_of_ipsec_conf_itself_says_what_to_run() {
    let tmp = change();
    let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
    let conf = new.join("etc/ipsec.conf");
    let text = fs::read_to_string(&conf)
        .unwrap()
        .replace("to 10.0.0.1 type bypass", "to 10.0.0.2 type bypass");
    write_private(&conf, &text);
    let out = diff_tree(&old, &new, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let main = &v["changes"][0];
    assert_eq!(main["name"], "ipsec.conf");
    let command = main["command"].as_str().unwrap();
    assert!(
        command.starts_with(
            "by hand, `ipsecctl -d -f OLD` of a file holding the old versions of the rules \
             removed or changed, then `ipsecctl -f NEW` of a file holding the rules added or changed"
        ),
        "{command}"
    );
    assert!(
        command.ends_with(
            "(not `ipsecctl -f /etc/ipsec.conf`: it loads every rule again and deletes none)"
        ),
        "{command}"
    );
}
