//! The I/O seam: every write and fdatasync of a segment goes through [`LogIo`], so tests
//! can make them fail on purpose (full disk, I/O error, short write, failed fdatasync) and
//! check that the layers above keep their promises. Reads go through the mmap instead.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use parking_lot::Mutex;

use crate::compact::CompactionStep;

/// The write side of the log's file I/O. [`OsIo`] is the real thing; [`FaultInjector`]
/// wraps it for tests.
pub trait LogIo: Send + Sync + std::fmt::Debug {
    /// Writes `buf` at `offset`, returning how many bytes were written (one `pwrite`).
    fn write_at(&self, path: &Path, file: &File, offset: u64, buf: &[u8]) -> io::Result<usize>;
    /// Flushes the file's data to stable storage (`fdatasync`).
    fn sync_data(&self, path: &Path, file: &File) -> io::Result<()>;
    /// Called as compaction reaches each step; an error stops it there, leaving the files
    /// as a crash at that point would. Only tests do anything here.
    fn compaction_step(&self, _step: CompactionStep) -> io::Result<()> {
        Ok(())
    }
}

/// The operating system's own I/O, with no interference.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsIo;

impl LogIo for OsIo {
    fn write_at(&self, _path: &Path, file: &File, offset: u64, buf: &[u8]) -> io::Result<usize> {
        file.write_at(buf, offset)
    }

    fn sync_data(&self, _path: &Path, file: &File) -> io::Result<()> {
        file.sync_data()
    }
}

/// A planned failure of writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFault {
    /// Every write fails with this error kind (e.g. `StorageFull` for ENOSPC) until cleared.
    Fail(io::ErrorKind),
    /// The next write stores only its first `bytes` bytes, then every write fails with
    /// `kind` until cleared (what a disk that fills up mid-write looks like).
    ShortThenFail {
        /// Bytes the short write keeps.
        bytes: usize,
        /// The error that follows.
        kind: io::ErrorKind,
    },
}

#[derive(Debug, Default)]
struct Plan {
    write: Option<WriteFault>,
    sync: Option<io::ErrorKind>,
    compaction: Option<CompactionStep>,
    writes: u64,
    syncs: u64,
}

/// An [`LogIo`] that passes through to [`OsIo`] until told to fail. Shared by `Arc` between
/// the test and the log it was given to.
#[derive(Debug, Default)]
pub struct FaultInjector {
    plan: Mutex<Plan>,
}

impl FaultInjector {
    /// A new injector that injects nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes writes fail as `fault` says, until [`FaultInjector::clear`].
    pub fn fail_writes(&self, fault: WriteFault) {
        self.plan.lock().write = Some(fault);
    }

    /// Makes every fdatasync fail with `kind` until [`FaultInjector::clear`].
    pub fn fail_syncs(&self, kind: io::ErrorKind) {
        self.plan.lock().sync = Some(kind);
    }

    /// Makes compaction stop (fail) when it reaches `step`, until [`FaultInjector::clear`].
    pub fn stop_compaction_at(&self, step: CompactionStep) {
        self.plan.lock().compaction = Some(step);
    }

    /// Stops injecting faults: the cause is gone.
    pub fn clear(&self) {
        let mut plan = self.plan.lock();
        plan.write = None;
        plan.sync = None;
        plan.compaction = None;
    }

    /// Writes that reached the file so far (successful or short).
    pub fn writes(&self) -> u64 {
        self.plan.lock().writes
    }

    /// Successful fdatasyncs so far.
    pub fn syncs(&self) -> u64 {
        self.plan.lock().syncs
    }
}

impl LogIo for FaultInjector {
    fn compaction_step(&self, step: CompactionStep) -> io::Result<()> {
        if self.plan.lock().compaction == Some(step) {
            return Err(injected(io::ErrorKind::Other));
        }
        Ok(())
    }

    fn write_at(&self, path: &Path, file: &File, offset: u64, buf: &[u8]) -> io::Result<usize> {
        let mut plan = self.plan.lock();
        match plan.write {
            None => {
                plan.writes += 1;
                OsIo.write_at(path, file, offset, buf)
            }
            Some(WriteFault::Fail(kind)) => Err(injected(kind)),
            Some(WriteFault::ShortThenFail { bytes, kind }) => {
                plan.write = Some(WriteFault::Fail(kind));
                plan.writes += 1;
                let keep = bytes.min(buf.len().saturating_sub(1));
                OsIo.write_at(path, file, offset, &buf[..keep])
            }
        }
    }

    fn sync_data(&self, path: &Path, file: &File) -> io::Result<()> {
        let mut plan = self.plan.lock();
        if let Some(kind) = plan.sync {
            return Err(injected(kind));
        }
        plan.syncs += 1;
        OsIo.sync_data(path, file)
    }
}

fn injected(kind: io::ErrorKind) -> io::Error {
    io::Error::new(kind, format!("injected fault: {kind}"))
}
