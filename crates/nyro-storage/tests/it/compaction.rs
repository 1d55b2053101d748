//! Compaction's log mechanics: `rewrite` keeps exactly the frames the caller keeps, at the
//! same place in the log; `retire` removes the old file; and a compaction stopped at any
//! step (what a kill -9 there leaves on disk) opens as either the old or the new segment,
//! never a mix, never a loss. A file effect of a compaction, or of settling the directory on
//! open, that fails changes nothing readers see, never poisons the log (except a failed
//! fdatasync of the active segment), and a reopen finds the old segment or the new one.

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use nyro_storage::{
    CompactionStep, Effect, Fault, FaultInjector, Log, LogOptions, RecordKind, StorageError,
    segment_file_name,
};

use crate::common::{Model, opts, opts_io, owned, segment_files};

/// A log of three sealed segments of 20 records each, plus an active one with 5.
fn three_sealed(dir: &std::path::Path, options: LogOptions) -> (Log, Model) {
    let mut log = Log::open(dir, options).unwrap();
    let mut model = Model::default();
    for segment in 0..3u64 {
        for i in 0..20u64 {
            model.append(&mut log, &[owned(segment * 100 + i + 1, 40)]);
        }
        log.seal().unwrap();
    }
    for i in 0..5u64 {
        model.append(&mut log, &[owned(900 + i, 40)]);
    }
    (log, model)
}

/// Keeps the frames of even seq; the model after a rewrite of segment `id` that moved them.
fn keep_even(model: &Model, id: u32, rewritten: &nyro_storage::Rewritten) -> Model {
    let mut moved = rewritten.moved.iter();
    let entries = model
        .entries
        .iter()
        .filter_map(|(loc, rec)| {
            if loc.segment != id {
                return Some((*loc, rec.clone()));
            }
            (rec.seq % 2 == 0).then(|| {
                let m = moved.next().unwrap();
                assert_eq!(m.from, *loc);
                (m.to, rec.clone())
            })
        })
        .collect();
    Model { entries }
}

#[test]
fn rewrite_keeps_what_is_kept_in_log_order_and_retire_removes_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let (log, model) = three_sealed(dir.path(), opts(1 << 20));
    let second = model.entries[20].0.segment;
    let rewritten = log.reader().rewrite(second, |h, _| h.seq % 2 == 0).unwrap();
    assert_eq!(rewritten.old, second);
    assert_eq!(rewritten.moved.len(), 10);
    assert!(rewritten.bytes_after < rewritten.bytes_before);
    let after = keep_even(&model, second, &rewritten);
    // Old locations still read until retired; iteration already shows the new segment.
    for (loc, rec) in &model.entries {
        assert_eq!(log.reader().read(*loc).unwrap().header().seq, rec.seq);
    }
    after.check(log.reader());
    // The history floor is the highest seq of the document frames dropped (catalog frames
    // do not carry seqs of their own).
    let floor = model.entries[20..40]
        .iter()
        .filter(|(_, r)| r.seq % 2 == 1)
        .filter(|(_, r)| matches!(r.kind, RecordKind::Put | RecordKind::Delete))
        .map(|(_, r)| r.seq)
        .max()
        .unwrap();
    assert_eq!(log.reader().history_floor(), floor);

    log.reader().retire(second).unwrap();
    assert!(log.reader().read(model.entries[20].0).is_err());
    after.check(log.reader());
    assert_eq!(segment_files(dir.path()).len(), 4);
    drop(log);

    let log = Log::open(dir.path(), opts(1 << 20)).unwrap();
    after.check(log.reader());
    assert_eq!(log.reader().history_floor(), floor);
    // New segments still come after everything, and the file numbers are fresh.
    let mut log = log;
    let mut after = after;
    log.seal().unwrap();
    let loc = after.append(&mut log, &[owned(5000, 10)])[0];
    assert!(loc.segment > rewritten.new);
    after.check(log.reader());
}

