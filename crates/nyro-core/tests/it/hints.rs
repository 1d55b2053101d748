//! Hint files: a database reopened from its hints holds exactly what a reopen that scans
//! every segment holds (documents, secondary indexes, counters), and a hint that is damaged,
//! cut short, stale or missing is ignored (the segment is scanned instead).

use std::path::{Path, PathBuf};

use nyro_core::{Config, Database, WriteOptions};
use serde_json::json;

use crate::common::{cond, config, doc, find_all, list_all, no_fork, open, open_quiet, within};

/// A database over several sealed segments (1 MB each) with inserts, replaces, deletes, a
/// dropped collection and a collection without indexes. Every open in these tests is
/// without background maintenance, so the hints on disk are exactly those the test wrote.
async fn build(dir: &Path) -> Config {
    let mut config = config(dir);
    config.storage.segment_size_mb = 1;
    config.compaction.auto = false;
    let db = open_quiet(&config).await;
    db.create_collection("people", &["city".to_string(), "age".to_string()])
        .await
        .unwrap();
    let filler = "x".repeat(2_000);
    for i in 0..1_500u64 {
        let city = ["Oslo", "Lima", "Pune"][(i % 3) as usize];
        let d = doc(json!({"_id": i + 1, "city": city, "age": i % 50, "pad": filler}));
        db.insert("people", d, WriteOptions::default())
            .await
            .unwrap();
        db.insert("plain", doc(json!({"n": i})), WriteOptions::default())
            .await
            .unwrap();
        db.insert("gone", doc(json!({"n": i})), WriteOptions::default())
            .await
            .unwrap();
    }
    for i in (1..=1_500u64).step_by(7) {
        let d = doc(json!({"city": "Rome", "age": 99, "pad": "replaced"}));
        db.replace("people", i, d, WriteOptions::default())
            .await
            .unwrap();
    }
    for i in (2..=1_500u64).step_by(11) {
        db.delete("people", i, WriteOptions::default())
            .await
            .unwrap();
    }
    db.drop_collection("gone").await.unwrap();
    let written = db.write_hints().await.unwrap();
    assert!(written >= 3, "hints for the sealed segments: {written}");
    let _guard = no_fork().await;
    within("close", db.close()).await.unwrap();
    config
}

/// Everything a reopen must agree on.
fn state(db: &Database) -> serde_json::Value {
    let people: Vec<_> = list_all(db, "people", 500)
        .iter()
        .map(|d| d.to_json())
        .collect();
    let plain = list_all(db, "plain", 500).len();
    let mut finds = Vec::new();
    for city in ["Oslo", "Lima", "Pune", "Rome"] {
        finds.push(find_all(db, "people", &cond(&[("city", json!(city))]), 300));
    }
    finds.push(find_all(db, "people", &cond(&[("age", json!(99))]), 300));
    let names: Vec<_> = db
        .collections()
        .into_iter()
        .map(|c| (c.name, c.count))
        .collect();
    json!({
        "people": people, "plain": plain, "finds": format!("{finds:?}"),
        "collections": format!("{names:?}"), "last_seq": db.stats().last_seq,
    })
}

