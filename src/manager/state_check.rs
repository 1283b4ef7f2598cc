//! What is read back from the state directory is checked as strictly as
//! what a user types: it names the sections, connections and peers that
//! later runs remove and tear down over isakmpd's FIFO, so a record that
//! was corrupted or planted must not make them name isakmpd's global
//! sections (`[Phase 1]`, `[General]`), another fragment's peer, or a line
//! of its own.  A record is checked to be consistent in itself: each name
//! of the shape ipsecmgr gives it, built from the record's own tags, and
//! what decides which other fragments share its sections (its keys) from
//! its own peer and networks.

use std::net::IpAddr;

use crate::manager::fragment_name::check_qualified;
use crate::manager::records::{HeldDown, LoadedRecord, PendingCleanup};
use crate::manager::sections::{IkeSections, ListValue};

/// The longest name taken: one FIFO line holds at most PIPE_BUF bytes.
const MAX_NAME: usize = 512;

/// The `[General]` tags an `ike dynamic` rule sets.
const GENERAL_TAGS: &[&str] = &["Check-interval", "DPD-check-interval"];

/// The commands ipsecmgr's loaded records hold lines of.
const LINE_STARTS: &[&str] = &["C set ", "C add "];

/// An isakmpd name as ipsecmgr makes them: not empty, no control
/// character, no bracket (which would end a section name), and no blank
/// but in an identity (`srcid "a b"` makes `id-a b`).
fn name(what: &str, n: &str, blanks: bool) -> Result<(), String> {
    let shown = crate::escape::escaped(n);
    if n.is_empty() || n.len() > MAX_NAME {
        return Err(format!("{what} \"{shown}\" is empty or too long"));
    }
    let bad = |c: char| c.is_control() || c == '[' || c == ']' || (!blanks && c.is_whitespace());
    if n.chars().any(bad) || n.starts_with(' ') || n.ends_with(' ') {
        return Err(format!("{what} \"{shown}\" is not an isakmpd name"));
    }
    Ok(())
}

fn shape(ok: bool, what: &str, n: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} \"{}\" is not one ipsecmgr makes",
            crate::escape::escaped(n)
        ))
    }
}

/// A phase 2 tag: `LOCAL-ID-REMOTE-ID`, from `from-...` to `to-...`.
fn phase2_tag(n: &str) -> Result<(), String> {
    name("phase 2 tag", n, false)?;
    shape(
        n.starts_with("from-") && n.contains("-to-"),
        "phase 2 tag",
        n,
    )
}

/// The sections one ike rule made, each of the shape its tags give it.
pub fn sections(s: &IkeSections) -> Result<(), String> {
    name("phase 1 tag", &s.phase1, false)?;
    phase2_tag(&s.phase2)?;
    match &s.peer_address {
        Some(a) => {
            shape(a.parse::<IpAddr>().is_ok(), "peer address", a)?;
            let own = format!("peer-{a}");
            let tag_ok = s.phase1 == own || s.phase1.starts_with(&format!("{own}-local-"));
            shape(tag_ok, "phase 1 tag", &s.phase1)?;
            shape(s.phase1_key == *a, "[Phase 1] key", &s.phase1_key)?;
        }
        None => {
            shape(s.phase1 == "peer-default", "phase 1 tag", &s.phase1)?;
            shape(s.phase1_key == "Default", "[Phase 1] key", &s.phase1_key)?;
        }
    }
    for sec in &s.phase1_sections {
        name("phase 1 section", sec, false)?;
        let own = *sec == s.phase1
            || *sec == format!("phase1-{}", s.phase1)
            || sec.starts_with(&format!("phase1-transform-{}-", s.phase1));
        shape(own, "phase 1 section", sec)?;
    }
    for sec in &s.phase2_sections {
        name("phase 2 section", sec, false)?;
        let own = *sec == s.phase2
            || ["phase2-", "phase2-suite-", "phase2-protocol-"]
                .iter()
                .any(|p| *sec == format!("{p}{}", s.phase2))
            || sec.starts_with(&format!("phase2-transform-{}-", s.phase2));
        shape(own, "phase 2 section", sec)?;
    }
    for id in &s.network_ids {
        name("identity section", id, false)?;
        let own = (id.starts_with("from-") && s.phase2.starts_with(&format!("{id}-to-")))
            || (id.starts_with("to-") && s.phase2.ends_with(&format!("-{id}")))
            || id.starts_with("nat-");
        shape(own, "identity section", id)?;
    }
    for id in &s.id_sections {
        name("identity section", id, true)?;
        shape(id.starts_with("id-"), "identity section", id)?;
    }
    for v in &s.list_values {
        list_value(s, v)?;
    }
    for g in &s.general {
        shape(GENERAL_TAGS.contains(&g.as_str()), "[General] tag", g)?;
    }
    keys(s)
}

/// A `C add` value: the connection on its list, or a phase 1 transform on
/// the peer's own list.
fn list_value(s: &IkeSections, v: &ListValue) -> Result<(), String> {
    let connection = v.section == "Phase 2" && v.tag == s.connection_list() && v.value == s.phase2;
    let transform = v.section == format!("phase1-{}", s.phase1)
        && v.tag == "Transforms"
        && s.phase1_sections.contains(&v.value);
    let shown = format!("[{}]:{}={}", v.section, v.tag, v.value);
    shape(connection || transform, "list value", &shown)
}

