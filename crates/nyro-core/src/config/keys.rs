//! The table of scalar config keys: one place that knows each key's section, name, what is
//! allowed, how to read it from a string (environment, flags) and how to range-check it.
//!
//! The TOML file is read by serde (see the parent module); this table is used for the range
//! checks of every source and for everything that arrives as a plain string.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{
    Config, MAX_BATCH_SIZE, MAX_DURATION_MS, MAX_SEGMENT_SIZE_MB, SyncPolicy, parse_backup_root,
};

/// Every scalar key of `nyrodb.toml` (everything but `[[collections]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    StoragePath,
    StorageSegmentSizeMb,
    BatchBatchSize,
    BatchBatchTimeoutMs,
    BatchSync,
    BatchSyncIntervalMs,
    ServerListen,
    ServerMaxConcurrentOps,
    ServerMaxBodyBytes,
    ServerAuthToken,
    ServerBackupRoot,
    CompactionAuto,
    CompactionMinDeadRatio,
}

/// The sections that hold scalar keys, in file order.
pub(crate) const SECTIONS: [&str; 4] = ["storage", "batch", "server", "compaction"];

impl Key {
    /// All keys, in the order of the commented `nyrodb.toml`.
    pub(crate) const ALL: [Key; 13] = [
        Key::StoragePath,
        Key::StorageSegmentSizeMb,
        Key::BatchBatchSize,
        Key::BatchBatchTimeoutMs,
        Key::BatchSync,
        Key::BatchSyncIntervalMs,
        Key::ServerListen,
        Key::ServerMaxConcurrentOps,
        Key::ServerMaxBodyBytes,
        Key::ServerAuthToken,
        Key::ServerBackupRoot,
        Key::CompactionAuto,
        Key::CompactionMinDeadRatio,
    ];

