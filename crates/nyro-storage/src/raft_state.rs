//! The durable state a cluster node keeps beside its log (docs/FORMAT.md section 9): two
//! small files whose payload is opaque here (the replication crate's encoding).
//!
//! - `raft-state` (the vote and the last purged log id) is replaced whole and
//!   durably: temporary file, fdatasync, rename, directory fsync ([`crate::publish`]). It is
//!   only ever seen whole, so a copy that fails its checks is media corruption, an error.
//! - `raft-committed` (the commit index) is overwritten in place with one `pwrite`, never
//!   fsynced: a best-effort hint, which a crash may leave old, torn or missing.
//!
//! Both are `NYRORAFT`, u32 version 1, u32 payload length, u32 CRC-32C of the payload, then
//! the payload. Every file effect goes through the [`LogIo`] seam.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{IoContext, Result, StorageError};
use crate::io::{LogIo, OpenMode, publish, write_all_at};

/// The file holding the durable Raft state, in the data directory.
pub const RAFT_STATE_FILE: &str = "raft-state";
/// The temporary file a new `raft-state` is written to before its rename.
pub const RAFT_STATE_TEMP: &str = "raft-state.tmp";
/// The file holding the best-effort commit hint, in the data directory.
pub const RAFT_COMMITTED_FILE: &str = "raft-committed";

const MAGIC: &[u8; 8] = b"NYRORAFT";
const VERSION: u32 = 1;
/// Magic, version, payload length, payload CRC.
const HEADER_LEN: usize = 20;

/// The header of a file holding `payload`.
fn header(payload: &[u8]) -> Result<[u8; HEADER_LEN], &'static str> {
    let len = u32::try_from(payload.len()).map_err(|_| "the payload is 4 GiB or more")?;
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&len.to_le_bytes());
    h[16..20].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    Ok(h)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

/// The payload of a file's bytes, or what is wrong with them. Bytes after the payload are
/// refused when `exact` (a published file is written whole) and ignored otherwise (a
/// shorter commit hint written over a longer one leaves them).
fn decode(bytes: &[u8], exact: bool) -> Result<&[u8], String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!(
            "it is {} bytes long, shorter than its {HEADER_LEN}-byte header",
            bytes.len()
        ));
    }
    if &bytes[0..8] != MAGIC {
        return Err("wrong magic bytes (not a NyroDB Raft state file)".into());
    }
    let version = u32_at(bytes, 8);
    if version != VERSION {
        return Err(format!(
            "version {version}, this build reads version {VERSION}"
        ));
    }
    let len = u32_at(bytes, 12) as usize;
    let rest = &bytes[HEADER_LEN..];
    if rest.len() < len || (exact && rest.len() != len) {
        return Err(format!(
            "its header says {len} payload bytes but {} follow it",
            rest.len()
        ));
    }
    let payload = &rest[..len];
    let (stored, computed) = (u32_at(bytes, 16), crc32c::crc32c(payload));
    if stored != computed {
        return Err(format!(
            "payload checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
        ));
    }
    Ok(payload)
}

/// The bytes of `path`, or `None` if there is no such file.
fn read_if_there(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A node's durable Raft state files in its data directory (see the module docs). Cheap to
/// clone, `Send + Sync`; usable while the [`crate::Log`] of the same directory is open (the
/// log ignores these files). Its methods block on file I/O: call them from a blocking
/// thread (`spawn_blocking`), not from an async task.
#[derive(Debug, Clone)]
pub struct RaftStateStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    io: Arc<dyn LogIo>,
    /// Held while `raft-state` is replaced: two stores at once would share its temp file.
    state: Mutex<()>,
    /// Held while `raft-committed` is written, so two writes never interleave.
    committed: Mutex<()>,
}

impl RaftStateStore {
    /// The state files of data directory `dir`, with every file effect through `io`.
    /// Touches nothing until a method is called.
    pub fn new(dir: impl Into<PathBuf>, io: Arc<dyn LogIo>) -> Self {
        Self {
            inner: Arc::new(Inner {
                dir: dir.into(),
                io,
                state: Mutex::new(()),
                committed: Mutex::new(()),
            }),
        }
    }

    /// The path of `raft-state`.
    pub fn state_path(&self) -> PathBuf {
        self.inner.dir.join(RAFT_STATE_FILE)
    }

    /// The path of `raft-committed`.
    pub fn committed_path(&self) -> PathBuf {
        self.inner.dir.join(RAFT_COMMITTED_FILE)
    }

