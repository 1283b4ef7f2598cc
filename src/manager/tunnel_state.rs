//! A tunnel's state, read from isakmpd's SAs and the kernel's flows.
//!
//! What isakmpd's `S` report (sa.c: sa_dump_all) tells, and what it does
//! not, as the real daemon shows it:
//! - An SA is named only when its exchange finishes (exchange.c:
//!   exchange_finalize), so every SA still negotiating is `<unnamed>`.
//! - A phase 2 SA in negotiation has its transport (the peer's address);
//!   an initiator phase 1 in flight has none (`<no transport>` until the
//!   peer answers) and prints `/Responder`, as `sa->initiator` is set in
//!   exchange_finalize too: which peer it is with cannot be told.
//! - SA_FLAG_READY is set in exchange_finalize before the IPsec DOI
//!   installs the SAs and flows (ipsec.c: ipsec_finalize_exchange), which
//!   may give up; only the kernel's flows say the tunnel carries traffic.
//! - A replaced SA (SA_FLAG_REPLACED, after a rekey or both sides
//!   initiating) keeps its flag READY until it expires; the new SA is the
//!   one in use.

use std::collections::HashMap;

use crate::system::report::IsakmpdSa;

/// isakmpd's SAs, looked up by name and by peer.
pub struct SaIndex<'a> {
    by_name: HashMap<&'a str, Vec<&'a IsakmpdSa>>,
    by_peer: HashMap<&'a str, Vec<&'a IsakmpdSa>>,
    /// Initiator phase 1 exchanges in flight, with no peer to tell.
    phase1_in_flight: usize,
}

impl<'a> SaIndex<'a> {
    pub fn new(sas: &'a [IsakmpdSa]) -> Self {
        let mut index = SaIndex {
            by_name: HashMap::new(),
            by_peer: HashMap::new(),
            phase1_in_flight: 0,
        };
        for sa in sas {
            index.by_name.entry(sa.name.as_str()).or_default().push(sa);
            if let Some(dst) = sa.dst.as_deref() {
                index.by_peer.entry(dst).or_default().push(sa);
            } else if sa.initiator_in_flight() {
                index.phase1_in_flight += 1;
            }
        }
        index
    }

    fn named(&self, phase: u8, name: &str) -> impl Iterator<Item = &'a IsakmpdSa> + '_ {
        let all = self.by_name.get(name).map_or(&[][..], Vec::as_slice);
        all.iter().filter(move |s| s.phase == phase).copied()
    }

    fn to_peer(&self, phase: u8, peer: Option<&str>) -> impl Iterator<Item = &'a IsakmpdSa> + '_ {
        let all = peer
            .and_then(|p| self.by_peer.get(p))
            .map_or(&[][..], Vec::as_slice);
        all.iter().filter(move |s| s.phase == phase).copied()
    }

    /// Whether isakmpd has started a phase 1 exchange it cannot yet say
    /// the peer of.
    pub fn phase1_in_flight(&self) -> bool {
        self.phase1_in_flight > 0
    }
}

/// In use: ready and not replaced.
pub fn live(sa: &IsakmpdSa) -> bool {
    sa.ready() && !sa.replaced()
}

/// Still negotiating: not ready (a replaced SA is ready).
fn negotiating(sa: &IsakmpdSa) -> bool {
    !sa.ready()
}

/// One tunnel as status sees it.
pub struct TunnelFacts<'a> {
    pub phase1: &'a str,
    pub phase2: &'a str,
    pub peer: Option<&'a str>,
    /// The kernel has its outbound flow (`ipsecctl -sa`).
    pub flow_installed: bool,
    /// isakmpd keeps it on `[Phase 2]:Connections` (not passive, not held
    /// down): it starts exchanges for it itself.
    pub active: bool,
    /// Held down with `down`: on neither list, so no exchange with its
    /// peer is for it (isakmpd refuses its quick modes).
    pub held_down: bool,
}

