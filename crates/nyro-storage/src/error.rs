//! The storage crate's one error type.

use std::io;
use std::path::PathBuf;

use crate::frame::FrameDefect;

/// Everything that can go wrong in the log. Each variant names the file (and offset where
/// there is one) and, in its message, what the operator can do about it.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O call failed; `op` says which (open, read, truncate, ...).
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done, e.g. "open segment".
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// Another process (or another `Log` in this process) holds the data directory.
    #[error(
        "data directory {dir} is locked by another process (is a nyrodb server running on it?); \
         stop that process or use another directory"
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
    },

    /// A frame that is not the torn tail of the newest segment failed its checks: media
    /// corruption. The log refuses to open rather than silently drop it.
    #[error(
        "corrupt frame in {path} at offset {offset}: {defect}; \
         run `nyrodb verify` to list every damaged place and `nyrodb repair` to keep what is intact"
    )]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the bad frame (or header) within the file.
        offset: u64,
        /// What is wrong with it.
        defect: FrameDefect,
    },

    /// A segment file's header is not a NyroDB segment header of a version this build reads.
    #[error("{path} is not a valid NyroDB segment: {reason}")]
    BadSegmentHeader {
        /// The segment file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A read asked for a location that this log never handed out.
    #[error(
        "no record at segment {segment} offset {offset} length {len}: {reason} \
         (the location does not come from this log, or its segment was compacted away)"
    )]
    BadLocation {
        /// Segment id of the location.
        segment: u32,
        /// Offset of the location.
        offset: u64,
        /// Length of the location.
        len: u32,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A record is larger than a frame can hold.
    #[error("record {id} is {len} bytes, more than the largest frame payload ({max} bytes)")]
    RecordTooLarge {
        /// The record's id.
        id: u64,
        /// Its payload length.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// Writing a batch failed. Nothing of the batch is in the log: the partial bytes were
    /// cut back. Writes may succeed again once the cause (e.g. a full disk) is gone.
    #[error(
        "writing {records} records ({bytes} bytes) to {path} at offset {offset} failed: {source}; \
         nothing of this batch was kept"
    )]
    WriteFailed {
        /// The active segment.
        path: PathBuf,
        /// Where the batch started.
        offset: u64,
        /// Records in the failed batch.
        records: usize,
        /// Bytes in the failed batch.
        bytes: usize,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The log refuses writes for good (until it is reopened): an fdatasync failed, or the
    /// tail of a failed write could not be cut back. After a failed fdatasync the kernel may
    /// have dropped dirty pages, so retrying could report success for lost data.
    #[error(
        "the log no longer accepts writes: {reason}; reads go on; restart to recover from the log"
    )]
    Poisoned {
        /// What happened first.
        reason: String,
    },

    /// `repair` cannot add to `lost+found` without losing what an earlier repair put there.
    #[error(
        "cannot add to {path}: {reason}; it holds what an earlier repair kept, so it is left \
         as it is: move it out of the data directory and run `nyrodb repair` again"
    )]
    LostFound {
        /// The file in `lost+found`.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A Raft state file (`raft-state`, `raft-committed`) cannot be read or written as it
    /// is: `reason` says what is wrong and what to do.
    #[error("Raft state file {path}: {reason}")]
    BadRaftState {
        /// The file.
        path: PathBuf,
        /// What is wrong (and, for damage, what to do).
        reason: String,
    },

    /// A value could not be encoded or decoded by the codec.
    #[error(transparent)]
    Codec(#[from] crate::codec::CodecError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Attaches the operation and path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn io_context(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn io_context(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| StorageError::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}
