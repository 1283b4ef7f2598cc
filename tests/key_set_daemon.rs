//! `ipsecmgr key set` on OpenBSD's real isakmpd (tests/common/daemon.rs):
//! gateway A (127.0.0.1), driven by ipsecmgr in the keys layout, with two
//! customers, each its own peer daemon and key: acme on B (127.0.0.2),
//! globex on C (127.0.0.3).  A rotates acme's key alone:
//!
//! - right after `key set`, every SA of both customers keeps its SPI, and
//!   acme's phase 1 SA stays (isakmpd reads `[peer-…]:Authentication` only
//!   when a phase 1 computes its keys: ike_auth.c, ike_auth_get_key from
//!   pre_shared_gen_skeyid; `C set … force` replaces the value and touches
//!   no SA: conf.c, conf_set_now);
//! - a new phase 1 with B, forced, negotiates with the new key when B has
//!   it, and fails when B still has the old one, while globex's SAs keep
//!   their SPIs through both;
//! - while acme fails and retries so, `key set` back to B's key is not
//!   held back, and acme comes up; A runs under AddressSanitizer
//!   throughout.
//!
//! A's rule is active and the peers' passive, so every phase 1 of the
//! test is one A starts, with A's key.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::daemon::{Daemons, Sa, Setup, Timers, eventually, throughout};

const ACME_OLD: &str = "acme-old-key-0123456789abcdef";
const ACME_NEW: &str = "acme-new-key-fedcba9876543210";
const ACME_NEWER: &str = "acme-newer-key-55aa55aa55aa55aa";
const GLOBEX: &str = "globex-key-00112233445566778899";

const RUN: Duration = Duration::from_secs(90);

const ACME_TUNNEL: &str = "from-10.1.0.0/24-to-10.2.0.0/24";
const GLOBEX_TUNNEL: &str = "from-10.5.0.0/24-to-10.6.0.0/24";
/// A's phase 1 sections for each peer (ipsecctl's ike.c names them
/// `peer-ADDRESS-local-ADDRESS`).
const ACME_PEER: &str = "peer-127.0.0.2-local-127.0.0.1";
const GLOBEX_PEER: &str = "peer-127.0.0.3-local-127.0.0.1";
/// B's phase 1 section for A.
const B_PEER: &str = "peer-127.0.0.1-local-127.0.0.2";

fn live(sas: &[Sa], name: &str) -> bool {
    sas.iter()
        .any(|s| s.name == name && s.phase == "2" && s.live())
}

/// The SPIs of A's kernel SAs that connection `name` installed.
fn spis(d: &Daemons, name: &str) -> BTreeSet<String> {
    d.kernel('a')
        .into_iter()
        .filter(|e| e.kind == "sa" && e.get("name") == name)
        .map(|e| e.get("spi").to_string())
        .collect()
}

/// The cookies of A's live phase 1 SA with `peer`: which negotiation it is.
fn phase1(d: &Daemons, peer: &str) -> Option<String> {
    d.sas('a')
        .into_iter()
        .find(|s| s.name == peer && s.phase.starts_with('1') && s.live())
        .and_then(|s| s.cookies)
}

fn start() -> Daemons {
    let acme = "ike active esp from 10.1.0.0/24 to 10.2.0.0/24 local 127.0.0.1 peer 127.0.0.2 psk $acme_psk\n";
    let globex = "ike active esp from 10.5.0.0/24 to 10.6.0.0/24 local 127.0.0.1 peer 127.0.0.3 psk $globex_psk\n";
    let b = format!(
        "ike passive esp from 10.2.0.0/24 to 10.1.0.0/24 local 127.0.0.2 peer 127.0.0.1 psk \"{ACME_OLD}\"\n"
    );
    let c = format!(
        "ike passive esp from 10.6.0.0/24 to 10.5.0.0/24 local 127.0.0.3 peer 127.0.0.1 psk \"{GLOBEX}\"\n"
    );
    let keys = format!("acme_psk = \"{ACME_OLD}\"\nglobex_psk = \"{GLOBEX}\"\n");
    let timers = Timers::default();
    let setup = Setup {
        fragments: &[("acme", acme), ("globex", globex)],
        peer: &b,
        timers: timers.clone(),
        // every key set below replaces a value isakmpd may be reading
        asan: true,
    };
    let d = Daemons::start_with_keys(&setup, Some(&keys));
    d.start_third(&c, &timers);
    d
}

fn up(d: &Daemons, name: &str) {
    assert!(
        eventually(Duration::from_secs(60), || live(&d.sas('a'), name)),
        "{name} never came up on A:\n{:?}\nA:\n{}\nB:\n{}\nC:\n{}",
        d.sas('a'),
        d.log('a'),
        d.log('b'),
        d.log('c')
    );
}

/// `key set NAME`, the key on standard input.
fn key_set(d: &Daemons, name: &str, key: &str) -> String {
    let ran = d.ipsecmgr_with_input(&["key", "set", name], Some(&format!("{key}\n")), RUN);
    assert_eq!(ran.code, Some(0), "key set {name}: {ran:?}");
    for k in [ACME_OLD, ACME_NEW, ACME_NEWER, GLOBEX] {
        assert!(
            !ran.stdout.contains(k) && !ran.stderr.contains(k),
            "key set shows a key: {ran:?}"
        );
    }
    format!("{}{}", ran.stdout, ran.stderr)
}

