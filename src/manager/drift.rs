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

/// Compares isakmpd's `[Phase 2]:Connections` with the connections the
/// fragments (and ipsec.conf) have.  Passive connections are listed under
/// `Passive-Connections` instead, so they are never missing from it.
/// `held_down`: connections taken down to stay down; isakmpd holding one
/// again means something reloaded it.  With `only`, just that fragment's.
pub fn drift(
    expected: &[Expected],
    held_down: &HashSet<String>,
    isakmpd: &[String],
    only: Option<&str>,
) -> Drift {
    let held: HashSet<&str> = isakmpd.iter().map(String::as_str).collect();
    let known: HashSet<&str> = expected.iter().map(|(_, c, _)| c.as_str()).collect();
    let wanted = |fragment: &Option<String>| only.is_none_or(|n| fragment.as_deref() == Some(n));
    let mut d = Drift::default();
    if only.is_none() {
        d.unknown = isakmpd
            .iter()
            .filter(|c| !known.contains(c.as_str()))
            .cloned()
            .collect();
    }
    for (fragment, connection, passive) in expected.iter().filter(|(f, _, _)| wanted(f)) {
        let entry = || Connection {
            fragment: fragment.clone().unwrap_or_default(),
            connection: connection.clone(),
        };
        let holds = held.contains(connection.as_str());
        if held_down.contains(connection) {
            if holds {
                d.held_down_active.push(entry());
            }
        } else if !holds && !passive {
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
        let d = drift(
            &expected,
            &held,
            &["c1".into(), "x".into(), "c3".into()],
            None,
        );
        assert_eq!(d.unknown, ["x"]);
        assert_eq!(d.missing.len(), 1);
        assert_eq!(d.missing[0].connection, "c2");
        assert_eq!(d.held_down_active[0].connection, "c3");
        let d = drift(&expected, &held, &["x".into()], Some("b"));
        assert!(d.unknown.is_empty() && d.missing.is_empty() && d.held_down_active.is_empty());
    }
}
