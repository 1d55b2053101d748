//! Recovery of an arbitrary segment file: whatever bytes lie in the data directory,
//! `nyro_storage::verify` and `Log::open` do not panic, agree with each other, and an opened
//! log never hands out a frame whose checksum (recomputed here from the spec) fails; after
//! recovery the log takes appends and reopens cleanly.
//!
//! The first input byte picks the layout: the rest of the input as segment 1 as it is, or
//! behind a valid segment header, or as a program that builds valid frames (so recovery
//! gets past the checksums) with damage mixed in, optionally split into a sealed segment 1
//! and a newest segment 2. Programs can also write compaction markers, which make open
//! settle the directory (remove the files they replace and order segments by position);
//! `verify` does not settle, so the two are compared only on directories without markers.

#![no_main]

#[path = "../common.rs"]
mod common;

use std::path::Path;
use std::sync::Arc;

use common::{HEADER, Input, frame, frame_crc, segment_header, u32_at, u64_at};
use libfuzzer_sys::fuzz_target;
use nyro_storage::{
    FORMAT_VERSION, FrameCheck, Log, LogOptions, OLDEST_READABLE_VERSION, OsIo, Record, RecordKind,
    SEGMENT_HEADER_LEN, Severity, StorageError, check_frame, segment_file_name, verify,
};

fuzz_target!(|data: &[u8]| {
    let mut input = Input { bytes: data };
    let mode = input.byte();
    // Every readable format version.
    let versions = FORMAT_VERSION - OLDEST_READABLE_VERSION + 1;
    let version = OLDEST_READABLE_VERSION + u32::from(mode >> 4) % versions;
    let files: Vec<(u32, Vec<u8>)> = match mode % 4 {
        0 => vec![(1, input.bytes.to_vec())],
        1 => vec![(1, [&segment_header(1, version)[..], input.bytes].concat())],
        2 => vec![(1, program(&mut input, 1, version))],
        _ => {
            let first = program(&mut input, 1, version);
            let second = program(&mut input, 2, version);
            vec![(1, first), (2, second)]
        }
    };
    check(&files);
});

/// Builds a segment from the input: a valid header (or a damaged one), then valid frames and
/// garbage as the input says, then perhaps a cut or a bit flip.
fn program(input: &mut Input<'_>, id: u32, version: u32) -> Vec<u8> {
    let mut out = segment_header(id, version).to_vec();
    let steps = input.byte() % 16;
    for _ in 0..steps {
        let op = input.byte();
        match op % 8 {
            0 if op & 0x40 != 0 => {
                // A compaction marker: position, replaced segment, history floor (varints).
                let payload = [input.byte() % 4, input.byte() % 4, input.byte() % 251];
                out.extend_from_slice(&frame(6, 0, 0, 0, &payload));
            }
            0..=5 => {
                let kind = if op & 0x80 != 0 { op % 8 } else { op % 5 + 1 };
                let collection = u32::from(input.byte() % 4);
                let id = u64::from(input.byte());
                let seq = input.u64() % 1024;
                let len = usize::from(input.byte() % 64);
                let payload = input.take(len);
                out.extend_from_slice(&frame(kind, collection, id, seq, payload));
            }
            6 => {
                let len = usize::from(input.byte() % 48);
                out.extend_from_slice(input.take(len));
            }
            _ => out.extend(std::iter::repeat_n(0, usize::from(input.byte()))),
        }
    }
    match input.byte() % 8 {
        0 => {
            let cut = usize::from(input.u16()) % (out.len() + 1);
            out.truncate(cut);
        }
        1 => {
            let bit = usize::from(input.u16()) % (out.len() * 8);
            out[bit / 8] ^= 1 << (bit % 8);
        }
        _ => {}
    }
    out
}

fn options() -> LogOptions {
    LogOptions {
        segment_size: 64 * 1024,
        io: Arc::new(OsIo),
    }
}

fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("a temporary directory")
}

/// True if some file holds an intact compaction marker frame (which open acts on when it
/// comes first, and which is counted on open but never handed out by iteration).
fn has_marker(files: &[(u32, Vec<u8>)]) -> bool {
    files.iter().any(|(_, bytes)| {
        let mut pos = SEGMENT_HEADER_LEN;
        while pos < bytes.len() {
            match check_frame(&bytes[pos..]) {
                FrameCheck::Complete(h) if h.kind == RecordKind::CompactionMarker => return true,
                FrameCheck::Complete(h) => pos += h.frame_len as usize,
                _ => pos += 1,
            }
        }
        false
    })
}