#[test]
fn the_active_segment_and_a_compacted_one_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (log, model) = three_sealed(dir.path(), opts(1 << 20));
    let active = model.entries.last().unwrap().0.segment;
    assert!(log.reader().rewrite(active, |_, _| true).is_err());
    let first = model.entries[0].0.segment;
    let rewritten = log.reader().rewrite(first, |_, _| true).unwrap();
    assert!(
        log.reader().rewrite(first, |_, _| true).is_err(),
        "already compacted"
    );
    // Keeping everything moves every frame of the segment and loses none.
    assert_eq!(rewritten.moved.len(), 20);
    let seqs: Vec<u64> = log
        .reader()
        .iter()
        .map(|f| f.unwrap().header().seq)
        .collect();
    let all: Vec<u64> = model.entries.iter().map(|(_, r)| r.seq).collect();
    assert_eq!(seqs, all);
}

#[test]
fn a_compaction_stopped_at_any_step_opens_as_old_or_new() {
    for step in [
        CompactionStep::TempWritten,
        CompactionStep::Renamed,
        CompactionStep::Retiring,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let io = Arc::new(FaultInjector::new());
        let (log, model) = three_sealed(dir.path(), opts_io(1 << 20, io.clone()));
        let second = model.entries[20].0.segment;
        io.stop_compaction_at(step);
        let result = log
            .reader()
            .rewrite(second, |h, _| h.seq % 2 == 0)
            .and_then(|r| log.reader().retire(r.old).map(|()| r));
        assert!(result.is_err(), "{step:?}: the hook stops it");
        drop(log);
        io.clear();

        // Nothing was lost: every record of the old segment, or exactly the kept ones.
        let log = Log::open(dir.path(), opts_io(1 << 20, io.clone())).unwrap();
        let seqs: Vec<u64> = log
            .reader()
            .iter()
            .map(|f| f.unwrap().header().seq)
            .collect();
        let all: Vec<u64> = model.entries.iter().map(|(_, r)| r.seq).collect();
        let kept: Vec<u64> = all
            .iter()
            .copied()
            .filter(|s| !(101..=120).contains(s) || s % 2 == 0)
            .collect();
        match step {
            CompactionStep::TempWritten => assert_eq!(seqs, all, "{step:?}: old segment"),
            _ => assert_eq!(seqs, kept, "{step:?}: new segment, old one removed on open"),
        }
        assert_eq!(segment_files(dir.path()).len(), 4, "{step:?}: no leftovers");
        assert!(
            std::fs::read_dir(dir.path()).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")),
            "{step:?}: temporary file removed"
        );
        // The log takes writes after it, at the end.
        let mut log = log;
        let loc = log.append(&[owned(7777, 5).record()]).unwrap()[0];
        let last = log.reader().iter().last().unwrap().unwrap();
        assert_eq!(last.location(), loc);
        assert_ne!(last.header().kind, RecordKind::CompactionMarker);
    }
}

/// The seqs iteration yields.
fn seqs(log: &Log) -> Vec<u64> {
    log.reader()
        .iter()
        .map(|f| f.unwrap().header().seq)
        .collect()
}

/// No compaction temporary file is left in `dir`.
fn no_temp_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("compact-")
    })
}

#[test]
fn a_rewrite_whose_file_effect_fails_changes_nothing_and_opens_as_old_or_new() {
    // (the fault, whether a reopen finds the new segment)
    let cases = [
        (
            Fault::new(Effect::Create, ErrorKind::StorageFull).on("compact-"),
            false,
        ),
        (
            Fault::new(Effect::Write, ErrorKind::StorageFull).on("compact-"),
            false,
        ),
        (
            Fault::new(Effect::SyncData, ErrorKind::Other).on("compact-"),
            false,
        ),
        (
            Fault::new(Effect::Rename, ErrorKind::Other).on("compact-"),
            false,
        ),
        // After the rename: the new segment is complete and named, but maybe not durably.
        (Fault::new(Effect::SyncDir, ErrorKind::Other), true),
    ];
    for (fault, renamed) in cases {
        let dir = tempfile::tempdir().unwrap();
        let io = Arc::new(FaultInjector::new());
        let (mut log, mut model) = three_sealed(dir.path(), opts_io(1 << 20, io.clone()));
        let all: Vec<u64> = model.entries.iter().map(|(_, r)| r.seq).collect();
        let second = model.entries[20].0.segment;
        io.inject(fault.clone());
        let err = log
            .reader()
            .rewrite(second, |h, _| h.seq % 2 == 0)
            .unwrap_err();
        assert!(matches!(err, StorageError::Io { .. }), "{fault:?}: {err:?}");
        assert!(log.poisoned().is_none(), "{fault:?}");
        assert!(
            no_temp_files(dir.path()),
            "{fault:?}: temporary file removed"
        );
        io.clear();
        // Readers see the old segment, and the log takes writes.
        model.check(log.reader());
        model.append(&mut log, &[owned(7000, 8)]);
        log.sync().unwrap();
        drop(log);

        let log = Log::open(dir.path(), opts(1 << 20)).unwrap();
        let mut expected: Vec<u64> = all
            .iter()
            .copied()
            .filter(|s| !renamed || !(101..=120).contains(s) || s % 2 == 0)
            .collect();
        expected.push(7000);
        assert_eq!(seqs(&log), expected, "{fault:?}");
        assert_eq!(
            segment_files(dir.path()).len(),
            4,
            "{fault:?}: no leftovers"
        );
        if !renamed {
            model.check(log.reader());
        }
    }
}

