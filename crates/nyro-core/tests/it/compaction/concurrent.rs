//! Reads while compaction runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use nyro_core::{Database, DbError, Document};
use serde_json::{Value as Json, json};

use super::{W, check_disk, compact_and_check_space, unsynced_config};
use crate::common::*;
use crate::model_support::without_id;

/// Version `v` of document `id` in the concurrent test: the content names both.
fn rdoc(id: u64, v: u64) -> Json {
    json!({"id": id, "v": v, "k": id % 4, "pad": format!("{id}-{v}-").repeat(150 + (id % 7) as usize * 20)})
}

/// Documents only ever replaced (always there), and documents also deleted and written again.
const STABLE: u64 = 200;
const CHURN: u64 = 60;

/// A read document is version `v` of `id` exactly, with `low <= v <= high`.
fn check_read(d: &Document, id: u64, low: u64, high: u64, what: &str) -> u64 {
    assert_eq!(d.id, Some(id), "{what}: wrong document");
    let json = without_id(d);
    let v = json["v"]
        .as_u64()
        .unwrap_or_else(|| panic!("{what}: {id} has no version"));
    assert!(
        json == rdoc(id, v),
        "{what}: {id} v{v} has the wrong content"
    );
    assert!(
        (low..=high).contains(&v),
        "{what}: {id} read as v{v}, acknowledged v{low}, newest written v{high}"
    );
    v
}

struct Versions {
    /// Per id: the newest version acknowledged (a read that starts later sees it or newer).
    acked: Vec<AtomicU64>,
    /// Per id: the newest version submitted (no read sees anything newer).
    issued: Vec<AtomicU64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_during_compaction_return_the_right_documents() {
    let dir = tempfile::tempdir().unwrap();
    let config = unsynced_config(dir.path());
    let db = open(&config).await;
    db.create_collection("r", &["k".to_string()]).await.unwrap();
    let all_ids: Vec<u64> = (1..=STABLE + CHURN).collect();
    for chunk in all_ids.chunks(50) {
        let docs = chunk
            .iter()
            .map(|&id| doc_with_id(rdoc(id, 0), Some(id)))
            .collect();
        db.insert_many("r", docs, W).await.unwrap();
    }
    let n = (STABLE + CHURN + 1) as usize;
    let versions = Arc::new(Versions {
        acked: (0..n).map(|_| AtomicU64::new(0)).collect(),
        issued: (0..n).map(|_| AtomicU64::new(0)).collect(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let run_for = Duration::from_secs(4);

    // Writers: two replace the stable documents round and round; one deletes and writes
    // the churn documents again.
    let mut writers = Vec::new();
    for t in 0..2u64 {
        let (db, versions, stop) = (db.clone(), Arc::clone(&versions), Arc::clone(&stop));
        writers.push(tokio::spawn(async move {
            let mut writes = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for id in (1..=STABLE).filter(|id| id % 2 == t) {
                    let v = versions.issued[id as usize].load(Ordering::SeqCst) + 1;
                    versions.issued[id as usize].store(v, Ordering::SeqCst);
                    db.replace("r", id, doc(rdoc(id, v)), W).await.unwrap();
                    versions.acked[id as usize].store(v, Ordering::SeqCst);
                    writes += 1;
                }
            }
            writes
        }));
    }
    {
        let (db, versions, stop) = (db.clone(), Arc::clone(&versions), Arc::clone(&stop));
        writers.push(tokio::spawn(async move {
            let mut writes = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for id in STABLE + 1..=STABLE + CHURN {
                    db.delete("r", id, W).await.unwrap();
                    let v = versions.issued[id as usize].load(Ordering::SeqCst) + 1;
                    versions.issued[id as usize].store(v, Ordering::SeqCst);
                    let d = doc_with_id(rdoc(id, v), Some(id));
                    db.insert("r", d, W).await.unwrap();
                    writes += 2;
                }
            }
            writes
        }));
    }
    // Compaction, over and over.
    let compactor = {
        let (db, stop) = (db.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let (mut passes, mut rewritten) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let summary = db.compact().await.expect("compaction during reads");
                passes += 1;
                rewritten += summary.segments_rewritten as u64;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (passes, rewritten)
        })
    };
    // Readers: get, list and find, checking every document they see.
    let mut readers = Vec::new();
    for r in 0..3u64 {
        let (db, versions, stop) = (db.clone(), Arc::clone(&versions), Arc::clone(&stop));
        readers.push(tokio::task::spawn_blocking(move || {
            let mut seen = vec![0u64; n]; // per stable id: newest version this reader saw
            let mut reads = 0u64;
            let mut i = r;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let id = 1 + (i * 7919) % (STABLE + CHURN);
                let low = versions.acked[id as usize].load(Ordering::SeqCst);
                let got = db.get("r", id);
                let high = versions.issued[id as usize].load(Ordering::SeqCst);
                match got {
                    Ok(d) if id <= STABLE => {
                        let v = check_read(&d, id, low.max(seen[id as usize]), high, "get");
                        seen[id as usize] = v;
                    }
                    Ok(d) => {
                        check_read(&d, id, 0, high, "get");
                    }
                    Err(DbError::NotFound { .. }) if id > STABLE => {}
                    Err(e) => panic!("get {id}: {e}"),
                }
                reads += 1;
                if i % 64 == 0 {
                    let lows: Vec<u64> = (0..n)
                        .map(|id| versions.acked[id].load(Ordering::SeqCst))
                        .collect();
                    let all = list_all(&db, "r", 75);
                    let highs: Vec<u64> = (0..n)
                        .map(|id| versions.issued[id].load(Ordering::SeqCst))
                        .collect();
                    let listed: Vec<u64> = all.iter().map(|d| d.id.unwrap()).collect();
                    let stable: Vec<u64> =
                        listed.iter().copied().filter(|&id| id <= STABLE).collect();
                    assert_eq!(
                        stable,
                        (1..=STABLE).collect::<Vec<_>>(),
                        "list misses documents"
                    );
                    for d in &all {
                        let id = d.id.unwrap() as usize;
                        let low = if id as u64 <= STABLE { lows[id] } else { 0 };
                        check_read(d, id as u64, low, highs[id], "list");
                    }
                    reads += all.len() as u64;
                }
                if i % 16 == 0 {
                    let k = i % 4;
                    let page = db
                        .find("r", &cond(&[("k", json!(k))]), None, 1_000)
                        .expect("find");
                    let found: Vec<u64> = page.records.iter().map(|d| d.id.unwrap()).collect();
                    let want: Vec<u64> = (1..=STABLE).filter(|id| id % 4 == k).collect();
                    let stable: Vec<u64> =
                        found.iter().copied().filter(|&id| id <= STABLE).collect();
                    assert_eq!(stable, want, "find k={k}");
                    for d in &page.records {
                        let id = d.id.unwrap();
                        assert_eq!(id % 4, k, "find k={k} returned {id}");
                        check_read(d, id, 0, u64::MAX, "find");
                    }
                    reads += page.records.len() as u64;
                }
            }
            reads
        }));
    }

