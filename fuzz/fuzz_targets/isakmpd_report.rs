//! Any text as isakmpd's `S` report: parsing it must not panic.
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::isakmpd_report(data));
