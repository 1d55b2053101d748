//! Crash tests of the log storage: what a node's storage holds after it stops and opens
//! again (entries, a truncated tail, a purged prefix, the vote, the commit index, the
//! state machine replayed up to it), and with its commit-index hint damaged or ahead of
//! the log.

use std::sync::Arc;

use nyro_raft::{Entry, LogId, LogStore, StateMachine};
use openraft::storage::{RaftLogStorage, RaftStateMachine, StorageHelper};
use openraft::testing::log_id;
use openraft::{RaftLogReader, Vote};

use crate::storage_suite::{Checks, open};

/// The node id the suite's entries name.
const LEADER: u64 = 0;

fn id(term: u64, index: u64) -> LogId {
    log_id(term, LEADER, index)
}

async fn entries(log: &mut LogStore, range: std::ops::Range<u64>) -> Vec<Entry> {
    log.try_get_log_entries(range).await.unwrap()
}

/// Everything the storage answers openraft on start: log state, vote, commit index,
/// applied state, and the retained entries.
async fn state(log: &mut LogStore, sm: &mut StateMachine) -> String {
    let log_state = log.get_log_state().await.unwrap();
    let vote = log.read_vote().await.unwrap();
    let committed = log.read_committed().await.unwrap();
    let applied = sm.applied_state().await.unwrap();
    let retained = entries(log, 0..100).await;
    format!("{log_state:?}\n{vote:?}\n{committed:?}\n{applied:?}\n{retained:?}")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_vote_and_commit_index_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut sm, db) = open(dir.path()).await;
    // Entries 0 (term 0) and 1 to 10 (term 1), each its own append, and the vote (1, 0).
    Checks::feed_10_logs_vote_self(&mut log).await.unwrap();
    log.save_vote(&Vote::new(3, 2)).await.unwrap();
    log.save_committed(Some(id(1, 4))).await.unwrap();
    sm.apply(entries(&mut log, 0..5).await).await.unwrap();
    // An uncommitted tail voided from 8 on, and a prefix purged.
    log.truncate(id(1, 8)).await.unwrap();
    log.purge(id(1, 2)).await.unwrap();

    let ids: Vec<LogId> = entries(&mut log, 0..100)
        .await
        .iter()
        .map(|e| e.log_id)
        .collect();
    assert_eq!(ids, (3..=7).map(|i| id(1, i)).collect::<Vec<_>>());
    let log_state = log.get_log_state().await.unwrap();
    assert_eq!(
        (log_state.last_purged_log_id, log_state.last_log_id),
        (Some(id(1, 2)), Some(id(1, 7)))
    );
    let before = state(&mut log, &mut sm).await;
    // A crash: nothing is closed.
    drop((log, sm, db));

    // Reopened: the same answers, the state machine replayed up to the commit index.
    let (mut log, mut sm, db) = open(dir.path()).await;
    assert_eq!(state(&mut log, &mut sm).await, before);
    assert_eq!(sm.applied_state().await.unwrap().0, Some(id(1, 4)));
    assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(3, 2)));
    drop((log, sm));
    db.close().await.unwrap();

    // A damaged commit-index hint is only forgotten: replay goes up to the purged prefix,
    // the rest comes back unapplied, and the log and the vote are unchanged.
    let committed = dir.path().join(nyro_storage::RAFT_COMMITTED_FILE);
    assert!(committed.exists());
    std::fs::write(&committed, b"not a commit index").unwrap();
    let (mut log, mut sm, db) = open(dir.path()).await;
    assert_eq!(log.read_committed().await.unwrap(), Some(id(1, 2)));
    assert_eq!(sm.applied_state().await.unwrap().0, Some(id(1, 2)));
    assert_eq!(entries(&mut log, 0..100).await.len(), 5);
    assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(3, 2)));
    drop((log, sm));
    db.close().await.unwrap();
}

/// Under `sync = "interval"` the commit-index hint (written in place, no fdatasync) can
/// survive a power cut that takes the log's unsynced tail: the hint then names entries the
/// log no longer holds. Starting must still work (openraft re-applies the committed
/// entries it is told of, and fails on missing ones): the hint counts only as far as the
/// log goes.
#[tokio::test(flavor = "multi_thread")]
async fn a_commit_hint_beyond_the_log_does_not_stop_a_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut sm, db) = open(dir.path()).await;
    Checks::feed_10_logs_vote_self(&mut log).await.unwrap();
    log.save_committed(Some(id(1, 6))).await.unwrap();
    sm.apply(entries(&mut log, 0..7).await).await.unwrap();
    drop((log, sm));
    db.close().await.unwrap();
    // The hint as a power cut can leave it: ahead of the log (entries 11 to 20 are gone).
    let files = nyro_storage::RaftStateStore::new(dir.path(), Arc::new(nyro_storage::OsIo));
    let hint = nyro_storage::codec::encode(&Some(id(1, 20))).unwrap();
    files.store_committed(&hint).unwrap();

    let (mut log, mut sm, db) = open(dir.path()).await;
    let last = log.get_log_state().await.unwrap().last_log_id;
    assert_eq!(last, Some(id(1, 10)));
    let initial = StorageHelper::new(&mut log, &mut sm)
        .get_initial_state()
        .await;
    initial.expect("the initial state openraft reads on start");
    let committed = log.read_committed().await.unwrap();
    assert!(
        committed <= last,
        "committed {committed:?} beyond the log's {last:?}"
    );
    assert_eq!(sm.applied_state().await.unwrap().0, Some(id(1, 10)));
    drop((log, sm));
    db.close().await.unwrap();
}
