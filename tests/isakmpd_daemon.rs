//! ipsecmgr's live operations on OpenBSD's real isakmpd: a gateway daemon
//! (A, 127.0.0.1) that ipsecmgr drives through its FIFO, and a peer daemon
//! (B, 127.0.0.2), negotiating for real in a private network namespace
//! (tests/common/daemon.rs).  Every check is on what is real: both
//! daemons' `S` reports, the fake kernel's SAs and flows, and the daemon
//! logs.  Each behaviour of isakmpd a test relies on names its source.

mod common;

use std::time::Duration;

use common::daemon::{Daemons, Sa, Setup, Timers, eventually, throughout};

const SECRET: &str = "example-secret-0123456789";

/// How long an ipsecmgr command may take here.
const RUN: Duration = Duration::from_secs(90);

/// An `ike` rule on A towards B.
fn a_rule(mode: &str, from: &str, to: &str) -> String {
    format!("ike {mode} esp from {from} to {to} local 127.0.0.1 peer 127.0.0.2 psk \"{SECRET}\"\n")
}

/// The mirror rule on B.
fn b_rule(mode: &str, from: &str, to: &str) -> String {
    format!("ike {mode} esp from {from} to {to} local 127.0.0.2 peer 127.0.0.1 psk \"{SECRET}\"\n")
}

/// The phase 2 tag ipsecctl gives a tunnel between two networks.
fn tag(from: &str, to: &str) -> String {
    format!("from-{from}-to-{to}")
}

// The tunnels most scenarios use: T1 between A's 10.1/24 and B's 10.2/24,
// T3 between 10.5/24 and 10.6/24, both with B; on A (c) and on B (b).
fn t1() -> String {
    tag("10.1.0.0/24", "10.2.0.0/24")
}
fn t3() -> String {
    tag("10.5.0.0/24", "10.6.0.0/24")
}
fn c1(mode: &str) -> String {
    a_rule(mode, "10.1.0.0/24", "10.2.0.0/24")
}
fn c3(mode: &str) -> String {
    a_rule(mode, "10.5.0.0/24", "10.6.0.0/24")
}
fn b1(mode: &str) -> String {
    b_rule(mode, "10.2.0.0/24", "10.1.0.0/24")
}
fn b3(mode: &str) -> String {
    b_rule(mode, "10.6.0.0/24", "10.5.0.0/24")
}

fn live(sas: &[Sa], name: &str) -> bool {
    sas.iter()
        .any(|s| s.name == name && s.phase == "2" && s.live())
}

/// Whether A's kernel has a flow between the two networks (either
/// direction), whatever SA name installed it.
fn has_flow(d: &Daemons, local: &str, remote: &str) -> bool {
    d.flows('a').iter().any(|f| {
        (f.get("src") == local && f.get("dst") == remote)
            || (f.get("src") == remote && f.get("dst") == local)
    })
}

fn start(fragments: &[(&str, &str)], peer: &str) -> Daemons {
    Daemons::start(&Setup {
        fragments,
        peer,
        timers: Timers::default(),
        asan: false,
    })
}

/// Daemons that check their connections every second: an active peer
/// re-initiates within a second of losing its SA.
fn start_eager(fragments: &[(&str, &str)], peer: &str) -> Daemons {
    Daemons::start(&Setup {
        fragments,
        peer,
        timers: Timers {
            check: 1,
            ..Timers::default()
        },
        asan: false,
    })
}

fn up(d: &Daemons, name: &str) {
    assert!(
        eventually(Duration::from_secs(40), || live(&d.sas('a'), name)),
        "{name} never came up on A:\n{:?}\n{}",
        d.sas('a'),
        d.kernel_log('a')
    );
}

/// Waits until A has no exchange in flight: both peers active at the start
/// may leave a second negotiation going after the tunnel is up, and an
/// exchange A started finishes whatever the FIFO says (late answers are
/// `down_during_a_negotiation_tears_the_late_tunnel_down`'s business).
fn settled(d: &Daemons) {
    assert!(
        eventually(Duration::from_secs(30), || d.sas('a').iter().all(Sa::ready)),
        "A keeps negotiating: {:?}",
        d.sas('a')
    );
}

