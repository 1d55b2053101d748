#![allow(clippy::unwrap_used, clippy::expect_used)]
//! NyroDB's server, tested from outside: a real server in-process on a loopback port,
//! spoken to over HTTP (reqwest) and WebSocket (tokio-tungstenite).

mod common;

mod abuse;
mod api_fuzz;
mod auth;
mod backup;
mod config;
mod config_cluster;
mod console;
mod damage;
mod errors;
mod faults;
mod feed;
mod indexes;
mod lifecycle;
mod limits;
mod live;
mod openapi;
mod query;
mod request_id;
mod routes;
mod tls;
