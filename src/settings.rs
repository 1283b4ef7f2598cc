//! ipsecmgr's own configuration (TOML): name tables and defaults.
//!
//! ```toml
//! hostname = "gw1.example.net"     # the srcid of `ike dynamic` rules
//!
//! [hosts]
//! gw-berlin = ["192.0.2.1"]
//!
//! [interfaces]
//! em0 = ["192.0.2.254", "2001:db8::1"]
//! ```

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::rules::inet;
use crate::system::files::{self, Root};
use crate::system::names::Names;

/// Read when no `-c` is given and the file exists.
pub const DEFAULT_PATH: &str = "/etc/ipsecmgr.conf";

#[derive(Debug, Default, Deserialize)]
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
    /// Where the settings were read from, for messages.
    #[serde(skip)]
    pub source: Option<PathBuf>,
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
        let shown = path.display().to_string();
        let data = files::read_regular(&path, 1 << 20)
            .map_err(|e| SettingsError(format!("{shown}: {}", e.0)))?;
        let text = String::from_utf8(data.bytes)
            .map_err(|_| SettingsError(format!("{shown}: not UTF-8 text")))?;
        let mut settings =
            Settings::parse(&text).map_err(|e| SettingsError(format!("{shown}: {e}")))?;
        settings.source = Some(path);
        Ok(settings)
    }

    /// Parses settings text; errors start with the line number.
    pub fn parse(text: &str) -> Result<Settings, String> {
        let settings: Settings = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let msg = e.message().trim_end().to_string();
            match line {
                Some(line) => format!("{line}: {msg}"),
                None => msg,
            }
        })?;
        settings.addresses("hosts", &settings.hosts)?;
        settings.addresses("interfaces", &settings.interfaces)?;
        Ok(settings)
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
                        parse_addr(a)
                            .ok_or_else(|| format!("{table}.{name}: \"{a}\" is not an IP address"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((name.clone(), parsed))
            })
            .collect()
    }

    /// The name tables; names not in them go to the system unless `offline`.
    pub fn names(&self, offline: bool) -> Names {
        let hosts = self.addresses("hosts", &self.hosts).unwrap_or_default();
        let interfaces = self
            .addresses("interfaces", &self.interfaces)
            .unwrap_or_default();
        Names::new(hosts, interfaces, !offline)
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
    fn unknown_keys_and_bad_addresses_are_named() {
        let e = Settings::parse("[hosts]\na = [\"1.2.3.4\"]\n\nbogus = 1\n").unwrap_err();
        assert!(e.starts_with("4: "), "{e}");
        let e = Settings::parse("colour = \"red\"\n").unwrap_err();
        assert!(e.contains("colour"), "{e}");
        let e = Settings::parse("[interfaces]\nem0 = [\"1.2.3\"]\n").unwrap_err();
        assert_eq!(e, "interfaces.em0: \"1.2.3\" is not an IP address");
    }
}
