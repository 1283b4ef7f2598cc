//! The stages use only the stages below them, and no two modules use each
//! other: read from the sources, so that a new `use` that breaks the
//! layering fails here rather than in review.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// The stages from the bottom up.  A module may use its own stage and the
/// ones before it; `lint` and `manager` stand side by side on `gateway`.
const LAYERS: &[&[&str]] = &[
    &["escape", "faults", "json"],
    &["diag"],
    &["system"],
    &["output"],
    &["syntax"],
    &["rules"],
    &["settings"],
    &["compiler"],
    &["emit"],
    &["gateway"],
    &["lint", "manager"],
    &["cli"],
    &["commands"],
];

/// Module path (`syntax::load`) → source text, without its tests.
fn modules() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    collect(Path::new("src"), &mut Vec::new(), &mut out);
    out
}

fn collect(dir: &Path, prefix: &mut Vec<String>, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            prefix.push(stem);
            collect(&path, prefix, out);
            prefix.pop();
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut name = prefix.clone();
            if !matches!(stem.as_str(), "mod" | "lib" | "main") {
                name.push(stem);
            }
            let text = fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            out.insert(name.join("::"), without_comments(code));
        }
    }
}

fn without_comments(code: &str) -> String {
    code.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules a source names through `crate::…`, including the items of
/// a `crate::a::{b, c::d}` group.
fn uses(text: &str, known: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let path = path.trim_end_matches(':');
        let after = &rest[path.len()..];
        if let Some(group) = after.strip_prefix("::{") {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let item = item.split_whitespace().next().unwrap_or("");
                let item = item.trim_start_matches("self").trim_start_matches("::");
                let full = if item.is_empty() {
                    path.to_string()
                } else {
                    format!("{path}::{item}")
                };
                found.extend(owner(&full, known));
            }
        }
        found.extend(owner(path, known));
    }
    found
}

/// The longest module that is a prefix of `path`.
fn owner(path: &str, known: &BTreeMap<String, String>) -> Option<String> {
    let segs: Vec<&str> = path.split("::").collect();
    (1..=segs.len())
        .rev()
        .map(|n| segs[..n].join("::"))
        .find(|m| known.contains_key(m))
}

fn edges() -> BTreeSet<(String, String)> {
    let known = modules();
    let mut edges = BTreeSet::new();
    for (m, text) in &known {
        for t in uses(text, &known) {
            // a module using its parent (the `super` of a submodule) is not an edge
            if t != *m && !m.starts_with(&format!("{t}::")) {
                edges.insert((m.clone(), t));
            }
        }
    }
    edges
}

fn stage(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

fn layer(stage: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&stage))
}

#[test]
fn every_stage_uses_only_the_stages_below_it() {
    let mut wrong = Vec::new();
    for (from, to) in edges() {
        let (a, b) = (stage(&from), stage(&to));
        if a == b || a.is_empty() {
            continue;
        }
        match (layer(a), layer(b)) {
            (Some(la), Some(lb)) if lb < la => {}
            (Some(_), Some(_)) => wrong.push(format!("{from} uses {to}")),
            _ => wrong.push(format!("{from} or {to} is in no layer")),
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_two_modules_use_each_other() {
    let edges = edges();
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in &edges {
        graph.entry(a).or_default().push(b);
    }
    // a module that reaches itself again is on a cycle
    let mut cycles = Vec::new();
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut todo = graph[start].clone();
        while let Some(m) = todo.pop() {
            if m == *start {
                cycles.push(start.to_string());
                break;
            }
            if seen.insert(m) {
                todo.extend(graph.get(m).into_iter().flatten().copied());
            }
        }
    }
    assert!(cycles.is_empty(), "modules on a cycle: {cycles:?}");
}

#[test]
fn the_check_sees_the_uses_it_must_judge() {
    // guard against a parser that finds nothing and so passes everything
    let edges = edges();
    for (a, b) in [
        ("syntax::load", "syntax::lex"),
        ("lint", "gateway::tree"),
        ("commands::manage", "manager::exec"),
        ("diag", "diag"),
    ] {
        let present = edges.contains(&(a.to_string(), b.to_string()));
        assert_eq!(present, a != b, "{a} -> {b}");
    }
}
