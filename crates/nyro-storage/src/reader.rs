//! The read side: zero-copy reads by location and iteration in log order. Cheap to clone
//! and safe to use from any number of threads while the writer appends.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::error::{Result, StorageError};
use crate::frame::{self, FrameCheck, FrameHeader, HEADER_LEN, RecordKind};
use crate::hint::Hint;
use crate::io::LogIo;
use crate::lock::DirLock;
use crate::mmap::Mapping;
use crate::segment::{self, SEGMENT_HEADER_LEN, Segment};
use crate::table::SegmentTable;

/// Where a record's frame lies: segment id, byte offset in the segment file, frame length.
/// 16 bytes, so that a primary index entry stays small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// The segment id (the number in the file name).
    pub segment: u32,
    /// The frame's byte offset within the segment file.
    pub offset: u64,
    /// The frame's length, header included.
    pub len: u32,
}

/// Size and place of one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Segment id (the file number).
    pub id: u32,
    /// Its place in the log (its id, or for a compacted segment the place it took over).
    pub position: u32,
    /// Its file.
    pub path: PathBuf,
    /// Bytes of header and complete frames.
    pub bytes: u64,
    /// Bytes of frames reported dead with [`LogReader::mark_dead`].
    pub dead_bytes: u64,
    /// True for the segment being appended to (never compacted).
    pub active: bool,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    /// The segments and which one is active, published together.
    pub(crate) segments: ArcSwap<SegmentTable>,
    /// The next file number to hand out (to a new active segment or a compacted one).
    pub(crate) next_id: AtomicU32,
    /// The I/O seam, for compaction's and hints' file effects.
    pub(crate) io: Arc<dyn LogIo>,
    /// Why the log refuses writes, once it does: set by the writer (a failed fdatasync, a
    /// failed write that could not be cut back, ...) or by compaction (a failed fdatasync of
    /// the active segment). Never cleared: only a reopen recovers.
    pub(crate) poisoned: OnceLock<String>,
    /// Only one compaction at a time.
    pub(crate) compacting: Mutex<()>,
    /// The hints open checked (a sealed segment is not scanned when it has one), kept so
    /// that replay does not read and check them again; released by
    /// [`LogReader::release_open_hints`].
    pub(crate) open_hints: Mutex<HashMap<u32, Arc<Hint>>>,
    pub(crate) _lock: DirLock,
}

/// A checked frame, borrowed from the segment's map (no copy). Holding it keeps that map
/// alive, even if the segment is later sealed or removed.
#[derive(Debug, Clone)]
pub struct Frame {
    map: Arc<Mapping>,
    end: u64,
    location: Location,
    header: FrameHeader,
}

impl Frame {
    /// The header fields.
    pub fn header(&self) -> &FrameHeader {
        &self.header
    }

    /// Where the frame lies.
    pub fn location(&self) -> Location {
        self.location
    }

    /// The payload bytes, straight from the map.
    pub fn payload(&self) -> &[u8] {
        let start = self.location.offset as usize + HEADER_LEN;
        let stop = self.location.offset as usize + self.location.len as usize;
        &self.map.bytes(self.end)[start..stop]
    }
}

/// The [`StorageError::BadLocation`] reason for a location whose segment is gone (compacted
/// away): the caller should look the record up again.
pub const NO_SUCH_SEGMENT: &str = "no such segment";

/// The [`StorageError::BadLocation`] reason for a location whose bytes do not start with its
/// frame length. For a location the index above got from this log (or from a trusted hint),
/// that is a damaged length field: media corruption.
pub const LENGTH_MISMATCH: &str = "no frame of that length starts there";

fn bad_location(location: Location, reason: &'static str) -> StorageError {
    StorageError::BadLocation {
        segment: location.segment,
        offset: location.offset,
        len: location.len,
        reason,
    }
}

/// A shared handle for reading the log. Clone it freely.
#[derive(Debug, Clone)]
pub struct LogReader {
    pub(crate) shared: Arc<Shared>,
}

impl LogReader {
    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Finds the segment of `location` in the current table.
    fn find(table: &SegmentTable, location: Location) -> Result<&Arc<Segment>> {
        table
            .get(location.segment)
            .ok_or_else(|| bad_location(location, NO_SUCH_SEGMENT))
    }

