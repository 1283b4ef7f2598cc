//! Any text as `ipsecctl -sa` output: parsing it must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ipsecmgr::system::report::parse_show_all(&String::from_utf8_lossy(data));
});
