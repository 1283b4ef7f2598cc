//! Benchmarks of the library's stages, one group each, on gateway trees
//! written by `examples/gen-tree.rs`:
//!
//! ```text
//! parse          syntax::load            the tree read and parsed, includes followed
//! resolve        rules::resolve          parsed statements → rules
//! compile        compiler::compile_file  both at once, streaming, as the commands do
//! compile_text   compiler::compile_text  the one-file ipsec.conf, from memory
//! listing        emit::verbose_listing   what `ipsecmgr compile` prints
//! tags           emit::tags::ike_tags    the isakmpd names of every ike rule
//! clashes        lint::flows::clashes    lint's cross-fragment flow check
//! plan_rm        manager::ops::plan_rm   what `rm -n` plans and prints (fragment trees)
//! ```
//!
//! Each stage runs on two layouts of N tunnels: `one` (all in ipsec.conf)
//! and `frag` (one include file per tunnel), N = 100 and 1000:
//!
//! ```text
//! cargo bench --bench stages                     # everything, under 2 minutes
//! cargo bench --bench stages -- 'parse/frag'     # a filter (a regex)
//! IPSECMGR_BENCH_SIZES=100,1000,10000 cargo bench --bench stages
//! ```
//!
//! The trees are written into a temporary directory by the gen-tree
//! example itself (built here with `cargo build --release --example
//! gen-tree`, or taken from `IPSECMGR_GEN_TREE` when set), so these are the
//! same trees `bench/compare.sh` times the command line on.
//!
//! Each time includes freeing what the stage returned, as a caller pays
//! it.  `lint::lint` as a whole is not here: it leaks its tree on purpose
//! (the process ends right after), so repeating it in one process only
//! grows; `bench/compare.sh` times the command instead.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use tempfile::TempDir;

use ipsecmgr::compiler::{self, Compiled, Options};
use ipsecmgr::diag;
use ipsecmgr::emit::{self, Action, tags};
use ipsecmgr::lint::flows;
use ipsecmgr::manager::gateway::Gateway;
use ipsecmgr::manager::ops::{self, Planned};
use ipsecmgr::manager::tree::Tree;
use ipsecmgr::rules::model::{Rule, RuleKind};
use ipsecmgr::rules::resolve::{self, ResolveOptions};
use ipsecmgr::settings::Settings;
use ipsecmgr::syntax::load::{self, LoadOptions, Parsed};
use ipsecmgr::system::files::Root;
use ipsecmgr::system::names::Names;

/// The gateway path every tree's configuration is read from.
const IPSEC_CONF: &str = "/etc/ipsec.conf";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Every tunnel in ipsec.conf (gen-tree's FRAGMENTS = 0).
    One,
    /// One include file per tunnel (FRAGMENTS = N).
    Frag,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::One => "one",
            Layout::Frag => "frag",
        }
    }
}

/// A generated tree, and what the stages after the one measured need.
struct Fixture {
    layout: Layout,
    n: usize,
    root: Root,
    settings: Settings,
    names: Names,
    parsed: Parsed,
    compiled: Compiled,
    tree: Tree,
    gateway: Gateway,
    /// The fragment `plan_rm` removes: the middle one.
    middle: String,
    /// Kept for the files' lifetime.
    _dir: TempDir,
}

impl Fixture {
    fn id(&self) -> BenchmarkId {
        BenchmarkId::new(self.layout.name(), self.n)
    }

    fn load_options(&self) -> LoadOptions {
        load_options(&self.root)
    }

    fn compile_options(&self) -> Options<'_> {
        compile_options(&self.root, &self.names, &self.settings)
    }
}

fn load_options(root: &Root) -> LoadOptions {
    LoadOptions {
        root: root.clone(),
        check_secrecy: false,
        main_local: false,
        keys: None,
    }
}

/// As `ipsecmgr --root DIR compile` sets them up.
fn compile_options<'a>(root: &Root, names: &'a Names, settings: &Settings) -> Options<'a> {
    Options {
        root: root.clone(),
        check_secrecy: false,
        names,
        hostname: settings.hostname(),
        main_local: false,
        keys: None,
    }
}

/// The gen-tree example, built if needed.
fn generator() -> PathBuf {
    if let Some(path) = std::env::var_os("IPSECMGR_GEN_TREE") {
        return PathBuf::from(path);
    }
    let out = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--example",
            "gen-tree",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "building the gen-tree example failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "gen-tree")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo names the gen-tree executable")
}

fn generate(gen_tree: &Path, layout: Layout, n: usize) -> Fixture {
    let dir = tempfile::Builder::new()
        .prefix(&format!("ipsecmgr-bench-{}-{n}-", layout.name()))
        .tempdir()
        .expect("a temporary directory");
    let fragments = match layout {
        Layout::One => 0,
        Layout::Frag => n,
    };
    let status = Command::new(gen_tree)
        .arg(n.to_string())
        .arg(fragments.to_string())
        .arg(dir.path())
        .status()
        .expect("gen-tree runs");
    assert!(status.success(), "gen-tree {n} {fragments} failed");

    let root = Root(Some(dir.path().to_path_buf()));
    let settings = || Settings::load(None, &root).expect("the generated ipsecmgr.conf");
    let (settings, gateway) = (settings(), Gateway::new(settings(), root.clone(), false));
    let names = settings.names(false);
    let opts = compile_options(&root, &names, &settings);
    let parsed = load::load(IPSEC_CONF, &load_options(&root));
    let compiled = compiler::compile_file(IPSEC_CONF, &opts);
    let tree = Tree::from_compiled(compiler::compile_file(IPSEC_CONF, &opts));
    // the stages are measured on the trees as generated, not on error paths
    for d in &compiled.diags {
        eprint!("{}", diag::render_plain(d, &compiled.parsed.sources));
    }
    assert!(
        !compiled.has_errors(),
        "the generated {}-{n} tree has errors",
        layout.name()
    );
    assert_eq!(tree.fragments.len(), fragments, "fragments included");
    Fixture {
        layout,
        n,
        root,
        settings,
        names,
        parsed,
        compiled,
        tree,
        gateway,
        middle: format!("customer-{:05}", n / 2),
        _dir: dir,
    }
}