    /// Checks the frame at `location` within `bytes`, the segment's readable bytes.
    fn check_at(segment: &Segment, bytes: &[u8], location: Location) -> Result<FrameHeader> {
        let bad = |reason| bad_location(location, reason);
        let stop = location
            .offset
            .checked_add(u64::from(location.len))
            .ok_or(bad("offset overflows"))?;
        if location.offset < SEGMENT_HEADER_LEN as u64 || stop > bytes.len() as u64 {
            return Err(bad("outside the segment's frames"));
        }
        if (location.len as usize) < HEADER_LEN {
            return Err(bad("shorter than a frame header"));
        }
        let bytes = &bytes[location.offset as usize..stop as usize];
        // A location this log handed out starts with the frame's own length field. Bytes that
        // say otherwise mean a location that is not one of ours (or a damaged length field,
        // which open and verify report as corruption); either way nothing is returned.
        if bytes[..4] != location.len.to_le_bytes() {
            return Err(bad(LENGTH_MISMATCH));
        }
        match frame::check(bytes) {
            FrameCheck::Complete(header) if header.frame_len == location.len => Ok(header),
            FrameCheck::Complete(_) => Err(bad("a frame starts there with another length")),
            FrameCheck::Incomplete(defect) | FrameCheck::Invalid(defect) => {
                Err(StorageError::Corrupt {
                    path: segment.path.clone(),
                    offset: location.offset,
                    defect,
                })
            }
        }
    }

    /// Reads the frame at `location`, checking its checksum. Zero-copy: the returned frame
    /// points into the segment's map and keeps it alive.
    pub fn read(&self, location: Location) -> Result<Frame> {
        let table = self.shared.segments.load();
        let segment = Self::find(&table, location)?;
        let (map, end) = segment.readable();
        let header = Self::check_at(segment, map.bytes(end), location)?;
        Ok(Frame {
            map,
            end,
            location,
            header,
        })
    }

    /// Checks the frame at `location` and calls `f` with its header and payload, borrowed
    /// from the map. Cheaper than [`LogReader::read`] when the payload is decoded at once:
    /// it touches no shared reference count, so concurrent readers do not contend.
    pub fn read_with<R>(
        &self,
        location: Location,
        f: impl FnOnce(&FrameHeader, &[u8]) -> R,
    ) -> Result<R> {
        let table = self.shared.segments.load();
        let segment = Self::find(&table, location)?;
        let (map, end) = segment.readable_borrowed();
        Self::read_in(segment, map.bytes(end), location, f)
    }

    /// Checks the frame at `location` within `bytes`, the readable bytes of `segment`, and
    /// calls `f` with its header and payload.
    fn read_in<R>(
        segment: &Segment,
        bytes: &[u8],
        location: Location,
        f: impl FnOnce(&FrameHeader, &[u8]) -> R,
    ) -> Result<R> {
        let header = Self::check_at(segment, bytes, location)?;
        let payload = &bytes[location.offset as usize + HEADER_LEN
            ..location.offset as usize + location.len as usize];
        Ok(f(&header, payload))
    }

    /// A reader of many locations against the segment table as it is now: one load of the
    /// table for all of them, and the map of the segment read last kept at hand, so reading
    /// a run of locations in one segment touches no shared state per read. Each frame is
    /// checked as [`LogReader::read_with`] checks it.
    ///
    /// Take it after the locations to read were taken from the index: a location handed
    /// out before the table was loaded is in it (its segment may be retired meanwhile,
    /// which the snapshot keeps readable), while one handed out later may name a segment
    /// it does not hold ([`NO_SUCH_SEGMENT`]). Holding it keeps the maps of the segments
    /// it read alive (also ones compaction retires meanwhile): hold it for a batch of
    /// reads, not for long.
    pub fn snapshot(&self) -> ReadSnapshot {
        ReadSnapshot {
            table: self.shared.segments.load_full(),
            current: None,
        }
    }

    /// Every record frame in log order (segment by segment, in append order within a
    /// segment), as the log is when each segment is reached; compaction markers are skipped. Each frame's checksum is checked; a bad one
    /// ends the iteration with an error.
    pub fn iter(&self) -> LogIter {
        LogIter {
            segments: self.shared.segments.load().visible().cloned().collect(),
            next_segment: 0,
            current: None,
        }
    }

    /// The frames of segment `id` (`None` if it is gone), to iterate with payloads borrowed
    /// from its map rather than a reference-counted [`Frame`] each.
    pub fn segment_frames(&self, id: u32) -> Option<SegmentFrames> {
        self.segment_frames_from(id, SEGMENT_HEADER_LEN as u64)
    }

