//! Stopping the writer: close, and dropping every handle.

use nyro_batch::{SyncPolicy, WriteError};
use nyro_storage::{Log, LogOptions, StorageError};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_answers_what_was_queued_and_releases_the_log() {
    let h = start(config(SyncPolicy::Never));
    // Hold the writer in its first request's prepare and queue more behind it, so that
    // close arrives while they are all still unanswered.
    h.probe.gate.close();
    let mut tasks = vec![submit_on_thread(&h.handle, Req::put(0, b"v0"), false)];
    wait_until("the writer holds the first request", || {
        h.probe.gate.waiting() == 1
    })
    .await;
    for key in 1..50u64 {
        tasks.push(submit_queued(
            &h.handle,
            Req::put(key, format!("v{key}").as_bytes()),
            false,
        ));
    }
    wait_until("all requests are queued", || h.handle.queued() == 49).await;
    let closer = {
        let handle = h.handle.clone();
        tokio::spawn(async move { handle.close().await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(
        !closer.is_finished(),
        "close returned before the queued writes"
    );
    h.probe.gate.open();
    within("close", closer).await.unwrap().unwrap();
    // (The spawned tasks raced each other to the queue, so seqs follow arrival order.)
    let mut expected = Vec::new();
    for (key, task) in tasks.into_iter().enumerate() {
        let seq = within("an answer", task).await.unwrap().unwrap();
        expected.push((seq, key as u64, format!("v{key}").into_bytes()));
    }
    expected.sort();
    // Close fdatasyncs what Never left unsynced.
    assert_eq!(load(&h.handle.metrics().fsyncs), 1);

    let answer = within(
        "a write after close",
        h.handle.submit_req(Req::put(99, b"late"), false),
    )
    .await;
    assert!(matches!(answer, Err(WriteError::Closed)), "{answer:?}");
    assert!(matches!(
        within("flush after close", h.handle.flush()).await,
        Err(WriteError::Closed)
    ));
    assert!(matches!(
        within("close after close", h.handle.close()).await,
        Err(WriteError::Closed)
    ));
    // The thread ends right after answering close: joining it waits for nothing more.
    assert!(h.thread.join(), "the writer thread ended cleanly");

    // The directory lock belongs to the log's shared state, which the writer and every
    // `LogReader` clone hold together: after close the writer has let go, but our reader
    // still holds it...
    match Log::open(h.dir.path(), LogOptions::default()) {
        Err(StorageError::Locked { .. }) => {}
        other => panic!("expected Locked while a reader lives, got {other:?}"),
    }
    // ...and once it is dropped too, the directory reopens at once.
    drop(h.reader);
    let log = Log::open(h.dir.path(), LogOptions::default())
        .expect("close returned, so the writer has released the directory");
    assert_eq!(log.recovery().frames, 50);
    assert_eq!(log.recovery().torn_tail, None);
    let records = log_records(log.reader());
    assert_eq!(
        records, expected,
        "exactly the answered writes, in seq order"
    );
    assert_eq!(
        records.iter().map(|r| r.0).collect::<Vec<_>>(),
        (1..=50).collect::<Vec<_>>()
    );
    assert_eq!(replay(&records), h.probe.map());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_writes_what_was_acknowledged() {
    let h = start(config(SyncPolicy::Always));
    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let handle = h.handle.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            for i in 0..25 {
                let key = task * 100 + i;
                handle
                    .submit_req(Req::put(key, &key.to_le_bytes()), false)
                    .await
                    .unwrap();
                done.push(key);
            }
            done
        }));
    }
    let metrics = std::sync::Arc::clone(h.handle.metrics());
    drop(h.handle); // the tasks' clones keep the writer going until they finish
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(within("a task", task).await.unwrap());
    }
    drop(h.reader);
    let log = reopen(h.dir.path()).await;
    let state = replay(&log_records(log.reader()));
    assert_eq!(state.len(), acknowledged.len());
    for key in acknowledged {
        assert_eq!(
            state.get(&key).map(Vec::as_slice),
            Some(&key.to_le_bytes()[..])
        );
    }
    assert_eq!(state, h.probe.map());
    assert!(load(&metrics.fsyncs) >= load(&metrics.batches));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_still_writes_queued_requests() {
    // Under Never, with the waiting callers gone too: what is in the queue when the last
    // handle goes is still written, and fdatasync'ed before the writer stops.
    let h = start(config(SyncPolicy::Never));
    h.probe.gate.close();
    // The first caller leads and is held inside its own batch; it cannot be cancelled
    // (a leader writes synchronously), the callers queued behind it are.
    let leader = submit_on_thread(&h.handle, Req::put(0, b"v"), false);
    wait_until("the writer holds the first request", || {
        h.probe.gate.waiting() == 1
    })
    .await;
    let mut tasks = Vec::new();
    for key in 1..20u64 {
        tasks.push(spawn_submit(&h.handle, Req::put(key, b"v"), false));
    }
    wait_until("all requests are queued", || h.handle.queued() == 19).await;
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        assert!(
            within("an aborted task", task)
                .await
                .unwrap_err()
                .is_cancelled()
        );
    }
    let metrics = std::sync::Arc::clone(h.handle.metrics());
    drop(h.handle);
    drop(h.reader);
    h.probe.gate.open();
    within("the leader", leader).await.unwrap().unwrap();
    let log = reopen(h.dir.path()).await;
    let records = log_records(log.reader());
    assert_eq!(records.len(), 20);
    assert_eq!(
        replay(&records),
        (0..20u64).map(|k| (k, b"v".to_vec())).collect()
    );
    assert_eq!(load(&metrics.fsyncs), 1, "the stopping writer fdatasyncs");
    assert_eq!(load(&metrics.batches), 1);
}
