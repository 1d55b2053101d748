//! Hint files: a compact description of a sealed segment's records that lets the layers
//! above rebuild their indexes without reading the segment's payloads (docs/FORMAT.md
//! section 6).
//!
//! `segment-NNNNNNNNNN.hint` sits beside its segment. It is a 32-byte header (magic
//! `NYROHINT`, version, segment id, the segment's length) followed by one frame per record
//! frame of the segment, in order, with the record's kind, collection, id and seq, and a
//! payload of the record's offset (u64 LE), frame length (u32 LE) and a body the writer of
//! the hint chose (what it needs to rebuild its indexes), and last an end frame (kind 6,
//! id = the number of entries, offset = the segment's length). A hint is only trusted whole:
//! every frame intact, the header matching the segment, the end frame present and right.
//! Anything else and it is ignored (the segment is scanned instead); a hint is never needed.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{IoContext, Result, StorageError};
use crate::frame::{self, FrameCheck, FrameHeader, Record, RecordKind};
use crate::io::LogIo;
use crate::mmap::Mapping;
use crate::reader::{Location, LogReader};
use crate::segment::SEGMENT_HEADER_LEN;

const MAGIC: &[u8; 8] = b"NYROHINT";
const HINT_VERSION: u32 = 1;
const HEADER_LEN: usize = 32;
/// Offset (8) and frame length (4) before each entry's body.
const ENTRY_PREFIX: usize = 12;

/// The hint file name of segment `id`.
pub fn hint_file_name(id: u32) -> String {
    format!("segment-{id:010}.hint")
}

fn hint_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(hint_file_name(id))
}

fn header(id: u32, segment_bytes: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&HINT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&id.to_le_bytes());
    h[16..24].copy_from_slice(&segment_bytes.to_le_bytes());
    let crc = crc32c::crc32c(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// One record of a segment, as a hint describes it.
#[derive(Debug, Clone, Copy)]
pub struct HintEntry<'a> {
    /// The record frame's header.
    pub header: FrameHeader,
    /// Where the record frame lies.
    pub location: Location,
    /// What the hint's writer stored for it.
    pub body: &'a [u8],
}

/// A validated hint file, mapped.
pub struct Hint {
    map: Mapping,
    len: u64,
    segment: u32,
}

impl std::fmt::Debug for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hint")
            .field("segment", &self.segment)
            .finish()
    }
}

impl Hint {
    /// The entries, in the segment's order.
    pub fn entries(&self) -> impl Iterator<Item = HintEntry<'_>> {
        entries(&self.map.bytes(self.len)[HEADER_LEN..], self.segment)
    }
}

/// One frame of a hint at the start of `bytes`: its header, the record's offset and frame
/// length, and the body. `None` if the frame is not intact or its payload is too short.
fn entry_frame(bytes: &[u8]) -> Option<(FrameHeader, u64, u32, &[u8])> {
    let FrameCheck::Complete(header) = frame::check(bytes) else {
        return None;
    };
    let payload = bytes.get(frame::HEADER_LEN..header.frame_len as usize)?;
    let offset = u64::from_le_bytes(payload.get(..8)?.try_into().ok()?);
    let len = u32::from_le_bytes(payload.get(8..ENTRY_PREFIX)?.try_into().ok()?);
    Some((header, offset, len, &payload[ENTRY_PREFIX..]))
}

/// The entries of the frames in `bytes` (a hint after its header), up to the end frame.
fn entries(bytes: &[u8], segment: u32) -> impl Iterator<Item = HintEntry<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let (header, offset, len, body) = entry_frame(bytes.get(pos..)?)?;
        if header.kind == RecordKind::CompactionMarker {
            return None; // the end frame
        }
        pos += header.frame_len as usize;
        Some(HintEntry {
            header: FrameHeader {
                frame_len: len,
                ..header
            },
            location: Location {
                segment,
                offset,
                len,
            },
            body,
        })
    })
}

