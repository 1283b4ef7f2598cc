//! The gateway ipsecmgr works on: its paths (under `--root` when given),
//! its name tables, and compiling files the way the gateway reads them;
//! its include tree of fragments ([`tree`]) and what conflicts between
//! them ([`conflicts`]).  Lint and the manager both stand on this stage.

pub mod certs;
pub mod checkout;
pub mod command;
pub mod conflicts;
pub mod neighbours;
pub mod tree;

use std::path::{Path, PathBuf};

use crate::compiler::{self, Compiled, Options};
use crate::escape::{escaped, escaped_path};
use crate::settings::Settings;
use crate::system::files::Root;
use crate::system::names::Names;

/// What was compiled, with the errors ipsecctl finds only while writing
/// isakmpd's commands (E047): a file `compile` and `lint` reject has
/// errors for every command that works on the gateway, before any step.
fn with_emission_errors(mut compiled: Compiled) -> Compiled {
    let late = crate::emit::emission_errors(&compiled);
    if !late.is_empty() {
        compiled.diags.extend(late);
        crate::diag::sort(&mut compiled.diags);
    }
    compiled
}

/// A path as the gateway names it, and where ipsecmgr finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GwPath {
    /// As written in ipsec.conf and in messages (`/etc/ipsec.d/a.conf`).
    pub gateway: String,
    /// Under `--root` when given.
    pub actual: PathBuf,
}

impl GwPath {
    pub fn new(gateway: &str, root: &Root) -> Self {
        GwPath {
            gateway: gateway.to_string(),
            actual: root.map(gateway),
        }
    }

    pub fn join(&self, name: &str) -> GwPath {
        GwPath {
            gateway: format!("{}/{name}", self.gateway.trim_end_matches('/')),
            actual: self.actual.join(name),
        }
    }
}

pub struct Gateway {
    pub settings: Settings,
    pub root: Root,
    pub names: Names,
    pub ipsec_conf: GwPath,
    pub fragment_dir: GwPath,
    pub ipsecctl: PathBuf,
    pub fifo: PathBuf,
    pub result: PathBuf,
    pub state_dir: PathBuf,
    /// How long one ipsecctl run may take.
    pub ipsecctl_timeout: std::time::Duration,
}

impl Gateway {
    pub fn new(settings: Settings, root: Root, offline: bool) -> Self {
        let names = settings.names(offline);
        Gateway {
            ipsec_conf: GwPath::new(&settings.ipsec_conf, &root),
            fragment_dir: GwPath::new(&settings.fragment_dir, &root),
            ipsecctl: root.map(&settings.ipsecctl),
            fifo: root.map(&settings.isakmpd_fifo),
            result: root.map(&settings.isakmpd_result),
            state_dir: root.map(&settings.state_dir),
            ipsecctl_timeout: std::time::Duration::from_secs(settings.ipsecctl_timeout),
            settings,
            root,
            names,
        }
    }

    /// How the gateway reads a file: `alone`, a file ipsecmgr hands to
    /// `ipsecctl -f` by itself (a fragment, rules to load or delete), which
    /// ipsecmgr always gives the keys file first (see manager::exec).
    fn options(&self, alone: bool) -> Options<'_> {
        let mut keys = self.settings.keys_file(&self.root, false);
        if let Some(k) = &mut keys {
            k.first = alone;
        }
        Options {
            root: self.root.clone(),
            check_secrecy: !self.root.is_set(),
            names: &self.names,
            hostname: self.settings.hostname(),
            main_local: false,
            keys,
        }
    }

    /// Whether ipsec.conf can be read: without it no command that works on
    /// the gateway's tree can run.  The message names the path tried.
    pub fn check_ipsec_conf(&self) -> Result<(), String> {
        let path = &self.ipsec_conf.actual;
        crate::system::files::read_regular(path, crate::system::files::MAX_CONFIG_BYTES)
            .map(|_| ())
            .map_err(|e| format!("{}: {}", crate::escape::escaped_path(path), e.0))
    }

    /// Compiles a file named as the gateway names it.
    pub fn compile(&self, gateway_path: &str) -> Compiled {
        let alone = !crate::syntax::load::same_path(gateway_path, &self.settings.ipsec_conf);
        with_emission_errors(compiler::compile_file(gateway_path, &self.options(alone)))
    }

    /// Compiles text as if it were installed as the file `installed` (its
    /// includes resolved from there), naming it `shown` in messages: the
    /// file the user gave, with its own line numbers.
    pub fn compile_as(&self, installed: &str, shown: &str, text: &[u8]) -> Compiled {
        let mut compiled = self.compile_text(installed, text);
        compiled.parsed.sources.rename(0, shown);
        compiled
    }

    /// Compiles text as if it were the file `name`, alone.
    pub fn compile_text(&self, name: &str, text: &[u8]) -> Compiled {
        let alone = !crate::syntax::load::same_path(name, &self.settings.ipsec_conf);
        with_emission_errors(compiler::compile_text(
            name,
            text.to_vec(),
            &self.options(alone),
        ))
    }

    /// Where the copy of a fragment as last applied is kept.
    pub fn applied_copy(&self, name: &str) -> PathBuf {
        self.state_dir.join("applied").join(format!("{name}.conf"))
    }

    /// Where removed fragments go (never deleted).
    pub fn removed_dir(&self) -> PathBuf {
        self.state_dir.join("removed")
    }

    /// Scratch files holding rules for one ipsecctl run.
    pub fn work_dir(&self) -> PathBuf {
        self.state_dir.join("work")
    }

    pub fn journal_path(&self) -> PathBuf {
        self.state_dir.join("journal")
    }

    /// A path ipsecmgr created, shown as the gateway names it (control
    /// characters escaped).
    pub fn shown(&self, actual: &Path) -> String {
        match &self.root.0 {
            Some(root) => match actual.strip_prefix(root) {
                Ok(rel) => format!("/{}", escaped_path(rel)),
                Err(_) => escaped_path(actual),
            },
            None => escaped_path(actual),
        }
    }

    /// The file to replace when ipsec.conf is edited: ipsec.conf, or the
    /// file its link leads to (a link kept by configuration management
    /// stays a link, and its target gets the edit).  A link that leads
    /// nowhere, or out of `--root`, is refused.
    pub fn ipsec_conf_target(&self) -> Result<PathBuf, String> {
        let path = &self.ipsec_conf.actual;
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            return Ok(path.clone());
        }
        let shown = escaped(&self.ipsec_conf.gateway);
        let target = std::fs::canonicalize(path).map_err(|e| {
            format!(
                "{shown}: a link to a file that cannot be reached ({}); edit it by hand",
                crate::system::files::io_reason(&e)
            )
        })?;
        if let Some(root) = &self.root.0
            && !target.starts_with(std::fs::canonicalize(root).unwrap_or_else(|_| root.clone()))
        {
            return Err(format!(
                "{shown}: a link leading out of {} (to {}); edit it by hand",
                escaped_path(root),
                escaped_path(&target)
            ));
        }
        Ok(target)
    }
}
