//! The whole `nyrodb.toml` (the database's keys and the server's) against CONTRACT.md
//! sections 3 and 8, and the shipped file. The database's keys alone are tested in
//! nyro-core's `tests/it/config.rs`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nyro_core::config::{CollectionConfig, ConfigError, SyncPolicy};
use nyro_server::ServerConfig;

const FILE: &str = "my-nyrodb.toml";

fn shipped_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../nyrodb.toml")
}

fn parse(text: &str) -> Result<ServerConfig, ConfigError> {
    ServerConfig::schema().parse(text, FILE)
}

/// Asserts `text` is refused with a message naming `key` and the file, and returns it.
fn refused(text: &str, key: &str) -> String {
    let err = parse(text).expect_err(text);
    let message = err.to_string();
    assert!(message.contains(&format!("`{key}`")), "{text:?}: {message}");
    assert!(message.contains(FILE), "{text:?}: {message}");
    message
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Asserts the environment `pairs` are refused with a message naming `var`.
fn env_refused(pairs: &[(&str, &str)], var: &str) -> String {
    let mut config = ServerConfig::default();
    let err = ServerConfig::schema()
        .apply_env(&mut config, vars(pairs))
        .expect_err(var);
    assert!(
        matches!(&err, ConfigError::Env { var: v, .. } if v == var),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(var), "{message}");
    message
}

fn defaults_plus_users() -> ServerConfig {
    let mut expected = ServerConfig::default();
    expected.db.collections.push(CollectionConfig {
        name: "users".to_owned(),
        indexes: vec!["city".to_owned(), "age".to_owned()],
    });
    expected
}

#[test]
fn shipped_file_is_the_defaults_plus_users() {
    let text = std::fs::read_to_string(shipped_path()).unwrap();
    let config = ServerConfig::schema().parse(&text, "nyrodb.toml").unwrap();
    let expected = defaults_plus_users();
    assert_eq!(config, expected);

    let loaded = ServerConfig::schema()
        .load_default_or_file(Some(&shipped_path()))
        .unwrap();
    assert_eq!(loaded, expected);
    assert_eq!(
        ServerConfig::schema().load(Some(&shipped_path())).unwrap(),
        expected
    );
}

#[test]
fn shipped_file_is_what_the_key_tables_render() {
    // Every key, its default and its doc come from the key tables: the shipped file can
    // neither miss a key nor show a stale default.
    let text = std::fs::read_to_string(shipped_path()).unwrap();
    let rendered = defaults_plus_users().render();
    assert!(
        text == rendered,
        "nyrodb.toml differs from the key tables; write this:\n{rendered}"
    );
    for key in ServerConfig::schema().keys() {
        assert!(
            text.contains(&format!("\n{} = ", key.name)),
            "{}",
            key.path()
        );
    }
}

#[test]
fn server_defaults_are_the_contract_values() {
    let c = ServerConfig::default();
    assert_eq!(
        c.server.listen,
        "127.0.0.1:7070".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.db.server.max_concurrent_ops, 100_000);
    assert_eq!(c.server.max_body_bytes, 16_777_216);
    assert_eq!(c.server.auth_token, "");
    assert_eq!(c.server.backup_root, None);
    assert_eq!(c.server.tls_cert, None);
    assert_eq!(c.server.tls_key, None);
    assert!(!c.auth_required());
    assert_eq!(c.db, nyro_core::Config::default());
    assert_eq!(
        parse("[storage]\n[batch]\n[server]\n[compaction]\n").unwrap(),
        c
    );
}

#[test]
fn every_key_is_read() {
    let text = r#"
[storage]
path = "/var/lib/nyrodb"

[batch]
sync = "always"

[server]
listen = "[::1]:8080"
max_concurrent_ops = 1
max_body_bytes = 1
auth_token = "s3cret token"
backup_root = "/backups"
tls_cert = "/etc/nyrodb/cert.pem"
tls_key = "/etc/nyrodb/key.pem"

[[collections]]
name = "a"
"#;
    let c = parse(text).unwrap();
    assert_eq!(c.db.storage.path, PathBuf::from("/var/lib/nyrodb"));
    assert_eq!(c.db.batch.sync, SyncPolicy::Always);
    assert_eq!(c.server.listen, "[::1]:8080".parse::<SocketAddr>().unwrap());
    assert_eq!(c.db.server.max_concurrent_ops, 1);
    assert_eq!(c.server.max_body_bytes, 1);
    assert!(c.auth_required());
    assert_eq!(c.server.auth_token, "s3cret token");
    assert_eq!(c.server.backup_root, Some(PathBuf::from("/backups")));
    assert_eq!(
        c.server.tls_cert,
        Some(PathBuf::from("/etc/nyrodb/cert.pem"))
    );
    assert_eq!(c.server.tls_key, Some(PathBuf::from("/etc/nyrodb/key.pem")));
    assert_eq!(c.db.collections[0].name, "a");
}

#[test]
fn bad_server_values_are_named_with_what_is_allowed() {
    for (text, key, allowed) in [
        (
            "[server]\nlisten = 7070\n",
            "server.listen",
            "127.0.0.1:7070",
        ),
        (
            "[server]\nlisten = \"localhost:7070\"\n",
            "server.listen",
            "127.0.0.1:7070",
        ),
        (
            "[server]\nlisten = \"127.0.0.1\"\n",
            "server.listen",
            "IP address and port",
        ),
        (
            "[server]\nmax_body_bytes = []\n",
            "server.max_body_bytes",
            "bytes",
        ),
        (
            "[server]\nauth_token = 1234\n",
            "server.auth_token",
            "printable ASCII",
        ),
        (
            "[server]\nbackup_root = false\n",
            "server.backup_root",
            "directory path",
        ),
        (
            "[server]\ntls_cert = 1\n",
            "server.tls_cert",
            "PEM certificate",
        ),
        (
            "[server]\ntls_key = true\n",
            "server.tls_key",
            "PEM private key",
        ),
        ("[server]\nport = 7070\n", "server.port", "unknown key"),
    ] {
        let message = refused(text, key);
        assert!(message.contains(allowed), "{text:?}: {message}");
    }
    let message = refused("[server]\nport = 7070\n", "server.port");
    assert!(
        message.contains("listen") && message.contains("tls_key"),
        "{message}"
    );
}

#[test]
fn out_of_range_server_values_are_named() {
    for (text, key, allowed) in [
        (
            "[server]\nmax_body_bytes = 0\n",
            "server.max_body_bytes",
            "1 or more",
        ),
        (
            "[server]\nauth_token = \" padded \"\n",
            "server.auth_token",
            "leading or trailing",
        ),
        (
            "[server]\nauth_token = \"a\\nb\"\n",
            "server.auth_token",
            "printable ASCII",
        ),
    ] {
        let err = parse(text).expect_err(text);
        assert!(
            matches!(err, ConfigError::Invalid { .. }),
            "{text:?}: {err:?}"
        );
        let message = refused(text, key);
        assert!(message.contains(allowed), "{text:?}: {message}");
        assert!(message.contains("line 2"), "{text:?}: {message}");
    }
    // The token itself is never echoed.
    let message = refused("[server]\nauth_token = \" hunter2\"\n", "server.auth_token");
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn loading_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custom.toml");
    std::fs::write(&path, "[server]\nlisten = \"0.0.0.0:9000\"\n").unwrap();
    let c = ServerConfig::schema()
        .load_default_or_file(Some(&path))
        .unwrap();
    assert_eq!(c.server.listen.port(), 9000);
    assert_eq!(ServerConfig::schema().load(Some(&path)).unwrap(), c);
    let missing = dir.path().join("missing.toml");
    let err = ServerConfig::schema()
        .load_with_env(Some(&missing))
        .unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }), "{err:?}");
}