fn sizes() -> Vec<usize> {
    match std::env::var("IPSECMGR_BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .expect("IPSECMGR_BENCH_SIZES: numbers, comma-separated")
            })
            .collect(),
        Err(_) => vec![100, 1000],
    }
}

/// Each fixture's benchmark in one group per stage; tunnels per second as
/// the throughput.
fn group<'a>(
    c: &mut Criterion,
    stage: &str,
    fixtures: impl IntoIterator<Item = &'a Fixture>,
    mut bench: impl FnMut(&mut criterion::Bencher, &'a Fixture),
) {
    let mut g = c.benchmark_group(stage);
    // several stages take tens of milliseconds at N = 1000, a second at
    // 10000: the same number of iterations in every sample keeps the run
    // short, and larger trees get fewer, longer samples
    g.sampling_mode(SamplingMode::Flat);
    for f in fixtures {
        let (samples, seconds) = match f.n {
            ..1_000 => (20, 2),
            1_000..10_000 => (10, 2),
            _ => (10, 10),
        };
        g.sample_size(samples)
            .measurement_time(Duration::from_secs(seconds));
        g.throughput(Throughput::Elements(f.n as u64));
        g.bench_function(f.id(), |b| bench(b, f));
    }
    g.finish();
}

/// The rules of ipsec.conf itself, then of each fragment: the units lint
/// checks across.
fn units(tree: &Tree) -> Vec<Vec<&Rule>> {
    let rules = &tree.compiled.rules;
    let mut units: Vec<Vec<&Rule>> = vec![tree.main_rules.iter().map(|&i| &rules[i]).collect()];
    for f in &tree.fragments {
        units.push(tree.rules_of(f).collect());
    }
    units
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();

    let gen_tree = generator();
    let mut fixtures = Vec::new();
    for n in sizes() {
        for layout in [Layout::One, Layout::Frag] {
            fixtures.push(generate(&gen_tree, layout, n));
        }
    }
    let all = || fixtures.iter();
    let one = || fixtures.iter().filter(|f| f.layout == Layout::One);
    let frag = || fixtures.iter().filter(|f| f.layout == Layout::Frag);

    group(&mut c, "parse", all(), |b, f| {
        let opts = f.load_options();
        b.iter(|| load::load(black_box(IPSEC_CONF), &opts))
    });

    group(&mut c, "resolve", all(), |b, f| {
        let opts = ResolveOptions {
            names: &f.names,
            root: &f.root,
            hostname: f.settings.hostname(),
        };
        b.iter(|| resolve::resolve(black_box(&f.parsed.statements), &opts))
    });

    group(&mut c, "compile", all(), |b, f| {
        let opts = f.compile_options();
        b.iter(|| compiler::compile_file(black_box(IPSEC_CONF), &opts))
    });
    // the one-file configuration from memory: no file system at all
    group(&mut c, "compile_text", one(), |b, f| {
        let text = std::fs::read(f.root.map(IPSEC_CONF)).expect("ipsec.conf");
        let opts = f.compile_options();
        // the copy costs well under 1% of the compile; iter_batched would
        // keep the results' deallocation out of the time, unlike the
        // other stages
        b.iter(|| compiler::compile_text(IPSEC_CONF, black_box(&text).clone(), &opts))
    });

    // the rules are the same in both layouts: one of each is enough
    group(&mut c, "listing", one(), |b, f| {
        b.iter(|| emit::verbose_listing(black_box(&f.compiled), Action::Add, false))
    });

    group(&mut c, "tags", one(), |b, f| {
        b.iter(|| {
            black_box(&f.compiled.rules)
                .iter()
                .filter_map(|r| match &r.kind {
                    RuleKind::Ike(ike) => Some(tags::ike_tags(ike)),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
    });

    group(&mut c, "clashes", all(), |b, f| {
        let units = units(&f.tree);
        b.iter(|| flows::clashes(black_box(&units)).found.len())
    });

    group(&mut c, "plan_rm", frag(), |b, f| {
        let redact = ops::tree_redactor(&f.gateway, &f.tree);
        b.iter(
            || match ops::plan_rm(&f.gateway, &f.tree, black_box(&f.middle)) {
                Ok(Planned::Plan(plan)) => plan.render(&redact, false),
                Ok(Planned::Nothing(why)) => panic!("rm {}: nothing to do: {why}", f.middle),
                Err(e) => panic!("rm {}: {e}", f.middle),
            },
        )
    });

    c.final_summary();
}
