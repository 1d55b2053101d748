//! A healthy log: batches append and read back byte-identical (header fields and payload),
//! at once and before any sync; small segments make several files that reads and iteration
//! cross in order; a reopen finds the same frames at the same locations; empty payloads work;
//! locations the log never handed out are refused with `BadLocation`, never a panic; while
//! the writer seals, readers always see exactly one active segment, the last.

use std::thread;

use nyro_storage::{
    HEADER_LEN, Location, Log, LogOptions, MAX_PAYLOAD_LEN, Record, RecordKind, SEGMENT_HEADER_LEN,
    StorageError,
};

use crate::common::{Model, file_len, opts, owned, segment_files, segment_path};

#[test]
fn batches_read_back_before_sync_and_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(log.recovery().frames, 0);
    assert_eq!(log.recovery().segments, 1);
    assert_eq!(log.recovery().max_seq, None);
    let mut model = Model::default();
    let mut seq = 0;
    for batch_len in [1usize, 7, 33, 2] {
        let batch: Vec<_> = (0..batch_len)
            .map(|i| {
                seq += 1;
                owned(seq, (i * 37) % 500)
            })
            .collect();
        let locations = model.append(&mut log, &batch);
        // Readable at once, before any sync.
        assert!(log.unsynced_bytes() > 0);
        for (loc, rec) in locations.iter().zip(&batch) {
            let frame = log.reader().read(*loc).unwrap();
            assert_eq!(*frame.header(), rec.header());
            assert_eq!(frame.payload(), rec.payload.as_slice());
        }
        // A batch is contiguous: each frame starts where the previous one ends.
        for pair in locations.windows(2) {
            assert_eq!(pair[0].segment, pair[1].segment);
            assert_eq!(pair[0].offset + u64::from(pair[0].len), pair[1].offset);
        }
    }
    model.check(log.reader());
    log.sync().unwrap();
    assert_eq!(log.unsynced_bytes(), 0);
    model.check(log.reader());
    // The file holds exactly the header and the frames.
    let total: u64 = model.entries.iter().map(|(l, _)| u64::from(l.len)).sum();
    assert_eq!(
        file_len(&segment_path(dir.path(), 1)),
        SEGMENT_HEADER_LEN as u64 + total
    );
    assert_eq!(log.append(&[]).unwrap(), Vec::<Location>::new());
}

#[test]
fn small_segments_span_files_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), opts(4096)).unwrap();
    let mut model = Model::default();
    for b in 0..40u64 {
        let batch: Vec<_> = (0..5)
            .map(|i| owned(b * 5 + i + 1, ((b * 5 + i) as usize * 53) % 400))
            .collect();
        model.append(&mut log, &batch);
    }
    let segments = log.reader().segments();
    assert!(segments.len() >= 4, "only {} segments", segments.len());
    assert_eq!(segment_files(dir.path()).len(), segments.len());
    // Locations are strictly increasing in log order, and each segment holds at most
    // segment_size plus one batch.
    for pair in model.entries.windows(2) {
        assert!(
            pair[0].0 < pair[1].0,
            "{:?} then {:?}",
            pair[0].0,
            pair[1].0
        );
    }
    for (i, info) in segments.iter().enumerate() {
        assert_eq!(info.id, i as u32 + 1);
        assert_eq!(info.bytes, file_len(&info.path));
        assert!(info.bytes < 4096 + 5 * (HEADER_LEN as u64 + 400));
    }
    model.check(log.reader());
    log.sync().unwrap();
    drop(log);

    let mut log = Log::open(dir.path(), opts(4096)).unwrap();
    let report = log.recovery().clone();
    assert_eq!(report.frames, model.entries.len() as u64);
    assert_eq!(report.max_seq, model.max_seq());
    assert_eq!(report.segments, segments.len());
    assert_eq!(report.torn_tail, None);
    assert_eq!(report.bytes, segments.iter().map(|s| s.bytes).sum::<u64>());
    assert_eq!(log.reader().segments(), segments);
    model.check(log.reader()); // the old locations still read
    // Appends continue after the recovered frames.
    let more: Vec<_> = (1000..1010).map(|s| owned(s, 300)).collect();
    let locs = model.append(&mut log, &more);
    assert!(locs[0] > model.entries[model.entries.len() - 11].0);
    model.check(log.reader());
    drop(log);
    let log = Log::open(dir.path(), opts(4096)).unwrap();
    assert_eq!(log.recovery().frames, model.entries.len() as u64);
    assert_eq!(log.recovery().max_seq, Some(1009));
    model.check(log.reader());
}