/// `down` with the peer active, a tunnel alone with its peer: once down
/// returns, no SA and no flow of the tunnel comes back, though B keeps
/// initiating (connection.c: connection_checker).
#[test]
fn down_holds_against_an_active_peer() {
    crate::require_daemons!();
    let t1 = t1();
    let c1 = c1("active");
    let d = start_eager(&[("c1", &c1)], &b1("active"));
    up(&d, &t1);
    settled(&d);
    d.ok(&["down", "c1"], RUN);
    assert!(
        throughout(Duration::from_secs(15), || !live(&d.sas('a'), &t1)
            && !has_flow(&d, "10.1.0.0/24", "10.2.0.0/24")),
        "the tunnel came back after down:\n{:?}\n{:?}",
        d.sas('a'),
        d.flows('a')
    );
    d.ok(&["up", "c1"], RUN);
    up(&d, &t1);
}

/// `down` of one of two tunnels to the same peer, with the peer active
/// for it: the peer keeps its phase 1 (the other tunnel uses it) and
/// re-initiates the downed one at once, which isakmpd accepts while the
/// connection's passive record lives (connection.c: connection_teardown
/// leaves it to connection_reinit, 5 s after the list change).
#[test]
fn down_holds_when_the_peer_keeps_its_phase_1() {
    crate::require_daemons!();
    let t1 = t1();
    let t3 = t3();
    let c1 = c1("active");
    let c3 = c3("active");
    let peer = b1("active") + &b3("passive");
    let d = start_eager(&[("c1", &c1), ("c3", &c3)], &peer);
    up(&d, &t1);
    up(&d, &t3);
    settled(&d);
    d.ok(&["down", "c1"], RUN);
    assert!(
        throughout(Duration::from_secs(15), || !live(&d.sas('a'), &t1)
            && !has_flow(&d, "10.1.0.0/24", "10.2.0.0/24")),
        "the tunnel came back after down:\n{:?}\n{:?}",
        d.sas('a'),
        d.flows('a')
    );
    assert!(live(&d.sas('a'), &t3), "c3 was disturbed: {:?}", d.sas('a'));
}

/// `down` of a tunnel whose local network another tunnel to a reachable
/// peer shares: after isakmpd's reinit, the peer's re-initiation is
/// accepted under the OTHER tunnel's name (connection.c:
/// connection_passive_lookup_by_ids, whose road-warrior loop matches the
/// local ID alone), which no FIFO command can prevent without taking the
/// other tunnel down too.  ipsecmgr says so at `down`, lint warns about
/// the topology, and `status` shows the networks up from the kernel's
/// flows.
#[test]
fn down_says_when_a_neighbour_can_carry_the_tunnel() {
    crate::require_daemons!();
    let t1 = t1();
    let t2 = tag("10.1.0.0/24", "10.3.0.0/24");
    let c1 = c1("active");
    let c2 = a_rule("passive", "10.1.0.0/24", "10.3.0.0/24");
    let peer = b1("active") + &b_rule("passive", "10.3.0.0/24", "10.1.0.0/24");
    let d = start_eager(&[("c1", &c1), ("c2", &c2)], &peer);
    up(&d, &t1);
    let lint = d.ipsecmgr(&["lint"], RUN);
    assert!(
        lint.stdout.contains("L107") && lint.stdout.contains(&t2),
        "lint does not warn about the shared local network: {lint:?}"
    );
    settled(&d);
    let said = d.ok(&["down", "c1"], RUN);
    assert!(
        said.contains(&t2) && said.contains("10.1.0.0/24"),
        "down does not say that {t2} can carry the tunnel: {said}"
    );
    // the peer re-initiates; A accepts it under c2's name
    assert!(
        eventually(Duration::from_secs(30), || live(&d.sas('a'), &t2)
            && has_flow(&d, "10.1.0.0/24", "10.2.0.0/24")),
        "the peer did not come back under {t2}: {:?}",
        d.sas('a')
    );
    let status = d.ipsecmgr(&["status", "--json"], RUN);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).expect("status --json");
    let c1_state = doc["fragments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "c1")
        .unwrap()
        .clone();
    assert_eq!(c1_state["held_down"], true, "{c1_state}");
    assert_eq!(
        c1_state["tunnels"][0]["state"], "flows-only",
        "status does not show the held-down networks up: {c1_state}"
    );
}

