//! The I/O seam: every filesystem effect the log relies on goes through [`LogIo`] (segment,
//! hint and Raft state writes, fdatasyncs, file creation and opening for writing, `set_len`, renames,
//! removals and directory fsyncs; and every file `repair` writes, `lost+found` included), so
//! tests can make each of them fail on purpose (full disk, I/O error, short write, failed
//! fdatasync, failed rename, ...) and check that the layers above keep their promises. Reads go through the mmap (and plain `open` for
//! reading) instead, and so do creating the data directory and its `LOCK` file (if those
//! fail, open fails; nothing durable depends on them). docs/RELIABILITY.md, "Filesystem
//! failures", says what the log does when each effect fails.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use parking_lot::Mutex;

use crate::compact::CompactionStep;
use crate::error::IoContext;

/// How [`LogIo::open`] opens a file for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Creates the file, failing if it exists (a new segment, compaction's temporary file).
    CreateNew,
    /// Creates the file or empties an existing one (a hint's temporary file).
    CreateOrTruncate,
    /// Opens an existing file (the newest segment, on open).
    Existing,
}

/// The write side of the log's file I/O. [`OsIo`] is the real thing; [`FaultInjector`]
/// wraps it for tests. Every method but [`LogIo::write_at`] and [`LogIo::sync_data`] does
/// what the operating system does unless an implementation says otherwise, so a test seam
/// that only watches writes and fdatasyncs implements just those two.
pub trait LogIo: Send + Sync + std::fmt::Debug {
    /// Writes `buf` at `offset`, returning how many bytes were written (one `pwrite`).
    fn write_at(&self, path: &Path, file: &File, offset: u64, buf: &[u8]) -> io::Result<usize>;
    /// Flushes the file's data to stable storage (`fdatasync`).
    fn sync_data(&self, path: &Path, file: &File) -> io::Result<()>;
    /// Flushes the file's data and metadata to stable storage (`fsync`; after a `set_len`).
    fn sync_all(&self, _path: &Path, file: &File) -> io::Result<()> {
        file.sync_all()
    }
    /// Opens `path` for reading and writing, as `mode` says.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<File> {
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        match mode {
            OpenMode::CreateNew => options.create_new(true),
            OpenMode::CreateOrTruncate => options.create(true).truncate(true),
            OpenMode::Existing => &mut options,
        };
        options.open(path)
    }
    /// Sets the file's length (`ftruncate`): cuts a torn tail or a failed write's bytes.
    fn set_len(&self, _path: &Path, file: &File, len: u64) -> io::Result<()> {
        file.set_len(len)
    }
    /// Fsyncs a directory, so that files created, renamed or removed in it survive a power
    /// cut.
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    /// Renames `from` to `to` (replacing `to`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    /// Creates a directory (repair's `lost+found`), failing if it exists.
    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir(dir)
    }
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

/// One filesystem effect of [`LogIo`], for [`Fault`]s and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// [`LogIo::write_at`].
    Write,
    /// [`LogIo::sync_data`].
    SyncData,
    /// [`LogIo::sync_all`].
    SyncAll,
    /// [`LogIo::open`] with [`OpenMode::CreateNew`] or [`OpenMode::CreateOrTruncate`].
    Create,
    /// [`LogIo::open`] with [`OpenMode::Existing`].
    OpenExisting,
    /// [`LogIo::set_len`].
    SetLen,
    /// [`LogIo::sync_dir`].
    SyncDir,
    /// [`LogIo::rename`] (matched on the source path).
    Rename,
    /// [`LogIo::remove_file`].
    Remove,
    /// [`LogIo::create_dir`].
    CreateDir,
}

const EFFECTS: usize = 10;

impl Effect {
    fn index(self) -> usize {
        self as usize
    }
}

/// A planned failure of one kind of filesystem effect: which effect, with which error, on
/// which files and at which of their calls. Built with [`Fault::new`] and the methods after
/// it; given to [`FaultInjector::inject`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    effect: Effect,
    kind: io::ErrorKind,
    name: Option<String>,
    skip: u64,
    times: Option<u64>,
}

impl Fault {
    /// Every call of `effect` fails with `kind`, until cleared.
    pub fn new(effect: Effect, kind: io::ErrorKind) -> Self {
        Self {
            effect,
            kind,
            name: None,
            skip: 0,
            times: None,
        }
    }

    /// Only calls on paths whose file name contains `part` (e.g. `".hint"`, `"compact-"`,
    /// `"segment-0000000002"`; for a directory fsync, the directory's name).
    pub fn on(mut self, part: &str) -> Self {
        self.name = Some(part.to_string());
        self
    }

    /// Lets the first `calls` matching calls through, and fails from the next one on.
    pub fn after(mut self, calls: u64) -> Self {
        self.skip = calls;
        self
    }