    tokio::time::sleep(run_for).await;
    stop.store(true, Ordering::Relaxed);
    let mut writes = 0;
    for w in writers {
        writes += within("writer", w).await.unwrap();
    }
    let (passes, rewritten) = within("compactor", compactor).await.unwrap();
    let mut reads = 0;
    for r in readers {
        reads += within("reader", r).await.unwrap();
    }
    eprintln!(
        "reads during compaction: {reads} documents read, {writes} writes, {passes} \
         compactions rewriting {rewritten} segments in {run_for:?}"
    );
    assert!(
        rewritten >= 5,
        "compaction hardly ran: {passes} passes, {rewritten} segments"
    );
    assert!(reads >= 1_000, "{reads} reads");

    // In the end every document is its last version, also after a compaction and a reopen.
    let check_final = |db: &Database, what: &str| {
        for id in 1..=STABLE + CHURN {
            let v = versions.issued[id as usize].load(Ordering::SeqCst);
            let d = db.get("r", id).unwrap();
            check_read(&d, id, v, v, what);
        }
        assert_eq!(
            list_all(db, "r", 500).len() as u64,
            STABLE + CHURN,
            "{what}"
        );
    };
    check_final(&db, "after the run");
    compact_and_check_space(&db, dir.path(), "after the run").await;
    check_final(&db, "after the last compaction");
    let db = reopen(db, &config).await;
    check_final(&db, "after the reopen");
    check_disk(&db, dir.path(), "after the reopen").await;
    db.close().await.unwrap();
}
