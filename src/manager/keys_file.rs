//! The keys file's text: a key read as ipsecctl reads it, and the edits
//! `key set` and `key migrate` make.  Nothing here prints a key: errors
//! name the macro and the file, never the value.

use crate::escape::escaped;
use crate::manager::gateway::Gateway;
use crate::syntax::load::{LoadOptions, load_text};
use crate::system::files;

/// The most characters a key may have: isakmpd reads a FIFO value as one
/// `%200s` word (ui.c: ui_config), so a longer one would be cut.
pub const MAX_KEY: usize = 200;

/// The fewest characters `key set` takes (lint's L202).
pub const MIN_KEY: usize = crate::rules::model::MIN_PSK;

/// Why `value` cannot be a key written `psk $NAME`, if it cannot: the
/// macro's value is read again as one word when `$NAME` is expanded
/// (parse.y: yylex), so it must start as a word does and hold only what
/// a word may (no blank, no `#`, `=`, `,`, `/`, brackets), nor the quote
/// and backslash the keys file's quoted string could not hold; and
/// isakmpd takes at most [`MAX_KEY`] characters.
pub fn unfit(value: &str) -> Option<String> {
    let first = value.bytes().next()?;
    if !(first.is_ascii_alphanumeric() || matches!(first, b':' | b'_' | b'*')) {
        return Some("it must start with a letter, a digit, ':', '_' or '*'".into());
    }
    let bad = |b: u8| {
        !(b.is_ascii_alphanumeric() || b.is_ascii_punctuation())
            || matches!(
                b,
                b'(' | b')'
                    | b'{'
                    | b'}'
                    | b'<'
                    | b'>'
                    | b'!'
                    | b'='
                    | b'/'
                    | b'#'
                    | b','
                    | b'"'
                    | b'\''
                    | b'\\'
                    | b'$'
            )
    };
    if value.bytes().any(bad) {
        return Some(
            "it may hold letters, digits and punctuation other than ( ) { } < > ! = / # , \" ' \\ $, and no blank"
                .into(),
        );
    }
    if value.len() > MAX_KEY {
        return Some(format!(
            "it has {} characters; isakmpd reads at most {MAX_KEY}",
            value.len()
        ));
    }
    None
}

/// Why `value` cannot be set as a key: [`unfit`], or shorter than
/// [`MIN_KEY`].
pub fn refused(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("the key is empty".into());
    }
    if value.chars().count() < MIN_KEY {
        return Some(format!(
            "the key has {} characters; use at least {MIN_KEY} (e.g. `openssl rand -hex 16`)",
            value.chars().count()
        ));
    }
    unfit(value)
}

/// The keys file's path on this machine (under `--root`).
pub fn path(gw: &Gateway) -> Option<std::path::PathBuf> {
    gw.settings.keys.as_ref().map(|k| gw.root.map(&k.file))
}

/// The keys file's bytes; `None` when there is none yet.
pub fn read(gw: &Gateway) -> Result<Option<Vec<u8>>, String> {
    let Some(path) = path(gw) else {
        return Ok(None);
    };
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    files::read_regular(&path, files::MAX_CONFIG_BYTES)
        .map(|d| Some(d.bytes))
        .map_err(|e| format!("{}: {}", crate::escape::escaped_path(&path), e.0))
}

/// One macro definition of the keys file.
pub struct Definition {
    pub name: String,
    pub value: String,
    /// Its line, from 1.
    pub line: u32,
}

/// The keys file's definitions, as ipsecctl reads them; `Err` when the
/// text is not macros alone (it says where, never what).
pub fn definitions(shown: &str, text: &[u8]) -> Result<Vec<Definition>, String> {
    let parsed = load_text(shown, text.to_vec(), &LoadOptions::default());
    if let Some(d) = parsed.diags.iter().find(|d| d.is_error()) {
        let line = d.span.map_or(0, |s| s.line);
        return Err(format!(
            "{}: {line}: not read as ipsecctl reads it; fix it by hand",
            escaped(shown)
        ));
    }
    if let Some(st) = parsed.statements.first() {
        return Err(format!(
            "{}: {}: a statement that is no macro definition; the keys file holds macros alone",
            escaped(shown),
            st.start().line
        ));
    }
    Ok(parsed
        .macros
        .iter()
        .map(|(_, d)| Definition {
            name: d.name.clone(),
            value: d.value.to_string(),
            line: d.span.line,
        })
        .collect())
}

