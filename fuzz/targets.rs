//! What each fuzz target does with its input, shared by the targets in
//! `fuzz_targets/` and by `tests/fuzz_regressions.rs`, which replays the
//! corpora under plain `cargo test`.  Each target uses one of these.
#![allow(dead_code)]

use ipsecmgr::compiler::{Options, compile_file, compile_text};
use ipsecmgr::emit::{Action, verbose_listing};
use ipsecmgr::system::files::Root;
use ipsecmgr::system::names::Names;
use ipsecmgr::system::report::{parse_sa_report, parse_show_all};

fn options(root: Root, names: &Names) -> Options<'_> {
    Options {
        root,
        check_secrecy: false,
        names,
        hostname: "gw.example.org".to_string(),
        main_local: false,
        keys: None,
    }
}

/// Any bytes as an ipsec.conf: compiling and listing it (add and delete)
/// must not panic.
pub fn compile(data: &[u8]) {
    let names = Names::default();
    let compiled = compile_text("fuzz", data.to_vec(), &options(Root(None), &names));
    let _ = verbose_listing(&compiled, Action::Add, false);
    let _ = verbose_listing(&compiled, Action::Delete, false);
}

const FILES: [&str; 3] = ["a.conf", "b.conf", "c.conf"];

/// Any bytes as a tree of up to three files (split on 0xff into a.conf,
/// b.conf and c.conf under a fresh root), compiled from a.conf: includes
/// resolve inside the root.
pub fn include_tree(data: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, part) in FILES.iter().zip(data.splitn(3, |&b| b == 0xff)) {
        std::fs::write(dir.path().join(name), part).expect("write");
    }
    let names = Names::default();
    let opts = options(Root(Some(dir.path().to_path_buf())), &names);
    let compiled = compile_file("/a.conf", &opts);
    let _ = verbose_listing(&compiled, Action::Add, false);
    let _ = verbose_listing(&compiled, Action::Delete, false);
}

/// Any text as `ipsecctl -sa` output.
pub fn sa_report(data: &[u8]) {
    let _ = parse_show_all(&String::from_utf8_lossy(data));
}

/// Any text as isakmpd's `S` report.
pub fn isakmpd_report(data: &[u8]) {
    let _ = parse_sa_report(data);
}