/// An SA a newer one replaced (flag 0x08) survives `t` (sa.c:
/// sa_check_name_phase skips it) until it expires; `status` does not
/// count it as up.
#[test]
fn a_replaced_sa_is_not_up() {
    crate::require_daemons!();
    let t1 = t1();
    let c1 = c1("active");
    let d = start(&[("c1", &c1)], &b1("passive"));
    up(&d, &t1);
    // B loses its SA (a hard expire in its kernel) and, made active,
    // re-initiates: A's old SA is marked replaced
    let b_tag = tag("10.2.0.0/24", "10.1.0.0/24");
    d.send('b', &[&format!("C add [Phase 2]:Connections={b_tag}")]);
    let spi = d
        .kernel('b')
        .into_iter()
        .find(|e| e.kind == "sa" && e.get("dir") == "in")
        .map(|e| e.get("spi").to_string())
        .expect("B has an incoming SA");
    // after B's reinit (5 s), B's checker re-initiates at once
    std::thread::sleep(Duration::from_secs(6));
    d.kernel_command('b', &format!("expire hard esp {spi} 127.0.0.2"));
    assert!(
        eventually(Duration::from_secs(30), || d
            .sas('a')
            .iter()
            .any(|s| s.name == t1 && s.replaced())),
        "no replaced SA on A: {:?}",
        d.sas('a')
    );
    d.ok(&["down", "c1"], RUN);
    let sas = d.sas('a');
    assert!(
        sas.iter().any(|s| s.name == t1 && s.replaced()),
        "the replaced SA is gone: {sas:?}"
    );
    let status = d.ipsecmgr(&["status", "--json", "c1"], RUN);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).expect("status --json");
    let state = &doc["fragments"][0]["tunnels"][0]["state"];
    assert_ne!(state, "up", "a replaced SA counted as up: {doc}");
}

/// Removing the last `ike dynamic` rule while DPD runs must not take
/// `[General]:DPD-check-interval` away: with it gone, dpd_timer_interval
/// (dpd.c) returns 0 and every R_U_THERE_ACK re-arms the DPD timer at
/// once, thousands of messages a second.
#[test]
fn removing_the_last_dynamic_rule_starts_no_dpd_storm() {
    crate::require_daemons!();
    let t1 = t1();
    let c1 = c1("active");
    let dynamic = format!(
        "ike dynamic esp from 10.7.0.0/24 to 10.8.0.0/24 local 127.0.0.1 peer 127.0.0.9 psk \"{SECRET}\"\n"
    );
    // B runs DPD too (its own `ike dynamic` rule, to a peer that is not
    // there): isakmpd negotiates DPD only when both sides offer it
    // (dpd.c: dpd_check_vendor_payload)
    let b_dynamic = format!(
        "ike dynamic esp from 10.17.0.0/24 to 10.18.0.0/24 local 127.0.0.2 peer 127.0.0.8 psk \"{SECRET}\"\n"
    );
    let d = start(
        &[("c1", &c1), ("dyn", &dynamic)],
        &(b1("passive") + &b_dynamic),
    );
    up(&d, &t1);
    let rut = "dpd_event: sending R_U_THERE";
    assert!(
        eventually(Duration::from_secs(40), || d.log('a').contains(rut)),
        "A sends no R_U_THERE: DPD is not running"
    );
    d.ok(&["rm", "dyn"], RUN);
    let before = d.log('a').matches(rut).count();
    std::thread::sleep(Duration::from_secs(5));
    let sent = d.log('a').matches(rut).count() - before;
    // DPD-check-interval is 5 s for `ike dynamic` (ipsecctl ike.c)
    assert!(sent <= 3, "{sent} R_U_THERE in 5 s after rm: a DPD storm");
    assert!(d.alive('a'));
}

/// Daemons with A under AddressSanitizer, B paused as soon as A's first
/// phase 1 message is out: A's exchange with B stays in flight.
fn phase_1_in_flight(fragments: &[(&str, &str)]) -> Daemons {
    let d = Daemons::start(&Setup {
        fragments,
        peer: &(b1("passive") + &b_rule("passive", "10.4.0.0/24", "10.3.0.0/24")),
        timers: Timers::default(),
        asan: true,
    });
    d.pause('b', true);
    let sent = "scheduled for retransmission";
    assert!(
        eventually(Duration::from_secs(20), || d.log('a').contains(sent)),
        "A never started phase 1"
    );
    d
}

