//! `DIR/lost+found/`: one file per lost range, and `REPORT.json`, which describes every
//! repair that lost something (docs/FORMAT.md section 8). Nothing in it is ever overwritten:
//! a range file whose name is taken by other bytes gets a suffix, and each repair appends
//! its own entry to the report.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{LostRange, Neighbour, RepairReport};
use crate::error::{IoContext, Result, StorageError};
use crate::io::OsIo;
use crate::segment;

/// The directory, inside the data directory, that holds what a repair moved aside.
pub const LOST_FOUND_DIR: &str = "lost+found";
/// The report file inside [`LOST_FOUND_DIR`].
pub const REPORT_FILE: &str = "REPORT.json";
/// The version of the report's layout.
const REPORT_FORMAT: u64 = 1;
/// Most files for one segment and offset (a range lost again after other repairs).
const MAX_SUFFIX: u32 = 1000;

/// The `lost+found` directory of one data directory.
pub(super) struct LostFound {
    dir: PathBuf,
}

impl LostFound {
    /// Creates `lost+found` in `data_dir` if it is missing (and makes that durable).
    pub(super) fn create(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join(LOST_FOUND_DIR);
        match fs::create_dir(&dir) {
            Ok(()) => segment::sync_dir(&OsIo, data_dir)?,
            Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(e).io_context("create", &dir),
        }
        Ok(Self { dir })
    }

    /// Writes the bytes of `range` to their own file (fsynced) and returns its path. The file
    /// is named by segment and offset; a name already taken by the same bytes (a repair that
    /// a crash interrupted, run again) is reused, one taken by other bytes gets a suffix.
    pub(super) fn keep(&self, range: &LostRange, bytes: &[u8]) -> Result<PathBuf> {
        let name = format!("segment-{:010}-at-{:020}.lost", range.segment, range.offset);
        for attempt in 0..MAX_SUFFIX {
            let path = match attempt {
                0 => self.dir.join(&name),
                n => self.dir.join(format!("{name}.{n}")),
            };
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    file.write_all(bytes).io_context("write", &path)?;
                    file.sync_all().io_context("fsync", &path)?;
                    return Ok(path);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    if fs::read(&path).io_context("read", &path)? == bytes {
                        return Ok(path);
                    }
                }
                Err(e) => return Err(e).io_context("create", &path),
            }
        }
        Err(StorageError::LostFound {
            path: self.dir.join(name),
            reason: format!("{MAX_SUFFIX} files of that name hold other bytes"),
        })
    }

    /// Makes the files written so far durable (fsync of the directory).
    pub(super) fn sync(&self) -> Result<()> {
        segment::sync_dir(&OsIo, &self.dir)
    }

    /// Appends this repair to `REPORT.json` (written to a temporary file, fsynced, renamed,
    /// directory fsynced) and returns its path. Refuses to touch a report it cannot read.
    pub(super) fn append_report(&self, report: &RepairReport) -> Result<PathBuf> {
        let path = self.dir.join(REPORT_FILE);
        let unreadable = |reason: String| StorageError::LostFound {
            path: path.clone(),
            reason,
        };
        let mut document = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
                .map_err(|e| unreadable(format!("it is not JSON ({e})")))?,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                json!({"format": REPORT_FORMAT, "repairs": []})
            }
            Err(e) => return Err(e).io_context("read", &path),
        };
        let Some(repairs) = document.get_mut("repairs").and_then(Value::as_array_mut) else {
            return Err(unreadable("it has no \"repairs\" list".into()));
        };
        repairs.push(entry(report));
        let mut text = serde_json::to_vec_pretty(&document)
            .map_err(|e| unreadable(format!("cannot encode it ({e})")))?;
        text.push(b'\n');
        let temp = self.dir.join(format!("{REPORT_FILE}.tmp"));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .io_context("create", &temp)?;
        file.write_all(&text).io_context("write", &temp)?;
        file.sync_all().io_context("fsync", &temp)?;
        fs::rename(&temp, &path).io_context("rename", &temp)?;
        self.sync()?;
        Ok(path)
    }
}

/// A file's name, for the report: it names files relative to the data directory, so it
/// stays true if the directory moves.
fn name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn neighbour(n: &Option<Neighbour>) -> Value {
    match n {
        None => Value::Null,
        Some(n) => json!({
            "segment": n.segment,
            "offset": n.offset,
            "kind": n.kind.name(),
            "collection": n.collection,
            "collection_name": n.collection_name,
            "id": n.id,
            "seq": n.seq,
        }),
    }
}

/// One repair's entry in the report.
fn entry(report: &RepairReport) -> Value {
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    json!({
        "time_unix": time,
        "lost_bytes": report.lost_bytes(),
        "ranges": report.lost.iter().map(|r| json!({
            "file": name(&r.file),
            "segment": r.segment,
            "segment_file": name(&r.segment_file),
            "offset": r.offset,
            "len": r.len,
            "crc32c": r.crc32c,
            "defect": r.detail,
            "before": neighbour(&r.before),
            "after": neighbour(&r.after),
            "records_added": r.added.iter().map(|a| json!({
                "kind": a.kind.name(),
                "collection": a.collection,
                "id": a.id,
                "seq": a.seq,
                "note": a.note,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "segments_rewritten": report.rewritten.iter().map(|s| json!({
            "old": segment::file_name(s.old),
            "new": segment::file_name(s.new),
            "position": s.position,
            "history_floor": s.history_floor,
            "bytes_before": s.bytes_before,
            "bytes_after": s.bytes_after,
        })).collect::<Vec<_>>(),
        "hints_removed": report.hints_removed.iter().map(|p| name(p)).collect::<Vec<_>>(),
    })
}
