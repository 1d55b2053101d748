//! `nyrodb`: the NyroDB server binary and administration CLI.
//!
//! Exit codes: 0 success, 1 a failure the user can act on (message on stderr), 2 a usage
//! error (clap's own, and the few usage checks clap cannot express).

mod cli;
mod commands;
mod http;
mod logging;
mod offline;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let default_level = match cli.command {
        cli::Command::Serve(_) => "info",
        // Other commands speak through their output; logs only for what needs attention.
        _ => "warn",
    };
    logging::init(cli.log_format, default_level);
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

/// Prints an error the way its kind calls for and picks the exit code.
fn report(error: &anyhow::Error) -> ExitCode {
    if let Some(usage) = error.downcast_ref::<output::UsageError>() {
        eprintln!("error: {usage}\n\nFor more information, try '--help'.");
        return ExitCode::from(2);
    }
    if output::is_broken_pipe(error) {
        // The reader of our output went away (`nyrodb export | head`): not a failure.
        return ExitCode::SUCCESS;
    }
    eprintln!("nyrodb: {error:#}");
    ExitCode::from(1)
}