/// B answers again; the tunnel comes up, or A dies of a use after free.
fn resume_and_check(d: &Daemons, t1: &str, what: &str) {
    d.pause('b', false);
    assert!(
        eventually(Duration::from_secs(40), || !d.alive('a')
            || live(&d.sas('a'), t1)),
        "neither up nor dead: {:?}",
        d.sas('a')
    );
    assert!(
        !d.log('a').contains("AddressSanitizer"),
        "isakmpd used freed memory after {what}:\n{}",
        d.log('a')
    );
}

/// `add` of a fragment whose peer has a phase 1 exchange in flight:
/// loading re-sets `[peer-…]:Configuration`, which frees the string the
/// exchange points to (exchange.c: exchange_establish_p1 keeps it in
/// exchange->policy; conf.c: conf_set_now frees the old value), and
/// isakmpd reads it when message 2 arrives (ike_phase_1.c:
/// ike_phase_1_validate_prop).  Under AddressSanitizer.  `add` is refused
/// while the exchange may be in flight, and goes through once the peer
/// has a phase 1 SA.
#[test]
fn no_add_while_a_phase_1_to_the_peer_is_in_flight() {
    crate::require_daemons!();
    let t1 = t1();
    let c1 = c1("active");
    let d = phase_1_in_flight(&[("c1", &c1)]);
    d.write(
        "home/c4.conf",
        &a_rule("active", "10.3.0.0/24", "10.4.0.0/24"),
    );
    let home = d.path("home/c4.conf");
    let add = d.ipsecmgr(&["add", home.to_str().unwrap()], RUN);
    resume_and_check(&d, &t1, "`add`");
    assert_ne!(add.code, Some(0), "add went through: {add:?}");
    // c1 keeps isakmpd trying B: waiting for a quiet instant would race it
    assert!(
        add.stderr.contains("has no phase 1 SA") && add.stderr.contains("down"),
        "{add:?}"
    );
    // with B's phase 1 up, the same add goes through
    d.ok(&["add", home.to_str().unwrap()], RUN);
    up(&d, &tag("10.3.0.0/24", "10.4.0.0/24"));
    assert!(d.alive('a'));
}

/// `apply --wait` of the fragment whose own exchange is in flight: the
/// old rules go first (their connection with them, so no new exchange
/// starts), and the load waits for the exchange to end (Exchange-max-time,
/// 10 s here).
#[test]
fn apply_waits_out_a_phase_1_in_flight() {
    crate::require_daemons!();
    let t1 = t1();
    let c1 = c1("active");
    let d = phase_1_in_flight(&[("c1", &c1)]);
    // the new version beside the one loaded at boot
    d.write("home/c1.conf", &c1.replace("psk", "quick enc aes-256 psk"));
    let new = d.path("home/c1.conf");
    let new = new.to_str().unwrap();
    let refused = d.ipsecmgr(&["apply", "c1", new], RUN);
    assert_ne!(
        refused.code,
        Some(0),
        "apply without --wait went through: {refused:?}"
    );
    let apply = d.ipsecmgr(&["apply", "c1", new, "--wait", "60"], RUN);
    resume_and_check(&d, &t1, "`apply`");
    assert_eq!(apply.code, Some(0), "{apply:?}");
    assert!(d.alive('a'));
}

/// What `status` says while isakmpd negotiates: an initiator phase 1 in
/// flight is `<unnamed>` with no transport (the name is set only by
/// exchange.c: exchange_finalize), yet the tunnel is negotiating, not
/// down.
#[test]
fn status_tells_negotiating_from_down() {
    crate::require_daemons!();
    let c1 = c1("active");
    let c9 = "ike passive esp from 10.9.0.0/24 to 10.10.0.0/24 local 127.0.0.1 peer 127.0.0.9 psk \"example-secret-0123456789\"\n";
    let d = start(&[("c1", &c1), ("c9", c9)], "");
    let sent = "scheduled for retransmission";
    assert!(
        eventually(Duration::from_secs(20), || d.log('a').contains(sent)),
        "A never started phase 1"
    );
    let status = d.ipsecmgr(&["status", "--json"], RUN);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).expect("status --json");
    let state = |name: &str| {
        doc["fragments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["tunnels"][0]["state"].clone())
            .unwrap()
    };
    assert_eq!(state("c1"), "negotiating", "{doc}");
    assert_eq!(state("c9"), "down", "{doc}");
}

