//! What isakmpd needs for an `ike` rule authenticated by certificates
//! (no `psk`), and what its files say: read offline, with x509-parser.
//!
//! isakmpd keeps them under one directory (isakmpd(8): FILES; conf.h:
//! CONF_DFLT_X509_*): CA certificates in `ca/`, certificates in `certs/`
//! (x509.c: x509_read_from_dir reads each file of both), and the local
//! private key in `private/<local id>` when there is one, else
//! `private/local.key` (ike_auth.c: ike_auth_get_key), an RSA key in PEM
//! (PEM_read_RSAPrivateKey) readable by its owner alone
//! (check_file_secrecy_fd).  The local certificate is the one whose
//! subjectAltName is the local ID (the rule's `srcid`, else its local
//! address): isakmpd finds certificates by it (x509.c: x509_hash_enter).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use x509_parser::der_parser::ber::BerObject;
use x509_parser::der_parser::der::parse_der_sequence;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::escape::escaped_path;
use crate::rules::model::{Ike, IkeAuth};
use crate::settings::CertificateSettings;
use crate::system::files::{self, Root};

/// An RSA public key: modulus and exponent, leading zeros taken off.
pub type RsaPublic = (Vec<u8>, Vec<u8>);

/// Files read of one directory at most: a directory made to hold millions
/// cannot make a run read them all.
const MAX_FILES: usize = 1000;
/// The largest certificate or key file read.
const MAX_FILE: u64 = 1 << 20;

/// One certificate as read.
#[derive(Debug, Clone)]
pub struct Cert {
    /// Its path as the gateway names it.
    pub shown: String,
    pub subject: String,
    pub is_ca: bool,
    /// subjectAltName: DNS names, IP addresses (as text), e-mail addresses.
    pub names: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
    /// RSA modulus and exponent, leading zeros taken off.
    pub rsa: Option<RsaPublic>,
}

/// What is wrong with what a rule needs, and which certificates it uses.
#[derive(Debug, Default, Clone)]
pub struct Checked {
    /// Each an error (L208).
    pub problems: Vec<String>,
    /// A private key's mode or owner isakmpd refuses (L208; a warning in
    /// a checkout, whose modes are not the gateway's).
    pub mode_problems: Vec<String>,
    /// The certificates the rule relies on: its local one and the CAs.
    pub certs: Vec<Cert>,
}

/// Whether `ike` is authenticated by certificates.
pub fn uses_certificates(ike: &Ike) -> bool {
    matches!(ike.auth, IkeAuth::Rsa)
}

/// Reads what the checks need once per run.
pub struct Reader<'a> {
    settings: &'a CertificateSettings,
    root: &'a Root,
    /// Modes and owners are checked (on the gateway, or when asked).
    pub modes: bool,
    dirs: HashMap<PathBuf, Result<Vec<Result<Cert, String>>, String>>,
}

impl<'a> Reader<'a> {
    pub fn new(settings: &'a CertificateSettings, root: &'a Root, modes: bool) -> Self {
        Reader {
            settings,
            root,
            modes,
            dirs: HashMap::new(),
        }
    }

    /// The gateway path of `rel` under the certificate directory, and
    /// where it is read.
    fn path(&self, rel: &str) -> (String, PathBuf) {
        let gw = format!("{}/{rel}", self.settings.dir.trim_end_matches('/'));
        let actual = self.root.map(&gw);
        (gw, actual)
    }

    /// The certificates of a directory, each read or why not; `Err` when
    /// the directory cannot be read.
    fn dir(&mut self, rel: &str) -> &Result<Vec<Result<Cert, String>>, String> {
        let (gw, actual) = self.path(rel);
        self.dirs
            .entry(actual.clone())
            .or_insert_with(|| read_dir(&gw, &actual))
    }

    /// Checks what `ike` needs, `now` being the time (UNIX seconds).
    pub fn check(&mut self, ike: &Ike) -> Checked {
        let mut out = Checked::default();
        if !uses_certificates(ike) {
            return out;
        }
        let (ca_dir, _) = self.path("ca");
        let cas: Vec<Cert> = match self.dir("ca") {
            Err(e) => {
                out.problems.push(e.clone());
                Vec::new()
            }
            Ok(certs) => {
                let read: Vec<Cert> = certs
                    .iter()
                    .filter_map(|c| c.as_ref().ok().cloned())
                    .collect();
                if read.is_empty() {
                    out.problems.push(format!(
                        "{ca_dir}: no CA certificate isakmpd can read, so no peer's certificate can be trusted{}",
                        skipped(certs)
                    ));
                }
                read
            }
        };
        out.certs.extend(cas);
        let id = local_id(ike);
        let local = self.local_cert(id.as_deref(), &mut out.problems);
        let key = self.private_key(id.as_deref(), &mut out.problems, &mut out.mode_problems);
        if let (Some(cert), Some((shown, key))) = (&local, &key) {
            match &cert.rsa {
                Some(public) if public == key => {}
                Some(_) => out.problems.push(format!(
                    "{shown}: the private key does not match the certificate {}",
                    cert.shown
                )),
                None => out.problems.push(format!(
                    "{}: not an RSA certificate; isakmpd signs with RSA keys alone",
                    cert.shown
                )),
            }
        }
        out.certs.extend(local);
        out
    }

