//! Compaction and hint writing whose file effects fail (through the storage crate's
//! injector): a failed creation, write, fdatasync, rename or directory fsync of a compacted
//! segment, a failed removal of the retired one, a failed hint: the compaction (or hint)
//! fails, readers see the same data, writes go on, and a reopen after a crash agrees with
//! the model. A failed fdatasync of the active segment before a compaction commits poisons
//! the database: writes answer `unavailable`, reads go on, a restart recovers.

use std::io::ErrorKind;
use std::sync::Arc;

use nyro_core::{Config, Database, DbError};
use nyro_storage::{Effect, Fault, FaultInjector, LogIo};

use super::dataset::{check_dataset, check_next_id_and_seq, dataset_model, write_dataset};
use super::{W, check_disk, open_io, unsynced_config};
use crate::common::*;
use crate::model_support::Model;

/// A database holding the fixed dataset, with every segment sealed (so that a compaction
/// seals nothing and its first directory fsync is the one after its first rename).
async fn dataset_db(dir: &std::path::Path) -> (Config, Database, Arc<FaultInjector>, Model) {
    let config = unsynced_config(dir);
    let io = Arc::new(FaultInjector::new());
    let db = open_io(&config, Arc::clone(&io) as Arc<dyn LogIo>).await;
    within("write the dataset", write_dataset(&db)).await;
    let backup = tempfile::tempdir().unwrap();
    within("seal", db.backup(&backup.path().join("b")))
        .await
        .unwrap();
    let model = dataset_model();
    check_dataset(&db, &model, "written");
    (config, db, io, model)
}

/// A write that leaves the model as it is: `k/1` replaced by its own content.
async fn rewrite_one(db: &Database, model: &Model) -> nyro_core::Result<()> {
    let same = model.docs[&("k".to_string(), 1)].clone();
    db.replace("k", 1, doc(same), W).await.map(drop)
}

/// The crash (no close), then a reopen that must agree with the model and take writes.
async fn crash_and_check(
    db: Database,
    config: &Config,
    dir: &std::path::Path,
    model: &Model,
    what: &str,
) {
    let last_seq = db.stats().last_seq;
    let guard = no_fork().await;
    drop(db);
    let db = within("open", Database::open(config))
        .await
        .unwrap_or_else(|e| panic!("{what}: reopening failed: {e}"));
    drop(guard);
    check_disk(&db, dir, what).await;
    check_dataset(&db, model, what);
    assert_eq!(db.stats().poisoned, None, "{what}");
    within(what, db.compact())
        .await
        .expect("a compaction after the reopen");
    check_dataset(&db, model, what);
    check_next_id_and_seq(&db, last_seq, what).await;
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_whose_file_effect_fails_changes_nothing_and_writes_go_on() {
    for fault in [
        Fault::new(Effect::Create, ErrorKind::StorageFull).on("compact-"),
        Fault::new(Effect::Write, ErrorKind::StorageFull).on("compact-"),
        Fault::new(Effect::SyncData, ErrorKind::Other).on("compact-"),
        Fault::new(Effect::Rename, ErrorKind::Other).on("compact-"),
        Fault::new(Effect::SyncDir, ErrorKind::Other).times(1),
        Fault::new(Effect::Remove, ErrorKind::PermissionDenied).on(".log"),
    ] {
        let what = format!("{fault:?}");
        let dir = tempfile::tempdir().unwrap();
        let (config, db, io, model) = dataset_db(dir.path()).await;
        io.inject(fault.clone());
        let failed = within(&what, db.compact()).await;
        assert!(
            matches!(failed, Err(DbError::Storage(_))),
            "{what}: {failed:?}"
        );
        assert!(
            io.failed(Effect::Create)
                + io.failed(Effect::Write)
                + io.failed(Effect::SyncData)
                + io.failed(Effect::Rename)
                + io.failed(Effect::SyncDir)
                + io.failed(Effect::Remove)
                == 1,
            "{what}: the fault was hit once"
        );
        io.clear();
        // Nothing poisoned, readers see the same data, writes go on.
        assert_eq!(db.poisoned(), None, "{what}");
        check_dataset(&db, &model, &what);
        rewrite_one(&db, &model).await.unwrap();
        db.flush().await.unwrap();
        crash_and_check(db, &config, dir.path(), &model, &what).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fdatasync_of_the_active_segment_during_compaction_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let (config, db, io, model) = dataset_db(dir.path()).await;
    rewrite_one(&db, &model).await.unwrap(); // unsynced (sync = "never")
    // Segment files only: the compacted segment's own fdatasync goes through.
    io.inject(Fault::new(Effect::SyncData, ErrorKind::Other).on("segment-"));
    let failed = within("compact", db.compact()).await;
    assert!(matches!(failed, Err(DbError::Storage(_))), "{failed:?}");
    io.clear();
    let reason = db.poisoned().expect("the database is poisoned");
    assert!(reason.contains("before a compaction committed"), "{reason}");
    assert_eq!(db.stats().poisoned.as_deref(), Some(reason.as_str()));
    match rewrite_one(&db, &model).await {
        Err(DbError::Unavailable { cause: reason }) => {
            assert!(reason.contains("fdatasync"), "{reason}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(matches!(
        db.insert("k", doc(serde_json::json!({"x": 1})), W).await,
        Err(DbError::Unavailable { .. })
    ));
    // Reads go on.
    check_dataset(&db, &model, "poisoned");
    crash_and_check(db, &config, dir.path(), &model, "after the poisoning").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_hint_write_never_poisons_and_the_database_reopens() {
    // (the fault, whether a whole hint is left)
    for (fault, whole) in [
        (
            Fault::new(Effect::Create, ErrorKind::StorageFull).on("hint-"),
            false,
        ),
        (
            Fault::new(Effect::Write, ErrorKind::StorageFull).on("hint-"),
            false,
        ),
        (
            Fault::new(Effect::SyncData, ErrorKind::Other).on("hint-"),
            false,
        ),
        (
            Fault::new(Effect::Rename, ErrorKind::Other).on("hint-"),
            false,
        ),
        (Fault::new(Effect::SyncDir, ErrorKind::Other), true),
    ] {
        let what = format!("{fault:?}");
        let dir = tempfile::tempdir().unwrap();
        let (config, db, io, model) = dataset_db(dir.path()).await;
        io.inject(fault.clone());
        let failed = within(&what, db.write_hints()).await;
        assert!(failed.is_err(), "{what}: {failed:?}");
        io.clear();
        assert_eq!(db.poisoned(), None, "{what}");
        let hints = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".hint")
            })
            .count();
        assert_eq!(hints, usize::from(whole), "{what}: hint files");
        check_dataset(&db, &model, &what);
        rewrite_one(&db, &model).await.unwrap();
        db.flush().await.unwrap();
        crash_and_check(db, &config, dir.path(), &model, &what).await;
    }
}