    /// Fails only `calls` matching calls, then lets them through again.
    pub fn times(mut self, calls: u64) -> Self {
        self.times = Some(calls);
        self
    }

    fn matches(&self, effect: Effect, path: &Path) -> bool {
        self.effect == effect
            && self.name.as_deref().is_none_or(|part| {
                path.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(part))
            })
    }
}

#[derive(Debug, Default)]
struct Plan {
    write: Option<WriteFault>,
    sync: Option<io::ErrorKind>,
    compaction: Option<CompactionStep>,
    faults: Vec<Fault>,
    /// Calls that went through to the OS, per effect.
    calls: [u64; EFFECTS],
    /// Calls failed on purpose, per effect.
    failed: [u64; EFFECTS],
}

impl Plan {
    /// The error planned for this call of `effect` on `path`, if one is.
    /// Every matching fault counts the call; the first one that is due fails it.
    fn fault(&mut self, effect: Effect, path: &Path) -> Option<io::Error> {
        let mut error = None;
        for fault in self.faults.iter_mut().filter(|f| f.matches(effect, path)) {
            if fault.skip > 0 {
                fault.skip -= 1;
            } else if error.is_none() && fault.times != Some(0) {
                if let Some(times) = &mut fault.times {
                    *times -= 1;
                }
                error = Some(injected(fault.kind, effect, path));
            }
        }
        if error.is_some() {
            self.failed[effect.index()] += 1;
        }
        error
    }
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

    /// Plans `fault` on top of the others, until [`FaultInjector::clear`]. Each fault
    /// counts the calls it matches (for [`Fault::after`]); of several due for one call, the
    /// one injected first fails it.
    pub fn inject(&self, fault: Fault) {
        self.plan.lock().faults.push(fault);
    }

    /// Stops injecting faults: the cause is gone.
    pub fn clear(&self) {
        let mut plan = self.plan.lock();
        plan.write = None;
        plan.sync = None;
        plan.compaction = None;
        plan.faults.clear();
    }

    /// Writes that reached the file so far (successful or short).
    pub fn writes(&self) -> u64 {
        self.calls(Effect::Write)
    }

    /// Successful fdatasyncs so far.
    pub fn syncs(&self) -> u64 {
        self.calls(Effect::SyncData)
    }

    /// Calls of `effect` that went through to the operating system so far.
    pub fn calls(&self, effect: Effect) -> u64 {
        self.plan.lock().calls[effect.index()]
    }

    /// Calls of `effect` that failed on purpose so far.
    pub fn failed(&self, effect: Effect) -> u64 {
        self.plan.lock().failed[effect.index()]
    }

    /// Runs `call` unless a fault is planned for it, counting it.
    fn pass<T>(
        &self,
        effect: Effect,
        path: &Path,
        call: impl FnOnce() -> io::Result<T>,
    ) -> io::Result<T> {
        let mut plan = self.plan.lock();
        if let Some(error) = plan.fault(effect, path) {
            return Err(error);
        }
        plan.calls[effect.index()] += 1;
        drop(plan);
        call()
    }
}

impl LogIo for FaultInjector {
    fn compaction_step(&self, step: CompactionStep) -> io::Result<()> {
        if self.plan.lock().compaction == Some(step) {
            return Err(io::Error::other(format!(
                "injected fault: compaction stopped at {step:?}"
            )));
        }
        Ok(())
    }

    fn write_at(&self, path: &Path, file: &File, offset: u64, buf: &[u8]) -> io::Result<usize> {
        let mut plan = self.plan.lock();
        match plan.write {
            None => {
                if let Some(error) = plan.fault(Effect::Write, path) {
                    return Err(error);
                }
                plan.calls[Effect::Write.index()] += 1;
                OsIo.write_at(path, file, offset, buf)
            }
            Some(WriteFault::Fail(kind)) => Err(injected(kind, Effect::Write, path)),
            Some(WriteFault::ShortThenFail { bytes, kind }) => {
                plan.write = Some(WriteFault::Fail(kind));
                plan.calls[Effect::Write.index()] += 1;
                let keep = bytes.min(buf.len().saturating_sub(1));
                OsIo.write_at(path, file, offset, &buf[..keep])
            }
        }
    }

    fn sync_data(&self, path: &Path, file: &File) -> io::Result<()> {
        if let Some(kind) = self.plan.lock().sync {
            return Err(injected(kind, Effect::SyncData, path));
        }
        self.pass(Effect::SyncData, path, || OsIo.sync_data(path, file))
    }

