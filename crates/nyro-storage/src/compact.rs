//! Compaction's part in the log: rewriting a sealed segment without the frames the caller no
//! longer needs, and settling the directory on open after a compaction a crash interrupted.
//!
//! A rewrite never changes a file in place. It writes a new segment under a temporary name
//! (`compact-NNNNNNNNNN.tmp`), fsyncs it, renames it to its segment name (the commit point),
//! and fsyncs the directory. The new segment starts with a marker frame naming the place in
//! the log it takes over and the file it replaces. The old file is removed by [`retire`]
//! once the caller has switched its indexes; if a crash comes first, [`settle`] removes it on
//! the next open, because its replacement is complete (it was fsynced before the rename). A
//! crash before the rename leaves only a temporary file, which `settle` deletes.
//!
//! Every file effect goes through the I/O seam ([`crate::LogIo`]). A failure before the
//! rename removes the temporary file; a failed rename or directory fsync fails the rewrite
//! without poisoning the log (the old segment stays in use, and whichever of the two files a
//! crash leaves holds the same log); a failed fdatasync of the active segment poisons it.
//!
//! [`retire`]: crate::LogReader::retire

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result, StorageError};
use crate::frame::{self, FrameCheck, FrameHeader, HEADER_LEN, Record, RecordKind};
use crate::io::{LogIo, OpenMode};
use crate::mmap::Mapping;
use crate::reader::{Location, LogReader};
use crate::segment::{self, Placement, SEGMENT_HEADER_LEN, Segment};

const TEMP_PREFIX: &str = "compact-";
const TEMP_SUFFIX: &str = ".tmp";

/// The steps of a compaction, for tests that stop it part way (through [`crate::LogIo`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionStep {
    /// The new segment is written and synced under its temporary name; next: the rename.
    TempWritten,
    /// The new segment has its name (committed); next: it joins the readable table.
    Renamed,
    /// The caller switched its indexes; next: the old file is removed.
    Retiring,
}

/// The payload of a compaction marker (docs/FORMAT.md section 4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct MarkerPayload {
    position: u32,
    replaces: u32,
    history_floor: u64,
}

/// A frame that a rewrite copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// Its header.
    pub header: FrameHeader,
    /// Where it was.
    pub from: Location,
    /// Where it is now.
    pub to: Location,
}

/// What a rewrite did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The segment rewritten (still readable until retired).
    pub old: u32,
    /// The segment that replaces it.
    pub new: u32,
    /// Every frame copied, old and new location.
    pub moved: Vec<Moved>,
    /// Size of the old segment.
    pub bytes_before: u64,
    /// Size of the new segment.
    pub bytes_after: u64,
}

/// Why a segment cannot be compacted (or hinted).
pub(crate) fn refuse(id: u32, reason: &'static str) -> StorageError {
    StorageError::BadLocation {
        segment: id,
        offset: 0,
        len: 0,
        reason,
    }
}

/// The temporary name of a segment being written by a rewrite (compaction or repair): open
/// deletes such a file, so a crash before its rename leaves nothing behind.
pub(crate) fn temp_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{TEMP_PREFIX}{id:010}{TEMP_SUFFIX}"))
}

/// Reads the placement of a segment file from its marker frame, if it has one (a file
/// written by the log itself has none: its place is its id).
fn placement_of(id: u32, path: &Path) -> Result<Placement> {
    let mut head = Vec::with_capacity(256);
    File::open(path)
        .and_then(|f| f.take(256).read_to_end(&mut head))
        .io_context("read segment header of", path)?;
    if segment::check_header(&head, id).is_err() || head.len() <= SEGMENT_HEADER_LEN {
        return Ok(Placement::own(id));
    }
    Ok(marker_at(&head[SEGMENT_HEADER_LEN..])?.unwrap_or(Placement::own(id)))
}