/// The value the keys file gives macro `name` (its last definition).
pub fn value_in_file(gw: &Gateway, name: &str) -> Result<String, String> {
    let shown = gw
        .settings
        .keys
        .as_ref()
        .map_or_else(String::new, |k| k.file.clone());
    let text = read(gw)?.ok_or_else(|| format!("{}: no such file", escaped(&shown)))?;
    let defs = definitions(&shown, &text)?;
    let value = defs
        .into_iter()
        .rev()
        .find(|d| d.name == name)
        .map(|d| d.value)
        .ok_or_else(|| format!("{}: no key {name}", escaped(&shown)))?;
    match unfit(&value) {
        Some(why) => Err(format!(
            "{}: key {name} cannot be loaded: {why}",
            escaped(&shown)
        )),
        None => Ok(value),
    }
}

/// A definition line.
fn line_of(name: &str, value: &str) -> String {
    format!("{name} = \"{value}\"\n")
}

/// `text` with `name` defined as `value`: its definition's line replaced,
/// or a line added at the end.  A name defined twice, or on a line
/// continued onto the next, is left to be edited by hand.
pub fn set(shown: &str, text: &[u8], name: &str, value: &str) -> Result<Vec<u8>, String> {
    let defs = definitions(shown, text)?;
    let at: Vec<u32> = defs
        .iter()
        .filter(|d| d.name == name)
        .map(|d| d.line)
        .collect();
    let mut lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let new_line = line_of(name, value);
    match at.as_slice() {
        [] => {
            let mut out = text.to_vec();
            if !out.is_empty() && !out.ends_with(b"\n") {
                out.push(b'\n');
            }
            out.extend_from_slice(new_line.as_bytes());
            Ok(out)
        }
        [line] => {
            let i = (*line as usize).saturating_sub(1);
            let continued = lines
                .get(i)
                .is_some_and(|l| l.trim_ascii_end().ends_with(b"\\"));
            if continued || i >= lines.len() {
                return Err(format!(
                    "{}: {line}: {name} is defined over several lines; edit it by hand",
                    escaped(shown)
                ));
            }
            lines[i] = new_line.as_bytes();
            Ok(lines.concat())
        }
        _ => Err(format!(
            "{}: {name} is defined {} times; keep one definition, by hand",
            escaped(shown),
            at.len()
        )),
    }
}

/// `text` with each of `defs` (name, value) added at the end.
pub fn add(text: &[u8], defs: &[(String, String)]) -> Vec<u8> {
    let mut out = text.to_vec();
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    for (name, value) in defs {
        out.extend_from_slice(line_of(name, value).as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_one_word_isakmpd_takes_whole() {
        assert_eq!(unfit("abc-DEF.123_x:y+z@w%"), None);
        assert!(unfit("has blank").is_some());
        assert!(unfit("has#hash").is_some());
        assert!(unfit("-leading-dash").is_some());
        assert!(unfit("quote\"d").is_some());
        assert!(unfit(&"a".repeat(201)).is_some());
        assert!(refused("short").is_some());
        assert_eq!(refused("0123456789abcdef0123"), None);
    }

    #[test]
    fn set_replaces_one_definition_or_adds_one() {
        let text = b"# keys\nacme = \"old-old-old-old-old-old\"\nglobex = \"g\"\n";
        let out = set("k", text, "acme", "new-new-new-new-new-new").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# keys\nacme = \"new-new-new-new-new-new\"\nglobex = \"g\"\n"
        );
        let out = set("k", b"a = \"x\"", "b", "y").unwrap();
        assert_eq!(out, b"a = \"x\"\nb = \"y\"\n");
        assert!(set("k", b"a = \"x\"\na = \"y\"\n", "a", "z").is_err());
        let e = set("k", b"ike esp from any to any\n", "a", "z").unwrap_err();
        assert!(e.contains("no macro definition"), "{e}");
    }
}
