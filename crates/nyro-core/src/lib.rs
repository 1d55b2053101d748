//! # nyro-core: the NyroDB database
//!
//! Will hold `Database`, the supervisor that opens the log, rebuilds the indexes, owns the
//! batch writer and the background tasks, broadcasts changes and bounds work with a
//! semaphore, and the typed configuration (`nyrodb.toml`) shared by the server and the CLI.

pub mod config;

pub use config::{Config, ConfigError, SyncPolicy};