/// The placement a compaction marker frame at the start of `bytes` gives, if an intact
/// marker frame starts there.
pub(crate) fn marker_at(bytes: &[u8]) -> Result<Option<Placement>> {
    match frame::check(bytes) {
        FrameCheck::Complete(h) if h.kind == RecordKind::CompactionMarker => {
            let marker: MarkerPayload =
                crate::codec::decode(&bytes[HEADER_LEN..h.frame_len as usize])?;
            Ok(Some(Placement {
                position: marker.position,
                replaces: Some(marker.replaces),
                history_floor: marker.history_floor,
            }))
        }
        _ => Ok(None),
    }
}

/// Appends the marker frame that gives a rewritten segment its `placement` (docs/FORMAT.md
/// section 4.5) to `out`.
pub(crate) fn encode_marker(placement: Placement, out: &mut Vec<u8>) -> Result<()> {
    let marker = crate::codec::encode(&MarkerPayload {
        position: placement.position,
        replaces: placement.replaces.unwrap_or_default(),
        history_floor: placement.history_floor,
    })?;
    frame::encode(
        &Record {
            kind: RecordKind::CompactionMarker,
            collection: 0,
            id: 0,
            seq: 0,
            payload: &marker,
            continues: false,
        },
        out,
    );
    Ok(())
}

/// The segment files of `dir` with their placements, in log order, changing nothing (files
/// that a finished compaction replaced are included: [`settle`] removes those).
pub(crate) fn log_order(dir: &Path) -> Result<Vec<(u32, PathBuf, Placement)>> {
    let mut files = Vec::new();
    for (id, path) in segment::list(dir)? {
        let placement = placement_of(id, &path)?;
        files.push((id, path, placement));
    }
    files.sort_by_key(|(id, _, p)| (p.position, *id));
    Ok(files)
}

/// Makes the directory consistent before the log opens it: deletes compaction's temporary
/// files and every segment a complete compacted segment replaces. Returns the remaining
/// segments in log order, with their placements.
pub(crate) fn settle(io: &dyn LogIo, dir: &Path) -> Result<Vec<(u32, PathBuf, Placement)>> {
    let mut changed = false;
    for entry in fs::read_dir(dir).io_context("list data directory", dir)? {
        let entry = entry.io_context("list data directory", dir)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX) {
            tracing::warn!(file = %entry.path().display(),
                "removing the temporary file of a compaction that did not finish");
            io.remove_file(&entry.path())
                .io_context("remove", &entry.path())?;
            changed = true;
        }
    }
    let mut files = log_order(dir)?;
    // Of the files at one place in the log, only the newest (highest id) counts. The others
    // are the segment a finished compaction replaced, and also a compacted segment whose
    // rewrite failed after its rename: the process went on with the old file and may have
    // compacted it again, into a newer file at the same place. (Two of them would both be
    // read: every record twice.) The newest is complete: it was fsynced before its rename.
    let mut newest: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
    for (id, _, p) in &files {
        let at = newest.entry(p.position).or_insert(*id);
        *at = (*at).max(*id);
    }
    files.retain(|(id, path, p)| {
        if newest.get(&p.position) == Some(id) {
            return true;
        }
        tracing::info!(file = %path.display(),
            "removing a segment that a finished compaction replaced");
        changed = true;
        // One that cannot be removed is left on disk, but not read.
        if let Err(e) = io.remove_file(path) {
            tracing::warn!(file = %path.display(), error = %e, "cannot remove a replaced segment");
        }
        false
    });
    if changed {
        segment::sync_dir(io, dir)?;
    }
    Ok(files)
}

