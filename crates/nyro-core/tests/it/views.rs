//! Borrowed reads: `get_with`, `scan_with`, `list_with` and `find_with` hand out views of
//! the stored documents that agree with the owned reads, and a scan keeps its promises
//! under concurrent writes.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use nyro_core::{DOCUMENTS_CHUNK, DbError, DocumentView, WriteOptions};
use serde_json::json;
use tokio::sync::watch;

use crate::common::*;

/// The JSON the view writes for a document.
fn json_of(view: DocumentView<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    view.write_json(&mut out);
    out
}

#[tokio::test]
async fn get_with_reads_what_get_reads() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&config(dir.path())).await;
    let id = insert(
        &db,
        "users",
        json!({"name": "Ada", "age": 36, "address": {"city": "London", "zip": "N1"}, "tags": ["a", "b"]}),
    )
    .await;
    let (name, city, tags) = db
        .get_with("users", id, |view| {
            (
                view.get("name")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
                view.get_path(&["address", "city"])
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
                view.get("tags").and_then(|v| v.as_array()).map(|a| a.len()),
            )
        })
        .unwrap();
    assert_eq!(name.as_deref(), Some("Ada"));
    assert_eq!(city.as_deref(), Some("London"));
    assert_eq!(tags, Some(2));
    let owned = db.get("users", id).unwrap();
    assert_eq!(
        db.get_with("users", id, |v| v.to_document()).unwrap(),
        owned
    );
    assert_eq!(
        db.get_with("users", id, json_of).unwrap(),
        serde_json::to_vec(&owned.to_json()).unwrap()
    );
    assert!(matches!(
        db.get_with("users", id + 1, |_| ()),
        Err(DbError::NotFound { id: missing, .. }) if missing == id + 1
    ));
    assert!(matches!(
        db.get_with("nobody", id, |_| ()),
        Err(DbError::CollectionNotFound { .. })
    ));
    assert!(matches!(
        db.get_with("no/pe", id, |_| ()),
        Err(DbError::InvalidName { .. })
    ));
    db.close().await.unwrap();
}

