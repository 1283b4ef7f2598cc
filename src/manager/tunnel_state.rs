//! A tunnel's state, read from isakmpd's SAs.

use std::collections::HashMap;

use crate::system::report::IsakmpdSa;

/// isakmpd's SAs, looked up by name and by peer.
pub struct SaIndex<'a> {
    by_name: HashMap<&'a str, Vec<&'a IsakmpdSa>>,
    phase1_by_peer: HashMap<&'a str, Vec<&'a IsakmpdSa>>,
}

impl<'a> SaIndex<'a> {
    pub fn new(sas: &'a [IsakmpdSa]) -> Self {
        let mut index = SaIndex {
            by_name: HashMap::new(),
            phase1_by_peer: HashMap::new(),
        };
        for sa in sas {
            index.by_name.entry(sa.name.as_str()).or_default().push(sa);
            if let (1, Some(dst)) = (sa.phase, sa.dst.as_deref()) {
                index.phase1_by_peer.entry(dst).or_default().push(sa);
            }
        }
        index
    }

    fn named(&self, phase: u8, name: &str) -> Vec<&'a IsakmpdSa> {
        let all = self.by_name.get(name).map_or(&[][..], Vec::as_slice);
        all.iter().filter(|s| s.phase == phase).copied().collect()
    }

    /// The phase 1 SAs of a tunnel: by its phase 1 name, or to its peer
    /// (an SA the peer started is named after `[Phase 1]:<address>`, or
    /// not at all while it negotiates).
    fn phase1(&self, name: &str, peer: Option<&str>) -> Vec<&'a IsakmpdSa> {
        let mut found = self.named(1, name);
        if let Some(list) = peer.and_then(|p| self.phase1_by_peer.get(p)) {
            found.extend(list.iter().filter(|s| s.name != name));
        }
        found
    }
}

/// A tunnel's state: up, negotiating, phase1-only (half up), or down.
/// Only the ready flag (sa.h: SA_FLAG_READY, set when the exchange
/// finished) means established; an SA without it is still being
/// negotiated.  An SA a rekey replaced still carries traffic until it
/// expires.
pub fn tunnel_state(
    index: &SaIndex,
    phase1: &str,
    phase2: &str,
    peer: Option<&str>,
) -> &'static str {
    let phase2 = index.named(2, phase2);
    let phase1 = index.phase1(phase1, peer);
    if phase2.iter().any(|sa| sa.ready()) {
        "up"
    } else if !phase2.is_empty() {
        "negotiating"
    } else if phase1.iter().any(|sa| sa.ready()) {
        "phase1-only"
    } else if !phase1.is_empty() {
        "negotiating"
    } else {
        "down"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(name: &str, phase: u8, dst: &str, flags: u32) -> IsakmpdSa {
        IsakmpdSa {
            name: name.into(),
            phase,
            src: Some("192.0.2.1".into()),
            dst: Some(dst.into()),
            flags: Some(flags),
        }
    }

    #[test]
    fn only_the_ready_flag_means_up() {
        let sas = vec![
            sa("peer-198.51.2.1", 1, "198.51.2.1", 0x01),
            sa("p2", 2, "198.51.2.1", 0x00),
        ];
        let index = SaIndex::new(&sas);
        let state =
            |index: &SaIndex| tunnel_state(index, "peer-198.51.2.1", "p2", Some("198.51.2.1"));
        assert_eq!(state(&index), "negotiating");
        let sas = vec![sa("peer-198.51.2.1", 1, "198.51.2.1", 0x00)];
        assert_eq!(state(&SaIndex::new(&sas)), "negotiating");
        let sas = vec![sa("peer-198.51.2.1", 1, "198.51.2.1", 0x01)];
        assert_eq!(state(&SaIndex::new(&sas)), "phase1-only");
        let sas = vec![sa("p2", 2, "198.51.2.1", 0x09)];
        assert_eq!(state(&SaIndex::new(&sas)), "up");
        assert_eq!(state(&SaIndex::new(&[])), "down");
    }
}
