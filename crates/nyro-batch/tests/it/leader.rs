//! The leader path: a caller that finds the writer idle writes its own batch on its own
//! thread (checked through the thread the test applier ran on, never through timing);
//! failures, poison, panics, cancellation and close while a caller leads.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use nyro_batch::{SyncPolicy, WriteError};
use nyro_storage::WriteFault;

use crate::common::*;

/// Submits `req` from a new plain thread driving it with `Handle::block_on` (as the
/// embedded benchmark does); returns that thread's identity and the answer.
async fn submit_from_thread(
    handle: &nyro_batch::WriterHandle<KvApplier>,
    req: Req,
    sync: bool,
) -> (Preparer, Answer) {
    let handle = handle.clone();
    let runtime = tokio::runtime::Handle::current();
    let thread = std::thread::spawn(move || {
        let answer = runtime.block_on(handle.submit_req(req, sync));
        (Preparer::current(), answer)
    });
    wait_until("the submitting thread ends", || thread.is_finished()).await;
    thread.join().unwrap()
}

/// Polls `future` once by hand: it must be queued behind a leader, not answered.
fn queue<F: Future + Unpin>(future: &mut F) {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(
        Pin::new(future).poll(&mut cx).is_pending(),
        "answered before the writer saw it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_write_is_written_by_its_callers_own_thread() {
    for policy in [
        SyncPolicy::Never,
        SyncPolicy::Interval(Duration::from_secs(1)),
    ] {
        let h = start(config(policy));
        let m = h.handle.metrics();
        let (caller, answer) = submit_from_thread(&h.handle, Req::put(1, b"one"), false).await;
        assert_eq!(answer.unwrap(), 1);
        assert!(matches!(caller, Preparer::Caller(_)));
        assert_eq!(h.probe.preparer(1), Some(caller), "under {policy:?}");
        assert_eq!(load(&m.caller_batches), 1);
        assert_eq!(load(&m.batches), 1);
        assert_eq!(load(&m.fsyncs), 0, "a caller never fdatasyncs");

        // A write that asks for an fdatasync is handed to the writer thread.
        let (caller, answer) = submit_from_thread(&h.handle, Req::put(2, b"two"), true).await;
        assert_eq!(answer.unwrap(), 2);
        assert_ne!(h.probe.preparer(2), Some(caller));
        assert_eq!(h.probe.preparer(2), Some(Preparer::WriterThread));
        assert_eq!(load(&m.caller_batches), 1);
        assert_eq!(load(&m.batches), 2);
        assert_eq!(load(&m.fsyncs), 1);

        // The writer is idle again: the next plain write is its caller's.
        let (caller, answer) = submit_from_thread(&h.handle, Req::put(3, b"three"), false).await;
        assert_eq!(answer.unwrap(), 3);
        assert_eq!(h.probe.preparer(3), Some(caller));
        assert_eq!(load(&m.caller_batches), 2);
        assert_eq!(
            log_records(&h.reader),
            vec![
                (1, 1, b"one".to_vec()),
                (2, 2, b"two".to_vec()),
                (3, 3, b"three".to_vec())
            ]
        );
    }

    // Under Always every batch is fdatasync'ed: the writer thread writes them all.
    let h = start(config(SyncPolicy::Always));
    let (_, answer) = submit_from_thread(&h.handle, Req::put(1, b"one"), false).await;
    assert_eq!(answer.unwrap(), 1);
    assert_eq!(h.probe.preparer(1), Some(Preparer::WriterThread));
    assert_eq!(load(&h.handle.metrics().caller_batches), 0);
}

#[tokio::test] // a current-thread runtime
async fn a_caller_on_a_current_thread_runtime_leads_without_awaiting() {
    let h = start(config(SyncPolicy::Never));
    // The whole write happens in the submit future's first poll: it is ready at once.
    let mut future = Box::pin(h.handle.submit_req(Req::put(1, b"one"), false));
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(answer) => assert_eq!(answer.unwrap(), 1),
        Poll::Pending => panic!("a lone plain write waited for someone"),
    }
    assert_eq!(
        h.probe.preparer(1),
        Some(Preparer::Caller(std::thread::current().id()))
    );
    // A durable write does not block this runtime's only thread on an fdatasync.
    assert_eq!(h.write(Req::put(2, b"two"), true).await.unwrap(), 2);
    assert_eq!(h.probe.preparer(2), Some(Preparer::WriterThread));
    assert_eq!(load(&h.handle.metrics().fsyncs), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leading_caller_takes_what_queues_meanwhile_into_its_batch() {
    let h = start(config(SyncPolicy::Never));
    let answers = submit_one_batch(
        &h,
        vec![Req::put(1, b"a"), Req::put(2, b"b"), Req::insert(1, b"c")],
    )
    .await;
    assert_eq!(answers[0].as_ref().unwrap(), &1);
    assert_eq!(answers[1].as_ref().unwrap(), &2);
    assert!(matches!(
        answers[2],
        Err(WriteError::Rejected(Rejection::Exists(1)))
    ));
    let m = h.handle.metrics();
    assert_eq!((load(&m.batches), load(&m.caller_batches)), (1, 1));
    let leader = h.probe.preparer(1).unwrap();
    assert!(matches!(leader, Preparer::Caller(_)));
    assert_eq!(
        h.probe.preparer(2),
        Some(leader),
        "followers are its caller's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_led_by_a_caller_fails_exactly_its_requests() {
    let h = start(config(SyncPolicy::Never));
    h.write(Req::put(1, b"one"), false).await.unwrap();
    let size = segment_size(&h.reader);
    h.io.fail_writes(WriteFault::ShortThenFail {
        bytes: 30,
        kind: io::ErrorKind::StorageFull,
    });
    let answers = submit_one_batch(&h, vec![Req::put(2, b"two"), Req::put(3, b"three")]).await;
    for answer in &answers {
        assert!(matches!(answer, Err(WriteError::Failed(_))), "{answer:?}");
    }
    let m = h.handle.metrics();
    assert_eq!(load(&m.failed_batches), 1);
    assert_eq!(load(&m.caller_batches), 2);
    assert_eq!(load(&h.probe.failed_batches), 1);
    assert_eq!(
        segment_size(&h.reader),
        size,
        "partial bytes left in the log"
    );
    assert_eq!(h.probe.map(), replay(&[(1, 1, b"one".to_vec())]));
    assert!(h.handle.poisoned().is_none());

    h.io.clear();
    let (caller, answer) = submit_from_thread(&h.handle, Req::put(2, b"two"), false).await;
    assert_eq!(answer.unwrap(), 2, "the failed batch gave its seqs back");
    assert_eq!(h.probe.preparer(2), Some(caller));
    within("close", h.handle.close()).await.unwrap();
    drop(h.reader);
    let log = reopen(h.dir.path()).await;
    assert_eq!(log.recovery().torn_tail, None);
    assert_eq!(
        log_records(log.reader()),
        vec![(1, 1, b"one".to_vec()), (2, 2, b"two".to_vec())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fdatasync_poisons_and_callers_stop_leading() {
    let h = start(config(SyncPolicy::Never));
    h.write(Req::put(1, b"one"), false).await.unwrap();
    h.io.fail_syncs(io::ErrorKind::Other);
    // A caller's batch is not fdatasync'ed: it still succeeds.
    h.write(Req::put(2, b"two"), false).await.unwrap();
    assert_eq!(load(&h.handle.metrics().caller_batches), 2);
    let flushed = within("flush", h.handle.flush()).await;
    assert!(
        matches!(&flushed, Err(WriteError::Poisoned { reason }) if reason.contains("fdatasync")),
        "{flushed:?}"
    );
    h.io.clear();
    let prepares = load(&h.probe.prepares);
    let writes = h.io.writes();
    for sync in [false, true] {
        let (_, answer) = submit_from_thread(&h.handle, Req::put(3, b"three"), sync).await;
        assert!(
            matches!(answer, Err(WriteError::Poisoned { .. })),
            "{answer:?}"
        );
    }
    assert_eq!(load(&h.probe.prepares), prepares, "nobody led after poison");
    assert_eq!(h.io.writes(), writes);
    assert_eq!(load(&h.handle.metrics().caller_batches), 2);
    assert!(matches!(
        within("close", h.handle.close()).await,
        Err(WriteError::Poisoned { .. })
    ));
    assert!(h.thread.join());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_callers_batch_poisons_and_answers_everyone() {
    let h = start(config(SyncPolicy::Never));
    h.write(Req::put(0, b"zero"), false).await.unwrap();
    h.probe.gate.close();
    let leader = submit_on_thread(&h.handle, Req::put(1, b"one"), false);
    wait_until("the caller leads", || h.probe.gate.waiting() == 1).await;
    let mut doomed = Box::pin(h.handle.submit_req(Req::put(PANIC_KEY, b"x"), false));
    queue(&mut doomed);
    let mut behind = Box::pin(h.handle.submit_req(Req::put(2, b"two"), false));
    queue(&mut behind);
    h.probe.gate.open();
    // The caller's task does not panic: its own request, the one that panicked and the one
    // still queued are all answered.
    let answer = within("the leader", leader).await.unwrap();
    assert!(matches!(answer, Err(WriteError::Closed)), "{answer:?}");
    for answer in [
        within("doomed", doomed).await,
        within("behind", behind).await,
    ] {
        assert!(matches!(answer, Err(WriteError::Closed)), "{answer:?}");
    }
    assert_eq!(h.handle.poisoned(), Some("the writer thread panicked"));
    assert_eq!(h.handle.queued(), 0);
    let error = h.write(Req::put(3, b"three"), false).await.unwrap_err();
    assert!(matches!(error, WriteError::Poisoned { .. }), "{error:?}");
    assert!(matches!(
        within("close", h.handle.close()).await,
        Err(WriteError::Closed)
    ));
    wait_until("the writer thread ends", || h.thread.is_finished()).await;
    assert!(
        !h.thread.join(),
        "joining the writer thread reports the panic"
    );
    drop(h.reader);
    let log = reopen(h.dir.path()).await;
    assert_eq!(log_records(log.reader()), vec![(1, 0, b"zero".to_vec())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_submit_future_never_wedges_the_writer() {
    let h = start(config(SyncPolicy::Never));
    // Dropped before its first poll: never queued, never written.
    drop(h.handle.submit_req(Req::put(9, b"never"), false));
    h.probe.gate.close();
    let leader = submit_on_thread(&h.handle, Req::put(1, b"one"), false);
    wait_until("the caller leads", || h.probe.gate.waiting() == 1).await;
    // Queued, then its caller stops waiting: it is written all the same (its answer is
    // dropped), as a queued request always was.
    let mut cancelled = Box::pin(h.handle.submit_req(Req::put(2, b"two"), false));
    queue(&mut cancelled);
    drop(cancelled);
    let mut kept = Box::pin(h.handle.submit_req(Req::put(3, b"three"), false));
    queue(&mut kept);
    h.probe.gate.open();
    assert_eq!(within("the leader", leader).await.unwrap().unwrap(), 1);
    assert_eq!(within("kept", kept).await.unwrap(), 3);
    assert_eq!(h.handle.queued(), 0);
    let keys: Vec<u64> = log_records(&h.reader).iter().map(|r| r.1).collect();
    assert_eq!(keys, [1, 2, 3]);
    // The writer is idle again and the next caller leads.
    let (caller, answer) = submit_from_thread(&h.handle, Req::put(4, b"four"), false).await;
    assert_eq!(answer.unwrap(), 4);
    assert_eq!(h.probe.preparer(4), Some(caller));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_while_a_caller_leads_writes_what_came_before_it() {
    let h = start(config(SyncPolicy::Never));
    h.probe.gate.close();
    let leader = submit_on_thread(&h.handle, Req::put(1, b"one"), false);
    wait_until("the caller leads", || h.probe.gate.waiting() == 1).await;
    let mut before = Box::pin(h.handle.submit_req(Req::put(2, b"two"), false));
    queue(&mut before);
    let mut close = Box::pin(h.handle.close());
    queue(&mut close);
    let mut after = Box::pin(h.handle.submit_req(Req::put(3, b"three"), false));
    queue(&mut after);
    h.probe.gate.open();
    assert_eq!(within("the leader", leader).await.unwrap().unwrap(), 1);
    assert_eq!(within("before close", before).await.unwrap(), 2);
    within("close", close).await.unwrap();
    let late = within("after close", after).await;
    assert!(matches!(late, Err(WriteError::Closed)), "{late:?}");
    assert_eq!(h.handle.queued(), 0);
    let late = h.write(Req::put(4, b"four"), false).await;
    assert!(matches!(late, Err(WriteError::Closed)), "{late:?}");
    assert_eq!(load(&h.handle.metrics().fsyncs), 1, "close fdatasyncs");
    assert!(h.thread.join());
    drop(h.reader);
    let log = reopen(h.dir.path()).await;
    assert_eq!(
        log_records(log.reader()),
        vec![(1, 1, b"one".to_vec()), (2, 2, b"two".to_vec())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_contention_a_leader_yields_once_for_company_and_a_dropped_one_hands_over() {
    let h = start(config(SyncPolicy::Never));
    // A batch with a follower: callers arrive together.
    let answers = submit_one_batch(&h, vec![Req::put(1, b"a"), Req::put(2, b"b")]).await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    let m = h.handle.metrics();
    assert_eq!(load(&m.batches), 1);

    // So the next caller that finds the writer idle leads, but yields once first: a
    // request submitted meanwhile joins its batch.
    let mut leader = Box::pin(h.handle.submit_req(Req::put(3, b"c"), false));
    queue(&mut leader);
    let mut follower = Box::pin(h.handle.submit_req(Req::put(4, b"d"), false));
    queue(&mut follower);
    assert_eq!(within("the leader", leader).await.unwrap(), 3);
    assert_eq!(within("the follower", follower).await.unwrap(), 4);
    assert_eq!(load(&m.batches), 2, "the two shared one batch");
    let (three, four) = (h.probe.preparer(3).unwrap(), h.probe.preparer(4).unwrap());
    assert!(matches!(three, Preparer::Caller(_)), "{three:?}");
    assert_eq!(three, four, "the follower was written by the leader");

    // A caller dropped at that yield never wrote: its request goes to the writer thread.
    let mut dropped = Box::pin(h.handle.submit_req(Req::put(5, b"e"), false));
    queue(&mut dropped);
    drop(dropped);
    wait_until("the thread writes it", || h.probe.get(5).is_some()).await;
    assert_eq!(h.probe.preparer(5), Some(Preparer::WriterThread));
    assert_eq!(h.handle.queued(), 0);

    // The next caller still yields, then writes alone: callers no longer arrive together,
    // and the one after it writes at once, within its first poll.
    let mut yields = Box::pin(h.handle.submit_req(Req::put(6, b"f"), false));
    queue(&mut yields);
    assert_eq!(within("a lone write", yields).await.unwrap(), 6);
    let mut alone = Box::pin(h.handle.submit_req(Req::put(7, b"g"), false));
    let mut cx = Context::from_waker(Waker::noop());
    match alone.as_mut().poll(&mut cx) {
        Poll::Ready(answer) => assert_eq!(answer.unwrap(), 7),
        Poll::Pending => panic!("a lone caller yielded although nobody came along"),
    }
    let keys: Vec<u64> = log_records(&h.reader).iter().map(|r| r.1).collect();
    assert_eq!(keys, [1, 2, 3, 4, 5, 6, 7]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_hands_the_sealing_of_a_full_segment_to_the_thread() {
    let h = start_with_segments(config(SyncPolicy::Never), 4096);
    let m = h.handle.metrics();
    // A caller's write fills the segment past its size.
    let (caller, answer) = submit_from_thread(&h.handle, Req::put(1, &[7; 5000]), false).await;
    assert_eq!(answer.unwrap(), 1);
    assert!(matches!(caller, Preparer::Caller(_)));
    assert_eq!(h.reader.segments().len(), 1);
    assert_eq!(load(&m.fsyncs), 0);

    // The next append must seal it first (an fdatasync): the thread writes that batch.
    let (_, answer) = submit_from_thread(&h.handle, Req::put(2, b"two"), false).await;
    assert_eq!(answer.unwrap(), 2);
    assert_eq!(h.probe.preparer(2), Some(Preparer::WriterThread));
    assert_eq!(h.reader.segments().len(), 2, "the full segment was sealed");
    assert_eq!(load(&m.caller_batches), 1);

    // With room in the new segment, callers lead again.
    let (caller, answer) = submit_from_thread(&h.handle, Req::put(3, b"three"), false).await;
    assert_eq!(answer.unwrap(), 3);
    assert_eq!(h.probe.preparer(3), Some(caller));
    assert!(matches!(caller, Preparer::Caller(_)));
}