#[tokio::test]
async fn scan_with_visits_every_document_once_in_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&config(dir.path())).await;
    let n = 2 * DOCUMENTS_CHUNK as u64 + 100;
    let docs = (0..n).map(|i| doc(numbered(i))).collect();
    let ids = db
        .insert_many("c", docs, WriteOptions::default())
        .await
        .unwrap()
        .ids;
    // Deleted documents are not visited.
    for &id in ids.iter().step_by(7) {
        db.delete("c", id, WriteOptions::default()).await.unwrap();
    }
    let mut seen = Vec::new();
    let end = db
        .scan_with("c", None, |view| {
            seen.push((view.id(), view.get("n").and_then(|v| v.as_u64())));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(end, None);
    let expected: Vec<_> = db
        .documents("c")
        .unwrap()
        .map(|d| {
            let d = d.unwrap();
            (d.id.unwrap(), d.get("n").and_then(|v| v.to_json().as_u64()))
        })
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(seen.len() as u64, n - n.div_ceil(7));

    // Stopped and resumed: the same documents, none twice.
    let stop_at = seen[DOCUMENTS_CHUNK + 3].0;
    let mut first = Vec::new();
    let stopped = db
        .scan_with("c", None, |view| {
            first.push(view.id());
            if view.id() == stop_at {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(stopped, Some(stop_at));
    let mut rest = Vec::new();
    let end = db
        .scan_with("c", stopped, |view| {
            rest.push(view.id());
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(end, None);
    first.extend(rest);
    assert_eq!(first, seen.iter().map(|(id, _)| *id).collect::<Vec<_>>());

    // An empty collection; a missing one.
    db.create_collection("empty", &[]).await.unwrap();
    assert_eq!(
        db.scan_with("empty", None, |_| panic!("no document"))
            .unwrap(),
        None
    );
    assert!(matches!(
        db.scan_with("nobody", None, |_| ControlFlow::Continue(())),
        Err(DbError::CollectionNotFound { .. })
    ));
    db.close().await.unwrap();
}

#[tokio::test]
async fn list_with_and_find_with_page_as_list_and_find() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&config(dir.path())).await;
    db.create_collection("c", &["city".to_string()])
        .await
        .unwrap();
    for i in 0..25u64 {
        let city = if i % 3 == 0 { "Paris" } else { "Rome" };
        insert(&db, "c", json!({"i": i, "city": city, "x": 1.5})).await;
    }
    let paris = cond(&[("city", json!("Paris"))]);
    for (after, limit) in [
        (None, 1),
        (None, 10),
        (Some(4), 7),
        (Some(24), 3),
        (None, 100),
    ] {
        let page = db.list("c", after, limit).unwrap();
        let mut json = Vec::new();
        let next = db
            .list_with("c", after, limit, |view| json.push(json_of(view)))
            .unwrap();
        assert_eq!(next, page.next);
        let expected: Vec<_> = page
            .records
            .iter()
            .map(|d| serde_json::to_vec(&d.to_json()).unwrap())
            .collect();
        assert_eq!(json, expected);

        let page = db.find("c", &paris, after, limit).unwrap();
        let mut found = Vec::new();
        let next = db
            .find_with("c", &paris, after, limit, |view| found.push(view.id()))
            .unwrap();
        assert_eq!(next, page.next);
        assert_eq!(found, ids(&page));
    }
    assert!(db.list_with("c", None, 0, |_| ()).is_err());
    assert!(matches!(
        db.find_with("c", &cond(&[("i", json!(1))]), None, 5, |_| ()),
        Err(DbError::NotIndexed { .. })
    ));
    db.close().await.unwrap();
}

/// Documents per bulk in the test below.
const GROUP: u64 = 5;

/// Scans taken while bulks are written and single documents deleted never visit a
/// document twice or out of order, and see each bulk whole or not at all.
/// Inserts enough documents into `c` that a scan takes several chunks (`make(i)` for
/// the i-th); returns their ids.
async fn seed(db: &nyro_core::Database, make: impl Fn(u64) -> serde_json::Value) -> Vec<u64> {
    let docs = (0..3 * DOCUMENTS_CHUNK as u64)
        .map(|i| doc(make(i)))
        .collect();
    db.insert_many("c", docs, WriteOptions::default())
        .await
        .unwrap()
        .ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scans_under_concurrent_writes_are_ordered_and_never_show_part_of_a_bulk() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&config(dir.path())).await;
    let seeded = seed(&db, |i| json!({"seed": i})).await;
    let (done_tx, done) = watch::channel(false);
    let scanner = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut scans = 0u64;
            while !*done.borrow() || scans < 3 {
                let mut last = None;
                let mut groups: BTreeMap<i64, u64> = BTreeMap::new();
                db.scan_with("c", None, |view| {
                    assert!(last < Some(view.id()), "{:?} then {}", last, view.id());
                    last = Some(view.id());
                    if let Some(g) = view.get("g").and_then(|v| v.as_i64()) {
                        *groups.entry(g).or_default() += 1;
                    }
                    ControlFlow::Continue(())
                })
                .unwrap();
                for (g, count) in groups {
                    assert_eq!(count, GROUP, "a scan shows part of bulk {g}");
                }
                scans += 1;
                tokio::task::yield_now().await;
            }
            scans
        })
    };
    for g in 0..60i64 {
        let docs = (0..GROUP).map(|n| doc(json!({"g": g, "n": n}))).collect();
        db.insert_many("c", docs, WriteOptions::default())
            .await
            .unwrap();
        let victim = seeded[(g as usize * 37) % seeded.len()];
        let _ = db.delete("c", victim, WriteOptions::default()).await;
    }
    done_tx.send(true).unwrap();
    assert!(within("scanner", scanner).await.unwrap() >= 3);
    db.close().await.unwrap();
}

/// Scans while documents are replaced (moving them to the end of the log) and compaction
/// rewrites the segments under the scan: each scan is in ascending id order, never shows a
/// document twice and shows every document (none is deleted), each in a version that was
/// written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_during_replaces_and_compaction_see_each_document_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.storage.segment_size_mb = 1;
    config.compaction.auto = false;
    config.batch.sync = nyro_core::SyncPolicy::Never;
    let db = open_quiet(&config).await;
    let pad = "p".repeat(300);
    let ids = seed(&db, |i| json!({"v": 0, "i": i, "pad": pad})).await;
    let (done_tx, done) = watch::channel(false);
    let scanner = {
        let db = db.clone();
        let ids = ids.clone();
        tokio::task::spawn_blocking(move || {
            let mut scans = 0u64;
            while !*done.borrow() || scans < 3 {
                let mut seen = Vec::with_capacity(ids.len());
                db.scan_with("c", None, |view| {
                    assert!(view.get("v").and_then(|v| v.as_i64()).is_some());
                    seen.push(view.id());
                    ControlFlow::Continue(())
                })
                .unwrap();
                assert_eq!(
                    seen, ids,
                    "scan {scans}: ascending, each id once, none missed"
                );
                scans += 1;
            }
            scans
        })
    };
    let mut rewritten = 0;
    for round in 1..=6i64 {
        for chunk in ids.chunks(256) {
            let docs = chunk
                .iter()
                .map(|&i| doc(json!({"_id": i, "v": round, "pad": pad})))
                .collect();
            db.replace_many("c", docs, WriteOptions::default())
                .await
                .unwrap();
        }
        rewritten += db.compact().await.unwrap().segments_rewritten;
    }
    done_tx.send(true).unwrap();
    assert!(within("scanner", scanner).await.unwrap() >= 3);
    assert!(rewritten > 0, "compaction rewrote segments under the scans");
    db.close().await.unwrap();
}
