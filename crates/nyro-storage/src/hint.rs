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

use crate::compact::refuse;
use crate::error::{IoContext, Result, StorageError};
use crate::frame::{self, FrameCheck, FrameHeader, Record, RecordKind};
use crate::io::LogIo;
use crate::mmap::Mapping;
use crate::reader::NO_SUCH_SEGMENT;
use crate::reader::{Location, LogReader};
use crate::segment::SEGMENT_HEADER_LEN;
use crate::segment::Segment;

const MAGIC: &[u8; 8] = b"NYROHINT";
/// 2 since index keys came from paths (bodies hold whole top-level fields, not only scalars):
/// a version-1 hint does not match and is ignored.
const HINT_VERSION: u32 = 2;
const HEADER_LEN: usize = 32;
/// Offset (8) and frame length (4) before each entry's body.
const ENTRY_PREFIX: usize = 12;

/// The hint file name of segment `id`.
pub fn hint_file_name(id: u32) -> String {
    format!("segment-{id:010}.hint")
}

/// The file name of the hint a clean close writes for the active segment `id`: it describes
/// the segment's first bytes (those it held at the close), and open takes it only for the
/// newest segment, reads what follows them, and removes it.
pub fn active_hint_file_name(id: u32) -> String {
    format!("segment-{id:010}.active-hint")
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
    /// The bytes of the segment it describes (all of a sealed segment's; the first ones of
    /// the newest segment's, for a hint written on a clean close).
    covered: u64,
}

impl std::fmt::Debug for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hint")
            .field("segment", &self.segment)
            .finish()
    }
}

impl Hint {
    /// How many bytes of its segment (header included) the hint describes: the frames after
    /// them are not in it.
    pub fn covered(&self) -> u64 {
        self.covered
    }

    /// The entries, in the segment's order.
    pub fn entries(&self) -> impl Iterator<Item = HintEntry<'_>> {
        entries(&self.map.bytes(self.len)[HEADER_LEN..], self.segment)
    }
}

/// One frame of a hint at the start of `bytes`: its header, the record's offset and frame
/// length, and the body. `None` if the frame is not intact or its payload is too short.
/// `checked`: the hint was validated whole already, so the checksum is not computed again.
fn entry_frame(bytes: &[u8], checked: bool) -> Option<(FrameHeader, u64, u32, &[u8])> {
    let check = if checked {
        frame::check_checked(bytes)
    } else {
        frame::check(bytes)
    };
    let FrameCheck::Complete(header) = check else {
        return None;
    };
    let payload = bytes.get(frame::HEADER_LEN..header.frame_len as usize)?;
    let offset = u64::from_le_bytes(payload.get(..8)?.try_into().ok()?);
    let len = u32::from_le_bytes(payload.get(8..ENTRY_PREFIX)?.try_into().ok()?);
    Some((header, offset, len, &payload[ENTRY_PREFIX..]))
}

