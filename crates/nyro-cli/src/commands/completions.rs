//! `nyrodb completions SHELL`: a completion script on stdout.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Generator;

use crate::cli::{Cli, CompletionsArgs};

/// Prints the script.
pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    command.set_bin_name("nyrodb");
    command.build();
    let mut script = Vec::new();
    args.shell.try_generate(&command, &mut script)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&script)?;
    stdout.flush()?;
    Ok(())
}
