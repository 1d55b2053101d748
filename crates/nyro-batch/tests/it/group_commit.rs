//! Many concurrent callers: batching, ordering, read-your-writes, and rejections that stay
//! inside their own request.

use std::collections::BTreeSet;
use std::time::Duration;

use nyro_batch::{SyncPolicy, WriteError};

use crate::common::*;

const TASKS: u64 = 64;
const PER_TASK: u64 = 200;

fn key(task: u64, i: u64) -> u64 {
    task * 1_000 + i
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_are_group_committed_in_order() {
    let h = start(config(SyncPolicy::Always));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let handle = h.handle.clone();
        let probe = std::sync::Arc::clone(&h.probe);
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..PER_TASK {
                let k = key(task, i);
                let value = k.to_le_bytes();
                let seq = handle
                    .submit_req(Req::insert(k, &value), false)
                    .await
                    .unwrap();
                // Read your writes: visible as soon as it is answered.
                assert_eq!(probe.get(k).as_deref(), Some(&value[..]), "key {k}");
                seqs.push(seq);
            }
            seqs
        }));
    }
    let mut answered = Vec::new();
    for task in tasks {
        let seqs = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("64 x 200 writes under Always took over a minute")
            .unwrap();
        // One caller's writes are committed in the order it made them.
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        answered.extend(seqs);
    }
    let total = (TASKS * PER_TASK) as usize;
    assert_eq!(answered.len(), total);
    let distinct: BTreeSet<u64> = answered.iter().copied().collect();
    assert_eq!(distinct.len(), total, "seqs handed out twice");

    let commits = h.probe.commits.lock().unwrap().clone();
    assert_eq!(commits.len(), total);
    assert!(
        commits.windows(2).all(|w| w[0] < w[1]),
        "seqs not increasing in commit order"
    );
    assert_eq!(commits.iter().copied().collect::<BTreeSet<_>>(), distinct);

    let records = log_records(&h.reader);
    assert_eq!(records.len(), total);
    assert!(
        records.windows(2).all(|w| w[0].0 < w[1].0),
        "seqs not increasing in log order"
    );
    assert_eq!(
        records.iter().map(|r| r.0).collect::<BTreeSet<_>>(),
        distinct
    );
    assert_eq!(replay(&records), h.probe.map());

    let m = h.handle.metrics();
    let batches = load(&m.batches);
    assert_eq!(load(&m.records), total as u64);
    assert!(batches < total as u64, "no batching: {batches} batches");
    assert!(
        load(&m.fsyncs) >= batches,
        "{} fdatasyncs for {batches} batches under Always",
        load(&m.fsyncs)
    );
    assert_eq!(m.batch_records.count(), batches);
    assert_eq!(m.batch_records.sum(), total as u64);
    assert_eq!(load(&h.probe.written_batches), batches);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_request_does_not_fail_its_batch() {
    let h = start(config(SyncPolicy::Always));
    within("a write", h.handle.submit_req(Req::put(1, b"old"), false))
        .await
        .unwrap();
    let answers = submit_one_batch(
        &h,
        vec![
            Req::insert(10, b"a"),
            Req::insert(1, b"exists in the state"),
            Req::insert(10, b"exists earlier in this batch"),
            Req::put(11, b"b"),
            Req::bulk(&[(12, b"c"), (11, b"taken by an earlier request")], true),
            Req::bulk(&[(13, b"d"), (13, b"twice in one request")], true),
            Req::insert(12, b"the failed bulk left no trace"),
            Req::put(1, b"new"),
        ],
    )
    .await;
    let m = h.handle.metrics();
    assert_eq!(
        load(&m.batches),
        2,
        "the eight requests must share one batch"
    );
    let outcome: Vec<Result<u64, Rejection>> = answers
        .into_iter()
        .map(|a| match a {
            Ok(seq) => Ok(seq),
            Err(WriteError::Rejected(r)) => Err(r),
            Err(other) => panic!("unexpected {other}"),
        })
        .collect();
    assert_eq!(
        outcome,
        vec![
            Ok(2),
            Err(Rejection::Exists(1)),
            Err(Rejection::Exists(10)),
            Ok(3),
            Err(Rejection::Exists(11)),
            Err(Rejection::Exists(13)),
            Ok(4),
            Ok(5),
        ]
    );
    let records = log_records(&h.reader);
    assert_eq!(
        records,
        vec![
            (1, 1, b"old".to_vec()),
            (2, 10, b"a".to_vec()),
            (3, 11, b"b".to_vec()),
            (4, 12, b"the failed bulk left no trace".to_vec()),
            (5, 1, b"new".to_vec()),
        ],
        "a rejected request's records must not reach the log"
    );
    assert_eq!(replay(&records), h.probe.map());
    assert_eq!(load(&h.probe.failed_batches), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stops_taking_requests_at_batch_size() {
    let h = start(nyro_batch::BatchConfig {
        batch_size: 4,
        sync: SyncPolicy::Never,
        ..nyro_batch::BatchConfig::default()
    });
    let m = h.handle.metrics();
    // Ten one-record requests queued at once: batches of 4, 4 and 2.
    let answers = submit_one_batch(&h, (0..10).map(|k| Req::put(k, b"v")).collect()).await;
    assert!(answers.iter().all(Result::is_ok));
    assert_eq!(load(&m.batches), 3);
    assert_eq!(
        m.batch_records.cumulative()[..4].to_vec(),
        vec![(Some(1), 0), (Some(2), 1), (Some(4), 3), (Some(8), 3),]
    );

    // A request is never split: the one that reaches the limit takes the batch past it,
    // and a request larger than the limit is written whole.
    let six: Vec<(u64, &[u8])> = (20..26).map(|k| (k, &b"v"[..])).collect();
    let answers = submit_one_batch(
        &h,
        vec![
            Req::put(10, b"v"),
            Req::bulk(&six, false),
            Req::put(11, b"v"),
            Req::bulk(&six, false),
        ],
    )
    .await;
    assert!(answers.iter().all(Result::is_ok));
    // [1 + 6] then [1 + 6].
    assert_eq!(load(&m.batches), 5);
    assert_eq!(
        m.batch_records.cumulative()[..4].to_vec(),
        vec![(Some(1), 0), (Some(2), 1), (Some(4), 3), (Some(8), 5),]
    );
    assert_eq!(load(&m.records), 10 + 14);
    assert_eq!(log_records(&h.reader).len(), 24);
}
