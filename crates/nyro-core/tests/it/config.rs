//! The database's config keys against CONTRACT.md section 3. The server's keys, and the
//! shipped `nyrodb.toml` as a whole, are tested in nyro-server's `tests/it/config.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use nyro_core::config::{CollectionConfig, Config, ConfigError, SyncPolicy};
use proptest::prelude::*;

const FILE: &str = "my-nyrodb.toml";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, FILE)
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
    let mut config = Config::default();
    let err = config.apply_env(vars(pairs)).expect_err(var);
    assert!(
        matches!(&err, ConfigError::Env { var: v, .. } if v == var),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(var), "{message}");
    message
}

#[test]
fn defaults_are_the_contract_values() {
    let c = Config::default();
    assert_eq!(c.storage.path, PathBuf::from("./data"));
    assert_eq!(c.storage.segment_size_mb, 256);
    assert_eq!(c.batch.batch_size, 10_000);
    assert_eq!(c.batch.batch_timeout_ms, 100);
    assert_eq!(c.batch.sync, SyncPolicy::Interval);
    assert_eq!(c.batch.sync_interval_ms, 1000);
    assert_eq!(c.server.max_concurrent_ops, 100_000);
    assert!(c.compaction.auto);
    assert!((c.compaction.min_dead_ratio - 0.5).abs() < f64::EPSILON);
    assert!(c.collections.is_empty());

    assert_eq!(c.segment_size_bytes(), 256 * 1024 * 1024);
    assert_eq!(c.batch_timeout(), Duration::from_millis(100));
    assert_eq!(c.sync_interval(), Duration::from_secs(1));
}

#[test]
fn empty_and_comment_only_files_are_the_defaults() {
    assert_eq!(parse("").unwrap(), Config::default());
    assert_eq!(parse("# nothing\n\n   \n").unwrap(), Config::default());
    assert_eq!(
        parse("[storage]\n[batch]\n[server]\n[compaction]\n").unwrap(),
        Config::default()
    );
}

#[test]
fn every_key_is_read() {
    let text = r#"
[storage]
path = "/var/lib/nyrodb"
segment_size_mb = 4096

[batch]
batch_size = 1
batch_timeout_ms = 0
sync = "always"
sync_interval_ms = 1

[server]
max_concurrent_ops = 1

[compaction]
auto = false
min_dead_ratio = 1

[[collections]]
name = "a"

[[collections]]
name = "B-2_x"
indexes = ["n"]
"#;
    let c = parse(text).unwrap();
    assert_eq!(c.storage.path, PathBuf::from("/var/lib/nyrodb"));
    assert_eq!(c.segment_size_bytes(), 4096 * 1024 * 1024);
    assert_eq!(c.batch.batch_size, 1);
    assert_eq!(c.batch_timeout(), Duration::ZERO);
    assert_eq!(c.batch.sync, SyncPolicy::Always);
    assert_eq!(c.sync_interval(), Duration::from_millis(1));
    assert_eq!(c.server.max_concurrent_ops, 1);
    assert!(!c.compaction.auto);
    assert!((c.compaction.min_dead_ratio - 1.0).abs() < f64::EPSILON);
    assert_eq!(c.collections.len(), 2);
    assert!(c.collections[0].indexes.is_empty());
    assert_eq!(c.collection("B-2_x").unwrap().indexes, vec!["n".to_owned()]);
    assert!(c.collection("nope").is_none());

    for (word, policy) in [
        ("always", SyncPolicy::Always),
        ("interval", SyncPolicy::Interval),
        ("never", SyncPolicy::Never),
    ] {
        let c = parse(&format!("[batch]\nsync = \"{word}\"\n")).unwrap();
        assert_eq!(c.batch.sync, policy);
    }
    // Dotted keys and inline tables are the same keys.
    let c = parse("storage.segment_size_mb = 1\nbatch = { sync = \"never\" }\n").unwrap();
    assert_eq!(c.storage.segment_size_mb, 1);
    assert_eq!(c.batch.sync, SyncPolicy::Never);
}

#[test]
fn unknown_keys_and_sections_are_named() {
    for (text, key) in [
        ("[storage]\nsegment_size = 1\n", "storage.segment_size"),
        ("[batch]\nfsync = true\n", "batch.fsync"),
        ("[server]\nport = 7070\n", "server.port"),
        ("[compaction]\nenabled = true\n", "compaction.enabled"),
        ("[storge]\npath = \"x\"\n", "storge"),
        ("[logging]\n", "logging"),
        ("verbose = true\n", "verbose"),
        (
            "[[collections]]\nname = \"a\"\nindex = [\"x\"]\n",
            "collections[0].index",
        ),
    ] {
        let message = refused(text, key);
        assert!(message.contains("unknown key"), "{message}");
        assert!(message.contains("expected"), "{message}");
    }
    // The allowed keys are listed.
    let message = refused("[storage]\nsegment_size = 1\n", "storage.segment_size");
    assert!(message.contains("segment_size_mb"), "{message}");
    let message = refused("[logging]\n", "logging");
    assert!(message.contains("compaction"), "{message}");
}

