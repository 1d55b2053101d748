//! nyro-raft integration tests: the internal routes' refusals (secret, body limit, CRC), a
//! 3-node cluster with in-memory storage over the HTTP transport on loopback (election,
//! replication, a chunked snapshot with a damaged chunk), the forwarding of writes
//! against a stub server, and both over HTTPS.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster;
mod forward;
mod routes;
mod support;
mod tls;
