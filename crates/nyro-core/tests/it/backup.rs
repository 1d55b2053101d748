//! Online backup under concurrent writes, restore, and damaged backups.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nyro_core::{Database, DbError, MANIFEST_FILE, WriteOptions};
use serde_json::json;

use crate::common::{config, doc, no_fork, open, within};

const WRITERS: u64 = 4;
const IDS_PER_WRITER: u64 = 4_000;

/// What one id went through, as its writer saw it.
#[derive(Debug, Default)]
struct IdHistory {
    /// The last write acknowledged before the backup was called: `Some(v)` for a document
    /// with `"v": v`, `None` for deleted (or never written).
    before: Option<u64>,
    /// Values written (or `None`: deleted) by writes not acknowledged before the call.
    during: Vec<Option<u64>>,
}

/// One writer task: writes and deletes ids of its own range until `stop`, recording for
/// each id what was acknowledged before `started` was set.
async fn writer(
    db: Database,
    task: u64,
    started: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> HashMap<u64, IdHistory> {
    let mut histories: HashMap<u64, IdHistory> = HashMap::new();
    let mut live: HashMap<u64, u64> = HashMap::new();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (task + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut value = 0u64;
    while !stop.load(Ordering::Acquire) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let id = 1 + task * IDS_PER_WRITER + rng % IDS_PER_WRITER;
        value += 1;
        let delete = rng.is_multiple_of(5) && live.contains_key(&id);
        let outcome = if delete {
            db.delete("c", id, WriteOptions::default())
                .await
                .map(|_| None)
        } else {
            let d = doc(json!({"v": value, "t": task, "pad": "x".repeat((rng % 200) as usize)}));
            db.replace("c", id, d, WriteOptions::default())
                .await
                .map(|_| Some(value))
        };
        let acked_before = !started.load(Ordering::Acquire);
        let history = histories.entry(id).or_default();
        match outcome {
            Ok(state) => {
                match state {
                    Some(v) => live.insert(id, v),
                    None => live.remove(&id),
                };
                if acked_before {
                    history.before = state;
                } else {
                    history.during.push(state);
                }
            }
            Err(DbError::Overloaded { .. }) => tokio::task::yield_now().await,
            Err(e) => panic!("writer {task}: write of id {id} failed: {e}"),
        }
    }
    histories
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_concurrent_writes_restores_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cfg = config(&data);
    cfg.batch.sync = nyro_core::SyncPolicy::Never;
    cfg.storage.segment_size_mb = 1; // several segments
    let db = open(&cfg).await;
    db.create_collection("c", &["t".to_string()]).await.unwrap();

    let started = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|task| {
            tokio::spawn(writer(
                db.clone(),
                task,
                Arc::clone(&started),
                Arc::clone(&stop),
            ))
        })
        .collect();
    // Let them write a few segments' worth.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    // A compaction racing with the backup must wait for it, not rewrite what it links.
    let compactor = {
        let db = db.clone();
        tokio::spawn(async move { db.compact().await })
    };
    started.store(true, Ordering::Release);
    let backup_dir = dir.path().join("backup");
    let manifest = within("backup", db.backup(&backup_dir)).await.unwrap();
    stop.store(true, Ordering::Release);
    let mut histories = HashMap::new();
    for task in tasks {
        histories.extend(within("a writer", task).await.unwrap());
    }
    within("compaction", compactor).await.unwrap().unwrap();
    assert!(!manifest.files.is_empty());
    assert!(manifest.last_seq > 0);
    assert!(backup_dir.join(MANIFEST_FILE).exists());

    // Writes go on after the backup; the backup does not change.
    db.replace(
        "c",
        1,
        doc(json!({"v": 0, "t": 0})),
        WriteOptions::default(),
    )
    .await
    .unwrap();
    let _guard = no_fork().await;
    within("close", db.close()).await.unwrap();

    let restored = dir.path().join("restored");
    let checked = nyro_core::restore(&backup_dir, &restored).unwrap();
    assert_eq!(checked, manifest);
    let report = nyro_storage::verify(&restored).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert!(report.problems.is_empty(), "{report:?}");

    let db = open(&config(&restored)).await;
    assert!(db.recovery().torn_tail.is_none());
    let (mut exact, mut during) = (0, 0);
    for (id, history) in &histories {
        let found = match db.get("c", *id) {
            Ok(d) => Some(d.to_json()["v"].as_u64().unwrap()),
            Err(DbError::NotFound { .. }) => None,
            Err(e) => panic!("get {id}: {e}"),
        };
        if history.during.is_empty() {
            assert_eq!(found, history.before, "id {id}: {history:?}");
            exact += 1;
        } else {
            // Written during the backup: the state before or one of the later ones.
            assert!(
                found == history.before || history.during.contains(&found),
                "id {id}: found {found:?}, history {history:?}"
            );
            during += 1;
        }
    }
    assert!(exact > 0, "no id was left alone during the backup");
    eprintln!("{exact} ids checked exactly, {during} written during the backup");
    // A restored database takes writes.
    db.replace("c", 9_999, doc(json!({"v": 1})), WriteOptions::default())
        .await
        .unwrap();
    within("close", db.close()).await.unwrap();
}

async fn small_backup(root: &std::path::Path) -> std::path::PathBuf {
    let data = root.join("data");
    let db = open(&config(&data)).await;
    db.create_collection("c", &[]).await.unwrap();
    for i in 0..20 {
        db.insert("c", doc(json!({"i": i})), WriteOptions::default())
            .await
            .unwrap();
    }
    let backup = root.join("backup");
    db.backup(&backup).await.unwrap();
    // A second backup into the same (now non-empty) directory is refused.
    assert!(matches!(
        db.backup(&backup).await,
        Err(DbError::Invalid { .. })
    ));
    let _guard = no_fork().await;
    within("close", db.close()).await.unwrap();
    backup
}

#[tokio::test]
async fn restore_refuses_a_flipped_byte_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let backup = small_backup(dir.path()).await;
    let manifest = nyro_core::check_backup(&backup).unwrap();
    let name = &manifest.files[0].name;
    let path = backup.join(name);
    // Break the hard link first so that the flip does not reach the live data.
    let mut bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let target = dir.path().join("restored");
    let err = nyro_core::restore(&backup, &target).unwrap_err();
    assert!(matches!(err, DbError::DamagedBackup { .. }), "{err}");
    assert!(err.to_string().contains(name.as_str()), "{err}");
    assert!(
        !target.join(name).exists(),
        "nothing is restored from a damaged backup"
    );
}

#[tokio::test]
async fn restore_refuses_a_missing_file_and_a_non_empty_target() {
    let dir = tempfile::tempdir().unwrap();
    let backup = small_backup(dir.path()).await;
    // Into a non-empty directory: refused.
    let err = nyro_core::restore(&backup, &dir.path().join("data")).unwrap_err();
    assert!(matches!(err, DbError::Invalid { .. }), "{err}");

    let manifest = nyro_core::check_backup(&backup).unwrap();
    let name = &manifest.files[manifest.files.len() - 1].name;
    std::fs::remove_file(backup.join(name)).unwrap();
    let err = nyro_core::restore(&backup, &dir.path().join("restored")).unwrap_err();
    assert!(matches!(err, DbError::DamagedBackup { .. }), "{err}");
    assert!(err.to_string().contains(name.as_str()), "{err}");

    std::fs::remove_file(backup.join(MANIFEST_FILE)).unwrap();
    let err = nyro_core::restore(&backup, &dir.path().join("restored")).unwrap_err();
    assert!(err.to_string().contains(MANIFEST_FILE), "{err}");
}
