//! The HTTP server's keys of `[server]`, each described once, and the whole file's schema:
//! the database's keys ([`nyro_core::config::database_keys`]) with these and the cluster's
//! ([`nyro_raft::config::cluster_keys`]) added, and the cluster's cross-key checks.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nyro_core::config::{
    Key, Schema, Ty, database_keys, is_header_safe, parse_number, toml_string,
};
use nyro_raft::config::cluster_keys;

use super::ServerConfig;

/// What `server.listen` allows, for its type error and its parse error alike.
const LISTEN_ALLOWED: &str =
    r#"an IP address and port, such as "127.0.0.1:7070", "0.0.0.0:7070" or "[::1]:7070""#;

/// An optional path: empty means off.
fn optional_path(raw: &str) -> Option<PathBuf> {
    (!raw.is_empty()).then(|| PathBuf::from(raw))
}

fn show_optional_path(path: Option<&Path>) -> String {
    toml_string(&path.map(|p| p.display().to_string()).unwrap_or_default())
}

/// The server's keys, in the order of the shipped `nyrodb.toml` (`listen` opens the
/// section, before the database's `max_concurrent_ops`).
fn server_keys() -> (Key<ServerConfig>, Vec<Key<ServerConfig>>) {
    let listen: Key<ServerConfig> = Key {
        section: "server",
        name: "listen",
        default: "127.0.0.1:7070",
        ty: Ty::String,
        doc: "Address and port to listen on.",
        allowed: LISTEN_ALLOWED.to_owned(),
        secret: false,
        set: |c, raw| {
            c.server.listen = raw
                .trim()
                .parse::<SocketAddr>()
                .map_err(|_| format!("`{raw}` is not a socket address"))?;
            Ok(())
        },
        check: |_| true,
        show: |c| toml_string(&c.server.listen.to_string()),
    };
    let rest: Vec<Key<ServerConfig>> = vec![
        Key {
            section: "server",
            name: "max_body_bytes",
            default: "16777216",
            ty: Ty::Integer,
            doc: "Largest request body; larger bodies get 413.",
            allowed: "a whole number of bytes, 1 or more".to_owned(),
            secret: false,
            set: |c, raw| {
                c.server.max_body_bytes = parse_number(raw)?;
                Ok(())
            },
            check: |c| c.server.max_body_bytes >= 1,
            show: |c| c.server.max_body_bytes.to_string(),
        },
        Key {
            section: "server",
            name: "auth_token",
            default: "",
            ty: Ty::String,
            doc: "Bearer token required on every route but /health and the web console's static files\n\
                  (/ and /console/...); empty means no auth.\n\
                  Better set through the environment: NYRODB_SERVER_AUTH_TOKEN.",
            allowed: "a string of printable ASCII characters without leading or trailing \
                      spaces; empty turns authentication off"
                .to_owned(),
            secret: true,
            set: |c, raw| {
                c.server.auth_token = raw.to_owned();
                Ok(())
            },
            check: |c| is_header_safe(&c.server.auth_token),
            show: |c| toml_string(&c.server.auth_token),
        },
        Key {
            section: "server",
            name: "backup_root",
            default: "",
            ty: Ty::String,
            doc: "Directory under which POST /v1/_backup may write; empty turns HTTP backups off.",
            allowed: "a directory path; empty turns HTTP backups off".to_owned(),
            secret: false,
            set: |c, raw| {
                c.server.backup_root = optional_path(raw);
                Ok(())
            },
            check: |_| true,
            show: |c| show_optional_path(c.server.backup_root.as_deref()),
        },
        Key {
            section: "server",
            name: "tls_cert",
            default: "",
            ty: Ty::String,
            doc: "TLS: a PEM file with the server's certificate chain (its own certificate first).\n\
                  With tls_key set too, the server speaks HTTPS and WSS only (plain HTTP is\n\
                  refused); both empty: plain HTTP. Set both or neither. The files are read at\n\
                  start and again on SIGHUP (a renewed certificate needs no restart; if the new\n\
                  files are bad, the server says so in its log and keeps the old ones).",
            allowed: "a path to a PEM certificate file; empty turns TLS off".to_owned(),
            secret: false,
            set: |c, raw| {
                c.server.tls_cert = optional_path(raw);
                Ok(())
            },
            check: |_| true,
            show: |c| show_optional_path(c.server.tls_cert.as_deref()),
        },
        Key {
            section: "server",
            name: "tls_key",
            default: "",
            ty: Ty::String,
            doc: "TLS: a PEM file with the private key of tls_cert (PKCS#8, PKCS#1 or SEC1).",
            allowed: "a path to a PEM private key file; empty turns TLS off".to_owned(),
            secret: false,
            set: |c, raw| {
                c.server.tls_key = optional_path(raw);
                Ok(())
            },
            check: |_| true,
            show: |c| show_optional_path(c.server.tls_key.as_deref()),
        },
    ];
    (listen, rest)
}

/// Every key of `nyrodb.toml`, in the shipped file's order.
pub(super) fn schema() -> Schema<ServerConfig> {
    let mut keys = database_keys::<ServerConfig>();
    let (listen, rest) = server_keys();
    let first_server = keys
        .iter()
        .position(|k| k.section == "server")
        .unwrap_or(keys.len());
    keys.insert(first_server, listen);
    let after_db_server = keys
        .iter()
        .rposition(|k| k.section == "server")
        .map_or(keys.len(), |i| i + 1);
    keys.splice(after_db_server..after_db_server, rest);
    keys.extend(cluster_keys());
    Schema::new(keys).with_rule(|c| c.cluster.check(c.server.listen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_every_check_and_show_as_written() {
        assert_eq!(ServerConfig::schema().check_defaults(), Ok(()));
    }

    #[test]
    fn the_schema_has_every_key_once_in_file_order() {
        let schema = schema();
        let paths = schema.paths();
        for (i, p) in paths.iter().enumerate() {
            assert!(!paths[..i].contains(p), "{p} twice");
        }
        let server: Vec<&str> = schema.section_keys("server").map(|k| k.name).collect();
        assert_eq!(
            server,
            [
                "listen",
                "max_concurrent_ops",
                "max_body_bytes",
                "auth_token",
                "backup_root",
                "tls_cert",
                "tls_key"
            ]
        );
        assert_eq!(
            schema.sections(),
            [
                "storage",
                "batch",
                "server",
                "compaction",
                "query",
                "cluster"
            ]
        );
    }
}
