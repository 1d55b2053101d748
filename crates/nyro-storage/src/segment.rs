//! Segment files: naming, the 32-byte segment header, and the shared, readable view of a
//! segment that readers use.
//!
//! ```text
//! segment header (docs/FORMAT.md, section "Segment file")
//! offset size field
//!      0    8 magic       b"NYRODBSG"
//!      8    4 version     u32 LE, 3 (1 and 2 are read too)
//!     12    4 segment id  u32 LE, equal to the number in the file name
//!     16   12 reserved    zero
//!     28    4 crc32c      u32 LE, CRC-32C of bytes [0, 28)
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

use crate::error::{IoContext, Result};
use crate::io::LogIo;
use crate::mmap::Mapping;

/// Bytes in a segment header; the first frame starts here.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// The segment format version this build writes. It reads this one and every earlier one
/// (version 1 lacks record kinds 5 and 6, version 2 kinds 7 and 8, version 3 kinds 9 and 10;
/// nothing else differs).
pub const FORMAT_VERSION: u32 = 4;
/// The oldest segment format version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"NYRODBSG";
const NAME_PREFIX: &str = "segment-";
const NAME_SUFFIX: &str = ".log";

/// The file name of segment `id`: `segment-0000000001.log` (ten digits, so names sort).
pub fn file_name(id: u32) -> String {
    format!("{NAME_PREFIX}{id:010}{NAME_SUFFIX}")
}

/// The segment id in a file name, if it is a segment file name.
pub fn parse_file_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix(NAME_PREFIX)?.strip_suffix(NAME_SUFFIX)?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segment files of `dir`, sorted by id.
pub fn list(dir: &Path) -> Result<Vec<(u32, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).io_context("list data directory", dir)? {
        let entry = entry.io_context("list data directory", dir)?;
        if let Some(id) = entry.file_name().to_str().and_then(parse_file_name) {
            found.push((id, entry.path()));
        }
    }
    found.sort_unstable_by_key(|(id, _)| *id);
    Ok(found)
}

/// The header bytes of segment `id`.
pub(crate) fn encode_header(id: u32) -> [u8; SEGMENT_HEADER_LEN] {
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    header[0..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&id.to_le_bytes());
    let crc = crc32c::crc32c(&header[..28]);
    header[28..32].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Why a segment header is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    /// Fewer bytes than a header: a segment whose creation was cut short.
    Short(usize),
    /// The bytes are not a valid header (the reason says how).
    Invalid(String),
}

/// Checks the header at the start of `bytes` for segment `id`.
pub(crate) fn check_header(bytes: &[u8], id: u32) -> Result<(), HeaderProblem> {
    if bytes.len() < SEGMENT_HEADER_LEN {
        return Err(HeaderProblem::Short(bytes.len()));
    }
    let header = &bytes[..SEGMENT_HEADER_LEN];
    let mut crc_bytes = [0u8; 4];
    crc_bytes.copy_from_slice(&header[28..32]);
    if crc32c::crc32c(&header[..28]) != u32::from_le_bytes(crc_bytes) {
        return Err(HeaderProblem::Invalid("header checksum mismatch".into()));
    }
    if &header[0..8] != MAGIC {
        return Err(HeaderProblem::Invalid("wrong magic bytes".into()));
    }
    let mut word = [0u8; 4];
    word.copy_from_slice(&header[8..12]);
    let version = u32::from_le_bytes(word);
    if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(HeaderProblem::Invalid(format!(
            "format version {version}, this build reads versions \
             {OLDEST_READABLE_VERSION} to {FORMAT_VERSION}"
        )));
    }
    word.copy_from_slice(&header[12..16]);
    let stored_id = u32::from_le_bytes(word);
    if stored_id != id {
        return Err(HeaderProblem::Invalid(format!(
            "header says segment {stored_id} but the file name says {id}"
        )));
    }
    Ok(())
}

/// The format version a segment's header bytes give (checked by [`check_header`] when the
/// segment was opened), if the header is there.
pub(crate) fn header_version(bytes: &[u8]) -> Option<u32> {
    let word: [u8; 4] = bytes.get(8..12)?.try_into().ok()?;
    Some(u32::from_le_bytes(word))
}

