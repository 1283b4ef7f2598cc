//! The live operations (add, rm, apply, down, up, restart) against
//! isakmpd's own configuration code: every line a gateway's isakmpd
//! receives — what ipsecctl sends for `-f` / `-d -f` and ipsecmgr's own
//! lines, in order — is replayed through isakmpd's ui.c/conf.c, and the
//! database it leaves is compared with a fresh load of what should be
//! loaded.

mod common;

use std::fs;
use std::process::Output;

use common::isakmpd::Dump;
use common::*;

/// A gateway that starts with no fragment; each is then added by
/// `ipsecmgr add`, so that ipsecmgr stores what it loaded.  Its ipsecctl
/// (tests/common) writes into the FIFO what the real one sends.
struct Live {
    gw: Gateway,
}

impl Live {
    fn new(fragments: &[(&str, &str)]) -> Live {
        let live = Live {
            gw: Gateway::new(HEAD, &[]),
        };
        for (name, text) in fragments {
            live.add(name, text);
        }
        live
    }

    fn add(&self, name: &str, text: &str) {
        let rel = format!("home/{name}.conf");
        self.gw.write(&rel, text);
        self.ok(&["add", &self.gw.actual(&rel)]);
    }

    fn run(&self, args: &[&str]) -> Output {
        self.gw.run(args)
    }

