//! `nyrodb`: the NyroDB server binary and administration CLI.
//!
//! Exit codes: 0 success, 1 a failure the user can act on (message on stderr), 2 a usage
//! error (clap's own).

mod cli;
mod commands;
mod logging;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init(cli.log_format);
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nyrodb: {e:#}");
            ExitCode::from(1)
        }
    }
}
