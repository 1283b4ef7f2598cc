//! Certificates of `ike` rules without `psk` (L208, L209, and `status`):
//! a CA and a gateway certificate made here, with rcgen, signed with RSA
//! keys made by the openssl command (isakmpd reads RSA keys alone, and
//! rcgen cannot make them), dated as each case needs: valid, expiring
//! soon, expired, not yet valid; a private key that is not the
//! certificate's; missing files.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, PKCS_RSA_SHA256};
use time::{Duration, OffsetDateTime};

const BIN: &str = env!("CARGO_BIN_EXE_ipsecmgr");

/// A branch tunnel authenticated by certificates, local ID gw1.example.net.
const RULE: &str = "ike esp from 10.0.0.0/16 to 10.20.0.0/16 local 192.0.2.1 peer 198.51.100.10 \
                    srcid gw1.example.net dstid branch.example.net\n";

/// A new RSA key, in PEM (PKCS#8), made by openssl.
fn rsa_key() -> String {
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("the openssl command makes the RSA keys of these tests");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The CA's parameters: a CA valid for years.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = OffsetDateTime::now_utc() - Duration::days(10);
    params.not_after = OffsetDateTime::now_utc() + Duration::days(3650);
    params
}

/// A CA certificate and its key.
fn ca() -> (String, String) {
    let key_pem = rsa_key();
    let key = KeyPair::from_pem_and_sign_algo(&key_pem, &PKCS_RSA_SHA256).unwrap();
    let cert = ca_params().self_signed(&key).unwrap();
    (cert.pem(), key_pem)
}

/// A certificate for `name`, valid from `from` to `to` days from now,
/// signed by the CA; with a fresh key, returned too.
fn leaf(ca: &(String, String), name: &str, from: i64, to: i64) -> (String, String) {
    let ca_key = KeyPair::from_pem_and_sign_algo(&ca.1, &PKCS_RSA_SHA256).unwrap();
    let issuer = Issuer::new(ca_params(), ca_key);
    let key_pem = rsa_key();
    let key = KeyPair::from_pem_and_sign_algo(&key_pem, &PKCS_RSA_SHA256).unwrap();
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    params.not_before = OffsetDateTime::now_utc() + Duration::days(from);
    params.not_after = OffsetDateTime::now_utc() + Duration::days(to);
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key_pem)
}

fn private(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// A gateway tree under a temporary root: ipsec.conf including one
/// fragment with RULE, and isakmpd's directory holding `files`.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    private(
        &root.join("etc/ipsec.conf"),
        "include \"/etc/ipsec.d/branch.conf\"\n",
    );
    private(&root.join("etc/ipsec.d/branch.conf"), RULE);
    private(
        &root.join("etc/ipsecmgr.conf"),
        "[hosts]\n\"gw1.example.net\" = [\"192.0.2.1\"]\n",
    );
    fs::create_dir_all(root.join("etc/isakmpd/ca")).unwrap();
    fs::create_dir_all(root.join("etc/isakmpd/certs")).unwrap();
    fs::create_dir_all(root.join("etc/isakmpd/private")).unwrap();
    for (rel, text) in files {
        private(&root.join("etc/isakmpd").join(rel), text);
    }
    dir
}