    /// Like [`LogReader::segment_frames`], from the frame at byte `offset` on (the end of
    /// what a hint describes: [`crate::Hint::covered`]).
    pub fn segment_frames_from(&self, id: u32, offset: u64) -> Option<SegmentFrames> {
        let segment = self.shared.segments.load().get(id).cloned()?;
        let (map, end) = segment.readable();
        let start = usize::try_from(offset.max(SEGMENT_HEADER_LEN as u64)).ok()?;
        Some(SegmentFrames {
            segment,
            map,
            end,
            start,
        })
    }

    /// Every record frame of segment `id` (none if it is gone), as [`LogReader::iter`] does.
    pub fn iter_segment(&self, id: u32) -> LogIter {
        LogIter {
            segments: self
                .shared
                .segments
                .load()
                .get(id)
                .cloned()
                .into_iter()
                .collect(),
            next_segment: 0,
            current: None,
        }
    }

    /// Reports the frame at `location` as no longer needed (replaced, deleted, dropped): it
    /// counts toward its segment's dead bytes, which decide what compaction rewrites.
    pub fn mark_dead(&self, location: Location) {
        if let Some(segment) = self.shared.segments.load().get(location.segment) {
            segment
                .dead
                .fetch_add(u64::from(location.len), Ordering::Relaxed);
        }
    }

    /// The segments readers see, in log order. Taken from one table, so exactly one of them
    /// is `active`, and it is the last (a segment being sealed is never shown beside its
    /// successor with neither or both marked active).
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let table = self.shared.segments.load();
        let active = table.active();
        table
            .visible()
            .map(|s| SegmentInfo {
                id: s.id,
                position: s.position,
                path: s.path.clone(),
                bytes: s.end(),
                dead_bytes: s.dead.load(Ordering::Relaxed),
                active: s.id == active,
            })
            .collect()
    }

    /// The sealed segments readers see, in log order: every segment before the active one,
    /// from the same table as the active one. They are complete and never change again
    /// (only compaction replaces one whole; hold it off to keep the list valid).
    pub fn sealed_segments(&self) -> Vec<SegmentInfo> {
        let mut segments = self.segments();
        segments.retain(|s| !s.active);
        segments
    }

    /// Why the log refuses writes, if it does (see [`crate::Log::poisoned`]).
    pub fn poisoned(&self) -> Option<&str> {
        self.shared.poisoned.get().map(String::as_str)
    }

    /// Poisons the log (keeping the first reason) and returns the error that says so.
    pub(crate) fn poison(&self, reason: String) -> StorageError {
        let _ = self.shared.poisoned.set(reason);
        let reason = self.shared.poisoned.get().cloned().unwrap_or_default();
        tracing::error!(%reason, "log poisoned: refusing all further writes");
        StorageError::Poisoned { reason }
    }

    /// The oldest format version among the segments readers see (docs/FORMAT.md section 7).
    /// Version 1 wrote every update as a put, so a reader that tells inserts from updates
    /// must remember the ids it has seen while the log holds such a segment.
    pub fn oldest_format_version(&self) -> u32 {
        self.shared
            .segments
            .load()
            .visible()
            .filter_map(|segment| {
                let (map, end) = segment.readable_borrowed();
                segment::header_version(map.bytes(end))
            })
            .min()
            .unwrap_or(segment::FORMAT_VERSION)
    }

    /// Highest sequence number compaction has dropped from the log (0 if none): the change
    /// feed cannot replay changes at or before it.
    pub fn history_floor(&self) -> u64 {
        self.shared
            .segments
            .load()
            .all()
            .iter()
            .map(|s| s.history_floor)
            .max()
            .unwrap_or(0)
    }
}

/// The frames of one segment as it was when taken: see [`LogReader::segment_frames`].
#[derive(Debug)]
pub struct SegmentFrames {
    segment: Arc<Segment>,
    map: Arc<Mapping>,
    end: u64,
    start: usize,
}