#[test]
fn env_overrides_the_server_keys() {
    let mut c = parse("[server]\nlisten = \"127.0.0.1:1\"\n").unwrap();
    ServerConfig::schema()
        .apply_env(
            &mut c,
            vars(&[
                ("NYRODB_STORAGE_PATH", "/from/env"),
                ("NYRODB_SERVER_LISTEN", "0.0.0.0:7070"),
                ("NYRODB_SERVER_MAX_CONCURRENT_OPS", "8"),
                ("NYRODB_SERVER_MAX_BODY_BYTES", "1024"),
                ("NYRODB_SERVER_AUTH_TOKEN", "t0ken"),
                ("NYRODB_SERVER_BACKUP_ROOT", "/srv/backups"),
                ("NYRODB_SERVER_TLS_CERT", "/c.pem"),
                ("NYRODB_SERVER_TLS_KEY", "/k.pem"),
            ]),
        )
        .unwrap();
    assert_eq!(c.db.storage.path, PathBuf::from("/from/env"));
    assert_eq!(
        c.server.listen,
        "0.0.0.0:7070".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.db.server.max_concurrent_ops, 8);
    assert_eq!(c.server.max_body_bytes, 1024);
    assert_eq!(c.server.auth_token, "t0ken");
    assert!(c.auth_required());
    assert_eq!(c.server.backup_root, Some(PathBuf::from("/srv/backups")));
    assert_eq!(c.server.tls_cert, Some(PathBuf::from("/c.pem")));
    assert_eq!(c.server.tls_key, Some(PathBuf::from("/k.pem")));
    ServerConfig::schema().validate(&c, "test").unwrap();

    // Empty values turn the optional features back off.
    ServerConfig::schema()
        .apply_env(
            &mut c,
            vars(&[
                ("NYRODB_SERVER_AUTH_TOKEN", ""),
                ("NYRODB_SERVER_BACKUP_ROOT", ""),
                ("NYRODB_SERVER_TLS_CERT", ""),
                ("NYRODB_SERVER_TLS_KEY", ""),
            ]),
        )
        .unwrap();
    assert!(!c.auth_required());
    assert_eq!(c.server.backup_root, None);
    assert_eq!(c.server.tls_cert, None);
    assert_eq!(c.server.tls_key, None);
}

