//! The frame: one record's bytes in a segment (layout in docs/FORMAT.md, section "Frame").
//!
//! ```text
//! offset size field
//!      0    4 frame_len   u32 LE, whole frame including this header, 32 ..= MAX_FRAME_LEN
//!      4    4 crc32c      u32 LE, CRC-32C of bytes [0, 4) followed by bytes [8, frame_len)
//!      8    1 kind        1 put, 2 delete, 3 create collection, 4 drop collection,
//!                         5 replace, 6 compaction marker, 7 raft entry, 8 raft truncate
//!      9    1 flags       bit 0: another record of the same write follows (format 2)
//!     10    2 reserved    zero
//!     12    4 collection  u32 LE
//!     16    8 record id   u64 LE
//!     24    8 seq         u64 LE
//!     32    . payload     frame_len - 32 bytes
//! ```
//!
//! Bytes read from disk are untrusted: [`check`] verifies length bounds, then the checksum,
//! then the header fields, and only then hands out a [`FrameHeader`]. Like mini-redis's
//! `Frame::check`, it tells a frame cut short by the end of the input (`Incomplete`) apart
//! from a frame that is wrong (`Invalid`), which is what recovery needs to tell a torn tail
//! from corruption.

use std::fmt;

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 32;
/// Largest frame, header included (1 GiB). Larger lengths are treated as damage.
pub const MAX_FRAME_LEN: usize = 1 << 30;
/// Largest payload a frame can carry.
pub const MAX_PAYLOAD_LEN: usize = MAX_FRAME_LEN - HEADER_LEN;

const OFF_LEN: usize = 0;
const OFF_CRC: usize = 4;
const OFF_KIND: usize = 8;
const OFF_FLAGS: usize = 9;
const OFF_RESERVED: usize = 10;
/// Flags bit: another record of the same write follows this one.
const FLAG_CONTINUES: u8 = 1;
const OFF_COLLECTION: usize = 12;
const OFF_ID: usize = 16;
const OFF_SEQ: usize = 24;

/// What a record means. The storage layer only keeps the kind; the layers above give it
/// meaning (docs/FORMAT.md lists each kind's payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// A document was inserted or replaced; the payload is the document.
    Put = 1,
    /// A document was deleted; the payload is empty (a tombstone).
    Delete = 2,
    /// A collection was created; the payload is its definition.
    CreateCollection = 3,
    /// A collection was dropped with all its documents; the payload is empty.
    DropCollection = 4,
    /// A document that existed was replaced; the payload is the new document. Replayed
    /// exactly like [`RecordKind::Put`]; kept apart so the change feed can still tell an
    /// update from an insert after compaction removed the earlier version (format 2).
    Replace = 5,
    /// The first frame of a segment written by compaction: its place in the log, the file it
    /// replaces, and the highest sequence number compaction dropped (format 2).
    CompactionMarker = 6,
    /// A Raft log entry of a cluster (format 3): collection 0, id = the entry's term, seq =
    /// its log index; the payload is the replication crate's (the entry's kind, a
    /// membership or the proposal's `after`), opaque here. When the entry carries writes,
    /// their records follow it with the continues flag set on it. A standalone log never
    /// has one.
    RaftEntry = 7,
    /// Voids a cluster's Raft entries from log index seq on (format 3): collection 0, id 0,
    /// empty payload. The entries stay in the log; replay forgets them. A standalone log
    /// never has one.
    RaftTruncate = 8,
    /// An index was added to a collection (format 4): collection = its id, id 0, the seq of
    /// a catalog record; the payload is the index's path. The index is built from the
    /// documents stored before it (and kept up to date by every later write).
    AddIndex = 9,
    /// An index was dropped from a collection (format 4): as [`RecordKind::AddIndex`], the
    /// payload is the dropped index's path.
    DropIndex = 10,
}