/// The names that decide which other rules share the sections (see
/// teardown::Kept): the record's own peer, networks and identities.
fn keys(s: &IkeSections) -> Result<(), String> {
    let peer = s.keys.iter().filter(|k| k.0 == 0).collect::<Vec<_>>();
    let shown = |k: &(u8, Option<String>)| format!("{} {}", k.0, k.1.as_deref().unwrap_or("-"));
    if peer.len() != 1 || peer[0].1 != s.peer_address {
        return Err("its keys do not name its own peer".into());
    }
    for k in &s.keys {
        let own = match (k.0, &k.1) {
            (0, _) => true,
            (1, Some(n)) => s.phase2.starts_with(&format!("from-{n}")),
            (2, Some(n)) => s.phase2.contains(&format!("-to-{n}")),
            (3, Some(n)) => s
                .network_ids
                .iter()
                .any(|id| id.starts_with(&format!("nat-{n}"))),
            (4, Some(n)) => s.id_sections.contains(&format!("id-{n}")),
            _ => false,
        };
        shape(own, "key", &shown(k))?;
    }
    Ok(())
}

/// A loaded record: its sections, and its lines whole.
pub fn record(r: &LoadedRecord) -> Result<(), String> {
    r.ikes.iter().try_for_each(sections)?;
    for line in &r.lines {
        let ok = LINE_STARTS.iter().any(|s| line.starts_with(s))
            && line.len() <= MAX_NAME
            && !line.chars().any(char::is_control);
        shape(ok, "line", line)?;
    }
    Ok(())
}

/// A fragment name, as the command line takes it (`sub/acme` too).
fn fragment(n: &str) -> Result<(), String> {
    check_qualified(n)
}

/// The held-down fragments: fragment names, their connections on one of
/// the two lists.
pub fn held(h: &HeldDown) -> Result<(), String> {
    for (frag, connections) in h {
        fragment(frag)?;
        for c in connections {
            let list_ok = c.list == "Connections" || c.list == "Passive-Connections";
            shape(list_ok, "connection list", &c.list)?;
            phase2_tag(&c.name)?;
        }
    }
    Ok(())
}

/// The pending clean-ups: fragment names, commands ipsecmgr leaves them
/// after, peers and connections by their tags, addresses, sections.
pub fn pending(p: &[PendingCleanup]) -> Result<(), String> {
    for c in p {
        fragment(&c.fragment)?;
        let op_ok = ["rm", "apply", "down", "restart"].contains(&c.op.as_str());
        shape(op_ok, "command", &c.op)?;
        for tag in c.peers.iter().chain(&c.phase1_names) {
            name("phase 1 tag", tag, false)?;
            shape(tag.starts_with("peer-"), "phase 1 tag", tag)?;
        }
        for a in &c.addresses {
            shape(a.parse::<IpAddr>().is_ok(), "peer address", a)?;
        }
        c.phase2_names.iter().try_for_each(|n| phase2_tag(n))?;
        c.removed.iter().try_for_each(sections)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::{Options, compile_text};
    use crate::manager::sections::ike_sections;
    use crate::manager::teardown::ikes;
    use crate::system::names::Names;

    fn record_of(text: &str) -> LoadedRecord {
        let names = Names::default();
        let opts = Options {
            root: Default::default(),
            check_secrecy: false,
            names: &names,
            hostname: "gw1.example.net".into(),
            main_local: true,
            keys: None,
        };
        let c = compile_text("t", text.as_bytes().to_vec(), &opts);
        assert!(!c.has_errors(), "{:?}", c.diags);
        let rules: Vec<_> = c.rules.iter().collect();
        let r = LoadedRecord::of(&rules);
        assert_eq!(
            r.ikes,
            ikes(c.rules.iter())
                .into_iter()
                .map(ike_sections)
                .collect::<Vec<_>>()
        );
        r
    }

    #[test]
    fn what_ipsecmgr_records_passes_and_planted_names_do_not() {
        let r = record_of(
            "ike esp from 10.0.1.0/24 to 10.1.0.0/16 peer 198.51.100.1 srcid \"gw a\" psk \"a-long-enough-secret-0123\"\n\
             ike passive esp proto tcp from 10.0.4.0/24 port 22 to 10.4.0.0/16 peer 2001:db8::1 local 2001:db8::2 psk \"a-long-enough-secret-0123\"\n\
             ike dynamic esp from 10.0.2.0/24 to 10.2.0.0/16 psk \"a-long-enough-secret-0123\"\n",
        );
        record(&r).unwrap();
        type Plant = Box<dyn Fn(&mut IkeSections)>;
        let planted: Vec<Plant> = vec![
            Box::new(|s| s.phase1_sections.push("Phase 1".into())),
            Box::new(|s| s.phase2_sections.push("General".into())),
            Box::new(|s| s.phase1 = "peer-198.51.100.9".into()),
            Box::new(|s| s.keys = vec![(0, Some("192.0.2.250".into()))]),
            Box::new(|s| s.keys.retain(|k| k.0 != 0)),
            Box::new(|s| s.phase2 = "from-x\nC rms [General]".into()),
            Box::new(|s| s.id_sections.push("id-x]:Name=y".into())),
            Box::new(|s| s.list_values[0].section = "Phase 1".into()),
            Box::new(|s| s.general.push("Retransmits".into())),
            Box::new(|s| s.network_ids.push("to-10.9.9.0/24".into())),
        ];
        for (i, plant) in planted.iter().enumerate() {
            let mut bad = r.clone();
            plant(&mut bad.ikes[0]);
            assert!(record(&bad).is_err(), "planted {i}: {:?}", bad.ikes[0]);
        }
        let mut bad = r.clone();
        bad.lines.push("t main peer-198.51.100.2".into());
        assert!(record(&bad).is_err());
    }
}
