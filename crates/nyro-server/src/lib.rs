//! # nyro-server: NyroDB over HTTP and WebSocket
//!
//! Will hold the axum router that serves the HTTP API and change feeds of the contract on
//! top of `nyro_core::Database`, the wire types, and the one mapping from errors to HTTP
//! status codes.
