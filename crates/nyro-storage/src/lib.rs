//! # nyro-storage: NyroDB's log
//!
//! A segmented, checksummed, append-only log, read through `mmap`. It is the only place
//! NyroDB keeps data; everything else (indexes, change feed) is rebuilt from it.
//!
//! - [`Log`] is the single writer: [`Log::append`] writes a whole batch of [`Record`]s with
//!   one `write` and returns each one's [`Location`]; [`Log::sync`] is one fdatasync of the
//!   active segment; a segment past [`LogOptions::segment_size`] is sealed (fsynced) and a
//!   new one started (created, header synced, directory fsynced).
//! - [`LogReader`] (from [`Log::reader`], cheap to clone, usable from any thread) reads a
//!   location zero-copy out of the segment's map and iterates every frame in log order;
//!   a [`ReadSnapshot`] ([`LogReader::snapshot`]) reads many locations against one load of
//!   the segment table (what a scan reads a chunk of documents with).
//! - [`verify`] checks a whole directory and reports every damaged place; [`repair`] keeps
//!   every intact frame of a damaged one and moves the damaged ranges to `lost+found`;
//!   [`LogReader::check_segment`] checks one segment of an open log, at a pace the caller sets.
//! - Hint files ([`Hint`], docs/FORMAT.md section 6) describe a sealed segment's records
//!   ([`LogReader::write_hint`]), or the active segment's at a clean close
//!   ([`LogReader::write_active_hint`]), so that open need not decode their payloads; open
//!   keeps the ones it trusted for replay ([`LogReader::hint`], [`Hint::covered`]) and
//!   [`LogReader::segment_frames_from`] reads the frames after them.
//! - [`codec`] is the one place that encodes and decodes payload values (bincode).
//! - [`RaftStateStore`] keeps a cluster node's durable Raft state (`raft-state`, replaced
//!   atomically and durably through [`publish`]) and its best-effort commit hint
//!   (`raft-committed`) beside the log.
//!
//! Invariants:
//! - Every byte read from disk is checked before use: checksum, then bounds, then decode.
//!   No read ever returns a frame that fails its CRC-32C.
//! - On open, only a torn tail of the newest segment is dropped (and reported). Damage that
//!   intact frames follow, or damage in a sealed segment, is an error naming file and
//!   offset, never skipped. The newest segment is always checked whole (a hint of it only
//!   spares decoding); a sealed segment with a trustworthy hint is not read on open.
//! - A hint is never needed: one that is missing, damaged or does not match its segment is
//!   ignored, and the segment is scanned.
//! - After a failed fdatasync the log is poisoned and refuses writes until reopened.
//! - Every filesystem effect goes through the I/O seam [`LogIo`] (writes, fdatasyncs,
//!   creations, `set_len`, renames, removals, directory fsyncs), which tests replace with a
//!   [`FaultInjector`] that fails any of them; [`FailSyncWhen`] fails every sync while a
//!   trigger file exists (a real server's failing disk, for fault-injection tests).
//! - The segment table and the active segment's id are published together: a reader sees
//!   exactly one active segment, the last in log order ([`LogReader::segments`]).
//! - One process holds a data directory at a time ([`DirLock`]).
//! - `unsafe` code exists only in the private `mmap` module.
//!
//! The bytes on disk are specified in `docs/FORMAT.md`.
//!
//! ```
//! use nyro_storage::{Log, LogOptions, Record, RecordKind};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let mut log = Log::open(dir.path(), LogOptions::default())?;
//! let locations = log.append(&[
//!     Record { kind: RecordKind::Put, collection: 1, id: 1, seq: 1, payload: b"hello", continues: false },
//!     Record { kind: RecordKind::Put, collection: 1, id: 2, seq: 2, payload: b"world", continues: false },
//! ])?;
//! log.sync()?; // durable now
//!
//! let frame = log.reader().read(locations[1])?; // zero-copy, checksum verified
//! assert_eq!(frame.payload(), b"world");
//! assert_eq!(log.reader().iter().count(), 2);
//!
//! drop(log); // releases the directory lock
//! let reopened = Log::open(dir.path(), LogOptions::default())?;
//! assert_eq!(reopened.recovery().frames, 2);
//! # Ok(()) }
//! ```

mod check;
pub mod codec;
mod compact;
mod error;
mod fail_sync;
mod frame;
mod hint;
mod io;
mod lock;
mod log;
mod mmap;
mod raft_state;
mod reader;
mod repair;
mod scan;
mod sealed;
mod segment;
mod table;
mod verify;

pub use check::{CHECK_CHUNK, SegmentCheck};
pub use compact::{CompactionStep, Moved, Rewritten};
pub use error::{Result, StorageError};
pub use fail_sync::FailSyncWhen;
pub use frame::{
    FrameCheck, FrameDefect, FrameHeader, HEADER_LEN, MAX_FRAME_LEN, MAX_PAYLOAD_LEN, Record,
    RecordKind, check as check_frame, encode as encode_frame, frame_len,
};
pub use hint::{Hint, HintEntry, active_hint_file_name, check_hint, hint_file_name};
pub use io::{Effect, Fault, FaultInjector, LogIo, OpenMode, OsIo, WriteFault, publish};
pub use lock::{DirLock, LOCK_FILE};
pub use log::{Log, LogOptions, RecoveryReport, TornTail};
pub use raft_state::{RAFT_COMMITTED_FILE, RAFT_STATE_FILE, RAFT_STATE_TEMP, RaftStateStore};
pub use reader::{
    Frame, LENGTH_MISMATCH, Location, LogIter, LogReader, NO_SUCH_SEGMENT, ReadSnapshot,
    SegmentFrames, SegmentInfo,
};
pub use repair::{
    AddedRecord, LOST_FOUND_DIR, LostRange, Neighbour, NoMeaning, REPORT_FILE, RecordMeaning,
    RepairReport, RewrittenSegment, repair, repair_with, repair_with_io,
};
pub use segment::{
    FORMAT_VERSION, OLDEST_READABLE_VERSION, SEGMENT_HEADER_LEN, file_name as segment_file_name,
    parse_file_name as parse_segment_file_name,
};
pub use verify::{Problem, Severity, VerifyReport, verify};