/// A tunnel isakmpd calls ready whose SAs and flows never reached the
/// kernel (ipsec.c: ipsec_finalize_exchange gives up before installing,
/// after exchange_finalize set SA_FLAG_READY) is not up.  Here the install
/// is stopped by a bad `[T]:Interface` (ipsec.c: ipsec_sa_iface).
#[test]
fn status_does_not_call_a_tunnel_the_kernel_lacks_up() {
    crate::require_daemons!();
    let t1 = t1();
    let c1 = c1("active");
    let d = start(&[("c1", &c1)], &b1("passive"));
    d.send('a', &[&format!("C set [{t1}]:Interface=none force")]);
    up(&d, &t1);
    assert!(!has_flow(&d, "10.1.0.0/24", "10.2.0.0/24"));
    let status = d.ipsecmgr(&["status", "--json", "c1"], RUN);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).expect("status --json");
    assert_eq!(
        doc["fragments"][0]["tunnels"][0]["state"], "not-installed",
        "{doc}"
    );
}

/// A phase 1 clean-up waits for the exchanges in flight with its peer; an
/// exchange with ANOTHER peer that never answers (it retransmits, dies at
/// Exchange-max-time, and its connection starts the next one) must not
/// keep it waiting for ever.
#[test]
fn a_pending_clean_up_ends_though_another_peer_never_answers() {
    crate::require_daemons!();
    let t1 = t1();
    let c1 = c1("active");
    let silent = |n: u32| {
        format!(
            "ike active esp from 10.{n}.0.0/24 to 10.{}.0.0/24 local 127.0.0.1 peer 127.0.0.{n} psk \"{SECRET}\"\n",
            n + 50
        )
    };
    let (c5, c6) = (silent(5), silent(6));
    let d = start(&[("c1", &c1), ("c5", &c5), ("c6", &c6)], &b1("passive"));
    up(&d, &t1);
    // B goes silent: A's re-initiations of c1 stay in flight too
    d.pause('b', true);
    d.send(
        'a',
        &[&format!("t {t1}"), "t main peer-127.0.0.2-local-127.0.0.1"],
    );
    std::thread::sleep(Duration::from_secs(3));
    let ran = d.ipsecmgr(&["rm", "c1", "--wait", "40"], Duration::from_secs(120));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let pending =
        std::fs::read_to_string(d.path("var/db/ipsecmgr/pending-cleanup.json")).unwrap_or_default();
    assert!(
        !pending.contains("c1"),
        "the clean-up of c1 is still pending after --wait 40 (Exchange-max-time is 10 s): {pending}\n{ran:?}"
    );
}

/// The SPIs of A's kernel SAs installed under `name`.
fn spis(d: &Daemons, name: &str) -> Vec<String> {
    let mut spis: Vec<String> = d
        .kernel('a')
        .into_iter()
        .filter(|e| e.kind == "sa" && e.get("name") == name)
        .map(|e| e.get("spi").to_string())
        .collect();
    spis.sort();
    spis
}

