//! A start after a purge that the latest snapshot on disk does not cover. openraft 0.9
//! persists the purge that follows a snapshot's installation without waiting for the
//! installation, so a node killed in between finds its log purged past its latest snapshot
//! file; openraft's own check of the state it starts from (purged <= snapshot <= committed
//! <= last log) then panicked, and the node never started again. The chaos harness of
//! issue 16 found it (a follower killed while it caught up by snapshot). Each test makes
//! the state such a kill leaves and checks the state openraft starts from with openraft's
//! own validation.

use std::path::Path;

use nyro_raft::{LogStore, StateMachine};
use openraft::RaftLogReader;
use openraft::storage::{RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine, StorageHelper};
use openraft::testing::log_id;
use validit::Validate;

use crate::storage_suite::{Checks, open};

fn id(index: u64) -> nyro_raft::LogId {
    log_id(1, 0, index)
}

async fn apply_up_to(log: &mut LogStore, sm: &mut StateMachine, from: u64, to: u64) {
    let entries = log.try_get_log_entries(from..to + 1).await.unwrap();
    sm.apply(entries).await.unwrap();
    log.save_committed(Some(id(to))).await.unwrap();
}

/// Ten entries, the first five applied, and a snapshot of that state (of entry 4).
async fn snapshot_of_entry_4(dir: &Path) -> (LogStore, StateMachine, nyro_core::Database) {
    let (mut log, mut sm, db) = open(dir).await;
    Checks::feed_10_logs_vote_self(&mut log).await.unwrap();
    apply_up_to(&mut log, &mut sm, 0, 4).await;
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    (log, sm, db)
}

/// The state openraft starts from must pass openraft's own validation; returns the
/// purge it starts with and its snapshot's last entry.
async fn start_state(dir: &Path) -> (Option<u64>, Option<u64>) {
    let (mut log, mut sm, db) = open(dir).await;
    let state = StorageHelper::new(&mut log, &mut sm)
        .get_initial_state()
        .await
        .expect("the initial state openraft reads on start");
    if let Err(e) = state.validate() {
        panic!("openraft would refuse to start from {state:?}: {e}");
    }
    let purged = log.get_log_state().await.unwrap().last_purged_log_id;
    let snapshot = state.snapshot_meta.last_log_id;
    drop((log, sm));
    db.close().await.unwrap();
    (purged.map(|l| l.index), snapshot.map(|l| l.index))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purge_whose_snapshot_never_reached_the_database_is_taken_back() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, sm, db) = snapshot_of_entry_4(dir.path()).await;
    // openraft purges up to the snapshot it is installing (of entry 8), then the kill
    // comes before the installation reaches the database.
    log.purge(id(8)).await.unwrap();
    drop((log, sm, db));

    let (purged, snapshot) = start_state(dir.path()).await;
    assert_eq!((purged, snapshot), (Some(4), Some(4)));
    // The entries after the snapshot are still there for the leader to build on.
    let (mut log, _sm, _db) = open(dir.path()).await;
    let kept: Vec<u64> = log
        .try_get_log_entries(0..100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.log_id.index)
        .collect();
    assert_eq!(kept, (5..=10).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purge_past_a_snapshot_file_not_kept_yet_rebuilds_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut sm, db) = snapshot_of_entry_4(dir.path()).await;
    let snapshots = dir.path().join("snapshots");
    let older = std::fs::read_dir(&snapshots)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".snap"))
        .unwrap();
    let older_bytes = std::fs::read(older.path()).unwrap();
    // The state reaches entry 8 and the log is purged up to it, but the newest snapshot
    // file is still the one of entry 4 (the kill came before the new one was kept).
    apply_up_to(&mut log, &mut sm, 5, 8).await;
    log.purge(id(8)).await.unwrap();
    drop((log, sm, db));
    for file in std::fs::read_dir(&snapshots).unwrap().flatten() {
        std::fs::remove_file(file.path()).unwrap();
    }
    std::fs::write(older.path(), older_bytes).unwrap();

    let (purged, snapshot) = start_state(dir.path()).await;
    assert_eq!(purged, Some(8));
    assert!(
        snapshot >= Some(8),
        "the start needs a snapshot covering the purge, got {snapshot:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_nodes_first_snapshot_cut_short_leaves_a_log_it_starts_from() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut sm, db) = open(dir.path()).await;
    Checks::feed_10_logs_vote_self(&mut log).await.unwrap();
    apply_up_to(&mut log, &mut sm, 0, 4).await;
    // No snapshot file yet; one was being received when openraft purged up to it.
    let snapshots = dir.path().join("snapshots");
    std::fs::create_dir_all(&snapshots).unwrap();
    std::fs::write(snapshots.join("receiving-1.tmp"), b"half a snapshot").unwrap();
    log.purge(id(8)).await.unwrap();
    drop((log, sm, db));

    let (purged, snapshot) = start_state(dir.path()).await;
    assert_eq!((purged, snapshot), (None, None));
}