impl LogReader {
    /// Rewrites the sealed segment `id` into a new segment that keeps only the frames `keep`
    /// accepts, in the same order and at the same place in the log. Both stay readable (by
    /// their own locations) until [`LogReader::retire`] removes the old one; iteration shows
    /// the new one from now on. The caller switches its indexes to [`Moved::to`] in between.
    ///
    /// The dropped frames' highest sequence number becomes the segment's history floor
    /// (docs/FORMAT.md section 4.5). Refuses the active segment.
    pub fn rewrite(
        &self,
        id: u32,
        mut keep: impl FnMut(&FrameHeader, Location) -> bool,
    ) -> Result<Rewritten> {
        let shared = &self.shared;
        let _one_at_a_time = shared.compacting.lock();
        // The active segment only moves to new file numbers: one sealed in this table stays
        // sealed.
        let table = shared.segments.load_full();
        if id == table.active() {
            return Err(refuse(id, "the active segment is never compacted"));
        }
        if table.all().iter().any(|s| s.replaces == Some(id)) {
            return Err(refuse(id, "this segment was already compacted"));
        }
        let old = Arc::clone(table.get(id).ok_or_else(|| refuse(id, "no such segment"))?);
        let (map, end) = old.readable();
        let bytes = map.bytes(end);

        // Decide what to keep; note the highest seq of what goes.
        let mut kept: Vec<(FrameHeader, usize)> = Vec::new();
        let mut history_floor = old.history_floor;
        let mut pos = SEGMENT_HEADER_LEN;
        while pos < bytes.len() {
            let header = match frame::check(&bytes[pos..]) {
                FrameCheck::Complete(header) => header,
                FrameCheck::Incomplete(defect) | FrameCheck::Invalid(defect) => {
                    return Err(StorageError::Corrupt {
                        path: old.path.clone(),
                        offset: pos as u64,
                        defect,
                    });
                }
            };
            let location = Location {
                segment: id,
                offset: pos as u64,
                len: header.frame_len,
            };
            if header.kind != RecordKind::CompactionMarker {
                if keep(&header, location) {
                    kept.push((header, pos));
                } else if matches!(
                    header.kind,
                    RecordKind::Put | RecordKind::Replace | RecordKind::Delete
                ) {
                    history_floor = history_floor.max(header.seq);
                }
            }
            pos += header.frame_len as usize;
        }

        // Write the new segment under a temporary name.
        let new_id = shared.next_id.fetch_add(1, Ordering::AcqRel);
        let temp = temp_path(&shared.dir, new_id);
        let placement = Placement {
            position: old.position,
            replaces: Some(id),
            history_floor,
        };
        // The frames left out were made dead by later records, which may still sit unsynced
        // in the active segment: they must be durable before the old versions go.
        let written = write_segment(self, new_id, &temp, placement, bytes, &kept)
            .and_then(|done| sync_active(self).map(|()| done));
        let (file, moved, len) = written.inspect_err(|_| self.remove_temp(&temp))?;
        step(self, CompactionStep::TempWritten, &temp)?;
        let path = shared.dir.join(segment::file_name(new_id));
        shared
            .io
            .rename(&temp, &path)
            .io_context("rename compacted segment", &temp)
            .inspect_err(|_| self.remove_temp(&temp))?;
        // The new segment is complete and named; if this fsync fails (or a crash comes
        // before it) either file may be the one a reopen finds, and both hold the same log.
        segment::sync_dir(shared.io.as_ref(), &shared.dir)?;
        step(self, CompactionStep::Renamed, &path)?;

        let map = Mapping::new(&file, len as usize).io_context("map segment", &path)?;
        let added = Arc::new(Segment::new(new_id, placement, path, map, len));
        shared.segments.rcu(|table| table.with(Arc::clone(&added)));
        tracing::info!(
            old = id,
            new = new_id,
            bytes_before = end,
            bytes_after = len,
            frames_kept = moved.len(),
            "segment compacted"
        );
        Ok(Rewritten {
            old: id,
            new: new_id,
            moved,
            bytes_before: end,
            bytes_after: len,
        })
    }

