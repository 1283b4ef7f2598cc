//! Findings as SARIF 2.1.0, the format code-scanning services read: one
//! run whose tool lists every lint code as a rule (its help text taken
//! from the DIAGNOSTICS list of the manual, so there is one wording), and
//! one result per finding with its file, line and columns.

use serde_json::{Value, json};

use crate::diag::Kind;
use crate::lint::Finding;

/// The manual, whose `.It CODE` entries explain each code.
const MANUAL: &str = include_str!("../../man/ipsecmgr.8");

/// Where the schema of the format is published (OASIS, errata 01).
const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The findings as a SARIF log, pretty-printed, ending with a newline.
pub fn sarif(findings: &[Finding]) -> String {
    let codes = rule_codes(findings);
    let rules: Vec<Value> = codes.iter().map(|c| rule(c)).collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| result(f, codes.iter().position(|c| *c == f.code)))
        .collect();
    let log = json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "ipsecmgr",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "results": results,
        }]
    });
    let mut out = crate::json::pretty(&log);
    out.push('\n');
    out
}

/// Every code ipsecmgr knows, then any a finding carries that is not
/// among them, so that each result has its rule.
fn rule_codes(findings: &[Finding]) -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = Kind::ALL.iter().map(|k| k.code()).collect();
    for f in findings {
        if !codes.contains(&f.code) {
            codes.push(f.code);
        }
    }
    codes
}

fn rule(code: &str) -> Value {
    let help =
        manual_entry(code).unwrap_or_else(|| format!("{code}: see DIAGNOSTICS in ipsecmgr(8)"));
    json!({
        "id": code,
        "shortDescription": { "text": first_clause(&help) },
        "fullDescription": { "text": help },
        "help": { "text": help },
        "defaultConfiguration": { "level": default_level(code) },
    })
}

/// E codes stop compile and lint; L codes are mostly warnings (the
/// manual names the exceptions, and each result carries its own level).
fn default_level(code: &str) -> &'static str {
    if code.starts_with('E') {
        "error"
    } else {
        "warning"
    }
}

fn result(f: &Finding, rule_index: Option<usize>) -> Value {
    let mut message = f.message.clone();
    if let Some(help) = &f.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let mut region = json!({ "startLine": f.line.max(1), "startColumn": f.column.max(1) });
    if f.end_column > f.column {
        region["endColumn"] = json!(f.end_column);
    }
    let mut r = json!({
        "ruleId": f.code,
        "level": if f.is_error() { "error" } else { "warning" },
        "message": { "text": message },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": file_uri(&f.file) },
                "region": region,
            }
        }],
    });
    if let Some(i) = rule_index {
        r["ruleIndex"] = json!(i);
    }
    r
}

/// A relative path stays relative (code scanning resolves it against the
/// checkout); an absolute one becomes a `file://` URI.  Characters a URI
/// may not hold are percent-encoded.
fn file_uri(path: &str) -> String {
    let path = path.strip_prefix("./").unwrap_or(path);
    let encoded: String = path.bytes().map(uri_byte).collect();
    if path.starts_with('/') {
        format!("file://{encoded}")
    } else {
        encoded
    }
}

fn uri_byte(b: u8) -> String {
    let plain = b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&b);
    if plain {
        (b as char).to_string()
    } else {
        format!("%{b:02X}")
    }
}

/// The text of `.It CODE` in the manual, up to the next item, with the
/// roff requests and escapes turned into plain text.
fn manual_entry(code: &str) -> Option<String> {
    let start = MANUAL.find(&format!("\n.It {code}\n"))? + code.len() + 6;
    let body = &MANUAL[start..];
    let lines: Vec<String> = body
        .lines()
        .take_while(|l| !l.starts_with(".It ") && !l.starts_with(".El"))
        .map(plain_roff_line)
        .filter(|l| !l.is_empty())
        .collect();
    let text = lines.join(" ");
    (!text.is_empty()).then_some(text)
}

/// One line of roff as text: a macro line keeps its arguments (`.Fl -root`
/// reads `-root`), escapes become the characters they stand for.
fn plain_roff_line(line: &str) -> String {
    let line = match line.strip_prefix('.') {
        Some(rest) => rest.split_once(' ').map_or("", |(_, args)| args),
        None => line,
    };
    line.replace("\\-", "-")
        .replace("\\(em", "-")
        .replace("\\e", "\\")
        .replace("\\&", "")
        .trim()
        .to_string()
}

/// The first clause of a help text, for the short description.
fn first_clause(text: &str) -> String {
    let end = text.find(['.', ';']).unwrap_or(text.len());
    text[..end].trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(code: &'static str, file: &str) -> Finding {
        Finding {
            code,
            severity: "warning",
            file: file.into(),
            line: 3,
            column: 5,
            end_column: 9,
            message: "weak transform".into(),
            help: Some("use aes".into()),
            source: String::new(),
            across: Default::default(),
        }
    }

    #[test]
    fn every_code_is_a_rule_with_the_manuals_help() {
        let log: Value = serde_json::from_str(&sarif(&[])).unwrap();
        let rules = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        assert_eq!(rules.len(), Kind::ALL.len());
        for (rule, kind) in rules.iter().zip(Kind::ALL) {
            assert_eq!(rule["id"], kind.code());
            let help = rule["help"]["text"].as_str().unwrap();
            assert!(!help.contains("see DIAGNOSTICS"), "{}: {help}", kind.code());
            assert!(!help.contains(".It") && !help.contains("\\-"), "{help}");
        }
        let l201 = rules.iter().find(|r| r["id"] == "L201").unwrap();
        assert!(
            l201["help"]["text"]
                .as_str()
                .unwrap()
                .starts_with("weak or deprecated crypto"),
            "{l201}"
        );
        assert_eq!(l201["defaultConfiguration"]["level"], "warning");
    }

    #[test]
    fn a_result_points_at_its_rule_and_place() {
        let log: Value =
            serde_json::from_str(&sarif(&[finding("L201", "./etc/a b.conf")])).unwrap();
        let r = &log["runs"][0]["results"][0];
        assert_eq!(r["ruleId"], "L201");
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            log["runs"][0]["tool"]["driver"]["rules"][index]["id"],
            "L201"
        );
        assert_eq!(r["level"], "warning");
        assert_eq!(r["message"]["text"], "weak transform\nhelp: use aes");
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "etc/a%20b.conf");
        assert_eq!(loc["region"]["startLine"], 3);
        assert_eq!(loc["region"]["startColumn"], 5);
        assert_eq!(loc["region"]["endColumn"], 9);
    }

    #[test]
    fn absolute_paths_are_file_uris_and_unknown_codes_get_a_rule() {
        let log: Value =
            serde_json::from_str(&sarif(&[finding("X999", "/etc/ipsec.conf")])).unwrap();
        let r = &log["runs"][0]["results"][0];
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "file:///etc/ipsec.conf"
        );
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(index, Kind::ALL.len());
        assert_eq!(
            log["runs"][0]["tool"]["driver"]["rules"][index]["id"],
            "X999"
        );
    }
}
