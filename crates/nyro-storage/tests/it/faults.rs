//! Faults injected through the `FaultInjector` I/O seam: a failed write keeps nothing of its
//! batch (no bytes in the file, nothing readable) and later appends work once the cause is
//! gone; a short write leaves no partial bytes; a failed fdatasync poisons the log for good
//! (writes refused even after the fault clears, reads go on) until it is reopened.

use std::io::ErrorKind;
use std::sync::Arc;

use nyro_storage::{
    FaultInjector, HEADER_LEN, Location, Log, LogOptions, StorageError, WriteFault,
};

use crate::common::{Model, file_len, opts_io, owned, segment_files, segment_path};

const BIG: u64 = 1 << 20;

fn setup() -> (tempfile::TempDir, Arc<FaultInjector>, Log, Model) {
    let dir = tempfile::tempdir().unwrap();
    let io = Arc::new(FaultInjector::new());
    let mut log = Log::open(dir.path(), opts_io(BIG, io.clone())).unwrap();
    let mut model = Model::default();
    model.append(&mut log, &[owned(1, 100), owned(2, 0), owned(3, 50)]);
    log.sync().unwrap();
    (dir, io, log, model)
}

/// The location the next frame of `len` payload bytes would get.
fn next_location(model: &Model, len: usize) -> Location {
    let last = model.entries.last().unwrap().0;
    Location {
        segment: last.segment,
        offset: last.offset + u64::from(last.len),
        len: (HEADER_LEN + len) as u32,
    }
}

#[test]
fn a_failed_write_keeps_nothing_and_appends_resume() {
    let (dir, io, mut log, mut model) = setup();
    let path = segment_path(dir.path(), 1);
    let before = file_len(&path);
    io.fail_writes(WriteFault::Fail(ErrorKind::StorageFull));
    let batch = [owned(4, 30), owned(5, 40)];
    let records: Vec<_> = batch.iter().map(|r| r.record()).collect();
    for _ in 0..3 {
        match log.append(&records) {
            Err(StorageError::WriteFailed {
                path: p,
                offset,
                records: n,
                bytes,
                source,
            }) => {
                assert_eq!(
                    (p, offset, n, bytes),
                    (path.clone(), before, 2, 2 * HEADER_LEN + 70)
                );
                assert_eq!(source.kind(), ErrorKind::StorageFull);
            }
            other => panic!("expected WriteFailed, got {other:?}"),
        }
        assert_eq!(file_len(&path), before);
        assert!(log.poisoned().is_none());
        model.check(log.reader()); // nothing of the batch is read or iterated
        assert!(matches!(
            log.reader().read(next_location(&model, 30)),
            Err(StorageError::BadLocation { .. })
        ));
    }
    log.sync().unwrap(); // nothing new, so nothing to fail

    io.clear();
    let locs = model.append(&mut log, &batch);
    assert_eq!(locs[0].offset, before, "the failed batch's space is reused");
    log.sync().unwrap();
    model.check(log.reader());
    drop(log);
    let log = Log::open(
        dir.path(),
        LogOptions {
            segment_size: BIG,
            ..LogOptions::default()
        },
    )
    .unwrap();
    assert_eq!(log.recovery().torn_tail, None);
    assert_eq!(log.recovery().frames, 5);
    model.check(log.reader());
}

#[test]
fn a_short_write_leaves_no_partial_bytes() {
    for keep in [0usize, 1, 31, 32, 100, 150, 260] {
        let (dir, io, mut log, mut model) = setup();
        let path = segment_path(dir.path(), 1);
        let before = file_len(&path);
        let writes = io.writes();
        io.fail_writes(WriteFault::ShortThenFail {
            bytes: keep,
            kind: ErrorKind::StorageFull,
        });
        let batch = [owned(4, 100), owned(5, 100)];
        let records: Vec<_> = batch.iter().map(|r| r.record()).collect();
        let err = log.append(&records).unwrap_err();
        assert!(
            matches!(err, StorageError::WriteFailed { offset, .. } if offset == before),
            "keep {keep}: {err:?}"
        );
        assert_eq!(io.writes(), writes + 1, "the short write reached the file");
        assert_eq!(
            file_len(&path),
            before,
            "keep {keep}: partial bytes left behind"
        );
        model.check(log.reader());

        // Still failing: nothing more is written.
        assert!(matches!(
            log.append(&records),
            Err(StorageError::WriteFailed { .. })
        ));
        assert_eq!(file_len(&path), before);
        drop(log);

        let mut log = Log::open(dir.path(), opts_io(BIG, io.clone())).unwrap();
        assert_eq!(log.recovery().torn_tail, None, "keep {keep}");
        assert_eq!(log.recovery().frames, 3);
        model.check(log.reader());
        io.clear();
        model.append(&mut log, &batch);
        log.sync().unwrap();
        drop(log);
        let log = Log::open(dir.path(), opts_io(BIG, io.clone())).unwrap();
        assert_eq!(
            (log.recovery().frames, log.recovery().torn_tail.clone()),
            (5, None)
        );
        model.check(log.reader());
    }
}

