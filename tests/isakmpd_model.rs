//! Scenarios on the model of isakmpd's connections, SAs and exchanges
//! (tests/common/isakmpd_model.rs), fed with what ipsecctl and ipsecmgr
//! write to the FIFO and run through isakmpd's own conf.c/ui.c.

mod common;

use common::isakmpd_model::{Model, Peer, SA_FLAG_READY, SA_FLAG_REPLACED};
use common::*;
use ipsecmgr::system::report::parse_sa_report;

const P2: &str = "from-10.0.2.0/24-to-10.2.0.0/16";
const P1: &str = "peer-198.51.2.1";
const PEER: &str = "198.51.2.1";

/// A gateway with one tunnel to 198.51.2.1, and the model of its isakmpd
/// after the boot load and the 5 s reinit that sets the connection up.
fn booted(peer: Peer) -> (Gateway, Model) {
    let gw = Gateway::new(
        HEAD,
        &[("customer-b", &tunnel(2, "b-secret-0123456789abcdef"))],
    );
    let mut model = Model::new();
    model.peer(PEER, peer);
    model.feed(&gw.boot_lines());
    model.advance(5);
    (gw, model)
}

/// Runs ipsecmgr and feeds the model what the FIFO received meanwhile.
fn run(gw: &Gateway, model: &mut Model, args: &[&str]) {
    let before = gw.history().len();
    let out = gw.run(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    model.feed(&gw.history()[before..]);
}

fn sa_named<'a>(model: &'a Model, name: &str, phase: u8) -> Vec<&'a common::isakmpd_model::Sa> {
    model
        .sas
        .iter()
        .filter(|s| s.phase == phase && s.name.as_deref() == Some(name))
        .collect()
}

#[test]
fn the_boot_load_sets_the_connection_up_after_the_deferred_reinit() {
    crate::require_isakmpd!();
    let gw = Gateway::new(
        HEAD,
        &[("customer-b", &tunnel(2, "b-secret-0123456789abcdef"))],
    );
    let mut model = Model::new();
    model.peer(PEER, Peer::Answers);
    model.feed(&gw.boot_lines());
    assert!(!model.is_active(P2), "nothing before the 5 s timer");
    assert_eq!(model.reinit_at, Some(5));
    model.advance(4);
    assert!(!model.is_active(P2));
    model.advance(1);
    assert!(model.is_active(P2) && model.is_passive(P2));
    assert!(model.up(P1, 1) && model.up(P2, 2), "{:?}", model.log);
    let p2 = sa_named(&model, P2, 2)[0];
    assert_eq!(p2.flags & SA_FLAG_READY, SA_FLAG_READY);
}

/// A peer that never answers: phase 1 is sent 4 times (at 5, 12, 21 and
/// 32 s: xmits * 2 + 5 apart), then given up, and the exchange with its
/// unnamed SA lingers until Exchange-max-time (120 s) frees it; meanwhile
/// the 60 s check starts nothing new, then starts over.
#[test]
fn a_peer_that_never_answers_leaves_phase_1_half_up() {
    crate::require_isakmpd!();
    let (_gw, mut model) = booted(Peer::Silent);
    assert_eq!(model.negotiating_with(PEER), 1);
    assert_eq!(model.exchanges[0].name, P1);
    assert_eq!(model.exchanges[0].then_establish, vec![P2.to_string()]);
    for (at, sends) in [(11, 1), (12, 2), (21, 3), (31, 3), (32, 4)] {
        model.advance(at - model.now);
        assert_eq!(model.exchanges[0].xmits, sends, "at {at}s");
    }
    assert_eq!(model.exchanges[0].retransmit_at, None, "gave up");
    assert!(
        model
            .log
            .iter()
            .any(|l| l.contains("giving up on exchange peer-198.51.2.1"))
    );
    model.advance(65 - model.now);
    assert_eq!(
        model.exchanges.len(),
        1,
        "the check at 65 s adds no exchange"
    );
    let report = parse_sa_report(model.report().as_bytes());
    assert_eq!(report.len(), 1);
    assert!(report[0].unnamed() && !report[0].ready() && report[0].phase == 1);
    assert!(
        model
            .report()
            .contains("<no transport>\nFlags 0x00000000\n")
    );
    model.advance(125 - model.now);
    assert_eq!(model.exchanges.len(), 1, "freed at 125 s, started again");
    assert_eq!(model.exchanges[0].xmits, 1);
    assert!(model.log.iter().any(|l| l.contains("freed at max time")));
}

/// `t main <address>` (ui_teardown) builds an address with port 0, and
/// sa_check_peer compares ports: the ready phase 1 SA survives.
#[test]
fn t_main_by_address_matches_no_sa_and_by_name_does() {
    crate::require_isakmpd!();
    let (_gw, mut model) = booted(Peer::Answers);
    model.feed(&["t main 198.51.2.1"]);
    assert!(model.up(P1, 1));
    model.feed(&[format!("t main {P1}")]);
    assert!(!model.up(P1, 1));
    assert!(model.up(P2, 2), "phase 2 SAs are separate");
}

