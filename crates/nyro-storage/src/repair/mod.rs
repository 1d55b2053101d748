//! `repair`: the operator's explicit way to keep what can be kept of a damaged data
//! directory (docs/OPERATIONS.md, docs/FORMAT.md section 8).
//!
//! It walks every frame of every segment in log order, as `verify` does (hint files are not
//! trusted). Each damaged range that open refuses (media corruption: damage that intact
//! frames follow, or damage in a sealed segment) is copied into `DIR/lost+found/` and
//! described in `DIR/lost+found/REPORT.json`; then each segment that holds one is rewritten
//! without it, keeping every intact frame byte for byte, and hint files that cannot be
//! trusted are removed (the segment is the truth; the database writes new ones). A torn tail
//! of the newest segment is left as it is: open cuts it off, as after any crash. What the
//! records mean is not this crate's business: a [`RecordMeaning`] from the layer above may
//! ask for records to be written in place of a lost range (nyro-core puts back a lost
//! create or drop collection, so that the log still replays).
//!
//! A rewritten segment is written like a compacted one (docs/FORMAT.md section 4.5): under a
//! new file number, starting with a marker frame that takes over the old segment's place in
//! the log and names it as the file it replaces. Frames move to new offsets in a new file,
//! so nothing that refers to the old offsets survives it: the old file's hint is removed with
//! it and the indexes are rebuilt on open. Crash safety: the new segment is written to
//! `compact-NNNNNNNNNN.tmp`, fdatasynced, renamed to its segment name and the directory
//! fsynced; only then is the old file removed. A crash before the rename leaves the old
//! segment and a temporary file that open deletes; a crash after it leaves both, and open (or
//! the next repair) removes the replaced one. The lost ranges and the report are written (and
//! fsynced) before any segment is replaced, so no byte is ever gone without being in
//! `lost+found`. Every file effect goes through the [`LogIo`] seam ([`repair_with_io`]); one
//! that fails stops the repair with an error naming the file, leaving the directory as a crash
//! at that point would (docs/RELIABILITY.md, "Filesystem failures"), and running it again
//! finishes the job.

mod lost_found;
mod survey;

use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::frame::{FrameHeader, Record, RecordKind};
use crate::io::{LogIo, OpenMode, OsIo, replace_file};
use crate::lock::DirLock;
use crate::segment::{self, Placement, SEGMENT_HEADER_LEN};
use survey::{Survey, Surveyed};

pub use lost_found::{LOST_FOUND_DIR, REPORT_FILE};

/// What the records mean, which the storage layer does not know: the layer above supplies it
/// (nyro-core keeps the collections consistent with it), so that a repaired log still
/// replays when a lost range held a record that later records depend on.
pub trait RecordMeaning {
    /// Follows one intact record frame that repair keeps, in log order (hint files are not
    /// used). Returns the records that must come before it for the log to replay; repair
    /// writes them in place of the last lost range before this frame (none are written
    /// where no range was lost before it: the log was like that already).
    fn follow(&mut self, header: &FrameHeader, payload: &[u8]) -> Vec<AddedRecord>;

    /// Called once every frame was followed, with every record to be added (to fill in what
    /// only the whole log tells, e.g. a name no collection of the log uses).
    fn finish(&mut self, added: &mut [&mut AddedRecord]) {
        let _ = added;
    }

    /// The name of a collection, for the report, if the log gives one.
    fn collection_name(&self, collection: u32) -> Option<String> {
        let _ = collection;
        None
    }
}

/// Records mean nothing to repair: it adds none and names no collection.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMeaning;

impl RecordMeaning for NoMeaning {
    fn follow(&mut self, _: &FrameHeader, _: &[u8]) -> Vec<AddedRecord> {
        Vec::new()
    }
}

/// A record that repair writes in place of a lost range (see [`RecordMeaning`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedRecord {
    /// What the record is.
    pub kind: RecordKind,
    /// Its collection id.
    pub collection: u32,
    /// Its record id.
    pub id: u64,
    /// Its sequence number: set by repair to that of the last intact record before the
    /// lost range (0 if none), as create and drop frames repeat the last one.
    pub seq: u64,
    /// Its payload.
    pub payload: Vec<u8>,
    /// What it is and why it was added, for people (the report prints it).
    pub note: String,
}

