//! Indexes added and dropped online (`Database::add_index`, `drop_index`): built from the
//! stored documents while writes go on, exact when ready, logged so that they survive
//! restarts, compaction and hints written before them, and an add cut short at any byte of
//! its record opens with the index whole or without it.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nyro_core::{Config, Database, DbError, OpenOptions, Value, WriteOptions};
use nyro_storage::{FaultInjector, WriteFault};
use serde_json::{Value as Json, json};

use crate::common::*;

const W: WriteOptions = WriteOptions { sync: false };

/// The value of `k` a document numbered `n` gets in round `round`: numbers, strings, null,
/// a missing field, an array (indexed under each of its elements).
fn k_of(n: u64, round: u64) -> Option<Json> {
    match (n + round) % 7 {
        0 => None,
        1 => Some(json!(null)),
        2 => Some(json!([1, 2])),
        3 | 4 => Some(json!(format!("s{}", (n + round) % 5))),
        _ => Some(json!((n * 3 + round) % 11)),
    }
}

fn body(n: u64, round: u64) -> Json {
    let mut doc = json!({"n": n, "round": round});
    if let Some(k) = k_of(n, round) {
        doc["k"] = k;
    }
    doc
}

/// The collection's `(indexes, building)`.
fn indexes_of(db: &Database, collection: &str) -> (Vec<String>, Vec<String>) {
    let info = db
        .collections()
        .into_iter()
        .find(|c| c.name == collection)
        .expect("the collection");
    (info.indexes, info.building)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Waits (bounded) until no index of `collection` is being built.
async fn ready(db: &Database, collection: &str) {
    let started = Instant::now();
    while !indexes_of(db, collection).1.is_empty() {
        assert!(started.elapsed() < BOUND, "the index build never ended");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// For every scalar value some document holds under `field` (itself, or as an element of
/// an array there; a missing field is null), the ids found by the index equal the ids a
/// scan of every document finds.
fn assert_exact(db: &Database, collection: &str, field: &str) {
    let mut truth: BTreeMap<String, (Value, Vec<u64>)> = BTreeMap::new();
    for doc in list_all(db, collection, 1000) {
        let id = doc.id.expect("an id");
        let json = doc.to_json();
        let mut values: Vec<Json> = match json.get(field) {
            None => vec![Json::Null],
            Some(Json::Array(elements)) => elements.clone(),
            Some(value) => vec![value.clone()],
        };
        values.retain(|v| !v.is_array() && !v.is_object());
        values.dedup();
        for value in values {
            truth
                .entry(value.to_string())
                .or_insert_with(|| (val(value.clone()), Vec::new()))
                .1
                .push(id);
        }
    }
    assert!(!truth.is_empty(), "the test needs values to look up");
    for (text, (value, ids)) in &truth {
        let found = find_all(db, collection, &[(field.to_string(), value.clone())], 97);
        assert_eq!(&found, ids, "{collection}.{field} = {text}");
    }
    // A value no document holds finds nothing.
    let absent = vec![(field.to_string(), val(json!("no such value")))];
    assert!(find_all(db, collection, &absent, 10).is_empty());
}

async fn load(db: &Database, collection: &str, count: u64) {
    let docs: Vec<_> = (1..=count).map(|n| doc(body(n, 0))).collect();
    for chunk in docs.chunks(500) {
        within(
            "a bulk insert",
            db.insert_many(collection, chunk.to_vec(), W),
        )
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_index_built_while_writes_go_on_is_exact_and_equals_one_built_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = open(&config).await;
    load(&db, "c", 3000).await;

    // Paused: the index stays building, listed as such, and queries refuse it.
    db.pause_index_builds(true);
    within("add", db.add_index("c", "k")).await.unwrap();
    assert_eq!(indexes_of(&db, "c"), (vec![], strings(&["k"])));
    let k1 = vec![("k".to_string(), val(json!(1)))];
    let refused = db.find("c", &k1, None, 10);
    assert!(
        matches!(&refused, Err(DbError::IndexNotReady { field, .. }) if field == "k"),
        "{refused:?}"
    );
    // The paused build has read its first chunk (ids 1 to 256) by now, most likely, and
    // waits to index it: documents of it replaced and deleted meanwhile must be read again
    // (or left out), not indexed as they were read.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for n in 1..=100u64 {
        db.replace("c", n, doc(body(n, 3)), W).await.unwrap();
    }
    for n in 101..=120u64 {
        db.delete("c", n, W).await.unwrap();
    }

    // Writers replace, delete and insert while the build runs.
    let mut writers = Vec::new();
    for t in 0..4u64 {
        let db = db.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..150u64 {
                let n = 1 + (i * 37 + t * 11) % 3000;
                match i % 5 {
                    0 => {
                        let _ = db.delete("c", n, W).await;
                    }
                    1 => {
                        db.insert("c", doc(body(4000 + t * 1000 + i, 1)), W)
                            .await
                            .unwrap();
                    }
                    _ => {
                        db.replace("c", n, doc(body(n, i + t)), W).await.unwrap();
                    }
                }
                if i == 20 && t == 0 {
                    db.pause_index_builds(false);
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for writer in writers {
        within("a writer", writer).await.unwrap();
    }
    db.pause_index_builds(false);
    ready(&db, "c").await;
    assert_eq!(indexes_of(&db, "c"), (strings(&["k"]), vec![]));
    assert_exact(&db, "c", "k");
    let before: Vec<u64> = find_all(&db, "c", &k1, 100);

    // Built again from scratch on open: the same answers.
    let db = reopen(db, &config).await;
    assert_eq!(indexes_of(&db, "c"), (strings(&["k"]), vec![]));
    assert_eq!(find_all(&db, "c", &k1, 100), before);
    assert_exact(&db, "c", "k");
    db.close().await.unwrap();
}

#[tokio::test]
async fn adds_and_drops_are_checked_and_a_drop_is_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = open(&config).await;
    let missing = db.add_index("nope", "k").await;
    assert!(
        matches!(missing, Err(DbError::CollectionNotFound { .. })),
        "{missing:?}"
    );
    db.create_collection("c", &strings(&["a"])).await.unwrap();
    for bad in ["_id", "", "a..b", ".a"] {
        let refused = db.add_index("c", bad).await;
        assert!(
            matches!(refused, Err(DbError::Invalid { .. })),
            "{bad}: {refused:?}"
        );
    }
    let err = db.add_index("c", "a").await.unwrap_err();
    assert!(matches!(err, DbError::IndexExists { .. }), "{err:?}");
    assert!(err.to_string().contains("\"a\""), "{err}");
    let err = db.drop_index("c", "zz").await.unwrap_err();
    assert!(matches!(err, DbError::IndexNotFound { .. }), "{err:?}");
    assert!(matches!(
        db.drop_index("nope", "a").await,
        Err(DbError::CollectionNotFound { .. })
    ));

    // An empty collection's new index is ready at once.
    db.add_index("c", "b").await.unwrap();
    assert_eq!(indexes_of(&db, "c"), (strings(&["a", "b"]), vec![]));
    // Re-declaring the collection with every index it has is "existed".
    assert_eq!(
        db.create_collection("c", &strings(&["b", "a"]))
            .await
            .unwrap(),
        nyro_core::Created::Existed
    );
    for n in 1..=50 {
        insert(&db, "c", json!({"a": n % 3, "b": n % 4, "d": n % 5})).await;
    }

    // A drop while building: gone at once; added again, it is built whole.
    db.pause_index_builds(true);
    db.add_index("c", "d").await.unwrap();
    assert_eq!(
        indexes_of(&db, "c"),
        (strings(&["a", "b"]), strings(&["d"]))
    );
    db.drop_index("c", "d").await.unwrap();
    assert_eq!(indexes_of(&db, "c"), (strings(&["a", "b"]), vec![]));
    db.add_index("c", "d").await.unwrap();
    db.pause_index_builds(false);
    ready(&db, "c").await;
    assert_exact(&db, "c", "d");

    // A declared index dropped: queries refuse it at once.
    db.drop_index("c", "a").await.unwrap();
    let a0 = vec![("a".to_string(), val(json!(0)))];
    assert!(matches!(
        db.find("c", &a0, None, 10),
        Err(DbError::NotIndexed { .. })
    ));
    // Writes go on without it.
    insert(&db, "c", json!({"a": 0, "b": 1, "d": 2})).await;
    let db = reopen(db, &config).await;
    assert_eq!(indexes_of(&db, "c"), (strings(&["b", "d"]), vec![]));
    assert_exact(&db, "c", "b");
    assert_exact(&db, "c", "d");
    // Dropping the collection with a build running stops it.
    db.pause_index_builds(true);
    db.add_index("c", "a").await.unwrap();
    db.drop_collection("c").await.unwrap();
    db.pause_index_builds(false);
    assert!(db.collections().is_empty());
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_build_a_close_or_a_drop_interrupts_is_built_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = open(&config).await;
    load(&db, "c", 1200).await;
    db.pause_index_builds(true);
    db.add_index("c", "k").await.unwrap();
    assert_eq!(indexes_of(&db, "c").1, strings(&["k"]));
    // Closed while building (the build stops within a chunk).
    let db = reopen(db, &config).await;
    assert_eq!(indexes_of(&db, "c"), (strings(&["k"]), vec![]));
    assert_exact(&db, "c", "k");

    // Dropped without close while another builds: as a crash.
    db.pause_index_builds(true);
    db.add_index("c", "n").await.unwrap();
    db.replace("c", 5, doc(json!({"n": 5, "k": "new"})), W)
        .await
        .unwrap();
    let guard = no_fork().await;
    drop(db);
    let db = open(&config).await;
    drop(guard);
    assert_eq!(indexes_of(&db, "c"), (strings(&["k", "n"]), vec![]));
    assert_exact(&db, "c", "k");
    assert_exact(&db, "c", "n");
    db.close().await.unwrap();
}

/// Hints written before an index was added hold only the fields indexed then: the index is
/// built from the documents on open, not from them. Compaction keeps the index records.
#[tokio::test]
async fn indexes_added_after_hints_and_compaction_reopen_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.storage.segment_size_mb = 1;
    config.compaction.auto = false;
    let db = open_quiet(&config).await;
    db.create_collection("c", &strings(&["n"])).await.unwrap();
    let pad = "p".repeat(300);
    let docs: Vec<_> = (1..=6000u64)
        .map(|n| {
            let mut body = body(n, 0);
            body["pad"] = json!(pad);
            doc(body)
        })
        .collect();
    for chunk in docs.chunks(500) {
        db.insert_many("c", chunk.to_vec(), W).await.unwrap();
    }
    assert!(
        db.write_hints().await.unwrap() >= 1,
        "sealed segments get hints"
    );
    db.add_index("c", "k").await.unwrap();
    ready(&db, "c").await;
    let db = reopen_quiet(db, &config).await;
    assert_eq!(indexes_of(&db, "c"), (strings(&["k", "n"]), vec![]));
    assert_exact(&db, "c", "k");

    // Most documents deleted, the index dropped and added back, then compaction: the
    // index records survive it and replay as before.
    for n in (1..=6000u64).filter(|n| n % 4 != 0) {
        db.delete("c", n, W).await.unwrap();
    }
    db.drop_index("c", "n").await.unwrap();
    db.add_index("c", "round").await.unwrap();
    ready(&db, "c").await;
    let summary = db.compact().await.unwrap();
    assert!(summary.segments_rewritten >= 1, "{summary:?}");
    db.write_hints().await.unwrap();
    let db = reopen_quiet(db, &config).await;
    assert_eq!(indexes_of(&db, "c"), (strings(&["k", "round"]), vec![]));
    assert_exact(&db, "c", "k");
    assert_exact(&db, "c", "round");
    assert!(matches!(
        db.find("c", &[("n".to_string(), val(json!(4)))], None, 1),
        Err(DbError::NotIndexed { .. })
    ));
    db.close().await.unwrap();
}

async fn reopen_quiet(db: Database, config: &Config) -> Database {
    let _guard = no_fork().await;
    within("close", db.close()).await.expect("close");
    open_quiet(config).await
}

/// The newest segment file of `dir` and its length.
fn newest_segment(dir: &Path) -> (std::path::PathBuf, u64) {
    let mut segments: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segments.sort();
    let last = segments.pop().expect("a segment");
    let len = std::fs::metadata(&last).unwrap().len();
    (last, len)
}

/// A copy of the segments of `from` (no hints, no lock: what a crash leaves, as far as the
/// log goes) with the newest cut to `len` bytes.
fn crash_copy(from: &Path, to: &Path, len: u64) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
    let (newest, _) = newest_segment(to);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(newest)
        .unwrap();
    file.set_len(len).unwrap();
}

/// A crash at every byte of the add's record (and during its build): the database opens
/// with every document, and with the index ready and exact exactly when its record is whole.
#[tokio::test]
async fn an_add_cut_at_any_byte_opens_with_the_index_whole_or_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = open(&config).await;
    load(&db, "c", 400).await;
    db.flush().await.unwrap();
    let (_, before) = newest_segment(dir.path());
    db.pause_index_builds(true); // the crash comes while it builds
    db.add_index("c", "k").await.unwrap(); // sync = "always": on disk now
    let (_, after) = newest_segment(dir.path());
    assert!(after > before + 32, "one record: {before} to {after}");
    for cut in before..=after {
        let copy = tempfile::tempdir().unwrap();
        crash_copy(dir.path(), copy.path(), cut);
        let mut copy_config = config.clone();
        copy_config.storage.path = copy.path().to_path_buf();
        let reopened = open(&copy_config).await;
        let (indexes, building) = indexes_of(&reopened, "c");
        assert!(
            building.is_empty(),
            "cut at {cut}: every index is ready on open"
        );
        if cut == after {
            assert_eq!(indexes, strings(&["k"]), "cut at {cut}");
            assert_exact(&reopened, "c", "k");
        } else {
            assert!(indexes.is_empty(), "cut at {cut}: a torn add is no index");
        }
        assert_eq!(list_all(&reopened, "c", 1000).len(), 400, "cut at {cut}");
        let _guard = no_fork().await;
        reopened.close().await.unwrap();
    }
    db.pause_index_builds(false);
    db.close().await.unwrap();
}

async fn open_faulty(config: &Config) -> (Database, Arc<FaultInjector>) {
    let faults = Arc::new(FaultInjector::new());
    let options = OpenOptions {
        io: Arc::clone(&faults) as Arc<dyn nyro_storage::LogIo>,
        maintenance_interval: NO_MAINTENANCE,
        ..OpenOptions::default()
    };
    let db = within("open", Database::open_with(config, options))
        .await
        .unwrap();
    (db, faults)
}

/// The add's write fails: nothing of it stays (no index, now or after reopening), and a
/// later add succeeds. Its fdatasync fails: the database refuses writes, and after a
/// restart the index is there whole (its record was written) and exact.
#[tokio::test]
async fn an_add_whose_write_or_fdatasync_fails() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (db, faults) = open_faulty(&config).await;
    load(&db, "c", 300).await;
    faults.fail_writes(WriteFault::Fail(io::ErrorKind::StorageFull));
    let failed = db.add_index("c", "k").await;
    assert!(matches!(failed, Err(DbError::WriteFailed(_))), "{failed:?}");
    assert_eq!(indexes_of(&db, "c"), (vec![], vec![]));
    faults.clear();
    db.add_index("c", "k").await.unwrap();
    ready(&db, "c").await;
    assert_exact(&db, "c", "k");

    faults.fail_syncs(io::ErrorKind::Other);
    let failed = db.add_index("c", "n").await;
    assert!(
        matches!(failed, Err(DbError::Unavailable { .. })),
        "{failed:?}"
    );
    let refused = db.insert("c", doc(json!({"k": 1})), W).await;
    assert!(
        matches!(refused, Err(DbError::Unavailable { .. })),
        "{refused:?}"
    );
    let guard = no_fork().await;
    let _ = db.close().await;
    let db = open(&config).await;
    drop(guard);
    let (indexes, building) = indexes_of(&db, "c");
    assert!(building.is_empty());
    assert!(indexes.contains(&"k".to_string()), "{indexes:?}");
    assert_exact(&db, "c", "k");
    if indexes.contains(&"n".to_string()) {
        assert_exact(&db, "c", "n");
    }
    db.close().await.unwrap();
}