    /// The section (`storage`, `batch`, `server`, `compaction`).
    pub(crate) fn section(self) -> &'static str {
        match self {
            Key::StoragePath | Key::StorageSegmentSizeMb => "storage",
            Key::BatchBatchSize
            | Key::BatchBatchTimeoutMs
            | Key::BatchSync
            | Key::BatchSyncIntervalMs => "batch",
            Key::ServerListen
            | Key::ServerMaxConcurrentOps
            | Key::ServerMaxBodyBytes
            | Key::ServerAuthToken
            | Key::ServerBackupRoot => "server",
            Key::CompactionAuto | Key::CompactionMinDeadRatio => "compaction",
        }
    }

    /// The key's name inside its section.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Key::StoragePath => "path",
            Key::StorageSegmentSizeMb => "segment_size_mb",
            Key::BatchBatchSize => "batch_size",
            Key::BatchBatchTimeoutMs => "batch_timeout_ms",
            Key::BatchSync => "sync",
            Key::BatchSyncIntervalMs => "sync_interval_ms",
            Key::ServerListen => "listen",
            Key::ServerMaxConcurrentOps => "max_concurrent_ops",
            Key::ServerMaxBodyBytes => "max_body_bytes",
            Key::ServerAuthToken => "auth_token",
            Key::ServerBackupRoot => "backup_root",
            Key::CompactionAuto => "auto",
            Key::CompactionMinDeadRatio => "min_dead_ratio",
        }
    }

    /// `section.name`, as errors name it.
    pub(crate) fn path(self) -> String {
        format!("{}.{}", self.section(), self.name())
    }

    /// `NYRODB_SECTION_NAME`, the environment variable that overrides it.
    pub(crate) fn env_var(self) -> String {
        format!(
            "NYRODB_{}_{}",
            self.section().to_ascii_uppercase(),
            self.name().to_ascii_uppercase()
        )
    }

    /// The key named `section.name`, if there is one.
    pub(crate) fn from_path(path: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.path() == path)
    }

    /// The key `name` of `section` (ASCII case-insensitive on the name), if there is one.
    pub(crate) fn find(section: &str, name: &str) -> Option<Key> {
        Key::ALL
            .into_iter()
            .find(|k| k.section() == section && k.name().eq_ignore_ascii_case(name))
    }

    /// What values the key accepts, in words.
    pub(crate) fn allowed(self) -> String {
        match self {
            Key::StoragePath => "a non-empty directory path".to_owned(),
            Key::StorageSegmentSizeMb => {
                format!("a whole number of MiB from 1 to {MAX_SEGMENT_SIZE_MB}")
            }
            Key::BatchBatchSize => format!("a whole number of records from 1 to {MAX_BATCH_SIZE}"),
            Key::BatchBatchTimeoutMs => {
                format!("a whole number of milliseconds from 0 to {MAX_DURATION_MS} (24 hours)")
            }
            Key::BatchSync => r#"one of "always", "interval", "never""#.to_owned(),
            Key::BatchSyncIntervalMs => {
                format!("a whole number of milliseconds from 1 to {MAX_DURATION_MS} (24 hours)")
            }
            Key::ServerListen => {
                r#"an IP address and port, such as "127.0.0.1:7070", "0.0.0.0:7070" or "[::1]:7070""#
                    .to_owned()
            }
            Key::ServerMaxConcurrentOps => format!(
                "a whole number from 1 to {}",
                tokio::sync::Semaphore::MAX_PERMITS
            ),
            Key::ServerMaxBodyBytes => "a whole number of bytes, 1 or more".to_owned(),
            Key::ServerAuthToken => "a string of printable ASCII characters without leading or \
                                     trailing spaces; empty turns authentication off"
                .to_owned(),
            Key::ServerBackupRoot => {
                "a directory path; empty turns HTTP backups off".to_owned()
            }
            Key::CompactionAuto => "true or false".to_owned(),
            Key::CompactionMinDeadRatio => {
                "a number greater than 0 and at most 1 (a fraction, e.g. 0.5)".to_owned()
            }
        }
    }

    /// Sets the key from a plain string (an environment variable or a flag). Does not
    /// range-check; call [`Key::check`] afterwards. The error says what is allowed.
    pub(crate) fn set(self, config: &mut Config, raw: &str) -> Result<(), String> {
        let bad = || format!("`{raw}` is not valid; expected {}", self.allowed());
        match self {
            Key::StoragePath => config.storage.path = PathBuf::from(raw),
            Key::StorageSegmentSizeMb => {
                config.storage.segment_size_mb = raw.trim().parse().map_err(|_| bad())?;
            }
            Key::BatchBatchSize => {
                config.batch.batch_size = raw.trim().parse().map_err(|_| bad())?
            }
            Key::BatchBatchTimeoutMs => {
                config.batch.batch_timeout_ms = raw.trim().parse().map_err(|_| bad())?;
            }
            Key::BatchSync => {
                config.batch.sync = raw
                    .trim()
                    .parse::<SyncPolicy>()
                    .map_err(|e| e.to_string())?;
            }
            Key::BatchSyncIntervalMs => {
                config.batch.sync_interval_ms = raw.trim().parse().map_err(|_| bad())?;
            }
            Key::ServerListen => config.server.listen = parse_listen(raw.trim())?,
            Key::ServerMaxConcurrentOps => {
                config.server.max_concurrent_ops = raw.trim().parse().map_err(|_| bad())?;
            }
            Key::ServerMaxBodyBytes => {
                config.server.max_body_bytes = raw.trim().parse().map_err(|_| bad())?;
            }
            Key::ServerAuthToken => config.server.auth_token = raw.to_owned(),
            Key::ServerBackupRoot => config.server.backup_root = parse_backup_root(raw),
            Key::CompactionAuto => {
                config.compaction.auto = match raw.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad()),
                }
            }
            Key::CompactionMinDeadRatio => {
                config.compaction.min_dead_ratio = raw.trim().parse().map_err(|_| bad())?;
            }
        }
        Ok(())
    }

    /// Range-checks the key's current value in `config`; the error says what is allowed.
    pub(crate) fn check(self, config: &Config) -> Result<(), String> {
        let ok = match self {
            Key::StoragePath => !config.storage.path.as_os_str().is_empty(),
            Key::StorageSegmentSizeMb => {
                (1..=MAX_SEGMENT_SIZE_MB).contains(&config.storage.segment_size_mb)
            }
            Key::BatchBatchSize => (1..=MAX_BATCH_SIZE).contains(&config.batch.batch_size),
            Key::BatchBatchTimeoutMs => config.batch.batch_timeout_ms <= MAX_DURATION_MS,
            Key::BatchSync | Key::ServerListen | Key::CompactionAuto | Key::ServerBackupRoot => {
                true
            }
            Key::BatchSyncIntervalMs => {
                (1..=MAX_DURATION_MS).contains(&config.batch.sync_interval_ms)
            }
            Key::ServerMaxConcurrentOps => (1..=tokio::sync::Semaphore::MAX_PERMITS)
                .contains(&config.server.max_concurrent_ops),
            Key::ServerMaxBodyBytes => config.server.max_body_bytes >= 1,
            Key::ServerAuthToken => valid_token(&config.server.auth_token),
            Key::CompactionMinDeadRatio => {
                let r = config.compaction.min_dead_ratio;
                r > 0.0 && r <= 1.0
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} is not allowed; expected {}",
                self.describe_value(config),
                self.allowed()
            ))
        }
    }

    /// The key's current value, for messages (the auth token is never shown).
    fn describe_value(self, config: &Config) -> String {
        match self {
            Key::StoragePath => format!("{:?}", config.storage.path.display().to_string()),
            Key::StorageSegmentSizeMb => config.storage.segment_size_mb.to_string(),
            Key::BatchBatchSize => config.batch.batch_size.to_string(),
            Key::BatchBatchTimeoutMs => config.batch.batch_timeout_ms.to_string(),
            Key::BatchSync => format!("{:?}", config.batch.sync.as_str()),
            Key::BatchSyncIntervalMs => config.batch.sync_interval_ms.to_string(),
            Key::ServerListen => format!("\"{}\"", config.server.listen),
            Key::ServerMaxConcurrentOps => config.server.max_concurrent_ops.to_string(),
            Key::ServerMaxBodyBytes => config.server.max_body_bytes.to_string(),
            Key::ServerAuthToken => "the token".to_owned(),
            Key::ServerBackupRoot => match &config.server.backup_root {
                Some(p) => format!("{:?}", p.display().to_string()),
                None => "\"\"".to_owned(),
            },
            Key::CompactionAuto => config.compaction.auto.to_string(),
            Key::CompactionMinDeadRatio => config.compaction.min_dead_ratio.to_string(),
        }
    }
}

/// A bearer token must survive an HTTP header: printable ASCII, no surrounding spaces
/// (HTTP trims them, so such a token could never match).
fn valid_token(token: &str) -> bool {
    token.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !token.starts_with(' ')
        && !token.ends_with(' ')
}

/// Parses `listen`: the same rule and message for the file, the environment and flags.
pub(crate) fn parse_listen(raw: &str) -> Result<SocketAddr, String> {
    raw.parse::<SocketAddr>().map_err(|_| {
        format!(
            "`{raw}` is not a socket address; expected {}",
            Key::ServerListen.allowed()
        )
    })
}
