//! Any text as isakmpd's `S` report: parsing it must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ipsecmgr::system::report::parse_sa_report(&String::from_utf8_lossy(data));
});
