//! `apply` hands ipsecctl files of rules written back as statements; each
//! must read back as exactly the rule it came from, or ipsecctl would load
//! (or delete) something else.

use std::collections::HashMap;

use ipsecmgr::compiler::{self, Options};
use ipsecmgr::manager::render;
use ipsecmgr::rules::model::RuleKind;
use ipsecmgr::system::files::Root;
use ipsecmgr::system::names::Names;

const CONFIGS: &[&str] = &[
    "flow esp from 10.0.0.0/24 to 10.1.0.0/24 peer 192.0.2.1\n\
     flow ah in proto tcp from 10.0.2/24 port 22 to 3.3.3.3 port https local 192.0.2.9 peer any srcid a@b dstid c.d type use\n\
     flow ipip out from 0.0.0.0/0 to 192.168.11.0/24 peer 10.0.0.2\n\
     flow from 3ffe:1::0/24 to 3ffe:2::/24 type deny\n",
    "ike esp from { 10.0.0.0/24, 10.0.1.0/24 } to 10.1.0.0/24 peer 192.0.2.1 \
     main auth hmac-sha2-256 enc aes-256 group modp2048 lifetime 8h quick enc aes-128-gcm group none lifetime 600 psk \"with \\\"quotes\\\"\"\n\
     ike passive ah transport proto udp from 1.1.1.1 port ntp to any local lo0 aggressive srcid 1.2.3.4 dstid ::1 tag t1\n\
     ike dynamic from 10.2.0.0/16 (172.16.0.0/16) to 10.9.0.0/16 peer gw rsa\n\
     ike interface sec3 peer 192.0.2.7 quick enc aes-128 psk k\n",
    "esp transport from 1.1.1.1 to 2.2.2.2 spi 0x1000:0x1001 auth hmac-sha1 enc 3des \
     authkey 0x1111111111111111111111111111111111111111:0x2222222222222222222222222222222222222222 \
     enckey 0x333333333333333333333333333333333333333333333333:0x444444444444444444444444444444444444444444444444\n\
     ipcomp from 3ffe::1 to 3ffe::2 spi 0x2000:0x2001\n\
     ipip from 10.0.0.1 to 10.0.0.2 spi 0x0a000001\n\
     esp from 1.1.1.1 to 2.2.2.2 spi 0x3000 udpencap port 4500 enc null auth none\n\
     tcpmd5 from 1.1.1.1 to 2.2.2.2 spi 0x4000:0x4001 authkey 0xdeadbeef:0xbeefdead\n",
];

#[test]
fn every_rule_reads_back_as_itself() {
    let lo0 = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    let names = Names::new(
        HashMap::from([("gw".to_string(), vec!["192.0.2.8".parse().unwrap()])]),
        HashMap::from([("lo0".to_string(), lo0)]),
        false,
    );
    let opts = Options {
        root: Root::default(),
        check_secrecy: false,
        names: &names,
        hostname: "gw.example.net".into(),
        main_local: false,
        keys: None,
    };
    let mut checked = 0;
    for text in CONFIGS {
        let c = compiler::compile_text("in", text.as_bytes().to_vec(), &opts);
        assert!(c.diags.is_empty(), "{text}: {:?}", c.diags);
        for rule in &c.rules {
            let Some(stmt) = render::statement(rule, true) else {
                assert!(matches!(rule.kind, RuleKind::Bundle(_)));
                continue;
            };
            let back = compiler::compile_text("back", format!("{stmt}\n").into_bytes(), &opts);
            assert!(back.diags.is_empty(), "{stmt}: {:?}", back.diags);
            assert_eq!(back.rules.len(), 1, "{stmt}");
            assert_eq!(back.rules[0].kind, rule.kind, "{stmt}");
            checked += 1;
        }
    }
    assert!(checked >= 19, "only {checked} rules checked");
}
