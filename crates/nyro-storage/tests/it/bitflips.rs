//! Single-bit damage, at every byte of a small three-segment log: a damaged frame is never
//! returned as data. In the newest segment's last frame the flip is a torn tail that open
//! cuts off; anywhere else open fails with `Corrupt` naming the file and the damaged frame's
//! offset (or `BadSegmentHeader` for a header), and `verify` reports the same place without
//! changing a byte. Damage made under a running log is caught by every read too.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use nyro_storage::{Location, Log, SEGMENT_HEADER_LEN, Severity, StorageError, verify};

use crate::common::{
    Model, copy_segments, file_len, flip_bit, opts, owned, segment_files, segment_path, snapshot,
};

const SEGMENT_SIZE: u64 = 160;

/// Three segments: 4 frames, 3 frames, and 3 frames in the newest.
fn build(dir: &Path) -> Model {
    let mut log = Log::open(dir, opts(SEGMENT_SIZE)).unwrap();
    let mut model = Model::default();
    model.append(&mut log, &[owned(1, 20), owned(2, 30)]);
    model.append(&mut log, &[owned(3, 15), owned(4, 40)]);
    model.append(&mut log, &[owned(5, 25), owned(6, 5)]);
    model.append(&mut log, &[owned(7, 35)]);
    model.append(&mut log, &[owned(8, 10), owned(9, 0), owned(10, 20)]);
    log.sync().unwrap();
    let per_segment: Vec<usize> = (1..=3)
        .map(|s| model.entries.iter().filter(|(l, _)| l.segment == s).count())
        .collect();
    assert_eq!(per_segment, [4, 3, 3]);
    model
}

/// What a flip at `at` of segment `segment` must do.
enum Expect {
    Header,
    TornLast(Location),
    Corrupt(Location),
}

fn expect(model: &Model, segment: u32, newest: u32, at: u64) -> Expect {
    if at < SEGMENT_HEADER_LEN as u64 {
        return Expect::Header;
    }
    let (loc, _) = model
        .entries
        .iter()
        .find(|(l, _)| l.segment == segment && l.offset <= at && at < l.offset + u64::from(l.len))
        .expect("every byte after the header belongs to a frame");
    let last = model.entries.last().unwrap().0;
    if segment == newest && *loc == last {
        Expect::TornLast(*loc)
    } else {
        Expect::Corrupt(*loc)
    }
}

