//! `repair` on damaged copies of a five-segment log: a bit flip mid-log, a zeroed 4 KiB page,
//! a truncated middle segment, a damaged hint file, several at once. After each repair the log
//! opens, every frame outside the damaged ranges reads back byte-identical and in order,
//! `verify` is clean, the report (returned and `REPORT.json`) names exactly the lost ranges
//! and the records around them, `lost+found` holds their bytes, and a second run changes
//! nothing. A healthy directory is left untouched; a held one is refused. Each file effect
//! of a repair, failed in turn at each of its occurrences, leaves a directory no worse than
//! before, which a second run repairs exactly as a repair without faults does.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nyro_storage::{
    AddedRecord, Effect, Fault, FaultInjector, FrameHeader, LOST_FOUND_DIR, Location, Log,
    REPORT_FILE, RecordKind, RecordMeaning, RepairReport, StorageError, hint_file_name, repair,
    repair_with, repair_with_io, verify,
};
use serde_json::Value;

use crate::common::{Model, Owned, file_len, flip_bit, opts, owned, segment_path, snapshot};

const SEGMENT_SIZE: u64 = 16 << 10;
/// The record that drops collection 2 (the next one creates `beta` again, as collection 3).
const DROP_AT: u64 = 201;

/// A create-collection record (its payload a collection definition without indexes).
fn create(collection: u32, name: &str, seq: u64) -> Owned {
    Owned {
        kind: RecordKind::CreateCollection,
        collection,
        id: 0,
        seq,
        payload: nyro_storage::codec::encode(&(name, Vec::<String>::new())).unwrap(),
    }
}

/// Record number `n` of a log that means something: documents put, replaced and deleted in
/// collections 1 (`alpha`) and 2 (`beta`), created first; at record [`DROP_AT`] `beta` is
/// dropped and created again as collection 3.
fn record(n: u64) -> Owned {
    match n {
        1 => create(1, "alpha", 0),
        2 => create(2, "beta", 0),
        DROP_AT => Owned {
            kind: RecordKind::DropCollection,
            collection: 2,
            id: 0,
            seq: n,
            payload: Vec::new(),
        },
        n if n == DROP_AT + 1 => create(3, "beta", n),
        _ => {
            let kind = [RecordKind::Put, RecordKind::Replace, RecordKind::Delete][(n % 3) as usize];
            let collection = if n.is_multiple_of(2) {
                1
            } else if n < DROP_AT {
                2
            } else {
                3
            };
            let mut record = owned(n, (n as usize * 37) % 300);
            record.kind = kind;
            record.collection = collection;
            record
        }
    }
}

/// Five segments of about 16 KiB (the newest smaller), frames of 32 to 330 bytes, with hint
/// files for the sealed ones.
fn build(dir: &Path) -> Model {
    let mut log = Log::open(dir, opts(SEGMENT_SIZE)).unwrap();
    let mut model = Model::default();
    let mut n = 0;
    while model.entries.iter().filter(|(l, _)| l.segment == 5).count() < 12 {
        let batch: Vec<Owned> = (0..3)
            .map(|_| {
                n += 1;
                record(n)
            })
            .collect();
        model.append(&mut log, &batch);
    }
    assert!(
        n > DROP_AT + 1,
        "the drop and the second create are in the log"
    );
    log.sync().unwrap();
    for id in 1..5 {
        log.reader()
            .write_hint(id, |h, _, out| {
                out.extend_from_slice(&h.seq.to_le_bytes());
                Ok(())
            })
            .unwrap();
    }
    model
}

/// A log built by [`build`] and a copy of it to damage; the model of both.
fn fixture() -> (tempfile::TempDir, Model, tempfile::TempDir) {
    let base = tempfile::tempdir().unwrap();
    let model = build(base.path());
    let dir = copy(base.path());
    (base, model, dir)
}

/// A damaged copy: the segment files and hints of `base`.
fn copy(base: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(base).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap();
        if name.starts_with("segment-") {
            fs::copy(&path, dir.path().join(name)).unwrap();
        }
    }
    dir
}

/// The frames of segment `segment` that overlap the bytes `[from, to)`.
fn overlapping(model: &Model, segment: u32, from: u64, to: u64) -> Vec<Location> {
    model
        .entries
        .iter()
        .map(|(l, _)| *l)
        .filter(|l| l.segment == segment && l.offset < to && from < l.offset + u64::from(l.len))
        .collect()
}

/// What a repair must report for one lost range: its place and the records around it.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    segment: u32,
    offset: u64,
    len: u64,
    before: Option<(u64, u64)>,
    after: Option<(u64, u64)>,
}

