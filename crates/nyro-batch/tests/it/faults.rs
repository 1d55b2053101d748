//! Injected I/O faults: failed writes fail exactly their batch and are survivable; a failed
//! fdatasync poisons the writer for good; a segment roll that cannot create its file fails
//! only its request, one whose directory fsync fails poisons the writer.

use std::io;
use std::time::Duration;

use nyro_batch::{SyncPolicy, WriteError};
use nyro_storage::{Effect, Fault, StorageError, WriteFault};

use crate::common::*;

fn assert_failed_with(answer: &Answer, kind: io::ErrorKind) {
    match answer {
        Err(WriteError::Failed(error)) => match &**error {
            StorageError::WriteFailed { source, .. } => assert_eq!(source.kind(), kind),
            other => panic!("expected WriteFailed, got {other}"),
        },
        other => panic!("expected WriteError::Failed, got {other:?}"),
    }
}

/// Asserts that `result` is a poisoned writer's refusal.
fn assert_poisoned<T: std::fmt::Debug>(result: Result<T, WriteError<Rejection>>) {
    assert!(
        matches!(result, Err(WriteError::Poisoned { .. })),
        "{result:?}"
    );
}

/// Checks that a failed batch changed nothing: no bytes in the log, nothing visible, the
/// applier's seq counter back where it was.
fn assert_untouched(h: &Harness, size: (u64, u64), records: &[(u64, u64, Vec<u8>)]) {
    assert_eq!(
        segment_size(&h.reader),
        size,
        "partial bytes left in the log"
    );
    assert_eq!(log_records(&h.reader), records);
    assert_eq!(
        h.probe.map(),
        replay(records),
        "a failed request became visible"
    );
    assert_eq!(
        load(&h.probe.seq),
        records.last().map_or(0, |r| r.0),
        "the seq counter was not rolled back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_fails_its_batch_and_later_writes_succeed() {
    let h = start(config(SyncPolicy::Always));
    h.write(Req::put(1, b"one"), false).await.unwrap();
    let size = segment_size(&h.reader);
    assert_eq!(size.0, size.1);
    let mut records = log_records(&h.reader);

    // Disk full: every request of the batch fails, and nothing of it is kept.
    h.io.fail_writes(WriteFault::Fail(io::ErrorKind::StorageFull));
    let answers = submit_one_batch(
        &h,
        vec![
            Req::put(2, b"two"),
            Req::insert(1, b"rejected, not failed"),
            Req::bulk(&[(3, b"three"), (4, b"four")], true),
            Req::put(1, b"uno"),
        ],
    )
    .await;
    assert_failed_with(&answers[0], io::ErrorKind::StorageFull);
    assert!(matches!(
        answers[1],
        Err(WriteError::Rejected(Rejection::Exists(1)))
    ));
    assert_failed_with(&answers[2], io::ErrorKind::StorageFull);
    assert_failed_with(&answers[3], io::ErrorKind::StorageFull);
    let Err(failed) = &answers[0] else {
        unreachable!()
    };
    assert!(
        failed
            .to_string()
            .contains("nothing of this batch was kept"),
        "{failed}"
    );
    let m = h.handle.metrics();
    assert_eq!(load(&m.failed_batches), 1);
    assert_eq!(load(&m.batches), 1);
    assert_eq!(
        load(&h.probe.failed_batches),
        1,
        "end_batch(false) was not called"
    );
    assert_untouched(&h, size, &records);
    assert!(
        h.handle.poisoned().is_none(),
        "a failed write must not poison"
    );

    // The cause is gone: writes succeed again, with the seqs the failed batch gave back.
    h.io.clear();
    let seq = h.write(Req::put(2, b"two"), false).await.unwrap();
    assert_eq!(seq, 2);
    records.push((2, 2, b"two".to_vec()));
    assert_eq!(log_records(&h.reader), records);
    let size = segment_size(&h.reader);
    assert_eq!(size.0, size.1);

    // A disk that fills up mid-write: the short write's bytes are cut back.
    let writes = h.io.writes();
    h.io.fail_writes(WriteFault::ShortThenFail {
        bytes: 40,
        kind: io::ErrorKind::Other,
    });
    let answer = h
        .write(Req::bulk(&[(5, b"five"), (6, b"six")], false), true)
        .await;
    assert_failed_with(&answer, io::ErrorKind::Other);
    assert_eq!(h.io.writes(), writes + 1, "the short write did not happen");
    assert_untouched(&h, size, &records);
    // Still failing until cleared.
    let answer = h.write(Req::put(5, b"five"), false).await;
    assert_failed_with(&answer, io::ErrorKind::Other);
    assert_untouched(&h, size, &records);
    assert_eq!(load(&m.failed_batches), 3);
    assert_eq!(load(&h.probe.failed_batches), 3);

    h.io.clear();
    let seq = h.write(Req::put(5, b"five"), false).await.unwrap();
    assert_eq!(seq, 3);
    records.push((3, 5, b"five".to_vec()));
    assert_eq!(log_records(&h.reader), records);
    assert_eq!(h.probe.map(), replay(&records));

    // And the log on disk is intact: it reopens without a torn tail.
    within("close", h.handle.close()).await.unwrap();
    drop(h.reader);
    let log = reopen(h.dir.path()).await;
    assert_eq!(log.recovery().torn_tail, None);
    assert_eq!(log_records(log.reader()), records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fdatasync_poisons_the_writer() {
    let h = start(config(SyncPolicy::Always));
    h.write(Req::put(1, b"one"), false).await.unwrap();
    h.io.fail_syncs(io::ErrorKind::Other);
    let answers = submit_one_batch(&h, vec![Req::put(2, b"two"), Req::put(3, b"three")]).await;
    for answer in &answers {
        match answer {
            Err(e @ WriteError::Poisoned { reason }) => {
                assert!(reason.contains("fdatasync"), "{reason}");
                let shown = e.to_string();
                assert!(
                    shown.contains("writes are refused until restart"),
                    "{shown}"
                );
            }
            other => panic!("expected Poisoned, got {other:?}"),
        }
    }
    // Not acknowledged, so not visible; the applier forgot the batch.
    assert_eq!(h.probe.map(), replay(&[(1, 1, b"one".to_vec())]));
    assert_eq!(load(&h.probe.failed_batches), 1);
    assert_eq!(load(&h.probe.seq), 1);
    let reason = h
        .handle
        .poisoned()
        .expect("the handle reports the poisoning");
    assert!(reason.contains("fdatasync"), "{reason}");

    // Refused for good, at once, even when the cause is gone: nothing reaches the writer.
    h.io.clear();
    let prepares = load(&h.probe.prepares);
    let writes = h.io.writes();
    for sync in [false, true] {
        let answer = tokio::time::timeout(
            Duration::from_millis(500),
            h.handle.submit_req(Req::put(4, b"four"), sync),
        )
        .await
        .expect("a poisoned writer must refuse at once");
        let error = answer.unwrap_err();
        assert!(matches!(error, WriteError::Poisoned { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("writes are refused until restart"),
            "{error}"
        );
    }
    assert_eq!(load(&h.probe.prepares), prepares);
    assert_eq!(h.io.writes(), writes);
    assert_poisoned(within("flush", h.handle.flush()).await);
    assert_poisoned(within("close", h.handle.close()).await);
    assert_poisoned(h.write(Req::put(5, b"five"), false).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_background_fdatasync_poisons_without_wedging_the_writer() {
    let h = start(config(SyncPolicy::Interval(Duration::from_millis(20))));
    h.io.fail_syncs(io::ErrorKind::Other);
    // Interval answers after the write, before the (failing) fdatasync.
    h.write(Req::put(1, b"one"), false).await.unwrap();
    wait_until("the interval fdatasync fails", || {
        h.handle.poisoned().is_some()
    })
    .await;
    assert_poisoned(h.write(Req::put(2, b"two"), false).await);
    // The writer thread must still take messages (it used to spin on its passed deadline,
    // retrying the fdatasync of a poisoned log forever, so flush and close never returned).
    assert_poisoned(within("flush", h.handle.flush()).await);
    assert_poisoned(within("close", h.handle.close()).await);
    assert_eq!(load(&h.handle.metrics().fsyncs), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_applier_stops_the_writer_with_a_reason() {
    let h = start(config(SyncPolicy::Always));
    h.write(Req::put(1, b"one"), false).await.unwrap();
    // The request in hand when the writer thread died is answered, not left hanging.
    let answer = within(
        "the doomed request",
        h.handle.submit_req(Req::put(PANIC_KEY, b"x"), false),
    )
    .await;
    assert!(matches!(answer, Err(WriteError::Closed)), "{answer:?}");
    wait_until("the writer reports its panic", || {
        h.handle.poisoned().is_some()
    })
    .await;
    assert_eq!(h.handle.poisoned(), Some("the writer thread panicked"));
    let error = h.write(Req::put(2, b"two"), false).await.unwrap_err();
    assert!(matches!(error, WriteError::Poisoned { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "writes are refused until restart: the writer thread panicked; reads go on"
    );
    assert!(matches!(
        within("close", h.handle.close()).await,
        Err(WriteError::Closed)
    ));
    assert!(
        !h.thread.join(),
        "joining the writer thread reports its panic"
    );
    // The dead writer let go of the log; what it acknowledged is there.
    drop(h.reader);
    let log = reopen(h.dir.path()).await;
    assert_eq!(log_records(log.reader()), vec![(1, 1, b"one".to_vec())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_segment_roll_fails_its_request_and_poisons_only_if_not_durable() {
    let h = start(config(SyncPolicy::Always));
    h.write(Req::put(1, b"one"), false).await.unwrap();
    let mut records = log_records(&h.reader);

    // The next segment's file cannot be created: the seal fails, nothing else does.
    h.io.inject(
        Fault::new(Effect::Create, io::ErrorKind::StorageFull)
            .on("segment-")
            .times(1),
    );
    let error = within("seal", h.handle.seal()).await.unwrap_err();
    assert!(
        matches!(&error, WriteError::Failed(e) if matches!(**e, StorageError::Io { op: "create segment", .. })),
        "{error:?}"
    );
    assert!(h.handle.poisoned().is_none());
    assert_eq!(h.reader.segments().len(), 1);
    h.write(Req::put(2, b"two"), false).await.unwrap();
    records.push((2, 2, b"two".to_vec()));
    within("seal", h.handle.seal()).await.unwrap();
    assert_eq!(h.reader.segments().len(), 2);
    h.write(Req::put(3, b"three"), false).await.unwrap();
    records.push((3, 3, b"three".to_vec()));

    // The directory fsync after creating the next segment fails: its name may not survive a
    // power cut, so the writer stops taking writes.
    h.io.inject(Fault::new(Effect::SyncDir, io::ErrorKind::Other));
    let error = within("seal", h.handle.seal()).await.unwrap_err();
    match &error {
        WriteError::Poisoned { reason } => {
            assert!(reason.contains("fsync of directory"), "{reason}")
        }
        other => panic!("expected Poisoned, got {other:?}"),
    }
    h.io.clear();
    assert_poisoned(h.write(Req::put(4, b"four"), false).await);
    // Reads go on, and see exactly what was acknowledged.
    assert_eq!(h.reader.segments().len(), 2, "no half-made segment");
    assert_eq!(log_records(&h.reader), records);
    assert_eq!(h.probe.map(), replay(&records));
    assert_poisoned(within("close", h.handle.close()).await);
    drop(h.reader);
    let log = reopen(h.dir.path()).await;
    assert_eq!(log_records(log.reader()), records);
}
