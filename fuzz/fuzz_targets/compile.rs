//! Any bytes as an ipsec.conf: compiling and listing it (add and delete)
//! must not panic.  `tests/fuzz_regressions.rs` replays the corpus through
//! the same calls.
#![no_main]

use ipsecmgr::compiler::{Options, compile_text};
use ipsecmgr::emit::{Action, verbose_listing};
use ipsecmgr::system::files::Root;
use ipsecmgr::system::names::Names;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let names = Names::default();
    let opts = Options {
        root: Root(None),
        check_secrecy: false,
        names: &names,
        hostname: "gw.example.org".to_string(),
        main_local: false,
    };
    let compiled = compile_text("fuzz", data.to_vec(), &opts);
    let _ = verbose_listing(&compiled, Action::Add, false);
    let _ = verbose_listing(&compiled, Action::Delete, false);
});
