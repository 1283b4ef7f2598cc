//! The isakmpd configuration sections an ike rule creates, read off the
//! commands the emitter writes for it, so that removing them names exactly
//! what adding them named.

use crate::emit::isakmpd;
use crate::emit::tags;
use crate::rules::model::{Ike, IkeMode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSections {
    /// The phase 1 (peer) tag.
    pub phase1: String,
    /// Its key under `[Phase 1]`: the peer's address, or `Default`.
    pub phase1_key: String,
    /// `[peer-..]`, `[phase1-peer-..]`, its transform and lifetime sections.
    pub phase1_sections: Vec<String>,
    /// `[id-..]` sections of the phase 1 identities.
    pub id_sections: Vec<String>,
    /// The phase 2 (connection) tag.
    pub phase2: String,
    /// `[from-..-to-..]`, `[phase2-..]`, its suite, protocol, transform and
    /// lifetime sections.
    pub phase2_sections: Vec<String>,
    /// `[from-..]`, `[to-..]`, `[nat-..]`: the phase 2 identities.
    pub network_ids: Vec<String>,
    pub peer_address: Option<String>,
    pub passive: bool,
}

/// Only the `[id-..]` sections of `ike`: what [`ike_sections`] finds, read
/// off the rule instead (the emitter writes them after a phase 1 transform
/// isakmpd can use).
pub fn id_sections(ike: &Ike) -> Vec<String> {
    if isakmpd::phase1_transform(ike).is_err() {
        return Vec::new();
    }
    let mut ids: Vec<String> = [&ike.srcid, &ike.dstid]
        .into_iter()
        .flatten()
        .map(|id| tags::id_section(&id.name))
        .collect();
    ids.dedup();
    ids
}

/// The sections `ike` puts into isakmpd's configuration.
pub fn ike_sections(ike: &Ike) -> IkeSections {
    let tags = tags::ike_tags(ike);
    let mut text = String::new();
    // a transform isakmpd cannot use stops the commands part-way, as the
    // same emitter did when they were sent: what was sent is what counts
    let _ = isakmpd::add_commands(ike, &mut text, false);
    let mut s = IkeSections {
        phase1: tags.phase1.clone(),
        phase1_key: ike
            .peer
            .as_ref()
            .map_or("Default".to_string(), |p| p.name.clone()),
        phase1_sections: Vec::new(),
        id_sections: Vec::new(),
        phase2: tags.phase2.clone(),
        phase2_sections: Vec::new(),
        network_ids: Vec::new(),
        peer_address: ike.peer.as_ref().map(|p| p.name.clone()),
        passive: ike.mode == IkeMode::Passive,
    };
    let ids = [
        Some(&tags.local_id),
        Some(&tags.remote_id),
        tags.nat_id.as_ref(),
    ];
    for line in text.lines() {
        let Some(section) = line
            .strip_prefix("C set [")
            .or_else(|| line.strip_prefix("C add ["))
            .and_then(|rest| rest.split_once("]:"))
            .map(|(section, _)| section.to_string())
        else {
            continue;
        };
        let list = if matches!(section.as_str(), "Phase 1" | "Phase 2" | "General") {
            continue;
        } else if section == tags.phase1 || section.starts_with("phase1-") {
            &mut s.phase1_sections
        } else if section.starts_with("id-") {
            &mut s.id_sections
        } else if ids.contains(&Some(&section)) {
            &mut s.network_ids
        } else {
            &mut s.phase2_sections
        };
        if !list.contains(&section) {
            list.push(section);
        }
    }
    s
}