/// The segment files in `dir` and their bytes, by id.
fn segment_files(dir: &Path) -> Vec<(u32, Vec<u8>)> {
    let mut found: Vec<(u32, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            let id = name
                .strip_prefix("segment-")?
                .strip_suffix(".log")?
                .parse()
                .ok()?;
            Some((id, std::fs::read(e.path()).ok()?))
        })
        .collect();
    found.sort_by_key(|(id, _)| *id);
    found
}

fn check(files: &[(u32, Vec<u8>)]) {
    let dir = scratch();
    for (id, bytes) in files {
        std::fs::write(dir.path().join(segment_file_name(*id)), bytes).expect("write segment");
    }
    let markers = has_marker(files);

    // verify changes nothing and does not fail on any content.
    let before = verify(dir.path()).expect("verify reads any content");
    let _ = format!("{before:?}");
    for (id, bytes) in files {
        let now = std::fs::read(dir.path().join(segment_file_name(*id))).expect("read");
        assert_eq!(&now, bytes, "verify changed segment {id}");
    }
    let corrupt = !before.is_intact();
    assert!(
        markers
            || before
                .problems
                .iter()
                .all(|p| p.severity == Severity::Corrupt
                    || p.path
                        .ends_with(segment_file_name(files.last().map_or(1, |f| f.0)))),
        "a torn tail outside the newest segment: {before:?}"
    );

    let log = match Log::open(dir.path(), options()) {
        Ok(log) => log,
        Err(e) => {
            let _ = e.to_string();
            if !markers {
                assert!(
                    matches!(
                        e,
                        StorageError::Corrupt { .. }
                            | StorageError::BadSegmentHeader { .. }
                            | StorageError::Io { .. }
                    ),
                    "open failed with {e:?}"
                );
                assert!(corrupt, "verify found the log intact but open failed: {e}");
            }
            return;
        }
    };
    let report = log.recovery().clone();
    if !markers {
        assert!(
            !corrupt,
            "open succeeded on a log that verify calls corrupt: {before:?}"
        );
        assert_eq!(report.frames, before.frames, "{report:?} vs {before:?}");
    }

    // Every frame the log hands out is intact on disk, by the spec's checksum.
    let on_disk = segment_files(dir.path());
    let mut frames = 0u64;
    let mut max_seq = None;
    for item in log.reader().iter() {
        let frame = item.expect("an opened log iterates without error");
        frames += 1;
        let location = frame.location();
        let (_, bytes) = on_disk
            .iter()
            .find(|(id, _)| *id == location.segment)
            .expect("the frame's segment exists");
        let start = usize::try_from(location.offset).expect("offset");
        let end = start + location.len as usize;
        let raw = &bytes[start..end];
        assert_eq!(u32_at(raw, 0), location.len);
        assert_eq!(
            u32_at(raw, 4),
            frame_crc(raw),
            "a frame with a bad checksum"
        );
        let header = frame.header();
        assert_eq!(raw[8], header.kind as u8);
        assert_eq!(raw[9..12], [0, 0, 0]);
        assert_eq!(u32_at(raw, 12), header.collection);
        assert_eq!(u64_at(raw, 16), header.id);
        assert_eq!(u64_at(raw, 24), header.seq);
        assert_eq!(frame.payload(), &raw[HEADER..]);
        // Reading by location gives the same frame.
        let again = log.reader().read(location).expect("read by location");
        assert_eq!(again.payload(), frame.payload());
        max_seq = max_seq.max(Some(header.seq));
    }
    // Compaction markers are counted on open but never handed out.
    assert!(frames <= report.frames, "{frames} frames vs {report:?}");
    if !markers {
        assert_eq!(frames, report.frames);
        assert_eq!(max_seq, report.max_seq);
    }

    // After recovery the log takes an append and reopens with it, cleanly.
    let mut log = log;
    log.append(&[Record {
        kind: RecordKind::Put,
        collection: 1,
        id: 1,
        seq: report.max_seq.map_or(1, |s| s + 1),
        payload: b"after recovery",
        continues: false,
    }])
    .expect("append after recovery");
    log.sync().expect("sync after recovery");
    drop(log);
    let reopened = Log::open(dir.path(), options()).expect("reopen after recovery");
    assert_eq!(reopened.recovery().frames, report.frames + 1);
    assert_eq!(reopened.recovery().torn_tail, None);
    drop(reopened);
    if !markers {
        let after = verify(dir.path()).expect("verify after recovery");
        assert!(after.problems.is_empty(), "{after:?}");
        assert_eq!(after.frames, report.frames + 1);
    }
}