#[test]
fn env_leaves_collections_from_the_file_alone() {
    let text = std::fs::read_to_string(shipped_path()).unwrap();
    let mut c = ServerConfig::schema().parse(&text, "nyrodb.toml").unwrap();
    ServerConfig::schema()
        .apply_env(&mut c, vars(&[("NYRODB_BATCH_SYNC", "never")]))
        .unwrap();
    assert_eq!(c.db.batch.sync, SyncPolicy::Never);
    assert_eq!(c.db.collections.len(), 1);
    assert_eq!(c.db.collections[0].name, "users");
}

#[test]
fn bad_server_env_values_name_the_variable() {
    for (var, value, allowed) in [
        ("NYRODB_SERVER_LISTEN", "localhost", "IP address and port"),
        ("NYRODB_SERVER_MAX_BODY_BYTES", "", "bytes"),
        ("NYRODB_SERVER_AUTH_TOKEN", "bad\ntoken", "printable ASCII"),
    ] {
        let message = env_refused(&[(var, value)], var);
        assert!(message.contains(allowed), "{var}={value:?}: {message}");
    }
    // The token is not echoed.
    let message = env_refused(
        &[("NYRODB_SERVER_AUTH_TOKEN", " hunter2")],
        "NYRODB_SERVER_AUTH_TOKEN",
    );
    assert!(!message.contains("hunter2"), "{message}");
    let message = env_refused(&[("NYRODB_SERVER_PORT", "7070")], "NYRODB_SERVER_PORT");
    assert!(message.contains("NYRODB_SERVER_LISTEN"), "{message}");
}

#[test]
fn flags_override_env_and_file() {
    let mut c = parse("[server]\nlisten = \"127.0.0.1:1\"\n").unwrap();
    ServerConfig::schema()
        .apply_env(&mut c, vars(&[("NYRODB_SERVER_LISTEN", "127.0.0.1:2")]))
        .unwrap();
    assert_eq!(c.server.listen.port(), 2);
    ServerConfig::schema()
        .set_override(&mut c, "--listen", "server.listen", "127.0.0.1:3")
        .unwrap();
    assert_eq!(c.server.listen.port(), 3);
    ServerConfig::schema()
        .set_override(&mut c, "--data", "storage.path", "/d")
        .unwrap();
    assert_eq!(c.db.storage.path, PathBuf::from("/d"));

    let err = ServerConfig::schema()
        .set_override(&mut c, "--listen", "server.listen", "nope")
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("--listen") && message.contains("server.listen"),
        "{message}"
    );
    let err = ServerConfig::schema()
        .set_override(&mut c, "--x", "server.port", "1")
        .unwrap_err();
    assert!(err.to_string().contains("server.listen"), "{err}");
}

#[test]
fn debug_redacts_the_token() {
    let mut config = ServerConfig::default();
    config.server.auth_token = "s3cret".to_owned();
    let debug = format!("{config:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}
