//! `DIR/lost+found/`: one file per lost range, and `REPORT.json`, which describes every
//! repair that lost something (docs/FORMAT.md section 8). Nothing in it is ever overwritten:
//! a range file whose name is taken by other bytes gets a suffix, and each repair appends
//! its own entry to the report.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{LostRange, Neighbour, RepairReport};
use crate::error::{IoContext, Result, StorageError};
use crate::io::{LogIo, OpenMode, replace_file};
use crate::segment;

/// The directory, inside the data directory, that holds what a repair moved aside.
pub const LOST_FOUND_DIR: &str = "lost+found";
/// The report file inside [`LOST_FOUND_DIR`].
pub const REPORT_FILE: &str = "REPORT.json";
/// The version of the report's layout.
const REPORT_FORMAT: u64 = 1;
/// Most files for one segment and offset (a range lost again after other repairs).
const MAX_SUFFIX: u32 = 1000;

/// The `lost+found` directory of one data directory; every file effect goes through `io`.
pub(super) struct LostFound<'a> {
    io: &'a dyn LogIo,
    dir: PathBuf,
}

impl<'a> LostFound<'a> {
    /// Creates `lost+found` in `data_dir` if it is missing, and makes it durable (fsync of
    /// `data_dir` each time: an earlier run may have created it and failed that fsync).
    pub(super) fn create(io: &'a dyn LogIo, data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join(LOST_FOUND_DIR);
        match io.create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(e).io_context("create", &dir),
        }
        segment::sync_dir(io, data_dir)?;
        Ok(Self { io, dir })
    }

    /// Writes the bytes of `range` to their own file and returns its path. The file is named
    /// by segment and offset; a name already taken by the same bytes (a repair that stopped
    /// before its end, run again) is reused, one taken by other bytes gets a suffix. A file
    /// gets its name only once all of it is written and fdatasynced (see [`Self::publish`]),
    /// so a file of that name is never half-written.
    pub(super) fn keep(&self, range: &LostRange, bytes: &[u8]) -> Result<PathBuf> {
        let name = format!("segment-{:010}-at-{:020}.lost", range.segment, range.offset);
        for attempt in 0..MAX_SUFFIX {
            let path = match attempt {
                0 => self.dir.join(&name),
                n => self.dir.join(format!("{name}.{n}")),
            };
            match fs::read(&path) {
                Ok(held) if held == bytes => return Ok(path),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    self.publish(&path, bytes)?;
                    return Ok(path);
                }
                Err(e) => return Err(e).io_context("read", &path),
            }
        }
        Err(StorageError::LostFound {
            path: self.dir.join(name),
            reason: format!("{MAX_SUFFIX} files of that name hold other bytes"),
        })
    }

    /// Makes the files written so far durable (fsync of the directory).
    pub(super) fn sync(&self) -> Result<()> {
        segment::sync_dir(self.io, &self.dir)
    }

    /// Appends this repair to `REPORT.json` (see [`Self::publish`]; then the directory is
    /// fsynced) and returns its path. Refuses to touch a report it cannot read.
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
        self.publish(&path, &text)?;
        self.sync()?;
        Ok(path)
    }

    /// Gives `path` the content `bytes` whole or not at all: writes them to `path` + `.tmp`
    /// (created or emptied), fdatasyncs it and renames it to `path` (replacing it). On a
    /// failure the temporary file is removed if it can be; one that stays is never read
    /// (the next write of the same file empties it first).
    fn publish(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let mut temp = path.as_os_str().to_owned();
        temp.push(".tmp");
        let temp = PathBuf::from(temp);
        replace_file(self.io, &temp, path, OpenMode::CreateOrTruncate, &[bytes])
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
