//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Manage OpenBSD IPsec tunnels one include file at a time.
#[derive(Debug, Parser)]
#[command(name = "ipsecmgr", version, about, long_about = None)]
pub struct Cli {
    /// ipsecmgr's configuration file [default: /etc/ipsecmgr.conf, when it exists]
    #[arg(short = 'c', long = "config", value_name = "CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Take the gateway's paths (settings, include lines, the default
    /// ipsec.conf) under DIR; a FILE typed on the command line is read as
    /// typed, from the current directory
    #[arg(long, value_name = "DIR", global = true)]
    pub root: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print what `ipsecctl -nv -f FILE` prints: the canonical rules and the
    /// isakmpd commands of every ike rule
    Compile(CompileArgs),
    /// Install a tunnel file, include it in ipsec.conf and load it
    Add(AddArgs),
    /// Unload a fragment's tunnels, remove its include line, move it aside
    Rm(RmArgs),
    /// Show what changes if fragment NAME is replaced by FILE (or by what is on disk)
    Diff(DiffArgs),
    /// Carry that change out, touching only the rules that change
    Apply(ApplyArgs),
    /// Take a fragment's connections off isakmpd's lists and tear them down,
    /// configuration kept; they stay down until `up`
    Down(NameArgs),
    /// Put a fragment's connections back on isakmpd's lists and start them
    Up(NameArgs),
    /// Down, then up (an exchange already in flight finishes or times out first)
    Restart(NameArgs),
    /// List the fragments in include order
    Ls(LsArgs),
    /// Show the isakmpd tags of a fragment or file
    Tags(TagsArgs),
    /// Show the live state of each fragment's tunnels
    Status(StatusArgs),
    /// Check configurations for errors and risks, on any OS, without root
    Lint(LintArgs),
    /// The keys file: set one key and load it for its peers alone, or move
    /// the configuration's keys into it
    Key(KeyArgs),
}

#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub action: KeyAction,
}

#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// Set key NAME in the keys file, read from standard input (or asked
    /// for on a terminal, never from the command line), and load it into
    /// isakmpd for the peers that use it alone
    Set(KeySetArgs),
    /// Move every pre-shared key written in the configuration into the
    /// keys file, writing `psk $NAME` in its place, as one change
    Migrate(KeyMigrateArgs),
}

#[derive(Debug, clap::Args)]
pub struct KeySetArgs {
    /// Print the plan (the key redacted) and change nothing
    #[arg(short = 'n')]
    pub dry_run: bool,

    /// The key's macro name, declared in the settings' [keys] names
    #[arg(value_name = "NAME")]
    pub name: String,

    #[command(flatten)]
    pub output: KeyOutput,
}

#[derive(Debug, clap::Args)]
pub struct KeyMigrateArgs {
    /// Print the plan (keys redacted) and change nothing
    #[arg(short = 'n')]
    pub dry_run: bool,

    #[command(flatten)]
    pub output: KeyOutput,
}

/// The output of the key commands: no option shows a key.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyOutput {
    /// Print the plan and the result as one JSON document
    #[arg(long)]
    pub json: bool,

    /// Show ipsecmgr's own records in full, not in one line each
    #[arg(short = 'v')]
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Github,
    /// SARIF 2.1.0, for code-scanning services
    Sarif,
}

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// How to print findings
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Resolve no names through the system; undeclared names are warnings
    #[arg(long)]
    pub offline: bool,

    /// Exit 1 on warnings too
    #[arg(long)]
    pub deny_warnings: bool,

    /// Under --root, check file modes and owners too (L203, L301); a
    /// checkout's modes are not the gateway's, so they are left out there
    #[arg(long)]
    pub check_modes: bool,

    /// Report only these lint codes (comma-separated; replaces [lint] select)
    #[arg(long, value_name = "CODE,...", value_delimiter = ',')]
    pub select: Vec<String>,

    /// Leave out these lint codes (comma-separated; added to [lint] ignore)
    #[arg(long, value_name = "CODE,...", value_delimiter = ',')]
    pub ignore: Vec<String>,

    /// ipsec.conf files (their includes followed) or directories of *.conf
    /// [default: the configured ipsec.conf]
    #[arg(value_name = "PATH")]
    pub paths: Vec<std::path::PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Print the plan (file edits, ipsecctl runs, FIFO lines) and change nothing
    #[arg(short = 'n')]
    pub dry_run: bool,

    /// A tunnel file, read from the current directory; a bare name found
    /// nowhere there is the file of that name in the fragment directory
    #[arg(value_name = "FILE")]
    pub file: String,

    /// Change the files only (fragment, include line): run no ipsecctl,
    /// tell isakmpd nothing, need no isakmpd; then say what to run once
    /// isakmpd runs to load the fragment (not with --wait)
    #[arg(long, conflicts_with = "wait")]
    pub config_only: bool,

    #[command(flatten)]
    pub wait: Wait,
    #[command(flatten)]
    pub output: PlanOutput,
}

