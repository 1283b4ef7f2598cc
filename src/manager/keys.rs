//! The plans of `key set NAME` and `key migrate`: the keys layout's
//! commands (see [`crate::lint::keys`] for the layout).
//!
//! `key set` writes one key into the keys file and loads it into isakmpd
//! as the pre-shared key of the peers whose rules use it, alone: one
//! `C set [peer-…]:Authentication=KEY force` each, the line ipsecctl's
//! ike.c writes for the rule (ike_section_peer).  isakmpd reads that
//! value when a phase 1 computes its keys (ike_auth.c: ike_auth_get_key,
//! from pre_shared_gen_skeyid), so the next phase 1 with the peer uses the
//! new key while the SAs already made stay up; nothing else is re-sent, so
//! no other tunnel is touched.
//!
//! `key migrate` moves every key written in the configuration into the
//! keys file, writes `psk $NAME` in its place, declares the names in the
//! settings and includes the keys file at the top of ipsec.conf: one plan,
//! every file or none, checked to load exactly the rules it loaded before.

use std::collections::{BTreeMap, HashSet};

use crate::escape::escaped;
use crate::manager::gateway::Gateway;
use crate::manager::keys_file;
use crate::manager::ops::Planned;
use crate::manager::plan::{KeyPeer, Plan, Step};
use crate::manager::sections::ike_sections;
use crate::manager::state;
use crate::manager::tree::Tree;
use crate::rules::model::{IkeAuth, Rule, RuleKind};
use crate::syntax::secrets::SecretToken;
use crate::system::files;

/// The keys layout's settings, or why a key command cannot run.
fn layout(gw: &Gateway) -> Result<&crate::settings::KeysSettings, String> {
    gw.settings.keys.as_ref().ok_or_else(|| {
        format!(
            "the settings{} have no [keys] table: declare the keys file and its key names first (ipsecmgr(8): KEYS)",
            gw.settings
                .source
                .as_deref()
                .map_or(String::new(), |p| format!(
                    " ({})",
                    crate::escape::escaped_path(p)
                ))
        )
    })
}

/// The rules isakmpd has loaded: all that ipsec.conf includes (a boot
/// loads them), but a fragment added with `--config-only` and not yet
/// applied (its applied copy is empty).
fn loaded_rules<'t>(gw: &Gateway, tree: &'t Tree) -> Result<Vec<&'t Rule>, String> {
    let mut rules: Vec<&Rule> = tree
        .main_rules
        .iter()
        .map(|&i| &tree.compiled.rules[i])
        .collect();
    for f in &tree.fragments {
        if !state::applied_copy(gw, &f.name)?.is_some_and(|t| t.is_empty()) {
            rules.extend(tree.rules_of(f));
        }
    }
    Ok(rules)
}

/// The key macro a rule's pre-shared key is, when it is one of the keys
/// file's.
fn key_of(rule: &Rule) -> Option<&str> {
    match &rule.kind {
        RuleKind::Ike(ike) => match &ike.auth {
            IkeAuth::Psk(p) => p.1.as_ref().filter(|m| m.keys).map(|m| &*m.name),
            IkeAuth::Rsa => None,
        },
        _ => None,
    }
}

/// The peers whose key is `name`, among the loaded rules; refused when
/// one of them is given another key by another rule (isakmpd holds one
/// key per peer section: the last loaded).
fn peers_of_key(gw: &Gateway, tree: &Tree, name: &str) -> Result<Vec<KeyPeer>, String> {
    let rules = loaded_rules(gw, tree)?;
    let mut peers: Vec<KeyPeer> = Vec::new();
    for rule in &rules {
        let RuleKind::Ike(ike) = &rule.kind else {
            continue;
        };
        if key_of(rule) != Some(name) {
            continue;
        }
        let s = ike_sections(ike);
        let peer = KeyPeer {
            tag: s.phase1,
            address: s.peer_address,
        };
        if !peers.contains(&peer) {
            peers.push(peer);
        }
    }
    for rule in &rules {
        let RuleKind::Ike(ike) = &rule.kind else {
            continue;
        };
        if !matches!(ike.auth, IkeAuth::Psk(_)) || key_of(rule) == Some(name) {
            continue;
        }
        let tag = crate::emit::tags::phase1(ike);
        if peers.iter().any(|p| p.tag == tag) {
            return Err(format!(
                "{tag} is also given another key by {}: {}; isakmpd holds one key per peer, so write the same `psk ${name}` there first",
                escaped(tree.compiled.parsed.sources.display_name(rule.origin.file)),
                rule.origin.line
            ));
        }
    }
    Ok(peers)
}

