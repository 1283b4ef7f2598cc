//! No input makes the compiler panic: arbitrary bytes, token soups built
//! from the language's own words, and mutations of valid configurations
//! either compile or yield diagnostics that render as `FILE: LINE: message`.

use std::collections::HashMap;

use proptest::prelude::*;

use ipsecmgr::compiler::{self, Options};
use ipsecmgr::diag::{self, Diagnostic};
use ipsecmgr::emit::{self, Action};
use ipsecmgr::system::files::Root;
use ipsecmgr::system::names::Names;

fn options(names: &Names) -> Options<'_> {
    Options {
        root: Root::default(),
        check_secrecy: false,
        names,
        hostname: "gw.example.net".into(),
        main_local: false,
        keys: None,
    }
}

fn names() -> Names {
    let lo0 = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    Names::new(
        HashMap::from([("gw".to_string(), lo0.clone())]),
        HashMap::from([("lo0".to_string(), lo0)]),
        false,
    )
}

/// Compiles `text` and checks every diagnostic names the input and a line.
fn check(text: &[u8]) {
    let names = names();
    let opts = options(&names);
    let compiled = compiler::compile_text("stdin", text.to_vec(), &opts);
    let (_, late) = emit::verbose_listing(&compiled, Action::Add, false);
    let (_, _) = emit::verbose_listing(&compiled, Action::Delete, true);
    let lines = text.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
    for d in compiled.diags.iter().chain(&late) {
        assert_located(d, lines, &compiled);
    }
}

fn assert_located(d: &Diagnostic, lines: u32, c: &compiler::Compiled) {
    let span = d.span.expect("every diagnostic has a place");
    let file = c.parsed.sources.display_name(span.file).to_string();
    let shown = diag::render_plain(d, &c.parsed.sources);
    assert!(d.line >= 1, "no line: {shown}");
    if file == "stdin" {
        assert!(d.line <= lines, "line {} past the end: {shown}", d.line);
    }
    let prefix = if d.late { "ipsecmgr: " } else { "" };
    assert!(
        shown.starts_with(&format!("{prefix}{file}: {}: ", d.line)),
        "badly formed: {shown}"
    );
    assert!(!d.message.is_empty());
}

const WORDS: &[&str] = &[
    "flow",
    "ike",
    "esp",
    "ah",
    "ipcomp",
    "ipip",
    "tcpmd5",
    "from",
    "to",
    "any",
    "peer",
    "local",
    "port",
    "proto",
    "tcp",
    "udp",
    "in",
    "out",
    "type",
    "use",
    "require",
    "deny",
    "bypass",
    "acquire",
    "dontacq",
    "main",
    "quick",
    "aggressive",
    "auth",
    "enc",
    "group",
    "comp",
    "lifetime",
    "srcid",
    "dstid",
    "psk",
    "rsa",
    "tag",
    "spi",
    "authkey",
    "enckey",
    "file",
    "bundle",
    "udpencap",
    "tunnel",
    "transport",
    "active",
    "passive",
    "dynamic",
    "interface",
    "sec0",
    "include",
    "hmac-sha1",
    "aes",
    "aes-256-gcm",
    "3des",
    "modp1024",
    "none",
    "10m",
    "1.1.1.1",
    "10.0.2/24",
    "3ffe::1",
    "::/0",
    "lo0",
    "gw",
    "nosuch",
    "0x1000:0x1001",
    "0xdeadbeef",
    "{",
    "}",
    "(",
    ")",
    ",",
    "/",
    "=",
    "24",
    "-1",
    "99999999999999999999",
    "$m",
    "m",
    "\"",
    "'",
    "\\",
    "#",
    "\n",
    "\\\n",
    "\0",
    "\t",
];

fn soup() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(WORDS), 0..60).prop_map(|words| {
        let mut text = String::from("m = \"{ 1.1.1.1, 2.2.2.2 }\"\n");
        for w in words {
            text.push_str(w);
            text.push(' ');
        }
        text.into_bytes()
    })
}

const VALID: &[&str] = &[
    "flow esp from 10.0.0.0/24 to 10.1.0.0/24 peer 192.0.2.1\n",
    "ike esp from { 10.0.0.0/24, 10.0.1.0/24 } to 10.1.0.0/24 peer 192.0.2.1 \\\n\tmain auth hmac-sha2-256 enc aes group modp2048 psk \"s3cret\"\n",
    "esp transport from 1.1.1.1 to 2.2.2.2 spi 0x1000:0x1001 \\\n\tauthkey 0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb \\\n\tenckey 0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee:0xffffffffffffffffffffffffffffffff\n",
    "nets = \"{ 10.2.0.0/16 10.3.0.0/16 }\"\nike passive from $nets to any srcid a@example.com\n",
    "ike from 10.2.0.0/16 (172.16.0.0/16) to 10.9.0.0/16 peer 192.0.2.3\n",
    "tcpmd5 from 1.1.1.1 to 2.2.2.2 spi 0x2000 authkey 0xdeadbeef\n",
    "ike dynamic proto tcp from lo0 port 179 to gw port bgp quick enc aes-128-gcm lifetime 1h tag t\n",
    "ike interface sec0 peer 192.0.2.9 quick enc aes-256\n",
    "ipip tunnel from 1.1.1.1 to 2.2.2.2 spi 0x1a000000:0x1b000000 bundle foo\n",
];

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((any::<u8>(), any::<usize>(), 0u8..4), 1..8);
    (prop::sample::select(VALID), edits).prop_map(|(text, edits)| {
        let mut bytes = text.as_bytes().to_vec();
        for (byte, at, op) in edits {
            let at = if bytes.is_empty() {
                0
            } else {
                at % bytes.len()
            };
            match op {
                0 if !bytes.is_empty() => {
                    bytes.remove(at);
                }
                1 => bytes.insert(at, byte),
                2 if !bytes.is_empty() => bytes[at] = byte,
                _ => {
                    let copy = bytes[at..].to_vec();
                    bytes.extend(copy);
                }
            }
        }
        bytes
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes(text in prop::collection::vec(any::<u8>(), 0..400)) {
        check(&text);
    }

    #[test]
    fn token_soup(text in soup()) {
        check(&text);
    }

    #[test]
    fn mutated_configs(text in mutated()) {
        check(&text);
    }
}

#[test]
fn valid_inputs_compile_cleanly() {
    let names = names();
    let opts = options(&names);
    for text in VALID {
        let c = compiler::compile_text("stdin", text.as_bytes().to_vec(), &opts);
        assert!(c.diags.is_empty(), "{text}: {:?}", c.diags);
        assert!(!c.rules.is_empty(), "{text}");
    }
}
