//! The JSON documents ipsecmgr prints (`--json`, `lint --format json`):
//! each is an object with a `"version"` field, so that tools can tell which
//! shape they read.  The shapes are described by schemas/ipsecmgr.schema.json.
//!
//! The text is safe on a terminal and in a CI log as it is, and is never
//! escaped again (which would make it something else than JSON): see
//! [`safe_text`].

use serde::Serialize;
use serde_json::{Map, Value};

/// The version of every JSON document; raised when a field changes meaning
/// or goes away (new fields may come without it).
pub const VERSION: u32 = 1;

/// `items` as the list `key` of a versioned document, pretty-printed.
pub fn list<T: Serialize>(key: &str, items: &[T]) -> String {
    let mut doc = Map::new();
    doc.insert("version".into(), VERSION.into());
    doc.insert(key.into(), to_value(items));
    pretty(&Value::Object(doc))
}

/// `object` (a struct) with the version field added, pretty-printed.
pub fn object<T: Serialize>(object: &T) -> String {
    let mut value = to_value(object);
    if let Value::Object(fields) = &mut value {
        fields.insert("version".into(), VERSION.into());
    }
    pretty(&value)
}

fn to_value<T: Serialize + ?Sized>(v: &T) -> Value {
    // the types printed are plain data: strings, numbers, lists
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// `v` pretty-printed, as [`safe_text`] writes it.
pub fn pretty(v: &Value) -> String {
    safe_text(&serde_json::to_string_pretty(v).unwrap_or_default())
}

/// JSON text that means the same and can be printed as it is: DEL and the
/// C1 controls, which serde_json leaves as they are in strings (JSON
/// allows them) but a terminal may act on (U+009B starts an escape
/// sequence), become `\u` escapes, and so does the bracket of `##[`, which
/// a GitHub runner reads as a workflow command anywhere in a line.  Both
/// can only stand inside strings, where the escape means the character.
/// (A pretty-printed document never starts a line with `::`.)
pub fn safe_text(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut hashes = 0;
    for c in json.chars() {
        if ('\u{7f}'..='\u{9f}').contains(&c) || (c == '[' && hashes >= 2) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
        hashes = if c == '#' { hashes + 1 } else { 0 };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_carry_the_version() {
        let v: Value = serde_json::from_str(&list("fragments", &["a", "b"])).unwrap();
        assert_eq!(v["version"], VERSION);
        assert_eq!(v["fragments"][1], "b");
        #[derive(Serialize)]
        struct S {
            name: &'static str,
        }
        let v: Value = serde_json::from_str(&object(&S { name: "x" })).unwrap();
        assert_eq!(v["version"], VERSION);
        assert_eq!(v["name"], "x");
    }

    #[test]
    fn controls_and_old_workflow_commands_are_escaped_and_mean_the_same() {
        let name = "a\u{7f}b\u{85}c\u{9b}d##[error]e\\##[f[[";
        let text = list("names", &[name]);
        assert!(!text.contains(['\u{7f}', '\u{85}', '\u{9b}']), "{text}");
        assert!(!text.contains("##["), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["names"][0], name);
    }
}