#[test]
fn wrong_types_are_named_with_what_is_allowed() {
    for (text, key, allowed) in [
        ("[storage]\npath = 5\n", "storage.path", "directory path"),
        (
            "[storage]\nsegment_size_mb = \"256\"\n",
            "storage.segment_size_mb",
            "1 to 4096",
        ),
        (
            "[storage]\nsegment_size_mb = -1\n",
            "storage.segment_size_mb",
            "1 to 4096",
        ),
        (
            "[batch]\nbatch_size = 1.5\n",
            "batch.batch_size",
            "whole number",
        ),
        (
            "[batch]\nbatch_timeout_ms = true\n",
            "batch.batch_timeout_ms",
            "milliseconds",
        ),
        ("[batch]\nsync = true\n", "batch.sync", "\"interval\""),
        ("[batch]\nsync = \"sometimes\"\n", "batch.sync", "interval"),
        ("[batch]\nsync = \"Always\"\n", "batch.sync", "always"),
        (
            "[batch]\nsync_interval_ms = \"1s\"\n",
            "batch.sync_interval_ms",
            "milliseconds",
        ),
        (
            "[server]\nmax_concurrent_ops = \"many\"\n",
            "server.max_concurrent_ops",
            "whole number",
        ),
        (
            "[compaction]\nauto = \"yes\"\n",
            "compaction.auto",
            "true or false",
        ),
        (
            "[compaction]\nmin_dead_ratio = \"half\"\n",
            "compaction.min_dead_ratio",
            "at most 1",
        ),
        ("storage = 5\n", "storage", "[storage] table"),
        (
            "collections = [\"users\"]\n",
            "collections[0]",
            "[[collections]]",
        ),
        (
            "[[collections]]\nname = 7\n",
            "collections[0].name",
            "string",
        ),
        (
            "[[collections]]\nname = \"a\"\nindexes = \"city\"\n",
            "collections[0].indexes",
            "sequence",
        ),
        (
            "[[collections]]\nname = \"a\"\nindexes = [\"x\", 3]\n",
            "collections[0].indexes[1]",
            "string",
        ),
        (
            "[[collections]]\nindexes = [\"x\"]\n",
            "collections[0]",
            "missing key `name`",
        ),
    ] {
        let message = refused(text, key);
        assert!(message.contains(allowed), "{text:?}: {message}");
    }
}

