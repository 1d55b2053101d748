//! One module per subcommand.

mod backup;
mod cluster;
mod compact;
mod completions;
mod delete;
mod export;
mod get;
mod import;
mod index;
mod insert;
mod put;
mod query;
mod repair;
mod serve;
mod stats;
mod verify;
mod watch;

use crate::cli::Command;

/// Runs a subcommand.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Compact(args) => compact::run(args),
        Command::Repair(args) => repair::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Backup(args) => backup::run(args),
        Command::Restore(args) => backup::restore(args),
        Command::Export(args) => export::run(args),
        Command::Import(args) => import::run(args),
        Command::Get(args) => get::run(args),
        Command::Insert(args) => insert::run(args),
        Command::Put(args) => put::run(args),
        Command::Delete(args) => delete::run(args),
        Command::Query(args) => query::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Cluster(args) => cluster::run(args),
        Command::Index(args) => index::run(args),
        Command::Completions(args) => completions::run(args),
    }
}
