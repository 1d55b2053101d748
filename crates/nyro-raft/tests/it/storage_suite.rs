//! openraft's own storage test suite (`openraft::testing::Suite`) run against NyroDB's
//! `LogStore` and `StateMachine`, each check on a fresh data directory opened exactly as a
//! starting node opens it (`nyro_raft::testing::open_storage`), and opened again after
//! each check as after a crash (the log must hold the same entries).

use std::future::Future;
use std::path::Path;

use nyro_core::{Config, OpenOptions, ScrubRate, SyncPolicy};
use nyro_raft::{LogStore, StateMachine, StorageError, TypeConfig};
use openraft::RaftLogReader;
use openraft::storage::RaftLogStorage;
use openraft::testing::{StoreBuilder, Suite};
use tempfile::TempDir;

/// Opens the storage in `dir` (`sync = "always"`, no background work).
pub async fn open(dir: &Path) -> (LogStore, StateMachine, nyro_core::Database) {
    let mut config = Config::default();
    config.storage.path = dir.to_path_buf();
    config.batch.sync = SyncPolicy::Always;
    let options = OpenOptions {
        maintenance_interval: std::time::Duration::from_secs(24 * 3600),
        scrub_rate: ScrubRate::Off,
        ..OpenOptions::default()
    };
    nyro_raft::testing::open_storage(&config, options)
        .await
        .expect("open the storage")
}

/// Builds each check's storage over a new temporary directory (removed after the check).
pub struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (log, sm, _db) = open(dir.path()).await;
        Ok((dir, log, sm))
    }
}

pub type Checks = Suite<TypeConfig, LogStore, StateMachine, Builder, TempDir>;

/// Runs one check of the suite on a runtime of its own, as the suite's `test_all` does;
/// then, as after a crash (nothing was closed), opens the directory again the way a
/// starting node does: the log holds exactly the entries it held before.
fn run<F, Fut>(check: F)
where
    F: FnOnce(LogStore, StateMachine) -> Fut,
    Fut: Future<Output = Result<(), StorageError>>,
{
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (dir, mut log, sm) = Builder.build().await.unwrap();
        // A reader shares the log storage's index: it sees what the check left.
        let mut reader = log.get_log_reader().await;
        check(log, sm).await.unwrap();
        let before = reader.try_get_log_entries(0..1_000).await.unwrap();
        drop(reader);
        let (mut log, sm, db) = open(dir.path()).await;
        let after = log.try_get_log_entries(0..1_000).await.unwrap();
        assert_eq!(
            format!("{after:?}"),
            format!("{before:?}"),
            "the entries after a reopen"
        );
        if let Some(last) = before.last() {
            let state = log.get_log_state().await.unwrap();
            assert_eq!(
                state.last_log_id,
                Some(last.log_id),
                "the last log id after a reopen"
            );
        }
        drop((log, sm));
        db.close().await.unwrap();
        drop(dir);
    });
}

/// One `#[test]` per check of the suite, so that each failure is reported by name.
macro_rules! suite_checks {
    ($($(#[$attr:meta])* $check:ident),* $(,)?) => {
        $(
            $(#[$attr])*
            #[test]
            fn $check() {
                run(Checks::$check);
            }
        )*
    };
}

// Every check of the suite runs, those that build or install a snapshot included.

suite_checks!(
    last_membership_in_log_initial,
    last_membership_in_log,
    last_membership_in_log_multi_step,
    get_membership_initial,
    get_membership_from_log_and_empty_sm,
    get_membership_from_empty_log_and_sm,
    get_membership_from_log_le_sm_last_applied,
    get_membership_from_log_gt_sm_last_applied_1,
    get_membership_from_log_gt_sm_last_applied_2,
    get_initial_state_without_init,
    // The state machine is ahead of the log, so `get_initial_state` purges the log and,
    // finding no current snapshot, builds one.
    get_initial_state_membership_from_log_and_sm,
    get_initial_state_with_state,
    get_initial_state_last_log_gt_sm,
    // As above: the state machine is ahead of the log, purge, then a snapshot is built.
    get_initial_state_last_log_lt_sm,
    // Purges the log, so `get_initial_state` builds a snapshot.
    get_initial_state_log_ids,
    // Purges the log before re-applying the committed entries, then a snapshot is built.
    get_initial_state_re_apply_committed,
    save_vote,
    get_log_entries,
    limited_get_log_entries,
    try_get_log_entry,
    initial_logs,
    get_log_state,
    get_log_id,
    last_id_in_log,
    last_applied_state,
    purge_logs_upto_0,
    purge_logs_upto_5,
    purge_logs_upto_20,
    delete_logs_since_11,
    delete_logs_since_0,
    append_to_log,
    // Builds a snapshot and checks its meta.
    snapshot_meta,
    apply_single,
    apply_multiple,
);

/// Builds a snapshot on one node and installs it on another.
#[test]
fn transfer_snapshot() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(Checks::transfer_snapshot(&Builder))
        .unwrap();
}
