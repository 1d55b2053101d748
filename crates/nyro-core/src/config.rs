//! Typed configuration: `nyrodb.toml`, its environment overrides and flag overrides.
//!
//! The file is described in `CONTRACT.md` section 3 and by the commented `nyrodb.toml` at the
//! root of the repository, which holds every default. nyro-core owns the database's settings
//! ([`Config`]: `[storage]`, `[batch]`, `max_concurrent_ops` of `[server]`, `[compaction]`,
//! `[[collections]]`); the HTTP server's (`listen`, `auth_token`, `max_body_bytes`,
//! `backup_root`, TLS) belong to nyro-server, which adds its keys to these and reads the whole
//! file through one [`Schema`]. The rules:
//!
//! - Each key is described once, in a key table ([`database_keys`], a list of [`Key`]s: name,
//!   type, doc, what is allowed, setter, range check). The table drives the file parser,
//!   the environment overrides, flag overrides, validation, and the rendered `nyrodb.toml`
//!   ([`Schema::render_file`]).
//! - Checks that relate several keys (a cluster's secret is required once its node id is
//!   set) are [`Rule`]s, run by [`Schema::validate`] once the file, the environment and
//!   the flags are all applied (the file alone may rightly lack what the environment gives).
//! - Every key has a default, so an empty file, or no file, runs. The defaults have no
//!   collections (the shipped `nyrodb.toml` declares an example `users` collection).
//! - Unknown keys, unknown sections, values of the wrong type and values out of range are
//!   errors ([`ConfigError`]) that name the key, the file (with line and column) and what is
//!   allowed. Nothing is ignored silently.
//! - Precedence, lowest first: built-in defaults, the file, the environment
//!   ([`Config::apply_env`]: `NYRODB_<SECTION>_<KEY>`, e.g. `NYRODB_BATCH_SYNC`), then
//!   command-line flags ([`Config::set_override`]).
//! - Collection names and index fields follow one rule with the catalog ([`crate::names`]).
//! - Durability is the named policy [`SyncPolicy`], never a bool.
//!
//! ```
//! use nyro_core::config::{Config, SyncPolicy};
//!
//! # fn main() -> Result<(), nyro_core::config::ConfigError> {
//! let mut config = Config::from_toml_str("[batch]\nsync = \"always\"\n", "nyrodb.toml")?;
//! assert_eq!(config.batch.sync, SyncPolicy::Always);
//! config.apply_env([("NYRODB_STORAGE_SEGMENT_SIZE_MB".to_owned(), "64".to_owned())])?;
//! assert_eq!(config.storage.segment_size_mb, 64);
//!
//! let err = Config::from_toml_str("[batch]\nsync = \"sometimes\"\n", "nyrodb.toml").unwrap_err();
//! assert!(err.to_string().contains("batch.sync"));
//! assert!(err.to_string().contains("nyrodb.toml"));
//! # Ok(())
//! # }
//! ```

mod env;
mod error;
mod keys;
mod locate;
mod parse;
mod registry;
mod types;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

pub use self::error::ConfigError;
pub use self::keys::database_keys;
pub use self::registry::{
    Key, Rule, RuleError, Schema, Ty, is_header_safe, parse_number, split_list, toml_string,
    toml_string_list,
};
pub use self::types::{
    BatchConfig, CollectionConfig, CompactionConfig, MAX_BATCH_SIZE, MAX_DURATION_MS,
    MAX_QUERY_SCAN, MAX_SCRUB_MB_PER_SEC, MAX_SEGMENT_SIZE_MB, QueryConfig, ServerLimits,
    StorageConfig, SyncPolicy, UnknownSyncPolicy,
};
pub use crate::names::{MAX_COLLECTION_NAME_LEN, is_valid_collection_name};

/// Where the server looks for its config file when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "./nyrodb.toml";

/// The comment that opens the rendered `nyrodb.toml`.
const FILE_HEADER: &str = "\
# NyroDB configuration: every key with its default (docs/OPERATIONS.md, \"Configure\", and
# ../shared/CONTRACT.md section 3). Every key is optional: an empty file, or none, runs.
# Any key can be overridden from the environment as NYRODB_<SECTION>_<KEY>,
# e.g. NYRODB_SERVER_LISTEN=0.0.0.0:7070. Unknown keys and bad values are refused at start
# with a message naming the key and this file.
# Rendered from the key tables (the config::keys of nyro-core, nyro-server and nyro-raft); a
# test checks that this file is exactly what they give.
";

