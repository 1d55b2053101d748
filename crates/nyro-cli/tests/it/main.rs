#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `nyrodb` binary, run for real: offline commands on data directories, client commands
//! against a server started as a child process, the command line's own rules, clusters of
//! real nodes (`cluster`) and fault injection against them (`chaos`).

mod backup;
mod chaos;
mod client;
mod cluster;
mod common;
mod offline;
mod query;
mod repair;
mod tls;
mod usage;