#[test]
fn seal_starts_a_new_segment_and_reads_cross_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let mut model = Model::default();
    let first = model.append(&mut log, &[owned(1, 10), owned(2, 20)]);
    log.seal().unwrap();
    log.seal().unwrap(); // sealing an empty segment is fine too
    let second = model.append(&mut log, &[owned(3, 30)]);
    assert_eq!(first[0].segment, 1);
    assert_eq!(second[0].segment, 3);
    assert_eq!(second[0].offset, SEGMENT_HEADER_LEN as u64);
    assert_eq!(log.reader().segments().len(), 3);
    model.check(log.reader());
    drop(log);
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(log.recovery().segments, 3);
    assert_eq!(log.recovery().frames, 3);
    model.check(log.reader());
}

#[test]
fn empty_payloads_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), opts(4096)).unwrap();
    let mut model = Model::default();
    let batch: Vec<_> = (1..=20)
        .map(|s| owned(s, if s % 3 == 0 { 5 } else { 0 }))
        .collect();
    let locs = model.append(&mut log, &batch);
    assert_eq!(locs[0].len as usize, HEADER_LEN);
    assert!(log.reader().read(locs[0]).unwrap().payload().is_empty());
    model.check(log.reader());
    drop(log);
    let log = Log::open(dir.path(), opts(4096)).unwrap();
    assert_eq!(log.recovery().frames, 20);
    model.check(log.reader());
}

#[test]
fn locations_never_handed_out_are_bad_locations() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let mut model = Model::default();
    let locs = model.append(
        &mut log,
        &[owned(1, 100), owned(2, 0), owned(3, 64), owned(4, 7)],
    );
    let real = locs[0];
    let mut wrong = vec![
        Location { segment: 2, ..real },
        Location { segment: 0, ..real },
        Location {
            segment: u32::MAX,
            ..real
        },
        Location { offset: 0, ..real },
        Location { offset: 31, ..real },
        Location {
            offset: u64::MAX,
            ..real
        },
        Location {
            offset: u64::MAX - 10,
            len: 20,
            ..real
        },
        Location { len: 0, ..real },
        Location { len: 31, ..real },
        Location {
            len: real.len - 1,
            ..real
        },
        Location {
            len: real.len + 1,
            ..real
        },
        Location {
            len: u32::MAX,
            ..real
        },
        // The next frame's start with this frame's length, and vice versa.
        Location {
            offset: locs[1].offset,
            ..real
        },
        Location {
            len: locs[1].len,
            ..real
        },
        // Past the end of everything written.
        Location {
            offset: locs[3].offset + u64::from(locs[3].len),
            len: 32,
            ..real
        },
    ];
    // Every offset inside a frame, with that frame's length and with 32.
    for loc in &locs {
        for inside in 1..loc.len {
            let offset = loc.offset + u64::from(inside);
            wrong.push(Location { offset, ..*loc });
            wrong.push(Location {
                offset,
                len: 32,
                ..*loc
            });
        }
    }
    wrong.retain(|w| !locs.contains(w));
    for w in wrong {
        match log.reader().read(w) {
            Err(StorageError::BadLocation {
                segment,
                offset,
                len,
                ..
            }) => {
                assert_eq!((segment, offset, len), (w.segment, w.offset, w.len));
            }
            other => panic!("{w:?} gave {other:?}"),
        }
    }
    model.check(log.reader());
}

#[test]
fn oversized_record_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogOptions::default()).unwrap();
    // Zeroed allocations are lazy: this does not touch a gigabyte.
    let huge = vec![0u8; MAX_PAYLOAD_LEN + 1];
    let before = file_len(&segment_path(dir.path(), 1));
    let small = owned(1, 3);
    let batch = [
        small.record(),
        Record {
            kind: RecordKind::Put,
            collection: 1,
            id: 77,
            seq: 2,
            payload: &huge,
            continues: false,
        },
    ];
    match log.append(&batch) {
        Err(StorageError::RecordTooLarge { id: 77, len, max }) => {
            assert_eq!((len, max), (MAX_PAYLOAD_LEN + 1, MAX_PAYLOAD_LEN));
        }
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
    assert_eq!(file_len(&segment_path(dir.path(), 1)), before);
    assert_eq!(log.reader().iter().count(), 0);
}