/// `key set NAME`, the key `value` (read from standard input or a prompt,
/// never the command line).
pub fn plan_key_set(gw: &Gateway, tree: &Tree, name: &str, value: &str) -> Result<Planned, String> {
    let keys = layout(gw)?;
    if !keys.declares(name) {
        return Err(format!(
            "{} is not declared in the settings' [keys] names: declare it there first, so that the repository knows it",
            escaped(name)
        ));
    }
    if let Some(why) = keys_file::refused(value) {
        return Err(format!("{}: {why}", escaped(name)));
    }
    let path = keys_file::path(gw).ok_or("no keys file")?;
    let old = keys_file::read(gw)?;
    let text = old.clone().unwrap_or_default();
    let defs = keys_file::definitions(&keys.file, &text)?;
    if defs
        .iter()
        .rev()
        .find(|d| d.name == name)
        .is_some_and(|d| d.value == value)
    {
        return Ok(Planned::Nothing(format!(
            "key {name} already holds that value: nothing to do"
        )));
    }
    let new = keys_file::set(&keys.file, &text, name, value)?;
    let peers = peers_of_key(gw, tree, name)?;
    let mut plan = Plan::new(format!("key set {name}"));
    plan.push(Step::keys_write(path, keys.file.clone(), old, new));
    plan.commit_here();
    if peers.is_empty() {
        plan.notes.push(format!(
            "no loaded rule uses {name}: the keys file holds it for the next load"
        ));
    } else {
        let tags: Vec<&str> = peers.iter().map(|p| p.tag.as_str()).collect();
        plan.notes.push(format!(
            "the next phase 1 with {} uses the new key; the SAs already made stay up",
            tags.join(", ")
        ));
        plan.push(Step::LoadKey {
            name: name.to_string(),
            peers,
        });
    }
    Ok(Planned::Plan(plan))
}

/// A key written in the configuration that `key migrate` moves: where its
/// token is, and its value.
struct Moved {
    file: crate::diag::FileId,
    range: std::ops::Range<usize>,
    value: String,
}

/// The name the keys of `unit` (a fragment's name, `ipsec_conf` for
/// ipsec.conf) get: letters, digits and `_`, ending in `_psk`, not yet
/// taken.
fn fresh_name(unit: &str, taken: &mut HashSet<String>) -> String {
    let mut base: String = unit
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if base.starts_with(|c: char| c.is_ascii_digit()) || base.is_empty() {
        base.insert_str(0, "key_");
    }
    base.truncate(crate::settings::MAX_KEY_NAME - 8);
    let base = format!("{base}_psk");
    let name = (1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}_{n}")
            }
        })
        .find(|n| !taken.contains(n))
        .unwrap_or(base);
    taken.insert(name.clone());
    name
}

/// The unquoted value of a string token's text (`"…"`, `'…'` or a bare
/// word), as ipsecctl's lexer reads it: a backslash escapes the quote.
fn unquoted(token: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(token).ok()?;
    let Some(q) = text.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        return Some(text.to_string());
    };
    let inner = text.strip_prefix(q)?.strip_suffix(q)?;
    Some(inner.replace(&format!("\\{q}"), &q.to_string()))
}