/// The lost range made of the (consecutive) frames `lost` of the model, ending at `end`.
fn expected(model: &Model, lost: &[Location], end: u64) -> Expected {
    let first = model
        .entries
        .iter()
        .position(|(l, _)| *l == lost[0])
        .unwrap();
    let last = first + lost.len() - 1;
    assert_eq!(model.entries[last].0, *lost.last().unwrap());
    let around = |i: Option<usize>| {
        i.and_then(|i| model.entries.get(i))
            .map(|(_, r)| (r.id, r.seq))
    };
    Expected {
        segment: lost[0].segment,
        offset: lost[0].offset,
        len: end - lost[0].offset,
        before: around(first.checked_sub(1)),
        after: around(Some(last + 1)),
    }
}

/// The range ends at the next intact frame of its segment, or at the end of the file.
fn range_end(dir: &Path, model: &Model, lost: &[Location]) -> u64 {
    let last = lost.last().unwrap();
    model
        .entries
        .iter()
        .map(|(l, _)| *l)
        .find(|l| l.segment == last.segment && l.offset > last.offset)
        .map_or_else(|| file_len(&segment_path(dir, last.segment)), |l| l.offset)
}

/// What these tests' records mean: a record of a collection that no create record made
/// needs one (a stand-in for what nyro-core does with collections).
#[derive(Default)]
struct Creates {
    created: HashSet<u32>,
}

impl RecordMeaning for Creates {
    fn follow(&mut self, header: &FrameHeader, _: &[u8]) -> Vec<AddedRecord> {
        let mut added = Vec::new();
        if header.kind == RecordKind::CreateCollection {
            self.created.insert(header.collection);
        } else if self.created.insert(header.collection) {
            added.push(AddedRecord {
                kind: RecordKind::CreateCollection,
                collection: header.collection,
                id: 0,
                seq: u64::MAX, // repair sets it
                payload: Vec::new(),
                note: String::new(),
            });
        }
        added
    }

    fn finish(&mut self, added: &mut [&mut AddedRecord]) {
        for record in added {
            record.payload = b"made up".to_vec();
            record.note = format!("collection {} made up", record.collection);
        }
    }

    fn collection_name(&self, collection: u32) -> Option<String> {
        Some(format!("collection {collection}"))
    }
}

fn run_repair_result(dir: &Path) -> Result<RepairReport, StorageError> {
    repair_with(dir, &mut Creates::default, &mut |_, _| {})
}

fn run_repair(dir: &Path) -> RepairReport {
    run_repair_result(dir).unwrap()
}

/// Repairs `dir` and checks everything a repair promises; returns the report.
fn repair_and_check(
    dir: &Path,
    model: &Model,
    lost_frames: &[Location],
    wanted: &[Expected],
) -> RepairReport {
    // The damaged bytes as they are before the repair, to compare with lost+found.
    let damaged: Vec<Vec<u8>> = wanted
        .iter()
        .map(|w| {
            let bytes = fs::read(segment_path(dir, w.segment)).unwrap();
            bytes[w.offset as usize..(w.offset + w.len) as usize].to_vec()
        })
        .collect();
    // (Open may not see it: it trusts the hints of sealed segments. verify reads everything.)
    assert_eq!(
        verify(dir).unwrap().is_intact(),
        wanted.is_empty(),
        "verify finds the damage"
    );

    let report = run_repair(dir);
    assert!(report.changed());
    let found: Vec<Expected> = report
        .lost
        .iter()
        .map(|r| Expected {
            segment: r.segment,
            offset: r.offset,
            len: r.len,
            before: r.before.as_ref().map(|n| (n.id, n.seq)),
            after: r.after.as_ref().map(|n| (n.id, n.seq)),
        })
        .collect();
    assert_eq!(found, wanted, "the report names exactly the lost ranges");
    for (range, bytes) in report.lost.iter().zip(&damaged) {
        assert_eq!(&fs::read(&range.file).unwrap(), bytes, "{range:?}");
        assert!(range.file.starts_with(dir.join(LOST_FOUND_DIR)));
        assert_eq!(range.crc32c, crc32c::crc32c(bytes));
        assert!(!range.detail.is_empty());
    }
    if !wanted.is_empty() {
        check_report_file(dir, &report);
    }

    // verify is clean and the log opens with every other frame, byte for byte, in order.
    let verified = verify(dir).unwrap();
    assert!(verified.problems.is_empty(), "{verified:?}");
    let kept: Vec<&(Location, Owned)> = model
        .entries
        .iter()
        .filter(|(l, _)| !lost_frames.contains(l))
        .collect();
    let added_count = report.lost.iter().map(|r| r.added.len()).sum::<usize>();
    // verify counts the marker frame each rewritten segment starts with.
    assert_eq!(
        verified.frames,
        (kept.len() + report.rewritten.len() + added_count) as u64
    );
    assert_eq!(report.frames, kept.len() as u64);
    let log = Log::open(dir, opts(SEGMENT_SIZE)).unwrap();
    let frames: Vec<_> = log.reader().iter().collect::<Result<_, _>>().unwrap();
    // Every kept frame, byte for byte, in order; between them only the records that the
    // report says repair added.
    let added: Vec<_> = report.lost.iter().flat_map(|r| &r.added).collect();
    let (mut k, mut a) = (0, 0);
    for frame in &frames {
        if let Some((_, record)) = kept.get(k)
            && *frame.header() == record.header()
            && frame.payload() == record.payload.as_slice()
        {
            k += 1;
            continue;
        }
        let want = added
            .get(a)
            .unwrap_or_else(|| panic!("unexpected frame {frame:?}"));
        assert_eq!(
            (
                frame.header().kind,
                frame.header().collection,
                frame.header().seq
            ),
            (want.kind, want.collection, want.seq)
        );
        a += 1;
    }
    assert_eq!((k, a), (kept.len(), added.len()));
    // A change-feed replay from before a lost record is refused: the floor covers them.
    let lost_seqs = model
        .entries
        .iter()
        .filter(|(l, _)| lost_frames.contains(l))
        .map(|(_, r)| r.seq);
    if let Some(max_lost) = lost_seqs.max() {
        assert!(log.reader().history_floor() >= max_lost);
    }
    drop(log);

    // A second run finds a healthy directory and changes nothing, lost+found included.
    let before = tree(dir);
    let again = run_repair(dir);
    assert!(!again.changed(), "{again:?}");
    assert_eq!(again.frames, (kept.len() + added_count) as u64);
    assert_eq!(tree(dir), before);
    report
}

