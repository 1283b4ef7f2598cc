//! The records ipsecmgr keeps in its state directory, as data: what a
//! fragment was loaded with, which fragments are held down, which phase 1
//! clean-ups wait (see [`crate::manager::state`] for where each is kept,
//! and [`crate::manager::state_check`] for how one read back is checked).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::emit::isakmpd;
use crate::manager::sections::{IkeSections, ike_sections};
use crate::manager::teardown::ikes;
use crate::rules::model::Rule;

/// What one fragment was loaded with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedRecord {
    /// Per ike rule, in order.
    pub ikes: Vec<IkeSections>,
    /// The FIFO lines `ipsecctl -f` sent for them (keys redacted).
    pub lines: Vec<String>,
}

impl LoadedRecord {
    /// The record of `rules` as compiled now, at the moment they are loaded.
    pub fn of(rules: &[&Rule]) -> LoadedRecord {
        let own = ikes(rules.iter().copied());
        let mut text = String::new();
        for ike in &own {
            // the lines stop where ipsecctl stops them
            if isakmpd::add_commands(ike, &mut text, false).is_err() {
                break;
            }
        }
        LoadedRecord {
            ikes: own.iter().map(|i| ike_sections(i)).collect(),
            lines: text.lines().map(str::to_string).collect(),
        }
    }
}

/// A connection `down` holds down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldConnection {
    /// `Connections` or `Passive-Connections`.
    pub list: String,
    pub name: String,
}

/// Fragment name → its held-down connections.
pub type HeldDown = BTreeMap<String, Vec<HeldConnection>>;

/// A phase 1 clean-up that waits for its peer's exchanges to end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCleanup {
    /// The fragment, and the command that left it (`rm`, `apply`, `down`).
    pub fragment: String,
    pub op: String,
    /// Phase 1 tags and peer addresses whose exchanges are waited for.
    pub peers: Vec<String>,
    pub addresses: Vec<String>,
    /// SA names taken away: any that becomes ready is torn down again
    /// (`t main` for a phase 1 tag, `t` for a connection).
    pub phase1_names: Vec<String>,
    pub phase2_names: Vec<String>,
    /// What was loaded under those peers and goes (empty after `down`,
    /// which removes no configuration).
    pub removed: Vec<IkeSections>,
    /// The initiator phase 1 exchanges in flight when the connections
    /// went, by icookie: isakmpd does not say which peer such an exchange
    /// is with, so any of them may be with these peers.  Filled in by the
    /// first settle after the run; an exchange started later is not for a
    /// connection already gone.
    #[serde(default)]
    pub exchanges: Option<Vec<String>>,
    /// Unix time after which none of `exchanges` can still live: isakmpd
    /// ends an exchange at Exchange-max-time (exchange.c: exchange_create).
    #[serde(default)]
    pub deadline: Option<u64>,
    /// Unix time before which the clean-up is not finished: until
    /// isakmpd's connection reinit (ui.c: ui_conn_reinit, 5 s after the
    /// last list change) the connections' passive records live, and a peer
    /// re-initiating is accepted under a name taken away.
    #[serde(default)]
    pub not_before: u64,
}

/// The connections of `own` as held down.
pub fn held_connections(own: &[IkeSections]) -> Vec<HeldConnection> {
    let mut out: Vec<HeldConnection> = Vec::new();
    for s in own {
        let c = HeldConnection {
            list: s.connection_list().to_string(),
            name: s.phase2.clone(),
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}