/// The comment above `[[collections]]` in the rendered `nyrodb.toml`.
const COLLECTIONS_DOC: &str = "\
# Collections created at start if missing (more can be created over HTTP), each with the
# paths it indexes (\"city\", \"address.city\"; for equality, ranges and sort).
";

/// The database's configuration. [`Config::default`] is what an empty file gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[storage]`.
    pub storage: StorageConfig,
    /// `[batch]`.
    pub batch: BatchConfig,
    /// The database's part of `[server]`.
    pub server: ServerLimits,
    /// `[compaction]`.
    pub compaction: CompactionConfig,
    /// `[query]`.
    pub query: QueryConfig,
    /// `[[collections]]`; none by default.
    pub collections: Vec<CollectionConfig>,
}

impl Default for Config {
    /// What an empty file gives: every key at its default from the key table.
    fn default() -> Self {
        let mut config = Config::blank();
        SCHEMA.apply_defaults(&mut config);
        config
    }
}

impl AsRef<Config> for Config {
    fn as_ref(&self) -> &Config {
        self
    }
}

impl AsMut<Config> for Config {
    fn as_mut(&mut self) -> &mut Config {
        self
    }
}

static SCHEMA: LazyLock<Schema<Config>> = LazyLock::new(|| Schema::new(database_keys()));

impl Config {
    /// Placeholders, each overwritten by its key's default in [`Config::default`].
    fn blank() -> Config {
        Config {
            storage: StorageConfig {
                path: PathBuf::new(),
                segment_size_mb: 0,
                scrub_mb_per_sec: 0,
            },
            batch: BatchConfig {
                batch_size: 0,
                batch_timeout_ms: 0,
                sync: SyncPolicy::default(),
                sync_interval_ms: 0,
            },
            server: ServerLimits {
                max_concurrent_ops: 0,
            },
            compaction: CompactionConfig {
                auto: false,
                min_dead_ratio: 0.0,
            },
            query: QueryConfig { max_scan: 0 },
            collections: Vec::new(),
        }
    }

    /// The database's keys alone. A file with the server's keys (`server.listen`, ...) needs
    /// the server's schema, which extends this one.
    pub fn schema() -> &'static Schema<Config> {
        &SCHEMA
    }

    /// Parses and validates a TOML document. `source_name` (usually the file name) is
    /// named in every error.
    ///
    /// This reads the database's keys only: a file with the server's keys too (the shipped
    /// `nyrodb.toml`, with `server.listen`) is read with nyro-server's `ServerConfig::schema()`,
    /// whose `db` part is this `Config`.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        SCHEMA.parse(text, source_name)
    }

    /// Loads the config file, or the defaults when there is none.
    ///
    /// - `None`: `./nyrodb.toml` if it exists, else [`Config::default`].
    /// - `Some(path)`: that file, which must exist, except when `path` is the default path
    ///   itself (`./nyrodb.toml` or `nyrodb.toml`, as a CLI with a default flag value passes
    ///   it): then a missing file means the defaults.
    ///
    /// Does not read the environment; see [`Config::load_with_env`].
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        SCHEMA.load(path)
    }

    /// Loads an explicitly given file, or else the default one if it exists.
    ///
    /// - `Some(path)` (e.g. `--config FILE`): the file must exist; a missing file is
    ///   [`ConfigError::NotFound`].
    /// - `None`: `./nyrodb.toml` if it exists, else [`Config::default`].
    ///
    /// Does not read the environment; see [`Config::load_with_env`].
    pub fn load_default_or_file(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        SCHEMA.load_default_or_file(explicit)
    }

    /// [`Config::load_default_or_file`], then [`Config::apply_env`] with the process
    /// environment. A variable whose name or value is not UTF-8 is ignored unless it is a
    /// config variable, in which case it is an error.
    pub fn load_with_env(explicit_path: Option<&Path>) -> Result<Config, ConfigError> {
        SCHEMA.load_with_env(explicit_path)
    }

    /// Applies environment overrides `NYRODB_<SECTION>_<KEY>` (e.g. `NYRODB_BATCH_SYNC`)
    /// from `(name, value)` pairs, such as `std::env::vars()`.
    ///
    /// Variables that do not start with `NYRODB_` and a known section (`STORAGE`, `BATCH`,
    /// `SERVER`, `COMPACTION`) are ignored, so `NYRODB_URL`, `NYRODB_TOKEN` and
    /// `NYRODB_LOG_FORMAT` are left to the CLI. Errors, each naming the variable: an unknown
    /// key of a known section, a bad or out-of-range value, and `NYRODB_COLLECTIONS_*`
    /// (collections are set in the file only). Variables are applied in name order; on an
    /// error `self` may hold the overrides applied before it.
    pub fn apply_env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        SCHEMA.apply_env(self, vars)
    }

    /// Sets one key from a string, as a command-line flag does: `key` is the full path
    /// (`storage.path`, ...), `origin` names the flag in errors (`--data`). The value is
    /// parsed and range-checked like an environment variable.
    pub fn set_override(
        &mut self,
        origin: &str,
        key: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        SCHEMA.set_override(self, origin, key, value)
    }

    /// Checks every range and every collection entry, as loading does. For a config built
    /// or changed in code; `source_name` is named in the error.
    pub fn validate(&self, source_name: &str) -> Result<(), ConfigError> {
        SCHEMA.validate(self, source_name)
    }

    /// `storage.segment_size_mb` in bytes.
    pub fn segment_size_bytes(&self) -> u64 {
        self.storage.segment_size_mb.saturating_mul(1024 * 1024)
    }

    /// `storage.scrub_mb_per_sec` in bytes per second; `None` when it is 0 (scrub off).
    pub fn scrub_rate(&self) -> Option<u64> {
        (self.storage.scrub_mb_per_sec > 0)
            .then(|| self.storage.scrub_mb_per_sec.saturating_mul(1024 * 1024))
    }

    /// `batch.batch_timeout_ms` as a [`Duration`].
    pub fn batch_timeout(&self) -> Duration {
        Duration::from_millis(self.batch.batch_timeout_ms)
    }

    /// `batch.sync_interval_ms` as a [`Duration`].
    pub fn sync_interval(&self) -> Duration {
        Duration::from_millis(self.batch.sync_interval_ms)
    }

    /// The collection declared as `name`, if any.
    pub fn collection(&self, name: &str) -> Option<&CollectionConfig> {
        self.collections.iter().find(|c| c.name == name)
    }
}

