//! The JSON documents ipsecmgr prints (`--json`, `lint --format json`):
//! each is an object with a `"version"` field, so that tools can tell which
//! shape they read.  The shapes are described by schemas/ipsecmgr.schema.json.

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

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
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
}