/// `REPORT.json` has one repair naming the same ranges, files and neighbours.
fn check_report_file(dir: &Path, report: &RepairReport) {
    let text = fs::read_to_string(dir.join(LOST_FOUND_DIR).join(REPORT_FILE)).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["format"], 1);
    let repairs = json["repairs"].as_array().unwrap();
    assert_eq!(repairs.len(), 1);
    let ranges = repairs[0]["ranges"].as_array().unwrap();
    assert_eq!(ranges.len(), report.lost.len());
    for (json, range) in ranges.iter().zip(&report.lost) {
        assert_eq!(json["segment"], range.segment);
        assert_eq!(json["offset"], range.offset);
        assert_eq!(json["len"], range.len);
        assert_eq!(
            json["file"],
            range.file.file_name().unwrap().to_str().unwrap()
        );
        for (side, neighbour) in [("before", &range.before), ("after", &range.after)] {
            match neighbour {
                None => assert!(json[side].is_null()),
                Some(n) => {
                    assert_eq!(json[side]["id"], n.id);
                    assert_eq!(json[side]["seq"], n.seq);
                    assert_eq!(json[side]["collection"], n.collection);
                }
            }
        }
    }
    assert_eq!(
        repairs[0]["lost_bytes"],
        report.lost.iter().map(|r| r.len).sum::<u64>()
    );
}

/// Every file under `dir` (lost+found included) with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let bytes = fs::read(&path).unwrap();
                files.push((path, bytes));
            }
        }
    }
    files.sort();
    files
}

fn zero(path: &Path, at: u64, len: usize) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(&vec![0; len], at).unwrap();
}

