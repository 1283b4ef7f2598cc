//! Any text as `ipsecctl -sa` output: parsing it must not panic.
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::sa_report(data));