    /// The local certificate: the one in `certs/` whose subjectAltName is
    /// `id` (any one, when the rule names no local ID).
    fn local_cert(&mut self, id: Option<&str>, problems: &mut Vec<String>) -> Option<Cert> {
        let (gw, _) = self.path("certs");
        let certs = match self.dir("certs") {
            Err(e) => {
                problems.push(e.clone());
                return None;
            }
            Ok(c) => c,
        };
        let mut read = certs.iter().filter_map(|c| c.as_ref().ok());
        let found = match id {
            Some(id) => read.find(|c| c.names.iter().any(|n| n.eq_ignore_ascii_case(id))),
            None => read.find(|c| !c.is_ca),
        };
        if found.is_none() {
            let what = match id {
                Some(id) => format!("no certificate with subjectAltName {id}, the local ID"),
                None => "no local certificate".to_string(),
            };
            problems.push(format!("{gw}: {what}{}", skipped(certs)));
        }
        found.cloned()
    }

    /// The local private key, as isakmpd looks for it: its path as shown,
    /// and the RSA public half (modulus, exponent).
    fn private_key(
        &mut self,
        id: Option<&str>,
        problems: &mut Vec<String>,
        mode_problems: &mut Vec<String>,
    ) -> Option<(String, RsaPublic)> {
        let by_id = id
            .filter(|i| !i.contains('/') && *i != "." && *i != "..")
            .map(|i| self.path(&format!("private/{i}")));
        let (gw, actual) = match by_id {
            Some((gw, actual)) if std::fs::symlink_metadata(&actual).is_ok() => (gw, actual),
            _ => self.path("private/local.key"),
        };
        let data = match files::read_regular(&actual, MAX_FILE) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("{gw}: {}", e.0));
                return None;
            }
        };
        let me = nix::unistd::getuid().as_raw();
        if self.modes && ((data.uid != 0 && data.uid != me) || data.mode & 0o077 != 0) {
            mode_problems.push(format!(
                "{gw}: readable by others than its owner, or owned by another user (mode {:04o}); isakmpd refuses it: chmod 600",
                data.mode & 0o7777
            ));
        }
        match rsa_public_of_key(&data.bytes) {
            Ok(k) => Some((gw, k)),
            Err(why) => {
                problems.push(format!("{gw}: {why}"));
                None
            }
        }
    }
}

/// What a message adds about the files of a directory that are no
/// certificate isakmpd reads (it skips them: x509.c, x509_read_from_dir).
fn skipped(certs: &[Result<Cert, String>]) -> String {
    let bad: Vec<&str> = certs
        .iter()
        .filter_map(|c| c.as_ref().err().map(String::as_str))
        .take(3)
        .collect();
    if bad.is_empty() {
        String::new()
    } else {
        format!(" (skipped: {})", bad.join("; "))
    }
}

/// The rule's local ID, as isakmpd names its certificate: its `srcid`,
/// else its local address.
fn local_id(ike: &Ike) -> Option<String> {
    ike.srcid
        .as_ref()
        .map(|i| i.name.to_string())
        .or_else(|| ike.local.as_ref().map(|l| l.name.to_string()))
}

/// Every regular file of `actual` (named `gw` in messages), read as a
/// certificate.
fn read_dir(gw: &str, actual: &Path) -> Result<Vec<Result<Cert, String>>, String> {
    let entries =
        std::fs::read_dir(actual).map_err(|e| format!("{gw}: {}", files::io_reason(&e)))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
        .take(MAX_FILES)
        .collect();
    paths.sort();
    Ok(paths
        .iter()
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            let shown = format!("{gw}/{}", name.unwrap_or_default());
            let data = files::read_regular(p, MAX_FILE)
                .map_err(|e| format!("{}: {}", escaped_path(p), e.0))?;
            read_cert(&shown, &data.bytes)
        })
        .collect())
}

