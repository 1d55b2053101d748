//! The read-only half of `repair`: walks every frame of every segment in log order and finds
//! what is lost (each damaged range that open refuses), the intact frames around each range,
//! and the hint files that cannot be trusted. Changes nothing.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::{AddedRecord, LostRange, Neighbour, RecordMeaning};
use crate::error::{IoContext, Result};
use crate::frame::{FrameCheck, FrameHeader, HEADER_LEN, RecordKind};
use crate::mmap::Mapping;
use crate::scan::{Piece, walk};
use crate::segment::{self, Placement, SEGMENT_HEADER_LEN};

/// Progress is reported at least this often (in bytes walked).
const PROGRESS_STEP: u64 = 1 << 20;

/// One segment file, as the survey found it.
pub(super) struct Surveyed {
    pub(super) id: u32,
    pub(super) path: PathBuf,
    pub(super) placement: Placement,
    pub(super) len: u64,
    /// The segment's bytes (none for an empty file).
    pub(super) map: Option<Mapping>,
    /// Length of the intact compaction marker frame right after the header, if there is one
    /// (a rewrite writes a new marker in its place).
    pub(super) marker_len: u64,
    /// The last segment in log order: the one open appends to.
    pub(super) newest: bool,
    /// A hint file exists for it but cannot be trusted.
    pub(super) bad_hint: bool,
}

impl Surveyed {
    pub(super) fn bytes(&self) -> &[u8] {
        self.map.as_ref().map_or(&[][..], |map| map.bytes(self.len))
    }
}

/// What the survey found.
pub(super) struct Survey {
    /// Every segment, in log order.
    pub(super) segments: Vec<Surveyed>,
    /// Intact record frames (compaction markers not counted).
    pub(super) frames: u64,
    /// Bytes in all segment files.
    pub(super) bytes: u64,
    /// Highest sequence number of any intact frame (Raft frames, whose seq is a log index,
    /// not counted).
    pub(super) max_seq: u64,
    /// Every damaged range that open refuses, in log order (`file` not yet set).
    pub(super) lost: Vec<LostRange>,
}

impl Survey {
    /// Nothing to do: no lost range and no untrusted hint.
    pub(super) fn is_healthy(&self) -> bool {
        self.lost.is_empty() && !self.segments.iter().any(|s| s.bad_hint)
    }
}

