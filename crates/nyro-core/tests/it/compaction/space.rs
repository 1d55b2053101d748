//! The space compaction gives back.

use serde_json::{Value as Json, json};

use super::{W, check_disk, unsynced_config};
use crate::common::*;
use crate::model_support::without_id;

fn sdoc(n: u64, v: u64) -> Json {
    json!({"n": n, "v": v, "text": format!("document number {n}, version {v}")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_compaction_disk_bytes_are_within_1_3_times_live_data() {
    const N: u64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let config = unsynced_config(dir.path());
    let db = open(&config).await;
    let ids: Vec<u64> = (1..=N).collect();
    for chunk in ids.chunks(1_000) {
        let docs = chunk.iter().map(|&n| doc(sdoc(n, 0))).collect();
        let many = db.insert_many("s", docs, W).await.unwrap();
        assert_eq!(many.ids, chunk);
    }
    // Each document replaced twice, by several writers at once (batches of many).
    for v in 1..=2u64 {
        let mut tasks = Vec::new();
        for t in 0..8u64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                for n in (1..=N).filter(|n| n % 8 == t) {
                    db.replace("s", n, doc(sdoc(n, v)), W).await.unwrap();
                }
            }));
        }
        for task in tasks {
            within("replace", task).await.unwrap();
        }
    }
    db.flush().await.unwrap();
    // Live data: the frames (32-byte header and stored payload) of the latest versions.
    let live: u64 = (1..=N)
        .map(|n| {
            let payload = nyro_core::fuzzing::encode_document(&doc(sdoc(n, 2)).fields).unwrap();
            (nyro_storage::HEADER_LEN + payload.len()) as u64
        })
        .sum();
    let before = db.stats();
    let summary = db.compact().await.unwrap();
    let after = db.stats();
    eprintln!(
        "space: {N} documents, live data {live} bytes; before compaction {} bytes on disk \
         ({:.2}x), after {} ({:.2}x) in {} segments; {} segments rewritten",
        before.disk_bytes,
        before.disk_bytes as f64 / live as f64,
        after.disk_bytes,
        after.disk_bytes as f64 / live as f64,
        after.segments,
        summary.segments_rewritten
    );
    assert!(before.disk_bytes as f64 > 2.5 * live as f64, "{before:?}");
    assert!(
        after.disk_bytes as f64 <= 1.3 * live as f64,
        "{} bytes on disk for {live} bytes of live data",
        after.disk_bytes
    );
    assert_eq!(after.dead_bytes, 0);
    assert!(after.live_bytes >= live, "{after:?}");
    check_disk(&db, dir.path(), "after compaction").await;
    for n in (1..=N).step_by(97) {
        assert!(without_id(&db.get("s", n).unwrap()) == sdoc(n, 2), "{n}");
    }
    assert_eq!(db.collections()[0].count, N);
    db.close().await.unwrap();
}
