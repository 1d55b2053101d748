//! The database's keys: everything of `nyrodb.toml` that nyro-core reads, each described
//! once (section, name, type, doc, what is allowed, setter, range check, how it is shown).
//! The HTTP server adds its own `[server]` keys to these (nyro-server's `config` module).

use super::Config;
use super::registry::{Key, Ty, parse_number, toml_string};
use super::types::{
    MAX_BATCH_SIZE, MAX_DURATION_MS, MAX_QUERY_SCAN, MAX_SCRUB_MB_PER_SEC, MAX_SEGMENT_SIZE_MB,
    SyncPolicy,
};

/// The database's keys, for any settings type that holds a [`Config`], in the order of the
/// shipped `nyrodb.toml`.
pub fn database_keys<C: AsRef<Config> + AsMut<Config>>() -> Vec<Key<C>> {
    vec![
        Key {
            section: "storage",
            name: "path",
            default: "./data",
            ty: Ty::String,
            doc: "Data directory; created if missing. One process at a time holds it (a LOCK file).",
            allowed: "a non-empty directory path".to_owned(),
            secret: false,
            set: |c, raw| {
                c.as_mut().storage.path = raw.into();
                Ok(())
            },
            check: |c| !c.as_ref().storage.path.as_os_str().is_empty(),
            show: |c| toml_string(&c.as_ref().storage.path.display().to_string()),
        },
        Key {
            section: "storage",
            name: "segment_size_mb",
            default: "256",
            ty: Ty::Integer,
            doc: "A segment file is sealed and a new one started once it passes this size, in MiB.",
            allowed: format!("a whole number of MiB from 1 to {MAX_SEGMENT_SIZE_MB}"),
            secret: false,
            set: |c, raw| {
                c.as_mut().storage.segment_size_mb = parse_number(raw)?;
                Ok(())
            },
            check: |c| (1..=MAX_SEGMENT_SIZE_MB).contains(&c.as_ref().storage.segment_size_mb),
            show: |c| c.as_ref().storage.segment_size_mb.to_string(),
        },
        Key {
            section: "storage",
            name: "scrub_mb_per_sec",
            default: "64",
            ty: Ty::Integer,
            doc: "How fast, in MiB/s, the background scrub reads the segments opened from their hint\n\
                  files after start, to find damage before a read does; 0 turns it off.",
            allowed: format!("a whole number of MiB/s from 0 (off) to {MAX_SCRUB_MB_PER_SEC}"),
            secret: false,
            set: |c, raw| {
                c.as_mut().storage.scrub_mb_per_sec = parse_number(raw)?;
                Ok(())
            },
            check: |c| c.as_ref().storage.scrub_mb_per_sec <= MAX_SCRUB_MB_PER_SEC,
            show: |c| c.as_ref().storage.scrub_mb_per_sec.to_string(),
        },
        Key {
            section: "batch",
            name: "batch_size",
            default: "10000",
            ty: Ty::Integer,
            doc: "Most records written with one write syscall (group commit).",
            allowed: format!("a whole number of records from 1 to {MAX_BATCH_SIZE}"),
            secret: false,
            set: |c, raw| {
                c.as_mut().batch.batch_size = parse_number(raw)?;
                Ok(())
            },
            check: |c| (1..=MAX_BATCH_SIZE).contains(&c.as_ref().batch.batch_size),
            show: |c| c.as_ref().batch.batch_size.to_string(),
        },
        Key {
            section: "batch",
            name: "batch_timeout_ms",
            default: "100",
            ty: Ty::Integer,
            doc: "Longest a queued write may wait for company under load, in milliseconds. An\n\
                  idle writer writes at once, so this is a bound, not a delay.",
            allowed: format!(
                "a whole number of milliseconds from 0 to {MAX_DURATION_MS} (24 hours)"
            ),
            secret: false,
            set: |c, raw| {
                c.as_mut().batch.batch_timeout_ms = parse_number(raw)?;
                Ok(())
            },
            check: |c| c.as_ref().batch.batch_timeout_ms <= MAX_DURATION_MS,
            show: |c| c.as_ref().batch.batch_timeout_ms.to_string(),
        },
        Key {
            section: "batch",
            name: "sync",
            default: "interval",
            ty: Ty::String,
            doc: "When an acknowledged write is on stable storage:\n  \
                  \"always\"   - its batch was fdatasync'ed before the answer; nothing acknowledged is lost,\n               \
                  kill -9 or power cut included.\n  \
                  \"interval\" - everything acknowledged more than sync_interval_ms ago; kill -9 loses\n               \
                  nothing, a power cut at most that window.\n  \
                  \"never\"    - whatever the OS flushed.\n\
                  A single write can ask for more with ?sync=true (HTTP) or the embedded API's option.",
            allowed: r#"one of "always", "interval", "never""#.to_owned(),
            secret: false,
            set: |c, raw| {
                let policy = raw
                    .trim()
                    .parse::<SyncPolicy>()
                    .map_err(|_| format!("unknown sync policy `{}`", raw.trim()))?;
                c.as_mut().batch.sync = policy;
                Ok(())
            },
            check: |_| true,
            show: |c| toml_string(c.as_ref().batch.sync.as_str()),
        },
        Key {
            section: "batch",
            name: "sync_interval_ms",
            default: "1000",
            ty: Ty::Integer,
            doc: "How often the log is fdatasync'ed under sync = \"interval\", in milliseconds.",
            allowed: format!(
                "a whole number of milliseconds from 1 to {MAX_DURATION_MS} (24 hours)"
            ),
            secret: false,
            set: |c, raw| {
                c.as_mut().batch.sync_interval_ms = parse_number(raw)?;
                Ok(())
            },
            check: |c| (1..=MAX_DURATION_MS).contains(&c.as_ref().batch.sync_interval_ms),
            show: |c| c.as_ref().batch.sync_interval_ms.to_string(),
        },
        Key {
            section: "server",
            name: "max_concurrent_ops",
            default: "100000",
            ty: Ty::Integer,
            doc: "Operations in flight at once; past this, requests get 503 \"overloaded\" with Retry-After.",
            allowed: format!(
                "a whole number from 1 to {}",
                tokio::sync::Semaphore::MAX_PERMITS
            ),
            secret: false,
            set: |c, raw| {
                c.as_mut().server.max_concurrent_ops = parse_number(raw)?;
                Ok(())
            },
            check: |c| {
                (1..=tokio::sync::Semaphore::MAX_PERMITS)
                    .contains(&c.as_ref().server.max_concurrent_ops)
            },
            show: |c| c.as_ref().server.max_concurrent_ops.to_string(),
        },
        Key {
            section: "compaction",
            name: "auto",
            default: "true",
            ty: Ty::Bool,
            doc: "Rewrite sealed segments in the background.",
            allowed: "true or false".to_owned(),
            secret: false,
            set: |c, raw| {
                c.as_mut().compaction.auto = match raw.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(format!("`{raw}` is not valid")),
                };
                Ok(())
            },
            check: |_| true,
            show: |c| c.as_ref().compaction.auto.to_string(),
        },
        Key {
            section: "compaction",
            name: "min_dead_ratio",
            default: "0.5",
            ty: Ty::Float,
            doc: "A sealed segment with more dead bytes than this fraction is rewritten.",
            allowed: "a number greater than 0 and at most 1 (a fraction, e.g. 0.5)".to_owned(),
            secret: false,
            set: |c, raw| {
                c.as_mut().compaction.min_dead_ratio = parse_number(raw)?;
                Ok(())
            },
            check: |c| {
                let r = c.as_ref().compaction.min_dead_ratio;
                r > 0.0 && r <= 1.0
            },
            show: |c| c.as_ref().compaction.min_dead_ratio.to_string(),
        },
        Key {
            section: "query",
            name: "max_scan",
            default: "1000000",
            ty: Ty::Integer,
            doc: "No query request examines more documents than this: a page comes back short\n\
                  with a cursor to go on from; a count that would pass it is refused.",
            allowed: format!("a whole number of documents from 1 to {MAX_QUERY_SCAN}"),
            secret: false,
            set: |c, raw| {
                c.as_mut().query.max_scan = parse_number(raw)?;
                Ok(())
            },
            check: |c| (1..=MAX_QUERY_SCAN).contains(&c.as_ref().query.max_scan),
            show: |c| c.as_ref().query.max_scan.to_string(),
        },
    ]
}
