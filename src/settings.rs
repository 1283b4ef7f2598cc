//! ipsecmgr's own configuration (TOML): name tables and defaults.
//!
//! ```toml
//! hostname = "gw1.example.net"     # the srcid of `ike dynamic` rules
//! ipsec_conf = "/etc/ipsec.conf"   # these paths: the defaults
//! fragment_dir = "/etc/ipsec.d"
//! ipsecctl = "/sbin/ipsecctl"
//! isakmpd_fifo = "/var/run/isakmpd.fifo"
//! isakmpd_result = "/var/run/isakmpd.result"
//! state_dir = "/var/db/ipsecmgr"
//! ipsecctl_timeout = 60            # seconds one ipsecctl run may take
//! isakmpd_reinit_window = 7        # seconds a run watches isakmpd's reinit
//!
//! [hosts]
//! gw-berlin = ["192.0.2.1"]
//!
//! [interfaces]
//! em0 = ["192.0.2.254", "2001:db8::1"]
//!
//! [lint]
//! ignore = ["L401"]                # lint codes left out (select: only these)
//!
//! [keys]                           # pre-shared keys kept out of the repository
//! file = "/etc/ipsec.keys"         # macros ipsec.conf includes first
//! names = ["acme_psk"]             # the key macros, declared without values
//!
//! [certificates]
//! dir = "/etc/isakmpd"             # isakmpd's ca/, certs/, private/
//! warn_days = 30                   # warn of a certificate expiring sooner
//! ```

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::escape::escaped;
use crate::rules::inet;
use crate::system::files::{self, Root};
use crate::system::names::Names;

/// Read when no `-c` is given and the file exists.
pub const DEFAULT_PATH: &str = "/etc/ipsecmgr.conf";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Host names and their addresses, used instead of the resolver.
    #[serde(default)]
    pub hosts: BTreeMap<String, Vec<String>>,
    /// Interface names and their addresses, used instead of the system's.
    #[serde(default)]
    pub interfaces: BTreeMap<String, Vec<String>>,
    /// The name `ike dynamic` rules without a srcid identify with; the
    /// system's host name when unset.
    pub hostname: Option<String>,
    /// The configuration ipsecctl loads at boot.
    #[serde(default = "default_ipsec_conf")]
    pub ipsec_conf: String,
    /// Where the tunnel files (fragments) live.
    #[serde(default = "default_fragment_dir")]
    pub fragment_dir: String,
    /// The ipsecctl(8) to run.
    #[serde(default = "default_ipsecctl")]
    pub ipsecctl: String,
    /// isakmpd's command FIFO.
    #[serde(default = "default_isakmpd_fifo")]
    pub isakmpd_fifo: String,
    /// Where isakmpd writes its reports.
    #[serde(default = "default_isakmpd_result")]
    pub isakmpd_result: String,
    /// ipsecmgr's own state: applied copies, removed files, lock, journal.
    #[serde(default = "default_state_dir")]
    pub state_dir: String,
    /// How long (seconds) one run of ipsecctl may take before it is killed
    /// and the command fails (and is rolled back).
    #[serde(default = "default_ipsecctl_timeout")]
    pub ipsecctl_timeout: u64,
    /// How long (seconds) after changing isakmpd's connection lists a run
    /// watches for a peer re-initiating what it took away: isakmpd keeps
    /// answering for a connection until it rebuilds them, 5 s after the
    /// last change.  Only a stand-in isakmpd for tests needs less.
    #[serde(default = "default_reinit_window")]
    pub isakmpd_reinit_window: u64,
    /// Which lint codes `ipsecmgr lint` reports.
    #[serde(default)]
    pub lint: LintSelection,
    /// The keys layout: pre-shared keys as macros of one file that
    /// ipsec.conf includes first, kept out of the configuration
    /// repository; declared here by name, without values.
    #[serde(default)]
    pub keys: Option<KeysSettings>,
    /// Where isakmpd keeps certificates, and how early lint warns of one
    /// that expires.
    #[serde(default)]
    pub certificates: CertificateSettings,
    /// Where the settings were read from, for messages.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

