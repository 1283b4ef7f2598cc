//! The isakmpd configuration sections an ike rule creates, read off the
//! commands the emitter writes for it, so that removing them names exactly
//! what adding them named.

use serde::{Deserialize, Serialize};

use crate::emit::isakmpd;
use crate::emit::tags;
use crate::rules::model::{Ike, IkeMode};

/// One value a `C add` put into a list-valued tag: `[section]:tag=value`.
/// isakmpd's `C add` appends to the list (conf.c: conf_set_now via
/// ui_config's "add"), so a fresh value never replaces an old one: the old
/// one is taken out with `C rmv`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ListValue {
    pub section: String,
    pub tag: String,
    pub value: String,
}

/// The names an ike rule's sections are built from, for telling cheaply
/// which rules can share a section: (kind, name); kind 0 is the peer
/// (`None` for the default peer), 1 and 2 the networks, 3 the NAT network,
/// 4 an identity.
pub type SectionKey = (u8, Option<String>);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The values its `C add` lines put into lists.
    pub list_values: Vec<ListValue>,
    /// What its sections are named from (see [`SectionKey`]).
    pub keys: Vec<SectionKey>,
    /// The `[General]` tags it sets (`ike dynamic`: the check intervals).
    #[serde(default)]
    pub general: Vec<String>,
}

impl IkeSections {
    /// The list isakmpd keeps the connection on (connection.c:
    /// connection_init reads both).
    pub fn connection_list(&self) -> &'static str {
        if self.passive {
            "Passive-Connections"
        } else {
            "Connections"
        }
    }
}

/// The names `ike`'s sections are built from.
pub fn section_keys(ike: &Ike) -> Vec<SectionKey> {
    let name = |n: &str| Some(n.to_string());
    let mut keys = vec![
        (0, ike.peer.as_ref().map(|p| p.name.to_string())),
        (1, name(&ike.src.name)),
        (2, name(&ike.dst.name)),
    ];
    if let Some(nat) = &ike.src.nat {
        keys.push((3, name(&nat.name)));
    }
    for id in [&ike.srcid, &ike.dstid].into_iter().flatten() {
        keys.push((4, name(&id.name)));
    }
    keys
}

/// `[section]:tag=value` of a `C add` line.
fn list_value(line: &str) -> Option<ListValue> {
    let rest = line.strip_prefix("C add [")?;
    let (section, rest) = rest.split_once("]:")?;
    let (tag, value) = rest.split_once('=')?;
    let value = value.split(' ').next().unwrap_or(value);
    Some(ListValue {
        section: section.to_string(),
        tag: tag.to_string(),
        value: value.to_string(),
    })
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
            .map_or("Default".to_string(), |p| p.name.to_string()),
        phase1_sections: Vec::new(),
        id_sections: Vec::new(),
        phase2: tags.phase2.clone(),
        phase2_sections: Vec::new(),
        network_ids: Vec::new(),
        peer_address: ike.peer.as_ref().map(|p| p.name.to_string()),
        passive: ike.mode == IkeMode::Passive,
        list_values: text.lines().filter_map(list_value).collect(),
        keys: section_keys(ike),
        general: Vec::new(),
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
        if let Some((tag, _)) = line
            .strip_prefix("C set [General]:")
            .and_then(|rest| rest.split_once('='))
            && !s.general.iter().any(|t| t == tag)
        {
            s.general.push(tag.to_string());
        }
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
