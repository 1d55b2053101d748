//! nyro-raft integration tests: the internal routes' refusals (secret, body limit, CRC), a
//! 3-node cluster with in-memory storage over the HTTP transport on loopback (election,
//! replication, a chunked snapshot with a damaged chunk), the forwarding of writes
//! against a stub server, and both over HTTPS; openraft's storage test suite against the
//! real log storage and state machine, a crash test of the log storage, starts after a
//! purge that the latest snapshot does not cover, and a seeded simulation of a cluster of
//! real nodes over an in-memory network with faults, checked for linearizability.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster;
mod forward;
mod log_store;
mod purge;
mod routes;
mod sim;
mod storage_suite;
mod support;
mod tls;
