//! The database's settings as typed values: one struct per section of `nyrodb.toml` that
//! nyro-core owns, and the durability policy. What each key means, allows and defaults to is
//! in the key table ([`super::database_keys`]), which `Config::default` applies.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Deserialize;

/// Largest allowed `storage.scrub_mb_per_sec` (64 GiB/s: beyond any disk, yet far from an
/// overflow in bytes).
pub const MAX_SCRUB_MB_PER_SEC: u64 = 65_536;

/// Largest allowed `query.max_scan` (documents examined by one request).
pub const MAX_QUERY_SCAN: u64 = 1 << 40;

/// Largest allowed `storage.segment_size_mb` (4 GiB segments).
pub const MAX_SEGMENT_SIZE_MB: u64 = 4096;

/// Largest allowed `batch.batch_size` (records in one write syscall).
pub const MAX_BATCH_SIZE: usize = 1_000_000;

/// Largest allowed `batch.batch_timeout_ms` and `batch.sync_interval_ms`: 24 hours.
pub const MAX_DURATION_MS: u64 = 24 * 60 * 60 * 1000;

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

/// `[storage]`: where and how the log is kept (defaults: `Config::default().storage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// Data directory (default `./data`); created if missing; held by one process at a time.
    pub path: PathBuf,
    /// A segment is sealed and a new one started past this size, in MiB (default 256;
    /// 1 to [`MAX_SEGMENT_SIZE_MB`]).
    pub segment_size_mb: u64,
    /// MiB per second the background scrub reads the segments opened from their hint files
    /// (default 64; 0 turns the scrub off; at most [`MAX_SCRUB_MB_PER_SEC`]).
    pub scrub_mb_per_sec: u64,
}

/// `[batch]`: group commit and durability.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The database's part of `[server]`: how much work it takes on at once. The rest of the
/// section (`listen`, `auth_token`, `max_body_bytes`, `backup_root`, TLS) belongs to the
/// HTTP server, nyro-server, which reads it from the same file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Operations in flight at once; past it requests get 503 `overloaded` (default 100000).
    pub max_concurrent_ops: usize,
}

/// `[compaction]`: background rewriting of sealed segments.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionConfig {
    /// Rewrite sealed segments in the background (default true).
    pub auto: bool,
    /// A sealed segment with more dead bytes than this fraction is rewritten (default 0.5;
    /// greater than 0 and at most 1).
    pub min_dead_ratio: f64,
}

/// `[query]`: limits of a query (docs/CONTRACT section 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryConfig {
    /// No query request examines more documents than this (default 1,000,000): a page then
    /// comes back short with a cursor to go on from; a count that would pass it is refused.
    pub max_scan: u64,
}

/// One `[[collections]]` entry: a collection created at start if missing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionConfig {
    /// The collection's name (`^[A-Za-z0-9_-]{1,64}$`). Required.
    pub name: String,
    /// The paths it indexes (`"city"`, `"address.city"`; default none). Not `_id`, no
    /// empty field name, each at most once ([`crate::names`], the rule the API applies too).
    #[serde(default)]
    pub indexes: Vec<String>,
}