impl RecordKind {
    /// The kind for a stored byte, if it is one this build knows.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Put),
            2 => Some(Self::Delete),
            3 => Some(Self::CreateCollection),
            4 => Some(Self::DropCollection),
            5 => Some(Self::Replace),
            6 => Some(Self::CompactionMarker),
            7 => Some(Self::RaftEntry),
            8 => Some(Self::RaftTruncate),
            9 => Some(Self::AddIndex),
            10 => Some(Self::DropIndex),
            _ => None,
        }
    }

    /// True for [`RecordKind::RaftEntry`] and [`RecordKind::RaftTruncate`]: their seq is a
    /// Raft log index, not a write's sequence number, and they name no collection.
    pub fn is_raft(self) -> bool {
        matches!(self, Self::RaftEntry | Self::RaftTruncate)
    }

    /// The kind's name, as reports print it: `put`, `delete`, `create_collection`,
    /// `drop_collection`, `replace`, `compaction_marker`, `raft_entry`, `raft_truncate`,
    /// `add_index`, `drop_index`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Put => "put",
            Self::Delete => "delete",
            Self::CreateCollection => "create_collection",
            Self::DropCollection => "drop_collection",
            Self::Replace => "replace",
            Self::CompactionMarker => "compaction_marker",
            Self::RaftEntry => "raft_entry",
            Self::RaftTruncate => "raft_truncate",
            Self::AddIndex => "add_index",
            Self::DropIndex => "drop_index",
        }
    }
}

/// One record to append: the header fields and the payload bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// What the record means.
    pub kind: RecordKind,
    /// The collection it belongs to.
    pub collection: u32,
    /// The record's id within the collection.
    pub id: u64,
    /// Its database-wide sequence number.
    pub seq: u64,
    /// The payload, stored as is.
    pub payload: &'a [u8],
    /// Another record of the same write follows this one in the same append. Recovery
    /// drops a write whose last record is missing from the end of the log, so that a write
    /// of several records (a bulk insert) survives a crash whole or not at all.
    pub continues: bool,
}

/// The fields of a checked frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Whole frame length, header included.
    pub frame_len: u32,
    /// What the record means.
    pub kind: RecordKind,
    /// The collection it belongs to.
    pub collection: u32,
    /// The record's id.
    pub id: u64,
    /// Its sequence number.
    pub seq: u64,
    /// Another record of the same write follows (see [`Record::continues`]).
    pub continues: bool,
}

/// Why a frame failed its checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameDefect {
    /// The input ends before the frame does.
    Truncated {
        /// Bytes the frame needs (at least the header when its length is unreadable).
        needed: u64,
        /// Bytes there are.
        available: u64,
    },
    /// The length field is below the header size or above [`MAX_FRAME_LEN`].
    LengthOutOfRange(u32),
    /// The checksum does not match the bytes.
    ChecksumMismatch {
        /// The checksum stored in the frame.
        stored: u32,
        /// The checksum of the bytes as they are.
        computed: u32,
    },
    /// The checksum matched but the kind byte is not one this build knows.
    UnknownKind(u8),
    /// The checksum matched but reserved bytes are not zero.
    ReservedNotZero,
}

impl fmt::Display for FrameDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, available } => write!(
                f,
                "frame cut short: it needs {needed} bytes but only {available} remain"
            ),
            Self::LengthOutOfRange(len) => write!(
                f,
                "frame length {len} is outside {HEADER_LEN}..={MAX_FRAME_LEN}"
            ),
            Self::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            Self::UnknownKind(kind) => write!(f, "unknown record kind {kind}"),
            Self::ReservedNotZero => write!(f, "unknown flags or reserved header bytes not zero"),
        }
    }
}

/// The outcome of checking the bytes at some offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameCheck {
    /// A whole, intact frame.
    Complete(FrameHeader),
    /// The input ends inside the frame (or inside its header). At the end of the newest
    /// segment this is a torn write.
    Incomplete(FrameDefect),
    /// The bytes are not a valid frame.
    Invalid(FrameDefect),
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(raw)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(raw)
}