    /// Removes the temporary file of a rewrite that failed before its rename: nothing has
    /// the segment's name, the old segment stays in use. One left behind (the removal
    /// failed too) is removed by the next open.
    fn remove_temp(&self, temp: &Path) {
        if let Err(e) = self.shared.io.remove_file(temp)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %temp.display(), error = %e,
                "cannot remove the temporary file of a failed compaction");
        }
    }

    /// Removes a segment that [`LogReader::rewrite`] replaced: from the table (readers that
    /// still hold its map keep it until they drop it), then its file.
    pub fn retire(&self, id: u32) -> Result<()> {
        let shared = &self.shared;
        let table = shared.segments.load_full();
        if !table.all().iter().any(|s| s.replaces == Some(id)) {
            return Err(refuse(
                id,
                "only a segment that a rewrite replaced can be retired",
            ));
        }
        let Some(old) = table.get(id).cloned() else {
            return Ok(()); // already gone
        };
        step(self, CompactionStep::Retiring, &old.path)?;
        shared.segments.rcu(|table| table.without(id));
        self.remove_hint(id);
        // A file left behind here (or brought back by a crash) is replaced by a complete
        // segment: the next open removes it.
        shared
            .io
            .remove_file(&old.path)
            .io_context("remove compacted segment", &old.path)?;
        segment::sync_dir(shared.io.as_ref(), &shared.dir)
    }
}

/// Fdatasyncs the active segment, so that everything appended so far is durable (the
/// sealed segments were synced when sealed; one sealed meanwhile was synced by its seal).
/// Through a file of its own: an fdatasync flushes the file's data, whichever descriptor.
/// A failure poisons the log, as the writer's own failed fdatasync does: the kernel may
/// have dropped the pages, and the writer's next fdatasync could then report success.
fn sync_active(reader: &LogReader) -> Result<()> {
    let shared = &reader.shared;
    let table = shared.segments.load();
    let Some(segment) = table.get(table.active()).cloned() else {
        return Ok(());
    };
    let file = File::open(&segment.path).io_context("open active segment", &segment.path)?;
    shared.io.sync_data(&segment.path, &file).map_err(|e| {
        reader.poison(format!(
            "fdatasync of {} before a compaction committed failed: {e}",
            segment.path.display()
        ))
    })
}

fn step(reader: &LogReader, step: CompactionStep, path: &Path) -> Result<()> {
    reader
        .shared
        .io
        .compaction_step(step)
        .io_context("compaction step of", path)
}

/// Writes header, marker and the kept frames (copied byte for byte: their checksums stay
/// valid) to `temp`, and fsyncs it. Returns the file, the moves and the length.
fn write_segment(
    reader: &LogReader,
    new_id: u32,
    temp: &Path,
    placement: Placement,
    old_bytes: &[u8],
    kept: &[(FrameHeader, usize)],
) -> Result<(File, Vec<Moved>, u64)> {
    let io = &reader.shared.io;
    let file = io
        .open(temp, OpenMode::CreateNew)
        .io_context("create compacted segment", temp)?;
    let mut buf = Vec::with_capacity(1 << 20);
    buf.extend_from_slice(&segment::encode_header(new_id));
    encode_marker(placement, &mut buf)?;
    let mut offset = 0u64;
    let mut moved = Vec::with_capacity(kept.len());
    for (header, from) in kept {
        let len = header.frame_len as usize;
        let to = offset + buf.len() as u64;
        buf.extend_from_slice(&old_bytes[*from..*from + len]);
        moved.push(Moved {
            header: *header,
            from: Location {
                segment: placement.replaces.unwrap_or_default(),
                offset: *from as u64,
                len: header.frame_len,
            },
            to: Location {
                segment: new_id,
                offset: to,
                len: header.frame_len,
            },
        });
        if buf.len() >= 1 << 20 {
            crate::io::write_all_at(io.as_ref(), temp, &file, offset, &buf)
                .io_context("write compacted segment", temp)?;
            offset += buf.len() as u64;
            buf.clear();
        }
    }
    crate::io::write_all_at(io.as_ref(), temp, &file, offset, &buf)
        .io_context("write compacted segment", temp)?;
    offset += buf.len() as u64;
    io.sync_data(temp, &file)
        .io_context("fdatasync compacted segment", temp)?;
    Ok((file, moved, offset))
}
