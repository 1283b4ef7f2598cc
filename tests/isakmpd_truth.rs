//! The live operations replayed through isakmpd's own conf.c/ui.c: after
//! each command, the database isakmpd holds equals a fresh load, in
//! include order, of what should be loaded, with held-down fragments'
//! connections off `[Phase 2]:Connections` / `Passive-Connections`.
//!
//! Every scenario below runs, and the one test reports all that fail, each
//! with its command and the differing database lines.  What isakmpd does
//! beyond its database (connections, SAs, exchanges, timers) is checked on
//! the real daemon instead: tests/isakmpd_daemon.rs.

mod common;

use common::*;

const P2_B: &str = "from-10.0.2.0/24-to-10.2.0.0/16";

fn gateway() -> Gateway {
    Gateway::new(
        HEAD,
        &[
            ("customer-acme", &acme()),
            ("customer-b", &tunnel(2, "b-secret-0123456789abcdef")),
        ],
    )
}

fn run(gw: &Gateway, args: &[&str]) -> Result<(), String> {
    let out = gw.run(args);
    if out.status.success() {
        return Ok(());
    }
    Err(format!("`{}` failed: {}", args.join(" "), stderr(&out)))
}

/// Adds `text` as fragment `name` with ipsecmgr.
fn add(gw: &Gateway, name: &str, text: &str) -> Result<(), String> {
    let home = format!("home/{name}.conf");
    gw.write(&home, text);
    run(gw, &["add", &gw.actual(&home)])
}

/// The database equals a fresh load of `names` with `down` held down.
fn db(gw: &Gateway, after: &str, names: &[&str], down: &[&str]) -> Result<(), String> {
    gw.check_db(names, down)
        .map_err(|e| format!("after {after}: {e}"))
}

/// The fragments ipsec.conf includes now, by name.
fn included(gw: &Gateway) -> Vec<String> {
    gw.included()
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The database equals a fresh load of whatever ipsec.conf includes now:
/// for commands that may fail as a whole or succeed.
fn db_matches_ipsec_conf(gw: &Gateway, after: &str) -> Result<(), String> {
    let names = included(gw);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    db(gw, after, &names, &[])
}

/// ui_teardown builds the address with port 0 and sa_check_peer (sa.c)
/// compares ports too, so `t main <address>` never matches an SA.
fn no_teardown_by_address() -> Result<(), String> {
    let gw = gateway();
    run(&gw, &["down", "customer-b"])?;
    run(&gw, &["rm", "customer-acme"])?;
    let by_address: Vec<String> = gw
        .fifo()
        .into_iter()
        .filter(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.len() == 3
                && words[0] == "t"
                && words[1] == "main"
                && words[2].parse::<std::net::IpAddr>().is_ok()
        })
        .collect();
    if by_address.is_empty() {
        return Ok(());
    }
    Err(format!(
        "down/rm still send `t main <address>`: {by_address:?}"
    ))
}

/// down takes the connection off the list, so connection_reinit
/// (armed by ui_conn_reinit on any later change of the list) cannot bring
/// it back; it stays down through another fragment's add and rm; up
/// restores it and connects.
fn down_lasts_until_up() -> Result<(), String> {
    let gw = gateway();
    run(&gw, &["down", "customer-b"])?;
    db(
        &gw,
        "down customer-b",
        &["customer-acme", "customer-b"],
        &["customer-b"],
    )?;
    add(&gw, "c7", &tunnel(7, "c7-secret-0123456789abcd"))?;
    let all = ["customer-acme", "customer-b", "c7"];
    db(&gw, "down customer-b; add c7", &all, &["customer-b"])?;
    if gw.replay().connections().iter().any(|c| c == P2_B) {
        return Err("after add c7 the downed connection is listed again".into());
    }
    run(&gw, &["rm", "customer-acme"])?;
    db(
        &gw,
        "... rm customer-acme",
        &["customer-b", "c7"],
        &["customer-b"],
    )?;
    gw.clear();
    run(&gw, &["up", "customer-b"])?;
    db(&gw, "... up customer-b", &["customer-b", "c7"], &[])?;
    let fifo = gw.fifo();
    let add_back = fifo
        .iter()
        .position(|l| l.starts_with("C add [Phase 2]:Connections="));
    let connect = fifo.iter().position(|l| *l == format!("c {P2_B}"));
    match (add_back, connect) {
        (Some(a), Some(c)) if a < c => Ok(()),
        _ => Err(format!(
            "up must add the connection back, then connect: {fifo:?}"
        )),
    }
}