fn default_ipsec_conf() -> String {
    "/etc/ipsec.conf".into()
}
fn default_fragment_dir() -> String {
    "/etc/ipsec.d".into()
}
fn default_ipsecctl() -> String {
    "/sbin/ipsecctl".into()
}
fn default_isakmpd_fifo() -> String {
    "/var/run/isakmpd.fifo".into()
}
fn default_isakmpd_result() -> String {
    "/var/run/isakmpd.result".into()
}
fn default_state_dir() -> String {
    "/var/db/ipsecmgr".into()
}
/// isakmpd's 5 s (ui.c: ui_conn_reinit) and room for a busy daemon.
fn default_reinit_window() -> u64 {
    7
}

/// Below this, a window ends before isakmpd's reinit.
const MIN_REINIT_WINDOW: u64 = 6;

fn default_ipsecctl_timeout() -> u64 {
    crate::system::ipsecctl::DEFAULT_TIMEOUT.as_secs()
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            hosts: BTreeMap::new(),
            interfaces: BTreeMap::new(),
            hostname: None,
            ipsec_conf: default_ipsec_conf(),
            fragment_dir: default_fragment_dir(),
            ipsecctl: default_ipsecctl(),
            isakmpd_fifo: default_isakmpd_fifo(),
            isakmpd_result: default_isakmpd_result(),
            state_dir: default_state_dir(),
            ipsecctl_timeout: default_ipsecctl_timeout(),
            isakmpd_reinit_window: default_reinit_window(),
            lint: LintSelection::default(),
            keys: None,
            certificates: CertificateSettings::default(),
            source: None,
        }
    }
}

/// A problem with the settings file, worded `FILE: LINE: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError(pub String);

impl Settings {
    /// Reads `-c FILE`, or the default file under `root` when it exists.
    pub fn load(given: Option<&Path>, root: &Root) -> Result<Settings, SettingsError> {
        let path = match given {
            Some(p) => p.to_path_buf(),
            None => {
                let p = root.map(DEFAULT_PATH);
                if !p.exists() {
                    return Ok(Settings::default());
                }
                p
            }
        };
        if path == Path::new("/dev/null") {
            // the usual way to say "no settings file"
            return Ok(Settings::default());
        }
        let shown = crate::escape::escaped_path(&path);
        let data = files::read_regular(&path, 1 << 20)
            .map_err(|e| SettingsError(format!("{shown}: {}", e.0)))?;
        let text = String::from_utf8(data.bytes)
            .map_err(|_| SettingsError(format!("{shown}: not UTF-8 text")))?;
        let mut settings =
            Settings::parse(&text).map_err(|e| SettingsError(format!("{shown}: {e}")))?;
        settings
            .check_paths(root)
            .map_err(|e| SettingsError(format!("{shown}: {e}")))?;
        settings.source = Some(path);
        Ok(settings)
    }

