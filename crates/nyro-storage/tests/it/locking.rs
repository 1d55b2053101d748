//! One owner of a data directory at a time: a second `Log::open` or a `verify` of a held
//! directory fails with `Locked` naming the directory; once the owner (and every reader handle
//! sharing its lock) is gone, the directory opens again.

use nyro_storage::{DirLock, LOCK_FILE, Log, LogOptions, StorageError, verify};

use crate::common::{Model, owned};

fn assert_locked<T: std::fmt::Debug>(result: Result<T, StorageError>, dir: &std::path::Path) {
    match result {
        Err(e @ StorageError::Locked { .. }) => {
            let StorageError::Locked { dir: named } = &e else {
                unreachable!()
            };
            assert_eq!(named, dir);
            assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[test]
fn a_held_directory_is_refused_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let mut model = Model::default();
    model.append(&mut log, &[owned(1, 10)]);
    assert!(dir.path().join(LOCK_FILE).exists());

    assert_locked(Log::open(dir.path(), LogOptions::default()), dir.path());
    assert_locked(verify(dir.path()), dir.path());
    assert_locked(DirLock::acquire(dir.path()), dir.path());
    // The refused opens disturbed nothing.
    model.check(log.reader());
    model.append(&mut log, &[owned(2, 20)]);

    // A reader handle shares the lock: the directory stays held while one lives.
    let reader = log.reader().clone();
    drop(log);
    assert_locked(Log::open(dir.path(), LogOptions::default()), dir.path());
    model.check(&reader);
    drop(reader);

    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(log.recovery().frames, 2);
    model.check(log.reader());
    drop(log);
    assert!(verify(dir.path()).unwrap().is_intact());
}

#[test]
fn a_dir_lock_is_released_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let lock = DirLock::acquire(dir.path()).unwrap();
    assert_eq!(lock.dir(), dir.path());
    assert_locked(Log::open(dir.path(), LogOptions::default()), dir.path());
    drop(lock);
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(log.reader().dir(), dir.path());
}