/// The entries of the frames in `bytes` (a hint after its header, validated by [`check`]),
/// up to the end frame.
fn entries(bytes: &[u8], segment: u32) -> impl Iterator<Item = HintEntry<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let (header, offset, len, body) = entry_frame(bytes.get(pos..)?, true)?;
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
        let Some((h, offset, len, _)) = entry_frame(&bytes[pos..], false) else {
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

/// Maps a hint file; `None` if it is missing or shorter than a header.
fn map_hint(path: &Path) -> Option<(Mapping, u64)> {
    let file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    if len < HEADER_LEN as u64 {
        return None;
    }
    Some((Mapping::new(&file, len as usize).ok()?, len))
}

/// Checks a whole hint file against its segment; `None` (with a log line) if it cannot be
/// trusted.
fn validate(path: &Path, id: u32, segment_bytes: u64) -> Option<Hint> {
    let (map, len) = map_hint(path)?;
    if let Err(reason) = check(map.bytes(len), id, segment_bytes) {
        tracing::info!(hint = %path.display(), reason, "hint not trusted; scanning instead");
        return None;
    }
    Some(Hint {
        map,
        len,
        segment: id,
        covered: segment_bytes,
    })
}

/// Why the hint a clean close wrote for segment `id` (the bytes of its file `hint`) does
/// not describe the first bytes of `segment` (the segment's bytes as found on open); on
/// success, how many bytes it describes.
///
/// Beyond [`check`] against the length its header names: that length lies within the
/// segment, and the frame that ends there is, intact, the frame of the hint's last entry
/// (same header, closing a write). Each open removes the hint, and only a clean close
/// writes one, after making the bytes it covers durable; so the segment can only have
/// lost them to damage or to a tool rewriting it, which these checks catch unless the same
/// frames were written back at the same places.
fn check_active(hint: &[u8], id: u32, segment: &[u8]) -> Result<u64, &'static str> {
    let covered = hint
        .get(16..24)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or("it is shorter than a header")?;
    if covered > segment.len() as u64 || covered < SEGMENT_HEADER_LEN as u64 {
        return Err("it describes more bytes than the segment holds");
    }
    check(hint, id, covered)?;
    let Some(last) = entries(&hint[HEADER_LEN..], id).last() else {
        return if covered == SEGMENT_HEADER_LEN as u64 {
            Ok(covered)
        } else {
            Err("it describes bytes but no frame")
        };
    };
    let at = last.location.offset;
    if at + u64::from(last.location.len) != covered || last.header.continues {
        return Err("its last entry does not end a write where the hint ends");
    }
    match frame::check(&segment[at as usize..covered as usize]) {
        FrameCheck::Complete(h) if h == last.header => Ok(covered),
        _ => Err("the segment's frame at its last entry is not that entry's"),
    }
}

/// Whether every frame of `segment` (the bytes a hint describes) is intact, as a recovery
/// scan would find them: the newest segment is always checked whole on open, so that damage
/// in it refuses the open as it always did. The hint tells where a frame starts near the
/// middle, so the two halves are checked on two threads.
fn frames_intact(hint: &[u8], id: u32, segment: &[u8]) -> Result<(), &'static str> {
    let half = segment.len() as u64 / 2;
    let mid = entries(&hint[HEADER_LEN..], id)
        .map(|e| e.location.offset as usize)
        .find(|&offset| offset as u64 >= half)
        .unwrap_or(segment.len());
    let intact = |bytes: &[u8], start: usize| {
        let scan = crate::scan::scan_from(bytes, start);
        scan.damage.is_none() && scan.end == bytes.len() as u64
    };
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| intact(segment, mid));
        let first = intact(&segment[..mid], SEGMENT_HEADER_LEN.min(mid));
        (first, second.join().unwrap_or(false))
    });
    if first && second {
        Ok(())
    } else {
        Err("the segment's frames it describes are not all intact")
    }
}

/// The hint a clean close wrote for the newest segment `id`, whose bytes on open are
/// `segment`, if it can be trusted (`None`, with a log line, if it exists but cannot).
pub(crate) fn trusted_active(dir: &Path, id: u32, segment: &[u8]) -> Option<Hint> {
    let path = dir.join(active_hint_file_name(id));
    let (map, len) = map_hint(&path)?;
    match check_active(map.bytes(len), id, segment).and_then(|covered| {
        frames_intact(map.bytes(len), id, &segment[..covered as usize]).map(|()| covered)
    }) {
        Ok(covered) => Some(Hint {
            map,
            len,
            segment: id,
            covered,
        }),
        Err(reason) => {
            tracing::info!(hint = %path.display(), reason, "hint not trusted; scanning instead");
            None
        }
    }
}

impl LogReader {
    /// The hint of sealed segment `id`, if it has one that can be trusted (the one open
    /// checked, until [`LogReader::release_open_hints`]; else read and checked now).
    ///
    /// For the active segment, the hint a clean close wrote that open took (it describes
    /// the segment's first [`Hint::covered`] bytes), until then.
    pub fn hint(&self, id: u32) -> Option<Arc<Hint>> {
        if let Some(hint) = self.shared.open_hints.lock().get(&id) {
            return Some(Arc::clone(hint));
        }
        let table = self.shared.segments.load();
        if id == table.active() {
            return None;
        }
        let segment = table.get(id).cloned()?;
        validate(&hint_path(&self.shared.dir, id), id, segment.end()).map(Arc::new)
    }

