//! [`FailSyncWhen`]: a [`LogIo`] whose syncs fail once a trigger file exists, so that a
//! fault-injection test can make a real server process's disk stop persisting anything
//! (`nyrodb serve --fail-fsync-when PATH`; docs/OPERATIONS.md, "Fault injection").

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::compact::CompactionStep;
use crate::io::{LogIo, OpenMode};

/// Wraps `inner`: every `fdatasync`, `fsync` and directory fsync fails with EIO while the
/// file `trigger` exists (one `stat` of it per sync), and everything else goes to `inner`
/// unchanged. Creating the trigger makes the disk "fail" from then on; removing it heals it.
#[derive(Debug)]
pub struct FailSyncWhen {
    inner: Arc<dyn LogIo>,
    trigger: PathBuf,
}

impl FailSyncWhen {
    /// `inner`, whose syncs fail while `trigger` exists.
    pub fn new(inner: Arc<dyn LogIo>, trigger: impl Into<PathBuf>) -> Self {
        Self {
            inner,
            trigger: trigger.into(),
        }
    }

    /// The trigger file.
    pub fn trigger(&self) -> &Path {
        &self.trigger
    }

    /// An error naming the trigger if it exists, so that the sync of `what` must fail.
    fn check(&self, what: &Path) -> io::Result<()> {
        if self.trigger.exists() {
            return Err(io::Error::other(format!(
                "injected fault: the sync of {} failed (EIO, input/output error) because the \
                 trigger file {} exists",
                what.display(),
                self.trigger.display()
            )));
        }
        Ok(())
    }
}

impl LogIo for FailSyncWhen {
    fn write_at(&self, path: &Path, file: &File, offset: u64, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_at(path, file, offset, buf)
    }

    fn sync_data(&self, path: &Path, file: &File) -> io::Result<()> {
        self.check(path)?;
        self.inner.sync_data(path, file)
    }

    fn sync_all(&self, path: &Path, file: &File) -> io::Result<()> {
        self.check(path)?;
        self.inner.sync_all(path, file)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<File> {
        self.inner.open(path, mode)
    }

    fn set_len(&self, path: &Path, file: &File, len: u64) -> io::Result<()> {
        self.inner.set_len(path, file, len)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.check(dir)?;
        self.inner.sync_dir(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir(dir)
    }

    fn compaction_step(&self, step: CompactionStep) -> io::Result<()> {
        self.inner.compaction_step(step)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use super::FailSyncWhen;
    use crate::io::{LogIo, OpenMode, OsIo};

    #[test]
    fn syncs_fail_while_the_trigger_exists_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let trigger = dir.path().join("fail-fsync");
        let io = FailSyncWhen::new(Arc::new(OsIo), &trigger);
        let path = dir.path().join("data");
        let file = io.open(&path, OpenMode::CreateNew).unwrap();
        io.write_at(&path, &file, 0, b"abc").unwrap();
        io.sync_data(&path, &file).unwrap();
        io.sync_dir(dir.path()).unwrap();

        std::fs::write(&trigger, b"").unwrap();
        let error = io.sync_data(&path, &file).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("EIO") && text.contains("fail-fsync"),
            "{text}"
        );
        assert!(io.sync_all(&path, &file).is_err());
        assert!(io.sync_dir(dir.path()).is_err());
        // Writes, renames and the rest still go through.
        assert_eq!(io.write_at(&path, &file, 3, b"def").unwrap(), 3);
        io.rename(&path, &dir.path().join("moved")).unwrap();

        std::fs::remove_file(&trigger).unwrap();
        io.sync_data(&path, &file).unwrap();
        io.sync_all(&path, &file).unwrap();
        io.sync_dir(dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("moved")).unwrap(), b"abcdef");
    }
}
