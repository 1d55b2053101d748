//! Online backup and restore.
//!
//! A backup is a directory holding hard links to (or, across filesystems, copies of) the
//! sealed segment files at a cut, plus `MANIFEST.json` naming every file with its size and
//! CRC-32C. Sealed segments never change (compaction replaces them whole and only unlinks
//! the old file), so a hard link keeps the bytes of the cut even after the live database
//! compacts them away.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nyro_storage::{SegmentInfo, StorageError};
use serde::{Deserialize, Serialize};

use crate::error::{DbError, Result};

/// The manifest's file name in a backup directory.
pub const MANIFEST_FILE: &str = "MANIFEST.json";
/// The manifest format this version writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupFile {
    /// The file name (a segment file name, no directory).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// CRC-32C of its bytes.
    pub crc32c: u32,
}

/// What `MANIFEST.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupManifest {
    /// The manifest format ([`MANIFEST_VERSION`]).
    pub format: u32,
    /// The NyroDB version that wrote it.
    pub nyrodb_version: String,
    /// When the backup was made, milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// The highest sequence number in the backup: every write acknowledged before the
    /// backup started has a sequence number at or below it.
    pub last_seq: u64,
    /// The segment files, in log order of their ids.
    pub files: Vec<BackupFile>,
}

impl BackupManifest {
    /// Bytes in all files of the backup.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

fn io_error(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> DbError + use<> {
    let path = path.to_path_buf();
    move |source| DbError::Storage(StorageError::Io { op, path, source })
}

fn damaged(path: &Path, reason: impl Into<String>) -> DbError {
    DbError::DamagedBackup {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Creates `dir` if missing; refuses one that holds anything.
fn prepare_empty_dir(dir: &Path, what: &str) -> Result<()> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(DbError::invalid(format!(
                    "the {what} directory {} is not empty; give a new or empty directory",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
            Ok(())
        }
        Err(e) => Err(io_error("read directory", dir)(e)),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("fsync directory", dir))
}

/// CRC-32C and length of a file's bytes.
fn checksum(path: &Path) -> Result<(u64, u32)> {
    let mut file = File::open(path).map_err(io_error("open", path))?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut len, mut crc) = (0u64, 0u32);
    loop {
        let n = file.read(&mut buf).map_err(io_error("read", path))?;
        if n == 0 {
            return Ok((len, crc));
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        len += n as u64;
    }
}

/// Copies `from` to `to` (created, must not exist), fsyncs it; returns length and CRC-32C of
/// the bytes copied.
fn copy_file(from: &Path, to: &Path) -> Result<(u64, u32)> {
    let mut src = File::open(from).map_err(io_error("open", from))?;
    let mut dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(io_error("create", to))?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut len, mut crc) = (0u64, 0u32);
    loop {
        let n = src.read(&mut buf).map_err(io_error("read", from))?;
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n]).map_err(io_error("write", to))?;
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        len += n as u64;
    }
    dst.sync_all().map_err(io_error("fsync", to))?;
    Ok((len, crc))
}

/// Writes the backup of `sealed` (sealed segments of the cut) into `dir`; runs on a blocking
/// thread while the caller holds the compaction lock.
pub(crate) fn write_backup(
    dir: &Path,
    sealed: &[SegmentInfo],
    last_seq: u64,
) -> Result<BackupManifest> {
    prepare_empty_dir(dir, "backup")?;
    let mut files = Vec::with_capacity(sealed.len());
    for segment in sealed {
        let Some(name) = segment.path.file_name().and_then(|n| n.to_str()) else {
            return Err(DbError::Internal {
                message: format!("segment path {} has no file name", segment.path.display()),
            });
        };
        let target = dir.join(name);
        let (size, crc32c) = match fs::hard_link(&segment.path, &target) {
            Ok(()) => checksum(&target)?,
            // Another filesystem (EXDEV) or one without hard links: copy instead.
            Err(_) => copy_file(&segment.path, &target)?,
        };
        if size != segment.bytes {
            return Err(DbError::Internal {
                message: format!(
                    "sealed segment {} has {size} bytes on disk but {} in the log",
                    segment.path.display(),
                    segment.bytes
                ),
            });
        }
        files.push(BackupFile {
            name: name.to_string(),
            size,
            crc32c,
        });
    }
    sync_dir(dir)?;
    let created_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let manifest = BackupManifest {
        format: MANIFEST_VERSION,
        nyrodb_version: env!("CARGO_PKG_VERSION").to_string(),
        created_unix_ms,
        last_seq,
        files,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| DbError::Internal {
        message: format!("cannot encode the backup manifest: {e}"),
    })?;
    let tmp = format!("{MANIFEST_FILE}.tmp");
    nyro_storage::publish(&nyro_storage::OsIo, dir, &tmp, MANIFEST_FILE, &[&json])?;
    Ok(manifest)
}

/// Reads and checks the manifest of the backup in `from`: every file it names is present
/// with the recorded size and CRC-32C. A damaged backup is refused with
/// [`DbError::DamagedBackup`] naming the file.
pub fn check_backup(from: &Path) -> Result<BackupManifest> {
    let path = from.join(MANIFEST_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(damaged(
                &path,
                "missing: this is not a NyroDB backup directory (or the backup never finished)",
            ));
        }
        Err(e) => return Err(io_error("read", &path)(e)),
    };
    let manifest: BackupManifest = serde_json::from_slice(&bytes)
        .map_err(|e| damaged(&path, format!("not a valid manifest: {e}")))?;
    if manifest.format != MANIFEST_VERSION {
        return Err(damaged(
            &path,
            format!(
                "manifest format {} is not supported (this version reads {MANIFEST_VERSION}); \
                 restore with the NyroDB version that made the backup",
                manifest.format
            ),
        ));
    }
    for file in &manifest.files {
        let valid = nyro_storage::segment_file_name(0).len() == file.name.len()
            && file.name.starts_with("segment-")
            && file.name.ends_with(".log")
            && !file.name.contains(['/', '\\']);
        if !valid {
            return Err(damaged(
                &path,
                format!("names {:?}, which is not a segment file name", file.name),
            ));
        }
        let file_path = from.join(&file.name);
        let (size, crc) = match checksum(&file_path) {
            Ok(found) => found,
            Err(DbError::Storage(StorageError::Io { source, .. }))
                if source.kind() == io::ErrorKind::NotFound =>
            {
                return Err(damaged(&file_path, "missing"));
            }
            Err(e) => return Err(e),
        };
        if size != file.size {
            return Err(damaged(
                &file_path,
                format!("has {size} bytes, the manifest says {}", file.size),
            ));
        }
        if crc != file.crc32c {
            return Err(damaged(
                &file_path,
                format!(
                    "CRC-32C {crc:#010x} does not match the manifest's {:#010x}",
                    file.crc32c
                ),
            ));
        }
    }
    Ok(manifest)
}

/// Restores the backup in `from` into the data directory `data`, which must be empty or
/// missing. Checks the manifest first (a damaged backup is refused naming the file and
/// nothing is written), then copies every file, fsyncing each and the directory. The
/// directory can then be opened with [`crate::Database::open`].
pub fn restore(from: &Path, data: &Path) -> Result<BackupManifest> {
    let manifest = check_backup(from)?;
    prepare_empty_dir(data, "data")?;
    for file in &manifest.files {
        let source: PathBuf = from.join(&file.name);
        let (size, crc) = copy_file(&source, &data.join(&file.name))?;
        if size != file.size || crc != file.crc32c {
            return Err(damaged(
                &source,
                "changed while it was being restored; restore again into an empty directory",
            ));
        }
    }
    sync_dir(data)?;
    Ok(manifest)
}