/// Why a hint is not trusted.
fn check(bytes: &[u8], segment: u32, segment_len: u64) -> Result<(), &'static str> {
    if bytes.get(..HEADER_LEN) != Some(&header(segment, segment_len)[..]) {
        return Err("its header does not match the segment");
    }
    let mut pos = HEADER_LEN;
    let mut covered = SEGMENT_HEADER_LEN as u64;
    let mut entries = 0u64;
    loop {
        let Some((h, offset, len, _)) = entry_frame(&bytes[pos..]) else {
            return Err("a frame is damaged or cut short, or the end frame is missing");
        };
        pos += h.frame_len as usize;
        if h.kind == RecordKind::CompactionMarker {
            // The end frame: it counts the entries, closes the segment, and ends the file.
            return if h.id != entries || offset != segment_len || len != 0 {
                Err("the end frame does not match the entries and the segment")
            } else if offset < covered {
                Err("entries run past the end of the segment")
            } else if pos != bytes.len() {
                Err("bytes follow the end frame")
            } else {
                Ok(())
            };
        }
        // Entries locate whole frames, in order, without overlap.
        if offset < covered || !(frame::HEADER_LEN..=frame::MAX_FRAME_LEN).contains(&(len as usize))
        {
            return Err("an entry's location is out of order or not a frame's");
        }
        covered = offset
            .checked_add(u64::from(len))
            .ok_or("an entry's location overflows")?;
        entries += 1;
    }
}

/// Checks the bytes of a hint file against the segment it describes (file number `segment`,
/// `segment_len` bytes long), as open does (docs/FORMAT.md section 6): the header matches,
/// every frame is intact, entries locate whole frames in ascending order without overlap
/// inside the segment, and the end frame closes it. Returns the entries if the hint can be
/// trusted, `None` if not. Never panics, whatever the bytes (there is a fuzz target).
pub fn check_hint(
    bytes: &[u8],
    segment: u32,
    segment_len: u64,
) -> Option<impl Iterator<Item = HintEntry<'_>>> {
    check(bytes, segment, segment_len).ok()?;
    Some(entries(&bytes[HEADER_LEN..], segment))
}

/// Checks a whole hint file against its segment; `None` (with a log line) if it cannot be
/// trusted.
fn validate(path: &Path, id: u32, segment_bytes: u64) -> Option<Hint> {
    let file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    if len < HEADER_LEN as u64 {
        return None;
    }
    let map = Mapping::new(&file, len as usize).ok()?;
    if let Err(reason) = check(map.bytes(len), id, segment_bytes) {
        tracing::info!(hint = %path.display(), reason, "hint not trusted; scanning instead");
        return None;
    }
    Some(Hint {
        map,
        len,
        segment: id,
    })
}

impl LogReader {
    /// The hint of sealed segment `id`, if it has one that can be trusted (the one open
    /// checked, until [`LogReader::release_open_hints`]; else read and checked now).
    pub fn hint(&self, id: u32) -> Option<Arc<Hint>> {
        let table = self.shared.segments.load();
        if id == table.active() {
            return None;
        }
        let segment = table.get(id).cloned()?;
        if let Some(hint) = self.shared.open_hints.lock().get(&id) {
            return Some(Arc::clone(hint));
        }
        validate(&hint_path(&self.shared.dir, id), id, segment.end()).map(Arc::new)
    }

    /// Lets go of the hints open checked (their maps), once replay has read them.
    pub fn release_open_hints(&self) {
        self.shared.open_hints.lock().clear();
    }

    /// True if segment `id` has a hint file (trusted or not).
    pub fn has_hint_file(&self, id: u32) -> bool {
        hint_path(&self.shared.dir, id).exists()
    }