    fn sync_all(&self, path: &Path, file: &File) -> io::Result<()> {
        self.pass(Effect::SyncAll, path, || OsIo.sync_all(path, file))
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<File> {
        let effect = match mode {
            OpenMode::Existing => Effect::OpenExisting,
            OpenMode::CreateNew | OpenMode::CreateOrTruncate => Effect::Create,
        };
        self.pass(effect, path, || OsIo.open(path, mode))
    }

    fn set_len(&self, path: &Path, file: &File, len: u64) -> io::Result<()> {
        self.pass(Effect::SetLen, path, || OsIo.set_len(path, file, len))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.pass(Effect::SyncDir, dir, || OsIo.sync_dir(dir))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.pass(Effect::Rename, from, || OsIo.rename(from, to))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.pass(Effect::Remove, path, || OsIo.remove_file(path))
    }

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        self.pass(Effect::CreateDir, dir, || OsIo.create_dir(dir))
    }
}

/// Writes all of `buf` at `offset` through `io`, one [`LogIo::write_at`] after another
/// (a short write is continued; one that writes nothing fails with `WriteZero`).
pub(crate) fn write_all_at(
    io: &dyn LogIo,
    path: &Path,
    file: &File,
    offset: u64,
    buf: &[u8],
) -> io::Result<()> {
    let mut written = 0;
    while written < buf.len() {
        match io.write_at(path, file, offset + written as u64, &buf[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Gives `path` the bytes of `parts` (one after another) whole or not at all: creates `temp`
/// as `mode` says, writes them, fdatasyncs it and renames it to `path` (replacing it). On a
/// failure the temporary file is removed if it can be (one that stays is never read under
/// `path`). The rename is not yet durable: fsync the directory after it, as [`publish`]
/// does, or once after several.
pub(crate) fn replace_file(
    io: &dyn LogIo,
    temp: &Path,
    path: &Path,
    mode: OpenMode,
    parts: &[&[u8]],
) -> crate::Result<()> {
    let written = (|| {
        let file = io.open(temp, mode).io_context("create", temp)?;
        let mut offset = 0;
        for part in parts {
            write_all_at(io, temp, &file, offset, part).io_context("write", temp)?;
            offset += part.len() as u64;
        }
        io.sync_data(temp, &file).io_context("fdatasync", temp)?;
        io.rename(temp, path).io_context("rename", temp)
    })();
    if written.is_err() {
        let _ = io.remove_file(temp);
    }
    written
}

/// Publishes a file atomically and durably: writes `parts` (one after another) to
/// `dir/tmp_name` (created or emptied), fdatasyncs it, renames it to `dir/final_name` and
/// fsyncs `dir`, all through `io`. Returns only once the new file is durable.
///
/// A failure before the rename removes the temporary file and leaves `final_name` as it
/// was. A failed directory fsync leaves the new file under its name, but not durably: a
/// power cut may bring back the old one. Either way the caller must treat the error as
/// "not stored".
pub fn publish(
    io: &dyn LogIo,
    dir: &Path,
    tmp_name: &str,
    final_name: &str,
    parts: &[&[u8]],
) -> crate::Result<()> {
    let temp = dir.join(tmp_name);
    replace_file(
        io,
        &temp,
        &dir.join(final_name),
        OpenMode::CreateOrTruncate,
        parts,
    )?;
    crate::segment::sync_dir(io, dir)
}

fn injected(kind: io::ErrorKind, effect: Effect, path: &Path) -> io::Error {
    io::Error::new(
        kind,
        format!(
            "injected fault: {effect:?} of {} failed: {kind}",
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_match_by_effect_and_name_and_fail_the_calls_they_say() {
        let plan = FaultInjector::new();
        plan.inject(
            Fault::new(Effect::Rename, io::ErrorKind::Other)
                .on("hint-")
                .after(1)
                .times(2),
        );
        plan.inject(Fault::new(Effect::Rename, io::ErrorKind::StorageFull).after(4));
        let mut plan = plan.plan.into_inner();
        let hint = Path::new("/d/hint-0000000001.tmp");
        let other = Path::new("/d/compact-0000000002.tmp");
        let kinds: Vec<Option<io::ErrorKind>> = [hint, other, hint, hint, hint, other, hint]
            .iter()
            .map(|p| plan.fault(Effect::Rename, p).map(|e| e.kind()))
            .collect();
        use io::ErrorKind::{Other, StorageFull};
        // The first fault lets one hint call through, fails two, then is spent; the second
        // counts every rename and fails from the fifth on.
        assert_eq!(
            kinds,
            [
                None,
                None,
                Some(Other),
                Some(Other),
                Some(StorageFull),
                Some(StorageFull),
                Some(StorageFull)
            ]
        );
        assert_eq!(plan.fault(Effect::Remove, hint).map(|e| e.kind()), None);
        assert_eq!(plan.failed[Effect::Rename.index()], 5);
    }
}
