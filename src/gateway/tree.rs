//! The include tree: ipsec.conf and the fragments it includes, each with the
//! rules it holds (a fragment's own includes count as part of it).

use std::collections::HashMap;
use std::path::PathBuf;

use crate::compiler::Compiled;
use crate::diag::FileId;
use crate::escape::escaped;
use crate::gateway::Gateway;
use crate::rules::model::Rule;

/// A file ipsec.conf includes directly.
#[derive(Debug, Clone)]
pub struct Fragment {
    /// The file name without `.conf`: what commands take; for a file in a
    /// subdirectory of fragment_dir, its path below it (`sub/acme`).
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

/// An include line of ipsec.conf naming a file that does not exist: it
/// loads nothing, and `ipsecctl -f ipsec.conf` at boot fails on it.
#[derive(Debug, Clone)]
pub struct Missing {
    pub name: String,
    /// The path in the include statement.
    pub gateway_path: String,
    pub include_line: u32,
}

/// An include line of ipsec.conf naming a file that is there but cannot be
/// read (a directory, a FIFO, a link out of `--root`): it is still
/// included, and says what is wrong with it.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub name: String,
    pub gateway_path: String,
    pub include_line: u32,
    /// The error at the include line.
    pub problem: String,
}

pub struct Tree {
    pub compiled: Compiled,
    pub fragments: Vec<Fragment>,
    /// Rules of ipsec.conf itself.
    pub main_rules: Vec<usize>,
    /// Fragments by name and by base name, built on first use, so that
    /// looking every fragment up stays linear.
    index: std::cell::OnceCell<Index>,
}

/// Indices into `Tree::fragments`, by name and by base name.
#[derive(Default)]
struct Index {
    by_name: HashMap<String, Vec<usize>>,
    by_base: HashMap<String, Vec<usize>>,
}

/// A fragment's name: its file name without `.conf`.
pub fn fragment_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.strip_suffix(".conf").unwrap_or(file).to_string()
}

/// The path of a line that is an include statement (`include "PATH"`).
fn included_path(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix("include")?;
    let rest = rest.trim_start().strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_string())
}

impl Tree {
    /// Compiles the gateway's ipsec.conf and sorts its rules by fragment.
    pub fn load(gw: &Gateway) -> Tree {
        let mut tree = Tree::from_compiled(gw.compile(&gw.ipsec_conf.gateway));
        tree.qualify_names(&gw.fragment_dir.gateway);
        tree
    }

    /// Names fragments below fragment_dir by their path there, so that
    /// `ipsec.d/acme.conf` and `ipsec.d/sub/acme.conf` are `acme` and
    /// `sub/acme`, not both `acme`.
    pub fn qualify_names(&mut self, fragment_dir: &str) {
        let dir = format!("{}/", fragment_dir.trim_end_matches('/'));
        for f in &mut self.fragments {
            if let Some(rel) = f.gateway_path.strip_prefix(&dir)
                && !rel.split('/').any(|part| part.is_empty() || part == "..")
            {
                f.name = rel.strip_suffix(".conf").unwrap_or(rel).to_string();
            }
        }
        self.index = std::cell::OnceCell::new();
    }

    fn index(&self) -> &Index {
        self.index.get_or_init(|| {
            let mut index = Index::default();
            for (i, f) in self.fragments.iter().enumerate() {
                index.by_name.entry(f.name.clone()).or_default().push(i);
                let base = fragment_name(&f.gateway_path);
                index.by_base.entry(base).or_default().push(i);
            }
            index
        })
    }

    /// Refuses a name that could mean more than one file: two fragments
    /// of that name (files outside fragment_dir), or, when no fragment has
    /// the name, several in subdirectories whose file is called so.
    pub fn check_unambiguous(&self, name: &str) -> Result<(), String> {
        let index = self.index();
        let candidates = match index.by_name.get(name) {
            Some(exact) => exact,
            None => match index.by_base.get(name) {
                Some(by_base) => by_base,
                None => return Ok(()),
            },
        };
        let why = if candidates.len() > 1 {
            "ambiguous fragment name"
        } else {
            "no fragment has this name"
        };
        let candidates: Vec<&Fragment> = candidates.iter().map(|&i| &self.fragments[i]).collect();
        let mut paths: Vec<&str> = candidates.iter().map(|f| f.gateway_path.as_str()).collect();
        paths.sort();
        paths.dedup();
        if paths.len() < 2 && candidates.iter().all(|f| f.name == name) {
            return Ok(());
        }
        let listed: Vec<String> = candidates
            .iter()
            .map(|f| format!("  {} ({})", escaped(&f.name), escaped(&f.gateway_path)))
            .collect();
        Err(format!(
            "{}: {why}; name one of:\n{}",
            escaped(name),
            listed.join("\n")
        ))
    }