fn lint(root: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--root")
        .arg(root)
        .args(["lint", "--offline"])
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The codes of the findings of a text report, with their message lines.
fn findings(o: &Output) -> Vec<String> {
    text(o)
        .lines()
        .filter(|l| l.contains(": error[") || l.contains(": warning["))
        .map(|l| l.split_once(": ").map_or(l, |(_, r)| r).to_string())
        .collect()
}

#[test]
fn certificates_are_checked_offline() {
    let ca = ca();
    let good = leaf(&ca, "gw1.example.net", -1, 365);
    let soon = leaf(&ca, "gw1.example.net", -300, 10);
    let expired = leaf(&ca, "gw1.example.net", -400, -3);
    let future = leaf(&ca, "gw1.example.net", 5, 400);
    let other_key = rsa_key();

    // all there, valid for a year: clean
    let t = tree(&[
        ("ca/ca.crt", &ca.0),
        ("certs/gw1.crt", &good.0),
        ("private/local.key", &good.1),
    ]);
    let out = lint(t.path(), &["--deny-warnings"]);
    assert_eq!(text(&out), "0 errors, 0 warnings\n", "{}", text(&out));

    // expiring within 30 days: a warning naming the date and the days left
    let t = tree(&[
        ("ca/ca.crt", &ca.0),
        ("certs/gw1.crt", &soon.0),
        ("private/local.key", &soon.1),
    ]);
    let out = lint(t.path(), &[]);
    let f = findings(&out);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].starts_with("warning[L209]: /etc/isakmpd/certs/gw1.crt: expires on ")
            && (f[0].ends_with("in 9 day(s)") || f[0].ends_with("in 10 day(s)")),
        "{f:?}"
    );
    assert_eq!(out.status.code(), Some(0));
    // the horizon is a setting: 5 days, and it is no longer reported
    fs::write(
        t.path().join("etc/ipsecmgr.conf"),
        "[hosts]\n\"gw1.example.net\" = [\"192.0.2.1\"]\n[certificates]\nwarn_days = 5\n",
    )
    .unwrap();
    let out = lint(t.path(), &["--deny-warnings"]);
    assert_eq!(text(&out), "0 errors, 0 warnings\n", "{}", text(&out));

    // expired, and not yet valid: errors
    for (cert, want) in [(&expired, "expired on "), (&future, "not valid before ")] {
        let t = tree(&[
            ("ca/ca.crt", &ca.0),
            ("certs/gw1.crt", &cert.0),
            ("private/local.key", &cert.1),
        ]);
        let out = lint(t.path(), &[]);
        let f = findings(&out);
        assert!(
            f.len() == 1
                && f[0].contains("error[L208]: /etc/isakmpd/certs/gw1.crt: ")
                && f[0].contains(want),
            "{f:?}"
        );
        assert_eq!(out.status.code(), Some(1));
    }

    // a private key that is not the certificate's
    let t = tree(&[
        ("ca/ca.crt", &ca.0),
        ("certs/gw1.crt", &good.0),
        ("private/local.key", &other_key),
    ]);
    let f = findings(&lint(t.path(), &[]));
    assert_eq!(
        f,
        [
            "error[L208]: /etc/isakmpd/private/local.key: the private key does not match the certificate /etc/isakmpd/certs/gw1.crt"
        ],
    );
    // isakmpd's per-ID key (private/<srcid>) is the one read when it is there
    let t = tree(&[
        ("ca/ca.crt", &ca.0),
        ("certs/gw1.crt", &good.0),
        ("private/local.key", &other_key),
        ("private/gw1.example.net", &good.1),
    ]);
    assert_eq!(text(&lint(t.path(), &[])), "0 errors, 0 warnings\n");

    // no certificate for the local ID; no CA
    let other = leaf(&ca, "other.example.net", -1, 365);
    let t = tree(&[
        ("certs/other.crt", &other.0),
        ("private/local.key", &other.1),
    ]);
    let f = findings(&lint(t.path(), &[]));
    assert!(
        f.iter()
            .any(|l| l.contains("error[L208]: /etc/isakmpd/ca: no CA certificate"))
            && f.iter().any(|l| l.contains(
                "/etc/isakmpd/certs: no certificate with subjectAltName gw1.example.net"
            )),
        "{f:?}"
    );

    // a key that is no RSA key, and a file that is no certificate
    let t = tree(&[
        ("ca/ca.crt", &ca.0),
        ("ca/serial", "01\n"),
        ("certs/gw1.crt", &good.0),
        (
            "private/local.key",
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE KEY-----\n",
        ),
    ]);
    let f = findings(&lint(t.path(), &[]));
    assert_eq!(
        f,
        [
            "error[L208]: /etc/isakmpd/private/local.key: a EC PRIVATE KEY key; isakmpd reads RSA keys alone (PEM_read_RSAPrivateKey)"
        ],
    );

    // a checkout that keeps the certificates but not the private key: the
    // certificates are checked, the key is not asked for
    let t = tree(&[("ca/ca.crt", &ca.0), ("certs/gw1.crt", &soon.0)]);
    let f = findings(&lint(t.path(), &[]));
    assert!(f.len() == 1 && f[0].contains("warning[L209]"), "{f:?}");
    // nor a checkout without isakmpd's directory at all
    fs::remove_dir_all(t.path().join("etc/isakmpd")).unwrap();
    assert_eq!(text(&lint(t.path(), &[])), "0 errors, 0 warnings\n");
    // no key text is ever shown
    let t = tree(&[
        ("ca/ca.crt", &ca.0),
        ("certs/gw1.crt", &good.0),
        ("private/local.key", &other_key),
    ]);
    let out = lint(t.path(), &["--format", "json"]);
    let body: String = other_key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(!text(&out).contains(&body[..40]), "{}", text(&out));
}

#[test]
fn status_shows_when_a_fragments_certificates_expire() {
    let ca = ca();
    let soon = leaf(&ca, "gw1.example.net", -300, 20);
    let gw = common::Gateway::new("", &[("branch", RULE)]);
    for (rel, text) in [
        ("ca/ca.crt", &ca.0),
        ("certs/gw1.crt", &soon.0),
        ("private/local.key", &soon.1),
    ] {
        private(&gw.path("etc/isakmpd").join(rel), text);
    }
    let out = gw.run(&["status"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = said
        .lines()
        .find(|l| l.trim_start().starts_with("certificate "))
        .unwrap_or_else(|| panic!("no certificate line:\n{said}"));
    assert!(
        line.contains("expires ")
            && line.contains("(/etc/isakmpd/certs/gw1.crt)")
            && (line.contains("in 19 day(s)") || line.contains("in 20 day(s)")),
        "{line}"
    );
    let json = gw.run(&["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let c = &doc["fragments"][0]["certificates"];
    assert_eq!(c["file"], "/etc/isakmpd/certs/gw1.crt", "{doc}");
    assert!(
        c["days"].as_i64().is_some_and(|d| (19..=20).contains(&d)),
        "{doc}"
    );
}