#[test]
fn every_byte_flipped_is_caught_and_named() {
    let base = tempfile::tempdir().unwrap();
    let model = build(base.path());
    let files = segment_files(base.path());
    let newest = files.len() as u32;
    let total = model.entries.len() as u64;
    let mut cases = 0;
    for segment in 1..=newest {
        let len = file_len(&segment_path(base.path(), segment));
        for at in 0..len {
            cases += 1;
            let bit = ((at * 3 + u64::from(segment)) % 8) as u8;
            let dir = tempfile::tempdir().unwrap();
            copy_segments(base.path(), dir.path());
            let path = segment_path(dir.path(), segment);
            flip_bit(&path, at, bit);
            let case = format!("segment {segment} byte {at} bit {bit}");

            // verify names the place and changes nothing.
            let before = snapshot(dir.path());
            let report = verify(dir.path()).unwrap();
            assert_eq!(snapshot(dir.path()), before, "{case}: verify changed files");
            assert_eq!(report.segments, files.len(), "{case}");
            assert_eq!(report.problems.len(), 1, "{case}: {report:?}");
            let problem = &report.problems[0];
            assert_eq!(problem.path, path, "{case}");
            let expected = expect(&model, segment, newest, at);
            match expected {
                Expect::Header => {
                    assert_eq!(
                        (problem.offset, problem.len),
                        (0, SEGMENT_HEADER_LEN as u64)
                    );
                    assert_eq!(problem.severity, Severity::Corrupt, "{case}");
                    assert_eq!(report.frames, total, "{case}");
                }
                Expect::TornLast(loc) | Expect::Corrupt(loc) => {
                    assert_eq!(
                        (problem.offset, problem.len),
                        (loc.offset, u64::from(loc.len)),
                        "{case}"
                    );
                    assert_eq!(report.frames, total - 1, "{case}");
                    let torn = matches!(expected, Expect::TornLast(_));
                    let severity = if torn {
                        Severity::TornTail
                    } else {
                        Severity::Corrupt
                    };
                    assert_eq!(problem.severity, severity, "{case}");
                    assert_eq!(report.is_intact(), torn, "{case}");
                }
            }

            // open cuts a torn tail or refuses, naming file and offset.
            match (expected, Log::open(dir.path(), opts(SEGMENT_SIZE))) {
                (Expect::Header, Err(StorageError::BadSegmentHeader { path: p, .. })) => {
                    assert_eq!(p, path, "{case}");
                }
                (Expect::Corrupt(loc), Err(e @ StorageError::Corrupt { .. })) => {
                    let message = e.to_string();
                    let StorageError::Corrupt {
                        path: p, offset, ..
                    } = e
                    else {
                        unreachable!()
                    };
                    assert_eq!((p, offset), (path.clone(), loc.offset), "{case}");
                    assert!(
                        message.contains(&path.display().to_string()),
                        "{case}: {message}"
                    );
                    assert!(
                        message.contains(&format!("offset {offset}")),
                        "{case}: {message}"
                    );
                }
                (Expect::TornLast(loc), Ok(log)) => {
                    let torn = log.recovery().torn_tail.clone().unwrap();
                    assert_eq!(
                        (torn.path, torn.offset, torn.dropped_bytes),
                        (path.clone(), loc.offset, u64::from(loc.len)),
                        "{case}"
                    );
                    assert_eq!(log.recovery().frames, total - 1, "{case}");
                    let mut intact = model.clone();
                    intact.entries.pop();
                    intact.check(log.reader());
                    assert!(
                        log.reader().read(loc).is_err(),
                        "{case}: damaged frame read"
                    );
                }
                (_, other) => panic!("{case}: open gave {other:?}"),
            }
        }
    }
    assert!(cases >= 500, "only {cases} positions");
}

/// Overwrites byte `at` of `path` in place (no truncation, so a live map stays valid).
fn poke(path: &Path, at: u64, bit: u8) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at).unwrap();
    byte[0] ^= 1 << bit;
    file.write_all_at(&byte, at).unwrap();
}

#[test]
fn damage_under_a_running_log_is_never_returned() {
    let dir = tempfile::tempdir().unwrap();
    let model = build(dir.path());
    let log = Log::open(dir.path(), opts(SEGMENT_SIZE)).unwrap();
    model.check(log.reader());
    // One frame in a sealed segment, one in the active segment.
    for index in [1usize, 8] {
        let (loc, _) = model.entries[index];
        let path = segment_path(dir.path(), loc.segment);
        for at in [
            loc.offset + 5,
            loc.offset + 8,
            loc.offset + u64::from(loc.len) - 1,
        ] {
            poke(&path, at, 2);
            match log.reader().read(loc) {
                Err(StorageError::Corrupt {
                    path: p, offset, ..
                }) => {
                    assert_eq!((p, offset), (path.clone(), loc.offset));
                }
                other => panic!("byte {at} of {loc:?}: {other:?}"),
            }
            let results: Vec<_> = log.reader().iter().collect();
            assert_eq!(results.len(), index + 1, "iteration stops at the damage");
            assert!(results[..index].iter().all(Result::is_ok));
            assert!(matches!(
                &results[index],
                Err(StorageError::Corrupt { offset, .. }) if *offset == loc.offset
            ));
            poke(&path, at, 2);
            model.check(log.reader());
        }
        // A damaged length field is refused too (as corrupt or as a bad location).
        poke(&path, loc.offset + 1, 0);
        assert!(log.reader().read(loc).is_err());
        assert!(log.reader().iter().any(|r| r.is_err()));
        poke(&path, loc.offset + 1, 0);
    }
    model.check(log.reader());
}