fn truncate(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// The model's frames of `segment`.
fn frames_of(model: &Model, segment: u32) -> Vec<Location> {
    model
        .entries
        .iter()
        .map(|(l, _)| *l)
        .filter(|l| l.segment == segment)
        .collect()
}

/// Damage 1: one bit of the payload of a frame in the middle of segment 2.
fn flip_mid_log(dir: &Path, model: &Model) -> (Vec<Location>, Expected) {
    let frames = frames_of(model, 2);
    let victim = frames[frames.len() / 2];
    flip_bit(&segment_path(dir, 2), victim.offset + 20, 3);
    let lost = vec![victim];
    let end = range_end(dir, model, &lost);
    (lost.clone(), expected(model, &lost, end))
}

/// Damage 2: a 4 KiB page of segment 3 zeroed (several frames).
fn zero_page(dir: &Path, model: &Model) -> (Vec<Location>, Expected) {
    let at = 4096 * 2;
    zero(&segment_path(dir, 3), at, 4096);
    let lost = overlapping(model, 3, at, at + 4096);
    assert!(lost.len() > 3);
    let end = range_end(dir, model, &lost);
    (lost.clone(), expected(model, &lost, end))
}

/// Damage 3: segment 4 (sealed, with segments after it) cut inside a frame.
fn truncate_middle(dir: &Path, model: &Model) -> (Vec<Location>, Expected) {
    let frames = frames_of(model, 4);
    let cut_in = frames[frames.len() - 5];
    let cut = cut_in.offset + u64::from(cut_in.len) / 2;
    truncate(&segment_path(dir, 4), cut);
    let lost = overlapping(model, 4, cut, u64::MAX);
    assert_eq!(lost.len(), 5);
    (lost.clone(), expected(model, &lost, cut))
}

#[test]
fn a_bit_flip_mid_log_loses_exactly_its_frame() {
    let (_base, model, dir) = fixture();
    let (lost, want) = flip_mid_log(dir.path(), &model);
    let report = repair_and_check(dir.path(), &model, &lost, &[want]);
    assert_eq!(report.rewritten.len(), 1);
    assert_eq!(report.rewritten[0].old, 2);
    assert!(
        !segment_path(dir.path(), 2).exists(),
        "the old file is gone"
    );
    assert!(!dir.path().join(hint_file_name(2)).exists(), "its hint too");
    assert!(
        dir.path().join(hint_file_name(1)).exists(),
        "other hints stay"
    );
}

#[test]
fn a_zeroed_page_loses_the_frames_it_touches() {
    let (_base, model, dir) = fixture();
    // Without hints, open reads every segment and refuses the damaged one.
    for id in 1..5 {
        fs::remove_file(dir.path().join(hint_file_name(id))).unwrap();
    }
    let (lost, want) = zero_page(dir.path(), &model);
    let offset = want.offset;
    match Log::open(dir.path(), opts(SEGMENT_SIZE)) {
        Err(StorageError::Corrupt {
            path, offset: at, ..
        }) => {
            assert_eq!((path, at), (segment_path(dir.path(), 3), offset));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    repair_and_check(dir.path(), &model, &lost, &[want]);
}

#[test]
fn a_damaged_segment_header_is_replaced_and_every_frame_kept() {
    let (_base, model, dir) = fixture();
    flip_bit(&segment_path(dir.path(), 2), 13, 2);
    let first = frames_of(&model, 2)[0];
    let at = model.entries.iter().position(|(l, _)| *l == first).unwrap();
    let around = |i: usize| Some((model.entries[i].1.id, model.entries[i].1.seq));
    let want = Expected {
        segment: 2,
        offset: 0,
        len: 32,
        before: around(at - 1),
        after: around(at),
    };
    let report = repair_and_check(dir.path(), &model, &[], &[want]);
    assert!(report.lost[0].detail.contains("header"), "{report:?}");
}

#[test]
fn a_truncated_middle_segment_keeps_its_intact_frames() {
    let (_base, model, dir) = fixture();
    let (lost, want) = truncate_middle(dir.path(), &model);
    // The last frame of segment 4 is followed by the first of segment 5.
    assert_eq!(
        want.after,
        frames_of(&model, 5).first().map(|l| {
            let (_, r) = model.entries.iter().find(|(e, _)| e == l).unwrap();
            (r.id, r.seq)
        })
    );
    repair_and_check(dir.path(), &model, &lost, &[want]);
}

#[test]
fn a_damaged_hint_is_removed_and_nothing_is_lost() {
    let (_base, model, dir) = fixture();
    let hint = dir.path().join(hint_file_name(3));
    let len = file_len(&hint);
    flip_bit(&hint, len / 2, 5);
    let report = repair_and_check(dir.path(), &model, &[], &[]);
    assert_eq!(report.hints_removed, vec![hint.clone()]);
    assert!(report.rewritten.is_empty());
    assert!(!hint.exists());
    assert!(
        !dir.path().join(LOST_FOUND_DIR).exists(),
        "nothing was lost"
    );
}

#[test]
fn several_damages_at_once_are_each_reported() {
    let (_base, model, dir) = fixture();
    let (mut lost, first) = flip_mid_log(dir.path(), &model);
    let (more, second) = zero_page(dir.path(), &model);
    lost.extend(more);
    let (more, third) = truncate_middle(dir.path(), &model);
    lost.extend(more);
    // And a flip in the newest segment, with intact frames after it (not a torn tail).
    let newest = frames_of(&model, 5);
    let at = (1..newest.len() - 1).find(|&i| newest[i].len > 40).unwrap();
    let victim = newest[at];
    flip_bit(&segment_path(dir.path(), 5), victim.offset + 33, 0);
    let fourth = expected(&model, &[victim], newest[at + 1].offset);
    lost.push(victim);
    // And a damaged hint of an undamaged segment.
    let hint = dir.path().join(hint_file_name(1));
    flip_bit(&hint, 40, 1);

    let report = repair_and_check(dir.path(), &model, &lost, &[first, second, third, fourth]);
    assert_eq!(
        report.rewritten.iter().map(|s| s.old).collect::<Vec<_>>(),
        [2, 3, 4, 5]
    );
    assert!(report.hints_removed.contains(&hint));
    // The repaired newest segment takes appends as before.
    let mut log = Log::open(dir.path(), opts(SEGMENT_SIZE)).unwrap();
    let next = owned(10_000, 10);
    log.append(&[next.record()]).unwrap();
    drop(log);
    assert!(verify(dir.path()).unwrap().problems.is_empty());
}

#[test]
fn a_healthy_directory_is_left_untouched() {
    let base = tempfile::tempdir().unwrap();
    let model = build(base.path());
    let before = tree(base.path());
    let report = repair(base.path()).unwrap();
    assert!(!report.changed(), "{report:?}");
    assert!(report.lost.is_empty() && report.report_file.is_none());
    assert_eq!(report.frames, model.entries.len() as u64);
    assert_eq!(report.segments, 5);
    assert_eq!(tree(base.path()), before);
}

#[test]
fn a_held_directory_is_refused() {
    let base = tempfile::tempdir().unwrap();
    build(base.path());
    let dir = copy(base.path());
    let path = segment_path(dir.path(), 2);
    flip_bit(&path, file_len(&path) / 2, 1);
    let before = snapshot(dir.path());
    let _held = nyro_storage::DirLock::acquire(dir.path()).unwrap();
    match repair(dir.path()) {
        Err(StorageError::Locked { dir: locked }) => assert_eq!(locked, dir.path()),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_crash_mid_repair_leaves_a_directory_that_opens_or_repairs_the_same() {
    let (base, model, dir) = fixture();
    let (lost, want) = flip_mid_log(dir.path(), &model);
    let damaged = fs::read(segment_path(dir.path(), 2)).unwrap();
    repair_and_check(dir.path(), &model, &lost, &[want]);

    // A crash after the rename, before the old file was removed: both files are there.
    // Open keeps the repaired one and removes the old one.
    fs::write(segment_path(dir.path(), 2), &damaged).unwrap();
    let log = Log::open(dir.path(), opts(SEGMENT_SIZE)).unwrap();
    assert_eq!(
        log.reader().iter().count(),
        model.entries.len() - lost.len()
    );
    drop(log);
    assert!(!segment_path(dir.path(), 2).exists());

    // A crash before the rename: the old file and a temporary one. Repair removes the
    // temporary file (as open does) and does the same again.
    let other = copy(base.path());
    let (lost, want) = flip_mid_log(other.path(), &model);
    fs::write(other.path().join("compact-0000000006.tmp"), b"half written").unwrap();
    let report = repair_and_check(other.path(), &model, &lost, &[want]);
    assert_eq!(report.rewritten[0].new, 6);
    assert!(!other.path().join("compact-0000000006.tmp").exists());
}

#[test]
fn records_the_meaning_asks_for_are_written_in_place_of_the_lost_range() {
    let (_base, model, dir) = fixture();
    // The first frame of the log creates `alpha` (collection 1).
    let first = model.entries[0].0;
    flip_bit(&segment_path(dir.path(), 1), first.offset + 34, 4);
    let lost = vec![first];
    let end = range_end(dir.path(), &model, &lost);
    let want = expected(&model, &lost, end);
    assert_eq!(want.before, None);
    let report = repair_and_check(dir.path(), &model, &lost, &[want]);
    let added = &report.lost[0].added;
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(
        (added[0].kind, added[0].collection, added[0].seq),
        (RecordKind::CreateCollection, 1, 0),
        "with the seq of the last record before the range (none)"
    );
    assert_eq!(added[0].payload, b"made up");
    assert_eq!(added[0].note, "collection 1 made up");
    let json: Value = serde_json::from_str(
        &fs::read_to_string(dir.path().join(LOST_FOUND_DIR).join(REPORT_FILE)).unwrap(),
    )
    .unwrap();
    let recorded = &json["repairs"][0]["ranges"][0]["records_added"][0];
    assert_eq!(recorded["kind"], "create_collection");
    assert_eq!(recorded["collection"], 1);
    assert_eq!(recorded["note"], "collection 1 made up");
    // The meaning names the collections around the range.
    let after = report.lost[0].after.as_ref().unwrap();
    assert_eq!(after.collection_name.as_deref(), Some("collection 2"));
}

#[test]
fn a_later_repair_adds_to_lost_found_and_never_overwrites_it() {
    let (_base, model, dir) = fixture();
    let (lost, want) = flip_mid_log(dir.path(), &model);
    repair_and_check(dir.path(), &model, &lost, &[want]);
    let lost_found = dir.path().join(LOST_FOUND_DIR);
    let first = tree(&lost_found);

    // New damage, in the segment the first repair wrote (file 6, in place of 2).
    let path = segment_path(dir.path(), 6);
    flip_bit(&path, file_len(&path) / 2, 2);
    let report = run_repair(dir.path());
    assert_eq!(report.lost.len(), 1);
    assert_eq!(report.lost[0].segment, 6);
    assert_eq!(report.rewritten[0].new, 7);
    let second = tree(&lost_found);
    for (file, bytes) in &first {
        if file.ends_with(REPORT_FILE) {
            continue;
        }
        assert!(
            second.contains(&(file.clone(), bytes.clone())),
            "{file:?} kept"
        );
    }
    let json: Value =
        serde_json::from_str(&fs::read_to_string(lost_found.join(REPORT_FILE)).unwrap()).unwrap();
    let repairs = json["repairs"].as_array().unwrap();
    assert_eq!(repairs.len(), 2);
    let old: Value = serde_json::from_slice(
        &first
            .iter()
            .find(|(f, _)| f.ends_with(REPORT_FILE))
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(
        repairs[0], old["repairs"][0],
        "the first entry is unchanged"
    );
    assert_eq!(repairs[1]["ranges"][0]["segment"], 6);
    assert!(verify(dir.path()).unwrap().problems.is_empty());
}

#[test]
fn an_unreadable_report_stops_repair_before_any_segment_changes() {
    let (_base, model, dir) = fixture();
    let (lost, want) = flip_mid_log(dir.path(), &model);
    let lost_found = dir.path().join(LOST_FOUND_DIR);
    fs::create_dir(&lost_found).unwrap();
    fs::write(lost_found.join(REPORT_FILE), b"my notes").unwrap();
    let before = snapshot(dir.path());
    match run_repair_result(dir.path()) {
        Err(StorageError::LostFound { path, reason }) => {
            assert_eq!(path, lost_found.join(REPORT_FILE));
            assert!(reason.contains("not JSON"), "{reason}");
        }
        other => panic!("expected LostFound, got {other:?}"),
    }
    assert_eq!(snapshot(dir.path()), before, "no segment changed");
    assert_eq!(fs::read(lost_found.join(REPORT_FILE)).unwrap(), b"my notes");
    // Moved away, the repair goes through (reusing the range file it wrote).
    fs::rename(lost_found.join(REPORT_FILE), dir.path().join("notes")).unwrap();
    repair_and_check(dir.path(), &model, &lost, &[want]);
}

#[test]
fn a_damaged_compaction_marker_shows_as_seqs_going_backwards() {
    let base = tempfile::tempdir().unwrap();
    build(base.path());
    // Compact segment 1 (keeping everything) into file 6, at position 1.
    let log = Log::open(base.path(), opts(SEGMENT_SIZE)).unwrap();
    let rewritten = log.reader().rewrite(1, |_, _| true).unwrap();
    assert_eq!(rewritten.new, 6);
    log.reader().retire(1).unwrap();
    drop(log);
    let dir = copy(base.path());
    // Its marker frame (right after the header) damaged: nothing says its place any more.
    flip_bit(&segment_path(dir.path(), 6), 32 + 33, 1);
    let report = run_repair(dir.path());
    assert_eq!(report.lost.len(), 1);
    let range = &report.lost[0];
    assert_eq!((range.segment, range.offset), (6, 32));
    let (before, after) = (
        range.before.as_ref().unwrap(),
        range.after.as_ref().unwrap(),
    );
    assert_eq!(
        before.segment, 5,
        "file 6 now sorts after the newest writer segment"
    );
    assert!(
        before.seq > after.seq,
        "the sign of a lost place (docs/FORMAT.md section 8): {before:?} {after:?}"
    );
}

/// The damage of the fault tests: a bit flip in segment 2, a zeroed page of segment 3 (two
/// rewrites, two range files, the report) and a damaged hint of segment 1 (a hint removed).
fn damage_for_faults(dir: &Path, model: &Model) -> (Vec<Location>, Vec<Expected>) {
    let (mut lost, first) = flip_mid_log(dir, model);
    let (more, second) = zero_page(dir, model);
    lost.extend(more);
    flip_bit(&dir.join(hint_file_name(1)), 40, 1);
    (lost, vec![first, second])
}

/// Every file under `dir` by its path relative to `dir`, without `LOCK`.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    tree(dir)
        .into_iter()
        .map(|(path, bytes)| (path.strip_prefix(dir).unwrap().to_path_buf(), bytes))
        .filter(|(path, _)| path != Path::new(nyro_storage::LOCK_FILE))
        .collect()
}

/// Every frame the log hands out, header and payload, in order.
fn log_frames(dir: &Path) -> Vec<(FrameHeader, Vec<u8>)> {
    let log = Log::open(dir, opts(SEGMENT_SIZE)).unwrap();
    log.reader()
        .iter()
        .map(|f| {
            let f = f.unwrap();
            (*f.header(), f.payload().to_vec())
        })
        .collect()
}

/// A temporary file that a failed repair may leave when removing it fails too.
fn is_temp(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "tmp")
}

/// The damaged directory before any repair, and after a repair without faults.
struct Reference {
    damaged: BTreeMap<PathBuf, Vec<u8>>,
    repaired: BTreeMap<PathBuf, Vec<u8>>,
    frames: Vec<(FrameHeader, Vec<u8>)>,
    report: RepairReport,
    /// Where it was repaired.
    dir: PathBuf,
}

impl Reference {
    /// Checks that `report`, of a repair of `dir`, says what the repair without faults said.
    fn check_report(&self, report: &RepairReport, dir: &Path, what: &str) {
        let text = |report: &RepairReport, dir: &Path| {
            format!("{report:?}").replace(&dir.display().to_string(), "DIR")
        };
        assert_eq!(text(report, dir), text(&self.report, &self.dir), "{what}");
    }

    /// Checks the directory that a repair failed in, with `error`: the error names the
    /// file the fault hit; every file is as it was before, or as the repair without faults
    /// leaves it (lost+found's range files included: none is half-written under its name),
    /// and a segment is gone only if its replacement is there; `REPORT.json` is absent or
    /// valid and names only complete range files; temporary files are left only if removing
    /// them failed too (`cleanup_fails`).
    fn check_failed(&self, dir: &Path, error: &StorageError, cleanup_fails: bool, what: &str) {
        match error {
            StorageError::Io { path, source, .. } => {
                let message = source.to_string();
                assert!(message.starts_with("injected fault"), "{what}: {error}");
                assert!(
                    message.contains(&path.display().to_string()),
                    "{what}: the error names the file the fault hit: {error}"
                );
                assert!(error.to_string().contains(&path.display().to_string()));
            }
            other => panic!("{what}: expected Io, got {other:?}"),
        }
        let now = files(dir);
        let lost_found = Path::new(LOST_FOUND_DIR);
        for (path, bytes) in &now {
            if is_temp(path) {
                assert!(cleanup_fails, "{what}: {path:?} left behind");
            } else if path == &lost_found.join(REPORT_FILE) {
                let json: Value = serde_json::from_slice(bytes)
                    .unwrap_or_else(|e| panic!("{what}: REPORT.json is not JSON: {e}"));
                assert_eq!(json["format"], 1, "{what}");
                let repairs = json["repairs"].as_array().unwrap();
                assert_eq!(repairs.len(), 1, "{what}");
                for range in repairs[0]["ranges"].as_array().unwrap() {
                    let file = lost_found.join(range["file"].as_str().unwrap());
                    assert_eq!(now.get(&file), self.repaired.get(&file), "{what}: {file:?}");
                }
            } else {
                assert!(
                    self.damaged.get(path) == Some(bytes) || self.repaired.get(path) == Some(bytes),
                    "{what}: {path:?} is neither as before nor as repaired"
                );
            }
        }
        for rewritten in &self.report.rewritten {
            let old = PathBuf::from(nyro_storage::segment_file_name(rewritten.old));
            let new = PathBuf::from(nyro_storage::segment_file_name(rewritten.new));
            assert!(
                now.contains_key(&old) || now.contains_key(&new),
                "{what}: segment {} is gone before its replacement is there",
                rewritten.old
            );
        }
    }

    /// Checks a directory that a failed repair and then one without faults went over: it
    /// holds exactly the files and frames of the repair without faults, the report's
    /// entries (one, or two if the failed run wrote its own) name every lost range, and
    /// `verify` is clean.
    fn check_repaired(&self, dir: &Path, what: &str) {
        let verified = verify(dir).unwrap();
        assert!(verified.problems.is_empty(), "{what}: {verified:?}");
        assert_eq!(log_frames(dir), self.frames, "{what}");
        let report_file = Path::new(LOST_FOUND_DIR).join(REPORT_FILE);
        let without_report = |files: &BTreeMap<PathBuf, Vec<u8>>| {
            let mut files = files.clone();
            files.remove(&report_file);
            files
        };
        let now = files(dir);
        assert_eq!(
            without_report(&now),
            without_report(&self.repaired),
            "{what}"
        );
        let json: Value = serde_json::from_slice(&now[&report_file]).unwrap();
        let repairs = json["repairs"].as_array().unwrap();
        assert!((1..=2).contains(&repairs.len()), "{what}: {repairs:?}");
        let named: BTreeSet<(u64, u64)> = repairs
            .iter()
            .flat_map(|r| r["ranges"].as_array().unwrap())
            .map(|r| {
                (
                    r["segment"].as_u64().unwrap(),
                    r["offset"].as_u64().unwrap(),
                )
            })
            .collect();
        let lost: BTreeSet<(u64, u64)> = self
            .report
            .lost
            .iter()
            .map(|r| (u64::from(r.segment), r.offset))
            .collect();
        assert_eq!(named, lost, "{what}");
    }
}

/// Every effect kind, with the error it fails with.
const FAULTS: [(Effect, ErrorKind); 10] = [
    (Effect::Write, ErrorKind::StorageFull),
    (Effect::SyncData, ErrorKind::Other),
    (Effect::SyncAll, ErrorKind::Other),
    (Effect::Create, ErrorKind::StorageFull),
    (Effect::OpenExisting, ErrorKind::PermissionDenied),
    (Effect::SetLen, ErrorKind::Other),
    (Effect::SyncDir, ErrorKind::Other),
    (Effect::Rename, ErrorKind::Other),
    (Effect::Remove, ErrorKind::PermissionDenied),
    (Effect::CreateDir, ErrorKind::StorageFull),
];

#[test]
fn each_failed_file_effect_of_a_repair_leaves_a_directory_that_repairs_the_same() {
    let (base, model, reference_dir) = fixture();
    let (lost, wanted) = damage_for_faults(reference_dir.path(), &model);
    let damaged = files(reference_dir.path());
    let report = repair_and_check(reference_dir.path(), &model, &lost, &wanted);
    let reference = Reference {
        damaged,
        repaired: files(reference_dir.path()),
        frames: log_frames(reference_dir.path()),
        report,
        dir: reference_dir.path().to_path_buf(),
    };

    // How often a repair without faults calls each effect.
    let counter = FaultInjector::new();
    let dir = copy(base.path());
    damage_for_faults(dir.path(), &model);
    repair_with_io(dir.path(), &counter, &mut Creates::default, &mut |_, _| {}).unwrap();
    for effect in [
        Effect::Write,
        Effect::SyncData,
        Effect::Create,
        Effect::SyncDir,
        Effect::Rename,
        Effect::Remove,
        Effect::CreateDir,
    ] {
        assert!(counter.calls(effect) > 0, "{effect:?}");
    }

    // Each effect fails at each of its calls in turn; then also with every removal failing,
    // so that nothing can be cleaned up after the failure.
    for (effect, kind) in FAULTS {
        for cleanup_fails in [false, true] {
            if cleanup_fails && effect == Effect::Remove {
                continue;
            }
            for n in 0.. {
                let what =
                    format!("{effect:?} failing at call {n} (cleanup fails: {cleanup_fails})");
                let dir = copy(base.path());
                damage_for_faults(dir.path(), &model);
                let io = FaultInjector::new();
                io.inject(Fault::new(effect, kind).after(n));
                if cleanup_fails {
                    io.inject(Fault::new(Effect::Remove, ErrorKind::PermissionDenied));
                }
                let result = repair_with_io(dir.path(), &io, &mut Creates::default, &mut |_, _| {});
                if io.failed(effect) == 0 {
                    // Past the last call: the repair went through (unless a removal failed).
                    if !cleanup_fails {
                        assert_eq!(n, counter.calls(effect), "{what}");
                        reference.check_report(&result.unwrap(), dir.path(), &what);
                        reference.check_repaired(dir.path(), &what);
                    }
                    break;
                }
                let error = result.expect_err(&what);
                reference.check_failed(dir.path(), &error, cleanup_fails, &what);
                run_repair(dir.path());
                reference.check_repaired(dir.path(), &what);
            }
        }
    }
}
