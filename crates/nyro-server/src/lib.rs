//! # nyro-server: NyroDB over HTTP and WebSocket
//!
//! Serves `nyro_core::Database` exactly as the contract's section 4 says.
//!
//! - [`build_router`] makes the axum router from an [`AppState`] (its [`StateFields`] behind
//!   one `Arc`, cloned per request for a reference count): every route, bearer-token
//!   auth ([`auth`]), request counting ([`metrics`]), 404/405 with the error body.
//! - [`console`] serves the web console at `/` and `/console/{file}`: static HTML, CSS and
//!   JavaScript modules (in `crates/nyro-server/console/`) embedded in the binary, which use
//!   only the public `/v1` API.
//! - [`ApiError`] is the one place where errors become HTTP statuses and the
//!   `{"error": {"code", "message"}}` body; internal details are logged, not sent.
//! - [`wire`] holds the JSON shapes, apart from the domain types; [`openapi`] derives the
//!   OpenAPI description from the handlers.
//! - [`ServerConfig`] is the whole `nyrodb.toml`: the database's settings and the server's own
//!   `[server]` keys, in one key table ([`config`]).
//! - [`tls`]: HTTPS and WSS with rustls when `server.tls_cert` and `tls_key` are set, the
//!   certificate reloaded on SIGHUP.
//! - [`Server`] binds, serves until a signal, then shuts down gracefully (in-flight requests
//!   finish, the writer drains and fsyncs, the directory lock is released).
//!
//! Invariants: handlers touch data only through `Database`; bad input of any kind is a 4xx
//! with the error body, never a 500, and never changes stored data; every request body is
//! bounded by `max_body_bytes` and read within a timeout, every request head within
//! [`HEADER_READ_TIMEOUT`], and at most [`MAX_CONNECTIONS`] connections are served at once
//! ([`ConnectionLimits`]); change-feed consumers that fall behind are closed, so no memory
//! grows per slow client.

mod app;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod console;
mod context;
mod error;
mod extract;
mod json_doc;
pub mod metrics;
pub mod openapi;
pub mod request_id;
mod routes;
mod serve;
pub mod tls;
pub mod wire;

pub use app::{AppState, StateFields, build_router};
pub use config::{ServerConfig, ServerSettings};
pub use error::{ApiError, ApiResult, ErrorCode};
pub use routes::changes::{CLOSE_HISTORY_COMPACTED, CLOSE_LAGGED};
pub use serve::{
    BODY_TIMEOUT, ConnectionLimits, HEADER_READ_TIMEOUT, MAX_CONNECTIONS, MAX_REFUSING, ServeError,
    Server, shutdown_signal,
};
pub use tls::{TlsError, TlsReloader};

/// Entry points for the fuzz targets in `fuzz/` (not part of the API; may change at any
/// time): the request-body parsers that turn JSON into documents.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::json_doc::{parse_document, parse_documents};
}
