//! Opening (with recovery) and appending: the single writer of a log.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::error::{IoContext, Result, StorageError};
use crate::frame::{self, MAX_PAYLOAD_LEN, Record};
use crate::hint::Hint;
use crate::io::{LogIo, OpenMode, OsIo};
use crate::lock::DirLock;
use crate::mmap::Mapping;
use crate::reader::{Location, LogReader, Shared};
use crate::scan::scan_from;
use crate::segment::{self, Placement, SEGMENT_HEADER_LEN, Segment};
use crate::table::SegmentTable;

/// How a log is opened.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// An append that starts at or past this many bytes in the active segment first seals
    /// it and starts a new one (so a segment holds at most this plus one batch).
    pub segment_size: u64,
    /// The I/O seam for every filesystem effect (writes, fdatasyncs, creations, renames,
    /// removals, `set_len`, directory fsyncs); [`OsIo`] unless a test injects faults.
    pub io: Arc<dyn LogIo>,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            segment_size: 256 << 20,
            io: Arc::new(OsIo),
        }
    }
}

/// The bytes dropped from the end of the newest segment on open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub path: PathBuf,
    /// Where the dropped bytes began (the file's new length).
    pub offset: u64,
    /// How many bytes were dropped.
    pub dropped_bytes: u64,
    /// What was wrong at `offset`.
    pub defect: String,
}

/// What opening the log found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments found (or created).
    pub segments: usize,
    /// Intact frames found.
    pub frames: u64,
    /// Bytes of headers and intact frames.
    pub bytes: u64,
    /// Highest sequence number in the log.
    pub max_seq: Option<u64>,
    /// The torn tail cut off the newest segment, if there was one.
    pub torn_tail: Option<TornTail>,
    /// Sealed segments not read on open because a trustworthy hint describes them (their
    /// frames are not counted in `frames`).
    pub hinted_segments: usize,
    /// Bytes of frames at the start of the newest segment not read on open because the
    /// hint a clean close wrote describes them (not counted in `frames` either).
    pub hinted_active_bytes: u64,
}

impl RecoveryReport {
    /// Adds what opening some segments found (`other` has no torn tail: only the newest
    /// segment can have one).
    pub(crate) fn add(&mut self, other: RecoveryReport) {
        self.segments += other.segments;
        self.frames += other.frames;
        self.bytes += other.bytes;
        self.max_seq = self.max_seq.max(other.max_seq);
        self.torn_tail = self.torn_tail.take().or(other.torn_tail);
        self.hinted_segments += other.hinted_segments;
        self.hinted_active_bytes += other.hinted_active_bytes;
    }
}

/// The active segment: the only file that is written to.
#[derive(Debug)]
struct Active {
    segment: Arc<Segment>,
    file: File,
    /// Bytes in the file (header and complete frames).
    len: u64,
    /// Bytes known to be on stable storage.
    synced: u64,
}

/// An open log: the single writer, plus a [`LogReader`] for any number of readers.
///
/// Invariants: only this value writes segment files; a location is handed out only after the
/// `write` that stored its frame returned; after a failed fdatasync nothing is written again
/// (the poison is shared with [`LogReader`], whose compaction can set it too).
#[derive(Debug)]
pub struct Log {
    reader: LogReader,
    active: Active,
    options: LogOptions,
    recovery: RecoveryReport,
    /// Encoding buffer, reused by every append.
    buf: Vec<u8>,
}