#[test]
fn a_failed_fdatasync_of_the_active_segment_during_a_rewrite_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let io = Arc::new(FaultInjector::new());
    let (mut log, model) = three_sealed(dir.path(), opts_io(1 << 20, io.clone()));
    let active = model.entries.last().unwrap().0.segment;
    io.inject(Fault::new(Effect::SyncData, ErrorKind::Other).on(&segment_file_name(active)));
    let second = model.entries[20].0.segment;
    let err = log.reader().rewrite(second, |_, _| false).unwrap_err();
    let StorageError::Poisoned { reason } = err else {
        panic!("expected Poisoned, got {err:?}");
    };
    assert!(reason.contains("before a compaction committed"), "{reason}");
    assert_eq!(log.poisoned(), Some(reason.as_str()));
    assert_eq!(log.reader().poisoned(), Some(reason.as_str()));
    assert!(no_temp_files(dir.path()));
    io.clear();
    // The writer refuses from now on; reads go on.
    assert!(matches!(
        log.append(&[owned(7000, 1).record()]),
        Err(StorageError::Poisoned { .. })
    ));
    assert!(matches!(log.sync(), Err(StorageError::Poisoned { .. })));
    model.check(log.reader());
    drop(log);
    let log = Log::open(dir.path(), opts(1 << 20)).unwrap();
    assert!(log.poisoned().is_none());
    model.check(log.reader());
}

#[test]
fn a_failed_retire_leaves_the_old_file_for_open_to_remove() {
    for fault in [
        Fault::new(Effect::Remove, ErrorKind::PermissionDenied).on(".log"),
        Fault::new(Effect::SyncDir, ErrorKind::Other),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let io = Arc::new(FaultInjector::new());
        let (mut log, model) = three_sealed(dir.path(), opts_io(1 << 20, io.clone()));
        let second = model.entries[20].0.segment;
        let rewritten = log.reader().rewrite(second, |h, _| h.seq % 2 == 0).unwrap();
        let mut after = keep_even(&model, second, &rewritten);
        io.inject(fault.clone());
        let err = log.reader().retire(second).unwrap_err();
        assert!(matches!(err, StorageError::Io { .. }), "{fault:?}: {err:?}");
        assert!(log.poisoned().is_none(), "{fault:?}");
        io.clear();
        after.check(log.reader());
        after.append(&mut log, &[owned(7000, 8)]);
        drop(log);
        let log = Log::open(dir.path(), opts(1 << 20)).unwrap();
        after.check(log.reader());
        assert_eq!(
            segment_files(dir.path()).len(),
            4,
            "{fault:?}: old file removed"
        );
    }
}

#[test]
fn open_fails_cleanly_when_it_cannot_settle_the_directory() {
    for fault in [
        Fault::new(Effect::Remove, ErrorKind::PermissionDenied).on("compact-"),
        Fault::new(Effect::SyncDir, ErrorKind::Other),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (log, model) = three_sealed(dir.path(), opts(1 << 20));
        drop(log);
        let temp = dir.path().join("compact-0000000099.tmp");
        std::fs::write(&temp, b"half a compacted segment").unwrap();
        let io = Arc::new(FaultInjector::new());
        io.inject(fault.clone());
        let err = Log::open(dir.path(), opts_io(1 << 20, io)).unwrap_err();
        assert!(matches!(err, StorageError::Io { .. }), "{fault:?}: {err:?}");
        let log = Log::open(dir.path(), opts(1 << 20)).unwrap();
        model.check(log.reader());
        assert!(!temp.exists(), "{fault:?}");
    }
}