impl AddedRecord {
    /// Appends the record's frame to `out`.
    fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        if self.payload.len() > crate::frame::MAX_PAYLOAD_LEN {
            return Err(crate::StorageError::RecordTooLarge {
                id: self.id,
                len: self.payload.len(),
                max: crate::frame::MAX_PAYLOAD_LEN,
            });
        }
        crate::frame::encode(
            &Record {
                kind: self.kind,
                collection: self.collection,
                id: self.id,
                seq: self.seq,
                payload: &self.payload,
                continues: false,
            },
            out,
        );
        Ok(())
    }
}

/// An intact record frame next to a lost range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// The segment file number it is in (before the repair).
    pub segment: u32,
    /// Its offset in that file (before the repair).
    pub offset: u64,
    /// What the record is.
    pub kind: RecordKind,
    /// Its collection id.
    pub collection: u32,
    /// The collection's name, when the log still holds the frame that created it.
    pub collection_name: Option<String>,
    /// The record id.
    pub id: u64,
    /// Its sequence number.
    pub seq: u64,
}

/// One damaged byte range, moved to `lost+found`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostRange {
    /// The segment file number.
    pub segment: u32,
    /// The segment file it was in.
    pub segment_file: PathBuf,
    /// Offset of its first byte in that file.
    pub offset: u64,
    /// Its length in bytes (up to the next intact frame, or the end of the file).
    pub len: u64,
    /// What is wrong at `offset`.
    pub detail: String,
    /// CRC-32C of the bytes (of the `lost+found` file).
    pub crc32c: u32,
    /// The file in `lost+found` holding the bytes.
    pub file: PathBuf,
    /// The last intact record before it in log order, if any.
    pub before: Option<Neighbour>,
    /// The first intact record after it in log order, if any.
    pub after: Option<Neighbour>,
    /// Records repair wrote in its place so that the log still replays (see
    /// [`RecordMeaning`]).
    pub added: Vec<AddedRecord>,
}

/// A segment rewritten without its lost ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewrittenSegment {
    /// The damaged segment's file number (the file is gone).
    pub old: u32,
    /// The new segment's file number.
    pub new: u32,
    /// The place in the log it takes (that of the old one).
    pub position: u32,
    /// The highest sequence number that may be missing because of the loss (docs/FORMAT.md
    /// section 4.5): a change-feed replay from before it is refused.
    pub history_floor: u64,
    /// Size of the old file.
    pub bytes_before: u64,
    /// Size of the new file.
    pub bytes_after: u64,
}

/// What [`repair`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Segment files checked.
    pub segments: usize,
    /// Intact record frames, all kept.
    pub frames: u64,
    /// Bytes in all segment files before the repair.
    pub bytes: u64,
    /// Every damaged range moved to `lost+found`, in log order.
    pub lost: Vec<LostRange>,
    /// Every segment rewritten without its damaged ranges.
    pub rewritten: Vec<RewrittenSegment>,
    /// Hint files removed because they could not be trusted.
    pub hints_removed: Vec<PathBuf>,
    /// `lost+found/REPORT.json`, if this run added to it (it does when something was lost).
    pub report_file: Option<PathBuf>,
}

impl RepairReport {
    /// True if the repair changed anything; false for a healthy directory.
    pub fn changed(&self) -> bool {
        !(self.lost.is_empty() && self.rewritten.is_empty() && self.hints_removed.is_empty())
    }

    /// Bytes moved to `lost+found`.
    pub fn lost_bytes(&self) -> u64 {
        self.lost.iter().map(|r| r.len).sum()
    }
}

/// Repairs the data directory `dir` (see the module docs); changes nothing if it is healthy.
/// Takes the directory lock, so it refuses a directory that a running database holds.
/// Records mean nothing to it ([`NoMeaning`]); see [`repair_with`].
pub fn repair(dir: impl AsRef<Path>) -> Result<RepairReport> {
    repair_with(dir, &mut || NoMeaning, &mut |_, _| {})
}

