#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `nyrodb` binary, run for real: offline commands on data directories, client commands
//! against a server started as a child process, and the command line's own rules.

mod backup;
mod chaos;
mod client;
mod cluster;
mod common;
mod offline;
mod repair;
mod tls;
mod usage;
