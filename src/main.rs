use clap::Parser;

use ipsecmgr::cli::{Cli, Command};
use ipsecmgr::commands::{self, EXIT_USAGE};
use ipsecmgr::settings::Settings;
use ipsecmgr::system::files::Root;

fn main() {
    let cli = Cli::parse();
    let root = Root(cli.root.clone());
    let settings = match Settings::load(cli.config.as_deref(), &root) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ipsecmgr: {}", e.0);
            std::process::exit(EXIT_USAGE);
        }
    };
    let status = match &cli.command {
        Command::Compile(args) => commands::compile::run(args, &settings, &root),
    };
    std::process::exit(status);
}
