//! `status` read against isakmpd's own report format (sa.c: sa_dump_all,
//! ui.c: ui_config "get"): which SAs mean a tunnel is up, which are still
//! negotiating, which belong to a rekey; and how isakmpd's connection list
//! drifted from the fragments'.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::programs::*;
use common::*;

const B: &str = "from-10.0.2.0/24-to-10.2.0.0/16";
const C: &str = "from-10.0.3.0/24-to-10.3.0.0/16";
const D: &str = "from-10.0.4.0/24-to-10.4.0.0/16";
const ACME: &str = "from-10.0.50.0/24-to-172.16.10.0/24";
const PASSIVE: &str = "from-10.0.5.0/24-to-10.5.0.0/16";

fn gateway() -> Gateway {
    Gateway::new(
        HEAD,
        &[
            ("customer-acme", &acme()),
            ("customer-b", &tunnel(2, "b-secret-0123456789abcdef")),
            ("customer-c", &tunnel(3, "c-secret-0123456789abcdef")),
            ("customer-d", &tunnel(4, "d-secret-0123456789abcdef")),
            (
                "customer-p",
                "ike passive esp from 10.0.5.0/24 to 10.5.0.0/16 peer 198.51.5.1 psk \"p-secret-0123456789abcdef\"\n",
            ),
        ],
    )
}

/// One SA as sa.c: sa_dump_all writes it.
fn sa(name: &str, phase: u8, dst: &str, flags: u32) -> String {
    let role = if phase == 1 { "/Initiator" } else { "" };
    format!(
        "SA name: {name} (Phase {phase}{role})\nsrc: 192.0.2.1 dst: {dst}\nLifetime: 3600 seconds\nFlags 0x{flags:08x}\n\n"
    )
}

/// b up (and rekeying: a replaced SA and an unnamed new one), c's phase 2
/// negotiating, d's phase 1 negotiating, acme's phase 1 alone, one stray
/// connection to b's peer and one elsewhere.
fn live_report() -> String {
    [
        sa("peer-198.51.2.1", 1, "198.51.2.1", 0x01),
        sa(B, 2, "198.51.2.1", 0x01),
        sa(B, 2, "198.51.2.1", 0x09),
        sa("<unnamed>", 2, "198.51.2.1", 0x00),
        sa("peer-198.51.3.1", 1, "198.51.3.1", 0x01),
        sa(C, 2, "198.51.3.1", 0x00),
        sa("peer-198.51.4.1", 1, "198.51.4.1", 0x00),
        sa("peer-203.0.113.20", 1, "203.0.113.20", 0x01),
        sa("old-b-connection", 2, "198.51.2.1", 0x01),
        sa("stale-connection", 2, "192.0.2.99", 0x01),
    ]
    .concat()
}

/// The gateway with its live state and the isakmpd stand-in that answers
/// `S` and `C get`.
fn live(connections: Option<&str>) -> (Gateway, Isakmpd) {
    let mut gw = gateway();
    gw.write(
        "var/ipsecctl.sa",
        "FLOWS:\nflow esp out from 10.0.2.0/24 to 10.2.0.0/16 peer 198.51.2.1 type require\n\
         flow esp out from 10.99.0.0/16 to 10.98.0.0/16 peer 192.0.2.99 type require\n\nSAD:\nNo entries\n",
    );
    gw.write("var/isakmpd.sa", &live_report());
    if let Some(list) = connections {
        gw.write("var/isakmpd.get/Phase 2:Connections", list);
        // the passive connection on its own list
        gw.write("var/isakmpd.get/Phase 2:Passive-Connections", PASSIVE);
    }
    gw.stop_isakmpd();
    let isakmpd = Isakmpd::start(
        &gw,
        "var/run/isakmpd.fifo",
        "var/run/isakmpd.result",
        Behaviour::default(),
    );
    (gw, isakmpd)
}

fn status(gw: &Gateway, args: &[&str]) -> Ran {
    let mut all = vec!["status"];
    all.extend_from_slice(args);
    let ran = run_bounded(gw, &all, Duration::from_secs(20));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    ran
}

fn json(ran: &Ran) -> serde_json::Value {
    serde_json::from_str(&ran.stdout).unwrap()
}