/// Fsyncs a directory (through the I/O seam), so that files created, renamed or removed in
/// it survive a power cut.
pub(crate) fn sync_dir(io: &dyn LogIo, dir: &Path) -> Result<()> {
    io.sync_dir(dir).io_context("fsync directory", dir)
}

/// The readable view of one segment, shared by the writer and every reader.
#[derive(Debug)]
pub(crate) struct Segment {
    /// The file number (unique, never reused; in the file name and in locations).
    pub(crate) id: u32,
    /// Its place in the log: equal to `id` for segments the writer created; a compacted
    /// segment takes the place of the segment it replaces.
    pub(crate) position: u32,
    /// For a compacted segment, the file it replaces.
    pub(crate) replaces: Option<u32>,
    /// Highest sequence number that compaction dropped when writing this segment (0 if none).
    pub(crate) history_floor: u64,
    pub(crate) path: PathBuf,
    /// The current map. Replaced (never mutated) when the active segment outgrows its
    /// reservation or is sealed; readers that loaded the old one keep it alive.
    map: ArcSwap<Mapping>,
    /// End of the last complete frame: readers never look past it. Only the writer moves it.
    end: AtomicU64,
    /// Bytes of frames the layers above reported as no longer needed (`LogReader::mark_dead`):
    /// what compaction would reclaim.
    pub(crate) dead: AtomicU64,
}

/// Where a segment stands in the log, as its marker frame (or its file name) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) position: u32,
    pub(crate) replaces: Option<u32>,
    pub(crate) history_floor: u64,
}

impl Placement {
    /// A segment the writer created: its place is its id.
    pub(crate) fn own(id: u32) -> Self {
        Self {
            position: id,
            replaces: None,
            history_floor: 0,
        }
    }
}

impl Segment {
    pub(crate) fn new(
        id: u32,
        placement: Placement,
        path: PathBuf,
        map: Mapping,
        end: u64,
    ) -> Self {
        Self {
            id,
            position: placement.position,
            replaces: placement.replaces,
            history_floor: placement.history_floor,
            path,
            map: ArcSwap::from_pointee(map),
            end: AtomicU64::new(end),
            dead: AtomicU64::new(0),
        }
    }

    /// The map and the readable end, loaded together. The bytes of `[0, end)` are in the
    /// file: `end` is published only after the `write` that put them there returned.
    pub(crate) fn readable(&self) -> (Arc<Mapping>, u64) {
        // Load `end` first: a map loaded afterwards is at least as new, and every map ever
        // installed covers every `end` published before it.
        let end = self.end.load(Ordering::Acquire);
        (self.map.load_full(), end)
    }

    /// Like [`Segment::readable`], but borrows the map through a short-lived guard instead of
    /// taking a reference count. Hold the guard only briefly.
    pub(crate) fn readable_borrowed(&self) -> (arc_swap::Guard<Arc<Mapping>>, u64) {
        let end = self.end.load(Ordering::Acquire);
        (self.map.load(), end)
    }

    pub(crate) fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    pub(crate) fn publish_end(&self, end: u64) {
        self.end.store(end, Ordering::Release);
    }

    pub(crate) fn reserved(&self) -> usize {
        self.map.load().reserved()
    }

    pub(crate) fn replace_map(&self, map: Mapping) {
        self.map.store(Arc::new(map));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_sort() {
        assert_eq!(file_name(1), "segment-0000000001.log");
        assert_eq!(
            parse_file_name(&file_name(4_000_000_000)),
            Some(4_000_000_000)
        );
        assert_eq!(parse_file_name("segment-1.log"), None);
        assert_eq!(parse_file_name("LOCK"), None);
        assert!(file_name(9) < file_name(10));
    }

    #[test]
    fn header_checks() {
        let header = encode_header(5);
        assert_eq!(check_header(&header, 5), Ok(()));
        assert!(matches!(
            check_header(&header, 6),
            Err(HeaderProblem::Invalid(_))
        ));
        assert_eq!(
            check_header(&header[..10], 5),
            Err(HeaderProblem::Short(10))
        );
        let mut damaged = header;
        damaged[3] ^= 0x10;
        assert!(matches!(
            check_header(&damaged, 5),
            Err(HeaderProblem::Invalid(_))
        ));
    }
}
