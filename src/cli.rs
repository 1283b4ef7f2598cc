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

    /// Take every configured path, and absolute include paths, under DIR
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
}

#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// Print the commands that delete the rules, as `ipsecctl -d` sends them
    #[arg(short = 'd')]
    pub delete: bool,

    /// Show keys and pre-shared keys (otherwise replaced by <redacted>)
    #[arg(short = 'k')]
    pub show_keys: bool,

    /// The configuration to compile; `-` reads standard input
    #[arg(value_name = "FILE", default_value = "/etc/ipsec.conf")]
    pub file: String,
}
