//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// NyroDB: a document database with an HTTP and WebSocket API.
#[derive(Debug, Parser)]
#[command(name = "nyrodb", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format: human-readable text, or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "NYRODB_LOG_FORMAT")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (HTTP and WebSocket API).
    Serve(ServeArgs),
}

/// `nyrodb serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Config file; a missing ./nyrodb.toml means the defaults, a missing explicit file is an
    /// error.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides storage.path).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:7070 (overrides server.listen).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}
