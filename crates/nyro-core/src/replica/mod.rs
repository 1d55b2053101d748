//! A cluster node's side of the database (`nyro-raft` drives it): the Raft log is the
//! database's own log, so this module appends Raft entries as frames, finds them again on
//! open (`survey`), applies committed ones (`apply`) and prepares the leader's
//! proposals (`propose`). A standalone database never uses it.
//!
//! Invariants: an entry's records become visible only when openraft applies the entry
//! (never when they are appended); entries are applied in index order, each exactly once
//! per open; a proposal is prepared only against a state in which every entry of the
//! leader's log is applied (the replication layer waits for that), and an entry applied
//! on any other state is void on every node.

mod apply;
mod entry;
mod propose;
mod snapshot;
mod survey;

use std::sync::{Mutex, MutexGuard};

pub use entry::{EntryId, EntryKind, LogEntry, Placed, SnapshotState, WriteRecord};
pub use propose::{Batch, PreparedProposal, QueuedWrites};
pub use snapshot::{
    SnapshotFile, SnapshotView, parse as parse_snapshot, read_file as read_snapshot,
    read_header as read_snapshot_header,
};

pub(crate) use apply::apply_entry;
pub(crate) use entry::HeaderPayload;
pub(crate) use propose::ProposalQueue;
pub(crate) use snapshot::reset_state;
pub(crate) use survey::{is_raft_log, survey};

use nyro_batch::{Reply, Unwritten, WriteError};

use crate::error::{DbError, Result};
use crate::write::{Counters, Job, Operation, Queued};

/// Where applying stands: the counters proposals are prepared from, and the last applied
/// entry that carried writes.
#[derive(Debug)]
pub(crate) struct Progress {
    pub(crate) counters: Counters,
    pub(crate) last_writes: u64,
}

/// The replicated state of a cluster node's database.
#[derive(Debug)]
pub(crate) struct ReplicaState {
    progress: Mutex<Progress>,
    pub(crate) queue: ProposalQueue,
    /// The purged log index plus one (0: nothing purged): compaction leaves the entries
    /// after it whole.
    purged: std::sync::atomic::AtomicU64,
}

impl ReplicaState {
    pub(crate) fn new(counters: Counters, last_writes: u64, queue: ProposalQueue) -> Self {
        Self {
            progress: Mutex::new(Progress {
                counters,
                last_writes,
            }),
            queue,
            purged: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The purged log index, if any.
    pub(crate) fn purged(&self) -> Option<u64> {
        let stored = self.purged.load(std::sync::atomic::Ordering::Acquire);
        stored.checked_sub(1)
    }

    /// Records that the log up to `index` is purged.
    pub(crate) fn set_purged(&self, index: u64) {
        self.purged
            .fetch_max(index.saturating_add(1), std::sync::atomic::Ordering::AcqRel);
    }

    /// Queues `op` for the leader's next proposal and awaits its answer (given once its
    /// entry is applied, or refused).
    pub(crate) async fn propose<O>(&self, op: O, sync: bool) -> Result<O::Answer>
    where
        O: Operation,
        Queued: From<Job<O>>,
    {
        let (reply, answer) = Reply::channel();
        if let Err((queued, _)) = self.queue.send((Queued::from(Job::new(op, reply)), sync)) {
            queued.fail(WriteError::Closed);
        }
        answer
            .await
            .unwrap_or(Err(WriteError::Closed))
            .map_err(DbError::from)
    }

    /// The progress, locked (a panic elsewhere while holding it leaves it as it was).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What opening a cluster node's database found of the Raft log, for the replication
/// layer: the retained entries and what replay applied.
#[derive(Debug)]
pub struct ReplicaOpened {
    /// The surviving entries after the purged prefix, by index (applied or not).
    pub entries: std::collections::BTreeMap<u64, Placed>,
    /// The last entry replay applied.
    pub last_applied: Option<EntryId>,
    /// The last membership entry replay applied, and its bytes.
    pub membership: Option<(EntryId, Vec<u8>)>,
    /// Where the database's writes wait to be proposed by the leader.
    pub writes: QueuedWrites,
}