fn hint_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hint"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_from_hints_equals_reopen_by_scanning() {
    let dir = tempfile::tempdir().unwrap();
    let config = build(dir.path()).await;
    let hints = hint_files(dir.path());
    assert!(hints.len() >= 3);

    let db = open_quiet(&config).await;
    assert_eq!(
        db.recovery().hinted_segments,
        hints.len(),
        "every hint was used"
    );
    let from_hints = state(&db);
    // New writes after a hinted reopen get fresh ids and seqs.
    let next = db
        .insert(
            "people",
            doc(json!({"city": "Oslo"})),
            WriteOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(next.id, 1_501);
    let _guard = no_fork().await;
    within("close", db.close()).await.unwrap();
    drop(_guard);

    // Without hints: the same state.
    for hint in &hints {
        std::fs::remove_file(hint).unwrap();
    }
    let db = open_quiet(&config).await;
    assert_eq!(db.recovery().hinted_segments, 0);
    let mut scanned = state(&db);
    // The scanned state has the extra document; take it back out for the comparison.
    db.delete("people", next.id, WriteOptions::default())
        .await
        .unwrap();
    scanned = {
        let mut s = state(&db);
        s["last_seq"] = scanned["last_seq"].clone();
        s
    };
    let mut expected = from_hints.clone();
    expected["last_seq"] = scanned["last_seq"].clone();
    assert_eq!(scanned, expected);
    within("close", db.close()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_stale_or_missing_hints_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let config = build(dir.path()).await;
    let baseline = {
        let db = open_quiet(&config).await;
        let s = state(&db);
        let _guard = no_fork().await;
        within("close", db.close()).await.unwrap();
        s
    };
    let hints = hint_files(dir.path());
    let originals: Vec<Vec<u8>> = hints.iter().map(|h| std::fs::read(h).unwrap()).collect();
    type Damage = fn(&mut Vec<u8>);
    let damages: [(&str, Damage); 5] = [
        ("a flipped byte in an entry", |b| {
            let at = b.len() / 2;
            b[at] ^= 0x40;
        }),
        ("a flipped byte in the header", |b| b[14] ^= 1),
        ("cut short at half", |b| b.truncate(b.len() / 2)),
        ("the end frame cut off", |b| b.truncate(b.len() - 44)),
        ("empty", |b| b.clear()),
    ];
    for (what, damage) in damages {
        for (hint, original) in hints.iter().zip(&originals) {
            let mut bytes = original.clone();
            damage(&mut bytes);
            std::fs::write(hint, &bytes).unwrap();
        }
        let db = open_quiet(&config).await;
        assert_eq!(
            db.recovery().hinted_segments,
            0,
            "{what}: no damaged hint is used"
        );
        assert_eq!(
            state(&db),
            baseline,
            "{what}: the segments were scanned instead"
        );
        let _guard = no_fork().await;
        within("close", db.close()).await.unwrap();
    }
    // A hint of another segment (stale) is not used either.
    if hints.len() >= 2 {
        std::fs::write(&hints[0], &originals[1]).unwrap();
        std::fs::write(&hints[1], &originals[0]).unwrap();
        let db = open_quiet(&config).await;
        assert_eq!(db.recovery().hinted_segments, 0, "swapped hints");
        assert_eq!(state(&db), baseline);
        let _guard = no_fork().await;
        within("close", db.close()).await.unwrap();
    }
    // Good hints back: used again.
    for (hint, original) in hints.iter().zip(&originals) {
        std::fs::write(hint, original).unwrap();
    }
    let db = open_quiet(&config).await;
    assert_eq!(db.recovery().hinted_segments, hints.len());
    assert_eq!(state(&db), baseline);
    within("close", db.close()).await.unwrap();
}

/// `close` waits for a maintenance pass it interrupts: the directory is free the moment it
/// returns, even when the background thread was writing a hint just then. (Each round
/// seals a segment, so a maintenance thread woken every 2 ms is busy with its hint.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_waits_for_a_running_maintenance_pass() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.storage.segment_size_mb = 1;
    let options = || nyro_core::OpenOptions {
        maintenance_interval: std::time::Duration::from_millis(2),
        ..nyro_core::OpenOptions::default()
    };
    let filler = "y".repeat(4_000);
    for round in 0..30u64 {
        let db = within("open", Database::open_with(&config, options()))
            .await
            .unwrap_or_else(|e| panic!("round {round}: open right after close failed: {e}"));
        let docs = (0..300u64)
            .map(|i| doc(json!({"round": round, "i": i, "pad": filler})))
            .collect();
        db.insert_many("bulk", docs, WriteOptions::default())
            .await
            .unwrap();
        let _guard = no_fork().await;
        within("close", db.close()).await.unwrap();
    }
    let db = open(&config).await;
    assert_eq!(db.collections()[0].count, 9_000);
    within("close", db.close()).await.unwrap();
}

/// A sealed segment hinted after its collection was dropped: the collection is in the
/// catalog again when replay reaches its puts (the drop comes later in the log), so they
/// must still replay, indexed fields included.
#[tokio::test]
async fn puts_of_an_indexed_collection_dropped_before_its_hint_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.storage.segment_size_mb = 1;
    config.compaction.auto = false;
    let db = open_quiet(&config).await;
    db.create_collection("gone", &["n".to_string()])
        .await
        .unwrap();
    let filler = "x".repeat(2_000);
    for n in 0..700u64 {
        let d = doc(json!({"n": n, "pad": filler}));
        db.insert("gone", d, WriteOptions::default()).await.unwrap();
    }
    db.drop_collection("gone").await.unwrap();
    db.insert("kept", doc(json!({"n": 1})), WriteOptions::default())
        .await
        .unwrap();
    assert!(db.write_hints().await.unwrap() >= 1);
    let _guard = no_fork().await;
    within("close", db.close()).await.unwrap();
    let db = open_quiet(&config).await;
    let names: Vec<_> = db.collections().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["kept"]);
    within("close", db.close()).await.unwrap();
}
