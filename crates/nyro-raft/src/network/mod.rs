//! The node-to-node transport: openraft's RPCs over HTTP(S), and user writes forwarded from
//! a follower to the leader.
//!
//! - [`HttpNetworkFactory`] (client side) gives openraft one [`HttpConnection`] per peer; all
//!   of them share one pooled `reqwest` client. Each RPC is a `POST` to
//!   `http(s)://ADDR/internal/raft/{append,vote,snapshot}` (see [`APPEND_PATH`],
//!   [`VOTE_PATH`], [`SNAPSHOT_PATH`]) carrying the shared secret ([`SECRET_HEADER`]), the
//!   sending node's id ([`NODE_HEADER`], on every node-to-node request, forwarded writes
//!   included) and a
//!   body encoded with NyroDB's codec (`nyro_storage::codec`), checked by CRC-32C
//!   ([`CRC_HEADER`]). Snapshots go in openraft's chunked mode, one chunk per request.
//! - [`internal_routes`] (server side) answers those three routes: 401 without the right
//!   secret (constant-time compare), 413 over the body limit, 400 for a body whose CRC does
//!   not match or that does not decode; otherwise it hands the request to `openraft::Raft`
//!   and answers 200 with the encoded `Result<response, RaftError>` (with its own CRC).
//! - [`Forwarder`] sends a user's write, unchanged, from a follower to the leader and hands
//!   back the leader's answer unchanged; it never retries, and marks the request with
//!   [`FORWARDED_HEADER`] so that it is forwarded at most once.
//!
//! Invariants: no request is ever sent twice by this module (openraft decides what to
//! resend); every call is bounded in time; a corrupted body is refused before openraft sees
//! it; no answer names a server file.

mod client;
mod forward;
mod raft_client;
mod server;
mod wire;

pub use client::{PeerTls, TransportError};
pub use forward::{
    FORWARDED_HEADER, ForwardError, Forwarder, REQUEST_HEADERS, RESPONSE_HEADERS, was_forwarded,
};
pub use raft_client::{HttpConnection, HttpNetworkFactory};
pub use server::internal_routes;
pub use wire::{
    APPEND_PATH, CRC_HEADER, NODE_HEADER, READ_INDEX_PATH, SECRET_HEADER, SNAPSHOT_PATH, VOTE_PATH,
    crc_value,
};