/// Forces a new phase 1 with B: A deletes its phase 1 SA and acme's
/// phase 2 SAs (`t main TAG`, `t NAME`: ui.c, ui_teardown).  `t NAME`
/// also takes acme off the active connections (connection_teardown), and
/// only a change of `[Phase 2]:Connections` reinitialises them, so `c NAME`
/// puts it back (ui_connect, connection_setup), whose checker starts it at
/// once; that needs a phase 1.
fn force_new_phase1(d: &Daemons) {
    d.send(
        'a',
        &[
            &format!("t main {ACME_PEER}"),
            &format!("t {ACME_TUNNEL}"),
            &format!("c {ACME_TUNNEL}"),
        ],
    );
}

#[test]
fn key_set_rotates_one_customer_and_the_next_phase_1_uses_the_new_key() {
    crate::require_daemons!();
    let d = start();
    up(&d, ACME_TUNNEL);
    up(&d, GLOBEX_TUNNEL);
    assert!(
        eventually(Duration::from_secs(30), || d.sas('a').iter().all(Sa::ready)),
        "A keeps negotiating: {:?}",
        d.sas('a')
    );
    let acme_spis = spis(&d, ACME_TUNNEL);
    let globex_spis = spis(&d, GLOBEX_TUNNEL);
    let acme_p1 = phase1(&d, ACME_PEER).expect("acme's phase 1");
    assert!(!acme_spis.is_empty() && !globex_spis.is_empty());

    // B learns the new key first (its operator's change), then A rotates
    d.send(
        'b',
        &[&format!("C set [{B_PEER}]:Authentication={ACME_NEW} force")],
    );
    let said = key_set(&d, "acme_psk", ACME_NEW);
    assert!(said.contains("key set acme_psk: done"), "{said}");
    assert_eq!(
        d.get('a', &format!("[{ACME_PEER}]:Authentication")),
        ACME_NEW
    );
    assert_eq!(
        d.get('a', &format!("[{GLOBEX_PEER}]:Authentication")),
        GLOBEX
    );
    assert!(d.path("etc/ipsec.keys").exists());
    // every SA kept, acme's phase 1 too, for a while
    assert!(
        throughout(Duration::from_secs(6), || {
            spis(&d, ACME_TUNNEL) == acme_spis
                && spis(&d, GLOBEX_TUNNEL) == globex_spis
                && phase1(&d, ACME_PEER).as_ref() == Some(&acme_p1)
        }),
        "an SA changed after key set:\n{:?}\n{:?}",
        d.sas('a'),
        d.kernel('a')
    );
    // ipsecctl was never run: one FIFO line changed isakmpd
    assert!(d.ipsecctl_calls().is_empty(), "{:?}", d.ipsecctl_calls());

    // the next phase 1 with B negotiates, with the new key
    force_new_phase1(&d);
    assert!(
        eventually(Duration::from_secs(60), || {
            live(&d.sas('a'), ACME_TUNNEL)
                && phase1(&d, ACME_PEER).is_some_and(|c| c != acme_p1)
                && !spis(&d, ACME_TUNNEL).is_subset(&acme_spis)
        }),
        "no new phase 1 with B on the new key:\n{:?}\n{}",
        d.sas('a'),
        d.log('a')
    );
    let acme_new_spis = spis(&d, ACME_TUNNEL);
    assert_eq!(spis(&d, GLOBEX_TUNNEL), globex_spis, "globex's SAs changed");

    // A rotates again, B keeps the key it has: acme's next phase 1 fails,
    // and that is all that fails
    key_set(&d, "acme_psk", ACME_NEWER);
    force_new_phase1(&d);
    assert!(
        throughout(Duration::from_secs(25), || {
            !live(&d.sas('a'), ACME_TUNNEL)
                && live(&d.sas('a'), GLOBEX_TUNNEL)
                && spis(&d, GLOBEX_TUNNEL) == globex_spis
        }),
        "with different keys on A and B, acme came up or globex changed:\n{:?}\n{:?}",
        d.sas('a'),
        d.kernel('a')
    );
    assert!(phase1(&d, ACME_PEER).is_none(), "{:?}", d.sas('a'));
    // the usual rotation: the peer has a key A lacks, and acme keeps
    // failing and retrying (connection_checker, every Check-interval).
    // key set is not held back by those exchanges (a load of rules would
    // be: manager/quiet.rs), and no exchange reads freed memory: isakmpd
    // copies a key when it reads it (ike_auth.c: ike_auth_get_key)
    let said = key_set(&d, "acme_psk", ACME_NEW);
    assert!(said.contains("key set acme_psk: done"), "{said}");
    // given B's key, the very next attempt succeeds: the key was all
    up(&d, ACME_TUNNEL);
    assert!(
        !d.log('a').contains("AddressSanitizer"),
        "A under AddressSanitizer:\n{}",
        d.log('a')
    );
    assert_eq!(spis(&d, GLOBEX_TUNNEL), globex_spis, "globex's SAs changed");
    eprintln!(
        "key set figures: acme SPIs before {acme_spis:?}, after the new phase 1 {acme_new_spis:?}, \
         now {:?}; globex SPIs throughout {globex_spis:?}",
        spis(&d, ACME_TUNNEL)
    );
}
