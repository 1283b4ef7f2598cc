//! The include tree: ipsec.conf and the fragments it includes, each with the
//! rules it holds (a fragment's own includes count as part of it).

use std::path::PathBuf;

use crate::compiler::Compiled;
use crate::diag::FileId;
use crate::manager::gateway::Gateway;
use crate::rules::model::Rule;

/// A file ipsec.conf includes directly.
#[derive(Debug, Clone)]
pub struct Fragment {
    /// The file name without `.conf`: what commands take.
    pub name: String,
    /// The path in the include statement.
    pub gateway_path: String,
    pub actual: PathBuf,
    pub file: FileId,
    /// The line of its include statement in ipsec.conf.
    pub include_line: u32,
    /// Indices into the tree's rules.
    pub rules: Vec<usize>,
}

pub struct Tree {
    pub compiled: Compiled,
    pub fragments: Vec<Fragment>,
    /// Rules of ipsec.conf itself.
    pub main_rules: Vec<usize>,
}

/// A fragment's name: its file name without `.conf`.
pub fn fragment_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.strip_suffix(".conf").unwrap_or(file).to_string()
}

impl Tree {
    /// Compiles the gateway's ipsec.conf and sorts its rules by fragment.
    pub fn load(gw: &Gateway) -> Tree {
        Tree::from_compiled(gw.compile(&gw.ipsec_conf.gateway))
    }

    pub fn from_compiled(compiled: Compiled) -> Tree {
        let sources = &compiled.parsed.sources;
        let mut fragments: Vec<Fragment> = Vec::new();
        // the file each source belongs to: 0 for ipsec.conf, else its fragment
        let mut owner: Vec<Option<usize>> = Vec::with_capacity(sources.len());
        for (id, file) in sources.iter() {
            let slot = match file.included_from {
                None => None,
                Some(span) if span.file == 0 => {
                    fragments.push(Fragment {
                        name: fragment_name(&file.name),
                        gateway_path: file.name.clone(),
                        actual: file.path.clone().unwrap_or_default(),
                        file: id,
                        include_line: span.line,
                        rules: Vec::new(),
                    });
                    Some(fragments.len() - 1)
                }
                Some(span) => owner.get(span.file as usize).copied().flatten(),
            };
            owner.push(slot);
        }
        let mut main_rules = Vec::new();
        for (i, rule) in compiled.rules.iter().enumerate() {
            match owner.get(rule.origin.file as usize).copied().flatten() {
                Some(f) => fragments[f].rules.push(i),
                None => main_rules.push(i),
            }
        }
        Tree {
            compiled,
            fragments,
            main_rules,
        }
    }

    pub fn fragment(&self, name: &str) -> Option<&Fragment> {
        self.fragments.iter().find(|f| f.name == name)
    }

    pub fn rules_of<'a>(&'a self, f: &'a Fragment) -> impl Iterator<Item = &'a Rule> + 'a {
        f.rules.iter().map(|&i| &self.compiled.rules[i])
    }

    /// Every rule not in fragment `name`.
    pub fn rules_except<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        let mut skip = vec![false; self.compiled.rules.len()];
        for f in self.fragments.iter().filter(|f| f.name == name) {
            for &i in &f.rules {
                skip[i] = true;
            }
        }
        self.compiled
            .rules
            .iter()
            .zip(skip)
            .filter(|(_, skipped)| !skipped)
            .map(|(r, _)| r)
    }
}
