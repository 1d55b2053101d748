//! The hint of the active segment (`write_active_hint`, written by a clean close): open
//! takes it only for the newest segment, whole and matching the segment's bytes, reads
//! the frames after it, and removes it. Every byte flip and every cut of it, a segment cut
//! below it or rewritten, and a hint of another segment are refused (the segment is
//! scanned as before); a failure at any step of writing it leaves no hint or a whole one,
//! never poisons the log, and the log opens right either way.

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use nyro_storage::{
    Effect, Fault, FaultInjector, Log, LogOptions, SEGMENT_HEADER_LEN, active_hint_file_name,
};

use crate::common::{Model, hint_write_faults, opts, opts_io, owned, segment_path, temp_files};

/// A log with one sealed segment and an active one (segment 2) with 8 records.
fn with_active(dir: &Path, options: LogOptions) -> (Log, Model) {
    let mut log = Log::open(dir, options).unwrap();
    let mut model = Model::default();
    for i in 0..6u64 {
        model.append(&mut log, &[owned(i + 1, (i * 7 % 30) as usize)]);
    }
    log.seal().unwrap();
    for i in 0..8u64 {
        model.append(&mut log, &[owned(100 + i, (i * 13 % 50) as usize)]);
    }
    log.sync().unwrap();
    (log, model)
}

/// The body these tests store: the payload's first 2 bytes.
fn write_active_hint(log: &Log) -> nyro_storage::Result<()> {
    log.reader().write_active_hint(|_, payload, out| {
        out.extend_from_slice(&payload[..payload.len().min(2)]);
        Ok(())
    })
}

fn hint_path(dir: &Path) -> std::path::PathBuf {
    dir.join(active_hint_file_name(2))
}

/// Opens `dir`, checks it against `model`, and returns the bytes the active hint covered.
fn open_and_check(dir: &Path, model: &Model) -> u64 {
    let log = Log::open(dir, opts(1 << 20)).unwrap();
    model.check(log.reader());
    assert!(!hint_path(dir).exists(), "open removes the active hint");
    log.recovery().hinted_active_bytes
}

#[test]
fn a_clean_close_hint_is_used_once_and_appends_after_it_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let (log, mut model) = with_active(dir.path(), opts(1 << 20));
    write_active_hint(&log).unwrap();
    let active_len = log.reader().segments()[1].bytes;
    drop(log);
    let mut log = Log::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(
        log.recovery().hinted_active_bytes,
        active_len - SEGMENT_HEADER_LEN as u64
    );
    assert_eq!(
        log.recovery().frames,
        6,
        "only the sealed segment's frames are counted"
    );
    let hint = log.reader().hint(2).expect("the hint open took");
    assert_eq!(hint.covered(), active_len);
    assert_eq!(hint.entries().count(), 8);
    model.check(log.reader());
    // Appends after it: the next open (no new hint: a crash) scans the whole segment.
    model.append(&mut log, &[owned(500, 20)]);
    log.sync().unwrap();
    drop(log);
    assert_eq!(open_and_check(dir.path(), &model), 0);
}

#[test]
fn a_hint_left_behind_by_a_lost_removal_covers_a_prefix_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut model) = with_active(dir.path(), opts(1 << 20));
    write_active_hint(&log).unwrap();
    let hint = std::fs::read(hint_path(dir.path())).unwrap();
    let covered = log.reader().segments()[1].bytes;
    model.append(&mut log, &[owned(600, 10), owned(601, 30)]);
    log.sync().unwrap();
    drop(log);
    // As if the removal by an open had not reached the disk before a power cut.
    std::fs::write(hint_path(dir.path()), &hint).unwrap();
    assert_eq!(
        open_and_check(dir.path(), &model),
        covered - SEGMENT_HEADER_LEN as u64
    );
}

#[test]
fn every_flipped_byte_and_every_cut_of_the_hint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (log, model) = with_active(dir.path(), opts(1 << 20));
    write_active_hint(&log).unwrap();
    drop(log);
    let hint = std::fs::read(hint_path(dir.path())).unwrap();
    assert!(
        open_and_check(dir.path(), &model) > 0,
        "the intact hint is used"
    );
    for at in 0..hint.len() {
        let mut flipped = hint.clone();
        flipped[at] ^= 0x5a;
        std::fs::write(hint_path(dir.path()), &flipped).unwrap();
        assert_eq!(open_and_check(dir.path(), &model), 0, "byte {at} flipped");
    }
    for cut in 0..hint.len() {
        std::fs::write(hint_path(dir.path()), &hint[..cut]).unwrap();
        assert_eq!(open_and_check(dir.path(), &model), 0, "cut at {cut}");
    }
    let mut longer = hint.clone();
    longer.push(0);
    std::fs::write(hint_path(dir.path()), &longer).unwrap();
    assert_eq!(open_and_check(dir.path(), &model), 0, "a byte appended");
}

