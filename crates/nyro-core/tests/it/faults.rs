//! Injected I/O faults: a failed write keeps nothing and later writes may succeed; a failed
//! fdatasync stops writes for good (until restart) while reads go on. Faults come as the
//! storage crate's injector makes them, and as real errnos (ENOSPC, EIO), short writes the
//! kernel reports honestly, and a full disk just when a new segment is started; with
//! concurrent writers while faults come and go, exactly the acknowledged writes survive.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

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
                // A background hint write must not meet the fault a test arms for its own.
                maintenance_interval: NO_MAINTENANCE,
                ..OpenOptions::default()
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
        Err(DbError::Unavailable { cause }) => {
            assert!(cause.contains("fdatasync"), "{cause}");
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
            Err(DbError::Unavailable { cause }) => {
                let message = DbError::Unavailable { cause }.to_string();
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

/// The log's I/O layer for the tests below: the storage crate's fault injector, plus writes
/// that fail with a real errno (so messages carry the operating system's own words) and
/// writes that the kernel cuts short without failing (a `pwrite` may store fewer bytes than
/// asked; the log must write the rest).
#[derive(Debug, Default)]
struct Disk {
    faults: FaultInjector,
    write_errno: std::sync::atomic::AtomicI32,
    /// When non-zero, each write stores at most this many bytes and reports so.
    partial: std::sync::atomic::AtomicUsize,
}

const ENOSPC: i32 = 28;
const EIO: i32 = 5;

impl Disk {
    fn fail_with(&self, errno: i32) {
        self.write_errno.store(errno, Ordering::SeqCst);
    }

    fn clear(&self) {
        self.write_errno.store(0, Ordering::SeqCst);
        self.partial.store(0, Ordering::SeqCst);
        self.faults.clear();
    }
}

impl nyro_storage::LogIo for Disk {
    fn write_at(
        &self,
        path: &std::path::Path,
        file: &std::fs::File,
        offset: u64,
        buf: &[u8],
    ) -> io::Result<usize> {
        let errno = self.write_errno.load(Ordering::SeqCst);
        if errno != 0 {
            return Err(io::Error::from_raw_os_error(errno));
        }
        let partial = self.partial.load(Ordering::SeqCst);
        let buf = if partial > 0 && buf.len() > partial {
            &buf[..partial]
        } else {
            buf
        };
        self.faults.write_at(path, file, offset, buf)
    }

    fn sync_data(&self, path: &std::path::Path, file: &std::fs::File) -> io::Result<()> {
        self.faults.sync_data(path, file)
    }
}

async fn open_disk(config: &nyro_core::Config) -> (Database, Arc<Disk>) {
    let disk = Arc::new(Disk::default());
    let db = within(
        "open",
        Database::open_with(
            config,
            OpenOptions {
                io: Arc::clone(&disk) as Arc<dyn nyro_storage::LogIo>,
                // A background hint write must not meet the fault a test arms for its own.
                maintenance_interval: NO_MAINTENANCE,
                ..OpenOptions::default()
            },
        ),
    )
    .await
    .unwrap();
    (db, disk)
}

fn assert_failed_saying<T: std::fmt::Debug>(result: Result<T, DbError>, why: &str) {
    match result {
        Err(e @ DbError::WriteFailed(_)) => {
            let message = e.to_string();
            assert!(message.contains("nothing of it was kept"), "{message}");
            assert!(message.contains(why), "expected {why:?} in {message}");
        }
        other => panic!("expected WriteFailed ({why}), got {other:?}"),
    }
}

#[tokio::test]
async fn enospc_and_eio_fail_each_kind_of_write_visibly_nowhere_and_go_away() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (db, disk) = open_disk(&config).await;
    db.create_collection("c", &["k".to_string()]).await.unwrap();
    for n in 1..=4u64 {
        insert(&db, "c", json!({"k": "before", "n": n})).await;
    }
    let mut feed = db.subscribe(None, None).unwrap();

    for (expected_next, (errno, why)) in (5..).zip([
        (ENOSPC, "No space left on device"),
        (EIO, "Input/output error"),
    ]) {
        let before = list_all(&db, "c", 100);
        let stats = db.stats();
        disk.fail_with(errno);
        assert_failed_saying(db.insert("c", doc(json!({"k": "failed"})), W).await, why);
        assert_failed_saying(
            db.insert_many("c", vec![doc(json!({"k": "failed"})), doc(json!({}))], W)
                .await,
            why,
        );
        assert_failed_saying(
            db.replace(
                "c",
                1,
                doc(json!({"k": "failed"})),
                WriteOptions { sync: true },
            )
            .await,
            why,
        );
        assert_failed_saying(db.delete("c", 2, W).await, why);
        assert_failed_saying(db.create_collection("d", &[]).await, why);
        assert_failed_saying(db.drop_collection("c").await, why);
        // Many at once, sharing batches: every one fails.
        let concurrent = (0..16).map(|i| db.insert("c", doc(json!({"k": "failed", "i": i})), W));
        for result in futures_util_join(concurrent).await {
            assert_failed_saying(result, why);
        }

        // Nothing is visible: get, list, find, the feed, the counters.
        assert_eq!(list_all(&db, "c", 3), before);
        assert!(find_all(&db, "c", &cond(&[("k", json!("failed"))]), 10).is_empty());
        assert_eq!(db.get("c", 1).unwrap().to_json()["k"], json!("before"));
        assert!(db.get("c", 2).is_ok());
        assert!(db.collections().iter().all(|c| c.name == "c"));
        let quiet = tokio::time::timeout(std::time::Duration::from_millis(50), feed.next()).await;
        assert!(quiet.is_err(), "the feed saw a failed write: {quiet:?}");
        let after = db.stats();
        assert_eq!(after.last_seq, stats.last_seq);
        assert_eq!(after.disk_bytes, stats.disk_bytes, "partial bytes left");
        assert_eq!(after.poisoned, None);

        // The fault goes away: writes succeed and the feed carries them.
        disk.clear();
        let ok = db.insert("c", doc(json!({"k": "after"})), W).await.unwrap();
        assert_eq!(ok.id, expected_next);
        let event = within("a feed event", feed.next()).await.unwrap().unwrap();
        assert_eq!(event.seq, ok.seq);
    }

    // Short writes that the kernel reports honestly are completed by the log.
    disk.partial.store(7, Ordering::SeqCst);
    let long = "y".repeat(5000);
    for _ in 0..5 {
        insert(&db, "c", json!({"k": "partial", "long": long})).await;
    }
    disk.clear();
    let kept = list_all(&db, "c", 100);
    assert_eq!(kept.len(), 4 + 2 + 5);

    let db = reopen(db, &config).await;
    assert_eq!(list_all(&db, "c", 100), kept);
    assert!(db.recovery().torn_tail.is_none());
    assert_eq!(
        find_all(&db, "c", &cond(&[("k", json!("partial"))]), 10).len(),
        5
    );
    db.close().await.unwrap();
}

/// Awaits every future (the tests run on a current-thread runtime, so they interleave).
async fn futures_util_join<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().collect();
    let mut out = Vec::with_capacity(handles.len());
    let mut pinned: Vec<_> = handles.into_iter().map(Box::pin).collect();
    // Poll them together: start all, then collect in order.
    let mut slots: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (fut, slot) in pinned.iter_mut().zip(slots.iter_mut()) {
            if slot.is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.extend(slots.into_iter().map(|s| s.expect("ready")));
    out
}

#[tokio::test]
async fn enospc_when_a_new_segment_is_started_fails_the_write_and_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.storage.segment_size_mb = 1;
    let (db, disk) = open_disk(&config).await;
    let pad = "p".repeat(64 * 1024);
    // Fill the first segment past its size: the next write must start a new segment.
    let mut ids = Vec::new();
    while db.stats().disk_bytes < 1 << 20 {
        ids.push(insert(&db, "c", json!({"pad": pad})).await);
    }
    let segments = db.stats().segments;
    disk.fail_with(ENOSPC);
    assert_failed_saying(
        db.insert("c", doc(json!({"k": "failed"})), W).await,
        "No space left on device",
    );
    assert_eq!(
        db.stats().segments,
        segments,
        "a half-made segment is listed"
    );
    assert_eq!(list_all(&db, "c", 100).len(), ids.len());
    disk.clear();
    ids.push(insert(&db, "c", json!({"k": "after"})).await);
    assert!(db.stats().segments > segments);
    let db = reopen(db, &config).await;
    let listed: Vec<u64> = list_all(&db, "c", 100)
        .iter()
        .map(|d| d.id.unwrap())
        .collect();
    assert_eq!(listed, ids);
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_coming_and_going_under_concurrent_writers_lose_nothing_acknowledged() {
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (db, disk) = open_disk(&config).await;
    db.create_collection("c", &["w".to_string()]).await.unwrap();

    // The faults: on and off at pseudo-random moments, of every write kind.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let chaos = {
        let disk = Arc::clone(&disk);
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            let mut injected = 0u32;
            while !stop.load(Ordering::SeqCst) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match x % 4 {
                    0 => disk.fail_with(ENOSPC),
                    1 => disk.fail_with(EIO),
                    2 => disk.faults.fail_writes(WriteFault::ShortThenFail {
                        bytes: (x % 100) as usize,
                        kind: io::ErrorKind::StorageFull,
                    }),
                    _ => disk.partial.store(1 + (x % 50) as usize, Ordering::SeqCst),
                }
                injected += 1;
                tokio::time::sleep(std::time::Duration::from_millis(1 + x % 7)).await;
                disk.clear();
                tokio::time::sleep(std::time::Duration::from_millis(1 + (x >> 8) % 7)).await;
            }
            injected
        })
    };

    // Writers: each works on its own documents and remembers what was acknowledged.
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut model: BTreeMap<u64, Option<serde_json::Value>> = BTreeMap::new();
                let (mut acked, mut failed) = (0u32, 0u32);
                for i in 0..150u64 {
                    let body = json!({"w": w, "i": i});
                    let live: Vec<u64> = model
                        .iter()
                        .filter(|(_, d)| d.is_some())
                        .map(|(id, _)| *id)
                        .collect();
                    let result = match (i % 5, live.first(), live.last()) {
                        (3, Some(&id), _) => db
                            .replace("c", id, doc(body.clone()), W)
                            .await
                            .map(|r| (r.id, Some(body))),
                        (4, _, Some(&id)) => db.delete("c", id, W).await.map(|_| (id, None)),
                        _ => db
                            .insert("c", doc(body.clone()), W)
                            .await
                            .map(|r| (r.id, Some(body))),
                    };
                    match result {
                        Ok((id, content)) => {
                            model.insert(id, content);
                            acked += 1;
                        }
                        Err(DbError::WriteFailed(_)) => failed += 1,
                        Err(other) => panic!("writer {w}: unexpected {other:?}"),
                    }
                }
                (model, acked, failed)
            })
        })
        .collect();
    let mut model = BTreeMap::new();
    let (mut acked, mut failed) = (0, 0);
    for writer in writers {
        let (m, a, f) = within("a writer", writer).await.unwrap();
        model.extend(m);
        acked += a;
        failed += f;
    }
    stop.store(true, Ordering::SeqCst);
    let injected = within("the fault task", chaos).await.unwrap();
    disk.clear();
    assert!(
        acked > 0 && failed > 0,
        "acked {acked}, failed {failed}, faults {injected}"
    );

    let check = |db: &Database| {
        let listed: BTreeMap<u64, serde_json::Value> = list_all(db, "c", 1000)
            .into_iter()
            .map(|d| {
                let mut json = d.to_json();
                let id = json["_id"].as_u64().unwrap();
                json.as_object_mut().unwrap().remove("_id");
                (id, json)
            })
            .collect();
        let live: BTreeMap<u64, serde_json::Value> = model
            .iter()
            .filter_map(|(id, d)| d.clone().map(|d| (*id, d)))
            .collect();
        assert_eq!(listed, live, "the log and the acknowledged writes differ");
        for w in 0..4u64 {
            let found = find_all(db, "c", &cond(&[("w", json!(w))]), 1000);
            let expected: Vec<u64> = live
                .iter()
                .filter(|(_, d)| d["w"] == w)
                .map(|(id, _)| *id)
                .collect();
            assert_eq!(found, expected, "the index disagrees for writer {w}");
        }
    };
    check(&db);
    let db = reopen(db, &config).await;
    check(&db);
    assert!(db.recovery().torn_tail.is_none());
    db.close().await.unwrap();
}
