//! The background compactor.

use std::time::{Duration, Instant};

use nyro_core::{Database, OpenOptions};

use super::dataset::kp_doc;
use super::{MARKER_ALLOWANCE, W, check_disk, unsynced_config};
use crate::common::*;
use crate::model_support::without_id;

/// The data is written with the background compactor off and measured; then the database is
/// reopened with it on, waking every 50 ms, so nothing depends on how long the writes take
/// (under load they can take longer than the default 10 s interval).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_compaction_reclaims_a_mostly_dead_segment() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut config = unsynced_config(dir.path());
    config.compaction.min_dead_ratio = 0.1;
    assert!(!config.compaction.auto);
    let db = open(&config).await;
    // 300 documents of 4 KB fill the first 1 MB segment (sealed) and part of the next.
    let ids: Vec<u64> = (1..=300).collect();
    for chunk in ids.chunks(50) {
        let docs = chunk
            .iter()
            .map(|&id| doc_with_id(kp_doc("bg", id, 0), Some(id)))
            .collect();
        db.insert_many("bg", docs, W).await.unwrap();
    }
    // Replacing the first 250 leaves the first segment almost all dead.
    for id in 1..=250 {
        db.replace("bg", id, doc(kp_doc("bg", id, 1)), W)
            .await
            .unwrap();
    }
    db.flush().await.unwrap();
    let before = db.stats();
    assert!(before.dead_bytes > 900_000, "{before:?}");
    assert!(before.segments >= 2, "{before:?}");

    config.compaction.auto = true;
    let _guard = no_fork().await;
    within("close", db.close()).await.unwrap();
    let options = OpenOptions {
        maintenance_interval: Duration::from_millis(50),
        ..OpenOptions::default()
    };
    let db = within("open", Database::open_with(&config, options))
        .await
        .unwrap();
    drop(_guard);

    let deadline = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let stats = db.stats();
        if stats.dead_bytes == 0 {
            break stats;
        }
        assert!(
            Instant::now() < deadline,
            "the background compactor did not reclaim {} dead bytes within 60 s: {stats:?}",
            before.dead_bytes
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        after.disk_bytes + before.dead_bytes <= before.disk_bytes + 4 * MARKER_ALLOWANCE,
        "{before:?} -> {after:?}"
    );
    let waited = started.elapsed();
    let check = |db: &Database, what: &str| {
        for id in 1..=300u64 {
            let v = u64::from(id <= 250);
            let d = db.get("bg", id).unwrap();
            assert!(without_id(&d) == kp_doc("bg", id, v), "{what}: {id}");
        }
        assert_eq!(list_all(db, "bg", 1_000).len(), 300, "{what}");
    };
    check(&db, "after the background compaction");
    check_disk(&db, dir.path(), "after the background compaction").await;
    let db = reopen(db, &config).await;
    check(&db, "after the reopen");
    check_disk(&db, dir.path(), "after the reopen").await;
    db.close().await.unwrap();
    eprintln!("background compaction: reclaimed after {waited:?}");
}