    /// Parses settings text; errors start with the line number.
    pub fn parse(text: &str) -> Result<Settings, String> {
        let settings: Settings = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            // it may quote a key of the file: on one line, escaped
            let msg = escaped(e.message().trim_end());
            match line {
                Some(line) => format!("{line}: {}", in_table(text, line, msg)),
                None => msg,
            }
        })?;
        settings.check_text()?;
        settings.addresses("hosts", &settings.hosts)?;
        settings.addresses("interfaces", &settings.interfaces)?;
        check_lint_codes("lint.select", &settings.lint.select)?;
        check_lint_codes("lint.ignore", &settings.lint.ignore)?;
        if let Some(keys) = &settings.keys {
            keys.check()?;
        }
        settings.certificates.check()?;
        Ok(settings)
    }

    /// Names and paths hold no control characters: they go into include
    /// lines, FIFO lines and messages, where a newline would start a line
    /// of its own.
    fn check_text(&self) -> Result<(), String> {
        let mut values: Vec<(String, &str)> = self
            .all_paths()
            .iter()
            .map(|(key, path)| (key.to_string(), *path))
            .collect();
        if let Some(h) = &self.hostname {
            values.push(("hostname".into(), h));
        }
        for (table, entries) in [("hosts", &self.hosts), ("interfaces", &self.interfaces)] {
            for (name, addrs) in entries {
                values.push((table.to_string(), name));
                for a in addrs {
                    values.push((format!("{table}.{}", escaped(name)), a));
                }
            }
        }
        match values.iter().find(|(_, v)| v.chars().any(char::is_control)) {
            Some((key, v)) => Err(format!(
                "{key}: \"{}\" holds a control character",
                escaped(v)
            )),
            None => Ok(()),
        }
    }

    fn addresses(
        &self,
        table: &str,
        entries: &BTreeMap<String, Vec<String>>,
    ) -> Result<HashMap<String, Vec<IpAddr>>, String> {
        entries
            .iter()
            .map(|(name, addrs)| {
                let parsed = addrs
                    .iter()
                    .map(|a| {
                        parse_addr(a).ok_or_else(|| {
                            format!(
                                "{table}.{}: \"{}\" is not an IP address",
                                escaped(name),
                                escaped(a)
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((name.clone(), parsed))
            })
            .collect()
    }

    /// The paths, by setting name.
    fn paths(&self) -> [(&'static str, &str); 6] {
        [
            ("ipsec_conf", &self.ipsec_conf),
            ("fragment_dir", &self.fragment_dir),
            ("ipsecctl", &self.ipsecctl),
            ("isakmpd_fifo", &self.isakmpd_fifo),
            ("isakmpd_result", &self.isakmpd_result),
            ("state_dir", &self.state_dir),
        ]
    }

    /// The paths, with the keys file and the certificate directory.
    fn all_paths(&self) -> Vec<(&'static str, &str)> {
        let mut out: Vec<(&'static str, &str)> = self.paths().to_vec();
        if let Some(keys) = &self.keys {
            out.push(("keys.file", &keys.file));
        }
        out.push(("certificates.dir", &self.certificates.dir));
        out
    }

    /// Every path absolute (a relative one would depend on the directory
    /// ipsecmgr is run from, as root), inside `--root` when given, and the
    /// state directory apart from the configuration: ipsecmgr moves and
    /// rewrites files in it.  Errors name the setting.
    pub fn check_paths(&self, root: &Root) -> Result<(), String> {
        for (key, path) in self.all_paths() {
            if path.is_empty() {
                return Err(format!("{key}: empty path"));
            }
            if !path.starts_with('/') {
                return Err(format!(
                    "{key}: \"{}\" is not an absolute path",
                    escaped(path)
                ));
            }
            root.try_map(path).map_err(|e| format!("{key}: {}", e.0))?;
        }
        let state = lexical(&self.state_dir);
        if let Some(keys) = &self.keys {
            let file = lexical(&keys.file);
            for (key, dir) in [
                ("fragment_dir", &self.fragment_dir),
                ("state_dir", &self.state_dir),
            ] {
                if file.starts_with(lexical(dir)) {
                    return Err(format!(
                        "keys.file: \"{}\" is inside {key} \"{}\"; keep the keys file apart",
                        escaped(&keys.file),
                        escaped(dir)
                    ));
                }
            }
            if file == lexical(&self.ipsec_conf) {
                return Err("keys.file: it is ipsec_conf itself".into());
            }
        }
        for (key, path) in [
            ("fragment_dir", &self.fragment_dir),
            ("ipsec_conf", &self.ipsec_conf),
        ] {
            let other = lexical(path);
            if other.starts_with(&state) || state.starts_with(&other) {
                return Err(format!(
                    "state_dir: \"{}\" overlaps {key} \"{}\"; keep ipsecmgr's state apart",
                    escaped(&self.state_dir),
                    escaped(path)
                ));
            }
        }
        Ok(())
    }

    /// Warnings about settings that only a test set-up should have, on a
    /// real gateway (no `--root`).  isakmpd writes its answers to the path
    /// compiled into ui.h whatever its `-f`; and it rebuilds its
    /// connections 5 s after a list change (ui.c: ui_conn_reinit), a window
    /// `down`, `rm` and `apply` must watch to the end.
    pub fn test_only_warnings(&self, root: &Root) -> Vec<String> {
        let mut out = Vec::new();
        if root.0.is_some() {
            return out;
        }
        if self.isakmpd_result != default_isakmpd_result() {
            out.push(format!(
                "isakmpd_result is set to {}, but isakmpd writes its answers to {} whatever its -f (ui.h); \
                 status and the live commands read the setting's path and time out unless something \
                 puts isakmpd's answers there",
                crate::escape::escaped(&self.isakmpd_result),
                default_isakmpd_result()
            ));
        }
        if self.isakmpd_reinit_window < MIN_REINIT_WINDOW {
            out.push(format!(
                "isakmpd_reinit_window is {} s, shorter than isakmpd's own 5 s before it rebuilds its \
                 connections (ui.c: ui_conn_reinit): a peer re-initiating a tunnel taken away in that \
                 time can bring it back",
                self.isakmpd_reinit_window
            ));
        }
        out
    }

    /// The name tables; names not in them go to the system unless `offline`.
    pub fn names(&self, offline: bool) -> Names {
        let hosts = self.addresses("hosts", &self.hosts).unwrap_or_default();
        let interfaces = self
            .addresses("interfaces", &self.interfaces)
            .unwrap_or_default();
        Names::new(hosts, interfaces, !offline)
    }

    /// The keys file for the loader.  `may_stand_in`: the command changes
    /// nothing (`lint`, `compile`), so under `--root` alone (a checkout,
    /// which keeps no keys) declared keys stand in for an absent keys file.
    /// On a gateway an absent keys file is the error ipsecctl makes of it.
    pub fn keys_file(
        &self,
        root: &Root,
        may_stand_in: bool,
    ) -> Option<crate::syntax::load::KeysFile> {
        let keys = self.keys.as_ref()?;
        Some(crate::syntax::load::KeysFile {
            path: keys.file.clone(),
            names: keys.names.clone(),
            stand_in: may_stand_in && root.is_set(),
            first: false,
        })
    }

    /// The host name `ike dynamic` uses as its identity.
    pub fn hostname(&self) -> String {
        if let Some(h) = &self.hostname {
            return h.clone();
        }
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into())
    }
}

/// The settings that belong at the top of the file, before any table.
const TOP_LEVEL: &[&str] = &[
    "hostname",
    "ipsec_conf",
    "fragment_dir",
    "ipsecctl",
    "isakmpd_fifo",
    "isakmpd_result",
    "state_dir",
    "ipsecctl_timeout",
];

/// `msg`, an error at `line`, with the table and key it is in: in TOML a
/// key belongs to the last `[table]` header above it, so a setting written
/// below a table lands in it, and the parser's message ("expected a
/// sequence") names neither.
fn in_table(text: &str, line: usize, msg: String) -> String {
    let lines: Vec<&str> = text.lines().collect();
    // an error at a header is about that table itself
    if lines
        .get(line.wrapping_sub(1))
        .is_some_and(|l| table_header(l).is_some())
    {
        return msg;
    }
    let Some(table) = lines[..line.saturating_sub(1).min(lines.len())]
        .iter()
        .rev()
        .find_map(|l| table_header(l))
    else {
        return msg;
    };
    let key = lines
        .get(line.wrapping_sub(1))
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        return format!("in [{table}]: {msg}");
    };
    let key = crate::escape::escaped(&key);
    if TOP_LEVEL.contains(&key.as_str()) {
        format!(
            "`{key}` is in the table [{table}], since a key below a [table] header belongs to it: \
             move `{key}` above the first table ({msg})"
        )
    } else {
        format!("in [{table}], `{key}`: {msg}")
    }
}

/// The name of the table a `[name]` (or `[[name]]`) header line opens.
fn table_header(line: &str) -> Option<String> {
    let l = line.trim();
    let l = l.split_once('#').map_or(l, |(head, _)| head.trim_end());
    let name = l.strip_prefix('[')?.strip_suffix(']')?;
    let name = name.trim_start_matches('[').trim_end_matches(']').trim();
    (!name.is_empty()).then(|| crate::escape::escaped(name))
}

/// The `[lint]` table: codes lint reports only (`select`, all when empty)
/// and codes it leaves out (`ignore`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintSelection {
    #[serde(default)]
    pub select: Vec<String>,
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// Every code must be a lint check's (`L...`): the compiler's errors
/// (`E...`) are what ipsecctl refuses, so they cannot be left out.
pub fn check_lint_codes(what: &str, codes: &[String]) -> Result<(), String> {
    let known = |c: &str| {
        crate::diag::Kind::ALL
            .iter()
            .any(|k| k.code() == c && c.starts_with('L'))
    };
    let unknown: Vec<&str> = codes
        .iter()
        .map(String::as_str)
        .filter(|c| !known(c))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{what}: not a lint code: {} (see the manual's list of L codes; compiler errors, E..., cannot be left out)",
        crate::escape::escaped(&unknown.join(", "))
    ))
}

/// The `[keys]` table: the keys file and the names of the key macros it
/// defines.  The names are what a repository keeps; the values stay on
/// the gateway.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeysSettings {
    #[serde(default = "default_keys_file")]
    pub file: String,
    #[serde(default)]
    pub names: Vec<String>,
}

fn default_keys_file() -> String {
    "/etc/ipsec.keys".into()
}

/// The longest key macro name accepted: a name goes into messages and
/// plans, and ipsecctl's own macro names are short words.
pub const MAX_KEY_NAME: usize = 64;

/// Whether `name` can be a key macro's name: what ipsecctl's lexer reads
/// after `$` (parse.y: yylex expands `$` followed by letters, digits and
/// `_`).
pub fn is_key_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_KEY_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl KeysSettings {
    fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for name in &self.names {
            if !is_key_name(name) {
                return Err(format!(
                    "keys.names: \"{}\" is not a macro name (letters, digits and _, at most {MAX_KEY_NAME})",
                    escaped(name)
                ));
            }
            if !seen.insert(name) {
                return Err(format!("keys.names: \"{name}\" is declared twice"));
            }
        }
        Ok(())
    }

    /// Whether `name` is a declared key.
    pub fn declares(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }
}

/// The `[certificates]` table.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CertificateSettings {
    /// isakmpd's directory: `ca/`, `certs/`, `private/local.key` and
    /// `private/<id>.key` (isakmpd(8): FILES).
    #[serde(default = "default_cert_dir")]
    pub dir: String,
    /// A certificate expiring within this many days is warned of (L209).
    #[serde(default = "default_warn_days")]
    pub warn_days: u32,
}