#[test]
fn a_segment_cut_below_the_hint_or_rewritten_is_not_described_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let (log, model) = with_active(dir.path(), opts(1 << 20));
    write_active_hint(&log).unwrap();
    drop(log);
    let hint = std::fs::read(hint_path(dir.path())).unwrap();
    let segment = segment_path(dir.path(), 2);
    let bytes = std::fs::read(&segment).unwrap();
    let (last, _) = *model.entries.last().unwrap();

    // Cut below what the hint covers (the last record gone): the hint is refused, the log
    // holds the records left.
    std::fs::write(&segment, &bytes[..last.offset as usize]).unwrap();
    std::fs::write(hint_path(dir.path()), &hint).unwrap();
    let mut shorter = model.clone();
    shorter.entries.pop();
    assert_eq!(open_and_check(dir.path(), &shorter), 0);

    // Rewritten: the last record replaced by another of the same length, so the bytes
    // reach the hint's end again but are not the ones it describes.
    let mut log = Log::open(dir.path(), opts(1 << 20)).unwrap();
    let mut rewritten = shorter.clone();
    let (_, record) = model.entries.last().unwrap();
    let mut other = owned(record.seq + 1_000, record.payload.len());
    other.kind = record.kind;
    rewritten.append(&mut log, &[other]);
    log.sync().unwrap();
    drop(log);
    assert_eq!(
        std::fs::metadata(&segment).unwrap().len(),
        bytes.len() as u64
    );
    std::fs::write(hint_path(dir.path()), &hint).unwrap();
    assert_eq!(open_and_check(dir.path(), &rewritten), 0);

    // The hint of segment 2 under segment 3's name (after a seal): not for it.
    let mut log = Log::open(dir.path(), opts(1 << 20)).unwrap();
    log.seal().unwrap();
    drop(log);
    std::fs::write(dir.path().join(active_hint_file_name(3)), &hint).unwrap();
    std::fs::write(hint_path(dir.path()), &hint).unwrap();
    let log = Log::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(log.recovery().hinted_active_bytes, 0);
    rewritten.check(log.reader());
    drop(log);
    // A sealed segment's leftover active hint is removed as an orphan.
    assert!(!hint_path(dir.path()).exists());
}

#[test]
fn a_failure_at_any_step_of_writing_the_hint_leaves_none_or_a_whole_one() {
    // (the fault, whether a whole hint is in place afterwards): first the segment's own
    // fdatasync, then those of any hint.
    let mut cases = vec![(
        Fault::new(Effect::SyncData, ErrorKind::Other).on(".log"),
        false,
    )];
    cases.extend(hint_write_faults());
    for (fault, whole) in cases {
        let dir = tempfile::tempdir().unwrap();
        let io = Arc::new(FaultInjector::new());
        let (log, model) = with_active(dir.path(), opts_io(1 << 20, io.clone()));
        io.inject(fault.clone());
        assert!(write_active_hint(&log).is_err(), "{fault:?}");
        io.clear();
        assert!(log.poisoned().is_none(), "{fault:?}: a hint never poisons");
        assert_eq!(
            temp_files(dir.path()),
            0,
            "{fault:?}: temporary file removed"
        );
        assert_eq!(hint_path(dir.path()).exists(), whole, "{fault:?}");
        drop(log);
        let covered = open_and_check(dir.path(), &model);
        assert_eq!(covered > 0, whole, "{fault:?}");
    }
}

#[test]
fn a_poisoned_log_writes_no_active_hint() {
    let dir = tempfile::tempdir().unwrap();
    let io = Arc::new(FaultInjector::new());
    let (mut log, model) = with_active(dir.path(), opts_io(1 << 20, io.clone()));
    io.inject(Fault::new(Effect::SyncData, ErrorKind::Other).on(".log"));
    model.clone().append(&mut log, &[owned(900, 5)]);
    assert!(log.sync().is_err());
    io.clear();
    assert!(log.poisoned().is_some());
    assert!(write_active_hint(&log).is_err());
    assert!(!hint_path(dir.path()).exists());
}