impl SegmentFrames {
    /// Every record frame (compaction markers skipped), in order, each checked: header,
    /// location and payload. A bad frame ends the iteration with an error, as
    /// [`LogReader::iter`] does.
    pub fn iter(&self) -> impl Iterator<Item = Result<(FrameHeader, Location, &[u8])>> + '_ {
        let bytes = self.map.bytes(self.end);
        let mut pos = Some(self.start);
        std::iter::from_fn(move || {
            loop {
                let at = pos.filter(|&at| at < bytes.len())?;
                match frame::check(&bytes[at..]) {
                    FrameCheck::Complete(header) => {
                        let stop = at + header.frame_len as usize;
                        pos = Some(stop);
                        if header.kind == RecordKind::CompactionMarker {
                            continue;
                        }
                        let location = Location {
                            segment: self.segment.id,
                            offset: at as u64,
                            len: header.frame_len,
                        };
                        return Some(Ok((header, location, &bytes[at + HEADER_LEN..stop])));
                    }
                    FrameCheck::Incomplete(defect) | FrameCheck::Invalid(defect) => {
                        pos = None;
                        return Some(Err(StorageError::Corrupt {
                            path: self.segment.path.clone(),
                            offset: at as u64,
                            defect,
                        }));
                    }
                }
            }
        })
    }
}

/// Reads many locations against one segment table; see [`LogReader::snapshot`].
#[derive(Debug)]
pub struct ReadSnapshot {
    table: Arc<SegmentTable>,
    /// The segment read last, its map and how far that map was readable when loaded.
    current: Option<(Arc<Segment>, Arc<Mapping>, u64)>,
}

impl ReadSnapshot {
    /// Checks the frame at `location` and calls `f` with its header and payload, borrowed
    /// from the map, as [`LogReader::read_with`] does, but against this snapshot's table.
    pub fn read_with<R>(
        &mut self,
        location: Location,
        f: impl FnOnce(&FrameHeader, &[u8]) -> R,
    ) -> Result<R> {
        let stop = location.offset.saturating_add(u64::from(location.len));
        let fresh = match &self.current {
            Some((segment, _, end)) => segment.id != location.segment || stop > *end,
            None => true,
        };
        if fresh {
            // A segment not read before, or the active one grown since: load its map anew.
            let segment = LogReader::find(&self.table, location)?;
            let (map, end) = segment.readable();
            self.current = Some((Arc::clone(segment), map, end));
        }
        match &self.current {
            Some((segment, map, end)) => LogReader::read_in(segment, map.bytes(*end), location, f),
            None => Err(bad_location(location, NO_SUCH_SEGMENT)),
        }
    }
}

struct Cursor {
    segment: Arc<Segment>,
    map: Arc<Mapping>,
    end: u64,
    pos: u64,
}

/// Iterator over every frame of the log; see [`LogReader::iter`].
pub struct LogIter {
    segments: Vec<Arc<Segment>>,
    next_segment: usize,
    current: Option<Cursor>,
}

impl Iterator for LogIter {
    type Item = Result<Frame>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some(cursor) = &mut self.current else {
                let segment = Arc::clone(self.segments.get(self.next_segment)?);
                self.next_segment += 1;
                let (map, end) = segment.readable();
                self.current = Some(Cursor {
                    segment,
                    map,
                    end,
                    pos: SEGMENT_HEADER_LEN as u64,
                });
                continue;
            };
            if cursor.pos >= cursor.end {
                self.current = None;
                continue;
            }
            let bytes = &cursor.map.bytes(cursor.end)[cursor.pos as usize..];
            return Some(match frame::check(bytes) {
                // The marker describes the segment, not a record: readers of the log never
                // see it.
                FrameCheck::Complete(header) if header.kind == RecordKind::CompactionMarker => {
                    cursor.pos += u64::from(header.frame_len);
                    continue;
                }
                FrameCheck::Complete(header) => {
                    let location = Location {
                        segment: cursor.segment.id,
                        offset: cursor.pos,
                        len: header.frame_len,
                    };
                    cursor.pos += u64::from(header.frame_len);
                    Ok(Frame {
                        map: Arc::clone(&cursor.map),
                        end: cursor.end,
                        location,
                        header,
                    })
                }
                FrameCheck::Incomplete(defect) | FrameCheck::Invalid(defect) => {
                    let error = StorageError::Corrupt {
                        path: cursor.segment.path.clone(),
                        offset: cursor.pos,
                        defect,
                    };
                    // Stop for good: nothing after a bad frame can be trusted to be aligned.
                    self.next_segment = self.segments.len();
                    self.current = None;
                    Err(error)
                }
            });
        }
    }
}
