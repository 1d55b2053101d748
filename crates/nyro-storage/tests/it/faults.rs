//! Faults injected through the `FaultInjector` I/O seam: a failed write keeps nothing of its
//! batch (no bytes in the file, nothing readable) and later appends work once the cause is
//! gone; a short write leaves no partial bytes; a failed fdatasync poisons the log for good
//! (writes refused even after the fault clears, reads go on) until it is reopened. Then each
//! other file effect of the writer and of open (segment creation, directory fsync, cutting a
//! failed write or a torn tail, opening the newest segment): nothing acknowledged is lost,
//! a reopen sees the whole effect or none of it, and the log is poisoned where
//! docs/RELIABILITY.md ("Filesystem failures") says so. Compaction's and hints' effects are
//! in `compaction.rs` and `hints.rs`.

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use nyro_storage::{
    Effect, Fault, FaultInjector, HEADER_LEN, Location, Log, LogOptions, StorageError, WriteFault,
};

use crate::common::{Model, file_len, opts, opts_io, owned, segment_files, segment_path};

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

/// A log whose first segment is past its size: the next append rolls to a new segment.
fn full_segment() -> (tempfile::TempDir, Arc<FaultInjector>, Log, Model) {
    let dir = tempfile::tempdir().unwrap();
    let io = Arc::new(FaultInjector::new());
    let mut log = Log::open(dir.path(), opts_io(256, io.clone())).unwrap();
    let mut model = Model::default();
    model.append(&mut log, &[owned(1, 300)]);
    log.sync().unwrap();
    (dir, io, log, model)
}

/// Reopens `dir` with the real I/O: exactly `model` is there, and appends work.
fn reopen_holds(dir: &Path, model: &Model) -> Log {
    let mut log = Log::open(dir, opts(256)).unwrap();
    model.check(log.reader());
    let mut more = model.clone();
    more.append(&mut log, &[owned(900, 5)]);
    more.check(log.reader());
    log
}

fn assert_poisoned<T: std::fmt::Debug>(result: Result<T, StorageError>, saying: &str) -> String {
    match result {
        Err(StorageError::Poisoned { reason }) => {
            assert!(reason.contains(saying), "{reason:?} should say {saying:?}");
            reason
        }
        other => panic!("expected Poisoned saying {saying:?}, got {other:?}"),
    }
}

#[test]
fn appends_and_syncs_touch_nothing_but_write_and_fdatasync() {
    let (_dir, io, mut log, mut model) = setup();
    let effects = [
        Effect::Write,
        Effect::SyncData,
        Effect::SyncAll,
        Effect::Create,
        Effect::OpenExisting,
        Effect::SetLen,
        Effect::SyncDir,
        Effect::Rename,
        Effect::Remove,
    ];
    let before: Vec<u64> = effects.iter().map(|e| io.calls(*e)).collect();
    for i in 0..50 {
        model.append(&mut log, &[owned(10 + i, 20), owned(100 + i, 7)]);
        log.sync().unwrap();
    }
    model.check(log.reader());
    for (effect, before) in effects.iter().zip(before) {
        let expected = match effect {
            Effect::Write | Effect::SyncData => before + 50,
            _ => before,
        };
        assert_eq!(io.calls(*effect), expected, "{effect:?}");
    }
}

#[test]
fn a_failed_segment_creation_fails_only_its_append() {
    let (dir, io, mut log, mut model) = full_segment();
    io.inject(
        Fault::new(Effect::Create, ErrorKind::StorageFull)
            .on("segment-")
            .times(1),
    );
    let err = log.append(&[owned(2, 1).record()]).unwrap_err();
    assert!(
        matches!(&err, StorageError::Io { op: "create segment", source, .. } if source.kind() == ErrorKind::StorageFull),
        "{err:?}"
    );
    assert_eq!(io.failed(Effect::Create), 1);
    assert!(log.poisoned().is_none());
    assert_eq!(segment_files(dir.path()).len(), 1);
    model.check(log.reader());
    // The fault is gone (it failed once): the next append rolls and succeeds.
    model.append(&mut log, &[owned(2, 1)]);
    log.sync().unwrap();
    assert_eq!(segment_files(dir.path()).len(), 2);
    drop(log);
    reopen_holds(dir.path(), &model);
}

