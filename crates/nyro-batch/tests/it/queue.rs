//! The bounded queue: past its capacity, submit fails with QueueFull at once, and nothing is
//! lost or written twice.

use std::collections::BTreeSet;

use nyro_batch::{BatchConfig, SyncPolicy, WriteError};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_at_once_and_loses_nothing() {
    const CAPACITY: usize = 4;
    const EXTRA: usize = 3;
    let h = start(BatchConfig {
        queue_capacity: CAPACITY,
        sync: SyncPolicy::Never,
        ..BatchConfig::default()
    });
    // The writer is held inside the first request, so it drains nothing meanwhile.
    h.probe.gate.close();
    let first = submit_on_thread(&h.handle, Req::put(0, b"first"), false);
    wait_until("the writer holds the first request", || {
        h.probe.gate.waiting() == 1
    })
    .await;
    assert_eq!(h.handle.queued(), 0, "the held request left the queue");

    let tasks: Vec<_> = (1..=(CAPACITY + EXTRA) as u64)
        .map(|key| (key, spawn_submit(&h.handle, Req::put(key, b"v"), false)))
        .collect();
    wait_until("the queue fills and the rest are refused", || {
        h.handle.queued() == CAPACITY
            && tasks.iter().filter(|(_, t)| t.is_finished()).count() == EXTRA
    })
    .await;
    let mut refused = BTreeSet::new();
    let mut pending = Vec::new();
    for (key, task) in tasks {
        if task.is_finished() {
            match within("a refusal", task).await.unwrap() {
                Err(WriteError::QueueFull { capacity }) => {
                    assert_eq!(capacity, CAPACITY);
                    refused.insert(key);
                }
                other => panic!("expected QueueFull, got {other:?}"),
            }
        } else {
            pending.push((key, task));
        }
    }
    assert_eq!(refused.len(), EXTRA);
    let error = WriteError::<Rejection>::QueueFull { capacity: CAPACITY };
    assert!(error.to_string().contains("retry later"), "{error}");

    h.probe.gate.open();
    assert_eq!(within("the first", first).await.unwrap().unwrap(), 1);
    let mut written = BTreeSet::from([0]);
    for (key, task) in pending {
        within("an answer", task).await.unwrap().unwrap();
        written.insert(key);
    }
    assert_eq!(written.len(), CAPACITY + 1);
    assert_eq!(h.handle.queued(), 0);

    // Exactly the accepted requests are in the log, each once.
    let records = log_records(&h.reader);
    assert_eq!(records.len(), CAPACITY + 1);
    let keys: BTreeSet<u64> = records.iter().map(|r| r.1).collect();
    assert_eq!(keys, written);
    assert!(keys.is_disjoint(&refused));
    assert_eq!(
        h.probe.map().keys().copied().collect::<BTreeSet<_>>(),
        written
    );

    // With room again, a refused request can be retried.
    let retry = *refused.first().unwrap();
    within("a retry", h.handle.submit_req(Req::put(retry, b"v"), false))
        .await
        .unwrap();
    assert!(h.probe.get(retry).is_some());
}