/// The keys written in the configuration, by file; refused when one is
/// written with a macro of its own, in a file a fragment includes, or
/// cannot be a macro's value.
fn keys_to_move(tree: &Tree) -> Result<Vec<Moved>, String> {
    let c = &tree.compiled;
    let sources = &c.parsed.sources;
    let units: HashSet<crate::diag::FileId> = std::iter::once(0)
        .chain(tree.fragments.iter().map(|f| f.file))
        .collect();
    let mut out = Vec::new();
    let psks: Vec<&SecretToken> = c.secrets.iter().filter(|t| t.psk).collect();
    for t in psks {
        let f = sources.get(t.span.file);
        let at = format!("{}: {}", escaped(&f.name), t.span.line);
        if f.keys {
            continue;
        }
        if let Some(id) = t.macro_use {
            let def = c.parsed.macros.get(id);
            if sources.get(def.span.file).keys {
                continue;
            }
            return Err(format!(
                "{at}: the key is written with macro {}, defined in {}; write it inline (or as a key macro) by hand first",
                def.name,
                escaped(sources.display_name(def.span.file))
            ));
        }
        if !units.contains(&t.span.file) {
            return Err(format!(
                "{at}: a key in a file a fragment includes; move it into the fragment by hand first"
            ));
        }
        let range = t.span.start as usize..t.span.end as usize;
        let token = f.text.get(range.clone()).unwrap_or_default();
        let value = unquoted(token)
            .filter(|_| !token.contains(&b'\n'))
            .ok_or_else(|| format!("{at}: the key's text cannot be moved; move it by hand"))?;
        if let Some(why) = keys_file::unfit(&value) {
            return Err(format!("{at}: this key cannot be a macro's value: {why}"));
        }
        out.push(Moved {
            file: t.span.file,
            range,
            value,
        });
    }
    Ok(out)
}

/// `text` with each range replaced, last first.
fn replaced(text: &[u8], mut edits: Vec<(std::ops::Range<usize>, String)>) -> Vec<u8> {
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = text.to_vec();
    for (r, with) in edits {
        out.splice(r, with.into_bytes());
    }
    out
}

/// The settings file with `names` added to `[keys] names`, formatting and
/// comments kept.
fn settings_with(text: &str, names: &[String]) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("cannot edit the settings: {e}"))?;
    let keys = doc
        .entry("keys")
        .or_insert(toml_edit::table())
        .as_table_mut()
        .ok_or("[keys] is not a table")?;
    let list = keys
        .entry("names")
        .or_insert(toml_edit::value(toml_edit::Array::new()))
        .as_array_mut()
        .ok_or("keys.names is not a list")?;
    for n in names {
        list.push(n.as_str());
    }
    Ok(doc.to_string())
}

