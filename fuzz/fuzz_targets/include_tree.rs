//! Any bytes as a tree of up to three files (split on 0xff into a.conf,
//! b.conf and c.conf under a fresh root), compiled from a.conf: includes
//! resolve inside the root.  Must not panic.
#![no_main]

use ipsecmgr::compiler::{Options, compile_file};
use ipsecmgr::emit::{Action, verbose_listing};
use ipsecmgr::system::files::Root;
use ipsecmgr::system::names::Names;
use libfuzzer_sys::fuzz_target;

const FILES: [&str; 3] = ["a.conf", "b.conf", "c.conf"];

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, part) in FILES.iter().zip(data.splitn(3, |&b| b == 0xff)) {
        std::fs::write(dir.path().join(name), part).expect("write");
    }
    let names = Names::default();
    let opts = Options {
        root: Root(Some(dir.path().to_path_buf())),
        check_secrecy: false,
        names: &names,
        hostname: "gw.example.org".to_string(),
        main_local: false,
    };
    let compiled = compile_file("/a.conf", &opts);
    let _ = verbose_listing(&compiled, Action::Add, false);
    let _ = verbose_listing(&compiled, Action::Delete, false);
});