/// Surveys the segment files `files` of `dir` (any order).
pub(super) fn survey(
    dir: &Path,
    files: Vec<(u32, PathBuf)>,
    meaning: &mut dyn RecordMeaning,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Survey> {
    let mut segments = Vec::with_capacity(files.len());
    for (id, path) in files {
        segments.push(open(id, path)?);
    }
    segments.sort_by_key(|s| (s.placement.position, s.id));
    if let Some(last) = segments.last_mut() {
        last.newest = true;
    }
    let total: u64 = segments.iter().map(|s| s.len).sum();
    let mut walker = Walker {
        done: 0,
        reported: 0,
        total,
        progress,
        frames: 0,
        max_seq: 0,
        last: None,
        lost: Vec::new(),
        waiting: 0,
        meaning,
    };
    for seg in &mut segments {
        walker.segment(seg);
        if !seg.newest && dir.join(crate::hint_file_name(seg.id)).exists() {
            seg.bad_hint = crate::hint::trusted(dir, seg.id, seg.len).is_none();
        }
    }
    (walker.progress)(total, total);
    let mut lost = walker.lost;
    let meaning = walker.meaning;
    let mut added: Vec<_> = lost.iter_mut().flat_map(|r| r.added.iter_mut()).collect();
    meaning.finish(&mut added);
    for range in &mut lost {
        for neighbour in [&mut range.before, &mut range.after].into_iter().flatten() {
            neighbour.collection_name = meaning.collection_name(neighbour.collection);
        }
    }
    Ok(Survey {
        segments,
        frames: walker.frames,
        bytes: total,
        max_seq: walker.max_seq,
        lost,
    })
}

/// Maps a segment file and reads its place in the log from its marker frame, if any (even
/// when its header is damaged, so that a repaired compacted segment keeps its place).
fn open(id: u32, path: PathBuf) -> Result<Surveyed> {
    let file = File::open(&path).io_context("open segment", &path)?;
    let len = file.metadata().io_context("stat segment", &path)?.len();
    let map = if len == 0 {
        None
    } else {
        Some(Mapping::new(&file, len as usize).io_context("map segment", &path)?)
    };
    let mut surveyed = Surveyed {
        id,
        path,
        placement: Placement::own(id),
        len,
        map,
        marker_len: 0,
        newest: false,
        bad_hint: false,
    };
    let rest = surveyed
        .bytes()
        .get(SEGMENT_HEADER_LEN..)
        .unwrap_or_default();
    // A marker that does not decode is left where it is: it is an intact frame, and open
    // reads it the same way.
    if let Ok(Some(placement)) = crate::compact::marker_at(rest)
        && let FrameCheck::Complete(marker) = crate::frame::check(rest)
    {
        surveyed.placement = placement;
        surveyed.marker_len = u64::from(marker.frame_len);
    }
    Ok(surveyed)
}

/// The state of a walk over the whole log.
struct Walker<'p, 'm> {
    done: u64,
    reported: u64,
    total: u64,
    progress: &'p mut dyn FnMut(u64, u64),
    frames: u64,
    max_seq: u64,
    /// The last intact record frame so far, in log order.
    last: Option<Neighbour>,
    lost: Vec<LostRange>,
    /// How many ranges at the end of `lost` wait for the next intact frame.
    waiting: usize,
    /// What the records mean.
    meaning: &'m mut dyn RecordMeaning,
}

impl Walker<'_, '_> {
    fn segment(&mut self, seg: &Surveyed) {
        let bytes = seg.bytes();
        if let Err(problem) = segment::check_header(bytes, seg.id) {
            // As open: a bad header of the newest segment that no intact frame follows is a
            // segment whose creation was cut short (open rewrites it), not corruption.
            let torn = seg.newest && crate::frame::next_intact(bytes, SEGMENT_HEADER_LEN).is_none();
            if !torn {
                let len = SEGMENT_HEADER_LEN.min(bytes.len()) as u64;
                self.lose(seg, 0, len, format!("segment header: {problem:?}"));
            }
        }
        if bytes.len() > SEGMENT_HEADER_LEN {
            for piece in walk(bytes, SEGMENT_HEADER_LEN) {
                match piece {
                    Piece::Frame { offset, header } => self.frame(seg, bytes, offset, &header),
                    Piece::Damage(damage) => {
                        // At the end of the newest segment with nothing intact after it: a
                        // torn tail, which open cuts off. Left as it is.
                        if seg.newest && damage.next_intact.is_none() {
                            break;
                        }
                        let end = damage.next_intact.unwrap_or(seg.len);
                        self.lose(
                            seg,
                            damage.offset,
                            end - damage.offset,
                            damage.defect.to_string(),
                        );
                    }
                }
            }
        }
        self.done += seg.len;
        self.report(self.done);
    }

    fn frame(&mut self, seg: &Surveyed, bytes: &[u8], offset: u64, header: &FrameHeader) {
        if header.kind == RecordKind::CompactionMarker {
            return; // the log's own, not a record
        }
        self.frames += 1;
        if !header.kind.is_raft() {
            // A Raft frame's seq is a log index, not a write's.
            self.max_seq = self.max_seq.max(header.seq);
        }
        let payload =
            &bytes[offset as usize + HEADER_LEN..offset as usize + header.frame_len as usize];
        let added = self.meaning.follow(header, payload);
        if let Some(range) = self.lost.last_mut() {
            // In the range's place, after the last intact record before it: like a create or
            // drop frame, an added record repeats that record's sequence number.
            let seq = range.before.as_ref().map_or(0, |n| n.seq);
            range
                .added
                .extend(added.into_iter().map(|added| AddedRecord { seq, ..added }));
        }
        let here = Neighbour {
            segment: seg.id,
            offset,
            kind: header.kind,
            collection: header.collection,
            collection_name: None,
            id: header.id,
            seq: header.seq,
        };
        let count = self.lost.len();
        for range in &mut self.lost[count - self.waiting..] {
            range.after = Some(here.clone());
        }
        self.waiting = 0;
        self.last = Some(here);
        if self.done + offset >= self.reported + PROGRESS_STEP {
            self.report(self.done + offset);
        }
    }

    fn report(&mut self, done: u64) {
        self.reported = done;
        (self.progress)(done, self.total);
    }

    fn lose(&mut self, seg: &Surveyed, offset: u64, len: u64, detail: String) {
        let bytes = seg.bytes();
        let damaged = &bytes[offset as usize..(offset + len) as usize];
        self.lost.push(LostRange {
            segment: seg.id,
            segment_file: seg.path.clone(),
            offset,
            len,
            detail,
            crc32c: crc32c::crc32c(damaged),
            file: PathBuf::new(),
            before: self.last.clone(),
            after: None,
            added: Vec::new(),
        });
        self.waiting += 1;
    }
}
