//! Drift: how isakmpd's connection list differs from the connections the
//! fragments (and ipsec.conf) have.

use std::collections::HashSet;

use serde::Serialize;

/// A connection and the fragment it belongs to.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub fragment: String,
    pub connection: String,
}

/// How isakmpd's `[Phase 2]:Connections` differs from the fragments'.
#[derive(Serialize, Debug, Default, PartialEq, Eq)]
pub struct Drift {
    /// Connections isakmpd holds that no fragment (nor ipsec.conf) has.
    pub unknown: Vec<String>,
    /// Fragments' connections isakmpd does not hold.
    pub missing: Vec<Connection>,
    /// Connections held down that isakmpd holds again.
    pub held_down_active: Vec<Connection>,
}

/// A connection the configuration has: its fragment (`None`: ipsec.conf
/// itself), its name, and whether it is passive.
pub type Expected = (Option<String>, String, bool);

/// isakmpd's two connection lists: `[Phase 2]:Connections` (it starts
/// those itself) and `Passive-Connections` (it only answers for those).
#[derive(Debug, Default, Clone)]
pub struct Lists {
    pub active: Vec<String>,
    pub passive: Vec<String>,
}

/// Compares isakmpd's connection lists with the connections the fragments
/// (and ipsec.conf) have: each connection on its own list, active ones on
/// `Connections`, passive ones on `Passive-Connections`.  `held_down`:
/// connections taken down to stay down; isakmpd holding one again, on
/// either list, means something reloaded it.  With `only`, just that
/// fragment's.
pub fn drift(
    expected: &[Expected],
    held_down: &HashSet<String>,
    isakmpd: &Lists,
    only: Option<&str>,
) -> Drift {
    let active: HashSet<&str> = isakmpd.active.iter().map(String::as_str).collect();
    let passive: HashSet<&str> = isakmpd.passive.iter().map(String::as_str).collect();
    let known: HashSet<&str> = expected.iter().map(|(_, c, _)| c.as_str()).collect();
    let wanted = |fragment: &Option<String>| only.is_none_or(|n| fragment.as_deref() == Some(n));
    let mut d = Drift::default();
    if only.is_none() {
        for c in isakmpd.active.iter().chain(&isakmpd.passive) {
            if !known.contains(c.as_str()) && !d.unknown.contains(c) {
                d.unknown.push(c.clone());
            }
        }
    }
    for (fragment, connection, is_passive) in expected.iter().filter(|(f, _, _)| wanted(f)) {
        let entry = || Connection {
            fragment: fragment.clone().unwrap_or_default(),
            connection: connection.clone(),
        };
        let name = connection.as_str();
        if held_down.contains(connection) {
            if active.contains(name) || passive.contains(name) {
                d.held_down_active.push(entry());
            }
        } else if !(if *is_passive { &passive } else { &active }).contains(name) {
            d.missing.push(entry());
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_both_ways_and_held_down() {
        let expected = vec![
            (Some("a".to_string()), "c1".to_string(), false),
            (Some("a".to_string()), "c2".to_string(), false),
            (Some("b".to_string()), "p1".to_string(), true),
            (Some("b".to_string()), "c3".to_string(), false),
        ];
        let held: HashSet<String> = ["c3".to_string()].into();
        let lists = |active: &[&str], passive: &[&str]| Lists {
            active: active.iter().map(|s| s.to_string()).collect(),
            passive: passive.iter().map(|s| s.to_string()).collect(),
        };
        let d = drift(&expected, &held, &lists(&["c1", "x", "c3"], &["p1"]), None);
        assert_eq!(d.unknown, ["x"]);
        assert_eq!(d.missing.len(), 1);
        assert_eq!(d.missing[0].connection, "c2");
        assert_eq!(d.held_down_active[0].connection, "c3");
        let d = drift(&expected, &held, &lists(&["x"], &["p1"]), Some("b"));
        assert!(d.unknown.is_empty() && d.missing.is_empty() && d.held_down_active.is_empty());
        // the passive list is read too: what is missing from it, what only
        // it has, and a held-down connection back on it
        let d = drift(&expected, &held, &lists(&["c1", "c2"], &["y", "c3"]), None);
        assert_eq!(d.unknown, ["y"]);
        assert_eq!(d.missing[0].connection, "p1");
        assert_eq!(d.held_down_active[0].connection, "c3");
    }
}