impl Log {
    /// Opens (creating if needed) the log in `dir`, locks the directory, checks every frame
    /// of every segment, and cuts a torn tail off the newest segment.
    ///
    /// Fails with [`StorageError::Locked`] if another process holds `dir`, and with
    /// [`StorageError::Corrupt`] if any frame other than the newest segment's torn tail is
    /// damaged.
    pub fn open(dir: impl AsRef<Path>, options: LogOptions) -> Result<Self> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).io_context("create data directory", dir)?;
        let lock = DirLock::acquire(dir)?;
        let io = options.io.as_ref();
        let files = crate::compact::settle(io, dir)?;
        let ids: Vec<u32> = files.iter().map(|(id, _, _)| *id).collect();
        crate::hint::remove_orphans(io, dir, &ids)?;
        let mut report = RecoveryReport::default();
        let mut segments = Vec::with_capacity(files.len() + 1);
        let mut hints = HashMap::new();
        let mut active = None;
        let sealed = files.len().saturating_sub(1);
        for (segment, hint, found) in crate::sealed::open_all(&files[..sealed])? {
            report.add(found);
            hints.extend(hint.map(|hint| (segment.id, Arc::new(hint))));
            segments.push(segment);
        }
        if let Some((id, path, placement)) = files.last() {
            let (seg, file, end, hint) =
                recover_newest(*id, *placement, path, &options, &mut report)?;
            hints.extend(hint.map(|hint| (*id, Arc::new(hint))));
            active = Some(Active {
                segment: Arc::clone(&seg),
                file,
                len: end,
                synced: end,
            });
            segments.push(seg);
        }
        let max_id = files.iter().map(|(id, _, _)| *id).max().unwrap_or(0);
        let active = match active {
            Some(active) => active,
            None => {
                let active = create_segment(dir, max_id + 1, &options)?;
                segments.push(Arc::clone(&active.segment));
                report.bytes += active.len;
                report.segments += 1;
                active
            }
        };
        let table = SegmentTable::new(segments, active.segment.id);
        let reader = LogReader {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                next_id: AtomicU32::new(table.max_id() + 1),
                segments: ArcSwap::from_pointee(table),
                io: Arc::clone(&options.io),
                poisoned: OnceLock::new(),
                compacting: Mutex::new(()),
                open_hints: Mutex::new(hints),
                _lock: lock,
            }),
        };
        Ok(Self {
            reader,
            active,
            options,
            recovery: report,
            buf: Vec::new(),
        })
    }

    /// What opening found.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The read handle; clone it to read from other threads.
    pub fn reader(&self) -> &LogReader {
        &self.reader
    }

    /// Appends `records` with one `write` call and returns each record's location, in order.
    ///
    /// On failure nothing of the batch stays in the log (the partial bytes are cut back) and
    /// later appends may succeed. If the cut itself fails, or an fdatasync fails while
    /// sealing, the log is poisoned: see [`StorageError::Poisoned`].
    pub fn append(&mut self, records: &[Record<'_>]) -> Result<Vec<Location>> {
        self.check_poisoned()?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(big) = records.iter().find(|r| r.payload.len() > MAX_PAYLOAD_LEN) {
            return Err(StorageError::RecordTooLarge {
                id: big.id,
                len: big.payload.len(),
                max: MAX_PAYLOAD_LEN,
            });
        }
        if self.is_full() {
            self.seal()?;
        }
        let start = self.active.len;
        let segment_id = self.active.segment.id;
        self.buf.clear();
        let mut locations = Vec::with_capacity(records.len());
        for record in records {
            let offset = start + self.buf.len() as u64;
            frame::encode(record, &mut self.buf);
            locations.push(Location {
                segment: segment_id,
                offset,
                len: frame::frame_len(record) as u32,
            });
        }
        let end = start + self.buf.len() as u64;
        self.reserve(end)?;
        if let Err(source) = self.write_at(start) {
            self.cut_back(start)?;
            return Err(StorageError::WriteFailed {
                path: self.active.segment.path.clone(),
                offset: start,
                records: records.len(),
                bytes: self.buf.len(),
                source,
            });
        }
        self.active.len = end;
        self.active.segment.publish_end(end);
        if self.buf.capacity() > 64 << 20 {
            self.buf = Vec::new(); // do not keep a huge batch's buffer forever
        }
        Ok(locations)
    }

    /// Whether the active segment is full: the next [`Log::append`] seals it first (an
    /// fdatasync and a new segment file), which the batch writer leaves to its own thread.
    pub fn is_full(&self) -> bool {
        self.active.len >= self.options.segment_size
    }

    /// Makes everything appended so far durable with one fdatasync of the active segment
    /// (earlier segments were synced when sealed). Does nothing if nothing is new.
    ///
    /// A failure poisons the log: the kernel may have dropped the dirty pages, so a retry
    /// could report success for lost data.
    pub fn sync(&mut self) -> Result<()> {
        self.check_poisoned()?;
        if self.active.synced == self.active.len {
            return Ok(());
        }
        let segment = &self.active.segment;
        if let Err(e) = self.options.io.sync_data(&segment.path, &self.active.file) {
            return Err(self.poison(format!(
                "fdatasync of {} failed: {e}",
                segment.path.display()
            )));
        }
        self.active.synced = self.active.len;
        Ok(())
    }

    /// Seals the active segment (fdatasync) and starts a new, empty one (created, its header
    /// synced, the directory fsynced). The new segment joins the table and becomes the active
    /// one in a single step.
    ///
    /// A failure to create the new segment fails only this call (later appends try again,
    /// with a new file number), except a failed fdatasync of its header or fsync of the
    /// directory, or a half-made file that cannot be removed: those poison the log.
    pub fn seal(&mut self) -> Result<()> {
        self.sync()?;
        let sealed = Arc::clone(&self.active.segment);
        let id = self.reader.shared.next_id.fetch_add(1, Ordering::AcqRel);
        let next =
            create_segment(&self.reader.shared.dir, id, &self.options).map_err(|e| match e {
                StorageError::Poisoned { reason } => self.poison(reason),
                other => other,
            })?;
        // Remap the sealed segment at its exact size: its reservation is no longer needed.
        // Readers holding the old map keep it until they drop it.
        if let Ok(exact) = Mapping::new(&self.active.file, sealed.end() as usize) {
            sealed.replace_map(exact);
        }
        let added = Arc::clone(&next.segment);
        self.reader
            .shared
            .segments
            .rcu(|table| table.with_active(Arc::clone(&added)));
        self.active = next;
        Ok(())
    }

    /// Why the log refuses writes, if it does.
    pub fn poisoned(&self) -> Option<&str> {
        self.reader.poisoned()
    }

    /// Bytes appended but not yet known to be durable.
    pub fn unsynced_bytes(&self) -> u64 {
        self.active.len - self.active.synced
    }

    fn check_poisoned(&self) -> Result<()> {
        match self.poisoned() {
            Some(reason) => Err(StorageError::Poisoned {
                reason: reason.to_string(),
            }),
            None => Ok(()),
        }
    }

    fn poison(&self, reason: String) -> StorageError {
        self.reader.poison(reason)
    }

    /// Makes sure the active segment's map covers `end` bytes, remapping if it does not.
    fn reserve(&mut self, end: u64) -> Result<()> {
        let segment = &self.active.segment;
        if end as usize <= segment.reserved() {
            return Ok(());
        }
        let map = Mapping::new(&self.active.file, reservation(end, &self.options))
            .io_context("map segment", &segment.path)?;
        segment.replace_map(map);
        Ok(())
    }

    /// Writes the encoded batch at `offset`, normally with a single `pwrite`.
    fn write_at(&self, offset: u64) -> io::Result<()> {
        let segment = &self.active.segment;
        let mut written = 0;
        while written < self.buf.len() {
            match self.options.io.write_at(
                &segment.path,
                &self.active.file,
                offset + written as u64,
                &self.buf[written..],
            ) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Cuts a failed batch's partial bytes off the active segment.
    fn cut_back(&mut self, len: u64) -> Result<()> {
        let segment = &self.active.segment;
        if let Err(e) = self
            .options
            .io
            .set_len(&segment.path, &self.active.file, len)
        {
            let path = self.active.segment.path.display().to_string();
            return Err(self.poison(format!(
                "a failed write left partial bytes at the end of {path} that could not be cut \
                 back ({e})"
            )));
        }
        Ok(())
    }
}

/// How much to map for an active segment that must hold `len` bytes: twice the larger of
/// that and the segment size, so remaps are rare. Address space is cheap; pages are not
/// touched until written.
fn reservation(len: u64, options: &LogOptions) -> usize {
    let want = len.max(options.segment_size).max(1 << 20).saturating_mul(2);
    usize::try_from(want).unwrap_or(usize::MAX)
}

/// Opens the newest segment for writing, cutting off a torn tail (or rewriting a header
/// whose creation was cut short) when nothing intact follows the damage. With a trustworthy
/// hint from a clean close (returned too, and its file removed: appends follow), the frames
/// it describes are only checked (on two threads), and the scan for a torn tail starts
/// after them.
fn recover_newest(
    id: u32,
    placement: Placement,
    path: &Path,
    options: &LogOptions,
    report: &mut RecoveryReport,
) -> Result<(Arc<Segment>, File, u64, Option<Hint>)> {
    let io = options.io.as_ref();
    let file = io
        .open(path, OpenMode::Existing)
        .io_context("open segment", path)?;
    let len = file.metadata().io_context("stat segment", path)?.len();
    let map = Mapping::new(&file, reservation(len, options)).io_context("map segment", path)?;
    let bytes = map.bytes(len);
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let hint_path = dir.join(crate::hint::active_hint_file_name(id));
    let mut hint = None;
    if hint_path.exists() {
        if segment::check_header(bytes, id).is_ok() {
            hint = crate::hint::trusted_active(dir, id, bytes);
        }
        // Taken now or never: appends follow, and a crash before the next clean close must
        // not find it (it would still be right, but only while nothing rewrites the
        // segment). A hint that cannot be removed is checked again next time.
        let _ = io.remove_file(&hint_path);
    }
    let end = if let Err(problem) = segment::check_header(bytes, id) {
        if frame::next_intact(bytes, SEGMENT_HEADER_LEN).is_some() {
            return Err(StorageError::BadSegmentHeader {
                path: path.to_path_buf(),
                reason: format!("{problem:?}, and intact frames follow it"),
            });
        }
        // Creating this segment was cut short: nothing was ever acknowledged in it.
        tracing::warn!(path = %path.display(), bytes = len, ?problem,
            "newest segment's header is incomplete; rewriting it");
        io.set_len(path, &file, 0)
            .io_context("truncate segment", path)?;
        write_header(id, path, &file, options)?;
        report.torn_tail = Some(TornTail {
            path: path.to_path_buf(),
            offset: 0,
            dropped_bytes: len,
            defect: format!("segment header: {problem:?}"),
        });
        SEGMENT_HEADER_LEN as u64
    } else {
        let start = hint
            .as_ref()
            .map_or(SEGMENT_HEADER_LEN as u64, Hint::covered);
        report.hinted_active_bytes = start - SEGMENT_HEADER_LEN as u64;
        let scan = scan_from(bytes, start as usize);
        report.frames += scan.frames;
        report.max_seq = report.max_seq.max(scan.max_seq);
        // The tail to drop: damage that nothing intact follows, and the first records of a
        // write whose last record is missing (a crash cut its one `write` short).
        let torn = match scan.damage {
            Some(damage) if damage.next_intact.is_some() => {
                return Err(StorageError::Corrupt {
                    path: path.to_path_buf(),
                    offset: damage.offset,
                    defect: damage.defect,
                });
            }
            Some(damage) => Some(damage.defect.to_string()),
            None if scan.write_end < scan.end => {
                Some("the last write is incomplete: its final records are missing".to_string())
            }
            None => None,
        };
        if let Some(reason) = &torn {
            cut_torn_tail(io, path, &file, (scan.write_end, len), reason, report)?;
        }
        // Frames a crashed writer never synced may sit only in the page cache; they were just
        // counted as recovered and the writer will take them as synced, so make them durable.
        options
            .io
            .sync_data(path, &file)
            .io_context("fsync segment", path)?;
        scan.write_end
    };
    report.segments += 1;
    report.bytes += end;
    let segment = Arc::new(Segment::new(id, placement, path.to_path_buf(), map, end));
    Ok((segment, file, end, hint))
}

/// Cuts the file from `len` bytes back to `end` and fsyncs it. A failure fails the open and
/// leaves the tail in place (an interrupted `ftruncate` leaves either length), so the next
/// open finds and cuts it again.
fn cut_torn_tail(
    io: &dyn LogIo,
    path: &Path,
    file: &File,
    (end, len): (u64, u64),
    defect: &str,
    report: &mut RecoveryReport,
) -> Result<()> {
    let dropped = len - end;
    tracing::warn!(path = %path.display(), offset = end, dropped_bytes = dropped, %defect,
        "dropping the torn tail of the newest segment");
    io.set_len(path, file, end)
        .io_context("truncate torn tail of", path)?;
    io.sync_all(path, file).io_context("fsync", path)?;
    report.torn_tail = Some(TornTail {
        path: path.to_path_buf(),
        offset: end,
        dropped_bytes: dropped,
        defect: defect.to_string(),
    });
    Ok(())
}

pub(crate) fn write_header(id: u32, path: &Path, file: &File, options: &LogOptions) -> Result<()> {
    let header = segment::encode_header(id);
    crate::io::write_all_at(options.io.as_ref(), path, file, 0, &header)
        .io_context("write segment header", path)?;
    options
        .io
        .sync_data(path, file)
        .map_err(|e| StorageError::Poisoned {
            reason: format!("fdatasync of new segment {} failed: {e}", path.display()),
        })
}

/// Creates segment `id` in `dir`: header written and synced, directory fsynced.
///
/// On failure the half-made file is removed. A failed fdatasync of the header or fsync of
/// the directory is [`StorageError::Poisoned`]: appends would go to a file whose bytes or
/// name may not survive a power cut, and a retried fsync may report success for what the
/// failed one lost. So is a half-made file that cannot be removed: if a later segment
/// followed it, the next open would find a sealed segment with a bad header.
fn create_segment(dir: &Path, id: u32, options: &LogOptions) -> Result<Active> {
    let io = options.io.as_ref();
    let path = dir.join(segment::file_name(id));
    let file = io
        .open(&path, OpenMode::CreateNew)
        .io_context("create segment", &path)?;
    let created = write_header(id, &path, &file, options).and_then(|()| {
        io.sync_dir(dir).map_err(|e| StorageError::Poisoned {
            reason: format!(
                "fsync of directory {} after creating {} failed: {e}",
                dir.display(),
                path.display()
            ),
        })
    });
    if let Err(error) = created {
        // Leave no half-made segment behind.
        return Err(match io.remove_file(&path) {
            Ok(()) => error,
            Err(e) => StorageError::Poisoned {
                reason: format!(
                    "{error}; then the half-made segment {} could not be removed ({e})",
                    path.display()
                ),
            },
        });
    }
    let len = SEGMENT_HEADER_LEN as u64;
    let map = Mapping::new(&file, reservation(len, options)).io_context("map segment", &path)?;
    Ok(Active {
        segment: Arc::new(Segment::new(id, Placement::own(id), path, map, len)),
        file,
        len,
        synced: len,
    })
}