/// A tunnel's state in `status --json`.
fn status_of(d: &Daemons, fragment: &str) -> String {
    let ran = d.ipsecmgr(&["status", "--json", fragment], RUN);
    let doc: serde_json::Value = serde_json::from_str(&ran.stdout).expect("status --json");
    doc["fragments"][0]["tunnels"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `add` of one fragment while another is up: the other's SAs are not
/// touched (the same SPIs in the kernel, none deleted), the new one comes
/// up.
#[test]
fn add_leaves_the_other_tunnels_alone() {
    crate::require_daemons!();
    let t1 = t1();
    let t3 = t3();
    let c1 = c1("active");
    let peer = b1("passive") + &b3("passive");
    let d = start(&[("c1", &c1)], &peer);
    up(&d, &t1);
    let before = spis(&d, &t1);
    d.write("home/c3.conf", &c3("active"));
    let home = d.path("home/c3.conf");
    d.ok(&["add", home.to_str().unwrap()], RUN);
    up(&d, &t3);
    assert_eq!(spis(&d, &t1), before, "c1's SAs changed");
    assert!(
        !d.kernel_log('a')
            .lines()
            .any(|l| l.starts_with("sa-del") && l.contains(&t1)),
        "an SA of c1 was deleted:\n{}",
        d.kernel_log('a')
    );
    assert_eq!(status_of(&d, "c1"), "up");
    assert_eq!(status_of(&d, "c3"), "up");
}

/// `rm` of an up tunnel whose peer is active: it does not come back (the
/// reinit window is watched), and the other tunnel to the same peer keeps
/// its SAs.
#[test]
fn rm_of_one_of_two_tunnels_to_a_peer() {
    crate::require_daemons!();
    let t1 = t1();
    let t3 = t3();
    let c1 = c1("active");
    let c3 = c3("active");
    let peer = b1("active") + &b3("passive");
    let d = start_eager(&[("c1", &c1), ("c3", &c3)], &peer);
    up(&d, &t1);
    up(&d, &t3);
    let before = spis(&d, &t3);
    settled(&d);
    d.ok(&["rm", "c1"], RUN);
    assert!(
        throughout(Duration::from_secs(12), || !live(&d.sas('a'), &t1)
            && !has_flow(&d, "10.1.0.0/24", "10.2.0.0/24")),
        "c1 came back after rm: {:?}",
        d.sas('a')
    );
    assert_eq!(spis(&d, &t3), before, "c3's SAs changed");
    assert!(live(&d.sas('a'), &t3));
    // its peer is still c3's: its phase 1 stays
    assert!(
        d.sas('a')
            .iter()
            .any(|s| s.phase.starts_with('1') && s.live()),
        "{:?}",
        d.sas('a')
    );
}

/// `rm` of a half-up tunnel (its peer never answers) while another is up:
/// the silent peer's clean-up finishes within Exchange-max-time, nothing
/// else is touched, and isakmpd stops trying to reach the peer.
#[test]
fn rm_of_a_half_up_tunnel() {
    crate::require_daemons!();
    let t1 = t1();
    let c1 = c1("active");
    let c5 = format!(
        "ike active esp from 10.5.0.0/24 to 10.55.0.0/24 local 127.0.0.1 peer 127.0.0.5 psk \"{SECRET}\"\n"
    );
    let d = start(&[("c1", &c1), ("c5", &c5)], &b1("passive"));
    up(&d, &t1);
    assert_eq!(status_of(&d, "c5"), "negotiating");
    let before = spis(&d, &t1);
    let ran = d.ipsecmgr(&["rm", "c5", "--wait", "40"], Duration::from_secs(120));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let pending =
        std::fs::read_to_string(d.path("var/db/ipsecmgr/pending-cleanup.json")).unwrap_or_default();
    assert!(!pending.contains("c5"), "still pending: {pending}\n{ran:?}");
    assert_eq!(d.get('a', "[Phase 1]:127.0.0.5"), "");
    // no exchange is started for it any more: none in flight after the
    // last one's Exchange-max-time (10 s)
    assert!(
        eventually(Duration::from_secs(20), || !d
            .sas('a')
            .iter()
            .any(|s| s.phase.starts_with('1') && !s.ready())),
        "isakmpd still tries: {:?}",
        d.sas('a')
    );
    assert_eq!(spis(&d, &t1), before);
    assert!(d.alive('a'));
}

/// `apply` of a phase 2 change: the tunnel comes up again with new SAs,
/// the other tunnel to the same peer is not touched.
#[test]
fn apply_of_a_phase_2_change() {
    crate::require_daemons!();
    let t1 = t1();
    let t3 = t3();
    let c1 = c1("active");
    let c3 = c3("active");
    let peer = b1("passive") + &b3("passive");
    let d = start(&[("c1", &c1), ("c3", &c3)], &peer);
    up(&d, &t1);
    up(&d, &t3);
    let others = spis(&d, &t3);
    let old = spis(&d, &t1);
    d.write("home/c1.conf", &c1.replace("psk", "quick enc aes-256 psk"));
    d.ok(
        &["apply", "c1", d.path("home/c1.conf").to_str().unwrap()],
        RUN,
    );
    assert!(
        eventually(Duration::from_secs(40), || live(&d.sas('a'), &t1)
            && !spis(&d, &t1).is_empty()
            && spis(&d, &t1) != old),
        "c1 did not come back with new SAs: {:?}",
        d.sas('a')
    );
    assert_eq!(spis(&d, &t3), others, "c3's SAs changed");
    assert_eq!(status_of(&d, "c1"), "up");
}

/// `apply` of a phase 1 change (the peer is c1's alone): a new phase 1 is
/// negotiated with the new proposal and the tunnel comes back.
#[test]
fn apply_of_a_phase_1_change() {
    crate::require_daemons!();
    let t1 = t1();
    let p1 = "peer-127.0.0.2-local-127.0.0.1";
    let c1 = c1("active");
    let d = start(&[("c1", &c1)], &b1("passive"));
    up(&d, &t1);
    let transforms = |d: &Daemons| d.get('a', &format!("[phase1-{p1}]:Transforms"));
    let before = transforms(&d);
    d.write("home/c1.conf", &c1.replace("psk", "main enc aes-256 psk"));
    d.ok(
        &["apply", "c1", d.path("home/c1.conf").to_str().unwrap()],
        RUN,
    );
    let after = transforms(&d);
    assert_ne!(after, before, "the phase 1 proposal did not change");
    assert!(after.contains("AES256"), "{after}");
    up(&d, &t1);
    assert_eq!(status_of(&d, "c1"), "up");
}

/// `restart` with the peer active and with it passive: the tunnel comes
/// back up either way, with new SAs.
#[test]
fn restart_with_an_active_and_a_passive_peer() {
    crate::require_daemons!();
    for peer_mode in ["active", "passive"] {
        let t1 = t1();
        let c1 = c1("active");
        let d = start(
            &[("c1", &c1)],
            &b_rule(peer_mode, "10.2.0.0/24", "10.1.0.0/24"),
        );
        up(&d, &t1);
        let old = spis(&d, &t1);
        d.ok(&["restart", "c1"], RUN);
        assert!(
            eventually(Duration::from_secs(40), || live(&d.sas('a'), &t1)
                && !spis(&d, &t1).is_empty()
                && spis(&d, &t1) != old),
            "peer {peer_mode}: c1 did not come back: {:?}",
            d.sas('a')
        );
        assert!(
            !std::fs::read_to_string(d.path("var/db/ipsecmgr/held-down.json"))
                .unwrap_or_default()
                .contains("c1")
        );
    }
}

/// `down` then `up` with the peer passive: down holds (nothing initiates),
/// up brings it back (A initiates again, with its `[Phase 1]` key back).
#[test]
fn down_and_up_with_a_passive_peer() {
    crate::require_daemons!();
    let t1 = t1();
    let c1 = c1("active");
    let d = start(&[("c1", &c1)], &b1("passive"));
    up(&d, &t1);
    d.ok(&["down", "c1"], RUN);
    assert_eq!(d.get('a', "[Phase 1]:127.0.0.2"), "");
    assert!(throughout(Duration::from_secs(6), || !live(
        &d.sas('a'),
        &t1
    )));
    assert_eq!(status_of(&d, "c1"), "down");
    d.ok(&["up", "c1"], RUN);
    assert_eq!(
        d.get('a', "[Phase 1]:127.0.0.2"),
        "peer-127.0.0.2-local-127.0.0.1"
    );
    up(&d, &t1);
    assert_eq!(status_of(&d, "c1"), "up");
}

/// `status` of a tunnel whose peer has a phase 1 up (another tunnel's) and
/// no phase 2 for it (passive here, and the peer does not start it):
/// phase1-only.  (An active one whose quick mode the peer refuses keeps an
/// unnamed phase 2 exchange in flight, retried every check: negotiating.)
#[test]
fn status_of_a_tunnel_with_phase_1_only() {
    crate::require_daemons!();
    let t3 = t3();
    let c1 = c1("passive");
    let c3 = c3("active");
    // B knows A as a peer (c3's tunnel) but not c1's networks
    let d = start(&[("c1", &c1), ("c3", &c3)], &b3("passive"));
    up(&d, &t3);
    assert!(
        eventually(Duration::from_secs(20), || status_of(&d, "c1")
            == "phase1-only"),
        "c1: {}",
        status_of(&d, "c1")
    );
}

/// A held-down tunnel stays down when another fragment's `add` changes
/// `[Phase 2]:Connections` (isakmpd then rebuilds every connection from
/// the lists, connection.c: connection_reinit) and through the checks
/// after it, the peer active.
#[test]
fn down_holds_through_another_fragments_add() {
    crate::require_daemons!();
    let t1 = t1();
    let t3 = t3();
    let c1 = c1("active");
    let peer = b1("active") + &b3("passive");
    let d = start_eager(&[("c1", &c1)], &peer);
    up(&d, &t1);
    settled(&d);
    d.ok(&["down", "c1"], RUN);
    d.write("home/c3.conf", &c3("active"));
    d.ok(&["add", d.path("home/c3.conf").to_str().unwrap()], RUN);
    up(&d, &t3);
    // c3 shares the peer: B keeps phase 1 now, and re-initiates c1 at once
    assert!(
        throughout(Duration::from_secs(12), || !live(&d.sas('a'), &t1)
            && !has_flow(&d, "10.1.0.0/24", "10.2.0.0/24")),
        "c1 came back: {:?}",
        d.sas('a')
    );
    assert_eq!(status_of(&d, "c1"), "down");
}

/// A fragment that is there only to run a command that changes nothing:
/// every mutating run first settles the pending clean-ups.
const IDLE: &str = "ike passive esp from 10.99.0.0/24 to 10.98.0.0/24 local 127.0.0.1 peer 127.0.0.99 psk \"example-secret-0123456789\"\n";

/// Runs a command that finds nothing to do, so settles what is pending.
fn settle(d: &Daemons) {
    let ran = d.ipsecmgr(&["apply", "idle"], RUN);
    assert_eq!(ran.code, Some(0), "{ran:?}");
}

fn pending(d: &Daemons) -> String {
    std::fs::read_to_string(d.path("var/db/ipsecmgr/pending-cleanup.json")).unwrap_or_default()
}

/// `down` while A's own exchange for the tunnel is in flight (its peer
/// silent): the exchange cannot be aborted, and when the peer answers
/// late the tunnel comes up; the pending teardown takes it down again.
#[test]
fn down_during_a_negotiation_tears_the_late_tunnel_down() {
    crate::require_daemons!();
    let t1 = t1();
    let c1 = c1("active");
    let d = Daemons::start(&Setup {
        fragments: &[("c1", &c1), ("idle", IDLE)],
        peer: &b1("passive"),
        timers: Timers {
            max_time: 30,
            ..Timers::default()
        },
        asan: false,
    });
    d.pause('b', true);
    assert!(
        eventually(Duration::from_secs(20), || d
            .log('a')
            .contains("scheduled for retransmission")),
        "A never started phase 1"
    );
    d.ok(&["down", "c1"], RUN);
    assert!(pending(&d).contains("c1"), "no teardown pending");
    d.pause('b', false);
    let settled = eventually(Duration::from_secs(45), || {
        settle(&d);
        !live(&d.sas('a'), &t1) && !pending(&d).contains("c1")
    });
    assert!(settled, "the late tunnel stays up: {:?}", d.sas('a'));
    assert!(throughout(Duration::from_secs(6), || !live(
        &d.sas('a'),
        &t1
    )));
}

/// `rm` while A's exchange with the peer is in flight: the peer's
/// sections are removed only once the exchange is over, or isakmpd reads
/// freed memory when the answer comes (under AddressSanitizer).
#[test]
fn rm_during_a_negotiation_uses_no_freed_memory() {
    crate::require_daemons!();
    let t1 = t1();
    let c1 = c1("active");
    let d = phase_1_in_flight(&[("c1", &c1), ("idle", IDLE)]);
    d.ok(&["rm", "c1"], RUN);
    assert!(pending(&d).contains("c1"), "nothing pending");
    d.pause('b', false);
    assert!(
        eventually(Duration::from_secs(30), || {
            !d.alive('a') || {
                settle(&d);
                !pending(&d).contains("c1")
            }
        }),
        "still pending: {}",
        pending(&d)
    );
    assert!(
        !d.log('a').contains("AddressSanitizer"),
        "isakmpd used freed memory after rm:\n{}",
        d.log('a')
    );
    assert!(d.alive('a'));
    assert!(!live(&d.sas('a'), &t1));
    assert_eq!(d.get('a', "[peer-127.0.0.2-local-127.0.0.1]:Phase"), "");
}