    /// Writes the hint of sealed segment `id`: one entry per record frame, with the body
    /// `body` gives it (written to a temporary file, fsynced, renamed into place, the
    /// directory fsynced).
    ///
    /// A failure before the rename removes the temporary file: no hint appears. A failed
    /// directory fsync after it leaves a whole hint under its name, which a crash may take
    /// away again; either way open reads the segment correctly (a hint is never needed).
    /// None of these failures poisons the log: no record depends on a hint.
    pub fn write_hint(
        &self,
        id: u32,
        mut body: impl FnMut(&FrameHeader, &[u8], &mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let table = self.shared.segments.load_full();
        let refuse = |reason| StorageError::BadLocation {
            segment: id,
            offset: 0,
            len: 0,
            reason,
        };
        if id == table.active() {
            return Err(refuse("the active segment has no hint"));
        }
        let segment = table.get(id).cloned().ok_or(refuse("no such segment"))?;
        let (map, end) = segment.readable();
        let bytes = map.bytes(end);
        let mut out = Vec::with_capacity(bytes.len() / 4);
        out.extend_from_slice(&header(id, end));
        let mut pos = SEGMENT_HEADER_LEN;
        let mut payload = Vec::new();
        let mut count = 0u64;
        while pos < bytes.len() {
            let FrameCheck::Complete(h) = frame::check(&bytes[pos..]) else {
                return Err(StorageError::Corrupt {
                    path: segment.path.clone(),
                    offset: pos as u64,
                    defect: frame::FrameDefect::Truncated {
                        needed: 0,
                        available: 0,
                    },
                });
            };
            if h.kind != RecordKind::CompactionMarker {
                payload.clear();
                payload.extend_from_slice(&(pos as u64).to_le_bytes());
                payload.extend_from_slice(&h.frame_len.to_le_bytes());
                let record_payload = &bytes[pos + frame::HEADER_LEN..pos + h.frame_len as usize];
                body(&h, record_payload, &mut payload)?;
                count += 1;
                frame::encode(
                    &Record {
                        kind: h.kind,
                        collection: h.collection,
                        id: h.id,
                        seq: h.seq,
                        payload: &payload,
                        // The record's own flag (hints written before format 3 have it
                        // clear): a Raft entry's records are told apart by it.
                        continues: h.continues,
                    },
                    &mut out,
                );
            }
            pos += h.frame_len as usize;
        }
        payload.clear();
        payload.extend_from_slice(&end.to_le_bytes());
        payload.extend_from_slice(&0u32.to_le_bytes());
        frame::encode(
            &Record {
                kind: RecordKind::CompactionMarker,
                collection: 0,
                id: count,
                seq: 0,
                payload: &payload,
                continues: false,
            },
            &mut out,
        );
        // Durable, so that the hint survives a power cut and is not written again after a
        // restart.
        crate::io::publish(
            self.shared.io.as_ref(),
            &self.shared.dir,
            &format!("hint-{id:010}.tmp"),
            &hint_file_name(id),
            &[&out],
        )
    }

    /// Removes the hint of segment `id`, if any.
    pub(crate) fn remove_hint(&self, id: u32) {
        let _ = self.shared.io.remove_file(&hint_path(&self.shared.dir, id));
    }
}

/// Removes hint files (and their temporary files) whose segment is gone. Called on open.
/// One that cannot be removed stays: a hint names its segment's id and length, and file
/// numbers are never reused, so it is never trusted for another segment.
pub(crate) fn remove_orphans(io: &dyn LogIo, dir: &Path, segments: &[u32]) -> Result<()> {
    for entry in fs::read_dir(dir).io_context("list data directory", dir)? {
        let entry = entry.io_context("list data directory", dir)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let orphan = if let Some(digits) = name
            .strip_prefix("segment-")
            .and_then(|n| n.strip_suffix(".hint"))
        {
            digits
                .parse::<u32>()
                .map_or(true, |id| !segments.contains(&id))
        } else {
            name.starts_with("hint-") && name.ends_with(".tmp")
        };
        if orphan {
            let _ = io.remove_file(&entry.path());
        }
    }
    Ok(())
}

/// The hint of a sealed segment of `len` bytes, if it can be trusted (open then skips
/// scanning the segment).
pub(crate) fn trusted(dir: &Path, id: u32, len: u64) -> Option<Hint> {
    validate(&hint_path(dir, id), id, len)
}