fn state_of(v: &serde_json::Value, fragment: &str, phase2: &str) -> String {
    let f = v["fragments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == fragment)
        .unwrap_or_else(|| panic!("no {fragment} in {v}"));
    let t = f["tunnels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["phase2"] == phase2)
        .unwrap_or_else(|| panic!("no {phase2} in {f}"));
    t["state"].as_str().unwrap().to_string()
}

#[test]
fn only_the_ready_flag_means_established_and_a_rekey_leaves_no_strays() {
    let (gw, _isakmpd) = live(Some(&format!("{B},{C},{D},{ACME}")));
    let ran = status(&gw, &[]);
    let text = &ran.stdout;
    for (fragment, state, phase2) in [
        ("customer-b", "up", B),
        ("customer-c", "negotiating", C),
        ("customer-d", "negotiating", D),
        ("customer-acme", "phase1-only", ACME),
        ("customer-p", "down", PASSIVE),
    ] {
        let line = format!("  {state:<11} {phase2}  (");
        let block = text
            .split(&format!("{fragment}:\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("{fragment} missing: {text}"));
        assert!(block.starts_with(&line), "{fragment}: {line:?} in\n{text}");
    }
    assert!(
        text.contains(
            "isakmpd SAs no fragment accounts for:\n  old-b-connection (phase 2)\n  stale-connection (phase 2)\n"
        ),
        "{text}"
    );
    assert!(!text.contains("<unnamed>"), "{text}");
    let v = json(&status(&gw, &["--json"]));
    assert_eq!(state_of(&v, "customer-c", C), "negotiating");
    assert_eq!(state_of(&v, "customer-d", D), "negotiating");
    assert_eq!(state_of(&v, "customer-b", B), "up");
    assert_eq!(
        v["unaccounted_isakmpd_sas"],
        serde_json::json!(["old-b-connection (phase 2)", "stale-connection (phase 2)"])
    );
}

#[test]
fn drift_both_ways_is_reported_in_text_and_json() {
    // isakmpd lost c and acme's second connection, and holds one no
    // fragment has; the passive connection is never in this list
    let held =
        format!("{B}, {D},from-10.0.50.0/24-to-172.16.10.0/24,from-10.9.9.0/24-to-10.8.8.0/24");
    let (gw, isakmpd) = live(Some(&held));
    let ran = status(&gw, &[]);
    let text = &ran.stdout;
    assert!(
        text.contains(
            "connections isakmpd holds that no fragment has:\n  from-10.9.9.0/24-to-10.8.8.0/24\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "connections isakmpd does not hold:\n  from-10.0.50.0/24-to-172.16.11.0/24  (customer-acme)\n  {C}  (customer-c)\n"
        )),
        "{text}"
    );
    assert!(
        !text.contains(&format!("{PASSIVE}  (customer-p)")),
        "{text}"
    );
    assert!(
        isakmpd
            .lines()
            .contains(&"C get [Phase 2]:Connections".to_string())
    );
    let v = json(&status(&gw, &["--json"]));
    assert_eq!(
        v["drift"]["unknown"],
        serde_json::json!(["from-10.9.9.0/24-to-10.8.8.0/24"])
    );
    assert_eq!(
        v["drift"]["missing"],
        serde_json::json!([
            {"fragment": "customer-acme", "connection": "from-10.0.50.0/24-to-172.16.11.0/24"},
            {"fragment": "customer-c", "connection": C},
        ])
    );
    assert_eq!(v["drift"]["held_down_active"], serde_json::json!([]));

    // for one fragment: only its own connections
    let v = json(&status(&gw, &["customer-c", "--json"]));
    assert_eq!(v["drift"]["unknown"], serde_json::json!([]));
    assert_eq!(
        v["drift"]["missing"],
        serde_json::json!([{"fragment": "customer-c", "connection": C}])
    );
}

#[test]
fn no_connections_at_all_means_every_one_is_missing() {
    // isakmpd has neither list: its answers are empty files
    let (gw, isakmpd) = live(None);
    let v = json(&status(&gw, &["--json"]));
    let missing: Vec<&str> = v["drift"]["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["connection"].as_str().unwrap())
        .collect();
    assert_eq!(missing.len(), 6, "{missing:?}");
    // the passive one too: drift reads Passive-Connections as well
    assert!(missing.contains(&PASSIVE));
    assert!(
        isakmpd
            .lines()
            .contains(&"C get [Phase 2]:Passive-Connections".to_string())
    );
}

#[test]
fn status_of_one_fragment_lists_only_the_strays_of_its_peers() {
    let (gw, _isakmpd) = live(Some(B));
    let v = json(&status(&gw, &["customer-b", "--json"]));
    assert_eq!(v["fragments"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["unaccounted_isakmpd_sas"],
        serde_json::json!(["old-b-connection (phase 2)"])
    );
    // the stray flow goes to 192.0.2.99, no peer of customer-b
    assert_eq!(v["unaccounted_flows"], serde_json::json!([]));
    let ran = status(&gw, &["customer-b"]);
    assert!(
        ran.stdout
            .contains("isakmpd SAs no fragment accounts for:\n  old-b-connection (phase 2)\n"),
        "{ran:?}"
    );
    assert!(!ran.stdout.contains("stale-connection"), "{ran:?}");
}

/// `count` fragments of one flow each, written straight to disk.
fn many_fragments(count: usize) -> Gateway {
    let gw = Gateway::new(HEAD, &[]);
    let mut conf = gw.read("etc/ipsec.conf");
    for i in 0..count {
        let name = format!("f{i:06}");
        let (a, b) = (i / 250, i % 250);
        fs::write(
            gw.path(&format!("etc/ipsec.d/{name}.conf")),
            format!(
                "flow esp from 10.{a}.{b}.0/24 to 172.{}.{b}.0/24 peer 198.51.{a}.{b}\n",
                a + 16
            ),
        )
        .unwrap();
        conf.push_str(&format!("include \"/etc/ipsec.d/{name}.conf\"\n"));
    }
    gw.write("etc/ipsec.conf", &conf);
    gw
}

#[test]
fn status_stays_linear_in_the_number_of_fragments() {
    let mut gw = many_fragments(12_000);
    gw.write("var/ipsecctl.sa", "FLOWS:\nNo flows\n\nSAD:\nNo entries\n");
    gw.write("var/isakmpd.sa", "");
    gw.stop_isakmpd();
    let _isakmpd = Isakmpd::start(
        &gw,
        "var/run/isakmpd.fifo",
        "var/run/isakmpd.result",
        Behaviour::default(),
    );
    let start = Instant::now();
    let ls = run_bounded(&gw, &["ls"], Duration::from_secs(120));
    let ls_took = start.elapsed();
    assert_eq!(ls.code, Some(0), "{ls:?}");
    let start = Instant::now();
    let st = run_bounded(&gw, &["status"], Duration::from_secs(120));
    let status_took = start.elapsed();
    assert_eq!(st.code, Some(0), "{st:?}");
    assert!(
        st.stdout.contains("f011999:\n  flows       0 of 2 loaded"),
        "{st:?}"
    );
    eprintln!(
        "{} fragments: ls {ls_took:?}, status {status_took:?}",
        12_000
    );
    // status also asks isakmpd twice (each answer waited for)
    assert!(
        status_took < ls_took * 3 + Duration::from_secs(2),
        "ls {ls_took:?}, status {status_took:?}"
    );
}

#[test]
fn a_held_down_fragment_is_shown_and_its_return_is_drift() {
    let mut gw = gateway();
    let down = gw.run(&["down", "customer-b"]);
    assert!(down.status.success(), "{}", stderr(&down));
    // someone reloads ipsec.conf: isakmpd holds customer-b's connection again
    gw.write("var/isakmpd.sa", &live_report());
    gw.write("var/isakmpd.get/Phase 2:Connections", &format!("{B},{C}"));
    gw.stop_isakmpd();
    let _isakmpd = Isakmpd::start(
        &gw,
        "var/run/isakmpd.fifo",
        "var/run/isakmpd.result",
        Behaviour::default(),
    );
    let v = json(&status(&gw, &["--json"]));
    let held: Vec<(&str, bool)> = v["fragments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["held_down"] == true))
        .collect();
    assert!(held.contains(&("customer-b", true)), "{v}");
    assert!(held.contains(&("customer-c", false)), "{v}");
    assert_eq!(
        v["drift"]["held_down_active"],
        serde_json::json!([{"fragment": "customer-b", "connection": B}])
    );
    let text = status(&gw, &[]).stdout;
    assert!(text.contains("customer-b:  (held down)\n"), "{text}");
    assert!(
        text.contains(&format!(
            "held down but active again:\n  {B}  (customer-b)\n"
        )),
        "{text}"
    );
}
