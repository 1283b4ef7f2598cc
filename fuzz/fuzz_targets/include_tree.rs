//! Any bytes as a tree of up to three files (split on 0xff into a.conf,
//! b.conf and c.conf under a fresh root), compiled from a.conf: includes
//! resolve inside the root.  Must not panic.
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::include_tree(data));
