//! The server's configuration: the database's settings ([`nyro_core::Config`]) plus the
//! HTTP server's own `[server]` keys (`listen`, `max_body_bytes`, `auth_token`,
//! `backup_root`, `tls_cert`, `tls_key`) and `[cluster]` ([`ClusterSettings`], whose keys
//! nyro-raft describes), read from one `nyrodb.toml` through one key table
//! ([`ServerConfig::schema`]: the database's keys with the server's and the cluster's added).
//! The checks that relate keys (a cluster node needs a secret, ...) run in
//! [`Schema::validate`], once the file, the environment and the flags are applied.
//!
//! ```
//! use nyro_server::ServerConfig;
//!
//! # fn main() -> Result<(), nyro_core::ConfigError> {
//! let schema = ServerConfig::schema();
//! let text = "[server]\nlisten = \"0.0.0.0:8080\"\n[batch]\nsync = \"always\"\n";
//! let mut config = schema.parse(text, "nyrodb.toml")?;
//! assert_eq!(config.server.listen.port(), 8080);
//! schema.apply_env(&mut config, [("NYRODB_SERVER_AUTH_TOKEN".to_owned(), "s3cret".to_owned())])?;
//! assert!(config.auth_required());
//! # Ok(())
//! # }
//! ```

mod keys;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::LazyLock;

use nyro_core::config::{Config, Schema};
use nyro_raft::ClusterSettings;

/// The HTTP server's part of `[server]` (defaults: `ServerConfig::default().server`). Its
/// `Debug` output never shows the auth token.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Address to listen on (default `127.0.0.1:7070`).
    pub listen: SocketAddr,
    /// Largest request body in bytes; larger bodies get 413 (default 16777216).
    pub max_body_bytes: usize,
    /// Bearer token required on every route but `/health` and the web console's static
    /// files; empty (the default) means no auth. Best set through `NYRODB_SERVER_AUTH_TOKEN`.
    pub auth_token: String,
    /// Directory under which `POST /v1/_backup` may write; `None` (written `""`, the
    /// default) turns HTTP backups off.
    pub backup_root: Option<PathBuf>,
    /// PEM file with the certificate chain; with `tls_key`, the server speaks HTTPS and WSS
    /// only. `None` (written `""`, the default): plain HTTP.
    pub tls_cert: Option<PathBuf>,
    /// PEM file with the private key of `tls_cert`'s first certificate.
    pub tls_key: Option<PathBuf>,
}

impl fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = if self.auth_token.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("ServerSettings")
            .field("listen", &self.listen)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("auth_token", &token)
            .field("backup_root", &self.backup_root)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .finish()
    }
}

/// Everything `nyrodb serve` reads from `nyrodb.toml`: the database's settings and the
/// server's. [`ServerConfig::default`] is what an empty file gives.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The database's settings (`[storage]`, `[batch]`, `server.max_concurrent_ops`,
    /// `[compaction]`, `[[collections]]`).
    pub db: Config,
    /// The HTTP server's part of `[server]`.
    pub server: ServerSettings,
    /// `[cluster]`; the default (`node_id = 0`) is a standalone server.
    pub cluster: ClusterSettings,
}

impl Default for ServerConfig {
    /// What an empty file gives: every key at its default from the key table.
    fn default() -> Self {
        let mut config = ServerConfig {
            db: Config::default(),
            // Placeholders, each overwritten by its key's default.
            server: ServerSettings {
                listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
                max_body_bytes: 0,
                auth_token: String::new(),
                backup_root: None,
                tls_cert: None,
                tls_key: None,
            },
            cluster: ClusterSettings::default(),
        };
        SCHEMA.apply_defaults(&mut config);
        config
    }
}

impl AsRef<Config> for ServerConfig {
    fn as_ref(&self) -> &Config {
        &self.db
    }
}

impl AsMut<Config> for ServerConfig {
    fn as_mut(&mut self) -> &mut Config {
        &mut self.db
    }
}

impl AsRef<ClusterSettings> for ServerConfig {
    fn as_ref(&self) -> &ClusterSettings {
        &self.cluster
    }
}

impl AsMut<ClusterSettings> for ServerConfig {
    fn as_mut(&mut self) -> &mut ClusterSettings {
        &mut self.cluster
    }
}

static SCHEMA: LazyLock<Schema<ServerConfig>> = LazyLock::new(keys::schema);

impl ServerConfig {
    /// Every key of `nyrodb.toml`, the database's and the server's: it parses
    /// ([`Schema::parse`]), loads ([`Schema::load`], [`Schema::load_with_env`]), overrides
    /// ([`Schema::apply_env`], [`Schema::set_override`]) and validates a [`ServerConfig`].
    pub fn schema() -> &'static Schema<ServerConfig> {
        &SCHEMA
    }

    /// Where other nodes and clients reach this node: `cluster.advertise`, or else
    /// `server.listen`.
    pub fn advertise(&self) -> String {
        self.cluster.advertise_addr(self.server.listen)
    }

    /// Whether requests need `Authorization: Bearer <server.auth_token>` (the token is set).
    pub fn auth_required(&self) -> bool {
        !self.server.auth_token.is_empty()
    }

    /// The commented `nyrodb.toml` of this configuration (the shipped file is that of the
    /// defaults with the example `users` collection).
    pub fn render(&self) -> String {
        SCHEMA.render_file(self)
    }
}