/// `key migrate`.
pub fn plan_migrate(gw: &Gateway, tree: &Tree) -> Result<Planned, String> {
    let keys = layout(gw)?;
    if tree.compiled.has_errors() {
        return Err(format!(
            "{} has errors; fix them first (`ipsecmgr lint`)",
            escaped(&gw.ipsec_conf.gateway)
        ));
    }
    let settings_path = gw.settings.source.clone().ok_or(
        "the settings were not read from a file (the defaults): `key migrate` declares the names it makes there",
    )?;
    let moved = keys_to_move(tree)?;
    let keys_text = keys_file::read(gw)?;
    let defs = keys_file::definitions(&keys.file, keys_text.as_deref().unwrap_or_default())?;
    let conf = &tree.compiled.parsed.sources.get(0).text;
    let includes_keys = tree.compiled.parsed.sources.iter().any(|(_, f)| f.keys);
    if moved.is_empty() && includes_keys {
        return Ok(Planned::Nothing(
            "no key is written in the configuration: nothing to migrate".into(),
        ));
    }
    let mut taken: HashSet<String> = keys.names.iter().cloned().collect();
    taken.extend(defs.iter().map(|d| d.name.clone()));
    // one name for each value of each file
    let mut names: BTreeMap<(crate::diag::FileId, String), String> = BTreeMap::new();
    let mut new_defs: Vec<(String, String)> = Vec::new();
    let mut edits: BTreeMap<crate::diag::FileId, Vec<(std::ops::Range<usize>, String)>> =
        BTreeMap::new();
    for m in &moved {
        let unit = tree
            .fragments
            .iter()
            .find(|f| f.file == m.file)
            .map_or("ipsec_conf", |f| f.name.as_str());
        let name = names
            .entry((m.file, m.value.clone()))
            .or_insert_with(|| {
                let n = fresh_name(unit, &mut taken);
                new_defs.push((n.clone(), m.value.clone()));
                n
            })
            .clone();
        edits
            .entry(m.file)
            .or_default()
            .push((m.range.clone(), format!("${name}")));
    }
    let mut plan = Plan::new("key migrate");
    let new_keys = keys_file::add(keys_text.as_deref().unwrap_or_default(), &new_defs);
    let keys_path = keys_file::path(gw).ok_or("no keys file")?;
    // written first: a keys file with more keys than are used changes nothing
    plan.push(Step::keys_write(
        keys_path.clone(),
        keys.file.clone(),
        keys_text,
        new_keys.clone(),
    ));
    let mut stand_ins = vec![(keys_path, new_keys)];
    let sources = &tree.compiled.parsed.sources;
    for f in &tree.fragments {
        let Some(e) = edits.remove(&f.file) else {
            continue;
        };
        let old = sources.get(f.file).text.clone();
        let new = replaced(&old, e);
        stand_ins.push((f.actual.clone(), new.clone()));
        // the old text holds the keys: kept out of the journal
        plan.push(
            Step::private_write(
                f.actual.clone(),
                f.gateway_path.clone(),
                Some(old.clone()),
                new.clone(),
            )
            .unjournaled(),
        );
        if state::applied_copy(gw, &f.name)?.as_deref() == Some(old.as_slice()) {
            plan.push(state::write_applied(gw, &f.name, Some(old), new).unjournaled());
        }
    }
    let mut new_conf = replaced(conf, edits.remove(&0).unwrap_or_default());
    if !includes_keys {
        let line = format!("include \"{}\"\n", keys.file);
        new_conf.splice(0..0, line.into_bytes());
    }
    if new_conf != *conf {
        plan.push(
            Step::private_write(
                gw.ipsec_conf_target()?,
                gw.ipsec_conf.gateway.clone(),
                Some(conf.clone()),
                new_conf.clone(),
            )
            .unjournaled(),
        );
    }
    let added: Vec<String> = new_defs.iter().map(|(n, _)| n.clone()).collect();
    if !added.is_empty() {
        let data = files::read_regular(&settings_path, 1 << 20)
            .map_err(|e| format!("{}: {}", crate::escape::escaped_path(&settings_path), e.0))?;
        let old = String::from_utf8(data.bytes)
            .map_err(|_| format!("{}: not UTF-8", crate::escape::escaped_path(&settings_path)))?;
        let new = settings_with(&old, &added)?;
        plan.push(Step::Write {
            path: settings_path.clone(),
            shown: gw.shown(&settings_path),
            old: Some(old.into_bytes()),
            new: new.into_bytes(),
            mode: data.mode & 0o777,
            record: None,
            secret: false,
            private: false,
        });
    }
    unchanged_rules(gw, tree, &new_conf, &stand_ins)?;
    plan.commit_here();
    plan.notes.push(format!(
        "{} key(s) moved into {} as {}; they load as before",
        moved.len(),
        escaped(&keys.file),
        if added.is_empty() {
            "the macros there".to_string()
        } else {
            added.join(", ")
        }
    ));
    Ok(Planned::Plan(plan))
}

/// The migrated tree loads exactly the rules the tree loads now (a key is
/// the same key however written): otherwise nothing is written.
fn unchanged_rules(
    gw: &Gateway,
    tree: &Tree,
    new_conf: &[u8],
    stand_ins: &[(std::path::PathBuf, Vec<u8>)],
) -> Result<(), String> {
    let conf = &gw.ipsec_conf.gateway;
    let after = files::with_stand_ins(stand_ins, || gw.compile_text(conf, new_conf));
    if after.has_errors() {
        let errors: Vec<String> = after.rendered_errors().collect();
        return Err(format!(
            "the migrated configuration would not compile:\n{}\nnothing was written",
            errors.join("\n")
        ));
    }
    let kinds = |rules: &[Rule]| {
        let mut k: Vec<String> = rules.iter().map(|r| format!("{:?}", r.kind)).collect();
        k.sort();
        k
    };
    let same_keys = |a: &[Rule], b: &[Rule]| {
        let keys = |rules: &[Rule]| {
            let mut k: Vec<String> = rules
                .iter()
                .map(|r| match &r.kind {
                    RuleKind::Ike(i) => match &i.auth {
                        IkeAuth::Psk(p) => p.0.to_string(),
                        IkeAuth::Rsa => String::new(),
                    },
                    _ => String::new(),
                })
                .collect();
            k.sort();
            k
        };
        keys(a) == keys(b)
    };
    if kinds(&after.rules) != kinds(&tree.compiled.rules)
        || !same_keys(&after.rules, &tree.compiled.rules)
    {
        return Err(
            "the migrated configuration would not load exactly the rules loaded now; nothing was written"
                .into(),
        );
    }
    Ok(())
}
