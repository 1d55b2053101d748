//! Compaction stopped at each of its steps by the test hook, then a crash.

use std::sync::Arc;

use nyro_core::Database;
use nyro_storage::{CompactionStep, FaultInjector, LogIo};

use super::dataset::{check_dataset, check_next_id_and_seq, dataset_model, write_dataset};
use super::{check_disk, compact_and_check_space, open_io, unsynced_config};
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_stopped_at_each_step_then_reopened_agrees_with_the_model() {
    let model = dataset_model();
    for step in [
        CompactionStep::TempWritten,
        CompactionStep::Renamed,
        CompactionStep::Retiring,
    ] {
        // Either the process "dies" right there, or it goes on (the failure was reported)
        // and compacts again before it stops.
        for goes_on in [false, true] {
            let what = format!(
                "stopped at {step:?}, then {}",
                if goes_on {
                    "compacted again"
                } else {
                    "reopened"
                }
            );
            let dir = tempfile::tempdir().unwrap();
            let config = unsynced_config(dir.path()); // the dataset is flushed before the test
            let io = Arc::new(FaultInjector::new());
            let db = open_io(&config, Arc::clone(&io) as Arc<dyn LogIo>).await;
            within("write the dataset", write_dataset(&db)).await;
            check_dataset(&db, &model, &what);
            let before = db.stats();
            assert!(before.segments >= 4, "{what}: {before:?}");
            assert!(before.dead_bytes > 1 << 20, "{what}: {before:?}");
            let last_seq = before.last_seq;

            io.stop_compaction_at(step);
            let stopped = within(&what, db.compact()).await;
            assert!(stopped.is_err(), "{what}: {stopped:?}");
            // The failed compaction changed nothing a reader can see.
            check_dataset(&db, &model, &format!("{what}, before the crash"));
            let db = if goes_on {
                io.clear();
                within(&what, db.compact()).await.expect("compact again");
                check_dataset(&db, &model, &format!("{what}, compacted again"));
                db
            } else {
                db
            };

            // The crash: no close.
            let guard = no_fork().await;
            drop(db);
            io.clear();
            let db = within("open", Database::open(&config))
                .await
                .unwrap_or_else(|e| panic!("{what}: reopening failed: {e}"));
            drop(guard);
            let step_name = format!("{what}, after the reopen");
            check_disk(&db, dir.path(), &step_name).await;
            check_dataset(&db, &model, &step_name);
            assert_eq!(db.stats().last_seq, last_seq, "{step_name}");

            // A compaction after the reopen succeeds and still agrees, also after a reopen.
            let step_name = format!("{what}, compacted after the reopen");
            compact_and_check_space(&db, dir.path(), &step_name).await;
            check_dataset(&db, &model, &step_name);
            let db = reopen(db, &config).await;
            let step_name = format!("{what}, compacted and reopened");
            check_disk(&db, dir.path(), &step_name).await;
            check_dataset(&db, &model, &step_name);
            assert_eq!(db.stats().last_seq, last_seq, "{step_name}");
            assert!(
                db.stats().disk_bytes < before.disk_bytes - before.dead_bytes / 2,
                "{step_name}: {:?}",
                db.stats()
            );
            check_next_id_and_seq(&db, last_seq, &step_name).await;
            db.close().await.unwrap();
        }
    }
}