/// Phase 1 established, phase 2 never answered: phase 1 is ready (0x01),
/// phase 2 an unnamed SA without flags, retried after max time.
#[test]
fn phase_1_up_and_phase_2_failing() {
    crate::require_isakmpd!();
    let (_gw, mut model) = booted(Peer::Phase1Only);
    assert!(model.up(P1, 1));
    assert!(!model.up(P2, 2));
    let report = parse_sa_report(model.report().as_bytes());
    let p1 = report.iter().find(|s| s.name == P1).unwrap();
    assert!(p1.ready() && p1.phase == 1);
    let p2 = report.iter().find(|s| s.phase == 2).unwrap();
    assert!(p2.unnamed() && !p2.ready());
    assert!(
        model
            .report()
            .contains(&format!("SA name: {P1} (Phase 1/Initiator)\n"))
    );
    model.advance(130);
    assert_eq!(
        model.exchanges.iter().filter(|e| e.phase == 2).count(),
        1,
        "{:?}",
        model.log
    );
}

/// A rekey: the new SA is `<unnamed>` until its exchange finishes; then
/// the old one is marked replaced, and `t <name>` deletes only the new
/// one (sa_lookup_by_name skips replaced SAs).
#[test]
fn a_rekey_in_progress_shows_an_unnamed_sa_and_then_a_replaced_one() {
    crate::require_isakmpd!();
    let (_gw, mut model) = booted(Peer::Answers);
    assert!(model.up(P2, 2));
    model.peer(PEER, Peer::Silent);
    model.rekey(P2);
    model.rekey(P2);
    assert_eq!(model.negotiating_with(PEER), 1, "one exchange per name");
    let report = parse_sa_report(model.report().as_bytes());
    assert!(
        report
            .iter()
            .any(|s| s.unnamed() && s.phase == 2 && !s.ready())
    );
    assert!(report.iter().any(|s| s.name == P2 && s.ready()));
    model.answer(PEER);
    let both = sa_named(&model, P2, 2);
    assert_eq!(both.len(), 2);
    assert_eq!(
        both.iter()
            .filter(|s| s.flags & SA_FLAG_REPLACED != 0)
            .count(),
        1
    );
    assert!(
        model.report().contains("Flags 0x0000000b\n"),
        "{}",
        model.report()
    );
    model.feed(&[format!("t {P2}")]);
    let left = sa_named(&model, P2, 2);
    assert_eq!(left.len(), 1);
    assert_ne!(left[0].flags & SA_FLAG_REPLACED, 0);
    assert!(!model.up(P2, 2));
}

/// `t <p2>` takes the connection off the active list, but any later
/// change of `[Phase 2]:Connections` arms the reinit, which rebuilds the
/// list from the configuration: the connection comes back and the 60 s
/// check brings the tunnel up again. Taken off the list first, it stays.
#[test]
fn down_followed_by_another_fragments_add() {
    crate::require_isakmpd!();
    let other = "C add [Phase 2]:Connections=from-10.0.9.0/24-to-10.9.0.0/16";
    let (_gw, mut model) = booted(Peer::Answers);
    model.feed(&[format!("t {P2}")]);
    assert!(!model.is_active(P2) && !model.up(P2, 2));
    assert!(model.is_passive(P2), "t leaves the passive record");
    model.feed(&[other]);
    model.advance(5);
    assert!(model.is_active(P2), "the reinit brought it back");
    assert!(model.up(P2, 2));

    let (_gw, mut model) = booted(Peer::Answers);
    model.feed(&[
        format!("C rmv [Phase 2]:Connections={P2}"),
        format!("t {P2}"),
    ]);
    model.feed(&[other]);
    model.advance(70);
    assert!(!model.is_active(P2) && !model.is_passive(P2));
    assert!(!model.up(P2, 2));
    assert!(
        !model.peer_initiates_phase2(PEER, P2),
        "nor can the peer bring it up"
    );
}

/// A late answer after down: `t` does not touch the phase 1 exchange in
/// flight; when the peer answers, its finalization establishes phase 2
/// (exchange_establish_finalize), with the connection off the lists.
#[test]
fn a_late_answer_after_down_brings_phase_2_up() {
    crate::require_isakmpd!();
    let (gw, mut model) = booted(Peer::Silent);
    model.advance(20);
    run(&gw, &mut model, &["down", "customer-b"]);
    assert!(!model.is_active(P2));
    assert_eq!(
        model.negotiating_with(PEER),
        1,
        "the exchange is still there"
    );
    model.advance(40);
    model.peer(PEER, Peer::Answers);
    model.answer(PEER);
    assert!(model.up(P1, 1));
    assert!(model.up(P2, 2), "{:?}", model.log);
    assert!(model.hazards.is_empty());
}