/// The checksum of a frame: CRC-32C over the length field and everything after the
/// checksum field, so a damaged length is caught like any other damaged byte.
fn checksum(frame: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&frame[OFF_LEN..OFF_CRC]), &frame[OFF_KIND..])
}

/// Checks the frame that starts at the beginning of `bytes`. Trailing bytes after the frame
/// are ignored. Order of checks: length bounds, then checksum, then field values.
pub fn check(bytes: &[u8]) -> FrameCheck {
    check_with(bytes, true)
}

/// [`check`] without the checksum, for frames checked whole before (a hint's, once the
/// hint was validated).
pub(crate) fn check_checked(bytes: &[u8]) -> FrameCheck {
    check_with(bytes, false)
}

fn check_with(bytes: &[u8], checksummed: bool) -> FrameCheck {
    let available = bytes.len() as u64;
    if bytes.len() < HEADER_LEN {
        return FrameCheck::Incomplete(FrameDefect::Truncated {
            needed: HEADER_LEN as u64,
            available,
        });
    }
    let frame_len = u32_at(bytes, OFF_LEN);
    if (frame_len as usize) < HEADER_LEN || frame_len as usize > MAX_FRAME_LEN {
        return FrameCheck::Invalid(FrameDefect::LengthOutOfRange(frame_len));
    }
    if frame_len as u64 > available {
        return FrameCheck::Incomplete(FrameDefect::Truncated {
            needed: frame_len as u64,
            available,
        });
    }
    let frame = &bytes[..frame_len as usize];
    let stored = u32_at(frame, OFF_CRC);
    if checksummed {
        let computed = checksum(frame);
        if stored != computed {
            return FrameCheck::Invalid(FrameDefect::ChecksumMismatch { stored, computed });
        }
    }
    let Some(kind) = RecordKind::from_byte(frame[OFF_KIND]) else {
        return FrameCheck::Invalid(FrameDefect::UnknownKind(frame[OFF_KIND]));
    };
    if frame[OFF_FLAGS] & !FLAG_CONTINUES != 0 || frame[OFF_RESERVED..OFF_COLLECTION] != [0, 0] {
        return FrameCheck::Invalid(FrameDefect::ReservedNotZero);
    }
    FrameCheck::Complete(FrameHeader {
        frame_len,
        kind,
        collection: u32_at(frame, OFF_COLLECTION),
        id: u64_at(frame, OFF_ID),
        seq: u64_at(frame, OFF_SEQ),
        continues: frame[OFF_FLAGS] & FLAG_CONTINUES != 0,
    })
}

/// The number of bytes `record` takes as a frame.
pub fn frame_len(record: &Record<'_>) -> usize {
    HEADER_LEN + record.payload.len()
}

/// Appends `record` as one frame to `out`. The caller has checked that the payload is at
/// most [`MAX_PAYLOAD_LEN`] bytes. (Also the container format of a cluster's snapshot
/// files: frames checked like the log's.)
pub fn encode(record: &Record<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    let len = frame_len(record) as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // checksum, filled in below
    out.push(record.kind as u8);
    out.push(if record.continues { FLAG_CONTINUES } else { 0 });
    out.extend_from_slice(&[0; 2]);
    out.extend_from_slice(&record.collection.to_le_bytes());
    out.extend_from_slice(&record.id.to_le_bytes());
    out.extend_from_slice(&record.seq.to_le_bytes());
    out.extend_from_slice(record.payload);
    let crc = checksum(&out[start..]);
    out[start + OFF_CRC..start + OFF_CRC + 4].copy_from_slice(&crc.to_le_bytes());
}

