//! `verify` on whole directories: a clean log is intact with the right counts; a torn tail
//! alone is not corruption; several damaged places are each reported, in log order, resuming
//! at the next intact frame; and no segment byte changes.

use std::fs::OpenOptions;
use std::path::Path;

use nyro_storage::{Log, Severity, verify};

use crate::common::{
    Model, file_len, flip_bit, opts, owned, segment_files, segment_path, snapshot,
};

fn build(dir: &Path) -> Model {
    let mut log = Log::open(dir, opts(2048)).unwrap();
    let mut model = Model::default();
    for b in 0..30u64 {
        let batch: Vec<_> = (0..4)
            .map(|i| owned(b * 4 + i + 1, ((b * 4 + i) as usize * 29) % 200))
            .collect();
        model.append(&mut log, &batch);
    }
    log.sync().unwrap();
    model
}

#[test]
fn a_clean_log_is_intact_with_the_right_counts() {
    let dir = tempfile::tempdir().unwrap();
    let model = build(dir.path());
    let before = snapshot(dir.path());
    let report = verify(dir.path()).unwrap();
    assert!(report.is_intact());
    assert!(report.problems.is_empty(), "{report:?}");
    assert_eq!(report.frames, model.entries.len() as u64);
    let files = segment_files(dir.path());
    assert!(files.len() >= 3);
    assert_eq!(report.segments, files.len());
    assert_eq!(report.bytes, files.iter().map(|f| file_len(f)).sum::<u64>());
    assert_eq!(snapshot(dir.path()), before);
    // verify released the lock.
    let log = Log::open(dir.path(), opts(2048)).unwrap();
    model.check(log.reader());
}

#[test]
fn a_fresh_log_verifies_as_empty_and_intact() {
    let dir = tempfile::tempdir().unwrap();
    drop(Log::open(dir.path(), opts(2048)).unwrap());
    let report = verify(dir.path()).unwrap();
    assert!(report.is_intact() && report.problems.is_empty());
    assert_eq!((report.segments, report.frames, report.bytes), (1, 0, 32));
}

#[test]
fn every_damaged_place_is_reported_in_order_without_changes() {
    let dir = tempfile::tempdir().unwrap();
    let model = build(dir.path());
    let newest = model.entries.last().unwrap().0.segment;
    // Damage: two frames of segment 1 (one in the middle of the other's neighbours), one in
    // segment 2, and a torn tail on the newest.
    let picks: Vec<_> = model
        .entries
        .iter()
        .filter(|(l, _)| l.segment <= 2)
        .map(|(l, _)| *l)
        .collect();
    let damaged = [
        picks[1],
        picks[3],
        *picks.iter().rev().find(|l| l.segment == 2).unwrap(),
    ];
    for loc in damaged {
        flip_bit(&segment_path(dir.path(), loc.segment), loc.offset + 20, 6);
    }
    let newest_path = segment_path(dir.path(), newest);
    let newest_len = file_len(&newest_path);
    OpenOptions::new()
        .write(true)
        .open(&newest_path)
        .unwrap()
        .set_len(newest_len - 3)
        .unwrap();
    let last = model.entries.last().unwrap().0;

    let before = snapshot(dir.path());
    let report = verify(dir.path()).unwrap();
    assert_eq!(snapshot(dir.path()), before, "verify changed a file");
    assert!(!report.is_intact());
    let found: Vec<_> = report
        .problems
        .iter()
        .map(|p| (p.path.clone(), p.offset, p.len, p.severity))
        .collect();
    let mut wanted: Vec<_> = damaged
        .iter()
        .map(|l| {
            (
                segment_path(dir.path(), l.segment),
                l.offset,
                u64::from(l.len),
                Severity::Corrupt,
            )
        })
        .collect();
    wanted.push((
        newest_path.clone(),
        last.offset,
        u64::from(last.len) - 3,
        Severity::TornTail,
    ));
    assert_eq!(found, wanted);
    assert_eq!(report.frames, model.entries.len() as u64 - 4);
    for p in &report.problems {
        assert!(!p.detail.is_empty());
    }
}

#[test]
fn a_torn_tail_alone_is_intact_and_left_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let model = build(dir.path());
    let last = model.entries.last().unwrap().0;
    let path = segment_path(dir.path(), last.segment);
    let len = file_len(&path);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    let report = verify(dir.path()).unwrap();
    assert!(report.is_intact());
    assert_eq!(report.problems.len(), 1);
    let p = &report.problems[0];
    assert_eq!(
        (&p.path, p.offset, p.len, p.severity),
        (
            &path,
            last.offset,
            u64::from(last.len) - 1,
            Severity::TornTail
        )
    );
    assert_eq!(report.frames, model.entries.len() as u64 - 1);
    assert_eq!(file_len(&path), len - 1, "verify must not cut the tail");
}