impl<C: AsRef<Config>> Schema<C> {
    /// The whole commented `nyrodb.toml` for `config`: a header, every key with its value
    /// and doc ([`Schema::render`]), and the collections. For the defaults plus the example
    /// `users` collection this is the shipped file.
    pub fn render_file(&self, config: &C) -> String {
        let mut out = String::from(FILE_HEADER);
        out.push('\n');
        out.push_str(&self.render(config));
        let collections = &config.as_ref().collections;
        if !collections.is_empty() {
            out.push('\n');
            out.push_str(COLLECTIONS_DOC);
        }
        for c in collections {
            let indexes: Vec<String> = c.indexes.iter().map(|f| registry::toml_string(f)).collect();
            out.push_str("[[collections]]\n");
            out.push_str(&format!("name = {}\n", registry::toml_string(&c.name)));
            out.push_str(&format!("indexes = [{}]\n", indexes.join(", ")));
        }
        out
    }
}

fn is_default_path(p: &Path) -> bool {
    p == Path::new(DEFAULT_CONFIG_PATH) || p == Path::new("nyrodb.toml")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::config::locate::Seg;

    fn parse_err(text: &str) -> ConfigError {
        Config::from_toml_str(text, "test.toml").unwrap_err()
    }

    #[test]
    fn every_key_has_an_env_var_and_a_path() {
        let schema = Config::schema();
        for key in schema.keys() {
            assert_eq!(schema.by_path(&key.path()).map(Key::path), Some(key.path()));
            match schema.classify(&key.env_var()) {
                env::EnvTarget::Key(k) => assert_eq!(k.path(), key.path()),
                other => panic!("{other:?}"),
            }
        }
        let batch_size = schema.by_path("batch.batch_size").unwrap();
        assert_eq!(batch_size.env_var(), "NYRODB_BATCH_BATCH_SIZE");
    }

    #[test]
    fn defaults_pass_every_check_and_show_as_written() {
        Config::default().validate("defaults").unwrap();
        Config::schema().check_defaults().unwrap();
    }

    #[test]
    fn classify_ignores_cli_variables() {
        let schema = Config::schema();
        for var in [
            "NYRODB_URL",
            "NYRODB_TOKEN",
            "NYRODB_LOG_FORMAT",
            "NYRODB_",
            "NYRODB_STORAGE",
            "PATH",
            "nyrodb_server_listen",
        ] {
            assert!(
                matches!(schema.classify(var), env::EnvTarget::NotConfig),
                "{var}"
            );
        }
        match schema.classify("NYRODB_SERVER_PORT") {
            env::EnvTarget::UnknownKey { section, name } => {
                assert_eq!((section, name.as_str()), ("server", "port"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            schema.classify("NYRODB_COLLECTIONS_USERS"),
            env::EnvTarget::Collections
        ));
    }

    #[test]
    fn the_server_keys_are_not_the_databases() {
        // They belong to nyro-server, which extends this schema.
        let err = parse_err("[server]\nlisten = \"127.0.0.1:1\"\n");
        assert!(err.to_string().contains("server.listen"), "{err}");
        assert!(err.to_string().contains("max_concurrent_ops"), "{err}");
        let mut config = Config::default();
        let err = config
            .apply_env([("NYRODB_SERVER_LISTEN".to_owned(), "x".to_owned())])
            .unwrap_err();
        assert!(matches!(err, ConfigError::Env { .. }), "{err:?}");
    }

    #[test]
    fn rendered_docs_list_every_key_and_parse_back() {
        let mut config = Config::default();
        config.collections.push(CollectionConfig {
            name: "c".to_owned(),
            indexes: vec!["a".to_owned(), "b".to_owned()],
        });
        let text = Config::schema().render_file(&config);
        for key in Config::schema().keys() {
            assert!(
                text.contains(&format!("\n{} = ", key.name)),
                "{}",
                key.path()
            );
        }
        assert_eq!(Config::from_toml_str(&text, "rendered").unwrap(), config);
    }

    #[test]
    fn header_safe_values_are_printable_ascii_without_outer_spaces() {
        for bad in [" lead", "trail ", "new\nline", "tab\t", "ünïcode"] {
            assert!(!is_header_safe(bad), "{bad:?}");
        }
        assert!(is_header_safe("abc DEF-123_~!"));
        assert!(is_header_safe(""));
    }

    #[test]
    fn rules_run_in_validate_not_while_a_source_is_read() {
        let schema = Schema::new(database_keys::<Config>()).with_rule(|c: &Config| {
            if c.batch.batch_timeout_ms > c.batch.sync_interval_ms {
                return Err(RuleError {
                    key: "batch.batch_timeout_ms".to_owned(),
                    message: "is longer than batch.sync_interval_ms".to_owned(),
                });
            }
            Ok(())
        });
        let mut config = schema
            .parse("[batch]\nbatch_timeout_ms = 5000\n", "t.toml")
            .unwrap();
        let err = schema.validate(&config, "t.toml").unwrap_err();
        match &err {
            ConfigError::Invalid {
                source_name, key, ..
            } => assert_eq!(
                (source_name.as_str(), key.as_str()),
                ("t.toml", "batch.batch_timeout_ms")
            ),
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("sync_interval_ms"), "{err}");
        schema
            .apply_env(
                &mut config,
                [(
                    "NYRODB_BATCH_SYNC_INTERVAL_MS".to_owned(),
                    "6000".to_owned(),
                )],
            )
            .unwrap();
        schema.validate(&config, "t.toml").unwrap();
    }

    #[test]
    fn string_lists_split_and_render() {
        assert_eq!(split_list(""), Vec::<&str>::new());
        assert_eq!(split_list("  "), Vec::<&str>::new());
        assert_eq!(split_list("a, b"), ["a", "b"]);
        assert_eq!(split_list("a,,b"), ["a", "", "b"]);
        assert_eq!(toml_string_list(["a", "b"]), r#"["a", "b"]"#);
        let quoted = toml_string_list(["a\"'b", "c"]);
        let back: toml::Table = toml::from_str(&format!("x = {quoted}")).unwrap();
        assert_eq!(
            back["x"],
            toml::Value::Array(vec!["a\"'b".into(), "c".into()])
        );
        assert_eq!(toml_string_list(Vec::<String>::new()), "[]");
        let items = toml::Value::Array(vec!["x".into(), "y".into()]);
        assert_eq!(Ty::StringList.read(&items).as_deref(), Some("x,y"));
        let mixed = toml::Value::Array(vec!["x".into(), 1.into()]);
        assert_eq!(Ty::StringList.read(&mixed), None);
        assert_eq!(Ty::StringList.read(&"x".into()), None);
        let comma = toml::Value::Array(vec!["x,y".into()]);
        assert_eq!(Ty::StringList.read(&comma), None);
    }

    #[test]
    fn line_col_counts_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(locate::line_col(text, 0), (1, 1));
        assert_eq!(locate::line_col(text, 6), (2, 1));
        let eq = text.find('=').unwrap();
        assert_eq!(locate::line_col(text, eq), (1, 3));
        let second_eq = text.rfind('=').unwrap();
        assert_eq!(locate::line_col(text, second_eq), (2, 4));
        assert_eq!(locate::line_col(text, 10_000), (3, 1));
    }

    #[test]
    fn path_at_finds_nested_keys() {
        let text = "[batch]\nsync = 5\n\n[[collections]]\nname = \"a\"\n\n[[collections]]\nname = \"b\"\nindexes = [\"x\", 3]\n";
        let doc = toml::de::DeTable::parse(text).unwrap();
        let at = |needle: &str| {
            let offset = text.find(needle).unwrap();
            locate::format_path(&locate::path_at(doc.get_ref(), offset))
        };
        assert_eq!(at("5"), "batch.sync");
        assert_eq!(at("sync"), "batch.sync");
        assert_eq!(at("3]"), "collections[1].indexes[1]");
        assert_eq!(at("\"b\""), "collections[1].name");
        let span = locate::span_of(
            doc.get_ref(),
            &[
                Seg::Key("collections".into()),
                Seg::Index(1),
                Seg::Key("indexes".into()),
                Seg::Index(1),
            ],
        )
        .unwrap();
        assert_eq!(&text[span], "3");
    }

    #[test]
    fn sync_policy_names_round_trip() {
        for p in SyncPolicy::ALL {
            assert_eq!(p.as_str().parse::<SyncPolicy>().unwrap(), p);
            assert_eq!(p.to_string(), p.as_str());
        }
        let err = "Always".parse::<SyncPolicy>().unwrap_err().to_string();
        assert!(err.contains("\"always\", \"interval\", \"never\""), "{err}");
        assert_eq!(SyncPolicy::default(), SyncPolicy::Interval);
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let err = parse_err("[storage]\npath = \n");
        assert!(
            matches!(err, ConfigError::Syntax { line: 2, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("test.toml"), "{err}");
        let err = parse_err("[batch]\nsync = \"always\"\nsync = \"never\"\n");
        assert!(
            matches!(err, ConfigError::Syntax { line: 3, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn invalid_values_are_located() {
        let err = parse_err("[storage]\n\nsegment_size_mb = 0\n");
        match &err {
            ConfigError::Invalid {
                key, line, column, ..
            } => {
                assert_eq!(key, "storage.segment_size_mb");
                assert_eq!(*line, Some(3));
                assert_eq!(*column, Some(19));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scrub_rate_defaults_to_the_scrubs_default_and_0_is_off() {
        assert_eq!(
            Config::default().scrub_rate(),
            Some(crate::DEFAULT_SCRUB_RATE)
        );
        let off = Config::from_toml_str("[storage]\nscrub_mb_per_sec = 0\n", "t.toml").unwrap();
        assert_eq!(off.scrub_rate(), None);
        let fast = Config::from_toml_str("[storage]\nscrub_mb_per_sec = 512\n", "t.toml").unwrap();
        assert_eq!(fast.scrub_rate(), Some(512 << 20));
        let err = parse_err(&format!(
            "[storage]\nscrub_mb_per_sec = {}\n",
            MAX_SCRUB_MB_PER_SEC + 1
        ));
        assert!(
            matches!(&err, ConfigError::Invalid { key, .. } if key == "storage.scrub_mb_per_sec"),
            "{err:?}"
        );
    }

    #[test]
    fn load_path_missing_ok_and_not() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nyrodb.toml");
        assert_eq!(SCHEMA.load_path(&missing, true).unwrap(), Config::default());
        let err = SCHEMA.load_path(&missing, false).unwrap_err();
        assert!(matches!(err, ConfigError::NotFound { .. }), "{err:?}");
        assert!(is_default_path(Path::new("./nyrodb.toml")));
        assert!(is_default_path(Path::new("nyrodb.toml")));
        assert!(!is_default_path(Path::new("other.toml")));
    }
}
