//! Raft frames (kinds 7 and 8, format 3) are records like any other to the log: appended,
//! read, iterated, described by hints, checked by `verify` and `check_segment`, kept by a
//! rewrite and by `repair` (which names their kind in `REPORT.json`). New segments say
//! version 3.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use nyro_storage::{
    FORMAT_VERSION, FrameHeader, LOST_FOUND_DIR, Location, Log, REPORT_FILE, Record, RecordKind,
    repair, segment_file_name, verify,
};
use serde_json::Value;

use crate::common::opts;

/// A record to append: kind, collection, id, seq, payload, continues.
type Spec = (RecordKind, u32, u64, u64, &'static [u8], bool);

/// The records of the sealed segment 1: a put, a Raft entry carrying two puts (continues
/// set on all but the last), a truncate voiding index 6 on, and an entry without records.
fn records() -> Vec<Spec> {
    vec![
        (RecordKind::Put, 1, 1, 1, b"standalone put", false),
        (
            RecordKind::RaftEntry,
            0,
            2,
            5,
            b"entry 5: normal, after 4",
            true,
        ),
        (RecordKind::Put, 1, 2, 2, b"first write of entry 5", true),
        (RecordKind::Put, 1, 3, 3, b"second write of entry 5", false),
        (RecordKind::RaftTruncate, 0, 0, 6, b"", false),
        (RecordKind::RaftEntry, 0, 3, 6, b"entry 6: blank", false),
    ]
}

/// A log whose segment 1 holds [`records`] (sealed) and whose active segment holds a put.
fn build(dir: &Path) -> (Log, Vec<Location>) {
    let mut log = Log::open(dir, opts(1 << 20)).unwrap();
    let owned = records();
    let batch: Vec<Record<'_>> = owned
        .iter()
        .map(|&(kind, collection, id, seq, payload, continues)| Record {
            kind,
            collection,
            id,
            seq,
            payload,
            continues,
        })
        .collect();
    let locations = log.append(&batch).unwrap();
    log.seal().unwrap();
    log.append(&[Record {
        kind: RecordKind::Put,
        collection: 1,
        id: 4,
        seq: 4,
        payload: b"later",
        continues: false,
    }])
    .unwrap();
    log.sync().unwrap();
    (log, locations)
}

fn header_of(record: &Spec) -> FrameHeader {
    let &(kind, collection, id, seq, payload, continues) = record;
    FrameHeader {
        frame_len: (nyro_storage::HEADER_LEN + payload.len()) as u32,
        kind,
        collection,
        id,
        seq,
        continues,
    }
}

#[test]
fn raft_frames_read_and_iterate_like_any_record_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (log, locations) = build(dir.path());
    let check = |reader: &nyro_storage::LogReader| {
        let frames: Vec<_> = reader.iter_segment(1).collect::<Result<_, _>>().unwrap();
        assert_eq!(frames.len(), records().len());
        for ((frame, record), location) in frames.iter().zip(records()).zip(&locations) {
            assert_eq!(*frame.header(), header_of(&record));
            assert_eq!(frame.payload(), record.4);
            assert_eq!(frame.location(), *location);
            assert_eq!(reader.read(*location).unwrap().payload(), record.4);
        }
    };
    check(log.reader());
    drop(log);
    let log = Log::open(dir.path(), opts(1 << 20)).unwrap();
    check(log.reader());
    assert_eq!(log.recovery().frames, records().len() as u64 + 1);
    let header = fs::read(dir.path().join(segment_file_name(1))).unwrap();
    assert_eq!(FORMAT_VERSION, 4);
    assert_eq!(
        header[8..12],
        4u32.to_le_bytes(),
        "a new segment says format 4"
    );
}

#[test]
fn a_hint_keeps_a_raft_entrys_payload_and_open_trusts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build(dir.path());
    // The body the core's hint writer gives: a Raft entry's whole payload, nothing for a
    // truncate (and, here, nothing for puts).
    log.reader()
        .write_hint(1, |h, payload, out| {
            if h.kind == RecordKind::RaftEntry {
                out.extend_from_slice(payload);
            }
            Ok(())
        })
        .unwrap();
    drop(log);
    let log = Log::open(dir.path(), opts(1 << 20)).unwrap();
    let hint = log.reader().hint(1).expect("the hint is trusted");
    let entries: Vec<_> = hint
        .entries()
        .map(|e| (e.header, e.body.to_vec()))
        .collect();
    let want: Vec<_> = records()
        .iter()
        .map(|r| {
            let body = if r.0 == RecordKind::RaftEntry {
                r.4.to_vec()
            } else {
                Vec::new()
            };
            (header_of(r), body)
        })
        .collect();
    assert_eq!(entries, want);
}

#[test]
fn verify_and_check_segment_accept_raft_frames() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build(dir.path());
    let check = log.reader().check_segment(1, &mut |_| true).unwrap();
    assert!(check.finished && check.problems.is_empty(), "{check:?}");
    assert_eq!(check.frames, records().len() as u64);
    drop(log);
    let report = verify(dir.path()).unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert_eq!(report.frames, records().len() as u64 + 1);
}

#[test]
fn a_rewrite_keeps_the_raft_frames_it_is_told_to_keep() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build(dir.path());
    let reader = log.reader();
    let done = reader.rewrite(1, |h, _| h.kind.is_raft()).unwrap();
    reader.retire(done.old).unwrap();
    let kept: Vec<_> = reader
        .iter_segment(done.new)
        .map(|f| {
            let f = f.unwrap();
            (*f.header(), f.payload().to_vec())
        })
        .collect();
    let want: Vec<_> = records()
        .iter()
        .filter(|r| r.0.is_raft())
        .map(|r| (header_of(r), r.4.to_vec()))
        .collect();
    assert_eq!(kept, want);
    assert_eq!(done.moved.len(), want.len());
}

#[test]
fn repair_keeps_raft_frames_and_names_their_kind_in_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let (log, locations) = build(dir.path());
    drop(log);
    // Damage the first put of entry 5: its neighbours are the entry and the second put.
    let damaged = locations[2];
    let path = dir.path().join(segment_file_name(1));
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(b"\xff", damaged.offset + 40).unwrap();
    drop(file);

    let report = repair(dir.path()).unwrap();
    assert_eq!(report.lost.len(), 1);
    let lost = &report.lost[0];
    assert_eq!(
        (lost.offset, lost.len),
        (damaged.offset, u64::from(damaged.len))
    );
    let before = lost.before.as_ref().unwrap();
    assert_eq!(
        (before.kind, before.id, before.seq),
        (RecordKind::RaftEntry, 2, 5)
    );

    let text = fs::read_to_string(dir.path().join(LOST_FOUND_DIR).join(REPORT_FILE)).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        json["repairs"][0]["ranges"][0]["before"]["kind"],
        "raft_entry"
    );

    let log = Log::open(dir.path(), opts(1 << 20)).unwrap();
    let kinds: Vec<_> = log
        .reader()
        .iter()
        .map(|f| {
            let f = f.unwrap();
            (f.header().kind, f.header().seq)
        })
        .collect();
    use RecordKind::*;
    assert_eq!(
        kinds,
        [
            (Put, 1),
            (RaftEntry, 5),
            (Put, 3),
            (RaftTruncate, 6),
            (RaftEntry, 6),
            (Put, 4)
        ]
    );
}