fn default_cert_dir() -> String {
    "/etc/isakmpd".into()
}

fn default_warn_days() -> u32 {
    30
}

impl Default for CertificateSettings {
    fn default() -> Self {
        CertificateSettings {
            dir: default_cert_dir(),
            warn_days: default_warn_days(),
        }
    }
}

impl CertificateSettings {
    fn check(&self) -> Result<(), String> {
        if self.warn_days > 3650 {
            return Err(format!(
                "certificates.warn_days: {} is more than ten years",
                self.warn_days
            ));
        }
        Ok(())
    }
}

/// An absolute path with `.` and `..` resolved by name.
fn lexical(path: &str) -> PathBuf {
    Root(Some(PathBuf::from("/"))).map(path)
}

fn parse_addr(text: &str) -> Option<IpAddr> {
    inet::pton4(text)
        .map(IpAddr::V4)
        .or_else(|| inet::pton6(text).map(IpAddr::V6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tables() {
        let s = Settings::parse(
            "hostname = \"gw\"\n[hosts]\na = [\"192.0.2.1\", \"::1\"]\n[interfaces]\nlo0 = [\"127.0.0.1\"]\n",
        )
        .unwrap();
        assert_eq!(s.hosts["a"].len(), 2);
        assert_eq!(s.hostname(), "gw");
    }

    #[test]
    fn paths_must_be_absolute_inside_the_root_and_apart() {
        let check = |text: &str| {
            Settings::parse(text)
                .unwrap()
                .check_paths(&Root(Some(PathBuf::from("/r"))))
        };
        assert_eq!(check(""), Ok(()));
        assert_eq!(
            check("ipsecctl = \"sbin/ipsecctl\"\n").unwrap_err(),
            "ipsecctl: \"sbin/ipsecctl\" is not an absolute path"
        );
        assert_eq!(
            check("state_dir = \"\"\n").unwrap_err(),
            "state_dir: empty path"
        );
        let e = check("fragment_dir = \"/var/db/ipsecmgr/./d\"\n").unwrap_err();
        assert!(
            e.starts_with("state_dir: \"/var/db/ipsecmgr\" overlaps fragment_dir"),
            "{e}"
        );
        let e = check("state_dir = \"/etc\"\n").unwrap_err();
        assert!(e.contains("overlaps fragment_dir"), "{e}");
        let e = check("state_dir = \"/../../tmp/s\"\n").unwrap_err();
        assert!(
            e.starts_with("state_dir: /../../tmp/s: leads out of"),
            "{e}"
        );
    }

    #[test]
    fn an_error_in_a_table_names_the_table_and_key() {
        let e = Settings::parse("[hosts]\na = [\"192.0.2.1\"]\nstate_dir = \"/x\"\n").unwrap_err();
        assert!(
            e.starts_with("3: `state_dir` is in the table [hosts]")
                && e.contains("above the first table"),
            "{e}"
        );
        let e = Settings::parse("[hosts] # names\nb = \"192.0.2.1\"\n").unwrap_err();
        assert!(e.starts_with("2: in [hosts], `b`: "), "{e}");
        let e = Settings::parse("hostname = 5\n").unwrap_err();
        assert!(e.starts_with("1: invalid type"), "{e}");
        let e = Settings::parse("[hosts]\n[hostz]\n").unwrap_err();
        assert!(e.starts_with("2: unknown field `hostz`"), "{e}");
        assert_eq!(table_header("[[a.b]]").as_deref(), Some("a.b"));
        assert_eq!(table_header("x = [1]"), None);
    }

    #[test]
    fn unknown_keys_and_bad_addresses_are_named() {
        let e = Settings::parse("[hosts]\na = [\"1.2.3.4\"]\n\nbogus = 1\n").unwrap_err();
        assert!(e.starts_with("4: "), "{e}");
        let e = Settings::parse("colour = \"red\"\n").unwrap_err();
        assert!(e.contains("`colour`"), "{e}");
        let s = Settings::parse("state_dir = \"/tmp/s\"\n").unwrap();
        assert_eq!(
            (s.state_dir.as_str(), s.ipsecctl.as_str()),
            ("/tmp/s", "/sbin/ipsecctl")
        );
        let e = Settings::parse("colour = \"red\"\n").unwrap_err();
        assert!(e.contains("colour"), "{e}");
        let e = Settings::parse("[interfaces]\nem0 = [\"1.2.3\"]\n").unwrap_err();
        assert_eq!(e, "interfaces.em0: \"1.2.3\" is not an IP address");
    }
}