/// A passive fragment's down takes it off Passive-Connections: `t` alone
/// leaves the passive record (connection.c), so the peer could bring
/// phase 2 back.
fn down_of_a_passive_fragment() -> Result<(), String> {
    let passive = "ike passive esp from 10.0.60.0/24 to 10.60.0.0/16 peer 198.51.60.1 \
                   psk \"passive-secret-012345678\"\n";
    let gw = Gateway::new(HEAD, &[("customer-acme", &acme()), ("pass", passive)]);
    run(&gw, &["down", "pass"])?;
    db(&gw, "down pass", &["customer-acme", "pass"], &["pass"])?;
    run(&gw, &["up", "pass"])?;
    db(&gw, "down pass; up pass", &["customer-acme", "pass"], &[])
}

/// Two fragments, one peer address under two local addresses: two phase 1
/// tags competing for `[Phase 1]:<address>`, the key isakmpd uses when
/// that peer initiates. rm of either leaves the other's tag set.
fn rm_keeps_a_shared_phase_1_address() -> Result<(), String> {
    let a = "ike esp from 10.0.1.0/24 to 10.1.0.0/16 local 192.0.2.1 peer 198.51.100.5 \
             psk \"shared-address-a-0123456\"\n";
    let c = "ike esp from 10.0.2.0/24 to 10.2.0.0/16 local 192.0.2.2 peer 198.51.100.5 \
             psk \"shared-address-c-0123456\"\n";
    let gw = Gateway::new("", &[("a", a), ("c", c)]);
    run(&gw, &["rm", "a"])?;
    db(&gw, "rm a (c shares its peer address)", &["c"], &[])?;
    let gw = Gateway::new("", &[("a", a), ("c", c)]);
    run(&gw, &["rm", "c"])?;
    db(&gw, "rm c (a shares its peer address)", &["a"], &[])
}

/// An apply of the earlier of two fragments sharing a peer address under
/// two tags re-sends `C set [Phase 1]:<address>=<its tag>`: the key must
/// stay with the later fragment's tag, as a fresh load leaves it.
fn apply_keeps_a_shared_phase_1_address() -> Result<(), String> {
    let a = "ike esp from 10.0.1.0/24 to 10.1.0.0/16 local 192.0.2.1 peer 198.51.100.5 \
             psk \"shared-address-a-0123456\"\n";
    let c = "ike esp from 10.0.2.0/24 to 10.2.0.0/16 local 192.0.2.2 peer 198.51.100.5 \
             psk \"shared-address-c-0123456\"\n";
    let gw = Gateway::new("", &[("a", a), ("c", c)]);
    gw.write("var/db/ipsecmgr/applied/a.conf", a);
    gw.write("home/a.conf", &a.replace("psk", "quick enc aes-256 psk"));
    run(&gw, &["apply", "a", &gw.actual("home/a.conf")])?;
    db(
        &gw,
        "apply a (phase 2 change; c shares its peer address)",
        &["a", "c"],
        &[],
    )
}

/// `C add` appends to a list: an apply that changes the phase 1 proposal
/// must remove the old transform, not offer it first.
fn apply_leaves_no_old_transform() -> Result<(), String> {
    let weak = "ike esp from 10.0.80.0/24 to 10.80.0.0/16 peer 198.51.80.1 \
                main auth hmac-sha1 enc 3des group modp1024 \
                quick enc aes-128 group modp1024 psk \"upgrade-secret-012345678\"\n";
    let strong = weak
        .replace("enc 3des group modp1024", "enc aes-256 group modp2048")
        .replace(
            "quick enc aes-128 group modp1024",
            "quick enc aes-256 group modp2048",
        );
    let gw = gateway();
    add(&gw, "up80", weak)?;
    gw.write("home/up80.conf", &strong);
    run(&gw, &["apply", "up80", &gw.actual("home/up80.conf")])?;
    db(
        &gw,
        "apply up80 (3des/modp1024 -> aes-256/modp2048)",
        &["customer-acme", "customer-b", "up80"],
        &[],
    )
}

/// When `ipsecctl -d -f` fails, rm must not leave the connection listed
/// (retried every 60 s by connection_checker) while removing its sections.
fn rm_when_ipsecctl_fails() -> Result<(), String> {
    let gw = gateway();
    gw.write("etc/ipsecctl.fail", "ipsecctl: cannot resolve peer\n");
    let _ = gw.run(&["rm", "customer-b"]);
    db_matches_ipsec_conf(&gw, "rm customer-b with ipsecctl -d failing")
}

/// The undo of a failed add leaves nothing of it: ipsecctl had already
/// sent the ike lines when it failed.
fn undo_of_a_failed_add() -> Result<(), String> {
    let gw = gateway();
    gw.write(
        "etc/ipsecctl.fail-after-send",
        "ipsecctl: failed to add rule 2\n",
    );
    let _ = add(&gw, "c7", &tunnel(7, "c7-secret-0123456789abcd"));
    db(
        &gw,
        "add c7 failing after ipsecctl sent its lines",
        &["customer-acme", "customer-b"],
        &[],
    )
}

