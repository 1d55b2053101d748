//! Compaction (issue 6), by concern:
//!
//! - `model`: a model test with compactions and reopens among the writes;
//! - `dataset`: the fixed dataset of the kill tests;
//! - `kill_points`: compaction stopped at each of its steps (test hook);
//! - `kill9`: compaction killed with SIGKILL (child process);
//! - `concurrent`: reads while compaction runs;
//! - `feed`: the change feed's history floor;
//! - `background`: the background compactor;
//! - `space`: the space compaction gives back;
//! - `powercut`: a power cut right after a compaction;
//! - `file_faults`: compaction and hint writing whose file effects fail.

mod background;
mod concurrent;
mod dataset;
mod feed;
mod file_faults;
mod kill9;
mod kill_points;
mod model;
mod powercut;
mod space;

use std::path::Path;
use std::sync::Arc;

use nyro_core::{Config, Database, OpenOptions, SyncPolicy, WriteOptions};
use nyro_storage::LogIo;

use crate::common::*;

const W: WriteOptions = WriteOptions { sync: false };

/// Bytes a compaction may add per segment it rewrites (the marker frame) plus the header of
/// the new active segment when it seals one.
const MARKER_ALLOWANCE: u64 = 64;
const NEW_SEGMENT_HEADER: u64 = 32;

/// A config with 1 MB segments and no background compaction.
fn small_config(dir: &Path) -> Config {
    let mut c = config(dir);
    c.storage.segment_size_mb = 1;
    c.compaction.auto = false;
    c
}

/// [`small_config`] with `sync = "never"`: the tests flush, close or cut the power
/// themselves.
pub(crate) fn unsynced_config(dir: &Path) -> Config {
    let mut c = small_config(dir);
    c.batch.sync = SyncPolicy::Never;
    c
}

/// Opens with `io` as the I/O seam of log writes and no background maintenance: a fault
/// test arms a fault for the compaction or the hint writing it runs itself, which a
/// maintenance pass (due after 10 s, however slow the setup) must not meet first.
async fn open_io(config: &Config, io: Arc<dyn LogIo>) -> Database {
    within(
        "open",
        Database::open_with(
            config,
            OpenOptions {
                io,
                maintenance_interval: NO_MAINTENANCE,
                ..OpenOptions::default()
            },
        ),
    )
    .await
    .expect("open")
}

/// What the data directory holds: segment files, their total size, and anything else
/// (besides the lock file).
fn disk_state(dir: &Path) -> (usize, u64, Vec<String>) {
    let mut segments = 0;
    let mut bytes = 0;
    let mut other = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("segment-") && name.ends_with(".log") {
            segments += 1;
            bytes += entry.metadata().unwrap().len();
        } else if name.starts_with("segment-") && name.ends_with(".hint") {
            // Written by the background maintenance; must belong to a segment on disk.
            let log = dir.join(name.replace(".hint", ".log"));
            if !log.exists() {
                other.push(name);
            }
        } else if name != nyro_storage::LOCK_FILE {
            other.push(name);
        }
    }
    (segments, bytes, other)
}

/// The directory holds exactly the segments the database reports: no temporary file, no
/// retired segment left behind.
///
/// Listed once no background maintenance pass can be writing a file (a pass writes hints,
/// through a `hint-*.tmp`, whenever it wakes, which a slow test cannot rule out):
/// `write_hints` takes the lock every pass holds, so it waits for a running one, and leaves
/// every sealed segment with its hint, so a later pass has nothing to write while the
/// directory is listed (the caller writes nothing meanwhile). It adds only `.hint` files of
/// segments on disk, so it hides no stray file.
async fn check_disk(db: &Database, dir: &Path, step: &str) {
    within(step, db.write_hints())
        .await
        .unwrap_or_else(|e| panic!("{step}: write hints: {e}"));
    let stats = db.stats();
    let (segments, bytes, other) = disk_state(dir);
    assert!(other.is_empty(), "{step}: stray files {other:?}");
    assert_eq!(segments, stats.segments, "{step}: segment files");
    assert_eq!(bytes, stats.disk_bytes, "{step}: bytes of segment files");
}

/// Compacts and checks what the space accounting says: dead bytes are gone, and disk bytes
/// dropped by (at least) the dead bytes, up to the markers and a new active segment.
async fn compact_and_check_space(db: &Database, dir: &Path, step: &str) {
    let before = db.stats();
    let summary = within(step, db.compact())
        .await
        .unwrap_or_else(|e| panic!("{step}: compact: {e}"));
    let after = db.stats();
    let n = summary.segments_rewritten as u64;
    if before.dead_bytes > 0 {
        assert!(n > 0, "{step}: {before:?} but nothing rewritten");
    }
    assert_eq!(after.dead_bytes, 0, "{step}: dead bytes after compaction");
    assert!(
        after.disk_bytes + before.dead_bytes
            <= before.disk_bytes + NEW_SEGMENT_HEADER + MARKER_ALLOWANCE * n,
        "{step}: disk bytes {} -> {} with {} dead, {n} segments rewritten",
        before.disk_bytes,
        after.disk_bytes,
        before.dead_bytes
    );
    assert!(
        summary.bytes_after <= summary.bytes_before + MARKER_ALLOWANCE * n,
        "{step}: {summary:?}"
    );
    assert_eq!(
        after.last_seq, before.last_seq,
        "{step}: compaction writes no seq"
    );
    check_disk(db, dir, step).await;
}
