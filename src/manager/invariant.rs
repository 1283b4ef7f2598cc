//! The promise every edit keeps: before anything is written, the edited
//! tree (the new ipsec.conf text, and each fragment as it will be) is
//! compiled as the gateway will read it at boot, and it must compile and
//! load exactly the rules it loaded before, with those of the one fragment
//! changed added, removed or replaced.  An include line that says more than
//! it should (a name smuggling a directive in), an include landing inside a
//! continued statement, or a fragment that includes ipsec.conf back, all
//! fail here, and nothing is written.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::compiler::Compiled;
use crate::escape::escaped;
use crate::manager::fragments;
use crate::manager::gateway::{Gateway, GwPath};
use crate::manager::tree::Tree;
use crate::rules::model::{Rule, RuleKind};
use crate::system::files;

/// One planned edit of the tree.
struct Edit<'a> {
    /// ipsec.conf as it will be.
    conf: &'a [u8],
    /// Files that will hold other bytes: (where ipsecmgr reads it, bytes).
    files: Vec<(PathBuf, Vec<u8>)>,
    /// The fragment whose rules go (its path in the include statement).
    without: Option<&'a str>,
    /// The rules that come in.
    with: &'a [Rule],
}

/// `add`: ipsec.conf becomes `conf`, and `dest` holds `text`, which
/// compiled alone to `new`.
pub fn after_add(
    gw: &Gateway,
    tree: &Tree,
    conf: &[u8],
    dest: &GwPath,
    text: &[u8],
    new: &Compiled,
) -> Result<(), String> {
    check(
        gw,
        tree,
        &Edit {
            conf,
            files: vec![(dest.actual.clone(), text.to_vec())],
            without: None,
            with: &new.rules,
        },
    )
}

/// `rm`: ipsec.conf becomes `conf`, no longer including fragment `name`.
pub fn after_rm(gw: &Gateway, tree: &Tree, conf: &[u8], name: &str) -> Result<(), String> {
    check(
        gw,
        tree,
        &Edit {
            conf,
            files: Vec::new(),
            without: tree.fragment(name).map(|f| f.gateway_path.as_str()),
            with: &[],
        },
    )
}

/// `apply`: fragment `name` (at `dest`) holds `text`, compiled to `new`.
pub fn after_apply(
    gw: &Gateway,
    tree: &Tree,
    name: &str,
    text: &[u8],
    new: &Compiled,
) -> Result<(), String> {
    // a fragment ipsec.conf does not include changes nothing it loads
    let Some(f) = tree.fragment(name) else {
        return Ok(());
    };
    let conf = &tree.compiled.parsed.sources.get(0).text;
    check(
        gw,
        tree,
        &Edit {
            conf,
            files: vec![(f.actual.clone(), text.to_vec())],
            without: Some(&f.gateway_path),
            with: &new.rules,
        },
    )
}

fn check(gw: &Gateway, tree: &Tree, edit: &Edit) -> Result<(), String> {
    let conf = &gw.ipsec_conf.gateway;
    let after = files::with_stand_ins(&edit.files, || gw.compile_text(conf, edit.conf));
    let refuse = |why: String| {
        Err(format!(
            "{} as edited would {why}; nothing was written",
            escaped(conf)
        ))
    };
    // a tree with errors may have been refused whole (a main file others
    // can read): what it would load is then read the way the edit is
    let recompiled;
    let tree = if tree.compiled.has_errors() {
        let old = &tree.compiled.parsed.sources.get(0).text;
        recompiled = Tree::from_compiled(gw.compile_text(conf, old));
        &recompiled
    } else {
        tree
    };
    let errors_before = tree.compiled.diags.iter().filter(|d| d.is_error()).count();
    let errors = fragments::errors(&after);
    // a tree already broken may stay so, but no edit may break it further
    if errors.len() > errors_before || (errors_before == 0 && !errors.is_empty()) {
        return refuse(format!("not compile:\n{}", errors.join("\n")));
    }
    let expected = expected_rules(tree, edit);
    let (extra, missing) = difference(&after.rules, &expected);
    if extra.is_empty() && missing.is_empty() {
        return Ok(());
    }
    let mut said = Vec::new();
    if let Some(r) = extra.first() {
        said.push(format!(
            "load {} rule(s) nobody asked for (the first at {}: {})",
            extra.len(),
            escaped(after.parsed.sources.display_name(r.origin.file)),
            r.origin.line
        ));
    }
    if let Some(r) = missing.first() {
        said.push(format!(
            "lose {} rule(s) of the rest of the tree (the first at {}: {})",
            missing.len(),
            escaped(tree.compiled.parsed.sources.display_name(r.origin.file)),
            r.origin.line
        ));
    }
    refuse(said.join(" and "))
}

/// The tree's rules, without those of the fragment going, with those coming.
fn expected_rules<'a>(tree: &'a Tree, edit: &Edit<'a>) -> Vec<&'a Rule> {
    let mut skip = vec![false; tree.compiled.rules.len()];
    for f in tree
        .fragments
        .iter()
        .filter(|f| Some(f.gateway_path.as_str()) == edit.without)
    {
        for &i in &f.rules {
            skip[i] = true;
        }
    }
    let mut rules: Vec<&Rule> = tree
        .compiled
        .rules
        .iter()
        .zip(skip)
        .filter(|(_, skipped)| !skipped)
        .map(|(r, _)| r)
        .collect();
    rules.extend(edit.with.iter());
    rules
}

/// Rules in `got` and not in `want`, and the other way round, counted as
/// multisets (a rule written twice is loaded twice).
fn difference<'a>(got: &'a [Rule], want: &[&'a Rule]) -> (Vec<&'a Rule>, Vec<&'a Rule>) {
    let mut count: HashMap<&RuleKind, isize> = HashMap::new();
    for r in want {
        *count.entry(&r.kind).or_default() += 1;
    }
    let mut extra = Vec::new();
    for r in got {
        match count.get_mut(&r.kind) {
            Some(n) if *n > 0 => *n -= 1,
            _ => extra.push(r),
        }
    }
    let mut missing = Vec::new();
    for r in want.iter().rev() {
        if let Some(n) = count.get_mut(&r.kind)
            && *n > 0
        {
            *n -= 1;
            missing.push(*r);
        }
    }
    missing.reverse();
    (extra, missing)
}
