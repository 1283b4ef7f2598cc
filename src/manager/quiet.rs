//! Loading rules only when no exchange can be hurt by it.
//!
//! `ipsecctl -f` of a rule for peer P sends `C set [P]:Configuration=…
//! force` again, unchanged or not, and isakmpd frees the old value
//! (conf.c: conf_set_now removes the old binding).  A phase 1 exchange
//! this side started holds a pointer to that value (exchange.c:
//! exchange_establish_p1 keeps it in exchange->policy) and reads it when
//! the peer's answer comes (ike_phase_1.c: ike_phase_1_validate_prop):
//! a use after free, which AddressSanitizer shows on the real daemon
//! (tests/isakmpd_daemon.rs).  A quick mode waiting for that phase 1
//! reads its own policy the same way.  A responder's exchange reads its
//! policy only while handling the first message, so only exchanges this
//! side started count.
//!
//! Such an exchange shows in isakmpd's `S` report as an unnamed phase 1
//! SA, not ready, with no transport: isakmpd does not say which peer it is
//! with.  It cannot be with a peer that already has a live phase 1 SA:
//! isakmpd then negotiates quick mode over that SA at once
//! (exchange.c: exchange_establish_p2).  Nor with a peer isakmpd has no
//! reason to start one with (see [`crate::manager::plan::Plan`]'s
//! `initiating`).  And while a connection that stays up keeps a peer
//! without phase 1 SA (connection.c: connection_checker retries it every
//! Check-interval), a new exchange may start at any moment, so waiting
//! for a quiet instant would only race it: such a load is refused.
//! The exchanges of connections a run takes away end within
//! Exchange-max-time; a load for their peer waits for them.

use std::time::{Duration, Instant};

use crate::manager::gateway::Gateway;
use crate::manager::sections::ike_sections;
use crate::manager::teardown::ikes;
use crate::manager::tunnel_state::live;
use crate::system::report::{self, IsakmpdSa};

/// How long isakmpd has to write one `S` report.
const REPORT_WAIT: Duration = Duration::from_secs(10);
/// How often a wait asks again.
const POLL: Duration = Duration::from_millis(500);

/// A phase 1 peer whose sections a load re-sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub tag: String,
    pub address: Option<String>,
}

/// The phase 1 peers of the ike rules in `text`.
pub fn peers_of(gw: &Gateway, text: &[u8]) -> Vec<Peer> {
    let compiled = gw.compile_text("ipsecctl input", text);
    let mut peers: Vec<Peer> = Vec::new();
    for ike in ikes(compiled.rules.iter()) {
        let s = ike_sections(ike);
        let peer = Peer {
            tag: s.phase1,
            address: s.peer_address,
        };
        if !peers.contains(&peer) {
            peers.push(peer);
        }
    }
    peers
}

/// Whether `p` has a live phase 1 SA.
fn has_phase_1(sas: &[IsakmpdSa], p: &Peer) -> bool {
    sas.iter().any(|sa| {
        sa.phase == 1 && live(sa) && (sa.name == p.tag || (sa.dst.is_some() && sa.dst == p.address))
    })
}

/// The peers among `peers` a connection that stays up keeps starting
/// exchanges with (`kept`), which have no live phase 1 SA.
pub fn blocked<'a>(sas: &[IsakmpdSa], peers: &'a [Peer], kept: &[String]) -> Vec<&'a Peer> {
    peers
        .iter()
        .filter(|p| kept.contains(&p.tag) && !has_phase_1(sas, p))
        .collect()
}

/// The peers among `peers` that an exchange in flight may be with: isakmpd
/// may have started one with them (`initiating`: see
/// [`crate::manager::plan::Plan::initiating`]), they have no live phase 1
/// SA, and some phase 1 this side started is in flight.
pub fn busy<'a>(sas: &[IsakmpdSa], peers: &'a [Peer], initiating: &[String]) -> Vec<&'a Peer> {
    if !sas.iter().any(IsakmpdSa::initiator_in_flight) {
        return Vec::new();
    }
    peers
        .iter()
        .filter(|p| initiating.contains(&p.tag) && !has_phase_1(sas, p))
        .collect()
}

pub fn report(gw: &Gateway) -> Result<Vec<IsakmpdSa>, String> {
    let text = report::isakmpd_report(&gw.fifo, &gw.result, REPORT_WAIT)?;
    Ok(report::parse_sa_report(&text))
}

fn names(peers: &[&Peer]) -> String {
    let names: Vec<String> = peers
        .iter()
        .map(|p| match &p.address {
            Some(a) => format!("{} ({a})", p.tag),
            None => p.tag.clone(),
        })
        .collect();
    names.join(", ")
}

