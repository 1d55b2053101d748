//! Typed configuration: `nyrodb.toml`, its environment overrides and flag overrides.
//!
//! The file is described in `CONTRACT.md` section 3 and by the commented `nyrodb.toml` at the
//! root of the repository, which holds every default. The rules:
//!
//! - Every key has a default, so an empty file, or no file, runs. The defaults have no
//!   collections (the shipped `nyrodb.toml` declares an example `users` collection).
//! - Unknown keys, unknown sections, values of the wrong type and values out of range are
//!   errors ([`ConfigError`]) that name the key, the file (with line and column) and what is
//!   allowed. Nothing is ignored silently.
//! - Precedence, lowest first: built-in defaults, the file, the environment
//!   ([`Config::apply_env`]: `NYRODB_<SECTION>_<KEY>`, e.g. `NYRODB_SERVER_LISTEN`), then
//!   command-line flags ([`Config::set_override`]).
//! - Durability is the named policy [`SyncPolicy`], never a bool.
//!
//! ```
//! use nyro_core::config::{Config, SyncPolicy};
//!
//! # fn main() -> Result<(), nyro_core::config::ConfigError> {
//! let mut config = Config::from_toml_str("[batch]\nsync = \"always\"\n", "nyrodb.toml")?;
//! assert_eq!(config.batch.sync, SyncPolicy::Always);
//! config.apply_env([("NYRODB_SERVER_LISTEN".to_owned(), "0.0.0.0:8080".to_owned())])?;
//! assert_eq!(config.server.listen.port(), 8080);
//!
//! let err = Config::from_toml_str("[batch]\nsync = \"sometimes\"\n", "nyrodb.toml").unwrap_err();
//! assert!(err.to_string().contains("batch.sync"));
//! assert!(err.to_string().contains("nyrodb.toml"));
//! # Ok(())
//! # }
//! ```

mod env;
mod keys;
mod locate;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use self::env::EnvTarget;
use self::keys::{Key, parse_listen};
use self::locate::Seg;

/// Where the server looks for its config file when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "./nyrodb.toml";

/// Largest allowed `storage.segment_size_mb` (4 GiB segments).
pub const MAX_SEGMENT_SIZE_MB: u64 = 4096;

/// Largest allowed `batch.batch_size` (records in one write syscall).
pub const MAX_BATCH_SIZE: usize = 1_000_000;

/// Largest allowed `batch.batch_timeout_ms` and `batch.sync_interval_ms`: 24 hours.
pub const MAX_DURATION_MS: u64 = 24 * 60 * 60 * 1000;

/// Longest collection name, in bytes.
pub const MAX_COLLECTION_NAME_LEN: usize = 64;

/// When an acknowledged write is on stable storage (`batch.sync`).
///
/// Under every policy an acknowledged write has been handed to the operating system with
/// `write` and is visible to every read that starts afterwards. The policies differ in when
/// the log is `fdatasync`'ed. A single write can always ask for more than the policy gives
/// (`?sync=true` over HTTP, or the embedded API's per-call option): it is then answered only
/// after its batch was fdatasync'ed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncPolicy {
    /// `"always"`: each batch is fdatasync'ed before any write in it is acknowledged.
    ///
    /// - kill -9 (process crash): every acknowledged write survives.
    /// - Power cut (OS crash): every acknowledged write survives.
    ///
    /// Costs one fdatasync per batch (batching amortises it across concurrent writers).
    Always,
    /// `"interval"` (the default): the log is fdatasync'ed every `batch.sync_interval_ms`.
    ///
    /// - kill -9 (process crash): every acknowledged write survives, since it reached the OS
    ///   with `write` before the answer.
    /// - Power cut (OS crash): everything acknowledged more than `sync_interval_ms` ago
    ///   survives; at most the writes of that last window are lost.
    #[default]
    Interval,
    /// `"never"`: the database never fdatasyncs on its own; the OS flushes when it likes.
    ///
    /// - kill -9 (process crash): every acknowledged write survives, since it reached the OS
    ///   with `write` before the answer.
    /// - Power cut (OS crash): only whatever the OS had flushed survives; any number of
    ///   acknowledged writes may be lost.
    Never,
}