#[test]
fn type_errors_give_line_and_column() {
    let err = parse("# comment\n[batch]\nbatch_size = 10\nsync = 1\n").unwrap_err();
    match &err {
        ConfigError::Parse {
            file,
            key,
            line,
            column,
            ..
        } => {
            assert_eq!(file, FILE);
            assert_eq!(key, "batch.sync");
            assert_eq!(*line, Some(4));
            assert_eq!(*column, Some(8));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("line 4, column 8"), "{err}");
}

#[test]
fn out_of_range_values_are_named_with_what_is_allowed() {
    for (text, key, allowed) in [
        ("[storage]\npath = \"\"\n", "storage.path", "non-empty"),
        (
            "[storage]\nsegment_size_mb = 0\n",
            "storage.segment_size_mb",
            "1 to 4096",
        ),
        (
            "[storage]\nsegment_size_mb = 4097\n",
            "storage.segment_size_mb",
            "1 to 4096",
        ),
        ("[batch]\nbatch_size = 0\n", "batch.batch_size", "from 1"),
        (
            "[batch]\nbatch_size = 1000001\n",
            "batch.batch_size",
            "to 1000000",
        ),
        (
            "[batch]\nbatch_timeout_ms = 86400001\n",
            "batch.batch_timeout_ms",
            "24 hours",
        ),
        (
            "[batch]\nsync_interval_ms = 0\n",
            "batch.sync_interval_ms",
            "from 1",
        ),
        (
            "[server]\nmax_concurrent_ops = 0\n",
            "server.max_concurrent_ops",
            "from 1",
        ),
        (
            "[compaction]\nmin_dead_ratio = 0\n",
            "compaction.min_dead_ratio",
            "greater than 0",
        ),
        (
            "[compaction]\nmin_dead_ratio = 0.0\n",
            "compaction.min_dead_ratio",
            "greater than 0",
        ),
        (
            "[compaction]\nmin_dead_ratio = 1.01\n",
            "compaction.min_dead_ratio",
            "at most 1",
        ),
        (
            "[compaction]\nmin_dead_ratio = -0.5\n",
            "compaction.min_dead_ratio",
            "at most 1",
        ),
        (
            "[compaction]\nmin_dead_ratio = nan\n",
            "compaction.min_dead_ratio",
            "at most 1",
        ),
        (
            "[compaction]\nmin_dead_ratio = inf\n",
            "compaction.min_dead_ratio",
            "at most 1",
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
}

#[test]
fn bad_collections_are_named() {
    for (text, key, what) in [
        (
            "[[collections]]\nname = \"\"\n",
            "collections[0].name",
            "not a valid collection name",
        ),
        (
            "[[collections]]\nname = \"a b\"\n",
            "collections[0].name",
            "A-Z, a-z, 0-9",
        ),
        (
            "[[collections]]\nname = \"a.b\"\n",
            "collections[0].name",
            "A-Z, a-z, 0-9",
        ),
        (
            "[[collections]]\nname = \"ünï\"\n",
            "collections[0].name",
            "A-Z, a-z, 0-9",
        ),
        (
            &format!("[[collections]]\nname = \"{}\"\n", "x".repeat(65)),
            "collections[0].name",
            "1 to 64",
        ),
        (
            "[[collections]]\nname = \"a\"\n[[collections]]\nname = \"b\"\n[[collections]]\nname = \"a\"\n",
            "collections[2].name",
            "declared twice",
        ),
        (
            "[[collections]]\nname = \"a\"\nindexes = [\"\"]\n",
            "collections[0].indexes[0]",
            "empty",
        ),
        (
            "[[collections]]\nname = \"a\"\nindexes = [\"x\", \"_id\"]\n",
            "collections[0].indexes[1]",
            "_id",
        ),
        (
            "[[collections]]\nname = \"a\"\nindexes = [\"x\", \"x\"]\n",
            "collections[0].indexes[1]",
            "twice",
        ),
    ] {
        let message = refused(text, key);
        assert!(message.contains(what), "{text:?}: {message}");
    }
    // A 64-character name is fine.
    parse(&format!("[[collections]]\nname = \"{}\"\n", "x".repeat(64))).unwrap();
}

#[test]
fn syntax_errors_name_the_file_and_line() {
    let err = parse("[storage]\npath = \"./data\n").unwrap_err();
    assert!(
        matches!(err, ConfigError::Syntax { line: 2, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(FILE) && message.contains("line 2"),
        "{message}"
    );
}

#[test]
fn loading_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custom.toml");
    std::fs::write(&path, "[storage]\nsegment_size_mb = 9\n").unwrap();
    let c = Config::load_default_or_file(Some(&path)).unwrap();
    assert_eq!(c.storage.segment_size_mb, 9);
    assert_eq!(Config::load(Some(&path)).unwrap(), c);

    // An explicitly named file that is missing is an error naming it.
    let missing = dir.path().join("missing.toml");
    for err in [
        Config::load_default_or_file(Some(&missing)).unwrap_err(),
        Config::load(Some(&missing)).unwrap_err(),
        Config::load_with_env(Some(&missing)).unwrap_err(),
    ] {
        assert!(matches!(err, ConfigError::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("missing.toml"), "{err}");
    }

    // Errors in a file name the file's path.
    std::fs::write(&path, "[batch]\nsync = \"sometimes\"\n").unwrap();
    let message = Config::load(Some(&path)).unwrap_err().to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("batch.sync"), "{message}");

    // A directory is not a config file.
    let err = Config::load(Some(dir.path())).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");

    // Not UTF-8.
    std::fs::write(&path, b"\xff\xfe[storage]\n").unwrap();
    let err = Config::load(Some(&path)).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
}

#[test]
fn the_default_file_may_be_missing() {
    // Tests run in the crate directory, which has no nyrodb.toml.
    if Path::new("nyrodb.toml").exists() {
        return;
    }
    assert_eq!(Config::load(None).unwrap(), Config::default());
    assert_eq!(
        Config::load_default_or_file(None).unwrap(),
        Config::default()
    );
    assert_eq!(
        Config::load(Some(Path::new("./nyrodb.toml"))).unwrap(),
        Config::default()
    );
    // Named explicitly through load_default_or_file, it must exist.
    let err = Config::load_default_or_file(Some(Path::new("./nyrodb.toml"))).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }), "{err:?}");
}

#[test]
fn env_overrides_every_section() {
    let mut c = parse("[storage]\npath = \"/from/file\"\n").unwrap();
    c.apply_env(vars(&[
        ("NYRODB_STORAGE_PATH", "/from/env"),
        ("NYRODB_STORAGE_SEGMENT_SIZE_MB", "64"),
        ("NYRODB_BATCH_BATCH_SIZE", "500"),
        ("NYRODB_BATCH_BATCH_TIMEOUT_MS", "5"),
        ("NYRODB_BATCH_SYNC", "always"),
        ("NYRODB_BATCH_SYNC_INTERVAL_MS", "250"),
        ("NYRODB_SERVER_MAX_CONCURRENT_OPS", "8"),
        ("NYRODB_COMPACTION_AUTO", "false"),
        ("NYRODB_COMPACTION_MIN_DEAD_RATIO", "0.25"),
    ]))
    .unwrap();
    assert_eq!(c.storage.path, PathBuf::from("/from/env"));
    assert_eq!(c.storage.segment_size_mb, 64);
    assert_eq!(c.batch.batch_size, 500);
    assert_eq!(c.batch.batch_timeout_ms, 5);
    assert_eq!(c.batch.sync, SyncPolicy::Always);
    assert_eq!(c.batch.sync_interval_ms, 250);
    assert_eq!(c.server.max_concurrent_ops, 8);
    assert!(!c.compaction.auto);
    assert!((c.compaction.min_dead_ratio - 0.25).abs() < f64::EPSILON);
    c.validate("test").unwrap();
}

#[test]
fn other_variables_are_ignored() {
    let mut c = Config::default();
    c.apply_env(vars(&[
        ("NYRODB_URL", "http://example:1"),
        ("NYRODB_TOKEN", "abc"),
        ("NYRODB_LOG_FORMAT", "json"),
        ("NYRODB_LOG", "debug"),
        ("NYRODB_DATA", "/x"),
        ("NYRODB_", "x"),
        ("PATH", "/usr/bin"),
        ("HOME", "/root"),
        ("RUST_LOG", "trace"),
        ("nyrodb_server_listen", "nonsense"),
    ]))
    .unwrap();
    assert_eq!(c, Config::default());
}

#[test]
fn bad_env_values_name_the_variable_and_what_is_allowed() {
    for (var, value, allowed) in [
        ("NYRODB_STORAGE_PATH", "", "non-empty"),
        ("NYRODB_STORAGE_SEGMENT_SIZE_MB", "0", "1 to 4096"),
        ("NYRODB_STORAGE_SEGMENT_SIZE_MB", "big", "1 to 4096"),
        ("NYRODB_STORAGE_SEGMENT_SIZE_MB", "-1", "1 to 4096"),
        ("NYRODB_BATCH_BATCH_SIZE", "0", "from 1"),
        ("NYRODB_BATCH_BATCH_TIMEOUT_MS", "1.5", "milliseconds"),
        (
            "NYRODB_BATCH_SYNC",
            "sometimes",
            "\"always\", \"interval\", \"never\"",
        ),
        (
            "NYRODB_BATCH_SYNC",
            "ALWAYS",
            "\"always\", \"interval\", \"never\"",
        ),
        ("NYRODB_BATCH_SYNC_INTERVAL_MS", "0", "from 1"),
        ("NYRODB_SERVER_MAX_CONCURRENT_OPS", "0", "from 1"),
        ("NYRODB_COMPACTION_AUTO", "yes", "true or false"),
        ("NYRODB_COMPACTION_MIN_DEAD_RATIO", "2", "at most 1"),
        ("NYRODB_COMPACTION_MIN_DEAD_RATIO", "NaN", "at most 1"),
    ] {
        let message = env_refused(&[(var, value)], var);
        assert!(message.contains(allowed), "{var}={value:?}: {message}");
    }
}

#[test]
fn unknown_config_variables_are_errors() {
    let message = env_refused(&[("NYRODB_SERVER_PORT", "7070")], "NYRODB_SERVER_PORT");
    assert!(
        message.contains("NYRODB_SERVER_MAX_CONCURRENT_OPS"),
        "{message}"
    );
    env_refused(&[("NYRODB_STORAGE_DIR", "/x")], "NYRODB_STORAGE_DIR");
    env_refused(&[("NYRODB_BATCH_FSYNC", "1")], "NYRODB_BATCH_FSYNC");
    env_refused(
        &[("NYRODB_COMPACTION_ENABLED", "1")],
        "NYRODB_COMPACTION_ENABLED",
    );
    let message = env_refused(&[("NYRODB_COLLECTIONS", "users")], "NYRODB_COLLECTIONS");
    assert!(message.contains("config file"), "{message}");
    env_refused(
        &[("NYRODB_COLLECTIONS_NAME", "users")],
        "NYRODB_COLLECTIONS_NAME",
    );
    // Mixed with ignored variables, the bad one is still found.
    env_refused(
        &[
            ("NYRODB_URL", "x"),
            ("NYRODB_SERVER_PORT", "1"),
            ("HOME", "/"),
        ],
        "NYRODB_SERVER_PORT",
    );
}

#[test]
fn flags_override_env_and_file() {
    let mut c = parse("[storage]\npath = \"/1\"\n").unwrap();
    c.apply_env(vars(&[("NYRODB_STORAGE_PATH", "/2")])).unwrap();
    assert_eq!(c.storage.path, PathBuf::from("/2"));
    c.set_override("--data", "storage.path", "/d").unwrap();
    assert_eq!(c.storage.path, PathBuf::from("/d"));

    let err = c
        .set_override("--segments", "storage.segment_size_mb", "nope")
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("--segments") && message.contains("storage.segment_size_mb"),
        "{message}"
    );
    let err = c.set_override("--data", "storage.path", "").unwrap_err();
    assert!(err.to_string().contains("non-empty"), "{err}");
    let err = c.set_override("--x", "server.port", "1").unwrap_err();
    assert!(err.to_string().contains("storage.path"), "{err}");
}

