//! Any bytes as an ipsec.conf: compiling and listing it (add and delete)
//! must not panic.  `tests/fuzz_regressions.rs` replays the corpus through
//! the same calls.
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::compile(data));