/// A late answer after the peer's sections were removed: the exchange's
/// policy pointer refers to freed memory (use after free in isakmpd).
#[test]
fn a_late_answer_after_its_sections_are_removed_is_a_use_after_free() {
    crate::require_isakmpd!();
    let (_gw, mut model) = booted(Peer::Silent);
    model.advance(30);
    model.feed(&[format!("C rms [{P1}]")]);
    model.advance(30);
    model.peer(PEER, Peer::Answers);
    model.answer(PEER);
    assert_eq!(model.hazards.len(), 1, "{:?}", model.hazards);
    assert!(model.hazards[0].contains(&format!("freed [{P1}]:Configuration")));
}

/// The same after the exchange died: nothing left to answer, no hazard.
#[test]
fn an_answer_after_max_time_finds_no_exchange() {
    crate::require_isakmpd!();
    let (_gw, mut model) = booted(Peer::Silent);
    model.feed(&[
        format!("C rmv [Phase 2]:Connections={P2}"),
        format!("t {P2}"),
    ]);
    model.advance(130);
    model.feed(&[format!("C rms [{P1}]")]);
    assert_eq!(model.negotiating_with(PEER), 0);
    model.peer(PEER, Peer::Answers);
    model.answer(PEER);
    assert!(model.hazards.is_empty() && !model.up(P1, 1));
}

/// The peer initiates: isakmpd names phase 1 from `[Phase 1]:<address>`,
/// so `t main <that tag>` finds the SA in both directions.
#[test]
fn a_peer_initiated_phase_1_is_named_from_the_phase_1_address_tag() {
    crate::require_isakmpd!();
    let (_gw, mut model) = booted(Peer::Silent);
    model.advance(200);
    model.feed(&[
        format!("C rmv [Phase 2]:Connections={P2}"),
        format!("t {P2}"),
    ]);
    model.advance(200);
    model.peer(PEER, Peer::Answers);
    model.answer(PEER);
    model.peer_initiates_phase1(PEER);
    let p1 = sa_named(&model, P1, 1);
    assert_eq!(p1.len(), 1, "{:?}", model.sas);
    assert!(!p1[0].initiator);
    assert!(
        model
            .report()
            .contains(&format!("SA name: {P1} (Phase 1/Responder)\n"))
    );
    model.feed(&[format!("t main {P1}")]);
    assert!(!model.up(P1, 1));
}

/// `c` sets a connection up with its check due at once.
#[test]
fn c_connects_at_once() {
    crate::require_isakmpd!();
    let (_gw, mut model) = booted(Peer::Answers);
    model.feed(&[format!("t {P2}")]);
    assert!(!model.up(P2, 2));
    model.feed(&[format!("c {P2}")]);
    assert!(model.is_active(P2));
    model.advance(0);
    assert!(model.up(P2, 2));
}

/// `ipsecmgr status` on the model's `S` report: runs status on the
/// gateway with the report as isakmpd's answer, returns the JSON.
fn status_json(gw: &Gateway, model: &Model) -> serde_json::Value {
    gw.write("var/isakmpd.sa", &model.report());
    gw.write("var/ipsecctl.sa", "FLOWS:\nSAD:\n");
    let out = gw.run(&["status", "--json"]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)))
}

fn tunnel_state(status: &serde_json::Value) -> String {
    status["fragments"][0]["tunnels"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// status reads the model's `S` report: a tunnel is up only with a ready
/// phase 2 SA of its name; a phase 1 still negotiating (unnamed, no
/// flags) is never reported as up or half up; a rekey in progress leaves
/// the tunnel up.
#[test]
fn status_on_the_models_reports() {
    crate::require_isakmpd!();
    let (gw, mut model) = booted(Peer::Silent);
    model.advance(20);
    let state = tunnel_state(&status_json(&gw, &model));
    assert!(
        state != "up" && state != "phase1-only",
        "negotiating: {state}"
    );

    let (gw, model) = booted(Peer::Phase1Only);
    assert_ne!(tunnel_state(&status_json(&gw, &model)), "up");

    let (gw, mut model) = booted(Peer::Answers);
    assert_eq!(tunnel_state(&status_json(&gw, &model)), "up");
    model.peer(PEER, Peer::Silent);
    model.rekey(P2);
    assert_eq!(tunnel_state(&status_json(&gw, &model)), "up");
    model.peer(PEER, Peer::Answers);
    model.answer(PEER);
    assert!(model.report().contains("Flags 0x0000000b\n"));
    assert_eq!(tunnel_state(&status_json(&gw, &model)), "up");
}