    pub fn from_compiled(compiled: Compiled) -> Tree {
        let sources = &compiled.parsed.sources;
        let mut fragments: Vec<Fragment> = Vec::new();
        // the file each source belongs to: 0 for ipsec.conf, else its fragment
        let mut owner: Vec<Option<usize>> = Vec::with_capacity(sources.len());
        for (id, file) in sources.iter() {
            let slot = match file.included_from {
                None => None,
                // the keys file holds the keys' macros, no tunnel of its own
                Some(span) if span.file == 0 && file.keys => None,
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
            index: std::cell::OnceCell::new(),
        }
    }

    /// The include lines of ipsec.conf itself whose file does not exist.
    pub fn missing(&self, gw: &Gateway) -> Vec<Missing> {
        self.failed_includes(gw)
            .into_iter()
            .filter(|(_, gone)| *gone)
            .map(|(m, _)| m)
            .collect()
    }

    /// The include lines of ipsec.conf itself whose file is there but
    /// cannot be read.
    pub fn unreadable(&self, gw: &Gateway) -> Vec<Unreadable> {
        self.failed_includes(gw)
            .into_iter()
            .filter(|(_, gone)| !*gone)
            .map(|(m, _)| {
                let problem = self
                    .compiled
                    .diags
                    .iter()
                    .find(|d| {
                        d.kind == crate::diag::Kind::IncludeFailed
                            && d.span
                                .is_some_and(|s| s.file == 0 && s.line == m.include_line)
                    })
                    .map_or_else(|| "cannot be read".to_string(), |d| d.message.clone());
                Unreadable {
                    name: m.name,
                    gateway_path: m.gateway_path,
                    include_line: m.include_line,
                    problem,
                }
            })
            .collect()
    }

    /// The include lines of ipsec.conf itself that failed, each with
    /// whether its file does not exist.
    fn failed_includes(&self, gw: &Gateway) -> Vec<(Missing, bool)> {
        let main = &self.compiled.parsed.sources.get(0).text;
        let lines: Vec<&[u8]> = main.split(|&b| b == b'\n').collect();
        let dir = format!("{}/", gw.fragment_dir.gateway.trim_end_matches('/'));
        let mut out: Vec<(Missing, bool)> = Vec::new();
        for d in &self.compiled.diags {
            let Some(span) = d.span.filter(|s| s.file == 0) else {
                continue;
            };
            if d.kind != crate::diag::Kind::IncludeFailed {
                continue;
            }
            let Some(path) = span
                .line
                .checked_sub(1)
                .and_then(|i| lines.get(i as usize))
                .and_then(|l| included_path(&String::from_utf8_lossy(l)))
            else {
                continue;
            };
            // the keys file is no fragment, missing or not
            if let Some(keys) = &gw.settings.keys
                && crate::syntax::load::same_path(&keys.file, &path)
            {
                continue;
            }
            let gone = std::fs::symlink_metadata(gw.root.map(&path))
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
            if out.iter().any(|(m, _)| m.include_line == span.line) {
                continue;
            }
            let name = match path.strip_prefix(&dir) {
                Some(rel) => rel.strip_suffix(".conf").unwrap_or(rel).to_string(),
                None => fragment_name(&path),
            };
            out.push((
                Missing {
                    name,
                    gateway_path: path,
                    include_line: span.line,
                },
                gone,
            ));
        }
        out
    }

    pub fn fragment(&self, name: &str) -> Option<&Fragment> {
        let first = *self.index().by_name.get(name)?.first()?;
        Some(&self.fragments[first])
    }

    pub fn rules_of<'a>(&'a self, f: &'a Fragment) -> impl Iterator<Item = &'a Rule> + 'a {
        f.rules.iter().map(|&i| &self.compiled.rules[i])
    }

    /// Every rule not in fragment `name` (the file it names: a fragment of
    /// the same base name elsewhere keeps its rules).
    pub fn rules_except<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        let mut skip = vec![false; self.compiled.rules.len()];
        let path = self.fragment(name).map(|f| f.gateway_path.as_str());
        for f in self
            .fragments
            .iter()
            .filter(|f| Some(f.gateway_path.as_str()) == path)
        {
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