    /// Replaces `raft-state` with `payload`, durably: writes `raft-state.tmp`, fdatasyncs
    /// it, renames it over `raft-state` and fsyncs the directory. Returns only once the new
    /// state survives a power cut.
    ///
    /// On an error nothing may be assumed stored: a failure before the rename leaves the
    /// previous state in place (and removes the temporary file); a failed directory fsync
    /// leaves the new state under the name, but a power cut may bring back the previous
    /// one. Either way [`RaftStateStore::load_state`] finds one of the two, whole.
    pub fn store_state(&self, payload: &[u8]) -> Result<()> {
        let path = self.state_path();
        let head = header(payload).map_err(|reason| StorageError::BadRaftState {
            path: path.clone(),
            reason: reason.to_string(),
        })?;
        let _one_at_a_time = self.inner.state.lock();
        publish(
            self.inner.io.as_ref(),
            &self.inner.dir,
            RAFT_STATE_TEMP,
            RAFT_STATE_FILE,
            &[&head, payload],
        )
    }

    /// The payload of `raft-state`; `None` if there is none (a node that never stored its
    /// state). A file that fails its checks is [`StorageError::BadRaftState`], naming it and
    /// what is wrong: it was published whole, so damage is media corruption, never ignored.
    /// A `raft-state.tmp` left by a store that a crash interrupted is removed first.
    pub fn load_state(&self) -> Result<Option<Vec<u8>>> {
        let _one_at_a_time = self.inner.state.lock();
        let temp = self.inner.dir.join(RAFT_STATE_TEMP);
        match self.inner.io.remove_file(&temp) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                // Harmless: the next store empties it first, and it is never read.
                tracing::warn!(file = %temp.display(), error = %e,
                    "cannot remove the temporary file of an interrupted Raft state store");
            }
            _ => {}
        }
        let path = self.state_path();
        let Some(bytes) = read_if_there(&path).io_context("read Raft state", &path)? else {
            return Ok(None);
        };
        match decode(&bytes, true) {
            Ok(payload) => Ok(Some(payload.to_vec())),
            Err(defect) => Err(StorageError::BadRaftState {
                path,
                reason: format!(
                    "{defect}; the file is only ever replaced whole (written, fdatasynced, \
                     renamed), so this is media corruption, and the node cannot vote safely \
                     without it: remove the node from the cluster and add it back with an \
                     empty data directory"
                ),
            }),
        }
    }

    /// Overwrites `raft-committed` with `payload` in place: one `pwrite` of the header and
    /// the payload, no fsync (the file is created if missing). Cheap enough for every
    /// commit advance. The file is a **best-effort hint**: a crash may leave it older than
    /// the last store, torn, or missing, and [`RaftStateStore::load_committed`] then says
    /// `None` or gives an older value. Errors are those of opening and writing the file.
    pub fn store_committed(&self, payload: &[u8]) -> Result<()> {
        let path = self.committed_path();
        let head = header(payload).map_err(|reason| StorageError::BadRaftState {
            path: path.clone(),
            reason: reason.to_string(),
        })?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
        bytes.extend_from_slice(&head);
        bytes.extend_from_slice(payload);
        let io = self.inner.io.as_ref();
        let _one_at_a_time = self.inner.committed.lock();
        let file = match io.open(&path, OpenMode::Existing) {
            Err(e) if e.kind() == ErrorKind::NotFound => io.open(&path, OpenMode::CreateNew),
            opened => opened,
        }
        .io_context("open Raft commit hint", &path)?;
        write_all_at(io, &path, &file, 0, &bytes).io_context("write Raft commit hint", &path)
    }

    /// The payload of `raft-committed`, if it is there and intact. A **best-effort hint**:
    /// `None` when the file is missing, cut short, damaged or unreadable (a crash can leave
    /// it so, since it is never fsynced); the caller then learns the commit index again
    /// (from the leader). Never an error.
    pub fn load_committed(&self) -> Option<Vec<u8>> {
        let path = self.committed_path();
        let bytes = match read_if_there(&path) {
            Ok(bytes) => bytes?,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e,
                    "cannot read the Raft commit hint; ignoring it");
                return None;
            }
        };
        match decode(&bytes, false) {
            Ok(payload) => Some(payload.to_vec()),
            Err(reason) => {
                tracing::warn!(file = %path.display(), reason,
                    "the Raft commit hint is damaged; ignoring it");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn decode_takes_what_header_writes_and_refuses_damage() {
        let payload = b"vote and purged log id";
        let mut bytes = header(payload).unwrap().to_vec();
        bytes.extend_from_slice(payload);
        assert_eq!(decode(&bytes, true), Ok(&payload[..]));
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], false).is_err(), "cut at {cut}");
        }
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&damaged, true).is_err(), "flip of bit {bit}");
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(b"stale tail");
        assert!(decode(&longer, true).is_err());
        assert_eq!(decode(&longer, false), Ok(&payload[..]));
        let empty = header(b"").unwrap();
        assert_eq!(decode(&empty, true), Ok(&b""[..]));
    }
}