/// A tunnel's state:
/// - `up`: a live phase 2 SA of its name, and its flow in the kernel;
/// - `not-installed`: isakmpd calls an SA of its name ready, the kernel
///   lacks its flow;
/// - `flows-only`: the kernel carries its networks, under an SA of
///   another name (isakmpd's passive lookup matched a neighbour);
/// - `negotiating`: an exchange for it is in flight;
/// - `phase1-only`: a live phase 1 with its peer, no phase 2;
/// - `down`: nothing.
pub fn tunnel_state(index: &SaIndex, t: &TunnelFacts) -> &'static str {
    let phase2_live = index.named(2, t.phase2).any(live);
    let phase2_negotiating = index.named(2, t.phase2).any(negotiating)
        || (!t.held_down
            && index
                .to_peer(2, t.peer)
                .any(|sa| sa.unnamed() && negotiating(sa)));
    let phase1_live = index
        .named(1, t.phase1)
        .chain(index.to_peer(1, t.peer))
        .any(live);
    let phase1_negotiating = (!t.held_down
        && index
            .named(1, t.phase1)
            .chain(index.to_peer(1, t.peer))
            .any(negotiating))
        // an exchange isakmpd started may be with this peer
        || (t.active && !phase1_live && index.phase1_in_flight());
    match () {
        _ if phase2_live && t.flow_installed => "up",
        _ if phase2_live => "not-installed",
        _ if t.flow_installed => "flows-only",
        _ if phase2_negotiating => "negotiating",
        // another tunnel's phase 1 with the peer says nothing of a
        // held-down one
        _ if phase1_live && !t.held_down => "phase1-only",
        _ if phase1_negotiating => "negotiating",
        _ => "down",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(name: &str, phase: u8, dst: Option<&str>, flags: u32) -> IsakmpdSa {
        IsakmpdSa {
            name: name.into(),
            phase,
            src: dst.map(|_| "192.0.2.1".into()),
            dst: dst.map(str::to_string),
            flags: Some(flags),
            icookie: None,
        }
    }

    const PEER: Option<&str> = Some("198.51.2.1");

    fn state(sas: &[IsakmpdSa], flow_installed: bool, active: bool) -> &'static str {
        let facts = TunnelFacts {
            phase1: "peer-198.51.2.1",
            phase2: "p2",
            peer: PEER,
            flow_installed,
            active,
            held_down: false,
        };
        tunnel_state(&SaIndex::new(sas), &facts)
    }

    #[test]
    fn up_needs_a_live_sa_and_the_kernel_flow() {
        let sas = [
            sa("peer-198.51.2.1", 1, PEER, 0x01),
            sa("p2", 2, PEER, 0x03),
        ];
        assert_eq!(state(&sas, true, true), "up");
        assert_eq!(state(&sas, false, true), "not-installed");
        let replaced = [
            sa("peer-198.51.2.1", 1, PEER, 0x01),
            sa("p2", 2, PEER, 0x0b),
        ];
        assert_eq!(state(&replaced, false, true), "phase1-only");
        assert_eq!(state(&replaced, true, true), "flows-only");
    }

    #[test]
    fn an_unnamed_sa_in_flight_is_negotiating() {
        let phase2 = [
            sa("peer-198.51.2.1", 1, PEER, 0x01),
            sa("<unnamed>", 2, PEER, 0x00),
        ];
        assert_eq!(state(&phase2, false, true), "negotiating");
        let phase1 = [sa("<unnamed>", 1, None, 0x00)];
        assert_eq!(state(&phase1, false, true), "negotiating");
        // a passive tunnel starts no exchange: one in flight is another's
        assert_eq!(state(&phase1, false, false), "down");
        assert_eq!(state(&[], false, true), "down");
        let responder = [sa("<unnamed>", 1, PEER, 0x00)];
        assert_eq!(state(&responder, false, false), "negotiating");
    }

    #[test]
    fn a_held_down_tunnel_negotiates_nothing_with_its_peer() {
        // the peer re-initiating it is refused: still down
        let sas = [
            sa("<unnamed>", 2, PEER, 0x00),
            sa("<unnamed>", 1, PEER, 0),
            sa("peer-198.51.2.1", 1, PEER, 0x03),
        ];
        let facts = TunnelFacts {
            phase1: "peer-198.51.2.1",
            phase2: "p2",
            peer: PEER,
            flow_installed: false,
            active: false,
            held_down: true,
        };
        assert_eq!(tunnel_state(&SaIndex::new(&sas), &facts), "down");
    }
}