#[test]
fn a_segment_roll_whose_header_or_directory_is_not_durable_poisons() {
    // (faults, what the reason says, whether the half-made segment stays on disk)
    let cases: [(Vec<Fault>, &str, bool); 3] = [
        (
            vec![Fault::new(Effect::SyncDir, ErrorKind::Other)],
            "fsync of directory",
            false,
        ),
        (
            vec![Fault::new(Effect::SyncData, ErrorKind::Other).on("segment-0000000002")],
            "fdatasync of new segment",
            false,
        ),
        (
            vec![
                Fault::new(Effect::Write, ErrorKind::StorageFull).on("segment-0000000002"),
                Fault::new(Effect::Remove, ErrorKind::PermissionDenied),
            ],
            "could not be removed",
            true,
        ),
    ];
    for (faults, saying, left) in cases {
        let (dir, io, mut log, model) = full_segment();
        for fault in faults {
            io.inject(fault);
        }
        let reason = assert_poisoned(log.append(&[owned(2, 1).record()]), saying);
        model.check(log.reader()); // reads go on
        io.clear(); // the cause is gone, but a retried fsync cannot be trusted: still refused
        assert_eq!(log.poisoned(), Some(reason.as_str()));
        assert_poisoned(log.append(&[owned(3, 1).record()]), saying);
        assert_poisoned(log.sync(), saying);
        assert_poisoned(log.seal(), saying);
        assert_eq!(
            segment_files(dir.path()).len(),
            if left { 2 } else { 1 },
            "{saying}"
        );
        drop(log);
        // The acknowledged record is there, the failed append's is not (a half-made segment
        // left behind holds no frame: open rewrites its header).
        let log = reopen_holds(dir.path(), &model);
        assert_eq!(log.recovery().torn_tail.is_some(), left, "{saying}");
    }
}

#[test]
fn a_failed_write_that_cannot_be_cut_back_poisons_and_open_drops_its_bytes() {
    let (dir, io, mut log, model) = setup();
    let path = segment_path(dir.path(), 1);
    let before = file_len(&path);
    io.fail_writes(WriteFault::ShortThenFail {
        bytes: 50,
        kind: ErrorKind::StorageFull,
    });
    io.inject(Fault::new(Effect::SetLen, ErrorKind::Other));
    let batch = [owned(4, 100), owned(5, 100)];
    let records: Vec<_> = batch.iter().map(|r| r.record()).collect();
    assert_poisoned(log.append(&records), "could not be cut back");
    assert_eq!(
        file_len(&path),
        before + 50,
        "the partial bytes are still there"
    );
    model.check(log.reader()); // but never read
    io.clear();
    assert_poisoned(log.append(&records), "could not be cut back");
    drop(log);
    let log = reopen_holds(dir.path(), &model);
    let torn = log.recovery().torn_tail.clone().unwrap();
    assert_eq!((torn.offset, torn.dropped_bytes), (before, 50));
}

#[test]
fn open_fails_cleanly_when_it_cannot_repair_the_newest_segment() {
    // A torn tail (fewer bytes than a frame header), then a cut-short segment header.
    for (effect, op) in [
        (Effect::SetLen, "truncate torn tail of"),
        (Effect::SyncAll, "fsync"),
        (Effect::OpenExisting, "open segment"),
    ] {
        let (dir, _io, log, model) = setup();
        drop(log);
        let path = segment_path(dir.path(), 1);
        let len = file_len(&path);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0xA5; 20]);
        std::fs::write(&path, &bytes).unwrap();

        let io = Arc::new(FaultInjector::new());
        io.inject(Fault::new(effect, ErrorKind::Other));
        let err = Log::open(dir.path(), opts_io(BIG, io.clone())).unwrap_err();
        assert!(
            matches!(&err, StorageError::Io { op: o, path: p, .. } if *o == op && *p == path),
            "{effect:?}: {err:?}"
        );
        if effect != Effect::SyncAll {
            assert_eq!(file_len(&path), len + 20, "{effect:?}: nothing changed");
        }
        // The directory is free again, and the next open finishes the job.
        let log = Log::open(dir.path(), opts(256)).unwrap();
        model.check(log.reader());
        let torn = log.recovery().torn_tail.clone();
        assert_eq!(torn.is_some(), effect != Effect::SyncAll, "{effect:?}");
        assert_eq!(file_len(&path), len);
    }

    let (dir, _io, log, model) = setup();
    drop(log);
    let half_made = segment_path(dir.path(), 2);
    std::fs::write(&half_made, [1u8; 10]).unwrap();
    let io = Arc::new(FaultInjector::new());
    io.inject(Fault::new(Effect::SetLen, ErrorKind::Other));
    let err = Log::open(dir.path(), opts_io(BIG, io)).unwrap_err();
    assert!(
        matches!(
            &err,
            StorageError::Io {
                op: "truncate segment",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(file_len(&half_made), 10);
    reopen_holds(dir.path(), &model);
}
