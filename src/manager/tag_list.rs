//! What `tags` lists: the isakmpd names a fragment (or a file) makes, each
//! once, and with `--teardown` the FIFO lines that take them down.

use std::fs;
use std::path::PathBuf;

use crate::compiler::Compiled;
use crate::escape::{escaped, escaped_path};
use crate::manager::fragments::{self, Loaded};
use crate::manager::gateway::Gateway;
use crate::manager::sections::ike_sections;
use crate::manager::teardown::{self, ikes};
use crate::manager::tree::Tree;
use crate::rules::model::{Ike, Rule};
use crate::system::files;

/// What `tags TARGET` lists the names of.
pub enum Target {
    /// A fragment ipsec.conf includes (or that was applied): the rules it
    /// loaded.
    Fragment { name: String, loaded: Loaded },
    /// Any other file, compiled alone.
    File(Compiled),
}

/// Why a target cannot be read; each message as shown after `tags: `.
pub enum TargetError {
    /// There is no such fragment or file, or the fragment cannot be read.
    NotFound(String),
    /// The file is there but cannot be read: `tags` could not run.
    Unreadable(String),
}

/// The target `arg` names: a fragment, a file of the fragment directory
/// ipsec.conf does not include, or a file by its path.
pub fn target(gw: &Gateway, tree: &Tree, arg: &str) -> Result<Target, TargetError> {
    let fragment = fragments::resolve(gw, arg)
        .ok()
        .filter(|n| tree.fragment(n).is_some() || gw.applied_copy(n).exists());
    match fragment {
        Some(name) => match fragments::loaded(gw, tree, &name) {
            Ok(loaded) => Ok(Target::Fragment { name, loaded }),
            Err(e) => Err(TargetError::NotFound(e)),
        },
        None => file_target(gw, arg),
    }
}

fn file_target(gw: &Gateway, arg: &str) -> Result<Target, TargetError> {
    // a bare name may be a file of the fragment directory that ipsec.conf
    // does not include
    let in_dir = fragments::resolve(gw, arg)
        .ok()
        .filter(|_| !arg.contains('/'))
        .map(|n| fragments::file_of(gw, &n).actual)
        .filter(|p| fs::symlink_metadata(p).is_ok());
    let path = in_dir.unwrap_or_else(|| PathBuf::from(arg));
    // only regular files: a FIFO or a device would never end
    match files::read_regular(&path, files::MAX_CONFIG_BYTES) {
        Ok(data) => Ok(Target::File(gw.compile_text(arg, &data.bytes))),
        Err(_) if fs::symlink_metadata(&path).is_err() => Err(TargetError::NotFound(format!(
            "{}: no such fragment or file",
            escaped(arg)
        ))),
        Err(e) => Err(TargetError::Unreadable(format!(
            "{}: {}",
            escaped_path(&path),
            e.0
        ))),
    }
}

impl Target {
    pub fn fragment(&self) -> Option<&str> {
        match self {
            Target::Fragment { name, .. } => Some(name),
            Target::File(_) => None,
        }
    }

    fn rules<'a>(&'a self, tree: &'a Tree) -> Vec<&'a Rule> {
        match self {
            Target::Fragment { loaded, .. } => loaded.rules(tree),
            Target::File(compiled) => compiled.rules.iter().collect(),
        }
    }
}

/// The names, as (kind, name) with kind phase1, phase2 or id, and the
/// teardown lines when asked for.
pub struct TagList {
    pub named: Vec<(&'static str, String)>,
    pub teardown: Option<Vec<String>>,
}

impl TagList {
    /// The names of one kind.
    pub fn of(&self, kind: &str) -> Vec<&String> {
        self.named
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, v)| v)
            .collect()
    }
}

pub fn tag_list(tree: &Tree, target: &Target, with_teardown: bool) -> TagList {
    let own = ikes(target.rules(tree));
    let teardown = with_teardown.then(|| {
        let remaining: Vec<&Rule> = match target.fragment() {
            Some(n) => tree.rules_except(n).collect(),
            None => tree.compiled.rules.iter().collect(),
        };
        // ipsecmgr's own copy of what `ipsecctl -d` sends comes first
        teardown::cleanup_lines(&own, &ikes(remaining))
    });
    TagList {
        named: named(&own),
        teardown,
    }
}

/// Each tag once, in the order the rules name them.
fn named(own: &[&Ike]) -> Vec<(&'static str, String)> {
    let mut named = Vec::new();
    for ike in own {
        let s = ike_sections(ike);
        named.push(("phase1", s.phase1));
        named.push(("phase2", s.phase2));
        for id in s.network_ids.into_iter().chain(s.id_sections) {
            named.push(("id", id));
        }
    }
    let mut seen = std::collections::HashSet::new();
    named.retain(|n| seen.insert(n.clone()));
    named
}
