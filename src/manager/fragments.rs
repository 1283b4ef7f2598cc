//! Naming fragments, and finding the rules a fragment actually loaded.
//!
//! A NAME never escapes fragment_dir: `customer-a`, `customer-a.conf`, or a
//! path that resolves inside fragment_dir; `..`, a leading `-`, and links
//! that lead out are refused.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::compiler::Compiled;
use crate::diag::{self, Kind};
use crate::manager::gateway::{Gateway, GwPath};
use crate::manager::tree::{Tree, fragment_name};
use crate::rules::model::Rule;

/// Checks a fragment name: a plain file name, without `.conf`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty fragment name".into());
    }
    if name.starts_with('-') {
        return Err(format!("{name}: a fragment name may not start with '-'"));
    }
    if name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(format!("{name}: not a file name in the fragment directory"));
    }
    Ok(())
}

/// The fragment NAME names: `name`, `name.conf`, or its path.
pub fn resolve(gw: &Gateway, arg: &str) -> Result<String, String> {
    if arg.starts_with('-') {
        return Err(format!("{arg}: a fragment name may not start with '-'"));
    }
    if !arg.contains('/') {
        let name = fragment_name(arg);
        check_name(&name)?;
        return Ok(name);
    }
    let path = Path::new(arg);
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(format!("{arg}: '..' is not allowed in a fragment path"));
    }
    let dir = &gw.fragment_dir;
    // the gateway's own path, or the path on this machine
    let actual = if arg.starts_with(&format!("{}/", dir.gateway.trim_end_matches('/'))) {
        gw.root.map(arg)
    } else {
        path.to_path_buf()
    };
    if !inside(&actual, &dir.actual) {
        return Err(format!(
            "{arg}: not in the fragment directory {}",
            dir.gateway
        ));
    }
    let name = fragment_name(arg);
    check_name(&name)?;
    Ok(name)
}

/// Whether `path` is a file directly in `dir`, links resolved.
pub fn inside(path: &Path, dir: &Path) -> bool {
    let canon_dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let parent = path.parent().unwrap_or(Path::new("."));
    let canon_parent = fs::canonicalize(if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    });
    let Ok(canon_parent) = canon_parent else {
        return false;
    };
    if canon_parent != canon_dir {
        return false;
    }
    // a link in the directory that points elsewhere leads out of it
    match fs::canonicalize(path) {
        Ok(target) => target.parent() == Some(canon_dir.as_path()),
        Err(_) => true,
    }
}

/// The fragment file of a name.
pub fn file_of(gw: &Gateway, name: &str) -> GwPath {
    gw.fragment_dir.join(&format!("{name}.conf"))
}

/// Where a fragment's rules come from.
pub enum LoadedFrom {
    /// The copy saved when ipsecmgr last applied it.
    Applied(PathBuf),
    /// The file as it is, for a fragment ipsecmgr did not load itself.
    Disk(PathBuf),
}

/// The rules a fragment loaded, and the file that holds exactly them.
pub struct Loaded {
    pub from: LoadedFrom,
    pub text: Vec<u8>,
    pub compiled: Option<Compiled>,
    /// Indices into the tree's rules, when the rules come from the tree.
    pub tree_rules: Vec<usize>,
}

impl Loaded {
    pub fn rules<'a>(&'a self, tree: &'a Tree) -> Vec<&'a Rule> {
        match &self.compiled {
            Some(c) => c.rules.iter().collect(),
            None => self
                .tree_rules
                .iter()
                .map(|&i| &tree.compiled.rules[i])
                .collect(),
        }
    }

    /// A file ipsecctl can read alone that holds these rules.
    pub fn standalone_file(&self) -> Option<&Path> {
        match (&self.from, &self.compiled) {
            (LoadedFrom::Applied(p), _) => Some(p),
            (LoadedFrom::Disk(p), Some(c)) if !c.has_errors() => Some(p),
            _ => None,
        }
    }
}

/// What fragment `name` loaded: its applied copy when there is one, else
/// the file on disk (compiled alone if it can be, else as part of the tree).
pub fn loaded(gw: &Gateway, tree: &Tree, name: &str) -> Result<Loaded, String> {
    let copy = gw.applied_copy(name);
    if let Ok(text) = fs::read(&copy) {
        let compiled = gw.compile_text(&gw.shown(&copy), &text);
        return Ok(Loaded {
            from: LoadedFrom::Applied(copy),
            text,
            compiled: Some(compiled),
            tree_rules: Vec::new(),
        });
    }
    let Some(frag) = tree.fragment(name) else {
        return Err(format!(
            "no fragment {name}: not included by {}",
            gw.ipsec_conf.gateway
        ));
    };
    let text = fs::read(&frag.actual).unwrap_or_default();
    let alone = gw.compile_text(&frag.gateway_path, &text);
    let clean = !alone.has_errors();
    Ok(Loaded {
        from: LoadedFrom::Disk(frag.actual.clone()),
        text,
        compiled: clean.then_some(alone),
        tree_rules: frag.rules.clone(),
    })
}

/// The errors of a compiled file, rendered; a macro from outside gets the
/// reason it matters.
pub fn errors(c: &Compiled) -> Vec<String> {
    c.diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            let text = diag::render_plain(d, &c.parsed.sources);
            let text = text.trim_end().to_string();
            if d.kind == Kind::MacroUndefined {
                format!(
                    "{text} (a macro defined outside the file: `ipsecctl -f` reads the file alone)"
                )
            } else {
                text
            }
        })
        .collect()
}