/// Why loading for `blocked` peers is refused, for the user.
pub fn why_blocked(blocked: &[&Peer], waited: Duration) -> String {
    let waited = if waited.is_zero() {
        String::new()
    } else {
        format!(" (waited {} s)", waited.as_secs())
    };
    format!(
        "{} has no phase 1 SA, and tunnels that stay up keep isakmpd starting exchanges with it{waited}: \
         loading for it now would send `C set [{}]:Configuration=... force` again, and isakmpd frees the \
         old value while such an exchange still points into it (a use after free in isakmpd). Run it \
         again once the peer answers (--wait SECONDS waits for its phase 1), or take the tunnels that \
         keep trying to reach it down first (`ipsecmgr down NAME`)",
        names(blocked),
        blocked.first().map_or("", |p| p.tag.as_str())
    )
}

/// Why loading for `peers` must wait, for the user.
pub fn why(busy: &[&Peer], waited: Duration) -> String {
    let waited = if waited.is_zero() {
        String::new()
    } else {
        format!(" (waited {} s)", waited.as_secs())
    };
    format!(
        "isakmpd has a phase 1 exchange in flight that may be with {}, which has no phase 1 SA{waited}: \
         loading now would send `C set [{}]:Configuration=... force` again, and isakmpd frees the old \
         value while that exchange still points into it (a use after free in isakmpd). --wait SECONDS \
         waits for the exchange to end (isakmpd gives up on it after Exchange-max-time, 120 s by \
         default)",
        names(busy),
        busy.first().map_or("", |p| p.tag.as_str())
    )
}

/// Before a plan loads rules for `peers`: refuses when a tunnel that
/// stays up keeps isakmpd starting exchanges with one that has no phase 1
/// SA (waiting up to `wait` for its phase 1), and, without `wait`, when an
/// exchange in flight may be with one (the load would have to wait).
pub fn check_before(
    gw: &Gateway,
    peers: &[Peer],
    initiating: &[String],
    kept: &[String],
    wait: Option<Duration>,
) -> Result<(), String> {
    if !peers.iter().any(|p| initiating.contains(&p.tag)) {
        return Ok(());
    }
    let start = Instant::now();
    let bound = wait.unwrap_or_default();
    loop {
        let sas = report(gw)?;
        let blocked = blocked(&sas, peers, kept);
        if blocked.is_empty() {
            let busy = busy(&sas, peers, initiating);
            if wait.is_none() && !busy.is_empty() {
                return Err(why(&busy, Duration::ZERO));
            }
            return Ok(());
        }
        if start.elapsed() >= bound {
            return Err(why_blocked(&blocked, start.elapsed()));
        }
        std::thread::sleep(POLL.min(bound.saturating_sub(start.elapsed())));
    }
}

/// Returns once no exchange in flight may be with `peers`, asking isakmpd
/// every half second for at most `bound`; else why not.
pub fn wait_until_quiet(
    gw: &Gateway,
    peers: &[Peer],
    initiating: &[String],
    bound: Duration,
) -> Result<(), String> {
    if !peers.iter().any(|p| initiating.contains(&p.tag)) {
        return Ok(());
    }
    let start = Instant::now();
    loop {
        let sas = report(gw)?;
        let busy = busy(&sas, peers, initiating);
        if busy.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= bound {
            return Err(why(&busy, start.elapsed()));
        }
        std::thread::sleep(POLL.min(bound.saturating_sub(start.elapsed())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(name: &str, dst: Option<&str>, flags: u32) -> IsakmpdSa {
        IsakmpdSa {
            name: name.into(),
            phase: 1,
            src: dst.map(|_| "192.0.2.1".into()),
            dst: dst.map(str::to_string),
            flags: Some(flags),
            icookie: Some("0123456789abcdef".into()),
        }
    }

    #[test]
    fn only_a_peer_without_phase_1_may_be_in_flight() {
        let peers = [
            Peer {
                tag: "peer-a".into(),
                address: Some("198.51.100.1".into()),
            },
            Peer {
                tag: "peer-b".into(),
                address: Some("198.51.100.2".into()),
            },
        ];
        let both = ["peer-a".to_string(), "peer-b".to_string()];
        let in_flight = sa("<unnamed>", None, 0);
        let a_up = sa("peer-a", Some("198.51.100.1"), 0x03);
        assert!(busy(std::slice::from_ref(&a_up), &peers, &both).is_empty());
        let got = busy(&[a_up.clone(), in_flight.clone()], &peers, &both);
        assert_eq!(got, [&peers[1]]);
        // a responder's exchange has its transport: it holds no pointer
        let responder = sa("<unnamed>", Some("198.51.100.2"), 0);
        assert!(busy(&[responder], &peers, &both).is_empty());
        // a replaced phase 1 is no live one
        let replaced = sa("peer-a", Some("198.51.100.1"), 0x0b);
        assert_eq!(busy(&[replaced, in_flight.clone()], &peers, &both).len(), 2);
        // a peer isakmpd has no reason to start an exchange with (a new
        // one) cannot be the one in flight
        let only_a = ["peer-a".to_string()];
        assert!(busy(&[in_flight], &peers[1..], &only_a).is_empty());
        // a peer a staying tunnel keeps trying is blocked, in flight or not
        assert_eq!(blocked(&[], &peers, &only_a), [&peers[0]]);
        assert!(blocked(&[a_up], &peers, &only_a).is_empty());
    }
}