impl SyncPolicy {
    /// Every policy, strongest first.
    pub const ALL: [SyncPolicy; 3] = [SyncPolicy::Always, SyncPolicy::Interval, SyncPolicy::Never];

    /// The name used in the config file and the environment: `"always"`, `"interval"` or
    /// `"never"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncPolicy::Always => "always",
            SyncPolicy::Interval => "interval",
            SyncPolicy::Never => "never",
        }
    }
}

impl fmt::Display for SyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`SyncPolicy`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sync policy `{0}`; expected one of \"always\", \"interval\", \"never\"")]
pub struct UnknownSyncPolicy(pub String);

impl FromStr for SyncPolicy {
    type Err = UnknownSyncPolicy;

    /// Parses `"always"`, `"interval"` or `"never"` (exactly, lower case, as in the file).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SyncPolicy::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownSyncPolicy(s.to_owned()))
    }
}

/// `[storage]`: where and how the log is kept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Data directory (default `./data`); created if missing; held by one process at a time.
    pub path: PathBuf,
    /// A segment is sealed and a new one started past this size, in MiB (default 256;
    /// 1 to [`MAX_SEGMENT_SIZE_MB`]).
    pub segment_size_mb: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: PathBuf::from("./data"),
            segment_size_mb: 256,
        }
    }
}

/// `[batch]`: group commit and durability.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Most records in one write syscall (default 10000; 1 to [`MAX_BATCH_SIZE`]).
    pub batch_size: usize,
    /// Longest a queued write may wait for company, in milliseconds (default 100). An idle
    /// writer writes at once, so this is a bound, not a delay.
    pub batch_timeout_ms: u64,
    /// When an acknowledged write is on stable storage (default [`SyncPolicy::Interval`]).
    pub sync: SyncPolicy,
    /// How often the log is fdatasync'ed under [`SyncPolicy::Interval`], in milliseconds
    /// (default 1000; 1 or more).
    pub sync_interval_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            batch_size: 10_000,
            batch_timeout_ms: 100,
            sync: SyncPolicy::Interval,
            sync_interval_ms: 1000,
        }
    }
}

/// `[server]`: the HTTP server.
///
/// Its `Debug` output never shows the auth token.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1:7070`).
    #[serde(deserialize_with = "de_listen")]
    pub listen: SocketAddr,
    /// Operations in flight at once; past it requests get 503 `overloaded` (default 100000).
    pub max_concurrent_ops: usize,
    /// Largest request body in bytes; larger bodies get 413 (default 16777216).
    pub max_body_bytes: usize,
    /// Bearer token required on every route but `/health` and the web console's static
    /// files; empty (the default) means no auth. Best set through `NYRODB_SERVER_AUTH_TOKEN`.
    pub auth_token: String,
    /// Directory under which `POST /v1/_backup` may write; `None` (written `""`, the
    /// default) turns HTTP backups off.
    #[serde(deserialize_with = "de_backup_root")]
    pub backup_root: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7070),
            max_concurrent_ops: 100_000,
            max_body_bytes: 16 * 1024 * 1024,
            auth_token: String::new(),
            backup_root: None,
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = if self.auth_token.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("max_concurrent_ops", &self.max_concurrent_ops)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("auth_token", &token)
            .field("backup_root", &self.backup_root)
            .finish()
    }
}

/// `[compaction]`: background rewriting of sealed segments.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactionConfig {
    /// Rewrite sealed segments in the background (default true).
    pub auto: bool,
    /// A sealed segment with more dead bytes than this fraction is rewritten (default 0.5;
    /// greater than 0 and at most 1).
    pub min_dead_ratio: f64,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            auto: true,
            min_dead_ratio: 0.5,
        }
    }
}