/// [`repair`], with what the records mean (`meaning` makes a fresh one for each walk over
/// the log), calling `progress(bytes_checked, bytes_total)` as it reads the segments.
pub fn repair_with<M: RecordMeaning>(
    dir: impl AsRef<Path>,
    meaning: &mut dyn FnMut() -> M,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RepairReport> {
    repair_with_io(dir, &OsIo, meaning, progress)
}

/// [`repair_with`], with every file effect (creating, writing, fdatasyncing, renaming and
/// removing files, creating `lost+found`, directory fsyncs) done through `io`: the
/// operating system's ([`OsIo`]) or a test's. Reads bypass it, as the log's do.
pub fn repair_with_io<M: RecordMeaning>(
    dir: impl AsRef<Path>,
    io: &dyn LogIo,
    meaning: &mut dyn FnMut() -> M,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RepairReport> {
    let dir = dir.as_ref();
    let _lock = DirLock::acquire(dir)?;
    let files = segment::list(dir)?;
    let mut found = survey::survey(dir, files.clone(), &mut meaning(), progress)?;
    if found.is_healthy() {
        return Ok(summary(&found));
    }
    // Settle the directory as open does (an interrupted compaction's or repair's files);
    // look again if that removed anything.
    let settled: Vec<(u32, PathBuf)> = crate::compact::settle(io, dir)?
        .into_iter()
        .map(|(id, path, _)| (id, path))
        .collect();
    if settled.len() != files.len() {
        drop(found);
        found = survey::survey(dir, settled, &mut meaning(), progress)?;
    }
    let mut report = summary(&found);
    if found.is_healthy() {
        return Ok(report);
    }
    let plan = plan(&found)?;
    report.rewritten = plan.iter().map(|p| p.rewritten.clone()).collect();
    report.hints_removed = hints_removed(dir, &found);
    if !found.lost.is_empty() {
        let lost_found = lost_found::LostFound::create(io, dir)?;
        for range in &mut report.lost {
            let seg = found
                .segments
                .iter()
                .find(|s| s.id == range.segment)
                .map(Surveyed::bytes)
                .unwrap_or_default();
            let bytes = &seg[range.offset as usize..(range.offset + range.len) as usize];
            range.file = lost_found.keep(range, bytes)?;
        }
        lost_found.sync()?;
        report.report_file = Some(lost_found.append_report(&report)?);
    }
    for step in &plan {
        rewrite(io, dir, &found, step)?;
    }
    // The hints of rewritten segments went with them.
    for hint in &report.hints_removed {
        remove_if_there(io, hint, "remove damaged hint")?;
    }
    segment::sync_dir(io, dir)?;
    Ok(report)
}

/// The report of a survey, before anything is done.
fn summary(found: &Survey) -> RepairReport {
    RepairReport {
        segments: found.segments.len(),
        frames: found.frames,
        bytes: found.bytes,
        lost: found.lost.clone(),
        ..RepairReport::default()
    }
}

/// The hint files to remove: those that cannot be trusted, and those of segments being
/// rewritten (their offsets are about to change).
fn hints_removed(dir: &Path, found: &Survey) -> Vec<PathBuf> {
    found
        .segments
        .iter()
        .flat_map(|s| {
            let lost = found.lost.iter().any(|r| r.segment == s.id);
            let hint = (s.bad_hint || lost).then(|| dir.join(crate::hint_file_name(s.id)));
            // A clean close's hint describes the bytes as they were: not once some are lost.
            let active = lost.then(|| dir.join(crate::hint::active_hint_file_name(s.id)));
            hint.into_iter().chain(active)
        })
        .filter(|hint| hint.exists())
        .collect()
}

/// One segment to rewrite.
struct Step {
    rewritten: RewrittenSegment,
    /// What the new file holds after its header and marker, in order.
    parts: Vec<Part>,
}

/// A part of a rewritten segment.
enum Part {
    /// The bytes `[from, to)` of the old file (intact frames).
    Copy(u64, u64),
    /// Frames that repair adds.
    Add(Vec<u8>),
}

/// Decides the new file numbers, places, history floors and kept bytes of every segment
/// that has a lost range.
fn plan(found: &Survey) -> Result<Vec<Step>> {
    let mut next_id = found.segments.iter().map(|s| s.id).max().unwrap_or(0);
    let mut steps = Vec::new();
    for seg in &found.segments {
        let lost: Vec<_> = found.lost.iter().filter(|r| r.segment == seg.id).collect();
        if lost.is_empty() {
            continue;
        }
        next_id += 1;
        // The lost records' sequence numbers lie below the next intact record's (a
        // catalog record, a create or drop of a collection or an index, repeats the last
        // one); at the end of the log (or before
        // a Raft frame) they are unknown, and the highest seen is the best bound there is.
        let floor = lost
            .iter()
            .map(|r| match &r.after {
                Some(n)
                    if matches!(
                        n.kind,
                        RecordKind::CreateCollection
                            | RecordKind::DropCollection
                            | RecordKind::AddIndex
                            | RecordKind::DropIndex
                    ) =>
                {
                    n.seq
                }
                Some(n) if !n.kind.is_raft() => n.seq.saturating_sub(1),
                // At the end of the log, or before a Raft frame (whose seq is a log index).
                _ => found.max_seq,
            })
            .fold(seg.placement.history_floor, u64::max);
        let mut parts = Vec::new();
        let mut cursor = SEGMENT_HEADER_LEN as u64 + seg.marker_len;
        for range in &lost {
            if range.offset > cursor {
                parts.push(Part::Copy(cursor, range.offset));
            }
            cursor = cursor.max(range.offset + range.len);
            let mut added = Vec::new();
            for record in &range.added {
                record.encode(&mut added)?;
            }
            if !added.is_empty() {
                parts.push(Part::Add(added));
            }
        }
        if seg.len > cursor {
            parts.push(Part::Copy(cursor, seg.len));
        }
        let kept: u64 = parts
            .iter()
            .map(|part| match part {
                Part::Copy(from, to) => to - from,
                Part::Add(bytes) => bytes.len() as u64,
            })
            .sum();
        let mut marker = Vec::new();
        let placement = Placement {
            position: seg.placement.position,
            replaces: Some(seg.id),
            history_floor: floor,
        };
        crate::compact::encode_marker(placement, &mut marker)?;
        let marker_len = marker.len() as u64;
        steps.push(Step {
            rewritten: RewrittenSegment {
                old: seg.id,
                new: next_id,
                position: placement.position,
                history_floor: floor,
                bytes_before: seg.len,
                bytes_after: SEGMENT_HEADER_LEN as u64 + marker_len + kept,
            },
            parts,
        });
    }
    Ok(steps)
}

/// Removes `path` through `io` unless it is already gone.
fn remove_if_there(io: &dyn LogIo, path: &Path, op: &'static str) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    match io.remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).io_context(op, path),
        _ => Ok(()),
    }
}

/// Writes the new segment of `step` (temporary file, fdatasync, rename, directory fsync),
/// then removes the old one and its hint (directory fsync). On a failure before the rename
/// the temporary file is removed (if that fails too, the next open or repair removes it).
fn rewrite(io: &dyn LogIo, dir: &Path, found: &Survey, step: &Step) -> Result<()> {
    let done = &step.rewritten;
    let Some(old) = found.segments.iter().find(|s| s.id == done.old) else {
        return Ok(());
    };
    let bytes = old.bytes();
    let temp = crate::compact::temp_path(dir, done.new);
    let path = dir.join(segment::file_name(done.new));
    let mut head = segment::encode_header(done.new).to_vec();
    crate::compact::encode_marker(
        Placement {
            position: done.position,
            replaces: Some(done.old),
            history_floor: done.history_floor,
        },
        &mut head,
    )?;
    let parts = step.parts.iter().map(|part| match part {
        Part::Copy(from, to) => &bytes[*from as usize..*to as usize],
        Part::Add(frames) => frames.as_slice(),
    });
    let parts: Vec<&[u8]> = std::iter::once(head.as_slice()).chain(parts).collect();
    replace_file(io, &temp, &path, OpenMode::CreateNew, &parts)?;
    segment::sync_dir(io, dir)?;
    tracing::info!(old = %old.path.display(), new = %path.display(),
        bytes_before = done.bytes_before, bytes_after = done.bytes_after, "segment repaired");
    io.remove_file(&old.path)
        .io_context("remove replaced segment", &old.path)?;
    for hint in [
        crate::hint_file_name(done.old),
        crate::hint::active_hint_file_name(done.old),
    ] {
        remove_if_there(io, &dir.join(hint), "remove hint of replaced segment")?;
    }
    segment::sync_dir(io, dir)
}
