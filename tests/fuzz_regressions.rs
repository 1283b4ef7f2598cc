//! Replays the fuzzing corpora and any saved crash inputs
//! (`fuzz/corpus/TARGET/*`, `fuzz/artifacts/TARGET/*`) through the calls
//! the fuzz targets make (`fuzz/targets.rs`, shared with them), so that
//! every input found once stays checked under plain `cargo test`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[path = "../fuzz/targets.rs"]
mod targets;

use targets::{compile, include_tree, isakmpd_report, sa_report};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for kind in ["corpus", "artifacts"] {
        let Ok(dir) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
            continue;
        };
        for entry in dir.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

/// Runs every input of `target` through `run`; fails listing each input
/// that panicked.
fn replay(target: &str, run: fn(&[u8])) {
    let files = inputs(target);
    let mut failed = Vec::new();
    for path in &files {
        let data = std::fs::read(path).expect("read input");
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs panicked:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}

#[test]
fn compile_corpus() {
    replay("compile", compile);
}

#[test]
fn include_tree_corpus() {
    replay("include_tree", include_tree);
}

#[test]
fn sa_report_corpus() {
    replay("sa_report", sa_report);
}

#[test]
fn isakmpd_report_corpus() {
    replay("isakmpd_report", isakmpd_report);
}