#[test]
fn a_reader_thread_sees_a_growing_prefix_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), opts(8192)).unwrap();
    let reader = log.reader().clone();
    let mut model = Model::default();
    let expected: Vec<_> = (1..=600)
        .map(|s| owned(s, (s as usize * 31) % 300))
        .collect();
    let watcher = {
        let expected = expected.clone();
        thread::spawn(move || {
            let mut seen = 0;
            while seen < expected.len() {
                let frames: Vec<_> = reader.iter().collect::<Result<_, _>>().unwrap();
                assert!(frames.len() >= seen, "the log shrank");
                for (frame, rec) in frames.iter().zip(&expected) {
                    assert_eq!(*frame.header(), rec.header());
                    assert_eq!(frame.payload(), rec.payload.as_slice());
                }
                seen = frames.len();
            }
        })
    };
    for chunk in expected.chunks(12) {
        model.append(&mut log, chunk);
    }
    watcher.join().unwrap();
    model.check(log.reader());
}

#[test]
fn readers_always_see_exactly_one_active_segment_last_while_the_writer_seals() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), opts(1 << 20)).unwrap();
    let reader = log.reader().clone();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let watchers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut looks = 0u64;
                    while !done.load(std::sync::atomic::Ordering::Acquire) {
                        let segments = reader.segments();
                        let active: Vec<_> = segments.iter().filter(|s| s.active).collect();
                        assert_eq!(active.len(), 1, "{segments:?}");
                        assert_eq!(segments.last().map(|s| s.id), Some(active[0].id));
                        let sealed = reader.sealed_segments();
                        assert!(sealed.iter().all(|s| !s.active));
                        looks += 1;
                    }
                    looks
                })
            })
            .collect();
        for i in 0..300u64 {
            log.append(&[owned(i + 1, 8).record()]).unwrap();
            log.seal().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        for watcher in watchers {
            assert!(watcher.join().unwrap() > 0);
        }
    });
    assert_eq!(log.reader().sealed_segments().len(), 300);
}

/// A `ReadSnapshot` reads every location handed out before it was taken exactly as
/// `read_with` does, across segments and back again; a location appended to the active
/// segment after it (the segment grew) reads too, one in a segment sealed in after it is
/// `NO_SUCH_SEGMENT`, and one the log never handed out is refused.
#[test]
fn a_read_snapshot_reads_what_read_with_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), opts(4096)).unwrap();
    let mut model = Model::default();
    for b in 0..20u64 {
        let batch: Vec<_> = (0..5).map(|i| owned(b * 5 + i + 1, 150)).collect();
        model.append(&mut log, &batch);
    }
    // A fresh active segment with room left, so that the append below grows it.
    log.seal().unwrap();
    model.append(&mut log, &[owned(499, 10)]);
    assert!(log.reader().segments().len() >= 3);
    let reader = log.reader().clone();
    let mut snapshot = reader.snapshot();
    // In order, then jumping between segments (the kept map changes each time).
    let order = model
        .entries
        .iter()
        .chain(model.entries.iter().rev().step_by(3));
    for (loc, rec) in order {
        let (header, payload) = snapshot.read_with(*loc, |h, p| (*h, p.to_vec())).unwrap();
        assert_eq!(header, rec.header());
        assert_eq!(payload, rec.payload);
        let direct = reader.read_with(*loc, |h, p| (*h, p.to_vec())).unwrap();
        assert_eq!((header, payload), direct);
    }
    // The active segment grows after the snapshot: its new frames read.
    let grown = model.append(&mut log, &[owned(500, 10)]);
    assert_eq!(
        grown[0].segment,
        model.entries[model.entries.len() - 2].0.segment
    );
    let read = snapshot.read_with(grown[0], |_, p| p.to_vec()).unwrap();
    assert_eq!(read, model.entries.last().unwrap().1.payload);
    // A segment sealed in after the snapshot is not in its table.
    log.seal().unwrap();
    let later = model.append(&mut log, &[owned(501, 10)]);
    match snapshot.read_with(later[0], |_, _| ()) {
        Err(StorageError::BadLocation { reason, .. }) => {
            assert_eq!(reason, nyro_storage::NO_SUCH_SEGMENT)
        }
        other => panic!("{other:?}"),
    }
    assert!(reader.snapshot().read_with(later[0], |_, _| ()).is_ok());
    // Locations never handed out are refused, as read_with refuses them.
    let first = model.entries[0].0;
    for bad in [
        Location {
            len: first.len + 1,
            ..first
        },
        Location {
            offset: first.offset + 1,
            ..first
        },
        Location {
            offset: u64::MAX - 2,
            ..first
        },
    ] {
        assert!(matches!(
            snapshot.read_with(bad, |_, _| ()),
            Err(StorageError::BadLocation { .. })
        ));
    }
    model.check(log.reader());
}