/// The plan and result as JSON, for automation.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanOutput {
    /// Print the plan and the result as one JSON document
    #[arg(long)]
    pub json: bool,

    /// With --json: show keys and pre-shared keys in file edits
    #[arg(short = 'k', requires = "json")]
    pub show_keys: bool,

    /// Show ipsecmgr's own records (what was loaded, applied copies,
    /// held-down fragments, pending clean-ups) in full, not in one line each
    #[arg(short = 'v')]
    pub verbose: bool,
}

/// `--wait [SECONDS]` of the commands that load rules or may leave a
/// clean-up pending.
#[derive(Debug, clap::Args)]
pub struct Wait {
    // 120 s: isakmpd's Exchange-max-time (exchange.h: EXCHANGE_MAX_TIME),
    // after which exchange.c: exchange_create's death timer frees it
    /// Wait (up to SECONDS, default 120: isakmpd's exchange max time) for
    /// phase 1 exchanges in flight: before loading rules for a peer one may
    /// be with (without it, such a run is refused), and after, to finish a
    /// removed peer's clean-up (without it, the next ipsecmgr run does)
    #[arg(
        id = "wait",
        long = "wait",
        value_name = "SECONDS",
        num_args = 0..=1,
        default_missing_value = "120"
    )]
    pub seconds: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct NameArgs {
    /// Print the plan and change nothing
    #[arg(short = 'n')]
    pub dry_run: bool,

    /// The fragment: `name`, `name.conf`, or its path in the fragment directory
    #[arg(value_name = "NAME")]
    pub name: String,

    #[command(flatten)]
    pub wait: Wait,
    #[command(flatten)]
    pub output: PlanOutput,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Print the plan and change nothing
    #[arg(short = 'n')]
    pub dry_run: bool,

    /// The fragment: `name`, `name.conf`, or its path in the fragment directory
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Change the files only (include line, fragment moved aside): run no
    /// ipsecctl, tell isakmpd nothing, need no isakmpd; then say what to
    /// run once isakmpd runs to unload the fragment (not with --wait)
    #[arg(long, conflicts_with = "wait")]
    pub config_only: bool,

    #[command(flatten)]
    pub wait: Wait,
    #[command(flatten)]
    pub output: PlanOutput,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// Compare two trees (checkouts of a gateway's files), tunnel by tunnel
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"], conflicts_with_all = ["name", "file"])]
    pub tree: Option<Vec<std::path::PathBuf>>,

    /// As JSON (with --tree too)
    #[arg(long)]
    pub json: bool,

    /// text, json (as --json), or with --tree only, markdown (a table
    /// for a pull request)
    #[arg(long, value_enum, conflicts_with = "json")]
    pub format: Option<TreeFormat>,

    /// The fragment
    #[arg(value_name = "NAME", required_unless_present = "tree")]
    pub name: Option<String>,

    /// The new version [default: the fragment's file as it is on disk]
    #[arg(value_name = "FILE")]
    pub file: Option<String>,

    /// In the plan apply would carry out, show ipsecmgr's own records in
    /// full, not in one line each
    #[arg(short = 'v', conflicts_with = "tree")]
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TreeFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Print the plan and change nothing
    #[arg(short = 'n')]
    pub dry_run: bool,

    /// The fragment
    #[arg(value_name = "NAME")]
    pub name: String,

    /// The new version, installed over the fragment [default: the file on disk]
    #[arg(value_name = "FILE")]
    pub file: Option<String>,

    /// Install FILE only: run no ipsecctl, tell isakmpd nothing, need no
    /// isakmpd; then say what to run once isakmpd runs to load the change
    /// (not with --wait)
    #[arg(long, conflicts_with = "wait")]
    pub config_only: bool,

    #[command(flatten)]
    pub wait: Wait,
    #[command(flatten)]
    pub output: PlanOutput,
}

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// As one JSON object, {"version": 1, "fragments": [...]}: each
    /// fragment with name, path, line, flows, sas, ike, state, held_down,
    /// phase1, phase2 and, when modified, not_applied (pending clean-ups
    /// go to standard error)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct TagsArgs {
    /// Also print the FIFO lines that would tear the connections down
    #[arg(long)]
    pub teardown: bool,

    /// As JSON
    #[arg(long)]
    pub json: bool,

    /// A fragment name, or any ipsec.conf file
    #[arg(value_name = "NAME|FILE")]
    pub target: String,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Only this fragment
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// As JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// Print the commands that delete the rules, as `ipsecctl -d` sends them
    #[arg(short = 'd')]
    pub delete: bool,

    /// Show keys and pre-shared keys (otherwise replaced by <redacted>)
    #[arg(short = 'k')]
    pub show_keys: bool,

    /// As JSON: the listing line by line, and the diagnostics
    #[arg(long)]
    pub json: bool,

    /// The configuration to compile, read as typed (not under --root);
    /// `-` reads standard input [default: the configured ipsec.conf,
    /// under --root]
    #[arg(value_name = "FILE")]
    pub file: Option<String>,
}