    /// Runs ipsecmgr, which must succeed; its stdout and stderr.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(out.status.success(), "{args:?}: {text}");
        text
    }

    /// The lines ipsecmgr itself sent, without its queries (`S`, `C get`).
    fn own(&self) -> Vec<String> {
        self.gw.commands()
    }

    /// Those sent after the first `since`.
    fn own_lines(&self, since: usize) -> Vec<String> {
        self.own()[since..].to_vec()
    }

    /// What isakmpd holds now: everything it read, replayed through its
    /// own conf.c/ui.c.
    fn database(&self) -> Dump {
        self.gw.replay()
    }

    /// The fragments ipsec.conf includes, in order.
    fn included(&self) -> Vec<String> {
        let json = self.ok(&["ls", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["fragments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// The database equals a fresh load of what ipsec.conf includes, with
    /// the fragments `held` down.
    fn assert_fresh(&self, held: &[&str]) {
        let names = self.included();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        if let Err(e) = self.gw.check_db(&names, held) {
            panic!("{e}\nstream: {:#?}", self.gw.stream());
        }
    }

    fn set_report(&self, text: &str) {
        self.gw.write("var/isakmpd.sa", text);
    }
}

fn ike(from: &str, to: &str, peer: &str, extra: &str, psk: &str) -> String {
    format!("ike esp from {from} to {to} peer {peer} {extra} psk \"{psk}\"\n")
}

fn conns(db: &Dump) -> String {
    db.connections().join(",")
}

// 1. `t main <address>` is never sent: ui.c: ui_teardown builds the
// address with port 0 and sa.c: sa_check_peer compares ports, so it
// matches no SA; phase 1 SAs are found by their tag.

#[test]
fn no_teardown_by_address_is_ever_sent() {
    crate::require_isakmpd!();
    let live = Live::new(&[
        (
            "a",
            &ike(
                "10.0.1.0/24",
                "10.1.0.0/16",
                "198.51.100.1",
                "",
                "a-secret-0123456789abcd",
            ),
        ),
        (
            "b",
            &ike(
                "10.0.2.0/24",
                "10.2.0.0/16",
                "198.51.100.2",
                "",
                "b-secret-0123456789abcd",
            ),
        ),
    ]);
    live.ok(&["down", "a"]);
    live.ok(&["up", "a"]);
    live.ok(&["restart", "a"]);
    live.gw.write(
        "home/b2.conf",
        &ike(
            "10.0.2.0/24",
            "10.2.0.0/16",
            "198.51.100.2",
            "main enc aes-256",
            "b-secret-0123456789abcd",
        ),
    );
    live.ok(&["apply", "b", &live.gw.actual("home/b2.conf")]);
    live.ok(&["rm", "a"]);
    let mains: Vec<String> = live
        .gw
        .history()
        .into_iter()
        .filter(|l| l.starts_with("t main "))
        .collect();
    assert!(!mains.is_empty());
    for line in &mains {
        assert!(
            line.starts_with("t main peer-"),
            "a phase 1 teardown by address matches nothing: {line}"
        );
    }
    live.assert_fresh(&[]);
}

// 2. down lasts; up brings it back.

fn three() -> Live {
    Live::new(&[
        (
            "a",
            &ike(
                "10.0.1.0/24",
                "10.1.0.0/16",
                "198.51.100.1",
                "",
                "a-secret-0123456789abcd",
            ),
        ),
        (
            "b",
            &ike(
                "10.0.2.0/24",
                "10.2.0.0/16",
                "198.51.100.2",
                "",
                "b-secret-0123456789abcd",
            ),
        ),
    ])
}

#[test]
fn down_takes_the_connection_off_the_list_and_later_commands_keep_it_off() {
    crate::require_isakmpd!();
    let live = three();
    let before = live.own().len();
    live.ok(&["down", "a"]);
    let p2 = "from-10.0.1.0/24-to-10.1.0.0/16";
    assert_eq!(
        live.own_lines(before),
        vec![
            format!("C rmv [Phase 2]:Connections={p2}"),
            format!("t {p2}"),
            // the peer finds no phase 1 to negotiate, then loses its SA
            "C rm [Phase 1]:198.51.100.1".into(),
            "t main peer-198.51.100.1".into(),
        ]
    );
    live.assert_fresh(&["a"]);
    // another fragment's ipsecctl -f, an apply, an rm: a stays off
    live.add(
        "c",
        &ike(
            "10.0.3.0/24",
            "10.3.0.0/16",
            "198.51.100.3",
            "",
            "c-secret-0123456789abcd",
        ),
    );
    live.assert_fresh(&["a"]);
    live.gw.write(
        "home/b2.conf",
        &ike(
            "10.0.2.0/24",
            "10.2.0.0/16",
            "198.51.100.2",
            "quick enc aes-256",
            "b-secret-0123456789abcd",
        ),
    );
    live.ok(&["apply", "b", &live.gw.actual("home/b2.conf")]);
    live.assert_fresh(&["a"]);
    live.ok(&["rm", "c"]);
    live.assert_fresh(&["a"]);
    assert!(!conns(&live.database()).contains(p2));
    let ls = live.ok(&["ls"]);
    let until = format!(
        "held down (until `ipsecmgr --root {} up a`)",
        live.gw.root().display()
    );
    assert!(ls.contains(&until), "{ls}");
    let json = live.ok(&["ls", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["fragments"][0]["name"], "a");
    assert_eq!(v["fragments"][0]["held_down"], true);
    assert_eq!(v["fragments"][1]["held_down"], false);

    let before = live.own().len();
    live.ok(&["up", "a"]);
    assert_eq!(
        live.own_lines(before),
        vec![
            "C set [Phase 1]:198.51.100.1=peer-198.51.100.1 force".to_string(),
            format!("C add [Phase 2]:Connections={p2}"),
            format!("c {p2}")
        ]
    );
    live.assert_fresh(&[]);
    assert!(!live.ok(&["ls"]).contains("held down"));
}

#[test]
fn an_apply_of_a_held_down_fragment_keeps_its_connections_off() {
    crate::require_isakmpd!();
    let live = three();
    live.ok(&["down", "a"]);
    live.gw.write(
        "home/a2.conf",
        &format!(
            "{}{}",
            ike(
                "10.0.1.0/24",
                "10.1.0.0/16",
                "198.51.100.1",
                "",
                "a-secret-0123456789abcd"
            ),
            ike(
                "10.0.9.0/24",
                "10.1.0.0/16",
                "198.51.100.1",
                "",
                "a-secret-0123456789abcd"
            )
        ),
    );
    live.ok(&["apply", "a", &live.gw.actual("home/a2.conf")]);
    let db = live.database();
    assert!(!conns(&db).contains("from-10.0.9.0/24"), "{db:#?}");
    assert!(!conns(&db).contains("from-10.0.1.0/24"), "{db:#?}");
    live.assert_fresh(&["a"]);
    live.ok(&["up", "a"]);
    live.assert_fresh(&[]);
}

#[test]
fn passive_down_and_up_use_the_passive_list_and_up_says_it_waits() {
    crate::require_isakmpd!();
    let live = Live::new(&[(
        "p",
        "ike passive esp from 10.0.4.0/24 to 10.4.0.0/16 peer 198.51.100.4 psk \"p-secret-0123456789abcd\"\n",
    )]);
    let p2 = "from-10.0.4.0/24-to-10.4.0.0/16";
    let before = live.own().len();
    live.ok(&["down", "p"]);
    assert_eq!(
        live.own_lines(before)[..2],
        [
            format!("C rmv [Phase 2]:Passive-Connections={p2}"),
            format!("t {p2}")
        ]
    );
    live.assert_fresh(&["p"]);
    let before = live.own().len();
    let said = live.ok(&["up", "p"]);
    assert_eq!(
        live.own_lines(before),
        vec![
            "C set [Phase 1]:198.51.100.4=peer-198.51.100.4 force".to_string(),
            format!("C add [Phase 2]:Passive-Connections={p2}")
        ]
    );
    assert!(said.contains("wait for their peer"), "{said}");
    live.assert_fresh(&[]);
}

#[test]
fn restart_says_an_exchange_in_flight_finishes_first() {
    crate::require_isakmpd!();
    let live = three();
    let said = live.ok(&["restart", "a"]);
    assert!(said.contains("finishes or times out first"), "{said}");
    live.assert_fresh(&[]);
}

// 3. One peer address under two phase 1 tags.

#[test]
fn rm_of_one_tag_keeps_the_address_key_of_another() {
    crate::require_isakmpd!();
    let a = ike(
        "10.0.1.0/24",
        "10.1.0.0/16",
        "198.51.100.5",
        "local 192.0.2.1",
        "s-secret-0123456789abcd",
    );
    let c = ike(
        "10.0.3.0/24",
        "10.3.0.0/16",
        "198.51.100.5",
        "local 192.0.2.2",
        "s-secret-0123456789abcd",
    );
    let live = Live::new(&[("a", &a), ("c", &c)]);
    live.ok(&["rm", "a"]);
    let db = live.database();
    assert!(
        db.get("Phase 1", "198.51.100.5").as_deref() == Some("peer-198.51.100.5-local-192.0.2.2"),
        "{db:#?}"
    );
    live.assert_fresh(&[]);

    // the other way round: c was the last one set, a takes the key back
    let live = Live::new(&[("a", &a), ("c", &c)]);
    live.ok(&["rm", "c"]);
    live.assert_fresh(&[]);
    let db = live.database();
    assert!(
        db.get("Phase 1", "198.51.100.5").as_deref() == Some("peer-198.51.100.5-local-192.0.2.1"),
        "{db:#?}"
    );
}

#[test]
fn apply_in_the_middle_leaves_the_address_key_to_the_last_fragment() {
    crate::require_isakmpd!();
    let a = ike(
        "10.0.1.0/24",
        "10.1.0.0/16",
        "198.51.100.5",
        "local 192.0.2.1",
        "s-secret-0123456789abcd",
    );
    let c = ike(
        "10.0.3.0/24",
        "10.3.0.0/16",
        "198.51.100.5",
        "local 192.0.2.2",
        "s-secret-0123456789abcd",
    );
    let live = Live::new(&[("a", &a), ("c", &c)]);
    // c keeps isakmpd reaching the peer: it must be up for a's load
    live.gw.peers_up(&["198.51.100.5"]);
    let a2 = format!(
        "{a}{}",
        ike(
            "10.0.7.0/24",
            "10.1.0.0/16",
            "198.51.100.5",
            "local 192.0.2.1",
            "s-secret-0123456789abcd"
        )
    );
    live.gw.write("home/a2.conf", &a2);
    live.ok(&["apply", "a", &live.gw.actual("home/a2.conf")]);
    live.assert_fresh(&[]);
}

#[test]
fn lint_warns_of_one_address_under_two_phase_1_tags_naming_both_files() {
    let gw = Gateway::new(
        "",
        &[
            (
                "a",
                &ike(
                    "10.0.1.0/24",
                    "10.1.0.0/16",
                    "198.51.100.5",
                    "local 192.0.2.1",
                    "s-secret-0123456789abcd",
                ),
            ),
            (
                "b",
                &ike(
                    "10.0.2.0/24",
                    "10.2.0.0/16",
                    "198.51.100.9",
                    "",
                    "t-secret-0123456789abcd",
                ),
            ),
            (
                "c",
                &ike(
                    "10.0.3.0/24",
                    "10.3.0.0/16",
                    "198.51.100.5",
                    "local 192.0.2.2",
                    "s-secret-0123456789abcd",
                ),
            ),
        ],
    );
    let out = gw.run(&["lint", "--offline", "--format", "json"]);
    let text = stdout(&out);
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let found: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .map(|a| a.iter().filter(|f| f["code"] == "L106").collect())
        .unwrap_or_default();
    assert_eq!(found.len(), 1, "{text}");
    let f = found[0];
    assert_eq!(f["severity"], "warning");
    assert!(
        f["file"].as_str().unwrap().ends_with("etc/ipsec.d/c.conf"),
        "{f}"
    );
    let msg = f["message"].as_str().unwrap();
    assert!(msg.contains("198.51.100.5"), "{msg}");
    assert!(msg.contains("/etc/ipsec.d/a.conf:1"), "{msg}");
    assert!(msg.contains("peer-198.51.100.5-local-192.0.2.1"), "{msg}");
    assert!(msg.contains("peer-198.51.100.5-local-192.0.2.2"), "{msg}");
}

// 4. apply leaves no old list member behind.

#[test]
fn apply_of_a_phase_1_upgrade_leaves_only_the_new_transform() {
    crate::require_isakmpd!();
    let old = ike(
        "10.0.1.0/24",
        "10.1.0.0/16",
        "198.51.100.1",
        "main enc 3des group modp1024",
        "a-secret-0123456789abcd",
    );
    let new = ike(
        "10.0.1.0/24",
        "10.1.0.0/16",
        "198.51.100.1",
        "main enc aes-256 group modp2048",
        "a-secret-0123456789abcd",
    );
    let live = Live::new(&[
        ("a", &old),
        (
            "b",
            &ike(
                "10.0.2.0/24",
                "10.2.0.0/16",
                "198.51.100.2",
                "",
                "b-secret-0123456789abcd",
            ),
        ),
    ]);
    live.gw.write("home/a2.conf", &new);
    live.ok(&["apply", "a", &live.gw.actual("home/a2.conf")]);
    let db = live.database();
    let transforms: Vec<&String> = db
        .lines
        .iter()
        .filter(|l| l.starts_with("[phase1-peer-198.51.100.1]:Transforms="))
        .collect();
    assert_eq!(transforms.len(), 1);
    assert!(!transforms[0].contains("3DES"), "{transforms:?}");
    assert!(db.lines.iter().all(|l| !l.contains("3DES")), "{db:#?}");
    live.assert_fresh(&[]);
}

#[test]
fn apply_moving_connections_between_lists_and_changing_networks_is_a_fresh_load() {
    crate::require_isakmpd!();
    let old = format!(
        "{}{}",
        ike(
            "10.0.1.0/24",
            "10.1.0.0/16",
            "198.51.100.1",
            "",
            "a-secret-0123456789abcd"
        ),
        ike(
            "10.0.5.0/24",
            "10.1.0.0/16",
            "198.51.100.1",
            "",
            "a-secret-0123456789abcd"
        )
    );
    let new = format!(
        "ike passive esp from 10.0.1.0/24 to 10.1.0.0/16 peer 198.51.100.1 psk \"a-secret-0123456789abcd\"\n{}",
        ike(
            "10.0.6.0/24",
            "10.1.0.0/16",
            "198.51.100.7",
            "",
            "z-secret-0123456789abcd"
        )
    );
    let live = Live::new(&[("a", &old)]);
    live.gw.write("home/a2.conf", &new);
    live.ok(&["apply", "a", &live.gw.actual("home/a2.conf")]);
    live.assert_fresh(&[]);
}

// 6. ipsecmgr's own copy of the delete lines, and the full clean-up.

#[test]
fn rm_after_a_failed_ipsecctl_d_leaves_no_connection() {
    crate::require_isakmpd!();
    let live = three();
    live.gw
        .write("etc/ipsecctl.fail", "ipsecctl: no address for vpn.example");
    live.ok(&["rm", "a"]);
    fs::remove_file(live.gw.path("etc/ipsecctl.fail")).unwrap();
    let db = live.database();
    assert!(!conns(&db).contains("from-10.0.1.0/24"), "{db:#?}");
    live.assert_fresh(&[]);
}

#[test]
fn a_failed_add_is_undone_in_isakmpd_too() {
    crate::require_isakmpd!();
    let live = three();
    let before = live.database();
    live.gw.write("etc/ipsecctl.fail-after-send", "");
    live.gw.write(
        "home/d.conf",
        &ike(
            "10.0.4.0/24",
            "10.4.0.0/16",
            "198.51.100.4",
            "",
            "d-secret-0123456789abcd",
        ),
    );
    let out = live.run(&["add", &live.gw.actual("home/d.conf")]);
    assert!(!out.status.success());
    fs::remove_file(live.gw.path("etc/ipsecctl.fail-after-send")).unwrap();
    assert_eq!(live.database(), before);
    live.assert_fresh(&[]);
}

#[test]
fn an_interrupted_add_rolled_back_leaves_isakmpd_as_before() {
    crate::require_isakmpd!();
    let live = three();
    let before = live.database();
    live.gw.write(
        "home/d.conf",
        &ike(
            "10.0.4.0/24",
            "10.4.0.0/16",
            "198.51.100.5",
            "",
            "d-secret-0123456789abcd",
        ),
    );
    // killed once ipsecctl has sent the file, before the commit point
    live.gw.write("etc/ipsecctl.kill-caller", "");
    let out = live.run(&["add", &live.gw.actual("home/d.conf")]);
    assert!(!out.status.success());
    assert_ne!(live.database(), before, "the ipsecctl run loaded it");
    let said = live.ok(&["ls"]);
    assert!(said.contains("will roll it back"), "{said}");
    live.ok(&["down", "b"]);
    live.ok(&["up", "b"]);
    assert_eq!(live.database(), before);
    live.assert_fresh(&[]);
}

// 7. Taken down by the names it was loaded with.

fn one() -> Live {
    Live::new(&[(
        "a",
        &ike(
            "10.0.1.0/24",
            "10.1.0.0/16",
            "198.51.100.1",
            "",
            "a-secret-0123456789abcd",
        ),
    )])
}

#[test]
fn rm_tears_down_by_the_names_loaded_not_by_todays_dns() {
    crate::require_isakmpd!();
    let live = one();
    live.add(
        "gwb",
        "ike esp from 10.0.8.0/24 to 10.8.0.0/16 peer gw-b.example.net psk \"g-secret-0123456789abcd\"\n",
    );
    // the name now resolves elsewhere
    live.gw.write(
        "etc/ipsecmgr.conf",
        "hostname = \"gw1.example.net\"\n\n[hosts]\n\"gw-b.example.net\" = [\"198.51.100.99\"]\n",
    );
    live.ok(&["rm", "gwb"]);
    let db = live.database();
    assert!(
        db.lines.iter().all(|l| !l.contains("198.51.100.2")),
        "{db:#?}"
    );
    live.assert_fresh(&[]);
}

#[test]
fn down_and_up_use_the_names_loaded() {
    crate::require_isakmpd!();
    let live = one();
    live.add(
        "gwb",
        "ike esp from 10.0.8.0/24 to 10.8.0.0/16 peer gw-b.example.net psk \"g-secret-0123456789abcd\"\n",
    );
    live.gw.write(
        "etc/ipsecmgr.conf",
        "hostname = \"gw1.example.net\"\n\n[hosts]\n\"gw-b.example.net\" = [\"198.51.100.99\"]\n",
    );
    let before = live.own().len();
    live.ok(&["down", "gwb"]);
    assert!(
        live.own_lines(before)
            .contains(&"t main peer-198.51.100.2".to_string()),
        "{:?}",
        live.own_lines(before)
    );
    assert!(!conns(&live.database()).contains("from-10.0.8.0/24"));
}

// 10. Half-up: the peer's sections stay while an exchange is in flight.

const NEGOTIATING: &str = "SA name: peer-198.51.100.1 (Phase 1/Initiator)\nsrc: 192.0.2.1 dst: 198.51.100.1\nFlags 0x00000000\n\n";
const READY: &str = "SA name: peer-198.51.100.1 (Phase 1/Initiator)\nsrc: 192.0.2.1 dst: 198.51.100.1\nFlags 0x00000001\n\n";

#[test]
fn rm_during_a_negotiation_leaves_the_peer_pending_until_it_ends() {
    crate::require_isakmpd!();
    let live = three();
    live.set_report(NEGOTIATING);
    let said = live.ok(&["rm", "a"]);
    assert!(said.contains("waits until no exchange"), "{said}");
    let db = live.database();
    // the connection is gone at once, the peer's sections stay
    assert!(!conns(&db).contains("from-10.0.1.0/24"), "{db:#?}");
    assert!(
        db.lines
            .iter()
            .any(|l| l.starts_with("[peer-198.51.100.1]:")),
        "an exchange in flight points into [peer-198.51.100.1]: {db:#?}"
    );
    let ls = live.ok(&["ls"]);
    assert!(
        ls.contains("pending clean-ups:\n    clean-up of peer-198.51.100.1 after `rm a`"),
        "{ls}"
    );
    // still negotiating: the next run leaves it
    live.ok(&["down", "b"]);
    assert!(
        live.database()
            .lines
            .iter()
            .any(|l| l.starts_with("[peer-198.51.100.1]:"))
    );
    // the exchange ended: the next run finishes the clean-up
    live.set_report("");
    let said = live.ok(&["up", "b"]);
    assert!(
        said.contains("finished the clean-up after `rm a`"),
        "{said}"
    );
    live.assert_fresh(&[]);
    assert!(!live.ok(&["ls"]).contains("pending"));
}

#[test]
fn wait_polls_and_tears_down_an_sa_that_became_ready_under_a_removed_name() {
    crate::require_isakmpd!();
    let live = three();
    live.set_report(NEGOTIATING);
    let start = std::time::Instant::now();
    let said = live.ok(&["rm", "--wait", "2", "a"]);
    assert!(start.elapsed() >= std::time::Duration::from_secs(2));
    assert!(
        said.contains("waiting for the exchanges with peer-198.51.100.1"),
        "{said}"
    );
    assert!(said.contains("waits until no exchange"), "{said}");
    // a late answer: the SA is ready under the removed tag
    live.set_report(READY);
    let before = live.own().len();
    live.ok(&["down", "b"]);
    assert!(
        live.own_lines(before)
            .contains(&"t main peer-198.51.100.1".to_string()),
        "{:?}",
        live.own_lines(before)
    );
    live.ok(&["up", "b"]);
    live.assert_fresh(&[]);
}

#[test]
fn down_during_a_negotiation_tears_a_late_sa_down_again() {
    crate::require_isakmpd!();
    let live = three();
    live.set_report(NEGOTIATING);
    let said = live.ok(&["down", "a"]);
    assert!(
        said.contains("teardown of peer-198.51.100.1 after `down a`"),
        "{said}"
    );
    assert!(live.ok(&["ls"]).contains("teardown of peer-198.51.100.1"));
    live.set_report(READY);
    let before = live.own().len();
    live.ok(&["down", "b"]);
    assert!(
        live.own_lines(before)
            .contains(&"t main peer-198.51.100.1".to_string())
    );
    assert!(!live.ok(&["ls"]).contains("teardown of peer-198.51.100.1"));
    live.ok(&["up", "b"]);
    live.assert_fresh(&["a"]);
}
