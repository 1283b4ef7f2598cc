//! A journal read back is checked before a run takes it up: its steps
//! are carried out as root, so they may only do what ipsecmgr's plans do.
//! A step writes or moves files in the fragment directory, in the state
//! directory, or ipsec.conf (or the file its link leads to); it moves aside
//! only a file that ipsec.conf includes, before or after the run; it runs
//! ipsecctl only as `-f FILE` or `-d -f FILE` on such a file; and it sends
//! only whole lines of the commands ipsecmgr sends.

use std::path::{Component, Path, PathBuf};

use crate::escape::escaped_path;
use crate::manager::gateway::Gateway;
use crate::manager::plan::{Plan, Step};
use crate::system::fifo;

/// The FIFO commands ipsecmgr's plans send.
const FIFO_COMMANDS: &[&str] = &["C ", "t ", "c "];

/// Where a journal's steps may write.
struct Allowed {
    dirs: Vec<PathBuf>,
    conf: Vec<PathBuf>,
    /// The files ipsec.conf includes, in the versions the plan writes.
    included: Vec<PathBuf>,
}

impl Allowed {
    fn of(gw: &Gateway, plan: &Plan) -> Allowed {
        let mut conf = vec![gw.ipsec_conf.actual.clone()];
        conf.extend(gw.ipsec_conf_target());
        let mut included = Vec::new();
        let mut texts: Vec<Vec<u8>> = std::fs::read(&gw.ipsec_conf.actual).into_iter().collect();
        for step in &plan.steps {
            if let Step::Write { path, old, new, .. } = step
                && conf.contains(path)
            {
                texts.extend(old.iter().cloned());
                texts.push(new.clone());
            }
        }
        for text in &texts {
            for line in text.split(|&b| b == b'\n') {
                if let Some(p) = include_path(line) {
                    included.push(gw.root.map(&p));
                }
            }
        }
        // the keys file, which `key set` and `key migrate` write
        conf.extend(gw.settings.keys.as_ref().map(|k| gw.root.map(&k.file)));
        // and the settings, where `key migrate` declares the names it makes
        if gw.settings.keys.is_some() {
            conf.extend(gw.settings.source.clone());
        }
        Allowed {
            dirs: vec![gw.fragment_dir.actual.clone(), gw.state_dir.clone()],
            conf,
            included,
        }
    }

    /// A file in the fragment or state directory, or ipsec.conf.
    fn writable(&self, path: &Path) -> bool {
        self.conf.iter().any(|c| c == path) || self.dirs.iter().any(|d| inside(path, d))
    }

    /// What may be moved aside or read by ipsecctl: that, or a file
    /// ipsec.conf includes.
    fn readable(&self, path: &Path) -> bool {
        self.writable(path) || self.included.iter().any(|i| i == path)
    }
}

/// The path of a line `include "PATH"`.
fn include_path(line: &[u8]) -> Option<String> {
    let line = std::str::from_utf8(line).ok()?.trim();
    let rest = line.strip_prefix("include")?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

/// Whether `path` lies below `dir`, by name (no `..`), and where it can be
/// resolved, by what its directory resolves to as well.
fn inside(path: &Path, dir: &Path) -> bool {
    if path.components().any(|c| c == Component::ParentDir) || !path.starts_with(dir) {
        return false;
    }
    match (
        path.parent().and_then(|p| std::fs::canonicalize(p).ok()),
        std::fs::canonicalize(dir).ok(),
    ) {
        (Some(parent), Some(dir)) => parent.starts_with(dir),
        _ => true,
    }
}

fn refused(what: &str, path: &Path) -> String {
    format!(
        "a step {what} {}, which no plan of ipsecmgr does",
        escaped_path(path)
    )
}

/// Checks every step of `plan` (see the module's comment).
pub fn check(gw: &Gateway, plan: &Plan) -> Result<(), String> {
    let allowed = Allowed::of(gw, plan);
    for (i, step) in plan.steps.iter().enumerate() {
        // its bytes are not in the journal: only a rollback can take it up
        if matches!(step, Step::Write { private: true, .. }) && i >= plan.commit {
            return Err(
                "a private write after the commit point, which no plan of ipsecmgr makes".into(),
            );
        }
        match step {
            Step::Write { path, mode, .. } => {
                if !allowed.writable(path) {
                    return Err(refused("writes", path));
                }
                if mode & !0o777 != 0 {
                    return Err(format!(
                        "a step gives {} the mode {mode:o}",
                        escaped_path(path)
                    ));
                }
            }
            Step::Move { from, to, .. } => {
                if !allowed.readable(from) {
                    return Err(refused("moves", from));
                }
                if !inside(to, &gw.state_dir) && !allowed.writable(to) {
                    return Err(refused("moves a file to", to));
                }
            }
            Step::Ipsecctl {
                args, file, undo, ..
            } => {
                for args in std::iter::once(args).chain(undo) {
                    ipsecctl_args(&allowed, args)?;
                }
                if let Some((path, _)) = file
                    && !inside(path, &gw.work_dir())
                {
                    return Err(refused("writes rules into", path));
                }
            }
            Step::LoadKey { name, peers } => {
                let declared = gw.settings.keys.as_ref().is_some_and(|k| k.declares(name));
                if !declared {
                    return Err(format!(
                        "a step loads key {}, which the settings do not declare",
                        crate::escape::escaped(name)
                    ));
                }
                let lines: Vec<String> = peers.iter().map(|p| p.line("x")).collect();
                fifo::check_lines(&lines)?;
                if let Some(p) = peers
                    .iter()
                    .find(|p| !p.tag.starts_with("peer-") || p.tag.contains([']', ' ', '\t']))
                {
                    return Err(format!(
                        "a step loads a key for {}, which is no phase 1 peer",
                        crate::escape::escaped(&p.tag)
                    ));
                }
            }
            Step::Fifo { lines } | Step::FifoOnUndo { lines } => {
                fifo::check_lines(lines)?;
                if let Some(l) = lines
                    .iter()
                    .find(|l| !FIFO_COMMANDS.iter().any(|c| l.starts_with(c)))
                {
                    return Err(format!(
                        "a step sends \"{}\" into the FIFO, which no plan of ipsecmgr does",
                        crate::escape::escaped(l)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `-f FILE` or `-d -f FILE`, FILE one ipsecmgr loads or unloads.
fn ipsecctl_args(allowed: &Allowed, args: &[String]) -> Result<(), String> {
    let file = match args {
        [f, file] if f == "-f" => file,
        [d, f, file] if d == "-d" && f == "-f" => file,
        _ => {
            return Err(format!(
                "a step runs ipsecctl {}, which no plan of ipsecmgr does",
                crate::escape::escaped(&args.join(" "))
            ));
        }
    };
    let path = Path::new(file);
    if !allowed.readable(path) {
        return Err(refused("runs ipsecctl on", path));
    }
    Ok(())
}