/// An add that dies while ipsecctl runs (the lines are sent, the journal
/// still names the ipsecctl step) is rolled back by the next run, peer and
/// `[Phase 1]` sections included.
fn rollback_of_an_interrupted_add() -> Result<(), String> {
    let gw = gateway();
    gw.write("etc/ipsecctl.kill-caller", "");
    let _ = add(&gw, "c7", &tunnel(7, "c7-secret-0123456789abcd"));
    run(&gw, &["up", "customer-b"])?;
    if gw.included().iter().any(|p| p.ends_with("c7.conf")) {
        return Err("the interrupted add of c7 was not rolled back".into());
    }
    db(
        &gw,
        "add c7 killed while ipsecctl ran, then up customer-b",
        &["customer-acme", "customer-b"],
        &[],
    )
}

/// rm tears down by the names loaded, not by what the peer's host name
/// resolves to today.
fn rm_uses_the_names_loaded() -> Result<(), String> {
    let named = "ike esp from 10.0.70.0/24 to 10.70.0.0/16 peer gw-b.example.net \
                 psk \"named-secret-0123456789\"\n";
    let gw = gateway();
    add(&gw, "named", named)?;
    db(
        &gw,
        "add named",
        &["customer-acme", "customer-b", "named"],
        &[],
    )?;
    gw.write(
        "etc/ipsecmgr.conf",
        &SETTINGS.replace("198.51.100.2", "198.51.100.3"),
    );
    run(&gw, &["rm", "named"])?;
    db(
        &gw,
        "rm named after gw-b.example.net moved to 198.51.100.3",
        &["customer-acme", "customer-b"],
        &[],
    )
}

const DYNAMIC: &str = "ike dynamic esp from 10.0.71.0/24 to 10.71.0.0/16 peer 198.51.71.1 \
                       psk \"dynamic-secret-012345678\"\n";

/// A dynamic rule also sets `[General]:Check-interval` and
/// `DPD-check-interval` and an `[id-<hostname>]` section; rm of the only
/// dynamic fragment leaves none of them but DPD-check-interval (see
/// `Dump::compared_with`).
fn rm_of_a_dynamic_rule() -> Result<(), String> {
    let gw = gateway();
    add(&gw, "dyn", DYNAMIC)?;
    db(&gw, "add dyn", &["customer-acme", "customer-b", "dyn"], &[])?;
    run(&gw, &["rm", "dyn"])?;
    db(&gw, "rm dyn", &["customer-acme", "customer-b"], &[])
}

/// `ike dynamic` names its ID after the host name: rm after a rename must
/// still remove what was loaded.
fn rm_of_a_dynamic_rule_after_a_rename() -> Result<(), String> {
    let gw = gateway();
    add(&gw, "dyn", DYNAMIC)?;
    gw.write(
        "etc/ipsecmgr.conf",
        &SETTINGS.replace("gw1.example.net", "gw9.example.net"),
    );
    run(&gw, &["rm", "dyn"])?;
    db(
        &gw,
        "rm dyn after the host was renamed",
        &["customer-acme", "customer-b"],
        &[],
    )
}

/// One sequence: Ok, or what differs after which command.
type Scenario = fn() -> Result<(), String>;

#[test]
fn isakmpd_truth_live_operations_leave_a_fresh_load() {
    crate::require_isakmpd!();
    let scenarios: &[(&str, Scenario)] = &[
        ("1 no t main <address>", no_teardown_by_address),
        ("2 down lasts until up", down_lasts_until_up),
        ("2 down of a passive fragment", down_of_a_passive_fragment),
        (
            "3 rm keeps a shared [Phase 1]:<address>",
            rm_keeps_a_shared_phase_1_address,
        ),
        (
            "3 apply keeps a shared [Phase 1]:<address>",
            apply_keeps_a_shared_phase_1_address,
        ),
        (
            "4 apply leaves no old transform",
            apply_leaves_no_old_transform,
        ),
        ("6 rm when ipsecctl -d fails", rm_when_ipsecctl_fails),
        ("6 undo of a failed add", undo_of_a_failed_add),
        (
            "6 rollback of an interrupted add",
            rollback_of_an_interrupted_add,
        ),
        ("6 rm of a dynamic rule", rm_of_a_dynamic_rule),
        ("7 rm uses the names loaded", rm_uses_the_names_loaded),
        (
            "7 rm of a dynamic rule after a rename",
            rm_of_a_dynamic_rule_after_a_rename,
        ),
    ];
    let mut failed = Vec::new();
    for (what, scenario) in scenarios.iter().copied() {
        if let Err(e) = scenario() {
            failed.push(format!("== {what}\n{e}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} scenarios fail:\n{}",
        failed.len(),
        scenarios.len(),
        failed.join("\n")
    );
}