#[test]
fn a_failed_sync_poisons_until_reopen() {
    let (dir, io, mut log, mut model) = setup();
    model.append(&mut log, &[owned(4, 10)]);
    io.fail_syncs(ErrorKind::Other);
    let reason = match log.sync() {
        Err(StorageError::Poisoned { reason }) => reason,
        other => panic!("expected Poisoned, got {other:?}"),
    };
    assert!(reason.contains("fdatasync"), "{reason}");
    assert_eq!(log.poisoned(), Some(reason.as_str()));
    let len = file_len(&segment_path(dir.path(), 1));
    let late = owned(5, 10);
    for clear in [false, true] {
        if clear {
            io.clear(); // the cause is gone, but the pages may be too: still refused
        }
        assert!(
            matches!(log.append(&[late.record()]), Err(StorageError::Poisoned { reason: r }) if r == reason)
        );
        assert!(matches!(log.sync(), Err(StorageError::Poisoned { .. })));
        assert!(matches!(log.seal(), Err(StorageError::Poisoned { .. })));
        assert_eq!(
            file_len(&segment_path(dir.path(), 1)),
            len,
            "nothing written"
        );
        assert_eq!(segment_files(dir.path()).len(), 1, "no segment started");
        model.check(log.reader()); // reads go on
    }
    drop(log);

    let mut log = Log::open(dir.path(), opts_io(BIG, io.clone())).unwrap();
    assert!(log.poisoned().is_none());
    assert_eq!(log.recovery().frames, 4);
    model.check(log.reader());
    model.append(&mut log, &[late]);
    log.sync().unwrap();
    model.check(log.reader());
}

#[test]
fn a_failed_sync_while_sealing_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let io = Arc::new(FaultInjector::new());
    let mut log = Log::open(dir.path(), opts_io(256, io.clone())).unwrap();
    let mut model = Model::default();
    model.append(&mut log, &[owned(1, 300)]);
    io.fail_syncs(ErrorKind::Other);
    // The segment is full: this append must seal first, and the seal's fdatasync fails.
    assert!(matches!(
        log.append(&[owned(2, 1).record()]),
        Err(StorageError::Poisoned { .. })
    ));
    assert_eq!(segment_files(dir.path()).len(), 1);
    model.check(log.reader());
    io.clear();
    assert!(matches!(
        log.append(&[owned(2, 1).record()]),
        Err(StorageError::Poisoned { .. })
    ));
}

#[test]
fn a_failed_segment_creation_leaves_no_file_and_appends_resume() {
    let dir = tempfile::tempdir().unwrap();
    let io = Arc::new(FaultInjector::new());
    let mut log = Log::open(dir.path(), opts_io(256, io.clone())).unwrap();
    let mut model = Model::default();
    model.append(&mut log, &[owned(1, 300)]);
    io.fail_writes(WriteFault::Fail(ErrorKind::StorageFull));
    // Sealing succeeds, but the next segment's header cannot be written.
    assert!(log.append(&[owned(2, 1).record()]).is_err());
    assert_eq!(
        segment_files(dir.path()).len(),
        1,
        "no half-made segment left"
    );
    assert!(log.poisoned().is_none());
    model.check(log.reader());
    io.clear();
    let locs = model.append(&mut log, &[owned(2, 1)]);
    // A new segment, with a fresh file number: the one the failed creation took is not
    // reused (gaps in file numbers are allowed).
    assert!(locs[0].segment > 1);
    drop(log);
    let log = Log::open(dir.path(), opts_io(256, io)).unwrap();
    assert_eq!(log.recovery().frames, 2);
    model.check(log.reader());
}