/// A certificate in PEM, as isakmpd reads it (x509.c: PEM_read_X509).
pub fn read_cert(shown: &str, bytes: &[u8]) -> Result<Cert, String> {
    let unreadable = |why: &str| format!("{shown} is {why}");
    let (_, pem) = x509_parser::pem::parse_x509_pem(bytes).map_err(|_| unreadable("not in PEM"))?;
    if pem.label != "CERTIFICATE" && pem.label != "X509 CERTIFICATE" {
        return Err(unreadable("no certificate"));
    }
    let (_, cert) = X509Certificate::from_der(&pem.contents)
        .map_err(|_| unreadable("a certificate that cannot be read"))?;
    Ok(cert_of(shown, &cert))
}

fn cert_of(shown: &str, cert: &X509Certificate) -> Cert {
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) | GeneralName::RFC822Name(d) => names.push(d.to_string()),
                GeneralName::IPAddress(ip) => names.extend(ip_text(ip)),
                _ => {}
            }
        }
    }
    let rsa = match cert.public_key().parsed() {
        Ok(PublicKey::RSA(k)) => Some((trimmed(k.modulus), trimmed(k.exponent))),
        _ => None,
    };
    Cert {
        shown: shown.to_string(),
        subject: cert.subject().to_string(),
        is_ca: cert.is_ca(),
        names,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        rsa,
    }
}

fn ip_text(ip: &[u8]) -> Option<String> {
    match ip.len() {
        4 => Some(std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string()),
        16 => {
            let b: [u8; 16] = ip.try_into().ok()?;
            Some(std::net::Ipv6Addr::from(b).to_string())
        }
        _ => None,
    }
}

/// An integer's bytes without leading zeros.
fn trimmed(b: &[u8]) -> Vec<u8> {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b[first..].to_vec()
}

/// The RSA modulus and exponent of a PEM private key: PKCS#1 (`RSA
/// PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`) holding one.
pub fn rsa_public_of_key(bytes: &[u8]) -> Result<RsaPublic, String> {
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(bytes).map_err(|_| "not a PEM private key".to_string())?;
    match pem.label.as_str() {
        "RSA PRIVATE KEY" => pkcs1(&pem.contents),
        "PRIVATE KEY" => pkcs8(&pem.contents),
        "ENCRYPTED PRIVATE KEY" => {
            Err("an encrypted private key; isakmpd reads it unencrypted".into())
        }
        other => Err(format!(
            "a {other} key; isakmpd reads RSA keys alone (PEM_read_RSAPrivateKey)"
        )),
    }
}

fn sequence(der: &[u8]) -> Result<Vec<BerObject<'_>>, String> {
    let (_, obj) =
        parse_der_sequence(der).map_err(|_| "a private key that cannot be read".to_string())?;
    obj.as_sequence()
        .cloned()
        .map_err(|_| "a private key that cannot be read".to_string())
}

/// RSAPrivateKey ::= SEQUENCE { version, modulus, publicExponent, ... }
fn pkcs1(der: &[u8]) -> Result<RsaPublic, String> {
    let items = sequence(der)?;
    let int = |i: usize| {
        items
            .get(i)
            .and_then(|o| o.as_slice().ok())
            .map(trimmed)
            .ok_or_else(|| "an RSA private key that cannot be read".to_string())
    };
    Ok((int(1)?, int(2)?))
}

/// PrivateKeyInfo ::= SEQUENCE { version, algorithm, privateKey OCTET STRING }
fn pkcs8(der: &[u8]) -> Result<RsaPublic, String> {
    const RSA: &str = "1.2.840.113549.1.1.1";
    let items = sequence(der)?;
    let alg = items
        .get(1)
        .and_then(|a| a.as_sequence().ok())
        .and_then(|a| a.first())
        .and_then(|o| o.as_oid().ok())
        .map(|o| o.to_id_string())
        .ok_or("a private key that cannot be read")?;
    if alg != RSA {
        return Err(format!(
            "a key of algorithm {alg}; isakmpd reads RSA keys alone (PEM_read_RSAPrivateKey)"
        ));
    }
    let inner = items
        .get(2)
        .and_then(|o| o.as_slice().ok())
        .ok_or("a private key that cannot be read")?;
    pkcs1(inner)
}

/// A UNIX time as a date, `2027-01-05`.
pub fn date(t: i64) -> String {
    let st = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    humantime::format_rfc3339_seconds(st).to_string()[..10].to_string()
}

/// The time now, in UNIX seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
