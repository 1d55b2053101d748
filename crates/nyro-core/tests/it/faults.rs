//! Injected I/O faults: a failed write keeps nothing and later writes may succeed; a failed
//! fdatasync stops writes for good (until restart) while reads go on.

use std::io;
use std::sync::Arc;

use nyro_core::{Database, DbError, OpenOptions, SyncPolicy, WriteOptions};
use nyro_storage::{FaultInjector, WriteFault};
use serde_json::json;

use crate::common::*;

const W: WriteOptions = WriteOptions { sync: false };

async fn open_faulty(config: &nyro_core::Config) -> (Database, Arc<FaultInjector>) {
    let faults = Arc::new(FaultInjector::new());
    let db = within(
        "open",
        Database::open_with(
            config,
            OpenOptions {
                io: Arc::clone(&faults) as Arc<dyn nyro_storage::LogIo>,
            },
        ),
    )
    .await
    .unwrap();
    (db, faults)
}

fn assert_write_failed<T: std::fmt::Debug>(result: Result<T, DbError>) {
    match result {
        Err(e @ DbError::WriteFailed(_)) => {
            let message = e.to_string();
            assert!(message.contains("the write failed"), "{message}");
            assert!(message.contains("nothing of it was kept"), "{message}");
        }
        other => panic!("expected WriteFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_failed_write_keeps_nothing_and_later_writes_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (db, faults) = open_faulty(&config).await;
    db.create_collection("c", &["k".to_string()]).await.unwrap();
    for n in 1..=5u64 {
        insert(&db, "c", json!({"k": "before", "n": n})).await;
    }
    let stats = db.stats();

    faults.fail_writes(WriteFault::Fail(io::ErrorKind::StorageFull));
    // A given id, an assigned one, a replace, a delete, a bulk insert and an insert that
    // would create a collection: all fail, none leaves a trace.
    let mut given = doc(json!({"k": "failed"}));
    given.id = Some(100);
    assert_write_failed(db.insert("c", given, W).await);
    assert_write_failed(db.insert("c", doc(json!({"k": "failed"})), W).await);
    assert_write_failed(db.replace("c", 3, doc(json!({"k": "failed"})), W).await);
    assert_write_failed(db.delete("c", 4, W).await);
    assert_write_failed(
        db.insert_many("c", vec![doc(json!({"k": "failed"})), doc(json!({}))], W)
            .await,
    );
    assert_write_failed(db.insert("new", doc(json!({})), W).await);
    assert_write_failed(db.create_collection("other", &[]).await);
    // Refusals still answer as refusals.
    assert!(matches!(
        db.delete("c", 99, W).await,
        Err(DbError::NotFound { .. })
    ));

    // Nothing of them is visible; earlier documents read as before.
    assert!(matches!(db.get("c", 100), Err(DbError::NotFound { .. })));
    assert!(matches!(db.get("c", 6), Err(DbError::NotFound { .. })));
    assert_eq!(db.get("c", 3).unwrap().to_json()["k"], json!("before"));
    assert_eq!(db.get("c", 4).unwrap().to_json()["k"], json!("before"));
    assert!(find_all(&db, "c", &cond(&[("k", json!("failed"))]), 10).is_empty());
    assert_eq!(
        find_all(&db, "c", &cond(&[("k", json!("before"))]), 10),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(list_all(&db, "c", 2).len(), 5);
    assert!(db.collections().iter().all(|c| c.name == "c"));
    let after = db.stats();
    assert_eq!(after.last_seq, stats.last_seq);
    assert_eq!(
        after.disk_bytes, stats.disk_bytes,
        "the partial bytes were cut back"
    );
    assert_eq!(after.collections, stats.collections);
    assert_eq!(after.poisoned, None, "a failed write does not poison");

    // The cause goes away: writes succeed again, with the seq and id the failed ones did
    // not take.
    faults.clear();
    let ok = db.insert("c", doc(json!({"k": "after"})), W).await.unwrap();
    assert_eq!(ok.id, 6);
    assert_eq!(ok.seq, stats.last_seq + 1);
    assert_eq!(insert(&db, "new", json!({})).await, 1);

    // A short write that then fails keeps nothing either.
    faults.fail_writes(WriteFault::ShortThenFail {
        bytes: 10,
        kind: io::ErrorKind::StorageFull,
    });
    assert_write_failed(db.insert("c", doc(json!({"k": "short"})), W).await);
    faults.clear();
    assert_eq!(insert(&db, "c", json!({"k": "after"})).await, 7);

    // After a reopen the failed writes are absent and the good ones present.
    let db = reopen(db, &config).await;
    assert!(matches!(db.get("c", 100), Err(DbError::NotFound { .. })));
    assert_eq!(
        find_all(&db, "c", &cond(&[("k", json!("after"))]), 10),
        [6, 7]
    );
    assert!(find_all(&db, "c", &cond(&[("k", json!("failed"))]), 10).is_empty());
    assert!(find_all(&db, "c", &cond(&[("k", json!("short"))]), 10).is_empty());
    assert_eq!(list_all(&db, "c", 3).len(), 7);
    assert!(db.recovery().torn_tail.is_none());
    let names: Vec<_> = db.collections().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["c", "new"]);
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_failed_fdatasync_refuses_every_later_write_but_reads_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path()); // sync = always
    assert_eq!(config.batch.sync, SyncPolicy::Always);
    let (db, faults) = open_faulty(&config).await;
    db.create_collection("c", &["k".to_string()]).await.unwrap();
    for n in 1..=3u64 {
        insert(&db, "c", json!({"k": n})).await;
    }
    assert_eq!(db.stats().poisoned, None);
    let mut feed = db.subscribe(Some("c"), None).unwrap();

    faults.fail_syncs(io::ErrorKind::Other);
    match db.insert("c", doc(json!({"k": 4})), W).await {
        Err(DbError::Unavailable { reason }) => {
            assert!(reason.contains("fdatasync"), "{reason}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // The write that was not acknowledged is not visible.
    assert!(matches!(db.get("c", 4), Err(DbError::NotFound { .. })));
    // Every later write is refused, even once the disk is fine again: nothing is retried.
    faults.clear();
    let later = [
        db.insert("c", doc(json!({})), W).await.map(drop),
        db.replace("c", 1, doc(json!({})), W).await.map(drop),
        db.delete("c", 1, W).await.map(drop),
        db.create_collection("d", &[]).await.map(drop),
        db.drop_collection("c").await,
        db.insert("c", doc(json!({})), WriteOptions { sync: true })
            .await
            .map(drop),
    ];
    for result in later {
        match result {
            Err(DbError::Unavailable { reason }) => {
                let message = DbError::Unavailable { reason }.to_string();
                assert!(message.contains("refuses writes"), "{message}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
    // Reads go on.
    assert_eq!(db.get("c", 2).unwrap().to_json(), json!({"_id": 2, "k": 2}));
    assert_eq!(list_all(&db, "c", 2).len(), 3);
    assert_eq!(find_all(&db, "c", &cond(&[("k", json!(3))]), 10), [3]);
    let stats = db.stats();
    assert!(
        stats
            .poisoned
            .as_deref()
            .is_some_and(|r| r.contains("fdatasync")),
        "{stats:?}"
    );
    assert_eq!(stats.poisoned, db.poisoned());
    assert_eq!(stats.last_seq, 3);
    // The feed saw nothing of the failed write.
    let nothing = tokio::time::timeout(std::time::Duration::from_millis(100), feed.next()).await;
    assert!(nothing.is_err(), "{nothing:?}");
    let guard = no_fork().await;
    let _ = db.close().await;

    // A restart recovers from the log: the acknowledged writes are there; writes work.
    let db = open(&config).await;
    drop(guard);
    assert_eq!(db.stats().poisoned, None);
    for n in 1..=3u64 {
        assert_eq!(db.get("c", n).unwrap().to_json()["k"], json!(n));
    }
    let id = insert(&db, "c", json!({"k": "again"})).await;
    assert!(id >= 4);
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_failed_fdatasync_under_interval_also_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.batch.sync = SyncPolicy::Interval;
    config.batch.sync_interval_ms = 10;
    let (db, faults) = open_faulty(&config).await;
    insert(&db, "c", json!({})).await;
    faults.fail_syncs(io::ErrorKind::Other);
    // The write is answered (it reached the OS); the periodic fdatasync then fails.
    insert(&db, "c", json!({})).await;
    let started = std::time::Instant::now();
    while db.poisoned().is_none() {
        assert!(
            started.elapsed() < BOUND,
            "the interval fdatasync never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(matches!(
        db.insert("c", doc(json!({})), W).await,
        Err(DbError::Unavailable { .. })
    ));
    assert_eq!(list_all(&db, "c", 10).len(), 2);
    let _ = db.close().await;
}
