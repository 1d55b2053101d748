//! Checking every frame of one segment of an open log, changing nothing: what the core's
//! background scrub runs over the sealed segments that open took from their hints (and so
//! never read), and what a backup runs before it copies a segment.
//!
//! The checks are those of `verify` (docs/FORMAT.md section 2.3): at a frame that is not
//! intact the check records the damaged range and resumes at the next intact frame.

use std::path::PathBuf;

use crate::frame::{self, FrameCheck};
use crate::reader::LogReader;
use crate::segment::SEGMENT_HEADER_LEN;
use crate::verify::{Problem, Severity};

/// About how many bytes a check reads between two calls of its `pace` callback.
pub const CHECK_CHUNK: u64 = 1 << 20;

/// What checking one segment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentCheck {
    /// The segment's id.
    pub segment: u32,
    /// Its file.
    pub path: PathBuf,
    /// Intact frames read (compaction markers included).
    pub frames: u64,
    /// Bytes read: the header and every frame up to where the check ended.
    pub bytes: u64,
    /// False if `pace` stopped the check before the end of the segment.
    pub finished: bool,
    /// Every damaged range, in offset order (each [`Severity::Corrupt`]).
    pub problems: Vec<Problem>,
}

impl LogReader {
    /// Reads every frame of segment `id` as far as readers see it, checking each frame as
    /// `verify` does, and returns what it found; `None` if the log holds no such segment
    /// (compacted away meanwhile). Meant for sealed segments: damage in them is never a
    /// torn write, so every problem is reported as corruption.
    ///
    /// `pace` is called with the bytes read since its previous call, about every
    /// [`CHECK_CHUNK`] bytes; it may sleep to bound the check's I/O rate, and returning
    /// `false` stops the check there (then `finished` is false).
    pub fn check_segment(
        &self,
        id: u32,
        pace: &mut dyn FnMut(u64) -> bool,
    ) -> Option<SegmentCheck> {
        let segment = self.shared.segments.load().get(id).cloned()?;
        let (map, end) = segment.readable();
        let bytes = map.bytes(end);
        let mut check = SegmentCheck {
            segment: id,
            path: segment.path.clone(),
            frames: 0,
            bytes: 0,
            finished: false,
            problems: Vec::new(),
        };
        let mut pos = SEGMENT_HEADER_LEN.min(bytes.len());
        let mut unpaced = pos as u64;
        while pos < bytes.len() {
            if unpaced >= CHECK_CHUNK {
                if !pace(unpaced) {
                    check.bytes = pos as u64;
                    return Some(check);
                }
                unpaced = 0;
            }
            let next = match frame::check(&bytes[pos..]) {
                FrameCheck::Complete(header) => {
                    check.frames += 1;
                    pos + header.frame_len as usize
                }
                FrameCheck::Incomplete(defect) | FrameCheck::Invalid(defect) => {
                    let next = frame::next_intact(bytes, pos + 1).unwrap_or(bytes.len());
                    check.problems.push(Problem {
                        path: segment.path.clone(),
                        offset: pos as u64,
                        len: (next - pos) as u64,
                        severity: Severity::Corrupt,
                        detail: defect.to_string(),
                    });
                    next
                }
            };
            unpaced += (next - pos) as u64;
            pos = next;
        }
        pace(unpaced);
        check.bytes = pos as u64;
        check.finished = true;
        Some(check)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::{Log, LogOptions, Record, RecordKind};

    fn record(id: u64, payload: &[u8]) -> Record<'_> {
        Record {
            kind: RecordKind::Put,
            collection: 1,
            id,
            seq: id,
            payload,
            continues: false,
        }
    }

    /// Flips the lowest bit of the byte at `offset` in place (the log's map sees it).
    fn flip(path: &std::path::Path, offset: u64) {
        use std::os::unix::fs::FileExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        let mut byte = [0u8];
        file.read_exact_at(&mut byte, offset).unwrap();
        byte[0] ^= 0x01;
        file.write_all_at(&byte, offset).unwrap();
    }

    #[test]
    fn a_flipped_byte_is_reported_and_the_check_goes_on_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let payload = vec![7u8; 100];
        let records: Vec<_> = (1..=5).map(|id| record(id, &payload)).collect();
        let locations = log.append(&records).unwrap();
        let id = locations[0].segment;
        let clean = log.reader().check_segment(id, &mut |_| true).unwrap();
        assert!(clean.finished && clean.problems.is_empty());
        assert_eq!(clean.frames, 5);

        // Damage the third frame's payload under the map (the file is shared).
        flip(&clean.path, locations[2].offset + 40);

        let damaged = log.reader().check_segment(id, &mut |_| true).unwrap();
        assert!(damaged.finished);
        assert_eq!(
            damaged.frames, 4,
            "the frames after the damage are read too"
        );
        assert_eq!(damaged.problems.len(), 1);
        assert_eq!(damaged.problems[0].offset, locations[2].offset);
        assert_eq!(damaged.problems[0].len, u64::from(locations[2].len));
        assert!(damaged.problems[0].detail.contains("checksum"));
        assert!(
            log.reader()
                .check_segment(id + 100, &mut |_| true)
                .is_none()
        );
    }

    #[test]
    fn pace_sees_every_byte_and_can_stop_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let payload = vec![1u8; 64 * 1024];
        let records: Vec<_> = (1..=40).map(|id| record(id, &payload)).collect();
        let locations = log.append(&records).unwrap();
        let id = locations[0].segment;
        let mut seen = 0;
        let full = log
            .reader()
            .check_segment(id, &mut |bytes| {
                seen += bytes;
                true
            })
            .unwrap();
        assert!(full.finished);
        assert_eq!(seen, full.bytes);
        assert_eq!(full.frames, 40);

        let mut calls = 0;
        let stopped = log
            .reader()
            .check_segment(id, &mut |_| {
                calls += 1;
                false
            })
            .unwrap();
        assert_eq!(calls, 1);
        assert!(!stopped.finished);
        assert!(stopped.frames < 40);
    }
}