/// The offset of the first intact frame in `bytes` at or after `from`, if any. Used after a
/// bad frame to tell a torn tail (nothing intact follows) from corruption (something does),
/// and by `verify` to resume after damage.
pub(crate) fn next_intact(bytes: &[u8], from: usize) -> Option<usize> {
    let last_start = bytes.len().checked_sub(HEADER_LEN)?;
    (from..=last_start).find(|&at| {
        let rest = &bytes[at..];
        // Cheap rejections first so most offsets never reach the checksum.
        let len = u32_at(rest, OFF_LEN) as usize;
        len >= HEADER_LEN
            && len <= rest.len()
            && RecordKind::from_byte(rest[OFF_KIND]).is_some()
            && rest[OFF_FLAGS] & !FLAG_CONTINUES == 0
            && rest[OFF_RESERVED..OFF_COLLECTION] == [0, 0]
            && matches!(check(rest), FrameCheck::Complete(_))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(
            &Record {
                kind: RecordKind::Put,
                collection: 7,
                id: 42,
                seq: 9,
                payload,
                continues: false,
            },
            &mut out,
        );
        out
    }

    #[test]
    fn encoded_frame_checks_complete_with_its_fields() {
        let bytes = sample(b"hello");
        assert_eq!(bytes.len(), HEADER_LEN + 5);
        let FrameCheck::Complete(h) = check(&bytes) else {
            panic!("not complete: {:?}", check(&bytes));
        };
        assert_eq!(
            h,
            FrameHeader {
                frame_len: 37,
                kind: RecordKind::Put,
                collection: 7,
                id: 42,
                seq: 9,
                continues: false,
            }
        );
        assert_eq!(&bytes[HEADER_LEN..], b"hello");
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let bytes = sample(b"some payload");
        for cut in 0..bytes.len() {
            assert!(
                matches!(check(&bytes[..cut]), FrameCheck::Incomplete(_)),
                "prefix of {cut} bytes"
            );
        }
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let bytes = sample(b"payload bytes");
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                !matches!(check(&damaged), FrameCheck::Complete(_)),
                "flip of bit {bit} went unnoticed"
            );
        }
    }

    #[test]
    fn every_kind_round_trips_through_its_byte_and_a_frame() {
        use RecordKind::*;
        let kinds = [
            Put,
            Delete,
            CreateCollection,
            DropCollection,
            Replace,
            CompactionMarker,
            RaftEntry,
            RaftTruncate,
            AddIndex,
            DropIndex,
        ];
        for (byte, kind) in (1u8..).zip(kinds) {
            assert_eq!(kind as u8, byte);
            assert_eq!(RecordKind::from_byte(byte), Some(kind));
            let mut out = Vec::new();
            let record = Record {
                kind,
                collection: 0,
                id: 3,
                seq: 12,
                payload: b"opaque",
                continues: true,
            };
            encode(&record, &mut out);
            let FrameCheck::Complete(h) = check(&out) else {
                panic!("{} frame not complete", kind.name());
            };
            assert_eq!((h.kind, h.id, h.seq, h.continues), (kind, 3, 12, true));
        }
        assert_eq!(RecordKind::RaftEntry.name(), "raft_entry");
        assert_eq!(RecordKind::RaftTruncate.name(), "raft_truncate");
        assert_eq!(RecordKind::AddIndex.name(), "add_index");
        assert_eq!(RecordKind::DropIndex.name(), "drop_index");
        assert_eq!(RecordKind::from_byte(11), None);
        assert_eq!(RecordKind::from_byte(0), None);
    }

    #[test]
    fn length_out_of_range_is_invalid() {
        let mut bytes = sample(b"x");
        bytes[0..4].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(
            check(&bytes),
            FrameCheck::Invalid(FrameDefect::LengthOutOfRange(3))
        );
    }

    #[test]
    fn next_intact_skips_garbage() {
        let mut bytes = vec![0xAB; 13];
        let frame = sample(b"abc");
        bytes.extend_from_slice(&frame);
        assert_eq!(next_intact(&bytes, 0), Some(13));
        assert_eq!(next_intact(&bytes, 14), None);
        assert_eq!(next_intact(&[], 0), None);
    }
}
