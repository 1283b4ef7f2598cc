//! Replays the fuzzing corpora and any saved crash inputs
//! (`fuzz/corpus/TARGET/*`, `fuzz/artifacts/TARGET/*`) through the same
//! calls the fuzz targets in `fuzz/fuzz_targets/` make, so that every
//! input found once stays checked under plain `cargo test`.  Each target
//! body is a copy of the function of the same name here.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use ipsecmgr::compiler::{Options, compile_file, compile_text};
use ipsecmgr::emit::{Action, verbose_listing};
use ipsecmgr::system::files::Root;
use ipsecmgr::system::names::Names;
use ipsecmgr::system::report::{parse_sa_report, parse_show_all};

/// fuzz_targets/compile.rs
fn compile(data: &[u8]) {
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
}

const FILES: [&str; 3] = ["a.conf", "b.conf", "c.conf"];

/// fuzz_targets/include_tree.rs
fn include_tree(data: &[u8]) {
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
}

/// fuzz_targets/sa_report.rs
fn sa_report(data: &[u8]) {
    let _ = parse_show_all(&String::from_utf8_lossy(data));
}

/// fuzz_targets/isakmpd_report.rs
fn isakmpd_report(data: &[u8]) {
    let _ = parse_sa_report(&String::from_utf8_lossy(data));
}

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