/// One `[[collections]]` entry: a collection created at start if missing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionConfig {
    /// The collection's name (`^[A-Za-z0-9_-]{1,64}$`). Required.
    pub name: String,
    /// The top-level fields it indexes for equality queries (default none). Not `_id`,
    /// not empty, each at most once.
    #[serde(default)]
    pub indexes: Vec<String>,
}

/// The whole configuration. [`Config::default`] is what an empty file gives.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[storage]`.
    pub storage: StorageConfig,
    /// `[batch]`.
    pub batch: BatchConfig,
    /// `[server]`.
    pub server: ServerConfig,
    /// `[compaction]`.
    pub compaction: CompactionConfig,
    /// `[[collections]]`; none by default.
    pub collections: Vec<CollectionConfig>,
}

/// Why a configuration could not be loaded. Every message says what failed, where (file and
/// key, or environment variable, or flag) and what is allowed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A config file named explicitly (`--config`) does not exist.
    #[error(
        "config file {} does not exist; check the --config path, or leave --config out to use \
         ./nyrodb.toml if present and the built-in defaults otherwise",
        path.display()
    )]
    NotFound {
        /// The file that was asked for.
        path: PathBuf,
    },
    /// The config file exists but could not be read.
    #[error(
        "cannot read config file {}: {source}; it must be a readable UTF-8 text file",
        path.display()
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error(
        "config file {file}, line {line}, column {column}: not valid TOML: {message}; fix the \
         syntax (the commented nyrodb.toml shows every key)"
    )]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the TOML parser said.
        message: String,
    },
    /// A key is unknown, or its value has the wrong type.
    #[error("config file {file}{}: key `{key}`: {message}", fmt_at(*.line, *.column))]
    Parse {
        /// The file.
        file: String,
        /// The key's full path, e.g. `batch.sync` or `collections[0].name`.
        key: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A value has the right type but is out of range (or a collection entry is invalid).
    #[error("config {source_name}{}: key `{key}`: {message}", fmt_at(*.line, *.column))]
    Invalid {
        /// Where the config came from, usually the file name.
        source_name: String,
        /// The key's full path, e.g. `storage.segment_size_mb`.
        key: String,
        /// 1-based line in the file, when known.
        line: Option<usize>,
        /// 1-based column in the file, when known.
        column: Option<usize>,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// An environment variable is not a known key, or its value is bad.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable, e.g. `NYRODB_BATCH_SYNC`.
        var: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A command-line override is bad.
    #[error("{origin}: key `{key}`: {message}")]
    Override {
        /// Where the override came from, e.g. `--listen`.
        origin: String,
        /// The key it sets, e.g. `server.listen`.
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

fn fmt_at(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(", line {l}, column {c}"),
        (Some(l), None) => format!(", line {l}"),
        _ => String::new(),
    }
}

impl Config {
    /// Parses and validates a TOML document. `source_name` (usually the file name) is
    /// named in every error.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        let doc = toml::de::DeTable::parse(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| locate::line_col(text, span.start));
            ConfigError::Syntax {
                file: source_name.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        let doc = doc.get_ref();
        let config: Config = toml::from_str(text).map_err(|e| {
            let (path, line, column) = match e.span() {
                Some(span) => {
                    let path = locate::path_at(doc, span.start);
                    let (l, c) = locate::line_col(text, span.start);
                    (path, Some(l), Some(c))
                }
                None => (Vec::new(), None, None),
            };
            let key = locate::format_path(&path);
            ConfigError::Parse {
                file: source_name.to_owned(),
                message: parse_message(e.message(), &path),
                key: if key.is_empty() {
                    "(top level)".to_owned()
                } else {
                    key
                },
                line,
                column,
            }
        })?;
        if let Err((path, message)) = config.check() {
            let (line, column) = match locate::span_of(doc, &path) {
                Some(span) => {
                    let (l, c) = locate::line_col(text, span.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            return Err(ConfigError::Invalid {
                source_name: source_name.to_owned(),
                key: locate::format_path(&path),
                line,
                column,
                message,
            });
        }
        Ok(config)
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
        match path {
            Some(p) => Self::load_path(p, is_default_path(p)),
            None => Self::load_path(Path::new(DEFAULT_CONFIG_PATH), true),
        }
    }

    /// Loads an explicitly given file, or else the default one if it exists.
    ///
    /// - `Some(path)` (e.g. `--config FILE`): the file must exist; a missing file is
    ///   [`ConfigError::NotFound`].
    /// - `None`: `./nyrodb.toml` if it exists, else [`Config::default`].
    ///
    /// Does not read the environment; see [`Config::load_with_env`].
    pub fn load_default_or_file(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        match explicit {
            Some(p) => Self::load_path(p, false),
            None => Self::load_path(Path::new(DEFAULT_CONFIG_PATH), true),
        }
    }

    /// [`Config::load_default_or_file`], then [`Config::apply_env`] with the process
    /// environment. A variable whose name or value is not UTF-8 is ignored unless it is a
    /// config variable, in which case it is an error.
    pub fn load_with_env(explicit_path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = Self::load_default_or_file(explicit_path)?;
        let mut vars = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Ok(name) = name.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => vars.push((name, value)),
                Err(_) if env::classify(&name) != EnvTarget::NotConfig => {
                    return Err(ConfigError::Env {
                        var: name,
                        message: "the value is not valid UTF-8".to_owned(),
                    });
                }
                Err(_) => {}
            }
        }
        config.apply_env(vars)?;
        Ok(config)
    }

    /// Reads the file at `path`; when `missing_ok`, a missing file gives the defaults.
    fn load_path(path: &Path, missing_ok: bool) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_toml_str(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if missing_ok {
                    Ok(Config::default())
                } else {
                    Err(ConfigError::NotFound {
                        path: path.to_path_buf(),
                    })
                }
            }
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Applies environment overrides `NYRODB_<SECTION>_<KEY>` (e.g. `NYRODB_BATCH_SYNC`,
    /// `NYRODB_SERVER_AUTH_TOKEN`) from `(name, value)` pairs, such as `std::env::vars()`.
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
        let mut vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(name, _)| env::classify(name) != EnvTarget::NotConfig)
            .collect();
        vars.sort();
        for (var, value) in vars {
            match env::classify(&var) {
                EnvTarget::NotConfig => {}
                EnvTarget::Key(key) => {
                    let result = key.set(self, &value).and_then(|()| key.check(self));
                    if let Err(message) = result {
                        return Err(ConfigError::Env {
                            message: format!("{message} (it sets `{}`)", key.path()),
                            var,
                        });
                    }
                }
                EnvTarget::UnknownKey { section, name } => {
                    return Err(ConfigError::Env {
                        message: env::unknown_key_message(section, &name),
                        var,
                    });
                }
                EnvTarget::Collections => {
                    return Err(ConfigError::Env {
                        var,
                        message: "collections cannot be set from the environment; declare them \
                                  as [[collections]] in the config file or create them over HTTP"
                            .to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Sets one key from a string, as a command-line flag does: `key` is the full path
    /// (`storage.path`, `server.listen`, ...), `origin` names the flag in errors
    /// (`--listen`). The value is parsed and range-checked like an environment variable.
    pub fn set_override(
        &mut self,
        origin: &str,
        key: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        let err = |message: String| ConfigError::Override {
            origin: origin.to_owned(),
            key: key.to_owned(),
            message,
        };
        let Some(k) = Key::from_path(key) else {
            let keys: Vec<String> = Key::ALL.into_iter().map(Key::path).collect();
            return Err(err(format!(
                "not a config key; expected one of {}",
                keys.join(", ")
            )));
        };
        k.set(self, value).and_then(|()| k.check(self)).map_err(err)
    }

    /// Checks every range and every collection entry, as loading does. For a config built
    /// or changed in code; `source_name` is named in the error.
    pub fn validate(&self, source_name: &str) -> Result<(), ConfigError> {
        self.check()
            .map_err(|(path, message)| ConfigError::Invalid {
                source_name: source_name.to_owned(),
                key: locate::format_path(&path),
                line: None,
                column: None,
                message,
            })
    }

    /// The first problem found: the key's path and what is wrong.
    fn check(&self) -> Result<(), (Vec<Seg>, String)> {
        for key in Key::ALL {
            key.check(self).map_err(|message| {
                (
                    vec![
                        Seg::Key(key.section().to_owned()),
                        Seg::Key(key.name().to_owned()),
                    ],
                    message,
                )
            })?;
        }
        for (i, c) in self.collections.iter().enumerate() {
            let at = |rest: &[Seg]| {
                let mut path = vec![Seg::Key("collections".to_owned()), Seg::Index(i)];
                path.extend_from_slice(rest);
                path
            };
            let name_path = || at(&[Seg::Key("name".to_owned())]);
            if !is_valid_collection_name(&c.name) {
                return Err((
                    name_path(),
                    format!(
                        "{:?} is not a valid collection name; allowed: 1 to \
                         {MAX_COLLECTION_NAME_LEN} characters from A-Z, a-z, 0-9, `_` and `-`",
                        c.name
                    ),
                ));
            }
            if let Some(first) = self.collections[..i].iter().position(|o| o.name == c.name) {
                return Err((
                    name_path(),
                    format!(
                        "collection {:?} is declared twice (also collections[{first}]); \
                         declare each collection once",
                        c.name
                    ),
                ));
            }
            for (j, field) in c.indexes.iter().enumerate() {
                let field_path = || at(&[Seg::Key("indexes".to_owned()), Seg::Index(j)]);
                if field.is_empty() {
                    return Err((
                        field_path(),
                        "an index field name must not be empty; allowed: any top-level field \
                         name but `_id`"
                            .to_owned(),
                    ));
                }
                if field == "_id" {
                    return Err((
                        field_path(),
                        "`_id` is the document id and always looked up directly; remove it \
                         from indexes"
                            .to_owned(),
                    ));
                }
                if c.indexes[..j].contains(field) {
                    return Err((
                        field_path(),
                        format!("field {field:?} is listed twice; list each indexed field once"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// `storage.segment_size_mb` in bytes.
    pub fn segment_size_bytes(&self) -> u64 {
        self.storage.segment_size_mb.saturating_mul(1024 * 1024)
    }

    /// `batch.batch_timeout_ms` as a [`Duration`].
    pub fn batch_timeout(&self) -> Duration {
        Duration::from_millis(self.batch.batch_timeout_ms)
    }

    /// `batch.sync_interval_ms` as a [`Duration`].
    pub fn sync_interval(&self) -> Duration {
        Duration::from_millis(self.batch.sync_interval_ms)
    }

    /// Whether requests need `Authorization: Bearer <server.auth_token>` (the token is set).
    pub fn auth_required(&self) -> bool {
        !self.server.auth_token.is_empty()
    }

    /// The collection declared as `name`, if any.
    pub fn collection(&self, name: &str) -> Option<&CollectionConfig> {
        self.collections.iter().find(|c| c.name == name)
    }
}

/// Whether `name` is a valid collection name: `^[A-Za-z0-9_-]{1,64}$`.
pub fn is_valid_collection_name(name: &str) -> bool {
    (1..=MAX_COLLECTION_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_default_path(p: &Path) -> bool {
    p == Path::new(DEFAULT_CONFIG_PATH) || p == Path::new("nyrodb.toml")
}

/// `server.backup_root`: empty means off.
pub(crate) fn parse_backup_root(raw: &str) -> Option<PathBuf> {
    (!raw.is_empty()).then(|| PathBuf::from(raw))
}

fn de_listen<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let raw = String::deserialize(d)?;
    parse_listen(&raw).map_err(serde::de::Error::custom)
}

fn de_backup_root<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let raw = String::deserialize(d)?;
    Ok(parse_backup_root(&raw))
}

/// Rewords a serde/toml message in the file's terms and adds what the key allows.
fn parse_message(raw: &str, path: &[Seg]) -> String {
    let mut message = raw
        .trim()
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing key")
        .replace(
            "expected struct StorageConfig",
            "expected a [storage] table",
        )
        .replace("expected struct BatchConfig", "expected a [batch] table")
        .replace("expected struct ServerConfig", "expected a [server] table")
        .replace(
            "expected struct CompactionConfig",
            "expected a [compaction] table",
        )
        .replace(
            "expected struct CollectionConfig",
            "expected a [[collections]] table with `name` and `indexes`",
        );
    let key = match path {
        [Seg::Key(section), Seg::Key(name)] => Key::find(section, name),
        _ => None,
    };
    if let Some(key) = key
        && !message.starts_with("unknown key")
        && !message.starts_with("unknown variant")
        && !message.contains("is not a socket address")
    {
        message.push_str("; allowed: ");
        message.push_str(&key.allowed());
    }
    message
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn parse_err(text: &str) -> ConfigError {
        Config::from_toml_str(text, "test.toml").unwrap_err()
    }

    #[test]
    fn every_key_has_an_env_var_and_a_path() {
        for key in Key::ALL {
            assert_eq!(Key::from_path(&key.path()), Some(key));
            assert_eq!(env::classify(&key.env_var()), EnvTarget::Key(key));
        }
        assert_eq!(Key::ServerAuthToken.env_var(), "NYRODB_SERVER_AUTH_TOKEN");
        assert_eq!(Key::BatchBatchSize.env_var(), "NYRODB_BATCH_BATCH_SIZE");
    }

    #[test]
    fn defaults_pass_every_check() {
        Config::default().validate("defaults").unwrap();
        for key in Key::ALL {
            key.check(&Config::default()).unwrap();
        }
    }

    #[test]
    fn classify_ignores_cli_variables() {
        for var in [
            "NYRODB_URL",
            "NYRODB_TOKEN",
            "NYRODB_LOG_FORMAT",
            "NYRODB_",
            "NYRODB_STORAGE",
            "PATH",
            "nyrodb_server_listen",
        ] {
            assert_eq!(env::classify(var), EnvTarget::NotConfig, "{var}");
        }
        assert_eq!(
            env::classify("NYRODB_SERVER_PORT"),
            EnvTarget::UnknownKey {
                section: "server",
                name: "port".to_owned()
            }
        );
        assert_eq!(
            env::classify("NYRODB_COLLECTIONS_USERS"),
            EnvTarget::Collections
        );
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
    fn collection_names() {
        assert!(is_valid_collection_name("users"));
        assert!(is_valid_collection_name("A-z_09"));
        assert!(is_valid_collection_name(&"x".repeat(64)));
        assert!(!is_valid_collection_name(&"x".repeat(65)));
        assert!(!is_valid_collection_name(""));
        assert!(!is_valid_collection_name("a b"));
        assert!(!is_valid_collection_name("a.b"));
        assert!(!is_valid_collection_name("é"));
        assert!(!is_valid_collection_name("a/b"));
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
    fn load_path_missing_ok_and_not() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nyrodb.toml");
        assert_eq!(
            Config::load_path(&missing, true).unwrap(),
            Config::default()
        );
        let err = Config::load_path(&missing, false).unwrap_err();
        assert!(matches!(err, ConfigError::NotFound { .. }), "{err:?}");
        assert!(is_default_path(Path::new("./nyrodb.toml")));
        assert!(is_default_path(Path::new("nyrodb.toml")));
        assert!(!is_default_path(Path::new("other.toml")));
    }

    #[test]
    fn debug_redacts_the_token() {
        let mut config = Config::default();
        config.server.auth_token = "s3cret".to_owned();
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn tokens_must_fit_in_a_header() {
        let mut config = Config::default();
        for bad in [" lead", "trail ", "new\nline", "tab\t", "ünïcode"] {
            config.server.auth_token = bad.to_owned();
            assert!(Key::ServerAuthToken.check(&config).is_err(), "{bad:?}");
        }
        config.server.auth_token = "abc DEF-123_~!".to_owned();
        Key::ServerAuthToken.check(&config).unwrap();
    }
}