#[test]
fn validate_checks_configs_built_in_code() {
    let mut c = Config::default();
    c.storage.segment_size_mb = 0;
    let err = c.validate("built-in").unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("storage.segment_size_mb") && message.contains("built-in"),
        "{message}"
    );
    let mut c = Config::default();
    c.collections.push(CollectionConfig {
        name: "ok".to_owned(),
        indexes: vec!["_id".to_owned()],
    });
    assert!(
        c.validate("built-in")
            .unwrap_err()
            .to_string()
            .contains("collections[0].indexes[0]")
    );
}

#[test]
fn load_with_env_reads_the_file() {
    // Only checks the file part: the process environment of a test run is not ours to set,
    // and a stray NYRODB_* variable in it would legitimately change the answer.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.toml");
    std::fs::write(&path, "[[collections]]\nname = \"x\"\n").unwrap();
    if std::env::vars_os().any(|(k, _)| k.to_string_lossy().starts_with("NYRODB_")) {
        return;
    }
    let c = Config::load_with_env(Some(&path)).unwrap();
    assert_eq!(c.collections[0].name, "x");
}

proptest! {
    #[test]
    fn any_text_gives_a_config_or_a_named_error(text in "\\PC{0,200}") {
        match Config::from_toml_str(&text, FILE) {
            Ok(config) => config.validate("again").unwrap(),
            Err(err) => prop_assert!(err.to_string().contains(FILE)),
        }
    }

    #[test]
    fn numbers_are_accepted_exactly_in_range(
        segment in 0u64..5000,
        batch in 0usize..20,
        interval in 0u64..3,
        ratio in -0.5f64..1.5,
    ) {
        let text = format!(
            "[storage]\nsegment_size_mb = {segment}\n[batch]\nbatch_size = {batch}\n\
             sync_interval_ms = {interval}\n[compaction]\nmin_dead_ratio = {ratio:?}\n"
        );
        let ok = (1..=4096).contains(&segment)
            && batch >= 1
            && interval >= 1
            && ratio > 0.0
            && ratio <= 1.0;
        match Config::from_toml_str(&text, FILE) {
            Ok(c) => {
                prop_assert!(ok, "accepted {text}");
                prop_assert_eq!(c.segment_size_bytes(), segment * 1024 * 1024);
                prop_assert_eq!(c.batch.batch_size, batch);
                prop_assert_eq!(c.sync_interval(), Duration::from_millis(interval));
            }
            Err(err) => {
                prop_assert!(!ok, "refused {text}: {err}");
                let message = err.to_string();
                prop_assert!(message.contains(FILE), "{}", message);
            }
        }
    }

    #[test]
    fn env_and_file_agree(segment in 0u64..5000) {
        let from_file = Config::from_toml_str(&format!("[storage]\nsegment_size_mb = {segment}\n"), FILE);
        let mut c = Config::default();
        let from_env = c.apply_env([("NYRODB_STORAGE_SEGMENT_SIZE_MB".to_owned(), segment.to_string())]);
        prop_assert_eq!(from_file.is_ok(), from_env.is_ok());
        if let Ok(f) = from_file {
            prop_assert_eq!(f, c);
        }
    }
}
