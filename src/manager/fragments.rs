//! Naming fragments, and finding the rules a fragment actually loaded.
//!
//! A NAME is a plain file name from a safe set (see [`check_name`]), given
//! bare (`customer-a`) or with its `.conf`; a fragment in a subdirectory of
//! fragment_dir is named by its path below it (`sub/acme`).  A NAME never
//! escapes fragment_dir: `..`, a leading `-` or `.`, and links that lead
//! out are refused.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::compiler::Compiled;
use crate::diag::{self, Kind};
use crate::escape::escaped;
use crate::manager::fragment_name::check_qualified;
pub use crate::manager::fragment_name::{MAX_NAME_BYTES, check_name};
use crate::manager::gateway::{Gateway, GwPath};
use crate::manager::state;
use crate::manager::tree::{Tree, fragment_name};
use crate::rules::model::Rule;

/// The fragment NAME names: `name`, `name.conf`, `sub/name`, or its path.
pub fn resolve(gw: &Gateway, arg: &str) -> Result<String, String> {
    let shown = escaped(arg);
    if arg.starts_with('-') {
        return Err(format!("{shown}: a fragment name may not start with '-'"));
    }
    if !arg.contains('/') {
        let name = fragment_name(arg);
        check_name(&name)?;
        return Ok(name);
    }
    let path = Path::new(arg);
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(format!("{shown}: '..' is not allowed in a fragment path"));
    }
    let dir = &gw.fragment_dir;
    let gateway_dir = format!("{}/", dir.gateway.trim_end_matches('/'));
    // a name below fragment_dir (`sub/acme`), the gateway's own path, or
    // the path on this machine
    let actual = if !arg.starts_with(['/', '.']) {
        dir.actual
            .join(format!("{}.conf", fragment_name_keep_dirs(arg)))
    } else if arg.starts_with(&gateway_dir) {
        gw.root.map(arg)
    } else {
        path.to_path_buf()
    };
    let Some(rel) = below(&actual, &dir.actual) else {
        return Err(format!(
            "{shown}: not in the fragment directory {}",
            escaped(&dir.gateway)
        ));
    };
    let name = fragment_name_keep_dirs(&rel);
    check_qualified(&name)?;
    Ok(name)
}

/// A path without its `.conf`, directories kept.
fn fragment_name_keep_dirs(path: &str) -> String {
    path.strip_suffix(".conf").unwrap_or(path).to_string()
}

/// Whether `path` is a file directly in `dir`, links resolved.
pub fn inside(path: &Path, dir: &Path) -> bool {
    below(path, dir).is_some_and(|rel| !rel.contains('/'))
}

/// The path of the file `path` below `dir` (`a.conf`, `sub/a.conf`), links
/// resolved; `None` if it is not there, or is a link that leads out.
fn below(path: &Path, dir: &Path) -> Option<String> {
    let canon_dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let parent = path.parent().unwrap_or(Path::new("."));
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let canon_parent = fs::canonicalize(parent).ok()?;
    let rel_dir = canon_parent.strip_prefix(&canon_dir).ok()?;
    let file = path.file_name()?;
    // a link in the directory that points elsewhere leads out of it
    if let Ok(target) = fs::canonicalize(path)
        && !target.starts_with(&canon_dir)
    {
        return None;
    }
    let rel = rel_dir.join(file);
    rel.to_str().map(str::to_string)
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
    tree.check_unambiguous(name)?;
    if let Some(text) = state::applied_copy(gw, name)? {
        let copy = gw.applied_copy(name);
        let compiled = gw.compile_text(&gw.shown(&copy), &text);
        return Ok(Loaded {
            from: LoadedFrom::Applied(copy),
            text,
            compiled: Some(compiled),
            tree_rules: Vec::new(),
        });
    }
    on_disk(gw, tree, name)
}

/// What the fragment's file holds, taken to be what it loaded (compiled
/// alone if it can be, else as part of the tree).
pub fn on_disk(gw: &Gateway, tree: &Tree, name: &str) -> Result<Loaded, String> {
    let Some(frag) = tree.fragment(name) else {
        return Err(format!(
            "no fragment {name}: not included by {}",
            escaped(&gw.ipsec_conf.gateway)
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
    let mut errs: Vec<String> = c
        .diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            // said by ipsecmgr's own message, not as ipsecctl's output
            let d = diag::Diagnostic {
                late: false,
                ..d.clone()
            };
            let text = diag::render_plain(&d, &c.parsed.sources);
            let text = text.trim_end().to_string();
            match d.kind {
                Kind::MacroUndefined => format!(
                    "{text} (a macro defined outside the file: `ipsecctl -f` reads the file alone)"
                ),
                Kind::IllegalTransform => format!(
                    "{text} (isakmpd has no name for it there: ipsecctl would stop writing the rule's commands at it; `compile` and `lint` report it too)"
                ),
                _ => text,
            }
        })
        .collect();
    if !errs.is_empty()
        && let Some(hint) = crlf_hint(c)
    {
        errs.push(hint);
    }
    errs
}

/// A hint for a file written with CRLF line ends (a file from Windows):
/// ipsecctl takes the carriage return as part of the line's last word.
pub fn crlf_hint(c: &Compiled) -> Option<String> {
    let file = c.parsed.sources.get(0);
    file.text.windows(2).any(|w| w == b"\r\n").then(|| {
        format!(
            "{}: the file has CRLF line ends; ipsecctl reads the carriage return as part of \
             the line, so convert it to LF line ends (e.g. `tr -d '\\r'`)",
            c.parsed.sources.display_name(0)
        )
    })
}
