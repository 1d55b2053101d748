//! One request at a time: latency of a lone request and the three sync policies.

use std::time::{Duration, Instant};

use nyro_batch::SyncPolicy;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lone_request_on_idle_writer_is_answered_at_once() {
    // The default policy (Interval of 1 s) must not delay the answer: an idle writer writes
    // a lone request at once, without waiting for company.
    let h = start(nyro_batch::BatchConfig::default());
    let started = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(2),
        h.handle.submit_req(Req::put(1, b"one"), false),
    )
    .await
    .expect("a lone request must be answered well within 2 s");
    assert_eq!(answer.unwrap(), 1);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(h.probe.get(1).as_deref(), Some(&b"one"[..]));

    let m = h.handle.metrics();
    assert_eq!(load(&m.batches), 1);
    assert_eq!(load(&m.records), 1);
    assert_eq!(load(&m.failed_batches), 0);
    assert_eq!(m.batch_records.count(), 1);
    assert_eq!(m.batch_records.sum(), 1);
    assert_eq!(m.batch_records.cumulative()[0], (Some(1), 1));
    assert_eq!(log_records(&h.reader), vec![(1, 1, b"one".to_vec())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_policy_syncs_only_on_request() {
    let h = start(config(SyncPolicy::Never));
    let m = h.handle.metrics();
    for key in 0..5 {
        within("a write", h.handle.submit_req(Req::put(key, b"v"), false))
            .await
            .unwrap();
    }
    assert_eq!(load(&m.batches), 5);
    assert_eq!(load(&m.fsyncs), 0, "Never must not fdatasync on its own");
    assert_eq!(m.fsync_micros.count(), 0);

    // A request that asks for sync is answered only after its fdatasync.
    within(
        "a synced write",
        h.handle.submit_req(Req::put(5, b"v"), true),
    )
    .await
    .unwrap();
    assert_eq!(
        load(&m.fsyncs),
        1,
        "the sync=true request's fdatasync came first"
    );
    assert_eq!(m.fsync_micros.count(), 1);

    // Nothing new: flush has nothing to sync and counts no fdatasync.
    within("flush", h.handle.flush()).await.unwrap();
    assert_eq!(load(&m.fsyncs), 1);
    within("a write", h.handle.submit_req(Req::put(6, b"v"), false))
        .await
        .unwrap();
    assert_eq!(load(&m.fsyncs), 1);
    within("flush", h.handle.flush()).await.unwrap();
    assert_eq!(load(&m.fsyncs), 2, "flush fdatasyncs what was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_policy_syncs_in_the_background() {
    let h = start(config(SyncPolicy::Interval(Duration::from_millis(50))));
    let m = h.handle.metrics();
    within("a write", h.handle.submit_req(Req::put(1, b"v"), false))
        .await
        .unwrap();
    assert_eq!(load(&m.fsyncs), 0, "Interval answers before the fdatasync");
    assert_eq!(
        h.io.syncs(),
        1,
        "only the new segment's header was synced so far"
    );
    for key in 2..5 {
        within("a write", h.handle.submit_req(Req::put(key, b"v"), false))
            .await
            .unwrap();
    }
    let started = Instant::now();
    while load(&m.fsyncs) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "no background fdatasync within 1 s of the writes"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Everything written is synced by one more interval at most; an idle writer then
    // stops syncing (nothing is new).
    tokio::time::sleep(Duration::from_millis(150)).await;
    let settled = load(&m.fsyncs);
    assert!(
        (1..=4).contains(&settled),
        "{settled} fdatasyncs for 4 writes"
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        load(&m.fsyncs),
        settled,
        "an idle writer keeps fdatasyncing"
    );
    assert_eq!(load(&m.batches), 4);
}