    /// Lets go of the hints open checked (their maps), once replay has read them.
    pub fn release_open_hints(&self) {
        self.shared.open_hints.lock().clear();
    }

    /// True if segment `id` has a hint file of this version (trusted or not: only the
    /// magic and version are read). A hint of another version is as good as none: the next
    /// hint written for the segment replaces it.
    pub fn has_hint_file(&self, id: u32) -> bool {
        let mut start = [0u8; 12];
        File::open(hint_path(&self.shared.dir, id))
            .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut start))
            .is_ok_and(|()| start[..8] == MAGIC[..] && start[8..12] == HINT_VERSION.to_le_bytes())
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
        body: impl FnMut(&FrameHeader, &[u8], &mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let table = self.shared.segments.load_full();
        if id == table.active() {
            return Err(refuse(id, "the active segment has no hint"));
        }
        let segment = table.get(id).cloned().ok_or(refuse(id, NO_SUCH_SEGMENT))?;
        let out = encode_hint(&segment, body)?;
        crate::io::publish(
            self.shared.io.as_ref(),
            &self.shared.dir,
            &format!("hint-{id:010}.tmp"),
            &hint_file_name(id),
            &[&out],
        )
    }

    /// Writes the hint of the active segment's frames so far, as [`LogReader::write_hint`]
    /// does for a sealed one, after an fdatasync of the segment (so that what it describes
    /// is durable before it exists), under [`active_hint_file_name`]. Meant for a clean
    /// close, once the writer has stopped: the next open then reads only the frames
    /// appended after it (none, unless it was written early). Refused on a poisoned log.
    pub fn write_active_hint(
        &self,
        body: impl FnMut(&FrameHeader, &[u8], &mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let table = self.shared.segments.load_full();
        let id = table.active();
        if let Some(reason) = self.poisoned() {
            return Err(StorageError::Poisoned {
                reason: reason.to_string(),
            });
        }
        let segment = table.get(id).cloned().ok_or(refuse(id, NO_SUCH_SEGMENT))?;
        let io = self.shared.io.as_ref();
        let file = io
            .open(&segment.path, crate::io::OpenMode::Existing)
            .io_context("open segment", &segment.path)?;
        let out = encode_hint(&segment, body)?;
        // Everything up to the end the hint names is durable after this.
        io.sync_data(&segment.path, &file)
            .io_context("fsync segment", &segment.path)?;
        crate::io::publish(
            io,
            &self.shared.dir,
            &format!("hint-{id:010}-active.tmp"),
            &active_hint_file_name(id),
            &[&out],
        )
    }

    /// Removes the hint of segment `id`, if any.
    pub(crate) fn remove_hint(&self, id: u32) {
        let _ = self.shared.io.remove_file(&hint_path(&self.shared.dir, id));
    }
}

/// The bytes of the hint of `segment` as readers see it now: one entry per record frame,
/// with the body `body` gives it, and the end frame.
fn encode_hint(
    segment: &Segment,
    mut body: impl FnMut(&FrameHeader, &[u8], &mut Vec<u8>) -> Result<()>,
) -> Result<Vec<u8>> {
    let id = segment.id;
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
    Ok(out)
}

/// Removes hint files (and their temporary files) whose segment is gone. Called on open.
/// One that cannot be removed stays: a hint names its segment's id and length, and file
/// numbers are never reused, so it is never trusted for another segment.
///
/// The hint a clean close wrote is kept only for the newest segment (`segments` is in log
/// order); open takes it and removes it.
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
        } else if let Some(digits) = name
            .strip_prefix("segment-")
            .and_then(|n| n.strip_suffix(".active-hint"))
        {
            digits
                .parse::<u32>()
                .map_or(true, |id| segments.last() != Some(&id))
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
