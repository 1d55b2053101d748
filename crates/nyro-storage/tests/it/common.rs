//! Helpers shared by the test modules: owned records with deterministic payloads, a model of
//! what the log must hold, and file-level helpers for copying and damaging data directories.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nyro_storage::{
    Frame, FrameHeader, HEADER_LEN, Location, Log, LogIo, LogOptions, LogReader, Record,
    RecordKind, segment_file_name,
};

/// A record that owns its payload, so tests can keep it in a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    pub kind: RecordKind,
    pub collection: u32,
    pub id: u64,
    pub seq: u64,
    pub payload: Vec<u8>,
}

impl Owned {
    pub fn record(&self) -> Record<'_> {
        Record {
            kind: self.kind,
            collection: self.collection,
            id: self.id,
            seq: self.seq,
            payload: &self.payload,
            continues: false,
        }
    }

    /// The header a frame of this record must have.
    pub fn header(&self) -> FrameHeader {
        FrameHeader {
            frame_len: (HEADER_LEN + self.payload.len()) as u32,
            kind: self.kind,
            collection: self.collection,
            id: self.id,
            seq: self.seq,
            continues: false,
        }
    }
}

/// Deterministic, seed-dependent bytes (xorshift), so that no two payloads look alike.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Record number `seq` with a payload of `len` bytes; every header field depends on `seq`.
pub fn owned(seq: u64, len: usize) -> Owned {
    let kinds = [
        RecordKind::Put,
        RecordKind::Delete,
        RecordKind::CreateCollection,
        RecordKind::DropCollection,
    ];
    Owned {
        kind: kinds[(seq % 4) as usize],
        collection: (seq % 7) as u32 + 1,
        id: seq.wrapping_mul(1_000_003) ^ 0xABCD,
        seq,
        payload: payload(seq, len),
    }
}

/// Options with the given segment size and the real OS I/O.
pub fn opts(segment_size: u64) -> LogOptions {
    LogOptions {
        segment_size,
        ..LogOptions::default()
    }
}

/// Options with the given segment size and I/O seam.
pub fn opts_io(segment_size: u64, io: Arc<dyn LogIo>) -> LogOptions {
    LogOptions { segment_size, io }
}

/// What the log must hold, in log order.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub entries: Vec<(Location, Owned)>,
}

impl Model {
    /// Appends `records` as one batch and records the locations handed out.
    pub fn append(&mut self, log: &mut Log, records: &[Owned]) -> Vec<Location> {
        let batch: Vec<Record<'_>> = records.iter().map(Owned::record).collect();
        let locations = log.append(&batch).unwrap();
        assert_eq!(locations.len(), records.len());
        for (loc, rec) in locations.iter().zip(records) {
            assert_eq!(loc.len as usize, HEADER_LEN + rec.payload.len());
            self.entries.push((*loc, rec.clone()));
        }
        locations
    }

    pub fn max_seq(&self) -> Option<u64> {
        self.entries.iter().map(|(_, r)| r.seq).max()
    }

    /// Every record reads back byte-identical by its location, and iteration yields exactly
    /// the model, in order, with the right locations.
    pub fn check(&self, reader: &LogReader) {
        for (loc, rec) in &self.entries {
            let frame = reader.read(*loc).unwrap();
            assert_frame(&frame, *loc, rec);
        }
        let frames: Vec<Frame> = reader.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(frames.len(), self.entries.len(), "iteration length");
        for (frame, (loc, rec)) in frames.iter().zip(&self.entries) {
            assert_frame(frame, *loc, rec);
        }
    }
}

/// `frame` is the frame of `rec` at `loc`, byte for byte.
pub fn assert_frame(frame: &Frame, loc: Location, rec: &Owned) {
    assert_eq!(frame.location(), loc);
    assert_eq!(*frame.header(), rec.header(), "header at {loc:?}");
    assert_eq!(
        frame.payload(),
        rec.payload.as_slice(),
        "payload at {loc:?}"
    );
}

/// The segment files of `dir`, in id order.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with("segment-") && name.ends_with(".log")
        })
        .collect();
    files.sort();
    files
}

/// The path of segment `id` in `dir`.
pub fn segment_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(segment_file_name(id))
}

/// Copies the segment files of `src` into the (existing, empty) directory `dst`.
pub fn copy_segments(src: &Path, dst: &Path) {
    for file in segment_files(src) {
        fs::copy(&file, dst.join(file.file_name().unwrap())).unwrap();
    }
}

/// Every segment file's name and bytes, to prove something changed nothing.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    segment_files(dir)
        .into_iter()
        .map(|p| {
            let bytes = fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// Flips bit `bit` of byte `at` of `path` in place.
pub fn flip_bit(path: &Path, at: u64, bit: u8) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at as usize] ^= 1 << bit;
    fs::write(path, bytes).unwrap();
}

pub fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

/// The faults of each file effect of writing a hint (through its `hint-*.tmp` file), each
/// with whether a whole hint is in place after it: only a failed directory fsync comes
/// after the rename.
pub fn hint_write_faults() -> Vec<(nyro_storage::Fault, bool)> {
    use nyro_storage::{Effect, Fault};
    use std::io::ErrorKind;
    vec![
        (
            Fault::new(Effect::Create, ErrorKind::StorageFull).on("hint-"),
            false,
        ),
        (
            Fault::new(Effect::Write, ErrorKind::StorageFull).on("hint-"),
            false,
        ),
        (
            Fault::new(Effect::SyncData, ErrorKind::Other).on("hint-"),
            false,
        ),
        (
            Fault::new(Effect::Rename, ErrorKind::Other).on("hint-"),
            false,
        ),
        (Fault::new(Effect::SyncDir, ErrorKind::Other), true),
    ]
}

/// How many temporary files (`*.tmp`) `dir` holds.
pub fn temp_files(dir: &Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count()
}
